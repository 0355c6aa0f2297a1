//! Goertzel filters, frequency estimation and level measurement.
//!
//! Powers are normalised as *mean-square power of the component*: a sine of
//! peak amplitude `A` exactly at the analysed frequency gives `A² / 2`, the same
//! number [`mean_square`] gives for the sine alone. Ratios between a Goertzel
//! power and the mean square of the block therefore say which share of the
//! signal sits at that frequency.

use crate::SAMPLE_RATE;
use crate::tone::rms_to_dbm0;

/// A streaming Goertzel filter for one frequency (any real frequency, not just
/// DFT bins).
#[derive(Clone, Debug, PartialEq)]
pub struct Goertzel {
    coeff: f64,
    s1: f64,
    s2: f64,
    n: usize,
}

impl Goertzel {
    /// A filter for `freq_hz` at [`SAMPLE_RATE`].
    pub fn new(freq_hz: f32) -> Self {
        let w = std::f64::consts::TAU * freq_hz as f64 / SAMPLE_RATE as f64;
        let coeff = 2.0 * w.cos();
        Goertzel { coeff: if coeff.is_finite() { coeff } else { 0.0 }, s1: 0.0, s2: 0.0, n: 0 }
    }

    /// Feed one sample.
    #[inline]
    pub fn push(&mut self, x: f32) {
        let s = x as f64 + self.coeff * self.s1 - self.s2;
        self.s2 = self.s1;
        self.s1 = s;
        self.n += 1;
    }

    /// Feed a block of samples.
    pub fn push_samples(&mut self, samples: &[i16]) {
        for &x in samples {
            self.push(x as f32);
        }
    }

    /// Number of samples fed since the last reset.
    pub fn len(&self) -> usize {
        self.n
    }

    /// Whether no sample has been fed since the last reset.
    pub fn is_empty(&self) -> bool {
        self.n == 0
    }

    /// Squared DFT magnitude `|X(f)|²` of the samples fed so far.
    pub fn magnitude_squared(&self) -> f64 {
        let m = self.s1 * self.s1 + self.s2 * self.s2 - self.coeff * self.s1 * self.s2;
        m.max(0.0)
    }

    /// Mean-square power of the component at the filter frequency
    /// (`2 |X|² / N²`); 0 when empty.
    pub fn power(&self) -> f32 {
        if self.n == 0 {
            return 0.0;
        }
        let n = self.n as f64;
        (2.0 * self.magnitude_squared() / (n * n)) as f32
    }

    /// Clear the state for a new block.
    pub fn reset(&mut self) {
        self.s1 = 0.0;
        self.s2 = 0.0;
        self.n = 0;
    }
}

/// Mean-square power of the component of `samples` at `freq_hz`.
pub fn goertzel_power(samples: &[i16], freq_hz: f32) -> f32 {
    let mut g = Goertzel::new(freq_hz);
    g.push_samples(samples);
    g.power()
}

/// Mean of the squared samples (0 for an empty slice).
pub fn mean_square(samples: &[i16]) -> f32 {
    if samples.is_empty() {
        return 0.0;
    }
    let sum: f64 = samples.iter().map(|&x| (x as f64) * (x as f64)).sum();
    (sum / samples.len() as f64) as f32
}

/// RMS level of `samples` in dBm0 (see [`crate::tone`] for the reference);
/// `f32::NEG_INFINITY` for silence or an empty slice.
pub fn level_dbm0(samples: &[i16]) -> f32 {
    rms_to_dbm0(mean_square(samples).sqrt())
}

/// Convert a mean-square power (as returned by [`Goertzel::power`]) to dBm0.
pub fn power_to_dbm0(power: f32) -> f32 {
    rms_to_dbm0(power.max(0.0).sqrt())
}

