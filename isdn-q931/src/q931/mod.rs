//! Q.931 call control (ITU-T Q.931 §4–§5, ANSI T1.607 / NI-2, ETSI EN 300
//! 403-1, ECMA-143 QSIG): user and network side, as a sans-IO state
//! machine.
//!
//! [`CallControl`] is one layer 3 entity on one D-channel (or NFAS group):
//! it takes received messages, data link state changes, commands and
//! `now`, and gives messages to send, [`Event`]s and its next deadline.
//! [`crate::Pri`] puts it on top of the Q.921 links.
//!
//! * Call states U0–U25 / N0–N25 ([`CallState`]) with the timers of Q.931
//!   Tables 9-1/9-2 ([`Timers`]); suspend and resume are refused.
//! * Switch variants as data ([`SwitchVariant`]): NI-2, DMS-100, 4ESS,
//!   5ESS, EuroISDN E1/T1, QSIG.
//! * Overlap sending and receiving, B-channel selection and glare,
//!   RESTART, STATUS / STATUS ENQUIRY, the error procedures of §5.8, data
//!   link failure with T309, SERVICE.
//!
//! ```
//! use std::time::Instant;
//! use isdn_q931::q931::{CallControl, Command, Config, Output, SetupRequest, Side, SwitchType};
//!
//! let now = Instant::now();
//! let mut cc = CallControl::new(Config::new(SwitchType::Ni2, Side::User), now).unwrap();
//! cc.link_up(now);
//! let call = cc.setup(SetupRequest::new("2125551234"), now).unwrap();
//! let Some(Output::Send(setup)) = cc.poll_output() else { panic!() };
//! assert_eq!(setup[4], 0x05); // SETUP
//! assert!(cc.poll_timeout().is_some()); // T303
//! # let _ = call;
//! ```

mod call;
mod channels;
mod codec;
mod command;
mod config;
mod control;
mod event;
mod types;
mod variant;

pub use call::{Phase, compatible};
pub use channels::{ChannelAllocator, ChannelStatus, ClaimError};
pub use command::{Command, CommandError, RestartTarget, SetupRequest};
pub use config::{Config, ConfigError, HuntOrder, InterfaceConfig, InterfaceKind};
pub use control::{CallControl, MAX_MESSAGE_LEN, MemoryStats, Output};
pub use event::{Event, IncomingCall};
pub use types::{Bearer, BearerKind, CallId, CallState, Cause, ChannelPref, ChannelRef, Initiator, Law, LinkId, Number, PartyName, Redirecting, Side};
pub use variant::{MandatoryIes, NameEncoding, SwitchType, SwitchVariant, Timers};
