//! Capacity benchmark of tandem-sim: how many clear channels can one media
//! pump drive through the FUSE device files in real time without overruns?
//!
//! Run with `cargo bench -p hw-sim --bench capacity` (as root: it mounts FUSE).
//! It builds `tandem-sim` in release mode first, then for each size N (24,
//! 240, 512, 1024 channels; DAHDI's maximum is 1024):
//!
//! 1. writes a sim TOML in which every benchmarked channel carries audio:
//!    spans are cross-connected in pairs (`far_end = "cross"`), E1 pairs (2×31
//!    channels) and T1 pairs (2×24), choosing the smallest total ≥ N. Both
//!    ends of a cross-connect are opened with the same timeslot numbers, so
//!    N/2 timeslots of each pair direction are benchmarked. The sizes used:
//!
//!    | N    | spans                        | channels in the sim |
//!    |------|------------------------------|---------------------|
//!    | 24   | 1 T1 pair (12+12 open)       | 48                  |
//!    | 240  | 5 T1 pairs                   | 240                 |
//!    | 512  | 6 E1 pairs + 3 T1 pairs      | 516 (4 left closed) |
//!    | 1024 | 8 E1 pairs + 11 T1 pairs     | 1024 (38 spans)     |
//!
//!    (33 E1 spans would leave one span unpaired, in red alarm with no audio.)
//! 2. starts tandem-sim on a temporary mount;
//! 3. configures the spans (SPANCONFIG, STARTUP) and the channels
//!    (CHANCONFIG, DAHDI_SIG_CLEAR) through `ctl`, opens the N channel files
//!    with O_NONBLOCK and sets a 160-byte block size (20 ms);
//! 4. runs a media pump on one thread: epoll (level-triggered, EPOLLIN) on
//!    all N fds; for each readable fd read one 160-byte block and write one
//!    160-byte block back (each channel is primed with one block so the
//!    transmit side has 20 ms of slack);
//! 5. after a warm-up, measures for a fixed time and prints a table.
//!
//! What is measured (in the measurement window only):
//! * blocks read vs. expected (window × 50 × N) and the shortfall;
//! * overruns: every written stream carries a sample counter (values 0..211,
//!   never the mu-law/A-law silence bytes 0xFF/0xD5), so the reader sees a
//!   jump when bytes were lost (a receive overrun or a dropped block) and
//!   silence when the writer's transmit queue ran dry (a transmit underrun);
//!   plus GET_BUFINFO sampled round-robin (every channel once a second)
//!   counting samples where all receive buffers were full (readbufs == numbufs);
//! * lateness of each block: its read time against the channel's ideal
//!   20 ms grid (anchored on the earliest-phase block), p50/p99/max;
//! * CPU of the simulator (all threads, and per thread) and of the client,
//!   from /proc/<pid>/stat utime+stime.
//!
//! Then an in-process micro-benchmark of the model alone (no FUSE): the same
//! configuration built with `SimConfig::build`, the channels configured and
//! opened through the model API, and `Dahdi::tick` timed, together with the
//! per-tick `State::service` and the per-20 ms reads/writes a pump causes.
//!
//! Nothing is asserted: figures are printed. The process exits non-zero only
//! on hard errors (cannot build or start the simulator, cannot configure).
//!
//! Environment knobs: `CAPACITY_SIZES=24,240,512,1024`, `CAPACITY_SECS=10`
//! (measurement window per size), `CAPACITY_WARMUP=2`, `CAPACITY_PUMP=timer`
//! (the default: no poll at all, a 1 ms timer reads each channel once per
//! 20 ms at the phase it learned), `level` (level-triggered epoll) or `edge`
//! (EPOLLET, reading until EAGAIN; also `CAPACITY_EPOLLET=1`),
//! `CAPACITY_NUMBUFS=n` (SET_BUFINFO with n buffers; default 4, as chan_dahdi
//! uses; 0 keeps DAHDI's default of 2), `CAPACITY_CPU=0` (pin the pump and
//! the simulator to this CPU; `none` to not pin), `CAPACITY_FUSE_THREADS=1`,
//! `CAPACITY_MICRO_ONLY=1`, `CAPACITY_NO_MICRO=1`, `CAPACITY_SIM=<path>`
//! (use this simulator binary, do not build).

use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::os::fd::AsRawFd;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use dahdi_sys as d;
use dahdi_sys::ioctl as rq;

const BLOCK: usize = 160;
const BLOCK_US: u64 = 20_000;
/// The written pattern cycles through 0..PATTERN (a prime, so that dropping
/// whole 160-byte blocks always shows), never reaching 0xD5 or 0xFF.
const PATTERN: u32 = 211;
const ELAST: i32 = d::ELAST as i32;

// ---------------------------------------------------------------------------
// Configuration layout

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Kind {
    E1,
    T1,
}

impl Kind {
    fn chans(self) -> u32 {
        match self {
            Kind::E1 => 31,
            Kind::T1 => 24,
        }
    }
    fn name(self) -> &'static str {
        match self {
            Kind::E1 => "e1",
            Kind::T1 => "t1",
        }
    }
    fn lineconfig(self) -> i32 {
        match self {
            Kind::E1 => (d::DAHDI_CONFIG_HDB3 | d::DAHDI_CONFIG_CCS | d::DAHDI_CONFIG_CRC4) as i32,
            Kind::T1 => (d::DAHDI_CONFIG_ESF | d::DAHDI_CONFIG_B8ZS) as i32,
        }
    }
}

/// One benchmarked channel.
#[derive(Clone, Copy, Debug)]
struct ChanRef {
    spanno: u32,
    pos: u32,
    channo: u32,
}

/// The simulated system for one size.
struct Layout {
    /// Span kinds in span-number order; spans 2k+1 and 2k+2 are cross-connected.
    spans: Vec<Kind>,
    /// The channels to open (both ends of each used timeslot).
    open: Vec<ChanRef>,
    total_chans: u32,
}

