//! The RFC 3261 §17 transaction layer, sans-IO, with the RFC 6026 fixes
//! (the INVITE client and server "Accepted" states).
//!
//! [`Endpoint`] owns every client and server transaction of one SIP
//! endpoint. It is driven by three inputs, [`Endpoint::handle_incoming`]
//! (bytes that arrived, and from where), [`Endpoint::handle_timeout`] (the
//! time now) and the transaction user's commands ([`Endpoint::send_request`],
//! [`Endpoint::send_response`], [`Endpoint::send_cancel`],
//! [`Endpoint::send_stateless`]), and yields [`Output`]s from
//! [`Endpoint::poll_output`]: bytes to send ([`Transmit`]) and
//! [`TxEvent`]s for the transaction user. [`Endpoint::poll_timeout`] gives
//! the next instant at which `handle_timeout` must be called.
//!
//! What the layer does on its own:
//! - retransmits on unreliable transports (Timers A, E, G) and gives up
//!   (B, F, H), keeps completed transactions to absorb retransmissions
//!   (D, I, J, K, L, M), with Timer values from [`Config`];
//! - answers a malformed request with 400/416/505/513 itself and never shows
//!   it to the transaction user; drops what cannot be answered;
//! - sends 100 Trying when the user has not answered an INVITE within
//!   200 ms (RFC 3261 §17.2.1);
//! - builds and sends the ACK for a non-2xx final response (§17.1.1.3) and
//!   absorbs the ACK for its own non-2xx answers;
//! - retransmits a 2xx it sent to an INVITE until the ACK arrives
//!   (the UAS core's duty in §13.3.1.4, done here for the gateway's
//!   convenience) and reports [`TxEvent::AckTimeout`] if none does;
//! - stamps `received`/`rport` (RFC 3581) on the top Via of incoming
//!   requests and sends responses where §18.2.2 says;
//! - moves a UDP request larger than 1300 bytes to TCP (§18.1.1).
//!
//! What it leaves to the transaction user: answering CANCEL (200 to the
//! CANCEL, 487 to the INVITE: [`TxEvent::Cancel`] names both transactions),
//! sending the ACK for a 2xx (dialog layer, [`Endpoint::send_stateless`]),
//! and giving up on an INVITE that stays in Proceeding: a provisional
//! response stops Timer B, so the user cancels an unanswered call with
//! [`Endpoint::send_cancel`], after which the INVITE transaction ends with
//! [`TxEvent::Timeout`] if no final response comes within 64·T1 (§9.1).

use crate::ids::IdGen;
use crate::wire::{CSeq, FromHeader, HeaderAccess, Limits, MessageView, Method, NameAddr, Request, Response, Transport, Via};
use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

/// RFC 3261 §17.1.1.1 default T1, the RTT estimate.
pub const DEFAULT_T1: Duration = Duration::from_millis(500);
/// RFC 3261 §17.1.2.2 default T2, the longest retransmit interval for non-INVITE requests and INVITE responses.
pub const DEFAULT_T2: Duration = Duration::from_secs(4);
/// RFC 3261 §17.1.2.2 default T4, how long a message may linger in the network.
pub const DEFAULT_T4: Duration = Duration::from_secs(5);
/// RFC 3261 §17.1.1.2: Timer D is at least 32 s on unreliable transports.
pub const TIMER_D: Duration = Duration::from_secs(32);
/// RFC 3261 §17.2.1: send 100 Trying if the TU has not answered an INVITE within 200 ms.
pub const TRYING_DELAY: Duration = Duration::from_millis(200);
/// RFC 3261 §18.1.1: a request over 1300 bytes (path MTU unknown) goes over a congestion-controlled transport.
pub const UDP_SIZE_LIMIT: usize = 1300;

/// Settings of an [`Endpoint`].
#[derive(Debug, Clone)]
pub struct Config {
    /// T1 (default 500 ms).
    pub t1: Duration,
    /// T2 (default 4 s).
    pub t2: Duration,
    /// T4 (default 5 s).
    pub t4: Duration,
    /// Delay before the automatic 100 Trying (default 200 ms).
    pub trying_delay: Duration,
    /// Largest accepted message (default 64 KiB; larger requests get 513).
    pub max_message_size: usize,
    /// Requests over this size that would go over UDP go over TCP instead
    /// (default `Some(1300)`; `None` disables the switch).
    pub udp_size_limit: Option<usize>,
    /// Host (or address) put in the sent-by of our Vias, and checked on responses (§18.1.2).
    pub sent_by_host: String,
    /// Port put in the sent-by of our Vias.
    pub sent_by_port: Option<u16>,
    /// The sent-by port for particular transports (each one's listening
    /// port, e.g. 5061 for TLS), in place of `sent_by_port` (default none).
    pub sent_by_ports: Vec<(Transport, u16)>,
    /// Answer requests with Max-Forwards 0 by 483 (OPTIONS excepted, RFC 3261 §11 / §16.3).
    pub reject_zero_max_forwards: bool,
    /// Seed for branches and tags (take it from the OS random source).
    pub seed: u64,
}

