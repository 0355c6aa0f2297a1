//! The pump thread: owns channels and sockets, paces itself on the TDM
//! clock, and feeds the [`Stream`] cores.

use std::collections::HashMap;
use std::io::IoSliceMut;
use std::net::{SocketAddr, UdpSocket};
use std::os::fd::{AsFd, AsRawFd};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use crossbeam_channel::{Receiver, TryRecvError};
use nix::sys::epoll::{Epoll, EpollCreateFlags, EpollEvent, EpollFlags, EpollTimeout};
use nix::sys::eventfd::EventFd;
use nix::sys::socket::{AddressFamily, ControlMessageOwned, MsgFlags, SockaddrLike, SockaddrStorage, recvmsg};
use nix::sys::time::TimeSpec;
use nix::sys::timerfd::{ClockId, Expiration, TimerFd, TimerFlags, TimerSetTimeFlags};
use tandem_drivers::{Channel, Io};

use super::stats::{IoCells, IoMeter, StatsCell, Syscall};
use super::stream::{NtpClock, Stream, random_seed};
use super::write_phase::{WritePhase, align};
use super::{Command, DtmfMode, TAP_BLOCK, TapBlock};
use crate::codec::dsp_law;

mod park;

/// Largest datagram read.
const RECV_BUF: usize = 2048;
/// The longest the thread sleeps while it has streams (their deadlines
/// usually come sooner; commands ring the doorbell).
const MAX_SLEEP: Duration = Duration::from_millis(5);
/// The longest the thread sleeps with no started stream (a parked one's
/// RTCP has its own deadline): a command rings the doorbell and ends the
/// sleep at once.
const IDLE_SLEEP: Duration = Duration::from_secs(1);
/// The deadline of an empty slot (a command that fills it has every slot serviced).
const IDLE_WAKE: Duration = Duration::from_secs(3600);
/// Datagrams read at most per socket per pass when it has a backlog.
const RX_BURST: usize = 64;
/// Packets wait in their sockets at least this long after a pass began
/// (blocks due are read on time regardless): with calls' packets arriving
/// at independent phases, waking for each would cost a wake-up per packet;
/// this way a pass takes every packet of up to 1 ms (DAHDI's own tick).
/// A packet waits at most this long, which timed writes absorb (their
/// audio plays at its fixed place in the transmit queue).
const PASS_GAP: Duration = Duration::from_millis(1);
/// Blocks between backlog probes on a locked channel.
const PROBE_EVERY: u32 = 50;
/// Blocks between early looks on a locked channel (see [`Phase`]); the
/// cost is one empty read per this many blocks while the phase is unsure.
const EARLY_EVERY: u32 = 8;
/// The phase is known well enough when its bracket is this narrow.
const PHASE_TIGHT: Duration = Duration::from_micros(400);
/// How much the bracket's lower bound is relaxed every [`EARLY_EVERY`]
/// blocks, so a TDM clock that runs fast is followed.
const PHASE_RELAX: Duration = Duration::from_micros(50);
/// Reads that find nothing at a locked phase before it is hunted again.
const MAX_MISSES: u8 = 3;
/// One millisecond, the simulator's and DAHDI's tick.
const TICK: Duration = Duration::from_millis(1);
/// Blocks drained at most per look while hunting for the phase.
const MAX_DRAIN: usize = 8;
/// How long after the stream's (late) packet arrivals its blocks are
/// nominally due, once their phase is learnt (see [`WritePhase`]): the
/// transmit queue then holds the margin, and what is written plays after it.
const WRITE_GUARD: Duration = Duration::from_millis(1);
/// A timed write is made as soon as its packet is in, from this long
/// before its nominal time (the samples still play at their fixed place in
/// the transmit queue; writing early only makes the queue longer for a while).
const WRITE_OPEN: Duration = Duration::from_millis(8);
/// A timed write whose packet has not come is made anyway this long after
/// its nominal time (with concealment), which leaves the transmit queue
/// `tx_margin` (plus [`WRITE_MARGIN_EXTRA`], less this) to cover the
/// wake-up; a packet up to this late after its nominal time still plays in
/// its place.
const WRITE_SLACK: Duration = Duration::from_millis(4);
/// Samples (4 ms) the transmit queue holds at a timed write's nominal time
/// beyond `tx_margin`: a timed write may wait [`WRITE_SLACK`] for its packet
/// and still find the margin a write at a read finds.
const WRITE_MARGIN_EXTRA: usize = 32;
/// Arrivals are timed against the read grid only while the channel's
/// block phase is known this well.
const PHASE_SURE: Duration = Duration::from_millis(1);
/// Silence blocks written at start, so the channel transmits silence while
/// the pump learns its phase (they are flushed when it locks).
const PRIME_BLOCKS: usize = 2;

/// What the pump thread needs from the [`PumpConfig`](super::PumpConfig).
pub(crate) struct ShellConfig {
    pub block: usize,
    pub jitter_min_ms: u32,
    pub jitter_max_ms: u32,
    pub dtmf_mode: DtmfMode,
    pub cpu: Option<usize>,
    /// Samples of silence queued ahead of the first block written after
    /// the phase is locked: the transmit queue's margin against a late read.
    pub tx_margin: usize,
    pub line_events: Option<crossbeam_channel::Sender<(u32, tandem_drivers::LineEvent)>>,
    pub tap: Option<crossbeam_channel::Sender<TapBlock>>,
    pub answer_tone: bool,
    /// The thread's realtime priority.
    pub rt_priority: Option<super::RtPriority>,
}

