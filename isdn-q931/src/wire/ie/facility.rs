//! Facility (0x1C), Q.932 §4.6.2, with a small ROSE (X.880 / Q.932)
//! decoder and the name-identification operations used by NI-2 and QSIG.
//!
//! ```text
//!  3   ext | spare (2) | protocol profile (5)
//!           0x11 remote operations (ROSE), 0x1F networking extensions
//!  3a  ext=1 | service identifier   DMS-100 variant only (octet 3 ext = 0)
//!  4.. APDUs, BER encoded:
//!       [10] AA  network facility extension (NFE)      QSIG
//!       [18] 92  network protocol profile              QSIG, optional
//!       [11] 8B  interpretation APDU                   QSIG, NI-2
//!       [1]  A1  invoke      [2] A2 return result
//!       [3]  A3  return error    [4] A4 reject
//! ```
//!
//! # Names
//!
//! QSIG (ECMA-164, ISO/IEC 13868) defines the operations callingName (0),
//! calledName (1), connectedName (2) and busyName (3) as local operation
//! values, argument `Name` (optionally inside a SEQUENCE with
//! extensions):
//!
//! ```text
//!  Name ::= CHOICE {
//!    namePresentationAllowedSimple       [0] IMPLICIT NameData     80
//!    namePresentationAllowedExtended     [1] IMPLICIT NameSet      A1
//!    namePresentationRestrictedSimple    [2] IMPLICIT NameData     82
//!    namePresentationRestrictedExtended  [3] IMPLICIT NameSet      A3
//!    nameNotAvailable                    [4] IMPLICIT NULL         84
//!    namePresentationRestrictedNull      [7] IMPLICIT NULL         87 }
//!  NameData ::= OCTET STRING (SIZE (1..50))
//!  NameSet  ::= SEQUENCE { nameData NameData, characterSet INTEGER OPTIONAL }
//! ```
//!
//! NI-2 (GR-1367 calling name delivery) uses the same operations and
//! argument, in a facility with the networking-extensions profile and an
//! interpretation APDU but no NFE; QSIG adds the NFE (endPINX to endPINX).
//! An NI-2 network may first send the NI-2 operation InformationFollowing
//! (global OID 1.2.840.10005.0.4) in SETUP and the name in a later
//! FACILITY.

use super::{ie_repr, ie_view};
use crate::wire::Error;

/// Protocol profile: remote operations protocol (ROSE).
pub const PROFILE_ROSE: u8 = 0x11;
/// Protocol profile: CMIP.
pub const PROFILE_CMIP: u8 = 0x12;
/// Protocol profile: ACSE.
pub const PROFILE_ACSE: u8 = 0x13;
/// Protocol profile: networking extensions (QSIG, NI-2 name delivery).
pub const PROFILE_NETWORKING_EXTENSIONS: u8 = 0x1F;

/// OID contents (no tag/length) of the NI-2 operation
/// InformationFollowing, { 1 2 840 10005 0 4 }.
pub const NI2_INFORMATION_FOLLOWING_OID: &[u8] = &[0x2A, 0x86, 0x48, 0xCE, 0x15, 0x00, 0x04];

/// Minimal BER (X.690) reading and writing: single-octet tags, definite
/// lengths up to 65535.
pub mod ber {
    use crate::wire::Error;

    pub const INTEGER: u8 = 0x02;
    pub const OCTET_STRING: u8 = 0x04;
    pub const NULL: u8 = 0x05;
    pub const OID: u8 = 0x06;
    pub const ENUMERATED: u8 = 0x0A;
    pub const SEQUENCE: u8 = 0x30;

