//! A sans-IO SIP core for the Tandem gateway.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod auth;
pub mod ids;
pub mod transaction;
pub mod wire;
