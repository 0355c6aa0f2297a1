//! Bell MF (R1) and MFC/R2 receivers and generators over spandsp's `bell_r2_mf.c`.
//!
//! The functions are declared in [`crate::ffi`] (not bound by `spandsp-sys`).
//! Signals use `tandem-dsp`'s vocabulary: Bell MF as [`R1Signal`], R2 as the
//! signal number 1..=15 of [`tandem_dsp::mf::PAIRS`] (the ITU-T Q.441
//! numbering). spandsp's own characters are mapped here: Bell MF
//! `"1234567890"`, KP `*`, ST `#`, ST' `A`, ST'' `B`, ST''' `C`; R2
//! `"1234567890BCDEF"` for signals 1..=15.

use std::ffi::{c_char, c_int, c_void};
use std::ptr::{self, NonNull};

use tandem_dsp::DigitEvent;
use tandem_dsp::mf::R1Signal;

use crate::dtmf::Reports;
use crate::ffi;
use crate::{Error, MAX_CALL_SAMPLES, generate_chunked, init_lock};

/// spandsp's character for a Bell MF signal.
fn r1_char(signal: R1Signal) -> Option<u8> {
    Some(match signal {
        R1Signal::Digit(d) if d <= 9 => b'0' + d,
        R1Signal::Digit(_) => return None,
        R1Signal::Kp => b'*',
        R1Signal::St => b'#',
        R1Signal::StPrime => b'A',
        R1Signal::St2Prime => b'B',
        R1Signal::St3Prime => b'C',
    })
}

/// The Bell MF signal of spandsp's character.
fn r1_from_char(c: u8) -> Option<R1Signal> {
    Some(match c {
        b'0'..=b'9' => R1Signal::Digit(c - b'0'),
        b'*' => R1Signal::Kp,
        b'#' => R1Signal::St,
        b'A' => R1Signal::StPrime,
        b'B' => R1Signal::St2Prime,
        b'C' => R1Signal::St3Prime,
        _ => return None,
    })
}

/// spandsp's R2 characters for signals 1..=15.
const R2_CHARS: &[u8; 15] = b"1234567890BCDEF";

/// spandsp's R2 analysis block, in samples (`R2_MF_SAMPLES_PER_BLOCK`, spandsp bell_r2_mf.c).
pub const R2_BLOCK_LEN: u64 = 133;

/// Streaming Bell MF (R1) receiver (spandsp `bell_mf_rx`).
///
/// spandsp reports each signal once, when it has been seen for two blocks
/// (four for KP) after something different (ITU-T Q.320/Q.322/Q.323B).
/// It reports no end, so the wrapper gives signals, not positions.
pub struct BellMfRx {
    state: NonNull<ffi::BellMfRxState>,
}

// SAFETY: a heap state with no thread affinity, used only through `&mut self` (crate docs, "Threads").
unsafe impl Send for BellMfRx {}

impl BellMfRx {
    /// A receiver with spandsp's limits (−30.5 dBm0 per tone, 6 dB twist).
    pub fn new() -> Result<BellMfRx, Error> {
        let state = {
            let _guard = init_lock();
            // SAFETY: a null state asks spandsp to allocate one; digits are collected with bell_mf_rx_get.
            unsafe { ffi::bell_mf_rx_init(ptr::null_mut(), None, ptr::null_mut()) }
        };
        Ok(BellMfRx { state: NonNull::new(state).ok_or(Error::Alloc("Bell MF receiver"))? })
    }

