//! DTMF receiver and generator over spandsp's `dtmf_rx_*` / `dtmf_tx_*`.
//!
//! [`DtmfRx`] uses spandsp's realtime callback, which reports each confirmed
//! change (digit on, digit off) together with the number of samples since the
//! previous report. Summing those gives exact positions, so every digit comes
//! out as a [`DigitEvent::DigitDown`] / [`DigitEvent::DigitUp`] pair whose
//! distance is the digit's duration, which is what RFC 4733 events need.

use std::ffi::{c_char, c_int, c_void};
use std::ptr::{self, NonNull};

use spandsp_sys as sys;
use tandem_dsp::DigitEvent;

use crate::{Error, MAX_CALL_SAMPLES, MAX_REPORTS, generate_chunked, init_lock};

/// spandsp's DTMF analysis block, in samples (`DTMF_SAMPLES_PER_BLOCK`, spandsp dtmf.c).
pub const BLOCK_LEN: u64 = 102;

/// `sizeof(dtmf_rx_state_t)` of spandsp 3.0 on 64-bit Linux, measured with a C `sizeof` (the struct is private).
const DTMF_RX_STATE_BYTES: usize = 432;

/// The characters [`DtmfTx`] can send and [`DtmfRx`] reports.
pub const DIGITS: &str = "0123456789*#ABCD";

/// Acceptance limits of a [`DtmfRx`]. The defaults are spandsp's own.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct DtmfRxConfig {
    /// Notch out 350 and 440 Hz (North American dial tone) before detection.
    pub filter_dial_tone: bool,
    /// How far the low-group (row) tone may be above the high-group (column)
    /// tone, dB (spandsp's "twist"; default 8).
    pub max_low_above_high_db: f32,
    /// How far the high-group tone may be above the low-group tone, dB
    /// (spandsp's "reverse twist"; default 4).
    pub max_high_above_low_db: f32,
    /// Minimum level of each tone, dBm0 (default −42).
    pub threshold_dbm0: f32,
}

impl Default for DtmfRxConfig {
    fn default() -> Self {
        // spandsp dtmf.c: dtmf_normal_twist 8 dB, dtmf_reverse_twist 4 dB, dtmf_threshold −42 dBm0.
        DtmfRxConfig { filter_dial_tone: false, max_low_above_high_db: 8.0, max_high_above_low_db: 4.0, threshold_dbm0: -42.0 }
    }
}

/// One report from a spandsp realtime callback, with its absolute position.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Report {
    pub(crate) code: c_int,
    pub(crate) level: c_int,
    pub(crate) at: u64,
}

/// Where a realtime callback leaves its reports until the wrapper drains them.
///
/// Lives in its own heap allocation (owned through a raw pointer) so that its
/// address, given to spandsp as `user_data`, stays valid when the wrapper moves.
pub(crate) struct Reports {
    pub(crate) buf: [Report; MAX_REPORTS],
    pub(crate) len: usize,
    /// Samples accounted for so far (DTMF: sum of the reported delays).
    pub(crate) position: u64,
}

impl Reports {
    pub(crate) fn alloc() -> NonNull<Reports> {
        let b = Box::new(Reports { buf: [Report::default(); MAX_REPORTS], len: 0, position: 0 });
        // SAFETY: Box::into_raw never returns null.
        unsafe { NonNull::new_unchecked(Box::into_raw(b)) }
    }

    pub(crate) fn push(&mut self, code: c_int, level: c_int) {
        if let Some(slot) = self.buf.get_mut(self.len) {
            *slot = Report { code, level, at: self.position };
            self.len += 1;
        }
    }
}

/// spandsp's realtime DTMF callback: `delay` is the number of samples since the previous report.
unsafe extern "C" fn on_dtmf_report(user_data: *mut c_void, code: c_int, level: c_int, delay: c_int) {
    // SAFETY: `user_data` is the `Reports` allocation registered by `DtmfRx::new`;
    // spandsp calls this only from inside `dtmf_rx`, while no Rust reference to it exists.
    let r = unsafe { &mut *user_data.cast::<Reports>() };
    r.position += u64::try_from(delay).unwrap_or(0);
    r.push(code, level);
}

/// Streaming DTMF detector (spandsp `dtmf_rx`), reporting digit start and end.
///
/// Positions are in samples since creation (plus [`DtmfRx::starting_at`]).
/// spandsp confirms a change after two agreeing 102-sample blocks; the
/// reported position is the start of the first of them (the end of the
/// confirming block minus two blocks), the same convention as
/// [`tandem_dsp::dtmf::DtmfDetector`]. A digit's duration is its
/// `DigitUp.at - DigitDown.at`. Delays longer than `i32::MAX` samples
/// (74 hours) with no digit are counted as `i32::MAX` by spandsp.
pub struct DtmfRx {
    state: NonNull<sys::dtmf_rx_state_t>,
    reports: NonNull<Reports>,
    start: u64,
    fed: u64,
    current: Option<(char, i32)>,
}

