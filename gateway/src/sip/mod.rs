//! The gateway's SIP side: trunks, inbound security, the two user-agent
//! roles, and the mapping between SIP and call control's vocabulary.
//!
//! [`SipSide`] is sans-IO, like [`crate::tdm::Tdm`]: it holds no socket,
//! clock or thread. The transport shell ([`transport`]) hands it every
//! received message as `(transport, source, local, bytes)` and sends what
//! comes out as [`SipOutput::Transmit`]; call control's commands come in
//! through [`SipSide::originate`], [`SipSide::accept`] and
//! [`SipSide::command`]; the integrator drains [`SipSide::poll_output`]
//! after every input and sleeps until [`SipSide::poll_timeout`].
//!
//! ```text
//!  transport shell ── handle_message(t, src, local, bytes, now) ─▶ ┌──────────┐
//!  call control ───── originate / accept / command(leg, cmd) ────▶ │ SipSide  │
//!  timer ──────────── handle_timeout(now) ───────────────────────▶ └──────────┘
//!                    ◀── poll_output(): Incoming{key,..} | Leg(leg, event)
//!                                       | Transmit{..} | TrunkUp | TrunkDown
//! ```
//!
//! # Layers
//!
//! * [`tandem_sip::transaction::Endpoint`] does RFC 3261 transactions:
//!   retransmissions, 100 Trying, ACK for non-2xx, 2xx retransmission, and
//!   the rejection of malformed requests (400/416/505/513), which never
//!   reach this module (they are counted and logged, rate-limited).
//! * [`security`] decides whether an out-of-dialog request may be acted
//!   on: default-deny by source address, digest challenge, `max_calls`,
//!   `max_cps`.
//! * [`inbound`] is the UAS role (an INVITE from a trunk becomes
//!   [`SipOutput::Incoming`]), [`outbound`] the UAC role
//!   ([`SipSide::originate`] becomes an INVITE); both share the per-call
//!   state, dialogs ([`tandem_sip::dialog`]), reliable provisionals
//!   ([`tandem_sip::rel100`]) and session timers
//!   ([`tandem_sip::session_timer`]).
//! * [`map`] turns headers into [`Setup`], parties and causes and back.
//! * [`trunk`] keeps registrations and OPTIONS keepalives.
//!
//! # The contract with the integrator
//!
//! * [`SipOutput::Incoming`] must be given to call control and
//!   [`SipSide::accept`]ed **before polling again**; the leg's events
//!   (identity, media) come out after that.
//! * Every leg ends with exactly one [`LegEvent::Released`]; its RTP port
//!   is released back to the [`MediaPorts`] at that moment. A command for
//!   a leg that is gone is ignored.
//! * Originating on a trunk that is down (OPTIONS unanswered, not
//!   registered, host unresolved) releases the leg at once with cause 38,
//!   so call control fails over to the route's next target.
//! * Host names in trunk `host`/`outbound_proxy` are not resolved here:
//!   IP literals work as they are; for names, the integrator resolves
//!   [`SipSide::unresolved`] and calls [`SipSide::set_resolved`].
//! * Registrations and keepalives start at the first
//!   [`SipSide::handle_timeout`] ([`SipSide::poll_timeout`] asks for it at
//!   once). [`SipSide::shutdown`] unregisters; keep the transport up a
//!   moment for the transmits.
//! * A send the transport shell could not make is reported with
//!   [`SipSide::handle_transport_event`] (or [`SipSide::send_failed`]):
//!   the transactions to that destination fail at once (an INVITE's leg is
//!   released with cause 38).
//!
//! Log lines about a call carry `call` (the gateway's call id and leg,
//! `-` before `accept`) and `sip_call_id`.
//!
//! # Our address
//!
//! The address put in Via, Contact and From is `[sip] rtp_ip` if set,
//! else the first listener's address if it is not a wildcard, else
//! 127.0.0.1; the port (in Via and Contact) is that of the first listener
//! of the message's transport, else the first listener's.
//!
//! # Not done in this version
//!
//! A 3xx is followed only to the number in its first Contact's user part
//! (a `sip:`/`sips:` URI; call control routes it again for the call's
//! origin, at most 3 times a call): other Contacts and URIs are not tried,
//! and an unfollowed 3xx is a failure mapped by the cause table; a 2xx
//! from a second fork is not answered; only one audio stream; History-Info is read but only Diversion is sent; outbound
//! numbers are not reformatted (route translations do that); `symmetric`
//! RTP is always false and `;user=phone` only comes from a route's URI
//! template (the config has no key for either); we never put the far end
//! on hold on our own (`LegCommand::Media` is ignored: SIP-to-SIP is not
//! routed; `LegCommand::Hold` from an FXS phone's flash is done, see
//! [`hold`]); an offer in a PRACK or a second reliable provisional while one
//! is outstanding are not handled (the latter is skipped).

pub mod hold;
pub mod inbound;
pub mod map;
pub mod mwi;
pub mod outbound;
pub mod security;
pub mod transport;
pub mod trunk;

use std::collections::hash_map::RandomState;
use std::collections::{HashMap, VecDeque};
use std::hash::{BuildHasher, Hasher};
use std::io;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

use tandem_media::sdp::{LocalMedia, Negotiated};
use tandem_sip::dialog::Dialog;
use tandem_sip::rel100::{RelReceiver, RelSender};
use tandem_sip::session_timer::{self, SessionTimer, UasDecision};
use tandem_sip::transaction::{self, Endpoint, Output as TxOutput, Peer, TxEvent, TxKey};
use tandem_sip::wire::Transport;
use tandem_sip::wire::{FromHeader, HeaderAccess, Method, NameAddr, Refresher, Request, Response, SessionExpires, Uri};
use tracing::{debug, info, warn};

use crate::call::model::{Cause, Codec, Direction, LegCommand, LegEvent, LegIdentity, LegRef, MediaEndpoint, Release, RtpParams, Setup};
use crate::config::{Cidr, SipConfig, TrunkKind};
pub use crate::tdm::IncomingKey;
use security::{Acl, RateLimitedLog, TokenBucket};
use tandem_sip::options::{self, Keepalive};
use tandem_sip::registration::{self, RegEvent, Registration};
use trunk::{Trunk, literal_addr, split_host};
pub use trunk::{TrunkState, TrunkStatus};

/// Methods we accept (the Allow header).
pub const ALLOW: &str = "INVITE, ACK, CANCEL, BYE, OPTIONS, PRACK, UPDATE, INFO, NOTIFY";