    /// Feeds samples; `on_signal` gets each signal as it is recognised.
    pub fn process_with(&mut self, samples: &[i16], mut on_signal: impl FnMut(R1Signal)) {
        let mut buf = [0 as c_char; ffi::MAX_BELL_MF_DIGITS + 1];
        for chunk in samples.chunks(MAX_CALL_SAMPLES) {
            // SAFETY: live state; the pointer and length describe `chunk`.
            unsafe { ffi::bell_mf_rx(self.state.as_ptr(), chunk.as_ptr(), chunk.len() as c_int) };
            // SAFETY: `buf` holds MAX + 1 bytes, as bell_mf_rx_get requires (it writes a NUL after `max`).
            let n = unsafe { ffi::bell_mf_rx_get(self.state.as_ptr(), buf.as_mut_ptr(), ffi::MAX_BELL_MF_DIGITS as c_int) };
            for &c in &buf[..n.min(ffi::MAX_BELL_MF_DIGITS)] {
                if let Some(s) = r1_from_char(c as u8) {
                    on_signal(s);
                }
            }
        }
    }

    /// Feeds samples and appends the recognised signals to `signals`.
    pub fn process(&mut self, samples: &[i16], signals: &mut Vec<R1Signal>) {
        self.process_with(samples, |s| signals.push(s));
    }
}

impl Drop for BellMfRx {
    fn drop(&mut self) {
        // SAFETY: allocated in `new`, freed exactly once.
        unsafe { ffi::bell_mf_rx_free(self.state.as_ptr()) };
    }
}

impl std::fmt::Debug for BellMfRx {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BellMfRx").finish_non_exhaustive()
    }
}

/// Signals a [`BellMfTx`] can hold queued (`MAX_BELL_MF_DIGITS`, spandsp/bell_r2_mf.h).
pub const BELL_MF_MAX_QUEUED: usize = ffi::MAX_BELL_MF_DIGITS;

/// Bell MF (R1) generator (spandsp `bell_mf_tx`): KP 100 ms, other signals
/// 68 ms, 68 ms gaps, −7 dBm0 per tone.
pub struct BellMfTx {
    state: NonNull<ffi::BellMfTxState>,
}

// SAFETY: a heap state with no thread affinity, used only through `&mut self` (crate docs, "Threads").
unsafe impl Send for BellMfTx {}

impl BellMfTx {
    /// An idle generator.
    pub fn new() -> Result<BellMfTx, Error> {
        let state = {
            let _guard = init_lock();
            // SAFETY: a null state asks spandsp to allocate one.
            unsafe { ffi::bell_mf_tx_init(ptr::null_mut()) }
        };
        Ok(BellMfTx { state: NonNull::new(state).ok_or(Error::Alloc("Bell MF generator"))? })
    }

    /// Queues `signals`; all or nothing.
    pub fn put(&mut self, signals: &[R1Signal]) -> Result<(), Error> {
        let mut chars = [0u8; BELL_MF_MAX_QUEUED];
        if signals.len() > chars.len() {
            return Err(Error::QueueFull { what: "Bell MF generator", len: signals.len() });
        }
        for (slot, &s) in chars.iter_mut().zip(signals) {
            *slot = r1_char(s).ok_or(Error::InvalidDigit { what: "Bell MF generator", digit: '?' })?;
        }
        if signals.is_empty() {
            return Ok(());
        }
        // SAFETY: live state; `chars[..len]` is initialised.
        let r = unsafe { ffi::bell_mf_tx_put(self.state.as_ptr(), chars.as_ptr().cast::<c_char>(), signals.len() as c_int) };
        if r == 0 { Ok(()) } else { Err(Error::QueueFull { what: "Bell MF generator", len: signals.len() }) }
    }

    /// Fills `out` with the queued signals. Returns how many samples were
    /// generated; fewer than `out.len()` means the queue ran dry, and the rest
    /// of `out` is silence.
    pub fn generate(&mut self, out: &mut [i16]) -> usize {
        // SAFETY: live state; the pointer and length describe the chunk.
        generate_chunked(out, |chunk| unsafe { ffi::bell_mf_tx(self.state.as_ptr(), chunk.as_mut_ptr(), chunk.len() as c_int) })
    }
}

impl Drop for BellMfTx {
    fn drop(&mut self) {
        // SAFETY: allocated in `new`, freed exactly once.
        unsafe { ffi::bell_mf_tx_free(self.state.as_ptr()) };
    }
}

