//! The gateway's end-to-end harness: `tandem-sim` with its device files
//! mounted in a scratch directory, the `tandem` daemon pointed at them, and
//! real SIP peers (sipp, kamailio) on loopback addresses.
//!
//! No mount namespace is needed: `tandem` takes its device directory from
//! its config, so the simulator mounts wherever the test likes. Every
//! process is started in its own process group and stopped when its handle
//! drops, so a failing test leaves nothing running.
//!
//! Loopback addresses tell the peers apart, since `tandem` admits SIP
//! requests by source address: `127.0.0.1` is tandem, `127.0.0.10`–`.19`
//! SIP servers (sipp), `127.0.0.20` kamailio, `127.0.0.66` a stranger.

use std::fs;
use std::io::{BufRead, BufReader};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::{repo_path, require_root, workspace_root};

/// A binary of this workspace next to the running test's profile directory
/// (`target/debug/` for `cargo test`), else `<workspace>/target/debug/NAME`.
/// `$TANDEM_BIN_DIR` overrides the directory. Panics with what to build.
pub fn workspace_bin(name: &str) -> PathBuf {
    let mut candidates = Vec::new();
    if let Some(d) = std::env::var_os("TANDEM_BIN_DIR") {
        candidates.push(PathBuf::from(d).join(name));
    }
    if let Some(profile_dir) = std::env::current_exe().ok().and_then(|e| e.parent()?.parent().map(Path::to_path_buf)) {
        candidates.push(profile_dir.join(name));
    }
    candidates.push(workspace_root().join("target/debug").join(name));
    for c in &candidates {
        if c.is_file() {
            return c.clone();
        }
    }
    panic!("{name} not found (looked at {candidates:?}): run `cargo build --workspace` first (scripts/test.sh and .ci/run do)");
}

