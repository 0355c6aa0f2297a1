//! End to end: channel-bank lines (analog lines carried in a T1's robbed
//! bits) bridged by `tandem run` to SIP.
//!
//! One tandem on `examples/gateway/bank-t1.toml`, on the simulator's TE220P
//! of `examples/sim/bank-t1-cross.toml` whose two T1 spans are
//! cross-connected back to back. Span 1's channels are `[[analog]]` FXS
//! ports (DAHDI fxols/fxogs: Tandem is the office side of a bank's FXS card
//! and rings phones); span 2's are FXO ports (DAHDI fxsls/fxsgs: Tandem is
//! the line side of a bank's FXO card and sees the ringing). Channel N of
//! span 1 is wired to channel N of span 2 (DAHDI channels N and 24 + N),
//! so every hook, ring and ground state one side sends in the ABCD bits is
//! what the other side's kernel hook machine receives, and the DTMF one
//! side dials is what the other side collects.
//!
//! Channels 1-2 are loop start, 3-4 ground start. The PBX (sipp,
//! `127.0.0.41:5070`) calls 2001 / 2002 to ring span 1 channel 1 / 3; span 2
//! offers the call to the carrier (sipp, `127.0.0.42:5070`) as 3001 / 3002.
//! The carrier's calls to 71XX / 72XX seize span 2 channel 1 / 3 and dial
//! the digits; span 1 collects them (dial plan 7XXX) and calls the PBX.
//! Tandem listens on `127.0.0.40:5060` (apart from the other end-to-end
//! files, so they can run at the same time).

use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde_json::Value;
use tandem_tests::gateway::{Lab, Sipp, SippOpts, Tandem, cdrs, header, wait_until};
use tandem_tests::rigs::{example, example_config, start_tandem};

static SERIAL: Mutex<()> = Mutex::new(());

const T: Duration = Duration::from_secs(10);

/// How long a hang-up may take to cross the bank and reach the other SIP
/// side: DAHDI's debounce and flash timers (the on-hook must outlast a
/// hook flash, 1.25 s by default) plus generous room for a loaded machine.
const CLEAR: Duration = Duration::from_secs(5);

/// DAHDI's first channel of span 2 is 25 (24 channels per T1 span).
const SPAN2_BASE: u32 = 24;

/// ABCD bits as DAHDI packs them (A = 8, B = 4, C = 2, D = 1).
const BITS_ABCD: u32 = 0b1111;
const BITS_BD: u32 = 0b0101;

/// The simulator: examples/sim/bank-t1-cross.toml.
fn sim() -> String {
    example("examples/sim/bank-t1-cross.toml")
}

/// The daemon: examples/gateway/bank-t1.toml with the test's device
/// directory, scratch files and loopback addresses.
fn config() -> String {
    example_config(
        "bank-t1.toml",
        &[
            ("0.0.0.0:5060", "127.0.0.40:5060"),
            ("rtp_ip = \"192.0.2.40\"", "rtp_ip = \"127.0.0.40\""),
            ("pbx.example.com:5060", "127.0.0.41:5070"),
            ("carrier.example.com:5060", "127.0.0.42:5070"),
            ("options_interval_s = 30", "options_interval_s = 0"),
        ],
    )
}

struct Rig {
    lab: Lab,
    tandem: Tandem,
}

fn rig() -> Rig {
    let lab = Lab::start(&sim());
    let tandem = start_tandem(&lab, &config());
    Rig { lab, tandem }
}

impl Rig {
    fn log(&self) -> String {
        self.tandem.log.all().join("\n")
    }
}

/// The two ends of one bank line: DAHDI channel numbers on span 1 (the
/// office side, Tandem's FXS port) and span 2 (the line side, its FXO port).
#[derive(Clone, Copy, Debug)]
struct Line {
    /// Loop or ground start, for messages.
    start: &'static str,
    /// Position on both spans.
    pos: u32,
    /// The number the PBX calls to ring the office side.
    phone: &'static str,
    /// The line's own number, the called number of its inbound calls.
    line_number: &'static str,
    /// A number the carrier calls to seize this line outward.
    outward: &'static str,
    /// The ABCD bits each side sends when the line is idle (dahdi-base.c
    /// `dahdi_rbs_sethook` table, TXSIG_ONHOOK): (office side, line side).
    idle_bits: (u32, u32),
}

