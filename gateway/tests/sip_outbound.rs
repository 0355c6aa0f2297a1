//! The SIP side as UAC: originate → INVITE, responses → leg events,
//! failures → causes, CANCEL, BYE, PRACK, digest, hold. Sans-IO.

mod sip_common;

use std::time::Duration;

use sip_common::*;
use tandem_gateway::call::model::*;
use tandem_gateway::sip::SipOutput;
use tandem_sip::wire::{HeaderAccess, Request};

const ANSWER: &str = "v=0\r\no=- 2 2 IN IP4 198.51.100.7\r\ns=-\r\nc=IN IP4 198.51.100.7\r\nt=0 0\r\nm=audio 42000 RTP/AVP 0 101\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:101 telephone-event/8000\r\na=ptime:20\r\na=sendrecv\r\n";

fn setup(called: &str) -> Setup {
    Setup {
        called: called.into(),
        complete: true,
        calling: Some(Party { number: "+12125551234".into(), name: Some("Alice".into()), ..Party::default() }),
        redirect: None,
        bearer: Bearer::Speech,
        alert_info: None,
    }
}

/// Originates and returns the leg, the INVITE and the outputs.
fn originate(h: &mut H, s: &Setup, uri: Option<&str>) -> (LegRef, Request, Vec<SipOutput>) {
    let leg = h.outbound_leg();
    h.side.originate(leg, "pbx", uri, s, h.now);
    let outs = h.drain();
    let inv = requests(&outs).into_iter().find(|r| r.method.as_str() == "INVITE").unwrap_or_else(|| panic!("no INVITE: {outs:?}"));
    (leg, inv, outs)
}

fn fail_with(status: u16, extra: &[(&str, &str)]) -> Release {
    let mut h = H::new(&peer_config(""));
    let (_, inv, _) = originate(&mut h, &setup("5551000"), None);
    let outs = h.recv(PBX, &reply(&inv, status, Some("b1"), extra, ""));
    let r = released(&outs);
    assert_eq!(r.len(), 1, "{outs:?}");
    assert_eq!(h.ports.lock().unwrap().released.len(), 1);
    r[0].clone()
}

#[test]
fn invite_carries_numbers_headers_and_our_offer() {
    let mut h = H::new(&peer_config(""));
    let (_, inv, outs) = originate(&mut h, &setup("5551000"), None);
    assert!(matches!(&outs[0], SipOutput::Leg(_, LegEvent::Identity(i)) if i.interface == "pbx" && i.sip_call_id.is_some()));
    assert!(matches!(outs.iter().find(|o| matches!(o, SipOutput::Transmit { .. })), Some(SipOutput::Transmit { dest, .. }) if *dest == PBX.parse().unwrap()));
    assert_eq!(inv.uri.to_string(), "sip:5551000@198.51.100.7");
    assert_eq!(inv.to_addr().unwrap().uri, inv.uri);
    let from = inv.from_addr().unwrap();
    assert_eq!(from.display.as_deref(), Some("Alice"));
    assert_eq!(from.uri.to_string(), "sip:+12125551234@192.0.2.10");
    assert!(from.tag().is_some());
    assert!(inv.header("P-Asserted-Identity").unwrap().contains("sip:+12125551234@192.0.2.10"));
    assert_eq!(inv.header("Privacy"), None);
    assert!(inv.option_tags("Supported").contains(&"100rel".to_string()));
    assert!(inv.header("Allow").unwrap().contains("PRACK"));
    assert_eq!(inv.header("User-Agent"), Some("Tandem"));
    assert!(inv.header("Contact").unwrap().contains("192.0.2.10:5060"));
    let sdp = String::from_utf8_lossy(&inv.body);
    assert!(sdp.contains("m=audio 10002 RTP/AVP 0 8 101") && sdp.contains("a=ptime:20"), "{sdp}");
}

#[test]
fn invite_to_a_tls_trunk_names_the_tls_listener_in_via_and_contact() {
    let toml = peer_config("transport = \"tls\"").replace(
        "listen = [\"udp:192.0.2.10:5060\"]",
        "listen = [\"udp:192.0.2.10:5060\", \"tls:192.0.2.10:5061\"]\ntls_cert = \"c.pem\"\ntls_key = \"k.pem\"",
    );
    let mut h = H::new(&toml);
    let (_, inv, _) = originate(&mut h, &setup("5551000"), None);
    assert!(inv.header("Via").unwrap().starts_with("SIP/2.0/TLS 192.0.2.10:5061;"), "{:?}", inv.header("Via"));
    assert_eq!(inv.header("Contact"), Some("<sip:tandem@192.0.2.10:5061;transport=tls>"));
}

