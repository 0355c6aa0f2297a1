//! The simulator's TOML configuration: which cards are plugged in and what
//! each line is connected to.
//!
//! ```toml
//! [sim]
//! hold_limit_ms = 1000     # time limit for a held (blocking) request
//! auto_assign_spans = true # the DAHDI module parameter: assign spans at registration
//! hotplug = "/usr/lib/tandem/tandem-hotplug"   # run for each uevent, as udev would
//! hotplug_env = { TANDEM_CONTROL_SOCKET = "/run/tandem/tandem.sock" }
//! line_echo = { delay_ms = 8, erl_db = 12 }  # echo on every analog port (default: none)
//! smdi = "/run/tandem-sim/smdi"  # an SMDI link: symlink to a pty slave (see crate::smdi)
//! realtime_clock = true    # the 1 ms clock thread SCHED_FIFO, as a card's interrupt (default false)
//!
//! [[card]]
//! model = "tdm410p"        # analog card: up to 4 ports (tdm800p: 8, tdm2400p: 24)
//! ports = ["fxs", "fxs", "fxo", "fxo"]   # fxs = a phone plugs in; fxo = a CO line plugs in
//! line_echo = { delay_ms = 4, erl_db = 6, erle_db = 30, converge_ms = 250 }  # this card's ports
//!
//! [[card]]
//! model = "te420p"         # digital card: 1 to 4 T1/E1/J1 spans (te120p/te220p/te420p)
//! hardware_id = "TE4XXP-0001"           # sysfs hardware_id (default "SIM-TE420P-2")
//! location = "pci0000:00/0000:00:02.0"  # sysfs location (default from the card number)
//! [[card.span]]
//! type = "t1"              # t1 | e1 | j1
//! far_end = "external"     # none | external | cross
//! [[card.span]]
//! type = "t1"
//! far_end = "cross"
//! peer = 3                 # span number at the other end of the crossover cable
//! ```
//!
//! Each card is a DAHDI device (sysfs `devices/pci0000:00/0000:00:NN.0/pci:0000:00:NN.0`,
//! NN = card number in hex). With `auto_assign_spans` (the default, as the
//! module parameter) spans are numbered in the order they appear, from 1,
//! and channels in order across spans, from 1, as DAHDI numbers them;
//! without it they wait for sysfs `assign_span` / `auto_assign`. `peer`
//! numbers and the default D-channel socket names count spans in
//! configuration order (the numbers auto-assignment gives).
//!
//! `line_echo` gives analog ports the echo of a 2-to-4-wire hybrid (see
//! [`crate::model::echo`]): the host hears what it transmits, `delay_ms`
//! later and `erl_db` weaker, unless its echo canceller covers the delay
//! (then the echo falls by `erle_db` over `converge_ms`). A card's
//! `line_echo` replaces the `[sim]` one for its ports. Without either there
//! is no echo.

use serde::Deserialize;

