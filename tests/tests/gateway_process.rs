//! The daemon as a process: systemd's notification protocol (READY,
//! RELOADING, STOPPING, WATCHDOG over `$NOTIFY_SOCKET`) and realtime
//! scheduling (`[process] realtime`, `--realtime`), checked from outside
//! as systemd and `ps` would see them.
//!
//! Each test runs `tandem run` on examples/gateway/analog.toml over the
//! simulator's TDM410P (four analog ports, so four signalling threads).
//! Addresses (loopback, unique to this file): tandem `127.0.0.70:5060`,
//! the PBX trunk and the OPTIONS probe `127.0.0.71`. The tests share them,
//! so they run one at a time.

use std::fs::File;
use std::io::Read;
use std::net::UdpSocket;
use std::os::unix::net::{UnixDatagram, UnixStream};
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tandem_tests::gateway::{Lab, wait_until, workspace_bin};
use tandem_tests::rigs::{PriRig, PriSipConfig, control, example, example_config, pri_sim};

static SERIAL: Mutex<()> = Mutex::new(());

const T: Duration = Duration::from_secs(10);

/// examples/gateway/analog.toml on this file's addresses, with `extra` appended.
fn config(extra: &str) -> String {
    let base = example_config(
        "analog.toml",
        &[
            ("0.0.0.0:5060", "127.0.0.70:5060"),
            ("rtp_ip = \"192.0.2.10\"", "rtp_ip = \"127.0.0.70\""),
            ("pbx.example.com:5060", "127.0.0.71:5070"),
            ("192.0.2.0/24", "127.0.0.71/32"),
            ("options_interval_s = 30", "options_interval_s = 0"),
        ],
    );
    format!("{base}\n{extra}")
}

/// `tandem run` started by hand, with an environment of the test's choosing.
struct Daemon {
    child: Option<Child>,
    log: std::path::PathBuf,
}

impl Daemon {
    /// Writes `config` into the lab and runs `tandem run --config` on it with `args` and `env`.
    fn start(lab: &Lab, config: &str, args: &[&str], env: &[(&str, String)]) -> Daemon {
        let text = config.replace("@DEV@", &lab.dev.display().to_string()).replace("@DIR@", &lab.path("").display().to_string());
        let path = lab.path("tandem.toml");
        std::fs::write(&path, text).expect("write tandem.toml");
        let log = lab.path("tandem.log");
        let out = File::create(&log).expect("log file");
        let mut c = Command::new(workspace_bin("tandem"));
        c.arg("run").arg("--config").arg(&path).args(args).env("RUST_LOG", "info").env_remove("NOTIFY_SOCKET").env_remove("WATCHDOG_USEC");
        for (k, v) in env {
            c.env(k, v);
        }
        c.stdin(Stdio::null()).stdout(out.try_clone().expect("log")).stderr(out).process_group(0);
        Daemon { child: Some(c.spawn().expect("spawn tandem run")), log }
    }

    fn pid(&self) -> u32 {
        self.child.as_ref().expect("running").id()
    }

    fn signal(&self, sig: i32) {
        // SAFETY: signalling our own child.
        unsafe { libc::kill(self.pid() as libc::pid_t, sig) };
    }

    fn log(&self) -> String {
        let mut s = String::new();
        let _ = File::open(&self.log).and_then(|mut f| f.read_to_string(&mut s));
        s
    }

    /// Waits until the control socket answers `status`; panics with the log if it does not.
    fn wait_up(&self, lab: &Lab) {
        let sock = lab.path("tandem.sock");
        assert!(wait_until(T, || UnixStream::connect(&sock).is_ok()), "the control socket never came up; log:\n{}", self.log());
    }