impl Layout {
    /// Smallest set of cross-connected E1/T1 pairs holding `n` channels
    /// (n even, at most 1024).
    fn for_size(n: u32) -> Layout {
        assert!(n >= 2 && n & 1 == 0 && n <= 1024, "size must be even, 2..=1024");
        let mut best: Option<(u32, u32, u32)> = None; // (capacity, spans, e1 pairs)
        for e1 in 0..=16u32 {
            for t1 in 0..=21u32 {
                let cap = e1 * 62 + t1 * 48;
                if cap < n || cap > 1024 {
                    continue;
                }
                let key = (cap, 2 * (e1 + t1), e1);
                if best.is_none_or(|b| (key.0, key.1) < (b.0, b.1)) {
                    best = Some(key);
                }
            }
        }
        let (cap, nspans, e1_pairs) = best.expect("no layout");
        let t1_pairs = nspans / 2 - e1_pairs;
        let mut spans = Vec::new();
        for _ in 0..e1_pairs {
            spans.extend([Kind::E1, Kind::E1]);
        }
        for _ in 0..t1_pairs {
            spans.extend([Kind::T1, Kind::T1]);
        }
        let mut first = Vec::new();
        let mut c = 1;
        for k in &spans {
            first.push(c);
            c += k.chans();
        }
        let mut open = Vec::new();
        let mut left = n / 2; // timeslots still to open, per direction
        for p in 0..spans.len() / 2 {
            let (a, b) = (2 * p, 2 * p + 1);
            let take = left.min(spans[a].chans());
            for pos in 1..=take {
                open.push(ChanRef { spanno: a as u32 + 1, pos, channo: first[a] + pos - 1 });
                open.push(ChanRef { spanno: b as u32 + 1, pos, channo: first[b] + pos - 1 });
            }
            left -= take;
        }
        assert_eq!(open.len() as u32, n);
        Layout { spans, open, total_chans: cap }
    }

    fn describe(&self) -> String {
        let e1 = self.spans.iter().filter(|k| **k == Kind::E1).count() / 2;
        let t1 = self.spans.iter().filter(|k| **k == Kind::T1).count() / 2;
        format!("{e1} E1 pair(s) + {t1} T1 pair(s), {} spans, {} channels in the sim", self.spans.len(), self.total_chans)
    }

    fn toml(&self) -> String {
        let mut s = String::from("# generated by hw-sim/benches/capacity.rs\n[sim]\nhold_limit_ms = 1000\n");
        // One FUSE worker: with the pump on the same CPU it is the fastest.
        let threads = std::env::var("CAPACITY_FUSE_THREADS").unwrap_or_else(|_| "1".into());
        s.push_str(&format!("fuse_threads = {threads}\n"));
        for (i, k) in self.spans.iter().enumerate() {
            if i % 4 == 0 {
                s.push_str("\n[[card]]\nmodel = \"te420p\"\n");
            }
            let peer = if i % 2 == 0 { i + 2 } else { i };
            s.push_str(&format!("[[card.span]]\ntype = \"{}\"\nfar_end = \"cross\"\npeer = {peer}\n", k.name()));
        }
        s
    }
}

// ---------------------------------------------------------------------------
// Small helpers

fn env_u64(name: &str, default: u64) -> u64 {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn env_flag(name: &str) -> bool {
    std::env::var(name).is_ok_and(|v| !v.is_empty() && v != "0")
}

fn errno() -> i32 {
    std::io::Error::last_os_error().raw_os_error().unwrap_or(0)
}

fn clk_tck() -> f64 {
    // SAFETY: sysconf has no preconditions.
    let t = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if t > 0 { t as f64 } else { 100.0 }
}

/// utime + stime (clock ticks) from a /proc/.../stat file.
fn stat_ticks(path: &Path) -> Option<u64> {
    let s = std::fs::read_to_string(path).ok()?;
    let rest = &s[s.rfind(')')? + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    // After "pid (comm) ": state is field 3, utime field 14, stime field 15.
    Some(f.get(11)?.parse::<u64>().ok()? + f.get(12)?.parse::<u64>().ok()?)
}

/// Per-thread CPU ticks of a process: tid -> (name, ticks).
fn thread_ticks(pid: u32) -> HashMap<u32, (String, u64)> {
    let mut m = HashMap::new();
    let Ok(dir) = std::fs::read_dir(format!("/proc/{pid}/task")) else { return m };
    for e in dir.flatten() {
        let Some(tid) = e.file_name().to_str().and_then(|s| s.parse::<u32>().ok()) else { continue };
        let comm = std::fs::read_to_string(e.path().join("comm")).unwrap_or_default().trim().to_string();
        if let Some(t) = stat_ticks(&e.path().join("stat")) {
            m.insert(tid, (comm, t));
        }
    }
    m
}

fn raise_nofile() {
    let mut r = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: r is a valid rlimit to fill and then pass back.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut r) == 0 && r.rlim_cur < r.rlim_max {
            r.rlim_cur = r.rlim_max;
            libc::setrlimit(libc::RLIMIT_NOFILE, &r);
        }
    }
}

