//! Channel signalling, named from the user's point of view.
//!
//! DAHDI names analog signalling by what the *far end* is: a port that a
//! phone plugs into is an FXS port, but DAHDI configures it with "FXO"
//! signalling (`fxoks`), because Tandem speaks to the phone as an exchange
//! would. Users find this backwards (dahdi-linux issue 43). Tandem says
//! `fxs` for the port a phone plugs into and `fxo` for the port a CO line
//! plugs into, everywhere, and this module is the one place that maps
//! between the two namings.

use std::fmt;
use std::str::FromStr;

use dahdi_sys as d;

/// How an analog (or channel-bank) line starts a call.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Start {
    Loop,
    Ground,
    Kewl,
}

/// The signalling of one channel.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Signalling {
    /// A port a phone plugs into (DAHDI: FXO signalling).
    Fxs(Start),
    /// A port a CO line plugs into (DAHDI: FXS signalling).
    Fxo(Start),
    /// E&M on T1 (robbed bit) or E1.
    Em,
    EmE1,
    /// Raw CAS: the host reads and writes ABCD bits.
    Cas,
    /// Single-frequency tone signalling.
    Sf,
    /// An ISDN bearer channel, or any clear 64 kbit/s channel.
    Clear,
    /// A D-channel with hardware HDLC.
    Dchan,
    /// HDLC done by DAHDI in software, with FCS.
    HdlcFcs,
    /// Raw HDLC, FCS handled by the host.
    HdlcRaw,
    /// Not configured.
    None,
}

impl Signalling {
    /// Every configurable signalling (not `None`).
    pub const ALL: [Signalling; 14] = [
        Signalling::Fxs(Start::Loop),
        Signalling::Fxs(Start::Ground),
        Signalling::Fxs(Start::Kewl),
        Signalling::Fxo(Start::Loop),
        Signalling::Fxo(Start::Ground),
        Signalling::Fxo(Start::Kewl),
        Signalling::Em,
        Signalling::EmE1,
        Signalling::Cas,
        Signalling::Sf,
        Signalling::Clear,
        Signalling::Dchan,
        Signalling::HdlcFcs,
        Signalling::HdlcRaw,
    ];

    /// The DAHDI signalling type (`DAHDI_SIG_*`).
    pub fn to_dahdi(self) -> u32 {
        match self {
            // The inversion: a phone port uses DAHDI's FXO signalling.
            Signalling::Fxs(Start::Loop) => d::DAHDI_SIG_FXOLS,
            Signalling::Fxs(Start::Ground) => d::DAHDI_SIG_FXOGS,
            Signalling::Fxs(Start::Kewl) => d::DAHDI_SIG_FXOKS,
            Signalling::Fxo(Start::Loop) => d::DAHDI_SIG_FXSLS,
            Signalling::Fxo(Start::Ground) => d::DAHDI_SIG_FXSGS,
            Signalling::Fxo(Start::Kewl) => d::DAHDI_SIG_FXSKS,
            Signalling::Em => d::DAHDI_SIG_EM,
            Signalling::EmE1 => d::DAHDI_SIG_EM_E1,
            Signalling::Cas => d::DAHDI_SIG_CAS,
            Signalling::Sf => d::DAHDI_SIG_SF,
            Signalling::Clear => d::DAHDI_SIG_CLEAR,
            Signalling::Dchan => d::DAHDI_SIG_HARDHDLC,
            Signalling::HdlcFcs => d::DAHDI_SIG_HDLCFCS,
            Signalling::HdlcRaw => d::DAHDI_SIG_HDLCRAW,
            Signalling::None => d::DAHDI_SIG_NONE,
        }
    }

    /// From a DAHDI signalling type; `None` for types Tandem does not use.
    pub fn from_dahdi(sig: u32) -> Option<Signalling> {
        Some(match sig {
            d::DAHDI_SIG_FXOLS => Signalling::Fxs(Start::Loop),
            d::DAHDI_SIG_FXOGS => Signalling::Fxs(Start::Ground),
            d::DAHDI_SIG_FXOKS => Signalling::Fxs(Start::Kewl),
            d::DAHDI_SIG_FXSLS => Signalling::Fxo(Start::Loop),
            d::DAHDI_SIG_FXSGS => Signalling::Fxo(Start::Ground),
            d::DAHDI_SIG_FXSKS => Signalling::Fxo(Start::Kewl),
            d::DAHDI_SIG_EM => Signalling::Em,
            d::DAHDI_SIG_EM_E1 => Signalling::EmE1,
            d::DAHDI_SIG_CAS => Signalling::Cas,
            d::DAHDI_SIG_SF => Signalling::Sf,
            d::DAHDI_SIG_CLEAR => Signalling::Clear,
            d::DAHDI_SIG_HARDHDLC => Signalling::Dchan,
            d::DAHDI_SIG_HDLCFCS => Signalling::HdlcFcs,
            d::DAHDI_SIG_HDLCRAW => Signalling::HdlcRaw,
            d::DAHDI_SIG_NONE => Signalling::None,
            _ => return None,
        })
    }