#[test]
fn restricted_caller_gets_anonymous_from_with_pai_and_privacy_id() {
    let mut h = H::new(&peer_config(""));
    let mut s = setup("5551000");
    s.calling.as_mut().unwrap().presentation = Presentation::Restricted;
    s.redirect = Some(Redirect { from: Party::number("5551001"), reason: RedirectReason::Busy, count: 1 });
    let (_, inv, _) = originate(&mut h, &s, Some("sip:{called}@pbx.example.com;user=phone"));
    assert_eq!(inv.uri.to_string(), "sip:5551000@pbx.example.com;user=phone");
    assert_eq!(inv.from_addr().unwrap().uri.to_string(), "sip:anonymous@anonymous.invalid");
    assert!(inv.header("P-Asserted-Identity").unwrap().contains("+12125551234"));
    assert_eq!(inv.header("Privacy"), Some("id"));
    assert_eq!(inv.header("Diversion"), Some("<sip:5551001@192.0.2.10>;reason=user-busy;counter=1"));

    let mut h = H::new(&peer_config("privacy = \"anonymous-from\""));
    let (_, inv, _) = originate(&mut h, &s, None);
    assert_eq!(inv.from_addr().unwrap().uri.to_string(), "sip:anonymous@anonymous.invalid");
    assert_eq!(inv.header("P-Asserted-Identity"), None);
}

#[test]
fn a_redirecting_number_goes_out_as_history_info_when_the_trunk_asks() {
    let mut s = setup("5551000");
    s.redirect = Some(Redirect { from: Party::number("5551001"), reason: RedirectReason::NoReply, count: 1 });
    let mut h = H::new(&peer_config("redirect_header = \"history-info\""));
    let (_, inv, _) = originate(&mut h, &s, None);
    assert_eq!(inv.header("Diversion"), None);
    let hi = inv.header("History-Info").expect("History-Info");
    assert!(hi.starts_with("<sip:5551001@192.0.2.10>;index=1, <sip:5551000@"), "{hi}");
    assert!(hi.contains(";cause=408>;index=1.1"), "{hi}");
    // What we send reads back as the same redirection.
    let r = tandem_gateway::sip::map::redirect(&inv, None).expect("a redirection");
    assert_eq!((r.from.number.as_str(), r.reason), ("5551001", RedirectReason::NoReply));

    let mut h = H::new(&peer_config("redirect_header = \"both\""));
    let (_, inv, _) = originate(&mut h, &s, None);
    assert!(inv.header("Diversion").is_some() && inv.header("History-Info").is_some());
}

#[test]
fn outbound_proxy_gets_the_request_with_a_route_and_the_ruri_unchanged() {
    let mut h = H::new(&peer_config("outbound_proxy = \"sip:198.51.100.99:5070\""));
    let leg = h.outbound_leg();
    h.side.originate(leg, "pbx", None, &setup("5551000"), h.now);
    let outs = h.drain();
    let (dest, inv) = outs
        .iter()
        .find_map(|o| match o {
            SipOutput::Transmit { dest, .. } => Some((*dest, requests(std::slice::from_ref(o)).remove(0))),
            _ => None,
        })
        .unwrap();
    assert_eq!(dest, "198.51.100.99:5070".parse().unwrap());
    assert_eq!(inv.uri.to_string(), "sip:5551000@198.51.100.7");
    assert_eq!(inv.header("Route"), Some("<sip:198.51.100.99:5070;lr>"));
}

#[test]
fn provisional_and_final_responses_become_events_and_2xx_is_acked() {
    let mut h = H::new(&peer_config(""));
    let (leg, inv, _) = originate(&mut h, &setup("5551000"), None);
    let outs = h.recv(PBX, &reply(&inv, 100, None, &[], ""));
    assert_eq!(events(&outs), vec![LegEvent::Proceeding]);
    let outs = h.recv(PBX, &reply(&inv, 180, Some("b1"), &[("Contact", "<sip:bob@198.51.100.7>")], ""));
    assert_eq!(events(&outs), vec![LegEvent::Alerting { inband: false }]);
    let outs = h.recv(
        PBX,
        &reply(&inv, 200, Some("b1"), &[("Contact", "<sip:bob@198.51.100.7>"), ("P-Asserted-Identity", "\"Bob\" <sip:5551000@198.51.100.7>")], ANSWER),
    );
    let ack = &requests(&outs)[0];
    assert_eq!(ack.method.as_str(), "ACK");
    assert_eq!(ack.cseq().unwrap().seq, 1);
    assert_eq!(ack.uri.to_string(), "sip:bob@198.51.100.7");
    let evs = events(&outs);
    let LegEvent::Media(MediaEndpoint::Rtp(p)) = &evs[0] else { panic!("{evs:?}") };
    assert_eq!((p.remote, p.codec, p.dtmf_payload_type), (Some("198.51.100.7:42000".parse().unwrap()), Codec::Pcmu, Some(101)));
    let LegEvent::Answered { connected: Some(c) } = &evs[1] else { panic!("{evs:?}") };
    assert_eq!((c.number.as_str(), c.name.as_deref()), ("5551000", Some("Bob")));

    h.side.command(leg, LegCommand::Release(Release::cause(Cause::NORMAL_CLEARING)), h.now);
    let outs = h.drain();
    let bye = &requests(&outs)[0];
    assert_eq!(bye.method.as_str(), "BYE");
    assert_eq!(bye.header("Reason"), Some("Q.850;cause=16;text=\"Normal call clearing\""));
    assert_eq!(released(&outs)[0].cause, Cause::NORMAL_CLEARING);
    h.recv(PBX, &reply(bye, 200, None, &[], ""));
    assert_eq!(h.ports.lock().unwrap().released.len(), 1);
}

