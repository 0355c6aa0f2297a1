//! Two-of-six multifrequency signalling: Bell MF (R1) and MFC/R2, generators and streaming detectors.
//!
//! Both systems send a signal as two of six frequencies. Signals are numbered
//! 1..=15 by the pair they use ([`PAIRS`], the ITU-T Q.441 numbering); with
//! frequencies `f0..f5` signal 1 is `f0+f1`, 2 is `f0+f2`, 3 is `f1+f2`, 4 is
//! `f0+f3`, ... and 15 is `f4+f5`.
//!
//! * **R1 (Bell MF)**: 700, 900, 1100, 1300, 1500, 1700 Hz. Digits 1..9 are
//!   signals 1..9, digit 0 is signal 10 (1300+1500); KP = 1100+1700,
//!   ST = 1500+1700, ST' (STP) = 900+1700, ST'' (ST2P) = 1300+1700,
//!   ST''' (ST3P) = 700+1700 (see [`R1Signal`]). KP lasts 100 ms, other signals
//!   68 ms, with 68 ms gaps.
//! * **R2 forward** (register to register, outgoing): 1380..1980 Hz in 120 Hz
//!   steps; **R2 backward**: 1140 down to 540 Hz in 120 Hz steps. The meaning of
//!   signals 1..15 (group I/II/A/B) is up to the caller.
//!
//! One engine ([`MfDetector`]) serves all sets, parameterised by [`MfSet`]. The
//! R1 block is 80 samples (10 ms) so that the 200 Hz spacing is exactly two DFT
//! bins; R2 uses 133 samples, putting its 120 Hz spacing within 0.3 % of two bins.

use std::fmt;
use std::str::FromStr;

use crate::DigitEvent;
use crate::detector::{Debouncer, GoertzelBank, db_to_power_ratio};
use crate::tone::{Cadence, ToneSequencer, ToneSpec, dbm0_to_rms, ms_to_samples};

/// Frequency index pairs of signals 1..=15 (`PAIRS[code - 1]`).
pub const PAIRS: [(usize, usize); 15] =
    [(0, 1), (0, 2), (1, 2), (0, 3), (1, 3), (2, 3), (0, 4), (1, 4), (2, 4), (3, 4), (0, 5), (1, 5), (2, 5), (3, 5), (4, 5)];

/// The frequency indices of signal `code` (1..=15).
pub fn pair_for_code(code: u8) -> Option<(usize, usize)> {
    PAIRS.get(usize::from(code).checked_sub(1)?).copied()
}

/// The signal number (1..=15) sent with frequencies `a` and `b` (any order).
pub fn code_for_pair(a: usize, b: usize) -> Option<u8> {
    let key = (a.min(b), a.max(b));
    PAIRS.iter().position(|&p| p == key).map(|i| i as u8 + 1)
}

/// A signal that the chosen set cannot send.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("invalid MF signal {0}")]
pub struct InvalidSignal(pub String);

/// A six-frequency set with its generation and detection parameters.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct MfSet {
    /// Short name.
    pub name: &'static str,
    /// The six frequencies `f0..f5` in Hz.
    pub freqs: [f32; 6],
    /// Detector block length in samples.
    pub block_len: usize,
    /// Generated level of each frequency, dBm0.
    pub level_dbm0: f32,
    /// Default tone duration, ms.
    pub on_ms: u32,
    /// Default gap after each signal, ms.
    pub off_ms: u32,
    /// Detector: minimum level of each of the two tones, dBm0.
    pub min_level_dbm0: f32,
    /// Detector: maximum level difference between the two tones, dB.
    pub max_twist_db: f32,
    /// Detector: minimum margin of the weaker tone over the third strongest, dB.
    pub relative_peak_db: f32,
}

/// Bell MF / CCITT R1: 700..1700 Hz in 200 Hz steps.
pub const R1: MfSet = MfSet {
    name: "r1",
    freqs: [700.0, 900.0, 1100.0, 1300.0, 1500.0, 1700.0],
    block_len: 80,
    level_dbm0: -7.0,
    on_ms: 68,
    off_ms: 68,
    min_level_dbm0: -30.0,
    max_twist_db: 6.0,
    relative_peak_db: 10.0,
};

