//! Tandem's configuration and dahdi_cfg's configure the hardware alike.
//!
//! The hardware (examples/dahdi/equivalence.sim.toml): a TE420P with four
//! T1 spans cross-connected in pairs (1-2, 3-4) carrying ISDN PRI, and a
//! TDM800P with four FXS and four FXO ports.
//!
//! * A: a fresh in-process simulator; examples/dahdi/equivalence.toml is
//!   validated and applied through `Ctl`.
//! * B: another fresh simulator of the same hardware, mounted at
//!   /dev/dahdi in a private mount namespace; Debian's `dahdi_cfg -c
//!   examples/dahdi/equivalence-system.conf` configures it.
//!
//! Then DAHDI's view of both (SPANSTAT per span, GET_PARAMS per channel:
//! type, framing, coding, LBO, signalling, law…) must be identical.
//!
//! A second case does the same for the sample system (sample.sim.toml,
//! full.toml, full-system.conf: a TDM410P and a TE420P with T1 PRI, E1 PRI,
//! T1 E&M and E1 CAS).
//!
//! B runs through `scripts/sim-ns.sh` when an up-to-date `tandem-sim`
//! binary is there (`cargo build -p hw-sim`; or `$TANDEM_SIM`); the state
//! is then dumped inside the namespace by this test binary itself (the
//! `dump_helper` test, which only acts when `TANDEM_CONFIG_DUMP` is set).
//! Otherwise the simulator runs in this process and only dahdi_cfg runs in
//! a namespace (`unshare -m`, a tmpfs /dev with the sim bound at
//! /dev/dahdi); that path also compares what the simulator recorded
//! beyond GET_PARAMS (echo cancellers, idle bits, timing priorities).
//! `TANDEM_EQUIV_VIA=sim-ns` or `=local` forces a path.
//!
//! Needs root, /dev/fuse, `unshare` and `dahdi_cfg` (Debian package dahdi).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::SystemTime;

use hw_sim::runner::Sim;
use tandem_drivers::Ctl;
use tandem_drivers::config::{self, ConfiguredState, DahdiConfig, Hardware};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_path_buf()
}

fn example_path(name: &str) -> PathBuf {
    root().join("examples/dahdi").join(name)
}

fn example(name: &str) -> String {
    std::fs::read_to_string(example_path(name)).unwrap_or_else(|e| panic!("examples/dahdi/{name}: {e}"))
}

/// What the simulator recorded beyond what GET_PARAMS/SPANSTAT show.
#[derive(Debug, PartialEq, Eq)]
struct SimView {
    /// Per channel: (channel, signalling, echo canceller, idle bits).
    channels: Vec<(u32, u32, Option<String>, u32)>,
    /// Per span: (span, lineconfig, lbo, timing priority, running).
    spans: Vec<(u32, u32, i32, i32, bool)>,
    default_zone: Option<i32>,
}

fn sim_view(sim: &Sim) -> SimView {
    let s = sim.state.lock();
    let d = &s.dahdi;
    SimView {
        channels: d.chans.iter().map(|c| (c.channo, c.sig, c.echocan.attached.clone(), c.idlebits)).collect(),
        spans: d.spans.iter().map(|s| (s.spanno, s.lineconfig, s.lbo, s.sync_prio, s.running)).collect(),
        default_zone: d.default_zone,
    }
}

/// One comparison: the simulated hardware, Tandem's TOML, and the
/// system.conf that should configure the same (files in examples/dahdi/).
#[derive(Clone, Copy)]
struct Case {
    sim: &'static str,
    tandem: &'static str,
    system_conf: &'static str,
}

const PRI_AND_ANALOG: Case = Case { sim: "equivalence.sim.toml", tandem: "equivalence.toml", system_conf: "equivalence-system.conf" };
const FULL_SAMPLE: Case = Case { sim: "sample.sim.toml", tandem: "full.toml", system_conf: "full-system.conf" };

fn start_sim(dir: &Path, case: Case) -> Sim {
    assert_eq!(unsafe { libc::geteuid() }, 0, "this test mounts the simulator over FUSE and namespaces, and must run as root");
    let mount = dir.join("dahdi");
    Sim::start(&example(case.sim), case.sim, &mount, &dir.join("ctl.sock")).unwrap_or_else(|e| panic!("{e}"))
}