    /// One tag-length-value.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
    pub struct Tlv<'a> {
        /// The identifier octet (class, constructed bit, tag number).
        pub tag: u8,
        pub contents: &'a [u8],
    }

    impl<'a> Tlv<'a> {
        /// Constructed encoding (bit 6 of the identifier).
        pub fn constructed(&self) -> bool {
            self.tag & 0x20 != 0
        }
        /// Tag class and number without the constructed bit.
        pub fn tag_number(&self) -> u8 {
            self.tag & !0x20
        }
        /// Iterates over the contents of a constructed value.
        pub fn children(&self) -> TlvIter<'a> {
            TlvIter::new(self.contents)
        }
        /// Appends this TLV.
        pub fn encode(&self, out: &mut Vec<u8>) {
            write(out, self.tag, self.contents);
        }
    }

    /// Reads one TLV, returning it and the rest.
    pub fn read(data: &[u8]) -> Result<(Tlv<'_>, &[u8]), Error> {
        let (&tag, rest) = data.split_first().ok_or(Error::Truncated)?;
        if tag & 0x1F == 0x1F {
            // High tag numbers do not occur in Q.932 APDUs.
            return Err(Error::Malformed);
        }
        let (&l0, rest) = rest.split_first().ok_or(Error::Truncated)?;
        let (len, rest) = match l0 {
            0..=0x7F => (usize::from(l0), rest),
            0x81 => {
                let (&l, rest) = rest.split_first().ok_or(Error::Truncated)?;
                (usize::from(l), rest)
            }
            0x82 => match rest {
                [a, b, rest @ ..] => (usize::from(*a) << 8 | usize::from(*b), rest),
                _ => return Err(Error::Truncated),
            },
            // Indefinite length (0x80) and longer forms are not used here.
            _ => return Err(Error::Malformed),
        };
        if rest.len() < len {
            return Err(Error::Truncated);
        }
        let (contents, rest) = rest.split_at(len);
        Ok((Tlv { tag, contents }, rest))
    }

    /// Appends a TLV with a definite length in the shortest form.
    pub fn write(out: &mut Vec<u8>, tag: u8, contents: &[u8]) {
        out.push(tag);
        let len = contents.len();
        if len < 0x80 {
            out.push(len as u8);
        } else if len <= 0xFF {
            out.extend_from_slice(&[0x81, len as u8]);
        } else {
            let len = len.min(0xFFFF);
            out.extend_from_slice(&[0x82, (len >> 8) as u8, len as u8]);
        }
        out.extend_from_slice(&contents[..len.min(0xFFFF)]);
    }

    /// Decodes INTEGER / ENUMERATED contents (1–8 octets, two's
    /// complement).
    pub fn int(contents: &[u8]) -> Result<i64, Error> {
        if contents.is_empty() || contents.len() > 8 {
            return Err(Error::Malformed);
        }
        let mut v: i64 = if contents[0] & 0x80 != 0 { -1 } else { 0 };
        for &b in contents {
            v = (v << 8) | i64::from(b);
        }
        Ok(v)
    }

    /// Appends an integer-valued TLV in minimal two's complement.
    pub fn write_int(out: &mut Vec<u8>, tag: u8, v: i64) {
        let bytes = v.to_be_bytes();
        let mut start = 0;
        while start < 7 {
            let (b, next) = (bytes[start], bytes[start + 1]);
            if (b == 0 && next & 0x80 == 0) || (b == 0xFF && next & 0x80 != 0) {
                start += 1;
            } else {
                break;
            }
        }
        write(out, tag, &bytes[start..]);
    }

    /// Iterator over consecutive TLVs; yields one error and stops on
    /// malformed input.
    #[derive(Debug, Clone)]
    pub struct TlvIter<'a> {
        data: &'a [u8],
    }

    impl<'a> TlvIter<'a> {
        pub fn new(data: &'a [u8]) -> TlvIter<'a> {
            TlvIter { data }
        }
    }

    impl<'a> Iterator for TlvIter<'a> {
        type Item = Result<Tlv<'a>, Error>;
        fn next(&mut self) -> Option<Self::Item> {
            if self.data.is_empty() {
                return None;
            }
            match read(self.data) {
                Ok((tlv, rest)) => {
                    self.data = rest;
                    Some(Ok(tlv))
                }
                Err(e) => {
                    self.data = &[];
                    Some(Err(e))
                }
            }
        }
    }
}

use ber::Tlv;

/// A ROSE operation or error code: local integer or global OID.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Code<'a> {
    Local(i64),
    /// OID contents (without tag and length).
    Global(&'a [u8]),
}

