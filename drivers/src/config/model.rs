//! The `[dahdi]` section of Tandem's configuration, as written in TOML.
//!
//! Values that validation may complain about are [`Spanned`], so that a
//! message can point at the offending value in the file. Two configurations
//! compare equal when they say the same thing, wherever they came from
//! (`Spanned` compares values only).

use std::fmt;

use serde::Deserialize;
use serde::de::{self, Deserializer, Visitor};
pub use toml::Spanned;

use super::diag::{Errors, Source, SourceRef};
use crate::channel::Law;
use crate::signalling::{Signalling, Start};

/// The `[dahdi]` table: where the DAHDI device files are, the tone zone,
/// and one `[[dahdi.span]]` table per span to configure.
#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DahdiConfig {
    /// The DAHDI device directory (default `/dev/dahdi`).
    #[serde(default)]
    pub device_dir: Option<Spanned<String>>,
    /// The default tone zone ("us", "uk", "de"…), set with DEFAULTZONE.
    #[serde(default)]
    pub tone_zone: Option<Spanned<String>>,
    #[serde(default, rename = "span")]
    pub spans: Vec<SpanSection>,
    /// Where this configuration was read from (for messages).
    #[serde(skip)]
    pub source: SourceRef,
}

/// One `[[dahdi.span]]` table.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SpanSection {
    /// The DAHDI span number (as `tandem spans`, `lsdahdi` and `dahdi_scan` show it).
    pub span: Spanned<u32>,
    /// What the span is; it must match the hardware.
    #[serde(rename = "type")]
    pub kind: Spanned<SpanType>,
    /// T1/J1: `esf` (default) or `d4`; E1: `ccs` (default) or `cas`.
    #[serde(default)]
    pub framing: Option<Spanned<Framing>>,
    /// T1/J1: `b8zs` (default) or `ami`; E1: `hdb3` (default) or `ami`.
    #[serde(default)]
    pub coding: Option<Spanned<Coding>>,
    /// E1 only: CRC-4 multiframe (default false).
    #[serde(default)]
    pub crc4: Option<Spanned<bool>>,
    /// Send yellow alarm while no channel is open (system.conf's `yellow`).
    #[serde(default)]
    pub yellow: Option<Spanned<bool>>,
    /// Timing priority: 1 = the best clock source, 2 = the next…, 0 = never
    /// take the clock from this span. Required on T1/E1/J1 spans.
    #[serde(default)]
    pub timing: Option<Spanned<u32>>,
    /// Line build-out, 0–7 (default 0).
    #[serde(default)]
    pub lbo: Option<Spanned<u32>>,
    #[serde(default, rename = "group")]
    pub groups: Vec<Group>,
}

/// One `[[dahdi.span.group]]` table: channels of the span that share a
/// role and settings.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Group {
    /// Channel positions within the span: `"1-23"`, `"1-15,17-31"`, `24`.
    pub channels: Spanned<ChannelList>,
    pub role: Spanned<Role>,
    /// For `fxs`/`fxo`: `kewl` (default), `loop` or `ground`.
    #[serde(default)]
    pub start: Option<Spanned<Start>>,
    /// Override the span's companding law: `mulaw` or `alaw`.
    #[serde(default)]
    pub law: Option<Spanned<Law>>,
    /// An echo canceller by name (`"oslec"`, `"mg2"`, `"hwec"`…) or `false`.
    #[serde(default)]
    pub echo_canceller: Option<Spanned<EchoCanceller>>,
    /// For `cas`: the ABCD bits sent while idle, e.g. `"1101"`.
    #[serde(default)]
    pub idle_bits: Option<Spanned<String>>,
}

/// What a span is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum SpanType {
    T1,
    E1,
    J1,
    /// An analog card's ports (FXS and/or FXO).
    Analog,
}

impl SpanType {
    pub fn name(self) -> &'static str {
        match self {
            SpanType::T1 => "t1",
            SpanType::E1 => "e1",
            SpanType::J1 => "j1",
            SpanType::Analog => "analog",
        }
    }

    pub fn is_digital(self) -> bool {
        self != SpanType::Analog
    }

    /// `t1` and `j1` share framing and coding.
    pub fn is_t1_like(self) -> bool {
        matches!(self, SpanType::T1 | SpanType::J1)
    }

    pub fn default_framing(self) -> Option<Framing> {
        match self {
            SpanType::T1 | SpanType::J1 => Some(Framing::Esf),
            SpanType::E1 => Some(Framing::Ccs),
            SpanType::Analog => None,
        }
    }

    pub fn default_coding(self) -> Option<Coding> {
        match self {
            SpanType::T1 | SpanType::J1 => Some(Coding::B8zs),
            SpanType::E1 => Some(Coding::Hdb3),
            SpanType::Analog => None,
        }
    }
}

