//! `q931-peer`, the command-line peer on Tandem's own ISDN stack
//! (`isdn-q931/src/bin/q931-peer.rs`), for the interop tests against
//! libpri-peer ([`crate::libpri`]); and [`Relay`], which carries the
//! D-channel between two peers and can hold or drop frames.
//!
//! q931-peer speaks like libpri-peer: commands on stdin, one JSON event per
//! line on stdout (see `q931-peer --help`), so [`Q931Peer`] is a
//! [`LibpriPeer`] running another program: `send_line`, `wait_for`,
//! `next_event`, `quit`... all work the same.
//!
//! ```no_run
//! use std::time::Duration;
//! use tandem_tests::libpri::LibpriPeer;
//! use tandem_tests::q931peer::{Q931Peer, Relay};
//!
//! let t = Duration::from_secs(5);
//! let relay = Relay::start("ni2");
//! let mut net = LibpriPeer::spawn_named("libpri", &["--role", "network", "--switch", "ni2",
//!     "--connect", relay.path_a().to_str().unwrap()]);
//! let mut user = Q931Peer::spawn_named("tandem", &["--role", "user", "--switch", "ni2",
//!     "--connect", relay.path_b().to_str().unwrap()]);
//! net.wait_for("dchan_up", t);
//! user.wait_for("link_up", t);
//! user.send_line("call 5551234 2000 name Alice");
//! net.wait_for("ring", t);
//! ```

use std::collections::VecDeque;
use std::ops::{Deref, DerefMut};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::libpri::{LibpriPeer, cargo_target_dir};
use crate::workspace_root;

/// The q931-peer binary: `$Q931_PEER` if set; otherwise
/// `<target>/debug/q931-peer`, built first with `cargo build -p isdn-q931
/// --bin q931-peer` (once per test process, so that a test never runs a
/// stale peer; cargo returns at once when it is up to date).
pub fn q931_peer_bin() -> PathBuf {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        if let Some(p) = std::env::var_os("Q931_PEER") {
            let p = PathBuf::from(p);
            assert!(p.is_file(), "Q931_PEER={} does not exist", p.display());
            return p;
        }
        let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
        let target = cargo_target_dir();
        let out = Command::new(&cargo)
            .args(["build", "--quiet", "-p", "isdn-q931", "--bin", "q931-peer"])
            .arg("--target-dir")
            .arg(&target)
            .current_dir(workspace_root())
            .output()
            .unwrap_or_else(|e| panic!("run {cargo:?} build -p isdn-q931 --bin q931-peer: {e}"));
        assert!(out.status.success(), "cargo build -p isdn-q931 --bin q931-peer failed ({}):\n{}", out.status, String::from_utf8_lossy(&out.stderr));
        let bin = target.join("debug").join("q931-peer");
        assert!(bin.is_file(), "{} missing after the build", bin.display());
        bin
    })
    .clone()
}

/// A running q931-peer: a [`LibpriPeer`] (the same process harness) running
/// `q931-peer` instead of `libpri-peer`.
pub struct Q931Peer(LibpriPeer);

impl Q931Peer {
    /// Start `q931-peer ARGS...` (building it first if needed).
    pub fn spawn(args: &[&str]) -> Q931Peer {
        Self::spawn_named("q931-peer", args)
    }

    /// As [`spawn`](Self::spawn), with a name for failure messages.
    pub fn spawn_named(name: &str, args: &[&str]) -> Q931Peer {
        Q931Peer(LibpriPeer::spawn_program(&q931_peer_bin(), name, args))
    }
}

impl Deref for Q931Peer {
    type Target = LibpriPeer;
    fn deref(&self) -> &LibpriPeer {
        &self.0
    }
}

impl DerefMut for Q931Peer {
    fn deref_mut(&mut self) -> &mut LibpriPeer {
        &mut self.0
    }
}

// ---------------------------------------------------------------------------
// Relay

/// What the relay does with frames.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RelayMode {
    /// Pass every frame on at once.
    Forward,
    /// Keep frames, in order, until the mode goes back to `Forward`.
    Hold,
    /// Throw frames away (a D-channel outage).
    Drop,
}

impl RelayMode {
    fn to_u8(self) -> u8 {
        match self {
            RelayMode::Forward => 0,
            RelayMode::Hold => 1,
            RelayMode::Drop => 2,
        }
    }
    fn from_u8(v: u8) -> RelayMode {
        match v {
            1 => RelayMode::Hold,
            2 => RelayMode::Drop,
            _ => RelayMode::Forward,
        }
    }
}

/// One frame that went through the relay.
#[derive(Debug, Clone)]
pub struct RelayFrame {
    /// From the peer on [`Relay::path_a`] (else from the one on `path_b`).
    pub from_a: bool,
    pub bytes: Vec<u8>,
    /// Dropped (not delivered).
    pub dropped: bool,
    pub at: Instant,
}