/// When a locked channel's next block completes: after `not_before` (a
/// read then found nothing) and by `ready` (a read then found it). The
/// pump reads at `ready`, so TDM → RTP adds at most the bracket's width
/// plus the wake-up latency; an early look inside the bracket now and then
/// narrows it (a busy pass while hunting can leave it several ms wide).
#[derive(Clone, Copy, Debug)]
struct Phase {
    not_before: Instant,
    ready: Instant,
}

impl Phase {
    fn advance(&mut self, by: Duration) {
        self.not_before += by;
        self.ready += by;
    }

    fn width(&self) -> Duration {
        self.ready.saturating_duration_since(self.not_before)
    }
}

/// What the pump knows of a channel's block phase.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Hunt {
    /// Unknown; the last look found data (or there was none yet).
    Start,
    /// Unknown; the last look, 1 ms ago, found nothing.
    Missed,
    /// Known: read once per block, 1 ms after it completes.
    Locked,
}

/// What a stream brings to its slot ([`Shell::seat`]).
struct Slotted {
    id: u64,
    stream: Stream,
    chan: Channel,
    rtp: UdpSocket,
    rtcp: UdpSocket,
    stats: Arc<StatsCell>,
}

struct Slot {
    id: u64,
    stream: Stream,
    chan: Channel,
    rtp: UdpSocket,
    rtcp: UdpSocket,
    stats: Arc<StatsCell>,
    due: Instant,
    hunt: Hunt,
    since_probe: u32,
    since_early: u32,
    /// The locked phase.
    phase: Phase,
    /// When the last hunting look found nothing.
    empty_at: Instant,
    /// The next read is an early look (inside the phase bracket).
    early: bool,
    /// Reads in a row that found nothing at the locked phase.
    misses: u8,
    dead: bool,
    /// The packets' arrival phase, from which the write phase is learnt.
    wphase: WritePhase,
    /// When the next block is written, once writes are timed to the
    /// packets' arrival; `None`: a block is written right after each read.
    write_due: Option<Instant>,
    /// The timed writes' offset after the read grid.
    write_off: Duration,
    /// The next write restarts the transmit queue (flush, silence, block).
    restart: bool,
}

struct Shell {
    cfg: ShellConfig,
    block_dur: Duration,
    slots: Vec<Option<Slot>>,
    by_id: HashMap<u64, usize>,
    epoll: Epoll,
    timer: TimerFd,
    ntp: NtpClock,
    inbuf: Box<[u8]>,
    outbuf: Box<[u8]>,
    rxbuf: Box<[u8]>,
    /// Ancillary data of a received RTP datagram (its kernel timestamp).
    cmsg: Vec<u8>,
    io: IoMeter,
    /// Passes made (wake-ups that serviced the slots).
    passes: u64,
    /// Per slot, the pass that last read one of its sockets.
    rx_pass: Vec<u64>,
    /// Per slot, when it next has something due (a packet in makes it now).
    wake: Vec<Instant>,
    /// Streams parked (hold), apart from the slots (see `park`).
    parked: park::Parked,
}