impl Default for Config {
    fn default() -> Config {
        Config {
            t1: DEFAULT_T1,
            t2: DEFAULT_T2,
            t4: DEFAULT_T4,
            trying_delay: TRYING_DELAY,
            max_message_size: 64 * 1024,
            udp_size_limit: Some(UDP_SIZE_LIMIT),
            sent_by_host: "127.0.0.1".into(),
            sent_by_port: None,
            sent_by_ports: Vec::new(),
            reject_zero_max_forwards: true,
            seed: 0,
        }
    }
}

/// Where a message came from or goes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Peer {
    /// The transport.
    pub transport: Transport,
    /// The remote address (for streams: the connection's remote end).
    pub addr: SocketAddr,
}

impl Peer {
    /// A UDP peer.
    pub fn udp(addr: SocketAddr) -> Peer {
        Peer { transport: Transport::Udp, addr }
    }

    /// A TCP peer.
    pub fn tcp(addr: SocketAddr) -> Peer {
        Peer { transport: Transport::Tcp, addr }
    }
}

/// Identifies one transaction for the lifetime of the [`Endpoint`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TxKey(u64);

/// Bytes the shell must send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transmit {
    /// The transport to use (may differ from the one asked for, see [`UDP_SIZE_LIMIT`]).
    pub transport: Transport,
    /// The destination.
    pub dest: SocketAddr,
    /// The message.
    pub bytes: Vec<u8>,
    /// The transaction it belongs to; report a send failure with [`Endpoint::transport_error`].
    pub key: Option<TxKey>,
}

/// What happened, for the transaction user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TxEvent {
    /// A new request (not ACK or CANCEL) opened server transaction `key`; answer with [`Endpoint::send_response`].
    Request {
        /// The new server transaction.
        key: TxKey,
        /// The request, top Via stamped with received/rport.
        request: Request,
        /// Where it came from.
        source: Peer,
    },
    /// A CANCEL opened server transaction `key`. `invite` is the INVITE server
    /// transaction it cancels (answer the CANCEL 200 and the INVITE 487), or
    /// `None` (answer the CANCEL 481).
    Cancel {
        /// The CANCEL's own server transaction.
        key: TxKey,
        /// The INVITE server transaction it matches.
        invite: Option<TxKey>,
        /// The CANCEL.
        request: Request,
        /// Where it came from.
        source: Peer,
    },
    /// An ACK that belongs to no transaction: the ACK for a 2xx (§17.2.3, RFC 6026).
    /// `invite` is the accepted INVITE server transaction it matched by dialog, if any.
    Ack {
        /// The INVITE server transaction whose 2xx it acknowledges.
        invite: Option<TxKey>,
        /// The ACK.
        request: Request,
        /// Where it came from.
        source: Peer,
    },
    /// A response for client transaction `key` (provisional, final, or a 2xx retransmission).
    Response {
        /// The client transaction.
        key: TxKey,
        /// The response.
        response: Response,
    },
    /// A 2xx to INVITE that matched no transaction (the transaction ended);
    /// the dialog layer should ACK it again.
    Stray2xx {
        /// The response.
        response: Response,
        /// Where it came from.
        source: Peer,
    },
    /// Client transaction `key` got no final response (Timer B or F), or server
    /// INVITE transaction `key` never got the ACK for its non-2xx (Timer H).
    Timeout {
        /// The transaction.
        key: TxKey,
    },
    /// The 2xx sent on server transaction `key` was never ACKed (64·T1): send BYE (§13.3.1.4).
    AckTimeout {
        /// The INVITE server transaction.
        key: TxKey,
    },
    /// The shell reported that a message of transaction `key` could not be sent.
    TransportError {
        /// The transaction.
        key: TxKey,
    },
    /// Transaction `key` ended; its key is no longer valid.
    Terminated {
        /// The transaction.
        key: TxKey,
    },
    /// A malformed request was answered with `status` (or dropped if `answered` is false).
    Rejected {
        /// Where it came from.
        source: Peer,
        /// The status sent (or that would have been sent).
        status: u16,
        /// Whether a response was sent.
        answered: bool,
        /// What was wrong.
        reason: String,
    },
    /// A message was dropped: a malformed response, or a response matching no transaction.
    Dropped {
        /// Where it came from.
        source: Peer,
        /// Why.
        reason: String,
    },
}

/// One output of the [`Endpoint`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Output {
    /// Send these bytes.
    Transmit(Transmit),
    /// Tell the transaction user.
    Event(TxEvent),
}

