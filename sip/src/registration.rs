//! A sans-IO REGISTER client for one trunk (RFC 3261 §10).
//!
//! [`Registration`] decides what to send and when; it sends nothing. The
//! shell drains [`Registration::poll_request`], sends each request with
//! [`crate::transaction::Endpoint::send_request`] to the registrar, and
//! feeds the outcome of that transaction back: [`Registration::handle_response`]
//! for its responses, [`Registration::handle_failure`] for a timeout or
//! transport error. Time comes in through [`Registration::handle_timeout`].
//!
//! Behaviour:
//! - registers with the configured expiry and refreshes at
//!   [`Config::refresh_percent`] (75 %) of the granted expiry;
//! - answers a 401/407 digest challenge once per nonce (a second challenge
//!   with the same nonce is a failure: wrong credentials);
//! - on 423 retries at once with the registrar's Min-Expires;
//! - on any other failure backs off (doubling from [`Config::retry_initial`]
//!   up to [`Config::retry_max`], or the Retry-After the registrar gave) and
//!   tries again;
//! - on [`Registration::stop`] unregisters (Expires: 0).

use crate::auth::DigestClient;
use crate::ids::IdGen;
use crate::wire::{CSeq, Contact, FromHeader, HeaderAccess, Method, NameAddr, Request, Response, RetryAfter, Uri};
use std::collections::VecDeque;
use std::time::{Duration, Instant};

/// Settings of one registration.
#[derive(Debug, Clone)]
pub struct Config {
    /// The registrar's URI (the Request-URI), e.g. `sip:pbx.example.com`.
    pub registrar: Uri,
    /// The address of record (To and From).
    pub aor: Uri,
    /// Our contact.
    pub contact: NameAddr,
    /// The expiry we ask for, seconds.
    pub expires: u32,
    /// Refresh at this percentage of the granted expiry.
    pub refresh_percent: u32,
    /// First retry delay after a failure.
    pub retry_initial: Duration,
    /// Longest retry delay.
    pub retry_max: Duration,
    /// Digest credentials (user, password), if the registrar challenges.
    pub credentials: Option<(String, String)>,
    /// Host part of the Call-ID.
    pub call_id_host: String,
}

impl Config {
    /// A configuration with the usual defaults: 3600 s, refresh at 75 %,
    /// retries from 30 s up to 10 minutes.
    pub fn new(registrar: Uri, aor: Uri, contact: NameAddr) -> Config {
        Config {
            call_id_host: contact.uri.host.clone(),
            registrar,
            aor,
            contact,
            expires: 3600,
            refresh_percent: 75,
            retry_initial: Duration::from_secs(30),
            retry_max: Duration::from_secs(600),
            credentials: None,
        }
    }
}

/// What the registration reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RegEvent {
    /// The registrar accepted the binding for `expires` seconds.
    Registered {
        /// The granted expiry.
        expires: u32,
    },
    /// The attempt failed (`status` is `None` for a timeout or transport
    /// error); the next attempt is in `retry_in`.
    Failed {
        /// The final status, if any.
        status: Option<u16>,
        /// When the next attempt starts.
        retry_in: Duration,
    },
    /// The binding was removed after [`Registration::stop`] (or the attempt to remove it ended).
    Unregistered,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Idle,
    Registering,
    Registered,
    Waiting,
    Unregistering,
    Stopped,
}

/// The REGISTER client state machine. See the [module docs](self).
#[derive(Debug)]
pub struct Registration {
    cfg: Config,
    ids: IdGen,
    state: State,
    call_id: String,
    from_tag: String,
    cseq: u32,
    expires: u32,
    auth: Option<DigestClient>,
    last: Option<Request>,
    timer: Option<Instant>,
    failures: u32,
    requests: VecDeque<Request>,
    events: VecDeque<RegEvent>,
}

