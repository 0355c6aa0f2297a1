//! Scriptable far ends: what is on the other side of each simulated line.
//!
//! An analog FXS port has a [`Phone`]; an analog FXO port has a [`CoLine`]
//! (the central office); a T1/E1 timeslot has a [`Trunk`] end whose audio and
//! ABCD bits the control socket drives, unless its span is cross-connected.
//! Far ends see the line as hardware would: hook signals, ring voltage,
//! polarity, battery and audio. They act on the channel only through
//! [`Signal`]s that the model applies the way a card driver would.

pub mod audio;
pub mod co;
pub mod phone;

pub use audio::{AudioEnd, Recorder, Source};
pub use co::CoLine;
pub use phone::Phone;

/// What a far end does to its channel during one tick.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Signal {
    /// Report a receive hook signal (`dahdi_hooksig`).
    Hook(i32),
    /// Queue an event directly (`dahdi_qevent_lock`), e.g. POLARITY.
    Event(i32),
    /// Set the channel alarm (`dahdi_alarm_channel`).
    Alarm(u32),
}

/// The host side of an analog port as the far end sees it this tick.
pub struct PortIn<'a> {
    /// Audio the host transmits, linear.
    pub tx: &'a [i16],
    /// `txhooksig`: ONHOOK/OFFHOOK/START/KEWL.
    pub txhooksig: i32,
    /// Polarity reversed by the host (SETPOLARITY).
    pub polarity: bool,
    /// Message-waiting indication set by the host (VMWI).
    pub vmwi: i32,
    /// On-hook transfer active (audio passes to an on-hook phone).
    pub oht: bool,
    pub now_ms: u64,
}

/// A T1/E1 timeslot's far end when the span is external: the control socket
/// sets its ABCD bits and audio.
#[derive(Clone, Debug, Default)]
pub struct Trunk {
    pub bits: u32,
    pub audio: AudioEnd,
    /// Last ABCD bits the host sent, with the time they changed.
    pub seen_bits: Vec<(u64, u32)>,
}

/// The far end attached to one channel.
#[derive(Debug, Default)]
pub enum Line {
    /// Nothing attached.
    #[default]
    None,
    Phone(Box<Phone>),
    Co(Box<CoLine>),
    Trunk(Box<Trunk>),
}

impl Line {
    /// The audio end, for play and record commands.
    pub fn audio_mut(&mut self) -> Option<&mut AudioEnd> {
        match self {
            Line::None => None,
            Line::Phone(p) => Some(&mut p.audio),
            Line::Co(c) => Some(&mut c.audio),
            Line::Trunk(t) => Some(&mut t.audio),
        }
    }
}
