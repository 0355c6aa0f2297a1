//! The daemon's control socket: one JSON request per line, one JSON reply
//! per line, on a Unix stream socket (`[general] control_socket`, default
//! `/run/tandem/tandem.sock`).
//!
//! | request | reply |
//! |---|---|
//! | `{"op": "status"}` | `{"ok": true, "calls", "draining", "interfaces": [{"name", "kind" (pri, analog or cas), "up", "channels": {"idle", "busy", "alarm", "other", "blocked"}, "blocked_channels": ["span:pos"], "far_blocked_channels": ["span:pos"], "blocks": [{"channel": "span:pos", "blocked_by": "local" \| "far" \| "both"}], "block_note" (when blocks stay local), "cas_channels" (CAS trunks): [{"span", "pos", "channo", "state"}]}], "trunks": [{"name", "kind", "state", "active_calls"}], "sip_malformed"}`; `blocked` counts the channels the operator or the far end (PRI SERVICE) blocked (one still in a call counts in `busy` too) |
//! | `{"op": "calls"}` | `{"ok": true, "calls": [{"id", "direction", "state" (setup \| ringing \| answered \| releasing), "calling", "called", "start", "answer", "age_s", "duration_s", "inbound": leg, "outbound": leg or null}]}`; a TDM leg is `{"kind": "tdm", "interface", "span", "channel"}`, a SIP leg `{"kind": "sip", "trunk", "call_id", "remote"}`, an outbound one also has `"target"` |
//! | `{"op": "call.hangup", "call": "<16 hex digits>", "cause": N}` | `{"ok": true}`: both legs are cleared with Q.850 cause N (default 16) and the CDR is written as usual; an unknown id gives `{"ok": false, "error"}` |
//! | `{"op": "channel.block" \| "channel.unblock", "span": N, "channels": [pos, ...], "now": bool}` | `{"ok": true, "channels": [{"interface", "span", "channel"}], "cleared": [call ids], "notes": [{"interface", "note"}]}`: without `"channels"`, every channel of the span. A blocked channel takes no new call (PRI: skipped by the hunt, an incoming SETUP that prefers it is given another channel, one that insists on it gets RELEASE COMPLETE cause 44; CAS: busied out with the alarm's bits; analog: not rung or seized, and a blocked FXO line ignores ringing); a call on it goes on and the block takes effect when it ends, unless `"now": true`, which clears it with cause 41 ([`BLOCK_NOW_CAUSE`]). On a PRI whose switch type has SERVICE messages (NI-2, DMS-100, 4ESS, 5ESS) the far end gets SERVICE out of service per channel once it is idle, and in service on unblock; elsewhere the block is local only, and `notes` says so (see [`crate::tdm::pri`]) |
//! | `{"op": "log.level", "filter": "info,tandem_gateway::sip=debug"}` | `{"ok": true, "filter", "previous"}`: the daemon's log filter (tracing's `EnvFilter` syntax) is replaced at once (see [`crate::logging`]); without `"filter"`, `{"ok": true, "filter"}` tells the one in force. A filter that does not parse gets `"ok": false` and the old one stays |
//! | `{"op": "reload"}` | `{"ok": true, "applied": [sections], "restart_needed": [sections]}`: the configuration file is read again and checked as `tandem check` does; routes, SIP trunks, span groups, limits, the drain timeout and the CDR file apply live, without touching calls in progress; what needs a restart (`dahdi`, `pri`, `sip.listen`…) is listed and not applied; the CDR file is reopened. An invalid file changes nothing: `{"ok": false, "error", "errors": ["file:line:col: ..."]}` (see [`crate::reload`]); SIGHUP does the same |
//! | `{"op": "span.up", "span": N}` | `{"ok": true}`: the span is usable again (sent by `tandem-hotplug`) |
//! | `{"op": "span.down", "span": N}` | `{"ok": true}`: the span is gone; its channels are skipped by the hunt |
//! | `{"op": "device.add" \| "device.remove", ...}` | `{"ok": true}` (logged) |
//! | anything else | `{"ok": false, "error": "..."}` |
//!
//! `tandem status`, `tandem calls`, `tandem hangup`, `tandem block`,
//! `tandem unblock` and `tandem reload` are the clients. The socket is only created when no other
//! daemon answers on the path (a stale file is replaced); a daemon that
//! cannot create it runs on and logs a warning.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{UnixListener, UnixStream};
use tokio::sync::{mpsc, oneshot};
use tracing::{debug, info, warn};

/// Longest request line accepted.
const MAX_LINE: usize = 4096;

/// The cause a call on a channel blocked with `"now": true` is cleared with:
/// Q.850 cause 41, temporary failure (Q.850 §2.2.7.1: the condition is not
/// likely to last; the caller may retry at once, and a retry is hunted onto
/// another channel). Cause 38 (network out of order) is what span alarms
/// give; an operator's maintenance is neither an alarm nor a long outage.
pub const BLOCK_NOW_CAUSE: u8 = 41;

/// Why a channel list (`<span>:<chans>`) could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ChannelSpecError {
    #[error("span {0:?} is not a number from 1 up")]
    Span(String),
    #[error("channel {0:?} is not a number from 1 up")]
    Channel(String),
    #[error("range {0:?} runs backwards")]
    Backwards(String),
    #[error("no channels after ':'")]
    Empty,
    #[error("range {0:?} is longer than a span")]
    TooLong(String),
}

