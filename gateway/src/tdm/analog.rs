//! Analog lines as TDM legs: a sans-IO adapter between call control's legs
//! and the line-signalling cores of `tandem-signalling`, one
//! [`FxoPort`] or [`FxsPort`] per DAHDI channel.
//!
//! [`AnalogInterface`] is one `[[analog]]` section: ports of one kind. It
//! holds no clock, socket or thread. Its inputs are line events and DSP
//! results from the port's I/O shell ([`super::analog_io`]) as
//! [`AnalogInput`] (ring begin/end, hook, polarity, battery, caller ID
//! decoded, digits, tones detected), commands from call control, and
//! `now`; its outputs are [`AnalogIo`] line commands for the shell (hook,
//! ring, polarity, battery, dial, play a tone, send caller ID, VMWI) and
//! leg events.
//!
//! | line (signalling core) | leg |
//! |---|---|
//! | FXO: ringing validated, caller ID captured (`Incoming`) | [`TdmOutput::Incoming`]: called = the configured `line` number (else `s`), calling = caller ID (number, name, presentation from `P`/`O`) |
//! | FXO outbound: dial tone found, dialling (`Progress::Dialing`) | `Proceeding` |
//! | FXO outbound: ringback detected | `Alerting{inband: false}` (the SIP caller plays its own ringback) |
//! | FXO outbound: busy, reorder, no dial tone, no answer | `Released` with 17, 42, 41, 19 |
//! | FXO outbound: answer supervision (polarity, timer or at once) | `Media` (the channel), `Answered` |
//! | FXS: a number dialled that the dial plan completes (`Dialed`) | [`TdmOutput::Incoming`]: called = the digits, calling = the configured `line` |
//! | FXS outbound: ringing the phone (`Alert` accepted) | `Alerting{inband: false}` |
//! | FXS outbound: the phone answers | `Media`, `Answered` |
//! | hang-up of either kind, busy, reorder, no dial tone, no answer, abandoned | exactly one `Released` with a Q.850 cause |
//!
//! and back: `Answer` answers an FXO call (off-hook) or tells an FXS phone
//! that dialled that the far end answered (polarity, by config); `Release`
//! hangs an FXO line up, or signals disconnect to an FXS phone (open loop,
//! polarity) or stops ringing it; `Flash` (a SIP INFO hook flash) flashes
//! an answered FXO line's loop (an FXS port has no hook to flash, so it
//! only logs it). An outbound leg reports its channel as
//! media only once answered (FXO: by answer supervision; FXS: the phone
//! went off-hook): until then the shell, not the media pump, owns the
//! channel's audio (dial tone, ringback, busy and reorder detection;
//! caller-ID and tone generation).

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use tandem_signalling::fxo::{AnswerSupervision, DisconnectSupervision, FxoConfig, FxoPort, StartType};
use tandem_signalling::fxs::{CallerIdTiming, FxsConfig, FxsPort, HangupSignalling};
use tandem_signalling::{Absence, Cadence, CallEvent, CallerIdInfo, Command, DialMode, DialPlan, HangupReason, LineCommand, LineInput, Output, Progress};

use super::{ChannelAddr, ChannelChoice, ChannelInfo, ChannelState, IncomingKey, TdmInput, TdmInterface, TdmIo, TdmOutput};
use crate::call::model::{Cause, Law, LegCommand, LegEvent, LegIdentity, LegRef, MediaEndpoint, Party, Presentation, Release, Setup};
use crate::config::analog::{AnalogConfig, AnswerPolicy, AnswerSupervisionName, CidFormat, CidPosition, DialModeName, PortKind, StartName};

/// Input for an analog interface from a port's shell.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AnalogInput {
    /// The port's DAHDI channel number.
    pub channo: u32,
    pub input: LineInput,
}

/// A line command for a port's shell.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AnalogIo {
    /// The port's DAHDI channel number.
    pub channo: u32,
    pub cmd: LineCommand,
}

/// One port as discovery found it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AnalogPort {
    pub addr: ChannelAddr,
    /// The DAHDI channel number.
    pub channo: u32,
    pub kind: PortKind,
}

/// Everything an [`AnalogInterface`] needs: its configuration with the
/// hardware facts filled in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AnalogSettings {
    pub name: String,
    pub ports: Vec<AnalogPort>,
    pub law: Law,
    /// FXO: the called number of inbound calls; FXS: the phone's number.
    pub line: Option<String>,
    pub fxo: FxoConfig,
    pub fxs: FxsConfig,
}