/// The candidate frequency with the most power in `samples`.
///
/// `None` if there are no candidates or the input is silent.
pub fn dominant_frequency(samples: &[i16], candidates: &[f32]) -> Option<f32> {
    if mean_square(samples) < 1.0 {
        return None;
    }
    let mut best: Option<(f32, f32)> = None;
    for &f in candidates {
        let p = goertzel_power(samples, f);
        if best.is_none_or(|(_, bp)| p > bp) {
            best = Some((f, p));
        }
    }
    best.map(|(f, _)| f)
}

/// Maximum number of samples [`estimate_frequency`] analyses.
const ESTIMATE_MAX_SAMPLES: usize = 2048;
/// Minimum number of samples [`estimate_frequency`] needs.
const ESTIMATE_MIN_SAMPLES: usize = 64;

/// Estimate the frequency of the dominant tone in `samples`.
///
/// Scans 50 Hz .. 4 kHz with a Hann-windowed Goertzel over the first 2048
/// samples (or all of them if fewer) and refines the peak with a golden-section
/// search. For a clean tone of 100 ms or more the result is within a fraction
/// of a hertz; accuracy degrades gracefully for shorter or noisy input.
///
/// Returns `None` for fewer than 64 samples, silence (below about −70 dBm0), or
/// when the strongest component carries less than a fifth of the power (noise,
/// speech).
pub fn estimate_frequency(samples: &[i16]) -> Option<f32> {
    let n = samples.len().min(ESTIMATE_MAX_SAMPLES);
    if n < ESTIMATE_MIN_SAMPLES {
        return None;
    }
    let block = &samples[..n];
    let mean = block.iter().map(|&x| x as f64).sum::<f64>() / n as f64;
    let mut windowed = Vec::with_capacity(n);
    let mut window_sum = 0.0;
    let mut weighted_energy = 0.0;
    let mut window_energy = 0.0;
    for (i, &x) in block.iter().enumerate() {
        let w = 0.5 - 0.5 * (std::f64::consts::TAU * (i as f64 + 0.5) / n as f64).cos();
        let v = x as f64 - mean;
        windowed.push(v * w);
        window_sum += w;
        weighted_energy += v * v * w * w;
        window_energy += w * w;
    }
    let mean_sq = weighted_energy / window_energy;
    // About -70 dBm0.
    if mean_sq < 0.1 {
        return None;
    }
    let power = |f: f64| windowed_power(&windowed, f, window_sum);

    let step = (SAMPLE_RATE as f64 / (2.0 * n as f64)).max(1.0);
    let lo = 50.0;
    let hi = SAMPLE_RATE as f64 / 2.0 - step / 2.0;
    let mut best_f = lo;
    let mut best_p = -1.0;
    let mut f = lo;
    while f <= hi {
        let p = power(f);
        if p > best_p {
            best_p = p;
            best_f = f;
        }
        f += step;
    }
    // Golden-section search for the maximum around the coarse peak.
    let inv_phi = (5f64.sqrt() - 1.0) / 2.0;
    let (mut a, mut b) = ((best_f - step).max(1.0), (best_f + step).min(3999.0));
    let mut c = b - inv_phi * (b - a);
    let mut d = a + inv_phi * (b - a);
    let (mut pc, mut pd) = (power(c), power(d));
    for _ in 0..40 {
        if pc > pd {
            b = d;
            d = c;
            pd = pc;
            c = b - inv_phi * (b - a);
            pc = power(c);
        } else {
            a = c;
            c = d;
            pc = pd;
            d = a + inv_phi * (b - a);
            pd = power(d);
        }
        if b - a < 0.01 {
            break;
        }
    }
    let f_est = (a + b) / 2.0;
    let peak = power(f_est).max(best_p);
    if peak < 0.2 * mean_sq {
        return None;
    }
    Some(f_est as f32)
}

