//! Caller ID and message waiting over spandsp's ADSI modem (`adsi_rx_*` / `adsi_tx_*`).
//!
//! spandsp is the modem and the framer here: Bell 202 FSK (Telcordia GR-30
//! "CLASS"), V.23 FSK (ETSI EN 300 659 "CLIP") and DTMF caller ID (EN 300
//! 659-1 annex B and its national variants). The message layer is
//! `tandem-dsp`'s [`tandem_dsp::callerid`]: [`AdsiTx::send`] encodes a
//! [`CallerIdMessage`] with it and hands the bytes (without the checksum,
//! which spandsp appends) to spandsp; [`AdsiRx`] takes what spandsp's
//! receiver accepted (it checks the length and the checksum itself and drops
//! anything that fails) and decodes it into a [`CallerIdMessage`].
//!
//! # Formats
//!
//! | [`CidStandard`] | spandsp | modem | messages |
//! | --- | --- | --- | --- |
//! | [`CidStandard::Bell202`] | `ADSI_STANDARD_CLASS` | Bell 202, 1200 baud | SDMF and MDMF ([`Format::Sdmf`], [`Format::Mdmf`]) |
//! | [`CidStandard::V23`] | `ADSI_STANDARD_CLIP` | V.23 forward channel, 1200 baud | ETSI call set-up / MWI ([`Format::Etsi`]) |
//! | [`CidStandard::Dtmf`] | `ADSI_STANDARD_CLIP_DTMF` | DTMF digits | number or reason only (see below) |
//!
//! An FSK message is preceded by a channel seizure (alternating bits) and a
//! mark (continuous ones); [`Preamble`] sets their lengths (the on-hook
//! defaults are GR-30's and EN 300 659-1's, the off-hook ones, for caller ID
//! on call waiting, have no seizure).
//!
//! # DTMF caller ID
//!
//! [`decode_dtmf_cid`] understands the variants listed in spandsp's
//! `adsi.h` (EN 300 659-1 annex B and national practice):
//!
//! * `A<number>C`, optionally with `D<redirecting number>` and
//!   `B<code>` fields before the `C`; code `00` = unavailable, `10` = private;
//! * `A<number>#`, and `D1#` (private), `D2#` (unavailable: international),
//!   `D3#` (unavailable);
//! * `D<number>C` (a number with no `A` field, Taiwan and Kuwait).
//!
//! [`AdsiTx`] sends the first form (`A<number>C`, `B00C`, `B10C`), which is
//! what [`tandem_dsp::callerid::encode_dtmf`] produces.

use std::ffi::{c_int, c_void};
use std::ptr::{self, NonNull};

use spandsp_sys as sys;
use tandem_dsp::callerid::{self, Absence, CallerId, CallerIdMessage, Format};

use crate::{Error, init_lock};

// Values of spandsp 3.0's `enum { ADSI_STANDARD_* }` (spandsp/adsi.h), which spandsp-sys does not generate.
/// `ADSI_STANDARD_CLASS`: Bell 202 FSK, Telcordia GR-30.
pub const ADSI_STANDARD_CLASS: c_int = 1;
/// `ADSI_STANDARD_CLIP`: V.23 FSK, ETSI EN 300 659-1.
pub const ADSI_STANDARD_CLIP: c_int = 2;
/// `ADSI_STANDARD_CLIP_DTMF`: DTMF caller ID, ETSI EN 300 659-1 annex B.
pub const ADSI_STANDARD_CLIP_DTMF: c_int = 5;

// Message types and parameters (spandsp/adsi.h: CLASS_*, MCLASS_*, CLIP_*); the
// same codes as tandem_dsp::callerid's MSG_* / PARAM_* constants.
/// `CLASS_SDMF_CALLERID`.
pub const CLASS_SDMF_CALLERID: u8 = 0x04;
/// `CLASS_SDMF_MSG_WAITING`.
pub const CLASS_SDMF_MSG_WAITING: u8 = 0x06;
/// `CLASS_MDMF_CALLERID` / `CLIP_MDMF_CALLERID`.
pub const MDMF_CALLERID: u8 = 0x80;
/// `CLASS_MDMF_MSG_WAITING` / `CLIP_MDMF_MSG_WAITING`.
pub const MDMF_MSG_WAITING: u8 = 0x82;
/// `CLIP_NUM_MSG`: number of messages waiting (ETSI MWI parameter).
pub const CLIP_NUM_MSG: u8 = 0x13;