// SAFETY: the spandsp state and the `Reports` box are heap data owned only by
// this value, with no thread affinity (see the crate docs, "Threads"); all
// access goes through `&mut self`. Not `Sync`: no `&self` method touches them.
unsafe impl Send for DtmfRx {}

impl DtmfRx {
    /// A detector with the given limits.
    pub fn new(config: &DtmfRxConfig) -> Result<DtmfRx, Error> {
        let reports = Reports::alloc();
        let state = {
            let _guard = init_lock();
            // SAFETY: a null state asks spandsp to allocate one; no digits callback.
            unsafe { sys::dtmf_rx_init(ptr::null_mut(), None, ptr::null_mut()) }
        };
        let Some(state) = NonNull::new(state) else {
            // SAFETY: allocated just above by Reports::alloc and not shared.
            drop(unsafe { Box::from_raw(reports.as_ptr()) });
            return Err(Error::Alloc("DTMF receiver"));
        };
        let clamp = |db: f32| if db.is_finite() { db.clamp(0.0, 60.0) } else { 0.0 };
        let threshold = if config.threshold_dbm0.is_finite() { config.threshold_dbm0.clamp(-98.0, 3.0) } else { -42.0 };
        // SAFETY: `state` is a live receiver; `reports` outlives it (freed after it in Drop).
        unsafe {
            sys::dtmf_rx_parms(
                state.as_ptr(),
                c_int::from(config.filter_dial_tone),
                clamp(config.max_low_above_high_db),
                clamp(config.max_high_above_low_db),
                threshold,
            );
            sys::dtmf_rx_set_realtime_callback(state.as_ptr(), Some(on_dtmf_report), reports.as_ptr().cast());
        }
        Ok(DtmfRx { state, reports, start: 0, fed: 0, current: None })
    }

    /// Offsets every reported position by `position` (for a detector created mid-stream).
    pub fn starting_at(mut self, position: u64) -> DtmfRx {
        self.start = position;
        self
    }

    /// Feeds samples; `on_event` gets each digit start and end in order.
    pub fn process_with(&mut self, samples: &[i16], mut on_event: impl FnMut(DigitEvent)) {
        for chunk in samples.chunks(MAX_CALL_SAMPLES) {
            // SAFETY: live state; the pointer and length describe `chunk`
            // (at most MAX_CALL_SAMPLES, so the length fits a c_int).
            unsafe { sys::dtmf_rx(self.state.as_ptr(), chunk.as_ptr(), chunk.len() as c_int) };
            self.fed += chunk.len() as u64;
            self.drain(&mut on_event);
        }
    }

    /// Feeds samples and appends the events to `events`.
    pub fn process(&mut self, samples: &[i16], events: &mut Vec<DigitEvent>) {
        self.process_with(samples, |e| events.push(e));
    }

    /// Ends a digit still sounding at the end of input (a `DigitUp` at [`DtmfRx::position`]).
    pub fn finish_with(&mut self, mut on_event: impl FnMut(DigitEvent)) {
        if let Some((digit, _)) = self.current.take() {
            on_event(DigitEvent::DigitUp { digit, at: self.position() });
        }
    }

    /// The digit currently sounding, if any.
    pub fn current(&self) -> Option<char> {
        self.current.map(|(d, _)| d)
    }

    /// Level of the digit currently sounding, dBm0, as spandsp measured it when confirming it.
    pub fn current_level_dbm0(&self) -> Option<i32> {
        self.current.map(|(_, l)| l)
    }

    /// Samples fed so far, plus the start offset.
    pub fn position(&self) -> u64 {
        self.start + self.fed
    }

    /// Heap bytes behind this receiver (spandsp's state and the report buffer), for memory accounting.
    pub fn heap_bytes(&self) -> usize {
        DTMF_RX_STATE_BYTES + std::mem::size_of::<Reports>()
    }

    fn drain(&mut self, on_event: &mut impl FnMut(DigitEvent)) {
        // SAFETY: spandsp is not running (we are between calls), so this is the only reference.
        let r = unsafe { &mut *self.reports.as_ptr() };
        for rep in &r.buf[..r.len] {
            let at = self.start + rep.at.saturating_sub(2 * BLOCK_LEN);
            let digit = u8::try_from(rep.code).ok().map(char::from).filter(|c| *c != '\0' && DIGITS.contains(*c));
            if let Some((prev, _)) = self.current
                && Some(prev) != digit
            {
                on_event(DigitEvent::DigitUp { digit: prev, at });
                self.current = None;
            }
            if let Some(d) = digit
                && self.current.is_none()
            {
                self.current = Some((d, rep.level));
                on_event(DigitEvent::DigitDown { digit: d, at });
            }
        }
        r.len = 0;
    }
}

