//! A PRI interface as a TDM leg: a sans-IO adapter between call control's
//! legs and the Q.931 stack ([`isdn_q931::Pri`]), user or network side, any
//! switch type the stack knows.
//!
//! [`PriInterface`] owns one [`Pri`] (one D-channel and the spans it
//! controls) and translates:
//!
//! | Q.931 (stack event) | leg |
//! |---|---|
//! | SETUP received (`IncomingCall`) | [`TdmOutput::Incoming`]: `Setup` (numbers normalised to E.164 by [`Numbering`]), `LegIdentity`, `MediaEndpoint::Tdm` |
//! | INFORMATION (`MoreDigits`), T302 (`DigitTimeout`) | `Digits`, `DigitTimeout` |
//! | CALL PROCEEDING, ALERTING, PROGRESS, CONNECT | `Proceeding`, `Alerting{inband}`, `Progress{inband}` (PI 1 or 8), `Answered{connected}` |
//! | SETUP ACKNOWLEDGE | digits held by `LegCommand::Digits` go out as INFORMATION |
//! | call gone (`Released`: DISCONNECT/RELEASE, T303/T309/T322 expiry, RESTART) | exactly one `Released` with the stack's cause |
//!
//! and back: `SetupAck`, `Proceeding`, `Alerting`, `Progress{inband}` (PI 8),
//! `Answer`, `Digits` (INFORMATION), `Release` (DISCONNECT, or RELEASE
//! COMPLETE before any answer, as the stack decides). Originating takes the
//! channel a span group hunted ([`super::hunt`]).
//!
//! Every Q.931 message sent or received is logged as one readable line
//! under the target `tandem::q931` (info with `trace = true`, else debug),
//! carrying the gateway call id and the call reference; with a pcap file
//! configured every frame also comes out as [`PriIo::Trace`] for the shell
//! to record.
//!
//! A calling name that NI-2 sends after the SETUP (in a FACILITY) has no
//! leg event yet and is logged at debug level only.
//!
//! Operator blocking ([`TdmInterface::set_blocked`]) always acts locally:
//! the hunt skips the channel and the stack moves or refuses SETUPs for it.
//! On a switch type with the maintenance protocol (the variant's
//! `service_pd`: NI-2, DMS-100, 4ESS, 5ESS) the far end is told too, as
//! chan_dahdi's `pri service disable` does: one SERVICE "out of service"
//! per channel once the channel is idle (a call on it finishes first; its
//! end sends the SERVICE), and SERVICE "in service" when it is unblocked.
//! The stack retries an unacknowledged SERVICE (T3M1) and then gives up
//! with a warning; the local block stays either way. A link that is down
//! delays the SERVICE until it is up. On a variant without SERVICE
//! (EuroISDN, QSIG) the block is local only ([`PriInterface::block_note`]).
//! A channel the far end takes out of service by SERVICE is out of the
//! hunt and refused to incoming SETUPs until it is put back in service
//! ([`PriInterface::far_blocked`]).

use std::collections::{HashMap, HashSet, VecDeque};
use std::fmt::Write as _;
use std::time::Instant;

use isdn_q931::q921::pcap::Direction;
use isdn_q931::q931::{
    self, Bearer as QBearer, BearerKind, CallId as QCallId, ChannelPref, ChannelRef, Command, CommandError, Config, Event, Initiator, InterfaceConfig,
    InterfaceKind, Number, PartyName, RestartTarget, SetupRequest, Side, SwitchType,
};
use isdn_q931::wire::ie::{ProgressDescription, RedirectReason as QReason, ServiceStatus, TypeOfNumber};
use isdn_q931::wire::{CallRefFlag, CauseValue, FrameKind, FrameRepr, IeRepr, MessageRepr};
use isdn_q931::{LinkConfig, Output, Pri, PriConfig as StackConfig, Trace};

use super::numbering::Numbering;
use super::{ChannelAddr, ChannelChoice, ChannelInfo, ChannelState, IncomingKey, TdmInput, TdmInterface, TdmIo, TdmOutput};
use crate::call::model::{
    Bearer, Cause, Law, LegCommand, LegEvent, LegIdentity, LegRef, MediaEndpoint, Party, Presentation, Redirect, RedirectReason, Release, Screening, Setup,
};
use crate::config::pri::{LawName, PriConfig};

/// PRI I/O for the shell.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PriIo {
    /// Transmit this frame (address, control, information; no FCS) on the
    /// D-channel of `link` (0: the only one).
    Frame { link: u16, frame: Vec<u8> },
    /// Record this frame in the capture (only with a pcap file configured).
    Trace(Trace),
}

/// PRI input from the shell.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PriInput {
    /// A frame received on the D-channel of `link` (FCS removed).
    Frame { link: u16, frame: Vec<u8> },
}

/// One span of a PRI interface, as discovery found it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PriSpan {
    /// DAHDI span number.
    pub span: u32,
    /// DAHDI channel number of position 1.
    pub basechan: u32,
    pub kind: InterfaceKind,
}

/// Everything a [`PriInterface`] needs: its configuration with the
/// hardware facts filled in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PriSettings {
    pub name: String,
    /// The spans; the first carries the D-channel (NFAS interface
    /// identifier = index).
    pub spans: Vec<PriSpan>,
    /// The stack's call-control configuration.
    pub q931: Config,
    /// Data link parameters.
    pub q921: isdn_q931::q921::Config,
    /// B-channel positions outbound calls may use (`None`: all).
    pub bchannels: Option<Vec<u32>>,
    pub law: Law,
    /// Place outbound calls with incomplete numbers in overlap.
    pub overlap: bool,
    pub numbering: Numbering,
    /// Log the Q.931 ladder at info level (else debug).
    pub trace: bool,
    /// Emit [`PriIo::Trace`] for a capture.
    pub pcap: bool,
}

/// Why settings cannot be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PriSettingsError {
    #[error("PRI interface {name}: unknown switch type \"{switch}\"")]
    UnknownSwitch { name: String, switch: String },
    #[error("PRI interface {name}: no span")]
    NoSpan { name: String },
    #[error("PRI interface {name}: the D-channel must be at position {expected} on this span type (configured {got})")]
    DChannelPosition { name: String, expected: u32, got: u32 },
    #[error("PRI interface {name}: the stack refuses the configuration: {error}")]
    Stack { name: String, error: q931::ConfigError },
}

impl PriSettings {
    /// Defaults for `switch` and `side` on these spans: the variant's
    /// timers, the span type's law, all B-channels, no numbering context.
    pub fn new(name: &str, switch: SwitchType, side: Side, spans: Vec<PriSpan>) -> PriSettings {
        let interfaces = spans.iter().enumerate().map(|(i, s)| InterfaceConfig::new(i as u8, s.kind, i == 0)).collect();
        let mut q931 = Config::new(switch, side).with_interfaces(interfaces);
        let kind = spans.first().map(|s| s.kind).unwrap_or(InterfaceKind::T1);
        q931.law = kind.law();
        PriSettings {
            name: name.to_owned(),
            law: law_of(kind.law()),
            spans,
            q931,
            q921: isdn_q931::q921::Config::default(),
            bchannels: None,
            overlap: false,
            numbering: Numbering::default(),
            trace: false,
            pcap: false,
        }
    }

    /// Settings from a `[[pri]]` section and the spans discovery found
    /// (in the section's order).
    pub fn from_config(cfg: &PriConfig, spans: Vec<PriSpan>) -> Result<PriSettings, PriSettingsError> {
        let name = cfg.name.get_ref().clone();
        let switch = cfg.switch_type().ok_or_else(|| PriSettingsError::UnknownSwitch { name: name.clone(), switch: cfg.switch.get_ref().clone() })?;
        let Some(first) = spans.first() else {
            return Err(PriSettingsError::NoSpan { name });
        };
        let expected = dchannel_position(first.kind);
        if let Some(d) = &cfg.dchannel
            && *d.get_ref() != expected
        {
            return Err(PriSettingsError::DChannelPosition { name, expected, got: *d.get_ref() });
        }
        let mut s = PriSettings::new(&name, switch, cfg.side.get_ref().side(), spans);
        if let Some(l) = &cfg.law {
            let (law, ql) = match l.get_ref() {
                LawName::Ulaw => (Law::Ulaw, q931::Law::Ulaw),
                LawName::Alaw => (Law::Alaw, q931::Law::Alaw),
            };
            s.law = law;
            s.q931.law = ql;
        }
        cfg.apply_l3_timers(&mut s.q931.timers);
        cfg.apply_l2_timers(&mut s.q921);
        s.bchannels = cfg.bchannel_positions();
        s.overlap = cfg.overlap;
        if cfg.overlap {
            // Overlap in both directions even where the variant is en bloc
            // by default (NI-2, DMS-100, 4ESS, 5ESS), as q931-peer --overlap.
            s.q931.variant.overlap_dialing = true;
        }
        let text = |v: &Option<toml::Spanned<String>>| v.as_ref().map(|v| v.get_ref().clone());
        s.numbering = Numbering {
            country_code: text(&cfg.country_code),
            national_prefix: text(&cfg.national_prefix),
            international_prefix: text(&cfg.international_prefix),
            area_code: text(&cfg.area_code),
        };
        s.trace = cfg.trace;
        s.pcap = cfg.pcap.is_some();
        s.q931.validate().map_err(|error| PriSettingsError::Stack { name: s.name.clone(), error })?;
        Ok(s)
    }