impl AnalogSettings {
    /// Settings from an `[[analog]]` section and its ports.
    pub fn from_config(cfg: &AnalogConfig, ports: Vec<AnalogPort>) -> AnalogSettings {
        let start = match cfg.start.as_ref().map(|s| *s.get_ref()) {
            Some(StartName::Loop) => StartType::LoopStart,
            Some(StartName::Ground) => StartType::GroundStart,
            Some(StartName::Kewl) | None => StartType::KewlStart,
        };
        let mut fxo = FxoConfig::for_start(start);
        let cid = cfg.caller_id.as_ref();
        let format = cid.and_then(|c| c.format.as_ref()).map(|f| *f.get_ref()).unwrap_or(CidFormat::Bell202);
        let position = cid.and_then(|c| c.position.as_ref()).map(|p| *p.get_ref()).unwrap_or(CidPosition::AfterFirstRing);
        if format == CidFormat::Off {
            fxo.present_on_caller_id = false;
            fxo.present_after_rings = 1;
        }
        fxo.early_answer = cfg.answer.as_ref().is_some_and(|a| *a.get_ref() == AnswerPolicy::Immediate);
        fxo.wait_for_dial_tone = cfg.dial_tone_wait.unwrap_or(true);
        // The zone detector hears dial tone only once it has outlasted the
        // zone's longest ringback burst (2.5 s in the US): allow for that.
        fxo.dial_tone_timeout = Duration::from_millis(cfg.dial_tone_timeout_ms.as_ref().map(|t| *t.get_ref()).unwrap_or(5000));
        fxo.dial_mode = match cfg.dial_mode.as_ref().map(|m| *m.get_ref()) {
            Some(DialModeName::Pulse) => DialMode::Pulse,
            _ => DialMode::Dtmf,
        };
        fxo.answer = match cfg.answer_supervision.as_ref().and_then(|s| crate::config::analog::parse_answer_supervision(s.get_ref())) {
            Some(AnswerSupervisionName::Polarity) => AnswerSupervision::Polarity,
            Some(AnswerSupervisionName::After(d)) => AnswerSupervision::AfterTimeout(d),
            Some(AnswerSupervisionName::Immediate) | None => AnswerSupervision::Immediate,
        };
        if let Some(d) = &cfg.disconnect {
            let def = DisconnectSupervision { open_loop: fxo.disconnect.open_loop, ..DisconnectSupervision::default() };
            fxo.disconnect = DisconnectSupervision {
                open_loop: d.battery.unwrap_or(def.open_loop),
                open_loop_min: d.open_loop_min_ms.as_ref().map(|v| Duration::from_millis(*v.get_ref())).unwrap_or(def.open_loop_min),
                polarity: d.polarity.unwrap_or(def.polarity),
                busy: d.busy.unwrap_or(def.busy),
                reorder: d.reorder.unwrap_or(def.reorder),
                dial_tone: d.dial_tone.unwrap_or(def.dial_tone),
            };
        }
        let mut fxs = FxsConfig::default();
        if let Some(p) = &cfg.dial_plan
            && let Ok(plan) = DialPlan::new(p.get_ref().iter().map(|s| s.get_ref().as_str()))
        {
            fxs.dial_plan = plan;
        }
        if let Some(t) = &cfg.inter_digit_timeout_ms {
            fxs.inter_digit_timeout = Duration::from_millis(*t.get_ref());
        }
        if let Some(t) = &cfg.first_digit_timeout_ms {
            fxs.first_digit_timeout = Duration::from_millis(*t.get_ref());
        }
        if let Some(c) = &cfg.ring_cadence
            && let [on, off] = c.get_ref()[..]
        {
            fxs.ring_cadence = Cadence { on: Duration::from_millis(on), off: Duration::from_millis(off) };
        } else if let Some(&(on, off)) = super::zones::ToneZone::get(cfg.zone()).as_ref().and_then(|z| z.ring_cadence.first()) {
            fxs.ring_cadence = Cadence { on: Duration::from_millis(u64::from(on)), off: Duration::from_millis(u64::from(off)) };
        }
        fxs.caller_id = match (format, position) {
            (CidFormat::Off, _) => CallerIdTiming::Off,
            (_, CidPosition::AfterFirstRing) => CallerIdTiming::AfterFirstRing,
            (_, CidPosition::BeforeFirstRing | CidPosition::AfterPolarityReversal) => CallerIdTiming::BeforeFirstRing,
        };
        fxs.answer_polarity = cfg.answer_polarity;
        fxs.hangup = HangupSignalling { polarity_reversal: cfg.hangup_polarity, ..HangupSignalling::default() };
        // DAHDI times hook flashes itself: it reports ONHOOK only once the
        // loop has stayed open longer than a flash, so an on-hook is a hang-up.
        fxs.hookflash_min = Duration::ZERO;
        fxs.hookflash_max = Duration::ZERO;
        AnalogSettings { name: cfg.name.get_ref().clone(), ports, law: Law::Ulaw, line: cfg.line.as_ref().map(|l| l.get_ref().clone()), fxo, fxs }
    }
}

