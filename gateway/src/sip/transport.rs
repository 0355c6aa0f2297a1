//! The SIP transport shell: moves SIP messages between UDP, TCP and TLS
//! sockets and the sans-IO SIP core, as plain data.
//!
//! [`SipTransport::bind`] opens every `listen` entry of `[sip]` and hands
//! back a channel of [`TransportEvent`]s: each complete message received
//! ([`Inbound`]), and each message that could not be sent
//! ([`TransportEvent::SendFailed`], the RFC 3261 §17.1.4 transport error
//! the core uses to fail a transaction at once). [`SipTransport::send`]
//! takes an [`Outbound`] and never blocks the caller. The shell does not
//! look inside messages beyond the stream framing; validating them and
//! choosing the transport (RFC 3261 §18.1.1, UDP to TCP for large
//! requests) is the core's job.
//!
//! - **UDP**: one socket per listen address; each datagram (up to 65,535
//!   bytes) is one message. Messages to a UDP destination leave from a
//!   listening socket, so peers see our listening port as the source. A
//!   datagram of nothing but CR/LF (a NAT keepalive) is dropped.
//! - **TCP and TLS**: messages are cut out of the byte stream by
//!   Content-Length ([`tandem_sip::wire::StreamFramer`]); RFC 5626
//!   double-CRLF pings get a CRLF pong. A message without Content-Length,
//!   one over the size limit (64 KiB) or a bad Content-Length cannot be
//!   framed or answered, so the connection is closed and counted in
//!   [`TransportStats::framing_errors`]. Every connection, inbound or
//!   outbound, is kept by `(transport, peer address)` and reused: a
//!   response to a request that came over a connection goes back over it,
//!   and a request to an address we have a connection to goes over that.
//!   Otherwise a new connection is opened (within
//!   [`TransportOptions::connect_timeout`]), from the IP address of a
//!   listener bound to one address (a listener of the same transport
//!   first), so that a peer that admits us by address sees the one we
//!   listen on and put in Via. Connections idle for
//!   [`TransportOptions::idle_timeout`] are closed, and the number of
//!   connections is capped in total and per peer IP: connections over the
//!   caps are refused (inbound: closed at once; outbound: `SendFailed`).
//!   Each connection has one task that reads, writes its queue of
//!   outbound messages (a write that stalls is a dead connection) and
//!   watches its idle time.
//! - **TLS** (rustls with the ring provider): see [`tls`] for the
//!   certificate and verification rules. A peer's certificate is checked
//!   against the name set with [`SipTransport::set_tls_name`], else
//!   against the peer's IP address.
//!
//! The channel is bounded ([`TransportOptions::event_queue`]): if the core
//! falls behind, reading stops (UDP datagrams then drop in the kernel, as
//! on any overloaded UDP server; TCP peers are slowed down). Logs: one
//! `info` line per listener; at `debug`, one line per message each way
//! with transport, peer and first line (the ladder).
//!
//! Not done: with several UDP listeners, a message leaves from the first
//! that can reach the destination, not necessarily the one the request
//! came in on; the local address of a UDP message is the socket's bound
//! address (`0.0.0.0:5060` for a wildcard listener, not the address the
//! datagram was sent to; that would need `IP_PKTINFO`); TLS clients are
//! not asked for certificates; outbound connections go to an address
//! (resolving names and SRV is the caller's).

pub mod tls;

use std::borrow::Cow;
use std::collections::HashMap;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tandem_sip::wire::{Frame, StreamFramer};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpSocket, TcpStream, UdpSocket};
use tokio::runtime::Handle;
use tokio::sync::{mpsc, watch};
use tokio::time::{Instant, sleep, sleep_until, timeout};
use tokio_rustls::rustls::pki_types::ServerName;
use tokio_rustls::{TlsAcceptor, TlsConnector};
use tracing::{debug, info, warn};

pub use crate::config::Transport;
use crate::config::{Listen, SipConfig};

/// The largest UDP datagram taken in (the IPv4 maximum payload, rounded up).
pub const MAX_DATAGRAM: usize = 65_535;

/// The default size limit of one message on a stream (64 KiB).
pub const MAX_STREAM_MESSAGE: usize = 64 * 1024;

