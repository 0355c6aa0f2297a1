//! The configuration DAHDI reports: per span the line configuration
//! (SPANSTAT), per channel the signalling and law (GET_PARAMS). Used to
//! show what is configured and to compare two systems (`examples/dahdi_dump.rs`
//! prints it as JSON).

use serde::{Deserialize, Serialize};

use crate::ctl::Ctl;
use crate::error::Result;
use crate::signalling::Signalling;

/// A span's configuration as SPANSTAT reports it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SpanState {
    pub span: u32,
    pub name: String,
    /// "T1", "E1", "J1", "ANALOG_MIXED"…
    pub span_type: String,
    /// DAHDI_CONFIG_* bits.
    pub lineconfig: u32,
    /// "esf", "d4", "ccs", "cas" or "-".
    pub framing: String,
    /// "b8zs", "hdb3", "ami" or "-".
    pub coding: String,
    pub crc4: bool,
    pub lbo: i32,
    /// The span DAHDI takes its clock from (0: internal).
    pub sync_source: u32,
    /// Alarms ("ok", "red,los"…).
    pub alarms: String,
    pub configured_channels: u32,
    pub total_channels: u32,
}

/// A channel's configuration as GET_PARAMS reports it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChannelState {
    pub chan: u32,
    pub span: u32,
    pub pos: u32,
    /// DAHDI_SIG_* value.
    pub sigtype: u32,
    /// Tandem's name for it ("fxs_ks", "clear", "dchan"…), or the number in
    /// hex for a signalling Tandem does not model.
    pub signalling: String,
    /// "mulaw", "alaw" or "-".
    pub law: String,
}

/// Every span and channel.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConfiguredState {
    pub spans: Vec<SpanState>,
    pub channels: Vec<ChannelState>,
}

impl ConfiguredState {
    /// Read it through the control device.
    pub fn read(ctl: &Ctl) -> Result<ConfiguredState> {
        let hw = super::hardware::Hardware::discover(ctl)?;
        let mut spans = Vec::new();
        let mut channels = Vec::new();
        for s in ctl.spans()? {
            spans.push(SpanState {
                span: s.span,
                name: s.name.clone(),
                span_type: s.span_type.clone(),
                lineconfig: s.lineconfig,
                framing: s.framing().into(),
                coding: s.coding().into(),
                crc4: s.crc4(),
                lbo: s.lbo,
                sync_source: s.sync_source,
                alarms: s.alarms.to_string(),
                configured_channels: s.configured_channels,
                total_channels: s.total_channels,
            });
        }
        for (_, c) in hw.spans.iter().flat_map(|s| s.channels.iter().map(move |c| (s, c))) {
            let p = ctl.params(c.chan)?;
            channels.push(ChannelState {
                chan: p.chan,
                span: p.span,
                pos: p.chanpos,
                sigtype: p.sigtype_raw,
                signalling: Signalling::from_dahdi(p.sigtype_raw).map(|s| s.to_string()).unwrap_or_else(|| format!("{:#x}", p.sigtype_raw)),
                law: match p.law {
                    Some(crate::channel::Law::Mulaw) => "mulaw".into(),
                    Some(crate::channel::Law::Alaw) => "alaw".into(),
                    None => "-".into(),
                },
            });
        }
        channels.sort_by_key(|c| c.chan);
        Ok(ConfiguredState { spans, channels })
    }
}