/// Runs a pump thread until `Shutdown` or until every handle is gone.
pub(crate) fn run(cfg: ShellConfig, rx: Receiver<Command>, bell: Arc<EventFd>, io: Arc<IoCells>) {
    if let Some(cpu) = cfg.cpu {
        let mut set = nix::sched::CpuSet::new();
        if set.set(cpu).is_ok() && nix::sched::sched_setaffinity(nix::unistd::Pid::from_raw(0), &set).is_err() {
            tracing::warn!(cpu, "media pump: cannot pin to CPU");
        }
    }
    if let Some(rt) = cfg.rt_priority {
        match (rt.apply)(rt.priority) {
            Ok(()) => tracing::debug!(priority = rt.priority, "media pump: realtime priority"),
            Err(e) => tracing::warn!(
                priority = rt.priority,
                error = %e,
                "media pump: no realtime priority; run as root or grant CAP_SYS_NICE (LimitRTPRIO= in a systemd unit)"
            ),
        }
    }
    let epoll = match Epoll::new(EpollCreateFlags::EPOLL_CLOEXEC) {
        Ok(e) => e,
        Err(e) => {
            tracing::error!(error = %e, "media pump: epoll_create failed; pump stopped");
            return;
        }
    };
    let timer = match TimerFd::new(ClockId::CLOCK_MONOTONIC, TimerFlags::TFD_NONBLOCK | TimerFlags::TFD_CLOEXEC)
        .and_then(|t| epoll.add(t.as_fd(), EpollEvent::new(EpollFlags::EPOLLIN, TIMER)).map(|_| t))
    {
        Ok(t) => t,
        Err(e) => {
            tracing::error!(error = %e, "media pump: timerfd failed; pump stopped");
            return;
        }
    };
    if let Err(e) = epoll.add(bell.as_fd(), EpollEvent::new(EpollFlags::EPOLLIN, BELL)) {
        tracing::error!(error = %e, "media pump: epoll_ctl failed for the doorbell; pump stopped");
        return;
    }
    let block_dur = Duration::from_micros(cfg.block as u64 * 125);
    // Sleeps end on time (the default slack is 50 µs): reads are due at a
    // phase known to a fraction of a millisecond.
    let _ = nix::sys::prctl::set_timerslack(1);
    let mut sh = Shell {
        timer,
        block_dur,
        slots: Vec::new(),
        by_id: HashMap::new(),
        epoll,
        ntp: NtpClock::now(),
        inbuf: vec![0; cfg.block].into_boxed_slice(),
        outbuf: vec![0; cfg.block].into_boxed_slice(),
        rxbuf: vec![0; RECV_BUF].into_boxed_slice(),
        cmsg: nix::cmsg_space!(TimeSpec),
        io: IoMeter::new(io),
        passes: 0,
        rx_pass: Vec::new(),
        wake: Vec::new(),
        parked: park::Parked::default(),
        cfg,
    };
    let mut events = vec![EpollEvent::empty(); 256];
    // The slots' earliest deadline, as the last service pass left them
    // (nothing changes them between that pass and the wait).
    let mut slots_next = Instant::now();
    let mut pass = Instant::now();
    loop {
        let now = Instant::now();
        // With no stream at all, only a command (the doorbell) has work.
        let nap = if sh.by_id.is_empty() { IDLE_SLEEP } else { MAX_SLEEP };
        let mut next = slots_next.min(now + nap);
        next = sh.parked.next_timeout().map_or(next, |t| next.min(t));
        let quiet = (pass + PASS_GAP).min(next);
        if quiet > now {
            // Deaf to the sockets until the gap is over or a deadline is due.
            let d = quiet - now;
            sh.io.call(Syscall::Sleep, || std::thread::sleep(d));
        }
        let now = Instant::now();
        let wait = next.saturating_duration_since(now);
        let n = match wait_events(&sh.epoll, &sh.timer, &mut events, wait, &mut sh.io) {
            Ok(n) => n,
            Err(nix::errno::Errno::EINTR) => 0,
            Err(e) => {
                tracing::error!(error = %e, "media pump: epoll_wait failed; pump stopped");
                return;
            }
        };
        let now = Instant::now();
        pass = now;
        sh.passes += 1;
        for ev in events[..n].iter().filter(|e| e.data() != TIMER) {
            if ev.data() == BELL {
                let _ = bell.read();
                continue;
            }
            sh.receive(ev.data(), now);
        }
        // A command may change any slot: then every slot is serviced.
        let mut all = false;
        loop {
            match rx.try_recv() {
                Ok(Command::Shutdown) | Err(TryRecvError::Disconnected) => return,
                Ok(c) => {
                    sh.command(c, now);
                    all = true;
                }
                Err(TryRecvError::Empty) => break,
            }
        }
        let now = Instant::now();
        slots_next = now + if sh.by_id.is_empty() { IDLE_SLEEP } else { MAX_SLEEP };
        // Only the slots with something due (or a packet in) are visited:
        // their deadlines sit apart in `wake`, so a pass over 1,024 slots
        // with a few due touches a few slots' state, not all of it.
        let idle = now + IDLE_WAKE;
        sh.wake.resize(sh.slots.len(), now);
        for i in 0..sh.slots.len() {
            if all || sh.wake[i] <= now {
                sh.wake[i] = sh.service(i, now).unwrap_or(idle);
            }
            slots_next = slots_next.min(sh.wake[i]);
        }
        sh.service_parked(now);
    }
}

/// The longest a datagram is taken to have waited in its socket: a kernel
/// timestamp older than this, or in the future, means the wall clock was
/// stepped, and the pass's time is used instead.
const MAX_STAMP_AGE: Duration = Duration::from_secs(1);

/// Receives one datagram, with the kernel's receive timestamp
/// (`SO_TIMESTAMPNS`, on the wall clock) when the socket gives one.
fn recv_stamped(sock: &UdpSocket, buf: &mut [u8], cmsg: &mut [u8]) -> std::io::Result<(usize, SocketAddr, Option<SystemTime>)> {
    let mut iov = [IoSliceMut::new(buf)];
    let msg = recvmsg::<SockaddrStorage>(sock.as_raw_fd(), &mut iov, Some(cmsg), MsgFlags::empty()).map_err(std::io::Error::from)?;
    let from = msg
        .address
        .and_then(|a| match a.family() {
            Some(AddressFamily::Inet) => a.as_sockaddr_in().map(|v| SocketAddr::from(*v)),
            Some(AddressFamily::Inet6) => a.as_sockaddr_in6().map(|v| SocketAddr::from(*v)),
            _ => None,
        })
        .ok_or_else(|| std::io::Error::new(std::io::ErrorKind::InvalidData, "datagram without an IP source"))?;
    let stamp = msg.cmsgs().ok().and_then(|mut c| {
        c.find_map(|m| match m {
            ControlMessageOwned::ScmTimestampns(ts) => {
                let d = Duration::new(u64::try_from(ts.tv_sec()).ok()?, u32::try_from(ts.tv_nsec()).ok()?);
                SystemTime::UNIX_EPOCH.checked_add(d)
            }
            _ => None,
        })
    });
    Ok((msg.bytes, from, stamp))
}

/// The monotonic instant of a kernel receive timestamp `stamp` (wall
/// clock), given the wall clock `real` read at the monotonic `mono`.
/// `None` when the stamp is in the future or older than [`MAX_STAMP_AGE`].
fn arrival_instant(stamp: SystemTime, real: SystemTime, mono: Instant) -> Option<Instant> {
    let age = real.duration_since(stamp).ok()?;
    if age > MAX_STAMP_AGE {
        return None;
    }
    mono.checked_sub(age)
}

/// The epoll data of the wake-up timer.
const TIMER: u64 = u64::MAX;
/// The epoll data of the command doorbell.
const BELL: u64 = u64::MAX - 1;

