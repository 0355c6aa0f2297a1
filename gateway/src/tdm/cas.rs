//! CAS trunks as TDM legs: a sans-IO adapter between call control's legs and
//! the CAS cores of `tandem-signalling` — one [`EmTrunk`] (T1 E&M, FGB, FGD)
//! or [`R2Trunk`] (E1 MFC/R2) per DAHDI channel.
//!
//! [`CasInterface`] is one `[[cas]]` section. It holds no clock, socket or
//! thread. Its inputs are received ABCD bits and tone results from the
//! channel's I/O shell ([`super::cas_io`]) as [`CasInput`], commands from
//! call control, span alarms and `now`; its outputs are [`CasIo`] commands
//! for the shell (transmit bits, send or detect digits, play an R2 MF
//! signal) and leg events.
//!
//! | line (CAS core) | leg |
//! |---|---|
//! | E&M: seizure, start signal, address complete (`Incoming`) | [`TdmOutput::Incoming`]: called = DNIS, calling = ANI (FGD; the II digits are logged) |
//! | R2: address, category and ANI complete (`Incoming`) | [`TdmOutput::Incoming`]: called = DNIS, calling = ANI (restricted when the caller withheld it; the category is logged) |
//! | E&M outbound: address out (and acknowledged, FGD) | `Proceeding`, `Media`, `Progress{inband}` (SIP 183 with SDP: early media) |
//! | E&M outbound before answer: ringback / busy / reorder / SIT heard in band | `Alerting{inband}` / `Released` 17 / 34 / 1 (SIT vacant code or intercept; other SITs 34) |
//! | R2 outbound: group B free | `Media`, `Alerting{inband}` |
//! | answer | `Answered` (outbound) |
//! | clear, refusal, failure | exactly one `Released`, with the [`CasCause`]'s Q.850 cause (R2 group B busy 17, unallocated 1, congestion 34…; glare 44) |
//!
//! and back: `Alerting`/`Progress` on an offered R2 call send group B
//! "free"; `Answer` answers (E&M off hook; R2 free then answer); `Release`
//! before answer refuses an R2 call with the group B signal of its cause
//! (17 busy, 1/3/28 unallocated, 22 number changed, 27 out of order, else
//! congestion), and otherwise clears.
//!
//! **Refusals on E&M trunks travel in band**, as between real switches:
//! E&M has no bit pattern for "busy" or "no such number". `Release` before
//! answer of an incoming E&M call leaves the channel on hook (unanswered)
//! and has the shell play the zone's tone for the cause
//! ([`refusal_for_cause`]): 17 busy tone; 1, 3, 22 and 28 a SIT (vacant
//! code) and then reorder; anything else reorder. The leg is released at
//! once; the channel stays busy until the caller hangs up, or until
//! `refusal_tone_s` has passed (then the trunk clears, and waits for the far
//! end as after any call).
//!
//! The originating side hears them as early media and listens for them:
//! once the address is out (`Proceeding`) the voice path is cut through
//! (`Progress{inband}`, SIP 183 with SDP), so the SIP caller hears the far
//! switch's ringback, announcements, busy tone or SIT; and the daemon
//! starts the stream with the pump's tap (the shell has lent the channel),
//! where [`super::analog_tap`] runs the zone's call-progress detector and a
//! SIT detector over what the line sends and reports [`CallProgress`] as
//! [`CasLineInput::Progress`] until answer. Busy releases the leg with
//! cause 17 (SIP 486), a SIT vacant code or intercept with 1 (404), reorder
//! and other SITs with 34 (503); ringback gives `Alerting{inband}`.
//!
//! **Media.** While address signalling runs the shell owns the channel's
//! audio (MF or DTMF digits, R2 compelled tones). A channel is
//! *media-ready* once that is over — incoming E&M when the address is
//! complete, outgoing E&M when the address is out (early media, above),
//! outgoing R2 when group B said free, incoming R2 when answered — and the
//! interface then says so with [`CasCommand::MediaReady`]; the daemon starts
//! the call's media on the channel (lending it to the pump) only from then
//! on.
//!
//! **Trace.** Every bit transition sent and received and every digit string
//! is logged at info level with the call's leg, e.g.
//! `cas ch=3 tx ABCD=1111 (off-hook)`: the ladder of a CAS call.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use tandem_signalling::cas::em::{EmConfig, EmEvent, EmInput, EmOutput, EmState, EmTrunk};
use tandem_signalling::cas::fgd::{Address, AddressFormat, Ani};
use tandem_signalling::cas::r2::{R2Call, R2Config, R2Event, R2Input, R2Output, R2State, R2Trunk};
use tandem_signalling::cas::r2_variants::{CalledPartyStatus, Category};
use tandem_signalling::cas::{Abcd, CasCause, DigitKind, Framing};

use super::{ChannelAddr, ChannelChoice, ChannelInfo, ChannelState, IncomingKey, TdmInput, TdmInterface, TdmIo, TdmOutput};
use crate::call::model::{Cause, Law, LegCommand, LegEvent, LegIdentity, LegRef, MediaEndpoint, Party, Presentation, Release, Setup};
use crate::config::cas::CasConfig;
use crate::tdm::zones::{SitKind, ToneZone};

