//! Q.931 information elements (ITU-T Q.931 §4.5, Q.932, Q.951, ANSI
//! T1.607 / Telcordia NI-2, ETSI EN 300 403, ECMA-143).
//!
//! Each typed IE has a zero-copy view over its *contents* (the octets
//! after the identifier and length octets), e.g. [`Cause`], and a repr,
//! e.g. [`CauseRepr`], with `parse(&View<&[u8]>)`, `parse_bytes(&[u8])`,
//! `buffer_len()`, `emit(&mut View<&mut [u8]>)` and `to_vec()`. Decoders
//! are strict: anything they accept re-emits to the same octets, so
//! `emit(parse(x)) == x` for every accepted `x`.
//!
//! [`IeRepr`] ties them together: one variant per typed IE, plus
//! [`IeRepr::Unknown`] (IEs we do not decode, kept verbatim with codeset
//! and identifier) and [`IeRepr::Malformed`] (a known IE whose contents
//! failed to decode, also kept verbatim, for cause 100 handling).

mod bearer;
mod cause;
mod channel;
mod compat;
pub mod facility;
mod number;
mod simple;

pub use bearer::{BearerCapability, BearerCapabilityRepr, InfoTransferCapability, Layer1Protocol, LayerInfo, TransferMode, TransferRate};
pub use cause::{Cause, CauseRepr, CauseValue};
pub use channel::{ChannelId, ChannelIdRepr, ChannelList, ChannelSelection, ChannelSpec, ChannelUnits, InterfaceType};
pub use compat::{HighLayerCompat, HighLayerCompatRepr, LowLayerCompat, LowLayerCompatRepr};
pub use facility::{Facility, FacilityRepr};
pub use number::{NumberKind, NumberingPlan, PartyNumber, PartyNumberRepr, Presentation, RedirectReason, Screening, TypeOfNumber};
pub use simple::{
    CallState, CallStateRepr, CallStateValue, ChangeStatus, ChangeStatusRepr, DateTime, DateTimeRepr, Display, DisplayRepr, KeypadFacility, KeypadFacilityRepr,
    NotificationIndicator, NotificationIndicatorRepr, ProgressDescription, ProgressIndicator, ProgressIndicatorRepr, RestartClass, RestartIndicator,
    RestartIndicatorRepr, ServiceStatus, Signal, SignalRepr, SignalValue, UserUser, UserUserRepr,
};

use super::Error;
use core::fmt;

/// An information element identifier within its codeset.
///
/// For single-octet IEs, `id` is the whole octet for type 2 IEs (sending
/// complete 0xA1, more data 0xA0) and the identifier nibble with zero
/// contents for type 1 IEs (congestion level 0xB0, repeat indicator
/// 0xD0, shift 0x90) — the form used in cause diagnostics.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct IeId {
    /// Codeset 0 (Q.931), 4 (ISO/IEC), 5 (national), 6 (local network)
    /// or 7 (user-specific); 1–3 are reserved.
    pub codeset: u8,
    /// The identifier octet.
    pub id: u8,
}

impl IeId {
    pub const fn new(codeset: u8, id: u8) -> IeId {
        IeId { codeset, id }
    }
    /// An identifier in codeset 0.
    pub const fn cs0(id: u8) -> IeId {
        IeId { codeset: 0, id }
    }

