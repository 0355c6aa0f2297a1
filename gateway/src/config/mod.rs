//! `tandem.toml`: the daemon's configuration file.
//!
//! One TOML file configures the whole daemon. Every section is optional, so
//! a file holding only `[dahdi]` (what `tandem configure` needs) is valid.
//! [`Config::load`] parses the file and checks it; every problem is
//! reported at once, each as `file:line:column: what is wrong` with a
//! `help:` line saying how to fix it (the diagnostics of
//! [`tandem_drivers::config::diag`]). Values that validation may complain
//! about are kept [`Spanned`] so messages can point at them; typed
//! accessors (`SipConfig::listen()`, `TrunkConfig::accept_from()`…) give
//! the parsed values of a checked configuration.
//!
//! Sections: `[general]`, `[process]` (realtime scheduling, see
//! [`crate::realtime`]), `[dahdi]` (spans and channels, see
//! [`tandem_drivers::config`]), `[[pri]]` and `[[group]]` (ISDN PRI
//! interfaces and span groups, see [`pri`]), `[sip]` with
//! `[[sip.trunk]]`, and `[[route]]`.
//!
//! ```toml
//! [general]
//! device_dir = "/dev/dahdi"            # DAHDI devices (a tandem-sim mount works too)
//! cdr_file = "/var/log/tandem/cdr.jsonl" # one JSON object per call; unset = no CDRs
//! cdr_fsync = true                     # fsync after every record (default true)
//! drain_timeout_s = 30                 # SIGTERM: let calls run this long, then clear them
//! max_calls = 120                      # concurrent calls (default: unlimited)
//! no_route_cause = 1                   # cause for a number no route matches: 1 or 3
//! log_format = "text"                  # text | json
//! control_socket = "/run/tandem/tandem.sock"
//! # metrics_listen = "127.0.0.1:9100"  # Prometheus metrics (GET /metrics); unset = off
//!
//! [process]
//! realtime = false                     # SCHED_FIFO media pump and signalling threads, mlockall
//! realtime_priority = 50               # 1-99: the media pump's; signalling threads run one below
//!
//! [sip]
//! listen = ["udp:0.0.0.0:5060", "tcp:0.0.0.0:5060", "tls:0.0.0.0:5061"]
//! tls_cert = "/etc/tandem/tls/cert.pem" # needed by a tls listener or trunk
//! tls_key = "/etc/tandem/tls/key.pem"
//! # tls_ca = "/etc/tandem/tls/ca.pem"   # verify peers against this CA (default: system roots)
//! user_agent = "Tandem"
//! rtp_ip = "192.0.2.10"                # the address put in SDP and bound for RTP
//! rtp_ports = "10000-20000"            # even ports are used for RTP, odd for RTCP
//! t1_ms = 500                          # RFC 3261 T1 (default 500)
//! t2_ms = 4000                         # RFC 3261 T2 (default 4000)
//!
//! [[sip.trunk]]
//! name = "pbx"                         # used by routes
//! kind = "peer"                        # peer (IP trust) | register (we register to it)
//! host = "pbx.example.com:5060"        # host[:port]
//! transport = "udp"                    # udp | tcp | tls
//! # outbound_proxy = "sip:sbc.example.com;lr"
//! accept_from = ["192.0.2.0/24"]       # who may send us INVITEs (peer default: host's address)
//! # auth_inbound = { username = "gw", password = "s3cret", realm = "tandem" }
//! # username = "gw1"                   # digest credentials (register, and challenged INVITEs)
//! # password = "s3cret"
//! # realm = "example.com"
//! # register_expires_s = 3600          # register kind
//! options_interval_s = 30              # OPTIONS keepalive; 0 = off
//! options_down_after = 3               # unanswered OPTIONS before the trunk is down
//! max_calls = 60
//! max_cps = 10                         # new outbound calls per second
//! codecs = ["pcmu", "pcma"]            # preference order
//! ptime_ms = 20
//! dtmf = "rfc4733"                     # rfc4733 | info | inband
//! rel100 = "supported"                 # supported | required | off
//! session_timer_s = 1800               # RFC 4028 session interval; 0 = off
//! privacy = "rfc3325"                  # rfc3325 (P-Asserted-Identity) | anonymous-from | ignore
//! redirect_header = "diversion"        # diversion | history-info | both (how a redirecting number goes out)
//! e164 = { country_code = "1", national_prefix = "1", international_prefix = "011" }
//! [sip.trunk.cause_to_status]          # overrides of RFC 3398 §7.2.4.1
//! "17" = 486
//! [sip.trunk.status_to_cause]          # overrides of RFC 3398 §8.2.6.1
//! "404" = 1
//!
//! [[route]]
//! name = "did-to-pbx"
//! from = ["pri1"]                      # optional: PRI interfaces or groups (or trunks for SIP-to-TDM)
//! called = ["5551000-5551999", "+1555NXXXXXX", "911"]
//! translate_called = { replace = "+1", with = "", strip = 0, prepend = "" }
//! # translate_calling = { prepend = "+1" }
//! no_answer_s = 180                    # ring no longer than this (cause 19)
//! setup_timeout_s = 32                 # outbound must proceed or ring within this (cause 102)
//! failover_causes = [34, 38, 41, 42, 47, 102]  # the default; add 18 to fail over on no response
//! target = [{ trunk = "pbx", uri = "sip:{called}@pbx.example.com" }, { trunk = "pbx-backup" }]
//!
//! [[route]]
//! name = "out-to-pstn"
//! from = ["pbx"]
//! called = ["NXXNXXXXXX", "1NXXNXXXXXX", "011."]
//! target = [{ group = "pstn" }]
//! ```
//!
//! **Routes.** A route's targets are either all SIP trunks (`trunk`, the
//! route then serves calls arriving on TDM) or all span groups (`group`,
//! for calls arriving over SIP); TDM-to-TDM and SIP-to-SIP routes are
//! refused. `called` patterns are described in [`crate::route`], with the
//! order in which the most specific match wins. A URI template may use
//! `{called}` and `{calling}` (the translated numbers).
//!
//! **Number translation** (`translate_called`, `translate_calling`):
//! `replace` a leading prefix `with` another (if the number starts with
//! it), then `strip` that many leading characters, then `prepend`.

pub mod analog;
pub mod cas;
mod check;
pub mod pri;

use std::collections::{BTreeMap, HashSet};
use std::net::{IpAddr, SocketAddr};
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;
use tandem_drivers::config::DahdiConfig;
use tandem_drivers::config::diag::{Diagnostic, Source, SourceRef};
pub use toml::Spanned;

use crate::call::causes::CauseOverrides;
use crate::call::model::{Cause, Codec};
use crate::route::Pattern;
use crate::tdm::zones::{ToneOverrides, ToneZone, ZoneOverride};

/// The default DAHDI device directory.
pub const DEFAULT_DEVICE_DIR: &str = "/dev/dahdi";
/// The default control socket of the daemon.
pub const DEFAULT_CONTROL_SOCKET: &str = "/run/tandem/tandem.sock";
/// The default failover causes: no circuit, network out of order,
/// temporary failure, congestion, resource unavailable, timer expiry.
pub const DEFAULT_FAILOVER_CAUSES: &[u8] = &[34, 38, 41, 42, 47, 102];

