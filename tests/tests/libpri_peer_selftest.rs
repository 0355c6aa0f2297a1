//! Self-test of libpri-peer (`tests/libpri-peer/`): two peers back to back,
//! network (listening) against user (connecting), for every switch type the
//! interop tests use. This checks the peer and our reading of libpri 1.6,
//! before either is pointed at Tandem's own stack.
//!
//! Needs `cc` and libpri-dev (`scripts/setup.sh`); not root.

use std::time::Duration;

use serde_json::Value;
use tandem_tests::libpri::{LibpriPeer, spawn_pair};

const T: Duration = Duration::from_secs(5);

/// The calling name the network side sees for a call from the user side.
/// libpri's default display options block display IEs from a EuroISDN CPE,
/// and EuroISDN has no name in Facility, so no name goes across there.
fn name_seen_by_network(switch: &str, sent: &str) -> String {
    match switch {
        "euroisdn-e1" | "euroisdn-t1" => String::new(),
        _ => sent.to_string(),
    }
}

/// The presentation the far end sees for "pres allowed" (0): libpri rewrites
/// an allowed presentation to "allowed, network provided" (3) on DMS-100 and
/// 4ESS (q931_party_id_fixup).
fn pres_seen(switch: &str) -> i64 {
    match switch {
        "dms100" | "4ess" => 3,
        _ => 0,
    }
}

fn int(v: &Value, key: &str) -> i64 {
    v[key].as_i64().unwrap_or_else(|| panic!("no integer {key:?} in {v}"))
}

/// The whole brief for one switch type: D-channel up, a call from the user
/// side answered by hand and cleared by the caller with cause 16, a call from
/// the network side auto-answered and cleared by the network, a RESTART from
/// the network, and a clean `quit`.
fn basic_flow(switch: &str) {
    let (mut net, mut user) = spawn_pair(switch, &[], &["--auto-answer", "100"]);

    // User -> network, answered by hand.
    user.send_line("call 5551234 2000 name Alice");
    let dialing = user.wait_for("dialing", T);
    let ucall = int(&dialing, "call");
    let ring = net.wait_for("ring", T);
    assert_eq!(ring["called"], "5551234", "{ring}");
    assert_eq!(ring["calling"], "2000", "{ring}");
    assert_eq!(ring["calling_name"], name_seen_by_network(switch, "Alice").as_str(), "{ring}");
    assert_eq!(int(&ring, "pres"), pres_seen(switch), "{ring}");
    assert_eq!(int(&ring, "channel"), 1, "{ring}");
    let ncall = int(&ring, "call");

    net.send_line("proceeding");
    assert_eq!(int(&user.wait_for("proceeding", T), "call"), ucall);
    net.send_line("alerting");
    assert_eq!(int(&user.wait_for("ringing", T), "call"), ucall);
    net.send_line(&format!("answer {ncall}"));
    let ans = user.wait_for("answer", T);
    assert_eq!(int(&ans, "call"), ucall);
    assert_eq!(int(&ans, "channel"), 1);

    // The caller clears with cause 16: the network gets DISCONNECT
    // (hangup_req), releases, and gets RELEASE COMPLETE (hangup_ack); the
    // user gets RELEASE (hangup).
    user.send_line("hangup 16");
    let req = net.wait_for("hangup_req", T);
    assert_eq!(int(&req, "cause"), 16, "{req}");
    assert_eq!(int(&req, "call"), ncall);
    let ack = net.wait_for("hangup_ack", T);
    assert_eq!(int(&ack, "call"), ncall);
    let hup = user.wait_for("hangup", T);
    assert_eq!(int(&hup, "cause"), 16, "{hup}");
    assert_eq!(int(&hup, "call"), ucall);

    // Network -> user, auto-answered by the user after 100 ms.
    net.send_line("call 2000 5551234 name Bob chan 2");
    let ncall2 = int(&net.wait_for("dialing", T), "call");
    let ring = user.wait_for("ring", T);
    assert_eq!(ring["called"], "2000", "{ring}");
    assert_eq!(ring["calling"], "5551234", "{ring}");
    assert_eq!(int(&ring, "channel"), 2, "{ring}");
    net.wait_for("proceeding", T);
    net.wait_for("ringing", T);
    user.wait_for("auto_answer", T);
    let ans = net.wait_for("answer", T);
    assert_eq!(int(&ans, "call"), ncall2);
    assert_eq!(int(&ans, "channel"), 2);

    net.send_line("hangup 16");
    let req = user.wait_for("hangup_req", T);
    assert_eq!(int(&req, "cause"), 16, "{req}");
    user.wait_for("hangup_ack", T);
    let hup = net.wait_for("hangup", T);
    assert_eq!(int(&hup, "cause"), 16, "{hup}");

    // RESTART of channel 1 from the network.
    net.send_line("restart 1");
    let rs = user.wait_for("restart", T);
    assert_eq!(int(&rs, "channel"), 1, "{rs}");
    let ra = net.wait_for("restart_ack", T);
    assert_eq!(int(&ra, "channel"), 1, "{ra}");

    // No stray errors on either side.
    for p in [&net, &user] {
        if let Some(e) = p.events().iter().find(|e| e["event"] == "error") {
            panic!("{}: error event {e}\n{}", p.name(), p.context());
        }
    }

    // quit exits 0; the other side then sees the socket close and exits 3.
    let st = user.quit(T);
    assert_eq!(st.code(), Some(0), "{}", user.context());
    let ex = net.wait_for("exit", T);
    assert_eq!(int(&ex, "status"), 3, "{ex}");
    assert_eq!(net.quit(T).code(), Some(3));
}

