//! The control socket: line-delimited JSON requests and replies.
//!
//! Filled in below; see the README section "Control protocol".

use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::{UnixListener, UnixStream};
use std::sync::Arc;

use parking_lot::Mutex;
use serde_json::{Value, json};

use crate::fs::State;

/// Serve the control socket at `path` until the process exits.
/// Returns hooks for the clock thread (moving D-channel frames to external sockets).
pub fn serve(
    path: &str,
    state: Arc<Mutex<State>>,
    _externals: &[crate::config::ExternalSpan],
) -> std::io::Result<Vec<crate::clock::AfterTick>> {
    let _ = std::fs::remove_file(path);
    let listener = UnixListener::bind(path)?;
    std::thread::Builder::new().name("control".into()).spawn(move || {
        for conn in listener.incoming() {
            let Ok(conn) = conn else { continue };
            let st = state.clone();
            let _ = std::thread::Builder::new().name("control-conn".into()).spawn(move || handle_conn(conn, st));
        }
    })?;
    Ok(Vec::new())
}

fn handle_conn(conn: UnixStream, state: Arc<Mutex<State>>) {
    let Ok(mut out) = conn.try_clone() else { return };
    let reader = BufReader::new(conn);
    for line in reader.split(b'\n') {
        let Ok(line) = line else { return };
        if line.iter().all(|b| b.is_ascii_whitespace()) {
            continue;
        }
        let reply = handle_line(&line, &state);
        let mut text = reply.to_string();
        text.push('\n');
        if out.write_all(text.as_bytes()).is_err() {
            return;
        }
    }
}

/// Handle one request line; never panics on bad input.
pub fn handle_line(line: &[u8], state: &Arc<Mutex<State>>) -> Value {
    let req: Value = match serde_json::from_slice(line) {
        Ok(v) => v,
        Err(e) => return json!({"ok": false, "error": format!("bad JSON: {e}")}),
    };
    let id = req.get("id").cloned().unwrap_or(Value::Null);
    let Some(op) = req.get("op").and_then(Value::as_str) else {
        return json!({"id": id, "ok": false, "error": "missing \"op\" (a string)"});
    };
    let mut st = state.lock();
    match dispatch(op, &req, &mut st) {
        Ok(result) => json!({"id": id, "ok": true, "result": result}),
        Err(e) => json!({"id": id, "ok": false, "error": e}),
    }
}

fn dispatch(op: &str, _req: &Value, st: &mut State) -> Result<Value, String> {
    match op {
        "ping" => Ok(json!({"now_ms": st.dahdi.now_ms})),
        _ => Err(format!("unknown op {op:?}")),
    }
}