/// MFC/R2 forward signals: 1380..1980 Hz in 120 Hz steps.
pub const R2_FORWARD: MfSet = MfSet {
    name: "r2-forward",
    freqs: [1380.0, 1500.0, 1620.0, 1740.0, 1860.0, 1980.0],
    block_len: 133,
    level_dbm0: -8.0,
    on_ms: 100,
    off_ms: 100,
    min_level_dbm0: -35.0,
    max_twist_db: 7.0,
    relative_peak_db: 10.0,
};

/// MFC/R2 backward signals: 1140 down to 540 Hz in 120 Hz steps.
pub const R2_BACKWARD: MfSet = MfSet {
    name: "r2-backward",
    freqs: [1140.0, 1020.0, 900.0, 780.0, 660.0, 540.0],
    block_len: 133,
    level_dbm0: -8.0,
    on_ms: 100,
    off_ms: 100,
    min_level_dbm0: -35.0,
    max_twist_db: 7.0,
    relative_peak_db: 10.0,
};

/// Duration of KP in R1, ms.
pub const R1_KP_MS: u32 = 100;

impl MfSet {
    /// The two frequencies of signal `code` (1..=15).
    pub fn frequencies(&self, code: u8) -> Option<(f32, f32)> {
        pair_for_code(code).map(|(a, b)| (self.freqs[a], self.freqs[b]))
    }

    /// The tone for signal `code` with explicit timing.
    pub fn tone(&self, code: u8, on_ms: u32, off_ms: u32) -> Result<ToneSpec, InvalidSignal> {
        let (a, b) = self.frequencies(code).ok_or_else(|| InvalidSignal(code.to_string()))?;
        Ok(ToneSpec::dual(a, b, self.level_dbm0, Cadence::burst(on_ms, off_ms)))
    }
}

/// A Bell MF (R1) signal.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum R1Signal {
    /// Digit 0..=9.
    Digit(u8),
    /// KP (key pulse, start of digits): 1100+1700 Hz.
    Kp,
    /// ST (start / end of digits): 1500+1700 Hz.
    St,
    /// ST' (STP): 900+1700 Hz.
    StPrime,
    /// ST'' (ST2P): 1300+1700 Hz.
    St2Prime,
    /// ST''' (ST3P): 700+1700 Hz.
    St3Prime,
}

impl R1Signal {
    /// The signal number (1..=15); `None` for a digit above 9.
    pub fn code(self) -> Option<u8> {
        match self {
            R1Signal::Digit(0) => Some(10),
            R1Signal::Digit(d @ 1..=9) => Some(d),
            R1Signal::Digit(_) => None,
            R1Signal::St3Prime => Some(11),
            R1Signal::StPrime => Some(12),
            R1Signal::Kp => Some(13),
            R1Signal::St2Prime => Some(14),
            R1Signal::St => Some(15),
        }
    }

    /// The signal with number `code`.
    pub fn from_code(code: u8) -> Option<Self> {
        Some(match code {
            1..=9 => R1Signal::Digit(code),
            10 => R1Signal::Digit(0),
            11 => R1Signal::St3Prime,
            12 => R1Signal::StPrime,
            13 => R1Signal::Kp,
            14 => R1Signal::St2Prime,
            15 => R1Signal::St,
            _ => return None,
        })
    }

    /// Default tone duration: 100 ms for KP, 68 ms otherwise.
    pub fn default_on_ms(self) -> u32 {
        if self == R1Signal::Kp { R1_KP_MS } else { R1.on_ms }
    }

    /// All fifteen signals.
    pub fn all() -> impl Iterator<Item = R1Signal> {
        (1..=15).filter_map(R1Signal::from_code)
    }
}

impl fmt::Display for R1Signal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            R1Signal::Digit(d) => write!(f, "{d}"),
            R1Signal::Kp => f.write_str("KP"),
            R1Signal::St => f.write_str("ST"),
            R1Signal::StPrime => f.write_str("ST'"),
            R1Signal::St2Prime => f.write_str("ST''"),
            R1Signal::St3Prime => f.write_str("ST'''"),
        }
    }
}

impl FromStr for R1Signal {
    type Err = InvalidSignal;

    /// Accepts `0`..`9`, `KP`, `ST`, `ST'`/`STP`, `ST''`/`ST2P`, `ST'''`/`ST3P`
    /// (case-insensitive).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let up = s.trim().to_ascii_uppercase();
        Ok(match up.as_str() {
            "KP" => R1Signal::Kp,
            "ST" => R1Signal::St,
            "ST'" | "STP" => R1Signal::StPrime,
            "ST''" | "ST2P" => R1Signal::St2Prime,
            "ST'''" | "ST3P" => R1Signal::St3Prime,
            d if d.len() == 1 && d.as_bytes()[0].is_ascii_digit() => R1Signal::Digit(d.as_bytes()[0] - b'0'),
            _ => return Err(InvalidSignal(s.to_string())),
        })
    }
}

