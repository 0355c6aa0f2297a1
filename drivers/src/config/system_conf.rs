//! Reading DAHDI's `/etc/dahdi/system.conf` into Tandem's model, and
//! converting it to Tandem TOML.
//!
//! The format is dahdi_cfg's: `keyword=value` lines, `#` comments, keywords
//! case-insensitive. Understood:
//!
//! | system.conf | Tandem |
//! |---|---|
//! | `span=<n>,<timing>,<lbo>,<framing>,<coding>[,crc4][,yellow]` | `[[dahdi.span]]` |
//! | `bchan=`, `indclear=` | role `bchan` |
//! | `clear=` (one channel per line) | role `clear` |
//! | `hardhdlc=` | role `dchan` |
//! | `dchan=`, `fcshdlc=` (one channel per line) | role `hdlc_fcs` |
//! | `rawhdlc=` (one channel per line) | role `hdlc_raw` |
//! | `fxoks=` `fxols=` `fxogs=` | role `fxs` (a phone plugs in), start kewl/loop/ground |
//! | `fxsks=` `fxsls=` `fxsgs=` | role `fxo` (a CO line plugs in) |
//! | `e&m=`, `e&me1=` | roles `em`, `em_e1` |
//! | `cas=<chans>:<abcd>`, `user=` | role `cas`, `idle_bits` |
//! | `unused=` | role `unused` |
//! | `alaw=`, `mulaw=`, `deflaw=` | `law` |
//! | `echocanceller=<name>,<chans>` | `echo_canceller` |
//! | `defaultzone=` (`loadzone=`) | `tone_zone` |
//!
//! Channel numbers in system.conf are DAHDI's absolute numbers; Tandem's
//! are positions within a span, so reading needs the [`Hardware`]. Bundles
//! (`clear=`, `fcshdlc=`, `rawhdlc=` naming several channels on one line),
//! `nethdlc`, `dacs`, `mtp2`, dynamic spans, BRI options and the radio
//! keywords are not supported and are reported as errors.

use std::collections::BTreeMap;
use std::ops::Range;

use super::diag::{Errors, Source, SourceRef};
use super::hardware::Hardware;
use super::model::{ChannelList, Coding, DahdiConfig, EchoCanceller, Framing, Group, Role, SpanSection, SpanType, Spanned};
use super::{ranges, validate, write, zones};
use crate::channel::Law;
use crate::signalling::{Signalling, Start};

/// A system.conf read into Tandem's model.
#[derive(Clone, Debug, PartialEq)]
pub struct SystemConf {
    /// The configuration; its values point into the system.conf text, so
    /// that [`validate()`](super::validate()) reports at system.conf lines.
    pub config: DahdiConfig,
    /// Things that were read but have no effect, or no Tandem equivalent
    /// (shown as comments when converting).
    pub notes: Vec<String>,
}

/// One channel's settings gathered from all lines.
#[derive(Clone, Debug)]
struct ChanSig {
    role: Role,
    start: Option<Start>,
    idle: Option<String>,
    keyword: String,
    /// The keyword's place (role) and the channel list's (channels).
    key_at: Range<usize>,
    list_at: Range<usize>,
}

struct SpanLine {
    n: u32,
    n_at: Range<usize>,
    timing: (u32, Range<usize>),
    lbo: (u32, Range<usize>),
    framing: (Framing, Range<usize>),
    coding: (Coding, Range<usize>),
    crc4: Option<Range<usize>>,
    yellow: Option<Range<usize>>,
}

struct Reader<'a> {
    src: &'a Source,
    hw: &'a Hardware,
    errs: Errors,
    notes: Vec<String>,
    spans: BTreeMap<u32, SpanLine>,
    sigs: BTreeMap<u32, ChanSig>,
    laws: BTreeMap<u32, (Option<Law>, Range<usize>)>,
    echo: BTreeMap<u32, (String, Range<usize>)>,
    loadzones: Vec<(String, Range<usize>)>,
    defaultzone: Option<(String, Range<usize>)>,
}

/// `text` split at `sep` into trimmed pieces with their byte ranges
/// (offset by `base`).
fn split(text: &str, base: usize, sep: char) -> Vec<(&str, Range<usize>)> {
    let mut v = Vec::new();
    let mut start = 0;
    for piece in text.split(sep) {
        let lead = piece.len() - piece.trim_start().len();
        let t = piece.trim();
        v.push((t, (base + start + lead)..(base + start + lead + t.len())));
        start += piece.len() + sep.len_utf8();
    }
    v
}