#[test]
fn bye_from_the_far_end_releases_with_its_reason() {
    let mut h = H::new(&peer_config(""));
    let (_, inv, _) = originate(&mut h, &setup("5551000"), None);
    h.recv(PBX, &reply(&inv, 200, Some("b1"), &[("Contact", "<sip:bob@198.51.100.7>")], ANSWER));
    let tag = inv.from_addr().unwrap().tag().unwrap().to_owned();
    let call_id = inv.call_id().unwrap().to_owned();
    let mut bye = Msg::in_dialog("BYE", &call_id, &tag, 1, "z9hG4bKfar").header("Reason", "Q.850;cause=31");
    bye.from = "<sip:5551000@198.51.100.7>;tag=b1";
    bye.to = "<sip:+12125551234@192.0.2.10>";
    let outs = h.recv(PBX, &bye.text());
    assert_eq!(statuses(&outs), vec![200]);
    assert_eq!(released(&outs)[0].cause, Cause::NORMAL_UNSPECIFIED);
}

#[test]
fn failures_map_through_rfc3398_and_the_reason_header() {
    assert_eq!(fail_with(486, &[]), Release { cause: Cause::USER_BUSY, wire: Some("486 Busy Here".into()) });
    assert_eq!(fail_with(404, &[]).cause, Cause::UNALLOCATED);
    assert_eq!(fail_with(480, &[]).cause, Cause::NO_USER_RESPONSE);
    assert_eq!(fail_with(503, &[]).cause, Cause::TEMPORARY_FAILURE);
    assert_eq!(fail_with(302, &[("Contact", "<sip:x@198.51.100.8>")]).cause, Cause::CALL_REJECTED, "no redirect following");
    assert_eq!(fail_with(503, &[("Reason", "Q.850;cause=34")]).cause, Cause::NO_CIRCUIT);
}

#[test]
fn trunk_overrides_change_the_status_mapping() {
    let mut h = H::new(&peer_config("[sip.trunk.status_to_cause]\n\"503\" = 34"));
    let (_, inv, _) = originate(&mut h, &setup("5551000"), None);
    let outs = h.recv(PBX, &reply(&inv, 503, Some("b1"), &[], ""));
    assert_eq!(released(&outs)[0].cause, Cause::NO_CIRCUIT);
}

#[test]
fn no_response_at_all_is_cause_102_after_timer_b() {
    let mut h = H::new(&peer_config(""));
    originate(&mut h, &setup("5551000"), None);
    let outs = h.advance(Duration::from_secs(31));
    assert!(released(&outs).is_empty());
    assert_eq!(methods(&outs).iter().filter(|m| *m == "INVITE").count(), 5, "Timer A retransmissions at 0.5, 1.5, 3.5, 7.5 and 15.5 s");
    let outs = h.advance(Duration::from_secs(2));
    assert_eq!(released(&outs)[0].cause, Cause::RECOVERY_ON_TIMER_EXPIRY);
}

