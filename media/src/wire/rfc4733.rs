//! The telephone-event RTP payload (RFC 4733 §2.3): DTMF digits, flash and
//! the other named events, carried instead of their tones.
//!
//! ```text
//!  0                   1                   2                   3
//!  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |     event     |E|R| volume    |          duration             |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! ```
//!
//! * event: 0–255, from the IANA registry; 0–15 are the DTMF digits
//!   (RFC 4733 §3.2, Table 7) and 16 is flash (RFC 4734 §2.3.1; listed
//!   with the DTMF events here since every gateway sends it the same way).
//! * E: the end of the event.
//! * R: reserved; the sender sets it to 0 and the receiver ignores it, so
//!   the view reads and writes it but [`TelephoneEventRepr`] does not carry
//!   it (parse ignores it, emit writes 0).
//! * volume: the power level in −dBm0, 0–63 (0 to −63 dBm0); 0 for events
//!   without a volume.
//! * duration: in RTP timestamp units since the event's start timestamp.
//!
//! The payload is 4 octets; [`TelephoneEvent::new_checked`] needs at least
//! that many, and anything after the first 4 is not part of the event.

use super::Error;
use super::field::{self, u8_at, u16_at};

/// Length of the payload.
pub const PAYLOAD_LEN: usize = 4;
/// Largest volume (−63 dBm0).
pub const MAX_VOLUME: u8 = 63;

enum_with_unknown! {
    /// Named telephone events: the DTMF digits (RFC 4733 §3.2) and flash
    /// (RFC 4734). Anything else is `Unknown` with its code.
    pub enum TelephoneEventCode {
        /// DTMF 0.
        Digit0 = 0,
        /// DTMF 1.
        Digit1 = 1,
        /// DTMF 2.
        Digit2 = 2,
        /// DTMF 3.
        Digit3 = 3,
        /// DTMF 4.
        Digit4 = 4,
        /// DTMF 5.
        Digit5 = 5,
        /// DTMF 6.
        Digit6 = 6,
        /// DTMF 7.
        Digit7 = 7,
        /// DTMF 8.
        Digit8 = 8,
        /// DTMF 9.
        Digit9 = 9,
        /// DTMF `*`.
        Star = 10,
        /// DTMF `#`.
        Pound = 11,
        /// DTMF A.
        A = 12,
        /// DTMF B.
        B = 13,
        /// DTMF C.
        C = 14,
        /// DTMF D.
        D = 15,
        /// Hook flash.
        Flash = 16,
    }
}

impl TelephoneEventCode {
    /// The DTMF event for a keypad character: `0`–`9`, `*`, `#`, `A`–`D`
    /// (lower case too).
    pub fn from_dtmf_char(c: char) -> Option<TelephoneEventCode> {
        let code = match c.to_ascii_uppercase() {
            d @ '0'..='9' => d as u8 - b'0',
            '*' => 10,
            '#' => 11,
            l @ 'A'..='D' => l as u8 - b'A' + 12,
            _ => return None,
        };
        Some(TelephoneEventCode::from(code))
    }

    /// The keypad character of a DTMF event (`None` for flash and the
    /// rest).
    pub fn dtmf_char(self) -> Option<char> {
        match u8::from(self) {
            d @ 0..=9 => Some(char::from(b'0' + d)),
            10 => Some('*'),
            11 => Some('#'),
            l @ 12..=15 => Some(char::from(b'A' + l - 12)),
            _ => None,
        }
    }

    /// Whether this is one of the 16 DTMF events.
    pub fn is_dtmf(self) -> bool {
        u8::from(self) <= 15
    }
}

