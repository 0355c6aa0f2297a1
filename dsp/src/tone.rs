//! Phase-continuous tone oscillators, cadences and call-progress tone plans.
//!
//! # Levels
//!
//! Levels are in dBm0. The reference is the G.711 µ-law convention that a sine
//! wave whose peak reaches digital full scale is **+3.14 dBm0**
//! ([`FULL_SCALE_DBM0`]); full scale here is a 16-bit peak of 32767. So 0 dBm0
//! is a sine with a peak of about 22 826 and an RMS value of about 16 140. The
//! same reference is used for A-law (whose own G.711 figure is +3.17 dBm0; the
//! 0.03 dB difference is ignored).
//!
//! # Cadences
//!
//! A [`Cadence`] is a list of `(on_ms, off_ms)` segments. After the last segment
//! it either stops or jumps back to segment `repeat_from`, which lets one
//! describe both plain repeating patterns (ringback) and "N bursts, then steady"
//! patterns (stutter dial tone). At 8 kHz one millisecond is exactly 8 samples.
//!
//! Oscillators keep running through the off parts of a cadence, so the output
//! is a gated continuous tone and does not depend on how the caller chunks it.

use std::borrow::Cow;
use std::collections::VecDeque;

use crate::SAMPLE_RATE;

/// Level in dBm0 of a sine whose peak is digital full scale (µ-law reference).
#[allow(clippy::approx_constant)] // a level in dB that happens to look like π
pub const FULL_SCALE_DBM0: f32 = 3.14;

/// Linear peak value treated as digital full scale.
pub const FULL_SCALE_PEAK: f32 = 32767.0;

/// Samples per millisecond at [`SAMPLE_RATE`].
pub const SAMPLES_PER_MS: u64 = (SAMPLE_RATE / 1000) as u64;

/// Maximum number of simultaneous frequencies in a [`ToneSpec`].
pub const MAX_COMPONENTS: usize = 4;

/// Peak amplitude (16-bit scale) of a sine at `dbm0`.
pub fn dbm0_to_peak(dbm0: f32) -> f32 {
    FULL_SCALE_PEAK * 10f32.powf((dbm0 - FULL_SCALE_DBM0) / 20.0)
}

/// RMS value (16-bit scale) of a sine at `dbm0`.
pub fn dbm0_to_rms(dbm0: f32) -> f32 {
    dbm0_to_peak(dbm0) * std::f32::consts::FRAC_1_SQRT_2
}

/// Level in dBm0 of a signal with RMS value `rms` (16-bit scale).
///
/// Returns `f32::NEG_INFINITY` for zero (or negative / NaN) input.
pub fn rms_to_dbm0(rms: f32) -> f32 {
    if rms.is_nan() || rms <= 0.0 {
        return f32::NEG_INFINITY;
    }
    20.0 * (rms / dbm0_to_rms(0.0)).log10()
}

/// Number of samples in `ms` milliseconds.
pub const fn ms_to_samples(ms: u32) -> u64 {
    ms as u64 * SAMPLES_PER_MS
}

/// A sine oscillator with a 32-bit phase accumulator.
///
/// Changing the frequency keeps the phase, so it can be used for
/// continuous-phase FSK.
#[derive(Clone, Debug, PartialEq)]
pub struct Oscillator {
    phase: u32,
    step: u32,
    amplitude: f32,
}

impl Oscillator {
    /// An oscillator at `freq_hz` with a level of `level_dbm0`, starting at phase 0.
    pub fn new(freq_hz: f32, level_dbm0: f32) -> Self {
        Self::with_amplitude(freq_hz, dbm0_to_peak(level_dbm0))
    }

    /// An oscillator with an explicit linear peak amplitude.
    pub fn with_amplitude(freq_hz: f32, peak: f32) -> Self {
        Oscillator { phase: 0, step: phase_step(freq_hz), amplitude: if peak.is_finite() { peak } else { 0.0 } }
    }

    /// Change the frequency, keeping the current phase.
    pub fn set_frequency(&mut self, freq_hz: f32) {
        self.step = phase_step(freq_hz);
    }

