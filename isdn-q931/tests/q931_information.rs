//! Information the stack decodes from a peer's messages (raw peer): the
//! NI-2 calling name that follows the SETUP in a FACILITY, redirecting
//! number with reason and ETSI diversion counter, progress, presentation.

mod q931_harness;

use isdn_q931::q931::{Event, SwitchType};
use isdn_q931::wire::ie::facility::{Code, Invoke, Name, NameStyle, PROFILE_ROSE, ber};
use isdn_q931::wire::ie::{
    BearerCapabilityRepr, ChannelIdRepr, FacilityRepr, InfoTransferCapability, Layer1Protocol, Location, NumberingPlan, PartyNumberRepr, Presentation,
    ProgressDescription, ProgressIndicatorRepr, RedirectReason, Screening, TypeOfNumber,
};
use isdn_q931::wire::{IeRepr, MessageType};
use q931_harness::{Bench, End, msg};

fn setup_ies(law: Layer1Protocol) -> Vec<IeRepr> {
    vec![
        IeRepr::BearerCapability(BearerCapabilityRepr::voice(InfoTransferCapability::Audio3k1, law)),
        IeRepr::ChannelId(ChannelIdRepr::pri_channel(2, true)),
        IeRepr::CalledNumber(PartyNumberRepr::new(TypeOfNumber::Subscriber, NumberingPlan::Isdn, "5550100")),
        IeRepr::CallingNumber(
            PartyNumberRepr::new(TypeOfNumber::International, NumberingPlan::Isdn, "442071234567")
                .with_presentation(Presentation::Restricted, Screening::NetworkProvided),
        ),
        IeRepr::ProgressIndicator(ProgressIndicatorRepr::new(Location::PublicRemote, ProgressDescription::NotEndToEndIsdn)),
    ]
}

#[test]
fn ni2_calling_name_follows_in_facility() {
    let mut b = Bench::raw(SwitchType::Ni2, End::User);
    b.establish();
    let mut ies = setup_ies(Layer1Protocol::G711Ulaw);
    ies.push(IeRepr::Facility(FacilityRepr::ni2_information_following(1)));
    b.raw_send(End::Net, msg(9, false, MessageType::Setup, ies));
    b.settle();
    let ic = b.incoming(End::User);
    assert!(ic.name_follows);
    assert_eq!(ic.calling_name, None);
    assert_eq!(ic.bearer.kind, isdn_q931::q931::BearerKind::Audio3k1);
    let calling = ic.calling.unwrap();
    assert_eq!(calling.presentation, Presentation::Restricted);
    assert_eq!(calling.screening, Screening::NetworkProvided);
    assert_eq!(calling.ton, TypeOfNumber::International);
    assert_eq!(ic.progress, [ProgressDescription::NotEndToEndIsdn]);
    let fac = FacilityRepr::with_calling_name(NameStyle::Ni2, 2, &Name::allowed("ACME CORP"));
    b.raw_send(End::Net, msg(9, false, MessageType::Facility, vec![IeRepr::Facility(fac)]));
    b.settle();
    assert!(b.events(End::User).iter().any(|e| matches!(
        e,
        Event::CallingName { call, name } if *call == ic.call && name.name == "ACME CORP"
    )));
    assert!(b.events(End::User).iter().any(|e| matches!(e, Event::Facility { call: Some(c), .. } if *c == ic.call)));
}

#[test]
fn etsi_redirecting_number_with_diversion_counter() {
    let mut b = Bench::raw(SwitchType::EuroIsdnE1, End::User);
    b.establish();
    let mut ies = setup_ies(Layer1Protocol::G711Alaw);
    let mut redir =
        PartyNumberRepr::new(TypeOfNumber::National, NumberingPlan::Isdn, "0201234567").with_presentation(Presentation::Allowed, Screening::UserNotScreened);
    redir.reason = Some(RedirectReason::NoReply);
    ies.push(IeRepr::RedirectingNumber(redir));
    // divertingLegInformation2 { diversionCounter 2, diversionReason cfnr }
    let mut arg = Vec::new();
    ber::write_int(&mut arg, ber::INTEGER, 2);
    ber::write_int(&mut arg, ber::ENUMERATED, 3);
    let mut seq = Vec::new();
    ber::write(&mut seq, ber::SEQUENCE, &arg);
    let argument = ber::read(&seq).ok().map(|(t, _)| t);
    let mut components = Vec::new();
    Invoke { invoke_id: 5, linked_id: None, operation: Code::Local(15), argument }.encode(&mut components);
    ies.push(IeRepr::Facility(FacilityRepr { protocol_profile: PROFILE_ROSE, service_id: None, components }));
    b.raw_send(End::Net, msg(3, false, MessageType::Setup, ies));
    b.settle();
    let ic = b.incoming(End::User);
    let r = ic.redirecting.expect("redirecting");
    assert_eq!(r.number.digits, "0201234567");
    assert_eq!(r.reason, RedirectReason::NoReply);
    assert_eq!(r.count, Some(2));
    assert!(!ic.sending_complete, "ETSI: no sending complete IE, overlap possible");
}