/// Send `sig` to a child's process group, then wait up to `grace` for it
/// to exit; SIGKILL after that. Returns the exit status.
fn stop_group(child: &mut Child, sig: i32, grace: Duration) -> Option<ExitStatus> {
    if let Ok(Some(st)) = child.try_wait() {
        return Some(st);
    }
    let pgid = child.id() as libc::pid_t;
    // SAFETY: signalling our own child's process group.
    unsafe { libc::kill(-pgid, sig) };
    let deadline = Instant::now() + grace;
    while Instant::now() < deadline {
        if let Ok(Some(st)) = child.try_wait() {
            return Some(st);
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    // SAFETY: as above.
    unsafe { libc::kill(-pgid, libc::SIGKILL) };
    child.wait().ok()
}

/// Poll `pred` every 20 ms until it holds or `timeout` passes.
pub fn wait_until(timeout: Duration, mut pred: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        if pred() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A scratch directory with a running simulator.
pub struct Lab {
    dir: Option<tempfile::TempDir>,
    sim: Option<Child>,
    /// The device directory (tandem's `device_dir`).
    pub dev: PathBuf,
    /// The simulator's control socket.
    pub control: PathBuf,
}

impl Lab {
    /// Start `tandem-sim` with this configuration (TOML text) and wait
    /// until its device files and control socket are there.
    pub fn start(sim_toml: &str) -> Lab {
        require_root();
        let dir = tempfile::Builder::new().prefix("tandem-e2e-").tempdir().expect("tempdir");
        let dev = dir.path().join("dev");
        fs::create_dir(&dev).expect("mkdir dev");
        let cfg = dir.path().join("sim.toml");
        fs::write(&cfg, sim_toml).expect("write sim.toml");
        let control = dir.path().join("sim.sock");
        let log = fs::File::create(dir.path().join("sim.log")).expect("sim.log");
        let mut c = Command::new(crate::tandem_sim());
        c.arg("--config").arg(&cfg).arg("--mount").arg(&dev).arg("--control").arg(&control);
        c.stdin(Stdio::null()).stdout(log.try_clone().expect("dup")).stderr(log).process_group(0);
        let sim = c.spawn().expect("spawn tandem-sim");
        let mut lab = Lab { dir: Some(dir), sim: Some(sim), dev, control };
        let ok = wait_until(Duration::from_secs(15), || lab.control.exists() && lab.dev.join("ctl").exists());
        if !ok {
            let log = lab.read("sim.log");
            if let Some(mut s) = lab.sim.take() {
                stop_group(&mut s, libc::SIGKILL, Duration::from_secs(1));
            }
            panic!("tandem-sim did not come up in 15 s; its log:\n{log}");
        }
        lab
    }

    /// A path in the scratch directory.
    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.as_ref().expect("scratch dir").path().join(name)
    }

    /// A file of the scratch directory as text ("" if absent).
    pub fn read(&self, name: &str) -> String {
        fs::read_to_string(self.path(name)).unwrap_or_default()
    }

    /// The external D-channel socket of the N-th span (configuration order).
    pub fn dchan_socket(&self, n: u32) -> PathBuf {
        PathBuf::from(format!("{}.span{n}", self.control.display()))
    }

    /// A control-socket client.
    pub fn client(&self) -> hw_sim::client::Client {
        hw_sim::client::Client::connect_retry(&self.control, Duration::from_secs(5)).expect("connect to the simulator's control socket")
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        if let Some(mut s) = self.sim.take() {
            stop_group(&mut s, libc::SIGTERM, Duration::from_secs(10));
        }
        // A simulator killed the hard way leaves its mount behind.
        let _ = Command::new("umount").arg("-l").arg(&self.dev).stderr(Stdio::null()).status();
        // Keep the logs, traces and CDRs of a failed test.
        if std::thread::panicking() {
            if let Some(d) = self.dir.take() {
                eprintln!("test failed: its scratch directory is kept at {}", d.keep().display());
            }
        }
    }
}

/// Lines a child wrote, collected by a reader thread, plus a log file copy.
#[derive(Clone, Default)]
pub struct Lines(Arc<Mutex<Vec<String>>>);

impl Lines {
    fn collect(stream: impl std::io::Read + Send + 'static, copy: Option<PathBuf>) -> Lines {
        let lines = Lines::default();
        let l2 = lines.clone();
        std::thread::spawn(move || {
            let mut file = copy.and_then(|p| fs::File::create(p).ok());
            for line in BufReader::new(stream).lines() {
                let Ok(line) = line else { break };
                if let Some(f) = file.as_mut() {
                    use std::io::Write;
                    let _ = writeln!(f, "{line}");
                }
                l2.0.lock().expect("lines").push(line);
            }
        });
        lines
    }

    /// Everything so far.
    pub fn all(&self) -> Vec<String> {
        self.0.lock().expect("lines").clone()
    }

    /// Wait until a line contains `needle`; returns it.
    pub fn wait_for(&self, needle: &str, timeout: Duration) -> Option<String> {
        let mut found = None;
        wait_until(timeout, || {
            found = self.0.lock().expect("lines").iter().find(|l| l.contains(needle)).cloned();
            found.is_some()
        });
        found
    }

    /// How many lines contain `needle`.
    pub fn count(&self, needle: &str) -> usize {
        self.0.lock().expect("lines").iter().filter(|l| l.contains(needle)).count()
    }
}

/// A running `tandem run`.
pub struct Tandem {
    child: Option<Child>,
    /// Its stderr and stdout (logs), line by line.
    pub log: Lines,
    pub config: PathBuf,
}

impl Tandem {
    /// Write `config` (TOML text; `@DEV@` is replaced by the lab's device
    /// directory and `@DIR@` by its scratch directory) to `tandem.toml` and
    /// start `tandem run --config` on it.
    pub fn start(lab: &Lab, config: &str) -> Tandem {
        let text = config.replace("@DEV@", &lab.dev.display().to_string()).replace("@DIR@", &lab.path("").display().to_string());
        let path = lab.path("tandem.toml");
        fs::write(&path, text).expect("write tandem.toml");
        Tandem::spawn(lab, &path, &[], None)
    }

    /// Start `tandem run --config <config>` on a file as it is (an example),
    /// with `args` after it (e.g. `--device-dir`), in the working directory
    /// `cwd` (the test's own if `None`).
    pub fn start_file(lab: &Lab, config: &Path, args: &[&std::ffi::OsStr], cwd: Option<&Path>) -> Tandem {
        Tandem::spawn(lab, config, args, cwd)
    }

    fn spawn(lab: &Lab, path: &Path, args: &[&std::ffi::OsStr], cwd: Option<&Path>) -> Tandem {
        let mut c = Command::new(workspace_bin("tandem"));
        c.arg("run").arg("--config").arg(path).args(args).env("RUST_LOG", std::env::var("TANDEM_TEST_LOG").unwrap_or_else(|_| "info".into()));
        if let Some(d) = cwd {
            c.current_dir(d);
        }
        c.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped()).process_group(0);
        let mut child = c.spawn().expect("spawn tandem run");
        let log = Lines::collect(child.stderr.take().expect("stderr"), Some(lab.path("tandem.log")));
        let out = log.clone();
        let stdout = child.stdout.take().expect("stdout");
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                out.0.lock().expect("lines").push(line);
            }
        });
        Tandem { child: Some(child), log, config: path.to_path_buf() }
    }

    /// Wait for a log line containing `needle`; panics with the log if
    /// it does not come.
    pub fn expect_log(&self, needle: &str, timeout: Duration) -> String {
        match self.log.wait_for(needle, timeout) {
            Some(l) => l,
            None => panic!("tandem never logged {needle:?} in {timeout:?}; its log:\n{}", self.log.all().join("\n")),
        }
    }

    /// Still running?
    pub fn running(&mut self) -> bool {
        matches!(self.child.as_mut().map(|c| c.try_wait()), Some(Ok(None)))
    }

    /// SIGTERM and wait up to `grace` for the exit status.
    pub fn terminate(&mut self, grace: Duration) -> Option<ExitStatus> {
        let mut c = self.child.take()?;
        stop_group(&mut c, libc::SIGTERM, grace)
    }

    /// Send a signal without waiting.
    pub fn signal(&self, sig: i32) {
        if let Some(c) = &self.child {
            // SAFETY: signalling our own child.
            unsafe { libc::kill(c.id() as libc::pid_t, sig) };
        }
    }
}