impl Line {
    fn office(self) -> u32 {
        self.pos
    }
    fn line(self) -> u32 {
        SPAN2_BASE + self.pos
    }
}

/// fxols on hook sends B and D (loop open, no ring); fxsls on hook sends B and D.
const LOOP: Line = Line { start: "loop start", pos: 1, phone: "2001", line_number: "3001", outward: "7123", idle_bits: (BITS_BD, BITS_BD) };
/// fxogs on hook sends ABCD (tip open, no ground); fxsgs on hook sends B and D.
const GROUND: Line = Line { start: "ground start", pos: 3, phone: "2002", line_number: "3002", outward: "7245", idle_bits: (BITS_ABCD, BITS_BD) };

fn pbx_uac(lab: &Lab, called: &str, scenario: &str, pause_ms: u32) -> Sipp {
    Sipp::start(
        lab,
        "pbx",
        SippOpts {
            scenario,
            ip: "127.0.0.41",
            rtp_echo_port: Some(7410),
            pause_ms,
            service: Some(called),
            remote: Some("127.0.0.40:5060"),
            keys: &[("caller", "2125550100"), ("from_name", "\"Alice\"")],
            ..SippOpts::default()
        },
    )
}

fn pbx_uas(lab: &Lab, scenario: &str, pause_ms: u32) -> Sipp {
    Sipp::start(lab, "pbx", SippOpts { scenario, ip: "127.0.0.41", rtp_echo_port: Some(7410), pause_ms, ..SippOpts::default() })
}

fn carrier_uas(lab: &Lab, scenario: &str, pause_ms: u32) -> Sipp {
    Sipp::start(lab, "carrier", SippOpts { scenario, ip: "127.0.0.42", rtp_echo_port: Some(7420), pause_ms, ..SippOpts::default() })
}

fn carrier_uac(lab: &Lab, called: &str, scenario: &str, pause_ms: u32) -> Sipp {
    Sipp::start(
        lab,
        "carrier",
        SippOpts {
            scenario,
            ip: "127.0.0.42",
            rtp_echo_port: Some(7420),
            pause_ms,
            service: Some(called),
            remote: Some("127.0.0.40:5060"),
            keys: &[("caller", "9175550000")],
            ..SippOpts::default()
        },
    )
}

/// The simulator's view of a channel (`chan.get`).
fn chan(r: &Rig, channo: u32) -> Value {
    r.lab.client().chan_get(channo).unwrap_or_else(|e| panic!("chan.get {channo}: {e}"))
}

/// Waits until both ends of `l` send their idle bits and receive the
/// other's, and no hook state is left over; panics with both ends' state.
fn expect_idle(r: &Rig, l: Line) {
    let idle = || {
        let (o, n) = (chan(r, l.office()), chan(r, l.line()));
        o["txbits"] == l.idle_bits.0 && n["txbits"] == l.idle_bits.1 && o["rxbits"] == l.idle_bits.1 && n["rxbits"] == l.idle_bits.0
    };
    assert!(
        wait_until(T, idle),
        "{}: the line did not return to idle bits (office {:#06b}, line {:#06b} expected):\noffice {}\nline {}\ntandem's log:\n{}",
        l.start,
        l.idle_bits.0,
        l.idle_bits.1,
        chan(r, l.office()),
        chan(r, l.line()),
        r.log()
    );
}

/// Tandem's `status` over the control socket.
fn status(r: &Rig) -> Value {
    use std::io::{BufRead, Write};
    let mut s = std::os::unix::net::UnixStream::connect(r.lab.path("tandem.sock")).expect("control socket");
    s.set_read_timeout(Some(T)).expect("timeout");
    s.write_all(b"{\"op\": \"status\"}\n").expect("write");
    let mut line = String::new();
    std::io::BufReader::new(s).read_line(&mut line).expect("reply");
    serde_json::from_str(&line).expect("JSON reply")
}

