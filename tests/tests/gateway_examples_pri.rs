//! The PRI gateway examples run with calls, each file as it is written
//! except for what ties it to a site: the device directory, the CDR file
//! and control socket (into the lab, by [`example_config`]), and the
//! documentation addresses and host names, which become loopback addresses
//! 127.0.0.80–.84 (the gateway's listeners on `0.0.0.0` included, so that
//! nothing here binds a port of another test file's address).
//!
//! * `examples/gateway/pri-to-sip.toml` on `examples/sim/pri-t1.toml`:
//!   q931-peer is the carrier's NI-2 switch (network side), sipp the PBX
//!   and the backup PBX.
//! * `examples/gateway/pri-e1-network.toml` on `examples/sim/pri-two-e1.toml`:
//!   two q931-peers are the PBX's EuroISDN user side (one per E1 span),
//!   kamailio (`tests/kamailio/kamailio.cfg`) the ITSP's registrar and
//!   proxy, with sipp behind it as the far end of the ITSP's calls.

use std::sync::Mutex;
use std::time::Duration;

use serde_json::Value;
use tandem_tests::gateway::{Kamailio, Lab, Sipp, SippOpts, header, start_pri, wait_until, workspace_bin};
use tandem_tests::q931peer::Q931Peer;
use tandem_tests::repo_path;
use tandem_tests::rigs::{example, example_config, start_tandem};

/// One test at a time: every test binds tandem's SIP port on [`TANDEM`].
static SERIAL: Mutex<()> = Mutex::new(());

const T: Duration = Duration::from_secs(10);

/// Tandem's SIP and RTP address (the examples' `0.0.0.0` and `192.0.2.10`).
const TANDEM: &str = "127.0.0.80";
/// pri-to-sip: the PBX (`pbx.example.com`, `192.0.2.20`).
const PBX: &str = "127.0.0.81";
/// pri-to-sip: the backup PBX (`192.0.2.21`).
const BACKUP: &str = "127.0.0.82";
/// pri-e1-network: the ITSP's registrar and proxy (`sip.itsp.example.net`,
/// `203.0.113.0/24`), kamailio.
const ITSP: &str = "127.0.0.83";
/// pri-e1-network: the ITSP's far end behind kamailio (sipp), and the
/// callers of the ITSP's calls to the PBX (from another port).
const ITSP_FAR: &str = "127.0.0.84";

/// `examples/gateway/pri-to-sip.toml` on the lab's loopback addresses.
fn pri_to_sip() -> String {
    example_config("pri-to-sip.toml", &[("0.0.0.0", TANDEM), ("192.0.2.10", TANDEM), ("192.0.2.20", PBX), ("192.0.2.21", BACKUP), ("pbx.example.com", PBX)])
}

/// `examples/gateway/pri-e1-network.toml` on the lab's loopback addresses.
fn pri_e1_network() -> String {
    example_config("pri-e1-network.toml", &[("0.0.0.0", TANDEM), ("192.0.2.10", TANDEM), ("sip.itsp.example.net", ITSP), ("203.0.113.0/24", ITSP)])
}

/// A sipp PBX answering calls on `ip:5060`. Tandem's OPTIONS keepalive
/// counts as a call of sipp's, so it takes plenty and the test reads what
/// it received instead of waiting for it to finish.
fn pbx_answering(lab: &Lab, name: &str, ip: &str, rtp: u16) -> Sipp {
    Sipp::start(lab, name, SippOpts { scenario: "uas_answer.xml", ip, port: 5060, rtp_echo_port: Some(rtp), pause_ms: 100, calls: 1000, ..SippOpts::default() })
}

/// Exactly `n` CDR lines once `n` are there (a moment later, no more).
fn exactly_cdrs(lab: &Lab, n: usize) -> Vec<Value> {
    let first = tandem_tests::gateway::cdrs(lab, n, T);
    assert!(first.len() >= n, "{n} CDR lines expected: {first:?}");
    std::thread::sleep(Duration::from_millis(300));
    let all = tandem_tests::gateway::cdrs(lab, n, T);
    assert_eq!(all.len(), n, "one CDR line per call: {all:?}");
    all
}