/// Input for a CAS interface from a channel's shell.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CasInput {
    /// The channel's DAHDI channel number.
    pub channo: u32,
    pub input: CasLineInput,
}

/// What a channel's shell saw.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CasLineInput {
    /// The received ABCD bits (every change, and on request).
    Bits(Abcd),
    /// Digits the detector started by [`CasCommand::StartDetect`] recognised.
    Digits { kind: DigitKind, digits: String },
    /// The digits of the last [`CasCommand::SendDigits`] are out.
    DigitsSent,
    /// An R2 MF signal (1..=15) started, or the tone stopped (`None`);
    /// `forward` tells which signal set the detector heard.
    R2Mf { forward: bool, signal: Option<u8> },
    /// A call-progress tone the tap's detectors recognised in what the line
    /// sends on an outgoing E&M call ([`super::analog_tap`]).
    Progress(CallProgress),
}

/// A call-progress tone heard in band on an outgoing E&M call before answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CallProgress {
    /// Audible ringing.
    Ringback,
    /// Busy tone.
    Busy,
    /// Reorder (fast busy).
    Reorder,
    /// A Special Information Tone.
    Sit(SitKind),
}

/// The in-band refusal tones, shared with the analog FXS leg.
pub use super::zones::{Refusal, refusal_for_cause};

/// A command for a channel's shell.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CasIo {
    /// The channel's DAHDI channel number.
    pub channo: u32,
    pub cmd: CasCommand,
}

/// What a channel's shell is asked to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CasCommand {
    /// Transmit these ABCD bits (`DAHDI_SETTXBITS`).
    Bits(Abcd),
    /// Send digits in the voice path; answer with [`CasLineInput::DigitsSent`].
    SendDigits { kind: DigitKind, digits: String },
    /// Stop sending digits.
    StopDigits,
    /// Start the digit detector.
    StartDetect(DigitKind),
    /// Stop the digit detector.
    StopDetect,
    /// Play R2 MF signal 1..=15 (forward or backward set) continuously, or stop.
    R2Mf { forward: bool, signal: Option<u8> },
    /// Report the received bits now, changed or not (after an alarm).
    ReportBits,
    /// Address signalling is over (`true`): the call's media may take the
    /// channel; `false` when the channel is back to signalling only.
    MediaReady(bool),
    /// Play a refusal tone of the interface's tone zone until [`CasCommand::StopTone`].
    PlayRefusal { refusal: Refusal },
    /// Stop the refusal tone.
    StopTone,
}

/// One channel as discovery found it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CasChannel {
    pub addr: ChannelAddr,
    /// The DAHDI channel number.
    pub channo: u32,
}

/// The signalling of an interface, with the core's configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CasSignalling {
    /// E&M immediate / wink / delay dial, with plain, FGB or FGD addresses.
    Em(EmConfig),
    /// MFC/R2.
    R2(R2Config),
}

/// Everything a [`CasInterface`] needs: its configuration with the
/// hardware facts and the resolved tone zone filled in.
#[derive(Debug, Clone, PartialEq)]
pub struct CasSettings {
    pub name: String,
    pub channels: Vec<CasChannel>,
    pub law: Law,
    pub signalling: CasSignalling,
    /// R2 outbound: the calling party category.
    pub category: Category,
    /// FGD outbound: the ANI information digits sent with a calling number.
    pub ani_ii: String,
    /// E&M: the tone zone of in-band call progress (refusals played, tones
    /// heard), resolved from the config (`[tones]` overrides included).
    pub zone: ToneZone,
    /// E&M: how long a refused incoming call hears its tone before the trunk clears.
    pub refusal_tone: Duration,
}

impl CasSettings {
    /// Settings from a `[[cas]]` section, its channels, the span's framing
    /// and its resolved tone zone (`Config::tone_zone`).
    pub fn from_config(cfg: &CasConfig, channels: Vec<CasChannel>, framing: Framing, zone: ToneZone) -> CasSettings {
        let signalling = if cfg.is_r2() {
            let mut r = R2Config::new(cfg.variant());
            r.timers = cfg.r2_timers();
            if let Some(m) = &cfg.max_dnis {
                r.max_dnis = *m.get_ref() as usize;
            }
            if let Some(m) = &cfg.max_ani {
                r.max_ani = *m.get_ref() as usize;
            }
            r.direction = cfg.direction();
            r.glare = cfg.glare();
            r.double_answer = cfg.double_answer.unwrap_or(false);
            CasSignalling::R2(r)
        } else {
            let digits = match cfg.digits.as_ref().map(|d| *d.get_ref()) {
                Some(crate::config::cas::DigitsName::Dtmf) => DigitKind::Dtmf,
                _ => DigitKind::MfR1,
            };
            CasSignalling::Em(EmConfig {
                start: cfg.start(),
                digits,
                address: cfg.address(),
                direction: cfg.direction(),
                glare: cfg.glare(),
                framing,
                timers: cfg.em_timers(),
            })
        };
        let law = if framing == Framing::E1 { Law::Alaw } else { Law::Ulaw };
        CasSettings {
            name: cfg.name.get_ref().clone(),
            channels,
            law,
            signalling,
            category: cfg.category.as_ref().map(|c| c.get_ref().category()).unwrap_or_default(),
            ani_ii: cfg.ani_ii.as_ref().map(|i| i.get_ref().clone()).unwrap_or_else(|| "00".into()),
            zone,
            refusal_tone: cfg.refusal_tone(),
        }
    }
}