    pub const SHIFT: IeId = IeId::cs0(0x90);
    pub const MORE_DATA: IeId = IeId::cs0(0xA0);
    pub const SENDING_COMPLETE: IeId = IeId::cs0(0xA1);
    pub const CONGESTION_LEVEL: IeId = IeId::cs0(0xB0);
    pub const REPEAT_INDICATOR: IeId = IeId::cs0(0xD0);
    pub const SEGMENTED_MESSAGE: IeId = IeId::cs0(0x00);
    pub const CHANGE_STATUS: IeId = IeId::cs0(0x01);
    pub const BEARER_CAPABILITY: IeId = IeId::cs0(0x04);
    pub const CAUSE: IeId = IeId::cs0(0x08);
    pub const CALL_IDENTITY: IeId = IeId::cs0(0x10);
    pub const CALL_STATE: IeId = IeId::cs0(0x14);
    pub const CHANNEL_ID: IeId = IeId::cs0(0x18);
    pub const FACILITY: IeId = IeId::cs0(0x1C);
    pub const PROGRESS_INDICATOR: IeId = IeId::cs0(0x1E);
    pub const NETWORK_SPECIFIC_FACILITIES: IeId = IeId::cs0(0x20);
    pub const NOTIFICATION_INDICATOR: IeId = IeId::cs0(0x27);
    pub const DISPLAY: IeId = IeId::cs0(0x28);
    pub const DATE_TIME: IeId = IeId::cs0(0x29);
    pub const KEYPAD_FACILITY: IeId = IeId::cs0(0x2C);
    pub const SIGNAL: IeId = IeId::cs0(0x34);
    pub const INFORMATION_RATE: IeId = IeId::cs0(0x40);
    pub const END_TO_END_TRANSIT_DELAY: IeId = IeId::cs0(0x42);
    pub const TRANSIT_DELAY_SELECTION: IeId = IeId::cs0(0x43);
    pub const PACKET_LAYER_BINARY_PARAMETERS: IeId = IeId::cs0(0x44);
    pub const PACKET_LAYER_WINDOW_SIZE: IeId = IeId::cs0(0x45);
    pub const PACKET_SIZE: IeId = IeId::cs0(0x46);
    pub const CLOSED_USER_GROUP: IeId = IeId::cs0(0x47);
    pub const REVERSE_CHARGE_INDICATION: IeId = IeId::cs0(0x4A);
    pub const CONNECTED_NUMBER: IeId = IeId::cs0(0x4C);
    pub const CONNECTED_SUBADDRESS: IeId = IeId::cs0(0x4D);
    pub const CALLING_NUMBER: IeId = IeId::cs0(0x6C);
    pub const CALLING_SUBADDRESS: IeId = IeId::cs0(0x6D);
    pub const CALLED_NUMBER: IeId = IeId::cs0(0x70);
    pub const CALLED_SUBADDRESS: IeId = IeId::cs0(0x71);
    pub const REDIRECTING_NUMBER: IeId = IeId::cs0(0x74);
    pub const REDIRECTION_NUMBER: IeId = IeId::cs0(0x76);
    pub const TRANSIT_NETWORK_SELECTION: IeId = IeId::cs0(0x78);
    pub const RESTART_INDICATOR: IeId = IeId::cs0(0x79);
    pub const LOW_LAYER_COMPAT: IeId = IeId::cs0(0x7C);
    pub const HIGH_LAYER_COMPAT: IeId = IeId::cs0(0x7D);
    pub const USER_USER: IeId = IeId::cs0(0x7E);
    pub const ESCAPE: IeId = IeId::cs0(0x7F);

    /// The identifier of a single-octet IE octet `b` (bit 8 set): type 2
    /// IEs (0xA_) keep the whole octet, type 1 IEs keep the upper nibble.
    pub const fn single_octet(codeset: u8, b: u8) -> IeId {
        if b & 0xF0 == 0xA0 { IeId::new(codeset, b) } else { IeId::new(codeset, b & 0xF0) }
    }

    /// Single-octet IE (bit 8 of the identifier set).
    pub const fn is_single_octet(self) -> bool {
        self.id & 0x80 != 0
    }

    /// "Comprehension required" (Q.931 §4.5.1, Table 4-3 note): codeset 0
    /// variable-length identifiers with bits 8–5 = 0000. An unrecognized
    /// such IE is handled like a missing mandatory IE (cause 96).
    pub const fn comprehension_required(self) -> bool {
        self.codeset == 0 && self.id & 0xF0 == 0
    }

