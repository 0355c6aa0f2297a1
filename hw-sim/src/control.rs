//! The control socket (line-delimited JSON requests and replies) and the
//! external D-channel sockets.
//!
//! The protocol is specified in `docs/control-protocol.md`: one JSON object
//! per line in each direction, `{"id", "op", ...arguments}` in and
//! `{"id", "ok": true, "result"}` or `{"id", "ok": false, "error"}` out.
//!
//! Nothing a client sends can panic the simulator or take it down: every
//! argument is type- and range-checked (unknown arguments are refused too,
//! so that a typo does not silently do nothing), sizes are clamped, and a
//! line longer than [`MAX_LINE`] bytes is refused and its connection closed.
//!
//! File I/O (`audio.play` with `wav`, `audio.save`) and audio analysis run
//! outside the model lock, so the clock keeps ticking while they work.
//!
//! Spans with `far_end = "external"` get a `SOCK_SEQPACKET` listener each
//! (see [`serve`]): one LAPD frame per packet, no flags and no FCS.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::os::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::fs::FileTypeExt;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use nix::errno::Errno;
use nix::poll::{PollFd, PollFlags, PollTimeout};
use nix::sys::socket::{AddressFamily, Backlog, MsgFlags, Shutdown, SockFlag, SockType, UnixAddr, accept4, bind, listen, recv, send, shutdown, socket};
use parking_lot::Mutex;
use serde_json::{Map, Value, json};
use tandem_dsp::callerid::{self, Absence, CallerId, CallerIdMessage, Format, Standard};
use tandem_dsp::g711::Law;
use tandem_dsp::tone::FULL_SCALE_DBM0;

use crate::config::ExternalSpan;
use crate::farend::co::CidTiming;
use crate::farend::{AudioEnd, CoLine, Line, Phone, Source, Trunk};
use crate::fs::State;
use crate::model::Dahdi;
use crate::model::k::*;
use crate::model::span::{SpanFar, SpanKind};

/// Longest request line accepted, in bytes (without the newline).
pub const MAX_LINE: usize = 1 << 20;
/// Longest D-channel frame accepted from an external program or `dchan.send`.
pub const MAX_DCHAN_FRAME: usize = 4096;
/// Frames from external programs that may wait for the next tick; more are dropped.
const MAX_DCHAN_IN: usize = 1000;
/// Largest WAV file `audio.play` reads.
const MAX_WAV_BYTES: u64 = 64 << 20;
/// Longest stretch of audio `audio.analyze` and `audio.save` accept, in ms
/// (the recorder keeps the last 60 s anyway).
const MAX_AUDIO_MS: i64 = 600_000;
/// Longest time argument (ring cadence, tone cadence, flash), in ms.
const MAX_TIME_MS: i64 = 600_000;
/// Most (on, off) pairs in a cadence.
const MAX_CADENCE_PAIRS: usize = 16;
/// Longest digit string `phone.dial` accepts.
const MAX_DIGITS: usize = 128;
/// Level of generated FSK caller ID, dBm0.
const CID_FSK_LEVEL_DBM0: f32 = -13.0;
/// Reported level of digital silence (the true value, -inf, is not JSON).
const SILENCE_DBM0: f32 = -100.0;
/// Below this level `audio.analyze` reports no frequency.
const MIN_TONE_DBM0: f32 = -50.0;

/// Every op with the arguments it takes (besides `id` and `op`).
const OPS: &[(&str, &[&str])] = &[
    ("ping", &[]),
    ("status", &[]),
    ("chan.get", &["chan"]),
    ("chan.remove", &["chan"]),
    ("span.alarm", &["span", "alarms"]),
    ("span.counters", &["span", "bpv", "crc4", "ebit", "fas", "fe", "cv", "be", "prbs", "errsec"]),
    ("frames.get", &["span", "since_ms"]),
    ("dchan.send", &["span", "hex", "bad_fcs"]),
    ("phone.hook", &["chan", "offhook", "cidcw_ack"]),
    ("phone.flash", &["chan", "ms"]),
    ("phone.dial", &["chan", "digits", "mode", "on_ms", "off_ms", "pps", "break_pct"]),
    ("phone.get", &["chan"]),
    ("co.ring", &["chan", "cadence", "count", "cid"]),
    ("co.stop", &["chan"]),
    ("co.battery", &["chan", "on"]),
    ("co.polarity", &["chan", "reversed"]),
    ("co.disconnect", &["chan"]),
    ("co.dial_tone", &["chan", "on"]),
    ("co.get", &["chan"]),
    ("trunk.bits", &["chan", "bits"]),
    ("trunk.get", &["chan"]),
    ("audio.play", &["chan", "tone", "wav", "silence", "repeat"]),
    ("audio.onset", &["chan"]),
    ("audio.clear", &["chan"]),
    ("audio.analyze", &["chan", "ms"]),
    ("audio.save", &["chan", "path", "ms"]),
    ("card.list", &[]),
    ("card.plug", &["card"]),
    ("card.unplug", &["card"]),
    ("smdi.send", &["text"]),
    ("smdi.get", &[]),
];

const CID_KEYS: &[&str] = &["number", "name", "datetime", "number_absent", "name_absent", "standard", "format", "timing"];
const TONE_KEYS: &[&str] = &["freqs", "level_dbm0", "cadence"];

const ALARM_NAMES: &[(&str, u32)] = &[
    ("recover", ALARM_RECOVER),
    ("loopback", ALARM_LOOPBACK),
    ("yellow", ALARM_YELLOW),
    ("red", ALARM_RED),
    ("blue", ALARM_BLUE),
    ("notopen", ALARM_NOTOPEN),
    ("los", ALARM_LOS),
    ("lfa", ALARM_LFA),
    ("lmfa", ALARM_LMFA),
];
/// The alarms `span.alarm` may set.
const SETTABLE_ALARMS: &[&str] = &["red", "yellow", "blue", "los", "lfa", "loopback"];

const SIG_NAMES: &[(&str, u32)] = &[
    ("fxsls", SIG_FXSLS),
    ("fxsgs", SIG_FXSGS),
    ("fxsks", SIG_FXSKS),
    ("fxols", SIG_FXOLS),
    ("fxogs", SIG_FXOGS),
    ("fxoks", SIG_FXOKS),
    ("em", SIG_EM),
    ("em_e1", SIG_EM_E1),
    ("clear", SIG_CLEAR),
    ("hdlcraw", SIG_HDLCRAW),
    ("hdlcfcs", SIG_HDLCFCS),
    ("hdlcnet", SIG_HDLCNET),
    ("hardhdlc", SIG_HARDHDLC),
    ("mtp2", SIG_MTP2),
    ("slave", SIG_SLAVE),
    ("sf", SIG_SF),
    ("cas", SIG_CAS),
    ("dacs", SIG_DACS),
    ("dacs_rbs", SIG_DACS_RBS),
];

const LINECONFIG_NAMES: &[(&str, u32)] =
    &[("d4", CONFIG_D4), ("esf", CONFIG_ESF), ("ami", CONFIG_AMI), ("b8zs", CONFIG_B8ZS), ("ccs", CONFIG_CCS), ("hdb3", CONFIG_HDB3), ("crc4", CONFIG_CRC4)];

// ---- serving ------------------------------------------------------------

/// Serve the control socket at `path` until the process exits, and the
/// D-channel socket of every external span.
///
/// Each external span listens at its `dchan_socket` or at
/// `<path>.span<N>` (N = span number). One client at a time per span: a new
/// connection replaces the old one. Packets the client sends (1 to
/// [`MAX_DCHAN_FRAME`] bytes; empty packets are ignored) reach the host's
/// D-channel on the next tick with a good FCS appended.
///
/// Returns hooks for the clock thread: one drains [`Dahdi::dchan_out`] after
/// every tick and sends each frame to its span's client (dropped when no
/// client is connected or its socket is full). Dropping the hooks (when the
/// clock stops) removes the D-channel socket files.
pub fn serve(path: &str, state: Arc<Mutex<State>>, externals: &[ExternalSpan]) -> std::io::Result<Vec<crate::clock::AfterTick>> {
    remove_stale_socket(Path::new(path))?;
    let listener = UnixListener::bind(path)?;
    let hooks = serve_dchan(path, state.clone(), externals)?;
    let st = state;
    std::thread::Builder::new().name("control".into()).spawn(move || {
        for conn in listener.incoming() {
            let conn = match conn {
                Ok(c) => c,
                Err(e) => {
                    tracing::warn!("control socket accept: {e}");
                    std::thread::sleep(std::time::Duration::from_millis(50));
                    continue;
                }
            };
            let st = st.clone();
            if let Err(e) = std::thread::Builder::new().name("control-conn".into()).spawn(move || handle_conn(conn, &st)) {
                tracing::warn!("control socket: cannot start a connection thread: {e}");
            }
        }
    })?;
    Ok(hooks)
}

/// Remove a leftover socket at `path`; refuse to clobber anything else.
fn remove_stale_socket(path: &Path) -> std::io::Result<()> {
    match std::fs::symlink_metadata(path) {
        Ok(m) if m.file_type().is_socket() => std::fs::remove_file(path),
        Ok(_) => Err(std::io::Error::new(
            std::io::ErrorKind::AlreadyExists,
            format!("{} exists and is not a socket; remove it or choose another path", path.display()),
        )),
        Err(_) => Ok(()),
    }
}

/// Answer requests on one control connection until it closes.
fn handle_conn(conn: UnixStream, state: &Mutex<State>) {
    let Ok(mut out) = conn.try_clone() else { return };
    let mut reader = BufReader::new(conn);
    let mut line = Vec::new();
    loop {
        line.clear();
        let n = match (&mut reader).take(MAX_LINE as u64 + 1).read_until(b'\n', &mut line) {
            Ok(n) => n,
            Err(_) => return,
        };
        if n == 0 {
            return;
        }
        let complete = line.last() == Some(&b'\n');
        if complete {
            line.pop();
        } else if line.len() > MAX_LINE {
            let reply = json!({"ok": false, "error": format!(
                "request line longer than {MAX_LINE} bytes; closing the connection")});
            let _ = out.write_all(format!("{reply}\n").as_bytes());
            // Close our side, then discard what the client is still sending
            // (bounded in time and size): closing with unread input would
            // reset the connection and the client could lose the reply.
            let _ = out.shutdown(std::net::Shutdown::Write);
            let _ = reader.get_ref().set_read_timeout(Some(std::time::Duration::from_millis(200)));
            let _ = std::io::copy(&mut (&mut reader).take(64 << 20), &mut std::io::sink());
            return;
        }
        if line.last() == Some(&b'\r') {
            line.pop();
        }
        if line.iter().all(|b| b.is_ascii_whitespace()) {
            continue;
        }
        let reply = handle_line(&line, state);
        let mut text = reply.to_string();
        text.push('\n');
        if out.write_all(text.as_bytes()).is_err() {
            return;
        }
    }
}

