//! Per-stream figures, published by the pump thread through atomics and
//! read by call control (for CDRs) without locks on either side.

use std::sync::atomic::{AtomicU64, Ordering};

/// What one stream has done so far. Counters are cumulative from
/// [`PumpHandle::start`](super::PumpHandle::start).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct StreamStats {
    /// RTP packets sent (audio and telephone events).
    pub packets_sent: u64,
    /// RTP payload octets sent (RFC 3550 §6.4.1 sender's octet count).
    pub octets_sent: u64,
    /// RTP packets accepted from the remote.
    pub packets_received: u64,
    /// RTP payload octets accepted.
    pub octets_received: u64,
    /// Cumulative packets lost (RFC 3550 §6.4.1: expected − received; may
    /// be negative with duplicates).
    pub lost: i64,
    /// Packets that arrived after their playout time, or duplicates, and
    /// were discarded.
    pub late: u64,
    /// Packets that arrived with a lower sequence number than one already
    /// received.
    pub reordered: u64,
    /// Packets from an address other than the remote's (dropped).
    pub foreign: u64,
    /// Datagrams that were not valid RTP/RTCP or had an unknown payload type.
    pub bad: u64,
    /// Times the remote's SSRC changed.
    pub ssrc_changes: u64,
    /// Jitter-buffer depth now, ms.
    pub jitter_buffer_ms: u32,
    /// Jitter-buffer target depth now, ms.
    pub jitter_target_ms: u32,
    /// Frames (ptime each) concealed by PLC.
    pub plc_frames: u64,
    /// Frames dropped or inserted to follow the remote's clock.
    pub slips: u64,
    /// Playout found the jitter buffer empty.
    pub underruns: u64,
    /// The TDM side had more than one block waiting (the pump fell behind),
    /// or a packet arrived beyond the jitter buffer's maximum depth.
    pub overruns: u64,
    /// TDM blocks read.
    pub tdm_blocks: u64,
    /// RFC 4733 events received (distinct events, played as tones).
    pub dtmf_received: u64,
    /// RFC 4733 events sent (digits detected on the TDM side).
    pub dtmf_sent: u64,
    /// TDM samples muted towards RTP because the per-block pre-check took
    /// them for DTMF (RFC 4733 mode).
    pub dtmf_muted_samples: u64,
    /// Our interarrival jitter estimate of the remote's stream, ms
    /// (RFC 3550 §6.4.1).
    pub jitter_ms: f64,
    /// Our fraction lost of the remote's stream over the last RTCP interval
    /// (0–255 = 0–100 %).
    pub fraction_lost: u8,
    /// RTCP reports sent.
    pub rtcp_sent: u64,
    /// RTCP compound packets received.
    pub rtcp_received: u64,
    /// The remote's view of our stream from its last report block: fraction
    /// lost (0–255).
    pub remote_fraction_lost: u8,
    /// The remote's cumulative lost count for our stream.
    pub remote_cumulative_lost: i64,
    /// The remote's interarrival jitter for our stream, ms.
    pub remote_jitter_ms: f64,
    /// Round-trip time from the last report block with LSR/DLSR, ms.
    pub rtt_ms: Option<f64>,
    /// The stream is in data mode (fax or modem: fixed jitter buffer, no
    /// PLC, no DTMF muting), set at start or on the 2100 Hz answer tone.
    pub data_mode: bool,
    /// The 2100 Hz answer tone was heard: 1 from the TDM side, 2 from RTP
    /// (0: not heard).
    pub answer_tone_from: u8,
    /// Tapped blocks dropped because the tap's channel was full.
    pub tap_dropped: u64,
}

/// Number of `u64` slots a [`StreamStats`] takes.
const SLOTS: usize = 31;

/// A [`StreamStats`] in atomics: the pump thread stores, anyone loads.
/// Each field is individually current (no cross-field snapshot).
#[derive(Debug)]
pub struct StatsCell {
    slots: [AtomicU64; SLOTS],
}

