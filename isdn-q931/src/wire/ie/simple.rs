//! Small fixed-layout IEs: progress indicator, display, signal,
//! notification indicator, call state, restart indicator, change status,
//! keypad facility, user-user, date/time.

use super::{CodingStandard, Location, coded_enum, ie_repr, ie_view, is_ia5};
use crate::wire::Error;

// ---------------------------------------------------------------------------
// Progress indicator (0x1E), Q.931 §4.5.23

coded_enum! {
    /// Progress description (7 bits).
    ProgressDescription: 0x7F {
        /// 1: call is not end-to-end ISDN; further call progress
        /// information may be available in-band.
        NotEndToEndIsdn = 1,
        /// 2: destination address is non-ISDN.
        DestinationNotIsdn = 2,
        /// 3: origination address is non-ISDN.
        OriginationNotIsdn = 3,
        /// 4: call has returned to the ISDN.
        ReturnedToIsdn = 4,
        /// 5: interworking has occurred and has resulted in a
        /// telecommunication service change.
        ServiceChange = 5,
        /// 8: in-band information or an appropriate pattern is now
        /// available.
        InbandAvailable = 8,
        /// 10: delay in response at the called interface (ANSI/NI-2).
        DelayAtCalledInterface = 10,
    }
}

ie_view! {
    /// View of progress indicator contents (2 octets).
    ProgressIndicator
}

impl<T: AsRef<[u8]>> ProgressIndicator<T> {
    /// Exactly two octets, both with ext = 1, spare bit 0.
    pub fn check(&self) -> Result<(), Error> {
        match self.buffer.as_ref() {
            [a, b] if a & 0x90 == 0x80 && b & 0x80 != 0 => Ok(()),
            d if d.len() < 2 => Err(Error::Truncated),
            _ => Err(Error::Malformed),
        }
    }
    pub fn coding_standard(&self) -> CodingStandard {
        CodingStandard::from_bits(self.byte(0) >> 5)
    }
    pub fn location(&self) -> Location {
        Location::from_bits(self.byte(0))
    }
    pub fn description(&self) -> ProgressDescription {
        ProgressDescription::from_bits(self.byte(1))
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> ProgressIndicator<T> {
    pub fn set_location(&mut self, loc: Location) {
        self.set_bits(0, 0x0F, loc.bits());
    }
    pub fn set_description(&mut self, d: ProgressDescription) {
        self.set_byte(1, 0x80 | d.bits());
    }
}

/// Typed progress indicator.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ProgressIndicatorRepr {
    pub coding_standard: CodingStandard,
    pub location: Location,
    pub description: ProgressDescription,
}

impl ProgressIndicatorRepr {
    /// An ITU-coded progress indicator.
    pub fn new(location: Location, description: ProgressDescription) -> ProgressIndicatorRepr {
        ProgressIndicatorRepr { coding_standard: CodingStandard::Itu, location, description }
    }
    pub fn decode(contents: &[u8]) -> Result<ProgressIndicatorRepr, Error> {
        let v = ProgressIndicator::new_checked(contents)?;
        Ok(ProgressIndicatorRepr { coding_standard: v.coding_standard(), location: v.location(), description: v.description() })
    }
    pub fn encode(&self, out: &mut Vec<u8>) {
        out.push(0x80 | self.coding_standard.bits() << 5 | self.location.bits());
        out.push(0x80 | self.description.bits());
    }
}

ie_repr!(ProgressIndicatorRepr, ProgressIndicator);

// ---------------------------------------------------------------------------
// Display (0x28), Q.931 §4.5.16

ie_view! {
    /// View of display contents.
    ///
    /// Q.931 says IA5 characters; ANSI T1.607 / NI-2 and ETSI variants may
    /// put a display-type / character-set octet with bit 8 set first
    /// (e.g. 0xB1 "calling party name"). The text itself is taken as
    /// bytes: switches send Latin-1 names.
    Display
}

impl<T: AsRef<[u8]>> Display<T> {
    /// Any contents are acceptable.
    pub fn check(&self) -> Result<(), Error> {
        Ok(())
    }
    /// The leading display-type octet (bit 8 set), if present.
    pub fn display_type(&self) -> Option<u8> {
        self.buffer.as_ref().first().copied().filter(|b| b & 0x80 != 0)
    }
    /// The display text.
    pub fn text(&self) -> &[u8] {
        self.tail(usize::from(self.display_type().is_some()))
    }
}

/// Typed display.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct DisplayRepr {
    /// Leading octet with bit 8 set (NI-2/ETSI display type), if any.
    pub display_type: Option<u8>,
    /// The text; when `display_type` is `None` its first octet must have
    /// bit 8 clear (else it reads back as a display type).
    pub text: Vec<u8>,
}

