//! tandem-hotplug against the simulator's udev and sysfs emulation.
//!
//! * With `[sim] hotplug = <tandem-hotplug>`, the simulator runs it for every
//!   uevent with udev's environment: at start, and when a card is unplugged
//!   and plugged in again (`card.unplug`, `card.plug`). It assigns the spans
//!   per TANDEM_ASSIGNED_SPANS (sysfs `assign_span`), configures them per
//!   TANDEM_CONFIG's `[dahdi]` section and tells "tandem" (a Unix socket this
//!   test listens on) span.up / span.down.
//! * tandem-hotplug run by hand with udev's variables against the
//!   simulator's sysfs does the same, one event at a time.
//!
//! Needs root and FUSE. Every wait is bounded.

use std::io::{BufRead, BufReader};
use std::os::unix::net::UnixListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use hw_sim::client::Client;
use hw_sim::config::SimConfig;
use hw_sim::runner::{Sim, SimOptions};
use serde_json::{Value, json};

const HOTPLUG: &str = env!("CARGO_BIN_EXE_tandem-hotplug");

const TANDEM_TOML: &str = r#"
[sip]
listen = "127.0.0.1:5060"    # not ours: ignored by tandem-hotplug

[dahdi]
[[dahdi.span]]
span = 3
type = "t1"
timing = 1
[[dahdi.span.group]]
channels = "1-23"
role = "bchan"
[[dahdi.span.group]]
channels = "24"
role = "dchan"

[[dahdi.span]]
span = 4
type = "t1"
timing = 2
[[dahdi.span.group]]
channels = "1-23"
role = "bchan"
[[dahdi.span.group]]
channels = "24"
role = "dchan"

[[dahdi.span]]
span = 6
type = "t1"
timing = 0
[[dahdi.span.group]]
channels = "1-24"
role = "clear"

[[dahdi.span]]
span = 1
type = "analog"
[[dahdi.span.group]]
channels = "1-2"
role = "fxs"
[[dahdi.span.group]]
channels = "3-4"
role = "fxo"
"#;

fn init_log() {
    let _ = tracing_subscriber::fmt().with_env_filter("info").with_test_writer().try_init();
}

