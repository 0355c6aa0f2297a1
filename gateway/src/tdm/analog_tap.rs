//! Call-progress detection over the media pump's audio tap: tone
//! disconnect after answer on FXO lines, and early media on outgoing E&M
//! calls.
//!
//! While the media pump reads a channel (its shell has lent it, see
//! [`super::analog_io`] and [`super::cas_io`]) the shell hears nothing. The
//! daemon therefore starts the streams of FXO ports and of E&M trunk
//! channels with `StreamSpec::tap`: the pump sends a copy of every block it
//! reads from the line (`PumpConfig::tap`), and [`spawn`]'s thread runs each
//! channel's detectors over them and tells its [`Listener`]:
//!
//! * an FXO port ([`Listener::Fxo`]): the zone detector's tones as
//!   [`LineInput::ToneDetected`], as the port's shell would report them; the
//!   FXO signalling core turns busy, reorder or dial tone into a disconnect
//!   when the port's `disconnect` settings enable it;
//! * an E&M channel ([`Listener::Cas`]): the zone detector's ringback, busy
//!   and reorder and a [`SitDetector`]'s SITs as
//!   [`CasLineInput::Progress`]; the CAS interface acts on them only on an
//!   outgoing call before answer (see [`super::cas`]).
//!
//! Each stream gets fresh detectors (keyed by stream id), so a tone's
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
use super::cas::{CallProgress, CasInput, CasLineInput};
use super::zones::{ProgressTone, SitDetector, ToneZone, ZoneDetector};

/// The signalling's name for a call-progress tone heard.
pub fn tone_of(t: ProgressTone) -> Tone {
    match t {
        ProgressTone::Dial => Tone::DialTone,
        ProgressTone::Ringback => Tone::Ringback,
        ProgressTone::Busy => Tone::Busy,
        ProgressTone::Reorder => Tone::Reorder,
    }
}

/// Who hears what a tapped channel's detectors recognise.
#[derive(Debug, Clone)]
pub enum Listener {
    /// An FXO port of tone zone `zone`: tones go to the analog interface.
    Fxo { zone: ToneZone, events: UnboundedSender<AnalogInput> },
    /// An E&M trunk channel of tone zone `zone`: tones and SITs go to the CAS interface.
    Cas { zone: ToneZone, events: UnboundedSender<CasInput> },
}

impl Listener {
    fn zone(&self) -> &ToneZone {
        match self {
            Listener::Fxo { zone, .. } | Listener::Cas { zone, .. } => zone,
        }
    }

    /// Reports a tone heard on `channo`; false once the listener is gone.
    fn tell(&self, channo: u32, heard: Heard) -> bool {
        match (self, heard) {
            (Listener::Fxo { events, .. }, Heard::Tone(t)) => events.send(AnalogInput { channo, input: LineInput::ToneDetected(tone_of(t)) }).is_ok(),
            (Listener::Fxo { .. }, Heard::Sit(_)) => true,
            (Listener::Cas { events, .. }, heard) => {
                let p = match heard {
                    Heard::Tone(ProgressTone::Ringback) => CallProgress::Ringback,
                    Heard::Tone(ProgressTone::Busy) => CallProgress::Busy,
                    Heard::Tone(ProgressTone::Reorder) => CallProgress::Reorder,
                    Heard::Tone(ProgressTone::Dial) => return true,
                    Heard::Sit(k) => CallProgress::Sit(k),
                };
                events.send(CasInput { channo, input: CasLineInput::Progress(p) }).is_ok()
            }
        }
    }
}

#[derive(Debug, Clone, Copy)]
enum Heard {
    Tone(ProgressTone),
    Sit(super::zones::SitKind),
}

/// One stream's detectors.
struct Detectors {
    stream: u64,
    zone: Option<ZoneDetector>,
    /// CAS listeners only.
    sit: Option<SitDetector>,
}

/// Runs the detectors of the channels in `listeners` (channel number → who
/// hears it and its tone zone) over the tapped blocks from `rx`. The thread
/// ends when the pump's side of the tap is gone.
pub fn spawn(rx: Receiver<TapBlock>, listeners: HashMap<u32, Listener>) -> std::io::Result<JoinHandle<()>> {
    std::thread::Builder::new().name("progress-tap".into()).spawn(move || run(rx, listeners))
}

