//! A small client for the control socket, for tests.

use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;

use serde_json::{Value, json};

/// A connection to a running tandem-sim.
pub struct Client {
    writer: UnixStream,
    reader: BufReader<UnixStream>,
    next_id: u64,
}

/// An error from the simulator or the connection.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("control socket: {0}")]
    Io(#[from] std::io::Error),
    #[error("bad reply: {0}")]
    BadReply(String),
    #[error("simulator refused {op}: {msg}")]
    Refused { op: String, msg: String },
}

impl Client {
    pub fn connect(path: impl AsRef<Path>) -> Result<Client, ClientError> {
        let s = UnixStream::connect(path)?;
        Ok(Client { reader: BufReader::new(s.try_clone()?), writer: s, next_id: 1 })
    }

    /// Send one request and wait for its reply.
    pub fn call(&mut self, op: &str, args: Value) -> Result<Value, ClientError> {
        let id = self.next_id;
        self.next_id += 1;
        let mut req = match args {
            Value::Object(m) => m,
            Value::Null => Default::default(),
            other => return Err(ClientError::BadReply(format!("arguments must be an object, got {other}"))),
        };
        req.insert("id".into(), json!(id));
        req.insert("op".into(), json!(op));
        let mut line = Value::Object(req).to_string();
        line.push('\n');
        self.writer.write_all(line.as_bytes())?;
        let mut buf = String::new();
        self.reader.read_line(&mut buf)?;
        let v: Value = serde_json::from_str(&buf).map_err(|e| ClientError::BadReply(format!("{e}: {buf:?}")))?;
        if v.get("ok") == Some(&Value::Bool(true)) {
            Ok(v.get("result").cloned().unwrap_or(Value::Null))
        } else {
            Err(ClientError::Refused {
                op: op.into(),
                msg: v.get("error").and_then(Value::as_str).unwrap_or("?").into(),
            })
        }
    }
}