/// Every line (and its spare neighbour) is idle: no call left in Tandem,
/// every port idle in its signalling (an FXS port sees a hang-up only once
/// it has outlasted a hook flash), and idle bits on both ends.
fn expect_all_idle(r: &Rig) {
    let tandem_idle = || {
        let st = status(r);
        st["calls"] == 0 && st["interfaces"].as_array().into_iter().flatten().all(|i| i["channels"]["busy"] == 0)
    };
    assert!(wait_until(T, tandem_idle), "ports not idle: {}\ntandem's log:\n{}", status(r), r.log());
    for l in [LOOP, GROUND, Line { pos: 2, ..LOOP }, Line { pos: 4, ..GROUND }] {
        expect_idle(r, l);
    }
}

/// A call from the PBX rings the office side of `l`; the line side sees the
/// ringing across the T1 and offers the call to the carrier, which answers;
/// the answer travels back as the line side's off-hook and reaches the PBX
/// as 200. Returns the PBX and carrier sipps, the call up, and the INVITE
/// the carrier got.
fn call_across(r: &Rig, l: Line, pbx_scenario: &str, carrier_scenario: &str, hold_ms: u32) -> (Sipp, Sipp, String) {
    let carrier = carrier_uas(&r.lab, carrier_scenario, hold_ms);
    let pbx = pbx_uac(&r.lab, l.phone, pbx_scenario, hold_ms);
    assert!(
        wait_until(Duration::from_secs(20), || !carrier.received("INVITE ").is_empty()),
        "{}: no INVITE reached the carrier; tandem's log:\n{}",
        l.start,
        r.log()
    );
    let invite = carrier.received("INVITE ").remove(0);
    assert!(wait_until(T, || !pbx.received("SIP/2.0 200").is_empty()), "{}: the PBX got no 200; tandem's log:\n{}", l.start, r.log());
    (pbx, carrier, invite)
}

fn check_invite_to_carrier(l: Line, invite: &str) {
    let rline = invite.lines().next().unwrap_or("");
    assert!(rline.starts_with(&format!("INVITE sip:{}@", l.line_number)) || rline.starts_with(&format!("INVITE sip:+{}@", l.line_number)), "{invite}");
    // The office side sent the PBX caller's number as Bell 202 caller ID
    // after the first ring; the line side decoded it from the T1's audio.
    assert!(header(invite, "From").contains("2125550100"), "{}: the caller ID did not cross the bank: {invite}", l.start);
}

/// The two CDRs of a call across the bank: the PBX's call to the office side
/// and the line side's call to the carrier.
fn check_cdrs(r: &Rig, l: Line, released_by_pbx_side: &str) {
    let c = cdrs(&r.lab, 2, T);
    assert_eq!(c.len(), 2, "{c:?}");
    let to_bank = c.iter().find(|c| c["direction"] == "sip-to-tdm").unwrap_or_else(|| panic!("no sip-to-tdm CDR: {c:?}"));
    let from_bank = c.iter().find(|c| c["direction"] == "tdm-to-sip").unwrap_or_else(|| panic!("no tdm-to-sip CDR: {c:?}"));
    assert_eq!(to_bank["called"], l.phone, "{to_bank}");
    assert_eq!(to_bank["outbound"]["span"], 1, "{to_bank}");
    assert_eq!(to_bank["outbound"]["channel"], l.pos, "{to_bank}");
    assert!(to_bank["answer"].is_string(), "answered: {to_bank}");
    assert_eq!(to_bank["cause"], 16, "{to_bank}");
    assert_eq!(to_bank["released_by"], released_by_pbx_side, "{to_bank}");
    assert_eq!(from_bank["called"], l.line_number, "{from_bank}");
    assert_eq!(from_bank["inbound"]["span"], 2, "{from_bank}");
    assert_eq!(from_bank["inbound"]["channel"], l.pos, "{from_bank}");
    assert_eq!(from_bank["outbound"]["interface"], "carrier", "{from_bank}");
    assert!(from_bank["answer"].is_string(), "answered: {from_bank}");
    assert_eq!(from_bank["cause"], 16, "{from_bank}");
}