/// A channel's signalling core.
#[derive(Debug)]
enum Core {
    Em(Box<EmTrunk>),
    R2(Box<R2Trunk>),
}

/// What a core said, in one vocabulary.
enum CoreOut {
    Io(CasCommand),
    Em(EmEvent),
    R2(R2Event),
}

impl Core {
    fn poll(&mut self) -> Option<CoreOut> {
        match self {
            Core::Em(t) => t.poll_output().map(|o| match o {
                EmOutput::Bits(b) => CoreOut::Io(CasCommand::Bits(b)),
                EmOutput::SendDigits { kind, digits } => CoreOut::Io(CasCommand::SendDigits { kind, digits }),
                EmOutput::StopDigits => CoreOut::Io(CasCommand::StopDigits),
                EmOutput::StartDetect(k) => CoreOut::Io(CasCommand::StartDetect(k)),
                EmOutput::StopDetect => CoreOut::Io(CasCommand::StopDetect),
                EmOutput::Event(e) => CoreOut::Em(e),
            }),
            Core::R2(t) => t.poll_output().map(|o| match o {
                R2Output::Bits(b) => CoreOut::Io(CasCommand::Bits(b)),
                R2Output::Mf { forward, signal } => CoreOut::Io(CasCommand::R2Mf { forward, signal }),
                R2Output::Event(e) => CoreOut::R2(e),
            }),
        }
    }

    fn poll_timeout(&self) -> Option<Instant> {
        match self {
            Core::Em(t) => t.poll_timeout(),
            Core::R2(t) => t.poll_timeout(),
        }
    }

    fn handle_timeout(&mut self, now: Instant) {
        match self {
            Core::Em(t) => t.handle_timeout(now),
            Core::R2(t) => t.handle_timeout(now),
        }
    }

    fn is_idle(&self) -> bool {
        match self {
            Core::Em(t) => t.is_idle(),
            Core::R2(t) => t.is_idle(),
        }
    }

    /// An E&M incoming call still offered (not answered, not cleared).
    fn em_offered(&self) -> bool {
        matches!(self, Core::Em(t) if t.state() == EmState::Incoming)
    }

    fn out_of_service(&self) -> bool {
        match self {
            Core::Em(t) => t.state() == EmState::OutOfService,
            Core::R2(t) => t.state() == R2State::OutOfService,
        }
    }

    fn set_alarm(&mut self, alarm: bool, now: Instant) {
        match self {
            Core::Em(t) => t.set_alarm(alarm, now),
            Core::R2(t) => t.set_alarm(alarm, now),
        }
    }

    fn hangup(&mut self, now: Instant) {
        let _ = match self {
            Core::Em(t) => t.hangup(now).map_err(|e| e.to_string()),
            Core::R2(t) => t.hangup(now).map_err(|e| e.to_string()),
        };
    }
}

/// One channel and the call on it.
#[derive(Debug)]
struct Chan {
    hw: CasChannel,
    core: Core,
    /// The leg of the call on the channel, once call control accepted it.
    leg: Option<LegRef>,
    /// An incoming call presented and not yet accepted.
    key: Option<IncomingKey>,
    /// Events of the incoming call that came before `accept`.
    held: Vec<LegEvent>,
    outbound: bool,
    /// Media-ready was announced for the current call.
    ready: bool,
    /// The call was answered.
    answered: bool,
    /// The last bits received (for the trace).
    rx: Option<Abcd>,
    /// A refused incoming call hears its tone until then.
    refusal: Option<Instant>,
    /// Call progress heard in band counts (outgoing E&M before answer).
    progress: bool,
    /// Ringback was passed on as alerting.
    alerted: bool,
    /// Blocked by the operator: busied out (as in an alarm) once no call is on it.
    blocked: bool,
}

/// One `[[cas]]` interface. See the [module documentation](self).
pub struct CasInterface {
    settings: CasSettings,
    chans: Vec<Chan>,
    out: VecDeque<TdmOutput>,
    next_key: u64,
    alarm: bool,
}