impl Drop for Tandem {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            stop_group(&mut c, libc::SIGTERM, Duration::from_secs(5));
        }
    }
}

/// A sipp run on one of the scenarios in `tests/sipp/`.
pub struct Sipp {
    child: Option<Child>,
    log_file: PathBuf,
    msg_file: PathBuf,
    name: String,
}

/// The keys every scenario in `tests/sipp/` may use, with harmless defaults
/// (sipp refuses a scenario naming a key it was not given).
pub const SIPP_DEFAULT_KEYS: &[(&str, &str)] = &[
    ("caller", "2125550100"),
    ("from_name", "\"SIPp\""),
    ("codecs", "0 8"),
    ("hdr1", "X-Tandem-Test: 1"),
    ("hdr2", "X-Tandem-Test: 2"),
    ("hdr3", "X-Tandem-Test: 3"),
    ("reason_hdr", "X-Tandem-Test: 4"),
    ("rtp_ip", "127.0.0.15"),
    ("rtp_port", "7400"),
];

/// How a sipp run is set up.
pub struct SippOpts<'a> {
    /// Scenario file name in `tests/sipp/`, or an absolute path.
    pub scenario: &'a str,
    /// Local address and SIP port.
    pub ip: &'a str,
    pub port: u16,
    /// Media port (`-mp`), with RTP echo (`-rtp_echo`) when set.
    pub rtp_echo_port: Option<u16>,
    /// Keys overriding [`SIPP_DEFAULT_KEYS`].
    pub keys: &'a [(&'a str, &'a str)],
    /// `-d` (pause length, ms).
    pub pause_ms: u32,
    /// `-m`: calls to make (UAC) or to take (UAS) before exiting.
    pub calls: u32,
    /// UAC only: `-s` (the called number) and the remote `host:port`.
    pub service: Option<&'a str>,
    pub remote: Option<&'a str>,
    /// `-t`: "u1" (UDP), "t1" (TCP).
    pub transport: &'a str,
    /// Extra arguments (`-r`, `-l`...).
    pub extra: &'a [&'a str],
}

impl Default for SippOpts<'_> {
    fn default() -> Self {
        SippOpts {
            scenario: "uas_answer.xml",
            ip: "127.0.0.10",
            port: 5070,
            rtp_echo_port: None,
            keys: &[],
            pause_ms: 500,
            calls: 1,
            service: None,
            remote: None,
            transport: "u1",
            extra: &[],
        }
    }
}