/// Parse an R1 sequence such as `"KP 2125551212 ST"` or `"KP5551212ST'"`:
/// digits, and the words KP, ST, ST', ST'', ST''', STP, ST2P, ST3P. Spaces,
/// `-` and `,` separate tokens and are otherwise ignored.
pub fn parse_r1_sequence(s: &str) -> Result<Vec<R1Signal>, InvalidSignal> {
    // Longest first, so that "ST'''" wins over "ST" and "ST2P" over "ST" + "2".
    const WORDS: [(&str, R1Signal); 8] = [
        ("ST'''", R1Signal::St3Prime),
        ("ST''", R1Signal::St2Prime),
        ("ST3P", R1Signal::St3Prime),
        ("ST2P", R1Signal::St2Prime),
        ("ST'", R1Signal::StPrime),
        ("STP", R1Signal::StPrime),
        ("ST", R1Signal::St),
        ("KP", R1Signal::Kp),
    ];
    let mut out = Vec::new();
    let mut rest = s;
    while let Some(c) = rest.chars().next() {
        if c.is_whitespace() || c == '-' || c == ',' {
            rest = &rest[c.len_utf8()..];
        } else if let Some(d) = c.to_digit(10) {
            out.push(R1Signal::Digit(d as u8));
            rest = &rest[1..];
        } else if let Some(&(word, sig)) = WORDS.iter().find(|(w, _)| rest.get(..w.len()).is_some_and(|head| head.eq_ignore_ascii_case(w))) {
            out.push(sig);
            rest = &rest[word.len()..];
        } else {
            let bad: String = rest.chars().take_while(|c| !c.is_whitespace()).collect();
            return Err(InvalidSignal(bad));
        }
    }
    Ok(out)
}

/// Streaming MF generator: queue signals, pull samples in chunks.
#[derive(Clone, Debug)]
pub struct MfGenerator {
    set: MfSet,
    sequencer: ToneSequencer,
}

impl MfGenerator {
    /// A generator for `set`.
    pub fn new(set: MfSet) -> Self {
        MfGenerator { set, sequencer: ToneSequencer::new() }
    }

    /// Queue signal `code` (1..=15) with the set's default timing.
    pub fn send(&mut self, code: u8) -> Result<(), InvalidSignal> {
        self.send_timed(code, self.set.on_ms, self.set.off_ms)
    }

    /// Queue signal `code` with explicit timing.
    pub fn send_timed(&mut self, code: u8, on_ms: u32, off_ms: u32) -> Result<(), InvalidSignal> {
        let t = self.set.tone(code, on_ms, off_ms)?;
        self.sequencer.push(t);
        Ok(())
    }

    /// Queue an R1 signal with R1 timing (KP 100 ms, others 68 ms, 68 ms gaps),
    /// using this generator's frequency set (normally [`R1`]).
    pub fn send_r1(&mut self, signal: R1Signal) -> Result<(), InvalidSignal> {
        let code = signal.code().ok_or_else(|| InvalidSignal(signal.to_string()))?;
        self.send_timed(code, signal.default_on_ms(), R1.off_ms)
    }

    /// Fill `out`; silence when idle. Returns the samples that came from signals.
    pub fn fill(&mut self, out: &mut [i16]) -> usize {
        self.sequencer.fill(out)
    }

    /// Whether everything queued has been played.
    pub fn is_idle(&self) -> bool {
        self.sequencer.is_idle()
    }

    /// Drop queued signals.
    pub fn clear(&mut self) {
        self.sequencer.clear();
    }
}

/// Generate signals `codes` of `set` with its default timing.
pub fn generate(set: &MfSet, codes: &[u8]) -> Result<Vec<i16>, InvalidSignal> {
    let mut g = MfGenerator::new(*set);
    let mut total = 0u64;
    for &c in codes {
        g.send(c)?;
        total += ms_to_samples(set.on_ms) + ms_to_samples(set.off_ms);
    }
    render(&mut g, total)
}