impl fmt::Display for SpanType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            SpanType::T1 => "T1",
            SpanType::E1 => "E1",
            SpanType::J1 => "J1",
            SpanType::Analog => "analog",
        })
    }
}

/// Framing (T1/J1) or signalling mode (E1).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Framing {
    /// T1/J1 extended superframe.
    Esf,
    /// T1/J1 superframe.
    #[serde(alias = "sf", alias = "superframe")]
    D4,
    /// E1 with channel-associated signalling in timeslot 16.
    Cas,
    /// E1 common-channel signalling (ISDN PRI, SS7).
    Ccs,
}

impl Framing {
    pub fn name(self) -> &'static str {
        match self {
            Framing::Esf => "esf",
            Framing::D4 => "d4",
            Framing::Cas => "cas",
            Framing::Ccs => "ccs",
        }
    }

    pub fn is_e1(self) -> bool {
        matches!(self, Framing::Cas | Framing::Ccs)
    }
}

/// Line coding.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Coding {
    B8zs,
    Ami,
    Hdb3,
}

impl Coding {
    pub fn name(self) -> &'static str {
        match self {
            Coding::B8zs => "b8zs",
            Coding::Ami => "ami",
            Coding::Hdb3 => "hdb3",
        }
    }
}

/// What a group of channels is for. Analog roles are named from the
/// user's side: `fxs` is a port a phone plugs into, `fxo` a port a CO line
/// plugs into (DAHDI's system.conf says `fxoks` and `fxsks` for these).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// ISDN bearer channels, each a clear 64 kbit/s channel
    /// (system.conf `bchan`).
    Bchan,
    /// One clear 64 kbit/s channel (system.conf `clear` with one channel).
    Clear,
    /// An ISDN D-channel, HDLC done by the card (system.conf `hardhdlc`).
    Dchan,
    /// A D-channel with HDLC done by DAHDI in software (system.conf
    /// `dchan` / `fcshdlc`).
    HdlcFcs,
    /// Raw HDLC, FCS done by the host (system.conf `rawhdlc`).
    HdlcRaw,
    /// A port a phone plugs into, or a channel-bank FXS line
    /// (system.conf `fxoks`, `fxols`, `fxogs`).
    Fxs,
    /// A port a CO line plugs into, or a channel-bank FXO line
    /// (system.conf `fxsks`, `fxsls`, `fxsgs`).
    Fxo,
    /// E&M on T1 (system.conf `e&m`).
    Em,
    /// E&M on E1 (system.conf `e&me1`).
    EmE1,
    /// Raw CAS: the application reads and writes ABCD bits, e.g. for
    /// MFC/R2 (system.conf `cas`).
    Cas,
    /// Not configured (signalling none).
    Unused,
}