fn a_pbx_call_rings_the_far_line_and_the_pbx_hang_up_clears_both_calls(l: Line) {
    let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let r = rig();
    expect_all_idle(&r);
    let (mut pbx, mut carrier, invite) = call_across(&r, l, "uac_call.xml", "uas_answer.xml", 3000);
    check_invite_to_carrier(l, &invite);
    // The answer crossed the bank: the line side is off hook, which the office side receives.
    let (o, n) = (chan(&r, l.office()), chan(&r, l.line()));
    assert_ne!(n["txbits"], l.idle_bits.1, "{}: the line side did not go off hook: {n}", l.start);
    assert_eq!(o["rxbits"], n["txbits"], "{}: the office side receives what the line side sends: {o} {n}", l.start);
    // The office side stopped ringing and holds the line: B+D (ground start: tip grounded).
    assert_eq!(o["txbits"], BITS_BD, "{}: the office side's bits during the call: {o}", l.start);
    // The PBX hangs up after 3 s: the office side goes on hook, the line side
    // sees it (loop current / ground removed) and the carrier gets BYE.
    assert!(wait_until(T, || pbx.messages().contains("BYE sip:")), "{}: the PBX did not hang up", l.start);
    let bye_at = Instant::now();
    assert!(wait_until(T, || carrier.messages().contains("BYE sip:")), "{}: no BYE reached the carrier; log:\n{}", l.start, r.log());
    let took = bye_at.elapsed();
    pbx.expect_success(T);
    carrier.expect_success(T);
    assert!(took < CLEAR, "{}: the clear took {took:?} to cross the bank", l.start);
    expect_all_idle(&r);
    check_cdrs(&r, l, "inbound");
}

fn the_carrier_hang_up_crosses_the_bank_back_to_the_pbx(l: Line) {
    let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let r = rig();
    let (mut pbx, mut carrier, invite) = call_across(&r, l, "uac_call_remote_bye.xml", "uas_hangup.xml", 3000);
    check_invite_to_carrier(l, &invite);
    // The carrier hangs up: the line side goes on hook, the office side sees
    // the line open and sends BYE to the PBX.
    assert!(wait_until(T, || carrier.messages().contains("BYE sip:")), "{}: the carrier did not hang up", l.start);
    let bye_at = Instant::now();
    assert!(wait_until(T, || !pbx.received("BYE ").is_empty()), "{}: no BYE reached the PBX; log:\n{}", l.start, r.log());
    let took = bye_at.elapsed();
    carrier.expect_success(T);
    pbx.expect_success(T);
    assert!(took < CLEAR, "{}: the clear took {took:?} to cross the bank", l.start);
    expect_all_idle(&r);
    check_cdrs(&r, l, "outbound");
}

fn a_carrier_call_seizes_the_line_dials_dtmf_and_the_office_side_collects_the_number(l: Line) {
    let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let r = rig();
    let mut pbx = pbx_uas(&r.lab, "uas_answer.xml", 3000);
    let mut carrier = carrier_uac(&r.lab, l.outward, "uac_call.xml", 3000);
    assert!(
        wait_until(Duration::from_secs(20), || !pbx.received("INVITE ").is_empty()),
        "{}: no INVITE reached the PBX; line side {}\noffice side {}\ntandem's log:\n{}",
        l.start,
        chan(&r, l.line()),
        chan(&r, l.office()),
        r.log()
    );
    let invite = pbx.received("INVITE ").remove(0);
    assert!(invite.starts_with(&format!("INVITE sip:{}@", l.outward)), "{}: the dialled number: {invite}", l.start);
    // The office side's calling number is its line's.
    let office_number = if l.pos <= 2 { "2001" } else { "2002" };
    assert!(header(&invite, "From").contains(office_number), "{invite}");
    // The office side answered the seizure: off hook (loop start: loop
    // closed, B+D; ground start: tip grounded, B+D instead of the idle A+B+C+D),
    // and the line side sends off hook (A+B+C+D).
    assert!(
        wait_until(T, || chan(&r, l.office())["txbits"] == BITS_BD && chan(&r, l.line())["txbits"] == BITS_ABCD),
        "{}: the line is not seized and acknowledged: office {}\nline {}",
        l.start,
        chan(&r, l.office()),
        chan(&r, l.line())
    );
    // Answered end to end; the carrier hangs up after 3 s, which crosses the bank.
    carrier.expect_success(Duration::from_secs(20));
    pbx.expect_success(T);
    expect_all_idle(&r);
    let c = cdrs(&r.lab, 2, T);
    let to_line = c.iter().find(|c| c["direction"] == "sip-to-tdm").unwrap_or_else(|| panic!("no sip-to-tdm CDR: {c:?}"));
    let from_office = c.iter().find(|c| c["direction"] == "tdm-to-sip").unwrap_or_else(|| panic!("no tdm-to-sip CDR: {c:?}"));
    assert_eq!(to_line["called"], l.outward, "{to_line}");
    assert_eq!(to_line["outbound"]["span"], 2, "{to_line}");
    assert_eq!(to_line["outbound"]["channel"], l.pos, "{to_line}");
    assert_eq!(to_line["released_by"], "inbound", "{to_line}");
    assert_eq!(from_office["called"], l.outward, "{from_office}");
    assert_eq!(from_office["inbound"]["span"], 1, "{from_office}");
    assert_eq!(from_office["inbound"]["channel"], l.pos, "{from_office}");
    assert!(from_office["answer"].is_string(), "{from_office}");
}