/// Largest message (type, length and body, without the checksum) spandsp's transmitter takes.
pub const MAX_MESSAGE: usize = 255;

/// Longest DTMF caller-ID string spandsp's transmitter takes (`len >= 128` is refused in adsi.c).
pub const MAX_DTMF_DIGITS: usize = 127;

/// Samples handed to spandsp per call, so that a report's position is known to within this.
const CHUNK: usize = 160;

/// Messages a receiver holds between two drains (one chunk of 160 samples can end at most one).
const MAX_PENDING: usize = 4;

/// Which caller-ID modem to use.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum CidStandard {
    /// Bell 202 FSK (North America, GR-30): SDMF and MDMF.
    Bell202,
    /// V.23 FSK (ETSI EN 300 659, UK SIN 227, most of Europe).
    V23,
    /// DTMF caller ID (EN 300 659-1 annex B: Nordic countries, Netherlands, Brazil, India, ...).
    Dtmf,
}

impl CidStandard {
    /// spandsp's `ADSI_STANDARD_*` code.
    pub const fn spandsp_code(self) -> c_int {
        match self {
            CidStandard::Bell202 => ADSI_STANDARD_CLASS,
            CidStandard::V23 => ADSI_STANDARD_CLIP,
            CidStandard::Dtmf => ADSI_STANDARD_CLIP_DTMF,
        }
    }

    /// The message format normally carried by this modem (DTMF has none: `None`).
    pub const fn default_format(self) -> Option<Format> {
        match self {
            CidStandard::Bell202 => Some(Format::Mdmf),
            CidStandard::V23 => Some(Format::Etsi),
            CidStandard::Dtmf => None,
        }
    }
}

/// Whether a caller's number may be shown, for SIP `Privacy` and display.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Presentation {
    /// A number was delivered.
    Available,
    /// Withheld by the caller (`P`, DTMF `B10` / `D1`).
    Private,
    /// Not available (`O`, out of area, international; DTMF `B00` / `D2` / `D3`), or nothing said.
    Unavailable,
}

/// The presentation of a received caller ID: the number's, else its reason for absence.
pub fn presentation(cid: &CallerId) -> Presentation {
    match (&cid.number, cid.number_absence) {
        (Some(n), _) if !n.is_empty() => Presentation::Available,
        (_, Some(Absence::Private)) => Presentation::Private,
        _ => Presentation::Unavailable,
    }
}

/// Lengths of the FSK preamble and postamble, in bits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Preamble {
    /// Channel seizure: alternating 0/1 bits.
    pub seizure_bits: u16,
    /// Mark: continuous 1 bits before the first byte.
    pub mark_bits: u16,
    /// Continuous 1 bits after the last byte.
    pub postamble_bits: u16,
    /// Stop bits per byte.
    pub stop_bits: u8,
}

impl Preamble {
    /// On-hook data transmission. GR-30 §3 and EN 300 659-1 §6.1: 300 bits
    /// of channel seizure, then 180 bits of mark.
    pub const ON_HOOK: Preamble = Preamble { seizure_bits: 300, mark_bits: 180, postamble_bits: 5, stop_bits: 1 };
    /// Off-hook data transmission (caller ID on call waiting): no seizure,
    /// 80 bits of mark (GR-30 off-hook; EN 300 659-2: 80 ± 25 bits).
    pub const OFF_HOOK: Preamble = Preamble { seizure_bits: 0, mark_bits: 80, postamble_bits: 5, stop_bits: 1 };
}

impl Default for Preamble {
    fn default() -> Self {
        Preamble::ON_HOOK
    }
}

/// Why a message could not be sent.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum CidError {
    /// The message layer refused the data (see [`callerid::Error`]).
    #[error(transparent)]
    Encode(#[from] callerid::Error),
    /// The format cannot go over this modem (e.g. SDMF over DTMF).
    #[error("{format:?} messages cannot be sent as {standard:?} caller ID")]
    Mismatch {
        /// Modem of the transmitter.
        standard: CidStandard,
        /// Format asked for.
        format: Format,
    },
    /// The transmitter is still sending the previous message.
    #[error("the caller-ID transmitter is busy")]
    Busy,
    /// The message is longer than spandsp takes.
    #[error("caller-ID message of {0} bytes is too long")]
    TooLong(usize),
    /// spandsp could not allocate its state.
    #[error(transparent)]
    Spandsp(#[from] Error),
}

/// A message received by [`AdsiRx`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CidReceived {
    /// The decoded message.
    pub message: CallerIdMessage,
    /// Samples fed (since the receiver was made) when spandsp delivered it,
    /// to within 160 samples after the end of the message.
    pub at: u64,
}