/// The whole of `tandem.toml`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Daemon-wide settings.
    #[serde(default)]
    pub general: General,
    /// How the daemon's process runs (realtime scheduling).
    #[serde(default)]
    pub process: Process,
    /// Spans and channels (tandem-drivers' model).
    #[serde(default)]
    pub dahdi: Option<DahdiConfig>,
    /// ISDN PRI interfaces.
    #[serde(default)]
    pub pri: Vec<pri::PriConfig>,
    /// Span groups for outbound TDM calls.
    #[serde(default)]
    pub group: Vec<pri::GroupConfig>,
    /// Analog interfaces (FXO and FXS ports).
    #[serde(default)]
    pub analog: Vec<analog::AnalogConfig>,
    /// CAS trunks (T1 robbed-bit E&M/FGB/FGD, E1 MFC/R2).
    #[serde(default)]
    pub cas: Vec<cas::CasConfig>,
    /// SIP: listeners, RTP and trunks.
    #[serde(default)]
    pub sip: Option<SipConfig>,
    /// Call routes, in file order (file order breaks ties; see [`crate::route`]).
    #[serde(default)]
    pub route: Vec<RouteConfig>,
    /// `[tones.<zone>]`: overrides of a built-in tone zone's tones and ring
    /// cadence, or a zone of its own (`base = "<built-in>"`); see
    /// [`crate::tdm::zones`].
    #[serde(default)]
    pub tones: BTreeMap<String, Spanned<ZoneOverride>>,
    /// Where this configuration was read from (for messages).
    #[serde(skip)]
    pub source: SourceRef,
}

/// `[general]`: daemon-wide settings.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct General {
    /// The DAHDI device directory (default `/dev/dahdi`; a tandem-sim mount works).
    pub device_dir: Option<Spanned<String>>,
    /// The CDR file (JSON lines, appended); no CDRs are written when unset.
    pub cdr_file: Option<Spanned<String>>,
    /// fsync the CDR file after every record (default true).
    pub cdr_fsync: Option<bool>,
    /// On SIGTERM, how long calls may go on before they are cleared (default 30 s).
    pub drain_timeout_s: Option<Spanned<u32>>,
    /// Concurrent calls at most (default unlimited); more are refused with cause 34.
    pub max_calls: Option<Spanned<u32>>,
    /// Cause for a called number no route matches: 1 (unallocated, default) or 3 (no route).
    pub no_route_cause: Option<Spanned<u8>>,
    /// Log line format (default text).
    pub log_format: Option<LogFormat>,
    /// The control socket `tandem` commands talk to the daemon over.
    pub control_socket: Option<Spanned<String>>,
    /// Serve Prometheus metrics over HTTP on this address (`GET /metrics`); unset = off.
    pub metrics_listen: Option<Spanned<String>>,
}

/// `[process]`: how the daemon's process runs (see [`crate::realtime`]).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Process {
    /// Run the media pump and signalling I/O threads SCHED_FIFO and lock memory (default false).
    pub realtime: Option<bool>,
    /// The media pump's SCHED_FIFO priority, 1–99 (default 50); signalling threads run one below.
    pub realtime_priority: Option<Spanned<i64>>,
}

/// The default `realtime_priority` (Tandem's choice: mid-range, level with
/// the kernel's threaded interrupt handlers, which run SCHED_FIFO 50).
pub const DEFAULT_REALTIME_PRIORITY: u8 = 50;

impl Process {
    /// The media pump's SCHED_FIFO priority when realtime is on, else `None`.
    pub fn realtime(&self) -> Option<u8> {
        self.realtime
            .unwrap_or(false)
            .then(|| self.realtime_priority.as_ref().and_then(|p| u8::try_from(*p.get_ref()).ok()).unwrap_or(DEFAULT_REALTIME_PRIORITY))
    }
}

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human-readable lines.
    #[default]
    Text,
    /// One JSON object per line.
    Json,
}

impl General {
    /// The DAHDI device directory.
    pub fn device_dir(&self) -> PathBuf {
        self.device_dir.as_ref().map(|d| PathBuf::from(d.get_ref())).unwrap_or_else(|| DEFAULT_DEVICE_DIR.into())
    }

    /// The CDR file, if CDRs are to be written.
    pub fn cdr_file(&self) -> Option<PathBuf> {
        self.cdr_file.as_ref().map(|d| PathBuf::from(d.get_ref()))
    }

    /// fsync after every CDR.
    pub fn cdr_fsync(&self) -> bool {
        self.cdr_fsync.unwrap_or(true)
    }

    /// The drain time limit.
    pub fn drain_timeout(&self) -> Duration {
        Duration::from_secs(self.drain_timeout_s.as_ref().map(|v| *v.get_ref()).unwrap_or(30) as u64)
    }

    /// Concurrent calls at most.
    pub fn max_calls(&self) -> Option<usize> {
        self.max_calls.as_ref().map(|v| *v.get_ref() as usize)
    }

    /// The cause for unroutable numbers.
    pub fn no_route_cause(&self) -> Cause {
        Cause(self.no_route_cause.as_ref().map(|v| *v.get_ref()).unwrap_or(1))
    }

    /// The log format.
    pub fn log_format(&self) -> LogFormat {
        self.log_format.unwrap_or_default()
    }

    /// The control socket path.
    pub fn control_socket(&self) -> PathBuf {
        self.control_socket.as_ref().map(|d| PathBuf::from(d.get_ref())).unwrap_or_else(|| DEFAULT_CONTROL_SOCKET.into())
    }

    /// The metrics listener's address, if configured (and valid).
    pub fn metrics_listen(&self) -> Option<SocketAddr> {
        self.metrics_listen.as_ref().and_then(|a| a.get_ref().parse().ok())
    }
}

/// `[sip]`: the SIP side's listeners, RTP and trunks.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SipConfig {
    /// Listeners as `transport:ip:port` (`"udp:0.0.0.0:5060"`, `"tls:[::]:5061"`).
    #[serde(default)]
    pub listen: Vec<Spanned<String>>,
    /// PEM certificate chain for TLS.
    pub tls_cert: Option<Spanned<String>>,
    /// PEM private key for TLS.
    pub tls_key: Option<Spanned<String>>,
    /// PEM CA bundle to verify TLS peers with (default: the system roots).
    pub tls_ca: Option<Spanned<String>>,
    /// The User-Agent and Server header value (default "Tandem").
    pub user_agent: Option<String>,
    /// The address put in SDP and bound for RTP.
    pub rtp_ip: Option<Spanned<String>>,
    /// The RTP port range, `"10000-20000"` (the default).
    pub rtp_ports: Option<Spanned<String>>,
    /// RFC 3261 T1 in ms (default 500).
    pub t1_ms: Option<Spanned<u32>>,
    /// RFC 3261 T2 in ms (default 4000).
    pub t2_ms: Option<Spanned<u32>>,
    /// The SIP trunks (peers and registrations).
    #[serde(default)]
    pub trunk: Vec<TrunkConfig>,
}