/// Handle one request line (without its newline) and build the reply.
///
/// Never panics on bad input: malformed JSON, a non-object, a missing or
/// unknown op, a mistyped, out-of-range or unknown argument, a channel or
/// span that does not exist, or a line of the wrong kind all give
/// `{"ok": false, "error": ...}`.
pub fn handle_line(line: &[u8], state: &Mutex<State>) -> Value {
    let text = match std::str::from_utf8(line) {
        Ok(t) => t,
        Err(e) => {
            return error_reply(None, format!("request is not valid UTF-8 (bad byte at offset {}); send one JSON object per line", e.valid_up_to()));
        }
    };
    let req: Value = match serde_json::from_str(text) {
        Ok(v) => v,
        Err(e) => return error_reply(None, format!("bad JSON: {e}; send one JSON object per line, e.g. {{\"op\": \"ping\"}}")),
    };
    let Value::Object(map) = req else {
        return error_reply(None, format!("a request must be a JSON object like {{\"op\": \"ping\"}}, got {}", json_kind(&req)));
    };
    let id = map.get("id").cloned();
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| run_request(&map, state)))
        .unwrap_or_else(|_| Err("internal error in the simulator (a bug; see its log); the request may be half done".into()));
    match result {
        Ok(result) => {
            let mut m = Map::new();
            if let Some(id) = id {
                m.insert("id".into(), id);
            }
            m.insert("ok".into(), Value::Bool(true));
            m.insert("result".into(), result);
            Value::Object(m)
        }
        Err(e) => error_reply(id, e),
    }
}

fn error_reply(id: Option<Value>, msg: String) -> Value {
    let mut m = Map::new();
    if let Some(id) = id {
        m.insert("id".into(), id);
    }
    m.insert("ok".into(), Value::Bool(false));
    m.insert("error".into(), Value::String(msg));
    Value::Object(m)
}

/// What is left to do after the model lock is released.
enum Done {
    Reply(Value),
    Analyze(Vec<i16>),
    Save { path: String, samples: Vec<i16> },
}

/// Work done before taking the model lock (reading files).
#[derive(Default)]
struct Prepared {
    wav: Option<Vec<i16>>,
}

fn run_request(map: &Map<String, Value>, state: &Mutex<State>) -> Result<Value, String> {
    let op = match map.get("op") {
        None | Some(Value::Null) => return Err("missing \"op\" (a string such as \"ping\" or \"status\")".into()),
        Some(Value::String(s)) => s.as_str(),
        Some(v) => return Err(format!("\"op\" must be a string, got {}", show(v))),
    };
    let Some((_, allowed)) = OPS.iter().find(|(name, _)| *name == op) else {
        let names: Vec<&str> = OPS.iter().map(|(n, _)| *n).collect();
        return Err(format!("unknown op {}; known ops: {}", show_str(op), names.join(", ")));
    };
    let args = Args { op, map };
    args.check_keys(allowed)?;
    let pre = prepare(&args)?;
    let done = {
        let mut st = state.lock();
        dispatch(&args, &mut st, pre)?
    };
    match done {
        Done::Reply(v) => Ok(v),
        Done::Analyze(samples) => Ok(analyze(&samples)),
        Done::Save { path, samples } => {
            save_wav(&path, &samples)?;
            Ok(json!({"samples": samples.len()}))
        }
    }
}

/// Read files the request needs, before the model is locked.
fn prepare(args: &Args<'_>) -> Result<Prepared, String> {
    let mut pre = Prepared::default();
    if let ("audio.play", Some(v)) = (args.op, args.opt("wav")) {
        let path = v.as_str().ok_or_else(|| format!("wav must be a file path (a string), got {}", show(v)))?;
        pre.wav = Some(load_wav(path)?);
    }
    Ok(pre)
}

fn load_wav(path: &str) -> Result<Vec<i16>, String> {
    let f = std::fs::File::open(path).map_err(|e| format!("cannot open WAV {path:?}: {e}"))?;
    let len = f.metadata().map(|m| m.len()).unwrap_or(0);
    if len > MAX_WAV_BYTES {
        return Err(format!("WAV {path:?} is {len} bytes; the limit is {MAX_WAV_BYTES}"));
    }
    let wav = tandem_dsp::wav::read_wav(std::io::BufReader::new(f.take(MAX_WAV_BYTES)))
        .map_err(|e| format!("cannot read WAV {path:?}: {e} (need 8 kHz mono 16-bit PCM, µ-law or A-law)"))?;
    Ok(wav.samples)
}

fn save_wav(path: &str, samples: &[i16]) -> Result<(), String> {
    let f = std::fs::File::create(path).map_err(|e| format!("cannot create {path:?}: {e}"))?;
    let mut w = std::io::BufWriter::new(f);
    tandem_dsp::wav::write_wav(&mut w, samples).map_err(|e| format!("cannot write {path:?}: {e}"))?;
    w.flush().map_err(|e| format!("cannot write {path:?}: {e}"))
}

/// Measure recorded audio for `audio.analyze`.
fn analyze(samples: &[i16]) -> Value {
    let level = tandem_dsp::goertzel::level_dbm0(samples);
    let level = if level.is_finite() { level.max(SILENCE_DBM0) } else { SILENCE_DBM0 };
    let freq = if level >= MIN_TONE_DBM0 { tandem_dsp::goertzel::estimate_frequency(samples) } else { None };
    let dtmf = tandem_dsp::dtmf::detect_digits(samples);
    json!({
        "samples": samples.len(),
        "frequency_hz": freq.filter(|f| f.is_finite()).map(|f| round2(f64::from(f))),
        "level_dbm0": round2(f64::from(level)),
        "dtmf": dtmf,
    })
}

fn round2(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

// ---- argument access ------------------------------------------------------

/// The arguments of one request, with typed, range-checked accessors whose
/// errors say what was expected.
struct Args<'a> {
    op: &'a str,
    map: &'a Map<String, Value>,
}

impl<'a> Args<'a> {
    /// `phone.*` for `phone.hook`, for messages.
    fn family(&self) -> String {
        match self.op.split_once('.') {
            Some((f, _)) => format!("{f}.*"),
            None => self.op.to_string(),
        }
    }

    fn check_keys(&self, allowed: &[&str]) -> Result<(), String> {
        for k in self.map.keys() {
            if k == "op" || k == "id" || allowed.contains(&k.as_str()) {
                continue;
            }
            return Err(if allowed.is_empty() {
                format!("{} takes no arguments; remove {}", self.op, show_str(k))
            } else {
                format!("{} has no argument {} (it takes {})", self.op, show_str(k), allowed.join(", "))
            });
        }
        Ok(())
    }

    /// An argument, with `null` treated as absent.
    fn opt(&self, k: &str) -> Option<&'a Value> {
        self.map.get(k).filter(|v| !v.is_null())
    }

    fn req(&self, k: &str, what: &str) -> Result<&'a Value, String> {
        self.opt(k).ok_or_else(|| format!("{} needs {} ({what})", self.op, show_str(k)))
    }

    fn bool_req(&self, k: &str) -> Result<bool, String> {
        let v = self.req(k, "true or false")?;
        v.as_bool().ok_or_else(|| format!("{k} must be true or false, got {}", show(v)))
    }

    fn bool_opt(&self, k: &str, default: bool) -> Result<bool, String> {
        match self.opt(k) {
            None => Ok(default),
            Some(v) => v.as_bool().ok_or_else(|| format!("{k} must be true or false, got {}", show(v))),
        }
    }

    fn int_req(&self, k: &str, min: i64, max: i64) -> Result<i64, String> {
        let v = self.req(k, &format!("an integer from {min} to {max}"))?;
        int_value(k, v, min, max)
    }

    fn int_opt(&self, k: &str, min: i64, max: i64) -> Result<Option<i64>, String> {
        self.opt(k).map(|v| int_value(k, v, min, max)).transpose()
    }

    fn str_req(&self, k: &str, what: &str) -> Result<&'a str, String> {
        let v = self.req(k, what)?;
        v.as_str().ok_or_else(|| format!("{k} must be a string ({what}), got {}", show(v)))
    }

    fn str_opt(&self, k: &str) -> Result<Option<&'a str>, String> {
        match self.opt(k) {
            None => Ok(None),
            Some(v) => v.as_str().map(Some).ok_or_else(|| format!("{k} must be a string, got {}", show(v))),
        }
    }

    /// The `chan` argument (an assigned channel number) as an index into
    /// `dahdi.chans` (the channel may be removed).
    fn chan_any(&self, d: &Dahdi) -> Result<usize, String> {
        let have = chan_range_text(d);
        let v = self.req("chan", &format!("a DAHDI channel number, {have}"))?;
        let Some(c) = as_int(v) else {
            if is_integral(v) {
                return Err(format!("chan {} does not exist ({have})", show(v)));
            }
            return Err(format!("chan must be an integer (a DAHDI channel number, {have}), got {}", show(v)));
        };
        match u32::try_from(c).ok().filter(|&c| c < crate::model::PSEUDO_BASE).and_then(|c| d.chan_index(c)) {
            Some(i) => Ok(i),
            None => Err(format!("chan {c} does not exist ({have})")),
        }
    }

    /// The `chan` argument as an index into `dahdi.chans`; refuses removed channels.
    fn chan(&self, d: &Dahdi) -> Result<usize, String> {
        let i = self.chan_any(d)?;
        if d.chans[i].removed {
            return Err(format!("chan {} has been removed (chan.remove); it no longer exists", d.chans[i].channo));
        }
        Ok(i)
    }

    /// The `span` argument (an assigned span number) as an index into `dahdi.spans`.
    fn span(&self, d: &Dahdi) -> Result<usize, String> {
        let v = self.req("span", &format!("a DAHDI span number, {}", span_range_text(d)))?;
        span_value(v, d)
    }

    fn span_opt(&self, d: &Dahdi) -> Result<Option<usize>, String> {
        self.opt("span").map(|v| span_value(v, d)).transpose()
    }

    /// The `card` argument (1-based, in configuration order) as an index into `dahdi.devices`.
    fn card(&self, d: &Dahdi) -> Result<usize, String> {
        let n = d.devices.len();
        if n == 0 {
            return Err("there are no cards".into());
        }
        Ok(self.int_req("card", 1, n as i64)? as usize - 1)
    }

    /// The phone on the FXS port named by `chan`.
    fn phone<'d>(&self, d: &'d mut Dahdi) -> Result<&'d mut Phone, String> {
        let i = self.chan(d)?;
        if !matches!(d.lines[i], Line::Phone(_)) {
            return Err(format!("{} needs an FXS port; chan {} is {}", self.family(), d.chans[i].channo, describe(d, i)));
        }
        match &mut d.lines[i] {
            Line::Phone(p) => Ok(p),
            _ => Err("internal error: line changed kind".into()),
        }
    }

    /// The CO line on the FXO port named by `chan`.
    fn co<'d>(&self, d: &'d mut Dahdi) -> Result<&'d mut CoLine, String> {
        let i = self.chan(d)?;
        if !matches!(d.lines[i], Line::Co(_)) {
            return Err(format!("{} needs an FXO port; chan {} is {}", self.family(), d.chans[i].channo, describe(d, i)));
        }
        match &mut d.lines[i] {
            Line::Co(c) => Ok(c),
            _ => Err("internal error: line changed kind".into()),
        }
    }

    /// The trunk far end of the external-span timeslot named by `chan`, and its index.
    fn trunk<'d>(&self, d: &'d mut Dahdi) -> Result<(usize, &'d mut Trunk), String> {
        let i = self.chan(d)?;
        if !(matches!(d.lines[i], Line::Trunk(_)) && on_external_span(d, i)) {
            return Err(format!(
                "{} needs a T1/E1/J1 channel on a span with far_end = \"external\"; chan {} is {}",
                self.family(),
                d.chans[i].channo,
                describe(d, i)
            ));
        }
        match &mut d.lines[i] {
            Line::Trunk(t) => Ok((i, t)),
            _ => Err("internal error: line changed kind".into()),
        }
    }

    /// The audio end of any line with a scriptable far end.
    fn audio<'d>(&self, d: &'d mut Dahdi) -> Result<&'d mut AudioEnd, String> {
        let i = self.chan(d)?;
        let ok = match &d.lines[i] {
            Line::Phone(_) | Line::Co(_) => true,
            Line::Trunk(_) => on_external_span(d, i),
            Line::None => false,
        };
        if !ok {
            return Err(format!(
                "{} needs a line with a far end (an FXS or FXO port, or a channel on a far_end = \"external\" span); chan {} is {}",
                self.family(),
                d.chans[i].channo,
                describe(d, i)
            ));
        }
        let channo = d.chans[i].channo;
        d.lines[i].audio_mut().ok_or_else(|| format!("chan {channo} has no far end"))
    }
}

