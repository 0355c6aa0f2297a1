//! Interop of Tandem's ISDN stack (`isdn-q931`, driven through `q931-peer`)
//! with libpri 1.6 (`tests/libpri-peer`), for every switch type, with
//! Tandem as the user side against libpri as the network, and Tandem as the
//! network side against libpri as the user.
//!
//! The two peers never talk directly: both connect to a [`Relay`], which
//! passes the LAPD frames on and can hold them (to make both SETUPs cross
//! on the wire for glare) or drop them (a D-channel outage).
//!
//! Each switch type is one `#[test]`, which runs three parts for each of
//! the two orientations, all six in parallel threads, each with its own
//! pair of peers:
//!
//! * `calls`: calls both ways with numbers, presentation and names, answer
//!   and clearing by either side after answer, rejection with causes 1, 17
//!   and 34 both ways, clearing by the caller before answer (after ALERTING
//!   and before any reply), RESTART both ways (one channel, the whole
//!   interface, a busy channel), B-channel glare, and a few more messages
//!   (in-band progress, keypad, STATUS ENQUIRY, RELEASE first, a data call).
//! * `overlap`: overlap dialling both ways where the switch type has it
//!   (EuroISDN, QSIG); for the North American types, the documented
//!   behaviour (Tandem refuses to dial or acknowledge in overlap, treats
//!   every SETUP as complete and still passes later digits up), and overlap
//!   dialling with `q931-peer --overlap`.
//! * `outage`: the D-channel fails during an active call: briefly (no link
//!   failure: Q.921 recovers), long enough for both data links to fail but
//!   shorter than T309 (the call survives), and longer than T309 (both sides
//!   clear the call; the channel is usable again afterwards).
//!
//! Every part writes a pcap (`q931-peer --pcap`) to
//! `<target>/interop-pcap/<switch>-tandem-<side>-<part>.pcap`, which tshark
//! must decode without errors, and libpri's messages next to it
//! (`.libpri.log`).
//!
//! libpri's behaviour that the expectations account for is documented in
//! `tests/libpri-peer/README.md` ("libpri 1.6 quirks found").
//!
//! Needs `cc`, libpri-dev and tshark (`scripts/setup.sh`); not root.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::Value;
use tandem_tests::libpri::{LibpriPeer, cargo_target_dir};
use tandem_tests::q931peer::{Q931Peer, Relay, RelayFrame, RelayMode};

/// Timeout for one expected event.
const T: Duration = Duration::from_secs(5);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Side {
    User,
    Network,
}

impl Side {
    fn name(self) -> &'static str {
        match self {
            Side::User => "user",
            Side::Network => "network",
        }
    }
    fn other(self) -> Side {
        match self {
            Side::User => Side::Network,
            Side::Network => Side::User,
        }
    }
}

// ---------------------------------------------------------------------------
// What to expect of each switch type

fn is_euro(switch: &str) -> bool {
    switch.starts_with("euroisdn")
}

/// Switch types whose Tandem variant has overlap dialling.
fn has_overlap(switch: &str) -> bool {
    is_euro(switch) || switch == "qsig"
}

/// Switch types on which Tandem sends names in a Facility IE (so restricted
/// names are sent too, marked restricted); the others use Display, which
/// carries only allowed names.
fn tandem_names_in_facility(switch: &str) -> bool {
    matches!(switch, "ni2" | "4ess" | "5ess" | "qsig")
}

/// Calling-number presentation octet (presentation << 5 | screening) that
/// arrives for libpri's "pres allowed" (0): libpri 1.6 rewrites it to
/// "allowed, network provided" on DMS-100 and 4ESS (quirk 6).
fn libpri_allowed_pres(switch: &str) -> i64 {
    match switch {
        "dms100" | "4ess" => 3,
        _ => 0,
    }
}

/// Whether a restricted name sent by libpri on `libpri_side` arrives (libpri
/// sends it in Facility, marked restricted, for NI-2 from the user side and
/// for Q.SIG; quirk 7).
fn libpri_sends_restricted_name(switch: &str, libpri_side: Side) -> bool {
    switch == "qsig" || (switch == "ni2" && libpri_side == Side::User)
}

/// Whether libpri's SETUP carries Sending Complete (without
/// `--overlap`: only EuroISDN; quirk 8), i.e. whether Tandem sees a
/// complete number: Tandem's North American variants have no overlap
/// dialling and treat every SETUP as complete.
fn tandem_sees_complete(switch: &str, libpri_overlap: bool) -> bool {
    if !has_overlap(switch) {
        return true;
    }
    is_euro(switch) && !libpri_overlap
}

// ---------------------------------------------------------------------------
// Event helpers

fn int(v: &Value, key: &str) -> i64 {
    v[key].as_i64().unwrap_or_else(|| panic!("no integer {key:?} in {v}"))
}

fn call_id(v: &Value) -> i64 {
    int(v, "call")
}

/// Waits for `event` about call `call` (other events are skipped; they stay
/// in the history).
fn wait_call(p: &mut LibpriPeer, event: &str, call: i64) -> Value {
    let deadline = Instant::now() + T;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match p.next_event(left) {
            Some(v) if v["event"] == event && v["call"].as_i64() == Some(call) => return v,
            Some(_) if !left.is_zero() => {}
            _ => panic!("{}: no {event:?} for call {call} within {T:?}\n{}", p.name(), p.context()),
        }
    }
}

/// Waits for an `error` event whose message contains `what`.
fn wait_error(p: &mut LibpriPeer, what: &str) -> Value {
    let e = p.wait_for("error", T);
    assert!(e["msg"].as_str().unwrap_or_default().contains(what), "{}: error {e} does not mention {what:?}\n{}", p.name(), p.context());
    e
}

/// The events seen so far about one call, by name.
fn call_events(p: &LibpriPeer, call: i64) -> Vec<String> {
    p.events().iter().filter(|e| e["call"].as_i64() == Some(call)).map(|e| e["event"].as_str().unwrap_or_default().to_string()).collect()
}

/// Waits until `pred` holds for the peer's stderr (libpri's messages).
fn wait_stderr(p: &mut LibpriPeer, timeout: Duration, pred: impl Fn(&str) -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        if pred(&p.stderr_text()) {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        // Keep reading events meanwhile (they stay in the history).
        p.next_event(Duration::from_millis(20));
    }
}

// ---------------------------------------------------------------------------
// The rig: libpri-peer and q931-peer through a relay

struct Rig {
    tag: String,
    switch: &'static str,
    /// Tandem's side.
    side: Side,
    relay: Relay,
    /// libpri-peer.
    l: LibpriPeer,
    /// q931-peer (Tandem).
    t: Q931Peer,
    pcap: PathBuf,
    /// Substrings of `error` events the scenario caused on purpose.
    expected_errors: Vec<&'static str>,
}

fn pcap_dir() -> PathBuf {
    let d = cargo_target_dir().join("interop-pcap");
    std::fs::create_dir_all(&d).unwrap_or_else(|e| panic!("create {}: {e}", d.display()));
    d
}