impl<'a> Code<'a> {
    fn from_tlv(t: Tlv<'a>) -> Result<Code<'a>, Error> {
        match t.tag {
            ber::INTEGER => Ok(Code::Local(ber::int(t.contents)?)),
            ber::OID => Ok(Code::Global(t.contents)),
            _ => Err(Error::Malformed),
        }
    }
    fn encode(&self, out: &mut Vec<u8>) {
        match *self {
            Code::Local(v) => ber::write_int(out, ber::INTEGER, v),
            Code::Global(oid) => ber::write(out, ber::OID, oid),
        }
    }
}

/// A ROSE invoke component.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Invoke<'a> {
    pub invoke_id: i64,
    pub linked_id: Option<i64>,
    pub operation: Code<'a>,
    pub argument: Option<Tlv<'a>>,
}

impl<'a> Invoke<'a> {
    fn parse(contents: &'a [u8]) -> Result<Invoke<'a>, Error> {
        let mut it = ber::TlvIter::new(contents);
        let id = it.next().ok_or(Error::Malformed)??;
        if id.tag != ber::INTEGER {
            return Err(Error::Malformed);
        }
        let invoke_id = ber::int(id.contents)?;
        let mut next = it.next().ok_or(Error::Malformed)??;
        let mut linked_id = None;
        if next.tag == 0x80 {
            linked_id = Some(ber::int(next.contents)?);
            next = it.next().ok_or(Error::Malformed)??;
        }
        let operation = Code::from_tlv(next)?;
        let argument = it.next().transpose()?;
        if it.next().is_some() {
            return Err(Error::Malformed);
        }
        Ok(Invoke { invoke_id, linked_id, operation, argument })
    }

    /// Appends the whole invoke component (tag A1).
    pub fn encode(&self, out: &mut Vec<u8>) {
        let mut body = Vec::new();
        ber::write_int(&mut body, ber::INTEGER, self.invoke_id);
        if let Some(l) = self.linked_id {
            ber::write_int(&mut body, 0x80, l);
        }
        self.operation.encode(&mut body);
        if let Some(a) = self.argument {
            a.encode(&mut body);
        }
        ber::write(out, 0xA1, &body);
    }
}

/// A ROSE return-result component.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ReturnResult<'a> {
    pub invoke_id: i64,
    /// Operation and result value, if the operation returns one.
    pub result: Option<(Code<'a>, Tlv<'a>)>,
}

/// A ROSE return-error component.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ReturnError<'a> {
    pub invoke_id: i64,
    pub error: Code<'a>,
    pub parameter: Option<Tlv<'a>>,
}

