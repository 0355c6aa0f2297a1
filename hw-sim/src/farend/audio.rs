//! Audio at a far end: what it plays into the line and what it records from it.

use std::collections::VecDeque;

/// Something a far end plays towards the host, as linear 8 kHz samples.
#[derive(Clone, Debug, Default)]
pub enum Source {
    /// Silence.
    #[default]
    Silence,
    /// A continuous tone of one or two frequencies with an on/off cadence.
    Tone(ToneGen),
    /// A finite buffer of samples, then silence (or repeat).
    Samples { data: Vec<i16>, pos: usize, repeat: bool },
}

/// A phase-continuous dual-tone generator with an optional cadence.
#[derive(Clone, Debug)]
pub struct ToneGen {
    pub freqs: Vec<f32>,
    pub amplitude: f32,
    /// (on ms, off ms); empty for continuous.
    pub cadence: Vec<(u32, u32)>,
    phases: Vec<f32>,
    t: u64,
}

impl ToneGen {
    /// A tone at `level_dbm0` (µ-law full scale sine = +3.14 dBm0).
    pub fn new(freqs: &[f32], level_dbm0: f32, cadence: Vec<(u32, u32)>) -> ToneGen {
        let amplitude = tandem_dsp::tone::dbm0_to_peak(level_dbm0);
        ToneGen { freqs: freqs.to_vec(), amplitude, cadence, phases: vec![0.0; freqs.len()], t: 0 }
    }

    fn next(&mut self) -> i16 {
        let on = if self.cadence.is_empty() {
            true
        } else {
            let period: u64 = self.cadence.iter().map(|(a, b)| u64::from(a + b) * 8).sum();
            let mut pos = if period == 0 { 0 } else { self.t % period };
            let mut on = false;
            for (a, b) in &self.cadence {
                let a8 = u64::from(*a) * 8;
                let b8 = u64::from(*b) * 8;
                if pos < a8 {
                    on = true;
                    break;
                }
                if pos < a8 + b8 {
                    break;
                }
                pos -= a8 + b8;
            }
            on
        };
        self.t += 1;
        let mut v = 0.0;
        for (f, p) in self.freqs.iter().zip(self.phases.iter_mut()) {
            if on {
                v += self.amplitude * (*p * std::f32::consts::TAU).sin();
            }
            *p = (*p + f / 8000.0).fract();
        }
        v.clamp(-32768.0, 32767.0) as i16
    }
}

impl Source {
    pub fn tone(freqs: &[f32], level_dbm0: f32, cadence: Vec<(u32, u32)>) -> Source {
        Source::Tone(ToneGen::new(freqs, level_dbm0, cadence))
    }

    pub fn samples(data: Vec<i16>) -> Source {
        Source::Samples { data, pos: 0, repeat: false }
    }

    /// True when nothing more will be produced (silence or a finished buffer).
    pub fn finished(&self) -> bool {
        match self {
            Source::Silence => true,
            Source::Tone(_) => false,
            Source::Samples { data, pos, repeat } => !*repeat && *pos >= data.len(),
        }
    }

    /// Fill one chunk.
    pub fn fill(&mut self, out: &mut [i16]) {
        match self {
            Source::Silence => out.fill(0),
            Source::Tone(g) => {
                for s in out.iter_mut() {
                    *s = g.next();
                }
            }
            Source::Samples { data, pos, repeat } => {
                for s in out.iter_mut() {
                    if *pos >= data.len() && *repeat && !data.is_empty() {
                        *pos = 0;
                    }
                    *s = data.get(*pos).copied().unwrap_or(0);
                    *pos += 1;
                }
                if *pos >= data.len() && !*repeat {
                    *pos = data.len();
                }
            }
        }
    }
}

/// Records what the host sends, up to a cap (oldest samples dropped).
#[derive(Clone, Debug)]
pub struct Recorder {
    pub samples: VecDeque<i16>,
    pub cap: usize,
    pub total: u64,
}

impl Default for Recorder {
    fn default() -> Self {
        // 60 s of audio.
        Recorder { samples: VecDeque::new(), cap: 8000 * 60, total: 0 }
    }
}

impl Recorder {
    pub fn push(&mut self, s: &[i16]) {
        for &v in s {
            if self.samples.len() >= self.cap {
                self.samples.pop_front();
            }
            self.samples.push_back(v);
        }
        self.total += s.len() as u64;
    }

    /// The last `n` samples (or fewer).
    pub fn last(&self, n: usize) -> Vec<i16> {
        let start = self.samples.len().saturating_sub(n);
        self.samples.iter().skip(start).copied().collect()
    }

    pub fn clear(&mut self) {
        self.samples.clear();
    }
}

/// The audio end of a line.
#[derive(Clone, Debug, Default)]
pub struct AudioEnd {
    pub source: Source,
    pub recorder: Recorder,
    /// Queue of sources to play after the current one finishes.
    pub queue: VecDeque<Source>,
    /// Set by `audio.play`: the next [`AudioEnd::fill`] starts a sound whose
    /// first sample the channel marks as its receive onset.
    pub mark_start: bool,
    /// The last [`AudioEnd::fill`] began with such a sound's first sample;
    /// the model takes it when it puts the chunk into the channel.
    pub started: bool,
}

impl AudioEnd {
    pub fn play(&mut self, s: Source) {
        self.queue.clear();
        self.source = s;
    }

    pub fn fill(&mut self, out: &mut [i16]) {
        self.started = std::mem::take(&mut self.mark_start);
        if self.source.finished()
            && let Some(next) = self.queue.pop_front()
        {
            self.source = next;
        }
        self.source.fill(out);
    }
}
