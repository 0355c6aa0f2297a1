//! Validation: everything that can be checked before touching the
//! hardware, with every problem reported at once, each at its place in the
//! file. [`validate`] checks against the hardware too and produces the
//! [`Plan`] that [`apply()`](super::apply()) carries out; [`check`] does the
//! checks that need no hardware (for `tandem check-config` on another host).

use std::collections::BTreeMap;
use std::ops::Range;

use dahdi_sys as d;

use super::diag::{Errors, SourceRef};
use super::hardware::{Hardware, HwKind, HwSpan, Port};
use super::model::{Coding, DahdiConfig, EchoCanceller, Framing, Group, Role, SpanSection, SpanType, Spanned};
use super::ranges;
use super::zones;
use crate::ctl::{ChanConfig, LineConfig};
use crate::signalling::{Signalling, Start};

/// What to do to the hardware: the result of [`validate`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Plan {
    /// In span order.
    pub spans: Vec<SpanPlan>,
    /// The default tone zone to set, if any.
    pub tone_zone: Option<ToneZone>,
}

/// A tone zone by name and DAHDI number.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ToneZone {
    pub name: String,
    pub number: u32,
}

/// One span's configuration.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SpanPlan {
    pub span: u32,
    pub kind: SpanType,
    /// SPANCONFIG, then STARTUP; `None` for analog spans, which (as with
    /// dahdi_cfg) are neither span-configured nor started.
    pub line: Option<LineConfig>,
    /// In position order.
    pub channels: Vec<ChannelPlan>,
}

/// One channel's configuration.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChannelPlan {
    /// Position in the span.
    pub pos: u32,
    pub role: Role,
    /// CHANCONFIG (with the DAHDI channel number).
    pub config: ChanConfig,
    /// ATTACH_ECHOCAN: the canceller's name, "" for none.
    pub echo_canceller: String,
}

impl Plan {
    /// Every channel, in channel-number order.
    pub fn channels(&self) -> impl Iterator<Item = (&SpanPlan, &ChannelPlan)> {
        let mut v: Vec<_> = self.spans.iter().flat_map(|s| s.channels.iter().map(move |c| (s, c))).collect();
        v.sort_by_key(|(_, c)| c.config.chan);
        v.into_iter()
    }
}

/// Check `cfg` against `hw` and work out what to apply. Every problem is
/// reported, each at `file:line:column`; nothing is returned to apply
/// unless there are none.
pub fn validate(cfg: &DahdiConfig, hw: &Hardware) -> Result<Plan, Errors> {
    let plan = run(cfg, Some(hw))?;
    Ok(plan.expect("a plan is built when hardware is given"))
}

/// The checks that need no hardware: syntax of channel lists, framing and
/// coding for the span type, roles for the span type, overlaps, duplicates.
pub fn check(cfg: &DahdiConfig) -> Result<(), Errors> {
    run(cfg, None).map(|_| ())
}

struct Ctx<'a> {
    src: &'a SourceRef,
    errs: Errors,
}

impl Ctx<'_> {
    fn err(&mut self, at: Range<usize>, message: impl Into<String>, help: impl Into<String>) {
        let help = help.into();
        let d = self.src.diagnostic(at, message, if help.is_empty() { None } else { Some(help) });
        self.errs.push(d);
    }

    fn line(&self, at: &Range<usize>) -> usize {
        self.src.line(at.start)
    }

    /// "line 12" (or "another group" when the configuration has no source).
    fn where_(&self, at: &Range<usize>, what: &str) -> String {
        match self.line(at) {
            0 => format!("another {what}"),
            l => format!("the {what} at line {l}"),
        }
    }
}

fn run(cfg: &DahdiConfig, hw: Option<&Hardware>) -> Result<Option<Plan>, Errors> {
    let mut cx = Ctx { src: &cfg.source, errs: Errors::default() };

    let tone_zone = cfg.tone_zone.as_ref().and_then(|z| match zones::zone_number(z.get_ref()) {
        Some(n) => Some(ToneZone { name: z.get_ref().to_ascii_lowercase(), number: n }),
        None => {
            cx.err(z.span(), format!("unknown tone zone {:?}", z.get_ref()), format!("use one of: {}", zones::zone_names()));
            None
        }
    });

    let mut seen: BTreeMap<u32, Range<usize>> = BTreeMap::new();
    let mut spans = Vec::new();
    for s in &cfg.spans {
        let n = *s.span.get_ref();
        if n == 0 {
            cx.err(s.span.span(), "span 0 does not exist: spans are numbered from 1", "use the span number `tandem spans` (or lsdahdi) shows");
            continue;
        }
        if let Some(prev) = seen.get(&n) {
            let w = cx.where_(prev, "[[dahdi.span]] table");
            cx.err(s.span.span(), format!("span {n} is configured twice (also in {w})"), "merge the two tables, or correct the span number of one");
            continue;
        }
        seen.insert(n, s.span.span());
        spans.push(span(&mut cx, s, hw));
    }
    spans.sort_by_key(|p| p.span);
    cx.errs.into_result(hw.map(|_| Plan { spans, tone_zone }))
}