/// A SIP transport.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Transport {
    /// SIP over UDP (the default).
    #[default]
    Udp,
    /// SIP over TCP.
    Tcp,
    /// SIP over TLS (RFC 3261 §26.2.1).
    Tls,
}

impl Transport {
    /// The name as written in the config.
    pub fn name(self) -> &'static str {
        match self {
            Transport::Udp => "udp",
            Transport::Tcp => "tcp",
            Transport::Tls => "tls",
        }
    }

    fn parse(s: &str) -> Option<Transport> {
        match s {
            "udp" => Some(Transport::Udp),
            "tcp" => Some(Transport::Tcp),
            "tls" => Some(Transport::Tls),
            _ => None,
        }
    }
}

/// A parsed `listen` entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Listen {
    /// udp, tcp or tls.
    pub transport: Transport,
    /// The local address and port to bind.
    pub addr: SocketAddr,
}

impl Listen {
    /// Parse `"udp:0.0.0.0:5060"`.
    pub fn parse(s: &str) -> Option<Listen> {
        let (t, a) = s.split_once(':')?;
        Some(Listen { transport: Transport::parse(t)?, addr: a.parse().ok()? })
    }
}

impl SipConfig {
    /// The parsed listeners (entries that do not parse are left out; a
    /// checked configuration has none).
    pub fn listen(&self) -> Vec<Listen> {
        self.listen.iter().filter_map(|l| Listen::parse(l.get_ref())).collect()
    }

    /// The User-Agent header value.
    pub fn user_agent(&self) -> &str {
        self.user_agent.as_deref().unwrap_or("Tandem")
    }

    /// The RTP address, if set and valid.
    pub fn rtp_ip(&self) -> Option<IpAddr> {
        self.rtp_ip.as_ref().and_then(|s| s.get_ref().parse().ok())
    }

    /// The RTP port range (inclusive), default 10000–20000.
    pub fn rtp_ports(&self) -> (u16, u16) {
        self.rtp_ports.as_ref().and_then(|s| parse_port_range(s.get_ref())).unwrap_or((10000, 20000))
    }

    /// RFC 3261 T1 (default 500 ms).
    pub fn t1(&self) -> Duration {
        Duration::from_millis(self.t1_ms.as_ref().map(|v| *v.get_ref()).unwrap_or(500) as u64)
    }

    /// RFC 3261 T2 (default 4 s).
    pub fn t2(&self) -> Duration {
        Duration::from_millis(self.t2_ms.as_ref().map(|v| *v.get_ref()).unwrap_or(4000) as u64)
    }

    /// A trunk by name.
    pub fn trunk(&self, name: &str) -> Option<&TrunkConfig> {
        self.trunk.iter().find(|t| t.name.get_ref() == name)
    }
}

fn parse_port_range(s: &str) -> Option<(u16, u16)> {
    let (a, b) = s.split_once('-')?;
    let (a, b): (u16, u16) = (a.trim().parse().ok()?, b.trim().parse().ok()?);
    (a <= b).then_some((a, b))
}

/// What kind of SIP trunk.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TrunkKind {
    /// A peer trusted by address (a PBX, an SBC, a carrier with IP auth).
    #[default]
    Peer,
    /// We register to it with `username`/`password` (a SIP provider).
    Register,
}

/// How DTMF crosses a trunk.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DtmfMode {
    /// RFC 4733 telephone-events in RTP.
    #[default]
    Rfc4733,
    /// SIP INFO (application/dtmf-relay).
    Info,
    /// In the audio.
    Inband,
}

/// RFC 3262 reliable provisional responses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Rel100 {
    /// Use 100rel when the peer asks (and offer it).
    #[default]
    Supported,
    /// Insist on 100rel.
    Required,
    /// Never use it.
    Off,
}

/// How the calling party's privacy is carried.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Privacy {
    /// RFC 3325: the number in P-Asserted-Identity, `Privacy: id` when restricted.
    #[default]
    Rfc3325,
    /// Restricted numbers give an anonymous From and no identity at all.
    AnonymousFrom,
    /// Send the number as it is, ignoring restriction (trusted peers only).
    Ignore,
}

/// Which header carries a redirecting number in outbound INVITEs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RedirectHeader {
    /// `Diversion:` (RFC 5806).
    #[default]
    Diversion,
    /// `History-Info:` (RFC 7044), the cause as a URI parameter (RFC 4458).
    HistoryInfo,
    /// Both.
    Both,
}

/// A codec name in `codecs`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CodecName {
    /// G.711 µ-law (payload type 0).
    Pcmu,
    /// G.711 A-law (payload type 8).
    Pcma,
}

impl From<CodecName> for Codec {
    fn from(c: CodecName) -> Codec {
        match c {
            CodecName::Pcmu => Codec::Pcmu,
            CodecName::Pcma => Codec::Pcma,
        }
    }
}

/// Credentials for challenging inbound requests (RFC 3261 §22 digest).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuthInbound {
    /// The username the peer must present.
    pub username: String,
    /// Its password.
    pub password: String,
    /// The realm we challenge with (default: our host name).
    pub realm: Option<String>,
}

/// E.164 normalisation of a trunk's national numbers.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct E164 {
    /// The country code without `+` (`"1"`, `"44"`).
    pub country_code: Spanned<String>,
    /// The national (trunk) prefix, e.g. `"0"` (default none).
    pub national_prefix: Option<String>,
    /// The international prefix, e.g. `"00"` or `"011"` (default none).
    pub international_prefix: Option<String>,
}