impl Sipp {
    /// Start sipp in the background with `-trace_logs` and `-trace_msg`
    /// into the lab's directory, as `<name>.log` and `<name>.msg`.
    pub fn start(lab: &Lab, name: &str, o: SippOpts<'_>) -> Sipp {
        let scen = if o.scenario.starts_with('/') { PathBuf::from(o.scenario) } else { repo_path("tests/sipp").join(o.scenario) };
        let log_file = lab.path(&format!("{name}.log"));
        let msg_file = lab.path(&format!("{name}.msg"));
        let mut c = Command::new("sipp");
        c.arg("-sf").arg(&scen).args(["-i", o.ip, "-p", &o.port.to_string(), "-m", &o.calls.to_string(), "-d", &o.pause_ms.to_string()]);
        c.args(["-t", o.transport, "-aa", "-nostdin", "-timeout", "60", "-timeout_error", "-trace_logs", "-trace_msg", "-trace_err"]);
        c.arg("-log_file").arg(&log_file).arg("-message_file").arg(&msg_file).arg("-error_file").arg(lab.path(&format!("{name}.err")));
        let mut keys: Vec<(&str, &str)> = SIPP_DEFAULT_KEYS.to_vec();
        for (k, v) in o.keys {
            keys.retain(|(kk, _)| kk != k);
            keys.push((k, v));
        }
        for (k, v) in keys {
            c.args(["-key", k, v]);
        }
        if let Some(mp) = o.rtp_echo_port {
            c.args(["-mp", &mp.to_string(), "-rtp_echo", "-mi", o.ip]);
        }
        if let Some(s) = o.service {
            c.args(["-s", s]);
        }
        c.args(o.extra);
        if let Some(r) = o.remote {
            c.arg(r);
        }
        let out = fs::File::create(lab.path(&format!("{name}.out"))).expect("sipp out");
        c.stdin(Stdio::null()).stdout(out.try_clone().expect("dup")).stderr(out).process_group(0);
        let child = c.spawn().expect("spawn sipp (setup.sh installs sip-tester)");
        Sipp { child: Some(child), log_file, msg_file, name: name.to_owned() }
    }

    /// Wait for sipp to exit (at most `timeout`); returns whether every
    /// call succeeded (exit status 0).
    pub fn wait(&mut self, timeout: Duration) -> bool {
        let Some(c) = self.child.as_mut() else { return false };
        let deadline = Instant::now() + timeout;
        loop {
            if let Ok(Some(st)) = c.try_wait() {
                self.child = None;
                return st.success();
            }
            if Instant::now() >= deadline {
                let mut c = self.child.take().expect("child");
                stop_group(&mut c, libc::SIGKILL, Duration::from_secs(1));
                return false;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Wait, and panic with sipp's logs unless it succeeded.
    pub fn expect_success(&mut self, timeout: Duration) {
        if !self.wait(timeout) {
            panic!("sipp {} failed\n--- log ---\n{}\n--- messages ---\n{}", self.name, self.log(), self.messages());
        }
    }

    /// The scenario's `<log>` lines.
    pub fn log(&self) -> String {
        fs::read_to_string(&self.log_file).unwrap_or_default()
    }

    /// Every message sent and received (`-trace_msg`).
    pub fn messages(&self) -> String {
        fs::read_to_string(&self.msg_file).unwrap_or_default()
    }

    /// The received messages whose first line starts with `start` (e.g.
    /// `"INVITE "` or `"SIP/2.0 200"`), each as its full text.
    pub fn received(&self, start: &str) -> Vec<String> {
        let text = self.messages();
        let mut out = Vec::new();
        // sipp writes "----- ... message received [N] bytes :" headers.
        for block in text.split("----------------------------------------------- ") {
            let Some(idx) = block.find("received") else { continue };
            let body = &block[idx..];
            let Some(nl) = body.find("\n\n") else { continue };
            let msg = body[nl + 2..].trim_start();
            if msg.starts_with(start) {
                out.push(msg.to_owned());
            }
        }
        out
    }
}

impl Drop for Sipp {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            stop_group(&mut c, libc::SIGTERM, Duration::from_secs(2));
        }
    }
}

/// A kamailio registrar/proxy on `127.0.0.20:5090` (tests/kamailio/kamailio.cfg).
pub struct Kamailio {
    child: Option<Child>,
    pub log: Lines,
}

impl Kamailio {
    /// Start kamailio: digest user `tandem`/`s3cret`; requests from the
    /// gateway at `tandem` ("ip:port") go to the SIP server at `uas`.
    pub fn start(lab: &Lab, tandem: (&str, u16), uas: (&str, u16)) -> Kamailio {
        let run = lab.path("kamailio");
        fs::create_dir_all(&run).expect("kamailio run dir");
        let mut c = Command::new("kamailio");
        c.arg("-f").arg(repo_path("tests/kamailio/kamailio.cfg")).args(["-DD", "-E", "-Y"]).arg(&run);
        c.args(["-A", "LISTEN_IP=\"127.0.0.20\"", "-A", "LISTEN_PORT=5090"]);
        c.args(["-A", &format!("TANDEM_IP=\"{}\"", tandem.0), "-A", &format!("TANDEM_PORT={}", tandem.1)]);
        c.args(["-A", &format!("UAS_IP=\"{}\"", uas.0), "-A", &format!("UAS_PORT={}", uas.1)]);
        c.args(["-A", "AUTH_USER=\"tandem\"", "-A", "AUTH_PASS=\"s3cret\""]);
        c.stdin(Stdio::null()).stdout(Stdio::null()).stderr(Stdio::piped()).process_group(0);
        let mut child = c.spawn().expect("spawn kamailio (setup.sh installs it)");
        let log = Lines::collect(child.stderr.take().expect("stderr"), Some(lab.path("kamailio.log")));
        let k = Kamailio { child: Some(child), log };
        assert!(k.log.wait_for("INFO: <core>", Duration::from_secs(10)).is_some(), "kamailio did not start:\n{}", k.log.all().join("\n"));
        k
    }

