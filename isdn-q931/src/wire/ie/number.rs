//! Party numbers: calling (0x6C), called (0x70), connected (0x4C, Q.951)
//! and redirecting (0x74) party number, Q.931 §4.5.8–4.5.10.
//!
//! ```text
//!  3   ext | type of number (3) | numbering plan (4)
//!  3a  ext | presentation (2) | spare (3) | screening (2)   calling, connected, redirecting
//!  3b  ext=1 | spare (3) | reason for redirection (4)       redirecting only
//!  4.. number digits, IA5 (bit 8 = 0)
//! ```

use super::{coded_enum, ie_repr, ie_view, is_ia5};
use crate::wire::Error;

coded_enum! {
    /// Type of number (3 bits).
    TypeOfNumber: 0x07 {
        Unknown = 0,
        International = 1,
        National = 2,
        NetworkSpecific = 3,
        Subscriber = 4,
        Abbreviated = 6,
    }
}

coded_enum! {
    /// Numbering plan identification (4 bits).
    NumberingPlan: 0x0F {
        Unknown = 0,
        /// ISDN/telephony numbering plan (E.164).
        Isdn = 1,
        /// Data numbering plan (X.121).
        Data = 3,
        /// Telex numbering plan (F.69).
        Telex = 4,
        National = 8,
        Private = 9,
    }
}

/// Presentation indicator (2 bits).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Presentation {
    #[default]
    Allowed,
    Restricted,
    /// Number not available due to interworking.
    NotAvailable,
    Reserved,
}

impl Presentation {
    pub const fn from_bits(b: u8) -> Presentation {
        match b & 3 {
            0 => Presentation::Allowed,
            1 => Presentation::Restricted,
            2 => Presentation::NotAvailable,
            _ => Presentation::Reserved,
        }
    }
    pub const fn bits(self) -> u8 {
        self as u8
    }
}

/// Screening indicator (2 bits).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Screening {
    #[default]
    UserNotScreened,
    UserVerifiedPassed,
    UserVerifiedFailed,
    NetworkProvided,
}

impl Screening {
    pub const fn from_bits(b: u8) -> Screening {
        match b & 3 {
            0 => Screening::UserNotScreened,
            1 => Screening::UserVerifiedPassed,
            2 => Screening::UserVerifiedFailed,
            _ => Screening::NetworkProvided,
        }
    }
    pub const fn bits(self) -> u8 {
        self as u8
    }
}

coded_enum! {
    /// Reason for redirection (4 bits).
    RedirectReason: 0x0F {
        Unknown = 0,
        /// Call forwarding busy.
        Busy = 1,
        /// Call forwarding no reply.
        NoReply = 2,
        /// Call deflection.
        Deflection = 4,
        /// Called DTE out of order.
        DteOutOfOrder = 9,
        /// Call forwarding by the called DTE.
        ForwardedByDte = 10,
        /// Call forwarding unconditional.
        Unconditional = 15,
    }
}

/// Which party number IE, which fixes the octets it may have.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum NumberKind {
    /// Calling party number: octet 3a allowed.
    Calling,
    /// Called party number: octet 3 only.
    Called,
    /// Connected number: octet 3a allowed.
    Connected,
    /// Redirecting number: octets 3a and 3b allowed.
    Redirecting,
}

impl NumberKind {
    /// Number of octets after octet 3 in the extension group this kind
    /// allows.
    const fn max_ext(self) -> usize {
        match self {
            NumberKind::Called => 0,
            NumberKind::Calling | NumberKind::Connected => 1,
            NumberKind::Redirecting => 2,
        }
    }
}

ie_view! {
    /// View of party number contents (any kind).
    PartyNumber
}

