//! The `[[analog]]` sections of `tandem.toml`: FXO ports (a landline or a
//! PBX extension plugs in; Tandem is the phone) and FXS ports (a phone
//! plugs in; Tandem is the exchange), each section one interface of ports
//! of one kind.
//!
//! ```toml
//! [[analog]]
//! name = "landline"            # used by groups, routes and the logs
//! span = 1                     # the DAHDI span of the ports
//! ports = "3"                  # positions on the span, a channel list ("3-4", "1,3")
//! kind = "fxo"                 # fxo (a CO line plugs in) | fxs (a phone plugs in); default: what the hardware says
//! start = "kewl"               # loop | ground | kewl (default kewl)
//! tone_zone = "us"             # call-progress tones heard and played, ring cadence (us, uk, de, fr, au, jp)
//! line = "+12125550100"        # FXO: the called number of every inbound call (the line's own number, its DID);
//!                              # FXS: the calling number of the phone
//! answer = "on-sip-answer"     # FXO inbound: on-sip-answer | immediate (off-hook at once, early media)
//! caller_id = { format = "bell202", position = "after-first-ring", message = "mdmf" }
//! #   format: bell202 | v23 | dtmf | off; position: before-first-ring | after-first-ring | after-polarity-reversal;
//! #   message (FXS generation): mdmf | sdmf | etsi
//! dial_mode = "dtmf"           # FXO outbound: dtmf | pulse
//! dial_tone_wait = true        # FXO outbound: wait for dial tone before dialling (else dial blind after 1 s)
//! dial_tone_timeout_ms = 5000   # default 5000 (a zone's dial tone must outlast its ringback bursts to be told apart)
//! answer_supervision = "immediate"  # FXO outbound: immediate | polarity | "after-5s"
//! disconnect = { battery = true, polarity = false, busy = true, reorder = true, dial_tone = true, open_loop_min_ms = 300 }
//! dial_plan = ["911", "NXXXXXX", "1NXXNXXXXXX", "XXXX"]  # FXS: when the dialled number is complete
//! inter_digit_timeout_ms = 4000
//! first_digit_timeout_ms = 10000
//! howler_after_ms = 30000      # FXS: off hook with no call, reorder then the howler after this (0: never)
//! ring_cadence = [2000, 4000]  # FXS: ring on / off, ms; default: the zone's
//! hangup_polarity = false      # FXS: signal the far end's hang-up by a polarity reversal too
//! answer_polarity = false      # FXS: reverse polarity when the far end answers
//! call_waiting = true          # FXS: a call for a phone in a call waits (tone; a flash answers it and swaps)
//! call_waiting_caller_id = true  # FXS: caller ID on call waiting (GR-30 type II: CAS, ACK, FSK)
//! transfer_release = "on-notify"  # FXS blind transfer (flash, dial, hang up; SIP REFER): end our leg
//! #                               # when the NOTIFY reports the outcome (on-notify) or on the 202 (on-accept)
//! echo_taps = 128              # echo canceller tail per call (samples; 0 = off)
//! smdi_device = "/dev/ttyS0"   # FXO: an SMDI link (1200 baud 7E1) whose call details stand in for missing caller ID
//! smdi_station = "0001"        # FXO: this line's station (message desk terminal) on it
//! mailbox = "2001"             # the voicemail account (user part of a SIP NOTIFY's Message-Account) whose
//!                              # message-waiting state the ports show: FXS lamp, FSK MWI, stutter dial tone;
//!                              # FXO with an SMDI link: OP:MWI / RMV:MWI for this number
//! ```
//!
//! `[[group]] members` may name analog interfaces (outbound calls hunt
//! their ports), and routes may take calls `from` them. Everything that can
//! be checked without the hardware is checked by [`validate`]; which
//! channel numbers the ports have, and their kind when `kind` is left out,
//! come from discovery when the daemon starts
//! ([`crate::tdm::analog_io::resolve`]).

use std::collections::HashMap;
use std::ops::Range;
use std::time::Duration;

use serde::Deserialize;
use tandem_drivers::config::diag::{Diagnostic, SourceRef};
use tandem_drivers::config::ranges;
use tandem_signalling::DialPlan;
use toml::Spanned;

use super::check::Ctx;
use super::pri::{ECHO_TAPS, echo_taps_valid};