    /// Change the level.
    pub fn set_level(&mut self, level_dbm0: f32) {
        let peak = dbm0_to_peak(level_dbm0);
        self.amplitude = if peak.is_finite() { peak } else { 0.0 };
    }

    /// The frequency the oscillator actually produces (quantised to 2^-32 of
    /// the sample rate).
    pub fn frequency(&self) -> f32 {
        (self.step as f64 * SAMPLE_RATE as f64 / 4_294_967_296.0) as f32
    }

    /// The current phase in radians, `0..2π`.
    pub fn phase(&self) -> f32 {
        (self.phase as f64 * std::f64::consts::TAU / 4_294_967_296.0) as f32
    }

    /// Next sample as a float (not clipped).
    #[inline]
    pub fn next_sample(&mut self) -> f32 {
        let angle = self.phase as f64 * (std::f64::consts::TAU / 4_294_967_296.0);
        self.phase = self.phase.wrapping_add(self.step);
        (angle.sin() as f32) * self.amplitude
    }

    /// Advance the phase by `n` samples without producing output.
    #[inline]
    pub fn skip(&mut self, n: u64) {
        self.phase = self.phase.wrapping_add(self.step.wrapping_mul(n as u32));
    }

    /// Fill `out` with this oscillator alone (rounded and clipped to i16).
    pub fn fill(&mut self, out: &mut [i16]) {
        for s in out {
            *s = to_i16(self.next_sample());
        }
    }
}

fn phase_step(freq_hz: f32) -> u32 {
    let cycles_per_sample = (freq_hz as f64 / SAMPLE_RATE as f64).rem_euclid(1.0);
    // NaN and infinities become NaN here and cast to 0.
    (cycles_per_sample * 4_294_967_296.0) as u64 as u32
}

/// Round and saturate a float sample to i16 (NaN becomes 0).
#[inline]
pub(crate) fn to_i16(x: f32) -> i16 {
    x.round() as i16
}

/// One frequency of a tone, with its own level.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Component {
    /// Frequency in Hz.
    pub freq_hz: f32,
    /// Level in dBm0.
    pub level_dbm0: f32,
}

impl Component {
    /// A component at `freq_hz` and `level_dbm0`.
    pub const fn new(freq_hz: f32, level_dbm0: f32) -> Self {
        Component { freq_hz, level_dbm0 }
    }
}

const NO_COMPONENT: Component = Component::new(0.0, f32::NEG_INFINITY);

/// An on/off pattern: `(on_ms, off_ms)` segments played in order.
#[derive(Clone, Debug, PartialEq)]
pub struct Cadence {
    /// `(on_ms, off_ms)` pairs.
    pub segments: Cow<'static, [(u32, u32)]>,
    /// Segment to jump back to after the last one; `None` stops the tone.
    /// An index past the end also stops it.
    pub repeat_from: Option<usize>,
}

impl Default for Cadence {
    fn default() -> Self {
        Cadence::CONTINUOUS
    }
}

impl Cadence {
    /// Always on.
    pub const CONTINUOUS: Cadence = Cadence { segments: Cow::Borrowed(&[(1000, 0)]), repeat_from: Some(0) };

    /// The segments repeated for ever.
    pub const fn repeating(segments: &'static [(u32, u32)]) -> Self {
        Cadence { segments: Cow::Borrowed(segments), repeat_from: Some(0) }
    }

    /// The segments played once.
    pub const fn once(segments: &'static [(u32, u32)]) -> Self {
        Cadence { segments: Cow::Borrowed(segments), repeat_from: None }
    }

    /// All segments once, then segments `repeat_from..` for ever.
    pub const fn looping_from(segments: &'static [(u32, u32)], repeat_from: usize) -> Self {
        Cadence { segments: Cow::Borrowed(segments), repeat_from: Some(repeat_from) }
    }

    /// A cadence from owned segments.
    pub fn from_vec(segments: Vec<(u32, u32)>, repeat_from: Option<usize>) -> Self {
        Cadence { segments: Cow::Owned(segments), repeat_from }
    }