/// One complete SIP message received (the core validates it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Inbound {
    /// The transport it arrived over.
    pub transport: Transport,
    /// The peer's address (for a stream, the connection's remote end).
    pub source: SocketAddr,
    /// Our address it arrived at (a UDP socket's bound address).
    pub local: SocketAddr,
    /// The whole message: start line, headers and body.
    pub bytes: Vec<u8>,
}

/// One SIP message to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outbound {
    /// The transport to send it over.
    pub transport: Transport,
    /// Where to: a UDP destination, or the peer of a (new or existing) connection.
    pub dest: SocketAddr,
    /// The whole message.
    pub bytes: Vec<u8>,
}

/// What the transport reports to the core.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TransportEvent {
    /// A complete message arrived.
    Message(Inbound),
    /// A message could not be sent (connect failed or timed out, the
    /// connection's queue was full, a limit was reached, no socket fits):
    /// RFC 3261 §17.1.4, the transaction fails at once.
    SendFailed {
        /// The transport of the message.
        transport: Transport,
        /// Its destination.
        dest: SocketAddr,
    },
}

/// Limits and timeouts of the transport; [`Default`] gives the documented values.
#[derive(Debug, Clone)]
pub struct TransportOptions {
    /// Time allowed to open a TCP connection (default 2 s).
    pub connect_timeout: Duration,
    /// Time allowed for a TLS handshake, either side (default 5 s).
    pub tls_handshake_timeout: Duration,
    /// Time allowed for one write before the connection is given up (default 10 s).
    pub write_timeout: Duration,
    /// A connection with no traffic either way this long is closed (default 10 min).
    pub idle_timeout: Duration,
    /// Open TCP and TLS connections at most, inbound and outbound together (default 1024).
    pub max_connections: usize,
    /// Open connections with one peer IP address at most (default 64).
    pub max_connections_per_peer: usize,
    /// The size limit of one message on a stream (default 64 KiB).
    pub max_message_size: usize,
    /// Events held for the core before reading stops (default 1024).
    pub event_queue: usize,
    /// Messages queued for one connection before sends to it fail (default 128).
    pub write_queue: usize,
}

impl Default for TransportOptions {
    fn default() -> Self {
        TransportOptions {
            connect_timeout: Duration::from_secs(2),
            tls_handshake_timeout: Duration::from_secs(5),
            write_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(600),
            max_connections: 1024,
            max_connections_per_peer: 64,
            max_message_size: MAX_STREAM_MESSAGE,
            event_queue: 1024,
            write_queue: 128,
        }
    }
}

/// Counters of the transport, for status output and tests.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TransportStats {
    /// TCP and TLS connections open now (including ones being opened).
    pub open_connections: usize,
    /// Connections closed because their stream could not be framed.
    pub framing_errors: u64,
    /// Connections refused or not opened because of a limit.
    pub refused_connections: u64,
    /// `SendFailed` events reported.
    pub send_failures: u64,
}