    /// The DAHDI channel number of the D-channel.
    pub fn dchannel_channo(&self) -> Option<u32> {
        let s = self.spans.first()?;
        Some(s.basechan + dchannel_position(s.kind) - 1)
    }
}

/// Where the D-channel sits on a span of this type: T1 channel 24, E1 time slot 16.
pub fn dchannel_position(kind: InterfaceKind) -> u32 {
    match kind {
        InterfaceKind::T1 => 24,
        InterfaceKind::E1 => 16,
    }
}

fn law_of(l: q931::Law) -> Law {
    match l {
        q931::Law::Ulaw => Law::Ulaw,
        q931::Law::Alaw => Law::Alaw,
    }
}

/// One Q.931 call and its leg.
#[derive(Debug)]
struct Call {
    leg: Option<LegRef>,
    outbound: bool,
    channel: Option<ChannelRef>,
    /// The call reference value, once seen in a trace.
    cr: Option<u16>,
    /// Events before `accept`.
    held: Vec<LegEvent>,
    /// Overlap sending: digits waiting for SETUP ACKNOWLEDGE.
    digits: String,
    digits_complete: bool,
    acked: bool,
    /// What we sent to clear, for the Released's `wire`.
    sent_release: Option<String>,
    /// What the peer sent to clear.
    got_release: Option<String>,
}

impl Call {
    fn new(leg: Option<LegRef>, outbound: bool) -> Call {
        Call {
            leg,
            outbound,
            channel: None,
            cr: None,
            held: Vec::new(),
            digits: String::new(),
            digits_complete: false,
            acked: false,
            sent_release: None,
            got_release: None,
        }
    }
}

/// The PRI TDM interface. See the [module documentation](self).
#[derive(Debug)]
pub struct PriInterface {
    s: PriSettings,
    pri: Pri,
    calls: HashMap<QCallId, Call>,
    legs: HashMap<LegRef, QCallId>,
    /// (call reference value, originated by us) → call.
    by_cr: HashMap<(u16, bool), QCallId>,
    /// Our SETUPs whose call reference is not yet seen.
    awaiting_cr: VecDeque<QCallId>,
    /// The call reference of the last SETUP received.
    last_rx_setup: Option<u16>,
    alarms: HashSet<u32>,
    /// Blocked by the operator.
    maintenance: HashSet<ChannelAddr>,
    /// Taken out of service by the far end's SERVICE.
    far_oos: HashSet<ChannelAddr>,
    /// Our SERVICE "out of service" went out for these (and no "in
    /// service" since).
    told_oos: HashSet<ChannelAddr>,
    out: VecDeque<TdmOutput>,
    /// The `now` of the input being handled.
    now: Instant,
}

impl PriInterface {
    /// A new interface; the D-channel starts establishing (frames to send
    /// come out of [`TdmInterface::poll_output`]).
    pub fn new(settings: PriSettings, now: Instant) -> Result<PriInterface, PriSettingsError> {
        let mut link = LinkConfig::primary(0);
        link.q921 = settings.q921.clone();
        let cfg = StackConfig { q931: settings.q931.clone(), links: vec![link], backup_mode: Default::default(), trace: true };
        let pri = Pri::new(cfg, now).map_err(|error| PriSettingsError::Stack { name: settings.name.clone(), error })?;
        let mut p = PriInterface {
            s: settings,
            pri,
            calls: HashMap::new(),
            legs: HashMap::new(),
            by_cr: HashMap::new(),
            awaiting_cr: VecDeque::new(),
            last_rx_setup: None,
            alarms: HashSet::new(),
            maintenance: HashSet::new(),
            far_oos: HashSet::new(),
            told_oos: HashSet::new(),
            out: VecDeque::new(),
            now,
        };
        p.drain();
        Ok(p)
    }

    /// The settings in use.
    pub fn settings(&self) -> &PriSettings {
        &self.s
    }

    /// The stack (read only: call states, channel states, link state).
    pub fn stack(&self) -> &Pri {
        &self.pri
    }

    /// Blocks (or unblocks) a channel (operator maintenance): the hunt skips
    /// it and the stack moves an incoming SETUP that prefers it to another
    /// channel and refuses one that asks for it exclusive (cause 44).
    /// On a variant with SERVICE messages the far end is told once the
    /// channel is idle (see the [module documentation](self)).
    pub fn set_maintenance(&mut self, addr: ChannelAddr, blocked: bool) {
        if blocked {
            self.maintenance.insert(addr);
        } else {
            self.maintenance.remove(&addr);
        }
        self.sync_stack_block(addr);
        self.drain();
    }

    /// Why blocking does not reach the far end, if it does not: `"local
    /// only: <switch type> has no SERVICE messages"` on a variant without
    /// the maintenance protocol; `None` where blocks are signalled.
    pub fn block_note(&self) -> Option<String> {
        let v = &self.s.q931.variant;
        v.service_pd.is_none().then(|| format!("local only: {} has no SERVICE messages", v.name))
    }

    /// The channels the far end took out of service (SERVICE), in (span,
    /// position) order. A channel may be here and in
    /// [`TdmInterface::blocked`] both.
    pub fn far_blocked(&self) -> Vec<ChannelAddr> {
        let mut v: Vec<ChannelAddr> = self.far_oos.iter().copied().collect();
        v.sort();
        v
    }

    /// The stack refuses new calls on a channel that we or the far end
    /// blocked (its own out-of-service flag follows the last SERVICE either
    /// way, so it cannot tell the two apart).
    fn sync_stack_block(&mut self, addr: ChannelAddr) {
        if let Some(ch) = self.ref_of(addr) {
            let blocked = self.maintenance.contains(&addr) || self.far_oos.contains(&addr);
            self.pri.set_channel_blocked(ch, blocked);
        }
    }

    /// Sends the SERVICE messages the operator's blocks owe the far end:
    /// "out of service" for a blocked channel once it is idle, "in service"
    /// for one unblocked after that. True when something was sent.
    fn sync_service(&mut self) -> bool {
        if self.s.q931.variant.service_pd.is_none() || !self.pri.call_control().is_link_up() {
            return false;
        }
        let mut due: Vec<(ChannelAddr, ServiceStatus)> = Vec::new();
        for &addr in &self.maintenance {
            let idle = self.ref_of(addr).and_then(|ch| self.pri.call_control().channel_status(ch)).is_some_and(|st| st.owner.is_none());
            if idle && !self.told_oos.contains(&addr) {
                due.push((addr, ServiceStatus::OutOfService));
            }
        }
        for &addr in &self.told_oos {
            if !self.maintenance.contains(&addr) {
                due.push((addr, ServiceStatus::InService));
            }
        }
        due.sort_by_key(|(a, _)| *a);
        let mut sent = false;
        for (addr, status) in due {
            let Some(ch) = self.ref_of(addr) else { continue };
            match self.pri.command(Command::Service { target: RestartTarget::Channels(vec![ch]), status }, self.now) {
                Ok(_) => {
                    tracing::info!(interface = %self.s.name, channel = %addr, ?status, "SERVICE sent to the far end");
                    sent = true;
                }
                // Given up (the link was checked, the channel exists): it is
                // noted as done below, so the warning does not repeat on every pass.
                Err(e) => tracing::warn!(interface = %self.s.name, channel = %addr, ?status, error = %e, "SERVICE not sent; the block stays local"),
            }
            if status == ServiceStatus::InService {
                self.told_oos.remove(&addr);
            } else {
                self.told_oos.insert(addr);
            }
            self.sync_stack_block(addr);
        }
        sent
    }

    /// Sends a Q.931 command straight to the stack (RESTART, SERVICE…).
    pub fn stack_command(&mut self, cmd: Command, now: Instant) -> Result<Option<QCallId>, CommandError> {
        self.now = now;
        let r = self.pri.command(cmd, now);
        self.drain();
        r
    }

    fn addr_of(&self, ch: ChannelRef) -> Option<(ChannelAddr, u32)> {
        let s = self.s.spans.get(usize::from(ch.interface))?;
        let pos = u32::from(ch.channel);
        Some((ChannelAddr { span: s.span, pos }, s.basechan + pos - 1))
    }

    fn ref_of(&self, addr: ChannelAddr) -> Option<ChannelRef> {
        let i = self.s.spans.iter().position(|s| s.span == addr.span)?;
        Some(ChannelRef::new(i as u8, u8::try_from(addr.pos).ok()?))
    }

    fn identity(&self, ch: Option<ChannelRef>) -> LegIdentity {
        let a = ch.and_then(|c| self.addr_of(c));
        LegIdentity { interface: self.s.name.clone(), span: a.map(|a| a.0.span), channel: a.map(|a| a.0.pos), sip_call_id: None }
    }