/// Generate an R1 sequence with R1 timing.
pub fn generate_r1(signals: &[R1Signal]) -> Result<Vec<i16>, InvalidSignal> {
    let mut g = MfGenerator::new(R1);
    let mut total = 0u64;
    for &s in signals {
        g.send_r1(s)?;
        total += ms_to_samples(s.default_on_ms()) + ms_to_samples(R1.off_ms);
    }
    render(&mut g, total)
}

fn render(g: &mut MfGenerator, total: u64) -> Result<Vec<i16>, InvalidSignal> {
    let len = usize::try_from(total).map_err(|_| InvalidSignal("sequence too long".into()))?;
    let mut out = vec![0; len];
    g.fill(&mut out);
    Ok(out)
}

/// Streaming two-of-six detector for any [`MfSet`]; events carry signal
/// numbers 1..=15.
#[derive(Clone, Debug)]
pub struct MfDetector {
    set: MfSet,
    bank: GoertzelBank<6>,
    debouncer: Debouncer<u8>,
    min_power: f32,
    twist: f32,
    relative_peak: f32,
}

/// Minimum share of the block power that the two tones must carry.
const MIN_TONE_FRACTION: f32 = 0.6;

impl MfDetector {
    /// A detector for `set`, needing two consecutive blocks to change state.
    pub fn new(set: MfSet) -> Self {
        MfDetector {
            set,
            bank: GoertzelBank::new(&set.freqs, set.block_len),
            debouncer: Debouncer::new(2),
            min_power: dbm0_to_rms(set.min_level_dbm0).powi(2),
            twist: db_to_power_ratio(set.max_twist_db),
            relative_peak: db_to_power_ratio(set.relative_peak_db),
        }
    }

    /// The frequency set.
    pub fn set(&self) -> &MfSet {
        &self.set
    }

    /// Feed samples; events are appended to `events`.
    pub fn process(&mut self, samples: &[i16], events: &mut Vec<DigitEvent<u8>>) {
        self.process_with(samples, |e| events.push(e));
    }

    /// Feed samples; events go to `on_event`.
    pub fn process_with(&mut self, samples: &[i16], mut on_event: impl FnMut(DigitEvent<u8>)) {
        for &x in samples {
            if let Some(block) = self.bank.push(x) {
                let code = self.classify(&block.powers, block.mean_square);
                self.debouncer.block(code, block.start, &mut on_event);
            }
        }
    }

    /// End of input: emit `DigitUp` for a signal still present.
    pub fn finish(&mut self, events: &mut Vec<DigitEvent<u8>>) {
        let at = self.bank.position();
        self.debouncer.finish(at, &mut |e| events.push(e));
    }

    /// The signal currently present.
    pub fn current(&self) -> Option<u8> {
        self.debouncer.current()
    }

    /// Samples processed so far.
    pub fn position(&self) -> u64 {
        self.bank.position()
    }

    /// Forget all state, including the sample position.
    pub fn reset(&mut self) {
        self.bank.reset();
        self.debouncer.reset();
    }

    fn classify(&self, p: &[f32; 6], mean_square: f32) -> Option<u8> {
        let mut idx = [0usize, 1, 2, 3, 4, 5];
        idx.sort_by(|&a, &b| p[b].total_cmp(&p[a]));
        let (p1, p2, p3) = (p[idx[0]], p[idx[1]], p[idx[2]]);
        if p2 < self.min_power || p1 > p2 * self.twist || p3 * self.relative_peak > p2 {
            return None;
        }
        if p1 + p2 < MIN_TONE_FRACTION * mean_square {
            return None;
        }
        code_for_pair(idx[0], idx[1])
    }
}

/// Streaming R1 detector reporting [`R1Signal`]s.
#[derive(Clone, Debug)]
pub struct R1Detector {
    inner: MfDetector,
}

impl Default for R1Detector {
    fn default() -> Self {
        Self::new()
    }
}

impl R1Detector {
    /// A detector for the [`R1`] set.
    pub fn new() -> Self {
        R1Detector { inner: MfDetector::new(R1) }
    }

    /// Feed samples; events are appended to `events`.
    pub fn process(&mut self, samples: &[i16], events: &mut Vec<DigitEvent<R1Signal>>) {
        self.process_with(samples, |e| events.push(e));
    }

    /// Feed samples; events go to `on_event`.
    pub fn process_with(&mut self, samples: &[i16], mut on_event: impl FnMut(DigitEvent<R1Signal>)) {
        self.inner.process_with(samples, |e| {
            if let Some(s) = R1Signal::from_code(e.digit()) {
                on_event(e.map(|_| s));
            }
        });
    }

