//! DTMF (ITU-T Q.23 / Q.24) digit generation and streaming detection.
//!
//! Digits are `0-9 * # A B C D` (lower-case `a-d` accepted on input).
//!
//! The detector runs eight Goertzel filters over blocks of 102 samples
//! (12.75 ms) and accepts a block as a digit when:
//!
//! * the strongest row and column tones are each above a minimum level;
//! * their twist (level difference) is within limits, separately for the high
//!   group stronger ("normal twist") and the low group stronger ("reverse");
//! * each beats the other tones of its group by a relative-peak margin;
//! * together they carry most of the block's power (rejects speech and noise).
//!
//! A digit goes down after two consecutive blocks agree and up after two
//! consecutive blocks show something else, which means the shortest digit
//! detected is about 26 ms and the shortest gap about 26 ms.

use crate::DigitEvent;
use crate::detector::{Debouncer, GoertzelBank, db_to_power_ratio};
use crate::tone::{Cadence, ToneSequencer, ToneSpec, dbm0_to_rms};

/// Low-group (row) frequencies in Hz.
pub const ROW_FREQS: [f32; 4] = [697.0, 770.0, 852.0, 941.0];
/// High-group (column) frequencies in Hz.
pub const COL_FREQS: [f32; 4] = [1209.0, 1336.0, 1477.0, 1633.0];

const KEYPAD: [[char; 4]; 4] = [['1', '2', '3', 'A'], ['4', '5', '6', 'B'], ['7', '8', '9', 'C'], ['*', '0', '#', 'D']];

/// All sixteen DTMF digits.
pub const DIGITS: &str = "0123456789*#ABCD";

/// A character that is not a DTMF digit.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("invalid DTMF digit {0:?}")]
pub struct InvalidDigit(pub char);

fn position_of(digit: char) -> Option<(usize, usize)> {
    let d = digit.to_ascii_uppercase();
    KEYPAD.iter().enumerate().find_map(|(r, row)| row.iter().position(|&c| c == d).map(|col| (r, col)))
}

/// The (low, high) frequency pair of a digit.
pub fn tone_pair(digit: char) -> Option<(f32, f32)> {
    position_of(digit).map(|(r, c)| (ROW_FREQS[r], COL_FREQS[c]))
}

/// The digit at keypad row `row` and column `col` (both 0..4).
pub fn digit_at(row: usize, col: usize) -> Option<char> {
    KEYPAD.get(row).and_then(|r| r.get(col)).copied()
}

/// Whether `c` is a DTMF digit.
pub fn is_digit(c: char) -> bool {
    position_of(c).is_some()
}

/// Timing and levels of generated digits.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct DtmfConfig {
    /// Tone duration in ms.
    pub on_ms: u32,
    /// Silence after each digit in ms.
    pub off_ms: u32,
    /// Level of the low-group tone in dBm0.
    pub low_level_dbm0: f32,
    /// Level of the high-group tone in dBm0 (usually ~2 dB above the low one).
    pub high_level_dbm0: f32,
}

impl Default for DtmfConfig {
    /// 100 ms on, 100 ms off, −7 dBm0 low group, −5 dBm0 high group.
    fn default() -> Self {
        DtmfConfig { on_ms: 100, off_ms: 100, low_level_dbm0: -7.0, high_level_dbm0: -5.0 }
    }
}

impl DtmfConfig {
    /// The tone (with its on/off burst) for one digit.
    pub fn tone(&self, digit: char) -> Result<ToneSpec, InvalidDigit> {
        let (lo, hi) = tone_pair(digit).ok_or(InvalidDigit(digit))?;
        Ok(ToneSpec::dual_levels(lo, self.low_level_dbm0, hi, self.high_level_dbm0, Cadence::burst(self.on_ms, self.off_ms)))
    }

    /// The tones for a digit string; fails on the first invalid character.
    pub fn tones(&self, digits: &str) -> Result<Vec<ToneSpec>, InvalidDigit> {
        digits.chars().map(|d| self.tone(d)).collect()
    }
}

/// Generate a whole digit string (each digit followed by its off time).
///
/// The whole signal is allocated at once; use [`DtmfGenerator`] to stream.
pub fn generate(digits: &str, config: &DtmfConfig) -> Result<Vec<i16>, InvalidDigit> {
    let mut g = DtmfGenerator::new(*config);
    g.dial(digits)?;
    let per_digit = crate::tone::ms_to_samples(config.on_ms) + crate::tone::ms_to_samples(config.off_ms);
    let total = per_digit.saturating_mul(digits.chars().count() as u64);
    let mut out = vec![0; usize::try_from(total).unwrap_or(0)];
    g.fill(&mut out);
    Ok(out)
}

