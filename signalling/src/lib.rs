//! Sans-IO analog line signalling for FXO and FXS ports.
//!
//! This crate holds the *decision logic* of analog telephone line signalling,
//! separated from everything that touches the outside world, in the style of
//! `quinn-proto` and `str0m`:
//!
//! * no clock: every entry point takes `now: Instant`, and the port asks for the
//!   next wake-up with [`poll_timeout`](fxo::FxoPort::poll_timeout);
//! * no I/O, threads or async: the *shell* (e.g. a DAHDI channel driver) turns
//!   hardware events into [`LineInput`]s and executes the [`LineCommand`]s the
//!   port emits;
//! * no SIP: call control talks to the port with [`Command`]s and receives
//!   [`CallEvent`]s.
//!
//! Two port types are provided:
//!
//! * [`fxo::FxoPort`]: Tandem is the *phone* on a line from a CO/PBX (ring
//!   detection with cadence validation, caller-ID capture, seizure, dial tone
//!   detection, dialling, answer and disconnect supervision, hook flash);
//! * [`fxs::FxsPort`]: a phone is plugged into Tandem (dial tone, stutter dial
//!   tone for message waiting, digit collection against a [`DialPlan`],
//!   ringing with cadence, caller-ID transmission, answer/hangup/flash
//!   detection, disconnect signalling by polarity reversal or open loop).
//!
//! # The run loop
//!
//! ```
//! use std::time::{Duration, Instant};
//! use tandem_signalling::{fxo::{FxoConfig, FxoPort}, LineInput, Output};
//!
//! let mut port = FxoPort::new(FxoConfig::default());
//! let t0 = Instant::now();
//! // 1. feed whatever happened (line events from the shell, commands from call control)
//! port.handle_input(LineInput::RingBegin, t0);
//! // 2. fire expired timers (the shell sleeps until `poll_timeout()`, or until the next event)
//! port.handle_timeout(t0 + Duration::from_millis(500));
//! // 3. drain outputs: line commands go to the hardware, call events to call control
//! while let Some(out) = port.poll_output() {
//!     match out {
//!         Output::Line(cmd) => { /* execute on the hardware */ let _ = cmd; }
//!         Output::Call(ev) => { /* hand to call control */ let _ = ev; }
//!     }
//! }
//! // 4. sleep until `port.poll_timeout()` or the next input, whichever comes first.
//! let _next_wake = port.poll_timeout();
//! ```
//!
//! Inputs are processed in time order: every `handle_*` call first fires the
//! timers that expired at or before its `now`. Time never needs to be read from
//! the system, so tests drive the machines deterministically with a fixed
//! `Instant` base plus `Duration` offsets. Instants that go backwards are
//! tolerated (treated as "no time has passed"). No input sequence panics.
//!
//! Call control is told about things it did not itself request: the port emits
//! no [`CallEvent::Hangup`] for a [`Command::Hangup`], nor an
//! [`CallEvent::Answered`] for a [`Command::Answer`].
#![forbid(unsafe_code)]
#![warn(missing_docs)]

use std::time::{Duration, Instant};

pub mod cas;
pub mod dialplan;
pub mod fxo;
pub mod fxs;

pub use dialplan::{DialPlan, DialPlanError, PlanMatch};

/// Call-progress tones (detected on an FXO line, or played to an FXS phone).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Tone {
    /// Steady dial tone.
    DialTone,
    /// Stutter (interrupted) dial tone: message waiting indication. Only played.
    StutterDialTone,
    /// Busy tone.
    Busy,
    /// Reorder / congestion / fast busy.
    Reorder,
    /// Audible ringing.
    Ringback,
    /// Call-waiting tone (subscriber alerting signal) over a call (FXS). Only played.
    CallWaiting,
    /// Receiver off-hook tone (howler): a phone left off hook with no call
    /// (FXS). Only played.
    Howler,
    /// A Special Information Tone (vacant code), then reorder: the number
    /// cannot be reached as dialled. An FXS port plays it to refuse a call;
    /// an FXO port hears it while placing one.
    Sit,
}

/// Caller identification, as demodulated by the shell or sent to a phone.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CallerIdInfo {
    /// Calling number, if presented.
    pub number: Option<String>,
    /// Calling name, if presented.
    pub name: Option<String>,
    /// Date/time field ("MMDDHHMM"), if presented.
    pub datetime: Option<String>,
    /// Why the number is not delivered, if it is not.
    pub number_absent: Option<Absence>,
    /// Why the name is not delivered, if it is not.
    pub name_absent: Option<Absence>,
}