/// One `[[analog]]` interface: ports of one kind on one span.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AnalogConfig {
    /// The interface's name, used by routes and groups.
    pub name: Spanned<String>,
    /// The DAHDI span of the ports.
    pub span: Spanned<u32>,
    /// Port positions on the span, as a channel list (`"3-4"`).
    pub ports: Spanned<String>,
    /// FXO or FXS; default: the kind the hardware reports.
    #[serde(default)]
    pub kind: Option<Spanned<PortKind>>,
    /// Loop, ground or kewl start (default kewl).
    #[serde(default)]
    pub start: Option<Spanned<StartName>>,
    /// The tone zone (default `us`).
    #[serde(default)]
    pub tone_zone: Option<Spanned<String>>,
    /// FXO: the called number of inbound calls; FXS: the phone's number.
    #[serde(default)]
    pub line: Option<Spanned<String>>,
    /// FXO inbound: when to go off-hook.
    #[serde(default)]
    pub answer: Option<Spanned<AnswerPolicy>>,
    /// Caller ID detection (FXO) or generation (FXS).
    #[serde(default)]
    pub caller_id: Option<CallerIdConfig>,
    /// FXO outbound: DTMF or pulse.
    #[serde(default)]
    pub dial_mode: Option<Spanned<DialModeName>>,
    /// FXO outbound: wait for dial tone before dialling (default true).
    #[serde(default)]
    pub dial_tone_wait: Option<bool>,
    /// FXO outbound: how long to wait for dial tone, ms (default 5000).
    #[serde(default)]
    pub dial_tone_timeout_ms: Option<Spanned<u64>>,
    /// FXO outbound: `immediate`, `polarity` or `after-Ns`.
    #[serde(default)]
    pub answer_supervision: Option<Spanned<String>>,
    /// FXO: which far-end disconnect signals are honoured.
    #[serde(default)]
    pub disconnect: Option<DisconnectConfig>,
    /// FXS: dial-plan patterns (see [`tandem_signalling::dialplan`]); default: any number, ended by `#` or the inter-digit timeout.
    #[serde(default)]
    pub dial_plan: Option<Spanned<Vec<Spanned<String>>>>,
    /// FXS: wait between digits, ms (default 4000).
    #[serde(default)]
    pub inter_digit_timeout_ms: Option<Spanned<u64>>,
    /// FXS: wait for the first digit, ms (default 10000).
    #[serde(default)]
    pub first_digit_timeout_ms: Option<Spanned<u64>>,
    /// FXS: off hook with no call, how long reorder (or a refusal tone)
    /// plays before the receiver off-hook tone, ms (default 30000; 0: never).
    #[serde(default)]
    pub howler_after_ms: Option<Spanned<u64>>,
    /// FXS: ring cadence `[on_ms, off_ms]` (default: the zone's first pair).
    #[serde(default)]
    pub ring_cadence: Option<Spanned<Vec<u64>>>,
    /// FXS: also reverse polarity when the far end hangs up.
    #[serde(default)]
    pub hangup_polarity: bool,
    /// FXS: reverse polarity when the far end answers.
    #[serde(default)]
    pub answer_polarity: bool,
    /// FXS: a call for a phone in a call waits (default true).
    #[serde(default)]
    pub call_waiting: Option<Spanned<bool>>,
    /// FXS: caller ID on call waiting (default true).
    #[serde(default)]
    pub call_waiting_caller_id: Option<Spanned<bool>>,
    /// FXS: when a blind transfer ends our leg (default on the NOTIFY).
    #[serde(default)]
    pub transfer_release: Option<Spanned<TransferRelease>>,
    /// Echo canceller tail per call (see [`ECHO_TAPS`]).
    #[serde(default)]
    pub echo_taps: Option<Spanned<u32>>,
    /// FXO: the serial device of an SMDI link whose call details stand in
    /// for missing caller ID (see [`crate::tdm::smdi`]).
    #[serde(default)]
    pub smdi_device: Option<Spanned<String>>,
    /// FXO: this line's station (message desk terminal) on the SMDI link.
    #[serde(default)]
    pub smdi_station: Option<Spanned<String>>,
    /// The voicemail account whose message-waiting state the ports show
    /// (the user part of a SIP NOTIFY's `Message-Account`, RFC 3842).
    #[serde(default)]
    pub mailbox: Option<Spanned<String>>,
}

