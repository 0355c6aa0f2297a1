//! FXS port: a phone is plugged into Tandem.
//!
//! Outgoing: the phone goes off-hook → dial tone ([`Tone::StutterDialTone`]
//! while message waiting is set); the first digit stops the tone; digits (DTMF
//! or pulse, decoded by the shell) are collected against the [`DialPlan`] with
//! first-digit and inter-digit timeouts and an optional terminator (`#`).
//! A complete number is reported as [`CallEvent::Dialed`]; a number no pattern
//! can match, or a timeout with nothing matched, gives reorder tone (lockout)
//! until the phone hangs up.
//!
//! Incoming: [`Command::Alert`] rings the phone with a cadence, sending caller
//! ID before the first ring or in the first silence, per
//! [`FxsConfig::caller_id`]. Off-hook answers ([`CallEvent::Answered`]).
//!
//! During a call: an on-hook shorter than [`FxsConfig::hookflash_min`] is a
//! bounce (ignored); one shorter than [`FxsConfig::hookflash_max`] is a hook
//! flash ([`CallEvent::Flash`], as is [`LineInput::WinkFlash`]); a longer one is
//! a hangup ([`CallEvent::Hangup`], reported when `hookflash_max` expires).
//! A far-end [`Command::Hangup`] is signalled to the phone by polarity
//! reversal and/or an open-loop disconnect (battery removed), per
//! [`FxsConfig::hangup`], followed by reorder tone until the phone hangs up.
//! A dialled call refused before answer ([`FxsPort::refuse`]) instead gets
//! the refusal's tone (busy, SIT then reorder, or reorder) until the phone
//! hangs up, with no disconnect signal.
//!
//! Call waiting ([`FxsPort::call_waiting`], during a call): the port asks
//! for the line's audio ([`CallEvent::Mute`]`(true)`), plays the call-waiting
//! tone ([`FxsConfig::cw_tone`]), then, with caller ID on call waiting,
//! the CPE alerting signal ([`LineCommand::SendCas`], [`FxsConfig::cas`]);
//! if the phone acknowledges with DTMF `A` or `D` within
//! [`FxsConfig::cas_ack_window`] of the CAS's end, caller ID follows
//! ([`CallerIdWhen::CallWaiting`]) after [`FxsConfig::cidcw_delay`]; without
//! an ACK no FSK is sent. Then the call's audio comes back
//! (`Mute(false)`). Which call the phone talks to after a flash is call
//! control's business; the port only reports the flash.
//!
//! Hold with recall dial tone ([`FxsPort::hold`], after a flash with no
//! call waiting): the phone hears recall (stutter) dial tone and its digits
//! are collected instead of passed on; [`FxsPort::resume`] (a second flash)
//! ends it. Hanging up in that state with digits dialled reports
//! [`CallEvent::Transfer`] (blind transfer of the held party) instead of a
//! hang-up.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use crate::{
    Cadence, CallEvent, CallerIdInfo, CallerIdWhen, Command, DialPlan, Error, HangupReason, LineCommand, LineInput, MAX_TIMER_STEPS, Output, PlanMatch, Tone,
    at,
};

/// How long a rung-out, non-repeating ring pattern sleeps between idle timer
/// checks (it stays silent until answered or cleared).
const RUNG_OUT_IDLE: Duration = Duration::from_secs(3600);

/// Shortest ring / silence phase honoured (shorter cadence values are raised to this).
pub const MIN_PHASE: Duration = Duration::from_millis(1);

/// When (if at all) caller ID is sent to the phone.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum CallerIdTiming {
    /// Never send caller ID.
    Off,
    /// Before the first ring.
    BeforeFirstRing,
    /// In the silence after the first ring (Bellcore). Default.
    #[default]
    AfterFirstRing,
}

/// How a far-end disconnect is signalled to the phone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HangupSignalling {
    /// Reverse polarity (or restore it, if answer reversed it). Default false.
    pub polarity_reversal: bool,
    /// Remove battery for this long (open loop disconnect). Default 750 ms.
    pub open_loop: Option<Duration>,
}