use crate::model::echo::{EchoPath, LineEchoCfg};
use crate::model::span::{SpanFar, SpanKind};
use crate::model::{Dahdi, DeviceSpec, SpanSpec};
use tandem_dsp::g711::Law;

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct SimConfig {
    #[serde(default)]
    pub sim: SimSection,
    #[serde(default, rename = "card")]
    pub cards: Vec<Card>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SimSection {
    #[serde(default = "default_hold")]
    pub hold_limit_ms: u64,
    /// Companding law of analog ports.
    #[serde(default)]
    pub analog_law: LawName,
    /// DAHDI's `auto_assign_spans` module parameter.
    #[serde(default = "default_true")]
    pub auto_assign_spans: bool,
    /// A program run for every uevent, with udev's environment.
    #[serde(default)]
    pub hotplug: Option<String>,
    /// Extra environment for the hotplug program.
    #[serde(default)]
    pub hotplug_env: std::collections::BTreeMap<String, String>,
    /// FUSE worker threads for the device files (1 keeps a pinned simulator
    /// and its client on one CPU, which is fastest on small machines).
    #[serde(default = "default_fuse_threads")]
    pub fuse_threads: usize,
    /// Line echo on every analog port (none by default).
    #[serde(default)]
    pub line_echo: Option<LineEchoCfg>,
    /// Path of a symlink to the pty slave of a simulated SMDI link (none by default).
    #[serde(default)]
    pub smdi: Option<String>,
    /// Run the clock thread SCHED_FIFO ([`crate::clock::REALTIME_PRIORITY`]),
    /// so that it preempts ordinary threads as a card's interrupt does.
    #[serde(default)]
    pub realtime_clock: bool,
}

fn default_fuse_threads() -> usize {
    2
}

impl Default for SimSection {
    fn default() -> Self {
        SimSection {
            hold_limit_ms: default_hold(),
            analog_law: LawName::Mulaw,
            auto_assign_spans: true,
            hotplug: None,
            hotplug_env: Default::default(),
            fuse_threads: default_fuse_threads(),
            line_echo: None,
            smdi: None,
            realtime_clock: false,
        }
    }
}

fn default_true() -> bool {
    true
}

fn default_hold() -> u64 {
    1000
}

#[derive(Debug, Deserialize, Default, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum LawName {
    #[default]
    Mulaw,
    Alaw,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Card {
    pub model: String,
    /// sysfs `hardware_id` (default `SIM-<MODEL>-<card number>`).
    #[serde(default)]
    pub hardware_id: Option<String>,
    /// sysfs `location` (default "pci0000:00/0000:00:NN.0").
    #[serde(default)]
    pub location: Option<String>,
    #[serde(default)]
    pub ports: Vec<PortKind>,
    #[serde(default, rename = "span")]
    pub spans: Vec<SpanCfg>,
    /// Line echo on this analog card's ports (replaces `[sim] line_echo`).
    #[serde(default)]
    pub line_echo: Option<LineEchoCfg>,
}

#[derive(Debug, Deserialize, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum PortKind {
    Fxs,
    Fxo,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SpanCfg {
    #[serde(rename = "type")]
    pub kind: SpanKind,
    #[serde(default)]
    pub far_end: FarEndCfg,
    /// For `far_end = "cross"`: the span number at the other end.
    pub peer: Option<u32>,
    /// For `far_end = "external"`: the D-channel socket path (default: next
    /// to the control socket, `<control>.span<N>`).
    pub dchan_socket: Option<String>,
}

#[derive(Debug, Deserialize, Default, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum FarEndCfg {
    #[default]
    None,
    External,
    Cross,
}

/// A configuration problem, with what to do about it.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{path}: {msg}")]
    Parse { path: String, msg: String },
    #[error("{path}: card {card} ({model}): {msg}")]
    Card { path: String, card: usize, model: String, msg: String },
    #[error("{path}: {msg}")]
    Other { path: String, msg: String },
}

/// Card models the simulator knows: (name, kind, max ports or spans, manufacturer, description).
struct Model {
    name: &'static str,
    analog: bool,
    max: usize,
    desc: &'static str,
}

const MODELS: &[Model] = &[
    Model { name: "tdm410p", analog: true, max: 4, desc: "Wildcard TDM410P" },
    Model { name: "tdm800p", analog: true, max: 8, desc: "Wildcard TDM800P" },
    Model { name: "tdm2400p", analog: true, max: 24, desc: "Wildcard TDM2400P" },
    Model { name: "te120p", analog: false, max: 1, desc: "Wildcard TE120P" },
    Model { name: "te220p", analog: false, max: 2, desc: "Wildcard TE220P" },
    Model { name: "te420p", analog: false, max: 4, desc: "Wildcard TE420P" },
];

/// An external span's D-channel socket, to be created by the control server.
#[derive(Debug, Clone)]
pub struct ExternalSpan {
    pub span_index: usize,
    pub socket: Option<String>,
}

impl SimConfig {
    /// Parse from TOML text; `path` names the file in errors.
    pub fn parse(text: &str, path: &str) -> Result<SimConfig, ConfigError> {
        toml::from_str(text).map_err(|e| ConfigError::Parse { path: path.into(), msg: e.to_string() })
    }

