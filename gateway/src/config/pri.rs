//! The `[[pri]]` (ISDN PRI interfaces) and `[[group]]` (span groups for
//! outbound TDM calls) sections of `tandem.toml`.
//!
//! ```toml
//! [[pri]]
//! name = "pstn"                 # used by groups, routes and the logs
//! spans = [1]                   # DAHDI span numbers; the first carries the D-channel (NFAS: more spans)
//! switch = "ni2"                # ni2 | dms100 | 4ess | 5ess | euroisdn-e1 | euroisdn-t1 | qsig
//! side = "user"                 # user (we are the PBX/CPE) | network (we emulate the exchange)
//! # dchannel = 24               # position of the D-channel; default 24 on a T1, 16 on an E1
//! # bchannels = "1-23"          # positions outbound calls may use; default all but the D-channel
//! # law = "ulaw"                # ulaw | alaw; default by span type (T1 ulaw, E1 alaw)
//! # overlap = false             # overlap dialling both ways, even on switch types that are en bloc by default (ni2, dms100, 4ess, 5ess)
//! country_code = "1"            # numbers of national type become "+1…", and "+1…" goes out national
//! # national_prefix = "1"       # unknown-type numbers starting with it are national (prefix dropped)
//! # international_prefix = "011" # unknown-type numbers starting with it are international
//! # area_code = "212"           # subscriber numbers become "+<country_code><area_code>…"
//! # trace = true                # one log line per Q.931 message (target tandem::q931, info)
//! # pcap = "/var/log/tandem/pstn.pcap"  # LAPD capture (tshark/wireshark, link type 177)
//! # echo_taps = 128             # echo canceller tail per call (samples; 0 = off); default: as DAHDI is configured
//! [pri.timers]                  # milliseconds; any of t301-t322, t3m1, t200, t203; n200 is a count
//! t309 = 6000
//!
//! [[group]]
//! name = "pstn-out"
//! members = ["pstn"]            # PRI interface names (analog lines later)
//! hunt = "ascending"            # ascending | descending | round_robin | lru
//! ```
//!
//! Everything that can be checked without the hardware is checked by
//! [`validate`]; the D-channel's DAHDI channel number and the span type
//! come from discovery when the interface starts
//! ([`crate::tdm::pri_io::resolve`]).

use std::collections::{BTreeMap, HashMap};
use std::ops::Range;
use std::time::Duration;

use isdn_q931::q931::{Side, SwitchType, Timers};
use serde::Deserialize;
use tandem_drivers::config::diag::{Diagnostic, SourceRef};
use tandem_drivers::config::ranges;
use toml::Spanned;

use super::check::Ctx;

/// One ISDN PRI interface: one or more spans (NFAS) under one D-channel.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PriConfig {
    /// The interface's name, used by routes and groups.
    pub name: Spanned<String>,
    /// DAHDI span numbers; the first one carries the D-channel.
    pub spans: Spanned<Vec<Spanned<u32>>>,
    /// Switch type (see [`switch_type`]).
    pub switch: Spanned<String>,
    /// Which side of the interface we are.
    pub side: Spanned<PriSide>,
    /// Position of the D-channel on the first span (default 24 on a T1, 16 on an E1).
    #[serde(default)]
    pub dchannel: Option<Spanned<u32>>,
    /// Positions outbound calls may use, as a channel list (`"1-23"`);
    /// the same positions on every span. Default: all but the D-channel.
    #[serde(default)]
    pub bchannels: Option<Spanned<String>>,
    /// G.711 law; default by span type.
    #[serde(default)]
    pub law: Option<Spanned<LawName>>,
    /// Overlap dialling in both directions: receive incomplete SETUPs and
    /// place outbound calls in overlap when the called number is not
    /// complete, even on switch types that are en bloc by default.
    #[serde(default)]
    pub overlap: bool,
    /// Country code (digits) for E.164 normalisation.
    #[serde(default)]
    pub country_code: Option<Spanned<String>>,
    /// Trunk prefix of national numbers dialled with unknown type (e.g. "0", "1").
    #[serde(default)]
    pub national_prefix: Option<Spanned<String>>,
    /// International access prefix of numbers with unknown type (e.g. "00", "011").
    #[serde(default)]
    pub international_prefix: Option<Spanned<String>>,
    /// Area code prepended (with the country code) to subscriber numbers.
    #[serde(default)]
    pub area_code: Option<Spanned<String>>,
    /// Timers in milliseconds by name (`t303`, `t309`, `t200`…; `n200` is a count).
    #[serde(default)]
    pub timers: Option<Spanned<BTreeMap<String, Spanned<u64>>>>,
    /// Log one line per Q.931 message at info level (else at debug).
    #[serde(default)]
    pub trace: bool,
    /// Write every D-channel frame to this pcap file.
    #[serde(default)]
    pub pcap: Option<Spanned<String>>,
    /// Echo canceller tail in samples that the media pump sets on each
    /// call's B-channel (0 switches the canceller off); absent, the
    /// canceller stays as DAHDI's configuration set it. See [`ECHO_TAPS`].
    #[serde(default)]
    pub echo_taps: Option<Spanned<u32>>,
}

