//! A sans-IO SIP core for the Tandem gateway.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod auth;
pub mod dialog;
pub mod ids;
pub mod options;
pub mod registration;
pub mod rel100;
pub mod session_timer;
pub mod transaction;
pub mod wire;
