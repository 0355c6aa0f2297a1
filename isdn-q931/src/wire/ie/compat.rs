//! High layer compatibility (0x7D, Q.931 §4.5.17) and low layer
//! compatibility (0x7C, Q.931 §4.5.19): carried end to end, so kept as
//! opaque octets, with the basic fields decoded by the views.
//!
//! ```text
//!  HLC 3   ext=1 | coding std (2) | interpretation (3) | presentation (2)
//!      4   ext | high layer characteristics identification (7)
//!      4a  ext=1 | extended characteristics (7)        if octet 4 ext = 0
//!
//!  LLC 3   ext | coding std (2) | information transfer capability (5)
//!      3a  ext=1 | negotiation indicator ...           if octet 3 ext = 0
//!      4   ext | transfer mode (2) | information transfer rate (5)
//!      ... (4.1, 5-7 as in bearer capability; not decoded here)
//! ```

use super::{CodingStandard, InfoTransferCapability, TransferMode, TransferRate, ie_repr, ie_view};
use crate::wire::Error;

ie_view! {
    /// View of high layer compatibility contents.
    HighLayerCompat
}

impl<T: AsRef<[u8]>> HighLayerCompat<T> {
    /// Octet 3 with ext = 1, octet 4 and (if announced) 4a.
    pub fn check(&self) -> Result<(), Error> {
        let d = self.buffer.as_ref();
        if d.len() < 2 {
            return Err(Error::Truncated);
        }
        if d[0] & 0x80 == 0 {
            return Err(Error::Malformed);
        }
        if d[1] & 0x80 == 0 && d.get(2).is_none_or(|b| b & 0x80 == 0) {
            return Err(Error::Malformed);
        }
        Ok(())
    }
    pub fn coding_standard(&self) -> CodingStandard {
        CodingStandard::from_bits(self.byte(0) >> 5)
    }
    /// Interpretation (3 bits; 4 = first/high priority characteristics).
    pub fn interpretation(&self) -> u8 {
        (self.byte(0) >> 2) & 0x07
    }
    /// Presentation method (2 bits; 1 = high layer protocol profile).
    pub fn presentation_method(&self) -> u8 {
        self.byte(0) & 0x03
    }
    /// High layer characteristics identification (7 bits).
    pub fn characteristics(&self) -> u8 {
        self.byte(1) & 0x7F
    }
    /// Octet 4a, extended characteristics identification.
    pub fn extended_characteristics(&self) -> Option<u8> {
        (self.byte(1) & 0x80 == 0).then(|| self.byte(2) & 0x7F)
    }
}

/// High layer compatibility, kept verbatim.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct HighLayerCompatRepr {
    pub contents: Vec<u8>,
}

impl HighLayerCompatRepr {
    pub const TELEPHONY: u8 = 0x01;
    pub const FAX_GROUP_2_3: u8 = 0x04;
    pub const FAX_GROUP_4: u8 = 0x21;

    /// ITU coding, first interpretation, protocol profile, `characteristics`.
    pub fn new(characteristics: u8) -> HighLayerCompatRepr {
        HighLayerCompatRepr { contents: vec![0x91, 0x80 | (characteristics & 0x7F)] }
    }
    /// The view for the decoded fields.
    pub fn view(&self) -> HighLayerCompat<&[u8]> {
        HighLayerCompat::new_unchecked(&self.contents)
    }
    pub fn decode(contents: &[u8]) -> Result<HighLayerCompatRepr, Error> {
        HighLayerCompat::new_checked(contents)?;
        Ok(HighLayerCompatRepr { contents: contents.to_vec() })
    }
    pub fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.contents);
    }
}

ie_repr!(HighLayerCompatRepr, HighLayerCompat);

ie_view! {
    /// View of low layer compatibility contents.
    LowLayerCompat
}