/// Accepted `echo_taps`: 0, or a power of two from 32 to 1024 samples
/// (4 to 128 ms of echo tail), the lengths chan_dahdi's `echocancel`
/// accepts and DAHDI's software cancellers are built for.
pub const ECHO_TAPS: &str = "0, 32, 64, 128, 256, 512 or 1024";

/// Whether `taps` is an accepted `echo_taps` (see [`ECHO_TAPS`]).
pub fn echo_taps_valid(taps: u32) -> bool {
    taps == 0 || ((32..=1024).contains(&taps) && taps.is_power_of_two())
}

/// `side = "user" | "network"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PriSide {
    User,
    Network,
}

impl PriSide {
    /// The stack's side.
    pub fn side(self) -> Side {
        match self {
            PriSide::User => Side::User,
            PriSide::Network => Side::Network,
        }
    }
}

/// `law = "ulaw" | "alaw"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LawName {
    #[serde(alias = "mulaw")]
    Ulaw,
    Alaw,
}

/// A span group: the B-channels (or lines) outbound TDM calls hunt over.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GroupConfig {
    /// The group's name, used by routes.
    pub name: Spanned<String>,
    /// Interface names, in hunting order.
    pub members: Spanned<Vec<Spanned<String>>>,
    /// Hunting strategy (default ascending).
    #[serde(default)]
    pub hunt: Option<Spanned<HuntName>>,
}

/// `hunt = "ascending" | "descending" | "round_robin" | "lru"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HuntName {
    Ascending,
    Descending,
    #[serde(alias = "round-robin")]
    RoundRobin,
    #[serde(alias = "least_recently_used")]
    Lru,
}

/// The switch names `switch =` accepts, and the stack's types.
pub const SWITCHES: [(&str, SwitchType); 7] = [
    ("ni2", SwitchType::Ni2),
    ("dms100", SwitchType::Dms100),
    ("4ess", SwitchType::Att4ess),
    ("5ess", SwitchType::Lucent5ess),
    ("euroisdn-e1", SwitchType::EuroIsdnE1),
    ("euroisdn-t1", SwitchType::EuroIsdnT1),
    ("qsig", SwitchType::Qsig),
];

/// The switch type of a `switch =` value.
pub fn switch_type(name: &str) -> Option<SwitchType> {
    SWITCHES.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, t)| *t)
}

/// Timer names accepted under `[pri.timers]` (milliseconds), `n200` a count.
pub const TIMER_NAMES: [&str; 19] =
    ["t301", "t302", "t303", "t304", "t305", "t306", "t308", "t309", "t310", "t312", "t313", "t316", "t317", "t322", "t3m1", "t200", "t203", "n200", "k"];

impl PriConfig {
    /// The switch type (`None` if unknown; [`validate`] reports it).
    pub fn switch_type(&self) -> Option<SwitchType> {
        switch_type(self.switch.get_ref())
    }

    /// The echo canceller tail for calls, if configured and valid.
    pub fn echo_taps(&self) -> Option<u32> {
        self.echo_taps.as_ref().map(|t| *t.get_ref()).filter(|&t| echo_taps_valid(t))
    }

    /// DAHDI span numbers, D-channel span first.
    pub fn span_numbers(&self) -> Vec<u32> {
        self.spans.get_ref().iter().map(|s| *s.get_ref()).collect()
    }

    /// The configured B-channel positions, if given and valid.
    pub fn bchannel_positions(&self) -> Option<Vec<u32>> {
        let text = self.bchannels.as_ref()?;
        let items = ranges::parse(text.get_ref()).ok()?;
        let mut v: Vec<u32> = items.iter().flat_map(|i| i.first..=i.last).collect();
        v.sort_unstable();
        v.dedup();
        Some(v)
    }

