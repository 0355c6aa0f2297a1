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
    /// Removed from the configuration by a reload: it takes no new call
    /// either way, and its calls in progress go on until they end.
    pub retired: bool,
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
        !self.retired
            && self.next_hop().is_some()
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

/// What a reload did to the trunks, by name (for the logs).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TrunkChanges {
    /// Trunks new in the file (or back after a removal).
    pub added: Vec<String>,
    /// Trunks gone from the file: no new calls; calls in progress go on.
    pub removed: Vec<String>,
    /// Trunks whose registration restarted (registrar, credentials or expiry changed).
    pub reregistered: Vec<String>,
    /// Trunks whose OPTIONS keepalive restarted (host or keepalive settings changed).
    pub keepalive_restarted: Vec<String>,
}

/// Whether two trunk configs register the same way.
fn same_registration(a: &TrunkConfig, b: &TrunkConfig) -> bool {
    a.kind == b.kind
        && a.host == b.host
        && a.transport == b.transport
        && a.outbound_proxy == b.outbound_proxy
        && a.username == b.username
        && a.password == b.password
        && a.realm == b.realm
        && a.register_expires() == b.register_expires()
}

/// Whether two trunk configs probe the same way.
fn same_keepalive(a: &TrunkConfig, b: &TrunkConfig) -> bool {
    a.kind == b.kind
        && a.host == b.host
        && a.transport == b.transport
        && a.outbound_proxy == b.outbound_proxy
        && a.options_interval() == b.options_interval()
        && a.options_down_after() == b.options_down_after()
}

/// Whether two trunk configs challenge inbound requests the same way.
fn same_auth_inbound(a: &TrunkConfig, b: &TrunkConfig) -> bool {
    match (&a.auth_inbound, &b.auth_inbound) {
        (None, None) => true,
        (Some(x), Some(y)) => x.username == y.username && x.password == y.password && x.realm == y.realm,
        _ => false,
    }
}

impl super::SipSide {
    /// Takes the trunks of a reloaded, checked `[sip]` section (and its
    /// `user_agent`); listeners, our address and the timers stay as they
    /// are (they need a restart). Calls in progress keep their trunk:
    ///
    /// * a trunk gone from the file is retired: it takes no new call
    ///   (outbound or inbound: its `accept_from` is emptied), its
    ///   registration is removed (`Expires: 0`) and its keepalive stops;
    ///   its calls go on until they end;
    /// * a new trunk (or one back after a removal) starts like one read at
    ///   start-up; a host name it names must be resolved again
    ///   ([`super::SipSide::unresolved`]);
    /// * a trunk still there takes its new settings at once (addresses,
    ///   `accept_from`, limits, codecs, cause mappings…); its registration
    ///   and keepalive go on unless what they depend on changed, and then
    ///   start again (the old binding is removed first), and its rate
    ///   bucket and digest nonces stay unless `max_cps` or `auth_inbound`
    ///   changed.
    ///
    /// Nothing changes when a trunk cannot be built (an error).
    pub fn reconfigure(&mut self, cfg: &crate::config::SipConfig, now: std::time::Instant) -> Result<TrunkChanges, super::SipError> {
        let mut built = Vec::new();
        for tc in &cfg.trunk {
            built.push(super::build_trunk(&mut self.ep, tc, &self.host, self.port, &self.transport_ports)?);
        }
        self.user_agent = cfg.user_agent().to_owned();
        let mut changes = TrunkChanges::default();
        for i in 0..self.trunks.len() {
            if self.trunks[i].retired || cfg.trunk.iter().any(|t| t.name() == self.trunks[i].name()) {
                continue;
            }
            changes.removed.push(self.trunks[i].name().to_owned());
            self.trunk_input(i, now, |t| {
                if let Some(r) = &mut t.reg {
                    r.stop(now);
                }
                t.registered = false;
                t.keepalive = None;
                t.retired = true;
                t.acl = Acl::default();
            });
            self.forget_trunk_txs(i, false, true);
            tracing::info!(trunk = %self.trunks[i].name(), calls = self.trunks[i].active_calls, "trunk removed by a reload: no new calls");
        }
        for mut n in built {
            let started = self.trunks_started && !self.shutting_down;
            let Some(i) = self.trunks.iter().position(|t| t.name() == n.name()) else {
                changes.added.push(n.name().to_owned());
                self.trunks.push(n);
                let i = self.trunks.len() - 1;
                if started {
                    self.kick_trunk(i, now);
                }
                continue;
            };
            let was_up = self.trunks[i].is_up();
            let old = &mut self.trunks[i];
            n.active_calls = old.active_calls;
            if old.retired {
                changes.added.push(n.name().to_owned());
                self.forget_trunk_txs(i, true, true);
                self.trunks[i] = n;
                if started {
                    self.kick_trunk(i, now);
                }
                if self.trunks[i].is_up() != was_up {
                    self.trunk_changed(i, now);
                }
                continue;
            }
            // Resolved names carry over while the name stays.
            if old.host == n.host && n.addr.is_none() {
                n.addr = old.addr;
            }
            if let (Some((ou, Some(oa))), Some((nu, na @ None))) = (&old.proxy, &mut n.proxy)
                && ou.host == nu.host
            {
                *na = Some(*oa);
            }
            n.refresh_acl();
            let keep_reg = same_registration(&old.cfg, &n.cfg);
            let keep_ka = same_keepalive(&old.cfg, &n.cfg);
            if keep_reg {
                n.reg = old.reg.take();
                n.registered = old.registered;
            }
            if keep_ka {
                n.keepalive = old.keepalive.take();
            }
            if old.cfg.max_cps == n.cfg.max_cps {
                n.bucket = old.bucket.take();
            }
            if same_auth_inbound(&old.cfg, &n.cfg) {
                n.auth_server = old.auth_server.take();
            }
            if !keep_reg {
                if old.reg.is_some() {
                    // Remove the old binding; its answer is not followed.
                    self.trunk_input(i, now, |t| {
                        if let Some(r) = &mut t.reg {
                            r.stop(now);
                        }
                    });
                }
                self.forget_trunk_txs(i, true, false);
                if n.reg.is_some() || self.trunks[i].reg.is_some() {
                    changes.reregistered.push(n.name().to_owned());
                }
            }
            if !keep_ka {
                self.forget_trunk_txs(i, false, true);
                if n.keepalive.is_some() {
                    changes.keepalive_restarted.push(n.name().to_owned());
                }
            }
            self.trunks[i] = n;
            if started && (!keep_reg || !keep_ka) {
                self.kick_trunk(i, now);
            }
            if self.trunks[i].is_up() != was_up {
                self.trunk_changed(i, now);
            }
        }
        self.drain(now);
        Ok(changes)
    }

    /// Starts a trunk's registration and keepalive now.
    fn kick_trunk(&mut self, i: usize, now: std::time::Instant) {
        self.trunk_input(i, now, |t| {
            if let Some(r) = &mut t.reg {
                r.handle_timeout(now);
            }
            if let Some(k) = &mut t.keepalive {
                k.handle_timeout(now);
            }
        });
    }

    /// Stops following trunk `i`'s REGISTER and/or OPTIONS transactions:
    /// their answers are for machines that were replaced.
    fn forget_trunk_txs(&mut self, i: usize, register: bool, options: bool) {
        self.txs.retain(|_, o| !matches!((*o, register, options), (super::TxOwner::Register(t), true, _) | (super::TxOwner::Options(t), _, true) if t == i));
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
