//! The leg-neutral vocabulary of call control.
//!
//! Call control joins two *legs* of a call: the inbound leg (the one the
//! call arrived on) and the outbound leg (the one the gateway placed).
//! A leg is a TDM leg (a PRI B-channel today; analog and CAS lines later)
//! or a SIP leg. Each leg translates its own signalling into these types
//! and back; call control knows neither Q.931 nor SIP.
//!
//! * A leg reports what happened with a [`LegEvent`].
//! * Call control tells a leg what to do with a [`LegCommand`].
//! * The first leg of a call starts it with [`LegEvent::Setup`]; call
//!   control routes it and asks for an outbound leg with an originate
//!   request naming a [`Target`].
//!
//! Numbers are carried as strings: E.164 numbers as `+` and digits (each
//! leg normalises its wire form by config), other numbers as dialled.
//! Causes are Q.850 values ([`Cause`]), the lingua franca of both sides; a
//! SIP leg maps its status codes to and from them (RFC 3398).

use std::fmt;
use std::net::SocketAddr;

/// A call's identity, unique per daemon run and across restarts (the
/// start time in seconds and a counter). It appears in both legs' log
/// lines and in the CDR, written as 16 hex digits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CallId(pub u64);

impl fmt::Display for CallId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:016x}", self.0)
    }
}

/// Hands out [`CallId`]s: the upper 40 bits are the Unix time (seconds) at
/// start, the lower 24 a counter.
#[derive(Debug, Clone)]
pub struct CallIds {
    base: u64,
    next: u64,
}

impl CallIds {
    pub fn new(unix_secs: u64) -> CallIds {
        CallIds { base: (unix_secs & 0xFF_FFFF_FFFF) << 24, next: 1 }
    }

    /// The next id (the counter wraps after 16.7 million calls).
    pub fn next_id(&mut self) -> CallId {
        let id = CallId(self.base | (self.next & 0xFF_FFFF));
        self.next = self.next.wrapping_add(1);
        id
    }
}

/// Which of a call's two legs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum LegSide {
    /// The leg the call arrived on.
    Inbound,
    /// The leg the gateway placed.
    Outbound,
}

/// A leg: its call, which side, and (outbound) which attempt.
///
/// Call control may place several outbound legs one after the other for
/// one call (failover to the next target of a route); each gets its own
/// `attempt` number (1, 2, …) so that a late event from a failed attempt
/// can never be mistaken for one from the current attempt. The inbound
/// leg's attempt is always 0. Build them with [`LegRef::inbound`] and
/// [`LegRef::outbound`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct LegRef {
    pub call: CallId,
    pub side: LegSide,
    /// 0 for the inbound leg; 1 for the first outbound attempt, 2 for the next…
    pub attempt: u8,
}

impl LegRef {
    /// The inbound leg of `call`.
    pub fn inbound(call: CallId) -> LegRef {
        LegRef { call, side: LegSide::Inbound, attempt: 0 }
    }

    /// Outbound attempt `attempt` (from 1) of `call`.
    pub fn outbound(call: CallId, attempt: u8) -> LegRef {
        LegRef { call, side: LegSide::Outbound, attempt }
    }
}

impl fmt::Display for LegRef {
    /// `0000000100000001/in`, `0000000100000001/out1`, `…/out2`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.side {
            LegSide::Inbound => write!(f, "{}/in", self.call),
            LegSide::Outbound => write!(f, "{}/out{}", self.call, self.attempt),
        }
    }
}

/// Whether the number may be shown to the called party.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Presentation {
    #[default]
    Allowed,
    Restricted,
    /// Not available (interworking, or not provided).
    Unavailable,
}

/// Who vouches for the number.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Screening {
    #[default]
    UserNotScreened,
    UserVerifiedPassed,
    UserVerifiedFailed,
    NetworkProvided,
}

/// A calling, connected or redirecting party.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Party {
    /// `+` and digits for E.164, otherwise the digits as signalled. May be
    /// empty when only a name or a presentation is known.
    pub number: String,
    /// Display name (Q.931 display/name, SIP display-name).
    pub name: Option<String>,
    pub presentation: Presentation,
    pub screening: Screening,
}

impl Party {
    pub fn number(number: &str) -> Party {
        Party { number: number.to_owned(), ..Party::default() }
    }
}

/// Why a call was redirected (Q.931 redirecting reason; SIP Diversion
/// `reason` and History-Info cause).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum RedirectReason {
    #[default]
    Unknown,
    Busy,
    NoReply,
    Unconditional,
    Deflection,
    /// Called DTE out of order / unavailable.
    Unavailable,
}

/// The party that redirected the call, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Redirect {
    pub from: Party,
    pub reason: RedirectReason,
    /// Redirections so far (1 when unknown).
    pub count: u8,
}