/// Waits for events until `wait` has passed, to the microsecond: reads are
/// due at a phase known to a fraction of a millisecond, and epoll_wait's
/// timeout, rounded up to a whole one, would add up to 1 ms to TDM → RTP.
/// A timerfd in the epoll set, armed for `wait`, ends the wait (arming it
/// also clears its last expiry, so it is never read).
fn wait_events(epoll: &Epoll, timer: &TimerFd, events: &mut [EpollEvent], wait: Duration, io: &mut IoMeter) -> nix::Result<usize> {
    if wait.is_zero() {
        return io.call(Syscall::EpollWait, || epoll.wait(events, EpollTimeout::ZERO));
    }
    if io.call(Syscall::Timer, || timer.set(Expiration::OneShot(TimeSpec::from_duration(wait)), TimerSetTimeFlags::empty())).is_err() {
        // Without the timer, round up: late is fine, early wastes a pass.
        let ms = wait.as_micros().div_ceil(1000).min(u128::from(u16::MAX)) as u16;
        return io.call(Syscall::EpollWait, || epoll.wait(events, EpollTimeout::from(ms)));
    }
    // The timer ends the wait; the timeout is only a safety net.
    let ms = (wait.as_millis() + 2).min(u128::from(u16::MAX)) as u16;
    io.call(Syscall::EpollWait, || epoll.wait(events, EpollTimeout::from(ms)))
}

impl Shell {
    fn command(&mut self, c: Command, now: Instant) {
        match c {
            Command::Start { id, spec, chan, rtp, rtcp, stats } => {
                let i = self.free_slot();
                let flags = EpollFlags::EPOLLIN;
                // The kernel stamps each datagram as it comes in: the write
                // phase is learnt from when the packets arrived, not from
                // when a pass got to them (see `after_rtp`).
                if let Err(e) = nix::sys::socket::setsockopt(&rtp, nix::sys::socket::sockopt::ReceiveTimestampns, &true) {
                    tracing::debug!(stream = id, error = %e, "media pump: no receive timestamps; arrivals timed by the pass");
                }
                if let Err(e) = self
                    .epoll
                    .add(rtp.as_fd(), EpollEvent::new(flags, (i as u64) << 1))
                    .and_then(|_| self.epoll.add(rtcp.as_fd(), EpollEvent::new(flags, ((i as u64) << 1) | 1)))
                {
                    tracing::error!(stream = id, error = %e, "media pump: epoll_ctl failed; stream not started");
                    return;
                }
                let mut stream = Stream::new(spec, self.cfg.jitter_min_ms, self.cfg.jitter_max_ms, self.cfg.dtmf_mode, self.ntp, now, random_seed() ^ id);
                stream.detect_answer_tone(self.cfg.answer_tone);
                self.seat(i, Slotted { id, stream, chan, rtp, rtcp, stats }, now);
                tracing::debug!(stream = id, channo = spec.channo, "media stream started");
            }
            Command::Park { id } => self.park(id, now),
            Command::Unpark { id, spec, chan } => self.unpark(id, spec, chan, now),
            Command::Update { id, spec } if self.parked.has(id) => self.parked.update(id, spec),
            Command::Stop { id } if self.parked.has(id) => self.stop_parked(id),
            // Applied when attached again (the spec's echo taps) or dropped.
            Command::Echo { id, .. } | Command::Digit { id, .. } if self.parked.has(id) => {}
            Command::Update { id, spec } => {
                if let Some(s) = self.by_id.get(&id).and_then(|&i| self.slots[i].as_mut()) {
                    if let Some(taps) = spec.echo_taps
                        && spec.echo_taps != s.stream.spec().echo_taps
                    {
                        set_echo(s, taps);
                    }
                    let old = *s.stream.spec();
                    s.stream.update(spec);
                    if spec.remote != old.remote || spec.ptime_ms != old.ptime_ms || spec.symmetric != old.symmetric {
                        // The packets' phase is to be learnt again; meanwhile
                        // the writes keep theirs (or go back to the reads).
                        s.wphase.reset();
                        if s.write_due.is_some() && s.stream.frame_samples() != self.cfg.block {
                            s.write_due = None;
                            s.restart = true;
                        }
                    }
                }
            }
            Command::Echo { id, taps } => {
                if let Some(s) = self.by_id.get(&id).and_then(|&i| self.slots[i].as_mut()) {
                    set_echo(s, taps);
                }
            }
            Command::Digit { id, digit, duration_ms } => {
                if let Some(s) = self.by_id.get(&id).and_then(|&i| self.slots[i].as_mut()) {
                    s.stream.play_digit(digit, duration_ms);
                }
            }
            Command::Stop { id } => {
                if let Some(i) = self.by_id.remove(&id)
                    && let Some(s) = self.slots[i].take()
                {
                    let _ = self.epoll.delete(s.rtp.as_fd());
                    let _ = self.epoll.delete(s.rtcp.as_fd());
                    s.stats.store(&s.stream.stats());
                    tracing::debug!(stream = s.id, "media stream stopped");
                }
            }
            Command::Shutdown => {}
        }
    }

    /// The index of an empty slot (a new one if none is).
    fn free_slot(&mut self) -> usize {
        match self.slots.iter().position(Option::is_none) {
            Some(i) => i,
            None => {
                self.slots.push(None);
                self.slots.len() - 1
            }
        }
    }

