//! The Q.921 (LAPD) data link for ISDN PRI: one point-to-point link, TEI 0,
//! SAPI 0, either the network or the user side.
//!
//! [`Link`] is a sans-IO state machine implementing the multiple-frame
//! operation of ITU-T Q.921 §5 (states 4 to 8: TEI assigned, awaiting
//! establishment, awaiting release, multiple frame established, timer
//! recovery). The caller feeds it received frames ([`Link::handle_frame`]),
//! expired timers ([`Link::handle_timeout`]) and requests from layer 3
//! ([`Link::command`]); it answers with frames to transmit and events for
//! layer 3 ([`Link::poll_output`]) and the next instant at which it wants
//! [`Link::handle_timeout`] called ([`Link::poll_timeout`]).
//!
//! Frames are what lies between the HDLC flags without the FCS: address,
//! control and information field. On a DAHDI D-channel that is what a read
//! returns once its two FCS octets are dropped, and what a write takes
//! before the driver appends them.
//!
//! ```
//! use std::time::Instant;
//! use isdn_q931::q921::{Command, Config, Link, LinkEvent, Output, Role};
//!
//! let now = Instant::now();
//! let mut net = Link::new(Role::Network, Config::default(), now);
//! let mut user = Link::new(Role::User, Config::default(), now);
//! net.command(Command::Send(vec![0x08, 0x02, 0x00, 0x01, 0x05]), now).unwrap();
//! // Shuttle frames until both sides are quiet.
//! let mut got = Vec::new();
//! loop {
//!     let mut moved = false;
//!     while let Some(out) = net.poll_output() {
//!         if let Output::Transmit(frame) = out { user.handle_frame(&frame, now); moved = true; }
//!     }
//!     while let Some(out) = user.poll_output() {
//!         match out {
//!             Output::Transmit(frame) => { net.handle_frame(&frame, now); moved = true; }
//!             Output::Event(LinkEvent::Data(msg)) => got.push(msg),
//!             Output::Event(_) => {}
//!         }
//!     }
//!     if !moved { break; }
//! }
//! assert_eq!(got, [vec![0x08, 0x02, 0x00, 0x01, 0x05]]);
//! ```

mod link;
pub mod pcap;

/// Which side of the interface a link is; it decides the C/R bit of the
/// frames it sends (the LAPD codec's own type).
pub use crate::wire::lapd::Role;
pub use link::{Command, CommandError, Config, Link, LinkEvent, LinkState, MdlError, Output};