/// Whether `s` can be a `mailbox`: the user part of a SIP URI, kept to
/// the characters voicemail systems use (1 to 32 of letters, digits, `+-_.*`).
pub fn mailbox_valid(s: &str) -> bool {
    (1..=32).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_alphanumeric() || b"+-_.*".contains(&b))
}

/// `kind = "fxo" | "fxs"` (Tandem's naming: what plugs into the port).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PortKind {
    /// A CO line plugs in; Tandem is the phone.
    Fxo,
    /// A phone plugs in; Tandem is the exchange.
    Fxs,
}

/// `start = "loop" | "ground" | "kewl"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum StartName {
    Loop,
    Ground,
    Kewl,
}

/// `answer = "on-sip-answer" | "immediate"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum AnswerPolicy {
    /// Off-hook when the SIP side answers.
    OnSipAnswer,
    /// Off-hook as soon as the call is presented (early media).
    Immediate,
}

/// `transfer_release = "on-notify" | "on-accept"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum TransferRelease {
    /// BYE when the NOTIFY reports the transfer's final outcome (RFC 3515 §2.4.5).
    #[default]
    OnNotify,
    /// BYE as soon as the REFER is accepted (202).
    OnAccept,
}

/// `dial_mode = "dtmf" | "pulse"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DialModeName {
    Dtmf,
    Pulse,
}

/// `caller_id = { … }`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CallerIdConfig {
    /// The transport (default bell202).
    #[serde(default)]
    pub format: Option<Spanned<CidFormat>>,
    /// When it comes (default after the first ring).
    #[serde(default)]
    pub position: Option<Spanned<CidPosition>>,
    /// FXS generation: the message layout (default mdmf; etsi with v23).
    #[serde(default)]
    pub message: Option<Spanned<CidMessage>>,
}

/// Caller-ID transport.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CidFormat {
    /// Bell 202 FSK (North America).
    Bell202,
    /// ITU-T V.23 FSK (ETSI EN 300 659, UK, Europe).
    V23,
    /// DTMF digits (Scandinavia, Netherlands…).
    Dtmf,
    /// No caller ID.
    Off,
}

/// When caller ID comes relative to the ringing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum CidPosition {
    BeforeFirstRing,
    AfterFirstRing,
    AfterPolarityReversal,
}

/// FSK message layout for generation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CidMessage {
    Mdmf,
    Sdmf,
    Etsi,
}

/// `disconnect = { … }`: every far-end disconnect signal, each switchable.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DisconnectConfig {
    /// Battery loss / open loop (default: on, off for loop start).
    #[serde(default)]
    pub battery: Option<bool>,
    /// Polarity reversal (default off).
    #[serde(default)]
    pub polarity: Option<bool>,
    /// Busy tone after answer (default on).
    #[serde(default)]
    pub busy: Option<bool>,
    /// Reorder tone after answer (default on).
    #[serde(default)]
    pub reorder: Option<bool>,
    /// Dial tone after answer (default on).
    #[serde(default)]
    pub dial_tone: Option<bool>,
    /// Shortest battery loss that counts, ms (default 300).
    #[serde(default)]
    pub open_loop_min_ms: Option<Spanned<u64>>,
}

/// Answer supervision of outbound FXO calls, parsed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AnswerSupervisionName {
    Immediate,
    Polarity,
    After(Duration),
}

/// Parses `immediate`, `polarity` or `after-Ns`.
pub fn parse_answer_supervision(s: &str) -> Option<AnswerSupervisionName> {
    match s {
        "immediate" => Some(AnswerSupervisionName::Immediate),
        "polarity" => Some(AnswerSupervisionName::Polarity),
        _ => {
            let n: u64 = s.strip_prefix("after-")?.strip_suffix('s')?.parse().ok()?;
            (1..=600).contains(&n).then(|| AnswerSupervisionName::After(Duration::from_secs(n)))
        }
    }
}

impl AnalogConfig {
    /// The port positions, if the list is valid.
    pub fn positions(&self) -> Option<Vec<u32>> {
        let items = ranges::parse(self.ports.get_ref()).ok()?;
        let mut v: Vec<u32> = items.iter().flat_map(|i| i.first..=i.last).collect();
        v.sort_unstable();
        v.dedup();
        Some(v)
    }

    /// The echo canceller tail for calls, if configured and valid.
    pub fn echo_taps(&self) -> Option<u32> {
        self.echo_taps.as_ref().map(|t| *t.get_ref()).filter(|&t| echo_taps_valid(t))
    }

