//! Safe wrappers over spandsp's telephony detectors and generators, for Tandem.
//!
//! # Why spandsp
//!
//! Tandem has its own pure-Rust DSP (`tandem-dsp`), which the hardware
//! simulator and the tests use as a signal source and oracle. On live lines
//! the gateway uses spandsp's detectors instead: they have run in Asterisk,
//! FreeSWITCH and Yate for years, pass the Bellcore/Mitel talk-off and
//! ITU-T Q.23/Q.24 test suites, and cover what a TDM gateway needs beyond DTMF:
//! Bell MF (R1) for CAMA/feature-group trunks, MFC/R2 for E1 CAS, and ADSI/FSK
//! caller ID. Each wrapper is tested against the matching `tandem-dsp`
//! generator and detector in both directions, so the two implementations
//! check each other.
//!
//! # What is wrapped
//!
//! | type | spandsp | what it is for |
//! | --- | --- | --- |
//! | [`DtmfRx`] | `dtmf_rx_*` | in-band DTMF detection with digit start and end (RFC 4733 timing) |
//! | [`DtmfTx`] | `dtmf_tx_*` | DTMF generation (dialling out, test sources) |
//! | [`BellMfRx`] / [`BellMfTx`] | `bell_mf_rx_*` / `bell_mf_tx_*` | Bell MF (R1) register signalling |
//! | [`R2MfRx`] / [`R2MfTx`] | `r2_mf_rx_*` / `r2_mf_tx_*` | MFC/R2 compelled register signalling, forward and backward |
//! | [`ProgressToneRx`] | `super_tone_rx_*` | call-progress tones (dial, busy, reorder, ringback) by cadence |
//! | [`AdsiRx`] / [`AdsiTx`] | `adsi_rx_*` / `adsi_tx_*` | caller ID and message waiting: Bell 202, V.23 and DTMF ([`adsi`]) |
//!
//! Not wrapped yet: tone generation (`super_tone_tx`, `tone_gen`).
//!
//! spandsp itself is the C library vendored and compiled by `spandsp-sys`
//! (built without its fax feature, so only a C compiler and libclang are
//! needed). `spandsp-sys` leaves Bell MF and R2 MF out of its bindings, so
//! [`ffi`] declares those functions itself, with opaque state types.
//!
//! # Shape
//!
//! Every wrapper owns one heap-allocated spandsp state (allocated by the
//! `*_init(NULL, …)` call, freed by `*_free` in `Drop`). Detectors take
//! 16-bit linear samples at 8 kHz in chunks of any size and report what they
//! heard through a closure, with positions in samples since creation (the
//! [`tandem_dsp::DigitEvent`] convention, so callers can swap one detector for
//! the other). Generators queue signals and fill caller buffers. Nothing
//! allocates per chunk, and no input makes a wrapper panic.
//!
//! # Threads
//!
//! spandsp's safe crate (`spandsp`) makes its wrappers `!Send`; Tandem's
//! media pump moves detectors into its pump threads, so these wrappers are
//! `Send` (but not `Sync`). That is sound because a spandsp state is a plain
//! heap struct with no thread affinity: no thread-local storage, no locks, no
//! pointers to other threads' data; every call takes `&mut self`. The only
//! shared C state is the lazily built, then read-only, tables that the
//! `*_init` functions fill in on first use behind an unsynchronised
//! `static bool`; every `*_init` call here runs under one process-wide mutex
//! (`init_lock`), so the tables are built once and published to every
//! thread before any state uses them.

pub mod adsi;
pub mod dtmf;
pub mod ffi;
pub mod mf;
pub mod tone;

use std::os::raw::c_int;
use std::sync::{Mutex, MutexGuard, PoisonError};

pub use adsi::{AdsiRx, AdsiTx, CidStandard, Presentation};
pub use dtmf::{DtmfRx, DtmfRxConfig, DtmfTx, DtmfTxConfig};
pub use mf::{BellMfRx, BellMfTx, R2Direction, R2MfRx, R2MfTx};
pub use tandem_dsp::DigitEvent;
pub use tandem_dsp::mf::R1Signal;
pub use tone::{CadenceStep, ProgressToneRx};

/// Sample rate of every wrapper, in Hz (spandsp works at 8 kHz only).
pub const SAMPLE_RATE: u32 = 8000;

/// An error from a spandsp wrapper.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// spandsp could not allocate the state (out of memory).
    #[error("spandsp could not allocate a {0} state")]
    Alloc(&'static str),
    /// A character the generator cannot send.
    #[error("{what} cannot send {digit:?}")]
    InvalidDigit {
        /// Which generator.
        what: &'static str,
        /// The rejected character.
        digit: char,
    },
    /// A call-progress cadence spandsp cannot take.
    #[error("invalid call-progress cadence: {0}")]
    InvalidCadence(&'static str),
    /// The generator's queue has no room for the whole string; nothing was queued.
    #[error("{what} queue is full: {len} digits do not fit")]
    QueueFull {
        /// Which generator.
        what: &'static str,
        /// Number of digits offered.
        len: usize,
    },
}

static INIT_LOCK: Mutex<()> = Mutex::new(());

/// Serialises spandsp's `*_init` calls, which build shared tables on first use
/// without synchronisation (see the crate docs, "Threads").
pub(crate) fn init_lock() -> MutexGuard<'static, ()> {
    INIT_LOCK.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Largest chunk handed to spandsp in one call: keeps `int` lengths small and
/// bounds the number of reports one call can make (one per analysis block,
/// blocks are at least 102 samples).
pub(crate) const MAX_CALL_SAMPLES: usize = 512;

/// Reports spandsp can make in one call of at most [`MAX_CALL_SAMPLES`].
pub(crate) const MAX_REPORTS: usize = MAX_CALL_SAMPLES / 102 + 2;

/// Fills `out` from a spandsp generator, [`MAX_CALL_SAMPLES`] at a time:
/// `tx` fills a chunk and returns spandsp's count of samples made (negative
/// or too large counts are clamped). Stops at the first short chunk, when
/// the generator's queue ran dry, and fills the rest of `out` with silence.
/// Returns how many samples were generated.
pub(crate) fn generate_chunked(out: &mut [i16], mut tx: impl FnMut(&mut [i16]) -> c_int) -> usize {
    let mut done = 0;
    for chunk in out.chunks_mut(MAX_CALL_SAMPLES) {
        let n = usize::try_from(tx(chunk)).unwrap_or(0).min(chunk.len());
        done += n;
        if n < chunk.len() {
            break;
        }
    }
    out[done..].fill(0);
    done
}