/// A read/write view of a telephone-event payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TelephoneEvent<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> TelephoneEvent<T> {
    /// Wraps a buffer without checking it (accessors read zeros past its
    /// end).
    pub const fn new_unchecked(buffer: T) -> TelephoneEvent<T> {
        TelephoneEvent { buffer }
    }

    /// Wraps a buffer after [`check_len`](TelephoneEvent::check_len).
    pub fn new_checked(buffer: T) -> Result<TelephoneEvent<T>, Error> {
        let event = TelephoneEvent::new_unchecked(buffer);
        event.check_len()?;
        Ok(event)
    }

    /// Checks that the buffer holds the 4 octets.
    pub fn check_len(&self) -> Result<(), Error> {
        if self.buffer.as_ref().len() < PAYLOAD_LEN { Err(Error::Truncated) } else { Ok(()) }
    }

    /// Returns the underlying buffer.
    pub fn into_inner(self) -> T {
        self.buffer
    }

    /// The event code, 0–255.
    pub fn event_code(&self) -> u8 {
        u8_at(self.buffer.as_ref(), 0)
    }

    /// The event.
    pub fn event(&self) -> TelephoneEventCode {
        TelephoneEventCode::from(self.event_code())
    }

    /// The E bit: this packet ends the event.
    pub fn end(&self) -> bool {
        u8_at(self.buffer.as_ref(), 1) & 0x80 != 0
    }

    /// The reserved R bit.
    pub fn reserved(&self) -> bool {
        u8_at(self.buffer.as_ref(), 1) & 0x40 != 0
    }

    /// Volume, 0–63 (−dBm0).
    pub fn volume(&self) -> u8 {
        u8_at(self.buffer.as_ref(), 1) & 0x3F
    }

    /// Duration in timestamp units.
    pub fn duration(&self) -> u16 {
        u16_at(self.buffer.as_ref(), 2)
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> TelephoneEvent<T> {
    fn update_octet1(&mut self, mask: u8, value: u8) {
        let b = u8_at(self.buffer.as_ref(), 1);
        field::set_u8(self.buffer.as_mut(), 1, (b & !mask) | (value & mask));
    }

    /// Sets the event code.
    pub fn set_event(&mut self, event: TelephoneEventCode) {
        field::set_u8(self.buffer.as_mut(), 0, event.into());
    }

    /// Sets the E bit.
    pub fn set_end(&mut self, on: bool) {
        self.update_octet1(0x80, if on { 0x80 } else { 0 });
    }

    /// Sets the R bit.
    pub fn set_reserved(&mut self, on: bool) {
        self.update_octet1(0x40, if on { 0x40 } else { 0 });
    }

    /// Sets the volume (masked to 6 bits).
    pub fn set_volume(&mut self, volume: u8) {
        self.update_octet1(0x3F, volume);
    }

    /// Sets the duration.
    pub fn set_duration(&mut self, duration: u16) {
        field::set_u16(self.buffer.as_mut(), 2, duration);
    }
}

/// A telephone event's fields (the reserved bit aside).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TelephoneEventRepr {
    /// The event.
    pub event: TelephoneEventCode,
    /// End of the event (E bit).
    pub end: bool,
    /// Volume, 0–63 (−dBm0).
    pub volume: u8,
    /// Duration in timestamp units.
    pub duration: u16,
}

impl TelephoneEventRepr {
    /// Parses a payload (checked or not: this validates it again).
    pub fn parse<T: AsRef<[u8]>>(event: &TelephoneEvent<T>) -> Result<TelephoneEventRepr, Error> {
        event.check_len()?;
        Ok(TelephoneEventRepr { event: event.event(), end: event.end(), volume: event.volume(), duration: event.duration() })
    }

    /// Parses an untrusted payload.
    pub fn parse_bytes(data: &[u8]) -> Result<TelephoneEventRepr, Error> {
        TelephoneEventRepr::parse(&TelephoneEvent::new_checked(data)?)
    }

    /// 4.
    pub const fn buffer_len(&self) -> usize {
        PAYLOAD_LEN
    }

    /// Writes the payload (R = 0). [`Error::FieldRange`] for a volume
    /// above 63, [`Error::BufferTooSmall`] for fewer than 4 octets.
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(&self, event: &mut TelephoneEvent<T>) -> Result<(), Error> {
        if self.volume > MAX_VOLUME {
            return Err(Error::FieldRange);
        }
        if event.buffer.as_ref().len() < PAYLOAD_LEN {
            return Err(Error::BufferTooSmall);
        }
        event.set_event(self.event);
        field::set_u8(event.buffer.as_mut(), 1, u8::from(self.end) << 7 | self.volume);
        event.set_duration(self.duration);
        Ok(())
    }