    /// A single burst: `on_ms` of tone then `off_ms` of silence, once.
    pub fn burst(on_ms: u32, off_ms: u32) -> Self {
        Cadence::from_vec(vec![(on_ms, off_ms)], None)
    }

    /// Whether the pattern never ends (repeats a part that has non-zero length).
    pub fn is_infinite(&self) -> bool {
        match self.repeat_from {
            Some(r) if r < self.segments.len() => self.segments[r..].iter().any(|&(on, off)| on as u64 + off as u64 > 0),
            _ => false,
        }
    }

    /// Total length in samples if the pattern ends.
    pub fn duration_samples(&self) -> Option<u64> {
        if self.is_infinite() {
            return None;
        }
        Some(self.segments.iter().fold(0u64, |acc, &(on, off)| acc.saturating_add(ms_to_samples(on) + ms_to_samples(off))))
    }
}

/// A tone: up to [`MAX_COMPONENTS`] simultaneous frequencies and a cadence.
#[derive(Clone, Debug, PartialEq)]
pub struct ToneSpec {
    components: [Component; MAX_COMPONENTS],
    count: usize,
    /// The on/off pattern.
    pub cadence: Cadence,
}

impl ToneSpec {
    /// A single frequency.
    pub const fn single(freq_hz: f32, level_dbm0: f32, cadence: Cadence) -> Self {
        ToneSpec { components: [Component::new(freq_hz, level_dbm0), NO_COMPONENT, NO_COMPONENT, NO_COMPONENT], count: 1, cadence }
    }

    /// Two frequencies, each at `level_dbm0`.
    pub const fn dual(f1: f32, f2: f32, level_dbm0: f32, cadence: Cadence) -> Self {
        Self::dual_levels(f1, level_dbm0, f2, level_dbm0, cadence)
    }

    /// Two frequencies with their own levels (e.g. DTMF with twist).
    pub const fn dual_levels(f1: f32, l1: f32, f2: f32, l2: f32, cadence: Cadence) -> Self {
        ToneSpec { components: [Component::new(f1, l1), Component::new(f2, l2), NO_COMPONENT, NO_COMPONENT], count: 2, cadence }
    }

    /// Any number of components; those past [`MAX_COMPONENTS`] are ignored.
    /// An empty list gives a silent tone.
    pub fn new(components: &[Component], cadence: Cadence) -> Self {
        let mut c = [NO_COMPONENT; MAX_COMPONENTS];
        let count = components.len().min(MAX_COMPONENTS);
        c[..count].copy_from_slice(&components[..count]);
        ToneSpec { components: c, count, cadence }
    }

    /// The frequencies and levels.
    pub fn components(&self) -> &[Component] {
        &self.components[..self.count.min(MAX_COMPONENTS)]
    }

    /// The same tone with another cadence.
    pub fn with_cadence(mut self, cadence: Cadence) -> Self {
        self.cadence = cadence;
        self
    }

    /// The same tone with every component at `level_dbm0`.
    pub fn with_level(mut self, level_dbm0: f32) -> Self {
        for c in &mut self.components {
            c.level_dbm0 = level_dbm0;
        }
        self
    }

    /// Length in samples if the cadence ends.
    pub fn duration_samples(&self) -> Option<u64> {
        self.cadence.duration_samples()
    }

    /// A generator for this tone.
    pub fn generator(&self) -> ToneGenerator {
        ToneGenerator::new(self)
    }

    /// The first `n` samples of the tone (allocates `n` samples; use
    /// [`ToneSpec::generator`] to stream long signals).
    pub fn render(&self, n: usize) -> Vec<i16> {
        let mut v = vec![0; n];
        self.generator().fill(&mut v);
        v
    }
}

/// Streams a [`ToneSpec`] into caller-provided buffers of any size.
#[derive(Clone, Debug)]
pub struct ToneGenerator {
    oscillators: [Oscillator; MAX_COMPONENTS],
    count: usize,
    cadence: Cadence,
    segment: usize,
    position: u64,
    empty_run: usize,
    finished: bool,
    elapsed: u64,
}