/// Why the transport could not start.
#[derive(Debug, thiserror::Error)]
pub enum TransportError {
    /// A `listen` entry does not parse.
    #[error("listen entry \"{0}\" is not transport:ip:port")]
    BadListen(String),
    /// A socket could not be bound.
    #[error("cannot bind the {transport} listener on {addr}: {source}")]
    Bind {
        /// udp, tcp or tls.
        transport: &'static str,
        /// The address asked for.
        addr: SocketAddr,
        /// The OS error.
        #[source]
        source: io::Error,
    },
    /// A TLS listener without `tls_cert` and `tls_key`.
    #[error("a tls listener needs tls_cert and tls_key in [sip]")]
    TlsMissing,
    /// A PEM file could not be read or holds nothing usable.
    #[error("cannot read {what} from {}: {reason}", path.display())]
    TlsFile {
        /// What was looked for.
        what: &'static str,
        /// The file.
        path: PathBuf,
        /// What went wrong.
        reason: String,
    },
    /// rustls refused the certificate, key or settings.
    #[error("TLS configuration: {0}")]
    Tls(#[from] tokio_rustls::rustls::Error),
    /// A name given for certificate checks is not a DNS name or IP address.
    #[error("\"{0}\" is not a valid TLS server name")]
    BadTlsName(String),
}

/// The running transport: sockets, connections and their tasks.
pub struct SipTransport {
    shared: Arc<Shared>,
    shutdown_tx: watch::Sender<bool>,
    alive_rx: mpsc::Receiver<()>,
}

type ConnKey = (Transport, SocketAddr);

/// State shared by the handle and the tasks.
struct Shared {
    opts: TransportOptions,
    events: mpsc::Sender<TransportEvent>,
    runtime: Handle,
    locals: Vec<(Transport, SocketAddr)>,
    udp: Vec<(SocketAddr, Arc<UdpSocket>)>,
    table: Mutex<ConnTable>,
    tls_client: Option<TlsConnector>,
    tls_names: Mutex<HashMap<SocketAddr, ServerName<'static>>>,
    shutdown: watch::Receiver<bool>,
    /// Every task holds a clone; `None` once shutdown began.
    alive: Mutex<Option<mpsc::Sender<()>>>,
    framing_errors: AtomicU64,
    refused: AtomicU64,
    send_failures: AtomicU64,
    next_id: AtomicU64,
}

/// The open connections and the counts the limits apply to.
#[derive(Default)]
struct ConnTable {
    by_key: HashMap<ConnKey, Conn>,
    per_ip: HashMap<IpAddr, usize>,
    total: usize,
}

/// A connection's writer queue.
struct Conn {
    id: u64,
    tx: mpsc::Sender<Vec<u8>>,
}

/// A connection's place under the limits and in the table; released on drop.
struct Slot {
    shared: Arc<Shared>,
    ip: IpAddr,
    reg: Option<(ConnKey, u64)>,
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut t = self.shared.table();
        if let Some((key, id)) = self.reg
            && t.by_key.get(&key).is_some_and(|c| c.id == id)
        {
            t.by_key.remove(&key);
        }
        t.total -= 1;
        if let Some(n) = t.per_ip.get_mut(&self.ip) {
            *n -= 1;
            if *n == 0 {
                t.per_ip.remove(&self.ip);
            }
        }
    }
}

impl SipTransport {
    /// Binds every `listen` entry (`udp:IP:PORT`, `tcp:IP:PORT`, `tls:IP:PORT`)
    /// with the default options; TLS listeners need `tls_cert` and `tls_key`.
    pub async fn bind(cfg: &SipConfig) -> Result<(SipTransport, mpsc::Receiver<TransportEvent>), TransportError> {
        Self::bind_with(cfg, TransportOptions::default()).await
    }

