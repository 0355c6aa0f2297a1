//! Q.921 (LAPD) and Q.931 for ISDN PRI, user and network side, as sans-IO
//! state machines.
//!
//! * [`wire`]: zero-copy views and typed representations of LAPD frames,
//!   Q.931 messages and information elements (parse untrusted bytes only
//!   through the checked constructors).
//! * [`q921`]: the LAPD data link (TEI 0, SAPI 0): link establishment,
//!   I-frame sequencing with window k, T200/T203/N200, peer busy.
//! * [`q931`]: call control (call states, timers, switch variants,
//!   channel selection, RESTART, STATUS, error procedures, SERVICE).
//! * [`Pri`] ([`stack`]): the whole D-channel stack — one or more Q.921
//!   links (NFAS primary and backup) under one Q.931 entity — with a
//!   frame tap for pcap traces.
//!
//! Nothing here holds a clock, socket or thread: inputs are bytes, commands
//! and `now`; outputs are frames to send, events and the next deadline.

pub mod q921;
pub mod q931;
pub mod stack;
pub mod wire;

pub use stack::{BackupMode, LinkConfig, Output, Pri, PriConfig, Trace};