/// Streaming DTMF generator: queue digits, pull samples in chunks.
#[derive(Clone, Debug, Default)]
pub struct DtmfGenerator {
    config: DtmfConfig,
    sequencer: ToneSequencer,
}

impl DtmfGenerator {
    /// A generator with the given timing and levels.
    pub fn new(config: DtmfConfig) -> Self {
        DtmfGenerator { config, sequencer: ToneSequencer::new() }
    }

    /// Queue digits. Nothing is queued if any character is invalid.
    pub fn dial(&mut self, digits: &str) -> Result<(), InvalidDigit> {
        let tones = self.config.tones(digits)?;
        self.sequencer.extend(tones);
        Ok(())
    }

    /// Fill `out`; silence when idle. Returns the samples that came from digits.
    pub fn fill(&mut self, out: &mut [i16]) -> usize {
        self.sequencer.fill(out)
    }

    /// Whether all queued digits have been played.
    pub fn is_idle(&self) -> bool {
        self.sequencer.is_idle()
    }

    /// Drop queued digits.
    pub fn clear(&mut self) {
        self.sequencer.clear();
    }
}

/// Detector thresholds.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct DtmfDetectorConfig {
    /// Samples per analysis block (102 or 105 are usual).
    pub block_len: usize,
    /// Minimum level of each of the two tones, dBm0.
    pub min_level_dbm0: f32,
    /// Maximum dB by which the high tone may exceed the low tone.
    pub max_normal_twist_db: f32,
    /// Maximum dB by which the low tone may exceed the high tone.
    pub max_reverse_twist_db: f32,
    /// Minimum dB by which each tone must beat the others of its group.
    pub relative_peak_db: f32,
    /// Minimum share of the block power in the two tones (0..1).
    pub min_tone_fraction: f32,
    /// Consecutive agreeing blocks needed to change state.
    pub min_blocks: u32,
}

impl Default for DtmfDetectorConfig {
    fn default() -> Self {
        DtmfDetectorConfig {
            block_len: 102,
            min_level_dbm0: -32.0,
            max_normal_twist_db: 8.0,
            max_reverse_twist_db: 8.0,
            relative_peak_db: 6.0,
            min_tone_fraction: 0.6,
            min_blocks: 2,
        }
    }
}

/// Streaming DTMF detector; feed chunks of any size.
#[derive(Clone, Debug)]
pub struct DtmfDetector {
    bank: GoertzelBank<8>,
    debouncer: Debouncer<char>,
    min_power: f32,
    normal_twist: f32,
    reverse_twist: f32,
    relative_peak: f32,
    min_fraction: f32,
}

impl Default for DtmfDetector {
    fn default() -> Self {
        Self::new()
    }
}

impl DtmfDetector {
    /// A detector with the default thresholds.
    pub fn new() -> Self {
        Self::with_config(DtmfDetectorConfig::default())
    }

    /// A detector with explicit thresholds.
    pub fn with_config(config: DtmfDetectorConfig) -> Self {
        let mut freqs = [0f32; 8];
        freqs[..4].copy_from_slice(&ROW_FREQS);
        freqs[4..].copy_from_slice(&COL_FREQS);
        DtmfDetector {
            bank: GoertzelBank::new(&freqs, config.block_len),
            debouncer: Debouncer::new(config.min_blocks),
            min_power: dbm0_to_rms(config.min_level_dbm0).powi(2),
            normal_twist: db_to_power_ratio(config.max_normal_twist_db),
            reverse_twist: db_to_power_ratio(config.max_reverse_twist_db),
            relative_peak: db_to_power_ratio(config.relative_peak_db),
            min_fraction: config.min_tone_fraction,
        }
    }

    /// Feed samples; events are appended to `events`.
    pub fn process(&mut self, samples: &[i16], events: &mut Vec<DigitEvent>) {
        self.process_with(samples, |e| events.push(e));
    }

    /// Feed samples; events go to `on_event`.
    pub fn process_with(&mut self, samples: &[i16], mut on_event: impl FnMut(DigitEvent)) {
        for &x in samples {
            if let Some(block) = self.bank.push(x) {
                let digit = self.classify(&block.powers, block.mean_square);
                self.debouncer.block(digit, block.start, &mut on_event);
            }
        }
    }

    /// End of input: emit `DigitUp` for a digit still down.
    pub fn finish(&mut self, events: &mut Vec<DigitEvent>) {
        let at = self.bank.position();
        self.debouncer.finish(at, &mut |e| events.push(e));
    }

