//! Trunk liveness: OPTIONS keepalive up/down and failover cause 38,
//! registration with digest, refresh, backoff and unregistration. Sans-IO.

mod sip_common;

use std::time::Duration;

use sip_common::*;
use tandem_gateway::call::model::*;
use tandem_gateway::sip::{SipOutput, TrunkState};
use tandem_sip::wire::HeaderAccess;

const REGISTRAR: &str = "198.51.100.20:5060";

fn keepalive_config() -> String {
    format!("{BASE}\n[[sip.trunk]]\nname = \"pbx\"\nhost = \"198.51.100.7:5060\"\noptions_interval_s = 30\noptions_down_after = 2\n")
}

fn register_config() -> String {
    format!(
        "{BASE}\n[[sip.trunk]]\nname = \"prov\"\nkind = \"register\"\nhost = \"198.51.100.20\"\nusername = \"gw1\"\npassword = \"pw\"\nregister_expires_s = 600\n"
    )
}

/// The newest OPTIONS probe sent (older probes may still be retransmitted).
fn latest_options(outs: &[SipOutput]) -> Option<tandem_sip::wire::Request> {
    requests(outs).into_iter().filter(|r| r.method.as_str() == "OPTIONS").max_by_key(|r| r.cseq().map(|c| c.seq))
}

fn setup() -> Setup {
    Setup { called: "5551000".into(), complete: true, ..Setup::default() }
}

fn trunk_events(outs: &[SipOutput]) -> Vec<String> {
    outs.iter()
        .filter_map(|o| match o {
            SipOutput::TrunkUp { trunk } => Some(format!("up {trunk}")),
            SipOutput::TrunkDown { trunk } => Some(format!("down {trunk}")),
            _ => None,
        })
        .collect()
}

#[test]
fn unanswered_options_take_the_trunk_down_and_originate_fails_over_with_38() {
    let mut h = H::new(&keepalive_config());
    let outs = h.advance(ms(1));
    let opt = requests(&outs).remove(0);
    assert_eq!(opt.method.as_str(), "OPTIONS");
    assert_eq!(opt.uri.to_string(), "sip:198.51.100.7");
    h.recv(PBX, &reply(&opt, 200, Some("x"), &[], ""));
    assert_eq!(h.side.trunk_status()[0].state, TrunkState::Up);

    // Two OPTIONS go unanswered (each counts as a failure after 10 s).
    let outs = h.advance(Duration::from_secs(95));
    assert_eq!(trunk_events(&outs), vec!["down pbx"]);
    assert_eq!(h.side.trunk_status()[0].state, TrunkState::Down);
    let leg = h.outbound_leg();
    h.side.originate(leg, "pbx", None, &setup(), h.now);
    let outs = h.drain();
    assert_eq!(released(&outs)[0].cause, Cause::NETWORK_OUT_OF_ORDER);
    assert!(methods(&outs).is_empty(), "nothing is sent to a trunk that is down");

    // An answer brings it back (any final status but 408 and 503).
    let outs = h.advance(Duration::from_secs(30));
    let opt = latest_options(&outs).expect("keepalive continues while down");
    let outs = h.recv(PBX, &reply(&opt, 503, Some("x"), &[], ""));
    assert!(trunk_events(&outs).is_empty(), "503 means the far end is not serving");
    let outs = h.advance(Duration::from_secs(30));
    let opt = latest_options(&outs).unwrap();
    let outs = h.recv(PBX, &reply(&opt, 404, Some("x"), &[], ""));
    assert_eq!(trunk_events(&outs), vec!["up pbx"]);
    let leg = h.outbound_leg();
    h.side.originate(leg, "pbx", None, &setup(), h.now);
    assert_eq!(methods(&h.drain()), vec!["INVITE"]);
}

#[test]
fn registration_answers_the_challenge_refreshes_at_75_percent_and_unregisters() {
    let mut h = H::new(&register_config());
    assert_eq!(h.side.trunk_status()[0].state, TrunkState::Unregistered);
    let leg = h.outbound_leg();
    h.side.originate(leg, "prov", None, &setup(), h.now);
    assert_eq!(released(&h.drain())[0].cause, Cause::NETWORK_OUT_OF_ORDER, "not registered: down");

    let outs = h.advance(ms(1));
    let reg = requests(&outs).remove(0);
    assert!(matches!(&outs[0], SipOutput::Transmit { dest, .. } if *dest == REGISTRAR.parse().unwrap()));
    assert_eq!(reg.method.as_str(), "REGISTER");
    assert_eq!(reg.uri.to_string(), "sip:198.51.100.20");
    assert_eq!(reg.header("Expires"), Some("600"));
    assert!(reg.header("To").unwrap().contains("sip:gw1@198.51.100.20"));
    let outs = h.recv(REGISTRAR, &reply(&reg, 401, Some("r"), &[("WWW-Authenticate", "Digest realm=\"prov\", nonce=\"abc\", qop=\"auth\"")], ""));
    let reg2 = requests(&outs).remove(0);
    assert_eq!(reg2.cseq().unwrap().seq, reg.cseq().unwrap().seq + 1);
    assert_eq!(reg2.call_id(), reg.call_id());
    assert!(reg2.header("Authorization").unwrap().contains("nonce=\"abc\""));
    let outs = h.recv(REGISTRAR, &reply(&reg2, 200, Some("r"), &[("Contact", "<sip:gw1@192.0.2.10:5060>;expires=600")], ""));
    assert_eq!(trunk_events(&outs), vec!["up prov"]);
    assert_eq!(h.side.trunk_status()[0].state, TrunkState::Registered);

    let outs = h.advance(Duration::from_secs(449));
    assert!(methods(&outs).is_empty());
    let outs = h.advance(Duration::from_secs(1));
    let reg3 = requests(&outs).remove(0);
    assert_eq!(reg3.method.as_str(), "REGISTER", "refresh at 75 % of 600 s");
    assert!(trunk_events(&outs).is_empty(), "still up while the refresh is in flight");
    assert_eq!(h.side.trunk_status()[0].state, TrunkState::Registered);
    assert_eq!(reg3.call_id(), reg.call_id());
    h.recv(REGISTRAR, &reply(&reg3, 200, Some("r"), &[("Expires", "600")], ""));
    assert_eq!(h.side.trunk_status()[0].state, TrunkState::Registered);

    h.side.shutdown(h.now);
    let outs = h.drain();
    assert_eq!(trunk_events(&outs), vec!["down prov"]);
    let unreg = requests(&outs).remove(0);
    assert_eq!(unreg.header("Expires"), Some("0"));
    h.recv(REGISTRAR, &reply(&unreg, 200, Some("r"), &[], ""));
    assert_eq!(h.side.trunk_status()[0].state, TrunkState::Unregistered);
    assert!(methods(&h.advance(Duration::from_secs(3600))).is_empty(), "nothing more after shutdown");
}

