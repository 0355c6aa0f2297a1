//! The pump under a hostile network and call control's re-INVITEs, on the
//! simulator: loss with reordering, hold/resume, foreign and garbage
//! packets, and RFC 4733 events in both directions.

mod rig;

use std::net::{SocketAddr, UdpSocket};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use rig::{Peer, Rig, sleep_until, spec, tone};
use tandem_media::codec::{Codec, Direction, Law};
use tandem_media::pump::DtmfMode;
use tandem_media::wire::rfc4733::{TelephoneEventCode, TelephoneEventRepr};

/// Sends a PCMU tone to `to` every 20 ms from a thread until `stop`
/// (bounded to `max` packets). `skip(k)` drops packet k; `swap(k)` sends
/// packet k after packet k + 1.
fn spawn_sender(
    peer: Arc<Peer>,
    to: SocketAddr,
    freq: f32,
    max: u32,
    stop: Arc<AtomicBool>,
    skip: fn(u32) -> bool,
    swap: fn(u32) -> bool,
) -> std::thread::JoinHandle<u32> {
    std::thread::spawn(move || {
        let start = Instant::now();
        let mut held: Option<u32> = None;
        let mut sent = 0;
        let send = |k: u32| {
            let payload = tone(Codec::Pcmu, freq, 8000.0, 160, k as usize * 160);
            peer.send_rtp(to, 0, k as u16, 5000 + k * 160, 0x5EED, k == 0, &payload);
        };
        for k in 0..max {
            if stop.load(Ordering::Relaxed) {
                break;
            }
            if !skip(k) {
                if swap(k) && held.is_none() {
                    held = Some(k);
                } else {
                    send(k);
                    if let Some(h) = held.take() {
                        send(h);
                    }
                }
                sent += 1;
            }
            sleep_until(start + Duration::from_millis(20 * u64::from(k + 1)));
        }
        sent
    })
}

fn never(_: u32) -> bool {
    false
}

/// Longest run of samples quieter than `threshold`.
fn longest_quiet_run(samples: &[i16], threshold: i16) -> usize {
    let (mut best, mut run) = (0, 0);
    for &s in samples {
        if s.unsigned_abs() < threshold.unsigned_abs() {
            run += 1;
            best = best.max(run);
        } else {
            run = 0;
        }
    }
    best
}

#[test]
fn five_percent_loss_with_reordering_is_concealed_without_gaps() {
    let mut rig = Rig::t1(1, DtmfMode::Inband);
    let peer = Arc::new(Peer::new());
    let port = rig.pump.allocate().unwrap();
    rig.pump.start(port.id, spec(1, Law::Mulaw, Codec::Pcmu, peer.addr())).unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    // Every 20th packet lost (5 %); every 13th overtaken by its successor.
    let sender = spawn_sender(peer.clone(), port.local, 1000.0, 200, stop.clone(), |k| k % 20 == 7, |k| k % 13 == 5);
    std::thread::sleep(Duration::from_millis(3000));
    // 2 s of what the channel heard, recorded while the stream runs.
    let heard = rig.recorded(1, 2000);
    stop.store(true, Ordering::Relaxed);
    sender.join().unwrap();
    assert!(heard.len() >= 15_000, "{} samples recorded", heard.len());
    let st = rig.pump.stats(port.id).unwrap();
    let run = longest_quiet_run(&heard, 500);
    // A lost packet left unconcealed would be 160 quiet samples; a tone at
    // 8000 peak is never quiet for more than one. Up to half a frame is
    // allowed for a TDM write delayed by a loaded machine (the transmit
    // margin is 4 ms), which the underrun count below bounds too.
    assert!(run < 80, "the channel went quiet for {run} samples: {st:?}");
    assert!(st.lost >= 7 && st.lost <= 8, "{st:?}");
    assert!(st.reordered >= 10, "{st:?}");
    // One concealed frame per lost packet, plus one per jitter-buffer
    // underrun (a scheduling hiccup on a loaded machine; rare).
    assert!(st.underruns <= 2, "{st:?}");
    assert_eq!(st.plc_frames as i64, st.lost + st.underruns as i64, "{st:?}");
    assert_eq!(st.late, 0, "{st:?}");
}