impl Role {
    pub fn name(self) -> &'static str {
        match self {
            Role::Bchan => "bchan",
            Role::Clear => "clear",
            Role::Dchan => "dchan",
            Role::HdlcFcs => "hdlc_fcs",
            Role::HdlcRaw => "hdlc_raw",
            Role::Fxs => "fxs",
            Role::Fxo => "fxo",
            Role::Em => "em",
            Role::EmE1 => "em_e1",
            Role::Cas => "cas",
            Role::Unused => "unused",
        }
    }

    /// The channel signalling for this role (`start` matters for fxs/fxo).
    pub fn signalling(self, start: Start) -> Signalling {
        match self {
            Role::Bchan | Role::Clear => Signalling::Clear,
            Role::Dchan => Signalling::Dchan,
            Role::HdlcFcs => Signalling::HdlcFcs,
            Role::HdlcRaw => Signalling::HdlcRaw,
            Role::Fxs => Signalling::Fxs(start),
            Role::Fxo => Signalling::Fxo(start),
            Role::Em => Signalling::Em,
            Role::EmE1 => Signalling::EmE1,
            Role::Cas => Signalling::Cas,
            Role::Unused => Signalling::None,
        }
    }

    /// fxs and fxo take a `start`.
    pub fn has_start(self) -> bool {
        matches!(self, Role::Fxs | Role::Fxo)
    }

    /// A D-channel (signalling for the whole span in one timeslot).
    pub fn is_dchan(self) -> bool {
        matches!(self, Role::Dchan | Role::HdlcFcs)
    }

    /// Frames rather than audio.
    pub fn is_hdlc(self) -> bool {
        matches!(self, Role::Dchan | Role::HdlcFcs | Role::HdlcRaw)
    }

    /// Signalling carried in the ABCD bits (robbed bit on T1, timeslot 16 on E1).
    pub fn uses_cas_bits(self) -> bool {
        matches!(self, Role::Fxs | Role::Fxo | Role::Em | Role::EmE1 | Role::Cas)
    }

    /// Carries audio (so law and echo cancellers mean something).
    pub fn is_audio(self) -> bool {
        !self.is_hdlc() && self != Role::Unused
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A channel list as written (`"1-15,17-31"`); parsed by validation, so
/// that every bad range in a file is reported at once. An integer is
/// accepted for a single channel.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChannelList(pub String);

impl<'de> Deserialize<'de> for ChannelList {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = ChannelList;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a channel list such as \"1-23\" or \"1-15,17-31\", or a channel number")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<ChannelList, E> {
                Ok(ChannelList(v.to_string()))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<ChannelList, E> {
                Ok(ChannelList(v.to_string()))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<ChannelList, E> {
                Ok(ChannelList(v.to_string()))
            }
        }
        d.deserialize_any(V)
    }
}

/// `echo_canceller = "name"` or `echo_canceller = false`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum EchoCanceller {
    Off,
    Name(String),
}

impl EchoCanceller {
    /// The name for ATTACH_ECHOCAN ("" detaches).
    pub fn name(&self) -> &str {
        match self {
            EchoCanceller::Off => "",
            EchoCanceller::Name(n) => n,
        }
    }
}

impl<'de> Deserialize<'de> for EchoCanceller {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = EchoCanceller;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an echo canceller's name such as \"oslec\", \"mg2\" or \"hwec\", or false for none")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<EchoCanceller, E> {
                Ok(EchoCanceller::Name(v.to_string()))
            }
            fn visit_bool<E: de::Error>(self, v: bool) -> Result<EchoCanceller, E> {
                if v {
                    Err(E::custom(
                        "echo_canceller = true does not say which canceller; name it (\"oslec\", \"mg2\", \"kb1\", \"sec2\", \"hwec\"…) or write false for none",
                    ))
                } else {
                    Ok(EchoCanceller::Off)
                }
            }
        }
        d.deserialize_any(V)
    }
}

/// A document holding only a `[dahdi]` table.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Document {
    dahdi: Option<DahdiConfig>,
}

impl DahdiConfig {
    /// Parse a TOML document whose only table is `[dahdi]` (a standalone
    /// file, or a test's string). `path` names it in messages.
    pub fn from_toml(text: &str, path: &str) -> Result<DahdiConfig, Errors> {
        let src = Source::new(path, text);
        let doc: Document = toml::from_str(text).map_err(|e| Errors::from(src.toml_error(&e)))?;
        match doc.dahdi {
            Some(c) => Ok(c.with_source(src)),
            None => {
                Err(Errors::from(src.diagnostic(0..0, "no [dahdi] table", Some("start the file with [dahdi], then one [[dahdi.span]] table per span".into()))))
            }
        }
    }

    /// Parse the contents of a `[dahdi]` table given as a document of its
    /// own (keys at the top level, `[[span]]` tables).
    pub fn from_toml_table(text: &str, path: &str) -> Result<DahdiConfig, Errors> {
        let src = Source::new(path, text);
        let c: DahdiConfig = toml::from_str(text).map_err(|e| Errors::from(src.toml_error(&e)))?;
        Ok(c.with_source(src))
    }

    /// Attach the text this configuration was deserialized from, so that
    /// messages name `path:line:column`. Use this when `[dahdi]` was
    /// deserialized as part of a larger file: pass that whole file's text.
    pub fn with_source(mut self, src: Source) -> DahdiConfig {
        self.source = SourceRef::new(src);
        self
    }

    /// The device directory, `/dev/dahdi` unless set.
    pub fn device_dir(&self) -> std::path::PathBuf {
        self.device_dir.as_ref().map(|d| d.get_ref().into()).unwrap_or_else(|| crate::DEFAULT_DEVICE_DIR.into())
    }
}
