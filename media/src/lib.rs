//! The media plane of the Tandem gateway.
//!
//! * [`wire`]: zero-copy, panic-free views and typed representations of
//!   RTP (RFC 3550 §5.1), RTCP compound packets (RFC 3550 §6) and the
//!   RFC 4733 telephone-event payload.
//! * [`pump`]: the media pump that bridges DAHDI B-channels to RTP (one
//!   thread, paced by the TDM clock, with sans-IO per-stream cores).
//! * [`sdp`]: SDP offer/answer (RFC 3264) for G.711 and telephone-event.
//! * [`codec`]: the vocabulary both share (codecs, direction, law).
//!
//! The media layer knows nothing of SIP or of line signalling: the gateway
//! negotiates with [`sdp`] and drives [`pump::PumpHandle`].

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod codec;
pub mod pump;
pub mod sdp;
pub mod wire;
