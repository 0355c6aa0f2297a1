//! Q.921 (LAPD) and Q.931 for ISDN PRI, user and network side, as sans-IO
//! state machines.
//!
//! * [`wire`]: zero-copy views and typed representations of LAPD frames,
//!   Q.931 messages and information elements (parse untrusted bytes only
//!   through the checked constructors).
//! * [`q921`]: the LAPD data link (TEI 0, SAPI 0): link establishment,
//!   I-frame sequencing with window k, T200/T203/N200, peer busy.
//!
//! Nothing here holds a clock, socket or thread: inputs are bytes, commands
//! and `now`; outputs are frames to send, events and the next deadline.

pub mod q921;
pub mod wire;
