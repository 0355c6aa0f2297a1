//! Deterministic tests of the model alone: no FUSE, no clock, just ticks.

use super::*;
use dahdi_sys as d;
use dahdi_sys::ioctl as rq;

fn analog(ports: &[bool]) -> Dahdi {
    Dahdi::new(vec![SpanSpec {
        kind: SpanKind::Analog,
        name: "WCTDM/0".into(),
        desc: "test".into(),
        manufacturer: "Digium".into(),
        devicetype: "test".into(),
        location: "test".into(),
        ports: ports.to_vec(),
        law: Law::Mulaw,
    }])
}

fn chanconfig(dahdi: &mut Dahdi, ctl: u64, chan: i32, sig: u32) {
    let mut c = d::dahdi_chanconfig { chan, sigtype: sig as i32, ..Default::default() };
    c.deflaw = 0;
    let bytes = unsafe { std::slice::from_raw_parts((&c as *const d::dahdi_chanconfig).cast::<u8>(), std::mem::size_of_val(&c)) };
    assert!(matches!(dahdi.ioctl(ctl, rq::DAHDI_CHANCONFIG, bytes), Io::Done(_)));
}

fn getevent(dahdi: &mut Dahdi, fh: u64) -> i32 {
    match dahdi.ioctl(fh, rq::DAHDI_GETEVENT, &[]) {
        Io::Done((_, b)) => i32::from_ne_bytes([b[0], b[1], b[2], b[3]]),
        other => panic!("GETEVENT: {other:?}"),
    }
}

fn run(dahdi: &mut Dahdi, ms: u64) {
    for _ in 0..ms {
        dahdi.tick();
    }
}

/// Ticks until an event arrives on `fh` (at most `limit` ms); returns (event, ms waited).
fn next_event(dahdi: &mut Dahdi, fh: u64, limit: u64) -> Option<(i32, u64)> {
    for t in 0..=limit {
        let ev = getevent(dahdi, fh);
        if ev != EVENT_NONE {
            return Some((ev, t));
        }
        dahdi.tick();
    }
    None
}

#[test]
fn phone_going_off_hook_is_reported_as_ringoffhook_and_short_onhook_as_flash() {
    let mut dahdi = analog(&[true]);
    let ctl = dahdi.open(Node::Ctl, false).unwrap();
    chanconfig(&mut dahdi, ctl, 1, SIG_FXOKS);
    let fh = dahdi.open(Node::Chan(1), false).unwrap();
    let Line::Phone(p) = &mut dahdi.lines[0] else { panic!() };
    p.set_hook(1, true);
    assert_eq!(next_event(&mut dahdi, fh, 10).map(|e| e.0), Some(EVENT_RINGOFFHOOK));
    // A 500 ms on-hook is a flash (shorter than rxflashtime, 1250 ms).
    let now = dahdi.now_ms;
    let Line::Phone(p) = &mut dahdi.lines[0] else { panic!() };
    p.flash(now + 1, 500);
    assert_eq!(next_event(&mut dahdi, fh, 700).map(|e| e.0), Some(EVENT_WINKFLASH));
    // A real hang-up is reported once rxflashtime has passed.
    let now = dahdi.now_ms;
    let Line::Phone(p) = &mut dahdi.lines[0] else { panic!() };
    p.set_hook(now + 1, false);
    let (ev, waited) = next_event(&mut dahdi, fh, 2000).unwrap();
    assert_eq!(ev, EVENT_ONHOOK);
    assert!((1240..=1260).contains(&waited), "on-hook reported after {waited} ms");
}