impl CasInterface {
    /// An interface with every channel idle (the cores' idle bits are the first outputs).
    pub fn new(settings: CasSettings) -> CasInterface {
        let chans = settings
            .channels
            .iter()
            .map(|hw| Chan {
                hw: *hw,
                core: match &settings.signalling {
                    CasSignalling::Em(c) => Core::Em(Box::new(EmTrunk::new(c.clone()))),
                    CasSignalling::R2(c) => Core::R2(Box::new(R2Trunk::new(c.clone()))),
                },
                leg: None,
                key: None,
                held: Vec::new(),
                outbound: false,
                ready: false,
                answered: false,
                rx: None,
                refusal: None,
                progress: false,
                alerted: false,
                blocked: false,
            })
            .collect();
        let mut i = CasInterface { settings, chans, out: VecDeque::new(), next_key: 1, alarm: false };
        for k in 0..i.chans.len() {
            i.drain(k);
        }
        i
    }

    /// The settings.
    pub fn settings(&self) -> &CasSettings {
        &self.settings
    }

    fn is_r2(&self) -> bool {
        matches!(self.settings.signalling, CasSignalling::R2(_))
    }

    fn chan_of_leg(&self, leg: LegRef) -> Option<usize> {
        self.chans.iter().position(|c| c.leg == Some(leg))
    }

    fn identity(&self, i: usize) -> LegIdentity {
        let hw = &self.chans[i].hw;
        LegIdentity { interface: self.settings.name.clone(), span: Some(hw.addr.span), channel: Some(hw.addr.pos), sip_call_id: None }
    }

    fn media(&self, i: usize) -> MediaEndpoint {
        MediaEndpoint::Tdm { channo: self.chans[i].hw.channo, law: self.settings.law }
    }

    /// The call's name in the trace: its leg, or "-" when none.
    fn who(&self, i: usize) -> String {
        match self.chans[i].leg {
            Some(l) => l.to_string(),
            None if self.chans[i].key.is_some() => "incoming".into(),
            None => "-".into(),
        }
    }

    fn io(&mut self, i: usize, cmd: CasCommand) {
        self.out.push_back(TdmOutput::Io(TdmIo::Cas(CasIo { channo: self.chans[i].hw.channo, cmd })));
    }

    /// Drains channel `i`'s core into the interface's outputs.
    fn drain(&mut self, i: usize) {
        for _ in 0..256 {
            let Some(o) = self.chans[i].core.poll() else { break };
            match o {
                CoreOut::Io(cmd) => {
                    self.trace_io(i, &cmd);
                    self.io(i, cmd);
                }
                CoreOut::Em(ev) => self.on_em(i, ev),
                CoreOut::R2(ev) => self.on_r2(i, ev),
            }
        }
        // A refusal tone ends when the caller hangs up (or an alarm takes the
        // channel): the core is no longer holding the offered call.
        if self.chans[i].refusal.is_some() && !self.chans[i].core.em_offered() {
            self.chans[i].refusal = None;
            tracing::info!(call = %self.who(i), "cas ch={} refusal tone ends: the caller cleared", self.chans[i].hw.channo);
            self.io(i, CasCommand::StopTone);
        }
        let c = &mut self.chans[i];
        if c.progress && (c.leg.is_none() || c.answered) {
            c.progress = false;
        }
        // A channel whose call is over and whose core is idle again is back
        // to signalling only.
        let c = &mut self.chans[i];
        if c.ready && c.leg.is_none() && c.key.is_none() {
            c.ready = false;
            c.answered = false;
            self.io(i, CasCommand::MediaReady(false));
        }
    }

    fn trace_io(&self, i: usize, cmd: &CasCommand) {
        let ch = self.chans[i].hw.channo;
        let who = self.who(i);
        match cmd {
            CasCommand::Bits(b) => tracing::info!(call = %who, "cas ch={ch} tx ABCD={b} ({})", self.meaning(*b, true, i)),
            CasCommand::SendDigits { kind, digits } => tracing::info!(call = %who, "cas ch={ch} tx {} {digits}", kind_name(*kind)),
            CasCommand::R2Mf { forward, signal } => {
                let set = if *forward { "fwd" } else { "bwd" };
                match signal {
                    Some(s) => tracing::info!(call = %who, "cas ch={ch} tx R2 {set} {s}"),
                    None => tracing::debug!(call = %who, "cas ch={ch} tx R2 {set} off"),
                }
            }
            _ => tracing::debug!(call = %who, "cas ch={ch} {cmd:?}"),
        }
    }