    /// The name of a codeset-0 IE defined by Q.931/Q.932/Q.951 or NI-2.
    pub fn name(self) -> Option<&'static str> {
        if self.codeset != 0 {
            return None;
        }
        Some(match self.id {
            0x90 => "shift",
            0xA0 => "more data",
            0xA1 => "sending complete",
            0xB0 => "congestion level",
            0xD0 => "repeat indicator",
            0x00 => "segmented message",
            0x01 => "change status",
            0x04 => "bearer capability",
            0x08 => "cause",
            0x10 => "call identity",
            0x14 => "call state",
            0x18 => "channel identification",
            0x1C => "facility",
            0x1E => "progress indicator",
            0x20 => "network-specific facilities",
            0x27 => "notification indicator",
            0x28 => "display",
            0x29 => "date/time",
            0x2C => "keypad facility",
            0x34 => "signal",
            0x40 => "information rate",
            0x42 => "end-to-end transit delay",
            0x43 => "transit delay selection and indication",
            0x44 => "packet layer binary parameters",
            0x45 => "packet layer window size",
            0x46 => "packet size",
            0x47 => "closed user group",
            0x4A => "reverse charge indication",
            0x4C => "connected number",
            0x4D => "connected subaddress",
            0x6C => "calling party number",
            0x6D => "calling party subaddress",
            0x70 => "called party number",
            0x71 => "called party subaddress",
            0x74 => "redirecting number",
            0x76 => "redirection number",
            0x78 => "transit network selection",
            0x79 => "restart indicator",
            0x7C => "low layer compatibility",
            0x7D => "high layer compatibility",
            0x7E => "user-user",
            0x7F => "escape for extension",
            _ => return None,
        })
    }
}

impl fmt::Display for IeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.codeset != 0 {
            write!(f, "codeset {} ", self.codeset)?;
        }
        write!(f, "{:#04x}", self.id)?;
        if let Some(name) = self.name() {
            write!(f, " ({name})")?;
        }
        Ok(())
    }
}

/// Coding standard (2 bits) used by many IEs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum CodingStandard {
    /// ITU-T standardized coding (0).
    Itu,
    /// ISO/IEC standard (1).
    IsoIec,
    /// National standard (2), e.g. ANSI T1.607 / NI-2 extensions.
    National,
    /// Standard defined for the network (public or private) (3).
    Network,
}

impl CodingStandard {
    pub const fn from_bits(b: u8) -> CodingStandard {
        match b & 3 {
            0 => CodingStandard::Itu,
            1 => CodingStandard::IsoIec,
            2 => CodingStandard::National,
            _ => CodingStandard::Network,
        }
    }
    pub const fn bits(self) -> u8 {
        self as u8
    }
}

