//! End to end: analog lines bridged by `tandem run` to a SIP peer (sipp),
//! on the simulator's TDM410P with a CO line on each FXO port and a phone
//! on each FXS port (their far ends driven over the control socket).
//!
//! Addresses (apart from the other end-to-end files, so they can run at
//! the same time): tandem `127.0.0.4:5060`; the PBX (sipp as UAS)
//! `127.0.0.16:5070`; callers (sipp as UAC) `127.0.0.17`.
//!
//! Ports: 1-2 FXS (phones, interface `phones`, extension 100 is port 1),
//! 3 FXO with DTMF dialling (`landline`), 4 FXO with pulse dialling
//! (`landline-pulse`).

use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde_json::json;
use tandem_tests::gateway::{Lab, Sipp, SippOpts, Tandem, wait_until};
use tandem_tests::rigs::{example, example_config, start_tandem, unread};

static SERIAL: Mutex<()> = Mutex::new(());

const T: Duration = Duration::from_secs(10);

/// The simulator: examples/sim/analog-tdm410p.toml.
fn sim() -> String {
    example("examples/sim/analog-tdm410p.toml")
}

/// The test's loopback addresses in examples/gateway/analog.toml.
const ADDRESSES: &[(&str, &str)] = &[
    ("0.0.0.0:5060", "127.0.0.4:5060"),
    ("rtp_ip = \"192.0.2.10\"", "rtp_ip = \"127.0.0.4\""),
    ("pbx.example.com:5060", "127.0.0.16:5070"),
    ("192.0.2.0/24", "127.0.0.16/31"),
    ("options_interval_s = 30", "options_interval_s = 0"),
];

/// The daemon: examples/gateway/analog.toml with the test's device
/// directory, scratch files and loopback addresses.
fn config() -> String {
    example_config("analog.toml", ADDRESSES)
}

struct Rig {
    lab: Lab,
    tandem: Tandem,
}

fn rig() -> Rig {
    rig_with(&[])
}

fn pbx(lab: &Lab, scenario: &str) -> Sipp {
    Sipp::start(lab, "pbx", SippOpts { scenario, ip: "127.0.0.16", rtp_echo_port: Some(7160), pause_ms: 500, ..SippOpts::default() })
}

fn caller(lab: &Lab, name: &str, called: &str, pause_ms: u32) -> Sipp {
    Sipp::start(
        lab,
        name,
        SippOpts {
            scenario: "uac_call.xml",
            ip: "127.0.0.17",
            rtp_echo_port: Some(7170),
            pause_ms,
            service: Some(called),
            remote: Some("127.0.0.4:5060"),
            ..SippOpts::default()
        },
    )
}

/// Rings the CO line on port 3 with this caller ID and returns the INVITE
/// the PBX got, after the gateway answered (the CO saw the answer).
fn co_call(r: &Rig, sipp: &Sipp, cid: serde_json::Value) -> String {
    let mut c = r.lab.client();
    c.co_ring(3, &[(2000, 4000)], None, Some(cid)).expect("co.ring");
    assert!(
        wait_until(Duration::from_secs(15), || !sipp.received("INVITE ").is_empty()),
        "no INVITE reached the PBX; tandem's log:\n{}",
        r.tandem.log.all().join("\n")
    );
    assert!(wait_until(T, || c.co_get(3).map(|s| s.answered && s.loop_closed).unwrap_or(false)), "the FXO port did not go off-hook on the PBX's answer");
    sipp.received("INVITE ").remove(0)
}

#[test]
fn a_co_call_with_bell202_caller_id_after_the_first_ring_reaches_sip_and_the_co_hang_up_sends_bye_within_a_second() {
    let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let r = rig();
    let mut sipp = pbx(&r.lab, "uas_answer.xml");
    let invite = co_call(&r, &sipp, json!({"number": "2125550123", "name": "ALICE SMITH", "datetime": "11261500", "standard": "bell202", "format": "mdmf"}));
    assert!(invite.starts_with("INVITE sip:+12125550199@") || invite.starts_with("INVITE sip:12125550199@"), "{invite}");
    let from = invite.lines().find(|l| l.starts_with("From:")).expect("From");
    assert!(from.contains("ALICE SMITH") && from.contains("2125550123"), "{from}");
    let mut c = r.lab.client();
    // The caller talks (a hang-up inside the port's off-hook debounce would
    // not be reported by DAHDI): the CO's audio comes back through the
    // PBX's RTP echo.
    c.audio_play_tone(3, &[800.0], -10.0).expect("tone");
    tone_heard(&mut c, 3, 200, &[800.0], Duration::from_secs(5)).expect("the CO's tone did not come back over RTP");
    std::thread::sleep(Duration::from_millis(1000));
    let hung_up = Instant::now();
    c.co_disconnect(3).expect("co.disconnect");
    let got_bye = wait_until(Duration::from_secs(3), || sipp.messages().contains("BYE sip:"));
    let took = hung_up.elapsed();
    assert!(got_bye, "no BYE after the CO hung up; log:\n{}", r.tandem.log.all().join("\n"));
    assert!(took < Duration::from_secs(1), "BYE took {took:?}");
    sipp.expect_success(T);
    assert!(wait_until(T, || !c.co_get(3).map(|s| s.loop_closed).unwrap_or(true)), "the port stayed off-hook");
}

#[test]
fn a_co_call_with_caller_id_before_the_first_ring_and_a_private_number_asks_for_privacy() {
    let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let r = rig();
    let mut sipp = pbx(&r.lab, "uas_answer.xml");
    let invite = co_call(
        &r,
        &sipp,
        json!({"number_absent": "private", "name_absent": "private", "standard": "bell202", "format": "mdmf", "timing": "before_first_ring"}),
    );
    let from = invite.lines().find(|l| l.starts_with("From:")).expect("From");
    assert!(from.to_ascii_lowercase().contains("anonymous"), "{invite}");
    assert!(invite.lines().any(|l| l.starts_with("Privacy:") && l.contains("id")), "{invite}");
    std::thread::sleep(Duration::from_millis(1000));
    r.lab.client().co_disconnect(3).expect("co.disconnect");
    sipp.expect_success(T);
}

#[test]
fn a_sip_call_out_on_the_fxo_lines_seizes_waits_for_dial_tone_and_the_co_collects_dtmf_and_pulse_digits() {
    let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let r = rig();
    let mut c = r.lab.client();
    // DTMF on port 3.
    let mut sipp = caller(&r.lab, "dtmf", "5551234", 1500);
    assert!(wait_until(T, || c.co_get(3).map(|s| s.digits == "5551234").unwrap_or(false)), "CO on port 3 saw {:?}", c.co_get(3).map(|s| s.digits));
    sipp.expect_success(T);
    assert!(wait_until(T, || !c.co_get(3).map(|s| s.loop_closed).unwrap_or(true)), "port 3 stayed off-hook after the BYE");
    // Pulse on port 4.
    let mut sipp = caller(&r.lab, "pulse", "2905", 1500);
    assert!(
        wait_until(Duration::from_secs(15), || c.co_get(4).map(|s| s.digits == "2905").unwrap_or(false)),
        "CO on port 4 saw {:?}",
        c.co_get(4).map(|s| s.digits)
    );
    sipp.expect_success(Duration::from_secs(20));
}

#[test]
fn sip_info_hook_flash_and_rfc4733_flash_event_flash_the_answered_fxo_line_and_the_co_counts_both() {
    let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let r = rig();
    let mut c = r.lab.client();
    let mut sipp = Sipp::start(
        &r.lab,
        "flash",
        SippOpts {
            scenario: "uac_info_flash.xml",
            ip: "127.0.0.17",
            rtp_echo_port: Some(7170),
            pause_ms: 1500,
            service: Some("5551234"),
            remote: Some("127.0.0.4:5060"),
            ..SippOpts::default()
        },
    );
    assert!(wait_until(T, || c.co_get(3).map(|s| s.digits == "5551234").unwrap_or(false)), "CO on port 3 saw {:?}", c.co_get(3).map(|s| s.digits));
    // The INFOs come 1 s after the answer and 2 s apart; both were answered 200 (the scenario checks).
    assert!(
        wait_until(Duration::from_secs(15), || c.co_get(3).map(|s| s.flashes == 2).unwrap_or(false)),
        "the CO counted {:?} flashes; tandem's log:\n{}",
        c.co_get(3).map(|s| s.flashes),
        r.tandem.log.all().join("\n")
    );
    assert_eq!(c.co_get(3).map(|s| s.seizures).ok(), Some(1), "a flash was taken for a new seizure");
    sipp.expect_success(Duration::from_secs(20));
    assert!(wait_until(T, || !c.co_get(3).map(|s| s.loop_closed).unwrap_or(true)), "port 3 stayed off-hook after the BYE");
}

