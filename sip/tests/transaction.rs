//! Deterministic tests of the transaction layer: every timer is driven by
//! handing the endpoint `now`, and every assertion is on what it sends and
//! reports.

use std::net::SocketAddr;
use std::time::{Duration, Instant};
use tandem_sip::transaction::{Config, Endpoint, Output, Peer, Transmit, TxEvent};
use tandem_sip::wire::{HeaderAccess, MessageView, Method, NameAddr, Request, Response, Transport, Uri};

fn addr(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

fn endpoint() -> Endpoint {
    Endpoint::new(Config { sent_by_host: "192.0.2.1".into(), sent_by_port: Some(5060), seed: 7, ..Config::default() })
}

fn drain(ep: &mut Endpoint) -> (Vec<Transmit>, Vec<TxEvent>) {
    let (mut t, mut e) = (Vec::new(), Vec::new());
    while let Some(o) = ep.poll_output() {
        match o {
            Output::Transmit(x) => t.push(x),
            Output::Event(x) => e.push(x),
        }
    }
    (t, e)
}

fn request(method: Method) -> Request {
    Request::new(method.clone(), Uri::sip(Some("bob"), "198.51.100.7", None))
        .with_header("Max-Forwards", "70")
        .with_header("From", NameAddr::new(Uri::sip(Some("alice"), "192.0.2.1", None)).with_tag("a1").to_string())
        .with_header("To", NameAddr::new(Uri::sip(Some("bob"), "198.51.100.7", None)).to_string())
        .with_header("Call-ID", "call-1@192.0.2.1")
        .with_header("CSeq", format!("1 {method}"))
}

/// A response from the far end to what we sent in `t`.
fn reply(t: &Transmit, status: u16, to_tag: Option<&str>) -> Vec<u8> {
    let v = MessageView::parse(&t.bytes).unwrap();
    Response::for_request(&v, status, None, to_tag).to_bytes()
}

/// Times (relative to t0) at which `ep` sent something, polling every 10 ms up to `until`.
fn send_times(ep: &mut Endpoint, t0: Instant, until: Duration) -> (Vec<u64>, Vec<TxEvent>) {
    let mut times = Vec::new();
    let mut events = Vec::new();
    let mut now = t0;
    while now <= t0 + until {
        if ep.poll_timeout().is_some_and(|t| t <= now) {
            ep.handle_timeout(now);
        }
        let (t, e) = drain(ep);
        times.extend(t.iter().map(|_| (now - t0).as_millis() as u64));
        events.extend(e);
        now += ms(10);
    }
    (times, events)
}

const BOB: &str = "198.51.100.7:5060";

#[test]
fn client_invite_over_udp_doubles_timer_a_and_times_out_with_timer_b() {
    let mut ep = endpoint();
    let t0 = Instant::now();
    let key = ep.send_request(request(Method::Invite), Peer::udp(addr(BOB)), t0).unwrap();
    let (sent, _) = drain(&mut ep);
    assert_eq!(sent.len(), 1);
    let (times, events) = send_times(&mut ep, t0, Duration::from_secs(40));
    assert_eq!(times, vec![500, 1500, 3500, 7500, 15500, 31500]);
    assert_eq!(events, vec![TxEvent::Timeout { key }, TxEvent::Terminated { key }]);
    assert_eq!(ep.transaction_count(), 0);
}

#[test]
fn client_non_invite_caps_timer_e_at_t2_and_times_out_with_timer_f() {
    let mut ep = endpoint();
    let t0 = Instant::now();
    let key = ep.send_request(request(Method::Options), Peer::udp(addr(BOB)), t0).unwrap();
    drain(&mut ep);
    let (times, events) = send_times(&mut ep, t0, Duration::from_secs(33));
    // Intervals 0.5, 1, 2, 4, 4, 4 ... (RFC 3261 §17.1.2.2).
    assert_eq!(times, vec![500, 1500, 3500, 7500, 11500, 15500, 19500, 23500, 27500, 31500]);
    assert_eq!(events, vec![TxEvent::Timeout { key }, TxEvent::Terminated { key }]);
}

#[test]
fn client_non_invite_in_proceeding_retransmits_every_t2_and_completes_with_timer_k() {
    let mut ep = endpoint();
    let t0 = Instant::now();
    let key = ep.send_request(request(Method::Register), Peer::udp(addr(BOB)), t0).unwrap();
    let (sent, _) = drain(&mut ep);
    ep.handle_incoming(&reply(&sent[0], 100, None), Peer::udp(addr(BOB)), t0 + ms(100));
    let (_, e) = drain(&mut ep);
    assert!(matches!(&e[..], [TxEvent::Response { response, .. }] if response.status == 100));
    // Timer E was armed for 500 ms; after it fires in Proceeding the interval is T2.
    let (times, _) = send_times(&mut ep, t0, ms(9000));
    assert_eq!(times, vec![500, 4500, 8500]);
    ep.handle_incoming(&reply(&sent[0], 200, Some("b")), Peer::udp(addr(BOB)), t0 + ms(9000));
    let (_, e) = drain(&mut ep);
    assert!(matches!(&e[..], [TxEvent::Response { key: k, response }] if *k == key && response.status == 200));
    // A retransmitted 200 is absorbed; Timer K (T4 = 5 s) ends the transaction.
    ep.handle_incoming(&reply(&sent[0], 200, Some("b")), Peer::udp(addr(BOB)), t0 + ms(9100));
    assert_eq!(drain(&mut ep), (vec![], vec![]));
    ep.handle_timeout(t0 + ms(13999));
    assert_eq!(ep.transaction_count(), 1);
    ep.handle_timeout(t0 + ms(14000));
    assert_eq!(drain(&mut ep).1, vec![TxEvent::Terminated { key }]);
}

#[test]
fn client_invite_acks_a_failure_itself_and_re_acks_retransmissions_until_timer_d() {
    let mut ep = endpoint();
    let t0 = Instant::now();
    let key = ep.send_request(request(Method::Invite), Peer::udp(addr(BOB)), t0).unwrap();
    let (sent, _) = drain(&mut ep);
    ep.handle_incoming(&reply(&sent[0], 180, Some("b1")), Peer::udp(addr(BOB)), t0 + ms(100));
    drain(&mut ep);
    // Provisional stops Timer A.
    let (times, _) = send_times(&mut ep, t0 + ms(100), ms(5000));
    assert!(times.is_empty());
    let busy = reply(&sent[0], 486, Some("b1"));
    ep.handle_incoming(&busy, Peer::udp(addr(BOB)), t0 + ms(6000));
    let (acks, events) = drain(&mut ep);
    assert!(matches!(&events[..], [TxEvent::Response { response, .. }] if response.status == 486));
    assert_eq!(acks.len(), 1);
    let ack = MessageView::parse(&acks[0].bytes).unwrap();
    let inv = MessageView::parse(&sent[0].bytes).unwrap();
    assert_eq!(ack.method(), Some(&Method::Ack));
    assert_eq!(ack.checked_top_via().branch(), inv.checked_top_via().branch());
    assert_eq!(ack.checked_to().tag(), Some("b1"));
    assert_eq!(ack.checked_cseq().seq, inv.checked_cseq().seq);
    assert_eq!(ack.request_uri(), inv.request_uri());
    ep.handle_incoming(&busy, Peer::udp(addr(BOB)), t0 + ms(7000));
    let (again, events) = drain(&mut ep);
    assert_eq!(again[0].bytes, acks[0].bytes);
    assert!(events.is_empty(), "retransmitted final response is not passed up");
    ep.handle_timeout(t0 + ms(6000) + Duration::from_secs(32));
    assert_eq!(drain(&mut ep).1, vec![TxEvent::Terminated { key }]);
}

#[test]
fn client_invite_2xx_goes_to_accepted_passes_retransmissions_up_and_ends_with_timer_m() {
    let mut ep = endpoint();
    let t0 = Instant::now();
    let key = ep.send_request(request(Method::Invite), Peer::udp(addr(BOB)), t0).unwrap();
    let (sent, _) = drain(&mut ep);
    let ok = reply(&sent[0], 200, Some("b1"));
    ep.handle_incoming(&ok, Peer::udp(addr(BOB)), t0 + ms(50));
    let (tx, e) = drain(&mut ep);
    assert!(tx.is_empty(), "the layer does not ACK a 2xx");
    assert!(matches!(&e[..], [TxEvent::Response { response, .. }] if response.status == 200));
    ep.handle_incoming(&ok, Peer::udp(addr(BOB)), t0 + ms(600));
    let (_, e) = drain(&mut ep);
    assert!(matches!(&e[..], [TxEvent::Response { response, .. }] if response.status == 200));
    ep.handle_timeout(t0 + ms(50) + Duration::from_secs(32));
    assert_eq!(drain(&mut ep).1, vec![TxEvent::Terminated { key }]);
    ep.handle_incoming(&ok, Peer::udp(addr(BOB)), t0 + Duration::from_secs(40));
    assert!(matches!(&drain(&mut ep).1[..], [TxEvent::Stray2xx { .. }]));
}

#[test]
fn reliable_transport_never_retransmits_but_still_times_out() {
    let mut ep = endpoint();
    let t0 = Instant::now();
    let key = ep.send_request(request(Method::Invite), Peer::tcp(addr(BOB)), t0).unwrap();
    let (sent, _) = drain(&mut ep);
    assert!(String::from_utf8_lossy(&sent[0].bytes).contains("Via: SIP/2.0/TCP 192.0.2.1:5060;branch=z9hG4bK"));
    let (times, events) = send_times(&mut ep, t0, Duration::from_secs(33));
    assert!(times.is_empty());
    assert_eq!(events, vec![TxEvent::Timeout { key }, TxEvent::Terminated { key }]);
}

#[test]
fn request_over_1300_bytes_for_udp_goes_over_tcp() {
    let mut ep = endpoint();
    let t0 = Instant::now();
    let req = request(Method::Invite).with_body("application/sdp", vec![b'a'; 1300]);
    ep.send_request(req, Peer::udp(addr(BOB)), t0).unwrap();
    let (sent, _) = drain(&mut ep);
    assert_eq!(sent[0].transport, Transport::Tcp);
    assert!(String::from_utf8_lossy(&sent[0].bytes).contains("Via: SIP/2.0/TCP "));
    let small = request(Method::Invite);
    ep.send_request(small, Peer::udp(addr(BOB)), t0).unwrap();
    assert_eq!(drain(&mut ep).0[0].transport, Transport::Udp);
}

/// An INVITE as a UDP peer at 198.51.100.7:5062 sends it, with a Via claiming another host and rport.
fn incoming_invite(branch: &str) -> Vec<u8> {
    request(Method::Invite).with_header("Via", format!("SIP/2.0/UDP phone.example.com:5062;branch={branch};rport")).to_bytes()
}

const PHONE: &str = "198.51.100.7:40000";

#[test]
fn server_invite_sends_100_trying_after_200_ms_and_stamps_received_and_rport() {
    let mut ep = endpoint();
    let t0 = Instant::now();
    ep.handle_incoming(&incoming_invite("z9hG4bKs1"), Peer::udp(addr(PHONE)), t0);
    let (t, e) = drain(&mut ep);
    assert!(t.is_empty());
    let TxEvent::Request { request, .. } = &e[0] else { panic!("{e:?}") };
    let via = request.top_via().unwrap();
    assert_eq!(via.received(), Some("198.51.100.7".parse().unwrap()));
    assert_eq!(via.rport(), Some(Some(40000)));
    assert_eq!(ep.poll_timeout(), Some(t0 + ms(200)));
    ep.handle_timeout(t0 + ms(199));
    assert!(drain(&mut ep).0.is_empty());
    ep.handle_timeout(t0 + ms(200));
    let (t, _) = drain(&mut ep);
    assert_eq!(t.len(), 1);
    assert_eq!(t[0].dest, addr(PHONE), "response goes to the source address and port (rport)");
    let trying = MessageView::parse(&t[0].bytes).unwrap();
    assert_eq!(trying.status(), Some(100));
    assert_eq!(trying.checked_top_via().rport(), Some(Some(40000)));
}

#[test]
fn server_invite_answered_quickly_sends_no_trying_and_repeats_last_provisional() {
    let mut ep = endpoint();
    let t0 = Instant::now();
    let inv = incoming_invite("z9hG4bKs2");
    ep.handle_incoming(&inv, Peer::udp(addr(PHONE)), t0);
    let (_, e) = drain(&mut ep);
    let TxEvent::Request { key, request, .. } = &e[0] else { panic!() };
    ep.send_response(*key, Response::for_request(request, 180, None, Some("gw1")), t0 + ms(50)).unwrap();
    let (t, _) = drain(&mut ep);
    assert_eq!(MessageView::parse(&t[0].bytes).unwrap().status(), Some(180));
    ep.handle_timeout(t0 + ms(300));
    assert!(drain(&mut ep).0.is_empty(), "no 100 after the TU answered");
    ep.handle_incoming(&inv, Peer::udp(addr(PHONE)), t0 + ms(500));
    let (t2, e2) = drain(&mut ep);
    assert!(e2.is_empty(), "retransmitted INVITE is absorbed");
    assert_eq!(t2[0].bytes, t[0].bytes);
}

#[test]
fn server_invite_failure_retransmits_with_timer_g_until_ack_then_ends_with_timer_i() {
    let mut ep = endpoint();
    let t0 = Instant::now();
    let inv = incoming_invite("z9hG4bKs3");
    ep.handle_incoming(&inv, Peer::udp(addr(PHONE)), t0);
    let (_, e) = drain(&mut ep);
    let TxEvent::Request { key, request, .. } = e[0].clone() else { panic!() };
    ep.send_response(key, Response::for_request(&request, 486, None, Some("gw2")), t0).unwrap();
    drain(&mut ep);
    let (times, _) = send_times(&mut ep, t0, ms(16000));
    assert_eq!(times, vec![500, 1500, 3500, 7500, 11500, 15500]);
    let ack = Request::new(Method::Ack, request.uri.clone())
        .with_header("Via", "SIP/2.0/UDP phone.example.com:5062;branch=z9hG4bKs3;rport")
        .with_header("Max-Forwards", "70")
        .with_header("From", request.header("From").unwrap())
        .with_header("To", format!("{};tag=gw2", request.header("To").unwrap()))
        .with_header("Call-ID", request.call_id().unwrap())
        .with_header("CSeq", "1 ACK");
    ep.handle_incoming(&ack.to_bytes(), Peer::udp(addr(PHONE)), t0 + ms(16000));
    assert_eq!(drain(&mut ep), (vec![], vec![]), "ACK for a non-2xx is absorbed");
    let (times, events) = send_times(&mut ep, t0 + ms(16000), ms(6000));
    assert!(times.is_empty(), "Confirmed stops Timer G");
    assert_eq!(events, vec![TxEvent::Terminated { key }]);
}

#[test]
fn server_invite_failure_without_ack_times_out_with_timer_h() {
    let mut ep = endpoint();
    let t0 = Instant::now();
    ep.handle_incoming(&incoming_invite("z9hG4bKs4"), Peer::udp(addr(PHONE)), t0);
    let (_, e) = drain(&mut ep);
    let TxEvent::Request { key, request, .. } = e[0].clone() else { panic!() };
    ep.send_response(key, Response::for_request(&request, 603, None, Some("gw")), t0).unwrap();
    drain(&mut ep);
    ep.handle_timeout(t0 + Duration::from_secs(32) - ms(1));
    drain(&mut ep);
    ep.handle_timeout(t0 + Duration::from_secs(32));
    assert_eq!(drain(&mut ep).1, vec![TxEvent::Timeout { key }, TxEvent::Terminated { key }]);
}

#[test]
fn server_invite_2xx_is_retransmitted_until_the_ack_which_goes_to_the_tu() {
    let mut ep = endpoint();
    let t0 = Instant::now();
    ep.handle_incoming(&incoming_invite("z9hG4bKs5"), Peer::udp(addr(PHONE)), t0);
    let (_, e) = drain(&mut ep);
    let TxEvent::Request { key, request, .. } = e[0].clone() else { panic!() };
    ep.send_response(key, Response::for_request(&request, 200, None, Some("gw5")), t0).unwrap();
    drain(&mut ep);
    let (times, _) = send_times(&mut ep, t0, ms(4000));
    assert_eq!(times, vec![500, 1500, 3500]);
    let ack = Request::new(Method::Ack, Uri::sip(Some("gw"), "192.0.2.1", None))
        .with_header("Via", "SIP/2.0/UDP phone.example.com:5062;branch=z9hG4bKnew")
        .with_header("Max-Forwards", "70")
        .with_header("From", request.header("From").unwrap())
        .with_header("To", format!("{};tag=gw5", request.header("To").unwrap()))
        .with_header("Call-ID", request.call_id().unwrap())
        .with_header("CSeq", "1 ACK");
    ep.handle_incoming(&ack.to_bytes(), Peer::udp(addr(PHONE)), t0 + ms(4000));
    let (_, e) = drain(&mut ep);
    assert!(matches!(&e[..], [TxEvent::Ack { invite: Some(k), .. }] if *k == key));
    let (times, events) = send_times(&mut ep, t0 + ms(4000), Duration::from_secs(30));
    assert!(times.is_empty());
    assert_eq!(events, vec![TxEvent::Terminated { key }], "Timer L ends it quietly once ACKed");
}

#[test]
fn unacknowledged_2xx_reports_ack_timeout() {
    let mut ep = endpoint();
    let t0 = Instant::now();
    ep.handle_incoming(&incoming_invite("z9hG4bKs6"), Peer::udp(addr(PHONE)), t0);
    let (_, e) = drain(&mut ep);
    let TxEvent::Request { key, request, .. } = e[0].clone() else { panic!() };
    ep.send_response(key, Response::for_request(&request, 200, None, Some("gw6")), t0).unwrap();
    let (times, events) = send_times(&mut ep, t0, Duration::from_secs(33));
    assert_eq!(times.len(), 1 + 10, "the 2xx and its retransmissions up to 64*T1");
    assert_eq!(events, vec![TxEvent::AckTimeout { key }, TxEvent::Terminated { key }]);
}

#[test]
fn server_non_invite_absorbs_retransmissions_and_repeats_final_until_timer_j() {
    let mut ep = endpoint();
    let t0 = Instant::now();
    let opt = request(Method::Options).with_header("Via", "SIP/2.0/UDP 198.51.100.7:5060;branch=z9hG4bKo1").to_bytes();
    ep.handle_incoming(&opt, Peer::udp(addr(BOB)), t0);
    let (_, e) = drain(&mut ep);
    let TxEvent::Request { key, request, .. } = e[0].clone() else { panic!() };
    ep.handle_incoming(&opt, Peer::udp(addr(BOB)), t0 + ms(500));
    assert_eq!(drain(&mut ep), (vec![], vec![]), "Trying discards retransmissions");
    ep.send_response(key, Response::for_request(&request, 200, None, Some("o")), t0 + ms(600)).unwrap();
    let (ok, _) = drain(&mut ep);
    assert_eq!(ok[0].dest, addr(BOB));
    ep.handle_incoming(&opt, Peer::udp(addr(BOB)), t0 + ms(1000));
    assert_eq!(drain(&mut ep).0[0].bytes, ok[0].bytes);
    assert!(ep.send_response(key, Response::for_request(&request, 500, None, None), t0 + ms(1100)).is_err());
    ep.handle_timeout(t0 + ms(600) + Duration::from_secs(32));
    assert_eq!(drain(&mut ep).1, vec![TxEvent::Terminated { key }]);
}

#[test]
fn cancel_names_the_invite_it_cancels() {
    let mut ep = endpoint();
    let t0 = Instant::now();
    ep.handle_incoming(&incoming_invite("z9hG4bKc1"), Peer::udp(addr(PHONE)), t0);
    let (_, e) = drain(&mut ep);
    let TxEvent::Request { key: inv_key, .. } = e[0].clone() else { panic!() };
    let cancel = request(Method::Cancel).with_header("Via", "SIP/2.0/UDP phone.example.com:5062;branch=z9hG4bKc1;rport").to_bytes();
    ep.handle_incoming(&cancel, Peer::udp(addr(PHONE)), t0 + ms(10));
    let (_, e) = drain(&mut ep);
    assert!(matches!(&e[..], [TxEvent::Cancel { invite: Some(k), .. }] if *k == inv_key));
    let other = request(Method::Cancel).with_header("Via", "SIP/2.0/UDP phone.example.com:5062;branch=z9hG4bKzz").to_bytes();
    ep.handle_incoming(&other, Peer::udp(addr(PHONE)), t0 + ms(20));
    assert!(matches!(&drain(&mut ep).1[..], [TxEvent::Cancel { invite: None, .. }]));
}

#[test]
fn send_cancel_reuses_the_invite_branch_and_cseq_number() {
    let mut ep = endpoint();
    let t0 = Instant::now();
    let inv = ep.send_request(request(Method::Invite), Peer::udp(addr(BOB)), t0).unwrap();
    let (sent, _) = drain(&mut ep);
    ep.send_cancel(inv, t0 + ms(100)).unwrap();
    let (c, _) = drain(&mut ep);
    let (i, c) = (MessageView::parse(&sent[0].bytes).unwrap(), MessageView::parse(&c[0].bytes).unwrap());
    assert_eq!(c.method(), Some(&Method::Cancel));
    assert_eq!(c.checked_top_via().branch(), i.checked_top_via().branch());
    assert_eq!(c.checked_cseq().seq, i.checked_cseq().seq);
    assert_eq!(c.request_uri(), i.request_uri());
}

#[test]
fn malformed_requests_are_answered_by_the_layer_and_never_reach_the_tu() {
    let mut ep = endpoint();
    let t0 = Instant::now();
    let good = String::from_utf8(incoming_invite("z9hG4bKm1")).unwrap();
    for (bad, status) in [
        (good.replacen("SIP/2.0", "SIP/3.0", 1), 505),
        (good.replacen("sip:bob@198.51.100.7", "bob.example.com", 1), 400),
        (good.replacen("sip:bob@198.51.100.7", "http://x", 1), 416),
        (good.replace("Content-Length: 0", "Content-Length: 9"), 400),
    ] {
        ep.handle_incoming(bad.as_bytes(), Peer::udp(addr(PHONE)), t0);
        let (t, e) = drain(&mut ep);
        assert!(matches!(&e[..], [TxEvent::Rejected { status: s, answered: true, .. }] if *s == status), "{e:?}");
        assert_eq!(t.len(), 1);
        assert_eq!(t[0].dest, addr(PHONE));
        assert_eq!(MessageView::parse(&t[0].bytes).unwrap().status(), Some(status));
    }
    let no_call_id = good.replace("Call-ID: call-1@192.0.2.1\r\n", "");
    ep.handle_incoming(no_call_id.as_bytes(), Peer::udp(addr(PHONE)), t0);
    let (t, e) = drain(&mut ep);
    assert!(t.is_empty());
    assert!(matches!(&e[..], [TxEvent::Rejected { answered: false, .. }]));
    assert_eq!(ep.transaction_count(), 0);
}

#[test]
fn zero_max_forwards_gets_483() {
    let mut ep = endpoint();
    let t0 = Instant::now();
    let inv = String::from_utf8(incoming_invite("z9hG4bKmf")).unwrap().replace("Max-Forwards: 70", "Max-Forwards: 0");
    ep.handle_incoming(inv.as_bytes(), Peer::udp(addr(PHONE)), t0);
    let (t, e) = drain(&mut ep);
    assert_eq!(MessageView::parse(&t[0].bytes).unwrap().status(), Some(483));
    assert!(matches!(&e[..], [TxEvent::Rejected { status: 483, .. }]));
}

#[test]
fn responses_not_for_our_sent_by_or_unknown_branch_are_dropped() {
    let mut ep = endpoint();
    let t0 = Instant::now();
    let foreign = Response::new(200)
        .with_header("Via", "SIP/2.0/UDP elsewhere.example.com;branch=z9hG4bKx")
        .with_header("From", "<sip:a@b>;tag=1")
        .with_header("To", "<sip:c@d>;tag=2")
        .with_header("Call-ID", "x")
        .with_header("CSeq", "1 OPTIONS");
    ep.handle_incoming(&foreign.to_bytes(), Peer::udp(addr(BOB)), t0);
    assert!(matches!(&drain(&mut ep).1[..], [TxEvent::Dropped { .. }]));
    let mut ours = foreign.clone();
    ours.headers.set("Via", "SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bKunknown");
    ep.handle_incoming(&ours.to_bytes(), Peer::udp(addr(BOB)), t0);
    assert!(matches!(&drain(&mut ep).1[..], [TxEvent::Dropped { .. }]));
}

#[test]
fn tcp_requests_need_content_length_and_responses_go_back_on_the_connection() {
    let mut ep = endpoint();
    let t0 = Instant::now();
    let inv = String::from_utf8(incoming_invite("z9hG4bKt1")).unwrap().replace("SIP/2.0/UDP", "SIP/2.0/TCP");
    let no_cl = inv.replace("Content-Length: 0\r\n", "");
    ep.handle_incoming(no_cl.as_bytes(), Peer::tcp(addr(PHONE)), t0);
    assert!(matches!(&drain(&mut ep).1[..], [TxEvent::Rejected { status: 400, .. }]));
    ep.handle_incoming(inv.as_bytes(), Peer::tcp(addr(PHONE)), t0);
    let (_, e) = drain(&mut ep);
    let TxEvent::Request { key, request, .. } = e[0].clone() else { panic!() };
    ep.send_response(key, Response::for_request(&request, 486, None, Some("t")), t0).unwrap();
    let (t, _) = drain(&mut ep);
    assert_eq!((t[0].transport, t[0].dest), (Transport::Tcp, addr(PHONE)));
    let (times, events) = send_times(&mut ep, t0, Duration::from_secs(40));
    assert!(times.is_empty(), "no Timer G on TCP");
    assert_eq!(events, vec![TxEvent::Timeout { key }, TxEvent::Terminated { key }]);
}

#[test]
fn transport_error_ends_the_transaction() {
    let mut ep = endpoint();
    let t0 = Instant::now();
    let key = ep.send_request(request(Method::Options), Peer::udp(addr(BOB)), t0).unwrap();
    let (t, _) = drain(&mut ep);
    assert_eq!(t[0].key, Some(key));
    ep.transport_error(key);
    assert_eq!(drain(&mut ep).1, vec![TxEvent::TransportError { key }, TxEvent::Terminated { key }]);
    assert_eq!(ep.poll_timeout(), None);
}

#[test]
fn invite_left_in_proceeding_after_cancel_ends_64_t1_later() {
    let mut ep = endpoint();
    let t0 = Instant::now();
    let key = ep.send_request(request(Method::Invite), Peer::udp(addr(BOB)), t0).unwrap();
    let (sent, _) = drain(&mut ep);
    ep.handle_incoming(&reply(&sent[0], 180, Some("b")), Peer::udp(addr(BOB)), t0);
    drain(&mut ep);
    assert_eq!(ep.poll_timeout(), None, "a ringing INVITE has no timer of its own");
    let cancel = ep.send_cancel(key, t0 + Duration::from_secs(60)).unwrap();
    let (c, _) = drain(&mut ep);
    ep.handle_incoming(&reply(&c[0], 200, Some("b")), Peer::udp(addr(BOB)), t0 + Duration::from_secs(60));
    drain(&mut ep);
    ep.handle_timeout(t0 + Duration::from_secs(65));
    assert_eq!(drain(&mut ep).1, vec![TxEvent::Terminated { key: cancel }], "Timer K ends the CANCEL");
    ep.handle_timeout(t0 + Duration::from_secs(92) - ms(1));
    assert!(drain(&mut ep).1.is_empty());
    ep.handle_timeout(t0 + Duration::from_secs(92));
    assert_eq!(drain(&mut ep).1, vec![TxEvent::Timeout { key }, TxEvent::Terminated { key }]);
    assert_eq!(ep.transaction_count(), 0);
}

#[test]
fn via_sent_by_carries_the_port_set_for_the_transport() {
    let cfg = Config { sent_by_host: "192.0.2.1".into(), sent_by_port: Some(5060), sent_by_ports: vec![(Transport::Tls, 5061)], seed: 7, ..Config::default() };
    let mut ep = Endpoint::new(cfg);
    let t0 = Instant::now();
    ep.send_request(request(Method::Options), Peer { transport: Transport::Tls, addr: addr("198.51.100.7:5061") }, t0).unwrap();
    ep.send_request(request(Method::Options), Peer::udp(addr(BOB)), t0).unwrap();
    let (sent, _) = drain(&mut ep);
    let vias: Vec<String> = sent.iter().map(|t| MessageView::parse(&t.bytes).unwrap().header("Via").unwrap().to_string()).collect();
    assert!(vias[0].starts_with("SIP/2.0/TLS 192.0.2.1:5061;"), "{}", vias[0]);
    assert!(vias[1].starts_with("SIP/2.0/UDP 192.0.2.1:5060;"), "{}", vias[1]);
}
