//! Two T1 spans back to back (far_end = "cross"): CAS bits, E&M seizure,
//! audio, and hardware HDLC frames on the 24th timeslot.

mod common;

use std::os::fd::AsRawFd;
use std::time::{Duration, Instant};

use common::*;

const CONFIG: &str = r#"
[[card]]
model = "te220p"
[[card.span]]
type = "t1"
far_end = "cross"
peer = 2
[[card.span]]
type = "t1"
far_end = "cross"
peer = 1
"#;

fn getrxbits(ch: &std::fs::File) -> i32 {
    let mut b = -1;
    // SAFETY: valid fd; int out.
    unsafe { rq::getrxbits(ch.as_raw_fd(), &mut b) }.expect("GETRXBITS");
    b
}

fn settxbits(ch: &std::fs::File, bits: i32) -> nix::Result<i32> {
    // SAFETY: valid fd; int in.
    unsafe { rq::settxbits(ch.as_raw_fd(), &bits) }
}

#[test]
fn cas_bits_set_on_one_side_are_received_on_the_other_with_bitschanged() {
    let sim = Sim::start(CONFIG);
    let ctl = sim.ctl();
    let idle = 0b1001;
    setup_t1(&ctl, 1, &[(1, d::DAHDI_SIG_CAS, idle), (2, d::DAHDI_SIG_EM, 0)]);
    setup_t1(&ctl, 2, &[(25, d::DAHDI_SIG_CAS, idle)]);
    let a = sim.open_chan(1, 1);
    let b = sim.open_chan(2, 1);
    std::thread::sleep(Duration::from_millis(50));
    // Only the arrival of the far side's idle bits may be reported (if the
    // clock delivered them after the open, which happens under load).
    let settle = [d::DAHDI_EVENT_BITSCHANGED as i32];
    let (ea, eb) = (drain_events(&a), drain_events(&b));
    assert!(ea.iter().all(|e| settle.contains(e)), "A: unexpected events {ea:?}");
    assert!(eb.iter().all(|e| settle.contains(e)), "B: unexpected events {eb:?}");
    assert_eq!(drain_events(&a), Vec::<i32>::new(), "both sides idle with the same bits: no further change");
    assert_eq!(getrxbits(&b), idle, "B receives A's idle bits");
    let p = get_params(&a, 0).unwrap();
    assert_eq!((p.txbits, p.idlebits), (idle, idle));

    for bits in [0b0101, 0b1111, 0b0000] {
        settxbits(&a, bits).expect("SETTXBITS");
        let t0 = Instant::now();
        expect_event(&b, d::DAHDI_EVENT_BITSCHANGED, Duration::from_millis(200));
        assert!(t0.elapsed() < Duration::from_millis(50), "bits took {:?} to cross", t0.elapsed());
        assert_eq!(getrxbits(&b), bits);
        assert_eq!(get_params(&a, 0).unwrap().txbits, bits);
        expect_no_event(&b, Duration::from_millis(30));
    }
    // The same bits again: no change, no event.
    settxbits(&a, 0b0000).unwrap();
    expect_no_event(&b, Duration::from_millis(100));
    // The other direction.
    settxbits(&b, 0b1100).unwrap();
    expect_event(&a, d::DAHDI_EVENT_BITSCHANGED, Duration::from_millis(200));
    assert_eq!(getrxbits(&a), 0b1100);
    assert_eq!(get_params(&a, 0).unwrap().rxbits, 0b1100);
    expect_no_event(&a, Duration::from_millis(30));

    // SETTXBITS is for CAS channels only.
    let em = sim.open_chan(1, 2);
    assert_eq!(settxbits(&em, 0b1111), Err(Errno::EINVAL));
}

