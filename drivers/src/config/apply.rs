//! Applying a validated [`Plan`] through the control device, in
//! dahdi_cfg's order:
//!
//! 1. SPANCONFIG for each T1/E1/J1 span;
//! 2. for each channel, in channel-number order: CHANCONFIG (signalling,
//!    law, idle bits), then ATTACH_ECHOCAN (its canceller, or none);
//! 3. DEFAULTZONE, when a tone zone is configured;
//! 4. STARTUP for each T1/E1/J1 span.
//!
//! Like dahdi_cfg, a channel whose signalling and law already are what the
//! plan says is not reconfigured (so that re-applying a configuration does
//! not disturb calls) unless [`ApplyOptions::force`] is set; CAS channels
//! are always reconfigured, as their idle bits cannot be read back. Unlike
//! dahdi_cfg, role `unused` actively unconfigures a channel.

use super::validate::Plan;
use crate::ctl::Ctl;
use crate::error::{Error, Result};
use crate::signalling::Signalling;

/// How to apply.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ApplyOptions {
    /// Reconfigure every channel, even those already configured as planned
    /// (dahdi_cfg's `-f`).
    pub force: bool,
}

/// What [`apply`] did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ApplyReport {
    /// Spans given SPANCONFIG, in order.
    pub spans_configured: Vec<u32>,
    /// Channels given CHANCONFIG.
    pub channels_configured: Vec<u32>,
    /// Channels left alone because they already were as planned.
    pub channels_unchanged: Vec<u32>,
    /// The default zone set, if any.
    pub default_zone: Option<u32>,
    /// Spans started.
    pub spans_started: Vec<u32>,
}

/// Apply `plan` with the default options. Stops at the first request the
/// device refuses; the error names the span or channel and the request.
pub fn apply(plan: &Plan, ctl: &Ctl) -> Result<ApplyReport> {
    apply_with(plan, ctl, ApplyOptions::default())
}

/// Apply `plan`.
pub fn apply_with(plan: &Plan, ctl: &Ctl, opts: ApplyOptions) -> Result<ApplyReport> {
    let mut report = ApplyReport::default();
    for s in &plan.spans {
        if let Some(lc) = &s.line {
            tracing::debug!(span = s.span, lineconfig = lc.lineconfig, timing = lc.timing, lbo = lc.lbo, "SPANCONFIG");
            ctl.configure_span(lc, "")?;
            report.spans_configured.push(s.span);
        }
    }
    for (_, c) in plan.channels() {
        let cc = &c.config;
        let unchanged = !opts.force
            && cc.signalling != Signalling::Cas
            && match ctl.params(cc.chan) {
                Ok(p) => p.sigtype_raw == cc.signalling.to_dahdi() && cc.law.is_none_or(|l| p.law == Some(l)),
                Err(Error::NoSuch { .. }) => false,
                Err(e) => return Err(e),
            };
        if unchanged {
            report.channels_unchanged.push(cc.chan);
        } else {
            tracing::debug!(chan = cc.chan, signalling = %cc.signalling, law = ?cc.law, idle_bits = cc.idle_bits, "CHANCONFIG");
            ctl.configure_channel(cc)?;
            report.channels_configured.push(cc.chan);
        }
        if cc.signalling != Signalling::None {
            ctl.attach_echocan(cc.chan, &c.echo_canceller)?;
        }
    }
    if let Some(z) = &plan.tone_zone {
        tracing::debug!(zone = %z.name, number = z.number, "DEFAULTZONE");
        ctl.set_default_zone(z.number).map_err(|e| match e {
            Error::Device { errno: nix::errno::Errno::EINVAL, .. } => Error::Invalid {
                target: crate::error::Target::Ctl,
                msg: format!(
                    "DEFAULTZONE {} ({:?}) refused: DAHDI has not loaded that tone zone (load it with dahdi_cfg's loadzone={})",
                    z.number, z.name, z.name
                ),
            },
            e => e,
        })?;
        report.default_zone = Some(z.number);
    }
    for s in &plan.spans {
        if s.line.is_some() {
            tracing::debug!(span = s.span, "STARTUP");
            ctl.startup(s.span)?;
            report.spans_started.push(s.span);
        }
    }
    tracing::info!(
        spans = report.spans_configured.len(),
        channels = report.channels_configured.len(),
        unchanged = report.channels_unchanged.len(),
        "DAHDI configuration applied"
    );
    Ok(report)
}
