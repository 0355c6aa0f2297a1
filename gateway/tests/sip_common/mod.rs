//! A sans-IO harness for the SIP side: raw SIP bytes in, outputs out, an
//! injected clock, and a fake RTP port allocator.

#![allow(dead_code)]

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tandem_gateway::call::model::{CallId, LegEvent, LegRef};
use tandem_gateway::config::{Config, Transport};
use tandem_gateway::sip::{IncomingKey, MediaPorts, SipOutput, SipSide};
use tandem_sip::wire::{HeaderAccess, MessageView, Request, Response};

/// Allocated and released stream ids.
#[derive(Default, Debug)]
pub struct PortLog {
    pub allocated: BTreeSet<u64>,
    pub released: BTreeSet<u64>,
    pub fail: bool,
}

pub struct FakePorts(pub Arc<Mutex<PortLog>>);

impl MediaPorts for FakePorts {
    fn allocate(&self) -> std::io::Result<(u64, SocketAddr)> {
        let mut l = self.0.lock().unwrap();
        if l.fail {
            return Err(std::io::Error::other("no ports"));
        }
        let id = l.allocated.len() as u64 + 1;
        l.allocated.insert(id);
        Ok((id, SocketAddr::new("192.0.2.10".parse().unwrap(), 10000 + 2 * id as u16)))
    }
    fn release(&self, id: u64) {
        assert!(self.0.lock().unwrap().released.insert(id), "stream {id} released twice");
    }
    fn is_alive(&self, id: u64) -> bool {
        let l = self.0.lock().unwrap();
        l.allocated.contains(&id) && !l.released.contains(&id)
    }
}

pub const GW: &str = "192.0.2.10:5060";
pub const PBX: &str = "198.51.100.7:5060";
pub const STRANGER: &str = "203.0.113.66:5060";

pub const BASE: &str = r#"
[sip]
listen = ["udp:192.0.2.10:5060"]
rtp_ip = "192.0.2.10"
"#;

/// A peer trunk "pbx" at 198.51.100.7 with no keepalive, plus `extra` trunk keys.
pub fn peer_config(extra: &str) -> String {
    format!("{BASE}\n[[sip.trunk]]\nname = \"pbx\"\nhost = \"198.51.100.7:5060\"\noptions_interval_s = 0\nsession_timer_s = 0\n{extra}\n")
}

pub struct H {
    pub side: SipSide,
    pub now: Instant,
    pub ports: Arc<Mutex<PortLog>>,
    pub next_call: u64,
}

impl H {
    pub fn new(toml: &str) -> H {
        let cfg = Config::from_toml(toml, "test.toml").unwrap_or_else(|e| panic!("{e:?}"));
        let sip = cfg.sip.expect("[sip]");
        let ports = Arc::new(Mutex::new(PortLog::default()));
        let now = Instant::now();
        let side = SipSide::new(&sip, Box::new(FakePorts(ports.clone())), now, 1_800_000_000).unwrap();
        H { side, now, ports, next_call: 1 }
    }

    pub fn drain(&mut self) -> Vec<SipOutput> {
        std::iter::from_fn(|| self.side.poll_output()).collect()
    }

    /// A message from `from` (UDP).
    pub fn recv(&mut self, from: &str, msg: &str) -> Vec<SipOutput> {
        self.side.handle_message(Transport::Udp, from.parse().unwrap(), GW.parse().unwrap(), msg.as_bytes(), self.now);
        self.drain()
    }

    /// Moves the clock forward by `d`, running every timer on the way (bounded).
    pub fn advance(&mut self, d: Duration) -> Vec<SipOutput> {
        let end = self.now + d;
        let mut out = Vec::new();
        for _ in 0..10_000 {
            match self.side.poll_timeout() {
                Some(t) if t <= end => {
                    self.now = self.now.max(t);
                    self.side.handle_timeout(self.now);
                    out.extend(self.drain());
                }
                _ => break,
            }
        }
        self.now = end;
        self.side.handle_timeout(self.now);
        out.extend(self.drain());
        out
    }

    /// Accepts an Incoming as a new inbound leg; returns the leg and the events that follow.
    pub fn accept(&mut self, key: IncomingKey) -> (LegRef, Vec<SipOutput>) {
        let leg = LegRef::inbound(CallId(self.next_call));
        self.next_call += 1;
        self.side.accept(key, leg);
        (leg, self.drain())
    }

    pub fn outbound_leg(&mut self) -> LegRef {
        let leg = LegRef::outbound(CallId(self.next_call), 1);
        self.next_call += 1;
        leg
    }
}

/// The text of every transmitted message.
pub fn sent(outs: &[SipOutput]) -> Vec<String> {
    outs.iter()
        .filter_map(|o| match o {
            SipOutput::Transmit { bytes, .. } => Some(String::from_utf8_lossy(bytes).into_owned()),
            _ => None,
        })
        .collect()
}

/// Transmitted responses.
pub fn responses(outs: &[SipOutput]) -> Vec<Response> {
    outs.iter()
        .filter_map(|o| match o {
            SipOutput::Transmit { bytes, .. } => MessageView::parse(bytes).ok().and_then(|v| v.to_response()),
            _ => None,
        })
        .collect()
}