/// Defines a `u8`-coded enum with an `Other(u8)` catch-all, `from_bits`
/// (masks, then maps) and `bits`. `from_bits` never yields `Other` for a
/// named value, so `from_bits(x.bits()) == x` for every value it yields.
macro_rules! coded_enum {
    ($(#[$m:meta])* $name:ident : $mask:tt {
        $($(#[$vm:meta])* $var:ident = $val:expr),* $(,)?
    }) => {
        $(#[$m])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum $name {
            $($(#[$vm])* $var,)*
            /// Any other value (masked to the field width).
            Other(u8),
        }

        impl $name {
            /// Decodes the field (masking it to its width).
            pub const fn from_bits(b: u8) -> Self {
                match b & $mask {
                    $($val => Self::$var,)*
                    b => Self::Other(b),
                }
            }

            /// The field value.
            pub const fn bits(self) -> u8 {
                match self {
                    $(Self::$var => $val,)*
                    Self::Other(b) => b & $mask,
                }
            }
        }
    };
}
pub(crate) use coded_enum;

coded_enum! {
    /// Location (4 bits) in cause and progress indicator IEs (Q.850 §2.2.6).
    Location: 0x0F {
        /// User (0).
        User = 0,
        /// Private network serving the local user (1).
        PrivateLocal = 1,
        /// Public network serving the local user (2).
        PublicLocal = 2,
        /// Transit network (3).
        Transit = 3,
        /// Public network serving the remote user (4).
        PublicRemote = 4,
        /// Private network serving the remote user (5).
        PrivateRemote = 5,
        /// International network (7).
        International = 7,
        /// Network beyond interworking point (10).
        BeyondInterworking = 10,
    }
}

/// Defines a zero-copy view over IE contents with the common methods.
/// The view type must also provide `fn check(&self) -> Result<(), Error>`.
macro_rules! ie_view {
    ($(#[$attr:meta])* $name:ident) => {
        $(#[$attr])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub struct $name<T: AsRef<[u8]>> {
            buffer: T,
        }

        impl<T: AsRef<[u8]>> $name<T> {
            /// Wraps IE contents (the octets after identifier and length)
            /// without checking. Accessors do not panic on unchecked
            /// buffers but may return meaningless values.
            pub const fn new_unchecked(buffer: T) -> Self {
                Self { buffer }
            }

            /// Wraps IE contents after validating their structure.
            pub fn new_checked(buffer: T) -> Result<Self, Error> {
                let view = Self { buffer };
                view.check()?;
                Ok(view)
            }

            /// Returns the underlying buffer.
            pub fn into_inner(self) -> T {
                self.buffer
            }

            /// The IE contents.
            pub fn contents(&self) -> &[u8] {
                self.buffer.as_ref()
            }

            #[allow(dead_code)]
            fn byte(&self, i: usize) -> u8 {
                self.buffer.as_ref().get(i).copied().unwrap_or(0)
            }

            #[allow(dead_code)]
            fn tail(&self, from: usize) -> &[u8] {
                self.buffer.as_ref().get(from..).unwrap_or(&[])
            }
        }

        impl<T: AsRef<[u8]> + AsMut<[u8]>> $name<T> {
            #[allow(dead_code)]
            fn set_byte(&mut self, i: usize, v: u8) {
                if let Some(b) = self.buffer.as_mut().get_mut(i) {
                    *b = v;
                }
            }

            #[allow(dead_code)]
            fn set_bits(&mut self, i: usize, mask: u8, v: u8) {
                let old = self.byte(i);
                self.set_byte(i, (old & !mask) | (v & mask));
            }

            /// Mutable IE contents.
            pub fn contents_mut(&mut self) -> &mut [u8] {
                self.buffer.as_mut()
            }
        }
    };
}
pub(crate) use ie_view;

/// Implements the smoltcp-style repr methods on top of `decode`/`encode`.
macro_rules! ie_repr {
    ($repr:ident, $view:ident) => {
        impl $repr {
            /// Decodes the contents behind a view (checked again here).
            pub fn parse(view: &$view<&[u8]>) -> Result<$repr, Error> {
                Self::decode(view.contents())
            }

            /// Decodes untrusted IE contents.
            pub fn parse_bytes(contents: &[u8]) -> Result<$repr, Error> {
                Self::decode(contents)
            }

            /// Length of the emitted contents.
            pub fn buffer_len(&self) -> usize {
                let mut v = Vec::new();
                self.encode(&mut v);
                v.len()
            }

            /// Writes the contents at the start of the view's buffer.
            pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(&self, view: &mut $view<T>) -> Result<(), Error> {
                let mut v = Vec::new();
                self.encode(&mut v);
                let out = view.contents_mut();
                if out.len() < v.len() {
                    return Err(Error::BufferTooSmall);
                }
                out[..v.len()].copy_from_slice(&v);
                Ok(())
            }

            /// The emitted contents as a new vector.
            pub fn to_vec(&self) -> Vec<u8> {
                let mut v = Vec::new();
                self.encode(&mut v);
                v
            }
        }
    };
}
pub(crate) use ie_repr;

/// Splits an extension-bit octet group starting at `at`: returns the
/// index one past the octet whose bit 8 is 1, or `None` if the contents
/// end first.
pub(crate) fn ext_group_end(data: &[u8], at: usize) -> Option<usize> {
    let mut i = at;
    loop {
        let b = *data.get(i)?;
        i += 1;
        if b & 0x80 != 0 {
            return Some(i);
        }
    }
}

/// True if every octet is IA5 (bit 8 = 0).
pub(crate) fn is_ia5(data: &[u8]) -> bool {
    data.iter().all(|b| b & 0x80 == 0)
}

/// An information element kept verbatim.
///
/// For single-octet IEs, `id` is the whole octet and `data` is empty.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct RawIe {
    pub codeset: u8,
    pub id: u8,
    pub data: Vec<u8>,
}

impl RawIe {
    /// The identifier in cause-diagnostic form (see [`IeId`]).
    pub fn ie_id(&self) -> IeId {
        if self.id & 0x80 != 0 { IeId::single_octet(self.codeset, self.id) } else { IeId::new(self.codeset, self.id) }
    }

    /// Tries the typed decoder for this IE; `Err(UnrecognizedIe)` if there
    /// is none, `Err(InvalidIe)` if the contents are bad.
    pub fn decode(&self) -> Result<IeRepr, Error> {
        IeRepr::decode(self.codeset, self.id, &self.data)
    }
}

/// A typed information element.
///
/// The typed variants live in codeset 0 (single-octet IEs are codeset
/// independent); everything else is [`IeRepr::Unknown`].
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum IeRepr {
    /// Sending complete (0xA1), Q.931 §4.5.27.
    SendingComplete,
    /// More data (0xA0), Q.931 §4.5.19.
    MoreData,
    /// Congestion level (0xB_): 0 = receiver ready, 15 = not ready.
    CongestionLevel(u8),
    /// Repeat indicator (0xD_): 2 = prioritized list.
    RepeatIndicator(u8),
    BearerCapability(BearerCapabilityRepr),
    Cause(CauseRepr),
    CallState(CallStateRepr),
    ChannelId(ChannelIdRepr),
    Facility(FacilityRepr),
    ProgressIndicator(ProgressIndicatorRepr),
    NotificationIndicator(NotificationIndicatorRepr),
    Display(DisplayRepr),
    DateTime(DateTimeRepr),
    KeypadFacility(KeypadFacilityRepr),
    Signal(SignalRepr),
    ConnectedNumber(PartyNumberRepr),
    CallingNumber(PartyNumberRepr),
    CalledNumber(PartyNumberRepr),
    RedirectingNumber(PartyNumberRepr),
    RestartIndicator(RestartIndicatorRepr),
    /// Change status (0x01), used with SERVICE / SERVICE ACKNOWLEDGE.
    ChangeStatus(ChangeStatusRepr),
    LowLayerCompat(LowLayerCompatRepr),
    HighLayerCompat(HighLayerCompatRepr),
    UserUser(UserUserRepr),
    /// An IE without a typed decoder here (unknown identifier, another
    /// codeset, or a Q.931 IE this crate does not interpret, e.g.
    /// subaddresses). Re-emitted verbatim. Cause 99 if the state machine
    /// chooses to complain ([`IeRepr::error`]).
    Unknown(RawIe),
    /// A known IE whose contents failed to decode. Re-emitted verbatim.
    /// Cause 100 ([`IeRepr::error`]).
    Malformed(RawIe),
}

impl IeRepr {
    /// Decodes one IE; never fails (see [`IeRepr::Unknown`] and
    /// [`IeRepr::Malformed`]). `id` is the identifier octet; for
    /// single-octet IEs the whole octet with `data` empty.
    pub fn parse(codeset: u8, id: u8, data: &[u8]) -> IeRepr {
        match IeRepr::decode(codeset, id, data) {
            Ok(ie) => ie,
            Err(Error::UnrecognizedIe(_)) => IeRepr::Unknown(RawIe { codeset, id, data: data.to_vec() }),
            Err(_) => IeRepr::Malformed(RawIe { codeset, id, data: data.to_vec() }),
        }
    }

    /// Decodes one IE strictly: `Err(UnrecognizedIe)` when there is no
    /// typed decoder, `Err(InvalidIe)` when the contents are invalid.
    pub fn decode(codeset: u8, id: u8, data: &[u8]) -> Result<IeRepr, Error> {
        if id & 0x80 != 0 {
            // Single-octet IEs are coded the same in every codeset.
            return match id & 0xF0 {
                0xA0 if id == 0xA1 => Ok(IeRepr::SendingComplete),
                0xA0 if id == 0xA0 => Ok(IeRepr::MoreData),
                0xB0 => Ok(IeRepr::CongestionLevel(id & 0x0F)),
                0xD0 => Ok(IeRepr::RepeatIndicator(id & 0x0F)),
                _ => Err(Error::UnrecognizedIe(IeId::single_octet(codeset, id))),
            };
        }
        let ie_id = IeId::new(codeset, id);
        if codeset != 0 {
            return Err(Error::UnrecognizedIe(ie_id));
        }
        let bad = |_| Error::InvalidIe(ie_id);
        Ok(match id {
            0x01 => IeRepr::ChangeStatus(ChangeStatusRepr::decode(data).map_err(bad)?),
            0x04 => IeRepr::BearerCapability(BearerCapabilityRepr::decode(data).map_err(bad)?),
            0x08 => IeRepr::Cause(CauseRepr::decode(data).map_err(bad)?),
            0x14 => IeRepr::CallState(CallStateRepr::decode(data).map_err(bad)?),
            0x18 => IeRepr::ChannelId(ChannelIdRepr::decode(data).map_err(bad)?),
            0x1C => IeRepr::Facility(FacilityRepr::decode(data).map_err(bad)?),
            0x1E => IeRepr::ProgressIndicator(ProgressIndicatorRepr::decode(data).map_err(bad)?),
            0x27 => IeRepr::NotificationIndicator(NotificationIndicatorRepr::decode(data).map_err(bad)?),
            0x28 => IeRepr::Display(DisplayRepr::decode(data).map_err(bad)?),
            0x29 => IeRepr::DateTime(DateTimeRepr::decode(data).map_err(bad)?),
            0x2C => IeRepr::KeypadFacility(KeypadFacilityRepr::decode(data).map_err(bad)?),
            0x34 => IeRepr::Signal(SignalRepr::decode(data).map_err(bad)?),
            0x4C => IeRepr::ConnectedNumber(PartyNumberRepr::decode_as(NumberKind::Connected, data).map_err(bad)?),
            0x6C => IeRepr::CallingNumber(PartyNumberRepr::decode_as(NumberKind::Calling, data).map_err(bad)?),
            0x70 => IeRepr::CalledNumber(PartyNumberRepr::decode_as(NumberKind::Called, data).map_err(bad)?),
            0x74 => IeRepr::RedirectingNumber(PartyNumberRepr::decode_as(NumberKind::Redirecting, data).map_err(bad)?),
            0x79 => IeRepr::RestartIndicator(RestartIndicatorRepr::decode(data).map_err(bad)?),
            0x7C => IeRepr::LowLayerCompat(LowLayerCompatRepr::decode(data).map_err(bad)?),
            0x7D => IeRepr::HighLayerCompat(HighLayerCompatRepr::decode(data).map_err(bad)?),
            0x7E => IeRepr::UserUser(UserUserRepr::decode(data).map_err(bad)?),
            _ => return Err(Error::UnrecognizedIe(ie_id)),
        })
    }

    /// The codeset this IE is emitted in.
    pub fn codeset(&self) -> u8 {
        match self {
            IeRepr::Unknown(raw) | IeRepr::Malformed(raw) => raw.codeset & 0x07,
            _ => 0,
        }
    }

    /// The identifier octet as emitted (for single-octet IEs the whole
    /// octet).
    pub fn id_octet(&self) -> u8 {
        match self {
            IeRepr::SendingComplete => 0xA1,
            IeRepr::MoreData => 0xA0,
            IeRepr::CongestionLevel(l) => 0xB0 | (l & 0x0F),
            IeRepr::RepeatIndicator(r) => 0xD0 | (r & 0x0F),
            IeRepr::BearerCapability(_) => 0x04,
            IeRepr::Cause(_) => 0x08,
            IeRepr::CallState(_) => 0x14,
            IeRepr::ChannelId(_) => 0x18,
            IeRepr::Facility(_) => 0x1C,
            IeRepr::ProgressIndicator(_) => 0x1E,
            IeRepr::NotificationIndicator(_) => 0x27,
            IeRepr::Display(_) => 0x28,
            IeRepr::DateTime(_) => 0x29,
            IeRepr::KeypadFacility(_) => 0x2C,
            IeRepr::Signal(_) => 0x34,
            IeRepr::ConnectedNumber(_) => 0x4C,
            IeRepr::CallingNumber(_) => 0x6C,
            IeRepr::CalledNumber(_) => 0x70,
            IeRepr::RedirectingNumber(_) => 0x74,
            IeRepr::RestartIndicator(_) => 0x79,
            IeRepr::ChangeStatus(_) => 0x01,
            IeRepr::LowLayerCompat(_) => 0x7C,
            IeRepr::HighLayerCompat(_) => 0x7D,
            IeRepr::UserUser(_) => 0x7E,
            IeRepr::Unknown(raw) | IeRepr::Malformed(raw) => raw.id,
        }
    }

    /// The IE identifier (codeset and identifier, diagnostic form).
    pub fn id(&self) -> IeId {
        let octet = self.id_octet();
        if octet & 0x80 != 0 { IeId::single_octet(self.codeset(), octet) } else { IeId::new(self.codeset(), octet) }
    }

    /// True for single-octet IEs.
    pub fn is_single_octet(&self) -> bool {
        self.id_octet() & 0x80 != 0
    }

    /// What Q.931 §5.8.7 makes of this IE as received: `InvalidIe`
    /// (cause 100) for [`IeRepr::Malformed`]; for [`IeRepr::Unknown`]
    /// `MandatoryIeMissing` (cause 96) if comprehension is required,
    /// else `UnrecognizedIe` (cause 99); `None` for typed IEs.
    pub fn error(&self) -> Option<Error> {
        match self {
            IeRepr::Malformed(raw) => Some(Error::InvalidIe(raw.ie_id())),
            IeRepr::Unknown(raw) => {
                let id = raw.ie_id();
                Some(if id.comprehension_required() { Error::MandatoryIeMissing(id) } else { Error::UnrecognizedIe(id) })
            }
            _ => None,
        }
    }

    /// Appends the contents (no identifier/length octets).
    pub fn encode_contents(&self, out: &mut Vec<u8>) {
        match self {
            IeRepr::SendingComplete | IeRepr::MoreData | IeRepr::CongestionLevel(_) | IeRepr::RepeatIndicator(_) => {}
            IeRepr::BearerCapability(r) => r.encode(out),
            IeRepr::Cause(r) => r.encode(out),
            IeRepr::CallState(r) => r.encode(out),
            IeRepr::ChannelId(r) => r.encode(out),
            IeRepr::Facility(r) => r.encode(out),
            IeRepr::ProgressIndicator(r) => r.encode(out),
            IeRepr::NotificationIndicator(r) => r.encode(out),
            IeRepr::Display(r) => r.encode(out),
            IeRepr::DateTime(r) => r.encode(out),
            IeRepr::KeypadFacility(r) => r.encode(out),
            IeRepr::Signal(r) => r.encode(out),
            IeRepr::ConnectedNumber(r) | IeRepr::CallingNumber(r) | IeRepr::CalledNumber(r) | IeRepr::RedirectingNumber(r) => r.encode(out),
            IeRepr::RestartIndicator(r) => r.encode(out),
            IeRepr::ChangeStatus(r) => r.encode(out),
            IeRepr::LowLayerCompat(r) => r.encode(out),
            IeRepr::HighLayerCompat(r) => r.encode(out),
            IeRepr::UserUser(r) => r.encode(out),
            IeRepr::Unknown(raw) | IeRepr::Malformed(raw) => {
                if raw.id & 0x80 == 0 {
                    out.extend_from_slice(&raw.data)
                }
            }
        }
    }

    /// Length of the whole IE on the wire (1 for single-octet IEs, else
    /// 2 + contents).
    pub fn buffer_len(&self) -> usize {
        if self.is_single_octet() {
            1
        } else {
            let mut v = Vec::new();
            self.encode_contents(&mut v);
            2 + v.len()
        }
    }

    /// Appends the whole IE (identifier, length, contents); no shift.
    /// Fails with [`Error::IeTooLong`] if the contents exceed 255 octets.
    pub fn encode(&self, out: &mut Vec<u8>) -> Result<(), Error> {
        let octet = self.id_octet();
        if octet & 0x80 != 0 {
            out.push(octet);
            return Ok(());
        }
        let start = out.len();
        out.push(octet);
        out.push(0);
        self.encode_contents(out);
        let len = out.len() - start - 2;
        if len > 255 {
            out.truncate(start);
            return Err(Error::IeTooLong(self.id()));
        }
        out[start + 1] = len as u8;
        Ok(())
    }

    /// The whole IE as a new vector.
    pub fn to_vec(&self) -> Result<Vec<u8>, Error> {
        let mut v = Vec::new();
        self.encode(&mut v)?;
        Ok(v)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn single_octet_ids() {
        assert_eq!(IeRepr::parse(0, 0xA1, &[]), IeRepr::SendingComplete);
        assert_eq!(IeRepr::parse(0, 0xB3, &[]), IeRepr::CongestionLevel(3));
        assert_eq!(IeRepr::parse(0, 0xD2, &[]), IeRepr::RepeatIndicator(2));
        assert_eq!(IeRepr::RepeatIndicator(2).id(), IeId::REPEAT_INDICATOR);
        let unk = IeRepr::parse(0, 0xC5, &[]);
        assert_eq!(unk.id(), IeId::cs0(0xC0));
        assert_eq!(unk.to_vec().unwrap(), vec![0xC5]);
    }

    #[test]
    fn unknown_and_malformed_are_kept() {
        let ie = IeRepr::parse(6, 0x28, b"abc");
        assert!(matches!(ie, IeRepr::Unknown(_)));
        assert_eq!(ie.to_vec().unwrap(), vec![0x28, 3, b'a', b'b', b'c']);
        assert_eq!(ie.error(), Some(Error::UnrecognizedIe(IeId::new(6, 0x28))));
        // Bearer capability with a single octet is invalid contents.
        let bad = IeRepr::parse(0, 0x04, &[0x80]);
        assert!(matches!(bad, IeRepr::Malformed(_)));
        assert_eq!(bad.error().unwrap().cause(), Some(CauseValue::INVALID_IE_CONTENTS));
        // Unknown comprehension-required IE: cause 96.
        let cr = IeRepr::parse(0, 0x0B, &[1]);
        assert_eq!(cr.error(), Some(Error::MandatoryIeMissing(IeId::cs0(0x0B))));
    }

    #[test]
    fn too_long_ie_is_an_error_not_a_panic() {
        let ie = IeRepr::Display(DisplayRepr { display_type: None, text: vec![b'x'; 300] });
        assert_eq!(ie.to_vec(), Err(Error::IeTooLong(IeId::DISPLAY)));
    }

    #[test]
    fn ie_id_display() {
        assert_eq!(IeId::CAUSE.to_string(), "0x08 (cause)");
        assert_eq!(IeId::new(6, 0x7b).to_string(), "codeset 6 0x7b");
    }
}
