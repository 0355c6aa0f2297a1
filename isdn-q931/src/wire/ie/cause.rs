//! Cause (0x08), Q.931 §4.5.12 / Q.850.
//!
//! ```text
//!  3   ext | coding std (2) | spare | location (4)
//!  3a  ext=1 | recommendation (7)          optional (octet 3 ext = 0)
//!  4   ext=1 | cause value (7)
//!  5.. diagnostics
//! ```

use super::{CodingStandard, IeId, Location, ie_repr, ie_view};
use crate::wire::Error;
use core::fmt;

/// A Q.850 cause value (7 bits), with constants for the common ones.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CauseValue(pub u8);

impl CauseValue {
    pub const UNALLOCATED_NUMBER: CauseValue = CauseValue(1);
    pub const NO_ROUTE_TO_DESTINATION: CauseValue = CauseValue(3);
    pub const CHANNEL_UNACCEPTABLE: CauseValue = CauseValue(6);
    pub const NORMAL_CLEARING: CauseValue = CauseValue(16);
    pub const USER_BUSY: CauseValue = CauseValue(17);
    pub const NO_USER_RESPONDING: CauseValue = CauseValue(18);
    pub const NO_ANSWER: CauseValue = CauseValue(19);
    pub const CALL_REJECTED: CauseValue = CauseValue(21);
    pub const NUMBER_CHANGED: CauseValue = CauseValue(22);
    pub const DESTINATION_OUT_OF_ORDER: CauseValue = CauseValue(27);
    pub const INVALID_NUMBER_FORMAT: CauseValue = CauseValue(28);
    pub const RESPONSE_TO_STATUS_ENQUIRY: CauseValue = CauseValue(30);
    pub const NORMAL_UNSPECIFIED: CauseValue = CauseValue(31);
    pub const NO_CIRCUIT_AVAILABLE: CauseValue = CauseValue(34);
    pub const NETWORK_OUT_OF_ORDER: CauseValue = CauseValue(38);
    pub const TEMPORARY_FAILURE: CauseValue = CauseValue(41);
    pub const SWITCHING_EQUIPMENT_CONGESTION: CauseValue = CauseValue(42);
    pub const REQUESTED_CHANNEL_NOT_AVAILABLE: CauseValue = CauseValue(44);
    pub const RESOURCE_UNAVAILABLE: CauseValue = CauseValue(47);
    pub const BEARER_CAPABILITY_NOT_AVAILABLE: CauseValue = CauseValue(58);
    pub const SERVICE_NOT_AVAILABLE: CauseValue = CauseValue(63);
    pub const BEARER_CAPABILITY_NOT_IMPLEMENTED: CauseValue = CauseValue(65);
    pub const SERVICE_NOT_IMPLEMENTED: CauseValue = CauseValue(79);
    pub const INVALID_CALL_REFERENCE: CauseValue = CauseValue(81);
    pub const CHANNEL_DOES_NOT_EXIST: CauseValue = CauseValue(82);
    pub const INCOMPATIBLE_DESTINATION: CauseValue = CauseValue(88);
    pub const INVALID_MESSAGE: CauseValue = CauseValue(95);
    pub const MANDATORY_IE_MISSING: CauseValue = CauseValue(96);
    pub const MESSAGE_TYPE_NONEXISTENT: CauseValue = CauseValue(97);
    pub const MESSAGE_NOT_COMPATIBLE_OR_NONEXISTENT: CauseValue = CauseValue(98);
    pub const IE_NONEXISTENT: CauseValue = CauseValue(99);
    pub const INVALID_IE_CONTENTS: CauseValue = CauseValue(100);
    pub const MESSAGE_NOT_COMPATIBLE: CauseValue = CauseValue(101);
    pub const RECOVERY_ON_TIMER_EXPIRY: CauseValue = CauseValue(102);
    pub const PROTOCOL_ERROR: CauseValue = CauseValue(111);
    pub const INTERWORKING: CauseValue = CauseValue(127);