/// Check one span; its plan (without channels when no hardware was given).
fn span(cx: &mut Ctx, s: &SpanSection, hw: Option<&Hardware>) -> SpanPlan {
    let n = *s.span.get_ref();
    let kind = *s.kind.get_ref();

    // The hardware span, if it is what the configuration says.
    let mut hws: Option<&HwSpan> = None;
    if let Some(hw) = hw {
        match hw.span(n) {
            None => cx.err(
                s.span.span(),
                format!("span {n} does not exist: this system has {}", hw.describe()),
                "correct the span number (`tandem spans` or lsdahdi lists the spans)",
            ),
            Some(h) => match &h.kind {
                HwKind::Other(t) => cx.err(
                    s.span.span(),
                    format!("span {n} ({}) is of type {t:?}, which Tandem cannot configure", h.name),
                    "remove this span from [dahdi]; configure it with dahdi_cfg",
                ),
                HwKind::Known(k) if *k != kind => {
                    let mut help = format!("write type = \"{}\"", k.name());
                    if k.is_digital() && kind.is_digital() {
                        help.push_str(", or switch the card's line mode (a jumper or the driver's default_linemode parameter) and reload the driver");
                    }
                    cx.err(s.kind.span(), format!("span {n} ({}) is {}, not {}", h.name, article(*k), kind), help);
                }
                HwKind::Known(_) => hws = Some(h),
            },
        }
    }

    let line = line_config(cx, s, kind);
    let framing = s.framing.as_ref().map(|f| *f.get_ref()).or(kind.default_framing());

    let mut taken: BTreeMap<u32, Range<usize>> = BTreeMap::new();
    let mut dchan_at: Option<Range<usize>> = None;
    let mut cas_at: Option<(Range<usize>, Role)> = None;
    let mut channels = Vec::new();
    for g in &s.groups {
        let role = *g.role.get_ref();
        let positions = group(cx, s, g, kind, framing, hws, &mut taken);
        if role.is_dchan() && dchan_at.is_none() {
            dchan_at = Some(g.role.span());
        }
        if role.uses_cas_bits() && cas_at.is_none() {
            cas_at = Some((g.role.span(), role));
        }
        let Some(h) = hws else { continue };
        let start = g.start.as_ref().map(|s| *s.get_ref()).unwrap_or(Start::Kewl);
        let sig = role.signalling(start);
        let law = g.law.as_ref().map(|l| *l.get_ref());
        let idle_bits = g.idle_bits.as_ref().and_then(|b| parse_idle_bits(b.get_ref())).unwrap_or(0);
        let echo = match g.echo_canceller.as_ref().map(|e| e.get_ref()) {
            Some(EchoCanceller::Name(n)) => n.clone(),
            _ => String::new(),
        };
        for pos in positions {
            if let Some(c) = h.channel(pos) {
                channels.push(ChannelPlan {
                    pos,
                    role,
                    config: ChanConfig { chan: c.chan, signalling: sig, law, idle_bits: if role == Role::Cas { idle_bits } else { 0 } },
                    echo_canceller: echo.clone(),
                });
            }
        }
    }
    if let (true, Some(d), Some((c, role))) = (kind.is_t1_like(), &dchan_at, &cas_at) {
        let w = cx.where_(c, "group");
        cx.err(
            d.clone(),
            format!("span {n} mixes an ISDN D-channel with CAS signalling (role \"{role}\" in {w})"),
            "a T1 carries either ISDN PRI (bchan + dchan) or robbed-bit CAS (em, fxs, fxo, cas): keep one of them",
        );
    }
    channels.sort_by_key(|c| c.pos);
    SpanPlan { span: n, kind, line: if kind.is_digital() { line } else { None }, channels }
}