const UNSUPPORTED: &[(&str, &str)] = &[
    ("dynamic", "dynamic spans (TDMoE) are not supported by Tandem"),
    ("nethdlc", "HDLC network interfaces are not supported by Tandem"),
    ("dacs", "DACS cross-connects are not supported by Tandem"),
    ("dacsrbs", "DACS cross-connects are not supported by Tandem"),
    ("mtp2", "MTP2 signalling links are not supported by Tandem"),
    ("56k", "56k HDLC is not supported by Tandem"),
];

const RADIO: &[&str] = &[
    "ctcss",
    "dcsrx",
    "rxdcs",
    "tx",
    "debouncetime",
    "bursttime",
    "exttone",
    "invertcor",
    "corthresh",
    "rxgain",
    "txgain",
    "deemp",
    "preemp",
    "channel",
    "channels",
];

impl SystemConf {
    /// Read system.conf text (`path` names it in messages) for this hardware.
    /// Problems are reported at `path:line:column`.
    pub fn parse(text: &str, path: &str, hw: &Hardware) -> Result<SystemConf, Errors> {
        let src = Source::new(path, text);
        let mut r = Reader {
            src: &src,
            hw,
            errs: Errors::default(),
            notes: Vec::new(),
            spans: BTreeMap::new(),
            sigs: BTreeMap::new(),
            laws: BTreeMap::new(),
            echo: BTreeMap::new(),
            loadzones: Vec::new(),
            defaultzone: None,
        };
        let mut offset = 0;
        for raw in text.split_inclusive('\n') {
            let line_start = offset;
            offset += raw.len();
            let content = raw.split('#').next().unwrap_or("");
            if content.trim().is_empty() {
                continue;
            }
            r.line(content, line_start);
        }
        let config = r.build();
        let notes = std::mem::take(&mut r.notes);
        r.errs.into_result(SystemConf { config: config.with_source(src.clone()), notes })
    }
}

