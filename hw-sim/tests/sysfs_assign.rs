//! Span assignment through the sysfs emulation (`tandem-sim --sysfs`), as
//! user space does it with DAHDI's `auto_assign_spans=0`: spans are
//! invisible until `assign_span` / `auto_assign` is written, get the numbers
//! asked for, and `unassign_span` cuts their open channels off (ENODEV).

mod common;

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::*;

const CONFIG: &str = r#"
[sim]
auto_assign_spans = false

[[card]]
model = "tdm410p"
ports = ["fxs", "fxs", "fxo", "fxo"]

[[card]]
model = "te220p"
hardware_id = "TE2-SYSFS"
[[card.span]]
type = "t1"
far_end = "cross"
peer = 3
[[card.span]]
type = "t1"
far_end = "cross"
peer = 2
"#;

const ANALOG: &str = "devices/pci0000:00/0000:00:01.0/pci:0000:00:01.0";
const TE: &str = "devices/pci0000:00/0000:00:02.0/pci:0000:00:02.0";

/// tandem-sim with `--sysfs`, killed (and both mounts detached) on drop.
struct SysSim {
    child: Option<Child>,
    mount: PathBuf,
    sysfs: PathBuf,
    control: PathBuf,
    log: PathBuf,
    _dir: tempfile::TempDir,
}

impl SysSim {
    fn start(toml: &str) -> SysSim {
        let dir = tempfile::Builder::new().prefix("tsim-sysfs-").tempdir().expect("temp dir");
        let root = dir.path().canonicalize().unwrap();
        let (mount, sysfs, control, log) = (root.join("dahdi"), root.join("sys"), root.join("ctl.sock"), root.join("sim.log"));
        std::fs::write(root.join("sim.toml"), toml).unwrap();
        let out = File::create(&log).unwrap();
        let child = Command::new(env!("CARGO_BIN_EXE_tandem-sim"))
            .arg("--config")
            .arg(root.join("sim.toml"))
            .arg("--mount")
            .arg(&mount)
            .arg("--control")
            .arg(&control)
            .arg("--sysfs")
            .arg(&sysfs)
            .args(["--log", "info"])
            .stdin(Stdio::null())
            .stdout(out.try_clone().unwrap())
            .stderr(out)
            .spawn()
            .expect("spawn tandem-sim");
        let mut s = SysSim { child: Some(child), mount, sysfs, control, log, _dir: dir };
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Some(st) = s.child.as_mut().and_then(|c| c.try_wait().ok().flatten()) {
                panic!("tandem-sim exited early with {st}; log:\n{}", s.log_text());
            }
            let pinged = Client::connect(&s.control).is_ok_and(|mut c| c.call("ping", json!({})).is_ok());
            if is_mounted(&s.mount) && is_mounted(&s.sysfs) && pinged {
                break;
            }
            assert!(Instant::now() < deadline, "tandem-sim not ready after 10 s; log:\n{}", s.log_text());
            std::thread::sleep(Duration::from_millis(20));
        }
        s
    }

    fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    fn sys(&self, rel: &str) -> PathBuf {
        self.sysfs.join(rel)
    }

    fn read(&self, rel: &str) -> String {
        std::fs::read_to_string(self.sys(rel)).unwrap_or_else(|e| panic!("read {rel}: {e}"))
    }

    /// Write an attribute as `echo value > attr` does; the errno on failure.
    fn write(&self, rel: &str, value: &str) -> Result<(), i32> {
        use std::io::Write;
        let mut f = std::fs::OpenOptions::new().write(true).truncate(true).open(self.sys(rel)).map_err(|e| e.raw_os_error().unwrap_or(0))?;
        f.write_all(format!("{value}\n").as_bytes()).map_err(|e| e.raw_os_error().unwrap_or(0))
    }

    fn ctl(&self) -> File {
        open_rw(&self.mount.join("ctl"), false).expect("open ctl")
    }

    fn chan_dirs(&self) -> Vec<String> {
        let mut v: Vec<String> = std::fs::read_dir(self.mount.join("chan")).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
        v.sort();
        v
    }

    fn client(&self) -> Client {
        Client::connect(&self.control).expect("control socket")
    }
}