    /// Runs a stream on its channel in slot `i` (a start, or a parked
    /// stream attached again). Blocks queued before now are stale (audio
    /// from before the call, up to the whole receive queue on a channel left
    /// open, as an analog line's is): they are dropped. Flushing the read
    /// side also restarts the channel's block fill (DAHDI resets its read
    /// buffers' fill on DAHDI_FLUSH), so its blocks complete on the call's
    /// own phase, as each real call's do; silence is queued while the pump
    /// learns that phase afresh.
    fn seat(&mut self, i: usize, st: Slotted, now: Instant) {
        let Slotted { id, stream, chan, rtp, rtcp, stats } = st;
        let _ = self.io.call(Syscall::TdmIoctl, || chan.flush(true, false, false));
        let silence = vec![dsp_law(stream.spec().tdm_law).silence(); self.cfg.block];
        for _ in 0..PRIME_BLOCKS {
            let _ = chan.write(&silence);
        }
        stats.store(&stream.stats());
        self.slots[i] = Some(Slot {
            id,
            stream,
            chan,
            rtp,
            rtcp,
            stats,
            due: now,
            hunt: Hunt::Start,
            since_probe: 0,
            since_early: 0,
            phase: Phase { not_before: now, ready: now },
            empty_at: now,
            early: false,
            misses: 0,
            dead: false,
            wphase: WritePhase::new(self.block_dur, WRITE_GUARD),
            write_due: None,
            write_off: Duration::ZERO,
            restart: false,
        });
        self.by_id.insert(id, i);
    }

    fn receive(&mut self, data: u64, now: Instant) {
        if data & park::PARKED != 0 {
            return self.receive_parked(data, now);
        }
        let (block, block_dur) = (self.cfg.block, self.block_dur);
        let (i, is_rtcp) = ((data >> 1) as usize, data & 1 == 1);
        if self.rx_pass.len() <= i {
            self.rx_pass.resize(i + 1, 0);
        }
        let burst = if self.rx_pass[i] + 1 >= self.passes { RX_BURST } else { 1 };
        self.rx_pass[i] = self.passes;
        if let Some(w) = self.wake.get_mut(i) {
            // What came in may move the slot's deadlines: service it this pass.
            *w = now;
        }
        let Some(s) = self.slots.get_mut(i).and_then(Option::as_mut) else { return };
        // One datagram per stream per 20 ms is the norm, so recvmmsg would
        // not batch anything here, and reading until EAGAIN would cost a
        // second recvfrom per packet: read one datagram per event. The
        // epoll set is level-triggered, so anything left is reported again
        // by the next wait. A socket reported in two passes in a row has a
        // backlog (a flood, or a burst after a stall): it is drained, up to
        // [`RX_BURST`] datagrams a pass, so floods are read and counted
        // rather than overflowing the socket's buffer between passes.
        for _ in 0..burst {
            let sock = if is_rtcp { &s.rtcp } else { &s.rtp };
            // An error (WouldBlock, EINTR, or an ICMP error from an earlier
            // send: port unreachable) leaves nothing to do.
            if is_rtcp {
                let Ok((n, from)) = self.io.call(Syscall::UdpRecv, || sock.recv_from(&mut self.rxbuf)) else { return };
                s.stream.rtcp_in(&self.rxbuf[..n], from, now);
            } else {
                let Ok((n, from, stamp)) = self.io.call(Syscall::UdpRecv, || recv_stamped(sock, &mut self.rxbuf, &mut self.cmsg)) else { return };
                s.stream.rtp_in(&self.rxbuf[..n], from, now);
                let arrived = stamp.and_then(|st| arrival_instant(st, SystemTime::now(), Instant::now()));
                after_rtp(s, &mut self.outbuf, &self.cfg, block, block_dur, now, arrived, &mut self.io);
            }
        }
    }