impl Default for StatsCell {
    fn default() -> Self {
        StatsCell { slots: std::array::from_fn(|_| AtomicU64::new(0)) }
    }
}

impl StatsCell {
    /// Publishes `s`.
    pub fn store(&self, s: &StreamStats) {
        let v: [u64; SLOTS] = [
            s.packets_sent,
            s.octets_sent,
            s.packets_received,
            s.octets_received,
            s.lost as u64,
            s.late,
            s.reordered,
            s.foreign,
            s.bad,
            s.ssrc_changes,
            u64::from(s.jitter_buffer_ms),
            u64::from(s.jitter_target_ms),
            s.plc_frames,
            s.slips,
            s.underruns,
            s.overruns,
            s.tdm_blocks,
            s.dtmf_received,
            s.dtmf_sent,
            s.jitter_ms.to_bits(),
            u64::from(s.fraction_lost),
            s.rtcp_sent,
            s.rtcp_received,
            u64::from(s.remote_fraction_lost),
            s.remote_cumulative_lost as u64,
            s.remote_jitter_ms.to_bits(),
            s.rtt_ms.map_or(u64::MAX, f64::to_bits),
            s.dtmf_muted_samples,
            u64::from(s.data_mode),
            u64::from(s.answer_tone_from),
            s.tap_dropped,
        ];
        for (slot, x) in self.slots.iter().zip(v) {
            slot.store(x, Ordering::Relaxed);
        }
    }

    /// The figures last published.
    pub fn load(&self) -> StreamStats {
        let v: [u64; SLOTS] = std::array::from_fn(|i| self.slots[i].load(Ordering::Relaxed));
        StreamStats {
            packets_sent: v[0],
            octets_sent: v[1],
            packets_received: v[2],
            octets_received: v[3],
            lost: v[4] as i64,
            late: v[5],
            reordered: v[6],
            foreign: v[7],
            bad: v[8],
            ssrc_changes: v[9],
            jitter_buffer_ms: v[10] as u32,
            jitter_target_ms: v[11] as u32,
            plc_frames: v[12],
            slips: v[13],
            underruns: v[14],
            overruns: v[15],
            tdm_blocks: v[16],
            dtmf_received: v[17],
            dtmf_sent: v[18],
            jitter_ms: f64::from_bits(v[19]),
            fraction_lost: v[20] as u8,
            rtcp_sent: v[21],
            rtcp_received: v[22],
            remote_fraction_lost: v[23] as u8,
            remote_cumulative_lost: v[24] as i64,
            remote_jitter_ms: f64::from_bits(v[25]),
            rtt_ms: if v[26] == u64::MAX { None } else { Some(f64::from_bits(v[26])) },
            dtmf_muted_samples: v[27],
            data_mode: v[28] != 0,
            answer_tone_from: v[29] as u8,
            tap_dropped: v[30],
        }
    }
}

/// The system calls a pump thread makes, by kind, for [`IoStats`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Syscall {
    /// read() of a TDM block from a DAHDI channel.
    TdmRead = 0,
    /// write() of a TDM block to a DAHDI channel.
    TdmWrite = 1,
    /// ioctl() on a DAHDI channel (GETEVENT, FLUSH, echo canceller).
    TdmIoctl = 2,
    /// recvfrom() on an RTP or RTCP socket.
    UdpRecv = 3,
    /// sendto() of an RTP or RTCP datagram.
    UdpSend = 4,
    /// epoll_wait() (the thread's sleep, woken by sockets or the timer).
    EpollWait = 5,
    /// timerfd_settime() arming the wake-up for the next block due.
    Timer = 6,
    /// nanosleep(): the quiet time between passes, when packets wait.
    Sleep = 7,
}

/// Number of [`Syscall`] kinds.
pub const SYSCALL_KINDS: usize = 8;

/// Upper bounds (µs) of the [`IoStats::read_late`] buckets; the last
/// bucket holds everything later.
pub const READ_LATE_BOUNDS_US: [u64; READ_LATE_BUCKETS - 1] = [100, 250, 500, 1000, 2000, 5000];
/// Number of [`IoStats::read_late`] buckets.
pub const READ_LATE_BUCKETS: usize = 7;