/// The CDR whose `route` is `route`.
fn cdr_of<'a>(cdrs: &'a [Value], route: &str) -> &'a Value {
    cdrs.iter().find(|c| c["route"] == route).unwrap_or_else(|| panic!("no CDR of route {route}: {cdrs:?}"))
}

// ---------------------------------------------------------------------------
// examples/gateway/pri-to-sip.toml

#[test]
fn the_pri_to_sip_example_takes_a_did_call_to_the_pbx_as_an_extension_and_a_pbx_call_to_the_pstn() {
    let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let lab = Lab::start(&example("examples/sim/pri-t1.toml"));
    let pbx = pbx_answering(&lab, "pbx", PBX, 7600);
    let (mut switch, tandem) = start_pri(&lab, &pri_to_sip(), "ni2", &[]);

    // The carrier delivers a DID of the block, national (10 digits); the
    // PBX is sent the 4-digit extension, on the URI the route names.
    switch.send_line("call 2125551234 2125550000 ton 2 name Alice");
    switch.wait_for("connected", T);
    switch.send_line("hangup 16");
    switch.wait_for("released", T);
    assert!(wait_until(T, || pbx.received("BYE ").len() == 1), "the PBX is sent a BYE: {}", pbx.messages());
    let invites = pbx.received("INVITE ");
    assert_eq!(invites.len(), 1, "{}", pbx.messages());
    let rline = invites[0].lines().next().unwrap_or("");
    assert!(rline.starts_with(&format!("INVITE sip:1234@{PBX}")), "the extension at the PBX: {rline}");
    assert!(header(&invites[0], "From").contains("+12125550000"), "the national calling number as E.164: {}", invites[0]);

    // The PBX dials +1 and a national number: it goes out on the PRI
    // without the +1 (route pbx-to-pstn's translation).
    let mut uac = Sipp::start(
        &lab,
        "uac",
        SippOpts {
            scenario: "uac_call.xml",
            ip: PBX,
            port: 5070,
            rtp_echo_port: Some(7700),
            pause_ms: 300,
            service: Some("+12125550142"),
            remote: Some(&format!("{TANDEM}:5060")),
            ..SippOpts::default()
        },
    );
    let inc = switch.wait_for("incoming", T);
    assert_eq!(inc["called"], "2125550142", "{inc}");
    switch.send_line("answer");
    switch.wait_for("released", T);
    uac.expect_success(T);

    let cdrs = exactly_cdrs(&lab, 2);
    let did = cdr_of(&cdrs, "did-to-pbx");
    assert_eq!((did["direction"].as_str(), did["called_out"].as_str()), (Some("tdm-to-sip"), Some("1234")), "{did}");
    assert_eq!(did["outbound"]["interface"], "pbx", "{did}");
    let out = cdr_of(&cdrs, "pbx-to-pstn");
    assert_eq!(out["direction"], "sip-to-tdm", "{out}");
    assert!(cdrs.iter().all(|c| c["answer"].is_string()), "both answered: {cdrs:?}");
    drop(tandem);
}

#[test]
fn the_pri_to_sip_example_fails_over_to_the_backup_pbx_when_the_pbx_does_not_answer() {
    let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let lab = Lab::start(&example("examples/sim/pri-t1.toml"));
    // Nothing at the PBX's address: neither its OPTIONS nor the INVITE is
    // answered. The backup PBX is there.
    let backup = pbx_answering(&lab, "backup", BACKUP, 7800);
    let (mut switch, tandem) = start_pri(&lab, &pri_to_sip(), "ni2", &[]);

    // The DID as 1 + national number (unknown type, national_prefix 1):
    // E.164 +12125551777, the route's other pattern. The PBX does not
    // proceed within setup_timeout_s (8 s): cause 102, a failover cause,
    // and the call goes to the backup PBX's URI.
    switch.send_line("call 12125551777 2125550000 ton 2");
    switch.wait_for("connected", Duration::from_secs(30));
    switch.send_line("hangup 16");
    switch.wait_for("released", T);
    assert!(wait_until(T, || backup.received("BYE ").len() == 1), "the backup PBX is sent a BYE: {}", backup.messages());
    let invites = backup.received("INVITE ");
    assert_eq!(invites.len(), 1, "{}", backup.messages());
    let rline = invites[0].lines().next().unwrap_or("");
    assert!(rline.starts_with(&format!("INVITE sip:1777@{BACKUP}")), "the extension at the backup PBX: {rline}");

    let cdrs = exactly_cdrs(&lab, 1);
    let c = &cdrs[0];
    assert_eq!((c["route"].as_str(), c["called_out"].as_str()), (Some("did-to-pbx"), Some("1777")), "{c}");
    assert_eq!(c["outbound"]["interface"], "pbx-backup", "{c}");
    assert_eq!(c["attempts"], 2, "the PBX, then the backup: {c}");
    assert!(c["answer"].is_string(), "{c}");
    drop(tandem);
}

