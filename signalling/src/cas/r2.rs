//! E1 MFC/R2: ITU-T Q.421 line signalling on the A and B bits of timeslot
//! 16 and compelled inter-register signalling (Q.441), both directions, with
//! every country difference taken from an [`R2Variant`].
//!
//! # Line signals (forward af bf / backward ab bb; C and D from the variant)
//!
//! | signal | bits | sent by |
//! |---|---|---|
//! | idle | 10 | both |
//! | seizure | 00 | forward |
//! | seizure acknowledged | 11 | backward |
//! | answer | 01 | backward |
//! | clear-back | 11 | backward |
//! | clear-forward | 10 | forward |
//! | blocked | 11 | backward, while idle |
//! | forced release | 00 | backward (Brazil) |
//!
//! With ITU C/D = 01 the line shows 1001 idle, 0001 seize, 1101 seize ack /
//! clear back / blocked, 0101 answer.
//!
//! # Compelled signalling
//!
//! The outgoing (forward) register sends a tone; the incoming (backward)
//! register answers with a tone; the forward one stops on hearing it; the
//! backward one stops on hearing that; the forward one acts on the backward
//! signal. The shell reports tone start/stop as [`R2Input::Mf`] and plays
//! [`R2Output::Mf`]; the core does the rest: the first DNIS digit on seize
//! acknowledgement, DNIS digits on A-1 (and repeats on A-2/7/8), the category
//! (group II) on the category request, ANI digits with end of ANI (I-15 in
//! ITU) or ANI restricted (I-12), the category again on A-3 before group B,
//! and the called party status from group B ([`CalledPartyStatus`], which
//! carries the Q.850 cause the gateway maps to SIP).
//!
//! Incoming, the core asks for what it needs: after the first DNIS digit the
//! category and ANI (`ani_first` variants), the rest of the DNIS up to
//! [`R2Config::max_dnis`] or the end-of-DNIS signal, or — where the variant
//! has none (Mexico, Brazil, Argentina, China) — until the forward side goes
//! quiet for [`R2Timers::mf_back_cycle`]; then A-3 and, after the category,
//! it offers the call ([`R2Event::Incoming`]) and waits for call control's
//! [`R2Trunk::respond`] to send the group B signal.
//!
//! # Glare (two-way circuits)
//!
//! Both ends send seizure and each sees a seizure where it expects the
//! acknowledgement. The [`GlarePriority::Yield`] end withdraws its call
//! ([`CasCause::Glare`]) and acknowledges the far end's seizure; the
//! [`GlarePriority::Keep`] end keeps waiting for the acknowledgement.
//!
//! Not done: DTMF R2, "immediate accept" (A-6 without group B), group II
//! signals other than the category, two-stage (pre-ANI) dialling.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use super::bits::{Abcd, Debouncer, E1_DEBOUNCE};
use super::em::{GlarePriority, TrunkDirection};
use super::r2_variants::{CalledPartyStatus, Category, R2Variant};
use super::{CasCause, at};

/// R2 timers; every one configurable, defaults in brackets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct R2Timers {
    /// Persistence of received line bits \[20 ms\].
    pub debounce: Duration,
    /// Forward: seizure acknowledgement must come within \[2 s, openr2\].
    pub seize_ack: Duration,
    /// Backward: from our tone to the next forward tone (also the
    /// end-of-DNIS timeout where the variant has no end signal) \[2 s\].
    pub mf_back_cycle: Duration,
    /// Backward: length of a pulsed (non-compelled) tone sent after that timeout \[150 ms\].
    pub mf_back_resume: Duration,
    /// Forward: longest wait for any backward tone change \[15 s\].
    pub mf_fwd_safety: Duration,
    /// Either register: the same far signal starting again sooner than this
    /// after our tone changed is the old signal coming back after a dropout,
    /// not a new one \[20 ms\]. The far register cannot have recognised our
    /// change that fast: spandsp's receiver decides per 133-sample block
    /// (16.6 ms) and the shell bridges dropouts of up to three blocks
    /// before it reports a tone's end.
    pub mf_min_cycle: Duration,
    /// Forward: answer must come within \[60 s\].
    pub answer: Duration,
    /// Backward: from the end of the group B tone to when answer bits may be sent \[150 ms\].
    pub answer_delay: Duration,
    /// Backward: the clear-back gap of a double answer \[400 ms\].
    pub double_answer: Duration,
    /// Forward: metering pulse limit; `None` takes the variant's.
    pub metering_pulse: Option<Duration>,
    /// Either side: the far end must complete a release within \[5 s\].
    pub release: Duration,
    /// Backward: call control must respond to an offered call within \[30 s\].
    pub offer: Duration,
}

