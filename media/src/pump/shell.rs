//! The pump thread: owns channels and sockets, paces itself on the TDM
//! clock, and feeds the [`Stream`] cores.

use std::collections::HashMap;
use std::net::UdpSocket;
use std::os::fd::AsFd;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, TryRecvError};
use nix::sys::epoll::{Epoll, EpollCreateFlags, EpollEvent, EpollFlags, EpollTimeout};
use tandem_drivers::{Channel, Io};

use super::stats::StatsCell;
use super::stream::{NtpClock, Stream, random_seed};
use super::{Command, DtmfMode};
use crate::codec::dsp_law;

/// Largest datagram read.
const RECV_BUF: usize = 2048;
/// The longest the thread sleeps, so commands are picked up promptly.
const MAX_SLEEP: Duration = Duration::from_millis(5);
/// Blocks between backlog probes on a locked channel.
const PROBE_EVERY: u32 = 50;
/// Blocks drained at most per look while hunting for the phase.
const MAX_DRAIN: usize = 8;
/// Silence blocks written at start. The channel's transmit side starts
/// draining at once while the first block is read only when it is complete
/// (up to a block later), so one block of slack would run dry by the read
/// delay every time; two leave a block of margin for a late wake-up.
const PRIME_BLOCKS: usize = 2;

/// What the pump thread needs from the [`PumpConfig`](super::PumpConfig).
pub(crate) struct ShellConfig {
    pub block: usize,
    pub jitter_min_ms: u32,
    pub jitter_max_ms: u32,
    pub dtmf_mode: DtmfMode,
    pub cpu: Option<usize>,
    pub line_events: Option<crossbeam_channel::Sender<(u32, tandem_drivers::LineEvent)>>,
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
    dead: bool,
}

struct Shell {
    cfg: ShellConfig,
    block_dur: Duration,
    slots: Vec<Option<Slot>>,
    by_id: HashMap<u64, usize>,
    epoll: Epoll,
    ntp: NtpClock,
    inbuf: Box<[u8]>,
    outbuf: Box<[u8]>,
    rxbuf: Box<[u8]>,
}

/// Runs a pump thread until `Shutdown` or until every handle is gone.
pub(crate) fn run(cfg: ShellConfig, rx: Receiver<Command>) {
    if let Some(cpu) = cfg.cpu {
        let mut set = nix::sched::CpuSet::new();
        if set.set(cpu).is_ok() && nix::sched::sched_setaffinity(nix::unistd::Pid::from_raw(0), &set).is_err() {
            tracing::warn!(cpu, "media pump: cannot pin to CPU");
        }
    }
    let epoll = match Epoll::new(EpollCreateFlags::EPOLL_CLOEXEC) {
        Ok(e) => e,
        Err(e) => {
            tracing::error!(error = %e, "media pump: epoll_create failed; pump stopped");
            return;
        }
    };
    let block_dur = Duration::from_micros(cfg.block as u64 * 125);
    let mut sh = Shell {
        block_dur,
        slots: Vec::new(),
        by_id: HashMap::new(),
        epoll,
        ntp: NtpClock::now(),
        inbuf: vec![0; cfg.block].into_boxed_slice(),
        outbuf: vec![0; cfg.block].into_boxed_slice(),
        rxbuf: vec![0; RECV_BUF].into_boxed_slice(),
        cfg,
    };
    let mut events = vec![EpollEvent::empty(); 256];
    loop {
        let now = Instant::now();
        let mut next = now + MAX_SLEEP;
        for s in sh.slots.iter().flatten() {
            if !s.dead {
                next = next.min(s.due);
            }
            next = next.min(s.stream.poll_timeout());
        }
        let wait = next.saturating_duration_since(now);
        // Round up: waking a little late is fine, early wastes a pass.
        let ms = wait.as_micros().div_ceil(1000).min(u128::from(u16::MAX)) as u16;
        let n = match sh.epoll.wait(&mut events, EpollTimeout::from(ms)) {
            Ok(n) => n,
            Err(nix::errno::Errno::EINTR) => 0,
            Err(e) => {
                tracing::error!(error = %e, "media pump: epoll_wait failed; pump stopped");
                return;
            }
        };
        let now = Instant::now();
        for ev in &events[..n] {
            sh.receive(ev.data(), now);
        }
        loop {
            match rx.try_recv() {
                Ok(Command::Shutdown) | Err(TryRecvError::Disconnected) => return,
                Ok(c) => sh.command(c, now),
                Err(TryRecvError::Empty) => break,
            }
        }
        let now = Instant::now();
        for i in 0..sh.slots.len() {
            sh.service(i, now);
        }
    }
}

