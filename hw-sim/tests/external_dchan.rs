//! An external D-channel: a span with far_end = "external" exposes its
//! HDLC channel as a SOCK_SEQPACKET socket at `<control>.span<N>`; one
//! packet is one frame without FCS.

mod common;

use std::os::fd::{AsRawFd, OwnedFd};
use std::time::{Duration, Instant};

use common::*;
use nix::sys::socket::{self, AddressFamily, MsgFlags, SockFlag, SockType, UnixAddr, sockopt};

const CONFIG: &str = r#"
[[card]]
model = "te120p"
[[card.span]]
type = "t1"
far_end = "external"
"#;

fn connect_seqpacket(path: &std::path::Path) -> OwnedFd {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let fd = socket::socket(AddressFamily::Unix, SockType::SeqPacket, SockFlag::SOCK_CLOEXEC, None).expect("socket");
        let addr = UnixAddr::new(path).expect("address");
        match socket::connect(fd.as_raw_fd(), &addr) {
            Ok(()) => {
                let tv = nix::sys::time::TimeVal::new(2, 0);
                socket::setsockopt(&fd, sockopt::ReceiveTimeout, &tv).expect("SO_RCVTIMEO");
                return fd;
            }
            Err(e) if Instant::now() < deadline => {
                let _ = e;
                std::thread::sleep(Duration::from_millis(20));
            }
            Err(e) => panic!("connect {}: {e}", path.display()),
        }
    }
}

fn recv_packet(fd: &OwnedFd) -> Vec<u8> {
    let mut buf = vec![0u8; 8192];
    let n = socket::recv(fd.as_raw_fd(), &mut buf, MsgFlags::empty()).expect("recv from the D-channel socket (2 s timeout)");
    buf.truncate(n);
    buf
}

fn poll_in(f: &std::fs::File, timeout_ms: i32) -> bool {
    let mut p = libc::pollfd { fd: f.as_raw_fd(), events: libc::POLLIN, revents: 0 };
    // SAFETY: one valid pollfd.
    unsafe { libc::poll(&mut p, 1, timeout_ms) == 1 }
}

fn with_fcs(p: &[u8]) -> Vec<u8> {
    let fcs = crc16_x25(p);
    let mut v = p.to_vec();
    v.extend_from_slice(&[(fcs & 0xff) as u8, (fcs >> 8) as u8]);
    v
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

#[test]
fn frames_cross_the_external_socket_in_both_directions() {
    let sim = Sim::start(CONFIG);
    let ctl = sim.ctl();
    setup_t1(&ctl, 1, &[(24, d::DAHDI_SIG_HARDHDLC, 0)]);
    let dch = sim.open_chan_nonblock(1, 24);
    let bi = d::dahdi_bufferinfo { numbufs: 16, bufsize: 512, ..Default::default() };
    set_bufinfo(&dch, &bi).unwrap();
    let sock_path = std::path::PathBuf::from(format!("{}.span1", sim.control.display()));
    let client = connect_seqpacket(&sock_path);

    // Far end -> host: each packet is one read, with a correct FCS.
    let from_far: Vec<Vec<u8>> = vec![
        vec![0x02, 0x01, 0x7f],       // SABME
        vec![0x00, 0x01, 0x01, 0x03], // RR
        (0..=255u8).collect(),        // every byte value, flags included
        vec![0x08, 0x01, 0x00, 0x05, 0x04, 0x03, 0x80, 0x90, 0xa2],
    ];
    for f in &from_far {
        socket::send(client.as_raw_fd(), f, MsgFlags::empty()).expect("send");
    }
    for (k, f) in from_far.iter().enumerate() {
        assert!(poll_in(&dch, 1000), "frame {k} from the far end did not arrive");
        let got = read_raw(&dch, 1024).unwrap_or_else(|e| panic!("read: {}", Errno::from_raw(e)));
        assert_eq!(got, with_fcs(f), "frame {k}");
    }
    assert_eq!(read_raw(&dch, 1024), Err(libc::EAGAIN));

    // Host -> far end: the two trailing placeholder bytes are not sent.
    let from_host: Vec<Vec<u8>> = vec![vec![0x00, 0x01, 0x73], vec![0x02, 0x01, 0x00, 0x00, 0x08, 0x02], vec![0x7e; 40]];
    for f in &from_host {
        let mut w = f.clone();
        w.extend_from_slice(&[0x55, 0xaa]);
        assert_eq!(write_raw(&dch, &w), Ok(w.len()));
    }
    for (k, f) in from_host.iter().enumerate() {
        assert_eq!(&recv_packet(&client), f, "frame {k} at the far end");
    }

    // The frame trace saw both directions.
    let mut c = sim.client();
    let tr = call(&mut c, "frames.get", json!({"span": 1}));
    let frames = tr["frames"].as_array().unwrap();
    let seen = |dir: &str, h: &str| frames.iter().any(|f| f["dir"] == json!(dir) && f["hex"] == json!(h));
    for f in &from_far {
        assert!(seen("rx", &hex(f)), "trace lacks rx {}", hex(f));
    }
    for f in &from_host {
        assert!(seen("tx", &hex(f)), "trace lacks tx {}", hex(f));
    }

    // dchan.send injects a frame; with bad_fcs the host gets BADFCS instead.
    call(&mut c, "dchan.send", json!({"span": 1, "hex": "00010101"}));
    assert!(poll_in(&dch, 1000));
    assert_eq!(read_raw(&dch, 1024), Ok(with_fcs(&[0x00, 0x01, 0x01, 0x01])));
    call(&mut c, "dchan.send", json!({"span": 1, "hex": "0001", "bad_fcs": true}));
    expect_event(&dch, d::DAHDI_EVENT_BADFCS, Duration::from_millis(500));
    assert_eq!(read_raw(&dch, 1024), Err(libc::EAGAIN), "a bad frame is not delivered");

    // A new client replaces the old one.
    let client2 = connect_seqpacket(&sock_path);
    socket::send(client2.as_raw_fd(), &[0x02, 0x01, 0x7f], MsgFlags::empty()).unwrap();
    assert!(poll_in(&dch, 1000));
    assert_eq!(read_raw(&dch, 1024), Ok(with_fcs(&[0x02, 0x01, 0x7f])));
    write_raw(&dch, &[0x02, 0x01, 0x73, 0, 0]).unwrap();
    assert_eq!(recv_packet(&client2), vec![0x02, 0x01, 0x73]);
}