    fn media(&self, ch: ChannelRef) -> Option<MediaEndpoint> {
        self.addr_of(ch).map(|(_, channo)| MediaEndpoint::Tdm { channo, law: self.s.law })
    }

    fn emit(&mut self, q: QCallId, ev: LegEvent) {
        let Some(c) = self.calls.get_mut(&q) else {
            return;
        };
        match c.leg {
            Some(leg) => self.out.push_back(TdmOutput::Leg(leg, ev)),
            None => c.held.push(ev),
        }
    }

    /// Notes the call's channel; a new or changed one is reported.
    fn set_channel(&mut self, q: QCallId, ch: ChannelRef) {
        let Some(c) = self.calls.get_mut(&q) else {
            return;
        };
        if c.channel == Some(ch) {
            return;
        }
        c.channel = Some(ch);
        let id = self.identity(Some(ch));
        self.emit(q, LegEvent::Identity(id));
        if let Some(m) = self.media(ch) {
            self.emit(q, LegEvent::Media(m));
        }
    }

    fn leg_label(&self, q: QCallId) -> String {
        match self.calls.get(&q).and_then(|c| c.leg) {
            Some(l) => l.to_string(),
            None => "-".into(),
        }
    }

    fn cr_label(&self, q: QCallId) -> String {
        match self.calls.get(&q).and_then(|c| c.cr) {
            Some(cr) => format!("{cr:#06x}"),
            None => "?".into(),
        }
    }

    /// Moves everything the stack produced into our queue, then sends the
    /// SERVICE messages that became due (a call ended, the link came up).
    fn drain(&mut self) {
        loop {
            while let Some(o) = self.pri.poll_output() {
                match o {
                    Output::Transmit { link, frame } => self.out.push_back(TdmOutput::Io(TdmIo::Pri(PriIo::Frame { link, frame }))),
                    Output::Trace(t) => {
                        self.ladder(&t);
                        if self.s.pcap {
                            self.out.push_back(TdmOutput::Io(TdmIo::Pri(PriIo::Trace(t))));
                        }
                    }
                    Output::Event(e) => self.on_event(e),
                }
            }
            if !self.sync_service() {
                return;
            }
        }
    }

    /// One readable line per Q.931 message; learns call references.
    fn ladder(&mut self, t: &Trace) {
        let Ok(f) = FrameRepr::parse_bytes(&t.frame) else {
            return;
        };
        let info = match f.kind {
            FrameKind::I { info, .. } | FrameKind::Ui { info, .. } => info,
            _ => return,
        };
        let Ok(m) = MessageRepr::parse_bytes(info) else {
            tracing::debug!(target: "tandem::q931", interface = %self.s.name, len = info.len(), "undecodable layer 3 message");
            return;
        };
        let sent = t.direction == Direction::Sent;
        let cr = m.call_ref;
        let ours = (sent && cr.flag == CallRefFlag::FromOriginator) || (!sent && cr.flag == CallRefFlag::ToOriginator);
        if m.msg_type == isdn_q931::wire::MessageType::Setup && !cr.is_dummy() && !cr.is_global() {
            if sent {
                if !self.by_cr.contains_key(&(cr.value, true))
                    && let Some(q) = self.awaiting_cr.pop_front()
                {
                    self.by_cr.insert((cr.value, true), q);
                    if let Some(c) = self.calls.get_mut(&q) {
                        c.cr = Some(cr.value);
                    }
                }
            } else {
                self.last_rx_setup = Some(cr.value);
            }
        }
        let call = self.by_cr.get(&(cr.value, ours)).map(|&q| self.leg_label(q)).unwrap_or_else(|| "-".into());
        let line = describe(&m);
        let arrow = if sent { "->" } else { "<-" };
        if self.s.trace {
            tracing::info!(target: "tandem::q931", interface = %self.s.name, call = %call, cr = %format!("{:#06x}", cr.value), "{arrow} {line}");
        } else {
            tracing::debug!(target: "tandem::q931", interface = %self.s.name, call = %call, cr = %format!("{:#06x}", cr.value), "{arrow} {line}");
        }
    }

    fn on_event(&mut self, e: Event) {
        let name = self.s.name.clone();
        match e {
            Event::LinkUp { link } => tracing::info!(interface = %name, link, "D-channel up"),
            Event::LinkDown { link } => tracing::warn!(interface = %name, link, "D-channel down"),
            Event::ActiveLink { link } => tracing::debug!(interface = %name, ?link, "active D-channel"),
            Event::IncomingCall(ic) => self.on_incoming(*ic),
            Event::MoreDigits { call, digits, sending_complete } => self.emit(call, LegEvent::Digits { digits, complete: sending_complete }),
            Event::DigitTimeout { call } => self.emit(call, LegEvent::DigitTimeout),
            Event::SetupAcknowledged { call, channel } => {
                self.set_channel(call, channel);
                let Some(c) = self.calls.get_mut(&call) else {
                    return;
                };
                c.acked = true;
                let digits = std::mem::take(&mut c.digits);
                let complete = c.digits_complete;
                if !digits.is_empty() || complete {
                    self.send_digits(call, digits, complete);
                }
            }
            Event::Proceeding { call, channel, progress } => {
                self.set_channel(call, channel);
                self.emit(call, LegEvent::Proceeding);
                if inband(&progress) {
                    self.emit(call, LegEvent::Progress { inband: true });
                }
            }
            Event::Alerting { call, channel, inband: ib, progress } => {
                self.set_channel(call, channel);
                self.emit(call, LegEvent::Alerting { inband: ib || inband(&progress) });
            }
            Event::Progress { call, progress, inband: ib } => self.emit(call, LegEvent::Progress { inband: ib || inband(&progress) }),
            Event::Connected { call, channel, connected } => {
                self.set_channel(call, channel);
                let connected = connected.map(|n| self.party(&n, None));
                self.emit(call, LegEvent::Answered { connected });
            }
            Event::ConnectAcknowledged { .. } => {}
            Event::CallingName { call, name: n } => {
                tracing::debug!(interface = %name, call = %self.leg_label(call), cr = %self.cr_label(call), name = %n.name, "calling name after the SETUP: no leg event for it; dropped");
            }
            Event::Facility { call, .. } => tracing::debug!(interface = %name, ?call, "FACILITY ignored"),
            Event::Notify { call, description } => tracing::debug!(interface = %name, call = %self.leg_label(call), description, "NOTIFY"),
            Event::Disconnecting { call, cause, inband, initiator } => {
                tracing::debug!(interface = %name, call = %self.leg_label(call), cr = %self.cr_label(call), cause = cause.value.0, inband, ?initiator, "clearing");
                if let Some(c) = self.calls.get_mut(&call)
                    && c.sent_release.is_none()
                {
                    c.got_release = Some(format!("DISCONNECT cause {}", cause.value.0));
                }
            }
            Event::Released { call, cause } => self.on_released(call, cause.value),
            Event::Status { call, cause, peer_state, our_state } => {
                tracing::debug!(interface = %name, ?call, cause = cause.value.0, peer_state, ?our_state, "STATUS")
            }
            Event::ChannelsRestarted { channels, initiator } => tracing::info!(interface = %name, ?channels, ?initiator, "channels restarted"),
            Event::RestartCompleted { channels } => tracing::info!(interface = %name, ?channels, "RESTART acknowledged"),
            Event::RestartFailed { channels } => tracing::warn!(interface = %name, ?channels, "RESTART not acknowledged"),
            Event::ServiceChanged { channels, status, initiator: Initiator::Peer } => {
                let addrs: Vec<ChannelAddr> = channels.iter().filter_map(|c| self.addr_of(*c)).map(|(a, _)| a).collect();
                for &a in &addrs {
                    if status == ServiceStatus::InService {
                        self.far_oos.remove(&a);
                    } else {
                        self.far_oos.insert(a);
                    }
                    self.sync_stack_block(a);
                }
                let list: Vec<String> = addrs.iter().map(ChannelAddr::to_string).collect();
                tracing::info!(interface = %name, channels = %list.join(","), ?status, "the far end's SERVICE: B-channels {}",
                    if status == ServiceStatus::InService { "back in service" } else { "out of service" });
            }
            Event::ServiceChanged { channels, status, .. } => {
                tracing::info!(interface = %name, ?channels, ?status, "SERVICE acknowledged by the far end")
            }
            Event::ServiceFailed { channels } => {
                tracing::warn!(interface = %name, ?channels, "SERVICE not acknowledged by the far end after every retry; the local block stays")
            }
        }
    }

