//! Many channels from one thread: an epoll set for the media pump.
//!
//! Channels are added non-blocking and level-triggered for POLLIN and
//! POLLPRI. [`Batch::wait`] reports which are readable or have an event;
//! the caller then reads each ready channel once. No allocation happens per
//! wait once the output vector has grown.

use std::os::fd::AsFd;
use std::time::Duration;

use nix::sys::epoll::{Epoll, EpollCreateFlags, EpollEvent, EpollFlags, EpollTimeout};

use crate::channel::Channel;
use crate::error::{Error, Result, Target};

/// A channel that is ready.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Ready {
    /// The id [`Batch::add`] returned.
    pub id: usize,
    pub readable: bool,
    pub event: bool,
    /// The fd reported an error or hang-up (device removed).
    pub error: bool,
}

/// An epoll set of channels.
pub struct Batch {
    epoll: Epoll,
    chans: Vec<Option<Channel>>,
    events: Vec<EpollEvent>,
}

impl Batch {
    pub fn new() -> Result<Batch> {
        let epoll = Epoll::new(EpollCreateFlags::EPOLL_CLOEXEC).map_err(|e| Error::Device { target: Target::Ctl, op: "epoll_create", errno: e })?;
        Ok(Batch { epoll, chans: Vec::new(), events: Vec::new() })
    }

    /// Add a channel (opened non-blocking); returns its id.
    pub fn add(&mut self, ch: Channel) -> Result<usize> {
        if !ch.is_nonblocking() {
            return Err(Error::Invalid { target: ch.target(), msg: "a batch needs channels opened non-blocking".into() });
        }
        let id = match self.chans.iter().position(Option::is_none) {
            Some(i) => i,
            None => {
                self.chans.push(None);
                self.chans.len() - 1
            }
        };
        let ev = EpollEvent::new(EpollFlags::EPOLLIN | EpollFlags::EPOLLPRI, id as u64);
        self.epoll.add(ch.as_fd(), ev).map_err(|e| Error::Device { target: ch.target(), op: "epoll_ctl", errno: e })?;
        self.chans[id] = Some(ch);
        self.events.push(EpollEvent::empty());
        Ok(id)
    }

    /// Remove a channel and give it back.
    pub fn remove(&mut self, id: usize) -> Option<Channel> {
        let ch = self.chans.get_mut(id)?.take()?;
        let _ = self.epoll.delete(ch.as_fd());
        self.events.pop();
        Some(ch)
    }

    pub fn get(&self, id: usize) -> Option<&Channel> {
        self.chans.get(id)?.as_ref()
    }

    pub fn len(&self) -> usize {
        self.chans.iter().filter(|c| c.is_some()).count()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Wait up to `timeout` for channels to become ready; fills `out`.
    pub fn wait(&mut self, timeout: Duration, out: &mut Vec<Ready>) -> Result<()> {
        out.clear();
        if self.events.is_empty() {
            std::thread::sleep(timeout);
            return Ok(());
        }
        let ms = u16::try_from(timeout.as_millis()).unwrap_or(u16::MAX);
        let n = match self.epoll.wait(&mut self.events, EpollTimeout::from(ms)) {
            Ok(n) => n,
            Err(nix::errno::Errno::EINTR) => 0,
            Err(e) => return Err(Error::Device { target: Target::Ctl, op: "epoll_wait", errno: e }),
        };
        for ev in &self.events[..n] {
            let f = ev.events();
            out.push(Ready {
                id: ev.data() as usize,
                readable: f.contains(EpollFlags::EPOLLIN),
                event: f.contains(EpollFlags::EPOLLPRI),
                error: f.intersects(EpollFlags::EPOLLERR | EpollFlags::EPOLLHUP),
            });
        }
        Ok(())
    }
}
