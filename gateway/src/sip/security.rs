//! Inbound security: which trunk a request comes from, rate limits, and
//! the digest challenge of `auth_inbound`.
//!
//! The SIP side is **default-deny**. A dialog-creating or out-of-dialog
//! request is only acted on when its source address is in a configured
//! trunk's `accept_from` networks (default: the addresses the trunk's host,
//! and for register trunks also its outbound proxy, resolved to). Anything
//! else is answered `403 Forbidden` and never reaches call control, so no
//! channel is seized. OPTIONS follows the same rule: configured peers get
//! 200 (they use it as a keepalive), strangers 403, so a scanner learns
//! nothing about us.
//!
//! A register trunk also accepts requests from its registrar's (and
//! outbound proxy's) address by default, since that is where a provider's
//! calls come from. In-dialog requests (BYE, re-INVITE, PRACK…) are matched
//! by Call-ID and both tags, which only the peers of the dialog know, and
//! are not filtered by address: they may come through another proxy.
//!
//! A trunk with `auth_inbound` then challenges the request with a digest
//! 401 ([`tandem_sip::auth::DigestServer`]: stateless expiring nonces,
//! `stale=true` on an expired one). `max_calls` and `max_cps` (a token
//! bucket holding one second's worth) are enforced with `503 Service
//! Unavailable` and a `Retry-After`.

use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use crate::config::Cidr;

/// Seconds a caller refused for load is told to wait (RFC 3261 §20.33).
pub const RETRY_AFTER_S: u32 = 2;

/// The networks a trunk accepts requests from.
#[derive(Debug, Clone, Default)]
pub struct Acl {
    /// Configured `accept_from` networks.
    pub configured: Vec<Cidr>,
    /// The trunk's resolved addresses (used when nothing is configured).
    pub resolved: Vec<IpAddr>,
}

impl Acl {
    /// Whether `ip` may send requests on this trunk.
    pub fn allows(&self, ip: IpAddr) -> bool {
        let ip = canonical(ip);
        if self.configured.is_empty() { self.resolved.iter().any(|a| canonical(*a) == ip) } else { self.configured.iter().any(|c| c.contains(ip)) }
    }
}

/// An IPv4-mapped IPv6 address as IPv4 (dual-stack sockets report them).
pub fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map(IpAddr::V4).unwrap_or(ip),
        v4 => v4,
    }
}

/// The first trunk (in config order) whose ACL allows `source`.
pub fn trunk_for_source<'a>(acls: impl Iterator<Item = &'a Acl>, source: SocketAddr) -> Option<usize> {
    acls.into_iter().position(|a| a.allows(source.ip()))
}

/// A token bucket: `rate` tokens per second, holding at most `rate`.
#[derive(Debug, Clone)]
pub struct TokenBucket {
    rate: u32,
    tokens: f64,
    at: Option<Instant>,
}

impl TokenBucket {
    /// A full bucket of `rate` per second.
    pub fn new(rate: u32) -> TokenBucket {
        TokenBucket { rate, tokens: rate as f64, at: None }
    }

    /// Takes a token if there is one.
    pub fn take(&mut self, now: Instant) -> bool {
        if let Some(at) = self.at {
            let dt = now.saturating_duration_since(at).min(Duration::from_secs(10)).as_secs_f64();
            self.tokens = (self.tokens + dt * self.rate as f64).min(self.rate as f64);
        }
        self.at = Some(now);
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

/// Logs at most once per interval (for noise such as malformed requests).
#[derive(Debug, Clone, Default)]
pub struct RateLimitedLog {
    last: Option<Instant>,
    /// Events suppressed since the last line.
    pub suppressed: u64,
}

impl RateLimitedLog {
    /// Whether to log now (at most once per second); counts the rest.
    pub fn should_log(&mut self, now: Instant) -> bool {
        if self.last.is_none_or(|l| now.saturating_duration_since(l) >= Duration::from_secs(1)) {
            self.last = Some(now);
            true
        } else {
            self.suppressed += 1;
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn acl_uses_configured_networks_else_resolved_addresses() {
        let a = Acl { configured: vec![Cidr::parse("192.0.2.0/24").unwrap()], resolved: vec!["198.51.100.1".parse().unwrap()] };
        assert!(a.allows("192.0.2.9".parse().unwrap()));
        assert!(!a.allows("198.51.100.1".parse().unwrap()));
        let b = Acl { configured: vec![], resolved: vec!["198.51.100.1".parse().unwrap()] };
        assert!(b.allows("::ffff:198.51.100.1".parse().unwrap()));
        assert!(!b.allows("198.51.100.2".parse().unwrap()));
        assert!(!Acl::default().allows("127.0.0.1".parse().unwrap()));
    }

    #[test]
    fn token_bucket_refills_over_one_second() {
        let t0 = Instant::now();
        let mut b = TokenBucket::new(2);
        assert!(b.take(t0) && b.take(t0));
        assert!(!b.take(t0));
        assert!(!b.take(t0 + Duration::from_millis(400)));
        assert!(b.take(t0 + Duration::from_millis(600)));
        assert!(b.take(t0 + Duration::from_secs(2)) && b.take(t0 + Duration::from_secs(2)));
        assert!(!b.take(t0 + Duration::from_secs(2)));
    }
}
