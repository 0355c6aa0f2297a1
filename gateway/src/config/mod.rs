//! `tandem.toml`: the daemon's configuration file.

pub mod pri;
