//! Hook control, polarity, message waiting, echo canceller, gains and linear
//! audio through the safe layer, observed at the simulated far ends.

use std::time::{Duration, Instant};

use hw_sim::farend::Line;
use hw_sim::runner::Sim;
use tandem_drivers::*;

const SIM: &str = r#"
[[card]]
model = "tdm410p"
ports = ["fxs", "fxo"]

[[card]]
model = "te220p"
[[card.span]]
type = "t1"
far_end = "cross"
peer = 3
[[card.span]]
type = "t1"
far_end = "cross"
peer = 2
"#;

fn start() -> (Sim, tempfile::TempDir, std::path::PathBuf) {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("dahdi");
    let sim = Sim::start(SIM, "test", &dir, &tmp.path().join("c.sock")).unwrap();
    let ctl = Ctl::open(&dir).unwrap();
    ctl.configure_channel(&ChanConfig { chan: 1, signalling: Signalling::Fxs(Start::Kewl), law: None, idle_bits: 0 }).unwrap();
    ctl.configure_channel(&ChanConfig { chan: 2, signalling: Signalling::Fxo(Start::Kewl), law: None, idle_bits: 0 }).unwrap();
    for span in [2u32, 3] {
        let lc = dahdi_sys::DAHDI_CONFIG_ESF | dahdi_sys::DAHDI_CONFIG_B8ZS;
        ctl.configure_span(&LineConfig { span, timing: 0, lbo: 0, lineconfig: lc }, "t1").unwrap();
        let first = if span == 2 { 3 } else { 27 };
        ctl.configure_channel(&ChanConfig { chan: first, signalling: Signalling::Em, law: None, idle_bits: 0 }).unwrap();
        ctl.configure_channel(&ChanConfig { chan: first + 1, signalling: Signalling::Clear, law: None, idle_bits: 0 }).unwrap();
        ctl.startup(span).unwrap();
    }
    (sim, tmp, dir)
}

fn phone<R>(sim: &Sim, f: impl FnOnce(&hw_sim::farend::Phone) -> R) -> R {
    let st = sim.state.lock();
    match &st.dahdi.lines[0] {
        Line::Phone(p) => f(p),
        _ => panic!("channel 1 is not a phone"),
    }
}

