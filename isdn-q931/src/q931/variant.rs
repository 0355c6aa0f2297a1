//! Switch variants as data.
//!
//! Everything that differs between NI-2, DMS-100, 4ESS, 5ESS, EuroISDN and
//! QSIG lives in one [`SwitchVariant`] value per switch type; the state
//! machines only read its fields and never ask which switch they talk to.
//! The values are plain data with public fields, so a deployment can start
//! from [`SwitchVariant::for_switch`] and adjust one field.
//!
//! | field | NI-2 | DMS-100 | 4ESS | 5ESS | EuroISDN E1 | EuroISDN T1 | QSIG |
//! |---|---|---|---|---|---|---|---|
//! | default span, law | T1 µ | T1 µ | T1 µ | T1 µ | E1 A | T1 µ | E1 A |
//! | SERVICE / SERVICE ACK | pd 0x43 | pd 0x03 | pd 0x03 | pd 0x03 | — | — | — |
//! | calling name | NI-2 facility | display | NI-2 facility | NI-2 facility | display | display | QSIG facility |
//! | preferred channel allowed | yes | yes | no (exclusive) | yes | yes | yes | yes |
//! | RESTART classes sent | 0, 6 | 0, 6 | 0, 6 | 0, 6 | 0, 6, 7 | 0, 6, 7 | 0, 6, 7 |
//! | progress indicator in CALL PROCEEDING | yes | no | no | yes | yes | yes | yes |
//! | sending complete IE | no | no | no | no | yes | yes | yes |
//! | overlap dialling | no | no | no | no | yes | yes | yes |
//! | channel id mandatory in SETUP | both ways | both ways | both ways | both ways | from network | from network | both ways |
//! | other codesets passed through | 5, 6 | 5, 6 | 6, 7 | 5, 6, 7 | 5, 6 | 5, 6 | 4, 5 |
//! | T309 | 90 s | 90 s | 90 s | 90 s | 6 s | 6 s | 90 s |
//! | T310 (user / network) | 10 / 10 s | 10 / 10 s | 10 / 10 s | 10 / 10 s | 30 / 10 s | 30 / 10 s | 30 / 30 s |
//! | diversion counter operation | — | — | — | — | 15 | 15 | 21 |
//!
//! Timer defaults otherwise follow Q.931 Tables 9-1/9-2: T301 3 min, T302
//! 15 s, T303 4 s, T304 30 s (user) / 20 s (network), T305 30 s, T306 30 s,
//! T308 4 s, T312 6 s (T303 + 2 s), T313 4 s, T316 2 min, T317 1 min (less
//! than T316), T322 4 s, and the maintenance timer T3M1 2 min.

use std::time::Duration;

use super::config::InterfaceKind;
use super::types::Side;
use crate::wire::ie::{Location, RestartClass};
use crate::wire::{IeId, MessageType, ProtocolDiscriminator};

/// The switch types (protocol variants) the stack knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SwitchType {
    /// Telcordia National ISDN-2.
    Ni2,
    /// Nortel DMS-100.
    Dms100,
    /// AT&T 4ESS (TR 41459).
    Att4ess,
    /// Lucent 5ESS (custom / NI).
    Lucent5ess,
    /// ETSI EN 300 403-1 on an E1.
    EuroIsdnE1,
    /// ETSI EN 300 403-1 on a T1 (as used in some Asian networks).
    EuroIsdnT1,
    /// ECMA-143 / ISO/IEC 11572 QSIG basic call.
    Qsig,
}

impl SwitchType {
    /// Every switch type, in table order.
    pub const ALL: [SwitchType; 7] =
        [SwitchType::Ni2, SwitchType::Dms100, SwitchType::Att4ess, SwitchType::Lucent5ess, SwitchType::EuroIsdnE1, SwitchType::EuroIsdnT1, SwitchType::Qsig];
}

