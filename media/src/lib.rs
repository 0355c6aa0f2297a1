//! The media plane of the Tandem gateway.
//!
//! For now this crate holds the wire layer only ([`wire`]): zero-copy,
//! panic-free views and typed representations of RTP (RFC 3550 §5.1),
//! RTCP compound packets (RFC 3550 §6) and the RFC 4733 telephone-event
//! payload. The media pump (TDM ⇄ RTP) will build on it.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod wire;