/// Where RTP ports come from: the media pump in the daemon, a fake in tests.
pub trait MediaPorts {
    /// Binds an RTP/RTCP pair; returns the stream id and the local RTP address.
    fn allocate(&self) -> io::Result<(u64, SocketAddr)>;
    /// Frees a stream's ports (started or not).
    fn release(&self, id: u64);
    /// Whether the stream still holds its ports (a held call's parked
    /// stream does; a stopped one does not), so a resume can offer them again.
    fn is_alive(&self, _id: u64) -> bool {
        true
    }
}

impl MediaPorts for tandem_media::pump::PumpHandle {
    fn allocate(&self) -> io::Result<(u64, SocketAddr)> {
        tandem_media::pump::PumpHandle::allocate(self).map(|p| (p.id, p.local))
    }

    fn release(&self, id: u64) {
        if let Err(e) = tandem_media::pump::PumpHandle::release(self, id) {
            debug!(stream = id, error = %e, "releasing an RTP stream");
        }
    }

    fn is_alive(&self, id: u64) -> bool {
        self.stats(id).is_some()
    }
}

/// What the SIP side has for the integrator.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SipOutput {
    /// A new inbound call on `trunk`: give it to call control, then
    /// [`SipSide::accept`] it before polling again.
    Incoming { key: IncomingKey, trunk: String, setup: Setup, identity: LegIdentity },
    /// Something happened on a leg.
    Leg(LegRef, LegEvent),
    /// Bytes for the transport shell.
    Transmit { transport: ShellTransport, dest: SocketAddr, bytes: Vec<u8> },
    /// A trunk became usable (OPTIONS answered, registered).
    TrunkUp { trunk: String },
    /// A trunk stopped being usable.
    TrunkDown { trunk: String },
    /// A trunk reported a mailbox's message-waiting state (NOTIFY
    /// message-summary, RFC 3842): `account` is the mailbox's user part,
    /// `new` the new voice messages.
    Mwi { trunk: String, account: String, waiting: bool, new: u32 },
}

/// Why the SIP side could not start.
#[derive(Debug, thiserror::Error)]
pub enum SipError {
    /// A trunk's `host` or `outbound_proxy` does not parse.
    #[error("trunk {trunk}: bad {what} {value:?}")]
    BadAddress { trunk: String, what: &'static str, value: String },
}

/// A transport as the config and the transport shell name it.
pub use crate::config::Transport as ShellTransport;

/// The shell's transport as the SIP core's.
pub fn wire_transport(t: ShellTransport) -> Transport {
    match t {
        ShellTransport::Udp => Transport::Udp,
        ShellTransport::Tcp => Transport::Tcp,
        ShellTransport::Tls => Transport::Tls,
    }
}

/// The SIP core's transport as the shell's.
pub fn shell_transport(t: Transport) -> ShellTransport {
    match t {
        Transport::Udp => ShellTransport::Udp,
        Transport::Tcp => ShellTransport::Tcp,
        Transport::Tls => ShellTransport::Tls,
    }
}

/// Which side of the call a [`Call`] plays.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Role {
    /// We received the INVITE (UAS).
    Inbound,
    /// We sent it (UAC).
    Outbound,
}

/// Where a call is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Phase {
    /// INVITE sent or received, no final response.
    Setup,
    /// 2xx sent or received.
    Answered,
    /// Released; waiting for nothing.
    Gone,
}

/// The RTP side of a call.
#[derive(Debug, Clone)]
pub(crate) struct MediaState {
    pub stream: u64,
    pub local: LocalMedia,
    pub negotiated: Option<Negotiated>,
    /// The SDP of the initial offer/answer we send (answer, or our offer).
    pub sdp: String,
}

/// One SIP call (one leg), inbound or outbound.
#[derive(Debug)]
pub(crate) struct Call {
    pub role: Role,
    pub leg: Option<LegRef>,
    pub trunk: usize,
    pub call_id: String,
    /// Where in-dialog requests go when the remote target is not an IP literal.
    pub peer: Peer,
    /// The INVITE received (inbound) or last sent (outbound).
    pub invite: Request,
    pub invite_tx: Option<TxKey>,
    pub dialog: Option<Dialog>,
    pub local_tag: String,
    pub phase: Phase,
    pub media: Option<MediaState>,
    /// Events before `accept`.
    pub held: Vec<LegEvent>,
    // UAS
    pub rel: Option<RelSender>,
    pub rel_required: bool,
    pub answer_queued: Option<Option<crate::call::model::Party>>,
    /// The SDP answer (or our offer) already went in a reliable provisional.
    pub sdp_reliable: bool,
    /// We sent an offer (delayed-offer INVITE, or a re-INVITE without SDP) and wait for the answer.
    pub offer_pending: bool,
    pub st_decision: UasDecision,
    pub timer: Option<SessionTimer>,
    pub refresh_sent: bool,
    pub provisional_sent: bool,
    // UAC
    pub rel_rx: RelReceiver,
    pub digest: Option<tandem_sip::auth::DigestClient>,
    /// Release asked for before the final response (CANCEL sent or to be sent).
    pub cancel: Option<Cause>,
    pub cancel_sent: bool,
    pub proceeding_sent: bool,
    pub retried_422: bool,
    pub peer_allows_update: bool,
    /// A blind transfer (REFER) in progress.
    pub referral: Option<hold::Referral>,
    /// Our hold or resume re-INVITE awaits its final response.
    pub hold_in_flight: bool,
    /// A hold (`true`) or resume asked for meanwhile, sent when it is answered.
    pub hold_next: Option<bool>,
    /// Our hold or resume re-INVITEs refused with 491, and their retry.
    pub hold_glare: hold::Glare,
}

impl Call {
    /// The gateway call id of the leg for log lines (`-` before `accept`).
    pub(crate) fn label(&self) -> String {
        self.leg.map(|l| l.to_string()).unwrap_or_else(|| "-".into())
    }
}

/// Who a client transaction belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TxOwner {
    Invite(u64),
    InDialog(u64, Purpose),
    Register(usize),
    Options(usize),
}

/// What an in-dialog client transaction is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Purpose {
    Bye,
    Cancel,
    Prack,
    Refresh,
    Info,
    /// A hold or resume re-INVITE.
    Hold,
    /// A REFER (blind transfer).
    Refer,
}

/// The gateway's SIP side. See the [module documentation](self).
pub struct SipSide {
    pub(crate) ep: Endpoint,
    pub(crate) host: String,
    pub(crate) port: u16,
    /// The first listener's port of each transport listened on.
    pub(crate) transport_ports: Vec<(Transport, u16)>,
    pub(crate) user_agent: String,
    pub(crate) t1: Duration,
    pub(crate) trunks: Vec<Trunk>,
    pub(crate) ports: Box<dyn MediaPorts + Send>,
    pub(crate) calls: HashMap<u64, Call>,
    next_call: u64,
    pub(crate) by_leg: HashMap<LegRef, u64>,
    /// Calls by SIP Call-ID (a hairpin through a proxy may give two calls one Call-ID).
    pub(crate) by_call_id: HashMap<String, Vec<u64>>,
    pub(crate) txs: HashMap<TxKey, TxOwner>,
    pub(crate) out: VecDeque<SipOutput>,
    epoch: (Instant, u64),
    malformed: u64,
    malformed_log: RateLimitedLog,
    shutting_down: bool,
    /// Registrations and keepalives start on the first `handle_timeout`.
    trunks_started: bool,
    last_now: Option<Instant>,
    /// Where each transaction's last message went, to map a transport failure back to it.
    tx_dest: HashMap<TxKey, (Transport, SocketAddr)>,
}