fn run(rx: Receiver<TapBlock>, listeners: HashMap<u32, Listener>) {
    let mut detectors: HashMap<u32, Detectors> = HashMap::new();
    let mut pcm = [0i16; TAP_BLOCK];
    while let Ok(b) = rx.recv() {
        let Some(listener) = listeners.get(&b.channo) else { continue };
        let fresh = detectors.get(&b.channo).is_none_or(|d| d.stream != b.id);
        if fresh {
            let zone = ZoneDetector::new(listener.zone()).map_err(|e| tracing::warn!(channo = b.channo, error = %e, "no call-progress tone detection")).ok();
            let sit = matches!(listener, Listener::Cas { .. }).then(SitDetector::new);
            detectors.insert(b.channo, Detectors { stream: b.id, zone, sit });
        }
        let Some(det) = detectors.get_mut(&b.channo) else { continue };
        let codes = b.codes();
        let law = match b.law {
            Law::Mulaw => DspLaw::Mulaw,
            Law::Alaw => DspLaw::Alaw,
        };
        law.decode_slice(codes, &mut pcm[..codes.len()]);
        let pcm = &pcm[..codes.len()];
        let mut heard: [Option<Heard>; 5] = [None; 5];
        let mut k = 0;
        if let Some(kind) = det.sit.as_mut().and_then(|s| s.process(pcm)) {
            heard[k] = Some(Heard::Sit(kind));
            k += 1;
        }
        if let Some(z) = det.zone.as_mut() {
            z.process_with(pcm, |e| {
                if let DigitEvent::DigitDown { digit, .. } = e
                    && k < heard.len()
                {
                    heard[k] = Some(Heard::Tone(digit));
                    k += 1;
                }
            });
        }
        for h in heard.into_iter().flatten() {
            tracing::debug!(channo = b.channo, stream = b.id, heard = ?h, "call progress heard on a tapped stream");
            listener.tell(b.channo, h);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tdm::zones::{SitKind, ToneKind};
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

    /// Runs the tap over `feed` with `listener` (given its event sender) on
    /// channel 3 and returns the events it sent.
    fn tap_events<E>(feed: Vec<TapBlock>, listener: impl FnOnce(tokio::sync::mpsc::UnboundedSender<E>) -> Listener) -> Vec<E> {
        let (tx, rx) = crossbeam_channel::bounded(4096);
        let (etx, mut erx) = tokio::sync::mpsc::unbounded_channel();
        let t = spawn(rx, HashMap::from([(3, listener(etx))])).unwrap();
        for b in feed {
            tx.send(b).unwrap();
        }
        drop(tx);
        let end = Instant::now() + Duration::from_secs(10);
        while !t.is_finished() && Instant::now() < end {
            std::thread::sleep(Duration::from_millis(5));
        }
        std::iter::from_fn(|| erx.try_recv().ok()).collect()
    }

    fn heard(feed: Vec<TapBlock>) -> Vec<LineInput> {
        let zone = ToneZone::get("us").unwrap();
        let events = tap_events(feed, |events| Listener::Fxo { zone, events });
        events.into_iter().inspect(|a: &AnalogInput| assert_eq!(a.channo, 3)).map(|a| a.input).collect()
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

    /// What a CAS listener on channel 3 hears from `feed`.
    fn cas_heard(zone: ToneZone, feed: Vec<TapBlock>) -> Vec<CasLineInput> {
        let events = tap_events(feed, |events| Listener::Cas { zone, events });
        events.into_iter().inspect(|a: &CasInput| assert_eq!(a.channo, 3)).map(|a| a.input).collect()
    }

    fn sit_blocks(kind: SitKind, id: u64) -> Vec<TapBlock> {
        let mut lin = vec![0i16; 8 * 1500];
        crate::tdm::zones::ToneSequence::new(&kind.tones()).fill(&mut lin);
        lin.chunks(TAP_BLOCK)
            .map(|c| {
                let mut b = TapBlock { id, channo: 3, law: Law::Mulaw, len: c.len(), data: [0xFF; TAP_BLOCK] };
                DspLaw::Mulaw.encode_slice(c, &mut b.data[..c.len()]);
                b
            })
            .collect()
    }

    #[test]
    fn busy_tone_and_ringback_on_a_tapped_em_call_are_call_progress() {
        let zone = ToneZone::get("us").unwrap();
        assert_eq!(cas_heard(zone.clone(), blocks(&zone, ToneKind::Busy, 3000, 1)), vec![CasLineInput::Progress(CallProgress::Busy)]);
        let rb = cas_heard(zone.clone(), blocks(&zone, ToneKind::Ringback, 7000, 2));
        assert!(rb.contains(&CasLineInput::Progress(CallProgress::Ringback)), "{rb:?}");
    }

    #[test]
    fn a_sit_on_a_tapped_em_call_is_call_progress_with_its_kind() {
        let heard = cas_heard(ToneZone::get("us").unwrap(), sit_blocks(SitKind::VacantCode, 1));
        assert_eq!(heard, vec![CasLineInput::Progress(CallProgress::Sit(SitKind::VacantCode))]);
    }

    #[test]
    fn a_cas_listener_hears_its_own_zone() {
        // A UK busy tone (400 Hz, 375/375) is busy in the UK zone and nothing in the US one.
        let uk = ToneZone::get("uk").unwrap();
        assert_eq!(cas_heard(uk.clone(), blocks(&uk, ToneKind::Busy, 3000, 1)), vec![CasLineInput::Progress(CallProgress::Busy)]);
        let us = cas_heard(ToneZone::get("us").unwrap(), blocks(&uk, ToneKind::Busy, 3000, 1));
        assert!(!us.contains(&CasLineInput::Progress(CallProgress::Busy)), "{us:?}");
    }

    #[test]
    fn blocks_of_channels_without_a_zone_are_ignored() {
        let zone = ToneZone::get("us").unwrap();
        let feed = blocks(&zone, ToneKind::Busy, 3000, 1).into_iter().map(|b| TapBlock { channo: 9, ..b }).collect();
        assert!(heard(feed).is_empty());
    }
}
