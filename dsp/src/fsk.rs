//! 1200 baud FSK (Bell 202, ITU-T V.23) with async framing: continuous-phase modulator and streaming demodulator.
//!
//! Framing is the usual asynchronous one: a start bit (0, space), eight data
//! bits LSB first, one stop bit (1, mark). The line idles at mark.
//!
//! Caller-ID transmissions start with a *channel seizure* of alternating
//! 0/1 bits (300 bits for both Bell and ETSI), then a *mark signal* of 1 bits
//! (180 for Bell, 80 for ETSI), then the message bytes ([`Standard`]).
//!
//! The demodulator correlates the last bit-period of samples with the mark and
//! space frequencies (a quadrature, non-coherent detector), takes the
//! normalised difference of the two energies as the bit decision, and runs a
//! UART on it: a mark-to-space transition starts a frame (the crossing is
//! interpolated to a fraction of a sample), and each bit is then sampled at its
//! centre using the fractional bit period `8000 / baud` with a three-sample
//! vote. For back-to-back bytes, if the line is already at space when a good
//! stop bit has been sampled, the start edge predicted from the previous frame
//! is used. Frames whose stop bit is not mark are dropped and counted. The
//! decision is level independent; a carrier threshold (default −48 dBm0)
//! keeps it from running on silence.

use crate::SAMPLE_RATE;
use crate::tone::{Oscillator, dbm0_to_peak};

/// The frequencies and speed of an FSK channel.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct FskModem {
    /// Frequency of a 1 bit (mark), Hz.
    pub mark_hz: f32,
    /// Frequency of a 0 bit (space), Hz.
    pub space_hz: f32,
    /// Bits per second.
    pub baud: u32,
}

/// Bell 202: mark 1200 Hz, space 2200 Hz, 1200 baud.
pub const BELL_202: FskModem = FskModem { mark_hz: 1200.0, space_hz: 2200.0, baud: 1200 };

/// ITU-T V.23 forward channel: mark 1300 Hz, space 2100 Hz, 1200 baud.
pub const V23: FskModem = FskModem { mark_hz: 1300.0, space_hz: 2100.0, baud: 1200 };

/// A caller-ID FSK transmission standard: modem plus preamble lengths.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Standard {
    /// Bell 202 (Telcordia GR-30): 300 seizure bits, 180 mark bits.
    Bell202,
    /// ITU-T V.23 (ETSI EN 300 659-1): 300 seizure bits, 80 mark bits.
    V23,
}

impl Standard {
    /// The modem of this standard.
    pub fn modem(self) -> FskModem {
        match self {
            Standard::Bell202 => BELL_202,
            Standard::V23 => V23,
        }
    }

    /// Number of alternating 0/1 channel-seizure bits.
    pub fn seizure_bits(self) -> u32 {
        300
    }

    /// Number of mark (1) bits after the seizure.
    pub fn mark_bits(self) -> u32 {
        match self {
            Standard::Bell202 => 180,
            Standard::V23 => 80,
        }
    }
}

/// Continuous-phase FSK modulator writing into a growing buffer.
#[derive(Clone, Debug)]
pub struct FskModulator {
    modem: FskModem,
    osc: Oscillator,
    bits: u64,
    samples: u64,
}

impl FskModulator {
    /// A modulator for `modem` at `level_dbm0`.
    pub fn new(modem: FskModem, level_dbm0: f32) -> Self {
        FskModulator { modem, osc: Oscillator::with_amplitude(modem.mark_hz, dbm0_to_peak(level_dbm0)), bits: 0, samples: 0 }
    }

    /// Bits sent so far.
    pub fn bits_sent(&self) -> u64 {
        self.bits
    }

    /// Append one bit. Bit boundaries fall on the nearest sample at or below
    /// `k * 8000 / baud`, so the average bit length is exact.
    pub fn bit(&mut self, bit: bool, out: &mut Vec<i16>) {
        let baud = u64::from(self.modem.baud.max(1));
        self.bits += 1;
        let end = self.bits.saturating_mul(u64::from(SAMPLE_RATE)) / baud;
        let n = end.saturating_sub(self.samples);
        self.samples = end;
        self.osc.set_frequency(if bit { self.modem.mark_hz } else { self.modem.space_hz });
        for _ in 0..n {
            out.push(crate::tone::to_i16(self.osc.next_sample()));
        }
    }

    /// Append `n` alternating bits, starting with 0 (channel seizure).
    pub fn seizure(&mut self, n: u32, out: &mut Vec<i16>) {
        for i in 0..n {
            self.bit(i % 2 == 1, out);
        }
    }