impl std::fmt::Debug for BellMfTx {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BellMfTx").finish_non_exhaustive()
    }
}

/// Which MFC/R2 signal set: forward (1380..1980 Hz) or backward (1140..540 Hz).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum R2Direction {
    /// Forward signals (groups I and II), sent by the outgoing register.
    Forward,
    /// Backward signals (groups A and B), sent by the incoming register.
    Backward,
}

impl R2Direction {
    fn fwd(self) -> bool {
        self == R2Direction::Forward
    }
}

/// spandsp's R2 tone callback: reports are stamped with the position the wrapper set before the call.
unsafe extern "C" fn on_r2_report(user_data: *mut c_void, code: c_int, level: c_int, _delay: c_int) {
    // SAFETY: `user_data` is the `Reports` allocation registered by `R2MfRx::new`;
    // spandsp calls this only from inside `r2_mf_rx`, while no Rust reference to it exists.
    let r = unsafe { &mut *user_data.cast::<Reports>() };
    r.push(code, level);
}

/// Streaming MFC/R2 receiver (spandsp `r2_mf_rx`, ITU-T Q.441), reporting
/// signal start and end as signal numbers 1..=15.
///
/// spandsp decides per 133-sample block with no debouncing (compelled
/// signalling wants the fastest response); positions are the start of the
/// block that showed the change.
pub struct R2MfRx {
    state: NonNull<ffi::R2MfRxState>,
    reports: NonNull<Reports>,
    fed: u64,
    current: Option<u8>,
}

// SAFETY: the spandsp state and the `Reports` box are heap data owned only by
// this value, with no thread affinity; all access goes through `&mut self`.
unsafe impl Send for R2MfRx {}

impl R2MfRx {
    /// A receiver for one direction's signals.
    pub fn new(direction: R2Direction) -> Result<R2MfRx, Error> {
        let reports = Reports::alloc();
        let state = {
            let _guard = init_lock();
            // SAFETY: a null state asks spandsp to allocate one; `reports` outlives it (see Drop).
            unsafe { ffi::r2_mf_rx_init(ptr::null_mut(), direction.fwd(), Some(on_r2_report), reports.as_ptr().cast()) }
        };
        let Some(state) = NonNull::new(state) else {
            // SAFETY: allocated just above by Reports::alloc and not shared.
            drop(unsafe { Box::from_raw(reports.as_ptr()) });
            return Err(Error::Alloc("R2 MF receiver"));
        };
        Ok(R2MfRx { state, reports, fed: 0, current: None })
    }

    /// Feeds samples; `on_event` gets each signal start and end in order.
    pub fn process_with(&mut self, samples: &[i16], mut on_event: impl FnMut(DigitEvent<u8>)) {
        let mut rest = samples;
        while !rest.is_empty() {
            // Split at block boundaries so that any report belongs to the end of this piece.
            let to_block_end = (R2_BLOCK_LEN - self.fed % R2_BLOCK_LEN) as usize;
            let (piece, tail) = rest.split_at(to_block_end.min(rest.len()));
            rest = tail;
            let end = self.fed + piece.len() as u64;
            // SAFETY: spandsp is not running, so this is the only reference to `reports`.
            unsafe { (*self.reports.as_ptr()).position = end.saturating_sub(R2_BLOCK_LEN) };
            // SAFETY: live state; the pointer and length describe `piece` (at most one block).
            unsafe { ffi::r2_mf_rx(self.state.as_ptr(), piece.as_ptr(), piece.len() as c_int) };
            self.fed = end;
            self.drain(&mut on_event);
        }
    }

    /// Feeds samples and appends the events to `events`.
    pub fn process(&mut self, samples: &[i16], events: &mut Vec<DigitEvent<u8>>) {
        self.process_with(samples, |e| events.push(e));
    }

    /// The signal currently received, if any.
    pub fn current(&self) -> Option<u8> {
        self.current
    }