/// A: Tandem's TOML through `config::validate` + `config::apply`.
fn tandem_side(case: Case) -> (ConfiguredState, SimView) {
    let dir = tempfile::tempdir().unwrap();
    let sim = start_sim(dir.path(), case);
    let ctl = Ctl::open(&sim.mount).unwrap();
    let cfg = DahdiConfig::from_toml(&example(case.tandem), case.tandem).unwrap_or_else(|e| panic!("{e}"));
    let hw = Hardware::discover(&ctl).unwrap();
    let plan = config::validate(&cfg, &hw).unwrap_or_else(|e| panic!("{e}"));
    config::apply(&plan, &ctl).unwrap_or_else(|e| panic!("apply: {e}"));
    let state = ConfiguredState::read(&ctl).unwrap();
    let view = sim_view(&sim);
    drop(ctl);
    sim.stop().unwrap();
    (state, view)
}

fn dahdi_cfg() -> &'static str {
    for p in ["/usr/sbin/dahdi_cfg", "/sbin/dahdi_cfg"] {
        if Path::new(p).exists() {
            return p;
        }
    }
    panic!("dahdi_cfg not found: install Debian's dahdi package (scripts/setup.sh does)");
}

/// The newest modification time of the files under `dirs` (recursively).
fn newest(dirs: &[PathBuf]) -> SystemTime {
    let mut best = SystemTime::UNIX_EPOCH;
    let mut stack: Vec<PathBuf> = dirs.to_vec();
    while let Some(p) = stack.pop() {
        let Ok(md) = std::fs::metadata(&p) else { continue };
        if md.is_dir() {
            if let Ok(rd) = std::fs::read_dir(&p) {
                stack.extend(rd.flatten().map(|e| e.path()));
            }
        } else if let Ok(t) = md.modified() {
            best = best.max(t);
        }
    }
    best
}

/// The tandem-sim binary for scripts/sim-ns.sh, if there is one that is
/// not older than the simulator's sources.
fn fresh_tandem_sim() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("TANDEM_SIM") {
        return Some(PathBuf::from(p));
    }
    let profile = std::env::current_exe().ok()?.parent()?.parent()?.to_path_buf();
    let bin = [profile.join("tandem-sim"), root().join("target/debug/tandem-sim")].into_iter().find(|p| p.is_file())?;
    let built = std::fs::metadata(&bin).ok()?.modified().ok()?;
    let r = root();
    let sources = newest(&[r.join("hw-sim/src"), r.join("hw-sim/Cargo.toml"), r.join("dsp/src"), r.join("dahdi-sys/src"), r.join("dahdi-sys/build.rs")]);
    (built >= sources).then_some(bin)
}

fn output_text(o: &std::process::Output) -> String {
    format!("status: {}\n--- stdout ---\n{}\n--- stderr ---\n{}", o.status, String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr))
}

/// B through scripts/sim-ns.sh: dahdi_cfg, then this binary's dump_helper,
/// both inside the namespace.
fn dahdi_cfg_via_sim_ns(sim_bin: &Path, case: Case) -> ConfiguredState {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("dump.json");
    let script = root().join("scripts/sim-ns.sh");
    assert!(script.is_file(), "{} is missing", script.display());
    let me = std::env::current_exe().unwrap();
    let o = Command::new("bash")
        .arg(&script)
        .arg(example_path(case.sim))
        .arg("--")
        .args(["sh", "-c", "\"$1\" -vv -c \"$2\" && exec \"$3\" --exact dump_helper --nocapture --test-threads=1 -q", "sh"])
        .arg(dahdi_cfg())
        .arg(example_path(case.system_conf))
        .arg(&me)
        .env("TANDEM_SIM", sim_bin)
        .env("TANDEM_CONFIG_DUMP", &out)
        .env("SIM_NS_TIMEOUT", "120")
        .output()
        .expect("run scripts/sim-ns.sh");
    assert!(o.status.success(), "dahdi_cfg (or the dump) under scripts/sim-ns.sh failed:\n{}", output_text(&o));
    let text = std::fs::read_to_string(&out).unwrap_or_else(|e| panic!("no dump at {}: {e}\n{}", out.display(), output_text(&o)));
    serde_json::from_str(&text).unwrap()
}