impl DisplayRepr {
    /// Plain Q.931 display text.
    pub fn new(text: &str) -> DisplayRepr {
        DisplayRepr { display_type: None, text: text.as_bytes().to_vec() }
    }
    /// The text, lossily as UTF-8 (Latin-1 bytes become U+FFFD).
    pub fn text_lossy(&self) -> String {
        String::from_utf8_lossy(&self.text).into_owned()
    }
    pub fn decode(contents: &[u8]) -> Result<DisplayRepr, Error> {
        let v = Display::new_checked(contents)?;
        Ok(DisplayRepr { display_type: v.display_type(), text: v.text().to_vec() })
    }
    pub fn encode(&self, out: &mut Vec<u8>) {
        if let Some(t) = self.display_type {
            out.push(0x80 | t);
        }
        out.extend_from_slice(&self.text);
    }
}

ie_repr!(DisplayRepr, Display);

// ---------------------------------------------------------------------------
// Signal (0x34), Q.931 §4.5.28

coded_enum! {
    /// Signal value (octet 3).
    SignalValue: 0xFF {
        DialToneOn = 0x00,
        RingBackToneOn = 0x01,
        InterceptToneOn = 0x02,
        NetworkCongestionToneOn = 0x03,
        BusyToneOn = 0x04,
        ConfirmToneOn = 0x05,
        AnswerToneOn = 0x06,
        CallWaitingToneOn = 0x07,
        OffHookWarningToneOn = 0x08,
        PreemptionToneOn = 0x09,
        TonesOff = 0x3F,
        AlertingOnPattern0 = 0x40,
        AlertingOnPattern1 = 0x41,
        AlertingOnPattern2 = 0x42,
        AlertingOnPattern3 = 0x43,
        AlertingOnPattern4 = 0x44,
        AlertingOnPattern5 = 0x45,
        AlertingOnPattern6 = 0x46,
        AlertingOnPattern7 = 0x47,
        AlertingOff = 0x4F,
    }
}

ie_view! {
    /// View of signal contents (1 octet).
    Signal
}

impl<T: AsRef<[u8]>> Signal<T> {
    pub fn check(&self) -> Result<(), Error> {
        exactly_one(self.buffer.as_ref())
    }
    pub fn value(&self) -> SignalValue {
        SignalValue::from_bits(self.byte(0))
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Signal<T> {
    pub fn set_value(&mut self, v: SignalValue) {
        self.set_byte(0, v.bits());
    }
}

fn exactly_one(d: &[u8]) -> Result<(), Error> {
    match d.len() {
        0 => Err(Error::Truncated),
        1 => Ok(()),
        _ => Err(Error::Malformed),
    }
}

/// Typed signal.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct SignalRepr {
    pub value: SignalValue,
}

impl SignalRepr {
    pub fn decode(contents: &[u8]) -> Result<SignalRepr, Error> {
        let v = Signal::new_checked(contents)?;
        Ok(SignalRepr { value: v.value() })
    }
    pub fn encode(&self, out: &mut Vec<u8>) {
        out.push(self.value.bits());
    }
}

ie_repr!(SignalRepr, Signal);

// ---------------------------------------------------------------------------
// Notification indicator (0x27), Q.931 §4.5.22 / Q.932

ie_view! {
    /// View of notification indicator contents.
    NotificationIndicator
}

impl<T: AsRef<[u8]>> NotificationIndicator<T> {
    /// Octet 3 with ext = 1; further octets (Q.932 ASN.1 data) allowed.
    pub fn check(&self) -> Result<(), Error> {
        match self.buffer.as_ref().first() {
            None => Err(Error::Truncated),
            Some(b) if b & 0x80 == 0 => Err(Error::Malformed),
            Some(_) => Ok(()),
        }
    }
    /// Notification description (7 bits).
    pub fn description(&self) -> u8 {
        self.byte(0) & 0x7F
    }
    /// Octets after octet 3 (ASN.1 notification data structure).
    pub fn data(&self) -> &[u8] {
        self.tail(1)
    }
}

/// Typed notification indicator.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct NotificationIndicatorRepr {
    /// Notification description (7 bits), see the constants.
    pub description: u8,
    /// Extension data (Q.932, after description 0x40).
    pub data: Vec<u8>,
}

