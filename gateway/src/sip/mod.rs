//! The SIP side of the gateway.

pub mod transport;
