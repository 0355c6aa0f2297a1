//! What the application asks of the call-control entity.

use super::types::{Bearer, CallId, CallState, ChannelPref, ChannelRef, Number, PartyName};
use crate::wire::CauseValue;
use crate::wire::ie::{FacilityRepr, ProgressDescription, RedirectReason, ServiceStatus};

/// An outgoing call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SetupRequest {
    /// The called number; with `overlap`, the digits known so far (may be
    /// empty).
    pub called: Number,
    pub calling: Option<Number>,
    /// The calling name, sent as the variant encodes names.
    pub calling_name: Option<PartyName>,
    pub redirecting: Option<(Number, RedirectReason)>,
    pub channel: ChannelPref,
    /// `None`: speech with the configured law.
    pub bearer: Option<Bearer>,
    /// Send more digits later (after
    /// [`Event::SetupAcknowledged`](super::Event::SetupAcknowledged)).
    pub overlap: bool,
    /// Add the sending complete IE (en bloc), where the variant uses it.
    pub sending_complete: bool,
    /// Progress indicators to include (e.g. origination not ISDN).
    pub progress: Vec<ProgressDescription>,
}

impl SetupRequest {
    /// An en-bloc speech call to `called` on any channel.
    pub fn new(called: &str) -> SetupRequest {
        SetupRequest {
            called: Number::new(called),
            calling: None,
            calling_name: None,
            redirecting: None,
            channel: ChannelPref::Any,
            bearer: None,
            overlap: false,
            sending_complete: true,
            progress: Vec::new(),
        }
    }

    /// Builder: the calling number.
    pub fn calling(mut self, n: Number) -> SetupRequest {
        self.calling = Some(n);
        self
    }

    /// Builder: the calling name.
    pub fn name(mut self, n: PartyName) -> SetupRequest {
        self.calling_name = Some(n);
        self
    }

    /// Builder: channel choice.
    pub fn channel(mut self, c: ChannelPref) -> SetupRequest {
        self.channel = c;
        self
    }

    /// Builder: overlap sending (no sending complete).
    pub fn overlap(mut self) -> SetupRequest {
        self.overlap = true;
        self.sending_complete = false;
        self
    }
}

/// What to restart.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RestartTarget {
    /// These channels (one class-0 RESTART each).
    Channels(Vec<ChannelRef>),
    /// Every channel of one interface.
    Interface(u8),
    /// Every interface.
    All,
}

/// A request from the application.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// Place a call. [`CallControl::command`] returns its [`CallId`].
    ///
    /// [`CallControl::command`]: super::CallControl::command
    Setup(Box<SetupRequest>),
    /// Overlap sending: more called digits (after SETUP ACKNOWLEDGE), or
    /// keypad information in other states.
    Information { call: CallId, digits: String, sending_complete: bool },
    /// Ask the caller for more digits (SETUP ACKNOWLEDGE).
    SetupAck { call: CallId },
    /// CALL PROCEEDING; `inband`: announce in-band information (progress
    /// #8).
    Proceeding { call: CallId, inband: bool },
    /// ALERTING; `inband`: ringback is played in band (progress #8).
    Alerting { call: CallId, inband: bool },
    /// PROGRESS with one indicator.
    Progress { call: CallId, description: ProgressDescription },
    /// Answer (CONNECT).
    Connect { call: CallId, connected: Option<Number> },
    /// Clear normally: DISCONNECT (RELEASE COMPLETE for a call not yet
    /// answered with anything, i.e. a rejected SETUP). `inband`: network
    /// side only, an announcement plays (progress #8, T306).
    Disconnect { call: CallId, cause: CauseValue, inband: bool },
    /// Clear at once: RELEASE (RELEASE COMPLETE for an unanswered incoming
    /// SETUP).
    Release { call: CallId, cause: CauseValue },
    /// FACILITY with the given IE.
    Facility { call: CallId, facility: FacilityRepr },
    /// STATUS ENQUIRY (T322).
    StatusEnquiry { call: CallId },
    /// RESTART channels or interfaces (T316). Calls on them are released
    /// at once.
    Restart(RestartTarget),
    /// SERVICE (where the variant supports it): channels or an interface
    /// in or out of service.
    Service { target: RestartTarget, status: ServiceStatus },
}

/// Why a command was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CommandError {
    #[error("no data link is up")]
    NoDataLink,
    #[error("unknown call {0}")]
    UnknownCall(CallId),
    #[error("not possible in call state {0:?}")]
    WrongState(CallState),
    #[error("no B-channel available")]
    NoChannel,
    #[error("requested B-channel {0} is not available")]
    ChannelUnavailable(ChannelRef),
    #[error("B-channel {0} does not exist")]
    NoSuchChannel(ChannelRef),
    #[error("no free call reference")]
    NoCallReference,
    #[error("not supported by this switch variant: {0}")]
    NotSupported(&'static str),
    #[error("message cannot be encoded: {0}")]
    Encode(crate::wire::Error),
    #[error("message longer than the data link allows")]
    TooLong,
}
