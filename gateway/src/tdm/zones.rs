//! Tone zones as data: each country's call-progress tones and ring cadence,
//! a generator for them, and a call-progress detector for an FXO line.
//!
//! A [`ToneZone`] holds one [`ToneSpec`] per [`ToneKind`] (dial, stutter dial,
//! ringback, busy, reorder, howler, call waiting) and the ring cadence. The
//! built-in zones are `us`, `uk`, `de`, `fr`, `au` and `jp`
//! ([`ToneZone::get`]); every parameter can be overridden, or a new zone
//! defined on top of a built-in one, with a [`ZoneOverride`] that the analog
//! config embeds as `[tones.<zone>]`:
//!
//! ```toml
//! [tones.us]
//! dial = { freqs = [350, 440], level_dbm0 = -13, cadence = [] }
//! busy = { cadence = [[500, 500]] }
//! ring_cadence = [[2000, 4000]]
//!
//! [tones.office]          # a zone of its own, starting from the German one
//! base = "de"
//! call_waiting = { freqs = [425], cadence = [[200, 200], [200, 9000]], once = true }
//! ```
//!
//! An empty cadence is a continuous tone; otherwise `(on_ms, off_ms)` pairs
//! repeat (from `repeat_from`, default 0), or play once with `once = true`.
//!
//! [`ToneZone::generator`] streams a tone as 8 kHz linear samples or G.711
//! ([`ZoneToneGen`], over [`tandem_dsp::tone`]); [`ToneZone::detector`]
//! builds a spandsp call-progress detector ([`ZoneDetector`]) that tells the
//! zone's dial tone, ringback, busy and reorder apart by frequency and cadence.
//!
//! Special Information Tones are the same in every zone (GR-1162-CORE,
//! within ITU-T Q.35): [`SitKind::tones`] gives the three segments of each
//! kind, [`ToneSequence`] plays them followed by e.g. the zone's reorder, and
//! [`SitDetector`] (Goertzel filters at the five SIT frequencies) hears and
//! decodes them. CAS E&M trunks use both to carry busy and unallocated in
//! band.

use std::collections::BTreeMap;

use serde::Deserialize;
use tandem_dsp::Law;
use tandem_dsp::tone::{self as dsp_tone, Cadence, Component};
use tandem_spandsp::{CadenceStep, DigitEvent, ProgressToneRx};

/// Most frequencies in one tone (what the generator mixes).
pub const MAX_FREQS: usize = dsp_tone::MAX_COMPONENTS;

/// Most `(on, off)` pairs in one cadence.
pub const MAX_CADENCE: usize = 32;

/// Longest single on or off time, ms.
pub const MAX_MS: u32 = 60_000;

/// The tones a zone defines.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ToneKind {
    /// Dial tone.
    Dial,
    /// Stutter (interrupted) dial tone: messages waiting, or a feature active.
    StutterDial,
    /// Audible ringing (ringback).
    Ringback,
    /// Busy (subscriber engaged).
    Busy,
    /// Reorder / congestion (network busy, number unobtainable).
    Reorder,
    /// Howler / receiver off-hook: the phone was left off-hook.
    Howler,
    /// Call-waiting tone, heard by the called party during a call.
    CallWaiting,
}

impl ToneKind {
    /// Every kind, in declaration order.
    pub const ALL: [ToneKind; 7] =
        [ToneKind::Dial, ToneKind::StutterDial, ToneKind::Ringback, ToneKind::Busy, ToneKind::Reorder, ToneKind::Howler, ToneKind::CallWaiting];

    /// The config key (`dial`, `stutter_dial`, ...).
    pub const fn key(self) -> &'static str {
        match self {
            ToneKind::Dial => "dial",
            ToneKind::StutterDial => "stutter_dial",
            ToneKind::Ringback => "ringback",
            ToneKind::Busy => "busy",
            ToneKind::Reorder => "reorder",
            ToneKind::Howler => "howler",
            ToneKind::CallWaiting => "call_waiting",
        }
    }
}

/// One tone: frequencies with their levels, and a cadence.
#[derive(Clone, Debug, PartialEq)]
pub struct ToneSpec {
    /// `(frequency Hz, level dBm0)`; 1 to [`MAX_FREQS`] entries.
    pub freqs: Vec<(f32, f32)>,
    /// `(on_ms, off_ms)` pairs; empty = continuous.
    pub cadence: Vec<(u32, u32)>,
    /// Pair to jump back to after the last one; `None` plays the cadence once.
    pub repeat_from: Option<usize>,
}

impl ToneSpec {
    /// A continuous tone of `freqs`, each at `level`.
    pub fn continuous(freqs: &[f32], level: f32) -> ToneSpec {
        ToneSpec { freqs: freqs.iter().map(|&f| (f, level)).collect(), cadence: Vec::new(), repeat_from: Some(0) }
    }

    /// A tone of `freqs`, each at `level`, repeating `cadence`.
    pub fn repeating(freqs: &[f32], level: f32, cadence: &[(u32, u32)]) -> ToneSpec {
        ToneSpec { freqs: freqs.iter().map(|&f| (f, level)).collect(), cadence: cadence.to_vec(), repeat_from: Some(0) }
    }

    /// Whether the tone never stops on its own.
    pub fn is_continuous(&self) -> bool {
        self.cadence.is_empty()
    }

    /// Checks the tone is something the generator and detector can take.
    pub fn validate(&self) -> Result<(), ZoneError> {
        if self.freqs.is_empty() || self.freqs.len() > MAX_FREQS {
            return Err(ZoneError::Invalid("a tone needs 1 to 4 frequencies"));
        }
        for &(f, l) in &self.freqs {
            if !(f.is_finite() && f > 0.0 && f < 4000.0) {
                return Err(ZoneError::Invalid("frequencies must be between 0 and 4000 Hz"));
            }
            if !(l.is_finite() && (-60.0..=dsp_tone::FULL_SCALE_DBM0).contains(&l)) {
                return Err(ZoneError::Invalid("levels must be between -60 and +3.14 dBm0"));
            }
        }
        if self.cadence.len() > MAX_CADENCE {
            return Err(ZoneError::Invalid("a cadence has at most 32 (on, off) pairs"));
        }
        if self.cadence.iter().any(|&(on, off)| on > MAX_MS || off > MAX_MS || on + off == 0) {
            return Err(ZoneError::Invalid("cadence times must be 0..=60000 ms and not both 0"));
        }
        if let Some(r) = self.repeat_from
            && !self.cadence.is_empty()
            && r >= self.cadence.len()
        {
            return Err(ZoneError::Invalid("repeat_from is past the end of the cadence"));
        }
        Ok(())
    }

    /// The same tone as a `tandem-dsp` tone (for its generator).
    pub fn to_dsp(&self) -> dsp_tone::ToneSpec {
        let comps: Vec<Component> = self.freqs.iter().map(|&(f, l)| Component::new(f, l)).collect();
        let cadence = if self.cadence.is_empty() { Cadence::CONTINUOUS } else { Cadence::from_vec(self.cadence.clone(), self.repeat_from) };
        dsp_tone::ToneSpec::new(&comps, cadence)
    }

