//! SIP session timers (RFC 4028): negotiating Session-Expires, Min-SE and
//! the refresher, handling 422, and computing when to refresh and when to
//! give up on a silent session.

use crate::wire::{FromHeader, HeaderAccess, Refresher, Request, Response, SessionExpires};
use std::time::{Duration, Instant};

/// The option tag (RFC 4028 §3).
pub const TAG: &str = "timer";
/// RFC 4028 §4: Min-SE may not be below 90 s.
pub const MIN_SE_FLOOR: u32 = 90;
/// RFC 4028 §4: recommended Session-Expires of 1800 s.
pub const DEFAULT_SESSION_EXPIRES: u32 = 1800;

/// Our session-timer preferences.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Config {
    /// The interval we ask for (seconds).
    pub session_expires: u32,
    /// The smallest interval we accept (seconds, at least 90).
    pub min_se: u32,
}

impl Default for Config {
    fn default() -> Config {
        Config { session_expires: DEFAULT_SESSION_EXPIRES, min_se: MIN_SE_FLOOR }
    }
}

/// Which side we are in the INVITE that set the timer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// We sent the INVITE (or refresh).
    Uac,
    /// We received it.
    Uas,
}

/// A negotiated session timer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionTimer {
    /// The interval in seconds.
    pub interval: u32,
    /// Who refreshes.
    pub refresher: Refresher,
    /// Our role in the transaction that set it.
    pub role: Role,
    /// When the session was last refreshed.
    pub refreshed_at: Instant,
}

/// The UAS answer to an INVITE's session-timer headers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UasDecision {
    /// Accept: put these headers in the 2xx (see [`UasDecision::apply`]).
    Accept {
        /// The Session-Expires to send.
        session_expires: SessionExpires,
        /// Whether to add `Require: timer` (the UAC supports it).
        require_timer: bool,
    },
    /// The interval is below our Min-SE: answer 422 with this Min-SE (RFC 4028 §8.1).
    TooSmall {
        /// Our Min-SE.
        min_se: u32,
    },
    /// No session timer is in use.
    None,
}

impl UasDecision {
    /// Adds the decision's headers to the 2xx (or 422) we send.
    pub fn apply(&self, resp: &mut Response) {
        match self {
            UasDecision::Accept { session_expires, require_timer } => {
                resp.headers.set("Session-Expires", session_expires.to_string());
                if *require_timer {
                    resp.headers.push("Require", TAG);
                }
            }
            UasDecision::TooSmall { min_se } => resp.headers.set("Min-SE", min_se.to_string()),
            UasDecision::None => {}
        }
    }
}

fn supports_timer(m: &impl HeaderAccess) -> bool {
    m.option_tags("Supported").iter().chain(m.option_tags("Require").iter()).any(|t| t.eq_ignore_ascii_case(TAG))
}

/// Adds our session-timer headers to an INVITE or UPDATE we send (RFC 4028 §7.1):
/// `Supported: timer`, `Session-Expires` and `Min-SE`.
pub fn add_request_headers(cfg: &Config, req: &mut Request) {
    if !supports_timer(req) {
        req.headers.push("Supported", TAG);
    }
    req.headers.set("Session-Expires", cfg.session_expires.max(cfg.min_se).to_string());
    req.headers.set("Min-SE", cfg.min_se.max(MIN_SE_FLOOR).to_string());
}

/// The UAS side (RFC 4028 §9): decide on a received INVITE.
/// The refresher defaults to the UAC when it supports timers, else us.
pub fn uas_negotiate(cfg: &Config, invite: &Request) -> UasDecision {
    let our_min = cfg.min_se.max(MIN_SE_FLOOR);
    let uac_supports = supports_timer(invite);
    let requested = invite.header("Session-Expires").and_then(|s| SessionExpires::from_header(s).ok());
    let Some(se) = requested else {
        // The UAC asked for nothing; we may still run a timer as refresher ourselves.
        return if cfg.session_expires > 0 {
            UasDecision::Accept {
                session_expires: SessionExpires { delta: cfg.session_expires.max(our_min), refresher: Some(Refresher::Uas) },
                require_timer: false,
            }
        } else {
            UasDecision::None
        };
    };
    if se.delta < our_min {
        return UasDecision::TooSmall { min_se: our_min };
    }
    let their_min = invite.header("Min-SE").and_then(|s| SessionExpires::from_header(s).ok()).map_or(MIN_SE_FLOOR, |m| m.delta);
    // We may shorten the interval, but never below either Min-SE (§9).
    let delta = se.delta.min(cfg.session_expires.max(our_min)).max(their_min).max(our_min);
    let refresher = se.refresher.unwrap_or(if uac_supports { Refresher::Uac } else { Refresher::Uas });
    let refresher = if !uac_supports { Refresher::Uas } else { refresher };
    UasDecision::Accept { session_expires: SessionExpires { delta, refresher: Some(refresher) }, require_timer: uac_supports }
}

/// The UAC side on a 422 (RFC 4028 §7.3): the Session-Expires to retry
/// with (the peer's Min-SE), and updates `cfg` so the retry carries it.
pub fn uac_on_422(cfg: &mut Config, resp: &Response) -> Option<u32> {
    let min = resp.header("Min-SE").and_then(|s| SessionExpires::from_header(s).ok())?.delta;
    cfg.min_se = cfg.min_se.max(min);
    cfg.session_expires = cfg.session_expires.max(min);
    Some(cfg.session_expires)
}