impl Default for HangupSignalling {
    fn default() -> Self {
        HangupSignalling { polarity_reversal: false, open_loop: Some(Duration::from_millis(750)) }
    }
}

/// FXS configuration. All durations have the documented defaults.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FxsConfig {
    /// Dial plan. Default [`DialPlan::any`].
    pub dial_plan: DialPlan,
    /// Digit that ends dialling early (not part of the number). Default `#`.
    pub terminator: Option<char>,
    /// Wait for the first digit after dial tone. Default 10 s.
    pub first_digit_timeout: Duration,
    /// Wait between digits. Default 4 s.
    pub inter_digit_timeout: Duration,
    /// Most digits collected before the number is rejected. Default 32.
    pub max_digits: usize,
    /// Default ring cadence. Default 2 s on / 4 s off. Phases shorter than
    /// [`MIN_PHASE`] are raised to it.
    pub ring_cadence: Cadence,
    /// Caller ID timing. Default after the first ring.
    pub caller_id: CallerIdTiming,
    /// Gap between sending caller ID and the first ring (before-first-ring
    /// mode). Default 2 s.
    pub cid_before_ring_gap: Duration,
    /// Delay after the end of the first ring before sending caller ID
    /// (after-first-ring mode). Default 500 ms.
    pub cid_after_ring_delay: Duration,
    /// Reverse polarity when the far end answers (answer supervision to the
    /// phone or a PBX). Default false.
    pub answer_polarity: bool,
    /// Far-end disconnect signalling.
    pub hangup: HangupSignalling,
    /// On-hook shorter than this is contact bounce. Default 80 ms.
    pub hookflash_min: Duration,
    /// On-hook up to this long is a hook flash; longer is a hangup. Default 700 ms.
    pub hookflash_max: Duration,
    /// Call-waiting tone before the CAS. Default 300 ms (GR-506-CORE §14.3,
    /// the subscriber alerting signal: 440 Hz for 300 ms).
    pub cw_tone: Duration,
    /// Send caller ID on call waiting (CAS, ACK, FSK). Default true.
    pub cidcw: bool,
    /// CPE alerting signal length. Default 80 ms (GR-30-CORE: 75–85 ms).
    pub cas: Duration,
    /// How long after the CAS ends an ACK digit is awaited. Default 160 ms
    /// (GR-30-CORE: the set answers within 100 ms; the office allows 160 ms).
    pub cas_ack_window: Duration,
    /// Pause between the ACK and the FSK. Default 100 ms (GR-30-CORE: 50–500 ms).
    pub cidcw_delay: Duration,
    /// Off-hook with no call (reorder, busy or a refusal tone): how long
    /// before the receiver off-hook tone (howler) takes over. Default 30 s
    /// (GR-506-CORE permanent-signal treatment); zero: never.
    pub howler_after: Duration,
    /// How long the howler plays before the line goes silent until on-hook.
    /// Default 40 s.
    pub howler_for: Duration,
}

impl Default for FxsConfig {
    fn default() -> Self {
        FxsConfig {
            dial_plan: DialPlan::any(),
            terminator: Some('#'),
            first_digit_timeout: Duration::from_secs(10),
            inter_digit_timeout: Duration::from_secs(4),
            max_digits: 32,
            ring_cadence: Cadence::default(),
            caller_id: CallerIdTiming::AfterFirstRing,
            cid_before_ring_gap: Duration::from_secs(2),
            cid_after_ring_delay: Duration::from_millis(500),
            answer_polarity: false,
            hangup: HangupSignalling::default(),
            hookflash_min: Duration::from_millis(80),
            hookflash_max: Duration::from_millis(700),
            cw_tone: Duration::from_millis(300),
            cidcw: true,
            cas: Duration::from_millis(80),
            cas_ack_window: Duration::from_millis(160),
            cidcw_delay: Duration::from_millis(100),
            howler_after: Duration::from_secs(30),
            howler_for: Duration::from_secs(40),
        }
    }
}

