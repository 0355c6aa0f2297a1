//! DAHDI_DIAL: the kernel's dial string player (DTMF, MF R1, MF R2 and pulse).
//!
//! Dial strings follow dahdi-base.c `__do_dtmf`: `T` selects DTMF, `M` MF R1,
//! `O` MF R2 forward, `R` MF R2 reverse, `P` pulse; `W` is a 500 ms pause.
//! Every tone digit is followed by silence of the same length. In MF R1 mode
//! `*` is KP, `#` ST, `A`/`B`/`C` ST'/ST''/ST'''. In MF R2 modes `1`–`9` are
//! signals 1–9 and `A`–`F` signals 10–15.

use std::collections::VecDeque;

use super::k::*;

/// Digit mode selected by the last mode letter.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum DigitMode {
    #[default]
    Dtmf,
    MfR1,
    MfR2Fwd,
    MfR2Rev,
    Pulse,
}

/// Per-digit tone lengths (DAHDI_SET_DIALPARAMS), in ms.
#[derive(Clone, Copy, Debug)]
pub struct DialParams {
    pub dtmf_tonelen: i32,
    pub mfv1_tonelen: i32,
    pub mfr2_tonelen: i32,
}

impl Default for DialParams {
    fn default() -> Self {
        DialParams { dtmf_tonelen: DTMF_LENGTH, mfv1_tonelen: MFR1_LENGTH, mfr2_tonelen: MFR2_LENGTH }
    }
}

/// One segment of generated audio: two frequencies (0 = none) for a number of samples.
#[derive(Clone, Copy, Debug)]
struct Segment {
    f1: f32,
    f2: f32,
    samples: u32,
}

/// What the dialer did with the next character.
pub enum Step {
    /// Pulse-dial this many breaks.
    Pulse(u32),
    /// A tone (or pause) is now playing.
    Tone,
    /// A mode letter or an unknown character; keep going.
    Skip,
    /// The string is exhausted.
    Done,
}

/// The dial string state of one channel.
#[derive(Default)]
pub struct Dialer {
    pub buf: VecDeque<u8>,
    pub mode: DigitMode,
    pub dialing: bool,
    pub pdialcount: u32,
    segments: VecDeque<Segment>,
    phase1: f32,
    phase2: f32,
}

/// Tone amplitude per frequency, about −7 dBm0 with µ-law's 3.14 dBm0 full scale.
const AMPLITUDE: f32 = 10_000.0;

impl Dialer {
    pub fn params() -> DialParams {
        DialParams::default()
    }

    /// True while a tone or pause is being generated.
    pub fn tone_active(&self) -> bool {
        !self.segments.is_empty()
    }

    /// Cancel everything (DIAL_OP_CANCEL, HOOK, or a write on a real channel).
    pub fn cancel(&mut self) {
        self.buf.clear();
        self.segments.clear();
        self.dialing = false;
        self.pdialcount = 0;
    }

    /// Take the next character and start whatever it asks for.
    pub fn next_step(&mut self, offhook: bool) -> Step {
        let Some(c) = self.buf.pop_front() else { return Step::Done };
        match c {
            b'T' => self.mode = DigitMode::Dtmf,
            b'M' => self.mode = DigitMode::MfR1,
            b'O' => self.mode = DigitMode::MfR2Fwd,
            b'R' => self.mode = DigitMode::MfR2Rev,
            b'P' => self.mode = DigitMode::Pulse,
            _ => {
                if c != b'W' && self.mode == DigitMode::Pulse {
                    if c.is_ascii_digit() && offhook {
                        let n = if c == b'0' { 10 } else { u32::from(c - b'0') };
                        return Step::Pulse(n);
                    }
                    return Step::Skip;
                }
                if self.start_tone(c) {
                    return Step::Tone;
                }
                return Step::Skip;
            }
        }
        Step::Skip
    }