/// A port's signalling core.
#[derive(Debug)]
enum Core {
    Fxo(FxoPort),
    Fxs(FxsPort),
}

impl Core {
    fn poll_output(&mut self) -> Option<Output> {
        match self {
            Core::Fxo(p) => p.poll_output(),
            Core::Fxs(p) => p.poll_output(),
        }
    }

    fn poll_timeout(&self) -> Option<Instant> {
        match self {
            Core::Fxo(p) => p.poll_timeout(),
            Core::Fxs(p) => p.poll_timeout(),
        }
    }

    fn handle_timeout(&mut self, now: Instant) {
        match self {
            Core::Fxo(p) => p.handle_timeout(now),
            Core::Fxs(p) => p.handle_timeout(now),
        }
    }

    fn handle_input(&mut self, i: LineInput, now: Instant) {
        match self {
            Core::Fxo(p) => p.handle_input(i, now),
            Core::Fxs(p) => p.handle_input(i, now),
        }
    }

    fn handle_command(&mut self, c: Command, now: Instant) -> Result<(), tandem_signalling::Error> {
        match self {
            Core::Fxo(p) => p.handle_command(c, now),
            Core::Fxs(p) => p.handle_command(c, now),
        }
    }

    fn is_idle(&self) -> bool {
        match self {
            Core::Fxo(p) => p.is_idle(),
            Core::Fxs(p) => p.is_idle(),
        }
    }
}

/// One port and the call on it.
#[derive(Debug)]
struct Port {
    hw: AnalogPort,
    core: Core,
    /// The leg of the call on the port, once call control accepted it.
    leg: Option<LegRef>,
    /// An incoming call presented and not yet accepted.
    key: Option<IncomingKey>,
    /// Events of the incoming call that came before `accept`.
    held: Vec<LegEvent>,
    /// The call was placed by us (an outbound leg).
    outbound: bool,
    /// The channel was reported as the leg's media.
    media_sent: bool,
}

/// One `[[analog]]` interface. See the [module documentation](self).
pub struct AnalogInterface {
    settings: AnalogSettings,
    ports: Vec<Port>,
    out: VecDeque<TdmOutput>,
    next_key: u64,
}

impl AnalogInterface {
    /// An interface with every port idle.
    pub fn new(settings: AnalogSettings) -> AnalogInterface {
        let ports = settings
            .ports
            .iter()
            .map(|hw| Port {
                hw: *hw,
                core: match hw.kind {
                    PortKind::Fxo => Core::Fxo(FxoPort::new(settings.fxo.clone())),
                    PortKind::Fxs => Core::Fxs(FxsPort::new(settings.fxs.clone())),
                },
                leg: None,
                key: None,
                held: Vec::new(),
                outbound: false,
                media_sent: false,
            })
            .collect();
        AnalogInterface { settings, ports, out: VecDeque::new(), next_key: 1 }
    }

    /// The settings.
    pub fn settings(&self) -> &AnalogSettings {
        &self.settings
    }

    fn port_of_leg(&self, leg: LegRef) -> Option<usize> {
        self.ports.iter().position(|p| p.leg == Some(leg))
    }

    fn identity(&self, i: usize) -> LegIdentity {
        let hw = &self.ports[i].hw;
        LegIdentity { interface: self.settings.name.clone(), span: Some(hw.addr.span), channel: Some(hw.addr.pos), sip_call_id: None }
    }

    fn media(&self, i: usize) -> MediaEndpoint {
        MediaEndpoint::Tdm { channo: self.ports[i].hw.channo, law: self.settings.law }
    }

    /// Drains port `i`'s core into the interface's outputs.
    fn drain(&mut self, i: usize) {
        for _ in 0..256 {
            let Some(o) = self.ports[i].core.poll_output() else { return };
            match o {
                Output::Line(cmd) => self.out.push_back(TdmOutput::Io(TdmIo::Analog(AnalogIo { channo: self.ports[i].hw.channo, cmd }))),
                Output::Call(ev) => self.on_call_event(i, ev),
            }
        }
    }

