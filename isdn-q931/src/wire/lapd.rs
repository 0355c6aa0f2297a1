//! LAPD frames (ITU-T Q.921 §2–§3), modulo-128 operation.
//!
//! Frames here start at the address field and end with the information
//! field: no flags, no FCS, as DAHDI's D-channel hands them over after
//! checking and stripping the FCS.
//!
//! ```text
//!        8   7   6   5   4   3   2   1
//!      +-----------------------+---+---+
//!  1   |         SAPI          |C/R|EA0|   EA0 = 0
//!      +---------------------------+---+
//!  2   |            TEI            |EA1|   EA1 = 1
//!      +---------------------------+---+
//!  3   |  control (1 octet for U, 2 octets for I and S)
//!  4   |
//!      +---------------------------------
//!      |  information field (I, UI, FRMR, XID only)
//! ```
//!
//! Control field formats (Q.921 Table 4 / Figure 5):
//!
//! ```text
//!  I:  octet 3 = N(S) << 1 | 0          octet 4 = N(R) << 1 | P
//!  S:  octet 3 = 0000 SS 01             octet 4 = N(R) << 1 | P/F
//!      RR = 0x01, RNR = 0x05, REJ = 0x09
//!  U:  octet 3 = MMM P/F MM 11
//!      SABME 0x6F, DM 0x0F, UI 0x03, DISC 0x43, UA 0x63, FRMR 0x87,
//!      XID 0xAF   (P/F is bit 5, 0x10)
//! ```
//!
//! # Command or response: the C/R bit (Q.921 §3.3.2, Table 1)
//!
//! The meaning of the C/R bit depends on who sends the frame:
//!
//! | frame    | sent by network | sent by user |
//! |----------|-----------------|--------------|
//! | command  | C/R = 1         | C/R = 0      |
//! | response | C/R = 0         | C/R = 1      |
//!
//! [`CommandResponse::cr_bit`] and [`CommandResponse::from_cr_bit`] do the
//! mapping given the sender's [`Role`]; a receiver passes `local.peer()`.

use super::Error;

/// SAPI 0: call control procedures (Q.931).
pub const SAPI_CALL_CONTROL: u8 = 0;
/// SAPI 1: packet mode using Q.931 call control procedures.
pub const SAPI_PACKET_Q931: u8 = 1;
/// SAPI 16: packet communication conforming to X.25 level 3.
pub const SAPI_X25: u8 = 16;
/// SAPI 63: layer 2 management procedures (TEI management).
pub const SAPI_MANAGEMENT: u8 = 63;
/// TEI 127: the group TEI (broadcast data link).
pub const TEI_GROUP: u8 = 127;
/// Default maximum number of octets in an information field, N201
/// (Q.921 §5.9.3).
pub const N201_DEFAULT: usize = 260;

/// Length of the address field.
pub const ADDRESS_LEN: usize = 2;

/// Which side of the user-network interface a LAPD entity is on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Role {
    /// The user side (TE / CPE, e.g. a PBX facing the carrier).
    User,
    /// The network side (NT / the exchange).
    Network,
}

impl Role {
    /// The other side of the link.
    pub const fn peer(self) -> Role {
        match self {
            Role::User => Role::Network,
            Role::Network => Role::User,
        }
    }
}

/// Whether a frame is a command or a response.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CommandResponse {
    Command,
    Response,
}

impl CommandResponse {
    /// The C/R bit a frame of this kind carries when `sender` sends it
    /// (Q.921 §3.3.2 Table 1).
    pub const fn cr_bit(self, sender: Role) -> bool {
        matches!((self, sender), (CommandResponse::Command, Role::Network) | (CommandResponse::Response, Role::User))
    }

    /// Interprets a received C/R bit; `sender` is the role of the peer
    /// that sent the frame (the receiver's `local.peer()`).
    pub const fn from_cr_bit(cr: bool, sender: Role) -> CommandResponse {
        match (cr, sender) {
            (true, Role::Network) | (false, Role::User) => CommandResponse::Command,
            _ => CommandResponse::Response,
        }
    }
}

/// The three control field formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Format {
    Information,
    Supervisory,
    Unnumbered,
}