    /// Does what slot `i` has due by `now`; returns its next deadline.
    fn service(&mut self, i: usize, now: Instant) -> Option<Instant> {
        let block_dur = self.block_dur;
        let s = self.slots.get_mut(i).and_then(Option::as_mut)?;
        if s.dead {
            s.write_due = None;
        }
        let pulls = s.write_due.is_some_and(|w| w + WRITE_SLACK <= now) || (!s.dead && s.due <= now && s.write_due.is_none());
        let block = self.cfg.block;
        if pulls && !s.stream.block_ready(block) && s.stream.buffered() as usize >= block {
            // A block is about to be pulled with a hole at its start and a
            // later packet in: the missing one may be queued behind it (a
            // reordered pair comes back to back, and a pass reads one
            // datagram per socket). Take what is queued first, so it plays
            // rather than being concealed and then discarded as late.
            for _ in 0..RX_BURST {
                let Ok((n, from, stamp)) = self.io.call(Syscall::UdpRecv, || recv_stamped(&s.rtp, &mut self.rxbuf, &mut self.cmsg)) else { break };
                s.stream.rtp_in(&self.rxbuf[..n], from, now);
                let arrived = stamp.and_then(|st| arrival_instant(st, SystemTime::now(), Instant::now()));
                after_rtp(s, &mut self.outbuf, &self.cfg, block, block_dur, now, arrived, &mut self.io);
                if s.stream.block_ready(block) {
                    break;
                }
            }
        }
        if s.write_due.is_some_and(|w| w + WRITE_SLACK <= now && w <= s.due) {
            timed_write(s, &mut self.outbuf, &self.cfg, block_dur, &mut self.io);
        }
        if !s.dead && s.due <= now {
            // Phase decisions need the time of this very read, not the pass's.
            let t = Instant::now();
            match s.hunt {
                Hunt::Locked => {
                    let early = std::mem::take(&mut s.early);
                    if !early {
                        self.io.read_late(t.saturating_duration_since(s.due));
                    }
                    let got = pump_blocks(s, 1, &mut self.inbuf, &mut self.outbuf, &self.cfg, &mut self.io);
                    if got == 0 {
                        s.phase.not_before = s.phase.not_before.max(t);
                        if early {
                            // Not complete yet: read at the bracket's end.
                            s.due = s.phase.ready;
                        } else if s.misses < MAX_MISSES {
                            // Late (a slow TDM clock): look again in a tick.
                            s.misses += 1;
                            s.phase.ready = t + TICK;
                            s.due = s.phase.ready;
                        } else {
                            // The phase is lost: hunt again.
                            s.hunt = Hunt::Missed;
                            s.empty_at = t;
                            s.due = now + TICK;
                        }
                    } else {
                        s.misses = 0;
                        // An early look that found the block moves reads and
                        // writes earlier from now on; the transmit queue keeps
                        // the difference (dropping samples to keep it would click).
                        s.phase.ready = s.phase.ready.min(t);
                        s.phase.advance(block_dur);
                        s.since_early += 1;
                        s.due = s.phase.ready;
                        if s.since_early >= EARLY_EVERY {
                            s.since_early = 0;
                            s.phase.not_before = s.phase.not_before.checked_sub(PHASE_RELAX).unwrap_or(s.phase.not_before);
                            if s.phase.width() > PHASE_TIGHT {
                                s.early = true;
                                s.due = s.phase.not_before + s.phase.width() / 2;
                            }
                        }
                        s.since_probe += 1;
                        if s.since_probe >= PROBE_EVERY {
                            s.since_probe = 0;
                            if pump_blocks(s, 1, &mut self.inbuf, &mut self.outbuf, &self.cfg, &mut self.io) > 0 {
                                s.stream.count_overrun();
                            }
                        }
                        if s.due + block_dur < now {
                            // Far behind (a stall): re-anchor rather than burst.
                            s.hunt = Hunt::Start;
                            s.due = now;
                        } else if let Some(w) = s.write_due {
                            // Timed writes follow the read grid (the TDM clock).
                            s.write_due = Some(align(s.phase.ready, s.write_off, block_dur, w));
                        }
                    }
                }
                h => {
                    let got = pump_blocks(s, MAX_DRAIN, &mut self.inbuf, &mut self.outbuf, &self.cfg, &mut self.io);
                    if got > 0 && h == Hunt::Missed {
                        s.hunt = Hunt::Locked;
                        s.misses = 0;
                        s.since_early = EARLY_EVERY - 1;
                        // Complete between the empty look and this one.
                        s.phase = Phase { not_before: s.empty_at, ready: t.max(s.empty_at) };
                        s.phase.advance(block_dur);
                        s.due = s.phase.ready;
                        // Locked, right after a block completed: from now on each
                        // block is written just after its read, so the transmit
                        // queue should hold only the margin when a write comes.
                        // Restart it as margin + the block just written. (Timed
                        // writes, once on, keep the queue on their own schedule
                        // through a lost and found phase: it is left alone.)
                        let block = self.cfg.block.min(self.outbuf.len());
                        let law = crate::codec::dsp_law(s.stream.spec().tdm_law);
                        let margin = vec![law.silence(); self.cfg.tx_margin.clamp(1, block)];
                        let io = &mut self.io;
                        if s.write_due.is_none() && io.call(Syscall::TdmIoctl, || s.chan.flush(false, true, false)).is_ok() {
                            let _ = io.call(Syscall::TdmWrite, || s.chan.write(&margin));
                            let _ = io.call(Syscall::TdmWrite, || s.chan.write(&self.outbuf[..block]));
                        }
                    } else {
                        s.hunt = if got == 0 { Hunt::Missed } else { Hunt::Start };
                        s.empty_at = t;
                        s.due = t + TICK;
                    }
                }
            }
            s.stats.store(&s.stream.stats());
        }
        if s.write_due.is_some_and(|w| w + WRITE_SLACK <= now) {
            timed_write(s, &mut self.outbuf, &self.cfg, block_dur, &mut self.io);
        }
        if s.stream.poll_timeout() <= now {
            s.stream.handle_timeout(now);
            flush(s, &mut self.io);
            s.stats.store(&s.stream.stats());
        }
        let mut next = s.stream.poll_timeout();
        if !s.dead {
            next = next.min(s.due);
            if let Some(w) = s.write_due {
                // Timed writes are made on arrival; the wake-up is the deadline.
                next = next.min(w + WRITE_SLACK);
            }
        }
        Some(next)
    }
}