macro_rules! switch_tests {
    ($($name:ident => $switch:literal,)*) => {$(
        #[test]
        fn $name() {
            basic_flow($switch);
        }
    )*};
}

switch_tests! {
    basic_ni2 => "ni2",
    basic_dms100 => "dms100",
    basic_4ess => "4ess",
    basic_5ess => "5ess",
    basic_euroisdn_e1 => "euroisdn-e1",
    basic_euroisdn_t1 => "euroisdn-t1",
    basic_qsig => "qsig",
}

/// With `--display-send name`, a EuroISDN user sends its name in a Display
/// IE after all; libpri never sends the name of a restricted caller.
#[test]
fn euroisdn_user_name_with_display_send() {
    let (mut net, mut user) = spawn_pair("euroisdn-e1", &[], &["--display-send", "name"]);
    user.send_line("call 5551234 2000 name \"Alice Smith\"");
    let ring = net.wait_for("ring", T);
    assert_eq!(ring["calling_name"], "Alice Smith", "{ring}");
    assert_eq!(ring["complete"], true, "EuroISDN sends Sending Complete: {ring}");
    net.send_line("hangup 34");
    user.wait_for("hangup", T);

    user.send_line("call 5551234 2000 name Alice pres restricted");
    let ring = net.wait_for("ring", T);
    assert_eq!(ring["calling_name"], "", "{ring}");
    assert_eq!(int(&ring, "pres") & 0x60, 0x20, "{ring}");
}

/// Which calling names libpri 1.6 delivers, with its default display
/// options and Facility enabled (as chan_dahdi runs it): per switch, for a
/// call network -> user and user -> network, with the number (and name)
/// presentation allowed and restricted. `None`: no name arrives.
#[test]
fn calling_name_delivery() {
    // (switch, [n->u allowed, n->u restricted, u->n allowed, u->n restricted])
    let table: [(&str, [Option<i64>; 4]); 7] = [
        // NI2 user side sends the name in Facility, restricted or not.
        ("ni2", [Some(0), None, Some(0), Some(0x20)]),
        ("dms100", [Some(0), None, Some(0), None]),
        ("4ess", [Some(0), None, Some(0), None]),
        ("5ess", [Some(0), None, Some(0), None]),
        // A EuroISDN CPE blocks Display by default.
        ("euroisdn-e1", [Some(0), None, None, None]),
        ("euroisdn-t1", [Some(0), None, None, None]),
        // Q.SIG names go in Facility (ROSE), restricted ones too.
        ("qsig", [Some(0), Some(0x20), Some(0), Some(0x20)]),
    ];
    for (switch, expect) in table {
        let (mut net, mut user) = spawn_pair(switch, &[], &[]);
        let mut k = 0;
        for net_calls in [true, false] {
            for pres in ["allowed", "restricted"] {
                let (caller, callee) = if net_calls { (&mut net, &mut user) } else { (&mut user, &mut net) };
                caller.send_line(&format!("call 123 456 name Bob pres {pres}"));
                let ring = callee.wait_for("ring", T);
                let got = match ring["calling_name"].as_str().unwrap() {
                    "" => None,
                    "Bob" => Some(int(&ring, "calling_name_pres")),
                    other => panic!("{switch}: name {other:?} in {ring}"),
                };
                assert_eq!(got, expect[k], "{switch}, {} calls, pres {pres}: {ring}", if net_calls { "network" } else { "user" });
                callee.send_line("hangup 34");
                caller.wait_for("hangup", T);
                k += 1;
            }
        }
    }
}

