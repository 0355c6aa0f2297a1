//! The SIP side as UAS: security, INVITE → Incoming mapping, responses to
//! call control's commands, CANCEL, BYE, PRACK, re-INVITE, INFO, session
//! timers. Sans-IO: raw SIP bytes in, bytes and events out.

mod sip_common;

use std::time::Duration;

use sip_common::*;
use tandem_gateway::call::model::*;
use tandem_gateway::sip::SipOutput;
use tandem_sip::auth::DigestClient;
use tandem_sip::wire::{HeaderAccess, MessageView};

fn invite_and_accept(h: &mut H, call_id: &str) -> (LegRef, String, Vec<SipOutput>) {
    let outs = h.recv(PBX, &Msg::invite(call_id).text());
    let (key, _) = incoming(&outs).expect("Incoming");
    let (leg, after) = h.accept(key);
    let trying = responses(&outs);
    assert_eq!(trying.iter().map(|r| r.status).collect::<Vec<_>>(), vec![100]);
    (leg, String::new(), after)
}

#[test]
fn invite_from_an_unknown_address_gets_403_and_no_incoming() {
    let mut h = H::new(&peer_config(""));
    let outs = h.recv(STRANGER, &Msg::invite("c-stranger").text());
    assert_eq!(statuses(&outs), vec![403]);
    assert!(incoming(&outs).is_none());
    assert!(h.ports.lock().unwrap().allocated.is_empty(), "no RTP port for a refused call");
    let outs = h.recv(STRANGER, &Msg::invite("c-opt").header("X-Test", "y").text().replace("INVITE sip", "OPTIONS sip").replace("1 INVITE", "1 OPTIONS"));
    assert_eq!(statuses(&outs), vec![403], "OPTIONS from strangers is refused too: {:?}", sent(&outs));
    let outs = h.recv(PBX, &Msg::invite("c-opt2").text().replace("INVITE sip", "OPTIONS sip").replace("1 INVITE", "1 OPTIONS"));
    assert_eq!(statuses(&outs), vec![200], "a configured peer gets 200 to OPTIONS");
}

#[test]
fn accept_from_networks_replace_the_host_address() {
    let mut h = H::new(&peer_config("accept_from = [\"203.0.113.0/24\"]"));
    assert_eq!(statuses(&h.recv(PBX, &Msg::invite("c1").text())), vec![403]);
    let outs = h.recv(STRANGER, &Msg::invite("c2").text());
    assert!(incoming(&outs).is_some());
}

#[test]
fn invite_maps_numbers_names_privacy_and_diversion() {
    let mut h = H::new(&peer_config("e164 = { country_code = \"1\", national_prefix = \"1\", international_prefix = \"011\" }"));
    let msg = Msg::invite("c-map")
        .header("P-Asserted-Identity", "\"Real Alice\" <sip:+12125550000@198.51.100.7>")
        .header("Privacy", "id")
        .header("Diversion", "\"Bob\" <sip:15551001@198.51.100.7>;reason=user-busy;counter=1");
    let mut text = msg.text();
    text = text.replace("INVITE sip:5551000@192.0.2.10", "INVITE sip:12125551000;phone-context=+1@192.0.2.10;user=phone");
    let outs = h.recv(PBX, &text);
    let (_, setup) = incoming(&outs).expect("Incoming");
    assert_eq!(setup.called, "+12125551000");
    let calling = setup.calling.unwrap();
    assert_eq!(calling.number, "+12125550000");
    assert_eq!(calling.name.as_deref(), Some("Real Alice"));
    assert_eq!(calling.presentation, Presentation::Restricted);
    assert_eq!(calling.screening, Screening::NetworkProvided);
    let r = setup.redirect.unwrap();
    assert_eq!((r.from.number.as_str(), r.reason, r.count), ("+15551001", RedirectReason::Busy, 1));
    assert!(setup.complete);
}

#[test]
fn history_info_and_anonymous_from_are_mapped() {
    let mut h = H::new(&peer_config(""));
    let mut m = Msg::invite("c-hi").header("History-Info", "<sip:5551001@198.51.100.7>;index=1, <sip:5551000@192.0.2.10;cause=486>;index=1.1");
    m.from = "\"Anonymous\" <sip:anonymous@anonymous.invalid>;tag=pbx1";
    let outs = h.recv(PBX, &m.text());
    let (_, setup) = incoming(&outs).unwrap();
    let c = setup.calling.unwrap();
    assert_eq!((c.number.as_str(), c.presentation, c.screening), ("", Presentation::Restricted, Screening::UserNotScreened));
    let r = setup.redirect.unwrap();
    assert_eq!((r.from.number.as_str(), r.reason), ("5551001", RedirectReason::Busy));
}