fn article(t: SpanType) -> String {
    match t {
        SpanType::Analog => "an analog card".into(),
        SpanType::E1 => "an E1".into(),
        t => format!("a {t}"),
    }
}

/// Check framing, coding, CRC-4, timing and LBO for the span type; the
/// SPANCONFIG for a digital span.
fn line_config(cx: &mut Ctx, s: &SpanSection, kind: SpanType) -> Option<LineConfig> {
    let n = *s.span.get_ref();
    if !kind.is_digital() {
        let keys: [(&str, Option<Range<usize>>); 6] = [
            ("framing", s.framing.as_ref().map(Spanned::span)),
            ("coding", s.coding.as_ref().map(Spanned::span)),
            ("crc4", s.crc4.as_ref().map(Spanned::span)),
            ("yellow", s.yellow.as_ref().map(Spanned::span)),
            ("timing", s.timing.as_ref().map(Spanned::span)),
            ("lbo", s.lbo.as_ref().map(Spanned::span)),
        ];
        for (key, at) in keys {
            if let Some(at) = at {
                cx.err(at, format!("`{key}` is for T1/E1/J1 spans; span {n} is analog"), format!("remove `{key}` from this span"));
            }
        }
        return None;
    }
    let mut lc = 0u32;
    match s.framing.as_ref() {
        Some(f) if kind.is_t1_like() && f.get_ref().is_e1() => cx.err(
            f.span(),
            format!("framing \"{}\" is an E1 framing; span {n} is {}", f.get_ref().name(), kind),
            "write framing = \"esf\" (extended superframe, the usual one) or \"d4\" (superframe)",
        ),
        Some(f) if kind == SpanType::E1 && !f.get_ref().is_e1() => cx.err(
            f.span(),
            format!("framing \"{}\" is a T1/J1 framing; span {n} is E1", f.get_ref().name()),
            "write framing = \"ccs\" (ISDN PRI, SS7) or \"cas\" (MFC/R2 and other CAS)",
        ),
        _ => {}
    }
    let framing = s.framing.as_ref().map(|f| *f.get_ref()).or(kind.default_framing());
    lc |= match framing {
        Some(Framing::Esf) => d::DAHDI_CONFIG_ESF,
        Some(Framing::D4) => d::DAHDI_CONFIG_D4,
        Some(Framing::Ccs) => d::DAHDI_CONFIG_CCS,
        Some(Framing::Cas) | None => 0,
    };
    match s.coding.as_ref() {
        Some(c) if kind.is_t1_like() && *c.get_ref() == Coding::Hdb3 => {
            cx.err(c.span(), format!("coding \"hdb3\" is for E1; span {n} is {kind}"), "write coding = \"b8zs\" (the usual) or \"ami\"")
        }
        Some(c) if kind == SpanType::E1 && *c.get_ref() == Coding::B8zs => {
            cx.err(c.span(), format!("coding \"b8zs\" is for T1/J1; span {n} is E1"), "write coding = \"hdb3\" (the usual) or \"ami\"")
        }
        _ => {}
    }
    lc |= match s.coding.as_ref().map(|c| *c.get_ref()).or(kind.default_coding()) {
        Some(Coding::B8zs) => d::DAHDI_CONFIG_B8ZS,
        Some(Coding::Hdb3) => d::DAHDI_CONFIG_HDB3,
        Some(Coding::Ami) | None => d::DAHDI_CONFIG_AMI,
    };
    if let Some(c) = &s.crc4 {
        if *c.get_ref() && kind != SpanType::E1 {
            cx.err(c.span(), format!("crc4 is for E1 spans; span {n} is {kind}"), "remove `crc4`");
        } else if *c.get_ref() {
            lc |= d::DAHDI_CONFIG_CRC4;
        }
    }
    if s.yellow.as_ref().is_some_and(|y| *y.get_ref()) {
        lc |= d::DAHDI_CONFIG_NOTOPEN;
    }
    let timing = match &s.timing {
        None => {
            cx.err(
                s.span.span(),
                format!("span {n} has no `timing`"),
                "add timing = 1 if the far end (the telco) should be the clock source, 2, 3… for backup sources, or timing = 0 if this span must never give the clock (a channel bank or PBX you feed)",
            );
            0
        }
        Some(t) if *t.get_ref() > 255 => {
            cx.err(t.span(), format!("timing {} is out of range", t.get_ref()), "use 0 (never a clock source) or a priority from 1 (best) to 255");
            0
        }
        Some(t) => *t.get_ref(),
    };
    let lbo = match &s.lbo {
        Some(l) if *l.get_ref() > 7 => {
            cx.err(
                l.span(),
                format!("lbo {} is out of range", l.get_ref()),
                "use 0 (0 dB / up to 133 ft, the usual), 1–4 (133–655 ft DSX-1), 5 (-7.5 dB), 6 (-15 dB) or 7 (-22.5 dB)",
            );
            0
        }
        Some(l) => *l.get_ref(),
        None => 0,
    };
    Some(LineConfig { span: n, timing, lbo, lineconfig: lc })
}

