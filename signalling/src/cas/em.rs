//! T1 E&M trunks: immediate start, wink start and delay dial, both
//! directions, with Feature Group B/D address formats, glare resolution on
//! two-way trunks and busy-out.
//!
//! Line states are the A bit (`bits::RbsType::Em`: 0000 on hook, 1111 off
//! hook; E1 E&M 0001/1101). After seizing (going off hook):
//!
//! * **immediate start**: the originator waits [`EmTimers::immediate_delay`]
//!   and outpulses;
//! * **wink start**: the terminator waits [`EmTimers::pre_wink_guard`] after
//!   recognising the seizure, then winks (off hook for
//!   [`EmTimers::wink_send`], 200 ms; the standard range is 140–290 ms); the
//!   originator accepts a wink of [`EmTimers::wink_rx_min`] ..=
//!   [`EmTimers::wink_rx_max`] within [`EmTimers::wink_wait`] and outpulses
//!   [`EmTimers::post_wink_delay`] after it ends;
//! * **delay dial**: the terminator goes off hook at once (the delay-dial
//!   signal) for [`EmTimers::delay_dial_send`] while it attaches a receiver,
//!   then on hook (start dial); the originator requires the delay-dial signal
//!   within [`EmTimers::delay_dial_wait`] lasting at least
//!   [`EmTimers::delay_dial_min`] (the integrity check) and outpulses after it
//!   ends.
//!
//! The terminator answers by going off hook; either side clears by going on
//! hook; after a call the channel rests for [`EmTimers::release_guard`].
//!
//! # Glare (two-way trunks)
//!
//! Both ends seize at about the same time. Each end sees it as: wink start —
//! the far A bit stays up longer than [`EmTimers::wink_rx_max`] (a seizure,
//! not a wink); delay dial — the "delay-dial signal" lasts longer than
//! [`EmTimers::delay_dial_max`]; immediate start — the far end goes off hook
//! before we have outpulsed. The rule: the end configured
//! [`GlarePriority::Yield`] drops its seizure, reports
//! [`EmEvent::Released`]`(`[`CasCause::Glare`]`)` so call control can retry on
//! another channel, and serves the far end's call as an incoming one; the end
//! configured [`GlarePriority::Keep`] holds its seizure, waits for the far A
//! bit to drop, then expects a proper wink / delay-dial cycle again. A far A
//! bit that drops only after more than the maximum wink (or delay-dial) time
//! is read the same way: the far end yielded. If both ends keep, both fail
//! with `Glare` after [`EmTimers::wink_wait`]; if both yield, both calls fail
//! and both channels return to idle. No combination leaves a channel stuck.
//!
//! # Busy-out
//!
//! On a span alarm ([`EmTrunk::set_alarm`]) a call in progress is released
//! with [`CasCause::Alarm`] and the channel sends the busy-out pattern
//! (off hook) until the alarm clears; [`EmTrunk::set_in_service`] does the
//! same on request, after the current call. A far end that stays off hook
//! past every timer is treated as busied out: no new call is offered or
//! placed until its A bit drops.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use super::bits::{Abcd, Debouncer, Framing, RbsType, T1_DEBOUNCE, TxSig};
use super::fgd::{Address, AddressCollector, AddressError, AddressFormat, Collect};
use super::{CasCause, DigitKind, at};

/// How the far end tells the originator to start outpulsing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum StartType {
    /// Outpulse after a fixed delay.
    Immediate,
    /// Outpulse after the far end's wink.
    #[default]
    Wink,
    /// Outpulse after the far end's delay-dial signal ends.
    DelayDial,
}

/// Which calls a trunk carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TrunkDirection {
    /// Incoming only: our dial requests are refused.
    Incoming,
    /// Outgoing only: far-end seizures are ignored.
    Outgoing,
    /// Two-way: glare is possible.
    #[default]
    Both,
}

/// Who wins a glare (see the module docs).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum GlarePriority {
    /// Keep our seizure; the far end is expected to yield.
    Keep,
    /// Drop our call and serve the far end's.
    #[default]
    Yield,
}