#[test]
fn accepted_call_reports_identity_and_media_then_rings_answers_and_ends_with_bye_reason() {
    let mut h = H::new(&peer_config(""));
    let (leg, _, after) = invite_and_accept(&mut h, "c-flow");
    let evs = events(&after);
    assert!(matches!(&evs[0], LegEvent::Identity(i) if i.interface == "pbx" && i.sip_call_id.as_deref() == Some("c-flow")));
    let LegEvent::Media(MediaEndpoint::Rtp(p)) = &evs[1] else { panic!("{evs:?}") };
    assert_eq!(p.codec, Codec::Pcmu, "our preference (pcmu, pcma) wins over the offer's order");
    assert_eq!(p.payload_type, 0);
    assert_eq!(p.remote, Some("198.51.100.7:40000".parse().unwrap()));
    assert_eq!(p.dtmf_payload_type, Some(101));
    assert_eq!(p.direction, Direction::SendRecv);
    assert!(!p.symmetric);

    h.side.command(leg, LegCommand::Proceeding, h.now);
    assert!(h.drain().is_empty(), "Proceeding adds nothing to the 100");
    h.side.command(leg, LegCommand::Alerting { inband: false }, h.now);
    let outs = h.drain();
    let r = &responses(&outs)[0];
    assert_eq!(r.status, 180);
    assert!(r.body.is_empty());
    let tag = to_tag(r);
    h.side.command(leg, LegCommand::Answer { connected: None }, h.now);
    let outs = h.drain();
    let ok = &responses(&outs)[0];
    assert_eq!(ok.status, 200);
    assert_eq!(to_tag(ok), tag);
    let sdp = String::from_utf8_lossy(&ok.body);
    assert!(sdp.contains("m=audio 10002 RTP/AVP 0 101"), "{sdp}");
    let ack = Msg::in_dialog("ACK", "c-flow", &tag, 1, "z9hG4bKack1").body("");
    assert!(h.recv(PBX, &ack.text()).is_empty());
    let outs = h.advance(Duration::from_secs(40));
    assert!(sent(&outs).is_empty(), "no 2xx retransmission after the ACK: {:?}", sent(&outs));

    let bye = Msg::in_dialog("BYE", "c-flow", &tag, 2, "z9hG4bKbye1").header("Reason", "Q.850;cause=17;text=\"User busy\"");
    let outs = h.recv(PBX, &bye.text());
    assert_eq!(statuses(&outs), vec![200]);
    assert_eq!(released(&outs), vec![Release { cause: Cause::USER_BUSY, wire: Some("BYE".into()) }]);
    assert!(outs.iter().any(|o| matches!(o, SipOutput::Leg(l, LegEvent::Released(_)) if *l == leg)));
    assert_eq!(h.ports.lock().unwrap().released.len(), 1, "the RTP port is released");
    let outs = h.recv(PBX, &Msg::in_dialog("BYE", "c-flow", &tag, 3, "z9hG4bKbye2").text());
    assert_eq!(statuses(&outs), vec![481], "the dialog is gone");
    assert_eq!(h.side.trunk_status()[0].active_calls, 0);
}

#[test]
fn bye_without_reason_is_normal_clearing_and_release_after_answer_sends_bye_with_reason() {
    let mut h = H::new(&peer_config(""));
    let (leg, _, _) = invite_and_accept(&mut h, "c-a");
    h.side.command(leg, LegCommand::Answer { connected: None }, h.now);
    let tag = to_tag(&responses(&h.drain())[0]);
    h.recv(PBX, &Msg::in_dialog("ACK", "c-a", &tag, 1, "z9hG4bKa").text());
    h.side.command(leg, LegCommand::Release(Release::cause(Cause::USER_BUSY)), h.now);
    let outs = h.drain();
    let bye = &requests(&outs)[0];
    assert_eq!(bye.method.as_str(), "BYE");
    assert_eq!(bye.header("Reason"), Some("Q.850;cause=17;text=\"User busy\""));
    assert_eq!(bye.uri.to_string(), "sip:alice@198.51.100.7:5060", "to the remote target");
    assert_eq!(released(&outs)[0].cause, Cause::USER_BUSY);

    let (leg2, _, _) = invite_and_accept(&mut h, "c-b");
    h.side.command(leg2, LegCommand::Answer { connected: None }, h.now);
    let tag = to_tag(&responses(&h.drain())[0]);
    let outs = h.recv(PBX, &Msg::in_dialog("BYE", "c-b", &tag, 2, "z9hG4bKb").text());
    assert_eq!(released(&outs)[0].cause, Cause::NORMAL_CLEARING);
}