impl Shell {
    fn command(&mut self, c: Command, now: Instant) {
        match c {
            Command::Start { id, spec, chan, rtp, rtcp, stats } => {
                let i = match self.slots.iter().position(Option::is_none) {
                    Some(i) => i,
                    None => {
                        self.slots.push(None);
                        self.slots.len() - 1
                    }
                };
                let flags = EpollFlags::EPOLLIN;
                if let Err(e) = self
                    .epoll
                    .add(rtp.as_fd(), EpollEvent::new(flags, (i as u64) << 1))
                    .and_then(|_| self.epoll.add(rtcp.as_fd(), EpollEvent::new(flags, ((i as u64) << 1) | 1)))
                {
                    tracing::error!(stream = id, error = %e, "media pump: epoll_ctl failed; stream not started");
                    return;
                }
                let silence = vec![dsp_law(spec.tdm_law).silence(); self.cfg.block];
                for _ in 0..PRIME_BLOCKS {
                    let _ = chan.write(&silence);
                }
                let stream = Stream::new(spec, self.cfg.jitter_min_ms, self.cfg.jitter_max_ms, self.cfg.dtmf_mode, self.ntp, now, random_seed() ^ id);
                stats.store(&stream.stats());
                self.slots[i] = Some(Slot { id, stream, chan, rtp, rtcp, stats, due: now, hunt: Hunt::Start, since_probe: 0, dead: false });
                self.by_id.insert(id, i);
                tracing::debug!(stream = id, channo = spec.channo, "media stream started");
            }
            Command::Update { id, spec } => {
                if let Some(s) = self.by_id.get(&id).and_then(|&i| self.slots[i].as_mut()) {
                    if let Some(taps) = spec.echo_taps
                        && spec.echo_taps != s.stream.spec().echo_taps
                    {
                        set_echo(s, taps);
                    }
                    s.stream.update(spec);
                }
            }
            Command::Echo { id, taps } => {
                if let Some(s) = self.by_id.get(&id).and_then(|&i| self.slots[i].as_mut()) {
                    set_echo(s, taps);
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

    fn receive(&mut self, data: u64, now: Instant) {
        let (i, is_rtcp) = ((data >> 1) as usize, data & 1 == 1);
        let Some(s) = self.slots.get_mut(i).and_then(Option::as_mut) else { return };
        let sock = if is_rtcp { &s.rtcp } else { &s.rtp };
        // One datagram per stream per 20 ms is the norm, so recvmmsg would
        // not batch anything here: plain recvfrom until EAGAIN.
        for _ in 0..64 {
            match sock.recv_from(&mut self.rxbuf) {
                Ok((n, from)) => {
                    if is_rtcp {
                        s.stream.rtcp_in(&self.rxbuf[..n], from, now);
                    } else {
                        s.stream.rtp_in(&self.rxbuf[..n], from, now);
                    }
                }
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                // ICMP errors from an earlier send (port unreachable): ignore.
                Err(_) => continue,
            }
        }
    }

    fn service(&mut self, i: usize, now: Instant) {
        let block_dur = self.block_dur;
        let Some(s) = self.slots.get_mut(i).and_then(Option::as_mut) else { return };
        if !s.dead && s.due <= now {
            match s.hunt {
                Hunt::Locked => {
                    let got = pump_blocks(s, 1, &mut self.inbuf, &mut self.outbuf, &self.cfg.line_events);
                    if got == 0 {
                        // The phase moved: hunt again.
                        s.hunt = Hunt::Missed;
                        s.due = now + Duration::from_millis(1);
                    } else {
                        s.due += block_dur;
                        s.since_probe += 1;
                        if s.since_probe >= PROBE_EVERY {
                            s.since_probe = 0;
                            if pump_blocks(s, 1, &mut self.inbuf, &mut self.outbuf, &self.cfg.line_events) > 0 {
                                s.stream.count_overrun();
                            }
                        }
                        if s.due + block_dur < now {
                            // Far behind (a stall): re-anchor rather than burst.
                            s.hunt = Hunt::Start;
                            s.due = now;
                        }
                    }
                }
                h => {
                    let got = pump_blocks(s, MAX_DRAIN, &mut self.inbuf, &mut self.outbuf, &self.cfg.line_events);
                    if got > 0 && h == Hunt::Missed {
                        s.hunt = Hunt::Locked;
                        s.due = now + block_dur + Duration::from_millis(1);
                    } else {
                        s.hunt = if got == 0 { Hunt::Missed } else { Hunt::Start };
                        s.due = now + Duration::from_millis(1);
                    }
                }
            }
            s.stats.store(&s.stream.stats());
        }
        if s.stream.poll_timeout() <= now {
            s.stream.handle_timeout(now);
            flush(s);
            s.stats.store(&s.stream.stats());
        }
    }
}

/// Reads up to `max` blocks, answering each with a block from the jitter
/// buffer and sending what the core produced. Returns the blocks read.
/// Line events met on the way go to `events` (with the channel number)
/// when the pump was given a receiver for them.
fn pump_blocks(
    s: &mut Slot,
    max: usize,
    inbuf: &mut [u8],
    outbuf: &mut [u8],
    events_to: &Option<crossbeam_channel::Sender<(u32, tandem_drivers::LineEvent)>>,
) -> usize {
    let mut got = 0;
    let mut events = 0;
    while got < max {
        match s.chan.read(inbuf) {
            Ok(Io::Done(0)) => break,
            Ok(Io::Done(n)) => {
                got += 1;
                s.stream.tdm_block(&inbuf[..n], &mut outbuf[..n]);
                match s.chan.write(&outbuf[..n]) {
                    Ok(Io::Event) => {
                        forward_event(s, events_to);
                        let _ = s.chan.write(&outbuf[..n]);
                    }
                    Ok(_) => {}
                    Err(e) => tracing::debug!(stream = s.id, error = %e, "media pump: channel write failed"),
                }
                flush(s);
            }
            Ok(Io::WouldBlock) => break,
            Ok(Io::Event) => {
                // A line event (alarm, hook, polarity...) is pending: call
                // control's business (forwarded if asked), the media only
                // needs it out of the way.
                forward_event(s, events_to);
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

/// Takes the pending line event and forwards it, if anyone listens.
fn forward_event(s: &Slot, events_to: &Option<crossbeam_channel::Sender<(u32, tandem_drivers::LineEvent)>>) {
    if let Ok(Some(ev)) = s.chan.next_event()
        && let Some(tx) = events_to
    {
        let _ = tx.try_send((s.chan.number(), ev));
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
fn flush(s: &mut Slot) {
    while let Some(t) = s.stream.poll_transmit() {
        let sock = if t.rtcp { &s.rtcp } else { &s.rtp };
        let _ = sock.send_to(t.data, t.dest);
    }
}