/// One top-level item of a facility IE after octet 3.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Apdu<'a> {
    /// `[10]` network facility extension (QSIG), raw contents.
    NetworkFacilityExtension(&'a [u8]),
    /// `[18]` network protocol profile.
    NetworkProtocolProfile(i64),
    /// `[11]` interpretation APDU: 0 discard unrecognized invokes, 1 clear
    /// call, 2 reject.
    Interpretation(i64),
    Invoke(Invoke<'a>),
    ReturnResult(ReturnResult<'a>),
    ReturnError(ReturnError<'a>),
    /// `[4]` reject, raw contents.
    Reject(&'a [u8]),
    /// Anything else.
    Other(Tlv<'a>),
}

impl<'a> Apdu<'a> {
    fn parse(t: Tlv<'a>) -> Result<Apdu<'a>, Error> {
        Ok(match t.tag {
            0xAA => Apdu::NetworkFacilityExtension(t.contents),
            0x92 => Apdu::NetworkProtocolProfile(ber::int(t.contents)?),
            0x8B => Apdu::Interpretation(ber::int(t.contents)?),
            0xA1 => Apdu::Invoke(Invoke::parse(t.contents)?),
            0xA2 => {
                let mut it = t.children();
                let id = it.next().ok_or(Error::Malformed)??;
                if id.tag != ber::INTEGER {
                    return Err(Error::Malformed);
                }
                let result = match it.next().transpose()? {
                    None => None,
                    Some(seq) if seq.tag == ber::SEQUENCE => {
                        let mut inner = seq.children();
                        let op = Code::from_tlv(inner.next().ok_or(Error::Malformed)??)?;
                        let value = inner.next().ok_or(Error::Malformed)??;
                        Some((op, value))
                    }
                    Some(_) => return Err(Error::Malformed),
                };
                Apdu::ReturnResult(ReturnResult { invoke_id: ber::int(id.contents)?, result })
            }
            0xA3 => {
                let mut it = t.children();
                let id = it.next().ok_or(Error::Malformed)??;
                if id.tag != ber::INTEGER {
                    return Err(Error::Malformed);
                }
                let error = Code::from_tlv(it.next().ok_or(Error::Malformed)??)?;
                Apdu::ReturnError(ReturnError { invoke_id: ber::int(id.contents)?, error, parameter: it.next().transpose()? })
            }
            0xA4 => Apdu::Reject(t.contents),
            _ => Apdu::Other(t),
        })
    }

    /// True for the NI-2 InformationFollowing invoke (name follows in a
    /// later FACILITY).
    pub fn is_ni2_information_following(&self) -> bool {
        matches!(self, Apdu::Invoke(Invoke { operation: Code::Global(oid), .. })
            if *oid == NI2_INFORMATION_FOLLOWING_OID)
    }
}

/// Name-identification operations (ECMA-164 local values).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum NameOperation {
    CallingName = 0,
    CalledName = 1,
    ConnectedName = 2,
    BusyName = 3,
}

impl NameOperation {
    pub fn from_code(code: Code<'_>) -> Option<NameOperation> {
        match code {
            Code::Local(0) => Some(NameOperation::CallingName),
            Code::Local(1) => Some(NameOperation::CalledName),
            Code::Local(2) => Some(NameOperation::ConnectedName),
            Code::Local(3) => Some(NameOperation::BusyName),
            _ => None,
        }
    }
}

/// Name data and optional character set (extended form).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct NameData {
    /// The name octets (1..=50 per ECMA-164; usually IA5/Latin-1).
    pub name: Vec<u8>,
    /// Character set (1 = ISO 8859-1); `Some` selects the extended
    /// (NameSet) encoding.
    pub character_set: Option<i64>,
}

impl NameData {
    pub fn simple(name: &[u8]) -> NameData {
        NameData { name: name.to_vec(), character_set: None }
    }
}

/// A party name with its presentation.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Name {
    Allowed(NameData),
    Restricted(NameData),
    /// Presentation restricted, no name sent.
    RestrictedNull,
    NotAvailable,
}

impl Name {
    /// A presentation-allowed name, simple form.
    pub fn allowed(name: &str) -> Name {
        Name::Allowed(NameData::simple(name.as_bytes()))
    }

    /// The name octets, if a name is present.
    pub fn text(&self) -> Option<&[u8]> {
        match self {
            Name::Allowed(d) | Name::Restricted(d) => Some(&d.name),
            _ => None,
        }
    }

    /// Presentation allowed.
    pub fn is_allowed(&self) -> bool {
        matches!(self, Name::Allowed(_))
    }

    /// Decodes a `Name` value (or a SEQUENCE whose first element is one).
    pub fn decode(t: Tlv<'_>) -> Result<Name, Error> {
        let data = |d: &[u8]| {
            if d.is_empty() { Err(Error::Malformed) } else { Ok(NameData::simple(d)) }
        };
        let set = |t: Tlv<'_>| -> Result<NameData, Error> {
            let mut it = t.children();
            let n = it.next().ok_or(Error::Malformed)??;
            if n.tag != ber::OCTET_STRING {
                return Err(Error::Malformed);
            }
            let cs = match it.next().transpose()? {
                Some(c) if c.tag == ber::INTEGER => Some(ber::int(c.contents)?),
                Some(_) => return Err(Error::Malformed),
                None => None,
            };
            Ok(NameData { character_set: cs, ..data(n.contents)? })
        };
        match t.tag {
            ber::SEQUENCE => Name::decode(t.children().next().ok_or(Error::Malformed)??),
            0x80 => Ok(Name::Allowed(data(t.contents)?)),
            0xA1 => Ok(Name::Allowed(set(t)?)),
            0x82 => Ok(Name::Restricted(data(t.contents)?)),
            0xA3 => Ok(Name::Restricted(set(t)?)),
            0x84 => Ok(Name::NotAvailable),
            0x87 => Ok(Name::RestrictedNull),
            _ => Err(Error::Malformed),
        }
    }

    /// Appends the `Name` TLV.
    pub fn encode(&self, out: &mut Vec<u8>) {
        let enc = |out: &mut Vec<u8>, simple: u8, ext: u8, d: &NameData| match d.character_set {
            None => ber::write(out, simple, &d.name),
            Some(cs) => {
                let mut body = Vec::new();
                ber::write(&mut body, ber::OCTET_STRING, &d.name);
                ber::write_int(&mut body, ber::INTEGER, cs);
                ber::write(out, ext, &body);
            }
        };
        match self {
            Name::Allowed(d) => enc(out, 0x80, 0xA1, d),
            Name::Restricted(d) => enc(out, 0x82, 0xA3, d),
            Name::NotAvailable => ber::write(out, 0x84, &[]),
            Name::RestrictedNull => ber::write(out, 0x87, &[]),
        }
    }
}

/// How to wrap name operations when encoding.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum NameStyle {
    /// NI-2 / 5ESS / 4ESS: networking-extensions profile, interpretation
    /// APDU, no NFE.
    Ni2,
    /// QSIG: networking-extensions profile, NFE endPINX→endPINX,
    /// interpretation APDU.
    Qsig,
}

ie_view! {
    /// View of facility contents.
    Facility
}

impl<T: AsRef<[u8]>> Facility<T> {
    /// Octet 3 present; octet 3a present and ext = 1 when announced. The
    /// APDUs are not validated here (see [`FacilityRepr::apdus`]).
    pub fn check(&self) -> Result<(), Error> {
        let d = self.buffer.as_ref();
        let Some(&o3) = d.first() else {
            return Err(Error::Truncated);
        };
        if o3 & 0x60 != 0 {
            return Err(Error::Malformed);
        }
        if o3 & 0x80 == 0 && d.get(1).is_none_or(|b| b & 0x80 == 0) {
            return Err(Error::Malformed);
        }
        Ok(())
    }
    pub fn protocol_profile(&self) -> u8 {
        self.byte(0) & 0x1F
    }
    /// Octet 3a (DMS-100 service identifier), 7 bits.
    pub fn service_id(&self) -> Option<u8> {
        (self.byte(0) & 0x80 == 0).then(|| self.byte(1) & 0x7F)
    }
    /// The BER-encoded APDUs.
    pub fn apdu_octets(&self) -> &[u8] {
        self.tail(if self.byte(0) & 0x80 == 0 { 2 } else { 1 })
    }
}

/// Facility: protocol profile plus raw APDU octets.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct FacilityRepr {
    /// Protocol profile (5 bits), see the `PROFILE_*` constants.
    pub protocol_profile: u8,
    /// DMS-100 octet 3a (7 bits), when octet 3's ext bit is 0.
    pub service_id: Option<u8>,
    /// The APDUs, BER encoded, kept verbatim.
    pub components: Vec<u8>,
}