#[test]
fn release_before_answer_sends_the_rfc3398_status_with_reason() {
    let mut h = H::new(&peer_config("[sip.trunk.cause_to_status]\n\"34\" = 486"));
    let (leg, _, _) = invite_and_accept(&mut h, "c-rel");
    h.side.command(leg, LegCommand::Release(Release::cause(Cause::USER_BUSY)), h.now);
    let outs = h.drain();
    let r = &responses(&outs)[0];
    assert_eq!(r.status, 486);
    assert_eq!(r.header("Reason"), Some("Q.850;cause=17;text=\"User busy\""));
    assert_eq!(released(&outs), vec![Release { cause: Cause::USER_BUSY, wire: Some("486 Busy Here".into()) }]);

    let (leg, _, _) = invite_and_accept(&mut h, "c-rel2");
    h.side.command(leg, LegCommand::Release(Release::cause(Cause::NO_CIRCUIT)), h.now);
    assert_eq!(statuses(&h.drain()), vec![486], "the trunk's override wins over 503");
    let (leg, _, _) = invite_and_accept(&mut h, "c-rel3");
    h.side.command(leg, LegCommand::Release(Release::cause(Cause::UNALLOCATED)), h.now);
    assert_eq!(statuses(&h.drain()), vec![404]);
}

#[test]
fn cancel_gets_200_the_invite_487_and_the_leg_cause_16_or_the_reason() {
    let mut h = H::new(&peer_config(""));
    let (leg, _, _) = invite_and_accept(&mut h, "c-cancel");
    h.side.command(leg, LegCommand::Alerting { inband: false }, h.now);
    h.drain();
    let mut cancel = Msg::invite("c-cancel").body("");
    cancel.method = "CANCEL";
    cancel.headers.clear();
    let outs = h.recv(PBX, &cancel.text());
    let st = responses(&outs);
    assert_eq!(st.iter().map(|r| (r.status, r.cseq().unwrap().method.to_string())).collect::<Vec<_>>(), vec![(200, "CANCEL".into()), (487, "INVITE".into())]);
    assert_eq!(released(&outs)[0].cause, Cause::NORMAL_CLEARING);

    let (_, _, _) = invite_and_accept(&mut h, "c-cancel2");
    let mut cancel = Msg::invite("c-cancel2").body("").header("Reason", "Q.850;cause=19");
    cancel.method = "CANCEL";
    cancel.headers.retain(|(n, _)| *n == "Reason");
    let outs = h.recv(PBX, &cancel.text());
    assert_eq!(released(&outs)[0].cause, Cause::NO_ANSWER);
    assert_eq!(h.ports.lock().unwrap().released.len(), 2);
}

#[test]
fn digest_challenge_then_credentials_let_the_call_in() {
    let mut h = H::new(&peer_config("auth_inbound = { username = \"gw\", password = \"s3cret\", realm = \"tandem\" }"));
    let first = Msg::invite("c-auth").text();
    let outs = h.recv(PBX, &first);
    let r401 = &responses(&outs)[0];
    assert_eq!(r401.status, 401);
    assert!(r401.header("WWW-Authenticate").unwrap().contains("realm=\"tandem\""));
    assert!(incoming(&outs).is_none());

    let mut req = MessageView::parse(first.as_bytes()).unwrap().to_request().unwrap();
    req.headers.set("CSeq", "2 INVITE");
    req.headers.set("Via", "SIP/2.0/UDP 198.51.100.7:5060;branch=z9hG4bKinv2;rport");
    let mut wrong = req.clone();
    DigestClient::new("gw", "wrong").answer(r401, &mut wrong, "abc").unwrap();
    let outs = h.recv(PBX, &String::from_utf8(wrong.to_bytes()).unwrap());
    assert_eq!(statuses(&outs), vec![401], "wrong password: challenged again");
    assert!(incoming(&outs).is_none());

    req.headers.set("CSeq", "3 INVITE");
    req.headers.set("Via", "SIP/2.0/UDP 198.51.100.7:5060;branch=z9hG4bKinv3;rport");
    DigestClient::new("gw", "s3cret").answer(r401, &mut req, "abc").unwrap();
    let outs = h.recv(PBX, &String::from_utf8(req.to_bytes()).unwrap());
    assert!(incoming(&outs).is_some(), "{:?}", sent(&outs));

    let outs = h.recv(PBX, &Msg::invite("c-auth-stale").text());
    assert_eq!(statuses(&outs), vec![401]);
    let mut req = MessageView::parse(Msg::invite("c-auth-stale").text().as_bytes()).unwrap().to_request().unwrap();
    req.headers.set("Via", "SIP/2.0/UDP 198.51.100.7:5060;branch=z9hG4bKst2;rport");
    DigestClient::new("gw", "s3cret").answer(&responses(&outs)[0], &mut req, "abc").unwrap();
    h.advance(Duration::from_secs(3600));
    let outs = h.recv(PBX, &String::from_utf8(req.to_bytes()).unwrap());
    let r = &responses(&outs)[0];
    assert_eq!(r.status, 401);
    assert!(r.header("WWW-Authenticate").unwrap().contains("stale=true"), "an expired nonce is stale");
}

