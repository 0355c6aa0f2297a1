//! Reloading the configuration without dropping calls: what a reload reads,
//! and which of its changes apply live and which need a restart.
//!
//! The daemon reloads on SIGHUP and on the control socket's `reload` op
//! (`tandem reload`). It reads the file it was started with again and
//! checks it exactly as `tandem check` does ([`load`]). An invalid file
//! changes nothing: its diagnostics (`file:line:column`) are logged and
//! returned to the caller. A valid one is compared with the running
//! configuration, section by section, as TOML values (so comments,
//! spacing and key order do not count), by [`diff`]:
//!
//! | applied live | needs a restart |
//! |---|---|
//! | `[[route]]` (patterns, targets, translations, timers) | `[dahdi]` (spans and channels) |
//! | `[[sip.trunk]]` (added, removed, changed), `[sip] user_agent` | `[[pri]]`, `[[analog]]`, `[[cas]]` (TDM interfaces) |
//! | `[[group]]` (members, hunt strategy) | `[tones]` (the ports' tone zones) |
//! | `[general]` `max_calls`, `no_route_cause`, `drain_timeout_s`, `cdr_file`, `cdr_fsync` | `[sip]` `listen`, `tls_cert`, `tls_key`, `tls_ca`, `rtp_ip`, `rtp_ports`, `t1_ms`, `t2_ms`; adding or removing `[sip]` |
//! | | `[general]` `device_dir`, `control_socket`, `metrics_listen`, `log_format` |
//! | | `[process]` (realtime scheduling) |
//!
//! What needs a restart is compared with the configuration the daemon
//! **started** with, so it is reported again on every reload until the
//! daemon restarts; what is live is compared with the configuration
//! applied last. Calls in progress are never touched: they keep the
//! route they took and their trunk (a removed trunk's calls go on until
//! they end; see [`crate::sip::SipSide::reconfigure`] and
//! [`crate::call::control::CallControl::reconfigure`]).
//!
//! Every reload (and every SIGHUP, valid file or not) also closes the CDR
//! file and opens it again at its configured path, so logrotate can
//! rename the file and signal the daemon (no `copytruncate`).
//!
//! The reply of the `reload` op is `{"ok": true, "applied": [...],
//! "restart_needed": [...]}` with the section names of the table above
//! (`route`, `sip.trunk`, `general.max_calls`, `dahdi`, `sip.listen`…), or
//! `{"ok": false, "error": "...", "errors": [...]}`.

use std::path::Path;

use tandem_drivers::config::diag::Diagnostic;

use crate::config::Config;

/// Top-level sections that apply live.
const LIVE: &[&str] = &["route", "group"];
/// `[general]` keys that apply live.
const LIVE_GENERAL: &[&str] = &["max_calls", "no_route_cause", "drain_timeout_s", "cdr_file", "cdr_fsync"];
/// `[sip]` keys that apply live.
const LIVE_SIP: &[&str] = &["trunk", "user_agent"];

/// Why a reload changed nothing.
#[derive(Debug, thiserror::Error)]
pub enum ReloadError {
    /// The file does not pass `tandem check`.
    #[error("{}", .0.iter().map(ToString::to_string).collect::<Vec<_>>().join("\n"))]
    Invalid(Vec<Diagnostic>),
    /// The SIP side could not take the trunks.
    #[error("SIP trunks: {0}")]
    Sip(#[from] crate::sip::SipError),
}

/// What a valid reload changes: section names (see the module docs).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Diff {
    /// Live sections that differ from the configuration applied last.
    pub applied: Vec<String>,
    /// Sections that differ from the configuration the daemon started
    /// with and need a restart; not applied.
    pub restart_needed: Vec<String>,
}

/// A configuration's text as TOML values (for [`diff`]); empty when the
/// configuration has no text (built in code).
pub fn table_of(cfg: &Config) -> toml::Table {
    cfg.source.text().and_then(|t| t.parse::<toml::Table>().ok()).unwrap_or_default()
}

/// Reads and checks `path` as `tandem check` does; the configuration and
/// its TOML values.
pub fn load(path: &Path) -> Result<(Config, toml::Table), ReloadError> {
    let cfg = Config::load(path).map_err(ReloadError::Invalid)?;
    let table = table_of(&cfg);
    Ok((cfg, table))
}

/// Compares a new configuration with the one the daemon started with
/// (for what needs a restart) and the one applied last (for what is live).
pub fn diff(started: &toml::Table, applied: &toml::Table, new: &toml::Table) -> Diff {
    let live = changes(applied, new).into_iter().filter(|k| is_live(k)).collect();
    let restart = changes(started, new).into_iter().filter(|k| !is_live(k)).collect();
    Diff { applied: live, restart_needed: restart }
}

/// Whether a section name from [`changes`] applies live.
fn is_live(key: &str) -> bool {
    match key.split_once('.') {
        Some(("general", k)) => LIVE_GENERAL.contains(&k),
        Some(("sip", k)) => LIVE_SIP.contains(&k),
        Some(_) => false,
        None => LIVE.contains(&key),
    }
}

/// The sections that differ: top-level names, and `general.<key>` /
/// `sip.<key>` inside those two (`sip` itself when it is added or removed).
fn changes(old: &toml::Table, new: &toml::Table) -> Vec<String> {
    let mut out = Vec::new();
    for key in keys(old, new) {
        let (a, b) = (old.get(key), new.get(key));
        if a == b {
            continue;
        }
        match (key, a, b) {
            ("general", _, _) | ("sip", Some(_), Some(_)) => {
                let empty = toml::Table::new();
                let ta = a.and_then(|v| v.as_table()).unwrap_or(&empty);
                let tb = b.and_then(|v| v.as_table()).unwrap_or(&empty);
                out.extend(keys(ta, tb).into_iter().filter(|k| ta.get(*k) != tb.get(*k)).map(|k| format!("{key}.{k}")));
            }
            _ => out.push(key.to_owned()),
        }
    }
    out
}

