//! The SIP side as UAC facing a 3xx: a 301/302 whose first Contact is a
//! `sip:`/`sips:` URI with a number reports `Redirected` to call control
//! before the leg's `Released`; any other 3xx is a plain failure. Sans-IO.

mod sip_common;

use sip_common::*;
use tandem_gateway::call::model::*;
use tandem_gateway::sip::SipOutput;

fn setup(called: &str) -> Setup {
    Setup { called: called.into(), complete: true, calling: Some(Party::number("+12125551234")), ..Setup::default() }
}

/// Originates to 5551234 on trunk "pbx" and answers the INVITE with
/// `status` and these headers; returns the outputs.
fn answer_with(trunk_keys: &str, status: u16, headers: &[(&str, &str)]) -> Vec<SipOutput> {
    let mut h = H::new(&peer_config(trunk_keys));
    let leg = h.outbound_leg();
    h.side.originate(leg, "pbx", None, &setup("5551234"), h.now);
    let outs = h.drain();
    let inv = requests(&outs).into_iter().find(|r| r.method.as_str() == "INVITE").unwrap_or_else(|| panic!("no INVITE: {outs:?}"));
    let outs = h.recv(PBX, &reply(&inv, status, Some("b1"), headers, ""));
    assert_eq!(h.ports.lock().unwrap().released.len(), 1, "the leg's RTP port is freed");
    outs
}

fn moved(to: &str, reason: RedirectReason) -> LegEvent {
    LegEvent::Redirected { to: to.into(), reason }
}

fn rejected(wire: &str) -> LegEvent {
    LegEvent::Released(Release { cause: Cause::CALL_REJECTED, wire: Some(wire.into()) })
}

#[test]
fn a_302_with_a_sip_contact_number_reports_redirected_then_released_and_is_acked() {
    let outs = answer_with("", 302, &[("Contact", "<sip:5551000@198.51.100.8>")]);
    assert_eq!(events(&outs), vec![moved("5551000", RedirectReason::Unconditional), rejected("302 Moved Temporarily")]);
    let reqs = requests(&outs);
    assert!(reqs.iter().any(|r| r.method.as_str() == "ACK"), "the 3xx is ACKed: {reqs:?}");
}

#[test]
fn a_301_with_a_sips_contact_and_a_diversion_reason_is_redirected_with_that_reason() {
    let outs =
        answer_with("", 301, &[("Contact", "<sips:+15551000@198.51.100.8;transport=tls>"), ("Diversion", "<sip:5551234@198.51.100.7>;reason=deflection")]);
    assert_eq!(events(&outs)[0], moved("+15551000", RedirectReason::Deflection));
}

#[test]
fn the_redirect_number_is_normalised_by_the_trunk_e164_settings() {
    let outs =
        answer_with("e164 = { country_code = \"1\", national_prefix = \"1\", international_prefix = \"011\" }", 302, &[("Contact", "<sip:12125550199@pbx>")]);
    assert_eq!(events(&outs)[0], moved("+12125550199", RedirectReason::Unconditional));
}

#[test]
fn a_3xx_without_a_usable_contact_number_is_a_plain_failure() {
    for contact in [None, Some("<tel:+15551000>"), Some("<sip:198.51.100.8>"), Some("<sip:voicemail@198.51.100.8>")] {
        let headers: Vec<(&str, &str)> = contact.iter().map(|c| ("Contact", *c)).collect();
        let outs = answer_with("", 302, &headers);
        assert_eq!(events(&outs), vec![rejected("302 Moved Temporarily")], "Contact {contact:?}");
    }
}
