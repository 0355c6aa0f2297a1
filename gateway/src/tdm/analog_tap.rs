//! Tone disconnect supervision after answer on FXO lines, over the media
//! pump's audio tap.
//!
//! Once an FXO call is answered the media pump reads the port's channel
//! (the port's shell has lent it, see [`super::analog_io`]), so the shell's
//! call-progress detector hears nothing. The daemon therefore starts FXO
//! streams with `StreamSpec::tap`: the pump sends a copy of every block it
//! reads from the line (`PumpConfig::tap`), and [`spawn`]'s thread runs
//! each port's zone detector ([`ZoneDetector`]) over them. Tones heard are
//! reported as [`LineInput::ToneDetected`], as the shell would report them;
//! the FXO signalling core turns busy, reorder or dial tone into a
//! disconnect when the port's `disconnect` settings enable it.
//!
//! Each stream gets a fresh detector (keyed by stream id), so a tone's
//! cadence is never pieced together across calls. The detectors (spandsp's,
//! not `Send`) live on this thread only.

use std::collections::HashMap;
use std::thread::JoinHandle;

use crossbeam_channel::Receiver;
use tandem_dsp::DigitEvent;
use tandem_dsp::g711::Law as DspLaw;
use tandem_media::codec::Law;
use tandem_media::pump::{TAP_BLOCK, TapBlock};
use tandem_signalling::{LineInput, Tone};
use tokio::sync::mpsc::UnboundedSender;

use super::analog::AnalogInput;
use super::zones::{ProgressTone, ToneZone, ZoneDetector};

/// The signalling's name for a call-progress tone heard.
pub fn tone_of(t: ProgressTone) -> Tone {
    match t {
        ProgressTone::Dial => Tone::DialTone,
        ProgressTone::Ringback => Tone::Ringback,
        ProgressTone::Busy => Tone::Busy,
        ProgressTone::Reorder => Tone::Reorder,
    }
}

/// Runs the zone detectors of the FXO ports in `zones` (channel number →
/// the port's tone zone) over the tapped blocks from `rx`, sending the tones
/// heard to `events`. The thread ends when the pump's side of the tap or
/// `events` is gone.
pub fn spawn(rx: Receiver<TapBlock>, zones: HashMap<u32, ToneZone>, events: UnboundedSender<AnalogInput>) -> std::io::Result<JoinHandle<()>> {
    std::thread::Builder::new().name("analog-tap".into()).spawn(move || run(rx, zones, events))
}

fn run(rx: Receiver<TapBlock>, zones: HashMap<u32, ToneZone>, events: UnboundedSender<AnalogInput>) {
    // Per channel: the stream whose audio the detector has heard, and the detector.
    let mut detectors: HashMap<u32, (u64, Option<ZoneDetector>)> = HashMap::new();
    let mut pcm = [0i16; TAP_BLOCK];
    while let Ok(b) = rx.recv() {
        let Some(zone) = zones.get(&b.channo) else { continue };
        let entry = detectors.entry(b.channo).or_insert((0, None));
        if entry.0 != b.id || entry.1.is_none() {
            entry.0 = b.id;
            entry.1 = ZoneDetector::new(zone).map_err(|e| tracing::warn!(channo = b.channo, error = %e, "no tone disconnect detection")).ok();
        }
        let Some(det) = entry.1.as_mut() else { continue };
        let codes = b.codes();
        let law = match b.law {
            Law::Mulaw => DspLaw::Mulaw,
            Law::Alaw => DspLaw::Alaw,
        };
        law.decode_slice(codes, &mut pcm[..codes.len()]);
        let mut heard: [Option<ProgressTone>; 4] = [None; 4];
        let mut k = 0;
        det.process_with(&pcm[..codes.len()], |e| {
            if let DigitEvent::DigitDown { digit, .. } = e
                && k < heard.len()
            {
                heard[k] = Some(digit);
                k += 1;
            }
        });
        for t in heard.into_iter().flatten() {
            let tone = tone_of(t);
            tracing::debug!(channo = b.channo, stream = b.id, ?tone, "tone heard on an answered line");
            if events.send(AnalogInput { channo: b.channo, input: LineInput::ToneDetected(tone) }).is_err() {
                return;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tdm::zones::ToneKind;
    use std::time::{Duration, Instant};

    fn blocks(zone: &ToneZone, kind: ToneKind, ms: usize, id: u64) -> Vec<TapBlock> {
        let mut lin = vec![0i16; ms * 8];
        zone.generator(kind).fill(&mut lin);
        lin.chunks(TAP_BLOCK)
            .map(|c| {
                let mut b = TapBlock { id, channo: 3, law: Law::Mulaw, len: c.len(), data: [0xFF; TAP_BLOCK] };
                DspLaw::Mulaw.encode_slice(c, &mut b.data[..c.len()]);
                b
            })
            .collect()
    }

    fn heard(feed: Vec<TapBlock>) -> Vec<LineInput> {
        let zone = ToneZone::get("us").unwrap();
        let (tx, rx) = crossbeam_channel::bounded(4096);
        let (etx, mut erx) = tokio::sync::mpsc::unbounded_channel();
        let t = spawn(rx, HashMap::from([(3, zone)]), etx).unwrap();
        for b in feed {
            tx.send(b).unwrap();
        }
        drop(tx);
        let end = Instant::now() + Duration::from_secs(10);
        while !t.is_finished() && Instant::now() < end {
            std::thread::sleep(Duration::from_millis(5));
        }
        let mut v = Vec::new();
        while let Ok(a) = erx.try_recv() {
            assert_eq!(a.channo, 3);
            v.push(a.input);
        }
        v
    }

    #[test]
    fn busy_tone_on_a_tapped_line_is_reported_as_busy() {
        let zone = ToneZone::get("us").unwrap();
        assert_eq!(heard(blocks(&zone, ToneKind::Busy, 3000, 1)), vec![LineInput::ToneDetected(Tone::Busy)]);
    }

    #[test]
    fn reorder_and_dial_tone_are_reported() {
        let zone = ToneZone::get("us").unwrap();
        assert!(heard(blocks(&zone, ToneKind::Reorder, 2500, 1)).contains(&LineInput::ToneDetected(Tone::Reorder)));
        // A continuous tone must outlast the longest ringback burst (2 s in the US zone) first.
        assert!(heard(blocks(&zone, ToneKind::Dial, 4000, 1)).contains(&LineInput::ToneDetected(Tone::DialTone)));
    }

    #[test]
    fn each_call_gets_a_fresh_detector() {
        let zone = ToneZone::get("us").unwrap();
        let mut feed = blocks(&zone, ToneKind::Busy, 3000, 1);
        feed.extend(blocks(&zone, ToneKind::Busy, 3000, 2));
        assert_eq!(heard(feed), vec![LineInput::ToneDetected(Tone::Busy); 2]);
    }

    #[test]
    fn blocks_of_channels_without_a_zone_are_ignored() {
        let zone = ToneZone::get("us").unwrap();
        let feed = blocks(&zone, ToneKind::Busy, 3000, 1).into_iter().map(|b| TapBlock { channo: 9, ..b }).collect();
        assert!(heard(feed).is_empty());
    }
}