#[test]
fn calls_over_max_cps_get_503_with_retry_after() {
    let mut h = H::new(&peer_config("max_cps = 2"));
    for i in 0..2 {
        let outs = h.recv(PBX, &Msg::invite(&format!("cps{i}")).text().replace("z9hG4bKinv1", &format!("z9hG4bKcps{i}")));
        assert!(incoming(&outs).is_some());
    }
    let outs = h.recv(PBX, &Msg::invite("cps2").text().replace("z9hG4bKinv1", "z9hG4bKcps2"));
    let r = &responses(&outs)[0];
    assert_eq!(r.status, 503);
    assert!(r.header("Retry-After").is_some());
    assert!(incoming(&outs).is_none());
    h.advance(Duration::from_secs(1));
    let outs = h.recv(PBX, &Msg::invite("cps3").text().replace("z9hG4bKinv1", "z9hG4bKcps3"));
    assert!(incoming(&outs).is_some(), "the bucket refills over a second");
}

#[test]
fn calls_over_max_calls_get_503() {
    let mut h = H::new(&peer_config("max_calls = 1"));
    let (leg, _, _) = invite_and_accept(&mut h, "mc1");
    let outs = h.recv(PBX, &Msg::invite("mc2").text().replace("z9hG4bKinv1", "z9hG4bKmc2"));
    let r = &responses(&outs)[0];
    assert_eq!((r.status, r.header("Retry-After").is_some()), (503, true));
    assert!(incoming(&outs).is_none());
    h.side.command(leg, LegCommand::Release(Release::cause(Cause::NORMAL_CLEARING)), h.now);
    h.drain();
    let outs = h.recv(PBX, &Msg::invite("mc3").text().replace("z9hG4bKinv1", "z9hG4bKmc3"));
    assert!(incoming(&outs).is_some());
}

#[test]
fn malformed_request_gets_400_and_a_valid_call_still_works() {
    let mut h = H::new(&peer_config(""));
    let bad = Msg::invite("c-bad").text().replace("CSeq: 1 INVITE", "CSeq: one INVITE");
    let outs = h.recv(PBX, &bad);
    let texts = sent(&outs);
    assert_eq!(texts.len(), 1);
    assert!(texts[0].starts_with("SIP/2.0 400 "), "{texts:?}");
    assert!(incoming(&outs).is_none());
    let outs = h.recv(PBX, &Msg::invite("c-bad").text().replace("SIP/2.0\r\nVia", "SIP/3.0\r\nVia"));
    assert_eq!(statuses(&outs), vec![505]);
    assert_eq!(h.side.malformed_count(), 2);
    let outs = h.recv(PBX, &Msg::invite("c-good").text());
    assert!(incoming(&outs).is_some());
}

#[test]
fn offer_without_a_common_codec_gets_488_and_frees_the_port() {
    let mut h = H::new(&peer_config("codecs = [\"pcma\"]"));
    let sdp = SDP_OFFER.replace("RTP/AVP 8 0 101", "RTP/AVP 0 101").replace("a=rtpmap:8 PCMA/8000\r\n", "");
    let outs = h.recv(PBX, &Msg::invite("c-488").body(sdp).text());
    assert_eq!(statuses(&outs), vec![488]);
    assert!(incoming(&outs).is_none());
    let p = h.ports.lock().unwrap();
    assert_eq!(p.allocated, p.released);
}