/// B with the simulator in this process and dahdi_cfg alone in a private
/// mount namespace that shows the simulator at /dev/dahdi.
fn dahdi_cfg_via_local_namespace(case: Case) -> (ConfiguredState, SimView) {
    let dir = tempfile::tempdir().unwrap();
    let sim = start_sim(dir.path(), case);
    let realdev = dir.path().join("realdev");
    std::fs::create_dir(&realdev).unwrap();
    const SCRIPT: &str = r#"set -e
mount --rbind /dev "$REALDEV"
mount -t tmpfs -o mode=0755,size=1m tandem-dev /dev
for n in null zero full random urandom tty; do
    if [ -e "$REALDEV/$n" ]; then : >"/dev/$n"; mount --bind "$REALDEV/$n" "/dev/$n"; fi
done
mkdir /dev/shm
mount -t tmpfs -o mode=1777,size=1m tandem-shm /dev/shm
mkdir /dev/dahdi
mount --bind "$SIM_MOUNT" /dev/dahdi
umount -l "$REALDEV"
exec "$DAHDI_CFG" -vv -c "$CONF"
"#;
    let o = Command::new("unshare")
        .args(["--mount", "--propagation", "private", "--", "sh", "-c", SCRIPT])
        .env("REALDEV", &realdev)
        .env("SIM_MOUNT", &sim.mount)
        .env("DAHDI_CFG", dahdi_cfg())
        .env("CONF", example_path(case.system_conf))
        .output()
        .expect("run unshare");
    assert!(o.status.success(), "dahdi_cfg in a private namespace failed:\n{}", output_text(&o));
    let ctl = Ctl::open(&sim.mount).unwrap();
    let state = ConfiguredState::read(&ctl).unwrap();
    let view = sim_view(&sim);
    drop(ctl);
    sim.stop().unwrap();
    (state, view)
}

/// The differences between two states, one line each.
fn differences(a: &ConfiguredState, b: &ConfiguredState) -> Vec<String> {
    let mut v = Vec::new();
    for (x, y) in a.spans.iter().zip(&b.spans) {
        if x != y {
            v.push(format!("span {}:\n  tandem:    {x:?}\n  dahdi_cfg: {y:?}", x.span));
        }
    }
    for (x, y) in a.channels.iter().zip(&b.channels) {
        if x != y {
            v.push(format!("channel {}:\n  tandem:    {x:?}\n  dahdi_cfg: {y:?}", x.chan));
        }
    }
    if a.spans.len() != b.spans.len() || a.channels.len() != b.channels.len() {
        v.push(format!("counts differ: {}/{} spans, {}/{} channels", a.spans.len(), b.spans.len(), a.channels.len(), b.channels.len()));
    }
    v
}

/// Configure `case` both ways and compare; Tandem's side is returned for
/// further checks.
fn compare(case: Case) -> ConfiguredState {
    let (a, a_view) = tandem_side(case);
    let via = std::env::var("TANDEM_EQUIV_VIA").unwrap_or_default();
    let sim_bin = if via == "local" { None } else { fresh_tandem_sim() };
    let mut view_diff = Vec::new();
    let b = match (via.as_str(), sim_bin) {
        ("sim-ns", None) => panic!("TANDEM_EQUIV_VIA=sim-ns, but there is no up-to-date tandem-sim: run `cargo build -p hw-sim`"),
        (_, Some(bin)) => {
            eprintln!("{}: dahdi_cfg side through scripts/sim-ns.sh with {}", case.system_conf, bin.display());
            dahdi_cfg_via_sim_ns(&bin, case)
        }
        (_, None) => {
            let why = if via == "local" { "TANDEM_EQUIV_VIA=local" } else { "no up-to-date tandem-sim binary for scripts/sim-ns.sh" };
            eprintln!("{}: dahdi_cfg side with the simulator in-process and dahdi_cfg in a private mount namespace ({why})", case.system_conf);
            let (b, b_view) = dahdi_cfg_via_local_namespace(case);
            view_diff = view_differences(&a_view, &b_view);
            b
        }
    };
    let mut diff = differences(&a, &b);
    diff.extend(view_diff);
    assert!(diff.is_empty(), "Tandem ({}) and dahdi_cfg ({}) configured the hardware differently:\n{}", case.tandem, case.system_conf, diff.join("\n"));
    assert_eq!(a, b);
    a
}

