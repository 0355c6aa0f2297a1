//! The media vocabulary shared by the pump and SDP: codecs, media
//! direction and the G.711 law of a TDM channel.

use tandem_dsp::g711::{ALAW_TO_ULAW_TABLE, Law as DspLaw, ULAW_TO_ALAW_TABLE};

pub use tandem_drivers::Law;

/// RTP clock rate of the narrow-band codecs, Hz (RFC 3551 §4.5.14).
pub const SAMPLE_RATE: u32 = 8000;
/// Samples per millisecond at [`SAMPLE_RATE`].
pub const SAMPLES_PER_MS: u32 = SAMPLE_RATE / 1000;

/// An audio codec the pump can carry. Only G.711 is implemented; the enum
/// is open so G.722 and T.38 can be added without breaking callers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Codec {
    /// G.711 µ-law, static payload type 0 (RFC 3551 Table 4).
    Pcmu,
    /// G.711 A-law, static payload type 8 (RFC 3551 Table 4).
    Pcma,
}

impl Codec {
    /// The static RTP payload type (RFC 3551 Table 4).
    pub const fn static_payload_type(self) -> u8 {
        match self {
            Codec::Pcmu => 0,
            Codec::Pcma => 8,
        }
    }

    /// The `a=rtpmap` encoding name.
    pub const fn encoding_name(self) -> &'static str {
        match self {
            Codec::Pcmu => "PCMU",
            Codec::Pcma => "PCMA",
        }
    }

    /// The RTP clock rate.
    pub const fn clock_rate(self) -> u32 {
        SAMPLE_RATE
    }

    /// The codec for an encoding name (case-insensitive) and clock rate.
    pub fn from_encoding(name: &str, clock_rate: u32) -> Option<Codec> {
        if clock_rate != SAMPLE_RATE {
            return None;
        }
        if name.eq_ignore_ascii_case("PCMU") {
            Some(Codec::Pcmu)
        } else if name.eq_ignore_ascii_case("PCMA") {
            Some(Codec::Pcma)
        } else {
            None
        }
    }

    /// The codec a static payload type stands for.
    pub fn from_static_payload_type(pt: u8) -> Option<Codec> {
        match pt {
            0 => Some(Codec::Pcmu),
            8 => Some(Codec::Pcma),
            _ => None,
        }
    }

    /// The G.711 law of this codec.
    pub const fn law(self) -> Law {
        match self {
            Codec::Pcmu => Law::Mulaw,
            Codec::Pcma => Law::Alaw,
        }
    }

    /// Payload octets per sample.
    pub const fn octets_per_sample(self) -> u32 {
        1
    }
}

/// Media direction from *our* point of view (RFC 3264 §5.1, §6.1):
/// `SendOnly` means the pump sends RTP and plays nothing to the TDM side.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub enum Direction {
    /// Send and receive (`a=sendrecv`, the default).
    #[default]
    SendRecv,
    /// Send only (`a=sendonly`: we are holding the remote).
    SendOnly,
    /// Receive only (`a=recvonly`: the remote holds us).
    RecvOnly,
    /// Neither (`a=inactive`).
    Inactive,
}

impl Direction {
    /// Whether RTP is sent in this direction.
    pub const fn sends(self) -> bool {
        matches!(self, Direction::SendRecv | Direction::SendOnly)
    }

    /// Whether received RTP is played out.
    pub const fn receives(self) -> bool {
        matches!(self, Direction::SendRecv | Direction::RecvOnly)
    }

    /// The direction the other side sees (RFC 3264 §6.1: sendonly ↔ recvonly).
    pub const fn reversed(self) -> Direction {
        match self {
            Direction::SendOnly => Direction::RecvOnly,
            Direction::RecvOnly => Direction::SendOnly,
            d => d,
        }
    }

    /// The SDP attribute name.
    pub const fn attribute(self) -> &'static str {
        match self {
            Direction::SendRecv => "sendrecv",
            Direction::SendOnly => "sendonly",
            Direction::RecvOnly => "recvonly",
            Direction::Inactive => "inactive",
        }
    }

    /// Parses an SDP direction attribute name.
    pub fn from_attribute(name: &str) -> Option<Direction> {
        match name {
            "sendrecv" => Some(Direction::SendRecv),
            "sendonly" => Some(Direction::SendOnly),
            "recvonly" => Some(Direction::RecvOnly),
            "inactive" => Some(Direction::Inactive),
            _ => None,
        }
    }
}

/// The tandem-dsp law for a driver law.
pub(crate) const fn dsp_law(law: Law) -> DspLaw {
    match law {
        Law::Mulaw => DspLaw::Mulaw,
        Law::Alaw => DspLaw::Alaw,
    }
}

/// A 256-entry byte map from one G.711 law to another (the identity when
/// both are the same).
#[derive(Clone)]
pub(crate) struct Transcoder {
    table: Option<&'static [u8; 256]>,
}

impl Transcoder {
    /// The map from `from` codes to `to` codes.
    pub(crate) fn new(from: Law, to: Law) -> Transcoder {
        let table = match (from, to) {
            (Law::Mulaw, Law::Alaw) => Some(&ULAW_TO_ALAW_TABLE),
            (Law::Alaw, Law::Mulaw) => Some(&ALAW_TO_ULAW_TABLE),
            _ => None,
        };
        Transcoder { table }
    }

    /// Copies `src` into `dst` (same length), mapping each code.
    #[inline]
    pub(crate) fn copy(&self, src: &[u8], dst: &mut [u8]) {
        match self.table {
            None => dst.copy_from_slice(src),
            Some(t) => {
                for (d, &s) in dst.iter_mut().zip(src) {
                    *d = t[s as usize];
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn direction_reverses_send_and_receive_only() {
        assert_eq!(Direction::SendOnly.reversed(), Direction::RecvOnly);
        assert_eq!(Direction::RecvOnly.reversed(), Direction::SendOnly);
        assert_eq!(Direction::Inactive.reversed(), Direction::Inactive);
        assert_eq!(Direction::SendRecv.reversed(), Direction::SendRecv);
    }

    #[test]
    fn transcoder_maps_silence_between_laws() {
        let t = Transcoder::new(Law::Mulaw, Law::Alaw);
        let mut b = [0u8; 4];
        t.copy(&[0xFF; 4], &mut b);
        assert_eq!(b, [0xD5; 4]);
        let id = Transcoder::new(Law::Alaw, Law::Alaw);
        let mut out = [0u8; 2];
        id.copy(&[1, 2], &mut out);
        assert_eq!(out, [1, 2]);
    }

    #[test]
    fn codec_names_round_trip() {
        assert_eq!(Codec::from_encoding("pcmu", 8000), Some(Codec::Pcmu));
        assert_eq!(Codec::from_encoding("PCMA", 8000), Some(Codec::Pcma));
        assert_eq!(Codec::from_encoding("PCMA", 16000), None);
        assert_eq!(Codec::from_static_payload_type(8), Some(Codec::Pcma));
    }
}