#[test]
fn release_while_ringing_cancels_with_reason_and_the_487_releases() {
    let mut h = H::new(&peer_config(""));
    let (leg, inv, _) = originate(&mut h, &setup("5551000"), None);
    h.recv(PBX, &reply(&inv, 180, Some("b1"), &[], ""));
    h.side.command(leg, LegCommand::Release(Release::cause(Cause::NO_ANSWER)), h.now);
    let outs = h.drain();
    let cancel = &requests(&outs)[0];
    assert_eq!(cancel.method.as_str(), "CANCEL");
    assert_eq!(cancel.top_via().unwrap().branch(), inv.top_via().unwrap().branch());
    assert_eq!(cancel.header("Reason"), Some("Q.850;cause=19;text=\"No answer from user\""));
    assert!(released(&outs).is_empty(), "released when the 487 comes");
    h.recv(PBX, &reply(cancel, 200, None, &[], ""));
    let outs = h.recv(PBX, &reply(&inv, 487, Some("b1"), &[], ""));
    assert_eq!(released(&outs), vec![Release { cause: Cause::NO_ANSWER, wire: Some("487 Request Terminated".into()) }]);
    assert!(methods(&outs).contains(&"ACK".to_string()), "the transaction layer ACKs the 487");
}

#[test]
fn release_before_any_provisional_waits_to_cancel_and_a_crossing_2xx_is_acked_and_byed() {
    let mut h = H::new(&peer_config(""));
    let (leg, inv, _) = originate(&mut h, &setup("5551000"), None);
    h.side.command(leg, LegCommand::Release(Release::cause(Cause::NORMAL_CLEARING)), h.now);
    assert!(methods(&h.drain()).is_empty(), "no CANCEL before a provisional (RFC 3261 §9.1)");
    let outs = h.recv(PBX, &reply(&inv, 100, None, &[], ""));
    assert_eq!(methods(&outs), vec!["CANCEL"]);
    assert!(events(&outs).is_empty());
    let outs = h.recv(PBX, &reply(&inv, 200, Some("b1"), &[("Contact", "<sip:bob@198.51.100.7>")], ANSWER));
    assert_eq!(methods(&outs), vec!["ACK", "BYE"]);
    let ev = events(&outs);
    assert_eq!(ev.len(), 1, "only Released: {ev:?}");
    assert_eq!(released(&outs)[0].cause, Cause::NORMAL_CLEARING);
}

#[test]
fn early_media_with_100rel_is_pracked_and_reported_inband() {
    let mut h = H::new(&peer_config(""));
    let (_, inv, _) = originate(&mut h, &setup("5551000"), None);
    let p183 = reply(&inv, 183, Some("b1"), &[("Contact", "<sip:bob@198.51.100.7>"), ("Require", "100rel"), ("RSeq", "77")], ANSWER);
    let outs = h.recv(PBX, &p183);
    let prack = &requests(&outs)[0];
    assert_eq!(prack.method.as_str(), "PRACK");
    assert_eq!(prack.header("RAck"), Some("77 1 INVITE"));
    assert_eq!(prack.cseq().unwrap().seq, 2);
    let evs = events(&outs);
    assert!(matches!(&evs[0], LegEvent::Media(MediaEndpoint::Rtp(p)) if p.remote == Some("198.51.100.7:42000".parse().unwrap())));
    assert_eq!(evs[1], LegEvent::Progress { inband: true });
    let outs = h.recv(PBX, &p183);
    assert!(events(&outs).is_empty() && methods(&outs).is_empty(), "a retransmitted 183 is not PRACKed again");
    h.recv(PBX, &reply(prack, 200, None, &[], ""));
    let outs = h.recv(PBX, &reply(&inv, 200, Some("b1"), &[("Contact", "<sip:bob@198.51.100.7>")], ANSWER));
    assert_eq!(events(&outs), vec![LegEvent::Answered { connected: None }], "same media: no second Media event");

    let (_, inv, _) = originate(&mut h, &setup("5551000"), None);
    let outs = h.recv(PBX, &reply(&inv, 180, Some("b2"), &[], ANSWER));
    assert_eq!(events(&outs)[1], LegEvent::Alerting { inband: true });
}

#[test]
fn challenged_invite_is_retried_once_with_credentials() {
    let mut h = H::new(&peer_config("username = \"gw1\"\npassword = \"pw\""));
    let (_, inv, _) = originate(&mut h, &setup("5551000"), None);
    let chal = [("WWW-Authenticate", "Digest realm=\"pbx\", nonce=\"n1\", qop=\"auth\"")];
    let outs = h.recv(PBX, &reply(&inv, 401, Some("b1"), &chal, ""));
    assert_eq!(methods(&outs), vec!["ACK", "INVITE"]);
    let inv2 = requests(&outs).into_iter().find(|r| r.method.as_str() == "INVITE").unwrap();
    assert_eq!(inv2.cseq().unwrap().seq, 2);
    assert_eq!(inv2.call_id(), inv.call_id());
    assert_eq!(inv2.from_addr().unwrap().tag(), inv.from_addr().unwrap().tag());
    assert_ne!(inv2.top_via().unwrap().branch(), inv.top_via().unwrap().branch());
    let auth = inv2.header("Authorization").unwrap();
    assert!(auth.contains("username=\"gw1\"") && auth.contains("nonce=\"n1\""), "{auth}");
    assert!(released(&outs).is_empty());
    let outs = h.recv(PBX, &reply(&inv2, 401, Some("b2"), &chal, ""));
    assert_eq!(released(&outs)[0].cause, Cause::CALL_REJECTED, "the same nonce twice: credentials refused");
}

