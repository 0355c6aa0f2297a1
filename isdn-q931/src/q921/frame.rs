//! A minimal LAPD frame codec, private to the data link.
//!
//! Covers what the multiple-frame procedures of Q.921 need: the two-octet
//! address field (SAPI, C/R, TEI) and the control field in its I, S and U
//! formats with modulo 128 sequence numbers. Frames here are what sits
//! between the flags, without the FCS.
//!
//! The decoder only checks syntax; what a frame means in a given state
//! (command or response, allowed information field, N201) is the link's
//! business.

/// Octets of address plus control in an I or S frame.
pub(super) const SEQUENCED_HEADER: usize = 4;
/// Octets of address plus control in a U frame.
pub(super) const UNNUMBERED_HEADER: usize = 3;

/// Supervisory frame types (modulo 128, first control octet).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Supervisory {
    /// Receive ready: 0000 0001.
    Rr,
    /// Receive not ready: 0000 0101.
    Rnr,
    /// Reject: 0000 1001.
    Rej,
}

impl Supervisory {
    fn octet(self) -> u8 {
        match self {
            Supervisory::Rr => 0x01,
            Supervisory::Rnr => 0x05,
            Supervisory::Rej => 0x09,
        }
    }

    fn from_octet(octet: u8) -> Option<Self> {
        match octet {
            0x01 => Some(Supervisory::Rr),
            0x05 => Some(Supervisory::Rnr),
            0x09 => Some(Supervisory::Rej),
            _ => None,
        }
    }
}

/// Unnumbered frame types (control octet with the P/F bit, 0x10, clear).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Unnumbered {
    /// Set asynchronous balanced mode extended: 011P 1111.
    Sabme,
    /// Disconnected mode: 000F 1111.
    Dm,
    /// Unnumbered information: 000P 0011.
    Ui,
    /// Disconnect: 010P 0011.
    Disc,
    /// Unnumbered acknowledgement: 011F 0011.
    Ua,
    /// Frame reject: 100F 0111.
    Frmr,
    /// Exchange identification: 101P 1111.
    Xid,
}

impl Unnumbered {
    fn octet(self) -> u8 {
        match self {
            Unnumbered::Sabme => 0x6F,
            Unnumbered::Dm => 0x0F,
            Unnumbered::Ui => 0x03,
            Unnumbered::Disc => 0x43,
            Unnumbered::Ua => 0x63,
            Unnumbered::Frmr => 0x87,
            Unnumbered::Xid => 0xAF,
        }
    }

    fn from_octet(octet: u8) -> Option<Self> {
        match octet & !PF_U {
            0x6F => Some(Unnumbered::Sabme),
            0x0F => Some(Unnumbered::Dm),
            0x03 => Some(Unnumbered::Ui),
            0x43 => Some(Unnumbered::Disc),
            0x63 => Some(Unnumbered::Ua),
            0x87 => Some(Unnumbered::Frmr),
            0xAF => Some(Unnumbered::Xid),
            _ => None,
        }
    }
}

/// The P/F bit in a U frame's control octet.
const PF_U: u8 = 0x10;

/// The control field and information field of a decoded frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Body<'a> {
    /// Information frame.
    I { ns: u8, nr: u8, p: bool, info: &'a [u8] },
    /// Supervisory frame; `extra` is whatever follows the control field
    /// (empty in a well-formed frame).
    S { kind: Supervisory, nr: u8, pf: bool, extra: &'a [u8] },
    /// Unnumbered frame; `info` is whatever follows the control field.
    U { kind: Unnumbered, pf: bool, info: &'a [u8] },
}

/// A decoded frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Frame<'a> {
    pub sapi: u8,
    /// The C/R bit as sent; whether it means command or response depends on
    /// which side sent it.
    pub cr: bool,
    pub tei: u8,
    pub body: Body<'a>,
}

/// Why a byte string is not a frame we can act on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum DecodeError {
    /// An invalid frame (Q.921 §5.8.4): too short, or an address field that
    /// is not two octets. Discarded without notice.
    Invalid,
    /// A control field that is undefined or not implemented (MDL-ERROR L).
    UndefinedControl,
}

/// Decodes address and control; the rest is left as information field.
pub(super) fn decode(bytes: &[u8]) -> Result<Frame<'_>, DecodeError> {
    let [a0, a1, c0, rest @ ..] = bytes else {
        return Err(DecodeError::Invalid);
    };
    // EA bit: 0 on the first address octet, 1 on the second and last.
    if a0 & 0x01 != 0 || a1 & 0x01 == 0 {
        return Err(DecodeError::Invalid);
    }
    let sapi = a0 >> 2;
    let cr = a0 & 0x02 != 0;
    let tei = a1 >> 1;
    let body = if c0 & 0x01 == 0 {
        let [c1, info @ ..] = rest else {
            return Err(DecodeError::Invalid);
        };
        Body::I { ns: c0 >> 1, nr: c1 >> 1, p: c1 & 0x01 != 0, info }
    } else if c0 & 0x03 == 0x01 {
        let [c1, extra @ ..] = rest else {
            return Err(DecodeError::Invalid);
        };
        let kind = Supervisory::from_octet(*c0).ok_or(DecodeError::UndefinedControl)?;
        Body::S { kind, nr: c1 >> 1, pf: c1 & 0x01 != 0, extra }
    } else {
        let kind = Unnumbered::from_octet(*c0).ok_or(DecodeError::UndefinedControl)?;
        Body::U { kind, pf: c0 & PF_U != 0, info: rest }
    };
    Ok(Frame { sapi, cr, tei, body })
}

