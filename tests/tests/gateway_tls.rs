//! End to end over SIP-over-TLS: a PRI from the simulated carrier, bridged
//! by `tandem run` to kamailio over TLS (kamailio's `tls` module), which
//! proxies to sipp over UDP, and back.
//!
//! The certificates are made at test time with `openssl` in the scratch
//! directory: a CA, a server certificate for kamailio (IP SAN 127.0.0.21)
//! and one for tandem (IP SAN 127.0.0.5). Tandem verifies kamailio's
//! certificate against the CA and offers its own as a client; kamailio
//! verifies tandem's, both as a server (when tandem offers it) and as a
//! client of tandem's TLS listener.
//!
//! Addresses: tandem `127.0.0.5:5060` (udp) and `tls:127.0.0.5:5061`;
//! kamailio `udp:127.0.0.21:5090` and `tls:127.0.0.21:5091`
//! (tests/kamailio/kamailio-tls.cfg); the PBX (sipp) `127.0.0.18:5070`, a
//! SIP caller (sipp) `127.0.0.19:5070`. A lock runs the tests one at a time.

use std::path::Path;
use std::process::Command;
use std::sync::Mutex;
use std::time::Duration;

use tandem_tests::gateway::{Kamailio, Lab, Sipp, SippOpts, Tandem, header, start_pri, wait_until};
use tandem_tests::q931peer::Q931Peer;
use tandem_tests::repo_path;
use tandem_tests::rigs::{PriSipConfig, cdrs, peer_trunk, pri_sim, routes_both_ways};

static SERIAL: Mutex<()> = Mutex::new(());

const T: Duration = Duration::from_secs(10);

