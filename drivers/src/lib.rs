//! The safe DAHDI layer.
//!
//! Everything about cards and lines lives here, so that the gateway never
//! touches a file descriptor or an ioctl:
//!
//! * [`Channel`]: open a channel, set its buffers and law, read and write
//!   audio, hook control, dial strings, CAS bits, HDLC frames, echo
//!   canceller and gains; [`LineEvent`] is the typed event.
//! * [`AsyncChannel`] drives a channel on tokio; [`Batch`] drives many from
//!   one thread with epoll (the media pump's form).
//! * [`Ctl`]: span and channel configuration and status; [`SpanStatus`] and
//!   [`AlarmWatch`] for alarms.
//! * [`Signalling`]: channel signalling named from the user's side ("fxs" is
//!   a port a phone plugs into), mapped to DAHDI's inverse names in one place.
//!
//! The same code runs on real cards under `/dev/dahdi` and on `tandem-sim`'s
//! FUSE mount: the device directory is a parameter.

pub mod async_io;
pub mod batch;
pub mod channel;
pub mod config;
pub mod ctl;
pub mod discover;
pub mod error;
pub mod event;
pub mod signalling;
pub mod span;

pub use async_io::{AsyncChannel, Input};
pub use batch::{Batch, Ready};
pub use channel::{BufferInfo, Channel, DialMode, ECHO_MAX_PARAMS, Hook, Io, Law, OpenOptionsDahdi, Params, Policy, Timing};
pub use ctl::{ChanConfig, Ctl, LineConfig};
pub use discover::{DeviceInfo, Discovery, Inventory, SpanInventory};
pub use error::{Error, Result, Target};
pub use event::LineEvent;
pub use signalling::{Signalling, Start};
pub use span::{AlarmChange, AlarmWatch, Alarms, Counters, SpanStatus};

/// The default DAHDI device directory.
pub const DEFAULT_DEVICE_DIR: &str = "/dev/dahdi";