fn wait_until(limit: Duration, mut f: impl FnMut() -> bool) -> bool {
    let end = Instant::now() + limit;
    while Instant::now() < end {
        if f() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    false
}

fn next_event(ch: &Channel, limit: Duration) -> Option<LineEvent> {
    let end = Instant::now() + limit;
    while Instant::now() < end {
        if let Some(e) = ch.next_event().unwrap() {
            return Some(e);
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    None
}

#[test]
fn ringing_polarity_and_message_waiting_reach_the_phone() {
    let (sim, _tmp, dir) = start();
    let ch = Channel::open(&dir, 1, Some((1, 1)), OpenOptionsDahdi { nonblocking: true }).unwrap();
    ch.hook(Hook::Ring).unwrap();
    assert!(wait_until(Duration::from_secs(1), || phone(&sim, |p| p.view.ringing)), "the phone never rang");
    ch.hook(Hook::RingOff).unwrap();
    assert!(wait_until(Duration::from_secs(1), || phone(&sim, |p| !p.view.ringing)));
    ch.set_polarity(true).unwrap();
    assert!(wait_until(Duration::from_secs(1), || phone(&sim, |p| p.view.polarity_reversed)));
    ch.set_vmwi(3).unwrap();
    assert!(wait_until(Duration::from_secs(1), || phone(&sim, |p| p.view.mwi_lamp)));
    ch.set_vmwi(0).unwrap();
    assert!(wait_until(Duration::from_secs(1), || phone(&sim, |p| !p.view.mwi_lamp)));
    ch.onhook_transfer(500).unwrap();
    // Polarity and VMWI are FXS-port operations: an FXO port refuses them.
    let fxo = Channel::open(&dir, 2, Some((1, 2)), OpenOptionsDahdi::default()).unwrap();
    assert!(matches!(fxo.set_polarity(true), Err(Error::Device { .. })));
}

#[test]
fn a_wink_and_a_flash_cross_an_em_trunk() {
    let (_sim, _tmp, dir) = start();
    let a = Channel::open(&dir, 3, Some((2, 1)), OpenOptionsDahdi { nonblocking: true }).unwrap();
    let b = Channel::open(&dir, 27, Some((3, 1)), OpenOptionsDahdi { nonblocking: true }).unwrap();
    std::thread::sleep(Duration::from_millis(20));
    while b.next_event().unwrap().is_some() {}
    a.hook(Hook::Wink).unwrap();
    assert_eq!(next_event(&b, Duration::from_secs(1)), Some(LineEvent::WinkFlash));
    assert_eq!(next_event(&a, Duration::from_secs(1)), Some(LineEvent::HookComplete));
    // Seize, then flash. Without EMFLASH (DAHDI's default build) a 750 ms
    // flash on E&M reads at the far side as on-hook, then a new seizure.
    a.hook(Hook::OffHook).unwrap();
    assert_eq!(next_event(&b, Duration::from_secs(2)), Some(LineEvent::RingOffHook));
    std::thread::sleep(Duration::from_millis(700));
    while a.next_event().unwrap().is_some() {}
    a.hook(Hook::Flash).unwrap();
    assert_eq!(next_event(&a, Duration::from_secs(2)), Some(LineEvent::HookComplete));
    assert_eq!(next_event(&b, Duration::from_secs(1)), Some(LineEvent::OnHook));
    assert_eq!(next_event(&b, Duration::from_secs(1)), Some(LineEvent::RingOffHook));
    a.hook(Hook::OnHook).unwrap();
    assert_eq!(next_event(&b, Duration::from_secs(2)), Some(LineEvent::OnHook));
}

#[test]
fn echo_canceller_gains_and_linear_audio_are_applied() {
    let (sim, _tmp, dir) = start();
    let a = Channel::open(&dir, 4, Some((2, 2)), OpenOptionsDahdi::default()).unwrap();
    let b = Channel::open(&dir, 28, Some((3, 2)), OpenOptionsDahdi::default()).unwrap();
    a.echo_cancel(128).unwrap();
    assert_eq!(sim.state.lock().dahdi.chan(4).unwrap().echocan.taps, 128);
    a.echo_cancel(0).unwrap();
    assert_eq!(sim.state.lock().dahdi.chan(4).unwrap().echocan.taps, 0);
    // +6 dB of transmit gain on A: a linear sample of 1000 arrives at B near 2000.
    a.set_gains(Law::Mulaw, 0.0, 6.0).unwrap();
    a.set_linear(true).unwrap();
    b.set_linear(true).unwrap();
    a.set_blocksize(160).unwrap();
    b.set_blocksize(160).unwrap();
    let block: Vec<u8> = std::iter::repeat_n(1000i16, 160).flat_map(|s| s.to_ne_bytes()).collect();
    let mut got = Vec::new();
    let mut buf = [0u8; 320];
    let end = Instant::now() + Duration::from_secs(2);
    while Instant::now() < end && got.len() < 3 {
        a.write(&block).unwrap();
        if let Io::Done(n) = b.read(&mut buf).unwrap() {
            assert_eq!(n, 320, "linear reads return 2 bytes per sample");
            let s: Vec<i16> = buf.chunks_exact(2).map(|p| i16::from_ne_bytes([p[0], p[1]])).collect();
            if s.iter().all(|&v| v != 0 && v.abs() != 4) {
                got.push(s[80]);
            }
        }
    }
    assert!(!got.is_empty(), "no audio crossed");
    let v = got[got.len() - 1];
    assert!((1800..=2200).contains(&v), "sample {v} after +6 dB (expected about 2000)");
}