    /// Start kamailio on another config file with these `-A NAME=VALUE`
    /// defines (a string value carries its own double quotes), in the
    /// lab's `kamailio` run dir, logging to `kamailio.log`.
    pub fn start_with(lab: &Lab, cfg: &Path, defines: &[(&str, &str)]) -> Kamailio {
        let run = lab.path("kamailio");
        fs::create_dir_all(&run).expect("kamailio run dir");
        let mut c = Command::new("kamailio");
        c.arg("-f").arg(cfg).args(["-DD", "-E", "-Y"]).arg(&run);
        for (name, value) in defines {
            c.arg("-A").arg(format!("{name}={value}"));
        }
        c.stdin(Stdio::null()).stdout(Stdio::null()).stderr(Stdio::piped()).process_group(0);
        let mut child = c.spawn().expect("spawn kamailio (setup.sh installs it)");
        let log = Lines::collect(child.stderr.take().expect("stderr"), Some(lab.path("kamailio.log")));
        let k = Kamailio { child: Some(child), log };
        assert!(k.log.wait_for("INFO: <core>", Duration::from_secs(10)).is_some(), "kamailio did not start:\n{}", k.log.all().join("\n"));
        k
    }
}

impl Drop for Kamailio {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            stop_group(&mut c, libc::SIGTERM, Duration::from_secs(5));
        }
    }
}

/// The CDR lines the daemon wrote to the lab's `cdr.jsonl`, waiting up to
/// `timeout` for at least `n` of them.
pub fn cdrs(lab: &Lab, n: usize, timeout: Duration) -> Vec<serde_json::Value> {
    let mut out = Vec::new();
    wait_until(timeout, || {
        out = lab.read("cdr.jsonl").lines().filter(|l| !l.trim().is_empty()).map(|l| serde_json::from_str(l).expect("CDR line is JSON")).collect();
        out.len() >= n
    });
    out
}

/// A header's value in a SIP message's text ("" if absent).
pub fn header<'a>(msg: &'a str, name: &str) -> &'a str {
    msg.lines()
        .find_map(|l| {
            let (n, v) = l.split_once(':')?;
            n.trim().eq_ignore_ascii_case(name).then(|| v.trim())
        })
        .unwrap_or("")
}

/// Start the carrier's switch (q931-peer on the network side of the lab's
/// first external D-channel, `--switch switch` plus `extra` arguments) and
/// `tandem run` on `config`, and wait until the D-channel is up on both
/// ends.
pub fn start_pri(lab: &Lab, config: &str, switch: &str, extra: &[&str]) -> (crate::q931peer::Q931Peer, Tandem) {
    let sock = lab.dchan_socket(1);
    let sock = sock.to_str().expect("utf-8 path");
    let mut args = vec!["--role", "network", "--switch", switch, "--connect", sock];
    args.extend_from_slice(extra);
    let mut peer = crate::q931peer::Q931Peer::spawn_named("switch", &args);
    let tandem = Tandem::start(lab, config);
    peer.wait_for("link_up", Duration::from_secs(15));
    tandem.expect_log("tandem running", Duration::from_secs(10));
    (peer, tandem)
}