#[test]
fn hold_and_resume_stop_and_restart_media_with_continuous_sequence_and_timestamps() {
    let mut rig = Rig::t1(1, DtmfMode::Inband);
    rig.play_tone(1, 1000.0, -10.0);
    let peer = Arc::new(Peer::new());
    let port = rig.pump.allocate().unwrap();
    let mut s = spec(1, Law::Mulaw, Codec::Pcmu, peer.addr());
    rig.pump.start(port.id, s).unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let sender = spawn_sender(peer.clone(), port.local, 440.0, 250, stop.clone(), never, never);

    let mut before = peer.collect(Duration::from_millis(600), 1000);
    assert!(before.len() >= 25, "{} packets before hold", before.len());
    let a = rig.analyze(1, 300);
    assert!(a.frequency_hz.is_some_and(|f| (f - 440.0).abs() < 5.0), "RTP heard before hold: {a:?}");

    // Hold: the remote sent a=inactive.
    s.direction = Direction::Inactive;
    rig.pump.update(port.id, s).unwrap();
    // The last packet stamped as it arrived (the ones collected below sat
    // in the socket during the sleep: their arrival times are the
    // collection's, so they cannot be compared with wall time).
    let timed = before.last().cloned().unwrap();
    // What was sent before the update took effect.
    std::thread::sleep(Duration::from_millis(100));
    before.extend(peer.collect(Duration::from_millis(60), 1000));
    let during = peer.collect(Duration::from_millis(800), 1000);
    assert!(during.is_empty(), "{} packets sent while inactive", during.len());
    let a = rig.analyze(1, 300);
    assert!(a.level_dbm0 < -60.0, "nothing played while inactive: {a:?}");

    // Resume.
    s.direction = Direction::SendRecv;
    rig.pump.update(port.id, s).unwrap();
    let after = peer.collect(Duration::from_millis(800), 1000);
    stop.store(true, Ordering::Relaxed);
    sender.join().unwrap();
    assert!(after.len() >= 30, "{} packets after resume", after.len());
    let last = before.last().unwrap();
    let first = &after[0];
    assert_eq!(first.ssrc, last.ssrc);
    assert_eq!(first.seq, last.seq.wrapping_add(1), "sequence numbers continue across hold");
    assert!(first.marker, "the resumed talkspurt is marked");
    let ts_gap = first.ts.wrapping_sub(timed.ts);
    let wall = (first.at - timed.at).as_secs_f64() * 8000.0;
    assert_eq!(ts_gap % 160, 0);
    // The hold lasts about 1 s (8,000 samples): frozen timestamps would
    // show a gap of one packet. The margin (200 ms) absorbs scheduling
    // delays of the collecting thread on a loaded machine.
    assert!((f64::from(ts_gap) - wall).abs() < 1600.0, "timestamps ran on through the hold: {ts_gap} vs {wall:.0} samples of wall time");
    assert!(after.windows(2).all(|w| w[1].seq == w[0].seq.wrapping_add(1) && w[1].ts == w[0].ts.wrapping_add(160)));
    let a = rig.analyze(1, 300);
    assert!(a.frequency_hz.is_some_and(|f| (f - 440.0).abs() < 5.0), "RTP heard after resume: {a:?}");
}

#[test]
fn recvonly_hold_sends_nothing_but_still_plays() {
    let mut rig = Rig::t1(1, DtmfMode::Inband);
    rig.play_tone(1, 1000.0, -10.0);
    let peer = Arc::new(Peer::new());
    let port = rig.pump.allocate().unwrap();
    let mut s = spec(1, Law::Mulaw, Codec::Pcmu, peer.addr());
    s.direction = Direction::RecvOnly;
    rig.pump.start(port.id, s).unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let sender = spawn_sender(peer.clone(), port.local, 440.0, 100, stop.clone(), never, never);
    let got = peer.collect(Duration::from_millis(1200), 1000);
    stop.store(true, Ordering::Relaxed);
    sender.join().unwrap();
    assert!(got.is_empty(), "{} packets sent while recvonly", got.len());
    let a = rig.analyze(1, 300);
    assert!(a.frequency_hz.is_some_and(|f| (f - 440.0).abs() < 5.0), "{a:?}");
}

