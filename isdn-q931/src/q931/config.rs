//! Configuration of the call-control entity.

use super::types::{Law, Side};
use super::variant::{SwitchType, SwitchVariant, Timers};
use crate::wire::ie::Location;

/// Span type of an interface.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum InterfaceKind {
    /// 24 time slots; channel 24 is the D-channel on a span that carries
    /// one.
    T1,
    /// 31 time slots; slot 16 is the D-channel on a span that carries one.
    E1,
}

impl InterfaceKind {
    /// The B-channel numbers of such a span.
    pub fn b_channels(self, has_d_channel: bool) -> Vec<u8> {
        match self {
            InterfaceKind::T1 => (1..=if has_d_channel { 23 } else { 24 }).collect(),
            InterfaceKind::E1 => (1..=31u8).filter(|&c| !(has_d_channel && c == 16)).collect(),
        }
    }

    /// The usual G.711 law on such a span.
    pub fn law(self) -> Law {
        match self {
            InterfaceKind::T1 => Law::Ulaw,
            InterfaceKind::E1 => Law::Alaw,
        }
    }
}

/// One interface (span) controlled by the D-channel(s).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InterfaceConfig {
    /// The interface identifier (NFAS), 0–127. With a single interface
    /// any value; it only names the interface in [`ChannelRef`]s.
    ///
    /// [`ChannelRef`]: super::ChannelRef
    pub id: u8,
    pub kind: InterfaceKind,
    /// Whether a D-channel (primary or backup) occupies a slot of this
    /// span (T1 channel 24, E1 slot 16), leaving it out of the B-channels.
    pub d_channel: bool,
}

impl InterfaceConfig {
    pub fn new(id: u8, kind: InterfaceKind, d_channel: bool) -> InterfaceConfig {
        InterfaceConfig { id, kind, d_channel }
    }
}

/// Order in which free B-channels are hunted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum HuntOrder {
    /// Lowest interface and channel first (the user side's usual choice).
    Ascending,
    /// Highest interface and channel first (the network side's usual
    /// choice, so that both ends rarely pick the same channel).
    Descending,
}

/// Configuration of one Q.931 entity: one D-channel (or NFAS group of
/// D-channels) and the interfaces it controls.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    pub side: Side,
    /// The switch variant; a copy, so fields may be adjusted.
    pub variant: SwitchVariant,
    /// Layer 3 timers; initialised from the variant for `side`.
    pub timers: Timers,
    /// The interfaces, in order. The first one is the interface the
    /// D-channel is on: channel identification without an interface
    /// identifier refers to it.
    pub interfaces: Vec<InterfaceConfig>,
    /// NFAS: always send the interface identifier in channel
    /// identification (true when more than one interface is configured).
    pub explicit_interface_id: bool,
    /// Channel hunting order for our outgoing calls and for channels we
    /// choose for incoming ones.
    pub hunt: HuntOrder,
    /// Location in causes this stack generates.
    pub location: Location,
    /// G.711 law in the bearer capability of outgoing speech calls.
    pub law: Law,
    /// Keep calls whose DISCONNECT announces in-band information
    /// (progress #8) in the disconnect-indication state so the
    /// application can play the announcement; it then sends
    /// [`Command::Release`](super::Command::Release). Without it RELEASE
    /// answers every DISCONNECT at once.
    pub inband_disconnect: bool,
    /// Restart every interface (RESTART) whenever the data link comes up
    /// after having been down.
    pub restart_on_link_up: bool,
    /// RESTART transmissions before giving up (the channels are then
    /// freed and [`Event::RestartFailed`](super::Event::RestartFailed)
    /// reported).
    pub restart_attempts: u8,
    /// STATUS ENQUIRY transmissions before the call is cleared with cause
    /// 41.
    pub status_enquiry_attempts: u8,
    /// SERVICE transmissions before giving up.
    pub service_attempts: u8,
    /// After a data link failure or reset, send STATUS ENQUIRY for every
    /// active call (Q.931 §5.8.9); otherwise send STATUS (cause 31).
    pub enquire_on_link_recovery: bool,
}

impl Config {
    /// One interface of the variant's span type (with its D-channel), the
    /// variant's timers for `side`, hunting descending on the network side
    /// and ascending on the user side.
    pub fn new(switch: SwitchType, side: Side) -> Config {
        let variant = SwitchVariant::for_switch(switch);
        let kind = variant.interface_kind;
        Config {
            side,
            timers: variant.timers(side),
            location: variant.location(side),
            interfaces: vec![InterfaceConfig::new(0, kind, true)],
            explicit_interface_id: false,
            hunt: match side {
                Side::Network => HuntOrder::Descending,
                Side::User => HuntOrder::Ascending,
            },
            law: kind.law(),
            variant,
            inband_disconnect: false,
            restart_on_link_up: false,
            restart_attempts: 3,
            status_enquiry_attempts: 3,
            service_attempts: 3,
            enquire_on_link_recovery: true,
        }
    }

    /// NFAS: replaces the interfaces and turns on explicit interface
    /// identifiers.
    pub fn with_interfaces(mut self, interfaces: Vec<InterfaceConfig>) -> Config {
        self.explicit_interface_id = interfaces.len() > 1;
        self.interfaces = interfaces;
        self
    }

    /// Checks the configuration.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.interfaces.is_empty() {
            return Err(ConfigError::NoInterface);
        }
        for (i, a) in self.interfaces.iter().enumerate() {
            if a.id > 127 {
                return Err(ConfigError::InterfaceId(a.id));
            }
            if self.interfaces[..i].iter().any(|b| b.id == a.id) {
                return Err(ConfigError::DuplicateInterface(a.id));
            }
        }
        Ok(())
    }
}

/// A configuration that cannot work.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    #[error("no interface configured")]
    NoInterface,
    #[error("interface identifier {0} above 127")]
    InterfaceId(u8),
    #[error("interface identifier {0} configured twice")]
    DuplicateInterface(u8),
    #[error("no data link configured")]
    NoLink,
    #[error("link {0} configured twice")]
    DuplicateLink(u16),
}