    /// The cadence steps spandsp's detector should look for, with the
    /// frequencies mapped through `snap` (see [`detection_frequencies`]) and a
    /// continuous tone required to last `continuous_min_ms`; `None` for tones
    /// not detected by cadence (more than two on/off pairs).
    fn detector_steps_with(&self, snap: &[(f32, u16)], continuous_min_ms: u32) -> Option<Vec<CadenceStep>> {
        let mut f: Vec<u16> = Vec::new();
        for &(hz, _) in &self.freqs {
            let d = snap.iter().find(|(x, _)| *x == hz).map_or(hz.round() as u16, |&(_, d)| d);
            if !f.contains(&d) {
                f.push(d);
            }
        }
        f.sort_unstable();
        let (f1, f2) = match f.as_slice() {
            [] => return None,
            [a] => (*a, 0),
            // Three or more: the two lowest (these tables list the strongest first).
            [a, b, ..] => (*a, *b),
        };
        if self.cadence.is_empty() {
            return Some(vec![CadenceStep::tone(f1, f2, continuous_min_ms, 0)]);
        }
        if self.cadence.len() > tandem_spandsp::tone::MAX_STEPS / 2 {
            return None;
        }
        let tol = |ms: u32| (ms / 5).max(50);
        let mut steps = Vec::new();
        for &(on, off) in &self.cadence {
            steps.push(CadenceStep::tone(f1, f2, on.saturating_sub(tol(on)), on + tol(on)));
            steps.push(CadenceStep::silence(off.saturating_sub(tol(off)), off + tol(off)));
        }
        Some(steps)
    }
}

/// Frequencies closer than this are one detection frequency: spandsp analyses
/// 128-sample blocks (62.5 Hz bins) and cannot keep them apart.
const DETECT_MERGE_HZ: f32 = 55.0;

/// Maps every frequency of `tones` to the frequency the detector listens on:
/// frequencies are grouped when within [`DETECT_MERGE_HZ`] of a neighbour
/// (e.g. Australia's 413/425/438 Hz, the US 440/480 Hz) and each group is
/// represented by its mean.
fn detection_frequencies(tones: &[&ToneSpec]) -> Vec<(f32, u16)> {
    let mut all: Vec<f32> = tones.iter().flat_map(|t| t.freqs.iter().map(|&(f, _)| f)).collect();
    all.sort_by(f32::total_cmp);
    all.dedup();
    let mut out = Vec::new();
    let mut group: Vec<f32> = Vec::new();
    for f in all {
        if let Some(&last) = group.last()
            && f - last >= DETECT_MERGE_HZ
        {
            let mean = (group.iter().sum::<f32>() / group.len() as f32).round() as u16;
            out.extend(group.drain(..).map(|g| (g, mean)));
        }
        group.push(f);
    }
    if !group.is_empty() {
        let mean = (group.iter().sum::<f32>() / group.len() as f32).round() as u16;
        out.extend(group.drain(..).map(|g| (g, mean)));
    }
    out
}

/// A country's tones and ring cadence.
#[derive(Clone, Debug, PartialEq)]
pub struct ToneZone {
    /// Zone name, e.g. `"us"`.
    pub name: String,
    /// Dial tone.
    pub dial: ToneSpec,
    /// Stutter dial tone (message waiting).
    pub stutter_dial: ToneSpec,
    /// Ringback.
    pub ringback: ToneSpec,
    /// Busy.
    pub busy: ToneSpec,
    /// Reorder / congestion.
    pub reorder: ToneSpec,
    /// Howler / receiver off-hook.
    pub howler: ToneSpec,
    /// Call-waiting tone.
    pub call_waiting: ToneSpec,
    /// Ringing cadence on an FXS port, `(on_ms, off_ms)` pairs repeated.
    pub ring_cadence: Vec<(u32, u32)>,
}

/// Names of the built-in zones.
pub const ZONES: [&str; 6] = ["us", "uk", "de", "fr", "au", "jp"];

/// Receiver off-hook tone: 1400 + 2060 + 2450 + 2600 Hz, 0.1 s on / 0.1 s off
/// (Telcordia GR-506 "ROH"). Levels are lowered to −7 dBm0 per component so
/// that the four together stay below full scale. Used by every zone here:
/// E.180 Supp. 2 lists no howler for most countries.
fn howler() -> ToneSpec {
    ToneSpec::repeating(&[1400.0, 2060.0, 2450.0, 2600.0], -7.0, &[(100, 100)])
}

/// North American stutter: ten 0.1 s / 0.1 s bursts, then steady (GR-506 message-waiting dial tone).
fn stutter(freqs: &[f32], level: f32) -> ToneSpec {
    let mut cadence = vec![(100, 100); 10];
    cadence.push((1000, 0));
    ToneSpec { freqs: freqs.iter().map(|&f| (f, level)).collect(), cadence, repeat_from: Some(10) }
}

fn once(freqs: &[f32], level: f32, cadence: &[(u32, u32)]) -> ToneSpec {
    ToneSpec { repeat_from: None, ..ToneSpec::repeating(freqs, level, cadence) }
}