/// Why a command was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TxError {
    /// No such transaction (never existed or terminated).
    #[error("no transaction {0:?}")]
    NoTransaction(TxKey),
    /// The transaction cannot take this (e.g. a response on a client transaction,
    /// or a final response after the final response).
    #[error("transaction {0:?} cannot do that in its state")]
    InvalidState(TxKey),
    /// ACK is never sent on a transaction: use [`Endpoint::send_stateless`].
    #[error("ACK is not sent through a transaction")]
    AckNotTransactional,
    /// The request lacks a header the layer needs (CSeq, Call-ID, From, To).
    #[error("request lacks {0}")]
    MissingHeader(&'static str),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[allow(clippy::enum_variant_names)] // the RFC's own names
enum Kind {
    ClientInvite,
    ClientNonInvite,
    ServerInvite,
    ServerNonInvite,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Calling,
    Trying,
    Proceeding,
    Completed,
    Accepted,
    Confirmed,
}

#[derive(Debug)]
struct Tx {
    kind: Kind,
    state: State,
    peer: Peer,
    request: Request,
    /// Client: the request as sent. Server: the last response sent.
    last: Option<Vec<u8>>,
    /// Client INVITE: the ACK sent for a non-2xx.
    ack: Option<Vec<u8>>,
    retransmit: Option<(Instant, Duration)>,
    deadline: Option<Instant>,
    trying_at: Option<Instant>,
    /// Server INVITE in Accepted: (Call-ID, CSeq, From tag, To tag) to match the 2xx ACK.
    dialog: Option<DialogId>,
    acked: bool,
    index: Index,
    /// The wake-up this transaction is filed under in [`Endpoint::timers`].
    indexed_wake: Option<Instant>,
    /// Whether `dialog` is filed in [`Endpoint::dialogs`].
    indexed_dialog: bool,
}

impl Tx {
    /// The earliest of the transaction's timers.
    fn wake(&self) -> Option<Instant> {
        [self.retransmit.map(|r| r.0), self.deadline, self.trying_at].into_iter().flatten().min()
    }
}

/// The dialog identity of an accepted INVITE server transaction: (Call-ID, CSeq, From tag, To tag).
type DialogId = (String, u32, String, String);

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Index {
    Client(String, Method),
    Server(String, String, Method),
}

/// The transaction layer of one SIP endpoint. See the [module docs](self).
#[derive(Debug)]
pub struct Endpoint {
    config: Config,
    ids: IdGen,
    next_key: u64,
    txs: BTreeMap<TxKey, Tx>,
    index: HashMap<Index, TxKey>,
    /// Every transaction's next wake-up, earliest first, so timers cost O(log n) per transaction touched.
    timers: BTreeSet<(Instant, TxKey)>,
    /// Accepted INVITE server transactions by dialog, to match the 2xx ACK without a scan (keys ascending).
    dialogs: HashMap<DialogId, Vec<TxKey>>,
    /// Transactions whose timers or state an input may have changed; re-filed at the end of each input.
    touched: Vec<TxKey>,
    out: VecDeque<Output>,
}

impl Endpoint {
    /// An endpoint with no transactions.
    pub fn new(config: Config) -> Endpoint {
        let ids = IdGen::new(config.seed);
        Endpoint {
            config,
            ids,
            next_key: 1,
            txs: BTreeMap::new(),
            index: HashMap::new(),
            timers: BTreeSet::new(),
            dialogs: HashMap::new(),
            touched: Vec::new(),
            out: VecDeque::new(),
        }
    }

    /// The configuration.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The identifier generator (for tags and Call-IDs of new dialogs).
    pub fn ids(&mut self) -> &mut IdGen {
        &mut self.ids
    }

    /// How many transactions are alive.
    pub fn transaction_count(&self) -> usize {
        self.txs.len()
    }

    /// The next output, if any. Drain it after every input.
    pub fn poll_output(&mut self) -> Option<Output> {
        self.out.pop_front()
    }

    /// The next instant at which [`Endpoint::handle_timeout`] must be called.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.timers.first().map(|&(at, _)| at)
    }

    /// Debug builds: every transaction is filed under its current wake-up and dialog, and nothing else is filed.
    #[cfg(debug_assertions)]
    fn check_indexes(&self) {
        for (key, tx) in &self.txs {
            assert_eq!(tx.indexed_wake, tx.wake(), "{key:?} filed under a stale wake-up");
            assert_eq!(tx.indexed_dialog, tx.state == State::Accepted && tx.dialog.is_some(), "{key:?} dialog filing is stale");
        }
        assert_eq!(self.timers.len(), self.txs.values().filter(|t| t.indexed_wake.is_some()).count());
        assert_eq!(self.dialogs.values().map(Vec::len).sum::<usize>(), self.txs.values().filter(|t| t.indexed_dialog).count());
    }

    /// Re-files every touched transaction in the timer and dialog indexes.
    fn reindex_touched(&mut self) {
        while let Some(key) = self.touched.pop() {
            self.reindex(key);
        }
    }

    /// Files transaction `key` under its current wake-up and, if it is an accepted INVITE server transaction, its dialog.
    fn reindex(&mut self, key: TxKey) {
        let Some(tx) = self.txs.get_mut(&key) else { return };
        let wake = tx.wake();
        if wake != tx.indexed_wake {
            if let Some(old) = tx.indexed_wake {
                self.timers.remove(&(old, key));
            }
            if let Some(new) = wake {
                self.timers.insert((new, key));
            }
            tx.indexed_wake = wake;
        }
        let in_dialogs = tx.state == State::Accepted && tx.dialog.is_some();
        if in_dialogs != tx.indexed_dialog {
            let dialog = tx.dialog.clone().expect("a filed or to-be-filed transaction has a dialog");
            tx.indexed_dialog = in_dialogs;
            if in_dialogs {
                let keys = self.dialogs.entry(dialog).or_default();
                let at = keys.partition_point(|k| *k < key);
                keys.insert(at, key);
            } else {
                unfile_dialog(&mut self.dialogs, &dialog, key);
            }
        }
    }

    fn transmit(&mut self, peer: Peer, bytes: Vec<u8>, key: Option<TxKey>) {
        self.out.push_back(Output::Transmit(Transmit { transport: peer.transport, dest: peer.addr, bytes, key }));
    }

    fn event(&mut self, e: TxEvent) {
        self.out.push_back(Output::Event(e));
    }

    fn new_key(&mut self) -> TxKey {
        let k = TxKey(self.next_key);
        self.next_key += 1;
        k
    }

    /// Gives `req` a top Via with a branch if it has none (or a branch if its
    /// top Via lacks one) and returns the branch; the Via transport follows `transport`.
    fn prepare_via(&mut self, req: &mut Request, transport: Transport) -> String {
        match req.headers.remove_first("Via") {
            Some(line) => {
                let items: Vec<String> = crate::wire::split_list(&line).map(|v| v.iter().map(|s| s.to_string()).collect()).unwrap_or_default();
                let mut top = items.first().and_then(|s| Via::from_header(s).ok()).unwrap_or_else(|| self.our_via(transport, ""));
                if top.branch().is_none() {
                    let b = self.ids.branch();
                    top.params.set("branch", Some(&b));
                }
                top.transport = transport.as_str().into();
                let branch = top.branch().unwrap_or_default().to_string();
                let mut line = top.to_string();
                for rest in items.iter().skip(1) {
                    line.push_str(", ");
                    line.push_str(rest);
                }
                req.headers.push_front("Via", line);
                branch
            }
            None => {
                let b = self.ids.branch();
                let via = self.our_via(transport, &b);
                req.headers.push_front("Via", via.to_string());
                b
            }
        }
    }

    fn our_via(&self, transport: Transport, branch: &str) -> Via {
        let port = self.config.sent_by_ports.iter().find(|(t, _)| *t == transport).map(|&(_, p)| p).or(self.config.sent_by_port);
        let mut v = Via::new(transport, &self.config.sent_by_host, port, branch);
        v.params.set("rport", None);
        v
    }

    /// Picks the transport for a request (§18.1.1) and emits it.
    fn emit_request(&mut self, req: &mut Request, dest: Peer) -> (Peer, String, Vec<u8>) {
        let mut peer = dest;
        let mut branch = self.prepare_via(req, peer.transport);
        let mut bytes = req.to_bytes();
        if peer.transport == Transport::Udp && self.config.udp_size_limit.is_some_and(|l| bytes.len() > l) {
            peer.transport = Transport::Tcp;
            branch = self.prepare_via(req, Transport::Tcp);
            bytes = req.to_bytes();
        }
        (peer, branch, bytes)
    }

    /// Starts a client transaction for `req` towards `dest` and sends it.
    ///
    /// If `req` has no Via, one is added (our sent-by, a new branch, `rport`);
    /// if its top Via has no branch, one is added. Content-Length is set on
    /// output. Over UDP, a request larger than [`Config::udp_size_limit`]
    /// is sent over TCP instead (the [`Transmit`] says so).
    pub fn send_request(&mut self, mut req: Request, dest: Peer, now: Instant) -> Result<TxKey, TxError> {
        if req.method == Method::Ack {
            return Err(TxError::AckNotTransactional);
        }
        req.cseq().ok_or(TxError::MissingHeader("CSeq"))?;
        let (peer, branch, bytes) = self.emit_request(&mut req, dest);
        let key = self.new_key();
        let invite = req.method == Method::Invite;
        let t1 = self.config.t1;
        let index = Index::Client(branch, req.method.clone());
        let tx = Tx {
            kind: if invite { Kind::ClientInvite } else { Kind::ClientNonInvite },
            state: if invite { State::Calling } else { State::Trying },
            peer,
            request: req,
            last: Some(bytes.clone()),
            ack: None,
            // Timer A / Timer E start at T1 on unreliable transports only.
            retransmit: (!peer.transport.is_reliable()).then_some((now + t1, t1)),
            // Timer B / Timer F = 64*T1.
            deadline: Some(now + 64 * t1),
            trying_at: None,
            dialog: None,
            acked: false,
            index: index.clone(),
            indexed_wake: None,
            indexed_dialog: false,
        };
        self.index.insert(index, key);
        self.txs.insert(key, tx);
        self.reindex(key);
        self.transmit(peer, bytes, Some(key));
        Ok(key)
    }

    /// Cancels the INVITE client transaction `invite` (RFC 3261 §9.1): builds
    /// the CANCEL from the INVITE and sends it on a new client transaction.
    /// The INVITE's final response (487) still arrives on `invite`.
    pub fn send_cancel(&mut self, invite: TxKey, now: Instant) -> Result<TxKey, TxError> {
        let tx = self.txs.get(&invite).ok_or(TxError::NoTransaction(invite))?;
        if tx.kind != Kind::ClientInvite || !matches!(tx.state, State::Calling | State::Proceeding) {
            return Err(TxError::InvalidState(invite));
        }
        let inv = &tx.request;
        let mut c = Request::new(Method::Cancel, inv.uri.clone());
        if let Some(v) = inv.header("Via") {
            c.headers.push("Via", crate::wire::split_list(v).ok().and_then(|l| l.first().map(|s| s.to_string())).unwrap_or_default());
        }
        for name in ["Route", "From", "To", "Call-ID"] {
            for v in inv.header_lines(name) {
                c.headers.push(name, v);
            }
        }
        let seq = inv.cseq().map(|c| c.seq).unwrap_or(1);
        c.headers.push("CSeq", CSeq { seq, method: Method::Cancel }.to_string());
        c.headers.push("Max-Forwards", "70");
        let peer = tx.peer;
        let cancel = self.send_request(c, peer, now)?;
        // RFC 3261 §9.1: with no final response 64*T1 after the CANCEL, the INVITE transaction is destroyed.
        let deadline = now + 64 * self.config.t1;
        if let Some(tx) = self.txs.get_mut(&invite) {
            tx.deadline = Some(tx.deadline.map_or(deadline, |d| d.min(deadline)));
        }
        self.reindex(invite);
        Ok(cancel)
    }

    /// Sends a request outside any transaction: the ACK for a 2xx (§13.2.2.4),
    /// which the dialog layer builds. A Via with a new branch is added if absent.
    pub fn send_stateless(&mut self, mut req: Request, dest: Peer) {
        let (peer, _, bytes) = self.emit_request(&mut req, dest);
        self.transmit(peer, bytes, None);
    }

    /// Sends `resp` on server transaction `key`.
    ///
    /// A 1xx keeps the transaction open; a 2xx to INVITE moves it to Accepted
    /// (the 2xx is retransmitted until the ACK arrives on unreliable
    /// transports); any other final response completes it.
    pub fn send_response(&mut self, key: TxKey, resp: Response, now: Instant) -> Result<(), TxError> {
        let t1 = self.config.t1;
        let tx = self.txs.get_mut(&key).ok_or(TxError::NoTransaction(key))?;
        let unreliable = !tx.peer.transport.is_reliable();
        let bytes = resp.to_bytes();
        let status = resp.status;
        match (tx.kind, tx.state) {
            (Kind::ServerInvite, State::Proceeding) => {
                tx.trying_at = None;
                if (200..300).contains(&status) {
                    // RFC 6026 §7.1: Accepted; Timer L = 64*T1. 2xx retransmission per §13.3.1.4.
                    tx.state = State::Accepted;
                    tx.deadline = Some(now + 64 * t1);
                    tx.retransmit = unreliable.then_some((now + t1, t1));
                    let call_id = resp.call_id().unwrap_or_default().to_string();
                    let seq = resp.cseq().map(|c| c.seq).unwrap_or(0);
                    let from_tag = resp.from_addr().and_then(|a| a.tag().map(str::to_string)).unwrap_or_default();
                    let to_tag = resp.to_addr().and_then(|a| a.tag().map(str::to_string)).unwrap_or_default();
                    tx.dialog = Some((call_id, seq, from_tag, to_tag));
                } else if status >= 300 {
                    // §17.2.1: Completed; Timer G = T1 (unreliable), Timer H = 64*T1.
                    tx.state = State::Completed;
                    tx.retransmit = unreliable.then_some((now + t1, t1));
                    tx.deadline = Some(now + 64 * t1);
                }
            }
            (Kind::ServerInvite, State::Accepted) if (200..300).contains(&status) => {}
            (Kind::ServerNonInvite, State::Trying | State::Proceeding) => {
                if status < 200 {
                    tx.state = State::Proceeding;
                } else {
                    // §17.2.2: Timer J = 64*T1 unreliable, 0 reliable.
                    tx.state = State::Completed;
                    tx.deadline = Some(if unreliable { now + 64 * t1 } else { now });
                }
            }
            _ => return Err(TxError::InvalidState(key)),
        }
        tx.last = Some(bytes.clone());
        let peer = tx.peer;
        self.reindex(key);
        self.transmit(peer, bytes, Some(key));
        Ok(())
    }

    /// Reports that sending a message of transaction `key` failed (§17.1.4,
    /// §17.2.4): the transaction ends with [`TxEvent::TransportError`].
    pub fn transport_error(&mut self, key: TxKey) {
        if self.txs.contains_key(&key) {
            self.event(TxEvent::TransportError { key });
            self.terminate(key);
        }
    }

    fn terminate(&mut self, key: TxKey) {
        if let Some(tx) = self.txs.remove(&key) {
            if self.index.get(&tx.index) == Some(&key) {
                self.index.remove(&tx.index);
            }
            if let Some(at) = tx.indexed_wake {
                self.timers.remove(&(at, key));
            }
            if tx.indexed_dialog
                && let Some(dialog) = &tx.dialog
            {
                unfile_dialog(&mut self.dialogs, dialog, key);
            }
            self.event(TxEvent::Terminated { key });
        }
    }

    /// Advances every timer to `now`: retransmissions, timeouts, 100 Trying.
    pub fn handle_timeout(&mut self, now: Instant) {
        let t2 = self.config.t2;
        #[cfg(debug_assertions)]
        self.check_indexes();
        // Only transactions with a timer due; handled in key order, as a scan of all transactions would.
        let mut keys: Vec<TxKey> = self.timers.iter().take_while(|&&(at, _)| at <= now).map(|&(_, k)| k).collect();
        keys.sort_unstable();
        for key in keys {
            let mut sends = Vec::new();
            let mut events = Vec::new();
            let mut end = false;
            {
                let Some(tx) = self.txs.get_mut(&key) else { continue };
                if tx.trying_at.is_some_and(|t| t <= now) {
                    tx.trying_at = None;
                    let trying = Response::for_request(&tx.request, 100, None, None).to_bytes();
                    tx.last = Some(trying.clone());
                    sends.push(trying);
                }
                if let Some((at, interval)) = tx.retransmit
                    && at <= now
                {
                    let next = match (tx.kind, tx.state) {
                        // Timer A doubles without bound (§17.1.1.2).
                        (Kind::ClientInvite, State::Calling) => Some(interval * 2),
                        // Timer E: doubles up to T2 in Trying, T2 in Proceeding (§17.1.2.2).
                        (Kind::ClientNonInvite, State::Trying) => Some((interval * 2).min(t2)),
                        (Kind::ClientNonInvite, State::Proceeding) => Some(t2),
                        // Timer G (§17.2.1) and the 2xx retransmission (§13.3.1.4): double up to T2.
                        (Kind::ServerInvite, State::Completed) => Some((interval * 2).min(t2)),
                        (Kind::ServerInvite, State::Accepted) if !tx.acked => Some((interval * 2).min(t2)),
                        _ => None,
                    };
                    tx.retransmit = next.map(|n| (at + n, n));
                    if next.is_some()
                        && let Some(b) = &tx.last
                    {
                        sends.push(b.clone());
                    }
                }
                if tx.deadline.is_some_and(|d| d <= now) {
                    tx.deadline = None;
                    match (tx.kind, tx.state) {
                        // Timer B, Timer F, Timer H, and an INVITE left unanswered after its CANCEL (§9.1): give up.
                        (Kind::ClientInvite, State::Calling | State::Proceeding)
                        | (Kind::ClientNonInvite, State::Trying | State::Proceeding)
                        | (Kind::ServerInvite, State::Completed) => {
                            events.push(TxEvent::Timeout { key });
                        }
                        // Timer L without an ACK.
                        (Kind::ServerInvite, State::Accepted) if !tx.acked => events.push(TxEvent::AckTimeout { key }),
                        _ => {}
                    }
                    // Timers D, I, J, K, L, M end the transaction quietly.
                    end = true;
                }
            }
            for b in sends {
                let peer = self.txs[&key].peer;
                self.transmit(peer, b, Some(key));
            }
            for e in events {
                self.event(e);
            }
            if end {
                self.terminate(key);
            } else {
                self.reindex(key);
            }
        }
    }

    /// Handles one received message (a datagram, or one [`crate::wire::Frame::Message`] of a stream).
    /// Datagrams holding only CR/LF (RFC 5626 §3.5.1-style keepalives) are ignored.
    pub fn handle_incoming(&mut self, bytes: &[u8], source: Peer, now: Instant) {
        if !bytes.is_empty() && bytes.iter().all(|b| matches!(b, b'\r' | b'\n')) {
            return;
        }
        let limits = Limits { max_message_size: self.config.max_message_size, require_content_length: source.transport.is_stream() };
        let view = match MessageView::parse_with(bytes, limits) {
            Ok(v) => v,
            Err(e) => {
                if e.is_request() {
                    let tag = self.ids.tag();
                    let rejection = e.rejection(&tag);
                    let answered = rejection.is_some();
                    if let Some(r) = rejection {
                        let dest = response_peer(&r.top_via(), source);
                        self.transmit(dest, r.to_bytes(), None);
                    }
                    self.event(TxEvent::Rejected { source, status: e.status(), answered, reason: e.to_string() });
                } else {
                    self.event(TxEvent::Dropped { source, reason: e.to_string() });
                }
                return;
            }
        };
        if view.is_request() {
            self.incoming_request(&view, source, now);
        } else {
            self.incoming_response(&view, source, now);
        }
        self.reindex_touched();
    }

    fn incoming_request(&mut self, view: &MessageView<'_>, source: Peer, now: Instant) {
        let Some(mut req) = view.to_request() else { return };
        let mut top = view.checked_top_via().clone();
        stamp_via(&mut top, source);
        replace_top_via(&mut req, &top);
        let dest = response_peer(&Some(top.clone()), source);
        let method = req.method.clone();
        let branch_key = |m: Method| {
            let branch = match top.branch() {
                Some(b) if top.is_rfc3261_branch() => b.to_string(),
                // RFC 2543 peers: approximate §17.2.3's legacy matching with the request's identity.
                _ => format!(
                    "legacy;{};{};{};{}",
                    view.call_id().unwrap_or(""),
                    view.checked_cseq().seq,
                    view.checked_from().tag().unwrap_or(""),
                    view.checked_to().tag().unwrap_or("")
                ),
            };
            Index::Server(branch, top.sent_by(), m)
        };

        if method == Method::Ack {
            if let Some(&key) = self.index.get(&branch_key(Method::Invite)) {
                let t4 = self.config.t4;
                self.touched.push(key);
                let tx = self.txs.get_mut(&key).expect("indexed transaction exists");
                match tx.state {
                    State::Completed => {
                        // §17.2.1: Confirmed; Timer I = T4 unreliable, 0 reliable. The ACK is absorbed.
                        tx.state = State::Confirmed;
                        tx.retransmit = None;
                        tx.deadline = Some(if tx.peer.transport.is_reliable() { now } else { now + t4 });
                        return;
                    }
                    State::Confirmed => return,
                    _ => {}
                }
            }
            let invite = self.match_2xx_ack(view);
            self.event(TxEvent::Ack { invite, request: req, source });
            return;
        }

        if let Some(&key) = self.index.get(&branch_key(method.clone())) {
            // A retransmission: answer with the last response, if any (§17.2.1, §17.2.2).
            let tx = &self.txs[&key];
            let resend = match (tx.kind, tx.state) {
                (Kind::ServerInvite, State::Proceeding | State::Completed) => tx.last.clone(),
                (Kind::ServerNonInvite, State::Proceeding | State::Completed) => tx.last.clone(),
                _ => None,
            };
            if let Some(b) = resend {
                let peer = tx.peer;
                self.transmit(peer, b, Some(key));
            }
            return;
        }

        let key = self.new_key();
        let invite = method == Method::Invite;
        let index = branch_key(method.clone());
        let tx = Tx {
            kind: if invite { Kind::ServerInvite } else { Kind::ServerNonInvite },
            state: if invite { State::Proceeding } else { State::Trying },
            peer: dest,
            request: req.clone(),
            last: None,
            ack: None,
            retransmit: None,
            deadline: None,
            trying_at: invite.then_some(now + self.config.trying_delay),
            dialog: None,
            acked: false,
            index: index.clone(),
            indexed_wake: None,
            indexed_dialog: false,
        };
        self.index.insert(index, key);
        self.txs.insert(key, tx);
        self.touched.push(key);

        if self.config.reject_zero_max_forwards && view.max_forwards() == Some(0) && method != Method::Options {
            let r = Response::for_request(&req, 483, None, Some(&self.ids.tag()));
            let _ = self.send_response(key, r, now);
            self.event(TxEvent::Rejected { source, status: 483, answered: true, reason: "Max-Forwards is 0".into() });
            return;
        }
        if method == Method::Cancel {
            let inv = self.index.get(&branch_key(Method::Invite)).copied();
            self.event(TxEvent::Cancel { key, invite: inv, request: req, source });
        } else {
            self.event(TxEvent::Request { key, request: req, source });
        }
    }

    /// Finds the accepted INVITE server transaction a 2xx ACK belongs to, by dialog (RFC 6026 §8.7).
    fn match_2xx_ack(&mut self, view: &MessageView<'_>) -> Option<TxKey> {
        let call_id = view.call_id()?;
        let seq = view.checked_cseq().seq;
        let from_tag = view.checked_from().tag().unwrap_or("");
        let to_tag = view.checked_to().tag().unwrap_or("");
        let dialog: DialogId = (call_id.to_string(), seq, from_tag.to_string(), to_tag.to_string());
        let key = *self.dialogs.get(&dialog)?.first()?;
        let tx = self.txs.get_mut(&key).expect("filed transaction exists");
        tx.acked = true;
        tx.retransmit = None;
        self.touched.push(key);
        Some(key)
    }

    fn incoming_response(&mut self, view: &MessageView<'_>, source: Peer, now: Instant) {
        let Some(resp) = view.to_response() else { return };
        let status = resp.status;
        let via = view.checked_top_via();
        // §18.1.2: a response whose top Via sent-by is not ours is discarded.
        if !via.host.eq_ignore_ascii_case(&self.config.sent_by_host) {
            self.event(TxEvent::Dropped { source, reason: format!("top Via sent-by {} is not ours", via.host) });
            return;
        }
        let method = view.checked_cseq().method.clone();
        let index = Index::Client(via.branch().unwrap_or("").to_string(), method.clone());
        let Some(&key) = self.index.get(&index) else {
            if method == Method::Invite && (200..300).contains(&status) {
                self.event(TxEvent::Stray2xx { response: resp, source });
            } else {
                self.event(TxEvent::Dropped { source, reason: format!("{status} response matches no transaction") });
            }
            return;
        };
        let (t1, t4) = (self.config.t1, self.config.t4);
        self.touched.push(key);
        let tx = self.txs.get_mut(&key).expect("indexed transaction exists");
        let reliable = tx.peer.transport.is_reliable();
        let mut deliver = false;
        let mut send = None;
        match (tx.kind, tx.state) {
            (Kind::ClientInvite, State::Calling | State::Proceeding) => {
                deliver = true;
                tx.retransmit = None;
                if status < 200 {
                    tx.state = State::Proceeding;
                    tx.deadline = None; // Timer B only runs in Calling
                } else if status < 300 {
                    // RFC 6026 §7.2: Accepted; Timer M = 64*T1.
                    tx.state = State::Accepted;
                    tx.deadline = Some(now + 64 * t1);
                } else {
                    // §17.1.1.2: Completed, ACK, Timer D (32 s unreliable, 0 reliable).
                    tx.state = State::Completed;
                    tx.deadline = Some(if reliable { now } else { now + TIMER_D });
                    let ack = build_ack(&tx.request, &resp).to_bytes();
                    tx.ack = Some(ack.clone());
                    send = Some(ack);
                }
            }
            (Kind::ClientInvite, State::Accepted) => deliver = (200..300).contains(&status),
            (Kind::ClientInvite, State::Completed) => send = if status >= 300 { tx.ack.clone() } else { None },
            (Kind::ClientNonInvite, State::Trying | State::Proceeding) => {
                deliver = true;
                if status < 200 {
                    tx.state = State::Proceeding;
                } else {
                    // §17.1.2.2: Completed; Timer K = T4 unreliable, 0 reliable.
                    tx.state = State::Completed;
                    tx.retransmit = None;
                    tx.deadline = Some(if reliable { now } else { now + t4 });
                }
            }
            _ => {}
        }
        let peer = tx.peer;
        if let Some(b) = send {
            self.transmit(peer, b, Some(key));
        }
        if deliver {
            self.event(TxEvent::Response { key, response: resp });
        }
    }
}

