//! Building blocks shared by the streaming tone-signal detectors (DTMF, MF, R2).

use crate::DigitEvent;
use crate::goertzel::Goertzel;

/// A bank of `K` Goertzel filters run over fixed-size blocks.
#[derive(Clone, Debug)]
pub(crate) struct GoertzelBank<const K: usize> {
    filters: [Goertzel; K],
    block_len: usize,
    count: usize,
    energy: f64,
    /// Absolute position of the next sample.
    position: u64,
}

/// The analysis of one complete block.
pub(crate) struct BlockResult<const K: usize> {
    /// Mean-square power at each frequency.
    pub powers: [f32; K],
    /// Mean square of the whole block.
    pub mean_square: f32,
    /// Absolute position of the block's first sample.
    pub start: u64,
}

impl<const K: usize> GoertzelBank<K> {
    pub fn new(freqs: &[f32; K], block_len: usize) -> Self {
        GoertzelBank { filters: std::array::from_fn(|i| Goertzel::new(freqs[i])), block_len: block_len.max(1), count: 0, energy: 0.0, position: 0 }
    }

    /// Feed one sample; returns the analysis when a block completes.
    #[inline]
    pub fn push(&mut self, x: i16) -> Option<BlockResult<K>> {
        let v = x as f32;
        for f in &mut self.filters {
            f.push(v);
        }
        self.energy += (v as f64) * (v as f64);
        self.count += 1;
        self.position += 1;
        if self.count < self.block_len {
            return None;
        }
        let result = BlockResult {
            powers: std::array::from_fn(|i| self.filters[i].power()),
            mean_square: (self.energy / self.count as f64) as f32,
            start: self.position - self.count as u64,
        };
        for f in &mut self.filters {
            f.reset();
        }
        self.energy = 0.0;
        self.count = 0;
        Some(result)
    }

    /// Absolute position of the next sample.
    pub fn position(&self) -> u64 {
        self.position
    }

    pub fn reset(&mut self) {
        for f in &mut self.filters {
            f.reset();
        }
        self.energy = 0.0;
        self.count = 0;
        self.position = 0;
    }
}

/// Turns per-block decisions into down/up events: a new state (a signal, or
/// none) is accepted once it has been seen in `min_blocks` consecutive blocks.
#[derive(Clone, Debug)]
pub(crate) struct Debouncer<S> {
    min_blocks: u32,
    last: Option<S>,
    run: u32,
    run_start: u64,
    current: Option<S>,
}

impl<S: Copy + PartialEq> Debouncer<S> {
    pub fn new(min_blocks: u32) -> Self {
        Debouncer { min_blocks: min_blocks.max(1), last: None, run: 0, run_start: 0, current: None }
    }

    pub fn block(&mut self, result: Option<S>, block_start: u64, emit: &mut impl FnMut(DigitEvent<S>)) {
        if result == self.last {
            self.run = self.run.saturating_add(1);
        } else {
            self.last = result;
            self.run = 1;
            self.run_start = block_start;
        }
        if self.run >= self.min_blocks && self.current != result {
            if let Some(digit) = self.current.take() {
                emit(DigitEvent::DigitUp { digit, at: self.run_start });
            }
            if let Some(digit) = result {
                emit(DigitEvent::DigitDown { digit, at: self.run_start });
            }
            self.current = result;
        }
    }

    /// The signal currently down, if any.
    pub fn current(&self) -> Option<S> {
        self.current
    }

    /// End of input: release a signal still down, at `at`.
    pub fn finish(&mut self, at: u64, emit: &mut impl FnMut(DigitEvent<S>)) {
        if let Some(digit) = self.current.take() {
            emit(DigitEvent::DigitUp { digit, at });
        }
        self.last = None;
        self.run = 0;
    }

    pub fn reset(&mut self) {
        *self = Debouncer::new(self.min_blocks);
    }
}

/// `10^(db/10)`: a power ratio from decibels.
pub(crate) fn db_to_power_ratio(db: f32) -> f32 {
    10f32.powf(db / 10.0)
}
