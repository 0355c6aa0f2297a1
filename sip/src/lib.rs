//! A sans-IO SIP core for the Tandem gateway: strict message parsing and
//! building, the RFC 3261 transaction layer, dialogs, digest
//! authentication, a REGISTER client and an OPTIONS keepalive.
//!
//! # Why our own SIP core
//!
//! Tandem does not use `rsipstack` or another SIP stack. In a probe,
//! `rsipstack` accepted 22 of 28 malformed messages (a `SIP/3.0` version,
//! a header line without a colon, bad UTF-8, a Request-URI without a
//! scheme, a Content-Length larger than the body...), it has no injectable
//! clock, so its timers cannot be tested deterministically, and it releases
//! so often that it would need an exact pin; the other candidates got
//! RFC 3261 retransmission timing wrong or call themselves beta. A gateway
//! that faces carriers needs strict validation that answers each malformed
//! request with the right status (400, 416, 505, 513), and timer behaviour
//! (Timers A–M, RFC 6026) proven by tests that run in microseconds. This
//! crate provides exactly that, with no sockets, threads, clocks or
//! randomness inside.
//!
//! # Design
//!
//! Everything here is a pure state machine in the style of str0m and
//! quinn-proto: inputs are bytes, commands and `now: Instant`; outputs are
//! pulled with `poll_*` methods. The gateway's SIP leg is a thin tokio
//! shell that owns the sockets and one timer.
//!
//! | module | what it is for |
//! |---|---|
//! | [`wire`] | parse a received message into a checked [`wire::MessageView`] (or a [`wire::ParseError`] that knows its response status); typed headers; owned [`wire::Request`]/[`wire::Response`] builders; stream framing |
//! | [`transaction`] | the [`transaction::Endpoint`]: client and server transactions, retransmissions and timeouts, Via handling, malformed-request rejection |
//! | [`dialog`] | [`dialog::Dialog`]: dialog id, CSeq, route set, remote target; builds BYE, re-INVITE, UPDATE, PRACK, INFO and the 2xx ACK |
//! | [`rel100`] | RFC 3262 reliable provisionals (RSeq, RAck, PRACK matching, retransmission) |
//! | [`session_timer`] | RFC 4028 negotiation, 422, refresh and expiry instants |
//! | [`auth`] | digest authentication (MD5, SHA-256), client and server |
//! | [`registration`] | the REGISTER client for a trunk |
//! | [`options`] | OPTIONS keepalive: peer up/down |
//! | [`ids`] | branches, tags, Call-IDs from a seed |
//!
//! Time is `Instant` everywhere; the digest server takes `now_unix_secs`
//! for its nonces. Identifiers come from [`ids::IdGen`], seeded by the
//! shell from the OS random source (tests use constants).
//!
//! # Run loop
//!
//! The whole shell around the transaction layer, here over one blocking
//! UDP socket (the gateway uses tokio and also TCP, see below):
//!
//! ```no_run
//! use std::net::UdpSocket;
//! use std::time::{Duration, Instant};
//! use tandem_sip::transaction::{Config, Endpoint, Output, Peer, TxEvent};
//! use tandem_sip::wire::Response;
//!
//! # fn main() -> std::io::Result<()> {
//! let socket = UdpSocket::bind("192.0.2.1:5060")?;
//! let config = Config { sent_by_host: "192.0.2.1".into(), sent_by_port: Some(5060), seed: 0x5eed, ..Config::default() };
//! let mut ep = Endpoint::new(config);
//! let mut buf = vec![0u8; 65_535];
//! loop {
//!     // 1. Drain the outputs: bytes to send and events for the call logic.
//!     let deadline = loop {
//!         match ep.poll_output() {
//!             Some(Output::Transmit(t)) => {
//!                 // t.transport may be Tcp even for a UDP peer (a request over 1300 bytes).
//!                 if socket.send_to(&t.bytes, t.dest).is_err() {
//!                     if let Some(key) = t.key {
//!                         ep.transport_error(key);
//!                     }
//!                 }
//!             }
//!             Some(Output::Event(TxEvent::Request { key, request, .. })) => {
//!                 // The call logic answers; here every call is busy.
//!                 let tag = ep.ids().tag();
//!                 let busy = Response::for_request(&request, 486, None, Some(&tag));
//!                 ep.send_response(key, busy, Instant::now()).expect("fresh server transaction");
//!             }
//!             Some(Output::Event(_other)) => {}
//!             None => break ep.poll_timeout(),
//!         }
//!     };
//!     // 2. Wait for a datagram or the next deadline, whichever comes first.
//!     let wait = deadline.map(|d| d.saturating_duration_since(Instant::now()).max(Duration::from_millis(1)));
//!     socket.set_read_timeout(wait)?;
//!     match socket.recv_from(&mut buf) {
//!         Ok((n, from)) => ep.handle_incoming(&buf[..n], Peer::udp(from), Instant::now()),
//!         Err(e) if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut) => {}
//!         Err(e) => return Err(e),
//!     }
//!     ep.handle_timeout(Instant::now());
//! }
//! # }
//! ```
//!
//! # Notes for the gateway's SIP leg
//!
//! - **Streams.** For TCP/TLS, feed each connection's bytes to a
//!   [`wire::StreamFramer`]; pass each [`wire::Frame::Message`] to
//!   `handle_incoming` with `Peer { transport: Tcp, addr: remote }`, answer
//!   [`wire::Frame::Ping`] with [`wire::StreamFramer::PONG`], and close the
//!   connection on a [`wire::FramingError`]. A `Transmit` with a stream
//!   transport goes on the connection to `dest` (open one if needed).
//! - **Sending requests.** Build a [`wire::Request`] (or use
//!   [`dialog::Dialog::new_request`]) without Via; `send_request` adds the
//!   Via with a fresh branch and `rport`, and returns the [`transaction::TxKey`]
//!   on which [`transaction::TxEvent::Response`] events arrive. The shell
//!   resolves the next hop ([`dialog::Dialog::next_hop`] or the trunk
//!   address) to a `SocketAddr` itself.
//! - **INVITE client.** On a 2xx, build the ACK with
//!   [`dialog::Dialog::ack_for_2xx`] and send it with
//!   [`transaction::Endpoint::send_stateless`]; do it again for each
//!   retransmitted 2xx (`Response` events in the Accepted state, or
//!   [`transaction::TxEvent::Stray2xx`]). To abandon a call before the
//!   answer use [`transaction::Endpoint::send_cancel`].
//! - **INVITE server.** The layer sends 100 Trying after 200 ms and
//!   retransmits your 2xx until the ACK, which arrives as
//!   [`transaction::TxEvent::Ack`] naming the INVITE's key; if none comes,
//!   [`transaction::TxEvent::AckTimeout`] says to send BYE. On
//!   [`transaction::TxEvent::Cancel`], answer the CANCEL 200 and the INVITE
//!   487 (or the CANCEL 481 when `invite` is `None`).
//! - **Malformed input** never reaches you: the layer answers it and reports
//!   [`transaction::TxEvent::Rejected`] (count it); undecodable responses
//!   and strays are [`transaction::TxEvent::Dropped`].
//! - **Registration and keepalive** build requests only: send what
//!   `poll_request()` yields with `send_request`, remember the key, and feed
//!   that key's `Response` events to `handle_response` and its
//!   `Timeout`/`TransportError` to `handle_failure`.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod auth;
pub mod dialog;
pub mod ids;
pub mod options;
pub mod registration;
pub mod rel100;
pub mod session_timer;
pub mod transaction;
pub mod wire;
