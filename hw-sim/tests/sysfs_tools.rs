//! dahdi-tools' `dahdi_span_assignments` (Debian's, unmodified) against the
//! sysfs emulation: `scripts/sim-ns.sh` with `SIM_SYSFS=1` mounts it and
//! binds its `bus/`, `module/` and `devices/` over `/sys/...` in a private
//! mount namespace, so the script reads and writes `/sys/bus/dahdi_devices`
//! as on a real system.
//!
//! Needs root, FUSE, util-linux's unshare and the `dahdi` package.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const CONFIG: &str = r#"
[sim]
auto_assign_spans = false

[[card]]
model = "tdm410p"
ports = ["fxs", "fxs", "fxo", "fxo"]

[[card]]
model = "te220p"
hardware_id = "TE2-TOOLS"
[[card.span]]
type = "t1"
far_end = "cross"
peer = 3
[[card.span]]
type = "t1"
far_end = "cross"
peer = 2
"#;

const ASSIGNED: &str = "\
# tandem test
TE2-TOOLS 1:3:49 2:4:73
@pci0000:00/0000:00:01.0 1:8:120
";

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_path_buf()
}

/// Run `script` with bash inside `sim-ns.sh` (SIM_SYSFS=1); bounded by
/// sim-ns.sh's own timeout and a 120 s kill here.
fn run_in_ns(dir: &Path, script: &str) -> (bool, String, String) {
    assert_eq!(unsafe { libc::geteuid() }, 0, "needs root (FUSE and mount namespaces)");
    assert!(Path::new("/usr/sbin/dahdi_span_assignments").exists(), "dahdi_span_assignments missing: install the dahdi package (scripts/setup.sh does)");
    let cfg = dir.join("sim.toml");
    std::fs::write(&cfg, CONFIG).unwrap();
    std::fs::write(dir.join("assigned-spans.conf"), ASSIGNED).unwrap();
    let mut c = Command::new("bash");
    c.arg(repo().join("scripts/sim-ns.sh"))
        .arg(&cfg)
        .arg("--")
        .args(["bash", "-c", script])
        .env("TANDEM_SIM", env!("CARGO_BIN_EXE_tandem-sim"))
        .env("SIM_SYSFS", "1")
        .env("SIM_NS_TIMEOUT", "60")
        .env("ASSIGNED", dir.join("assigned-spans.conf"))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    std::os::unix::process::CommandExt::process_group(&mut c, 0);
    let mut child = c.spawn().expect("bash scripts/sim-ns.sh");
    let mut out = child.stdout.take().unwrap();
    let mut err = child.stderr.take().unwrap();
    let to = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = out.read_to_string(&mut s);
        s
    });
    let te = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = err.read_to_string(&mut s);
        s
    });
    let deadline = Instant::now() + Duration::from_secs(120);
    let status = loop {
        if let Some(st) = child.try_wait().unwrap() {
            break st;
        }
        if Instant::now() > deadline {
            let _ = nix::sys::signal::killpg(nix::unistd::Pid::from_raw(child.id() as i32), nix::sys::signal::SIGKILL);
            let _ = child.wait();
            panic!("sim-ns.sh did not finish within 120 s");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    (status.success(), to.join().unwrap(), te.join().unwrap())
}

/// The lines after `=== name` up to the next `===` marker.
fn section(out: &str, name: &str) -> Vec<String> {
    let mut lines = out.lines().skip_while(|l| *l != format!("=== {name}"));
    lines.next().unwrap_or_else(|| panic!("no section {name} in:\n{out}"));
    lines.take_while(|l| !l.starts_with("=== ")).map(str::to_string).collect()
}

const DEV1: &str = "/sys/devices/pci0000:00/0000:00:01.0/pci:0000:00:01.0";
const DEV2: &str = "/sys/devices/pci0000:00/0000:00:02.0/pci:0000:00:02.0";

#[test]
fn dahdi_span_assignments_lists_dumps_and_adds() {
    let dir = tempfile::tempdir().unwrap();
    let script = r#"
set -u
echo "=== param"; cat /sys/module/dahdi/parameters/auto_assign_spans
echo "=== list0"; dahdi_span_assignments list
echo "=== dump0"; dahdi_span_assignments dumpconfig
echo "=== add"; DAHDIASSIGNEDSPANSCONF=$ASSIGNED dahdi_span_assignments add 2>&1
echo "=== list1"; dahdi_span_assignments list
echo "=== dump1"; dahdi_span_assignments -k location dumpconfig
echo "=== matched"; DAHDIASSIGNEDSPANSCONF=$ASSIGNED dahdi_span_assignments matched 2>/dev/null
echo "=== spans"; ls /sys/bus/dahdi_spans/devices
echo "=== chan"; ls /dev/dahdi/chan
echo "=== basechan"; cat /sys/bus/dahdi_spans/devices/span-4/basechan /sys/bus/dahdi_spans/devices/span-8/basechan
echo "=== readd"; DAHDIASSIGNEDSPANSCONF=$ASSIGNED dahdi_span_assignments add 2>&1
echo "=== remove"; dahdi_span_assignments remove /sys/bus/dahdi_devices/devices/pci:0000:00:02.0 2>&1
echo "=== list2"; dahdi_span_assignments list
echo "=== auto"; dahdi_span_assignments auto 2>&1
echo "=== list3"; dahdi_span_assignments list
echo "=== end"
"#;
    let (ok, out, err) = run_in_ns(dir.path(), script);
    assert!(ok, "sim-ns.sh failed\n--- stdout ---\n{out}\n--- stderr ---\n{err}");

    assert_eq!(section(&out, "param"), ["0"]);
    assert_eq!(
        section(&out, "list0"),
        [
            format!("1:-:-    [SIM-TDM410P-1] @pci0000:00/0000:00:01.0 {DEV1}"),
            format!("1:-:-    [TE2-TOOLS]    @pci0000:00/0000:00:02.0 {DEV2}"),
            format!("2:-:-    [TE2-TOOLS]    @pci0000:00/0000:00:02.0 {DEV2}"),
        ]
    );
    let dump0 = section(&out, "dump0");
    assert!(dump0.contains(&format!("# Device: [TE2-TOOLS] @pci0000:00/0000:00:02.0 {DEV2}")), "{dump0:?}");
    assert_eq!(dump0.iter().filter(|l| l.starts_with("#   Skipped unassigned local span")).count(), 3, "{dump0:?}");

    let add = section(&out, "add");
    for want in [
        "assign /sys/bus/dahdi_devices/devices/pci:0000:00:01.0: 1:8:120",
        "assign /sys/bus/dahdi_devices/devices/pci:0000:00:02.0: 1:3:49",
        "assign /sys/bus/dahdi_devices/devices/pci:0000:00:02.0: 2:4:73",
    ] {
        assert!(add.iter().any(|l| l == want), "add did not say {want:?}: {add:?}");
    }
    assert!(!add.iter().any(|l| l.contains("failed")), "{add:?}");
    assert_eq!(
        section(&out, "list1"),
        [
            format!("1:8:120  [SIM-TDM410P-1] @pci0000:00/0000:00:01.0 {DEV1}"),
            format!("1:3:49   [TE2-TOOLS]    @pci0000:00/0000:00:02.0 {DEV2}"),
            format!("2:4:73   [TE2-TOOLS]    @pci0000:00/0000:00:02.0 {DEV2}"),
        ]
    );
    let dump1 = section(&out, "dump1");
    for want in ["@pci0000:00/0000:00:01.0       1:8:120", "@pci0000:00/0000:00:02.0       1:3:49", "@pci0000:00/0000:00:02.0       2:4:73"] {
        assert!(dump1.iter().any(|l| l == want), "dumpconfig -k location lacks {want:?}: {dump1:?}");
    }
    // dahdi-tools' `matched` compares only the first local span of each
    // configuration line (`cut -d: -f1` of "1:3:49 2:4:73"), so local span 2
    // is not listed: the script's behaviour, not the simulator's.
    assert_eq!(section(&out, "matched"), ["[SIM-TDM410P-1]:1", "[TE2-TOOLS]:1"]);
    assert_eq!(section(&out, "spans"), ["span-3", "span-4", "span-8"]);
    assert_eq!(section(&out, "chan"), ["003", "004", "008"]);
    assert_eq!(section(&out, "basechan"), ["73", "120"]);
    let readd = section(&out, "readd");
    assert!(readd.iter().any(|l| l.contains("[1] already assigned to span 3. Skipping...")), "{readd:?}");
    let remove = section(&out, "remove");
    assert!(remove.iter().any(|l| l == "unassign /sys/bus/dahdi_devices/devices/pci:0000:00:02.0 1"), "{remove:?}");
    assert!(!remove.iter().any(|l| l.contains("failed")), "{remove:?}");
    assert_eq!(
        section(&out, "list2"),
        [
            format!("1:8:120  [SIM-TDM410P-1] @pci0000:00/0000:00:01.0 {DEV1}"),
            format!("1:-:-    [TE2-TOOLS]    @pci0000:00/0000:00:02.0 {DEV2}"),
            format!("2:-:-    [TE2-TOOLS]    @pci0000:00/0000:00:02.0 {DEV2}"),
        ]
    );
    // auto: the free places, in order: span 1 at channel 1, then span 2 at 25.
    assert_eq!(
        section(&out, "list3"),
        [
            format!("1:8:120  [SIM-TDM410P-1] @pci0000:00/0000:00:01.0 {DEV1}"),
            format!("1:1:1    [TE2-TOOLS]    @pci0000:00/0000:00:02.0 {DEV2}"),
            format!("2:2:25   [TE2-TOOLS]    @pci0000:00/0000:00:02.0 {DEV2}"),
        ]
    );
}
