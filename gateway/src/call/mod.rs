//! Call control: the back-to-back agent that joins a TDM leg and a SIP leg.
//!
//! [`model`] is the leg-neutral vocabulary both kinds of leg speak.

pub mod causes;
pub mod control;
pub mod model;

pub use model::*;