/// E&M timers. Every one is configurable; defaults in brackets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EmTimers {
    /// Received bits must hold this long to count \[20 ms\].
    pub debounce: Duration,
    /// Length of the wink we send \[200 ms; standard 140–290 ms\].
    pub wink_send: Duration,
    /// Shortest far-end off-hook accepted as a wink \[100 ms\].
    pub wink_rx_min: Duration,
    /// Longest far-end off-hook accepted as a wink; longer is a seizure
    /// (glare) or, after outpulsing, an answer \[350 ms\].
    pub wink_rx_max: Duration,
    /// Terminating: from seizure recognised to wink (or delay-dial) start \[100 ms\].
    pub pre_wink_guard: Duration,
    /// Originating: seizure acknowledgement (wink) must start within \[5 s\].
    pub wink_wait: Duration,
    /// Originating: from end of wink / delay dial to outpulsing \[70 ms\].
    pub post_wink_delay: Duration,
    /// Originating immediate start: from seizure to outpulsing \[150 ms\].
    pub immediate_delay: Duration,
    /// Terminating delay dial: how long we send the delay-dial signal \[250 ms\].
    pub delay_dial_send: Duration,
    /// Originating delay dial: the delay-dial signal must start within \[2 s\].
    pub delay_dial_wait: Duration,
    /// Originating delay dial: integrity check, shortest delay-dial signal \[140 ms\].
    pub delay_dial_min: Duration,
    /// Originating delay dial: longest delay-dial signal before it counts as
    /// a seizure (glare) \[5 s\].
    pub delay_dial_max: Duration,
    /// Terminating: first digit must arrive within \[5 s, chan_dahdi\].
    pub first_digit: Duration,
    /// Terminating: between digits \[3 s, chan_dahdi\].
    pub inter_digit: Duration,
    /// Originating: assume outpulsing finished if the shell never says so \[30 s\].
    pub digits_sent: Duration,
    /// Originating FGD: the acknowledgement wink must come within \[5 s\].
    pub ack_wink_wait: Duration,
    /// Originating: answer must come within \[180 s\].
    pub answer: Duration,
    /// After we clear, the far end must go on hook within \[10 s\].
    pub clear_wait: Duration,
    /// Rest on hook after a call before the channel is idle \[500 ms\].
    pub release_guard: Duration,
}

impl Default for EmTimers {
    fn default() -> Self {
        let ms = Duration::from_millis;
        EmTimers {
            debounce: T1_DEBOUNCE,
            wink_send: ms(200),
            wink_rx_min: ms(100),
            wink_rx_max: ms(350),
            pre_wink_guard: ms(100),
            wink_wait: ms(5000),
            post_wink_delay: ms(70),
            immediate_delay: ms(150),
            delay_dial_send: ms(250),
            delay_dial_wait: ms(2000),
            delay_dial_min: ms(140),
            delay_dial_max: ms(5000),
            first_digit: ms(5000),
            inter_digit: ms(3000),
            digits_sent: ms(30_000),
            ack_wink_wait: ms(5000),
            answer: ms(180_000),
            clear_wait: ms(10_000),
            release_guard: ms(500),
        }
    }
}

/// E&M trunk configuration.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct EmConfig {
    /// Start type.
    pub start: StartType,
    /// Digit signalling.
    pub digits: DigitKind,
    /// Address framing (plain, FGB, FGD).
    pub address: AddressFormat,
    /// Which calls the trunk carries.
    pub direction: TrunkDirection,
    /// Glare rule.
    pub glare: GlarePriority,
    /// T1 ESF, T1 D4, or E1 (E&M over TS16).
    pub framing: Framing,
    /// Timers.
    pub timers: EmTimers,
}

/// Inputs from the shell.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EmInput {
    /// Received ABCD bits (every change, undebounced).
    Bits(Abcd),
    /// Digits recognised by the detector started with [`EmOutput::StartDetect`].
    DigitsReceived {
        /// Which detector.
        kind: DigitKind,
        /// The digits, in chan_dahdi's MF letters for MF.
        digits: String,
        /// The detector knows the string is over (e.g. it timed out).
        complete: bool,
    },
    /// The digits of the last [`EmOutput::SendDigits`] have been sent.
    DigitsSent,
}

/// Things the trunk wants done.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EmOutput {
    /// Transmit these ABCD bits (already folded for the framing).
    Bits(Abcd),
    /// Send these digits in the voice path, replacing any being sent;
    /// answer with [`EmInput::DigitsSent`].
    SendDigits {
        /// MF or DTMF.
        kind: DigitKind,
        /// The string.
        digits: String,
    },
    /// Stop sending digits.
    StopDigits,
    /// Start the digit detector.
    StartDetect(DigitKind),
    /// Stop the digit detector.
    StopDetect,
    /// For call control.
    Event(EmEvent),
}

