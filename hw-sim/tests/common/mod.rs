//! Test harness: a real `tandem-sim` process mounted on a fresh temp dir,
//! driven through real syscalls on its device files and through the control
//! socket.
//!
//! Every wait here is bounded: the mount wait (10 s), the shutdown wait
//! (5 s), event waits (explicit timeouts) and, as a last resort, a watchdog
//! that SIGKILLs the simulator if a test runs for more than
//! [`WATCHDOG`], which makes every pending FUSE request and control-socket
//! read fail instead of hanging.

#![allow(dead_code)]

use std::fs::{File, OpenOptions};
use std::os::fd::AsRawFd;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

pub use dahdi_sys as d;
pub use dahdi_sys::ioctl as rq;
pub use hw_sim::client::Client;
pub use nix::errno::Errno;
pub use serde_json::{Value, json};

/// A test that takes longer than this gets its simulator killed.
pub const WATCHDOG: Duration = Duration::from_secs(90);

/// A running simulator. Dropping it stops the process (SIGTERM, then
/// SIGKILL) and makes sure the mount is gone.
pub struct Sim {
    child: Option<Child>,
    watchdog: Option<mpsc::Sender<()>>,
    /// The mount point (the DAHDI device directory).
    pub mount: PathBuf,
    /// The control socket path.
    pub control: PathBuf,
    pub log: PathBuf,
    dir: tempfile::TempDir,
}

impl Sim {
    /// Start `tandem-sim` with this TOML and wait (at most 10 s) until its
    /// files are mounted and its control socket answers.
    pub fn start(toml: &str) -> Sim {
        let dir = tempfile::Builder::new().prefix("tsim-").tempdir().expect("temp dir");
        let root = dir.path().canonicalize().expect("canonical temp dir");
        let mount = root.join("dahdi");
        std::fs::create_dir(&mount).expect("mount dir");
        let control = root.join("ctl.sock");
        let cfg = root.join("sim.toml");
        std::fs::write(&cfg, toml).expect("write config");
        let log = root.join("sim.log");
        let out = File::create(&log).expect("log file");
        let child = Command::new(env!("CARGO_BIN_EXE_tandem-sim"))
            .arg("--config")
            .arg(&cfg)
            .arg("--mount")
            .arg(&mount)
            .arg("--control")
            .arg(&control)
            .arg("--log")
            .arg("warn")
            .stdin(Stdio::null())
            .stdout(out.try_clone().expect("dup log"))
            .stderr(out)
            .spawn()
            .expect("spawn tandem-sim");
        let pid = child.id() as i32;
        let (tx, rx) = mpsc::channel::<()>();
        std::thread::spawn(move || {
            if let Err(mpsc::RecvTimeoutError::Timeout) = rx.recv_timeout(WATCHDOG) {
                eprintln!("watchdog: test ran longer than {WATCHDOG:?}; killing tandem-sim {pid}");
                let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), nix::sys::signal::SIGKILL);
            }
        });
        let mut sim = Sim { child: Some(child), watchdog: Some(tx), mount, control, log, dir };
        sim.wait_ready(Duration::from_secs(10));
        sim
    }

    fn wait_ready(&mut self, limit: Duration) {
        let deadline = Instant::now() + limit;
        loop {
            if let Some(st) = self.child.as_mut().and_then(|c| c.try_wait().ok().flatten()) {
                panic!("tandem-sim exited early with {st}; log:\n{}", self.log_text());
            }
            let pinged = || Client::connect(&self.control).is_ok_and(|mut c| c.call("ping", json!({})).is_ok());
            if is_mounted(&self.mount) && pinged() {
                return;
            }
            if Instant::now() >= deadline {
                panic!("tandem-sim not ready after {limit:?}; log:\n{}", self.log_text());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// The simulator's log so far.
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// The simulator's process id, while it runs.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// A new control connection.
    pub fn client(&self) -> Client {
        Client::connect(&self.control).expect("connect control socket")
    }

    /// A path under the mount.
    pub fn path(&self, rel: &str) -> PathBuf {
        self.mount.join(rel)
    }

    /// `chan/SSS/CCC`.
    pub fn chan_path(&self, span: u32, pos: u32) -> PathBuf {
        self.mount.join(format!("chan/{span:03}/{pos:03}"))
    }

    pub fn open(&self, rel: &str) -> File {
        open_rw(&self.path(rel), false).unwrap_or_else(|e| panic!("open {rel}: {e}"))
    }

    pub fn ctl(&self) -> File {
        self.open("ctl")
    }

    /// Open `chan/SSS/CCC`.
    pub fn open_chan(&self, span: u32, pos: u32) -> File {
        self.try_open_chan(span, pos, false).unwrap_or_else(|e| panic!("open chan {span}/{pos}: {e}"))
    }

    pub fn open_chan_nonblock(&self, span: u32, pos: u32) -> File {
        self.try_open_chan(span, pos, true).unwrap_or_else(|e| panic!("open chan {span}/{pos} O_NONBLOCK: {e}"))
    }

    pub fn try_open_chan(&self, span: u32, pos: u32, nonblock: bool) -> std::io::Result<File> {
        open_rw(&self.chan_path(span, pos), nonblock)
    }

    /// Stop the simulator with SIGTERM and return its exit status (SIGKILL
    /// after 5 s). A clean exit unmounts; Drop checks and falls back to
    /// `umount -l`.
    pub fn stop(&mut self) -> Option<ExitStatus> {
        let mut child = self.child.take()?;
        // This wait is bounded by itself; stop the watchdog before the child
        // is reaped so that it can never signal a reused pid.
        self.watchdog.take();
        let pid = nix::unistd::Pid::from_raw(child.id() as i32);
        let _ = nix::sys::signal::kill(pid, nix::sys::signal::SIGTERM);
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            match child.try_wait() {
                Ok(Some(st)) => break Some(st),
                Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(20)),
                _ => {
                    eprintln!("tandem-sim did not exit within 5 s of SIGTERM; killing it. Log:\n{}", self.log_text());
                    let _ = child.kill();
                    break child.wait().ok();
                }
            }
        }
    }
}