/// What spandsp's receiver callback leaves for [`AdsiRx`] to collect.
struct Sink {
    msgs: [([u8; 256], usize); MAX_PENDING],
    len: usize,
    /// Messages spandsp delivered that did not fit (should never happen).
    overflow: u64,
}

unsafe extern "C" fn on_adsi_message(user_data: *mut c_void, msg: *const u8, len: c_int) {
    // SAFETY: `user_data` is the `Sink` registered by `AdsiRx::new`; spandsp calls
    // this only from inside `adsi_rx`, while no Rust reference to it exists.
    let sink = unsafe { &mut *user_data.cast::<Sink>() };
    let Ok(len) = usize::try_from(len) else { return };
    if msg.is_null() || len == 0 {
        return;
    }
    let len = len.min(256);
    // SAFETY: spandsp passes a pointer to `len` readable bytes (its 256-byte message buffer).
    let bytes = unsafe { std::slice::from_raw_parts(msg, len) };
    match sink.msgs.get_mut(sink.len) {
        Some((buf, n)) => {
            buf[..len].copy_from_slice(bytes);
            *n = len;
            sink.len += 1;
        }
        None => sink.overflow += 1,
    }
}

/// Streaming caller-ID receiver (spandsp `adsi_rx`) for one [`CidStandard`].
///
/// Feed it line audio at any time (before the first ring, between rings,
/// after a polarity reversal, or off-hook for caller ID on call waiting);
/// each accepted message comes out once. FSK messages whose checksum fails
/// are dropped by spandsp and never reported. For DTMF, spandsp collects
/// digits up to a `C` or `#` (a string left unfinished for 10 s is dropped).
pub struct AdsiRx {
    state: NonNull<sys::adsi_rx_state_t>,
    sink: NonNull<Sink>,
    standard: CidStandard,
    fed: u64,
    rejected: u64,
}

// SAFETY: the spandsp state and the sink are heap data owned only by this value,
// with no thread affinity (see the crate docs, "Threads"); all access goes through `&mut self`.
unsafe impl Send for AdsiRx {}

impl AdsiRx {
    /// A receiver for `standard`.
    pub fn new(standard: CidStandard) -> Result<AdsiRx, Error> {
        let sink = Box::new(Sink { msgs: [([0; 256], 0); MAX_PENDING], len: 0, overflow: 0 });
        // SAFETY: Box::into_raw never returns null.
        let sink = unsafe { NonNull::new_unchecked(Box::into_raw(sink)) };
        let state = {
            let _guard = init_lock();
            // SAFETY: a null state asks spandsp to allocate one; `sink` outlives the state (freed after it in Drop).
            unsafe { sys::adsi_rx_init(ptr::null_mut(), standard.spandsp_code(), Some(on_adsi_message), sink.as_ptr().cast()) }
        };
        let Some(state) = NonNull::new(state) else {
            // SAFETY: allocated just above and not shared.
            drop(unsafe { Box::from_raw(sink.as_ptr()) });
            return Err(Error::Alloc("caller-ID receiver"));
        };
        Ok(AdsiRx { state, sink, standard, fed: 0, rejected: 0 })
    }

    /// The modem this receiver listens for.
    pub fn standard(&self) -> CidStandard {
        self.standard
    }

    /// Feeds samples; `on_message` gets each message received, in order.
    pub fn process_with(&mut self, samples: &[i16], mut on_message: impl FnMut(CidReceived)) {
        for chunk in samples.chunks(CHUNK) {
            // SAFETY: live state; pointer and length describe `chunk` (at most CHUNK samples).
            unsafe { sys::adsi_rx(self.state.as_ptr(), chunk.as_ptr(), chunk.len() as c_int) };
            self.fed += chunk.len() as u64;
            // SAFETY: spandsp is not running, so this is the only reference to the sink.
            let sink = unsafe { &mut *self.sink.as_ptr() };
            for (buf, n) in &sink.msgs[..sink.len] {
                match decode_spandsp_message(self.standard, &buf[..*n]) {
                    Some(message) => on_message(CidReceived { message, at: self.fed }),
                    None => self.rejected += 1,
                }
            }
            sink.len = 0;
        }
    }

