//! Line echo through the pump on the simulator's analog port: the RTP the
//! pump receives is played to the line, the hybrid returns it 12 dB down
//! (`line_echo`), and the pump sends that echo back to the SIP side unless
//! the stream's echo canceller (`StreamSpec::echo_taps`) removes it.

mod rig;

use std::net::{SocketAddr, UdpSocket};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use hw_sim::client::Client;
use hw_sim::runner::Sim;
use rig::{Peer, decode, sleep_until, spec, tone};
use tandem_drivers::{ChanConfig, Ctl, Signalling, Start};
use tandem_dsp::goertzel::goertzel_power;
use tandem_media::codec::{Codec, Law};
use tandem_media::pump::{DtmfMode, Pump, PumpConfig, PumpHandle};

const SIM: &str = r#"
[sim]
fuse_threads = 1
line_echo = { delay_ms = 8, erl_db = 12, erle_db = 30, converge_ms = 250 }

[[card]]
model = "tdm410p"
ports = ["fxs"]
"#;

const AMPLITUDE: f32 = 8000.0;

/// A simulator with one FXS port (phone off-hook, silent) and a pump.
struct AnalogRig {
    pump: PumpHandle,
    sim: Option<Sim>,
    _dir: tempfile::TempDir,
}

impl AnalogRig {
    fn start() -> AnalogRig {
        let dir = tempfile::Builder::new().prefix("pump-echo-").tempdir().expect("temp dir");
        let mount = dir.path().join("dahdi");
        let control = dir.path().join("ctl.sock");
        let sim = Sim::start(SIM, "pump-echo.toml", &mount, &control).expect("start the simulator");
        let ctl = Ctl::open(&mount).expect("open ctl");
        ctl.configure_channel(&ChanConfig { chan: 1, signalling: Signalling::Fxs(Start::Kewl), law: None, idle_bits: 0 }).expect("CHANCONFIG");
        let mut client = Client::connect_retry(&control, Duration::from_secs(5)).expect("control socket");
        client.phone_hook(1, true).expect("phone off-hook");
        let pump = Pump::start(PumpConfig {
            device_dir: mount,
            rtp_ip: "127.0.0.1".parse().unwrap(),
            rtp_ports: 40000..=40999,
            dtmf_mode: DtmfMode::Inband,
            ..Default::default()
        })
        .expect("start the pump");
        AnalogRig { pump, sim: Some(sim), _dir: dir }
    }
}

impl Drop for AnalogRig {
    fn drop(&mut self) {
        self.pump.shutdown();
        if let Some(s) = self.sim.take() {
            let _ = s.stop();
        }
    }
}

/// Sends a 1 kHz tone as 20 ms PCMU packets to `to` until `stop` (at most `max_ms`).
fn send_tone(sock: UdpSocket, to: SocketAddr, stop: Arc<AtomicBool>, max_ms: u32) -> JoinHandle<()> {
    std::thread::spawn(move || {
        let peer = Peer { sock };
        let start = Instant::now();
        for k in 0..max_ms / 20 {
            if stop.load(Ordering::Relaxed) {
                break;
            }
            let payload = tone(Codec::Pcmu, 1000.0, AMPLITUDE, 160, k as usize * 160);
            peer.send_rtp(to, 0, k as u16, k * 160, 0x5151, k == 0, &payload);
            sleep_until(start + Duration::from_millis(20 * u64::from(k + 1)));
        }
    })
}

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
    let rig = AnalogRig::start();
    let peer = Peer::new();
    let port = rig.pump.allocate().unwrap();
    rig.pump.start(port.id, spec(1, Law::Mulaw, Codec::Pcmu, peer.addr())).unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let sender = send_tone(peer.sock.try_clone().unwrap(), port.local, stop.clone(), 5000);
    let level = returned_level_db(&peer, Duration::from_millis(2500), 50);
    stop.store(true, Ordering::Relaxed);
    sender.join().unwrap();
    assert!((level + 12.0).abs() < 2.0, "echo at {level:.1} dB, expected -12 dB");
}

#[test]
fn echo_taps_128_remove_the_echo_and_set_echo_zero_brings_it_back() {
    let rig = AnalogRig::start();
    let peer = Peer::new();
    let port = rig.pump.allocate().unwrap();
    let s = tandem_media::pump::StreamSpec { echo_taps: Some(128), ..spec(1, Law::Mulaw, Codec::Pcmu, peer.addr()) };
    rig.pump.start(port.id, s).unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let sender = send_tone(peer.sock.try_clone().unwrap(), port.local, stop.clone(), 9000);
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