impl Registration {
    /// A registration that starts on the first [`Registration::handle_timeout`] (or [`Registration::start`]).
    pub fn new(cfg: Config, seed: u64) -> Registration {
        let mut ids = IdGen::new(seed);
        let call_id = ids.call_id(&cfg.call_id_host);
        let from_tag = ids.tag();
        let auth = cfg.credentials.as_ref().map(|(u, p)| DigestClient::new(u, p));
        Registration {
            expires: cfg.expires,
            cfg,
            ids,
            state: State::Idle,
            call_id,
            from_tag,
            cseq: 0,
            auth,
            last: None,
            timer: None,
            failures: 0,
            requests: VecDeque::new(),
            events: VecDeque::new(),
        }
    }

    /// Whether the binding is currently in place.
    pub fn is_registered(&self) -> bool {
        self.state == State::Registered
    }

    /// Sends the first REGISTER now.
    pub fn start(&mut self, now: Instant) {
        let _ = now;
        if matches!(self.state, State::Idle | State::Waiting | State::Registered) {
            self.send_register(self.expires);
            self.state = State::Registering;
        }
    }

    /// Removes the binding (REGISTER with Expires: 0) and stops refreshing.
    pub fn stop(&mut self, now: Instant) {
        let _ = now;
        self.timer = None;
        match self.state {
            State::Registered | State::Registering => {
                self.send_register(0);
                self.state = State::Unregistering;
            }
            State::Unregistering | State::Stopped => {}
            _ => {
                self.state = State::Stopped;
                self.events.push_back(RegEvent::Unregistered);
            }
        }
    }

    fn build(&mut self, expires: u32) -> Request {
        self.cseq += 1;
        Request::new(Method::Register, self.cfg.registrar.clone())
            .with_header("Max-Forwards", "70")
            .with_header("From", NameAddr::new(self.cfg.aor.clone()).with_tag(&self.from_tag).to_string())
            .with_header("To", NameAddr::new(self.cfg.aor.clone()).to_string())
            .with_header("Call-ID", self.call_id.clone())
            .with_header("CSeq", CSeq { seq: self.cseq, method: Method::Register }.to_string())
            .with_header("Contact", self.cfg.contact.to_string())
            .with_header("Expires", expires.to_string())
    }

    fn send_register(&mut self, expires: u32) {
        let mut req = self.build(expires);
        if let Some(a) = &mut self.auth {
            let cnonce = self.ids.cnonce();
            a.authorize(&mut req, &cnonce);
        }
        self.last = Some(req.clone());
        self.requests.push_back(req);
    }

    /// The next REGISTER to send, if any.
    pub fn poll_request(&mut self) -> Option<Request> {
        self.requests.pop_front()
    }

    /// The next event, if any.
    pub fn poll_event(&mut self) -> Option<RegEvent> {
        self.events.pop_front()
    }

