//! Reliable provisional responses (RFC 3262, option tag `100rel`): the
//! RSeq counter and retransmission schedule of the UAS, and the RSeq
//! tracking and RAck building of the UAC.

use crate::dialog::Dialog;
use crate::wire::{FromHeader, HeaderAccess, Method, RAck, Request, Response};
use std::time::{Duration, Instant};

/// The option tag (RFC 3262 §3).
pub const TAG: &str = "100rel";

/// Whether a message lists `100rel` in `header` (Require or Supported).
pub fn lists_100rel(m: &impl HeaderAccess, header: &str) -> bool {
    m.option_tags(header).iter().any(|t| t.eq_ignore_ascii_case(TAG))
}

/// What the UAS must do now for its outstanding reliable provisional.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RelAction {
    /// Send the provisional response again (these bytes).
    Retransmit(Vec<u8>),
    /// No PRACK in 64·T1: the INVITE should be rejected with 5xx (RFC 3262 §3).
    GiveUp,
}

/// The UAS side: numbers reliable provisionals and retransmits the
/// outstanding one (T1 doubling, RFC 3262 §3) until its PRACK arrives.
#[derive(Debug, Clone)]
pub struct RelSender {
    next_rseq: u32,
    t1: Duration,
    outstanding: Option<Outstanding>,
}

#[derive(Debug, Clone)]
struct Outstanding {
    rseq: u32,
    cseq: u32,
    bytes: Vec<u8>,
    next: Instant,
    interval: Duration,
    give_up: Instant,
}

impl RelSender {
    /// A sender whose first RSeq is `initial` (RFC 3262 §3: random, 1..2^31-1).
    pub fn new(initial: u32, t1: Duration) -> RelSender {
        RelSender { next_rseq: initial.clamp(1, (1 << 31) - 1), t1, outstanding: None }
    }

    /// Whether a reliable provisional awaits its PRACK (send no other one until then).
    pub fn is_outstanding(&self) -> bool {
        self.outstanding.is_some()
    }

    /// Makes `resp` (a 101–199 to the INVITE with CSeq `invite_cseq`)
    /// reliable: adds `Require: 100rel` and the next RSeq, arms the
    /// retransmission timer, and returns the bytes to send.
    pub fn send(&mut self, resp: &mut Response, invite_cseq: u32, now: Instant) -> Vec<u8> {
        let rseq = self.next_rseq;
        self.next_rseq = self.next_rseq.wrapping_add(1);
        resp.headers.push("Require", TAG);
        resp.headers.set("RSeq", rseq.to_string());
        let bytes = resp.to_bytes();
        self.outstanding =
            Some(Outstanding { rseq, cseq: invite_cseq, bytes: bytes.clone(), next: now + self.t1, interval: self.t1, give_up: now + 64 * self.t1 });
        bytes
    }

    /// Whether `prack` acknowledges the outstanding provisional (RAck
    /// matches RSeq, CSeq and INVITE); if so the retransmissions stop.
    pub fn handle_prack(&mut self, prack: &Request) -> bool {
        let Some(o) = &self.outstanding else { return false };
        let Some(rack) = prack.header("RAck").and_then(|r| RAck::from_header(r).ok()) else { return false };
        let ok = prack.method == Method::Prack && rack.rseq == o.rseq && rack.cseq == o.cseq && rack.method == Method::Invite;
        if ok {
            self.outstanding = None;
        }
        ok
    }

    /// Stops retransmitting (the INVITE got its final response).
    pub fn cancel(&mut self) {
        self.outstanding = None;
    }

    /// When [`RelSender::handle_timeout`] must next be called.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.outstanding.as_ref().map(|o| o.next.min(o.give_up))
    }

    /// Advances time: retransmit (interval doubles, no cap) or give up after 64·T1.
    pub fn handle_timeout(&mut self, now: Instant) -> Option<RelAction> {
        let o = self.outstanding.as_mut()?;
        if now >= o.give_up {
            self.outstanding = None;
            return Some(RelAction::GiveUp);
        }
        if now >= o.next {
            o.interval *= 2;
            o.next += o.interval;
            return Some(RelAction::Retransmit(o.bytes.clone()));
        }
        None
    }
}