    /// What a bit pattern means on this signalling, for the trace.
    fn meaning(&self, b: Abcd, tx: bool, i: usize) -> &'static str {
        if self.is_r2() {
            let fwd = matches!(&self.chans[i].core, Core::R2(t) if t.state() == R2State::Outgoing) == tx;
            match (b.a(), b.b()) {
                (true, false) => "idle",
                (false, false) if fwd => "seize",
                (false, false) => "forced release",
                (true, true) => "seize ack / clear back / blocked",
                (false, true) => "answer",
            }
        } else if b.a() {
            "off-hook"
        } else {
            "on-hook"
        }
    }

    fn leg_event(&mut self, i: usize, ev: LegEvent) {
        let c = &mut self.chans[i];
        let released = matches!(ev, LegEvent::Released(_));
        match (c.leg, c.key) {
            (Some(leg), _) => self.out.push_back(TdmOutput::Leg(leg, ev)),
            (None, Some(_)) => c.held.push(ev),
            (None, None) => return,
        }
        if released {
            let c = &mut self.chans[i];
            if c.leg.is_some() {
                c.leg = None;
                c.key = None;
                c.outbound = false;
            }
        }
    }

    fn set_ready(&mut self, i: usize) {
        if !self.chans[i].ready {
            self.chans[i].ready = true;
            self.io(i, CasCommand::MediaReady(true));
        }
    }

    fn released(&mut self, i: usize, cause: CasCause) {
        let ch = self.chans[i].hw.channo;
        tracing::info!(call = %self.who(i), "cas ch={ch} released: {cause:?} (cause {})", cause.q850());
        self.leg_event(i, LegEvent::Released(Release { cause: Cause(cause.q850()), wire: Some(format!("CAS {cause:?}")) }));
    }

    fn present(&mut self, i: usize, setup: Setup) {
        let key = IncomingKey(self.next_key);
        self.next_key += 1;
        self.chans[i].key = Some(key);
        self.chans[i].outbound = false;
        let identity = self.identity(i);
        let media = self.media(i);
        self.out.push_back(TdmOutput::Incoming { key, setup, identity, media });
    }

    fn on_em(&mut self, i: usize, ev: EmEvent) {
        let ch = self.chans[i].hw.channo;
        match ev {
            EmEvent::Incoming(Address { dnis, ani }) => {
                if self.chans[i].leg.is_some() || self.chans[i].key.is_some() {
                    return;
                }
                let calling = ani.as_ref().map(|a| {
                    let presentation = if a.number.is_empty() { Presentation::Unavailable } else { Presentation::Allowed };
                    Party { number: a.number.clone(), presentation, ..Party::default() }
                });
                tracing::info!(
                    interface = %self.settings.name,
                    "cas ch={ch} rx address DNIS={dnis} ANI={} II={}",
                    ani.as_ref().map(|a| a.number.as_str()).unwrap_or("-"),
                    ani.as_ref().map(|a| a.ii.as_str()).unwrap_or("-")
                );
                self.present(i, Setup { called: dnis, complete: true, calling, ..Setup::default() });
                self.set_ready(i);
            }
            EmEvent::Proceeding => {
                self.leg_event(i, LegEvent::Proceeding);
                // Early media: the voice path is cut through now, and the
                // tap listens for the far switch's ringback, busy, reorder
                // or SIT until answer.
                if self.chans[i].leg.is_some() {
                    self.chans[i].progress = true;
                    self.set_ready(i);
                    let m = self.media(i);
                    self.leg_event(i, LegEvent::Media(m));
                    self.leg_event(i, LegEvent::Progress { inband: true });
                }
            }
            EmEvent::Answered => {
                self.chans[i].answered = true;
                if self.chans[i].outbound {
                    self.set_ready(i);
                    self.leg_event(i, LegEvent::Answered { connected: None });
                }
            }
            EmEvent::Released(cause) => self.released(i, cause),
            EmEvent::ServiceChanged(up) => {
                tracing::info!(interface = %self.settings.name, "cas ch={ch} {}", if up { "in service" } else { "out of service (busied out)" })
            }
        }
    }

    fn on_r2(&mut self, i: usize, ev: R2Event) {
        let ch = self.chans[i].hw.channo;
        match ev {
            R2Event::Incoming { dnis, ani, ani_restricted, category } => {
                if self.chans[i].leg.is_some() || self.chans[i].key.is_some() {
                    return;
                }
                tracing::info!(interface = %self.settings.name, "cas ch={ch} rx address DNIS={dnis} ANI={ani} restricted={ani_restricted} category={category:?}");
                let presentation = match (ani_restricted, ani.is_empty()) {
                    (true, _) => Presentation::Restricted,
                    (false, true) => Presentation::Unavailable,
                    (false, false) => Presentation::Allowed,
                };
                let calling = Some(Party { number: ani, presentation, ..Party::default() });
                self.present(i, Setup { called: dnis, complete: true, calling, ..Setup::default() });
            }
            R2Event::Accepted(status) => {
                tracing::info!(call = %self.who(i), "cas ch={ch} rx group B {status:?}");
                self.set_ready(i);
                let m = self.media(i);
                self.leg_event(i, LegEvent::Media(m));
                self.leg_event(i, LegEvent::Alerting { inband: true });
            }
            R2Event::Answered => {
                self.chans[i].answered = true;
                self.leg_event(i, LegEvent::Answered { connected: None });
            }
            R2Event::MeteringPulse => tracing::info!(call = %self.who(i), "cas ch={ch} metering pulse"),
            R2Event::Released(cause) => self.released(i, cause),
            R2Event::ServiceChanged(up) => {
                tracing::info!(interface = %self.settings.name, "cas ch={ch} {}", if up { "in service" } else { "out of service (blocked)" })
            }
        }
    }

    /// An R2 incoming call that is answered is media-ready (the compelled
    /// group B cycle is over once the core has sent the answer bits).
    fn check_r2_answered(&mut self, i: usize) {
        if let Core::R2(t) = &self.chans[i].core
            && t.state() == R2State::Connected
            && self.chans[i].leg.is_some()
        {
            self.set_ready(i);
        }
    }

    fn free(&self, c: &Chan) -> bool {
        c.leg.is_none() && c.key.is_none() && c.core.is_idle() && !self.alarm && !c.blocked
    }

    fn originate_on(&mut self, i: usize, leg: LegRef, setup: &Setup, now: Instant) {
        let called: String = setup.called.trim_start_matches('+').to_owned();
        let calling = setup.calling.as_ref();
        let c = &mut self.chans[i];
        c.leg = Some(leg);
        c.outbound = true;
        c.ready = false;
        c.answered = false;
        c.alerted = false;
        let id = self.identity(i);
        self.out.push_back(TdmOutput::Leg(leg, LegEvent::Identity(id)));
        let ch = self.chans[i].hw.channo;
        let r = match &mut self.chans[i].core {
            Core::Em(t) => {
                let ani = match t.config().address {
                    AddressFormat::FeatureGroupD { .. } => Some(match calling {
                        Some(p) if p.presentation == Presentation::Allowed && !p.number.is_empty() => {
                            Ani { ii: self.settings.ani_ii.clone(), number: p.number.trim_start_matches('+').to_owned() }
                        }
                        _ => Ani { ii: "02".into(), number: String::new() },
                    }),
                    _ => None,
                };
                tracing::info!(call = %leg, "cas ch={ch} seize: DNIS={called} ANI={}", ani.as_ref().map(|a| a.number.as_str()).unwrap_or("-"));
                t.dial(Address { dnis: called, ani }, now).map_err(|e| {
                    let cause = if matches!(e, tandem_signalling::cas::em::EmError::Address(_)) { Cause::INVALID_NUMBER_FORMAT } else { Cause::NO_CIRCUIT };
                    (cause, e.to_string())
                })
            }
            Core::R2(t) => {
                let call = R2Call {
                    dnis: called.clone(),
                    ani: calling.filter(|p| !p.number.is_empty()).map(|p| p.number.trim_start_matches('+').to_owned()),
                    ani_restricted: calling.is_some_and(|p| p.presentation == Presentation::Restricted),
                    category: self.settings.category,
                };
                tracing::info!(call = %leg, "cas ch={ch} seize: DNIS={called} ANI={}", call.ani.as_deref().unwrap_or("-"));
                t.dial(call, now).map_err(|e| {
                    let cause =
                        if matches!(e, tandem_signalling::cas::r2::R2Error::InvalidNumber(_)) { Cause::INVALID_NUMBER_FORMAT } else { Cause::NO_CIRCUIT };
                    (cause, e.to_string())
                })
            }
        };
        match r {
            Ok(()) => self.drain(i),
            Err((cause, wire)) => {
                tracing::info!(call = %leg, "cas ch={ch} originate refused: {wire}");
                self.leg_event(i, LegEvent::Released(Release { cause, wire: Some(wire) }));
                self.drain(i);
            }
        }
    }

    fn input(&mut self, i: usize, input: CasLineInput, now: Instant) {
        let ch = self.chans[i].hw.channo;
        match input {
            CasLineInput::Bits(b) => {
                if self.chans[i].rx != Some(b) {
                    tracing::info!(call = %self.who(i), "cas ch={ch} rx ABCD={b} ({})", self.meaning(b, false, i));
                    self.chans[i].rx = Some(b);
                }
                match &mut self.chans[i].core {
                    Core::Em(t) => t.handle_input(EmInput::Bits(b), now),
                    Core::R2(t) => t.handle_input(R2Input::Bits(b), now),
                }
            }
            CasLineInput::Digits { kind, digits } => {
                tracing::info!(call = %self.who(i), "cas ch={ch} rx {} {digits}", kind_name(kind));
                if let Core::Em(t) = &mut self.chans[i].core {
                    t.handle_input(EmInput::DigitsReceived { kind, digits, complete: false }, now);
                }
            }
            CasLineInput::DigitsSent => {
                if let Core::Em(t) = &mut self.chans[i].core {
                    t.handle_input(EmInput::DigitsSent, now);
                }
            }
            CasLineInput::Progress(p) => self.progress(i, p, now),
            CasLineInput::R2Mf { forward, signal } => {
                let who = self.who(i);
                if let Core::R2(t) = &mut self.chans[i].core {
                    // The core hears the far register: forward signals when
                    // it is the incoming side, backward ones when outgoing.
                    let wanted = t.state() != R2State::Outgoing;
                    if forward == wanted {
                        match signal {
                            Some(s) => tracing::info!(call = %who, "cas ch={ch} rx R2 {} {s}", if forward { "fwd" } else { "bwd" }),
                            None => tracing::debug!(call = %who, "cas ch={ch} rx R2 off"),
                        }
                        t.handle_input(R2Input::Mf(signal), now);
                    }
                }
            }
        }
        self.drain(i);
        self.check_r2_answered(i);
    }
}