/// Transmitted requests.
pub fn requests(outs: &[SipOutput]) -> Vec<Request> {
    outs.iter()
        .filter_map(|o| match o {
            SipOutput::Transmit { bytes, .. } => MessageView::parse(bytes).ok().and_then(|v| v.to_request()),
            _ => None,
        })
        .collect()
}

pub fn statuses(outs: &[SipOutput]) -> Vec<u16> {
    responses(outs).iter().map(|r| r.status).collect()
}

pub fn methods(outs: &[SipOutput]) -> Vec<String> {
    requests(outs).iter().map(|r| r.method.to_string()).collect()
}

pub fn events(outs: &[SipOutput]) -> Vec<LegEvent> {
    outs.iter()
        .filter_map(|o| match o {
            SipOutput::Leg(_, e) => Some(e.clone()),
            _ => None,
        })
        .collect()
}

pub fn incoming(outs: &[SipOutput]) -> Option<(IncomingKey, tandem_gateway::call::model::Setup)> {
    outs.iter().find_map(|o| match o {
        SipOutput::Incoming { key, setup, .. } => Some((*key, setup.clone())),
        _ => None,
    })
}

pub fn released(outs: &[SipOutput]) -> Vec<tandem_gateway::call::model::Release> {
    events(outs)
        .into_iter()
        .filter_map(|e| match e {
            LegEvent::Released(r) => Some(r),
            _ => None,
        })
        .collect()
}

pub const SDP_OFFER: &str = "v=0\r\no=- 1 1 IN IP4 198.51.100.7\r\ns=-\r\nc=IN IP4 198.51.100.7\r\nt=0 0\r\nm=audio 40000 RTP/AVP 8 0 101\r\na=rtpmap:8 PCMA/8000\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-16\r\na=ptime:20\r\na=sendrecv\r\n";

pub fn sdp_with(dir: &str) -> String {
    SDP_OFFER.replace("a=sendrecv", &format!("a={dir}"))
}

/// A request from the peer. `to_tag` makes it in-dialog.
pub struct Msg<'a> {
    pub method: &'a str,
    pub ruri: &'a str,
    pub call_id: &'a str,
    pub from: &'a str,
    pub to: &'a str,
    pub to_tag: Option<&'a str>,
    pub cseq: u32,
    pub branch: String,
    pub headers: Vec<(&'a str, String)>,
    pub body: String,
}

impl<'a> Msg<'a> {
    pub fn invite(call_id: &'a str) -> Msg<'a> {
        Msg {
            method: "INVITE",
            ruri: "sip:5551000@192.0.2.10",
            call_id,
            from: "\"Alice\" <sip:2125551234@198.51.100.7>;tag=pbx1",
            to: "<sip:5551000@192.0.2.10>",
            to_tag: None,
            cseq: 1,
            branch: format!("z9hG4bK-{call_id}"),
            headers: vec![("Contact", "<sip:alice@198.51.100.7:5060>".into())],
            body: SDP_OFFER.into(),
        }
    }

    pub fn in_dialog(method: &'a str, call_id: &'a str, to_tag: &'a str, cseq: u32, branch: &'a str) -> Msg<'a> {
        Msg {
            method,
            ruri: "sip:tandem@192.0.2.10:5060",
            call_id,
            from: "\"Alice\" <sip:2125551234@198.51.100.7>;tag=pbx1",
            to: "<sip:5551000@192.0.2.10>",
            to_tag: Some(to_tag),
            cseq,
            branch: branch.to_owned(),
            headers: vec![("Contact", "<sip:alice@198.51.100.7:5060>".into())],
            body: String::new(),
        }
    }

    pub fn header(mut self, n: &'a str, v: impl Into<String>) -> Msg<'a> {
        self.headers.push((n, v.into()));
        self
    }

    pub fn body(mut self, b: impl Into<String>) -> Msg<'a> {
        self.body = b.into();
        self
    }

    pub fn text(&self) -> String {
        let to = match self.to_tag {
            Some(t) => format!("{};tag={t}", self.to),
            None => self.to.to_owned(),
        };
        let mut s = format!(
            "{} {} SIP/2.0\r\nVia: SIP/2.0/UDP 198.51.100.7:5060;branch={};rport\r\nMax-Forwards: 70\r\nFrom: {}\r\nTo: {}\r\nCall-ID: {}\r\nCSeq: {} {}\r\n",
            self.method, self.ruri, self.branch, self.from, to, self.call_id, self.cseq, self.method
        );
        for (n, v) in &self.headers {
            s.push_str(&format!("{n}: {v}\r\n"));
        }
        if !self.body.is_empty() {
            s.push_str("Content-Type: application/sdp\r\n");
        }
        s.push_str(&format!("Content-Length: {}\r\n\r\n{}", self.body.len(), self.body));
        s
    }
}

/// A response to one of our requests, as the peer would send it.
pub fn reply(req: &Request, status: u16, to_tag: Option<&str>, headers: &[(&str, &str)], body: &str) -> String {
    let mut r = Response::for_request(req, status, None, to_tag);
    for (n, v) in headers {
        r.headers.push(n, *v);
    }
    if !body.is_empty() {
        r = r.with_body("application/sdp", body.as_bytes().to_vec());
    }
    String::from_utf8(r.to_bytes()).unwrap()
}

/// The To tag of a response.
pub fn to_tag(r: &impl HeaderAccess) -> String {
    r.to_addr().and_then(|a| a.tag().map(str::to_owned)).expect("a To tag")
}

pub fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}