/// libpri 1.6 quirk: if the caller clears before any reply to its SETUP, the
/// called side's libpri answers the DISCONNECT with RELEASE COMPLETE by
/// itself and reports no event (and would keep the call allocated). The peer
/// notices, frees the call and reports a hangup marked "synthetic".
#[test]
fn caller_clears_before_any_reply() {
    let (mut net, mut user) = spawn_pair("ni2", &[], &[]);
    user.send_line("call 5551234 2000");
    let ncall = int(&net.wait_for("ring", T), "call");
    user.send_line("hangup 16");
    let hup = net.wait_for("hangup", T);
    assert_eq!(int(&hup, "call"), ncall, "{hup}");
    assert_eq!(int(&hup, "cause"), 16, "{hup}");
    assert_eq!(hup["synthetic"], true, "{hup}");
    // The caller's clearing ends with RELEASE COMPLETE: hangup_ack.
    user.wait_for("hangup_ack", T);
    let seen: Vec<_> = net.events().iter().map(|e| e["event"].clone()).collect();
    assert!(!seen.iter().any(|e| e == "hangup_req"), "network saw {seen:?}");
    net.send_line("status");
    let st = net.wait_for("status", T);
    assert_eq!(st["calls"].as_array().unwrap().len(), 0, "{st}");
}

/// `--trace` reports every frame; the link starts with SABME (0x7f) and UA
/// (0x73) on SAPI 0, TEI 0.
#[test]
fn trace_reports_frames() {
    let (net, _user) = spawn_pair("ni2", &["--trace"], &[]);
    let frames: Vec<(String, String)> =
        net.events().iter().filter(|e| e["event"] == "frame").map(|e| (e["dir"].as_str().unwrap().into(), e["hex"].as_str().unwrap().into())).collect();
    let has = |dir: &str, ctl: &str| frames.iter().any(|(d, h)| d == dir && h.len() == 6 && h.starts_with("0") && &h[4..6] == ctl);
    assert!(has("rx", "7f") || has("tx", "7f"), "no SABME in {frames:?}");
    assert!(has("rx", "73") || has("tx", "73"), "no UA in {frames:?}");
}

/// libpri 1.6 sends nothing for a normal cause before any reply to a SETUP;
/// the peer refuses that hangup. The causes libpri sends as RELEASE COMPLETE
/// there work, and the call is gone at once (libpri reports nothing more).
#[test]
fn reject_unanswered_incoming_call() {
    let (mut net, mut user) = spawn_pair("ni2", &[], &[]);
    for cause in [1, 34, 44, 81, 82, 88] {
        user.send_line("call 5551234 2000");
        net.wait_for("ring", T);
        net.send_line("hangup 16");
        let err = net.wait_for("error", T);
        assert!(err["msg"].as_str().unwrap().contains("sends nothing"), "{err}");
        net.send_line(&format!("hangup {cause}"));
        let hup = user.wait_for("hangup", T);
        assert_eq!(int(&hup, "cause"), cause, "{hup}");
        net.send_line("status");
        let st = net.wait_for("status", T);
        assert_eq!(st["calls"].as_array().unwrap().len(), 0, "{st}");
    }
}

/// Overlap dialling: SETUP without the full number, SETUP ACKNOWLEDGE,
/// digits in INFORMATION; the auto-answering network treats 300 ms without
/// a digit as the end of the number.
#[test]
fn overlap_dialling() {
    let (mut net, mut user) = spawn_pair("euroisdn-e1", &["--overlap", "--auto-answer", "300"], &["--overlap"]);
    user.send_line("call 55 2000 overlap");
    let ring = net.wait_for("ring", T);
    assert_eq!(ring["called"], "55", "{ring}");
    assert_eq!(ring["complete"], false, "{ring}");
    user.wait_for("setup_ack", T);
    user.send_line("info 123");
    let mut digits = String::new();
    while digits.len() < 3 {
        let info = net.wait_for("info_received", T);
        digits.push_str(info["digits"].as_str().unwrap());
    }
    assert_eq!(digits, "123");
    user.wait_for("proceeding", T);
    user.wait_for("ringing", T);
    user.wait_for("answer", T);
}

/// `quit` with a call up clears it first: the far end gets DISCONNECT.
#[test]
fn quit_hangs_up_active_calls() {
    let (mut net, mut user) = spawn_pair("5ess", &["--auto-answer", "0"], &[]);
    user.send_line("call 5551234 2000");
    user.wait_for("answer", T);
    assert_eq!(user.quit(T).code(), Some(0), "{}", user.context());
    let req = net.wait_for("hangup_req", T);
    assert_eq!(int(&req, "cause"), 16, "{req}");
}

/// A bad command line gives an error event, not an exit.
#[test]
fn bad_commands_report_errors() {
    let (mut net, _user) = spawn_pair("qsig", &[], &[]);
    for cmd in ["frobnicate", "answer", "hangup", "restart", "call 123"] {
        net.send_line(cmd);
        let e = net.wait_for("error", T);
        assert!(e["msg"].is_string(), "{cmd}: {e}");
    }
    net.send_line("status");
    let st = net.wait_for("status", T);
    assert_eq!(st["dchan_up"], true, "{st}");
}

/// Usage errors exit 64 before doing anything.
#[test]
fn usage_error_exits_64() {
    let mut p = LibpriPeer::spawn(&["--role", "network", "--switch", "nonesuch", "--listen", "/nonexistent/x"]);
    assert_eq!(p.quit(T).code(), Some(64));
}