#[test]
fn a_phone_off_hook_hears_dial_tone_and_the_number_it_dials_reaches_sip_and_its_hang_up_sends_bye() {
    let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let r = rig();
    let mut sipp = pbx(&r.lab, "uas_answer.xml");
    let mut c = r.lab.client();
    c.phone_hook(2, true).expect("off-hook");
    tone_heard(&mut c, 2, 300, &[350.0, 440.0], T).expect("no dial tone");
    c.phone_dial_dtmf(2, "12125550123", 100, 100).expect("dial");
    assert!(wait_until(T, || !sipp.received("INVITE ").is_empty()), "no INVITE; log:\n{}", r.tandem.log.all().join("\n"));
    let invite = sipp.received("INVITE ").remove(0);
    assert!(invite.starts_with("INVITE sip:12125550123@") || invite.starts_with("INVITE sip:+12125550123@"), "{invite}");
    // Media: what the phone says comes back through the PBX's RTP echo.
    c.audio_play_tone(2, &[1000.0], -10.0).expect("tone");
    tone_heard(&mut c, 2, 200, &[1000.0], Duration::from_secs(5)).expect("the phone's tone did not come back over RTP");
    c.phone_hook(2, false).expect("on-hook");
    sipp.expect_success(T);
}

#[test]
fn a_sip_call_to_a_phone_rings_it_with_the_us_cadence_and_caller_id_and_its_answer_connects() {
    let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let r = rig();
    let mut c = r.lab.client();
    let mut sipp = caller(&r.lab, "to-phone", "100", 1000);
    assert!(wait_until(T, || c.phone_get(1).map(|p| p.ringing).unwrap_or(false)), "the phone never rang");
    let rang = Instant::now();
    assert!(wait_until(Duration::from_secs(4), || !c.phone_get(1).map(|p| p.ringing).unwrap_or(true)), "the first ring did not end");
    let on = rang.elapsed();
    assert!(on > Duration::from_millis(1700) && on < Duration::from_millis(2500), "first ring lasted {on:?}");
    // Caller ID comes in the silence after the first ring.
    std::thread::sleep(Duration::from_millis(1800));
    let wav = r.lab.path("phone1.wav");
    c.audio_save(1, &wav, Some(2500)).expect("audio.save");
    let samples = tandem_dsp::wav::read_wav_bytes(&std::fs::read(&wav).expect("wav")).expect("wav").samples;
    let msg = tandem_dsp::callerid::detect_fsk_callerid(&samples);
    let Some(tandem_dsp::callerid::CallerIdMessage::CallerId(cid)) = msg else { panic!("no caller ID on the phone's line: {msg:?}") };
    assert!(cid.number.as_deref().is_some_and(|n| n.ends_with("2125550100")), "{cid:?}");
    assert!(c.phone_get(1).map(|p| !p.ringing).unwrap_or(false), "still ringing at 3.8 s: the off phase is shorter than 4 s");
    c.phone_hook(1, true).expect("answer");
    sipp.expect_success(T);
    assert!(wait_until(T, || c.phone_get(1).map(|p| p.battery_drops >= 1).unwrap_or(false)), "no open-loop disconnect after the BYE");
    c.phone_hook(1, false).expect("on-hook");
}

#[test]
fn a_sip_call_with_alert_info_bellcore_dr2_rings_the_phone_with_the_dr2_distinctive_cadence() {
    let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let r = rig();
    let mut c = r.lab.client();
    let mut sipp = Sipp::start(
        &r.lab,
        "dr2",
        SippOpts {
            scenario: "uac_call.xml",
            ip: "127.0.0.17",
            rtp_echo_port: Some(7170),
            pause_ms: 1000,
            service: Some("100"),
            remote: Some("127.0.0.4:5060"),
            keys: &[("hdr1", "Alert-Info: <http://127.0.0.1/Bellcore-dr2>")],
            ..SippOpts::default()
        },
    );
    assert!(wait_until(T, || c.phone_get(1).map(|p| p.ringing).unwrap_or(false)), "the phone never rang");
    // Watch the ringer for one dr2 cycle and the start of the next:
    // 0.8 s on, 0.4 s off, 0.8 s on, 4 s off (GR-506), then on again.
    let edges = ring_edges(&mut c, 1, 4, Duration::from_secs(9));
    let phases = [edges[0], edges[1] - edges[0], edges[2] - edges[1], edges[3] - edges[2]];
    let want = [800u64, 400, 800, 4000];
    for (got, want) in phases.iter().zip(want) {
        let want = Duration::from_millis(want);
        assert!(got.abs_diff(want) < Duration::from_millis(250), "ring phases {phases:?}, want 800/400/800/4000 ms");
    }
    c.phone_hook(1, true).expect("answer");
    sipp.expect_success(T);
    c.phone_hook(1, false).expect("on-hook");
}

#[test]
fn tones_from_the_config_override_the_zone_dial_tone_and_ring_a_multi_step_cadence() {
    let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    // The US zone with a 425 Hz dial tone and the UK's double ring.
    let tones = "[tones.us]\ndial = { freqs = [425], level_dbm0 = -13 }\nring_cadence = [[400, 200], [400, 2000]]\n\n[sip]";
    let r = rig_with(&[("[sip]", tones)]);
    let mut c = r.lab.client();
    c.phone_hook(2, true).expect("off-hook");
    tone_heard(&mut c, 2, 300, &[425.0], T).expect("dial tone not at 425 Hz");
    c.phone_hook(2, false).expect("on-hook");
    let mut sipp = Sipp::start(
        &r.lab,
        "double-ring",
        SippOpts {
            scenario: "uac_call.xml",
            ip: "127.0.0.17",
            rtp_echo_port: Some(7170),
            pause_ms: 1000,
            service: Some("100"),
            remote: Some("127.0.0.4:5060"),
            ..SippOpts::default()
        },
    );
    assert!(wait_until(T, || c.phone_get(1).map(|p| p.ringing).unwrap_or(false)), "the phone never rang");
    // One double ring and the start of the next: 0.4 on, 0.2 off, 0.4 on, 2 off, on.
    let edges = ring_edges(&mut c, 1, 4, Duration::from_secs(6));
    let phases = [edges[1] - edges[0], edges[2] - edges[1], edges[3] - edges[2]];
    for (got, want) in phases.iter().zip([200u64, 400, 2000]) {
        assert!(got.abs_diff(Duration::from_millis(want)) < Duration::from_millis(150), "ring phases {phases:?}, want (400)/200/400/2000 ms");
    }
    c.phone_hook(1, true).expect("answer");
    sipp.expect_success(T);
    c.phone_hook(1, false).expect("on-hook");
}

#[test]
fn a_phone_that_dials_hears_ringback_while_the_far_end_rings_and_its_hang_up_cancels() {
    let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let r = rig();
    let mut sipp = pbx(&r.lab, "uas_ring_cancel.xml");
    let mut c = r.lab.client();
    c.phone_hook(2, true).expect("off-hook");
    assert!(tone_starts(&mut c, 2), "no dial tone after off-hook");
    c.phone_dial_dtmf(2, "12125550123", 100, 100).expect("dial");
    assert!(wait_until(T, || !sipp.received("INVITE ").is_empty()), "no INVITE; log:\n{}", r.tandem.log.all().join("\n"));
    // The PBX rings (180, no SDP): the phone hears the US ringback, 440 + 480 Hz.
    let ringback = |a: &hw_sim::client::Analysis| a.level_dbm0 > -30.0 && a.frequency_hz.is_some_and(|f| (f - 440.0).abs() < 10.0 || (f - 480.0).abs() < 10.0);
    assert!(wait_until(T, || c.audio_analyze(2, 300).is_ok_and(|a| ringback(&a))), "no ringback: {:?}", c.audio_analyze(2, 300));
    // Hanging up before answer cancels the INVITE (the scenario expects CANCEL, answers 487).
    c.phone_hook(2, false).expect("on-hook");
    sipp.expect_success(T);
}

#[test]
fn a_phone_left_off_hook_hears_dial_tone_then_reorder_then_the_howler() {
    let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let r = rig_with(&[("line = \"2125550100\"", "line = \"2125550100\"\nfirst_digit_timeout_ms = 1000\nhowler_after_ms = 2000")]);
    let mut c = r.lab.client();
    c.phone_hook(1, true).expect("off-hook");
    let near =
        |a: &hw_sim::client::Analysis, freqs: &[f64]| a.level_dbm0 > -30.0 && a.frequency_hz.is_some_and(|f| freqs.iter().any(|&g| (f - g).abs() < 12.0));
    // No digit within 1 s: reorder (US 480 + 620 Hz), then 2 s later the
    // receiver off-hook tone (1400 + 2060 + 2450 + 2600 Hz).
    assert!(wait_until(T, || c.audio_analyze(1, 100).is_ok_and(|a| near(&a, &[480.0, 620.0]))), "no reorder: {:?}", c.audio_analyze(1, 100));
    assert!(wait_until(T, || c.audio_analyze(1, 100).is_ok_and(|a| near(&a, &[1400.0, 2060.0, 2450.0, 2600.0]))), "no howler: {:?}", c.audio_analyze(1, 100));
    c.phone_hook(1, false).expect("on-hook");
    // Back on hook (longer than DAHDI's 1.25 s flash time) the port is idle
    // again: the next off-hook gets dial tone.
    std::thread::sleep(Duration::from_millis(2000));
    c.phone_hook(1, true).expect("off-hook");
    assert!(wait_until(T, || c.audio_analyze(1, 100).is_ok_and(|a| near(&a, &[350.0, 440.0]))), "no dial tone after the howler");
    c.phone_hook(1, false).expect("on-hook");
}

