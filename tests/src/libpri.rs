//! libpri-peer: a Q.931 peer built on Debian's libpri 1.6, for interop tests
//! of Tandem's own Q.921/Q.931 stack (`isdn-q931`).
//!
//! The peer is a small C program, `tests/libpri-peer/libpri-peer.c`, built at
//! test time by [`build_libpri_peer`] (needs `cc` and libpri-dev: run
//! `scripts/setup.sh`). It speaks LAPD over a Unix `SOCK_SEQPACKET` socket,
//! one frame per packet (address, control, information; no flags, no FCS),
//! takes commands on stdin and prints one JSON event per line on stdout.
//! [`LibpriPeer`] runs one and reads its events. The command language and
//! the events are documented in `tests/libpri-peer/README.md`.
//!
//! ```no_run
//! use std::time::Duration;
//! use tandem_tests::libpri::spawn_pair;
//!
//! let t = Duration::from_secs(5);
//! let (mut net, mut user) = spawn_pair("ni2", &[], &[]);
//! user.send_line("call 5551234 2000 name Alice");
//! let ring = net.wait_for("ring", t);
//! assert_eq!(ring["calling_name"], "Alice");
//! ```

use std::collections::VecDeque;
use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::{repo_path, workspace_root};

/// The C source of the peer.
pub fn libpri_peer_source() -> PathBuf {
    repo_path("tests/libpri-peer/libpri-peer.c")
}

/// Cargo's target directory: `$CARGO_TARGET_DIR` if set (relative to the
/// workspace root), else the one holding the running test binary
/// (`<target>/<profile>/deps/<test>`), else `<workspace>/target`.
pub fn cargo_target_dir() -> PathBuf {
    if let Some(d) = std::env::var_os("CARGO_TARGET_DIR") {
        let d = PathBuf::from(d);
        return if d.is_absolute() { d } else { workspace_root().join(d) };
    }
    let from_exe = std::env::current_exe().ok().and_then(|exe| {
        let deps = exe.parent()?;
        let is_deps = deps.file_name().is_some_and(|n| n == "deps");
        is_deps.then(|| deps.parent()?.parent().map(Path::to_path_buf))?
    });
    if let Some(target) = from_exe {
        return target;
    }
    workspace_root().join("target")
}

/// Compile `libpri-peer.c` (once per process, and only when the source is
/// newer than the binary) into `<target>/libpri-peer/libpri-peer` and return
/// the binary's path. Panics with what to do if the compiler or libpri-dev
/// is missing.
pub fn build_libpri_peer() -> PathBuf {
    static BUILT: OnceLock<PathBuf> = OnceLock::new();
    BUILT.get_or_init(build_uncached).clone()
}

fn mtime(p: &Path) -> Option<std::time::SystemTime> {
    std::fs::metadata(p).and_then(|m| m.modified()).ok()
}

fn build_uncached() -> PathBuf {
    let src = libpri_peer_source();
    assert!(src.is_file(), "{} is missing", src.display());
    let out_dir = cargo_target_dir().join("libpri-peer");
    let bin = out_dir.join("libpri-peer");
    let up_to_date = matches!((mtime(&bin), mtime(&src)), (Some(b), Some(s)) if b >= s);
    if up_to_date {
        return bin;
    }
    std::fs::create_dir_all(&out_dir).unwrap_or_else(|e| panic!("create {}: {e}", out_dir.display()));
    // Build beside the final name and rename, so that a concurrent build or
    // run never sees half a binary.
    let tmp = out_dir.join(format!("libpri-peer.tmp.{}", std::process::id()));
    let out = Command::new("cc")
        .args(["-O1", "-Wall", "-Werror", "-o"])
        .arg(&tmp)
        .arg(&src)
        .arg("-lpri")
        .output()
        .unwrap_or_else(|e| panic!("cannot run the C compiler `cc` ({e}): run scripts/setup.sh (build-essential)"));
    if !out.status.success() {
        let _ = std::fs::remove_file(&tmp);
        let stderr = String::from_utf8_lossy(&out.stderr);
        if stderr.contains("libpri.h") || stderr.contains("-lpri") {
            panic!("libpri-dev is missing (cannot build tests/libpri-peer): run scripts/setup.sh\n{stderr}");
        }
        panic!("building {} failed ({}):\n{stderr}", src.display(), out.status);
    }
    std::fs::rename(&tmp, &bin).unwrap_or_else(|e| panic!("rename {} -> {}: {e}", tmp.display(), bin.display()));
    bin
}

/// A fresh socket path for a peer to `--listen` on: in the temporary
/// directory, unique within this machine's processes.
pub fn socket_path(tag: &str) -> PathBuf {
    static N: AtomicUsize = AtomicUsize::new(0);
    let n = N.fetch_add(1, Ordering::Relaxed);
    std::env::temp_dir().join(format!("libpri-peer-{}-{n}-{tag}.sock", std::process::id()))
}

/// What the stdout reader thread passes on.
enum Out {
    Event(Value),
    Eof,
}

/// How much of a peer's stderr (libpri's diagnostics) is kept.
const STDERR_KEEP: usize = 256 * 1024;