impl NotificationIndicatorRepr {
    pub const USER_SUSPENDED: u8 = 0x00;
    pub const USER_RESUMED: u8 = 0x01;
    pub const BEARER_SERVICE_CHANGE: u8 = 0x02;
    /// Discriminator for extension to ASN.1 encoded component (Q.932).
    pub const ASN1_EXTENSION: u8 = 0x40;
    pub const REMOTE_HOLD: u8 = 0x79;
    pub const REMOTE_RETRIEVAL: u8 = 0x7A;
    pub const CALL_IS_DIVERTING: u8 = 0x7B;

    pub fn new(description: u8) -> NotificationIndicatorRepr {
        NotificationIndicatorRepr { description, data: Vec::new() }
    }
    pub fn decode(contents: &[u8]) -> Result<NotificationIndicatorRepr, Error> {
        let v = NotificationIndicator::new_checked(contents)?;
        Ok(NotificationIndicatorRepr { description: v.description(), data: v.data().to_vec() })
    }
    pub fn encode(&self, out: &mut Vec<u8>) {
        out.push(0x80 | (self.description & 0x7F));
        out.extend_from_slice(&self.data);
    }
}

ie_repr!(NotificationIndicatorRepr, NotificationIndicator);

// ---------------------------------------------------------------------------
// Call state (0x14), Q.931 §4.5.7

coded_enum! {
    /// Call state value (6 bits): U/N states and global-interface REST
    /// states.
    CallStateValue: 0x3F {
        Null = 0,
        CallInitiated = 1,
        OverlapSending = 2,
        OutgoingCallProceeding = 3,
        CallDelivered = 4,
        CallPresent = 6,
        CallReceived = 7,
        ConnectRequest = 8,
        IncomingCallProceeding = 9,
        Active = 10,
        DisconnectRequest = 11,
        DisconnectIndication = 12,
        SuspendRequest = 15,
        ResumeRequest = 17,
        ReleaseRequest = 19,
        /// N22, network side only.
        CallAbort = 22,
        OverlapReceiving = 25,
        /// REST 1 (global call reference).
        RestartRequest = 61,
        /// REST 2 (global call reference).
        Restart = 62,
    }
}

ie_view! {
    /// View of call state contents (1 octet).
    CallState
}