struct Shared {
    mode: AtomicU8,
    stop: AtomicBool,
    /// Number of sides connected (0–2).
    connected: AtomicUsize,
    /// Frames waiting to be delivered (both directions).
    held: AtomicUsize,
    log: Mutex<Vec<RelayFrame>>,
}

/// Carries a D-channel between two peers that both `--connect`: one to
/// [`path_a`](Relay::path_a), the other to [`path_b`](Relay::path_b). Each
/// is a Unix `SOCK_SEQPACKET` socket with one LAPD frame per packet; the
/// relay passes packets on unchanged, or holds or drops them
/// ([`set_mode`](Relay::set_mode)). When one side closes, the relay closes
/// the other. Dropping the relay stops it.
pub struct Relay {
    a: PathBuf,
    b: PathBuf,
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
}

struct Fd(libc::c_int);

impl Drop for Fd {
    fn drop(&mut self) {
        // SAFETY: we own the descriptor.
        unsafe { libc::close(self.0) };
    }
}

fn listen_seqpacket(path: &Path) -> Fd {
    let _ = std::fs::remove_file(path);
    // SAFETY: sockaddr_un is plain old data.
    let mut sa: libc::sockaddr_un = unsafe { std::mem::zeroed() };
    sa.sun_family = libc::AF_UNIX as libc::sa_family_t;
    let bytes = path.as_os_str().as_encoded_bytes();
    assert!(bytes.len() < sa.sun_path.len(), "socket path too long: {}", path.display());
    for (d, s) in sa.sun_path.iter_mut().zip(bytes) {
        *d = *s as libc::c_char;
    }
    // SAFETY: plain system calls on a socket we own, with a valid address.
    unsafe {
        let fd = libc::socket(libc::AF_UNIX, libc::SOCK_SEQPACKET | libc::SOCK_CLOEXEC, 0);
        assert!(fd >= 0, "socket: {}", std::io::Error::last_os_error());
        let fd = Fd(fd);
        let len = std::mem::size_of::<libc::sockaddr_un>() as libc::socklen_t;
        assert_eq!(libc::bind(fd.0, (&raw const sa).cast(), len), 0, "bind {}: {}", path.display(), std::io::Error::last_os_error());
        assert_eq!(libc::listen(fd.0, 1), 0, "listen: {}", std::io::Error::last_os_error());
        fd
    }
}

impl Relay {
    /// Binds two fresh socket paths (named after `tag`) and starts
    /// forwarding as soon as both sides have connected. Frames a side sends
    /// before the other has connected are delivered once it has.
    pub fn start(tag: &str) -> Relay {
        let a = crate::libpri::socket_path(&format!("{tag}-a"));
        let b = crate::libpri::socket_path(&format!("{tag}-b"));
        let la = listen_seqpacket(&a);
        let lb = listen_seqpacket(&b);
        let shared = Arc::new(Shared {
            mode: AtomicU8::new(RelayMode::Forward.to_u8()),
            stop: AtomicBool::new(false),
            connected: AtomicUsize::new(0),
            held: AtomicUsize::new(0),
            log: Mutex::new(Vec::new()),
        });
        let sh = Arc::clone(&shared);
        let thread = std::thread::Builder::new().name(format!("relay-{tag}")).spawn(move || relay_loop(la, lb, &sh)).expect("spawn relay thread");
        Relay { a, b, shared, thread: Some(thread) }
    }

    pub fn path_a(&self) -> &Path {
        &self.a
    }

    pub fn path_b(&self) -> &Path {
        &self.b
    }

    /// Forward, hold or drop from now on. Going back to `Forward` delivers
    /// what was held, in order.
    pub fn set_mode(&self, mode: RelayMode) {
        self.shared.mode.store(mode.to_u8(), Ordering::SeqCst);
    }

    pub fn mode(&self) -> RelayMode {
        RelayMode::from_u8(self.shared.mode.load(Ordering::SeqCst))
    }

    /// Frames held right now (in `Hold` mode, or before both sides are
    /// connected).
    pub fn held(&self) -> usize {
        self.shared.held.load(Ordering::SeqCst)
    }

    /// Whether both sides are connected.
    pub fn both_connected(&self) -> bool {
        self.shared.connected.load(Ordering::SeqCst) == 2
    }