impl Rig {
    fn start(switch: &'static str, side: Side, part: &str, libpri_extra: &[&str], tandem_extra: &[&str]) -> Rig {
        let tag = format!("{switch}-tandem-{}-{part}", side.name());
        let relay = Relay::start(&tag);
        let pcap = pcap_dir().join(format!("{tag}.pcap"));
        let _ = std::fs::remove_file(&pcap);
        let path_a = relay.path_a().to_str().expect("UTF-8 path").to_string();
        let path_b = relay.path_b().to_str().expect("UTF-8 path").to_string();
        let mut largs = vec!["--role", side.other().name(), "--switch", switch, "--connect", &path_a];
        // libpri's EuroISDN user side sends no name unless told to (quirk 7).
        if is_euro(switch) && side == Side::Network {
            largs.extend(["--display-send", "name"]);
        }
        largs.extend_from_slice(libpri_extra);
        let pcap_s = pcap.to_str().expect("UTF-8 path").to_string();
        let mut targs = vec!["--role", side.name(), "--switch", switch, "--connect", &path_b, "--pcap", &pcap_s];
        targs.extend_from_slice(tandem_extra);
        let mut l = LibpriPeer::spawn_named(&format!("libpri/{tag}"), &largs);
        let mut t = Q931Peer::spawn_named(&format!("tandem/{tag}"), &targs);
        l.wait_for("dchan_up", T);
        t.wait_for("link_up", T);
        Rig { tag, switch, side, relay, l, t, pcap, expected_errors: Vec::new() }
    }

    /// Tandem places a call; returns (Tandem's call, libpri's call, ring).
    fn t_calls(&mut self, args: &str) -> (i64, i64, Value) {
        self.t.send_line(&format!("call {args}"));
        let d = self.t.wait_for("dialing", T);
        let ring = self.l.wait_for("ring", T);
        (call_id(&d), call_id(&ring), ring)
    }

    /// libpri places a call; returns (libpri's call, Tandem's call,
    /// incoming).
    fn l_calls(&mut self, args: &str) -> (i64, i64, Value) {
        self.l.send_line(&format!("call {args}"));
        let d = self.l.wait_for("dialing", T);
        let inc = self.t.wait_for("incoming", T);
        (call_id(&d), call_id(&inc), inc)
    }

    /// Asserts that neither side has a call left.
    fn assert_idle(&mut self, when: &str) {
        self.t.send_line("status");
        let st = self.t.wait_for("status", T);
        assert_eq!(st["calls"].as_array().map(Vec::len), Some(0), "{}: Tandem has calls left {when}: {st}\n{}", self.tag, self.t.context());
        assert_eq!(st["link_up"], true, "{}: {st}", self.tag);
        self.l.send_line("status");
        let st = self.l.wait_for("status", T);
        assert_eq!(st["calls"].as_array().map(Vec::len), Some(0), "{}: libpri has calls left {when}: {st}\n{}", self.tag, self.l.context());
    }

    /// Quits both peers, checks their exit and errors, and checks the
    /// pcap with tshark. Returns the pcap's path.
    fn finish(mut self, must_decode: &[&str]) -> PathBuf {
        self.assert_idle("at the end");
        // libpri's own messages, next to the pcap.
        let _ = std::fs::write(self.pcap.with_extension("libpri.log"), self.l.stderr_text());
        let st = self.t.quit(T);
        assert_eq!(st.code(), Some(0), "{}: q931-peer exit\n{}", self.tag, self.t.context());
        // libpri sees the socket close (the relay passes it on).
        let ex = self.l.wait_for("exit", T);
        assert_eq!(int(&ex, "status"), 3, "{}: {ex}", self.tag);
        for (who, p) in [("q931-peer", &*self.t), ("libpri-peer", &self.l)] {
            for e in p.events().iter().filter(|e| e["event"] == "error") {
                let msg = e["msg"].as_str().unwrap_or_default();
                let ok = msg.contains("socket closed by the other end") || self.expected_errors.iter().any(|x| msg.contains(x));
                assert!(ok, "{}: unexpected error from {who}: {e}\n{}", self.tag, p.context());
            }
        }
        check_pcap(&self.pcap, self.switch, must_decode);
        drop(self.relay);
        self.pcap
    }
}

/// Runs `tshark -r FILE -V` and checks that it decodes LAPD and Q.931,
/// finds no malformed packet and no expert error, and shows every message
/// type in `messages`.
///
/// One frame libpri sends is known not to decode: on DMS-100, libpri's user
/// side puts Nortel's RLT "transfer ability" invoke (rltOperationInd) in its
/// SETUP, a Facility IE that Wireshark reports as a malformed Q.932 packet.
/// That one is allowed in frames Tandem received; every frame Tandem sent
/// must decode cleanly.
fn check_pcap(pcap: &Path, switch: &str, messages: &[&str]) {
    let out = Command::new("tshark").arg("-r").arg(pcap).arg("-V").output().unwrap_or_else(|e| panic!("cannot run tshark ({e}): run scripts/setup.sh"));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "tshark -r {} failed: {}\n{}", pcap.display(), out.status, String::from_utf8_lossy(&out.stderr));
    let is_error = |l: &str| l.contains("Malformed") || l.contains("Expert Info (Error");
    for frame in text.split("\nFrame ") {
        if !frame.lines().any(is_error) {
            continue;
        }
        let received = frame.contains("Point-to-Point Direction: Received");
        let dms100_rlt = switch == "dms100"
            && frame.contains("Message type: SETUP (0x05)")
            && frame.contains(
                "Type: Facility (0x1c)\n        Length: 10\n        \
                 ...1 0001 = Protocol profile: Remote Operations Protocol (0x11)",
            );
        assert!(
            received && dms100_rlt,
            "tshark finds errors in a frame {} in {}:\nFrame {frame}",
            if received { "Tandem received" } else { "Tandem sent" },
            pcap.display()
        );
    }
    let frames = text.matches("\nFrame ").count() + usize::from(text.starts_with("Frame "));
    let lapd = text.matches("Link Access Procedure, Channel D (LAPD)").count();
    assert!(frames > 0, "{}: no frames", pcap.display());
    assert_eq!(lapd, frames, "{}: not every frame decodes as LAPD", pcap.display());
    assert!(text.contains("\nQ.931\n"), "{}: no Q.931 decoded", pcap.display());
    for m in messages {
        assert!(text.contains(&format!("Message type: {m} (")), "{}: tshark shows no {m} message", pcap.display());
    }
}

/// Whether `frames` hold an I frame from libpri (`from_libpri`, the relay's
/// side A) or from Tandem carrying a Q.931 message of type `msg_type`
/// (PD 0x08, 2-octet call reference: the type is the frame's ninth octet).
fn has_message(frames: &[RelayFrame], from_libpri: bool, msg_type: u8) -> bool {
    frames.iter().any(|f| f.from_a == from_libpri && !f.dropped && f.bytes.len() > 8 && f.bytes[2] & 1 == 0 && f.bytes[4] == 0x08 && f.bytes[8] == msg_type)
}

// ---------------------------------------------------------------------------
// Part 1: calls

