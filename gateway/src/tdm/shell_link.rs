//! The handle call control keeps on a channel's shell thread (an analog
//! port's, a CAS channel's): commands of the shell's kind go to the thread,
//! and the channel is lent to the media pump for a call and taken back.
//!
//! DAHDI opens a channel only once, so the shell keeps it open for its whole
//! life and lends the pump a duplicate descriptor; while it is lent the
//! shell leaves the audio alone.

use std::time::Duration;

use crossbeam_channel::{Receiver, Sender};
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
}

impl<C> ShellLink<C> {
    /// A link and the queue the shell thread reads.
    pub(crate) fn new() -> (ShellLink<C>, Receiver<ShellCmd<C>>) {
        let (tx, rx) = crossbeam_channel::unbounded();
        (ShellLink { tx }, rx)
    }

    /// Carries out a command (asynchronously).
    pub fn command(&self, cmd: C) {
        let _ = self.tx.send(ShellCmd::Do(cmd));
    }

    /// Stops the shell reading audio and hands out a duplicate of the
    /// channel for the media pump; waits at most 500 ms for the thread.
    pub fn lend(&self) -> Result<Channel, String> {
        let (tx, rx) = crossbeam_channel::bounded(1);
        self.tx.send(ShellCmd::Lend(tx)).map_err(|_| "the channel's shell has ended".to_owned())?;
        rx.recv_timeout(LEND_WAIT).map_err(|_| "the channel's shell did not answer".to_owned())?
    }

    /// Gives the channel back after the pump stopped with it.
    pub fn resume(&self) {
        let _ = self.tx.send(ShellCmd::Resume);
    }
}