/// Builds one trunk of a checked config: its addresses, ACL, limits and
/// liveness machines (for [`SipSide::new`] and a reload's new trunks).
pub(crate) fn build_trunk(
    ep: &mut Endpoint,
    tc: &crate::config::TrunkConfig,
    host: &str,
    port: u16,
    transport_ports: &[(Transport, u16)],
) -> Result<Trunk, SipError> {
    let name = tc.name().to_owned();
    let transport = wire_transport(tc.transport);
    let (thost, tport) = split_host(tc.host.get_ref());
    let tport = tport.unwrap_or(transport.default_port());
    let proxy = match &tc.outbound_proxy {
        None => None,
        Some(p) => {
            let text = p.get_ref();
            let mut uri = if text.contains(':') && (text.starts_with("sip:") || text.starts_with("sips:")) {
                Uri::parse(text).map_err(|_| SipError::BadAddress { trunk: name.clone(), what: "outbound_proxy", value: text.clone() })?
            } else {
                let (h, p) = split_host(text);
                Uri::sip(None, &h, p)
            };
            uri.params.set("lr", None);
            let addr = literal_addr(&uri.host, uri.port.unwrap_or(transport.default_port()));
            Some((uri, addr))
        }
    };
    let auth_server = tc.auth_inbound.as_ref().map(|a| {
        let realm = a.realm.clone().unwrap_or_else(|| host.to_owned());
        let secret = ep.ids().next_u64().to_be_bytes();
        tandem_sip::auth::DigestServer::new(&realm, &secret)
    });
    let contact = {
        let lport = transport_ports.iter().find(|(t, _)| *t == transport).map_or(port, |&(_, p)| p);
        let mut u = Uri::sip(Some("tandem"), host, Some(lport));
        if transport != Transport::Udp {
            u.params.set("transport", Some(&transport.as_str().to_ascii_lowercase()));
        }
        u
    };
    let target = Uri::sip(None, &thost, (tport != transport.default_port()).then_some(tport));
    let reg = (tc.kind == TrunkKind::Register).then(|| {
        let user = tc.username.as_ref().map(|u| u.get_ref().clone()).unwrap_or_default();
        let pw = tc.password.as_ref().map(|u| u.get_ref().clone()).unwrap_or_default();
        let mut c = contact.clone();
        c.user = Some(user.clone());
        let mut rc = registration::Config::new(target.clone(), Uri::sip(Some(&user), &thost, None), NameAddr::new(c));
        rc.expires = tc.register_expires().as_secs() as u32;
        rc.credentials = Some((user, pw));
        rc.call_id_host = host.to_owned();
        Registration::new(rc, ep.ids().next_u64())
    });
    let keepalive = tc.options_interval().map(|interval| {
        let mut kc = options::Config::new(target.clone(), contact.clone());
        kc.interval = interval;
        kc.response_timeout = kc.response_timeout.min(interval);
        kc.failures_for_down = tc.options_down_after();
        Keepalive::new(kc, ep.ids().next_u64())
    });
    let mut t = Trunk {
        cfg: tc.clone(),
        transport,
        addr: literal_addr(&thost, tport),
        host: thost,
        port: tport,
        proxy,
        acl: Acl { configured: tc.accept_from().into_iter().collect::<Vec<Cidr>>(), resolved: Vec::new() },
        overrides: tc.cause_overrides(),
        bucket: tc.max_cps.as_ref().map(|c| TokenBucket::new(*c.get_ref())),
        active_calls: 0,
        reg,
        registered: false,
        keepalive,
        auth_server,
        retired: false,
    };
    t.refresh_acl();
    Ok(t)
}

fn random_seed() -> u64 {
    let mut h = RandomState::new().build_hasher();
    h.write_u64(0x7a6e_6465_6d00_0001);
    h.finish()
}

impl SipSide {
    /// The SIP side for a checked `[sip]` section. `now_unix` (seconds) is
    /// the wall-clock time matching `now`, for digest nonces.
    pub fn new(cfg: &SipConfig, ports: Box<dyn MediaPorts + Send>, now: Instant, now_unix: u64) -> Result<SipSide, SipError> {
        let listen = cfg.listen();
        let first = listen.first();
        let port = first.map(|l| l.addr.port()).unwrap_or(5060);
        let host_ip: IpAddr = cfg.rtp_ip().or_else(|| first.map(|l| l.addr.ip()).filter(|ip| !ip.is_unspecified())).unwrap_or(Ipv4Addr::LOCALHOST.into());
        let host = match host_ip {
            IpAddr::V6(v6) => format!("[{v6}]"),
            v4 => v4.to_string(),
        };
        let mut transport_ports: Vec<(Transport, u16)> = Vec::new();
        for l in &listen {
            let t = wire_transport(l.transport);
            if !transport_ports.iter().any(|(lt, _)| *lt == t) {
                transport_ports.push((t, l.addr.port()));
            }
        }
        let seed = random_seed();
        let tx_cfg = transaction::Config {
            t1: cfg.t1(),
            t2: cfg.t2(),
            sent_by_host: host.clone(),
            sent_by_port: Some(port),
            sent_by_ports: transport_ports.clone(),
            seed,
            ..transaction::Config::default()
        };
        let mut ep = Endpoint::new(tx_cfg);
        let mut trunks = Vec::new();
        for tc in &cfg.trunk {
            trunks.push(build_trunk(&mut ep, tc, &host, port, &transport_ports)?);
        }
        Ok(SipSide {
            ep,
            host,
            port,
            transport_ports,
            user_agent: cfg.user_agent().to_owned(),
            t1: cfg.t1(),
            trunks,
            ports,
            calls: HashMap::new(),
            next_call: 1,
            by_leg: HashMap::new(),
            by_call_id: HashMap::new(),
            txs: HashMap::new(),
            out: VecDeque::new(),
            epoch: (now, now_unix),
            malformed: 0,
            malformed_log: RateLimitedLog::default(),
            shutting_down: false,
            trunks_started: false,
            last_now: None,
            tx_dest: HashMap::new(),
        })
    }