// ---------------------------------------------------------------------------
// examples/gateway/pri-e1-network.toml

/// The PBX's user side on span `n`'s D-channel, answering calls 300 ms
/// after they arrive.
fn pbx_side(lab: &Lab, n: u32) -> Q931Peer {
    let sock = lab.dchan_socket(n);
    let sock = sock.to_str().expect("utf-8 path");
    let name = if n == 1 { "pbx-a" } else { "pbx-b" };
    Q931Peer::spawn_named(name, &["--role", "user", "--switch", "euroisdn-e1", "--connect", sock, "--auto-answer", "300"])
}

/// `tandem <args> --socket <the lab's control socket>`; panics unless it exits 0.
fn cli_ok(lab: &Lab, args: &[&str]) -> String {
    let out = std::process::Command::new(workspace_bin("tandem"))
        .args(args)
        .arg("--socket")
        .arg(lab.path("tandem.sock"))
        .output()
        .unwrap_or_else(|e| panic!("tandem {args:?}: {e}"));
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "tandem {args:?} failed: {text}");
    text
}

/// The ITSP calls `number` through kamailio; whichever PBX span it
/// reaches answers (auto-answer) and the ITSP hangs up. Returns the
/// `incoming` event and the index (0: span 1, 1: span 2) of the PBX side
/// that got it.
fn itsp_call(lab: &Lab, pbx: &mut [Q931Peer; 2], name: &str, number: &str, rtp: u16) -> (Value, usize) {
    let mut uac = Sipp::start(
        lab,
        name,
        SippOpts {
            scenario: "uac_call.xml",
            ip: ITSP_FAR,
            port: 5070,
            rtp_echo_port: Some(rtp),
            pause_ms: 300,
            service: Some(number),
            remote: Some(&format!("{ITSP}:5060")),
            ..SippOpts::default()
        },
    );
    let mut got = None;
    assert!(
        wait_until(T, || {
            for (i, p) in pbx.iter_mut().enumerate() {
                if let Some(ev) = p.next_event(Duration::from_millis(20))
                    && ev["event"] == "incoming"
                {
                    got = Some((ev, i));
                    return true;
                }
            }
            false
        }),
        "no PBX span got the ITSP's call to {number}: {}\n{}\n{}",
        uac.messages(),
        pbx[0].context(),
        pbx[1].context()
    );
    let (ev, i) = got.expect("incoming");
    pbx[i].wait_for("released", T);
    uac.expect_success(T);
    (ev, i)
}