    pub fn load(path: &str) -> Result<SimConfig, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|e| ConfigError::Other { path: path.into(), msg: format!("cannot read: {e}") })?;
        SimConfig::parse(&text, path)
    }

    /// Build the simulated system.
    pub fn build(&self, path: &str) -> Result<(Dahdi, Vec<ExternalSpan>), ConfigError> {
        let mut specs = Vec::new();
        let mut devices: Vec<DeviceSpec> = Vec::new();
        let mut seen_ids: Vec<String> = Vec::new();
        let mut fars = Vec::new();
        let mut echoes: Vec<Option<LineEchoCfg>> = Vec::new();
        if let Some(e) = &self.sim.line_echo {
            e.validate().map_err(|msg| ConfigError::Other { path: path.into(), msg: format!("[sim] {msg}") })?;
        }
        let mut analog_no = 0;
        let mut digital_no = 0;
        let analog_law = if self.sim.analog_law == LawName::Alaw { Law::Alaw } else { Law::Mulaw };
        for (ci, card) in self.cards.iter().enumerate() {
            let err = |msg: String| ConfigError::Card { path: path.into(), card: ci + 1, model: card.model.clone(), msg };
            let Some(model) = MODELS.iter().find(|m| m.name == card.model.to_ascii_lowercase()) else {
                let names: Vec<_> = MODELS.iter().map(|m| m.name).collect();
                return Err(err(format!("unknown model; use one of {}", names.join(", "))));
            };
            let n = ci + 1;
            let hardware_id = card.hardware_id.clone().unwrap_or_else(|| format!("SIM-{}-{n}", model.name.to_ascii_uppercase()));
            if hardware_id.is_empty() || hardware_id.chars().any(|c| c.is_whitespace() || c.is_control()) {
                return Err(err(format!("hardware_id {hardware_id:?} must be non-empty, without spaces")));
            }
            if seen_ids.contains(&hardware_id) {
                return Err(err(format!("hardware_id {hardware_id:?} is used by another card")));
            }
            seen_ids.push(hardware_id.clone());
            let location = card.location.clone().unwrap_or_else(|| format!("pci0000:00/0000:00:{n:02x}.0"));
            if location.chars().any(|c| c == '\n' || c.is_control()) {
                return Err(err("location must be one line".into()));
            }
            let first_spec = specs.len();
            if let Some(e) = &card.line_echo {
                if !model.analog {
                    return Err(err("line_echo is for analog cards (their ports have a hybrid)".into()));
                }
                e.validate().map_err(&err)?;
            }
            if model.analog {
                if !card.spans.is_empty() {
                    return Err(err("an analog card has `ports`, not `span` tables".into()));
                }
                if card.ports.is_empty() || card.ports.len() > model.max {
                    return Err(err(format!("give 1 to {} ports, e.g. ports = [\"fxs\", \"fxo\"]", model.max)));
                }
                specs.push(SpanSpec {
                    kind: SpanKind::Analog,
                    name: format!("WCTDM/{analog_no}"),
                    desc: format!("{} Board {}", model.desc, analog_no + 1),
                    manufacturer: "Digium".into(),
                    devicetype: model.desc.into(),
                    location: location.clone(),
                    ports: card.ports.iter().map(|p| *p == PortKind::Fxs).collect(),
                    law: analog_law,
                });
                fars.push((FarEndCfg::None, None, None));
                echoes.push(card.line_echo.or(self.sim.line_echo));
                analog_no += 1;
            } else {
                if !card.ports.is_empty() {
                    return Err(err("a digital card has `span` tables, not `ports`".into()));
                }
                if card.spans.is_empty() || card.spans.len() > model.max {
                    return Err(err(format!("give 1 to {} [[card.span]] tables", model.max)));
                }
                for (k, s) in card.spans.iter().enumerate() {
                    if s.kind == SpanKind::Analog {
                        return Err(err("span type must be t1, e1 or j1".into()));
                    }
                    specs.push(SpanSpec {
                        kind: s.kind,
                        // wct4xxp: "TE%d/%d/%d" and "T%dXXP (PCI) Card %d Span %d"
                        // with the card's span count first.
                        name: format!("TE{}/{digital_no}/{}", model.max, k + 1),
                        desc: format!("T{}XXP (PCI) Card {digital_no} Span {}", model.max, k + 1),
                        manufacturer: "Digium".into(),
                        devicetype: model.desc.into(),
                        location: location.clone(),
                        ports: Vec::new(),
                        law: if s.kind == SpanKind::E1 { Law::Alaw } else { Law::Mulaw },
                    });
                    fars.push((s.far_end, s.peer, s.dchan_socket.clone()));
                    echoes.push(None);
                }
                digital_no += 1;
            }
            devices.push(DeviceSpec {
                model: model.name.into(),
                name: format!("pci:0000:00:{n:02x}.0"),
                parent: format!("pci0000:00/0000:00:{n:02x}.0"),
                hardware_id,
                location,
                manufacturer: "Digium".into(),
                devicetype: model.desc.into(),
                spans: specs.drain(first_spec..).collect(),
            });
        }
        let specs: Vec<&SpanSpec> = devices.iter().flat_map(|d| d.spans.iter()).collect();
        if specs.len() > crate::model::k::MAX_SPANS as usize {
            return Err(ConfigError::Other { path: path.into(), msg: "more than 128 spans".into() });
        }
        let total: u32 = specs.iter().map(|s| if s.kind == SpanKind::Analog { s.ports.len() as u32 } else { s.kind.channels() }).sum();
        if total > crate::model::k::MAX_CHANNELS {
            return Err(ConfigError::Other { path: path.into(), msg: format!("{total} channels; DAHDI allows at most 1024") });
        }
        let kinds: Vec<SpanKind> = specs.iter().map(|s| s.kind).collect();
        let mut dahdi = Dahdi::with_devices(devices, self.sim.auto_assign_spans);
        for (si, e) in echoes.iter().enumerate() {
            if let Some(cfg) = e {
                for i in dahdi.spans[si].hw_range() {
                    dahdi.echo[i] = EchoPath::new(Some(*cfg));
                }
            }
        }
        let mut externals = Vec::new();
        for (i, (far, peer, sock)) in fars.iter().enumerate() {
            if kinds[i] == SpanKind::Analog {
                continue;
            }
            let spanno = i + 1;
            match far {
                FarEndCfg::None => {}
                FarEndCfg::External => {
                    dahdi.set_far(i, SpanFar::External);
                    externals.push(ExternalSpan { span_index: i, socket: sock.clone() });
                }
                FarEndCfg::Cross => {
                    let Some(p) = peer else {
                        return Err(ConfigError::Other { path: path.into(), msg: format!("span {spanno}: far_end = \"cross\" needs peer = <span number>") });
                    };
                    let pi = *p as usize;
                    if pi == 0 || pi > kinds.len() || pi == spanno || kinds[pi - 1] == SpanKind::Analog {
                        return Err(ConfigError::Other { path: path.into(), msg: format!("span {spanno}: peer = {p} must be another T1/E1/J1 span") });
                    }
                    if kinds[pi - 1] != kinds[i] {
                        return Err(ConfigError::Other {
                            path: path.into(),
                            msg: format!("span {spanno}: cannot cross-connect {:?} to {:?}", kinds[i], kinds[pi - 1]),
                        });
                    }
                    if fars[pi - 1].0 != FarEndCfg::Cross || fars[pi - 1].1 != Some(spanno as u32) {
                        return Err(ConfigError::Other {
                            path: path.into(),
                            msg: format!("span {spanno}: peer span {p} must also say far_end = \"cross\", peer = {spanno}"),
                        });
                    }
                    dahdi.set_far(i, SpanFar::Cross(pi - 1));
                }
            }
        }
        Ok((dahdi, externals))
    }
}