/// Why caller ID leaves out a number or name (GR-30 / ETSI EN 300 659-3 `P` and `O`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Absence {
    /// Withheld by the caller (`P`, private).
    Private,
    /// Not available, e.g. out of area (`O`).
    Unavailable,
}

/// Events from the line hardware / DSP, reported by the shell.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LineInput {
    /// Ring voltage started (FXO).
    RingBegin,
    /// Ring voltage stopped (FXO).
    RingEnd,
    /// Loop closed: the phone went off-hook (FXS).
    OffHook,
    /// Loop opened: the phone went on-hook (FXS).
    OnHook,
    /// A hook flash as timed by the hardware (FXS).
    WinkFlash,
    /// Line polarity reversed (FXO).
    Polarity,
    /// Loop current / battery lost (FXO open-loop disconnect).
    /// On a ground-start line while seizing this is not used.
    BatteryLost,
    /// Loop current / battery back (FXO). On a ground-start line during
    /// seizure this is the CO's tip-ground acknowledgement.
    BatteryRestored,
    /// DTMF digit detected.
    Digit(char),
    /// Pulse (rotary) digit decoded by the shell.
    PulseDigit(char),
    /// A call-progress tone was detected (FXO).
    ToneDetected(Tone),
    /// Caller ID demodulated by the shell (FXO).
    CallerId(CallerIdInfo),
    /// The shell finished emitting a [`LineCommand::Dial`] (FXO).
    DialComplete,
}

/// How digits are dialled on an FXO line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum DialMode {
    /// Tone dialling.
    #[default]
    Dtmf,
    /// Loop-disconnect pulse dialling (digits 0-9 only).
    Pulse,
}

/// When caller ID is sent relative to ringing (FXS).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CallerIdWhen {
    /// Before the first ring (ETSI / UK / Japan style); the shell emits the
    /// alerting signal it needs (line reversal, DT-AS, RP-AS).
    BeforeFirstRing,
    /// In the silence between the first and second ring (Bellcore style).
    AfterFirstRing,
    /// Off-hook, over a call: caller ID on call waiting (GR-30 type II), after
    /// the phone acknowledged the CPE alerting signal; no channel seizure.
    CallWaiting,
}

/// Commands for the shell to execute on the line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LineCommand {
    /// Close the loop (FXO seize / answer).
    OffHook,
    /// Open the loop (FXO release).
    OnHook,
    /// Apply ring voltage (FXS).
    Ring,
    /// Remove ring voltage (FXS).
    RingOff,
    /// Perform a hook flash (FXO).
    Flash,
    /// Dial the digits; answer with [`LineInput::DialComplete`] when done.
    Dial {
        /// Digits to dial (`0-9`, `*`, `#`, `A-D`, `,` = pause).
        digits: String,
        /// DTMF or pulse.
        mode: DialMode,
    },
    /// Set line polarity: `true` = reversed, `false` = normal (FXS).
    Polarity(bool),
    /// Battery feed on (`true`) or removed for an open-loop disconnect (FXS).
    Battery(bool),
    /// Transmit caller ID now (FXS).
    SendCallerId(CallerIdInfo, CallerIdWhen),
    /// Start playing a tone to the phone (FXS).
    PlayTone(Tone),
    /// Stop the tone being played.
    StopTone,
    /// Visual message waiting indicator on/off (FXS).
    Vmwi(bool),
    /// Send the CPE alerting signal (GR-30 CAS, 2130 + 2750 Hz) to an off-hook phone (FXS).
    SendCas,
}

/// Call progress reported to call control.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Progress {
    /// FXO: dial tone found, dialling started.
    Dialing,
    /// FXO: dialling finished, waiting for answer.
    Proceeding,
    /// FXO: ringback tone detected.
    Ringback,
}

/// How a remote disconnect was detected (FXO).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DisconnectMethod {
    /// Battery lost for at least the configured minimum (open loop disconnect).
    OpenLoop,
    /// Polarity reversal while connected.
    Polarity,
    /// A call-progress tone after answer (busy, reorder, dial tone).
    Tone(Tone),
}

/// Why a call ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HangupReason {
    /// The local party (FXS phone) hung up.
    Normal,
    /// The far end disconnected (FXO), detected by the given method.
    RemoteDisconnect(DisconnectMethod),
    /// Busy tone while setting up an outgoing call (FXO).
    Busy,
    /// Reorder / congestion while setting up an outgoing call (FXO).
    Reorder,
    /// No dial tone (or no ground-start acknowledgement) after seizing (FXO).
    NoDialTone,
    /// No answer supervision within the configured time (FXO).
    NoAnswer,
    /// Ringing stopped before the call was answered (FXO).
    Abandoned,
    /// A Special Information Tone while setting up an outgoing call (FXO):
    /// the number is unallocated or cannot be reached.
    Unallocated,
}

