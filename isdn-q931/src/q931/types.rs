//! The plain data types of the call-control API: identifiers, channels,
//! numbers, names, bearer and cause, and the call states.

use core::fmt;

use crate::wire::CauseValue;
use crate::wire::ie::{InfoTransferCapability, Layer1Protocol, Location, NumberingPlan, Presentation, RedirectReason, Screening, TypeOfNumber};

/// Which side of the interface this stack is.
///
/// For QSIG (symmetric signalling between PINXs) [`Side::Network`] is side
/// A and [`Side::User`] side B: side A wins B-channel contention, as the
/// network does on a user-network interface.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Side {
    /// The network side (an exchange, or a gateway emulating one); QSIG
    /// side A.
    Network,
    /// The user side (PBX, terminal equipment); QSIG side B.
    User,
}

impl Side {
    /// The other side.
    pub const fn peer(self) -> Side {
        match self {
            Side::Network => Side::User,
            Side::User => Side::Network,
        }
    }
}

/// Identifies a data link (D-channel) of a [`Pri`](crate::Pri), as
/// configured.
pub type LinkId = u16;

/// Identifies one call for its whole life, across all events and
/// commands. Never reused by one stack.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CallId(pub u64);

impl fmt::Display for CallId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "call#{}", self.0)
    }
}

/// A B-channel: the interface (the NFAS interface identifier, or the only
/// interface's configured id) and the channel number on it (1–24 on a T1,
/// the time slot 1–31 on an E1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ChannelRef {
    pub interface: u8,
    pub channel: u8,
}

impl ChannelRef {
    pub const fn new(interface: u8, channel: u8) -> ChannelRef {
        ChannelRef { interface, channel }
    }
}

impl fmt::Display for ChannelRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.interface, self.channel)
    }
}

/// B-channel choice for an outgoing call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum ChannelPref {
    /// Any channel: the stack hunts one (and offers it as preferred where
    /// the switch variant allows, so the peer may choose another).
    #[default]
    Any,
    /// This channel if free, otherwise one the stack or the peer picks.
    Preferred(ChannelRef),
    /// This channel or no call.
    Exclusive(ChannelRef),
}

/// A party number as a SIP gateway needs it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Number {
    /// The digits (IA5: `0`–`9`, `*`, `#`, ...).
    pub digits: String,
    pub ton: TypeOfNumber,
    pub plan: NumberingPlan,
    /// Presentation indicator (calling, connected and redirecting numbers).
    pub presentation: Presentation,
    pub screening: Screening,
}

impl Number {
    /// A number of unknown type in the ISDN/telephony numbering plan,
    /// presentation allowed, user-provided and not screened.
    pub fn new(digits: &str) -> Number {
        Number {
            digits: digits.to_owned(),
            ton: TypeOfNumber::Unknown,
            plan: NumberingPlan::Isdn,
            presentation: Presentation::Allowed,
            screening: Screening::UserNotScreened,
        }
    }

    /// Builder: type of number.
    pub fn with_ton(mut self, ton: TypeOfNumber) -> Number {
        self.ton = ton;
        self
    }

    /// Builder: presentation and screening.
    pub fn with_presentation(mut self, p: Presentation, s: Screening) -> Number {
        self.presentation = p;
        self.screening = s;
        self
    }
}

/// A party name and whether it may be shown.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct PartyName {
    /// The name (Latin-1 octets decoded one to one).
    pub name: String,
    /// `Allowed`, `Restricted` or `NotAvailable`.
    pub presentation: Presentation,
}

impl PartyName {
    /// A presentation-allowed name.
    pub fn allowed(name: &str) -> PartyName {
        PartyName { name: name.to_owned(), presentation: Presentation::Allowed }
    }
}

/// Redirection information of an incoming call.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Redirecting {
    pub number: Number,
    pub reason: RedirectReason,
    /// Diversion counter, when the switch sends one (ETSI/QSIG
    /// divertingLegInformation2 in a FACILITY IE).
    pub count: Option<u8>,
}

/// Information transfer capability, as a gateway cares about it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BearerKind {
    Speech,
    Audio3k1,
    UnrestrictedDigital,
    RestrictedDigital,
    /// Any other information transfer capability (5-bit code).
    Other(u8),
}

/// G.711 companding law.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Law {
    Ulaw,
    Alaw,
}

/// The bearer capability of a call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Bearer {
    pub kind: BearerKind,
    /// Layer 1 law; `None` for unrestricted digital (or not indicated).
    pub law: Option<Law>,
}

impl Bearer {
    /// Speech with the given law.
    pub const fn speech(law: Law) -> Bearer {
        Bearer { kind: BearerKind::Speech, law: Some(law) }
    }
    /// 3.1 kHz audio with the given law.
    pub const fn audio(law: Law) -> Bearer {
        Bearer { kind: BearerKind::Audio3k1, law: Some(law) }
    }
    /// 64 kbit/s unrestricted digital information.
    pub const fn data() -> Bearer {
        Bearer { kind: BearerKind::UnrestrictedDigital, law: None }
    }

    pub(crate) fn itc(self) -> InfoTransferCapability {
        match self.kind {
            BearerKind::Speech => InfoTransferCapability::Speech,
            BearerKind::Audio3k1 => InfoTransferCapability::Audio3k1,
            BearerKind::UnrestrictedDigital => InfoTransferCapability::UnrestrictedDigital,
            BearerKind::RestrictedDigital => InfoTransferCapability::RestrictedDigital,
            BearerKind::Other(c) => InfoTransferCapability::from_bits(c),
        }
    }

