//! Detection of the 2100 Hz answer tone of fax machines and modems
//! (ITU-T V.25 ANS, with or without phase reversals, and V.8 ANSam with
//! its 15 Hz amplitude modulation), sans-IO.
//!
//! The pump runs one detector per direction of every stream: on a
//! detection the stream goes to data mode (fixed jitter buffer, no PLC, no
//! DTMF muting) and the channel's echo canceller is switched off, as
//! ITU-T G.168 §9 / V.25 ask of cancellers that hear the answer tone.
//!
//! # Method
//!
//! Samples are taken in windows of [`WINDOW`] samples (20 ms). For each
//! window a Goertzel filter gives the power at 2100 Hz, which is compared
//! with the window's whole power: a window is *tonal* when at least
//! [`TONE_SHARE`] of its power sits in the 2100 Hz bin and its level is
//! above [`MIN_LEVEL`]. The bin is 50 Hz wide, so 2100 ± 15 Hz keeps well
//! over that share while 2130 Hz and beyond, 1 kHz, DTMF (at most 1633 Hz)
//! and speech (whose power is spread over many bins) fall below it. The
//! tone is detected after [`REQUIRED_WINDOWS`] tonal windows (400 ms)
//! with no two non-tonal windows in a row: a phase reversal (every 450 ms)
//! can cancel the filter's sum in the one window it falls in, and ANSam's
//! ±20 % amplitude swing stays inside the bin.

/// Samples per analysis window (20 ms at 8 kHz).
pub const WINDOW: usize = 160;
/// ITU-T V.25 §4.1: the answer tone is 2100 ± 15 Hz.
pub const ANS_HZ: f32 = 2100.0;
/// Tonal windows needed: 400 ms of tone.
pub const REQUIRED_WINDOWS: u32 = 20;
/// Share of a window's power that must be in the 2100 Hz bin.
pub const TONE_SHARE: f32 = 0.6;
/// Smallest mean square (linear 16-bit samples) of a tonal window: about
/// −45 dBm0 (V.25 sends the tone at −9 to −12 dBm0, lines lose tens of dB).
pub const MIN_LEVEL: f32 = 40.0;

/// A 2100 Hz answer-tone detector for one direction of a stream.
#[derive(Clone, Debug)]
pub struct AnswerToneDetector {
    coeff: f32,
    s1: f32,
    s2: f32,
    energy: f32,
    n: usize,
    tonal: u32,
    misses: u32,
    detected: bool,
}

impl Default for AnswerToneDetector {
    fn default() -> Self {
        AnswerToneDetector::new()
    }
}

impl AnswerToneDetector {
    /// A detector that has heard nothing yet.
    pub fn new() -> AnswerToneDetector {
        let w = 2.0 * std::f32::consts::PI * ANS_HZ / 8000.0;
        AnswerToneDetector { coeff: 2.0 * w.cos(), s1: 0.0, s2: 0.0, energy: 0.0, n: 0, tonal: 0, misses: 0, detected: false }
    }

    /// Whether the tone has been detected (it stays so).
    pub fn detected(&self) -> bool {
        self.detected
    }

    /// Feeds linear samples; returns `true` on the block where the tone is
    /// first detected.
    pub fn process(&mut self, samples: &[i16]) -> bool {
        let mut fired = false;
        for &x in samples {
            let x = f32::from(x);
            let s = x + self.coeff * self.s1 - self.s2;
            self.s2 = self.s1;
            self.s1 = s;
            self.energy += x * x;
            self.n += 1;
            if self.n == WINDOW {
                fired |= self.end_window();
            }
        }
        fired
    }