#[test]
fn early_media_goes_reliably_and_the_answer_waits_for_prack() {
    let mut h = H::new(&peer_config(""));
    let outs = h.recv(PBX, &Msg::invite("c-prack").header("Supported", "100rel, timer").text());
    let (key, _) = incoming(&outs).unwrap();
    let (leg, _) = h.accept(key);
    h.side.command(leg, LegCommand::Progress { inband: true }, h.now);
    let outs = h.drain();
    let p183 = &responses(&outs)[0];
    assert_eq!(p183.status, 183);
    assert_eq!(p183.header("Require"), Some("100rel"));
    let rseq: u32 = p183.header("RSeq").unwrap().parse().unwrap();
    assert!(String::from_utf8_lossy(&p183.body).contains("m=audio 10002"));
    let tag = to_tag(p183);
    h.side.command(leg, LegCommand::Answer { connected: None }, h.now);
    assert!(statuses(&h.drain()).is_empty(), "no 2xx before the PRACK");
    let outs = h.advance(ms(500));
    assert_eq!(statuses(&outs), vec![183], "the 183 is retransmitted after T1");
    let prack = Msg::in_dialog("PRACK", "c-prack", &tag, 2, "z9hG4bKpr1").header("RAck", format!("{rseq} 1 INVITE"));
    let outs = h.recv(PBX, &prack.text());
    let rs = responses(&outs);
    assert_eq!(rs.iter().map(|r| (r.status, r.cseq().unwrap().method.to_string())).collect::<Vec<_>>(), vec![(200, "PRACK".into()), (200, "INVITE".into())]);
    assert!(rs[1].body.is_empty(), "the SDP answer went in the reliable 183 already");
    let outs = h.advance(Duration::from_secs(2));
    assert!(!statuses(&outs).contains(&183), "no more 183 after the PRACK");
}

#[test]
fn unreliable_early_media_when_the_caller_lacks_100rel() {
    let mut h = H::new(&peer_config(""));
    let (leg, _, _) = invite_and_accept(&mut h, "c-183");
    h.side.command(leg, LegCommand::Alerting { inband: true }, h.now);
    let outs = h.drain();
    let r = &responses(&outs)[0];
    assert_eq!((r.status, r.header("Require"), r.header("RSeq")), (183, None, None));
    assert!(!r.body.is_empty());
    h.side.command(leg, LegCommand::Answer { connected: None }, h.now);
    let ok = &responses(&h.drain())[0];
    assert!(!ok.body.is_empty(), "an unreliable 183 does not settle the offer: the 200 repeats the answer");
}

#[test]
fn delayed_offer_gets_our_offer_in_the_200_and_the_answer_from_the_ack() {
    let mut h = H::new(&peer_config(""));
    let outs = h.recv(PBX, &Msg::invite("c-late").body("").text());
    let (key, _) = incoming(&outs).unwrap();
    let (leg, after) = h.accept(key);
    assert!(!events(&after).iter().any(|e| matches!(e, LegEvent::Media(_))), "no media before the answer");
    h.side.command(leg, LegCommand::Answer { connected: None }, h.now);
    let ok = &responses(&h.drain())[0];
    assert!(String::from_utf8_lossy(&ok.body).contains("m=audio 10002 RTP/AVP 0 8 101"));
    let tag = to_tag(ok);
    let answer = SDP_OFFER.replace("RTP/AVP 8 0 101", "RTP/AVP 8 101").replace("a=rtpmap:0 PCMU/8000\r\n", "");
    let outs = h.recv(PBX, &Msg::in_dialog("ACK", "c-late", &tag, 1, "z9hG4bKack").body(answer).text());
    let evs = events(&outs);
    assert!(
        matches!(&evs[..], [LegEvent::Media(MediaEndpoint::Rtp(p))] if p.codec == Codec::Pcma && p.remote == Some("198.51.100.7:40000".parse().unwrap())),
        "{evs:?}"
    );
}

#[test]
fn reinvite_hold_and_resume_keep_the_stream_and_mirror_the_direction() {
    let mut h = H::new(&peer_config(""));
    let (leg, _, after) = invite_and_accept(&mut h, "c-hold");
    let LegEvent::Media(MediaEndpoint::Rtp(first)) = events(&after)[1].clone() else { panic!() };
    h.side.command(leg, LegCommand::Answer { connected: None }, h.now);
    let tag = to_tag(&responses(&h.drain())[0]);
    h.recv(PBX, &Msg::in_dialog("ACK", "c-hold", &tag, 1, "z9hG4bKa1").text());

    let hold = Msg::in_dialog("INVITE", "c-hold", &tag, 2, "z9hG4bKre1").body(sdp_with("sendonly"));
    let outs = h.recv(PBX, &hold.text());
    let ok = &responses(&outs)[0];
    assert_eq!(ok.status, 200);
    assert!(String::from_utf8_lossy(&ok.body).contains("a=recvonly"));
    let LegEvent::Media(MediaEndpoint::Rtp(held)) = events(&outs)[0].clone() else { panic!("{outs:?}") };
    assert_eq!(held.direction, Direction::RecvOnly);
    assert_eq!((held.stream, held.local), (first.stream, first.local));
    h.recv(PBX, &Msg::in_dialog("ACK", "c-hold", &tag, 2, "z9hG4bKa2").text());

    let resume = Msg::in_dialog("INVITE", "c-hold", &tag, 3, "z9hG4bKre2").body(SDP_OFFER);
    let outs = h.recv(PBX, &resume.text());
    assert!(String::from_utf8_lossy(&responses(&outs)[0].body).contains("a=sendrecv"));
    assert!(matches!(&events(&outs)[..], [LegEvent::Media(MediaEndpoint::Rtp(p))] if p.direction == Direction::SendRecv));

    let upd = Msg::in_dialog("UPDATE", "c-hold", &tag, 4, "z9hG4bKup").body(sdp_with("inactive"));
    let outs = h.recv(PBX, &upd.text());
    assert!(matches!(&events(&outs)[..], [LegEvent::Media(MediaEndpoint::Rtp(p))] if p.direction == Direction::Inactive));
}