#[test]
fn loop_start_a_pbx_call_rings_the_far_line_across_the_t1_and_the_pbx_hang_up_clears_both_calls() {
    a_pbx_call_rings_the_far_line_and_the_pbx_hang_up_clears_both_calls(LOOP);
}

#[test]
fn ground_start_a_pbx_call_rings_the_far_line_across_the_t1_and_the_pbx_hang_up_clears_both_calls() {
    a_pbx_call_rings_the_far_line_and_the_pbx_hang_up_clears_both_calls(GROUND);
}

#[test]
fn loop_start_the_carrier_hang_up_crosses_the_bank_back_to_the_pbx() {
    the_carrier_hang_up_crosses_the_bank_back_to_the_pbx(LOOP);
}

#[test]
fn ground_start_the_carrier_hang_up_crosses_the_bank_back_to_the_pbx() {
    the_carrier_hang_up_crosses_the_bank_back_to_the_pbx(GROUND);
}

#[test]
fn loop_start_a_carrier_call_seizes_the_line_dials_dtmf_and_the_office_side_collects_the_number() {
    a_carrier_call_seizes_the_line_dials_dtmf_and_the_office_side_collects_the_number(LOOP);
}

#[test]
fn ground_start_a_carrier_call_seizes_the_line_dials_dtmf_and_the_office_side_collects_the_number() {
    a_carrier_call_seizes_the_line_dials_dtmf_and_the_office_side_collects_the_number(GROUND);
}

// ---------------------------------------------------------------------------
// Busy and unallocated

/// A SIP peer on `ip` refusing every call with `status reason`.
fn rejecter(lab: &Lab, name: &str, ip: &str, status: &str, reason: &str) -> Sipp {
    let scen = lab.path(&format!("uas_reject_{status}.xml"));
    let text = std::fs::read_to_string(tandem_tests::repo_path("tests/sipp/uas_reject.xml")).expect("the reject scenario");
    std::fs::write(&scen, text.replace("@STATUS@", status).replace("@REASON@", reason)).expect("write");
    Sipp::start(lab, name, SippOpts { scenario: scen.to_str().expect("utf-8"), ip, port: 5070, ..SippOpts::default() })
}

/// The CDRs of the last call across the bank (the last two records).
fn last_cdrs(r: &Rig, total: usize) -> Vec<Value> {
    let c = cdrs(&r.lab, total, T);
    assert!(c.len() >= total, "{c:?}");
    c[total - 2..total].to_vec()
}