fn as_int(v: &Value) -> Option<i64> {
    v.as_i64().or_else(|| v.as_f64().filter(|f| f.fract() == 0.0 && f.abs() < 9.0e15).map(|f| f as i64))
}

/// A number without a fractional part, however large.
fn is_integral(v: &Value) -> bool {
    v.as_f64().is_some_and(|f| f.fract() == 0.0)
}

fn int_value(k: &str, v: &Value, min: i64, max: i64) -> Result<i64, String> {
    match as_int(v) {
        Some(n) if (min..=max).contains(&n) => Ok(n),
        Some(n) => Err(format!("{k} = {n} is out of range; it must be an integer from {min} to {max}")),
        None if is_integral(v) => Err(format!("{k} = {} is out of range; it must be an integer from {min} to {max}", show(v))),
        None => Err(format!("{k} must be an integer from {min} to {max}, got {}", show(v))),
    }
}

fn span_value(v: &Value, d: &Dahdi) -> Result<usize, String> {
    let Some(s) = as_int(v) else {
        if is_integral(v) {
            return Err(format!("span {} does not exist ({})", show(v), span_range_text(d)));
        }
        return Err(format!("span must be an integer (a DAHDI span number, {}), got {}", span_range_text(d), show(v)));
    };
    match i32::try_from(s).ok().and_then(|s| d.span_index(s)) {
        Some(si) => Ok(si),
        None => Err(format!("span {s} does not exist ({})", span_range_text(d))),
    }
}

/// "1-4, 49-72" for a sorted list of numbers.
fn ranges_text(v: &[u32]) -> String {
    let mut out: Vec<String> = Vec::new();
    let mut k = 0;
    while k < v.len() {
        let start = v[k];
        let mut end = start;
        while k + 1 < v.len() && v[k + 1] == end + 1 {
            k += 1;
            end = v[k];
        }
        out.push(if start == end { start.to_string() } else { format!("{start}-{end}") });
        k += 1;
    }
    out.join(", ")
}

/// The assigned channel numbers, for messages.
fn chan_range_text(d: &Dahdi) -> String {
    let v = d.channos();
    match v.len() {
        0 => "there are no channels".into(),
        1 => format!("channel {} is the only one", v[0]),
        _ => format!("channels {}", ranges_text(&v)),
    }
}

/// The assigned span numbers, for messages.
fn span_range_text(d: &Dahdi) -> String {
    let v: Vec<u32> = d.span_list().iter().map(|&si| d.spans[si].spanno).collect();
    match v.len() {
        0 => "there are no spans".into(),
        1 => format!("span {} is the only one", v[0]),
        _ => format!("spans {}", ranges_text(&v)),
    }
}

/// A JSON value for an error message, shortened.
fn show(v: &Value) -> String {
    let s = v.to_string();
    if s.chars().count() > 60 {
        let mut t: String = s.chars().take(60).collect();
        t.push('…');
        t
    } else {
        s
    }
}

fn show_str(s: &str) -> String {
    show(&Value::String(s.to_string()))
}

fn json_kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

// ---- naming -----------------------------------------------------------------

fn span_of(d: &Dahdi, i: usize) -> Option<(usize, &crate::model::span::Span)> {
    let si = d.chans.get(i)?.span?;
    Some((si, d.spans.get(si)?))
}

fn on_external_span(d: &Dahdi, i: usize) -> bool {
    span_of(d, i).is_some_and(|(_, s)| s.far == SpanFar::External)
}

fn span_type(k: SpanKind) -> &'static str {
    match k {
        SpanKind::T1 => "t1",
        SpanKind::E1 => "e1",
        SpanKind::J1 => "j1",
        SpanKind::Analog => "analog",
    }
}

fn far_name(f: &SpanFar) -> &'static str {
    match f {
        SpanFar::None => "none",
        SpanFar::Cross(_) => "cross",
        SpanFar::External => "external",
        SpanFar::Ports => "ports",
    }
}

/// `"fxs"`, `"fxo"`, `"t1"`, `"e1"` or `"j1"`.
fn chan_kind(d: &Dahdi, i: usize) -> &'static str {
    match &d.lines[i] {
        Line::Phone(_) => "fxs",
        Line::Co(_) => "fxo",
        _ => span_of(d, i).map(|(_, s)| span_type(s.kind)).unwrap_or("none"),
    }
}

/// What a channel is, for error messages.
fn describe(d: &Dahdi, i: usize) -> String {
    match &d.lines[i] {
        Line::Phone(_) => "an FXS port (phone)".into(),
        Line::Co(_) => "an FXO port (CO line)".into(),
        _ => match span_of(d, i) {
            None => "a channel without a span".into(),
            Some((si, s)) => {
                let far = match &s.far {
                    SpanFar::None => "which is connected to nothing (far_end = \"none\")".to_string(),
                    SpanFar::Cross(p) => format!("which is cross-connected to span {}", span_no_text(d, *p)),
                    SpanFar::External => "which is external".to_string(),
                    SpanFar::Ports => "an analog span".to_string(),
                };
                let _ = si;
                format!("a {} channel on span {}, {far}", span_type(s.kind).to_uppercase(), s.spanno)
            }
        },
    }
}

fn alarm_names(bits: u32) -> Vec<&'static str> {
    ALARM_NAMES.iter().filter(|(_, b)| bits & b != 0).map(|(n, _)| *n).collect()
}

fn lineconfig_names(bits: u32) -> Vec<&'static str> {
    LINECONFIG_NAMES.iter().filter(|(_, b)| bits & b != 0).map(|(n, _)| *n).collect()
}

/// The `system.conf` name of a signalling type (`"none"` when unconfigured).
fn sig_name(sig: u32) -> String {
    if sig == SIG_NONE {
        return "none".into();
    }
    SIG_NAMES.iter().find(|(_, v)| *v == sig).map(|(n, _)| n.to_string()).unwrap_or_else(|| format!("0x{sig:x}"))
}

/// Every signalling type a capability mask allows.
fn sigcap_names(cap: u32) -> Vec<&'static str> {
    SIG_NAMES.iter().filter(|(_, v)| *v != 0 && cap & v == *v).map(|(n, _)| *n).collect()
}

fn law_name(l: Law) -> &'static str {
    match l {
        Law::Mulaw => "mulaw",
        Law::Alaw => "alaw",
    }
}

// ---- the ops ------------------------------------------------------------------

