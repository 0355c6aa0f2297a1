//! The `[[cas]]` sections of `tandem.toml`: CAS trunks — T1 robbed-bit E&M
//! (immediate start, wink start, delay dial, Feature Group B and D) and E1
//! MFC/R2 — each section one interface of channels on one span.
//!
//! ```toml
//! [[cas]]
//! name = "carrier"             # used by groups, routes and the logs
//! span = 1                     # the DAHDI span
//! channels = "1-24"            # positions on the span (default: every CAS channel of the span)
//! signalling = "em_wink"       # em_immediate | em_wink | em_delay | fgb | fgd | r2
//! digits = "mf"                # T1: mf (Bell MF / R1) | dtmf; not for r2 (R2 MF always)
//! direction = "both"           # in | out | both
//! glare = "yield"              # two-way trunks: yield (drop ours, take theirs) | keep
//! fgd_ack_wink = true          # fgd: acknowledge the address with a second wink (and expect one)
//! ani_ii = "00"                # fgd outbound: the ANI information digits sent with a calling number
//! max_digits = 10              # plain E&M inbound: the number is complete after this many digits
//! tone_zone = "us"             # E&M: call-progress tones played on refusal and heard on outgoing calls
//!                              # (us, uk, de, fr, au, jp, or a [tones.<zone>] the config defines)
//! refusal_tone_s = 10          # E&M: a refused incoming call hears busy/reorder/SIT this long, then is cleared
//! echo_taps = 128              # echo canceller tail per call (samples; 0 = off)
//! # MFC/R2 only:
//! variant = "itu"              # itu | mexico | brazil | argentina | china
//! category = "national_subscriber"  # outbound calling party category (national_subscriber,
//!                              # national_priority, test_equipment, international_subscriber,
//!                              # international_priority, collect_call, pay_phone)
//! max_ani = 10                 # inbound: ask for at most this many ANI digits (0: no category, no ANI)
//! max_dnis = 4                 # inbound: the DNIS is complete after this many digits
//! ani_first = true             # inbound: ask for the ANI after the first DNIS digit (default: the variant's)
//! double_answer = false        # inbound: answer twice (refuses collect calls where that is the custom)
//!
//! [cas.timers]                 # milliseconds; defaults are the signalling cores' (see below)
//! wink_send = 200
//! ```
//!
//! E&M timers: `debounce`, `wink_send`, `wink_rx_min`, `wink_rx_max`,
//! `pre_wink_guard`, `wink_wait`, `post_wink_delay`, `immediate_delay`,
//! `delay_dial_send`, `delay_dial_wait`, `delay_dial_min`,
//! `delay_dial_max`, `first_digit`, `inter_digit`, `digits_sent`,
//! `ack_wink_wait`, `answer`, `clear_wait`, `release_guard`
//! ([`tandem_signalling::cas::em::EmTimers`]). R2 timers: `debounce`,
//! `seize_ack`, `mf_back_cycle`, `mf_back_resume`, `mf_fwd_safety`,
//! `answer`, `answer_delay`, `double_answer`, `metering_pulse`, `release`,
//! `offer` ([`tandem_signalling::cas::r2::R2Timers`]).
//!
//! The channels' line signalling is DAHDI's raw CAS: in `[dahdi]` they are
//! `role = "cas"` with `idle_bits = "0000"` (T1 E&M: on hook) or `"1001"`
//! (E1 MFC/R2 idle with C D = 0 1; China `"1011"`). [`validate`] checks
//! everything that needs no hardware, including those `[dahdi]` groups when
//! the span is declared there; channel numbers come from discovery when the
//! daemon starts ([`crate::tdm::cas_io::resolve`]).

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use serde::Deserialize;
use tandem_drivers::config::diag::{Diagnostic, SourceRef};
use tandem_drivers::config::model::{Role, SpanType};
use tandem_drivers::config::{DahdiConfig, ranges};
use tandem_signalling::cas::em::{EmTimers, GlarePriority, StartType, TrunkDirection};
use tandem_signalling::cas::fgd::AddressFormat;
use tandem_signalling::cas::r2::R2Timers;
use tandem_signalling::cas::r2_variants::{Category, R2Variant};
use toml::Spanned;

