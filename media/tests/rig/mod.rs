//! Test rig for the pump tests: an in-process `tandem-sim` with T1 spans
//! whose far end is scriptable (`far_end = "external"`), configured as
//! clear channels, a pump on its mount, and a UDP peer standing in for the
//! SIP side's media. Everything is on loopback and every wait is bounded.

#![allow(dead_code)]

use std::net::{SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

use hw_sim::client::Client;
use hw_sim::runner::Sim;
use tandem_drivers::{ChanConfig, Ctl, LineConfig, Signalling};
use tandem_dsp::g711::Law as DspLaw;
use tandem_media::codec::{Codec, Direction, Law};
use tandem_media::pump::{DtmfMode, Pump, PumpConfig, PumpHandle, StreamSpec};
use tandem_media::wire::rtp::{RtpPacket, RtpRepr};

/// DAHDI_CONFIG_ESF | DAHDI_CONFIG_B8ZS (dahdi/user.h).
const T1_LINECONFIG: u32 = 32 | 128;

/// A simulator with `spans` T1 spans (24 channels each) and a pump.
pub struct Rig {
    pub pump: PumpHandle,
    pub client: Client,
    sim: Option<Sim>,
    _dir: tempfile::TempDir,
}

impl Rig {
    /// Starts the simulator, configures the spans and starts a pump.
    pub fn t1(spans: u32, dtmf_mode: DtmfMode) -> Rig {
        Rig::t1_with(spans, PumpConfig { dtmf_mode, ..Default::default() })
    }

    /// As [`Rig::t1`], with the pump's other settings from `base`.
    pub fn t1_with(spans: u32, base: PumpConfig) -> Rig {
        let dir = tempfile::Builder::new().prefix("pump-test-").tempdir().expect("temp dir");
        let mount = dir.path().join("dahdi");
        let control = dir.path().join("ctl.sock");
        let mut toml = String::from("[sim]\nfuse_threads = 1\n");
        for i in 0..spans {
            if i % 4 == 0 {
                toml.push_str("[[card]]\nmodel = \"te420p\"\n");
            }
            toml.push_str("[[card.span]]\ntype = \"t1\"\nfar_end = \"external\"\n");
        }
        let sim = Sim::start(&toml, "pump-test.toml", &mount, &control).expect("start the simulator");
        let ctl = Ctl::open(&mount).expect("open ctl");
        for span in 1..=spans {
            ctl.configure_span(&LineConfig { span, timing: 0, lbo: 0, lineconfig: T1_LINECONFIG }, &format!("T1/{span}")).expect("SPANCONFIG");
            for pos in 1..=24 {
                let chan = (span - 1) * 24 + pos;
                ctl.configure_channel(&ChanConfig { chan, signalling: Signalling::Clear, law: None, idle_bits: 0 }).expect("CHANCONFIG");
            }
            ctl.startup(span).expect("STARTUP");
        }
        let client = Client::connect_retry(&control, Duration::from_secs(5)).expect("control socket");
        let pump = Pump::start(PumpConfig {
            device_dir: mount.clone(),
            rtp_ip: "127.0.0.1".parse().unwrap(),
            rtp_ports: 30000..=39999,
            jitter_min_ms: 40,
            jitter_max_ms: 200,
            ..base
        })
        .expect("start the pump");
        Rig { pump, client, sim: Some(sim), _dir: dir }
    }

    /// Plays a continuous tone from the far end of `chan`.
    pub fn play_tone(&mut self, chan: u32, freq: f32, dbm0: f32) {
        self.client.audio_play_tone(chan, &[freq], dbm0).expect("audio.play");
    }

    /// What the host (the pump) sent on `chan` over the last `ms`.
    pub fn analyze(&mut self, chan: u32, ms: u32) -> hw_sim::client::Analysis {
        self.client.audio_analyze(chan, ms).expect("audio.analyze")
    }

    /// The last `ms` the host sent on `chan`, as linear samples.
    pub fn recorded(&mut self, chan: u32, ms: u32) -> Vec<i16> {
        let path = self._dir.path().join(format!("rec-{chan}.wav"));
        self.client.audio_save(chan, &path, Some(ms)).expect("audio.save");
        let f = std::fs::File::open(&path).expect("open the saved WAV");
        tandem_dsp::wav::read_wav(std::io::BufReader::new(f)).expect("read the saved WAV").samples
    }
}

impl Drop for Rig {
    fn drop(&mut self) {
        self.pump.shutdown();
        if let Some(s) = self.sim.take() {
            let _ = s.stop();
        }
    }
}

/// A stream spec with sensible defaults.
pub fn spec(channo: u32, tdm_law: Law, codec: Codec, remote: SocketAddr) -> StreamSpec {
    StreamSpec {
        channo,
        tdm_law,
        codec,
        payload_type: codec.static_payload_type(),
        ptime_ms: 20,
        dtmf_payload_type: Some(101),
        remote: Some(remote),
        direction: Direction::SendRecv,
        symmetric: false,
        echo_taps: None,
        tap: false,
        data_mode: false,
    }
}

/// The far side's RTP socket.
pub struct Peer {
    pub sock: UdpSocket,
}

/// One received RTP packet, owned.
#[derive(Clone, Debug)]
pub struct Rx {
    pub marker: bool,
    pub pt: u8,
    pub seq: u16,
    pub ts: u32,
    pub ssrc: u32,
    pub payload: Vec<u8>,
    pub at: Instant,
}

impl Peer {
    pub fn new() -> Peer {
        let sock = UdpSocket::bind("127.0.0.1:0").expect("bind the peer");
        sock.set_read_timeout(Some(Duration::from_millis(50))).unwrap();
        Peer { sock }
    }

    pub fn addr(&self) -> SocketAddr {
        self.sock.local_addr().unwrap()
    }

    /// Receives RTP for `dur` (at most `max` packets).
    pub fn collect(&self, dur: Duration, max: usize) -> Vec<Rx> {
        let end = Instant::now() + dur;
        let mut v = Vec::new();
        let mut buf = [0u8; 2048];
        while Instant::now() < end && v.len() < max {
            if let Ok((n, _)) = self.sock.recv_from(&mut buf) {
                if let Ok(p) = RtpPacket::new_checked(&buf[..n]) {
                    v.push(Rx {
                        marker: p.marker(),
                        pt: p.payload_type(),
                        seq: p.sequence_number(),
                        ts: p.timestamp(),
                        ssrc: p.ssrc(),
                        payload: p.payload().to_vec(),
                        at: Instant::now(),
                    });
                }
            }
        }
        v
    }

    /// Drops whatever is queued.
    pub fn drain(&self) {
        self.sock.set_nonblocking(true).unwrap();
        let mut buf = [0u8; 2048];
        while self.sock.recv_from(&mut buf).is_ok() {}
        self.sock.set_nonblocking(false).unwrap();
    }

    #[allow(clippy::too_many_arguments)]
    pub fn send_rtp(&self, to: SocketAddr, pt: u8, seq: u16, ts: u32, ssrc: u32, marker: bool, payload: &[u8]) {
        let mut r = RtpRepr::new(pt, seq, ts, ssrc, payload.len());
        r.marker = marker;
        self.sock.send_to(&r.to_vec(payload).unwrap(), to).expect("send RTP");
    }
}

/// Decodes G.711 codes to linear samples.
pub fn decode(codec: Codec, codes: &[u8]) -> Vec<i16> {
    let law = match codec {
        Codec::Pcma => DspLaw::Alaw,
        _ => DspLaw::Mulaw,
    };
    law.decode_vec(codes)
}

/// `n` samples of a tone, encoded, continuing at sample `phase0`.
pub fn tone(codec: Codec, freq: f32, amplitude: f32, n: usize, phase0: usize) -> Vec<u8> {
    let law = match codec {
        Codec::Pcma => DspLaw::Alaw,
        _ => DspLaw::Mulaw,
    };
    (0..n).map(|i| law.encode((amplitude * (std::f32::consts::TAU * freq * (i + phase0) as f32 / 8000.0).sin()) as i16)).collect()
}

/// Sleeps until `t`.
pub fn sleep_until(t: Instant) {
    let now = Instant::now();
    if t > now {
        std::thread::sleep(t - now);
    }
}

/// Waits (at most `limit`) until `f` holds.
pub fn wait_for(limit: Duration, mut f: impl FnMut() -> bool) -> bool {
    let end = Instant::now() + limit;
    while Instant::now() < end {
        if f() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    f()
}

/// A simulator with one FXS port (channel 1, its phone off-hook and
/// silent) described by `sim_toml`, and a pump on its mount.
pub struct FxsRig {
    pub pump: PumpHandle,
    pub client: Client,
    sim: Option<Sim>,
    _dir: tempfile::TempDir,
}

impl FxsRig {
    /// `name` labels the scratch directory and config; `ports` is the
    /// pump's RTP port range; `dtmf_mode` the pump's DTMF handling.
    pub fn start(sim_toml: &str, name: &str, ports: std::ops::RangeInclusive<u16>, dtmf_mode: DtmfMode) -> FxsRig {
        let dir = tempfile::Builder::new().prefix(&format!("{name}-")).tempdir().expect("temp dir");
        let mount = dir.path().join("dahdi");
        let control = dir.path().join("ctl.sock");
        let sim = Sim::start(sim_toml, &format!("{name}.toml"), &mount, &control).expect("start the simulator");
        let ctl = Ctl::open(&mount).expect("open ctl");
        let fxs = Signalling::Fxs(tandem_drivers::Start::Kewl);
        ctl.configure_channel(&ChanConfig { chan: 1, signalling: fxs, law: None, idle_bits: 0 }).expect("CHANCONFIG");
        let mut client = Client::connect_retry(&control, Duration::from_secs(5)).expect("control socket");
        client.phone_hook(1, true).expect("phone off-hook");
        let pump = Pump::start(PumpConfig { device_dir: mount, rtp_ip: "127.0.0.1".parse().unwrap(), rtp_ports: ports, dtmf_mode, ..Default::default() })
            .expect("start the pump");
        FxsRig { pump, client, sim: Some(sim), _dir: dir }
    }
}

impl Drop for FxsRig {
    fn drop(&mut self) {
        self.pump.shutdown();
        if let Some(s) = self.sim.take() {
            let _ = s.stop();
        }
    }
}

/// Sends a `freq` tone at `amplitude` as 20 ms PCMU packets to `to` for at
/// most `max_ms`, or until `stop`.
pub fn send_tone(
    sock: UdpSocket,
    to: SocketAddr,
    freq: f32,
    amplitude: f32,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    max_ms: u32,
) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        let peer = Peer { sock };
        let start = Instant::now();
        for k in 0..max_ms / 20 {
            if stop.load(std::sync::atomic::Ordering::Relaxed) {
                break;
            }
            let payload = tone(Codec::Pcmu, freq, amplitude, 160, k as usize * 160);
            peer.send_rtp(to, 0, k as u16, k * 160, 0x5151, k == 0, &payload);
            sleep_until(start + Duration::from_millis(20 * u64::from(k + 1)));
        }
    })
}