#[test]
fn em_seizure_crosses_after_rxwinktime_and_audio_crosses_intact() {
    let sim = Sim::start(CONFIG);
    let ctl = sim.ctl();
    setup_t1(&ctl, 1, &[(1, d::DAHDI_SIG_EM, 0)]);
    setup_t1(&ctl, 2, &[(25, d::DAHDI_SIG_EM, 0)]);
    let a = sim.open_chan(1, 1);
    let b = sim.open_chan(2, 1);
    set_blocksize(&a, 160).unwrap();
    set_blocksize(&b, 160).unwrap();
    std::thread::sleep(Duration::from_millis(50));
    drain_events(&a);
    drain_events(&b);
    assert_eq!(get_params(&b, 0).unwrap().rxisoffhook, 0);

    hook(&a, d::DAHDI_OFFHOOK).expect("HOOK OFFHOOK");
    let t0 = Instant::now();
    let evs = collect_events(&b, t0, Duration::from_millis(500));
    assert_eq!(evs.iter().map(|e| e.0).collect::<Vec<_>>(), vec![d::DAHDI_EVENT_RINGOFFHOOK as i32], "{:?}", names(&evs));
    let at = evs[0].1;
    assert!(at >= Duration::from_millis(230) && at <= Duration::from_millis(400), "RINGOFFHOOK at {at:?}, rxwinktime is 250 ms");
    let p = get_params(&b, 0).unwrap();
    assert_eq!(p.rxisoffhook, 1);
    assert_eq!(p.rxbits as u32 & d::DAHDI_ABIT, d::DAHDI_ABIT, "E&M off-hook sends the A bit");
    expect_no_event(&a, Duration::from_millis(10));

    // Audio: A writes a 1 kHz tone for ~1.2 s; B reads it.
    let writer = {
        let a = a.try_clone().unwrap();
        std::thread::spawn(move || {
            for k in 0..60 {
                let block = mulaw_tone(1000.0, 8000.0, 160, k * 160);
                write_block(&a, &block, Duration::from_secs(2)).expect("write");
            }
        })
    };
    let (audio, evs) = read_audio(&b, Duration::from_millis(1000));
    writer.join().unwrap();
    assert!(evs.is_empty(), "{:?}", names(&evs));
    assert!(audio.len() >= 7000, "{} bytes read in 1 s", audio.len());
    // Skip the start (silence before the first block arrived).
    let samples = mulaw_decode(&audio[audio.len() - 4000..]);
    let f = tandem_dsp::goertzel::estimate_frequency(&samples).expect("no tone on B");
    assert!((f - 1000.0).abs() < 10.0, "B hears {f} Hz");
    let level = tandem_dsp::goertzel::level_dbm0(&samples);
    let want = tandem_dsp::goertzel::level_dbm0(&mulaw_decode(&mulaw_tone(1000.0, 8000.0, 4000, 0)));
    assert!((level - want).abs() < 1.0, "B hears {level} dBm0, A sent {want} dBm0");

    // Release: B sees ONHOOK at once (the seizure outlasted rxwinktime).
    hook(&a, d::DAHDI_ONHOOK).unwrap();
    let t0 = Instant::now();
    let evs = collect_events(&b, t0, Duration::from_millis(300));
    assert_eq!(evs.iter().map(|e| e.0).collect::<Vec<_>>(), vec![d::DAHDI_EVENT_ONHOOK as i32], "{:?}", names(&evs));
    assert!(evs[0].1 < Duration::from_millis(60));
}

#[test]
fn hdlc_frames_cross_whole_with_their_fcs() {
    let sim = Sim::start(CONFIG);
    let ctl = sim.ctl();
    setup_t1(&ctl, 1, &[(24, d::DAHDI_SIG_HARDHDLC, 0)]);
    setup_t1(&ctl, 2, &[(48, d::DAHDI_SIG_HARDHDLC, 0)]);
    let a = sim.open_chan(1, 24);
    let b = sim.open_chan_nonblock(2, 24);
    let bi = d::dahdi_bufferinfo {
        txbufpolicy: d::DAHDI_POLICY_IMMEDIATE as i32,
        rxbufpolicy: d::DAHDI_POLICY_IMMEDIATE as i32,
        numbufs: 16,
        bufsize: 1024,
        ..Default::default()
    };
    set_bufinfo(&a, &bi).unwrap();
    set_bufinfo(&b, &bi).unwrap();
    std::thread::sleep(Duration::from_millis(20));
    drain_events(&a);
    drain_events(&b);
    assert_eq!(read_raw(&b, 1024), Err(libc::EAGAIN), "no frame yet");

    let payloads: Vec<Vec<u8>> =
        [3usize, 4, 17, 1, 64, 260, 5, 1000, 2].iter().enumerate().map(|(k, &n)| (0..n).map(|i| (i * 7 + k * 31) as u8).collect()).collect();
    for p in &payloads {
        // As libpri does: two bytes for the FCS that the hardware fills in.
        let mut f = p.clone();
        f.extend_from_slice(&[0, 0]);
        assert_eq!(write_block(&a, &f, Duration::from_secs(2)), Ok(f.len()), "write of a {}-byte frame", p.len());
    }
    for (k, p) in payloads.iter().enumerate() {
        let mut pf = libc::pollfd { fd: b.as_raw_fd(), events: libc::POLLIN, revents: 0 };
        // SAFETY: one valid pollfd.
        let r = unsafe { libc::poll(&mut pf, 1, 1000) };
        assert_eq!(r, 1, "frame {k} did not arrive");
        let got = read_raw(&b, 2048).unwrap_or_else(|e| panic!("read frame {k}: {}", Errno::from_raw(e)));
        assert_eq!(got.len(), p.len() + 2, "frame {k}: one read returns exactly one frame plus FCS");
        assert_eq!(&got[..p.len()], &p[..], "frame {k} payload");
        let fcs = crc16_x25(p);
        assert_eq!((got[p.len()], got[p.len() + 1]), ((fcs & 0xff) as u8, (fcs >> 8) as u8), "frame {k}: FCS, low byte first");
    }
    std::thread::sleep(Duration::from_millis(30));
    assert_eq!(read_raw(&b, 2048), Err(libc::EAGAIN), "no more frames than were sent");

    // And back: B to A, interleaving writes and reads.
    for (k, p) in payloads.iter().take(4).enumerate() {
        let mut f = p.clone();
        f.extend_from_slice(&[0xde, 0xad]);
        write_raw(&b, &f).unwrap();
        let got = read_block(&a, 2048, Duration::from_secs(2)).unwrap();
        let fcs = crc16_x25(p);
        let mut want = p.clone();
        want.extend_from_slice(&[(fcs & 0xff) as u8, (fcs >> 8) as u8]);
        assert_eq!(got, want, "B->A frame {k}");
    }
    assert!(drain_events(&a).is_empty() && drain_events(&b).is_empty(), "no BADFCS/ABORT/OVERRUN");
}