use super::check::Ctx;
use super::pri::{ECHO_TAPS, echo_taps_valid};

/// One `[[cas]]` interface: CAS channels of one signalling type on one span.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CasConfig {
    /// The interface's name, used by routes and groups.
    pub name: Spanned<String>,
    /// The DAHDI span.
    pub span: Spanned<u32>,
    /// Positions on the span (default: every CAS channel of the span).
    #[serde(default)]
    pub channels: Option<Spanned<String>>,
    /// The line and address signalling.
    pub signalling: Spanned<SignallingName>,
    /// T1: how digits travel (default MF).
    #[serde(default)]
    pub digits: Option<Spanned<DigitsName>>,
    /// Which calls the trunk carries (default both).
    #[serde(default)]
    pub direction: Option<Spanned<DirectionName>>,
    /// Glare rule on two-way trunks (default yield).
    #[serde(default)]
    pub glare: Option<Spanned<GlareName>>,
    /// FGD: the second (acknowledgement) wink (default true).
    #[serde(default)]
    pub fgd_ack_wink: Option<bool>,
    /// FGD outbound: ANI information digits (default "00").
    #[serde(default)]
    pub ani_ii: Option<Spanned<String>>,
    /// Plain E&M inbound: digits in a complete number.
    #[serde(default)]
    pub max_digits: Option<Spanned<u32>>,
    /// Echo canceller tail per call.
    #[serde(default)]
    pub echo_taps: Option<Spanned<u32>>,
    /// R2: the country variant (default itu).
    #[serde(default)]
    pub variant: Option<Spanned<String>>,
    /// R2 outbound: calling party category.
    #[serde(default)]
    pub category: Option<Spanned<CategoryName>>,
    /// R2 inbound: most ANI digits asked for.
    #[serde(default)]
    pub max_ani: Option<Spanned<u32>>,
    /// R2 inbound: DNIS length.
    #[serde(default)]
    pub max_dnis: Option<Spanned<u32>>,
    /// R2 inbound: ask for the ANI after the first DNIS digit.
    #[serde(default)]
    pub ani_first: Option<bool>,
    /// R2 inbound: double answer.
    #[serde(default)]
    pub double_answer: Option<bool>,
    /// E&M: the tone zone of the in-band call progress, played when a call
    /// is refused and listened for on outgoing calls (default us).
    #[serde(default)]
    pub tone_zone: Option<Spanned<String>>,
    /// E&M: how long a refused incoming call hears its busy, reorder or SIT
    /// before the trunk clears it, in seconds (default 10).
    #[serde(default)]
    pub refusal_tone_s: Option<Spanned<u64>>,
    /// Timer overrides, in ms.
    #[serde(default)]
    pub timers: Option<Spanned<BTreeMap<String, Spanned<u64>>>>,
}

/// `signalling = …`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SignallingName {
    EmImmediate,
    EmWink,
    EmDelay,
    Fgb,
    Fgd,
    R2,
}

impl SignallingName {
    /// The name as written.
    pub fn as_str(self) -> &'static str {
        match self {
            SignallingName::EmImmediate => "em_immediate",
            SignallingName::EmWink => "em_wink",
            SignallingName::EmDelay => "em_delay",
            SignallingName::Fgb => "fgb",
            SignallingName::Fgd => "fgd",
            SignallingName::R2 => "r2",
        }
    }
}

/// `digits = "mf" | "dtmf"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DigitsName {
    Mf,
    Dtmf,
}

/// `direction = "in" | "out" | "both"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DirectionName {
    In,
    Out,
    Both,
}

/// `glare = "keep" | "yield"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GlareName {
    Keep,
    Yield,
}

/// `category = …` (R2 calling party category).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CategoryName {
    NationalSubscriber,
    NationalPriority,
    TestEquipment,
    InternationalSubscriber,
    InternationalPriority,
    CollectCall,
    PayPhone,
}