    /// Feeds samples and returns the messages received.
    pub fn process(&mut self, samples: &[i16]) -> Vec<CidReceived> {
        let mut v = Vec::new();
        self.process_with(samples, |m| v.push(m));
        v
    }

    /// Messages spandsp accepted (checksum right, or a terminated DTMF
    /// string) that did not decode as caller ID or message waiting.
    pub fn rejected(&self) -> u64 {
        // SAFETY: spandsp is not running; shared read of the sink.
        self.rejected + unsafe { (*self.sink.as_ptr()).overflow }
    }

    /// Samples fed so far.
    pub fn position(&self) -> u64 {
        self.fed
    }
}

impl Drop for AdsiRx {
    fn drop(&mut self) {
        // SAFETY: both allocated in `new`, freed exactly once, the state first (it points at the sink).
        unsafe {
            sys::adsi_rx_free(self.state.as_ptr());
            drop(Box::from_raw(self.sink.as_ptr()));
        }
    }
}

impl std::fmt::Debug for AdsiRx {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AdsiRx").field("standard", &self.standard).field("position", &self.fed).finish_non_exhaustive()
    }
}

/// Decodes what spandsp's receiver delivered: an FSK message without its
/// checksum (already verified), or a DTMF digit string.
fn decode_spandsp_message(standard: CidStandard, bytes: &[u8]) -> Option<CallerIdMessage> {
    if standard == CidStandard::Dtmf {
        let s: String = bytes.iter().map(|&b| char::from(b)).collect();
        return decode_dtmf_cid(&s).map(CallerIdMessage::CallerId);
    }
    let mut full = Vec::with_capacity(bytes.len() + 1);
    full.extend_from_slice(bytes);
    full.push(callerid::checksum(bytes));
    match callerid::decode(&full) {
        Ok(m) => Some(m),
        // An ETSI MWI may give only the number of messages (EN 300 659-3 §5.3.10).
        Err(_) if bytes.first() == Some(&MDMF_MSG_WAITING) => etsi_message_count(&bytes[2.min(bytes.len())..]).map(|n| CallerIdMessage::MessageWaiting(n > 0)),
        Err(_) => None,
    }
}

/// The `CLIP_NUM_MSG` parameter of an MWI body, if present and well formed.
fn etsi_message_count(mut body: &[u8]) -> Option<u8> {
    while let [id, len, rest @ ..] = body {
        let len = usize::from(*len);
        let value = rest.get(..len)?;
        if *id == CLIP_NUM_MSG {
            return value.first().copied();
        }
        body = &rest[len..];
    }
    None
}

/// Parses a DTMF caller-ID digit string (the variants in the module docs).
/// Returns `None` for anything else.
pub fn decode_dtmf_cid(digits: &str) -> Option<CallerId> {
    let s = digits.trim().to_ascii_uppercase();
    let body = s.strip_suffix(['C', '#']).unwrap_or(&s);
    let hash = s.ends_with('#');
    if body.is_empty() || !body.bytes().all(|b| b.is_ascii_digit() || matches!(b, b'A' | b'B' | b'D')) {
        return None;
    }
    // Split into (field letter, digits) pairs.
    let mut fields: Vec<(u8, &str)> = Vec::new();
    let mut rest = body;
    while let Some(&letter) = rest.as_bytes().first() {
        if letter.is_ascii_digit() {
            return None;
        }
        let tail = &rest[1..];
        let end = tail.find(['A', 'B', 'D']).unwrap_or(tail.len());
        fields.push((letter, &tail[..end]));
        rest = &tail[end..];
    }
    let field = |l: u8| fields.iter().find(|(x, _)| *x == l).map(|(_, v)| *v);
    let mut cid = CallerId::default();
    if let Some(n) = field(b'A') {
        if n.is_empty() {
            return None;
        }
        cid.number = Some(n.to_string());
    } else if let Some(d) = field(b'D') {
        match (hash, d) {
            // Hash-terminated variant: D<reason>#.
            (true, "1") => cid.number_absence = Some(Absence::Private),
            (true, "2" | "3") => cid.number_absence = Some(Absence::Unavailable),
            (true, _) => return None,
            // C-terminated, no A field: D<number>C (Taiwan, Kuwait).
            (false, "") => return None,
            (false, n) => cid.number = Some(n.to_string()),
        }
    }
    if let Some(code) = field(b'B') {
        let absence = match code {
            "00" => Absence::Unavailable,
            "10" => Absence::Private,
            _ => return None,
        };
        if cid.number.is_none() {
            cid.number_absence = Some(absence);
        }
    }
    (cid.number.is_some() || cid.number_absence.is_some()).then_some(cid)
}