#[test]
fn reinvite_hold_from_the_far_end_is_answered_and_reported() {
    let mut h = H::new(&peer_config(""));
    let (_, inv, _) = originate(&mut h, &setup("5551000"), None);
    h.recv(PBX, &reply(&inv, 200, Some("b1"), &[("Contact", "<sip:bob@198.51.100.7>")], ANSWER));
    let tag = inv.from_addr().unwrap().tag().unwrap().to_owned();
    let call_id = inv.call_id().unwrap().to_owned();
    let mut re = Msg::in_dialog("INVITE", &call_id, &tag, 1, "z9hG4bKhold").body(ANSWER.replace("a=sendrecv", "a=inactive"));
    re.from = "<sip:5551000@198.51.100.7>;tag=b1";
    re.to = "<sip:+12125551234@192.0.2.10>";
    let outs = h.recv(PBX, &re.text());
    let ok = &responses(&outs)[0];
    assert_eq!(ok.status, 200);
    assert!(String::from_utf8_lossy(&ok.body).contains("a=inactive"));
    assert!(matches!(&events(&outs)[..], [LegEvent::Media(MediaEndpoint::Rtp(p))] if p.direction == Direction::Inactive));
}

#[test]
fn dtmf_goes_as_info_only_on_info_trunks() {
    let mut h = H::new(&peer_config("dtmf = \"info\""));
    let (leg, inv, _) = originate(&mut h, &setup("5551000"), None);
    assert!(!String::from_utf8_lossy(&inv.body).contains("telephone-event"));
    h.recv(PBX, &reply(&inv, 200, Some("b1"), &[("Contact", "<sip:bob@198.51.100.7>")], ANSWER));
    h.side.command(leg, LegCommand::Dtmf { digit: '7', duration_ms: 120 }, h.now);
    let outs = h.drain();
    let info = &requests(&outs)[0];
    assert_eq!(info.method.as_str(), "INFO");
    assert_eq!(info.header("Content-Type"), Some("application/dtmf-relay"));
    assert_eq!(String::from_utf8_lossy(&info.body), "Signal=7\r\nDuration=120\r\n");

    let mut h = H::new(&peer_config(""));
    let (leg, inv, _) = originate(&mut h, &setup("5551000"), None);
    h.recv(PBX, &reply(&inv, 200, Some("b1"), &[("Contact", "<sip:bob@198.51.100.7>")], ANSWER));
    h.side.command(leg, LegCommand::Dtmf { digit: '7', duration_ms: 120 }, h.now);
    assert!(h.drain().is_empty(), "RFC 4733 trunks leave DTMF to the pump");
}

#[test]
fn we_refresh_the_session_when_the_answer_makes_us_refresher() {
    let mut h = H::new(&peer_config("").replace("session_timer_s = 0", "session_timer_s = 90"));
    let (_, inv, _) = originate(&mut h, &setup("5551000"), None);
    assert_eq!(inv.header("Session-Expires"), Some("90"));
    h.recv(PBX, &reply(&inv, 200, Some("b1"), &[("Contact", "<sip:bob@198.51.100.7>"), ("Session-Expires", "90;refresher=uac")], ANSWER));
    let outs = h.advance(Duration::from_secs(45));
    let re = requests(&outs).into_iter().find(|r| r.method.as_str() == "INVITE").expect("a re-INVITE refresh at half the interval");
    assert!(!re.body.is_empty());
    let outs = h.recv(PBX, &reply(&re, 200, Some("b1"), &[("Session-Expires", "90;refresher=uac")], ANSWER));
    assert_eq!(methods(&outs), vec!["ACK"]);
    assert!(events(&outs).is_empty());
    let outs = h.advance(Duration::from_secs(44));
    assert!(released(&outs).is_empty());
}

#[test]
fn originate_on_an_unknown_trunk_or_over_limits_is_released_at_once() {
    let mut h = H::new(&peer_config("max_calls = 1"));
    let leg = h.outbound_leg();
    h.side.originate(leg, "nope", None, &setup("1"), h.now);
    assert_eq!(released(&h.drain())[0].cause, Cause::NO_ROUTE_DESTINATION);
    originate(&mut h, &setup("5551000"), None);
    let leg = h.outbound_leg();
    h.side.originate(leg, "pbx", None, &setup("5551001"), h.now);
    assert_eq!(released(&h.drain())[0].cause, Cause::NO_CIRCUIT);
}