/// Observable FXS state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FxsState {
    /// Phone on-hook, nothing happening.
    Idle,
    /// Off-hook, collecting digits.
    Collecting,
    /// Number dialled, waiting for call control (answer / hangup).
    Outgoing,
    /// Ringing the phone.
    Alerting,
    /// Call up.
    Connected,
    /// Open-loop disconnect in progress (battery removed).
    Disconnecting,
    /// Off-hook with no call: reorder (or a refusal tone), then the howler,
    /// then silence, until on-hook.
    Lockout,
}

#[derive(Debug, Clone)]
struct Alerting {
    /// The ring phases (one for a plain cadence); never empty.
    pattern: Vec<Cadence>,
    /// The phase ringing now or last.
    step: usize,
    repeat: bool,
    /// A non-repeating pattern has rung out: silent until answered or cleared.
    done: bool,
    /// A ring has started (the first may wait for caller ID).
    started: bool,
    ringing: bool,
    next: Instant,
    cid_after: Option<CallerIdInfo>,
    cid_due: Option<Instant>,
}

/// Where a call-waiting alert (tone, CAS, ACK, FSK) is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum CwPhase {
    Tone,
    Cas,
    AwaitAck,
    AckDelay,
    Fsk,
}

#[derive(Debug, Clone)]
struct CwAlert {
    phase: CwPhase,
    until: Instant,
    caller_id: Option<CallerIdInfo>,
}

/// Bell 202 and V.23 both run at 1200 bit/s, 10 bits per byte.
const FSK_BYTES_PER_SEC: u64 = 120;

/// How long a caller-ID message for `info` takes on the line (mark, MDMF
/// header and fields, checksum), generously.
fn fsk_time(info: &Option<CallerIdInfo>) -> Duration {
    let fields = info.as_ref().map_or(0, |i| i.number.as_deref().map_or(3, str::len) + i.name.as_deref().map_or(3, str::len) + 10);
    // 80 ms of mark before the message (GR-30 type II), 8 bytes of framing, and margin.
    Duration::from_millis(80 + (fields as u64 + 8) * 1000 / FSK_BYTES_PER_SEC + 150)
}

#[derive(Debug, Clone)]
enum State {
    Idle,
    Collecting {
        digits: String,
        deadline: Instant,
        complete_on_timeout: bool,
    },
    Outgoing,
    Alerting(Alerting),
    Connected,
    Disconnecting {
        until: Instant,
        on_hook: bool,
    },
    /// `next`: when the howler starts (not `howling`) or stops (`howling`).
    Lockout {
        next: Option<Instant>,
        howling: bool,
    },
}

/// Sans-IO FXS port. See the [module docs](self) and the [crate docs](crate).
#[derive(Debug)]
pub struct FxsPort {
    config: FxsConfig,
    state: State,
    out: VecDeque<Output>,
    tone: Option<Tone>,
    reversed: bool,
    mwi: bool,
    mwi_dirty: bool,
    /// When the phone went on-hook during a call (flash or hangup pending).
    hook_down: Option<Instant>,
    /// A call-waiting alert in progress (Connected only).
    cw: Option<CwAlert>,
    /// On hold with recall dial tone: the digits dialled since (Connected only).
    recall: Option<String>,
}

impl FxsPort {
    /// A new idle port (phone assumed on-hook, normal polarity, battery on).
    pub fn new(config: FxsConfig) -> Self {
        FxsPort {
            config,
            state: State::Idle,
            out: VecDeque::new(),
            tone: None,
            reversed: false,
            mwi: false,
            mwi_dirty: false,
            hook_down: None,
            cw: None,
            recall: None,
        }
    }

    /// The configuration.
    pub fn config(&self) -> &FxsConfig {
        &self.config
    }

    /// Current state.
    pub fn state(&self) -> FxsState {
        match self.state {
            State::Idle => FxsState::Idle,
            State::Collecting { .. } => FxsState::Collecting,
            State::Outgoing => FxsState::Outgoing,
            State::Alerting(_) => FxsState::Alerting,
            State::Connected => FxsState::Connected,
            State::Disconnecting { .. } => FxsState::Disconnecting,
            State::Lockout { .. } => FxsState::Lockout,
        }
    }