impl ToneZone {
    /// The built-in zone called `name` (case-insensitive), if there is one.
    pub fn get(name: &str) -> Option<ToneZone> {
        let n = name.to_ascii_lowercase();
        let z = |dial, stutter_dial, ringback, busy, reorder, call_waiting, ring: &[(u32, u32)]| ToneZone {
            name: n.clone(),
            dial,
            stutter_dial,
            ringback,
            busy,
            reorder,
            howler: howler(),
            call_waiting,
            ring_cadence: ring.to_vec(),
        };
        Some(match n.as_str() {
            // United States: Telcordia GR-506-CORE / ANSI T1.401 precise tone plan, as in
            // ITU-T E.180 Supp. 2. Dial −13, ringback −19, busy/reorder −24 dBm0 per component.
            "us" => z(
                ToneSpec::continuous(&[350.0, 440.0], -13.0),
                stutter(&[350.0, 440.0], -13.0),
                ToneSpec::repeating(&[440.0, 480.0], -19.0, &[(2000, 4000)]),
                ToneSpec::repeating(&[480.0, 620.0], -24.0, &[(500, 500)]),
                ToneSpec::repeating(&[480.0, 620.0], -24.0, &[(250, 250)]),
                once(&[440.0], -13.0, &[(300, 9700), (300, 0)]),
                &[(2000, 4000)],
            ),
            // United Kingdom: BT SIN 350 and E.180 Supp. 2. Ringback and ringing are the
            // double ring 0.4/0.2/0.4/2.0; NU/congestion 0.4/0.35/0.225/0.525; the
            // message-waiting dial tone is 350 + 450 Hz interrupted 0.75/0.75.
            "uk" => z(
                ToneSpec::continuous(&[350.0, 450.0], -13.0),
                ToneSpec::repeating(&[350.0, 450.0], -13.0, &[(750, 750)]),
                ToneSpec::repeating(&[400.0, 450.0], -19.0, &[(400, 200), (400, 2000)]),
                ToneSpec::repeating(&[400.0], -19.0, &[(375, 375)]),
                ToneSpec::repeating(&[400.0], -19.0, &[(400, 350), (225, 525)]),
                once(&[400.0], -19.0, &[(100, 2000), (100, 0)]),
                &[(400, 200), (400, 2000)],
            ),
            // Germany: Deutsche Telekom 1 TR 110 and E.180 Supp. 2: 425 Hz; busy 0.48/0.48,
            // congestion 0.24/0.24, ringing 1/4, special dial tone 425 + 400 Hz, call
            // waiting 0.2/0.2/0.2/5.0.
            "de" => z(
                ToneSpec::continuous(&[425.0], -13.0),
                ToneSpec::continuous(&[400.0, 425.0], -13.0),
                ToneSpec::repeating(&[425.0], -19.0, &[(1000, 4000)]),
                ToneSpec::repeating(&[425.0], -19.0, &[(480, 480)]),
                ToneSpec::repeating(&[425.0], -19.0, &[(240, 240)]),
                ToneSpec::repeating(&[425.0], -19.0, &[(200, 200), (200, 5000)]),
                &[(1000, 4000)],
            ),
            // France: France Télécom and E.180 Supp. 2: 440 Hz; ringing 1.5/3.5, busy
            // 0.5/0.5, congestion 0.25/0.25; call waiting 0.3 s every 10 s; the
            // messaging dial tone is interrupted like the North American one.
            "fr" => z(
                ToneSpec::continuous(&[440.0], -13.0),
                stutter(&[440.0], -13.0),
                ToneSpec::repeating(&[440.0], -19.0, &[(1500, 3500)]),
                ToneSpec::repeating(&[440.0], -19.0, &[(500, 500)]),
                ToneSpec::repeating(&[440.0], -19.0, &[(250, 250)]),
                ToneSpec::repeating(&[440.0], -19.0, &[(300, 10_000)]),
                &[(1500, 3500)],
            ),
            // Australia: Communications Alliance (ACIF) S002 and E.180 Supp. 2: dial tone
            // and ringback are 425 Hz modulated by 25 Hz (413 + 438 Hz); busy 425 Hz
            // 0.375/0.375; congestion has the busy cadence with alternate bursts 10 dB
            // lower (told apart from busy by level only, so reported as busy by the
            // detector); ringing 0.4/0.2/0.4/2.0; call waiting 0.2/0.2/0.2/4.4.
            "au" => z(
                ToneSpec::continuous(&[413.0, 438.0], -13.0),
                ToneSpec { freqs: vec![(413.0, -13.0), (438.0, -13.0)], cadence: vec![(100, 40)], repeat_from: Some(0) },
                ToneSpec::repeating(&[413.0, 438.0], -19.0, &[(400, 200), (400, 2000)]),
                ToneSpec::repeating(&[425.0], -19.0, &[(375, 375)]),
                ToneSpec::repeating(&[425.0], -19.0, &[(375, 375)]),
                ToneSpec::repeating(&[425.0], -19.0, &[(200, 200), (200, 4400)]),
                &[(400, 200), (400, 2000)],
            ),
            // Japan: NTT and E.180 Supp. 2: 400 Hz; ringback 400 Hz modulated by 16 Hz
            // (384 + 416 Hz) 1/2; busy and congestion both 0.5/0.5 (the detector reports
            // busy); ringing 1/2; the special dial tone is three 0.2/0.2 bursts then steady.
            "jp" => z(
                ToneSpec::continuous(&[400.0], -13.0),
                ToneSpec { freqs: vec![(400.0, -13.0)], cadence: vec![(200, 200), (200, 200), (200, 200), (1000, 0)], repeat_from: Some(3) },
                ToneSpec::repeating(&[384.0, 416.0], -19.0, &[(1000, 2000)]),
                ToneSpec::repeating(&[400.0], -19.0, &[(500, 500)]),
                ToneSpec::repeating(&[400.0], -19.0, &[(500, 500)]),
                ToneSpec::repeating(&[384.0, 416.0], -19.0, &[(500, 8000)]),
                &[(1000, 2000)],
            ),
            _ => return None,
        })
    }

    /// The zone `name` with the overrides in `overrides` applied: a built-in
    /// zone (with `[tones.<name>]` if present), or a zone defined only in the
    /// config with `base = "<built-in>"`.
    pub fn resolve(name: &str, overrides: &ToneOverrides) -> Result<ToneZone, ZoneError> {
        let ov = overrides.get(name).or_else(|| overrides.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v));
        let base = match ov.and_then(|o| o.base.as_deref()) {
            Some(b) => ToneZone::get(b).ok_or_else(|| ZoneError::UnknownZone(b.to_string()))?,
            None => ToneZone::get(name).ok_or_else(|| ZoneError::UnknownZone(name.to_string()))?,
        };
        let mut zone = ToneZone { name: name.to_ascii_lowercase(), ..base };
        if let Some(ov) = ov {
            zone.apply(ov)?;
        }
        zone.validate()?;
        Ok(zone)
    }

    /// Applies an override on top of this zone.
    pub fn apply(&mut self, ov: &ZoneOverride) -> Result<(), ZoneError> {
        for kind in ToneKind::ALL {
            if let Some(t) = ov.tone(kind) {
                t.apply(self.tone_mut(kind)).map_err(|e| ZoneError::Tone { kind: kind.key(), error: Box::new(e) })?;
            }
        }
        if let Some(r) = &ov.ring_cadence {
            self.ring_cadence = r.clone();
        }
        Ok(())
    }

    /// Checks every tone and the ring cadence.
    pub fn validate(&self) -> Result<(), ZoneError> {
        for kind in ToneKind::ALL {
            self.tone(kind).validate().map_err(|e| ZoneError::Tone { kind: kind.key(), error: Box::new(e) })?;
        }
        if self.ring_cadence.is_empty()
            || self.ring_cadence.len() > MAX_CADENCE
            || self.ring_cadence.iter().any(|&(on, off)| on == 0 || on > MAX_MS || off > MAX_MS)
        {
            return Err(ZoneError::Invalid("ring_cadence needs 1 to 32 (on, off) pairs with on > 0"));
        }
        Ok(())
    }

    /// The tone of `kind`.
    pub fn tone(&self, kind: ToneKind) -> &ToneSpec {
        match kind {
            ToneKind::Dial => &self.dial,
            ToneKind::StutterDial => &self.stutter_dial,
            ToneKind::Ringback => &self.ringback,
            ToneKind::Busy => &self.busy,
            ToneKind::Reorder => &self.reorder,
            ToneKind::Howler => &self.howler,
            ToneKind::CallWaiting => &self.call_waiting,
        }
    }

    /// The tone of `kind`, to change it.
    pub fn tone_mut(&mut self, kind: ToneKind) -> &mut ToneSpec {
        match kind {
            ToneKind::Dial => &mut self.dial,
            ToneKind::StutterDial => &mut self.stutter_dial,
            ToneKind::Ringback => &mut self.ringback,
            ToneKind::Busy => &mut self.busy,
            ToneKind::Reorder => &mut self.reorder,
            ToneKind::Howler => &mut self.howler,
            ToneKind::CallWaiting => &mut self.call_waiting,
        }
    }

    /// A generator for the tone of `kind`.
    pub fn generator(&self, kind: ToneKind) -> ZoneToneGen {
        ZoneToneGen::new(self.tone(kind))
    }

    /// A call-progress detector for this zone's dial tone, ringback, busy and
    /// reorder (the tones an FXO port listens for).
    pub fn detector(&self) -> Result<ZoneDetector, ZoneError> {
        ZoneDetector::new(self)
    }
}