impl<T: AsRef<[u8]>> CallState<T> {
    pub fn check(&self) -> Result<(), Error> {
        exactly_one(self.buffer.as_ref())
    }
    pub fn coding_standard(&self) -> CodingStandard {
        CodingStandard::from_bits(self.byte(0) >> 6)
    }
    pub fn value(&self) -> CallStateValue {
        CallStateValue::from_bits(self.byte(0))
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> CallState<T> {
    pub fn set_value(&mut self, v: CallStateValue) {
        self.set_bits(0, 0x3F, v.bits());
    }
}

/// Typed call state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct CallStateRepr {
    pub coding_standard: CodingStandard,
    pub value: CallStateValue,
}

impl CallStateRepr {
    /// An ITU-coded call state.
    pub fn new(value: CallStateValue) -> CallStateRepr {
        CallStateRepr { coding_standard: CodingStandard::Itu, value }
    }
    pub fn decode(contents: &[u8]) -> Result<CallStateRepr, Error> {
        let v = CallState::new_checked(contents)?;
        Ok(CallStateRepr { coding_standard: v.coding_standard(), value: v.value() })
    }
    pub fn encode(&self, out: &mut Vec<u8>) {
        out.push(self.coding_standard.bits() << 6 | self.value.bits());
    }
}

ie_repr!(CallStateRepr, CallState);

// ---------------------------------------------------------------------------
// Restart indicator (0x79), Q.931 §4.5.25

coded_enum! {
    /// Restart class (3 bits).
    RestartClass: 0x07 {
        /// Channels indicated in the channel identification IE.
        Indicated = 0,
        /// Single interface.
        SingleInterface = 6,
        /// All interfaces.
        AllInterfaces = 7,
    }
}

ie_view! {
    /// View of restart indicator contents (1 octet).
    RestartIndicator
}

impl<T: AsRef<[u8]>> RestartIndicator<T> {
    /// One octet, ext = 1, spare bits 0.
    pub fn check(&self) -> Result<(), Error> {
        exactly_one(self.buffer.as_ref())?;
        if self.byte(0) & 0xF8 != 0x80 {
            return Err(Error::Malformed);
        }
        Ok(())
    }
    pub fn class(&self) -> RestartClass {
        RestartClass::from_bits(self.byte(0))
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> RestartIndicator<T> {
    pub fn set_class(&mut self, c: RestartClass) {
        self.set_byte(0, 0x80 | c.bits());
    }
}

/// Typed restart indicator.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct RestartIndicatorRepr {
    pub class: RestartClass,
}

impl RestartIndicatorRepr {
    pub fn decode(contents: &[u8]) -> Result<RestartIndicatorRepr, Error> {
        let v = RestartIndicator::new_checked(contents)?;
        Ok(RestartIndicatorRepr { class: v.class() })
    }
    pub fn encode(&self, out: &mut Vec<u8>) {
        out.push(0x80 | self.class.bits());
    }
}

ie_repr!(RestartIndicatorRepr, RestartIndicator);

// ---------------------------------------------------------------------------
// Change status (0x01), AT&T / NI-2 maintenance (SERVICE messages)

coded_enum! {
    /// New status (3 bits).
    ServiceStatus: 0x07 {
        InService = 0,
        /// Maintenance (loopback).
        Maintenance = 1,
        OutOfService = 2,
    }
}

ie_view! {
    /// View of change status contents (1 octet):
    /// `ext=1 | preference | spare (3) | new status (3)`.
    ChangeStatus
}

impl<T: AsRef<[u8]>> ChangeStatus<T> {
    /// One octet, ext = 1, spare bits 0.
    pub fn check(&self) -> Result<(), Error> {
        exactly_one(self.buffer.as_ref())?;
        if self.byte(0) & 0xB8 != 0x80 {
            return Err(Error::Malformed);
        }
        Ok(())
    }
    /// Preference bit: 1 = channel (B-channels in the channel
    /// identification IE), 0 = interface.
    pub fn channel_preference(&self) -> bool {
        self.byte(0) & 0x40 != 0
    }
    pub fn status(&self) -> ServiceStatus {
        ServiceStatus::from_bits(self.byte(0))
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> ChangeStatus<T> {
    pub fn set_status(&mut self, s: ServiceStatus) {
        self.set_bits(0, 0x07, s.bits());
    }
}

/// Typed change status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ChangeStatusRepr {
    /// Preference: channel (true) or interface (false).
    pub channel_preference: bool,
    pub status: ServiceStatus,
}

impl ChangeStatusRepr {
    pub fn decode(contents: &[u8]) -> Result<ChangeStatusRepr, Error> {
        let v = ChangeStatus::new_checked(contents)?;
        Ok(ChangeStatusRepr { channel_preference: v.channel_preference(), status: v.status() })
    }
    pub fn encode(&self, out: &mut Vec<u8>) {
        let pref = if self.channel_preference { 0x40 } else { 0 };
        out.push(0x80 | pref | self.status.bits());
    }
}

ie_repr!(ChangeStatusRepr, ChangeStatus);

// ---------------------------------------------------------------------------
// Keypad facility (0x2C), Q.931 §4.5.18

ie_view! {
    /// View of keypad facility contents (IA5 characters).
    KeypadFacility
}

impl<T: AsRef<[u8]>> KeypadFacility<T> {
    /// At least one IA5 character.
    pub fn check(&self) -> Result<(), Error> {
        let d = self.buffer.as_ref();
        if d.is_empty() {
            Err(Error::Truncated)
        } else if !is_ia5(d) {
            Err(Error::Malformed)
        } else {
            Ok(())
        }
    }
    pub fn digits(&self) -> &[u8] {
        self.buffer.as_ref()
    }
}

/// Typed keypad facility.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct KeypadFacilityRepr {
    /// The characters; must be ASCII and non-empty to be valid.
    pub digits: String,
}

impl KeypadFacilityRepr {
    pub fn decode(contents: &[u8]) -> Result<KeypadFacilityRepr, Error> {
        let v = KeypadFacility::new_checked(contents)?;
        Ok(KeypadFacilityRepr { digits: v.digits().iter().map(|&b| b as char).collect() })
    }
    pub fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(self.digits.as_bytes());
    }
}

ie_repr!(KeypadFacilityRepr, KeypadFacility);

// ---------------------------------------------------------------------------
// User-user (0x7E), Q.931 §4.5.30

ie_view! {
    /// View of user-user contents: protocol discriminator, then data.
    UserUser
}

impl<T: AsRef<[u8]>> UserUser<T> {
    pub fn check(&self) -> Result<(), Error> {
        if self.buffer.as_ref().is_empty() { Err(Error::Truncated) } else { Ok(()) }
    }
    /// Protocol discriminator (0x00 user-specific, 0x04 IA5, ...).
    pub fn protocol(&self) -> u8 {
        self.byte(0)
    }
    pub fn data(&self) -> &[u8] {
        self.tail(1)
    }
}

/// Typed user-user information.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct UserUserRepr {
    pub protocol: u8,
    pub data: Vec<u8>,
}

