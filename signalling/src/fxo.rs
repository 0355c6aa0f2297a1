//! FXO port: Tandem is the phone on a line from a CO or PBX.
//!
//! Incoming: ring bursts are validated (a burst must last at least
//! [`FxoConfig::min_ring_on`]; shorter spikes are ignored), counted, and the
//! call is presented ([`CallEvent::Incoming`]) as soon as caller ID arrives
//! (if [`FxoConfig::present_on_caller_id`]) or after
//! [`FxoConfig::present_after_rings`] rings. Caller ID may arrive before the
//! first ring (after a polarity reversal), or between the first and second ring.
//! Ringing that stops for [`FxoConfig::ring_timeout`] abandons the call.
//!
//! Outgoing: [`Command::Dial`] seizes the line (on ground start, waits for the
//! tip-ground acknowledgement reported as [`LineInput::BatteryRestored`]),
//! waits for dial tone (or blind-dials after a delay), dials, then waits for
//! answer supervision per [`AnswerSupervision`]. Busy/reorder tones fail the
//! call, and so does a Special Information Tone heard before answer
//! ([`Tone::Sit`], [`HangupReason::Unallocated`]).
//!
//! Connected: disconnect supervision by open loop (battery loss lasting at least
//! [`DisconnectSupervision::open_loop_min`]), polarity reversal, or busy /
//! reorder / dial tone, each individually enabled. After going on-hook the port
//! ignores the line for [`FxoConfig::hangup_guard`] before it is idle again.

use std::time::{Duration, Instant};

use crate::{
    CallEvent, CallerIdInfo, Command, DialMode, DisconnectMethod, Error, HangupReason, LineCommand, LineInput, MAX_TIMER_STEPS, Output, Progress, Tone, at,
};
use std::collections::VecDeque;

/// Line start (seizure / supervision) type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum StartType {
    /// Loop start: no reliable disconnect supervision by default.
    LoopStart,
    /// Ground start: seizure is acknowledged by the CO grounding tip.
    GroundStart,
    /// Kewl start: loop start with open-loop disconnect supervision.
    #[default]
    KewlStart,
}

/// How answer is detected on an outgoing call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AnswerSupervision {
    /// Consider the call answered as soon as dialling completes.
    Immediate,
    /// Consider the call answered this long after dialling completes
    /// (unless busy/reorder are detected first).
    AfterTimeout(Duration),
    /// Wait for the CO's polarity reversal (answer supervision);
    /// fail with [`HangupReason::NoAnswer`] after [`FxoConfig::no_answer_timeout`].
    Polarity,
}

/// Which far-end disconnect indications are honoured while connected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DisconnectSupervision {
    /// Battery loss (open loop / kewl start disconnect). Default: per start type.
    pub open_loop: bool,
    /// Minimum battery loss to count as a disconnect. Default 300 ms.
    pub open_loop_min: Duration,
    /// Polarity reversal while connected. Default false.
    pub polarity: bool,
    /// Busy tone after answer. Default true.
    pub busy: bool,
    /// Reorder tone after answer. Default true.
    pub reorder: bool,
    /// Dial tone after answer. Default true.
    pub dial_tone: bool,
}

impl Default for DisconnectSupervision {
    fn default() -> Self {
        DisconnectSupervision { open_loop: true, open_loop_min: Duration::from_millis(300), polarity: false, busy: true, reorder: true, dial_tone: true }
    }
}

