//! Errors from the DAHDI layer, each naming the span and channel involved.

use std::fmt;

use nix::errno::Errno;

/// Where an error happened: a channel (with its span when known), a span, or
/// the control device.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Target {
    Ctl,
    Span(u32),
    Channel { span: Option<u32>, chan: u32 },
    Pseudo,
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Target::Ctl => write!(f, "ctl"),
            Target::Span(s) => write!(f, "span {s}"),
            Target::Channel { span: Some(s), chan } => write!(f, "span {s} channel {chan}"),
            Target::Channel { span: None, chan } => write!(f, "channel {chan}"),
            Target::Pseudo => write!(f, "pseudo channel"),
        }
    }
}

/// An error from a DAHDI device.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The channel or span is gone (hot-unplugged, or the driver unloaded).
    #[error("{target}: device removed")]
    Removed { target: Target },
    /// The channel exists but has no signalling configured.
    #[error("{target}: not configured (no signalling set; configure the span first)")]
    NotConfigured { target: Target },
    /// Someone else has the channel open.
    #[error("{target}: busy (already open elsewhere)")]
    Busy { target: Target },
    /// No such channel or span.
    #[error("{target}: does not exist")]
    NoSuch { target: Target },
    /// The device rejected a request.
    #[error("{target}: {op} failed: {errno}")]
    Device { target: Target, op: &'static str, errno: Errno },
    /// Opening the device directory or a file failed.
    #[error("{path}: {source}")]
    Open { path: String, source: std::io::Error },
    /// The request was invalid before it reached the device.
    #[error("{target}: {msg}")]
    Invalid { target: Target, msg: String },
}

impl Error {
    /// Classify an errno from an operation on `target`.
    pub fn from_errno(target: Target, op: &'static str, errno: Errno) -> Error {
        match errno {
            Errno::ENODEV => Error::Removed { target },
            Errno::ENXIO if op == "open" || op == "specify" => Error::NotConfigured { target },
            Errno::EBUSY if op == "open" || op == "specify" => Error::Busy { target },
            _ => Error::Device { target, op, errno },
        }
    }

    /// True when the device has gone away.
    pub fn is_removed(&self) -> bool {
        matches!(self, Error::Removed { .. })
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