    /// Whether the port is idle.
    pub fn is_idle(&self) -> bool {
        matches!(self.state, State::Idle)
    }

    /// Current message-waiting state.
    pub fn mwi(&self) -> bool {
        self.mwi
    }

    /// Next output, if any.
    pub fn poll_output(&mut self) -> Option<Output> {
        self.out.pop_front()
    }

    /// When [`handle_timeout`](Self::handle_timeout) should next be called.
    pub fn poll_timeout(&self) -> Option<Instant> {
        let hook = self.hook_down.map(|t| at(t, self.config.hookflash_max));
        let state = match &self.state {
            State::Collecting { deadline, .. } => Some(*deadline),
            State::Alerting(a) => Some(a.cid_due.map_or(a.next, |c| c.min(a.next))),
            State::Disconnecting { until, .. } => Some(*until),
            State::Connected => self.cw.as_ref().map(|c| c.until),
            State::Lockout { next, .. } => *next,
            State::Idle | State::Outgoing => None,
        };
        match (hook, state) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Fires every timer due at or before `now`.
    pub fn handle_timeout(&mut self, now: Instant) {
        for _ in 0..MAX_TIMER_STEPS {
            match self.poll_timeout() {
                Some(t) if t <= now => self.on_timer(t, now),
                _ => return,
            }
        }
    }

    fn on_timer(&mut self, due: Instant, now: Instant) {
        if let Some(down) = self.hook_down
            && at(down, self.config.hookflash_max) <= due
        {
            // On-hook too long for a flash: the phone hung up (with a held
            // party and a number dialled: transfer it there).
            match self.recall.take().filter(|d| !d.is_empty()) {
                Some(number) => self.emit_call(CallEvent::Transfer { number }),
                None => self.emit_call(CallEvent::Hangup { reason: HangupReason::Normal }),
            }
            self.go_idle();
            return;
        }
        if matches!(self.state, State::Connected)
            && let Some(cw) = self.cw.as_mut()
            && cw.until <= due
        {
            // Timed from when the step was due, so a late tick keeps the GR-30 windows.
            self.cw_step(due);
            return;
        }
        let c = &self.config;
        match &mut self.state {
            State::Collecting { digits, complete_on_timeout, .. } => {
                if *complete_on_timeout {
                    let number = std::mem::take(digits);
                    self.dialed(number);
                } else {
                    self.lockout(now);
                }
            }
            State::Alerting(a) => {
                if let Some(cid_due) = a.cid_due
                    && cid_due <= due
                    && cid_due <= a.next
                {
                    a.cid_due = None;
                    if let Some(info) = a.cid_after.take() {
                        self.emit_line(LineCommand::SendCallerId(info, CallerIdWhen::AfterFirstRing));
                    }
                    return;
                }
                if a.done {
                    a.next = at(now, RUNG_OUT_IDLE);
                } else if a.ringing {
                    a.ringing = false;
                    a.next = at(now, a.pattern[a.step].off);
                    // Caller ID goes in the pattern's last (long) silence.
                    if a.cid_after.is_some() && a.step + 1 == a.pattern.len() {
                        a.cid_due = Some(at(now, c.cid_after_ring_delay));
                    }
                    self.emit_line(LineCommand::RingOff);
                } else if a.started && a.step + 1 == a.pattern.len() && !a.repeat {
                    a.done = true;
                    a.cid_due = None;
                    a.cid_after = None;
                    a.next = at(now, RUNG_OUT_IDLE);
                } else {
                    // Caller ID not sent in its silence is dropped rather than overlap a ring.
                    if a.cid_due.take().is_some() {
                        a.cid_after = None;
                    }
                    a.ringing = true;
                    a.step = if a.started { (a.step + 1) % a.pattern.len() } else { 0 };
                    a.started = true;
                    a.next = at(now, a.pattern[a.step].on);
                    self.emit_line(LineCommand::Ring);
                }
            }
            State::Disconnecting { on_hook, .. } => {
                let on_hook = *on_hook;
                self.emit_line(LineCommand::Battery(true));
                if on_hook {
                    self.go_idle();
                } else {
                    self.lockout(now);
                }
            }
            State::Lockout { next, howling } => {
                if *howling {
                    // The howler has played out: silence until on-hook.
                    *next = None;
                    self.stop_tone();
                } else {
                    *howling = true;
                    *next = Some(at(now, c.howler_for));
                    self.play(Tone::Howler);
                }
            }
            // No timers: unreachable through poll_timeout, but harmless.
            State::Idle | State::Outgoing | State::Connected => {}
        }
    }

    /// Processes a line event detected by the shell.
    pub fn handle_input(&mut self, input: LineInput, now: Instant) {
        self.handle_timeout(now);
        self.on_input(input, now);
        // Zero-length timers started by the input fire now.
        self.handle_timeout(now);
    }

    fn on_input(&mut self, input: LineInput, now: Instant) {
        let c = &self.config;
        match &mut self.state {
            State::Idle => {
                if input == LineInput::OffHook {
                    let deadline = at(now, c.first_digit_timeout);
                    let tone = if self.mwi { Tone::StutterDialTone } else { Tone::DialTone };
                    self.play(tone);
                    self.state = State::Collecting { digits: String::new(), deadline, complete_on_timeout: false };
                }
            }
            State::Collecting { .. } => match input {
                LineInput::Digit(ch) | LineInput::PulseDigit(ch) => self.collect_digit(ch, now),
                LineInput::OnHook => self.go_idle(),
                _ => {}
            },
            State::Outgoing | State::Connected => match input {
                LineInput::OnHook if self.hook_down.is_none() => self.hook_down = Some(now),
                LineInput::OffHook => {
                    if let Some(down) = self.hook_down.take()
                        && now.saturating_duration_since(down) >= c.hookflash_min
                    {
                        self.flashed();
                    }
                }
                LineInput::WinkFlash if self.hook_down.is_none() => self.flashed(),
                LineInput::Digit(ch) if self.cw.as_ref().is_some_and(|c| c.phase == CwPhase::AwaitAck) && matches!(ch, 'A' | 'D') => {
                    // GR-30 ACK: caller ID follows after a short pause.
                    let delay = c.cidcw_delay;
                    if let Some(cw) = self.cw.as_mut() {
                        cw.phase = CwPhase::AckDelay;
                        cw.until = at(now, delay);
                    }
                }
                LineInput::Digit(ch) | LineInput::PulseDigit(ch) if self.hook_down.is_none() => {
                    if let Some(d) = self.recall.as_mut() {
                        if d.is_empty() {
                            self.stop_tone();
                        }
                        if let Some(d) = self.recall.as_mut()
                            && d.len() < self.config.max_digits
                        {
                            d.push(ch);
                        }
                    } else {
                        self.emit_call(CallEvent::Digit(ch));
                    }
                }
                _ => {}
            },
            State::Alerting(a) => {
                if input == LineInput::OffHook {
                    if a.ringing {
                        self.emit_line(LineCommand::RingOff);
                    }
                    self.emit_call(CallEvent::Answered);
                    self.state = State::Connected;
                }
            }
            State::Disconnecting { on_hook, .. } => match input {
                LineInput::OnHook => *on_hook = true,
                LineInput::OffHook => *on_hook = false,
                _ => {}
            },
            State::Lockout { .. } => {
                if input == LineInput::OnHook {
                    self.go_idle();
                }
            }
        }
    }

    /// Processes a command from call control. On error the state is unchanged.
    pub fn handle_command(&mut self, cmd: Command, now: Instant) -> Result<(), Error> {
        self.handle_timeout(now);
        let result = self.on_command(cmd, now);
        self.handle_timeout(now);
        result
    }

    fn on_command(&mut self, cmd: Command, now: Instant) -> Result<(), Error> {
        let invalid = Error::InvalidState { command: cmd.name(), state: self.state_name() };
        match cmd {
            Command::Dial(_) => Err(Error::Unsupported("Dial")),
            Command::Flash => Err(Error::Unsupported("Flash")),
            Command::Mwi(on) => {
                self.mwi = on;
                if self.is_idle() {
                    self.emit_line(LineCommand::Vmwi(on));
                } else {
                    self.mwi_dirty = true;
                }
                Ok(())
            }
            Command::Alert { caller_id, cadence } => {
                let pattern = vec![cadence.unwrap_or(self.config.ring_cadence)];
                self.alert(caller_id, pattern, true, now)
            }
            Command::AlertPattern { caller_id, mut pattern, repeat } => {
                if pattern.is_empty() {
                    pattern.push(self.config.ring_cadence);
                }
                self.alert(caller_id, pattern, repeat, now)
            }
            Command::Answer => match self.state {
                State::Outgoing => {
                    self.stop_tone();
                    if self.config.answer_polarity && !self.reversed {
                        self.reversed = true;
                        self.emit_line(LineCommand::Polarity(true));
                    }
                    self.state = State::Connected;
                    Ok(())
                }
                State::Connected => Ok(()),
                _ => Err(invalid),
            },
            Command::Hangup => {
                match self.state {
                    State::Idle | State::Disconnecting { .. } | State::Lockout { .. } => {}
                    State::Alerting(ref a) => {
                        if a.ringing {
                            self.emit_line(LineCommand::RingOff);
                        }
                        self.go_idle();
                    }
                    // No call exists yet: the phone is still dialling.
                    State::Collecting { .. } => return Err(invalid),
                    State::Outgoing | State::Connected => self.far_end_hangup(now),
                }
                Ok(())
            }
        }
    }

    /// Refuses the call the phone dialled, before any answer: plays `tone`
    /// (the cause's refusal: [`Tone::Busy`], [`Tone::Sit`] or
    /// [`Tone::Reorder`]) until the phone hangs up, as a switch does; the
    /// port is then idle again. Only for a dialled call not yet answered
    /// (else [`Command::Hangup`] signals the disconnect).
    pub fn refuse(&mut self, tone: Tone, now: Instant) -> Result<(), Error> {
        self.handle_timeout(now);
        if !matches!(self.state, State::Outgoing) || self.hook_down.is_some() {
            return Err(Error::InvalidState { command: "Refuse", state: self.state_name() });
        }
        self.play(tone);
        self.state = self.lockout_state(now);
        Ok(())
    }

    /// The far end of the call the phone dialled is ringing (`true`: the
    /// phone hears the zone's ringback, as from a local switch) or sends
    /// its own in-band progress (`false`: the local tone stops). Only
    /// before answer; answer stops the tone too.
    pub fn ringback(&mut self, on: bool, now: Instant) -> Result<(), Error> {
        self.handle_timeout(now);
        if !matches!(self.state, State::Outgoing) || self.hook_down.is_some() {
            return Err(Error::InvalidState { command: "Ringback", state: self.state_name() });
        }
        if on {
            self.play(Tone::Ringback);
        } else {
            self.stop_tone();
        }
        Ok(())
    }

    /// Alerts the phone, in a call, to a waiting call: call-waiting tone,
    /// then (with [`FxsConfig::cidcw`] and caller ID on) CAS, ACK and
    /// caller ID. Refused unless a call is up with no alert running, and not
    /// on hold.
    pub fn call_waiting(&mut self, caller_id: Option<CallerIdInfo>, now: Instant) -> Result<(), Error> {
        self.handle_timeout(now);
        if !matches!(self.state, State::Connected) || self.cw.is_some() || self.recall.is_some() || self.hook_down.is_some() {
            return Err(Error::InvalidState { command: "CallWaiting", state: self.state_name() });
        }
        let caller_id =
            if self.config.cidcw && self.config.caller_id != CallerIdTiming::Off { caller_id.or_else(|| Some(CallerIdInfo::default())) } else { None };
        self.emit_call(CallEvent::Mute(true));
        self.play(Tone::CallWaiting);
        self.cw = Some(CwAlert { phase: CwPhase::Tone, until: at(now, self.config.cw_tone), caller_id });
        Ok(())
    }

    /// Stops a call-waiting alert in progress (the waiting caller gave up).
    pub fn stop_call_waiting(&mut self, now: Instant) {
        self.handle_timeout(now);
        self.end_cw();
    }

    /// Whether a call-waiting alert (tone, CAS, caller ID) is running.
    pub fn call_waiting_alert(&self) -> bool {
        self.cw.is_some()
    }

    /// Puts the call on hold from the phone's side: recall (stutter) dial
    /// tone, and digits are collected for a transfer. Refused unless a call is up.
    pub fn hold(&mut self, now: Instant) -> Result<(), Error> {
        self.handle_timeout(now);
        if !matches!(self.state, State::Connected) || self.recall.is_some() {
            return Err(Error::InvalidState { command: "Hold", state: self.state_name() });
        }
        self.end_cw();
        self.recall = Some(String::new());
        self.tone = None;
        self.play(Tone::StutterDialTone);
        Ok(())
    }

    /// Ends [`hold`](Self::hold): the tone stops and digits pass again.
    pub fn resume(&mut self, now: Instant) {
        self.handle_timeout(now);
        if self.recall.take().is_some() {
            self.stop_tone();
        }
    }

    /// Whether the phone holds its call with recall dial tone.
    pub fn on_hold(&self) -> bool {
        self.recall.is_some()
    }

    fn flashed(&mut self) {
        // The flash first: call control holds the call before its audio is given back.
        self.emit_call(CallEvent::Flash);
        self.end_cw();
    }

    /// The next step of the call-waiting alert.
    fn cw_step(&mut self, now: Instant) {
        // `now` is when the step was due.
        let Some(cw) = self.cw.as_mut() else { return };
        let c = &self.config;
        match cw.phase {
            CwPhase::Tone if cw.caller_id.is_some() => {
                cw.phase = CwPhase::Cas;
                cw.until = at(now, c.cas);
                self.stop_tone();
                self.emit_line(LineCommand::SendCas);
            }
            CwPhase::Cas => {
                cw.phase = CwPhase::AwaitAck;
                cw.until = at(now, c.cas_ack_window);
            }
            CwPhase::AckDelay => {
                let info = cw.caller_id.take().unwrap_or_default();
                cw.phase = CwPhase::Fsk;
                cw.until = at(now, fsk_time(&Some(info.clone())));
                self.emit_line(LineCommand::SendCallerId(info, CallerIdWhen::CallWaiting));
            }
            // Tone without caller ID, no ACK in time, or the FSK has gone out.
            CwPhase::Tone | CwPhase::AwaitAck | CwPhase::Fsk => self.end_cw(),
        }
    }

    fn end_cw(&mut self) {
        if self.cw.take().is_some() {
            if self.tone == Some(Tone::CallWaiting) {
                self.stop_tone();
            }
            self.emit_call(CallEvent::Mute(false));
        }
    }

    fn collect_digit(&mut self, ch: char, now: Instant) {
        let State::Collecting { digits, .. } = &mut self.state else {
            return;
        };
        let first = digits.is_empty();
        if Some(ch) == self.config.terminator && !first {
            let number = std::mem::take(digits);
            match self.config.dial_plan.classify(&number) {
                PlanMatch::Complete | PlanMatch::Ambiguous => self.dialed(number),
                PlanMatch::Partial | PlanMatch::NoMatch => self.lockout(now),
            }
            return;
        }
        digits.push(ch);
        let too_long = digits.chars().count() > self.config.max_digits;
        let m = self.config.dial_plan.classify(digits);
        if first {
            self.stop_tone();
        }
        let State::Collecting { digits, deadline, complete_on_timeout } = &mut self.state else {
            return;
        };
        if too_long {
            self.lockout(now);
            return;
        }
        match m {
            PlanMatch::Complete => {
                let number = std::mem::take(digits);
                self.dialed(number);
            }
            PlanMatch::NoMatch => self.lockout(now),
            PlanMatch::Partial | PlanMatch::Ambiguous => {
                *deadline = at(now, self.config.inter_digit_timeout);
                *complete_on_timeout = m == PlanMatch::Ambiguous;
            }
        }
    }

    fn state_name(&self) -> &'static str {
        match self.state() {
            FxsState::Idle => "Idle",
            FxsState::Collecting => "Collecting",
            FxsState::Outgoing => "Outgoing",
            FxsState::Alerting => "Alerting",
            FxsState::Connected => "Connected",
            FxsState::Disconnecting => "Disconnecting",
            FxsState::Lockout => "Lockout",
        }
    }