/// Events for call control.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EmEvent {
    /// A complete incoming address; answer with [`EmTrunk::answer`] or [`EmTrunk::hangup`].
    Incoming(Address),
    /// Outgoing: the address is out (and acknowledged, on FGD with ack wink).
    Proceeding,
    /// Outgoing: the far end answered.
    Answered,
    /// The call ended or failed (never sent for our own [`EmTrunk::hangup`]).
    Released(CasCause),
    /// The channel left (`false`) or re-entered (`true`) service.
    ServiceChanged(bool),
}

/// A rejected command; the trunk is unchanged.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EmError {
    /// Not valid in this state.
    #[error("{command} is not valid in state {state:?}")]
    InvalidState {
        /// The command.
        command: &'static str,
        /// The trunk's state.
        state: EmState,
    },
    /// The trunk does not carry calls in this direction.
    #[error("the trunk is incoming-only")]
    WrongDirection,
    /// The address can't be sent in the configured format.
    #[error("address: {0}")]
    Address(#[from] AddressError),
}

/// Coarse trunk state, for status and tests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EmState {
    /// Free.
    Idle,
    /// Busied out (alarm or out of service), or the far end is.
    OutOfService,
    /// Outgoing call being set up.
    Outgoing,
    /// Incoming call being set up or offered.
    Incoming,
    /// Answered.
    Connected,
    /// Clearing or resting after a call.
    Releasing,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum St {
    Idle,
    OutOfService,
    FarBlocked,
    Seizing,
    StartSignal { since: Instant },
    GlareWait,
    PreDial,
    Sending,
    AckWink,
    AckWinkOn { since: Instant },
    Proceeding,
    InGuard,
    InWink { ack: bool },
    InDelayDial,
    Collecting,
    Offered,
    Connected,
    Releasing,
    AbandonWait,
    Guard,
}

/// One E&M trunk channel.
#[derive(Debug)]
pub struct EmTrunk {
    cfg: EmConfig,
    rbs: RbsType,
    st: St,
    deadline: Option<Instant>,
    debounce: Debouncer,
    far_off: bool,
    call_known: bool,
    pending: Option<Address>,
    detecting: bool,
    sending: bool,
    alarm: bool,
    oos_wanted: bool,
    digits: String,
    collector: AddressCollector,
    tx: Abcd,
    last_now: Option<Instant>,
    out: VecDeque<EmOutput>,
}

impl EmTrunk {
    /// A trunk in the idle state. Emits the idle bits first.
    pub fn new(cfg: EmConfig) -> EmTrunk {
        let rbs = if cfg.framing == Framing::E1 { RbsType::EmE1 } else { RbsType::Em };
        let idle = rbs.bits(TxSig::OnHook);
        let mut t = EmTrunk {
            collector: AddressCollector::new(cfg.address, cfg.digits == DigitKind::MfR1),
            debounce: Debouncer::new(cfg.timers.debounce, cfg.framing.receive(idle)),
            cfg,
            rbs,
            st: St::Idle,
            deadline: None,
            far_off: false,
            call_known: false,
            pending: None,
            detecting: false,
            sending: false,
            alarm: false,
            oos_wanted: false,
            digits: String::new(),
            tx: Abcd::new(0xff),
            last_now: None,
            out: VecDeque::new(),
        };
        t.set_tx(TxSig::OnHook);
        t
    }

    /// The configuration.
    pub fn config(&self) -> &EmConfig {
        &self.cfg
    }

    /// The coarse state.
    pub fn state(&self) -> EmState {
        match self.st {
            St::Idle => EmState::Idle,
            St::OutOfService | St::FarBlocked => EmState::OutOfService,
            St::Seizing | St::StartSignal { .. } | St::GlareWait | St::PreDial | St::Sending | St::AckWink | St::AckWinkOn { .. } | St::Proceeding => {
                EmState::Outgoing
            }
            St::InGuard | St::InWink { .. } | St::InDelayDial | St::Collecting | St::Offered => EmState::Incoming,
            St::Connected => EmState::Connected,
            St::Releasing | St::AbandonWait | St::Guard => EmState::Releasing,
        }
    }

