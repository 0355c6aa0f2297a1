//! Caller ID and message waiting: message model, GR-30 SDMF/MDMF and ETSI EN 300 659-3 codecs, FSK and DTMF transport.
//!
//! # On-hook data messages
//!
//! All formats frame a message as `type, length, body…, checksum`, where the
//! checksum is the two's complement of the sum of all preceding bytes (so the
//! sum of the whole message is 0 mod 256).
//!
//! | format | caller-ID type | body | message-waiting |
//! | --- | --- | --- | --- |
//! | Bell SDMF ([`Format::Sdmf`]) | `0x04` | `MMDDHHMM` then the number, or `P` / `O` | `0x06`, body `42 42 42` (on) / `6F 6F 6F` (off) |
//! | Bell MDMF ([`Format::Mdmf`]) | `0x80` | parameters | `0x82` with parameter `0x0B` = `FF` (on) / `00` (off) |
//! | ETSI ([`Format::Etsi`]) | `0x80` (call set-up) | parameters | `0x82` with parameter `0x0B` |
//!
//! MDMF and ETSI parameters are `id, length, value…`: `0x01` date and time
//! (`MMDDHHMM`), `0x02` number / calling line identity, `0x04` reason for
//! absence of the number, `0x07` name, `0x08` reason for absence of the name.
//! Reasons are `P` (private, withheld) and `O` (unavailable, out of area). The
//! two formats share the same code; they differ only in their [`FormatSpec`]
//! data. Unknown parameters are skipped when decoding.
//!
//! Text is carried one byte per character: encoding accepts characters up to
//! U+00FF (Latin-1), decoding maps each byte to the character with that code.
//!
//! # DTMF caller ID
//!
//! DTMF caller ID (ETSI EN 300 659-1 annex B and common national practice)
//! carries only the number. The mapping used here:
//!
//! * number: `A` + digits + `C` (e.g. `A0123456789C`);
//! * number unavailable: `B00C`;
//! * number private (withheld): `B10C`.
//!
//! [`decode_dtmf`] also accepts `D` as the start digit of a number and `#` as
//! the end digit, and a missing end digit.

use crate::dtmf::{self, DtmfConfig};
use crate::fsk::{self, FskDemodulator};

pub use crate::fsk::Standard;

/// Message type: SDMF caller ID (Bell).
pub const MSG_SDMF_CALLER_ID: u8 = 0x04;
/// Message type: SDMF message-waiting indicator (Bell).
pub const MSG_SDMF_MWI: u8 = 0x06;
/// Message type: MDMF caller ID (Bell) / ETSI call set-up.
pub const MSG_MDMF_CALL_SETUP: u8 = 0x80;
/// Message type: MDMF / ETSI message-waiting indicator.
pub const MSG_MDMF_MWI: u8 = 0x82;

/// Parameter: date and time, `MMDDHHMM`.
pub const PARAM_DATETIME: u8 = 0x01;
/// Parameter: calling number (calling line identity).
pub const PARAM_NUMBER: u8 = 0x02;
/// Parameter: reason for absence of the number.
pub const PARAM_NUMBER_ABSENT: u8 = 0x04;
/// Parameter: calling party name.
pub const PARAM_NAME: u8 = 0x07;
/// Parameter: reason for absence of the name.
pub const PARAM_NAME_ABSENT: u8 = 0x08;
/// Parameter: visual message-waiting indicator.
pub const PARAM_VMWI: u8 = 0x0B;

const SDMF_MWI_ON: u8 = 0x42;
const SDMF_MWI_OFF: u8 = 0x6F;
const VMWI_ON: u8 = 0xFF;
const VMWI_OFF: u8 = 0x00;

/// Why a number or name is not delivered.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Absence {
    /// Withheld by the caller (`P`).
    Private,
    /// Not available, e.g. out of area (`O`).
    Unavailable,
}

impl Absence {
    /// The on-the-wire code, `b'P'` or `b'O'`.
    pub fn code(self) -> u8 {
        match self {
            Absence::Private => b'P',
            Absence::Unavailable => b'O',
        }
    }

    /// Parse an on-the-wire code.
    pub fn from_code(code: u8) -> Option<Self> {
        match code {
            b'P' => Some(Absence::Private),
            b'O' => Some(Absence::Unavailable),
            _ => None,
        }
    }
}

/// Caller-ID data.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CallerId {
    /// Calling number.
    pub number: Option<String>,
    /// Calling name.
    pub name: Option<String>,
    /// `(month, day, hour, minute)`, local time.
    pub datetime: Option<(u8, u8, u8, u8)>,
    /// Why there is no number.
    pub number_absence: Option<Absence>,
    /// Why there is no name.
    pub name_absence: Option<Absence>,
}