#[test]
fn a_send_failure_releases_the_leg_with_38_at_once() {
    let mut h = H::new(&peer_config(""));
    let leg = h.outbound_leg();
    h.side.originate(leg, "pbx", None, &setup("5551000"), h.now);
    h.drain();
    h.side.send_failed(tandem_gateway::config::Transport::Udp, PBX.parse().unwrap(), h.now);
    let outs = h.drain();
    assert_eq!(released(&outs), vec![Release { cause: Cause::NETWORK_OUT_OF_ORDER, wire: Some("transport error".into()) }]);
}

/// An answered outbound call: the leg, the INVITE (for the dialog's tags).
fn answered(h: &mut H) -> (LegRef, Request) {
    let (leg, inv, _) = originate(h, &setup("5551000"), None);
    h.recv(PBX, &reply(&inv, 200, Some("b1"), &[("Contact", "<sip:bob@198.51.100.7>")], ANSWER));
    (leg, inv)
}

#[test]
fn hold_from_the_other_leg_is_a_sendonly_reinvite_and_a_resume_asked_meanwhile_waits_then_offers_the_same_port_with_the_next_version() {
    let mut h = H::new(&peer_config(""));
    let (leg, _) = answered(&mut h);
    h.side.command(leg, LegCommand::Hold(true), h.now);
    let outs = h.drain();
    let hold = requests(&outs).into_iter().find(|r| r.method.as_str() == "INVITE").unwrap_or_else(|| panic!("no re-INVITE: {outs:?}"));
    let body = String::from_utf8_lossy(&hold.body).to_string();
    assert!(body.contains("a=sendonly"), "{body}");
    // A resume while the hold is unanswered waits for it (one re-INVITE at a time).
    h.side.command(leg, LegCommand::Hold(false), h.now);
    assert!(requests(&h.drain()).is_empty());
    let answer = ANSWER.replace("a=sendrecv", "a=recvonly");
    let outs = h.recv(PBX, &reply(&hold, 200, Some("b1"), &[("Contact", "<sip:bob@198.51.100.7>")], &answer));
    let reqs = requests(&outs);
    assert_eq!(reqs.iter().map(|r| r.method.as_str().to_owned()).collect::<Vec<_>>(), vec!["ACK", "INVITE"], "{outs:?}");
    let body = String::from_utf8_lossy(&reqs[1].body).to_string();
    assert!(body.contains("a=sendrecv"), "{body}");
    assert_eq!(h.ports.lock().unwrap().allocated.len(), 1, "the resume keeps the stream and its port");
    let m_line = |b: &str| b.lines().find(|l| l.starts_with("m=audio")).map(str::to_owned);
    let o_version = |b: &str| b.lines().find(|l| l.starts_with("o=")).and_then(|l| l.split_whitespace().nth(2)).and_then(|v| v.parse::<u64>().ok());
    let held = String::from_utf8_lossy(&hold.body).to_string();
    assert_eq!(m_line(&body), m_line(&held), "the same port: {held}\n{body}");
    assert_eq!(o_version(&body), o_version(&held).map(|v| v + 1), "RFC 3264 §8: the o= version goes up by one");
    let resumed = events(&outs).into_iter().rev().find_map(|e| match e {
        LegEvent::Media(MediaEndpoint::Rtp(p)) => Some(p),
        _ => None,
    });
    let resumed = resumed.unwrap_or_else(|| panic!("no media event for the resumed stream: {outs:?}"));
    assert_eq!((resumed.stream, resumed.direction, resumed.remote), (1, Direction::SendRecv, Some("198.51.100.7:42000".parse().unwrap())));
}