impl CasInterface {
    /// Call progress heard on an outgoing call before answer.
    fn progress(&mut self, i: usize, p: CallProgress, now: Instant) {
        let c = &self.chans[i];
        let (Some(leg), true, false) = (c.leg, c.progress, c.answered) else { return };
        let ch = c.hw.channo;
        tracing::info!(call = %leg, "cas ch={ch} rx in-band {p:?}");
        let cause = match p {
            CallProgress::Ringback => {
                if !self.chans[i].alerted {
                    self.chans[i].alerted = true;
                    self.leg_event(i, LegEvent::Alerting { inband: true });
                }
                return;
            }
            CallProgress::Busy => Cause::USER_BUSY,
            CallProgress::Sit(SitKind::VacantCode | SitKind::Intercept) => Cause::UNALLOCATED,
            CallProgress::Reorder | CallProgress::Sit(_) => Cause::NO_CIRCUIT,
        };
        tracing::info!(call = %leg, "cas ch={ch} clear: {p:?} heard (cause {cause})");
        self.chans[i].core.hangup(now);
        self.leg_event(i, LegEvent::Released(Release { cause, wire: Some(format!("CAS in-band {p:?}")) }));
        self.drain(i);
    }

    /// Refuses an offered incoming E&M call in band (see the module docs).
    fn refuse_in_band(&mut self, i: usize, cause: Cause, now: Instant) {
        let refusal = refusal_for_cause(cause);
        let ch = self.chans[i].hw.channo;
        tracing::info!(call = %self.who(i), "cas ch={ch} refused in band: {refusal:?} (cause {cause}), on hook, for at most {:?}", self.settings.refusal_tone);
        self.chans[i].refusal = Some(now + self.settings.refusal_tone);
        self.io(i, CasCommand::PlayRefusal { refusal });
    }
}