    pub(crate) fn from_itc(itc: InfoTransferCapability, l1: Option<Layer1Protocol>) -> Bearer {
        let kind = match itc {
            InfoTransferCapability::Speech => BearerKind::Speech,
            InfoTransferCapability::Audio3k1 => BearerKind::Audio3k1,
            InfoTransferCapability::UnrestrictedDigital | InfoTransferCapability::UnrestrictedDigitalWithTones => BearerKind::UnrestrictedDigital,
            InfoTransferCapability::RestrictedDigital => BearerKind::RestrictedDigital,
            other => BearerKind::Other(other.bits()),
        };
        let law = match l1 {
            Some(Layer1Protocol::G711Ulaw) => Some(Law::Ulaw),
            Some(Layer1Protocol::G711Alaw) => Some(Law::Alaw),
            _ => None,
        };
        Bearer { kind, law }
    }
}

/// A cause value with the location that generated it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Cause {
    pub value: CauseValue,
    pub location: Location,
}

impl Cause {
    pub const fn new(value: CauseValue, location: Location) -> Cause {
        Cause { value, location }
    }
}

impl fmt::Display for Cause {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "cause {} at {:?}", self.value, self.location)
    }
}

/// Who started something (clearing, a restart, a service change).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Initiator {
    /// The other side of the interface.
    Peer,
    /// This stack, on its own (timer expiry, protocol error, link loss).
    Local,
    /// The application, by a command.
    Application,
}

/// Q.931 call states (§2.1): the user-side U-states or network-side
/// N-states, as this stack reports them in STATUS messages. The number is
/// the same on both sides; its meaning depends on the side (U1 "call
/// initiated" is a SETUP sent by the user, N1 a SETUP received by the
/// network).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum CallState {
    /// 0
    Null,
    /// 1: U1 SETUP sent / N1 SETUP received, no answer yet.
    CallInitiated,
    /// 2: U2 SETUP ACKNOWLEDGE received / N2 sent; the caller sends
    /// digits.
    OverlapSending,
    /// 3: U3 CALL PROCEEDING received / N3 sent.
    OutgoingCallProceeding,
    /// 4: U4 ALERTING received / N4 sent.
    CallDelivered,
    /// 6: U6 SETUP received / N6 SETUP sent.
    CallPresent,
    /// 7: U7 ALERTING sent / N7 received.
    CallReceived,
    /// 8: U8 CONNECT sent, awaiting CONNECT ACKNOWLEDGE / N8 CONNECT
    /// received.
    ConnectRequest,
    /// 9: U9 CALL PROCEEDING sent / N9 received.
    IncomingCallProceeding,
    /// 10
    Active,
    /// 11: U11 DISCONNECT sent / N11 DISCONNECT received.
    DisconnectRequest,
    /// 12: U12 DISCONNECT received / N12 DISCONNECT sent.
    DisconnectIndication,
    /// 15 (suspend; not supported: SUSPEND is rejected).
    SuspendRequest,
    /// 17 (resume; not supported: RESUME is rejected).
    ResumeRequest,
    /// 19: RELEASE sent.
    ReleaseRequest,
    /// 22: N22 call abort (network only).
    CallAbort,
    /// 25: U25 SETUP ACKNOWLEDGE sent / N25 received; the callee collects
    /// digits.
    OverlapReceiving,
}

impl CallState {
    /// The state number (call state IE value).
    pub const fn number(self) -> u8 {
        match self {
            CallState::Null => 0,
            CallState::CallInitiated => 1,
            CallState::OverlapSending => 2,
            CallState::OutgoingCallProceeding => 3,
            CallState::CallDelivered => 4,
            CallState::CallPresent => 6,
            CallState::CallReceived => 7,
            CallState::ConnectRequest => 8,
            CallState::IncomingCallProceeding => 9,
            CallState::Active => 10,
            CallState::DisconnectRequest => 11,
            CallState::DisconnectIndication => 12,
            CallState::SuspendRequest => 15,
            CallState::ResumeRequest => 17,
            CallState::ReleaseRequest => 19,
            CallState::CallAbort => 22,
            CallState::OverlapReceiving => 25,
        }
    }

    /// The state with this number, if Q.931 defines one.
    pub const fn from_number(n: u8) -> Option<CallState> {
        Some(match n {
            0 => CallState::Null,
            1 => CallState::CallInitiated,
            2 => CallState::OverlapSending,
            3 => CallState::OutgoingCallProceeding,
            4 => CallState::CallDelivered,
            6 => CallState::CallPresent,
            7 => CallState::CallReceived,
            8 => CallState::ConnectRequest,
            9 => CallState::IncomingCallProceeding,
            10 => CallState::Active,
            11 => CallState::DisconnectRequest,
            12 => CallState::DisconnectIndication,
            15 => CallState::SuspendRequest,
            17 => CallState::ResumeRequest,
            19 => CallState::ReleaseRequest,
            22 => CallState::CallAbort,
            25 => CallState::OverlapReceiving,
            _ => return None,
        })
    }

    /// "U10" / "N10" style name.
    pub fn label(self, side: Side) -> String {
        let p = match side {
            Side::User => 'U',
            Side::Network => 'N',
        };
        format!("{p}{}", self.number())
    }
}