impl Default for R2Timers {
    fn default() -> Self {
        let ms = Duration::from_millis;
        R2Timers {
            debounce: E1_DEBOUNCE,
            seize_ack: ms(2000),
            mf_back_cycle: ms(2000),
            mf_back_resume: ms(150),
            mf_fwd_safety: ms(15_000),
            mf_min_cycle: ms(20),
            answer: ms(60_000),
            answer_delay: ms(150),
            double_answer: ms(400),
            metering_pulse: None,
            release: ms(5000),
            offer: ms(30_000),
        }
    }
}

/// R2 channel configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct R2Config {
    /// Country variant.
    pub variant: R2Variant,
    /// Timers.
    pub timers: R2Timers,
    /// Incoming: DNIS is complete after this many digits \[20\].
    pub max_dnis: usize,
    /// Incoming: ask for at most this many ANI digits; 0 = don't ask for
    /// category or ANI \[10\].
    pub max_ani: usize,
    /// Which calls the circuit carries.
    pub direction: TrunkDirection,
    /// Glare rule.
    pub glare: GlarePriority,
    /// Backward: answer twice (answer, clear-back, answer) to refuse collect calls.
    pub double_answer: bool,
}

impl R2Config {
    /// Defaults for a variant.
    pub fn new(variant: R2Variant) -> R2Config {
        R2Config {
            variant,
            timers: R2Timers::default(),
            max_dnis: 20,
            max_ani: 10,
            direction: TrunkDirection::Both,
            glare: GlarePriority::Yield,
            double_answer: false,
        }
    }
}

/// An outgoing call.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct R2Call {
    /// Called number (decimal digits).
    pub dnis: String,
    /// Calling number (decimal digits), if any.
    pub ani: Option<String>,
    /// Withhold the calling number (ANI restricted).
    pub ani_restricted: bool,
    /// Calling party category.
    pub category: Category,
}

/// Inputs from the shell.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum R2Input {
    /// Received ABCD bits (every change).
    Bits(Abcd),
    /// The R2 MF detector (of the opposite direction's signals) heard
    /// signal 1..=15 start (`Some`) or the tone stop (`None`).
    Mf(Option<u8>),
}

/// Things the channel wants done.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum R2Output {
    /// Transmit these ABCD bits.
    Bits(Abcd),
    /// Play MF signal 1..=15 continuously (`Some`) or stop (`None`).
    /// Forward signals when `forward`, else backward.
    Mf {
        /// Forward (we are the outgoing register) or backward.
        forward: bool,
        /// The signal, or silence.
        signal: Option<u8>,
    },
    /// For call control.
    Event(R2Event),
}

/// Events for call control.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum R2Event {
    /// An incoming call with its numbers; answer with [`R2Trunk::respond`].
    Incoming {
        /// Called number.
        dnis: String,
        /// Calling number ("" if none was given).
        ani: String,
        /// The caller withheld the number.
        ani_restricted: bool,
        /// Calling party category.
        category: Category,
    },
    /// Outgoing: group B said the called party is free (alerting).
    Accepted(CalledPartyStatus),
    /// Outgoing: answered.
    Answered,
    /// Outgoing: a metering pulse.
    MeteringPulse,
    /// The call ended or failed (not sent for our own hangup). Group B
    /// refusals come as `Busy`, `Unallocated`, `Congestion`, …
    Released(CasCause),
    /// The circuit left (`false`) or re-entered (`true`) service.
    ServiceChanged(bool),
}

/// A rejected command; the channel is unchanged.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum R2Error {
    /// Not valid now.
    #[error("{command} is not valid in state {state:?}")]
    InvalidState {
        /// The command.
        command: &'static str,
        /// The state.
        state: R2State,
    },
    /// The circuit does not carry calls this way.
    #[error("the circuit is incoming-only")]
    WrongDirection,
    /// Numbers must be non-empty decimal digits.
    #[error("invalid number {0:?}")]
    InvalidNumber(String),
}

/// Coarse state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum R2State {
    /// Free.
    Idle,
    /// Blocked (ours or the far end's) or in alarm.
    OutOfService,
    /// Outgoing call being set up.
    Outgoing,
    /// Incoming call being set up or offered.
    Incoming,
    /// Answered.
    Connected,
    /// Clearing.
    Releasing,
}