    /// Trunks whose `host` or `outbound_proxy` is a name to resolve:
    /// `(trunk, host)`.
    pub fn unresolved(&self) -> Vec<(String, String)> {
        let mut v = Vec::new();
        for t in &self.trunks {
            if t.addr.is_none() {
                v.push((t.name().to_owned(), t.host.clone()));
            }
            if let Some((u, None)) = &t.proxy {
                v.push((t.name().to_owned(), u.host.clone()));
            }
        }
        v
    }

    /// Gives a trunk the address its `host` (or, when `host` names the
    /// outbound proxy, the proxy) resolved to; the port is the configured
    /// one. Also makes the address the trunk's default `accept_from`.
    pub fn set_resolved(&mut self, trunk: &str, host: &str, ip: IpAddr) {
        for t in self.trunks.iter_mut().filter(|t| t.name() == trunk) {
            if t.host == host {
                t.addr = Some(SocketAddr::new(ip, t.port));
            }
            if let Some((u, a)) = &mut t.proxy
                && u.host == host
            {
                *a = Some(SocketAddr::new(ip, u.port.unwrap_or(t.transport.default_port())));
            }
            t.refresh_acl();
        }
    }

    /// Malformed requests answered by the transaction layer so far.
    pub fn malformed_count(&self) -> u64 {
        self.malformed
    }

    /// Calls in progress.
    pub fn call_count(&self) -> usize {
        self.calls.len()
    }

    /// Where a leg's in-dialog requests go, as `transport:address` (for
    /// `tandem calls`); `None` for a leg that is gone.
    pub fn leg_remote(&self, leg: LegRef) -> Option<String> {
        let id = *self.by_leg.get(&leg)?;
        self.calls.contains_key(&id).then(|| {
            let p = self.dialog_dest(id);
            format!("{}:{}", format!("{:?}", p.transport).to_lowercase(), p.addr)
        })
    }

    /// Every trunk's name, kind, state and active calls.
    pub fn trunk_status(&self) -> Vec<TrunkStatus> {
        // A trunk a reload removed shows while it still has calls.
        self.trunks
            .iter()
            .filter(|t| !t.retired || t.active_calls > 0)
            .map(|t| TrunkStatus { name: t.name().to_owned(), kind: t.cfg.kind, state: t.state(), active_calls: t.active_calls })
            .collect()
    }

    fn last_now(&self) -> Instant {
        self.last_now.unwrap_or(self.epoch.0)
    }

    pub(crate) fn unix(&self, now: Instant) -> u64 {
        self.epoch.1 + now.saturating_duration_since(self.epoch.0).as_secs()
    }

    /// A received message from the transport shell.
    pub fn handle_message(&mut self, transport: ShellTransport, source: SocketAddr, local: SocketAddr, bytes: &[u8], now: Instant) {
        let _ = local;
        self.ep.handle_incoming(bytes, Peer { transport: wire_transport(transport), addr: source }, now);
        self.drain(now);
    }

    /// An event of the transport shell: a message, or a send that failed
    /// (RFC 3261 §17.1.4: the transactions that sent to that destination fail now).
    pub fn handle_transport_event(&mut self, ev: transport::TransportEvent, now: Instant) {
        match ev {
            transport::TransportEvent::Message(m) => self.handle_message(m.transport, m.source, m.local, &m.bytes, now),
            transport::TransportEvent::SendFailed { transport, dest } => self.send_failed(transport, dest, now),
        }
    }

    /// A message to `dest` could not be sent: its transactions fail at once.
    pub fn send_failed(&mut self, transport: ShellTransport, dest: SocketAddr, now: Instant) {
        let transport = wire_transport(transport);
        let keys: Vec<TxKey> = self.tx_dest.iter().filter(|(_, d)| **d == (transport, dest)).map(|(k, _)| *k).collect();
        for k in keys {
            self.ep.transport_error(k);
        }
        self.drain(now);
    }

