//! End-to-end tests that run tandem-sim (and later tandem and real SIP peers)
//! together. The tests live in `tests/tests/`; this library holds the shared
//! harness: finding the simulator binary and running a command next to it in
//! a private mount namespace through `scripts/sim-ns.sh`.
//!
//! The tests need root (FUSE and mount namespaces) and a built simulator:
//! `cargo build -p hw-sim` first (`scripts/test.sh` and `.ci/run` do).
//!
//! [`libpri`] builds and runs `libpri-peer`, a libpri-based Q.931 peer for
//! the ISDN interop tests (needs libpri-dev, not root). [`q931peer`] runs
//! `q931-peer`, the command-line peer on Tandem's own stack, and relays the
//! D-channel between two peers (`tests/interop_q931_libpri.rs`). [`rigs`]
//! holds the set-ups the gateway's end-to-end files share.

pub mod gateway;
pub mod libpri;
pub mod q931peer;
pub mod rigs;

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

/// The workspace root (the parent of this crate's folder).
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("tests/ has a parent").to_path_buf()
}

/// A file under the workspace root, e.g. `repo_path("examples/sim/basic.toml")`.
pub fn repo_path(rel: &str) -> PathBuf {
    workspace_root().join(rel)
}

/// The tandem-sim binary: `$TANDEM_SIM`, else `tandem-sim` next to the
/// running test's profile directory (`target/debug/` for `cargo test`),
/// else `<workspace>/target/debug/tandem-sim`. Panics with what to do if
/// none exists.
pub fn tandem_sim() -> PathBuf {
    if let Some(p) = std::env::var_os("TANDEM_SIM") {
        let p = PathBuf::from(p);
        assert!(p.is_file(), "TANDEM_SIM={} does not exist", p.display());
        return p;
    }
    let mut candidates = Vec::new();
    // target/<profile>/deps/<test binary> -> target/<profile>/tandem-sim
    if let Some(profile_dir) = std::env::current_exe().ok().and_then(|e| e.parent()?.parent().map(Path::to_path_buf)) {
        candidates.push(profile_dir.join("tandem-sim"));
    }
    candidates.push(workspace_root().join("target/debug/tandem-sim"));
    for c in &candidates {
        if c.is_file() {
            return c.clone();
        }
    }
    panic!(
        "tandem-sim binary not found (looked at {}): run `cargo build -p hw-sim` first \
         (scripts/test.sh and .ci/run do), or set TANDEM_SIM",
        candidates.iter().map(|c| c.display().to_string()).collect::<Vec<_>>().join(", ")
    );
}

/// Panic unless running as root: FUSE mounts and mount namespaces need it.
pub fn require_root() {
    // SAFETY: geteuid has no preconditions.
    let euid = unsafe { libc::geteuid() };
    assert_eq!(euid, 0, "these tests mount FUSE in a private mount namespace and must run as root");
}

/// What a command run under the simulator produced.
#[derive(Debug)]
pub struct NsOutput {
    pub status: ExitStatus,
    pub stdout: String,
    pub stderr: String,
}

impl NsOutput {
    /// Panic with the whole output unless the command exited 0.
    pub fn assert_success(&self, what: &str) -> &Self {
        assert!(self.status.success(), "{what} failed: {}\n--- stdout ---\n{}\n--- stderr ---\n{}", self.status, self.stdout, self.stderr);
        self
    }
}

/// Run `cmd` under `scripts/sim-ns.sh <sim_toml> -- cmd...` with extra
/// environment variables, killing it after `timeout`. The simulator's
/// control socket path is in `$SIM_CONTROL` inside the command.
pub fn sim_ns(sim_toml: &Path, cmd: &[&str], envs: &[(&str, &str)], timeout: Duration) -> NsOutput {
    require_root();
    let sim = tandem_sim();
    let mut c = Command::new("bash");
    c.arg(repo_path("scripts/sim-ns.sh"))
        .arg(sim_toml)
        .arg("--")
        .args(cmd)
        .current_dir(workspace_root())
        .env("TANDEM_SIM", &sim)
        .env("SIM_NS_TIMEOUT", timeout.as_secs().max(1).to_string())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (k, v) in envs {
        c.env(k, v);
    }
    // Own process group, so that a hung run can be stopped as a whole.
    std::os::unix::process::CommandExt::process_group(&mut c, 0);
    let mut child = c.spawn().expect("spawn bash scripts/sim-ns.sh");
    let mut out = child.stdout.take().expect("piped stdout");
    let mut err = child.stderr.take().expect("piped stderr");
    let out_t = std::thread::spawn(move || {
        let mut s = Vec::new();
        let _ = out.read_to_end(&mut s);
        s
    });
    let err_t = std::thread::spawn(move || {
        let mut s = Vec::new();
        let _ = err.read_to_end(&mut s);
        s
    });
    // sim-ns.sh bounds the command itself; this is the backstop for the
    // harness (simulator start and stop take at most ~25 s more).
    let deadline = Instant::now() + timeout + Duration::from_secs(30);
    let pgid = child.id() as libc::pid_t;
    let mut signalled = None;
    let status = loop {
        if let Some(st) = child.try_wait().expect("wait for sim-ns.sh") {
            break st;
        }
        let now = Instant::now();
        match signalled {
            None if now >= deadline => {
                // SAFETY: signalling our own child's process group.
                unsafe { libc::kill(-pgid, libc::SIGTERM) };
                signalled = Some(now);
            }
            Some(t) if now >= t + Duration::from_secs(10) => {
                // SAFETY: as above.
                unsafe { libc::kill(-pgid, libc::SIGKILL) };
            }
            _ => {}
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let stdout = String::from_utf8_lossy(&out_t.join().unwrap_or_default()).into_owned();
    let stderr = String::from_utf8_lossy(&err_t.join().unwrap_or_default()).into_owned();
    if signalled.is_some() {
        panic!("sim-ns.sh {} -- {cmd:?} did not finish in time and was killed\n--- stdout ---\n{stdout}\n--- stderr ---\n{stderr}", sim_toml.display());
    }
    NsOutput { status, stdout, stderr }
}

/// Split output into sections introduced by marker lines `@@name`:
/// returns `(name, text)` pairs in order. Text before the first marker is
/// under the name `""`.
pub fn sections(text: &str) -> Vec<(String, String)> {
    let mut out = vec![(String::new(), String::new())];
    for line in text.lines() {
        if let Some(name) = line.strip_prefix("@@") {
            out.push((name.trim().to_string(), String::new()));
        } else {
            let cur = &mut out.last_mut().expect("non-empty").1;
            cur.push_str(line);
            cur.push('\n');
        }
    }
    out
}

/// The text of the section named `name` (see [`sections`]); panics if absent.
pub fn section<'a>(secs: &'a [(String, String)], name: &str) -> &'a str {
    secs.iter()
        .find(|(n, _)| n == name)
        .map(|(_, t)| t.as_str())
        .unwrap_or_else(|| panic!("no @@{name} section in output; sections: {:?}", secs.iter().map(|s| &s.0).collect::<Vec<_>>()))
}