/// One `[[sip.trunk]]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrunkConfig {
    /// The trunk's name, used by routes.
    pub name: Spanned<String>,
    /// Peer (default) or register.
    #[serde(default)]
    pub kind: TrunkKind,
    /// `host[:port]` (a name, an IPv4 address or a bracketed IPv6 address).
    pub host: Spanned<String>,
    /// Transport to the host (default udp).
    #[serde(default)]
    pub transport: Transport,
    /// Send requests through this proxy (a SIP URI or `host[:port]`).
    pub outbound_proxy: Option<Spanned<String>>,
    /// IPs and CIDRs allowed to send us requests on this trunk. Peers
    /// default to the host's resolved addresses; otherwise nothing is.
    #[serde(default)]
    pub accept_from: Vec<Spanned<String>>,
    /// Challenge inbound INVITEs with these credentials.
    pub auth_inbound: Option<AuthInbound>,
    /// Digest username (register, and answering a challenge).
    pub username: Option<Spanned<String>>,
    /// Digest password.
    pub password: Option<Spanned<String>>,
    /// Digest realm to answer (default: any).
    pub realm: Option<String>,
    /// Register kind: the expiry to ask for (default 3600 s).
    pub register_expires_s: Option<Spanned<u32>>,
    /// OPTIONS keepalive interval (default 30 s for peers; 0 = off).
    pub options_interval_s: Option<u32>,
    /// Unanswered OPTIONS before the trunk is marked down (default 3).
    pub options_down_after: Option<Spanned<u32>>,
    /// Concurrent calls on this trunk at most (default unlimited).
    pub max_calls: Option<Spanned<u32>>,
    /// New outbound calls per second at most (default unlimited).
    pub max_cps: Option<Spanned<u32>>,
    /// Codecs in order of preference (default pcmu, pcma).
    #[serde(default)]
    pub codecs: Vec<Spanned<CodecName>>,
    /// Packetisation time (default 20 ms).
    pub ptime_ms: Option<Spanned<u8>>,
    /// DTMF mode (default rfc4733).
    #[serde(default)]
    pub dtmf: DtmfMode,
    /// 100rel (default supported).
    #[serde(default)]
    pub rel100: Rel100,
    /// RFC 4028 session interval (default 1800 s; 0 = off).
    pub session_timer_s: Option<Spanned<u32>>,
    /// Calling party privacy handling (default rfc3325).
    #[serde(default)]
    pub privacy: Privacy,
    /// How a redirecting number goes out: diversion (RFC 5806, default),
    /// history-info (RFC 7044 with RFC 4458 causes) or both. Both are read.
    #[serde(default)]
    pub redirect_header: RedirectHeader,
    /// E.164 normalisation of numbers to and from this trunk.
    pub e164: Option<E164>,
    /// Q.850 cause → SIP status overrides (`"17" = 486`).
    #[serde(default)]
    pub cause_to_status: BTreeMap<Spanned<String>, Spanned<u16>>,
    /// SIP status → Q.850 cause overrides (`"404" = 1`).
    #[serde(default)]
    pub status_to_cause: BTreeMap<Spanned<String>, Spanned<u8>>,
}

/// An IP network (`192.0.2.0/24`, `2001:db8::/32`, or one address).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr {
    pub addr: IpAddr,
    pub prefix: u8,
}

impl Cidr {
    /// Parse an address or `address/prefix`.
    pub fn parse(s: &str) -> Option<Cidr> {
        let (a, p) = match s.split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (s, None),
        };
        let addr: IpAddr = a.trim().parse().ok()?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = match p {
            Some(p) => p.trim().parse().ok().filter(|p| *p <= max)?,
            None => max,
        };
        Some(Cidr { addr, prefix })
    }

    /// Whether `ip` is in this network.
    pub fn contains(&self, ip: IpAddr) -> bool {
        match (self.addr, ip) {
            (IpAddr::V4(n), IpAddr::V4(a)) => {
                let mask = if self.prefix == 0 { 0 } else { u32::MAX << (32 - self.prefix as u32) };
                u32::from(n) & mask == u32::from(a) & mask
            }
            (IpAddr::V6(n), IpAddr::V6(a)) => {
                let mask = if self.prefix == 0 { 0 } else { u128::MAX << (128 - self.prefix as u32) };
                u128::from(n) & mask == u128::from(a) & mask
            }
            _ => false,
        }
    }
}

impl TrunkConfig {
    /// The trunk's name.
    pub fn name(&self) -> &str {
        self.name.get_ref()
    }

    /// The configured `accept_from` networks (an empty list means: a
    /// peer's own host addresses, resolved by the SIP leg).
    pub fn accept_from(&self) -> Vec<Cidr> {
        self.accept_from.iter().filter_map(|c| Cidr::parse(c.get_ref())).collect()
    }

    /// Codecs in preference order.
    pub fn codecs(&self) -> Vec<Codec> {
        if self.codecs.is_empty() { vec![Codec::Pcmu, Codec::Pcma] } else { self.codecs.iter().map(|c| (*c.get_ref()).into()).collect() }
    }

    /// Packetisation time in ms.
    pub fn ptime_ms(&self) -> u8 {
        self.ptime_ms.as_ref().map(|v| *v.get_ref()).unwrap_or(20)
    }

    /// The REGISTER expiry to ask for.
    pub fn register_expires(&self) -> Duration {
        Duration::from_secs(self.register_expires_s.as_ref().map(|v| *v.get_ref()).unwrap_or(3600) as u64)
    }

    /// The OPTIONS keepalive interval; `None` when off (always off for register trunks unless set).
    pub fn options_interval(&self) -> Option<Duration> {
        let default = if self.kind == TrunkKind::Peer { 30 } else { 0 };
        match self.options_interval_s.unwrap_or(default) {
            0 => None,
            s => Some(Duration::from_secs(s as u64)),
        }
    }

    /// Unanswered OPTIONS before the trunk is down.
    pub fn options_down_after(&self) -> u32 {
        self.options_down_after.as_ref().map(|v| *v.get_ref()).unwrap_or(3)
    }

    /// The RFC 4028 session interval; `None` when off.
    pub fn session_timer(&self) -> Option<Duration> {
        match self.session_timer_s.as_ref().map(|v| *v.get_ref()).unwrap_or(1800) {
            0 => None,
            s => Some(Duration::from_secs(s as u64)),
        }
    }

    /// The cause mapping overrides (entries that do not parse are left out).
    pub fn cause_overrides(&self) -> CauseOverrides {
        let mut o = CauseOverrides::default();
        for (k, v) in &self.cause_to_status {
            if let Ok(c) = k.get_ref().parse() {
                o.cause_to_status.insert(c, *v.get_ref());
            }
        }
        for (k, v) in &self.status_to_cause {
            if let Ok(s) = k.get_ref().parse() {
                o.status_to_cause.insert(s, *v.get_ref());
            }
        }
        o
    }
}

/// `from`: one name or a list of names.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(untagged)]
pub enum NameList {
    One(String),
    Many(Vec<String>),
}

impl NameList {
    /// The names.
    pub fn names(&self) -> Vec<String> {
        match self {
            NameList::One(s) => vec![s.clone()],
            NameList::Many(v) => v.clone(),
        }
    }
}

/// `translate_called` / `translate_calling`: replace a prefix, strip, prepend.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TranslateConfig {
    /// A leading prefix to replace (only if the number starts with it).
    pub replace: Option<String>,
    /// What replaces it (default "").
    pub with: Option<String>,
    /// Leading characters to remove (after `replace`).
    #[serde(default)]
    pub strip: usize,
    /// Prepended last.
    pub prepend: Option<String>,
}

/// One target of a route: a SIP trunk (optionally with a URI template) or a span group.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TargetConfig {
    /// A SIP trunk's name.
    pub trunk: Option<Spanned<String>>,
    /// A Request-URI template for the trunk, e.g. `"sip:{called}@pbx.example.com"`.
    pub uri: Option<Spanned<String>>,
    /// A span group's name.
    pub group: Option<Spanned<String>>,
}

