//! Per-trunk state: where the trunk is, who may call us on it, its limits,
//! and the two liveness machines: registration (`kind = "register"`) and
//! the OPTIONS keepalive (`options_interval_s`).
//!
//! Both machines are plain data driven by [`super::SipSide`]: they say
//! when they want to send ([`Registration::due`], [`Keepalive::due`]),
//! build their requests, and take the outcome of each transaction.
//!
//! * **Registration**: REGISTER to the registrar (through the outbound
//!   proxy if any) with `Expires`; a 401/407 is answered with digest
//!   credentials once per nonce; a 2xx gives the granted expiry (the
//!   Contact's `expires`, else `Expires`, else what we asked) and the next
//!   refresh at 75 % of it; a failure or timeout is retried after a
//!   backoff doubling from [`REGISTER_RETRY_MIN`] to [`REGISTER_RETRY_MAX`].
//!   A trunk is up only while registered. Shutdown sends `Expires: 0`.
//! * **Keepalive**: OPTIONS every interval; any response marks the trunk
//!   up; `options_down_after` consecutive timeouts (or transport errors)
//!   mark it down. The first OPTIONS goes out at start-up; peers start up.

use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use tandem_sip::auth::DigestClient;
use tandem_sip::transaction::{Peer, TxKey};
use tandem_sip::wire::{Contact, HeaderAccess, Request, Response, Transport, Uri};

use super::security::{Acl, TokenBucket};
use crate::call::causes::CauseOverrides;
use crate::config::{TrunkConfig, TrunkKind};

/// The first retry delay after a failed registration.
pub const REGISTER_RETRY_MIN: Duration = Duration::from_secs(5);
/// The longest retry delay after failed registrations.
pub const REGISTER_RETRY_MAX: Duration = Duration::from_secs(300);

/// A trunk's liveness, as [`super::SipSide::trunk_status`] reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TrunkState {
    /// A peer that answers (or is not probed).
    Up,
    /// A peer that stopped answering OPTIONS, or whose host is not resolved.
    Down,
    /// A register trunk with a current registration.
    Registered,
    /// A register trunk without one (not yet, failed, or shut down).
    Unregistered,
}

/// One trunk's status for operators and metrics.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrunkStatus {
    /// The configured name.
    pub name: String,
    /// Peer or register.
    pub kind: TrunkKind,
    /// Up, down, registered…
    pub state: TrunkState,
    /// Calls in progress on the trunk (both directions).
    pub active_calls: usize,
}

/// Splits `host[:port]` (IPv6 in brackets).
pub fn split_host(s: &str) -> (String, Option<u16>) {
    if let Some(rest) = s.strip_prefix('[')
        && let Some((h, tail)) = rest.split_once(']')
    {
        return (format!("[{h}]"), tail.strip_prefix(':').and_then(|p| p.parse().ok()));
    }
    match s.rsplit_once(':') {
        Some((h, p)) if p.parse::<u16>().is_ok() => (h.to_owned(), p.parse().ok()),
        _ => (s.to_owned(), None),
    }
}

/// The address of a host that is an IP literal.
pub fn literal_addr(host: &str, port: u16) -> Option<SocketAddr> {
    host.trim_start_matches('[').trim_end_matches(']').parse::<IpAddr>().ok().map(|ip| SocketAddr::new(ip, port))
}

/// The registration machine of a `kind = "register"` trunk.
#[derive(Debug)]
pub struct Registration {
    /// Digest credentials.
    pub digest: DigestClient,
    /// The Call-ID kept across refreshes (RFC 3261 §10.2).
    pub call_id: String,
    /// Our From tag.
    pub from_tag: String,
    /// The last CSeq sent.
    pub cseq: u32,
    /// The expiry asked for, seconds.
    pub expires: u32,
    /// The transaction in flight.
    pub pending: Option<TxKey>,
    /// When the next REGISTER is due (`None`: nothing planned).
    pub next_at: Option<Instant>,
    /// Registered until this instant.
    pub until: Option<Instant>,
    /// Consecutive failures (for the backoff).
    pub failures: u32,
    /// Shutting down: the next REGISTER removes the binding.
    pub unregister: bool,
    /// The last REGISTER sent and where (to answer a challenge).
    pub last: Option<(Request, Peer)>,
}

