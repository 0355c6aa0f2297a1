//! The one error type of the wire module.

/// Everything that can go wrong decoding (or emitting) an RTP packet, an
/// RTCP packet or a telephone event. Decoding never panics: every
/// malformed input ends up here.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The buffer is shorter than the fixed header, or than the lengths
    /// in the header (CSRC count, extension length, RTCP length) say.
    #[error("buffer too short")]
    Truncated,
    /// The version field is not 2 (RFC 3550 §5.1, §6.4.1).
    #[error("unsupported RTP/RTCP version {0}")]
    Version(u8),
    /// The P bit is set but the padding count (the last octet) is zero or
    /// larger than the room after the header (RFC 3550 §5.1: the count
    /// includes itself and never reaches into the header).
    #[error("invalid padding")]
    Padding,
    /// The structure is inconsistent: an SDES chunk without its null
    /// terminator, a BYE reason running past the packet, a compound packet
    /// not starting with SR/RR, an RTCP packet type not valid here.
    #[error("malformed packet")]
    Malformed,
    /// The output buffer is smaller than `buffer_len()`.
    #[error("output buffer too small")]
    BufferTooSmall,
    /// A repr field does not fit its wire field (payload type above 127,
    /// extension data not a whole number of 32-bit words, more than 31
    /// report blocks, an SDES item over 255 octets, volume above 63, ...).
    #[error("field value out of range for the wire format")]
    FieldRange,
}
