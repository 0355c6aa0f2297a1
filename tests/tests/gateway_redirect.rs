//! End to end: a SIP 302 on an outbound call is followed. The carrier
//! (q931-peer) calls a DID over the PRI; the PBX (sipp) redirects the
//! INVITE to another number; tandem routes that number again (to the
//! mobile trunk, sipp on another address) with a Diversion naming the
//! original number; one CDR shows the call with two attempts.
//!
//! Addresses: tandem `127.0.0.90:5060`; the PBX `127.0.0.91:5070`; the
//! mobile gateway `127.0.0.92:5070`.

use std::sync::Mutex;
use std::time::Duration;

use tandem_tests::gateway::{Lab, Sipp, SippOpts, header};
use tandem_tests::rigs::{PriRig, PriSipConfig, cdrs, peer_trunk, pri_sim};

/// The tests share tandem's and the PBX's addresses: one at a time.
static SERIAL: Mutex<()> = Mutex::new(());

const T: Duration = Duration::from_secs(10);

/// DIDs 212555XXXX go to the PBX, 917555XXXX to the mobile trunk (both
/// national and `+1` forms); nothing else is routed from the PRI.
fn config() -> String {
    let trunks = format!(
        "{}\n{}",
        peer_trunk("pbx", "127.0.0.91:5070", "\"127.0.0.91\"", "options_interval_s = 0"),
        peer_trunk("mobile", "127.0.0.92:5070", "\"127.0.0.92\"", "options_interval_s = 0")
    );
    let routes = "[[route]]\nname = \"did\"\nfrom = \"pstn\"\ncalled = [\"212555XXXX\", \"+1212555XXXX\"]\ntarget = [{ trunk = \"pbx\" }]\n\n\
                  [[route]]\nname = \"mobile\"\nfrom = \"pstn\"\ncalled = [\"917555XXXX\", \"+1917555XXXX\"]\ntarget = [{ trunk = \"mobile\" }]\n";
    PriSipConfig { trace: true, trunks, routes: routes.into(), ..PriSipConfig::new("127.0.0.90", "23000-23099") }.render()
}

#[test]
fn a_302_from_the_pbx_is_followed_to_the_routed_number_with_diversion() {
    let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let mut r = PriRig::start_in(Lab::start(&pri_sim("t1")), &config(), "ni2", &[]);
    let mut pbx =
        Sipp::start(&r.lab, "pbx", SippOpts { scenario: "uas_redirect.xml", ip: "127.0.0.91", keys: &[("redirect_to", "9175551000")], ..SippOpts::default() });
    let mut mobile = Sipp::start(
        &r.lab,
        "mobile",
        SippOpts { scenario: "uas_answer.xml", ip: "127.0.0.92", rtp_echo_port: Some(7000), pause_ms: 100, ..SippOpts::default() },
    );

    r.call_connected("2125551234 3125550100");
    pbx.expect_success(T);
    r.hang_up();
    mobile.expect_success(T);

    let first = &pbx.received("INVITE ")[0];
    assert!(first.lines().next().unwrap_or("").contains("2125551234"), "the DID goes to the PBX: {first}");
    let second = &mobile.received("INVITE ")[0];
    assert!(second.lines().next().unwrap_or("").contains("9175551000"), "the redirect number goes to the mobile trunk: {second}");
    let diversion = header(second, "Diversion");
    assert!(diversion.contains("2125551234") && diversion.contains("reason=unconditional"), "Diversion names the original number: {second}");

    let c = &cdrs(&r.lab, 1)[0];
    assert_eq!(c["attempts"], 2, "{c}");
    assert!(c["called"].as_str().is_some_and(|n| n.ends_with("2125551234")), "{c}");
    assert!(c["called_out"].as_str().is_some_and(|n| n.ends_with("9175551000")), "{c}");
    assert_eq!(c["route"], "mobile", "{c}");
    assert!(c["answer"].is_string(), "answered: {c}");
}

#[test]
fn a_302_to_a_number_no_route_allows_releases_the_carrier_call() {
    let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let mut r = PriRig::start_in(Lab::start(&pri_sim("t1")), &config(), "ni2", &[]);
    let mut pbx =
        Sipp::start(&r.lab, "pbx", SippOpts { scenario: "uas_redirect.xml", ip: "127.0.0.91", keys: &[("redirect_to", "4155550000")], ..SippOpts::default() });
    r.switch.send_line("call 2125551234 3125550100");
    let rel = r.switch.wait_for("released", T);
    assert_eq!(tandem_tests::rigs::cause(&rel), 21, "{rel}");
    pbx.expect_success(T);
    let c = &cdrs(&r.lab, 1)[0];
    assert_eq!((c["attempts"].as_u64(), c["cause"].as_u64()), (Some(1), Some(21)), "{c}");
}