/// One `[[route]]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RouteConfig {
    /// The route's name (for logs and CDRs).
    pub name: Spanned<String>,
    /// Where calls must come from: PRI interfaces or groups (for trunk
    /// targets) or SIP trunks (for group targets). Default: anywhere.
    pub from: Option<Spanned<NameList>>,
    /// Called-number patterns (see [`crate::route`]).
    pub called: Spanned<Vec<Spanned<String>>>,
    /// Translation of the called number.
    #[serde(default)]
    pub translate_called: TranslateConfig,
    /// Translation of the calling number.
    #[serde(default)]
    pub translate_calling: TranslateConfig,
    /// No-answer timer (default 180 s; cause 19).
    pub no_answer_s: Option<Spanned<u32>>,
    /// Outbound setup timer: the outbound leg must report proceeding or
    /// alerting within this (default 32 s; cause 102).
    pub setup_timeout_s: Option<Spanned<u32>>,
    /// Causes that move on to the next target before answer.
    pub failover_causes: Option<Vec<Spanned<u8>>>,
    /// Targets in failover order.
    pub target: Spanned<Vec<TargetConfig>>,
}

impl RouteConfig {
    /// The no-answer timer.
    pub fn no_answer(&self) -> Duration {
        Duration::from_secs(self.no_answer_s.as_ref().map(|v| *v.get_ref()).unwrap_or(180) as u64)
    }

    /// The outbound setup timer.
    pub fn setup_timeout(&self) -> Duration {
        Duration::from_secs(self.setup_timeout_s.as_ref().map(|v| *v.get_ref()).unwrap_or(32) as u64)
    }

    /// The failover causes.
    pub fn failover_causes(&self) -> Vec<Cause> {
        match &self.failover_causes {
            Some(v) => v.iter().map(|c| Cause(*c.get_ref())).collect(),
            None => DEFAULT_FAILOVER_CAUSES.iter().map(|c| Cause(*c)).collect(),
        }
    }
}

fn span<T>(s: &Spanned<T>) -> Range<usize> {
    s.span()
}

/// Collects diagnostics against the file.
struct Check<'a> {
    src: &'a SourceRef,
    out: Vec<Diagnostic>,
}

impl Check<'_> {
    fn err(&mut self, at: Range<usize>, message: impl Into<String>, help: impl Into<String>) {
        let help = help.into();
        self.out.push(self.src.diagnostic(at, message, if help.is_empty() { None } else { Some(help) }));
    }
}

impl Config {
    /// Read, parse and check a configuration file. Every problem is
    /// returned, each at `file:line:column`, sorted by place.
    pub fn load(path: &Path) -> Result<Config, Vec<Diagnostic>> {
        let name = path.to_string_lossy().into_owned();
        let text = std::fs::read_to_string(path)
            .map_err(|e| vec![Diagnostic { path: name.clone(), line: 0, column: 0, message: format!("cannot read the file: {e}"), help: None }])?;
        let cfg = Config::parse(&text, &name)?;
        cfg.check()?;
        Ok(cfg)
    }

    /// Parse a configuration's text (no semantic checks; see [`Config::check`]).
    /// `path` names it in messages.
    pub fn parse(text: &str, path: &str) -> Result<Config, Vec<Diagnostic>> {
        let src = Source::new(path, text);
        let mut cfg: Config = toml::from_str(text).map_err(|e| vec![src.toml_error(&e)])?;
        if let Some(d) = cfg.dahdi.take() {
            cfg.dahdi = Some(d.with_source(src.clone()));
        }
        cfg.source = SourceRef::new(src);
        Ok(cfg)
    }

    /// Parse and check text in one go (tests, and `tandem check` on a string).
    pub fn from_toml(text: &str, path: &str) -> Result<Config, Vec<Diagnostic>> {
        let cfg = Config::parse(text, path)?;
        cfg.check()?;
        Ok(cfg)
    }

    /// The DAHDI device directory: `[general] device_dir`, else
    /// `[dahdi] device_dir`, else `/dev/dahdi`.
    pub fn device_dir(&self) -> PathBuf {
        match (&self.general.device_dir, &self.dahdi) {
            (None, Some(d)) if d.device_dir.is_some() => d.device_dir(),
            _ => self.general.device_dir(),
        }
    }

    /// The `[dahdi]` section, or an empty one.
    pub fn dahdi(&self) -> DahdiConfig {
        let mut d =
            self.dahdi.clone().unwrap_or_else(|| DahdiConfig::default().with_source(self.source.0.as_deref().cloned().unwrap_or_else(|| Source::new("", ""))));
        // `[general] device_dir` applies to the spans too unless `[dahdi]` names its own.
        if d.device_dir.is_none() {
            d.device_dir = self.general.device_dir.clone();
        }
        d
    }

    /// Point everything at another DAHDI device directory (`--device-dir`).
    pub fn override_device_dir(&mut self, dir: &Path) {
        let v = Spanned::new(0..0, dir.display().to_string());
        self.general.device_dir = Some(v.clone());
        if let Some(d) = self.dahdi.as_mut() {
            d.device_dir = Some(v);
        }
    }

    /// The `[tones]` overrides, without their places in the file.
    pub fn tone_overrides(&self) -> ToneOverrides {
        self.tones.iter().map(|(k, v)| (k.clone(), v.get_ref().clone())).collect()
    }

    /// The tone zone `name` as this config has it: a built-in zone with its
    /// `[tones.<name>]` overrides, or a zone the config defines; the built-in
    /// `us` zone if `name` is neither (`check` reports that).
    pub fn tone_zone(&self, name: &str) -> ToneZone {
        ToneZone::resolve(name, &self.tone_overrides()).ok().or_else(|| ToneZone::get("us")).expect("the built-in us zone")
    }

    /// The zone names `tone_zone` keys may use: the built-in ones and those `[tones]` defines.
    pub fn zone_names(&self) -> Vec<&str> {
        crate::tdm::zones::ZONES.iter().copied().chain(self.tones.keys().map(String::as_str)).collect()
    }

    /// Every `[tones.<zone>]` must resolve: a built-in zone or a `base`, and tones that make sense.
    fn check_tones(&self, c: &mut Check) {
        let all = self.tone_overrides();
        for (name, ov) in &self.tones {
            if let Err(e) = ToneZone::resolve(name, &all) {
                let help = match e {
                    crate::tdm::zones::ZoneError::UnknownZone(_) => format!(
                        "[tones.{name}] overrides a built-in zone ({}) or defines one with base = \"<built-in>\"",
                        crate::tdm::zones::ZONES.join(", ")
                    ),
                    _ => "a tone is { freqs = [Hz, ...] (1 to 4, below 4000), level_dbm0 = -60..3, cadence = [[on_ms, off_ms], ...] (at most 32 pairs; [] = steady) }".to_string(),
                };
                c.err(ov.span(), format!("[tones.{name}]: {e}"), help);
            }
        }
    }