/// "1101" → the ABCD bits as DAHDI wants them (A = bit 3).
pub fn parse_idle_bits(s: &str) -> Option<u8> {
    if s.len() != 4 || !s.bytes().all(|b| b == b'0' || b == b'1') {
        return None;
    }
    u8::from_str_radix(s, 2).ok()
}

/// The byte range of `at` (a range in a channel list's text) in the file:
/// exact when the value is written plainly, the whole value otherwise.
fn item_span(src: &SourceRef, value: &Spanned<super::model::ChannelList>, at: &Range<usize>) -> Range<usize> {
    let outer = value.span();
    let text = &value.get_ref().0;
    if let Some(raw) = src.text().and_then(|t| t.get(outer.clone())) {
        if raw == text {
            return (outer.start + at.start)..(outer.start + at.end);
        }
        if raw.len() == text.len() + 2 && (raw.starts_with('"') || raw.starts_with('\'')) && &raw[1..raw.len() - 1] == text {
            return (outer.start + 1 + at.start)..(outer.start + 1 + at.end);
        }
    }
    outer
}

/// Check one group; the positions it names (empty if its list is bad).
fn group(
    cx: &mut Ctx,
    s: &SpanSection,
    g: &Group,
    kind: SpanType,
    framing: Option<Framing>,
    hws: Option<&HwSpan>,
    taken: &mut BTreeMap<u32, Range<usize>>,
) -> Vec<u32> {
    let n = *s.span.get_ref();
    let role = *g.role.get_ref();
    let unit = if kind == SpanType::Analog { "port" } else { "channel" };

    // The channel list.
    let items = match ranges::parse(&g.channels.get_ref().0) {
        Ok(items) => items,
        Err(errs) => {
            for e in errs {
                let at = item_span(cx.src, &g.channels, &e.at);
                cx.err(at, e.message, e.help);
            }
            Vec::new()
        }
    };
    let mut positions: Vec<u32> = Vec::new();
    let mut missing = Vec::new();
    let mut overlap: BTreeMap<usize, Vec<u32>> = BTreeMap::new();
    let mut first_bad: Option<Range<usize>> = None;
    let mut first_overlap: Option<Range<usize>> = None;
    for it in &items {
        for pos in it.first..=it.last {
            if hws.is_some_and(|h| h.channel(pos).is_none()) {
                missing.push(pos);
                first_bad.get_or_insert_with(|| item_span(cx.src, &g.channels, &it.at));
                continue;
            }
            if let Some(prev) = taken.get(&pos) {
                overlap.entry(prev.start).or_default().push(pos);
                first_overlap.get_or_insert_with(|| item_span(cx.src, &g.channels, &it.at));
                continue;
            }
            taken.insert(pos, g.channels.span());
            positions.push(pos);
        }
    }
    if let (Some(h), Some(at)) = (hws, first_bad) {
        cx.err(
            at,
            format!(
                "{} {} of span {n} {} not exist: span {n} ({}, {}) has {}",
                plural(unit, missing.len()),
                ranges::format(&missing),
                if missing.len() == 1 { "does" } else { "do" },
                h.name,
                h.kind,
                h.describe_channels()
            ),
            "channels are positions within the span, counted from 1",
        );
    }
    if let Some(at) = first_overlap {
        for (prev_start, list) in &overlap {
            let prev = *prev_start..*prev_start;
            let w = cx.where_(&prev, "group");
            cx.err(
                at.clone(),
                format!("{} {} of span {n} {} already in {w}", plural(unit, list.len()), ranges::format(list), if list.len() == 1 { "is" } else { "are" }),
                "each channel belongs to one group: remove it from one of them",
            );
        }
    }

    // Keys that only some roles take.
    if let Some(st) = g.start.as_ref().filter(|_| !role.has_start()) {
        cx.err(st.span(), format!("`start` is for fxs and fxo groups, not role \"{role}\""), "remove `start`");
    }
    match (&g.idle_bits, role) {
        (None, Role::Cas) => {
            cx.err(g.role.span(), "role \"cas\" needs `idle_bits`", "add idle_bits = \"1101\" (the ABCD bits sent while the channel is idle; 1101 for MFC/R2)")
        }
        (Some(b), Role::Cas) if parse_idle_bits(b.get_ref()).is_none() => {
            cx.err(b.span(), format!("idle_bits {:?} is not four ABCD bits", b.get_ref()), "write four 0s and 1s, A bit first, e.g. idle_bits = \"1101\"")
        }
        (Some(b), r) if r != Role::Cas => cx.err(b.span(), format!("`idle_bits` is for role \"cas\", not \"{r}\""), "remove `idle_bits`"),
        _ => {}
    }
    if let Some(l) = g.law.as_ref().filter(|_| !role.is_audio()) {
        cx.err(l.span(), format!("`law` is for audio channels; role \"{role}\" carries none"), "remove `law`");
    }
    if let Some(e) = &g.echo_canceller {
        match e.get_ref() {
            EchoCanceller::Name(_) if !role.is_audio() => {
                cx.err(e.span(), format!("an echo canceller on role \"{role}\", which carries no audio"), "remove `echo_canceller` from this group")
            }
            EchoCanceller::Name(name) if name.is_empty() => cx.err(e.span(), "empty echo canceller name", "write echo_canceller = false for none"),
            EchoCanceller::Name(name) if name.len() > 15 || !name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-') => cx.err(
                e.span(),
                format!("{name:?} is not an echo canceller name"),
                "DAHDI echo cancellers have short names such as \"oslec\", \"mg2\", \"kb1\", \"sec2\" or \"hwec\"",
            ),
            _ => {}
        }
    }

    // The role for the span type.
    let at = g.role.span();
    match kind {
        SpanType::Analog if !matches!(role, Role::Fxs | Role::Fxo | Role::Unused) => cx.err(
            at,
            format!("role \"{role}\" on span {n}, an analog card"),
            "analog ports take role = \"fxs\" (a phone plugs in) or \"fxo\" (a CO line plugs in)",
        ),
        _ if kind.is_t1_like() && role == Role::EmE1 => cx.err(at, format!("role \"em_e1\" is E&M on E1; span {n} is {kind}"), "write role = \"em\""),
        SpanType::E1 if role == Role::Em => cx.err(at, format!("role \"em\" is E&M on T1; span {n} is E1"), "write role = \"em_e1\""),
        SpanType::E1 if framing == Some(Framing::Ccs) && role.uses_cas_bits() => cx.err(
            at,
            format!("role \"{role}\" signals in the ABCD bits, which E1 span {n} has only with framing = \"cas\""),
            "set framing = \"cas\" on this span, or use roles bchan + dchan for ISDN PRI",
        ),
        SpanType::E1 if framing == Some(Framing::Cas) && role.is_dchan() => cx.err(
            at,
            format!("a D-channel on E1 span {n}, whose framing is \"cas\""),
            "ISDN PRI needs framing = \"ccs\"; a CAS span takes roles cas, em_e1, fxs or fxo",
        ),
        _ => {}
    }
    if kind == SpanType::E1 && framing == Some(Framing::Cas) && role != Role::Unused && positions.contains(&16) {
        let at16 = items.iter().find(|i| (i.first..=i.last).contains(&16)).map(|i| item_span(cx.src, &g.channels, &i.at)).unwrap_or(g.channels.span());
        cx.err(
            at16,
            format!("channel 16 of E1 span {n} carries the CAS bits of all channels (framing = \"cas\") and cannot be used"),
            "leave channel 16 out, e.g. channels = \"1-15,17-31\"",
        );
    }

    // What the hardware can do.
    if let Some(h) = hws {
        let start = g.start.as_ref().map(|s| *s.get_ref()).unwrap_or(Start::Kewl);
        let sig = role.signalling(start);
        if sig != Signalling::None {
            let want = sig.to_dahdi();
            let cannot: Vec<u32> = positions.iter().copied().filter(|&p| h.channel(p).is_some_and(|c| want & extended_sigcap(c.sigcap) != want)).collect();
            if !cannot.is_empty() {
                sigcap_error(cx, g, h, role, start, sig, &cannot);
            }
        }
    }
    positions
}

