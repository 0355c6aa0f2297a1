//! The `[[pri]]` (ISDN PRI interfaces) and `[[group]]` (span groups for
//! outbound TDM calls) sections of `tandem.toml`.
//!
//! (Stub: fleshed out by the PRI leg's work. The root config includes these
//! types and calls [`validate`].)

use serde::Deserialize;
use tandem_drivers::config::diag::{Diagnostic, SourceRef};

/// One ISDN PRI interface: one or more spans (NFAS) under one D-channel.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PriConfig {
    /// The interface's name, used by routes and groups.
    pub name: toml::Spanned<String>,
}

/// A span group: the B-channels (or lines) outbound TDM calls hunt over.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GroupConfig {
    /// The group's name, used by routes.
    pub name: toml::Spanned<String>,
}

/// Checks the PRI and group sections; every problem is pushed to `out`.
pub fn validate(pris: &[PriConfig], groups: &[GroupConfig], src: &SourceRef, out: &mut Vec<Diagnostic>) {
    let _ = (pris, groups, src, out);
}