/// The issue's case: four T1 PRIs (TE420P) and a TDM800P with 4 FXS + 4 FXO.
#[test]
fn tandem_and_dahdi_cfg_configure_the_same() {
    let a = compare(PRI_AND_ANALOG);
    // And that is what the configuration says.
    assert_eq!(a.spans.len(), 5);
    for s in &a.spans[..4] {
        assert_eq!((s.span_type.as_str(), s.framing.as_str(), s.coding.as_str(), s.alarms.as_str()), ("T1", "esf", "b8zs", "ok"), "{s:?}");
        assert_eq!(s.configured_channels, 24);
    }
    assert_eq!(a.spans[2].lbo, 1);
    let sig = |n: u32| a.channels[n as usize - 1].signalling.as_str();
    assert_eq!([sig(1), sig(24), sig(97), sig(99), sig(101), sig(103)], ["clear", "dchan", "fxs_ks", "fxs_ls", "fxo_ks", "fxo_ls"]);
    assert_eq!(a.channels[98].law, "alaw");
}

/// The sample system: TDM410P, and a TE420P with T1 PRI, E1 PRI (CRC-4,
/// software D-channel), T1 E&M and E1 CAS (idle bits 1101).
#[test]
fn the_full_sample_configures_the_same_as_dahdi_cfg() {
    let a = compare(FULL_SAMPLE);
    let sig = |n: u32| a.channels[n as usize - 1].signalling.as_str();
    assert_eq!([sig(1), sig(3), sig(28), sig(44), sig(60), sig(84), sig(99)], ["fxs_ks", "fxo_ks", "dchan", "hdlc_fcs", "em", "cas", "none"]);
    assert_eq!((a.spans[2].framing.as_str(), a.spans[2].crc4), ("ccs", true));
    assert_eq!(a.spans[4].framing, "cas");
}

/// The differences between what the two simulators recorded.
fn view_differences(a: &SimView, b: &SimView) -> Vec<String> {
    let mut v = Vec::new();
    for (x, y) in a.channels.iter().zip(&b.channels) {
        if x != y {
            v.push(format!("simulator channel {} (sig, echo canceller, idle bits):\n  tandem:    {x:?}\n  dahdi_cfg: {y:?}", x.0));
        }
    }
    for (x, y) in a.spans.iter().zip(&b.spans) {
        if x != y {
            v.push(format!("simulator span {} (lineconfig, lbo, timing priority, running):\n  tandem:    {x:?}\n  dahdi_cfg: {y:?}", x.0));
        }
    }
    if a.default_zone != b.default_zone {
        v.push(format!("default zone: tandem {:?}, dahdi_cfg {:?}", a.default_zone, b.default_zone));
    }
    v
}

/// Not a test of its own: run inside the namespace by
/// `tandem_and_dahdi_cfg_configure_the_same`, it writes the configured
/// state of /dev/dahdi (or `$TANDEM_CONFIG_DUMP_DIR`) as JSON to
/// `$TANDEM_CONFIG_DUMP`. Does nothing when that is not set.
#[test]
fn dump_helper() {
    let Some(out) = std::env::var_os("TANDEM_CONFIG_DUMP") else { return };
    let dir = std::env::var_os("TANDEM_CONFIG_DUMP_DIR").map(PathBuf::from).unwrap_or_else(|| tandem_drivers::DEFAULT_DEVICE_DIR.into());
    let ctl = Ctl::open(&dir).unwrap_or_else(|e| panic!("{e}"));
    let state = ConfiguredState::read(&ctl).unwrap_or_else(|e| panic!("{e}"));
    std::fs::write(&out, serde_json::to_string_pretty(&state).unwrap()).unwrap();
}