#[test]
fn refused_registration_is_retried_with_backoff_and_bad_credentials_stop_at_one_answer() {
    let mut h = H::new(&register_config());
    let reg = requests(&h.advance(ms(1))).remove(0);
    let chal = [("WWW-Authenticate", "Digest realm=\"prov\", nonce=\"n1\"")];
    let outs = h.recv(REGISTRAR, &reply(&reg, 401, Some("r"), &chal, ""));
    let reg2 = requests(&outs).remove(0);
    let outs = h.recv(REGISTRAR, &reply(&reg2, 401, Some("r"), &chal, ""));
    assert!(methods(&outs).is_empty(), "the same nonce is not answered twice");
    let outs = h.advance(Duration::from_secs(29));
    assert!(methods(&outs).is_empty());
    let outs = h.advance(Duration::from_secs(1));
    let reg3 = requests(&outs).remove(0);
    assert_eq!(reg3.method.as_str(), "REGISTER", "retried after 30 s");
    h.recv(REGISTRAR, &reply(&reg3, 403, Some("r"), &[], ""));
    assert!(methods(&h.advance(Duration::from_secs(59))).is_empty());
    assert_eq!(methods(&h.advance(Duration::from_secs(1))), vec!["REGISTER"], "then after 60 s");
    let reg4 = requests(&h.drain()).pop();
    assert!(reg4.is_none());
}

#[test]
fn registration_over_tls_registers_the_tls_listener_as_contact() {
    let toml = register_config().replace("register_expires_s = 600", "register_expires_s = 600\ntransport = \"tls\"").replace(
        "listen = [\"udp:192.0.2.10:5060\"]",
        "listen = [\"udp:192.0.2.10:5060\", \"tls:192.0.2.10:5061\"]\ntls_cert = \"c.pem\"\ntls_key = \"k.pem\"",
    );
    let mut h = H::new(&toml);
    let reg = requests(&h.advance(ms(1))).remove(0);
    assert_eq!(reg.method.as_str(), "REGISTER");
    assert!(reg.header("Via").unwrap().starts_with("SIP/2.0/TLS 192.0.2.10:5061;"), "{:?}", reg.header("Via"));
    assert!(reg.header("Contact").unwrap().contains("@192.0.2.10:5061;transport=tls"), "{:?}", reg.header("Contact"));
}

#[test]
fn the_registrar_may_send_us_calls_on_a_register_trunk() {
    let mut h = H::new(&register_config());
    let outs = h.recv(REGISTRAR, &Msg::invite("c-reg").text());
    assert!(incoming(&outs).is_some());
    let outs = h.recv(PBX, &Msg::invite("c-reg2").text());
    assert_eq!(statuses(&outs), vec![403]);
}

#[test]
fn a_registered_trunk_gets_calls_on_its_contact_and_places_calls_from_its_domain() {
    let mut h = H::new(&register_config());
    let reg = requests(&h.advance(ms(1))).remove(0);
    h.recv(REGISTRAR, &reply(&reg, 200, Some("r"), &[("Expires", "600")], ""));
    let mut m = Msg::invite("c-did");
    m.ruri = "sip:gw1@192.0.2.10:5060";
    m.to = "<sip:+12125551000@198.51.100.20>";
    let (_, got) = incoming(&h.recv(REGISTRAR, &m.text())).expect("Incoming");
    assert_eq!(got.called, "+12125551000", "the dialled number comes from To");

    let leg = h.outbound_leg();
    let s = Setup { calling: Some(Party::number("+12125559999")), ..setup() };
    h.side.originate(leg, "prov", None, &s, h.now);
    let inv = requests(&h.drain()).remove(0);
    assert_eq!(inv.uri.to_string(), "sip:5551000@198.51.100.20");
    assert_eq!(inv.from_addr().unwrap().uri.to_string(), "sip:+12125559999@198.51.100.20");
}