/// The layer 3 timers (Q.931 §9, Tables 9-1 and 9-2). Every one is
/// configurable; see the module documentation for the defaults.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Timers {
    /// ALERTING received, waiting for CONNECT.
    pub t301: Duration,
    /// SETUP ACKNOWLEDGE sent, waiting for more digits (restarted by each
    /// INFORMATION).
    pub t302: Duration,
    /// SETUP sent, waiting for the first answer; resent once.
    pub t303: Duration,
    /// SETUP ACKNOWLEDGE received (overlap sending), restarted by each
    /// INFORMATION sent.
    pub t304: Duration,
    /// DISCONNECT sent, waiting for RELEASE.
    pub t305: Duration,
    /// Network only: DISCONNECT with in-band tones (progress #8) sent.
    pub t306: Duration,
    /// RELEASE sent, waiting for RELEASE COMPLETE; resent once.
    pub t308: Duration,
    /// Data link lost with active calls: how long they survive.
    pub t309: Duration,
    /// CALL PROCEEDING received, waiting for ALERTING/CONNECT/PROGRESS.
    pub t310: Duration,
    /// Point-to-multipoint SETUP supervision. Not used on a PRI (always
    /// point-to-point); kept so a configuration can carry it.
    pub t312: Duration,
    /// User only: CONNECT sent, waiting for CONNECT ACKNOWLEDGE.
    pub t313: Duration,
    /// RESTART sent, waiting for RESTART ACKNOWLEDGE.
    pub t316: Duration,
    /// RESTART received, internal clearing bound. This stack clears the
    /// restarted channels at once, so it never runs; kept for
    /// configuration completeness.
    pub t317: Duration,
    /// STATUS ENQUIRY sent, waiting for STATUS.
    pub t322: Duration,
    /// SERVICE sent, waiting for SERVICE ACKNOWLEDGE (AT&T T3M1).
    pub t3m1: Duration,
}

impl Timers {
    /// Q.931 defaults for one side.
    pub const fn q931(side: Side) -> Timers {
        let (t304, t310) = match side {
            Side::User => (30, 30),
            Side::Network => (20, 10),
        };
        Timers {
            t301: secs(180),
            t302: secs(15),
            t303: secs(4),
            t304: secs(t304),
            t305: secs(30),
            t306: secs(30),
            t308: secs(4),
            t309: secs(6),
            t310: secs(t310),
            t312: secs(6),
            t313: secs(4),
            t316: secs(120),
            t317: secs(60),
            t322: secs(4),
            t3m1: secs(120),
        }
    }

    /// North American switches: Q.931 with T309 90 s and T310 10 s.
    const fn north_american(side: Side) -> Timers {
        let mut t = Timers::q931(side);
        t.t309 = secs(90);
        t.t310 = secs(10);
        t
    }

    /// ECMA-143: symmetric, T309 90 s, T310 30 s.
    const fn qsig() -> Timers {
        let mut t = Timers::q931(Side::User);
        t.t309 = secs(90);
        t.t310 = secs(30);
        t.t304 = secs(30);
        t
    }

    /// Every timer, with its name, for display and checks.
    pub fn all(&self) -> [(&'static str, Duration); 15] {
        [
            ("T301", self.t301),
            ("T302", self.t302),
            ("T303", self.t303),
            ("T304", self.t304),
            ("T305", self.t305),
            ("T306", self.t306),
            ("T308", self.t308),
            ("T309", self.t309),
            ("T310", self.t310),
            ("T312", self.t312),
            ("T313", self.t313),
            ("T316", self.t316),
            ("T317", self.t317),
            ("T322", self.t322),
            ("T3M1", self.t3m1),
        ]
    }
}

const fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

/// How the calling (and connected) name travels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum NameEncoding {
    /// NI-2 name identification: facility IE, networking-extensions
    /// profile, interpretation APDU, callingName invoke (also used by the
    /// AT&T switches).
    Ni2Facility,
    /// QSIG name identification (ECMA-164): facility IE with a network
    /// facility extension.
    QsigFacility,
    /// A display IE carrying the name text (DMS-100, ETSI networks).
    Display,
    /// Names are not sent.
    None,
}

/// Information elements that must be present in one message type. Only
/// messages received from `from` are checked (`None`: from either side).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct MandatoryIes {
    pub message: MessageType,
    /// The side that sends the message.
    pub from: Option<Side>,
    pub ies: &'static [IeId],
}