impl<T: AsRef<[u8]>> PartyNumber<T> {
    /// Validates the octet 3/3a/3b group, spare bits and IA5 digits.
    /// Per-kind limits are checked by [`PartyNumberRepr::decode_as`].
    pub fn check(&self) -> Result<(), Error> {
        let d = self.buffer.as_ref();
        if d.is_empty() {
            return Err(Error::Truncated);
        }
        let n = self.digits_index();
        if n > d.len() || n > 3 || d[n - 1] & 0x80 == 0 {
            return Err(Error::Malformed);
        }
        if n >= 2 && d[1] & 0x1C != 0 {
            return Err(Error::Malformed);
        }
        if n == 3 && d[2] & 0x70 != 0 {
            return Err(Error::Malformed);
        }
        if !is_ia5(&d[n..]) {
            return Err(Error::Malformed);
        }
        Ok(())
    }

    /// Index of the first digit: one past the first octet with ext = 1
    /// (capped at 4, which `check` rejects).
    fn digits_index(&self) -> usize {
        let d = self.buffer.as_ref();
        d.iter().take(4).position(|b| b & 0x80 != 0).map_or(4, |p| p + 1)
    }

    pub fn type_of_number(&self) -> TypeOfNumber {
        TypeOfNumber::from_bits(self.byte(0) >> 4)
    }

    pub fn numbering_plan(&self) -> NumberingPlan {
        NumberingPlan::from_bits(self.byte(0))
    }

    /// Octet 3a: presentation indicator.
    pub fn presentation(&self) -> Option<Presentation> {
        (self.digits_index() >= 2).then(|| Presentation::from_bits(self.byte(1) >> 5))
    }

    /// Octet 3a: screening indicator.
    pub fn screening(&self) -> Option<Screening> {
        (self.digits_index() >= 2).then(|| Screening::from_bits(self.byte(1)))
    }

    /// Octet 3b: reason for redirection.
    pub fn reason(&self) -> Option<RedirectReason> {
        (self.digits_index() >= 3).then(|| RedirectReason::from_bits(self.byte(2)))
    }

    /// The digits (IA5 octets).
    pub fn digits(&self) -> &[u8] {
        self.tail(self.digits_index())
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> PartyNumber<T> {
    pub fn set_type_of_number(&mut self, ton: TypeOfNumber) {
        self.set_bits(0, 0x70, ton.bits() << 4);
    }
    pub fn set_numbering_plan(&mut self, npi: NumberingPlan) {
        self.set_bits(0, 0x0F, npi.bits());
    }
    /// Sets presentation and screening if octet 3a is present.
    pub fn set_presentation(&mut self, p: Presentation, s: Screening) {
        if self.digits_index() >= 2 {
            self.set_bits(1, 0x63, p.bits() << 5 | s.bits());
        }
    }
}

/// Typed party number.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct PartyNumberRepr {
    pub type_of_number: TypeOfNumber,
    pub numbering_plan: NumberingPlan,
    /// Octet 3a. Emitted when `Some`, or (with defaults) when `reason` is.
    pub presentation: Option<(Presentation, Screening)>,
    /// Octet 3b (redirecting number only).
    pub reason: Option<RedirectReason>,
    /// The digits; must be ASCII (IA5) to be valid on the wire.
    pub digits: String,
}

impl PartyNumberRepr {
    /// A number with octet 3 only.
    pub fn new(ton: TypeOfNumber, npi: NumberingPlan, digits: &str) -> PartyNumberRepr {
        PartyNumberRepr { type_of_number: ton, numbering_plan: npi, presentation: None, reason: None, digits: digits.to_owned() }
    }

    /// Adds octet 3a.
    pub fn with_presentation(mut self, p: Presentation, s: Screening) -> PartyNumberRepr {
        self.presentation = Some((p, s));
        self
    }

    /// Decodes party number contents, allowing octets 3a/3b per `kind`.
    pub fn decode_as(kind: NumberKind, contents: &[u8]) -> Result<PartyNumberRepr, Error> {
        let v = PartyNumber::new_checked(contents)?;
        if v.digits_index() - 1 > kind.max_ext() {
            return Err(Error::Malformed);
        }
        Ok(PartyNumberRepr {
            type_of_number: v.type_of_number(),
            numbering_plan: v.numbering_plan(),
            presentation: v.presentation().zip(v.screening()),
            reason: v.reason(),
            // IA5 was checked, so this is ASCII.
            digits: v.digits().iter().map(|&b| b as char).collect(),
        })
    }