/// Calls both ways: numbers, presentation, names; answer; clearing after
/// answer by the caller and by the callee.
fn basic_calls(r: &mut Rig) {
    let sw = r.switch;
    let tag = r.tag.clone();

    // Tandem -> libpri, presentation allowed, answered, cleared by Tandem
    // (the caller).
    let (tc, lc, ring) = r.t_calls("5551234 2000 name Alice");
    let ctx = format!("{tag}: {ring}");
    assert_eq!(ring["called"], "5551234", "{ctx}");
    assert_eq!(ring["calling"], "2000", "{ctx}");
    assert_eq!(int(&ring, "pres"), 0, "{ctx}");
    assert_eq!(ring["calling_name"], "Alice", "{ctx}");
    assert_eq!(int(&ring, "calling_name_pres"), 0, "{ctx}");
    // Tandem sends Sending Complete where its variant uses the IE.
    assert_eq!(ring["complete"], has_overlap(sw), "{ctx}");
    // The user side offers its hunted channel as preferred, except on 4ESS
    // (exclusive only); the network side always as exclusive.
    let exclusive = r.side == Side::Network || sw == "4ess";
    assert_eq!(ring["exclusive"], exclusive, "{ctx}");
    // The user side hunts upwards, the network side downwards.
    let top = if sw == "euroisdn-e1" || sw == "qsig" { 31 } else { 23 };
    let expected_ch = if r.side == Side::User { 1 } else { top };
    assert_eq!(int(&ring, "channel"), expected_ch, "{ctx}");
    r.l.send_line(&format!("proceeding {lc}"));
    let p = wait_call(&mut r.t, "proceeding", tc);
    assert_eq!(int(&p, "channel"), expected_ch, "{tag}: {p}");
    r.l.send_line(&format!("alerting {lc}"));
    wait_call(&mut r.t, "alerting", tc);
    r.l.send_line(&format!("answer {lc}"));
    let c = wait_call(&mut r.t, "connected", tc);
    assert_eq!(int(&c, "channel"), expected_ch, "{tag}: {c}");
    r.t.send_line(&format!("hangup 16 {tc}"));
    let req = wait_call(&mut r.l, "hangup_req", lc);
    assert_eq!(int(&req, "cause"), 16, "{tag}: {req}");
    wait_call(&mut r.l, "hangup_ack", lc);
    let rel = wait_call(&mut r.t, "released", tc);
    assert_eq!(int(&rel, "cause"), 16, "{tag}: {rel}");

    // Tandem -> libpri, presentation restricted, answered, cleared by
    // libpri (the callee).
    let (tc, lc, ring) = r.t_calls("5551234 2000 name Alice pres restricted");
    let ctx = format!("{tag}: {ring}");
    assert_eq!(ring["calling"], "2000", "{ctx}");
    assert_eq!(int(&ring, "pres"), 0x20, "{ctx}");
    if tandem_names_in_facility(sw) {
        assert_eq!(ring["calling_name"], "Alice", "{ctx}");
        assert_eq!(int(&ring, "calling_name_pres"), 0x20, "{ctx}");
    } else {
        assert_eq!(ring["calling_name"], "", "{ctx}");
        assert_eq!(int(&ring, "calling_name_pres"), -1, "{ctx}");
    }
    r.l.send_line(&format!("answer {lc}"));
    wait_call(&mut r.t, "connected", tc);
    r.l.send_line(&format!("hangup 16 {lc}"));
    let d = wait_call(&mut r.t, "disconnecting", tc);
    assert_eq!(int(&d, "cause"), 16, "{tag}: {d}");
    assert_eq!(d["initiator"], "peer", "{tag}: {d}");
    let rel = wait_call(&mut r.t, "released", tc);
    assert_eq!(int(&rel, "cause"), 16, "{tag}: {rel}");
    let h = wait_call(&mut r.l, "hangup", lc);
    assert_eq!(int(&h, "cause"), 16, "{tag}: {h}");

    // libpri -> Tandem, presentation allowed, answered, cleared by libpri
    // (the caller).
    let (lc, tc, inc) = r.l_calls("4441234 5551234 name Bob chan 2");
    let ctx = format!("{tag}: {inc}");
    assert_eq!(inc["called"], "4441234", "{ctx}");
    assert_eq!(inc["calling"], "5551234", "{ctx}");
    assert_eq!(int(&inc, "channel"), 2, "{ctx}");
    assert_eq!(int(&inc, "pres"), libpri_allowed_pres(sw), "{ctx}");
    assert_eq!(inc["presentation"], "allowed", "{ctx}");
    assert_eq!(inc["name"], "Bob", "{ctx}");
    assert_eq!(inc["name_presentation"], "allowed", "{ctx}");
    assert_eq!(inc["complete"], tandem_sees_complete(sw, false), "{ctx}");
    assert_eq!(inc["bearer"], "speech", "{ctx}");
    let law = if sw == "euroisdn-e1" || sw == "qsig" { "alaw" } else { "ulaw" };
    assert_eq!(inc["law"], law, "{ctx}");
    r.t.send_line(&format!("proceeding {tc}"));
    let p = wait_call(&mut r.l, "proceeding", lc);
    assert_eq!(int(&p, "channel"), 2, "{tag}: {p}");
    r.t.send_line(&format!("alerting {tc}"));
    wait_call(&mut r.l, "ringing", lc);
    r.t.send_line(&format!("answer {tc}"));
    let a = wait_call(&mut r.l, "answer", lc);
    assert_eq!(int(&a, "channel"), 2, "{tag}: {a}");
    if r.side == Side::User {
        // CONNECT ACKNOWLEDGE from the network.
        wait_call(&mut r.t, "connect_ack", tc);
    }
    r.l.send_line(&format!("hangup 16 {lc}"));
    let d = wait_call(&mut r.t, "disconnecting", tc);
    assert_eq!(int(&d, "cause"), 16, "{tag}: {d}");
    let rel = wait_call(&mut r.t, "released", tc);
    assert_eq!(int(&rel, "cause"), 16, "{tag}: {rel}");
    let h = wait_call(&mut r.l, "hangup", lc);
    assert_eq!(int(&h, "cause"), 16, "{tag}: {h}");

    // libpri -> Tandem, presentation restricted, answered, cleared by
    // Tandem (the callee).
    let (lc, tc, inc) = r.l_calls("4441234 5551234 name Bob pres restricted chan 2");
    let ctx = format!("{tag}: {inc}");
    assert_eq!(inc["calling"], "5551234", "{ctx}");
    assert_eq!(inc["presentation"], "restricted", "{ctx}");
    assert_eq!(int(&inc, "pres") >> 5, 1, "{ctx}");
    if libpri_sends_restricted_name(sw, r.side.other()) {
        assert_eq!(inc["name"], "Bob", "{ctx}");
        assert_eq!(inc["name_presentation"], "restricted", "{ctx}");
    } else {
        assert_eq!(inc["name"], Value::Null, "{ctx}");
    }
    r.t.send_line(&format!("answer {tc}"));
    wait_call(&mut r.l, "answer", lc);
    r.t.send_line(&format!("hangup 16 {tc}"));
    let req = wait_call(&mut r.l, "hangup_req", lc);
    assert_eq!(int(&req, "cause"), 16, "{tag}: {req}");
    wait_call(&mut r.l, "hangup_ack", lc);
    let rel = wait_call(&mut r.t, "released", tc);
    assert_eq!(int(&rel, "cause"), 16, "{tag}: {rel}");

    // A NI-2 name may also come in a FACILITY after the SETUP; any such
    // late name is Bob's.
    for e in r.t.events().iter().filter(|e| e["event"] == "calling_name") {
        assert_eq!(e["name"], "Bob", "{tag}: {e}");
    }
    r.assert_idle("after the basic calls");
}