/// What the call carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Bearer {
    #[default]
    Speech,
    Audio3k1,
    /// 64 kbit/s unrestricted digital (clear channel).
    Digital,
}

/// A new call, as it arrived on an inbound leg or as an outbound leg is
/// to place it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Setup {
    /// The called number; with `complete == false`, the digits so far.
    pub called: String,
    /// No more called digits will follow (sending complete, en bloc).
    pub complete: bool,
    pub calling: Option<Party>,
    pub redirect: Option<Redirect>,
    pub bearer: Bearer,
    /// How the called party should be alerted: the first URI of a SIP
    /// Alert-Info (RFC 3261 §20.4), e.g. `http://127.0.0.1/Bellcore-dr2`,
    /// which an FXS port turns into a distinctive ring.
    pub alert_info: Option<String>,
}

/// A Q.850 cause value (1–127).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Cause(pub u8);

impl Cause {
    pub const UNALLOCATED: Cause = Cause(1);
    pub const NO_ROUTE_DESTINATION: Cause = Cause(3);
    pub const NORMAL_CLEARING: Cause = Cause(16);
    pub const USER_BUSY: Cause = Cause(17);
    pub const NO_USER_RESPONSE: Cause = Cause(18);
    pub const NO_ANSWER: Cause = Cause(19);
    pub const CALL_REJECTED: Cause = Cause(21);
    pub const NUMBER_CHANGED: Cause = Cause(22);
    pub const DESTINATION_OUT_OF_ORDER: Cause = Cause(27);
    pub const INVALID_NUMBER_FORMAT: Cause = Cause(28);
    pub const FACILITY_REJECTED: Cause = Cause(29);
    pub const NORMAL_UNSPECIFIED: Cause = Cause(31);
    pub const NO_CIRCUIT: Cause = Cause(34);
    pub const NETWORK_OUT_OF_ORDER: Cause = Cause(38);
    pub const TEMPORARY_FAILURE: Cause = Cause(41);
    pub const SWITCH_CONGESTION: Cause = Cause(42);
    pub const REQUESTED_CHANNEL_UNAVAILABLE: Cause = Cause(44);
    pub const RESOURCE_UNAVAILABLE: Cause = Cause(47);
    pub const BEARER_NOT_AVAILABLE: Cause = Cause(58);
    pub const BEARER_NOT_IMPLEMENTED: Cause = Cause(65);
    pub const INCOMPATIBLE_DESTINATION: Cause = Cause(88);
    pub const INVALID_MESSAGE: Cause = Cause(95);
    pub const RECOVERY_ON_TIMER_EXPIRY: Cause = Cause(102);
    pub const PROTOCOL_ERROR: Cause = Cause(111);
    pub const INTERWORKING: Cause = Cause(127);
}

impl fmt::Display for Cause {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// A leg's end: the Q.850 cause, and what the leg saw or sent on its own
/// wire (for the CDR and the logs), e.g. `"486 Busy Here"` or
/// `"DISCONNECT cause 17"`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Release {
    pub cause: Cause,
    pub wire: Option<String>,
}

impl Release {
    pub fn cause(cause: Cause) -> Release {
        Release { cause, wire: None }
    }
}

/// G.711 law.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Law {
    Ulaw,
    Alaw,
}

/// Audio codecs a SIP leg may negotiate. Open for G.722 and T.38 later.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Codec {
    Pcmu,
    Pcma,
}

/// Media direction (SDP `a=sendrecv` and friends), from our side.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Direction {
    #[default]
    SendRecv,
    SendOnly,
    RecvOnly,
    Inactive,
}

/// A negotiated RTP stream, as a SIP leg's offer/answer settled it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RtpParams {
    /// The media stream the SIP leg allocated from the pump.
    pub stream: u64,
    /// Our RTP address (RTCP is the next port).
    pub local: SocketAddr,
    /// Where to send; `None` until known (or a declined stream).
    pub remote: Option<SocketAddr>,
    pub codec: Codec,
    pub payload_type: u8,
    pub ptime_ms: u8,
    /// RFC 4733 telephone-event payload type, if negotiated.
    pub dtmf_payload_type: Option<u8>,
    pub direction: Direction,
    /// Send to where packets come from (peers behind NAT).
    pub symmetric: bool,
}

/// A leg's media end.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MediaEndpoint {
    /// A DAHDI channel (by DAHDI channel number) and its law.
    Tdm {
        channo: u32,
        law: Law,
    },
    Rtp(RtpParams),
}