    /// Check everything that needs no hardware; every problem is returned.
    pub fn check(&self) -> Result<(), Vec<Diagnostic>> {
        let mut c = Check { src: &self.source, out: Vec::new() };
        if let Some(d) = &self.dahdi
            && let Err(e) = tandem_drivers::config::check(d)
        {
            c.out.extend(e);
        }
        let analog_names: Vec<&str> = self.analog.iter().map(|a| a.name.get_ref().as_str()).chain(self.cas.iter().map(|c| c.name.get_ref().as_str())).collect();
        pri::validate_with(&self.pri, &self.group, &analog_names, &self.source, &mut c.out);
        let pri_names: Vec<&str> = self.pri.iter().map(|p| p.name.get_ref().as_str()).collect();
        analog::validate(&self.analog, &pri_names, &self.zone_names(), &self.source, &mut c.out);
        let taken: Vec<&str> = pri_names.iter().copied().chain(self.analog.iter().map(|a| a.name.get_ref().as_str())).collect();
        cas::validate(&self.cas, &taken, &self.zone_names(), self.dahdi.as_ref(), &self.source, &mut c.out);
        self.check_tones(&mut c);
        self.check_general(&mut c);
        self.check_process(&mut c);
        let trunks = self.check_sip(&mut c);
        self.check_routes(&mut c, &trunks);
        let mut out = c.out;
        if out.is_empty() {
            return Ok(());
        }
        out.sort_by(|a, b| (&a.path, a.line, a.column).cmp(&(&b.path, b.line, b.column)));
        out.dedup();
        Err(out)
    }

    fn check_general(&self, c: &mut Check) {
        let g = &self.general;
        if let Some(v) = &g.max_calls
            && *v.get_ref() == 0
        {
            c.err(span(v), "max_calls = 0 would refuse every call", "leave max_calls out for no limit, or give a positive number");
        }
        if let Some(v) = &g.no_route_cause
            && !matches!(*v.get_ref(), 1 | 3)
        {
            c.err(span(v), format!("no_route_cause = {} is not 1 or 3", v.get_ref()), "use 1 (unallocated number) or 3 (no route to destination)");
        }
        if let Some(a) = &g.metrics_listen
            && a.get_ref().parse::<SocketAddr>().is_err()
        {
            c.err(
                span(a),
                format!("metrics_listen = {:?} is not an address:port", a.get_ref()),
                "e.g. \"127.0.0.1:9100\" (Prometheus scrapes GET /metrics there)",
            );
        }
        for p in [&g.cdr_file, &g.control_socket, &g.device_dir].into_iter().flatten() {
            if p.get_ref().is_empty() {
                c.err(span(p), "an empty path", "give a path, or leave the key out");
            }
        }
    }

    fn check_process(&self, c: &mut Check) {
        if let Some(p) = &self.process.realtime_priority
            && !(1..=99).contains(p.get_ref())
        {
            c.err(span(p), format!("realtime_priority = {} is out of range", p.get_ref()), "SCHED_FIFO priorities are 1 to 99 (default 50)");
        }
    }

    /// Checks `[sip]`; returns the trunk names.
    fn check_sip(&self, c: &mut Check) -> HashSet<String> {
        let mut names = HashSet::new();
        let Some(sip) = &self.sip else { return names };
        let mut tls = false;
        for l in &sip.listen {
            match Listen::parse(l.get_ref()) {
                Some(p) => tls |= p.transport == Transport::Tls,
                None => c.err(
                    span(l),
                    format!("\"{}\" is not a listener", l.get_ref()),
                    "write transport:address:port, e.g. \"udp:0.0.0.0:5060\", \"tcp:192.0.2.1:5060\" or \"tls:[::]:5061\"",
                ),
            }
        }
        if let Some(ip) = &sip.rtp_ip
            && ip.get_ref().parse::<IpAddr>().is_err()
        {
            c.err(span(ip), format!("rtp_ip \"{}\" is not an IP address", ip.get_ref()), "give the address peers send RTP to, e.g. \"192.0.2.10\"");
        }
        if let Some(p) = &sip.rtp_ports {
            match parse_port_range(p.get_ref()) {
                Some((a, b)) if b - a < 1 || a == 0 => {
                    c.err(span(p), "the RTP port range is too small", "give a range of at least two ports above 0, e.g. \"10000-20000\"")
                }
                Some(_) => {}
                None => c.err(span(p), format!("\"{}\" is not a port range", p.get_ref()), "write low-high, e.g. \"10000-20000\""),
            }
        }
        for t in [&sip.t1_ms, &sip.t2_ms].into_iter().flatten() {
            if *t.get_ref() == 0 {
                c.err(span(t), "a timer of 0 ms", "leave it out for the RFC 3261 default (T1 500, T2 4000)");
            }
        }
        if let (Some(t1), Some(t2)) = (&sip.t1_ms, &sip.t2_ms)
            && t2.get_ref() < t1.get_ref()
        {
            c.err(span(t2), "t2_ms is smaller than t1_ms", "T2 caps the retransmission interval and must be at least T1");
        }
        let mut seen: BTreeMap<String, Range<usize>> = BTreeMap::new();
        for t in &sip.trunk {
            let n = t.name.get_ref();
            if n.is_empty() {
                c.err(span(&t.name), "an empty trunk name", "name the trunk; routes refer to it by name");
            }
            if let Some(prev) = seen.get(n) {
                let line = self.source.line(prev.start);
                c.err(span(&t.name), format!("a second trunk named \"{n}\""), format!("trunk names must be unique; the first is at line {line}"));
            } else {
                seen.insert(n.clone(), span(&t.name));
                names.insert(n.clone());
            }
            tls |= t.transport == Transport::Tls;
            if !valid_host(t.host.get_ref()) {
                c.err(
                    span(&t.host),
                    format!("\"{}\" is not a host[:port]", t.host.get_ref()),
                    "write a host name or address, optionally with :port, e.g. \"pbx.example.com:5060\" or \"[2001:db8::1]:5060\"",
                );
            }
            for a in &t.accept_from {
                if Cidr::parse(a.get_ref()).is_none() {
                    c.err(
                        span(a),
                        format!("\"{}\" is not an IP address or network", a.get_ref()),
                        "write an address (\"192.0.2.7\") or a network (\"192.0.2.0/24\")",
                    );
                }
            }
            if t.kind == TrunkKind::Register && (t.username.is_none() || t.password.is_none()) {
                c.err(
                    span(&t.name),
                    format!("trunk \"{n}\" registers but has no username or password"),
                    "add username and password, or make it kind = \"peer\"",
                );
            }
            if t.kind == TrunkKind::Peer
                && let Some(v) = &t.register_expires_s
            {
                c.err(span(v), "register_expires_s on a peer trunk", "only kind = \"register\" trunks register; remove the key or change the kind");
            }
            if let Some(v) = &t.register_expires_s
                && *v.get_ref() < 10
            {
                // The REGISTER client refreshes at 75 % of the expiry; below
                // 10 s that is a refresh storm. Registrars answer an expiry
                // they find too short with 423 and Min-Expires, which the
                // client follows.
                c.err(span(v), "register_expires_s below 10", "use 60 or more (3600 is usual); a registrar that wants longer says so with 423");
            }
            for v in [&t.max_calls, &t.max_cps, &t.options_down_after].into_iter().flatten() {
                if *v.get_ref() == 0 {
                    c.err(span(v), "0 here would stop every call", "leave the key out for no limit, or give a positive number");
                }
            }
            if let Some(p) = &t.ptime_ms
                && !matches!(*p.get_ref(), 10 | 20 | 30 | 40 | 60)
            {
                c.err(span(p), format!("ptime_ms = {} is unusual", p.get_ref()), "use 10, 20 (the default), 30, 40 or 60");
            }
            if let Some(s) = &t.session_timer_s
                && *s.get_ref() != 0
                && *s.get_ref() < 90
            {
                c.err(span(s), "session_timer_s below 90", "RFC 4028 §4: Min-SE is at least 90 s; use 0 to turn session timers off");
            }
            let mut dup = HashSet::new();
            for k in &t.codecs {
                if !dup.insert(*k.get_ref()) {
                    c.err(span(k), "a codec listed twice", "list each codec once, in order of preference");
                }
            }
            if let Some(e) = &t.e164 {
                let cc = e.country_code.get_ref();
                if cc.is_empty() || cc.len() > 3 || !cc.bytes().all(|b| b.is_ascii_digit()) || cc.starts_with('0') {
                    c.err(span(&e.country_code), format!("\"{cc}\" is not a country code"), "write 1 to 3 digits without +, e.g. \"1\" or \"44\"");
                }
            }
            for (k, v) in &t.cause_to_status {
                match k.get_ref().parse::<u8>() {
                    Ok(1..=127) => {}
                    _ => c.err(span(k), format!("\"{}\" is not a Q.850 cause", k.get_ref()), "keys are cause values 1-127, e.g. \"17\" = 486"),
                }
                if !(400..=699).contains(v.get_ref()) {
                    c.err(span(v), format!("{} is not a SIP failure status", v.get_ref()), "map causes to a 4xx, 5xx or 6xx status");
                }
            }
            for (k, v) in &t.status_to_cause {
                match k.get_ref().parse::<u16>() {
                    Ok(300..=699) => {}
                    _ => c.err(span(k), format!("\"{}\" is not a SIP failure status", k.get_ref()), "keys are statuses 300-699, e.g. \"404\" = 1"),
                }
                if !(1..=127).contains(v.get_ref()) {
                    c.err(span(v), format!("{} is not a Q.850 cause", v.get_ref()), "causes are 1-127");
                }
            }
        }
        if tls {
            let at = sip.listen.first().map(span).unwrap_or(0..0);
            if sip.tls_cert.is_none() || sip.tls_key.is_none() {
                c.err(at, "TLS is used but tls_cert or tls_key is missing", "add tls_cert and tls_key (PEM files) to [sip]");
            }
        }
        names
    }