const fn m(message: MessageType, from: Option<Side>, ies: &'static [IeId]) -> MandatoryIes {
    MandatoryIes { message, from, ies }
}

/// Mandatory IEs common to every variant (Q.931 §3). Cause in RELEASE
/// and RELEASE COMPLETE is mandatory only in the first clearing message;
/// the state machine checks that itself.
const BASE_MANDATORY: [MandatoryIes; 9] = [
    m(MessageType::Setup, None, &[IeId::BEARER_CAPABILITY]),
    m(MessageType::Disconnect, None, &[IeId::CAUSE]),
    m(MessageType::Status, None, &[IeId::CAUSE, IeId::CALL_STATE]),
    m(MessageType::Progress, None, &[IeId::PROGRESS_INDICATOR]),
    m(MessageType::Notify, None, &[IeId::NOTIFICATION_INDICATOR]),
    m(MessageType::Restart, None, &[IeId::RESTART_INDICATOR]),
    m(MessageType::RestartAcknowledge, None, &[IeId::RESTART_INDICATOR]),
    m(MessageType::Facility, None, &[IeId::FACILITY]),
    m(MessageType::Service, None, &[IeId::CHANGE_STATUS, IeId::CHANNEL_ID]),
];

/// PRI SETUP from either side carries the channel (ANSI T1.607, NI-2,
/// ECMA-143).
const MANDATORY_CHANNEL_BOTH: [MandatoryIes; 10] = concat_rules(BASE_MANDATORY, m(MessageType::Setup, None, &[IeId::CHANNEL_ID]));

/// ETSI: the network's SETUP carries the channel, the user's may omit it
/// ("any channel").
const MANDATORY_CHANNEL_FROM_NETWORK: [MandatoryIes; 10] = concat_rules(BASE_MANDATORY, m(MessageType::Setup, Some(Side::Network), &[IeId::CHANNEL_ID]));

const fn concat_rules(base: [MandatoryIes; 9], extra: MandatoryIes) -> [MandatoryIes; 10] {
    let mut out = [extra; 10];
    let mut i = 0;
    while i < 9 {
        out[i] = base[i];
        i += 1;
    }
    out
}

/// RESTART classes by name, for the tables.
const CLASSES_NA: &[RestartClass] = &[RestartClass::Indicated, RestartClass::SingleInterface];
const CLASSES_ALL: &[RestartClass] = &[RestartClass::Indicated, RestartClass::SingleInterface, RestartClass::AllInterfaces];

