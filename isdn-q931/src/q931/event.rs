//! What the call-control entity reports to the application.

use super::types::{Bearer, CallId, CallState, Cause, ChannelRef, Initiator, LinkId, Number, PartyName, Redirecting};
use crate::wire::ie::{FacilityRepr, ProgressDescription, ServiceStatus};

/// A new call from the peer (SETUP received and accepted: the channel is
/// reserved for it). Answer with [`Command::Proceeding`],
/// [`Command::Alerting`], [`Command::Connect`], [`Command::SetupAck`]
/// (overlap) or reject with [`Command::Disconnect`].
///
/// [`Command::Proceeding`]: super::Command::Proceeding
/// [`Command::Alerting`]: super::Command::Alerting
/// [`Command::Connect`]: super::Command::Connect
/// [`Command::SetupAck`]: super::Command::SetupAck
/// [`Command::Disconnect`]: super::Command::Disconnect
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IncomingCall {
    pub call: CallId,
    /// The B-channel reserved for the call.
    pub channel: ChannelRef,
    /// The called number; empty digits when the caller dials in overlap.
    pub called: Number,
    pub calling: Option<Number>,
    pub calling_name: Option<PartyName>,
    /// NI-2: the name comes in a later FACILITY
    /// ([`Event::CallingName`]).
    pub name_follows: bool,
    pub redirecting: Option<Redirecting>,
    pub bearer: Bearer,
    /// The called number is complete (sending complete IE, or a variant
    /// without overlap dialling).
    pub sending_complete: bool,
    /// Progress indicators in the SETUP.
    pub progress: Vec<ProgressDescription>,
}

/// An event for the application. Every [`CallId`] the application learns
/// of (from [`Event::IncomingCall`] or from a SETUP command) gets exactly
/// one [`Event::Released`], after which it is forgotten.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// A data link (Pri level) came up.
    LinkUp {
        link: LinkId,
    },
    /// A data link (Pri level) went down.
    LinkDown {
        link: LinkId,
    },
    /// The data link carrying call control changed (NFAS D-channel
    /// backup); `None` while no link is up.
    ActiveLink {
        link: Option<LinkId>,
    },
    IncomingCall(Box<IncomingCall>),
    /// More called-party digits (overlap receiving) or keypad information.
    MoreDigits {
        call: CallId,
        digits: String,
        sending_complete: bool,
    },
    /// T302 expired while collecting digits: decide (Proceeding, Alerting,
    /// Connect, or Disconnect with cause 28).
    DigitTimeout {
        call: CallId,
    },
    /// Our overlap SETUP was acknowledged: send the digits with
    /// [`Command::Information`](super::Command::Information).
    SetupAcknowledged {
        call: CallId,
        channel: ChannelRef,
    },
    Proceeding {
        call: CallId,
        channel: ChannelRef,
        progress: Vec<ProgressDescription>,
    },
    Alerting {
        call: CallId,
        channel: ChannelRef,
        /// In-band information (ringback, announcement) is available on
        /// the B-channel (progress #1 or #8).
        inband: bool,
        progress: Vec<ProgressDescription>,
    },
    Progress {
        call: CallId,
        progress: Vec<ProgressDescription>,
        inband: bool,
    },
    /// Our call was answered.
    Connected {
        call: CallId,
        channel: ChannelRef,
        connected: Option<Number>,
    },
    /// The peer acknowledged our CONNECT (we answered, the call is
    /// active).
    ConnectAcknowledged {
        call: CallId,
    },
    /// A calling name that arrived after the SETUP (NI-2 FACILITY).
    CallingName {
        call: CallId,
        name: PartyName,
    },
    /// A FACILITY message or a facility IE in another message (raw
    /// APDUs). `call` is `None` for the dummy or global call reference.
    Facility {
        call: Option<CallId>,
        facility: FacilityRepr,
    },
    /// NOTIFY (notification description, Q.931 §4.5.22).
    Notify {
        call: CallId,
        description: u8,
    },
    /// The call is being cleared: the peer sent DISCONNECT, or this stack
    /// started clearing on its own (timer, protocol error). Not given for
    /// clearing the application asked for.
    Disconnecting {
        call: CallId,
        cause: Cause,
        /// DISCONNECT with progress #8: an announcement plays on the
        /// B-channel. With [`Config::inband_disconnect`] the call waits
        /// for [`Command::Release`].
        ///
        /// [`Config::inband_disconnect`]: super::Config::inband_disconnect
        /// [`Command::Release`]: super::Command::Release
        inband: bool,
        initiator: Initiator,
    },
    /// The call is gone and its channel free (or restarting). Last event
    /// of every call.
    Released {
        call: CallId,
        cause: Cause,
    },
    /// A STATUS received (answer to a STATUS ENQUIRY or an error report).
    /// `call` is `None` for the global call reference.
    Status {
        call: Option<CallId>,
        cause: Cause,
        /// The peer's call state number (REST states 61/62 on the global
        /// call reference).
        peer_state: u8,
        /// Our own state when it arrived.
        our_state: CallState,
    },
    /// Channels were restarted: the calls on them have been released.
    ChannelsRestarted {
        channels: Vec<ChannelRef>,
        initiator: Initiator,
    },
    /// Our RESTART was acknowledged; the channels are idle.
    RestartCompleted {
        channels: Vec<ChannelRef>,
    },
    /// Our RESTART got no acknowledgement after all attempts; the channels
    /// were freed anyway.
    RestartFailed {
        channels: Vec<ChannelRef>,
    },
    /// Channels changed service status (SERVICE received, or our SERVICE
    /// acknowledged).
    ServiceChanged {
        channels: Vec<ChannelRef>,
        status: ServiceStatus,
        initiator: Initiator,
    },
    /// Our SERVICE got no acknowledgement after all attempts.
    ServiceFailed {
        channels: Vec<ChannelRef>,
    },
}

impl Event {
    /// The call this event is about, if any.
    pub fn call(&self) -> Option<CallId> {
        match self {
            Event::IncomingCall(ic) => Some(ic.call),
            Event::MoreDigits { call, .. }
            | Event::DigitTimeout { call }
            | Event::SetupAcknowledged { call, .. }
            | Event::Proceeding { call, .. }
            | Event::Alerting { call, .. }
            | Event::Progress { call, .. }
            | Event::Connected { call, .. }
            | Event::ConnectAcknowledged { call }
            | Event::CallingName { call, .. }
            | Event::Notify { call, .. }
            | Event::Disconnecting { call, .. }
            | Event::Released { call, .. } => Some(*call),
            Event::Facility { call, .. } | Event::Status { call, .. } => *call,
            _ => None,
        }
    }
}