impl UserUserRepr {
    pub const PROTOCOL_USER_SPECIFIC: u8 = 0x00;
    pub const PROTOCOL_IA5: u8 = 0x04;

    pub fn decode(contents: &[u8]) -> Result<UserUserRepr, Error> {
        let v = UserUser::new_checked(contents)?;
        Ok(UserUserRepr { protocol: v.protocol(), data: v.data().to_vec() })
    }
    pub fn encode(&self, out: &mut Vec<u8>) {
        out.push(self.protocol);
        out.extend_from_slice(&self.data);
    }
}

ie_repr!(UserUserRepr, UserUser);

// ---------------------------------------------------------------------------
// Date/time (0x29), Q.931 §4.5.15

ie_view! {
    /// View of date/time contents: year (of century), month, day, then
    /// optional hour, minute, second, binary.
    DateTime
}

impl<T: AsRef<[u8]>> DateTime<T> {
    /// 3 to 6 octets.
    pub fn check(&self) -> Result<(), Error> {
        match self.buffer.as_ref().len() {
            0..=2 => Err(Error::Truncated),
            3..=6 => Ok(()),
            _ => Err(Error::Malformed),
        }
    }
    pub fn year(&self) -> u8 {
        self.byte(0)
    }
    pub fn month(&self) -> u8 {
        self.byte(1)
    }
    pub fn day(&self) -> u8 {
        self.byte(2)
    }
    pub fn hour(&self) -> Option<u8> {
        self.buffer.as_ref().get(3).copied()
    }
    pub fn minute(&self) -> Option<u8> {
        self.buffer.as_ref().get(4).copied()
    }
    pub fn second(&self) -> Option<u8> {
        self.buffer.as_ref().get(5).copied()
    }
}

/// Typed date/time. Emission stops at the first absent field, so
/// `minute` is only sent with `hour`, `second` only with `minute`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct DateTimeRepr {
    pub year: u8,
    pub month: u8,
    pub day: u8,
    pub hour: Option<u8>,
    pub minute: Option<u8>,
    pub second: Option<u8>,
}

impl DateTimeRepr {
    pub fn decode(contents: &[u8]) -> Result<DateTimeRepr, Error> {
        let v = DateTime::new_checked(contents)?;
        Ok(DateTimeRepr { year: v.year(), month: v.month(), day: v.day(), hour: v.hour(), minute: v.minute(), second: v.second() })
    }
    pub fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&[self.year, self.month, self.day]);
        for f in [self.hour, self.minute, self.second] {
            match f {
                Some(v) => out.push(v),
                None => break,
            }
        }
    }
}