impl Drop for Sim {
    fn drop(&mut self) {
        self.stop();
        self.watchdog.take();
        if is_mounted(&self.mount) {
            let _ = Command::new("umount").arg("-l").arg(&self.mount).stderr(Stdio::null()).status();
            let deadline = Instant::now() + Duration::from_secs(2);
            while is_mounted(&self.mount) && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(20));
            }
        }
    }
}

/// Whether `path` is a mount point (per /proc/self/mountinfo).
pub fn is_mounted(path: &Path) -> bool {
    let Ok(info) = std::fs::read_to_string("/proc/self/mountinfo") else { return false };
    let want = path.to_string_lossy();
    info.lines().any(|l| l.split(' ').nth(4).is_some_and(|m| unescape_mountinfo(m) == want))
}

fn unescape_mountinfo(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\' && i + 3 < b.len() && b[i + 1..i + 4].iter().all(|c| (b'0'..=b'7').contains(c)) {
            out.push((b[i + 1] - b'0') * 64 + (b[i + 2] - b'0') * 8 + (b[i + 3] - b'0'));
            i += 4;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

pub fn open_rw(path: &Path, nonblock: bool) -> std::io::Result<File> {
    let mut o = OpenOptions::new();
    o.read(true).write(true);
    if nonblock {
        o.custom_flags(libc::O_NONBLOCK);
    }
    o.open(path)
}

/// The errno of an io::Error.
pub fn errno_of(e: &std::io::Error) -> Errno {
    Errno::from_raw(e.raw_os_error().unwrap_or(0))
}

// ---- configuration ioctls ---------------------------------------------

pub fn cstr_to_string(b: &[std::os::raw::c_char]) -> String {
    b.iter().take_while(|&&c| c != 0).map(|&c| c as u8 as char).collect()
}

pub fn chanconfig_full(ctl: &File, chan: i32, sigtype: u32, idlebits: i32) -> nix::Result<i32> {
    let mut cc = d::dahdi_chanconfig { chan, sigtype: sigtype as i32, idlebits, ..Default::default() };
    cc.deflaw = 0;
    // SAFETY: ctl is an open DAHDI control file; cc is a valid dahdi_chanconfig.
    unsafe { rq::chanconfig(ctl.as_raw_fd(), &cc) }
}

/// DAHDI_CHANCONFIG through `ctl`, as dahdi_cfg does.
pub fn chanconfig(ctl: &File, chan: i32, sigtype: u32) {
    chanconfig_full(ctl, chan, sigtype, 0).unwrap_or_else(|e| panic!("CHANCONFIG chan {chan} sig {sigtype:#x}: {e}"));
}

pub fn spanconfig(ctl: &File, span: i32, lineconfig: u32, sync: i32) -> nix::Result<i32> {
    let lc = d::dahdi_lineconfig { span, lineconfig: lineconfig as i32, sync, lbo: 0, ..Default::default() };
    // SAFETY: valid fd and struct.
    unsafe { rq::spanconfig(ctl.as_raw_fd(), &lc) }
}

pub fn startup(ctl: &File, span: i32) -> nix::Result<i32> {
    // SAFETY: valid fd; the int is read by the kernel.
    unsafe { rq::startup(ctl.as_raw_fd(), &span) }
}

/// SPANCONFIG (ESF/B8ZS) and STARTUP for a T1 span, with `sigs` applied
/// with CHANCONFIG in between, as dahdi_cfg orders them.
pub fn setup_t1(ctl: &File, span: i32, sigs: &[(i32, u32, i32)]) {
    spanconfig(ctl, span, d::DAHDI_CONFIG_ESF | d::DAHDI_CONFIG_B8ZS, span).expect("SPANCONFIG");
    for &(chan, sig, idle) in sigs {
        chanconfig_full(ctl, chan, sig, idle).unwrap_or_else(|e| panic!("CHANCONFIG chan {chan}: {e}"));
    }
    startup(ctl, span).expect("STARTUP");
}

pub fn spanstat(fd: &File, span: i32) -> nix::Result<d::dahdi_spaninfo> {
    let mut si = d::dahdi_spaninfo { spanno: span, ..Default::default() };
    // SAFETY: valid fd and struct.
    unsafe { rq::spanstat(fd.as_raw_fd(), &mut si) }?;
    Ok(si)
}

pub fn get_params(fd: &File, channo: i32) -> nix::Result<d::dahdi_params> {
    let mut p = d::dahdi_params { channo, ..Default::default() };
    // SAFETY: valid fd and struct.
    unsafe { rq::get_params(fd.as_raw_fd(), &mut p) }?;
    Ok(p)
}

// ---- channel ioctls ---------------------------------------------------

pub fn hook(fd: &File, what: u32) -> nix::Result<i32> {
    let j = what as i32;
    // SAFETY: valid fd; int argument by pointer.
    unsafe { rq::hook(fd.as_raw_fd(), &j) }
}

pub fn getevent(fd: &File) -> i32 {
    let mut e: i32 = -1;
    // SAFETY: valid fd; int result by pointer.
    unsafe { rq::getevent(fd.as_raw_fd(), &mut e) }.expect("GETEVENT");
    e
}

pub fn iomux(fd: &File, mask: u32) -> nix::Result<i32> {
    let mut m = mask as i32;
    // SAFETY: valid fd; int in/out by pointer.
    unsafe { rq::iomux(fd.as_raw_fd(), &mut m) }?;
    Ok(m)
}

pub fn get_bufinfo(fd: &File) -> d::dahdi_bufferinfo {
    let mut b = d::dahdi_bufferinfo::default();
    // SAFETY: valid fd and struct.
    unsafe { rq::get_bufinfo(fd.as_raw_fd(), &mut b) }.expect("GET_BUFINFO");
    b
}

pub fn set_bufinfo(fd: &File, b: &d::dahdi_bufferinfo) -> nix::Result<i32> {
    // SAFETY: valid fd and struct.
    unsafe { rq::set_bufinfo(fd.as_raw_fd(), b) }
}

pub fn set_blocksize(fd: &File, n: i32) -> nix::Result<i32> {
    // SAFETY: valid fd; int by pointer.
    unsafe { rq::set_blocksize(fd.as_raw_fd(), &n) }
}

pub fn get_blocksize(fd: &File) -> i32 {
    let mut n = 0;
    // SAFETY: valid fd; int by pointer.
    unsafe { rq::get_blocksize(fd.as_raw_fd(), &mut n) }.expect("GET_BLOCKSIZE");
    n
}

pub fn dial(fd: &File, op: u32, s: &str) -> nix::Result<i32> {
    let mut o = d::dahdi_dialoperation { op: op as i32, ..Default::default() };
    for (i, b) in s.bytes().enumerate() {
        o.dialstr[i] = b as std::os::raw::c_char;
    }
    // SAFETY: valid fd and struct.
    unsafe { rq::dial(fd.as_raw_fd(), &o) }
}

pub fn set_cadence(fd: &File, cadence: &[i32]) -> nix::Result<i32> {
    let mut rc = d::dahdi_ring_cadence::default();
    rc.ringcadence[..cadence.len()].copy_from_slice(cadence);
    // SAFETY: valid fd and struct.
    unsafe { rq::setcadence(fd.as_raw_fd(), &rc) }
}

// ---- raw read / write ---------------------------------------------------

/// ELAST: read/write refused because an event is pending.
pub const ELAST: i32 = d::ELAST as i32;

fn last_errno() -> i32 {
    std::io::Error::last_os_error().raw_os_error().unwrap_or(0)
}

/// read(2) into a buffer of `n` bytes; Err is the raw errno (ELAST is not a
/// nix Errno).
pub fn read_raw(fd: &File, n: usize) -> Result<Vec<u8>, i32> {
    let mut buf = vec![0u8; n];
    // SAFETY: buf is valid for n bytes.
    let r = unsafe { libc::read(fd.as_raw_fd(), buf.as_mut_ptr().cast(), n) };
    if r < 0 {
        return Err(last_errno());
    }
    buf.truncate(r as usize);
    Ok(buf)
}

/// write(2); Err is the raw errno.
pub fn write_raw(fd: &File, data: &[u8]) -> Result<usize, i32> {
    // SAFETY: data is valid for its length.
    let r = unsafe { libc::write(fd.as_raw_fd(), data.as_ptr().cast(), data.len()) };
    if r < 0 { Err(last_errno()) } else { Ok(r as usize) }
}

/// A blocking read(2), retried when the simulator's hold limit answers it
/// with EINTR, until `timeout`.
pub fn read_block(fd: &File, n: usize, timeout: Duration) -> Result<Vec<u8>, i32> {
    let deadline = Instant::now() + timeout;
    loop {
        match read_raw(fd, n) {
            Err(libc::EINTR) if Instant::now() < deadline => continue,
            r => return r,
        }
    }
}

/// A blocking write(2), retried on EINTR until `timeout`.
pub fn write_block(fd: &File, data: &[u8], timeout: Duration) -> Result<usize, i32> {
    let deadline = Instant::now() + timeout;
    loop {
        match write_raw(fd, data) {
            Err(libc::EINTR) if Instant::now() < deadline => continue,
            r => return r,
        }
    }
}

/// Read audio for `dur`, consuming events when read() reports ELAST.
/// Returns the bytes read and the events seen with their time from the start.
pub fn read_audio(fd: &File, dur: Duration) -> (Vec<u8>, Vec<(i32, Duration)>) {
    let start = Instant::now();
    let mut audio = Vec::new();
    let mut events = Vec::new();
    while start.elapsed() < dur {
        match read_raw(fd, 1024) {
            Ok(b) => audio.extend_from_slice(&b),
            Err(ELAST) => {
                let ev = getevent(fd);
                if ev != 0 {
                    events.push((ev, start.elapsed()));
                }
            }
            Err(libc::EINTR) | Err(libc::EAGAIN) => std::thread::sleep(Duration::from_millis(2)),
            Err(e) => panic!("read: {}", Errno::from_raw(e)),
        }
    }
    (audio, events)
}

// ---- events --------------------------------------------------------------

/// Poll GETEVENT until an event arrives or `timeout` passes.
pub fn wait_event(fd: &File, timeout: Duration) -> Option<i32> {
    let deadline = Instant::now() + timeout;
    loop {
        let e = getevent(fd);
        if e != 0 {
            return Some(e);
        }
        if Instant::now() >= deadline {
            return None;
        }
        std::thread::sleep(Duration::from_millis(2));
    }
}

/// Wait for the next event and check it is `want`; returns when it came.
pub fn expect_event(fd: &File, want: u32, timeout: Duration) -> Instant {
    match wait_event(fd, timeout) {
        Some(e) if e == want as i32 => Instant::now(),
        Some(e) => panic!("expected {} but got {}", ev_name(want as i32), ev_name(e)),
        None => panic!("expected {} within {timeout:?}, got nothing", ev_name(want as i32)),
    }
}

/// All events during `dur`, with their arrival time measured from `start`.
pub fn collect_events(fd: &File, start: Instant, dur: Duration) -> Vec<(i32, Duration)> {
    let end = Instant::now() + dur;
    let mut v = Vec::new();
    while Instant::now() < end {
        let e = getevent(fd);
        if e != 0 {
            v.push((e, start.elapsed()));
        } else {
            std::thread::sleep(Duration::from_millis(2));
        }
    }
    v
}

/// Check that no event arrives during `dur`.
pub fn expect_no_event(fd: &File, dur: Duration) {
    if let Some(e) = wait_event(fd, dur) {
        panic!("expected no event, got {}", ev_name(e));
    }
}

/// Discard pending events.
pub fn drain_events(fd: &File) -> Vec<i32> {
    let mut v = Vec::new();
    for _ in 0..100 {
        match getevent(fd) {
            0 => break,
            e => v.push(e),
        }
    }
    v
}

pub fn names(evs: &[(i32, Duration)]) -> Vec<String> {
    evs.iter().map(|(e, t)| format!("{}@{}ms", ev_name(*e), t.as_millis())).collect()
}

/// A readable name for a DAHDI event.
pub fn ev_name(e: i32) -> String {
    let e = e as u32;
    if e & d::DAHDI_EVENT_PULSEDIGIT != 0 {
        return format!("PULSEDIGIT|'{}'", (e & 0xff) as u8 as char);
    }
    if e & d::DAHDI_EVENT_DTMFDOWN != 0 {
        return format!("DTMFDOWN|'{}'", (e & 0xff) as u8 as char);
    }
    if e & d::DAHDI_EVENT_DTMFUP != 0 {
        return format!("DTMFUP|'{}'", (e & 0xff) as u8 as char);
    }
    let n = match e {
        d::DAHDI_EVENT_NONE => "NONE",
        d::DAHDI_EVENT_ONHOOK => "ONHOOK",
        d::DAHDI_EVENT_RINGOFFHOOK => "RINGOFFHOOK",
        d::DAHDI_EVENT_WINKFLASH => "WINKFLASH",
        d::DAHDI_EVENT_ALARM => "ALARM",
        d::DAHDI_EVENT_NOALARM => "NOALARM",
        d::DAHDI_EVENT_ABORT => "ABORT",
        d::DAHDI_EVENT_OVERRUN => "OVERRUN",
        d::DAHDI_EVENT_BADFCS => "BADFCS",
        d::DAHDI_EVENT_DIALCOMPLETE => "DIALCOMPLETE",
        d::DAHDI_EVENT_RINGERON => "RINGERON",
        d::DAHDI_EVENT_RINGEROFF => "RINGEROFF",
        d::DAHDI_EVENT_HOOKCOMPLETE => "HOOKCOMPLETE",
        d::DAHDI_EVENT_BITSCHANGED => "BITSCHANGED",
        d::DAHDI_EVENT_PULSE_START => "PULSE_START",
        d::DAHDI_EVENT_TIMER_EXPIRED => "TIMER_EXPIRED",
        d::DAHDI_EVENT_TIMER_PING => "TIMER_PING",
        d::DAHDI_EVENT_POLARITY => "POLARITY",
        d::DAHDI_EVENT_RINGBEGIN => "RINGBEGIN",
        d::DAHDI_EVENT_REMOVED => "REMOVED",
        _ => return format!("event {e}"),
    };
    n.to_string()
}

// ---- control socket ------------------------------------------------------

/// A control call that must succeed.
pub fn call(c: &mut Client, op: &str, args: Value) -> Value {
    c.call(op, args).unwrap_or_else(|e| panic!("control {op}: {e}"))
}

/// Poll a control query until `pred` holds or `timeout` passes; returns the last reply.
pub fn wait_until(c: &mut Client, op: &str, args: Value, timeout: Duration, pred: impl Fn(&Value) -> bool) -> Value {
    let deadline = Instant::now() + timeout;
    loop {
        let v = call(c, op, args.clone());
        if pred(&v) || Instant::now() >= deadline {
            return v;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

// ---- audio ------------------------------------------------------------------

pub fn mulaw_decode(b: &[u8]) -> Vec<i16> {
    b.iter().map(|&x| tandem_dsp::g711::Law::Mulaw.decode(x)).collect()
}

pub fn mulaw_tone(freq: f32, amplitude: f32, n: usize, phase0: usize) -> Vec<u8> {
    (0..n)
        .map(|i| {
            let t = (i + phase0) as f32 / 8000.0;
            let s = (amplitude * (std::f32::consts::TAU * freq * t).sin()) as i16;
            tandem_dsp::g711::Law::Mulaw.encode(s)
        })
        .collect()
}

/// The FCS-16 (CRC-16/X.25) of `data`, computed independently of the simulator.
pub fn crc16_x25(data: &[u8]) -> u16 {
    let mut crc: u16 = 0xffff;
    for &b in data {
        let mut x = (crc ^ u16::from(b)) & 0xff;
        for _ in 0..8 {
            x = if x & 1 != 0 { (x >> 1) ^ 0x8408 } else { x >> 1 };
        }
        crc = (crc >> 8) ^ x;
    }
    !crc
}
