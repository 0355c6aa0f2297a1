//! Channel identification (0x18), Q.931 §4.5.13.
//!
//! ```text
//!  3    ext=1 | int id present | int type | spare | pref/excl | D-chan | info chan sel (2)
//!  3.1  ext=1 | interface identifier (7)             if "int id present" (NFAS)
//!  3.2  ext=1 | coding std (2) | number/map | channel type / map element type (4)
//!  3.3  ext | channel number (7)  (repeated, last has ext=1)   or   slot map octets
//! ```
//!
//! Octets 3.2 and 3.3 exist for primary rate interfaces only. A slot map
//! is bit-per-timeslot, the last octet's bit 1 being channel 1 (3 octets
//! for T1, 4 for E1).
//!
//! This decoder accepts a one-octet interface identifier only (the form
//! NFAS uses); longer identifiers decode as malformed.

use super::{CodingStandard, coded_enum, ie_repr, ie_view};
use crate::wire::Error;

/// Interface type (octet 3 bit 6).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum InterfaceType {
    Basic,
    Primary,
}

/// Information channel selection (octet 3 bits 2–1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ChannelSelection {
    /// No channel (0).
    NoChannel,
    /// PRI: as indicated in octets 3.2/3.3; BRI: B1 (1).
    AsIndicated,
    /// PRI: reserved; BRI: B2 (2).
    Reserved,
    /// Any channel (3).
    Any,
}

impl ChannelSelection {
    pub const fn from_bits(b: u8) -> ChannelSelection {
        match b & 3 {
            0 => ChannelSelection::NoChannel,
            1 => ChannelSelection::AsIndicated,
            2 => ChannelSelection::Reserved,
            _ => ChannelSelection::Any,
        }
    }
    pub const fn bits(self) -> u8 {
        self as u8
    }
}

coded_enum! {
    /// Channel type / map element type (octet 3.2, 4 bits).
    ChannelUnits: 0x0F {
        BChannel = 0x03,
        H0 = 0x06,
        H11 = 0x08,
        H12 = 0x09,
    }
}

/// Octet 3.3: channel numbers or a slot map.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum ChannelList {
    /// Channel (timeslot) numbers, 7 bits each; at least one.
    Numbers(Vec<u8>),
    /// Slot map octets as on the wire; at least one.
    Map(Vec<u8>),
}

impl ChannelList {
    /// The channel numbers, decoding a slot map (bit 1 of the last octet
    /// is channel 1).
    pub fn channels(&self) -> Vec<u8> {
        match self {
            ChannelList::Numbers(n) => n.clone(),
            ChannelList::Map(map) => {
                let mut out = Vec::new();
                for (i, octet) in map.iter().rev().enumerate() {
                    for bit in 0..8 {
                        if octet & (1 << bit) != 0 {
                            out.push((i * 8 + bit + 1) as u8);
                        }
                    }
                }
                out
            }
        }
    }
}

/// Octets 3.2 and 3.3 (primary rate only).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ChannelSpec {
    pub coding_standard: CodingStandard,
    pub units: ChannelUnits,
    pub list: ChannelList,
}

ie_view! {
    /// View of channel identification contents.
    ChannelId
}

impl<T: AsRef<[u8]>> ChannelId<T> {
    /// Validates the octet structure (see the module docs).
    pub fn check(&self) -> Result<(), Error> {
        let d = self.buffer.as_ref();
        let Some(&o3) = d.first() else {
            return Err(Error::Truncated);
        };
        if o3 & 0x80 == 0 || o3 & 0x10 != 0 {
            return Err(Error::Malformed);
        }
        let mut i = 1;
        if o3 & 0x40 != 0 {
            match d.get(1) {
                Some(b) if b & 0x80 != 0 => i = 2,
                _ => return Err(Error::Malformed),
            }
        }
        if i == d.len() {
            return Ok(());
        }
        if o3 & 0x20 == 0 || d[i] & 0x80 == 0 {
            // Basic rate has no octet 3.2; 3.2 is a single octet.
            return Err(Error::Malformed);
        }
        let map = d[i] & 0x10 != 0;
        let list = &d[i + 1..];
        if list.is_empty() {
            return Err(Error::Malformed);
        }
        if !map {
            // Every number but the last has ext = 0; the last has ext = 1.
            let (last, rest) = list.split_last().ok_or(Error::Malformed)?;
            if last & 0x80 == 0 || rest.iter().any(|b| b & 0x80 != 0) {
                return Err(Error::Malformed);
            }
        }
        Ok(())
    }

    fn o3(&self) -> u8 {
        self.byte(0)
    }

    /// Interface identifier present (explicit, octet 3.1).
    pub fn interface_id_present(&self) -> bool {
        self.o3() & 0x40 != 0
    }

    pub fn interface_type(&self) -> InterfaceType {
        if self.o3() & 0x20 != 0 { InterfaceType::Primary } else { InterfaceType::Basic }
    }

