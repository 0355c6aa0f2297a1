//! A simulated span: an analog card's ports or one T1/E1 line.

use super::k::*;

/// The physical kind of a span.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SpanKind {
    T1,
    E1,
    J1,
    /// Analog ports (FXS and FXO modules mixed), like a TDM410P.
    Analog,
}

impl SpanKind {
    /// Channels a span of this kind carries (E1 counts timeslots 1–31).
    pub fn channels(self) -> u32 {
        match self {
            SpanKind::T1 | SpanKind::J1 => 24,
            SpanKind::E1 => 31,
            SpanKind::Analog => 0,
        }
    }
    /// Line configurations the framer supports (`linecompat`).
    pub fn linecompat(self) -> u32 {
        match self {
            SpanKind::T1 | SpanKind::J1 => CONFIG_AMI | CONFIG_B8ZS | CONFIG_D4 | CONFIG_ESF,
            SpanKind::E1 => CONFIG_AMI | CONFIG_HDB3 | CONFIG_CCS | CONFIG_CRC4,
            SpanKind::Analog => 0,
        }
    }
    /// The span type string SPANSTAT reports.
    pub fn type_str(self) -> &'static str {
        match self {
            SpanKind::T1 => "T1",
            SpanKind::E1 => "E1",
            SpanKind::J1 => "J1",
            SpanKind::Analog => "ANALOG_MIXED",
        }
    }
}

/// What a span's line is connected to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SpanFar {
    /// Nothing: the line is open (a real card would be in red alarm).
    None,
    /// Back to back with another span (by index), like a crossover cable.
    Cross(usize),
    /// An external program: D-channel over a SOCK_SEQPACKET socket, B-channels
    /// through the control socket.
    External,
    /// Analog ports, each with its own far end.
    Ports,
}

/// Error counters SPANSTAT reports.
#[derive(Clone, Copy, Debug, Default, serde::Serialize)]
pub struct SpanCounters {
    pub bpv: u32,
    pub crc4: u32,
    pub ebit: u32,
    pub fas: u32,
    pub fe: u32,
    pub cv: u32,
    pub be: u32,
    pub prbs: u32,
    pub errsec: u32,
}

/// A simulated span.
pub struct Span {
    /// DAHDI span number; 0 while the span is not assigned.
    pub spanno: u32,
    /// The device (card) the span is on, by index.
    pub device: usize,
    /// Position on its device, from 1 (`local_spanno`).
    pub local: u32,
    /// Index in [`Dahdi::chans`](super::Dahdi::chans) of the span's first
    /// channel (channels are kept in hardware order, whatever their numbers).
    pub chan_base: usize,
    pub name: String,
    pub desc: String,
    pub kind: SpanKind,
    pub manufacturer: String,
    pub devicetype: String,
    pub location: String,
    /// Channel number of the first channel (`basechan`); 0 while unassigned.
    pub first_chan: u32,
    pub nchans: u32,
    pub lineconfig: u32,
    pub lbo: i32,
    /// Timing priority given by SPANCONFIG (0 = never a sync source).
    pub sync_prio: i32,
    pub syncsrc: i32,
    pub alarms: u32,
    pub running: bool,
    pub counters: SpanCounters,
    pub far: SpanFar,
    /// Channels that carry robbed-bit / CAS signalling and hook state machines.
    pub rbs: bool,
    pub maint: i32,
    /// Alarms the hardware reported before the span was disabled by an
    /// unassignment (restored on the next assignment, as a driver re-reports them).
    pub saved_alarms: u32,
}

impl Span {
    /// The channel numbers of an assigned span (empty while unassigned).
    pub fn chan_range(&self) -> std::ops::RangeInclusive<u32> {
        if self.spanno == 0 || self.nchans == 0 {
            #[allow(clippy::reversed_empty_ranges)]
            return 1..=0;
        }
        self.first_chan..=self.first_chan + self.nchans - 1
    }

    /// Indices of the span's channels in [`Dahdi::chans`](super::Dahdi::chans).
    pub fn hw_range(&self) -> std::ops::Range<usize> {
        self.chan_base..self.chan_base + self.nchans as usize
    }

    /// Whether the span has a span number (is registered with DAHDI).
    pub fn assigned(&self) -> bool {
        self.spanno != 0
    }

    /// `is_digital` (dahdi_is_digital_span: the span has line configurations).
    pub fn is_digital(&self) -> bool {
        self.kind.linecompat() > 0
    }

    /// Alarms that stop the line carrying anything.
    pub fn line_down(&self) -> bool {
        self.alarms & (ALARM_RED | ALARM_LOS | ALARM_BLUE | ALARM_NOTOPEN) != 0
    }
}