/// Rejection with causes 1, 17 and 34 both ways.
fn rejections(r: &mut Rig) {
    let tag = r.tag.clone();
    for cause in [1, 17, 34] {
        // libpri rejects Tandem's call. libpri 1.6 sends nothing for cause
        // 17 before any reply (quirk 4), so it alerts first and then sends
        // DISCONNECT; causes 1 and 34 go as RELEASE COMPLETE at once.
        let (tc, lc, _) = r.t_calls("5551234 2000");
        if cause == 17 {
            r.l.send_line(&format!("alerting {lc}"));
            wait_call(&mut r.t, "alerting", tc);
            r.l.send_line(&format!("hangup {cause} {lc}"));
            let d = wait_call(&mut r.t, "disconnecting", tc);
            assert_eq!(int(&d, "cause"), cause, "{tag}: {d}");
            let h = wait_call(&mut r.l, "hangup", lc);
            assert_eq!(int(&h, "cause"), cause, "{tag}: {h}");
        } else {
            r.l.send_line(&format!("hangup {cause} {lc}"));
        }
        let rel = wait_call(&mut r.t, "released", tc);
        assert_eq!(int(&rel, "cause"), cause, "{tag}: {rel}");
        if cause != 17 {
            let evs = call_events(&r.t, tc);
            assert!(!evs.iter().any(|e| e == "disconnecting"), "{tag}: RELEASE COMPLETE gives only `released`: {evs:?}");
        }

        // Tandem rejects libpri's call before any reply: RELEASE COMPLETE.
        let (lc, tc, _) = r.l_calls("4441234 5551234 chan 2");
        r.t.send_line(&format!("hangup {cause} {tc}"));
        let rel = wait_call(&mut r.t, "released", tc);
        assert_eq!(int(&rel, "cause"), cause, "{tag}: {rel}");
        let h = wait_call(&mut r.l, "hangup", lc);
        assert_eq!(int(&h, "cause"), cause, "{tag}: {h}");

        // Tandem rejects libpri's call after ALERTING: DISCONNECT.
        let (lc, tc, _) = r.l_calls("4441234 5551234 chan 2");
        r.t.send_line(&format!("alerting {tc}"));
        wait_call(&mut r.l, "ringing", lc);
        r.t.send_line(&format!("hangup {cause} {tc}"));
        let req = wait_call(&mut r.l, "hangup_req", lc);
        assert_eq!(int(&req, "cause"), cause, "{tag}: {req}");
        wait_call(&mut r.l, "hangup_ack", lc);
        let rel = wait_call(&mut r.t, "released", tc);
        assert_eq!(int(&rel, "cause"), cause, "{tag}: {rel}");
    }
    r.assert_idle("after the rejections");
}

/// The caller clears before answer: after ALERTING, and before any reply.
fn early_clearing(r: &mut Rig) {
    let tag = r.tag.clone();

    // Tandem clears its call while it rings.
    let (tc, lc, _) = r.t_calls("5551234 2000");
    r.l.send_line(&format!("alerting {lc}"));
    wait_call(&mut r.t, "alerting", tc);
    r.t.send_line(&format!("hangup 16 {tc}"));
    let req = wait_call(&mut r.l, "hangup_req", lc);
    assert_eq!(int(&req, "cause"), 16, "{tag}: {req}");
    wait_call(&mut r.l, "hangup_ack", lc);
    let rel = wait_call(&mut r.t, "released", tc);
    assert_eq!(int(&rel, "cause"), 16, "{tag}: {rel}");

    // libpri clears its call while it rings.
    let (lc, tc, _) = r.l_calls("4441234 5551234 chan 2");
    r.t.send_line(&format!("alerting {tc}"));
    wait_call(&mut r.l, "ringing", lc);
    r.l.send_line(&format!("hangup 16 {lc}"));
    let d = wait_call(&mut r.t, "disconnecting", tc);
    assert_eq!(int(&d, "cause"), 16, "{tag}: {d}");
    wait_call(&mut r.t, "released", tc);
    let h = wait_call(&mut r.l, "hangup", lc);
    assert_eq!(int(&h, "cause"), 16, "{tag}: {h}");

    // Tandem clears before any reply to its SETUP.
    let (tc, lc, _) = r.t_calls("5551234 2000");
    r.t.send_line(&format!("hangup 16 {tc}"));
    match r.side {
        Side::User => {
            // DISCONNECT; libpri clears by itself with RELEASE COMPLETE and
            // reports nothing (quirk 3; the peer's "synthetic" hangup).
            let h = wait_call(&mut r.l, "hangup", lc);
            assert_eq!(int(&h, "cause"), 16, "{tag}: {h}");
            assert_eq!(h["synthetic"], true, "{tag}: {h}");
            let rel = wait_call(&mut r.t, "released", tc);
            assert_eq!(int(&rel, "cause"), 16, "{tag}: {rel}");
        }
        Side::Network => {
            // Tandem's network side does not clear its SETUP before the
            // user has answered it: the call goes to N22 (call abort),
            // waits for the first answer and sends RELEASE then.
            r.t.send_line("status");
            let st = r.t.wait_for("status", T);
            assert_eq!(st["calls"][0]["state"], 22, "{tag}: {st}");
            r.l.send_line(&format!("proceeding {lc}"));
            let h = wait_call(&mut r.l, "hangup", lc);
            assert_eq!(int(&h, "cause"), 16, "{tag}: {h}");
            let rel = wait_call(&mut r.t, "released", tc);
            assert_eq!(int(&rel, "cause"), 16, "{tag}: {rel}");
        }
    }

    // libpri clears before any reply to its SETUP: DISCONNECT.
    let (lc, tc, _) = r.l_calls("4441234 5551234 chan 2");
    r.l.send_line(&format!("hangup 16 {lc}"));
    let d = wait_call(&mut r.t, "disconnecting", tc);
    assert_eq!(int(&d, "cause"), 16, "{tag}: {d}");
    wait_call(&mut r.t, "released", tc);
    let h = wait_call(&mut r.l, "hangup", lc);
    assert_eq!(int(&h, "cause"), 16, "{tag}: {h}");

    r.assert_idle("after clearing before answer");
}

