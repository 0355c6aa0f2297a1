//! Bearer capability (0x04), Q.931 §4.5.5.
//!
//! ```text
//!  3    ext=1 | coding std (2) | information transfer capability (5)
//!  4    ext=1 | transfer mode (2) | information transfer rate (5)
//!  4.1  ext=1 | rate multiplier (7)          only if rate = multirate
//!  5    ext | 0 1 | user info layer 1 protocol (5)   optional, 5a-5d follow
//!  6    ext | 1 0 | user info layer 2 protocol (5)   optional, 6a follows
//!  7    ext | 1 1 | user info layer 3 protocol (5)   optional, 7a-7b follow
//! ```
//!
//! Octet groups 5, 6, 7 continue while bit 8 (ext) is 0. Their
//! continuation octets are kept as 7-bit values in [`LayerInfo::extra`].

use super::{CodingStandard, coded_enum, ext_group_end, ie_repr, ie_view};
use crate::wire::Error;

coded_enum! {
    /// Information transfer capability (octet 3, 5 bits).
    InfoTransferCapability: 0x1F {
        Speech = 0x00,
        UnrestrictedDigital = 0x08,
        RestrictedDigital = 0x09,
        /// 3.1 kHz audio.
        Audio3k1 = 0x10,
        /// Unrestricted digital information with tones/announcements
        /// (formerly 7 kHz audio).
        UnrestrictedDigitalWithTones = 0x11,
        Video = 0x18,
    }
}

coded_enum! {
    /// Transfer mode (octet 4, 2 bits).
    TransferMode: 0x03 {
        Circuit = 0,
        Packet = 2,
    }
}

coded_enum! {
    /// Information transfer rate (octet 4, 5 bits).
    TransferRate: 0x1F {
        /// Packet mode (0).
        PacketMode = 0x00,
        Kbit64 = 0x10,
        Kbit2x64 = 0x11,
        Kbit384 = 0x13,
        Kbit1536 = 0x15,
        Kbit1920 = 0x17,
        /// Multirate (64 kbit/s base rate); octet 4.1 gives the multiplier.
        Multirate = 0x18,
    }
}

coded_enum! {
    /// User information layer 1 protocol (octet 5, 5 bits).
    Layer1Protocol: 0x1F {
        /// ITU-T V.110 / X.30 rate adaption.
        V110 = 0x01,
        /// G.711 µ-law (North America, Japan).
        G711Ulaw = 0x02,
        /// G.711 A-law (rest of the world).
        G711Alaw = 0x03,
        /// G.721 32 kbit/s ADPCM.
        G721 = 0x04,
        /// H.221 and H.242.
        H221 = 0x05,
        /// H.223 and H.245.
        H223 = 0x06,
        /// Non-ITU-T standardized rate adaption.
        NonItuRateAdaption = 0x07,
        /// V.120.
        V120 = 0x08,
        /// X.31 HDLC flag stuffing.
        X31 = 0x09,
    }
}

/// One user-information layer octet group (octets 5, 6 or 7 and their
/// continuation octets).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct LayerInfo {
    /// The protocol field (5 bits).
    pub protocol: u8,
    /// Continuation octets (5a–5d, 6a, 7a–7b) as 7-bit values.
    pub extra: Vec<u8>,
}

impl LayerInfo {
    /// A group with just the protocol octet.
    pub fn new(protocol: u8) -> LayerInfo {
        LayerInfo { protocol, extra: Vec::new() }
    }
}

ie_view! {
    /// View of bearer capability contents.
    BearerCapability
}

impl<T: AsRef<[u8]>> BearerCapability<T> {
    /// Validates octets 3, 4, 4.1 and the layer groups' order and
    /// extension bits.
    pub fn check(&self) -> Result<(), Error> {
        let d = self.buffer.as_ref();
        if d.len() < 2 {
            return Err(Error::Truncated);
        }
        if d[0] & 0x80 == 0 || d[1] & 0x80 == 0 {
            return Err(Error::Malformed);
        }
        let mut i = 2;
        if d[1] & 0x1F == TransferRate::Multirate.bits() {
            match d.get(2) {
                Some(b) if b & 0x80 != 0 => i = 3,
                _ => return Err(Error::Malformed),
            }
        }
        let mut last_layer = 0;
        while i < d.len() {
            let layer = (d[i] >> 5) & 0x03;
            if layer <= last_layer {
                return Err(Error::Malformed);
            }
            last_layer = layer;
            i = ext_group_end(d, i).ok_or(Error::Malformed)?;
        }
        Ok(())
    }

