//! The SIP transport shell over loopback: UDP, TCP and TLS in and out,
//! stream framing, connection reuse, failures, limits and shutdown.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair};
use tandem_gateway::config::SipConfig;
use tandem_gateway::sip::transport::{Inbound, Outbound, SipTransport, Transport, TransportEvent, TransportOptions};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc::Receiver;
use tokio::time::timeout;
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use tokio_rustls::rustls::{self, ClientConfig, RootCertStore, ServerConfig};
use tokio_rustls::{TlsAcceptor, TlsConnector};

/// Every wait in these tests is bounded by this.
const WAIT: Duration = Duration::from_secs(5);

/// A `[sip]` section with these listen entries and extra TOML lines.
fn sip_config(listen: &[&str], extra: &str) -> SipConfig {
    let list: Vec<String> = listen.iter().map(|l| format!("\"{l}\"")).collect();
    toml::from_str(&format!("listen = [{}]\n{extra}", list.join(", "))).expect("test config parses")
}

/// A small SIP request with a body and Content-Length.
fn request(n: u32) -> Vec<u8> {
    let body = format!("body {n}");
    format!(
        "OPTIONS sip:gw@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/TCP 127.0.0.1;branch=z9hG4bK{n}\r\nCall-ID: call-{n}\r\nCSeq: {n} OPTIONS\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

/// A response to [`request`].
fn response(n: u32) -> Vec<u8> {
    format!("SIP/2.0 200 OK\r\nVia: SIP/2.0/TCP 127.0.0.1;branch=z9hG4bK{n}\r\nCall-ID: call-{n}\r\nCSeq: {n} OPTIONS\r\nContent-Length: 0\r\n\r\n")
        .into_bytes()
}

async fn next_event(rx: &mut Receiver<TransportEvent>) -> TransportEvent {
    timeout(WAIT, rx.recv()).await.expect("an event within 5 s").expect("the event channel is open")
}

async fn next_message(rx: &mut Receiver<TransportEvent>) -> Inbound {
    match next_event(rx).await {
        TransportEvent::Message(m) => m,
        other => panic!("expected a message, got {other:?}"),
    }
}

/// Asserts nothing more arrives for a short while.
async fn assert_quiet(rx: &mut Receiver<TransportEvent>) {
    if let Ok(ev) = timeout(Duration::from_millis(300), rx.recv()).await {
        panic!("unexpected event {ev:?}");
    }
}

/// Reads exactly `n` bytes.
async fn read_n<R: AsyncRead + Unpin>(r: &mut R, n: usize) -> Vec<u8> {
    let mut buf = vec![0u8; n];
    timeout(WAIT, r.read_exact(&mut buf)).await.expect("bytes within 5 s").expect("read");
    buf
}

/// Whether the peer closes the stream within the wait (EOF or reset).
async fn closed_by_peer<R: AsyncRead + Unpin>(r: &mut R) -> bool {
    let mut buf = vec![0u8; 64 * 1024];
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        match tokio::time::timeout_at(deadline, r.read(&mut buf)).await {
            Err(_) => return false,
            Ok(Ok(0)) | Ok(Err(_)) => return true,
            Ok(Ok(_)) => {}
        }
    }
}

#[tokio::test]
async fn udp_datagram_arrives_with_source_and_local_and_replies_leave_from_the_listening_port() {
    let (t, mut rx) = SipTransport::bind(&sip_config(&["udp:127.0.0.1:0"], "")).await.unwrap();
    let local = t.local_addr(Transport::Udp).unwrap();
    assert_eq!(t.local_addr(Transport::Tcp), None);

    let client = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    client.send_to(&request(1), local).unwrap();
    let m = next_message(&mut rx).await;
    assert_eq!(m, Inbound { transport: Transport::Udp, source: client.local_addr().unwrap(), local, bytes: request(1) });

    client.set_nonblocking(true).unwrap();
    let client = tokio::net::UdpSocket::from_std(client).unwrap();
    t.send(Outbound { transport: Transport::Udp, dest: m.source, bytes: response(1) });
    let mut buf = vec![0u8; 2048];
    let (n, from) = timeout(WAIT, client.recv_from(&mut buf)).await.unwrap().unwrap();
    assert_eq!(&buf[..n], &response(1)[..]);
    assert_eq!(from, local, "the reply comes from the listening port");
    t.shutdown().await;
}

#[tokio::test]
async fn udp_keepalives_are_dropped_and_large_datagrams_arrive_whole() {
    let (t, mut rx) = SipTransport::bind(&sip_config(&["udp:127.0.0.1:0"], "")).await.unwrap();
    let local = t.local_addr(Transport::Udp).unwrap();
    let client = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    client.send_to(b"\r\n\r\n", local).await.unwrap();
    let mut big = request(2);
    big.extend(std::iter::repeat_n(b'x', 60_000));
    client.send_to(&big, local).await.unwrap();
    assert_eq!(next_message(&mut rx).await.bytes, big);
    assert_quiet(&mut rx).await;
    t.shutdown().await;
}

#[tokio::test]
async fn tcp_stream_is_framed_across_and_within_writes_with_keepalives_between() {
    let (t, mut rx) = SipTransport::bind(&sip_config(&["tcp:127.0.0.1:0"], "")).await.unwrap();
    let local = t.local_addr(Transport::Tcp).unwrap();
    let mut c = TcpStream::connect(local).await.unwrap();
    let (m1, m2, m3, m4) = (request(1), request(2), request(3), request(4));

    // m1, a ping and the start of m2 in one write; the rest of m2 later.
    let mut first = m1.clone();
    first.extend_from_slice(b"\r\n\r\n");
    first.extend_from_slice(&m2[..17]);
    c.write_all(&first).await.unwrap();
    assert_eq!(read_n(&mut c, 2).await, b"\r\n", "the ping is answered with a pong");
    c.write_all(&m2[17..]).await.unwrap();
    // m3 and m4 in one write, with a pong before them.
    let mut second = b"\r\n".to_vec();
    second.extend_from_slice(&m3);
    second.extend_from_slice(&m4);
    c.write_all(&second).await.unwrap();

    for m in [&m1, &m2, &m3, &m4] {
        let got = next_message(&mut rx).await;
        assert_eq!(&got.bytes, m);
        assert_eq!(got.transport, Transport::Tcp);
        assert_eq!(got.source, c.local_addr().unwrap());
        assert_eq!(got.local, local);
    }
    assert_quiet(&mut rx).await;
    t.shutdown().await;
}

#[tokio::test]
async fn tcp_reply_reuses_the_inbound_connection() {
    let (t, mut rx) = SipTransport::bind(&sip_config(&["tcp:127.0.0.1:0"], "")).await.unwrap();
    let mut c = TcpStream::connect(t.local_addr(Transport::Tcp).unwrap()).await.unwrap();
    c.write_all(&request(1)).await.unwrap();
    let m = next_message(&mut rx).await;
    t.send(Outbound { transport: Transport::Tcp, dest: m.source, bytes: response(1) });
    assert_eq!(read_n(&mut c, response(1).len()).await, response(1));
    assert_eq!(t.stats().open_connections, 1);
    t.shutdown().await;
}

#[tokio::test]
async fn tcp_outbound_connects_once_and_takes_replies_on_the_same_connection() {
    let (t, mut rx) = SipTransport::bind(&sip_config(&["udp:127.0.0.1:0", "tcp:127.0.0.1:0"], "")).await.unwrap();
    let peer = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let dest = peer.local_addr().unwrap();

    t.send(Outbound { transport: Transport::Tcp, dest, bytes: request(1) });
    t.send(Outbound { transport: Transport::Tcp, dest, bytes: request(2) });
    let (mut s, _) = timeout(WAIT, peer.accept()).await.unwrap().unwrap();
    assert_eq!(read_n(&mut s, request(1).len()).await, request(1));
    assert_eq!(read_n(&mut s, request(2).len()).await, request(2));

    s.write_all(&response(1)).await.unwrap();
    let m = next_message(&mut rx).await;
    assert_eq!((m.transport, m.source, m.bytes), (Transport::Tcp, dest, response(1)));

    t.send(Outbound { transport: Transport::Tcp, dest, bytes: request(3) });
    assert_eq!(read_n(&mut s, request(3).len()).await, request(3));
    assert!(timeout(Duration::from_millis(300), peer.accept()).await.is_err(), "no second connection");
    assert_eq!(t.stats().open_connections, 1);
    t.shutdown().await;
}

#[tokio::test]
async fn tcp_and_tls_outbound_connections_leave_from_the_listening_address() {
    // Peers that admit us by address (and check Via) must see the address
    // we listen on, not whatever the OS picks (127.0.0.1 on loopback).
    let pki = test_pki("Tandem test CA");
    let listen = ["udp:127.0.0.7:0", "tcp:127.0.0.8:0", "tls:127.0.0.9:0"];
    let (t, _rx) = SipTransport::bind(&sip_config(&listen, &tls_lines(&pki, Some(&pki.ca)))).await.unwrap();
    let peer = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let dest = peer.local_addr().unwrap();

    t.send(Outbound { transport: Transport::Tcp, dest, bytes: request(1) });
    let (_tcp, from) = timeout(WAIT, peer.accept()).await.unwrap().unwrap();
    assert_eq!(from.ip().to_string(), "127.0.0.8", "TCP leaves from the TCP listener's address");

    t.send(Outbound { transport: Transport::Tls, dest, bytes: request(2) });
    let (_tls, from) = timeout(WAIT, peer.accept()).await.unwrap().unwrap();
    assert_eq!(from.ip().to_string(), "127.0.0.9", "TLS leaves from the TLS listener's address");
    t.shutdown().await;
}

#[tokio::test]
async fn tcp_connect_failure_is_reported_as_send_failed() {
    let (t, mut rx) = SipTransport::bind(&sip_config(&["tcp:127.0.0.1:0"], "")).await.unwrap();
    let dest = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap()
    }; // closed again: nothing listens there
    t.send(Outbound { transport: Transport::Tcp, dest, bytes: request(1) });
    assert_eq!(next_event(&mut rx).await, TransportEvent::SendFailed { transport: Transport::Tcp, dest });
    assert_eq!(t.stats().send_failures, 1);
    assert_eq!(t.stats().open_connections, 0);
    t.shutdown().await;
}