#[test]
fn garbage_and_foreign_packets_are_dropped_and_counted_without_touching_another_stream() {
    let mut rig = Rig::t1(1, DtmfMode::Inband);
    let (p1, p2) = (Arc::new(Peer::new()), Arc::new(Peer::new()));
    let (s1, s2) = (rig.pump.allocate().unwrap(), rig.pump.allocate().unwrap());
    rig.pump.start(s1.id, spec(1, Law::Mulaw, Codec::Pcmu, p1.addr())).unwrap();
    rig.pump.start(s2.id, spec(2, Law::Mulaw, Codec::Pcmu, p2.addr())).unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let t1 = spawn_sender(p1.clone(), s1.local, 440.0, 100, stop.clone(), never, never);
    let t2 = spawn_sender(p2.clone(), s2.local, 440.0, 100, stop.clone(), never, never);
    let attacker = UdpSocket::bind("127.0.0.1:0").unwrap();
    let payload = tone(Codec::Pcmu, 3000.0, 16000.0, 160, 0);
    let foreign_rtp = tandem_media::wire::rtp::RtpRepr::new(0, 9, 5000, 0xBAD, 160).to_vec(&payload).unwrap();
    let unknown_pt = tandem_media::wire::rtp::RtpRepr::new(96, 9, 5000, 0x5EED, 160).to_vec(&payload).unwrap();
    let rtcp_port: SocketAddr = SocketAddr::new(s1.local.ip(), s1.local.port() + 1);
    let start = Instant::now();
    for k in 0..40u32 {
        attacker.send_to(&foreign_rtp, s1.local).unwrap(); // valid RTP, wrong address
        attacker.send_to(&[0xFF; 40], s1.local).unwrap(); // not RTP (version 3)
        attacker.send_to(&[0x80, 0x00], s1.local).unwrap(); // truncated
        p1.sock.send_to(&unknown_pt, s1.local).unwrap(); // right address, unknown payload type
        attacker.send_to(&[0x81, 200, 0, 1], rtcp_port).unwrap(); // junk RTCP from elsewhere
        sleep_until(start + Duration::from_millis(25 * u64::from(k + 1)));
    }
    stop.store(true, Ordering::Relaxed);
    t1.join().unwrap();
    t2.join().unwrap();
    let a1 = rig.analyze(1, 300);
    let a2 = rig.analyze(2, 300);
    let st1 = rig.pump.stats(s1.id).unwrap();
    let st2 = rig.pump.stats(s2.id).unwrap();
    assert_eq!(st1.foreign, 40, "40 valid RTP packets from a foreign address: {st1:?}");
    // RTCP is only checked against the remote's IP (the attacker shares
    // loopback), so its junk RTCP counts as bad rather than foreign.
    assert_eq!(st1.bad, 160, "40 non-RTP, 40 truncated, 40 unknown payload type, 40 junk RTCP: {st1:?}");
    assert_eq!(st1.ssrc_changes, 0, "{st1:?}");
    assert_eq!((st2.foreign, st2.bad), (0, 0), "{st2:?}");
    assert_eq!(st1.lost, 0, "{st1:?}");
    for (a, st) in [(&a1, &st1), (&a2, &st2)] {
        assert!(a.frequency_hz.is_some_and(|f| (f - 440.0).abs() < 5.0), "only the remote's 440 Hz is heard: {a:?} {st:?}");
    }
}