    fn start_tone(&mut self, c: u8) -> bool {
        let p = DialParams::default();
        if c == b'W' {
            self.segments.push_back(Segment { f1: 0.0, f2: 0.0, samples: ms(PAUSE_LENGTH) });
            return true;
        }
        let (pair, on, off) = match self.mode {
            DigitMode::Dtmf => (dtmf_pair(c), p.dtmf_tonelen, p.dtmf_tonelen),
            DigitMode::MfR1 => {
                let on = if matches!(c, b'*' | b'A' | b'B' | b'C') { 100 } else { p.mfv1_tonelen };
                (mf_r1_pair(c), on, p.mfv1_tonelen)
            }
            DigitMode::MfR2Fwd => (mf_r2_pair(c, true), p.mfr2_tonelen, p.mfr2_tonelen),
            DigitMode::MfR2Rev => (mf_r2_pair(c, false), p.mfr2_tonelen, p.mfr2_tonelen),
            DigitMode::Pulse => (None, 0, 0),
        };
        let Some((f1, f2)) = pair else { return false };
        self.phase1 = 0.0;
        self.phase2 = 0.0;
        self.segments.push_back(Segment { f1, f2, samples: ms(on) });
        self.segments.push_back(Segment { f1: 0.0, f2: 0.0, samples: ms(off) });
        true
    }

    /// Generate one chunk of linear audio. Returns true when the current
    /// digit (tone plus its silence) has just finished.
    pub fn generate(&mut self, out: &mut [i16; CHUNK]) -> bool {
        for s in out.iter_mut() {
            let Some(seg) = self.segments.front_mut() else {
                *s = 0;
                continue;
            };
            let mut v = 0.0f32;
            if seg.f1 > 0.0 {
                v += AMPLITUDE * (self.phase1 * std::f32::consts::TAU).sin();
                self.phase1 = (self.phase1 + seg.f1 / 8000.0).fract();
            }
            if seg.f2 > 0.0 {
                v += AMPLITUDE * (self.phase2 * std::f32::consts::TAU).sin();
                self.phase2 = (self.phase2 + seg.f2 / 8000.0).fract();
            }
            *s = v as i16;
            seg.samples = seg.samples.saturating_sub(1);
            if seg.samples == 0 {
                self.segments.pop_front();
            }
        }
        self.segments.is_empty()
    }
}

fn ms(v: i32) -> u32 {
    (v.max(0) as u32) * 8
}

/// DTMF frequency pair (ITU-T Q.23), from tandem-dsp's keypad table.
pub fn dtmf_pair(c: u8) -> Option<(f32, f32)> {
    tandem_dsp::dtmf::tone_pair(char::from(c))
}

/// Bell MF (R1) frequency pair (ITU-T Q.320 / Telcordia).
pub fn mf_r1_pair(c: u8) -> Option<(f32, f32)> {
    Some(match c {
        b'1' => (700.0, 900.0),
        b'2' => (700.0, 1100.0),
        b'3' => (900.0, 1100.0),
        b'4' => (700.0, 1300.0),
        b'5' => (900.0, 1300.0),
        b'6' => (1100.0, 1300.0),
        b'7' => (700.0, 1500.0),
        b'8' => (900.0, 1500.0),
        b'9' => (1100.0, 1500.0),
        b'0' => (1300.0, 1500.0),
        b'*' => (1100.0, 1700.0), // KP
        b'#' => (1500.0, 1700.0), // ST
        b'A' => (900.0, 1700.0),  // ST'
        b'B' => (1300.0, 1700.0), // ST''
        b'C' => (700.0, 1700.0),  // ST'''
        _ => return None,
    })
}

/// MFC/R2 frequency pair (ITU-T Q.441): forward 1380–1980 Hz, backward 1140–540 Hz.
pub fn mf_r2_pair(c: u8, forward: bool) -> Option<(f32, f32)> {
    let n = match c {
        b'1'..=b'9' => c - b'0',
        b'A'..=b'F' => c - b'A' + 10,
        _ => return None,
    };
    // Signal n uses the n-th two-of-six combination, ordered by the higher frequency.
    const COMBOS: [(usize, usize); 15] =
        [(0, 1), (0, 2), (1, 2), (0, 3), (1, 3), (2, 3), (0, 4), (1, 4), (2, 4), (3, 4), (0, 5), (1, 5), (2, 5), (3, 5), (4, 5)];
    let (a, b) = COMBOS[usize::from(n - 1)];
    let f = |i: usize| if forward { 1380.0 + 120.0 * i as f32 } else { 1140.0 - 120.0 * i as f32 };
    Some((f(a), f(b)))
}
