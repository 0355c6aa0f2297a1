//! systemd's service notification protocol (`sd_notify`), written by hand:
//! readiness, reloads, stopping, status text and the watchdog.
//!
//! systemd tells a `Type=notify` service where to report in
//! `$NOTIFY_SOCKET`: a Unix datagram socket, either a path (`/run/...`) or
//! an abstract name written with a leading `@` (a leading NUL byte on the
//! wire). Each datagram is newline-separated `KEY=value` assignments
//! (sd_notify(3)). With `WatchdogSec=` set, systemd also exports
//! `$WATCHDOG_USEC` (and `$WATCHDOG_PID`, the process it is meant for) and
//! kills a service that does not send `WATCHDOG=1` within that time.
//!
//! The daemon ([`crate::daemon`]) sends:
//!
//! * `READY=1` with a `STATUS=` once spans, SIP listeners and the control
//!   socket are up, just before its run loop starts;
//! * `RELOADING=1` with `MONOTONIC_USEC=` (CLOCK_MONOTONIC in µs, as
//!   systemd ≥ 253's `Type=notify-reload` wants it) when a reload starts,
//!   then `READY=1` with a `STATUS=` once it is applied (or refused);
//! * `STOPPING=1` with a `STATUS=` when a SIGTERM drain begins;
//! * `WATCHDOG=1` every half `$WATCHDOG_USEC`, from the run loop itself, so
//!   a wedged loop stops the pings and systemd restarts the daemon.
//!
//! Without `$NOTIFY_SOCKET` there is no [`Notifier`] and nothing is sent.
//! [`Notifier::take_from_env`] also removes the variables from the
//! environment, so no child process could report in the daemon's name
//! (tandem spawns none today).

use std::io;
use std::os::linux::net::SocketAddrExt;
use std::os::unix::net::{SocketAddr, UnixDatagram};
use std::time::Duration;

/// Why `$NOTIFY_SOCKET` cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum NotifyError {
    /// Neither an absolute path nor an abstract name.
    #[error("NOTIFY_SOCKET={0:?} is neither an absolute path nor an abstract socket name (@name)")]
    BadAddress(String),
    /// The socket could not be made, or the address is too long.
    #[error("NOTIFY_SOCKET: {0}")]
    Io(#[from] io::Error),
}

/// Reports the daemon's state to systemd over `$NOTIFY_SOCKET`.
#[derive(Debug)]
pub struct Notifier {
    sock: UnixDatagram,
    addr: SocketAddr,
    watchdog: Option<Duration>,
}

impl Notifier {
    /// The notifier systemd asked for, if any, built from `$NOTIFY_SOCKET`,
    /// `$WATCHDOG_USEC` and `$WATCHDOG_PID`, which are then removed from the
    /// environment (also when the socket cannot be used: the error).
    ///
    /// # Safety
    ///
    /// Changes the process environment: call it before any other thread
    /// exists (`tandem run` does, first thing in `main`).
    pub unsafe fn take_from_env() -> Result<Option<Notifier>, NotifyError> {
        let var = |k: &str| std::env::var(k).ok();
        let (socket, usec, pid) = (var("NOTIFY_SOCKET"), var("WATCHDOG_USEC"), var("WATCHDOG_PID"));
        for k in ["NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID"] {
            // SAFETY: the caller promises no other thread reads the environment.
            unsafe { std::env::remove_var(k) };
        }
        match socket.filter(|s| !s.is_empty()) {
            Some(socket) => Notifier::new(&socket, watchdog_interval(usec.as_deref(), pid.as_deref(), std::process::id())).map(Some),
            None => Ok(None),
        }
    }

    /// A notifier sending to `socket` (a path, or `@name` for an abstract
    /// socket), pinging the watchdog every `watchdog` if given.
    pub fn new(socket: &str, watchdog: Option<Duration>) -> Result<Notifier, NotifyError> {
        let addr = match socket.strip_prefix('@') {
            Some(name) => SocketAddr::from_abstract_name(name.as_bytes())?,
            None if socket.starts_with('/') => SocketAddr::from_pathname(socket)?,
            None => return Err(NotifyError::BadAddress(socket.to_owned())),
        };
        let sock = UnixDatagram::unbound()?;
        // A stalled systemd must never block the run loop: a datagram that
        // does not fit is dropped.
        sock.set_nonblocking(true)?;
        Ok(Notifier { sock, addr, watchdog })
    }

    /// How often to send `WATCHDOG=1` (half of `$WATCHDOG_USEC`), if systemd watches.
    pub fn watchdog_interval(&self) -> Option<Duration> {
        self.watchdog
    }

