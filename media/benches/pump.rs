//! Media pump benchmark: N simulated B-channels bridged to RTP, with a load
//! generator standing in for N SIP peers.
//!
//! Run with `cargo bench -p tandem-media --bench pump` (as root: the
//! simulator mounts FUSE). For each size (24, 240 and 1,024 channels by
//! default) it:
//!
//! 1. starts `tandem-sim` in-process (`hw_sim::runner::Sim`) with enough
//!    spans whose far end is scriptable (`far_end = "external"`): T1s up
//!    to 1,008 channels, 16 E1 + 22 T1 for 1,024 (DAHDI's maximum),
//!    configures them as clear channels and has every far end play a
//!    1 kHz tone;
//! 2. starts one pump (one thread) and N streams (PCMU, 20 ms, RFC 4733
//!    detection on, which is the default and costs a DTMF detector per
//!    channel) whose remote is the load generator. Like real calls, the
//!    streams start at their own times, spread evenly over
//!    `PUMP_BENCH_START_MS` (default 60 ms, three block periods): a
//!    channel's blocks complete on the phase its buffers were last reset
//!    at (DAHDI's SET_BLOCKSIZE, SET_BUFINFO and FLUSH restart the read
//!    fill; the pump flushes the read side when a stream starts), so the
//!    channels' phases are spread over the 20 ms rather than all completing
//!    in the same millisecond;
//! 3. runs the load generator on its own thread: every 20 ms one PCMU
//!    packet to each stream, each stream's at its own offset in the period
//!    (spread evenly, as independent peers' clocks would be), and it
//!    receives and counts everything the pump sends, timing arrivals with
//!    the kernel's receive timestamps (SO_TIMESTAMPNS: on loopback, taken
//!    in the pump's sendto) so its own scheduling does not count;
//! 4. after a warm-up, measures for a fixed window and prints:
//!    * the pump thread's CPU (from `/proc/self/task/<tid>/stat`) as % of
//!      one core and as µs per channel-second (the simulator's threads share
//!      the CPU; at 1,024 channels they saturate it);
//!    * RTP packets received by the generator vs. expected (window × 50 × N);
//!    * the pumps' own counters summed over the streams: TDM blocks,
//!      jitter-buffer underruns, PLC frames, slips, TDM overruns (backlog
//!      found by the pump's probes), late packets;
//!    * added latency, measured with probes:
//!      - TDM → RTP, on `PUMP_BENCH_PROBES` channels (default 64, or all
//!        when fewer; their far ends are otherwise silent), all of them
//!        every 200 ms cycle, from a thread of its own on the generator's
//!        CPU: each probe channel's far end plays a 60 ms burst
//!        (`audio.play` of a WAV starting at the tone's peak, so that its
//!        first sample is loud) at T0 (the call's midpoint). After 150 ms
//!        one `audio.onset` call gives, per channel, the index i of the
//!        burst's first sample in its read block and when the simulator
//!        completed that block (CLOCK_MONOTONIC). The generator has timed
//!        the first packet carrying the burst (first loud sample j) with
//!        the kernel's receive stamp t1, converted from CLOCK_REALTIME to
//!        CLOCK_MONOTONIC (a realtime read bracketed by two monotonic
//!        ones; the largest uncertainty, about a µs, is printed).
//!        **TDM → RTP added** is t1 − (the onset block's completion):
//!        what the pump adds beyond packetisation, the simulator's clock
//!        excluded (a late tick completes the block late, and the count
//!        starts then; the completion is when the clock thread had run the
//!        tick: a reader gets the block once the clock thread releases the
//!        model, some µs later, and that wait counts here). A burst counts only when j = i (the packet is the
//!        onset block); the others (packet not in after 150 ms, block lost
//!        to an overrun, or j ≠ i) are counted apart. The **old probe**,
//!        kept for comparison, is t1 − T0 − (160 − j)/8 ms on the same
//!        bursts: it also counts the simulator's lateness and the tick's
//!        granularity (the burst enters with the first tick after T0, so
//!        its block completes up to 1 ms before T0 + (160 − i)/8 ms: that
//!        part is −1 to 0 ms). **Simulator late** is the difference: the
//!        onset block's completion − T0 − (160 − i)/8 ms;
//!      - RTP → TDM, on 8 of those channels, one per round: the generator
//!        starts a tone at sample 0 of the packet
//!        it sends at T0; 300 ms later `audio.save` fetches what the far end
//!        heard, ending at T2 (the call's midpoint); the onset at sample j
//!        of L puts it at T2 − (L − j)/8 ms, so the latency is that minus
//!        T0. There is no packetisation on this side; the figure is the
//!        wait in the jitter buffer for the next TDM read (0–20 ms: the
//!        phase of the packets against the channel's blocks; more after an
//!        underrun) plus the transmit queue's margin (4 ms) plus network
//!        and scheduling;
//!    * the pump thread's user and system time, its system calls per
//!      channel-second by kind with their sampled thread-CPU cost
//!      ([`PumpHandle::io_stats`]), the split between TDM syscalls, UDP
//!      syscalls, epoll/timer and the rest (our code), the transmit
//!      underruns the simulator counted, and an ESTIMATE of the pump's CPU
//!      on an in-kernel DAHDI driver: the measured TDM syscall cost replaced
//!      by that of a 160-byte read and write on a pipe, measured on the
//!      same CPU (an in-kernel copy without the FUSE round trip);
//!    * how late after their due time the pump made its reads at a locked
//!      phase ([`IoStats::read_late`]: the pump's own scheduling, free of
//!      the simulator's clock), and how often and how long the pump thread
//!      waited to run (preempted by other threads or processes on its CPU);
//!    * peak memory of the process (VmHWM; includes the in-process
//!      simulator) and the RSS the N streams added.
//!
//! Nothing is asserted; figures are printed. Knobs: `PUMP_BENCH_SIZES`
//! (comma-separated, default `24,240,1024`), `PUMP_BENCH_SECS` (window,
//! default 10), `PUMP_BENCH_WARMUP` (default 3), `PUMP_BENCH_CPU` (the CPU
//! for the simulator and the pump, default 0; the generator goes on the
//! next one; `none` to not pin), `PUMP_BENCH_DTMF=inband` (no detectors),
//! `PUMP_BENCH_CLOCK_CPU=n` (move the simulator's clock thread to CPU n),
//! `PUMP_BENCH_PUMP_CPU=n` (move the pump thread to CPU n),
//! `PUMP_BENCH_RT=1` (every thread SCHED_FIFO 10, so other processes on a
//! shared machine cannot preempt the simulator, the pump or the generator,
//! and the pump thread 20, above them, as `tandem run --realtime` runs it
//! through [`PumpConfig::rt_priority`]; implies the next), `PUMP_BENCH_RT_CLOCK=1` (the simulator's clock
//! thread SCHED_FIFO 50, `[sim] realtime_clock`: it preempts the pump, as a
//! card's interrupt does), `PUMP_BENCH_PROBES` (TDM → RTP probe channels,
//! default 64), `PUMP_BENCH_BURST_HZ` (the probe burst's frequency, default
//! 2,500 Hz, outside the DTMF band in which the pump's DTMF pre-check mutes
//! onsets), `PUMP_BENCH_VERBOSE=1` (each RTP → TDM probe with its stream's
//! jitter buffer figures, and each TDM → RTP burst whose packet was not the
//! onset block),
//! `PUMP_BENCH_FAR=silence` (far ends play silence instead of a tone: the
//! simulator's tone generator is a sine per sample per channel).

