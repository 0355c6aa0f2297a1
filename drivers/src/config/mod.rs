//! Span and channel configuration from Tandem's configuration file: the
//! `[dahdi]` section of `tandem.toml`, in place of DAHDI's `system.conf`
//! and `dahdi_cfg`.
//!
//! ```toml
//! [dahdi]
//! device_dir = "/dev/dahdi"     # optional, the default
//! tone_zone = "us"              # optional: DEFAULTZONE (the zone must be loaded)
//!
//! [[dahdi.span]]                # a T1 ISDN PRI
//! span = 1                      # DAHDI's span number (lsdahdi, dahdi_scan)
//! type = "t1"                   # t1 | e1 | j1 | analog: must match the hardware
//! framing = "esf"               # t1/j1: esf (default) | d4;  e1: ccs (default) | cas
//! coding = "b8zs"               # t1/j1: b8zs (default) | ami; e1: hdb3 (default) | ami
//! timing = 1                    # clock priority: 1 = best, 2 = next…, 0 = never (required)
//! lbo = 0                       # line build-out 0-7 (default 0)
//! # crc4 = true                 # e1 only (default false)
//! # yellow = true               # send yellow alarm while no channel is open
//!
//! [[dahdi.span.group]]
//! channels = "1-23"             # positions within the span
//! role = "bchan"
//! echo_canceller = "oslec"      # optional: a canceller's name, or false
//!
//! [[dahdi.span.group]]
//! channels = "24"
//! role = "dchan"
//!
//! [[dahdi.span]]                # an analog card
//! span = 5
//! type = "analog"
//!
//! [[dahdi.span.group]]
//! channels = "1-4"              # port numbers
//! role = "fxs"                  # a phone plugs in (system.conf: fxoks)
//! start = "kewl"                # kewl (default) | loop | ground
//! law = "alaw"                  # optional override: mulaw | alaw
//! ```
//!
//! **Channels** are always positions within their span, counted from 1:
//! 1–24 on a T1 or J1, 1–31 on an E1 (16 is the D-channel of an E1 PRI, and
//! unusable on an E1 CAS span), the port numbers on an analog card. Tandem
//! works out DAHDI's channel numbers from the hardware. A list is
//! comma-separated numbers and ranges: `"1-15,17-31"`; a lone channel may
//! be an integer: `channels = 24`.
//!
//! **Roles**, named from the user's side (DAHDI names analog signalling
//! after the far end; Tandem does not):
//!
//! | role | what | system.conf |
//! |---|---|---|
//! | `bchan` | ISDN bearer channels | `bchan` |
//! | `clear` | clear 64 kbit/s channels (never bundled) | `clear` |
//! | `dchan` | ISDN D-channel, HDLC in the card | `hardhdlc` |
//! | `hdlc_fcs` | D-channel, HDLC in DAHDI software | `dchan`, `fcshdlc` |
//! | `hdlc_raw` | raw HDLC | `rawhdlc` |
//! | `fxs` | a port a phone plugs into (or a channel bank's FXS line), with `start` | `fxoks`, `fxols`, `fxogs` |
//! | `fxo` | a port a CO line plugs into, with `start` | `fxsks`, `fxsls`, `fxsgs` |
//! | `em`, `em_e1` | E&M on T1, on E1 | `e&m`, `e&me1` |
//! | `cas` | raw CAS (MFC/R2…), with `idle_bits = "1101"` | `cas=…:1101` |
//! | `unused` | unconfigured | `unused` |
//!
//! Channels no group names are left as they are.
//!
//! **Flow**: [`DahdiConfig::from_toml`] (or deserialize `[dahdi]` as part of
//! a larger file and attach the text with [`DahdiConfig::with_source`]) →
//! [`Hardware::discover`] → [`validate()`] (every problem at once, each as
//! `file:line:column: what is wrong` plus how to fix it; nothing touches the
//! hardware unless there are none) → [`apply()`] (SPANCONFIG, CHANCONFIG +
//! ATTACH_ECHOCAN, DEFAULTZONE, STARTUP, in dahdi_cfg's order).
//! [`configure`] does all of it. [`SystemConf`] reads an existing
//! `system.conf` into the same model, and [`system_conf_to_toml`] converts
//! one.

pub mod apply;
pub mod diag;
pub mod hardware;
pub mod model;
pub mod ranges;
pub mod state;
pub mod system_conf;
pub mod validate;
pub mod write;
pub mod zones;

pub use apply::{ApplyOptions, ApplyReport, apply, apply_with};
pub use diag::{Diagnostic, Errors, Source};
pub use hardware::{Hardware, HwChannel, HwKind, HwSpan, Port};
pub use model::{ChannelList, Coding, DahdiConfig, EchoCanceller, Framing, Group, Role, SpanSection, SpanType};
pub use state::{ChannelState, ConfiguredState, SpanState};
pub use system_conf::{SystemConf, system_conf_to_toml};
pub use validate::{ChannelPlan, Plan, SpanPlan, ToneZone, check, validate};
pub use write::to_toml;

use crate::ctl::Ctl;

/// Why [`configure`] failed.
#[derive(Debug, thiserror::Error)]
pub enum ConfigureError {
    /// The configuration is wrong; nothing was applied.
    #[error("{0}")]
    Invalid(Errors),
    /// The device refused a request (or could not be opened).
    #[error("{0}")]
    Device(#[from] crate::error::Error),
}

/// Open the control device of `cfg`'s device directory, discover the
/// hardware, validate `cfg` against it and apply it.
pub fn configure(cfg: &DahdiConfig) -> Result<(Plan, ApplyReport), ConfigureError> {
    let ctl = Ctl::open(&cfg.device_dir())?;
    let hw = Hardware::discover(&ctl)?;
    let plan = validate(cfg, &hw).map_err(ConfigureError::Invalid)?;
    let report = apply(&plan, &ctl)?;
    Ok((plan, report))
}
