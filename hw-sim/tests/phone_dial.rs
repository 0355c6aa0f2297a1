//! A phone on an FXS port (signalling FXOKS) dialling: DTMF arrives as audio
//! the host can decode; pulse dialling is counted by DAHDI's receive hook
//! machine into PULSE_START / PULSEDIGIT events.

mod common;

use std::time::{Duration, Instant};

use common::*;

const CONFIG: &str = r#"
[[card]]
model = "tdm410p"
ports = ["fxs", "fxs"]
"#;

fn offhook_phone(sim: &Sim, c: &mut Client, pos: u32) -> std::fs::File {
    let ctl = sim.ctl();
    chanconfig(&ctl, pos as i32, d::DAHDI_SIG_FXOKS);
    let ch = sim.open_chan(1, pos);
    set_blocksize(&ch, 160).unwrap();
    call(c, "phone.hook", json!({"chan": pos, "offhook": true}));
    expect_event(&ch, d::DAHDI_EVENT_RINGOFFHOOK, Duration::from_millis(500));
    ch
}

#[test]
fn phone_dtmf_digits_are_heard_in_the_channel_audio() {
    let sim = Sim::start(CONFIG);
    let mut c = sim.client();
    let ch = offhook_phone(&sim, &mut c, 1);
    // Skip what was buffered before dialling.
    while get_bufinfo(&ch).readbufs > 0 {
        read_block(&ch, 160, Duration::from_secs(1)).unwrap();
    }
    call(&mut c, "phone.dial", json!({"chan": 1, "digits": "123#"}));
    let (audio, evs) = read_audio(&ch, Duration::from_millis(1200));
    assert!(evs.is_empty(), "DTMF from the phone is audio, not events: {:?}", names(&evs));
    assert!(audio.len() >= 8000, "only {} bytes of audio in 1.2 s", audio.len());
    let digits = tandem_dsp::dtmf::detect_digits(&mulaw_decode(&audio));
    assert_eq!(digits, "123#");
    // Still off-hook, nothing else happened.
    assert_eq!(call(&mut c, "phone.get", json!({"chan": 1}))["offhook"], json!(true));
}

#[test]
fn phone_pulse_dialling_gives_pulse_start_and_pulsedigit_events() {
    let sim = Sim::start(CONFIG);
    let mut c = sim.client();
    let ch = offhook_phone(&sim, &mut c, 2);
    expect_no_event(&ch, Duration::from_millis(100));

    call(&mut c, "phone.dial", json!({"chan": 2, "digits": "35", "mode": "pulse"}));
    let t0 = Instant::now();
    let evs = collect_events(&ch, t0, Duration::from_millis(2600));
    let pd = d::DAHDI_EVENT_PULSEDIGIT as i32;
    let start = d::DAHDI_EVENT_PULSE_START as i32;
    // dahdi-base.c: the first counted break of each digit queues PULSE_START
    // (pulsecount == 1); DAHDI_PULSETIMEOUT after the last make the digit is
    // queued and pulsecount returns to 0. Breaks are shorter than rxflashtime:
    // no ONHOOK and no WINKFLASH.
    assert_eq!(evs.iter().map(|e| e.0).collect::<Vec<_>>(), vec![start, pd | '3' as i32, start, pd | '5' as i32], "events: {:?}", names(&evs));
    // The digit comes DAHDI_PULSETIMEOUT (250 ms) after its last make:
    // '3' ends at ~260 ms, '5' (starting after a 700 ms pause) at ~1460 ms.
    let ms = |i: usize| evs[i].1.as_millis() as i64;
    assert!((400..=750).contains(&ms(1)), "digit 3 at {} ms", ms(1));
    assert!((1600..=1950).contains(&ms(3)), "digit 5 at {} ms", ms(3));
    assert!(ms(2) > ms(1) && ms(2) < ms(3));
    assert_eq!(call(&mut c, "phone.get", json!({"chan": 2}))["offhook"], json!(true));
}
