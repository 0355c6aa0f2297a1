//! The daemon's control socket: one JSON request per line, one JSON reply
//! per line, on a Unix stream socket (`[general] control_socket`, default
//! `/run/tandem/tandem.sock`).
//!
//! | request | reply |
//! |---|---|
//! | `{"op": "status"}` | `{"ok": true, "calls", "draining", "interfaces": [{"name", "up", "channels": {"idle", "busy", "alarm", "other"}, "cas_channels" (CAS trunks): [{"span", "pos", "channo", "state"}]}], "trunks": [{"name", "kind", "state", "active_calls"}], "sip_malformed"}` |
//! | `{"op": "span.up", "span": N}` | `{"ok": true}`: the span is usable again (sent by `tandem-hotplug`) |
//! | `{"op": "span.down", "span": N}` | `{"ok": true}`: the span is gone; its channels are skipped by the hunt |
//! | `{"op": "device.add" \| "device.remove", ...}` | `{"ok": true}` (logged) |
//! | anything else | `{"ok": false, "error": "..."}` |
//!
//! `tandem status` is the client. The socket is only created when no other
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
