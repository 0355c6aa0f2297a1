//! Channels on tokio: readiness through epoll (`AsyncFd`).
//!
//! DAHDI signals a pending event with POLLPRI and a ready block with POLLIN;
//! both arrive through the same fd, so one task can wait for audio and line
//! events together.

use tokio::io::Interest;
use tokio::io::unix::AsyncFd;

use crate::channel::{Channel, Io};
use crate::error::{Error, Result};
use crate::event::LineEvent;

/// What an async read produced.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Input {
    /// This many bytes of audio (or one HDLC frame with its FCS).
    Audio(usize),
    /// A line event, which DAHDI delivers ahead of audio.
    Event(LineEvent),
}

/// A non-blocking channel driven by tokio.
pub struct AsyncChannel {
    inner: AsyncFd<Channel>,
}

impl AsyncChannel {
    /// Wrap a channel opened with `nonblocking: true`.
    pub fn new(ch: Channel) -> Result<AsyncChannel> {
        if !ch.is_nonblocking() {
            return Err(Error::Invalid { target: ch.target(), msg: "AsyncChannel needs a channel opened non-blocking".into() });
        }
        let target = ch.target();
        // SAFETY: Channel owns its fd (OwnedFd) and never replaces it, so the
        // fd stays open and the same for the AsyncFd's whole lifetime.
        let inner = unsafe { AsyncFd::register_with_interest(ch, Interest::READABLE | Interest::WRITABLE | Interest::PRIORITY) }
            .map_err(|e| Error::Invalid { target, msg: format!("cannot register with the reactor: {}", e.into_parts().1) })?;
        Ok(AsyncChannel { inner })
    }

    pub fn channel(&self) -> &Channel {
        self.inner.get_ref()
    }

    /// Wait for the next block of audio or line event.
    pub async fn read(&self, buf: &mut [u8]) -> Result<Input> {
        loop {
            let ch = self.inner.get_ref();
            let mut guard = self
                .inner
                .ready(Interest::READABLE | Interest::PRIORITY)
                .await
                .map_err(|e| Error::Invalid { target: ch.target(), msg: format!("reactor: {e}") })?;
            match ch.read(buf)? {
                Io::Done(n) => return Ok(Input::Audio(n)),
                Io::Event => {
                    if let Some(ev) = ch.next_event()? {
                        return Ok(Input::Event(ev));
                    }
                }
                Io::WouldBlock => guard.clear_ready(),
            }
        }
    }

    /// Write one block, waiting for buffer space. Events pending are
    /// returned first, as DAHDI refuses writes until they are read.
    pub async fn write(&self, buf: &[u8]) -> Result<Result<usize, LineEvent>> {
        loop {
            let ch = self.inner.get_ref();
            let mut guard = self.inner.ready(Interest::WRITABLE).await.map_err(|e| Error::Invalid { target: ch.target(), msg: format!("reactor: {e}") })?;
            match ch.write(buf)? {
                Io::Done(n) => return Ok(Ok(n)),
                Io::Event => {
                    if let Some(ev) = ch.next_event()? {
                        return Ok(Err(ev));
                    }
                }
                Io::WouldBlock => guard.clear_ready(),
            }
        }
    }

    /// Wait for the next line event only.
    pub async fn event(&self) -> Result<LineEvent> {
        loop {
            let ch = self.inner.get_ref();
            if let Some(ev) = ch.next_event()? {
                return Ok(ev);
            }
            let mut guard = self.inner.ready(Interest::PRIORITY).await.map_err(|e| Error::Invalid { target: ch.target(), msg: format!("reactor: {e}") })?;
            if let Some(ev) = ch.next_event()? {
                return Ok(ev);
            }
            guard.clear_ready();
        }
    }
}