mod control {
    pub const PF_U: u8 = 0x10;
    pub const U_MASK: u8 = !PF_U;
    pub const SABME: u8 = 0x6F;
    pub const DM: u8 = 0x0F;
    pub const UI: u8 = 0x03;
    pub const DISC: u8 = 0x43;
    pub const UA: u8 = 0x63;
    pub const FRMR: u8 = 0x87;
    pub const XID: u8 = 0xAF;
    pub const RR: u8 = 0x01;
    pub const RNR: u8 = 0x05;
    pub const REJ: u8 = 0x09;
}

/// A read/write view of a LAPD frame (address, control, information).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Frame<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Frame<T> {
    /// Wraps a buffer without checking it. Accessors never panic, but
    /// return meaningless values for a buffer that fails [`check_len`].
    ///
    /// [`check_len`]: Frame::check_len
    pub const fn new_unchecked(buffer: T) -> Frame<T> {
        Frame { buffer }
    }

    /// Wraps a buffer after [`check_len`](Frame::check_len).
    pub fn new_checked(buffer: T) -> Result<Frame<T>, Error> {
        let frame = Frame::new_unchecked(buffer);
        frame.check_len()?;
        Ok(frame)
    }

    /// Checks that the buffer holds the address field and the whole
    /// control field (one octet for U frames, two for I and S frames).
    pub fn check_len(&self) -> Result<(), Error> {
        let len = self.buffer.as_ref().len();
        if len < ADDRESS_LEN + 1 || len < self.header_len() { Err(Error::Truncated) } else { Ok(()) }
    }

    /// Returns the underlying buffer.
    pub fn into_inner(self) -> T {
        self.buffer
    }

    fn byte(&self, i: usize) -> u8 {
        self.buffer.as_ref().get(i).copied().unwrap_or(0)
    }

    /// Service access point identifier (6 bits).
    pub fn sapi(&self) -> u8 {
        self.byte(0) >> 2
    }

    /// The raw command/response bit; see [`CommandResponse::from_cr_bit`].
    pub fn cr(&self) -> bool {
        self.byte(0) & 0x02 != 0
    }

    /// Address extension bit of octet 1 (must be 0).
    pub fn ea0(&self) -> bool {
        self.byte(0) & 0x01 != 0
    }

    /// Terminal endpoint identifier (7 bits).
    pub fn tei(&self) -> u8 {
        self.byte(1) >> 1
    }

    /// Address extension bit of octet 2 (must be 1).
    pub fn ea1(&self) -> bool {
        self.byte(1) & 0x01 != 0
    }

    /// First control octet.
    pub fn control(&self) -> u8 {
        self.byte(2)
    }

    /// The control field format, from the low bits of the first octet.
    pub fn format(&self) -> Format {
        let c = self.control();
        if c & 0x01 == 0 {
            Format::Information
        } else if c & 0x03 == 0x01 {
            Format::Supervisory
        } else {
            Format::Unnumbered
        }
    }

    /// Length of address plus control field (3 or 4).
    pub fn header_len(&self) -> usize {
        match self.format() {
            Format::Unnumbered => ADDRESS_LEN + 1,
            _ => ADDRESS_LEN + 2,
        }
    }

    /// N(S) of an I frame.
    pub fn ns(&self) -> u8 {
        self.byte(2) >> 1
    }

    /// N(R) of an I or S frame.
    pub fn nr(&self) -> u8 {
        self.byte(3) >> 1
    }

    /// The poll/final bit (octet 4 bit 1 for I/S frames, octet 3 bit 5
    /// for U frames).
    pub fn poll_final(&self) -> bool {
        match self.format() {
            Format::Unnumbered => self.byte(2) & control::PF_U != 0,
            _ => self.byte(3) & 0x01 != 0,
        }
    }

    /// The information field (empty if absent).
    pub fn info(&self) -> &[u8] {
        let data = self.buffer.as_ref();
        data.get(self.header_len()..).unwrap_or(&[])
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Frame<T> {
    fn set_byte(&mut self, i: usize, v: u8) {
        if let Some(b) = self.buffer.as_mut().get_mut(i) {
            *b = v;
        }
    }

    /// Writes the whole address field (EA0 = 0, EA1 = 1).
    pub fn set_address(&mut self, sapi: u8, cr: bool, tei: u8) {
        self.set_byte(0, (sapi & 0x3F) << 2 | u8::from(cr) << 1);
        self.set_byte(1, (tei & 0x7F) << 1 | 0x01);
    }

    /// Sets the SAPI, keeping C/R and EA0.
    pub fn set_sapi(&mut self, sapi: u8) {
        let b = self.byte(0);
        self.set_byte(0, (sapi & 0x3F) << 2 | (b & 0x03));
    }

    /// Sets the C/R bit.
    pub fn set_cr(&mut self, cr: bool) {
        let b = self.byte(0);
        self.set_byte(0, (b & !0x02) | u8::from(cr) << 1);
    }

    /// Sets the TEI, keeping EA1.
    pub fn set_tei(&mut self, tei: u8) {
        let b = self.byte(1);
        self.set_byte(1, (tei & 0x7F) << 1 | (b & 0x01));
    }

    /// Sets the first control octet.
    pub fn set_control(&mut self, c: u8) {
        self.set_byte(2, c);
    }

    /// Sets N(S) of an I frame (first control octet, bit 1 = 0).
    pub fn set_ns(&mut self, ns: u8) {
        self.set_byte(2, (ns & 0x7F) << 1);
    }

    /// Sets N(R) and P/F of an I or S frame (second control octet).
    pub fn set_nr_pf(&mut self, nr: u8, pf: bool) {
        self.set_byte(3, (nr & 0x7F) << 1 | u8::from(pf));
    }

    /// Mutable information field.
    pub fn info_mut(&mut self) -> &mut [u8] {
        let start = self.header_len();
        self.buffer.as_mut().get_mut(start..).unwrap_or(&mut [])
    }
}

/// The frame types of Q.921 with their fields. Sequence numbers are
/// modulo 128 (7 bits); emitting masks them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FrameKind<'a> {
    /// Information (command).
    I { ns: u8, nr: u8, p: bool, info: &'a [u8] },
    /// Receive ready (command or response).
    Rr { nr: u8, pf: bool },
    /// Receive not ready (command or response).
    Rnr { nr: u8, pf: bool },
    /// Reject (command or response).
    Rej { nr: u8, pf: bool },
    /// Set asynchronous balanced mode extended (command).
    Sabme { p: bool },
    /// Disconnected mode (response).
    Dm { f: bool },
    /// Unnumbered information (command).
    Ui { p: bool, info: &'a [u8] },
    /// Disconnect (command).
    Disc { p: bool },
    /// Unnumbered acknowledgement (response).
    Ua { f: bool },
    /// Frame reject (response); see [`FrmrInfo`] for the information field.
    Frmr { f: bool, info: &'a [u8] },
    /// Exchange identification (command or response).
    Xid { pf: bool, info: &'a [u8] },
}

impl<'a> FrameKind<'a> {
    /// The control field format of this frame type.
    pub const fn format(&self) -> Format {
        match self {
            FrameKind::I { .. } => Format::Information,
            FrameKind::Rr { .. } | FrameKind::Rnr { .. } | FrameKind::Rej { .. } => Format::Supervisory,
            _ => Format::Unnumbered,
        }
    }

    /// The P or F bit, whichever this frame carries.
    pub const fn poll_final(&self) -> bool {
        match *self {
            FrameKind::I { p, .. } | FrameKind::Sabme { p } | FrameKind::Ui { p, .. } | FrameKind::Disc { p } => p,
            FrameKind::Dm { f } | FrameKind::Ua { f } | FrameKind::Frmr { f, .. } => f,
            FrameKind::Rr { pf, .. } | FrameKind::Rnr { pf, .. } | FrameKind::Rej { pf, .. } | FrameKind::Xid { pf, .. } => pf,
        }
    }

    /// N(R), for I and S frames.
    pub const fn nr(&self) -> Option<u8> {
        match *self {
            FrameKind::I { nr, .. } | FrameKind::Rr { nr, .. } | FrameKind::Rnr { nr, .. } | FrameKind::Rej { nr, .. } => Some(nr),
            _ => None,
        }
    }

    /// The information field (empty for frame types without one).
    pub const fn info(&self) -> &'a [u8] {
        match *self {
            FrameKind::I { info, .. } | FrameKind::Ui { info, .. } | FrameKind::Frmr { info, .. } | FrameKind::Xid { info, .. } => info,
            _ => &[],
        }
    }

    /// Whether Q.921 allows this frame type as `cr` (Table 5: I, SABME,
    /// DISC and UI are commands only; DM, UA and FRMR responses only;
    /// RR, RNR, REJ and XID either). A frame received with the wrong C/R
    /// is an "undefined" frame to the state machine (§5.8.5).
    pub const fn allowed_as(&self, cr: CommandResponse) -> bool {
        match self {
            FrameKind::I { .. } | FrameKind::Sabme { .. } | FrameKind::Disc { .. } | FrameKind::Ui { .. } => matches!(cr, CommandResponse::Command),
            FrameKind::Dm { .. } | FrameKind::Ua { .. } | FrameKind::Frmr { .. } => {
                matches!(cr, CommandResponse::Response)
            }
            _ => true,
        }
    }

    /// Whether this frame type carries an information field (Q.921
    /// §3.6: I, UI, FRMR and XID). Any other type that arrives with one is
    /// an error of "incorrect length" (§5.8.5).
    pub const fn permits_info(&self) -> bool {
        matches!(self, FrameKind::I { .. } | FrameKind::Ui { .. } | FrameKind::Frmr { .. } | FrameKind::Xid { .. })
    }

    fn control_len(&self) -> usize {
        match self.format() {
            Format::Unnumbered => 1,
            _ => 2,
        }
    }
}

/// A decoded LAPD frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct FrameRepr<'a> {
    /// Service access point identifier (0..=63).
    pub sapi: u8,
    /// Terminal endpoint identifier (0..=127; 0 on PRI).
    pub tei: u8,
    /// The raw C/R bit; see [`FrameRepr::command_response`].
    pub cr: bool,
    /// Frame type and its fields.
    pub kind: FrameKind<'a>,
}

impl<'a> FrameRepr<'a> {
    /// A frame that `sender` sends as a command.
    pub const fn command(sender: Role, sapi: u8, tei: u8, kind: FrameKind<'a>) -> FrameRepr<'a> {
        FrameRepr { sapi, tei, cr: CommandResponse::Command.cr_bit(sender), kind }
    }

    /// A frame that `sender` sends as a response.
    pub const fn response(sender: Role, sapi: u8, tei: u8, kind: FrameKind<'a>) -> FrameRepr<'a> {
        FrameRepr { sapi, tei, cr: CommandResponse::Response.cr_bit(sender), kind }
    }

    /// Whether this frame is a command or a response, given who sent it.
    pub const fn command_response(&self, sender: Role) -> CommandResponse {
        CommandResponse::from_cr_bit(self.cr, sender)
    }

    /// Decodes a frame. The view's length is checked again here, so a
    /// view made with `new_unchecked` is safe too.
    ///
    /// Errors: [`Error::Truncated`], [`Error::LapdAddress`] for bad EA
    /// bits, [`Error::LapdControl`] for undefined control fields,
    /// [`Error::LapdInfoNotPermitted`] for S/U frames with a stray
    /// information field. The N201 limit is left to the data link.
    pub fn parse(frame: &Frame<&'a [u8]>) -> Result<FrameRepr<'a>, Error> {
        match Self::parse_with_stray_info(frame)? {
            (repr, []) => Ok(repr),
            _ => Err(Error::LapdInfoNotPermitted),
        }
    }

    /// Decodes a frame like [`parse`](FrameRepr::parse), except that a
    /// frame type without an information field (S frames, SABME, DM,
    /// DISC, UA) that arrives with one is still decoded: the stray octets
    /// are returned beside it (empty in a well-formed frame) instead of
    /// [`Error::LapdInfoNotPermitted`].
    ///
    /// This is for the data link, which needs the frame type and C/R bit of
    /// such a frame to decide how to treat it (Q.921 §5.8.5: MDL-ERROR M or
    /// N and re-establishment, or nothing for a frame not meant for it).
    pub fn parse_with_stray_info(frame: &Frame<&'a [u8]>) -> Result<(FrameRepr<'a>, &'a [u8]), Error> {
        frame.check_len()?;
        if frame.ea0() || !frame.ea1() {
            return Err(Error::LapdAddress);
        }
        decode(frame.buffer)
    }

    /// Decodes untrusted bytes: `parse(&Frame::new_checked(data)?)`.
    pub fn parse_bytes(data: &'a [u8]) -> Result<FrameRepr<'a>, Error> {
        Self::parse(&Frame::new_checked(data)?)
    }

    /// Length of the emitted frame (address + control + information).
    pub fn buffer_len(&self) -> usize {
        ADDRESS_LEN + self.kind.control_len() + self.kind.info().len()
    }

    /// Writes the frame into `frame`, whose buffer must be at least
    /// [`buffer_len`](FrameRepr::buffer_len) octets; extra octets are left
    /// alone. Out-of-range fields are masked to their widths.
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(&self, frame: &mut Frame<T>) -> Result<(), Error> {
        if frame.buffer.as_ref().len() < self.buffer_len() {
            return Err(Error::BufferTooSmall);
        }
        frame.set_address(self.sapi, self.cr, self.tei);
        let u = |code: u8, pf: bool| code | if pf { control::PF_U } else { 0 };
        match self.kind {
            FrameKind::I { ns, nr, p, .. } => {
                frame.set_ns(ns);
                frame.set_nr_pf(nr, p);
            }
            FrameKind::Rr { nr, pf } => {
                frame.set_control(control::RR);
                frame.set_nr_pf(nr, pf);
            }
            FrameKind::Rnr { nr, pf } => {
                frame.set_control(control::RNR);
                frame.set_nr_pf(nr, pf);
            }
            FrameKind::Rej { nr, pf } => {
                frame.set_control(control::REJ);
                frame.set_nr_pf(nr, pf);
            }
            FrameKind::Sabme { p } => frame.set_control(u(control::SABME, p)),
            FrameKind::Dm { f } => frame.set_control(u(control::DM, f)),
            FrameKind::Ui { p, .. } => frame.set_control(u(control::UI, p)),
            FrameKind::Disc { p } => frame.set_control(u(control::DISC, p)),
            FrameKind::Ua { f } => frame.set_control(u(control::UA, f)),
            FrameKind::Frmr { f, .. } => frame.set_control(u(control::FRMR, f)),
            FrameKind::Xid { pf, .. } => frame.set_control(u(control::XID, pf)),
        }
        let info = self.kind.info();
        let start = ADDRESS_LEN + self.kind.control_len();
        frame.buffer.as_mut()[start..start + info.len()].copy_from_slice(info);
        Ok(())
    }

    /// Emits into a new vector.
    pub fn to_vec(&self) -> Vec<u8> {
        let mut buf = vec![0; self.buffer_len()];
        // Cannot fail: the buffer has exactly `buffer_len()` octets.
        let _ = self.emit(&mut Frame::new_unchecked(&mut buf[..]));
        buf
    }
}

/// The information field of an FRMR response in modulo-128 operation
/// (Q.921 §3.6.11, Figure 6): the rejected control field, V(S), C/R of
/// the rejected frame, V(R), and the error flags W, X, Y, Z.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct FrmrInfo {
    /// Control field of the rejected frame (second octet 0 if it had one).
    pub rejected_control: [u8; 2],
    pub vs: u8,
    /// C/R bit of the rejected frame.
    pub cr: bool,
    pub vr: u8,
    /// W: undefined or not implemented control field.
    pub w: bool,
    /// X: information field not permitted (with W).
    pub x: bool,
    /// Y: information field exceeds N201.
    pub y: bool,
    /// Z: invalid N(R).
    pub z: bool,
}

impl FrmrInfo {
    /// Decodes the first five octets of an FRMR information field.
    pub fn parse(info: &[u8]) -> Option<FrmrInfo> {
        let [c0, c1, vs, vr, flags, ..] = *info else {
            return None;
        };
        Some(FrmrInfo {
            rejected_control: [c0, c1],
            vs: vs >> 1,
            cr: vr & 0x01 != 0,
            vr: vr >> 1,
            w: flags & 0x01 != 0,
            x: flags & 0x02 != 0,
            y: flags & 0x04 != 0,
            z: flags & 0x08 != 0,
        })
    }

    /// The five information field octets.
    pub fn to_bytes(&self) -> [u8; 5] {
        let flags = u8::from(self.w) | u8::from(self.x) << 1 | u8::from(self.y) << 2 | u8::from(self.z) << 3;
        [self.rejected_control[0], self.rejected_control[1], (self.vs & 0x7F) << 1, (self.vr & 0x7F) << 1 | u8::from(self.cr), flags]
    }
}

/// Decodes address and control of a frame whose length and EA bits were
/// checked; returns the frame and the octets after the control field that
/// its type has no room for (empty unless the frame is malformed).
fn decode(data: &[u8]) -> Result<(FrameRepr<'_>, &[u8]), Error> {
    let view = Frame::new_unchecked(data);
    let c = view.control();
    let info = data.get(view.header_len()..).unwrap_or(&[]);
    let pf = view.poll_final();
    let kind = match view.format() {
        Format::Information => FrameKind::I { ns: view.ns(), nr: view.nr(), p: pf, info },
        Format::Supervisory => {
            let nr = view.nr();
            match c {
                control::RR => FrameKind::Rr { nr, pf },
                control::RNR => FrameKind::Rnr { nr, pf },
                control::REJ => FrameKind::Rej { nr, pf },
                _ => return Err(Error::LapdControl(c)),
            }
        }
        Format::Unnumbered => match c & control::U_MASK {
            control::SABME => FrameKind::Sabme { p: pf },
            control::DM => FrameKind::Dm { f: pf },
            control::UI => FrameKind::Ui { p: pf, info },
            control::DISC => FrameKind::Disc { p: pf },
            control::UA => FrameKind::Ua { f: pf },
            control::FRMR => FrameKind::Frmr { f: pf, info },
            control::XID => FrameKind::Xid { pf, info },
            _ => return Err(Error::LapdControl(c)),
        },
    };
    let stray = if kind.permits_info() { &[][..] } else { info };
    Ok((FrameRepr { sapi: view.sapi(), tei: view.tei(), cr: view.cr(), kind }, stray))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cr_bit_table() {
        // Q.921 Table 1.
        assert!(CommandResponse::Command.cr_bit(Role::Network));
        assert!(!CommandResponse::Command.cr_bit(Role::User));
        assert!(!CommandResponse::Response.cr_bit(Role::Network));
        assert!(CommandResponse::Response.cr_bit(Role::User));
        for sender in [Role::User, Role::Network] {
            for kind in [CommandResponse::Command, CommandResponse::Response] {
                assert_eq!(CommandResponse::from_cr_bit(kind.cr_bit(sender), sender), kind);
            }
        }
        assert_eq!(Role::User.peer(), Role::Network);
    }

    #[test]
    fn sabme_from_user() {
        // User-side SABME on SAPI 0, TEI 0, P=1: C/R = 0 for a user command.
        let bytes = [0x00, 0x01, 0x7F];
        let f = FrameRepr::parse_bytes(&bytes).unwrap();
        assert_eq!(f, FrameRepr::command(Role::User, 0, 0, FrameKind::Sabme { p: true }));
        assert_eq!(f.command_response(Role::User), CommandResponse::Command);
        assert_eq!(f.to_vec(), bytes);
        // The network answers UA F=1: response from the network, C/R = 0.
        let ua = FrameRepr::response(Role::Network, 0, 0, FrameKind::Ua { f: true });
        assert_eq!(ua.to_vec(), vec![0x00, 0x01, 0x73]);
    }

    #[test]
    fn i_frame_with_q931_payload() {
        // Network I frame: SAPI 0, C/R 1, TEI 0, N(S)=5, N(R)=3, P=0.
        let bytes = [0x02, 0x01, 0x0A, 0x06, 0x08, 0x02, 0x80, 0x01, 0x02];
        let f = FrameRepr::parse_bytes(&bytes).unwrap();
        assert_eq!(f.kind, FrameKind::I { ns: 5, nr: 3, p: false, info: &bytes[4..] });
        assert_eq!(f.command_response(Role::Network), CommandResponse::Command);
        assert_eq!(f.to_vec(), bytes);
        let v = Frame::new_checked(&bytes[..]).unwrap();
        assert_eq!((v.sapi(), v.tei(), v.ns(), v.nr()), (0, 0, 5, 3));
        assert_eq!(v.format(), Format::Information);
    }

    #[test]
    fn sequence_numbers_round_trip_over_the_whole_modulo_128_range() {
        for n in 0..128u8 {
            let m = 127 - n;
            let i = FrameRepr::command(Role::User, 0, 0, FrameKind::I { ns: n, nr: m, p: n % 2 == 0, info: &[0x08] });
            assert_eq!(FrameRepr::parse_bytes(&i.to_vec()), Ok(i));
            let rej = FrameRepr::response(Role::Network, 0, 0, FrameKind::Rej { nr: n, pf: n % 3 == 0 });
            assert_eq!(FrameRepr::parse_bytes(&rej.to_vec()), Ok(rej));
        }
    }

    #[test]
    fn supervisory_frames() {
        let cases: [(&[u8], FrameKind<'_>); 3] = [
            (&[0x00, 0x01, 0x01, 0x0B], FrameKind::Rr { nr: 5, pf: true }),
            (&[0x00, 0x01, 0x05, 0x00], FrameKind::Rnr { nr: 0, pf: false }),
            (&[0x00, 0x01, 0x09, 0xFF], FrameKind::Rej { nr: 127, pf: true }),
        ];
        for (bytes, kind) in cases {
            let f = FrameRepr::parse_bytes(bytes).unwrap();
            assert_eq!(f.kind, kind);
            assert_eq!(f.to_vec(), bytes);
        }
        // Reserved S-frame code and S frame with an info field.
        assert_eq!(FrameRepr::parse_bytes(&[0, 1, 0x0D, 0]), Err(Error::LapdControl(0x0D)));
        assert_eq!(FrameRepr::parse_bytes(&[0, 1, 0x01, 0, 9]), Err(Error::LapdInfoNotPermitted));
    }

    #[test]
    fn unnumbered_frames() {
        let cases: [(u8, FrameKind<'_>); 7] = [
            (0x6F, FrameKind::Sabme { p: false }),
            (0x1F, FrameKind::Dm { f: true }),
            (0x03, FrameKind::Ui { p: false, info: &[] }),
            (0x53, FrameKind::Disc { p: true }),
            (0x63, FrameKind::Ua { f: false }),
            (0x97, FrameKind::Frmr { f: true, info: &[] }),
            (0xAF, FrameKind::Xid { pf: false, info: &[] }),
        ];
        for (c, kind) in cases {
            let bytes = [0xFC, 0xFF, c]; // SAPI 63, TEI 127
            let f = FrameRepr::parse_bytes(&bytes).unwrap();
            assert_eq!((f.sapi, f.tei, f.kind), (SAPI_MANAGEMENT, TEI_GROUP, kind));
            assert_eq!(f.to_vec(), bytes);
        }
        // TEI management UI frame carries an info field.
        let ui = [0xFC, 0xFF, 0x03, 0x0F, 0x12, 0x34, 0x01, 0xFF];
        let f = FrameRepr::parse_bytes(&ui).unwrap();
        assert_eq!(f.kind.info(), &ui[3..]);
        assert_eq!(FrameRepr::parse_bytes(&[0, 1, 0x7F, 0]), Err(Error::LapdInfoNotPermitted));
        assert_eq!(FrameRepr::parse_bytes(&[0, 1, 0x2F]), Err(Error::LapdControl(0x2F)));
    }

    #[test]
    fn stray_information_field_is_returned_beside_the_frame() {
        // RR command from the network with one octet too many, SABME from the
        // user with an information field: `parse` rejects both, the lenient
        // parse keeps the frame type and hands back the extra octets.
        let rr = [0x02, 0x01, 0x01, 0x0A, 0xFF];
        let sabme = [0x00, 0x01, 0x7F, 0x00, 0x01];
        for (bytes, kind) in [(&rr[..], FrameKind::Rr { nr: 5, pf: false }), (&sabme[..], FrameKind::Sabme { p: true })] {
            let view = Frame::new_checked(bytes).unwrap();
            assert_eq!(FrameRepr::parse(&view), Err(Error::LapdInfoNotPermitted));
            let (repr, stray) = FrameRepr::parse_with_stray_info(&view).unwrap();
            assert_eq!((repr.kind, stray), (kind, &bytes[view.header_len()..]));
            assert!(!repr.kind.permits_info());
        }
        // Frame types with an information field keep it in the frame.
        let ui = [0x02, 0x01, 0x03, 0x08, 0x01];
        let (repr, stray) = FrameRepr::parse_with_stray_info(&Frame::new_checked(&ui[..]).unwrap()).unwrap();
        assert_eq!((repr.kind, stray), (FrameKind::Ui { p: false, info: &ui[3..] }, &[][..]));
        assert!(repr.kind.permits_info());
        // Undefined control fields and bad addresses are errors either way.
        assert_eq!(FrameRepr::parse_with_stray_info(&Frame::new_unchecked(&[0, 1, 0x0D, 0, 9][..])), Err(Error::LapdControl(0x0D)));
        assert_eq!(FrameRepr::parse_with_stray_info(&Frame::new_unchecked(&[1, 1, 0x7F, 0][..])), Err(Error::LapdAddress));
    }

    #[test]
    fn bad_frames() {
        assert_eq!(FrameRepr::parse_bytes(&[]), Err(Error::Truncated));
        assert_eq!(FrameRepr::parse_bytes(&[0, 1]), Err(Error::Truncated));
        assert_eq!(FrameRepr::parse_bytes(&[0, 1, 0x00]), Err(Error::Truncated));
        assert_eq!(FrameRepr::parse_bytes(&[0x01, 0x01, 0x7F]), Err(Error::LapdAddress));
        assert_eq!(FrameRepr::parse_bytes(&[0x00, 0x00, 0x7F]), Err(Error::LapdAddress));
        // An unchecked short view does not panic either.
        let v = Frame::new_unchecked(&[][..]);
        assert_eq!((v.sapi(), v.tei(), v.info()), (0, 0, &[][..]));
        assert_eq!(FrameRepr::parse(&v), Err(Error::Truncated));
    }

    #[test]
    fn command_response_rules() {
        assert!(FrameKind::Sabme { p: true }.allowed_as(CommandResponse::Command));
        assert!(!FrameKind::Sabme { p: true }.allowed_as(CommandResponse::Response));
        assert!(!FrameKind::Ua { f: true }.allowed_as(CommandResponse::Command));
        assert!(FrameKind::Rr { nr: 0, pf: false }.allowed_as(CommandResponse::Response));
    }

    #[test]
    fn emit_into_view_and_setters() {
        let repr = FrameRepr::command(Role::Network, 0, 0, FrameKind::I { ns: 127, nr: 64, p: true, info: b"abc" });
        let mut buf = [0u8; 10];
        assert_eq!(repr.emit(&mut Frame::new_unchecked(&mut buf[..3])), Err(Error::BufferTooSmall));
        repr.emit(&mut Frame::new_unchecked(&mut buf[..])).unwrap();
        assert_eq!(&buf[..7], &[0x02, 0x01, 0xFE, 0x81, b'a', b'b', b'c']);
        let mut f = Frame::new_checked(&mut buf[..7]).unwrap();
        f.set_tei(5);
        f.set_sapi(16);
        f.set_cr(false);
        f.info_mut()[0] = b'z';
        assert_eq!((f.sapi(), f.cr(), f.tei(), f.ea0(), f.ea1()), (16, false, 5, false, true));
        assert_eq!(f.info(), b"zbc");
    }

    #[test]
    fn frmr_info() {
        let info = [0x01, 0x0B, 0x0A, 0x07, 0x01];
        let i = FrmrInfo::parse(&info).unwrap();
        assert_eq!(i.rejected_control, [0x01, 0x0B]);
        assert_eq!((i.vs, i.vr, i.cr), (5, 3, true));
        assert!(i.w && !i.x && !i.y && !i.z);
        assert_eq!(i.to_bytes(), info);
        assert!(FrmrInfo::parse(&info[..4]).is_none());
    }
}