    fn on_incoming(&mut self, ic: q931::IncomingCall) {
        // Channels blocked by the operator never get here: the stack moved a
        // preferred request to another channel or refused it (cause 44).
        let q = ic.call;
        let mut call = Call::new(None, false);
        call.channel = Some(ic.channel);
        if let Some(cr) = self.last_rx_setup.take() {
            call.cr = Some(cr);
            self.by_cr.insert((cr, false), q);
        }
        self.calls.insert(q, call);
        let calling = match (&ic.calling, &ic.calling_name) {
            (Some(n), name) => Some(self.party(n, name.as_ref())),
            (None, Some(name)) => {
                Some(Party { number: String::new(), name: Some(name.name.clone()), presentation: presentation(name.presentation), ..Party::default() })
            }
            (None, None) => None,
        };
        let redirect = ic.redirecting.as_ref().map(|r| Redirect { from: self.party(&r.number, None), reason: reason(r.reason), count: r.count.unwrap_or(1) });
        let bearer = match ic.bearer.kind {
            BearerKind::Audio3k1 => Bearer::Audio3k1,
            BearerKind::UnrestrictedDigital | BearerKind::RestrictedDigital => Bearer::Digital,
            _ => Bearer::Speech,
        };
        let setup = Setup {
            called: self.s.numbering.to_e164(&ic.called.digits, ic.called.ton),
            complete: ic.sending_complete,
            calling,
            redirect,
            bearer,
            alert_info: None,
        };
        let identity = self.identity(Some(ic.channel));
        let Some(media) = self.media(ic.channel) else {
            // The stack accepted a channel it knows; this cannot happen with consistent settings.
            tracing::error!(interface = %self.s.name, channel = %ic.channel, "incoming call on a channel outside the configured spans");
            self.calls.remove(&q);
            let _ = self.pri.command(Command::Disconnect { call: q, cause: CauseValue::CHANNEL_UNACCEPTABLE, inband: false }, self.now);
            return;
        };
        tracing::info!(interface = %self.s.name, cr = %self.cr_label(q), called = %setup.called,
            calling = %setup.calling.as_ref().map(|c| c.number.as_str()).unwrap_or("-"), channel = %ic.channel, "incoming call");
        self.out.push_back(TdmOutput::Incoming { key: IncomingKey(q.0), setup, identity, media });
    }

    fn on_released(&mut self, q: QCallId, cause: CauseValue) {
        let Some(c) = self.calls.remove(&q) else {
            return;
        };
        if let Some(cr) = c.cr {
            self.by_cr.remove(&(cr, c.outbound));
        }
        self.awaiting_cr.retain(|&a| a != q);
        let wire = c.sent_release.clone().or(c.got_release.clone()).unwrap_or_else(|| format!("cleared, cause {}", cause.0));
        let ev = LegEvent::Released(Release { cause: Cause(cause.0), wire: Some(wire) });
        match c.leg {
            Some(leg) => {
                tracing::info!(interface = %self.s.name, call = %leg, cr = ?c.cr, cause = cause.0, "released");
                self.legs.remove(&leg);
                self.out.push_back(TdmOutput::Leg(leg, ev));
            }
            None => {
                // Not yet accepted: keep the events for accept().
                let mut c = c;
                c.held.push(ev);
                c.channel = None;
                self.calls.insert(q, c);
            }
        }
    }

    fn party(&self, n: &Number, name: Option<&PartyName>) -> Party {
        Party {
            number: self.s.numbering.to_e164(&n.digits, n.ton),
            name: name.filter(|n| !n.name.is_empty()).map(|n| n.name.clone()),
            presentation: presentation(n.presentation),
            screening: screening(n.screening),
        }
    }

    fn number(&self, p: &Party) -> Option<Number> {
        if p.number.is_empty() {
            return None;
        }
        let (digits, ton) = self.s.numbering.to_wire(&p.number);
        Some(Number::new(&digits).with_ton(ton).with_presentation(q_presentation(p.presentation), q_screening(p.screening)))
    }

    fn send_digits(&mut self, q: QCallId, digits: String, complete: bool) {
        let now = self.now;
        if let Err(e) = self.pri.command(Command::Information { call: q, digits, sending_complete: complete }, now) {
            tracing::warn!(interface = %self.s.name, call = %self.leg_label(q), error = %e, "INFORMATION refused");
        }
    }

    fn fail(&mut self, leg: LegRef, cause: Cause, why: String) {
        tracing::info!(interface = %self.s.name, call = %leg, cause = cause.0, "{why}");
        self.out.push_back(TdmOutput::Leg(leg, LegEvent::Released(Release { cause, wire: Some(why) })));
    }

    fn setup_request(&self, setup: &Setup, channel: ChannelPref) -> SetupRequest {
        let (digits, ton) = self.s.numbering.to_wire(&setup.called);
        let mut req = SetupRequest::new(&digits);
        req.called = Number::new(&digits).with_ton(ton);
        req.channel = channel;
        if let Some(p) = &setup.calling {
            req.calling = self.number(p);
            req.calling_name = p.name.as_ref().map(|n| PartyName { name: n.clone(), presentation: q_presentation(p.presentation) });
        }
        if let Some(r) = &setup.redirect
            && let Some(n) = self.number(&r.from)
        {
            req.redirecting = Some((n, q_reason(r.reason)));
        }
        let ql = match self.s.law {
            Law::Ulaw => q931::Law::Ulaw,
            Law::Alaw => q931::Law::Alaw,
        };
        req.bearer = match setup.bearer {
            Bearer::Speech => None,
            Bearer::Audio3k1 => Some(QBearer::audio(ql)),
            Bearer::Digital => Some(QBearer::data()),
        };
        if self.s.overlap && !setup.complete && self.s.q931.variant.overlap_dialing {
            req.overlap = true;
            req.sending_complete = false;
        }
        req
    }
}

fn inband(p: &[ProgressDescription]) -> bool {
    p.iter().any(|d| matches!(d, ProgressDescription::NotEndToEndIsdn | ProgressDescription::InbandAvailable))
}

fn presentation(p: isdn_q931::wire::ie::Presentation) -> Presentation {
    use isdn_q931::wire::ie::Presentation as P;
    match p {
        P::Allowed => Presentation::Allowed,
        P::Restricted | P::Reserved => Presentation::Restricted,
        P::NotAvailable => Presentation::Unavailable,
    }
}

fn q_presentation(p: Presentation) -> isdn_q931::wire::ie::Presentation {
    use isdn_q931::wire::ie::Presentation as P;
    match p {
        Presentation::Allowed => P::Allowed,
        Presentation::Restricted => P::Restricted,
        Presentation::Unavailable => P::NotAvailable,
    }
}

fn screening(s: isdn_q931::wire::ie::Screening) -> Screening {
    use isdn_q931::wire::ie::Screening as S;
    match s {
        S::UserNotScreened => Screening::UserNotScreened,
        S::UserVerifiedPassed => Screening::UserVerifiedPassed,
        S::UserVerifiedFailed => Screening::UserVerifiedFailed,
        S::NetworkProvided => Screening::NetworkProvided,
    }
}

fn q_screening(s: Screening) -> isdn_q931::wire::ie::Screening {
    use isdn_q931::wire::ie::Screening as S;
    match s {
        Screening::UserNotScreened => S::UserNotScreened,
        Screening::UserVerifiedPassed => S::UserVerifiedPassed,
        Screening::UserVerifiedFailed => S::UserVerifiedFailed,
        Screening::NetworkProvided => S::NetworkProvided,
    }
}

fn reason(r: QReason) -> RedirectReason {
    match r {
        QReason::Busy => RedirectReason::Busy,
        QReason::NoReply => RedirectReason::NoReply,
        QReason::Deflection => RedirectReason::Deflection,
        QReason::DteOutOfOrder => RedirectReason::Unavailable,
        QReason::Unconditional | QReason::ForwardedByDte => RedirectReason::Unconditional,
        _ => RedirectReason::Unknown,
    }
}

fn q_reason(r: RedirectReason) -> QReason {
    match r {
        RedirectReason::Unknown => QReason::Unknown,
        RedirectReason::Busy => QReason::Busy,
        RedirectReason::NoReply => QReason::NoReply,
        RedirectReason::Unconditional => QReason::Unconditional,
        RedirectReason::Deflection => QReason::Deflection,
        RedirectReason::Unavailable => QReason::DteOutOfOrder,
    }
}

fn ton_name(t: TypeOfNumber) -> &'static str {
    match t {
        TypeOfNumber::Unknown => "unknown",
        TypeOfNumber::International => "intl",
        TypeOfNumber::National => "natl",
        TypeOfNumber::NetworkSpecific => "netspec",
        TypeOfNumber::Subscriber => "subscr",
        TypeOfNumber::Abbreviated => "abbr",
        TypeOfNumber::Other(_) => "other",
    }
}

