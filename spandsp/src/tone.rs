//! Call-progress tone detection (dial, busy, reorder, ringback) over spandsp's `super_tone_rx_*`.
//!
//! A tone to watch for is a cadence: a list of [`CadenceStep`]s (one or two
//! frequencies, or silence, each lasting between a minimum and a maximum),
//! repeated. spandsp analyses 128-sample blocks, tracks the last few
//! segments and reports a tone once the cadence has been seen, and its end
//! when the pattern breaks.

use std::ffi::{c_int, c_void};
use std::ptr::{self, NonNull};

use spandsp_sys as sys;
use tandem_dsp::DigitEvent;

use crate::dtmf::Reports;
use crate::{Error, init_lock};

/// spandsp's call-progress analysis block, in samples (`SUPER_TONE_BINS`, spandsp private/super_tone_rx.h).
pub const BLOCK_LEN: u64 = 128;

/// Most steps one cadence may have here (UK ringback, the longest usual one, has 4).
pub const MAX_STEPS: usize = 4;

/// Most distinct frequencies over all tones (spandsp keeps them in a fixed 64-entry table).
pub const MAX_FREQUENCIES: usize = 32;

/// One step of a cadence.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CadenceStep {
    /// First frequency in Hz, 0 for silence.
    pub f1: u16,
    /// Second frequency in Hz, 0 for none.
    pub f2: u16,
    /// Shortest duration, ms.
    pub min_ms: u32,
    /// Longest duration, ms; 0 for no limit (continuous tones).
    pub max_ms: u32,
}

impl CadenceStep {
    /// A tone of one or two frequencies lasting `min_ms..=max_ms`.
    pub const fn tone(f1: u16, f2: u16, min_ms: u32, max_ms: u32) -> CadenceStep {
        CadenceStep { f1, f2, min_ms, max_ms }
    }

    /// Silence lasting `min_ms..=max_ms`.
    pub const fn silence(min_ms: u32, max_ms: u32) -> CadenceStep {
        CadenceStep { f1: 0, f2: 0, min_ms, max_ms }
    }
}

/// Owns a `super_tone_rx_descriptor_t`.
struct Descriptor(NonNull<sys::super_tone_rx_descriptor_t>);

impl Drop for Descriptor {
    fn drop(&mut self) {
        // SAFETY: allocated by super_tone_rx_make_descriptor(NULL), freed once, after the state using it.
        unsafe { sys::super_tone_rx_free_descriptor(self.0.as_ptr()) };
    }
}

unsafe extern "C" fn on_tone_report(user_data: *mut c_void, code: c_int, level: c_int, _delay: c_int) {
    // SAFETY: `user_data` is the `Reports` allocation registered by `ProgressToneRx::new`;
    // spandsp calls this only from inside `super_tone_rx`, while no Rust reference to it exists.
    let r = unsafe { &mut *user_data.cast::<Reports>() };
    r.push(code, level);
}

/// Streaming call-progress tone detector (spandsp `super_tone_rx`) for a set
/// of cadences; events carry the index of the cadence in the set.
///
/// Positions are where spandsp recognised the change: the end of the block
/// that completed the cadence (for a start) or broke it (for an end).
pub struct ProgressToneRx {
    state: NonNull<sys::super_tone_rx_state_t>,
    // Declared after `state`; Drop frees the state first, then this, then `reports`.
    desc: Descriptor,
    reports: NonNull<Reports>,
    fed: u64,
    current: Option<usize>,
}

// SAFETY: the spandsp state, its descriptor and the `Reports` box are heap data
// owned only by this value, with no thread affinity; all access goes through `&mut self`.
unsafe impl Send for ProgressToneRx {}

