//! The echo canceller through the safe layer on the simulator: parameters
//! go out with the taps (the simulator sees only the taps, as FUSE passes
//! only the header), fax mode frees the canceller, and bad parameters are
//! refused before any ioctl.

use std::time::{Duration, Instant};

use hw_sim::runner::Sim;
use tandem_drivers::*;

const SIM: &str = r#"
[[card]]
model = "tdm410p"
ports = ["fxs"]
"#;

fn start() -> (Sim, tempfile::TempDir, std::path::PathBuf) {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("dahdi");
    let sim = Sim::start(SIM, "test", &dir, &tmp.path().join("c.sock")).unwrap();
    let ctl = Ctl::open(&dir).unwrap();
    ctl.configure_channel(&ChanConfig { chan: 1, signalling: Signalling::Fxs(Start::Kewl), law: None, idle_bits: 0 }).unwrap();
    (sim, tmp, dir)
}

fn echocan(sim: &Sim) -> (u32, bool) {
    let st = sim.state.lock();
    let c = st.dahdi.chan(1).unwrap();
    (c.echocan.taps, c.echocan.fax_mode)
}

#[test]
fn echo_cancel_params_sends_taps_and_fax_mode_frees_the_canceller() {
    let (sim, _tmp, dir) = start();
    let ch = Channel::open(&dir, 1, None, OpenOptionsDahdi::default()).unwrap();
    ch.echo_cancel_params(128, &[("aggressive", 1), ("nlp_type", 3)]).unwrap();
    assert_eq!(echocan(&sim), (128, false));

    ch.echo_cancel_fax_mode(true).unwrap();
    assert_eq!(echocan(&sim), (0, true));
    let end = Instant::now() + Duration::from_secs(1);
    let mut ev = None;
    while ev.is_none() && Instant::now() < end {
        ev = ch.next_event().unwrap();
    }
    assert_eq!(ev, Some(LineEvent::EcDisabled));

    // No canceller left: DAHDI refuses fax mode.
    assert!(ch.echo_cancel_fax_mode(false).is_err());
    // A new canceller starts in voice mode.
    ch.echo_cancel(256).unwrap();
    assert_eq!(echocan(&sim), (256, false));
    ch.echo_cancel(0).unwrap();
    assert_eq!(echocan(&sim), (0, false));
}

#[test]
fn bad_echo_canceller_parameters_are_refused_without_an_ioctl() {
    let (sim, _tmp, dir) = start();
    let ch = Channel::open(&dir, 1, None, OpenOptionsDahdi::default()).unwrap();
    let nine: Vec<(&str, i32)> = (0..9).map(|_| ("p", 0)).collect();
    assert!(matches!(ch.echo_cancel_params(128, &nine), Err(Error::Invalid { .. })));
    assert!(matches!(ch.echo_cancel_params(128, &[("a_name_too_long_", 1)]), Err(Error::Invalid { .. })));
    assert!(matches!(ch.echo_cancel_params(128, &[("", 1)]), Err(Error::Invalid { .. })));
    assert_eq!(echocan(&sim), (0, false));
}