    fn leg_event(&mut self, i: usize, ev: LegEvent) {
        let p = &mut self.ports[i];
        let released = matches!(ev, LegEvent::Released(_));
        match (p.leg, p.key) {
            (Some(leg), _) => self.out.push_back(TdmOutput::Leg(leg, ev)),
            (None, Some(_)) => p.held.push(ev),
            (None, None) => return,
        }
        if released {
            self.free(i);
        }
    }

    fn free(&mut self, i: usize) {
        let p = &mut self.ports[i];
        if p.leg.is_some() {
            p.leg = None;
            p.key = None;
            p.outbound = false;
            p.media_sent = false;
        }
    }

    fn send_media(&mut self, i: usize) {
        if !self.ports[i].media_sent {
            self.ports[i].media_sent = true;
            let m = self.media(i);
            self.leg_event(i, LegEvent::Media(m));
        }
    }

    fn on_call_event(&mut self, i: usize, ev: CallEvent) {
        let channo = self.ports[i].hw.channo;
        match ev {
            CallEvent::Incoming { caller_id } => {
                if self.ports[i].leg.is_some() || self.ports[i].key.is_some() {
                    return;
                }
                let calling = caller_id.as_ref().map(party_of);
                let called = self.settings.line.clone().unwrap_or_else(|| "s".to_owned());
                self.present(i, Setup { called, complete: true, calling, ..Setup::default() });
                tracing::info!(interface = %self.settings.name, channo, caller_id = ?caller_id, "incoming call on the line");
            }
            CallEvent::Dialed { number } => {
                if self.ports[i].leg.is_some() || self.ports[i].key.is_some() {
                    return;
                }
                let calling = self.settings.line.as_deref().map(Party::number);
                tracing::info!(interface = %self.settings.name, channo, %number, "phone dialled");
                self.present(i, Setup { called: number, complete: true, calling, ..Setup::default() });
            }
            CallEvent::Answered => {
                if self.ports[i].outbound {
                    self.send_media(i);
                    self.leg_event(i, LegEvent::Answered { connected: None });
                }
            }
            CallEvent::Progress(Progress::Dialing) => self.leg_event(i, LegEvent::Proceeding),
            // Dialled: the shell keeps listening for ringback, busy and
            // reorder until answer supervision, so the media waits.
            CallEvent::Progress(Progress::Proceeding) => tracing::debug!(interface = %self.settings.name, channo, "dialled; awaiting answer"),
            CallEvent::Progress(Progress::Ringback) => self.leg_event(i, LegEvent::Alerting { inband: false }),
            CallEvent::Hangup { reason } => {
                let (cause, wire) = cause_of(reason);
                tracing::info!(interface = %self.settings.name, channo, ?reason, "line cleared");
                self.leg_event(i, LegEvent::Released(Release { cause, wire: Some(wire.to_owned()) }));
            }
            CallEvent::Digit(d) => tracing::debug!(interface = %self.settings.name, channo, digit = %d, "digit during the call"),
            CallEvent::Flash => tracing::info!(interface = %self.settings.name, channo, "hook flash (not acted on yet)"),
        }
    }

    fn present(&mut self, i: usize, setup: Setup) {
        let key = IncomingKey(self.next_key);
        self.next_key += 1;
        self.ports[i].key = Some(key);
        self.ports[i].media_sent = true;
        let identity = self.identity(i);
        let media = self.media(i);
        self.out.push_back(TdmOutput::Incoming { key, setup, identity, media });
    }

    fn release_now(&mut self, i: usize, r: Release) {
        self.leg_event(i, LegEvent::Released(r));
    }
}

/// The calling party of a caller-ID message.
fn party_of(c: &CallerIdInfo) -> Party {
    let presentation = match c.number_absent {
        Some(Absence::Private) => Presentation::Restricted,
        Some(Absence::Unavailable) => Presentation::Unavailable,
        None if c.number.is_none() => Presentation::Unavailable,
        None => Presentation::Allowed,
    };
    Party { number: c.number.clone().unwrap_or_default(), name: c.name.clone(), presentation, ..Party::default() }
}