fn kind_name(k: DigitKind) -> &'static str {
    match k {
        DigitKind::MfR1 => "MF",
        DigitKind::Dtmf => "DTMF",
    }
}

/// The group B status that refuses a call for a Q.850 cause.
pub fn status_for_cause(cause: Cause) -> CalledPartyStatus {
    match cause.0 {
        17 => CalledPartyStatus::Busy,
        1 | 3 | 28 => CalledPartyStatus::Unallocated,
        22 => CalledPartyStatus::NumberChanged,
        27 => CalledPartyStatus::OutOfOrder,
        _ => CalledPartyStatus::Congestion,
    }
}

impl TdmInterface for CasInterface {
    fn kind(&self) -> &'static str {
        "cas"
    }

    fn name(&self) -> &str {
        &self.settings.name
    }

    fn spans(&self) -> Vec<u32> {
        let mut s: Vec<u32> = self.chans.iter().map(|c| c.hw.addr.span).collect();
        s.dedup();
        s
    }

    fn originate(&mut self, leg: LegRef, setup: &Setup, channel: ChannelChoice, now: Instant) {
        let pick = match channel {
            ChannelChoice::Exclusive(a) => self.chans.iter().position(|c| c.hw.addr == a && self.free(c)),
            ChannelChoice::Preferred(a) => {
                self.chans.iter().position(|c| c.hw.addr == a && self.free(c)).or_else(|| self.chans.iter().position(|c| self.free(c)))
            }
            ChannelChoice::Any => self.chans.iter().position(|c| self.free(c)),
        };
        match pick {
            Some(i) => self.originate_on(i, leg, setup, now),
            None => self.out.push_back(TdmOutput::Leg(leg, LegEvent::Released(Release { cause: Cause::NO_CIRCUIT, wire: Some("no idle CAS channel".into()) }))),
        }
    }

    fn accept(&mut self, key: IncomingKey, leg: LegRef) {
        let Some(i) = self.chans.iter().position(|c| c.key == Some(key)) else { return };
        self.chans[i].leg = Some(leg);
        let held = std::mem::take(&mut self.chans[i].held);
        for ev in held {
            self.leg_event(i, ev);
        }
    }

    fn command(&mut self, leg: LegRef, cmd: LegCommand, now: Instant) {
        let Some(i) = self.chan_of_leg(leg) else { return };
        let ch = self.chans[i].hw.channo;
        match cmd {
            LegCommand::Alerting { .. } | LegCommand::Progress { .. } => {
                let outbound = self.chans[i].outbound;
                if let Core::R2(t) = &mut self.chans[i].core
                    && !outbound
                    && t.respond(CalledPartyStatus::FreeCharge, now).is_ok()
                {
                    tracing::info!(call = %leg, "cas ch={ch} called party free");
                }
                self.drain(i);
            }
            LegCommand::Answer { .. } => {
                let r = match &mut self.chans[i].core {
                    Core::Em(t) => t.answer(now).map_err(|e| e.to_string()),
                    Core::R2(t) => t.answer(now).map_err(|e| e.to_string()),
                };
                match r {
                    Ok(()) => tracing::info!(call = %leg, "cas ch={ch} answer"),
                    Err(e) => tracing::debug!(call = %leg, error = %e, "answer not applicable on the channel"),
                }
                self.drain(i);
                self.check_r2_answered(i);
            }
            LegCommand::Release(r) => {
                let (outbound, answered) = (self.chans[i].outbound, self.chans[i].answered);
                let em_refusal = !outbound && !answered && self.chans[i].core.em_offered();
                if em_refusal {
                    self.refuse_in_band(i, r.cause, now);
                }
                let refused = match &mut self.chans[i].core {
                    Core::R2(t) if !outbound && !answered => {
                        let status = status_for_cause(r.cause);
                        match t.respond(status, now) {
                            Ok(()) => {
                                tracing::info!(call = %leg, "cas ch={ch} refused: group B {status:?} (cause {})", r.cause);
                                true
                            }
                            Err(_) => false,
                        }
                    }
                    _ => false,
                };
                let refused = refused || em_refusal;
                if !refused {
                    tracing::info!(call = %leg, "cas ch={ch} clear (cause {})", r.cause);
                    self.chans[i].core.hangup(now);
                }
                self.leg_event(i, LegEvent::Released(r));
                self.drain(i);
            }
            other => tracing::debug!(call = %leg, cmd = ?other, "not signalled on a CAS trunk"),
        }
    }

    fn handle_input(&mut self, input: TdmInput, now: Instant) {
        match input {
            TdmInput::Cas(a) => {
                if let Some(i) = self.chans.iter().position(|c| c.hw.channo == a.channo) {
                    self.input(i, a.input, now);
                }
            }
            TdmInput::Alarm { span, in_alarm } => {
                if in_alarm == self.alarm {
                    return;
                }
                self.alarm = in_alarm;
                tracing::info!(interface = %self.settings.name, span, in_alarm, "cas span alarm: channels {}", if in_alarm { "busied out" } else { "back in service" });
                for i in 0..self.chans.len() {
                    if self.chans[i].hw.addr.span != span {
                        continue;
                    }
                    self.chans[i].core.set_alarm(in_alarm, now);
                    self.chans[i].rx = None;
                    self.drain(i);
                    if !in_alarm {
                        self.io(i, CasCommand::ReportBits);
                    }
                }
            }
            _ => {}
        }
    }

    fn handle_timeout(&mut self, now: Instant) {
        for i in 0..self.chans.len() {
            if self.chans[i].refusal.is_some_and(|t| t <= now) {
                self.chans[i].refusal = None;
                tracing::info!(interface = %self.settings.name, "cas ch={} refusal tone over: clear", self.chans[i].hw.channo);
                self.io(i, CasCommand::StopTone);
                self.chans[i].core.hangup(now);
                self.drain(i);
            }
            if self.chans[i].core.poll_timeout().is_some_and(|t| t <= now) {
                self.chans[i].core.handle_timeout(now);
                self.drain(i);
                self.check_r2_answered(i);
            }
        }
    }

    fn poll_timeout(&self) -> Option<Instant> {
        self.chans.iter().flat_map(|c| [c.core.poll_timeout(), c.refusal]).flatten().min()
    }

    fn poll_output(&mut self) -> Option<TdmOutput> {
        self.out.pop_front()
    }

    fn channels(&self) -> Vec<ChannelInfo> {
        self.chans
            .iter()
            .map(|c| ChannelInfo {
                addr: c.hw.addr,
                channo: c.hw.channo,
                state: if self.alarm {
                    ChannelState::Alarm
                } else if c.blocked && c.leg.is_none() && c.key.is_none() {
                    ChannelState::Maintenance
                } else if c.core.out_of_service() {
                    ChannelState::OutOfService
                } else if self.free(c) {
                    ChannelState::Idle
                } else {
                    ChannelState::Busy
                },
            })
            .collect()
    }

    fn is_up(&self) -> bool {
        !self.alarm
    }

    /// The core is taken out of service after any call on the channel: it
    /// sends the busy-out bits an alarm sends; unblocked, it returns to idle.
    fn set_blocked(&mut self, addr: ChannelAddr, blocked: bool, now: Instant) -> bool {
        let Some(i) = self.chans.iter().position(|c| c.hw.addr == addr) else { return false };
        if self.chans[i].blocked == blocked {
            return true;
        }
        self.chans[i].blocked = blocked;
        let ch = self.chans[i].hw.channo;
        let busy = self.chans[i].leg.is_some() || self.chans[i].key.is_some();
        tracing::info!(interface = %self.settings.name, "cas ch={ch} {} by the operator{}", if blocked { "blocked" } else { "unblocked" }, if blocked && busy { " (after the call)" } else { "" });
        match &mut self.chans[i].core {
            Core::Em(t) => t.set_in_service(!blocked, now),
            Core::R2(t) => t.set_in_service(!blocked, now),
        }
        self.drain(i);
        if !blocked && !self.alarm {
            // As after an alarm: the core learns the far end's current bits.
            self.chans[i].rx = None;
            self.io(i, CasCommand::ReportBits);
        }
        true
    }

    fn blocked(&self) -> Vec<ChannelAddr> {
        self.chans.iter().filter(|c| c.blocked).map(|c| c.hw.addr).collect()
    }
}

#[cfg(test)]
mod tests;
