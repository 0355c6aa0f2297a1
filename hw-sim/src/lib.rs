//! `tandem-sim`: a simulator of DAHDI telephony hardware.
//!
//! It presents DAHDI's device files (`ctl`, `channel`, `pseudo`, `timer`,
//! `chan/SSS/CCC`) over FUSE, so that programs use the same open, read,
//! write, ioctl and poll syscalls they use on real cards, and it simulates
//! the cards behind them: analog FXS/FXO ports and T1/E1 spans, with
//! scriptable far ends (phones, central-office lines, cross-connects and
//! external programs) driven through a control socket.
//!
//! * [`model`]: the DAHDI kernel behaviour, sans-IO, one millisecond per tick.
//! * [`farend`]: what is on the other side of each line.
//! * [`fs`]: the FUSE filesystem over the model.
//! * [`clock`]: the thread that ticks the model in real time.
//! * [`control`]: the line-delimited JSON control socket and the external
//!   D-channel sockets; [`client`] is the Rust client for tests.
//! * [`config`]: the simulator's TOML.
//! * [`sysfs`]: DAHDI's sysfs as a second FUSE filesystem (span
//!   assignment), and the uevents udev would deliver to a hotplug program.
//! * [`runner`]: start and stop a simulator (the binary and tests use it).
//! * [`smdi`]: the CO's SMDI link as a pseudo-terminal (`[sim] smdi`).

pub mod client;
pub mod clock;
pub mod config;
pub mod control;
pub mod dsp;
pub mod farend;
pub mod fs;
pub mod model;
pub mod runner;
pub mod smdi;
pub mod sysfs;