    /// The Q.850 name of the value, if it is one of the constants above.
    pub fn name(self) -> Option<&'static str> {
        Some(match self.0 {
            1 => "unallocated (unassigned) number",
            3 => "no route to destination",
            6 => "channel unacceptable",
            16 => "normal call clearing",
            17 => "user busy",
            18 => "no user responding",
            19 => "no answer from user (user alerted)",
            21 => "call rejected",
            22 => "number changed",
            27 => "destination out of order",
            28 => "invalid number format (address incomplete)",
            30 => "response to STATUS ENQUIRY",
            31 => "normal, unspecified",
            34 => "no circuit/channel available",
            38 => "network out of order",
            41 => "temporary failure",
            42 => "switching equipment congestion",
            44 => "requested circuit/channel not available",
            47 => "resource unavailable, unspecified",
            58 => "bearer capability not presently available",
            63 => "service or option not available, unspecified",
            65 => "bearer capability not implemented",
            79 => "service or option not implemented, unspecified",
            81 => "invalid call reference value",
            82 => "identified channel does not exist",
            88 => "incompatible destination",
            95 => "invalid message, unspecified",
            96 => "mandatory information element is missing",
            97 => "message type non-existent or not implemented",
            98 => "message not compatible with call state or message type non-existent or not implemented",
            99 => "information element/parameter non-existent or not implemented",
            100 => "invalid information element contents",
            101 => "message not compatible with call state",
            102 => "recovery on timer expiry",
            111 => "protocol error, unspecified",
            127 => "interworking, unspecified",
            _ => return None,
        })
    }

    /// The cause class (value bits 7–5): 0/1 normal event, 2 resource
    /// unavailable, 3 service not available, 4 not implemented, 5 invalid
    /// message, 6 protocol error, 7 interworking.
    pub const fn class(self) -> u8 {
        (self.0 >> 4) & 0x07
    }
}

impl fmt::Debug for CauseValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "CauseValue({}", self.0)?;
        if let Some(n) = self.name() {
            write!(f, " {n:?}")?;
        }
        write!(f, ")")
    }
}

impl fmt::Display for CauseValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.name() {
            Some(n) => write!(f, "{} ({n})", self.0),
            None => write!(f, "{}", self.0),
        }
    }
}

ie_view! {
    /// View of cause contents.
    Cause
}

impl<T: AsRef<[u8]>> Cause<T> {
    /// Validates octet 3, optional 3a and octet 4.
    pub fn check(&self) -> Result<(), Error> {
        let d = self.buffer.as_ref();
        if d.first().is_some_and(|b| b & 0x10 != 0) {
            // Spare bit in octet 3.
            return Err(Error::Malformed);
        }
        let value_at = self.value_index();
        match d.get(value_at) {
            None => Err(Error::Truncated),
            Some(v) if v & 0x80 == 0 => Err(Error::Malformed),
            Some(_) if value_at == 2 && d[1] & 0x80 == 0 => Err(Error::Malformed),
            Some(_) => Ok(()),
        }
    }

    fn value_index(&self) -> usize {
        if self.byte(0) & 0x80 != 0 { 1 } else { 2 }
    }

    pub fn coding_standard(&self) -> CodingStandard {
        CodingStandard::from_bits(self.byte(0) >> 5)
    }

    pub fn location(&self) -> Location {
        Location::from_bits(self.byte(0))
    }

    /// Octet 3a (recommendation; 0 = Q.931), if present.
    pub fn recommendation(&self) -> Option<u8> {
        (self.value_index() == 2).then(|| self.byte(1) & 0x7F)
    }

    pub fn value(&self) -> CauseValue {
        CauseValue(self.byte(self.value_index()) & 0x7F)
    }

    /// Diagnostic octets (octet 5 onwards).
    pub fn diagnostics(&self) -> &[u8] {
        self.tail(self.value_index() + 1)
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Cause<T> {
    pub fn set_coding_standard(&mut self, cs: CodingStandard) {
        self.set_bits(0, 0x60, cs.bits() << 5);
    }
    pub fn set_location(&mut self, loc: Location) {
        self.set_bits(0, 0x0F, loc.bits());
    }
    pub fn set_value(&mut self, value: CauseValue) {
        let i = self.value_index();
        self.set_byte(i, 0x80 | (value.0 & 0x7F));
    }
}

/// Typed cause.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct CauseRepr {
    pub coding_standard: CodingStandard,
    pub location: Location,
    /// Octet 3a, rarely sent.
    pub recommendation: Option<u8>,
    pub value: CauseValue,
    /// Diagnostics: for causes 96, 99 and 100 the identifiers of the
    /// offending IEs; for 97, 98 and 101 the message type.
    pub diagnostics: Vec<u8>,
}

impl CauseRepr {
    /// An ITU-coded cause without diagnostics.
    pub fn new(location: Location, value: CauseValue) -> CauseRepr {
        CauseRepr { coding_standard: CodingStandard::Itu, location, recommendation: None, value, diagnostics: Vec::new() }
    }