    /// The 4 octets.
    pub fn to_bytes(&self) -> Result<[u8; PAYLOAD_LEN], Error> {
        let mut buf = [0; PAYLOAD_LEN];
        self.emit(&mut TelephoneEvent::new_unchecked(&mut buf[..]))?;
        Ok(buf)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn figure_1_layout() {
        // DTMF 5 at −10 dBm0, 800 timestamp units (100 ms at 8 kHz), end.
        let bytes = [0x05, 0x8A, 0x03, 0x20];
        let e = TelephoneEvent::new_checked(&bytes[..]).unwrap();
        assert_eq!(e.event(), TelephoneEventCode::Digit5);
        assert!(e.end());
        assert!(!e.reserved());
        assert_eq!(e.volume(), 10);
        assert_eq!(e.duration(), 800);
        let r = TelephoneEventRepr::parse(&e).unwrap();
        assert_eq!(r.to_bytes().unwrap(), bytes);
    }

    #[test]
    fn digit_sequence_as_a_gateway_sends_it() {
        // RFC 4733 §2.5: one digit, updates every 20 ms (160 units) with
        // growing duration, the last one with E set (sent three times).
        let expected: [[u8; 4]; 4] = [
            [0x0B, 0x07, 0x00, 0xA0], // '#', vol 7, 160
            [0x0B, 0x07, 0x01, 0x40], // 320
            [0x0B, 0x07, 0x01, 0xE0], // 480
            [0x0B, 0x87, 0x02, 0x80], // 640, end
        ];
        for (i, bytes) in expected.iter().enumerate() {
            let r = TelephoneEventRepr { event: TelephoneEventCode::from_dtmf_char('#').unwrap(), end: i == 3, volume: 7, duration: 160 * (i as u16 + 1) };
            assert_eq!(&r.to_bytes().unwrap(), bytes);
            assert_eq!(TelephoneEventRepr::parse_bytes(bytes), Ok(r));
        }
    }

    #[test]
    fn reserved_bit_is_ignored() {
        let bytes = [16, 0x40, 0, 0];
        let r = TelephoneEventRepr::parse_bytes(&bytes).unwrap();
        assert_eq!(r.event, TelephoneEventCode::Flash);
        assert_eq!(r.volume, 0);
        assert_eq!(r.to_bytes().unwrap(), [16, 0, 0, 0]);
        let mut buf = [0u8; 4];
        let mut v = TelephoneEvent::new_unchecked(&mut buf[..]);
        v.set_reserved(true);
        v.set_volume(0xFF);
        v.set_end(true);
        assert_eq!(buf[1], 0xFF);
    }

    #[test]
    fn named_events() {
        let keys = "0123456789*#ABCD";
        for (code, c) in keys.chars().enumerate() {
            let e = TelephoneEventCode::from_dtmf_char(c).unwrap();
            assert_eq!(u8::from(e), code as u8);
            assert_eq!(e.dtmf_char(), Some(c));
            assert!(e.is_dtmf());
        }
        assert_eq!(TelephoneEventCode::from_dtmf_char('b'), Some(TelephoneEventCode::B));
        assert_eq!(TelephoneEventCode::from_dtmf_char('E'), None);
        assert_eq!(TelephoneEventCode::from(16), TelephoneEventCode::Flash);
        assert_eq!(TelephoneEventCode::Flash.dtmf_char(), None);
        assert_eq!(TelephoneEventCode::from(200), TelephoneEventCode::Unknown(200));
        for v in 0..=255u8 {
            assert_eq!(u8::from(TelephoneEventCode::from(v)), v);
        }
    }

    #[test]
    fn errors() {
        assert_eq!(TelephoneEventRepr::parse_bytes(&[1, 2, 3]), Err(Error::Truncated));
        let r = TelephoneEventRepr { event: TelephoneEventCode::Digit1, end: false, volume: 64, duration: 0 };
        assert_eq!(r.to_bytes(), Err(Error::FieldRange));
        let ok = TelephoneEventRepr { volume: 63, ..r };
        let mut short = [0u8; 3];
        assert_eq!(ok.emit(&mut TelephoneEvent::new_unchecked(&mut short[..])), Err(Error::BufferTooSmall));
        let unchecked = TelephoneEvent::new_unchecked(&short[..1]);
        assert_eq!((unchecked.duration(), unchecked.volume()), (0, 0));
        assert_eq!(TelephoneEventRepr::parse(&unchecked), Err(Error::Truncated));
    }
}
