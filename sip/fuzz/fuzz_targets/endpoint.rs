//! The transaction layer driven by fuzz input: a script of received
//! messages (arbitrary bytes, or mutations of real requests and
//! responses), elapsed time, and transaction-user commands. Nothing may
//! panic, every event names a live or just-ended transaction, and once time
//! has passed every deadline (server transactions answered, client INVITEs
//! cancelled) no transaction is left behind.

#![no_main]

use libfuzzer_sys::fuzz_target;
use std::time::{Duration, Instant};
use tandem_sip::transaction::{Config, Endpoint, Output, Peer, TxEvent, TxKey};
use tandem_sip::wire::{Method, Request, Response, Uri};

fn seed_request(method: Method, branch: u8) -> Vec<u8> {
    Request::new(method.clone(), Uri::sip(Some("bob"), "192.0.2.1", None))
        .with_header("Via", format!("SIP/2.0/UDP 198.51.100.7:5060;branch=z9hG4bK{branch};rport"))
        .with_header("Max-Forwards", "70")
        .with_header("From", "<sip:a@198.51.100.7>;tag=f")
        .with_header("To", "<sip:bob@192.0.2.1>")
        .with_header("Call-ID", "fz")
        .with_header("CSeq", format!("1 {method}"))
        .to_bytes()
}

fuzz_target!(|data: &[u8]| {
    let t0 = Instant::now();
    let mut now = t0;
    let mut ep = Endpoint::new(Config { sent_by_host: "192.0.2.1".into(), ..Config::default() });
    let peer = Peer::udp("198.51.100.7:5060".parse().unwrap());
    let mut server: Vec<(TxKey, Request)> = Vec::new();
    let mut sent: Vec<Vec<u8>> = Vec::new();
    let mut invites: Vec<TxKey> = Vec::new();
    let mut i = 0;
    while i + 1 < data.len() {
        let (op, arg) = (data[i], data[i + 1]);
        i += 2;
        match op % 8 {
            0 => {
                let len = (arg as usize).min(data.len() - i);
                ep.handle_incoming(&data[i..i + len], peer, now);
                i += len;
            }
            1 => now += Duration::from_millis(u64::from(arg) * 50),
            2 => {
                let m = [Method::Invite, Method::Options, Method::Bye, Method::Cancel][arg as usize % 4].clone();
                ep.handle_incoming(&seed_request(m, arg / 4), peer, now);
            }
            3 => {
                if let Some((key, req)) = server.get(arg as usize % server.len().max(1)) {
                    let status = [100, 180, 200, 486, 487, 503][arg as usize % 6];
                    let _ = ep.send_response(*key, Response::for_request(req, status, None, Some("t")), now);
                }
            }
            4 => {
                let m = if arg % 2 == 0 { Method::Invite } else { Method::Register };
                let req = Request::new(m.clone(), Uri::sip(None, "198.51.100.7", None))
                    .with_header("From", "<sip:gw@192.0.2.1>;tag=g")
                    .with_header("To", "<sip:x@198.51.100.7>")
                    .with_header("Call-ID", "c")
                    .with_header("CSeq", format!("1 {m}"))
                    .with_header("Max-Forwards", "70");
                if let Ok(key) = ep.send_request(req, peer, now)
                    && m == Method::Invite
                {
                    invites.push(key);
                }
            }
            5 => {
                // Answer one of our own requests, possibly mutated.
                if let Some(b) = sent.get(arg as usize % sent.len().max(1))
                    && let Ok(v) = tandem_sip::wire::MessageView::parse(b)
                {
                    let status = [100, 180, 200, 401, 486][arg as usize % 5];
                    let mut bytes = Response::for_request(&v, status, None, Some("r")).to_bytes();
                    if arg & 0x80 != 0 && !bytes.is_empty() {
                        let at = arg as usize % bytes.len();
                        bytes[at] ^= arg;
                    }
                    ep.handle_incoming(&bytes, peer, now);
                }
            }
            6 => {
                if let Some((key, _)) = server.first() {
                    ep.transport_error(*key);
                }
            }
            _ => ep.handle_timeout(now),
        }
        while let Some(o) = ep.poll_output() {
            match o {
                Output::Transmit(t) => sent.push(t.bytes),
                Output::Event(TxEvent::Request { key, request, .. }) | Output::Event(TxEvent::Cancel { key, request, .. }) => server.push((key, request)),
                Output::Event(TxEvent::Terminated { key }) => server.retain(|(k, _)| *k != key),
                Output::Event(_) => {}
            }
        }
        if sent.len() > 64 {
            sent.drain(..32);
        }
    }
    // Far past every timer, with every server transaction answered and every
    // pending INVITE cancelled (the user's duty), nothing may remain.
    for key in invites {
        let _ = ep.send_cancel(key, now);
    }
    for (key, req) in std::mem::take(&mut server) {
        let _ = ep.send_response(key, Response::for_request(&req, 500, None, Some("z")), now);
    }
    for _ in 0..4 {
        now += Duration::from_secs(120);
        ep.handle_timeout(now);
        while ep.poll_output().is_some() {}
    }
    assert_eq!(ep.transaction_count(), 0, "a transaction outlived every timer");
});