/// A running libpri-peer. Dropping it sends `quit`, and kills the process if
/// it has not exited 3 s later.
pub struct LibpriPeer {
    name: String,
    args: Vec<String>,
    child: Child,
    stdin: Option<ChildStdin>,
    rx: Receiver<Out>,
    /// Events read by `next_event` that a `wait_for` skipped, oldest first.
    history: Vec<Value>,
    /// Lines sent with `send_line`, for failure messages.
    sent: Vec<String>,
    stderr: Arc<Mutex<VecDeque<u8>>>,
    eof: bool,
    status: Option<ExitStatus>,
    /// The `--listen` path, removed once the process is gone (the peer
    /// removes it itself unless killed).
    listen_path: Option<PathBuf>,
}

impl LibpriPeer {
    /// Start `libpri-peer ARGS...` (building it first if needed).
    pub fn spawn(args: &[&str]) -> LibpriPeer {
        Self::spawn_named("libpri-peer", args)
    }

    /// As [`spawn`](Self::spawn), with a name used in failure messages and
    /// traces (e.g. "network", "user").
    pub fn spawn_named(name: &str, args: &[&str]) -> LibpriPeer {
        Self::spawn_program(&build_libpri_peer(), name, args)
    }

    /// As [`spawn_named`](Self::spawn_named), for another program that
    /// speaks the same way (commands on stdin, one JSON event per line on
    /// stdout), such as `q931-peer` ([`crate::q931peer`]).
    pub fn spawn_program(bin: &Path, name: &str, args: &[&str]) -> LibpriPeer {
        let mut child = Command::new(bin)
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("spawn {} {args:?}: {e}", bin.display()));
        let stdout = child.stdout.take().expect("piped stdout");
        let mut stderr_pipe = child.stderr.take().expect("piped stderr");
        let stdin = child.stdin.take();
        let trace = std::env::var_os("LIBPRI_PEER_TRACE").is_some();

