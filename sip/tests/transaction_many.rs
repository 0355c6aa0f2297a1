//! The transaction layer with thousands of live transactions: timers and
//! 2xx-ACK matching still answer exactly as with a few (the layer indexes
//! wake-ups and accepted dialogs instead of scanning). Deterministic, no
//! timing assertions.

use std::net::SocketAddr;
use std::time::{Duration, Instant};
use tandem_sip::transaction::{Config, Endpoint, Output, Peer, Transmit, TxEvent, TxKey};
use tandem_sip::wire::{MessageView, Method, NameAddr, Request, Response, Uri};

const PHONE: &str = "198.51.100.7:40000";

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

fn endpoint() -> Endpoint {
    Endpoint::new(Config { sent_by_host: "192.0.2.1".into(), sent_by_port: Some(5060), seed: 11, ..Config::default() })
}

fn phone() -> Peer {
    Peer::udp(PHONE.parse::<SocketAddr>().unwrap())
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

/// A request from the phone, call `i`, with its own branch and Call-ID.
fn incoming(method: Method, i: usize, to_tag: Option<&str>) -> Request {
    let mut to = NameAddr::new(Uri::sip(Some("bob"), "192.0.2.1", None));
    if let Some(t) = to_tag {
        to = to.with_tag(t);
    }
    let cseq_method = if method == Method::Ack { Method::Ack } else { method.clone() };
    Request::new(method, Uri::sip(Some("bob"), "192.0.2.1", None))
        .with_header("Via", format!("SIP/2.0/UDP 198.51.100.7:40000;branch=z9hG4bKm{i}-{cseq_method};rport"))
        .with_header("Max-Forwards", "70")
        .with_header("From", NameAddr::new(Uri::sip(Some("alice"), "198.51.100.7", None)).with_tag(&format!("a{i}")).to_string())
        .with_header("To", to.to_string())
        .with_header("Call-ID", format!("call-{i}@198.51.100.7"))
        .with_header("CSeq", format!("1 {cseq_method}"))
}

/// Opens a server transaction for `req` at `now` and answers it with `status` (To tag `gw{i}`).
fn answer(ep: &mut Endpoint, req: &Request, i: usize, status: u16, now: Instant) -> TxKey {
    ep.handle_incoming(&req.to_bytes(), phone(), now);
    let (_, e) = drain(ep);
    let [TxEvent::Request { key, request, .. }] = &e[..] else { panic!("{e:?}") };
    ep.send_response(*key, Response::for_request(request, status, None, Some(&format!("gw{i}"))), now).unwrap();
    drain(ep);
    *key
}

#[test]
fn five_thousand_completed_transactions_end_in_order_and_leave_other_timers_exact() {
    let mut ep = endpoint();
    let t0 = Instant::now();
    let n = 5000;
    let keys: Vec<TxKey> = (0..n).map(|i| answer(&mut ep, &incoming(Method::Options, i, None), i, 200, t0 + ms(i as u64))).collect();
    assert_eq!(ep.transaction_count(), n);
    // Timer J = 64*T1 over UDP: the first completed transaction wakes first.
    assert_eq!(ep.poll_timeout(), Some(t0 + Duration::from_secs(32)));

    // A client INVITE among them: its Timer A is now the earliest wake-up.
    let invite = Request::new(Method::Invite, Uri::sip(Some("bob"), "198.51.100.7", None))
        .with_header("Max-Forwards", "70")
        .with_header("From", NameAddr::new(Uri::sip(Some("gw"), "192.0.2.1", None)).with_tag("g1").to_string())
        .with_header("To", NameAddr::new(Uri::sip(Some("bob"), "198.51.100.7", None)).to_string())
        .with_header("Call-ID", "out-1@192.0.2.1")
        .with_header("CSeq", "1 INVITE");
    let inv = ep.send_request(invite, phone(), t0 + ms(10_000)).unwrap();
    let (sent, _) = drain(&mut ep);
    assert_eq!(ep.poll_timeout(), Some(t0 + ms(10_500)));
    ep.handle_timeout(t0 + ms(10_500));
    let (t, e) = drain(&mut ep);
    assert_eq!((t.len(), e.len()), (1, 0), "only the INVITE is retransmitted");
    assert_eq!(t[0].bytes, sent[0].bytes);
    assert_eq!(ep.poll_timeout(), Some(t0 + ms(11_500)), "Timer A doubled");

    // A 486 completes it: Timer D (32 s) ends it after the completed OPTIONS.
    let v = MessageView::parse(&sent[0].bytes).unwrap();
    ep.handle_incoming(&Response::for_request(&v, 486, None, Some("b1")).to_bytes(), phone(), t0 + ms(11_000));
    drain(&mut ep);
    assert_eq!(ep.poll_timeout(), Some(t0 + Duration::from_secs(32)));

    ep.handle_timeout(t0 + ms(32_000 + 2499));
    let (t, e) = drain(&mut ep);
    assert!(t.is_empty());
    assert_eq!(e, keys[..2500].iter().map(|&key| TxEvent::Terminated { key }).collect::<Vec<_>>(), "Timer J ends them quietly, in order");
    assert_eq!(ep.transaction_count(), n - 2500 + 1);
    assert_eq!(ep.poll_timeout(), Some(t0 + ms(32_000 + 2500)));

    ep.handle_timeout(t0 + ms(32_000 + 4999));
    let (_, e) = drain(&mut ep);
    assert_eq!(e, keys[2500..].iter().map(|&key| TxEvent::Terminated { key }).collect::<Vec<_>>());
    assert_eq!(ep.transaction_count(), 1);
    assert_eq!(ep.poll_timeout(), Some(t0 + ms(11_000 + 32_000)));
    ep.handle_timeout(t0 + ms(43_000));
    assert_eq!(drain(&mut ep).1, vec![TxEvent::Terminated { key: inv }]);
    assert_eq!((ep.transaction_count(), ep.poll_timeout()), (0, None));
}

#[test]
fn ack_for_a_2xx_finds_its_invite_among_thousands_of_accepted_ones() {
    let mut ep = endpoint();
    let t0 = Instant::now();
    let n = 2000;
    let keys: Vec<TxKey> = (0..n).map(|i| answer(&mut ep, &incoming(Method::Invite, i, None), i, 200, t0)).collect();
    assert_eq!(ep.poll_timeout(), Some(t0 + ms(500)));

    let acked = 1234;
    ep.handle_incoming(&incoming(Method::Ack, acked, Some(&format!("gw{acked}"))).to_bytes(), phone(), t0 + ms(100));
    let (_, e) = drain(&mut ep);
    assert!(matches!(&e[..], [TxEvent::Ack { invite: Some(k), .. }] if *k == keys[acked]), "{e:?}");
    ep.handle_incoming(&incoming(Method::Ack, acked, Some("someone-else")).to_bytes(), phone(), t0 + ms(100));
    let (_, e) = drain(&mut ep);
    assert!(matches!(&e[..], [TxEvent::Ack { invite: None, .. }]), "another dialog's ACK matches nothing: {e:?}");

    ep.handle_timeout(t0 + ms(500));
    let (t, e) = drain(&mut ep);
    assert!(e.is_empty());
    assert_eq!(t.len(), n - 1, "every 2xx but the ACKed one is retransmitted");
    assert_eq!(ep.poll_timeout(), Some(t0 + ms(1500)));

    // Timer L: the unACKed ones report AckTimeout, the ACKed one ends quietly; all in key order.
    ep.handle_timeout(t0 + Duration::from_secs(32));
    let (_, e) = drain(&mut ep);
    let mut want = Vec::new();
    for (i, &key) in keys.iter().enumerate() {
        if i != acked {
            want.push(TxEvent::AckTimeout { key });
        }
        want.push(TxEvent::Terminated { key });
    }
    assert_eq!(e, want);
    assert_eq!((ep.transaction_count(), ep.poll_timeout()), (0, None));
    ep.handle_incoming(&incoming(Method::Ack, acked, Some(&format!("gw{acked}"))).to_bytes(), phone(), t0 + Duration::from_secs(33));
    assert!(matches!(&drain(&mut ep).1[..], [TxEvent::Ack { invite: None, .. }]), "an ended transaction is no longer matched");
}
