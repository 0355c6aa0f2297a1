//! A small client for the control socket, for tests.
//!
//! [`Client::call`] sends any op (see `docs/control-protocol.md`); the other
//! methods are typed shortcuts for the common ones. [`wait_until`] and
//! [`wait_for`] poll for a condition, since the simulator runs in real time.
//!
//! ```no_run
//! use std::time::Duration;
//! use hw_sim::client::{Client, wait_until};
//!
//! let mut c = Client::connect("/tmp/sim.ctl")?;
//! c.phone_hook(1, true)?;
//! assert!(wait_until(Duration::from_secs(2), Duration::from_millis(10), || {
//!     c.chan_get(1).map(|v| v["rxhooksig"] == 1).unwrap_or(false)
//! }));
//! # Ok::<(), hw_sim::client::ClientError>(())
//! ```

use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::{Duration, Instant};

use serde::Deserialize;
use serde_json::{Value, json};

/// How long [`Client::call`] waits for a reply by default.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);

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

/// What the phone on an FXS port observes (`phone.get`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
pub struct PhoneState {
    pub offhook: bool,
    pub ringing: bool,
    /// Ring bursts heard so far.
    pub rings: u32,
    pub battery: bool,
    pub battery_drops: u32,
    pub polarity_reversed: bool,
    pub polarity_reversals: u32,
    pub mwi_lamp: bool,
    /// CPE alerting signals (caller ID on call waiting) heard off-hook.
    #[serde(default)]
    pub cas_heard: u32,
    /// Whether the phone answers a CAS with DTMF D (default true).
    #[serde(default)]
    pub cidcw_ack: bool,
    /// ACKs the phone sent.
    #[serde(default)]
    pub cidcw_acks: u32,
    /// The number and name of the last caller ID on call waiting it received.
    #[serde(default)]
    pub cidcw_number: Option<String>,
    #[serde(default)]
    pub cidcw_name: Option<String>,
}

/// What the CO on an FXO port observes (`co.get`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
pub struct CoState {
    /// The host is off-hook.
    pub loop_closed: bool,
    pub ringing: bool,
    pub rings: u32,
    pub battery: bool,
    pub polarity_reversed: bool,
    /// The host answered the ringing call.
    pub answered: bool,
    /// Digits the host dialled since it last seized the line.
    pub digits: String,
    pub seizures: u32,
    pub flashes: u32,
}

/// A T1/E1 timeslot's signalling bits (`trunk.get`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
pub struct TrunkState {
    /// ABCD bits the host sends now (A = 8).
    pub bits: u32,
    /// ABCD bits the far end sends (set with `trunk.bits`).
    #[serde(default)]
    pub far_bits: u32,
    /// Host bits as they changed: (ms, bits).
    pub seen: Vec<(u64, u32)>,
}

/// What the host sent on a line, measured (`audio.analyze`).
#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
pub struct Analysis {
    /// Samples analysed (8 per ms; fewer if less was recorded).
    pub samples: usize,
    /// The dominant frequency; `None` for silence (below -50 dBm0) or noise.
    pub frequency_hz: Option<f64>,
    /// RMS level; -100 for digital silence.
    pub level_dbm0: f64,
    /// DTMF digits heard, in order.
    pub dtmf: String,
}

/// Where the sound last started by `audio.play` entered a channel's
/// receive path (`audio.onset`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
pub struct Onset {
    pub chan: u32,
    /// Index of the sound's first sample in its receive block.
    pub sample: usize,
    /// The channel's block size then.
    pub blocksize: usize,
    /// The simulator tick that completed the block; `None` while it fills.
    pub tick_ms: Option<u64>,
    /// When the block became readable, CLOCK_MONOTONIC ns; `None` while it
    /// fills (or when too old to be remembered).
    pub readable_ns: Option<u64>,
    /// The block will never be read whole (channel not open, overrun or flush).
    pub lost: bool,
}