impl ToneGenerator {
    /// A generator at the start of `spec`.
    pub fn new(spec: &ToneSpec) -> Self {
        let mut oscillators: [Oscillator; MAX_COMPONENTS] = std::array::from_fn(|_| Oscillator::with_amplitude(0.0, 0.0));
        let comps = spec.components();
        for (o, c) in oscillators.iter_mut().zip(comps) {
            *o = Oscillator::new(c.freq_hz, c.level_dbm0);
        }
        ToneGenerator {
            oscillators,
            count: comps.len(),
            cadence: spec.cadence.clone(),
            segment: 0,
            position: 0,
            empty_run: 0,
            finished: spec.cadence.segments.is_empty(),
            elapsed: 0,
        }
    }

    /// Whether the cadence has ended (output is silence from now on).
    pub fn is_finished(&self) -> bool {
        self.finished
    }

    /// Samples produced so far (including silence).
    pub fn elapsed_samples(&self) -> u64 {
        self.elapsed
    }

    /// Fill `out` with the next samples; silence once the cadence has ended.
    pub fn fill(&mut self, out: &mut [i16]) {
        let n = self.fill_until_end(out);
        out[n..].fill(0);
        self.elapsed += (out.len() - n) as u64;
    }

    /// Fill `out` until the cadence ends; returns how many samples were written.
    pub fn fill_until_end(&mut self, out: &mut [i16]) -> usize {
        let mut i = 0;
        while i < out.len() && !self.finished {
            let Some(&(on_ms, off_ms)) = self.cadence.segments.get(self.segment) else {
                self.finished = true;
                break;
            };
            let on = ms_to_samples(on_ms);
            let len = on + ms_to_samples(off_ms);
            if self.position >= len {
                self.next_segment(len == 0);
                continue;
            }
            self.empty_run = 0;
            let (tone_on, remaining) = if self.position < on { (true, on - self.position) } else { (false, len - self.position) };
            let n = remaining.min((out.len() - i) as u64) as usize;
            let chunk = &mut out[i..i + n];
            if tone_on {
                let oscs = &mut self.oscillators[..self.count];
                for s in chunk.iter_mut() {
                    let v: f32 = oscs.iter_mut().map(|o| o.next_sample()).sum();
                    *s = to_i16(v);
                }
            } else {
                chunk.fill(0);
                for o in &mut self.oscillators[..self.count] {
                    o.skip(n as u64);
                }
            }
            i += n;
            self.position += n as u64;
        }
        self.elapsed += i as u64;
        i
    }

    fn next_segment(&mut self, was_empty: bool) {
        if was_empty {
            self.empty_run += 1;
            if self.empty_run > self.cadence.segments.len() {
                // A loop of zero-length segments: nothing will ever play.
                self.finished = true;
                return;
            }
        }
        self.position = 0;
        self.segment += 1;
        if self.segment >= self.cadence.segments.len() {
            match self.cadence.repeat_from {
                Some(r) if r < self.cadence.segments.len() => self.segment = r,
                _ => self.finished = true,
            }
        }
    }
}

/// Plays a queue of tones one after another (e.g. a dialled digit string).
///
/// A tone whose cadence never ends blocks the tones queued after it.
#[derive(Clone, Debug, Default)]
pub struct ToneSequencer {
    queue: VecDeque<ToneSpec>,
    current: Option<ToneGenerator>,
}

impl ToneSequencer {
    /// An empty sequencer.
    pub fn new() -> Self {
        Self::default()
    }

    /// Queue a tone after those already queued.
    pub fn push(&mut self, spec: ToneSpec) {
        self.queue.push_back(spec);
    }

    /// Queue several tones.
    pub fn extend<I: IntoIterator<Item = ToneSpec>>(&mut self, specs: I) {
        self.queue.extend(specs);
    }

    /// Drop the current and all queued tones.
    pub fn clear(&mut self) {
        self.queue.clear();
        self.current = None;
    }

    /// Whether nothing is playing or queued.
    pub fn is_idle(&self) -> bool {
        self.current.is_none() && self.queue.is_empty()
    }