/// The caller ID sent to a phone for a calling party.
fn caller_id_of(p: &Party) -> CallerIdInfo {
    let absent = match p.presentation {
        Presentation::Allowed => None,
        Presentation::Restricted => Some(Absence::Private),
        Presentation::Unavailable => Some(Absence::Unavailable),
    };
    let number = (absent.is_none() && !p.number.is_empty()).then(|| p.number.trim_start_matches('+').to_owned());
    let name = if absent == Some(Absence::Private) { None } else { p.name.clone() };
    CallerIdInfo {
        number_absent: if number.is_none() { absent.or(Some(Absence::Unavailable)) } else { None },
        name_absent: if name.is_none() { absent } else { None },
        number,
        name,
        datetime: None,
    }
}

/// The Q.850 cause and a wire description of a line's end.
fn cause_of(r: HangupReason) -> (Cause, &'static str) {
    match r {
        HangupReason::Normal => (Cause::NORMAL_CLEARING, "on-hook"),
        HangupReason::RemoteDisconnect(m) => (
            Cause::NORMAL_CLEARING,
            match m {
                tandem_signalling::DisconnectMethod::OpenLoop => "far end disconnect: battery loss",
                tandem_signalling::DisconnectMethod::Polarity => "far end disconnect: polarity reversal",
                tandem_signalling::DisconnectMethod::Tone(_) => "far end disconnect: tone",
            },
        ),
        HangupReason::Busy => (Cause::USER_BUSY, "busy tone"),
        HangupReason::Reorder => (Cause::SWITCH_CONGESTION, "reorder tone"),
        HangupReason::NoDialTone => (Cause::TEMPORARY_FAILURE, "no dial tone"),
        HangupReason::NoAnswer => (Cause::NO_ANSWER, "no answer supervision"),
        HangupReason::Abandoned => (Cause::NORMAL_CLEARING, "ringing stopped"),
    }
}

impl TdmInterface for AnalogInterface {
    fn name(&self) -> &str {
        &self.settings.name
    }

    fn spans(&self) -> Vec<u32> {
        let mut s: Vec<u32> = self.ports.iter().map(|p| p.hw.addr.span).collect();
        s.dedup();
        s
    }

    fn originate(&mut self, leg: LegRef, setup: &Setup, channel: ChannelChoice, now: Instant) {
        let free = |p: &Port| p.leg.is_none() && p.key.is_none() && p.core.is_idle();
        let pick = match channel {
            ChannelChoice::Exclusive(a) => self.ports.iter().position(|p| p.hw.addr == a && free(p)),
            ChannelChoice::Preferred(a) => self.ports.iter().position(|p| p.hw.addr == a && free(p)).or_else(|| self.ports.iter().position(free)),
            ChannelChoice::Any => self.ports.iter().position(free),
        };
        let Some(i) = pick else {
            self.out.push_back(TdmOutput::Leg(leg, LegEvent::Released(Release { cause: Cause::NO_CIRCUIT, wire: Some("no idle port".into()) })));
            return;
        };
        let cmd = match self.ports[i].hw.kind {
            PortKind::Fxo => Command::Dial(setup.called.trim_start_matches('+').to_owned()),
            PortKind::Fxs => {
                let caller_id = setup.calling.as_ref().map(caller_id_of);
                match setup.alert_info.as_deref().and_then(distinctive_ring) {
                    Some((pattern, repeat)) => Command::AlertPattern { caller_id, pattern, repeat },
                    None => Command::Alert { caller_id, cadence: None },
                }
            }
        };
        let kind = self.ports[i].hw.kind;
        self.ports[i].leg = Some(leg);
        self.ports[i].outbound = true;
        self.ports[i].media_sent = false;
        let id = self.identity(i);
        self.out.push_back(TdmOutput::Leg(leg, LegEvent::Identity(id)));
        match self.ports[i].core.handle_command(cmd, now) {
            Ok(()) => {
                if kind == PortKind::Fxs {
                    self.out.push_back(TdmOutput::Leg(leg, LegEvent::Alerting { inband: false }));
                }
                self.drain(i);
            }
            Err(e) => {
                tracing::info!(%leg, error = %e, "analog originate refused");
                let cause = if matches!(e, tandem_signalling::Error::InvalidDialString(_)) { Cause::INVALID_NUMBER_FORMAT } else { Cause::NO_CIRCUIT };
                self.release_now(i, Release { cause, wire: Some(e.to_string()) });
            }
        }
    }

    fn accept(&mut self, key: IncomingKey, leg: LegRef) {
        let Some(i) = self.ports.iter().position(|p| p.key == Some(key)) else { return };
        self.ports[i].leg = Some(leg);
        let held = std::mem::take(&mut self.ports[i].held);
        for ev in held {
            self.leg_event(i, ev);
        }
    }