/// Run one op on the locked model. Results that need slow work (analysis,
/// writing a file) are finished by the caller after the lock is released.
fn dispatch(args: &Args<'_>, st: &mut State, pre: Prepared) -> Result<Done, String> {
    let d = &mut st.dahdi;
    let now = d.now_ms;
    let empty = || Ok(Done::Reply(json!({})));
    match args.op {
        "ping" => Ok(Done::Reply(json!({"now_ms": now}))),
        "status" => Ok(Done::Reply(status(d))),
        "chan.get" => {
            let i = args.chan_any(d)?;
            Ok(Done::Reply(chan_get(d, i)))
        }
        "chan.remove" => {
            let i = args.chan(d)?;
            let channo = d.chans[i].channo;
            d.remove_chan(channo);
            empty()
        }
        "span.alarm" => {
            let si = args.span(d)?;
            let v = args.req("alarms", "a list of alarm names, [] to clear")?;
            let list = v.as_array().ok_or_else(|| format!("alarms must be a list of names ({}), got {}", SETTABLE_ALARMS.join(", "), show(v)))?;
            if list.len() > 32 {
                return Err("alarms: too many entries".into());
            }
            let mut bits = 0;
            for a in list {
                let name = a.as_str().ok_or_else(|| format!("alarms must be names (strings), got {}", show(a)))?;
                let name = name.to_ascii_lowercase();
                if !SETTABLE_ALARMS.contains(&name.as_str()) {
                    return Err(format!("unknown alarm {}; use {}", show_str(&name), SETTABLE_ALARMS.join(", ")));
                }
                bits |= ALARM_NAMES.iter().find(|(n, _)| *n == name).map(|(_, b)| *b).unwrap_or(0);
            }
            d.set_span_alarms(si, bits);
            Ok(Done::Reply(json!({"alarms": alarm_names(d.spans[si].alarms)})))
        }
        "span.counters" => {
            let si = args.span(d)?;
            let max = i64::from(u32::MAX);
            let mut c = d.spans[si].counters;
            let fields: [(&str, &mut u32); 9] = [
                ("bpv", &mut c.bpv),
                ("crc4", &mut c.crc4),
                ("ebit", &mut c.ebit),
                ("fas", &mut c.fas),
                ("fe", &mut c.fe),
                ("cv", &mut c.cv),
                ("be", &mut c.be),
                ("prbs", &mut c.prbs),
                ("errsec", &mut c.errsec),
            ];
            for (k, f) in fields {
                if let Some(v) = args.int_opt(k, 0, max)? {
                    *f = v as u32;
                }
            }
            d.spans[si].counters = c;
            empty()
        }
        "frames.get" => {
            let span = args.span_opt(d)?;
            let since = args.int_opt("since_ms", 0, i64::MAX)?.unwrap_or(0) as u64;
            let frames: Vec<&crate::model::FrameTrace> =
                d.frame_trace.iter().filter(|f| f.ms >= since && span.is_none_or(|s| f.span == d.spans[s].spanno)).collect();
            Ok(Done::Reply(json!({"frames": frames})))
        }
        "smdi.send" => {
            let link = st.smdi.as_ref().ok_or("no SMDI link: set [sim] smdi = \"/path/link\" in the config")?;
            let text = args.str_req("text", "the bytes the switch sends, e.g. \"\\r\\nMD0010001D 5551234 \\r\\n\\u0019\"")?;
            if text.len() > crate::smdi::MAX_SEND {
                return Err(format!("smdi.send: text is {} bytes, at most {} are allowed", text.len(), crate::smdi::MAX_SEND));
            }
            link.send(text.as_bytes()).map_err(|e| format!("smdi.send: {e}"))?;
            Ok(Done::Reply(json!({"written": text.len()})))
        }
        "smdi.get" => {
            let link = st.smdi.as_ref().ok_or("no SMDI link: set [sim] smdi = \"/path/link\" in the config")?;
            let bytes = link.take();
            Ok(Done::Reply(json!({"text": String::from_utf8_lossy(&bytes), "link": link.link().display().to_string()})))
        }
        "dchan.send" => {
            let si = args.span(d)?;
            if d.spans[si].far != SpanFar::External {
                let what = match &d.spans[si].far {
                    SpanFar::Cross(p) => format!("cross-connected to span {}", span_no_text(d, *p)),
                    SpanFar::Ports => "an analog span".into(),
                    _ => "connected to nothing (far_end = \"none\")".into(),
                };
                return Err(format!("dchan.send needs a span with far_end = \"external\"; span {} is {what}", d.spans[si].spanno));
            }
            let hex = args.str_req("hex", "the frame in hex, without flags or FCS")?;
            let frame = parse_hex(hex)?;
            let bad = args.bool_opt("bad_fcs", false)?;
            if d.dchan_in.len() >= MAX_DCHAN_IN {
                return Err("too many frames waiting for delivery; is the simulator clock running?".into());
            }
            d.dchan_in.push((si, frame, !bad));
            empty()
        }

        "phone.hook" => {
            let off = args.bool_req("offhook")?;
            let ack = args.opt("cidcw_ack").map(|_| args.bool_opt("cidcw_ack", true)).transpose()?;
            let p = args.phone(d)?;
            if let Some(ack) = ack {
                p.view.cidcw_ack = ack;
            }
            p.set_hook(now, off);
            empty()
        }
        "phone.flash" => {
            let ms = args.int_opt("ms", 1, MAX_TIME_MS)?.unwrap_or(500) as u64;
            let p = args.phone(d)?;
            let (off, end) = phone_plan(p, now);
            if !off {
                return Err(format!("{}: the phone is on-hook; a flash needs it off-hook (phone.hook offhook=true)", args.op));
            }
            let start = if p.script.is_empty() { now } else { end + 300 };
            p.flash(start, ms);
            empty()
        }
        "phone.dial" => {
            let digits = args.str_req("digits", "the digits to dial")?;
            let mode = args.str_opt("mode")?.unwrap_or("dtmf");
            let pulse = match mode {
                "dtmf" => false,
                "pulse" => true,
                _ => return Err(format!("mode must be \"dtmf\" or \"pulse\", got {}", show_str(mode))),
            };
            if digits.is_empty() {
                return Err("digits is empty; give at least one digit".into());
            }
            if digits.chars().count() > MAX_DIGITS {
                return Err(format!("digits: at most {MAX_DIGITS} digits at a time"));
            }
            let on_ms = args.int_opt("on_ms", 1, 10_000)?;
            let off_ms = args.int_opt("off_ms", 0, 10_000)?;
            let pps = args.int_opt("pps", 5, 20)?;
            let break_pct = args.int_opt("break_pct", 20, 80)?;
            if pulse {
                if on_ms.is_some() || off_ms.is_some() {
                    return Err("on_ms and off_ms apply to DTMF dialling only".into());
                }
                if let Some(c) = digits.chars().find(|c| !c.is_ascii_digit()) {
                    return Err(format!("pulse dialling cannot send {c:?}; use 0-9"));
                }
            } else if pps.is_some() || break_pct.is_some() {
                return Err("pps and break_pct apply to pulse dialling only".into());
            } else if let Some(c) = digits.chars().find(|&c| !tandem_dsp::dtmf::is_digit(c)) {
                return Err(format!("{c:?} is not a DTMF digit; use 0-9, *, #, A-D"));
            }
            let p = args.phone(d)?;
            let (off, end) = phone_plan(p, now);
            if !off {
                return Err(format!("{}: the phone is on-hook; go off-hook first (phone.hook offhook=true)", args.op));
            }
            if pulse {
                let start = if p.script.is_empty() { now } else { end + 300 };
                // One pulse lasts 1000/pps ms, break_pct of it on-hook.
                let period = (1000 / pps.unwrap_or(10)) as u64;
                let brk = period * break_pct.unwrap_or(60) as u64 / 100;
                p.dial_pulse_timed(start, digits, brk, period - brk)?;
            } else {
                let on = on_ms.unwrap_or(100) as u32;
                let off = off_ms.unwrap_or(100) as u32;
                p.dial_dtmf(&digits.to_ascii_uppercase(), on, off)?;
            }
            empty()
        }
        "phone.get" => {
            let p = args.phone(d)?;
            Ok(Done::Reply(serde_json::to_value(&p.view).map_err(|e| e.to_string())?))
        }

        "co.ring" => {
            let cadence = match args.opt("cadence") {
                None => vec![(2000, 4000)],
                Some(v) => parse_cadence("cadence", v)?,
            };
            if cadence.is_empty() {
                return Err("cadence is empty; give [[on_ms, off_ms], ...] or leave it out for [[2000, 4000]]".into());
            }
            if cadence.iter().all(|(on, _)| *on == 0) {
                return Err("cadence has no ring time (every on_ms is 0)".into());
            }
            let count = args.int_opt("count", 1, 1_000_000)?.map(|c| c as u32);
            let cid = args.opt("cid").map(build_cid).transpose()?;
            let co = args.co(d)?;
            let cadence = cadence.into_iter().map(|(a, b)| (u64::from(a), u64::from(b))).collect();
            co.ring(now, cadence, count, cid);
            empty()
        }
        "co.stop" => {
            args.co(d)?.stop_ringing();
            empty()
        }
        "co.battery" => {
            let on = args.bool_req("on")?;
            args.co(d)?.set_battery(now, on);
            empty()
        }
        "co.polarity" => {
            let rev = args.bool_req("reversed")?;
            args.co(d)?.set_polarity(now, rev);
            empty()
        }
        "co.disconnect" => {
            args.co(d)?.disconnect(now);
            empty()
        }
        "co.dial_tone" => {
            let on = args.bool_req("on")?;
            args.co(d)?.dial_tone = on;
            empty()
        }
        "co.get" => {
            let co = args.co(d)?;
            Ok(Done::Reply(serde_json::to_value(&co.view).map_err(|e| e.to_string())?))
        }

        "trunk.bits" => {
            let bits = args.int_req("bits", 0, 15)? as u32;
            args.trunk(d)?.1.bits = bits;
            empty()
        }
        "trunk.get" => {
            let (i, t) = args.trunk(d)?;
            let far_bits = t.bits;
            let seen: Vec<Value> = t.seen_bits.iter().map(|(ms, b)| json!([ms, b])).collect();
            let bits = d.chans[i].txsig;
            Ok(Done::Reply(json!({"bits": bits, "far_bits": far_bits, "seen": seen})))
        }

        "audio.play" => {
            let given: Vec<&str> = ["tone", "wav", "silence"].into_iter().filter(|k| args.opt(k).is_some()).collect();
            if given.len() != 1 {
                return Err(format!(
                    "audio.play needs exactly one of \"tone\", \"wav\" or \"silence\"{}",
                    if given.is_empty() { String::new() } else { format!(" (got {})", given.join(", ")) }
                ));
            }
            let repeat = args.bool_opt("repeat", false)?;
            if args.opt("repeat").is_some() && given[0] != "wav" {
                return Err("repeat applies to wav only".into());
            }
            let source = match given[0] {
                "tone" => parse_tone(args.req("tone", "a tone")?)?,
                "silence" => {
                    if !args.bool_req("silence")? {
                        return Err("silence must be true (it selects silence)".into());
                    }
                    Source::Silence
                }
                _ => {
                    let data = pre.wav.ok_or("wav: the file was not loaded")?;
                    Source::Samples { data, pos: 0, repeat }
                }
            };
            let a = args.audio(d)?;
            a.play(source);
            a.mark_start = true;
            empty()
        }
        "audio.onset" => {
            let chans: Vec<usize> = match args.opt("chan") {
                Some(_) => vec![args.chan(d)?],
                None => (0..d.chans.len()).collect(),
            };
            let times = &st.tick_times;
            let onsets: Vec<Value> = chans
                .into_iter()
                .filter_map(|i| {
                    let c = &d.chans[i];
                    let o = c.rx_onset?;
                    let readable_ns = o.complete_ms.and_then(|t| times.lookup(t));
                    Some(json!({"chan": c.channo, "sample": o.sample, "blocksize": o.blocksize, "tick_ms": o.complete_ms, "readable_ns": readable_ns, "lost": o.lost}))
                })
                .collect();
            Ok(Done::Reply(json!({"now_ms": now, "onsets": onsets})))
        }
        "audio.clear" => {
            args.audio(d)?.recorder.clear();
            empty()
        }
        "audio.analyze" => {
            let ms = args.int_opt("ms", 1, MAX_AUDIO_MS)?.unwrap_or(200) as usize;
            let a = args.audio(d)?;
            Ok(Done::Analyze(a.recorder.last(ms * 8)))
        }
        "audio.save" => {
            let path = args.str_req("path", "where to write the WAV file")?;
            if path.is_empty() {
                return Err("path is empty".into());
            }
            let ms = args.int_opt("ms", 1, MAX_AUDIO_MS)?;
            let a = args.audio(d)?;
            let n = ms.map(|m| m as usize * 8).unwrap_or(a.recorder.samples.len());
            Ok(Done::Save { path: path.to_string(), samples: a.recorder.last(n) })
        }
        "card.list" => Ok(Done::Reply(card_list(d))),
        "card.plug" => {
            let i = args.card(d)?;
            d.plug_device(i).map_err(|e| format!("card {}: {e}", i + 1))?;
            empty()
        }
        "card.unplug" => {
            let i = args.card(d)?;
            d.unplug_device(i).map_err(|e| format!("card {}: {e}", i + 1))?;
            empty()
        }
        other => Err(format!("op {} is listed but not implemented (a bug)", show_str(other))),
    }
}