/// DAHDI lets any channel that can be clear carry software HDLC too.
fn extended_sigcap(cap: u32) -> u32 {
    if cap & d::DAHDI_SIG_CLEAR != 0 { cap | d::DAHDI_SIG_HDLCRAW | d::DAHDI_SIG_HDLCFCS | d::DAHDI_SIG_HDLCNET | d::DAHDI_SIG_DACS } else { cap }
}

fn plural(unit: &str, n: usize) -> String {
    if n == 1 { unit.to_string() } else { format!("{unit}s") }
}

fn sigcap_error(cx: &mut Ctx, g: &Group, h: &HwSpan, role: Role, start: Start, sig: Signalling, cannot: &[u32]) {
    let n = h.span;
    let at = g.role.span();
    let list = ranges::format(cannot);
    if h.kind() == Some(SpanType::Analog) {
        let ports: Vec<Option<Port>> = cannot.iter().map(|&p| h.port(p)).collect();
        let (this, other, other_role, this_what, other_what) = match role {
            Role::Fxs => (Port::Fxs, Port::Fxo, "fxo", "a phone plugs into", "a CO line plugs in"),
            _ => (Port::Fxo, Port::Fxs, "fxs", "a CO line plugs into", "a phone plugs in"),
        };
        let wrong: Vec<u32> = cannot.iter().zip(&ports).filter(|(_, p)| **p == Some(other)).map(|(c, _)| *c).collect();
        if !wrong.is_empty() {
            let upper = if other == Port::Fxo { "FXO" } else { "FXS" };
            let one = wrong.len() == 1;
            cx.err(
                at.clone(),
                format!(
                    "{} {} of span {n} ({}) {} ({other_what}); role \"{role}\" is for ports {this_what}",
                    plural("port", wrong.len()),
                    ranges::format(&wrong),
                    h.name,
                    if one { format!("is an {upper} port") } else { format!("are {upper} ports") },
                ),
                format!("give {} a group of {} own with role = \"{other_role}\"", if one { "it" } else { "them" }, if one { "its" } else { "their" }),
            );
        }
        let same: Vec<u32> = cannot.iter().zip(&ports).filter(|(_, p)| **p == Some(this)).map(|(c, _)| *c).collect();
        if !same.is_empty() {
            let start_name = match start {
                Start::Loop => "loop",
                Start::Ground => "ground",
                Start::Kewl => "kewl",
            };
            cx.err(
                g.start.as_ref().map(Spanned::span).unwrap_or(at.clone()),
                format!("{} {} of span {n} ({}) cannot do {start_name} start", plural("port", same.len()), ranges::format(&same), h.name),
                "use start = \"kewl\" or \"loop\"",
            );
        }
        let empty: Vec<u32> = cannot.iter().zip(&ports).filter(|(_, p)| p.is_none()).map(|(c, _)| *c).collect();
        if !empty.is_empty() {
            cx.err(
                at,
                format!("{} {} of span {n} ({}) cannot do {sig} (no module fitted?)", plural("port", empty.len()), ranges::format(&empty), h.name),
                "leave empty ports out of the configuration, or fit a module",
            );
        }
        return;
    }
    let caps = h.channel(cannot[0]).map(|c| describe_sigcap(extended_sigcap(c.sigcap))).unwrap_or_default();
    cx.err(
        at,
        format!(
            "{} {list} of span {n} ({}) cannot do role \"{role}\" (DAHDI signalling {})",
            plural("channel", cannot.len()),
            h.name,
            sig.system_conf_keyword()
        ),
        format!("the hardware offers: {caps}"),
    );
}

/// The roles a sigcap allows, in Tandem's words.
fn describe_sigcap(cap: u32) -> String {
    let mut v = Vec::new();
    let has = |s: Signalling| cap & s.to_dahdi() == s.to_dahdi();
    if has(Signalling::Clear) {
        v.push("bchan/clear");
    }
    if has(Signalling::Dchan) {
        v.push("dchan");
    }
    if has(Signalling::HdlcFcs) {
        v.push("hdlc_fcs");
    }
    if has(Signalling::Fxs(Start::Kewl)) {
        v.push("fxs");
    }
    if has(Signalling::Fxo(Start::Kewl)) {
        v.push("fxo");
    }
    if has(Signalling::Em) {
        v.push("em");
    }
    if has(Signalling::EmE1) {
        v.push("em_e1");
    }
    if has(Signalling::Cas) {
        v.push("cas");
    }
    if v.is_empty() { "nothing Tandem configures".into() } else { v.join(", ") }
}