/// The first `n` times (from now) at which the ringing phone `chan` starts
/// or stops ringing, watched for at most `within`.
fn ring_edges(c: &mut hw_sim::client::Client, chan: u32, n: usize, within: Duration) -> Vec<Duration> {
    let start = Instant::now();
    let mut ringing = true;
    let mut edges = vec![];
    while edges.len() < n && start.elapsed() < within {
        let now = c.phone_get(chan).expect("phone.get").ringing;
        if now != ringing {
            ringing = now;
            edges.push(start.elapsed());
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    assert_eq!(edges.len(), n, "ring edges seen in {within:?}: {edges:?}");
    edges
}

/// A rig whose `landline` section has `key = value` in place of the example's.
fn rig_with(replace: &[(&str, &str)]) -> Rig {
    let subs: Vec<(&str, &str)> = ADDRESSES.iter().chain(replace).copied().collect();
    let lab = Lab::start(&sim());
    let tandem = start_tandem(&lab, &example_config("analog.toml", &subs));
    Rig { lab, tandem }
}

const BELL202: &str = r#"caller_id = { format = "bell202", position = "after-first-ring" }
dial_mode"#;

#[test]
fn v23_etsi_and_dtmf_caller_id_before_the_first_ring_reach_sip() {
    let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    for (format, cid) in [
        ("v23", json!({"number": "01234567890", "name": "ETSI CALLER", "standard": "v23", "format": "etsi", "timing": "before_first_ring"})),
        ("dtmf", json!({"number": "01234567890", "standard": "dtmf", "timing": "before_first_ring_no_reversal"})),
    ] {
        let with = format!("caller_id = {{ format = \"{format}\", position = \"before-first-ring\" }}\ndial_mode");
        let r = rig_with(&[(BELL202, &with)]);
        let mut sipp = pbx(&r.lab, "uas_answer.xml");
        let invite = co_call(&r, &sipp, cid);
        let from = invite.lines().find(|l| l.starts_with("From:")).expect("From");
        assert!(from.contains("01234567890"), "{format}: {from}");
        if format == "v23" {
            assert!(from.contains("ETSI CALLER"), "{from}");
        }
        std::thread::sleep(Duration::from_millis(1000));
        r.lab.client().co_disconnect(3).expect("co.disconnect");
        sipp.expect_success(T);
    }
}

#[test]
fn a_polarity_reversal_from_the_co_after_answer_clears_the_sip_call_within_a_second() {
    let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let r = rig();
    let mut sipp = pbx(&r.lab, "uas_answer.xml");
    co_call(&r, &sipp, json!({"number": "2125550123"}));
    std::thread::sleep(Duration::from_millis(1000));
    let mut c = r.lab.client();
    let at = Instant::now();
    c.co_polarity(3, true).expect("co.polarity");
    assert!(wait_until(Duration::from_secs(3), || sipp.messages().contains("BYE sip:")), "no BYE after the reversal");
    assert!(at.elapsed() < Duration::from_secs(1), "BYE took {:?}", at.elapsed());
    sipp.expect_success(T);
}

#[test]
fn with_polarity_answer_supervision_the_200_waits_for_the_reversal_and_busy_gives_486() {
    let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let r = rig_with(&[("answer_supervision = \"immediate\"", "answer_supervision = \"polarity\"")]);
    let mut c = r.lab.client();
    // Answered when the CO reverses the polarity.
    let mut sipp = caller(&r.lab, "answered", "5551234", 1000);
    assert!(wait_until(T, || c.co_get(3).map(|s| s.digits == "5551234").unwrap_or(false)), "digits not dialled");
    std::thread::sleep(Duration::from_millis(1500));
    assert!(!sipp.messages().contains("SIP/2.0 200"), "answered before the far end did");
    let at = Instant::now();
    c.co_polarity(3, true).expect("co.polarity");
    assert!(wait_until(Duration::from_secs(3), || sipp.messages().contains("SIP/2.0 200")), "no 200 after the reversal");
    assert!(at.elapsed() < Duration::from_millis(500), "200 took {:?}", at.elapsed());
    sipp.expect_success(T);
    // The port is idle again once its on-hook guard time has passed.
    assert!(wait_until(T, || !c.co_get(3).map(|s| s.loop_closed).unwrap_or(true)), "port 3 stayed off-hook");
    std::thread::sleep(Duration::from_millis(1000));
    // Busy: the far end plays 480+620 Hz, 0.5 s on, 0.5 s off.
    let mut sipp = Sipp::start(
        &r.lab,
        "busy",
        SippOpts { scenario: "uac_reject.xml", ip: "127.0.0.17", service: Some("5559876"), remote: Some("127.0.0.4:5060"), ..SippOpts::default() },
    );
    assert!(wait_until(T, || c.co_get(3).map(|s| s.digits == "5559876").unwrap_or(false)), "digits not dialled");
    c.audio_play_cadenced(3, &[480.0, 620.0], -20.0, &[(500, 500)]).expect("busy tone");
    sipp.expect_success(T);
    assert!(sipp.log().contains("FINAL 486"), "{}", sipp.log());
    c.audio_play_silence(3).expect("silence");
}

#[test]
fn a_phone_that_pulse_dials_at_10_pps_reaches_sip_with_the_digits() {
    let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let r = rig();
    let mut sipp = pbx(&r.lab, "uas_answer.xml");
    let mut c = r.lab.client();
    c.phone_hook(1, true).expect("off-hook");
    std::thread::sleep(Duration::from_millis(500));
    // 60 ms break, 40 ms make, 700 ms between digits (the simulated phone's dial).
    c.phone_dial(1, "190", true).expect("pulse dial");
    assert!(wait_until(Duration::from_secs(15), || !sipp.received("INVITE ").is_empty()), "no INVITE; log:\n{}", r.tandem.log.all().join("\n"));
    let invite = sipp.received("INVITE ").remove(0);
    assert!(invite.starts_with("INVITE sip:190@"), "{invite}");
    std::thread::sleep(Duration::from_millis(1000));
    c.phone_hook(1, false).expect("on-hook");
    sipp.expect_success(T);
}

#[test]
fn an_smdi_call_detail_stands_in_for_missing_caller_id_on_the_ringing_line() {
    let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let link = std::env::temp_dir().join(format!("tandem-analog-smdi-{}", std::process::id()));
    let link = link.to_str().expect("utf-8 path").to_owned();
    let lab = Lab::start(&format!("[sim]\nsmdi = \"{link}\"\n\n{}", sim()));
    let cfg = config().replace("echo_taps = 128", &format!("echo_taps = 128\nsmdi_device = \"{link}\"\nsmdi_station = \"0001\""));
    let tandem = Tandem::start(&lab, &cfg);
    tandem.expect_log("tandem running", T);
    let r = Rig { lab, tandem };
    let mut sipp = pbx(&r.lab, "uas_answer.xml");
    let mut c = r.lab.client();
    // The switch sends the call detail as the line starts ringing, with no caller ID on the line.
    c.co_ring(3, &[(2000, 4000)], None, None).expect("co.ring");
    c.call("smdi.send", json!({"text": "\r\nMD0010001D 2125551212 \r\n\u{19}"})).expect("smdi.send");
    assert!(wait_until(Duration::from_secs(15), || !sipp.received("INVITE ").is_empty()), "no INVITE; log:\n{}", r.tandem.log.all().join("\n"));
    let invite = sipp.received("INVITE ").remove(0);
    let from = invite.lines().find(|l| l.starts_with("From:")).expect("From");
    assert!(from.contains("2125551212"), "{invite}");
    assert!(wait_until(T, || c.co_get(3).map(|s| s.answered).unwrap_or(false)), "not answered");
    std::thread::sleep(Duration::from_millis(1000));
    c.co_disconnect(3).expect("co.disconnect");
    sipp.expect_success(T);
}

/// A message-waiting NOTIFY for `mailbox` from `ip:port`; returns sipp's
/// final log line ("FINAL 200", "FINAL 403").
fn notify_mwi(lab: &Lab, name: &str, ip: &str, port: u16, mailbox: &str, waiting: bool, new: &str) -> String {
    let waiting = if waiting { "yes" } else { "no" };
    let mut sipp = Sipp::start(
        lab,
        name,
        SippOpts {
            scenario: "uac_notify_mwi.xml",
            ip,
            port,
            keys: &[("waiting", waiting), ("new", new)],
            service: Some(mailbox),
            remote: Some("127.0.0.4:5060"),
            ..SippOpts::default()
        },
    );
    sipp.expect_success(T);
    sipp.log().lines().find(|l| l.starts_with("FINAL")).unwrap_or_default().trim().to_owned()
}

/// The phone's last `ms` of line audio, as 10 ms blocks: true where tone is on.
fn tone_blocks(lab: &Lab, chan: u32, ms: u32, file: &str) -> Vec<bool> {
    let wav = lab.path(file);
    lab.client().audio_save(chan, &wav, Some(ms)).expect("audio.save");
    let samples = tandem_dsp::wav::read_wav_bytes(&std::fs::read(&wav).expect("wav")).expect("wav").samples;
    samples
        .chunks(80)
        .map(|b| {
            let rms = (b.iter().map(|&s| f64::from(s) * f64::from(s)).sum::<f64>() / b.len().max(1) as f64).sqrt();
            // -13 dBm0 dial tone is an RMS of about 1,600; silence is near 0.
            rms > 300.0
        })
        .collect()
}

/// Waits up to `within` until the main frequency of the last `ms` of line
/// audio on `chan` is within 10 Hz of one of `freqs`; else the last analysis.
fn tone_heard(c: &mut hw_sim::client::Client, chan: u32, ms: u32, freqs: &[f64], within: Duration) -> Result<(), String> {
    let near = |f: f64| freqs.iter().any(|&g| (f - g).abs() < 10.0);
    if wait_until(within, || c.audio_analyze(chan, ms).ok().and_then(|a| a.frequency_hz).is_some_and(near)) {
        Ok(())
    } else {
        Err(format!("{:?}", c.audio_analyze(chan, ms)))
    }
}

/// Waits until the phone on `chan` hears tone (its last 50 ms above
/// -30 dBm0), so that windows of line audio start from the tone's onset
/// however late a loaded machine makes it.
fn tone_starts(c: &mut hw_sim::client::Client, chan: u32) -> bool {
    wait_until(T, || c.audio_analyze(chan, 50).is_ok_and(|a| a.level_dbm0 > -30.0))
}

/// Off-to-on transitions in a run of blocks (each gap between bursts).
fn gaps(blocks: &[bool]) -> usize {
    blocks.windows(2).filter(|w| w[0] && !w[1]).count()
}

#[test]
fn a_message_waiting_notify_lights_the_lamp_sends_fsk_mwi_and_gives_stutter_dial_tone_until_cleared_and_strangers_get_403() {
    let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let r = rig_with(&[("line = \"2125550100\"", "line = \"2125550100\"\nmailbox = \"2001\"")]);
    let mut c = r.lab.client();
    // Set: both phones of the interface light up, and hear FSK MWI on hook.
    assert_eq!(notify_mwi(&r.lab, "mwi-on", "127.0.0.17", 5070, "2001", true, "2"), "FINAL 200");
    assert!(
        wait_until(T, || [1, 2].iter().all(|&p| c.phone_get(p).map(|s| s.mwi_lamp).unwrap_or(false))),
        "the lamps did not light: {:?}; log:\n{}",
        c.phone_get(1),
        r.tandem.log.all().join("\n")
    );
    // The FSK follows the lamp; on a loaded machine it may still be going
    // out, so look at the last 6 s of line audio until it has all arrived.
    let wav = r.lab.path("mwi-fsk.wav");
    let mut msg = None;
    wait_until(T, || {
        c.audio_save(1, &wav, Some(6000)).expect("audio.save");
        let samples = tandem_dsp::wav::read_wav_bytes(&std::fs::read(&wav).expect("wav")).expect("wav").samples;
        msg = tandem_dsp::callerid::detect_fsk_callerid(&samples);
        msg.is_some()
    });
    assert_eq!(msg, Some(tandem_dsp::callerid::CallerIdMessage::MessageWaiting(true)), "FSK on the on-hook line");
    // Off hook: stutter dial tone (US: 0.1 s on / 0.1 s off bursts first).
    c.phone_hook(1, true).expect("off-hook");
    assert!(tone_starts(&mut c, 1), "no dial tone after off-hook");
    std::thread::sleep(Duration::from_millis(1100));
    let blocks = tone_blocks(&r.lab, 1, 1000, "stutter.wav");
    let (on, n) = (blocks.iter().filter(|&&b| b).count(), blocks.len());
    assert!(gaps(&blocks) >= 3, "no stutter: {} gaps in {blocks:?}", gaps(&blocks));
    assert!(on * 10 >= n * 3 && on * 10 <= n * 7, "tone on {on} of {n} blocks: not a 0.1/0.1 s stutter");
    c.phone_hook(1, false).expect("on-hook");
    // Clear: the lamps go out and dial tone is steady.
    std::thread::sleep(Duration::from_millis(600));
    assert_eq!(notify_mwi(&r.lab, "mwi-off", "127.0.0.17", 5070, "2001", false, "0"), "FINAL 200");
    assert!(wait_until(T, || [1, 2].iter().all(|&p| c.phone_get(p).map(|s| !s.mwi_lamp).unwrap_or(false))), "the lamps stayed lit");
    std::thread::sleep(Duration::from_millis(500));
    c.phone_hook(1, true).expect("off-hook");
    assert!(tone_starts(&mut c, 1), "no dial tone after off-hook");
    std::thread::sleep(Duration::from_millis(1100));
    let blocks = tone_blocks(&r.lab, 1, 1000, "steady.wav");
    assert!(blocks.iter().all(|&b| b), "dial tone not steady after the clear: {blocks:?}");
    tone_heard(&mut c, 1, 300, &[350.0, 440.0], T).expect("dial tone not at 350/440 Hz");
    c.phone_hook(1, false).expect("on-hook");
    // A stranger (an address no trunk accepts: tandem's own) gets 403 and changes nothing.
    assert_eq!(notify_mwi(&r.lab, "mwi-stranger", "127.0.0.4", 5098, "2001", true, "1"), "FINAL 403");
    std::thread::sleep(Duration::from_millis(300));
    assert!(!c.phone_get(1).expect("phone.get").mwi_lamp, "a stranger's NOTIFY lit the lamp");
}

#[test]
fn busy_tone_from_the_co_after_answer_hangs_the_port_up_and_sends_bye() {
    let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let r = rig();
    let mut sipp = pbx(&r.lab, "uas_answer.xml");
    co_call(&r, &sipp, json!({"number": "2125550123"}));
    std::thread::sleep(Duration::from_millis(1000));
    let mut c = r.lab.client();
    // The far party hangs up and the CO plays busy instead of dropping the
    // loop: the US zone's busy, 480+620 Hz, 0.5 s on, 0.5 s off.
    let at = Instant::now();
    c.audio_play_cadenced(3, &[480.0, 620.0], -24.0, &[(500, 500)]).expect("busy tone");
    // The detector wants two whole cycles (so the first burst of a double
    // ring is never taken for busy): about 2 s of tone, plus the pump's
    // block and the SIP round trip. 3 s leaves a second for a loaded machine.
    let got_bye = wait_until(Duration::from_secs(5), || sipp.messages().contains("BYE sip:"));
    let took = at.elapsed();
    assert!(got_bye, "no BYE after busy tone; log:\n{}", r.tandem.log.all().join("\n"));
    assert!(took < Duration::from_secs(3), "BYE took {took:?}");
    assert!(took > Duration::from_millis(1400), "BYE after {took:?}: before two busy cycles could be heard");
    sipp.expect_success(T);
    assert!(wait_until(T, || !c.co_get(3).map(|s| s.loop_closed).unwrap_or(true)), "the port stayed off-hook");
    c.audio_play_silence(3).expect("silence");
}

#[test]
fn a_phone_pulse_dialling_at_8_and_12_pps_with_58_and_66_percent_break_is_collected_right() {
    let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let r = rig();
    let mut c = r.lab.client();
    // The edges of the usual tolerances: 8-12 pps, 58-66 % break (the break/make ratio 58/42 to 66/34).
    for (k, (pps, break_pct)) in [(8, 58), (8, 66), (12, 58), (12, 66)].into_iter().enumerate() {
        let mut sipp = pbx(&r.lab, "uas_answer.xml");
        c.phone_hook(1, true).expect("off-hook");
        std::thread::sleep(Duration::from_millis(500));
        let digits = ["190", "109", "145", "180"][k];
        c.phone_dial_pulse(1, digits, pps, break_pct).expect("pulse dial");
        assert!(
            wait_until(Duration::from_secs(15), || !sipp.received("INVITE ").is_empty()),
            "{pps} pps {break_pct} % break: no INVITE; log:\n{}",
            r.tandem.log.all().join("\n")
        );
        let invite = sipp.received("INVITE ").remove(0);
        assert!(invite.starts_with(&format!("INVITE sip:{digits}@")), "{pps} pps {break_pct} % break: {invite}");
        std::thread::sleep(Duration::from_millis(500));
        c.phone_hook(1, false).expect("on-hook");
        sipp.expect_success(T);
        std::thread::sleep(Duration::from_millis(1000));
    }
}

#[test]
fn a_flash_storm_on_a_phone_line_leaves_it_able_to_make_a_normal_call() {
    let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let mut r = rig();
    let mut c = r.lab.client();
    c.phone_hook(1, true).expect("off-hook");
    std::thread::sleep(Duration::from_millis(300));
    // Twelve flashes queued at once: bounces (10 ms, under the pulse minimum),
    // flashes, and one near the hang-up limit; none is a pulse digit.
    let lengths = [10u32, 250, 500, 900];
    let mut total = 0;
    for k in 0..12 {
        let ms = lengths[k % lengths.len()];
        c.phone_flash(1, Some(ms)).expect("phone.flash");
        total += ms + 300;
    }
    std::thread::sleep(Duration::from_millis(u64::from(total) + 500));
    assert!(r.tandem.running(), "tandem died in the flash storm");
    c.phone_hook(1, false).expect("on-hook");
    std::thread::sleep(Duration::from_millis(1500));
    // A normal call now: dial tone, the number reaches SIP, the hang-up ends it.
    let mut sipp = pbx(&r.lab, "uas_answer.xml");
    c.phone_hook(1, true).expect("off-hook");
    tone_heard(&mut c, 1, 300, &[350.0, 440.0], T).expect("no dial tone after the storm");
    c.phone_dial_dtmf(1, "12125550123", 100, 100).expect("dial");
    assert!(wait_until(T, || !sipp.received("INVITE ").is_empty()), "no INVITE after the storm; log:\n{}", r.tandem.log.all().join("\n"));
    std::thread::sleep(Duration::from_millis(500));
    c.phone_hook(1, false).expect("on-hook");
    sipp.expect_success(T);
}

#[test]
fn garbage_on_the_smdi_link_breaks_nothing_and_mwi_for_the_line_goes_out_as_op_mwi_and_rmv_mwi() {
    let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let link = std::env::temp_dir().join(format!("tandem-analog-smdi-garbage-{}", std::process::id()));
    let link = link.to_str().expect("utf-8 path").to_owned();
    let lab = Lab::start(&format!("[sim]\nsmdi = \"{link}\"\n\n{}", sim()));
    let cfg = config().replace("echo_taps = 128", &format!("echo_taps = 128\nsmdi_device = \"{link}\"\nsmdi_station = \"0001\"\nmailbox = \"5551234\""));
    let tandem = Tandem::start(&lab, &cfg);
    tandem.expect_log("tandem running", T);
    let mut r = Rig { lab, tandem };
    let mut c = r.lab.client();
    // Garbage: 20 bursts of 200 random characters (controls, 8-bit, frame bytes), bounded.
    let mut x: u32 = 0x1234_5678;
    for _ in 0..20 {
        let text: String = (0..200)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 17;
                x ^= x << 5;
                char::from_u32(1 + x % 255).unwrap_or('?')
            })
            .collect();
        c.call("smdi.send", json!({ "text": text })).expect("smdi.send");
    }
    std::thread::sleep(Duration::from_millis(500));
    assert!(r.tandem.running(), "tandem died on SMDI garbage");
    // The link still works: a call detail gives the ringing line its caller.
    let mut sipp = pbx(&r.lab, "uas_answer.xml");
    c.co_ring(3, &[(2000, 4000)], None, None).expect("co.ring");
    c.call("smdi.send", json!({"text": "\r\nMD0010001D 2125551212 \r\n\u{19}"})).expect("smdi.send");
    assert!(wait_until(Duration::from_secs(15), || !sipp.received("INVITE ").is_empty()), "no INVITE; log:\n{}", r.tandem.log.all().join("\n"));
    let invite = sipp.received("INVITE ").remove(0);
    assert!(invite.lines().any(|l| l.starts_with("From:") && l.contains("2125551212")), "{invite}");
    assert!(wait_until(T, || c.co_get(3).map(|s| s.answered).unwrap_or(false)), "not answered");
    std::thread::sleep(Duration::from_millis(1000));
    c.co_disconnect(3).expect("co.disconnect");
    sipp.expect_success(T);
    // MWI for the line's mailbox goes to the switch over the link.
    let _ = c.call("smdi.get", json!({}));
    assert_eq!(notify_mwi(&r.lab, "smdi-mwi-on", "127.0.0.17", 5070, "5551234", true, "1"), "FINAL 200");
    let mut sent = String::new();
    assert!(
        wait_until(T, || {
            sent.push_str(c.call("smdi.get", json!({})).ok().and_then(|v| v["text"].as_str().map(str::to_owned)).unwrap_or_default().as_str());
            sent.contains("OP:MWI 5551234!\u{4}")
        }),
        "the switch got {sent:?}"
    );
    assert_eq!(notify_mwi(&r.lab, "smdi-mwi-off", "127.0.0.17", 5070, "5551234", false, "0"), "FINAL 200");
    assert!(
        wait_until(T, || {
            sent.push_str(c.call("smdi.get", json!({})).ok().and_then(|v| v["text"].as_str().map(str::to_owned)).unwrap_or_default().as_str());
            sent.contains("RMV:MWI 5551234!\u{4}")
        }),
        "the switch got {sent:?}"
    );
}