/// What a REGISTER response means.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RegOutcome {
    /// Registered for this long.
    Registered(Duration),
    /// Unregistered (the answer to `Expires: 0`).
    Removed,
    /// Challenged: retry with credentials (already answered in the request by the caller).
    Challenged,
    /// Refused or failed with this status.
    Failed(u16),
    /// A provisional: keep waiting.
    Provisional,
}

impl Registration {
    /// A machine that registers at `now`.
    pub fn new(username: &str, password: &str, expires: u32, call_id: String, from_tag: String, now: Instant) -> Registration {
        Registration {
            digest: DigestClient::new(username, password),
            call_id,
            from_tag,
            cseq: 0,
            expires,
            pending: None,
            next_at: Some(now),
            until: None,
            failures: 0,
            unregister: false,
            last: None,
        }
    }

    /// Whether a REGISTER should go out now.
    pub fn due(&self, now: Instant) -> bool {
        self.pending.is_none() && self.next_at.is_some_and(|t| t <= now)
    }

    /// Whether a registration is current.
    pub fn is_registered(&self, now: Instant) -> bool {
        self.until.is_some_and(|u| u > now)
    }

    /// Reads a final response to our REGISTER and plans the next one.
    pub fn on_response(&mut self, resp: &Response, now: Instant) -> RegOutcome {
        if resp.status < 200 {
            return RegOutcome::Provisional;
        }
        self.pending = None;
        if (200..300).contains(&resp.status) {
            if self.unregister {
                self.until = None;
                self.next_at = None;
                return RegOutcome::Removed;
            }
            let from_contact = resp.typed_list::<Contact>("Contact").ok().and_then(|l| l.iter().find_map(|c| c.expires()));
            let header = resp.header("Expires").and_then(|e| e.trim().parse::<u32>().ok());
            let granted = from_contact.or(header).unwrap_or(self.expires).max(1);
            let granted = Duration::from_secs(granted as u64);
            self.failures = 0;
            self.until = Some(now + granted);
            // Refresh at 75 % of the granted expiry.
            self.next_at = Some(now + granted * 3 / 4);
            return RegOutcome::Registered(granted);
        }
        if matches!(resp.status, 401 | 407) {
            return RegOutcome::Challenged;
        }
        if resp.status == 423
            && let Some(min) = resp.header("Min-Expires").and_then(|e| e.trim().parse::<u32>().ok())
        {
            // RFC 3261 §10.2.8: retry at once with at least Min-Expires.
            self.expires = self.expires.max(min);
            self.next_at = Some(now);
            return RegOutcome::Failed(423);
        }
        self.fail(now);
        RegOutcome::Failed(resp.status)
    }

    /// A failure (status, timeout or transport error): back off and retry.
    pub fn fail(&mut self, now: Instant) {
        self.pending = None;
        self.until = None;
        if self.unregister {
            self.next_at = None;
            return;
        }
        let backoff = REGISTER_RETRY_MIN.saturating_mul(1 << self.failures.min(10)).min(REGISTER_RETRY_MAX);
        self.failures += 1;
        self.next_at = Some(now + backoff);
    }
}

/// The OPTIONS keepalive of a trunk.
#[derive(Debug)]
pub struct Keepalive {
    /// How often.
    pub interval: Duration,
    /// Consecutive failures that mark the trunk down.
    pub down_after: u32,
    /// Consecutive failures so far.
    pub failures: u32,
    /// The OPTIONS in flight.
    pub pending: Option<TxKey>,
    /// When the next OPTIONS is due.
    pub next_at: Option<Instant>,
}