#[test]
fn the_e1_network_example_takes_pbx_calls_on_both_spans_to_the_itsp_as_e164_and_ddi_calls_to_the_pbx_over_its_group() {
    let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let lab = Lab::start(&example("examples/sim/pri-two-e1.toml"));
    // The ITSP: kamailio as registrar (digest, the example's credentials)
    // and proxy; the gateway's calls go on to sipp behind it.
    let itsp = Kamailio::start_with(
        &lab,
        &repo_path("tests/kamailio/kamailio.cfg"),
        &[
            ("LISTEN_IP", &format!("\"{ITSP}\"")),
            ("LISTEN_PORT", "5060"),
            ("TANDEM_IP", &format!("\"{TANDEM}\"")),
            ("TANDEM_PORT", "5060"),
            ("UAS_IP", &format!("\"{ITSP_FAR}\"")),
            ("UAS_PORT", "5060"),
            ("AUTH_USER", "\"tandem-gw\""),
            ("AUTH_PASS", "\"change-me\""),
        ],
    );
    let mut pbx = [pbx_side(&lab, 1), pbx_side(&lab, 2)];
    let tandem = start_tandem(&lab, &pri_e1_network());
    for p in pbx.iter_mut() {
        p.wait_for("link_up", Duration::from_secs(15));
    }
    tandem.expect_log("registered", T);
    assert!(itsp.log.count("REQ REGISTER") >= 2, "a challenged REGISTER, then one with credentials: {:?}", itsp.log.all());

    // The PBX calls out on each span, dialling as a UK extension does; the
    // ITSP is sent E.164 numbers.
    let mut far = Sipp::start(
        &lab,
        "itsp-far",
        SippOpts { scenario: "uas_answer.xml", ip: ITSP_FAR, port: 5060, rtp_echo_port: Some(7900), pause_ms: 100, calls: 2, ..SippOpts::default() },
    );
    let calls = [
        // span 1: national with the trunk prefix 0, calling number of national type
        ("01632960123 2079460100 ton 2", "+441632960123", "+442079460100"),
        // span 2: international with the prefix 00, calling number with the trunk prefix
        ("0033123456789 02079460150", "+33123456789", "+442079460150"),
    ];
    for (i, (args, called, calling)) in calls.iter().enumerate() {
        pbx[i].send_line(&format!("call {args}"));
        pbx[i].wait_for("connected", T);
        pbx[i].send_line("hangup 16");
        pbx[i].wait_for("released", T);
        assert!(wait_until(T, || far.received("BYE ").len() == i + 1), "the ITSP is sent a BYE: {}", far.messages());
        let invites = far.received("INVITE ");
        let invite = invites.get(i).unwrap_or_else(|| panic!("no INVITE {i} at the ITSP: {}", far.messages()));
        let rline = invite.lines().next().unwrap_or("");
        assert!(rline.starts_with(&format!("INVITE sip:{called}@")), "span {}: the called number as E.164: {rline}", i + 1);
        assert!(header(invite, "From").contains(calling), "span {}: the calling number as E.164 {calling}: {invite}", i + 1);
    }
    far.expect_success(T);

    // The ITSP calls DDIs: the group hunts least recently used channels
    // (span 1's first, as it lists them first), so a second call takes
    // another channel than the first; the ITSP's national form is made
    // E.164 by the trunk's e164 settings. The PBX is sent national numbers.
    let (first, a) = itsp_call(&lab, &mut pbx, "ddi1", "+442079460101", 7910);
    assert_eq!((a, first["called"].as_str()), (0, Some("2079460101")), "{first}");
    let (second, b) = itsp_call(&lab, &mut pbx, "ddi2", "02079460102", 7920);
    assert_eq!((b, second["called"].as_str()), (0, Some("2079460102")), "{second}");
    assert_ne!(first["channel"], second["channel"], "lru: not the channel picked last: {first} {second}");
    // Span 1 taken out of service by the operator: the group's calls go
    // over span 2.
    cli_ok(&lab, &["block", "1"]);
    let (third, c) = itsp_call(&lab, &mut pbx, "ddi3", "+442079460103", 7930);
    assert_eq!((c, third["called"].as_str()), (1, Some("2079460103")), "{third}");

    let cdrs = exactly_cdrs(&lab, 5);
    assert_eq!(cdrs.iter().filter(|c| c["route"] == "pbx-to-itsp").count(), 2, "{cdrs:?}");
    let ddi: Vec<&Value> = cdrs.iter().filter(|c| c["route"] == "ddi-to-pbx").collect();
    assert_eq!(ddi.len(), 3, "{cdrs:?}");
    let mut spans: Vec<(&str, i64)> =
        ddi.iter().map(|c| (c["outbound"]["interface"].as_str().unwrap_or(""), c["outbound"]["span"].as_i64().unwrap_or(0))).collect();
    spans.sort();
    assert_eq!(spans, [("pbx-a", 1), ("pbx-a", 1), ("pbx-b", 2)], "{cdrs:?}");
    assert!(cdrs.iter().all(|c| c["answer"].is_string()), "all answered: {cdrs:?}");
    drop(tandem);
}