impl FacilityRepr {
    pub fn decode(contents: &[u8]) -> Result<FacilityRepr, Error> {
        let v = Facility::new_checked(contents)?;
        Ok(FacilityRepr { protocol_profile: v.protocol_profile(), service_id: v.service_id(), components: v.apdu_octets().to_vec() })
    }

    pub fn encode(&self, out: &mut Vec<u8>) {
        match self.service_id {
            None => out.push(0x80 | (self.protocol_profile & 0x1F)),
            Some(s) => {
                out.push(self.protocol_profile & 0x1F);
                out.push(0x80 | (s & 0x7F));
            }
        }
        out.extend_from_slice(&self.components);
    }

    /// Iterates the APDUs; yields an error (and stops) on bad BER.
    pub fn apdus(&self) -> impl Iterator<Item = Result<Apdu<'_>, Error>> {
        ber::TlvIter::new(&self.components).map(|t| t.and_then(Apdu::parse))
    }

    /// All name-identification invokes (NI-2 or QSIG) with decodable
    /// names, in order. Unrelated or undecodable APDUs are skipped.
    pub fn names(&self) -> Vec<(NameOperation, Name)> {
        self.apdus()
            .filter_map(|a| match a {
                Ok(Apdu::Invoke(inv)) => {
                    let op = NameOperation::from_code(inv.operation)?;
                    let name = Name::decode(inv.argument?).ok()?;
                    Some((op, name))
                }
                _ => None,
            })
            .collect()
    }

    /// The calling name, if this facility carries one.
    pub fn calling_name(&self) -> Option<Name> {
        self.names().into_iter().find(|(op, _)| *op == NameOperation::CallingName).map(|(_, n)| n)
    }

    /// True if an NI-2 InformationFollowing invoke is present.
    pub fn has_ni2_information_following(&self) -> bool {
        self.apdus().any(|a| a.is_ok_and(|a| a.is_ni2_information_following()))
    }

    fn extensions_header(style: NameStyle) -> Vec<u8> {
        let mut c = Vec::new();
        if style == NameStyle::Qsig {
            // sourceEntity [0] endPINX, destinationEntity [2] endPINX.
            ber::write(&mut c, 0xAA, &[0x80, 0x01, 0x00, 0x82, 0x01, 0x00]);
        }
        // discardAnyUnrecognisedInvokePdu
        ber::write(&mut c, 0x8B, &[0x00]);
        c
    }

    /// A facility with one name-identification invoke.
    pub fn name_invoke(style: NameStyle, op: NameOperation, invoke_id: i64, name: &Name) -> FacilityRepr {
        let mut components = Self::extensions_header(style);
        let mut arg = Vec::new();
        name.encode(&mut arg);
        // `arg` holds exactly one TLV we just wrote.
        let argument = ber::read(&arg).ok().map(|(t, _)| t);
        Invoke { invoke_id, linked_id: None, operation: Code::Local(op as i64), argument }.encode(&mut components);
        FacilityRepr { protocol_profile: PROFILE_NETWORKING_EXTENSIONS, service_id: None, components }
    }

    /// A facility carrying a callingName invoke.
    pub fn with_calling_name(style: NameStyle, invoke_id: i64, name: &Name) -> FacilityRepr {
        Self::name_invoke(style, NameOperation::CallingName, invoke_id, name)
    }

    /// The NI-2 InformationFollowing invoke (network side, in SETUP,
    /// announcing a calling name FACILITY).
    pub fn ni2_information_following(invoke_id: i64) -> FacilityRepr {
        let mut components = Vec::new();
        Invoke {
            invoke_id,
            linked_id: None,
            operation: Code::Global(NI2_INFORMATION_FOLLOWING_OID),
            argument: Some(Tlv { tag: ber::ENUMERATED, contents: &[0x00] }),
        }
        .encode(&mut components);
        FacilityRepr { protocol_profile: PROFILE_ROSE, service_id: None, components }
    }
}

