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
//! | FXO outbound: busy, reorder, no dial tone, no answer, SIT (before answer) | `Released` with 17, 42, 41, 19, 1 |
//! | FXO outbound: answer supervision (polarity, timer or at once) | `Media` (the channel), `Answered` |
//! | FXS: a number dialled that the dial plan completes (`Dialed`) | [`TdmOutput::Incoming`]: called = the digits, calling = the configured `line` |
//! | FXS outbound: ringing the phone (`Alert` accepted) | `Alerting{inband: false}` |
//! | FXS outbound: the phone answers | `Media`, `Answered` |
//! | hang-up of either kind, busy, reorder, no dial tone, no answer, abandoned | exactly one `Released` with a Q.850 cause |
//!
//! and back: `Answer` answers an FXO call (off-hook) or tells an FXS phone
//! that dialled that the far end answered (polarity, by config);
//! `Alerting{inband: false}` for a call an FXS phone dialled plays the
//! zone's ringback to the phone until answer or in-band progress (whose
//! audio then comes from the far end); `Release`
//! hangs an FXO line up, or signals disconnect to an FXS phone (open loop,
//! polarity) or stops ringing it; before answer it refuses the call an FXS
//! phone dialled in band, as a switch does: the cause's tone
//! ([`refusal_for_cause`]: 17 busy tone, 1/3/22/28 SIT vacant code then
//! reorder, else reorder) until the phone hangs up, the leg released at
//! once; `Flash` (a SIP INFO hook flash) flashes
//! an answered FXO line's loop (an FXS port has no hook to flash, so it
//! only logs it).
//!
//! # Two calls on an FXS port
//!
//! | phone / network | legs |
//! |---|---|
//! | a call for a phone in an answered call (`call_waiting`, default on) | the new leg waits: `Alerting` (180); the port plays the call-waiting tone and caller ID on call waiting over the call, the call's media paused meanwhile (`Mute`) |
//! | flash with a call waiting | `Hold(true)` for the current leg (re-INVITE `a=sendonly`), the waiting one `Media` + `Answered` |
//! | flash with a call held | swap: `Hold(true)` for the current, `Hold(false)` for the held one |
//! | flash with one call | `Hold(true)`, recall dial tone; the phone may dial |
//! | flash again | `Hold(false)` |
//! | hang-up on hold after dialling | `Transfer{to}` for the held leg (SIP REFER); the leg ends when the SIP leg ends |
//! | hang-up with a second call (waiting or held), or with the call held | the current leg `Released` (16); the phone rings again for the other (GR-506 reminder ring); answering takes it off hold (or answers it) |
//! | the waiting caller gives up | the tone stops; `Released` |
//! | a third call | `Released` with 17 (486) |
//!
//! An outbound leg reports its channel as
//! media only once answered (FXO: by answer supervision; FXS: the phone
//! went off-hook): until then the shell, not the media pump, owns the
//! channel's audio (dial tone, ringback, busy and reorder detection;
//! caller-ID and tone generation).

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use tandem_signalling::fxo::{AnswerSupervision, DisconnectSupervision, FxoConfig, FxoPort, StartType};
use tandem_signalling::fxs::{CallerIdTiming, FxsConfig, FxsPort, HangupSignalling};
use tandem_signalling::{Absence, Cadence, CallEvent, CallerIdInfo, Command, DialMode, DialPlan, HangupReason, LineCommand, LineInput, Output, Progress, Tone};