/// FXO configuration. All durations have the documented defaults.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FxoConfig {
    /// Start type. Default kewl start.
    pub start: StartType,
    /// Minimum ring burst to count as a ring (shorter = spike). Default 150 ms.
    pub min_ring_on: Duration,
    /// Silence after the last ring (or caller ID / polarity reversal) after
    /// which the incoming call is abandoned. Default 8 s.
    pub ring_timeout: Duration,
    /// Present the call as soon as caller ID arrives. Default true.
    pub present_on_caller_id: bool,
    /// Present the call after this many rings (min 1). Default 2.
    pub present_after_rings: u32,
    /// Go off-hook as soon as the call is presented (early media) and report
    /// [`CallEvent::Answered`]. Default false.
    pub early_answer: bool,
    /// Wait for dial tone before dialling. Default true.
    pub wait_for_dial_tone: bool,
    /// How long to wait for dial tone (and for ground-start acknowledgement).
    /// Default 3 s.
    pub dial_tone_timeout: Duration,
    /// Delay before blind dialling when not waiting for dial tone. Default 1 s.
    pub blind_dial_delay: Duration,
    /// DTMF or pulse. Default DTMF.
    pub dial_mode: DialMode,
    /// If the shell never reports [`LineInput::DialComplete`], assume it after
    /// this long. Default 30 s.
    pub dial_complete_timeout: Duration,
    /// Answer detection for outgoing calls. Default [`AnswerSupervision::Immediate`].
    pub answer: AnswerSupervision,
    /// No-answer limit when waiting for polarity answer supervision. Default 60 s.
    pub no_answer_timeout: Duration,
    /// Disconnect supervision while connected.
    pub disconnect: DisconnectSupervision,
    /// Time on-hook, ignoring the line, after a call before the port is idle.
    /// Default 500 ms.
    pub hangup_guard: Duration,
    /// After a bare polarity reversal on an idle line (which may announce
    /// caller ID before the first ring), how long to wait for caller ID or a
    /// ring before the reversal is taken as nothing (a CO restoring polarity
    /// after a call, for example). Default 3 s (Tandem's choice: the ETSI
    /// sequence of reversal, data and first ring fits well inside it).
    pub polarity_wait: Duration,
}

impl FxoConfig {
    /// Defaults for a start type (open-loop supervision off for plain loop start).
    pub fn for_start(start: StartType) -> Self {
        let mut c = FxoConfig {
            start,
            min_ring_on: Duration::from_millis(150),
            ring_timeout: Duration::from_secs(8),
            present_on_caller_id: true,
            present_after_rings: 2,
            early_answer: false,
            wait_for_dial_tone: true,
            dial_tone_timeout: Duration::from_secs(3),
            blind_dial_delay: Duration::from_secs(1),
            dial_mode: DialMode::Dtmf,
            dial_complete_timeout: Duration::from_secs(30),
            answer: AnswerSupervision::Immediate,
            no_answer_timeout: Duration::from_secs(60),
            disconnect: DisconnectSupervision::default(),
            hangup_guard: Duration::from_millis(500),
            polarity_wait: Duration::from_secs(3),
        };
        c.disconnect.open_loop = start != StartType::LoopStart;
        c
    }
}

impl Default for FxoConfig {
    fn default() -> Self {
        FxoConfig::for_start(StartType::KewlStart)
    }
}

/// Observable FXO state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FxoState {
    /// On-hook, nothing happening.
    Idle,
    /// Incoming ringing / caller ID in progress (presented or not).
    Ringing,
    /// Off-hook, waiting for ground-start acknowledgement or dial tone.
    Seizing,
    /// Dialling.
    Dialing,
    /// Dialled, waiting for answer supervision.
    AwaitingAnswer,
    /// Call up.
    Connected,
    /// On-hook guard time after a call.
    Guard,
}

#[derive(Debug, Clone)]
struct Ringing {
    rings: u32,
    ring_on: Option<Instant>,
    counted: bool,
    last_seen: Instant,
    caller_id: Option<CallerIdInfo>,
    presented: bool,
    rejected: bool,
}

#[derive(Debug, Clone)]
enum State {
    Idle,
    Ringing(Ringing),
    Seizing { number: String, since: Instant, ground_ok: bool },
    Dialing { since: Instant },
    AwaitingAnswer { since: Instant, ringback: bool },
    Connected { open_since: Option<Instant> },
    Guard { until: Instant },
}

/// Sans-IO FXO port. See the [module docs](self) and the [crate docs](crate).
#[derive(Debug)]
pub struct FxoPort {
    config: FxoConfig,
    state: State,
    out: VecDeque<Output>,
}

impl FxoPort {
    /// A new idle, on-hook port.
    pub fn new(config: FxoConfig) -> Self {
        FxoPort { config, state: State::Idle, out: VecDeque::new() }
    }

    /// The configuration.
    pub fn config(&self) -> &FxoConfig {
        &self.config
    }

