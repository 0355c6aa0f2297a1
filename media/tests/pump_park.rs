//! Hold on the pump: a stream parked (detached from its channel) keeps its
//! sockets and RTCP, counts what it receives, sends no RTP, and attached
//! again to another channel it goes on with the same SSRC, the next
//! sequence number, a timestamp advanced by the time parked and the marker.

mod rig;

use std::net::UdpSocket;
use std::time::{Duration, Instant};

use rig::{Peer, Rig, spec};
use tandem_media::codec::{Codec, Law};
use tandem_media::pump::{DtmfMode, PumpError};
use tandem_media::wire::rtcp::{CompoundRepr, RtcpRepr};

/// A peer RTP socket on an even port with its RTCP socket on port + 1.
fn peer_pair() -> (UdpSocket, UdpSocket) {
    for _ in 0..100 {
        let rtp = UdpSocket::bind("127.0.0.1:0").unwrap();
        let port = rtp.local_addr().unwrap().port();
        if port % 2 != 0 || port == u16::MAX {
            continue;
        }
        if let Ok(rtcp) = UdpSocket::bind(("127.0.0.1", port + 1)) {
            return (rtp, rtcp);
        }
    }
    panic!("no even/odd port pair on loopback");
}

#[test]
fn a_parked_stream_sends_rtcp_but_no_rtp_and_resumes_on_another_channel_with_its_ssrc_sequence_and_timestamps() {
    let rig = Rig::t1(1, DtmfMode::Inband);
    let (rtp, rtcp) = peer_pair();
    rtp.set_read_timeout(Some(Duration::from_millis(50))).unwrap();
    rtcp.set_read_timeout(Some(Duration::from_millis(50))).unwrap();
    let peer = Peer { sock: rtp };
    let port = rig.pump.allocate().unwrap();
    let id = port.id;
    rig.pump.start(id, spec(1, Law::Mulaw, Codec::Pcmu, peer.addr())).unwrap();
    let before = peer.collect(Duration::from_secs(10), 10);
    assert_eq!(before.len(), 10, "RTP flows before the hold");

    assert!(matches!(rig.pump.unpark(id, spec(2, Law::Mulaw, Codec::Pcmu, peer.addr())), Err(PumpError::NotParked(_))));
    rig.pump.park(id).unwrap();
    let parked_at = Instant::now();
    assert!(matches!(rig.pump.park(id), Err(PumpError::AlreadyParked(_))));
    assert_eq!(rig.pump.is_parked(id), Some(true));
    // What was sent before the pump parked the stream is read; the last one is where the sequence stood.
    let tail = peer.collect(Duration::from_millis(300), 100);
    let last = tail.last().or(before.last()).unwrap().clone();

    // While parked: RTP from the peer is counted, and RTCP keeps coming.
    let received = rig.pump.stats(id).unwrap().packets_received;
    let mut buf = [0u8; 1500];
    let mut report = None;
    let mut k = 0u16;
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline && report.is_none() {
        peer.send_rtp(port.local, 0, k, u32::from(k) * 160, 0x5EED, false, &[0xFF; 160]);
        k += 1;
        if let Ok((n, _)) = rtcp.recv_from(&mut buf)
            && parked_at.elapsed() > Duration::from_millis(200)
        {
            report = Some(buf[..n].to_vec());
        }
    }
    let report = report.expect("an RTCP report while parked");
    let report = CompoundRepr::parse(&report).expect("a valid RTCP compound");
    let sender = match &report.packets[0] {
        RtcpRepr::SenderReport(sr) => sr.ssrc,
        RtcpRepr::ReceiverReport(rr) => rr.ssrc,
        p => panic!("a report first: {p:?}"),
    };
    assert_eq!(sender, before[0].ssrc, "the report is the stream's");
    assert!(
        rig::wait_for(Duration::from_secs(10), || rig.pump.stats(id).is_some_and(|s| s.packets_received > received)),
        "RTP received while parked is counted"
    );
    let sent_while_parked = peer.collect(Duration::from_millis(100), 100);
    assert!(sent_while_parked.is_empty(), "no RTP while parked: {sent_while_parked:?}");

    // Attached again, to channel 2.
    let unparked_at = Instant::now();
    rig.pump.unpark(id, spec(2, Law::Mulaw, Codec::Pcmu, peer.addr())).unwrap();
    assert_eq!(rig.pump.is_parked(id), Some(false));
    let after = peer.collect(Duration::from_secs(10), 5);
    assert!(!after.is_empty(), "RTP flows after the resume");
    let first = &after[0];
    assert_eq!(first.ssrc, last.ssrc, "same SSRC");
    assert_eq!(first.seq, last.seq.wrapping_add(1), "the sequence continues: nothing was sent while parked");
    assert!(first.marker, "the first packet after the resume has the marker");
    // The timestamp counts the time parked at 8 kHz (loosely: the pump
    // parked and attached the stream a little after these calls).
    let jump = Duration::from_micros(u64::from(first.ts.wrapping_sub(last.ts)) * 125);
    let parked_for = unparked_at - parked_at;
    assert!(jump + Duration::from_millis(300) >= parked_for && jump <= first.at - last.at + Duration::from_millis(300), "jump {jump:?} for {parked_for:?}");
    let figures = rig.pump.stop(id).unwrap();
    assert!(figures.rtcp_sent >= 1, "{figures:?}");
}

#[test]
fn a_flood_at_a_parked_stream_is_read_in_bursts_and_counted() {
    let rig = Rig::t1(1, DtmfMode::Inband);
    let (rtp, _rtcp) = peer_pair();
    let peer = Peer { sock: rtp };
    let port = rig.pump.allocate().unwrap();
    let id = port.id;
    rig.pump.start(id, spec(1, Law::Mulaw, Codec::Pcmu, peer.addr())).unwrap();
    rig.pump.park(id).unwrap();
    assert!(rig::wait_for(Duration::from_secs(10), || rig.pump.is_parked(id) == Some(true)));
    std::thread::sleep(Duration::from_millis(200));
    // A stranger sends 300 packets back to back.
    let stranger = Peer { sock: UdpSocket::bind("127.0.0.1:0").unwrap() };
    let waits = |pump: &tandem_media::pump::PumpHandle| pump.io_stats().calls[tandem_media::pump::Syscall::EpollWait as usize];
    let (foreign0, waits0) = (rig.pump.stats(id).unwrap().foreign, waits(&rig.pump));
    const FLOOD: u16 = 300;
    for k in 0..FLOOD {
        stranger.send_rtp(port.local, 0, k, u32::from(k) * 160, 0xBAD, false, &[0xFF; 160]);
    }
    assert!(
        rig::wait_for(Duration::from_secs(10), || rig.pump.stats(id).is_some_and(|s| s.foreign > foreign0)),
        "the flood at the parked stream is counted as foreign"
    );
    // Let the pump drain what the socket kept, then compare.
    std::thread::sleep(Duration::from_millis(300));
    let counted = rig.pump.stats(id).unwrap().foreign - foreign0;
    let woke = waits(&rig.pump) - waits0;
    assert!(counted >= 50, "only {counted} of {FLOOD} flood packets counted");
    assert!(woke * 4 < counted, "{woke} wake-ups for {counted} packets: a parked stream should read a flood in bursts");
    // Still parked, and attached again it works.
    assert_eq!(rig.pump.is_parked(id), Some(true));
    rig.pump.unpark(id, spec(1, Law::Mulaw, Codec::Pcmu, peer.addr())).unwrap();
    assert!(peer.collect(Duration::from_secs(10), 5).len() == 5, "RTP flows again after the flood");
}