#[test]
fn read_and_write_return_elast_while_an_event_is_pending() {
    let mut dahdi = analog(&[true]);
    let ctl = dahdi.open(Node::Ctl, false).unwrap();
    chanconfig(&mut dahdi, ctl, 1, SIG_FXOKS);
    let fh = dahdi.open(Node::Chan(1), true).unwrap();
    run(&mut dahdi, 200);
    assert!(matches!(dahdi.read(fh, 160), Io::Done(_)));
    let Line::Phone(p) = &mut dahdi.lines[0] else { panic!() };
    p.set_hook(dahdi.now_ms + 1, true);
    run(&mut dahdi, 5);
    assert!(matches!(dahdi.read(fh, 160), Io::Err(ELAST)));
    assert!(matches!(dahdi.write(fh, &[0xff; 160]), Io::Err(ELAST)));
    assert_eq!(getevent(&mut dahdi, fh), EVENT_RINGOFFHOOK);
    assert!(!matches!(dahdi.read(fh, 160), Io::Err(ELAST)));
}

#[test]
fn co_ringing_gives_ringbegin_then_ringoffhook_after_the_trailer() {
    let mut dahdi = analog(&[false]);
    let ctl = dahdi.open(Node::Ctl, false).unwrap();
    chanconfig(&mut dahdi, ctl, 1, SIG_FXSKS);
    let fh = dahdi.open(Node::Chan(1), false).unwrap();
    // DAHDI ignores rings for RING_DEBOUNCE_TIME (2 s) after a hang-up (open hangs up).
    run(&mut dahdi, 2100);
    let now = dahdi.now_ms;
    let Line::Co(co) = &mut dahdi.lines[0] else { panic!() };
    co.ring(now, vec![(2000, 4000)], Some(2), None);
    let (ev, t1) = next_event(&mut dahdi, fh, 100).unwrap();
    assert_eq!(ev, EVENT_RINGBEGIN);
    assert!(t1 >= 30, "ring reported after {t1} ms, before the detector's debounce");
    let (ev, t2) = next_event(&mut dahdi, fh, 2500).unwrap();
    assert_eq!(ev, EVENT_RINGOFFHOOK);
    // Ring ends at 2000 ms; detector debounce 64 ms; trailer 50 ms.
    assert!((2000..2200).contains(&(t1 + t2)), "ring end reported at {} ms", t1 + t2);
    let (ev, _) = next_event(&mut dahdi, fh, 4500).unwrap();
    assert_eq!(ev, EVENT_RINGBEGIN);
}

#[test]
fn t1_bit_patterns_follow_the_dahdi_table() {
    assert_eq!(chan::tx_bits(SIG_FXSLS, TXSIG_ONHOOK), Some(BITS_BD));
    assert_eq!(chan::tx_bits(SIG_FXSGS, TXSIG_START), Some(BITS_AC));
    assert_eq!(chan::tx_bits(SIG_FXOKS, TXSIG_KEWL), Some(BITS_ABCD));
    assert_eq!(chan::tx_bits(SIG_EM_E1, TXSIG_ONHOOK), Some(DBIT));
    assert_eq!(chan::tx_bits(SIG_CLEAR, TXSIG_ONHOOK), None);
    assert_eq!(chan::tx_bits(SIG_EM, 7), None);
}

#[test]
fn unknown_requests_get_enotty_and_channel_requests_on_ctl_einval() {
    let mut dahdi = analog(&[true]);
    let ctl = dahdi.open(Node::Ctl, false).unwrap();
    assert!(matches!(dahdi.ioctl(ctl, 0xC004_DAFF, &[0; 4]), Io::Err(libc::ENOTTY)));
    assert!(matches!(dahdi.ioctl(ctl, rq::DAHDI_HOOK, &[1, 0, 0, 0]), Io::Err(libc::EINVAL)));
}

#[test]
fn second_open_of_a_channel_is_busy_and_unconfigured_is_enxio() {
    let mut dahdi = analog(&[true, true]);
    let ctl = dahdi.open(Node::Ctl, false).unwrap();
    chanconfig(&mut dahdi, ctl, 1, SIG_FXOKS);
    assert!(dahdi.open(Node::Chan(1), false).is_ok());
    assert_eq!(dahdi.open(Node::Chan(1), false), Err(libc::EBUSY));
    assert_eq!(dahdi.open(Node::Chan(2), false), Err(libc::ENXIO));
}