/// "SETUP called=2125551234/natl calling=… ch=1 cause=16 pi=8" for the ladder.
pub fn describe(m: &MessageRepr) -> String {
    let mut s = m.msg_type.name().to_owned();
    for ie in &m.ies {
        let _ = match ie {
            IeRepr::CalledNumber(n) => write!(s, " called={}/{}", n.digits, ton_name(n.type_of_number)),
            IeRepr::CallingNumber(n) => {
                let pres = match n.presentation.map(|p| p.0) {
                    Some(isdn_q931::wire::ie::Presentation::Restricted) => "/restricted",
                    Some(isdn_q931::wire::ie::Presentation::NotAvailable) => "/unavailable",
                    _ => "",
                };
                write!(s, " calling={}/{}{pres}", n.digits, ton_name(n.type_of_number))
            }
            IeRepr::ConnectedNumber(n) => write!(s, " connected={}/{}", n.digits, ton_name(n.type_of_number)),
            IeRepr::RedirectingNumber(n) => write!(s, " redirecting={}/{}", n.digits, ton_name(n.type_of_number)),
            IeRepr::Cause(c) => write!(s, " cause={}", c.value.0),
            IeRepr::ProgressIndicator(p) => write!(s, " pi={}", p.description.bits()),
            IeRepr::ChannelId(c) => match &c.channels {
                Some(spec) => {
                    let mode = if c.exclusive { "excl" } else { "pref" };
                    match &spec.list {
                        isdn_q931::wire::ie::ChannelList::Numbers(n) => write!(s, " ch={n:?}/{mode}"),
                        isdn_q931::wire::ie::ChannelList::Map(_) => write!(s, " ch=map/{mode}"),
                    }
                }
                None => write!(s, " ch=any"),
            },
            IeRepr::Display(d) => write!(s, " display={:?}", String::from_utf8_lossy(&d.text)),
            IeRepr::SendingComplete => write!(s, " complete"),
            IeRepr::KeypadFacility(_) => write!(s, " keypad"),
            IeRepr::RestartIndicator(_) => write!(s, " restart"),
            IeRepr::ChangeStatus(c) => write!(s, " status={:?}", c.status),
            _ => Ok(()),
        };
    }
    s
}