/// Reads `<span>` (the whole span: `None`) or `<span>:<chans>`, where
/// `<chans>` is a comma-separated list of positions and ranges (`1-4,7`);
/// the positions come back sorted, without duplicates.
pub fn parse_channel_spec(spec: &str) -> Result<(u32, Option<Vec<u32>>), ChannelSpecError> {
    let number = |t: &str| t.trim().parse::<u32>().ok().filter(|n| *n >= 1);
    let (span, chans) = match spec.split_once(':') {
        Some((s, c)) => (s, Some(c)),
        None => (spec, None),
    };
    let span = number(span).ok_or_else(|| ChannelSpecError::Span(span.trim().to_owned()))?;
    let Some(chans) = chans else { return Ok((span, None)) };
    if chans.trim().is_empty() {
        return Err(ChannelSpecError::Empty);
    }
    let mut list = Vec::new();
    for item in chans.split(',') {
        let item = item.trim();
        match item.split_once('-') {
            Some((a, b)) => {
                let lo = number(a).ok_or_else(|| ChannelSpecError::Channel(a.trim().to_owned()))?;
                let hi = number(b).ok_or_else(|| ChannelSpecError::Channel(b.trim().to_owned()))?;
                if hi < lo {
                    return Err(ChannelSpecError::Backwards(item.to_owned()));
                }
                // DAHDI allows at most 1,024 channels in all.
                if hi - lo >= 1024 {
                    return Err(ChannelSpecError::TooLong(item.to_owned()));
                }
                list.extend(lo..=hi);
            }
            None => list.push(number(item).ok_or_else(|| ChannelSpecError::Channel(item.to_owned()))?),
        }
    }
    list.sort_unstable();
    list.dedup();
    Ok((span, Some(list)))
}

/// A request for the run loop, with where to send the reply.
pub struct ControlRequest {
    pub request: Value,
    pub reply: oneshot::Sender<Value>,
}

/// Create the socket (unless another daemon owns it) and serve it; each
/// request goes to `to_loop`. Returns the path bound, to remove at exit.
pub async fn serve(path: &Path, to_loop: mpsc::Sender<ControlRequest>) -> Option<PathBuf> {
    if UnixStream::connect(path).await.is_ok() {
        warn!(path = %path.display(), "another daemon answers on the control socket; running without one");
        return None;
    }
    let _ = std::fs::remove_file(path);
    if let Some(dir) = path.parent() {
        let _ = std::fs::create_dir_all(dir);
    }
    let listener = match UnixListener::bind(path) {
        Ok(l) => l,
        Err(e) => {
            warn!(path = %path.display(), error = %e, "cannot create the control socket; running without one");
            return None;
        }
    };
    info!(path = %path.display(), "control socket");
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            };
            let tx = to_loop.clone();
            tokio::spawn(async move { connection(stream, tx).await });
        }
    });
    Some(path.to_path_buf())
}

async fn connection(stream: UnixStream, to_loop: mpsc::Sender<ControlRequest>) {
    let (r, mut w) = stream.into_split();
    let mut lines = BufReader::new(r).lines();
    while let Ok(Some(line)) = lines.next_line().await {
        let reply = if line.len() > MAX_LINE {
            json!({"ok": false, "error": "request too long"})
        } else {
            match serde_json::from_str::<Value>(&line) {
                Ok(request) => {
                    let (tx, rx) = oneshot::channel();
                    if to_loop.send(ControlRequest { request, reply: tx }).await.is_err() {
                        break;
                    }
                    rx.await.unwrap_or_else(|_| json!({"ok": false, "error": "daemon stopping"}))
                }
                Err(e) => json!({"ok": false, "error": format!("not JSON: {e}")}),
            }
        };
        debug!(%reply, "control reply");
        if w.write_all(format!("{reply}\n").as_bytes()).await.is_err() {
            break;
        }
    }
}

/// The client side: send one request, wait for one reply (for `tandem status`).
pub fn request(path: &Path, req: &Value, timeout: Duration) -> std::io::Result<Value> {
    use std::io::{BufRead, Write};
    let mut s = std::os::unix::net::UnixStream::connect(path)?;
    s.set_read_timeout(Some(timeout))?;
    s.set_write_timeout(Some(timeout))?;
    s.write_all(format!("{req}\n").as_bytes())?;
    let mut line = String::new();
    std::io::BufReader::new(s).read_line(&mut line)?;
    serde_json::from_str(&line).map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_span_alone_means_every_channel_of_it() {
        assert_eq!(parse_channel_spec("2"), Ok((2, None)));
    }

    #[test]
    fn positions_and_ranges_are_expanded_sorted_and_deduplicated() {
        assert_eq!(parse_channel_spec("1:1-4,7"), Ok((1, Some(vec![1, 2, 3, 4, 7]))));
        assert_eq!(parse_channel_spec("1: 7, 3-4 ,4"), Ok((1, Some(vec![3, 4, 7]))));
        assert_eq!(parse_channel_spec("3:5"), Ok((3, Some(vec![5]))));
    }

    #[test]
    fn bad_specs_are_refused_with_what_is_wrong() {
        assert_eq!(parse_channel_spec("x:1"), Err(ChannelSpecError::Span("x".into())));
        assert_eq!(parse_channel_spec("0"), Err(ChannelSpecError::Span("0".into())));
        assert_eq!(parse_channel_spec("1:"), Err(ChannelSpecError::Empty));
        assert_eq!(parse_channel_spec("1:4-2"), Err(ChannelSpecError::Backwards("4-2".into())));
        assert_eq!(parse_channel_spec("1:1,,2"), Err(ChannelSpecError::Channel("".into())));
        assert_eq!(parse_channel_spec("1:0-3"), Err(ChannelSpecError::Channel("0".into())));
        assert_eq!(parse_channel_spec("1:a-3"), Err(ChannelSpecError::Channel("a".into())));
        assert_eq!(parse_channel_spec("1:1-99999"), Err(ChannelSpecError::TooLong("1-99999".into())));
    }
}
