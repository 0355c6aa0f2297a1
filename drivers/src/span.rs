//! Span status and alarms (DAHDI_SPANSTAT), and a watcher that reports changes.

use dahdi_sys as d;

use crate::channel::cstr;

/// The alarms a span can be in.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, serde::Serialize)]
pub struct Alarms(pub u32);

impl Alarms {
    pub const RECOVER: u32 = d::DAHDI_ALARM_RECOVER;
    pub const LOOPBACK: u32 = d::DAHDI_ALARM_LOOPBACK;
    pub const YELLOW: u32 = d::DAHDI_ALARM_YELLOW;
    pub const RED: u32 = d::DAHDI_ALARM_RED;
    pub const BLUE: u32 = d::DAHDI_ALARM_BLUE;
    pub const NOTOPEN: u32 = d::DAHDI_ALARM_NOTOPEN;
    pub const LOS: u32 = d::DAHDI_ALARM_LOS;
    pub const LFA: u32 = d::DAHDI_ALARM_LFA;
    pub const LMFA: u32 = d::DAHDI_ALARM_LMFA;

    const NAMES: [(u32, &'static str); 9] = [
        (Self::RED, "red"),
        (Self::YELLOW, "yellow"),
        (Self::BLUE, "blue"),
        (Self::LOS, "los"),
        (Self::LFA, "lfa"),
        (Self::LMFA, "lmfa"),
        (Self::LOOPBACK, "loopback"),
        (Self::RECOVER, "recover"),
        (Self::NOTOPEN, "notopen"),
    ];

    pub fn is_ok(self) -> bool {
        self.0 == 0
    }

    pub fn contains(self, bit: u32) -> bool {
        self.0 & bit != 0
    }

    /// Alarm names, most severe first ("ok" when none).
    pub fn names(self) -> Vec<&'static str> {
        Self::NAMES.iter().filter(|(b, _)| self.0 & b != 0).map(|(_, n)| *n).collect()
    }
}

impl std::fmt::Display for Alarms {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.is_ok() { f.write_str("ok") } else { f.write_str(&self.names().join(",")) }
    }
}

/// Error counters of a span.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct Counters {
    pub bpv: u32,
    pub crc4: u32,
    pub ebit: u32,
    pub fas: u32,
    pub fe: u32,
    pub cv: u32,
    pub be: u32,
    pub prbs: u32,
    pub errsec: u32,
    pub irqmisses: u32,
}

/// A span's status as SPANSTAT reports it.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct SpanStatus {
    pub span: u32,
    pub name: String,
    pub description: String,
    /// "T1", "E1", "J1", "FXS", "FXO", or "ANALO" (DAHDI truncates
    /// ANALOG_MIXED to the field's 5 characters).
    pub span_type: String,
    pub alarms: Alarms,
    pub counters: Counters,
    pub sync_source: u32,
    pub configured_channels: u32,
    pub total_channels: u32,
    pub total_spans: u32,
    pub lbo: i32,
    pub lbo_name: String,
    pub lineconfig: u32,
    pub linecompat: u32,
    pub manufacturer: String,
    pub device_type: String,
    pub location: String,
}

impl SpanStatus {
    pub fn from_raw(s: &d::dahdi_spaninfo) -> SpanStatus {
        SpanStatus {
            span: s.spanno as u32,
            name: cstr(&s.name),
            description: cstr(&s.desc),
            span_type: cstr(&s.spantype),
            alarms: Alarms(s.alarms as u32),
            counters: Counters {
                bpv: s.bpvcount as u32,
                crc4: s.crc4count as u32,
                ebit: s.ebitcount as u32,
                fas: s.fascount as u32,
                fe: s.fecount,
                cv: s.cvcount,
                be: s.becount,
                prbs: s.prbs,
                errsec: s.errsec,
                irqmisses: s.irqmisses as u32,
            },
            sync_source: s.syncsrc as u32,
            configured_channels: s.numchans as u32,
            total_channels: s.totalchans as u32,
            total_spans: s.totalspans as u32,
            lbo: s.lbo,
            lbo_name: cstr(&s.lboname),
            lineconfig: s.lineconfig as u32,
            linecompat: s.linecompat as u32,
            manufacturer: cstr(&s.manufacturer),
            device_type: cstr(&s.devicetype),
            location: cstr(&s.location),
        }
    }

    /// Framing from the line configuration ("esf", "d4", "cas", "ccs").
    pub fn framing(&self) -> &'static str {
        let lc = self.lineconfig;
        if lc & d::DAHDI_CONFIG_ESF != 0 {
            "esf"
        } else if lc & d::DAHDI_CONFIG_D4 != 0 {
            "d4"
        } else if lc & d::DAHDI_CONFIG_CCS != 0 {
            "ccs"
        } else if self.span_type == "E1" {
            "cas"
        } else {
            "-"
        }
    }

    /// Line coding ("b8zs", "ami", "hdb3").
    pub fn coding(&self) -> &'static str {
        let lc = self.lineconfig;
        if lc & d::DAHDI_CONFIG_B8ZS != 0 {
            "b8zs"
        } else if lc & d::DAHDI_CONFIG_HDB3 != 0 {
            "hdb3"
        } else if lc & d::DAHDI_CONFIG_AMI != 0 {
            "ami"
        } else {
            "-"
        }
    }

    pub fn crc4(&self) -> bool {
        self.lineconfig & d::DAHDI_CONFIG_CRC4 != 0
    }
}

/// A change in a span's alarms, found by [`AlarmWatch::poll`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AlarmChange {
    pub span: u32,
    pub before: Alarms,
    pub after: Alarms,
}

/// Watches spans' alarms through the control device. Channels also get
/// DAHDI_EVENT_ALARM/NOALARM; this covers spans with no channel open.
pub struct AlarmWatch {
    last: std::collections::BTreeMap<u32, Alarms>,
}

impl Default for AlarmWatch {
    fn default() -> Self {
        AlarmWatch::new()
    }
}

impl AlarmWatch {
    pub fn new() -> AlarmWatch {
        AlarmWatch { last: Default::default() }
    }

    /// Compare the current status of every span with the last call's.
    pub fn poll(&mut self, ctl: &crate::ctl::Ctl) -> crate::error::Result<Vec<AlarmChange>> {
        let mut changes = Vec::new();
        for s in ctl.spans()? {
            let before = self.last.insert(s.span, s.alarms);
            match before {
                Some(b) if b != s.alarms => changes.push(AlarmChange { span: s.span, before: b, after: s.alarms }),
                None if !s.alarms.is_ok() => changes.push(AlarmChange { span: s.span, before: Alarms(0), after: s.alarms }),
                _ => {}
            }
        }
        Ok(changes)
    }
}