use super::zones::{Refusal, ToneZone, refusal_for_cause};
use super::{ChannelAddr, ChannelChoice, ChannelInfo, ChannelState, IncomingKey, TdmInput, TdmInterface, TdmIo, TdmOutput};
use crate::call::model::{Cause, Law, LegCommand, LegEvent, LegIdentity, LegRef, MediaEndpoint, Party, Presentation, Release, Setup};
use crate::config::analog::{AnalogConfig, AnswerPolicy, AnswerSupervisionName, CidFormat, CidPosition, DialModeName, PortKind, StartName, TransferRelease};

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
    /// FXS: a call for a phone in a call waits.
    pub call_waiting: bool,
    /// FXS blind transfer: end our leg on the NOTIFY's outcome (else on the 202).
    pub transfer_await_notify: bool,
    /// FXS: the zone's ring cadence when it has more than one (on, off)
    /// pair (e.g. the UK's 0.4/0.2/0.4/2.0 s double ring), rung as a
    /// repeating pattern; `None` rings `fxs.ring_cadence`.
    pub ring_pattern: Option<Vec<Cadence>>,
}

impl AnalogSettings {
    /// Settings from an `[[analog]]` section and its ports, in its tone zone
    /// (as the config resolves it, [`crate::config::Config::tone_zone`]).
    pub fn from_config(cfg: &AnalogConfig, ports: Vec<AnalogPort>, zone: &ToneZone) -> AnalogSettings {
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
        if let Some(t) = &cfg.howler_after_ms {
            fxs.howler_after = Duration::from_millis(*t.get_ref());
        }
        let ms = |v: u32| Duration::from_millis(u64::from(v));
        let mut ring_pattern = None;
        if let Some(c) = &cfg.ring_cadence
            && let [on, off] = c.get_ref()[..]
        {
            fxs.ring_cadence = Cadence { on: Duration::from_millis(on), off: Duration::from_millis(off) };
        } else if let Some(&(on, off)) = zone.ring_cadence.first() {
            fxs.ring_cadence = Cadence { on: ms(on), off: ms(off) };
            if zone.ring_cadence.len() > 1 {
                ring_pattern = Some(zone.ring_cadence.iter().map(|&(on, off)| Cadence { on: ms(on), off: ms(off) }).collect());
            }
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
        fxs.cidcw = cfg.call_waiting_caller_id.as_ref().is_none_or(|v| *v.get_ref());
        // The ACK is timed from when the core sends the CAS, and the line's
        // audio path (the command reaching the port's thread, blocks queued
        // toward the phone, a block read back, the digit reaching the core)
        // adds to the GR-30 160 ms: about 200 ms on a quiet machine, more
        // when the port's thread waits to run. A late window only makes an
        // alert with no ACK mute the far end a little longer.
        fxs.cas_ack_window = Duration::from_millis(600);
        if let Some(&(on, _)) = zone.call_waiting.cadence.first() {
            fxs.cw_tone = ms(on);
        }
        AnalogSettings {
            name: cfg.name.get_ref().clone(),
            ports,
            law: Law::Ulaw,
            line: cfg.line.as_ref().map(|l| l.get_ref().clone()),
            fxo,
            fxs,
            call_waiting: cfg.call_waiting.as_ref().is_none_or(|v| *v.get_ref()),
            transfer_await_notify: cfg.transfer_release.as_ref().is_none_or(|v| *v.get_ref() == TransferRelease::OnNotify),
            ring_pattern,
        }
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

    fn fxs(&mut self) -> Option<&mut FxsPort> {
        match self {
            Core::Fxs(p) => Some(p),
            Core::Fxo(_) => None,
        }
    }
}

/// An FXS port's second call: waiting (not yet answered) or held.
#[derive(Debug, Clone)]
struct Other {
    leg: LegRef,
    /// Answered once (then it is held), else waiting.
    answered: bool,
    /// Its caller ID, for ringing the phone again for it.
    caller_id: Option<CallerIdInfo>,
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
    /// FXS: the leg's call has been answered.
    answered: bool,
    /// FXS: the phone holds the leg (recall dial tone, or ringing again for it).
    on_hold: bool,
    /// FXS: a second call, waiting or held.
    other: Option<Other>,
    /// FXS: the leg whose media the port muted (call-waiting alert).
    muted: Option<LegRef>,
    /// FXO, blocked: a ring burst is being ignored (logged once per burst).
    ring_ignored: bool,
}

/// One `[[analog]]` interface. See the [module documentation](self).
pub struct AnalogInterface {
    settings: AnalogSettings,
    ports: Vec<Port>,
    out: VecDeque<TdmOutput>,
    next_key: u64,
    /// Legs handed over by a transfer: no longer on a port, they end when
    /// call control releases them.
    detached: Vec<LegRef>,
    /// Ports the operator blocked: no outbound call (an FXS phone is not
    /// rung, an FXO line not seized) and no incoming call from a blocked FXO
    /// line (its ringing is ignored); a call on one goes on.
    blocked: std::collections::BTreeSet<ChannelAddr>,
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
                answered: false,
                on_hold: false,
                other: None,
                muted: None,
                ring_ignored: false,
            })
            .collect();
        AnalogInterface { settings, ports, out: VecDeque::new(), next_key: 1, detached: Vec::new(), blocked: Default::default() }
    }

    /// The settings.
    pub fn settings(&self) -> &AnalogSettings {
        &self.settings
    }

    fn port_of_leg(&self, leg: LegRef) -> Option<usize> {
        self.ports.iter().position(|p| p.leg == Some(leg) || p.other.as_ref().is_some_and(|o| o.leg == leg))
    }

    /// A blocked FXO line with no call on it presents no incoming call: its
    /// ringing, caller ID and idle polarity reversals never reach the core,
    /// so the line stays on hook. Returns whether `input` was dropped.
    fn ignores_incoming(&mut self, i: usize, input: &LineInput) -> bool {
        let p = &mut self.ports[i];
        if !matches!(p.core, Core::Fxo(_)) || !self.blocked.contains(&p.hw.addr) || p.leg.is_some() || p.key.is_some() {
            return false;
        }
        match input {
            LineInput::RingBegin => {
                if !p.ring_ignored {
                    p.ring_ignored = true;
                    tracing::info!(interface = %self.settings.name, channo = p.hw.channo, port = %p.hw.addr, "ringing on blocked line ignored");
                }
                true
            }
            LineInput::RingEnd => {
                p.ring_ignored = false;
                true
            }
            LineInput::CallerId(_) | LineInput::Polarity => true,
            _ => false,
        }
    }

    /// Whether port `i` can take a waiting call now.
    fn can_wait(&self, i: usize) -> bool {
        let p = &self.ports[i];
        let Core::Fxs(core) = &p.core else { return false };
        self.settings.call_waiting
            && p.leg.is_some()
            && p.answered
            && !p.on_hold
            && p.other.is_none()
            && core.state() == tandem_signalling::fxs::FxsState::Connected
            && !core.on_hold()
            && !core.call_waiting_alert()
    }

    fn identity(&self, i: usize) -> LegIdentity {
        let hw = &self.ports[i].hw;
        LegIdentity { interface: self.settings.name.clone(), span: Some(hw.addr.span), channel: Some(hw.addr.pos), sip_call_id: None }
    }

    fn media(&self, i: usize) -> MediaEndpoint {
        MediaEndpoint::Tdm { channo: self.ports[i].hw.channo, law: self.settings.law }
    }

    /// Drains port `i`'s core into the interface's outputs.
    fn drain(&mut self, i: usize, now: Instant) {
        for _ in 0..256 {
            let Some(o) = self.ports[i].core.poll_output() else { return };
            match o {
                Output::Line(cmd) => self.out.push_back(TdmOutput::Io(TdmIo::Analog(AnalogIo { channo: self.ports[i].hw.channo, cmd }))),
                Output::Call(ev) => self.on_call_event(i, ev, now),
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
            p.answered = false;
            p.on_hold = false;
        }
    }

    /// Port `i` back to no call at all.
    fn free_port(&mut self, i: usize) {
        let p = &mut self.ports[i];
        p.leg = None;
        p.key = None;
        p.outbound = false;
        p.media_sent = false;
        p.answered = false;
        p.on_hold = false;
        p.other = None;
        p.muted = None;
    }

    fn to_leg(&mut self, leg: LegRef, ev: LegEvent) {
        self.out.push_back(TdmOutput::Leg(leg, ev));
    }

    /// A hook flash on FXS port `i` (see the module docs' table).
    fn fxs_flash(&mut self, i: usize, now: Instant) {
        let channo = self.ports[i].hw.channo;
        let current = self.ports[i].leg.filter(|_| self.ports[i].answered);
        if let Some(o) = self.ports[i].other.take() {
            // Swap: hold the current call, answer or resume the other.
            if let Some(core) = self.ports[i].core.fxs() {
                core.resume(now);
            }
            if let Some(a) = current {
                self.to_leg(a, LegEvent::Hold(true));
            }
            if o.answered {
                self.to_leg(o.leg, LegEvent::Hold(false));
            } else {
                let m = self.media(i);
                self.to_leg(o.leg, LegEvent::Media(m));
                self.to_leg(o.leg, LegEvent::Answered { connected: None });
            }
            tracing::info!(interface = %self.settings.name, channo, held = ?current, now_talking = %o.leg, "flash: calls swapped");
            let p = &mut self.ports[i];
            p.other = current.map(|leg| Other { leg, answered: true, caller_id: None });
            if p.leg.is_some() && current.is_none() {
                // An unanswered current leg cannot be held; it stays the port's no longer.
                tracing::debug!(channo, "flash with an unanswered current call");
            }
            p.leg = Some(o.leg);
            p.answered = true;
            p.on_hold = false;
            p.outbound = true;
            p.media_sent = true;
            return;
        }
        let Some(a) = current else {
            tracing::info!(interface = %self.settings.name, channo, "hook flash with no call to act on");
            return;
        };
        let on_hold = self.ports[i].core.fxs().is_some_and(|c| c.on_hold());
        if on_hold {
            if let Some(core) = self.ports[i].core.fxs() {
                core.resume(now);
            }
            self.ports[i].on_hold = false;
            tracing::info!(interface = %self.settings.name, channo, leg = %a, "flash: call resumed");
            self.to_leg(a, LegEvent::Hold(false));
        } else {
            let r = self.ports[i].core.fxs().map(|c| c.hold(now));
            match r {
                Some(Ok(())) => {
                    self.ports[i].on_hold = true;
                    tracing::info!(interface = %self.settings.name, channo, leg = %a, "flash: call held, recall dial tone");
                    self.to_leg(a, LegEvent::Hold(true));
                }
                Some(Err(e)) => tracing::info!(interface = %self.settings.name, channo, error = %e, "flash not acted on"),
                None => {}
            }
        }
    }

    /// The phone on FXS port `i` hung up: ends the current call, or rings
    /// the phone again for a held or waiting one. True if it did the latter.
    fn fxs_hangup_with_calls_left(&mut self, i: usize, now: Instant) -> bool {
        let p = &mut self.ports[i];
        let ring_for = match p.other.take() {
            Some(o) => {
                // The current call ends; the other one rings the phone.
                if let Some(a) = p.leg.take() {
                    self.out.push_back(TdmOutput::Leg(a, LegEvent::Released(Release { cause: Cause::NORMAL_CLEARING, wire: Some("on-hook".into()) })));
                }
                Some(o)
            }
            None if p.on_hold && p.leg.is_some() => p.leg.map(|leg| Other { leg, answered: true, caller_id: None }),
            None => None,
        };
        let Some(o) = ring_for else { return false };
        let p = &mut self.ports[i];
        p.leg = Some(o.leg);
        p.answered = o.answered;
        p.on_hold = o.answered;
        p.outbound = true;
        p.media_sent = false;
        let r = p.core.handle_command(Command::Alert { caller_id: o.caller_id, cadence: None }, now);
        tracing::info!(interface = %self.settings.name, channo = p.hw.channo, leg = %o.leg, held = o.answered, ok = r.is_ok(), "on-hook with a call left: ringing the phone for it");
        if r.is_err() {
            let leg = o.leg;
            self.release_now(i, Release { cause: Cause::NORMAL_CLEARING, wire: Some("on-hook".into()) });
            let _ = leg;
        }
        true
    }

    fn send_media(&mut self, i: usize) {
        if !self.ports[i].media_sent {
            self.ports[i].media_sent = true;
            let m = self.media(i);
            self.leg_event(i, LegEvent::Media(m));
        }
    }

    fn on_call_event(&mut self, i: usize, ev: CallEvent, now: Instant) {
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
                if self.ports[i].on_hold {
                    // Rung again for a held call: off hold.
                    self.ports[i].on_hold = false;
                    self.ports[i].media_sent = true;
                    self.leg_event(i, LegEvent::Hold(false));
                } else if self.ports[i].outbound {
                    self.send_media(i);
                    self.leg_event(i, LegEvent::Answered { connected: None });
                }
                self.ports[i].answered = true;
            }
            CallEvent::Progress(Progress::Dialing) => self.leg_event(i, LegEvent::Proceeding),
            // Dialled: the shell keeps listening for ringback, busy and
            // reorder until answer supervision, so the media waits.
            CallEvent::Progress(Progress::Proceeding) => tracing::debug!(interface = %self.settings.name, channo, "dialled; awaiting answer"),
            CallEvent::Progress(Progress::Ringback) => self.leg_event(i, LegEvent::Alerting { inband: false }),
            CallEvent::Hangup { reason: HangupReason::Normal } if self.fxs_hangup_with_calls_left(i, now) => {}
            CallEvent::Hangup { reason } => {
                let (cause, wire) = cause_of(reason);
                tracing::info!(interface = %self.settings.name, channo, ?reason, "line cleared");
                self.leg_event(i, LegEvent::Released(Release { cause, wire: Some(wire.to_owned()) }));
            }
            CallEvent::Digit(d) => tracing::debug!(interface = %self.settings.name, channo, digit = %d, "digit during the call"),
            CallEvent::Flash => self.fxs_flash(i, now),
            CallEvent::Mute(true) => {
                if let Some(leg) = self.ports[i].leg.filter(|_| self.ports[i].answered) {
                    self.ports[i].muted = Some(leg);
                    self.to_leg(leg, LegEvent::Mute(true));
                }
            }
            CallEvent::Mute(false) => {
                if let Some(leg) = self.ports[i].muted.take() {
                    self.to_leg(leg, LegEvent::Mute(false));
                }
            }
            CallEvent::Transfer { number } => {
                let p = &mut self.ports[i];
                match p.leg.take() {
                    Some(leg) => {
                        tracing::info!(interface = %self.settings.name, channo, %leg, %number, "blind transfer of the held call");
                        p.other = None;
                        self.free_port(i);
                        self.detached.push(leg);
                        let await_result = self.settings.transfer_await_notify;
                        self.to_leg(leg, LegEvent::Transfer { to: number, await_result });
                    }
                    None => tracing::debug!(channo, "transfer with no call"),
                }
            }
        }
    }

    /// A call for FXS port `i`, in a call: it waits (call-waiting tone and caller ID).
    fn wait(&mut self, i: usize, leg: LegRef, setup: &Setup, now: Instant) {
        let caller_id = setup.calling.as_ref().map(caller_id_of);
        let r = self.ports[i].core.fxs().map(|c| c.call_waiting(caller_id.clone(), now));
        if !matches!(r, Some(Ok(()))) {
            self.to_leg(leg, LegEvent::Released(Release { cause: Cause::USER_BUSY, wire: Some("phone busy".into()) }));
            return;
        }
        tracing::info!(interface = %self.settings.name, channo = self.ports[i].hw.channo, %leg, "call waiting");
        self.ports[i].other = Some(Other { leg, answered: false, caller_id });
        let id = self.identity(i);
        self.to_leg(leg, LegEvent::Identity(id));
        self.to_leg(leg, LegEvent::Alerting { inband: false });
        self.drain(i, now);
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

    /// Refuses the call the phone on FXS port `i` dialled, not yet
    /// answered, with the tone of `cause` ([`refusal_for_cause`]: busy, SIT
    /// vacant code then reorder, or reorder) until the phone hangs up. False
    /// (nothing done) for any other port or call state.
    fn refuse_in_band(&mut self, i: usize, cause: Cause, now: Instant) -> bool {
        let p = &mut self.ports[i];
        if p.outbound || p.answered || p.other.is_some() {
            return false;
        }
        let refusal = refusal_for_cause(cause);
        let tone = match refusal {
            Refusal::Busy => Tone::Busy,
            Refusal::Sit(_) => Tone::Sit,
            Refusal::Reorder => Tone::Reorder,
        };
        let channo = p.hw.channo;
        let Some(core) = p.core.fxs() else { return false };
        match core.refuse(tone, now) {
            Ok(()) => {
                tracing::info!(interface = %self.settings.name, channo, %cause, ?refusal, "dialled call refused: tone to the phone until on-hook");
                true
            }
            Err(_) => false,
        }
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
        HangupReason::Unallocated => (Cause::UNALLOCATED, "special information tone"),
    }
}

