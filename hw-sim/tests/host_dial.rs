//! DAHDI_DIAL on an FXO port (signalling FXSKS): the host seizes the CO line
//! and dials; the CO collects the digits (DTMF heard in the audio, pulses
//! counted from loop breaks) and DIALCOMPLETE follows the last digit.

mod common;

use std::os::fd::AsRawFd;
use std::time::{Duration, Instant};

use common::*;

const CONFIG: &str = r#"
[[card]]
model = "tdm410p"
ports = ["fxo", "fxo"]
"#;

fn dialing(ch: &std::fs::File) -> i32 {
    let mut j = -1;
    // SAFETY: valid fd; int out.
    unsafe { rq::dialing(ch.as_raw_fd(), &mut j) }.expect("DIALING");
    j
}

fn seize(sim: &Sim, c: &mut Client, pos: u32) -> std::fs::File {
    let ctl = sim.ctl();
    chanconfig(&ctl, pos as i32, d::DAHDI_SIG_FXSKS);
    let ch = sim.open_chan(1, pos);
    let co = call(c, "co.get", json!({"chan": pos}));
    assert_eq!(co["loop_closed"], json!(false));
    hook(&ch, d::DAHDI_OFFHOOK).expect("HOOK OFFHOOK");
    let co = wait_until(c, "co.get", json!({"chan": pos}), Duration::from_secs(1), |v| v["loop_closed"] == json!(true));
    assert_eq!(co["loop_closed"], json!(true), "the CO sees the loop closed: {co}");
    assert_eq!(co["seizures"], json!(1));
    ch
}

#[test]
fn dtmf_dial_string_reaches_the_co_and_ends_with_dialcomplete() {
    let sim = Sim::start(CONFIG);
    let mut c = sim.client();
    let ch = seize(&sim, &mut c, 1);
    assert_eq!(dialing(&ch), 0);

    dial(&ch, d::DAHDI_DIAL_OP_REPLACE, "T1234").expect("DIAL");
    let t0 = Instant::now();
    assert_eq!(dialing(&ch), 1, "DIALING while the string plays");
    // Four digits of 100 ms tone + 100 ms silence.
    let evs = collect_events(&ch, t0, Duration::from_millis(1300));
    assert_eq!(evs.iter().map(|e| e.0).collect::<Vec<_>>(), vec![d::DAHDI_EVENT_DIALCOMPLETE as i32], "{:?}", names(&evs));
    let at = evs[0].1;
    assert!(at >= Duration::from_millis(750) && at <= Duration::from_millis(1000), "DIALCOMPLETE at {at:?}, expected ~800 ms");
    assert_eq!(dialing(&ch), 0);
    let co = call(&mut c, "co.get", json!({"chan": 1}));
    assert_eq!(co["digits"], json!("1234"), "{co}");

    // Appending dials more; cancelling stops a string without DIALCOMPLETE.
    dial(&ch, d::DAHDI_DIAL_OP_APPEND, "T56").unwrap();
    expect_event(&ch, d::DAHDI_EVENT_DIALCOMPLETE, Duration::from_millis(800));
    dial(&ch, d::DAHDI_DIAL_OP_REPLACE, "T999999").unwrap();
    std::thread::sleep(Duration::from_millis(50));
    dial(&ch, d::DAHDI_DIAL_OP_CANCEL, "").unwrap();
    assert_eq!(dialing(&ch), 0);
    expect_no_event(&ch, Duration::from_millis(1500));
    let co = call(&mut c, "co.get", json!({"chan": 1}));
    let digits = co["digits"].as_str().unwrap().to_string();
    assert!(digits == "123456" || digits == "1234569", "digits after cancel: {digits:?}");
}

#[test]
fn pulse_dial_string_is_counted_by_the_co() {
    let sim = Sim::start(CONFIG);
    let mut c = sim.client();
    let ch = seize(&sim, &mut c, 2);

    dial(&ch, d::DAHDI_DIAL_OP_REPLACE, "P19").expect("DIAL");
    let t0 = Instant::now();
    // '1': one 50/50 ms break/make, 750 ms after-time; '9': nine, 750 ms.
    let evs = collect_events(&ch, t0, Duration::from_millis(3000));
    assert_eq!(evs.iter().map(|e| e.0).collect::<Vec<_>>(), vec![d::DAHDI_EVENT_DIALCOMPLETE as i32], "{:?}", names(&evs));
    let at = evs[0].1;
    assert!(at >= Duration::from_millis(2300) && at <= Duration::from_millis(2700), "DIALCOMPLETE at {at:?}, expected ~2.5 s");
    let co = call(&mut c, "co.get", json!({"chan": 2}));
    assert_eq!(co["digits"], json!("19"), "{co}");
    assert_eq!(co["seizures"], json!(1), "dial pulses are not new seizures: {co}");
    assert_eq!(co["loop_closed"], json!(true));
}