/// A decoded on-hook data message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CallerIdMessage {
    /// Caller ID (call set-up).
    CallerId(CallerId),
    /// Visual message-waiting indicator: `true` = messages waiting.
    MessageWaiting(bool),
}

/// Message encoding.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Format {
    /// Telcordia GR-30 single data message format.
    Sdmf,
    /// Telcordia GR-30 multiple data message format.
    Mdmf,
    /// ETSI EN 300 659-3 (call set-up and MWI messages).
    Etsi,
}

/// What distinguishes the formats, as data.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FormatSpec {
    /// Message type of caller ID.
    pub call_type: u8,
    /// Message type of message waiting.
    pub mwi_type: u8,
    /// Whether the body is a list of parameters (otherwise SDMF fixed layout).
    pub parameters: bool,
}

impl Format {
    /// The format's message types and layout.
    pub const fn spec(self) -> FormatSpec {
        match self {
            Format::Sdmf => FormatSpec { call_type: MSG_SDMF_CALLER_ID, mwi_type: MSG_SDMF_MWI, parameters: false },
            Format::Mdmf | Format::Etsi => FormatSpec { call_type: MSG_MDMF_CALL_SETUP, mwi_type: MSG_MDMF_MWI, parameters: true },
        }
    }
}

/// Caller-ID codec errors.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// Fewer bytes than the header says.
    #[error("message truncated: need {needed} bytes, have {have}")]
    Truncated {
        /// Bytes the message needs.
        needed: usize,
        /// Bytes available.
        have: usize,
    },
    /// The checksum does not match.
    #[error("checksum mismatch: computed {computed:#04x}, received {received:#04x}")]
    Checksum {
        /// Checksum of the received bytes.
        computed: u8,
        /// Checksum byte received.
        received: u8,
    },
    /// Not one of the message types this crate knows.
    #[error("unknown message type {0:#04x}")]
    UnknownType(u8),
    /// A field that does not follow the format.
    #[error("malformed {0}")]
    Malformed(&'static str),
    /// The data cannot be expressed in the requested format.
    #[error("cannot encode: {0}")]
    NotRepresentable(&'static str),
    /// A DTMF caller-ID string that does not follow the mapping.
    #[error("invalid DTMF caller ID {0:?}")]
    InvalidDtmf(String),
}

/// The checksum of `bytes`: two's complement of their sum mod 256.
pub fn checksum(bytes: &[u8]) -> u8 {
    0u8.wrapping_sub(bytes.iter().fold(0u8, |a, &b| a.wrapping_add(b)))
}

fn push_text(out: &mut Vec<u8>, s: &str) -> Result<(), Error> {
    for c in s.chars() {
        let b = u8::try_from(u32::from(c)).map_err(|_| Error::NotRepresentable("character outside Latin-1"))?;
        out.push(b);
    }
    Ok(())
}

fn text(bytes: &[u8]) -> String {
    bytes.iter().map(|&b| char::from(b)).collect()
}

fn push_datetime(out: &mut Vec<u8>, dt: (u8, u8, u8, u8)) -> Result<(), Error> {
    let (mo, d, h, mi) = dt;
    if !(1..=12).contains(&mo) || !(1..=31).contains(&d) || h > 23 || mi > 59 {
        return Err(Error::NotRepresentable("date/time out of range"));
    }
    for v in [mo, d, h, mi] {
        out.push(b'0' + v / 10);
        out.push(b'0' + v % 10);
    }
    Ok(())
}

fn parse_datetime(b: &[u8]) -> Result<(u8, u8, u8, u8), Error> {
    if b.len() != 8 || !b.iter().all(u8::is_ascii_digit) {
        return Err(Error::Malformed("date/time"));
    }
    let v = |i: usize| (b[i] - b'0') * 10 + (b[i + 1] - b'0');
    let dt = (v(0), v(2), v(4), v(6));
    let (mo, d, h, mi) = dt;
    if !(1..=12).contains(&mo) || !(1..=31).contains(&d) || h > 23 || mi > 59 {
        return Err(Error::Malformed("date/time"));
    }
    Ok(dt)
}

fn push_param(out: &mut Vec<u8>, id: u8, value: &[u8]) -> Result<(), Error> {
    let len = u8::try_from(value.len()).map_err(|_| Error::NotRepresentable("parameter longer than 255 bytes"))?;
    out.push(id);
    out.push(len);
    out.extend_from_slice(value);
    Ok(())
}

fn encode_sdmf_body(c: &CallerId, body: &mut Vec<u8>) -> Result<(), Error> {
    if c.name.is_some() || c.name_absence.is_some() {
        return Err(Error::NotRepresentable("SDMF carries no name"));
    }
    let dt = c.datetime.ok_or(Error::NotRepresentable("SDMF needs a date and time"))?;
    push_datetime(body, dt)?;
    match (&c.number, c.number_absence) {
        (Some(n), None) => {
            if n.is_empty() || n == "P" || n == "O" {
                return Err(Error::NotRepresentable("SDMF number is empty or looks like a reason code"));
            }
            push_text(body, n)
        }
        (None, Some(a)) => {
            body.push(a.code());
            Ok(())
        }
        (None, None) => Err(Error::NotRepresentable("SDMF needs a number or an absence reason")),
        (Some(_), Some(_)) => Err(Error::NotRepresentable("SDMF cannot carry both a number and an absence reason")),
    }
}

fn encode_params(c: &CallerId, body: &mut Vec<u8>) -> Result<(), Error> {
    if let Some(dt) = c.datetime {
        let mut v = Vec::with_capacity(8);
        push_datetime(&mut v, dt)?;
        push_param(body, PARAM_DATETIME, &v)?;
    }
    let mut v = Vec::new();
    if let Some(n) = &c.number {
        push_text(&mut v, n)?;
        push_param(body, PARAM_NUMBER, &v)?;
    }
    if let Some(a) = c.number_absence {
        push_param(body, PARAM_NUMBER_ABSENT, &[a.code()])?;
    }
    if let Some(n) = &c.name {
        v.clear();
        push_text(&mut v, n)?;
        push_param(body, PARAM_NAME, &v)?;
    }
    if let Some(a) = c.name_absence {
        push_param(body, PARAM_NAME_ABSENT, &[a.code()])?;
    }
    Ok(())
}

/// Encode a message in `format`, including type, length and checksum.
///
/// Fails when the data does not fit the format: SDMF needs a date/time and
/// exactly one of number / number absence and carries no name; date/time
/// fields must be in range; text must be Latin-1; a message body is at most
/// 255 bytes.
pub fn encode(msg: &CallerIdMessage, format: Format) -> Result<Vec<u8>, Error> {
    let spec = format.spec();
    let mut body = Vec::new();
    let ty = match msg {
        CallerIdMessage::CallerId(c) => {
            if spec.parameters {
                encode_params(c, &mut body)?;
            } else {
                encode_sdmf_body(c, &mut body)?;
            }
            spec.call_type
        }
        CallerIdMessage::MessageWaiting(on) => {
            if spec.parameters {
                push_param(&mut body, PARAM_VMWI, &[if *on { VMWI_ON } else { VMWI_OFF }])?;
            } else {
                body.extend_from_slice(&[if *on { SDMF_MWI_ON } else { SDMF_MWI_OFF }; 3]);
            }
            spec.mwi_type
        }
    };
    let len = u8::try_from(body.len()).map_err(|_| Error::NotRepresentable("message longer than 255 bytes"))?;
    let mut out = Vec::with_capacity(body.len() + 3);
    out.push(ty);
    out.push(len);
    out.extend_from_slice(&body);
    out.push(checksum(&out));
    Ok(out)
}

/// Decode one message at the start of `bytes` (trailing bytes are ignored).
pub fn decode(bytes: &[u8]) -> Result<CallerIdMessage, Error> {
    decode_prefix(bytes).map(|(m, _)| m)
}

/// Whether `b` is a message type [`decode`] understands.
pub fn is_message_type(b: u8) -> bool {
    matches!(b, MSG_SDMF_CALLER_ID | MSG_SDMF_MWI | MSG_MDMF_CALL_SETUP | MSG_MDMF_MWI)
}

/// Decode one message at the start of `bytes`; also returns its length.
pub fn decode_prefix(bytes: &[u8]) -> Result<(CallerIdMessage, usize), Error> {
    let (&ty, rest) = bytes.split_first().ok_or(Error::Truncated { needed: 3, have: bytes.len() })?;
    if !is_message_type(ty) {
        return Err(Error::UnknownType(ty));
    }
    let &len = rest.first().ok_or(Error::Truncated { needed: 3, have: bytes.len() })?;
    let total = usize::from(len) + 3;
    if bytes.len() < total {
        return Err(Error::Truncated { needed: total, have: bytes.len() });
    }
    let received = bytes[total - 1];
    let computed = checksum(&bytes[..total - 1]);
    if computed != received {
        return Err(Error::Checksum { computed, received });
    }
    let body = &bytes[2..total - 1];
    let msg = match ty {
        MSG_SDMF_CALLER_ID => CallerIdMessage::CallerId(decode_sdmf_body(body)?),
        MSG_SDMF_MWI => match body {
            [SDMF_MWI_ON, SDMF_MWI_ON, SDMF_MWI_ON] => CallerIdMessage::MessageWaiting(true),
            [SDMF_MWI_OFF, SDMF_MWI_OFF, SDMF_MWI_OFF] => CallerIdMessage::MessageWaiting(false),
            _ => return Err(Error::Malformed("SDMF message-waiting body")),
        },
        MSG_MDMF_CALL_SETUP => CallerIdMessage::CallerId(decode_params(body)?),
        _ => {
            let mut state = None;
            for (id, value) in params(body) {
                let (id, value) = (id, value?);
                if id == PARAM_VMWI {
                    state = Some(match value {
                        [VMWI_ON] => true,
                        [VMWI_OFF] => false,
                        _ => return Err(Error::Malformed("message-waiting parameter")),
                    });
                }
            }
            CallerIdMessage::MessageWaiting(state.ok_or(Error::Malformed("message-waiting message without indicator"))?)
        }
    };
    Ok((msg, total))
}

fn decode_sdmf_body(body: &[u8]) -> Result<CallerId, Error> {
    if body.len() < 8 {
        return Err(Error::Malformed("SDMF date/time"));
    }
    let mut c = CallerId { datetime: Some(parse_datetime(&body[..8])?), ..CallerId::default() };
    match &body[8..] {
        [] => {}
        [code] if Absence::from_code(*code).is_some() => c.number_absence = Absence::from_code(*code),
        number => c.number = Some(text(number)),
    }
    Ok(c)
}

/// Iterate over `(id, value)` parameters; a parameter running past the end
/// yields an error and ends the iteration.
fn params(body: &[u8]) -> impl Iterator<Item = (u8, Result<&[u8], Error>)> {
    let mut rest = body;
    std::iter::from_fn(move || {
        let (&id, tail) = rest.split_first()?;
        let Some((&len, tail)) = tail.split_first() else {
            rest = &[];
            return Some((id, Err(Error::Malformed("parameter header"))));
        };
        let len = usize::from(len);
        if tail.len() < len {
            rest = &[];
            return Some((id, Err(Error::Malformed("parameter length"))));
        }
        let (value, tail) = tail.split_at(len);
        rest = tail;
        Some((id, Ok(value)))
    })
}

fn decode_absence(value: &[u8]) -> Result<Absence, Error> {
    match value {
        [code] => Absence::from_code(*code).ok_or(Error::Malformed("reason for absence")),
        _ => Err(Error::Malformed("reason for absence")),
    }
}

fn decode_params(body: &[u8]) -> Result<CallerId, Error> {
    let mut c = CallerId::default();
    for (id, value) in params(body) {
        let value = value?;
        match id {
            PARAM_DATETIME => c.datetime = Some(parse_datetime(value)?),
            PARAM_NUMBER => c.number = Some(text(value)),
            PARAM_NUMBER_ABSENT => c.number_absence = Some(decode_absence(value)?),
            PARAM_NAME => c.name = Some(text(value)),
            PARAM_NAME_ABSENT => c.name_absence = Some(decode_absence(value)?),
            _ => {}
        }
    }
    Ok(c)
}

/// Find the first valid message in a received byte stream (which usually
/// starts with seizure bytes and may contain garbage). Returns the message and
/// the index just past it.
pub fn find_message(bytes: &[u8]) -> Option<(CallerIdMessage, usize)> {
    (0..bytes.len()).filter(|&i| is_message_type(bytes[i])).find_map(|i| decode_prefix(&bytes[i..]).ok().map(|(m, n)| (m, i + n)))
}

/// Encode `msg` and modulate it as FSK: channel seizure, mark, message bytes.
pub fn generate_fsk_callerid(msg: &CallerIdMessage, format: Format, standard: Standard, level_dbm0: f32) -> Result<Vec<i16>, Error> {
    let bytes = encode(msg, format)?;
    Ok(fsk::transmit(standard, &bytes, level_dbm0))
}

/// Demodulate and decode the first valid message in `samples`, trying Bell 202
/// and then V.23.
pub fn detect_fsk_callerid(samples: &[i16]) -> Option<CallerIdMessage> {
    [Standard::Bell202, Standard::V23].into_iter().find_map(|s| detect_fsk_callerid_with(samples, s))
}

/// Like [`detect_fsk_callerid`] for one standard.
pub fn detect_fsk_callerid_with(samples: &[i16], standard: Standard) -> Option<CallerIdMessage> {
    let bytes = fsk::receive(standard.modem(), samples);
    find_message(&bytes).map(|(m, _)| m)
}

/// Most bytes the streaming receiver keeps while looking for a message.
const RECEIVER_BUFFER: usize = 1024;

/// Streaming FSK caller-ID receiver.
#[derive(Clone, Debug)]
pub struct FskCallerIdReceiver {
    demod: FskDemodulator,
    bytes: Vec<u8>,
}

impl FskCallerIdReceiver {
    /// A receiver for `standard`.
    pub fn new(standard: Standard) -> Self {
        FskCallerIdReceiver { demod: FskDemodulator::new(standard.modem()), bytes: Vec::with_capacity(RECEIVER_BUFFER) }
    }

    /// Feed samples; returns a message once one has been received completely.
    /// Bytes after it are kept for the next call.
    pub fn process(&mut self, samples: &[i16]) -> Option<CallerIdMessage> {
        self.demod.process(samples, &mut self.bytes);
        self.take_message()
    }

    /// End of input: complete the last frame and look for a message.
    pub fn finish(&mut self) -> Option<CallerIdMessage> {
        self.demod.flush(&mut self.bytes);
        self.take_message()
    }

    /// Bytes received and not yet consumed by a message.
    pub fn pending_bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// Forget all state.
    pub fn reset(&mut self) {
        self.demod.reset();
        self.bytes.clear();
    }

    fn take_message(&mut self) -> Option<CallerIdMessage> {
        if let Some((m, end)) = find_message(&self.bytes) {
            self.bytes.drain(..end);
            return Some(m);
        }
        if self.bytes.len() > RECEIVER_BUFFER {
            let excess = self.bytes.len() - RECEIVER_BUFFER / 2;
            self.bytes.drain(..excess);
        }
        None
    }
}

/// The DTMF digit string for `cid` (see the module docs for the mapping).
///
/// Uses the number if there is one (digits 0-9 only), else the absence
/// reason; name and date/time are not carried by DTMF caller ID.
pub fn encode_dtmf(cid: &CallerId) -> Result<String, Error> {
    match (&cid.number, cid.number_absence) {
        (Some(n), _) => {
            if n.is_empty() || !n.bytes().all(|b| b.is_ascii_digit()) {
                return Err(Error::NotRepresentable("DTMF caller ID number must be digits 0-9"));
            }
            Ok(format!("A{n}C"))
        }
        (None, Some(Absence::Unavailable)) => Ok("B00C".to_string()),
        (None, Some(Absence::Private)) => Ok("B10C".to_string()),
        (None, None) => Err(Error::NotRepresentable("DTMF caller ID needs a number or an absence reason")),
    }
}

/// Parse a DTMF caller-ID digit string (see the module docs).
pub fn decode_dtmf(s: &str) -> Result<CallerId, Error> {
    let bad = || Error::InvalidDtmf(s.to_string());
    let up = s.trim().to_ascii_uppercase();
    let mut chars = up.chars();
    let start = chars.next().ok_or_else(bad)?;
    let body: String = chars.take_while(|&c| c != 'C' && c != '#').collect();
    match start {
        'A' | 'D' => {
            if body.is_empty() || !body.bytes().all(|b| b.is_ascii_digit()) {
                return Err(bad());
            }
            Ok(CallerId { number: Some(body), ..CallerId::default() })
        }
        'B' => {
            let absence = match body.as_str() {
                "00" => Absence::Unavailable,
                "10" => Absence::Private,
                _ => return Err(bad()),
            };
            Ok(CallerId { number_absence: Some(absence), ..CallerId::default() })
        }
        _ => Err(bad()),
    }
}

/// DTMF timing used for DTMF caller ID by [`generate_dtmf_callerid`] callers
/// who have no national value: 70 ms on, 70 ms off.
pub const DTMF_CALLERID_CONFIG: DtmfConfig = DtmfConfig { on_ms: 70, off_ms: 70, low_level_dbm0: -7.0, high_level_dbm0: -5.0 };

/// Generate DTMF caller ID for `cid` with the given digit timing and levels.
pub fn generate_dtmf_callerid(cid: &CallerId, config: &DtmfConfig) -> Result<Vec<i16>, Error> {
    let digits = encode_dtmf(cid)?;
    dtmf::generate(&digits, config).map_err(|e| Error::InvalidDtmf(e.to_string()))
}

/// Detect DTMF caller ID in `samples`: the first digit string starting with
/// `A`, `B` or `D` that [`decode_dtmf`] accepts.
pub fn detect_dtmf_callerid(samples: &[i16]) -> Option<CallerId> {
    let digits = dtmf::detect_digits(samples);
    digits.char_indices().filter(|&(_, c)| matches!(c, 'A' | 'B' | 'D')).find_map(|(i, _)| decode_dtmf(&digits[i..]).ok())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::g711::Law;
    use crate::test_util::{Rng, add, white_noise};

    fn hex(s: &str) -> Vec<u8> {
        s.split_whitespace().map(|h| u8::from_str_radix(h, 16).unwrap()).collect()
    }

    fn full() -> CallerId {
        CallerId { number: Some("2125551212".into()), name: Some("DOE JOHN".into()), datetime: Some((12, 31, 23, 59)), ..CallerId::default() }
    }

    fn through_ulaw(mut s: Vec<i16>) -> Vec<i16> {
        // Some silence before and after, as on a line.
        let mut v = vec![0i16; 800];
        v.append(&mut s);
        v.extend(std::iter::repeat_n(0, 800));
        Law::Mulaw.compand_in_place(&mut v);
        v
    }

    #[test]
    fn checksum_makes_the_message_sum_to_zero() {
        assert_eq!(checksum(&[]), 0);
        assert_eq!(checksum(&[0x01]), 0xFF);
        let m = encode(&CallerIdMessage::CallerId(full()), Format::Mdmf).unwrap();
        assert_eq!(m.iter().fold(0u8, |a, &b| a.wrapping_add(b)), 0);
    }

    #[test]
    fn sdmf_matches_the_published_example() {
        let bytes = hex("04 12 30 39 33 30 31 32 32 34 36 30 39 35 35 35 31 32 31 32 51");
        let cid = CallerId { number: Some("6095551212".into()), datetime: Some((9, 30, 12, 24)), ..CallerId::default() };
        assert_eq!(decode(&bytes), Ok(CallerIdMessage::CallerId(cid.clone())));
        assert_eq!(encode(&CallerIdMessage::CallerId(cid), Format::Sdmf).unwrap(), bytes);
    }

    #[test]
    fn sdmf_private_number_is_a_single_p() {
        let mut bytes = hex("04 09 30 39 33 30 31 32 32 34 50");
        bytes.push(checksum(&bytes));
        let cid = CallerId { datetime: Some((9, 30, 12, 24)), number_absence: Some(Absence::Private), ..CallerId::default() };
        assert_eq!(decode(&bytes), Ok(CallerIdMessage::CallerId(cid.clone())));
        assert_eq!(encode(&CallerIdMessage::CallerId(cid), Format::Sdmf).unwrap(), bytes);
    }

    #[test]
    fn mdmf_decodes_the_published_example_in_any_parameter_order() {
        // The widely copied example; its printed checksum byte is not
        // consistent with its contents, so it is recomputed here.
        let mut bytes = hex("80 20 01 08 30 33 32 34 30 39 30 32 07 08 4A 4F 48 4E 20 44 4F 45 \
             02 0A 38 30 30 35 35 35 31 32 31 32");
        bytes.push(checksum(&bytes));
        let expected = CallerId { number: Some("8005551212".into()), name: Some("JOHN DOE".into()), datetime: Some((3, 24, 9, 2)), ..CallerId::default() };
        assert_eq!(decode(&bytes), Ok(CallerIdMessage::CallerId(expected)));
    }

    #[test]
    fn every_format_round_trips_its_messages() {
        let private =
            CallerId { datetime: Some((1, 2, 3, 4)), number_absence: Some(Absence::Private), name_absence: Some(Absence::Private), ..CallerId::default() };
        let unavailable = CallerId { number_absence: Some(Absence::Unavailable), name_absence: Some(Absence::Unavailable), ..CallerId::default() };
        let latin1 = CallerId { number: Some("+33123456789".into()), name: Some("Ærøskøbing Café".into()), ..CallerId::default() };
        for format in [Format::Mdmf, Format::Etsi] {
            for c in [full(), private.clone(), unavailable.clone(), latin1.clone(), CallerId::default()] {
                let m = CallerIdMessage::CallerId(c);
                assert_eq!(decode(&encode(&m, format).unwrap()), Ok(m));
            }
        }
        for format in [Format::Sdmf, Format::Mdmf, Format::Etsi] {
            for on in [true, false] {
                let m = CallerIdMessage::MessageWaiting(on);
                let bytes = encode(&m, format).unwrap();
                assert_eq!(bytes[0], format.spec().mwi_type);
                assert_eq!(decode(&bytes), Ok(m));
            }
        }
        let sdmf = CallerIdMessage::CallerId(CallerId { number: Some("5551234".into()), datetime: Some((7, 4, 0, 0)), ..CallerId::default() });
        assert_eq!(decode(&encode(&sdmf, Format::Sdmf).unwrap()), Ok(sdmf));
    }

    #[test]
    fn mwi_messages_have_the_standard_bytes() {
        let on = encode(&CallerIdMessage::MessageWaiting(true), Format::Sdmf).unwrap();
        assert_eq!(on, vec![0x06, 0x03, 0x42, 0x42, 0x42, checksum(&[0x06, 0x03, 0x42, 0x42, 0x42])]);
        let off = encode(&CallerIdMessage::MessageWaiting(false), Format::Etsi).unwrap();
        assert_eq!(off[..5], [0x82, 0x03, 0x0B, 0x01, 0x00]);
    }

    #[test]
    fn unrepresentable_data_is_refused() {
        let enc = |c: CallerId, f| encode(&CallerIdMessage::CallerId(c), f);
        assert!(matches!(enc(full(), Format::Sdmf), Err(Error::NotRepresentable(_))));
        let no_date = CallerId { number: Some("1".into()), ..CallerId::default() };
        assert!(enc(no_date, Format::Sdmf).is_err());
        let bad_date = CallerId { datetime: Some((13, 1, 0, 0)), ..CallerId::default() };
        assert!(enc(bad_date, Format::Mdmf).is_err());
        let wide = CallerId { name: Some("名前".into()), ..CallerId::default() };
        assert!(enc(wide, Format::Etsi).is_err());
        let long = CallerId { name: Some("x".repeat(300)), ..CallerId::default() };
        assert!(enc(long, Format::Mdmf).is_err());
        let too_much = CallerId { name: Some("x".repeat(200)), number: Some("1".repeat(100)), ..CallerId::default() };
        assert!(enc(too_much, Format::Mdmf).is_err());
    }

    #[test]
    fn corrupted_and_truncated_messages_are_errors() {
        let good = encode(&CallerIdMessage::CallerId(full()), Format::Mdmf).unwrap();
        for i in 0..good.len() {
            assert!(matches!(decode(&good[..i]), Err(Error::Truncated { .. }) | Err(Error::UnknownType(_))));
        }
        let mut bad = good.clone();
        bad[5] ^= 0x01;
        assert!(matches!(decode(&bad), Err(Error::Checksum { .. })));
        assert_eq!(decode(&[0x42, 0, 0xBE]), Err(Error::UnknownType(0x42)));
        // A parameter running past the end of the body.
        let mut m = vec![0x80, 0x03, 0x02, 0x05, 0x31];
        m.push(checksum(&m));
        assert_eq!(decode(&m), Err(Error::Malformed("parameter length")));
    }

    #[test]
    fn decode_never_panics_on_arbitrary_bytes() {
        let mut rng = Rng::new(99);
        for _ in 0..50_000 {
            let len = (rng.next_u64() % 40) as usize;
            let mut v: Vec<u8> = (0..len).map(|_| rng.next_u64() as u8).collect();
            if let Some(first) = v.first_mut() {
                *first = [0x04, 0x06, 0x80, 0x82][(rng.next_u64() % 4) as usize];
            }
            if v.len() > 1 {
                v[1] = (v[1] as usize % v.len()) as u8;
                let cs = checksum(&v[..v.len() - 1]);
                if rng.next_u64() % 2 == 0 {
                    *v.last_mut().unwrap() = cs;
                }
            }
            let _ = decode(&v);
            let _ = find_message(&v);
        }
    }

    #[test]
    fn fsk_sdmf_round_trips_through_ulaw_at_minus_13_dbm0() {
        let m = CallerIdMessage::CallerId(CallerId { number: Some("6095551212".into()), datetime: Some((9, 30, 12, 24)), ..CallerId::default() });
        let s = generate_fsk_callerid(&m, Format::Sdmf, Standard::Bell202, -13.0).unwrap();
        assert_eq!(detect_fsk_callerid(&through_ulaw(s)), Some(m));
    }

    #[test]
    fn fsk_mdmf_with_number_name_and_date_round_trips() {
        let m = CallerIdMessage::CallerId(full());
        let s = generate_fsk_callerid(&m, Format::Mdmf, Standard::Bell202, -13.0).unwrap();
        assert_eq!(detect_fsk_callerid_with(&through_ulaw(s), Standard::Bell202), Some(m));
    }

    #[test]
    fn fsk_private_and_unavailable_round_trip() {
        for a in [Absence::Private, Absence::Unavailable] {
            let m =
                CallerIdMessage::CallerId(CallerId { datetime: Some((2, 29, 8, 15)), number_absence: Some(a), name_absence: Some(a), ..CallerId::default() });
            let s = generate_fsk_callerid(&m, Format::Mdmf, Standard::Bell202, -13.0).unwrap();
            assert_eq!(detect_fsk_callerid(&through_ulaw(s)), Some(m));
        }
    }

    #[test]
    fn fsk_etsi_v23_round_trips_including_alaw_and_noise() {
        let m = CallerIdMessage::CallerId(CallerId {
            number: Some("0123456789".into()),
            name: Some("Tandem Test".into()),
            datetime: Some((6, 1, 14, 30)),
            ..CallerId::default()
        });
        let mut s = generate_fsk_callerid(&m, Format::Etsi, Standard::V23, -13.0).unwrap();
        assert_eq!(detect_fsk_callerid_with(&through_ulaw(s.clone()), Standard::V23), Some(m.clone()));
        let noise = white_noise(s.len(), -40.0, 5);
        add(&mut s, &noise);
        Law::Alaw.compand_in_place(&mut s);
        assert_eq!(detect_fsk_callerid_with(&s, Standard::V23), Some(m));
    }

    #[test]
    fn fsk_callerid_survives_10_db_snr_at_minus_20_dbm0() {
        let m = CallerIdMessage::CallerId(full());
        for (format, std) in [(Format::Mdmf, Standard::Bell202), (Format::Etsi, Standard::V23)] {
            for seed in 0..5 {
                let mut s = generate_fsk_callerid(&m, format, std, -20.0).unwrap();
                let noise = white_noise(s.len(), -30.0, seed);
                add(&mut s, &noise);
                Law::Mulaw.compand_in_place(&mut s);
                assert_eq!(detect_fsk_callerid_with(&s, std), Some(m.clone()), "{std:?} seed {seed}");
            }
        }
    }

    #[test]
    fn fsk_mwi_round_trips() {
        for (format, std) in [(Format::Sdmf, Standard::Bell202), (Format::Etsi, Standard::V23)] {
            let m = CallerIdMessage::MessageWaiting(true);
            let s = generate_fsk_callerid(&m, format, std, -13.0).unwrap();
            assert_eq!(detect_fsk_callerid(&through_ulaw(s)), Some(m));
        }
    }

    #[test]
    fn streaming_receiver_finds_the_message_in_small_chunks() {
        let m = CallerIdMessage::CallerId(full());
        let s = through_ulaw(generate_fsk_callerid(&m, Format::Mdmf, Standard::Bell202, -13.0).unwrap());
        let mut r = FskCallerIdReceiver::new(Standard::Bell202);
        let mut got = None;
        for c in s.chunks(8) {
            if let Some(x) = r.process(c) {
                got = Some(x);
            }
        }
        if got.is_none() {
            got = r.finish();
        }
        assert_eq!(got, Some(m));
    }

    #[test]
    fn fsk_detection_finds_nothing_in_silence_or_noise() {
        assert_eq!(detect_fsk_callerid(&vec![0; 16_000]), None);
        assert_eq!(detect_fsk_callerid(&white_noise(16_000, -20.0, 8)), None);
    }

    #[test]
    fn dtmf_strings_follow_the_documented_mapping() {
        let c = CallerId { number: Some("0123456789".into()), ..CallerId::default() };
        assert_eq!(encode_dtmf(&c).unwrap(), "A0123456789C");
        assert_eq!(decode_dtmf("A0123456789C").unwrap(), c);
        assert_eq!(decode_dtmf("d0123456789#").unwrap(), c);
        assert_eq!(decode_dtmf("A0123456789").unwrap(), c);
        let p = CallerId { number_absence: Some(Absence::Private), ..CallerId::default() };
        let u = CallerId { number_absence: Some(Absence::Unavailable), ..CallerId::default() };
        assert_eq!(encode_dtmf(&p).unwrap(), "B10C");
        assert_eq!(encode_dtmf(&u).unwrap(), "B00C");
        assert_eq!(decode_dtmf("B10C").unwrap(), p);
        assert_eq!(decode_dtmf("B00").unwrap(), u);
        for bad in ["", "C", "AC", "A12*3C", "B99C", "X123"] {
            assert!(decode_dtmf(bad).is_err(), "{bad}");
        }
        assert!(encode_dtmf(&CallerId::default()).is_err());
        assert!(encode_dtmf(&CallerId { number: Some("12a".into()), ..CallerId::default() }).is_err());
    }

    #[test]
    fn dtmf_callerid_round_trips_through_ulaw() {
        let cases = [
            CallerId { number: Some("4930123456".into()), ..CallerId::default() },
            CallerId { number_absence: Some(Absence::Private), ..CallerId::default() },
            CallerId { number_absence: Some(Absence::Unavailable), ..CallerId::default() },
        ];
        for c in cases {
            let s = generate_dtmf_callerid(&c, &DTMF_CALLERID_CONFIG).unwrap();
            assert_eq!(detect_dtmf_callerid(&through_ulaw(s)), Some(c));
        }
    }
}