    /// The cause to send for a decoding error (STATUS, RELEASE COMPLETE),
    /// with the IE identifier as diagnostic; `None` if Q.931 says to
    /// ignore such a message instead.
    pub fn for_error(err: &crate::wire::Error, location: Location) -> Option<CauseRepr> {
        let value = err.cause()?;
        let mut cause = CauseRepr::new(location, value);
        if let Some(IeId { id, .. }) = err.ie() {
            cause.diagnostics.push(id);
        } else if let crate::wire::Error::UnknownMessageType(t) = err {
            cause.diagnostics.push(*t);
        }
        Some(cause)
    }

    /// Decodes cause contents.
    pub fn decode(contents: &[u8]) -> Result<CauseRepr, Error> {
        let v = Cause::new_checked(contents)?;
        Ok(CauseRepr {
            coding_standard: v.coding_standard(),
            location: v.location(),
            recommendation: v.recommendation(),
            value: v.value(),
            diagnostics: v.diagnostics().to_vec(),
        })
    }

    /// Appends the contents.
    pub fn encode(&self, out: &mut Vec<u8>) {
        let ext = if self.recommendation.is_some() { 0 } else { 0x80 };
        out.push(ext | self.coding_standard.bits() << 5 | self.location.bits());
        if let Some(r) = self.recommendation {
            out.push(0x80 | (r & 0x7F));
        }
        out.push(0x80 | (self.value.0 & 0x7F));
        out.extend_from_slice(&self.diagnostics);
    }
}

ie_repr!(CauseRepr, Cause);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normal_clearing_from_public_network() {
        // DISCONNECT cause: ITU, public network serving the remote user, 16.
        let bytes = [0x84, 0x90];
        let c = CauseRepr::parse_bytes(&bytes).unwrap();
        assert_eq!(c, CauseRepr::new(Location::PublicRemote, CauseValue::NORMAL_CLEARING));
        assert_eq!(c.to_vec(), bytes);
    }

    #[test]
    fn with_recommendation_and_diagnostics() {
        // Cause 100 for the channel identification IE, octet 3a present.
        let bytes = [0x02, 0x80, 0xE4, 0x18];
        let c = CauseRepr::parse_bytes(&bytes).unwrap();
        assert_eq!(c.location, Location::PublicLocal);
        assert_eq!(c.recommendation, Some(0));
        assert_eq!(c.value, CauseValue::INVALID_IE_CONTENTS);
        assert_eq!(c.diagnostics, vec![0x18]);
        assert_eq!(c.to_vec(), bytes);
    }

    #[test]
    fn view_setters_and_rejects() {
        let mut buf = [0x80, 0x90];
        let mut v = Cause::new_checked(&mut buf[..]).unwrap();
        v.set_value(CauseValue::USER_BUSY);
        v.set_location(Location::PrivateLocal);
        assert_eq!(buf, [0x81, 0x91]);
        for bad in [&[][..], &[0x80], &[0x80, 0x10], &[0x00, 0x90], &[0x00, 0x00, 0x90], &[0x90, 0x90]] {
            assert!(CauseRepr::parse_bytes(bad).is_err(), "{bad:x?}");
        }
    }

    #[test]
    fn for_error_builds_diagnostic() {
        let err = Error::MandatoryIeMissing(IeId::CHANNEL_ID);
        let c = CauseRepr::for_error(&err, Location::User).unwrap();
        assert_eq!(c.value, CauseValue::MANDATORY_IE_MISSING);
        assert_eq!(c.to_vec(), vec![0x80, 0xE0, 0x18]);
        assert!(CauseRepr::for_error(&Error::Truncated, Location::User).is_none());
        assert_eq!(CauseValue(17).to_string(), "17 (user busy)");
    }
}