impl<T: AsRef<[u8]>> LowLayerCompat<T> {
    /// Octet 3 (and 3a if announced) and octet 4 present.
    pub fn check(&self) -> Result<(), Error> {
        let d = self.buffer.as_ref();
        let o4 = self.octet4_index();
        if d.len() <= o4 {
            return Err(Error::Truncated);
        }
        if o4 == 2 && d[1] & 0x80 == 0 {
            return Err(Error::Malformed);
        }
        Ok(())
    }
    fn octet4_index(&self) -> usize {
        if self.byte(0) & 0x80 != 0 { 1 } else { 2 }
    }
    pub fn coding_standard(&self) -> CodingStandard {
        CodingStandard::from_bits(self.byte(0) >> 5)
    }
    pub fn itc(&self) -> InfoTransferCapability {
        InfoTransferCapability::from_bits(self.byte(0))
    }
    /// Octet 3a negotiation indicator (bit 7), if octet 3a is present.
    pub fn out_band_negotiation(&self) -> Option<bool> {
        (self.octet4_index() == 2).then(|| self.byte(1) & 0x40 != 0)
    }
    pub fn transfer_mode(&self) -> TransferMode {
        TransferMode::from_bits(self.byte(self.octet4_index()) >> 5)
    }
    pub fn transfer_rate(&self) -> TransferRate {
        TransferRate::from_bits(self.byte(self.octet4_index()))
    }
}

/// Low layer compatibility, kept verbatim.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct LowLayerCompatRepr {
    pub contents: Vec<u8>,
}

impl LowLayerCompatRepr {
    /// The view for the decoded fields.
    pub fn view(&self) -> LowLayerCompat<&[u8]> {
        LowLayerCompat::new_unchecked(&self.contents)
    }
    pub fn decode(contents: &[u8]) -> Result<LowLayerCompatRepr, Error> {
        LowLayerCompat::new_checked(contents)?;
        Ok(LowLayerCompatRepr { contents: contents.to_vec() })
    }
    pub fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.contents);
    }
}

ie_repr!(LowLayerCompatRepr, LowLayerCompat);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hlc_telephony() {
        let h = HighLayerCompatRepr::parse_bytes(&[0x91, 0x81]).unwrap();
        assert_eq!(h, HighLayerCompatRepr::new(HighLayerCompatRepr::TELEPHONY));
        let v = h.view();
        assert_eq!(v.coding_standard(), CodingStandard::Itu);
        assert_eq!(v.interpretation(), 4);
        assert_eq!(v.presentation_method(), 1);
        assert_eq!(v.characteristics(), 1);
        assert_eq!(v.extended_characteristics(), None);
        // Maintenance (0x5E) with extended octet 4a.
        let h = HighLayerCompatRepr::parse_bytes(&[0x91, 0x5E, 0x81]).unwrap();
        assert_eq!(h.view().extended_characteristics(), Some(1));
        for bad in [&[0x91][..], &[0x11, 0x81], &[0x91, 0x5E], &[0x91, 0x5E, 0x01]] {
            assert!(HighLayerCompatRepr::parse_bytes(bad).is_err(), "{bad:x?}");
        }
    }

    #[test]
    fn llc_basic_fields() {
        let l = LowLayerCompatRepr::parse_bytes(&[0x88, 0x90, 0x21, 0x8F]).unwrap();
        let v = l.view();
        assert_eq!(v.itc(), InfoTransferCapability::UnrestrictedDigital);
        assert_eq!(v.transfer_rate(), TransferRate::Kbit64);
        assert_eq!(v.out_band_negotiation(), None);
        let l = LowLayerCompatRepr::parse_bytes(&[0x08, 0xC0, 0x90]).unwrap();
        assert_eq!(l.view().out_band_negotiation(), Some(true));
        assert_eq!(l.view().transfer_mode(), TransferMode::Circuit);
        assert!(LowLayerCompatRepr::parse_bytes(&[0x08, 0x40, 0x90]).is_err());
        assert!(LowLayerCompatRepr::parse_bytes(&[0x88]).is_err());
    }
}