    /// Append `n` mark (1) bits.
    pub fn mark(&mut self, n: u32, out: &mut Vec<i16>) {
        for _ in 0..n {
            self.bit(true, out);
        }
    }

    /// Append one framed byte: start bit, 8 data bits LSB first, stop bit.
    pub fn byte(&mut self, b: u8, out: &mut Vec<i16>) {
        self.bit(false, out);
        for i in 0..8 {
            self.bit((b >> i) & 1 == 1, out);
        }
        self.bit(true, out);
    }

    /// Append framed bytes back to back.
    pub fn bytes(&mut self, data: &[u8], out: &mut Vec<i16>) {
        for &b in data {
            self.byte(b, out);
        }
    }
}

/// Modulate a complete transmission: seizure, mark, then the framed bytes.
pub fn transmit(standard: Standard, data: &[u8], level_dbm0: f32) -> Vec<i16> {
    let mut m = FskModulator::new(standard.modem(), level_dbm0);
    let bits = standard.seizure_bits() as usize + standard.mark_bits() as usize + 10 * data.len();
    let mut out = Vec::with_capacity(bits * 7 + 8);
    m.seizure(standard.seizure_bits(), &mut out);
    m.mark(standard.mark_bits(), &mut out);
    m.bytes(data, &mut out);
    out
}

const MAX_WINDOW: usize = 32;

#[derive(Clone, Copy, Debug, PartialEq)]
enum Uart {
    /// Waiting for a start bit. `expected` is the predicted start edge right
    /// after a good stop bit, used when the line is already at space by the
    /// time the stop bit has been sampled (back-to-back bytes).
    Idle {
        expected: Option<f64>,
    },
    Frame {
        bit: u8,
        byte: u8,
        next_at: f64,
    },
}

/// Streaming FSK demodulator with UART framing; feed chunks of any size.
#[derive(Clone, Debug)]
pub struct FskDemodulator {
    window: usize,
    ring: [f32; MAX_WINDOW],
    ring_pos: usize,
    mark_cos: [f32; MAX_WINDOW],
    mark_sin: [f32; MAX_WINDOW],
    space_cos: [f32; MAX_WINDOW],
    space_sin: [f32; MAX_WINDOW],
    samples_per_bit: f64,
    carrier_threshold: f32,
    carrier: bool,
    prev_d: f32,
    history: [f32; 3],
    n: u64,
    uart: Uart,
    framing_errors: u64,
}

impl FskDemodulator {
    /// A demodulator for `modem` with the default carrier threshold (−48 dBm0).
    pub fn new(modem: FskModem) -> Self {
        Self::with_threshold(modem, -48.0)
    }

    /// A demodulator that ignores signals below `min_level_dbm0`.
    pub fn with_threshold(modem: FskModem, min_level_dbm0: f32) -> Self {
        let baud = modem.baud.max(1) as f64;
        let spb = SAMPLE_RATE as f64 / baud;
        let window = (spb.round() as usize).clamp(2, MAX_WINDOW);
        let table = |f: f32, sin: bool| {
            let w = std::f64::consts::TAU * f as f64 / SAMPLE_RATE as f64;
            let mut t = [0f32; MAX_WINDOW];
            for (k, v) in t.iter_mut().enumerate().take(window) {
                let a = w * k as f64;
                *v = if sin { a.sin() } else { a.cos() } as f32;
            }
            t
        };
        let amp = dbm0_to_peak(min_level_dbm0);
        // A sine of peak A at one of the two frequencies correlates to about
        // (A * W / 2)^2.
        let threshold = (amp * window as f32 / 2.0).powi(2);
        FskDemodulator {
            window,
            ring: [0.0; MAX_WINDOW],
            ring_pos: 0,
            mark_cos: table(modem.mark_hz, false),
            mark_sin: table(modem.mark_hz, true),
            space_cos: table(modem.space_hz, false),
            space_sin: table(modem.space_hz, true),
            samples_per_bit: spb,
            carrier_threshold: if threshold.is_finite() { threshold } else { 0.0 },
            carrier: false,
            prev_d: 0.0,
            history: [0.0; 3],
            n: 0,
            uart: Uart::Idle { expected: None },
            framing_errors: 0,
        }
    }

    /// Feed samples; received bytes are appended to `out`.
    pub fn process(&mut self, samples: &[i16], out: &mut Vec<u8>) {
        for &x in samples {
            if let Some(b) = self.push(x) {
                out.push(b);
            }
        }
    }