    fn far_end_hangup(&mut self, now: Instant) {
        self.end_cw();
        if self.recall.take().is_some() {
            self.stop_tone();
        }
        if self.hook_down.is_some() {
            // The phone is already on-hook (flash window): nothing to signal.
            self.go_idle();
            return;
        }
        let h = self.config.hangup;
        if h.polarity_reversal || (self.reversed && h.open_loop.is_none()) {
            self.reversed = !self.reversed;
            self.emit_line(LineCommand::Polarity(self.reversed));
        }
        match h.open_loop {
            Some(d) => {
                self.emit_line(LineCommand::Battery(false));
                self.state = State::Disconnecting { until: at(now, d), on_hook: false };
            }
            None => self.lockout(now),
        }
    }

    fn dialed(&mut self, number: String) {
        self.emit_call(CallEvent::Dialed { number });
        self.state = State::Outgoing;
    }

    /// Off-hook with no call: reorder, then the howler after `howler_after`.
    fn lockout(&mut self, now: Instant) {
        self.play(Tone::Reorder);
        self.state = self.lockout_state(now);
    }

    fn lockout_state(&self, now: Instant) -> State {
        let next = (!self.config.howler_after.is_zero()).then(|| at(now, self.config.howler_after));
        State::Lockout { next, howling: false }
    }