fn percentile(sorted: &[u32], p: f64) -> u32 {
    if sorted.is_empty() {
        return 0;
    }
    let i = ((sorted.len() - 1) as f64 * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

// ---------------------------------------------------------------------------
// The simulator process

fn target_dir() -> PathBuf {
    if let Ok(t) = std::env::var("CARGO_TARGET_DIR") {
        return PathBuf::from(t);
    }
    // .../target/release/deps/capacity-xxxx -> .../target
    let exe = std::env::current_exe().ok();
    if let Some(t) = exe.as_deref().and_then(Path::parent).and_then(Path::parent).and_then(Path::parent) {
        return t.to_path_buf();
    }
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target")
}

fn find_sim() -> Result<PathBuf, String> {
    if let Ok(p) = std::env::var("CAPACITY_SIM") {
        println!("simulator: {p} (CAPACITY_SIM)");
        return Ok(PathBuf::from(p));
    }
    println!("building tandem-sim: cargo build --release -p hw-sim --bin tandem-sim");
    let st = Command::new(env!("CARGO")).args(["build", "--release", "-p", "hw-sim", "--bin", "tandem-sim"]).current_dir(env!("CARGO_MANIFEST_DIR")).status();
    match st {
        Ok(s) if s.success() => {}
        Ok(s) => println!("warning: cargo build --release failed ({s}); looking for an existing binary"),
        Err(e) => println!("warning: cannot run cargo ({e}); looking for an existing binary"),
    }
    let t = target_dir();
    for profile in ["release", "debug"] {
        let p = t.join(profile).join("tandem-sim");
        if p.is_file() {
            println!("simulator: {} ({profile} build)", p.display());
            if profile == "debug" {
                println!("warning: debug simulator: figures are not representative");
            }
            return Ok(p);
        }
    }
    Err(format!("no tandem-sim under {}/{{release,debug}}", t.display()))
}

struct Sim {
    child: Option<Child>,
    mount: PathBuf,
    log: PathBuf,
    _dir: tempfile::TempDir,
}

impl Sim {
    fn start(bin: &Path, toml: &str) -> Result<Sim, String> {
        let dir = tempfile::Builder::new().prefix("tandem-capacity.").tempdir().map_err(|e| format!("tempdir: {e}"))?;
        let cfg = dir.path().join("sim.toml");
        let mount = dir.path().join("dahdi");
        let ctl = dir.path().join("control.sock");
        let log = dir.path().join("sim.log");
        std::fs::write(&cfg, toml).map_err(|e| format!("{}: {e}", cfg.display()))?;
        std::fs::create_dir_all(&mount).map_err(|e| format!("{}: {e}", mount.display()))?;
        let logf = File::create(&log).map_err(|e| format!("{}: {e}", log.display()))?;
        let child = Command::new(bin)
            .arg("--config")
            .arg(&cfg)
            .arg("--mount")
            .arg(&mount)
            .arg("--control")
            .arg(&ctl)
            .args(["--log", "warn"])
            .stdin(Stdio::null())
            .stdout(logf.try_clone().map_err(|e| e.to_string())?)
            .stderr(logf)
            .spawn()
            .map_err(|e| format!("cannot start {}: {e}", bin.display()))?;
        let mut sim = Sim { child: Some(child), mount, log, _dir: dir };
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            if sim.mount.join("ctl").exists() {
                return Ok(sim);
            }
            if let Some(st) = sim.child.as_mut().and_then(|c| c.try_wait().ok().flatten()) {
                sim.child = None;
                return Err(format!("tandem-sim exited ({st}) before mounting:\n{}", sim.log_text()));
            }
            if Instant::now() > deadline {
                return Err(format!("tandem-sim did not mount {} within 15 s:\n{}", sim.mount.display(), sim.log_text()));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn pid(&self) -> u32 {
        self.child.as_ref().map(|c| c.id()).unwrap_or(0)
    }

    fn alive(&mut self) -> bool {
        self.child.as_mut().is_some_and(|c| matches!(c.try_wait(), Ok(None)))
    }

    fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// SIGTERM, wait, then SIGKILL and a lazy unmount if needed.
    fn stop(&mut self) {
        let Some(mut child) = self.child.take() else { return };
        // SAFETY: kill(2) on the pid of the child we started.
        unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            match child.try_wait() {
                Ok(Some(_)) => return,
                Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(20)),
                _ => break,
            }
        }
        println!("warning: tandem-sim did not exit on SIGTERM; killing it and unmounting");
        let _ = child.kill();
        let _ = child.wait();
        let _ = Command::new("fusermount").arg("-u").arg("-z").arg(&self.mount).status();
    }
}

impl Drop for Sim {
    fn drop(&mut self) {
        self.stop();
    }
}

// ---------------------------------------------------------------------------
// Configuring through ctl

fn configure(mount: &Path, layout: &Layout) -> Result<(), String> {
    let ctl = OpenOptions::new().read(true).write(true).open(mount.join("ctl")).map_err(|e| format!("open ctl: {e}"))?;
    let fd = ctl.as_raw_fd();
    for (i, k) in layout.spans.iter().enumerate() {
        let lc = d::dahdi_lineconfig { span: i as i32 + 1, lineconfig: k.lineconfig(), sync: 0, ..Default::default() };
        // SAFETY: fd is the open ctl file; lc is a valid dahdi_lineconfig.
        unsafe { rq::spanconfig(fd, &lc) }.map_err(|e| format!("SPANCONFIG span {}: {e}", i + 1))?;
        let spanno: libc::c_int = i as i32 + 1;
        // SAFETY: as above; STARTUP reads one int.
        unsafe { rq::startup(fd, &spanno) }.map_err(|e| format!("STARTUP span {}: {e}", i + 1))?;
    }
    for c in &layout.open {
        let cc = d::dahdi_chanconfig { chan: c.channo as i32, sigtype: d::DAHDI_SIG_CLEAR as i32, ..Default::default() };
        // SAFETY: fd is the open ctl file; cc is a valid dahdi_chanconfig.
        unsafe { rq::chanconfig(fd, &cc) }.map_err(|e| format!("CHANCONFIG channel {}: {e}", c.channo))?;
    }
    Ok(())
}

// ---------------------------------------------------------------------------
// The pump

/// Per-channel pump state.
struct PumpChan {
    file: File,
    /// Next value of the written pattern.
    tx_next: u32,
    /// Next expected received value, once in step with the peer's stream.
    rx_expect: Option<u32>,
    /// Read times (µs since the window start) of blocks read in the window.
    times: Vec<u32>,
}

#[derive(Default, Clone, Copy)]
struct Counts {
    reads: u64,
    read_eagain: u64,
    read_elast: u64,
    read_err: u64,
    writes: u64,
    write_eagain: u64,
    write_err: u64,
    /// Discontinuities in the received pattern (bytes lost).
    gaps: u64,
    /// Blocks with at least one discontinuity.
    gap_blocks: u64,
    /// Silence bytes inside an established stream (the peer's transmit underran).
    underrun_bytes: u64,
    bufinfo_samples: u64,
    bufinfo_full: u64,
    epoll_waits: u64,
}

impl std::ops::Sub for Counts {
    type Output = Counts;
    fn sub(self, o: Counts) -> Counts {
        Counts {
            reads: self.reads - o.reads,
            read_eagain: self.read_eagain - o.read_eagain,
            read_elast: self.read_elast - o.read_elast,
            read_err: self.read_err - o.read_err,
            writes: self.writes - o.writes,
            write_eagain: self.write_eagain - o.write_eagain,
            write_err: self.write_err - o.write_err,
            gaps: self.gaps - o.gaps,
            gap_blocks: self.gap_blocks - o.gap_blocks,
            underrun_bytes: self.underrun_bytes - o.underrun_bytes,
            bufinfo_samples: self.bufinfo_samples - o.bufinfo_samples,
            bufinfo_full: self.bufinfo_full - o.bufinfo_full,
            epoll_waits: self.epoll_waits - o.epoll_waits,
        }
    }
}

struct RunResult {
    n: usize,
    secs: f64,
    c: Counts,
    late_p50: u32,
    late_p99: u32,
    late_max: u32,
    sim_cpu: f64,
    client_cpu: f64,
    sim_threads: Vec<(String, f64)>,
    setup_ms: u128,
    rt_us: (f64, f64),
}

impl RunResult {
    fn expected(&self) -> f64 {
        self.secs * 50.0 * self.n as f64
    }
    fn shortfall(&self) -> f64 {
        (self.expected() - self.c.reads as f64) / self.expected() * 100.0
    }
    fn verdict(&self) -> String {
        let mut why = Vec::new();
        if self.c.gaps > 0 {
            why.push(format!("{} gaps", self.c.gaps));
        }
        if self.c.bufinfo_full > 0 {
            why.push(format!("{} full-ring samples", self.c.bufinfo_full));
        }
        if self.shortfall() > 1.0 {
            why.push(format!("{:.1}% short", self.shortfall()));
        }
        if why.is_empty() { "no overrun".into() } else { format!("OVERRUN ({})", why.join(", ")) }
    }
    /// CPU time per block read, in µs, from a CPU percentage over the window.
    fn cpu_per_block(&self, pct: f64) -> f64 {
        pct / 100.0 * self.secs * 1e6 / self.c.reads.max(1) as f64
    }
    fn ok(&self) -> bool {
        self.verdict() == "no overrun"
    }
}

fn write_block(pc: &mut PumpChan, c: &mut Counts) {
    let mut buf = [0u8; BLOCK];
    for (k, b) in buf.iter_mut().enumerate() {
        *b = ((pc.tx_next + k as u32) % PATTERN) as u8;
    }
    // SAFETY: writing BLOCK bytes from a live buffer to an open fd.
    let r = unsafe { libc::write(pc.file.as_raw_fd(), buf.as_ptr().cast(), BLOCK) };
    if r == BLOCK as isize {
        pc.tx_next = (pc.tx_next + BLOCK as u32) % PATTERN;
        c.writes += 1;
    } else if r < 0 && errno() == libc::EAGAIN {
        c.write_eagain += 1;
    } else {
        c.write_err += 1;
    }
}

/// Check the received bytes against the peer's pattern.
fn check_block(pc: &mut PumpChan, data: &[u8], c: &mut Counts) {
    let mut gap = false;
    for &b in data {
        let v = u32::from(b);
        match pc.rx_expect {
            None => {
                if v < PATTERN {
                    pc.rx_expect = Some((v + 1) % PATTERN);
                }
            }
            Some(e) if v == e => pc.rx_expect = Some((v + 1) % PATTERN),
            Some(_) if v >= PATTERN => c.underrun_bytes += 1,
            Some(_) => {
                c.gaps += 1;
                gap = true;
                pc.rx_expect = Some((v + 1) % PATTERN);
            }
        }
    }
    if gap {
        c.gap_blocks += 1;
    }
}

/// Read up to `max` blocks from a channel (stopping at EAGAIN), writing one
/// block back for each block read. Returns the blocks read.
fn pump_chan(pc: &mut PumpChan, max: usize, buf: &mut [u8; BLOCK], c: &mut Counts, in_window: bool, win_start: Instant) -> usize {
    let mut got = 0;
    while got < max {
        // SAFETY: reading at most BLOCK bytes into buf from an open fd.
        let r = unsafe { libc::read(pc.file.as_raw_fd(), buf.as_mut_ptr().cast(), BLOCK) };
        if r > 0 {
            let t = Instant::now();
            c.reads += 1;
            got += 1;
            check_block(pc, &buf[..r as usize], c);
            if in_window && t >= win_start {
                pc.times.push((t - win_start).as_micros() as u32);
            }
            write_block(pc, c);
            continue;
        }
        let e = errno();
        if e == libc::EAGAIN {
            c.read_eagain += 1;
        } else if e == ELAST {
            c.read_elast += 1;
            let mut evn: libc::c_int = 0;
            // SAFETY: open channel fd; GETEVENT writes one int.
            let _ = unsafe { rq::getevent(pc.file.as_raw_fd(), &mut evn) };
            continue;
        } else {
            c.read_err += 1;
        }
        break;
    }
    got
}

/// The timer pump's knowledge of a channel's block phase.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Hunt {
    /// Unknown; the last look found data (or there was none yet).
    Start,
    /// Unknown; the last look (1 ms ago) found nothing.
    Missed,
    /// Known: read once per 20 ms, 1 ms after each block completes.
    Locked,
}

/// How the pump finds work.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Pump {
    /// epoll, level-triggered: one block per readable fd per wake.
    Level,
    /// epoll, edge-triggered: read until EAGAIN.
    Edge,
    /// No poll: a 1 ms timer, each channel read once per 20 ms at its learned phase.
    Timer,
}