#[test]
fn info_dtmf_becomes_a_dtmf_event() {
    let mut h = H::new(&peer_config(""));
    let (leg, _, _) = invite_and_accept(&mut h, "c-info");
    h.side.command(leg, LegCommand::Answer { connected: None }, h.now);
    let tag = to_tag(&responses(&h.drain())[0]);
    let info = Msg::in_dialog("INFO", "c-info", &tag, 2, "z9hG4bKi").body("Signal=5\r\nDuration=160\r\n");
    let text = info.text().replace("application/sdp", "application/dtmf-relay");
    let outs = h.recv(PBX, &text);
    assert_eq!(statuses(&outs), vec![200]);
    assert_eq!(events(&outs), vec![LegEvent::Dtmf { digit: '5', duration_ms: 160 }]);
}

#[test]
fn in_dialog_request_for_an_unknown_dialog_gets_481() {
    let mut h = H::new(&peer_config(""));
    let outs = h.recv(PBX, &Msg::in_dialog("BYE", "nope", "x", 2, "z9hG4bKn").text());
    assert_eq!(statuses(&outs), vec![481]);
}

#[test]
fn a_2xx_never_acked_ends_the_call_with_bye_and_cause_102() {
    let mut h = H::new(&peer_config(""));
    let (leg, _, _) = invite_and_accept(&mut h, "c-noack");
    h.side.command(leg, LegCommand::Answer { connected: None }, h.now);
    h.drain();
    let outs = h.advance(Duration::from_secs(33));
    assert!(methods(&outs).contains(&"BYE".to_string()));
    assert_eq!(released(&outs)[0].cause, Cause::RECOVERY_ON_TIMER_EXPIRY);
}

#[test]
fn session_timer_too_small_gets_422_and_we_refresh_when_asked() {
    let mut h = H::new(&peer_config(""));
    let outs = h.recv(PBX, &Msg::invite("c-st").header("Session-Expires", "60").header("Supported", "timer").text());
    assert_eq!(statuses(&outs), vec![422]);
    assert_eq!(responses(&outs)[0].header("Min-SE"), Some("90"));

    let outs = h.recv(
        PBX,
        &Msg::invite("c-st2")
            .header("Session-Expires", "120;refresher=uas")
            .header("Supported", "timer")
            .header("Allow", "INVITE, ACK, BYE, UPDATE")
            .text()
            .replace("inv1", "inv2"),
    );
    let (key, _) = incoming(&outs).unwrap();
    let (leg, _) = h.accept(key);
    h.side.command(leg, LegCommand::Answer { connected: None }, h.now);
    let ok = &responses(&h.drain())[0];
    assert_eq!(ok.header("Session-Expires"), Some("120;refresher=uas"));
    let tag = to_tag(ok);
    h.recv(PBX, &Msg::in_dialog("ACK", "c-st2", &tag, 1, "z9hG4bKa").text());
    let outs = h.advance(Duration::from_secs(60));
    let upd = requests(&outs).into_iter().find(|r| r.method.as_str() == "UPDATE").expect("a refresh at half the interval");
    assert_eq!(upd.header("Session-Expires"), Some("120;refresher=uac"));
    let outs = h.recv(PBX, &reply(&upd, 200, None, &[("Session-Expires", "120;refresher=uac")], ""));
    assert!(released(&outs).is_empty());
    let outs = h.advance(Duration::from_secs(59));
    assert!(!methods(&outs).contains(&"UPDATE".to_string()) || released(&outs).is_empty());
}