    fn check_routes(&self, c: &mut Check, trunks: &HashSet<String>) {
        let pris: HashSet<&str> = self
            .pri
            .iter()
            .map(|p| p.name.get_ref().as_str())
            .chain(self.analog.iter().map(|a| a.name.get_ref().as_str()))
            .chain(self.cas.iter().map(|c| c.name.get_ref().as_str()))
            .collect();
        let groups: HashSet<&str> = self.group.iter().map(|g| g.name.get_ref().as_str()).collect();
        let mut names: BTreeMap<&str, usize> = BTreeMap::new();
        for r in &self.route {
            let n = r.name.get_ref().as_str();
            if let Some(prev) = names.insert(n, r.name.span().start) {
                c.err(
                    span(&r.name),
                    format!("a second route named \"{n}\""),
                    format!("route names must be unique; the first is at line {}", self.source.line(prev)),
                );
            }
            if r.called.get_ref().is_empty() {
                c.err(span(&r.called), "a route with no called-number patterns", "add patterns, e.g. called = [\"5551000-5551999\"], or \"!\" for any number");
            }
            for p in r.called.get_ref() {
                if let Err(e) = Pattern::parse(p.get_ref()) {
                    c.err(
                        span(p),
                        format!("\"{}\": {e}", p.get_ref()),
                        "patterns: exact digits, ranges \"5551000-5551999\", or X Z N [1-5] with a trailing . or !",
                    );
                }
            }
            let targets = r.target.get_ref();
            if targets.is_empty() {
                c.err(span(&r.target), "a route with no targets", "add target = [{ trunk = \"name\" }] or target = [{ group = \"name\" }]");
            }
            let mut sip_targets = 0;
            let mut tdm_targets = 0;
            for t in targets {
                match (&t.trunk, &t.group) {
                    (Some(tr), None) => {
                        sip_targets += 1;
                        if !trunks.contains(tr.get_ref()) {
                            c.err(span(tr), format!("no [[sip.trunk]] is named \"{}\"", tr.get_ref()), help_names("trunks", trunks.iter().map(String::as_str)));
                        }
                        if let Some(u) = &t.uri
                            && !(u.get_ref().starts_with("sip:") || u.get_ref().starts_with("sips:"))
                        {
                            c.err(span(u), "the URI template is not a sip: or sips: URI", "e.g. \"sip:{called}@pbx.example.com\"");
                        }
                    }
                    (None, Some(g)) => {
                        tdm_targets += 1;
                        if !groups.contains(g.get_ref().as_str()) {
                            c.err(span(g), format!("no [[group]] is named \"{}\"", g.get_ref()), help_names("groups", groups.iter().copied()));
                        }
                        if let Some(u) = &t.uri {
                            c.err(span(u), "uri is for trunk targets", "remove uri from a group target");
                        }
                    }
                    (Some(tr), Some(_)) => c.err(span(tr), "a target with both trunk and group", "give each target either trunk = … or group = …"),
                    (None, None) => c.err(span(&r.target), "a target with neither trunk nor group", "give each target trunk = \"name\" or group = \"name\""),
                }
            }
            if sip_targets > 0 && tdm_targets > 0 {
                c.err(
                    span(&r.target),
                    "a route mixing trunk and group targets",
                    "trunk targets serve calls from TDM, group targets calls from SIP; split it into two routes",
                );
            }
            let from_at = r.from.as_ref().map(span).unwrap_or(0..0);
            let mixed = sip_targets > 0 && tdm_targets > 0;
            for name in r.from.as_ref().filter(|_| !mixed).map(|f| f.get_ref().names()).unwrap_or_default() {
                let name = name.as_str();
                let f = from_at.clone();
                if tdm_targets > 0 {
                    if !trunks.contains(name) {
                        let help = if pris.contains(name) || groups.contains(name) {
                            "this route's targets are groups, so it takes calls from SIP: from must name [[sip.trunk]]s (TDM-to-TDM calls are not routed)"
                                .to_string()
                        } else {
                            help_names("trunks", trunks.iter().map(String::as_str))
                        };
                        c.err(f.clone(), format!("no [[sip.trunk]] is named \"{name}\""), help);
                    }
                } else if sip_targets > 0 && !pris.contains(name) && !groups.contains(name) {
                    let help = if trunks.contains(name) {
                        "this is a SIP trunk; routes with trunk targets take calls from TDM, so from must name [[pri]] interfaces or [[group]]s".to_string()
                    } else {
                        help_names("PRI interfaces and groups", pris.iter().chain(groups.iter()).copied())
                    };
                    c.err(f.clone(), format!("no [[pri]] or [[group]] is named \"{name}\""), help);
                }
            }
            for v in [&r.no_answer_s, &r.setup_timeout_s].into_iter().flatten() {
                if *v.get_ref() == 0 {
                    c.err(span(v), "a timer of 0 s", "leave it out for the default, or give a positive number of seconds");
                }
            }
            for f in r.failover_causes.iter().flatten() {
                if !(1..=127).contains(f.get_ref()) {
                    c.err(span(f), format!("{} is not a Q.850 cause", f.get_ref()), "causes are 1-127");
                }
            }
        }
    }
}

