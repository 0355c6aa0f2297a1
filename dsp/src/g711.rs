//! ITU-T G.711 µ-law / A-law companding: encode, decode and A-law <-> µ-law transcoding.
//!
//! Linear samples are 16-bit (`i16`). G.711 itself works on 14-bit (µ-law) and
//! 13-bit (A-law) magnitudes; here they are scaled to the 16-bit range, which is
//! the convention used by DAHDI and most software telephony stacks:
//!
//! * µ-law decodes to `-32124..=32124`, A-law to `-32256..=32256`.
//! * Encoding rounds towards the reconstruction level of the quantisation
//!   interval containing the sample, so `decode(encode(x))` differs from `x` by at
//!   most half a quantisation step (plus the clipping error beyond the largest
//!   level).
//!
//! # Zero codes
//!
//! µ-law has two codes for zero: `0xFF` (+0) and `0x7F` (−0). Both decode to `0`,
//! and the encoder always produces `0xFF` for zero, so `encode(decode(0x7F))` is
//! `0xFF`. Every other µ-law code and all 256 A-law codes round-trip exactly.
//! A-law has no zero level: its two smallest codes are ±8, and the idle/silence
//! code `0xD5` decodes to `+8`.
//!
//! No zero-code suppression (replacing µ-law `0x00` for T1 ones density) is
//! applied: that belongs to the line code, not to G.711.

/// µ-law code of silence (positive zero).
pub const ULAW_SILENCE: u8 = 0xFF;
/// A-law code of silence (smallest positive level, with the even bits inverted).
pub const ALAW_SILENCE: u8 = 0xD5;

/// µ-law bias added to the magnitude before locating the segment (16-bit scale).
const ULAW_BIAS: i32 = 0x84;
/// Largest magnitude the µ-law encoder represents before clipping (16-bit scale).
const ULAW_CLIP: i32 = 32635;

const fn ulaw_decode_calc(code: u8) -> i16 {
    let c = !code;
    let exponent = (c >> 4) & 0x07;
    let mantissa = (c & 0x0F) as i32;
    let magnitude = (((mantissa << 3) + ULAW_BIAS) << exponent) - ULAW_BIAS;
    if c & 0x80 != 0 { -magnitude as i16 } else { magnitude as i16 }
}

const fn alaw_decode_calc(code: u8) -> i16 {
    let c = code ^ 0x55;
    let segment = (c >> 4) & 0x07;
    let mantissa = (c & 0x0F) as i32;
    // 13-bit magnitude at the centre of the quantisation interval.
    let magnitude = if segment == 0 { (mantissa << 1) + 1 } else { ((mantissa << 1) + 33) << (segment - 1) };
    let linear = magnitude << 3;
    if c & 0x80 != 0 { linear as i16 } else { -linear as i16 }
}

/// Encode one linear sample to µ-law (G.711 §2, 16-bit scaled).
#[inline]
pub const fn ulaw_encode(sample: i16) -> u8 {
    let x = sample as i32;
    let (sign, magnitude) = if x < 0 { (0x80u8, -x) } else { (0u8, x) };
    let clipped = if magnitude > ULAW_CLIP { ULAW_CLIP } else { magnitude };
    let biased = clipped + ULAW_BIAS; // 132..=32767, so bit 7..=14 is the top bit
    let exponent = (31 - biased.leading_zeros()) as i32 - 7;
    let mantissa = (biased >> (exponent + 3)) & 0x0F;
    !(sign | ((exponent as u8) << 4) | mantissa as u8)
}

/// Encode one linear sample to A-law (G.711 §3, 16-bit scaled).
#[inline]
pub const fn alaw_encode(sample: i16) -> u8 {
    let x = sample as i32;
    let (sign, magnitude) = if x >= 0 { (0x80u8, x) } else { (0u8, -x) };
    let m13 = magnitude >> 3;
    let m13 = if m13 > 0x0FFF { 0x0FFF } else { m13 };
    let code = if m13 < 32 {
        (m13 >> 1) as u8
    } else {
        // m13 in [32 << (s - 1), 64 << (s - 1)) is segment s (1..=7).
        let segment = (31 - m13.leading_zeros()) - 4;
        ((segment as u8) << 4) | ((m13 >> segment) & 0x0F) as u8
    };
    (sign | code) ^ 0x55
}