#[test]
fn session_without_refresh_from_the_refresher_ends_with_bye_102() {
    let mut h = H::new(&peer_config(""));
    let outs = h.recv(PBX, &Msg::invite("c-exp").header("Session-Expires", "90;refresher=uac").header("Supported", "timer").text());
    let (key, _) = incoming(&outs).unwrap();
    let (leg, _) = h.accept(key);
    h.side.command(leg, LegCommand::Answer { connected: None }, h.now);
    let tag = to_tag(&responses(&h.drain())[0]);
    h.recv(PBX, &Msg::in_dialog("ACK", "c-exp", &tag, 1, "z9hG4bKa").text());
    let outs = h.advance(Duration::from_secs(59));
    assert!(released(&outs).is_empty());
    // A refresh by the peer restarts the interval.
    let outs = h.recv(PBX, &Msg::in_dialog("UPDATE", "c-exp", &tag, 2, "z9hG4bKu").header("Session-Expires", "90;refresher=uac").text());
    assert_eq!(statuses(&outs), vec![200]);
    let outs = h.advance(Duration::from_secs(59));
    assert!(released(&outs).is_empty());
    let outs = h.advance(Duration::from_secs(2));
    assert!(methods(&outs).contains(&"BYE".to_string()));
    assert_eq!(released(&outs)[0].cause, Cause::RECOVERY_ON_TIMER_EXPIRY);
}

#[test]
fn bye_before_the_answer_ends_the_invite_with_487() {
    let mut h = H::new(&peer_config(""));
    let (leg, _, _) = invite_and_accept(&mut h, "c-early-bye");
    h.side.command(leg, LegCommand::Alerting { inband: false }, h.now);
    let tag = to_tag(&responses(&h.drain())[0]);
    let outs = h.recv(PBX, &Msg::in_dialog("BYE", "c-early-bye", &tag, 2, "z9hG4bKeb").text());
    let rs = responses(&outs);
    assert_eq!(rs.iter().map(|r| (r.status, r.cseq().unwrap().method.to_string())).collect::<Vec<_>>(), vec![(200, "BYE".into()), (487, "INVITE".into())]);
    assert_eq!(released(&outs)[0].cause, Cause::NORMAL_CLEARING);
}

#[test]
fn a_body_that_is_not_sdp_gets_415() {
    let mut h = H::new(&peer_config(""));
    let text = Msg::invite("c-415").text().replace("Content-Type: application/sdp", "Content-Type: application/isup");
    let outs = h.recv(PBX, &text);
    assert_eq!(statuses(&outs), vec![415]);
    assert!(incoming(&outs).is_none());
}

#[test]
fn a_hairpinned_call_with_our_own_call_id_is_a_new_call_not_a_merge() {
    let mut h = H::new(&peer_config(""));
    let (_, inv, _) = {
        let leg = h.outbound_leg();
        let s = Setup { called: "5551000".into(), complete: true, ..Setup::default() };
        h.side.originate(leg, "pbx", None, &s, h.now);
        let outs = h.drain();
        (leg, requests(&outs).remove(0), outs)
    };
    let call_id = inv.call_id().unwrap().to_owned();
    let first = Msg::invite(&call_id).text().replace(&format!("z9hG4bK-{call_id}"), "z9hG4bKhp1");
    let outs = h.recv(PBX, &first);
    assert!(incoming(&outs).is_some(), "same Call-ID, different From tag: {:?}", statuses(&outs));
    let again = Msg::invite(&call_id).text().replace(&format!("z9hG4bK-{call_id}"), "z9hG4bKother");
    assert_eq!(statuses(&h.recv(PBX, &again)), vec![482], "the same INVITE by another path is merged");
}

#[test]
fn unsupported_uri_scheme_gets_416_and_unknown_extensions_420() {
    let mut h = H::new(&peer_config("rel100 = \"off\""));
    let outs = h.recv(PBX, &Msg::invite("c-416").text().replace("INVITE sip:5551000@192.0.2.10", "INVITE http:5551000@192.0.2.10"));
    assert!(sent(&outs)[0].starts_with("SIP/2.0 416 "), "{:?}", sent(&outs));
    let outs = h.recv(PBX, &Msg::invite("c-420").header("Require", "100rel").text());
    let r = &responses(&outs)[0];
    assert_eq!((r.status, r.header("Unsupported")), (420, Some("100rel")), "100rel is off on this trunk");
    let outs = h.recv(PBX, &Msg::invite("c-420b").header("Require", "foo").text());
    assert_eq!(statuses(&outs), vec![420]);
    assert!(incoming(&outs).is_none());
    assert_eq!(h.ports.lock().unwrap().allocated.len(), 0);
}