    /// Waits up to `within` for the exit status.
    fn wait_exit(&mut self, within: Duration) -> Option<ExitStatus> {
        let c = self.child.as_mut()?;
        let until = Instant::now() + within;
        while Instant::now() < until {
            if let Ok(Some(st)) = c.try_wait() {
                self.child = None;
                return Some(st);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        None
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            // SAFETY: signalling our own child.
            unsafe { libc::kill(c.id() as libc::pid_t, libc::SIGTERM) };
            let until = Instant::now() + Duration::from_secs(5);
            while Instant::now() < until && !matches!(c.try_wait(), Ok(Some(_))) {
                std::thread::sleep(Duration::from_millis(50));
            }
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// What a systemd would receive on its notification socket, datagram by datagram.
struct NotifySocket {
    msgs: Arc<Mutex<Vec<String>>>,
    stop: Arc<AtomicBool>,
}

impl NotifySocket {
    fn bind(path: &Path) -> NotifySocket {
        let sock = UnixDatagram::bind(path).expect("bind the notification socket");
        sock.set_read_timeout(Some(Duration::from_millis(100))).expect("timeout");
        let msgs = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let (m, s) = (msgs.clone(), stop.clone());
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while !s.load(Ordering::Relaxed) {
                if let Ok(n) = sock.recv(&mut buf) {
                    m.lock().expect("msgs").push(String::from_utf8_lossy(&buf[..n]).into_owned());
                }
            }
        });
        NotifySocket { msgs, stop }
    }

    fn all(&self) -> Vec<String> {
        self.msgs.lock().expect("msgs").clone()
    }

    /// Waits for a datagram after the first `from` that has the line `line`; its index.
    fn wait_line(&self, from: usize, line: &str) -> Option<usize> {
        let mut at = None;
        wait_until(T, || {
            at = self.all().iter().enumerate().skip(from).find(|(_, m)| m.lines().any(|l| l == line)).map(|(i, _)| i);
            at.is_some()
        });
        at
    }
}

impl Drop for NotifySocket {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

/// Sends one OPTIONS (no retransmission) to tandem's SIP port from the
/// PBX's address and returns the status line of the answer, if one comes.
fn options_answer() -> Option<String> {
    let sock = UdpSocket::bind("127.0.0.71:0").expect("bind the probe");
    let port = sock.local_addr().expect("addr").port();
    let req = format!(
        "OPTIONS sip:127.0.0.70:5060 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.71:{port};branch=z9hG4bK-process-1\r\nMax-Forwards: 70\r\n\
         From: <sip:probe@127.0.0.71>;tag=p1\r\nTo: <sip:127.0.0.70>\r\nCall-ID: process-options-1@127.0.0.71\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n"
    );
    sock.send_to(req.as_bytes(), "127.0.0.70:5060").expect("send OPTIONS");
    sock.set_read_timeout(Some(Duration::from_secs(5))).expect("timeout");
    let mut buf = [0u8; 4096];
    let n = sock.recv(&mut buf).ok()?;
    String::from_utf8_lossy(&buf[..n]).lines().next().map(str::to_owned)
}

fn sim() -> String {
    example("examples/sim/analog-tdm410p.toml")
}

#[test]
fn systemd_hears_ready_after_the_listeners_then_reload_watchdog_and_stopping() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let lab = Lab::start(&sim());
    let notify = NotifySocket::bind(&lab.path("notify.sock"));
    let env = [("NOTIFY_SOCKET", lab.path("notify.sock").display().to_string()), ("WATCHDOG_USEC", "200000".to_owned())];
    let mut d = Daemon::start(&lab, &config(""), &[], &env);

    let ready = notify.wait_line(0, "READY=1").unwrap_or_else(|| panic!("no READY=1; got {:?}; log:\n{}", notify.all(), d.log()));
    // At READY the control socket exists and the SIP port is bound: one
    // OPTIONS, never retransmitted, is answered.
    assert!(UnixStream::connect(lab.path("tandem.sock")).is_ok(), "READY=1 before the control socket; log:\n{}", d.log());
    let answer = options_answer();
    assert!(answer.as_deref().is_some_and(|l| l.starts_with("SIP/2.0 ")), "READY=1 before the SIP listener answered: {answer:?}");
    let msgs = notify.all();
    assert!(msgs[ready].lines().any(|l| l.starts_with("STATUS=") && l.contains("calls active")), "{msgs:?}");
    assert!(msgs[..ready].iter().all(|m| !m.contains("WATCHDOG=1")), "watchdog pings before READY: {msgs:?}");

    // WATCHDOG_USEC = 200 ms: a ping every 100 ms from the run loop.
    assert!(
        wait_until(T, || notify.all().iter().skip(ready).filter(|m| m.as_str() == "WATCHDOG=1").count() >= 3),
        "fewer than 3 WATCHDOG=1: {:?}",
        notify.all()
    );

    // SIGHUP: RELOADING=1 with the monotonic clock, then READY=1 again.
    let before = notify.all().len();
    d.signal(libc::SIGHUP);
    let reloading = notify.wait_line(before, "RELOADING=1").unwrap_or_else(|| panic!("no RELOADING=1: {:?}", notify.all()));
    assert!(notify.all()[reloading].lines().any(|l| l.strip_prefix("MONOTONIC_USEC=").is_some_and(|v| v.parse::<u64>().is_ok_and(|u| u > 0))));
    notify.wait_line(reloading + 1, "READY=1").unwrap_or_else(|| panic!("no READY=1 after the reload: {:?}", notify.all()));

    // SIGTERM: STOPPING=1 as the drain begins; the daemon then exits 0.
    let before = notify.all().len();
    d.signal(libc::SIGTERM);
    notify.wait_line(before, "STOPPING=1").unwrap_or_else(|| panic!("no STOPPING=1: {:?}", notify.all()));
    let st = d.wait_exit(T).expect("tandem exits after the drain");
    assert!(st.success(), "{st:?}; log:\n{}", d.log());
}

#[test]
fn without_a_notify_socket_tandem_runs_and_sends_nothing() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let lab = Lab::start(&sim());
    // A socket where systemd's would be, never named to tandem.
    let notify = NotifySocket::bind(&lab.path("notify.sock"));
    let mut d = Daemon::start(&lab, &config(""), &[], &[("WATCHDOG_USEC", "200000".to_owned())]);
    d.wait_up(&lab);
    assert!(options_answer().is_some(), "log:\n{}", d.log());
    d.signal(libc::SIGTERM);
    assert!(d.wait_exit(T).is_some_and(|s| s.success()), "log:\n{}", d.log());
    assert!(notify.all().is_empty(), "{:?}", notify.all());
}

/// A thread of process `pid`: its name, SCHED policy (stat field 41) and realtime priority (field 40).
#[derive(Debug, Clone)]
struct Task {
    tid: u32,
    comm: String,
    policy: u32,
    rt_priority: u32,
}

fn tasks(pid: u32) -> Vec<Task> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(format!("/proc/{pid}/task")).into_iter().flatten().flatten() {
        let Some(tid) = e.file_name().to_str().and_then(|s| s.parse().ok()) else { continue };
        let Ok(stat) = std::fs::read_to_string(e.path().join("stat")) else { continue };
        // "tid (comm) state ...": the fields after the last ')' start at field 3.
        let Some((head, rest)) = stat.rsplit_once(')') else { continue };
        let comm = head.split_once('(').map(|(_, c)| c.to_owned()).unwrap_or_default();
        let f: Vec<&str> = rest.split_whitespace().collect();
        let field = |n: usize| f.get(n - 3).and_then(|v| v.parse().ok()).unwrap_or(u32::MAX);
        out.push(Task { tid, comm, policy: field(41), rt_priority: field(40) });
    }
    out
}