    /// Samples fed so far.
    pub fn position(&self) -> u64 {
        self.fed
    }

    fn drain(&mut self, on_event: &mut impl FnMut(DigitEvent<u8>)) {
        // SAFETY: spandsp is not running, so this is the only reference.
        let r = unsafe { &mut *self.reports.as_ptr() };
        for rep in &r.buf[..r.len] {
            let code = u8::try_from(rep.code).ok().and_then(|c| R2_CHARS.iter().position(|&x| x == c)).map(|i| i as u8 + 1);
            if let Some(prev) = self.current
                && Some(prev) != code
            {
                on_event(DigitEvent::DigitUp { digit: prev, at: rep.at });
                self.current = None;
            }
            if let Some(c) = code
                && self.current.is_none()
            {
                self.current = Some(c);
                on_event(DigitEvent::DigitDown { digit: c, at: rep.at });
            }
        }
        r.len = 0;
    }
}

impl Drop for R2MfRx {
    fn drop(&mut self) {
        // SAFETY: both were allocated in `new` and are freed exactly once, the state first.
        unsafe {
            ffi::r2_mf_rx_free(self.state.as_ptr());
            drop(Box::from_raw(self.reports.as_ptr()));
        }
    }
}

impl std::fmt::Debug for R2MfRx {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("R2MfRx").field("position", &self.fed).field("current", &self.current).finish_non_exhaustive()
    }
}

/// MFC/R2 generator (spandsp `r2_mf_tx`): sends one signal continuously
/// until told otherwise, as compelled signalling does (−11.5 dBm0 per tone).
pub struct R2MfTx {
    state: NonNull<ffi::R2MfTxState>,
    current: Option<u8>,
}

// SAFETY: a heap state with no thread affinity, used only through `&mut self` (crate docs, "Threads").
unsafe impl Send for R2MfTx {}

impl R2MfTx {
    /// A silent generator for one direction's signals.
    pub fn new(direction: R2Direction) -> Result<R2MfTx, Error> {
        let state = {
            let _guard = init_lock();
            // SAFETY: a null state asks spandsp to allocate one.
            unsafe { ffi::r2_mf_tx_init(ptr::null_mut(), direction.fwd()) }
        };
        Ok(R2MfTx { state: NonNull::new(state).ok_or(Error::Alloc("R2 MF generator"))?, current: None })
    }

    /// Starts sending signal `code` (1..=15), or silence for `None`.
    pub fn set(&mut self, code: Option<u8>) -> Result<(), Error> {
        let c = match code {
            None => 0,
            Some(n) => *usize::from(n)
                .checked_sub(1)
                .and_then(|i| R2_CHARS.get(i))
                .ok_or(Error::InvalidDigit { what: "R2 MF generator", digit: char::from(n.saturating_add(b'0')) })?,
        };
        // SAFETY: live state.
        unsafe { ffi::r2_mf_tx_put(self.state.as_ptr(), c as c_char) };
        self.current = code;
        Ok(())
    }

    /// The signal being sent, if any.
    pub fn current(&self) -> Option<u8> {
        self.current
    }

    /// Fills `out` with the current signal (or silence).
    pub fn generate(&mut self, out: &mut [i16]) {
        for chunk in out.chunks_mut(MAX_CALL_SAMPLES) {
            // SAFETY: live state; the pointer and length describe `chunk`.
            let n = unsafe { ffi::r2_mf_tx(self.state.as_ptr(), chunk.as_mut_ptr(), chunk.len() as c_int) };
            let n = usize::try_from(n).unwrap_or(0).min(chunk.len());
            chunk[n..].fill(0);
        }
    }
}

impl Drop for R2MfTx {
    fn drop(&mut self) {
        // SAFETY: allocated in `new`, freed exactly once.
        unsafe { ffi::r2_mf_tx_free(self.state.as_ptr()) };
    }
}

impl std::fmt::Debug for R2MfTx {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("R2MfTx").field("current", &self.current).finish_non_exhaustive()
    }
}