/// RESTART both ways. libpri 1.6 can only restart one channel (quirk 9).
fn restarts(r: &mut Rig) {
    let tag = r.tag.clone();
    let all = if r.switch == "euroisdn-e1" || r.switch == "qsig" { 30 } else { 23 };

    // libpri restarts an idle channel.
    r.l.send_line("restart 1");
    let rs = r.t.wait_for("restart", T);
    assert_eq!(rs["channels"], serde_json::json!([1]), "{tag}: {rs}");
    assert_eq!(rs["initiator"], "peer", "{tag}: {rs}");
    let ack = r.l.wait_for("restart_ack", T);
    assert_eq!(int(&ack, "channel"), 1, "{tag}: {ack}");

    // Tandem restarts one channel.
    r.t.send_line("restart 3");
    let rs = r.l.wait_for("restart", T);
    assert_eq!(int(&rs, "channel"), 3, "{tag}: {rs}");
    let ack = r.t.wait_for("restart_ack", T);
    assert_eq!(ack["channels"], serde_json::json!([3]), "{tag}: {ack}");

    // Tandem restarts the whole interface (class 6).
    r.t.send_line("restart");
    let rs = r.l.wait_for("restart", T);
    assert_eq!(int(&rs, "channel"), -1, "{tag}: {rs}");
    let ack = r.t.wait_for("restart_ack", T);
    assert_eq!(ack["channels"].as_array().map(Vec::len), Some(all), "{tag}: {ack}");

    // Tandem restarts the channel of an active call: Tandem clears the
    // call at once (cause 41). libpri reports the RESTART and leaves its
    // call to the application (chan_dahdi hangs it up); when libpri then
    // clears it, Tandem no longer knows the call reference and answers the
    // DISCONNECT with RELEASE COMPLETE, cause 81 (Q.931 §5.8.3.2).
    let (lc, tc, _) = r.l_calls("4441234 5551234 chan 5");
    r.t.send_line(&format!("answer {tc}"));
    wait_call(&mut r.l, "answer", lc);
    // (The caller's CONNECT ACKNOWLEDGE first: after the restart it would
    // be for an unknown call reference.)
    wait_call(&mut r.t, "connect_ack", tc);
    r.t.send_line("restart 5");
    let rel = wait_call(&mut r.t, "released", tc);
    assert_eq!(int(&rel, "cause"), 41, "{tag}: {rel}");
    let ack = r.t.wait_for("restart_ack", T);
    assert_eq!(ack["channels"], serde_json::json!([5]), "{tag}: {ack}");
    let rs = r.l.wait_for("restart", T);
    assert_eq!(int(&rs, "channel"), 5, "{tag}: {rs}");
    r.l.send_line(&format!("hangup 16 {lc}"));
    let h = wait_call(&mut r.l, "hangup_ack", lc);
    assert_eq!(int(&h, "cause"), 81, "{tag}: {h}");

    // libpri restarts the channel of an active call: Tandem clears the
    // call (cause 41) and acknowledges.
    let (tc, lc, ring) = r.t_calls("5551234 2000");
    let ch = int(&ring, "channel");
    r.l.send_line(&format!("answer {lc}"));
    wait_call(&mut r.t, "connected", tc);
    r.l.send_line(&format!("restart {ch}"));
    let rel = wait_call(&mut r.t, "released", tc);
    assert_eq!(int(&rel, "cause"), 41, "{tag}: {rel}");
    let rs = r.t.wait_for("restart", T);
    assert_eq!(rs["channels"], serde_json::json!([ch]), "{tag}: {rs}");
    let ack = r.l.wait_for("restart_ack", T);
    assert_eq!(int(&ack, "channel"), ch, "{tag}: {ack}");
    r.l.send_line(&format!("hangup 16 {lc}"));
    let h = wait_call(&mut r.l, "hangup_ack", lc);
    assert_eq!(int(&h, "cause"), 81, "{tag}: {h}");

    // The restarted channels carry calls again.
    let (tc, lc, _) = r.t_calls(&format!("5551234 2000 chan {ch}"));
    r.l.send_line(&format!("answer {lc}"));
    wait_call(&mut r.t, "connected", tc);
    r.t.send_line(&format!("hangup 16 {tc}"));
    wait_call(&mut r.t, "released", tc);
    wait_call(&mut r.l, "hangup_ack", lc);
    let (lc, tc, _) = r.l_calls("4441234 5551234 chan 5");
    r.t.send_line(&format!("answer {tc}"));
    wait_call(&mut r.l, "answer", lc);
    r.l.send_line(&format!("hangup 16 {lc}"));
    wait_call(&mut r.t, "released", tc);
    wait_call(&mut r.l, "hangup", lc);

    r.assert_idle("after the restarts");
}

/// B-channel glare: both sides call on channel 1, exclusive, at the same
/// time (the relay holds both SETUPs until both are sent, so they cross).
/// Q.931 §5.2.3.1 / ECMA-143: the network (QSIG: side A) keeps its call;
/// the user's call gets cause 44 (the network rejects it; on the user
/// side Tandem gives the channel to the network's call). Both calls end
/// cleanly and no channel is left stuck.
fn glare(r: &mut Rig) {
    let tag = r.tag.clone();
    let seen = r.relay.frames().len();
    let incoming = |p: &LibpriPeer| p.events().iter().filter(|e| e["event"] == "incoming").count();
    let incoming_before = incoming(&r.t);
    r.relay.set_mode(RelayMode::Hold);
    r.t.send_line("call 5551234 2000 chan 1");
    let tc_out = call_id(&r.t.wait_for("dialing", T));
    r.l.send_line("call 4441234 5551234 chan 1");
    let lc_out = call_id(&r.l.wait_for("dialing", T));
    // Both SETUPs are in the relay: let them cross.
    let both = r.relay.wait_frames(T, |fs| has_message(&fs[seen..], true, 0x05) && has_message(&fs[seen..], false, 0x05));
    assert!(both, "{tag}: the two SETUPs did not reach the relay");
    r.relay.set_mode(RelayMode::Forward);

    let lc_in = call_id(&r.l.wait_for("ring", T));
    match r.side {
        Side::Network => {
            // Tandem keeps its call and rejects libpri's with RELEASE
            // COMPLETE, cause 44, without reporting it.
            let h = wait_call(&mut r.l, "hangup", lc_out);
            assert_eq!(int(&h, "cause"), 44, "{tag}: {h}");
            assert_eq!(incoming(&r.t), incoming_before, "{tag}: {}", r.t.context());
            // libpri's application (the user) accepts the network's call.
            r.l.send_line(&format!("answer {lc_in}"));
            let c = wait_call(&mut r.t, "connected", tc_out);
            assert_eq!(int(&c, "channel"), 1, "{tag}: {c}");
            r.t.send_line(&format!("hangup 16 {tc_out}"));
            wait_call(&mut r.t, "released", tc_out);
            wait_call(&mut r.l, "hangup_ack", lc_in);
        }
        Side::User => {
            // Tandem gives channel 1 to the network's call; the network's
            // application (libpri does not track channels) finds channel 1
            // busy and rejects Tandem's call with cause 44.
            let inc = r.t.wait_for("incoming", T);
            let tc_in = call_id(&inc);
            assert_eq!(int(&inc, "channel"), 1, "{tag}: {inc}");
            r.l.send_line(&format!("hangup 44 {lc_in}"));
            let rel = wait_call(&mut r.t, "released", tc_out);
            assert_eq!(int(&rel, "cause"), 44, "{tag}: {rel}");
            r.t.send_line(&format!("answer {tc_in}"));
            let a = wait_call(&mut r.l, "answer", lc_out);
            assert_eq!(int(&a, "channel"), 1, "{tag}: {a}");
            r.l.send_line(&format!("hangup 16 {lc_out}"));
            wait_call(&mut r.t, "released", tc_in);
            wait_call(&mut r.l, "hangup", lc_out);
        }
    }
    r.assert_idle("after glare");
    // Channel 1 is free on both sides: a call each way on it.
    let (tc, lc, _) = r.t_calls("5551234 2000 chan 1");
    r.l.send_line(&format!("answer {lc}"));
    wait_call(&mut r.t, "connected", tc);
    r.l.send_line(&format!("hangup 16 {lc}"));
    wait_call(&mut r.t, "released", tc);
    wait_call(&mut r.l, "hangup", lc);
    let (lc, tc, inc) = r.l_calls("4441234 5551234 chan 1");
    assert_eq!(int(&inc, "channel"), 1, "{tag}: {inc}");
    r.t.send_line(&format!("hangup 17 {tc}"));
    wait_call(&mut r.t, "released", tc);
    wait_call(&mut r.l, "hangup", lc);
    r.assert_idle("after calls on the glare channel");
}