    /// Only the indicated channel is acceptable.
    pub fn exclusive(&self) -> bool {
        self.o3() & 0x08 != 0
    }

    /// The D-channel is indicated.
    pub fn d_channel(&self) -> bool {
        self.o3() & 0x04 != 0
    }

    pub fn selection(&self) -> ChannelSelection {
        ChannelSelection::from_bits(self.o3())
    }

    /// Octet 3.1, the explicit interface identifier (NFAS).
    pub fn interface_id(&self) -> Option<u8> {
        self.interface_id_present().then(|| self.byte(1) & 0x7F)
    }

    fn spec_index(&self) -> usize {
        if self.interface_id_present() { 2 } else { 1 }
    }

    /// Octet 3.2 present.
    pub fn has_channel_spec(&self) -> bool {
        self.buffer.as_ref().len() > self.spec_index()
    }

    /// Octet 3.2: coding standard.
    pub fn spec_coding_standard(&self) -> CodingStandard {
        CodingStandard::from_bits(self.byte(self.spec_index()) >> 5)
    }

    /// Octet 3.2: channel indicated by slot map (else by number).
    pub fn is_map(&self) -> bool {
        self.byte(self.spec_index()) & 0x10 != 0
    }

    /// Octet 3.2: channel type / map element type.
    pub fn units(&self) -> ChannelUnits {
        ChannelUnits::from_bits(self.byte(self.spec_index()))
    }

    /// Octets 3.3 as on the wire (with extension bits for numbers).
    pub fn channel_octets(&self) -> &[u8] {
        self.tail(self.spec_index() + 1)
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> ChannelId<T> {
    pub fn set_exclusive(&mut self, exclusive: bool) {
        self.set_bits(0, 0x08, if exclusive { 0x08 } else { 0 });
    }
    pub fn set_d_channel(&mut self, d: bool) {
        self.set_bits(0, 0x04, if d { 0x04 } else { 0 });
    }
    pub fn set_selection(&mut self, sel: ChannelSelection) {
        self.set_bits(0, 0x03, sel.bits());
    }
    /// Rewrites the single channel number (when octet 3.3 is one number).
    pub fn set_single_channel(&mut self, channel: u8) {
        let i = self.spec_index() + 1;
        self.set_byte(i, 0x80 | (channel & 0x7F));
    }
}

/// Typed channel identification.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ChannelIdRepr {
    pub interface_type: InterfaceType,
    /// Explicit interface identifier (octet 3.1, 7 bits), for NFAS.
    pub interface_id: Option<u8>,
    /// Exclusive (true) or preferred (false).
    pub exclusive: bool,
    /// D-channel indicator.
    pub d_channel: bool,
    pub selection: ChannelSelection,
    /// Octets 3.2/3.3 (primary rate only).
    pub channels: Option<ChannelSpec>,
}

impl ChannelIdRepr {
    /// PRI, one B-channel by number, exclusive or preferred, implicit
    /// interface.
    pub fn pri_channel(channel: u8, exclusive: bool) -> ChannelIdRepr {
        ChannelIdRepr {
            interface_type: InterfaceType::Primary,
            interface_id: None,
            exclusive,
            d_channel: false,
            selection: ChannelSelection::AsIndicated,
            channels: Some(ChannelSpec { coding_standard: CodingStandard::Itu, units: ChannelUnits::BChannel, list: ChannelList::Numbers(vec![channel]) }),
        }
    }

    /// PRI, any channel (no octets 3.2/3.3).
    pub fn pri_any() -> ChannelIdRepr {
        ChannelIdRepr {
            interface_type: InterfaceType::Primary,
            interface_id: None,
            exclusive: false,
            d_channel: false,
            selection: ChannelSelection::Any,
            channels: None,
        }
    }

    /// The same with an explicit interface identifier (NFAS).
    pub fn with_interface(mut self, interface_id: u8) -> ChannelIdRepr {
        self.interface_id = Some(interface_id);
        self
    }

    /// The indicated channel numbers (empty if none).
    pub fn channel_numbers(&self) -> Vec<u8> {
        self.channels.as_ref().map(|c| c.list.channels()).unwrap_or_default()
    }

    /// Decodes channel identification contents.
    pub fn decode(contents: &[u8]) -> Result<ChannelIdRepr, Error> {
        let v = ChannelId::new_checked(contents)?;
        let channels = v.has_channel_spec().then(|| {
            let octets = v.channel_octets();
            ChannelSpec {
                coding_standard: v.spec_coding_standard(),
                units: v.units(),
                list: if v.is_map() { ChannelList::Map(octets.to_vec()) } else { ChannelList::Numbers(octets.iter().map(|b| b & 0x7F).collect()) },
            }
        });
        Ok(ChannelIdRepr {
            interface_type: v.interface_type(),
            interface_id: v.interface_id(),
            exclusive: v.exclusive(),
            d_channel: v.d_channel(),
            selection: v.selection(),
            channels,
        })
    }