    /// [`SipTransport::bind`] with explicit limits and timeouts.
    pub async fn bind_with(cfg: &SipConfig, opts: TransportOptions) -> Result<(SipTransport, mpsc::Receiver<TransportEvent>), TransportError> {
        let mut listens = Vec::new();
        for l in &cfg.listen {
            listens.push(Listen::parse(l.get_ref()).ok_or_else(|| TransportError::BadListen(l.get_ref().clone()))?);
        }
        let cert = cfg.tls_cert.as_ref().map(|p| tls::path(p.get_ref()));
        let key = cfg.tls_key.as_ref().map(|p| tls::path(p.get_ref()));
        let ca = cfg.tls_ca.as_ref().map(|p| tls::path(p.get_ref()));
        let own = cert.as_deref().zip(key.as_deref());
        let tls_listen = listens.iter().any(|l| l.transport == Transport::Tls);
        let acceptor = match (tls_listen, own) {
            (false, _) => None,
            (true, None) => return Err(TransportError::TlsMissing),
            (true, Some((c, k))) => Some(TlsAcceptor::from(tls::server_config(c, k)?)),
        };
        let tls_client = if tls_listen || own.is_some() || ca.is_some() { tls::client_config(ca.as_deref(), own)?.map(TlsConnector::from) } else { None };

        let mut udp = Vec::new();
        let mut tcp = Vec::new();
        let mut locals = Vec::new();
        for l in &listens {
            let bind_err = |source| TransportError::Bind { transport: l.transport.name(), addr: l.addr, source };
            match l.transport {
                Transport::Udp => {
                    let s = UdpSocket::bind(l.addr).await.map_err(bind_err)?;
                    let local = s.local_addr().map_err(bind_err)?;
                    udp.push((local, Arc::new(s)));
                    locals.push((Transport::Udp, local));
                }
                Transport::Tcp | Transport::Tls => {
                    let s = TcpListener::bind(l.addr).await.map_err(bind_err)?;
                    let local = s.local_addr().map_err(bind_err)?;
                    tcp.push((l.transport, s, local));
                    locals.push((l.transport, local));
                }
            }
        }

        let (events, events_rx) = mpsc::channel(opts.event_queue.max(1));
        let (shutdown_tx, shutdown) = watch::channel(false);
        let (alive, alive_rx) = mpsc::channel(1);
        let shared = Arc::new(Shared {
            opts,
            events,
            runtime: Handle::current(),
            locals,
            udp: udp.clone(),
            table: Mutex::new(ConnTable::default()),
            tls_client,
            tls_names: Mutex::new(HashMap::new()),
            shutdown,
            alive: Mutex::new(Some(alive)),
            framing_errors: AtomicU64::new(0),
            refused: AtomicU64::new(0),
            send_failures: AtomicU64::new(0),
            next_id: AtomicU64::new(1),
        });
        for (local, sock) in udp {
            info!(transport = "udp", %local, "SIP listening");
            let token = shared.alive_token().expect("not shut down");
            tokio::spawn(udp_loop(shared.clone(), sock, local, token));
        }
        for (transport, listener, local) in tcp {
            info!(transport = transport.name(), %local, "SIP listening");
            let acceptor = if transport == Transport::Tls { acceptor.clone() } else { None };
            let token = shared.alive_token().expect("not shut down");
            tokio::spawn(accept_loop(shared.clone(), listener, transport, acceptor, token));
        }
        Ok((SipTransport { shared, shutdown_tx, alive_rx }, events_rx))
    }

    /// Sends a message without blocking: UDP goes out at once from a
    /// listening socket; TCP and TLS are queued to the connection to
    /// `dest`, which is opened first if there is none. Failures come back
    /// as [`TransportEvent::SendFailed`]. May be called from any thread
    /// (tasks are spawned on the runtime the transport was bound in).
    pub fn send(&self, out: Outbound) {
        debug!(transport = out.transport.name(), peer = %out.dest, len = out.bytes.len(), "SIP out: {}", first_line(&out.bytes));
        match out.transport {
            Transport::Udp => self.shared.send_udp(out),
            Transport::Tcp | Transport::Tls => Shared::send_stream(&self.shared, out),
        }
    }

    /// Our address for a transport (the first listener of it), for Via and Contact.
    pub fn local_addr(&self, t: Transport) -> Option<SocketAddr> {
        self.shared.locals.iter().find(|(lt, _)| *lt == t).map(|(_, a)| *a)
    }

    /// Checks the certificate of TLS peers at `dest` against `name` (the
    /// SIP domain or host name of a trunk) instead of the IP address.
    pub fn set_tls_name(&self, dest: SocketAddr, name: &str) -> Result<(), TransportError> {
        let n = ServerName::try_from(name.to_string()).map_err(|_| TransportError::BadTlsName(name.to_string()))?;
        self.shared.tls_names.lock().unwrap_or_else(|e| e.into_inner()).insert(dest, n);
        Ok(())
    }

    /// The counters.
    pub fn stats(&self) -> TransportStats {
        let open = self.shared.table().total;
        TransportStats {
            open_connections: open,
            framing_errors: self.shared.framing_errors.load(Ordering::Relaxed),
            refused_connections: self.shared.refused.load(Ordering::Relaxed),
            send_failures: self.shared.send_failures.load(Ordering::Relaxed),
        }
    }

    /// Stops listening, closes every connection (TLS with close_notify)
    /// and waits (at most 2 s) for the tasks to end. The event channel
    /// closes once they have.
    pub async fn shutdown(mut self) {
        let _ = self.shutdown_tx.send(true);
        self.shared.alive.lock().unwrap_or_else(|e| e.into_inner()).take();
        if timeout(Duration::from_secs(2), self.alive_rx.recv()).await.is_err() {
            warn!("SIP transport tasks still running 2 s after shutdown");
        }
    }
}

