//! What hardware there is: spans, their type, and each channel's number,
//! position and signalling capabilities. Validation checks a
//! configuration against this; [`Hardware::discover`] reads it from DAHDI.

use dahdi_sys as d;

use super::model::SpanType;
use crate::ctl::Ctl;
use crate::error::{Error, Result};

/// Analog port kinds, named from the user's side.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Port {
    /// A phone plugs in (DAHDI: an FXS module, configured with FXO signalling).
    Fxs,
    /// A CO line plugs in (DAHDI: an FXO module, configured with FXS signalling).
    Fxo,
}

/// What a span is, as DAHDI reports it.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum HwKind {
    Known(SpanType),
    /// A span type Tandem does not configure (BRI "TE"/"NT", dynamic…), as reported.
    Other(String),
}

impl HwKind {
    /// From SPANSTAT's `spantype`. That field has room for five
    /// characters, so DAHDI's "ANALOG_MIXED" arrives as "ANALO".
    pub fn from_span_type(s: &str) -> HwKind {
        let u = s.to_ascii_uppercase();
        match u.as_str() {
            "T1" => HwKind::Known(SpanType::T1),
            "E1" => HwKind::Known(SpanType::E1),
            "J1" => HwKind::Known(SpanType::J1),
            "FXS" | "FXO" => HwKind::Known(SpanType::Analog),
            _ if u.starts_with("ANALO") => HwKind::Known(SpanType::Analog),
            _ => HwKind::Other(s.to_string()),
        }
    }

    pub fn known(&self) -> Option<SpanType> {
        match self {
            HwKind::Known(t) => Some(*t),
            HwKind::Other(_) => None,
        }
    }
}

impl std::fmt::Display for HwKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            HwKind::Known(t) => write!(f, "{t}"),
            HwKind::Other(s) if s.is_empty() => f.write_str("of unknown type"),
            HwKind::Other(s) => write!(f, "{s:?}"),
        }
    }
}

/// One channel of a span.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HwChannel {
    /// DAHDI channel number.
    pub chan: u32,
    /// 1-based position in its span.
    pub pos: u32,
    /// DAHDI_SIG_* bits the channel can do.
    pub sigcap: u32,
}

/// One span.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HwSpan {
    pub span: u32,
    pub kind: HwKind,
    /// DAHDI's span name ("TE4/0/1", "WCTDM/0").
    pub name: String,
    pub description: String,
    /// By position.
    pub channels: Vec<HwChannel>,
}

/// What a T1/E1/J1 channel of a TE4xxP-class card can do.
pub const DIGITAL_SIGCAP: u32 = d::DAHDI_SIG_EM
    | d::DAHDI_SIG_CLEAR
    | d::DAHDI_SIG_EM_E1
    | d::DAHDI_SIG_FXSLS
    | d::DAHDI_SIG_FXSGS
    | d::DAHDI_SIG_FXSKS
    | d::DAHDI_SIG_HARDHDLC
    | d::DAHDI_SIG_MTP2
    | d::DAHDI_SIG_FXOLS
    | d::DAHDI_SIG_FXOGS
    | d::DAHDI_SIG_FXOKS
    | d::DAHDI_SIG_CAS
    | d::DAHDI_SIG_SF;
/// What a phone port (FXS module) of a TDM-class card can do.
pub const FXS_PORT_SIGCAP: u32 = d::DAHDI_SIG_FXOKS | d::DAHDI_SIG_FXOLS | d::DAHDI_SIG_FXOGS | d::DAHDI_SIG_SF | d::DAHDI_SIG_EM | d::DAHDI_SIG_CLEAR;
/// What a CO-line port (FXO module) of a TDM-class card can do.
pub const FXO_PORT_SIGCAP: u32 = d::DAHDI_SIG_FXSKS | d::DAHDI_SIG_FXSLS | d::DAHDI_SIG_SF | d::DAHDI_SIG_CLEAR;

const DAHDI_FXO_SIGS: u32 = d::DAHDI_SIG_FXOKS | d::DAHDI_SIG_FXOLS | d::DAHDI_SIG_FXOGS;
const DAHDI_FXS_SIGS: u32 = d::DAHDI_SIG_FXSKS | d::DAHDI_SIG_FXSLS | d::DAHDI_SIG_FXSGS;

impl HwSpan {
    fn digital(span: u32, first_chan: u32, kind: SpanType, n: u32) -> HwSpan {
        HwSpan {
            span,
            kind: HwKind::Known(kind),
            name: format!("SPAN/{span}"),
            description: format!("{kind} span {span}"),
            channels: (1..=n).map(|pos| HwChannel { chan: first_chan + pos - 1, pos, sigcap: DIGITAL_SIGCAP }).collect(),
        }
    }

    /// A T1 span (24 channels) whose first channel is `first_chan`.
    pub fn t1(span: u32, first_chan: u32) -> HwSpan {
        HwSpan::digital(span, first_chan, SpanType::T1, 24)
    }

    /// An E1 span (31 channels).
    pub fn e1(span: u32, first_chan: u32) -> HwSpan {
        HwSpan::digital(span, first_chan, SpanType::E1, 31)
    }