/// Less common messages: RESTART of all interfaces, in-band progress,
/// keypad digits both ways, STATUS ENQUIRY, clearing with RELEASE, and a
/// data call.
fn extras(r: &mut Rig) {
    let tag = r.tag.clone();
    let sw = r.switch;

    // All interfaces (class 7 where the variant uses it, else class 6 for
    // the one interface): libpri reports the whole interface.
    r.t.send_line("restart all");
    let rs = r.l.wait_for("restart", T);
    assert_eq!(int(&rs, "channel"), -1, "{tag}: {rs}");
    r.t.wait_for("restart_ack", T);

    let (lc, tc, _) = r.l_calls("4441234 5551234 chan 2");
    r.t.send_line(&format!("proceeding {tc} inband"));
    let p = wait_call(&mut r.l, "proceeding", lc);
    // libpri's progress mask bit 3: in-band information available. DMS-100
    // and 4ESS take no progress indicator in CALL PROCEEDING: Tandem sends
    // a PROGRESS after it.
    if matches!(sw, "dms100" | "4ess") {
        assert_eq!(int(&p, "progressmask"), 0, "{tag}: {p}");
        let p = wait_call(&mut r.l, "progress", lc);
        assert_eq!(int(&p, "progressmask"), 8, "{tag}: {p}");
    } else {
        assert_eq!(int(&p, "progressmask"), 8, "{tag}: {p}");
    }
    r.t.send_line(&format!("progress {tc}"));
    let p = wait_call(&mut r.l, "progress", lc);
    assert_eq!(int(&p, "progressmask"), 8, "{tag}: {p}");
    r.t.send_line(&format!("alerting {tc} inband"));
    let a = wait_call(&mut r.l, "ringing", lc);
    assert_eq!(int(&a, "progressmask"), 8, "{tag}: {a}");
    r.t.send_line(&format!("answer {tc}"));
    wait_call(&mut r.l, "answer", lc);
    wait_call(&mut r.t, "connect_ack", tc);
    r.t.send_line(&format!("info 12# {tc}"));
    let k = wait_call(&mut r.l, "keypad_digit", lc);
    assert_eq!(k["digits"], "12#", "{tag}: {k}");
    r.t.send_line(&format!("enquiry {tc}"));
    let st = wait_call(&mut r.t, "status_received", tc);
    assert_eq!(int(&st, "peer_state"), 10, "{tag}: {st}");
    assert_eq!(int(&st, "cause"), 30, "{tag}: {st}");
    r.t.send_line(&format!("release 16 {tc}"));
    let h = wait_call(&mut r.l, "hangup", lc);
    assert_eq!(int(&h, "cause"), 16, "{tag}: {h}");
    let rel = wait_call(&mut r.t, "released", tc);
    assert_eq!(int(&rel, "cause"), 16, "{tag}: {rel}");
    assert!(!call_events(&r.t, tc).iter().any(|e| e == "disconnecting"), "{tag}");

    // A 64 kbit/s unrestricted digital call (libpri's ctype 8, no layer 1).
    let (tc, lc, ring) = r.t_calls("5551234 2000 bearer data");
    assert_eq!(int(&ring, "ctype"), 8, "{tag}: {ring}");
    assert_eq!(int(&ring, "layer1"), -1, "{tag}: {ring}");
    r.l.send_line(&format!("answer {lc}"));
    wait_call(&mut r.t, "connected", tc);
    r.l.send_line(&format!("keypad 45 {lc}"));
    let d = wait_call(&mut r.t, "digits", tc);
    assert_eq!(d["digits"], "45", "{tag}: {d}");
    r.l.send_line(&format!("hangup 16 {lc}"));
    wait_call(&mut r.t, "released", tc);
    wait_call(&mut r.l, "hangup", lc);

    r.assert_idle("after the extras");
}

fn part_calls(switch: &'static str, side: Side) {
    let mut r = Rig::start(switch, side, "calls", &[], &[]);
    basic_calls(&mut r);
    rejections(&mut r);
    early_clearing(&mut r);
    restarts(&mut r);
    glare(&mut r);
    extras(&mut r);
    r.finish(&[
        "PROGRESS",
        "INFORMATION",
        "STATUS ENQUIRY",
        "STATUS",
        "SETUP",
        "CALL PROCEEDING",
        "ALERTING",
        "CONNECT",
        "CONNECT ACKNOWLEDGE",
        "DISCONNECT",
        "RELEASE",
        "RELEASE COMPLETE",
        "RESTART",
        "RESTART ACKNOWLEDGE",
    ]);
}

// ---------------------------------------------------------------------------
// Part 2: overlap dialling

/// Overlap dialling both ways on a variant that has it. libpri runs with
/// `--overlap` (both ends of an overlap call need it).
fn overlap_calls(r: &mut Rig) {
    let tag = r.tag.clone();
    // Tandem dials in overlap: SETUP without Sending Complete, SETUP
    // ACKNOWLEDGE, INFORMATION with the rest (the last with Sending
    // Complete where the variant sends it).
    let (tc, lc, ring) = r.t_calls("55 2000 overlap");
    assert_eq!(ring["called"], "55", "{tag}: {ring}");
    assert_eq!(ring["complete"], false, "{tag}: {ring}");
    r.l.send_line(&format!("setup_ack {lc}"));
    wait_call(&mut r.t, "setup_ack", tc);
    r.t.send_line(&format!("info 12 {tc}"));
    let i = wait_call(&mut r.l, "info_received", lc);
    assert_eq!(i["digits"], "12", "{tag}: {i}");
    assert_eq!(i["complete"], false, "{tag}: {i}");
    r.t.send_line(&format!("info 3 {tc} complete"));
    let i = wait_call(&mut r.l, "info_received", lc);
    assert_eq!(i["digits"], "3", "{tag}: {i}");
    assert_eq!(i["complete"], has_overlap(r.switch), "{tag}: {i}");
    r.l.send_line(&format!("proceeding {lc}"));
    wait_call(&mut r.t, "proceeding", tc);
    r.l.send_line(&format!("alerting {lc}"));
    wait_call(&mut r.t, "alerting", tc);
    r.l.send_line(&format!("answer {lc}"));
    wait_call(&mut r.t, "connected", tc);
    r.t.send_line(&format!("hangup 16 {tc}"));
    wait_call(&mut r.t, "released", tc);
    wait_call(&mut r.l, "hangup_ack", lc);

    // libpri dials in overlap: Tandem acknowledges and collects digits.
    let (lc, tc, inc) = r.l_calls("66 5551234 overlap chan 2");
    assert_eq!(inc["called"], "66", "{tag}: {inc}");
    assert_eq!(inc["complete"], false, "{tag}: {inc}");
    r.t.send_line(&format!("setup_ack {tc}"));
    wait_call(&mut r.l, "setup_ack", lc);
    r.l.send_line(&format!("info 789 {lc}"));
    let mut digits = String::new();
    while digits.len() < 3 {
        let d = wait_call(&mut r.t, "digits", tc);
        digits.push_str(d["digits"].as_str().unwrap_or_default());
    }
    assert_eq!(digits, "789", "{tag}");
    r.t.send_line(&format!("proceeding {tc}"));
    wait_call(&mut r.l, "proceeding", lc);
    r.t.send_line(&format!("answer {tc}"));
    wait_call(&mut r.l, "answer", lc);
    r.l.send_line(&format!("hangup 16 {lc}"));
    wait_call(&mut r.t, "released", tc);
    wait_call(&mut r.l, "hangup", lc);

    // With overlap dialling on, libpri sends Sending Complete with a full
    // number: Tandem sees it complete.
    let (lc, tc, inc) = r.l_calls("4441234 5551234 chan 2");
    assert_eq!(inc["complete"], true, "{tag}: {inc}");
    r.t.send_line(&format!("hangup 34 {tc}"));
    wait_call(&mut r.l, "hangup", lc);
}