/// The UAC side: which reliable provisionals are new, and the RAck for each.
#[derive(Debug, Clone, Default)]
pub struct RelReceiver {
    last_rseq: Option<u32>,
}

impl RelReceiver {
    /// A receiver that has seen no reliable provisional.
    pub fn new() -> RelReceiver {
        RelReceiver::default()
    }

    /// For a provisional response to our INVITE: `Some(rack)` if it is
    /// reliable and new in order (send a PRACK with it), `None` if it is
    /// unreliable, a retransmission, or out of order (RFC 3262 §4: discard).
    pub fn on_provisional(&mut self, resp: &Response) -> Option<RAck> {
        if resp.status <= 100 || resp.status >= 200 || !lists_100rel(resp, "Require") {
            return None;
        }
        let rseq = resp.header("RSeq").and_then(|r| u32::from_header(r).ok())?;
        let cseq = resp.cseq()?;
        match self.last_rseq {
            Some(last) if rseq != last.wrapping_add(1) => return None,
            _ => {}
        }
        self.last_rseq = Some(rseq);
        Some(RAck { rseq, cseq: cseq.seq, method: cseq.method })
    }
}

/// The PRACK for `rack` in the (early) dialog.
pub fn build_prack(dialog: &mut Dialog, rack: &RAck) -> Request {
    let mut p = dialog.new_request(Method::Prack);
    p.headers.push("RAck", rack.to_string());
    p
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::Uri;

    fn invite() -> Request {
        Request::new(Method::Invite, Uri::parse("sip:bob@example.com").unwrap())
            .with_header("Via", "SIP/2.0/UDP 192.0.2.1;branch=z9hG4bKa")
            .with_header("From", "<sip:alice@example.com>;tag=a")
            .with_header("To", "<sip:bob@example.com>")
            .with_header("Call-ID", "r1")
            .with_header("CSeq", "7 INVITE")
            .with_header("Contact", "<sip:alice@192.0.2.1>")
            .with_header("Supported", "100rel")
    }

    #[test]
    fn reliable_provisional_round_trip_stops_retransmission() {
        let t0 = Instant::now();
        let inv = invite();
        assert!(lists_100rel(&inv, "Supported"));
        let mut tx = RelSender::new(1000, Duration::from_millis(500));
        let mut ringing = Response::for_request(&inv, 180, None, Some("b")).with_header("Contact", "<sip:bob@198.51.100.7>");
        tx.send(&mut ringing, 7, t0);
        assert_eq!(ringing.header("RSeq"), Some("1000"));
        assert_eq!(tx.poll_timeout(), Some(t0 + Duration::from_millis(500)));
        assert!(matches!(tx.handle_timeout(t0 + Duration::from_millis(500)), Some(RelAction::Retransmit(_))));
        assert_eq!(tx.poll_timeout(), Some(t0 + Duration::from_millis(1500)));

        let mut rx = RelReceiver::new();
        let rack = rx.on_provisional(&ringing).unwrap();
        assert_eq!(rack, RAck { rseq: 1000, cseq: 7, method: Method::Invite });
        assert_eq!(rx.on_provisional(&ringing), None, "a retransmission is not PRACKed again");
        let mut d = Dialog::from_uac(&inv, &ringing, None).unwrap();
        let prack = build_prack(&mut d, &rack);
        assert_eq!(prack.cseq().unwrap().seq, 8);
        assert!(tx.handle_prack(&prack));
        assert_eq!(tx.poll_timeout(), None);
    }

    #[test]
    fn unacknowledged_reliable_provisional_gives_up_after_64_t1() {
        let t0 = Instant::now();
        let mut tx = RelSender::new(1, Duration::from_millis(500));
        let mut r = Response::for_request(&invite(), 183, None, Some("b"));
        tx.send(&mut r, 7, t0);
        let mut sends = 0;
        let now = loop {
            let now = tx.poll_timeout().unwrap();
            match tx.handle_timeout(now) {
                Some(RelAction::Retransmit(_)) => sends += 1,
                Some(RelAction::GiveUp) => break now,
                None => {}
            }
            assert!(sends < 20);
        };
        assert_eq!(now, t0 + Duration::from_secs(32));
        assert_eq!(sends, 6, "at 0.5, 1.5, 3.5, 7.5, 15.5, 31.5 s");
    }
}
