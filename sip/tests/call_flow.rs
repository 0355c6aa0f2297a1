//! Two endpoints wired back to back through an in-memory "network": whole
//! call flows (answer, ACK, BYE; CANCEL; REGISTER with a digest challenge)
//! driven through the public API the gateway will use.

use std::net::SocketAddr;
use std::time::{Duration, Instant};
use tandem_sip::auth::{DigestServer, Verdict};
use tandem_sip::dialog::Dialog;
use tandem_sip::registration::{self, RegEvent, Registration};
use tandem_sip::transaction::{Config, Endpoint, Output, Peer, TxEvent, TxKey};
use tandem_sip::wire::{Method, NameAddr, Request, Response, Uri};

const A: &str = "192.0.2.1:5060";
const B: &str = "198.51.100.7:5060";

fn addr(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

struct Net {
    a: Endpoint,
    b: Endpoint,
    events_a: Vec<TxEvent>,
    events_b: Vec<TxEvent>,
    /// Messages carried, as (from A?, first line).
    log: Vec<(bool, String)>,
}

impl Net {
    fn new() -> Net {
        let cfg = |host: &str, seed| Config { sent_by_host: host.into(), sent_by_port: Some(5060), seed, ..Config::default() };
        Net { a: Endpoint::new(cfg("192.0.2.1", 1)), b: Endpoint::new(cfg("198.51.100.7", 2)), events_a: vec![], events_b: vec![], log: vec![] }
    }

    /// Moves every pending message across until both sides are quiet.
    fn pump(&mut self, now: Instant) {
        for _ in 0..100 {
            let mut moved = false;
            while let Some(o) = self.a.poll_output() {
                match o {
                    Output::Transmit(t) => {
                        assert_eq!(t.dest, addr(B));
                        self.log.push((true, first_line(&t.bytes)));
                        self.b.handle_incoming(&t.bytes, Peer { transport: t.transport, addr: addr(A) }, now);
                        moved = true;
                    }
                    Output::Event(e) => self.events_a.push(e),
                }
            }
            while let Some(o) = self.b.poll_output() {
                match o {
                    Output::Transmit(t) => {
                        assert_eq!(t.dest, addr(A));
                        self.log.push((false, first_line(&t.bytes)));
                        self.a.handle_incoming(&t.bytes, Peer { transport: t.transport, addr: addr(B) }, now);
                        moved = true;
                    }
                    Output::Event(e) => self.events_b.push(e),
                }
            }
            if !moved {
                return;
            }
        }
        panic!("network never went quiet");
    }

    fn advance(&mut self, from: Instant, to: Instant) {
        let mut now = from;
        while now < to {
            now += Duration::from_millis(100);
            self.a.handle_timeout(now);
            self.b.handle_timeout(now);
            self.pump(now);
        }
    }
}

fn first_line(b: &[u8]) -> String {
    String::from_utf8_lossy(b).lines().next().unwrap_or("").to_string()
}

fn invite() -> Request {
    Request::new(Method::Invite, Uri::parse("sip:+15551234@198.51.100.7;user=phone").unwrap())
        .with_header("Max-Forwards", "70")
        .with_header("From", "\"Gateway\" <sip:+15550000@192.0.2.1>;tag=a-tag")
        .with_header("To", "<sip:+15551234@198.51.100.7;user=phone>")
        .with_header("Call-ID", "flow-1@192.0.2.1")
        .with_header("CSeq", "1 INVITE")
        .with_header("Contact", "<sip:gw@192.0.2.1:5060>")
        .with_header("Supported", "100rel, timer")
        .with_body("application/sdp", b"v=0\r\n".to_vec())
}

fn take_request(events: &mut Vec<TxEvent>) -> (TxKey, Request) {
    let i = events.iter().position(|e| matches!(e, TxEvent::Request { .. })).expect("a request event");
    match events.remove(i) {
        TxEvent::Request { key, request, .. } => (key, request),
        _ => unreachable!(),
    }
}

fn statuses_for(events: &[TxEvent], key: TxKey) -> Vec<u16> {
    events
        .iter()
        .filter_map(|e| match e {
            TxEvent::Response { key: k, response } if *k == key => Some(response.status),
            _ => None,
        })
        .collect()
}

#[test]
fn call_is_answered_acknowledged_and_hung_up() {
    let t0 = Instant::now();
    let mut net = Net::new();
    let inv = invite();
    let ka = net.a.send_request(inv.clone(), Peer::udp(addr(B)), t0).unwrap();
    net.pump(t0);
    let (kb, req) = take_request(&mut net.events_b);
    assert_eq!(req.body, b"v=0\r\n");

    // B lets the 100 Trying go out, then rings and answers.
    net.advance(t0, t0 + Duration::from_millis(300));
    let tag = net.b.ids().tag();
    let contact_b = NameAddr::new(Uri::parse("sip:callee@198.51.100.7:5060").unwrap());
    let mut dialog_b = Dialog::from_uas(&req, &tag, Some(contact_b.clone()), false).unwrap();
    let t1 = t0 + Duration::from_millis(300);
    net.b.send_response(kb, Response::for_request(&req, 180, None, Some(&tag)).with_header("Contact", contact_b.to_string()), t1).unwrap();
    net.b.send_response(kb, Response::for_request(&req, 200, None, Some(&tag)).with_header("Contact", contact_b.to_string()), t1).unwrap();
    net.pump(t1);
    assert_eq!(statuses_for(&net.events_a, ka), vec![100, 180, 200]);

    // A confirms the dialog and ACKs the 2xx outside the transaction.
    let ok = net
        .events_a
        .iter()
        .find_map(|e| match e {
            TxEvent::Response { response, .. } if response.status == 200 => Some(response.clone()),
            _ => None,
        })
        .unwrap();
    let mut dialog_a = Dialog::from_uac(&inv, &ok, None).unwrap();
    assert_eq!(dialog_a.remote_target, contact_b.uri);
    net.a.send_stateless(dialog_a.ack_for_2xx(1), Peer::udp(addr(B)));
    net.pump(t1);
    assert!(net.events_b.iter().any(|e| matches!(e, TxEvent::Ack { invite: Some(k), .. } if *k == kb)));
    dialog_b.state = tandem_sip::dialog::DialogState::Confirmed;

    // Nothing more is sent for the INVITE: no 2xx retransmission, no AckTimeout.
    let before = net.log.len();
    net.advance(t1, t1 + Duration::from_secs(40));
    assert_eq!(net.log.len(), before);
    assert!(!net.events_b.iter().any(|e| matches!(e, TxEvent::AckTimeout { .. })));

    // B hangs up.
    let t2 = t1 + Duration::from_secs(40);
    let kbye = net.b.send_request(dialog_b.new_request(Method::Bye), Peer::udp(addr(A)), t2).unwrap();
    net.pump(t2);
    let (key, bye) = take_request(&mut net.events_a);
    assert_eq!(bye.method, Method::Bye);
    assert!(dialog_a.matches_request(&bye));
    dialog_a.handle_request(&bye).unwrap();
    net.a.send_response(key, Response::for_request(&bye, 200, None, None), t2).unwrap();
    net.pump(t2);
    assert_eq!(statuses_for(&net.events_b, kbye), vec![200]);
}

#[test]
fn cancelled_call_gets_487_which_the_caller_layer_acks() {
    let t0 = Instant::now();
    let mut net = Net::new();
    let ka = net.a.send_request(invite(), Peer::udp(addr(B)), t0).unwrap();
    net.pump(t0);
    let (kb, req) = take_request(&mut net.events_b);
    let tag = net.b.ids().tag();
    net.b.send_response(kb, Response::for_request(&req, 180, None, Some(&tag)), t0).unwrap();
    net.pump(t0);
    let kc = net.a.send_cancel(ka, t0 + Duration::from_secs(1)).unwrap();
    net.pump(t0 + Duration::from_secs(1));
    let cancel = net.events_b.iter().find_map(|e| match e {
        TxEvent::Cancel { key, invite, request, .. } => Some((*key, *invite, request.clone())),
        _ => None,
    });
    let (kcb, invite_key, cancel) = cancel.expect("a Cancel event");
    assert_eq!(invite_key, Some(kb));
    let t1 = t0 + Duration::from_secs(1);
    net.b.send_response(kcb, Response::for_request(&cancel, 200, None, Some(&tag)), t1).unwrap();
    net.b.send_response(kb, Response::for_request(&req, 487, None, Some(&tag)), t1).unwrap();
    net.pump(t1);
    assert_eq!(statuses_for(&net.events_a, kc), vec![200]);
    assert_eq!(statuses_for(&net.events_a, ka), vec![180, 487]);
    assert!(net.log.iter().any(|(from_a, l)| *from_a && l.starts_with("ACK ")), "A's layer ACKs the 487");
    assert!(!net.events_b.iter().any(|e| matches!(e, TxEvent::Ack { .. })), "B's layer absorbs that ACK");
    net.advance(t1, t1 + Duration::from_secs(40));
    assert!(!net.events_b.iter().any(|e| matches!(e, TxEvent::Timeout { .. })), "no Timer H: the ACK arrived");
    assert_eq!(net.a.transaction_count() + net.b.transaction_count(), 0);
}

#[test]
fn trunk_registers_through_a_digest_challenge() {
    let t0 = Instant::now();
    let mut net = Net::new();
    let mut cfg = registration::Config::new(
        Uri::parse("sip:198.51.100.7").unwrap(),
        Uri::parse("sip:trunk@198.51.100.7").unwrap(),
        NameAddr::new(Uri::parse("sip:trunk@192.0.2.1:5060").unwrap()),
    );
    cfg.credentials = Some(("trunk".into(), "secret".into()));
    let mut reg = Registration::new(cfg, 3);
    let registrar = DigestServer::new("198.51.100.7", b"registrar key");
    reg.handle_timeout(t0);
    let mut reg_key = None;
    for round in 0..4 {
        let now = t0 + Duration::from_millis(10 * round);
        while let Some(r) = reg.poll_request() {
            reg_key = Some(net.a.send_request(r, Peer::udp(addr(B)), now).unwrap());
        }
        net.pump(now);
        while let Some(i) = net.events_b.iter().position(|e| matches!(e, TxEvent::Request { .. })) {
            let TxEvent::Request { key, request, .. } = net.events_b.remove(i) else { unreachable!() };
            let resp = match registrar.verify_request(&request, |u| (u == "trunk").then(|| "secret".to_string()), 1_700_000_000) {
                Verdict::Authorized(_) => {
                    Response::for_request(&request, 200, None, Some("reg")).with_header("Contact", "<sip:trunk@192.0.2.1:5060>;expires=120")
                }
                Verdict::Challenge(c, _) => *c,
            };
            net.b.send_response(key, resp, now).unwrap();
        }
        net.pump(now);
        for e in std::mem::take(&mut net.events_a) {
            if let TxEvent::Response { key, response } = e
                && Some(key) == reg_key
            {
                reg.handle_response(&response, now);
            }
        }
    }
    assert_eq!(reg.poll_event(), Some(RegEvent::Registered { expires: 120 }));
    assert_eq!(net.log.iter().filter(|(a, l)| *a && l.starts_with("REGISTER")).count(), 2);
    assert_eq!(reg.poll_timeout(), Some(t0 + Duration::from_millis(10) + Duration::from_secs(90)));
}