/// Everything that differs between switch types. See the module
/// documentation for the table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SwitchVariant {
    pub switch_type: SwitchType,
    pub name: &'static str,
    /// Timer defaults when this stack is the user side.
    pub user_timers: Timers,
    /// Timer defaults when this stack is the network side.
    pub network_timers: Timers,
    /// The span type of a single-interface configuration; it also gives
    /// the default G.711 law (µ-law on a T1, A-law on an E1).
    pub interface_kind: InterfaceKind,
    /// SERVICE / SERVICE ACKNOWLEDGE support and the protocol
    /// discriminator they are sent with (0x03 AT&T, 0x43 national; the
    /// message type codes differ between the two, see
    /// [`MessageType::from_byte`]). `None`: maintenance messages are
    /// ignored like any unknown protocol discriminator.
    pub service_pd: Option<ProtocolDiscriminator>,
    /// How calling and connected names are sent (all encodings are
    /// understood on receipt).
    pub name_encoding: NameEncoding,
    /// Whether a channel may be offered as "preferred" in SETUP (else
    /// always "exclusive").
    pub preferred_channel: bool,
    /// The RESTART classes this switch uses. Channels are always restarted
    /// with class 0 (one channel per message); a whole interface with
    /// class 6 if listed, all interfaces with class 7 if listed (otherwise
    /// one class-6 RESTART per interface, or one class-0 per channel).
    /// Every class is accepted on receipt.
    pub restart_classes: &'static [RestartClass],
    /// Whether a progress indicator may ride in CALL PROCEEDING; if not, a
    /// separate PROGRESS follows it.
    pub progress_in_call_proceeding: bool,
    /// Whether the sending complete IE is sent (en-bloc SETUP and the last
    /// INFORMATION).
    pub sending_complete_ie: bool,
    /// Whether overlap sending/receiving (SETUP ACKNOWLEDGE, INFORMATION
    /// with digits) is offered. Without it a SETUP is complete (en bloc)
    /// even without the sending complete IE, and the overlap commands are
    /// refused.
    pub overlap_dialing: bool,
    /// Mandatory IEs per message type and sending side.
    pub mandatory: &'static [MandatoryIes],
    /// Codesets other than 0 whose IEs are accepted without comment
    /// (passed through as raw IEs). IEs in any other codeset are reported
    /// with STATUS cause 99.
    pub codesets: &'static [u8],
    /// After the second T308 expiry the B-channel is "placed in a
    /// maintenance condition": with this flag the stack restarts it
    /// (RESTART class 0) before using it again; without it the channel is
    /// freed at once.
    pub restart_after_t308: bool,
    /// Local operation code of divertingLegInformation2 in FACILITY,
    /// whose first argument is the diversion counter (ETSI 15, QSIG 21).
    pub diversion_counter_operation: Option<i64>,
    /// Location in the causes this stack generates, user side.
    pub user_location: Location,
    /// Location in the causes this stack generates, network side.
    pub network_location: Location,
}

impl SwitchVariant {
    /// The variant table entry for a switch type.
    pub fn for_switch(switch: SwitchType) -> SwitchVariant {
        match switch {
            SwitchType::Ni2 => SwitchVariant::NI2,
            SwitchType::Dms100 => SwitchVariant::DMS100,
            SwitchType::Att4ess => SwitchVariant::ATT4ESS,
            SwitchType::Lucent5ess => SwitchVariant::LUCENT5ESS,
            SwitchType::EuroIsdnE1 => SwitchVariant::EURO_E1,
            SwitchType::EuroIsdnT1 => SwitchVariant::EURO_T1,
            SwitchType::Qsig => SwitchVariant::QSIG,
        }
    }

    /// The timer defaults for one side.
    pub fn timers(&self, side: Side) -> Timers {
        match side {
            Side::User => self.user_timers,
            Side::Network => self.network_timers,
        }
    }

    /// The location of causes this stack generates.
    pub fn location(&self, side: Side) -> Location {
        match side {
            Side::User => self.user_location,
            Side::Network => self.network_location,
        }
    }

    /// The IEs a message received from `from` must carry.
    pub fn mandatory_ies(&self, message: MessageType, from: Side) -> Vec<IeId> {
        let message = match message {
            MessageType::ServiceAcknowledge => MessageType::Service,
            m => m,
        };
        let mut out = Vec::new();
        for rule in self.mandatory {
            if rule.message == message && rule.from.is_none_or(|s| s == from) {
                for ie in rule.ies {
                    if !out.contains(ie) {
                        out.push(*ie);
                    }
                }
            }
        }
        out
    }

    /// Whether this variant uses a RESTART class.
    pub fn uses_restart_class(&self, class: RestartClass) -> bool {
        self.restart_classes.contains(&class)
    }

    pub const NI2: SwitchVariant = SwitchVariant {
        switch_type: SwitchType::Ni2,
        name: "National ISDN-2",
        user_timers: Timers::north_american(Side::User),
        network_timers: Timers::north_american(Side::Network),
        interface_kind: InterfaceKind::T1,
        service_pd: Some(ProtocolDiscriminator::NationalMaintenance),
        name_encoding: NameEncoding::Ni2Facility,
        preferred_channel: true,
        restart_classes: CLASSES_NA,
        progress_in_call_proceeding: true,
        sending_complete_ie: false,
        overlap_dialing: false,
        mandatory: &MANDATORY_CHANNEL_BOTH,
        codesets: &[5, 6],
        restart_after_t308: true,
        diversion_counter_operation: None,
        user_location: Location::User,
        network_location: Location::PublicLocal,
    };

