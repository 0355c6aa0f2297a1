//! OPTIONS keepalive: a peer-liveness state machine for one trunk peer.
//!
//! [`Keepalive`] sends an OPTIONS every [`Config::interval`] (one at a time)
//! and decides from the outcomes whether the peer is up or down. Like
//! [`crate::registration`], it only builds requests: the shell sends them
//! through the transaction layer and feeds responses and failures back.
//!
//! **Policy.** A final response means the peer's SIP stack is alive, so any
//! final response marks the peer up, 4xx included (a 404 or 405 to OPTIONS
//! is common from live peers), except the statuses in
//! [`Config::down_statuses`] (default 408 and 503): a proxy or a loaded
//! peer sends those when the far end is not serving. A timeout, a transport
//! error, no answer within [`Config::response_timeout`], or a down status
//! counts as one failure; [`Config::failures_for_down`] consecutive
//! failures (default 3) mark the peer down. One good answer marks it up.
//! The state starts unknown: the first verdict is always reported.

use crate::ids::IdGen;
use crate::wire::{CSeq, HeaderAccess, Method, NameAddr, Request, Response, Uri};
use std::collections::VecDeque;
use std::time::{Duration, Instant};

/// Settings of a keepalive.
#[derive(Debug, Clone)]
pub struct Config {
    /// The peer's URI (Request-URI and To).
    pub target: Uri,
    /// Our address (From).
    pub from: Uri,
    /// Time between probes.
    pub interval: Duration,
    /// How long to wait for a final response before counting a failure.
    pub response_timeout: Duration,
    /// Consecutive failures that mark the peer down.
    pub failures_for_down: u32,
    /// Final statuses that count as failures.
    pub down_statuses: Vec<u16>,
}

impl Config {
    /// Defaults: every 30 s, 10 s to answer, down after 3 failures, 408/503 count as failures.
    pub fn new(target: Uri, from: Uri) -> Config {
        Config {
            target,
            from,
            interval: Duration::from_secs(30),
            response_timeout: Duration::from_secs(10),
            failures_for_down: 3,
            down_statuses: vec![408, 503],
        }
    }
}

/// A change of the peer's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PeerEvent {
    /// The peer answers.
    Up,
    /// The peer stopped answering.
    Down,
}

/// The keepalive state machine. See the [module docs](self).
#[derive(Debug)]
pub struct Keepalive {
    cfg: Config,
    call_id: String,
    from_tag: String,
    cseq: u32,
    up: Option<bool>,
    failures: u32,
    outstanding: Option<(u32, Instant)>,
    next_probe: Option<Instant>,
    requests: VecDeque<Request>,
    events: VecDeque<PeerEvent>,
}

impl Keepalive {
    /// A keepalive whose first probe goes out on the first [`Keepalive::handle_timeout`].
    pub fn new(cfg: Config, seed: u64) -> Keepalive {
        let mut ids = IdGen::new(seed);
        let call_id = ids.call_id(&cfg.from.host);
        let from_tag = ids.tag();
        Keepalive {
            cfg,
            call_id,
            from_tag,
            cseq: 0,
            up: None,
            failures: 0,
            outstanding: None,
            next_probe: None,
            requests: VecDeque::new(),
            events: VecDeque::new(),
        }
    }

    /// `Some(true)` if up, `Some(false)` if down, `None` before the first verdict.
    pub fn is_up(&self) -> Option<bool> {
        self.up
    }

    /// The next OPTIONS to send, if any.
    pub fn poll_request(&mut self) -> Option<Request> {
        self.requests.pop_front()
    }

    /// The next state change, if any.
    pub fn poll_event(&mut self) -> Option<PeerEvent> {
        self.events.pop_front()
    }

