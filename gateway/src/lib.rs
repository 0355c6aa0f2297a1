//! The `tandem` daemon and CLI.
//!
//! Today: the operator commands over the DAHDI layer (`tandem spans`,
//! `tandem channels`). Call control, SIP, media and routing follow (issues 5–8).

pub mod call;
pub mod cdr;
pub mod cli;
pub mod config;
pub mod control;
pub mod daemon;
pub mod logging;
pub mod metrics;
pub mod notify;
pub mod realtime;
pub mod reload;
pub mod route;
pub mod sip;
pub mod tdm;