impl Reader<'_> {
    fn err(&mut self, at: Range<usize>, message: impl Into<String>, help: impl Into<String>) {
        let help = help.into();
        let d = self.src.diagnostic(at, message, if help.is_empty() { None } else { Some(help) });
        self.errs.push(d);
    }

    fn line_of(&self, at: &Range<usize>) -> usize {
        self.src.line_col(at.start).0
    }

    fn line(&mut self, content: &str, base: usize) {
        let Some(eq) = content.find('=') else {
            let lead = content.len() - content.trim_start().len();
            self.err(base + lead..base + content.trim_end().len(), "syntax error: expected keyword=value", "write e.g. bchan=1-23");
            return;
        };
        let (k, v) = (&content[..eq], &content[eq + 1..]);
        let klead = k.len() - k.trim_start().len();
        let key = k.trim();
        let key_at = (base + klead)..(base + klead + key.len());
        let vlead = v.len() - v.trim_start().len();
        let value = v.trim();
        let value_at = (base + eq + 1 + vlead)..(base + eq + 1 + vlead + value.len());
        if key.is_empty() || value.is_empty() {
            self.err(base + klead..base + content.trim_end().len(), "syntax error: expected keyword=value", "write e.g. bchan=1-23");
            return;
        }
        let kw = key.to_ascii_lowercase();
        match kw.as_str() {
            "span" => self.span(value, value_at),
            "alaw" | "mulaw" | "deflaw" => {
                let law = match kw.as_str() {
                    "alaw" => Some(Law::Alaw),
                    "mulaw" => Some(Law::Mulaw),
                    _ => None,
                };
                for c in self.channels(value, value_at.start) {
                    self.laws.insert(c, (law, key_at.clone()));
                }
            }
            "echocanceller" => {
                let parts = split(value, value_at.start, ',');
                let (name, name_at) = parts[0].clone();
                if name.is_empty() || parts.len() < 2 {
                    self.err(value_at, "echocanceller needs a name and channels", "write e.g. echocanceller=mg2,1-23");
                    return;
                }
                for (list, at) in &parts[1..] {
                    for c in self.channels(list, at.start) {
                        self.echo.insert(c, (name.to_string(), name_at.clone()));
                    }
                }
            }
            "loadzone" => {
                if zones::zone_number(value).is_none() {
                    self.err(value_at, format!("unknown tone zone {value:?}"), format!("use one of: {}", zones::zone_names()));
                } else {
                    self.loadzones.push((value.to_ascii_lowercase(), value_at));
                }
            }
            "defaultzone" => {
                if zones::zone_number(value).is_none() {
                    self.err(value_at, format!("unknown tone zone {value:?}"), format!("use one of: {}", zones::zone_names()));
                } else {
                    self.defaultzone = Some((value.to_ascii_lowercase(), value_at));
                }
            }
            _ => {
                if let Some((role, start, bundles)) = keyword_role(&kw) {
                    self.chanconfig(&kw, role, start, bundles, value, key_at, value_at);
                } else if let Some((_, why)) = UNSUPPORTED.iter().find(|(k, _)| *k == kw) {
                    self.err(key_at, format!("`{key}`: {why}"), "remove the line, or keep using dahdi_cfg for this system");
                } else if RADIO.contains(&kw.as_str()) {
                    self.err(key_at, format!("`{key}`: radio interface settings are not supported by Tandem"), "remove the line");
                } else {
                    self.err(
                        key_at,
                        format!("unknown keyword `{key}`"),
                        "system.conf keywords: span, bchan, dchan, hardhdlc, clear, fcshdlc, rawhdlc, e&m, e&me1, fxsks, fxsls, fxsgs, fxoks, fxols, fxogs, cas, unused, alaw, mulaw, deflaw, echocanceller, loadzone, defaultzone",
                    );
                }
            }
        }
    }

    /// Parse a channel list at `base`, reporting bad items and channels the
    /// hardware does not have; the channels that exist.
    fn channels(&mut self, list: &str, base: usize) -> Vec<u32> {
        let items = match ranges::parse(list) {
            Ok(items) => items,
            Err(errs) => {
                for e in errs {
                    self.err((base + e.at.start)..(base + e.at.end), e.message, e.help);
                }
                return Vec::new();
            }
        };
        let mut out = Vec::new();
        for it in items {
            let mut missing = Vec::new();
            for c in it.first..=it.last {
                if self.hw.locate(c).is_some() {
                    out.push(c);
                } else {
                    missing.push(c);
                }
            }
            if !missing.is_empty() {
                let total: usize = self.hw.spans.iter().map(|s| s.channels.len()).sum();
                self.err(
                    (base + it.at.start)..(base + it.at.end),
                    format!(
                        "channel{} {} do{} not exist: this system has {total} channels ({})",
                        if missing.len() == 1 { "" } else { "s" },
                        ranges::format(&missing),
                        if missing.len() == 1 { "es" } else { "" },
                        self.hw.describe()
                    ),
                    "system.conf uses DAHDI's channel numbers; `tandem channels` (or lsdahdi) lists them",
                );
            }
        }
        out
    }

    fn span(&mut self, value: &str, value_at: Range<usize>) {
        let args = split(value, value_at.start, ',');
        if !(5..=9).contains(&args.len()) {
            self.err(
                value_at,
                format!("span= takes 5 to 7 values, not {}", args.len()),
                "write span=<span>,<timing>,<lbo>,<framing>,<coding>[,crc4][,yellow], e.g. span=1,1,0,esf,b8zs",
            );
            return;
        }
        let mut ok = true;
        let mut num = |s: &str, at: &Range<usize>, what: &str, max: u32, help: &str, r: &mut Reader| -> u32 {
            match s.parse::<u32>() {
                Ok(v) if v <= max => v,
                _ => {
                    r.err(at.clone(), format!("{what} {s:?} is not a number from 0 to {max}"), help);
                    ok = false;
                    0
                }
            }
        };
        let n = num(args[0].0, &args[0].1, "span number", 1023, "the first value is the span number, as `tandem spans` (or lsdahdi) shows it", self);
        let timing = num(args[1].0, &args[1].1, "timing", 255, "0 = never a clock source, 1 = best source, 2 = next…", self);
        let lbo = num(args[2].0, &args[2].1, "line build-out", 7, "use 0 unless the line needs more (1–7)", self);
        let framing = match args[3].0.to_ascii_lowercase().as_str() {
            "esf" => Some(Framing::Esf),
            "d4" => Some(Framing::D4),
            "ccs" => Some(Framing::Ccs),
            "cas" => Some(Framing::Cas),
            f => {
                self.err(args[3].1.clone(), format!("framing {f:?} is not d4, esf, cas or ccs"), "T1: esf or d4; E1: ccs or cas");
                None
            }
        };
        let coding = match args[4].0.to_ascii_lowercase().as_str() {
            "b8zs" => Some(Coding::B8zs),
            "ami" => Some(Coding::Ami),
            "hdb3" => Some(Coding::Hdb3),
            c => {
                self.err(args[4].1.clone(), format!("coding {c:?} is not ami, b8zs or hdb3"), "T1: b8zs or ami; E1: hdb3 or ami");
                None
            }
        };
        let (mut crc4, mut yellow) = (None, None);
        for (a, at) in &args[5..] {
            match a.to_ascii_lowercase().as_str() {
                "crc4" => crc4 = Some(at.clone()),
                "yellow" => yellow = Some(at.clone()),
                "nt" | "te" | "term" => {
                    self.err(at.clone(), format!("{a:?} is a BRI option; Tandem does not configure BRI spans"), "remove it");
                    ok = false;
                }
                _ => {
                    self.err(at.clone(), format!("{a:?} is not crc4 or yellow"), "the optional values after the coding are crc4 (E1) and yellow");
                    ok = false;
                }
            }
        }
        let (Some(framing), Some(coding), true) = (framing, coding, ok) else { return };
        if n == 0 {
            self.err(args[0].1.clone(), "span 0 does not exist: spans are numbered from 1", "");
            return;
        }
        if let Some(prev) = self.spans.get(&n) {
            let l = self.line_of(&prev.n_at);
            self.err(args[0].1.clone(), format!("span {n} is already configured at line {l}"), "remove one of the two span= lines");
            return;
        }
        match self.hw.span(n) {
            None => {
                let d = self.hw.describe();
                self.err(args[0].1.clone(), format!("span {n} does not exist: this system has {d}"), "correct the span number");
                return;
            }
            Some(h) if h.kind() == Some(SpanType::Analog) => {
                self.err(args[0].1.clone(), format!("span {n} ({}) is an analog card, which takes no span= line", h.name), "remove this line");
                return;
            }
            _ => {}
        }
        self.spans.insert(
            n,
            SpanLine {
                n,
                n_at: args[0].1.clone(),
                timing: (timing, args[1].1.clone()),
                lbo: (lbo, args[2].1.clone()),
                framing: (framing, args[3].1.clone()),
                coding: (coding, args[4].1.clone()),
                crc4,
                yellow,
            },
        );
    }

    #[allow(clippy::too_many_arguments)]
    fn chanconfig(&mut self, kw: &str, role: Role, start: Option<Start>, bundles: bool, value: &str, key_at: Range<usize>, value_at: Range<usize>) {
        let (list, idle) = match value.split_once(':') {
            Some((l, i)) => (l.trim_end(), Some(i.trim())),
            None => (value, None),
        };
        let list_at = value_at.start..value_at.start + list.len();
        let idle = match (role, idle) {
            (Role::Cas, Some(i)) if validate::parse_idle_bits(i).is_some() => Some(i.to_string()),
            (Role::Cas, _) => {
                self.err(value_at, "cas needs the idle ABCD bits after the channels", "write e.g. cas=1-15:1101 (A bit first; 1101 for MFC/R2)");
                return;
            }
            (_, Some(_)) => {
                let colon = value_at.start + value.find(':').unwrap_or(0);
                self.err(colon..value_at.end, format!("`{kw}` takes no `:` value (only cas does)"), "remove the `:` and what follows");
                return;
            }
            (_, None) => None,
        };
        let chans = self.channels(list, list_at.start);
        if bundles && chans.len() > 1 {
            self.err(
                list_at,
                format!("`{kw}` with several channels on one line bundles them into one data channel, which Tandem does not support"),
                if kw == "clear" { "for separate 64 kbit/s channels write bchan= instead" } else { "give each channel a line of its own" },
            );
            return;
        }
        for c in chans {
            if let Some(prev) = self.sigs.get(&c) {
                let (pk, pl) = (prev.keyword.clone(), self.line_of(&prev.key_at));
                self.err(
                    list_at.clone(),
                    format!("channel {c} is already configured as `{pk}` at line {pl}"),
                    "each channel may be configured once: remove it from one line",
                );
                continue;
            }
            self.sigs.insert(c, ChanSig { role, start, idle: idle.clone(), keyword: kw.to_string(), key_at: key_at.clone(), list_at: list_at.clone() });
        }
    }

    /// The model from everything read.
    fn build(&mut self) -> DahdiConfig {
        // Attributes of each configured channel, grouped by span.
        type Key = (Role, Option<Start>, Option<String>, u8, Option<String>);
        struct Acc {
            positions: Vec<u32>,
            sig: ChanSig,
            law: Option<(Option<Law>, Range<usize>)>,
            echo: Option<(String, Range<usize>)>,
        }
        let mut by_span: BTreeMap<u32, Vec<(Key, Acc)>> = BTreeMap::new();
        let mut first_line: BTreeMap<u32, Range<usize>> = BTreeMap::new();
        let mut ignored_law = Vec::new();
        let mut ignored_echo = Vec::new();
        for (c, sig) in &self.sigs {
            let Some((h, hc)) = self.hw.locate(*c) else { continue };
            let unused = sig.role == Role::Unused;
            let law = self.laws.get(c).cloned().filter(|_| !unused);
            let echo = self.echo.get(c).cloned().filter(|_| !unused && sig.role.is_audio());
            if unused && self.laws.contains_key(c) {
                ignored_law.push(*c);
            }
            if (unused || !sig.role.is_audio()) && self.echo.contains_key(c) {
                ignored_echo.push(*c);
            }
            let law_code = match law.as_ref().map(|l| l.0) {
                None | Some(None) => 0,
                Some(Some(Law::Mulaw)) => 1,
                Some(Some(Law::Alaw)) => 2,
            };
            let key: Key = (sig.role, sig.start, sig.idle.clone(), law_code, echo.as_ref().map(|e| e.0.clone()));
            let groups = by_span.entry(h.span).or_default();
            first_line.entry(h.span).or_insert_with(|| sig.list_at.clone());
            match groups.iter_mut().find(|(k, _)| *k == key) {
                Some((_, acc)) => acc.positions.push(hc.pos),
                None => groups.push((key, Acc { positions: vec![hc.pos], sig: sig.clone(), law: law.filter(|l| l.0.is_some()), echo })),
            }
        }
        for (c, _) in self.laws.iter().filter(|(c, _)| !self.sigs.contains_key(c)) {
            ignored_law.push(*c);
        }
        for (c, _) in self.echo.iter().filter(|(c, _)| !self.sigs.contains_key(c)) {
            ignored_echo.push(*c);
        }
        if !ignored_law.is_empty() {
            ignored_law.sort_unstable();
            self.notes
                .push(format!("alaw=/mulaw= for channels {} ignored: they have no signalling (dahdi_cfg ignores them too)", ranges::format(&ignored_law)));
        }
        if !ignored_echo.is_empty() {
            ignored_echo.sort_unstable();
            self.notes.push(format!("echocanceller= for channels {} ignored: they carry no audio or have no signalling", ranges::format(&ignored_echo)));
        }

        let mut spans = Vec::new();
        let numbers: std::collections::BTreeSet<u32> = self.spans.keys().chain(by_span.keys()).copied().collect();
        for n in numbers {
            let Some(h) = self.hw.span(n) else { continue };
            let Some(kind) = h.kind() else {
                let at = first_line.get(&n).cloned().unwrap_or(0..0);
                self.err(at, format!("span {n} ({}) is of type {}, which Tandem cannot configure", h.name, h.kind), "remove its channels from this file");
                continue;
            };
            let line = self.spans.get(&n);
            let mut groups: Vec<(Key, Acc)> = by_span.remove(&n).unwrap_or_default();
            for (_, acc) in &mut groups {
                acc.positions.sort_unstable();
            }
            groups.sort_by_key(|(_, acc)| acc.positions[0]);
            let groups: Vec<Group> = groups
                .into_iter()
                .map(|(_, acc)| Group {
                    channels: Spanned::new(acc.sig.list_at.clone(), ChannelList(ranges::format(&acc.positions))),
                    role: Spanned::new(acc.sig.key_at.clone(), acc.sig.role),
                    start: acc.sig.start.map(|s| Spanned::new(acc.sig.key_at.clone(), s)),
                    law: acc.law.and_then(|(l, at)| l.map(|l| Spanned::new(at, l))),
                    echo_canceller: acc.echo.map(|(e, at)| Spanned::new(at, EchoCanceller::Name(e))),
                    idle_bits: acc.sig.idle.clone().map(|i| Spanned::new(acc.sig.list_at.clone(), i)),
                })
                .collect();
            let section = match line {
                Some(l) => SpanSection {
                    span: Spanned::new(l.n_at.clone(), l.n),
                    kind: Spanned::new(l.n_at.clone(), kind),
                    framing: Some(Spanned::new(l.framing.1.clone(), l.framing.0)),
                    coding: Some(Spanned::new(l.coding.1.clone(), l.coding.0)),
                    crc4: match (&l.crc4, kind) {
                        (Some(at), _) => Some(Spanned::new(at.clone(), true)),
                        (None, SpanType::E1) => Some(Spanned::new(l.n_at.clone(), false)),
                        (None, _) => None,
                    },
                    yellow: l.yellow.clone().map(|at| Spanned::new(at, true)),
                    timing: Some(Spanned::new(l.timing.1.clone(), l.timing.0)),
                    lbo: Some(Spanned::new(l.lbo.1.clone(), l.lbo.0)),
                    groups,
                },
                None if kind.is_digital() => {
                    let at = first_line.get(&n).cloned().unwrap_or(0..0);
                    self.err(
                        at,
                        format!("channels of span {n} ({}, {kind}) are configured, but there is no span={n} line", h.name),
                        format!("add a line such as span={n},1,0,{}", if kind == SpanType::E1 { "ccs,hdb3" } else { "esf,b8zs" }),
                    );
                    continue;
                }
                None => {
                    let at = first_line.get(&n).cloned().unwrap_or(0..0);
                    SpanSection {
                        span: Spanned::new(at.clone(), n),
                        kind: Spanned::new(at, kind),
                        framing: None,
                        coding: None,
                        crc4: None,
                        yellow: None,
                        timing: None,
                        lbo: None,
                        groups,
                    }
                }
            };
            spans.push(section);
        }

        let tone_zone = match (&self.defaultzone, self.loadzones.is_empty()) {
            (Some((z, at)), _) => Some(Spanned::new(at.clone(), z.clone())),
            (None, true) => {
                self.notes.push("no loadzone= or defaultzone= lines: dahdi_cfg then loads \"us\" and makes it the default; so does this configuration".into());
                Some(Spanned::new(0..0, "us".to_string()))
            }
            (None, false) => None,
        };
        let extra: Vec<&str> =
            self.loadzones.iter().map(|(z, _)| z.as_str()).filter(|z| Some(*z) != tone_zone.as_ref().map(|t| t.get_ref().as_str())).collect();
        if !extra.is_empty() {
            self.notes.push(format!(
                "loadzone={}: Tandem sets only the default tone zone; these zones must be loaded by other means if channels use them",
                extra.join(",")
            ));
        }
        DahdiConfig { device_dir: None, tone_zone, spans, source: SourceRef::default() }
    }
}