/// Reads up to `max` blocks, answering each with a block from the jitter
/// buffer and sending what the core produced. Returns the blocks read.
/// Line events met on the way go to `events` (with the channel number)
/// when the pump was given a receiver for them.
fn pump_blocks(s: &mut Slot, max: usize, inbuf: &mut [u8], outbuf: &mut [u8], cfg: &ShellConfig, io: &mut IoMeter) -> usize {
    let events_to = &cfg.line_events;
    let mut got = 0;
    let mut events = 0;
    while got < max {
        match io.call(Syscall::TdmRead, || s.chan.read(inbuf)) {
            Ok(Io::Done(0)) => break,
            Ok(Io::Done(n)) => {
                got += 1;
                // Timed writes pull their blocks themselves (`timed_write`).
                let write = s.write_due.is_none();
                if write {
                    s.stream.tdm_block(&inbuf[..n], &mut outbuf[..n]);
                } else {
                    s.stream.tdm_in(&inbuf[..n]);
                }
                echo_off(s);
                if s.stream.spec().tap
                    && let Some(tx) = &cfg.tap
                {
                    tap(s, tx, &inbuf[..n]);
                }
                if write {
                    let restart = std::mem::take(&mut s.restart);
                    write_block(s, &outbuf[..n], if restart { Some(cfg.tx_margin) } else { None }, cfg, io);
                }
                flush(s, io);
            }
            Ok(Io::WouldBlock) => break,
            Ok(Io::Event) => {
                // A line event (alarm, hook, polarity...) is pending: call
                // control's business (forwarded if asked), the media only
                // needs it out of the way.
                forward_event(s, events_to, io);
                events += 1;
                if events > 4 {
                    break;
                }
            }
            Err(e) => {
                tracing::warn!(stream = s.id, error = %e, "media pump: channel read failed; TDM side of the stream stopped");
                s.dead = true;
                break;
            }
        }
    }
    got
}

/// Switches the echo canceller off when the stream heard the answer tone.
fn echo_off(s: &mut Slot) {
    if s.stream.take_echo_off() {
        tracing::info!(stream = s.id, channo = s.chan.number(), "media pump: 2100 Hz answer tone; data mode, echo canceller off");
        set_echo(s, 0);
    }
}

/// What a stream's shell does after an RTP packet came in: learn the
/// packets' phase (from `arrived`, the kernel's receive time, when known:
/// the pass's `now` can be up to [`PASS_GAP`] and a wake-up later), and
/// make the timed write whose packet it was.
#[allow(clippy::too_many_arguments)]
fn after_rtp(s: &mut Slot, outbuf: &mut [u8], cfg: &ShellConfig, block: usize, block_dur: Duration, now: Instant, arrived: Option<Instant>, io: &mut IoMeter) {
    if let Some(at) = s.stream.take_audio_arrival().map(|at| arrived.map_or(at, |a| a.min(at)))
        && s.hunt == Hunt::Locked
        && !s.dead
        && s.phase.width() <= PHASE_SURE
        && s.stream.frame_samples() == block
        && let Some(off) = s.wphase.arrival(at, s.phase.ready)
    {
        // A new write phase: the packet just in is the next block's,
        // due at the new phase's instant nearest to now, with the
        // transmit queue restarted.
        s.write_due = Some(align(s.phase.ready, off, block_dur, now));
        s.write_off = off;
        s.restart = true;
    }
    if s.write_due.is_some_and(|w| now + WRITE_OPEN >= w) && s.stream.block_ready(block) {
        // The block's packet is in (not just a later one that overtook
        // it): write it now (no wake-up of its own).
        timed_write(s, outbuf, cfg, block_dur, io);
    }
}

/// Writes the block nominally due at `write_due`, pulled from the jitter
/// buffer now: when its packet came in (up to [`WRITE_OPEN`] early) or at
/// the deadline ([`WRITE_SLACK`] late). The transmit queue holds
/// `tx_margin` + [`WRITE_MARGIN_EXTRA`] at the nominal time; a write `late`
/// by more than that found it run dry, so the samples that should have
/// played meanwhile are dropped and the next write finds the margin again
/// (the delay does not creep up); a restart flushes the queue and pads it
/// so that the block plays the margin after its nominal time, however
/// early it is written.
fn timed_write(s: &mut Slot, outbuf: &mut [u8], cfg: &ShellConfig, block_dur: Duration, io: &mut IoMeter) {
    let Some(due) = s.write_due else { return };
    let t = Instant::now();
    let late = t.saturating_duration_since(due);
    let early = due.saturating_duration_since(t);
    let block = cfg.block.min(outbuf.len());
    let (mut due, mut late, mut early) = (due, late, early);
    if late >= block_dur {
        // A stall: re-anchor at the nominal instant nearest to now and
        // restart the queue. The jitter buffer's timeline goes on (its
        // packets came in during the stall too); it slips any depth gained.
        due = align(s.phase.ready, s.write_off, block_dur, t);
        late = t.saturating_duration_since(due);
        early = due.saturating_duration_since(t);
        s.restart = true;
    }
    let restart = std::mem::take(&mut s.restart);
    if restart && (s.stream.buffered() as usize) < block {
        // A restart whose packet is not there (at the deadline, or after a
        // stall): pulling now would underrun the jitter buffer and hold its
        // timeline a block late; queue silence until the next write instead.
        outbuf[..block].fill(dsp_law(s.stream.spec().tdm_law).silence());
    } else {
        s.stream.tdm_out(&mut outbuf[..block]);
        echo_off(s);
    }
    let late = (late.as_micros() / 125) as usize;
    let early = (early.as_micros() / 125) as usize;
    let margin = cfg.tx_margin + WRITE_MARGIN_EXTRA;
    let skip = late.saturating_sub(margin).min(block - 1);
    let pad = restart.then(|| (margin + early).saturating_sub(late));
    write_block(s, &outbuf[skip..block], pad, cfg, io);
    s.write_due = Some(due + block_dur);
}

/// Largest silence pad written ahead of a block (100 ms).
const MAX_PAD: usize = 800;

