//! Operator commands that show the state of the DAHDI hardware.

pub mod status;
