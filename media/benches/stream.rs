//! The media pump's own work per channel, without any I/O: what one
//! channel-second of a 20 ms PCMU call costs in [`Stream`] (the sans-IO
//! per-call core the pump drives), so the pump benchmark's "our code"
//! share can be split by feature.
//!
//! Run with `cargo bench -p tandem-media --bench stream` (a plain `main`,
//! no harness). A channel-second is 50 TDM blocks of 160 samples read
//! ([`Stream::tdm_in`]) with their packets taken ([`Stream::poll_transmit`]),
//! and 50 RTP packets received ([`Stream::rtp_in`]) and played out
//! ([`Stream::tdm_out`]). The TDM side carries speech-like audio (two
//! drifting tones with noise), the RTP side a tone; 256 streams are run in
//! turn so the caches see as many streams as a loaded pump does. Cases:
//!
//! * everything the pump does by default: in-band DTMF detection (spandsp)
//!   with its mute gate, and 2100 Hz answer-tone detection both ways;
//! * without DTMF detection (`dtmf = "inband"`, or no telephone-event);
//! * without answer-tone detection either (G.711 packetising, the jitter
//!   buffer and playout only);
//! * the same with a law change (PCMU stream on an A-law span).
//!
//! Each case prints µs per channel-second (the median of 7 rounds) and the
//! share of one core 1,024 channels would take for it.

use std::hint::black_box;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use tandem_dsp::g711::Law as DspLaw;
use tandem_media::codec::{Codec, Direction, Law};
use tandem_media::pump::stream::{NtpClock, Stream};
use tandem_media::pump::{DtmfMode, StreamSpec};
use tandem_media::wire::rtp::RtpRepr;

const STREAMS: usize = 256;
const BLOCK: usize = 160;
const SECONDS: usize = 2;
const ROUNDS: usize = 7;

/// One bench case.
struct Case {
    name: &'static str,
    dtmf: DtmfMode,
    answer_tone: bool,
    tdm_law: Law,
}

fn spec(channo: u32, tdm_law: Law, peer: SocketAddr) -> StreamSpec {
    StreamSpec {
        channo,
        tdm_law,
        codec: Codec::Pcmu,
        payload_type: 0,
        ptime_ms: 20,
        dtmf_payload_type: Some(101),
        remote: Some(peer),
        direction: Direction::SendRecv,
        symmetric: false,
        echo_taps: None,
        tap: false,
        data_mode: false,
    }
}

/// `SECONDS` of speech-like TDM audio (two drifting tones plus noise), in `law`.
fn tdm_audio(law: DspLaw, seed: u64) -> Vec<u8> {
    let mut rng = seed | 1;
    (0..SECONDS * 8000)
        .map(|n| {
            let t = n as f64 / 8000.0;
            let f1 = 300.0 + 200.0 * (t * 3.0).sin();
            let f2 = 1100.0 + 400.0 * (t * 1.7).cos();
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            let noise = (rng >> 54) as f64 - 512.0;
            let s = 6000.0 * (2.0 * std::f64::consts::PI * f1 * t).sin() + 3000.0 * (2.0 * std::f64::consts::PI * f2 * t).sin() + noise;
            law.encode(s as i16)
        })
        .collect()
}

/// `SECONDS` × 50 RTP packets of a 440 Hz tone (PCMU, 20 ms).
fn rtp_packets() -> Vec<Vec<u8>> {
    let law = DspLaw::Mulaw;
    (0..SECONDS * 50)
        .map(|k| {
            let payload: Vec<u8> = (0..BLOCK)
                .map(|i| {
                    let n = k * BLOCK + i;
                    law.encode((8000.0 * (2.0 * std::f64::consts::PI * 440.0 * n as f64 / 8000.0).sin()) as i16)
                })
                .collect();
            RtpRepr::new(0, k as u16, (k * BLOCK) as u32, 0x1234_5678, BLOCK).to_vec(&payload).expect("packet")
        })
        .collect()
}

/// µs per channel-second for `case`: the median of `ROUNDS` rounds.
fn run(case: &Case) -> f64 {
    let peer: SocketAddr = "127.0.0.1:40000".parse().unwrap();
    let now0 = Instant::now();
    let ntp = NtpClock { at: now0, ntp: 0 };
    let law = match case.tdm_law {
        Law::Mulaw => DspLaw::Mulaw,
        Law::Alaw => DspLaw::Alaw,
    };
    let audio: Vec<Vec<u8>> = (0..8).map(|k| tdm_audio(law, 0x9e37_79b9 + k)).collect();
    let packets = rtp_packets();
    let mut rounds = Vec::with_capacity(ROUNDS);
    for round in 0..=ROUNDS {
        let mut streams: Vec<Stream> = (0..STREAMS)
            .map(|i| {
                let mut s = Stream::new(spec(i as u32 + 1, case.tdm_law, peer), 20, 200, case.dtmf, ntp, now0, i as u64 * 7919 + 1);
                s.detect_answer_tone(case.answer_tone);
                s
            })
            .collect();
        let mut out = [0u8; BLOCK];
        let mut sent = 0usize;
        let t0 = Instant::now();
        for b in 0..SECONDS * 50 {
            // The packets of this period arrive, then every channel's block
            // is read and written, as in a pump pass.
            let now = now0 + Duration::from_millis(20 * b as u64);
            for s in streams.iter_mut() {
                s.rtp_in(&packets[b], peer, now);
            }
            for (i, s) in streams.iter_mut().enumerate() {
                let a = &audio[i % audio.len()];
                s.tdm_in(&a[b * BLOCK..(b + 1) * BLOCK]);
                while let Some(t) = s.poll_transmit() {
                    sent += black_box(t.data.len());
                }
                s.tdm_out(&mut out);
                black_box(&out);
            }
        }
        let per_ch_s = t0.elapsed().as_secs_f64() * 1e6 / (STREAMS * SECONDS) as f64;
        assert!(sent > 0, "the streams sent nothing");
        // Round 0 warms up.
        if round > 0 {
            rounds.push(per_ch_s);
        }
    }
    rounds.sort_by(f64::total_cmp);
    rounds[ROUNDS / 2]
}

fn main() {
    let cases = [
        Case { name: "default: DTMF detection + answer tone", dtmf: DtmfMode::Rfc4733, answer_tone: true, tdm_law: Law::Mulaw },
        Case { name: "no DTMF detection", dtmf: DtmfMode::Inband, answer_tone: true, tdm_law: Law::Mulaw },
        Case { name: "no DTMF, no answer tone", dtmf: DtmfMode::Inband, answer_tone: false, tdm_law: Law::Mulaw },
        Case { name: "default, A-law span (transcoding)", dtmf: DtmfMode::Rfc4733, answer_tone: true, tdm_law: Law::Alaw },
    ];
    println!("Stream work per channel-second (20 ms PCMU, {STREAMS} streams, median of {ROUNDS} rounds of {SECONDS} s of audio):");
    for c in &cases {
        let us = run(c);
        println!("  {:<40} {:7.1} µs per ch·s  ({:4.1} % of a core at 1,024 channels)", c.name, us, us * 1024.0 / 1e4);
    }
}