    /// End of input: emit `DigitUp` for a signal still present.
    pub fn finish(&mut self, events: &mut Vec<DigitEvent<R1Signal>>) {
        let mut raw = Vec::new();
        self.inner.finish(&mut raw);
        events.extend(raw.into_iter().filter_map(|e| R1Signal::from_code(e.digit()).map(|s| e.map(|_| s))));
    }

    /// The signal currently present.
    pub fn current(&self) -> Option<R1Signal> {
        self.inner.current().and_then(R1Signal::from_code)
    }

    /// Forget all state.
    pub fn reset(&mut self) {
        self.inner.reset();
    }
}

/// Detect the signals (in order of `DigitDown`) in a complete recording.
pub fn detect_codes(set: &MfSet, samples: &[i16]) -> Vec<u8> {
    let mut d = MfDetector::new(*set);
    let mut out = Vec::new();
    d.process_with(samples, |e| {
        if e.is_down() {
            out.push(e.digit());
        }
    });
    out
}

/// Detect the R1 signals in a complete recording.
pub fn detect_r1(samples: &[i16]) -> Vec<R1Signal> {
    detect_codes(&R1, samples).into_iter().filter_map(R1Signal::from_code).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::g711::Law;
    use crate::test_util::{add, speech_like, white_noise};

    #[test]
    fn pairs_follow_the_two_of_six_numbering() {
        assert_eq!(pair_for_code(1), Some((0, 1)));
        assert_eq!(pair_for_code(10), Some((3, 4)));
        assert_eq!(pair_for_code(15), Some((4, 5)));
        assert_eq!(pair_for_code(0), None);
        assert_eq!(pair_for_code(16), None);
        for code in 1..=15 {
            let (a, b) = pair_for_code(code).unwrap();
            assert_eq!(code_for_pair(b, a), Some(code));
        }
        assert_eq!(code_for_pair(2, 2), None);
    }

    #[test]
    fn r1_signals_use_the_bell_frequencies() {
        let f = |s: R1Signal| R1.frequencies(s.code().unwrap()).unwrap();
        assert_eq!(f(R1Signal::Digit(1)), (700.0, 900.0));
        assert_eq!(f(R1Signal::Digit(0)), (1300.0, 1500.0));
        assert_eq!(f(R1Signal::Kp), (1100.0, 1700.0));
        assert_eq!(f(R1Signal::St), (1500.0, 1700.0));
        assert_eq!(f(R1Signal::StPrime), (900.0, 1700.0));
        assert_eq!(f(R1Signal::St2Prime), (1300.0, 1700.0));
        assert_eq!(f(R1Signal::St3Prime), (700.0, 1700.0));
        assert_eq!(R1Signal::Digit(12).code(), None);
        assert_eq!(R1Signal::all().count(), 15);
    }

    #[test]
    fn r2_sets_step_by_120_hz() {
        for i in 0..6 {
            assert_eq!(R2_FORWARD.freqs[i], 1380.0 + 120.0 * i as f32);
            assert_eq!(R2_BACKWARD.freqs[i], 1140.0 - 120.0 * i as f32);
        }
    }

    #[test]
    fn r1_every_signal_round_trips_through_ulaw() {
        let mut seq = vec![R1Signal::Kp];
        seq.extend((0..=9).map(R1Signal::Digit));
        seq.extend([R1Signal::St, R1Signal::StPrime, R1Signal::St2Prime, R1Signal::St3Prime]);
        let mut s = generate_r1(&seq).unwrap();
        Law::Mulaw.compand_in_place(&mut s);
        assert_eq!(detect_r1(&s), seq);
    }

    #[test]
    fn r1_timing_is_100_ms_kp_and_68_ms_others() {
        let s = generate_r1(&[R1Signal::Kp, R1Signal::Digit(5)]).unwrap();
        assert_eq!(s.len(), (100 + 68 + 68 + 68) * 8);
        assert!(s[..800].iter().any(|&x| x != 0));
        assert!(s[800..1344].iter().all(|&x| x == 0));
    }

    #[test]
    fn r2_forward_and_backward_every_signal_round_trips() {
        let codes: Vec<u8> = (1..=15).collect();
        for set in [R2_FORWARD, R2_BACKWARD] {
            for law in [Law::Alaw, Law::Mulaw] {
                let mut s = generate(&set, &codes).unwrap();
                law.compand_in_place(&mut s);
                assert_eq!(detect_codes(&set, &s), codes, "{} {law:?}", set.name);
            }
        }
    }

    #[test]
    fn mf_detection_survives_20_db_snr_and_any_chunking() {
        let codes: Vec<u8> = (1..=15).rev().collect();
        for set in [R1, R2_FORWARD, R2_BACKWARD] {
            let mut s = generate(&set, &codes).unwrap();
            // Two tones at L dBm0 each: total L + 3 dB.
            let noise = white_noise(s.len(), set.level_dbm0 + 3.0 - 20.0, 9);
            add(&mut s, &noise);
            for chunk in [1usize, 8, 133, 1000] {
                let mut d = MfDetector::new(set);
                let mut ev = Vec::new();
                for c in s.chunks(chunk) {
                    d.process(c, &mut ev);
                }
                let got: Vec<u8> = ev.iter().filter(|e| e.is_down()).map(|e| e.digit()).collect();
                assert_eq!(got, codes, "{} chunk {chunk}", set.name);
            }
        }
    }

    #[test]
    fn r2_detector_ignores_the_other_direction() {
        let codes: Vec<u8> = (1..=15).collect();
        let s = generate(&R2_BACKWARD, &codes).unwrap();
        assert!(detect_codes(&R2_FORWARD, &s).is_empty());
    }

    #[test]
    fn r1_detector_reports_up_and_down_with_positions() {
        let s = generate_r1(&[R1Signal::Kp, R1Signal::St]).unwrap();
        let mut d = R1Detector::new();
        let mut ev = Vec::new();
        for c in s.chunks(8) {
            d.process(c, &mut ev);
        }
        d.finish(&mut ev);
        assert_eq!(ev.len(), 4);
        assert_eq!(ev[0].digit(), R1Signal::Kp);
        assert!(ev[0].is_down() && ev[0].at() <= 80);
        assert!(!ev[1].is_down() && ev[1].at().abs_diff(800) <= 80);
        assert_eq!(ev[2].digit(), R1Signal::St);
        assert!(ev[2].at().abs_diff(1344) <= 80);
    }

    #[test]
    fn mf_detectors_stay_quiet_on_speech_and_single_tones() {
        let speech = speech_like(8000 * 4, -10.0, 5);
        let mut tone = vec![0i16; 8000];
        crate::tone::Oscillator::new(1100.0, -5.0).fill(&mut tone);
        for set in [R1, R2_FORWARD, R2_BACKWARD] {
            assert!(detect_codes(&set, &speech).is_empty(), "{}", set.name);
            assert!(detect_codes(&set, &tone).is_empty(), "{}", set.name);
        }
    }

    #[test]
    fn invalid_signals_are_rejected() {
        assert!(generate(&R1, &[0]).is_err());
        assert!(generate(&R1, &[16]).is_err());
        assert!(generate_r1(&[R1Signal::Digit(10)]).is_err());
        let mut g = MfGenerator::new(R2_FORWARD);
        assert!(g.send(99).is_err());
        assert!(g.is_idle());
    }

    #[test]
    fn r1_sequences_parse_and_print() {
        let seq = parse_r1_sequence("KP 212-555 1212 ST").unwrap();
        assert_eq!(seq.len(), 12);
        assert_eq!(seq[0], R1Signal::Kp);
        assert_eq!(seq[11], R1Signal::St);
        let seq = parse_r1_sequence("KP0ST'ST''ST'''STP ST2P st3p").unwrap();
        assert_eq!(
            seq,
            vec![
                R1Signal::Kp,
                R1Signal::Digit(0),
                R1Signal::StPrime,
                R1Signal::St2Prime,
                R1Signal::St3Prime,
                R1Signal::StPrime,
                R1Signal::St2Prime,
                R1Signal::St3Prime
            ]
        );
        assert_eq!(parse_r1_sequence("KP 1 ST2 ").unwrap().last(), Some(&R1Signal::Digit(2)));
        assert!(parse_r1_sequence("KP X").is_err());
        assert!(parse_r1_sequence("KP #").is_err());
        let text: Vec<String> = seq.iter().map(|s| s.to_string()).collect();
        assert_eq!(text[2], "ST'");
        assert_eq!("st'''".parse::<R1Signal>(), Ok(R1Signal::St3Prime));
    }
}
