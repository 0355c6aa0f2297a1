//! Malformed control input gets an error reply (or, for an oversized line,
//! a closed connection) and the simulator keeps working.

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::net::UnixStream;
use std::time::Duration;

use common::*;

const CONFIG: &str = r#"
[[card]]
model = "tdm410p"
ports = ["fxs", "fxo"]
"#;

struct Raw {
    w: UnixStream,
    r: BufReader<UnixStream>,
}

impl Raw {
    fn connect(sim: &Sim) -> Raw {
        let s = UnixStream::connect(&sim.control).expect("connect");
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        s.set_write_timeout(Some(Duration::from_secs(5))).unwrap();
        Raw { r: BufReader::new(s.try_clone().unwrap()), w: s }
    }

    /// Send raw bytes (a newline is added) and parse the one-line reply.
    fn send(&mut self, bytes: &[u8]) -> Value {
        self.w.write_all(bytes).unwrap();
        self.w.write_all(b"\n").unwrap();
        let mut line = String::new();
        self.r.read_line(&mut line).expect("reply within 5 s");
        serde_json::from_str(&line).unwrap_or_else(|e| panic!("reply is not JSON ({e}): {line:?}"))
    }

    fn expect_error(&mut self, bytes: &[u8]) -> String {
        let v = self.send(bytes);
        assert_eq!(v["ok"], json!(false), "{:?} should be refused: {v}", String::from_utf8_lossy(bytes));
        let msg = v["error"].as_str().unwrap_or_else(|| panic!("error reply without a message: {v}")).to_string();
        assert!(!msg.is_empty());
        msg
    }

    fn ping_ok(&mut self) {
        let v = self.send(br#"{"id": 99, "op": "ping"}"#);
        assert_eq!(v["ok"], json!(true), "{v}");
        assert_eq!(v["id"], json!(99));
        assert!(v["result"]["now_ms"].is_u64(), "{v}");
    }
}

#[test]
fn malformed_requests_get_error_replies_and_the_connection_keeps_working() {
    let sim = Sim::start(CONFIG);
    let mut r = Raw::connect(&sim);
    r.ping_ok();

    r.expect_error(b"this is not json");
    r.expect_error(b"{\"op\": \"ping\"");
    r.expect_error(b"[1, 2, 3]");
    r.expect_error(b"42");
    r.expect_error(b"{}");
    r.expect_error(br#"{"op": 7}"#);
    r.expect_error(br#"{"op": "launch.rocket"}"#);
    r.expect_error(b"{\"op\": \"pi\xffng\"}");
    r.expect_error(b"\xff\xfe\xfd");
    r.expect_error(b"{\"op\": \"phone.hook\", \"chan\": 1, \"offhook\": true, \"x\": \"\xc3\x28\"}");
    // Arguments: missing, mistyped, out of range, or the wrong kind of line.
    r.expect_error(br#"{"op": "phone.hook", "chan": 1}"#);
    r.expect_error(br#"{"op": "phone.hook", "chan": "one", "offhook": true}"#);
    r.expect_error(br#"{"op": "phone.hook", "chan": 99, "offhook": true}"#);
    r.expect_error(br#"{"op": "phone.hook", "chan": 2, "offhook": true}"#);
    r.expect_error(br#"{"op": "co.ring", "chan": 1}"#);
    r.expect_error(br#"{"op": "co.ring", "chan": 2, "cadence": "fast"}"#);
    r.expect_error(br#"{"op": "phone.dial", "chan": 1, "digits": "12Z"}"#);
    r.expect_error(br#"{"op": "span.alarm", "span": 0, "alarms": ["red"]}"#);
    // The id is echoed on errors too.
    let v = r.send(br#"{"id": "abc", "op": "no.such.op"}"#);
    assert_eq!((v["id"].clone(), v["ok"].clone()), (json!("abc"), json!(false)));

    // Blank lines are ignored; the connection still answers in order.
    r.w.write_all(b"\n\n").unwrap();
    r.ping_ok();
    let v = r.send(br#"{"op": "phone.get", "chan": 1}"#);
    assert_eq!(v["ok"], json!(true), "{v}");
    assert_eq!(v["result"]["offhook"], json!(false), "a refused request changed nothing");

    // The device side was not disturbed either.
    let ctl = sim.ctl();
    chanconfig(&ctl, 1, d::DAHDI_SIG_FXOKS);
    let ch = sim.open_chan(1, 1);
    call(&mut sim.client(), "phone.hook", json!({"chan": 1, "offhook": true}));
    expect_event(&ch, d::DAHDI_EVENT_RINGOFFHOOK, Duration::from_millis(500));
}

#[test]
fn an_oversized_line_is_refused_and_the_simulator_keeps_running() {
    let sim = Sim::start(CONFIG);
    let mut r = Raw::connect(&sim);
    r.ping_ok();

    // 2 MiB without a newline (the limit is 1 MiB): the simulator refuses it
    // and closes the connection; it must not buffer forever or die.
    let big = vec![b'a'; 2 << 20];
    let _ = r.w.write_all(&big);
    let _ = r.w.write_all(b"\n");
    let mut rest = String::new();
    let closed = r.r.read_to_string(&mut rest);
    assert!(closed.is_ok(), "the connection was not closed within 5 s: {closed:?}");
    assert!(!rest.is_empty(), "no error reply before closing");
    for line in rest.lines() {
        let v: Value = serde_json::from_str(line).unwrap_or_else(|e| panic!("reply is not JSON ({e}): {line:?}"));
        assert_eq!(v["ok"], json!(false), "{v}");
    }

    // A huge but valid JSON line under the limit is answered normally.
    let mut r2 = Raw::connect(&sim);
    let pad = "x".repeat(512 << 10);
    let v = r2.send(format!(r#"{{"op": "ping", "pad": "{pad}"}}"#).as_bytes());
    assert!(v.get("ok").is_some(), "{}", &v.to_string()[..100.min(v.to_string().len())]);
    r2.ping_ok();

    // Others were never affected.
    let mut c = sim.client();
    call(&mut c, "ping", json!({}));
    let st = call(&mut c, "status", json!({}));
    assert_eq!(st["channels"].as_array().unwrap().len(), 2);
}