    /// A J1 span (24 channels).
    pub fn j1(span: u32, first_chan: u32) -> HwSpan {
        HwSpan::digital(span, first_chan, SpanType::J1, 24)
    }

    /// An analog card's span with these ports.
    pub fn analog(span: u32, first_chan: u32, ports: &[Port]) -> HwSpan {
        HwSpan {
            span,
            kind: HwKind::Known(SpanType::Analog),
            name: format!("ANALOG/{span}"),
            description: format!("analog span {span}"),
            channels: ports
                .iter()
                .zip(1..)
                .map(|(p, pos)| HwChannel {
                    chan: first_chan + pos - 1,
                    pos,
                    sigcap: match p {
                        Port::Fxs => FXS_PORT_SIGCAP,
                        Port::Fxo => FXO_PORT_SIGCAP,
                    },
                })
                .collect(),
        }
    }

    pub fn channel(&self, pos: u32) -> Option<&HwChannel> {
        self.channels.iter().find(|c| c.pos == pos)
    }

    pub fn kind(&self) -> Option<SpanType> {
        self.kind.known()
    }

    /// For an analog span: which kind of port a position is (`None` for
    /// an empty slot, or a channel that is not an analog port).
    pub fn port(&self, pos: u32) -> Option<Port> {
        if self.kind() != Some(SpanType::Analog) {
            return None;
        }
        let c = self.channel(pos)?;
        match (c.sigcap & DAHDI_FXO_SIGS != 0, c.sigcap & DAHDI_FXS_SIGS != 0) {
            (true, false) => Some(Port::Fxs),
            (false, true) => Some(Port::Fxo),
            _ => None,
        }
    }

    /// "channels 1-24" for messages.
    pub fn describe_channels(&self) -> String {
        let pos: Vec<u32> = self.channels.iter().map(|c| c.pos).collect();
        match pos.len() {
            0 => "no channels".into(),
            1 => format!("channel {}", pos[0]),
            _ => format!("channels {}", super::ranges::format(&pos)),
        }
    }
}

/// The spans of a system.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Hardware {
    pub spans: Vec<HwSpan>,
}

impl Hardware {
    pub fn new(spans: Vec<HwSpan>) -> Hardware {
        Hardware { spans }
    }

    /// The hardware of an [`Inventory`](crate::discover::Inventory) from
    /// [`Discovery::scan`](crate::discover::Discovery::scan).
    pub fn from_inventory(inv: &crate::discover::Inventory) -> Hardware {
        let spans = inv
            .spans
            .iter()
            .map(|s| {
                let mut channels: Vec<HwChannel> = s.channels.iter().map(|p| HwChannel { chan: p.chan, pos: p.chanpos, sigcap: p.sigcap }).collect();
                channels.sort_by_key(|c| c.pos);
                HwSpan {
                    span: s.status.span,
                    kind: HwKind::from_span_type(&s.status.span_type),
                    name: s.status.name.clone(),
                    description: s.status.description.clone(),
                    channels,
                }
            })
            .collect();
        Hardware { spans }
    }

    /// Read every span and channel through the control device: SPANSTAT for
    /// each span, GET_PARAMS for each channel (position and sigcap).
    pub fn discover(ctl: &Ctl) -> Result<Hardware> {
        let statuses = ctl.spans()?;
        let mut spans: Vec<HwSpan> = statuses
            .iter()
            .map(|s| HwSpan {
                span: s.span,
                kind: HwKind::from_span_type(&s.span_type),
                name: s.name.clone(),
                description: s.description.clone(),
                channels: Vec::new(),
            })
            .collect();
        let total: u32 = statuses.iter().map(|s| s.total_channels).sum();
        let mut found = 0;
        let mut chan = 1;
        while found < total && chan <= super::ranges::MAX_CHANNEL {
            match ctl.params(chan) {
                Ok(p) => {
                    if let Some(s) = spans.iter_mut().find(|s| s.span == p.span) {
                        s.channels.push(HwChannel { chan: p.chan, pos: p.chanpos, sigcap: p.sigcap });
                        found += 1;
                    }
                }
                Err(Error::NoSuch { .. }) => {}
                Err(e) => return Err(e),
            }
            chan += 1;
        }
        for s in &mut spans {
            s.channels.sort_by_key(|c| c.pos);
        }
        Ok(Hardware { spans })
    }

    pub fn span(&self, span: u32) -> Option<&HwSpan> {
        self.spans.iter().find(|s| s.span == span)
    }

    /// The span and channel of a DAHDI channel number.
    pub fn locate(&self, chan: u32) -> Option<(&HwSpan, &HwChannel)> {
        self.spans.iter().find_map(|s| s.channels.iter().find(|c| c.chan == chan).map(|c| (s, c)))
    }

    /// "spans 1 (T1), 2 (T1), 3 (analog)" for messages.
    pub fn describe(&self) -> String {
        if self.spans.is_empty() {
            return "no spans (is the DAHDI driver loaded?)".into();
        }
        let v: Vec<String> = self.spans.iter().map(|s| format!("{} ({})", s.span, s.kind)).collect();
        format!("span{} {}", if v.len() == 1 { "" } else { "s" }, v.join(", "))
    }
}