impl CategoryName {
    /// The core's category.
    pub fn category(self) -> Category {
        match self {
            CategoryName::NationalSubscriber => Category::NationalSubscriber,
            CategoryName::NationalPriority => Category::NationalPriority,
            CategoryName::TestEquipment => Category::TestEquipment,
            CategoryName::InternationalSubscriber => Category::InternationalSubscriber,
            CategoryName::InternationalPriority => Category::InternationalPriority,
            CategoryName::CollectCall => Category::CollectCall,
            CategoryName::PayPhone => Category::PayPhone,
        }
    }
}

/// The variant names `variant =` accepts.
pub const VARIANTS: [&str; 5] = ["itu", "mexico", "brazil", "argentina", "china"];

/// E&M timer names (`[cas.timers]`).
pub const EM_TIMERS: [&str; 19] = [
    "debounce",
    "wink_send",
    "wink_rx_min",
    "wink_rx_max",
    "pre_wink_guard",
    "wink_wait",
    "post_wink_delay",
    "immediate_delay",
    "delay_dial_send",
    "delay_dial_wait",
    "delay_dial_min",
    "delay_dial_max",
    "first_digit",
    "inter_digit",
    "digits_sent",
    "ack_wink_wait",
    "answer",
    "clear_wait",
    "release_guard",
];

/// R2 timer names (`[cas.timers]`).
pub const R2_TIMERS: [&str; 11] = [
    "debounce",
    "seize_ack",
    "mf_back_cycle",
    "mf_back_resume",
    "mf_fwd_safety",
    "answer",
    "answer_delay",
    "double_answer",
    "metering_pulse",
    "release",
    "offer",
];

impl CasConfig {
    /// Is this MFC/R2?
    pub fn is_r2(&self) -> bool {
        *self.signalling.get_ref() == SignallingName::R2
    }

    /// The configured positions, if `channels` is given and valid.
    pub fn positions(&self) -> Option<Vec<u32>> {
        let items = ranges::parse(self.channels.as_ref()?.get_ref()).ok()?;
        let mut v: Vec<u32> = items.iter().flat_map(|i| i.first..=i.last).collect();
        v.sort_unstable();
        v.dedup();
        Some(v)
    }

    /// The echo canceller tail for calls, if configured and valid.
    pub fn echo_taps(&self) -> Option<u32> {
        self.echo_taps.as_ref().map(|t| *t.get_ref()).filter(|&t| echo_taps_valid(t))
    }

    /// The E&M start type of an E&M / FGB / FGD trunk.
    pub fn start(&self) -> StartType {
        match self.signalling.get_ref() {
            SignallingName::EmImmediate => StartType::Immediate,
            SignallingName::EmDelay => StartType::DelayDial,
            _ => StartType::Wink,
        }
    }

    /// The address format of an E&M / FGB / FGD trunk.
    pub fn address(&self) -> AddressFormat {
        match self.signalling.get_ref() {
            SignallingName::Fgb => AddressFormat::FeatureGroupB,
            SignallingName::Fgd => AddressFormat::FeatureGroupD { ack_wink: self.fgd_ack_wink.unwrap_or(true) },
            _ => AddressFormat::Plain { max_digits: self.max_digits.as_ref().map(|m| *m.get_ref() as usize), terminator: None },
        }
    }

    /// Direction, as the cores name it.
    pub fn direction(&self) -> TrunkDirection {
        match self.direction.as_ref().map(|d| *d.get_ref()) {
            Some(DirectionName::In) => TrunkDirection::Incoming,
            Some(DirectionName::Out) => TrunkDirection::Outgoing,
            Some(DirectionName::Both) | None => TrunkDirection::Both,
        }
    }

    /// Glare rule, as the cores name it.
    pub fn glare(&self) -> GlarePriority {
        match self.glare.as_ref().map(|g| *g.get_ref()) {
            Some(GlareName::Keep) => GlarePriority::Keep,
            _ => GlarePriority::Yield,
        }
    }