impl Pump {
    fn describe(self) -> &'static str {
        match self {
            Pump::Level => "level-triggered epoll (EPOLLIN), one block per readable fd per wake",
            Pump::Edge => "edge-triggered epoll (EPOLLIN|EPOLLET), read until EAGAIN",
            Pump::Timer => "no poll: 1 ms timer, each channel read once per 20 ms at its learned phase",
        }
    }
}

fn run_size(bin: &Path, n: u32, warmup: Duration, window: Duration, pump: Pump, numbufs: Option<i32>) -> Result<RunResult, String> {
    let layout = Layout::for_size(n);
    println!("\n== {n} channels: {}", layout.describe());
    let mut sim = Sim::start(bin, &layout.toml())?;
    let pid = sim.pid();
    let t_setup = Instant::now();
    configure(&sim.mount, &layout)?;

    let mut chans = Vec::with_capacity(layout.open.len());
    for c in &layout.open {
        let path = sim.mount.join(format!("chan/{:03}/{:03}", c.spanno, c.pos));
        let file = OpenOptions::new().read(true).write(true).custom_flags(libc::O_NONBLOCK).open(&path).map_err(|e| format!("open {}: {e}", path.display()))?;
        let bs: libc::c_int = BLOCK as i32;
        // SAFETY: open channel fd; SET_BLOCKSIZE reads one int.
        unsafe { rq::set_blocksize(file.as_raw_fd(), &bs) }.map_err(|e| format!("SET_BLOCKSIZE channel {}: {e}", c.channo))?;
        if let Some(nb) = numbufs {
            let bi = d::dahdi_bufferinfo {
                txbufpolicy: d::DAHDI_POLICY_IMMEDIATE as i32,
                rxbufpolicy: d::DAHDI_POLICY_IMMEDIATE as i32,
                numbufs: nb,
                bufsize: BLOCK as i32,
                ..Default::default()
            };
            // SAFETY: open channel fd; bi is a valid dahdi_bufferinfo.
            unsafe { rq::set_bufinfo(file.as_raw_fd(), &bi) }.map_err(|e| format!("SET_BUFINFO channel {}: {e}", c.channo))?;
        }
        chans.push(PumpChan { file, tx_next: 0, rx_expect: None, times: Vec::with_capacity((window.as_secs() as usize + 1) * 51) });
    }

    // SAFETY: plain epoll syscalls on fds we own.
    let epfd = unsafe { libc::epoll_create1(libc::EPOLL_CLOEXEC) };
    if epfd < 0 {
        return Err(format!("epoll_create1: {}", std::io::Error::last_os_error()));
    }
    let epfd_guard = unsafe { <File as std::os::fd::FromRawFd>::from_raw_fd(epfd) };
    for (i, pc) in chans.iter().enumerate().filter(|_| pump != Pump::Timer) {
        let mut ev = libc::epoll_event { events: (libc::EPOLLIN | if pump == Pump::Edge { libc::EPOLLET } else { 0 }) as u32, u64: i as u64 };
        // SAFETY: valid epoll fd, valid channel fd, valid event.
        if unsafe { libc::epoll_ctl(epfd, libc::EPOLL_CTL_ADD, pc.file.as_raw_fd(), &mut ev) } < 0 {
            return Err(format!("epoll_ctl ADD: {}", std::io::Error::last_os_error()));
        }
    }
    // The floor: one synchronous FUSE round trip (GET_BUFINFO, the model does
    // almost nothing) and one poll(2) with no timeout (a FUSE_POLL request).
    let rt_us = {
        let fd = chans[0].file.as_raw_fd();
        let reps = 3000;
        let t = Instant::now();
        for _ in 0..reps {
            let mut bi = d::dahdi_bufferinfo::default();
            // SAFETY: open channel fd; bi valid for writes.
            let _ = unsafe { rq::get_bufinfo(fd, &mut bi) };
        }
        let ioctl_us = t.elapsed().as_secs_f64() * 1e6 / f64::from(reps);
        let t = Instant::now();
        for _ in 0..reps {
            let mut p = libc::pollfd { fd, events: libc::POLLIN, revents: 0 };
            // SAFETY: one valid pollfd.
            unsafe { libc::poll(&mut p, 1, 0) };
        }
        let poll_us = t.elapsed().as_secs_f64() * 1e6 / f64::from(reps);
        (ioctl_us, poll_us)
    };
    println!(
        "   FUSE round trip, serial from one thread: ioctl {:.1} µs, poll {:.1} µs  => one pump thread tops out near {:.0} channels at 4 round trips per block (epoll: 2 polls, read, write), {:.0} at 2 (no poll)",
        rt_us.0,
        rt_us.1,
        1e6 / ((2.0 * rt_us.1 + 2.0 * rt_us.0) * 50.0),
        1e6 / (2.0 * rt_us.0 * 50.0)
    );

    let mut c = Counts::default();
    // Prime each transmit queue with one block of slack.
    for pc in chans.iter_mut() {
        write_block(pc, &mut c);
    }
    let setup_ms = t_setup.elapsed().as_millis();

    let tck = clk_tck();
    let self_stat = PathBuf::from("/proc/self/stat");
    let sim_stat = PathBuf::from(format!("/proc/{pid}/stat"));
    let mut events = vec![libc::epoll_event { events: 0, u64: 0 }; chans.len()];
    let mut buf = [0u8; BLOCK];
    let start = Instant::now();
    let win_start = start + warmup;
    let end = win_start + window;
    let mut in_window = false;
    let mut base = Counts::default();
    let (mut sim0, mut cli0, mut thr0) = (0, 0, HashMap::new());
    let mut next_sample = start;
    let mut sample_pos = 0usize;
    let per_sample = chans.len().div_ceil(50);
    let mut timer_due = vec![start; chans.len()];
    let mut timer_hunt = vec![Hunt::Start; chans.len()];

    loop {
        let now = Instant::now();
        if !in_window && now >= win_start {
            in_window = true;
            base = c;
            sim0 = stat_ticks(&sim_stat).unwrap_or(0);
            cli0 = stat_ticks(&self_stat).unwrap_or(0);
            thr0 = thread_ticks(pid);
        }
        if now >= end {
            break;
        }
        // GET_BUFINFO round-robin, each channel about once a second.
        if now >= next_sample {
            next_sample += Duration::from_micros(BLOCK_US);
            for _ in 0..per_sample {
                let pc = &chans[sample_pos];
                sample_pos = (sample_pos + 1) % chans.len();
                let mut bi = d::dahdi_bufferinfo::default();
                // SAFETY: open channel fd; bi valid for writes.
                if unsafe { rq::get_bufinfo(pc.file.as_raw_fd(), &mut bi) }.is_ok() {
                    c.bufinfo_samples += 1;
                    if bi.readbufs >= bi.numbufs {
                        c.bufinfo_full += 1;
                    }
                }
            }
        }
        if pump == Pump::Timer {
            // Wake each millisecond; read the channels whose next block is due.
            let next = start + Duration::from_millis((now - start).as_millis() as u64 + 1);
            std::thread::sleep(next.saturating_duration_since(Instant::now()));
            c.epoll_waits += 1;
            let now = Instant::now();
            for i in 0..chans.len() {
                if timer_due[i] > now {
                    continue;
                }
                let late = now.saturating_duration_since(timer_due[i]);
                match timer_hunt[i] {
                    Hunt::Locked => {
                        // Exactly one block. When behind, the next block is
                        // already due and is read on the next pass, so a late
                        // pump catches up without probing with reads that
                        // would only return EAGAIN.
                        let _ = late;
                        let got = pump_chan(&mut chans[i], 1, &mut buf, &mut c, in_window, win_start);
                        if got == 0 {
                            // The phase moved (the simulator skipped time?): hunt again.
                            timer_hunt[i] = Hunt::Missed;
                            timer_due[i] = now + Duration::from_millis(1);
                        } else {
                            timer_due[i] += Duration::from_micros(BLOCK_US) * got as u32;
                        }
                    }
                    h => {
                        // Hunting for the phase: drain each millisecond until a
                        // block shows up right after an empty look.
                        let got = pump_chan(&mut chans[i], usize::MAX, &mut buf, &mut c, in_window, win_start);
                        if got > 0 && h == Hunt::Missed {
                            // It completed within the last millisecond: read
                            // 1 ms after each completion from now on.
                            timer_hunt[i] = Hunt::Locked;
                            timer_due[i] = now + Duration::from_micros(BLOCK_US + 1000);
                        } else {
                            timer_hunt[i] = if got == 0 { Hunt::Missed } else { Hunt::Start };
                            timer_due[i] = now + Duration::from_millis(1);
                        }
                    }
                }
            }
            continue;
        }
        // SAFETY: events has room for events.len() entries.
        let k = unsafe { libc::epoll_wait(epfd, events.as_mut_ptr(), events.len() as i32, 5) };
        c.epoll_waits += 1;
        if k < 0 {
            if errno() == libc::EINTR {
                continue;
            }
            return Err(format!("epoll_wait: {}", std::io::Error::last_os_error()));
        }
        let max = if pump == Pump::Edge { usize::MAX } else { 1 };
        for ev in &events[..k as usize] {
            pump_chan(&mut chans[ev.u64 as usize], max, &mut buf, &mut c, in_window, win_start);
        }
    }
    let elapsed = end.duration_since(win_start).as_secs_f64();
    let sim1 = stat_ticks(&sim_stat).unwrap_or(0);
    let cli1 = stat_ticks(&self_stat).unwrap_or(0);
    let thr1 = thread_ticks(pid);
    let counts = c - base;

    // Lateness against each channel's ideal 20 ms grid.
    let mut late = Vec::new();
    for pc in &chans {
        if pc.times.is_empty() {
            continue;
        }
        let off: Vec<i64> = pc.times.iter().enumerate().map(|(k, &t)| i64::from(t) - k as i64 * BLOCK_US as i64).collect();
        let base = *off.iter().min().unwrap();
        late.extend(off.iter().map(|&o| (o - base) as u32));
    }
    late.sort_unstable();

    let mut sim_threads: Vec<(String, f64)> = thr1
        .iter()
        .map(|(tid, (name, t1))| {
            let t0 = thr0.get(tid).map(|x| x.1).unwrap_or(0);
            (format!("{name}[{tid}]"), (t1 - t0) as f64 / tck / elapsed * 100.0)
        })
        .filter(|(_, p)| *p > 0.05)
        .collect();
    sim_threads.sort_by(|a, b| b.1.total_cmp(&a.1));

    let alive = sim.alive();
    drop(epfd_guard);
    drop(chans);
    sim.stop();
    if !alive {
        return Err(format!("tandem-sim died during the run:\n{}", sim.log_text()));
    }
    Ok(RunResult {
        n: n as usize,
        secs: elapsed,
        c: counts,
        late_p50: percentile(&late, 0.50),
        late_p99: percentile(&late, 0.99),
        late_max: late.last().copied().unwrap_or(0),
        sim_cpu: (sim1 - sim0) as f64 / tck / elapsed * 100.0,
        client_cpu: (cli1 - cli0) as f64 / tck / elapsed * 100.0,
        sim_threads,
        setup_ms,
        rt_us,
    })
}