// ---- call waiting, hold and transfer from the phone ----
//
// More callers: the waiting caller sipp on 127.0.0.51 (accepted from the
// PBX trunk by these tests' rig). Port 2's phone stays off-hook in the
// call-waiting test, so every call for extension 100 meets port 1.

/// The rig with 127.0.0.51 accepted as the PBX trunk too.
fn rig_cw() -> Rig {
    rig_with(&[("accept_from = [\"127.0.0.16/31\"]", "accept_from = [\"127.0.0.16/31\", \"127.0.0.51/32\"]")])
}

/// A sipp caller running `scenario` from `ip` (RTP echo on `rtp`), calling
/// `called` at tandem with `caller` as its number. Scenarios that name
/// `rtp_ip`/`rtp_port` get the echo's address.
fn caller_from(lab: &Lab, name: &str, scenario: &str, ip: &str, rtp: u16, called: &str, caller: &str) -> Sipp {
    let rtp_port = rtp.to_string();
    Sipp::start(
        lab,
        name,
        SippOpts {
            scenario,
            ip,
            rtp_echo_port: Some(rtp),
            keys: &[("caller", caller), ("rtp_ip", ip), ("rtp_port", &rtp_port)],
            service: Some(called),
            remote: Some("127.0.0.4:5060"),
            ..SippOpts::default()
        },
    )
}