    /// The R2 variant (ITU when unset or unknown), with `ani_first` applied.
    pub fn variant(&self) -> R2Variant {
        let mut v = self.variant.as_ref().and_then(|v| R2Variant::by_name(v.get_ref())).unwrap_or_else(R2Variant::itu);
        if let Some(a) = self.ani_first {
            v.ani_first = a;
        }
        v
    }

    fn timer(&self, name: &str) -> Option<Duration> {
        let t = self.timers.as_ref()?.get_ref();
        t.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| Duration::from_millis(*v.get_ref()))
    }

    /// E&M: the tone zone's name (default "us").
    pub fn zone(&self) -> &str {
        self.tone_zone.as_ref().map(|z| z.get_ref().as_str()).unwrap_or("us")
    }

    /// E&M: how long a refused call hears its tone (default 10 s).
    pub fn refusal_tone(&self) -> Duration {
        Duration::from_secs(self.refusal_tone_s.as_ref().map(|s| *s.get_ref()).unwrap_or(10))
    }

    /// E&M timers: the core's defaults with the overrides applied.
    pub fn em_timers(&self) -> EmTimers {
        let mut t = EmTimers::default();
        let fields: [(&str, &mut Duration); 19] = [
            ("debounce", &mut t.debounce),
            ("wink_send", &mut t.wink_send),
            ("wink_rx_min", &mut t.wink_rx_min),
            ("wink_rx_max", &mut t.wink_rx_max),
            ("pre_wink_guard", &mut t.pre_wink_guard),
            ("wink_wait", &mut t.wink_wait),
            ("post_wink_delay", &mut t.post_wink_delay),
            ("immediate_delay", &mut t.immediate_delay),
            ("delay_dial_send", &mut t.delay_dial_send),
            ("delay_dial_wait", &mut t.delay_dial_wait),
            ("delay_dial_min", &mut t.delay_dial_min),
            ("delay_dial_max", &mut t.delay_dial_max),
            ("first_digit", &mut t.first_digit),
            ("inter_digit", &mut t.inter_digit),
            ("digits_sent", &mut t.digits_sent),
            ("ack_wink_wait", &mut t.ack_wink_wait),
            ("answer", &mut t.answer),
            ("clear_wait", &mut t.clear_wait),
            ("release_guard", &mut t.release_guard),
        ];
        for (name, field) in fields {
            if let Some(d) = self.timer(name) {
                *field = d;
            }
        }
        t
    }

    /// R2 timers: the core's defaults with the overrides applied.
    pub fn r2_timers(&self) -> R2Timers {
        let mut t = R2Timers::default();
        let fields: [(&str, &mut Duration); 10] = [
            ("debounce", &mut t.debounce),
            ("seize_ack", &mut t.seize_ack),
            ("mf_back_cycle", &mut t.mf_back_cycle),
            ("mf_back_resume", &mut t.mf_back_resume),
            ("mf_fwd_safety", &mut t.mf_fwd_safety),
            ("answer", &mut t.answer),
            ("answer_delay", &mut t.answer_delay),
            ("double_answer", &mut t.double_answer),
            ("release", &mut t.release),
            ("offer", &mut t.offer),
        ];
        for (name, field) in fields {
            if let Some(d) = self.timer(name) {
                *field = d;
            }
        }
        if let Some(d) = self.timer("metering_pulse") {
            t.metering_pulse = Some(d);
        }
        t
    }

    /// The idle ABCD bits `[dahdi]` should give the channels (`role = "cas"`).
    pub fn idle_bits(&self) -> &'static str {
        if self.is_r2() { if self.variant().cd_bits == 0b11 { "1011" } else { "1001" } } else { "0000" }
    }
}