/// The RFC 4733 packets of one digit: start (marker), updates every 20 ms,
/// three end packets (RFC 4733 §2.5.1).
fn send_digit(peer: &Peer, to: SocketAddr, digit: char, seq: &mut u16, ts: u32, ms: u32, next: &mut Instant) {
    let code = TelephoneEventCode::from_dtmf_char(digit).unwrap();
    let steps = ms / 20;
    let mut send = |end: bool, duration: u16, marker: bool| {
        let payload = TelephoneEventRepr { event: code, end, volume: 10, duration }.to_bytes().unwrap();
        peer.send_rtp(to, 101, *seq, ts, 0x5EED, marker, &payload);
        *seq = seq.wrapping_add(1);
    };
    for k in 1..=steps {
        send(false, (k * 160) as u16, k == 1);
        *next += Duration::from_millis(20);
        sleep_until(*next);
    }
    for _ in 0..3 {
        send(true, (steps * 160) as u16, false);
    }
}

#[test]
fn rfc4733_events_are_heard_as_dtmf_on_the_channel() {
    let mut rig = Rig::t1(1, DtmfMode::Inband);
    let peer = Peer::new();
    let port = rig.pump.allocate().unwrap();
    rig.pump.start(port.id, spec(1, Law::Mulaw, Codec::Pcmu, peer.addr())).unwrap();
    rig.client.audio_clear(1).unwrap();
    let mut seq = 100u16;
    let mut ts = 8000u32;
    let mut next = Instant::now();
    let silence = [0xFFu8; 160];
    for digit in ['1', '5', '#', 'D'] {
        // 100 ms of silence, then the digit for 100 ms.
        for _ in 0..5 {
            peer.send_rtp(port.local, 0, seq, ts, 0x5EED, false, &silence);
            seq = seq.wrapping_add(1);
            ts = ts.wrapping_add(160);
            next += Duration::from_millis(20);
            sleep_until(next);
        }
        send_digit(&peer, port.local, digit, &mut seq, ts, 100, &mut next);
        ts = ts.wrapping_add(800);
    }
    for _ in 0..10 {
        peer.send_rtp(port.local, 0, seq, ts, 0x5EED, false, &silence);
        seq = seq.wrapping_add(1);
        ts = ts.wrapping_add(160);
        next += Duration::from_millis(20);
        sleep_until(next);
    }
    let a = rig.analyze(1, 3000);
    assert_eq!(a.dtmf, "15#D", "{a:?}");
    assert_eq!(rig.pump.stats(port.id).unwrap().dtmf_received, 4);
}

#[test]
fn inband_dtmf_on_the_channel_is_sent_as_rfc4733_events() {
    let mut rig = Rig::t1(1, DtmfMode::Rfc4733);
    // '5' = 770 + 1336 Hz, 120 ms on, then a long pause.
    rig.client.audio_play_cadenced(1, &[770.0, 1336.0], -8.0, &[(120, 5000)]).unwrap();
    let peer = Peer::new();
    let port = rig.pump.allocate().unwrap();
    rig.pump.start(port.id, spec(1, Law::Mulaw, Codec::Pcmu, peer.addr())).unwrap();
    // The cadence started before the stream: restart it now.
    rig.client.audio_play_cadenced(1, &[770.0, 1336.0], -8.0, &[(120, 5000)]).unwrap();
    let pkts = peer.collect(Duration::from_millis(1000), 200);
    let events: Vec<_> = pkts.iter().filter(|p| p.pt == 101).map(|p| (p, TelephoneEventRepr::parse_bytes(&p.payload).unwrap())).collect();
    assert!(events.len() >= 4, "{} event packets", events.len());
    assert!(events[0].0.marker, "the first event packet has the marker bit");
    assert!(events.iter().all(|(p, e)| p.ts == events[0].0.ts && e.event.dtmf_char() == Some('5')), "{events:?}");
    let ends: Vec<_> = events.iter().filter(|(_, e)| e.end).collect();
    assert_eq!(ends.len(), 3, "three end packets");
    let d = ends[0].1.duration;
    assert!((700..=1200).contains(&d), "duration {d} samples for a 120 ms digit");
    assert!(ends.iter().all(|(_, e)| e.duration == d));
    let seqs: Vec<u16> = pkts.iter().map(|p| p.seq).collect();
    assert!(seqs.windows(2).all(|w| w[1] == w[0].wrapping_add(1)), "one sequence space for audio and events");
    assert_eq!(rig.pump.stats(port.id).unwrap().dtmf_sent, 1);
}