    /// Starts ringing the phone with `pattern` (not empty), caller ID
    /// before or after the first ring by config.
    fn alert(&mut self, caller_id: Option<CallerIdInfo>, pattern: Vec<Cadence>, repeat: bool, now: Instant) -> Result<(), Error> {
        if !self.is_idle() {
            return Err(Error::InvalidState { command: "Alert", state: self.state_name() });
        }
        // A zero-length phase would spin; 1 ms is the shortest honoured.
        let pattern = pattern.into_iter().map(|c| Cadence { on: c.on.max(MIN_PHASE), off: c.off.max(MIN_PHASE) }).collect::<Vec<_>>();
        let caller_id = match self.config.caller_id {
            CallerIdTiming::Off => None,
            _ => caller_id,
        };
        let first_on = pattern[0].on;
        let mut a = Alerting { pattern, step: 0, repeat, done: false, started: false, ringing: false, next: now, cid_after: None, cid_due: None };
        match (self.config.caller_id, caller_id) {
            (CallerIdTiming::BeforeFirstRing, Some(info)) => {
                self.emit_line(LineCommand::SendCallerId(info, CallerIdWhen::BeforeFirstRing));
                a.next = at(now, self.config.cid_before_ring_gap);
            }
            (_, info) => {
                self.emit_line(LineCommand::Ring);
                a.started = true;
                a.ringing = true;
                a.next = at(now, first_on);
                a.cid_after = info;
            }
        }
        self.state = State::Alerting(a);
        Ok(())
    }

    fn go_idle(&mut self) {
        self.stop_tone();
        if self.reversed {
            self.reversed = false;
            self.emit_line(LineCommand::Polarity(false));
        }
        if self.mwi_dirty {
            self.mwi_dirty = false;
            self.emit_line(LineCommand::Vmwi(self.mwi));
        }
        self.hook_down = None;
        if self.cw.take().is_some() {
            self.emit_call(CallEvent::Mute(false));
        }
        self.recall = None;
        self.state = State::Idle;
    }

    fn play(&mut self, tone: Tone) {
        if self.tone != Some(tone) {
            self.tone = Some(tone);
            self.emit_line(LineCommand::PlayTone(tone));
        }
    }

    fn stop_tone(&mut self) {
        if self.tone.take().is_some() {
            self.emit_line(LineCommand::StopTone);
        }
    }

    fn emit_line(&mut self, c: LineCommand) {
        self.out.push_back(Output::Line(c));
    }

    fn emit_call(&mut self, e: CallEvent) {
        self.out.push_back(Output::Call(e));
    }
}

#[cfg(test)]
mod tests;