const fn build_ulaw_table() -> [i16; 256] {
    let mut t = [0i16; 256];
    let mut i = 0;
    while i < 256 {
        t[i] = ulaw_decode_calc(i as u8);
        i += 1;
    }
    t
}

const fn build_alaw_table() -> [i16; 256] {
    let mut t = [0i16; 256];
    let mut i = 0;
    while i < 256 {
        t[i] = alaw_decode_calc(i as u8);
        i += 1;
    }
    t
}

/// µ-law code -> linear sample (16-bit scaled).
pub static ULAW_DECODE_TABLE: [i16; 256] = build_ulaw_table();
/// A-law code -> linear sample (16-bit scaled).
pub static ALAW_DECODE_TABLE: [i16; 256] = build_alaw_table();

const fn build_alaw_to_ulaw() -> [u8; 256] {
    let mut t = [0u8; 256];
    let mut i = 0;
    while i < 256 {
        t[i] = ulaw_encode(alaw_decode_calc(i as u8));
        i += 1;
    }
    t
}

const fn build_ulaw_to_alaw() -> [u8; 256] {
    let mut t = [0u8; 256];
    let mut i = 0;
    while i < 256 {
        t[i] = alaw_encode(ulaw_decode_calc(i as u8));
        i += 1;
    }
    t
}

/// A-law code -> µ-law code (via the linear value; see [`alaw_to_ulaw`]).
pub static ALAW_TO_ULAW_TABLE: [u8; 256] = build_alaw_to_ulaw();
/// µ-law code -> A-law code (via the linear value; see [`ulaw_to_alaw`]).
pub static ULAW_TO_ALAW_TABLE: [u8; 256] = build_ulaw_to_alaw();

/// Decode one µ-law code to a linear sample.
#[inline]
pub fn ulaw_decode(code: u8) -> i16 {
    ULAW_DECODE_TABLE[code as usize]
}

/// Decode one A-law code to a linear sample.
#[inline]
pub fn alaw_decode(code: u8) -> i16 {
    ALAW_DECODE_TABLE[code as usize]
}

/// Transcode an A-law code to µ-law.
///
/// The table holds the µ-law encoding of each A-law reconstruction level.
/// Around 400..512 and at the top of some segments the two laws' intervals do
/// not nest, so A-law -> µ-law -> A-law returns an adjacent code for 16 of the
/// 256 codes (the same holds the other way round); the level never moves by
/// more than one quantisation step.
#[inline]
pub fn alaw_to_ulaw(code: u8) -> u8 {
    ALAW_TO_ULAW_TABLE[code as usize]
}

/// Transcode a µ-law code to A-law (the A-law encoding of the µ-law level).
///
/// µ-law has finer steps than A-law near zero, so small levels merge.
#[inline]
pub fn ulaw_to_alaw(code: u8) -> u8 {
    ULAW_TO_ALAW_TABLE[code as usize]
}

/// The G.711 companding law of a channel.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub enum Law {
    /// µ-law (North America, Japan; T1 lines).
    #[default]
    Mulaw,
    /// A-law (Europe and most other countries; E1 lines).
    Alaw,
}

impl Law {
    /// Encode one linear sample.
    #[inline]
    pub fn encode(self, sample: i16) -> u8 {
        match self {
            Law::Mulaw => ulaw_encode(sample),
            Law::Alaw => alaw_encode(sample),
        }
    }

    /// Decode one code to a linear sample.
    #[inline]
    pub fn decode(self, code: u8) -> i16 {
        match self {
            Law::Mulaw => ulaw_decode(code),
            Law::Alaw => alaw_decode(code),
        }
    }

    /// The idle / silence code of this law.
    #[inline]
    pub fn silence(self) -> u8 {
        match self {
            Law::Mulaw => ULAW_SILENCE,
            Law::Alaw => ALAW_SILENCE,
        }
    }