/// Whether the phone will be off-hook once its script has run, and when the script ends.
fn phone_plan(p: &Phone, now: u64) -> (bool, u64) {
    match p.script.back() {
        Some(&(at, off)) => (off, at.max(now)),
        None => (p.view.offhook, now),
    }
}

/// A span's number for messages ("3", or "(unassigned)").
fn span_no_text(d: &Dahdi, si: usize) -> String {
    match d.spans.get(si) {
        Some(s) if s.assigned() => s.spanno.to_string(),
        _ => "(unassigned)".into(),
    }
}

fn card_list(d: &Dahdi) -> Value {
    let cards: Vec<Value> = d
        .devices
        .iter()
        .enumerate()
        .map(|(i, dev)| {
            let spans: Vec<Value> = dev
                .spans
                .iter()
                .map(|&si| {
                    let s = &d.spans[si];
                    json!({
                        "local": s.local,
                        "span": s.assigned().then_some(s.spanno),
                        "basechan": s.assigned().then_some(s.first_chan),
                        "channels": s.nchans,
                        "name": s.name,
                        "type": span_type(s.kind),
                    })
                })
                .collect();
            json!({
                "card": i + 1,
                "model": dev.model,
                "present": dev.present,
                "hardware_id": dev.hardware_id,
                "location": dev.location,
                "manufacturer": dev.manufacturer,
                "type": dev.devicetype,
                "devpath": dev.devpath(),
                "spans": spans,
            })
        })
        .collect();
    json!({"auto_assign_spans": d.auto_assign, "cards": cards})
}

fn status(d: &Dahdi) -> Value {
    let spans: Vec<Value> = d
        .span_list()
        .into_iter()
        .map(|si| &d.spans[si])
        .map(|s| {
            let last = (s.first_chan + s.nchans).saturating_sub(1);
            let peer = match s.far {
                SpanFar::Cross(p) if d.spans[p].assigned() => Some(d.spans[p].spanno),
                _ => None,
            };
            json!({
                "span": s.spanno,
                "name": s.name,
                "desc": s.desc,
                "type": span_type(s.kind),
                "alarms": alarm_names(s.alarms),
                "running": s.running,
                "lineconfig": lineconfig_names(s.lineconfig),
                "far_end": far_name(&s.far),
                "peer": peer,
                "channels": [s.first_chan, last],
            })
        })
        .collect();
    let chans: Vec<Value> = d
        .channos()
        .into_iter()
        .filter_map(|n| d.chan_index(n))
        .map(|i| {
            let c = &d.chans[i];
            json!({
                "chan": c.channo,
                "span": c.span.map(|s| d.spans[s].spanno),
                "pos": c.chanpos,
                "name": c.name,
                "kind": chan_kind(d, i),
                "sig": sig_name(c.sig),
                "open": c.is_open(),
                "removed": c.removed,
            })
        })
        .collect();
    json!({"now_ms": d.now_ms, "spans": spans, "channels": chans})
}

fn chan_get(d: &Dahdi, i: usize) -> Value {
    let c = &d.chans[i];
    json!({
        "chan": c.channo,
        "name": c.name,
        "span": c.span.map(|s| d.spans[s].spanno),
        "kind": chan_kind(d, i),
        "sig": sig_name(c.sig),
        "sigcap": sigcap_names(c.sigcap),
        "open": c.is_open(),
        "removed": c.removed,
        "law": law_name(c.law),
        "blocksize": c.blocksize,
        "numbufs": c.numbufs,
        "txhooksig": c.txhooksig,
        "rxhooksig": c.rxhooksig,
        "txstate": format!("{:?}", c.txstate).to_ascii_lowercase(),
        "txbits": c.txsig,
        "rxbits": c.rxsig,
        "events_pending": c.events.len(),
        "events": c.events.iter().collect::<Vec<_>>(),
        "polarity": c.polarity,
        "vmwi": c.vmwi,
        "echocan_taps": c.echocan.taps,
        "echocan": {
            "taps": c.echocan.taps,
            "fax_mode": c.echocan.fax_mode,
            "cancelling": d.echo[i].cancels(&c.echocan),
            "erle_db": d.echo[i].erle_db(),
        },
        "line_echo": d.echo[i].cfg(),
        "dialing": c.dialer.dialing,
        "alarms": alarm_names(c.chan_alarms),
        "counters": c.counters,
    })
}

/// Parse a hex frame, ignoring whitespace and `:` separators.
fn parse_hex(s: &str) -> Result<Vec<u8>, String> {
    let digits: Vec<u8> = s.bytes().filter(|b| !b.is_ascii_whitespace() && *b != b':').collect();
    if digits.is_empty() {
        return Err("hex is empty; give the frame (address, control, information) in hex".into());
    }
    if digits.len() & 1 == 1 {
        return Err(format!("hex has an odd number of digits ({})", digits.len()));
    }
    if digits.len() / 2 > MAX_DCHAN_FRAME {
        return Err(format!("the frame is {} bytes; at most {MAX_DCHAN_FRAME}", digits.len() / 2));
    }
    let val = |b: u8| -> Result<u8, String> {
        char::from(b).to_digit(16).map(|v| v as u8).ok_or_else(|| format!("hex contains {:?}, which is not a hex digit", char::from(b)))
    };
    digits.chunks_exact(2).map(|p| Ok(val(p[0])? << 4 | val(p[1])?)).collect()
}

/// Parse `[[on_ms, off_ms], ...]`.
fn parse_cadence(k: &str, v: &Value) -> Result<Vec<(u32, u32)>, String> {
    let bad = || format!("{k} must be a list of [on_ms, off_ms] pairs, e.g. [[2000, 4000]], got {}", show(v));
    let list = v.as_array().ok_or_else(bad)?;
    if list.len() > MAX_CADENCE_PAIRS {
        return Err(format!("{k}: at most {MAX_CADENCE_PAIRS} [on_ms, off_ms] pairs"));
    }
    let mut out = Vec::with_capacity(list.len());
    for p in list {
        let pair = p.as_array().filter(|a| a.len() == 2).ok_or_else(bad)?;
        let on = int_value(&format!("{k} on_ms"), &pair[0], 0, MAX_TIME_MS)? as u32;
        let off = int_value(&format!("{k} off_ms"), &pair[1], 0, MAX_TIME_MS)? as u32;
        out.push((on, off));
    }
    Ok(out)
}

/// Parse `audio.play`'s `tone` object.
fn parse_tone(v: &Value) -> Result<Source, String> {
    let m = v.as_object().ok_or_else(|| format!("tone must be an object like {{\"freqs\": [350, 440], \"level_dbm0\": -13}}, got {}", show(v)))?;
    if let Some(k) = m.keys().find(|k| !TONE_KEYS.contains(&k.as_str())) {
        return Err(format!("tone has no field {} (it takes {})", show_str(k), TONE_KEYS.join(", ")));
    }
    let fv = m.get("freqs").filter(|v| !v.is_null()).ok_or("tone needs \"freqs\" (a list of 1 to 4 frequencies in Hz)")?;
    let list = fv.as_array().ok_or_else(|| format!("tone freqs must be a list of frequencies in Hz, got {}", show(fv)))?;
    if list.is_empty() || list.len() > 4 {
        return Err(format!("tone freqs: give 1 to 4 frequencies, got {}", list.len()));
    }
    let mut freqs = Vec::with_capacity(list.len());
    for f in list {
        match f.as_f64() {
            Some(x) if x > 0.0 && x < 4000.0 => freqs.push(x as f32),
            _ => return Err(format!("tone frequencies must be numbers above 0 and below 4000 Hz, got {}", show(f))),
        }
    }
    let level = match m.get("level_dbm0").filter(|v| !v.is_null()) {
        None => -10.0,
        Some(l) => match l.as_f64() {
            Some(x) if (-90.0..=f64::from(FULL_SCALE_DBM0)).contains(&x) => x as f32,
            _ => return Err(format!("tone level_dbm0 must be a number from -90 to 3.14, got {}", show(l))),
        },
    };
    let cadence = match m.get("cadence").filter(|v| !v.is_null()) {
        None => Vec::new(),
        Some(c) => parse_cadence("tone cadence", c)?,
    };
    if !cadence.is_empty() && cadence.iter().all(|(on, _)| *on == 0) {
        return Err("tone cadence has no on time (every on_ms is 0); use silence instead".into());
    }
    if !cadence.is_empty() && cadence.iter().all(|(on, off)| on + off == 0) {
        return Err("tone cadence has zero length".into());
    }
    Ok(Source::tone(&freqs, level, cadence))
}