/// One call in this many of each kind is timed on the thread's CPU clock.
const SAMPLE_EVERY: u32 = 32;

/// What the pump threads' system calls cost: counts, and the thread CPU
/// time of a sample of them (so the cost split is measured, not guessed).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct IoStats {
    /// Calls made, by [`Syscall`] kind.
    pub calls: [u64; SYSCALL_KINDS],
    /// Calls timed, by kind.
    pub sampled: [u64; SYSCALL_KINDS],
    /// Thread CPU time of the timed calls, ns, by kind (the clock reads'
    /// own cost, `clock_overhead_ns` per call, already taken off).
    pub sampled_cpu_ns: [u64; SYSCALL_KINDS],
    /// What one pair of thread-CPU clock reads costs, ns.
    pub clock_overhead_ns: u64,
    /// Reads at a locked block phase, by how late they were made after
    /// they were due (the pump's own scheduling: busy passes and wake-up
    /// latency), in the buckets of [`READ_LATE_BOUNDS_US`].
    pub read_late: [u64; READ_LATE_BUCKETS],
}

impl IoStats {
    /// Mean thread CPU per call of `kind`, µs (NaN when none was timed).
    pub fn cpu_us_per_call(&self, kind: Syscall) -> f64 {
        let k = kind as usize;
        self.sampled_cpu_ns[k] as f64 / self.sampled[k] as f64 / 1000.0
    }

    /// Estimated thread CPU of all calls of `kind`, µs.
    pub fn cpu_us(&self, kind: Syscall) -> f64 {
        let k = kind as usize;
        if self.sampled[k] == 0 { 0.0 } else { self.cpu_us_per_call(kind) * self.calls[k] as f64 }
    }

    /// The difference `self - earlier` (counts over a window).
    pub fn since(&self, earlier: &IoStats) -> IoStats {
        let d = |a: [u64; SYSCALL_KINDS], b: [u64; SYSCALL_KINDS]| std::array::from_fn(|i| a[i].saturating_sub(b[i]));
        IoStats {
            calls: d(self.calls, earlier.calls),
            sampled: d(self.sampled, earlier.sampled),
            sampled_cpu_ns: d(self.sampled_cpu_ns, earlier.sampled_cpu_ns),
            clock_overhead_ns: self.clock_overhead_ns,
            read_late: std::array::from_fn(|i| self.read_late[i].saturating_sub(earlier.read_late[i])),
        }
    }

    /// Adds another thread's figures.
    pub fn add(&mut self, o: &IoStats) {
        for i in 0..SYSCALL_KINDS {
            self.calls[i] += o.calls[i];
            self.sampled[i] += o.sampled[i];
            self.sampled_cpu_ns[i] += o.sampled_cpu_ns[i];
        }
        for i in 0..READ_LATE_BUCKETS {
            self.read_late[i] += o.read_late[i];
        }
        self.clock_overhead_ns = self.clock_overhead_ns.max(o.clock_overhead_ns);
    }
}

/// One pump thread's [`IoStats`] in atomics (the thread writes, anyone reads).
#[derive(Debug, Default)]
pub(crate) struct IoCells {
    calls: [AtomicU64; SYSCALL_KINDS],
    sampled: [AtomicU64; SYSCALL_KINDS],
    ns: [AtomicU64; SYSCALL_KINDS],
    overhead: AtomicU64,
    read_late: [AtomicU64; READ_LATE_BUCKETS],
}

impl IoCells {
    pub(crate) fn load(&self) -> IoStats {
        IoStats {
            calls: std::array::from_fn(|i| self.calls[i].load(Ordering::Relaxed)),
            sampled: std::array::from_fn(|i| self.sampled[i].load(Ordering::Relaxed)),
            sampled_cpu_ns: std::array::from_fn(|i| self.ns[i].load(Ordering::Relaxed)),
            clock_overhead_ns: self.overhead.load(Ordering::Relaxed),
            read_late: std::array::from_fn(|i| self.read_late[i].load(Ordering::Relaxed)),
        }
    }
}