/// Overrides for one tone; every field is optional.
#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ToneOverride {
    /// Frequencies, Hz.
    #[serde(default)]
    pub freqs: Option<Vec<f32>>,
    /// One level for every frequency, dBm0.
    #[serde(default)]
    pub level_dbm0: Option<f32>,
    /// A level per frequency, dBm0 (same length as the frequencies).
    #[serde(default)]
    pub levels_dbm0: Option<Vec<f32>>,
    /// `[on_ms, off_ms]` pairs; `[]` = continuous.
    #[serde(default)]
    pub cadence: Option<Vec<(u32, u32)>>,
    /// Pair to repeat from after the last one.
    #[serde(default)]
    pub repeat_from: Option<usize>,
    /// Play the cadence once instead of repeating it.
    #[serde(default)]
    pub once: Option<bool>,
}

impl ToneOverride {
    /// Applies this override to `spec`.
    pub fn apply(&self, spec: &mut ToneSpec) -> Result<(), ZoneError> {
        if let Some(f) = &self.freqs {
            let old = spec.freqs.first().map_or(-13.0, |&(_, l)| l);
            spec.freqs = f.iter().map(|&f| (f, old)).collect();
        }
        if let Some(l) = self.level_dbm0 {
            spec.freqs.iter_mut().for_each(|p| p.1 = l);
        }
        if let Some(ls) = &self.levels_dbm0 {
            if ls.len() != spec.freqs.len() {
                return Err(ZoneError::Invalid("levels_dbm0 needs one level per frequency"));
            }
            spec.freqs.iter_mut().zip(ls).for_each(|(p, &l)| p.1 = l);
        }
        if let Some(c) = &self.cadence {
            spec.cadence = c.clone();
            spec.repeat_from = Some(0);
        }
        if let Some(r) = self.repeat_from {
            spec.repeat_from = Some(r);
        }
        if self.once == Some(true) {
            spec.repeat_from = None;
        } else if self.once == Some(false) && spec.repeat_from.is_none() {
            spec.repeat_from = Some(0);
        }
        spec.validate()
    }
}

/// Overrides for a zone, as `[tones.<zone>]` in the config.
#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ZoneOverride {
    /// Built-in zone to start from (for a zone defined only in the config).
    #[serde(default)]
    pub base: Option<String>,
    /// Dial tone.
    #[serde(default)]
    pub dial: Option<ToneOverride>,
    /// Stutter dial tone.
    #[serde(default)]
    pub stutter_dial: Option<ToneOverride>,
    /// Ringback.
    #[serde(default)]
    pub ringback: Option<ToneOverride>,
    /// Busy.
    #[serde(default)]
    pub busy: Option<ToneOverride>,
    /// Reorder / congestion.
    #[serde(default)]
    pub reorder: Option<ToneOverride>,
    /// Howler / receiver off-hook.
    #[serde(default)]
    pub howler: Option<ToneOverride>,
    /// Call-waiting tone.
    #[serde(default)]
    pub call_waiting: Option<ToneOverride>,
    /// Ringing cadence, `[on_ms, off_ms]` pairs.
    #[serde(default)]
    pub ring_cadence: Option<Vec<(u32, u32)>>,
}

impl ZoneOverride {
    /// The override for `kind`, if any.
    pub fn tone(&self, kind: ToneKind) -> Option<&ToneOverride> {
        match kind {
            ToneKind::Dial => self.dial.as_ref(),
            ToneKind::StutterDial => self.stutter_dial.as_ref(),
            ToneKind::Ringback => self.ringback.as_ref(),
            ToneKind::Busy => self.busy.as_ref(),
            ToneKind::Reorder => self.reorder.as_ref(),
            ToneKind::Howler => self.howler.as_ref(),
            ToneKind::CallWaiting => self.call_waiting.as_ref(),
        }
    }
}

/// The `[tones]` table of the config: zone name → overrides.
pub type ToneOverrides = BTreeMap<String, ZoneOverride>;

/// Errors in zones and their overrides.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum ZoneError {
    /// No built-in zone has this name.
    #[error("unknown tone zone {0:?} (built-in zones: us, uk, de, fr, au, jp)")]
    UnknownZone(String),
    /// A value out of range.
    #[error("{0}")]
    Invalid(&'static str),
    /// A tone of the zone is invalid.
    #[error("tone {kind}: {error}")]
    Tone {
        /// Config key of the tone.
        kind: &'static str,
        /// What is wrong with it.
        error: Box<ZoneError>,
    },
    /// spandsp refused the detector's cadences.
    #[error("call-progress detector: {0}")]
    Detector(#[from] tandem_spandsp::Error),
}

/// Streams one tone of a zone as 8 kHz samples or G.711 bytes.
#[derive(Clone, Debug)]
pub struct ZoneToneGen {
    inner: dsp_tone::ToneGenerator,
    scratch: Vec<i16>,
}

impl ZoneToneGen {
    /// A generator for `spec`, starting at the beginning of its cadence.
    pub fn new(spec: &ToneSpec) -> ZoneToneGen {
        ZoneToneGen { inner: spec.to_dsp().generator(), scratch: Vec::new() }
    }

    /// Fills `out` with linear samples (silence once a `once` cadence ends).
    pub fn fill(&mut self, out: &mut [i16]) {
        self.inner.fill(out);
    }

    /// Fills `out` with G.711 bytes in `law`.
    pub fn fill_g711(&mut self, law: Law, out: &mut [u8]) {
        self.scratch.resize(out.len(), 0);
        self.inner.fill(&mut self.scratch);
        law.encode_slice(&self.scratch, out);
    }

    /// Whether a `once` cadence has ended.
    pub fn is_finished(&self) -> bool {
        self.inner.is_finished()
    }
}

/// A call-progress tone heard on a line.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ProgressTone {
    /// Dial tone (also the steady part of a stutter dial tone).
    Dial,
    /// Ringback.
    Ringback,
    /// Busy (or a reorder that the zone tells from busy by level only).
    Busy,
    /// Reorder / congestion.
    Reorder,
}

/// The guard pattern of [`ZoneDetector::new`].
const GUARD: CadenceStep = CadenceStep::tone(3700, 0, 60_000, 0);

/// A zone's call-progress detector (spandsp `super_tone_rx` over the zone's cadences).
#[derive(Debug)]
pub struct ZoneDetector {
    rx: ProgressToneRx,
    kinds: Vec<ProgressTone>,
}

