//! The daemon's log: `tracing` to stderr, text or JSON lines, with a
//! filter an operator can change while it runs (`tandem log-level`, the
//! control socket's `log.level` op), as Asterisk's `core set debug` does:
//! turning on debug for one part (`tandem_gateway::sip=debug`) to watch a
//! problem and back, without a restart that would drop calls.
//!
//! The filter is set once by [`init`] (`--log`, else `RUST_LOG`, else
//! `info`); [`set_filter`] replaces it, and [`filter`] tells the current one.

use std::sync::{Mutex, OnceLock};

use tracing_subscriber::EnvFilter;

use crate::config::LogFormat;

/// Swaps the installed subscriber's filter.
type Reloader = Box<dyn Fn(EnvFilter) -> Result<(), String> + Send + Sync>;

static RELOAD: OnceLock<Reloader> = OnceLock::new();
/// The filter in force, as text.
static CURRENT: Mutex<String> = Mutex::new(String::new());

/// Installs the global subscriber: `filter` (`--log`), else `RUST_LOG`,
/// else `info`; `format` text or JSON lines. A second call does nothing.
pub fn init(filter: Option<&str>, format: LogFormat) {
    let text = match filter {
        Some(f) => f.to_owned(),
        None => std::env::var("RUST_LOG").ok().filter(|f| EnvFilter::try_new(f).is_ok()).unwrap_or_else(|| "info".to_owned()),
    };
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let b = tracing_subscriber::fmt().with_env_filter(EnvFilter::new(&text)).with_writer(std::io::stderr).with_ansi(ansi);
    // The handle's type names the formatter, so each format gets its own.
    let reloader: Option<Reloader> = match format {
        LogFormat::Json => {
            let b = b.json().with_filter_reloading();
            let handle = b.reload_handle();
            b.try_init().ok().map(|()| Box::new(move |f| handle.reload(f).map_err(|e| e.to_string())) as Reloader)
        }
        _ => {
            let b = b.with_filter_reloading();
            let handle = b.reload_handle();
            b.try_init().ok().map(|()| Box::new(move |f| handle.reload(f).map_err(|e| e.to_string())) as Reloader)
        }
    };
    if let Some(r) = reloader {
        let _ = RELOAD.set(r);
        *CURRENT.lock().unwrap_or_else(|e| e.into_inner()) = text;
    }
}

/// The filter in force (empty before [`init`]).
pub fn filter() -> String {
    CURRENT.lock().unwrap_or_else(|e| e.into_inner()).clone()
}

/// Replaces the filter (tracing's `EnvFilter` syntax, e.g. `info` or
/// `info,tandem_gateway::sip=debug`); returns the previous one. A filter
/// that does not parse is refused with why, and the old one stays.
pub fn set_filter(new: &str) -> Result<String, String> {
    let parsed = EnvFilter::try_new(new).map_err(|e| format!("{new:?} is not a log filter: {e} (e.g. \"info\" or \"info,tandem_gateway::sip=debug\")"))?;
    let reload = RELOAD.get().ok_or("the log is not set up for filter changes")?;
    reload(parsed)?;
    let mut cur = CURRENT.lock().unwrap_or_else(|e| e.into_inner());
    Ok(std::mem::replace(&mut *cur, new.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_filter_that_does_not_parse_is_refused_with_an_example() {
        let e = set_filter("tandem_gateway=loud").unwrap_err();
        assert!(e.contains("is not a log filter") && e.contains("e.g."), "{e}");
    }
}