/// The role of a channel keyword, its start, and whether several channels
/// on one line make a bundle.
fn keyword_role(kw: &str) -> Option<(Role, Option<Start>, bool)> {
    Some(match kw {
        "bchan" | "indclear" => (Role::Bchan, None, false),
        "clear" => (Role::Clear, None, true),
        "hardhdlc" => (Role::Dchan, None, false),
        "dchan" => (Role::HdlcFcs, None, false),
        "fcshdlc" => (Role::HdlcFcs, None, true),
        "rawhdlc" => (Role::HdlcRaw, None, true),
        "e&m" => (Role::Em, None, false),
        "e&me1" => (Role::EmE1, None, false),
        "cas" | "user" => (Role::Cas, None, false),
        "unused" => (Role::Unused, None, false),
        _ => match Signalling::from_system_conf_keyword(kw)? {
            Signalling::Fxs(s) if kw.starts_with("fxo") => (Role::Fxs, Some(s), false),
            Signalling::Fxo(s) if kw.starts_with("fxs") => (Role::Fxo, Some(s), false),
            _ => return None,
        },
    })
}

/// Convert system.conf text to Tandem TOML for this hardware. The result
/// is also validated against the hardware; every problem is reported at
/// its system.conf line.
pub fn system_conf_to_toml(text: &str, path: &str, hw: &Hardware) -> Result<String, Errors> {
    let sc = SystemConf::parse(text, path, hw)?;
    validate::validate(&sc.config, hw)?;
    let mut header = vec![
        format!("Converted from {path} by Tandem."),
        "Channels are positions within each span (1-24 on a T1, 1-31 on an E1, port".into(),
        "numbers on an analog card). fxs = a port a phone plugs into (system.conf: fxoks),".into(),
        "fxo = a port a CO line plugs into (system.conf: fxsks).".into(),
    ];
    if !sc.notes.is_empty() {
        header.push(String::new());
        header.extend(sc.notes.iter().map(|n| format!("Note: {n}")));
    }
    Ok(write::to_toml(&sc.config, Some(hw), &header))
}
