//! Continuity of what the pump writes to the channel: a steady tone sent
//! over RTP must reach the line without clicks (issue 6) once the pump has
//! learnt the channel's block phase and the packets' arrival phase: no
//! restart of the transmit queue (a flush and a silence pad) and no
//! dropped or repeated stretch, seen as a phase jump or a dip of the tone
//! in the audio the simulator's line received.

mod rig;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use rig::{FxsRig, Peer, send_tone, spec};
use tandem_media::codec::{Codec, Law};
use tandem_media::pump::DtmfMode;

const SIM: &str = r#"
[sim]
fuse_threads = 1

[[card]]
model = "tdm410p"
ports = ["fxs"]
"#;

const AMPLITUDE: f32 = 8000.0;
/// Samples per analysis block (20 ms: a whole number of 1 kHz periods).
const BLOCK: usize = 160;

/// Per block of `x`, the 1 kHz component's amplitude and phase (degrees),
/// the phase taken against one time origin for the whole recording, so a
/// steady tone has the same phase in every block.
fn tone_blocks(x: &[i16]) -> Vec<(f64, f64)> {
    x.chunks_exact(BLOCK)
        .enumerate()
        .map(|(b, c)| {
            let (mut re, mut im) = (0.0f64, 0.0f64);
            for (i, &s) in c.iter().enumerate() {
                let w = std::f64::consts::TAU * 1000.0 * (b * BLOCK + i) as f64 / 8000.0;
                re += f64::from(s) * w.cos();
                im -= f64::from(s) * w.sin();
            }
            (2.0 * (re * re + im * im).sqrt() / BLOCK as f64, im.atan2(re).to_degrees())
        })
        .collect()
}

#[test]
fn a_steady_tone_from_rtp_reaches_the_line_without_a_phase_jump_or_dip_after_the_first_second() {
    let mut rig = FxsRig::start(SIM, "pump-continuity", 41000..=41999, DtmfMode::Inband);
    let peer = Peer::new();
    let port = rig.pump.allocate().unwrap();
    // The tone starts with the stream, as a call's audio does: its packets
    // then arrive in step with the channel's blocks (the read-side flush at
    // start restarts their fill), the case that once moved the writes.
    rig.pump.start(port.id, spec(1, Law::Mulaw, Codec::Pcmu, peer.addr())).unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let sender = send_tone(peer.sock.try_clone().unwrap(), port.local, 1000.0, AMPLITUDE, stop.clone(), 5000);
    peer.collect(Duration::from_millis(3500), 1000);
    // The last 2 s the line received: from 1.5 s into the call.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("line.wav");
    rig.client.audio_save(1, &path, Some(2000)).expect("audio.save");
    stop.store(true, Ordering::Relaxed);
    sender.join().unwrap();
    let stats = rig.pump.stats(port.id).unwrap();
    let f = std::fs::File::open(&path).unwrap();
    let line = tandem_dsp::wav::read_wav(std::io::BufReader::new(f)).unwrap().samples;
    assert!(line.len() >= 1900 * 8, "{} samples saved", line.len());
    let blocks = tone_blocks(&line);
    let full = blocks.iter().map(|b| b.0).fold(0.0, f64::max);
    assert!(full > f64::from(AMPLITUDE) * 0.8, "the tone reached the line at {full:.0} of {AMPLITUDE}");
    let mut worst_jump = 0.0f64;
    let mut worst_dip = full;
    for (k, w) in blocks.windows(2).enumerate() {
        let jump = ((w[1].1 - w[0].1 + 540.0) % 360.0 - 180.0).abs();
        if jump > worst_jump {
            worst_jump = jump;
        }
        worst_dip = worst_dip.min(w[1].0);
        assert!(
            jump < 20.0 && w[1].0 > 0.9 * full,
            "block {} of the line's audio: tone phase moved {jump:.0}°, amplitude {:.0} of {full:.0} (a click); {stats:?}",
            k + 1,
            w[1].0
        );
    }
    eprintln!("largest phase step {worst_jump:.1}°, lowest block {worst_dip:.0} of {full:.0}");
}