#[test]
fn a_trunk_requiring_100rel_refuses_callers_without_it_with_421() {
    let mut h = H::new(&peer_config("rel100 = \"required\""));
    let outs = h.recv(PBX, &Msg::invite("c-421").text());
    let r = &responses(&outs)[0];
    assert_eq!((r.status, r.header("Require")), (421, Some("100rel")));
}

#[test]
fn inbound_over_tcp_is_answered_on_the_connection() {
    let mut h = H::new(&peer_config(""));
    let text = Msg::invite("c-tcp").text().replace("SIP/2.0/UDP 198.51.100.7:5060", "SIP/2.0/TCP 198.51.100.7:5060");
    let src: std::net::SocketAddr = "198.51.100.7:40123".parse().unwrap();
    h.side.handle_message(tandem_gateway::config::Transport::Tcp, src, GW.parse().unwrap(), text.as_bytes(), h.now);
    let outs = h.drain();
    let (key, _) = incoming(&outs).expect("Incoming");
    assert!(
        outs.iter().any(|o| matches!(o, SipOutput::Transmit { transport: tandem_gateway::config::Transport::Tcp, dest, .. } if *dest == src)),
        "100 Trying back over the connection"
    );
    let (leg, _) = h.accept(key);
    h.side.command(leg, LegCommand::Answer { connected: None }, h.now);
    let outs = h.drain();
    assert!(responses(&outs)[0].header("Contact").unwrap().contains("transport=tcp"));
}

#[test]
fn mangled_messages_never_panic_and_leave_the_side_working() {
    let mut h = H::new(&peer_config(""));
    let base = Msg::invite("c-fuzz").header("Supported", "100rel").text().into_bytes();
    let mut seed: u64 = 0x5eed;
    let mut next = move || {
        seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        (seed >> 33) as usize
    };
    for i in 0..2000 {
        let mut m = base.clone();
        for _ in 0..(1 + next() % 4) {
            let at = next() % m.len();
            match next() % 4 {
                0 => m[at] = (next() % 256) as u8,
                1 => {
                    m.remove(at);
                }
                2 => m.insert(at, b"\r\n:;<>\"@,"[next() % 9]),
                _ => m.truncate(at.max(1)),
            }
        }
        let from = if i % 2 == 0 { PBX } else { STRANGER };
        h.side.handle_message(tandem_gateway::config::Transport::Udp, from.parse().unwrap(), GW.parse().unwrap(), &m, h.now);
        while let Some(o) = h.side.poll_output() {
            if let SipOutput::Incoming { key, .. } = o {
                let (leg, _) = h.accept(key);
                h.side.command(leg, LegCommand::Release(Release::cause(Cause::NORMAL_CLEARING)), h.now);
            }
        }
    }
    h.advance(Duration::from_secs(60));
    let outs = h.recv(PBX, &Msg::invite("c-after-fuzz").text());
    assert!(incoming(&outs).is_some());
    let p = h.ports.lock().unwrap();
    assert_eq!(p.allocated.len() - p.released.len(), 1, "only the last call holds a port");
}

#[test]
fn a_hold_reinvite_of_an_inbound_call_refused_with_491_goes_again_within_2_s() {
    let mut h = H::new(&peer_config(""));
    let (leg, _, _) = invite_and_accept(&mut h, "c-glare");
    h.side.command(leg, LegCommand::Answer { connected: None }, h.now);
    let tag = to_tag(&responses(&h.drain())[0]);
    h.recv(PBX, &Msg::in_dialog("ACK", "c-glare", &tag, 1, "z9hG4bKa1").text());
    h.side.command(leg, LegCommand::Hold(true), h.now);
    let reinvite = |outs: &[SipOutput]| requests(outs).into_iter().find(|r| r.method.as_str() == "INVITE");
    let hold = reinvite(&h.drain()).expect("a hold re-INVITE");
    // RFC 3261 §14.1: the caller owns the Call-ID, so we retry after 0 to 2 s.
    let outs = h.recv(PBX, &reply(&hold, 491, Some("pbx1"), &[], ""));
    assert_eq!(methods(&outs), vec!["ACK"]);
    let start = h.now;
    let mut retried = None;
    while h.now - start <= ms(3000) {
        if let Some(r) = reinvite(&h.advance(ms(10))) {
            retried = Some((r, h.now - start));
            break;
        }
    }
    let (retry, after) = retried.expect("the hold is sent again");
    assert!(after <= ms(2010), "retried after {after:?}");
    assert!(String::from_utf8_lossy(&retry.body).contains("a=sendonly"));
}