fn print_result(r: &RunResult) {
    let c = &r.c;
    println!("   channels            {}  (setup: config, open, blocksize, epoll, prime took {} ms)", r.n, r.setup_ms);
    println!("   window              {:.2} s", r.secs);
    println!("   blocks read         {}", c.reads);
    println!("   blocks expected     {:.0}  (window x 50 x N)", r.expected());
    println!("   read shortfall      {:.2} %", r.shortfall());
    println!("   blocks written      {}  (EAGAIN {}, errors {})", c.writes, c.write_eagain, c.write_err);
    println!("   overruns: gaps      {} in {} blocks  (pattern jumps: received bytes lost)", c.gaps, c.gap_blocks);
    println!("   overruns: bufinfo   {} of {} samples had readbufs == numbufs", c.bufinfo_full, c.bufinfo_samples);
    println!("   tx underrun bytes   {}  (silence inside a stream: the peer's write was late)", c.underrun_bytes);
    println!("   read EAGAIN         {}  (woken but nothing to read), ELAST {}, errors {}", c.read_eagain, c.read_elast, c.read_err);
    println!(
        "   pump wake-ups       {}  ({:.0}/s, {:.1} blocks per wake)",
        c.epoll_waits,
        c.epoll_waits as f64 / r.secs,
        c.reads as f64 / c.epoll_waits.max(1) as f64
    );
    println!("   lateness p50/p99/max {:.2} / {:.2} / {:.2} ms", r.late_p50 as f64 / 1000.0, r.late_p99 as f64 / 1000.0, r.late_max as f64 / 1000.0);
    println!("   simulator CPU       {:.1} %  (100 % = one core)", r.sim_cpu);
    for (name, p) in &r.sim_threads {
        println!("       {name:<24} {p:.1} %");
    }
    println!("   client CPU          {:.1} %", r.client_cpu);
    println!(
        "   CPU per block       sim {:.1} µs + client {:.1} µs  (a block = one read and one write)",
        r.cpu_per_block(r.sim_cpu),
        r.cpu_per_block(r.client_cpu)
    );
    println!("   verdict             {}", r.verdict());
}