#[test]
fn a_transfer_sends_refer_to_the_number_at_the_trunk_and_byes_when_the_notify_reports_200() {
    let mut h = H::new(&peer_config(""));
    let (leg, inv) = answered(&mut h);
    h.side.command(leg, LegCommand::Transfer { to: "2125550123".into(), await_result: true }, h.now);
    let outs = h.drain();
    let refer = requests(&outs).into_iter().find(|r| r.method.as_str() == "REFER").unwrap_or_else(|| panic!("no REFER: {outs:?}"));
    assert_eq!(refer.header("Refer-To"), Some("<sip:2125550123@198.51.100.7>"));
    assert!(refer.header("Referred-By").is_some());
    let outs = h.recv(PBX, &reply(&refer, 202, Some("b1"), &[], ""));
    assert!(released(&outs).is_empty(), "ended on the 202 while awaiting the outcome: {outs:?}");
    let tag = inv.from_addr().unwrap().tag().unwrap().to_owned();
    let call_id = inv.call_id().unwrap().to_owned();
    let mut notify = Msg::in_dialog("NOTIFY", &call_id, &tag, 2, "z9hG4bKnotify")
        .header("Event", "refer")
        .header("Subscription-State", "terminated;reason=noresource")
        // (The helper types every body application/sdp; the sipfrag is read by its status line.)
        .body("SIP/2.0 200 OK\r\n");
    notify.from = "<sip:5551000@198.51.100.7>;tag=b1";
    notify.to = "<sip:+12125551234@192.0.2.10>";
    let outs = h.recv(PBX, &notify.text());
    assert_eq!(statuses(&outs), vec![200]);
    assert!(requests(&outs).iter().any(|r| r.method.as_str() == "BYE"), "{outs:?}");
    assert_eq!(released(&outs)[0].wire.as_deref(), Some("BYE (transferred)"));
}

#[test]
fn a_refused_refer_ends_the_call_and_on_accept_transfers_end_on_the_202() {
    let mut h = H::new(&peer_config(""));
    let (leg, _) = answered(&mut h);
    h.side.command(leg, LegCommand::Transfer { to: "2125550123".into(), await_result: true }, h.now);
    let refer = requests(&h.drain()).into_iter().find(|r| r.method.as_str() == "REFER").expect("REFER");
    let outs = h.recv(PBX, &reply(&refer, 603, Some("b1"), &[], ""));
    assert_eq!(released(&outs)[0].wire.as_deref(), Some("BYE (transfer refused: 603)"));
    let mut h = H::new(&peer_config(""));
    let (leg, _) = answered(&mut h);
    h.side.command(leg, LegCommand::Transfer { to: "2125550123".into(), await_result: false }, h.now);
    let refer = requests(&h.drain()).into_iter().find(|r| r.method.as_str() == "REFER").expect("REFER");
    let outs = h.recv(PBX, &reply(&refer, 202, Some("b1"), &[], ""));
    assert_eq!(released(&outs)[0].wire.as_deref(), Some("BYE (transferred (REFER accepted))"));
}

/// The first re-INVITE among `outs`, if any.
fn reinvite(outs: &[SipOutput]) -> Option<Request> {
    requests(outs).into_iter().find(|r| r.method.as_str() == "INVITE")
}

/// Advances the clock in 10 ms steps until a re-INVITE goes out (at most
/// `limit`); returns it and how long it took.
fn next_reinvite(h: &mut H, limit: Duration) -> Option<(Request, Duration, Vec<SipOutput>)> {
    let start = h.now;
    while h.now - start < limit {
        let outs = h.advance(ms(10));
        if let Some(r) = reinvite(&outs) {
            return Some((r, h.now - start, outs));
        }
    }
    None
}

#[test]
fn a_hold_reinvite_refused_with_491_goes_again_2_1_to_4_s_later_with_the_latest_state_and_gives_up_after_three_retries() {
    let mut h = H::new(&peer_config(""));
    let (leg, _) = answered(&mut h);
    h.side.command(leg, LegCommand::Hold(true), h.now);
    let hold = reinvite(&h.drain()).expect("a hold re-INVITE");
    assert!(String::from_utf8_lossy(&hold.body).contains("a=sendonly"));
    // 491: the ACK goes at once (RFC 3261 §17.1.1.3), the retry later (§14.1: we own the Call-ID).
    let outs = h.recv(PBX, &reply(&hold, 491, Some("b1"), &[], ""));
    assert_eq!(methods(&outs), vec!["ACK"]);
    assert!(released(&outs).is_empty(), "491 leaves the call up: {outs:?}");
    let (retry, after, _) = next_reinvite(&mut h, Duration::from_secs(6)).expect("the hold is sent again");
    assert!(after >= ms(2100) && after <= ms(4000), "retried after {after:?}");
    assert!(String::from_utf8_lossy(&retry.body).contains("a=sendonly"));
    assert!(retry.cseq().unwrap().seq > hold.cseq().unwrap().seq, "a new transaction");
    // Refused again; a resume asked for meanwhile is what goes next (the latest wanted state).
    h.recv(PBX, &reply(&retry, 491, Some("b1"), &[], ""));
    h.side.command(leg, LegCommand::Hold(false), h.now);
    assert!(reinvite(&h.drain()).is_none(), "the resume waits for the retry");
    let (resume, after, outs) = next_reinvite(&mut h, Duration::from_secs(6)).expect("the resume goes at the retry");
    assert!(after >= ms(2100) && after <= ms(4000), "retried after {after:?}");
    assert!(String::from_utf8_lossy(&resume.body).contains("a=sendrecv"));
    assert!(events(&outs).iter().any(|e| matches!(e, LegEvent::Media(MediaEndpoint::Rtp(p)) if p.direction == Direction::SendRecv)), "{outs:?}");
    // Third retry, then a fourth 491: the gateway gives up, the call stays up.
    h.recv(PBX, &reply(&resume, 491, Some("b1"), &[], ""));
    let (last, _, _) = next_reinvite(&mut h, Duration::from_secs(6)).expect("the third retry");
    assert!(String::from_utf8_lossy(&last.body).contains("a=sendrecv"));
    let outs = h.recv(PBX, &reply(&last, 491, Some("b1"), &[], ""));
    assert_eq!(methods(&outs), vec!["ACK"]);
    let outs = h.advance(Duration::from_secs(10));
    assert!(reinvite(&outs).is_none() && released(&outs).is_empty(), "given up, call up: {outs:?}");
    // A later hold is a new request with its own retries.
    h.side.command(leg, LegCommand::Hold(true), h.now);
    let hold = reinvite(&h.drain()).expect("a new hold re-INVITE");
    h.recv(PBX, &reply(&hold, 491, Some("b1"), &[], ""));
    assert!(next_reinvite(&mut h, Duration::from_secs(6)).is_some(), "the new hold is retried");
}

