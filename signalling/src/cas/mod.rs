//! Sans-IO CAS (channel associated signalling) cores for T1 robbed-bit and
//! E1 timeslot-16 trunks.
//!
//! Like the analog ports, every core here is a pure state machine: inputs are
//! received ABCD bits, tone-digit reports and call-control commands, each
//! with `now: Instant`; outputs are drained with `poll_output()` and the next
//! wake-up is `poll_timeout()`. The *shell* (a later CAS TDM leg) moves the
//! bits with `DAHDI_SETTXBITS`/`GETRXBITS`, runs the tone detectors and
//! generators (tandem-spandsp's Bell MF, DTMF and R2 MF), and calls
//! `handle_timeout(now)` when the deadline passes.
//!
//! * [`bits`]: the ABCD vocabulary, DAHDI's per-type patterns as tables, the
//!   received-bits [`bits::Debouncer`] and busy-out patterns.
//! * [`em`]: T1 E&M trunks — immediate start, wink start, delay dial, both
//!   directions, glare on two-way trunks, busy-out; address signalling by
//!   [`fgd`] formats (plain, Feature Group B, Feature Group D with ANI and
//!   the acknowledgement wink).
//! * T1 channel-bank lines (FXS and FXO loop, ground and kewl start) need
//!   no core here: DAHDI already is the adapter. A T1 channel configured
//!   fxols/fxogs/fxoks (toward a bank's FXS card, phones) or
//!   fxsls/fxsgs/fxsks (toward its FXO card, CO lines) takes the same hook
//!   ioctls and raises the same events as an analog port, because the
//!   kernel's dahdi-base.c turns them into ABCD bits and back
//!   (`dahdi_rbs_sethook` transmits the per-type pattern of each hook
//!   state, `dahdi_rbsbits` decodes received bits into hook signals and
//!   `__dahdi_hooksig_pvt` runs the debounce, ring and ground-start
//!   machines). So bank lines run on the analog cores ([`crate::fxs`],
//!   [`crate::fxo`]) through the gateway's `[[analog]]` interfaces, as
//!   chan_dahdi runs them on its analog code. [`bits::RbsType`] still
//!   carries their patterns, for tracing bits and for tests.
//! * [`r2`]: E1 MFC/R2 — Q.421 line signalling and compelled inter-register
//!   signalling both ways; every country difference is a
//!   [`r2_variants::R2Variant`] value.
//!
//! Inputs are processed in time order; Instants that go backwards count as no
//! time passing; no input sequence panics, and every core returns to idle
//! once its inputs stop (each waiting state has a timer).

pub mod bits;
pub mod em;
pub mod fgd;
pub mod r2;
pub mod r2_variants;

#[cfg(test)]
mod tests;

pub use bits::{Abcd, Debouncer, Framing, RbsType};

/// Why a CAS call ended or failed, with the Q.850 cause the gateway maps it to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CasCause {
    /// The far end cleared (or we did, when reported back to us).
    NormalClearing,
    /// Called party busy.
    Busy,
    /// Number does not exist.
    Unallocated,
    /// Network congestion / all circuits busy.
    Congestion,
    /// Switching equipment congestion (e.g. R2 A-15, international exchange).
    SwitchingCongestion,
    /// Called line out of order.
    OutOfOrder,
    /// The number has changed.
    NumberChanged,
    /// No answer in time.
    NoAnswer,
    /// Lost a glare (both ends seized); the call may be retried on another channel.
    Glare,
    /// The far end did not acknowledge the seizure in time (no wink, no
    /// delay-dial signal, no R2 seize acknowledgement).
    NoSeizureAck,
    /// A protocol timer expired during address signalling.
    Timeout,
    /// The far end broke the protocol (unexpected bits or tone).
    ProtocolError,
    /// The span went into alarm.
    Alarm,
    /// The channel is blocked or out of service (ours or the far end's).
    OutOfService,
}

impl CasCause {
    /// The ITU-T Q.850 cause value.
    pub fn q850(self) -> u8 {
        match self {
            CasCause::NormalClearing => 16,
            CasCause::Busy => 17,
            CasCause::Unallocated => 1,
            CasCause::Congestion => 34,
            CasCause::SwitchingCongestion => 42,
            CasCause::OutOfOrder => 27,
            CasCause::NumberChanged => 22,
            CasCause::NoAnswer => 19,
            CasCause::Glare => 44,
            CasCause::NoSeizureAck | CasCause::Timeout => 102,
            CasCause::ProtocolError => 111,
            CasCause::Alarm => 38,
            CasCause::OutOfService => 27,
        }
    }
}

/// How address digits travel in the voice path of a T1 trunk.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum DigitKind {
    /// Bell MF (R1): `0-9`, `*` = KP, `#` = ST, `A`/`B`/`C` = ST'/ST''/ST'''
    /// (chan_dahdi's MF dial-string letters).
    #[default]
    MfR1,
    /// DTMF: `0-9`, `*`, `#`, `A-D`.
    Dtmf,
}

/// Largest number of timer steps one input processes (a safety net).
const MAX_STEPS: usize = 64;

/// The timing state every CAS core keeps, lent to [`advance`].
pub(crate) struct Timing<'a> {
    /// The latest `now` seen (time never goes backwards).
    pub last_now: &'a mut Option<Instant>,
    /// The core's one protocol deadline.
    pub deadline: &'a mut Option<Instant>,
    /// The received-bits debouncer.
    pub debounce: &'a mut Debouncer,
    /// In alarm, received bits are not believed.
    pub alarm: bool,
}

/// A CAS core driven by [`advance`]: its timing state, and what to do when
/// received bits settle or the deadline passes.
pub(crate) trait TimedCore {
    fn timing(&mut self) -> Timing<'_>;
    fn on_stable_bits(&mut self, bits: Abcd, at: Instant);
    fn on_deadline(&mut self, at: Instant);
}

/// Runs a core's due timers (debounced bits and its deadline) in time order
/// up to `now`; returns the effective now (never earlier than before).
pub(crate) fn advance<C: TimedCore>(core: &mut C, now: Instant) -> Instant {
    let now = {
        let t = core.timing();
        let now = t.last_now.map_or(now, |last| now.max(last));
        *t.last_now = Some(now);
        now
    };
    for _ in 0..MAX_STEPS {
        let t = core.timing();
        let deb = if t.alarm { None } else { t.debounce.poll_timeout() };
        let Some(next) = [*t.deadline, deb].into_iter().flatten().min() else { break };
        if next > now {
            break;
        }
        if deb == Some(next) {
            if let Some(stable) = t.debounce.handle_timeout(next) {
                core.on_stable_bits(stable, next);
            }
        } else {
            *t.deadline = None;
            core.on_deadline(next);
        }
    }
    now
}

/// `now + d`, saturating to `now` on overflow.
pub(crate) fn at(now: Instant, d: std::time::Duration) -> Instant {
    now.checked_add(d).unwrap_or(now)
}

use std::time::Instant;