    /// Fill `out`; silence when idle. Returns the number of samples that came
    /// from tones (the rest, at the end, is idle silence).
    pub fn fill(&mut self, out: &mut [i16]) -> usize {
        let mut i = 0;
        while i < out.len() {
            if self.current.is_none() {
                match self.queue.pop_front() {
                    Some(spec) => self.current = Some(ToneGenerator::new(&spec)),
                    None => break,
                }
            }
            if let Some(g) = &mut self.current {
                i += g.fill_until_end(&mut out[i..]);
                if g.is_finished() {
                    self.current = None;
                }
            }
        }
        out[i..].fill(0);
        i
    }
}

/// A national set of call-progress tones.
#[derive(Clone, Debug, PartialEq)]
pub struct TonePlan {
    /// Short name, e.g. `"us"`.
    pub name: &'static str,
    /// Dial tone.
    pub dial: ToneSpec,
    /// Audible ringing (ringback).
    pub ringback: ToneSpec,
    /// Busy (subscriber engaged).
    pub busy: ToneSpec,
    /// Reorder / congestion (network busy).
    pub reorder: ToneSpec,
    /// Stutter (message-waiting / special) dial tone, if the plan has one.
    pub stutter_dial: Option<ToneSpec>,
    /// Call-waiting tone, if the plan defines one.
    pub call_waiting: Option<ToneSpec>,
}

/// North American "precise tone plan" (frequencies, levels and cadences).
pub const NORTH_AMERICA: TonePlan = TonePlan {
    name: "us",
    dial: ToneSpec::dual(350.0, 440.0, -13.0, Cadence::CONTINUOUS),
    ringback: ToneSpec::dual(440.0, 480.0, -19.0, Cadence::repeating(&[(2000, 4000)])),
    busy: ToneSpec::dual(480.0, 620.0, -24.0, Cadence::repeating(&[(500, 500)])),
    reorder: ToneSpec::dual(480.0, 620.0, -24.0, Cadence::repeating(&[(250, 250)])),
    stutter_dial: Some(ToneSpec::dual(
        350.0,
        440.0,
        -13.0,
        Cadence::looping_from(
            &[(100, 100), (100, 100), (100, 100), (100, 100), (100, 100), (100, 100), (100, 100), (100, 100), (100, 100), (100, 100), (1000, 0)],
            10,
        ),
    )),
    call_waiting: Some(ToneSpec::single(440.0, -13.0, Cadence::once(&[(300, 0)]))),
};

/// ETSI / CEPT style plan: a single 425 Hz tone with different cadences.
/// Levels are typical values (not normative).
pub const ETSI: TonePlan = TonePlan {
    name: "etsi",
    dial: ToneSpec::single(425.0, -13.0, Cadence::CONTINUOUS),
    ringback: ToneSpec::single(425.0, -19.0, Cadence::repeating(&[(1000, 4000)])),
    busy: ToneSpec::single(425.0, -19.0, Cadence::repeating(&[(500, 500)])),
    reorder: ToneSpec::single(425.0, -19.0, Cadence::repeating(&[(250, 250)])),
    stutter_dial: None,
    call_waiting: None,
};

/// UK (BT) style plan. Levels are typical values (not normative).
pub const UK: TonePlan = TonePlan {
    name: "uk",
    dial: ToneSpec::dual(350.0, 450.0, -13.0, Cadence::CONTINUOUS),
    ringback: ToneSpec::dual(400.0, 450.0, -19.0, Cadence::repeating(&[(400, 200), (400, 2000)])),
    busy: ToneSpec::single(400.0, -19.0, Cadence::repeating(&[(375, 375)])),
    reorder: ToneSpec::single(400.0, -19.0, Cadence::repeating(&[(400, 350), (225, 525)])),
    stutter_dial: None,
    call_waiting: None,
};

/// All built-in plans.
pub const PLANS: [&TonePlan; 3] = [&NORTH_AMERICA, &ETSI, &UK];

