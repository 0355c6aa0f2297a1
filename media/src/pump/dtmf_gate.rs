//! A cheap per-block DTMF pre-check that mutes tone before it reaches RTP.
//!
//! spandsp's receiver needs about two of its 102-sample blocks (~26 ms) to
//! recognise a digit, so without help the first packet of each digit carries
//! the tone at full level. Holding audio back until the receiver decides
//! would add latency; instead, every TDM block is checked on its own before
//! it is packetised, like the first stage of a DTMF receiver:
//!
//! 1. The block's energy is measured in 8-sample sub-blocks. The *active
//!    span* is the stretch from the first to the last sub-block within
//!    [`SPAN_DB`] of the loudest one, so a tone that starts or stops inside
//!    the block is analysed on its own rather than diluted by the silence
//!    around it.
//! 2. Over the active span, eight Goertzel filters measure the DTMF row and
//!    column frequencies (ITU-T Q.23). The span looks like DTMF when the
//!    strongest row and column tones are each above [`MIN_LEVEL_DBM0`],
//!    their twist is within [`MAX_TWIST_DB`] either way, and together they
//!    carry at least [`MIN_FRACTION`] of the span's power.
//!
//! A span shorter than [`SHORT_SPAN`] samples that ends the block is a tone
//! onset too short to analyse (the filters are then ~1 kHz wide): it is
//! muted when it is a sudden onset ([`ONSET_DB`] above the rest of the
//! block) with most of its power in the DTMF band. On speech this clips at
//! most a few milliseconds of a syllable that happens to start at the very
//! end of a block; the next block is checked afresh.
//!
//! The thresholds are looser than a receiver's (which also asks for the
//! relative-peak margin and ~26 ms of persistence), so what a receiver would
//! take for a digit is muted; the power-fraction test keeps speech, music
//! and single tones out (see the tests).

use tandem_dsp::dtmf::{COL_FREQS, ROW_FREQS};
use tandem_dsp::tone::dbm0_to_rms;

/// Sub-block length for the energy envelope, samples (1 ms).
const SUB: usize = 8;
/// Longest block analysed by sub-blocks (100 ms, the largest TDM block).
const MAX_BLOCK: usize = 800;
/// Sub-blocks within this many dB of the loudest belong to the active span.
pub const SPAN_DB: f32 = 20.0;
/// Each of the two tones must be at least this loud (a receiver's floor is
/// about −32 dBm0 per tone; the pre-check goes a little lower).
pub const MIN_LEVEL_DBM0: f32 = -36.0;
/// Largest level difference between the two tones, either way (receivers
/// allow 4–8 dB; Q.24 asks for 6 dB).
pub const MAX_TWIST_DB: f32 = 10.0;
/// Share of the span's power the two tones must carry.
pub const MIN_FRACTION: f32 = 0.5;
/// Spans shorter than this (3 ms) cannot be analysed reliably.
pub const SHORT_SPAN: usize = 24;
/// A short span at the block's end is an onset when it is this much louder
/// (per sample) than the rest of the block.
pub const ONSET_DB: f32 = 20.0;

fn db(x: f32) -> f32 {
    10f32.powf(x / 10.0)
}

/// Goertzel coefficients `2 cos(2π f / 8000)` for the eight DTMF frequencies.
fn coeffs() -> [f32; 8] {
    let mut c = [0f32; 8];
    for (k, f) in ROW_FREQS.iter().chain(COL_FREQS.iter()).enumerate() {
        c[k] = 2.0 * (std::f32::consts::TAU * f / 8000.0).cos();
    }
    c
}

/// The pre-check of one stream (it remembers whether the last block ended in tone).
#[derive(Clone, Debug)]
pub struct DtmfGate {
    coeff: [f32; 8],
    min_power: f32,
    twist: f32,
    span_ratio: f32,
    onset_ratio: f32,
    /// The last block's muted range reached its end (a tone may go on).
    tone_at_end: bool,
}

impl Default for DtmfGate {
    fn default() -> Self {
        Self::new()
    }
}

impl DtmfGate {
    /// A gate with the module's thresholds.
    pub fn new() -> DtmfGate {
        DtmfGate {
            coeff: coeffs(),
            min_power: dbm0_to_rms(MIN_LEVEL_DBM0).powi(2),
            twist: db(MAX_TWIST_DB),
            span_ratio: db(SPAN_DB),
            onset_ratio: db(ONSET_DB),
            tone_at_end: false,
        }
    }