impl ProgressToneRx {
    /// A detector for `tones`, each a cadence of 1..=[`MAX_STEPS`] steps with
    /// frequencies below 4000 Hz, and at most [`MAX_FREQUENCIES`] distinct
    /// frequencies in all.
    pub fn new(tones: &[&[CadenceStep]]) -> Result<ProgressToneRx, Error> {
        let mut freqs: Vec<u16> = Vec::new();
        for steps in tones {
            if steps.is_empty() || steps.len() > MAX_STEPS {
                return Err(Error::InvalidCadence("a cadence needs 1 to 4 steps"));
            }
            for s in steps.iter() {
                for f in [s.f1, s.f2] {
                    if f >= 4000 {
                        return Err(Error::InvalidCadence("frequencies must be below 4000 Hz"));
                    }
                    if f != 0 && !freqs.contains(&f) {
                        freqs.push(f);
                    }
                }
            }
        }
        if freqs.len() > MAX_FREQUENCIES {
            return Err(Error::InvalidCadence("more than 32 distinct frequencies"));
        }
        let _guard = init_lock();
        // SAFETY: a null descriptor asks spandsp to allocate one.
        let desc = Descriptor(NonNull::new(unsafe { sys::super_tone_rx_make_descriptor(ptr::null_mut()) }).ok_or(Error::Alloc("call-progress descriptor"))?);
        for steps in tones {
            // SAFETY: live descriptor.
            let id = unsafe { sys::super_tone_rx_add_tone(desc.0.as_ptr()) };
            for s in steps.iter() {
                let ms = |v: u32| v.min(600_000) as c_int;
                // SAFETY: live descriptor; `id` came from add_tone; frequencies and counts bounded above.
                unsafe { sys::super_tone_rx_add_element(desc.0.as_ptr(), id, c_int::from(s.f1), c_int::from(s.f2), ms(s.min_ms), ms(s.max_ms)) };
            }
        }
        let reports = Reports::alloc();
        // SAFETY: live descriptor, which outlives the state (see field order and Drop); `reports` too.
        let state = unsafe { sys::super_tone_rx_init(ptr::null_mut(), desc.0.as_ptr(), Some(on_tone_report), reports.as_ptr().cast()) };
        let Some(state) = NonNull::new(state) else {
            // SAFETY: allocated just above and not shared.
            drop(unsafe { Box::from_raw(reports.as_ptr()) });
            return Err(Error::Alloc("call-progress detector"));
        };
        Ok(ProgressToneRx { state, desc, reports, fed: 0, current: None })
    }

    /// Feeds samples; `on_event` gets each tone start and end (tone index into the set).
    pub fn process_with(&mut self, samples: &[i16], mut on_event: impl FnMut(DigitEvent<usize>)) {
        let mut rest = samples;
        while !rest.is_empty() {
            // Split at block boundaries so that any report belongs to the end of this piece.
            let to_block_end = (BLOCK_LEN - self.fed % BLOCK_LEN) as usize;
            let (piece, tail) = rest.split_at(to_block_end.min(rest.len()));
            rest = tail;
            let end = self.fed + piece.len() as u64;
            // SAFETY: spandsp is not running, so this is the only reference to `reports`.
            unsafe { (*self.reports.as_ptr()).position = end };
            // SAFETY: live state; the pointer and length describe `piece` (at most one block).
            unsafe { sys::super_tone_rx(self.state.as_ptr(), piece.as_ptr(), piece.len() as c_int) };
            self.fed = end;
            // SAFETY: as above.
            let r = unsafe { &mut *self.reports.as_ptr() };
            for rep in &r.buf[..r.len] {
                let tone = usize::try_from(rep.code).ok();
                if let Some(prev) = self.current
                    && Some(prev) != tone
                {
                    on_event(DigitEvent::DigitUp { digit: prev, at: rep.at });
                    self.current = None;
                }
                if let Some(t) = tone
                    && self.current.is_none()
                {
                    self.current = Some(t);
                    on_event(DigitEvent::DigitDown { digit: t, at: rep.at });
                }
            }
            r.len = 0;
        }
    }

    /// Feeds samples and appends the events to `events`.
    pub fn process(&mut self, samples: &[i16], events: &mut Vec<DigitEvent<usize>>) {
        self.process_with(samples, |e| events.push(e));
    }

    /// The tone currently recognised, if any.
    pub fn current(&self) -> Option<usize> {
        self.current
    }

    /// Samples fed so far.
    pub fn position(&self) -> u64 {
        self.fed
    }
}

impl Drop for ProgressToneRx {
    fn drop(&mut self) {
        // SAFETY: allocated in `new`, freed once; the state goes before the descriptor
        // (a field, dropped after this) and `reports`.
        unsafe {
            sys::super_tone_rx_free(self.state.as_ptr());
            drop(Box::from_raw(self.reports.as_ptr()));
        }
        let _ = &self.desc;
    }
}

impl std::fmt::Debug for ProgressToneRx {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProgressToneRx").field("position", &self.fed).field("current", &self.current).finish_non_exhaustive()
    }
}