impl Shared {
    /// A token for a new task, `None` once shutdown began.
    fn alive_token(&self) -> Option<mpsc::Sender<()>> {
        self.alive.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Reports a message that could not be sent.
    fn fail(&self, transport: Transport, dest: SocketAddr) {
        self.send_failures.fetch_add(1, Ordering::Relaxed);
        let ev = TransportEvent::SendFailed { transport, dest };
        if let Err(mpsc::error::TrySendError::Full(ev)) = self.events.try_send(ev) {
            let events = self.events.clone();
            self.runtime.spawn(async move {
                let _ = events.send(ev).await;
            });
        }
    }

    /// The UDP socket to send to `dest` from: same address family, and a
    /// loopback-bound socket only for loopback destinations.
    fn udp_socket_for(&self, dest: SocketAddr) -> Option<(&Arc<UdpSocket>, SocketAddr)> {
        let fits = |local: &SocketAddr| local.is_ipv4() == dest.is_ipv4() && (!local.ip().is_loopback() || dest.ip().is_loopback());
        if let Some((_, s)) = self.udp.iter().find(|(l, _)| fits(l)) {
            return Some((s, dest));
        }
        // An IPv4 destination from a dual-stack [::] socket.
        if let SocketAddr::V4(v4) = dest
            && let Some((_, s)) = self.udp.iter().find(|(l, _)| l.is_ipv6() && l.ip().is_unspecified())
        {
            return Some((s, SocketAddr::new(IpAddr::V6(v4.ip().to_ipv6_mapped()), v4.port())));
        }
        None
    }

    fn send_udp(self: &Arc<Self>, out: Outbound) {
        let Some((sock, to)) = self.udp_socket_for(out.dest) else {
            debug!(peer = %out.dest, "no UDP socket can reach this address");
            return self.fail(Transport::Udp, out.dest);
        };
        match sock.try_send_to(&out.bytes, to) {
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                let sock = sock.clone();
                let shared = self.clone();
                self.runtime.spawn(async move {
                    if let Err(e) = sock.send_to(&out.bytes, to).await {
                        debug!(peer = %out.dest, "UDP send failed: {e}");
                        shared.fail(Transport::Udp, out.dest);
                    }
                });
            }
            Err(e) => {
                debug!(peer = %out.dest, "UDP send failed: {e}");
                self.fail(Transport::Udp, out.dest);
            }
        }
    }

    /// Takes a place under the connection limits for a peer.
    fn reserve(self: &Arc<Self>, t: &mut ConnTable, ip: IpAddr) -> Option<Slot> {
        let here = t.per_ip.get(&ip).copied().unwrap_or(0);
        if t.total >= self.opts.max_connections || here >= self.opts.max_connections_per_peer {
            self.refused.fetch_add(1, Ordering::Relaxed);
            return None;
        }
        t.total += 1;
        *t.per_ip.entry(ip).or_default() += 1;
        Some(Slot { shared: self.clone(), ip, reg: None })
    }

    /// Enters a connection in the table under `key`, returning its queue.
    fn register(&self, t: &mut ConnTable, slot: &mut Slot, key: ConnKey) -> (mpsc::Sender<Vec<u8>>, mpsc::Receiver<Vec<u8>>) {
        let (tx, rx) = mpsc::channel(self.opts.write_queue.max(1));
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        t.by_key.insert(key, Conn { id, tx: tx.clone() });
        slot.reg = Some((key, id));
        (tx, rx)
    }