    pub const DMS100: SwitchVariant = SwitchVariant {
        switch_type: SwitchType::Dms100,
        name: "Nortel DMS-100",
        service_pd: Some(ProtocolDiscriminator::AttMaintenance),
        name_encoding: NameEncoding::Display,
        progress_in_call_proceeding: false,
        ..SwitchVariant::NI2
    };

    pub const ATT4ESS: SwitchVariant = SwitchVariant {
        switch_type: SwitchType::Att4ess,
        name: "AT&T 4ESS",
        service_pd: Some(ProtocolDiscriminator::AttMaintenance),
        preferred_channel: false,
        progress_in_call_proceeding: false,
        codesets: &[6, 7],
        ..SwitchVariant::NI2
    };

    pub const LUCENT5ESS: SwitchVariant = SwitchVariant {
        switch_type: SwitchType::Lucent5ess,
        name: "Lucent 5ESS",
        service_pd: Some(ProtocolDiscriminator::AttMaintenance),
        codesets: &[5, 6, 7],
        ..SwitchVariant::NI2
    };

    pub const EURO_E1: SwitchVariant = SwitchVariant {
        switch_type: SwitchType::EuroIsdnE1,
        name: "EuroISDN (ETSI EN 300 403) E1",
        user_timers: Timers::q931(Side::User),
        network_timers: Timers::q931(Side::Network),
        interface_kind: InterfaceKind::E1,
        service_pd: None,
        name_encoding: NameEncoding::Display,
        preferred_channel: true,
        restart_classes: CLASSES_ALL,
        progress_in_call_proceeding: true,
        sending_complete_ie: true,
        overlap_dialing: true,
        mandatory: &MANDATORY_CHANNEL_FROM_NETWORK,
        codesets: &[5, 6],
        restart_after_t308: true,
        diversion_counter_operation: Some(15),
        user_location: Location::User,
        network_location: Location::PublicLocal,
    };

    pub const EURO_T1: SwitchVariant = SwitchVariant {
        switch_type: SwitchType::EuroIsdnT1,
        name: "EuroISDN (ETSI EN 300 403) T1",
        interface_kind: InterfaceKind::T1,
        ..SwitchVariant::EURO_E1
    };

    pub const QSIG: SwitchVariant = SwitchVariant {
        switch_type: SwitchType::Qsig,
        name: "QSIG (ECMA-143)",
        user_timers: Timers::qsig(),
        network_timers: Timers::qsig(),
        interface_kind: InterfaceKind::E1,
        service_pd: None,
        name_encoding: NameEncoding::QsigFacility,
        preferred_channel: true,
        restart_classes: CLASSES_ALL,
        progress_in_call_proceeding: true,
        sending_complete_ie: true,
        overlap_dialing: true,
        mandatory: &MANDATORY_CHANNEL_BOTH,
        codesets: &[4, 5],
        restart_after_t308: true,
        diversion_counter_operation: Some(21),
        user_location: Location::PrivateLocal,
        network_location: Location::PrivateLocal,
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_is_consistent() {
        for s in SwitchType::ALL {
            let v = SwitchVariant::for_switch(s);
            assert_eq!(v.switch_type, s);
            for side in [Side::User, Side::Network] {
                let t = v.timers(side);
                assert!(t.t317 < t.t316, "{s:?}");
                assert!(t.t303 > Duration::ZERO);
            }
            assert_eq!(v.mandatory_ies(MessageType::Setup, Side::Network), vec![IeId::BEARER_CAPABILITY, IeId::CHANNEL_ID]);
            assert!(v.uses_restart_class(RestartClass::Indicated));
        }
        let e = SwitchVariant::EURO_E1;
        assert_eq!(e.mandatory_ies(MessageType::Setup, Side::User), vec![IeId::BEARER_CAPABILITY]);
        assert_eq!(SwitchVariant::NI2.mandatory_ies(MessageType::ServiceAcknowledge, Side::User), vec![IeId::CHANGE_STATUS, IeId::CHANNEL_ID]);
    }
}