    /// The tone zone's name (default `us`).
    pub fn zone(&self) -> &str {
        self.tone_zone.as_ref().map(|z| z.get_ref().as_str()).unwrap_or("us")
    }
}

/// A key of a section and where it is, if given.
type KeyAt<'a> = (&'a str, Option<Range<usize>>);

/// Checks the `[[analog]]` sections; `taken` are the names other
/// interfaces (PRI) already use. Every problem is pushed to `out`.
pub fn validate(analogs: &[AnalogConfig], taken: &[&str], zones: &[&str], src: &SourceRef, out: &mut Vec<Diagnostic>) {
    let mut cx = Ctx { src, out };
    let mut names: HashMap<String, usize> = HashMap::new();
    let mut ports_seen: HashMap<(u32, u32), String> = HashMap::new();
    for a in analogs {
        let name = a.name.get_ref();
        if name.trim().is_empty() {
            cx.err(a.name.span(), "the interface name is empty", "give the interface a name, e.g. name = \"landline\"");
        } else if taken.contains(&name.as_str()) || names.contains_key(name) {
            cx.err(a.name.span(), format!("interface name \"{name}\" is used twice"), "give each [[analog]] and [[pri]] its own name");
        } else {
            names.insert(name.clone(), a.name.span().start);
        }
        let span = *a.span.get_ref();
        cx.span_number(span, a.span.span());
        match cx.positions(&a.ports) {
            None => {}
            Some(items) if items.is_empty() => cx.err(a.ports.span(), "no port given", "list the port positions on the span, e.g. ports = \"1-2\""),
            Some(items) => {
                for i in items {
                    let at = i.at;
                    if i.first == 0 || i.last > 32 {
                        cx.err(at, format!("ports {}-{} are outside 1-32", i.first, i.last), "positions count from 1 within the span");
                        continue;
                    }
                    for p in i.first..=i.last {
                        if let Some(other) = ports_seen.insert((span, p), name.clone()) {
                            cx.err(at.clone(), format!("span {span} port {p} is already in \"{other}\""), "a port belongs to one interface, once");
                        }
                    }
                }
            }
        }
        if let Some(z) = &a.tone_zone
            && !zones.iter().any(|t| t.eq_ignore_ascii_case(z.get_ref()))
        {
            cx.err(
                z.span(),
                format!("unknown tone zone \"{}\"", z.get_ref()),
                &format!("use one of: {}, or define it as [tones.{}] with base = \"<built-in>\"", zones.join(", "), z.get_ref()),
            );
        }
        if let Some(l) = &a.line {
            let t = l.get_ref().strip_prefix('+').unwrap_or(l.get_ref());
            if t.is_empty() || !t.bytes().all(|b| b.is_ascii_digit()) {
                cx.err(l.span(), format!("line \"{}\" is not a number", l.get_ref()), "digits, optionally with a leading +");
            }
        }
        if let Some(s) = &a.answer_supervision
            && parse_answer_supervision(s.get_ref()).is_none()
        {
            cx.err(
                s.span(),
                format!("answer_supervision \"{}\" is not known", s.get_ref()),
                "use immediate, polarity or after-Ns (1 to 600 seconds, e.g. after-5s)",
            );
        }
        let kind = a.kind.as_ref().map(|k| *k.get_ref());
        let fxo_only: [KeyAt; 4] = [
            ("answer", a.answer.as_ref().map(|v| v.span())),
            ("dial_mode", a.dial_mode.as_ref().map(|v| v.span())),
            ("answer_supervision", a.answer_supervision.as_ref().map(|v| v.span())),
            ("dial_tone_timeout_ms", a.dial_tone_timeout_ms.as_ref().map(|v| v.span())),
        ];
        let fxs_only: [KeyAt; 8] = [
            ("dial_plan", a.dial_plan.as_ref().map(|v| v.span())),
            ("howler_after_ms", a.howler_after_ms.as_ref().map(|v| v.span())),
            ("call_waiting", a.call_waiting.as_ref().map(|v| v.span())),
            ("call_waiting_caller_id", a.call_waiting_caller_id.as_ref().map(|v| v.span())),
            ("transfer_release", a.transfer_release.as_ref().map(|v| v.span())),
            ("inter_digit_timeout_ms", a.inter_digit_timeout_ms.as_ref().map(|v| v.span())),
            ("first_digit_timeout_ms", a.first_digit_timeout_ms.as_ref().map(|v| v.span())),
            ("ring_cadence", a.ring_cadence.as_ref().map(|v| v.span())),
        ];
        let (wrong, other): (&[KeyAt], &str) = match kind {
            Some(PortKind::Fxs) => (&fxo_only, "fxo"),
            Some(PortKind::Fxo) => (&fxs_only, "fxs"),
            None => (&[], ""),
        };
        for (key, at) in wrong.iter() {
            if let Some(at) = at {
                cx.err(at.clone(), format!("{key} applies to {other} ports only"), "remove it, or fix kind");
            }
        }
        if let Some(p) = &a.dial_plan {
            if p.get_ref().is_empty() {
                cx.err(p.span(), "an empty dial plan", "leave dial_plan out to accept any number, or list patterns");
            }
            for pat in p.get_ref() {
                if let Err(e) = DialPlan::new([pat.get_ref()]) {
                    cx.err(pat.span(), e.to_string(), "patterns use 0-9 * # X Z N, with . or ! last");
                }
            }
        }
        for v in [&a.dial_tone_timeout_ms, &a.inter_digit_timeout_ms, &a.first_digit_timeout_ms].into_iter().flatten() {
            if !(100..=600_000).contains(v.get_ref()) {
                cx.err(v.span(), format!("{} ms is out of range", v.get_ref()), "timeouts are 100 to 600000 ms");
            }
        }
        if let Some(v) = &a.howler_after_ms
            && *v.get_ref() != 0
            && !(1000..=600_000).contains(v.get_ref())
        {
            cx.err(v.span(), format!("{} ms is out of range", v.get_ref()), "howler_after_ms is 1000 to 600000 ms, or 0 for no howler");
        }
        if let Some(d) = &a.disconnect
            && let Some(v) = &d.open_loop_min_ms
            && !(10..=10_000).contains(v.get_ref())
        {
            cx.err(v.span(), format!("open_loop_min_ms = {} is out of range", v.get_ref()), "10 to 10000 ms; 300 suits most lines");
        }
        if let Some(c) = &a.ring_cadence {
            let v = c.get_ref();
            if v.len() != 2 || v.iter().any(|&x| !(100..=60_000).contains(&x)) {
                cx.err(c.span(), "ring_cadence must be [on_ms, off_ms], each 100 to 60000", "e.g. ring_cadence = [2000, 4000]");
            }
        }
        if let Some(t) = &a.echo_taps
            && !echo_taps_valid(*t.get_ref())
        {
            cx.err(t.span(), format!("echo_taps = {} is not a canceller length", t.get_ref()), &format!("use {ECHO_TAPS}"));
        }
        match (&a.smdi_device, &a.smdi_station) {
            (Some(d), None) => cx.err(d.span(), "smdi_device without smdi_station", "add smdi_station = \"0001\" (the line's message desk terminal)"),
            (None, Some(st)) => cx.err(st.span(), "smdi_station without smdi_device", "add smdi_device = \"/dev/ttyS0\""),
            (Some(d), Some(st)) => {
                if d.get_ref().trim().is_empty() {
                    cx.err(d.span(), "empty smdi_device", "give the serial device's path");
                }
                let t = st.get_ref();
                if t.is_empty() || t.len() > 10 || !t.bytes().all(|b| b.is_ascii_digit()) {
                    cx.err(st.span(), format!("smdi_station \"{t}\" is not 1 to 10 digits"), "the station as the switch sends it, e.g. \"0001\"");
                }
                if kind == Some(PortKind::Fxs) {
                    cx.err(d.span(), "smdi_device applies to fxo ports only", "remove it, or fix kind");
                }
            }
            (None, None) => {}
        }
        if let Some(m) = &a.mailbox {
            let t = m.get_ref();
            if !mailbox_valid(t) {
                cx.err(m.span(), format!("mailbox \"{t}\" is not 1 to 32 letters, digits or + - _ . *"), "the account's user part, e.g. mailbox = \"2001\"");
            } else if kind == Some(PortKind::Fxo) && a.smdi_station.is_some() && (t.len() > 10 || !t.bytes().all(|b| b.is_ascii_digit())) {
                cx.err(m.span(), format!("mailbox \"{t}\" cannot go over SMDI"), "SMDI MWI needs the line's number, 1 to 10 digits");
            }
        }
        if let Some(c) = &a.caller_id
            && let (Some(m), Some(f)) = (&c.message, &c.format)
            && *f.get_ref() == CidFormat::Dtmf
        {
            cx.err(m.span(), "DTMF caller ID has no message layout", "remove message, or use format = \"bell202\" or \"v23\"");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tandem_drivers::config::diag::Source;

    fn check(text: &str) -> Vec<String> {
        #[derive(Deserialize)]
        struct Root {
            analog: Vec<AnalogConfig>,
        }
        let root: Root = toml::from_str(text).expect("parses");
        let mut out = Vec::new();
        validate(&root.analog, &["pstn"], &crate::tdm::zones::ZONES, &SourceRef::new(Source::new("t.toml", text)), &mut out);
        out.iter().map(|d| d.to_string()).collect()
    }

    #[test]
    fn a_complete_fxo_section_is_accepted() {
        let errs = check(
            r#"
[[analog]]
name = "landline"
span = 1
ports = "3-4"
kind = "fxo"
line = "+12125550100"
answer = "immediate"
caller_id = { format = "bell202", position = "after-first-ring" }
dial_mode = "pulse"
answer_supervision = "after-5s"
disconnect = { battery = true, polarity = true, busy = false, open_loop_min_ms = 200 }
echo_taps = 128
"#,
        );
        assert!(errs.is_empty(), "{errs:?}");
    }

    #[test]
    fn mistakes_are_reported_with_their_place_in_the_file() {
        let errs = check(
            r#"
[[analog]]
name = "pstn"
span = 1
ports = "0-2"
kind = "fxs"
tone_zone = "mars"
answer_supervision = "sometimes"
dial_plan = ["9.1"]
"#,
        );
        let all = errs.join("\n");
        assert!(all.contains("t.toml:3:"), "{all}");
        assert!(all.contains("used twice"), "{all}");
        assert!(all.contains("t.toml:5:10: channel 0"), "{all}");
        assert!(all.contains("unknown tone zone \"mars\""), "{all}");
        assert!(all.contains("answer_supervision applies to fxo ports only"), "{all}");
        assert!(all.contains("wildcard"), "{all}");
    }

    #[test]
    fn call_waiting_keys_apply_to_fxs_only() {
        let ok = check(
            "[[analog]]\nname = \"phones\"\nspan = 1\nports = \"1\"\nkind = \"fxs\"\ncall_waiting = false\ncall_waiting_caller_id = false\ntransfer_release = \"on-accept\"\n",
        );
        assert!(ok.is_empty(), "{ok:?}");
        let fxo = check("[[analog]]\nname = \"line\"\nspan = 1\nports = \"1\"\nkind = \"fxo\"\ncall_waiting = true\n").join("\n");
        assert!(fxo.contains("t.toml:6:") && fxo.contains("call_waiting applies to fxs ports only"), "{fxo}");
    }

    #[test]
    fn a_mailbox_is_checked_and_must_be_digits_for_smdi() {
        let ok = check("[[analog]]\nname = \"phones\"\nspan = 1\nports = \"1\"\nkind = \"fxs\"\nmailbox = \"2001\"\n");
        assert!(ok.is_empty(), "{ok:?}");
        let bad = check("[[analog]]\nname = \"phones\"\nspan = 1\nports = \"1\"\nkind = \"fxs\"\nmailbox = \"20 01\"\n").join("\n");
        assert!(bad.contains("t.toml:6:") && bad.contains("mailbox \"20 01\""), "{bad}");
        let smdi = check(
            "[[analog]]\nname = \"line\"\nspan = 1\nports = \"1\"\nkind = \"fxo\"\nsmdi_device = \"/dev/ttyS0\"\nsmdi_station = \"0001\"\nmailbox = \"vm-1\"\n",
        )
        .join("\n");
        assert!(smdi.contains("cannot go over SMDI"), "{smdi}");
    }

    #[test]
    fn answer_supervision_names_parse() {
        assert_eq!(parse_answer_supervision("polarity"), Some(AnswerSupervisionName::Polarity));
        assert_eq!(parse_answer_supervision("after-12s"), Some(AnswerSupervisionName::After(Duration::from_secs(12))));
        assert_eq!(parse_answer_supervision("after-0s"), None);
        assert_eq!(parse_answer_supervision("after-s"), None);
    }
}