/// North American variants: no overlap dialling in Tandem's variant.
fn no_overlap_calls(r: &mut Rig) {
    let tag = r.tag.clone();
    r.expected_errors.push("not supported by this switch variant: overlap dialling");
    r.t.send_line("call 55 2000 overlap");
    wait_error(&mut r.t, "overlap dialling");
    // libpri dials in overlap anyway: Tandem treats the SETUP as complete,
    // refuses SETUP ACKNOWLEDGE, and still passes up the digits of later
    // INFORMATION messages.
    let (lc, tc, inc) = r.l_calls("66 5551234 overlap chan 2");
    assert_eq!(inc["called"], "66", "{tag}: {inc}");
    assert_eq!(inc["complete"], true, "{tag}: {inc}");
    r.t.send_line(&format!("setup_ack {tc}"));
    wait_error(&mut r.t, "overlap dialling");
    r.l.send_line(&format!("info 78 {lc}"));
    let mut digits = String::new();
    while digits.len() < 2 {
        let d = wait_call(&mut r.t, "digits", tc);
        digits.push_str(d["digits"].as_str().unwrap_or_default());
    }
    assert_eq!(digits, "78", "{tag}");
    r.t.send_line(&format!("answer {tc}"));
    wait_call(&mut r.l, "answer", lc);
    r.t.send_line(&format!("hangup 16 {tc}"));
    wait_call(&mut r.t, "released", tc);
    wait_call(&mut r.l, "hangup_ack", lc);
}

fn part_overlap(switch: &'static str, side: Side) {
    let mut r = Rig::start(switch, side, "overlap", &["--overlap"], &[]);
    if has_overlap(switch) {
        overlap_calls(&mut r);
    } else {
        no_overlap_calls(&mut r);
    }
    r.assert_idle("after overlap dialling");
    let mut must = vec!["SETUP", "CONNECT", "INFORMATION", "RELEASE COMPLETE"];
    if has_overlap(switch) {
        must.push("SETUP ACKNOWLEDGE");
    }
    r.finish(&must);

    if !has_overlap(switch) {
        // `q931-peer --overlap` turns overlap dialling on for a North
        // American variant.
        let mut r = Rig::start(switch, side, "overlap-forced", &["--overlap"], &["--overlap"]);
        overlap_calls(&mut r);
        r.assert_idle("after forced overlap dialling");
        r.finish(&["SETUP", "SETUP ACKNOWLEDGE", "INFORMATION", "CONNECT"]);
    }
}

// ---------------------------------------------------------------------------
// Part 3: D-channel outage

/// Short Q.921 timers on both sides, so that a failed link is noticed in
/// about 3 s: T203 (idle poll) 600 ms, T200 300 ms, N200 3. T309 4 s.
const OUTAGE_TIMERS: [&str; 8] = ["--timer", "T200=300", "--timer", "T203=600", "--timer", "N200=3", "--timer", "T309=4000"];

/// An answered call from libpri to Tandem (or the other way), active on
/// both sides; returns (Tandem's call, libpri's call).
fn active_call(r: &mut Rig, tandem_calls: bool) -> (i64, i64) {
    if tandem_calls {
        let seen = r.relay.frames().len();
        let (tc, lc, _) = r.t_calls("5551234 2000");
        r.l.send_line(&format!("answer {lc}"));
        wait_call(&mut r.t, "connected", tc);
        // libpri reports no CONNECT ACKNOWLEDGE; it is active once Tandem's
        // has gone through.
        let acked = r.relay.wait_frames(T, |fs| has_message(&fs[seen..], false, 0x0F));
        assert!(acked, "{}: no CONNECT ACKNOWLEDGE from Tandem", r.tag);
        (tc, lc)
    } else {
        let (lc, tc, _) = r.l_calls("4441234 5551234 chan 2");
        r.t.send_line(&format!("answer {tc}"));
        wait_call(&mut r.l, "answer", lc);
        wait_call(&mut r.t, "connect_ack", tc);
        (tc, lc)
    }
}

fn part_outage(switch: &'static str, side: Side) {
    // libpri's Q.931 state trace (PRI_DEBUG_Q931_STATE) says when it starts
    // and stops T309.
    let mut largs = OUTAGE_TIMERS.to_vec();
    largs.extend(["--debug-mask", "64"]);
    let mut r = Rig::start(switch, side, "outage", &largs, &OUTAGE_TIMERS);
    let tag = r.tag.clone();

    // 1. A short outage (400 ms, shorter than T203 + T200): Q.921 recovers
    // by itself. A STATUS ENQUIRY sent during it is lost and retransmitted;
    // the call survives.
    let (tc, lc) = active_call(&mut r, true);
    let seen = r.relay.frames().len();
    r.relay.set_mode(RelayMode::Drop);
    r.t.send_line(&format!("enquiry {tc}"));
    std::thread::sleep(Duration::from_millis(400));
    r.relay.set_mode(RelayMode::Forward);
    let st = wait_call(&mut r.t, "status_received", tc);
    assert_eq!(int(&st, "peer_state"), 10, "{tag}: {st}");
    // The STATUS ENQUIRY was lost once and went through again.
    let fs = r.relay.frames();
    let enquiry = |f: &RelayFrame| !f.from_a && f.bytes.len() > 8 && f.bytes[8] == 0x75;
    let lost = fs[seen..].iter().filter(|f| enquiry(f) && f.dropped).count();
    let passed = fs[seen..].iter().filter(|f| enquiry(f) && !f.dropped).count();
    assert!(lost >= 1 && passed >= 1, "{tag}: STATUS ENQUIRY lost {lost}, passed {passed}");
    assert!(!r.t.events().iter().any(|e| e["event"] == "link_down"), "{tag}: the link failed in a short outage\n{}", r.t.context());
    assert!(!r.l.events().iter().any(|e| e["event"] == "dchan_down"), "{tag}");
    r.l.send_line(&format!("hangup 16 {lc}"));
    wait_call(&mut r.t, "released", tc);
    wait_call(&mut r.l, "hangup", lc);

    // 2. An outage long enough for both data links to fail, shorter than
    // T309: both keep the active call (Q.931 §5.8.9), check it when the
    // link is back (STATUS ENQUIRY / STATUS), and it clears normally.
    let (tc, lc) = active_call(&mut r, false);
    let started = |s: &str| s.matches("Start T309").count();
    let before = started(&r.l.stderr_text());
    r.relay.set_mode(RelayMode::Drop);
    r.t.wait_for("link_down", T);
    assert!(wait_stderr(&mut r.l, T, |s| started(s) > before), "{tag}: libpri did not start T309\n{}", r.l.context());
    r.relay.set_mode(RelayMode::Forward);
    r.t.wait_for("link_up", T);
    r.l.wait_for("dchan_up", T);
    // Tandem enquires; libpri answers STATUS in the active state.
    let st = wait_call(&mut r.t, "status_received", tc);
    assert_eq!(int(&st, "peer_state"), 10, "{tag}: {st}");
    std::thread::sleep(Duration::from_millis(200));
    assert!(!call_events(&r.t, tc).iter().any(|e| e == "released"), "{tag}: Tandem cleared the call\n{}", r.t.context());
    assert!(!call_events(&r.l, lc).iter().any(|e| e.starts_with("hangup")), "{tag}: libpri cleared the call\n{}", r.l.context());
    r.t.send_line(&format!("hangup 16 {tc}"));
    wait_call(&mut r.l, "hangup_req", lc);
    wait_call(&mut r.l, "hangup_ack", lc);
    let rel = wait_call(&mut r.t, "released", tc);
    assert_eq!(int(&rel, "cause"), 16, "{tag}: {rel}");

    // 3. An outage longer than T309: both sides clear the call on their
    // own (Tandem with cause 27, libpri with 27 too), and once the link
    // is back the channel carries a new call.
    let (tc, lc) = active_call(&mut r, true);
    let expired = |s: &str| s.matches("T309 timed out").count();
    let before = expired(&r.l.stderr_text());
    r.relay.set_mode(RelayMode::Drop);
    r.t.wait_for("link_down", T);
    let rel = wait_call(&mut r.t, "released", tc);
    assert_eq!(int(&rel, "cause"), 27, "{tag}: {rel}");
    let h = wait_call(&mut r.l, "hangup", lc);
    assert_eq!(int(&h, "cause"), 27, "{tag}: {h}");
    assert!(wait_stderr(&mut r.l, T, |s| expired(s) > before), "{tag}: libpri did not report T309 expiry\n{}", r.l.context());
    r.relay.set_mode(RelayMode::Forward);
    r.t.wait_for("link_up", T);
    r.l.wait_for("dchan_up", T);
    r.assert_idle("after a long outage");
    let (tc, lc) = active_call(&mut r, true);
    r.l.send_line(&format!("hangup 16 {lc}"));
    wait_call(&mut r.t, "released", tc);
    wait_call(&mut r.l, "hangup", lc);

    r.finish(&["SETUP", "CONNECT", "STATUS ENQUIRY", "STATUS", "RELEASE"]);
}