    /// End of input: feed a window of silence so the last frame completes.
    pub fn flush(&mut self, out: &mut Vec<u8>) {
        for _ in 0..self.window + 2 {
            if let Some(b) = self.push(0) {
                out.push(b);
            }
        }
    }

    /// Frames dropped because their stop bit was not mark.
    pub fn framing_errors(&self) -> u64 {
        self.framing_errors
    }

    /// Whether a carrier is currently present.
    pub fn carrier(&self) -> bool {
        self.carrier
    }

    /// Forget all state.
    pub fn reset(&mut self) {
        self.ring = [0.0; MAX_WINDOW];
        self.ring_pos = 0;
        self.carrier = false;
        self.prev_d = 0.0;
        self.history = [0.0; 3];
        self.n = 0;
        self.uart = Uart::Idle { expected: None };
        self.framing_errors = 0;
    }

    /// Feed one sample; returns a byte when a frame completes.
    pub fn push(&mut self, x: i16) -> Option<u8> {
        let w = self.window;
        self.ring[self.ring_pos] = x as f32;
        self.ring_pos = (self.ring_pos + 1) % w;
        let (mut mr, mut mi, mut sr, mut si) = (0f32, 0f32, 0f32, 0f32);
        for k in 0..w {
            let v = self.ring[(self.ring_pos + k) % w];
            mr += v * self.mark_cos[k];
            mi += v * self.mark_sin[k];
            sr += v * self.space_cos[k];
            si += v * self.space_sin[k];
        }
        let em = mr * mr + mi * mi;
        let es = sr * sr + si * si;
        let energy = em + es;
        let prev_carrier = self.carrier;
        self.carrier = energy > self.carrier_threshold && energy > 0.0;
        let d = if self.carrier { (em - es) / energy } else { 0.0 };
        let prev_d = self.prev_d;
        self.prev_d = d;
        self.history = [self.history[1], self.history[2], d];
        let n = self.n;
        self.n += 1;

        if !self.carrier {
            self.uart = Uart::Idle { expected: None };
            return None;
        }
        match self.uart {
            Uart::Idle { expected } => {
                let edge = if prev_carrier && prev_d > 0.0 && d <= 0.0 {
                    let frac = (prev_d / (prev_d - d)) as f64;
                    Some((n as f64 - 1.0) + frac)
                } else if d <= 0.0 {
                    expected.map(|e| e.min(n as f64))
                } else {
                    None
                };
                self.uart = match edge {
                    Some(edge) => Uart::Frame { bit: 0, byte: 0, next_at: edge + 0.5 * self.samples_per_bit },
                    // At mark: the next start bit shows as a transition.
                    None => Uart::Idle { expected: None },
                };
                None
            }
            Uart::Frame { bit, mut byte, next_at } => {
                // Vote over the samples around the bit centre, so wait for
                // one sample past it.
                if (n as f64) < next_at.round() + 1.0 {
                    return None;
                }
                let mark = self.history.iter().sum::<f32>() > 0.0;
                match bit {
                    0 if mark => {
                        // Glitch, not a start bit.
                        self.uart = Uart::Idle { expected: None };
                        None
                    }
                    0..=8 => {
                        if bit > 0 && mark {
                            byte |= 1 << (bit - 1);
                        }
                        self.uart = Uart::Frame { bit: bit + 1, byte, next_at: next_at + self.samples_per_bit };
                        None
                    }
                    _ => {
                        if mark {
                            self.uart = Uart::Idle { expected: Some(next_at + 0.5 * self.samples_per_bit) };
                            Some(byte)
                        } else {
                            self.uart = Uart::Idle { expected: None };
                            self.framing_errors += 1;
                            None
                        }
                    }
                }
            }
        }
    }
}

