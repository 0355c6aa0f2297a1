//! Fax and modem calls through the pump on the simulator's analog port: the
//! 2100 Hz answer tone (ITU-T V.25), heard from the line or from RTP,
//! switches the channel's echo canceller off (the simulator reports it in
//! `chan.get`) and the stream to data mode (fixed jitter buffer, no PLC).

mod rig;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use rig::{FxsRig, Peer, send_tone, spec};
use tandem_media::codec::{Codec, Law};
use tandem_media::pump::{DtmfMode, StreamSpec};

const SIM: &str = r#"
[sim]
fuse_threads = 1
line_echo = { delay_ms = 8, erl_db = 12, erle_db = 30, converge_ms = 250 }

[[card]]
model = "tdm410p"
ports = ["fxs"]
"#;

/// The rig's channel 1 echo canceller taps, as the simulator reports them.
fn echocan_taps(rig: &mut FxsRig) -> u64 {
    let v = rig.client.chan_get(1).expect("chan.get");
    v["echocan"]["taps"].as_u64().expect("echocan.taps in chan.get")
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
    let mut rig = FxsRig::start(SIM, "pump-fax", 41000..=41999, DtmfMode::Rfc4733);
    let peer = Peer::new();
    let port = rig.pump.allocate().unwrap();
    rig.pump.start(port.id, StreamSpec { echo_taps: Some(128), ..spec(1, Law::Mulaw, Codec::Pcmu, peer.addr()) }).unwrap();
    assert!(within(Duration::from_secs(2), || echocan_taps(&mut rig) == 128), "the canceller was not switched on at start");
    // Speech-band tone first: nothing changes.
    rig.client.audio_play_tone(1, &[1000.0], -12.0).expect("1 kHz");
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(echocan_taps(&mut rig), 128, "1 kHz switched the canceller off");
    assert!(!rig.pump.stats(port.id).unwrap().data_mode);
    // The fax machine on the line answers (V.25 ANS at -12 dBm0).
    rig.client.audio_play_tone(1, &[2100.0], -12.0).expect("2100 Hz");
    assert!(within(Duration::from_secs(3), || echocan_taps(&mut rig) == 0), "the canceller stayed on after 3 s of 2100 Hz");
    let st = rig.pump.stats(port.id).unwrap();
    assert!(st.data_mode, "{st:?}");
    assert_eq!(st.answer_tone_from, 1, "heard from the line");
    assert!(st.packets_sent > 0);
    rig.client.audio_play_silence(1).expect("silence");
}

#[test]
fn an_answer_tone_from_rtp_switches_the_echo_canceller_off_and_the_stream_to_data_mode() {
    let mut rig = FxsRig::start(SIM, "pump-fax", 41000..=41999, DtmfMode::Rfc4733);
    let peer = Peer::new();
    let port = rig.pump.allocate().unwrap();
    rig.pump.start(port.id, StreamSpec { echo_taps: Some(128), ..spec(1, Law::Mulaw, Codec::Pcmu, peer.addr()) }).unwrap();
    assert!(within(Duration::from_secs(2), || echocan_taps(&mut rig) == 128), "the canceller was not switched on at start");
    let stop = Arc::new(AtomicBool::new(false));
    let sender = send_tone(peer.sock.try_clone().unwrap(), port.local, 2100.0, 8000.0, stop.clone(), 4000);
    let off = within(Duration::from_secs(3), || echocan_taps(&mut rig) == 0);
    stop.store(true, Ordering::Relaxed);
    sender.join().unwrap();
    assert!(off, "the canceller stayed on after 3 s of 2100 Hz from RTP");
    let st = rig.pump.stats(port.id).unwrap();
    assert!(st.data_mode, "{st:?}");
    assert_eq!(st.answer_tone_from, 2, "heard in what the pump played to the line first (the line echo comes back later)");
}
