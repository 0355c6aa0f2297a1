//! The one error type of the wire module, and how Q.931 classifies it.

use super::ie::{CauseValue, IeId};

/// Everything that can go wrong decoding (or, rarely, emitting) a LAPD
/// frame, a Q.931 message or an information element.
///
/// Decoding never panics: every malformed input ends up here. For Q.931
/// the variants carry what the call-control state machine needs to answer
/// with STATUS / RELEASE COMPLETE (Q.931 §5.8): [`Error::cause`] gives the
/// cause value and [`Error::ie`] the offending information element, which
/// goes into the cause IE's diagnostic field (see
/// [`CauseRepr::for_error`](super::ie::CauseRepr::for_error)).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The buffer is shorter than the fixed part of the format.
    #[error("buffer too short")]
    Truncated,
    /// The output buffer is smaller than `buffer_len()`.
    #[error("output buffer too small")]
    BufferTooSmall,
    /// Contents that violate the coding rules (extension bits, reserved
    /// values, lengths) of a field or octet group. Inside an IE decoder;
    /// [`IeRepr`](super::ie::IeRepr) reports it as [`Error::InvalidIe`].
    #[error("malformed contents")]
    Malformed,

    /// LAPD address field: EA0 must be 0 and EA1 must be 1 (Q.921 §3.3.1).
    /// Such frames are discarded without notice (§3.9 invalid frames).
    #[error("LAPD address field has invalid EA bits")]
    LapdAddress,
    /// LAPD control field not defined for modulo 128 operation (Q.921
    /// §5.8.5, MDL-ERROR indication L).
    #[error("undefined LAPD control field {0:#04x}")]
    LapdControl(u8),
    /// An S frame, or a U frame other than UI/FRMR/XID, with an
    /// information field (Q.921 §5.8.5 "incorrect length", MDL-ERROR M/N).
    #[error("LAPD frame type does not permit an information field")]
    LapdInfoNotPermitted,

    /// The message is too short to hold protocol discriminator, call
    /// reference and message type (Q.931 §5.8.2: ignore the message).
    #[error("message too short for a Q.931 header")]
    MessageTooShort,
    /// The call reference length octet has spare bits set or a length
    /// above 2 (Q.931 §5.8.3.1: ignore the message).
    #[error("invalid call reference length octet {0:#04x}")]
    CallRefLength(u8),
    /// An information element's length runs past the end of the message.
    #[error("IE {0} runs past the end of the message")]
    IeOverrun(IeId),
    /// Invalid information element contents (cause 100).
    #[error("invalid contents in IE {0}")]
    InvalidIe(IeId),
    /// Information element non-existent or not implemented (cause 99).
    #[error("unrecognized IE {0}")]
    UnrecognizedIe(IeId),
    /// Mandatory information element is missing (cause 96). Also given for
    /// an unrecognized IE whose identifier says "comprehension required"
    /// (Q.931 §5.8.7.1).
    #[error("mandatory IE {0} missing")]
    MandatoryIeMissing(IeId),
    /// Message type non-existent or not implemented (cause 97).
    #[error("message type {0:#04x} non-existent or not implemented")]
    UnknownMessageType(u8),
    /// An IE's contents would exceed the 255 octets its length octet can
    /// express (emit side).
    #[error("IE {0} contents exceed 255 octets")]
    IeTooLong(IeId),
}

impl Error {
    /// The Q.931 cause value the receiver reports for this error, where
    /// Q.931 §5.8 asks for one. `None` means "ignore the message" (bad
    /// header, truncated frame) or a non-Q.931 error.
    pub fn cause(&self) -> Option<CauseValue> {
        Some(match self {
            Error::InvalidIe(_) | Error::IeOverrun(_) => CauseValue::INVALID_IE_CONTENTS,
            Error::UnrecognizedIe(_) => CauseValue::IE_NONEXISTENT,
            Error::MandatoryIeMissing(_) => CauseValue::MANDATORY_IE_MISSING,
            Error::UnknownMessageType(_) => CauseValue::MESSAGE_TYPE_NONEXISTENT,
            _ => return None,
        })
    }

    /// The information element at fault, for the cause diagnostic.
    pub fn ie(&self) -> Option<IeId> {
        match *self {
            Error::IeOverrun(id) | Error::InvalidIe(id) | Error::UnrecognizedIe(id) | Error::MandatoryIeMissing(id) | Error::IeTooLong(id) => Some(id),
            _ => None,
        }
    }
}
