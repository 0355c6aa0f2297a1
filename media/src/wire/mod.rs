//! RTP, RTCP and RFC 4733 telephone events on the wire.
//!
//! Modelled on smoltcp's `wire` module (and on `isdn_q931::wire`): every
//! format has
//!
//! 1. a zero-copy view `Foo<T: AsRef<[u8]>>` whose `new_checked` validates
//!    the buffer once, after which no accessor can panic or return a value
//!    read from outside the packet. Accessors never panic on unchecked views
//!    either (`new_unchecked`): they return meaningless values (zeros, empty
//!    slices) instead. Setters exist for `T: AsMut<[u8]>` and silently do
//!    nothing where the buffer is too short;
//! 2. a typed `FooRepr` with `parse` (which re-validates, so it is safe on
//!    an unchecked view too), `buffer_len` and `emit` (which returns
//!    [`Error::BufferTooSmall`] rather than panicking on a short buffer, and
//!    an error for a repr whose fields do not fit the wire format), plus the
//!    `parse_bytes` / `to_vec` shorthands.
//!
//! Untrusted input goes through the checked constructors (or `parse`,
//! `parse_bytes`) only; nothing in this module panics on any input.
//!
//! * [`rtp`]: the RTP fixed header, CSRC list, header extension, padding
//!   and payload, with an inlined fast path for the common 12-octet header.
//! * [`rtcp`]: RTCP packets, the compound-packet iterator, SR/RR report
//!   blocks, SDES, BYE, APP, and [`CompoundRepr`] for what a gateway sends.
//! * [`rfc4733`]: the telephone-event payload and the DTMF/flash events.
//! * [`Error`]: one error enum for all three.
//!
//! ```
//! use tandem_media::wire::rfc4733::{TelephoneEventCode, TelephoneEventRepr};
//! use tandem_media::wire::rtcp::{CompoundRepr, ReportBlockRepr};
//! use tandem_media::wire::rtp::{RtpPacket, RtpRepr};
//!
//! // Send: a 20 ms G.711 µ-law packet, header written in place.
//! let mut buf = [0u8; 12 + 160];
//! let repr = RtpRepr::new(0, 1000, 160_000, 0x1234_5678, 160);
//! let mut packet = RtpPacket::new_unchecked(&mut buf[..]);
//! repr.emit(&mut packet)?;
//! packet.payload_mut().fill(0xFF); // µ-law silence
//!
//! // Receive: validate once, then read.
//! let packet = RtpPacket::new_checked(&buf[..])?;
//! assert_eq!(packet.sequence_number(), 1000);
//! assert_eq!(RtpRepr::parse(&packet)?, repr);
//!
//! // A DTMF '5' (RFC 4733), end of event, 100 ms at 8 kHz.
//! let event = TelephoneEventRepr {
//!     event: TelephoneEventCode::from_dtmf_char('5').unwrap(),
//!     end: true,
//!     volume: 10,
//!     duration: 800,
//! };
//! assert_eq!(event.to_bytes()?, [5, 0x8A, 0x03, 0x20]);
//!
//! // RTCP: an RR about one source plus our SDES CNAME.
//! let report = ReportBlockRepr { ssrc: 0xCAFE, fraction_lost: 0, ..Default::default() };
//! let rtcp = CompoundRepr::report(0x1234_5678, None, vec![report], b"tandem@gw").to_vec()?;
//! assert_eq!(CompoundRepr::parse(&rtcp)?.cname(0x1234_5678), Some(&b"tandem@gw"[..]));
//! # Ok::<(), tandem_media::wire::Error>(())
//! ```

/// A `u8`-valued enum with an `Unknown(u8)` catch-all, converting both
/// ways without loss (smoltcp's `enum_with_unknown!`). Known values never
/// come out as `Unknown`.
macro_rules! enum_with_unknown {
    (
        $(#[$enum_attr:meta])*
        pub enum $name:ident {
            $( $(#[$variant_attr:meta])* $variant:ident = $value:expr ),+ $(,)?
        }
    ) => {
        $(#[$enum_attr])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub enum $name {
            $( $(#[$variant_attr])* $variant, )+
            /// Any other value.
            Unknown(u8),
        }

        impl ::core::convert::From<u8> for $name {
            fn from(value: u8) -> Self {
                match value {
                    $( $value => $name::$variant, )+
                    other => $name::Unknown(other),
                }
            }
        }

        impl ::core::convert::From<$name> for u8 {
            fn from(value: $name) -> Self {
                match value {
                    $( $name::$variant => $value, )+
                    $name::Unknown(other) => other,
                }
            }
        }
    };
}

mod error;
pub mod rfc4733;
pub mod rtcp;
pub mod rtp;

pub use error::Error;
pub use rfc4733::{TelephoneEvent, TelephoneEventCode, TelephoneEventRepr};
pub use rtcp::{CompoundRepr, RtcpPacketType, RtcpRepr};
pub use rtp::{RtpPacket, RtpRepr};

/// Octet access that never panics: out-of-range reads return zeros and
/// out-of-range writes do nothing. Views use these so that even an
/// unchecked view cannot panic.
pub(crate) mod field {
    #[inline(always)]
    pub fn u8_at(data: &[u8], at: usize) -> u8 {
        data.get(at).copied().unwrap_or(0)
    }

    #[inline(always)]
    pub fn u16_at(data: &[u8], at: usize) -> u16 {
        match data.get(at..at.wrapping_add(2)) {
            Some(&[a, b]) => u16::from_be_bytes([a, b]),
            _ => 0,
        }
    }

    #[inline(always)]
    pub fn u32_at(data: &[u8], at: usize) -> u32 {
        match data.get(at..at.wrapping_add(4)) {
            Some(&[a, b, c, d]) => u32::from_be_bytes([a, b, c, d]),
            _ => 0,
        }
    }

    #[inline(always)]
    pub fn set_u8(data: &mut [u8], at: usize, v: u8) {
        if let Some(b) = data.get_mut(at) {
            *b = v;
        }
    }

    #[inline(always)]
    pub fn set_u16(data: &mut [u8], at: usize, v: u16) {
        if let Some(b) = data.get_mut(at..at.wrapping_add(2)) {
            b.copy_from_slice(&v.to_be_bytes());
        }
    }

    #[inline(always)]
    pub fn set_u32(data: &mut [u8], at: usize, v: u32) {
        if let Some(b) = data.get_mut(at..at.wrapping_add(4)) {
            b.copy_from_slice(&v.to_be_bytes());
        }
    }

    /// Copies `src` to `data[at..]`; does nothing (rather than panic) if it
    /// does not fit. Emitters check lengths first, so this never truncates
    /// in practice.
    #[inline(always)]
    pub fn copy(data: &mut [u8], at: usize, src: &[u8]) {
        if let Some(dst) = at.checked_add(src.len()).and_then(|end| data.get_mut(at..end)) {
            dst.copy_from_slice(src);
        }
    }

    /// `data[start..end]`, or an empty slice when that range is not inside
    /// `data` (or is reversed).
    #[inline(always)]
    pub fn slice(data: &[u8], start: usize, end: usize) -> &[u8] {
        data.get(start..end).unwrap_or(&[])
    }

    /// Mutable counterpart of [`slice`].
    #[inline(always)]
    pub fn slice_mut(data: &mut [u8], start: usize, end: usize) -> &mut [u8] {
        data.get_mut(start..end).unwrap_or(&mut [])
    }
}