/// One D-channel frame from the trace (`frames.get`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
pub struct Frame {
    pub ms: u64,
    pub span: u32,
    /// `"tx"` (the host sent it) or `"rx"` (the host received it).
    pub dir: String,
    /// Address, control and information fields in hex, without FCS.
    pub hex: String,
}

impl Frame {
    /// The frame's bytes.
    pub fn bytes(&self) -> Vec<u8> {
        (0..self.hex.len() / 2).filter_map(|i| u8::from_str_radix(self.hex.get(2 * i..2 * i + 2)?, 16).ok()).collect()
    }
}

fn to_hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

impl Client {
    /// Connect to the control socket at `path`.
    pub fn connect(path: impl AsRef<Path>) -> Result<Client, ClientError> {
        let s = UnixStream::connect(path)?;
        s.set_read_timeout(Some(DEFAULT_TIMEOUT))?;
        Ok(Client { reader: BufReader::new(s.try_clone()?), writer: s, next_id: 1 })
    }

    /// Connect, retrying until the socket exists and accepts or `timeout` passes
    /// (for tests that have just started the simulator).
    pub fn connect_retry(path: impl AsRef<Path>, timeout: Duration) -> Result<Client, ClientError> {
        let start = Instant::now();
        loop {
            match Client::connect(path.as_ref()) {
                Ok(c) => return Ok(c),
                Err(e) if start.elapsed() >= timeout => return Err(e),
                Err(_) => std::thread::sleep(Duration::from_millis(20)),
            }
        }
    }

    /// Change how long a call waits for its reply (`None`: forever).
    pub fn set_timeout(&mut self, t: Option<Duration>) -> Result<(), ClientError> {
        self.writer.set_read_timeout(t)?;
        Ok(())
    }