    /// Sends one datagram of `KEY=value` lines; a failure is logged at debug level.
    pub fn send(&self, state: &str) {
        if let Err(e) = self.sock.send_to_addr(state.as_bytes(), &self.addr) {
            tracing::debug!(error = %e, state, "systemd notification not sent");
        }
    }

    /// The daemon is up (or a reload is done); `status` is shown by `systemctl status`.
    pub fn ready(&self, status: &str) {
        self.send(&format!("READY=1\nSTATUS={}", one_line(status)));
    }

    /// A reload begins.
    pub fn reloading(&self) {
        self.send(&format!("RELOADING=1\nMONOTONIC_USEC={}", monotonic_usec()));
    }

    /// The daemon begins to stop (a SIGTERM drain).
    pub fn stopping(&self, status: &str) {
        self.send(&format!("STOPPING=1\nSTATUS={}", one_line(status)));
    }

    /// New status text only.
    pub fn status(&self, status: &str) {
        self.send(&format!("STATUS={}", one_line(status)));
    }

    /// The run loop is alive.
    pub fn watchdog(&self) {
        self.send("WATCHDOG=1");
    }
}

/// Half of `$WATCHDOG_USEC` (systemd's advice, sd_watchdog_enabled(3)),
/// unless it is unset, not a positive number, or `$WATCHDOG_PID` names
/// another process than `pid`.
pub fn watchdog_interval(usec: Option<&str>, watchdog_pid: Option<&str>, pid: u32) -> Option<Duration> {
    let usec: u64 = usec?.trim().parse().ok().filter(|u| *u > 0)?;
    if let Some(p) = watchdog_pid
        && p.trim().parse::<u32>().ok() != Some(pid)
    {
        return None;
    }
    Some(Duration::from_micros(usec / 2))
}

/// CLOCK_MONOTONIC now, in µs (what `MONOTONIC_USEC=` carries).
pub fn monotonic_usec() -> u64 {
    match nix::time::ClockId::CLOCK_MONOTONIC.now() {
        Ok(t) => t.tv_sec() as u64 * 1_000_000 + t.tv_nsec() as u64 / 1_000,
        Err(_) => 0,
    }
}

/// Status text on one line (a newline would start another assignment).
fn one_line(s: &str) -> String {
    s.replace(['\n', '\r'], " ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn recv(sock: &UnixDatagram) -> String {
        sock.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let mut buf = [0u8; 512];
        let n = sock.recv(&mut buf).expect("a datagram");
        String::from_utf8_lossy(&buf[..n]).into_owned()
    }

    #[test]
    fn ready_reaches_a_socket_named_by_path() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("notify");
        let sock = UnixDatagram::bind(&path).unwrap();
        let n = Notifier::new(path.to_str().unwrap(), None).unwrap();
        n.ready("0 calls active\n1/1 interfaces up");
        assert_eq!(recv(&sock), "READY=1\nSTATUS=0 calls active 1/1 interfaces up");
    }

    #[test]
    fn an_at_sign_names_an_abstract_socket() {
        let name = format!("tandem-notify-test-{}", std::process::id());
        let sock = UnixDatagram::bind_addr(&SocketAddr::from_abstract_name(name.as_bytes()).unwrap()).unwrap();
        let n = Notifier::new(&format!("@{name}"), None).unwrap();
        n.watchdog();
        assert_eq!(recv(&sock), "WATCHDOG=1");
    }

    #[test]
    fn reloading_carries_the_monotonic_clock() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("notify");
        let sock = UnixDatagram::bind(&path).unwrap();
        let before = monotonic_usec();
        Notifier::new(path.to_str().unwrap(), None).unwrap().reloading();
        let msg = recv(&sock);
        let usec: u64 = msg.strip_prefix("RELOADING=1\nMONOTONIC_USEC=").expect(&msg).parse().unwrap();
        assert!(usec >= before && usec <= monotonic_usec(), "{usec} not between {before} and now");
    }

    #[test]
    fn a_relative_path_is_refused() {
        assert!(matches!(Notifier::new("notify.sock", None), Err(NotifyError::BadAddress(_))));
    }

    #[test]
    fn the_watchdog_pings_at_half_its_timeout_and_only_for_our_pid() {
        assert_eq!(watchdog_interval(Some("30000000"), None, 7), Some(Duration::from_secs(15)));
        assert_eq!(watchdog_interval(Some("200000"), Some("7"), 7), Some(Duration::from_millis(100)));
        assert_eq!(watchdog_interval(Some("200000"), Some("8"), 7), None, "meant for another process");
        assert_eq!(watchdog_interval(None, None, 7), None);
        assert_eq!(watchdog_interval(Some("0"), None, 7), None);
        assert_eq!(watchdog_interval(Some("soon"), None, 7), None);
    }
}
