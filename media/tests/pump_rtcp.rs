//! RTCP between the pump and a peer on the simulator: the pump's sender
//! report describes our stream, and the peer's receiver report gives the
//! pump a round-trip time and the remote's loss figures.

mod rig;

use std::net::{SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

use rig::{Rig, spec};
use tandem_media::codec::{Codec, Law};
use tandem_media::pump::DtmfMode;
use tandem_media::wire::rtcp::{CompoundRepr, ReportBlockRepr, RtcpRepr};
use tandem_media::wire::rtp::RtpRepr;

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
fn sender_report_goes_out_and_receiver_report_yields_rtt_and_remote_loss() {
    let rig = Rig::t1(1, DtmfMode::Inband);
    let (rtp, rtcp) = peer_pair();
    let port = rig.pump.allocate().unwrap();
    rig.pump.start(port.id, spec(1, Law::Mulaw, Codec::Pcmu, rtp.local_addr().unwrap())).unwrap();
    let pump_rtcp = SocketAddr::new(port.local.ip(), port.local.port() + 1);
    rtcp.set_read_timeout(Some(Duration::from_millis(20))).unwrap();

    // Send RTP (so the pump has a source to report on) until its SR comes:
    // RFC 3550 §6.2 timing puts the first report within 3.75 s.
    let start = Instant::now();
    let mut buf = [0u8; 1500];
    let mut sr = None;
    let mut k = 0u16;
    while start.elapsed() < Duration::from_secs(8) && sr.is_none() {
        let payload = [0xFFu8; 160];
        let pkt = RtpRepr::new(0, k, u32::from(k) * 160, 0x5EED, 160).to_vec(&payload).unwrap();
        rtp.send_to(&pkt, port.local).unwrap();
        k += 1;
        if let Ok((n, from)) = rtcp.recv_from(&mut buf) {
            assert_eq!(from, pump_rtcp, "RTCP comes from the RTP port + 1");
            sr = Some((buf[..n].to_vec(), Instant::now()));
        }
    }
    let (sr, got_at) = sr.expect("a sender report within 8 s");
    let compound = CompoundRepr::parse(&sr).unwrap();
    let RtcpRepr::SenderReport(report) = &compound.packets[0] else { panic!("SR first: {compound:?}") };
    assert!(report.sender_info.packet_count > 0);
    assert_eq!(report.sender_info.octet_count, report.sender_info.packet_count * 160);
    let block = report.reports.iter().find(|b| b.ssrc == 0x5EED).expect("a report block about our stream");
    assert!(block.extended_highest_seq >= u32::from(k) - 5, "{block:?}");
    assert_eq!(block.cumulative_lost, 0);
    assert!(compound.cname(report.ssrc).is_some(), "an SDES CNAME");

    // Answer 30 ms later with an RR: LSR = the SR's NTP middle bits,
    // DLSR = the 30 ms we held it, 5 % loss of the pump's stream.
    std::thread::sleep(Duration::from_millis(30));
    let dlsr = (got_at.elapsed().as_micros() as u64 * 65536 / 1_000_000) as u32;
    let rb = ReportBlockRepr {
        ssrc: report.ssrc,
        fraction_lost: 13,
        cumulative_lost: 4,
        extended_highest_seq: 1000,
        jitter: 80,
        last_sr: (report.sender_info.ntp_timestamp >> 16) as u32,
        delay_since_last_sr: dlsr,
    };
    let rr = CompoundRepr::report(0x5EED, None, vec![rb], b"peer@test").to_vec().unwrap();
    rtcp.send_to(&rr, pump_rtcp).unwrap();
    let ok = rig::wait_for(Duration::from_secs(2), || rig.pump.stats(port.id).is_some_and(|s| s.rtt_ms.is_some()));
    let st = rig.pump.stats(port.id).unwrap();
    assert!(ok, "no RTT after the RR: {st:?}");
    let rtt = st.rtt_ms.unwrap();
    assert!((0.0..20.0).contains(&rtt), "loopback RTT {rtt} ms");
    assert_eq!((st.remote_fraction_lost, st.remote_cumulative_lost), (13, 4));
    assert!((st.remote_jitter_ms - 10.0).abs() < 0.01, "{st:?}");
    assert!(st.rtcp_sent >= 1 && st.rtcp_received == 1, "{st:?}");
}