use std::collections::HashMap;
use std::net::{SocketAddr, UdpSocket};
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use hw_sim::client::{Client, Onset};
use hw_sim::clock::monotonic_ns;
use hw_sim::config::SimConfig;
use hw_sim::runner::Sim;
use tandem_drivers::{ChanConfig, Ctl, LineConfig, Signalling};
use tandem_dsp::g711::Law as DspLaw;
use tandem_media::codec::{Codec, Direction, Law};
use tandem_media::pump::stream::{NtpClock, Stream};
use tandem_media::pump::{DtmfMode, IoStats, Pump, PumpConfig, PumpHandle, READ_LATE_BOUNDS_US, RtPriority, StreamSpec, StreamStats, Syscall};
use tandem_media::wire::rtp::{RtpPacket, RtpRepr};

// dahdi/user.h line configuration bits.
const ESF: u32 = 32;
const B8ZS: u32 = 128;
const CCS: u32 = 256;
const HDB3: u32 = 512;
const CRC4: u32 = 1024;

const BLOCK: usize = 160;
/// TDM → RTP probe channels by default (`PUMP_BENCH_PROBES`; all channels
/// when there are fewer): every probe cycle measures all of them.
const PROBES: usize = 64;
/// RTP → TDM probe channels (taken among the TDM → RTP ones): one per round.
const RTP_PROBES: usize = 8;
/// A TDM → RTP probe cycle: the bursts start together, the onsets are
/// fetched after `PROBE_COLLECT`, and the next cycle starts after
/// `PROBE_CYCLE`.
const PROBE_CYCLE: Duration = Duration::from_millis(200);
const PROBE_COLLECT: Duration = Duration::from_millis(150);
/// The probe burst: 60 ms of a 2,500 Hz tone starting at its peak, so that
/// its first sample is already loud. Not in the DTMF band (697–1,633 Hz):
/// the pump's DTMF pre-check mutes a sudden in-band onset in the last 3 ms
/// of a block (`media/src/pump/dtmf_gate.rs`), which would hide the onset
/// block (`PUMP_BENCH_BURST_HZ=700` shows it).
const BURST_SAMPLES: usize = 480;
const BURST_HZ: f32 = 2500.0;
/// A sample at least this loud marks a tone onset (the tone peaks near 10,000).
const ONSET: i16 = 2000;