/// What a leg reports to call control.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LegEvent {
    /// A new call arrived on this (inbound) leg.
    Setup(Setup),
    /// More called digits (overlap) on an inbound leg.
    Digits { digits: String, complete: bool },
    /// The inbound leg's digit timer (Q.931 T302 or the like) expired.
    DigitTimeout,
    /// The outbound leg is being routed (Q.931 CALL PROCEEDING, SIP 100).
    Proceeding,
    /// In-band information is available (Q.931 PROGRESS with PI 1 or 8,
    /// SIP 183 with SDP when `inband`).
    Progress { inband: bool },
    /// The called party is being alerted; `inband`: ringback plays in band.
    Alerting { inband: bool },
    /// The called party answered.
    Answered { connected: Option<Party> },
    /// The leg's media end is known or changed (B-channel chosen, SDP
    /// negotiated, hold/resume by re-INVITE).
    Media(MediaEndpoint),
    /// DTMF received out of band (SIP INFO, keypad facility).
    Dtmf { digit: char, duration_ms: u16 },
    /// A hook flash was asked for out of band (SIP INFO
    /// `application/hook-flash`, or RFC 4733 event 16 in `dtmf-relay`).
    Flash,
    /// The leg put the other party on hold (`true`: an FXS phone flashed to
    /// answer a waiting call or to dial) or took it off hold (`false`): the
    /// media bridge stops or restarts and the other leg is told
    /// ([`LegCommand::Hold`]).
    Hold(bool),
    /// The leg needs its channel to itself for a moment (`true`: an FXS
    /// port plays the call-waiting tone and caller ID over the call) or is
    /// done (`false`): the media bridge pauses (the RTP stream parked: its
    /// port, SSRC and sequence kept, nothing sent meanwhile) or goes on;
    /// nothing is signalled to the other leg.
    Mute(bool),
    /// The leg's user asked for the other party to be transferred to this
    /// number (an FXS phone hung up on hold after dialling): the other leg
    /// gets [`LegCommand::Transfer`] and ends the call when the transfer
    /// is done (`await_result`: when the far end reports the outcome, else
    /// as soon as it accepts the request).
    Transfer { to: String, await_result: bool },
    /// Where the leg is (span and channel, trunk and SIP Call-ID), for
    /// the CDR and the logs. Sent once known, again if it changes.
    Identity(LegIdentity),
    /// The outbound leg's far end redirected the call to this number (SIP
    /// 301/302 with a Contact), just before the leg's `Released`: call
    /// control routes the number again for the call's origin and places a
    /// new attempt with the redirecting party set, or ends the call with
    /// the release's cause when no route allows it.
    Redirected { to: String, reason: RedirectReason },
    /// The leg is gone. The last event of every leg.
    Released(Release),
}

/// Where a leg is, for the CDR and the logs.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct LegIdentity {
    /// The PRI interface, line or SIP trunk name from the config.
    pub interface: String,
    /// DAHDI span number and channel position within the span.
    pub span: Option<u32>,
    pub channel: Option<u32>,
    /// The SIP dialog's Call-ID.
    pub sip_call_id: Option<String>,
}

/// What call control asks of a leg.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LegCommand {
    /// Ask the caller for more digits (Q.931 SETUP ACKNOWLEDGE).
    SetupAck,
    /// More digits for an outbound leg placed in overlap.
    Digits {
        digits: String,
        complete: bool,
    },
    /// The call is being routed (Q.931 CALL PROCEEDING, SIP 100).
    Proceeding,
    /// In-band information is available from the other leg.
    Progress {
        inband: bool,
    },
    Alerting {
        inband: bool,
    },
    /// Answer.
    Answer {
        connected: Option<Party>,
    },
    /// The other leg's media end changed (for example hold: a SIP leg
    /// passes the direction on).
    Media(MediaEndpoint),
    /// Send DTMF out of band if the leg can.
    Dtmf {
        digit: char,
        duration_ms: u16,
    },
    /// Flash the hook if the leg can (an FXO line flashes the CO loop).
    Flash,
    /// Put the far party on hold (`true`, SIP: re-INVITE `a=sendonly`) or
    /// take it off hold (`false`, re-INVITE `a=sendrecv`), if the leg can.
    Hold(bool),
    /// Transfer the far party to `to` (a number; SIP: REFER, RFC 3515), then
    /// release the leg: once the far end reports the outcome
    /// (`await_result`, SIP: the NOTIFY), else once it accepts (202).
    Transfer {
        to: String,
        await_result: bool,
    },
    /// Clear the leg. The leg answers with [`LegEvent::Released`].
    Release(Release),
}

/// Where call control wants an outbound leg placed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// A configured SIP trunk, optionally to an explicit URI.
    Sip { trunk: String, uri: Option<String> },
    /// A configured span group (hunt group of B-channels or lines).
    Tdm { group: String },
}