    fn command(&mut self, leg: LegRef, cmd: LegCommand, now: Instant) {
        let Some(i) = self.port_of_leg(leg) else { return };
        match cmd {
            LegCommand::Answer { .. } => {
                if let Err(e) = self.ports[i].core.handle_command(Command::Answer, now) {
                    tracing::debug!(%leg, error = %e, "answer not applicable on the line");
                }
                self.drain(i);
            }
            LegCommand::Release(r) => {
                let _ = self.ports[i].core.handle_command(Command::Hangup, now);
                self.drain(i);
                // The core reports no hang-up for one it was asked for.
                if self.ports[i].leg == Some(leg) {
                    self.release_now(i, r);
                }
            }
            LegCommand::Flash => {
                // Only an FXO core in a call takes it: the port flashes the CO loop.
                match self.ports[i].core.handle_command(Command::Flash, now) {
                    Ok(()) => tracing::info!(%leg, "hook flash sent on the line"),
                    Err(e) => tracing::info!(%leg, error = %e, "hook flash not applicable on the line"),
                }
                self.drain(i);
            }
            other => tracing::debug!(%leg, cmd = ?other, "not signalled on an analog line"),
        }
    }

    fn handle_input(&mut self, input: TdmInput, now: Instant) {
        match input {
            TdmInput::Analog(a) => {
                if let Some(i) = self.ports.iter().position(|p| p.hw.channo == a.channo) {
                    self.ports[i].core.handle_input(a.input, now);
                    self.drain(i);
                }
            }
            TdmInput::Alarm { .. } | TdmInput::Pri(_) | TdmInput::Cas(_) => {}
        }
    }

    fn handle_timeout(&mut self, now: Instant) {
        for i in 0..self.ports.len() {
            if self.ports[i].core.poll_timeout().is_some_and(|t| t <= now) {
                self.ports[i].core.handle_timeout(now);
                self.drain(i);
            }
        }
    }

    fn poll_timeout(&self) -> Option<Instant> {
        self.ports.iter().filter_map(|p| p.core.poll_timeout()).min()
    }

    fn poll_output(&mut self) -> Option<TdmOutput> {
        self.out.pop_front()
    }

    fn channels(&self) -> Vec<ChannelInfo> {
        self.ports
            .iter()
            .map(|p| ChannelInfo {
                addr: p.hw.addr,
                channo: p.hw.channo,
                state: if p.leg.is_none() && p.key.is_none() && p.core.is_idle() { ChannelState::Idle } else { ChannelState::Busy },
            })
            .collect()
    }

    fn is_up(&self) -> bool {
        true
    }

    fn message_waiting(&mut self, waiting: bool, now: Instant) {
        for i in 0..self.ports.len() {
            if self.ports[i].hw.kind == PortKind::Fxs {
                // An FXS core takes it at once when idle, else when the call ends.
                if let Err(e) = self.ports[i].core.handle_command(Command::Mwi(waiting), now) {
                    tracing::debug!(channo = self.ports[i].hw.channo, error = %e, "message waiting not applicable");
                }
                self.drain(i);
            }
        }
    }
}

/// The ring pattern an Alert-Info asks for: the Bellcore distinctive rings
/// `Bellcore-dr1` to `Bellcore-dr5` (the last path segment of the URI, or an
/// `info=` parameter), as (on, off) phases and whether they repeat. Anything
/// else gets the port's own cadence.
fn distinctive_ring(alert_info: &str) -> Option<(Vec<Cadence>, bool)> {
    let lower = alert_info.to_ascii_lowercase();
    let at = lower.rfind("bellcore-dr")?;
    let n = lower[at + "bellcore-dr".len()..].chars().next()?;
    // Telcordia GR-506-CORE distinctive ringing patterns, in ms.
    let (phases, repeat): (&[(u64, u64)], bool) = match n {
        '1' => (&[(2000, 4000)], true),
        '2' => (&[(800, 400), (800, 4000)], true),
        '3' => (&[(400, 200), (400, 200), (800, 4000)], true),
        '4' => (&[(300, 200), (1000, 200), (300, 4000)], true),
        '5' => (&[(500, 4000)], false),
        _ => return None,
    };
    Some((phases.iter().map(|&(on, off)| Cadence { on: Duration::from_millis(on), off: Duration::from_millis(off) }).collect(), repeat))
}

#[cfg(test)]
mod tests;