    /// Current state.
    pub fn state(&self) -> FxoState {
        match self.state {
            State::Idle => FxoState::Idle,
            State::Ringing(_) => FxoState::Ringing,
            State::Seizing { .. } => FxoState::Seizing,
            State::Dialing { .. } => FxoState::Dialing,
            State::AwaitingAnswer { .. } => FxoState::AwaitingAnswer,
            State::Connected { .. } => FxoState::Connected,
            State::Guard { .. } => FxoState::Guard,
        }
    }

    /// Whether the port is idle (on-hook, no call, no guard time).
    pub fn is_idle(&self) -> bool {
        matches!(self.state, State::Idle)
    }

    /// Next output, if any.
    pub fn poll_output(&mut self) -> Option<Output> {
        self.out.pop_front()
    }

    /// When [`handle_timeout`](Self::handle_timeout) should next be called.
    pub fn poll_timeout(&self) -> Option<Instant> {
        let c = &self.config;
        match &self.state {
            State::Idle => None,
            State::Ringing(r) => {
                let bare = r.rings == 0 && r.ring_on.is_none() && r.caller_id.is_none() && !r.presented;
                let abandon = at(r.last_seen, if bare { c.polarity_wait.min(c.ring_timeout) } else { c.ring_timeout });
                match r.ring_on {
                    Some(on) if !r.counted => Some(at(on, c.min_ring_on).min(abandon)),
                    _ => Some(abandon),
                }
            }
            State::Seizing { since, ground_ok, .. } => {
                if *ground_ok && !c.wait_for_dial_tone {
                    Some(at(*since, c.blind_dial_delay))
                } else {
                    Some(at(*since, c.dial_tone_timeout))
                }
            }
            State::Dialing { since } => Some(at(*since, c.dial_complete_timeout)),
            State::AwaitingAnswer { since, .. } => match c.answer {
                AnswerSupervision::Immediate => Some(*since),
                AnswerSupervision::AfterTimeout(d) => Some(at(*since, d)),
                AnswerSupervision::Polarity => Some(at(*since, c.no_answer_timeout)),
            },
            State::Connected { open_since } => open_since.map(|t| at(t, c.disconnect.open_loop_min)),
            State::Guard { until } => Some(*until),
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
        let c = &self.config;
        match &mut self.state {
            State::Idle => {}
            State::Ringing(r) => {
                if let Some(on) = r.ring_on
                    && !r.counted
                    && due >= at(on, c.min_ring_on)
                {
                    // Ring still on and long enough: it's a real ring.
                    self.count_ring(now);
                    return;
                }
                // Ringing stopped for ring_timeout: abandoned.
                let report = r.presented && !r.rejected;
                if report {
                    self.emit_call(CallEvent::Hangup { reason: HangupReason::Abandoned });
                }
                self.state = State::Idle;
            }
            State::Seizing { number, ground_ok, .. } => {
                if *ground_ok && !c.wait_for_dial_tone {
                    let number = std::mem::take(number);
                    self.start_dialing(number, now);
                } else {
                    self.fail(HangupReason::NoDialTone, now);
                }
            }
            State::Dialing { .. } => self.dial_done(now),
            State::AwaitingAnswer { .. } => match c.answer {
                AnswerSupervision::Immediate | AnswerSupervision::AfterTimeout(_) => self.answered(),
                AnswerSupervision::Polarity => self.fail(HangupReason::NoAnswer, now),
            },
            State::Connected { .. } => self.disconnect(DisconnectMethod::OpenLoop, now),
            State::Guard { .. } => self.state = State::Idle,
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
            State::Idle => match input {
                LineInput::RingBegin => {
                    self.state = State::Ringing(Ringing::new(now, Some(now), None));
                }
                // Polarity reversal ahead of caller ID (ETSI / UK style).
                LineInput::Polarity => self.state = State::Ringing(Ringing::new(now, None, None)),
                LineInput::CallerId(info) => {
                    self.state = State::Ringing(Ringing::new(now, None, Some(info)));
                    self.maybe_present(now);
                }
                _ => {}
            },
            State::Ringing(r) => match input {
                LineInput::RingBegin => {
                    r.ring_on = Some(now);
                    r.counted = false;
                    r.last_seen = now;
                }
                LineInput::RingEnd => {
                    let valid = r.ring_on.is_some_and(|on| !r.counted && now.saturating_duration_since(on) >= c.min_ring_on);
                    r.ring_on = None;
                    r.last_seen = now;
                    if valid {
                        self.count_ring(now);
                    }
                }
                LineInput::CallerId(info) => {
                    r.last_seen = now;
                    if r.caller_id.is_none() && !r.presented {
                        r.caller_id = Some(info);
                        self.maybe_present(now);
                    }
                }
                _ => {}
            },
            State::Seizing { number, since, ground_ok } => match input {
                LineInput::BatteryRestored if !*ground_ok => {
                    *ground_ok = true;
                    *since = now;
                }
                LineInput::ToneDetected(Tone::DialTone) if *ground_ok && c.wait_for_dial_tone => {
                    let number = std::mem::take(number);
                    self.start_dialing(number, now);
                }
                LineInput::ToneDetected(Tone::Busy) => self.fail(HangupReason::Busy, now),
                LineInput::ToneDetected(Tone::Reorder) => self.fail(HangupReason::Reorder, now),
                _ => {}
            },
            State::Dialing { .. } => match input {
                LineInput::DialComplete => self.dial_done(now),
                LineInput::ToneDetected(Tone::Busy) => self.fail(HangupReason::Busy, now),
                LineInput::ToneDetected(Tone::Reorder) => self.fail(HangupReason::Reorder, now),
                _ => {}
            },
            State::AwaitingAnswer { ringback, .. } => match input {
                LineInput::Polarity if c.answer == AnswerSupervision::Polarity => self.answered(),
                // Reported once per call.
                LineInput::ToneDetected(Tone::Ringback) if !*ringback => {
                    *ringback = true;
                    self.emit_call(CallEvent::Progress(Progress::Ringback));
                }
                LineInput::ToneDetected(Tone::Busy) => self.fail(HangupReason::Busy, now),
                LineInput::ToneDetected(Tone::Reorder) => self.fail(HangupReason::Reorder, now),
                LineInput::ToneDetected(Tone::Sit) => self.fail(HangupReason::Unallocated, now),
                _ => {}
            },
            State::Connected { open_since } => {
                let d = c.disconnect;
                match input {
                    LineInput::BatteryLost if d.open_loop && open_since.is_none() => {
                        *open_since = Some(now);
                    }
                    LineInput::BatteryRestored => *open_since = None,
                    LineInput::Polarity if d.polarity => self.disconnect(DisconnectMethod::Polarity, now),
                    LineInput::ToneDetected(t) => {
                        let enabled = match t {
                            Tone::Busy => d.busy,
                            Tone::Reorder => d.reorder,
                            Tone::DialTone => d.dial_tone,
                            _ => false,
                        };
                        if enabled {
                            self.disconnect(DisconnectMethod::Tone(t), now);
                        }
                    }
                    LineInput::Digit(ch) | LineInput::PulseDigit(ch) => self.emit_call(CallEvent::Digit(ch)),
                    _ => {}
                }
            }
            State::Guard { .. } => {}
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
        let state = self.state_name();
        let invalid = Error::InvalidState { command: cmd.name(), state };
        match (cmd, &mut self.state) {
            (Command::Dial(number), State::Idle) => {
                validate_dial_string(&number, self.config.dial_mode)?;
                self.emit_line(LineCommand::OffHook);
                let ground_ok = self.config.start != StartType::GroundStart;
                self.state = State::Seizing { number, since: now, ground_ok };
                Ok(())
            }
            (Command::Dial(_), _) => Err(invalid),
            (Command::Answer, State::Ringing(r)) if r.presented && !r.rejected => {
                self.emit_line(LineCommand::OffHook);
                self.state = State::Connected { open_since: None };
                Ok(())
            }
            (Command::Answer, State::Connected { .. }) => Ok(()),
            (Command::Answer, _) => Err(invalid),
            (Command::Hangup, State::Idle | State::Guard { .. }) => Ok(()),
            (Command::Hangup, State::Ringing(r)) => {
                // Can't reject on an FXO line: ignore the rest of this ringing.
                r.rejected = true;
                Ok(())
            }
            (Command::Hangup, _) => {
                self.go_on_hook(now);
                Ok(())
            }
            (Command::Flash, State::Connected { .. }) => {
                self.emit_line(LineCommand::Flash);
                Ok(())
            }
            (Command::Flash, _) => Err(invalid),
            (Command::Alert { .. }, _) => Err(Error::Unsupported("Alert")),
            (Command::AlertPattern { .. }, _) => Err(Error::Unsupported("AlertPattern")),
            (Command::Mwi(_), _) => Err(Error::Unsupported("Mwi")),
        }
    }

    fn state_name(&self) -> &'static str {
        match self.state() {
            FxoState::Idle => "Idle",
            FxoState::Ringing => "Ringing",
            FxoState::Seizing => "Seizing",
            FxoState::Dialing => "Dialing",
            FxoState::AwaitingAnswer => "AwaitingAnswer",
            FxoState::Connected => "Connected",
            FxoState::Guard => "Guard",
        }
    }

    fn count_ring(&mut self, now: Instant) {
        if let State::Ringing(r) = &mut self.state {
            r.rings = r.rings.saturating_add(1);
            r.counted = true;
            r.last_seen = now;
        }
        self.maybe_present(now);
    }

    fn maybe_present(&mut self, _now: Instant) {
        let c = &self.config;
        let State::Ringing(r) = &mut self.state else {
            return;
        };
        if r.presented || r.rejected {
            return;
        }
        let by_cid = c.present_on_caller_id && r.caller_id.is_some();
        let by_rings = r.rings >= c.present_after_rings.max(1);
        if !(by_cid || by_rings) {
            return;
        }
        r.presented = true;
        let caller_id = r.caller_id.clone();
        self.emit_call(CallEvent::Incoming { caller_id });
        if self.config.early_answer {
            self.emit_line(LineCommand::OffHook);
            self.state = State::Connected { open_since: None };
            self.emit_call(CallEvent::Answered);
        }
    }

    fn start_dialing(&mut self, digits: String, now: Instant) {
        self.emit_call(CallEvent::Progress(Progress::Dialing));
        self.emit_line(LineCommand::Dial { digits, mode: self.config.dial_mode });
        self.state = State::Dialing { since: now };
    }

    fn dial_done(&mut self, now: Instant) {
        self.emit_call(CallEvent::Progress(Progress::Proceeding));
        if self.config.answer == AnswerSupervision::Immediate {
            self.answered();
        } else {
            self.state = State::AwaitingAnswer { since: now, ringback: false };
        }
    }

    fn answered(&mut self) {
        self.state = State::Connected { open_since: None };
        self.emit_call(CallEvent::Answered);
    }

    fn disconnect(&mut self, method: DisconnectMethod, now: Instant) {
        self.go_on_hook(now);
        self.emit_call(CallEvent::Hangup { reason: HangupReason::RemoteDisconnect(method) });
    }

    fn fail(&mut self, reason: HangupReason, now: Instant) {
        self.go_on_hook(now);
        self.emit_call(CallEvent::Hangup { reason });
    }

    fn go_on_hook(&mut self, now: Instant) {
        self.emit_line(LineCommand::OnHook);
        self.state = State::Guard { until: at(now, self.config.hangup_guard) };
    }

    fn emit_line(&mut self, c: LineCommand) {
        self.out.push_back(Output::Line(c));
    }

    fn emit_call(&mut self, e: CallEvent) {
        self.out.push_back(Output::Call(e));
    }
}

impl Ringing {
    fn new(now: Instant, ring_on: Option<Instant>, caller_id: Option<CallerIdInfo>) -> Self {
        Ringing { rings: 0, ring_on, counted: false, last_seen: now, caller_id, presented: false, rejected: false }
    }
}

fn validate_dial_string(s: &str, mode: DialMode) -> Result<(), Error> {
    let ok = !s.is_empty()
        && s.chars().all(|c| match mode {
            DialMode::Dtmf => matches!(c, '0'..='9' | '*' | '#' | 'A'..='D' | ','),
            DialMode::Pulse => matches!(c, '0'..='9' | ','),
        });
    if ok { Ok(()) } else { Err(Error::InvalidDialString(s.to_owned())) }
}

#[cfg(test)]
mod tests;
