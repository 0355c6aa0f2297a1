//! The CO's SMDI link as a pseudo-terminal (`[sim] smdi = "/path/link"`).
//!
//! The simulator opens a pty pair, puts it in raw mode and makes the
//! configured path a symlink to the slave, which Tandem opens as its serial
//! port. The simulator keeps the master: `smdi.send` writes the switch's
//! messages to it (call details), and a reader thread collects what Tandem
//! writes (MWI requests) for `smdi.get`. The simulator also holds the slave
//! open, so the link stays up while Tandem closes and reopens it.

use std::io::Write;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;

use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
use nix::sys::termios;
use parking_lot::Mutex;

/// Most bytes kept from Tandem between two `smdi.get`s; older bytes are dropped.
pub const MAX_RECEIVED: usize = 64 * 1024;

/// Longest text one `smdi.send` may write.
pub const MAX_SEND: usize = 4096;

/// One simulated SMDI link.
pub struct SmdiLink {
    link: PathBuf,
    slave_path: PathBuf,
    master: std::fs::File,
    _slave: OwnedFd,
    received: Arc<Mutex<Vec<u8>>>,
    stop: Arc<AtomicBool>,
    reader: Option<JoinHandle<()>>,
}

impl std::fmt::Debug for SmdiLink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SmdiLink").field("link", &self.link).field("slave", &self.slave_path).finish_non_exhaustive()
    }
}

fn raw(fd: impl AsFd) -> nix::Result<()> {
    let mut t = termios::tcgetattr(&fd)?;
    termios::cfmakeraw(&mut t);
    termios::tcsetattr(&fd, termios::SetArg::TCSANOW, &t)
}

impl SmdiLink {
    /// Opens a pty pair and points `link` (replacing a stale symlink) at its slave.
    pub fn open(link: &Path) -> Result<SmdiLink, String> {
        let e = |what: &str, err: &dyn std::fmt::Display| format!("SMDI link {}: {what}: {err}", link.display());
        let pty = nix::pty::openpty(None, None).map_err(|err| e("openpty", &err))?;
        raw(&pty.slave).map_err(|err| e("raw mode", &err))?;
        raw(&pty.master).map_err(|err| e("raw mode", &err))?;
        let slave_path = std::fs::read_link(format!("/proc/self/fd/{}", pty.slave.as_raw_fd())).map_err(|err| e("slave name", &err))?;
        if let Ok(meta) = std::fs::symlink_metadata(link) {
            if !meta.file_type().is_symlink() {
                return Err(format!("SMDI link {}: exists and is not a symlink; refusing to replace it", link.display()));
            }
            std::fs::remove_file(link).map_err(|err| e("remove old symlink", &err))?;
        }
        if let Some(dir) = link.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|err| e("create directory", &err))?;
        }
        std::os::unix::fs::symlink(&slave_path, link).map_err(|err| e("symlink", &err))?;
        let master = std::fs::File::from(pty.master);
        let reader_fd = master.try_clone().map_err(|err| e("dup", &err))?;
        let received = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let reader = {
            let (received, stop) = (received.clone(), stop.clone());
            std::thread::Builder::new().name("smdi-pty".into()).spawn(move || read_loop(reader_fd, received, stop)).map_err(|err| e("thread", &err))?
        };
        Ok(SmdiLink { link: link.to_path_buf(), slave_path, master, _slave: pty.slave, received, stop, reader: Some(reader) })
    }

    /// The symlink Tandem opens.
    pub fn link(&self) -> &Path {
        &self.link
    }

    /// The pty slave the symlink points at.
    pub fn slave_path(&self) -> &Path {
        &self.slave_path
    }

    /// Writes the switch's bytes to Tandem.
    pub fn send(&self, bytes: &[u8]) -> std::io::Result<()> {
        (&self.master).write_all(bytes)
    }

    /// What Tandem wrote since the last call (and forgets it).
    pub fn take(&self) -> Vec<u8> {
        std::mem::take(&mut *self.received.lock())
    }
}

fn read_loop(mut master: std::fs::File, received: Arc<Mutex<Vec<u8>>>, stop: Arc<AtomicBool>) {
    use std::io::Read;
    let mut buf = [0u8; 1024];
    while !stop.load(Ordering::Relaxed) {
        let mut fds = [PollFd::new(master.as_fd(), PollFlags::POLLIN)];
        match poll(&mut fds, PollTimeout::from(100u16)) {
            Ok(0) => continue,
            Ok(_) => {}
            Err(nix::errno::Errno::EINTR) => continue,
            Err(_) => return,
        }
        match master.read(&mut buf) {
            Ok(0) => std::thread::sleep(std::time::Duration::from_millis(20)),
            Ok(n) => {
                let mut r = received.lock();
                r.extend_from_slice(&buf[..n]);
                if r.len() > MAX_RECEIVED {
                    let excess = r.len() - MAX_RECEIVED;
                    r.drain(..excess);
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted || e.kind() == std::io::ErrorKind::WouldBlock => {}
            // EIO: no process has the slave open; the simulator holds it, so this is unexpected.
            Err(_) => std::thread::sleep(std::time::Duration::from_millis(20)),
        }
    }
}

impl Drop for SmdiLink {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(r) = self.reader.take() {
            let _ = r.join();
        }
        if std::fs::read_link(&self.link).is_ok_and(|t| t == self.slave_path) {
            let _ = std::fs::remove_file(&self.link);
        }
    }
}
