//! The handle call control keeps on a channel's shell thread (an analog
//! port's, a CAS channel's): commands of the shell's kind go to the thread,
//! and the channel is lent to the media pump for a call and taken back.
//!
//! DAHDI opens a channel only once, so the shell keeps it open for its whole
//! life and lends the pump a duplicate descriptor; while it is lent the
//! shell leaves the audio alone.
//!
//! Every command also rings the shell's doorbell (an eventfd), so that a
//! shell with nothing to do can sleep in `IdleWait::wait` until either a
//! command comes or its channel has an event (DAHDI's POLLPRI: a hook or
//! bit change), instead of reading its channel every few milliseconds.

use std::os::fd::AsFd;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, Sender};
use nix::sys::epoll::{Epoll, EpollCreateFlags, EpollEvent, EpollFlags, EpollTimeout};
use nix::sys::eventfd::{EfdFlags, EventFd};
use tandem_drivers::Channel;

/// How long [`ShellLink::lend`] waits for the thread to let go of its channel.
const LEND_WAIT: Duration = Duration::from_millis(500);

/// What a shell thread is told.
pub(crate) enum ShellCmd<C> {
    /// A command of the shell's kind (line command, CAS command).
    Do(C),
    /// Stop using the channel's audio and send back a duplicate of it.
    Lend(Sender<Result<Channel, String>>),
    /// The pump is done with the channel: use it again.
    Resume,
}

/// The sending end of a shell thread's command queue. Dropping it ends the thread.
pub struct ShellLink<C> {
    tx: Sender<ShellCmd<C>>,
    bell: Arc<EventFd>,
}

/// What a shell thread reads: its command queue, and the doorbell every
/// command rings.
pub(crate) struct ShellQueue<C> {
    pub rx: Receiver<ShellCmd<C>>,
    pub bell: Arc<EventFd>,
}

impl<C> ShellLink<C> {
    /// A link and the queue the shell thread reads.
    pub(crate) fn new() -> std::io::Result<(ShellLink<C>, ShellQueue<C>)> {
        let (tx, rx) = crossbeam_channel::unbounded();
        let bell = Arc::new(EventFd::from_value_and_flags(0, EfdFlags::EFD_CLOEXEC | EfdFlags::EFD_NONBLOCK)?);
        Ok((ShellLink { tx, bell: bell.clone() }, ShellQueue { rx, bell }))
    }

    fn send(&self, cmd: ShellCmd<C>) -> Result<(), ()> {
        self.tx.send(cmd).map_err(|_| ())?;
        // A full counter (2^64 - 2 rings unread) cannot happen; an idle
        // shell drains it on every wake-up.
        let _ = self.bell.write(1);
        Ok(())
    }

    /// Carries out a command (asynchronously).
    pub fn command(&self, cmd: C) {
        let _ = self.send(ShellCmd::Do(cmd));
    }

    /// Stops the shell reading audio and hands out a duplicate of the
    /// channel for the media pump; waits at most 500 ms for the thread.
    pub fn lend(&self) -> Result<Channel, String> {
        let (tx, rx) = crossbeam_channel::bounded(1);
        self.send(ShellCmd::Lend(tx)).map_err(|()| "the channel's shell has ended".to_owned())?;
        rx.recv_timeout(LEND_WAIT).map_err(|_| "the channel's shell did not answer".to_owned())?
    }

    /// Gives the channel back after the pump stopped with it.
    pub fn resume(&self) {
        let _ = self.send(ShellCmd::Resume);
    }
}

/// When a shell thread may sleep, whether it sleeps, and its sleep: it
/// stays awake for `after` since anything last happened (a command, a line
/// event, a signal heard), and, once its own work is done too, sleeps in an
/// [`IdleWait`] until a command or a line event. Without a wait (no epoll)
/// it never sleeps.
pub(crate) struct Idleness {
    wait: Option<IdleWait>,
    after: Duration,
    busy_until: Instant,
    asleep: bool,
    channo: u32,
    what: &'static str,
}

