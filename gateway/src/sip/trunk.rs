//! Per-trunk state: where the trunk is, who may call us on it, its limits,
//! and the two liveness machines: registration (`kind = "register"`) and
//! the OPTIONS keepalive (`options_interval_s`).
//!
//! Both machines are sans-IO state machines of `tandem-sip`, driven by
//! [`super::SipSide`]: it feeds them time and the outcome of each
//! transaction, sends the requests they build (with a Route through the
//! trunk's outbound proxy), and reports up/down changes.
//!
//! * **Registration** ([`tandem_sip::registration`]): REGISTER to the
//!   registrar (through the outbound proxy if any) with `Expires`; a
//!   401/407 is answered with digest credentials once per nonce; refresh
//!   at 75 % of the granted expiry; failures are retried with a doubling
//!   backoff (30 s up to 10 min, or the registrar's Retry-After). A register
//!   trunk is up only while registered. Shutdown sends `Expires: 0`.
//! * **Keepalive** ([`tandem_sip::options`]): OPTIONS every interval; any
//!   final response marks the trunk up except 408 and 503 (what a proxy
//!   says when the far end is not serving); `options_down_after`
//!   consecutive failures (timeouts after 10 s, transport errors, 408/503)
//!   mark it down. Peers count as up until the keepalive says otherwise.

use std::net::{IpAddr, SocketAddr};

use tandem_sip::options::Keepalive;
use tandem_sip::registration::Registration;
use tandem_sip::wire::{Transport, Uri};

use super::security::{Acl, TokenBucket};
use crate::call::causes::CauseOverrides;
use crate::config::{TrunkConfig, TrunkKind};

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
    /// Registration, for register trunks.
    pub reg: Option<Registration>,
    /// The registrar accepted our binding and no refresh has failed since
    /// (a refresh in flight keeps it: the binding is valid until it expires).
    pub registered: bool,
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
    pub fn is_up(&self) -> bool {
        self.next_hop().is_some()
            && match (&self.reg, &self.keepalive) {
                (Some(_), _) => self.registered,
                (None, Some(k)) => k.is_up() != Some(false),
                (None, None) => true,
            }
    }

    /// The state for [`TrunkStatus`].
    pub fn state(&self) -> TrunkState {
        match (&self.reg, self.is_up()) {
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
}