impl Keepalive {
    /// Whether an OPTIONS should go out now.
    pub fn due(&self, now: Instant) -> bool {
        self.pending.is_none() && self.next_at.is_some_and(|t| t <= now)
    }
}

/// One configured trunk.
#[derive(Debug)]
pub struct Trunk {
    /// The configuration.
    pub cfg: TrunkConfig,
    /// The transport to the trunk.
    pub transport: Transport,
    /// The host part of `host` (name or literal).
    pub host: String,
    /// The port of `host` (default by transport).
    pub port: u16,
    /// Where requests go: the host's address (literal, or set by [`super::SipSide::set_resolved`]).
    pub addr: Option<SocketAddr>,
    /// The outbound proxy's URI (with `;lr`) and address, if one is configured.
    pub proxy: Option<(Uri, Option<SocketAddr>)>,
    /// Who may send us requests.
    pub acl: Acl,
    /// Cause mapping overrides.
    pub overrides: CauseOverrides,
    /// `max_cps`.
    pub bucket: Option<TokenBucket>,
    /// Calls in progress.
    pub active_calls: usize,
    /// The peer's OPTIONS verdict.
    pub reachable: bool,
    /// Registration, for register trunks.
    pub reg: Option<Registration>,
    /// OPTIONS keepalive, if configured.
    pub keepalive: Option<Keepalive>,
    /// The inbound digest verifier, if `auth_inbound` is set.
    pub auth_server: Option<tandem_sip::auth::DigestServer>,
}

impl Trunk {
    /// The trunk's name.
    pub fn name(&self) -> &str {
        self.cfg.name()
    }

    /// Where requests to the trunk go: the proxy if configured, else the host.
    pub fn next_hop(&self) -> Option<SocketAddr> {
        match &self.proxy {
            Some((_, a)) => *a,
            None => self.addr,
        }
    }

    /// Whether new calls may be placed on the trunk.
    pub fn is_up(&self, now: Instant) -> bool {
        self.next_hop().is_some()
            && match &self.reg {
                Some(r) => r.is_registered(now),
                None => self.reachable,
            }
    }

    /// The state for [`TrunkStatus`].
    pub fn state(&self, now: Instant) -> TrunkState {
        match (&self.reg, self.is_up(now)) {
            (Some(_), true) => TrunkState::Registered,
            (Some(_), false) => TrunkState::Unregistered,
            (None, true) => TrunkState::Up,
            (None, false) => TrunkState::Down,
        }
    }

    /// Recomputes the default ACL from the resolved addresses.
    pub fn refresh_acl(&mut self) {
        let mut ips: Vec<IpAddr> = self.addr.iter().map(|a| a.ip()).collect();
        if self.cfg.kind == TrunkKind::Register
            && let Some((_, Some(p))) = &self.proxy
        {
            ips.push(p.ip());
        }
        self.acl.resolved = ips;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_split_into_host_and_port() {
        assert_eq!(split_host("pbx.example.com:5070"), ("pbx.example.com".into(), Some(5070)));
        assert_eq!(split_host("192.0.2.1"), ("192.0.2.1".into(), None));
        assert_eq!(split_host("[2001:db8::1]:5061"), ("[2001:db8::1]".into(), Some(5061)));
        assert_eq!(literal_addr("[2001:db8::1]", 5061), Some("[2001:db8::1]:5061".parse().unwrap()));
        assert_eq!(literal_addr("pbx.example.com", 5060), None);
    }

    #[test]
    fn failed_registrations_back_off_up_to_the_cap() {
        let t0 = Instant::now();
        let mut r = Registration::new("u", "p", 3600, "c".into(), "t".into(), t0);
        let mut delays = Vec::new();
        for _ in 0..10 {
            r.fail(t0);
            delays.push(r.next_at.unwrap() - t0);
        }
        assert_eq!(delays[0], REGISTER_RETRY_MIN);
        assert_eq!(delays[1], REGISTER_RETRY_MIN * 2);
        assert_eq!(*delays.last().unwrap(), REGISTER_RETRY_MAX);
    }
}
