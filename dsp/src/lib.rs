//! Pure-Rust telephony DSP for Tandem, at 8 kHz.
//!
//! Shared by the hardware simulator, which generates and records line audio
//! for simulated far ends (phones, central-office lines), and by the gateway's
//! tests, which use it as an oracle. Everything works on 16-bit linear samples
//! at [`SAMPLE_RATE`] (8 kHz); G.711 converts to and from line codes.
//!
//! | module | what it is for |
//! | --- | --- |
//! | [`g711`] | µ-law / A-law encode, decode and transcode (ITU-T G.711) |
//! | [`tone`] | phase-continuous oscillators, cadences, call-progress tone plans, dBm0 levels |
//! | [`goertzel`] | Goertzel filters, frequency estimation, level measurement |
//! | [`dtmf`] | DTMF generator and streaming detector |
//! | [`mf`] | Bell MF (R1) and MFC/R2 two-of-six generators and streaming detectors |
//! | [`fsk`] | 1200 baud Bell 202 / V.23 FSK modulator and streaming demodulator |
//! | [`callerid`] | caller-ID / message-waiting messages (GR-30 SDMF/MDMF, ETSI), FSK and DTMF transport |
//! | [`wav`] | minimal WAV reader/writer (16-bit PCM, µ-law, A-law) |
//!
//! Conventions:
//!
//! * Levels are in dBm0 with +3.14 dBm0 = full-scale sine (see [`tone`]).
//! * Streaming detectors take chunks of any size, never allocate per sample,
//!   and report events with absolute sample positions ([`DigitEvent`]).
//! * Nothing panics on any input: bad parameters give silence or errors.
//! * Only [`wav`] does I/O, and only on caller-provided readers and writers.

pub mod callerid;
pub mod dtmf;
pub mod fsk;
pub mod g711;
pub mod goertzel;
pub mod mf;
pub mod tone;
pub mod wav;

mod detector;

pub use g711::Law;

/// Sample rate of everything in this crate, in Hz.
pub const SAMPLE_RATE: u32 = 8000;

/// An event from a streaming tone-signal detector (DTMF, MF, R2).
///
/// `at` is the position, in samples since the detector was created or reset,
/// of the start of the first analysis block that showed the new state. For
/// [`DigitEvent::DigitUp`] that is where the signal was first seen to be gone.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum DigitEvent<S = char> {
    /// A signal started.
    DigitDown {
        /// The signal.
        digit: S,
        /// Sample position.
        at: u64,
    },
    /// The signal that was down ended.
    DigitUp {
        /// The signal.
        digit: S,
        /// Sample position.
        at: u64,
    },
}

impl<S: Copy> DigitEvent<S> {
    /// The signal of the event.
    pub fn digit(&self) -> S {
        match *self {
            DigitEvent::DigitDown { digit, .. } | DigitEvent::DigitUp { digit, .. } => digit,
        }
    }

    /// The sample position of the event.
    pub fn at(&self) -> u64 {
        match *self {
            DigitEvent::DigitDown { at, .. } | DigitEvent::DigitUp { at, .. } => at,
        }
    }

    /// Whether this is a [`DigitEvent::DigitDown`].
    pub fn is_down(&self) -> bool {
        matches!(self, DigitEvent::DigitDown { .. })
    }

    /// The same event with the signal mapped.
    pub fn map<T>(self, f: impl FnOnce(S) -> T) -> DigitEvent<T> {
        match self {
            DigitEvent::DigitDown { digit, at } => DigitEvent::DigitDown { digit: f(digit), at },
            DigitEvent::DigitUp { digit, at } => DigitEvent::DigitUp { digit: f(digit), at },
        }
    }
}

#[cfg(test)]
pub(crate) mod test_util {
    //! Deterministic test signals.

    use crate::tone::dbm0_to_rms;

    /// A small deterministic PRNG (xorshift64*).
    pub struct Rng(u64);

    impl Rng {
        pub fn new(seed: u64) -> Self {
            Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
        }

        pub fn next_u64(&mut self) -> u64 {
            let mut x = self.0;
            x ^= x >> 12;
            x ^= x << 25;
            x ^= x >> 27;
            self.0 = x;
            x.wrapping_mul(0x2545_F491_4F6C_DD1D)
        }

        /// Uniform in [0, 1).
        pub fn uniform(&mut self) -> f32 {
            (self.next_u64() >> 40) as f32 / (1u64 << 24) as f32
        }

        /// Approximately standard normal (sum of 12 uniforms).
        pub fn gaussian(&mut self) -> f32 {
            (0..12).map(|_| self.uniform()).sum::<f32>() - 6.0
        }
    }

    /// Gaussian white noise with an RMS level of `dbm0`.
    pub fn white_noise(n: usize, dbm0: f32, seed: u64) -> Vec<i16> {
        let mut rng = Rng::new(seed);
        let rms = dbm0_to_rms(dbm0);
        (0..n).map(|_| (rng.gaussian() * rms).round() as i16).collect()
    }

    /// Add `noise` to `signal` sample by sample (saturating).
    pub fn add(signal: &mut [i16], noise: &[i16]) {
        for (s, n) in signal.iter_mut().zip(noise) {
            *s = s.saturating_add(*n);
        }
    }

    /// Voiced-speech-like signal: a harmonic series on a wandering pitch,
    /// shaped by moving formants and a syllabic envelope, plus some noise.
    pub fn speech_like(n: usize, dbm0: f32, seed: u64) -> Vec<i16> {
        let mut rng = Rng::new(seed);
        let mut out = vec![0f32; n];
        let mut phase = 0f32;
        for (i, o) in out.iter_mut().enumerate() {
            let t = i as f32 / 8000.0;
            let f0 = 120.0 + 40.0 * (t * 2.1).sin() + 15.0 * (t * 7.3).sin();
            phase += f0 / 8000.0;
            if phase > 1.0 {
                phase -= 1.0;
            }
            let f1 = 500.0 + 250.0 * (t * 3.1).sin();
            let f2 = 1500.0 + 600.0 * (t * 1.7).cos();
            let mut v = 0.0;
            let mut k = 1.0;
            while k * f0 < 3800.0 {
                let f = k * f0;
                let g1 = 1.0 / (1.0 + ((f - f1) / 120.0).powi(2));
                let g2 = 0.6 / (1.0 + ((f - f2) / 180.0).powi(2));
                v += (g1 + g2 + 0.02) * (std::f32::consts::TAU * k * phase).sin();
                k += 1.0;
            }
            let syllable = (0.5 + 0.5 * (std::f32::consts::TAU * 4.0 * t).sin()).powi(2);
            *o = v * syllable + 0.05 * rng.gaussian();
        }
        let ms = out.iter().map(|v| v * v).sum::<f32>() / n.max(1) as f32;
        let gain = dbm0_to_rms(dbm0) / ms.sqrt().max(1e-9);
        out.iter().map(|v| (v * gain).round() as i16).collect()
    }
}
