//! End to end: the operator's commands on a running gateway — `tandem
//! calls`, `tandem hangup`, `tandem block` and `tandem unblock` — run as the
//! real binary against `tandem run` on the simulator.
//!
//! The CAS tests use the E&M wink example (examples/gateway/cas-em-wink.toml
//! on examples/sim/cas-t1-cross.toml: span 1 "switch" and span 2 "trunk"
//! joined back to back); the PRI tests a T1 PRI against `q931-peer` as the
//! carrier's switch, EuroISDN (blocks stay local) and NI-2 (blocks are
//! signalled with SERVICE); the analog test examples/gateway/analog.toml on the
//! simulator's TDM410P (port 3 an FXO line, its CO driven by the test).
//!
//! Addresses (apart from the other end-to-end files): tandem
//! `127.0.0.50:5060`; SIP peer 1 `127.0.0.51:5070`, peer 2
//! `127.0.0.52:5070`.

use std::process::Output;
use std::sync::Mutex;
use std::time::Duration;

use serde_json::Value;
use tandem_tests::gateway::{Lab, Sipp, SippOpts, Tandem, cdrs, start_pri, wait_until, workspace_bin};
use tandem_tests::rigs::{PriSipConfig, PriSpan, cas_states, cause, control, example, example_config, peer_trunk, pri_sim, routes_both_ways, start_tandem};

static SERIAL: Mutex<()> = Mutex::new(());

const T: Duration = Duration::from_secs(10);
const CALL: Duration = Duration::from_secs(40);

const TANDEM: &str = "127.0.0.50";
const PEER1: &str = "127.0.0.51";
const PEER2: &str = "127.0.0.52";

/// `tandem <args> --socket <the lab's control socket>`.
fn cli(lab: &Lab, args: &[&str]) -> Output {
    std::process::Command::new(workspace_bin("tandem"))
        .args(args)
        .arg("--socket")
        .arg(lab.path("tandem.sock"))
        .output()
        .unwrap_or_else(|e| panic!("tandem {args:?}: {e}"))
}

/// Runs the CLI and panics with its output unless it exits 0; returns stdout.
fn cli_ok(lab: &Lab, args: &[&str]) -> String {
    let out = cli(lab, args);
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "tandem {args:?} failed: {text}");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// `tandem calls --json`'s list.
fn calls(lab: &Lab) -> Vec<Value> {
    let out = cli_ok(lab, &["calls", "--json"]);
    let v: Value = serde_json::from_str(out.trim()).unwrap_or_else(|e| panic!("tandem calls --json: {e}: {out}"));
    v["calls"].as_array().cloned().unwrap_or_default()
}