    /// Appends the contents.
    pub fn encode(&self, out: &mut Vec<u8>) {
        let mut o3 = 0x80 | self.selection.bits();
        if self.interface_id.is_some() {
            o3 |= 0x40;
        }
        if self.interface_type == InterfaceType::Primary {
            o3 |= 0x20;
        }
        if self.exclusive {
            o3 |= 0x08;
        }
        if self.d_channel {
            o3 |= 0x04;
        }
        out.push(o3);
        if let Some(id) = self.interface_id {
            out.push(0x80 | (id & 0x7F));
        }
        if let Some(spec) = &self.channels {
            let map = matches!(spec.list, ChannelList::Map(_));
            out.push(0x80 | spec.coding_standard.bits() << 5 | if map { 0x10 } else { 0 } | spec.units.bits());
            match &spec.list {
                ChannelList::Map(m) => out.extend_from_slice(m),
                ChannelList::Numbers(n) => {
                    for (i, ch) in n.iter().enumerate() {
                        let ext = if i + 1 == n.len() { 0x80 } else { 0 };
                        out.push(ext | (ch & 0x7F));
                    }
                }
            }
        }
    }
}

ie_repr!(ChannelIdRepr, ChannelId);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pri_exclusive_channel_1() {
        // The NI-2 SETUP classic: A9 83 81 = PRI, exclusive, as indicated,
        // ITU, by number, B-channel units, channel 1.
        let bytes = [0xA9, 0x83, 0x81];
        let c = ChannelIdRepr::parse_bytes(&bytes).unwrap();
        assert_eq!(c, ChannelIdRepr::pri_channel(1, true));
        assert_eq!(c.channel_numbers(), vec![1]);
        assert_eq!(c.to_vec(), bytes);
    }

    #[test]
    fn nfas_explicit_interface() {
        // E9 81 83 97 = explicit interface 1, exclusive, channel 23.
        let bytes = [0xE9, 0x81, 0x83, 0x97];
        let c = ChannelIdRepr::parse_bytes(&bytes).unwrap();
        assert_eq!(c.interface_id, Some(1));
        assert_eq!(c.channel_numbers(), vec![23]);
        assert_eq!(c, ChannelIdRepr::pri_channel(23, true).with_interface(1));
        assert_eq!(c.to_vec(), bytes);
    }

    #[test]
    fn slot_map_and_lists() {
        // T1 slot map with channels 1, 2 and 24.
        let bytes = [0xA9, 0x93, 0x80, 0x00, 0x03];
        let c = ChannelIdRepr::parse_bytes(&bytes).unwrap();
        assert_eq!(c.channel_numbers(), vec![1, 2, 24]);
        assert_eq!(c.to_vec(), bytes);
        // Several numbers: 1, 2, 3 (ext 0, 0, 1).
        let bytes = [0xA1, 0x83, 0x01, 0x02, 0x83];
        let c = ChannelIdRepr::parse_bytes(&bytes).unwrap();
        assert!(!c.exclusive);
        assert_eq!(c.channel_numbers(), vec![1, 2, 3]);
        assert_eq!(c.to_vec(), bytes);
    }

    #[test]
    fn pri_any_and_bri() {
        assert_eq!(ChannelIdRepr::parse_bytes(&[0xA3]).unwrap(), ChannelIdRepr::pri_any());
        let b1 = ChannelIdRepr::parse_bytes(&[0x89]).unwrap();
        assert_eq!(b1.interface_type, InterfaceType::Basic);
        assert_eq!(b1.selection, ChannelSelection::AsIndicated);
        // D-channel indicated, exclusive (used by SERVICE for the D-channel).
        let d = ChannelIdRepr::parse_bytes(&[0xAC]).unwrap();
        assert!(d.d_channel);
    }

    #[test]
    fn rejects() {
        for bad in [
            &[][..],
            &[0x29, 0x83, 0x81],       // octet 3 ext = 0
            &[0xB9, 0x83, 0x81],       // spare bit set
            &[0xE9],                   // interface id missing
            &[0xE9, 0x01, 0x83, 0x81], // multi-octet interface id
            &[0x89, 0x83, 0x81],       // BRI with octet 3.2
            &[0xA9, 0x83],             // 3.2 without 3.3
            &[0xA9, 0x83, 0x01],       // unterminated number list
            &[0xA9, 0x83, 0x81, 0x82], // number after the terminated one
            &[0xA9, 0x03, 0x81],       // 3.2 ext = 0
        ] {
            assert!(ChannelIdRepr::parse_bytes(bad).is_err(), "{bad:x?}");
        }
    }

    #[test]
    fn setters() {
        let mut buf = [0xA9, 0x83, 0x81];
        let mut v = ChannelId::new_checked(&mut buf[..]).unwrap();
        v.set_exclusive(false);
        v.set_single_channel(17);
        assert_eq!(buf, [0xA1, 0x83, 0x91]);
    }
}