/// The carrier's call seizes the line side of `l` and dials; the office
/// side collects the number and calls the PBX, which refuses it. The office
/// side plays the refusal in band to the line (busy tone; a vacant-code SIT
/// then reorder), the line side hears it before it takes the call as
/// answered, and the carrier gets the PBX's status back; both ends of the
/// line go idle and both CDRs carry the cause.
fn the_pbx_refusals_cross_the_bank_back_to_the_carrier(l: Line) {
    let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let r = rig();
    for (k, (status, reason, cause)) in [("486", "Busy Here", 17), ("404", "Not Found", 1)].into_iter().enumerate() {
        let mut pbx = rejecter(&r.lab, "pbx", "127.0.0.41", status, reason);
        let mut carrier = carrier_uac(&r.lab, l.outward, "uac_reject.xml", 500);
        carrier.expect_success(Duration::from_secs(30));
        pbx.expect_success(T);
        assert!(
            carrier.log().contains(&format!("FINAL {status}")),
            "{}: the PBX's {status} should reach the carrier as {status}: {}\ntandem's log:\n{}",
            l.start,
            carrier.log(),
            r.log()
        );
        assert!(pbx.received("INVITE ")[0].starts_with(&format!("INVITE sip:{}@", l.outward)), "{}", pbx.messages());
        expect_all_idle(&r);
        let c = last_cdrs(&r, 2 * (k + 1));
        let to_line = c.iter().find(|c| c["direction"] == "sip-to-tdm").unwrap_or_else(|| panic!("no sip-to-tdm CDR: {c:?}"));
        let from_office = c.iter().find(|c| c["direction"] == "tdm-to-sip").unwrap_or_else(|| panic!("no tdm-to-sip CDR: {c:?}"));
        assert_eq!(to_line["outbound"]["span"], 2, "{to_line}");
        assert!(to_line["answer"].is_null(), "not answered: {to_line}");
        assert_eq!(to_line["cause"], cause, "{to_line}");
        assert_eq!(from_office["inbound"]["span"], 1, "{from_office}");
        assert!(from_office["answer"].is_null(), "not answered: {from_office}");
        assert_eq!(from_office["cause"], cause, "{from_office}");
    }
}

/// Both lines of `l`'s pair are in use (the carrier seized them and the
/// PBX answered both calls): a PBX call to the phone number gets 486 at
/// once, and a call to a number no line has gets 404. Then everything clears.
fn a_pbx_call_to_lines_in_use_is_busy_and_to_no_line_unallocated(l: Line) {
    let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let r = rig();
    let mut pbx = Sipp::start(
        &r.lab,
        "pbx",
        SippOpts { scenario: "uas_answer.xml", ip: "127.0.0.41", rtp_echo_port: Some(7410), pause_ms: 15000, calls: 2, ..SippOpts::default() },
    );
    let mut carrier = Sipp::start(
        &r.lab,
        "carrier",
        SippOpts {
            scenario: "uac_call.xml",
            ip: "127.0.0.42",
            rtp_echo_port: Some(7420),
            pause_ms: 5000,
            calls: 2,
            service: Some(l.outward),
            remote: Some("127.0.0.40:5060"),
            keys: &[("caller", "9175550000")],
            extra: &["-l", "2"],
            ..SippOpts::default()
        },
    );
    assert!(
        wait_until(Duration::from_secs(30), || pbx.received("INVITE ").len() == 2),
        "{}: the carrier's two calls did not both reach the PBX: {}\ntandem's log:\n{}",
        l.start,
        pbx.messages(),
        r.log()
    );
    for (called, want) in [(l.phone, "486"), ("2999", "404")] {
        let mut caller = Sipp::start(
            &r.lab,
            &format!("pbx-{called}"),
            SippOpts {
                scenario: "uac_reject.xml",
                ip: "127.0.0.41",
                port: 5071,
                pause_ms: 500,
                service: Some(called),
                remote: Some("127.0.0.40:5060"),
                keys: &[("caller", "2125550100"), ("from_name", "\"Alice\"")],
                ..SippOpts::default()
            },
        );
        caller.expect_success(T);
        assert!(caller.log().contains(&format!("FINAL {want}")), "{}: a PBX call to {called} should get {want}: {}", l.start, caller.log());
    }
    carrier.expect_success(Duration::from_secs(40));
    pbx.expect_success(Duration::from_secs(30));
    expect_all_idle(&r);
}

#[test]
fn loop_start_the_pbx_busy_and_unallocated_cross_the_bank_to_the_carrier_in_band() {
    the_pbx_refusals_cross_the_bank_back_to_the_carrier(LOOP);
}

#[test]
fn ground_start_the_pbx_busy_and_unallocated_cross_the_bank_to_the_carrier_in_band() {
    the_pbx_refusals_cross_the_bank_back_to_the_carrier(GROUND);
}

#[test]
fn loop_start_a_pbx_call_to_lines_in_use_is_busy_and_to_no_line_unallocated() {
    a_pbx_call_to_lines_in_use_is_busy_and_to_no_line_unallocated(LOOP);
}

#[test]
fn ground_start_a_pbx_call_to_lines_in_use_is_busy_and_to_no_line_unallocated() {
    a_pbx_call_to_lines_in_use_is_busy_and_to_no_line_unallocated(GROUND);
}