/// An analog card whose port 1 (FXS) has its phone off hook, opened with
/// 160-sample blocks and read empty: (the model, the channel's handle).
fn phone_off_hook_reading() -> (Dahdi, u64) {
    let mut dahdi = analog(&[true]);
    let ctl = dahdi.open(Node::Ctl, false).unwrap();
    chanconfig(&mut dahdi, ctl, 1, SIG_FXOKS);
    let fh = dahdi.open(Node::Chan(1), true).unwrap();
    assert!(matches!(dahdi.ioctl(fh, rq::DAHDI_SET_BLOCKSIZE, &160i32.to_ne_bytes()), Io::Done(_)));
    let Line::Phone(p) = &mut dahdi.lines[0] else { panic!() };
    p.set_hook(1, true);
    run(&mut dahdi, 50);
    assert_eq!(getevent(&mut dahdi, fh), EVENT_RINGOFFHOOK);
    while let Io::Done(_) = dahdi.read(fh, 160) {}
    (dahdi, fh)
}

/// Ticks one at a time until a whole block is readable on `fh`; returns it with the tick that completed it.
fn next_block(dahdi: &mut Dahdi, fh: u64, limit: u64) -> Option<(Vec<u8>, u64)> {
    for _ in 0..limit {
        dahdi.tick();
        if let Io::Done(b) = dahdi.read(fh, 160) {
            return Some((b, dahdi.now_ms));
        }
    }
    None
}

#[test]
fn onset_of_a_played_sound_names_its_sample_and_the_tick_that_completed_its_block() {
    let (mut dahdi, fh) = phone_off_hook_reading();
    // Start the sound 3 ms into some block, as `audio.play` does.
    run(&mut dahdi, 3);
    let a = dahdi.lines[0].audio_mut().unwrap();
    a.play(crate::farend::Source::samples(vec![1000; 800]));
    a.mark_start = true;
    let onset_pending = dahdi.chans[0].rx_onset;
    assert_eq!(onset_pending, None, "nothing is marked before the next tick puts the sound in");
    let silence = Law::Mulaw.silence();
    let (block, tick) = loop {
        let (b, t) = next_block(&mut dahdi, fh, 40).expect("a block within 40 ms");
        if b.iter().any(|&x| x != silence) {
            break (b, t);
        }
    };
    let first = block.iter().position(|&x| x != silence).unwrap();
    let o = dahdi.chans[0].rx_onset.expect("an onset is recorded");
    assert_eq!((o.sample, o.blocksize, o.complete_ms, o.lost), (first, 160, Some(tick), false));
    // A later block does not move it.
    next_block(&mut dahdi, fh, 40).expect("the next block");
    assert_eq!(dahdi.chans[0].rx_onset.unwrap().complete_ms, Some(tick));
}

#[test]
fn onset_whose_block_is_flushed_before_it_completes_is_lost() {
    let (mut dahdi, fh) = phone_off_hook_reading();
    let a = dahdi.lines[0].audio_mut().unwrap();
    a.play(crate::farend::Source::samples(vec![1000; 800]));
    a.mark_start = true;
    run(&mut dahdi, 1);
    assert!(dahdi.chans[0].rx_onset.is_some_and(|o| o.complete_ms.is_none() && !o.lost));
    // SET_BLOCKSIZE reallocates the buffers, dropping the block being filled.
    assert!(matches!(dahdi.ioctl(fh, rq::DAHDI_SET_BLOCKSIZE, &160i32.to_ne_bytes()), Io::Done(_)));
    run(&mut dahdi, 40);
    let o = dahdi.chans[0].rx_onset.unwrap();
    assert!(o.lost && o.complete_ms.is_none(), "{o:?}");
}