    /// Applies `[pri.timers]` to the layer 3 timers (unknown names are ignored here; [`validate`] reports them).
    pub fn apply_l3_timers(&self, t: &mut Timers) {
        for (name, ms) in self.timer_values() {
            let d = Duration::from_millis(ms);
            match name.as_str() {
                "t301" => t.t301 = d,
                "t302" => t.t302 = d,
                "t303" => t.t303 = d,
                "t304" => t.t304 = d,
                "t305" => t.t305 = d,
                "t306" => t.t306 = d,
                "t308" => t.t308 = d,
                "t309" => t.t309 = d,
                "t310" => t.t310 = d,
                "t312" => t.t312 = d,
                "t313" => t.t313 = d,
                "t316" => t.t316 = d,
                "t317" => t.t317 = d,
                "t322" => t.t322 = d,
                "t3m1" => t.t3m1 = d,
                _ => {}
            }
        }
    }

    /// Applies `[pri.timers]` to the data link parameters (T200, T203, N200, k).
    pub fn apply_l2_timers(&self, c: &mut isdn_q931::q921::Config) {
        for (name, v) in self.timer_values() {
            match name.as_str() {
                "t200" => c.t200 = Duration::from_millis(v),
                "t203" => c.t203 = Duration::from_millis(v),
                "n200" => c.n200 = v.min(u64::from(u32::MAX)) as u32,
                "k" => c.k = v.clamp(1, 127) as u8,
                _ => {}
            }
        }
    }

    fn timer_values(&self) -> Vec<(String, u64)> {
        self.timers.as_ref().map(|t| t.get_ref().iter().map(|(k, v)| (k.to_ascii_lowercase(), *v.get_ref())).collect()).unwrap_or_default()
    }
}

impl GroupConfig {
    /// The member interface names.
    pub fn member_names(&self) -> Vec<String> {
        self.members.get_ref().iter().map(|m| m.get_ref().clone()).collect()
    }
}

fn digits(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit())
}

/// Checks the PRI and group sections; every problem is pushed to `out`.
pub fn validate(pris: &[PriConfig], groups: &[GroupConfig], src: &SourceRef, out: &mut Vec<Diagnostic>) {
    validate_with(pris, groups, &[], src, out)
}