    /// Decodes without per-kind limits (octets 3a and 3b allowed).
    pub fn decode(contents: &[u8]) -> Result<PartyNumberRepr, Error> {
        Self::decode_as(NumberKind::Redirecting, contents)
    }

    /// Appends the contents.
    pub fn encode(&self, out: &mut Vec<u8>) {
        let o3 = self.type_of_number.bits() << 4 | self.numbering_plan.bits();
        let pres = self.presentation.or(self.reason.map(|_| Default::default()));
        match pres {
            None => out.push(0x80 | o3),
            Some((p, s)) => {
                out.push(o3);
                let o3a = p.bits() << 5 | s.bits();
                match self.reason {
                    None => out.push(0x80 | o3a),
                    Some(r) => {
                        out.push(o3a);
                        out.push(0x80 | r.bits());
                    }
                }
            }
        }
        out.extend_from_slice(self.digits.as_bytes());
    }
}

ie_repr!(PartyNumberRepr, PartyNumber);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn called_national() {
        // Called party: national, ISDN plan, 10 digits (NI-2 style).
        let mut bytes = vec![0xA1];
        bytes.extend_from_slice(b"2125551234");
        let n = PartyNumberRepr::decode_as(NumberKind::Called, &bytes).unwrap();
        assert_eq!(n, PartyNumberRepr::new(TypeOfNumber::National, NumberingPlan::Isdn, "2125551234"));
        assert_eq!(n.to_vec(), bytes);
    }

    #[test]
    fn calling_with_presentation() {
        // Calling: national/ISDN, 3a = presentation allowed, network provided.
        let mut bytes = vec![0x21, 0x83];
        bytes.extend_from_slice(b"3035550100");
        let n = PartyNumberRepr::decode_as(NumberKind::Calling, &bytes).unwrap();
        assert_eq!(n.presentation, Some((Presentation::Allowed, Screening::NetworkProvided)));
        assert_eq!(n.digits, "3035550100");
        assert_eq!(n.to_vec(), bytes);
        // Restricted, user provided not screened.
        let n = PartyNumberRepr::decode_as(NumberKind::Calling, &[0x21, 0xA0, b'5']).unwrap();
        assert_eq!(n.presentation, Some((Presentation::Restricted, Screening::UserNotScreened)));
        // Called party number must not have octet 3a.
        assert!(PartyNumberRepr::decode_as(NumberKind::Called, &[0x21, 0x83, b'5']).is_err());
    }

    #[test]
    fn redirecting_with_reason() {
        let bytes = [0x21, 0x03, 0x8F, b'1', b'2'];
        let n = PartyNumberRepr::decode_as(NumberKind::Redirecting, &bytes).unwrap();
        assert_eq!(n.reason, Some(RedirectReason::Unconditional));
        assert_eq!(n.presentation, Some((Presentation::Allowed, Screening::NetworkProvided)));
        assert_eq!(n.to_vec(), bytes);
        assert!(PartyNumberRepr::decode_as(NumberKind::Calling, &bytes).is_err());
    }

    #[test]
    fn view_and_rejects() {
        let v = PartyNumber::new_checked(&[0xC1u8, b'9', b'#'][..]).unwrap();
        assert_eq!(v.type_of_number(), TypeOfNumber::Subscriber);
        assert_eq!(v.digits(), b"9#");
        assert_eq!(v.presentation(), None);
        for bad in [
            &[][..],
            &[0x21],                   // 3a missing
            &[0x21, 0x03, 0x0F, 0x81], // 3c does not exist
            &[0x21, 0x9C],             // spare bits in 3a
            &[0xA1, 0xB1],             // non-IA5 digit
            &[0x21, 0x03, 0xFF],       // spare bits in 3b
        ] {
            assert!(PartyNumberRepr::decode(bad).is_err(), "{bad:x?}");
        }
    }
}