    /// The range of `block` (linear samples) to mute, if it looks like DTMF.
    pub fn check(&mut self, block: &[i16]) -> Option<std::ops::Range<usize>> {
        // After a block that ended in tone, its first millisecond goes too:
        // the tone's last samples there may be too few to analyse.
        let carry = std::mem::take(&mut self.tone_at_end);
        let r = self.check_span(block, carry);
        match r {
            _ if !carry || block.is_empty() => r,
            Some(r) if r.start == 0 => Some(0..r.end.max(SUB.min(block.len()))),
            _ => Some(0..SUB.min(block.len())),
        }
    }

    fn check_span(&mut self, block: &[i16], carry: bool) -> Option<std::ops::Range<usize>> {
        let n = block.len();
        if n == 0 {
            return None;
        }
        // Energy envelope per sub-block.
        let mut env = [0f32; MAX_BLOCK / SUB];
        let subs = n.div_ceil(SUB).min(env.len());
        let mut peak = 0f32;
        for (k, e) in env[..subs].iter_mut().enumerate() {
            let s = &block[k * SUB..((k + 1) * SUB).min(n)];
            *e = s.iter().map(|&x| f32::from(x) * f32::from(x)).sum::<f32>();
            peak = peak.max(*e);
        }
        // Quiet blocks cannot hide a tone above the floor: cheap exit.
        if peak < self.min_power * SUB as f32 {
            return None;
        }
        let floor = peak / self.span_ratio;
        let first = env[..subs].iter().position(|&e| e >= floor)?;
        let last = env[..subs].iter().rposition(|&e| e >= floor)?;
        let (a, b) = (first * SUB, ((last + 1) * SUB).min(n));
        // Blocks longer than the envelope (over 100 ms) are checked whole.
        let (a, b) = if n > env.len() * SUB { (0, n) } else { (a, b) };
        let span = &block[a..b];
        let mute = if span.len() >= SHORT_SPAN {
            self.tonal(span, false)
        } else if b == n {
            // A tone starting in the block's last few ms.
            self.is_onset(block, a) && self.tonal(span, true)
        } else {
            // The last few ms of a tone muted in the block before.
            a == 0 && carry
        };
        // One sub-block more each side: a tone's first or last samples may sit
        // alone, near a zero crossing, in a sub-block below the span's floor.
        let (a, b) = (a.saturating_sub(SUB), (b + SUB).min(n));
        self.tone_at_end = mute && b == n;
        mute.then_some(a..b)
    }

    /// Whether `span` has the dual-tone signature. `short` relaxes it to
    /// "most power in the DTMF band" (the filters cannot separate tones).
    fn tonal(&self, span: &[i16], short: bool) -> bool {
        let (mut s1, mut s2) = ([0f32; 8], [0f32; 8]);
        let mut ms = 0f32;
        for &x in span {
            let x = f32::from(x);
            ms += x * x;
            for k in 0..8 {
                let s = x + self.coeff[k] * s1[k] - s2[k];
                s2[k] = s1[k];
                s1[k] = s;
            }
        }
        let len = span.len() as f32;
        ms /= len;
        // Mean-square power of each component: 2|X|²/N².
        let mut p = [0f32; 8];
        for k in 0..8 {
            let m = s1[k] * s1[k] + s2[k] * s2[k] - self.coeff[k] * s1[k] * s2[k];
            p[k] = 2.0 * m.max(0.0) / (len * len);
        }
        let r = p[..4].iter().copied().fold(0f32, f32::max);
        let c = p[4..].iter().copied().fold(0f32, f32::max);
        if short {
            // Each filter is about as wide as the whole band: the two
            // groups' strongest responses must hold most of the power.
            return r + c >= MIN_FRACTION * ms && ms >= self.min_power;
        }
        r >= self.min_power && c >= self.min_power && c <= r * self.twist && r <= c * self.twist && r + c >= MIN_FRACTION * ms
    }