/// Removes `key` from the accepted transactions filed under `dialog`.
fn unfile_dialog(dialogs: &mut HashMap<DialogId, Vec<TxKey>>, dialog: &DialogId, key: TxKey) {
    if let Some(keys) = dialogs.get_mut(dialog) {
        keys.retain(|k| *k != key);
        if keys.is_empty() {
            dialogs.remove(dialog);
        }
    }
}

/// RFC 3261 §18.2.1 and RFC 3581 §4: note the source address on the top Via.
fn stamp_via(via: &mut Via, source: Peer) {
    let ip = source.addr.ip().to_string();
    let rport_requested = via.rport().is_some();
    if via.host != ip && via.host.trim_start_matches('[').trim_end_matches(']') != ip || rport_requested {
        via.params.set("received", Some(&ip));
    }
    if rport_requested {
        via.params.set("rport", Some(&source.addr.port().to_string()));
    }
}

fn replace_top_via(req: &mut Request, top: &Via) {
    if let Some(line) = req.headers.remove_first("Via") {
        let mut new = top.to_string();
        if let Ok(items) = crate::wire::split_list(&line) {
            for rest in items.iter().skip(1) {
                new.push_str(", ");
                new.push_str(rest);
            }
        }
        req.headers.push_front("Via", new);
    }
}