    /// The connection table, locked.
    fn table(&self) -> std::sync::MutexGuard<'_, ConnTable> {
        self.table.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn send_stream(this: &Arc<Self>, out: Outbound) {
        let Outbound { transport, dest, bytes } = out;
        let key = (transport, dest);
        let mut t = this.table();
        let bytes = match t.by_key.get(&key) {
            None => bytes,
            Some(c) => match c.tx.try_send(bytes) {
                Ok(()) => return,
                Err(mpsc::error::TrySendError::Full(_)) => {
                    drop(t);
                    debug!(transport = transport.name(), peer = %dest, "the connection's write queue is full");
                    return this.fail(transport, dest);
                }
                Err(mpsc::error::TrySendError::Closed(bytes)) => bytes, // closing: open a new one
            },
        };
        if transport == Transport::Tls && this.tls_client.is_none() {
            drop(t);
            warn!(peer = %dest, "outbound TLS needs tls_ca (or system root certificates) to verify the peer");
            return this.fail(transport, dest);
        }
        let token = this.alive_token();
        let (Some(mut slot), Some(token)) = (token.as_ref().and_then(|_| this.reserve(&mut t, dest.ip())), token) else {
            drop(t);
            debug!(transport = transport.name(), peer = %dest, "no connection opened: limit reached or shutting down");
            return this.fail(transport, dest);
        };
        let (tx, mut rx) = this.register(&mut t, &mut slot, key);
        drop(t);
        let _ = tx.try_send(bytes);
        drop(tx);
        let shared = this.clone();
        this.runtime.spawn(async move {
            let _token = token;
            match shared.connect(transport, dest).await {
                Ok((Connected::Tcp(s), local)) => shared.run_stream(s, transport, dest, local, rx, slot).await,
                Ok((Connected::Tls(s), local)) => shared.run_stream(*s, transport, dest, local, rx, slot).await,
                Err(e) => {
                    debug!(transport = transport.name(), peer = %dest, "connect failed: {e}");
                    drop(slot);
                    rx.close();
                    while rx.try_recv().is_ok() {
                        shared.fail(transport, dest);
                    }
                }
            }
        });
    }