    /// Every frame seen so far.
    pub fn frames(&self) -> Vec<RelayFrame> {
        self.shared.log.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Waits until `pred` holds for the frames seen so far; false on
    /// timeout.
    pub fn wait_frames(&self, timeout: Duration, pred: impl Fn(&[RelayFrame]) -> bool) -> bool {
        let deadline = Instant::now() + timeout;
        loop {
            if pred(&self.frames()) {
                return true;
            }
            if Instant::now() >= deadline {
                return false;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        let _ = std::fs::remove_file(&self.a);
        let _ = std::fs::remove_file(&self.b);
    }
}

fn relay_loop(la: Fd, lb: Fd, sh: &Shared) {
    let mut listen = [Some(la), Some(lb)];
    let mut conn: [Option<Fd>; 2] = [None, None];
    // Frames from side i waiting for delivery to side 1 - i.
    let mut queue: [VecDeque<Vec<u8>>; 2] = [VecDeque::new(), VecDeque::new()];
    let mut buf = [0u8; 4096];
    loop {
        if sh.stop.load(Ordering::SeqCst) {
            return;
        }
        let mode = RelayMode::from_u8(sh.mode.load(Ordering::SeqCst));
        // Deliver what may go now.
        if mode != RelayMode::Hold {
            for i in 0..2 {
                if let Some(dst) = &conn[1 - i] {
                    while let Some(f) = queue[i].pop_front() {
                        if mode == RelayMode::Forward {
                            send_all(dst, &f);
                        }
                    }
                }
            }
        }
        sh.held.store(queue[0].len() + queue[1].len(), Ordering::SeqCst);

        let mut fds = Vec::new();
        let mut who = Vec::new();
        for i in 0..2 {
            if let Some(c) = &conn[i] {
                fds.push(libc::pollfd { fd: c.0, events: libc::POLLIN, revents: 0 });
                who.push((i, true));
            } else if let Some(l) = &listen[i] {
                fds.push(libc::pollfd { fd: l.0, events: libc::POLLIN, revents: 0 });
                who.push((i, false));
            }
        }
        if fds.is_empty() {
            return;
        }
        // SAFETY: fds is a valid pollfd array.
        let r = unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, 10) };
        if r <= 0 {
            continue;
        }
        for (k, &(i, is_conn)) in who.iter().enumerate() {
            if fds[k].revents == 0 {
                continue;
            }
            if !is_conn {
                let l = listen[i].as_ref().expect("listening");
                // SAFETY: plain accept on our listening socket.
                let fd = unsafe { libc::accept4(l.0, std::ptr::null_mut(), std::ptr::null_mut(), libc::SOCK_CLOEXEC) };
                if fd >= 0 {
                    conn[i] = Some(Fd(fd));
                    listen[i] = None;
                    sh.connected.fetch_add(1, Ordering::SeqCst);
                }
                continue;
            }
            let c = conn[i].as_ref().expect("connected");
            loop {
                // SAFETY: buf is valid for its length.
                let n = unsafe { libc::recv(c.0, buf.as_mut_ptr().cast(), buf.len(), libc::MSG_DONTWAIT) };
                if n > 0 {
                    let f = buf[..n as usize].to_vec();
                    let mode = RelayMode::from_u8(sh.mode.load(Ordering::SeqCst));
                    let dropped = mode == RelayMode::Drop;
                    sh.log.lock().unwrap_or_else(|p| p.into_inner()).push(RelayFrame { from_a: i == 0, bytes: f.clone(), dropped, at: Instant::now() });
                    if dropped {
                        continue;
                    }
                    match (&conn[1 - i], mode) {
                        (Some(dst), RelayMode::Forward) if queue[i].is_empty() => send_all(dst, &f),
                        _ => queue[i].push_back(f),
                    }
                    continue;
                }
                let again = n < 0 && matches!(std::io::Error::last_os_error().raw_os_error(), Some(libc::EAGAIN | libc::EINTR));
                if !again {
                    // This side closed (or failed): close the other one too,
                    // so that its peer sees the end as on a direct socket.
                    if let Some(other) = &conn[1 - i] {
                        close_gracefully(other);
                    }
                    return;
                }
                break;
            }
        }
        sh.held.store(queue[0].len() + queue[1].len(), Ordering::SeqCst);
    }
}

/// Ends the connection so that the peer reads end-of-file: closing a Unix
/// socket with unread data would give the peer ECONNRESET instead. So:
/// shut down our sending half (the peer reads EOF), read and discard until
/// the peer closes too (or 2 s pass), then the caller closes.
fn close_gracefully(fd: &Fd) {
    let mut buf = [0u8; 4096];
    // SAFETY: plain system calls on a socket we own; buf is valid.
    unsafe {
        libc::shutdown(fd.0, libc::SHUT_WR);
        let deadline = Instant::now() + Duration::from_secs(2);
        while Instant::now() < deadline {
            let mut p = libc::pollfd { fd: fd.0, events: libc::POLLIN, revents: 0 };
            if libc::poll(&mut p, 1, 50) <= 0 {
                continue;
            }
            let n = libc::recv(fd.0, buf.as_mut_ptr().cast(), buf.len(), libc::MSG_DONTWAIT);
            if n == 0 || (n < 0 && std::io::Error::last_os_error().raw_os_error() != Some(libc::EAGAIN)) {
                return;
            }
        }
    }
}

fn send_all(dst: &Fd, f: &[u8]) {
    // SAFETY: f is valid for its length. A failure means the other side is
    // gone, which its own read notices.
    unsafe {
        libc::send(dst.0, f.as_ptr().cast(), f.len(), libc::MSG_NOSIGNAL);
    }
}