/// Writes a block to the channel; with `pad`, after flushing the transmit
/// queue and writing that many samples of silence (a restart). A write
/// that finds every transmit buffer full (EAGAIN) is dropped, never
/// retried: the queue is never overfilled.
fn write_block(s: &mut Slot, data: &[u8], pad: Option<usize>, cfg: &ShellConfig, io: &mut IoMeter) {
    if let Some(pad) = pad {
        let pad = pad.min(MAX_PAD);
        let silence = [dsp_law(s.stream.spec().tdm_law).silence(); MAX_PAD];
        if io.call(Syscall::TdmIoctl, || s.chan.flush(false, true, false)).is_ok() && pad > 0 {
            write_or_event(s, &silence[..pad], cfg, io);
        }
    }
    write_or_event(s, data, cfg, io);
}

/// One write, retried once past a pending line event.
fn write_or_event(s: &mut Slot, data: &[u8], cfg: &ShellConfig, io: &mut IoMeter) {
    match io.call(Syscall::TdmWrite, || s.chan.write(data)) {
        Ok(Io::Event) => {
            forward_event(s, &cfg.line_events, io);
            let _ = io.call(Syscall::TdmWrite, || s.chan.write(data));
        }
        Ok(Io::WouldBlock) => tracing::debug!(stream = s.id, "media pump: transmit buffers full; block dropped"),
        Ok(Io::Done(_)) => {}
        Err(e) => tracing::debug!(stream = s.id, error = %e, "media pump: channel write failed"),
    }
}

/// Takes the pending line event and forwards it, if anyone listens.
fn forward_event(s: &Slot, events_to: &Option<crossbeam_channel::Sender<(u32, tandem_drivers::LineEvent)>>, io: &mut IoMeter) {
    if let Ok(Some(ev)) = io.call(Syscall::TdmIoctl, || s.chan.next_event())
        && let Some(tx) = events_to
    {
        let _ = tx.try_send((s.chan.number(), ev));
    }
}

/// Sends copies of a block read to the tap, [`TAP_BLOCK`] codes at a time;
/// never waits (a full channel drops and counts).
fn tap(s: &mut Slot, tx: &crossbeam_channel::Sender<TapBlock>, block: &[u8]) {
    let spec = *s.stream.spec();
    for chunk in block.chunks(TAP_BLOCK) {
        let mut t = TapBlock { id: s.id, channo: spec.channo, law: spec.tdm_law, len: chunk.len(), data: [0; TAP_BLOCK] };
        t.data[..chunk.len()].copy_from_slice(chunk);
        if tx.try_send(t).is_err() {
            s.stream.count_tap_drop();
        }
    }
}

/// Switches the channel's echo canceller (0: off).
fn set_echo(s: &mut Slot, taps: u32) {
    match s.chan.echo_cancel(taps) {
        Ok(()) => tracing::debug!(stream = s.id, taps, "media pump: echo canceller set"),
        Err(e) => tracing::warn!(stream = s.id, taps, error = %e, "media pump: echo canceller not set"),
    }
}

/// Sends everything the core queued.
fn flush(s: &mut Slot, io: &mut IoMeter) {
    while let Some(t) = s.stream.poll_transmit() {
        let sock = if t.rtcp { &s.rtcp } else { &s.rtp };
        let _ = io.call(Syscall::UdpSend, || sock.send_to(t.data, t.dest));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_datagram_read_late_is_timed_by_the_kernels_arrival_not_by_the_read() {
        let rx = UdpSocket::bind("127.0.0.1:0").unwrap();
        rx.set_nonblocking(true).unwrap();
        nix::sys::socket::setsockopt(&rx, nix::sys::socket::sockopt::ReceiveTimestampns, &true).unwrap();
        let tx = UdpSocket::bind("127.0.0.1:0").unwrap();
        // The kernel switches receive timestamping on for the whole system
        // the first time a socket asks, through deferred work: a datagram
        // that comes before that is stamped when it is read. So the first
        // tries may see the read's time; the kernel's arrival must show
        // within a few.
        let mut seen = Vec::new();
        for _ in 0..5 {
            let before = Instant::now();
            tx.send_to(b"rtp", rx.local_addr().unwrap()).unwrap();
            let sent = Instant::now();
            // The pump gets to the socket 30 ms later.
            std::thread::sleep(Duration::from_millis(30));
            let (mut buf, mut cmsg) = ([0u8; 64], nix::cmsg_space!(TimeSpec));
            let (n, from, stamp) = recv_stamped(&rx, &mut buf, &mut cmsg).unwrap();
            let read = Instant::now();
            assert_eq!((&buf[..n], from), (&b"rtp"[..], tx.local_addr().unwrap()));
            let at = arrival_instant(stamp.expect("a kernel timestamp"), SystemTime::now(), Instant::now()).unwrap();
            if read.duration_since(at) >= Duration::from_millis(30) {
                // Two clock readings apart, the mapping is within a millisecond of the send.
                assert!(at + Duration::from_millis(1) >= before && at <= sent + Duration::from_millis(1), "{at:?} vs {before:?}..{sent:?}");
                return;
            }
            seen.push(read.duration_since(at));
        }
        panic!("no datagram was timed at its arrival: each read {seen:?} after the stamp");
    }

    #[test]
    fn kernel_timestamps_map_to_the_monotonic_clock_and_stepped_wall_clocks_are_refused() {
        let mono = Instant::now() + Duration::from_secs(10);
        let real = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        let ms = Duration::from_millis;
        assert_eq!(arrival_instant(real - ms(3), real, mono), Some(mono - ms(3)));
        assert_eq!(arrival_instant(real, real, mono), Some(mono));
        assert_eq!(arrival_instant(real + ms(1), real, mono), None, "in the future");
        assert_eq!(arrival_instant(real - MAX_STAMP_AGE - ms(1), real, mono), None, "too old");
    }
}