/// Checks the `[[cas]]` sections: names (unique, also against `taken`),
/// spans, channel lists, options that don't fit the signalling, timer
/// names and values, and — when `dahdi` declares the span — the span type
/// and the channels' role and idle bits. `zones` are the tone zone names
/// the config may use (the built-in ones and those `[tones]` defines).
pub fn validate(cases: &[CasConfig], taken: &[&str], zones: &[&str], dahdi: Option<&DahdiConfig>, src: &SourceRef, out: &mut Vec<Diagnostic>) {
    let mut cx = Ctx { src, out };
    let mut names: HashMap<String, usize> = HashMap::new();
    let mut chans_seen: HashMap<(u32, u32), String> = HashMap::new();
    for c in cases {
        let name = c.name.get_ref();
        if name.trim().is_empty() {
            cx.err(c.name.span(), "the interface name is empty", "give the interface a name, e.g. name = \"carrier\"");
        } else if taken.contains(&name.as_str()) || names.contains_key(name) {
            cx.err(c.name.span(), format!("interface name \"{name}\" is used twice"), "give each [[cas]], [[analog]] and [[pri]] its own name");
        } else {
            names.insert(name.clone(), c.name.span().start);
        }
        let span = *c.span.get_ref();
        cx.span_number(span, c.span.span());
        if let Some(items) = c.channels.as_ref().and_then(|ch| cx.positions(ch)) {
            for i in items {
                if i.first == 0 || i.last > 31 {
                    cx.err(i.at, format!("channel positions {}-{} are outside 1-31", i.first, i.last), "positions count from 1 within the span");
                    continue;
                }
                for p in i.first..=i.last {
                    if let Some(other) = chans_seen.insert((span, p), name.clone())
                        && other != *name
                    {
                        cx.err(i.at.clone(), format!("span {span} channel {p} is already in [[cas]] \"{other}\""), "a channel belongs to one interface");
                        break;
                    }
                }
            }
        }
        let sig = *c.signalling.get_ref();
        let r2 = sig == SignallingName::R2;
        if r2 {
            if let Some(d) = &c.digits {
                cx.err(d.span(), "digits is for T1 E&M trunks: MFC/R2 always signals in R2 MF", "remove digits from this [[cas]]");
            }
            for (k, v) in [
                ("fgd_ack_wink", c.fgd_ack_wink.is_some()),
                ("ani_ii", c.ani_ii.is_some()),
                ("max_digits", c.max_digits.is_some()),
                ("tone_zone", c.tone_zone.is_some()),
                ("refusal_tone_s", c.refusal_tone_s.is_some()),
            ] {
                if v {
                    cx.err(c.signalling.span(), format!("{k} is for E&M trunks, not signalling = \"r2\""), &format!("remove {k}"));
                }
            }
            if let Some(v) = &c.variant
                && R2Variant::by_name(v.get_ref()).is_none()
            {
                cx.err(v.span(), format!("unknown MFC/R2 variant \"{}\"", v.get_ref()), &format!("use one of: {}", VARIANTS.join(", ")));
            }
            if let Some(m) = &c.max_dnis
                && !(1..=20).contains(m.get_ref())
            {
                cx.err(m.span(), format!("max_dnis = {} is not 1 to 20", m.get_ref()), "the DNIS length the exchange sends, e.g. 4");
            }
            if let Some(m) = &c.max_ani
                && *m.get_ref() > 20
            {
                cx.err(m.span(), format!("max_ani = {} is more than 20", m.get_ref()), "0 to 20; 0 asks for no category and no ANI");
            }
        } else {
            for (k, at) in [
                ("variant", c.variant.as_ref().map(|v| v.span())),
                ("category", c.category.as_ref().map(|v| v.span())),
                ("max_ani", c.max_ani.as_ref().map(|v| v.span())),
                ("max_dnis", c.max_dnis.as_ref().map(|v| v.span())),
            ] {
                if let Some(at) = at {
                    cx.err(
                        at,
                        format!("{k} is for MFC/R2 (signalling = \"r2\"), not \"{}\"", sig.as_str()),
                        &format!("remove {k}, or use signalling = \"r2\""),
                    );
                }
            }
            if let Some(z) = &c.tone_zone
                && !zones.iter().any(|t| t.eq_ignore_ascii_case(z.get_ref()))
            {
                cx.err(
                    z.span(),
                    format!("unknown tone zone \"{}\"", z.get_ref()),
                    &format!("use one of: {}, or define it as [tones.{}] with base = \"<built-in>\"", zones.join(", "), z.get_ref()),
                );
            }
            if let Some(t) = &c.refusal_tone_s
                && !(1..=600).contains(t.get_ref())
            {
                cx.err(t.span(), format!("refusal_tone_s = {} is not 1 to 600", t.get_ref()), "seconds of busy, reorder or SIT a refused call hears, e.g. 10");
            }
            if c.ani_first.is_some() || c.double_answer.is_some() {
                cx.err(c.signalling.span(), "ani_first and double_answer are for MFC/R2", "remove them, or use signalling = \"r2\"");
            }
            if c.fgd_ack_wink.is_some() && sig != SignallingName::Fgd {
                cx.err(c.signalling.span(), "fgd_ack_wink is for signalling = \"fgd\"", "remove fgd_ack_wink");
            }
            if let Some(ii) = &c.ani_ii {
                if sig != SignallingName::Fgd {
                    cx.err(ii.span(), "ani_ii is for signalling = \"fgd\"", "remove ani_ii");
                } else if ii.get_ref().len() != 2 || !ii.get_ref().bytes().all(|b| b.is_ascii_digit()) {
                    cx.err(ii.span(), format!("ani_ii = \"{}\" is not two digits", ii.get_ref()), "e.g. \"00\" (ordinary line)");
                }
            }
            if let Some(m) = &c.max_digits {
                if matches!(sig, SignallingName::Fgb | SignallingName::Fgd) {
                    cx.err(m.span(), "max_digits is for plain E&M: FGB and FGD numbers end with ST", "remove max_digits");
                } else if !(1..=32).contains(m.get_ref()) {
                    cx.err(m.span(), format!("max_digits = {} is not 1 to 32", m.get_ref()), "e.g. 4 for extensions, 10 for NANP numbers");
                }
            }
        }
        if let Some(t) = &c.echo_taps
            && !echo_taps_valid(*t.get_ref())
        {
            cx.err(t.span(), format!("echo_taps = {} is not a canceller length", t.get_ref()), &format!("use {ECHO_TAPS} (samples at 8 kHz)"));
        }
        if let Some(t) = &c.timers {
            let list: &[&str] = if r2 { &R2_TIMERS } else { &EM_TIMERS };
            for (k, v) in t.get_ref() {
                if !list.iter().any(|n| n.eq_ignore_ascii_case(k)) {
                    cx.err(v.span(), format!("unknown {} timer \"{k}\"", if r2 { "MFC/R2" } else { "E&M" }), &format!("the timers are {}", list.join(", ")));
                } else if (*v.get_ref() == 0 && !k.eq_ignore_ascii_case("debounce")) || *v.get_ref() > 3_600_000 {
                    cx.err(v.span(), format!("{k} = {} is out of range", v.get_ref()), "timers are milliseconds, 1 to 3600000 (debounce may be 0)");
                }
            }
        }
        if let Some(d) = dahdi {
            check_dahdi(&mut cx, c, d);
        }
    }
}