        let (tx, rx) = mpsc::channel();
        let tname = name.to_string();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if trace {
                    eprintln!("[{tname}] {line}");
                }
                let v = serde_json::from_str::<Value>(&line)
                    .unwrap_or_else(|e| serde_json::json!({"event": "garbage", "line": line, "parse_error": e.to_string()}));
                if tx.send(Out::Event(v)).is_err() {
                    return;
                }
            }
            let _ = tx.send(Out::Eof);
        });

        let stderr = Arc::new(Mutex::new(VecDeque::new()));
        let sbuf = Arc::clone(&stderr);
        let tname = name.to_string();
        std::thread::spawn(move || {
            let mut chunk = [0u8; 4096];
            loop {
                match stderr_pipe.read(&mut chunk) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => {
                        if trace {
                            eprint!("[{tname} stderr] {}", String::from_utf8_lossy(&chunk[..n]));
                        }
                        let mut b = sbuf.lock().unwrap_or_else(|p| p.into_inner());
                        b.extend(&chunk[..n]);
                        let excess = b.len().saturating_sub(STDERR_KEEP);
                        b.drain(..excess);
                    }
                }
            }
        });

        let listen_path = args.windows(2).find(|w| w[0] == "--listen").map(|w| PathBuf::from(w[1]));
        LibpriPeer {
            listen_path,
            name: name.to_string(),
            args: args.iter().map(|s| s.to_string()).collect(),
            child,
            stdin,
            rx,
            history: Vec::new(),
            sent: Vec::new(),
            stderr,
            eof: false,
            status: None,
        }
    }

    /// The name given at spawn.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Send one command line (the newline is added). Panics if the peer's
    /// stdin is closed.
    pub fn send_line(&mut self, cmd: &str) {
        self.sent.push(cmd.to_string());
        let ok = match self.stdin.as_mut() {
            Some(w) => writeln!(w, "{cmd}").and_then(|_| w.flush()).is_ok(),
            None => false,
        };
        if !ok {
            panic!("{}: cannot send {cmd:?}: stdin closed\n{}", self.name, self.context());
        }
    }

    /// The next event, waiting at most `timeout`; `None` on timeout or once
    /// the peer's stdout has ended.
    pub fn next_event(&mut self, timeout: Duration) -> Option<Value> {
        if self.eof {
            return None;
        }
        match self.rx.recv_timeout(timeout) {
            Ok(Out::Event(v)) => {
                self.history.push(v.clone());
                Some(v)
            }
            Ok(Out::Eof) | Err(RecvTimeoutError::Disconnected) => {
                self.eof = true;
                None
            }
            Err(RecvTimeoutError::Timeout) => None,
        }
    }

    /// Skip events until one named `event` arrives, and return it; `None` if
    /// none came within `timeout` or the peer exited.
    pub fn try_wait_for(&mut self, event: &str, timeout: Duration) -> Option<Value> {
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let v = self.next_event(left)?;
            if v["event"] == event {
                return Some(v);
            }
            if left.is_zero() {
                return None;
            }
        }
    }

    /// As [`try_wait_for`](Self::try_wait_for), but panics (with the peer's
    /// events, commands and stderr) if the event does not come.
    pub fn wait_for(&mut self, event: &str, timeout: Duration) -> Value {
        let before = self.history.len();
        match self.try_wait_for(event, timeout) {
            Some(v) => v,
            None => panic!(
                "{}: no {event:?} event within {timeout:?}{}; skipped meanwhile: {}\n{}",
                self.name,
                if self.eof { " (peer exited)" } else { "" },
                events_text(&self.history[before..]),
                self.context()
            ),
        }
    }

    /// Panic if an event named `event` arrives within `within`; returns the
    /// events that did arrive.
    pub fn expect_no(&mut self, event: &str, within: Duration) -> Vec<Value> {
        let deadline = Instant::now() + within;
        let mut got = Vec::new();
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return got;
            }
            match self.next_event(left) {
                Some(v) if v["event"] == event => {
                    panic!("{}: unexpected {event:?} event: {v}\n{}", self.name, self.context())
                }
                Some(v) => got.push(v),
                None if self.eof => return got,
                None => {}
            }
        }
    }

    /// Every event read so far, oldest first.
    pub fn events(&self) -> &[Value] {
        &self.history
    }

    /// What the peer wrote on stderr so far (the last 256 KiB): libpri's
    /// messages, and its protocol trace with `--debug`.
    pub fn stderr_text(&self) -> String {
        let b = self.stderr.lock().unwrap_or_else(|p| p.into_inner());
        let (a, c) = b.as_slices();
        let mut v = a.to_vec();
        v.extend_from_slice(c);
        String::from_utf8_lossy(&v).into_owned()
    }

    /// Send `quit`, close stdin, read the remaining events and wait for the
    /// exit (killing the peer after `timeout`). Returns the exit status.
    pub fn quit(&mut self, timeout: Duration) -> ExitStatus {
        if let Some(st) = self.status {
            return st;
        }
        if let Some(mut w) = self.stdin.take() {
            let _ = writeln!(w, "quit").and_then(|_| w.flush());
        }
        let deadline = Instant::now() + timeout;
        while !self.eof && Instant::now() < deadline {
            self.next_event(deadline.saturating_duration_since(Instant::now()));
        }
        let st = self.wait_or_kill(deadline);
        self.status = Some(st);
        st
    }

    /// The exit status if the process has exited (without waiting).
    pub fn try_status(&mut self) -> Option<ExitStatus> {
        if self.status.is_none() {
            self.status = self.child.try_wait().ok().flatten();
        }
        self.status
    }

    fn wait_or_kill(&mut self, deadline: Instant) -> ExitStatus {
        let st = loop {
            if let Ok(Some(st)) = self.child.try_wait() {
                break st;
            }
            if Instant::now() >= deadline {
                let _ = self.child.kill();
                break self.child.wait().expect("wait for killed libpri-peer");
            }
            std::thread::sleep(Duration::from_millis(10));
        };
        if let Some(p) = self.listen_path.take() {
            let _ = std::fs::remove_file(p);
        }
        st
    }

    /// Arguments, commands sent, events and stderr, for failure messages.
    pub fn context(&self) -> String {
        format!(
            "--- {} args: {:?}\n--- commands sent: {:?}\n--- events: {}\n--- stderr (tail) ---\n{}",
            self.name,
            self.args,
            self.sent,
            events_text(&self.history),
            tail(&self.stderr_text(), 6000)
        )
    }
}

impl Drop for LibpriPeer {
    fn drop(&mut self) {
        if self.status.is_some() {
            return;
        }
        if let Some(mut w) = self.stdin.take() {
            let _ = writeln!(w, "quit").and_then(|_| w.flush());
        }
        let _ = self.wait_or_kill(Instant::now() + Duration::from_secs(3));
    }
}

fn events_text(evs: &[Value]) -> String {
    if evs.is_empty() {
        return "(none)".into();
    }
    let mut s = String::new();
    for e in evs {
        s.push_str("\n    ");
        s.push_str(&e.to_string());
    }
    s
}

fn tail(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut i = s.len() - max;
    while !s.is_char_boundary(i) {
        i += 1;
    }
    &s[i..]
}

/// Two libpri-peers back to back on `switch`: the network side listens on a
/// fresh socket path, the user side connects. Extra arguments go to each
/// side. Returns once both report `dchan_up`.
pub fn spawn_pair(switch: &str, network_extra: &[&str], user_extra: &[&str]) -> (LibpriPeer, LibpriPeer) {
    let t = Duration::from_secs(10);
    let path = socket_path(switch);
    let path_s = path.to_str().expect("UTF-8 temp path").to_string();
    let mut args = vec!["--role", "network", "--switch", switch, "--listen", &path_s];
    args.extend_from_slice(network_extra);
    let mut net = LibpriPeer::spawn_named(&format!("network/{switch}"), &args);
    net.wait_for("listening", t);
    let mut args = vec!["--role", "user", "--switch", switch, "--connect", &path_s];
    args.extend_from_slice(user_extra);
    let mut user = LibpriPeer::spawn_named(&format!("user/{switch}"), &args);
    net.wait_for("dchan_up", t);
    user.wait_for("dchan_up", t);
    (net, user)
}