    /// When [`Registration::handle_timeout`] must next be called.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.timer
    }

    /// Advances time: refresh or retry when due.
    pub fn handle_timeout(&mut self, now: Instant) {
        if self.state == State::Idle {
            self.start(now);
            return;
        }
        if self.timer.is_some_and(|t| t <= now) {
            self.timer = None;
            if matches!(self.state, State::Registered | State::Waiting) {
                self.send_register(self.expires);
                self.state = State::Registering;
            }
        }
    }

    /// A final or provisional response to our latest REGISTER.
    pub fn handle_response(&mut self, resp: &Response, now: Instant) {
        if resp.status < 200 || !matches!(self.state, State::Registering | State::Unregistering) {
            return;
        }
        if resp.cseq().map(|c| c.seq) != Some(self.cseq) {
            return; // a response to an older attempt
        }
        let unregistering = self.state == State::Unregistering;
        match resp.status {
            200..=299 if unregistering => {
                self.state = State::Stopped;
                self.events.push_back(RegEvent::Unregistered);
            }
            200..=299 => {
                let granted = self.granted_expiry(resp);
                self.failures = 0;
                self.state = State::Registered;
                let refresh = u64::from(granted) * u64::from(self.cfg.refresh_percent.min(100)) / 100;
                self.timer = Some(now + Duration::from_secs(refresh.max(1)));
                self.events.push_back(RegEvent::Registered { expires: granted });
            }
            401 | 407 if self.auth.is_some() => {
                let mut retry = self.build(if unregistering { 0 } else { self.expires });
                let cnonce = self.ids.cnonce();
                match self.auth.as_mut().map(|a| a.answer(resp, &mut retry, &cnonce)) {
                    Some(Ok(())) => {
                        self.last = Some(retry.clone());
                        self.requests.push_back(retry);
                    }
                    _ => self.fail(Some(resp.status), resp, now),
                }
            }
            423 if !unregistering => {
                // RFC 3261 §10.2.8: retry with at least the registrar's Min-Expires.
                match resp.header("Min-Expires").and_then(|m| u32::from_header(m).ok()) {
                    Some(min) if min > self.expires => {
                        self.expires = min;
                        self.send_register(min);
                    }
                    _ => self.fail(Some(423), resp, now),
                }
            }
            s => self.fail(Some(s), resp, now),
        }
    }

    /// The REGISTER transaction timed out or could not be sent.
    pub fn handle_failure(&mut self, now: Instant) {
        if matches!(self.state, State::Registering | State::Unregistering) {
            self.fail(None, &Response::new(408), now);
        }
    }

    fn fail(&mut self, status: Option<u16>, resp: &Response, now: Instant) {
        if self.state == State::Unregistering {
            self.state = State::Stopped;
            self.events.push_back(RegEvent::Unregistered);
            return;
        }
        self.failures += 1;
        let backoff = self.cfg.retry_initial.saturating_mul(1 << (self.failures - 1).min(16)).min(self.cfg.retry_max);
        let retry_in = match resp.header("Retry-After").and_then(|r| RetryAfter::from_header(r).ok()) {
            Some(r) if status.is_some() => Duration::from_secs(u64::from(r.delta)),
            _ => backoff,
        };
        self.state = State::Waiting;
        self.timer = Some(now + retry_in);
        self.events.push_back(RegEvent::Failed { status, retry_in });
    }

    /// The expiry the registrar granted: our Contact's `expires`, else the
    /// Expires header, else what we asked (§10.2.4).
    fn granted_expiry(&self, resp: &Response) -> u32 {
        let ours = resp.typed_list::<Contact>("Contact").unwrap_or_default().into_iter().find_map(|c| match c {
            Contact::Addr(a) if a.uri == self.cfg.contact.uri => Contact::Addr(a).expires(),
            _ => None,
        });
        ours.or_else(|| resp.header("Expires").and_then(|e| u32::from_header(e).ok())).unwrap_or(self.expires)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::{DigestServer, Verdict};

    fn config() -> Config {
        let mut c = Config::new(
            Uri::parse("sip:pbx.example.com").unwrap(),
            Uri::parse("sip:trunk1@pbx.example.com").unwrap(),
            NameAddr::new(Uri::parse("sip:trunk1@192.0.2.1:5060").unwrap()),
        );
        c.credentials = Some(("trunk1".into(), "pw".into()));
        c
    }

    fn ok(req: &Request, contact_expires: u32) -> Response {
        Response::for_request(req, 200, None, Some("r")).with_header("Contact", format!("<sip:trunk1@192.0.2.1:5060>;expires={contact_expires}"))
    }

    #[test]
    fn registers_through_a_challenge_and_refreshes_at_75_percent() {
        let t0 = Instant::now();
        let server = DigestServer::new("pbx.example.com", b"k");
        let mut reg = Registration::new(config(), 1);
        reg.handle_timeout(t0);
        let first = reg.poll_request().unwrap();
        assert_eq!(first.header("Expires"), Some("3600"));
        let Verdict::Challenge(challenge, _) = server.verify_request(&first, |_| Some("pw".into()), 100) else { panic!() };
        reg.handle_response(&challenge, t0);
        let second = reg.poll_request().unwrap();
        assert_eq!(second.cseq().unwrap().seq, 2);
        assert_eq!(second.call_id(), first.call_id());
        assert_eq!(server.verify_request(&second, |_| Some("pw".into()), 101), Verdict::Authorized("trunk1".into()));
        reg.handle_response(&ok(&second, 600), t0);
        assert_eq!(reg.poll_event(), Some(RegEvent::Registered { expires: 600 }));
        assert_eq!(reg.poll_timeout(), Some(t0 + Duration::from_secs(450)));
        reg.handle_timeout(t0 + Duration::from_secs(450));
        let refresh = reg.poll_request().unwrap();
        assert_eq!(refresh.cseq().unwrap().seq, 3);
        assert!(refresh.header("Authorization").is_some(), "refresh carries credentials preemptively");
    }

    #[test]
    fn second_challenge_with_same_nonce_is_a_failure_with_backoff() {
        let t0 = Instant::now();
        let server = DigestServer::new("pbx.example.com", b"k");
        let mut reg = Registration::new(config(), 2);
        reg.start(t0);
        let first = reg.poll_request().unwrap();
        let Verdict::Challenge(challenge, _) = server.verify_request(&first, |_| None, 100) else { panic!() };
        reg.handle_response(&challenge, t0);
        let second = reg.poll_request().unwrap();
        let Verdict::Challenge(again, _) = server.verify_request(&second, |_| Some("other".into()), 100) else { panic!() };
        reg.handle_response(&again, t0);
        assert_eq!(reg.poll_request(), None);
        assert_eq!(reg.poll_event(), Some(RegEvent::Failed { status: Some(401), retry_in: Duration::from_secs(30) }));
        reg.handle_timeout(t0 + Duration::from_secs(30));
        let third = reg.poll_request().unwrap();
        reg.handle_failure(t0 + Duration::from_secs(62));
        assert_eq!(reg.poll_event(), Some(RegEvent::Failed { status: None, retry_in: Duration::from_secs(60) }));
        let _ = third;
    }

    #[test]
    fn interval_too_brief_retries_with_min_expires_and_retry_after_is_honoured() {
        let t0 = Instant::now();
        let mut cfg = config();
        cfg.credentials = None;
        cfg.expires = 60;
        let mut reg = Registration::new(cfg, 3);
        reg.start(t0);
        let r = reg.poll_request().unwrap();
        reg.handle_response(&Response::for_request(&r, 423, None, Some("x")).with_header("Min-Expires", "300"), t0);
        let r2 = reg.poll_request().unwrap();
        assert_eq!(r2.header("Expires"), Some("300"));
        reg.handle_response(&Response::for_request(&r2, 503, None, Some("x")).with_header("Retry-After", "120"), t0);
        assert_eq!(reg.poll_event(), Some(RegEvent::Failed { status: Some(503), retry_in: Duration::from_secs(120) }));
    }

    #[test]
    fn stop_unregisters_with_expires_zero() {
        let t0 = Instant::now();
        let mut cfg = config();
        cfg.credentials = None;
        let mut reg = Registration::new(cfg, 4);
        reg.start(t0);
        let r = reg.poll_request().unwrap();
        reg.handle_response(&Response::for_request(&r, 200, None, Some("x")).with_header("Expires", "1800"), t0);
        assert_eq!(reg.poll_event(), Some(RegEvent::Registered { expires: 1800 }));
        reg.stop(t0 + Duration::from_secs(5));
        let un = reg.poll_request().unwrap();
        assert_eq!(un.header("Expires"), Some("0"));
        assert_eq!(reg.poll_timeout(), None);
        reg.handle_response(&Response::for_request(&un, 200, None, Some("x")), t0 + Duration::from_secs(6));
        assert_eq!(reg.poll_event(), Some(RegEvent::Unregistered));
        assert!(!reg.is_registered());
    }
}