const IDLE: u8 = 0b1000;
const SEIZE: u8 = 0b0000;
const ACK: u8 = 0b1100; // seize ack, clear back, blocked
const ANSWER: u8 = 0b0100;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum St {
    Idle,
    OutOfService,
    FarBlocked,
    FSeize,
    FMf,
    FAccepted,
    FAnswered,
    FClearBackRx,
    ClearFwd,
    BSeized,
    BMf { pulsing: bool },
    BOffered,
    BFinal,
    BAccepted,
    BAnswered { gap: bool },
    BRelease,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum FGroup {
    A,
    B,
    C,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Expect {
    Dnis,
    Category,
    Ani,
    GroupII,
}

#[derive(Debug, Clone, Default)]
struct Fwd {
    dnis: Vec<u8>,
    idx: usize,
    ani: Vec<u8>,
    ani_idx: usize,
    restricted: bool,
    category: u8,
    category_sent: bool,
    phase_ani: bool,
    rx: Option<u8>,
    /// The backward signal last acted on, and when.
    acted: Option<(u8, Instant)>,
}

#[derive(Debug, Clone, Default)]
struct Bwd {
    dnis: String,
    ani: String,
    restricted: bool,
    category: Option<Category>,
    dnis_done: bool,
    category_asked: bool,
    ani_done: bool,
    group_c: bool,
    final_free: Option<bool>,
    answer_pending: bool,
    /// The forward signal last acknowledged, and when its cycle ended (our tone stopped).
    acked: Option<(u8, Instant)>,
}

/// One E1 MFC/R2 circuit.
#[derive(Debug)]
pub struct R2Trunk {
    cfg: R2Config,
    st: St,
    deadline: Option<Instant>,
    debounce: Debouncer,
    far: u8,
    fgroup: FGroup,
    expect: Expect,
    fwd: Fwd,
    bwd: Bwd,
    our_tone: Option<u8>,
    forward: bool,
    call_known: bool,
    alarm: bool,
    oos_wanted: bool,
    tx: Abcd,
    last_now: Option<Instant>,
    out: VecDeque<R2Output>,
}

fn digit_signal(c: char) -> Option<u8> {
    match c {
        '1'..='9' => Some(c as u8 - b'0'),
        '0' => Some(10),
        _ => None,
    }
}

fn signal_digit(s: u8) -> Option<char> {
    match s {
        1..=9 => Some((b'0' + s) as char),
        10 => Some('0'),
        _ => None,
    }
}

fn parse_number(s: &str) -> Result<Vec<u8>, R2Error> {
    if s.len() > 80 {
        return Err(R2Error::InvalidNumber(s.to_string()));
    }
    s.chars().map(digit_signal).collect::<Option<Vec<u8>>>().ok_or_else(|| R2Error::InvalidNumber(s.to_string()))
}

fn status_cause(s: CalledPartyStatus) -> CasCause {
    match s {
        CalledPartyStatus::Busy => CasCause::Busy,
        CalledPartyStatus::Unallocated => CasCause::Unallocated,
        CalledPartyStatus::Congestion => CasCause::Congestion,
        CalledPartyStatus::OutOfOrder => CasCause::OutOfOrder,
        CalledPartyStatus::NumberChanged => CasCause::NumberChanged,
        CalledPartyStatus::SpecialInfo => CasCause::ProtocolError,
        CalledPartyStatus::FreeCharge | CalledPartyStatus::FreeNoCharge => CasCause::NormalClearing,
    }
}

impl R2Trunk {
    /// An idle circuit; emits the idle bits first.
    pub fn new(cfg: R2Config) -> R2Trunk {
        let cd = cfg.variant.cd_bits & 0b11;
        let mut t = R2Trunk {
            debounce: Debouncer::new(cfg.timers.debounce, Abcd::new(IDLE | cd)),
            cfg,
            st: St::Idle,
            deadline: None,
            far: IDLE,
            fgroup: FGroup::A,
            expect: Expect::Dnis,
            fwd: Fwd::default(),
            bwd: Bwd::default(),
            our_tone: None,
            forward: false,
            call_known: false,
            alarm: false,
            oos_wanted: false,
            tx: Abcd::new(0xff),
            last_now: None,
            out: VecDeque::new(),
        };
        t.line(IDLE);
        t
    }

    /// The configuration.
    pub fn config(&self) -> &R2Config {
        &self.cfg
    }

    /// Coarse state.
    pub fn state(&self) -> R2State {
        match self.st {
            St::Idle => R2State::Idle,
            St::OutOfService | St::FarBlocked => R2State::OutOfService,
            St::FSeize | St::FMf | St::FAccepted => R2State::Outgoing,
            St::FAnswered | St::FClearBackRx | St::BAnswered { .. } => R2State::Connected,
            St::BSeized | St::BMf { .. } | St::BOffered | St::BFinal | St::BAccepted => R2State::Incoming,
            St::ClearFwd | St::BRelease => R2State::Releasing,
        }
    }

    /// True when the circuit is free.
    pub fn is_idle(&self) -> bool {
        self.st == St::Idle
    }

    /// The bits we transmit.
    pub fn tx_bits(&self) -> Abcd {
        self.tx
    }

    /// Next output.
    pub fn poll_output(&mut self) -> Option<R2Output> {
        self.out.pop_front()
    }

    /// When [`R2Trunk::handle_timeout`] must next be called.
    pub fn poll_timeout(&self) -> Option<Instant> {
        let debounce = if self.alarm { None } else { self.debounce.poll_timeout() };
        self.deadline.into_iter().chain(debounce).min()
    }

    /// Fires due timers.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.advance(now);
    }

    /// Feeds an input from the shell.
    pub fn handle_input(&mut self, input: R2Input, now: Instant) {
        let now = self.advance(now);
        if self.alarm {
            return;
        }
        match input {
            R2Input::Bits(b) => {
                if let Some(stable) = self.debounce.push(b, now) {
                    self.on_line(stable.ab().value(), now);
                }
            }
            R2Input::Mf(sig) => {
                let sig = sig.filter(|s| (1..=15).contains(s));
                if self.forward { self.fwd_tone(sig, now) } else { self.bwd_tone(sig, now) }
            }
        }
    }

    /// Places an outgoing call.
    pub fn dial(&mut self, call: R2Call, now: Instant) -> Result<(), R2Error> {
        let now = self.advance(now);
        if self.cfg.direction == TrunkDirection::Incoming {
            return Err(R2Error::WrongDirection);
        }
        if self.st != St::Idle {
            return Err(R2Error::InvalidState { command: "dial", state: self.state() });
        }
        let dnis = parse_number(&call.dnis)?;
        if dnis.is_empty() {
            return Err(R2Error::InvalidNumber(call.dnis));
        }
        let ani = parse_number(call.ani.as_deref().unwrap_or(""))?;
        self.fwd = Fwd { dnis, ani, restricted: call.ani_restricted, category: self.cfg.variant.category_signal(call.category), ..Fwd::default() };
        self.forward = true;
        self.call_known = true;
        self.fgroup = FGroup::A;
        self.line(SEIZE);
        self.go(St::FSeize, Some(at(now, self.cfg.timers.seize_ack)));
        Ok(())
    }

    /// Backward: send the called party status for the offered call (group
    /// B). A free status leads to [`R2Trunk::answer`]; any other refuses the
    /// call and the forward side clears.
    pub fn respond(&mut self, status: CalledPartyStatus, now: Instant) -> Result<(), R2Error> {
        let now = self.advance(now);
        if self.st != St::BOffered {
            return Err(R2Error::InvalidState { command: "respond", state: self.state() });
        }
        let sig = self.cfg.variant.b_signal(status);
        self.bwd.final_free = Some(status.is_free());
        if !status.is_free() {
            self.call_known = false;
        }
        self.tone(Some(sig));
        self.go(St::BFinal, Some(at(now, self.cfg.timers.mf_back_cycle)));
        Ok(())
    }

    /// Backward: answer (sends free/charge first if the call is still only offered).
    pub fn answer(&mut self, now: Instant) -> Result<(), R2Error> {
        let now = self.advance(now);
        match self.st {
            St::BOffered => {
                self.respond(CalledPartyStatus::FreeCharge, now)?;
                self.bwd.answer_pending = true;
                Ok(())
            }
            St::BFinal if self.bwd.final_free == Some(true) => {
                self.bwd.answer_pending = true;
                Ok(())
            }
            St::BAccepted if self.deadline.is_some() => {
                self.bwd.answer_pending = true;
                Ok(())
            }
            St::BAccepted => {
                self.do_answer(now);
                Ok(())
            }
            _ => Err(R2Error::InvalidState { command: "answer", state: self.state() }),
        }
    }

    /// Clears the call (no [`R2Event::Released`] follows).
    pub fn hangup(&mut self, now: Instant) -> Result<(), R2Error> {
        let now = self.advance(now);
        match self.st {
            St::FSeize | St::FMf | St::FAccepted | St::FAnswered | St::FClearBackRx => {
                self.call_known = false;
                self.clear_forward(now);
                Ok(())
            }
            St::BSeized | St::BMf { .. } | St::BOffered | St::BFinal | St::BAccepted => {
                // Before answer the backward side can only force a release.
                self.call_known = false;
                self.tone(None);
                self.line(SEIZE);
                self.go(St::BRelease, Some(at(now, self.cfg.timers.release)));
                Ok(())
            }
            St::BAnswered { .. } => {
                self.call_known = false;
                self.line(ACK);
                self.go(St::BRelease, Some(at(now, self.cfg.timers.release)));
                Ok(())
            }
            _ => Err(R2Error::InvalidState { command: "hangup", state: self.state() }),
        }
    }

    /// Blocks (`false`, after any call) or unblocks the circuit.
    pub fn set_in_service(&mut self, in_service: bool, now: Instant) {
        self.advance(now);
        self.oos_wanted = !in_service;
        if !in_service && matches!(self.st, St::Idle | St::FarBlocked) {
            self.enter_oos();
        } else if in_service && self.st == St::OutOfService && !self.alarm {
            self.leave_oos();
        }
    }

    /// Span alarm raised or cleared.
    pub fn set_alarm(&mut self, alarm: bool, now: Instant) {
        self.advance(now);
        if alarm == self.alarm {
            return;
        }
        self.alarm = alarm;
        if alarm {
            if self.call_known {
                self.call_known = false;
                self.emit(R2Event::Released(CasCause::Alarm));
            }
            self.tone(None);
            self.enter_oos();
        } else {
            let cd = self.cfg.variant.cd_bits & 0b11;
            self.debounce.reset(Abcd::new(IDLE | cd));
            self.far = IDLE;
            if !self.oos_wanted {
                self.leave_oos();
            }
        }
    }

    // ---- internals ----

    fn emit(&mut self, ev: R2Event) {
        self.out.push_back(R2Output::Event(ev));
    }

    fn line(&mut self, ab: u8) {
        let bits = Abcd::new(ab | (self.cfg.variant.cd_bits & 0b11));
        if bits != self.tx {
            self.tx = bits;
            self.out.push_back(R2Output::Bits(bits));
        }
    }

    fn tone(&mut self, sig: Option<u8>) {
        if sig != self.our_tone {
            self.our_tone = sig;
            self.out.push_back(R2Output::Mf { forward: self.forward, signal: sig });
        }
    }

    fn go(&mut self, st: St, deadline: Option<Instant>) {
        self.st = st;
        self.deadline = deadline;
    }

    fn enter_oos(&mut self) {
        let was = self.st == St::OutOfService;
        self.line(ACK);
        self.go(St::OutOfService, None);
        if !was {
            self.emit(R2Event::ServiceChanged(false));
        }
    }

    fn leave_oos(&mut self) {
        self.line(IDLE);
        self.emit(R2Event::ServiceChanged(true));
        self.go_idle();
    }

    fn go_idle(&mut self) {
        self.tone(None);
        self.forward = false;
        self.call_known = false;
        self.go(St::Idle, None);
        self.line(IDLE);
        if self.oos_wanted {
            self.enter_oos();
        } else if self.far == ACK {
            self.go(St::FarBlocked, None);
        }
    }

    /// Runs due timers in time order up to `now`; returns the effective now.
    fn advance(&mut self, now: Instant) -> Instant {
        super::advance(self, now)
    }

    fn fail(&mut self, cause: CasCause, now: Instant) {
        if self.call_known {
            self.call_known = false;
            self.emit(R2Event::Released(cause));
        }
        self.clear_forward(now);
    }

    fn clear_forward(&mut self, now: Instant) {
        self.tone(None);
        self.line(IDLE);
        if self.far == IDLE {
            self.go_idle();
        } else {
            self.go(St::ClearFwd, Some(at(now, self.cfg.timers.release)));
        }
    }

    fn on_line(&mut self, ab: u8, now: Instant) {
        if ab == self.far {
            return;
        }
        self.far = ab;
        let t = self.cfg.timers;
        match self.st {
            St::Idle => match ab {
                SEIZE if self.cfg.direction != TrunkDirection::Outgoing => self.incoming(now),
                ACK => self.go(St::FarBlocked, None),
                _ => {}
            },
            St::FarBlocked => {
                if ab == IDLE {
                    self.go_idle();
                } else if ab == SEIZE && self.cfg.direction != TrunkDirection::Outgoing {
                    self.incoming(now);
                }
            }
            St::OutOfService => {}
            St::FSeize => match ab {
                ACK => {
                    self.fgroup = FGroup::A;
                    self.go(St::FMf, None);
                    self.send_dnis_next(now);
                }
                SEIZE => match self.cfg.glare {
                    GlarePriority::Keep => self.deadline = Some(at(now, t.seize_ack)),
                    GlarePriority::Yield => {
                        self.call_known = false;
                        self.emit(R2Event::Released(CasCause::Glare));
                        self.forward = false;
                        self.incoming(now);
                    }
                },
                _ => {}
            },
            St::FMf | St::FAccepted => match ab {
                ANSWER => {
                    if self.st == St::FMf {
                        self.tone(None);
                        self.emit(R2Event::Accepted(CalledPartyStatus::FreeCharge));
                    }
                    self.emit(R2Event::Answered);
                    self.go(St::FAnswered, None);
                }
                IDLE | SEIZE if self.st == St::FMf => self.fail(CasCause::ProtocolError, now),
                IDLE | SEIZE => self.fail(CasCause::NormalClearing, now),
                _ => {}
            },
            St::FAnswered => match ab {
                ACK => {
                    let pulse = t.metering_pulse.unwrap_or(self.cfg.variant.metering_pulse);
                    if pulse.is_zero() {
                        self.fail(CasCause::NormalClearing, now);
                    } else {
                        self.go(St::FClearBackRx, Some(at(now, pulse)));
                    }
                }
                _ => self.fail(CasCause::NormalClearing, now),
            },
            St::FClearBackRx => match ab {
                ANSWER => {
                    self.emit(R2Event::MeteringPulse);
                    self.go(St::FAnswered, None);
                }
                _ => self.fail(CasCause::NormalClearing, now),
            },
            St::ClearFwd => {
                if ab == IDLE {
                    self.go_idle();
                }
            }
            St::BSeized | St::BMf { .. } | St::BOffered | St::BFinal | St::BAccepted | St::BAnswered { .. } | St::BRelease => {
                if ab == IDLE {
                    // Clear-forward: we answer with idle (the release guard).
                    if self.call_known {
                        self.call_known = false;
                        self.emit(R2Event::Released(CasCause::NormalClearing));
                    }
                    self.go_idle();
                }
            }
        }
    }

    fn incoming(&mut self, now: Instant) {
        self.forward = false;
        self.bwd = Bwd::default();
        self.expect = Expect::Dnis;
        self.line(ACK);
        self.go(St::BSeized, Some(at(now, self.cfg.timers.mf_back_cycle)));
    }

    fn deadline_passed(&mut self, now: Instant) {
        let t = self.cfg.timers;
        match self.st {
            St::FSeize => self.fail(CasCause::NoSeizureAck, now),
            St::FMf => self.fail(CasCause::Timeout, now),
            St::FAccepted => self.fail(CasCause::NoAnswer, now),
            St::FClearBackRx => self.fail(CasCause::NormalClearing, now),
            St::ClearFwd | St::BRelease => self.go_idle(),
            St::BSeized | St::BFinal => self.bwd_error(now),
            St::BMf { pulsing: true } => {
                self.tone(None);
                self.go(St::BMf { pulsing: false }, Some(at(now, t.mf_back_cycle)));
            }
            St::BMf { pulsing: false } => self.bwd_cycle_timeout(now),
            St::BOffered => {
                // Call control never decided: refuse with congestion.
                let _ = self.respond(CalledPartyStatus::Congestion, now);
            }
            St::BAccepted => {
                if self.bwd.answer_pending {
                    self.do_answer(now);
                }
            }
            St::BAnswered { gap: false } => {
                self.line(ACK);
                self.go(St::BAnswered { gap: true }, Some(at(now, t.double_answer)));
            }
            St::BAnswered { gap: true } => {
                self.line(ANSWER);
                self.go(St::BAnswered { gap: false }, None);
            }
            St::Idle | St::OutOfService | St::FarBlocked | St::FAnswered => {}
        }
    }

    fn do_answer(&mut self, now: Instant) {
        self.bwd.answer_pending = false;
        self.line(ANSWER);
        let dbl = self.cfg.double_answer.then(|| at(now, self.cfg.timers.double_answer));
        self.go(St::BAnswered { gap: false }, dbl);
    }

    // ---- forward register ----

    fn send(&mut self, sig: u8, now: Instant) {
        self.tone(Some(sig));
        self.deadline = Some(at(now, self.cfg.timers.mf_fwd_safety));
    }

    fn send_dnis_next(&mut self, now: Instant) {
        let f = &mut self.fwd;
        if let Some(&d) = f.dnis.get(f.idx) {
            f.idx += 1;
            self.send(d, now);
        } else if let Some(end) = self.cfg.variant.group_i.end_of_dnis {
            self.send(end, now);
        } else {
            // No end-of-DNIS signal: stay quiet until the backward side times out.
            self.deadline = Some(at(now, self.cfg.timers.mf_fwd_safety));
        }
    }

    fn send_ani_next(&mut self, now: Instant) {
        let v = &self.cfg.variant;
        let f = &mut self.fwd;
        if !f.restricted
            && let Some(&d) = f.ani.get(f.ani_idx)
        {
            f.ani_idx += 1;
            if v.force_max_ani && f.ani_idx >= f.ani.len() {
                f.phase_ani = false;
            }
            self.send(d, now);
            return;
        }
        f.phase_ani = false;
        let sig = if f.restricted { v.group_i.ani_restricted.or(v.group_i.end_of_ani) } else { v.group_i.end_of_ani };
        match sig {
            Some(s) => self.send(s, now),
            None => self.deadline = Some(at(now, self.cfg.timers.mf_fwd_safety)),
        }
    }

    fn send_category(&mut self, now: Instant) {
        self.fwd.category_sent = true;
        let c = self.fwd.category;
        self.send(c, now);
    }

    fn fwd_tone(&mut self, sig: Option<u8>, now: Instant) {
        if self.st != St::FMf {
            return;
        }
        match sig {
            // Already heard and not yet ended: the same signal, not a new one.
            Some(_) if self.fwd.rx.is_some() => {}
            // The signal just acted on, back after a dropout.
            Some(s) if self.fwd.acted.is_some_and(|(a, t)| a == s && now < t + self.cfg.timers.mf_min_cycle) => {}
            Some(s) => {
                self.tone(None);
                self.fwd.rx = Some(s);
                self.deadline = Some(at(now, self.cfg.timers.mf_fwd_safety));
            }
            None => {
                if let Some(s) = self.fwd.rx.take() {
                    self.fwd.acted = Some((s, now));
                    self.fwd_act(s, now);
                }
            }
        }
    }

    fn fwd_act(&mut self, s: u8, now: Instant) {
        let v = self.cfg.variant.clone();
        match self.fgroup {
            FGroup::A => {
                let a = v.group_a;
                if self.fwd.phase_ani && Some(s) == a.next_ani {
                    self.send_ani_next(now);
                } else if s == a.next_dnis {
                    self.send_dnis_next(now);
                } else if let Some(back) =
                    [(a.dnis_minus_1, 2usize), (a.dnis_minus_2, 3), (a.dnis_minus_3, 4)].iter().find(|(x, _)| *x == Some(s)).map(|(_, n)| *n)
                {
                    self.fwd.idx = self.fwd.idx.saturating_sub(back);
                    self.send_dnis_next(now);
                } else if Some(s) == a.all_dnis_again {
                    self.fwd.idx = 0;
                    self.send_dnis_next(now);
                } else if Some(s) == a.category && !self.fwd.category_sent {
                    self.fwd.phase_ani = true;
                    self.send_category(now);
                } else if Some(s) == a.next_ani && self.fwd.category_sent {
                    self.fwd.phase_ani = true;
                    self.send_ani_next(now);
                } else if Some(s) == a.category_then_group_c {
                    self.fgroup = FGroup::C;
                    self.fwd.phase_ani = true;
                    self.send_category(now);
                } else if s == a.change_to_b {
                    self.fgroup = FGroup::B;
                    self.send_category(now);
                } else if Some(s) == a.complete_charge {
                    self.accepted(CalledPartyStatus::FreeCharge, now);
                } else if s == a.congestion {
                    self.fail(CasCause::Congestion, now);
                } else if Some(s) == a.international_congestion {
                    self.fail(CasCause::SwitchingCongestion, now);
                } else {
                    self.fail(CasCause::ProtocolError, now);
                }
            }
            FGroup::C => match v.group_c {
                Some(c) if s == c.next_ani => self.send_ani_next(now),
                Some(c) if s == c.change_to_b => {
                    self.fgroup = FGroup::B;
                    self.send_category(now);
                }
                Some(c) if s == c.next_dnis_to_a => {
                    self.fgroup = FGroup::A;
                    self.fwd.phase_ani = false;
                    self.send_dnis_next(now);
                }
                Some(c) if s == c.congestion => self.fail(CasCause::Congestion, now),
                _ => self.fail(CasCause::ProtocolError, now),
            },
            FGroup::B => match v.b_status(s) {
                Some(st) if st.is_free() => self.accepted(st, now),
                Some(st) => self.fail(status_cause(st), now),
                None => self.fail(CasCause::ProtocolError, now),
            },
        }
    }

    fn accepted(&mut self, st: CalledPartyStatus, now: Instant) {
        self.tone(None);
        self.emit(R2Event::Accepted(st));
        self.go(St::FAccepted, Some(at(now, self.cfg.timers.answer)));
    }

    // ---- backward register ----

    fn bwd_tone(&mut self, sig: Option<u8>, now: Instant) {
        match (self.st, sig) {
            // Compelled: while our tone acknowledges a forward signal, a
            // tone-on is that signal still (the forward register stops only
            // on hearing us and starts the next one only on hearing us stop).
            (St::BMf { pulsing: false }, Some(_)) if self.our_tone.is_some() => {}
            // The signal whose cycle just ended, back after a dropout.
            (St::BMf { pulsing: false }, Some(s)) if self.bwd.acked.is_some_and(|(a, t)| a == s && now < t + self.cfg.timers.mf_min_cycle) => {}
            (St::BSeized | St::BMf { .. }, Some(s)) => {
                self.st = St::BMf { pulsing: false };
                self.bwd.acked = Some((s, now));
                self.bwd_receive(s, now);
            }
            (St::BMf { pulsing: false }, None) => {
                if self.our_tone.is_some()
                    && let Some((_, t)) = self.bwd.acked.as_mut()
                {
                    *t = now;
                }
                self.tone(None)
            }
            (St::BFinal, None) => {
                self.tone(None);
                if self.bwd.final_free == Some(true) {
                    self.go(St::BAccepted, Some(at(now, self.cfg.timers.answer_delay)));
                } else {
                    self.go(St::BRelease, Some(at(now, self.cfg.timers.release)));
                }
            }
            _ => {}
        }
    }

    fn request(&mut self, sig: u8, expect: Expect, now: Instant) {
        self.expect = expect;
        self.tone(Some(sig));
        self.deadline = Some(at(now, self.cfg.timers.mf_back_cycle));
    }

    fn bwd_receive(&mut self, s: u8, now: Instant) {
        let v = self.cfg.variant.clone();
        match self.expect {
            Expect::Dnis => {
                if let Some(d) = signal_digit(s) {
                    if self.bwd.dnis.len() < 80 {
                        self.bwd.dnis.push(d);
                    }
                    if self.bwd.dnis.len() >= self.cfg.max_dnis.max(1) {
                        self.bwd.dnis_done = true;
                    }
                } else if Some(s) == v.group_i.end_of_dnis && !self.bwd.dnis.is_empty() {
                    self.bwd.dnis_done = true;
                } else {
                    return self.bwd_error(now);
                }
            }
            Expect::Category => {
                self.bwd.category = Some(v.category_of(s));
                if self.cfg.max_ani == 0 {
                    self.bwd.ani_done = true;
                }
            }
            Expect::Ani => {
                let gi = v.group_i;
                if let Some(d) = signal_digit(s) {
                    self.bwd.ani.push(d);
                    if self.bwd.ani.len() >= self.cfg.max_ani {
                        self.bwd.ani_done = true;
                    }
                } else if Some(s) == gi.end_of_ani && (Some(s) != gi.ani_restricted || !self.bwd.ani.is_empty()) {
                    self.bwd.ani_done = true;
                } else if Some(s) == gi.ani_restricted {
                    self.bwd.restricted = true;
                    self.bwd.ani_done = true;
                } else {
                    return self.bwd_error(now);
                }
            }
            Expect::GroupII => {
                if self.bwd.category.is_none() {
                    self.bwd.category = Some(v.category_of(s));
                }
                self.tone(None);
                self.call_known = true;
                let b = &self.bwd;
                let ev = R2Event::Incoming { dnis: b.dnis.clone(), ani: b.ani.clone(), ani_restricted: b.restricted, category: b.category.unwrap_or_default() };
                self.emit(ev);
                self.go(St::BOffered, Some(at(now, self.cfg.timers.offer)));
                return;
            }
        }
        if let Some((sig, ex)) = self.next_request() {
            self.request(sig, ex, now);
        } else {
            self.bwd_error(now);
        }
    }

    /// What to ask for next.
    fn next_request(&mut self) -> Option<(u8, Expect)> {
        let v = &self.cfg.variant;
        let a = v.group_a;
        let want_ani = self.cfg.max_ani > 0;
        let ask_category = |b: &mut Bwd| -> Option<(u8, Expect)> {
            b.category_asked = true;
            if let Some(c) = a.category {
                Some((c, Expect::Category))
            } else if let Some(c) = a.category_then_group_c {
                b.group_c = true;
                Some((c, Expect::Category))
            } else {
                b.ani_done = true;
                None
            }
        };
        if want_ani && self.bwd.category.is_some() && !self.bwd.ani_done {
            let sig = if self.bwd.group_c { v.group_c.map(|c| c.next_ani) } else { a.next_ani };
            match sig {
                Some(sig) => return Some((sig, Expect::Ani)),
                None => self.bwd.ani_done = true,
            }
        }
        if !self.bwd.dnis_done {
            if want_ani && v.ani_first && !self.bwd.category_asked && self.bwd.dnis.len() == 1 {
                if let Some(r) = ask_category(&mut self.bwd) {
                    return Some(r);
                }
            }
            return Some(self.next_dnis_request());
        }
        if want_ani && !self.bwd.category_asked {
            if let Some(r) = ask_category(&mut self.bwd) {
                return Some(r);
            }
        }
        let sig = match (self.bwd.group_c, v.group_c) {
            (true, Some(c)) => c.change_to_b,
            _ => a.change_to_b,
        };
        Some((sig, Expect::GroupII))
    }

    fn next_dnis_request(&mut self) -> (u8, Expect) {
        let v = &self.cfg.variant;
        match (self.bwd.group_c, v.group_c) {
            (true, Some(c)) => {
                self.bwd.group_c = false;
                (c.next_dnis_to_a, Expect::Dnis)
            }
            _ => (v.group_a.next_dnis, Expect::Dnis),
        }
    }

    fn bwd_cycle_timeout(&mut self, now: Instant) {
        let v = &self.cfg.variant;
        let dnis_by_timeout = self.expect == Expect::Dnis && v.group_i.end_of_dnis.is_none() && !self.bwd.dnis.is_empty();
        let ani_by_timeout = self.expect == Expect::Ani && v.group_i.end_of_ani.is_none();
        if self.our_tone.is_none() && (dnis_by_timeout || ani_by_timeout) {
            if dnis_by_timeout {
                self.bwd.dnis_done = true;
            } else {
                self.bwd.ani_done = true;
            }
            if let Some((sig, ex)) = self.next_request() {
                // The forward side is silent, so this tone is pulsed, not compelled.
                self.expect = ex;
                self.tone(Some(sig));
                self.go(St::BMf { pulsing: true }, Some(at(now, self.cfg.timers.mf_back_resume)));
                return;
            }
        }
        self.bwd_error(now);
    }

    fn bwd_error(&mut self, now: Instant) {
        if self.call_known {
            self.call_known = false;
            self.emit(R2Event::Released(CasCause::ProtocolError));
        }
        self.tone(None);
        self.line(SEIZE);
        self.go(St::BRelease, Some(at(now, self.cfg.timers.release)));
    }
}

impl super::TimedCore for R2Trunk {
    fn timing(&mut self) -> super::Timing<'_> {
        super::Timing { last_now: &mut self.last_now, deadline: &mut self.deadline, debounce: &mut self.debounce, alarm: self.alarm }
    }

    fn on_stable_bits(&mut self, bits: Abcd, at: Instant) {
        self.on_line(bits.ab().value(), at);
    }

    fn on_deadline(&mut self, at: Instant) {
        self.deadline_passed(at);
    }
}