    /// The digit currently down.
    pub fn current(&self) -> Option<char> {
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

    fn classify(&self, p: &[f32; 8], mean_square: f32) -> Option<char> {
        let (row, r) = argmax(&p[..4]);
        let (col, c) = argmax(&p[4..]);
        if r < self.min_power || c < self.min_power {
            return None;
        }
        if c > r * self.normal_twist || r > c * self.reverse_twist {
            return None;
        }
        let beats = |group: &[f32], best: usize, peak: f32| group.iter().enumerate().all(|(i, &q)| i == best || q * self.relative_peak <= peak);
        if !beats(&p[..4], row, r) || !beats(&p[4..], col, c) {
            return None;
        }
        if r + c < self.min_fraction * mean_square {
            return None;
        }
        digit_at(row, col)
    }
}

fn argmax(v: &[f32]) -> (usize, f32) {
    let mut best = (0, f32::MIN);
    for (i, &x) in v.iter().enumerate() {
        if x > best.1 {
            best = (i, x);
        }
    }
    best
}

/// Detect the digits in a complete recording (in order of `DigitDown`).
pub fn detect_digits(samples: &[i16]) -> String {
    let mut d = DtmfDetector::new();
    let mut s = String::new();
    d.process_with(samples, |e| {
        if let DigitEvent::DigitDown { digit, .. } = e {
            s.push(digit);
        }
    });
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::g711::Law;
    use crate::goertzel::level_dbm0;
    use crate::test_util::{add, speech_like, white_noise};
    use crate::tone::{Oscillator, dbm0_to_peak};

    fn events_for(samples: &[i16], chunk: usize) -> Vec<DigitEvent> {
        let mut d = DtmfDetector::new();
        let mut ev = Vec::new();
        for c in samples.chunks(chunk.max(1)) {
            d.process(c, &mut ev);
        }
        d.finish(&mut ev);
        ev
    }

    #[test]
    fn every_digit_has_its_keypad_frequencies() {
        assert_eq!(tone_pair('1'), Some((697.0, 1209.0)));
        assert_eq!(tone_pair('0'), Some((941.0, 1336.0)));
        assert_eq!(tone_pair('#'), Some((941.0, 1477.0)));
        assert_eq!(tone_pair('d'), Some((941.0, 1633.0)));
        assert_eq!(tone_pair('x'), None);
        assert_eq!(digit_at(4, 0), None);
        assert!(DIGITS.chars().all(is_digit));
    }

    #[test]
    fn generator_rejects_invalid_digits_without_queueing_any() {
        let mut g = DtmfGenerator::new(DtmfConfig::default());
        assert_eq!(g.dial("12x3"), Err(InvalidDigit('x')));
        assert!(g.is_idle());
        assert!(generate("5 5", &DtmfConfig::default()).is_err());
    }

    #[test]
    fn generated_digit_has_the_configured_levels_and_timing() {
        let s = generate("5", &DtmfConfig::default()).unwrap();
        assert_eq!(s.len(), 1600);
        let total = level_dbm0(&s[..800]);
        // -7 dBm0 and -5 dBm0 add up to about -2.88 dBm0.
        assert!((total + 2.88).abs() < 0.1, "{total}");
        assert!(s[800..].iter().all(|&x| x == 0));
    }

    #[test]
    fn all_sixteen_digits_are_detected_in_order() {
        let s = generate(DIGITS, &DtmfConfig::default()).unwrap();
        assert_eq!(detect_digits(&s), DIGITS);
    }

    #[test]
    fn all_digits_survive_ulaw_and_alaw() {
        let s = generate(DIGITS, &DtmfConfig::default()).unwrap();
        for law in [Law::Mulaw, Law::Alaw] {
            let mut c = s.clone();
            law.compand_in_place(&mut c);
            assert_eq!(detect_digits(&c), DIGITS, "{law:?}");
        }
    }

    #[test]
    fn all_digits_are_detected_with_noise_at_20_db_snr() {
        let mut s = generate(DIGITS, &DtmfConfig::default()).unwrap();
        let noise = white_noise(s.len(), -2.88 - 20.0, 42);
        add(&mut s, &noise);
        Law::Mulaw.compand_in_place(&mut s);
        assert_eq!(detect_digits(&s), DIGITS);
    }

    #[test]
    fn detection_does_not_depend_on_chunk_size() {
        let s = generate("159#D", &DtmfConfig::default()).unwrap();
        let reference = events_for(&s, s.len());
        assert_eq!(reference.len(), 10);
        for chunk in [1, 8, 37, 160] {
            assert_eq!(events_for(&s, chunk), reference, "chunk {chunk}");
        }
    }

    #[test]
    fn events_carry_sample_positions_near_the_tone_edges() {
        let s = generate("42", &DtmfConfig::default()).unwrap();
        let ev = events_for(&s, 160);
        assert_eq!(ev.len(), 4);
        let expect = [(true, '4', 0u64), (false, '4', 800), (true, '2', 1600), (false, '2', 2400)];
        for (e, &(down, digit, at)) in ev.iter().zip(&expect) {
            assert_eq!(e.is_down(), down);
            assert_eq!(e.digit(), digit);
            assert!(e.at() + 102 >= at && e.at() <= at + 102, "{e:?} vs {at}");
        }
    }

    #[test]
    fn frequency_deviation_within_1_5_percent_is_accepted_and_3_5_percent_rejected() {
        let with_offset = |d: char, dev: f32| {
            let (lo, hi) = tone_pair(d).unwrap();
            ToneSpec::dual_levels(lo * (1.0 + dev), -7.0, hi * (1.0 + dev), -5.0, Cadence::burst(100, 100)).render(1600)
        };
        for d in DIGITS.chars() {
            for dev in [-0.015, 0.015] {
                assert_eq!(detect_digits(&with_offset(d, dev)), d.to_string(), "{d} {dev}");
            }
            for dev in [-0.035, 0.035] {
                assert_eq!(detect_digits(&with_offset(d, dev)), "", "{d} {dev}");
            }
        }
    }

    #[test]
    fn short_tones_and_gaps_follow_the_two_block_rule() {
        let cfg = DtmfConfig { on_ms: 40, off_ms: 40, ..DtmfConfig::default() };
        let s = generate("123", &cfg).unwrap();
        assert_eq!(detect_digits(&s), "123");
        let cfg = DtmfConfig { on_ms: 20, off_ms: 40, ..DtmfConfig::default() };
        let s = generate("123", &cfg).unwrap();
        assert_eq!(detect_digits(&s), "");
    }

    #[test]
    fn a_held_digit_is_released_by_finish() {
        let cfg = DtmfConfig { on_ms: 200, off_ms: 0, ..DtmfConfig::default() };
        let s = generate("7", &cfg).unwrap();
        let mut d = DtmfDetector::new();
        let mut ev = Vec::new();
        d.process(&s, &mut ev);
        assert_eq!(d.current(), Some('7'));
        d.finish(&mut ev);
        assert_eq!(ev.last(), Some(&DigitEvent::DigitUp { digit: '7', at: 1600 }));
        assert_eq!(d.current(), None);
    }

    #[test]
    fn excessive_twist_is_rejected() {
        let cfg = DtmfConfig { low_level_dbm0: -3.0, high_level_dbm0: -20.0, ..DtmfConfig::default() };
        assert_eq!(detect_digits(&generate("5", &cfg).unwrap()), "");
        let cfg = DtmfConfig { low_level_dbm0: -20.0, high_level_dbm0: -3.0, ..DtmfConfig::default() };
        assert_eq!(detect_digits(&generate("5", &cfg).unwrap()), "");
    }

    #[test]
    fn quiet_digits_below_the_minimum_level_are_ignored() {
        let cfg = DtmfConfig { low_level_dbm0: -40.0, high_level_dbm0: -40.0, ..DtmfConfig::default() };
        assert_eq!(detect_digits(&generate("5", &cfg).unwrap()), "");
        let cfg = DtmfConfig { low_level_dbm0: -25.0, high_level_dbm0: -25.0, ..DtmfConfig::default() };
        assert_eq!(detect_digits(&generate("5", &cfg).unwrap()), "5");
    }

    #[test]
    fn no_digits_in_speech_like_signals() {
        for seed in 0..4 {
            for level in [-25.0, -15.0, -5.0] {
                let mut s = speech_like(8000 * 5, level, seed);
                Law::Mulaw.compand_in_place(&mut s);
                assert_eq!(detect_digits(&s), "", "seed {seed} level {level}");
            }
        }
    }

    #[test]
    fn no_digits_in_white_noise_or_a_1khz_tone() {
        let noise = white_noise(8000 * 5, -10.0, 3);
        assert_eq!(detect_digits(&noise), "");
        let mut tone = vec![0i16; 8000 * 2];
        Oscillator::new(1000.0, -10.0).fill(&mut tone);
        assert_eq!(detect_digits(&tone), "");
        // A single row tone alone is not a digit either.
        Oscillator::new(697.0, -10.0).fill(&mut tone);
        assert_eq!(detect_digits(&tone), "");
    }

    #[test]
    fn full_scale_garbage_does_not_panic() {
        let mut s: Vec<i16> = (0..20_000).map(|i| if i % 3 == 0 { i16::MAX } else { i16::MIN }).collect();
        s.extend(std::iter::repeat_n(dbm0_to_peak(3.0) as i16, 1000));
        let _ = detect_digits(&s);
        let _ = detect_digits(&[]);
    }
}