/// The keys of both tables, sorted, once each.
fn keys<'a>(a: &'a toml::Table, b: &'a toml::Table) -> Vec<&'a str> {
    let mut k: Vec<&str> = a.keys().chain(b.keys()).map(String::as_str).collect();
    k.sort_unstable();
    k.dedup();
    k
}

#[cfg(test)]
mod tests {
    use super::*;

    const BASE: &str = r#"
[general]
cdr_file = "/tmp/cdr.jsonl"
drain_timeout_s = 30
control_socket = "/run/tandem/t.sock"

[dahdi]
[[dahdi.span]]
span = 1
type = "t1"
timing = 1

[sip]
listen = ["udp:127.0.0.1:5060"]
rtp_ports = "10000-20000"

[[sip.trunk]]
name = "a"
host = "127.0.0.61:5060"

[[route]]
name = "out"
called = ["!"]
target = [{ trunk = "a" }]
"#;

    fn t(s: &str) -> toml::Table {
        s.parse().unwrap()
    }

    #[test]
    fn the_same_file_changes_nothing_whatever_its_comments_and_spacing() {
        let reformatted = BASE.replace("drain_timeout_s = 30", "# a comment\ndrain_timeout_s   =   30");
        assert_eq!(diff(&t(BASE), &t(BASE), &t(&reformatted)), Diff::default());
    }

    #[test]
    fn routes_trunks_and_limits_apply_live() {
        let new = BASE
            .replace("target = [{ trunk = \"a\" }]", "target = [{ trunk = \"b\" }]")
            .replace("[[route]]", "[[sip.trunk]]\nname = \"b\"\nhost = \"127.0.0.62:5060\"\n\n[[route]]")
            .replace("drain_timeout_s = 30", "drain_timeout_s = 60\nmax_calls = 10");
        let d = diff(&t(BASE), &t(BASE), &t(&new));
        assert_eq!(d.applied, ["general.drain_timeout_s", "general.max_calls", "route", "sip.trunk"]);
        assert!(d.restart_needed.is_empty(), "{d:?}");
    }

    #[test]
    fn spans_interfaces_listeners_and_sockets_need_a_restart() {
        let new = BASE
            .replace("timing = 1", "timing = 0")
            .replace("udp:127.0.0.1:5060", "udp:127.0.0.1:5070")
            .replace("/run/tandem/t.sock", "/run/tandem/u.sock")
            .replace("rtp_ports = \"10000-20000\"", "rtp_ports = \"20000-30000\"")
            + "\n[[pri]]\nname = \"p\"\nspans = [1]\n\n[tones.us]\nring_cadence = [[1000, 2000]]\n";
        let d = diff(&t(BASE), &t(BASE), &t(&new));
        assert_eq!(d.restart_needed, ["dahdi", "general.control_socket", "pri", "sip.listen", "sip.rtp_ports", "tones"]);
        assert!(d.applied.is_empty(), "{d:?}");
    }

    #[test]
    fn realtime_scheduling_needs_a_restart() {
        let new = format!("{BASE}\n[process]\nrealtime = true\n");
        let d = diff(&t(BASE), &t(BASE), &t(&new));
        assert_eq!(d.restart_needed, ["process"]);
        assert!(d.applied.is_empty(), "{d:?}");
    }

    #[test]
    fn adding_or_removing_the_sip_section_needs_a_restart() {
        let without: String = BASE.split("[sip]").next().unwrap().to_owned();
        assert_eq!(diff(&t(BASE), &t(BASE), &t(&without)).restart_needed, ["sip"]);
        assert_eq!(diff(&t(&without), &t(&without), &t(BASE)).restart_needed, ["sip"]);
    }

    #[test]
    fn what_needs_a_restart_is_reported_until_the_restart_and_live_changes_once() {
        let first = BASE.replace("timing = 1", "timing = 0").replace("drain_timeout_s = 30", "drain_timeout_s = 5");
        let d1 = diff(&t(BASE), &t(BASE), &t(&first));
        assert_eq!((d1.applied.as_slice(), d1.restart_needed.as_slice()), (&["general.drain_timeout_s".to_owned()][..], &["dahdi".to_owned()][..]));
        // The same file again: the live change is in place, the span change still waits.
        let d2 = diff(&t(BASE), &t(&first), &t(&first));
        assert!(d2.applied.is_empty());
        assert_eq!(d2.restart_needed, ["dahdi"]);
    }

    #[test]
    fn a_file_that_does_not_pass_check_is_refused_with_file_line_and_column() {
        let dir = std::env::temp_dir().join(format!("tandem-reload-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("broken.toml");
        std::fs::write(&path, BASE.replace("target = [{ trunk = \"a\" }]", "target = [{ trunk = \"nope\" }]")).unwrap();
        let err = load(&path).unwrap_err().to_string();
        let line = BASE.lines().position(|l| l.starts_with("target =")).unwrap() + 1;
        assert!(err.contains(&format!("broken.toml:{line}:")), "{err}");
        assert!(err.contains("nope"), "{err}");
        std::fs::write(&path, BASE).unwrap();
        let (cfg, table) = load(&path).unwrap();
        assert_eq!(cfg.route.len(), 1);
        assert_eq!(diff(&table, &table, &t(BASE)), Diff::default());
        let _ = std::fs::remove_dir_all(&dir);
    }
}
