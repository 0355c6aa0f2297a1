//! End to end: a PRI from the simulated carrier, bridged by `tandem run` to
//! real SIP peers (sipp, kamailio), with the CDR file checked per call.
//!
//! The carrier's switch is `q931-peer` on the network side of the
//! simulator's external D-channel socket (one test uses libpri instead).
//! Each test starts its own simulator, switch and daemon; a lock runs them
//! one at a time, since they share tandem's SIP port.
//!
//! Addresses: tandem `127.0.0.1:5060`; the PBX (sipp) `127.0.0.10:5070`;
//! a backup PBX `127.0.0.11:5070`; kamailio `127.0.0.20:5090`; a stranger
//! `127.0.0.66`.

use std::sync::Mutex;
use std::time::Duration;

use serde_json::Value;
use tandem_tests::gateway::{Kamailio, Lab, Sipp, SippOpts, Tandem, header, wait_until};
use tandem_tests::libpri::LibpriPeer;
use tandem_tests::q931peer::Q931Peer;
use tandem_tests::rigs::{PriRig as Rig, PriSipConfig, cause, cdrs, control, peer_trunk, pri_sim, routes_both_ways, sipp_logged, tone_on};

static SERIAL: Mutex<()> = Mutex::new(());

const T: Duration = Duration::from_secs(10);

/// The daemon's config: one NI-2 PRI (user side, traced) on span 1, the
/// PBX trunk with `pbx_extra` lines, then `trunks` (more trunk sections);
/// routes both ways, the PRI's to `targets`.
fn config(pbx_extra: &str, trunks: &str, targets: &str) -> String {
    PriSipConfig {
        trace: true,
        general_extra: "metrics_listen = \"127.0.0.1:19100\"".into(),
        listen: vec!["udp:127.0.0.1:5060".into(), "tcp:127.0.0.1:5060".into()],
        trunks: format!("{}\n{trunks}", peer_trunk("pbx", "127.0.0.10:5070", "\"127.0.0.10\"", pbx_extra)),
        routes: routes_both_ways("pbx", targets),
        ..PriSipConfig::new("127.0.0.1", "21000-21999")
    }
    .render()
}

/// Simulator, the carrier's switch (q931-peer, network side) and tandem,
/// with the D-channel up on both ends.
fn rig_with(cfg: &str, switch_args: &[&str]) -> Rig {
    rig_in(Lab::start(&pri_sim("t1")), cfg, switch_args)
}

/// As [`rig_with`], in a lab the test has already started things in.
fn rig_in(lab: Lab, cfg: &str, switch_args: &[&str]) -> Rig {
    Rig::start_in(lab, cfg, "ni2", switch_args)
}

/// The PBX trunk without OPTIONS keepalive: sipp, as a UAS, would take an
/// OPTIONS for its one call.
const NO_OPTIONS: &str = "options_interval_s = 0";