/// The `[dahdi]` span of a `[[cas]]` section, when declared: its type must
/// suit the signalling, and the channels must be raw CAS with the right idle bits.
fn check_dahdi(cx: &mut Ctx, c: &CasConfig, d: &DahdiConfig) {
    let span = *c.span.get_ref();
    let Some(s) = d.spans.iter().find(|s| *s.span.get_ref() == span) else { return };
    let kind = *s.kind.get_ref();
    match kind {
        SpanType::Analog => {
            cx.err(c.span.span(), format!("span {span} is an analog span in [dahdi]; CAS trunks run on T1 or E1 spans"), "use [[analog]] for analog ports");
            return;
        }
        SpanType::T1 | SpanType::J1 if c.is_r2() => {
            cx.err(
                c.signalling.span(),
                format!("MFC/R2 on span {span}, which [dahdi] declares as a T1"),
                "MFC/R2 runs on E1 spans (framing = \"cas\"); T1 trunks use em_* or fgb/fgd",
            );
            return;
        }
        _ => {}
    }
    if kind == SpanType::E1
        && let Some(dg) = &c.digits
    {
        cx.err(dg.span(), format!("digits on span {span}, an E1: E&M on E1 is not offered with MF R1 or DTMF here"), "on E1 use signalling = \"r2\"");
    }
    let wanted = c.positions();
    let want_bits = c.idle_bits();
    let mut found = false;
    for g in &s.groups {
        let Ok(items) = ranges::parse(&g.channels.get_ref().0) else { continue };
        let pos: Vec<u32> = items.iter().flat_map(|i| i.first..=i.last).collect();
        let ours = match &wanted {
            Some(w) => pos.iter().any(|p| w.contains(p)),
            None => *g.role.get_ref() == Role::Cas,
        };
        if !ours {
            continue;
        }
        found = true;
        if *g.role.get_ref() != Role::Cas {
            cx.err(
                g.role.span(),
                format!("channels of [[cas]] \"{}\" have role \"{}\"", c.name.get_ref(), g.role.get_ref()),
                &format!("CAS trunks need raw CAS channels: role = \"cas\", idle_bits = \"{want_bits}\""),
            );
        } else if let Some(b) = &g.idle_bits
            && b.get_ref() != want_bits
        {
            cx.err(
                b.span(),
                format!("idle_bits = \"{}\" for [[cas]] \"{}\" ({})", b.get_ref(), c.name.get_ref(), c.signalling.get_ref().as_str()),
                &format!("this signalling idles with ABCD = {want_bits}: idle_bits = \"{want_bits}\""),
            );
        }
    }
    if !found {
        cx.err(
            c.span.span(),
            format!("[dahdi] span {span} has no CAS channels for [[cas]] \"{}\"", c.name.get_ref()),
            &format!("add a [[dahdi.span.group]] with role = \"cas\", idle_bits = \"{want_bits}\""),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;

    const DAHDI_T1: &str = r#"
[dahdi]
[[dahdi.span]]
span = 1
type = "t1"
timing = 1
[[dahdi.span.group]]
channels = "1-24"
role = "cas"
idle_bits = "0000"
"#;

    fn check(extra: &str) -> Result<Config, Vec<Diagnostic>> {
        Config::from_toml(&format!("{DAHDI_T1}{extra}"), "t.toml")
    }

    #[test]
    fn a_wink_start_trunk_with_timers_is_accepted() {
        let cfg = check("[[cas]]\nname = \"c\"\nspan = 1\nsignalling = \"em_wink\"\ndigits = \"dtmf\"\n[cas.timers]\nwink_send = 250\n").expect("valid");
        let c = &cfg.cas[0];
        assert_eq!(c.start(), StartType::Wink);
        assert_eq!(c.em_timers().wink_send, Duration::from_millis(250));
        assert_eq!(c.em_timers().wink_wait, EmTimers::default().wink_wait);
    }

    #[test]
    fn r2_on_a_t1_span_is_refused_with_a_position() {
        let e = check("[[cas]]\nname = \"c\"\nspan = 1\nsignalling = \"r2\"\n").unwrap_err();
        assert!(e.iter().any(|d| d.message.contains("MFC/R2 on span 1") && d.line > 0), "{e:?}");
    }

    #[test]
    fn digits_with_r2_and_unknown_timers_are_refused() {
        let text = "[[cas]]\nname = \"c\"\nspan = 2\nsignalling = \"r2\"\ndigits = \"mf\"\nvariant = \"narnia\"\n[cas.timers]\nwink_send = 100\n";
        let e = Config::from_toml(text, "t.toml").unwrap_err();
        let msgs: Vec<&str> = e.iter().map(|d| d.message.as_str()).collect();
        assert!(msgs.iter().any(|m| m.contains("R2 MF")), "{msgs:?}");
        assert!(msgs.iter().any(|m| m.contains("narnia")), "{msgs:?}");
        assert!(msgs.iter().any(|m| m.contains("unknown MFC/R2 timer")), "{msgs:?}");
    }

    #[test]
    fn wrong_idle_bits_get_the_right_ones_as_help() {
        let text = DAHDI_T1.replace("0000", "1101");
        let e = Config::from_toml(&format!("{text}[[cas]]\nname = \"c\"\nspan = 1\nsignalling = \"fgd\"\n"), "t.toml").unwrap_err();
        assert!(e.iter().any(|d| d.help.as_deref().is_some_and(|h| h.contains("idle_bits = \"0000\""))), "{e:?}");
    }

    #[test]
    fn the_refusal_tone_zone_and_time_are_read_and_checked() {
        let cfg = check("[[cas]]\nname = \"c\"\nspan = 1\nsignalling = \"fgd\"\ntone_zone = \"uk\"\nrefusal_tone_s = 20\n").expect("valid");
        assert_eq!(cfg.cas[0].zone(), "uk");
        assert_eq!(cfg.cas[0].refusal_tone(), Duration::from_secs(20));
        let cfg = check("[[cas]]\nname = \"c\"\nspan = 1\nsignalling = \"em_wink\"\n").expect("valid");
        assert_eq!((cfg.cas[0].zone(), cfg.cas[0].refusal_tone()), ("us", Duration::from_secs(10)));
        let e = check("[[cas]]\nname = \"c\"\nspan = 1\nsignalling = \"em_wink\"\ntone_zone = \"mars\"\nrefusal_tone_s = 0\n").unwrap_err();
        let msgs: Vec<&str> = e.iter().map(|d| d.message.as_str()).collect();
        assert!(msgs.iter().any(|m| m.contains("mars")), "{msgs:?}");
        assert!(msgs.iter().any(|m| m.contains("refusal_tone_s = 0")), "{msgs:?}");
        let e = Config::from_toml("[[cas]]\nname = \"c\"\nspan = 2\nsignalling = \"r2\"\nrefusal_tone_s = 5\n", "t.toml").unwrap_err();
        assert!(e.iter().any(|d| d.message.contains("refusal_tone_s is for E&M")), "{e:?}");
    }

    #[test]
    fn a_tone_zone_defined_by_the_config_is_accepted_and_resolved() {
        let text = "[[cas]]\nname = \"c\"\nspan = 1\nsignalling = \"em_wink\"\ntone_zone = \"carrier\"\n\n[tones.carrier]\nbase = \"us\"\nbusy = { freqs = [425], cadence = [[500, 500]] }\n";
        let cfg = check(text).expect("valid");
        assert_eq!(cfg.cas[0].zone(), "carrier");
        let zone = cfg.tone_zone(cfg.cas[0].zone());
        assert_eq!(zone.name, "carrier");
        assert_ne!(zone.busy, crate::tdm::zones::ToneZone::get("us").unwrap().busy, "the override is in the resolved zone");
        assert_eq!(zone.reorder, crate::tdm::zones::ToneZone::get("us").unwrap().reorder, "the rest comes from the base");
        let e = check("[[cas]]\nname = \"c\"\nspan = 1\nsignalling = \"em_wink\"\ntone_zone = \"carrier\"\n").unwrap_err();
        assert!(e.iter().any(|d| d.message.contains("carrier") && d.help.as_deref().is_some_and(|h| h.contains("[tones.carrier]"))), "{e:?}");
    }

    #[test]
    fn r2_variant_and_timers_reach_the_core_settings() {
        let cfg = Config::from_toml(
            "[[cas]]\nname = \"c\"\nspan = 2\nsignalling = \"r2\"\nvariant = \"mexico\"\nmax_dnis = 4\n[cas.timers]\nseize_ack = 3000\nmetering_pulse = 300\n",
            "t.toml",
        )
        .expect("valid");
        let c = &cfg.cas[0];
        assert_eq!(c.variant(), R2Variant::mexico());
        assert_eq!(c.r2_timers().seize_ack, Duration::from_millis(3000));
        assert_eq!(c.r2_timers().metering_pulse, Some(Duration::from_millis(300)));
        assert_eq!(c.idle_bits(), "1001");
    }
}