impl TdmInterface for PriInterface {
    fn kind(&self) -> &'static str {
        "pri"
    }

    fn name(&self) -> &str {
        &self.s.name
    }

    fn spans(&self) -> Vec<u32> {
        self.s.spans.iter().map(|s| s.span).collect()
    }

    fn originate(&mut self, leg: LegRef, setup: &Setup, channel: ChannelChoice, now: Instant) {
        self.now = now;
        if self.legs.contains_key(&leg) {
            tracing::warn!(interface = %self.s.name, call = %leg, "originate for a leg that already has a call; ignored");
            return;
        }
        let pref = match channel {
            ChannelChoice::Any => ChannelPref::Any,
            ChannelChoice::Preferred(a) | ChannelChoice::Exclusive(a) => {
                let Some(r) = self.ref_of(a) else {
                    self.fail(leg, Cause::REQUESTED_CHANNEL_UNAVAILABLE, format!("channel {a} is not on interface {}", self.s.name));
                    return;
                };
                if matches!(channel, ChannelChoice::Exclusive(_)) { ChannelPref::Exclusive(r) } else { ChannelPref::Preferred(r) }
            }
        };
        let req = self.setup_request(setup, pref);
        let overlap = req.overlap;
        match self.pri.setup(req, now) {
            Ok(q) => {
                let mut c = Call::new(Some(leg), true);
                c.acked = !overlap;
                self.calls.insert(q, c);
                self.legs.insert(leg, q);
                self.awaiting_cr.push_back(q);
                tracing::info!(interface = %self.s.name, call = %leg, called = %setup.called, "placing call");
                self.drain();
                if let Some(ch) = self.pri.call_control().call_channel(q) {
                    self.set_channel(q, ch);
                }
            }
            Err(e) => {
                let cause = match e {
                    CommandError::NoChannel => Cause::NO_CIRCUIT,
                    CommandError::ChannelUnavailable(_) | CommandError::NoSuchChannel(_) => Cause::REQUESTED_CHANNEL_UNAVAILABLE,
                    CommandError::NoDataLink => Cause::NETWORK_OUT_OF_ORDER,
                    _ => Cause::TEMPORARY_FAILURE,
                };
                self.drain();
                self.fail(leg, cause, format!("SETUP not sent: {e}"));
            }
        }
    }

    fn accept(&mut self, key: IncomingKey, leg: LegRef) {
        let q = QCallId(key.0);
        let Some(c) = self.calls.get_mut(&q) else {
            tracing::warn!(interface = %self.s.name, call = %leg, "accept for an unknown incoming call");
            self.out.push_back(TdmOutput::Leg(leg, LegEvent::Released(Release { cause: Cause::NORMAL_UNSPECIFIED, wire: None })));
            return;
        };
        c.leg = Some(leg);
        let held = std::mem::take(&mut c.held);
        let gone = held.iter().any(|e| matches!(e, LegEvent::Released(_)));
        if gone {
            self.calls.remove(&q);
        } else {
            self.legs.insert(leg, q);
        }
        for e in held {
            self.out.push_back(TdmOutput::Leg(leg, e));
        }
    }

    fn command(&mut self, leg: LegRef, cmd: LegCommand, now: Instant) {
        self.now = now;
        let Some(&q) = self.legs.get(&leg) else {
            tracing::debug!(interface = %self.s.name, call = %leg, ?cmd, "command for a leg that is gone");
            return;
        };
        let cr = self.cr_label(q);
        let qcmd = match cmd {
            LegCommand::SetupAck => Command::SetupAck { call: q },
            LegCommand::Proceeding => Command::Proceeding { call: q, inband: false },
            LegCommand::Alerting { inband } => Command::Alerting { call: q, inband },
            LegCommand::Progress { inband: true } => Command::Progress { call: q, description: ProgressDescription::InbandAvailable },
            LegCommand::Progress { inband: false } => return,
            LegCommand::Answer { connected } => Command::Connect { call: q, connected: connected.as_ref().and_then(|p| self.number(p)) },
            LegCommand::Digits { digits, complete } => {
                let Some(c) = self.calls.get_mut(&q) else {
                    return;
                };
                if !c.acked {
                    c.digits.push_str(&digits);
                    c.digits_complete |= complete;
                    return;
                }
                self.send_digits(q, digits, complete);
                self.drain();
                return;
            }
            LegCommand::Media(_) | LegCommand::Flash | LegCommand::Hold(_) | LegCommand::Transfer { .. } => return,
            LegCommand::Dtmf { digit, .. } => {
                tracing::debug!(interface = %self.s.name, call = %leg, %digit, "out-of-band DTMF is not sent on a PRI (it travels in band)");
                return;
            }
            LegCommand::Release(r) => {
                let cause = CauseValue(r.cause.0);
                if let Some(c) = self.calls.get_mut(&q) {
                    c.sent_release = Some(format!("sent DISCONNECT cause {}", r.cause.0));
                }
                let res = match self.pri.command(Command::Disconnect { call: q, cause, inband: false }, now) {
                    Err(CommandError::WrongState(_)) => self.pri.command(Command::Release { call: q, cause }, now),
                    other => other,
                };
                if let Err(e) = res {
                    tracing::debug!(interface = %self.s.name, call = %leg, cr = %cr, error = %e, "clearing refused");
                    if matches!(e, CommandError::UnknownCall(_)) {
                        // The stack has forgotten the call: release the leg here.
                        self.on_released(q, cause);
                    }
                }
                self.drain();
                return;
            }
        };
        if let Err(e) = self.pri.command(qcmd, now) {
            tracing::warn!(interface = %self.s.name, call = %leg, cr = %cr, error = %e, "command refused by the Q.931 stack");
        }
        self.drain();
    }

    fn handle_input(&mut self, input: TdmInput, now: Instant) {
        self.now = now;
        match input {
            TdmInput::Pri(PriInput::Frame { link, frame }) => self.pri.handle_frame(link, &frame, now),
            TdmInput::Analog(_) | TdmInput::Cas(_) => {}
            TdmInput::Alarm { span, in_alarm } => {
                if in_alarm {
                    tracing::warn!(interface = %self.s.name, span, "span in alarm: its channels are out of the hunt");
                    self.alarms.insert(span);
                } else {
                    tracing::info!(interface = %self.s.name, span, "span alarm cleared");
                    self.alarms.remove(&span);
                }
            }
        }
        self.drain();
    }

    fn handle_timeout(&mut self, now: Instant) {
        self.now = now;
        self.pri.handle_timeout(now);
        self.drain();
    }

    fn poll_timeout(&self) -> Option<Instant> {
        self.pri.poll_timeout()
    }

    fn poll_output(&mut self) -> Option<TdmOutput> {
        self.out.pop_front()
    }

    fn channels(&self) -> Vec<ChannelInfo> {
        let up = self.is_up();
        let cc = self.pri.call_control();
        let mut v = Vec::new();
        for (i, s) in self.s.spans.iter().enumerate() {
            for ch in cc.channels().of_interface(i as u8) {
                let pos = u32::from(ch.channel);
                if self.s.bchannels.as_ref().is_some_and(|b| !b.contains(&pos)) {
                    continue;
                }
                let addr = ChannelAddr { span: s.span, pos };
                let st = cc.channel_status(ch).unwrap_or_default();
                let state = if self.alarms.contains(&s.span) {
                    ChannelState::Alarm
                } else if !up {
                    ChannelState::Down
                } else if st.owner.is_some() {
                    ChannelState::Busy
                } else if self.maintenance.contains(&addr) {
                    ChannelState::Maintenance
                } else if self.far_oos.contains(&addr) {
                    ChannelState::OutOfService
                } else if st.restarting {
                    ChannelState::Maintenance
                } else {
                    ChannelState::Idle
                };
                v.push(ChannelInfo { addr, channo: s.basechan + pos - 1, state });
            }
        }
        v
    }

    fn is_up(&self) -> bool {
        self.pri.active_link().is_some()
    }

    /// Kept out of the hunt; an incoming SETUP that prefers it gets another
    /// channel, one that asks for it exclusive is refused with cause 44. A
    /// call on it goes on (the channel shows busy until it ends). Where the
    /// variant has SERVICE messages the far end is told once the channel is
    /// idle; elsewhere the log says the block is local only.
    fn set_blocked(&mut self, addr: ChannelAddr, blocked: bool, now: Instant) -> bool {
        if self.ref_of(addr).is_none() || !self.channels().iter().any(|c| c.addr == addr) {
            return false;
        }
        self.now = now;
        let what = if blocked { "blocked" } else { "unblocked" };
        match self.block_note() {
            Some(note) => tracing::info!(interface = %self.s.name, channel = %addr, blocked, "B-channel {what} by the operator ({note})"),
            None => tracing::info!(interface = %self.s.name, channel = %addr, blocked, "B-channel {what} by the operator"),
        }
        self.set_maintenance(addr, blocked);
        true
    }

    fn blocked(&self) -> Vec<ChannelAddr> {
        let mut v: Vec<ChannelAddr> = self.maintenance.iter().copied().collect();
        v.sort();
        v
    }

    fn far_blocked(&self) -> Vec<ChannelAddr> {
        PriInterface::far_blocked(self)
    }

    fn block_note(&self) -> Option<String> {
        PriInterface::block_note(self)
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use isdn_q931::wire::ie::{Presentation as QPres, Screening as QScreen};

    use super::*;
    use crate::call::model::CallId;

    /// Our interface and a far-end stack, frames shuttled in memory.
    struct Pair {
        gw: PriInterface,
        far: Pri,
        now: Instant,
        /// Drop frames both ways (a cut D-channel).
        cut: bool,
        incoming: Vec<(LegRef, Setup, LegIdentity, MediaEndpoint)>,
        events: Vec<(LegRef, LegEvent)>,
        far_events: Vec<Event>,
        /// Layer 3 messages our interface sent.
        sent: Vec<MessageRepr>,
        /// Accept incoming calls as they come (else they wait in `pending`).
        auto_accept: bool,
        pending: Vec<IncomingKey>,
        next: u64,
    }

    impl Pair {
        fn new(switch: SwitchType, side: Side) -> Pair {
            Pair::with_far(switch, switch, side)
        }

        /// Our interface on `switch`, the far end on `far_switch`.
        fn with_far(switch: SwitchType, far_switch: SwitchType, side: Side) -> Pair {
            let now = Instant::now();
            let kind = SwitchVariant::for_switch(switch).interface_kind;
            let mut s = PriSettings::new("p", switch, side, vec![PriSpan { span: 3, basechan: 49, kind }]);
            s.numbering.country_code = Some("44".into());
            s.overlap = true;
            let gw = PriInterface::new(s, now).unwrap();
            let far = Pri::new(StackConfig::new(Config::new(far_switch, side.peer())), now).unwrap();
            let mut p = Pair {
                gw,
                far,
                now,
                cut: false,
                incoming: Vec::new(),
                events: Vec::new(),
                far_events: Vec::new(),
                sent: Vec::new(),
                auto_accept: true,
                pending: Vec::new(),
                next: 1,
            };
            p.shuttle();
            assert!(p.gw.is_up() && p.far.active_link().is_some(), "link up");
            p
        }

        fn shuttle(&mut self) {
            for _ in 0..1000 {
                let mut moved = false;
                while let Some(o) = self.gw.poll_output() {
                    match o {
                        TdmOutput::Io(TdmIo::Pri(PriIo::Frame { frame, .. })) => {
                            if let Ok(f) = FrameRepr::parse_bytes(&frame)
                                && let FrameKind::I { info, .. } | FrameKind::Ui { info, .. } = f.kind
                                && let Ok(m) = MessageRepr::parse_bytes(info)
                            {
                                self.sent.push(m);
                            }
                            if !self.cut {
                                self.far.handle_frame(0, &frame, self.now);
                                moved = true;
                            }
                        }
                        TdmOutput::Io(TdmIo::Pri(PriIo::Trace(_)) | TdmIo::Analog(_) | TdmIo::Cas(_)) => {}
                        TdmOutput::Incoming { key, setup, identity, media } => {
                            let leg = LegRef::inbound(CallId(self.next));
                            self.next += 1;
                            if self.auto_accept {
                                self.gw.accept(key, leg);
                            } else {
                                self.pending.push(key);
                            }
                            self.incoming.push((leg, setup, identity, media));
                        }
                        TdmOutput::Leg(leg, ev) => self.events.push((leg, ev)),
                    }
                }
                while let Some(o) = self.far.poll_output() {
                    match o {
                        Output::Transmit { frame, .. } => {
                            if !self.cut {
                                self.gw.handle_input(TdmInput::Pri(PriInput::Frame { link: 0, frame }), self.now);
                                moved = true;
                            }
                        }
                        Output::Event(e) => self.far_events.push(e),
                        Output::Trace(_) => {}
                    }
                }
                if !moved {
                    return;
                }
            }
            panic!("frames kept flowing");
        }

        /// Lets `d` pass in 100 ms steps, running both sides' timers.
        fn advance(&mut self, d: Duration) {
            let end = self.now + d;
            while self.now < end {
                self.now += Duration::from_millis(100);
                if self.gw.poll_timeout().is_some_and(|t| t <= self.now) {
                    self.gw.handle_timeout(self.now);
                }
                if self.far.poll_timeout().is_some_and(|t| t <= self.now) {
                    self.far.handle_timeout(self.now);
                }
                self.shuttle();
            }
        }

        fn far(&mut self, cmd: Command) -> Option<QCallId> {
            let r = self.far.command(cmd, self.now).expect("far-end command");
            self.shuttle();
            r
        }

        fn gw(&mut self, leg: LegRef, cmd: LegCommand) {
            self.gw.command(leg, cmd, self.now);
            self.shuttle();
        }

        fn of(&self, leg: LegRef) -> Vec<LegEvent> {
            self.events.iter().filter(|(l, _)| *l == leg).map(|(_, e)| e.clone()).collect()
        }

        fn releases(&self, leg: LegRef) -> Vec<u8> {
            self.of(leg)
                .iter()
                .filter_map(|e| match e {
                    LegEvent::Released(r) => Some(r.cause.0),
                    _ => None,
                })
                .collect()
        }

        fn far_incoming(&self) -> q931::IncomingCall {
            self.far_events
                .iter()
                .rev()
                .find_map(|e| match e {
                    Event::IncomingCall(ic) => Some((**ic).clone()),
                    _ => None,
                })
                .expect("far end saw a SETUP")
        }
    }

    use isdn_q931::q931::SwitchVariant;

    impl Pair {
        /// The far end's service changes (from our SERVICE): (channel, status).
        fn far_service(&self) -> Vec<(u8, ServiceStatus)> {
            self.far_events
                .iter()
                .filter_map(|e| match e {
                    Event::ServiceChanged { channels, status, initiator: Initiator::Peer } => {
                        Some(channels.iter().map(|c| (c.channel, *status)).collect::<Vec<_>>())
                    }
                    _ => None,
                })
                .flatten()
                .collect()
        }

        /// The SERVICE messages we sent: (channel, status).
        fn sent_service(&self) -> Vec<(Vec<u8>, ServiceStatus)> {
            self.sent
                .iter()
                .filter(|m| m.msg_type == isdn_q931::wire::MessageType::Service)
                .map(|m| {
                    let mut chans = Vec::new();
                    let mut status = ServiceStatus::Other(0);
                    for ie in &m.ies {
                        match ie {
                            IeRepr::ChangeStatus(c) => status = c.status,
                            IeRepr::ChannelId(c) => {
                                if let Some(isdn_q931::wire::ie::ChannelList::Numbers(n)) = c.channels.as_ref().map(|s| &s.list) {
                                    chans.extend(n.iter().copied());
                                }
                            }
                            _ => {}
                        }
                    }
                    (chans, status)
                })
                .collect()
        }

        fn state_of(&self, addr: ChannelAddr) -> ChannelState {
            self.gw.channels().into_iter().find(|c| c.addr == addr).expect("channel").state
        }
    }

    #[test]
    fn a_block_on_ni2_takes_the_channel_out_of_service_at_the_far_end_and_an_unblock_puts_it_back() {
        let mut p = Pair::new(SwitchType::Ni2, Side::User);
        let five = ChannelAddr { span: 3, pos: 5 };
        assert_eq!(p.gw.block_note(), None);
        assert!(p.gw.set_blocked(five, true, p.now));
        p.shuttle();
        assert_eq!(p.far_service(), [(5, ServiceStatus::OutOfService)]);
        assert!(p.far.call_control().channel_status(ChannelRef::new(0, 5)).is_some_and(|s| s.out_of_service), "the far end's allocator takes it out");
        assert_eq!(p.state_of(five), ChannelState::Maintenance);
        assert!(p.gw.far_blocked().is_empty(), "blocked by us, not by the far end");
        assert!(p.gw.set_blocked(five, false, p.now));
        p.shuttle();
        assert_eq!(p.far_service(), [(5, ServiceStatus::OutOfService), (5, ServiceStatus::InService)]);
        assert!(p.far.call_control().channels().is_free(ChannelRef::new(0, 5)));
        assert_eq!(p.state_of(five), ChannelState::Idle);
        assert_eq!(p.sent_service().len(), 2, "acknowledged: no retry");
        p.advance(Duration::from_secs(130)); // past T3M1 (2 min)
        assert_eq!(p.sent_service().len(), 2, "acknowledged: no retry");
    }

    #[test]
    fn blocking_a_whole_span_on_ni2_sends_one_service_per_channel() {
        let mut p = Pair::new(SwitchType::Ni2, Side::User);
        for pos in 1..=23 {
            assert!(p.gw.set_blocked(ChannelAddr { span: 3, pos }, true, p.now));
        }
        p.shuttle();
        let sent = p.sent_service();
        assert_eq!(sent.len(), 23);
        assert!(sent.iter().enumerate().all(|(i, (ch, st))| *ch == [i as u8 + 1] && *st == ServiceStatus::OutOfService), "{sent:?}");
        assert_eq!(p.far_service().len(), 23);
    }

    #[test]
    fn a_block_during_a_call_sends_service_only_when_the_call_ends() {
        let mut p = Pair::new(SwitchType::Ni2, Side::User);
        let fc = p.far(Command::Setup(Box::new(SetupRequest::new("5551234").channel(ChannelPref::Exclusive(ChannelRef::new(0, 5))))));
        let fc = fc.unwrap();
        let leg = p.incoming[0].0;
        p.gw(leg, LegCommand::Answer { connected: None });
        let five = ChannelAddr { span: 3, pos: 5 };
        assert!(p.gw.set_blocked(five, true, p.now));
        p.shuttle();
        assert!(p.sent_service().is_empty(), "the call on channel 5 goes on: no SERVICE yet");
        assert_eq!(p.state_of(five), ChannelState::Busy);
        assert!(p.releases(leg).is_empty());
        p.far(Command::Disconnect { call: fc, cause: CauseValue::NORMAL_CLEARING, inband: false });
        assert_eq!(p.releases(leg), [16]);
        assert_eq!(p.far_service(), [(5, ServiceStatus::OutOfService)], "the call's end sends the SERVICE");
        assert_eq!(p.state_of(five), ChannelState::Maintenance);
    }

    #[test]
    fn a_block_cleared_at_once_sends_service_after_the_release() {
        let mut p = Pair::new(SwitchType::Ni2, Side::User);
        p.far(Command::Setup(Box::new(SetupRequest::new("5551234").channel(ChannelPref::Exclusive(ChannelRef::new(0, 5))))));
        let leg = p.incoming[0].0;
        p.gw(leg, LegCommand::Answer { connected: None });
        let five = ChannelAddr { span: 3, pos: 5 };
        assert!(p.gw.set_blocked(five, true, p.now));
        // `tandem block --now`: call control clears the call (cause 41).
        p.gw(leg, LegCommand::Release(Release::cause(Cause(41))));
        let order: Vec<bool> = p
            .sent
            .iter()
            .filter_map(|m| match m.msg_type {
                isdn_q931::wire::MessageType::Disconnect => Some(false),
                isdn_q931::wire::MessageType::Service => Some(true),
                _ => None,
            })
            .collect();
        assert_eq!(order, [false, true], "DISCONNECT, then SERVICE once the call is gone");
        assert_eq!(p.far_service(), [(5, ServiceStatus::OutOfService)]);
    }

    #[test]
    fn a_block_on_euroisdn_stays_local_and_sends_nothing() {
        let mut p = Pair::new(SwitchType::EuroIsdnE1, Side::User);
        let one = ChannelAddr { span: 3, pos: 1 };
        assert_eq!(p.gw.block_note().as_deref(), Some("local only: EuroISDN (ETSI EN 300 403) E1 has no SERVICE messages"));
        assert!(p.gw.set_blocked(one, true, p.now));
        p.shuttle();
        assert!(p.gw.set_blocked(one, false, p.now));
        p.shuttle();
        assert!(p.sent.is_empty(), "no layer 3 message: {:?}", p.sent);
        assert!(p.far_events.iter().all(|e| !matches!(e, Event::ServiceChanged { .. })));
    }

    #[test]
    fn an_unacknowledged_service_is_retried_then_given_up_and_the_local_block_stays() {
        // A far end without the maintenance protocol ignores our SERVICE.
        let mut p = Pair::with_far(SwitchType::Ni2, SwitchType::EuroIsdnT1, Side::User);
        let five = ChannelAddr { span: 3, pos: 5 };
        assert!(p.gw.set_blocked(five, true, p.now));
        p.shuttle();
        assert_eq!(p.sent_service().len(), 1);
        p.advance(Duration::from_secs(3 * 120 + 10)); // T3M1 = 2 min, three attempts
        assert_eq!(p.sent_service().len(), 3, "sent three times in all");
        p.advance(Duration::from_secs(240));
        assert_eq!(p.sent_service().len(), 3, "then given up");
        assert_eq!(p.gw.blocked(), [five]);
        assert_eq!(p.state_of(five), ChannelState::Maintenance);
        let leg = LegRef::outbound(CallId(1), 1);
        p.gw.originate(leg, &Setup { called: "411".into(), complete: true, ..Setup::default() }, ChannelChoice::Exclusive(five), p.now);
        p.shuttle();
        assert_eq!(p.releases(leg), [44], "still blocked locally");
    }

    #[test]
    fn a_channel_the_far_end_takes_out_of_service_is_skipped_and_refused_until_back_in_service() {
        let mut p = Pair::new(SwitchType::Ni2, Side::User);
        let one = ChannelAddr { span: 3, pos: 1 };
        p.far(Command::Service { target: RestartTarget::Channels(vec![ChannelRef::new(0, 1)]), status: ServiceStatus::OutOfService });
        assert_eq!(p.gw.far_blocked(), [one]);
        assert!(p.gw.blocked().is_empty());
        assert_eq!(p.state_of(one), ChannelState::OutOfService);
        let s = Setup { called: "411".into(), complete: true, ..Setup::default() };
        let a = LegRef::outbound(CallId(1), 1);
        p.gw.originate(a, &s, ChannelChoice::Exclusive(one), p.now);
        p.shuttle();
        assert_eq!(p.releases(a), [44]);
        let b = LegRef::outbound(CallId(2), 1);
        p.gw.originate(b, &s, ChannelChoice::Any, p.now);
        p.shuttle();
        assert_eq!(p.far_incoming().channel, ChannelRef::new(0, 2), "the stack's pick skips channel 1");
        p.far(Command::Service { target: RestartTarget::Channels(vec![ChannelRef::new(0, 1)]), status: ServiceStatus::InService });
        assert!(p.gw.far_blocked().is_empty());
        assert_eq!(p.state_of(one), ChannelState::Idle);
    }

    #[test]
    fn our_unblock_leaves_a_channel_the_far_end_took_out_of_service_out_of_use() {
        let mut p = Pair::new(SwitchType::Ni2, Side::User);
        let one = ChannelAddr { span: 3, pos: 1 };
        p.far(Command::Service { target: RestartTarget::Channels(vec![ChannelRef::new(0, 1)]), status: ServiceStatus::OutOfService });
        assert!(p.gw.set_blocked(one, true, p.now));
        p.shuttle();
        assert!(p.gw.set_blocked(one, false, p.now));
        p.shuttle();
        assert_eq!(p.gw.far_blocked(), [one], "the far end has not put it back");
        assert_eq!(p.state_of(one), ChannelState::OutOfService);
        let a = LegRef::outbound(CallId(1), 1);
        p.gw.originate(a, &Setup { called: "411".into(), complete: true, ..Setup::default() }, ChannelChoice::Exclusive(one), p.now);
        p.shuttle();
        assert_eq!(p.releases(a), [44]);
    }

    #[test]
    fn overlap_receiving_gives_an_incomplete_setup_then_digits_then_the_digit_timeout() {
        let mut p = Pair::new(SwitchType::EuroIsdnE1, Side::User);
        let req = SetupRequest::new("20").overlap();
        let fc = p.far(Command::Setup(Box::new(req))).unwrap();
        let (leg, s, id, media) = p.incoming[0].clone();
        assert_eq!((s.called.as_str(), s.complete), ("20", false));
        assert_eq!((id.span, id.channel), (Some(3), Some(31)), "the network hunts descending on an E1");
        assert_eq!(media, MediaEndpoint::Tdm { channo: 49 + 30, law: Law::Alaw });
        p.gw(leg, LegCommand::SetupAck);
        p.far(Command::Information { call: fc, digits: "71".into(), sending_complete: false });
        assert!(p.of(leg).contains(&LegEvent::Digits { digits: "71".into(), complete: false }), "{:?}", p.of(leg));
        p.advance(Duration::from_secs(16)); // Q.931 T302 = 15 s
        assert!(p.of(leg).contains(&LegEvent::DigitTimeout));
        p.gw(leg, LegCommand::Release(Release::cause(Cause::INVALID_NUMBER_FORMAT)));
        assert_eq!(p.releases(leg), [28]);
    }

    #[test]
    fn outbound_overlap_digits_wait_for_setup_acknowledge_then_go_as_information() {
        let mut p = Pair::new(SwitchType::EuroIsdnE1, Side::User);
        let leg = LegRef::outbound(CallId(9), 1);
        let s = Setup { called: "+44207".into(), complete: false, ..Setup::default() };
        p.gw.originate(leg, &s, ChannelChoice::Any, p.now);
        p.shuttle();
        let ic = p.far_incoming();
        assert_eq!((ic.called.digits.as_str(), ic.called.ton, ic.sending_complete), ("207", TypeOfNumber::National, false));
        p.gw(leg, LegCommand::Digits { digits: "946".into(), complete: false });
        p.far(Command::SetupAck { call: ic.call });
        assert!(
            p.far_events.iter().any(|e| matches!(e, Event::MoreDigits { digits, .. } if digits == "946")),
            "digits held until SETUP ACKNOWLEDGE, then sent: {:?}",
            p.far_events
        );
        p.gw(leg, LegCommand::Digits { digits: "0000".into(), complete: true });
        assert!(p.far_events.iter().any(|e| matches!(e, Event::MoreDigits { digits, sending_complete: true, .. } if digits == "0000")));
    }

    #[test]
    fn events_before_accept_are_held_and_a_call_gone_before_accept_still_ends_once() {
        // We are the network side: the user's DISCONNECT before any answer clears at once.
        let mut p = Pair::new(SwitchType::Ni2, Side::Network);
        p.auto_accept = false;
        let req = SetupRequest::new("5551234")
            .calling(Number::new("2125550000").with_ton(TypeOfNumber::National).with_presentation(QPres::Allowed, QScreen::UserVerifiedPassed));
        let fc = p.far(Command::Setup(Box::new(req))).unwrap();
        p.far(Command::Disconnect { call: fc, cause: CauseValue::NORMAL_CLEARING, inband: false });
        let key = p.pending[0];
        let leg = p.incoming[0].0;
        assert!(p.of(leg).is_empty());
        p.gw.accept(key, leg);
        p.shuttle();
        assert_eq!(p.releases(leg), [16]);
        p.gw(leg, LegCommand::Release(Release::cause(Cause::NORMAL_CLEARING)));
        assert_eq!(p.releases(leg), [16], "a command for a leg that is gone is ignored");
    }

    #[test]
    fn originate_without_a_data_link_releases_the_leg_at_once() {
        let mut p = Pair::new(SwitchType::Ni2, Side::User);
        p.cut = true;
        p.advance(Duration::from_secs(20)); // T203 + T200 × N200: the link gives up
        assert!(!p.gw.is_up());
        assert!(p.gw.channels().iter().all(|c| c.state == ChannelState::Down));
        let leg = LegRef::outbound(CallId(1), 1);
        p.gw.originate(leg, &Setup { called: "411".into(), complete: true, ..Setup::default() }, ChannelChoice::Any, p.now);
        p.shuttle();
        assert_eq!(p.releases(leg), [38]);
    }

    #[test]
    fn an_active_call_survives_a_link_failure_until_t309_then_ends_once() {
        let mut p = Pair::new(SwitchType::EuroIsdnE1, Side::User); // T309 = 6 s
        let leg = LegRef::outbound(CallId(2), 1);
        p.gw.originate(leg, &Setup { called: "+4420".into(), complete: true, ..Setup::default() }, ChannelChoice::Any, p.now);
        p.shuttle();
        let fc = p.far_incoming().call;
        p.far(Command::Connect { call: fc, connected: None });
        assert!(p.of(leg).iter().any(|e| matches!(e, LegEvent::Answered { .. })));
        p.cut = true;
        p.advance(Duration::from_secs(12));
        assert!(p.releases(leg).is_empty(), "alive under T309");
        p.advance(Duration::from_secs(30));
        assert_eq!(p.releases(leg).len(), 1, "{:?}", p.of(leg));
    }

    #[test]
    fn a_restart_from_the_far_end_releases_the_calls_on_its_channels() {
        let mut p = Pair::new(SwitchType::Ni2, Side::User);
        let fc = p.far(Command::Setup(Box::new(SetupRequest::new("5551234")))).unwrap();
        let (leg, ..) = p.incoming[0].clone();
        let ch = p.far.call_control().call_channel(fc).unwrap();
        p.far(Command::Restart(q931::RestartTarget::Channels(vec![ch])));
        assert_eq!(p.releases(leg).len(), 1, "{:?}", p.of(leg));
        assert!(p.gw.channels().iter().all(|c| c.state == ChannelState::Idle));
    }

    #[test]
    fn exclusive_channel_choice_is_honoured_and_a_busy_one_fails_with_cause_44() {
        let mut p = Pair::new(SwitchType::Ni2, Side::User);
        let a = LegRef::outbound(CallId(1), 1);
        let b = LegRef::outbound(CallId(2), 1);
        let ch = ChannelAddr { span: 3, pos: 7 };
        let s = Setup { called: "411".into(), complete: true, ..Setup::default() };
        p.gw.originate(a, &s, ChannelChoice::Exclusive(ch), p.now);
        p.shuttle();
        assert_eq!(p.far_incoming().channel, ChannelRef::new(0, 7));
        assert!(p.of(a).contains(&LegEvent::Media(MediaEndpoint::Tdm { channo: 55, law: Law::Ulaw })));
        p.gw.originate(b, &s, ChannelChoice::Exclusive(ch), p.now);
        p.shuttle();
        assert_eq!(p.releases(b), [44]);
        let busy = p.gw.channels().into_iter().find(|c| c.addr == ch).unwrap();
        assert_eq!(busy.state, ChannelState::Busy);
    }

    #[test]
    fn a_blocked_channel_moves_a_preferred_setup_and_refuses_an_exclusive_one_with_cause_44() {
        // EuroISDN: the block is local only, so the far end still offers the channel.
        let mut p = Pair::new(SwitchType::EuroIsdnT1, Side::User);
        let one = ChannelAddr { span: 3, pos: 1 };
        assert!(p.gw.set_blocked(one, true, p.now));
        assert_eq!(p.gw.blocked(), [one]);
        let req = |pref| SetupRequest::new("2125551234").channel(pref);
        let fc = p.far.setup(req(ChannelPref::Preferred(ChannelRef::new(0, 1))), p.now).unwrap();
        p.shuttle();
        assert_eq!(p.incoming.len(), 1);
        assert!(matches!(p.incoming[0].3, MediaEndpoint::Tdm { channo: 50, .. }), "channel 2 (DAHDI 50): {:?}", p.incoming[0].3);
        let leg = p.incoming[0].0;
        p.gw(leg, LegCommand::Proceeding);
        assert!(
            p.far_events.iter().any(|e| matches!(e, Event::Proceeding { call, channel, .. } if *call == fc && *channel == ChannelRef::new(0, 2))),
            "{:?}",
            p.far_events
        );
        let fx = p.far.setup(req(ChannelPref::Exclusive(ChannelRef::new(0, 1))), p.now).unwrap();
        p.shuttle();
        assert_eq!(p.incoming.len(), 1, "no second call offered");
        assert!(p.far_events.iter().any(|e| matches!(e, Event::Released { call, cause } if *call == fx && cause.value.0 == 44)), "{:?}", p.far_events);
        assert!(p.gw.set_blocked(one, false, p.now));
        let fu = p.far.setup(req(ChannelPref::Exclusive(ChannelRef::new(0, 1))), p.now).unwrap();
        p.shuttle();
        assert_eq!(p.incoming.len(), 2, "unblocked channel 1 takes the call");
        assert_eq!(p.far.call_control().call_channel(fu), Some(ChannelRef::new(0, 1)));
    }

    #[test]
    fn the_ladder_line_names_the_message_and_its_key_ies() {
        let mut m = MessageRepr::new(
            isdn_q931::wire::ProtocolDiscriminator::Q931,
            isdn_q931::wire::CallRef::pri(5, CallRefFlag::FromOriginator),
            isdn_q931::wire::MessageType::Disconnect,
        );
        m.ies.push(IeRepr::Cause(isdn_q931::wire::ie::CauseRepr::new(isdn_q931::wire::ie::Location::User, CauseValue::USER_BUSY)));
        m.ies.push(IeRepr::ProgressIndicator(isdn_q931::wire::ie::ProgressIndicatorRepr::new(
            isdn_q931::wire::ie::Location::User,
            ProgressDescription::InbandAvailable,
        )));
        assert_eq!(describe(&m), "DISCONNECT cause=17 pi=8");
    }
}