/// As [`validate`], where groups may also name the interfaces in `others`
/// (analog interfaces).
pub fn validate_with(pris: &[PriConfig], groups: &[GroupConfig], others: &[&str], src: &SourceRef, out: &mut Vec<Diagnostic>) {
    let mut cx = Ctx { src, out };
    let mut names: HashMap<String, Range<usize>> = HashMap::new();
    let mut spans_seen: HashMap<u32, (usize, String, Range<usize>)> = HashMap::new();
    for (idx, p) in pris.iter().enumerate() {
        let name = p.name.get_ref();
        if name.trim().is_empty() {
            cx.err(p.name.span(), "the interface name is empty", "give the interface a name, e.g. name = \"pstn\"");
        } else if let Some(first) = names.get(name) {
            let w = cx.line(first);
            cx.err(p.name.span(), format!("PRI interface \"{name}\" is defined twice (first {w})"), "give each [[pri]] its own name");
        } else {
            names.insert(name.clone(), p.name.span());
        }
        if p.spans.get_ref().is_empty() {
            cx.err(p.spans.span(), "no span given", "list the DAHDI span numbers, D-channel span first: spans = [1]");
        }
        for s in p.spans.get_ref() {
            let n = *s.get_ref();
            if !cx.span_number(n, s.span()) {
                continue;
            }
            if let Some((other_idx, other, first)) = spans_seen.get(&n) {
                let w = cx.line(first);
                let msg = if *other_idx == idx {
                    format!("span {n} is listed twice in \"{name}\"")
                } else {
                    format!("span {n} is already used by PRI interface \"{other}\" ({w})")
                };
                cx.err(s.span(), msg, "a span belongs to one interface, once");
            } else {
                spans_seen.insert(n, (idx, name.clone(), s.span()));
            }
        }
        if p.switch_type().is_none() {
            let list: Vec<&str> = SWITCHES.iter().map(|(n, _)| *n).collect();
            cx.err(p.switch.span(), format!("unknown switch type \"{}\"", p.switch.get_ref()), &format!("use one of: {}", list.join(", ")));
        }
        if let Some(d) = &p.dchannel
            && !(1..=31).contains(d.get_ref())
        {
            cx.err(d.span(), format!("D-channel position {} is not a time slot", d.get_ref()), "a T1 D-channel is normally 24, an E1 one 16");
        }
        if let Some(items) = p.bchannels.as_ref().and_then(|b| cx.positions(b)) {
            for i in items {
                if i.first == 0 || i.last > 31 {
                    cx.err(i.at, format!("B-channel positions {}-{} are outside 1-31", i.first, i.last), "positions count from 1 within each span");
                } else if let Some(d) = &p.dchannel
                    && (i.first..=i.last).contains(d.get_ref())
                {
                    cx.err(i.at, format!("the D-channel position {} cannot be a B-channel", d.get_ref()), "leave the D-channel out of bchannels");
                }
            }
        }
        for (what, v) in [
            ("country_code", &p.country_code),
            ("area_code", &p.area_code),
            ("national_prefix", &p.national_prefix),
            ("international_prefix", &p.international_prefix),
        ] {
            if let Some(v) = v
                && !digits(v.get_ref())
            {
                cx.err(v.span(), format!("{what} \"{}\" is not a string of digits", v.get_ref()), "write the digits only, without \"+\"");
            }
        }
        if let Some(cc) = &p.country_code
            && cc.get_ref().len() > 3
        {
            cx.err(cc.span(), format!("country code \"{}\" is longer than 3 digits (E.164)", cc.get_ref()), "");
        }
        if let Some(a) = &p.area_code
            && p.country_code.is_none()
        {
            cx.err(a.span(), "area_code needs country_code", "add country_code to this [[pri]]");
        }
        if let Some(t) = &p.timers {
            for (k, v) in t.get_ref() {
                let key = k.to_ascii_lowercase();
                if !TIMER_NAMES.contains(&key.as_str()) {
                    cx.err(v.span(), format!("unknown timer \"{k}\""), &format!("the timers are {}", TIMER_NAMES.join(", ")));
                } else if *v.get_ref() == 0 || *v.get_ref() > 3_600_000 {
                    cx.err(v.span(), format!("{k} = {} is out of range", v.get_ref()), "timers are milliseconds, 1 to 3600000");
                }
            }
        }
        if let Some(pc) = &p.pcap
            && pc.get_ref().trim().is_empty()
        {
            cx.err(pc.span(), "empty pcap path", "give a file name or leave pcap out");
        }
        if let Some(t) = &p.echo_taps
            && !echo_taps_valid(*t.get_ref())
        {
            cx.err(
                t.span(),
                format!("echo_taps = {} is not a canceller length", t.get_ref()),
                &format!("use {ECHO_TAPS} (samples at 8 kHz; 128 covers 16 ms of echo)"),
            );
        }
    }

    let mut group_names: HashMap<String, Range<usize>> = HashMap::new();
    for g in groups {
        let name = g.name.get_ref();
        if name.trim().is_empty() {
            cx.err(g.name.span(), "the group name is empty", "give the group a name, e.g. name = \"pstn-out\"");
        } else if let Some(first) = group_names.get(name) {
            let w = cx.line(first);
            cx.err(g.name.span(), format!("group \"{name}\" is defined twice (first {w})"), "give each [[group]] its own name");
        } else {
            group_names.insert(name.clone(), g.name.span());
        }
        if g.members.get_ref().is_empty() {
            cx.err(g.members.span(), format!("group \"{name}\" has no members"), "list PRI interface names: members = [\"pstn\"]");
        }
        let mut seen: Vec<&str> = Vec::new();
        for m in g.members.get_ref() {
            let mn = m.get_ref().as_str();
            if !names.contains_key(mn) && !others.contains(&mn) {
                let known: Vec<&str> = pris.iter().map(|p| p.name.get_ref().as_str()).collect();
                let help = if known.is_empty() { "define a [[pri]] with this name".to_owned() } else { format!("the interfaces are: {}", known.join(", ")) };
                cx.err(m.span(), format!("group \"{name}\" names \"{mn}\", which is not a PRI interface"), &help);
            } else if seen.contains(&mn) {
                cx.err(m.span(), format!("\"{mn}\" is listed twice in group \"{name}\""), "list each member once");
            }
            seen.push(mn);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tandem_drivers::config::diag::Source;

    #[derive(Deserialize)]
    struct Root {
        #[serde(default)]
        pri: Vec<PriConfig>,
        #[serde(default)]
        group: Vec<GroupConfig>,
    }

    fn check(text: &str) -> Vec<String> {
        let root: Root = toml::from_str(text).expect("parses");
        let src = SourceRef::new(Source::new("t.toml", text));
        let mut out = Vec::new();
        validate(&root.pri, &root.group, &src, &mut out);
        out.iter().map(|d| d.to_string()).collect()
    }

    #[test]
    fn overlap_turns_on_overlap_dialling_even_on_an_en_bloc_switch_type() {
        use crate::tdm::pri::{PriSettings, PriSpan};
        let root: Root = toml::from_str("[[pri]]\nname = \"p\"\nspans = [1]\nswitch = \"ni2\"\nside = \"user\"\noverlap = true\n").expect("parses");
        let span = PriSpan { span: 1, basechan: 1, kind: isdn_q931::q931::InterfaceKind::T1 };
        let s = PriSettings::from_config(&root.pri[0], vec![span.clone()]).expect("settings");
        assert!(s.overlap && s.q931.variant.overlap_dialing);
        let root: Root = toml::from_str("[[pri]]\nname = \"p\"\nspans = [1]\nswitch = \"ni2\"\nside = \"user\"\n").expect("parses");
        let s = PriSettings::from_config(&root.pri[0], vec![span]).expect("settings");
        assert!(!s.q931.variant.overlap_dialing, "NI-2 is en bloc by default");
    }

    #[test]
    fn a_full_interface_and_group_validate_clean() {
        let errs = check(
            r#"
[[pri]]
name = "pstn"
spans = [1, 2]
switch = "ni2"
side = "user"
dchannel = 24
bchannels = "1-23"
law = "ulaw"
country_code = "1"
area_code = "212"
trace = true
pcap = "/tmp/x.pcap"
echo_taps = 128
[pri.timers]
t309 = 6000
T200 = 1000

[[group]]
name = "out"
members = ["pstn"]
hunt = "round_robin"
"#,
        );
        assert!(errs.is_empty(), "{errs:?}");
    }

    #[test]
    fn problems_are_reported_at_their_place() {
        let text = r#"
[[pri]]
name = "a"
spans = [1]
switch = "ni9"
side = "network"

[[pri]]
name = "a"
spans = [1, 200]
switch = "qsig"
side = "user"
bchannels = "1-16"
dchannel = 16
[pri.timers]
t999 = 5

[[group]]
name = "g"
members = ["a", "nope"]
"#;
        let errs = check(text);
        let has = |line: usize, what: &str| errs.iter().any(|e| e.starts_with(&format!("t.toml:{line}:")) && e.contains(what));
        assert!(has(5, "unknown switch type \"ni9\""), "{errs:#?}");
        assert!(has(9, "defined twice"), "{errs:#?}");
        assert!(has(10, "already used by PRI interface \"a\""), "{errs:#?}");
        assert!(has(10, "span 200 does not exist"), "{errs:#?}");
        assert!(has(13, "D-channel position 16 cannot be a B-channel"), "{errs:#?}");
        assert!(has(16, "unknown timer \"t999\""), "{errs:#?}");
        assert!(has(20, "\"nope\", which is not a PRI interface"), "{errs:#?}");
        assert_eq!(errs.len(), 7, "{errs:#?}");
    }

    #[test]
    fn echo_taps_accepts_canceller_lengths_only() {
        let text = |taps: u32| format!("[[pri]]\nname='p'\nspans=[1]\nswitch='ni2'\nside='user'\necho_taps={taps}\n");
        for ok in [0, 32, 128, 1024] {
            assert!(check(&text(ok)).is_empty(), "echo_taps = {ok}");
            let root: Root = toml::from_str(&text(ok)).unwrap();
            assert_eq!(root.pri[0].echo_taps(), Some(ok));
        }
        for bad in [1, 16, 100, 2048] {
            let errs = check(&text(bad));
            assert!(errs.len() == 1 && errs[0].starts_with("t.toml:6:") && errs[0].contains("not a canceller length"), "{bad}: {errs:?}");
        }
        let root: Root = toml::from_str("[[pri]]\nname='p'\nspans=[1]\nswitch='ni2'\nside='user'\n").unwrap();
        assert_eq!(root.pri[0].echo_taps(), None);
    }

    #[test]
    fn timers_reach_both_layers() {
        let root: Root =
            toml::from_str("[[pri]]\nname='p'\nspans=[1]\nswitch='euroisdn-e1'\nside='user'\n[pri.timers]\nt303=1500\nt200=700\nn200=5\n").unwrap();
        let p = &root.pri[0];
        let mut t = Timers::q931(Side::User);
        p.apply_l3_timers(&mut t);
        assert_eq!(t.t303, Duration::from_millis(1500));
        let mut l2 = isdn_q931::q921::Config::default();
        p.apply_l2_timers(&mut l2);
        assert_eq!((l2.t200, l2.n200), (Duration::from_millis(700), 5));
        assert_eq!(p.switch_type(), Some(SwitchType::EuroIsdnE1));
    }
}