/// Caller-ID transmitter (spandsp `adsi_tx`) for one [`CidStandard`]: queue
/// a message, then pull samples until it has been sent.
pub struct AdsiTx {
    state: NonNull<sys::adsi_tx_state_t>,
    standard: CidStandard,
    busy: bool,
}

// SAFETY: as for AdsiRx; a heap state with no thread affinity, used through `&mut self`.
unsafe impl Send for AdsiTx {}

impl AdsiTx {
    /// A transmitter for `standard` with the on-hook preamble ([`Preamble::ON_HOOK`]).
    pub fn new(standard: CidStandard) -> Result<AdsiTx, Error> {
        let state = {
            let _guard = init_lock();
            // SAFETY: a null state asks spandsp to allocate one.
            unsafe { sys::adsi_tx_init(ptr::null_mut(), standard.spandsp_code()) }
        };
        let state = NonNull::new(state).ok_or(Error::Alloc("caller-ID transmitter"))?;
        let mut tx = AdsiTx { state, standard, busy: false };
        tx.set_preamble(Preamble::ON_HOOK);
        Ok(tx)
    }

    /// The modem this transmitter uses.
    pub fn standard(&self) -> CidStandard {
        self.standard
    }

    /// Sets the FSK preamble for the next messages (ignored by DTMF).
    pub fn set_preamble(&mut self, p: Preamble) {
        // SAFETY: live state; all values are small non-negative ints.
        unsafe {
            sys::adsi_tx_set_preamble(
                self.state.as_ptr(),
                c_int::from(p.seizure_bits),
                c_int::from(p.mark_bits),
                c_int::from(p.postamble_bits),
                c_int::from(p.stop_bits.max(1)),
            )
        };
    }

    /// Queues the CPE alerting signal (CAS: 2130 + 2750 Hz for 110 ms, spandsp's
    /// values) that precedes caller ID on call waiting; it plays before any queued message.
    pub fn send_alert_tone(&mut self) {
        // SAFETY: live state.
        unsafe { sys::adsi_tx_send_alert_tone(self.state.as_ptr()) };
        self.busy = true;
    }

    /// Queues `msg` in `format` (FSK) or as DTMF digits (for [`CidStandard::Dtmf`],
    /// where `format` is ignored and only caller ID can be sent).
    pub fn send(&mut self, msg: &CallerIdMessage, format: Format) -> Result<(), CidError> {
        match self.standard {
            CidStandard::Dtmf => {
                let CallerIdMessage::CallerId(cid) = msg else {
                    return Err(CidError::Encode(callerid::Error::NotRepresentable("DTMF carries no message-waiting indication")));
                };
                let digits = callerid::encode_dtmf(cid)?;
                self.send_raw(digits.as_bytes())
            }
            CidStandard::Bell202 if format == Format::Etsi => Err(CidError::Mismatch { standard: self.standard, format }),
            CidStandard::V23 if format != Format::Etsi => Err(CidError::Mismatch { standard: self.standard, format }),
            _ => {
                let bytes = callerid::encode(msg, format)?;
                // spandsp appends the checksum itself.
                self.send_raw(&bytes[..bytes.len() - 1])
            }
        }
    }