    /// Opens a connection (and for TLS does the handshake).
    async fn connect(&self, transport: Transport, dest: SocketAddr) -> io::Result<(Connected, SocketAddr)> {
        let sock = if dest.is_ipv4() { TcpSocket::new_v4()? } else { TcpSocket::new_v6()? };
        if let Some(src) = self.source_for(transport, dest) {
            sock.bind(src)?;
        }
        let tcp = timeout(self.opts.connect_timeout, sock.connect(dest)).await.map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "connect timed out"))??;
        let _ = tcp.set_nodelay(true);
        let local = tcp.local_addr()?;
        if transport == Transport::Tcp {
            return Ok((Connected::Tcp(tcp), local));
        }
        let connector = self.tls_client.clone().ok_or_else(|| io::Error::other("no TLS client configuration"))?;
        let name = self.tls_names.lock().unwrap_or_else(|e| e.into_inner()).get(&dest).cloned().unwrap_or(ServerName::IpAddress(dest.ip().into()));
        let tls = timeout(self.opts.tls_handshake_timeout, connector.connect(name, tcp))
            .await
            .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "TLS handshake timed out"))??;
        Ok((Connected::Tls(Box::new(tokio_rustls::TlsStream::Client(tls))), local))
    }

    /// The local address (port 0) an outbound connection to `dest` is
    /// opened from: the IP of a listener bound to one address of `dest`'s
    /// family, one of `transport` first, so that peers that admit us by
    /// address see the one we listen on (and put in Via). `None` lets the
    /// OS choose: wildcard listeners only, or a loopback listener and a
    /// destination off the host.
    fn source_for(&self, transport: Transport, dest: SocketAddr) -> Option<SocketAddr> {
        let fits = |a: &SocketAddr| !a.ip().is_unspecified() && a.is_ipv4() == dest.is_ipv4() && (!a.ip().is_loopback() || dest.ip().is_loopback());
        let same = self.locals.iter().find(|(t, a)| *t == transport && fits(a));
        same.or_else(|| self.locals.iter().find(|(_, a)| fits(a))).map(|(_, a)| SocketAddr::new(a.ip(), 0))
    }

    /// Runs one inbound connection: TLS handshake, then [`Shared::run_stream`].
    async fn serve_inbound(self: Arc<Self>, tcp: TcpStream, peer: SocketAddr, transport: Transport, acceptor: Option<TlsAcceptor>, mut slot: Slot) {
        let _ = tcp.set_nodelay(true);
        let Ok(local) = tcp.local_addr() else { return };
        let key = (transport, peer);
        match acceptor {
            None => {
                let (_, rx) = self.register(&mut self.table(), &mut slot, key);
                self.run_stream(tcp, transport, peer, local, rx, slot).await
            }
            Some(acceptor) => match timeout(self.opts.tls_handshake_timeout, acceptor.accept(tcp)).await {
                Ok(Ok(tls)) => {
                    let (_, rx) = self.register(&mut self.table(), &mut slot, key);
                    self.run_stream(tokio_rustls::TlsStream::Server(tls), transport, peer, local, rx, slot).await
                }
                Ok(Err(e)) => debug!(%peer, "TLS handshake failed: {e}"),
                Err(_) => debug!(%peer, "TLS handshake timed out"),
            },
        }
    }

    /// Reads, frames and delivers messages from a connection and writes its
    /// queue until it closes, fails, idles out or the transport shuts down.
    async fn run_stream<S: AsyncRead + AsyncWrite + Unpin>(
        &self,
        stream: S,
        transport: Transport,
        peer: SocketAddr,
        local: SocketAddr,
        mut rx: mpsc::Receiver<Vec<u8>>,
        slot: Slot,
    ) {
        let (mut rd, mut wr) = tokio::io::split(stream);
        let mut framer = StreamFramer::new(self.opts.max_message_size);
        let mut buf = vec![0u8; 16 * 1024];
        let mut shutdown = self.shutdown.clone();
        let mut last = Instant::now();
        let t = transport.name();
        debug!(transport = t, %peer, "connection open");
        let why: Cow<str> = 'conn: loop {
            tokio::select! {
                _ = shutdown.changed() => break 'conn "shutdown".into(),
                _ = sleep_until(last + self.opts.idle_timeout) => break 'conn "idle".into(),
                r = rd.read(&mut buf) => {
                    let n = match r {
                        Ok(0) => break 'conn "closed by peer".into(),
                        Ok(n) => n,
                        Err(e) => break 'conn format!("read error: {e}").into(),
                    };
                    last = Instant::now();
                    framer.push(&buf[..n]);
                    loop {
                        match framer.next_frame() {
                            Ok(None) => break,
                            Ok(Some(Frame::Message(bytes))) => {
                                if !has_content_length(&bytes) {
                                    self.framing_errors.fetch_add(1, Ordering::Relaxed);
                                    break 'conn "a message without Content-Length".into();
                                }
                                debug!(transport = t, %peer, len = bytes.len(), "SIP in: {}", first_line(&bytes));
                                let ev = TransportEvent::Message(Inbound { transport, source: peer, local, bytes });
                                if self.events.send(ev).await.is_err() {
                                    break 'conn "the core is gone".into();
                                }
                            }
                            Ok(Some(Frame::Ping)) => {
                                if let Err(e) = self.write(&mut wr, StreamFramer::PONG).await {
                                    break 'conn e.into();
                                }
                            }
                            Ok(Some(Frame::Pong)) => {}
                            Err(e) => {
                                self.framing_errors.fetch_add(1, Ordering::Relaxed);
                                break 'conn format!("unframeable stream: {e}").into();
                            }
                        }
                    }
                }
                m = rx.recv() => {
                    let Some(bytes) = m else { break 'conn "replaced".into() };
                    last = Instant::now();
                    if let Err(e) = self.write(&mut wr, &bytes).await {
                        break 'conn e.into();
                    }
                }
            }
        };
        debug!(transport = t, %peer, "connection closed: {why}");
        drop(slot);
        rx.close();
        let _ = timeout(Duration::from_millis(500), wr.shutdown()).await;
    }

    /// Writes and flushes within the write timeout.
    async fn write<W: AsyncWrite + Unpin>(&self, wr: &mut W, bytes: &[u8]) -> Result<(), String> {
        match timeout(self.opts.write_timeout, async {
            wr.write_all(bytes).await?;
            wr.flush().await
        })
        .await
        {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(format!("write error: {e}")),
            Err(_) => Err("write timed out".into()),
        }
    }
}