    /// Whether the samples from `a` on are a sudden onset.
    fn is_onset(&self, block: &[i16], a: usize) -> bool {
        let power = |s: &[i16]| s.iter().map(|&x| f32::from(x) * f32::from(x)).sum::<f32>() / s.len().max(1) as f32;
        let tail = power(&block[a..]);
        a == 0 || power(&block[..a]) * self.onset_ratio <= tail
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tandem_dsp::dtmf::{DIGITS, tone_pair};
    use tandem_dsp::g711::Law;

    const RATE: f32 = 8000.0;

    fn sine(f: f32, dbm0: f32, n: usize, phase: usize) -> Vec<f32> {
        let a = dbm0_to_rms(dbm0) * std::f32::consts::SQRT_2;
        (0..n).map(|i| a * (std::f32::consts::TAU * f * (i + phase) as f32 / RATE).sin()).collect()
    }

    fn mix(parts: &[Vec<f32>]) -> Vec<i16> {
        let n = parts.iter().map(Vec::len).max().unwrap_or(0);
        (0..n)
            .map(|i| parts.iter().map(|p| p.get(i).copied().unwrap_or(0.0)).sum::<f32>())
            // Through µ-law, as on a B-channel.
            .map(|x| Law::Mulaw.decode(Law::Mulaw.encode(x.clamp(-32768.0, 32767.0) as i16)))
            .collect()
    }

    /// Samples of `signal` (cut into 160-sample blocks) that the gate mutes.
    fn muted(signal: &[i16]) -> Vec<usize> {
        let mut g = DtmfGate::new();
        let mut out = Vec::new();
        for (k, b) in signal.chunks(160).enumerate() {
            if let Some(r) = g.check(b) {
                out.extend(r.map(|i| k * 160 + i));
            }
        }
        out
    }

    fn digit(d: char, lo_db: f32, hi_db: f32, dev: f32, n: usize) -> Vec<i16> {
        let (lo, hi) = tone_pair(d).unwrap();
        mix(&[sine(lo * dev, lo_db, n, 0), sine(hi * dev, hi_db, n, 0)])
    }

    #[test]
    fn every_digit_at_every_onset_phase_is_muted_from_its_first_sample() {
        // A digit of 100 ms starting at each phase of a 160-sample block,
        // after silence: every tone sample must be muted (samples near a
        // zero crossing, below −50 dBm0 on their own, do not count).
        for d in DIGITS.chars() {
            for phase in 0..160 {
                let mut s = vec![0i16; phase];
                s.extend(digit(d, -7.0, -5.0, 1.0, 800));
                s.extend(vec![0i16; 400]);
                let m = muted(&s);
                let leaked: Vec<usize> = (phase..phase + 800).filter(|&i| s[i].abs() > 16 && m.binary_search(&i).is_err()).collect();
                assert!(leaked.is_empty(), "digit {d} at phase {phase}: {} tone samples leak, first {:?}", leaked.len(), leaked.first());
            }
        }
    }

    #[test]
    fn digits_at_the_edges_of_level_twist_and_frequency_tolerance_are_muted() {
        // (low dBm0, high dBm0, frequency factor)
        let cases =
            [(-7.0, -5.0, 1.0), (-25.0, -25.0, 1.0), (-30.0, -28.0, 1.0), (-5.0, -11.0, 1.0), (-13.0, -5.0, 1.0), (-7.0, -5.0, 1.015), (-7.0, -5.0, 0.985)];
        for (lo, hi, dev) in cases {
            for d in DIGITS.chars() {
                let s = digit(d, lo, hi, dev, 1600);
                let m = muted(&s);
                assert_eq!(m.len(), s.len(), "digit {d} at {lo}/{hi} dBm0, ×{dev}: {} of {} samples muted", m.len(), s.len());
            }
        }
    }

    /// A vowel: a glottal pulse train at `pitch` through two formant
    /// resonators, with a syllable envelope (onsets included).
    fn vowel(pitch: f32, f1: f32, f2: f32, dbm0: f32, n: usize, offset: usize) -> Vec<f32> {
        let reson = |f: f32, bw: f32| {
            let r = (-std::f32::consts::PI * bw / RATE).exp();
            (2.0 * r * (std::f32::consts::TAU * f / RATE).cos(), -r * r)
        };
        let (a1, b1) = reson(f1, 90.0);
        let (a2, b2) = reson(f2, 110.0);
        let (mut y1, mut y1p, mut y2, mut y2p) = (0f32, 0f32, 0f32, 0f32);
        let period = RATE / pitch;
        let mut raw = Vec::with_capacity(n);
        for i in 0..n + offset {
            let x = if (i as f32 % period) < 1.0 { 1000.0 } else { 0.0 };
            let v1 = x + a1 * y1 + b1 * y1p;
            y1p = y1;
            y1 = v1;
            let v2 = v1 + a2 * y2 + b2 * y2p;
            y2p = y2;
            y2 = v2;
            if i >= offset {
                raw.push(v2);
            }
        }
        let rms = (raw.iter().map(|x| x * x).sum::<f32>() / n as f32).sqrt().max(1e-3);
        let gain = dbm0_to_rms(dbm0) / rms;
        // 200 ms syllables: 30 ms rise, 140 ms hold, 30 ms fall.
        raw.iter()
            .enumerate()
            .map(|(i, x)| {
                let t = (i + offset) % 1600;
                let env = if t < 240 {
                    t as f32 / 240.0
                } else if t > 1360 {
                    (1600 - t) as f32 / 240.0
                } else {
                    1.0
                };
                x * gain * env
            })
            .collect()
    }

    #[test]
    fn speech_like_vowels_single_tones_and_chords_are_not_muted() {
        let n = 8000;
        let mut cases: Vec<(String, Vec<i16>)> = Vec::new();
        // Vowels (Peterson & Barney's formant averages) at male, female and child pitches.
        for (name, f1, f2) in
            [("a", 730.0, 1090.0), ("i", 270.0, 2290.0), ("u", 300.0, 870.0), ("e", 530.0, 1840.0), ("o", 570.0, 840.0), ("ae", 660.0, 1720.0)]
        {
            for pitch in [100.0, 120.0, 140.0, 180.0, 220.0, 260.0] {
                cases.push((format!("vowel /{name}/ at {pitch} Hz"), mix(&[vowel(pitch, f1, f2, -15.0, n, 37)])));
            }
        }
        // Single tones, including each DTMF frequency alone and dial/ringback tones.
        for f in ROW_FREQS.iter().chain(COL_FREQS.iter()).chain([350.0, 440.0, 480.0, 1000.0, 2100.0].iter()) {
            cases.push((format!("single tone {f} Hz"), mix(&[sine(*f, -10.0, n, 0)])));
        }
        // Precise dial tone (350 + 440) and ringback (440 + 480), US.
        cases.push(("dial tone 350+440".into(), mix(&[sine(350.0, -13.0, n, 0), sine(440.0, -13.0, n, 0)])));
        cases.push(("ringback 440+480".into(), mix(&[sine(440.0, -19.0, n, 0), sine(480.0, -19.0, n, 0)])));
        // Music-like chords: three notes with two harmonics each.
        let chord = |notes: &[f32]| {
            let mut parts = Vec::new();
            for &f in notes {
                for (h, db) in [(1.0, -14.0), (2.0, -20.0), (3.0, -24.0)] {
                    parts.push(sine(f * h, db, n, 0));
                }
            }
            mix(&parts)
        };
        cases.push(("C major (C5 E5 G5)".into(), chord(&[523.25, 659.25, 783.99])));
        cases.push(("A minor (A4 C5 E5)".into(), chord(&[440.0, 523.25, 659.25])));
        cases.push(("G7 (G4 B4 D5 F5)".into(), chord(&[392.0, 493.88, 587.33, 698.46])));
        cases.push(("F major high (F5 A5 C6)".into(), chord(&[698.46, 880.0, 1046.5])));
        // Noise.
        let mut seed = 1u32;
        let noise: Vec<f32> = (0..n)
            .map(|_| {
                seed = seed.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
                (seed >> 16) as f32 / 65536.0 * 6000.0 - 3000.0
            })
            .collect();
        cases.push(("white noise".into(), mix(&[noise])));
        let mut failures = Vec::new();
        for (name, s) in &cases {
            let m = muted(s);
            // Onset clipping may take a few ms at a syllable start; nothing more.
            if m.len() > s.len() / 100 {
                failures.push(format!("{name}: {} of {} samples muted", m.len(), s.len()));
            }
        }
        assert!(failures.is_empty(), "{failures:#?}");
    }

    #[test]
    fn silence_and_quiet_noise_are_left_alone() {
        assert_eq!(DtmfGate::new().check(&[0; 160]), None);
        let quiet: Vec<i16> = (0..160).map(|i| if i % 2 == 0 { 3 } else { -3 }).collect();
        assert_eq!(DtmfGate::new().check(&quiet), None);
    }
}