ie_repr!(FacilityRepr, Facility);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ni2_calling_name() {
        // 9F 8B 01 00 A1 0F 02 01 01 02 01 00 80 07 "J SMITH"
        let mut bytes = vec![0x9F, 0x8B, 0x01, 0x00, 0xA1, 0x0F, 0x02, 0x01, 0x01, 0x02, 0x01, 0x00, 0x80, 0x07];
        bytes.extend_from_slice(b"J SMITH");
        let f = FacilityRepr::parse_bytes(&bytes).unwrap();
        assert_eq!(f.protocol_profile, PROFILE_NETWORKING_EXTENSIONS);
        assert_eq!(f.calling_name(), Some(Name::allowed("J SMITH")));
        let built = FacilityRepr::with_calling_name(NameStyle::Ni2, 1, &Name::allowed("J SMITH"));
        assert_eq!(built, f);
        assert_eq!(built.to_vec(), bytes);
    }

    #[test]
    fn qsig_restricted_name_in_sequence() {
        // QSIG: NFE, NPP, interpretation, invoke callingName with the
        // argument wrapped in a SEQUENCE (ECMA-164 2nd edition).
        let bytes = [
            0x9F, 0xAA, 0x06, 0x80, 0x01, 0x00, 0x82, 0x01, 0x00, 0x92, 0x01, 0x00, 0x8B, 0x01, 0x00, 0xA1, 0x0E, 0x02, 0x02, 0x01, 0x2C, 0x02, 0x01, 0x00,
            0x30, 0x05, 0x82, 0x03, b'B', b'O', b'B',
        ];
        let f = FacilityRepr::parse_bytes(&bytes).unwrap();
        let apdus: Vec<_> = f.apdus().collect::<Result<_, _>>().unwrap();
        assert_eq!(apdus.len(), 4);
        assert_eq!(apdus[1], Apdu::NetworkProtocolProfile(0));
        match apdus[3] {
            Apdu::Invoke(inv) => assert_eq!(inv.invoke_id, 300),
            ref a => panic!("{a:?}"),
        }
        let name = f.calling_name().unwrap();
        assert!(!name.is_allowed());
        assert_eq!(name.text(), Some(&b"BOB"[..]));
        assert_eq!(f.to_vec(), bytes);
    }

    #[test]
    fn qsig_encode_and_other_names() {
        for name in [
            Name::allowed("Alice"),
            Name::Restricted(NameData::simple(b"X")),
            Name::Allowed(NameData { name: b"Zoe".to_vec(), character_set: Some(1) }),
            Name::RestrictedNull,
            Name::NotAvailable,
        ] {
            let f = FacilityRepr::with_calling_name(NameStyle::Qsig, -5, &name);
            let back = FacilityRepr::parse_bytes(&f.to_vec()).unwrap();
            assert_eq!(back.calling_name(), Some(name.clone()));
            assert!(matches!(back.apdus().next(), Some(Ok(Apdu::NetworkFacilityExtension(_)))));
        }
        let f = FacilityRepr::name_invoke(NameStyle::Ni2, NameOperation::ConnectedName, 7, &Name::allowed("C"));
        assert_eq!(f.calling_name(), None);
        assert_eq!(f.names(), vec![(NameOperation::ConnectedName, Name::allowed("C"))]);
    }

    #[test]
    fn ni2_information_following() {
        let f = FacilityRepr::ni2_information_following(2);
        assert_eq!(f.to_vec(), vec![0x91, 0xA1, 0x0F, 0x02, 0x01, 0x02, 0x06, 0x07, 0x2A, 0x86, 0x48, 0xCE, 0x15, 0x00, 0x04, 0x0A, 0x01, 0x00]);
        assert!(f.has_ni2_information_following());
        assert_eq!(f.calling_name(), None);
    }

    #[test]
    fn results_errors_and_dms_octet() {
        // Return result without value, return error with local code 0,
        // DMS-100 octet 3a.
        let bytes = [0x11, 0xBE, 0xA2, 0x03, 0x02, 0x01, 0x05, 0xA3, 0x06, 0x02, 0x01, 0x05, 0x02, 0x01, 0x00];
        let f = FacilityRepr::parse_bytes(&bytes).unwrap();
        assert_eq!(f.service_id, Some(0x3E));
        let apdus: Vec<_> = f.apdus().collect::<Result<_, _>>().unwrap();
        assert_eq!(apdus[0], Apdu::ReturnResult(ReturnResult { invoke_id: 5, result: None }));
        assert_eq!(apdus[1], Apdu::ReturnError(ReturnError { invoke_id: 5, error: Code::Local(0), parameter: None }));
        assert_eq!(f.to_vec(), bytes);
    }

    #[test]
    fn ber_edge_cases() {
        assert_eq!(ber::int(&[0xFF]).unwrap(), -1);
        assert_eq!(ber::int(&[0x01, 0x2C]).unwrap(), 300);
        assert!(ber::int(&[]).is_err());
        for v in [0i64, 1, -1, 127, 128, -128, -129, 300, i64::MAX, i64::MIN] {
            let mut out = Vec::new();
            ber::write_int(&mut out, ber::INTEGER, v);
            let (t, rest) = ber::read(&out).unwrap();
            assert!(rest.is_empty());
            assert_eq!(ber::int(t.contents).unwrap(), v);
        }
        let long = vec![0u8; 300];
        let mut out = Vec::new();
        ber::write(&mut out, ber::OCTET_STRING, &long);
        assert_eq!(&out[..4], &[0x04, 0x82, 0x01, 0x2C]);
        assert_eq!(ber::read(&out).unwrap().0.contents.len(), 300);
        assert!(ber::read(&[0x04, 0x80]).is_err());
        assert!(ber::read(&[0x1F, 0x01, 0x00]).is_err());
        assert!(ber::read(&[0x04, 0x05, 0x00]).is_err());
        // Bad BER inside a facility: the IE decodes, the APDU walk errors.
        let f = FacilityRepr::parse_bytes(&[0x91, 0xA1, 0x09]).unwrap();
        assert!(f.apdus().next().unwrap().is_err());
        assert!(f.names().is_empty());
    }
}