/// Demodulate a complete recording.
pub fn receive(modem: FskModem, samples: &[i16]) -> Vec<u8> {
    let mut d = FskDemodulator::new(modem);
    let mut out = Vec::new();
    d.process(samples, &mut out);
    d.flush(&mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::g711::Law;
    use crate::goertzel::{estimate_frequency, level_dbm0};
    use crate::test_util::{add, white_noise};

    fn payload() -> Vec<u8> {
        (0..=255u8).collect()
    }

    /// Strip the bytes decoded from the seizure (0x55) and the ones around
    /// the seizure/mark boundary: everything before the first 0xA5 marker.
    fn after_marker(bytes: &[u8]) -> &[u8] {
        let i = bytes.iter().position(|&b| b == 0xA5).expect("marker");
        &bytes[i + 1..]
    }

    fn with_marker(data: &[u8]) -> Vec<u8> {
        let mut v = vec![0xA5];
        v.extend_from_slice(data);
        v
    }

    #[test]
    fn modulator_bit_timing_averages_to_the_baud_rate() {
        let mut m = FskModulator::new(BELL_202, -10.0);
        let mut out = Vec::new();
        m.mark(1200, &mut out);
        assert_eq!(out.len(), 8000);
        assert_eq!(m.bits_sent(), 1200);
        let mut out = Vec::new();
        let mut m = FskModulator::new(V23, -10.0);
        m.byte(0x00, &mut out);
        assert_eq!(out.len(), 66);
    }

    #[test]
    fn mark_and_space_use_the_modem_frequencies() {
        for modem in [BELL_202, V23] {
            let mut m = FskModulator::new(modem, -10.0);
            let mut out = Vec::new();
            m.mark(120, &mut out);
            assert!((estimate_frequency(&out).unwrap() - modem.mark_hz).abs() < 2.0);
            out.clear();
            for _ in 0..120 {
                m.bit(false, &mut out);
            }
            assert!((estimate_frequency(&out).unwrap() - modem.space_hz).abs() < 2.0);
            assert!((level_dbm0(&out) + 10.0).abs() < 0.1);
        }
    }

    #[test]
    fn modulator_phase_is_continuous_across_bit_changes() {
        let mut m = FskModulator::new(BELL_202, 0.0);
        let mut out = Vec::new();
        m.seizure(100, &mut out);
        let peak = dbm0_to_peak(0.0);
        let max_step = peak * std::f32::consts::TAU * 2200.0 / 8000.0 + 2.0;
        for w in out.windows(2) {
            assert!(((w[1] as f32) - (w[0] as f32)).abs() <= max_step);
        }
    }

    #[test]
    fn seizure_decodes_as_0x55_bytes() {
        let s = transmit(Standard::Bell202, &[], -13.0);
        let bytes = receive(BELL_202, &s);
        assert!(bytes.len() >= 25, "{}", bytes.len());
        assert!(bytes[..25].iter().all(|&b| b == 0x55));
    }

    #[test]
    fn all_byte_values_round_trip_for_both_modems() {
        for std in [Standard::Bell202, Standard::V23] {
            let s = transmit(std, &with_marker(&payload()), -13.0);
            let bytes = receive(std.modem(), &s);
            assert_eq!(after_marker(&bytes), &payload()[..], "{std:?}");
        }
    }

    #[test]
    fn bytes_survive_ulaw_at_minus_20_dbm0_with_noise() {
        for std in [Standard::Bell202, Standard::V23] {
            let mut s = transmit(std, &with_marker(&payload()), -20.0);
            // 20 dB SNR.
            let noise = white_noise(s.len(), -40.0, 11);
            add(&mut s, &noise);
            Law::Mulaw.compand_in_place(&mut s);
            let mut d = FskDemodulator::new(std.modem());
            let mut bytes = Vec::new();
            for c in s.chunks(8) {
                d.process(c, &mut bytes);
            }
            d.flush(&mut bytes);
            assert_eq!(after_marker(&bytes), &payload()[..], "{std:?}");
        }
    }

    #[test]
    fn demodulation_does_not_depend_on_chunk_size() {
        let s = transmit(Standard::V23, &with_marker(b"Tandem"), -13.0);
        let reference = receive(V23, &s);
        for chunk in [1, 7, 160] {
            let mut d = FskDemodulator::new(V23);
            let mut bytes = Vec::new();
            for c in s.chunks(chunk) {
                d.process(c, &mut bytes);
            }
            d.flush(&mut bytes);
            assert_eq!(bytes, reference);
        }
    }

    #[test]
    fn silence_and_weak_noise_give_no_bytes() {
        assert!(receive(BELL_202, &vec![0; 8000]).is_empty());
        let noise = white_noise(8000, -60.0, 1);
        assert!(receive(BELL_202, &noise).is_empty());
    }

    #[test]
    fn garbage_input_does_not_panic() {
        let mut s: Vec<i16> = (0..5000).map(|i| if i % 5 < 2 { i16::MAX } else { i16::MIN }).collect();
        s.extend(white_noise(5000, 0.0, 2));
        let _ = receive(BELL_202, &s);
        let weird = FskModem { mark_hz: f32::NAN, space_hz: -1.0, baud: 0 };
        let _ = receive(weird, &s);
        let mut m = FskModulator::new(weird, f32::NAN);
        let mut out = Vec::new();
        m.byte(0x12, &mut out);
    }
}