    /// The 256-entry decode table of this law.
    pub fn decode_table(self) -> &'static [i16; 256] {
        match self {
            Law::Mulaw => &ULAW_DECODE_TABLE,
            Law::Alaw => &ALAW_DECODE_TABLE,
        }
    }

    /// Encode `samples` into `codes`; only the common prefix of both slices is used.
    pub fn encode_slice(self, samples: &[i16], codes: &mut [u8]) {
        for (c, &s) in codes.iter_mut().zip(samples) {
            *c = self.encode(s);
        }
    }

    /// Decode `codes` into `samples`; only the common prefix of both slices is used.
    pub fn decode_slice(self, codes: &[u8], samples: &mut [i16]) {
        let table = self.decode_table();
        for (s, &c) in samples.iter_mut().zip(codes) {
            *s = table[c as usize];
        }
    }

    /// Encode a slice into a new vector.
    pub fn encode_vec(self, samples: &[i16]) -> Vec<u8> {
        samples.iter().map(|&s| self.encode(s)).collect()
    }

    /// Decode a slice into a new vector.
    pub fn decode_vec(self, codes: &[u8]) -> Vec<i16> {
        let table = self.decode_table();
        codes.iter().map(|&c| table[c as usize]).collect()
    }

    /// `decode(encode(sample))`: what a sample sounds like after a trip through a
    /// G.711 channel.
    #[inline]
    pub fn companded(self, sample: i16) -> i16 {
        self.decode(self.encode(sample))
    }

    /// Replace every sample by its companded value (see [`Law::companded`]).
    pub fn compand_in_place(self, samples: &mut [i16]) {
        for s in samples {
            *s = self.companded(*s);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Half the quantisation step of the µ-law segment holding `x` (16-bit scale),
    /// with the clipping region above the top level included.
    fn ulaw_max_error(x: i16) -> i32 {
        let m = (x as i32).abs().min(ULAW_CLIP) + ULAW_BIAS;
        let exponent = (31 - m.leading_zeros()) as i32 - 7;
        let half_step = 4 << exponent;
        let clip_excess = ((x as i32).abs() - ULAW_CLIP).max(0);
        half_step + clip_excess
    }

    fn alaw_max_error(x: i16) -> i32 {
        let m13 = ((x as i32).abs() >> 3).min(0x0FFF);
        let half_step = if m13 < 64 {
            8
        } else {
            let segment = (31 - m13.leading_zeros()) - 4;
            8 << (segment - 1)
        };
        // Truncation to 13 bits stays inside the interval; |x| = 32768 clips
        // to the top interval, still within its half step.
        half_step
    }

    #[test]
    fn ulaw_decode_encode_stays_within_quantisation_error_for_every_i16() {
        for x in i16::MIN..=i16::MAX {
            let y = ulaw_decode(ulaw_encode(x));
            let err = (x as i32 - y as i32).abs();
            assert!(err <= ulaw_max_error(x), "x={x} y={y} err={err}");
        }
    }

    #[test]
    fn alaw_decode_encode_stays_within_quantisation_error_for_every_i16() {
        for x in i16::MIN..=i16::MAX {
            let y = alaw_decode(alaw_encode(x));
            let err = (x as i32 - y as i32).abs();
            assert!(err <= alaw_max_error(x), "x={x} y={y} err={err}");
        }
    }

    #[test]
    fn every_ulaw_code_round_trips_except_negative_zero() {
        for c in 0..=255u8 {
            let back = ulaw_encode(ulaw_decode(c));
            if c == 0x7F {
                assert_eq!(ulaw_decode(c), 0);
                assert_eq!(back, ULAW_SILENCE);
            } else {
                assert_eq!(back, c, "code {c:#04x}");
            }
        }
    }

    #[test]
    fn every_alaw_code_round_trips() {
        for c in 0..=255u8 {
            assert_eq!(alaw_encode(alaw_decode(c)), c, "code {c:#04x}");
        }
    }

    #[test]
    fn encoders_are_monotonic_in_the_linear_value() {
        let mut prev_u = ulaw_decode(ulaw_encode(i16::MIN));
        let mut prev_a = alaw_decode(alaw_encode(i16::MIN));
        for x in (i16::MIN + 1)..=i16::MAX {
            let u = ulaw_decode(ulaw_encode(x));
            let a = alaw_decode(alaw_encode(x));
            assert!(u >= prev_u && a >= prev_a, "x={x}");
            prev_u = u;
            prev_a = a;
        }
    }

    #[test]
    fn silence_codes_decode_to_the_smallest_levels() {
        assert_eq!(ulaw_decode(ULAW_SILENCE), 0);
        assert_eq!(ulaw_encode(0), ULAW_SILENCE);
        assert_eq!(alaw_decode(ALAW_SILENCE), 8);
        assert_eq!(alaw_encode(0), ALAW_SILENCE);
        assert_eq!(Law::Mulaw.silence(), 0xFF);
        assert_eq!(Law::Alaw.silence(), 0xD5);
    }

    #[test]
    fn decode_tables_are_odd_symmetric() {
        for c in 0..128u8 {
            assert_eq!(ulaw_decode(c), -ulaw_decode(c | 0x80));
            assert_eq!(alaw_decode(c), -alaw_decode(c | 0x80));
        }
    }

    #[test]
    fn extreme_samples_clip_to_the_largest_codes() {
        assert_eq!(ulaw_decode(ulaw_encode(i16::MAX)), 32124);
        assert_eq!(ulaw_decode(ulaw_encode(i16::MIN)), -32124);
        assert_eq!(alaw_decode(alaw_encode(i16::MAX)), 32256);
        assert_eq!(alaw_decode(alaw_encode(i16::MIN)), -32256);
    }

    #[test]
    fn transcoding_there_and_back_lands_on_the_same_or_an_adjacent_code() {
        let mut a_exact = 0;
        let mut u_exact = 0;
        for c in 0..=255u8 {
            // Same sign, magnitude index (segment and mantissa) off by at most one.
            let a = ulaw_to_alaw(alaw_to_ulaw(c));
            assert_eq!(a & 0x80, c & 0x80);
            let (ia, ic) = (((a ^ 0x55) & 0x7F) as i32, ((c ^ 0x55) & 0x7F) as i32);
            assert!((ia - ic).abs() <= 1, "A-law {c:#04x} -> {a:#04x}");
            a_exact += usize::from(a == c);
            let u = alaw_to_ulaw(ulaw_to_alaw(c));
            if ulaw_decode(c) != 0 {
                assert_eq!(u & 0x80, c & 0x80);
            }
            u_exact += usize::from(u == c);
        }
        assert_eq!(a_exact, 240);
        assert!(u_exact >= 200, "{u_exact}");
    }

    #[test]
    fn transcoding_keeps_the_level_within_one_step() {
        for c in 0..=255u8 {
            let lin = ulaw_decode(c) as i32;
            let via = alaw_decode(ulaw_to_alaw(c)) as i32;
            assert!((lin - via).abs() <= alaw_max_error(lin as i16), "code {c:#04x}");
            let lin = alaw_decode(c) as i32;
            let via = ulaw_decode(alaw_to_ulaw(c)) as i32;
            assert!((lin - via).abs() <= ulaw_max_error(lin as i16), "code {c:#04x}");
        }
    }

    #[test]
    fn law_slice_helpers_match_the_scalar_functions() {
        let samples: Vec<i16> = (-40..40).map(|i| i * 811).collect();
        for law in [Law::Mulaw, Law::Alaw] {
            let codes = law.encode_vec(&samples);
            let mut codes2 = vec![0u8; samples.len()];
            law.encode_slice(&samples, &mut codes2);
            assert_eq!(codes, codes2);
            let back = law.decode_vec(&codes);
            let mut back2 = vec![0i16; codes.len()];
            law.decode_slice(&codes, &mut back2);
            assert_eq!(back, back2);
            let mut inplace = samples.clone();
            law.compand_in_place(&mut inplace);
            assert_eq!(inplace, back);
        }
    }

    #[test]
    fn mismatched_slice_lengths_use_the_common_prefix() {
        let mut codes = [0u8; 2];
        Law::Mulaw.encode_slice(&[0, 0, 0, 0], &mut codes);
        assert_eq!(codes, [0xFF, 0xFF]);
        let mut out = [1i16; 4];
        Law::Alaw.decode_slice(&[0xD5], &mut out);
        assert_eq!(out, [8, 1, 1, 1]);
    }
}