/// Look a plan up by its [`TonePlan::name`] (case-insensitive).
pub fn plan_by_name(name: &str) -> Option<&'static TonePlan> {
    PLANS.iter().copied().find(|p| p.name.eq_ignore_ascii_case(name))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::goertzel::{estimate_frequency, goertzel_power, level_dbm0};

    #[test]
    fn level_reference_puts_full_scale_at_3_14_dbm0() {
        assert!((dbm0_to_peak(FULL_SCALE_DBM0) - 32767.0).abs() < 0.5);
        assert!((dbm0_to_peak(0.0) - 22826.0).abs() < 5.0);
        assert!((rms_to_dbm0(dbm0_to_rms(-13.0)) + 13.0).abs() < 1e-3);
        assert_eq!(rms_to_dbm0(0.0), f32::NEG_INFINITY);
        assert_eq!(rms_to_dbm0(f32::NAN), f32::NEG_INFINITY);
    }

    #[test]
    fn oscillator_produces_the_requested_frequency_and_level() {
        let mut o = Oscillator::new(1004.0, -10.0);
        let mut buf = vec![0i16; 8000];
        o.fill(&mut buf);
        let f = estimate_frequency(&buf).unwrap();
        assert!((f - 1004.0).abs() < 1.0, "{f}");
        assert!((level_dbm0(&buf) + 10.0).abs() < 0.05);
        assert!((o.frequency() - 1004.0).abs() < 0.001);
    }

    #[test]
    fn oscillator_accepts_nonsense_parameters_without_panicking() {
        for f in [f32::NAN, f32::INFINITY, -440.0, 1e30, 12_000.0] {
            for l in [f32::NAN, f32::INFINITY, f32::NEG_INFINITY, 100.0] {
                let mut o = Oscillator::new(f, l);
                let mut buf = [0i16; 16];
                o.fill(&mut buf);
                o.skip(u64::MAX);
            }
        }
    }

    #[test]
    fn generator_output_does_not_depend_on_chunk_size() {
        let spec = NORTH_AMERICA.ringback.clone();
        let whole = spec.render(8 * 7000);
        for chunk in [1usize, 7, 8, 160, 999] {
            let mut g = spec.generator();
            let mut out = Vec::new();
            let mut buf = vec![0i16; chunk];
            while out.len() < whole.len() {
                g.fill(&mut buf);
                out.extend_from_slice(&buf);
            }
            out.truncate(whole.len());
            assert_eq!(out, whole, "chunk {chunk}");
        }
    }

    #[test]
    fn phase_is_continuous_across_8_sample_chunks() {
        let spec = ToneSpec::single(440.0, -6.0, Cadence::CONTINUOUS);
        let mut g = spec.generator();
        let mut out = Vec::new();
        for _ in 0..100 {
            let mut buf = [0i16; 8];
            g.fill(&mut buf);
            out.extend_from_slice(&buf);
        }
        // A sine's sample-to-sample change is bounded by peak * 2π f / fs.
        let peak = dbm0_to_peak(-6.0);
        let max_step = peak * std::f32::consts::TAU * 440.0 / 8000.0 + 2.0;
        for w in out.windows(2) {
            assert!(((w[1] as f32) - (w[0] as f32)).abs() <= max_step);
        }
    }

    #[test]
    fn ringback_follows_two_seconds_on_four_off() {
        let s = NORTH_AMERICA.ringback.render(8 * 12_000);
        let on = |range: std::ops::Range<usize>| s[range].iter().any(|&x| x != 0);
        assert!(on(0..16_000));
        assert!(!on(16_000..48_000));
        assert!(on(48_000..64_000));
        assert!(!on(64_000..96_000));
        let tone = &s[..16_000];
        let p440 = goertzel_power(tone, 440.0);
        let p480 = goertzel_power(tone, 480.0);
        let expected = dbm0_to_rms(-19.0).powi(2);
        assert!((p440 / expected - 1.0).abs() < 0.05);
        assert!((p480 / expected - 1.0).abs() < 0.05);
    }

    #[test]
    fn busy_and_reorder_have_their_cadences() {
        let busy = NORTH_AMERICA.busy.render(8000);
        assert!(busy[..4000].iter().any(|&x| x != 0));
        assert!(busy[4000..8000].iter().all(|&x| x == 0));
        let reorder = NORTH_AMERICA.reorder.render(8000);
        assert!(reorder[2000..4000].iter().all(|&x| x == 0));
        assert!(reorder[4000..6000].iter().any(|&x| x != 0));
    }

    #[test]
    fn stutter_dial_tone_turns_steady_after_the_bursts() {
        let spec = NORTH_AMERICA.stutter_dial.clone().unwrap();
        let s = spec.render(8 * 5000);
        assert!(s[800..1600].iter().all(|&x| x == 0));
        assert!(s[1600..2400].iter().any(|&x| x != 0));
        // After 10 bursts (2 s) the tone never stops again.
        for block in s[16_000..].chunks(80) {
            assert!(block.iter().any(|&x| x != 0));
        }
        assert!(spec.cadence.is_infinite());
    }

    #[test]
    fn one_shot_cadence_finishes_and_then_is_silent() {
        let spec = ToneSpec::single(1000.0, -10.0, Cadence::once(&[(10, 5), (20, 0)]));
        assert_eq!(spec.duration_samples(), Some(8 * 35));
        let mut g = spec.generator();
        let mut buf = vec![1i16; 1000];
        let n = g.fill_until_end(&mut buf);
        assert_eq!(n, 8 * 35);
        assert!(g.is_finished());
        g.fill(&mut buf);
        assert!(buf.iter().all(|&x| x == 0));
    }

    #[test]
    fn zero_length_and_empty_cadences_terminate() {
        let specs = [
            ToneSpec::single(1000.0, 0.0, Cadence::repeating(&[(0, 0), (0, 0)])),
            ToneSpec::single(1000.0, 0.0, Cadence::repeating(&[])),
            ToneSpec::single(1000.0, 0.0, Cadence::looping_from(&[(1, 1)], 5)),
        ];
        for spec in specs {
            let mut g = spec.generator();
            let mut buf = [0i16; 64];
            g.fill(&mut buf);
            assert!(g.is_finished());
            assert!(!spec.cadence.is_infinite());
        }
    }

    #[test]
    fn sequencer_plays_tones_back_to_back() {
        let mut seq = ToneSequencer::new();
        seq.push(ToneSpec::single(500.0, -10.0, Cadence::burst(10, 10)));
        seq.push(ToneSpec::single(1500.0, -10.0, Cadence::burst(10, 0)));
        let mut out = vec![0i16; 8 * 50];
        let n = seq.fill(&mut out);
        assert_eq!(n, 8 * 30);
        assert!(seq.is_idle());
        assert!(out[80..160].iter().all(|&x| x == 0));
        let f = estimate_frequency(&out[160..240]).unwrap();
        assert!((f - 1500.0).abs() < 30.0, "{f}");
        assert!(out[240..].iter().all(|&x| x == 0));
    }

    #[test]
    fn tone_spec_new_ignores_extra_components() {
        let comps: Vec<Component> = (0..6).map(|i| Component::new(300.0 + i as f32, -20.0)).collect();
        let spec = ToneSpec::new(&comps, Cadence::CONTINUOUS);
        assert_eq!(spec.components().len(), MAX_COMPONENTS);
        let silent = ToneSpec::new(&[], Cadence::CONTINUOUS).render(32);
        assert!(silent.iter().all(|&x| x == 0));
    }

    #[test]
    fn plans_are_found_by_name_and_have_sane_values() {
        assert_eq!(plan_by_name("US").unwrap().dial.components()[0].freq_hz, 350.0);
        assert_eq!(plan_by_name("etsi").unwrap().busy.components()[0].freq_hz, 425.0);
        assert!(plan_by_name("mars").is_none());
        for plan in PLANS {
            for t in [&plan.dial, &plan.ringback, &plan.busy, &plan.reorder] {
                assert!(!t.components().is_empty());
                let s = t.render(800);
                assert!(s.iter().any(|&x| x != 0));
            }
        }
    }
}