    /// The keyword DAHDI's system.conf uses for this signalling.
    pub fn system_conf_keyword(self) -> &'static str {
        match self {
            Signalling::Fxs(Start::Loop) => "fxols",
            Signalling::Fxs(Start::Ground) => "fxogs",
            Signalling::Fxs(Start::Kewl) => "fxoks",
            Signalling::Fxo(Start::Loop) => "fxsls",
            Signalling::Fxo(Start::Ground) => "fxsgs",
            Signalling::Fxo(Start::Kewl) => "fxsks",
            Signalling::Em => "e&m",
            Signalling::EmE1 => "e&me1",
            Signalling::Cas => "cas",
            Signalling::Sf => "sf",
            Signalling::Clear => "bchan",
            Signalling::Dchan => "hardhdlc",
            Signalling::HdlcFcs => "fcshdlc",
            Signalling::HdlcRaw => "rawhdlc",
            Signalling::None => "unused",
        }
    }

    /// From a system.conf keyword (DAHDI's naming).
    pub fn from_system_conf_keyword(k: &str) -> Option<Signalling> {
        let k = k.to_ascii_lowercase();
        match k.as_str() {
            "clear" | "bchan" => return Some(Signalling::Clear),
            "dchan" | "fcshdlc" => return Some(Signalling::HdlcFcs),
            "e&m" => return Some(Signalling::Em),
            _ => {}
        }
        Signalling::ALL.into_iter().find(|s| s.system_conf_keyword() == k)
    }

    /// True for analog loop/ground/kewl-start signalling.
    pub fn is_analog_style(self) -> bool {
        matches!(self, Signalling::Fxs(_) | Signalling::Fxo(_))
    }

    /// True for robbed-bit / CAS signalling that needs ABCD bits.
    pub fn uses_bits(self) -> bool {
        matches!(self, Signalling::Fxs(_) | Signalling::Fxo(_) | Signalling::Em | Signalling::EmE1 | Signalling::Cas | Signalling::Sf)
    }

    /// True for D-channels and HDLC channels (frames, not audio).
    pub fn is_hdlc(self) -> bool {
        matches!(self, Signalling::Dchan | Signalling::HdlcFcs | Signalling::HdlcRaw)
    }
}

impl fmt::Display for Signalling {
    /// Tandem's own naming: `fxs_ks`, `fxo_ls`, `em`, `dchan`, `clear`…
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let start = |s: &Start| match s {
            Start::Loop => "ls",
            Start::Ground => "gs",
            Start::Kewl => "ks",
        };
        match self {
            Signalling::Fxs(s) => write!(f, "fxs_{}", start(s)),
            Signalling::Fxo(s) => write!(f, "fxo_{}", start(s)),
            Signalling::Em => f.write_str("em"),
            Signalling::EmE1 => f.write_str("em_e1"),
            Signalling::Cas => f.write_str("cas"),
            Signalling::Sf => f.write_str("sf"),
            Signalling::Clear => f.write_str("clear"),
            Signalling::Dchan => f.write_str("dchan"),
            Signalling::HdlcFcs => f.write_str("hdlc_fcs"),
            Signalling::HdlcRaw => f.write_str("hdlc_raw"),
            Signalling::None => f.write_str("none"),
        }
    }
}

impl FromStr for Signalling {
    type Err = String;

    /// Parse Tandem's naming (see `Display`).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let start = |x: &str| match x {
            "ls" => Some(Start::Loop),
            "gs" => Some(Start::Ground),
            "ks" => Some(Start::Kewl),
            _ => None,
        };
        let r = match s {
            "em" => Some(Signalling::Em),
            "em_e1" => Some(Signalling::EmE1),
            "cas" => Some(Signalling::Cas),
            "sf" => Some(Signalling::Sf),
            "clear" => Some(Signalling::Clear),
            "dchan" => Some(Signalling::Dchan),
            "hdlc_fcs" => Some(Signalling::HdlcFcs),
            "hdlc_raw" => Some(Signalling::HdlcRaw),
            "none" => Some(Signalling::None),
            _ => s.strip_prefix("fxs_").and_then(start).map(Signalling::Fxs).or_else(|| s.strip_prefix("fxo_").and_then(start).map(Signalling::Fxo)),
        };
        r.ok_or_else(|| {
            format!(
                "unknown signalling {s:?}; use fxs_ks, fxs_ls, fxs_gs (a phone plugs in), fxo_ks, fxo_ls, fxo_gs (a CO line plugs in), em, em_e1, cas, sf, clear, dchan, hdlc_fcs or hdlc_raw"
            )
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_phone_port_uses_dahdi_fxo_signalling() {
        assert_eq!(Signalling::Fxs(Start::Kewl).to_dahdi(), d::DAHDI_SIG_FXOKS);
        assert_eq!(Signalling::Fxo(Start::Loop).to_dahdi(), d::DAHDI_SIG_FXSLS);
        assert_eq!(Signalling::from_system_conf_keyword("fxoks"), Some(Signalling::Fxs(Start::Kewl)));
    }

    #[test]
    fn every_signalling_round_trips_through_dahdi_and_names() {
        for s in Signalling::ALL {
            assert_eq!(Signalling::from_dahdi(s.to_dahdi()), Some(s));
            assert_eq!(s.to_string().parse::<Signalling>(), Ok(s));
            assert_eq!(Signalling::from_system_conf_keyword(s.system_conf_keyword()), Some(s));
        }
    }
}