/// "tandem": collects the JSON lines tandem-hotplug sends to its control socket.
struct Tandem {
    got: Arc<Mutex<Vec<Value>>>,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Tandem {
    fn listen(path: &Path) -> Tandem {
        let l = UnixListener::bind(path).expect("bind tandem.sock");
        l.set_nonblocking(true).unwrap();
        let got = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let (got, stop) = (got.clone(), stop.clone());
            std::thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    match l.accept() {
                        Ok((s, _)) => {
                            s.set_nonblocking(false).unwrap();
                            s.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
                            for line in BufReader::new(s).lines().map_while(Result::ok) {
                                let v: Value = serde_json::from_str(&line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}"));
                                got.lock().unwrap().push(v);
                            }
                        }
                        Err(_) => std::thread::sleep(Duration::from_millis(10)),
                    }
                }
            })
        };
        Tandem { got, stop, thread: Some(thread) }
    }

    fn messages(&self) -> Vec<Value> {
        self.got.lock().unwrap().clone()
    }

    /// Wait (at most `limit`) until every wanted (op, span) has arrived
    /// after the first `from` messages; returns the messages so far.
    fn wait_for(&self, from: usize, want: &[(&str, Option<u32>)], limit: Duration) -> Vec<Value> {
        let deadline = Instant::now() + limit;
        loop {
            let m = self.messages();
            let seen =
                |op: &str, span: Option<u32>| m[from.min(m.len())..].iter().any(|v| v["op"] == json!(op) && (span.is_none() || v["span"] == json!(span)));
            if want.iter().all(|(op, span)| seen(op, *span)) {
                return m;
            }
            assert!(Instant::now() < deadline, "tandem did not hear {want:?} within {limit:?}; it heard {m:?}");
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Tandem {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

struct Setup {
    sim: Sim,
    tandem: Tandem,
    sysfs: PathBuf,
    assigned: PathBuf,
    config: PathBuf,
    sock: PathBuf,
    _dir: tempfile::TempDir,
}

fn start(sim_toml: &str, assigned: &str) -> Setup {
    init_log();
    assert_eq!(nix_euid(), 0, "needs root (FUSE)");
    let dir = tempfile::Builder::new().prefix("thp-").tempdir().unwrap();
    let root = dir.path().canonicalize().unwrap();
    let (sysfs, assigned_p, config, sock) = (root.join("sys"), root.join("assigned-spans.conf"), root.join("tandem.toml"), root.join("tandem.sock"));
    std::fs::write(&assigned_p, assigned).unwrap();
    std::fs::write(&config, TANDEM_TOML).unwrap();
    let tandem = Tandem::listen(&sock);
    let text = sim_toml
        .replace("@HOTPLUG@", HOTPLUG)
        .replace("@ASSIGNED@", &assigned_p.to_string_lossy())
        .replace("@CONFIG@", &config.to_string_lossy())
        .replace("@SOCK@", &sock.to_string_lossy());
    let cfg = SimConfig::parse(&text, "sim.toml").expect("sim config");
    let opts = SimOptions { sysfs: Some(sysfs.clone()), hotplug: None };
    let sim = Sim::start_with(&cfg, "sim.toml", &root.join("dahdi"), &root.join("ctl.sock"), &opts).expect("start the simulator");
    Setup { sim, tandem, sysfs, assigned: assigned_p, config, sock, _dir: dir }
}

fn nix_euid() -> u32 {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc_geteuid() }
}

unsafe extern "C" {
    #[link_name = "geteuid"]
    fn libc_geteuid() -> u32;
}

fn call(c: &mut Client, op: &str, args: Value) -> Value {
    c.call(op, args).unwrap_or_else(|e| panic!("{op}: {e}"))
}

fn sig(c: &mut Client, chan: u32) -> String {
    call(c, "chan.get", json!({"chan": chan}))["sig"].as_str().unwrap().to_string()
}

fn spans(c: &mut Client) -> Vec<u64> {
    call(c, "status", json!({}))["spans"].as_array().unwrap().iter().map(|s| s["span"].as_u64().unwrap()).collect()
}

/// Wait (bounded) until the simulator's spans are `want`.
fn wait_spans(c: &mut Client, want: &[u64], limit: Duration) {
    let deadline = Instant::now() + limit;
    loop {
        let s = spans(c);
        if s == want {
            return;
        }
        assert!(Instant::now() < deadline, "spans {s:?}, expected {want:?} within {limit:?}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

const SIM_WITH_HOTPLUG: &str = r#"
[sim]
auto_assign_spans = false
hotplug = "@HOTPLUG@"
hotplug_env = { TANDEM_ASSIGNED_SPANS = "@ASSIGNED@", TANDEM_CONFIG = "@CONFIG@", TANDEM_CONTROL_SOCKET = "@SOCK@" }

[[card]]
model = "te220p"
hardware_id = "TE2-TEST"
[[card.span]]
type = "t1"
far_end = "cross"
peer = 2
[[card.span]]
type = "t1"
far_end = "cross"
peer = 1

[[card]]
model = "tdm410p"
ports = ["fxs", "fxs", "fxo", "fxo"]
"#;

#[test]
fn the_simulator_runs_tandem_hotplug_on_plug_and_unplug() {
    let s = start(SIM_WITH_HOTPLUG, "TE2-TEST 1:3:49 2:4:73\n");
    let mut c = Client::connect(&s.sim.control).unwrap();
    let limit = Duration::from_secs(30);

    // At start: both cards appear; the T1 card's spans are assigned from
    // the assignments file, the analog card (not in it) is auto-assigned,
    // every span is configured from tandem.toml and tandem hears of it.
    let m = s.tandem.wait_for(0, &[("device.add", None), ("span.up", Some(3)), ("span.up", Some(4)), ("span.up", Some(1))], limit);
    assert!(m.contains(&json!({"op": "device.add", "span": null, "device": "TE2-TEST"})), "{m:?}");
    assert!(m.contains(&json!({"op": "device.add", "span": null, "device": "SIM-TDM410P-2"})), "{m:?}");
    wait_spans(&mut c, &[1, 3, 4], limit);
    let cards = call(&mut c, "card.list", json!({}));
    assert_eq!(cards["cards"][0]["spans"][0]["basechan"], json!(49));
    assert_eq!(cards["cards"][0]["spans"][1]["basechan"], json!(73));
    assert_eq!(cards["cards"][1]["spans"][0]["basechan"], json!(1));
    assert_eq!(sig(&mut c, 49), "clear", "span 3 bchan (B-channels are clear channels)");
    assert_eq!(sig(&mut c, 72), "hardhdlc", "span 3 dchan");
    assert_eq!(sig(&mut c, 96), "hardhdlc", "span 4 dchan");
    assert_eq!(sig(&mut c, 1), "fxoks", "analog port 1 (fxs role)");
    assert_eq!(sig(&mut c, 4), "fxsks", "analog port 4 (fxo role)");
    let st = call(&mut c, "status", json!({}));
    let span3 = st["spans"].as_array().unwrap().iter().find(|x| x["span"] == json!(3)).unwrap().clone();
    assert_eq!(span3["running"], json!(true), "STARTUP was applied: {span3}");
    assert_eq!(span3["alarms"], json!([]), "cross-connected and running: {span3}");

    // Unplug the T1 card: its spans go (remove events with SPAN_NUM=0), then the device.
    let n = s.tandem.messages().len();
    call(&mut c, "card.unplug", json!({"card": 1}));
    let m = s.tandem.wait_for(n, &[("span.down", Some(3)), ("span.down", Some(4)), ("device.remove", None)], limit);
    assert!(m[n..].contains(&json!({"op": "device.remove", "span": null, "device": "TE2-TEST"})), "{:?}", &m[n..]);
    assert_eq!(spans(&mut c), [1]);
    assert!(c.call("chan.get", json!({"chan": 49})).is_err(), "channel 49 went with the card");

    // Plug it in again: fresh, unconfigured hardware, assigned and configured again.
    let n = s.tandem.messages().len();
    call(&mut c, "card.plug", json!({"card": 1}));
    s.tandem.wait_for(n, &[("device.add", None), ("span.up", Some(3)), ("span.up", Some(4))], limit);
    wait_spans(&mut c, &[1, 3, 4], limit);
    assert_eq!(sig(&mut c, 50), "clear");
    assert_eq!(sig(&mut c, 96), "hardhdlc");
    // Nothing else was said: no failure, no duplicate.
    let after: Vec<Value> = s.tandem.messages()[n..].to_vec();
    assert_eq!(after.len(), 3, "{after:?}");
    let _ = (&s.assigned, &s.config, &s.sysfs);
}

const SIM_PLAIN: &str = r#"
[sim]
auto_assign_spans = false

[[card]]
model = "te220p"
hardware_id = "TE2-DIRECT"
[[card.span]]
type = "t1"
[[card.span]]
type = "t1"
"#;

/// Run tandem-hotplug with exactly these variables (bounded: 30 s).
fn run_hotplug(env: &[(&str, &str)]) -> (bool, String) {
    let mut cmd = Command::new(HOTPLUG);
    cmd.env_clear().stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().expect("run tandem-hotplug");
    let deadline = Instant::now() + Duration::from_secs(30);
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("tandem-hotplug ran longer than 30 s");
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    let out = child.wait_with_output().unwrap();
    (out.status.success(), format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr)))
}

#[test]
fn tandem_hotplug_by_hand_with_udev_variables() {
    let s = start(SIM_PLAIN, "TE2-DIRECT 2:6:200\n");
    let mut c = Client::connect(&s.sim.control).unwrap();
    let sysfs = s.sysfs.to_string_lossy().into_owned();
    let mount = s.sim.mount.to_string_lossy().into_owned();
    let assigned = s.assigned.to_string_lossy().into_owned();
    let config = s.config.to_string_lossy().into_owned();
    let sock = s.sock.to_string_lossy().into_owned();
    let devpath = "/devices/pci0000:00/0000:00:01.0/pci:0000:00:01.0";
    assert_eq!(call(&mut c, "card.list", json!({}))["cards"][0]["devpath"], json!(devpath));
    let common = [
        ("TANDEM_SYSFS_ROOT", sysfs.as_str()),
        ("TANDEM_DEVICE_DIR", mount.as_str()),
        ("TANDEM_ASSIGNED_SPANS", assigned.as_str()),
        ("TANDEM_CONFIG", config.as_str()),
        ("TANDEM_CONTROL_SOCKET", sock.as_str()),
    ];
    let with = |extra: &[(&'static str, &'static str)]| -> Vec<(&str, &str)> { common.iter().copied().chain(extra.iter().copied()).collect() };

    // The card appears: only local span 2 has an assignment line.
    let (ok, out) = run_hotplug(&with(&[
        ("ACTION", "add"),
        ("SUBSYSTEM", "dahdi_devices"),
        ("DEVPATH", "/devices/pci0000:00/0000:00:01.0/pci:0000:00:01.0"),
        ("DAHDI_DEVICE_HWID", "TE2-DIRECT"),
        ("DAHDI_DEVICE_LOCATION", "pci0000:00/0000:00:01.0"),
        ("SEQNUM", "1"),
    ]));
    assert!(ok, "{out}");
    assert!(out.contains(&format!("wrote 2:6:200 to {sysfs}{devpath}/assign_span")), "{out}");
    let cards = call(&mut c, "card.list", json!({}));
    assert_eq!(cards["cards"][0]["spans"][0]["span"], json!(null), "local span 1 has no line: {cards}");
    assert_eq!(cards["cards"][0]["spans"][1]["span"], json!(6));
    assert_eq!(cards["cards"][0]["spans"][1]["basechan"], json!(200));
    s.tandem.wait_for(0, &[("device.add", None)], Duration::from_secs(5));

    // Its span 6 appears: configured from tandem.toml, tandem told.
    let (ok, out) = run_hotplug(&with(&[
        ("ACTION", "add"),
        ("SUBSYSTEM", "dahdi_spans"),
        ("DEVPATH", "/devices/pci0000:00/0000:00:01.0/pci:0000:00:01.0/span-6"),
        ("SPAN_NUM", "6"),
        ("SPAN_NAME", "TE2/0/2"),
    ]));
    assert!(ok, "{out}");
    assert!(out.contains("configured span 6 from"), "{out}");
    assert_eq!(sig(&mut c, 200), "clear");
    assert_eq!(sig(&mut c, 223), "clear");
    s.tandem.wait_for(0, &[("span.up", Some(6))], Duration::from_secs(5));

    // A span tandem.toml does not mention is left alone, and still announced.
    call(&mut c, "status", json!({}));
    std::fs::write(format!("{sysfs}{devpath}/assign_span"), "1:9:300\n").expect("assign local span 1");
    let (ok, out) = run_hotplug(&with(&[
        ("ACTION", "add"),
        ("SUBSYSTEM", "dahdi_spans"),
        ("DEVPATH", "/devices/pci0000:00/0000:00:01.0/pci:0000:00:01.0/span-9"),
        ("SPAN_NUM", "9"),
        ("SPAN_NAME", "TE2/0/1"),
    ]));
    assert!(ok && out.contains("does not configure span 9"), "{out}");
    assert_eq!(sig(&mut c, 300), "none");
    s.tandem.wait_for(0, &[("span.up", Some(9))], Duration::from_secs(5));

    // The span goes: the kernel's remove event has SPAN_NUM=0.
    std::fs::write(format!("{sysfs}{devpath}/unassign_span"), "2\n").expect("unassign local span 2");
    let (ok, out) = run_hotplug(&with(&[
        ("ACTION", "remove"),
        ("SUBSYSTEM", "dahdi_spans"),
        ("DEVPATH", "/devices/pci0000:00/0000:00:01.0/pci:0000:00:01.0/span-6"),
        ("SPAN_NUM", "0"),
        ("SPAN_NAME", "TE2/0/2"),
    ]));
    assert!(ok, "{out}");
    s.tandem.wait_for(0, &[("span.down", Some(6))], Duration::from_secs(5));

    // With auto_assign_spans=1 a new card is left to DAHDI.
    std::fs::write(format!("{sysfs}/module/dahdi/parameters/auto_assign_spans"), "1\n").unwrap();
    let (ok, out) = run_hotplug(&with(&[("ACTION", "add"), ("SUBSYSTEM", "dahdi_devices"), ("DEVPATH", devpath)]));
    assert!(ok && out.contains("auto_assign_spans=1"), "{out}");

    // A broken tandem.toml makes the span event fail, naming the place.
    std::fs::write(&s.config, "[dahdi]\n[[dahdi.span]]\nspan = 9\ntype = \"t1\"\ntiming = \"x\"\n").unwrap();
    let (ok, out) = run_hotplug(&with(&[
        ("ACTION", "add"),
        ("SUBSYSTEM", "dahdi_spans"),
        ("DEVPATH", "/devices/pci0000:00/0000:00:01.0/pci:0000:00:01.0/span-9"),
        ("SPAN_NUM", "9"),
    ]));
    assert!(!ok && out.contains("tandem.toml:5"), "{out}");

    // --help describes the variables.
    let help = Command::new(HOTPLUG).arg("--help").output().unwrap();
    let help = String::from_utf8_lossy(&help.stdout);
    for v in ["TANDEM_CONFIG", "TANDEM_ASSIGNED_SPANS", "TANDEM_SYSFS_ROOT", "TANDEM_DEVICE_DIR", "TANDEM_CONTROL_SOCKET", "SPAN_NUM"] {
        assert!(help.contains(v), "--help lacks {v}");
    }
}