// ---------------------------------------------------------------------------
// In-process micro-benchmark of the model

mod micro {
    use super::*;
    use hw_sim::config::SimConfig;
    use hw_sim::fs::State;
    use hw_sim::model::{Io, Node};

    fn bytes<T>(t: &T) -> Vec<u8> {
        // SAFETY: T is a plain C struct or integer, fully initialised.
        unsafe { std::slice::from_raw_parts((t as *const T).cast::<u8>(), std::mem::size_of::<T>()) }.to_vec()
    }

    fn ok<T>(r: Io<T>, what: &str) -> T {
        match r {
            Io::Done(v) => v,
            Io::Err(e) => panic!("{what}: errno {e}"),
            Io::Block => panic!("{what}: would block"),
        }
    }

    pub struct Micro {
        pub n: usize,
        pub idle_tick_us: f64,
        pub tick_us: f64,
        pub service_us: f64,
        /// Model cost of one read + one write per channel per 20 ms cycle.
        pub pump_us: f64,
        pub reads: u64,
    }

    /// Build the system, configure it through the model API and time it.
    pub fn run(n: u32, ticks: u32) -> Micro {
        let layout = Layout::for_size(n);
        let toml = layout.toml();
        let (dahdi, _) = SimConfig::parse(&toml, "capacity.toml").unwrap().build("capacity.toml").unwrap();
        let mut st = State::new(dahdi, Duration::from_secs(1));
        let ctl = st.dahdi.open(Node::Ctl, false).unwrap();
        for (i, k) in layout.spans.iter().enumerate() {
            let lc = d::dahdi_lineconfig { span: i as i32 + 1, lineconfig: k.lineconfig(), ..Default::default() };
            ok(st.dahdi.ioctl(ctl, rq::DAHDI_SPANCONFIG, &bytes(&lc)), "SPANCONFIG");
            ok(st.dahdi.ioctl(ctl, rq::DAHDI_STARTUP, &bytes(&(i as i32 + 1))), "STARTUP");
        }
        for c in &layout.open {
            let cc = d::dahdi_chanconfig { chan: c.channo as i32, sigtype: d::DAHDI_SIG_CLEAR as i32, ..Default::default() };
            ok(st.dahdi.ioctl(ctl, rq::DAHDI_CHANCONFIG, &bytes(&cc)), "CHANCONFIG");
        }
        // Baseline: configured but closed.
        for _ in 0..100 {
            st.dahdi.tick();
        }
        let t = Instant::now();
        for _ in 0..ticks {
            st.dahdi.tick();
        }
        let idle_tick_us = t.elapsed().as_secs_f64() * 1e6 / f64::from(ticks);

        let mut fhs = Vec::new();
        for c in &layout.open {
            let fh = st.dahdi.open(Node::Chan(c.channo), true).unwrap();
            ok(st.dahdi.ioctl(fh, rq::DAHDI_SET_BLOCKSIZE, &(BLOCK as i32).to_ne_bytes()), "SET_BLOCKSIZE");
            ok(st.dahdi.write(fh, &[1u8; BLOCK]), "prime write");
            fhs.push(fh);
        }
        st.service();
        let block = [2u8; BLOCK];
        let (mut t_tick, mut t_service, mut t_pump) = (Duration::ZERO, Duration::ZERO, Duration::ZERO);
        let mut reads = 0u64;
        let mut cycles = 0u32;
        for k in 0..ticks + 40 {
            let measure = k >= 40; // skip the first two blocks
            let t0 = Instant::now();
            st.dahdi.tick();
            let t1 = Instant::now();
            st.service();
            let t2 = Instant::now();
            if measure {
                t_tick += t1 - t0;
                t_service += t2 - t1;
            }
            if k % 20 == 19 {
                let t3 = Instant::now();
                for &fh in &fhs {
                    if let Io::Done(_) = st.dahdi.read(fh, BLOCK as u32) {
                        reads += u64::from(measure);
                        let _ = st.dahdi.write(fh, &block);
                    }
                }
                st.service();
                if measure {
                    t_pump += t3.elapsed();
                    cycles += 1;
                }
            }
        }
        let nt = f64::from(ticks);
        Micro {
            n: n as usize,
            idle_tick_us,
            tick_us: t_tick.as_secs_f64() * 1e6 / nt,
            service_us: t_service.as_secs_f64() * 1e6 / nt,
            pump_us: t_pump.as_secs_f64() * 1e6 / f64::from(cycles.max(1)),
            reads,
        }
    }
}