/// Build caller-ID audio for `co.ring` from its `cid` object.
fn build_cid(v: &Value) -> Result<(CidTiming, Vec<i16>), String> {
    let m = v.as_object().ok_or_else(|| format!("cid must be an object like {{\"number\": \"5551234\", \"name\": \"ALICE\"}}, got {}", show(v)))?;
    if let Some(k) = m.keys().find(|k| !CID_KEYS.contains(&k.as_str())) {
        return Err(format!("cid has no field {} (it takes {})", show_str(k), CID_KEYS.join(", ")));
    }
    let s = |k: &str| -> Result<Option<&str>, String> {
        match m.get(k).filter(|v| !v.is_null()) {
            None => Ok(None),
            Some(v) => v.as_str().map(Some).ok_or_else(|| format!("cid {k} must be a string, got {}", show(v))),
        }
    };
    let absence = |k: &str| -> Result<Option<Absence>, String> {
        match s(k)? {
            None => Ok(None),
            Some("private") => Ok(Some(Absence::Private)),
            Some("unavailable") => Ok(Some(Absence::Unavailable)),
            Some(x) => Err(format!("cid {k} must be \"private\" or \"unavailable\", got {}", show_str(x))),
        }
    };
    let number = s("number")?.map(str::to_string);
    let name = s("name")?.map(str::to_string);
    let number_absence = absence("number_absent")?;
    let name_absence = absence("name_absent")?;
    if number.is_some() && number_absence.is_some() {
        return Err("cid: give number or number_absent, not both".into());
    }
    if name.is_some() && name_absence.is_some() {
        return Err("cid: give name or name_absent, not both".into());
    }
    for (k, t) in [("number", &number), ("name", &name)] {
        if t.as_ref().is_some_and(|t| t.chars().count() > 64) {
            return Err(format!("cid {k} is longer than 64 characters"));
        }
    }
    let datetime = match s("datetime")? {
        None => None,
        Some(t) => Some(parse_cid_datetime(t)?),
    };
    let standard = s("standard")?.unwrap_or("bell202");
    let format = s("format")?;
    let timing = match s("timing")?.unwrap_or("after_first_ring") {
        "after_first_ring" => CidTiming::AfterFirstRing,
        "before_first_ring" => CidTiming::BeforeFirstRing,
        "before_first_ring_no_reversal" => CidTiming::BeforeFirstRingNoReversal,
        x => {
            return Err(format!("cid timing must be \"after_first_ring\", \"before_first_ring\" or \"before_first_ring_no_reversal\", got {}", show_str(x)));
        }
    };
    let cid = CallerId { number, name, datetime, number_absence, name_absence };
    let samples = match standard {
        "dtmf" => {
            if format.is_some() {
                return Err("cid format applies to FSK (bell202, v23) only, not dtmf".into());
            }
            callerid::generate_dtmf_callerid(&cid, &callerid::DTMF_CALLERID_CONFIG).map_err(|e| format!("cannot send this caller ID as DTMF: {e}"))?
        }
        "bell202" | "v23" => {
            let std = if standard == "v23" { Standard::V23 } else { Standard::Bell202 };
            let fmt = match format.unwrap_or("mdmf") {
                "sdmf" => Format::Sdmf,
                "mdmf" => Format::Mdmf,
                "etsi" => Format::Etsi,
                x => return Err(format!("cid format must be \"sdmf\", \"mdmf\" or \"etsi\", got {}", show_str(x))),
            };
            callerid::generate_fsk_callerid(&CallerIdMessage::CallerId(cid), fmt, std, CID_FSK_LEVEL_DBM0)
                .map_err(|e| format!("cannot encode this caller ID: {e}"))?
        }
        x => return Err(format!("cid standard must be \"bell202\", \"v23\" or \"dtmf\", got {}", show_str(x))),
    };
    Ok((timing, samples))
}

/// `MMDDHHMM`.
fn parse_cid_datetime(t: &str) -> Result<(u8, u8, u8, u8), String> {
    let b = t.as_bytes();
    if b.len() != 8 || !b.iter().all(u8::is_ascii_digit) {
        return Err(format!("cid datetime must be 8 digits MMDDHHMM, got {}", show_str(t)));
    }
    let v = |i: usize| (b[i] - b'0') * 10 + (b[i + 1] - b'0');
    let (mo, dd, hh, mi) = (v(0), v(2), v(4), v(6));
    if !(1..=12).contains(&mo) || !(1..=31).contains(&dd) || hh > 23 || mi > 59 {
        return Err(format!("cid datetime {t:?} is out of range (month 01-12, day 01-31, hour 00-23, minute 00-59)"));
    }
    Ok((mo, dd, hh, mi))
}

// ---- external D-channel sockets ----------------------------------------------------

/// The connected client of one external span's D-channel socket.
type Slot = Arc<Mutex<Option<Arc<OwnedFd>>>>;

/// Socket files to remove when the hooks are dropped.
struct SocketFiles(Vec<PathBuf>);

impl Drop for SocketFiles {
    fn drop(&mut self) {
        for p in &self.0 {
            let _ = std::fs::remove_file(p);
        }
    }
}

/// Create the listening `SOCK_SEQPACKET` sockets of the external spans and
/// return the clock hook that forwards the host's frames to them.
fn serve_dchan(control: &str, state: Arc<Mutex<State>>, externals: &[ExternalSpan]) -> std::io::Result<Vec<crate::clock::AfterTick>> {
    if externals.is_empty() {
        return Ok(Vec::new());
    }
    let nspans = state.lock().dahdi.spans.len();
    let mut slots: HashMap<usize, Slot> = HashMap::new();
    let mut files = SocketFiles(Vec::new());
    for e in externals {
        let spanno = e.span_index + 1;
        if e.span_index >= nspans {
            return Err(std::io::Error::other(format!("external span {spanno} does not exist")));
        }
        let path = e.socket.clone().unwrap_or_else(|| format!("{control}.span{spanno}"));
        let lfd =
            listen_seqpacket(Path::new(&path)).map_err(|err| std::io::Error::new(err.kind(), format!("D-channel socket {path} (span {spanno}): {err}")))?;
        files.0.push(PathBuf::from(&path));
        let slot = Slot::default();
        slots.insert(e.span_index, slot.clone());
        let st = state.clone();
        let si = e.span_index;
        std::thread::Builder::new().name(format!("dchan-span{spanno}")).spawn(move || accept_loop(lfd, si, st, slot))?;
        tracing::info!(span = spanno, socket = %path, "external D-channel socket");
    }
    let hook: crate::clock::AfterTick = Box::new(move |st: &mut State| {
        let _keep = &files;
        if st.dahdi.dchan_out.is_empty() {
            return;
        }
        for (si, frame) in st.dahdi.dchan_out.drain(..) {
            let Some(slot) = slots.get(&si) else { continue };
            let client = slot.lock().clone();
            let Some(fd) = client else { continue };
            match send(fd.as_raw_fd(), &frame, MsgFlags::MSG_DONTWAIT | MsgFlags::MSG_NOSIGNAL) {
                Ok(_) => {}
                Err(Errno::EAGAIN) => tracing::warn!(span = si + 1, "D-channel client is not reading; frame dropped"),
                Err(e) => {
                    tracing::info!(span = si + 1, "D-channel client gone ({e})");
                    let mut s = slot.lock();
                    if s.as_ref().is_some_and(|c| Arc::ptr_eq(c, &fd)) {
                        *s = None;
                    }
                }
            }
        }
    });
    Ok(vec![hook])
}

fn listen_seqpacket(path: &Path) -> std::io::Result<OwnedFd> {
    remove_stale_socket(path)?;
    let fd = socket(AddressFamily::Unix, SockType::SeqPacket, SockFlag::SOCK_CLOEXEC, None)?;
    let addr = UnixAddr::new(path)?;
    bind(fd.as_raw_fd(), &addr)?;
    listen(&fd, Backlog::new(4)?)?;
    Ok(fd)
}

/// Accept clients one after another; a new one replaces (disconnects) the old.
fn accept_loop(lfd: OwnedFd, si: usize, state: Arc<Mutex<State>>, slot: Slot) {
    loop {
        let raw = match accept4(lfd.as_raw_fd(), SockFlag::SOCK_CLOEXEC) {
            Ok(fd) => fd,
            Err(Errno::EINTR | Errno::ECONNABORTED) => continue,
            Err(e) => {
                tracing::warn!(span = si + 1, "D-channel socket accept: {e}");
                std::thread::sleep(std::time::Duration::from_millis(100));
                continue;
            }
        };
        // SAFETY: accept4 returned a new descriptor that nothing else owns.
        let fd = Arc::new(unsafe { OwnedFd::from_raw_fd(raw) });
        let old = slot.lock().replace(fd.clone());
        if let Some(old) = old {
            tracing::info!(span = si + 1, "new D-channel client replaces the old one");
            let _ = shutdown(old.as_raw_fd(), Shutdown::Both);
        }
        let (st, sl) = (state.clone(), slot.clone());
        let spawned = std::thread::Builder::new().name(format!("dchan-rx{}", si + 1)).spawn(move || read_client(fd, si, st, sl));
        if let Err(e) = spawned {
            tracing::warn!(span = si + 1, "cannot start a D-channel reader: {e}");
            slot.lock().take();
        }
    }
}

/// Deliver the client's packets to the span until it disconnects or is replaced.
fn read_client(fd: Arc<OwnedFd>, si: usize, state: Arc<Mutex<State>>, slot: Slot) {
    let mut buf = vec![0u8; MAX_DCHAN_FRAME + 1];
    loop {
        match recv(fd.as_raw_fd(), &mut buf, MsgFlags::MSG_TRUNC) {
            Ok(0) => {
                // Either an empty packet (ignored) or the end of the connection.
                if peer_gone(&fd) {
                    break;
                }
            }
            Ok(n) if n > MAX_DCHAN_FRAME => {
                tracing::warn!(span = si + 1, "D-channel packet of {n} bytes dropped (limit {MAX_DCHAN_FRAME})");
            }
            Ok(n) => {
                let mut st = state.lock();
                if st.dahdi.dchan_in.len() < MAX_DCHAN_IN {
                    st.dahdi.dchan_in.push((si, buf[..n].to_vec(), true));
                } else {
                    tracing::warn!(span = si + 1, "D-channel input queue full; frame dropped");
                }
            }
            Err(Errno::EINTR) => {}
            Err(e) => {
                tracing::debug!(span = si + 1, "D-channel client read: {e}");
                break;
            }
        }
    }
    let mut s = slot.lock();
    if s.as_ref().is_some_and(|c| Arc::ptr_eq(c, &fd)) {
        *s = None;
    }
}

