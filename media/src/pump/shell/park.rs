//! Parked streams (hold): kept by the pump thread apart from the slots the
//! service loop runs, with their sockets still in the epoll set (under
//! [`PARKED`] tokens) so that RTP is counted and RTCP received, and their
//! RTCP reports still sent on time.

use std::collections::HashMap;
use std::net::UdpSocket;
use std::os::fd::AsFd;
use std::sync::Arc;
use std::time::Instant;

use nix::sys::epoll::{EpollEvent, EpollFlags};
use tandem_drivers::Channel;

use super::super::StreamSpec;
use super::super::stats::{IoMeter, StatsCell, Syscall};
use super::super::stream::Stream;
use super::{RX_BURST, Shell, Slot, Slotted};

/// The epoll-data bit of a parked stream's sockets; the rest is the
/// stream id shifted left by one, and the low bit says RTCP.
pub(super) const PARKED: u64 = 1 << 62;

/// A stream detached from its channel.
pub(super) struct ParkedStream {
    stream: Stream,
    rtp: UdpSocket,
    rtcp: UdpSocket,
    stats: Arc<StatsCell>,
}

/// The pump thread's parked streams, by id.
#[derive(Default)]
pub(super) struct Parked {
    streams: HashMap<u64, ParkedStream>,
}

impl Parked {
    /// Whether the stream is parked here.
    pub(super) fn has(&self, id: u64) -> bool {
        self.streams.contains_key(&id)
    }

    /// When the earliest parked stream's RTCP is due (`None`: none parked).
    pub(super) fn next_timeout(&self) -> Option<Instant> {
        self.streams.values().map(|p| p.stream.poll_timeout()).min()
    }

    /// Applies a re-INVITE to a parked stream.
    pub(super) fn update(&mut self, id: u64, spec: StreamSpec) {
        if let Some(p) = self.streams.get_mut(&id) {
            p.stream.update(spec);
            p.stats.store(&p.stream.stats());
        }
    }
}

fn token(id: u64, rtcp: bool) -> u64 {
    PARKED | ((id << 1) & !PARKED) | u64::from(rtcp)
}

/// Sends what a parked stream's core queued (RTCP, a digit's end packets).
fn flush(p: &mut ParkedStream, io: &mut IoMeter) {
    while let Some(t) = p.stream.poll_transmit() {
        let sock = if t.rtcp { &p.rtcp } else { &p.rtp };
        let _ = io.call(Syscall::UdpSend, || sock.send_to(t.data, t.dest));
    }
}

impl Shell {
    /// Detaches a stream from its channel (closing the pump's descriptor of
    /// it) and keeps the rest parked.
    pub(super) fn park(&mut self, id: u64, now: Instant) {
        let Some(i) = self.by_id.remove(&id) else {
            tracing::debug!(stream = id, "media pump: park of a stream not running");
            return;
        };
        let Some(s) = self.slots[i].take() else { return };
        let Slot { mut stream, rtp, rtcp, stats, chan, .. } = s;
        let flags = EpollFlags::EPOLLIN;
        if let Err(e) = self
            .epoll
            .modify(rtp.as_fd(), &mut EpollEvent::new(flags, token(id, false)))
            .and_then(|_| self.epoll.modify(rtcp.as_fd(), &mut EpollEvent::new(flags, token(id, true))))
        {
            // Parked without receiving: its RTCP reports still go out.
            tracing::warn!(stream = id, error = %e, "media pump: epoll_ctl failed; the parked stream receives nothing");
            let _ = self.epoll.delete(rtp.as_fd());
            let _ = self.epoll.delete(rtcp.as_fd());
        }
        stream.park(now);
        let mut p = ParkedStream { stream, rtp, rtcp, stats };
        flush(&mut p, &mut self.io);
        p.stats.store(&p.stream.stats());
        tracing::debug!(stream = id, channo = chan.number(), "media stream parked");
        drop(chan);
        self.parked.streams.insert(id, p);
    }

    /// Attaches a parked stream to `chan` and runs it in a slot again, as
    /// a started stream (the block phase is learnt afresh).
    pub(super) fn unpark(&mut self, id: u64, spec: StreamSpec, chan: Channel, now: Instant) {
        let Some(mut p) = self.parked.streams.remove(&id) else {
            tracing::debug!(stream = id, "media pump: unpark of a stream not parked");
            return;
        };
        let i = self.free_slot();
        let flags = EpollFlags::EPOLLIN;
        let (rtp_tok, rtcp_tok) = ((i as u64) << 1, ((i as u64) << 1) | 1);
        let rearm = |fd: std::os::fd::BorrowedFd<'_>, tok: u64| {
            self.epoll.modify(fd, &mut EpollEvent::new(flags, tok)).or_else(|_| self.epoll.add(fd, EpollEvent::new(flags, tok)))
        };
        if let Err(e) = rearm(p.rtp.as_fd(), rtp_tok).and_then(|_| rearm(p.rtcp.as_fd(), rtcp_tok)) {
            tracing::error!(stream = id, error = %e, "media pump: epoll_ctl failed; stream left parked");
            self.parked.streams.insert(id, p);
            return;
        }
        p.stream.attach(spec, now);
        self.seat(i, Slotted { id, stream: p.stream, chan, rtp: p.rtp, rtcp: p.rtcp, stats: p.stats }, now);
        tracing::debug!(stream = id, channo = spec.channo, "media stream attached again");
    }

    /// Stops a parked stream (its sockets close).
    pub(super) fn stop_parked(&mut self, id: u64) {
        if let Some(p) = self.parked.streams.remove(&id) {
            let _ = self.epoll.delete(p.rtp.as_fd());
            let _ = self.epoll.delete(p.rtcp.as_fd());
            p.stats.store(&p.stream.stats());
            tracing::debug!(stream = id, "parked media stream stopped");
        }
    }

    /// The datagrams queued for a parked stream (epoll data with
    /// [`PARKED`]), up to [`RX_BURST`] a wake-up, so a flood at a held call
    /// is read and counted in bursts rather than one wake-up a packet.
    pub(super) fn receive_parked(&mut self, data: u64, now: Instant) {
        let (id, is_rtcp) = ((data & !PARKED) >> 1, data & 1 == 1);
        let Some(p) = self.parked.streams.get_mut(&id) else { return };
        for _ in 0..RX_BURST {
            let sock = if is_rtcp { &p.rtcp } else { &p.rtp };
            let Ok((n, from)) = self.io.call(Syscall::UdpRecv, || sock.recv_from(&mut self.rxbuf)) else { return };
            if is_rtcp {
                p.stream.rtcp_in(&self.rxbuf[..n], from, now);
            } else {
                p.stream.rtp_in(&self.rxbuf[..n], from, now);
            }
        }
    }

    /// Sends the parked streams' RTCP reports that are due.
    pub(super) fn service_parked(&mut self, now: Instant) {
        for p in self.parked.streams.values_mut() {
            if p.stream.poll_timeout() <= now {
                p.stream.handle_timeout(now);
                flush(p, &mut self.io);
                p.stats.store(&p.stream.stats());
            }
        }
    }
}