// ---------------------------------------------------------------------------
// The matrix

/// Runs every part for both orientations in parallel threads; panics with
/// the names of the parts that failed (each thread's panic message is
/// printed as it happens).
fn matrix(switch: &'static str) {
    type Part = fn(&'static str, Side);
    let parts: [(&str, Part); 3] = [("calls", part_calls), ("overlap", part_overlap), ("outage", part_outage)];
    let mut handles = Vec::new();
    for side in [Side::User, Side::Network] {
        for (name, f) in parts {
            let label = format!("{switch}/tandem-{}/{name}", side.name());
            let h = std::thread::Builder::new().name(label.clone()).spawn(move || f(switch, side)).expect("spawn part thread");
            handles.push((label, h));
        }
    }
    let failed: Vec<String> = handles.into_iter().filter_map(|(label, h)| h.join().is_err().then_some(label)).collect();
    assert!(failed.is_empty(), "failed parts: {failed:?}");
}

#[test]
fn ni2() {
    matrix("ni2");
}

#[test]
fn dms100() {
    matrix("dms100");
}

#[test]
fn att_4ess() {
    matrix("4ess");
}

#[test]
fn lucent_5ess() {
    matrix("5ess");
}

#[test]
fn euroisdn_e1() {
    matrix("euroisdn-e1");
}

#[test]
fn euroisdn_t1() {
    matrix("euroisdn-t1");
}

#[test]
fn qsig() {
    matrix("qsig");
}

// ---------------------------------------------------------------------------
// q931-peer on its own

/// `--auto-answer` with overlap receiving: SETUP ACKNOWLEDGE, digits, then
/// CALL PROCEEDING and ALERTING once no digit came for the auto-answer
/// time, CONNECT after it again.
#[test]
fn q931_peer_auto_answer_overlap() {
    let mut r = Rig::start("euroisdn-e1", Side::User, "auto-answer", &["--overlap"], &["--auto-answer", "300"]);
    let (lc, tc, inc) = r.l_calls("66 5551234 overlap chan 2");
    assert_eq!(inc["complete"], false, "{inc}");
    wait_call(&mut r.l, "setup_ack", lc);
    r.l.send_line(&format!("info 78 {lc}"));
    wait_call(&mut r.l, "proceeding", lc);
    wait_call(&mut r.l, "ringing", lc);
    wait_call(&mut r.t, "auto_answer", tc);
    wait_call(&mut r.l, "answer", lc);
    let digits: String = r.t.events().iter().filter(|e| e["event"] == "digits").filter_map(|e| e["digits"].as_str()).collect();
    assert_eq!(digits, "78");
    // En bloc: proceeding and alerting at once, CONNECT after 300 ms.
    let (lc2, _, _) = r.l_calls("4441234 5551234 chan 3");
    wait_call(&mut r.l, "ringing", lc2);
    wait_call(&mut r.l, "answer", lc2);
    // quit clears both calls.
    assert_eq!(r.t.quit(T).code(), Some(0), "{}", r.t.context());
    wait_call(&mut r.l, "hangup_req", lc);
    wait_call(&mut r.l, "hangup_req", lc2);
}

/// Usage errors exit 64; `--help` documents every command and option.
#[test]
fn q931_peer_usage() {
    let bin = tandem_tests::q931peer::q931_peer_bin();
    let out = Command::new(&bin).arg("--help").output().expect("run q931-peer");
    assert!(out.status.success());
    let help = String::from_utf8_lossy(&out.stdout);
    for word in [
        "--role",
        "--switch",
        "--listen",
        "--connect",
        "--pcap",
        "--auto-answer",
        "--timer",
        "--trace",
        "--interface",
        "--overlap",
        "call CALLED CALLING",
        "answer",
        "hangup CAUSE",
        "info DIGITS",
        "restart",
        "status",
        "quit",
        "incoming",
        "released",
    ] {
        assert!(help.contains(word), "--help does not mention {word}");
    }
    // EOF on stdin before anything connected: a clean exit.
    let path = tandem_tests::libpri::socket_path("eof");
    let out = Command::new(&bin)
        .args(["--role", "user", "--switch", "qsig", "--listen"])
        .arg(&path)
        .stdin(std::process::Stdio::null())
        .output()
        .expect("run q931-peer");
    assert_eq!(out.status.code(), Some(0));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let events: Vec<Value> = stdout.lines().map(|l| serde_json::from_str(l).expect("JSON line")).collect();
    assert_eq!(events.first().map(|e| e["event"].clone()), Some("listening".into()));
    assert_eq!(events.last().map(|e| e["status"].clone()), Some(0.into()));
    assert!(!path.exists(), "the socket path is removed at exit");

    for args in [
        &["--role", "user"][..],
        &["--role", "user", "--switch", "nonesuch", "--listen", "/x"],
        &["--role", "user", "--switch", "ni2"],
        &["--role", "user", "--switch", "ni2", "--listen", "/x", "--timer", "T999=1"],
    ] {
        let out = Command::new(&bin).args(args).output().expect("run q931-peer");
        assert_eq!(out.status.code(), Some(64), "{args:?}");
    }
}