impl Drop for DtmfRx {
    fn drop(&mut self) {
        // SAFETY: both were allocated in `new` and are freed exactly once, the state first
        // (it holds the pointer to `reports`).
        unsafe {
            sys::dtmf_rx_free(self.state.as_ptr());
            drop(Box::from_raw(self.reports.as_ptr()));
        }
    }
}

impl std::fmt::Debug for DtmfRx {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DtmfRx").field("position", &self.position()).field("current", &self.current()).finish_non_exhaustive()
    }
}

/// Level and timing of a [`DtmfTx`]. The defaults are spandsp's own.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DtmfTxConfig {
    /// Level of the low-group tone, dBm0 (default −10).
    pub low_level_dbm0: i32,
    /// Level of the high-group tone above the low-group one, dB (default 0).
    pub twist_db: i32,
    /// Tone duration, ms (default 50; at most 60 000).
    pub on_ms: u32,
    /// Silence after each digit, ms (default 55; at most 60 000).
    pub off_ms: u32,
}

impl Default for DtmfTxConfig {
    fn default() -> Self {
        // spandsp dtmf.c: DEFAULT_DTMF_TX_LEVEL −10 dBm0, ON_TIME 50 ms, OFF_TIME 55 ms.
        DtmfTxConfig { low_level_dbm0: -10, twist_db: 0, on_ms: 50, off_ms: 55 }
    }
}

/// Longest tone or gap a generator accepts, ms (keeps spandsp's `ms * 8` in an `int`).
const MAX_MS: u32 = 60_000;

/// Digits a [`DtmfTx`] can hold queued (`MAX_DTMF_DIGITS`, spandsp/dtmf.h).
pub const MAX_QUEUED: usize = 128;

/// DTMF generator (spandsp `dtmf_tx`): queue digits, then pull samples.
pub struct DtmfTx {
    state: NonNull<sys::dtmf_tx_state_t>,
}

// SAFETY: as for DtmfRx; a heap state with no thread affinity, used through `&mut self`.
unsafe impl Send for DtmfTx {}

impl DtmfTx {
    /// A generator with the given level and timing.
    pub fn new(config: &DtmfTxConfig) -> Result<DtmfTx, Error> {
        let state = {
            let _guard = init_lock();
            // SAFETY: a null state asks spandsp to allocate one; no refill callback.
            unsafe { sys::dtmf_tx_init(ptr::null_mut(), None, ptr::null_mut()) }
        };
        let state = NonNull::new(state).ok_or(Error::Alloc("DTMF generator"))?;
        let level = config.low_level_dbm0.clamp(-90, 3);
        let twist = config.twist_db.clamp(-30, 30);
        // SAFETY: live state.
        unsafe {
            sys::dtmf_tx_set_level(state.as_ptr(), level, twist);
            sys::dtmf_tx_set_timing(state.as_ptr(), config.on_ms.min(MAX_MS) as c_int, config.off_ms.min(MAX_MS) as c_int);
        }
        Ok(DtmfTx { state })
    }

    /// Queues `digits` (from [`DIGITS`]). All or nothing: an invalid digit or
    /// a full queue queues none of them.
    pub fn put(&mut self, digits: &str) -> Result<(), Error> {
        if let Some(bad) = digits.chars().find(|c| !DIGITS.contains(*c)) {
            return Err(Error::InvalidDigit { what: "DTMF generator", digit: bad });
        }
        if digits.is_empty() {
            return Ok(());
        }
        if digits.len() > MAX_QUEUED {
            return Err(Error::QueueFull { what: "DTMF generator", len: digits.len() });
        }
        // SAFETY: live state; `digits` is ASCII (checked above) of the given length.
        let r = unsafe { sys::dtmf_tx_put(self.state.as_ptr(), digits.as_ptr().cast::<c_char>(), digits.len() as c_int) };
        if r == 0 { Ok(()) } else { Err(Error::QueueFull { what: "DTMF generator", len: digits.len() }) }
    }

    /// Fills `out` with the queued digits (tone then gap each). Returns how
    /// many samples were generated; fewer than `out.len()` means the queue ran
    /// dry, and the rest of `out` is silence.
    pub fn generate(&mut self, out: &mut [i16]) -> usize {
        // SAFETY: live state; the pointer and length describe the chunk.
        generate_chunked(out, |chunk| unsafe { sys::dtmf_tx(self.state.as_ptr(), chunk.as_mut_ptr(), chunk.len() as c_int) })
    }
}

impl Drop for DtmfTx {
    fn drop(&mut self) {
        // SAFETY: allocated in `new`, freed exactly once.
        unsafe { sys::dtmf_tx_free(self.state.as_ptr()) };
    }
}

impl std::fmt::Debug for DtmfTx {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DtmfTx").finish_non_exhaustive()
    }
}