impl ZoneDetector {
    /// A detector for `zone`'s dial tone, ringback, busy and reorder. A tone
    /// whose cadence equals an earlier one's is reported as the earlier one.
    pub fn new(zone: &ToneZone) -> Result<ZoneDetector, ZoneError> {
        let mut sets: Vec<Vec<CadenceStep>> = Vec::new();
        let mut kinds = Vec::new();
        let tones = [
            (ProgressTone::Dial, &zone.dial),
            (ProgressTone::Busy, &zone.busy),
            (ProgressTone::Reorder, &zone.reorder),
            (ProgressTone::Ringback, &zone.ringback),
        ];
        let snap = detection_frequencies(&tones.map(|(_, t)| t));
        // A continuous tone must outlast every on-period of the other tones, so
        // that a long ringback burst is not taken for dial tone.
        let longest_on = tones.iter().flat_map(|(_, t)| t.cadence.iter().map(|&(on, _)| on + (on / 5).max(50))).max().unwrap_or(0);
        let continuous_min_ms = (longest_on + 100).max(500);
        for (kind, spec) in tones {
            let Some(mut steps) = spec.detector_steps_with(&snap, continuous_min_ms) else { continue };
            // Busy and reorder must be heard for two whole cycles, so that the first
            // burst of a double-ring ringback (UK, AU) or the first half of the UK
            // congestion cadence is not taken for busy.
            if matches!(kind, ProgressTone::Busy | ProgressTone::Reorder) && steps.len() == 2 {
                steps.extend_from_within(..);
            }
            if sets.contains(&steps) {
                continue;
            }
            sets.push(steps);
            kinds.push(kind);
        }
        // spandsp's super_tone_rx misreads single-frequency tones when it monitors
        // only one frequency (its "fewer than 2 monitored" shortcut reports the
        // pair (0, 0)); a guard pattern adds a second frequency that no zone tone
        // uses. It can never match (it needs a minute of 3700 Hz), and events for
        // its index are dropped.
        sets.push(vec![GUARD]);
        let refs: Vec<&[CadenceStep]> = sets.iter().map(Vec::as_slice).collect();
        Ok(ZoneDetector { rx: ProgressToneRx::new(&refs)?, kinds })
    }

    /// Feeds samples; `on_event` gets each tone start (`DigitDown`) and end (`DigitUp`),
    /// with positions in samples since the detector was made.
    pub fn process_with(&mut self, samples: &[i16], mut on_event: impl FnMut(DigitEvent<ProgressTone>)) {
        let kinds = &self.kinds;
        self.rx.process_with(samples, |e| {
            if let Some(&k) = kinds.get(e.digit()) {
                on_event(e.map(|_| k));
            }
        });
    }

    /// The tone currently heard, if any.
    pub fn current(&self) -> Option<ProgressTone> {
        self.rx.current().and_then(|i| self.kinds.get(i).copied())
    }
}

/// The kinds of Special Information Tone a switch plays before an
/// announcement when a call fails (Telcordia GR-1162-CORE, within ITU-T
/// Q.35/E.180's SIT: three rising segments near 950, 1400 and 1800 Hz).
/// The first two segments are each low or high in frequency and short or
/// long; the third is always 1776.7 Hz, long.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SitKind {
    /// IC, intercept (number changed or disconnected): low short, low short.
    Intercept,
    /// VC, vacant code (unassigned number): high long, low short.
    VacantCode,
    /// RO, reorder (blockage in the network): high short, low long (inter-LATA)
    /// or low short, high long.
    Reorder,
    /// NC, no circuit: low long, low long (inter-LATA) or high long, high long.
    NoCircuit,
    /// IO, ineffective other: high short, high short.
    IneffectiveOther,
    /// A SIT whose segments match no assigned code.
    Other,
}

/// SIT segment frequencies, Hz (GR-1162-CORE): first segment low/high,
/// second segment low/high, third segment.
pub const SIT_FREQS: [[f32; 2]; 3] = [[913.8, 985.2], [1370.6, 1428.5], [1776.7, 1776.7]];

/// SIT segment durations, ms (GR-1162-CORE: short 274 ms, long 380 ms;
/// the third segment is always long).
pub const SIT_SHORT_MS: u32 = 274;
/// See [`SIT_SHORT_MS`].
pub const SIT_LONG_MS: u32 = 380;

/// SIT level per segment (ITU-T Q.35 §4: −24 dBm0 nominal).
pub const SIT_LEVEL_DBM0: f32 = -24.0;

/// One SIT segment as heard or sent: its frequency is the high one, its
/// duration the long one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SitSegment {
    /// The high frequency of the segment's pair.
    pub high: bool,
    /// The long duration.
    pub long: bool,
}

impl SitKind {
    /// The first two segments that encode this kind (the first of the
    /// codes for kinds that have two).
    pub fn segments(self) -> [SitSegment; 2] {
        let s = |high, long| SitSegment { high, long };
        match self {
            SitKind::Intercept => [s(false, false), s(false, false)],
            SitKind::VacantCode => [s(true, true), s(false, false)],
            SitKind::Reorder => [s(true, false), s(false, true)],
            SitKind::NoCircuit => [s(false, true), s(false, true)],
            SitKind::IneffectiveOther | SitKind::Other => [s(true, false), s(true, false)],
        }
    }

    /// The kind two heard segments encode.
    pub fn decode(first: SitSegment, second: SitSegment) -> SitKind {
        let code = |a: SitSegment| (a.high, a.long);
        match (code(first), code(second)) {
            ((false, false), (false, false)) => SitKind::Intercept,
            ((true, true), (false, false)) => SitKind::VacantCode,
            ((true, false), (false, true)) | ((false, false), (true, true)) => SitKind::Reorder,
            ((false, true), (false, true)) | ((true, true), (true, true)) => SitKind::NoCircuit,
            ((true, false), (true, false)) => SitKind::IneffectiveOther,
            _ => SitKind::Other,
        }
    }

    /// The three segments as tones, each played once, in order.
    pub fn tones(self) -> [ToneSpec; 3] {
        let [a, b] = self.segments();
        let seg = |f: f32, long: bool| once(&[f], SIT_LEVEL_DBM0, &[(if long { SIT_LONG_MS } else { SIT_SHORT_MS }, 0)]);
        [seg(SIT_FREQS[0][usize::from(a.high)], a.long), seg(SIT_FREQS[1][usize::from(b.high)], b.long), seg(SIT_FREQS[2][0], true)]
    }
}

/// The in-band tone that refuses a call, as a switch plays it to the
/// caller: E&M trunks ([`super::cas`]) and FXS lines ([`super::analog`])
/// carry busy and unallocated this way.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// The zone's busy tone.
    Busy,
    /// The zone's reorder.
    Reorder,
    /// A SIT of this kind, then the zone's reorder.
    Sit(SitKind),
}