#[tokio::test]
async fn tcp_garbage_closes_only_that_connection() {
    let (t, mut rx) = SipTransport::bind(&sip_config(&["tcp:127.0.0.1:0"], "")).await.unwrap();
    let local = t.local_addr(Transport::Tcp).unwrap();
    let mut good = TcpStream::connect(local).await.unwrap();
    let mut junk = TcpStream::connect(local).await.unwrap();
    let mut no_length = TcpStream::connect(local).await.unwrap();

    // 1 MiB without a header end; the write may fail once the shell hangs up.
    let _ = timeout(WAIT, junk.write_all(&vec![b'j'; 1 << 20])).await;
    assert!(closed_by_peer(&mut junk).await, "the junk connection is closed");
    no_length.write_all(b"OPTIONS sip:gw@127.0.0.1 SIP/2.0\r\nCall-ID: x\r\n\r\n").await.unwrap();
    assert!(closed_by_peer(&mut no_length).await, "a message without Content-Length closes its connection");

    good.write_all(&request(7)).await.unwrap();
    assert_eq!(next_message(&mut rx).await.bytes, request(7));
    assert_quiet(&mut rx).await;
    assert_eq!(t.stats().framing_errors, 2);
    t.shutdown().await;
}

#[tokio::test]
async fn connections_over_the_per_peer_limit_are_refused_and_the_rest_keep_working() {
    let opts = TransportOptions { max_connections_per_peer: 2, ..TransportOptions::default() };
    let (t, mut rx) = SipTransport::bind_with(&sip_config(&["tcp:127.0.0.1:0"], ""), opts).await.unwrap();
    let local = t.local_addr(Transport::Tcp).unwrap();
    let mut a = TcpStream::connect(local).await.unwrap();
    a.write_all(&request(1)).await.unwrap();
    next_message(&mut rx).await;
    let mut b = TcpStream::connect(local).await.unwrap();
    b.write_all(&request(2)).await.unwrap();
    next_message(&mut rx).await;

    let mut c = TcpStream::connect(local).await.unwrap();
    assert!(closed_by_peer(&mut c).await, "a third connection from the same IP is closed");
    assert_eq!(t.stats().refused_connections, 1);

    a.write_all(&request(3)).await.unwrap();
    assert_eq!(next_message(&mut rx).await.bytes, request(3));
    drop(a);
    // Once one closes, a new connection is accepted again.
    let deadline = tokio::time::Instant::now() + WAIT;
    while t.stats().open_connections > 1 {
        assert!(tokio::time::Instant::now() < deadline, "the closed connection is released");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let mut d = TcpStream::connect(local).await.unwrap();
    d.write_all(&request(4)).await.unwrap();
    assert_eq!(next_message(&mut rx).await.bytes, request(4));
    t.shutdown().await;
}

#[tokio::test]
async fn outbound_over_the_total_connection_limit_fails_without_connecting() {
    let opts = TransportOptions { max_connections: 1, ..TransportOptions::default() };
    let (t, mut rx) = SipTransport::bind_with(&sip_config(&["tcp:127.0.0.1:0"], ""), opts).await.unwrap();
    let mut c = TcpStream::connect(t.local_addr(Transport::Tcp).unwrap()).await.unwrap();
    c.write_all(&request(1)).await.unwrap();
    let m = next_message(&mut rx).await;
    let peer = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let dest = peer.local_addr().unwrap();

    t.send(Outbound { transport: Transport::Tcp, dest, bytes: request(2) });
    assert_eq!(next_event(&mut rx).await, TransportEvent::SendFailed { transport: Transport::Tcp, dest });
    assert!(timeout(Duration::from_millis(300), peer.accept()).await.is_err(), "no connection was opened");
    // The existing connection still carries messages.
    t.send(Outbound { transport: Transport::Tcp, dest: m.source, bytes: response(1) });
    assert_eq!(read_n(&mut c, response(1).len()).await, response(1));
    t.shutdown().await;
}

#[tokio::test]
async fn idle_connections_are_closed() {
    let opts = TransportOptions { idle_timeout: Duration::from_millis(200), ..TransportOptions::default() };
    let (t, mut rx) = SipTransport::bind_with(&sip_config(&["tcp:127.0.0.1:0"], ""), opts).await.unwrap();
    let mut c = TcpStream::connect(t.local_addr(Transport::Tcp).unwrap()).await.unwrap();
    c.write_all(&request(1)).await.unwrap();
    next_message(&mut rx).await;
    assert!(closed_by_peer(&mut c).await);
    assert_eq!(t.stats().open_connections, 0);
    t.shutdown().await;
}

#[tokio::test]
async fn shutdown_closes_connections_and_the_channel_and_frees_the_ports() {
    let (t, mut rx) = SipTransport::bind(&sip_config(&["udp:127.0.0.1:0", "tcp:127.0.0.1:0"], "")).await.unwrap();
    let udp = t.local_addr(Transport::Udp).unwrap();
    let tcp = t.local_addr(Transport::Tcp).unwrap();
    let mut c = TcpStream::connect(tcp).await.unwrap();
    c.write_all(&request(1)).await.unwrap();
    next_message(&mut rx).await;
    t.shutdown().await;
    assert!(closed_by_peer(&mut c).await);
    assert_eq!(timeout(WAIT, rx.recv()).await.unwrap(), None, "the channel closes");
    std::net::UdpSocket::bind(udp).expect("the UDP port is free again");
    std::net::TcpListener::bind(tcp).expect("the TCP port is free again");
}

#[tokio::test]
async fn a_bad_listen_entry_or_tls_without_a_certificate_is_an_error() {
    assert!(SipTransport::bind(&sip_config(&["sctp:127.0.0.1:0"], "")).await.is_err());
    assert!(SipTransport::bind(&sip_config(&["tls:127.0.0.1:0"], "")).await.is_err());
}

/// A test CA and a leaf certificate for localhost/127.0.0.1 signed by it, as PEM files.
struct TestPki {
    _dir: tempfile::TempDir,
    ca: PathBuf,
    cert: PathBuf,
    key: PathBuf,
}

fn test_pki(ca_name: &str) -> TestPki {
    let dir = tempfile::tempdir().unwrap();
    let ca_key = KeyPair::generate().unwrap();
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params.distinguished_name.push(DnType::CommonName, ca_name);
    let ca_cert = ca_params.self_signed(&ca_key).unwrap();
    let issuer = Issuer::new(ca_params, ca_key);
    let key = KeyPair::generate().unwrap();
    let mut params = CertificateParams::new(vec!["localhost".to_string(), "127.0.0.1".to_string()]).unwrap();
    params.distinguished_name.push(DnType::CommonName, "localhost");
    let cert = params.signed_by(&key, &issuer).unwrap();
    let write = |name: &str, text: String| {
        let p = dir.path().join(name);
        std::fs::write(&p, text).unwrap();
        p
    };
    TestPki { ca: write("ca.pem", ca_cert.pem()), cert: write("cert.pem", cert.pem()), key: write("key.pem", key.serialize_pem()), _dir: dir }
}

fn tls_lines(pki: &TestPki, ca: Option<&Path>) -> String {
    let mut s = format!("tls_cert = \"{}\"\ntls_key = \"{}\"\n", pki.cert.display(), pki.key.display());
    if let Some(ca) = ca {
        s += &format!("tls_ca = \"{}\"\n", ca.display());
    }
    s
}

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

fn test_client(ca: &Path) -> TlsConnector {
    let mut roots = RootCertStore::empty();
    for c in CertificateDer::pem_file_iter(ca).unwrap() {
        roots.add(c.unwrap()).unwrap();
    }
    let cfg =
        ClientConfig::builder_with_provider(provider()).with_safe_default_protocol_versions().unwrap().with_root_certificates(roots).with_no_client_auth();
    TlsConnector::from(Arc::new(cfg))
}

fn test_server(pki: &TestPki) -> TlsAcceptor {
    let certs: Vec<_> = CertificateDer::pem_file_iter(&pki.cert).unwrap().map(Result::unwrap).collect();
    let key = PrivateKeyDer::from_pem_file(&pki.key).unwrap();
    let cfg = ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .unwrap();
    TlsAcceptor::from(Arc::new(cfg))
}

async fn write_flush<W: AsyncWrite + Unpin>(w: &mut W, bytes: &[u8]) {
    w.write_all(bytes).await.unwrap();
    w.flush().await.unwrap();
}

#[tokio::test]
async fn tls_client_exchanges_messages_both_ways_with_the_listener() {
    let pki = test_pki("Tandem test CA");
    let (t, mut rx) = SipTransport::bind(&sip_config(&["tls:127.0.0.1:0"], &tls_lines(&pki, None))).await.unwrap();
    let local = t.local_addr(Transport::Tls).unwrap();
    let tcp = TcpStream::connect(local).await.unwrap();
    let mut c = timeout(WAIT, test_client(&pki.ca).connect(ServerName::try_from("localhost").unwrap(), tcp)).await.unwrap().unwrap();

    write_flush(&mut c, &request(1)).await;
    let m = next_message(&mut rx).await;
    assert_eq!((m.transport, m.local, &m.bytes), (Transport::Tls, local, &request(1)));
    t.send(Outbound { transport: Transport::Tls, dest: m.source, bytes: response(1) });
    assert_eq!(read_n(&mut c, response(1).len()).await, response(1));
    t.shutdown().await;
}

#[tokio::test]
async fn tls_outbound_verifies_the_server_with_tls_ca_and_takes_replies() {
    let pki = test_pki("Tandem test CA");
    let (t, mut rx) = SipTransport::bind(&sip_config(&[], &format!("tls_ca = \"{}\"\n", pki.ca.display()))).await.unwrap();
    let peer = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let dest = peer.local_addr().unwrap();
    let acceptor = test_server(&pki);

    t.send(Outbound { transport: Transport::Tls, dest, bytes: request(1) });
    let (tcp, _) = timeout(WAIT, peer.accept()).await.unwrap().unwrap();
    let mut s = timeout(WAIT, acceptor.accept(tcp)).await.unwrap().unwrap();
    assert_eq!(read_n(&mut s, request(1).len()).await, request(1));
    write_flush(&mut s, &response(1)).await;
    let m = next_message(&mut rx).await;
    assert_eq!((m.transport, m.source, m.bytes), (Transport::Tls, dest, response(1)));

    t.send(Outbound { transport: Transport::Tls, dest, bytes: request(2) });
    assert_eq!(read_n(&mut s, request(2).len()).await, request(2), "the open connection is reused");
    t.shutdown().await;
}

#[tokio::test]
async fn tls_outbound_checks_the_certificate_against_the_name_set_for_the_address() {
    let pki = test_pki("Tandem test CA");
    let (t, mut rx) = SipTransport::bind(&sip_config(&[], &format!("tls_ca = \"{}\"\n", pki.ca.display()))).await.unwrap();
    let peer = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let dest = peer.local_addr().unwrap();
    let acceptor = test_server(&pki);
    let server = tokio::spawn(async move {
        let mut out = Vec::new();
        for _ in 0..2 {
            let (tcp, _) = peer.accept().await.unwrap();
            if let Ok(mut s) = acceptor.accept(tcp).await {
                out.push(read_n(&mut s, request(2).len()).await);
            }
        }
        out
    });

    assert!(t.set_tls_name(dest, "not a name").is_err());
    t.set_tls_name(dest, "pbx.example.com").unwrap();
    t.send(Outbound { transport: Transport::Tls, dest, bytes: request(1) });
    assert_eq!(next_event(&mut rx).await, TransportEvent::SendFailed { transport: Transport::Tls, dest }, "the certificate is not for that name");
    t.set_tls_name(dest, "localhost").unwrap();
    t.send(Outbound { transport: Transport::Tls, dest, bytes: request(2) });
    assert_eq!(timeout(WAIT, server).await.unwrap().unwrap(), vec![request(2)]);
    t.shutdown().await;
}

#[tokio::test]
async fn tls_outbound_to_a_server_from_another_ca_fails() {
    let ours = test_pki("Tandem test CA");
    let theirs = test_pki("Some other CA");
    let (t, mut rx) = SipTransport::bind(&sip_config(&[], &format!("tls_ca = \"{}\"\n", ours.ca.display()))).await.unwrap();
    let peer = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let dest = peer.local_addr().unwrap();
    let acceptor = test_server(&theirs);
    let server = tokio::spawn(async move {
        let (tcp, _) = peer.accept().await.unwrap();
        let _ = acceptor.accept(tcp).await; // the client gives up
    });

    t.send(Outbound { transport: Transport::Tls, dest, bytes: request(1) });
    assert_eq!(next_event(&mut rx).await, TransportEvent::SendFailed { transport: Transport::Tls, dest });
    timeout(WAIT, server).await.unwrap().unwrap();
    t.shutdown().await;
}

#[tokio::test]
async fn tls_listener_closes_a_client_that_is_not_tls() {
    let pki = test_pki("Tandem test CA");
    let (t, mut rx) = SipTransport::bind(&sip_config(&["tls:127.0.0.1:0", "tcp:127.0.0.1:0"], &tls_lines(&pki, Some(&pki.ca)))).await.unwrap();
    let mut plain = TcpStream::connect(t.local_addr(Transport::Tls).unwrap()).await.unwrap();
    plain.write_all(&request(1)).await.unwrap();
    assert!(closed_by_peer(&mut plain).await);
    assert_quiet(&mut rx).await;
    t.shutdown().await;
}