/// "known trunks: a, b" for help lines.
fn help_names<'a>(what: &str, names: impl Iterator<Item = &'a str>) -> String {
    let mut v: Vec<&str> = names.collect();
    v.sort();
    if v.is_empty() { format!("there are no {what} in this file; define one first") } else { format!("the {what} here are: {}", v.join(", ")) }
}

/// `host`, `host:port`, `1.2.3.4:5060`, `[v6]:port`.
fn valid_host(s: &str) -> bool {
    if s.is_empty() {
        return false;
    }
    if let Some(rest) = s.strip_prefix('[') {
        let Some((a, tail)) = rest.split_once(']') else { return false };
        return a.parse::<std::net::Ipv6Addr>().is_ok() && (tail.is_empty() || tail.strip_prefix(':').and_then(|p| p.parse::<u16>().ok()).is_some());
    }
    let (h, p) = match s.rsplit_once(':') {
        Some((h, p)) => (h, Some(p)),
        None => (s, None),
    };
    if let Some(p) = p
        && p.parse::<u16>().ok().filter(|p| *p > 0).is_none()
    {
        return false;
    }
    !h.is_empty() && h.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cidrs_contain_their_addresses() {
        let c = Cidr::parse("192.0.2.0/24").unwrap();
        assert!(c.contains("192.0.2.77".parse().unwrap()));
        assert!(!c.contains("192.0.3.1".parse().unwrap()));
        assert!(Cidr::parse("2001:db8::/32").unwrap().contains("2001:db8::5".parse().unwrap()));
        assert!(Cidr::parse("10.0.0.1").unwrap().contains("10.0.0.1".parse().unwrap()));
        assert!(Cidr::parse("10.0.0.1/33").is_none());
    }

    #[test]
    fn hosts_are_checked() {
        assert!(valid_host("pbx.example.com"));
        assert!(valid_host("192.0.2.1:5060"));
        assert!(valid_host("[2001:db8::1]:5061"));
        assert!(!valid_host("pbx:0"));
        assert!(!valid_host("pb x"));
        assert!(!valid_host(""));
    }

    #[test]
    fn the_documented_example_uses_the_real_keys() {
        let src = include_str!("mod.rs");
        let doc: Vec<&str> = src.lines().take_while(|l| l.starts_with("//!")).map(|l| l.trim_start_matches("//!").strip_prefix(' ').unwrap_or("")).collect();
        let start = doc.iter().position(|l| *l == "```toml").unwrap() + 1;
        let end = start + doc[start..].iter().position(|l| *l == "```").unwrap();
        let text = doc[start..end].join("\n");
        let cfg = Config::parse(&text, "doc").unwrap_or_else(|e| panic!("{e:?}"));
        assert_eq!(cfg.route.len(), 2);
        assert_eq!(cfg.sip.unwrap().trunk[0].cause_overrides().cause_to_status.get(&17), Some(&486));
    }

    #[test]
    fn tones_override_a_built_in_zone_and_define_new_ones() {
        let text = "[tones.us]\ndial = { freqs = [425], level_dbm0 = -10 }\nring_cadence = [[1000, 2000]]\n\
                    [tones.office]\nbase = \"uk\"\nbusy = { cadence = [[250, 250]] }\n";
        let cfg = Config::from_toml(text, "t.toml").unwrap_or_else(|e| panic!("{e:?}"));
        let us = cfg.tone_zone("us");
        assert_eq!(us.dial.freqs, vec![(425.0, -10.0)]);
        assert_eq!(us.ring_cadence, vec![(1000, 2000)]);
        assert_eq!(us.busy, ToneZone::get("us").unwrap().busy, "what is not overridden stays");
        let office = cfg.tone_zone("office");
        assert_eq!(office.busy.cadence, vec![(250, 250)]);
        assert_eq!(office.ring_cadence, ToneZone::get("uk").unwrap().ring_cadence, "the UK double ring");
        assert!(cfg.zone_names().contains(&"office"));
        assert_eq!(cfg.tone_zone("mars").name, "us", "unknown names fall back to us (check reports them)");
    }

    #[test]
    fn bad_tones_are_reported_at_their_table() {
        let text = "[general]\n\n[tones.mars]\nbusy = { cadence = [[250, 250]] }\n\n[tones.us]\ndial = { freqs = [5000] }\n";
        let errs = Config::from_toml(text, "t.toml").unwrap_err();
        let all: Vec<String> = errs.iter().map(|d| format!("{}:{}: {}", d.line, d.column, d.message)).collect();
        assert!(all.iter().any(|m| m.starts_with("3:") && m.contains("[tones.mars]") && m.contains("mars")), "{all:?}");
        assert!(all.iter().any(|m| m.starts_with("6:") && m.contains("[tones.us]") && m.contains("4000")), "{all:?}");
    }

    #[test]
    fn realtime_is_off_by_default_and_priority_50_when_on() {
        assert_eq!(Config::from_toml("", "t.toml").unwrap().process.realtime(), None);
        assert_eq!(Config::from_toml("[process]\nrealtime = true\n", "t.toml").unwrap().process.realtime(), Some(50));
        let cfg = Config::from_toml("[process]\nrealtime = true\nrealtime_priority = 70\n", "t.toml").unwrap();
        assert_eq!(cfg.process.realtime(), Some(70));
        assert_eq!(
            Config::from_toml("[process]\nrealtime_priority = 70\n", "t.toml").unwrap().process.realtime(),
            None,
            "a priority alone does not turn it on"
        );
    }

    #[test]
    fn a_realtime_priority_out_of_range_is_reported_at_its_line() {
        for bad in ["0", "100", "-5", "1000"] {
            let text = format!("[general]\n\n[process]\nrealtime = true\nrealtime_priority = {bad}\n");
            let errs = Config::from_toml(&text, "t.toml").unwrap_err();
            let all: Vec<String> = errs.iter().map(ToString::to_string).collect();
            assert!(all.iter().any(|m| m.starts_with("t.toml:5:") && m.contains("realtime_priority") && m.contains("1 to 99")), "{bad}: {all:?}");
        }
    }

    #[test]
    fn an_unknown_process_key_is_an_error() {
        let errs = Config::from_toml("[process]\nrealtime = true\nnice = 5\n", "t.toml").unwrap_err();
        assert!(errs.iter().any(|d| d.line == 3 && d.message.contains("nice")), "{errs:?}");
    }

    #[test]
    fn listeners_parse() {
        assert_eq!(Listen::parse("tls:[::]:5061").unwrap().transport, Transport::Tls);
        assert!(Listen::parse("sctp:0.0.0.0:5060").is_none());
    }
}