impl Idleness {
    /// Awake for `after` from now; `what` names the shell in the logs.
    pub fn new(after: Duration, channo: u32, what: &'static str) -> Idleness {
        Idleness { wait: None, after, busy_until: Instant::now() + after, asleep: false, channo, what }
    }

    /// Lets the shell sleep on `chan`'s events and the doorbell.
    pub fn watch(&mut self, chan: &Channel, bell: Arc<EventFd>) {
        match IdleWait::new(chan, bell) {
            Ok(w) => self.wait = Some(w),
            Err(e) => tracing::warn!(channo = self.channo, error = %e, "{} cannot sleep when idle; it polls", self.what),
        }
    }

    /// Something happened: awake for `after` more.
    pub fn touch(&mut self) {
        self.busy_until = Instant::now() + self.after;
    }

    /// Nothing happened for `after`, and the shell can sleep at all.
    pub fn quiet(&self, now: Instant) -> bool {
        self.wait.is_some() && now >= self.busy_until
    }

    /// The shell sleeps (reads no audio).
    pub fn asleep(&self) -> bool {
        self.asleep
    }

    /// Sleeps until a command, a line event or `poll`.
    pub fn sleep(&mut self, poll: Duration) -> Wake {
        let Some(w) = &self.wait else { return Wake::Timeout };
        if !self.asleep {
            self.asleep = true;
            tracing::debug!(channo = self.channo, "{} idle: sleeping until a command or a line event", self.what);
        }
        w.wait(poll)
    }

    /// Awake again (and for `after`); true when it slept, so the caller
    /// throws away the audio that queued meanwhile.
    pub fn wake(&mut self) -> bool {
        self.touch();
        let slept = std::mem::take(&mut self.asleep);
        if slept {
            tracing::debug!(channo = self.channo, "{} awake", self.what);
        }
        slept
    }

    /// Awake for the pump's lend or return of the channel, which do their own work.
    pub fn interrupt(&mut self) {
        self.touch();
        self.asleep = false;
    }
}

/// Why [`IdleWait::wait`] returned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Wake {
    /// The doorbell rang: there are commands.
    Command,
    /// The channel has an event pending (POLLPRI).
    LineEvent,
    /// Neither, within the time given.
    Timeout,
}

/// An idle shell's sleep: an epoll set over its channel's events and its doorbell.
struct IdleWait {
    epoll: Epoll,
    bell: Arc<EventFd>,
}

/// The epoll data of the doorbell and of the channel.
const BELL: u64 = 0;
const LINE: u64 = 1;

impl IdleWait {
    /// Watches `chan` for events (EPOLLPRI only: a block of audio does not
    /// wake the shell) and the doorbell.
    fn new(chan: &Channel, bell: Arc<EventFd>) -> nix::Result<IdleWait> {
        let epoll = Epoll::new(EpollCreateFlags::EPOLL_CLOEXEC)?;
        epoll.add(bell.as_fd(), EpollEvent::new(EpollFlags::EPOLLIN, BELL))?;
        epoll.add(chan.as_fd(), EpollEvent::new(EpollFlags::EPOLLPRI, LINE))?;
        Ok(IdleWait { epoll, bell })
    }

    /// Sleeps until a command, a line event or `timeout`; empties the
    /// doorbell. A command wins over an event reported at the same time
    /// (the caller reads its queue first, then the channel).
    fn wait(&self, timeout: Duration) -> Wake {
        let mut events = [EpollEvent::empty(); 2];
        let ms = timeout.as_millis().min(u128::from(u16::MAX)) as u16;
        let n = match self.epoll.wait(&mut events, EpollTimeout::from(ms)) {
            Ok(n) => n,
            // EINTR and the like: the caller looks at everything anyway.
            Err(_) => return Wake::Command,
        };
        let mut wake = Wake::Timeout;
        for e in &events[..n] {
            if e.data() == BELL {
                let _ = self.bell.read();
                wake = Wake::Command;
            } else if wake == Wake::Timeout {
                wake = Wake::LineEvent;
            }
        }
        wake
    }
}