fn rig() -> Rig {
    rig_with(&config(NO_OPTIONS, "", r#"[{ trunk = "pbx" }]"#), &[])
}

fn pbx(lab: &Lab, scenario: &str, pause_ms: u32) -> Sipp {
    Sipp::start(lab, "pbx", SippOpts { scenario, rtp_echo_port: Some(7000), pause_ms, ..SippOpts::default() })
}

fn caller<'a>(lab: &Lab, name: &str, scenario: &'a str, called: &'a str, keys: &'a [(&'a str, &'a str)], pause_ms: u32) -> Sipp {
    Sipp::start(
        lab,
        name,
        SippOpts { scenario, rtp_echo_port: Some(7100), pause_ms, keys, service: Some(called), remote: Some("127.0.0.1:5060"), ..SippOpts::default() },
    )
}

/// The carrier places `call ARGS`, the PBX answers, the carrier clears with
/// cause 16 and the PBX's scenario succeeds; returns the `released` event.
fn pri_call_through(r: &mut Rig, pbx: &mut Sipp, args: &str) -> Value {
    r.switch.send_line(&format!("call {args}"));
    connected_then_cleared(r, pbx)
}

/// The carrier's call is connected; the carrier clears it with cause 16 and
/// the PBX's scenario succeeds. Returns the `released` event.
fn connected_then_cleared(r: &mut Rig, pbx: &mut Sipp) -> Value {
    r.switch.wait_for("connected", T);
    let rel = r.hang_up();
    pbx.expect_success(T);
    rel
}

/// On an answered call whose SIP side (sipp, echoing RTP) holds it and
/// resumes it (its scenario logs `ANSWERED`, `HELD`, `RESUMED`): the
/// carrier's 1 kHz tone goes out as RTP and comes back on the B-channel
/// only while tandem sends, so not while `held` (sipp offered sendonly,
/// the 200 said recvonly), and again after the resume.
fn echo_stops_while_held(lab: &Lab, sipp: &Sipp, chan: u64, held: &str) {
    let mut sim = lab.client();
    sim.call("audio.play", serde_json::json!({"chan": chan, "tone": {"freqs": [1000.0], "level_dbm0": -10.0}})).expect("audio.play");
    std::thread::sleep(Duration::from_millis(1000));
    let f = tone_on(&mut sim, chan).unwrap_or_else(|| panic!("no tone came back while talking"));
    assert!((f - 1000.0).abs() < 15.0, "the echoed tone is {f} Hz");
    sipp_logged(sipp, "HELD");
    std::thread::sleep(Duration::from_millis(800));
    assert_eq!(tone_on(&mut sim, chan), None, "tandem still sends RTP while {held}");
    sipp_logged(sipp, "RESUMED");
    std::thread::sleep(Duration::from_millis(800));
    let f = tone_on(&mut sim, chan).unwrap_or_else(|| panic!("no tone came back after the resume"));
    assert!((f - 1000.0).abs() < 15.0, "the echoed tone is {f} Hz after the resume");
}

// ---------------------------------------------------------------------------
// Basic calls

#[test]
fn pri_call_reaches_sip_is_answered_and_pri_clears() {
    let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let mut r = rig();
    let mut pbx = pbx(&r.lab, "uas_answer.xml", 100);
    r.switch.send_line("call 2125551234 9175550000 name Alice");
    let conn = r.switch.wait_for("connected", T);
    let chan = conn["channel"].as_u64().expect("channel");
    // Audio both ways: a 1 kHz tone from the carrier goes out as RTP, sipp
    // echoes it, and it comes back on the same B-channel.
    let mut sim = r.lab.client();
    sim.call("audio.play", serde_json::json!({"chan": chan, "tone": {"freqs": [1000.0], "level_dbm0": -10.0}})).expect("audio.play");
    std::thread::sleep(Duration::from_millis(800));
    let a = sim.call("audio.analyze", serde_json::json!({"chan": chan, "ms": 300})).expect("audio.analyze");
    let f = a["frequency_hz"].as_f64().unwrap_or_else(|| panic!("no tone came back on the B-channel: {a}"));
    assert!((f - 1000.0).abs() < 15.0, "the echoed tone is {f} Hz: {a}");
    r.switch.send_line("hangup 16");
    let rel = r.switch.wait_for("released", T);
    assert_eq!(cause(&rel), 16);
    pbx.expect_success(T);
    let invite = &pbx.received("INVITE ")[0];
    assert!(invite.starts_with("INVITE sip:"), "{invite}");
    assert!(invite.lines().next().unwrap_or("").contains("2125551234"), "called number in the Request-URI: {invite}");
    assert!(header(invite, "From").contains("9175550000") && header(invite, "From").contains("Alice"), "{invite}");
    assert!(invite.contains("m=audio ") && invite.contains("RTP/AVP"), "an SDP offer: {invite}");
    let bye = &pbx.received("BYE ")[0];
    assert!(header(bye, "Reason").contains("Q.850") && header(bye, "Reason").contains("cause=16"), "{bye}");
    let c = &cdrs(&r.lab, 1)[0];
    assert_eq!(c["call_id"].as_str().map(str::len), Some(16), "{c}");
    assert!(c["answer"].is_string(), "answered: {c}");
    assert_eq!(c["released_by"], "inbound", "{c}");
    assert_eq!(c["inbound"]["cause"], 16, "{c}");
    assert!(c["outbound"]["sip_call_id"].is_string(), "{c}");
    assert_eq!(c["outbound"]["interface"], "pbx", "{c}");
    assert_eq!(c["inbound"]["span"], 1, "{c}");
    assert_eq!(c["inbound"]["channel"], chan, "{c}");
    // RTP flowed both ways, and its figures are in the CDR.
    assert!(c["media"]["packets_sent"].as_u64().unwrap_or(0) > 20, "{c}");
    assert!(c["media"]["packets_received"].as_u64().unwrap_or(0) > 20, "{c}");
    // And in the metrics.
    let m = scrape_metrics();
    assert!(m.contains("tandem_calls_total{direction=\"tdm-to-sip\",answered=\"true\"} 1"), "{m}");
    assert!(m.contains("tandem_call_release_causes_total{cause=\"16\"} 1"), "{m}");
    assert!(m.contains("tandem_pri_up{interface=\"pstn\"} 1"), "{m}");
    assert!(m.contains("tandem_calls_active 0"), "{m}");
    let rx: u64 = m.lines().find_map(|l| l.strip_prefix("tandem_rtp_packets_received_total ")).and_then(|v| v.parse().ok()).unwrap_or(0);
    assert!(rx > 20, "{m}");
}

/// `GET /metrics` from the daemon (`metrics_listen` in [`config`]).
fn scrape_metrics() -> String {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect("127.0.0.1:19100").expect("metrics listener");
    s.set_read_timeout(Some(T)).expect("timeout");
    s.write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n").expect("write");
    let mut out = String::new();
    let _ = s.read_to_string(&mut out);
    assert!(out.starts_with("HTTP/1.1 200"), "{out}");
    out
}

#[test]
fn pri_call_answered_by_sip_is_cleared_by_sip() {
    let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let mut r = rig();
    let mut pbx = pbx(&r.lab, "uas_hangup.xml", 500);
    r.switch.send_line("call 2125551234 9175550000");
    r.switch.wait_for("connected", T);
    let d = r.switch.wait_for("disconnecting", T);
    assert_eq!(cause(&d), 16);
    r.switch.wait_for("released", T);
    pbx.expect_success(T);
    let c = &cdrs(&r.lab, 1)[0];
    assert_eq!(c["released_by"], "outbound", "{c}");
}

#[test]
fn sip_call_reaches_pri_is_answered_and_sip_clears() {
    let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let mut r = rig();
    let mut uac = caller(&r.lab, "uac", "uac_call.xml", "2125550142", &[("caller", "9175550000"), ("from_name", "\"Bob\"")], 500);
    let inc = r.switch.wait_for("incoming", T);
    assert!(inc["called"].as_str().unwrap_or("").ends_with("2125550142"), "{inc}");
    assert!(inc["calling"].as_str().unwrap_or("").ends_with("9175550000"), "{inc}");
    assert_eq!(inc["name"], "Bob", "{inc}");
    r.switch.send_line("alerting");
    r.switch.send_line("answer");
    let d = r.switch.wait_for("disconnecting", T);
    assert_eq!(cause(&d), 16);
    uac.expect_success(T);
    let c = &cdrs(&r.lab, 1)[0];
    assert_eq!(c["direction"], "sip-to-tdm", "{c}");
    assert_eq!(c["released_by"], "inbound", "{c}");
}

#[test]
fn sip_call_answered_on_pri_is_cleared_by_pri() {
    let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let mut r = rig();
    let mut uac = caller(&r.lab, "uac", "uac_call_remote_bye.xml", "2125550142", &[], 500);
    r.switch.wait_for("incoming", T);
    r.switch.send_line("answer");
    r.switch.wait_for("connect_ack", T);
    std::thread::sleep(Duration::from_millis(300));
    r.switch.send_line("hangup 16");
    r.switch.wait_for("released", T);
    uac.expect_success(T);
    assert!(uac.log().contains("BYE Reason: Q.850;cause=16"), "{}", uac.log());
    assert_eq!(cdrs(&r.lab, 1).len(), 1);
}

// ---------------------------------------------------------------------------
// Failures both ways

/// SIP answers a PRI call with `status`; the switch sees `cause`.
fn sip_rejects(status: &str, reason: &str, cause_expected: i64) {
    let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let mut r = rig();
    let scen = r.lab.path("uas_reject.xml");
    let text = std::fs::read_to_string(tandem_tests::repo_path("tests/sipp/uas_reject.xml")).expect("scenario");
    std::fs::write(&scen, text.replace("@STATUS@", status).replace("@REASON@", reason)).expect("write");
    let mut pbx = Sipp::start(&r.lab, "pbx", SippOpts { scenario: scen.to_str().expect("utf-8"), ..SippOpts::default() });
    r.switch.send_line("call 2125551234 9175550000");
    let d = r.switch.wait_for("disconnecting", T);
    assert_eq!(cause(&d), cause_expected, "SIP {status} should reach the PRI as cause {cause_expected}: {d}");
    r.switch.wait_for("released", T);
    pbx.expect_success(T);
    let c = &cdrs(&r.lab, 1)[0];
    assert_eq!(c["outbound"]["cause"], cause_expected, "{c}");
}

#[test]
fn sip_busy_486_reaches_pri_as_cause_17() {
    sip_rejects("486", "Busy Here", 17);
}

#[test]
fn sip_404_reaches_pri_as_unallocated_1() {
    sip_rejects("404", "Not Found", 1);
}

#[test]
fn sip_480_reaches_pri_as_no_user_response_18() {
    sip_rejects("480", "Temporarily Unavailable", 18);
}

#[test]
fn sip_503_reaches_pri_as_cause_41() {
    sip_rejects("503", "Service Unavailable", 41);
}

/// The PRI refuses a SIP call with `cause`; the SIP caller gets `status`.
fn pri_rejects(cause_sent: u8, status: &str) {
    let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let mut r = rig();
    let mut uac = caller(&r.lab, "uac", "uac_reject.xml", "2125550142", &[], 100);
    r.switch.wait_for("incoming", T);
    r.switch.send_line(&format!("hangup {cause_sent}"));
    r.switch.wait_for("released", T);
    uac.expect_success(T);
    let log = uac.log();
    assert!(log.contains(&format!("FINAL {status}")), "PRI cause {cause_sent} should reach SIP as {status}: {log}");
    assert!(log.contains(&format!("Q.850;cause={cause_sent}")), "a Reason header with the cause: {log}");
    assert_eq!(cdrs(&r.lab, 1).len(), 1);
}

#[test]
fn pri_busy_17_reaches_sip_as_486() {
    pri_rejects(17, "486");
}

#[test]
fn pri_unallocated_1_reaches_sip_as_404() {
    pri_rejects(1, "404");
}

#[test]
fn pri_no_answer_19_reaches_sip_as_480() {
    pri_rejects(19, "480");
}

#[test]
fn pri_congestion_34_reaches_sip_as_503() {
    pri_rejects(34, "503");
}

#[test]
fn sip_caller_cancel_before_answer_disconnects_the_pri() {
    let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let mut r = rig();
    let mut uac = caller(&r.lab, "uac", "uac_cancel.xml", "2125550142", &[], 500);
    r.switch.wait_for("incoming", T);
    r.switch.send_line("alerting");
    let d = r.switch.wait_for("disconnecting", T);
    assert!([16, 31, 127].contains(&cause(&d)), "{d}");
    r.switch.wait_for("released", T);
    uac.expect_success(T);
    assert_eq!(cdrs(&r.lab, 1).len(), 1);
}

#[test]
fn pri_caller_hangup_before_answer_cancels_the_invite() {
    let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let mut r = rig();
    let mut pbx = pbx(&r.lab, "uas_ring_cancel.xml", 100);
    r.switch.send_line("call 2125551234 9175550000");
    r.switch.wait_for("alerting", T);
    r.switch.send_line("hangup 16");
    r.switch.wait_for("released", T);
    pbx.expect_success(T);
    assert!(pbx.log().contains("CANCEL Reason: Q.850;cause=16"), "{}", pbx.log());
    let c = &cdrs(&r.lab, 1)[0];
    assert!(c["answer"].is_null(), "{c}");
}

// ---------------------------------------------------------------------------
// Early media, identity, redirection

#[test]
fn sip_early_media_183_with_prack_reaches_pri_as_progress() {
    let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let mut r = rig();
    let mut pbx = pbx(&r.lab, "uas_early_media.xml", 1000);
    r.switch.send_line("call 2125551234 9175550000");
    let p = r.switch.wait_for("progress", T);
    assert_eq!(p["inband"], true, "{p}");
    connected_then_cleared(&mut r, &mut pbx);
    let invite = &pbx.received("INVITE ")[0];
    assert!(header(invite, "Supported").contains("100rel"), "{invite}");
    assert!(pbx.log().contains("PRACK RAck: 1 1 INVITE") || pbx.log().contains("PRACK RAck:1 1 INVITE"), "{}", pbx.log());
}

#[test]
fn pri_progress_reaches_sip_caller_as_183_with_sdp() {
    let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let mut r = rig();
    let mut uac = caller(&r.lab, "uac", "uac_call.xml", "2125550142", &[], 200);
    r.switch.wait_for("incoming", T);
    r.switch.send_line("proceeding");
    r.switch.send_line("progress");
    std::thread::sleep(Duration::from_millis(300));
    r.switch.send_line("answer");
    r.switch.wait_for("disconnecting", T);
    uac.expect_success(T);
    let early = uac.received("SIP/2.0 183");
    assert!(!early.is_empty(), "no 183: {}", uac.messages());
    assert!(early[0].contains("m=audio "), "183 with SDP: {}", early[0]);
}

#[test]
fn sip_privacy_id_reaches_pri_as_presentation_restricted() {
    let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let mut r = rig();
    let keys =
        [("from_name", "\"Anonymous\""), ("caller", "anonymous"), ("hdr1", "P-Asserted-Identity: <sip:+19175550000@127.0.0.10>"), ("hdr2", "Privacy: id")];
    let mut uac = caller(&r.lab, "uac", "uac_call.xml", "2125550142", &keys, 200);
    let inc = r.switch.wait_for("incoming", T);
    assert_eq!(inc["presentation"], "restricted", "{inc}");
    assert!(inc["calling"].as_str().unwrap_or("").ends_with("9175550000"), "the number is kept, restricted: {inc}");
    r.switch.send_line("answer");
    r.switch.wait_for("disconnecting", T);
    uac.expect_success(T);
}

#[test]
fn pri_presentation_restricted_reaches_sip_as_privacy_id() {
    let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let mut r = rig();
    let mut pbx = pbx(&r.lab, "uas_answer.xml", 100);
    pri_call_through(&mut r, &mut pbx, "2125551234 9175550000 pres restricted");
    let invite = &pbx.received("INVITE ")[0];
    assert!(header(invite, "Privacy").contains("id"), "{invite}");
    assert!(header(invite, "From").to_ascii_lowercase().contains("anonymous"), "{invite}");
    assert!(header(invite, "P-Asserted-Identity").contains("9175550000"), "{invite}");
}

#[test]
fn sip_diversion_reaches_pri_as_redirecting_number() {
    let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let mut r = rig();
    let keys = [("hdr1", "Diversion: <sip:2125550199@127.0.0.10>;reason=user-busy;counter=1")];
    let mut uac = caller(&r.lab, "uac", "uac_call.xml", "2125550142", &keys, 200);
    let inc = r.switch.wait_for("incoming", T);
    assert!(inc["redirecting"].as_str().unwrap_or("").ends_with("2125550199"), "{inc}");
    r.switch.send_line("answer");
    r.switch.wait_for("disconnecting", T);
    uac.expect_success(T);
}

// ---------------------------------------------------------------------------
// Security and overload

#[test]
fn invite_from_an_unconfigured_address_gets_403_and_seizes_nothing() {
    let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let mut r = rig();
    let mut stranger = Sipp::start(
        &r.lab,
        "stranger",
        SippOpts { scenario: "uac_reject.xml", ip: "127.0.0.66", service: Some("2125550142"), remote: Some("127.0.0.1:5060"), ..SippOpts::default() },
    );
    stranger.expect_success(T);
    assert!(stranger.log().contains("FINAL 403"), "{}", stranger.log());
    r.switch.expect_no("incoming", Duration::from_secs(1));
}

#[test]
fn calls_over_the_cps_limit_get_503_with_retry_after() {
    let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let mut r = rig_with(&config("options_interval_s = 0\nmax_cps = 2", "", r#"[{ trunk = "pbx" }]"#), &["--auto-answer", "100"]);
    // 10 calls at once; at most a few pass, the rest get 503.
    let mut uac = Sipp::start(
        &r.lab,
        "flood",
        SippOpts {
            scenario: "uac_reject.xml",
            service: Some("2125550142"),
            remote: Some("127.0.0.1:5060"),
            calls: 10,
            extra: &["-r", "50", "-l", "10"],
            ..SippOpts::default()
        },
    );
    uac.wait(Duration::from_secs(30));
    let log = uac.log();
    let n503 = log.matches("FINAL 503").count();
    assert!(n503 >= 5, "most of 10 simultaneous calls over max_cps = 2 get 503: {log}");
    assert!(log.contains("FINAL 503 Retry-After:"), "503 carries Retry-After: {log}");
    let _ = &mut r;
}

#[test]
fn a_burst_of_malformed_sip_gets_400_and_the_daemon_still_works() {
    let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let mut r = rig();
    let sock = std::net::UdpSocket::bind("127.0.0.10:0").expect("bind");
    sock.set_read_timeout(Some(Duration::from_millis(500))).expect("timeout");
    let mut got400 = 0;
    for i in 0..50 {
        let msg = format!(
            "INVITE sip:2125550142@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.10:{};branch=z9hG4bK-bad{i}\r\nFrom: <sip:a@127.0.0.10>;tag=x{i}\r\nTo: <sip:b@127.0.0.1>\r\nCall-ID: bad{i}\r\nCSeq: 1 INVITE\r\nMax-Forwards: 70\r\nContent-Length: 999\r\n\r\nshort",
            sock.local_addr().expect("addr").port()
        );
        sock.send_to(msg.as_bytes(), "127.0.0.1:5060").expect("send");
        let mut buf = [0u8; 4096];
        if let Ok((n, _)) = sock.recv_from(&mut buf) {
            if buf[..n].starts_with(b"SIP/2.0 400") {
                got400 += 1;
            }
        }
        // Pure garbage, which gets no answer at all.
        sock.send_to(&[0xFFu8; 64], "127.0.0.1:5060").expect("send");
    }
    assert!(got400 >= 45, "malformed INVITEs are answered 400 ({got400}/50)");
    r.switch.expect_no("incoming", Duration::from_millis(500));
    assert!(r.tandem.running(), "tandem survived");
    // And a good call still goes through.
    let mut uac = caller(&r.lab, "uac", "uac_call.xml", "2125550142", &[], 100);
    r.switch.wait_for("incoming", T);
    r.switch.send_line("answer");
    r.switch.wait_for("disconnecting", T);
    uac.expect_success(T);
}

// ---------------------------------------------------------------------------
// Trunks: OPTIONS failover, registration through kamailio

#[test]
fn options_keepalive_fails_over_to_the_second_trunk() {
    let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    // The first PBX never answers OPTIONS (nothing listens at .10); the
    // backup at .11 does (sipp answers OPTIONS automatically as UAS).
    let backup = r#"
[[sip.trunk]]
name = "backup"
kind = "peer"
host = "127.0.0.11:5070"
accept_from = ["127.0.0.11"]
options_interval_s = 1
options_down_after = 2
"#;
    // The backup PBX listens before tandem starts probing it; sipp counts
    // each OPTIONS as a call of its own, so let it take plenty.
    let lab = Lab::start(&pri_sim("t1"));
    let b = Sipp::start(
        &lab,
        "backup",
        SippOpts { scenario: "uas_answer.xml", ip: "127.0.0.11", rtp_echo_port: Some(7200), pause_ms: 100, calls: 1000, ..SippOpts::default() },
    );
    let mut r = rig_in(lab, &config("options_interval_s = 1\noptions_down_after = 2", backup, r#"[{ trunk = "pbx" }, { trunk = "backup" }]"#), &[]);
    r.tandem.expect_log("SIP trunk down trunk=pbx", Duration::from_secs(30));
    assert!(r.tandem.log.count("SIP trunk down trunk=backup") == 0, "the backup stays up: {:?}", r.tandem.log.all());
    r.switch.send_line("call 2125551234 9175550000");
    r.switch.wait_for("connected", T);
    r.switch.send_line("hangup 16");
    r.switch.wait_for("released", T);
    assert_eq!(b.received("INVITE ").len(), 1, "the backup PBX got the call: {}", b.messages());
    let c = &cdrs(&r.lab, 1)[0];
    assert_eq!(c["outbound"]["interface"], "backup", "{c}");
}

#[test]
fn registers_through_kamailio_with_digest_and_takes_calls_via_it() {
    let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let reg = r#"
[[sip.trunk]]
name = "itsp"
kind = "register"
host = "127.0.0.20:5090"
accept_from = ["127.0.0.20"]
username = "tandem"
password = "s3cret"
register_expires_s = 10
"#;
    let mut cfg = config(NO_OPTIONS, reg, r#"[{ trunk = "itsp" }]"#);
    cfg = cfg.replace("from = \"pbx\"\n", "from = [\"pbx\", \"itsp\"]\n");
    let lab = Lab::start(&pri_sim("t1"));
    let _k = Kamailio::start(&lab, ("127.0.0.1", 5060), ("127.0.0.10", 5070));
    let sock = lab.dchan_socket(1);
    let mut switch = Q931Peer::spawn_named("switch", &["--role", "network", "--switch", "ni2", "--connect", sock.to_str().expect("utf-8")]);
    let tandem = Tandem::start(&lab, &cfg);
    switch.wait_for("link_up", Duration::from_secs(15));
    // Registered, then refreshed (expiry 10 s: a refresh after 7.5 s).
    assert!(wait_until(Duration::from_secs(15), || _k.log.count("REQ REGISTER") >= 4), "REGISTER, challenge answered, then a refresh: {:?}", _k.log.all());
    // A call from the SIP side through kamailio reaches the PRI.
    let mut uac = Sipp::start(
        &lab,
        "uac",
        SippOpts {
            scenario: "uac_call.xml",
            ip: "127.0.0.12",
            service: Some("2125550142"),
            remote: Some("127.0.0.20:5090"),
            rtp_echo_port: Some(7300),
            ..SippOpts::default()
        },
    );
    switch.wait_for("incoming", T);
    switch.send_line("answer");
    switch.wait_for("disconnecting", T);
    uac.expect_success(T);
    // And a PRI call goes out through kamailio (proxy digest) to the PBX.
    let mut pbx = pbx(&lab, "uas_answer.xml", 100);
    switch.send_line("call 2125551234 9175550000");
    switch.wait_for("connected", T);
    switch.send_line("hangup 16");
    switch.wait_for("released", T);
    pbx.expect_success(T);
    drop(tandem);
}

// ---------------------------------------------------------------------------
// libpri as the carrier, and draining on SIGTERM

#[test]
fn libpri_as_the_carrier_places_a_call_to_sip() {
    let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let lab = Lab::start(&pri_sim("t1"));
    let sock = lab.dchan_socket(1);
    let mut switch = LibpriPeer::spawn_named("libpri", &["--role", "network", "--switch", "ni2", "--connect", sock.to_str().expect("utf-8")]);
    let tandem = Tandem::start(&lab, &config(NO_OPTIONS, "", r#"[{ trunk = "pbx" }]"#));
    switch.wait_for("dchan_up", Duration::from_secs(15));
    tandem.expect_log("tandem running", T);
    let mut pbx = pbx(&lab, "uas_answer.xml", 100);
    switch.send_line("call 2125551234 9175550000");
    switch.wait_for("answer", T);
    switch.send_line("hangup 16");
    // libpri reports our RELEASE as `hangup`; the peer then frees the call.
    switch.wait_for("hangup", T);
    pbx.expect_success(T);
    assert_eq!(cdrs(&lab, 1).len(), 1);
}

#[test]
fn sigterm_drains_then_clears_calls_on_both_sides() {
    let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let mut r = rig();
    let mut pbx = pbx(&r.lab, "uas_answer.xml", 100);
    r.switch.send_line("call 2125551234 9175550000");
    r.switch.wait_for("connected", T);
    r.tandem.signal(libc::SIGTERM);
    r.tandem.expect_log("draining", T);
    // drain_timeout_s = 2: the call is cleared with cause 16 after answer.
    let d = r.switch.wait_for("disconnecting", Duration::from_secs(6));
    assert_eq!(cause(&d), 16);
    pbx.expect_success(T);
    let st = r.tandem.terminate(Duration::from_secs(10)).expect("exit status");
    assert!(st.success(), "tandem exits 0 after draining: {st}");
    let c = &cdrs(&r.lab, 1)[0];
    assert_eq!(c["released_by"], "gateway", "{c}");
}

// ---------------------------------------------------------------------------
// Hold and resume, Diversion from the PRI, SIP over TCP, overlap dialling

#[test]
fn sip_caller_holds_and_resumes_by_reinvite_and_media_stops_and_restarts() {
    let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let mut r = rig();
    // Each phase (talking, held, talking again) lasts -d = 2500 ms.
    let mut uac = caller(&r.lab, "uac", "uac_hold.xml", "2125550142", &[], 2500);
    let inc = r.switch.wait_for("incoming", T);
    let chan = inc["channel"].as_u64().expect("channel");
    r.switch.send_line("answer");
    sipp_logged(&uac, "ANSWERED");
    // Held (sipp offered sendonly, the 200 said recvonly), then resumed.
    echo_stops_while_held(&r.lab, &uac, chan, "the call is held");
    let d = r.switch.wait_for("disconnecting", T);
    assert_eq!(cause(&d), 16);
    uac.expect_success(T);
    let oks = uac.received("SIP/2.0 200");
    let hold = oks.iter().find(|m| header(m, "CSeq").starts_with("2 INVITE")).unwrap_or_else(|| panic!("no 200 to the hold: {}", uac.messages()));
    assert!(hold.contains("a=recvonly"), "the hold is answered recvonly: {hold}");
    let resume = oks.iter().find(|m| header(m, "CSeq").starts_with("3 INVITE")).unwrap_or_else(|| panic!("no 200 to the resume: {}", uac.messages()));
    assert!(resume.contains("a=sendrecv") || !resume.contains("a=recvonly"), "the resume is answered sendrecv: {resume}");
    // Hold and resume leave it one call.
    assert_eq!(cdrs(&r.lab, 1).len(), 1);
}

#[test]
fn pri_redirecting_number_reaches_sip_as_diversion_with_reason() {
    let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let mut r = rig();
    let mut pbx = pbx(&r.lab, "uas_answer.xml", 100);
    pri_call_through(&mut r, &mut pbx, "2125551234 9175550000 redirecting 2125550199 reason busy");
    let invite = &pbx.received("INVITE ")[0];
    let div = header(invite, "Diversion");
    assert!(div.contains("2125550199"), "the redirecting number in Diversion: {invite}");
    assert!(div.contains("reason=user-busy"), "call forwarding busy is reason=user-busy: {invite}");
    assert!(div.contains("counter=1"), "{invite}");
}

#[test]
fn pri_redirecting_without_reason_reaches_sip_as_diversion_unknown() {
    let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let mut r = rig();
    let mut pbx = pbx(&r.lab, "uas_answer.xml", 100);
    pri_call_through(&mut r, &mut pbx, "2125551234 9175550000 redirecting 2125550199");
    let invite = &pbx.received("INVITE ")[0];
    let div = header(invite, "Diversion");
    assert!(div.contains("2125550199") && div.contains("reason=unknown"), "{invite}");
}

#[test]
fn sip_call_over_tcp_reaches_pri_is_answered_and_cleared() {
    let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let mut r = rig();
    let mut uac = Sipp::start(
        &r.lab,
        "uac",
        SippOpts {
            scenario: "uac_call.xml",
            transport: "t1",
            rtp_echo_port: Some(7100),
            pause_ms: 500,
            service: Some("2125550142"),
            remote: Some("127.0.0.1:5060"),
            ..SippOpts::default()
        },
    );
    let inc = r.switch.wait_for("incoming", T);
    assert!(inc["called"].as_str().unwrap_or("").ends_with("2125550142"), "{inc}");
    r.switch.send_line("alerting");
    r.switch.send_line("answer");
    let d = r.switch.wait_for("disconnecting", T);
    assert_eq!(cause(&d), 16);
    r.switch.wait_for("released", T);
    uac.expect_success(T);
    let ok = &uac.received("SIP/2.0 200")[0];
    assert!(header(ok, "Via").contains("SIP/2.0/TCP"), "answered over TCP: {ok}");
    let c = &cdrs(&r.lab, 1)[0];
    assert_eq!(c["direction"], "sip-to-tdm", "{c}");
    assert!(c["answer"].is_string(), "{c}");
}

#[test]
fn pri_call_to_a_tcp_trunk_goes_over_tcp_is_answered_and_cleared() {
    let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let lab = Lab::start(&pri_sim("t1"));
    // The PBX listens on TCP before tandem starts.
    let mut pbx =
        Sipp::start(&lab, "pbx", SippOpts { scenario: "uas_answer.xml", transport: "t1", rtp_echo_port: Some(7000), pause_ms: 100, ..SippOpts::default() });
    let mut r = rig_in(lab, &config("options_interval_s = 0\ntransport = \"tcp\"", "", r#"[{ trunk = "pbx" }]"#), &[]);
    let rel = pri_call_through(&mut r, &mut pbx, "2125551234 9175550000");
    assert_eq!(cause(&rel), 16);
    let invite = &pbx.received("INVITE ")[0];
    assert!(header(invite, "Via").contains("SIP/2.0/TCP"), "the INVITE came over TCP: {invite}");
    assert!(pbx.received("BYE ").iter().all(|b| header(b, "Via").contains("TCP")), "{}", pbx.messages());
    let c = &cdrs(&r.lab, 1)[0];
    assert!(c["answer"].is_string(), "{c}");
    assert_eq!(c["outbound"]["interface"], "pbx", "{c}");
}

/// A EuroISDN PRI on the T1 span (EuroISDN dials in overlap), with the
/// switch as its network side; `called` replaces the PRI route's patterns.
fn overlap_rig(called: &str) -> Rig {
    let cfg = config(NO_OPTIONS, "", r#"[{ trunk = "pbx" }]"#).replace("switch = \"ni2\"", "switch = \"euroisdn-t1\"").replacen(
        "called = [\"X.\"]",
        &format!("called = {called}"),
        1,
    );
    Rig::start_in(Lab::start(&pri_sim("t1")), &cfg, "euroisdn-t1", &[])
}

#[test]
fn pri_overlap_dialling_with_sending_complete_reaches_sip_en_bloc() {
    let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let mut r = overlap_rig(r#"["X."]"#);
    let mut pbx = pbx(&r.lab, "uas_answer.xml", 100);
    r.switch.send_line("call 21255 9175550000 overlap");
    // "X." could match a longer number: tandem asks for more digits.
    r.switch.wait_for("setup_ack", T);
    assert!(pbx.received("INVITE ").is_empty(), "no INVITE before the number is complete");
    r.switch.send_line("info 50142 complete");
    connected_then_cleared(&mut r, &mut pbx);
    let invites = pbx.received("INVITE ");
    assert_eq!(invites.len(), 1, "{}", pbx.messages());
    assert!(invites[0].lines().next().unwrap_or("").contains("2125550142"), "the whole number in one INVITE: {}", invites[0]);
}

#[test]
fn pri_overlap_dialling_digit_by_digit_routes_when_a_fixed_pattern_matches() {
    let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    // A 10-digit NANP pattern: the call routes as the tenth digit arrives,
    // with no Sending Complete and no T302 wait.
    let mut r = overlap_rig(r#"["NXXNXXXXXX"]"#);
    let mut pbx = pbx(&r.lab, "uas_answer.xml", 100);
    r.switch.send_line("call 212 9175550000 overlap");
    r.switch.wait_for("setup_ack", T);
    for d in "5550142".chars() {
        r.switch.send_line(&format!("info {d}"));
        std::thread::sleep(Duration::from_millis(50));
    }
    connected_then_cleared(&mut r, &mut pbx);
    let invites = pbx.received("INVITE ");
    assert_eq!(invites.len(), 1, "{}", pbx.messages());
    assert!(invites[0].lines().next().unwrap_or("").contains("2125550142"), "{}", invites[0]);
}

// ---------------------------------------------------------------------------
// The control socket: `tandem status` and hotplug's span events

#[test]
fn tandem_status_shows_channels_and_trunks_and_span_down_stops_the_hunt() {
    let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let mut r = rig();
    let out = std::process::Command::new(tandem_tests::gateway::workspace_bin("tandem"))
        .args(["status", "--socket"])
        .arg(r.lab.path("tandem.sock"))
        .output()
        .expect("tandem status");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}");
    assert!(text.contains("pri pstn: up — 23 idle, 0 busy"), "{text}");
    assert!(text.contains("trunk pbx (peer): up, 0 calls"), "{text}");
    // tandem-hotplug says the span went away: SIP calls to the PRI are
    // refused (no circuit, 34 → 503) and nothing reaches the switch.
    assert_eq!(control(&r.lab, r#"{"op": "span.down", "span": 1}"#)["ok"], true);
    let st = control(&r.lab, r#"{"op": "status"}"#);
    assert_eq!(st["interfaces"][0]["channels"]["idle"], 0, "{st}");
    let mut uac = caller(&r.lab, "uac", "uac_reject.xml", "2125550142", &[], 100);
    uac.expect_success(T);
    assert!(uac.log().contains("FINAL 503"), "{}", uac.log());
    r.switch.expect_no("incoming", Duration::from_millis(300));
    // And back.
    assert_eq!(control(&r.lab, r#"{"op": "span.up", "span": 1}"#)["ok"], true);
    let mut uac = caller(&r.lab, "uac2", "uac_call.xml", "2125550142", &[], 100);
    r.switch.wait_for("incoming", T);
    r.switch.send_line("answer");
    r.switch.wait_for("disconnecting", T);
    uac.expect_success(T);
    assert_eq!(control(&r.lab, r#"{"op": "bogus"}"#)["ok"], false);
}

#[test]
fn pbx_holds_and_resumes_a_pri_call_by_reinvite_and_media_stops_and_restarts() {
    let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let mut r = rig();
    // Each phase (talking, held) lasts -d = 2500 ms; then the carrier clears.
    let mut pbx = pbx(&r.lab, "uas_hold.xml", 2500);
    r.switch.send_line("call 2125551234 9175550000");
    let conn = r.switch.wait_for("connected", T);
    let chan = conn["channel"].as_u64().expect("channel");
    sipp_logged(&pbx, "ANSWERED");
    echo_stops_while_held(&r.lab, &pbx, chan, "the PBX holds the call");
    r.switch.send_line("hangup 16");
    r.switch.wait_for("released", T);
    pbx.expect_success(T);
    assert_eq!(cdrs(&r.lab, 1).len(), 1);
}

#[test]
fn sip_info_dtmf_is_played_in_band_on_the_b_channel() {
    let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let mut r = rig();
    let mut uac = caller(&r.lab, "uac", "uac_info_dtmf.xml", "2125550142", &[], 500);
    r.switch.wait_for("incoming", T);
    r.switch.send_line("answer");
    let conn = r.switch.wait_for("connect_ack", T);
    let _ = conn;
    uac.expect_success(Duration::from_secs(15));
    let inc = r.switch.events().iter().find(|e| e["event"] == "incoming").cloned().expect("incoming");
    let chan = inc["channel"].as_u64().expect("channel");
    // Both INFOs were answered 200 (the scenario checks), and the digits
    // were heard on the B-channel.
    let a = r.lab.client().call("audio.analyze", serde_json::json!({"chan": chan, "ms": 4000})).expect("audio.analyze");
    assert_eq!(a["dtmf"], "58", "{a}");
    let c = &cdrs(&r.lab, 1)[0];
    assert_eq!(c["media"]["dtmf_received"], 2, "{c}");
}

#[test]
fn an_invite_too_large_for_udp_goes_over_tcp_to_a_udp_trunk() {
    let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let lab = Lab::start(&pri_sim("t1"));
    // The PBX listens on TCP only; the trunk says UDP, but a 1,500-byte
    // Request-URI makes the INVITE (and the ACK and BYE that repeat it in
    // To) larger than 1,300 bytes, so RFC 3261 §18.1.1 sends them over TCP.
    let mut pbx =
        Sipp::start(&lab, "pbx", SippOpts { scenario: "uas_answer.xml", transport: "t1", rtp_echo_port: Some(7000), pause_ms: 100, ..SippOpts::default() });
    let long = "x".repeat(1500);
    let target = format!(r#"[{{ trunk = "pbx", uri = "sip:{{called}}@127.0.0.10:5070;pad={long}" }}]"#);
    let mut r = rig_in(lab, &config(NO_OPTIONS, "", &target), &[]);
    pri_call_through(&mut r, &mut pbx, "2125551234 9175550000");
    let invite = &pbx.received("INVITE ")[0];
    assert!(invite.len() > 1300, "{} bytes", invite.len());
    assert!(header(invite, "Via").starts_with("SIP/2.0/TCP"), "the INVITE came over TCP: {}", header(invite, "Via"));
    assert_eq!(cdrs(&r.lab, 1).len(), 1);
}

#[test]
fn a_trunk_with_an_outbound_proxy_sends_through_kamailio_with_the_pbx_in_the_request_uri() {
    let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    // The PBX trunk goes through kamailio, which asks for proxy digest
    // credentials and forwards to the PBX.
    let extra = "options_interval_s = 0\noutbound_proxy = \"sip:127.0.0.20:5090;lr\"\nusername = \"tandem\"\npassword = \"s3cret\"";
    let lab = Lab::start(&pri_sim("t1"));
    let k = Kamailio::start(&lab, ("127.0.0.1", 5060), ("127.0.0.10", 5070));
    let mut pbx = pbx(&lab, "uas_answer.xml", 100);
    let mut r = rig_in(lab, &config(extra, "", r#"[{ trunk = "pbx" }]"#), &[]);
    pri_call_through(&mut r, &mut pbx, "2125551234 9175550000");
    // Kamailio saw the INVITE twice (challenged once), with the PBX in the R-URI.
    assert!(k.log.count("REQ INVITE sip:2125551234@127.0.0.10:5070") >= 2, "{:?}", k.log.all());
    let invite = &pbx.received("INVITE ")[0];
    assert!(header(invite, "Record-Route").contains("127.0.0.20"), "it came through kamailio: {invite}");
}