    /// True when the channel is free for a call.
    pub fn is_idle(&self) -> bool {
        self.st == St::Idle
    }

    /// The bits we are transmitting.
    pub fn tx_bits(&self) -> Abcd {
        self.tx
    }

    /// Next output, if any.
    pub fn poll_output(&mut self) -> Option<EmOutput> {
        self.out.pop_front()
    }

    /// When [`EmTrunk::handle_timeout`] must next be called.
    pub fn poll_timeout(&self) -> Option<Instant> {
        let debounce = if self.alarm { None } else { self.debounce.poll_timeout() };
        self.deadline.into_iter().chain(debounce).min()
    }

    /// Fires the timers due at `now`.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.advance(now);
    }

    /// Feeds an input from the shell.
    pub fn handle_input(&mut self, input: EmInput, now: Instant) {
        let now = self.advance(now);
        match input {
            EmInput::Bits(bits) => {
                if self.alarm {
                    return;
                }
                if let Some(stable) = self.debounce.push(self.cfg.framing.receive(bits), now) {
                    self.on_bits(stable, now);
                }
            }
            EmInput::DigitsReceived { kind, digits, complete } => self.on_digits(kind, &digits, complete, now),
            EmInput::DigitsSent => {
                if self.st == St::Sending {
                    self.digits_sent(now);
                }
            }
        }
    }

    /// Seizes the trunk and sends `address`.
    pub fn dial(&mut self, address: Address, now: Instant) -> Result<(), EmError> {
        let now = self.advance(now);
        if self.cfg.direction == TrunkDirection::Incoming {
            return Err(EmError::WrongDirection);
        }
        if self.st != St::Idle {
            return Err(EmError::InvalidState { command: "dial", state: self.state() });
        }
        self.digits = self.cfg.address.encode(&address, self.cfg.digits == DigitKind::MfR1)?;
        self.call_known = true;
        self.set_tx(TxSig::OffHook);
        let t = self.cfg.timers;
        match self.cfg.start {
            StartType::Immediate => self.go(St::Seizing, Some(at(now, t.immediate_delay))),
            StartType::Wink => self.go(St::Seizing, Some(at(now, t.wink_wait))),
            StartType::DelayDial => self.go(St::Seizing, Some(at(now, t.delay_dial_wait))),
        }
        Ok(())
    }

    /// Answers the offered incoming call.
    pub fn answer(&mut self, now: Instant) -> Result<(), EmError> {
        self.advance(now);
        if self.st != St::Offered {
            return Err(EmError::InvalidState { command: "answer", state: self.state() });
        }
        self.set_tx(TxSig::OffHook);
        self.go(St::Connected, None);
        Ok(())
    }

    /// Clears the call (no [`EmEvent::Released`] follows).
    pub fn hangup(&mut self, now: Instant) -> Result<(), EmError> {
        let now = self.advance(now);
        match self.st {
            St::Idle | St::OutOfService | St::FarBlocked | St::Releasing | St::AbandonWait | St::Guard => {
                Err(EmError::InvalidState { command: "hangup", state: self.state() })
            }
            _ => {
                self.call_known = false;
                self.end_call(now);
                Ok(())
            }
        }
    }

    /// Takes the channel out of service (`false`, after any call) or puts it back.
    pub fn set_in_service(&mut self, in_service: bool, now: Instant) {
        let now = self.advance(now);
        self.oos_wanted = !in_service;
        if !in_service && matches!(self.st, St::Idle | St::Guard | St::FarBlocked) {
            self.enter_oos();
        } else if in_service && self.st == St::OutOfService && !self.alarm {
            self.leave_oos(now);
        }
    }

    /// Span alarm raised (`true`) or cleared. During an alarm received bits
    /// are ignored; after it the shell should feed the current received bits.
    pub fn set_alarm(&mut self, alarm: bool, now: Instant) {
        let now = self.advance(now);
        if alarm == self.alarm {
            return;
        }
        self.alarm = alarm;
        if alarm {
            if self.call_known {
                self.call_known = false;
                self.emit(EmEvent::Released(CasCause::Alarm));
            }
            self.stop_io();
            self.enter_oos();
        } else {
            let idle = self.cfg.framing.receive(self.rbs.bits(TxSig::OnHook));
            self.debounce.reset(idle);
            self.far_off = false;
            if !self.oos_wanted {
                self.leave_oos(now);
            }
        }
    }

    // ---- internals ----

    fn emit(&mut self, ev: EmEvent) {
        self.out.push_back(EmOutput::Event(ev));
    }

    fn set_tx(&mut self, sig: TxSig) {
        let bits = self.cfg.framing.transmit(self.rbs.bits(sig));
        self.set_raw(bits);
    }

    fn set_raw(&mut self, bits: Abcd) {
        if bits != self.tx {
            self.tx = bits;
            self.out.push_back(EmOutput::Bits(bits));
        }
    }

    fn go(&mut self, st: St, deadline: Option<Instant>) {
        self.st = st;
        self.deadline = deadline;
    }

    fn enter_oos(&mut self) {
        let was = self.st == St::OutOfService;
        let busy = self.cfg.framing.transmit(self.rbs.tx().busy_out);
        self.set_raw(busy);
        self.go(St::OutOfService, None);
        if !was {
            self.emit(EmEvent::ServiceChanged(false));
        }
    }

    fn leave_oos(&mut self, now: Instant) {
        self.set_tx(TxSig::OnHook);
        self.emit(EmEvent::ServiceChanged(true));
        self.go(St::Guard, Some(at(now, self.cfg.timers.release_guard)));
    }

    fn stop_io(&mut self) {
        if self.detecting {
            self.detecting = false;
            self.out.push_back(EmOutput::StopDetect);
        }
        if self.sending {
            self.sending = false;
            self.out.push_back(EmOutput::StopDigits);
        }
    }

    /// Runs due timers in time order up to `now`; returns the effective now.
    fn advance(&mut self, now: Instant) -> Instant {
        super::advance(self, now)
    }

    fn on_bits(&mut self, bits: Abcd, now: Instant) {
        let off = matches!(self.rbs.decode(bits), super::bits::RxSig::OffHook);
        if off == self.far_off {
            return;
        }
        self.far_off = off;
        self.on_far(off, now);
    }

    fn on_far(&mut self, off: bool, now: Instant) {
        let t = self.cfg.timers;
        match self.st {
            St::Idle if off => self.incoming_seizure(now),
            St::Idle | St::OutOfService => {}
            St::FarBlocked => {
                if !off {
                    self.go(St::Guard, Some(at(now, t.release_guard)));
                }
            }
            St::Seizing => {
                if !off {
                    return;
                }
                match self.cfg.start {
                    StartType::Immediate => self.glare(now),
                    StartType::Wink => self.go(St::StartSignal { since: now }, Some(at(now, t.wink_rx_max))),
                    StartType::DelayDial => self.go(St::StartSignal { since: now }, Some(at(now, t.delay_dial_max))),
                }
            }
            St::StartSignal { since } => {
                if off {
                    return;
                }
                let len = now.saturating_duration_since(since);
                let (min, max) = match self.cfg.start {
                    StartType::DelayDial => (t.delay_dial_min, t.delay_dial_max),
                    _ => (t.wink_rx_min, t.wink_rx_max),
                };
                if len > max {
                    // The far end held a seizure and then yielded: wait for its real start signal.
                    self.restart_seizing(now);
                } else if len >= min {
                    self.go(St::PreDial, Some(at(now, t.post_wink_delay)));
                } else {
                    // A hit, not a start signal.
                    self.restart_seizing(now);
                }
            }
            St::GlareWait => {
                if !off {
                    self.restart_seizing(now);
                }
            }
            St::PreDial => {
                if off && self.cfg.start == StartType::DelayDial {
                    self.go(St::StartSignal { since: now }, Some(at(now, t.delay_dial_max)));
                }
            }
            St::Sending => {
                if off {
                    if self.cfg.start == StartType::Immediate {
                        self.glare(now);
                    } else if matches!(self.cfg.address, AddressFormat::FeatureGroupD { ack_wink: true }) {
                        // The far end recognised ST before our last tone
                        // ended: this is the start of its acknowledgement wink.
                        self.sending = false;
                        self.out.push_back(EmOutput::StopDigits);
                        self.go(St::AckWinkOn { since: now }, Some(at(now, t.wink_rx_max)));
                    } else {
                        // Answer during outpulsing (non-standard, but it is an answer).
                        self.sending = false;
                        self.out.push_back(EmOutput::StopDigits);
                        self.answered();
                    }
                }
            }
            St::AckWink => {
                if off {
                    self.go(St::AckWinkOn { since: now }, Some(at(now, t.wink_rx_max)));
                }
            }
            St::AckWinkOn { since } => {
                if !off {
                    if now.saturating_duration_since(since) >= t.wink_rx_min {
                        self.emit(EmEvent::Proceeding);
                        self.go(St::Proceeding, Some(at(now, t.answer)));
                    } else {
                        self.go(St::AckWink, Some(at(now, t.ack_wink_wait)));
                    }
                }
            }
            St::Proceeding => {
                if off {
                    self.answered();
                }
            }
            St::Connected => {
                if !off {
                    if self.call_known {
                        self.call_known = false;
                        self.emit(EmEvent::Released(CasCause::NormalClearing));
                    }
                    self.end_call(now);
                }
            }
            St::InGuard | St::InWink { .. } | St::InDelayDial | St::Collecting | St::Offered => {
                if !off {
                    // The caller abandoned.
                    if self.call_known {
                        self.call_known = false;
                        self.emit(EmEvent::Released(CasCause::NormalClearing));
                    }
                    self.end_call(now);
                }
            }
            St::Releasing | St::AbandonWait => {
                if !off {
                    self.go(St::Guard, Some(at(now, t.release_guard)));
                }
            }
            St::Guard => {}
        }
    }

    fn restart_seizing(&mut self, now: Instant) {
        let t = self.cfg.timers;
        let wait = match self.cfg.start {
            StartType::Immediate => t.immediate_delay,
            StartType::Wink => t.wink_wait,
            StartType::DelayDial => t.delay_dial_wait,
        };
        self.go(St::Seizing, Some(at(now, wait)));
    }

    fn answered(&mut self) {
        self.emit(EmEvent::Answered);
        self.go(St::Connected, None);
    }

    fn glare(&mut self, now: Instant) {
        if self.sending {
            self.sending = false;
            self.out.push_back(EmOutput::StopDigits);
        }
        match self.cfg.glare {
            GlarePriority::Keep => self.go(St::GlareWait, Some(at(now, self.cfg.timers.wink_wait))),
            GlarePriority::Yield => {
                self.call_known = false;
                self.emit(EmEvent::Released(CasCause::Glare));
                self.set_tx(TxSig::OnHook);
                self.incoming_seizure(now);
            }
        }
    }

    fn incoming_seizure(&mut self, now: Instant) {
        if self.cfg.direction == TrunkDirection::Outgoing {
            return;
        }
        let t = self.cfg.timers;
        self.collector = AddressCollector::new(self.cfg.address, self.cfg.digits == DigitKind::MfR1);
        match self.cfg.start {
            StartType::Immediate => self.start_collecting(now),
            StartType::Wink | StartType::DelayDial => self.go(St::InGuard, Some(at(now, t.pre_wink_guard))),
        }
    }

    fn start_collecting(&mut self, now: Instant) {
        self.detecting = true;
        self.out.push_back(EmOutput::StartDetect(self.cfg.digits));
        self.go(St::Collecting, Some(at(now, self.cfg.timers.first_digit)));
    }

    fn deadline_passed(&mut self, now: Instant) {
        let t = self.cfg.timers;
        match self.st {
            St::Seizing => match self.cfg.start {
                StartType::Immediate => self.send_digits(now),
                _ => self.fail(CasCause::NoSeizureAck, now),
            },
            St::StartSignal { .. } => self.glare(now),
            St::GlareWait => self.fail(CasCause::Glare, now),
            St::PreDial => self.send_digits(now),
            St::Sending => self.digits_sent(now),
            St::AckWink => self.fail(CasCause::NoSeizureAck, now),
            St::AckWinkOn { .. } => {
                // Too long for a wink: it is the answer.
                self.emit(EmEvent::Proceeding);
                self.answered();
            }
            St::Proceeding => self.fail(CasCause::NoAnswer, now),
            St::InGuard => {
                self.set_tx(TxSig::OffHook);
                match self.cfg.start {
                    StartType::DelayDial => self.go(St::InDelayDial, Some(at(now, t.delay_dial_send))),
                    _ => self.go(St::InWink { ack: false }, Some(at(now, t.wink_send))),
                }
            }
            St::InWink { ack } => {
                self.set_tx(TxSig::OnHook);
                if ack {
                    self.offer();
                } else {
                    self.start_collecting(now);
                }
            }
            St::InDelayDial => {
                self.set_tx(TxSig::OnHook);
                self.start_collecting(now);
            }
            St::Collecting => match self.collector.finish_on_timeout() {
                Ok(addr) => self.address_complete(addr, now),
                Err(_) => self.abandon(now),
            },
            St::Releasing | St::AbandonWait => {
                if self.far_off {
                    self.go(St::FarBlocked, None);
                } else {
                    self.go(St::Guard, Some(at(now, t.release_guard)));
                }
            }
            St::Guard => {
                self.go(St::Idle, None);
                if self.oos_wanted {
                    self.enter_oos();
                } else if self.far_off {
                    self.incoming_seizure(now);
                }
            }
            St::Idle | St::OutOfService | St::FarBlocked | St::Offered | St::Connected => {}
        }
    }

    fn send_digits(&mut self, now: Instant) {
        self.sending = true;
        self.out.push_back(EmOutput::SendDigits { kind: self.cfg.digits, digits: self.digits.clone() });
        self.go(St::Sending, Some(at(now, self.cfg.timers.digits_sent)));
    }

    fn digits_sent(&mut self, now: Instant) {
        self.sending = false;
        let t = self.cfg.timers;
        if matches!(self.cfg.address, AddressFormat::FeatureGroupD { ack_wink: true }) {
            self.go(St::AckWink, Some(at(now, t.ack_wink_wait)));
        } else {
            self.emit(EmEvent::Proceeding);
            self.go(St::Proceeding, Some(at(now, t.answer)));
        }
    }

    fn on_digits(&mut self, kind: DigitKind, digits: &str, complete: bool, now: Instant) {
        if self.st != St::Collecting || kind != self.cfg.digits {
            return;
        }
        match self.collector.push(digits) {
            Ok(Collect::Complete(addr)) => self.address_complete(addr, now),
            Ok(Collect::More) if complete => match self.collector.finish_on_timeout() {
                Ok(addr) => self.address_complete(addr, now),
                Err(_) => self.abandon(now),
            },
            Ok(Collect::More) => self.deadline = Some(at(now, self.cfg.timers.inter_digit)),
            Err(_) => self.abandon(now),
        }
    }

    fn address_complete(&mut self, addr: Address, now: Instant) {
        if self.detecting {
            self.detecting = false;
            self.out.push_back(EmOutput::StopDetect);
        }
        self.pending = Some(addr);
        if matches!(self.cfg.address, AddressFormat::FeatureGroupD { ack_wink: true }) {
            self.set_tx(TxSig::OffHook);
            self.go(St::InWink { ack: true }, Some(at(now, self.cfg.timers.wink_send)));
        } else {
            self.offer();
        }
    }

    fn offer(&mut self) {
        let addr = self.pending.take().unwrap_or_default();
        self.call_known = true;
        self.emit(EmEvent::Incoming(addr));
        self.go(St::Offered, None);
    }

    /// Incoming setup failed before call control knew of it.
    fn abandon(&mut self, now: Instant) {
        self.stop_io();
        self.set_tx(TxSig::OnHook);
        self.go(St::AbandonWait, Some(at(now, self.cfg.timers.clear_wait)));
    }

    fn fail(&mut self, cause: CasCause, now: Instant) {
        if self.call_known {
            self.call_known = false;
            self.emit(EmEvent::Released(cause));
        }
        self.end_call(now);
    }

    /// On hook, then wait for the far end to be on hook too, then guard.
    fn end_call(&mut self, now: Instant) {
        self.stop_io();
        self.pending = None;
        self.set_tx(TxSig::OnHook);
        let t = self.cfg.timers;
        if self.far_off {
            self.go(St::Releasing, Some(at(now, t.clear_wait)));
        } else {
            self.go(St::Guard, Some(at(now, t.release_guard)));
        }
    }
}

impl super::TimedCore for EmTrunk {
    fn timing(&mut self) -> super::Timing<'_> {
        super::Timing { last_now: &mut self.last_now, deadline: &mut self.deadline, debounce: &mut self.debounce, alarm: self.alarm }
    }

    fn on_stable_bits(&mut self, bits: Abcd, at: Instant) {
        self.on_bits(bits, at);
    }

    fn on_deadline(&mut self, at: Instant) {
        self.deadline_passed(at);
    }
}