fn env_u64(name: &str, default: u64) -> u64 {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn pin(cpu: usize) {
    let mut set = nix::sched::CpuSet::new();
    if set.set(cpu).is_ok() {
        let _ = nix::sched::sched_setaffinity(nix::unistd::Pid::from_raw(0), &set);
    }
}

fn raise_nofile() {
    use nix::sys::resource::{Resource, getrlimit, setrlimit};
    if let Ok((_, hard)) = getrlimit(Resource::RLIMIT_NOFILE) {
        let _ = setrlimit(Resource::RLIMIT_NOFILE, hard, hard);
    }
}

fn clk_tck() -> f64 {
    nix::unistd::sysconf(nix::unistd::SysconfVar::CLK_TCK).ok().flatten().map(|t| t as f64).unwrap_or(100.0)
}

/// utime + stime ticks from a /proc stat file.
fn stat_ticks(path: &Path) -> Option<u64> {
    stat_user_sys(path).map(|(u, s)| u + s)
}

/// (utime, stime) ticks from a /proc stat file.
fn stat_user_sys(path: &Path) -> Option<(u64, u64)> {
    let s = std::fs::read_to_string(path).ok()?;
    let rest = &s[s.rfind(')')? + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    Some((f.get(11)?.parse::<u64>().ok()?, f.get(12)?.parse::<u64>().ok()?))
}

/// This thread's CPU time, ns.
fn thread_cpu_ns() -> u64 {
    nix::time::clock_gettime(nix::time::ClockId::CLOCK_THREAD_CPUTIME_ID).map_or(0, |t| t.tv_sec() as u64 * 1_000_000_000 + t.tv_nsec() as u64)
}

/// The stand-in for a kernel DAHDI driver's per-block cost: thread CPU of
/// one 160-byte write() plus one 160-byte read() on a pipe (an in-kernel
/// copy with no FUSE round trip), µs, measured on `cpu`.
fn pipe_read_write_us(cpu: Option<usize>) -> f64 {
    std::thread::spawn(move || {
        if let Some(c) = cpu {
            pin(c);
        }
        let Ok((r, w)) = nix::unistd::pipe() else { return f64::NAN };
        let buf = [0x55u8; BLOCK];
        let mut got = [0u8; BLOCK];
        let n = 50_000;
        let t0 = thread_cpu_ns();
        for _ in 0..n {
            let _ = nix::unistd::write(&w, &buf);
            let _ = nix::unistd::read(&r, &mut got);
        }
        (thread_cpu_ns() - t0) as f64 / n as f64 / 1000.0
    })
    .join()
    .unwrap_or(f64::NAN)
}

/// Transmit underruns the simulator counted (1 ms chunks with nothing
/// queued), summed over `chans`.
fn tx_underruns(client: &mut Client, chans: &[(u32, Law)]) -> u64 {
    chans.iter().filter_map(|&(c, _)| client.chan_get(c).ok()).filter_map(|v| v["counters"]["tx_underruns"].as_u64()).sum()
}

/// CPU ticks of every thread of this process: tid → (name, ticks).
fn all_threads() -> HashMap<String, (String, u64)> {
    let mut m = HashMap::new();
    let Ok(dir) = std::fs::read_dir("/proc/self/task") else { return m };
    for e in dir.flatten() {
        let comm = std::fs::read_to_string(e.path().join("comm")).unwrap_or_default().trim().to_string();
        if let Some(t) = stat_ticks(&e.path().join("stat")) {
            m.insert(e.file_name().to_string_lossy().into_owned(), (comm, t));
        }
    }
    m
}

/// Nanoseconds a thread has waited on a run queue (runnable, not running):
/// the second field of its `schedstat`, next to `stat_path`.
fn run_queue_wait_ns(stat_path: &Path) -> u64 {
    std::fs::read_to_string(stat_path.with_file_name("schedstat")).ok().and_then(|s| s.split_whitespace().nth(1)?.parse().ok()).unwrap_or(0)
}

/// Involuntary context switches of a thread (preempted while runnable).
fn involuntary_switches(stat_path: &Path) -> u64 {
    let s = std::fs::read_to_string(stat_path.with_file_name("status")).unwrap_or_default();
    s.lines().find(|l| l.starts_with("nonvoluntary_ctxt_switches:")).and_then(|l| l.split_whitespace().nth(1)?.parse().ok()).unwrap_or(0)
}

/// Puts every thread of this process (and the threads they start later)
/// in SCHED_FIFO at `prio`, so other processes on the machine cannot
/// preempt the simulator, the pump or the generator; threads already
/// SCHED_FIFO (a realtime simulator clock, or threads started by one set
/// for an earlier size) keep their priority. Returns the threads set and
/// those already SCHED_FIFO.
fn realtime_all(prio: i32) -> (usize, usize) {
    let Ok(dir) = std::fs::read_dir("/proc/self/task") else { return (0, 0) };
    let (mut n, mut already) = (0, 0);
    for e in dir.flatten() {
        let Some(tid) = e.file_name().to_str().and_then(|t| t.parse::<i32>().ok()) else { continue };
        // SAFETY: reads the thread's policy.
        if unsafe { nix::libc::sched_getscheduler(tid) } == nix::libc::SCHED_FIFO {
            already += 1;
            continue;
        }
        let param = nix::libc::sched_param { sched_priority: prio };
        // SAFETY: a valid tid and a valid sched_param.
        if unsafe { nix::libc::sched_setscheduler(tid, nix::libc::SCHED_FIFO, &param) } == 0 {
            n += 1;
        }
    }
    (n, already)
}

/// The pump thread's SCHED_FIFO priority under `PUMP_BENCH_RT=1`.
const PUMP_RT_PRIORITY: u8 = 20;

/// Puts the calling thread in SCHED_FIFO at `prio` (the pump's
/// [`RtPriority::apply`]).
fn fifo(prio: u8) -> std::io::Result<()> {
    let param = nix::libc::sched_param { sched_priority: i32::from(prio) };
    // SAFETY: 0 is the calling thread; a valid sched_param.
    if unsafe { nix::libc::sched_setscheduler(0, nix::libc::SCHED_FIFO, &param) } == 0 { Ok(()) } else { Err(std::io::Error::last_os_error()) }
}

/// The stat file of this process's thread named `name`.
fn thread_stat(name: &str) -> Option<std::path::PathBuf> {
    for e in std::fs::read_dir("/proc/self/task").ok()?.flatten() {
        if std::fs::read_to_string(e.path().join("comm")).is_ok_and(|c| c.trim() == name) {
            return Some(e.path().join("stat"));
        }
    }
    None
}

fn status_kb(field: &str) -> u64 {
    let s = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    s.lines().find(|l| l.starts_with(field)).and_then(|l| l.split_whitespace().nth(1)).and_then(|v| v.parse().ok()).unwrap_or(0)
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

fn tone(freq: f32, n: usize, phase0: usize) -> Vec<u8> {
    (0..n).map(|i| DspLaw::Mulaw.encode((10_000.0 * (std::f32::consts::TAU * freq * (i + phase0) as f32 / 8000.0).sin()) as i16)).collect()
}

/// Span kinds for a size.
fn layout(n: u32) -> Vec<bool> {
    // true = E1 (31 channels), false = T1 (24).
    if n <= 1008 { vec![false; n.div_ceil(24) as usize] } else { [vec![true; 16], vec![false; 22]].concat() }
}

/// The first packet carrying a TDM → RTP probe's burst, as the generator saw it.
#[derive(Clone, Copy)]
struct Hit {
    /// The kernel's receive timestamp, CLOCK_MONOTONIC ns (converted from
    /// CLOCK_REALTIME), and the conversion's uncertainty.
    t1_ns: u64,
    conv_err_ns: u64,
    /// Index of its first loud sample.
    j: usize,
}

/// Shared between the main thread, the TDM → RTP prober and the generator.
struct Shared {
    stop: AtomicBool,
    counting: AtomicBool,
    received: AtomicU64,
    /// Per stream: send a tone (RTP → TDM probe), and when it started.
    tone_on: Vec<AtomicBool>,
    tone_t0: Mutex<HashMap<usize, Instant>>,
    /// TDM → RTP probes armed: stream index → the first packet carrying the
    /// burst (`None` until it arrives).
    armed: Mutex<HashMap<usize, Option<Hit>>>,
}

/// Where in the 20 ms packet period the generator sends stream `i`'s
/// packets (of `n`): spread evenly over the period, in an order that puts
/// neighbouring streams apart, as independent peers' clocks would.
fn send_offset(i: usize, n: usize) -> Duration {
    // 7,919 is prime, so i ↦ i × 7,919 mod n is a permutation unless n is
    // a multiple of it (never here: n ≤ 1,024).
    Duration::from_micros((i * 7919 % n) as u64 * 20_000 / n as u64)
}

/// This thread's CLOCK_REALTIME now, ns.
fn realtime_ns() -> u64 {
    nix::time::clock_gettime(nix::time::ClockId::CLOCK_REALTIME).map_or(0, |t| t.tv_sec() as u64 * 1_000_000_000 + t.tv_nsec() as u64)
}

/// A CLOCK_REALTIME time in ns as CLOCK_MONOTONIC ns, with the conversion's
/// uncertainty: the offset between the clocks comes from a realtime read
/// bracketed by two monotonic reads (uncertain by half the bracket, well
/// under a µs); the realtime clock's NTP slewing (at most 500 ppm) adds
/// under 1 µs per 2 ms of the stamp's age, and a step of the realtime clock
/// between the stamp and now would make it wrong.
fn realtime_to_monotonic(real_ns: u64) -> (u64, u64) {
    let m1 = monotonic_ns();
    let r = realtime_ns();
    let m2 = monotonic_ns();
    let mid = m1 + (m2 - m1) / 2;
    let age = r.saturating_sub(real_ns);
    (mid.saturating_sub(age), (m2 - m1) / 2 + age / 2000)
}

/// Receives one datagram: (length, source port, when the kernel queued it
/// to the socket as an `Instant`, and as CLOCK_MONOTONIC ns with the
/// conversion's uncertainty). The kernel's timestamp (SO_TIMESTAMPNS,
/// taken on loopback in the pump's sendto) does not include the
/// generator's own scheduling delay, which on a shared CPU can be
/// milliseconds.
fn recv_stamped(sock: &UdpSocket, buf: &mut [u8]) -> Option<(usize, u16, Instant, (u64, u64))> {
    use nix::sys::socket::{ControlMessageOwned, MsgFlags, SockaddrLike, SockaddrStorage, recvmsg};
    use std::os::fd::AsRawFd;
    let mut iov = [std::io::IoSliceMut::new(buf)];
    let mut cmsg = nix::cmsg_space!(nix::sys::time::TimeSpec);
    let msg = recvmsg::<SockaddrStorage>(sock.as_raw_fd(), &mut iov, Some(&mut cmsg), MsgFlags::MSG_DONTWAIT).ok()?;
    let port = msg.address.filter(|a| a.family() == Some(nix::sys::socket::AddressFamily::Inet)).map_or(0, |a| {
        // SAFETY: an AF_INET address is a sockaddr_in.
        u16::from_be(unsafe { (*a.as_ptr().cast::<nix::libc::sockaddr_in>()).sin_port })
    });
    let len = msg.bytes;
    let stamp = msg.cmsgs().ok()?.find_map(|c| match c {
        ControlMessageOwned::ScmTimestampns(ts) => Some(ts.tv_sec() as u64 * 1_000_000_000 + ts.tv_nsec() as u64),
        _ => None,
    });
    let now = Instant::now();
    let now_ns = monotonic_ns();
    // The stamp is on the realtime clock.
    let (mono, err) = stamp.map_or((now_ns, 0), realtime_to_monotonic);
    let at = now.checked_sub(Duration::from_nanos(now_ns.saturating_sub(mono))).unwrap_or(now);
    Some((len, port, at, (mono, err)))
}

fn generator(sock: UdpSocket, dests: Vec<SocketAddr>, by_port: HashMap<u16, usize>, sh: Arc<Shared>, cpu: Option<usize>) {
    if let Some(c) = cpu {
        pin(c);
    }
    let n = dests.len();
    let silence = [0xFFu8; BLOCK];
    let mut buf = [0u8; 2048];
    let mut pkt = [0u8; 12 + BLOCK];
    let start = Instant::now();
    let mut k: u32 = 0;
    let mut tone_pos = vec![0usize; n];
    // Streams in the order of their send offsets; `next` is the next to send in period `k`.
    let mut order: Vec<(Duration, usize)> = (0..n).map(|i| (send_offset(i, n), i)).collect();
    order.sort();
    let mut next = 0;
    while !sh.stop.load(Ordering::Relaxed) {
        let now = Instant::now();
        while next < n && start + Duration::from_millis(20 * u64::from(k)) + order[next].0 <= now {
            let i = order[next].1;
            let d = &dests[i];
            next += 1;
            let on = sh.tone_on[i].load(Ordering::Relaxed);
            let payload: Vec<u8>;
            let p: &[u8] = if on {
                if tone_pos[i] == 0 {
                    sh.tone_t0.lock().unwrap().insert(i, Instant::now());
                }
                payload = tone(700.0, BLOCK, tone_pos[i]);
                tone_pos[i] += BLOCK;
                &payload
            } else {
                tone_pos[i] = 0;
                &silence
            };
            let repr = RtpRepr::new(0, k as u16, k.wrapping_mul(BLOCK as u32), 0x1000 + i as u32, BLOCK);
            if let Ok(len) = repr.emit_with_payload(&mut pkt, p) {
                let _ = sock.send_to(&pkt[..len], d);
            }
            if next == n {
                next = 0;
                k += 1;
            }
        }
        // Receive until the next send is due.
        while let Some((len, port, _, (t1_ns, conv_err_ns))) = recv_stamped(&sock, &mut buf) {
            if sh.counting.load(Ordering::Relaxed) {
                sh.received.fetch_add(1, Ordering::Relaxed);
            }
            let Some(&i) = by_port.get(&port) else { continue };
            let mut armed = sh.armed.lock().unwrap();
            if let Some(slot @ None) = armed.get_mut(&i)
                && let Ok(p) = RtpPacket::new_checked(&buf[..len])
                && let Some(j) = p.payload().iter().position(|&c| DspLaw::Mulaw.decode(c).abs() >= ONSET)
            {
                *slot = Some(Hit { t1_ns, conv_err_ns, j });
            }
        }
        std::thread::sleep(Duration::from_micros(500));
    }
}

/// What the TDM → RTP prober measured, ms.
#[derive(Default)]
struct TdmProbes {
    /// Added beyond packetisation: the first burst packet's kernel receive
    /// stamp minus the completion of the block holding the burst's first
    /// sample (`audio.onset`), sorted.
    added: Vec<f64>,
    /// The old probe on the same bursts: stamp − T0 − (160 − j)/8 ms, with
    /// T0's uncertainty (half the `audio.play` call), sorted.
    old: Vec<(f64, f64)>,
    /// The simulator's part: the onset block's completion minus when it was
    /// due (T0 + (160 − i)/8 ms), sorted.
    sim_late: Vec<f64>,
    cycles: u64,
    /// Bursts whose first packet had not arrived when the onsets were
    /// fetched, whose block was lost to the host (overrun or flush), or whose
    /// first loud sample was not at the onset's index (not the onset block).
    missed: u64,
    lost: u64,
    mismatched: u64,
    /// The largest uncertainty of the realtime → monotonic conversion, ns.
    conv_err_max_ns: u64,
}

/// The TDM → RTP prober: every [`PROBE_CYCLE`] until `until`, arms the
/// generator for each probe stream, has each probe channel's far end play
/// the burst, and after [`PROBE_COLLECT`] fetches every channel's onset
/// and works out each burst's latencies.
fn prober(control: &Path, probes: &[(usize, u32)], wav: &Path, sh: &Shared, until: Instant, cpu: Option<usize>) -> std::result::Result<TdmProbes, String> {
    if let Some(c) = cpu {
        pin(c);
    }
    let mut client = Client::connect_retry(control, Duration::from_secs(5)).map_err(|e| e.to_string())?;
    let mut r = TdmProbes::default();
    let mut t0 = HashMap::new();
    let verbose = std::env::var("PUMP_BENCH_VERBOSE").is_ok_and(|v| v == "1");
    while Instant::now() + PROBE_CYCLE <= until && !sh.stop.load(Ordering::Relaxed) {
        let cycle = Instant::now();
        sh.armed.lock().unwrap().extend(probes.iter().map(|&(i, _)| (i, None)));
        for &(i, chan) in probes {
            let a = monotonic_ns();
            client.audio_play_wav(chan, wav, false).map_err(|e| e.to_string())?;
            let b = monotonic_ns();
            t0.insert(i, (a + (b - a) / 2, (b - a) / 2));
        }
        std::thread::sleep((cycle + PROBE_COLLECT).saturating_duration_since(Instant::now()));
        let onsets: HashMap<u32, Onset> = client.audio_onsets().map_err(|e| e.to_string())?.into_iter().map(|o| (o.chan, o)).collect();
        let hits: Vec<(usize, u32, Option<Hit>)> = {
            let mut armed = sh.armed.lock().unwrap();
            probes.iter().map(|&(i, chan)| (i, chan, armed.remove(&i).flatten())).collect()
        };
        r.cycles += 1;
        for (i, chan, hit) in hits {
            let Some(h) = hit else {
                r.missed += 1;
                continue;
            };
            let (Some(o), Some(&(t0_ns, t0_err))) = (onsets.get(&chan), t0.get(&i)) else {
                r.lost += 1;
                continue;
            };
            let Some(readable) = o.readable_ns.filter(|_| !o.lost) else {
                r.lost += 1;
                continue;
            };
            if h.j != o.sample {
                if verbose {
                    println!(
                        "   probe TDM→RTP       stream {i} (chan {chan}): first loud sample {} of its packet, the onset at {} of its block: not the onset block",
                        h.j, o.sample
                    );
                }
                r.mismatched += 1;
                continue;
            }
            let ms = |a: u64, b: u64| (a as f64 - b as f64) / 1e6;
            r.added.push(ms(h.t1_ns, readable));
            r.old.push((ms(h.t1_ns, t0_ns + (BLOCK - h.j) as u64 * 125_000), t0_err as f64 / 1e6));
            r.sim_late.push(ms(readable, t0_ns + (BLOCK - o.sample) as u64 * 125_000));
            r.conv_err_max_ns = r.conv_err_max_ns.max(h.conv_err_ns);
        }
        std::thread::sleep((cycle + PROBE_CYCLE).saturating_duration_since(Instant::now()));
    }
    r.added.sort_by(f64::total_cmp);
    r.old.sort_by(|a, b| a.0.total_cmp(&b.0));
    r.sim_late.sort_by(f64::total_cmp);
    Ok(r)
}

struct Result {
    n: usize,
    secs: f64,
    cpu_pct: f64,
    user_pct: f64,
    sys_pct: f64,
    io: IoStats,
    tx_underruns: u64,
    received: u64,
    totals: StreamStats,
    tdm: TdmProbes,
    /// TDM → RTP probe channels.
    probes: usize,
    rtp_to_tdm: Vec<f64>,
    /// The pump thread's run-queue wait in the window, ms, and its involuntary switches.
    pump_rq_wait_ms: f64,
    pump_preempted: u64,
    hwm_kb: u64,
    rss_added_kb: i64,
    jb_ms: Vec<f64>,
    threads: Vec<(String, f64)>,
    footprint: usize,
}

/// How every size is run (from the knobs).
#[derive(Clone, Copy)]
struct Opts {
    warmup: Duration,
    window: Duration,
    cpu: Option<usize>,
    ncpu: usize,
    dtmf: DtmfMode,
    clock_cpu: Option<usize>,
    start_spread: Duration,
    realtime: bool,
    /// The simulator's clock thread SCHED_FIFO (`[sim] realtime_clock`).
    realtime_clock: bool,
    /// TDM → RTP probe channels (at most the channel count).
    probes: usize,
}

fn run(n: u32, o: Opts) -> std::result::Result<Result, String> {
    let Opts { warmup, window, cpu, ncpu, dtmf, clock_cpu, start_spread, realtime, realtime_clock, probes: nprobes } = o;
    let spans = layout(n);
    let dir = tempfile::Builder::new().prefix("pump-bench-").tempdir().map_err(|e| e.to_string())?;
    let mount = dir.path().join("dahdi");
    let control = dir.path().join("ctl.sock");
    let mut toml = String::from("[sim]\nfuse_threads = 1\nhold_limit_ms = 1000\n");
    for (i, &e1) in spans.iter().enumerate() {
        if i % 4 == 0 {
            toml.push_str("[[card]]\nmodel = \"te420p\"\n");
        }
        toml.push_str(&format!("[[card.span]]\ntype = \"{}\"\nfar_end = \"external\"\n", if e1 { "e1" } else { "t1" }));
    }
    let mut cfg = SimConfig::parse(&toml, "pump-bench.toml").map_err(|e| e.to_string())?;
    cfg.sim.realtime_clock = realtime_clock;
    let sim = Sim::start_config(&cfg, "pump-bench.toml", &mount, &control)?;
    if let Some(c) = clock_cpu {
        // The simulator's clock thread (the model's 1 ms tick) elsewhere.
        if let Some(stat) = thread_stat("clock")
            && let Some(tid) = stat.parent().and_then(|p| p.file_name()).and_then(|t| t.to_str()).and_then(|t| t.parse::<i32>().ok())
        {
            let mut set = nix::sched::CpuSet::new();
            if set.set(c).is_ok() {
                let _ = nix::sched::sched_setaffinity(nix::unistd::Pid::from_raw(tid), &set);
            }
        }
    }
    let ctl = Ctl::open(&mount).map_err(|e| e.to_string())?;
    let mut chans = Vec::new();
    let mut first = 1;
    for (i, &e1) in spans.iter().enumerate() {
        let span = i as u32 + 1;
        let count = if e1 { 31 } else { 24 };
        let lineconfig = if e1 { CCS | HDB3 | CRC4 } else { ESF | B8ZS };
        ctl.configure_span(&LineConfig { span, timing: 0, lbo: 0, lineconfig }, &format!("span{span}")).map_err(|e| e.to_string())?;
        for c in first..first + count {
            ctl.configure_channel(&ChanConfig { chan: c, signalling: Signalling::Clear, law: None, idle_bits: 0 }).map_err(|e| e.to_string())?;
            if chans.len() < n as usize {
                chans.push((c, if e1 { Law::Alaw } else { Law::Mulaw }));
            }
        }
        ctl.startup(span).map_err(|e| e.to_string())?;
        first += count;
    }
    let mut client = Client::connect_retry(&control, Duration::from_secs(5)).map_err(|e| e.to_string())?;
    let np = nprobes.clamp(1, chans.len());
    let probes: Vec<usize> = (0..np).map(|k| k * chans.len() / np).collect();
    let rtp_probes: Vec<usize> = probes.iter().copied().step_by(np.div_ceil(RTP_PROBES)).collect();
    let burst = dir.path().join("burst.wav");
    let burst_hz = env_u64("PUMP_BENCH_BURST_HZ", BURST_HZ as u64) as f32;
    let burst_samples: Vec<i16> = (0..BURST_SAMPLES).map(|k| (10_000.0 * (std::f32::consts::TAU * burst_hz * k as f32 / 8000.0).cos()) as i16).collect();
    tandem_dsp::wav::write_wav(std::fs::File::create(&burst).map_err(|e| e.to_string())?, &burst_samples).map_err(|e| e.to_string())?;
    let silent_far_ends = std::env::var("PUMP_BENCH_FAR").is_ok_and(|v| v == "silence");
    for (i, &(c, _)) in chans.iter().enumerate() {
        if !probes.contains(&i) && !silent_far_ends {
            client.audio_play_tone(c, &[1000.0], -10.0).map_err(|e| e.to_string())?;
        }
    }

    let rss0 = status_kb("VmRSS:");
    let pump: PumpHandle = Pump::start(PumpConfig {
        device_dir: mount.clone(),
        rtp_ip: "127.0.0.1".parse().unwrap(),
        rtp_ports: 20000..=29999,
        cpu: std::env::var("PUMP_BENCH_PUMP_CPU").ok().and_then(|v| v.parse().ok()),
        dtmf_mode: dtmf,
        // As `tandem run --realtime` does: the pump above the other threads
        // (the simulator's FUSE thread and the generator at 10), below the
        // simulated card's clock (50).
        rt_priority: realtime.then_some(RtPriority { priority: PUMP_RT_PRIORITY, apply: fifo }),
        ..Default::default()
    })
    .map_err(|e| e.to_string())?;
    if realtime {
        // The generator, started below, inherits it.
        let (set, already) = realtime_all(10);
        println!(
            "   SCHED_FIFO          {set} threads set to priority 10, {already} already SCHED_FIFO (the simulator's clock at 50; threads started by SCHED_FIFO ones inherit it)"
        );
    }
    let gen_sock = UdpSocket::bind("127.0.0.1:0").map_err(|e| e.to_string())?;
    gen_sock.set_nonblocking(true).map_err(|e| e.to_string())?;
    let _ = nix::sys::socket::setsockopt(&gen_sock, nix::sys::socket::sockopt::RcvBuf, &(8 << 20));
    nix::sys::socket::setsockopt(&gen_sock, nix::sys::socket::sockopt::ReceiveTimestampns, &true).map_err(|e| e.to_string())?;
    let gen_addr = gen_sock.local_addr().map_err(|e| e.to_string())?;
    let mut ids = Vec::new();
    let mut dests = Vec::new();
    let mut by_port = HashMap::new();
    let starts_from = Instant::now();
    for (i, &(c, law)) in chans.iter().enumerate() {
        // Calls start at their own times, and a channel's blocks complete
        // at the phase its buffers were set up at (DAHDI: SET_BLOCKSIZE,
        // SET_BUFINFO, FLUSH): stream i starts at i / n of the spread.
        let at = starts_from + start_spread * i as u32 / chans.len() as u32;
        std::thread::sleep(at.saturating_duration_since(Instant::now()));
        let p = pump.allocate().map_err(|e| e.to_string())?;
        let spec = StreamSpec {
            channo: c,
            tdm_law: law,
            codec: Codec::Pcmu,
            payload_type: 0,
            ptime_ms: 20,
            dtmf_payload_type: Some(101),
            remote: Some(gen_addr),
            direction: Direction::SendRecv,
            symmetric: false,
            echo_taps: None,
            tap: false,
            data_mode: false,
        };
        pump.start(p.id, spec).map_err(|e| e.to_string())?;
        ids.push(p.id);
        dests.push(p.local);
        by_port.insert(p.local.port(), i);
    }
    println!("   streams started     over {:.1} ms (spread asked: {} ms)", starts_from.elapsed().as_secs_f64() * 1000.0, start_spread.as_millis());
    let sh = Arc::new(Shared {
        stop: AtomicBool::new(false),
        counting: AtomicBool::new(false),
        received: AtomicU64::new(0),
        tone_on: (0..chans.len()).map(|_| AtomicBool::new(false)).collect(),
        tone_t0: Mutex::new(HashMap::new()),
        armed: Mutex::new(HashMap::new()),
    });
    let gcpu = cpu.map(|c| (c + 1) % ncpu.max(1));
    let gen_thread = {
        let sh = sh.clone();
        std::thread::Builder::new().name("loadgen".into()).spawn(move || generator(gen_sock, dests, by_port, sh, gcpu)).map_err(|e| e.to_string())?
    };
    std::thread::sleep(warmup);
    let tck = clk_tck();
    let pump_stat = thread_stat("media-pump-0").ok_or("no media-pump-0 thread")?;
    let tx_under0 = tx_underruns(&mut client, &chans);
    let before: Vec<StreamStats> = ids.iter().map(|&id| pump.stats(id).unwrap_or_default()).collect();
    let io0 = pump.io_stats();
    let (u0, s0) = stat_user_sys(&pump_stat).unwrap_or_default();
    let (rq0, pre0) = (run_queue_wait_ns(&pump_stat), involuntary_switches(&pump_stat));
    let t0_ticks = u0 + s0;
    let threads0 = all_threads();
    let win_start = Instant::now();
    sh.counting.store(true, Ordering::Relaxed);
    // TDM → RTP on every probe channel, every cycle, on its own thread.
    let prober_thread = {
        let (sh, control, burst) = (sh.clone(), control.clone(), burst.clone());
        let probe_chans: Vec<(usize, u32)> = probes.iter().map(|&i| (i, chans[i].0)).collect();
        let until = win_start + window;
        std::thread::Builder::new().name("prober".into()).spawn(move || prober(&control, &probe_chans, &burst, &sh, until, gcpu)).map_err(|e| e.to_string())?
    };

    // RTP → TDM probes, one channel at a time, until the window ends.
    let mut rtp_to_tdm = Vec::new();
    let mut jb_ms = Vec::new();
    let wav = dir.path().join("probe.wav");
    let mut round = 0;
    while win_start.elapsed() + Duration::from_millis(1100) < window {
        let i = rtp_probes[round % rtp_probes.len()];
        round += 1;
        let chan = chans[i].0;
        std::thread::sleep(Duration::from_millis(200));
        sh.tone_on[i].store(true, Ordering::Relaxed);
        std::thread::sleep(Duration::from_millis(300));
        let a = Instant::now();
        client.audio_save(chan, &wav, Some(500)).map_err(|e| e.to_string())?;
        let b = Instant::now();
        sh.tone_on[i].store(false, Ordering::Relaxed);
        let t2 = a + (b - a) / 2;
        let t0 = sh.tone_t0.lock().unwrap().remove(&i);
        let samples =
            tandem_dsp::wav::read_wav(std::io::BufReader::new(std::fs::File::open(&wav).map_err(|e| e.to_string())?)).map_err(|e| e.to_string())?.samples;
        if let (Some(t0), Some(j)) = (t0, samples.iter().position(|s| s.abs() >= ONSET)) {
            let onset_before_t2 = Duration::from_micros((samples.len() - j) as u64 * 125);
            let onset = t2.checked_sub(onset_before_t2).unwrap_or(t2);
            let ms = onset.saturating_duration_since(t0).as_secs_f64() * 1000.0 - t0.saturating_duration_since(onset).as_secs_f64() * 1000.0;
            rtp_to_tdm.push(ms);
            if std::env::var("PUMP_BENCH_VERBOSE").is_ok_and(|v| v == "1")
                && let Some(st) = pump.stats(ids[i])
            {
                println!(
                    "   probe RTP→TDM       {ms:.1} ms on stream {i}: jitter buffer {} ms (target {}), underruns {}, slips {}, plc {}, late {}",
                    st.jitter_buffer_ms, st.jitter_target_ms, st.underruns, st.slips, st.plc_frames, st.late
                );
            }
        }
        for &id in &ids {
            if let Some(s) = pump.stats(id) {
                jb_ms.push(f64::from(s.jitter_buffer_ms));
            }
        }
        std::thread::sleep(Duration::from_millis(300));
    }
    let remaining = window.saturating_sub(win_start.elapsed());
    std::thread::sleep(remaining);
    let tdm = prober_thread.join().map_err(|_| "the prober panicked".to_string())??;
    sh.counting.store(false, Ordering::Relaxed);
    let (u1, s1) = stat_user_sys(&pump_stat).unwrap_or_default();
    let (rq1, pre1) = (run_queue_wait_ns(&pump_stat), involuntary_switches(&pump_stat));
    let t1_ticks = u1 + s1;
    let io = pump.io_stats().since(&io0);
    let secs = win_start.elapsed().as_secs_f64();
    let after: Vec<StreamStats> = ids.iter().map(|&id| pump.stats(id).unwrap_or_default()).collect();
    let tx_under1 = tx_underruns(&mut client, &chans);
    let mut threads: Vec<(String, f64)> = all_threads()
        .into_iter()
        .map(|(tid, (name, t1))| {
            let t0 = threads0.get(&tid).map(|x| x.1).unwrap_or(0);
            (format!("{name}[{tid}]"), (t1 - t0) as f64 / clk_tck() / secs * 100.0)
        })
        .filter(|(_, p)| *p >= 0.5)
        .collect();
    threads.sort_by(|a, b| b.1.total_cmp(&a.1));
    let rss1 = status_kb("VmRSS:");
    let hwm = status_kb("VmHWM:");
    sh.stop.store(true, Ordering::Relaxed);
    let _ = gen_thread.join();
    pump.shutdown();
    drop(ctl);
    drop(client);
    if let Err(e) = sim.stop() {
        eprintln!("pump bench: stopping the simulator: {e}");
    }

    let mut totals = StreamStats::default();
    for (a, b) in after.iter().zip(&before) {
        totals.tdm_blocks += a.tdm_blocks - b.tdm_blocks;
        totals.packets_sent += a.packets_sent - b.packets_sent;
        totals.packets_received += a.packets_received - b.packets_received;
        totals.underruns += a.underruns - b.underruns;
        totals.overruns += a.overruns - b.overruns;
        totals.plc_frames += a.plc_frames - b.plc_frames;
        totals.slips += a.slips - b.slips;
        totals.late += a.late - b.late;
        totals.lost += a.lost - b.lost;
    }
    rtp_to_tdm.sort_by(f64::total_cmp);
    jb_ms.sort_by(f64::total_cmp);
    Ok(Result {
        n: chans.len(),
        secs,
        cpu_pct: (t1_ticks - t0_ticks) as f64 / tck / secs * 100.0,
        user_pct: (u1 - u0) as f64 / tck / secs * 100.0,
        sys_pct: (s1 - s0) as f64 / tck / secs * 100.0,
        io,
        tx_underruns: tx_under1.saturating_sub(tx_under0),
        received: sh.received.load(Ordering::Relaxed),
        totals,
        tdm,
        probes: probes.len(),
        rtp_to_tdm,
        pump_rq_wait_ms: rq1.saturating_sub(rq0) as f64 / 1e6,
        pump_preempted: pre1.saturating_sub(pre0),
        hwm_kb: hwm,
        rss_added_kb: rss1 as i64 - rss0 as i64,
        jb_ms,
        threads,
        footprint: {
            let now = Instant::now();
            let spec = StreamSpec {
                channo: 1,
                tdm_law: Law::Mulaw,
                codec: Codec::Pcmu,
                payload_type: 0,
                ptime_ms: 20,
                dtmf_payload_type: Some(101),
                remote: None,
                direction: Direction::SendRecv,
                symmetric: false,
                echo_taps: None,
                tap: false,
                data_mode: false,
            };
            Stream::new(spec, 10, 200, dtmf, NtpClock { at: now, ntp: 0 }, now, 1).footprint_bytes()
        },
    })
}

fn print(r: &Result, pipe_us: f64) {
    let t = &r.totals;
    let expected = r.secs * 50.0 * r.n as f64;
    let chan_secs = r.secs * r.n as f64;
    println!("   channels            {}", r.n);
    println!("   window              {:.2} s", r.secs);
    println!("   pump thread CPU     {:.1} % of one core  ({:.1} µs per channel-second)", r.cpu_pct, r.cpu_pct / 100.0 * 1e6 / r.n as f64);
    println!("     user / system     {:.1} % / {:.1} %  (/proc/self/task/TID/stat utime/stime)", r.user_pct, r.sys_pct);
    let io = &r.io;
    let kinds = [
        ("TDM read", Syscall::TdmRead),
        ("TDM write", Syscall::TdmWrite),
        ("TDM ioctl", Syscall::TdmIoctl),
        ("UDP recvfrom", Syscall::UdpRecv),
        ("UDP sendto", Syscall::UdpSend),
        ("epoll_wait", Syscall::EpollWait),
        ("timerfd_settime", Syscall::Timer),
        ("nanosleep", Syscall::Sleep),
    ];
    let total_calls: u64 = io.calls.iter().sum();
    println!("   syscalls            {:.1} per channel-second in all (thread-CPU cost from 1 in 32 calls timed)", total_calls as f64 / chan_secs);
    for (name, k) in kinds {
        println!(
            "     {name:<17} {:>6.1} /ch·s  {:>6.2} µs each  {:>5.1} % of a core",
            io.calls[k as usize] as f64 / chan_secs,
            io.cpu_us_per_call(k),
            io.cpu_us(k) / r.secs / 1e4
        );
    }
    let pct = |us: f64| us / r.secs / 1e4;
    let tdm = pct(io.cpu_us(Syscall::TdmRead) + io.cpu_us(Syscall::TdmWrite) + io.cpu_us(Syscall::TdmIoctl));
    let udp = pct(io.cpu_us(Syscall::UdpRecv) + io.cpu_us(Syscall::UdpSend));
    let ep = pct(io.cpu_us(Syscall::EpollWait) + io.cpu_us(Syscall::Timer) + io.cpu_us(Syscall::Sleep));
    let ours = r.cpu_pct - tdm - udp - ep;
    println!(
        "   cost split          TDM syscalls {tdm:.1} %, UDP syscalls {udp:.1} %, epoll + timer + sleep {ep:.1} %, the rest (our code, timers, page faults) {ours:.1} % of a core"
    );
    let tdm_calls = (io.calls[Syscall::TdmRead as usize] + io.calls[Syscall::TdmWrite as usize]) as f64;
    let est = r.cpu_pct - tdm + pct(tdm_calls * pipe_us / 2.0);
    println!(
        "   ESTIMATE, kernel    {est:.1} % of a core ({:.1} µs per channel-second) if each TDM read/write cost what a 160-byte pipe read/write costs ({:.2} µs per pair, measured) instead of a FUSE round trip",
        est / 100.0 * 1e6 / r.n as f64,
        pipe_us
    );
    let reads: u64 = io.read_late.iter().sum();
    let mut lateness = Vec::new();
    let mut cum = 0;
    for (k, &c) in io.read_late.iter().enumerate() {
        cum += c;
        let label = READ_LATE_BOUNDS_US.get(k).map_or_else(|| "more".to_string(), |u| format!("< {u} µs"));
        lateness.push(format!("{label} {:.3} %", cum as f64 / reads.max(1) as f64 * 100.0));
    }
    println!("   reads late (pump)   {} (cumulative share of {reads} reads at a locked phase, by lateness after due)", lateness.join(", "));
    println!(
        "   pump preempted      {} times, {:.1} ms in all waiting to run ({:.2} % of the window; other threads and processes on its CPU)",
        r.pump_preempted,
        r.pump_rq_wait_ms,
        r.pump_rq_wait_ms / 10.0 / r.secs
    );
    let others: Vec<String> = r.threads.iter().map(|(n, p)| format!("{n} {p:.1} %")).collect();
    println!("   all threads         {}", others.join(", "));
    println!("   TDM blocks read     {}  (expected {:.0})", t.tdm_blocks, expected);
    println!(
        "   RTP sent by pump    {}  received by the generator {}  ({:.2} % short)",
        t.packets_sent,
        r.received,
        (expected - r.received as f64) / expected * 100.0
    );
    println!("   RTP received        {}  lost {}  late {}", t.packets_received, t.lost, t.late);
    println!("   jitter buffer       underruns {}  PLC frames {}  slips {}", t.underruns, t.plc_frames, t.slips);
    println!("   TDM overruns        {}  (a backlog found by the pump's probes)", t.overruns);
    println!("   TDM tx underruns    {}  (1 ms chunks the simulator found nothing queued to transmit)", r.tx_underruns);
    let show = |name: &str, v: &[f64]| {
        println!(
            "   {name:<19} p50 {:.1} ms  p99 {:.1} ms  (min {:.1}, max {:.1}, {} probes)",
            percentile(v, 0.5),
            percentile(v, 0.99),
            v.first().copied().unwrap_or(f64::NAN),
            v.last().copied().unwrap_or(f64::NAN),
            v.len()
        )
    };
    let d = &r.tdm;
    println!(
        "   TDM→RTP probes      {} channels × {} cycles: {} measured, {} packets not in by {} ms, {} onset blocks lost, {} not the onset block",
        r.probes,
        d.cycles,
        d.added.len(),
        d.missed,
        PROBE_COLLECT.as_millis(),
        d.lost,
        d.mismatched
    );
    let show_fine = |name: &str, v: &[f64]| {
        println!(
            "   {name:<19} p50 {:.2} ms  p99 {:.2} ms  (min {:.2}, max {:.2}, {} probes)",
            percentile(v, 0.5),
            percentile(v, 0.99),
            v.first().copied().unwrap_or(f64::NAN),
            v.last().copied().unwrap_or(f64::NAN),
            v.len()
        )
    };
    show_fine("TDM→RTP added", &d.added);
    println!(
        "     (first burst packet's kernel receive stamp − when the simulator completed the block holding the burst's first sample; realtime → monotonic conversion ± {:.1} µs at most)",
        d.conv_err_max_ns as f64 / 1000.0
    );
    let old: Vec<f64> = d.old.iter().map(|p| p.0).collect();
    show_fine("TDM→RTP old probe", &old);
    let top: Vec<String> = d.old.iter().rev().take(4).map(|(ms, err)| format!("{ms:.1} ± {err:.2}")).collect();
    println!(
        "     (stamp − T0 − (160 − i)/8 ms, T0 = the audio.play call's midpoint: includes the simulator's lateness; highest {} ms, max ± {:.2} ms)",
        top.join(", "),
        d.old.iter().map(|p| p.1).fold(0.0, f64::max)
    );
    show_fine("simulator late", &d.sim_late);
    println!("     (when the simulator completed the onset block − T0 − (160 − i)/8 ms: its clock thread's lateness, ± T0's uncertainty)");
    show("RTP→TDM", &r.rtp_to_tdm);
    println!("   jitter-buffer depth p50 {:.0} ms  p99 {:.0} ms  (all streams, sampled each probe)", percentile(&r.jb_ms, 0.5), percentile(&r.jb_ms, 0.99));
    println!(
        "   memory              peak {} MiB (process, simulator included: it records 60 s of audio per channel); the streams added {} KiB RSS",
        r.hwm_kb / 1024,
        r.rss_added_kb
    );
    println!(
        "   pump state          {} KiB per stream, {} KiB for all (struct and buffers; UDP socket buffers are the kernel's)",
        r.footprint / 1024,
        r.footprint * r.n / 1024
    );
}

fn main() {
    let sizes: Vec<u32> =
        std::env::var("PUMP_BENCH_SIZES").ok().map(|s| s.split(',').filter_map(|x| x.trim().parse().ok()).collect()).unwrap_or_else(|| vec![24, 240, 1024]);
    let window = Duration::from_secs(env_u64("PUMP_BENCH_SECS", 10));
    let warmup = Duration::from_secs(env_u64("PUMP_BENCH_WARMUP", 3));
    let cpu = match std::env::var("PUMP_BENCH_CPU").as_deref() {
        Ok("none") => None,
        Ok(v) => v.parse().ok(),
        Err(_) => Some(0),
    };
    let clock_cpu = std::env::var("PUMP_BENCH_CLOCK_CPU").ok().and_then(|v| v.parse().ok());
    let start_spread = Duration::from_millis(env_u64("PUMP_BENCH_START_MS", 60));
    let realtime = std::env::var("PUMP_BENCH_RT").is_ok_and(|v| v == "1");
    let realtime_clock = realtime || std::env::var("PUMP_BENCH_RT_CLOCK").is_ok_and(|v| v == "1");
    let probes = env_u64("PUMP_BENCH_PROBES", PROBES as u64) as usize;
    let dtmf = if std::env::var("PUMP_BENCH_DTMF").is_ok_and(|v| v == "inband") { DtmfMode::Inband } else { DtmfMode::Rfc4733 };
    raise_nofile();
    let ncpu = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
    if let Some(c) = cpu {
        // The simulator's threads and the pump inherit this.
        pin(c);
    }
    println!(
        "media pump benchmark: {} CPU(s); simulator + pump on CPU {:?}, load generator on the next; DTMF {:?}; simulator clock {}; streams started over {} ms; warm-up {} s, window {} s",
        ncpu,
        cpu,
        dtmf,
        if realtime_clock { "SCHED_FIFO" } else { "ordinary" },
        start_spread.as_millis(),
        warmup.as_secs(),
        window.as_secs()
    );
    let pipe_us = pipe_read_write_us(cpu);
    for n in sizes {
        if !(1..=1024).contains(&n) {
            eprintln!("pump bench: size {n} must be 1..=1024");
            std::process::exit(2);
        }
        println!("\n== {n} channels");
        match run(n, Opts { warmup, window, cpu, ncpu, dtmf, clock_cpu, start_spread, realtime, realtime_clock, probes }) {
            Ok(r) => print(&r, pipe_us),
            Err(e) => {
                eprintln!("pump bench: {n} channels: {e}");
                std::process::exit(1);
            }
        }
    }
}
