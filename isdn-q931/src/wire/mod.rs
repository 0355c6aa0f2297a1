//! LAPD frames and Q.931 messages on the wire.
//!
//! Modelled on smoltcp's `wire` module: every format has
//!
//! 1. a zero-copy view `Foo<T: AsRef<[u8]>>` whose `new_checked` validates
//!    the buffer once, after which no accessor can panic (accessors never
//!    panic even on unchecked views; they return meaningless values), with
//!    setters for `T: AsMut<[u8]>`;
//! 2. a typed `FooRepr` with `parse`, `buffer_len` and `emit`.
//!
//! Untrusted input goes through the checked constructors (or the
//! `parse_bytes` shorthands) only; decoding never panics.
//!
//! * [`lapd`]: Q.921 frames (address, control, information field).
//! * [`q931`]: Q.931 message header, the IE walker with codeset shifts,
//!   and [`MessageRepr`] for whole messages.
//! * [`ie`]: typed information elements and [`IeRepr`].
//! * [`Error`]: one error enum, classified into Q.931 causes 96–100.

pub mod error;
pub mod ie;
pub mod lapd;
pub mod q931;

pub use error::Error;
pub use ie::{CauseValue, IeId, IeRepr};
pub use lapd::{CommandResponse, Frame, FrameKind, FrameRepr, Role};
pub use q931::{CallRef, CallRefFlag, Message, MessageRepr, MessageType, ProtocolDiscriminator};