impl Drop for SysSim {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(c.id() as i32), nix::sys::signal::SIGTERM);
            let deadline = Instant::now() + Duration::from_secs(5);
            while c.try_wait().ok().flatten().is_none() && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(20));
            }
            let _ = c.kill();
            let _ = c.wait();
        }
        for m in [&self.sysfs, &self.mount] {
            if is_mounted(m) {
                let _ = nix::mount::umount2(m.as_path(), nix::mount::MntFlags::MNT_DETACH);
            }
        }
    }
}

fn errno_of_nix(r: nix::Result<impl Sized>) -> Option<Errno> {
    r.err()
}

fn name(b: &[std::os::raw::c_char]) -> String {
    cstr_to_string(b)
}

#[test]
fn spans_wait_for_assign_span_and_unassign_cuts_channels_off() {
    let sim = SysSim::start(CONFIG);
    let ctl = sim.ctl();

    // ---- nothing is assigned: no span, no channel, no device file.
    assert_eq!(sim.read("module/dahdi/parameters/auto_assign_spans"), "0\n");
    for s in 1..=3 {
        assert_eq!(errno_of_nix(spanstat(&ctl, s)), Some(Errno::EINVAL), "SPANSTAT {s} before assignment");
    }
    assert_eq!(errno_of_nix(get_params(&ctl, 1)), Some(Errno::EINVAL), "GET_PARAMS 1 before assignment");
    assert!(sim.chan_dirs().is_empty());
    assert_eq!(std::fs::read_dir(sim.sys("bus/dahdi_spans/devices")).unwrap().count(), 0);
    let mut devs: Vec<String> =
        std::fs::read_dir(sim.sys("bus/dahdi_devices/devices")).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    devs.sort();
    assert_eq!(devs, ["pci:0000:00:01.0", "pci:0000:00:02.0"]);
    assert_eq!(std::fs::read_link(sim.sys("bus/dahdi_devices/devices/pci:0000:00:02.0")).unwrap(), Path::new(&format!("../../../{TE}")));
    assert_eq!(sim.read(&format!("{TE}/hardware_id")), "TE2-SYSFS\n");
    assert_eq!(sim.read(&format!("{TE}/location")), "pci0000:00/0000:00:02.0\n");
    assert_eq!(sim.read(&format!("{TE}/manufacturer")), "Digium\n");
    assert_eq!(sim.read(&format!("{TE}/type")), "Wildcard TE220P\n");
    assert_eq!(sim.read(&format!("{TE}/span_count")), "2\n");
    assert_eq!(sim.read(&format!("{TE}/spantype")), "1:T1\n2:T1\n");
    assert_eq!(sim.read(&format!("{ANALOG}/hardware_id")), "SIM-TDM410P-1\n");
    let rt = sim.read(&format!("{TE}/registration_time"));
    assert!(rt.len() == 21 && rt.as_bytes()[10] == b'.', "registration_time {rt:?} is %010lld.%09ld");

    // ---- assign the T1 card's spans at chosen numbers, the analog card automatically.
    assert_eq!(sim.write(&format!("{TE}/assign_span"), "2:5:100"), Ok(()));
    assert_eq!(sim.write(&format!("{TE}/assign_span"), "1:2:10"), Ok(()));
    assert_eq!(sim.write(&format!("{ANALOG}/auto_assign"), "1"), Ok(()));
    // The kernel's checks, with its errnos.
    assert_eq!(sim.write(&format!("{TE}/assign_span"), "1:9:500"), Err(libc::EINVAL), "already assigned");
    assert_eq!(sim.write(&format!("{TE}/assign_span"), "3:9:500"), Err(libc::EINVAL), "no local span 3");
    assert_eq!(sim.write(&format!("{TE}/assign_span"), "garbage"), Err(libc::EINVAL));
    assert_eq!(sim.write(&format!("{TE}/unassign_span"), "7"), Err(libc::EINVAL), "no local span 7");
    assert_eq!(sim.write(&format!("{TE}/hardware_id"), "x"), Err(libc::EACCES), "read-only attribute");
    assert_eq!(std::fs::read(sim.sys(&format!("{TE}/assign_span"))).unwrap_err().raw_os_error(), Some(libc::EACCES), "write-only attribute");

    // SPANSTAT, GET_PARAMS and the device files follow the assignment.
    let s5 = spanstat(&ctl, 5).expect("SPANSTAT 5");
    assert_eq!(name(&s5.name), "TE2/0/2");
    assert_eq!({ s5.totalspans }, 3);
    assert_eq!({ s5.totalchans }, 24);
    assert_eq!(name(&s5.location), "pci0000:00/0000:00:02.0");
    assert_eq!(name(&spanstat(&ctl, 2).expect("SPANSTAT 2").name), "TE2/0/1");
    assert_eq!(name(&spanstat(&ctl, 1).expect("SPANSTAT 1 (analog, auto)").name), "WCTDM/0");
    for s in [3, 4, 6] {
        assert_eq!(errno_of_nix(spanstat(&ctl, s)), Some(Errno::EINVAL), "SPANSTAT {s}");
    }
    let p = get_params(&ctl, 100).expect("GET_PARAMS 100");
    assert_eq!((p.spanno, p.chanpos, p.channo), (5, 1, 100));
    assert_eq!(name(&p.name), "TE2/0/2/1");
    let p = get_params(&ctl, 123).expect("GET_PARAMS 123");
    assert_eq!((p.spanno, p.chanpos), (5, 24));
    let p = get_params(&ctl, 10).expect("GET_PARAMS 10");
    assert_eq!((p.spanno, p.chanpos), (2, 1));
    let p = get_params(&ctl, 4).expect("GET_PARAMS 4");
    assert_eq!((p.spanno, p.chanpos), (1, 4));
    for c in [5, 9, 34, 99, 124] {
        assert_eq!(errno_of_nix(get_params(&ctl, c)), Some(Errno::EINVAL), "GET_PARAMS {c} is no channel");
    }
    assert_eq!(sim.chan_dirs(), ["001", "002", "005"]);
    assert_eq!(std::fs::read_dir(sim.mount.join("chan/005")).unwrap().count(), 24);

    // sysfs shows the spans where the kernel does.
    let span5 = format!("{TE}/span-5");
    assert_eq!(sim.read(&format!("{span5}/basechan")), "100\n");
    assert_eq!(sim.read(&format!("{span5}/local_spanno")), "2\n");
    assert_eq!(sim.read(&format!("{span5}/channels")), "24\n");
    assert_eq!(sim.read(&format!("{span5}/name")), "TE2/0/2\n");
    assert_eq!(sim.read(&format!("{span5}/spantype")), "T1\n");
    assert_eq!(sim.read(&format!("{span5}/lineconfig")), "ESF/B8ZS\n");
    assert_eq!(sim.read(&format!("{span5}/linecompat")), "D4 ESF AMI B8ZS\n");
    assert_eq!(sim.read(&format!("{span5}/is_digital")), "1\n");
    assert_eq!(sim.read(&format!("{ANALOG}/span-1/basechan")), "1\n");
    assert_eq!(sim.read(&format!("{ANALOG}/span-1/spantype")), "ANALOG_MIXED\n");
    assert_eq!(std::fs::canonicalize(sim.sys("bus/dahdi_spans/devices/span-5")).unwrap(), sim.sysfs.canonicalize().unwrap().join(&span5));
    assert_eq!(std::fs::canonicalize(sim.sys(&format!("{span5}/ddev"))).unwrap(), sim.sysfs.canonicalize().unwrap().join(TE));
    let mut c = sim.client();
    let cards = call(&mut c, "card.list", json!({}));
    assert_eq!(cards["auto_assign_spans"], json!(false));
    assert_eq!(cards["cards"][1]["spans"][1], json!({"local": 2, "span": 5, "basechan": 100, "channels": 24, "name": "TE2/0/2", "type": "t1"}));
    let st = call(&mut c, "status", json!({}));
    let spans: Vec<i64> = st["spans"].as_array().unwrap().iter().map(|s| s["span"].as_i64().unwrap()).collect();
    assert_eq!(spans, [1, 2, 5]);
    assert_eq!(call(&mut c, "chan.get", json!({"chan": 100}))["span"], json!(5));
    assert!(c.call("chan.get", json!({"chan": 50})).is_err(), "channel 50 does not exist");

    // ---- an open channel of span 5, then span 5 is unassigned.
    chanconfig(&ctl, 100, d::DAHDI_SIG_CLEAR);
    let ch = open_rw(&sim.mount.join("chan/005/001"), true).expect("open chan/005/001");
    let p = get_params(&ch, 0).expect("GET_PARAMS on the open channel");
    assert_eq!(p.channo, 100);
    assert_eq!(sim.write(&format!("{TE}/unassign_span"), "2"), Ok(()));
    assert_eq!(sim.write(&format!("{TE}/unassign_span"), "2"), Err(libc::EINVAL), "already unassigned");
    assert_eq!(read_raw(&ch, 160), Err(libc::ENODEV));
    assert_eq!(write_raw(&ch, &[0xff; 160]), Err(libc::ENODEV));
    assert_eq!(get_params(&ch, 0).err(), Some(Errno::ENODEV));
    assert_eq!(errno_of_nix(spanstat(&ctl, 5)), Some(Errno::EINVAL));
    assert_eq!(errno_of_nix(get_params(&ctl, 100)), Some(Errno::EINVAL));
    assert_eq!(sim.chan_dirs(), ["001", "002"]);
    assert!(!sim.sys(&span5).exists());
    assert!(!sim.sys("bus/dahdi_spans/devices/span-5").exists());
    assert_eq!({ spanstat(&ctl, 1).unwrap().totalspans }, 2);

    // ---- assigned again elsewhere: the old file stays cut off, a new open works.
    assert_eq!(sim.write(&format!("{TE}/assign_span"), "2:7:200"), Ok(()));
    assert_eq!(get_params(&ctl, 200).expect("GET_PARAMS 200").spanno, 7);
    assert_eq!(read_raw(&ch, 160), Err(libc::ENODEV), "the old file is not re-attached");
    assert_eq!(get_params(&ctl, 200).unwrap().sigtype, 0, "unassignment unconfigured the channels");
    chanconfig(&ctl, 200, d::DAHDI_SIG_CLEAR);
    let ch2 = open_rw(&sim.mount.join("chan/007/001"), true).expect("open chan/007/001");
    assert_eq!(get_params(&ch2, 0).unwrap().channo, 200);
    assert_eq!(sim.read(&format!("{TE}/span-7/basechan")), "200\n");
    drop(ch2);
    drop(ch);

    // ---- a card unplugged and plugged in again (auto_assign_spans=0: it comes back unassigned).
    call(&mut c, "card.unplug", json!({"card": 2}));
    assert!(!sim.sys(TE).exists());
    assert!(!sim.sys("bus/dahdi_devices/devices/pci:0000:00:02.0").exists());
    assert_eq!(sim.chan_dirs(), ["001"]);
    assert!(c.call("card.unplug", json!({"card": 2})).unwrap_err().to_string().contains("already unplugged"));
    call(&mut c, "card.plug", json!({"card": 2}));
    assert_eq!(sim.read(&format!("{TE}/spantype")), "1:T1\n2:T1\n");
    assert_eq!(sim.chan_dirs(), ["001"]);
    let rt2 = sim.read(&format!("{TE}/registration_time"));
    assert!(rt2 > rt, "registration_time moves on: {rt} then {rt2}");
    // Writing auto_assign_spans=1 only matters for later registrations.
    assert_eq!(sim.write("module/dahdi/parameters/auto_assign_spans", "1"), Ok(()));
    call(&mut c, "card.unplug", json!({"card": 2}));
    call(&mut c, "card.plug", json!({"card": 2}));
    let st = call(&mut c, "status", json!({}));
    let spans: Vec<i64> = st["spans"].as_array().unwrap().iter().map(|s| s["span"].as_i64().unwrap()).collect();
    assert_eq!(spans, [1, 2, 3], "auto-assigned at the first free places");
    assert_eq!(get_params(&ctl, 5).expect("GET_PARAMS 5").spanno, 2);
    let log = sim.log_text();
    assert!(log.contains("uevent") && log.contains("dahdi_spans"), "uevents are logged:\n{log}");
}