ie_repr!(DateTimeRepr, DateTime);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn progress_inband() {
        // PROGRESS from the public network: in-band info available.
        let p = ProgressIndicatorRepr::parse_bytes(&[0x82, 0x88]).unwrap();
        assert_eq!(p, ProgressIndicatorRepr::new(Location::PublicLocal, ProgressDescription::InbandAvailable));
        assert_eq!(p.to_vec(), vec![0x82, 0x88]);
        let p = ProgressIndicatorRepr::parse_bytes(&[0x81, 0x83]).unwrap();
        assert_eq!(p.description, ProgressDescription::OriginationNotIsdn);
        assert_eq!(ProgressIndicatorRepr::parse_bytes(&[0x8A, 0x81]).unwrap().location, Location::BeyondInterworking);
        for bad in [&[0x82][..], &[0x02, 0x88], &[0x82, 0x08], &[0x92, 0x88], &[0x82, 0x88, 0x00]] {
            assert!(ProgressIndicatorRepr::parse_bytes(bad).is_err(), "{bad:x?}");
        }
        let mut buf = [0x82, 0x88];
        ProgressIndicator::new_checked(&mut buf[..]).unwrap().set_description(ProgressDescription::NotEndToEndIsdn);
        assert_eq!(buf, [0x82, 0x81]);
    }

    #[test]
    fn display_plain_and_typed() {
        let d = DisplayRepr::parse_bytes(b"JOHN DOE").unwrap();
        assert_eq!(d, DisplayRepr::new("JOHN DOE"));
        // NI-2 style with a calling-party-name display type.
        let mut bytes = vec![0xB1];
        bytes.extend_from_slice(b"ACME CORP");
        let d = DisplayRepr::parse_bytes(&bytes).unwrap();
        assert_eq!(d.display_type, Some(0xB1));
        assert_eq!(d.text_lossy(), "ACME CORP");
        assert_eq!(d.to_vec(), bytes);
    }

    #[test]
    fn signal_call_state_restart_change_status() {
        assert_eq!(SignalRepr::parse_bytes(&[0x01]).unwrap().value, SignalValue::RingBackToneOn);
        assert_eq!(SignalRepr::parse_bytes(&[0x4F]).unwrap().value, SignalValue::AlertingOff);
        assert!(SignalRepr::parse_bytes(&[0x01, 0x02]).is_err());

        let cs = CallStateRepr::parse_bytes(&[0x0A]).unwrap();
        assert_eq!(cs, CallStateRepr::new(CallStateValue::Active));
        assert_eq!(CallStateRepr::parse_bytes(&[0x3D]).unwrap().value, CallStateValue::RestartRequest);
        assert_eq!(cs.to_vec(), vec![0x0A]);

        let r = RestartIndicatorRepr::parse_bytes(&[0x87]).unwrap();
        assert_eq!(r.class, RestartClass::AllInterfaces);
        assert_eq!(RestartIndicatorRepr::parse_bytes(&[0x80]).unwrap().class, RestartClass::Indicated);
        assert!(RestartIndicatorRepr::parse_bytes(&[0x07]).is_err());
        assert!(RestartIndicatorRepr::parse_bytes(&[0x97]).is_err());

        // libpri / NI-2 SERVICE: 0xC0 | status, channel preference.
        let c = ChangeStatusRepr::parse_bytes(&[0xC2]).unwrap();
        assert!(c.channel_preference);
        assert_eq!(c.status, ServiceStatus::OutOfService);
        assert_eq!(c.to_vec(), vec![0xC2]);
        assert!(ChangeStatusRepr::parse_bytes(&[0xCA]).is_err());
    }

    #[test]
    fn notification_keypad_uu_datetime() {
        let n = NotificationIndicatorRepr::parse_bytes(&[0xF9]).unwrap();
        assert_eq!(n.description, NotificationIndicatorRepr::REMOTE_HOLD);
        assert!(NotificationIndicatorRepr::parse_bytes(&[0x79]).is_err());

        let k = KeypadFacilityRepr::parse_bytes(b"*72#").unwrap();
        assert_eq!(k.digits, "*72#");
        assert!(KeypadFacilityRepr::parse_bytes(&[0xB1]).is_err());
        assert!(KeypadFacilityRepr::parse_bytes(&[]).is_err());

        let uu = UserUserRepr::parse_bytes(&[0x04, b'h', b'i']).unwrap();
        assert_eq!(uu.protocol, UserUserRepr::PROTOCOL_IA5);
        assert_eq!(uu.data, b"hi");

        let dt = DateTimeRepr::parse_bytes(&[25, 11, 26, 13, 5]).unwrap();
        assert_eq!(dt.hour, Some(13));
        assert_eq!(dt.minute, Some(5));
        assert_eq!(dt.second, None);
        assert_eq!(dt.to_vec(), vec![25, 11, 26, 13, 5]);
        assert!(DateTimeRepr::parse_bytes(&[25, 11]).is_err());
        assert!(DateTimeRepr::parse_bytes(&[0; 7]).is_err());
    }
}