/// Mean-square component power of an already windowed block (coherent gain
/// corrected by `window_sum`).
fn windowed_power(x: &[f64], freq: f64, window_sum: f64) -> f64 {
    let w = std::f64::consts::TAU * freq / SAMPLE_RATE as f64;
    let coeff = 2.0 * w.cos();
    let (mut s1, mut s2) = (0.0f64, 0.0f64);
    for &v in x {
        let s = v + coeff * s1 - s2;
        s2 = s1;
        s1 = s;
    }
    let m = (s1 * s1 + s2 * s2 - coeff * s1 * s2).max(0.0);
    2.0 * m / (window_sum * window_sum)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::g711::Law;
    use crate::tone::{Oscillator, dbm0_to_rms};

    fn sine(freq: f32, dbm0: f32, n: usize) -> Vec<i16> {
        let mut v = vec![0; n];
        Oscillator::new(freq, dbm0).fill(&mut v);
        v
    }

    #[test]
    fn goertzel_power_of_a_sine_equals_its_mean_square() {
        let s = sine(1000.0, -10.0, 800);
        let p = goertzel_power(&s, 1000.0);
        let ms = mean_square(&s);
        assert!((p / ms - 1.0).abs() < 0.01, "p={p} ms={ms}");
        assert!(goertzel_power(&s, 2000.0) < ms * 1e-3);
    }

    #[test]
    fn streaming_goertzel_matches_block_goertzel() {
        let s = sine(697.0, -7.0, 102);
        let mut g = Goertzel::new(697.0);
        for chunk in s.chunks(5) {
            g.push_samples(chunk);
        }
        assert_eq!(g.len(), 102);
        assert!((g.power() - goertzel_power(&s, 697.0)).abs() < 1e-3 * g.power());
        g.reset();
        assert!(g.is_empty());
        assert_eq!(g.power(), 0.0);
    }

    #[test]
    fn estimate_frequency_is_within_5_hz_for_100_ms_tones() {
        let mut f = 100.0;
        while f < 3990.0 {
            let s = sine(f, -20.0, 800);
            let est = estimate_frequency(&s).expect("tone");
            assert!((est - f).abs() <= 5.0, "f={f} est={est}");
            f += 37.3;
        }
    }

    #[test]
    fn estimate_frequency_survives_ulaw_and_low_levels() {
        for &(f, level) in &[(350.0, -13.0), (1004.0, -30.0), (2600.0, -40.0), (3400.0, 0.0)] {
            let mut s = sine(f, level, 1600);
            Law::Mulaw.compand_in_place(&mut s);
            let est = estimate_frequency(&s).unwrap();
            assert!((est - f).abs() <= 1.0, "f={f} est={est}");
        }
    }

    #[test]
    fn estimate_frequency_rejects_silence_short_and_noise() {
        assert_eq!(estimate_frequency(&[]), None);
        assert_eq!(estimate_frequency(&[1000; 10]), None);
        assert_eq!(estimate_frequency(&vec![0; 800]), None);
        let noise = crate::test_util::white_noise(4000, -10.0, 7);
        assert_eq!(estimate_frequency(&noise), None);
    }

    #[test]
    fn dominant_frequency_picks_the_strongest_candidate() {
        let mut s = sine(440.0, -10.0, 800);
        let weak = sine(480.0, -25.0, 800);
        for (a, b) in s.iter_mut().zip(&weak) {
            *a += *b;
        }
        assert_eq!(dominant_frequency(&s, &[350.0, 440.0, 480.0]), Some(440.0));
        assert_eq!(dominant_frequency(&s, &[]), None);
        assert_eq!(dominant_frequency(&[0; 100], &[440.0]), None);
    }

    #[test]
    fn level_dbm0_measures_sine_levels() {
        for level in [-40.0, -13.0, 0.0, 3.0] {
            let s = sine(1004.0, level, 8000);
            assert!((level_dbm0(&s) - level).abs() < 0.05, "{level}");
        }
        assert_eq!(level_dbm0(&[]), f32::NEG_INFINITY);
        assert_eq!(level_dbm0(&[0; 10]), f32::NEG_INFINITY);
        let p = dbm0_to_rms(-20.0).powi(2);
        assert!((power_to_dbm0(p) + 20.0).abs() < 1e-3);
    }
}