/// Rings phone 1 from a sipp caller and answers it; returns the caller once it has the 200.
fn answered_call(r: &Rig, name: &str, scenario: &str) -> Sipp {
    let mut c = r.lab.client();
    let sipp = caller_from(&r.lab, name, scenario, "127.0.0.17", 7170, "100", "2125550166");
    assert!(wait_until(T, || c.phone_get(1).map(|p| p.ringing).unwrap_or(false)), "phone 1 never rang; log:\n{}", r.tandem.log.all().join("\n"));
    c.phone_hook(1, true).expect("answer");
    assert!(wait_until(T, || !sipp.received("SIP/2.0 200").is_empty()), "the caller never got its 200; log:\n{}", r.tandem.log.all().join("\n"));
    sipp
}

/// The direction attribute of an SDP body in a SIP message.
fn direction(msg: &str) -> &str {
    ["a=sendonly", "a=recvonly", "a=inactive", "a=sendrecv"].into_iter().find(|d| msg.contains(d)).unwrap_or("none")
}

/// Whether 50 ms blocks of the recorded line audio in `file` hold a tone at `hz` (dominant, above -35 dBm0).
fn heard_tone(lab: &Lab, chan: u32, ms: u32, file: &str, hz: f32) -> bool {
    let wav = lab.path(file);
    lab.client().audio_save(chan, &wav, Some(ms)).expect("audio.save");
    let samples = tandem_dsp::wav::read_wav_bytes(&std::fs::read(&wav).expect("wav")).expect("wav").samples;
    samples.chunks(400).any(|b| {
        let ms = tandem_dsp::goertzel::mean_square(b);
        ms > 1.0e4 && tandem_dsp::goertzel::goertzel_power(b, hz) > 0.6 * ms
    })
}

