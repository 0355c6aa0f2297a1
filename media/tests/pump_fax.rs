//! Fax and modem calls through the pump on the simulator's analog port: the
//! 2100 Hz answer tone (ITU-T V.25), heard from the line or from RTP,
//! switches the channel's echo canceller off (the simulator reports it in
//! `chan.get`) and the stream to data mode (fixed jitter buffer, no PLC).

mod rig;

use std::net::{SocketAddr, UdpSocket};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use hw_sim::client::Client;
use hw_sim::runner::Sim;
use rig::{Peer, sleep_until, spec, tone};
use tandem_drivers::{ChanConfig, Ctl, Signalling, Start};
use tandem_media::codec::{Codec, Law};
use tandem_media::pump::{DtmfMode, Pump, PumpConfig, PumpHandle, StreamSpec};

const SIM: &str = r#"
[sim]
fuse_threads = 1
line_echo = { delay_ms = 8, erl_db = 12, erle_db = 30, converge_ms = 250 }

[[card]]
model = "tdm410p"
ports = ["fxs"]
"#;

/// A simulator with one FXS port (phone off-hook, silent) and a pump.
struct FaxRig {
    pump: PumpHandle,
    client: Client,
    sim: Option<Sim>,
    _dir: tempfile::TempDir,
}

impl FaxRig {
    fn start() -> FaxRig {
        let dir = tempfile::Builder::new().prefix("pump-fax-").tempdir().expect("temp dir");
        let mount = dir.path().join("dahdi");
        let control = dir.path().join("ctl.sock");
        let sim = Sim::start(SIM, "pump-fax.toml", &mount, &control).expect("start the simulator");
        let ctl = Ctl::open(&mount).expect("open ctl");
        ctl.configure_channel(&ChanConfig { chan: 1, signalling: Signalling::Fxs(Start::Kewl), law: None, idle_bits: 0 }).expect("CHANCONFIG");
        let mut client = Client::connect_retry(&control, Duration::from_secs(5)).expect("control socket");
        client.phone_hook(1, true).expect("phone off-hook");
        let pump = Pump::start(PumpConfig {
            device_dir: mount,
            rtp_ip: "127.0.0.1".parse().unwrap(),
            rtp_ports: 41000..=41999,
            dtmf_mode: DtmfMode::Rfc4733,
            ..Default::default()
        })
        .expect("start the pump");
        FaxRig { pump, client, sim: Some(sim), _dir: dir }
    }

    fn echocan_taps(&mut self) -> u64 {
        let v = self.client.chan_get(1).expect("chan.get");
        v["echocan"]["taps"].as_u64().expect("echocan.taps in chan.get")
    }
}

impl Drop for FaxRig {
    fn drop(&mut self) {
        self.pump.shutdown();
        if let Some(s) = self.sim.take() {
            let _ = s.stop();
        }
    }
}

/// Sends a `freq` tone as 20 ms PCMU packets to `to` for `ms` (or until `stop`).
fn send_tone(sock: UdpSocket, to: SocketAddr, freq: f32, stop: Arc<AtomicBool>, ms: u32) -> JoinHandle<()> {
    std::thread::spawn(move || {
        let peer = Peer { sock };
        let start = Instant::now();
        for k in 0..ms / 20 {
            if stop.load(Ordering::Relaxed) {
                break;
            }
            let payload = tone(Codec::Pcmu, freq, 8000.0, 160, k as usize * 160);
            peer.send_rtp(to, 0, k as u16, k * 160, 0x5151, k == 0, &payload);
            sleep_until(start + Duration::from_millis(20 * u64::from(k + 1)));
        }
    })
}

/// Polls `f` every 50 ms for at most `max`.
fn within(max: Duration, mut f: impl FnMut() -> bool) -> bool {
    let end = Instant::now() + max;
    loop {
        if f() {
            return true;
        }
        if Instant::now() >= end {
            return false;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn an_answer_tone_from_the_line_switches_the_echo_canceller_off_and_the_stream_to_data_mode() {
    let mut rig = FaxRig::start();
    let peer = Peer::new();
    let port = rig.pump.allocate().unwrap();
    rig.pump.start(port.id, StreamSpec { echo_taps: Some(128), ..spec(1, Law::Mulaw, Codec::Pcmu, peer.addr()) }).unwrap();
    assert!(within(Duration::from_secs(2), || rig.echocan_taps() == 128), "the canceller was not switched on at start");
    // Speech-band tone first: nothing changes.
    rig.client.audio_play_tone(1, &[1000.0], -12.0).expect("1 kHz");
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(rig.echocan_taps(), 128, "1 kHz switched the canceller off");
    assert!(!rig.pump.stats(port.id).unwrap().data_mode);
    // The fax machine on the line answers (V.25 ANS at -12 dBm0).
    rig.client.audio_play_tone(1, &[2100.0], -12.0).expect("2100 Hz");
    assert!(within(Duration::from_secs(3), || rig.echocan_taps() == 0), "the canceller stayed on after 3 s of 2100 Hz");
    let st = rig.pump.stats(port.id).unwrap();
    assert!(st.data_mode, "{st:?}");
    assert_eq!(st.answer_tone_from, 1, "heard from the line");
    assert!(st.packets_sent > 0);
    rig.client.audio_play_silence(1).expect("silence");
}

#[test]
fn an_answer_tone_from_rtp_switches_the_echo_canceller_off_and_the_stream_to_data_mode() {
    let mut rig = FaxRig::start();
    let peer = Peer::new();
    let port = rig.pump.allocate().unwrap();
    rig.pump.start(port.id, StreamSpec { echo_taps: Some(128), ..spec(1, Law::Mulaw, Codec::Pcmu, peer.addr()) }).unwrap();
    assert!(within(Duration::from_secs(2), || rig.echocan_taps() == 128), "the canceller was not switched on at start");
    let stop = Arc::new(AtomicBool::new(false));
    let sender = send_tone(peer.sock.try_clone().unwrap(), port.local, 2100.0, stop.clone(), 4000);
    let off = within(Duration::from_secs(3), || rig.echocan_taps() == 0);
    stop.store(true, Ordering::Relaxed);
    sender.join().unwrap();
    assert!(off, "the canceller stayed on after 3 s of 2100 Hz from RTP");
    let st = rig.pump.stats(port.id).unwrap();
    assert!(st.data_mode, "{st:?}");
    assert_eq!(st.answer_tone_from, 2, "heard in what the pump played to the line first (the line echo comes back later)");
}