fn run_micro(sizes: &[u32]) {
    println!("\n== in-process model micro-benchmark (no FUSE): 1000 ticks = 1 s of simulated time");
    println!(
        "{:>6} {:>14} {:>12} {:>14} {:>16} {:>12} {:>14}",
        "chans", "tick closed µs", "tick open µs", "service µs/tick", "pump µs/20ms", "reads", "model load %"
    );
    for &n in sizes {
        // Median of 5 runs, to damp noise on a shared machine.
        let mut runs: Vec<micro::Micro> = (0..5).map(|_| micro::run(n, 1000)).collect();
        runs.sort_by(|a, b| a.tick_us.total_cmp(&b.tick_us));
        let m = &runs[2];
        let load = (m.tick_us + m.service_us) / 1000.0 * 100.0 + m.pump_us / 20_000.0 * 100.0;
        println!("{:>6} {:>14.2} {:>12.2} {:>14.2} {:>16.1} {:>12} {:>13.2}%", m.n, m.idle_tick_us, m.tick_us, m.service_us, m.pump_us, m.reads, load);
    }
    println!("   (model load = share of one core the model alone needs in real time: ticks + service each ms, reads/writes each 20 ms)");
}

fn main() {
    let sizes: Vec<u32> =
        std::env::var("CAPACITY_SIZES").ok().map(|s| s.split(',').filter_map(|x| x.trim().parse().ok()).collect()).unwrap_or_else(|| vec![24, 240, 512, 1024]);
    for &n in &sizes {
        if n < 2 || n % 2 != 0 || n > 1024 {
            eprintln!("capacity: size {n} must be even and between 2 and 1024 (DAHDI's maximum)");
            std::process::exit(2);
        }
    }
    let window = Duration::from_secs(env_u64("CAPACITY_SECS", 10));
    let warmup = Duration::from_secs(env_u64("CAPACITY_WARMUP", 2));
    let pump = match std::env::var("CAPACITY_PUMP").unwrap_or_default().as_str() {
        "edge" => Pump::Edge,
        "" | "timer" if !env_flag("CAPACITY_EPOLLET") => Pump::Timer,
        "level" if !env_flag("CAPACITY_EPOLLET") => Pump::Level,
        "" | "level" => Pump::Edge,
        other => {
            eprintln!("capacity: CAPACITY_PUMP={other}: use level, edge or timer");
            std::process::exit(2);
        }
    };
    // Four buffers per direction, as chan_dahdi uses (2 is DAHDI's default).
    let numbufs = match std::env::var("CAPACITY_NUMBUFS").ok().and_then(|v| v.parse::<i32>().ok()) {
        Some(n) if n > 0 => Some(n),
        Some(_) => None,
        None => Some(4),
    };
    // The simulator and the pump on one CPU: a FUSE round trip costs two to
    // three times as much across CPUs. The simulator inherits the affinity.
    let cpu = std::env::var("CAPACITY_CPU").unwrap_or_else(|_| "0".into());
    if cpu != "none" {
        match cpu.parse::<usize>() {
            Ok(c) => {
                // SAFETY: a zeroed cpu_set_t with one bit set, passed with its size.
                let rc = unsafe {
                    let mut set: libc::cpu_set_t = std::mem::zeroed();
                    libc::CPU_SET(c, &mut set);
                    libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set)
                };
                if rc != 0 {
                    eprintln!("capacity: cannot pin to CPU {c}: {}", std::io::Error::last_os_error());
                }
            }
            Err(_) => {
                eprintln!("capacity: CAPACITY_CPU={cpu}: give a CPU number or \"none\"");
                std::process::exit(2);
            }
        }
    }

    println!("tandem-sim capacity benchmark: {} CPU(s)", std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0));

    if !env_flag("CAPACITY_MICRO_ONLY") {
        raise_nofile();
        let bin = match find_sim() {
            Ok(b) => b,
            Err(e) => {
                eprintln!("capacity: {e}");
                std::process::exit(1);
            }
        };
        println!(
            "pump: one thread, {}; a {BLOCK} B block written for each block read; numbufs {}; warm-up {} s, window {} s",
            pump.describe(),
            numbufs.map(|n| n.to_string()).unwrap_or_else(|| "default (2)".into()),
            warmup.as_secs(),
            window.as_secs()
        );
        let mut results = Vec::new();
        for &n in &sizes {
            match run_size(&bin, n, warmup, window, pump, numbufs) {
                Ok(r) => {
                    print_result(&r);
                    results.push(r);
                }
                Err(e) => {
                    eprintln!("capacity: {n} channels: {e}");
                    std::process::exit(1);
                }
            }
        }
        println!("\n== summary (pump: {})", pump.describe());
        println!(
            "{:>6} {:>9} {:>10} {:>8} {:>6} {:>7} {:>8} {:>8} {:>8} {:>8} {:>8}  verdict",
            "chans", "read", "expected", "short%", "gaps", "full", "p50 ms", "p99 ms", "sim %", "client%", "rt µs"
        );
        for r in &results {
            println!(
                "{:>6} {:>9} {:>10.0} {:>8.2} {:>6} {:>7} {:>8.2} {:>8.2} {:>8.1} {:>8.1} {:>8.1}  {}",
                r.n,
                r.c.reads,
                r.expected(),
                r.shortfall(),
                r.c.gaps,
                r.c.bufinfo_full,
                r.late_p50 as f64 / 1000.0,
                r.late_p99 as f64 / 1000.0,
                r.sim_cpu,
                r.client_cpu,
                r.rt_us.0,
                r.verdict()
            );
        }
        match results.iter().filter(|r| r.ok()).map(|r| r.n).max() {
            Some(n) => println!("largest size served without overrun: {n} channels"),
            None => println!("largest size served without overrun: none of the sizes tried"),
        }
    }

    if !env_flag("CAPACITY_NO_MICRO") {
        run_micro(&sizes);
    }
}