    /// When [`Keepalive::handle_timeout`] must next be called.
    pub fn poll_timeout(&self) -> Option<Instant> {
        match (self.outstanding.map(|o| o.1), self.next_probe) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Advances time: probe when due, count an unanswered probe as a failure.
    pub fn handle_timeout(&mut self, now: Instant) {
        if let Some((_, deadline)) = self.outstanding
            && deadline <= now
        {
            self.outstanding = None;
            self.failure();
        }
        if self.next_probe.is_none_or(|t| t <= now) {
            self.next_probe = Some(now + self.cfg.interval);
            if self.outstanding.is_none() {
                self.probe(now);
            }
        }
    }

    fn probe(&mut self, now: Instant) {
        self.cseq += 1;
        let req = Request::new(Method::Options, self.cfg.target.clone())
            .with_header("Max-Forwards", "70")
            .with_header("From", NameAddr::new(self.cfg.from.clone()).with_tag(&self.from_tag).to_string())
            .with_header("To", NameAddr::new(self.cfg.target.clone()).to_string())
            .with_header("Call-ID", self.call_id.clone())
            .with_header("CSeq", CSeq { seq: self.cseq, method: Method::Options }.to_string())
            .with_header("Accept", "application/sdp");
        self.outstanding = Some((self.cseq, now + self.cfg.response_timeout));
        self.requests.push_back(req);
    }

    /// A response to one of our OPTIONS.
    pub fn handle_response(&mut self, resp: &Response, now: Instant) {
        let _ = now;
        if resp.status < 200 {
            return;
        }
        let seq = resp.cseq().map(|c| c.seq);
        if self.outstanding.map(|o| o.0) != seq {
            return; // late answer to a probe already counted
        }
        self.outstanding = None;
        if self.cfg.down_statuses.contains(&resp.status) {
            self.failure();
        } else {
            self.failures = 0;
            if self.up != Some(true) {
                self.up = Some(true);
                self.events.push_back(PeerEvent::Up);
            }
        }
    }

    /// The outstanding OPTIONS timed out in the transaction layer or could not be sent.
    pub fn handle_failure(&mut self, now: Instant) {
        let _ = now;
        if self.outstanding.take().is_some() {
            self.failure();
        }
    }

    fn failure(&mut self) {
        self.failures += 1;
        let down = self.failures >= self.cfg.failures_for_down.max(1);
        if down && self.up != Some(false) {
            self.up = Some(false);
            self.events.push_back(PeerEvent::Down);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ka() -> Keepalive {
        Keepalive::new(Config::new(Uri::parse("sip:peer.example.com").unwrap(), Uri::parse("sip:gw@192.0.2.1").unwrap()), 9)
    }

    #[test]
    fn any_answer_marks_up_and_three_silent_probes_mark_down() {
        let t0 = Instant::now();
        let mut k = ka();
        k.handle_timeout(t0);
        let p = k.poll_request().unwrap();
        assert_eq!(p.method, Method::Options);
        k.handle_response(&Response::for_request(&p, 404, None, Some("x")), t0 + Duration::from_millis(20));
        assert_eq!(k.poll_event(), Some(PeerEvent::Up));
        assert_eq!(k.poll_timeout(), Some(t0 + Duration::from_secs(30)));
        let mut now = t0;
        for i in 1..=3 {
            now = t0 + Duration::from_secs(30 * i);
            k.handle_timeout(now);
            assert!(k.poll_request().is_some());
            k.handle_timeout(now + Duration::from_secs(10));
            if i < 3 {
                assert_eq!(k.poll_event(), None, "probe {i}");
            }
        }
        assert_eq!(k.poll_event(), Some(PeerEvent::Down));
        assert_eq!(k.is_up(), Some(false));
        k.handle_timeout(now + Duration::from_secs(30));
        let p = k.poll_request().unwrap();
        k.handle_response(&Response::for_request(&p, 200, None, Some("x")), now + Duration::from_secs(31));
        assert_eq!(k.poll_event(), Some(PeerEvent::Up));
    }

    #[test]
    fn service_unavailable_counts_as_failure_and_late_answers_are_ignored() {
        let t0 = Instant::now();
        let mut k = ka();
        k.cfg.failures_for_down = 1;
        k.handle_timeout(t0);
        let p1 = k.poll_request().unwrap();
        k.handle_response(&Response::for_request(&p1, 503, None, Some("x")), t0);
        assert_eq!(k.poll_event(), Some(PeerEvent::Down));
        k.handle_timeout(t0 + Duration::from_secs(30));
        let p2 = k.poll_request().unwrap();
        k.handle_response(&Response::for_request(&p1, 200, None, Some("x")), t0 + Duration::from_secs(31));
        assert_eq!(k.poll_event(), None, "answer to the old probe does not count");
        k.handle_failure(t0 + Duration::from_secs(32));
        assert_eq!(k.poll_event(), None, "already down");
        let _ = p2;
    }
}