/// The address field of the frames one side sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Address {
    pub sapi: u8,
    pub tei: u8,
}

impl Address {
    fn octets(self, cr: bool) -> [u8; 2] {
        [((self.sapi & 0x3F) << 2) | (u8::from(cr) << 1), ((self.tei & 0x7F) << 1) | 0x01]
    }

    /// An I frame (always a command).
    pub fn i_frame(self, cr: bool, ns: u8, nr: u8, p: bool, info: &[u8]) -> Vec<u8> {
        let mut out = Vec::with_capacity(SEQUENCED_HEADER + info.len());
        out.extend_from_slice(&self.octets(cr));
        out.push((ns & 0x7F) << 1);
        out.push(((nr & 0x7F) << 1) | u8::from(p));
        out.extend_from_slice(info);
        out
    }

    /// An S frame.
    pub fn s_frame(self, cr: bool, kind: Supervisory, nr: u8, pf: bool) -> Vec<u8> {
        let [a0, a1] = self.octets(cr);
        vec![a0, a1, kind.octet(), ((nr & 0x7F) << 1) | u8::from(pf)]
    }

    /// A U frame, with an information field for UI (and XID, FRMR).
    pub fn u_frame(self, cr: bool, kind: Unnumbered, pf: bool, info: &[u8]) -> Vec<u8> {
        let mut out = Vec::with_capacity(UNNUMBERED_HEADER + info.len());
        out.extend_from_slice(&self.octets(cr));
        out.push(kind.octet() | if pf { PF_U } else { 0 });
        out.extend_from_slice(info);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEI0: Address = Address { sapi: 0, tei: 0 };

    #[test]
    fn sabme_from_network_and_user_have_the_usual_octets() {
        // Network commands carry C/R=1, user commands C/R=0.
        assert_eq!(TEI0.u_frame(true, Unnumbered::Sabme, true, &[]), [0x02, 0x01, 0x7F]);
        assert_eq!(TEI0.u_frame(false, Unnumbered::Sabme, true, &[]), [0x00, 0x01, 0x7F]);
        assert_eq!(TEI0.u_frame(false, Unnumbered::Ua, true, &[]), [0x00, 0x01, 0x73]);
    }

    #[test]
    fn i_frame_round_trips_with_modulo_128_numbers() {
        let bytes = TEI0.i_frame(true, 127, 64, true, &[0x08, 0x02, 0x00, 0x01, 0x05]);
        assert_eq!(bytes[..4], [0x02, 0x01, 0xFE, 0x81]);
        let frame = decode(&bytes).unwrap();
        assert_eq!(frame.sapi, 0);
        assert!(frame.cr);
        assert_eq!(frame.tei, 0);
        assert_eq!(frame.body, Body::I { ns: 127, nr: 64, p: true, info: &[0x08, 0x02, 0x00, 0x01, 0x05] });
    }

    #[test]
    fn supervisory_frames_round_trip() {
        for kind in [Supervisory::Rr, Supervisory::Rnr, Supervisory::Rej] {
            for pf in [false, true] {
                let bytes = Address { sapi: 63, tei: 127 }.s_frame(false, kind, 5, pf);
                let frame = decode(&bytes).unwrap();
                assert_eq!((frame.sapi, frame.cr, frame.tei), (63, false, 127));
                assert_eq!(frame.body, Body::S { kind, nr: 5, pf, extra: &[] });
            }
        }
    }

    #[test]
    fn unnumbered_frames_round_trip() {
        use Unnumbered::*;
        for kind in [Sabme, Dm, Ui, Disc, Ua, Frmr, Xid] {
            for pf in [false, true] {
                let bytes = TEI0.u_frame(true, kind, pf, &[1, 2]);
                assert_eq!(decode(&bytes).unwrap().body, Body::U { kind, pf, info: &[1, 2] });
            }
        }
    }

    #[test]
    fn short_frames_and_bad_address_extension_are_invalid() {
        assert_eq!(decode(&[]), Err(DecodeError::Invalid));
        assert_eq!(decode(&[0x02, 0x01]), Err(DecodeError::Invalid));
        // I and S frames need two control octets.
        assert_eq!(decode(&[0x02, 0x01, 0x00]), Err(DecodeError::Invalid));
        assert_eq!(decode(&[0x02, 0x01, 0x01]), Err(DecodeError::Invalid));
        // One-octet address (EA=1 on the first octet).
        assert_eq!(decode(&[0x03, 0x01, 0x7F]), Err(DecodeError::Invalid));
        // Address not ended after two octets.
        assert_eq!(decode(&[0x02, 0x00, 0x7F]), Err(DecodeError::Invalid));
    }

    #[test]
    fn undefined_control_fields_are_reported() {
        // SREJ-like supervisory code and SABM (modulo 8) are not LAPD.
        assert_eq!(decode(&[0x02, 0x01, 0x0D, 0x00]), Err(DecodeError::UndefinedControl));
        assert_eq!(decode(&[0x02, 0x01, 0x3F]), Err(DecodeError::UndefinedControl));
    }
}