/// Whether the other end hung up (or we shut the socket down).
fn peer_gone(fd: &OwnedFd) -> bool {
    let mut fds = [PollFd::new(fd.as_fd(), PollFlags::POLLIN)];
    match nix::poll::poll(&mut fds, PollTimeout::ZERO) {
        Ok(_) => fds[0].revents().is_some_and(|r| r.intersects(PollFlags::POLLHUP | PollFlags::POLLERR | PollFlags::POLLNVAL)),
        Err(_) => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::SimConfig;
    use std::time::{Duration, Instant};

    const CONFIG: &str = r#"
[[card]]
model = "tdm410p"
ports = ["fxs", "fxs", "fxo", "fxo"]

[[card]]
model = "te220p"
[[card.span]]
type = "t1"
far_end = "external"
[[card.span]]
type = "t1"
"#;

    fn setup() -> (Mutex<State>, Vec<ExternalSpan>) {
        let cfg = SimConfig::parse(CONFIG, "test.toml").expect("config");
        let (dahdi, ext) = cfg.build("test.toml").expect("build");
        (Mutex::new(State::new(dahdi, Duration::from_millis(100))), ext)
    }

    fn call(st: &Mutex<State>, req: &str) -> Value {
        handle_line(req.as_bytes(), st)
    }

    fn ok(st: &Mutex<State>, req: &str) -> Value {
        let r = call(st, req);
        assert_eq!(r["ok"], true, "{req} -> {r}");
        r["result"].clone()
    }

    fn err(st: &Mutex<State>, req: &str) -> String {
        let r = call(st, req);
        assert_eq!(r["ok"], false, "{req} should fail: {r}");
        r["error"].as_str().expect("error string").to_string()
    }

    fn tick(st: &Mutex<State>, n: usize) {
        let mut s = st.lock();
        for _ in 0..n {
            s.dahdi.tick();
        }
    }

    #[test]
    fn malformed_requests_get_errors() {
        let (st, _) = setup();
        assert!(err(&st, "{not json").contains("bad JSON"));
        assert!(err(&st, "[1, 2]").contains("JSON object"));
        assert!(err(&st, "42").contains("JSON object"));
        assert!(err(&st, r#"{"id": 1}"#).contains("missing \"op\""));
        assert!(err(&st, r#"{"op": 7}"#).contains("must be a string"));
        let e = err(&st, r#"{"op": "launch.rocket"}"#);
        assert!(e.contains("unknown op") && e.contains("phone.hook"), "{e}");
        assert!(handle_line(b"{\"op\": \"ping\xff\"}", &st)["error"].as_str().unwrap().contains("UTF-8"));
        assert!(err(&st, r#"{"op": "ping", "chan": 1}"#).contains("takes no arguments"));
        assert!(err(&st, r#"{"op": "phone.hook", "chan": 1, "offook": true}"#).contains("no argument \"offook\""));
        // Wrong types and ranges.
        assert!(err(&st, r#"{"op": "phone.hook", "chan": 1}"#).contains("needs \"offhook\""));
        assert!(err(&st, r#"{"op": "phone.hook", "chan": 1, "offhook": "yes"}"#).contains("true or false"));
        assert!(err(&st, r#"{"op": "phone.hook", "chan": "one", "offhook": true}"#).contains("must be an integer"));
        assert!(err(&st, r#"{"op": "phone.hook", "chan": 1.5, "offhook": true}"#).contains("must be an integer"));
        assert_eq!(err(&st, r#"{"op": "phone.hook", "chan": 99, "offhook": true}"#), "chan 99 does not exist (channels 1-52)");
        assert!(err(&st, r#"{"op": "chan.get", "chan": -1}"#).contains("does not exist"));
        assert!(err(&st, r#"{"op": "chan.get", "chan": 0}"#).contains("does not exist"));
        assert!(err(&st, r#"{"op": "chan.get", "chan": 18446744073709551616}"#).contains("does not exist"));
        assert!(err(&st, r#"{"op": "chan.get", "chan": 1e300}"#).contains("does not exist"));
        assert!(err(&st, r#"{"op": "span.alarm", "span": -9223372036854775809, "alarms": []}"#).contains("does not exist"));
        assert!(err(&st, r#"{"op": "frames.get", "since_ms": 1e20}"#).contains("out of range"));
        assert!(err(&st, r#"{"op": "chan.get"}"#).contains("needs \"chan\""));
        assert!(err(&st, r#"{"op": "span.alarm", "span": 4, "alarms": []}"#).contains("span 4 does not exist (spans 1-3)"));
        assert!(err(&st, r#"{"op": "span.alarm", "span": 2, "alarms": ["purple"]}"#).contains("unknown alarm"));
        assert!(err(&st, r#"{"op": "span.alarm", "span": 2, "alarms": "red"}"#).contains("list"));
        assert!(err(&st, r#"{"op": "phone.flash", "chan": 1, "ms": 99999999999999}"#).contains("out of range"));
        assert!(err(&st, r#"{"op": "trunk.bits", "chan": 5, "bits": 16}"#).contains("out of range"));
        assert!(err(&st, r#"{"op": "audio.analyze", "chan": 1, "ms": -5}"#).contains("out of range"));
        // Wrong kinds of line.
        assert_eq!(err(&st, r#"{"op": "phone.hook", "chan": 3, "offhook": true}"#), "phone.* needs an FXS port; chan 3 is an FXO port (CO line)");
        assert!(err(&st, r#"{"op": "co.get", "chan": 1}"#).contains("co.* needs an FXO port; chan 1 is an FXS port"));
        assert!(err(&st, r#"{"op": "trunk.get", "chan": 1}"#).contains("far_end = \"external\""));
        let e = err(&st, r#"{"op": "trunk.get", "chan": 30}"#);
        assert!(e.contains("span 3") && e.contains("connected to nothing"), "{e}");
        assert!(err(&st, r#"{"op": "dchan.send", "span": 3, "hex": "0201"}"#).contains("far_end = \"external\""));
        assert!(err(&st, r#"{"op": "dchan.send", "span": 2, "hex": "020"}"#).contains("odd"));
        assert!(err(&st, r#"{"op": "dchan.send", "span": 2, "hex": "zz"}"#).contains("not a hex digit"));
        // Op-specific checks.
        assert!(err(&st, r#"{"op": "phone.dial", "chan": 1, "digits": "12"}"#).contains("on-hook"));
        assert!(err(&st, r#"{"op": "phone.dial", "chan": 1, "digits": "1x"}"#).contains("not a DTMF digit"));
        assert!(err(&st, r#"{"op": "phone.dial", "chan": 1, "digits": "1", "mode": "morse"}"#).contains("mode"));
        assert!(err(&st, r#"{"op": "phone.dial", "chan": 1, "digits": "1", "pps": 8}"#).contains("pulse dialling only"));
        assert!(err(&st, r#"{"op": "phone.dial", "chan": 1, "digits": "1", "mode": "pulse", "pps": 40}"#).contains("pps"));
        assert!(err(&st, r#"{"op": "co.ring", "chan": 3, "cadence": [[1, 2, 3]]}"#).contains("pairs"));
        assert!(err(&st, r#"{"op": "co.ring", "chan": 3, "cadence": []}"#).contains("empty"));
        assert!(err(&st, r#"{"op": "co.ring", "chan": 3, "cid": {"nmber": "1"}}"#).contains("no field \"nmber\""));
        assert!(err(&st, r#"{"op": "co.ring", "chan": 3, "cid": {"number": "1", "datetime": "13011200"}}"#).contains("out of range"));
        assert!(err(&st, r#"{"op": "co.ring", "chan": 3, "cid": {"standard": "dtmf", "number": "12ab"}}"#).contains("DTMF"));
        assert!(err(&st, r#"{"op": "audio.play", "chan": 1}"#).contains("exactly one"));
        assert!(err(&st, r#"{"op": "audio.play", "chan": 1, "silence": true, "tone": {"freqs": [400]}}"#).contains("exactly one"));
        assert!(err(&st, r#"{"op": "audio.play", "chan": 1, "tone": {"freqs": [5000]}}"#).contains("below 4000"));
        assert!(err(&st, r#"{"op": "audio.play", "chan": 1, "wav": "/nonexistent/x.wav"}"#).contains("cannot open"));
        assert!(err(&st, r#"{"op": "audio.analyze", "chan": 30}"#).contains("audio.*"));
        // The model is still fine.
        assert!(ok(&st, r#"{"op": "ping"}"#)["now_ms"].is_u64());
    }

    #[test]
    fn mutated_requests_never_break_the_handler() {
        let (st, _) = setup();
        let seeds = [
            r#"{"op": "phone.hook", "chan": 1, "offhook": true}"#,
            r#"{"op": "phone.dial", "chan": 1, "digits": "123", "mode": "pulse"}"#,
            r#"{"op": "co.ring", "chan": 3, "cadence": [[100, 100]], "count": 2, "cid": {"number": "5551234", "format": "sdmf", "datetime": "01020304"}}"#,
            r#"{"op": "audio.play", "chan": 5, "tone": {"freqs": [350, 440], "level_dbm0": -13, "cadence": [[1, 0]]}}"#,
            r#"{"op": "span.alarm", "span": 2, "alarms": ["red", "blue"]}"#,
            r#"{"op": "dchan.send", "span": 2, "hex": "00017f"}"#,
            r#"{"op": "frames.get", "span": 2, "since_ms": 0}"#,
            r#"{"op": "audio.analyze", "chan": 4, "ms": 1}"#,
        ];
        let subst: &[&str] = &["-1", "0", "1e999", "null", "[]", "{}", "\"x\"", "true", "99999999999999999999", "4.5", "[[0,0]]"];
        let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
        let mut rnd = |n: usize| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x % n as u64) as usize
        };
        for round in 0..3000 {
            let seed = seeds[round % seeds.len()];
            let mut req = seed.as_bytes().to_vec();
            match rnd(3) {
                0 => {
                    // Replace a value after some colon with something odd.
                    let colons: Vec<usize> = req.iter().enumerate().filter(|(_, b)| **b == b':').map(|(i, _)| i).collect();
                    let at = colons[rnd(colons.len())] + 1;
                    let end = req[at..].iter().position(|b| *b == b',' || *b == b'}').map_or(req.len(), |p| at + p);
                    req.splice(at..end, subst[rnd(subst.len())].bytes());
                }
                1 => {
                    let i = rnd(req.len());
                    req[i] = rnd(256) as u8;
                }
                _ => {
                    let i = rnd(req.len());
                    req.truncate(i);
                }
            }
            let r = handle_line(&req, &st);
            assert!(r["ok"].is_boolean(), "{r}");
            let e = r["error"].as_str().unwrap_or("");
            assert!(!e.contains("internal error"), "{} -> {e}", String::from_utf8_lossy(&req));
            if round % 50 == 0 {
                tick(&st, 10);
            }
        }
    }

    #[test]
    fn id_is_echoed() {
        let (st, _) = setup();
        let r = call(&st, r#"{"id": "abc", "op": "ping"}"#);
        assert_eq!(r["id"], "abc");
        let r = call(&st, r#"{"id": 7, "op": "nope"}"#);
        assert_eq!(r["id"], 7);
        assert_eq!(r["ok"], false);
    }

    #[test]
    fn phone_hook_reaches_the_channel() {
        let (st, _) = setup();
        ok(&st, r#"{"op": "phone.hook", "chan": 1, "offhook": true}"#);
        tick(&st, 3);
        let c = ok(&st, r#"{"op": "chan.get", "chan": 1}"#);
        assert_eq!(c["rxhooksig"], RXSIG_OFFHOOK);
        assert_eq!(c["kind"], "fxs");
        assert_eq!(ok(&st, r#"{"op": "phone.get", "chan": 1}"#)["offhook"], true);
        // Off-hook now, so dialling is accepted.
        ok(&st, r#"{"op": "phone.dial", "chan": 1, "digits": "123"}"#);
        ok(&st, r#"{"op": "phone.dial", "chan": 1, "digits": "45", "mode": "pulse"}"#);
        ok(&st, r#"{"op": "phone.flash", "chan": 1, "ms": 300}"#);
    }

    #[test]
    fn co_ring_rings() {
        let (st, _) = setup();
        ok(&st, r#"{"op": "co.ring", "chan": 3, "cadence": [[100, 100]], "count": 2, "cid": {"number": "5551234", "name": "ALICE", "datetime": "01020304"}}"#);
        tick(&st, 5);
        let v = ok(&st, r#"{"op": "co.get", "chan": 3}"#);
        assert_eq!(v["ringing"], true, "{v}");
        assert_eq!(v["rings"], 1);
        tick(&st, 100);
        assert_eq!(ok(&st, r#"{"op": "co.get", "chan": 3}"#)["ringing"], false);
        ok(&st, r#"{"op": "co.stop", "chan": 3}"#);
        // Other caller-ID flavours encode.
        ok(&st, r#"{"op": "co.ring", "chan": 4, "cid": {"number": "5551234", "standard": "dtmf", "timing": "before_first_ring_no_reversal"}}"#);
        ok(&st, r#"{"op": "co.ring", "chan": 4, "cid": {"number_absent": "private", "standard": "v23", "format": "etsi", "timing": "before_first_ring"}}"#);
        ok(&st, r#"{"op": "co.ring", "chan": 4, "cid": {"number": "5551234", "datetime": "12312359", "format": "sdmf"}}"#);
        ok(&st, r#"{"op": "co.battery", "chan": 4, "on": false}"#);
        ok(&st, r#"{"op": "co.polarity", "chan": 4, "reversed": true}"#);
        ok(&st, r#"{"op": "co.dial_tone", "chan": 4, "on": false}"#);
        ok(&st, r#"{"op": "co.disconnect", "chan": 4}"#);
        tick(&st, 20);
        let v = ok(&st, r#"{"op": "co.get", "chan": 4}"#);
        assert_eq!(v["battery"], false);
        assert_eq!(v["polarity_reversed"], true);
    }

    #[test]
    fn span_alarm_shows_in_status() {
        let (st, _) = setup();
        let r = ok(&st, r#"{"op": "span.alarm", "span": 2, "alarms": ["red", "los"]}"#);
        assert_eq!(r["alarms"], json!(["red", "los"]));
        let s = ok(&st, r#"{"op": "status"}"#);
        assert_eq!(s["spans"][1]["alarms"], json!(["red", "los"]));
        assert_eq!(s["spans"][1]["far_end"], "external");
        assert_eq!(s["spans"][1]["channels"], json!([5, 28]));
        assert_eq!(s["channels"].as_array().unwrap().len(), 52);
        assert_eq!(s["channels"][2]["kind"], "fxo");
        assert_eq!(s["channels"][4]["kind"], "t1");
        let c = ok(&st, r#"{"op": "chan.get", "chan": 5}"#);
        assert_eq!(c["alarms"], json!(["red", "los"]));
        ok(&st, r#"{"op": "span.alarm", "span": 2, "alarms": []}"#);
        assert_eq!(ok(&st, r#"{"op": "status"}"#)["spans"][1]["alarms"], json!([]));
        ok(&st, r#"{"op": "span.counters", "span": 2, "bpv": 5, "errsec": 1}"#);
        assert_eq!(st.lock().dahdi.spans[1].counters.bpv, 5);
    }

    #[test]
    fn trunk_audio_frames_and_remove() {
        let (st, _) = setup();
        ok(&st, r#"{"op": "trunk.bits", "chan": 5, "bits": 10}"#);
        let t = ok(&st, r#"{"op": "trunk.get", "chan": 5}"#);
        assert_eq!(t["far_bits"], 10);
        ok(&st, r#"{"op": "audio.play", "chan": 5, "tone": {"freqs": [1000], "level_dbm0": -10, "cadence": [[100, 100]]}}"#);
        ok(&st, r#"{"op": "audio.play", "chan": 5, "silence": true}"#);
        ok(&st, r#"{"op": "audio.clear", "chan": 5}"#);
        tick(&st, 50);
        let a = ok(&st, r#"{"op": "audio.analyze", "chan": 5, "ms": 20}"#);
        assert_eq!(a["samples"], 160);
        assert_eq!(a["frequency_hz"], Value::Null);
        ok(&st, r#"{"op": "dchan.send", "span": 2, "hex": "02 01 7f", "bad_fcs": false}"#);
        assert_eq!(st.lock().dahdi.dchan_in.len(), 1);
        assert_eq!(ok(&st, r#"{"op": "frames.get", "span": 2, "since_ms": 0}"#)["frames"], json!([]));
        ok(&st, r#"{"op": "chan.remove", "chan": 6}"#);
        assert!(err(&st, r#"{"op": "chan.remove", "chan": 6}"#).contains("removed"));
        assert_eq!(ok(&st, r#"{"op": "chan.get", "chan": 6}"#)["removed"], true);
    }

    #[test]
    fn analyze_measures_a_tone() {
        let s: Vec<i16> = (0..1600).map(|i| (10_000.0 * (std::f64::consts::TAU * 1004.0 * i as f64 / 8000.0).sin()) as i16).collect();
        let a = analyze(&s);
        let f = a["frequency_hz"].as_f64().unwrap();
        assert!((f - 1004.0).abs() < 2.0, "{a}");
        let l = a["level_dbm0"].as_f64().unwrap();
        // 10000 peak = 3.14 + 20 log10(10000/32767) ≈ -7.17 dBm0.
        assert!((l + 7.17).abs() < 0.2, "{a}");
        let a = analyze(&[0; 800]);
        assert_eq!(a["level_dbm0"], -100.0);
        assert_eq!(a["frequency_hz"], Value::Null);
        assert_eq!(analyze(&[])["samples"], 0);
    }

    #[test]
    fn audio_play_wav_and_save() {
        let (st, _) = setup();
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("in.wav");
        let samples: Vec<i16> = (0..800).map(|i| ((i % 40) * 100) as i16).collect();
        tandem_dsp::wav::write_wav(std::fs::File::create(&p).unwrap(), &samples).unwrap();
        let req = json!({"op": "audio.play", "chan": 3, "wav": p, "repeat": true}).to_string();
        ok(&st, &req);
        std::fs::write(dir.path().join("bad.wav"), b"RIFFxxxx").unwrap();
        let req = json!({"op": "audio.play", "chan": 3, "wav": dir.path().join("bad.wav")}).to_string();
        assert!(err(&st, &req).contains("cannot read WAV"));
        tick(&st, 30);
        let out = dir.path().join("out.wav");
        let req = json!({"op": "audio.save", "chan": 3, "path": out, "ms": 10}).to_string();
        assert_eq!(ok(&st, &req)["samples"], 80);
        let w = tandem_dsp::wav::read_wav(std::fs::File::open(&out).unwrap()).unwrap();
        assert_eq!(w.samples.len(), 80);
    }

    #[test]
    fn connection_refuses_huge_lines_and_survives_garbage() {
        let (st, ext) = setup();
        let dir = tempfile::tempdir().unwrap();
        let ctl = dir.path().join("ctl");
        let state = Arc::new(st);
        let _hooks = serve(ctl.to_str().unwrap(), state.clone(), &ext).unwrap();

        let mut conn = UnixStream::connect(&ctl).unwrap();
        conn.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let mut rd = BufReader::new(conn.try_clone().unwrap());
        let mut line = String::new();
        conn.write_all(b"garbage\n\xff\xfe\n{\"op\":\"ping\",\"id\":3}\n").unwrap();
        for want_ok in [false, false, true] {
            line.clear();
            rd.read_line(&mut line).unwrap();
            let v: Value = serde_json::from_str(&line).unwrap();
            assert_eq!(v["ok"], want_ok, "{line}");
        }

        let big = UnixStream::connect(&ctl).unwrap();
        big.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let mut w = big.try_clone().unwrap();
        let writer = std::thread::spawn(move || {
            let _ = w.write_all(&vec![b' '; MAX_LINE + 100]);
        });
        let mut rd = BufReader::new(big);
        line.clear();
        rd.read_line(&mut line).unwrap();
        assert!(line.contains("longer than"), "{line}");
        line.clear();
        assert_eq!(rd.read_line(&mut line).unwrap(), 0, "connection closed");
        writer.join().unwrap();
    }

    #[test]
    fn external_dchan_socket_round_trip() {
        let (st, ext) = setup();
        assert_eq!(ext.len(), 1);
        let dir = tempfile::tempdir().unwrap();
        let ctl = dir.path().join("ctl");
        let state = Arc::new(st);
        let mut hooks = serve(ctl.to_str().unwrap(), state.clone(), &ext).unwrap();
        assert_eq!(hooks.len(), 1);
        let sock = dir.path().join("ctl.span2");
        assert!(sock.exists());

        let connect = || {
            let fd = socket(AddressFamily::Unix, SockType::SeqPacket, SockFlag::SOCK_CLOEXEC, None).unwrap();
            nix::sys::socket::connect(fd.as_raw_fd(), &UnixAddr::new(&sock).unwrap()).unwrap();
            fd
        };
        let wait = |f: &mut dyn FnMut() -> bool| {
            let t = Instant::now();
            while !f() {
                assert!(t.elapsed() < Duration::from_secs(5), "timed out");
                std::thread::sleep(Duration::from_millis(5));
            }
        };
        let c1 = connect();
        send(c1.as_raw_fd(), &[], MsgFlags::empty()).unwrap();
        send(c1.as_raw_fd(), &[0x02, 0x01, 0x7f], MsgFlags::empty()).unwrap();
        wait(&mut || !state.lock().dahdi.dchan_in.is_empty());
        assert_eq!(state.lock().dahdi.dchan_in[0], (1, vec![0x02, 0x01, 0x7f], true));

        // Host frames go to the client.
        state.lock().dahdi.dchan_out.push((1, vec![0x00, 0x01, 0x7f]));
        wait(&mut || {
            let mut st = state.lock();
            st.dahdi.dchan_out.push((1, vec![0x00, 0x01, 0x7f]));
            hooks[0](&mut st);
            let mut fds = [PollFd::new(c1.as_fd(), PollFlags::POLLIN)];
            nix::poll::poll(&mut fds, PollTimeout::ZERO).unwrap() > 0
        });
        let mut buf = [0u8; 64];
        let n = recv(c1.as_raw_fd(), &mut buf, MsgFlags::empty()).unwrap();
        assert_eq!(&buf[..n], &[0x00, 0x01, 0x7f]);

        // A second client replaces the first, whose connection is closed.
        let c2 = connect();
        wait(&mut || {
            let mut fds = [PollFd::new(c1.as_fd(), PollFlags::POLLIN)];
            nix::poll::poll(&mut fds, PollTimeout::ZERO).unwrap() > 0 && fds[0].revents().is_some_and(|r| r.contains(PollFlags::POLLHUP))
        });
        state.lock().dahdi.dchan_in.clear();
        send(c2.as_raw_fd(), &[0x02, 0x01, 0x01, 0x01], MsgFlags::empty()).unwrap();
        wait(&mut || !state.lock().dahdi.dchan_in.is_empty());
        drop(hooks);
        assert!(!sock.exists(), "socket file removed when the hooks are dropped");
    }
}