    fn end_window(&mut self) -> bool {
        // |X(f)|² of the window; a pure tone of amplitude A gives (A·N/2)²,
        // and its energy is A²·N/2, so the share is |X|² / (energy · N/2).
        let power = self.s1 * self.s1 + self.s2 * self.s2 - self.coeff * self.s1 * self.s2;
        let energy = self.energy;
        self.s1 = 0.0;
        self.s2 = 0.0;
        self.energy = 0.0;
        self.n = 0;
        if self.detected {
            return false;
        }
        let mean_square = energy / WINDOW as f32;
        let tonal = mean_square >= MIN_LEVEL && power >= TONE_SHARE * energy * (WINDOW as f32 / 2.0);
        if tonal {
            self.tonal += 1;
            self.misses = 0;
            if self.tonal >= REQUIRED_WINDOWS {
                self.detected = true;
                return true;
            }
        } else {
            self.misses += 1;
            if self.misses >= 2 {
                self.tonal = 0;
            }
        }
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `ms` of a tone: `freqs` at `amp` each, with a phase reversal every
    /// `reversal_ms` and `am` × 15 Hz amplitude modulation.
    fn tone(freqs: &[f32], amp: f32, ms: u32, reversal_ms: Option<u32>, am: f32) -> Vec<i16> {
        let n = ms as usize * 8;
        (0..n)
            .map(|i| {
                let t = i as f32 / 8000.0;
                let sign = match reversal_ms {
                    Some(r) if (i / (r as usize * 8)) % 2 == 1 => -1.0,
                    _ => 1.0,
                };
                let env = 1.0 + am * (2.0 * std::f32::consts::PI * 15.0 * t).sin();
                let v: f32 = freqs.iter().map(|f| (2.0 * std::f32::consts::PI * f * t).sin()).sum();
                (sign * env * amp * v).clamp(-32768.0, 32767.0) as i16
            })
            .collect()
    }

    /// Feeds `x` in 20 ms blocks; the ms at which it fired.
    fn fires_at(x: &[i16]) -> Option<u32> {
        let mut d = AnswerToneDetector::new();
        x.chunks(160).enumerate().find(|(_, c)| d.process(c)).map(|(k, _)| (k as u32 + 1) * 20)
    }

    #[test]
    fn a_2100_hz_tone_is_detected_after_400_ms() {
        let at = fires_at(&tone(&[2100.0], 3000.0, 1000, None, 0.0));
        assert_eq!(at, Some(400));
    }

    #[test]
    fn the_tolerance_of_plus_minus_15_hz_is_detected() {
        for f in [2085.0, 2115.0] {
            assert!(fires_at(&tone(&[f], 3000.0, 1000, None, 0.0)).is_some(), "{f} Hz");
        }
    }

    #[test]
    fn a_tone_shorter_than_400_ms_is_not_detected() {
        assert_eq!(fires_at(&tone(&[2100.0], 3000.0, 380, None, 0.0)), None);
    }

    #[test]
    fn ans_with_phase_reversals_every_450_ms_is_detected() {
        let at = fires_at(&tone(&[2100.0], 3000.0, 2000, Some(450), 0.0)).expect("detected");
        assert!(at <= 460, "{at} ms");
    }

    #[test]
    fn ansam_with_15_hz_amplitude_modulation_and_reversals_is_detected() {
        assert!(fires_at(&tone(&[2100.0], 3000.0, 2000, Some(450), 0.2)).is_some());
    }

    #[test]
    fn a_quiet_tone_at_minus_40_dbm0_is_detected() {
        // 0 dBm0 is about 22,000 peak in µ-law's linear scale; −40 dB is 1/100.
        assert!(fires_at(&tone(&[2100.0], 220.0, 1000, None, 0.0)).is_some());
    }

    #[test]
    fn one_khz_2200_hz_dtmf_and_silence_are_not_the_answer_tone() {
        assert_eq!(fires_at(&tone(&[1000.0], 3000.0, 2000, None, 0.0)), None, "1 kHz");
        assert_eq!(fires_at(&tone(&[2200.0], 3000.0, 2000, None, 0.0)), None, "2200 Hz");
        assert_eq!(fires_at(&tone(&[2140.0], 3000.0, 2000, None, 0.0)), None, "2140 Hz");
        assert_eq!(fires_at(&tone(&[941.0, 1633.0], 3000.0, 2000, None, 0.0)), None, "DTMF D");
        assert_eq!(fires_at(&tone(&[1336.0, 1477.0], 3000.0, 2000, None, 0.0)), None, "DTMF 3/6 pair");
        assert_eq!(fires_at(&vec![0; 16000]), None, "silence");
    }

    #[test]
    fn speech_like_sound_with_energy_near_2100_hz_is_not_the_answer_tone() {
        // A voiced vowel: a 120 Hz fundamental with harmonics (2040 and
        // 2160 Hz among them), its pitch gliding, for 2 s.
        let mut x = Vec::new();
        let mut phase = 0.0f32;
        for i in 0..16000 {
            let t = i as f32 / 8000.0;
            let f0 = 120.0 + 20.0 * (2.0 * std::f32::consts::PI * 3.0 * t).sin();
            phase += 2.0 * std::f32::consts::PI * f0 / 8000.0;
            let v: f32 = (1..=25).map(|h| (h as f32 * phase).sin() / h as f32).sum();
            x.push((v * 4000.0) as i16);
        }
        assert_eq!(fires_at(&x), None);
        // And a steady harmonic right on 2100 Hz (a 150 Hz voice's 14th)
        // is a small share of the sound.
        let mut y = Vec::new();
        for i in 0..16000 {
            let t = i as f32 / 8000.0;
            let v: f32 = (1..=20).map(|h| (2.0 * std::f32::consts::PI * 150.0 * h as f32 * t).sin() / h as f32).sum();
            y.push((v * 4000.0) as i16);
        }
        assert_eq!(fires_at(&y), None, "harmonic voice");
    }
}