/// The pump thread's meter: counts every call, times one in
/// [`SAMPLE_EVERY`] on `CLOCK_THREAD_CPUTIME_ID`.
pub(crate) struct IoMeter {
    cells: std::sync::Arc<IoCells>,
    n: [u32; SYSCALL_KINDS],
    overhead: u64,
}

fn thread_cpu_ns() -> u64 {
    nix::time::clock_gettime(nix::time::ClockId::CLOCK_THREAD_CPUTIME_ID).map_or(0, |t| t.tv_sec() as u64 * 1_000_000_000 + t.tv_nsec() as u64)
}

impl IoMeter {
    /// A meter publishing to `cells`; calibrates the clock's own cost.
    pub(crate) fn new(cells: std::sync::Arc<IoCells>) -> IoMeter {
        let mut best = u64::MAX;
        for _ in 0..200 {
            let a = thread_cpu_ns();
            let b = thread_cpu_ns();
            best = best.min(b.saturating_sub(a));
        }
        cells.overhead.store(best, Ordering::Relaxed);
        IoMeter { cells, n: [0; SYSCALL_KINDS], overhead: best }
    }

    /// Counts a read at a locked phase made `late` after it was due.
    pub(crate) fn read_late(&mut self, late: std::time::Duration) {
        let us = late.as_micros() as u64;
        let b = READ_LATE_BOUNDS_US.iter().position(|&u| us < u).unwrap_or(READ_LATE_BUCKETS - 1);
        let c = &self.cells.read_late[b];
        c.store(c.load(Ordering::Relaxed) + 1, Ordering::Relaxed);
    }

    /// Runs `f`, one system call of `kind`, counting (and sometimes timing) it.
    #[inline]
    pub(crate) fn call<R>(&mut self, kind: Syscall, f: impl FnOnce() -> R) -> R {
        let k = kind as usize;
        // Single writer: a load and a store, no read-modify-write.
        let c = &self.cells.calls[k];
        c.store(c.load(Ordering::Relaxed) + 1, Ordering::Relaxed);
        self.n[k] = self.n[k].wrapping_add(1);
        if self.n[k] % SAMPLE_EVERY != 0 {
            return f();
        }
        let t0 = thread_cpu_ns();
        let r = f();
        let dt = thread_cpu_ns().saturating_sub(t0).saturating_sub(self.overhead);
        let (s, ns) = (&self.cells.sampled[k], &self.cells.ns[k]);
        s.store(s.load(Ordering::Relaxed) + 1, Ordering::Relaxed);
        ns.store(ns.load(Ordering::Relaxed) + dt, Ordering::Relaxed);
        r
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_are_counted_in_the_bucket_of_their_lateness() {
        let cells = std::sync::Arc::new(IoCells::default());
        let mut m = IoMeter::new(cells.clone());
        for us in [0, 99, 100, 700, 1999, 4999, 5000, 60_000] {
            m.read_late(std::time::Duration::from_micros(us));
        }
        let before = cells.load();
        assert_eq!(before.read_late, [2, 1, 0, 1, 1, 1, 2]);
        m.read_late(std::time::Duration::from_micros(300));
        assert_eq!(cells.load().since(&before).read_late, [0, 0, 1, 0, 0, 0, 0]);
    }

    #[test]
    fn stats_survive_a_round_trip_through_the_cell() {
        let s = StreamStats {
            packets_sent: 7,
            lost: -2,
            jitter_ms: 1.25,
            rtt_ms: Some(12.5),
            remote_cumulative_lost: -1,
            fraction_lost: 25,
            data_mode: true,
            answer_tone_from: 2,
            tap_dropped: 3,
            ..Default::default()
        };
        let c = StatsCell::default();
        c.store(&s);
        assert_eq!(c.load(), s);
        c.store(&StreamStats::default());
        assert_eq!(c.load().rtt_ms, None);
    }
}