#[test]
fn call_waiting_tone_and_cidcw_reach_the_phone_a_flash_answers_and_swaps_with_sip_hold_and_the_hang_up_rings_back_for_the_held_call() {
    let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let r = rig_cw();
    let mut c = r.lab.client();
    c.phone_hook(2, true).expect("port 2 off-hook");
    let mut a = answered_call(&r, "cw-a", "uac_cw_first.xml");
    // B calls the same extension: it waits (180) and the phone gets the tone and caller ID.
    let mut b = caller_from(&r.lab, "cw-b", "uac_cw_second.xml", "127.0.0.51", 7510, "100", "2125550177");
    assert!(wait_until(T, || !b.received("SIP/2.0 180").is_empty()), "the waiting caller got no 180; log:\n{}", r.tandem.log.all().join("\n"));
    assert!(
        wait_until(T, || c.phone_get(1).map(|p| p.cidcw_number.is_some()).unwrap_or(false)),
        "no caller ID on call waiting reached the phone: {:?}; log:\n{}",
        c.phone_get(1),
        r.tandem.log.all().join("\n")
    );
    let p = c.phone_get(1).expect("phone.get");
    assert!(p.cidcw_number.as_deref().is_some_and(|n| n.ends_with("2125550177")), "{p:?}");
    assert_eq!((p.cas_heard, p.cidcw_acks), (1, 1), "{p:?}");
    assert!(heard_tone(&r.lab, 1, 6000, "cw.wav", 440.0), "no 440 Hz call-waiting tone in the phone's line audio");
    assert!(b.received("SIP/2.0 200").is_empty(), "the waiting call was answered before the flash");
    // The alert (over once the 6 s of line audio are recorded) only paused A's RTP: the phone
    // talks to A again (A's RTP echo) and A saw no re-INVITE.
    c.audio_play_tone(1, &[1000.0], -10.0).expect("tone");
    tone_heard(&mut c, 1, 200, &[1000.0], T).expect("no media with A after the alert");
    c.audio_play_silence(1).expect("stop the tone");
    assert!(a.received("INVITE ").is_empty(), "A got a re-INVITE for the alert: {}", a.messages());
    // Flash: A is held, B answered.
    c.phone_flash(1, Some(300)).expect("flash");
    assert!(wait_until(T, || !b.received("SIP/2.0 200").is_empty()), "the flash did not answer B; log:\n{}", r.tandem.log.all().join("\n"));
    assert!(wait_until(T, || a.received("INVITE ").len() == 1), "A was not held: {}", a.messages());
    assert_eq!(direction(&a.received("INVITE ")[0]), "a=sendonly");
    // What the phone says now reaches B (its RTP echo sends it back).
    c.audio_play_tone(1, &[1000.0], -10.0).expect("tone");
    tone_heard(&mut c, 1, 200, &[1000.0], T).expect("no media with B");
    c.audio_play_silence(1).expect("stop the tone");
    // Flash again: swap (B held, A resumed).
    c.phone_flash(1, Some(300)).expect("flash");
    assert!(wait_until(T, || b.received("INVITE ").len() == 1), "B was not held: {}", b.messages());
    assert_eq!(direction(&b.received("INVITE ")[0]), "a=sendonly");
    assert!(wait_until(T, || a.received("INVITE ").len() == 2), "A was not resumed: {}", a.messages());
    assert_eq!(direction(&a.received("INVITE ")[1]), "a=sendrecv");
    // Hang up: A (talking) gets BYE; the phone rings again for B, held.
    c.phone_hook(1, false).expect("on-hook");
    a.expect_success(T);
    assert!(
        wait_until(T, || c.phone_get(1).map(|p| p.ringing).unwrap_or(false)),
        "no reminder ring for the held call; log:\n{}",
        r.tandem.log.all().join("\n")
    );
    c.phone_hook(1, true).expect("answer the reminder ring");
    assert!(wait_until(T, || b.received("INVITE ").len() == 2), "B was not resumed: {}", b.messages());
    assert_eq!(direction(&b.received("INVITE ")[1]), "a=sendrecv");
    c.phone_hook(1, false).expect("on-hook");
    b.expect_success(T);
    c.phone_hook(2, false).expect("port 2 on-hook");
    let recs = tandem_tests::gateway::cdrs(&r.lab, 2, T);
    assert_eq!(recs.len(), 2, "{recs:?}");
    for rec in &recs {
        assert_eq!(rec["direction"], "sip-to-tdm", "{rec}");
        assert!(rec["answer"].is_string(), "a call was never answered: {rec}");
        assert_eq!(rec["cause"], 16, "{rec}");
    }
    assert!(recs.iter().any(|x| x["calling"] == "2125550177" || x["calling"] == "+2125550177"), "{recs:?}");
    // Every channel is free again: a fresh call rings the phone.
    assert!(wait_until(T, || r.tandem.log.count("call ended") >= 2), "calls did not end; log:\n{}", r.tandem.log.all().join("\n"));
}

#[test]
fn a_flash_holds_the_caller_with_recall_dial_tone_and_a_second_flash_resumes_it() {
    let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let r = rig();
    let mut c = r.lab.client();
    let mut a = answered_call(&r, "hold-a", "uac_hold_resume.xml");
    c.phone_flash(1, Some(300)).expect("flash");
    assert!(wait_until(T, || a.received("INVITE ").len() == 1), "no hold re-INVITE: {}", a.messages());
    assert_eq!(direction(&a.received("INVITE ")[0]), "a=sendonly");
    // Recall dial tone (the zone's stutter dial tone, 350 + 440 Hz).
    tone_heard(&mut c, 1, 300, &[350.0, 440.0], T).expect("no recall dial tone on hold");
    c.phone_flash(1, Some(300)).expect("flash");
    assert!(wait_until(T, || a.received("INVITE ").len() == 2), "no resume re-INVITE: {}", a.messages());
    assert_eq!(direction(&a.received("INVITE ")[1]), "a=sendrecv");
    // Media flows again after the resume (the caller's RTP echo).
    c.audio_play_tone(1, &[1000.0], -10.0).expect("tone");
    tone_heard(&mut c, 1, 200, &[1000.0], T).expect("no media after the resume");
    c.audio_play_silence(1).expect("stop the tone");
    c.phone_hook(1, false).expect("on-hook");
    a.expect_success(T);
}

#[test]
fn flash_dial_and_hang_up_transfers_the_caller_by_refer_and_the_gateway_byes_after_the_notify() {
    let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let r = rig();
    let mut c = r.lab.client();
    let mut a = answered_call(&r, "xfer-a", "uac_transfer.xml");
    c.phone_flash(1, Some(300)).expect("flash");
    assert!(wait_until(T, || a.received("INVITE ").len() == 1), "no hold re-INVITE: {}", a.messages());
    assert_eq!(direction(&a.received("INVITE ")[0]), "a=sendonly");
    c.phone_dial_dtmf(1, "12125550123", 100, 100).expect("dial");
    // The digits take 2.2 s to dial; hang up once they are in.
    std::thread::sleep(Duration::from_millis(3000));
    c.phone_hook(1, false).expect("on-hook");
    assert!(wait_until(T, || !a.received("REFER ").is_empty()), "no REFER; log:\n{}", r.tandem.log.all().join("\n"));
    let refer = a.received("REFER ").remove(0);
    assert_eq!(tandem_tests::gateway::header(&refer, "Refer-To"), "<sip:12125550123@127.0.0.16:5070>", "{refer}");
    a.expect_success(T);
    let log = a.log();
    assert!(log.contains("NOTIFY ANSWERED") && log.contains("BYE"), "{log}");
    let recs = tandem_tests::gateway::cdrs(&r.lab, 1, T);
    assert_eq!(recs[0]["cause"], 16, "{recs:?}");
}

#[test]
fn a_third_call_for_a_phone_with_a_call_waiting_gets_486_and_the_waiting_callers_cancel_gives_the_phone_back_to_its_call() {
    let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let r = rig_with(&[("accept_from = [\"127.0.0.16/31\"]", "accept_from = [\"127.0.0.16/31\", \"127.0.0.51/32\", \"127.0.0.52/32\"]")]);
    let mut c = r.lab.client();
    c.phone_hook(2, true).expect("port 2 off-hook");
    let mut a = answered_call(&r, "cw3-a", "uac_cw_alerted.xml");
    // B waits, and gives up after 4 s of ringing.
    let mut b = Sipp::start(
        &r.lab,
        "cw3-b",
        SippOpts {
            scenario: "uac_cancel.xml",
            ip: "127.0.0.51",
            pause_ms: 4000,
            keys: &[("caller", "2125550177")],
            service: Some("100"),
            remote: Some("127.0.0.4:5060"),
            ..SippOpts::default()
        },
    );
    assert!(wait_until(T, || !b.received("SIP/2.0 180").is_empty()), "B got no 180; log:\n{}", r.tandem.log.all().join("\n"));
    let mut third = Sipp::start(
        &r.lab,
        "cw3-c",
        SippOpts { scenario: "uac_reject.xml", ip: "127.0.0.52", service: Some("100"), remote: Some("127.0.0.4:5060"), ..SippOpts::default() },
    );
    third.expect_success(T);
    assert!(third.log().contains("FINAL 486"), "{}", third.log());
    b.expect_success(T);
    // The phone talks to A again (A's RTP echo), with no re-INVITE (the alert only paused A's RTP).
    c.audio_play_tone(1, &[1000.0], -10.0).expect("tone");
    tone_heard(&mut c, 1, 200, &[1000.0], T).expect("no media with A after B gave up");
    c.audio_play_silence(1).expect("stop the tone");
    assert!(a.received("INVITE ").is_empty(), "A got a re-INVITE: {}", a.messages());
    c.phone_hook(1, false).expect("on-hook");
    a.expect_success(T);
    c.phone_hook(2, false).expect("port 2 on-hook");
    let recs = tandem_tests::gateway::cdrs(&r.lab, 3, T);
    assert!(recs.iter().any(|x| x["cause"] == 17), "no busy CDR for the third call: {recs:?}");
}

// ---- hold keeps the RTP session ----

/// The port of the `m=audio` line of an SDP body in a SIP message.
fn m_port(msg: &str) -> Option<u16> {
    msg.lines().find(|l| l.starts_with("m=audio ")).and_then(|l| l.split_whitespace().nth(1)).and_then(|p| p.parse().ok())
}