/// The daemon's config: one NI-2 PRI (user side) on span 1, kamailio as a
/// TLS trunk, routes both ways.
fn config() -> String {
    PriSipConfig {
        listen: vec!["udp:127.0.0.5:5060".into(), "tls:127.0.0.5:5061".into()],
        sip_extra: "tls_cert = \"@DIR@/tandem.pem\"\ntls_key = \"@DIR@/tandem.key\"\ntls_ca = \"@DIR@/ca.pem\"".into(),
        trunks: peer_trunk("kamailio", "127.0.0.21:5091", "\"127.0.0.21\"", "transport = \"tls\"\noptions_interval_s = 0"),
        routes: routes_both_ways("kamailio", r#"[{ trunk = "kamailio" }]"#),
        ..PriSipConfig::new("127.0.0.5", "22000-22999")
    }
    .render()
}

/// Run openssl with these arguments in `dir`; panics with its output on failure.
fn openssl(dir: &Path, args: &[&str]) {
    let out = Command::new("openssl").args(args).current_dir(dir).output().expect("run openssl (setup.sh installs it)");
    assert!(out.status.success(), "openssl {args:?} failed:\n{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
}

/// A P-256 key `NAME.key` and a certificate `NAME.pem` for the IP address
/// `ip` (CN and IP SAN), signed by the CA in `ca.pem`/`ca.key`, good for
/// both server and client authentication.
fn leaf_cert(dir: &Path, name: &str, ip: &str) {
    let ext = format!(
        "basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature,keyAgreement\nextendedKeyUsage=serverAuth,clientAuth\nsubjectAltName=IP:{ip}\n"
    );
    std::fs::write(dir.join(format!("{name}.ext")), ext).expect("write ext file");
    let (key, csr, pem, extf) = (format!("{name}.key"), format!("{name}.csr"), format!("{name}.pem"), format!("{name}.ext"));
    openssl(dir, &["ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", &key]);
    openssl(dir, &["req", "-new", "-key", &key, "-subj", &format!("/CN={ip}"), "-out", &csr]);
    openssl(
        dir,
        &["x509", "-req", "-in", &csr, "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial", "-days", "2", "-sha256", "-extfile", &extf, "-out", &pem],
    );
}

/// The test PKI in the lab's directory: `ca.pem`, `kamailio.pem`/`.key`
/// (127.0.0.21) and `tandem.pem`/`.key` (127.0.0.5).
fn make_certs(lab: &Lab) {
    let dir = lab.path("");
    openssl(&dir, &["ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", "ca.key"]);
    openssl(
        &dir,
        &[
            "req",
            "-x509",
            "-new",
            "-key",
            "ca.key",
            "-subj",
            "/CN=Tandem test CA",
            "-days",
            "2",
            "-sha256",
            "-addext",
            "basicConstraints=critical,CA:TRUE",
            "-addext",
            "keyUsage=critical,keyCertSign,cRLSign",
            "-out",
            "ca.pem",
        ],
    );
    leaf_cert(&dir, "kamailio", "127.0.0.21");
    leaf_cert(&dir, "tandem", "127.0.0.5");
}

/// kamailio's tls module profile: its own certificate both ways; as a
/// server it asks for a client certificate and verifies one if offered,
/// as a client it requires and verifies the server's.
fn kamailio_tls_cfg(lab: &Lab) -> String {
    let d = lab.path("");
    let (ca, cert, key) = (d.join("ca.pem"), d.join("kamailio.pem"), d.join("kamailio.key"));
    let (ca, cert, key) = (ca.display(), cert.display(), key.display());
    format!(
        "[server:default]\nmethod = TLSv1.2+\nverify_certificate = yes\nrequire_certificate = no\nprivate_key = {key}\ncertificate = {cert}\nca_list = {ca}\n\n\
         [client:default]\nmethod = TLSv1.2+\nverify_certificate = yes\nrequire_certificate = yes\nprivate_key = {key}\ncertificate = {cert}\nca_list = {ca}\n"
    )
}

/// Everything of a test: simulator, kamailio over TLS, the carrier's switch
/// (q931-peer, network side) and tandem, with the D-channel up.
struct Rig {
    lab: Lab,
    kamailio: Kamailio,
    switch: Q931Peer,
    tandem: Tandem,
}

fn rig() -> Rig {
    let lab = Lab::start(&pri_sim("t1"));
    make_certs(&lab);
    let tls_cfg = lab.path("kamailio-tls.cfg");
    std::fs::write(&tls_cfg, kamailio_tls_cfg(&lab)).expect("write kamailio's tls.cfg");
    let tls_cfg_define = format!("\"{}\"", tls_cfg.display());
    let kamailio = Kamailio::start_with(
        &lab,
        &repo_path("tests/kamailio/kamailio-tls.cfg"),
        &[
            ("LISTEN_IP", "127.0.0.21"),
            ("UDP_PORT", "5090"),
            ("TLS_PORT", "5091"),
            ("TLS_CFG", &tls_cfg_define),
            ("TANDEM_IP", "\"127.0.0.5\""),
            ("TANDEM_TLS_PORT", "5061"),
            ("UAS_IP", "\"127.0.0.18\""),
            ("UAS_PORT", "5070"),
        ],
    );
    let (switch, tandem) = start_pri(&lab, &config(), "ni2", &[]);
    Rig { lab, kamailio, switch, tandem }
}

/// Wait for a kamailio log line containing every one of `needles`.
fn kamailio_logged(k: &Kamailio, needles: &[&str]) -> String {
    let mut found = None;
    wait_until(T, || {
        found = k.log.all().into_iter().find(|l| needles.iter().all(|n| l.contains(n)));
        found.is_some()
    });
    found.unwrap_or_else(|| panic!("kamailio never logged a line with {needles:?}; its log:\n{}", k.log.all().join("\n")))
}

#[test]
fn pri_call_goes_over_tls_through_kamailio_to_sip_is_answered_and_cleared() {
    let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let mut r = rig();
    // The PBX copies kamailio's Record-Route into its 200, so tandem's ACK
    // and BYE go back through kamailio over TLS too.
    let scen = r.lab.path("uas_answer_rr.xml");
    let text = std::fs::read_to_string(repo_path("tests/sipp/uas_answer.xml")).expect("scenario");
    let with_rr = text.replacen(
        "Contact: <sip:[local_ip]:[local_port];transport=[transport]>\n      Content-Type",
        "[last_Record-Route:]\n      Contact: <sip:[local_ip]:[local_port];transport=[transport]>\n      Content-Type",
        1,
    );
    assert_ne!(with_rr, text, "the 200 of uas_answer.xml changed shape");
    std::fs::write(&scen, with_rr).expect("write scenario");
    let mut pbx = Sipp::start(
        &r.lab,
        "pbx",
        SippOpts { scenario: scen.to_str().expect("utf-8"), ip: "127.0.0.18", rtp_echo_port: Some(7000), pause_ms: 100, ..SippOpts::default() },
    );
    r.switch.send_line("call 2125551234 9175550000 name Alice");
    let conn = r.switch.wait_for("connected", T);
    assert!(conn["channel"].as_u64().is_some(), "{conn}");
    std::thread::sleep(Duration::from_millis(300));
    r.switch.send_line("hangup 16");
    let rel = r.switch.wait_for("released", T);
    assert_eq!(rel["cause"], 16, "{rel}");
    pbx.expect_success(T);
    // Kamailio took the INVITE, the ACK and the BYE from tandem over TLS.
    kamailio_logged(&r.kamailio, &["REQ INVITE sip:2125551234@", "from 127.0.0.5:", "over tls"]);
    // Tandem offered its certificate as a client, and kamailio checked it against the CA.
    kamailio_logged(&r.kamailio, &["TLS peer verified=1 cn=127.0.0.5"]);
    kamailio_logged(&r.kamailio, &["REQ ACK ", "from 127.0.0.5:", "over tls"]);
    kamailio_logged(&r.kamailio, &["REQ BYE ", "from 127.0.0.5:", "over tls"]);
    let invite = &pbx.received("INVITE ")[0];
    assert!(invite.lines().next().unwrap_or("").contains("2125551234"), "called number in the Request-URI: {invite}");
    assert!(header(invite, "From").contains("9175550000") && header(invite, "From").contains("Alice"), "{invite}");
    assert!(invite.contains("SIP/2.0/TLS 127.0.0.5:5061;"), "tandem's Via names its TLS listener: {invite}");
    assert!(header(invite, "Contact").contains("@127.0.0.5:5061;transport=tls"), "tandem's Contact is its TLS listener: {invite}");
    assert!(!pbx.received("BYE ").is_empty(), "{}", pbx.messages());
    let c = &cdrs(&r.lab, 1)[0];
    assert!(c["answer"].is_string(), "answered: {c}");
    assert_eq!(c["outbound"]["interface"], "kamailio", "{c}");
    assert_eq!(c["released_by"], "inbound", "{c}");
}

#[test]
fn sip_call_via_kamailio_over_tls_reaches_pri_is_answered_and_cleared() {
    let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let mut r = rig();
    let mut uac = Sipp::start(
        &r.lab,
        "uac",
        SippOpts {
            scenario: "uac_call.xml",
            ip: "127.0.0.19",
            service: Some("2125550142"),
            remote: Some("127.0.0.21:5090"),
            rtp_echo_port: Some(7100),
            keys: &[("caller", "9175550000"), ("from_name", "\"Bob\"")],
            pause_ms: 500,
            ..SippOpts::default()
        },
    );
    let inc = r.switch.wait_for("incoming", T);
    assert!(inc["called"].as_str().unwrap_or("").ends_with("2125550142"), "{inc}");
    assert!(inc["calling"].as_str().unwrap_or("").ends_with("9175550000"), "{inc}");
    r.switch.send_line("alerting");
    r.switch.send_line("answer");
    let d = r.switch.wait_for("disconnecting", T);
    assert_eq!(d["cause"], 16, "{d}");
    r.switch.wait_for("released", T);
    uac.expect_success(T);
    // Kamailio got tandem's answer over TLS.
    kamailio_logged(&r.kamailio, &["REPLY 200 INVITE from 127.0.0.5:5061", "over tls"]);
    kamailio_logged(&r.kamailio, &["REPLY 200 BYE from 127.0.0.5:5061", "over tls"]);
    // sipp's ACK and BYE went to tandem's Contact, which kamailio reached over TLS.
    let ok = &uac.received("SIP/2.0 200")[0];
    assert!(header(ok, "Contact").contains("@127.0.0.5:5061;transport=tls"), "tandem's Contact is its TLS listener: {ok}");
    kamailio_logged(&r.kamailio, &["REQ ACK sip:tandem@127.0.0.5:5061;transport=tls"]);
    let c = &cdrs(&r.lab, 1)[0];
    assert_eq!(c["direction"], "sip-to-tdm", "{c}");
    assert!(c["answer"].is_string(), "{c}");
    assert_eq!(c["inbound"]["interface"], "kamailio", "{c}");
}

#[test]
fn plain_tcp_to_the_tls_port_gets_no_sip_answer() {
    use std::io::{Read, Write};
    let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let mut r = rig();
    let mut s = std::net::TcpStream::connect("127.0.0.5:5061").expect("connect to tandem's TLS port");
    s.set_read_timeout(Some(Duration::from_secs(7))).expect("timeout");
    let req = "OPTIONS sip:127.0.0.5:5061 SIP/2.0\r\nVia: SIP/2.0/TCP 127.0.0.21:40000;branch=z9hG4bK-plain\r\nFrom: <sip:probe@127.0.0.21>;tag=1\r\n\
               To: <sip:127.0.0.5>\r\nCall-ID: plain-tcp-probe\r\nCSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n";
    s.write_all(req.as_bytes()).expect("write");
    let mut got = Vec::new();
    // The handshake fails: tandem closes the connection (or says nothing
    // until the read times out); either way, no SIP.
    let _ = s.read_to_end(&mut got);
    assert!(!String::from_utf8_lossy(&got).contains("SIP/2.0"), "a SIP answer over plain TCP on the TLS port: {:?}", String::from_utf8_lossy(&got));
    assert!(r.tandem.running(), "tandem survives a plain-TCP peer on its TLS port");
}