    /// Queues raw bytes: for FSK a message `type, length, body` without the
    /// checksum (spandsp fixes the length byte and appends the checksum); for
    /// DTMF the digit string.
    pub fn send_raw(&mut self, bytes: &[u8]) -> Result<(), CidError> {
        let max = if self.standard == CidStandard::Dtmf { MAX_DTMF_DIGITS } else { MAX_MESSAGE };
        if bytes.len() > max || (self.standard != CidStandard::Dtmf && bytes.len() < 2) {
            return Err(CidError::TooLong(bytes.len()));
        }
        if self.standard == CidStandard::Dtmf
            && let Some(&bad) = bytes.iter().find(|b| !crate::dtmf::DIGITS.as_bytes().contains(b))
        {
            return Err(CidError::Spandsp(Error::InvalidDigit { what: "DTMF caller ID", digit: char::from(bad) }));
        }
        // SAFETY: live state; pointer and length describe `bytes` (≤ 255, so spandsp's
        // 256-byte buffer holds it and the checksum it appends).
        let r = unsafe { sys::adsi_tx_put_message(self.state.as_ptr(), bytes.as_ptr(), bytes.len() as c_int) };
        match r {
            0 if !bytes.is_empty() => Err(CidError::Busy),
            r if r < 0 => Err(CidError::TooLong(bytes.len())),
            _ => {
                self.busy = true;
                Ok(())
            }
        }
    }

    /// Fills `out` with the signal; returns how many samples were generated.
    /// Fewer than `out.len()` means everything queued has been sent (the rest
    /// of `out` is silence) and the transmitter is idle.
    pub fn fill(&mut self, out: &mut [i16]) -> usize {
        let mut done = 0;
        for chunk in out.chunks_mut(CHUNK) {
            // SAFETY: live state; pointer and length describe `chunk`.
            let n = unsafe { sys::adsi_tx(self.state.as_ptr(), chunk.as_mut_ptr(), chunk.len() as c_int) };
            let n = usize::try_from(n).unwrap_or(0).min(chunk.len());
            done += n;
            if n < chunk.len() {
                self.busy = false;
                break;
            }
        }
        out[done..].fill(0);
        done
    }

    /// Whether nothing is queued or being sent (as of the last [`AdsiTx::fill`]).
    pub fn is_idle(&self) -> bool {
        !self.busy
    }

    /// Generates everything queued into a new buffer (at most `max_samples`).
    pub fn render(&mut self, max_samples: usize) -> Vec<i16> {
        let mut out = Vec::new();
        let mut buf = [0i16; CHUNK];
        while out.len() < max_samples {
            let n = self.fill(&mut buf);
            out.extend_from_slice(&buf[..n]);
            if n < buf.len() {
                break;
            }
        }
        out.truncate(max_samples);
        out
    }
}

impl Drop for AdsiTx {
    fn drop(&mut self) {
        // SAFETY: allocated in `new`, freed exactly once.
        unsafe { sys::adsi_tx_free(self.state.as_ptr()) };
    }
}

impl std::fmt::Debug for AdsiTx {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AdsiTx").field("standard", &self.standard).field("busy", &self.busy).finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dtmf_variants_decode() {
        let num = |n: &str| Some(CallerId { number: Some(n.into()), ..CallerId::default() });
        let abs = |a| Some(CallerId { number_absence: Some(a), ..CallerId::default() });
        assert_eq!(decode_dtmf_cid("A0123456789C"), num("0123456789"));
        assert_eq!(decode_dtmf_cid("A0123456789#"), num("0123456789"));
        assert_eq!(decode_dtmf_cid("A012D345C"), num("012"));
        assert_eq!(decode_dtmf_cid("D0123C"), num("0123"));
        assert_eq!(decode_dtmf_cid("B00C"), abs(Absence::Unavailable));
        assert_eq!(decode_dtmf_cid("B10C"), abs(Absence::Private));
        assert_eq!(decode_dtmf_cid("D1#"), abs(Absence::Private));
        assert_eq!(decode_dtmf_cid("D2#"), abs(Absence::Unavailable));
        assert_eq!(decode_dtmf_cid("D3#"), abs(Absence::Unavailable));
        for bad in ["", "C", "#", "AC", "B99C", "D9#", "123C", "A1*2C", "DC"] {
            assert_eq!(decode_dtmf_cid(bad), None, "{bad}");
        }
    }

    #[test]
    fn presentation_follows_number_then_reason() {
        assert_eq!(presentation(&CallerId { number: Some("1".into()), ..CallerId::default() }), Presentation::Available);
        assert_eq!(presentation(&CallerId { number_absence: Some(Absence::Private), ..CallerId::default() }), Presentation::Private);
        assert_eq!(presentation(&CallerId { number_absence: Some(Absence::Unavailable), ..CallerId::default() }), Presentation::Unavailable);
        assert_eq!(presentation(&CallerId::default()), Presentation::Unavailable);
    }
}