/// The session version of the `o=` line of an SDP body in a SIP message.
fn o_version(msg: &str) -> Option<u64> {
    msg.lines().find(|l| l.starts_with("o=")).and_then(|l| l.split_whitespace().nth(2)).and_then(|v| v.parse().ok())
}

/// One RTP packet from tandem, as the test's peer socket saw it.
#[derive(Clone, Copy, Debug)]
struct Seen {
    marker: bool,
    seq: u16,
    ts: u32,
    ssrc: u32,
    at: Instant,
}

/// Records every RTP packet tandem sends to a socket of the test (at most 60 s).
struct RtpRecorder {
    port: u16,
    seen: std::sync::Arc<Mutex<Vec<Seen>>>,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl RtpRecorder {
    /// Binds a socket on `ip` and records what arrives on it.
    fn start(ip: &str) -> RtpRecorder {
        let sock = std::net::UdpSocket::bind((ip, 0)).expect("the test's RTP socket");
        let port = sock.local_addr().expect("addr").port();
        let seen = std::sync::Arc::new(Mutex::new(Vec::new()));
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let (out, halt) = (seen.clone(), stop.clone());
        let thread = std::thread::spawn(move || {
            sock.set_read_timeout(Some(Duration::from_millis(50))).expect("timeout");
            let end = Instant::now() + Duration::from_secs(60);
            let mut buf = [0u8; 2048];
            while !halt.load(std::sync::atomic::Ordering::Relaxed) && Instant::now() < end {
                if let Ok((n, _)) = sock.recv_from(&mut buf)
                    && let Ok(p) = tandem_media::wire::rtp::RtpPacket::new_checked(&buf[..n])
                {
                    let s = Seen { marker: p.marker(), seq: p.sequence_number(), ts: p.timestamp(), ssrc: p.ssrc(), at: Instant::now() };
                    out.lock().unwrap_or_else(|e| e.into_inner()).push(s);
                }
            }
        });
        RtpRecorder { port, seen, stop, thread: Some(thread) }
    }

    fn snapshot(&self) -> Vec<Seen> {
        self.seen.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Waits until at least `n` packets came.
    fn wait_for(&self, n: usize) -> bool {
        wait_until(T, || self.seen.lock().unwrap_or_else(|e| e.into_inner()).len() >= n)
    }

    /// Waits until the stream paused and came back: a packet with the
    /// marker after the call's first, and 5 more after it.
    fn wait_resumed(&self) -> bool {
        wait_until(T, || {
            let v = self.seen.lock().unwrap_or_else(|e| e.into_inner());
            resumed(&v).is_some_and(|k| v.len() > k + 5)
        })
    }

    /// Stops recording; what came.
    fn finish(mut self) -> Vec<Seen> {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            t.join().expect("recorder");
        }
        self.snapshot()
    }
}

/// Where a stream came back after a pause: the first packet with the
/// marker after the call's first.
fn resumed(v: &[Seen]) -> Option<usize> {
    v.iter().skip(1).position(|s| s.marker).map(|k| k + 1)
}

/// The RTP of a call paused and resumed once: one SSRC throughout, the
/// sequence continuing across the pause (nothing sent meanwhile) and in
/// order before it, and the timestamp jump (ms) across it, for the caller
/// to bound.
fn paused_once(seen: &[Seen]) -> (u64, u64) {
    assert!(seen.iter().all(|s| s.ssrc == seen[0].ssrc), "one SSRC throughout: {:?}", seen.iter().map(|s| s.ssrc).collect::<std::collections::BTreeSet<_>>());
    let k = resumed(seen).expect("a resumed packet");
    let (before, after) = (seen[k - 1], seen[k]);
    assert_eq!(after.seq, before.seq.wrapping_add(1), "the sequence continues across the pause (nothing sent meanwhile)");
    for w in seen[..k].windows(2) {
        assert_eq!(w[1].seq, w[0].seq.wrapping_add(1), "in order on loopback: {w:?}");
    }
    let jump_ms = u64::from(after.ts.wrapping_sub(before.ts)) / 8;
    let gap_ms = (after.at - before.at).as_millis() as u64;
    (jump_ms, gap_ms)
}

/// A caller (sipp `scenario` on 127.0.0.17, media to `rec`) rings phone 1,
/// which answers; returns the caller and its 200 once tandem's RTP flows.
fn answered_caller(r: &Rig, c: &mut hw_sim::client::Client, name: &str, scenario: &'static str, rec: &RtpRecorder) -> (Sipp, String) {
    let rtp_port = rec.port.to_string();
    let a = Sipp::start(
        &r.lab,
        name,
        SippOpts {
            scenario,
            ip: "127.0.0.17",
            keys: &[("caller", "2125550166"), ("rtp_ip", "127.0.0.17"), ("rtp_port", &rtp_port)],
            service: Some("100"),
            remote: Some("127.0.0.4:5060"),
            ..SippOpts::default()
        },
    );
    assert!(wait_until(T, || c.phone_get(1).map(|p| p.ringing).unwrap_or(false)), "phone 1 never rang; log:\n{}", r.tandem.log.all().join("\n"));
    c.phone_hook(1, true).expect("answer");
    assert!(wait_until(T, || !a.received("SIP/2.0 200").is_empty()), "the caller never got its 200; log:\n{}", r.tandem.log.all().join("\n"));
    let answer = a.received("SIP/2.0 200").remove(0);
    assert!(rec.wait_for(10), "no RTP from tandem after the answer");
    (a, answer)
}

#[test]
fn a_held_and_resumed_call_keeps_its_rtp_port_ssrc_and_sequence_and_its_timestamps_count_the_hold() {
    let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let r = rig();
    let mut c = r.lab.client();
    let rec = RtpRecorder::start("127.0.0.17");
    let (mut a, answer) = answered_caller(&r, &mut c, "keep-a", "uac_hold_resume_media.xml", &rec);
    // Hold, for at least 1.5 s (recall dial tone meanwhile).
    c.phone_flash(1, Some(300)).expect("flash");
    assert!(wait_until(T, || a.received("INVITE ").len() == 1), "no hold re-INVITE: {}", a.messages());
    let held_at = Instant::now();
    tone_heard(&mut c, 1, 300, &[350.0, 440.0], T).expect("no recall dial tone on hold");
    std::thread::sleep(Duration::from_millis(1500).saturating_sub(held_at.elapsed()));
    c.phone_flash(1, Some(300)).expect("flash");
    assert!(wait_until(T, || a.received("INVITE ").len() == 2), "no resume re-INVITE: {}", a.messages());
    assert!(rec.wait_resumed(), "no RTP after the resume; log:\n{}", r.tandem.log.all().join("\n"));
    c.phone_hook(1, false).expect("on-hook");
    a.expect_success(T);
    let seen = rec.finish();

    // The SDP: one port throughout, the o= version one up per offer.
    let (hold, resume) = (&a.received("INVITE ")[0], &a.received("INVITE ")[1]);
    assert_eq!((direction(hold), direction(resume)), ("a=sendonly", "a=sendrecv"));
    let port = m_port(&answer).expect("a port in the answer");
    assert_eq!((m_port(hold), m_port(resume)), (Some(port), Some(port)), "the hold and resume offer the answer's port");
    let v = o_version(hold).expect("o= in the hold");
    assert_eq!(o_version(resume), Some(v + 1), "{resume}");
    // The RTP: one SSRC, the sequence continuing across the hold (and in
    // order after it), the timestamp counting it.
    let (jump_ms, gap_ms) = paused_once(&seen);
    let k = resumed(&seen).expect("a resumed packet");
    for w in seen[k..].windows(2) {
        assert_eq!(w[1].seq, w[0].seq.wrapping_add(1), "in order on loopback: {w:?}");
    }
    assert!(jump_ms >= 1000 && jump_ms <= gap_ms + 1000, "timestamp jump {jump_ms} ms across a hold of {gap_ms} ms between packets");
}

#[test]
fn the_call_waiting_alert_pauses_the_first_callers_rtp_with_no_reinvite_keeping_its_ssrc_sequence_and_port_and_swaps_keep_each_calls_port() {
    let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let r = rig_cw();
    let mut c = r.lab.client();
    c.phone_hook(2, true).expect("port 2 off-hook");
    // A's media goes to the test's own socket, which records what tandem sends.
    let rec = RtpRecorder::start("127.0.0.17");
    let (mut a, answer) = answered_caller(&r, &mut c, "cwport-a", "uac_cw_first.xml", &rec);
    let mut b = caller_from(&r.lab, "cwport-b", "uac_cw_second.xml", "127.0.0.51", 7510, "100", "2125550177");
    assert!(wait_until(T, || !b.received("SIP/2.0 180").is_empty()), "the waiting caller got no 180; log:\n{}", r.tandem.log.all().join("\n"));
    // The alert parks A's stream: its RTP pauses and comes back (the marker after the call's first packet).
    assert!(rec.wait_resumed(), "A's RTP did not come back after the alert; log:\n{}", r.tandem.log.all().join("\n"));
    assert!(c.phone_get(1).is_ok_and(|p| p.cidcw_number.is_some()), "the alert's caller ID did not reach the phone; log:\n{}", r.tandem.log.all().join("\n"));
    assert!(a.received("INVITE ").is_empty(), "A got a re-INVITE for the alert: {}", a.messages());
    // Flash: A held, B answered; flash again: B held, A resumed.
    c.phone_flash(1, Some(300)).expect("flash");
    assert!(wait_until(T, || !b.received("SIP/2.0 200").is_empty()), "the flash did not answer B; log:\n{}", r.tandem.log.all().join("\n"));
    assert!(wait_until(T, || a.received("INVITE ").len() == 1), "A was not held: {}", a.messages());
    c.phone_flash(1, Some(300)).expect("flash");
    assert!(wait_until(T, || b.received("INVITE ").len() == 1), "B was not held: {}", b.messages());
    assert!(wait_until(T, || a.received("INVITE ").len() == 2), "A was not resumed: {}", a.messages());
    // A hangs up from the phone; the reminder ring's answer resumes B.
    c.phone_hook(1, false).expect("on-hook");
    a.expect_success(T);
    assert!(wait_until(T, || c.phone_get(1).map(|p| p.ringing).unwrap_or(false)), "no reminder ring; log:\n{}", r.tandem.log.all().join("\n"));
    c.phone_hook(1, true).expect("answer the reminder ring");
    assert!(wait_until(T, || b.received("INVITE ").len() == 2), "B was not resumed: {}", b.messages());
    c.phone_hook(1, false).expect("on-hook");
    b.expect_success(T);
    c.phone_hook(2, false).expect("port 2 on-hook");
    let seen = rec.finish();

    // A's port: the answer's, through the alert, the hold and the resume.
    let a_port = m_port(&answer).expect("a port in A's answer");
    let a_inv = a.received("INVITE ");
    assert_eq!(a_inv.iter().map(|m| m_port(m)).collect::<Vec<_>>(), vec![Some(a_port); 2], "A keeps its answer's port through the alert, hold and resume");
    assert_eq!(a_inv.iter().map(|m| direction(m)).collect::<Vec<_>>(), vec!["a=sendonly", "a=sendrecv"]);
    let b_port = m_port(&b.received("SIP/2.0 200")[0]).expect("a port in B's answer");
    let b_inv = b.received("INVITE ");
    assert_eq!(b_inv.iter().map(|m| m_port(m)).collect::<Vec<_>>(), vec![Some(b_port); 2], "B keeps its answer's port through hold and resume");
    assert_ne!(a_port, b_port);
    // A's RTP: one SSRC throughout; across the alert the sequence continues (nothing sent while
    // parked), the resumption has the marker and the timestamp counts the pause.
    let (jump_ms, gap_ms) = paused_once(&seen);
    // The alert lasts at least its 300 ms tone (the zone's cadence) and a few seconds at most.
    assert!(jump_ms >= 300 && jump_ms <= gap_ms + 1000 && jump_ms < 5000, "timestamp jump {jump_ms} ms across an alert of {gap_ms} ms between packets");
}

#[test]
fn idle_ports_are_left_unread_and_wake_for_caller_id_after_the_first_ring_and_for_a_phone_off_hook() {
    let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let r = rig();
    let mut c = r.lab.client();
    // The phone port and the CO line sleep once idle.
    for ch in [2, 3] {
        assert!(wait_until(Duration::from_secs(30), || unread(&mut c, ch)), "port {ch} is still read while idle");
    }
    // The first ring's event wakes the FXO port in time for the caller ID
    // that follows it.
    let mut sipp = pbx(&r.lab, "uas_answer.xml");
    let invite = co_call(&r, &sipp, json!({"number": "2125550123", "name": "ALICE SMITH", "standard": "bell202", "format": "mdmf"}));
    let from = invite.lines().find(|l| l.starts_with("From:")).expect("From");
    assert!(from.contains("ALICE SMITH") && from.contains("2125550123"), "{from}");
    c.audio_play_tone(3, &[800.0], -10.0).expect("tone");
    tone_heard(&mut c, 3, 200, &[800.0], Duration::from_secs(5)).expect("the CO's tone did not come back over RTP");
    c.co_disconnect(3).expect("co.disconnect");
    sipp.expect_success(T);
    // The phone's off-hook event wakes its port: dial tone.
    c.phone_hook(2, true).expect("off-hook");
    tone_heard(&mut c, 2, 300, &[350.0, 440.0], T).expect("no dial tone after the port slept");
    c.phone_hook(2, false).expect("on-hook");
    assert!(wait_until(Duration::from_secs(30), || unread(&mut c, 2)), "the phone port did not sleep again after on-hook");
}

// ---- glare: a hold re-INVITE refused with 491 ----

/// Every message in a sipp run's `-trace_msg` file: when sipp logged it
/// (seconds of the day), whether it was received (else sent), and its first line.
fn sipp_timeline(sipp: &Sipp) -> Vec<(f64, bool, String)> {
    let text = sipp.messages();
    let mut out = Vec::new();
    for block in text.split("----------------------------------------------- ").skip(1) {
        let mut lines = block.lines();
        let stamp = lines.next().unwrap_or("");
        let Some(clock) = stamp.split_whitespace().nth(1) else { continue };
        let mut hms = clock.split(':').map(|x| x.parse::<f64>().unwrap_or(f64::NAN));
        let (Some(h), Some(m), Some(s)) = (hms.next(), hms.next(), hms.next()) else { continue };
        let received = lines.next().is_some_and(|l| l.contains("received"));
        let first = lines.find(|l| !l.trim().is_empty()).unwrap_or("").trim().to_owned();
        out.push((h * 3600.0 + m * 60.0 + s, received, first));
    }
    out
}

#[test]
fn a_hold_refused_with_491_goes_again_2_to_4_s_later_as_tandem_owns_the_call_id_and_the_call_stays_up_and_held() {
    let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let r = rig();
    let mut sipp = pbx(&r.lab, "uas_hold_491.xml");
    let mut c = r.lab.client();
    // The phone calls out: tandem sends the INVITE, so it owns the Call-ID.
    c.phone_hook(2, true).expect("off-hook");
    tone_heard(&mut c, 2, 300, &[350.0, 440.0], T).expect("no dial tone");
    c.phone_dial_dtmf(2, "12125550123", 100, 100).expect("dial");
    assert!(wait_until(T, || sipp.log().contains("ANSWERED")), "the PBX did not answer; log:\n{}", r.tandem.log.all().join("\n"));
    let re_invites = |s: &Sipp| s.received("INVITE ").into_iter().skip(1).collect::<Vec<_>>();
    // Flash: the hold re-INVITE, refused with 491; the same hold again 2.1-4 s later.
    c.phone_flash(2, Some(300)).expect("flash");
    assert!(wait_until(T, || re_invites(&sipp).len() == 1), "no hold re-INVITE: {}", sipp.messages());
    assert!(
        wait_until(T, || re_invites(&sipp).len() == 2),
        "the hold was not sent again after the 491: {}\nlog:\n{}",
        sipp.messages(),
        r.tandem.log.all().join("\n")
    );
    let held = re_invites(&sipp);
    assert_eq!((direction(&held[0]), direction(&held[1])), ("a=sendonly", "a=sendonly"));
    let timeline = sipp_timeline(&sipp);
    let refused = timeline.iter().find(|(_, rx, l)| !rx && l.starts_with("SIP/2.0 491")).expect("the 491 in sipp's trace").0;
    let retried = timeline.iter().filter(|(_, rx, l)| *rx && l.starts_with("INVITE ")).nth(2).expect("the retry in sipp's trace").0;
    let after = (retried - refused).rem_euclid(86_400.0);
    assert!((2.0..=6.0).contains(&after), "the retry came {after:.3} s after the 491 (RFC 3261 §14.1: 2.1-4 s for the Call-ID's owner)");
    // The retry was answered: the call is up and held (recall dial tone, no BYE).
    tone_heard(&mut c, 2, 300, &[350.0, 440.0], T).expect("no recall dial tone: the call is not held");
    assert!(sipp.received("BYE").is_empty(), "the call was ended: {}", sipp.messages());
    assert_eq!(r.tandem.log.count("met glare (491)"), 1, "one 491 logged; log:\n{}", r.tandem.log.all().join("\n"));
    // A second flash resumes it; media flows again (the PBX's RTP echo).
    c.phone_flash(2, Some(300)).expect("flash");
    assert!(wait_until(T, || re_invites(&sipp).len() == 3), "no resume re-INVITE: {}", sipp.messages());
    assert_eq!(direction(&re_invites(&sipp)[2]), "a=sendrecv");
    c.audio_play_tone(2, &[1000.0], -10.0).expect("tone");
    tone_heard(&mut c, 2, 200, &[1000.0], T).expect("no media after the resume");
    c.audio_play_silence(2).expect("stop the tone");
    c.phone_hook(2, false).expect("on-hook");
    sipp.expect_success(T);
}