    pub fn coding_standard(&self) -> CodingStandard {
        CodingStandard::from_bits(self.byte(0) >> 5)
    }

    pub fn itc(&self) -> InfoTransferCapability {
        InfoTransferCapability::from_bits(self.byte(0))
    }

    pub fn transfer_mode(&self) -> TransferMode {
        TransferMode::from_bits(self.byte(1) >> 5)
    }

    pub fn transfer_rate(&self) -> TransferRate {
        TransferRate::from_bits(self.byte(1))
    }

    /// Octet 4.1, present for multirate only.
    pub fn rate_multiplier(&self) -> Option<u8> {
        (self.transfer_rate() == TransferRate::Multirate).then(|| self.byte(2) & 0x7F)
    }

    fn layers_start(&self) -> usize {
        if self.transfer_rate() == TransferRate::Multirate { 3 } else { 2 }
    }

    /// The octets of user information layer `n` (1, 2 or 3), group head
    /// first, if present.
    pub fn layer(&self, n: u8) -> Option<&[u8]> {
        let d = self.buffer.as_ref();
        let mut i = self.layers_start();
        while i < d.len() {
            let end = ext_group_end(d, i)?;
            if (d[i] >> 5) & 0x03 == n {
                return d.get(i..end);
            }
            i = end;
        }
        None
    }

    /// User information layer 1 protocol (octet 5), if present.
    pub fn layer1_protocol(&self) -> Option<Layer1Protocol> {
        self.layer(1).map(|g| Layer1Protocol::from_bits(g[0]))
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> BearerCapability<T> {
    pub fn set_coding_standard(&mut self, cs: CodingStandard) {
        self.set_bits(0, 0x60, cs.bits() << 5);
    }
    pub fn set_itc(&mut self, itc: InfoTransferCapability) {
        self.set_bits(0, 0x1F, itc.bits());
    }
    pub fn set_transfer_mode(&mut self, mode: TransferMode) {
        self.set_bits(1, 0x60, mode.bits() << 5);
    }
    /// Sets the rate; switching to or from multirate changes the layout,
    /// so do that through the repr instead.
    pub fn set_transfer_rate(&mut self, rate: TransferRate) {
        self.set_bits(1, 0x1F, rate.bits());
    }
}

/// Typed bearer capability.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct BearerCapabilityRepr {
    pub coding_standard: CodingStandard,
    pub itc: InfoTransferCapability,
    pub transfer_mode: TransferMode,
    pub transfer_rate: TransferRate,
    /// Octet 4.1: emitted (0 if `None`) exactly when the rate is
    /// multirate, ignored otherwise.
    pub rate_multiplier: Option<u8>,
    pub layer1: Option<LayerInfo>,
    pub layer2: Option<LayerInfo>,
    pub layer3: Option<LayerInfo>,
}

impl BearerCapabilityRepr {
    /// Circuit-mode 64 kbit/s with a G.711 layer 1: `itc` is usually
    /// [`InfoTransferCapability::Speech`] or
    /// [`InfoTransferCapability::Audio3k1`].
    pub fn voice(itc: InfoTransferCapability, law: Layer1Protocol) -> BearerCapabilityRepr {
        BearerCapabilityRepr {
            coding_standard: CodingStandard::Itu,
            itc,
            transfer_mode: TransferMode::Circuit,
            transfer_rate: TransferRate::Kbit64,
            rate_multiplier: None,
            layer1: Some(LayerInfo::new(law.bits())),
            layer2: None,
            layer3: None,
        }
    }

    /// Circuit-mode 64 kbit/s unrestricted digital information (clear
    /// channel data), no layer 1 octet.
    pub fn unrestricted_digital() -> BearerCapabilityRepr {
        BearerCapabilityRepr {
            coding_standard: CodingStandard::Itu,
            itc: InfoTransferCapability::UnrestrictedDigital,
            transfer_mode: TransferMode::Circuit,
            transfer_rate: TransferRate::Kbit64,
            rate_multiplier: None,
            layer1: None,
            layer2: None,
            layer3: None,
        }
    }

    /// The layer 1 protocol, if octet 5 is present.
    pub fn layer1_protocol(&self) -> Option<Layer1Protocol> {
        self.layer1.as_ref().map(|l| Layer1Protocol::from_bits(l.protocol))
    }