#[test]
fn a_hold_answered_200_after_a_491_retry_stays_held_and_is_not_sent_again() {
    let mut h = H::new(&peer_config(""));
    let (leg, _) = answered(&mut h);
    h.side.command(leg, LegCommand::Hold(true), h.now);
    let hold = reinvite(&h.drain()).expect("a hold re-INVITE");
    h.recv(PBX, &reply(&hold, 491, Some("b1"), &[], ""));
    let (retry, _, _) = next_reinvite(&mut h, Duration::from_secs(6)).expect("the hold is sent again");
    let outs = h.recv(PBX, &reply(&retry, 200, Some("b1"), &[("Contact", "<sip:bob@198.51.100.7>")], &ANSWER.replace("a=sendrecv", "a=recvonly")));
    assert_eq!(methods(&outs), vec!["ACK"]);
    assert!(events(&outs).iter().any(|e| matches!(e, LegEvent::Media(MediaEndpoint::Rtp(p)) if p.direction == Direction::SendOnly)), "{outs:?}");
    let outs = h.advance(Duration::from_secs(10));
    assert!(reinvite(&outs).is_none() && released(&outs).is_empty(), "{outs:?}");
}

#[test]
fn a_reinvite_from_the_far_end_while_our_hold_is_pending_gets_491_and_is_taken_once_ours_is_answered() {
    let mut h = H::new(&peer_config(""));
    let (leg, inv) = answered(&mut h);
    h.side.command(leg, LegCommand::Hold(true), h.now);
    let hold = reinvite(&h.drain()).expect("a hold re-INVITE");
    let tag = inv.from_addr().unwrap().tag().unwrap().to_owned();
    let call_id = inv.call_id().unwrap().to_owned();
    let their = |cseq: u32, branch: &'static str| {
        let mut m = Msg::in_dialog("INVITE", &call_id, &tag, cseq, branch).body(ANSWER.replace("a=sendrecv", "a=sendonly"));
        m.from = "<sip:5551000@198.51.100.7>;tag=b1";
        m.to = "<sip:+12125551234@192.0.2.10>";
        m.text()
    };
    let outs = h.recv(PBX, &their(1, "z9hG4bKglare1"));
    assert_eq!(statuses(&outs), vec![491], "RFC 3261 §14.2: {outs:?}");
    assert!(events(&outs).is_empty());
    // An UPDATE with an offer meanwhile: 491 too (RFC 3311 §5.2).
    let mut upd = Msg::in_dialog("UPDATE", &call_id, &tag, 2, "z9hG4bKglare2").body(ANSWER);
    upd.from = "<sip:5551000@198.51.100.7>;tag=b1";
    upd.to = "<sip:+12125551234@192.0.2.10>";
    assert_eq!(statuses(&h.recv(PBX, &upd.text())), vec![491]);
    h.recv(PBX, &reply(&hold, 200, Some("b1"), &[("Contact", "<sip:bob@198.51.100.7>")], &ANSWER.replace("a=sendrecv", "a=recvonly")));
    let outs = h.recv(PBX, &their(3, "z9hG4bKglare3"));
    assert_eq!(statuses(&outs), vec![200], "{outs:?}");
}