    /// Runs every timer due at `now`.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.ep.handle_timeout(now);
        self.drain(now);
        self.trunk_timers(now);
        self.call_timers(now);
        self.referral_timers(now);
        self.hold_glare_timers(now);
        self.drain(now);
    }

    /// When [`SipSide::handle_timeout`] should next run.
    pub fn poll_timeout(&self) -> Option<Instant> {
        let mut t = self.ep.poll_timeout();
        let mut consider = |x: Option<Instant>| {
            if let Some(x) = x {
                t = Some(t.map_or(x, |t| t.min(x)));
            }
        };
        if !self.trunks_started && self.trunks.iter().any(|t| t.reg.is_some() || t.keepalive.is_some()) {
            consider(Some(self.epoch.0));
        }
        if !self.shutting_down {
            for tr in &self.trunks {
                consider(tr.reg.as_ref().and_then(|r| r.poll_timeout()));
                consider(tr.keepalive.as_ref().and_then(|k| k.poll_timeout()));
            }
        }
        for c in self.calls.values() {
            consider(c.referral.map(|r| r.deadline));
            consider(c.hold_glare.retry_at);
            consider(c.rel.as_ref().and_then(|r| r.poll_timeout()));
            if let Some(st) = &c.timer {
                if !c.refresh_sent {
                    consider(st.refresh_at());
                }
                consider(Some(st.expire_at()));
            }
        }
        t
    }

    /// The next output; drain until `None` after every input.
    pub fn poll_output(&mut self) -> Option<SipOutput> {
        self.out.pop_front()
    }

    /// Binds an inbound call to the leg call control made for it; the
    /// events held since [`SipOutput::Incoming`] come out now.
    pub fn accept(&mut self, key: IncomingKey, leg: LegRef) {
        let Some(c) = self.calls.get_mut(&key.0) else {
            debug!(call = %leg.call, "accept for a SIP call that is gone");
            self.out.push_back(SipOutput::Leg(leg, LegEvent::Released(Release::cause(Cause::NORMAL_CLEARING))));
            return;
        };
        c.leg = Some(leg);
        self.by_leg.insert(leg, key.0);
        for ev in std::mem::take(&mut c.held) {
            self.out.push_back(SipOutput::Leg(leg, ev));
        }
    }

    /// A command from call control for one of our legs.
    pub fn command(&mut self, leg: LegRef, cmd: LegCommand, now: Instant) {
        let Some(&id) = self.by_leg.get(&leg) else {
            debug!(call = %leg.call, ?cmd, "command for a SIP leg that is gone");
            return;
        };
        let role = self.calls[&id].role;
        match role {
            Role::Inbound => self.uas_command(id, cmd, now),
            Role::Outbound => self.uac_command(id, cmd, now),
        }
        self.drain(now);
    }

    /// Places an outbound leg on `trunk` (see [`outbound`]).
    pub fn originate(&mut self, leg: LegRef, trunk: &str, uri: Option<&str>, setup: &Setup, now: Instant) {
        self.last_now = Some(now);
        self.uac_originate(leg, trunk, uri, setup, now);
        self.drain(now);
    }

    /// Stops keepalives and removes every registration (`Expires: 0`); the
    /// integrator should keep the transport up a little for the transmits.
    pub fn shutdown(&mut self, now: Instant) {
        self.shutting_down = true;
        for i in 0..self.trunks.len() {
            self.trunk_input(i, now, |t| {
                if let Some(r) = &mut t.reg {
                    r.stop(now);
                    t.registered = false;
                }
            });
        }
        self.drain(now);
    }

    // ---- plumbing shared by both roles ----

    /// Moves the transaction layer's output to ours, handling its events.
    pub(crate) fn drain(&mut self, now: Instant) {
        self.last_now = Some(now);
        while let Some(o) = self.ep.poll_output() {
            match o {
                TxOutput::Transmit(t) => {
                    if let Some(k) = t.key {
                        self.tx_dest.insert(k, (t.transport, t.dest));
                    }
                    self.out.push_back(SipOutput::Transmit { transport: shell_transport(t.transport), dest: t.dest, bytes: t.bytes })
                }
                TxOutput::Event(e) => self.on_tx_event(e, now),
            }
        }
    }

    fn on_tx_event(&mut self, e: TxEvent, now: Instant) {
        match e {
            TxEvent::Request { key, request, source } => self.on_request(key, request, source, now),
            TxEvent::Cancel { key, invite, request, source: _ } => self.on_cancel(key, invite, request, now),
            TxEvent::Ack { invite: _, request, source: _ } => self.on_ack(request, now),
            TxEvent::Response { key, response } => self.on_response(key, response, now),
            TxEvent::Stray2xx { response, source } => self.on_stray_2xx(response, source),
            TxEvent::Timeout { key } => self.on_tx_failure(key, false, now),
            TxEvent::TransportError { key } => self.on_tx_failure(key, true, now),
            TxEvent::AckTimeout { key } => self.on_ack_timeout(key, now),
            TxEvent::Terminated { key } => {
                self.txs.remove(&key);
                self.tx_dest.remove(&key);
            }
            TxEvent::Rejected { source, status, answered, reason } => {
                self.malformed += 1;
                if self.malformed_log.should_log(now) {
                    debug!(%source.addr, status, answered, reason, suppressed = self.malformed_log.suppressed, "malformed SIP request");
                    self.malformed_log.suppressed = 0;
                }
            }
            TxEvent::Dropped { source, reason } => debug!(%source.addr, reason, "SIP message dropped"),
        }
    }

    fn on_request(&mut self, key: TxKey, req: Request, source: Peer, now: Instant) {
        let in_dialog = req.to_addr().is_some_and(|t| t.tag().is_some());
        if in_dialog {
            match self.dialog_for_request(&req) {
                Some(id) => self.in_dialog_request(id, key, req, now),
                None => {
                    debug!(method = %req.method, call_id = req.call_id().unwrap_or(""), "request for an unknown dialog");
                    self.respond(key, &req, 481, None, &[]);
                }
            }
            return;
        }
        match req.method {
            Method::Invite => self.uas_invite(key, req, source, now),
            Method::Notify => self.uas_notify(key, req, source),
            Method::Options => {
                if security::trunk_for_source(self.trunks.iter().map(|t| &t.acl), source.addr).is_some() {
                    let tag = self.ep.ids().tag();
                    let r = self.base_response(&req, 200, Some(&tag)).with_header("Accept", "application/sdp");
                    let _ = self.ep.send_response(key, r, now);
                } else {
                    self.respond(key, &req, 403, None, &[]);
                }
            }
            _ => {
                let status = if security::trunk_for_source(self.trunks.iter().map(|t| &t.acl), source.addr).is_some() {
                    if matches!(req.method, Method::Bye | Method::Prack | Method::Update | Method::Info) { 481 } else { 405 }
                } else {
                    403
                };
                self.respond(key, &req, status, None, &[("Allow", ALLOW)]);
            }
        }
    }

    /// A response with our Server and Allow headers (To tag added if given).
    pub(crate) fn base_response(&self, req: &Request, status: u16, to_tag: Option<&str>) -> Response {
        let mut r = Response::for_request(req, status, None, to_tag);
        r.headers.push("Server", self.user_agent.clone());
        if (200..300).contains(&status) || status == 405 {
            r.headers.push("Allow", ALLOW);
        }
        r
    }

    /// Answers a server transaction with `status` and extra headers.
    pub(crate) fn respond(&mut self, key: TxKey, req: &Request, status: u16, to_tag: Option<&str>, extra: &[(&str, &str)]) {
        let tag;
        let to_tag = match to_tag {
            Some(t) => Some(t),
            None if status > 100 && req.to_addr().is_some_and(|t| t.tag().is_none()) => {
                tag = self.ep.ids().tag();
                Some(tag.as_str())
            }
            None => None,
        };
        let mut r = self.base_response(req, status, to_tag);
        for (n, v) in extra {
            if *n == "Allow" && r.header("Allow").is_some() {
                continue;
            }
            r.headers.push(n, *v);
        }
        let now = self.last_now();
        if let Err(e) = self.ep.send_response(key, r, now) {
            debug!(error = %e, status, "could not send a response");
        }
    }

    /// Our port for Via and Contact over `transport`: its first listener's, else the first listener's.
    pub(crate) fn port_for(&self, transport: Transport) -> u16 {
        self.transport_ports.iter().find(|(t, _)| *t == transport).map_or(self.port, |&(_, p)| p)
    }

    /// Our Contact.
    pub(crate) fn contact(&self, transport: Transport) -> NameAddr {
        let mut u = Uri::sip(Some("tandem"), &self.host, Some(self.port_for(transport)));
        if transport != Transport::Udp {
            u.params.set("transport", Some(&transport.as_str().to_ascii_lowercase()));
        }
        NameAddr::new(u)
    }

    /// Where an in-dialog request goes: the next hop if it is an IP literal, else the call's peer.
    pub(crate) fn dialog_dest(&self, id: u64) -> Peer {
        let c = &self.calls[&id];
        match c.dialog.as_ref() {
            Some(d) => {
                let hop = d.next_hop();
                let transport = hop.transport_param().unwrap_or(c.peer.transport);
                match literal_addr(&hop.host, hop.port.unwrap_or(transport.default_port())) {
                    Some(addr) => Peer { transport, addr },
                    None => c.peer,
                }
            }
            None => c.peer,
        }
    }

    /// Sends a client request for call `id` and records its owner.
    pub(crate) fn send_in_dialog(&mut self, id: u64, req: Request, purpose: Purpose, now: Instant) {
        let dest = self.dialog_dest(id);
        match self.ep.send_request(req, dest, now) {
            Ok(k) => {
                self.txs.insert(k, TxOwner::InDialog(id, purpose));
            }
            Err(e) => warn!(error = %e, "could not send an in-dialog request"),
        }
    }

    /// Emits a leg event (held until `accept` for inbound calls).
    pub(crate) fn emit(&mut self, id: u64, ev: LegEvent) {
        let Some(c) = self.calls.get_mut(&id) else { return };
        match c.leg {
            Some(leg) => self.out.push_back(SipOutput::Leg(leg, ev)),
            None => c.held.push(ev),
        }
    }

    /// The RTP parameters of a call's current negotiation.
    pub(crate) fn rtp_params(&self, id: u64) -> Option<RtpParams> {
        let m = self.calls.get(&id)?.media.as_ref()?;
        let n = m.negotiated?;
        Some(RtpParams {
            stream: m.stream,
            local: m.local.addr,
            remote: n.remote,
            codec: match n.codec {
                tandem_media::codec::Codec::Pcma => Codec::Pcma,
                _ => Codec::Pcmu,
            },
            payload_type: n.payload_type,
            ptime_ms: n.ptime_ms,
            dtmf_payload_type: n.dtmf_payload_type,
            direction: match n.direction {
                tandem_media::codec::Direction::SendRecv => Direction::SendRecv,
                tandem_media::codec::Direction::SendOnly => Direction::SendOnly,
                tandem_media::codec::Direction::RecvOnly => Direction::RecvOnly,
                tandem_media::codec::Direction::Inactive => Direction::Inactive,
            },
            symmetric: false,
        })
    }

    /// Sets a call's negotiation and emits `Media` if it changed.
    pub(crate) fn set_negotiated(&mut self, id: u64, n: Negotiated) {
        let Some(m) = self.calls.get_mut(&id).and_then(|c| c.media.as_mut()) else { return };
        if m.negotiated == Some(n) {
            return;
        }
        m.negotiated = Some(n);
        if let Some(p) = self.rtp_params(id) {
            self.emit(id, LegEvent::Media(MediaEndpoint::Rtp(p)));
        }
    }

    /// Ends a call: emits `Released`, frees its port and its trunk slot.
    pub(crate) fn finish(&mut self, id: u64, release: Release) {
        let Some(c) = self.calls.get(&id) else { return };
        if c.phase == Phase::Gone {
            return;
        }
        info!(call = %c.label(), sip_call_id = %c.call_id, cause = release.cause.0, wire = ?release.wire, "SIP leg released");
        self.emit(id, LegEvent::Released(release));
        let Some(mut c) = self.calls.remove(&id) else { return };
        c.phase = Phase::Gone;
        if let Some(m) = &c.media {
            self.ports.release(m.stream);
        }
        if let Some(t) = self.trunks.get_mut(c.trunk) {
            t.active_calls = t.active_calls.saturating_sub(1);
        }
        if let Some(leg) = c.leg {
            self.by_leg.remove(&leg);
        }
        if let Some(v) = self.by_call_id.get_mut(&c.call_id) {
            v.retain(|x| *x != id);
            if v.is_empty() {
                self.by_call_id.remove(&c.call_id);
            }
        }
    }

    pub(crate) fn new_call_id(&mut self) -> u64 {
        let id = self.next_call;
        self.next_call += 1;
        id
    }

    fn on_response(&mut self, key: TxKey, resp: Response, now: Instant) {
        match self.txs.get(&key).copied() {
            Some(TxOwner::Invite(id)) => self.uac_invite_response(id, key, resp, now),
            Some(TxOwner::InDialog(id, purpose)) => self.in_dialog_response(id, purpose, resp, now),
            Some(TxOwner::Register(t)) => self.trunk_input(t, now, |tr| {
                if let Some(r) = &mut tr.reg {
                    r.handle_response(&resp, now);
                }
            }),
            Some(TxOwner::Options(t)) => self.trunk_input(t, now, |tr| {
                if let Some(k) = &mut tr.keepalive {
                    k.handle_response(&resp, now);
                }
            }),
            None => debug!(status = resp.status, "response for a transaction we no longer track"),
        }
    }

    fn on_tx_failure(&mut self, key: TxKey, transport_error: bool, now: Instant) {
        match self.txs.remove(&key) {
            Some(TxOwner::Invite(id)) => self.uac_invite_timeout(id, transport_error),
            Some(TxOwner::InDialog(id, Purpose::Refresh)) => {
                // RFC 4028 §10: a refresh that fails ends the session.
                self.hang_up(id, Cause::RECOVERY_ON_TIMER_EXPIRY, "session refresh timed out", now);
            }
            Some(TxOwner::InDialog(id, Purpose::Refer)) => self.hang_up(id, Cause::NORMAL_CLEARING, "REFER unanswered", now),
            Some(TxOwner::InDialog(id, Purpose::Hold)) => self.hold_answered(id, 408, now),
            Some(TxOwner::InDialog(..)) => {}
            Some(TxOwner::Register(t)) => self.trunk_input(t, now, |tr| {
                if let Some(r) = &mut tr.reg {
                    r.handle_failure(now);
                }
            }),
            Some(TxOwner::Options(t)) => self.trunk_input(t, now, |tr| {
                if let Some(k) = &mut tr.keepalive {
                    k.handle_failure(now);
                }
            }),
            None => {}
        }
    }

    fn on_ack_timeout(&mut self, key: TxKey, now: Instant) {
        let Some(id) = self.calls.iter().find(|(_, c)| c.invite_tx == Some(key)).map(|(id, _)| *id) else { return };
        let c = &self.calls[&id];
        warn!(call = %c.label(), sip_call_id = %c.call_id, "no ACK for our 2xx");
        self.hang_up(id, Cause::RECOVERY_ON_TIMER_EXPIRY, "no ACK", now);
    }

    /// The call whose dialog a received request belongs to.
    pub(crate) fn dialog_for_request(&self, req: &Request) -> Option<u64> {
        let ids = self.by_call_id.get(req.call_id()?)?;
        ids.iter().copied().find(|id| self.calls.get(id).and_then(|c| c.dialog.as_ref()).is_some_and(|d| d.matches_request(req)))
    }

    /// Registers a call under its Call-ID.
    pub(crate) fn index_call_id(&mut self, call_id: &str, id: u64) {
        self.by_call_id.entry(call_id.to_owned()).or_default().push(id);
    }

    fn on_stray_2xx(&mut self, resp: Response, source: Peer) {
        let Some(ids) = resp.call_id().and_then(|c| self.by_call_id.get(c)) else { return };
        let Some(d) = ids.iter().filter_map(|id| self.calls.get(id)?.dialog.as_ref()).find(|d| d.matches_response(&resp)) else { return };
        if let Some(seq) = resp.cseq().map(|c| c.seq) {
            let ack = d.ack_for_2xx(seq);
            self.ep.send_stateless(ack, source);
        }
    }

    /// Sends BYE with a Reason (answered calls) and releases the leg.
    pub(crate) fn hang_up(&mut self, id: u64, cause: Cause, why: &str, now: Instant) {
        let Some(c) = self.calls.get_mut(&id) else { return };
        if let Some(d) = c.dialog.as_mut() {
            let mut bye = d.new_request(Method::Bye);
            bye.headers.push("Reason", map::reason_header(cause));
            bye.headers.push("User-Agent", self.user_agent.clone());
            self.send_in_dialog(id, bye, Purpose::Bye, now);
        }
        self.finish(id, Release { cause, wire: Some(format!("BYE ({why})")) });
    }

    /// In-dialog requests of either role.
    fn in_dialog_request(&mut self, id: u64, key: TxKey, req: Request, now: Instant) {
        let check = self.calls.get_mut(&id).and_then(|c| c.dialog.as_mut()).map(|d| d.handle_request(&req));
        if let Some(Err(e)) = check {
            debug!(call = %self.calls[&id].label(), sip_call_id = %self.calls[&id].call_id, error = %e, "in-dialog request refused");
            self.respond(key, &req, 500, None, &[]);
            return;
        }
        match req.method {
            Method::Bye => {
                self.respond(key, &req, 200, None, &[]);
                let c = &self.calls[&id];
                if c.role == Role::Inbound && c.phase == Phase::Setup {
                    // RFC 3261 §15.1.2: a BYE before our final response ends the INVITE with 487.
                    let (invite, tag, k) = (c.invite.clone(), c.local_tag.clone(), c.invite_tx);
                    if let Some(k) = k {
                        let r = self.base_response(&invite, 487, Some(&tag));
                        let _ = self.ep.send_response(k, r, now);
                    }
                    if let Some(r) = self.calls.get_mut(&id).and_then(|c| c.rel.as_mut()) {
                        r.cancel();
                    }
                }
                let cause = map::reason_cause(&req).unwrap_or(Cause::NORMAL_CLEARING);
                self.finish(id, Release { cause, wire: Some("BYE".into()) });
            }
            Method::Invite | Method::Update => self.on_offer_request(id, key, req, now),
            Method::Prack => self.uas_prack(id, key, req, now),
            Method::Info => {
                let ct = req.header("Content-Type").unwrap_or("").to_owned();
                let digit = map::dtmf_from_info(&ct, &req.body);
                let flash = map::flash_from_info(&ct, &req.body);
                self.respond(key, &req, 200, None, &[]);
                if let Some((digit, duration_ms)) = digit {
                    self.emit(id, LegEvent::Dtmf { digit, duration_ms });
                } else if flash {
                    self.emit(id, LegEvent::Flash);
                }
            }
            Method::Options => self.respond(key, &req, 200, None, &[]),
            Method::Notify => self.on_refer_notify(id, key, req, now),
            _ => self.respond(key, &req, 501, None, &[]),
        }
    }

    /// A re-INVITE or UPDATE (either role): hold/resume, session refresh.
    fn on_offer_request(&mut self, id: u64, key: TxKey, req: Request, now: Instant) {
        if (req.method == Method::Invite || !req.body.is_empty()) && self.our_invite_pending(id) {
            debug!(call = %self.calls[&id].label(), method = %req.method, "re-offer while our re-INVITE is pending: 491");
            self.respond(key, &req, 491, None, &[]);
            return;
        }
        let Some(c) = self.calls.get_mut(&id) else { return };
        if let Some(t) = c.timer.as_mut() {
            t.refreshed(now);
            c.refresh_sent = false;
        }
        let Some(m) = c.media.as_mut() else {
            self.respond(key, &req, 488, None, &[]);
            return;
        };
        let mut local = m.local.clone();
        local.session_version += 1;
        let body = if req.body.is_empty() {
            if req.method == Method::Update {
                // A refresh without SDP: no offer/answer.
                None
            } else {
                // A re-INVITE without SDP: our offer in the 2xx, the answer in the ACK.
                m.local = local.clone();
                c.offer_pending = true;
                Some(tandem_media::sdp::build_offer(&local).to_string())
            }
        } else {
            match tandem_media::sdp::parse(&req.body).and_then(|offer| tandem_media::sdp::answer_offer(&offer, &local)) {
                Ok((answer, n)) => {
                    m.local = local;
                    let text = answer.to_string();
                    self.set_negotiated(id, n);
                    Some(text)
                }
                Err(e) => {
                    debug!(error = %e, "re-offer refused");
                    self.respond(key, &req, 488, None, &[]);
                    return;
                }
            }
        };
        let tag = self.calls[&id].local_tag.clone();
        let transport = self.calls[&id].peer.transport;
        let mut r = self.base_response(&req, 200, Some(&tag));
        r.headers.push("Contact", self.contact(transport).to_string());
        // RFC 4028 §9: a refresh names the interval and the refresher; echo them and follow them.
        if let Some(se) = req.header("Session-Expires").and_then(|v| SessionExpires::from_header(v).ok()) {
            let refresher = se.refresher.unwrap_or(Refresher::Uac);
            let delta = se.delta.max(session_timer::MIN_SE_FLOOR);
            r.headers.push("Session-Expires", SessionExpires { delta, refresher: Some(refresher) }.to_string());
            r.headers.push("Require", session_timer::TAG);
            if let Some(c) = self.calls.get_mut(&id) {
                c.timer = Some(SessionTimer { interval: delta, refresher, role: session_timer::Role::Uas, refreshed_at: now });
                c.refresh_sent = false;
            }
        }
        if let Some(b) = body {
            r = r.with_body("application/sdp", b.into_bytes());
        }
        let _ = self.ep.send_response(key, r, now);
    }

    fn in_dialog_response(&mut self, id: u64, purpose: Purpose, resp: Response, now: Instant) {
        if resp.status < 200 || !self.calls.contains_key(&id) {
            return;
        }
        match purpose {
            Purpose::Refer => self.on_refer_response(id, &resp, now),
            Purpose::Hold => {
                self.on_refresh_response(id, &resp, now);
                self.hold_answered(id, resp.status, now);
            }
            Purpose::Refresh => self.on_refresh_response(id, &resp, now),
            Purpose::Prack | Purpose::Bye | Purpose::Cancel | Purpose::Info => {}
        }
    }

    /// The final response to a session refresh or a hold re-INVITE.
    fn on_refresh_response(&mut self, id: u64, resp: &Response, now: Instant) {
        if !self.calls.contains_key(&id) {
            return;
        }
        if (200..300).contains(&resp.status) {
            if resp.cseq().is_some_and(|c| c.method == Method::Invite)
                && let Some(d) = self.calls[&id].dialog.as_ref()
            {
                let ack = d.ack_for_2xx(resp.cseq().map(|c| c.seq).unwrap_or(0));
                let dest = self.dialog_dest(id);
                self.ep.send_stateless(ack, dest);
                if !resp.body.is_empty() {
                    let n = self.calls[&id]
                        .media
                        .as_ref()
                        .and_then(|m| tandem_media::sdp::parse(&resp.body).and_then(|a| tandem_media::sdp::parse_answer(&a, &m.local)).ok());
                    if let Some(n) = n {
                        self.set_negotiated(id, n);
                    }
                }
            }
            let c = self.calls.get_mut(&id).expect("checked above");
            if let Some(t) = c.timer.as_mut() {
                t.refreshed(now);
            }
            c.refresh_sent = false;
        } else if matches!(resp.status, 408 | 481) {
            self.hang_up(id, Cause::RECOVERY_ON_TIMER_EXPIRY, "session refresh refused", now);
        } else {
            let c = self.calls.get_mut(&id).expect("checked above");
            c.refresh_sent = false;
            if let Some(t) = c.timer.as_mut() {
                // Other failures (491, 500…) leave the session as it was; try again later.
                t.refreshed(now);
            }
        }
    }

    fn on_ack(&mut self, req: Request, now: Instant) {
        let _ = now;
        let Some(id) = self.dialog_for_request(&req) else { return };
        let Some(c) = self.calls.get_mut(&id) else { return };
        if c.offer_pending && !req.body.is_empty() {
            c.offer_pending = false;
            let n = c.media.as_ref().and_then(|m| tandem_media::sdp::parse(&req.body).and_then(|a| tandem_media::sdp::parse_answer(&a, &m.local)).ok());
            match n {
                Some(n) => self.set_negotiated(id, n),
                None => {
                    warn!(call = %self.calls[&id].label(), sip_call_id = %req.call_id().unwrap_or(""), "unusable SDP answer in ACK");
                    self.hang_up(id, Cause::BEARER_NOT_IMPLEMENTED, "bad SDP in ACK", now);
                }
            }
        }
    }

    fn on_cancel(&mut self, key: TxKey, invite: Option<TxKey>, req: Request, now: Instant) {
        let id = invite.and_then(|k| self.calls.iter().find(|(_, c)| c.invite_tx == Some(k) && c.role == Role::Inbound).map(|(id, _)| *id));
        let Some(id) = id else {
            self.respond(key, &req, 481, None, &[]);
            return;
        };
        self.respond(key, &req, 200, None, &[]);
        if self.calls[&id].phase != Phase::Setup {
            return;
        }
        let c = self.calls.get_mut(&id).expect("found above");
        if let Some(r) = c.rel.as_mut() {
            r.cancel();
        }
        let invite_req = c.invite.clone();
        let tag = c.local_tag.clone();
        if let Some(k) = c.invite_tx {
            let r = self.base_response(&invite_req, 487, Some(&tag));
            let _ = self.ep.send_response(k, r, now);
        }
        let cause = map::reason_cause(&req).unwrap_or(Cause::NORMAL_CLEARING);
        self.finish(id, Release { cause, wire: Some("CANCEL".into()) });
    }

    // ---- trunks ----

    fn trunk_timers(&mut self, now: Instant) {
        if self.shutting_down {
            return;
        }
        self.trunks_started = true;
        for i in 0..self.trunks.len() {
            self.trunk_input(i, now, |t| {
                if let Some(r) = &mut t.reg {
                    r.handle_timeout(now);
                }
                if let Some(k) = &mut t.keepalive {
                    k.handle_timeout(now);
                }
            });
        }
    }

    /// Feeds a trunk's machines, sends what they ask for, logs their
    /// events, and reports an up/down change.
    fn trunk_input(&mut self, i: usize, now: Instant, f: impl FnOnce(&mut Trunk)) {
        let was_up = self.trunks[i].is_up();
        f(&mut self.trunks[i]);
        let name = self.trunks[i].name().to_owned();
        let dest = self.trunks[i].next_hop().map(|addr| Peer { transport: self.trunks[i].transport, addr });
        let route = self.trunks[i].proxy.as_ref().map(|(u, _)| NameAddr::new(u.clone()).to_string());
        let t = &mut self.trunks[i];
        let mut reqs = Vec::new();
        while let Some(r) = t.reg.as_mut().and_then(|r| r.poll_request()) {
            reqs.push((r, TxOwner::Register(i)));
        }
        while let Some(k) = t.keepalive.as_mut().and_then(|k| k.poll_request()) {
            reqs.push((k, TxOwner::Options(i)));
        }
        for (mut req, owner) in reqs {
            if let Some(r) = &route {
                req.headers.push_front("Route", r.clone());
            }
            req.headers.push("User-Agent", self.user_agent.clone());
            match dest.and_then(|d| self.ep.send_request(req, d, now).ok()) {
                Some(k) => {
                    self.txs.insert(k, owner);
                }
                None => {
                    // No address (unresolved host): the attempt fails at once.
                    let t = &mut self.trunks[i];
                    match owner {
                        TxOwner::Register(_) => {
                            if let Some(r) = t.reg.as_mut() {
                                r.handle_failure(now);
                            }
                        }
                        _ => {
                            if let Some(k) = t.keepalive.as_mut() {
                                k.handle_failure(now);
                            }
                        }
                    }
                }
            }
        }
        let t = &mut self.trunks[i];
        while let Some(e) = t.reg.as_mut().and_then(|r| r.poll_event()) {
            match e {
                RegEvent::Registered { expires } => {
                    t.registered = true;
                    info!(trunk = %name, expires_s = expires, "registered");
                }
                RegEvent::Failed { status, retry_in } => {
                    t.registered = false;
                    warn!(trunk = %name, ?status, retry_in_s = retry_in.as_secs(), "registration failed");
                }
                RegEvent::Unregistered => {
                    t.registered = false;
                    info!(trunk = %name, "unregistered");
                }
            }
        }
        while let Some(e) = t.keepalive.as_mut().and_then(|k| k.poll_event()) {
            debug!(trunk = %name, event = ?e, "OPTIONS keepalive");
        }
        let up = self.trunks[i].is_up();
        if up != was_up {
            self.trunk_changed(i, now);
        }
    }

    fn trunk_changed(&mut self, i: usize, _now: Instant) {
        let name = self.trunks[i].name().to_owned();
        if self.trunks[i].is_up() {
            info!(trunk = %name, "SIP trunk up");
            self.out.push_back(SipOutput::TrunkUp { trunk: name });
        } else {
            warn!(trunk = %name, "SIP trunk down");
            self.out.push_back(SipOutput::TrunkDown { trunk: name });
        }
    }
}