/// Events for call control.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CallEvent {
    /// A new incoming call (FXO ringing validated / caller ID received).
    Incoming {
        /// Caller ID, if captured before presentation.
        caller_id: Option<CallerIdInfo>,
    },
    /// The phone dialled a complete number (FXS).
    Dialed {
        /// The collected digits (terminator removed).
        number: String,
    },
    /// The call was answered (FXS phone off-hook, FXO answer supervision).
    Answered,
    /// The call ended.
    Hangup {
        /// Why.
        reason: HangupReason,
    },
    /// Call progress (FXO outgoing).
    Progress(Progress),
    /// A digit received during the call.
    Digit(char),
    /// The phone flashed the hook during a call (FXS).
    Flash,
    /// The port needs the line's audio for itself (`true`: call-waiting
    /// tone, CAS, caller ID on call waiting) or is done with it (`false`):
    /// the call's media pauses meanwhile (FXS).
    Mute(bool),
    /// The phone hung up while its call was on hold after dialling a
    /// number: transfer the held party there (FXS blind transfer).
    Transfer {
        /// The digits dialled after the flash.
        number: String,
    },
}

/// Ring cadence: `on` ringing, `off` silence, repeated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cadence {
    /// Ring burst duration.
    pub on: Duration,
    /// Silence between bursts.
    pub off: Duration,
}

impl Default for Cadence {
    /// North American standard: 2 s on, 4 s off.
    fn default() -> Self {
        Cadence { on: Duration::from_secs(2), off: Duration::from_secs(4) }
    }
}

/// Commands from call control.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// FXO: seize the line and dial this number.
    Dial(String),
    /// FXO: answer the ringing call. FXS: the far end answered.
    Answer,
    /// Release the call (FXO: go on-hook; FXS: signal disconnect to the phone,
    /// or stop ringing).
    Hangup,
    /// FXO: hook flash.
    Flash,
    /// FXS: ring the phone.
    Alert {
        /// Caller ID to send, if any.
        caller_id: Option<CallerIdInfo>,
        /// Cadence; `None` uses the configured one.
        cadence: Option<Cadence>,
    },
    /// FXS: set the message-waiting state (VMWI + stutter dial tone).
    Mwi(bool),
    /// FXS: ring the phone with a pattern of several on/off phases (a
    /// distinctive ring such as Bellcore dr2: 0.8 s on, 0.4 s off, 0.8 s on,
    /// 4 s off). Caller ID after the first ring goes in the pattern's last
    /// silence. With `repeat == false` the pattern rings once.
    AlertPattern {
        /// Caller ID to send, if any.
        caller_id: Option<CallerIdInfo>,
        /// The phases in order; empty uses the configured cadence.
        pattern: Vec<Cadence>,
        /// Ring the pattern over and over (else once, then stay silent).
        repeat: bool,
    },
}

impl Command {
    fn name(&self) -> &'static str {
        match self {
            Command::Dial(_) => "Dial",
            Command::Answer => "Answer",
            Command::Hangup => "Hangup",
            Command::Flash => "Flash",
            Command::Alert { .. } => "Alert",
            Command::Mwi(_) => "Mwi",
            Command::AlertPattern { .. } => "AlertPattern",
        }
    }
}

/// Something the port wants done.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Output {
    /// For the shell / hardware.
    Line(LineCommand),
    /// For call control.
    Call(CallEvent),
}

/// A rejected command. The port state is unchanged.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// The command is not valid in the port's current state.
    #[error("command {command} is not valid in state {state}")]
    InvalidState {
        /// Command name.
        command: &'static str,
        /// State name.
        state: &'static str,
    },
    /// The port type does not support this command.
    #[error("command {0} is not supported on this port type")]
    Unsupported(&'static str),
    /// The dial string is empty or has characters the dial mode cannot send.
    #[error("invalid dial string {0:?}")]
    InvalidDialString(String),
}

/// `now + d`, saturating to `now` on overflow (absurd configured durations).
pub(crate) fn at(now: Instant, d: Duration) -> Instant {
    now.checked_add(d).unwrap_or(now)
}

/// Largest number of timer steps processed by a single `handle_timeout`.
pub(crate) const MAX_TIMER_STEPS: usize = 64;
