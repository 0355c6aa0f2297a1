//! A CO line ringing an FXO port (signalling FXSKS): RINGBEGIN when ring
//! voltage is detected, RINGOFFHOOK once the ring has been gone for the ring
//! trailer, per ring; Bell 202 MDMF caller ID between the first and second
//! rings; answering stops the ringing.

mod common;

use std::time::{Duration, Instant};

use common::*;
use tandem_dsp::callerid::{CallerId, CallerIdMessage};

const CONFIG: &str = r#"
[[card]]
model = "tdm410p"
ports = ["fxo", "fxo"]
"#;

/// dahdi_hangup() (run by every open) starts RING_DEBOUNCE_TIME (2000 ms) on
/// FXS-signalled channels; a ring that starts before it has run out gives no
/// RINGBEGIN. Wait it out so the sequence is the steady-state one.
const RING_DEBOUNCE: Duration = Duration::from_millis(2100);

/// Read audio and events together: an event makes read() fail with ELAST,
/// and is then taken with GETEVENT. Each event records the audio length at
/// which it arrived.
fn read_with_events(ch: &std::fs::File, dur: Duration, start: Instant) -> (Vec<u8>, Vec<(i32, Duration, usize)>) {
    let mut audio = Vec::new();
    let mut evs = Vec::new();
    while start.elapsed() < dur {
        match read_raw(ch, 1024) {
            Ok(b) => audio.extend_from_slice(&b),
            Err(ELAST) => {
                let e = getevent(ch);
                if e != 0 {
                    evs.push((e, start.elapsed(), audio.len()));
                }
            }
            Err(libc::EINTR) => {}
            Err(e) => panic!("read: {}", Errno::from_raw(e)),
        }
    }
    (audio, evs)
}

#[test]
fn co_ring_gives_ringbegin_and_ringoffhook_per_ring_with_mdmf_caller_id_after_the_first() {
    let sim = Sim::start(CONFIG);
    let ctl = sim.ctl();
    chanconfig(&ctl, 1, d::DAHDI_SIG_FXSKS);
    let ch = sim.open_chan(1, 1);
    set_blocksize(&ch, 160).unwrap();
    let mut c = sim.client();
    std::thread::sleep(RING_DEBOUNCE);
    drain_events(&ch);

    call(
        &mut c,
        "co.ring",
        json!({
            "chan": 1,
            "cadence": [[2000, 4000]],
            "count": 2,
            "cid": {"number": "5551234567", "name": "TANDEM TEST", "datetime": "11261133"},
        }),
    );
    let start = Instant::now();
    let (audio, evs) = read_with_events(&ch, Duration::from_millis(8700), start);
    let seq: Vec<String> = evs.iter().map(|e| format!("{}@{}ms", ev_name(e.0), e.1.as_millis())).collect();
    let kinds: Vec<i32> = evs.iter().map(|e| e.0).collect();
    let (begin, off) = (d::DAHDI_EVENT_RINGBEGIN as i32, d::DAHDI_EVENT_RINGOFFHOOK as i32);
    assert_eq!(kinds, vec![begin, off, begin, off], "events: {seq:?}");

    // Ring on at 0 and 6000 ms (detected within ~32 ms), off at 2000 and
    // 8000 ms; RINGOFFHOOK follows the end of the ring by the FXO module's
    // debounce plus the 50 ms DAHDI_RINGTRAILER.
    let ms = |i: usize| evs[i].1.as_millis() as i64;
    for (i, ring_on) in [(0, 0), (2, 6000)] {
        assert!((ring_on..=ring_on + 200).contains(&ms(i)), "RINGBEGIN at {} ms, ring on at {ring_on}: {seq:?}", ms(i));
    }
    for (i, ring_off) in [(1, 2000), (3, 8000)] {
        let after = ms(i) - ring_off;
        assert!((50..=300).contains(&after), "RINGOFFHOOK {after} ms after the ring ended (at {ring_off}): {seq:?}");
    }
    let v = call(&mut c, "co.get", json!({"chan": 1}));
    assert_eq!(v["rings"], json!(2));
    assert_eq!(v["ringing"], json!(false));
    assert_eq!(v["answered"], json!(false));

    // Caller ID is in the audio between the end of the first ring and the
    // start of the second.
    let cid_audio = mulaw_decode(&audio[evs[1].2..evs[2].2]);
    let msg = tandem_dsp::callerid::detect_fsk_callerid(&cid_audio).expect("no caller ID in the audio after the first ring");
    let want = CallerId {
        number: Some("5551234567".into()),
        name: Some("TANDEM TEST".into()),
        datetime: Some((11, 26, 11, 33)),
        number_absence: None,
        name_absence: None,
    };
    assert_eq!(msg, CallerIdMessage::CallerId(want));
    // Nothing like it before the first ring ended.
    let before = mulaw_decode(&audio[..evs[1].2]);
    assert_eq!(tandem_dsp::callerid::detect_fsk_callerid(&before), None, "caller ID before the first ring ended");
}

#[test]
fn answering_during_the_ring_stops_it() {
    let sim = Sim::start(CONFIG);
    let ctl = sim.ctl();
    chanconfig(&ctl, 2, d::DAHDI_SIG_FXSKS);
    let ch = sim.open_chan(1, 2);
    let mut c = sim.client();
    std::thread::sleep(RING_DEBOUNCE);
    drain_events(&ch);

    call(&mut c, "co.ring", json!({"chan": 2}));
    let t0 = Instant::now();
    expect_event(&ch, d::DAHDI_EVENT_RINGBEGIN, Duration::from_millis(500));
    let v = call(&mut c, "co.get", json!({"chan": 2}));
    assert_eq!((v["ringing"].clone(), v["rings"].clone()), (json!(true), json!(1)));

    // The host answers 500 ms into the ring.
    std::thread::sleep(Duration::from_millis(500).saturating_sub(t0.elapsed()));
    hook(&ch, d::DAHDI_OFFHOOK).expect("HOOK OFFHOOK");
    let t1 = Instant::now();
    // Ring voltage goes away; after the trailer the ring is over.
    let evs = collect_events(&ch, t1, Duration::from_millis(800));
    assert_eq!(evs.iter().map(|e| e.0).collect::<Vec<_>>(), vec![d::DAHDI_EVENT_RINGOFFHOOK as i32], "{:?}", names(&evs));
    let v = call(&mut c, "co.get", json!({"chan": 2}));
    assert_eq!(v["answered"], json!(true));
    assert_eq!(v["ringing"], json!(false));
    assert_eq!(v["loop_closed"], json!(true));
    // Nothing more happens on the line.
    let evs = collect_events(&ch, t0, Duration::from_millis(600));
    assert!(evs.is_empty(), "{:?}", names(&evs));
    assert_eq!(call(&mut c, "co.get", json!({"chan": 2}))["rings"], json!(1));
}