/// An interface's entry in `status`.
fn interface(lab: &Lab, name: &str) -> Value {
    let st = control(lab, r#"{"op": "status"}"#);
    st["interfaces"].as_array().into_iter().flatten().find(|i| i["name"] == name).cloned().unwrap_or_else(|| panic!("no interface {name}: {st}"))
}

// ---------------------------------------------------------------------------
// CAS (E&M wink start, two spans back to back)

struct CasRig {
    lab: Lab,
    _tandem: Tandem,
}

fn cas_rig() -> CasRig {
    let cfg = example_config("cas-em-wink.toml", &[("127.0.0.30", TANDEM), ("127.0.0.31", PEER1), ("127.0.0.32", PEER2), ("25000-25999", "27000-27999")]);
    let lab = Lab::start(&example("examples/sim/cas-t1-cross.toml"));
    let tandem = start_tandem(&lab, &cfg);
    CasRig { lab, _tandem: tandem }
}

/// Waits (generously: a far end that saw a busy-out settles through its own
/// timers) until no call is left and every CAS channel is idle.
fn wait_all_idle(lab: &Lab) {
    let ok = wait_until(Duration::from_secs(30), || control(lab, r#"{"op": "status"}"#)["calls"] == 0 && cas_states(lab).iter().all(|s| s.ends_with("=idle")));
    assert!(ok, "channels not idle: {:?}", cas_states(lab));
}

/// The ABCD bits the simulator shows tandem sending on DAHDI channel `channo`.
fn txbits(lab: &Lab, channo: u32) -> Option<u64> {
    lab.client().chan_get(channo).ok().and_then(|v| v["txbits"].as_u64())
}

fn uas(lab: &Lab, name: &str, scenario: &str) -> Sipp {
    Sipp::start(lab, name, SippOpts { scenario, ip: PEER2, port: 5070, rtp_echo_port: Some(7520), pause_ms: 500, ..SippOpts::default() })
}

fn uac(lab: &Lab, name: &str, called: &str, scenario: &str, pause_ms: u32) -> Sipp {
    Sipp::start(
        lab,
        name,
        SippOpts {
            scenario,
            ip: PEER1,
            port: 5070,
            rtp_echo_port: Some(7510),
            pause_ms,
            service: Some(called),
            remote: Some("127.0.0.50:5060"),
            ..SippOpts::default()
        },
    )
}

/// The switch span's channel the CDR of the call numbered `called` went out on.
fn switch_channel_of(lab: &Lab, n: usize, called: &str) -> Value {
    let recs = cdrs(lab, n, T);
    recs.iter()
        .find(|c| c["called"] == called && c["outbound"]["interface"] == "switch")
        .map(|c| c["outbound"]["channel"].clone())
        .unwrap_or_else(|| panic!("no CDR of the call to {called} out on the switch span: {recs:?}"))
}

#[test]
fn calls_lists_both_legs_and_hangup_clears_the_call_with_its_cause_in_bye_and_cdr() {
    let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let r = cas_rig();
    // Peer 1 calls 5551234: out on the switch span, in on the trunk span, to peer 2.
    let mut callee = uas(&r.lab, "callee", "uas_answer.xml");
    let mut caller = uac(&r.lab, "caller", "5551234", "uac_call_remote_bye.xml", 500);
    let mut list = Vec::new();
    let both_answered = wait_until(CALL, || {
        list = calls(&r.lab);
        list.len() == 2 && list.iter().all(|c| c["state"] == "answered")
    });
    assert!(both_answered, "two answered calls (one per span) should be listed: {list:?}");
    let out = list.iter().find(|c| c["inbound"]["kind"] == "sip").unwrap_or_else(|| panic!("the call from peer 1: {list:?}")).clone();
    let back = list.iter().find(|c| c["inbound"]["kind"] == "tdm").unwrap_or_else(|| panic!("the call in on the trunk: {list:?}")).clone();
    assert_eq!(out["direction"], "sip-to-tdm", "{out}");
    assert_eq!(out["called"], "5551234", "{out}");
    assert_eq!(out["calling"], "2125550100", "{out}");
    assert_eq!(out["inbound"]["trunk"], "peer1", "{out}");
    assert!(out["inbound"]["call_id"].as_str().is_some_and(|s| !s.is_empty()), "{out}");
    assert!(out["inbound"]["remote"].as_str().is_some_and(|s| s.contains(PEER1)), "{out}");
    assert_eq!(out["outbound"]["kind"], "tdm", "{out}");
    assert_eq!(out["outbound"]["interface"], "switch", "{out}");
    assert_eq!(out["outbound"]["span"], 1, "{out}");
    assert!(out["outbound"]["channel"].is_u64(), "{out}");
    assert!(out["start"].is_string() && out["answer"].is_string() && out["duration_s"].is_number(), "{out}");
    assert_eq!(back["direction"], "tdm-to-sip", "{back}");
    assert_eq!(back["inbound"]["interface"], "trunk", "{back}");
    assert_eq!(back["inbound"]["span"], 2, "{back}");
    assert_eq!(back["outbound"]["trunk"], "peer2", "{back}");
    assert!(back["outbound"]["remote"].as_str().is_some_and(|s| s.contains(PEER2)), "{back}");
    let id = out["id"].as_str().expect("id").to_owned();
    assert_eq!(id.len(), 16, "{out}");
    // The text listing names the same calls.
    let text = cli_ok(&r.lab, &["calls"]);
    assert!(text.contains(&id) && text.contains("2 call(s)"), "{text}");

    // Hang up the call from peer 1 with cause 31.
    cli_ok(&r.lab, &["hangup", &id, "--cause", "31"]);
    caller.expect_success(CALL);
    assert!(caller.log().contains("BYE Reason: Q.850;cause=31"), "peer 1's BYE should carry cause 31: {}", caller.log());
    // The switch span's clear ends the call on the trunk span, and peer 2 gets its BYE.
    callee.expect_success(CALL);
    assert_eq!(callee.received("BYE ").len(), 1, "{}", callee.messages());
    let recs = cdrs(&r.lab, 2, T);
    let rec = recs.iter().find(|c| c["call_id"] == id.as_str()).unwrap_or_else(|| panic!("no CDR for {id}: {recs:?}"));
    assert_eq!(rec["cause"], 31, "{rec}");
    assert_eq!(rec["released_by"], "gateway", "{rec}");
    assert!(recs.iter().any(|c| c["call_id"] == back["id"]), "the trunk span's call has the listed id in its CDR: {recs:?}");
    wait_all_idle(&r.lab);

    // An unknown id: an error and exit code 1.
    let bad = cli(&r.lab, &["hangup", "00000000000000ff"]);
    assert_eq!(bad.status.code(), Some(1), "{bad:?}");
    assert!(String::from_utf8_lossy(&bad.stderr).contains("no call 00000000000000ff"), "{bad:?}");
    assert!(calls(&r.lab).is_empty());
}

#[test]
fn blocked_cas_channels_are_busied_out_and_skipped_until_unblocked() {
    let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let r = cas_rig();
    wait_all_idle(&r.lab);
    // Block switch channel 1 (DAHDI channel 1): the E&M busy-out bits, as in an alarm.
    let out = cli_ok(&r.lab, &["block", "1:1"]);
    assert!(out.contains("switch 1:1 blocked"), "{out}");
    assert!(wait_until(T, || txbits(&r.lab, 1) == Some(0b1111)), "span 1 channel 1 should send the busy-out bits 1111: {:?}", txbits(&r.lab, 1));
    let sw = interface(&r.lab, "switch");
    assert_eq!(sw["channels"]["blocked"], 1, "{sw}");
    assert_eq!(sw["blocked_channels"], serde_json::json!(["1:1"]), "{sw}");
    let text = cli_ok(&r.lab, &["status"]);
    assert!(text.contains("blocked: 1:1") && text.contains("cas switch: up"), "{text}");
    // The far end (trunk channel 1) takes the steady seizure for a blocked
    // line once its digit wait is over; a call from peer 1 hunts past channel 1.
    let mut callee = uas(&r.lab, "callee-2", "uas_answer.xml");
    let mut caller = uac(&r.lab, "caller-2", "5551234", "uac_call.xml", 500);
    caller.expect_success(CALL);
    callee.expect_success(CALL);
    assert_eq!(switch_channel_of(&r.lab, 2, "5551234"), 2, "the hunt should skip the blocked channel 1");
    assert_eq!(txbits(&r.lab, 1), Some(0b1111), "still busied out after the call on channel 2");

    // The whole span blocked: no channel, SIP 503.
    let out = cli_ok(&r.lab, &["block", "1"]);
    assert_eq!(out.lines().count(), 4, "the switch's 4 channels: {out}");
    assert!(wait_until(T, || (1..=4).all(|ch| txbits(&r.lab, ch) == Some(0b1111))), "span 1 channels 1-4 busied out");
    assert_eq!(interface(&r.lab, "switch")["channels"]["blocked"], 4);
    let mut refused = uac(&r.lab, "refused", "5551235", "uac_reject.xml", 500);
    refused.expect_success(CALL);
    assert!(refused.log().contains("FINAL 503"), "{}", refused.log());

    // Unblocked: idle bits again, and channel 1 takes calls.
    cli_ok(&r.lab, &["unblock", "1"]);
    assert!(wait_until(T, || (1..=4).all(|ch| txbits(&r.lab, ch) == Some(0))), "span 1 channels 1-4 back to idle bits");
    assert_eq!(interface(&r.lab, "switch")["channels"]["blocked"], 0);
    wait_all_idle(&r.lab);
    let mut callee = uas(&r.lab, "callee-3", "uas_answer.xml");
    let mut caller = uac(&r.lab, "caller-3", "5551236", "uac_call.xml", 500);
    caller.expect_success(CALL);
    callee.expect_success(CALL);
    assert_eq!(switch_channel_of(&r.lab, 5, "5551236"), 1, "channel 1 takes calls again");
    wait_all_idle(&r.lab);

    // Bad specs are refused by the CLI, unknown channels by the daemon.
    assert_eq!(cli(&r.lab, &["block", "1:4-2"]).status.code(), Some(1));
    let far = cli(&r.lab, &["block", "1:20"]);
    assert_eq!(far.status.code(), Some(1), "{far:?}");
    assert!(String::from_utf8_lossy(&far.stderr).contains("no channel 20"), "{far:?}");
}

// ---------------------------------------------------------------------------
// PRI (T1, tandem the user side)

/// EuroISDN on a T1: no SERVICE messages, so blocks stay local.
const T1_EURO: PriSpan = PriSpan { kind: "t1", bchans: "1-23", dchan: "24", switch: "euroisdn-t1" };

/// One T1 PRI (user side, `span`'s switch type) on span 1, peer 1 the PBX, routes both ways.
fn pri_config(span: PriSpan) -> String {
    PriSipConfig {
        span,
        trunks: peer_trunk("pbx", "127.0.0.51:5070", "\"127.0.0.51\"", "options_interval_s = 0"),
        routes: routes_both_ways("pbx", r#"[{ trunk = "pbx" }]"#),
        ..PriSipConfig::new(TANDEM, "27000-27999")
    }
    .render()
}

/// Peer 1 as the PBX, answering one call.
fn pbx_answering(lab: &Lab, name: &str) -> Sipp {
    Sipp::start(lab, name, SippOpts { scenario: "uas_answer.xml", ip: PEER1, port: 5070, rtp_echo_port: Some(7530), pause_ms: 100, ..SippOpts::default() })
}

#[test]
fn blocked_pri_channels_are_skipped_by_the_hunt_move_a_preferred_setup_and_refuse_an_exclusive_one_with_cause_44() {
    let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let lab = Lab::start(&pri_sim("t1"));
    // EuroISDN has no SERVICE: the switch is not told and still offers blocked channels.
    let (mut switch, tandem) = start_pri(&lab, &pri_config(T1_EURO), "euroisdn-t1", &[]);
    let out = cli_ok(&lab, &["block", "1:1-2"]);
    assert!(out.contains("pstn 1:1 blocked") && out.contains("pstn 1:2 blocked"), "{out}");
    // The operator is told too: in the reply and in the status.
    assert!(out.contains("pstn: local only: EuroISDN (ETSI EN 300 403) T1 has no SERVICE messages"), "{out}");
    tandem.expect_log("local only: EuroISDN (ETSI EN 300 403) T1 has no SERVICE messages", T);
    let st = interface(&lab, "pstn");
    assert!(st["block_note"].as_str().is_some_and(|n| n.starts_with("local only")), "{st}");
    assert_eq!(st["blocks"], serde_json::json!([{"channel": "1:1", "blocked_by": "local"}, {"channel": "1:2", "blocked_by": "local"}]), "{st}");
    assert_eq!(st["channels"]["blocked"], 2, "{st}");
    assert_eq!(st["channels"]["idle"], 21, "{st}");

    // A call from the PBX: the SETUP the switch sees asks for channel 3.
    let mut uac = Sipp::start(
        &lab,
        "pbx-call",
        SippOpts {
            scenario: "uac_call.xml",
            ip: PEER1,
            port: 5070,
            rtp_echo_port: Some(7530),
            pause_ms: 300,
            service: Some("2125550142"),
            remote: Some("127.0.0.50:5060"),
            ..SippOpts::default()
        },
    );
    let inc = switch.wait_for("incoming", T);
    assert_eq!(inc["channel"], 3, "the hunt should skip blocked channels 1 and 2: {inc}");
    switch.send_line("answer");
    switch.wait_for("released", T);
    uac.expect_success(T);
    let recs = cdrs(&lab, 1, T);
    assert_eq!(recs[0]["outbound"]["channel"], 3, "{recs:?}");

    // The switch offers a call on blocked channel 1, exclusive: RELEASE COMPLETE, cause 44.
    switch.send_line("call 2125551234 9175550000 chan 1");
    let rel = switch.wait_for("released", T);
    assert_eq!(cause(&rel), 44, "{rel}");

    // A call that only prefers blocked channel 1 is moved (Q.931 §5.2.3.1):
    // the first answer's channel identification names channel 3, the first
    // unblocked one of tandem's ascending hunt, and the call goes through.
    let mut pbx = pbx_answering(&lab, "pbx-answer");
    switch.send_line("call 2125551235 9175550000 chan 1 preferred");
    let conn = switch.wait_for("connected", T);
    assert_eq!(conn["channel"], 3, "a preferred SETUP for blocked channel 1 should be moved to channel 3: {conn}");
    switch.send_line("hangup 16");
    let rel = switch.wait_for("released", T);
    assert_eq!(cause(&rel), 16, "{rel}");
    pbx.expect_success(T);
    let recs = cdrs(&lab, 2, T);
    let moved =
        recs.iter().find(|c| c["called"].as_str().is_some_and(|n| n.ends_with("2125551235"))).unwrap_or_else(|| panic!("no CDR of the moved call: {recs:?}"));
    assert_eq!(moved["inbound"]["channel"], 3, "{moved}");

    // Unblocked: channel 1 takes the next call.
    cli_ok(&lab, &["unblock", "1"]);
    assert_eq!(interface(&lab, "pstn")["channels"]["blocked"], 0);
    let mut uac = Sipp::start(
        &lab,
        "pbx-call-2",
        SippOpts {
            scenario: "uac_call.xml",
            ip: PEER1,
            port: 5070,
            rtp_echo_port: Some(7530),
            pause_ms: 300,
            service: Some("2125550143"),
            remote: Some("127.0.0.50:5060"),
            ..SippOpts::default()
        },
    );
    let inc = switch.wait_for("incoming", T);
    assert_eq!(inc["channel"], 1, "{inc}");
    switch.send_line("answer");
    switch.wait_for("released", T);
    uac.expect_success(T);
}

#[test]
fn a_blocked_pri_channel_on_ni2_is_taken_out_of_service_at_the_switch_by_service_and_put_back_by_unblock() {
    let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let lab = Lab::start(&pri_sim("t1"));
    let (mut switch, _tandem) = start_pri(&lab, &pri_config(PriSpan::T1_NI2), "ni2", &[]);
    let out = cli_ok(&lab, &["block", "1:5"]);
    assert!(out.contains("pstn 1:5 blocked") && !out.contains("local only"), "{out}");
    // The switch receives SERVICE (channel 5, out of service) from tandem.
    let ev = switch.wait_for("service", T);
    assert_eq!(ev["channels"], serde_json::json!([5]), "{ev}");
    assert_eq!(ev["status"], "out_of_service", "{ev}");
    assert_eq!(ev["initiator"], "peer", "{ev}");
    assert_eq!(interface(&lab, "pstn")["channels"]["blocked"], 1);
    // So the switch itself no longer offers a call on channel 5.
    switch.send_line("call 2125551234 9175550000 chan 5");
    let err = switch.wait_for("error", T);
    assert!(err["msg"].as_str().is_some_and(|m| m.contains("B-channel 0/5 is not available")), "the switch refuses channel 5 itself: {err}");

    // Unblocked: SERVICE in service, and channel 5 takes the switch's call again.
    cli_ok(&lab, &["unblock", "1:5"]);
    let ev = switch.wait_for("service", T);
    assert_eq!(ev["channels"], serde_json::json!([5]), "{ev}");
    assert_eq!(ev["status"], "in_service", "{ev}");
    assert_eq!(interface(&lab, "pstn")["channels"]["blocked"], 0);
    let mut pbx = pbx_answering(&lab, "pbx-answer");
    switch.send_line("call 2125551236 9175550000 chan 5");
    let conn = switch.wait_for("connected", T);
    assert_eq!(conn["channel"], 5, "{conn}");
    switch.send_line("hangup 16");
    let rel = switch.wait_for("released", T);
    assert_eq!(cause(&rel), 16, "{rel}");
    pbx.expect_success(T);

    // The switch takes channel 7 out of service: tandem's status shows it
    // blocked by the far end, until the switch puts it back.
    switch.send_line("service out 7");
    let far = |lab: &Lab| interface(lab, "pstn")["blocks"].clone();
    assert!(wait_until(T, || far(&lab) == serde_json::json!([{"channel": "1:7", "blocked_by": "far"}])), "{}", interface(&lab, "pstn"));
    assert_eq!(interface(&lab, "pstn")["channels"]["blocked"], 1);
    assert!(cli_ok(&lab, &["status"]).contains("blocked: 1:7 (far)"));
    switch.send_line("service in 7");
    assert!(wait_until(T, || far(&lab) == serde_json::json!([])), "{}", interface(&lab, "pstn"));
}

#[test]
fn block_now_clears_the_call_on_the_channel_with_cause_41_on_both_legs_then_takes_it_out_of_service() {
    let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let lab = Lab::start(&pri_sim("t1"));
    let (mut switch, _tandem) = start_pri(&lab, &pri_config(PriSpan::T1_NI2), "ni2", &[]);
    let mut pbx = pbx_answering(&lab, "now-pbx");
    switch.send_line("call 2125551234 9175550000");
    let conn = switch.wait_for("connected", T);
    let ch = conn["channel"].as_i64().expect("the call's channel");

    let out = cli_ok(&lab, &["block", &format!("1:{ch}"), "--now"]);
    assert!(out.contains(&format!("pstn 1:{ch} blocked")), "{out}");
    // Both legs are cleared with cause 41 (temporary failure: a retry is hunted elsewhere).
    let rel = switch.wait_for("released", T);
    assert_eq!(cause(&rel), 41, "{rel}");
    pbx.expect_success(T);
    let bye = pbx.received("BYE ").remove(0);
    assert!(bye.contains("Reason: Q.850;cause=41"), "{bye}");
    let rec = &cdrs(&lab, 1, T)[0];
    assert_eq!((rec["cause"].as_i64(), rec["released_by"].as_str()), (Some(41), Some("gateway")), "{rec}");
    // Then the channel, now idle, goes out of service at the switch.
    let ev = switch.wait_for("service", T);
    assert_eq!((ev["channels"].clone(), ev["status"].as_str()), (serde_json::json!([ch]), Some("out_of_service")), "{ev}");
    assert_eq!(interface(&lab, "pstn")["channels"]["blocked"], 1);
}

/// Sends an OPTIONS from `from` to tandem's SIP port and waits for its answer.
fn options_from(from: &str, tag: &str) -> String {
    let sock = std::net::UdpSocket::bind((from, 0)).expect("the test's SIP socket");
    sock.set_read_timeout(Some(T)).expect("timeout");
    let port = sock.local_addr().expect("addr").port();
    let req = format!(
        "OPTIONS sip:{TANDEM} SIP/2.0\r\nVia: SIP/2.0/UDP {from}:{port};branch=z9hG4bK-{tag}\r\nMax-Forwards: 70\r\nFrom: <sip:ops@{from}>;tag={tag}\r\nTo: <sip:{TANDEM}>\r\nCall-ID: {tag}@{from}\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n"
    );
    sock.send_to(req.as_bytes(), (TANDEM, 5060)).expect("send OPTIONS");
    let mut buf = [0u8; 4096];
    let (n, _) = sock.recv_from(&mut buf).expect("an answer to the OPTIONS");
    String::from_utf8_lossy(&buf[..n]).into_owned()
}

#[test]
fn log_level_turns_debug_on_for_one_part_while_running_and_back_and_refuses_a_bad_filter() {
    let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let lab = Lab::start(&pri_sim("t1"));
    let (_switch, tandem) = start_pri(&lab, &pri_config(T1_EURO), "euroisdn-t1", &[]);
    let first = cli_ok(&lab, &["log-level"]);
    let start = first.trim().strip_prefix("log filter: ").unwrap_or_else(|| panic!("{first}")).to_owned();

    // SIP transport at debug: each message received is logged.
    let out = cli_ok(&lab, &["log-level", "info,tandem_gateway::sip::transport=debug"]);
    assert_eq!(out.trim(), format!("log filter: info,tandem_gateway::sip::transport=debug (was {start})"));
    tandem.expect_log("log filter changed from the control socket", T);
    let answer = options_from(PEER2, "loglevel1");
    assert!(answer.starts_with("SIP/2.0 "), "{answer}");
    tandem.expect_log("SIP in: OPTIONS", T);

    // Back to info: the next OPTIONS is answered and not logged.
    cli_ok(&lab, &["log-level", "info"]);
    let seen = |t: &Tandem| t.log.all().iter().filter(|l| l.contains("SIP in: OPTIONS")).count();
    let before = seen(&tandem);
    assert!(options_from(PEER2, "loglevel2").starts_with("SIP/2.0 "));
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(seen(&tandem), before, "an OPTIONS was logged at debug after the filter went back to info");

    // A filter that does not parse: exit 1, the old one stays.
    let bad = cli(&lab, &["log-level", "tandem_gateway=loud"]);
    assert_eq!(bad.status.code(), Some(1), "{bad:?}");
    assert!(String::from_utf8_lossy(&bad.stderr).contains("is not a log filter"), "{bad:?}");
    assert_eq!(cli_ok(&lab, &["log-level"]).trim(), "log filter: info");
}

// ---------------------------------------------------------------------------
// Analog (examples/gateway/analog.toml on the TDM410P: port 3 an FXO line)

/// examples/gateway/analog.toml with this file's addresses; the PBX is peer 1.
fn analog_config() -> String {
    example_config(
        "analog.toml",
        &[
            ("0.0.0.0:5060", "127.0.0.50:5060"),
            ("rtp_ip = \"192.0.2.10\"", "rtp_ip = \"127.0.0.50\""),
            ("24000-24999", "27000-27999"),
            ("pbx.example.com:5060", "127.0.0.51:5070"),
            ("192.0.2.0/24", "127.0.0.51/32"),
            ("options_interval_s = 30", "options_interval_s = 0"),
        ],
    )
}

#[test]
fn a_blocked_fxo_line_ignores_ringing_and_stays_on_hook_until_unblocked() {
    let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let lab = Lab::start(&example("examples/sim/analog-tdm410p.toml"));
    let tandem = start_tandem(&lab, &analog_config());
    let mut pbx = Sipp::start(
        &lab,
        "pbx",
        SippOpts { scenario: "uas_answer.xml", ip: PEER1, port: 5070, rtp_echo_port: Some(7540), pause_ms: 500, ..SippOpts::default() },
    );
    let out = cli_ok(&lab, &["block", "1:3"]);
    assert!(out.contains("1:3 blocked"), "{out}");
    let mut c = lab.client();

    // Two rings from the CO with caller ID after the first: no INVITE, the line stays on hook.
    let cid = serde_json::json!({"number": "2125550123", "standard": "bell202", "format": "mdmf"});
    c.co_ring(3, &[(2000, 4000)], Some(2), Some(cid)).expect("co.ring");
    let mut went_off_hook = false;
    let rang = wait_until(Duration::from_secs(30), || {
        let s = c.co_get(3).expect("co.get");
        went_off_hook |= s.loop_closed || s.answered;
        s.rings >= 2 && !s.ringing
    });
    assert!(rang, "the CO's ring train did not finish: {:?}", c.co_get(3));
    assert!(!went_off_hook, "the blocked line went off hook; tandem's log:\n{}", tandem.log.all().join("\n"));
    assert!(pbx.received("INVITE ").is_empty(), "an INVITE reached the PBX from a blocked line");
    let ignored = tandem.log.count("ringing on blocked line ignored");
    assert!((1..=2).contains(&ignored), "logged {ignored} times for two ring bursts");

    // Unblocked: the next ringing is a call; the PBX answers, the line goes off hook.
    cli_ok(&lab, &["unblock", "1:3"]);
    c.co_ring(3, &[(2000, 4000)], None, None).expect("co.ring");
    assert!(
        wait_until(Duration::from_secs(15), || !pbx.received("INVITE ").is_empty()),
        "no INVITE reached the PBX after unblocking; tandem's log:\n{}",
        tandem.log.all().join("\n")
    );
    assert!(wait_until(T, || c.co_get(3).map(|s| s.answered && s.loop_closed).unwrap_or(false)), "the FXO port did not go off hook on the PBX's answer");
    std::thread::sleep(Duration::from_millis(500));
    c.co_disconnect(3).expect("co.disconnect");
    pbx.expect_success(T);
    assert!(wait_until(T, || !c.co_get(3).map(|s| s.loop_closed).unwrap_or(true)), "the port stayed off hook");
}