impl TdmInterface for AnalogInterface {
    fn kind(&self) -> &'static str {
        "analog"
    }

    fn name(&self) -> &str {
        &self.settings.name
    }

    fn spans(&self) -> Vec<u32> {
        let mut s: Vec<u32> = self.ports.iter().map(|p| p.hw.addr.span).collect();
        s.dedup();
        s
    }

    fn originate(&mut self, leg: LegRef, setup: &Setup, channel: ChannelChoice, now: Instant) {
        let blocked = &self.blocked;
        let free = |p: &Port| p.leg.is_none() && p.key.is_none() && p.other.is_none() && p.core.is_idle() && !blocked.contains(&p.hw.addr);
        let pick = match channel {
            ChannelChoice::Exclusive(a) => self.ports.iter().position(|p| p.hw.addr == a && free(p)),
            ChannelChoice::Preferred(a) => self.ports.iter().position(|p| p.hw.addr == a && free(p)).or_else(|| self.ports.iter().position(free)),
            ChannelChoice::Any => self.ports.iter().position(free),
        };
        let Some(i) = pick else {
            // An FXS port in a call: the call waits, or (a third call) it is busy.
            let asked = match channel {
                ChannelChoice::Exclusive(a) | ChannelChoice::Preferred(a) => self.ports.iter().position(|p| p.hw.addr == a && p.hw.kind == PortKind::Fxs),
                ChannelChoice::Any => None,
            };
            let waits = asked.or_else(|| (0..self.ports.len()).find(|&k| self.can_wait(k))).filter(|&k| self.can_wait(k));
            if let Some(k) = waits {
                self.wait(k, leg, setup, now);
                return;
            }
            if let Some(k) = asked
                && self.ports[k].leg.is_some()
            {
                self.out.push_back(TdmOutput::Leg(leg, LegEvent::Released(Release { cause: Cause::USER_BUSY, wire: Some("phone busy".into()) })));
                return;
            }
            self.out.push_back(TdmOutput::Leg(leg, LegEvent::Released(Release { cause: Cause::NO_CIRCUIT, wire: Some("no idle port".into()) })));
            return;
        };
        let cmd = match self.ports[i].hw.kind {
            PortKind::Fxo => Command::Dial(setup.called.trim_start_matches('+').to_owned()),
            PortKind::Fxs => {
                let caller_id = setup.calling.as_ref().map(caller_id_of);
                match setup.alert_info.as_deref().and_then(distinctive_ring) {
                    Some((pattern, repeat)) => Command::AlertPattern { caller_id, pattern, repeat },
                    None => match &self.settings.ring_pattern {
                        Some(pattern) => Command::AlertPattern { caller_id, pattern: pattern.clone(), repeat: true },
                        None => Command::Alert { caller_id, cadence: None },
                    },
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
                self.drain(i, now);
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
        if let Some(k) = self.detached.iter().position(|l| *l == leg) {
            // A transferred leg: it ends when call control says so.
            if let LegCommand::Release(r) = cmd {
                self.detached.swap_remove(k);
                self.to_leg(leg, LegEvent::Released(r));
            }
            return;
        }
        let Some(i) = self.port_of_leg(leg) else { return };
        if self.ports[i].other.as_ref().is_some_and(|o| o.leg == leg) {
            // The second call of an FXS port: only its end matters.
            if let LegCommand::Release(r) = cmd {
                let o = self.ports[i].other.take().expect("checked above");
                if !o.answered
                    && let Some(core) = self.ports[i].core.fxs()
                {
                    core.stop_call_waiting(now);
                }
                tracing::info!(interface = %self.settings.name, channo = self.ports[i].hw.channo, %leg, waiting = !o.answered, "the second call ended");
                self.to_leg(leg, LegEvent::Released(r));
                if self.ports[i].leg.is_none() {
                    // Nothing left for the off-hook phone: signal the disconnect.
                    let _ = self.ports[i].core.handle_command(Command::Hangup, now);
                }
                self.drain(i, now);
            }
            return;
        }
        match cmd {
            LegCommand::Answer { .. } => {
                if let Err(e) = self.ports[i].core.handle_command(Command::Answer, now) {
                    tracing::debug!(%leg, error = %e, "answer not applicable on the line");
                }
                self.ports[i].answered = true;
                self.drain(i, now);
            }
            LegCommand::Release(r) if self.ports[i].other.is_some() => {
                // The current call's far end hung up; the other call stays for a flash or the reminder ring.
                tracing::info!(interface = %self.settings.name, channo = self.ports[i].hw.channo, %leg, "the current call ended; another remains");
                let p = &mut self.ports[i];
                p.leg = None;
                p.answered = false;
                p.on_hold = false;
                p.media_sent = false;
                self.to_leg(leg, LegEvent::Released(r));
            }
            LegCommand::Release(r) if self.refuse_in_band(i, r.cause, now) => {
                self.drain(i, now);
                if self.ports[i].leg == Some(leg) {
                    self.release_now(i, r);
                }
            }
            LegCommand::Release(r) => {
                let _ = self.ports[i].core.handle_command(Command::Hangup, now);
                self.drain(i, now);
                // The core reports no hang-up for one it was asked for.
                if self.ports[i].leg == Some(leg) {
                    self.release_now(i, r);
                }
            }
            LegCommand::Alerting { inband } | LegCommand::Progress { inband } if !self.ports[i].outbound && !self.ports[i].answered => {
                // A call the phone dialled: ringback from here while the far
                // end rings without audio of its own; its own audio otherwise.
                let ring = matches!(cmd, LegCommand::Alerting { .. }) && !inband;
                if (ring || inband)
                    && let Some(core) = self.ports[i].core.fxs()
                    && core.ringback(ring, now).is_ok()
                {
                    tracing::debug!(%leg, ring, "local ringback to the phone");
                }
                self.drain(i, now);
            }
            LegCommand::Flash => {
                // Only an FXO core in a call takes it: the port flashes the CO loop.
                match self.ports[i].core.handle_command(Command::Flash, now) {
                    Ok(()) => tracing::info!(%leg, "hook flash sent on the line"),
                    Err(e) => tracing::info!(%leg, error = %e, "hook flash not applicable on the line"),
                }
                self.drain(i, now);
            }
            other => tracing::debug!(%leg, cmd = ?other, "not signalled on an analog line"),
        }
    }

    fn handle_input(&mut self, input: TdmInput, now: Instant) {
        match input {
            TdmInput::Analog(a) => {
                if let Some(i) = self.ports.iter().position(|p| p.hw.channo == a.channo) {
                    if self.ignores_incoming(i, &a.input) {
                        return;
                    }
                    self.ports[i].core.handle_input(a.input, now);
                    self.drain(i, now);
                }
            }
            TdmInput::Alarm { .. } | TdmInput::Pri(_) | TdmInput::Cas(_) => {}
        }
    }

    fn handle_timeout(&mut self, now: Instant) {
        for i in 0..self.ports.len() {
            if self.ports[i].core.poll_timeout().is_some_and(|t| t <= now) {
                self.ports[i].core.handle_timeout(now);
                self.drain(i, now);
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
        let idle = |p: &Port| p.leg.is_none() && p.key.is_none() && p.other.is_none() && p.core.is_idle();
        // With no port idle, the first phone that can take a waiting call shows as free.
        let waiting = if self.ports.iter().any(idle) { None } else { (0..self.ports.len()).find(|&k| self.can_wait(k)) };
        self.ports
            .iter()
            .enumerate()
            .map(|(k, p)| ChannelInfo {
                addr: p.hw.addr,
                channo: p.hw.channo,
                state: if self.blocked.contains(&p.hw.addr) && idle(p) {
                    ChannelState::Maintenance
                } else if (idle(p) || waiting == Some(k)) && !self.blocked.contains(&p.hw.addr) {
                    ChannelState::Idle
                } else {
                    ChannelState::Busy
                },
            })
            .collect()
    }

    /// Outbound calls skip the port (the hunt sees it in maintenance); an
    /// FXS port blocked is not rung, an FXO line not seized, and an FXO
    /// line's ringing is ignored (no incoming call, the line stays on hook).
    fn set_blocked(&mut self, addr: ChannelAddr, blocked: bool, _now: Instant) -> bool {
        if !self.ports.iter().any(|p| p.hw.addr == addr) {
            return false;
        }
        tracing::info!(interface = %self.settings.name, port = %addr, blocked, "analog port {} by the operator", if blocked { "blocked" } else { "unblocked" });
        if blocked {
            self.blocked.insert(addr);
        } else {
            self.blocked.remove(&addr);
            for p in self.ports.iter_mut().filter(|p| p.hw.addr == addr) {
                p.ring_ignored = false;
            }
        }
        true
    }

    fn blocked(&self) -> Vec<ChannelAddr> {
        self.blocked.iter().copied().collect()
    }

    fn is_up(&self) -> bool {
        true
    }

    fn busy_cause(&self) -> Option<Cause> {
        // Every phone line off hook, ringing or refusing, and none can take a
        // waiting call: the line (or hunt group of lines) is busy, 17, as a
        // switch tells the caller. FXO ports all taken are circuits: 34.
        let phones = self.ports.iter().any(|p| p.hw.kind == PortKind::Fxs);
        let none_free = self.ports.iter().all(|p| p.leg.is_some() || p.key.is_some() || p.other.is_some() || !p.core.is_idle());
        // Phones blocked by the operator are unavailable rather than busy (34).
        let none_free = none_free && !self.ports.iter().any(|p| self.blocked.contains(&p.hw.addr) && p.leg.is_none());
        (phones && none_free && !(0..self.ports.len()).any(|k| self.can_wait(k))).then_some(Cause::USER_BUSY)
    }

    fn message_waiting(&mut self, waiting: bool, now: Instant) {
        for i in 0..self.ports.len() {
            if self.ports[i].hw.kind == PortKind::Fxs {
                // An FXS core takes it at once when idle, else when the call ends.
                if let Err(e) = self.ports[i].core.handle_command(Command::Mwi(waiting), now) {
                    tracing::debug!(channo = self.ports[i].hw.channo, error = %e, "message waiting not applicable");
                }
                self.drain(i, now);
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