impl Refusal {
    /// The tones to play, in order, in `zone` (for a [`ToneSequence`]).
    pub fn tones(self, zone: &ToneZone) -> Vec<ToneSpec> {
        match self {
            Refusal::Busy => vec![zone.busy.clone()],
            Refusal::Reorder => vec![zone.reorder.clone()],
            Refusal::Sit(k) => {
                let mut t = k.tones().to_vec();
                t.push(zone.reorder.clone());
                t
            }
        }
    }
}

/// The in-band tone that refuses a call for a Q.850 cause: 17 busy;
/// 1 unallocated, 3 no route, 22 number changed and 28 invalid number a
/// SIT vacant code then reorder (GR-1162-CORE: VC for an unassigned
/// number); anything else reorder.
pub fn refusal_for_cause(cause: crate::call::model::Cause) -> Refusal {
    match cause.0 {
        17 => Refusal::Busy,
        1 | 3 | 22 | 28 => Refusal::Sit(SitKind::VacantCode),
        _ => Refusal::Reorder,
    }
}

/// Plays tones one after another: each but the last once (to the end of
/// its cadence), the last as its cadence says (repeating, or once and then
/// silence). E.g. a SIT followed by reorder.
#[derive(Clone, Debug)]
pub struct ToneSequence {
    gens: Vec<ZoneToneGen>,
    at: usize,
}

impl ToneSequence {
    /// A sequence of `tones` (a `once` cadence is needed for all but the last
    /// to end; a repeating one holds the sequence there).
    pub fn new(tones: &[ToneSpec]) -> ToneSequence {
        ToneSequence { gens: tones.iter().map(ZoneToneGen::new).collect(), at: 0 }
    }

    /// Fills `out` with linear samples.
    pub fn fill(&mut self, out: &mut [i16]) {
        // 1 ms steps, so that segment boundaries (whole ms) fall between steps.
        for chunk in out.chunks_mut(8) {
            while self.at + 1 < self.gens.len() && self.gens[self.at].is_finished() {
                self.at += 1;
            }
            match self.gens.get_mut(self.at) {
                Some(g) => g.fill(chunk),
                None => chunk.fill(0),
            }
        }
    }
}

/// Most 20 ms blocks of silence or other sound tolerated between SIT
/// segments (ITU-T Q.35: up to 30 ms of silence between segments; a block
/// straddling two segments is unclassified too).
const SIT_GAP_BLOCKS: u32 = 2;
/// Shortest segment accepted, ms (274 ms − 5 %, less one block of
/// boundary uncertainty).
const SIT_MIN_MS: u32 = 220;
/// Longest segment accepted, ms (380 ms + 5 %, plus a block).
const SIT_MAX_MS: u32 = 440;
/// Short and long are told apart at the midpoint of 274 and 380 ms.
const SIT_SPLIT_MS: u32 = 327;
/// Shortest first segment accepted when it is already playing as the
/// detector starts (early media cut through after the far switch began its
/// SIT clips the first segment), ms.
const SIT_CLIPPED_MIN_MS: u32 = 100;
/// Quietest SIT segment heard, dBm0 (the nominal −24 dBm0 with room for loss).
const SIT_MIN_DBM0: f32 = -40.0;

/// A detector of Special Information Tones: Goertzel filters at the five
/// SIT frequencies over 20 ms blocks; a block belongs to a segment when one
/// segment's frequencies carry most of its power; three segments in rising
/// order, each 220–440 ms long, make a SIT, decoded by [`SitKind::decode`].
/// A first segment already playing when the detector starts may be clipped
/// (to 100 ms): it counts as long when the two segments decode to no
/// assigned code otherwise.
#[derive(Clone, Debug, Default)]
pub struct SitDetector {
    buf: Vec<i16>,
    /// Blocks heard so far (up to a few: only the start matters).
    blocks: u32,
    /// The first run began with the detector's audio: it may be clipped.
    clipped: bool,
    /// Runs of blocks so far: (segment index 0..3, high-frequency votes, blocks).
    runs: Vec<(usize, u32, u32)>,
    /// Blocks since the last segment block.
    gap: u32,
    /// The SIT was reported (one report per detector).
    done: bool,
}

impl SitDetector {
    /// A detector that has heard nothing.
    pub fn new() -> SitDetector {
        SitDetector::default()
    }

    /// Feeds samples; returns the SIT's kind once its third segment has
    /// lasted long enough (once per detector).
    pub fn process(&mut self, samples: &[i16]) -> Option<SitKind> {
        let mut found = None;
        for &s in samples {
            self.buf.push(s);
            if self.buf.len() == 160 {
                let block = std::mem::take(&mut self.buf);
                if let Some(k) = self.block(&block) {
                    found = Some(k);
                }
                self.buf = block;
                self.buf.clear();
            }
        }
        found
    }

    /// Which segment (index, high) a 20 ms block is, if any.
    fn classify(block: &[i16]) -> Option<(usize, bool)> {
        use tandem_dsp::goertzel::{goertzel_power, mean_square, power_to_dbm0};
        let total = mean_square(block);
        if power_to_dbm0(total) < SIT_MIN_DBM0 {
            return None;
        }
        let mut best: Option<(usize, bool, f32)> = None;
        for (seg, pair) in SIT_FREQS.iter().enumerate() {
            let lo = goertzel_power(block, pair[0]);
            let hi = if seg == 2 { 0.0 } else { goertzel_power(block, pair[1]) };
            let p = lo.max(hi);
            if best.is_none_or(|(_, _, b)| p > b) {
                best = Some((seg, hi > lo, p));
            }
        }
        // A pure segment puts most of the block's power on its frequency.
        best.filter(|&(_, _, p)| p > 0.5 * total).map(|(seg, high, _)| (seg, high))
    }

    fn block(&mut self, block: &[i16]) -> Option<SitKind> {
        if self.done {
            return None;
        }
        let at_start = self.blocks <= 1;
        self.blocks = self.blocks.saturating_add(1).min(8);
        match Self::classify(block) {
            Some((seg, high)) => {
                match self.runs.last_mut() {
                    Some(r) if r.0 == seg && self.gap <= SIT_GAP_BLOCKS => {
                        r.1 += u32::from(high);
                        r.2 += 1;
                    }
                    Some(r) if seg == r.0 + 1 && self.gap <= SIT_GAP_BLOCKS && (Self::fits(r.2) || (r.0 == 0 && self.clipped && Self::fits_clipped(r.2))) => {
                        self.runs.push((seg, u32::from(high), 1))
                    }
                    _ => {
                        self.runs.clear();
                        if seg == 0 {
                            self.clipped = at_start;
                            self.runs.push((0, u32::from(high), 1));
                        }
                    }
                }
                self.gap = 0;
                if let [a, b, c] = self.runs[..]
                    && c.2 * 20 >= SIT_MIN_MS
                {
                    self.done = true;
                    let seg = |r: (usize, u32, u32)| SitSegment { high: r.1 * 2 > r.2, long: r.2 * 20 + 10 > SIT_SPLIT_MS };
                    let kind = match SitKind::decode(seg(a), seg(b)) {
                        SitKind::Other if self.clipped => SitKind::decode(SitSegment { long: true, ..seg(a) }, seg(b)),
                        k => k,
                    };
                    return Some(kind);
                }
            }
            None => {
                self.gap += 1;
                if self.gap > SIT_GAP_BLOCKS {
                    self.runs.clear();
                }
            }
        }
        None
    }