/// Where a response goes (RFC 3261 §18.2.2, RFC 3581 §4): back on the
/// connection for streams; for UDP to the source address, at the rport if
/// requested, else at the sent-by port.
fn response_peer(via: &Option<Via>, source: Peer) -> Peer {
    if source.transport.is_reliable() {
        return source;
    }
    let Some(via) = via else { return source };
    let port = match via.rport() {
        Some(_) => source.addr.port(),
        None => via.port.unwrap_or(Transport::Udp.default_port()),
    };
    Peer { transport: source.transport, addr: SocketAddr::new(source.addr.ip(), port) }
}

/// The ACK for a non-2xx final response (RFC 3261 §17.1.1.3).
fn build_ack(invite: &Request, resp: &Response) -> Request {
    let mut ack = Request::new(Method::Ack, invite.uri.clone());
    if let Some(v) = invite.header("Via") {
        let top = crate::wire::split_list(v).ok().and_then(|l| l.first().map(|s| s.to_string())).unwrap_or_default();
        ack.headers.push("Via", top);
    }
    for r in invite.header_lines("Route") {
        ack.headers.push("Route", r);
    }
    ack.headers.push("Max-Forwards", "70");
    if let Some(f) = invite.header("From") {
        ack.headers.push("From", f);
    }
    if let Some(t) = resp.header("To") {
        ack.headers.push("To", t);
    }
    if let Some(c) = invite.header("Call-ID") {
        ack.headers.push("Call-ID", c);
    }
    let seq = invite.cseq().map(|c| c.seq).unwrap_or(1);
    ack.headers.push("CSeq", CSeq { seq, method: Method::Ack }.to_string());
    ack
}

/// A helper for the transaction user: the To tag of a response, if any.
pub fn to_tag(resp: &Response) -> Option<String> {
    resp.header("To").and_then(|t| NameAddr::from_header(t).ok()).and_then(|a| a.tag().map(str::to_string))
}