impl SessionTimer {
    /// The UAC side on the 2xx (RFC 4028 §7.2): the timer the UAS chose, if
    /// any. A 2xx without Session-Expires means no timer.
    pub fn from_2xx(resp: &Response, now: Instant) -> Option<SessionTimer> {
        let se = SessionExpires::from_header(resp.header("Session-Expires")?).ok()?;
        Some(SessionTimer { interval: se.delta, refresher: se.refresher.unwrap_or(Refresher::Uac), role: Role::Uac, refreshed_at: now })
    }

    /// The UAS side once the 2xx carrying `decision` is sent.
    pub fn from_decision(decision: &UasDecision, now: Instant) -> Option<SessionTimer> {
        match decision {
            UasDecision::Accept { session_expires, .. } => Some(SessionTimer {
                interval: session_expires.delta,
                refresher: session_expires.refresher.unwrap_or(Refresher::Uas),
                role: Role::Uas,
                refreshed_at: now,
            }),
            _ => None,
        }
    }

    /// Whether we are the refresher.
    pub fn we_refresh(&self) -> bool {
        matches!((self.role, self.refresher), (Role::Uac, Refresher::Uac) | (Role::Uas, Refresher::Uas))
    }

    /// When we must send a refresh (re-INVITE or UPDATE): half the interval
    /// after the last refresh (RFC 4028 §10). `None` if the peer refreshes.
    pub fn refresh_at(&self) -> Option<Instant> {
        self.we_refresh().then(|| self.refreshed_at + Duration::from_secs(u64::from(self.interval) / 2))
    }

    /// When to give up and send BYE if no refresh arrived: the interval minus
    /// the smaller of 32 s and a third of the interval (RFC 4028 §10).
    pub fn expire_at(&self) -> Instant {
        let i = u64::from(self.interval);
        self.refreshed_at + Duration::from_secs(i - (i / 3).min(32))
    }

    /// Records a successful refresh at `now`.
    pub fn refreshed(&mut self, now: Instant) {
        self.refreshed_at = now;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::{Method, Uri};

    fn invite(extra: &[(&str, &str)]) -> Request {
        let mut r = Request::new(Method::Invite, Uri::parse("sip:b@example.com").unwrap())
            .with_header("Via", "SIP/2.0/UDP 192.0.2.1;branch=z9hG4bKa")
            .with_header("From", "<sip:a@example.com>;tag=a")
            .with_header("To", "<sip:b@example.com>")
            .with_header("Call-ID", "s1")
            .with_header("CSeq", "1 INVITE");
        for (n, v) in extra {
            r.headers.push(n, *v);
        }
        r
    }

    #[test]
    fn uas_accepts_and_lets_a_supporting_uac_refresh() {
        let cfg = Config::default();
        let d = uas_negotiate(&cfg, &invite(&[("Supported", "timer"), ("Session-Expires", "1800")]));
        assert_eq!(d, UasDecision::Accept { session_expires: SessionExpires { delta: 1800, refresher: Some(Refresher::Uac) }, require_timer: true });
        let mut ok = Response::new(200);
        d.apply(&mut ok);
        assert_eq!(ok.header("Session-Expires"), Some("1800;refresher=uac"));
        let t0 = Instant::now();
        let uas = SessionTimer::from_decision(&d, t0).unwrap();
        assert!(!uas.we_refresh());
        assert_eq!(uas.expire_at(), t0 + Duration::from_secs(1800 - 32));
        let uac = SessionTimer::from_2xx(&ok, t0).unwrap();
        assert!(uac.we_refresh());
        assert_eq!(uac.refresh_at(), Some(t0 + Duration::from_secs(900)));
    }

    #[test]
    fn too_small_interval_gets_422_and_uac_retries_with_min_se() {
        let cfg = Config { session_expires: 1800, min_se: 600 };
        let d = uas_negotiate(&cfg, &invite(&[("Supported", "timer"), ("Session-Expires", "300")]));
        assert_eq!(d, UasDecision::TooSmall { min_se: 600 });
        let mut resp = Response::new(422);
        d.apply(&mut resp);
        let mut uac = Config { session_expires: 300, min_se: 90 };
        assert_eq!(uac_on_422(&mut uac, &resp), Some(600));
        let mut retry = invite(&[]);
        add_request_headers(&uac, &mut retry);
        assert_eq!(retry.header("Session-Expires"), Some("600"));
        assert_eq!(retry.header("Min-SE"), Some("600"));
        assert_eq!(retry.option_tags("Supported"), vec!["timer"]);
    }

    #[test]
    fn uac_without_timer_support_makes_us_the_refresher() {
        let d = uas_negotiate(&Config::default(), &invite(&[("Session-Expires", "1200;refresher=uac")]));
        assert_eq!(d, UasDecision::Accept { session_expires: SessionExpires { delta: 1200, refresher: Some(Refresher::Uas) }, require_timer: false });
        let t = SessionTimer::from_decision(&d, Instant::now()).unwrap();
        assert!(t.we_refresh());
        let short = SessionTimer { interval: 90, refresher: Refresher::Uas, role: Role::Uac, refreshed_at: t.refreshed_at };
        assert_eq!(short.expire_at(), t.refreshed_at + Duration::from_secs(60), "a third of 90 s is below 32 s");
    }
}