const SCHED_OTHER: u32 = 0;
const SCHED_FIFO: u32 = 1;

/// Waits until the media pump and the four analog port threads run with
/// `(policy, priority)` for the pump and `signalling` for the ports; returns the tasks.
fn wait_for_scheduling(d: &Daemon, pump: (u32, u32), signalling: (u32, u32)) -> Vec<Task> {
    let pid = d.pid();
    let ok = |ts: &[Task]| {
        let pumps: Vec<&Task> = ts.iter().filter(|t| t.comm.starts_with("media-pump-")).collect();
        let ports: Vec<&Task> = ts.iter().filter(|t| t.comm.strip_prefix("analog-").is_some_and(|n| n.parse::<u32>().is_ok())).collect();
        !pumps.is_empty()
            && pumps.iter().all(|t| (t.policy, t.rt_priority) == pump)
            && ports.len() == 4
            && ports.iter().all(|t| (t.policy, t.rt_priority) == signalling)
    };
    let mut last = Vec::new();
    let done = wait_until(T, || {
        last = tasks(pid);
        ok(&last)
    });
    assert!(done, "want pump {pump:?}, ports {signalling:?}; threads: {last:#?}\nlog:\n{}", d.log());
    last
}

/// The threads that must stay SCHED_OTHER: the main run loop and the CDR writer.
fn assert_ordinary(ts: &[Task], pid: u32) {
    let main = ts.iter().find(|t| t.tid == pid).expect("the main thread");
    assert_eq!((main.policy, main.rt_priority), (SCHED_OTHER, 0), "the run loop: {main:?}");
    let cdr = ts.iter().find(|t| t.comm == "tandem-cdr").expect("the CDR writer");
    assert_eq!(cdr.policy, SCHED_OTHER, "{cdr:?}");
}

fn locked_kb(pid: u32) -> u64 {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    s.lines().find_map(|l| l.strip_prefix("VmLck:")).and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok()).unwrap_or(0)
}