    /// Decodes bearer capability contents.
    pub fn decode(contents: &[u8]) -> Result<BearerCapabilityRepr, Error> {
        let view = BearerCapability::new_checked(contents)?;
        let group = |n| view.layer(n).map(|g: &[u8]| LayerInfo { protocol: g[0] & 0x1F, extra: g[1..].iter().map(|b| b & 0x7F).collect() });
        Ok(BearerCapabilityRepr {
            coding_standard: view.coding_standard(),
            itc: view.itc(),
            transfer_mode: view.transfer_mode(),
            transfer_rate: view.transfer_rate(),
            rate_multiplier: view.rate_multiplier(),
            layer1: group(1),
            layer2: group(2),
            layer3: group(3),
        })
    }

    /// Appends the contents.
    pub fn encode(&self, out: &mut Vec<u8>) {
        out.push(0x80 | self.coding_standard.bits() << 5 | self.itc.bits());
        out.push(0x80 | self.transfer_mode.bits() << 5 | self.transfer_rate.bits());
        if self.transfer_rate == TransferRate::Multirate {
            out.push(0x80 | self.rate_multiplier.unwrap_or(0) & 0x7F);
        }
        for (n, layer) in [(1u8, &self.layer1), (2, &self.layer2), (3, &self.layer3)] {
            if let Some(l) = layer {
                let ext = if l.extra.is_empty() { 0x80 } else { 0 };
                out.push(ext | n << 5 | (l.protocol & 0x1F));
                for (i, b) in l.extra.iter().enumerate() {
                    let ext = if i + 1 == l.extra.len() { 0x80 } else { 0 };
                    out.push(ext | (b & 0x7F));
                }
            }
        }
    }
}

ie_repr!(BearerCapabilityRepr, BearerCapability);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn speech_ulaw() {
        // Typical NI-2 voice call: speech, circuit 64k, G.711 µ-law.
        let bytes = [0x80, 0x90, 0xA2];
        let bc = BearerCapabilityRepr::parse_bytes(&bytes).unwrap();
        assert_eq!(bc, BearerCapabilityRepr::voice(InfoTransferCapability::Speech, Layer1Protocol::G711Ulaw));
        assert_eq!(bc.to_vec(), bytes);
        assert_eq!(bc.buffer_len(), 3);
    }

    #[test]
    fn audio_alaw_and_digital() {
        let bc = BearerCapabilityRepr::parse_bytes(&[0x90, 0x90, 0xA3]).unwrap();
        assert_eq!(bc.itc, InfoTransferCapability::Audio3k1);
        assert_eq!(bc.layer1_protocol(), Some(Layer1Protocol::G711Alaw));
        let d = BearerCapabilityRepr::parse_bytes(&[0x88, 0x90]).unwrap();
        assert_eq!(d, BearerCapabilityRepr::unrestricted_digital());
    }

    #[test]
    fn multirate_and_rate_adaption_groups() {
        // 6 x 64k multirate, V.110 with octets 5a/5b, layer 2 Q.921.
        let bytes = [0x88, 0x98, 0x86, 0x21, 0x0F, 0x80 | 0x40, 0xC2];
        let bc = BearerCapabilityRepr::parse_bytes(&bytes).unwrap();
        assert_eq!(bc.rate_multiplier, Some(6));
        assert_eq!(bc.layer1.as_ref().unwrap().extra, vec![0x0F, 0x40]);
        assert_eq!(bc.layer2, Some(LayerInfo::new(2)));
        assert_eq!(bc.to_vec(), bytes);
    }

    #[test]
    fn rejects_bad_structure() {
        for bad in [
            &[][..],
            &[0x80],
            &[0x00, 0x90],             // octet 3 ext = 0
            &[0x80, 0x98],             // multirate without 4.1
            &[0x80, 0x90, 0x22],       // group never terminated
            &[0x80, 0x90, 0xC2, 0xA2], // layer 2 before layer 1
            &[0x80, 0x90, 0x82],       // layer id 0
        ] {
            assert!(BearerCapabilityRepr::parse_bytes(bad).is_err(), "{bad:x?}");
        }
    }

    #[test]
    fn view_setters() {
        let mut buf = [0x80, 0x90, 0xA2];
        let mut v = BearerCapability::new_checked(&mut buf[..]).unwrap();
        v.set_itc(InfoTransferCapability::Audio3k1);
        v.set_coding_standard(CodingStandard::National);
        assert_eq!(v.itc(), InfoTransferCapability::Audio3k1);
        assert_eq!(buf, [0xD0, 0x90, 0xA2]);
    }
}
