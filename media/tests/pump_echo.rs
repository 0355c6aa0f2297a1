//! Line echo through the pump on the simulator's analog port: the RTP the
//! pump receives is played to the line, the hybrid returns it 12 dB down
//! (`line_echo`), and the pump sends that echo back to the SIP side unless
//! the stream's echo canceller (`StreamSpec::echo_taps`) removes it.

mod rig;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use rig::{FxsRig, Peer, decode, send_tone, spec};
use tandem_dsp::goertzel::goertzel_power;
use tandem_media::codec::{Codec, Law};
use tandem_media::pump::DtmfMode;

const SIM: &str = r#"
[sim]
fuse_threads = 1
line_echo = { delay_ms = 8, erl_db = 12, erle_db = 30, converge_ms = 250 }

[[card]]
model = "tdm410p"
ports = ["fxs"]
"#;

const AMPLITUDE: f32 = 8000.0;

/// Level of the 1 kHz component the pump sent over `dur`, relative to the
/// tone it was sent, dB; the first `skip` packets are left out.
fn returned_level_db(peer: &Peer, dur: Duration, skip: usize) -> f64 {
    let pkts = peer.collect(dur, 1000);
    assert!(pkts.len() > skip + 25, "{} packets in {dur:?}", pkts.len());
    let audio: Vec<i16> = pkts[skip..].iter().flat_map(|p| decode(Codec::Pcmu, &p.payload)).collect();
    let tone = f64::from(AMPLITUDE).powi(2) / 2.0;
    10.0 * (f64::from(goertzel_power(&audio, 1000.0)) / tone).log10()
}

#[test]
fn without_echo_taps_the_sip_side_hears_its_own_audio_back_at_the_lines_erl() {
    let rig = FxsRig::start(SIM, "pump-echo", 40000..=40999, DtmfMode::Inband);
    let peer = Peer::new();
    let port = rig.pump.allocate().unwrap();
    rig.pump.start(port.id, spec(1, Law::Mulaw, Codec::Pcmu, peer.addr())).unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let sender = send_tone(peer.sock.try_clone().unwrap(), port.local, 1000.0, AMPLITUDE, stop.clone(), 5000);
    let level = returned_level_db(&peer, Duration::from_millis(2500), 50);
    stop.store(true, Ordering::Relaxed);
    sender.join().unwrap();
    assert!((level + 12.0).abs() < 2.0, "echo at {level:.1} dB, expected -12 dB");
}

#[test]
fn echo_taps_128_remove_the_echo_and_set_echo_zero_brings_it_back() {
    let rig = FxsRig::start(SIM, "pump-echo", 40000..=40999, DtmfMode::Inband);
    let peer = Peer::new();
    let port = rig.pump.allocate().unwrap();
    let s = tandem_media::pump::StreamSpec { echo_taps: Some(128), ..spec(1, Law::Mulaw, Codec::Pcmu, peer.addr()) };
    rig.pump.start(port.id, s).unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let sender = send_tone(peer.sock.try_clone().unwrap(), port.local, 1000.0, AMPLITUDE, stop.clone(), 9000);
    let cancelled = returned_level_db(&peer, Duration::from_millis(2500), 50);

    // A fax answer tone: call control switches the canceller off.
    rig.pump.set_echo(port.id, 0).unwrap();
    peer.collect(Duration::from_millis(500), 1000);
    let back = returned_level_db(&peer, Duration::from_millis(1500), 0);
    stop.store(true, Ordering::Relaxed);
    sender.join().unwrap();
    assert!(back - cancelled >= 25.0, "canceller on: {cancelled:.1} dB; off: {back:.1} dB");
    assert!((back + 12.0).abs() < 2.0, "echo without the canceller at {back:.1} dB, expected -12 dB");
}