/// A freshly opened outbound connection.
enum Connected {
    Tcp(TcpStream),
    Tls(Box<tokio_rustls::TlsStream<TcpStream>>),
}

/// Receives datagrams on one UDP socket until shutdown.
async fn udp_loop(shared: Arc<Shared>, sock: Arc<UdpSocket>, local: SocketAddr, _token: mpsc::Sender<()>) {
    let mut shutdown = shared.shutdown.clone();
    let mut buf = vec![0u8; MAX_DATAGRAM + 1];
    loop {
        let (n, peer) = tokio::select! {
            _ = shutdown.changed() => return,
            r = sock.recv_from(&mut buf) => match r {
                Ok(r) => r,
                Err(e) => {
                    debug!(%local, "UDP receive error: {e}");
                    sleep(Duration::from_millis(10)).await;
                    continue;
                }
            },
        };
        let bytes = &buf[..n.min(MAX_DATAGRAM)];
        if bytes.iter().all(|&b| b == b'\r' || b == b'\n') {
            continue; // an empty datagram or a CRLF NAT keepalive
        }
        debug!(transport = "udp", %peer, len = n, "SIP in: {}", first_line(bytes));
        let ev = TransportEvent::Message(Inbound { transport: Transport::Udp, source: peer, local, bytes: bytes.to_vec() });
        if shared.events.send(ev).await.is_err() {
            return;
        }
    }
}

/// Accepts connections on one listener until shutdown.
async fn accept_loop(shared: Arc<Shared>, listener: TcpListener, transport: Transport, acceptor: Option<TlsAcceptor>, _token: mpsc::Sender<()>) {
    let mut shutdown = shared.shutdown.clone();
    loop {
        let (tcp, peer) = tokio::select! {
            _ = shutdown.changed() => return,
            r = listener.accept() => match r {
                Ok(r) => r,
                Err(e) => {
                    // Out of file descriptors and the like: wait, don't spin.
                    warn!(transport = transport.name(), "accept failed: {e}");
                    sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
        };
        let slot = shared.reserve(&mut shared.table(), peer.ip());
        let Some(slot) = slot else {
            debug!(transport = transport.name(), %peer, "connection refused: connection limit reached");
            continue;
        };
        let Some(token) = shared.alive_token() else { return };
        let s = shared.clone();
        let acceptor = acceptor.clone();
        tokio::spawn(async move {
            let _token = token;
            s.serve_inbound(tcp, peer, transport, acceptor, slot).await
        });
    }
}

/// Whether a framed message has a Content-Length header (long or compact
/// form); on a stream it must (RFC 3261 §18.3).
fn has_content_length(msg: &[u8]) -> bool {
    let head = msg.windows(4).position(|w| w == b"\r\n\r\n").map_or(msg, |e| &msg[..e]);
    head.split(|&c| c == b'\n').skip(1).any(|line| {
        let Some(colon) = line.iter().position(|&c| c == b':') else { return false };
        let name = line[..colon].trim_ascii();
        name.eq_ignore_ascii_case(b"content-length") || name.eq_ignore_ascii_case(b"l")
    })
}

/// A message's first line for logs (at most 120 bytes).
fn first_line(msg: &[u8]) -> Cow<'_, str> {
    let end = msg.iter().position(|&c| c == b'\r' || c == b'\n').unwrap_or(msg.len()).min(120);
    String::from_utf8_lossy(&msg[..end])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_length_is_found_in_long_and_compact_form() {
        assert!(has_content_length(b"OPTIONS sip:a SIP/2.0\r\nVia: x\r\nContent-Length: 0\r\n\r\n"));
        assert!(has_content_length(b"OPTIONS sip:a SIP/2.0\r\nl : 0\r\n\r\n"));
        assert!(!has_content_length(b"OPTIONS sip:a SIP/2.0\r\nVia: x\r\n\r\n"));
        assert!(!has_content_length(b"junk\r\n\r\n"));
    }

    #[test]
    fn first_lines_are_cut_for_logs() {
        assert_eq!(first_line(b"INVITE sip:a SIP/2.0\r\nVia: x"), "INVITE sip:a SIP/2.0");
        assert_eq!(first_line(&[b'a'; 500]).len(), 120);
    }
}