#[test]
fn realtime_runs_the_pump_sched_fifo_at_its_priority_and_signalling_one_below() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let lab = Lab::start(&sim());
    let d = Daemon::start(&lab, &config("[process]\nrealtime = true\nrealtime_priority = 60\n"), &[], &[]);
    d.wait_up(&lab);
    let ts = wait_for_scheduling(&d, (SCHED_FIFO, 60), (SCHED_FIFO, 59));
    assert_ordinary(&ts, d.pid());
    assert!(locked_kb(d.pid()) > 0, "mlockall: VmLck is 0; log:\n{}", d.log());
    let st = control(&lab, r#"{"op":"status"}"#);
    assert_eq!(st["realtime"]["on"], true, "{st}");
    assert_eq!(st["realtime"]["media_priority"], 60, "{st}");
    assert_eq!(st["realtime"]["signalling_priority"], 59, "{st}");
    assert_eq!(st["realtime"]["memory_locked"], true, "{st}");
    let status = Command::new(workspace_bin("tandem")).args(["status", "--socket"]).arg(lab.path("tandem.sock")).output().expect("tandem status");
    let text = String::from_utf8_lossy(&status.stdout);
    assert!(text.contains("realtime: on (SCHED_FIFO 60 media pump, 59 signalling; memory locked)"), "{text}");
}

#[test]
fn the_realtime_flag_turns_it_on_at_the_default_priority() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let lab = Lab::start(&sim());
    let d = Daemon::start(&lab, &config("[process]\nrealtime = false\n"), &["--realtime"], &[]);
    d.wait_up(&lab);
    let ts = wait_for_scheduling(&d, (SCHED_FIFO, 50), (SCHED_FIFO, 49));
    assert_ordinary(&ts, d.pid());
}

#[test]
fn without_realtime_every_thread_stays_sched_other() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let lab = Lab::start(&sim());
    let d = Daemon::start(&lab, &config(""), &[], &[]);
    d.wait_up(&lab);
    let ts = wait_for_scheduling(&d, (SCHED_OTHER, 0), (SCHED_OTHER, 0));
    assert!(ts.iter().all(|t| t.policy == SCHED_OTHER), "{ts:#?}");
    let st = control(&lab, r#"{"op":"status"}"#);
    assert_eq!(st["realtime"]["on"], false, "{st}");
    let status = Command::new(workspace_bin("tandem")).args(["status", "--socket"]).arg(lab.path("tandem.sock")).output().expect("tandem status");
    assert!(String::from_utf8_lossy(&status.stdout).contains("realtime: off"));
}

/// The pid of the `tandem run` whose command line names `config`.
fn pid_of(config: &Path) -> Option<u32> {
    let needle = config.display().to_string();
    std::fs::read_dir("/proc").ok()?.flatten().find_map(|e| {
        let pid: u32 = e.file_name().to_str()?.parse().ok()?;
        let cmd = std::fs::read(e.path().join("cmdline")).ok()?;
        let args: Vec<String> = cmd.split(|b| *b == 0).map(|a| String::from_utf8_lossy(a).into_owned()).collect();
        (args.iter().any(|a| a == "run") && args.contains(&needle)).then_some(pid)
    })
}

#[test]
fn realtime_runs_the_d_channel_on_its_own_thread_one_below_the_pump() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let config = format!("{}\n[process]\nrealtime = true\n", PriSipConfig::new("127.0.0.72", "25000-25099").render());
    // The rig waits until Q.921 is up on both ends: the D-channel's thread carries frames.
    let rig = PriRig::start_in(Lab::start(&pri_sim("t1")), &config, "ni2", &[]);
    let pid = pid_of(&rig.tandem.config).expect("tandem's pid");
    let mut last = Vec::new();
    let ok = wait_until(T, || {
        last = tasks(pid);
        let find = |name: &str| last.iter().find(|t| t.comm == name).map(|t| (t.policy, t.rt_priority));
        find("dchan-24") == Some((SCHED_FIFO, 49)) && find("media-pump-0") == Some((SCHED_FIFO, 50))
    });
    assert!(ok, "want dchan-24 FIFO 49 and media-pump-0 FIFO 50; threads: {last:#?}");
    assert_ordinary(&last, pid);
}

#[test]
fn the_unit_is_type_notify_with_a_watchdog() {
    let unit = example("packaging/tandem.service");
    assert!(unit.lines().any(|l| l == "Type=notify"), "{unit}");
    assert!(unit.lines().any(|l| l == "WatchdogSec=30s"), "{unit}");
    assert!(unit.lines().any(|l| l == "ExecReload=/bin/kill -HUP $MAINPID"), "{unit}");
}