    /// Whether a run of `blocks` is a segment's length.
    fn fits(blocks: u32) -> bool {
        (SIT_MIN_MS..=SIT_MAX_MS).contains(&(blocks * 20))
    }

    fn fits_clipped(blocks: u32) -> bool {
        (SIT_CLIPPED_MIN_MS..=SIT_MAX_MS).contains(&(blocks * 20))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tandem_dsp::goertzel::{goertzel_power, level_dbm0};

    fn render(spec: &ToneSpec, ms: usize) -> Vec<i16> {
        let mut v = vec![0i16; ms * 8];
        ZoneToneGen::new(spec).fill(&mut v);
        v
    }

    fn heard(zone: &ToneZone, audio: &[i16]) -> Vec<ProgressTone> {
        let mut d = zone.detector().unwrap();
        let mut v = Vec::new();
        for c in audio.chunks(160) {
            d.process_with(c, |e| {
                if e.is_down() {
                    v.push(e.digit());
                }
            });
        }
        v
    }

    #[test]
    fn every_builtin_zone_is_valid_and_complete() {
        for name in ZONES {
            let z = ToneZone::get(name).unwrap();
            z.validate().unwrap();
            assert_eq!(z.name, name);
        }
        assert_eq!(ToneZone::get("US").unwrap().name, "us");
        assert_eq!(ToneZone::get("xx"), None);
    }

    #[test]
    fn generated_tones_have_the_zone_frequencies_measured_by_goertzel() {
        for name in ZONES {
            let z = ToneZone::get(name).unwrap();
            for kind in ToneKind::ALL {
                let spec = z.tone(kind);
                // The first on-period (or 200 ms of a continuous tone).
                let on_ms = spec.cadence.first().map_or(200, |&(on, _)| on.min(200)) as usize;
                let audio = render(spec, on_ms);
                let total = tandem_dsp::goertzel::mean_square(&audio);
                let inband: f32 = spec.freqs.iter().map(|&(f, _)| goertzel_power(&audio, f)).sum();
                // An off-band probe 150 Hz away from every component.
                let probe = spec.freqs.iter().map(|&(f, _)| f).fold(0.0f32, f32::max) + 300.0;
                let off = goertzel_power(&audio, probe);
                assert!(inband > 20.0 * off, "{name} {kind:?}: in-band {inband} vs {off} at {probe} Hz");
                assert!(total > 0.0, "{name} {kind:?} is silent");
                let expected = 10.0 * spec.freqs.iter().map(|&(_, l)| 10f32.powf(l / 10.0)).sum::<f32>().log10();
                assert!((level_dbm0(&audio) - expected).abs() < 1.0, "{name} {kind:?}: level {} vs {expected}", level_dbm0(&audio));
            }
        }
    }

    #[test]
    fn each_zone_tells_dial_busy_reorder_and_ringback_apart() {
        for name in ZONES {
            let z = ToneZone::get(name).unwrap();
            let dial = heard(&z, &render(&z.dial, 4000));
            assert_eq!(dial, vec![ProgressTone::Dial], "{name} dial");
            let busy = heard(&z, &render(&z.busy, 5000));
            assert_eq!(busy, vec![ProgressTone::Busy], "{name} busy");
            let reorder = heard(&z, &render(&z.reorder, 5000));
            let want = if z.reorder.cadence == z.busy.cadence { ProgressTone::Busy } else { ProgressTone::Reorder };
            assert_eq!(reorder, vec![want], "{name} reorder");
            let cycle: u32 = z.ringback.cadence.iter().map(|&(a, b)| a + b).sum();
            let ring = heard(&z, &render(&z.ringback, (cycle * 3) as usize));
            assert_eq!(ring, vec![ProgressTone::Ringback], "{name} ringback");
        }
    }

    #[test]
    fn detection_survives_ulaw() {
        let z = ToneZone::get("uk").unwrap();
        let mut g = z.generator(ToneKind::Reorder);
        let mut bytes = vec![0u8; 8000 * 5];
        g.fill_g711(Law::Mulaw, &mut bytes);
        let audio = Law::Mulaw.decode_vec(&bytes);
        assert_eq!(heard(&z, &audio), vec![ProgressTone::Reorder]);
    }

    #[test]
    fn silence_and_the_howler_are_not_progress_tones() {
        let z = ToneZone::get("us").unwrap();
        assert!(heard(&z, &vec![0; 8000 * 3]).is_empty());
        assert!(heard(&z, &render(&z.howler, 3000)).is_empty());
    }

    #[test]
    fn overrides_from_toml_change_only_what_they_name() {
        let text = r#"
            [us]
            dial = { freqs = [350, 440], level_dbm0 = -10, cadence = [] }
            busy = { cadence = [[600, 400]] }
            ring_cadence = [[1000, 3000]]

            [office]
            base = "de"
            call_waiting = { freqs = [425], cadence = [[200, 200], [200, 9000]], once = true }
        "#;
        let ov: ToneOverrides = toml::from_str(text).unwrap();
        let us = ToneZone::resolve("us", &ov).unwrap();
        assert_eq!(us.dial.freqs, vec![(350.0, -10.0), (440.0, -10.0)]);
        assert_eq!(us.busy.cadence, vec![(600, 400)]);
        assert_eq!(us.busy.freqs, ToneZone::get("us").unwrap().busy.freqs);
        assert_eq!(us.ring_cadence, vec![(1000, 3000)]);
        assert_eq!(us.reorder, ToneZone::get("us").unwrap().reorder);
        let office = ToneZone::resolve("office", &ov).unwrap();
        assert_eq!(office.dial, ToneZone::get("de").unwrap().dial);
        assert_eq!(office.call_waiting.repeat_from, None);
        assert_eq!(office.call_waiting.cadence.len(), 2);
        // An untouched built-in zone resolves to itself.
        assert_eq!(ToneZone::resolve("jp", &ov).unwrap(), ToneZone::get("jp").unwrap());
    }

    #[test]
    fn bad_overrides_are_refused_with_the_tone_named() {
        let bad = |t: &str| {
            let ov: ToneOverrides = toml::from_str(t).unwrap();
            ToneZone::resolve("us", &ov).unwrap_err()
        };
        assert!(matches!(bad("[us]\ndial = { freqs = [5000] }"), ZoneError::Tone { kind: "dial", .. }));
        assert!(matches!(bad("[us]\nbusy = { freqs = [] }"), ZoneError::Tone { kind: "busy", .. }));
        assert!(matches!(bad("[us]\nbusy = { level_dbm0 = 10 }"), ZoneError::Tone { kind: "busy", .. }));
        assert!(matches!(bad("[us]\nbusy = { cadence = [[0, 0]] }"), ZoneError::Tone { .. }));
        assert!(matches!(bad("[us]\nbusy = { levels_dbm0 = [-10] }"), ZoneError::Tone { .. }));
        assert!(matches!(bad("[us]\nring_cadence = []"), ZoneError::Invalid(_)));
        let ov: ToneOverrides = toml::from_str("[x]\nbase = \"zz\"").unwrap();
        assert_eq!(ToneZone::resolve("x", &ov), Err(ZoneError::UnknownZone("zz".into())));
        assert!(toml::from_str::<ToneOverrides>("[us]\ndail = {}").is_err());
    }

    fn sit_audio(kind: SitKind, then: Option<&ToneSpec>, ms: usize) -> Vec<i16> {
        let mut tones = kind.tones().to_vec();
        tones.extend(then.cloned());
        let mut v = vec![0i16; ms * 8];
        ToneSequence::new(&tones).fill(&mut v);
        v
    }

    #[test]
    fn every_sit_kind_is_generated_and_decoded_back_through_ulaw() {
        for kind in [SitKind::Intercept, SitKind::VacantCode, SitKind::Reorder, SitKind::NoCircuit, SitKind::IneffectiveOther] {
            let audio = sit_audio(kind, None, 2000);
            let audio = Law::Mulaw.decode_vec(&Law::Mulaw.encode_vec(&audio));
            let mut d = SitDetector::new();
            // Fed in odd-sized pieces: the detector keeps its own blocks.
            let heard: Vec<SitKind> = audio.chunks(97).filter_map(|c| d.process(c)).collect();
            assert_eq!(heard, vec![kind], "{kind:?}");
        }
    }

    #[test]
    fn a_sit_is_heard_even_when_it_starts_mid_block_and_reorder_follows() {
        let z = ToneZone::get("us").unwrap();
        let mut audio = vec![0i16; 8 * 37];
        audio.extend(sit_audio(SitKind::VacantCode, Some(&z.reorder), 4000));
        let mut d = SitDetector::new();
        let sits: Vec<SitKind> = audio.chunks(160).filter_map(|c| d.process(c)).collect();
        assert_eq!(sits, vec![SitKind::VacantCode]);
        // The reorder after the SIT is still the zone's reorder to the zone detector.
        assert!(heard(&z, &audio).contains(&ProgressTone::Reorder));
    }

    #[test]
    fn a_sit_whose_first_segment_was_clipped_by_the_cut_through_is_still_decoded() {
        for kind in [SitKind::VacantCode, SitKind::NoCircuit, SitKind::Intercept, SitKind::Reorder] {
            for clip_ms in [60, 120] {
                let audio = sit_audio(kind, None, 2000);
                let mut d = SitDetector::new();
                let sits: Vec<SitKind> = audio[clip_ms * 8..].chunks(160).filter_map(|c| d.process(c)).collect();
                assert_eq!(sits, vec![kind], "{kind:?} clipped by {clip_ms} ms");
            }
        }
        // Mid-stream, a short first segment is not taken for a clipped one.
        let [a, b, c] = SitKind::VacantCode.tones();
        let mut short = a.clone();
        short.cadence = vec![(150, 0)];
        let mut v = vec![0i16; 8 * 1500];
        ToneSequence::new(&[once(&[1000.0], -24.0, &[(0, 500)]), short, b, c]).fill(&mut v);
        let mut d = SitDetector::new();
        assert!(v.chunks(160).all(|c| d.process(c).is_none()));
    }

    #[test]
    fn busy_ringback_dial_tone_and_silence_are_not_a_sit() {
        let z = ToneZone::get("us").unwrap();
        for spec in [&z.busy, &z.ringback, &z.dial, &z.reorder, &z.howler] {
            let mut d = SitDetector::new();
            assert!(render(spec, 6000).chunks(160).all(|c| d.process(c).is_none()), "{spec:?}");
        }
        let mut d = SitDetector::new();
        assert_eq!(d.process(&vec![0; 8000]), None);
        // One segment alone, or the segments in the wrong order, are not a SIT.
        let [a, b, c] = SitKind::VacantCode.tones();
        let mut v = vec![0i16; 8 * 1200];
        ToneSequence::new(&[c, b, a]).fill(&mut v);
        let mut d = SitDetector::new();
        assert!(v.chunks(160).all(|c| d.process(c).is_none()));
    }

    #[test]
    fn sit_segments_have_the_gr1162_frequencies_durations_and_level() {
        let audio = sit_audio(SitKind::VacantCode, None, 1100);
        let seg = |from_ms: usize, to_ms: usize| &audio[from_ms * 8..to_ms * 8];
        // Vacant code: 985.2 Hz long, 1370.6 Hz short, 1776.7 Hz long.
        assert_eq!(tandem_dsp::goertzel::dominant_frequency(seg(10, 370), &[913.8, 985.2]), Some(985.2));
        assert_eq!(tandem_dsp::goertzel::dominant_frequency(seg(390, 644), &[1370.6, 1428.5]), Some(1370.6));
        assert_eq!(tandem_dsp::goertzel::dominant_frequency(seg(664, 1024), &[1776.7, 1370.6]), Some(1776.7));
        assert!((level_dbm0(seg(10, 370)) - SIT_LEVEL_DBM0).abs() < 1.0);
        assert!(level_dbm0(seg(1040, 1100)) < -60.0, "silence after the third segment");
    }

    #[test]
    fn a_once_tone_ends_and_g711_silence_follows() {
        let z = ToneZone::get("us").unwrap();
        let mut g = z.generator(ToneKind::CallWaiting);
        let mut buf = vec![0u8; 8000 * 11];
        g.fill_g711(Law::Alaw, &mut buf);
        assert!(g.is_finished());
        assert!(buf[buf.len() - 800..].iter().all(|&b| b == Law::Alaw.silence() || Law::Alaw.decode(b).abs() < 16));
    }

    #[test]
    fn refusals_play_busy_reorder_or_a_vacant_code_sit_then_reorder_in_the_zone() {
        use crate::call::model::Cause;
        let z = ToneZone::get("uk").expect("uk");
        assert_eq!(refusal_for_cause(Cause::USER_BUSY).tones(&z), vec![z.busy.clone()]);
        assert_eq!(refusal_for_cause(Cause(34)).tones(&z), vec![z.reorder.clone()]);
        for c in [1, 3, 22, 28] {
            let t = refusal_for_cause(Cause(c)).tones(&z);
            assert_eq!(t.len(), 4, "{c}");
            assert_eq!(t[..3], SitKind::VacantCode.tones()[..], "{c}");
            assert_eq!(t[3], z.reorder, "{c}");
        }
        // What is played is what the detector hears.
        let mut seq = ToneSequence::new(&Refusal::Sit(SitKind::VacantCode).tones(&z));
        let mut det = SitDetector::new();
        let mut heard = None;
        for _ in 0..100 {
            let mut b = [0i16; 160];
            seq.fill(&mut b);
            heard = heard.or(det.process(&b));
        }
        assert_eq!(heard, Some(SitKind::VacantCode));
    }
}
