//! Raw declarations of the spandsp functions that `spandsp-sys` does not bind.
//!
//! `spandsp-sys` 0.2.4 allowlists `bell_r2_mf*` for bindgen, but the functions
//! are named `bell_mf_*` and `r2_mf_*`, so none of them is generated. The
//! symbols are compiled into its static library all the same (from
//! `bell_r2_mf.c`); these declarations follow `spandsp/bell_r2_mf.h` of
//! spandsp 3.0. The state structs are opaque here: they are only ever
//! allocated by spandsp (`*_init(NULL, …)`) and passed back by pointer.
//!
//! Everything else (DTMF, call-progress tones, ADSI) comes from
//! [`spandsp_sys`], re-exported as [`sys`].

use std::ffi::{c_char, c_int, c_void};
use std::marker::{PhantomData, PhantomPinned};

pub use spandsp_sys as sys;

/// Opaque `bell_mf_tx_state_t`.
#[repr(C)]
pub struct BellMfTxState {
    _data: [u8; 0],
    _marker: PhantomData<(*mut u8, PhantomPinned)>,
}

/// Opaque `bell_mf_rx_state_t`.
#[repr(C)]
pub struct BellMfRxState {
    _data: [u8; 0],
    _marker: PhantomData<(*mut u8, PhantomPinned)>,
}

/// Opaque `r2_mf_tx_state_t`.
#[repr(C)]
pub struct R2MfTxState {
    _data: [u8; 0],
    _marker: PhantomData<(*mut u8, PhantomPinned)>,
}

/// Opaque `r2_mf_rx_state_t`.
#[repr(C)]
pub struct R2MfRxState {
    _data: [u8; 0],
    _marker: PhantomData<(*mut u8, PhantomPinned)>,
}

/// Size of the Bell MF receiver's digit buffer (`MAX_BELL_MF_DIGITS`, spandsp/bell_r2_mf.h).
pub const MAX_BELL_MF_DIGITS: usize = 128;

unsafe extern "C" {
    /// Generates up to `max_samples` of queued Bell MF; returns how many.
    pub fn bell_mf_tx(s: *mut BellMfTxState, amp: *mut i16, max_samples: c_int) -> c_int;
    /// Queues `len` digits; 0 if all were queued, else how many did not fit (none queued).
    pub fn bell_mf_tx_put(s: *mut BellMfTxState, digits: *const c_char, len: c_int) -> c_int;
    /// Initialises (allocates when `s` is null) a Bell MF generator.
    pub fn bell_mf_tx_init(s: *mut BellMfTxState) -> *mut BellMfTxState;
    /// Frees a generator allocated by `bell_mf_tx_init(NULL)`.
    pub fn bell_mf_tx_free(s: *mut BellMfTxState) -> c_int;

    /// Generates `samples` of the current R2 tone (silence when none).
    pub fn r2_mf_tx(s: *mut R2MfTxState, amp: *mut i16, samples: c_int) -> c_int;
    /// Starts sending `digit` ("1234567890BCDEF"), or stops on 0 / any other character.
    pub fn r2_mf_tx_put(s: *mut R2MfTxState, digit: c_char) -> c_int;
    /// Initialises (allocates when `s` is null) an R2 generator; `fwd` selects the forward set.
    pub fn r2_mf_tx_init(s: *mut R2MfTxState, fwd: bool) -> *mut R2MfTxState;
    /// Frees a generator allocated by `r2_mf_tx_init(NULL, …)`.
    pub fn r2_mf_tx_free(s: *mut R2MfTxState) -> c_int;

    /// Processes received audio; returns the number of samples not processed (always 0).
    pub fn bell_mf_rx(s: *mut BellMfRxState, amp: *const i16, samples: c_int) -> c_int;
    /// Moves up to `max` buffered digits into `buf`, which must hold `max + 1` bytes (NUL).
    pub fn bell_mf_rx_get(s: *mut BellMfRxState, buf: *mut c_char, max: c_int) -> usize;
    /// Initialises (allocates when `s` is null) a Bell MF receiver.
    pub fn bell_mf_rx_init(s: *mut BellMfRxState, callback: sys::digits_rx_callback_t, user_data: *mut c_void) -> *mut BellMfRxState;
    /// Frees a receiver allocated by `bell_mf_rx_init(NULL, …)`.
    pub fn bell_mf_rx_free(s: *mut BellMfRxState) -> c_int;

    /// Processes received audio; reports changes through the callback at block ends.
    pub fn r2_mf_rx(s: *mut R2MfRxState, amp: *const i16, samples: c_int) -> c_int;
    /// The digit currently received, or 0.
    pub fn r2_mf_rx_get(s: *mut R2MfRxState) -> c_int;
    /// Initialises (allocates when `s` is null) an R2 receiver; `fwd` selects the forward set.
    pub fn r2_mf_rx_init(s: *mut R2MfRxState, fwd: bool, callback: sys::span_tone_report_func_t, user_data: *mut c_void) -> *mut R2MfRxState;
    /// Frees a receiver allocated by `r2_mf_rx_init(NULL, …)`.
    pub fn r2_mf_rx_free(s: *mut R2MfRxState) -> c_int;
}
