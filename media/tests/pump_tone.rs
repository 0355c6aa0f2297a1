//! Tones through the pump on the simulator: TDM → RTP for every law and
//! codec pair (with transcoding where they differ), and RTP → TDM.

mod rig;

use std::time::{Duration, Instant};

use rig::{Peer, Rig, decode, sleep_until, spec, tone};
use tandem_dsp::goertzel::estimate_frequency;
use tandem_media::codec::{Codec, Law};
use tandem_media::pump::DtmfMode;

/// A 1 kHz tone played on channel 1 comes out as RTP of `codec`.
fn tdm_tone_arrives_as_rtp(tdm_law: Law, codec: Codec) {
    let mut rig = Rig::t1(1, DtmfMode::Inband);
    rig.play_tone(1, 1000.0, -10.0);
    let peer = Peer::new();
    let port = rig.pump.allocate().unwrap();
    rig.pump.start(port.id, spec(1, tdm_law, codec, peer.addr())).unwrap();
    let pkts = peer.collect(Duration::from_secs(3), 60);
    assert!(pkts.len() >= 50, "{} packets in 3 s", pkts.len());
    let pt = codec.static_payload_type();
    assert!(pkts.iter().all(|p| p.pt == pt && p.payload.len() == 160 && p.ssrc == pkts[0].ssrc));
    assert!(pkts[0].marker, "the first packet starts a talkspurt");
    for w in pkts.windows(2) {
        assert_eq!(w[1].seq, w[0].seq.wrapping_add(1), "sequence numbers advance by one");
        assert_eq!(w[1].ts, w[0].ts.wrapping_add(160), "timestamps advance by 160 samples");
    }
    // Skip the start (the tone may begin mid-packet); analyse 1 s.
    let audio: Vec<i16> = pkts[10..60.min(pkts.len())].iter().flat_map(|p| decode(codec, &p.payload)).collect();
    let f = estimate_frequency(&audio).expect("a tone");
    assert!((f - 1000.0).abs() < 5.0, "{tdm_law:?} channel, {codec:?}: measured {f} Hz");
    let level = tandem_dsp::goertzel::level_dbm0(&audio);
    assert!((level + 10.0).abs() < 1.5, "level {level} dBm0 (played at -10)");
    let st = rig.pump.stats(port.id).unwrap();
    assert!(st.packets_sent >= 50 && st.tdm_blocks >= 50, "{st:?}");
    rig.pump.stop(port.id).unwrap();
}

#[test]
fn mulaw_channel_tone_arrives_as_pcmu() {
    tdm_tone_arrives_as_rtp(Law::Mulaw, Codec::Pcmu);
}

#[test]
fn mulaw_channel_tone_is_transcoded_to_pcma() {
    tdm_tone_arrives_as_rtp(Law::Mulaw, Codec::Pcma);
}

#[test]
fn alaw_channel_tone_arrives_as_pcma() {
    tdm_tone_arrives_as_rtp(Law::Alaw, Codec::Pcma);
}

#[test]
fn alaw_channel_tone_is_transcoded_to_pcmu() {
    tdm_tone_arrives_as_rtp(Law::Alaw, Codec::Pcmu);
}

/// RTP carrying a 440 Hz tone is heard on the channel.
fn rtp_tone_is_heard_on_the_channel(tdm_law: Law, codec: Codec) {
    let mut rig = Rig::t1(1, DtmfMode::Inband);
    let peer = Peer::new();
    let port = rig.pump.allocate().unwrap();
    rig.pump.start(port.id, spec(1, tdm_law, codec, peer.addr())).unwrap();
    let start = Instant::now();
    for k in 0..75u32 {
        let payload = tone(codec, 440.0, 8000.0, 160, k as usize * 160);
        peer.send_rtp(port.local, codec.static_payload_type(), k as u16, 1000 + k * 160, 0xABCD, k == 0, &payload);
        sleep_until(start + Duration::from_millis(20 * u64::from(k + 1)));
    }
    let a = rig.analyze(1, 600);
    let f = a.frequency_hz.expect("a tone on the channel");
    assert!((f - 440.0).abs() < 5.0, "{tdm_law:?} channel, {codec:?}: heard {f} Hz ({a:?})");
    let st = rig.pump.stats(port.id).unwrap();
    assert!(st.packets_received >= 74, "{st:?}");
    assert_eq!(st.lost, 0, "{st:?}");
}

#[test]
fn pcmu_tone_is_heard_on_a_mulaw_channel() {
    rtp_tone_is_heard_on_the_channel(Law::Mulaw, Codec::Pcmu);
}

#[test]
fn pcma_tone_is_transcoded_for_a_mulaw_channel() {
    rtp_tone_is_heard_on_the_channel(Law::Mulaw, Codec::Pcma);
}

#[test]
fn stopped_stream_frees_its_port_and_unstarted_ports_can_be_released() {
    let rig = Rig::t1(1, DtmfMode::Inband);
    let a = rig.pump.allocate().unwrap();
    assert_eq!(a.local.port() % 2, 0, "RTP on an even port");
    let b = rig.pump.allocate().unwrap();
    assert_ne!(a.local, b.local);
    rig.pump.release(b.id).unwrap();
    assert!(rig.pump.stats(b.id).is_none());
    assert!(rig.pump.update(b.id, spec(1, Law::Mulaw, Codec::Pcmu, a.local)).is_err(), "released ids are gone");
    assert!(rig.pump.update(a.id, spec(1, Law::Mulaw, Codec::Pcmu, a.local)).is_err(), "update before start is refused");
    rig.pump.start(a.id, spec(1, Law::Mulaw, Codec::Pcmu, b.local)).unwrap();
    assert!(rig.pump.start(a.id, spec(1, Law::Mulaw, Codec::Pcmu, b.local)).is_err(), "a second start is refused");
    rig.pump.stop(a.id).unwrap();
    assert!(rig.pump.stop(a.id).is_err());
    let bad = rig.pump.allocate().unwrap();
    let err = rig.pump.start(bad.id, spec(999, Law::Mulaw, Codec::Pcmu, b.local)).unwrap_err();
    assert!(err.to_string().contains("999"), "{err}");
}

#[test]
fn streams_spread_over_two_pump_threads_all_carry_media() {
    let rig = Rig::t1_with(1, tandem_media::pump::PumpConfig { threads: 2, dtmf_mode: DtmfMode::Inband, ..Default::default() });
    let names: Vec<String> = std::fs::read_dir("/proc/self/task")
        .unwrap()
        .flatten()
        .filter_map(|e| std::fs::read_to_string(e.path().join("comm")).ok())
        .map(|c| c.trim().to_string())
        .filter(|c| c.starts_with("media-pump-"))
        .collect();
    assert!(names.iter().any(|n| n == "media-pump-1"), "a second pump thread: {names:?}");
    let peers: Vec<Peer> = (0..4).map(|_| Peer::new()).collect();
    for (k, p) in peers.iter().enumerate() {
        let port = rig.pump.allocate().unwrap();
        rig.pump.start(port.id, spec(k as u32 + 1, Law::Mulaw, Codec::Pcmu, p.addr())).unwrap();
    }
    for p in &peers {
        assert!(p.collect(Duration::from_millis(500), 10).len() >= 10);
    }
}