    /// Send one request and wait for its reply; returns its `result`.
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
        if self.reader.read_line(&mut buf)? == 0 {
            return Err(ClientError::Io(std::io::Error::new(std::io::ErrorKind::UnexpectedEof, "the simulator closed the control connection")));
        }
        let v: Value = serde_json::from_str(&buf).map_err(|e| ClientError::BadReply(format!("{e}: {buf:?}")))?;
        if v.get("id").is_some_and(|r| *r != json!(id)) {
            return Err(ClientError::BadReply(format!("reply for another request (sent id {id}): {buf:?}")));
        }
        if v.get("ok") == Some(&Value::Bool(true)) {
            Ok(v.get("result").cloned().unwrap_or(Value::Null))
        } else {
            Err(ClientError::Refused { op: op.into(), msg: v.get("error").and_then(Value::as_str).unwrap_or("?").into() })
        }
    }

    /// [`Client::call`] that decodes the result into `T`.
    pub fn call_as<T: serde::de::DeserializeOwned>(&mut self, op: &str, args: Value) -> Result<T, ClientError> {
        let v = self.call(op, args)?;
        serde_json::from_value(v.clone()).map_err(|e| ClientError::BadReply(format!("{op}: {e}: {v}")))
    }

    fn call_unit(&mut self, op: &str, args: Value) -> Result<(), ClientError> {
        self.call(op, args).map(|_| ())
    }

    // ---- general ----

    /// The simulator's clock, in ms.
    pub fn ping(&mut self) -> Result<u64, ClientError> {
        let v = self.call("ping", Value::Null)?;
        v["now_ms"].as_u64().ok_or_else(|| ClientError::BadReply(format!("ping: {v}")))
    }

    /// Spans and channels (see the protocol document for the fields).
    pub fn status(&mut self) -> Result<Value, ClientError> {
        self.call("status", Value::Null)
    }

    /// A channel's DAHDI state: `sig`, `rxhooksig`, `txhooksig` (kernel
    /// numbers: ONHOOK 0, OFFHOOK 1, START 2, RING 3), `txstate`, bits, counters...
    pub fn chan_get(&mut self, chan: u32) -> Result<Value, ClientError> {
        self.call("chan.get", json!({"chan": chan}))
    }

    /// Hot-unplug a channel.
    pub fn chan_remove(&mut self, chan: u32) -> Result<(), ClientError> {
        self.call_unit("chan.remove", json!({"chan": chan}))
    }

    /// Set a span's alarms (`"red"`, `"yellow"`, `"blue"`, `"los"`, `"lfa"`,
    /// `"loopback"`; empty clears); returns the alarms now set.
    pub fn span_alarm(&mut self, span: u32, alarms: &[&str]) -> Result<Vec<String>, ClientError> {
        let v = self.call("span.alarm", json!({"span": span, "alarms": alarms}))?;
        serde_json::from_value(v["alarms"].clone()).map_err(|e| ClientError::BadReply(format!("span.alarm: {e}")))
    }

    /// Set span error counters, e.g. `json!({"bpv": 3, "crc4": 1})`.
    pub fn span_counters(&mut self, span: u32, counters: Value) -> Result<(), ClientError> {
        let mut args = match counters {
            Value::Object(m) => m,
            _ => Default::default(),
        };
        args.insert("span".into(), json!(span));
        self.call_unit("span.counters", Value::Object(args))
    }

    /// The D-channel frame trace of one span (`Some(n)` or a plain `n`) or of all (`None`).
    pub fn frames(&mut self, span: impl Into<Option<u32>>) -> Result<Vec<Frame>, ClientError> {
        self.frames_since(span, 0)
    }

    /// The D-channel frame trace from `since_ms` on.
    pub fn frames_since(&mut self, span: impl Into<Option<u32>>, since_ms: u64) -> Result<Vec<Frame>, ClientError> {
        let mut args = json!({"since_ms": since_ms});
        if let Some(s) = span.into() {
            args["span"] = json!(s);
        }
        let v = self.call("frames.get", args)?;
        serde_json::from_value(v["frames"].clone()).map_err(|e| ClientError::BadReply(format!("frames.get: {e}")))
    }

    /// Deliver a frame (address, control, information; no FCS) to an
    /// external span's D-channel, with a bad FCS if `bad_fcs`.
    pub fn dchan_send(&mut self, span: u32, frame: &[u8], bad_fcs: bool) -> Result<(), ClientError> {
        self.call_unit("dchan.send", json!({"span": span, "hex": to_hex(frame), "bad_fcs": bad_fcs}))
    }

    // ---- the SMDI link ([sim] smdi) ----

    /// Send `text` from the switch's end of the SMDI link (e.g. an MD call detail).
    pub fn smdi_send(&mut self, text: &str) -> Result<(), ClientError> {
        self.call_unit("smdi.send", json!({"text": text}))
    }

    /// What Tandem wrote on the SMDI link since the last call (e.g. `OP:MWI ...`).
    pub fn smdi_get(&mut self) -> Result<String, ClientError> {
        let v = self.call("smdi.get", json!({}))?;
        v["text"].as_str().map(str::to_string).ok_or_else(|| ClientError::BadReply("smdi.get: no text".into()))
    }

    // ---- phone on an FXS port ----

    pub fn phone_hook(&mut self, chan: u32, offhook: bool) -> Result<(), ClientError> {
        self.call_unit("phone.hook", json!({"chan": chan, "offhook": offhook}))
    }

    /// Off- or on-hook, and whether the phone acknowledges caller ID on call waiting's CAS.
    pub fn phone_hook_cidcw(&mut self, chan: u32, offhook: bool, cidcw_ack: bool) -> Result<(), ClientError> {
        self.call_unit("phone.hook", json!({"chan": chan, "offhook": offhook, "cidcw_ack": cidcw_ack}))
    }

    /// Flash the hook for `ms` (default 500).
    pub fn phone_flash(&mut self, chan: u32, ms: Option<u32>) -> Result<(), ClientError> {
        self.call_unit("phone.flash", json!({"chan": chan, "ms": ms}))
    }

    /// Dial digits as DTMF (100 ms on / 100 ms off) or by pulses.
    pub fn phone_dial(&mut self, chan: u32, digits: &str, pulse: bool) -> Result<(), ClientError> {
        let mode = if pulse { "pulse" } else { "dtmf" };
        self.call_unit("phone.dial", json!({"chan": chan, "digits": digits, "mode": mode}))
    }

    /// Dial pulse digits at `pps` pulses per second, `break_pct` % of each pulse on-hook.
    pub fn phone_dial_pulse(&mut self, chan: u32, digits: &str, pps: u32, break_pct: u32) -> Result<(), ClientError> {
        self.call_unit("phone.dial", json!({"chan": chan, "digits": digits, "mode": "pulse", "pps": pps, "break_pct": break_pct}))
    }

    /// Dial DTMF digits with the given tone and gap lengths.
    pub fn phone_dial_dtmf(&mut self, chan: u32, digits: &str, on_ms: u32, off_ms: u32) -> Result<(), ClientError> {
        self.call_unit("phone.dial", json!({"chan": chan, "digits": digits, "on_ms": on_ms, "off_ms": off_ms}))
    }

    pub fn phone_get(&mut self, chan: u32) -> Result<PhoneState, ClientError> {
        self.call_as("phone.get", json!({"chan": chan}))
    }

    // ---- CO line on an FXO port ----

    /// Ring with a cadence of (on, off) ms pairs (empty: the default
    /// 2 s on / 4 s off), `count` cycles (`None`: until answered or stopped),
    /// and optional caller ID (`{"number", "name", "datetime", "standard",
    /// "format", "timing", ...}`, see the protocol document).
    pub fn co_ring(&mut self, chan: u32, cadence: &[(u32, u32)], count: Option<u32>, cid: Option<Value>) -> Result<(), ClientError> {
        let mut args = json!({"chan": chan, "count": count, "cid": cid});
        if !cadence.is_empty() {
            args["cadence"] = json!(cadence.iter().map(|(a, b)| [*a, *b]).collect::<Vec<_>>());
        }
        self.call_unit("co.ring", args)
    }

    pub fn co_stop(&mut self, chan: u32) -> Result<(), ClientError> {
        self.call_unit("co.stop", json!({"chan": chan}))
    }

    pub fn co_get(&mut self, chan: u32) -> Result<CoState, ClientError> {
        self.call_as("co.get", json!({"chan": chan}))
    }

    pub fn co_battery(&mut self, chan: u32, on: bool) -> Result<(), ClientError> {
        self.call_unit("co.battery", json!({"chan": chan, "on": on}))
    }

    pub fn co_polarity(&mut self, chan: u32, reversed: bool) -> Result<(), ClientError> {
        self.call_unit("co.polarity", json!({"chan": chan, "reversed": reversed}))
    }

    /// The far party hangs up (battery drops).
    pub fn co_disconnect(&mut self, chan: u32) -> Result<(), ClientError> {
        self.call_unit("co.disconnect", json!({"chan": chan}))
    }

    /// Whether seizing the line gives dial tone.
    pub fn co_dial_tone(&mut self, chan: u32, on: bool) -> Result<(), ClientError> {
        self.call_unit("co.dial_tone", json!({"chan": chan, "on": on}))
    }

    // ---- T1/E1 timeslots on external spans ----

    /// The far end's ABCD bits (0-15, A = 8).
    pub fn trunk_bits(&mut self, chan: u32, bits: u8) -> Result<(), ClientError> {
        self.call_unit("trunk.bits", json!({"chan": chan, "bits": bits}))
    }

    pub fn trunk_get(&mut self, chan: u32) -> Result<TrunkState, ClientError> {
        self.call_as("trunk.get", json!({"chan": chan}))
    }

    // ---- audio ----

    /// Play a continuous tone of 1-4 frequencies towards the host.
    pub fn audio_play_tone(&mut self, chan: u32, freqs: &[f32], level_dbm0: f32) -> Result<(), ClientError> {
        self.call_unit("audio.play", json!({"chan": chan, "tone": {"freqs": freqs, "level_dbm0": level_dbm0}}))
    }

    /// Play a tone with an on/off cadence of (on, off) ms pairs.
    pub fn audio_play_cadenced(&mut self, chan: u32, freqs: &[f32], level_dbm0: f32, cadence: &[(u32, u32)]) -> Result<(), ClientError> {
        let cad: Vec<[u32; 2]> = cadence.iter().map(|(a, b)| [*a, *b]).collect();
        self.call_unit("audio.play", json!({"chan": chan, "tone": {"freqs": freqs, "level_dbm0": level_dbm0, "cadence": cad}}))
    }

    /// Play a WAV file (8 kHz mono; PCM16, µ-law or A-law) as seen by the simulator.
    pub fn audio_play_wav(&mut self, chan: u32, path: impl AsRef<Path>, repeat: bool) -> Result<(), ClientError> {
        let p = path.as_ref().to_string_lossy();
        self.call_unit("audio.play", json!({"chan": chan, "wav": p, "repeat": repeat}))
    }

    pub fn audio_play_silence(&mut self, chan: u32) -> Result<(), ClientError> {
        self.call_unit("audio.play", json!({"chan": chan, "silence": true}))
    }

    /// The receive onset of the sound last started on `chan` by `audio.play`, if any.
    pub fn audio_onset(&mut self, chan: u32) -> Result<Option<Onset>, ClientError> {
        let v = self.call("audio.onset", json!({"chan": chan}))?;
        let mut all: Vec<Onset> = serde_json::from_value(v["onsets"].clone()).map_err(|e| ClientError::BadReply(format!("audio.onset: {e}: {v}")))?;
        Ok(all.pop())
    }

    /// The receive onsets of every channel that has one.
    pub fn audio_onsets(&mut self) -> Result<Vec<Onset>, ClientError> {
        let v = self.call("audio.onset", json!({}))?;
        serde_json::from_value(v["onsets"].clone()).map_err(|e| ClientError::BadReply(format!("audio.onset: {e}: {v}")))
    }

    /// Forget what the host sent so far.
    pub fn audio_clear(&mut self, chan: u32) -> Result<(), ClientError> {
        self.call_unit("audio.clear", json!({"chan": chan}))
    }

    /// Measure the last `ms` of what the host sent.
    pub fn audio_analyze(&mut self, chan: u32, ms: u32) -> Result<Analysis, ClientError> {
        self.call_as("audio.analyze", json!({"chan": chan, "ms": ms}))
    }

    /// Write what the host sent (the last `ms`, or all) to a WAV file; returns the sample count.
    pub fn audio_save(&mut self, chan: u32, path: impl AsRef<Path>, ms: Option<u32>) -> Result<u64, ClientError> {
        let p = path.as_ref().to_string_lossy();
        let v = self.call("audio.save", json!({"chan": chan, "path": p, "ms": ms}))?;
        v["samples"].as_u64().ok_or_else(|| ClientError::BadReply(format!("audio.save: {v}")))
    }
}

/// Call `f` every `poll_interval` until it returns true or `timeout` passes;
/// returns whether it did. `f` is always called at least once.
pub fn wait_until(timeout: Duration, poll_interval: Duration, mut f: impl FnMut() -> bool) -> bool {
    wait_for(timeout, poll_interval, || f().then_some(())).is_some()
}

/// Call `f` every `poll_interval` until it returns `Some` or `timeout` passes.
pub fn wait_for<T>(timeout: Duration, poll_interval: Duration, mut f: impl FnMut() -> Option<T>) -> Option<T> {
    let start = Instant::now();
    loop {
        if let Some(v) = f() {
            return Some(v);
        }
        if start.elapsed() >= timeout {
            return None;
        }
        std::thread::sleep(poll_interval);
    }
}
