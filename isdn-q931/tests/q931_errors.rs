//! Q.931 §5.8 error procedures, against a raw peer that sends hand-made
//! messages: missing and invalid mandatory IEs, unknown message types,
//! unknown call references, the global call reference, STATUS in
//! incompatible states, and messages that must be ignored.

mod q931_harness;

use isdn_q931::q931::{CallState, Command, Event, SwitchType, SwitchVariant};
use isdn_q931::wire::ie::{
    BearerCapabilityRepr, CallStateRepr, CallStateValue, CauseRepr, ChangeStatusRepr, ChannelIdRepr, InfoTransferCapability, Layer1Protocol, Location,
    NumberingPlan, PartyNumberRepr, RawIe, RestartClass, RestartIndicatorRepr, ServiceStatus, TypeOfNumber,
};
use isdn_q931::wire::{CallRef, CallRefFlag, CauseValue, IeId, IeRepr, MessageRepr, MessageType, ProtocolDiscriminator};
use q931_harness::{Bench, End, cause_of, msg, state_of};

fn bc() -> IeRepr {
    IeRepr::BearerCapability(BearerCapabilityRepr::voice(InfoTransferCapability::Speech, Layer1Protocol::G711Ulaw))
}

fn chan(n: u8) -> IeRepr {
    IeRepr::ChannelId(ChannelIdRepr::pri_channel(n, true))
}

fn called(d: &str) -> IeRepr {
    IeRepr::CalledNumber(PartyNumberRepr::new(TypeOfNumber::National, NumberingPlan::Isdn, d))
}

fn cause(v: u8) -> IeRepr {
    IeRepr::Cause(CauseRepr::new(Location::PublicLocal, CauseValue(v)))
}

/// A user-side NI-2 stack with a raw network peer.
fn user_stack() -> Bench {
    let mut b = Bench::raw(SwitchType::Ni2, End::User);
    b.establish();
    b
}

/// The raw network offers call reference `cr` on channel `ch`; returns
/// the stack's call id.
fn offer(b: &mut Bench, cr: u16, ch: u8) -> isdn_q931::q931::CallId {
    b.raw_send(End::Net, msg(cr, false, MessageType::Setup, vec![bc(), chan(ch), called("100")]));
    b.settle();
    b.incoming(End::User).call
}

/// Sends, settles, returns what the stack answered.
fn exchange(b: &mut Bench, m: Vec<u8>) -> Vec<MessageRepr> {
    b.raw_send(End::Net, m);
    b.settle();
    b.raw_take(End::Net)
}

#[test]
fn setup_without_mandatory_ie_is_refused_with_cause_96() {
    for s in SwitchType::ALL {
        for end in [End::User, End::Net] {
            setup_refusals(s, end);
        }
    }
}

/// The stack on `end` of switch type `s` refuses broken SETUPs from a raw
/// peer.
fn setup_refusals(s: SwitchType, end: End) {
    let mut b = Bench::raw(s, end);
    b.establish();
    let peer = end.other();
    let ask = |b: &mut Bench, m: Vec<u8>| {
        b.raw_send(peer, m);
        b.settle();
        b.raw_take(peer)
    };
    // No bearer capability.
    let r = ask(&mut b, msg(5, false, MessageType::Setup, vec![chan(1), called("1")]));
    assert_eq!(r.len(), 1, "{s:?} {end:?}");
    assert_eq!(r[0].msg_type, MessageType::ReleaseComplete);
    assert_eq!(r[0].call_ref, CallRef::pri(5, CallRefFlag::ToOriginator));
    assert_eq!(cause_of(&r[0]), Some(96), "{s:?} {end:?}");
    let IeRepr::Cause(c) = &r[0].ies[0] else { panic!() };
    assert_eq!(c.diagnostics, [0x04]);
    // Where the variant requires it (always from the network), no channel
    // identification: 96 as well.
    let v = SwitchVariant::for_switch(s);
    let r = ask(&mut b, msg(6, false, MessageType::Setup, vec![bc(), called("1")]));
    if v.mandatory_ies(MessageType::Setup, peer.side()).contains(&IeId::CHANNEL_ID) {
        assert_eq!(cause_of(&r[0]), Some(96), "{s:?} {end:?}");
        let IeRepr::Cause(c) = &r[0].ies[0] else { panic!() };
        assert_eq!(c.diagnostics, [0x18]);
    } else {
        // ETSI user: "any channel", the network picks one.
        assert!(r.is_empty(), "{s:?} {end:?}: {r:?}");
        assert!(b.events(end).iter().any(|e| matches!(e, Event::IncomingCall(_))));
        b.events.clear();
    }
    // Bearer capability with invalid contents: cause 100.
    let bad = IeRepr::Malformed(RawIe { codeset: 0, id: 0x04, data: vec![0x80] });
    let r = ask(&mut b, msg(7, false, MessageType::Setup, vec![bad, chan(1)]));
    assert_eq!(cause_of(&r[0]), Some(100));
    // Packet mode: bearer not implemented (65).
    let mut pkt = BearerCapabilityRepr::unrestricted_digital();
    pkt.transfer_mode = isdn_q931::wire::ie::TransferMode::Packet;
    pkt.transfer_rate = isdn_q931::wire::ie::TransferRate::PacketMode;
    let r = ask(&mut b, msg(8, false, MessageType::Setup, vec![IeRepr::BearerCapability(pkt), chan(1)]));
    assert_eq!(cause_of(&r[0]), Some(65));
    // A channel that does not exist (82) and an unknown interface (82).
    let r = ask(&mut b, msg(9, false, MessageType::Setup, vec![bc(), chan(32)]));
    assert_eq!(cause_of(&r[0]), Some(82), "{s:?} {end:?}");
    let r = ask(&mut b, msg(9, false, MessageType::Setup, vec![bc(), IeRepr::ChannelId(ChannelIdRepr::pri_channel(1, true).with_interface(5))]));
    assert_eq!(cause_of(&r[0]), Some(82));
    assert!(b.events(end).is_empty(), "nothing reached the application");
}

#[test]
fn busy_channel_gives_44_or_another_channel() {
    let mut b = user_stack();
    let first = offer(&mut b, 1, 3);
    // Exclusive channel 3 again: 44.
    let r = exchange(&mut b, msg(2, false, MessageType::Setup, vec![bc(), chan(3)]));
    assert_eq!(cause_of(&r[0]), Some(44));
    // Preferred channel 3: the user picks another and says so in the
    // first answer.
    b.raw_send(End::Net, msg(3, false, MessageType::Setup, vec![bc(), IeRepr::ChannelId(ChannelIdRepr::pri_channel(3, false))]));
    b.settle();
    let ic = b.incoming(End::User);
    assert_ne!(ic.call, first);
    assert_ne!(ic.channel.channel, 3);
    b.command(End::User, Command::Proceeding { call: ic.call, inband: false });
    b.settle();
    let r = b.raw_take(End::Net);
    assert_eq!(r[0].msg_type, MessageType::CallProceeding);
    assert_eq!(r[0].ies[0], IeRepr::ChannelId(ChannelIdRepr::pri_channel(ic.channel.channel, true)));
}

#[test]
fn unknown_message_type_gets_status_97() {
    for s in SwitchType::ALL {
        for end in [End::User, End::Net] {
            let mut b = Bench::raw(s, end);
            b.establish();
            let peer = end.other();
            b.raw_send(peer, msg(1, false, MessageType::Setup, vec![bc(), chan(1), called("1")]));
            b.settle();
            let call = b.incoming(end).call;
            b.raw_send(peer, msg(1, false, MessageType::Unknown(0x33), vec![]));
            b.settle();
            let r = b.raw_take(peer);
            assert_eq!(r.len(), 1, "{s:?} {end:?}");
            assert_eq!(r[0].msg_type, MessageType::Status);
            assert_eq!(cause_of(&r[0]), Some(97));
            let IeRepr::Cause(c) = &r[0].ies[0] else { panic!() };
            assert_eq!(c.diagnostics, [0x33]);
            let state = if end == End::User { 6 } else { 1 };
            assert_eq!(state_of(&r[0]), Some(state));
            assert_eq!(b.state(end, call).map(|s| s.number()), Some(state), "no state change");
        }
    }
}

#[test]
fn unexpected_message_gets_status_101_and_no_state_change() {
    let mut b = user_stack();
    let call = offer(&mut b, 1, 1);
    // ALERTING for a call the network offered makes no sense.
    let r = exchange(&mut b, msg(1, false, MessageType::Alerting, vec![]));
    assert_eq!(r[0].msg_type, MessageType::Status);
    assert_eq!(cause_of(&r[0]), Some(101));
    assert_eq!(b.state(End::User, call), Some(CallState::CallPresent));
}

#[test]
fn missing_mandatory_ie_in_other_messages() {
    let mut b = user_stack();
    let call = offer(&mut b, 1, 1);
    b.command(End::User, Command::Connect { call, connected: None });
    b.settle();
    b.raw_take(End::Net);
    b.raw_send(End::Net, msg(1, false, MessageType::ConnectAcknowledge, vec![]));
    b.settle();
    assert_eq!(b.state(End::User, call), Some(CallState::Active));
    // PROGRESS without progress indicator: STATUS 96, nothing else.
    let r = exchange(&mut b, msg(1, false, MessageType::Progress, vec![]));
    assert_eq!((r[0].msg_type, cause_of(&r[0])), (MessageType::Status, Some(96)));
    assert_eq!(b.state(End::User, call), Some(CallState::Active));
    // An unrecognized comprehension-required IE counts as a missing
    // mandatory one.
    let unknown = IeRepr::Unknown(RawIe { codeset: 0, id: 0x0B, data: vec![1] });
    let r = exchange(&mut b, msg(1, false, MessageType::Information, vec![unknown]));
    assert_eq!(cause_of(&r[0]), Some(96));
    // An unrecognized optional IE: the message is acted on, then STATUS
    // 99.
    let optional = IeRepr::Unknown(RawIe { codeset: 0, id: 0x5F, data: vec![1] });
    let keypad = IeRepr::KeypadFacility(isdn_q931::wire::ie::KeypadFacilityRepr { digits: "5".into() });
    let r = exchange(&mut b, msg(1, false, MessageType::Information, vec![keypad, optional]));
    assert_eq!(cause_of(&r[0]), Some(99));
    assert!(b.events(End::User).iter().any(|e| matches!(
        e, Event::MoreDigits { digits, .. } if digits == "5"
    )));
    // DISCONNECT without cause: handled as cause 31, RELEASE says 96.
    let r = exchange(&mut b, msg(1, false, MessageType::Disconnect, vec![]));
    assert_eq!(r[0].msg_type, MessageType::Release);
    assert_eq!(cause_of(&r[0]), Some(96));
    assert!(b.events(End::User).iter().any(|e| matches!(
        e, Event::Disconnecting { cause, .. } if cause.value == CauseValue::NORMAL_UNSPECIFIED
    )));
    b.raw_send(End::Net, msg(1, false, MessageType::ReleaseComplete, vec![]));
    b.settle();
    b.assert_idle();
}

#[test]
fn release_without_cause_as_first_clearing_message() {
    let mut b = user_stack();
    let call = offer(&mut b, 1, 1);
    let r = exchange(&mut b, msg(1, false, MessageType::Release, vec![]));
    assert_eq!(r[0].msg_type, MessageType::ReleaseComplete);
    assert_eq!(cause_of(&r[0]), Some(96));
    assert_eq!(b.released(End::User, call).map(|c| c.value), Some(CauseValue::NORMAL_UNSPECIFIED));
    b.assert_idle();
}

#[test]
fn unknown_call_references() {
    let mut b = user_stack();
    // §5.8.3.2 a: RELEASE COMPLETE cause 81.
    let r = exchange(&mut b, msg(77, false, MessageType::Alerting, vec![]));
    assert_eq!(r[0].msg_type, MessageType::ReleaseComplete);
    assert_eq!(cause_of(&r[0]), Some(81));
    assert_eq!(r[0].call_ref, CallRef::pri(77, CallRefFlag::ToOriginator));
    // b: RELEASE → RELEASE COMPLETE 81.
    let r = exchange(&mut b, msg(77, false, MessageType::Release, vec![cause(16)]));
    assert_eq!((r[0].msg_type, cause_of(&r[0])), (MessageType::ReleaseComplete, Some(81)));
    // c: RELEASE COMPLETE: nothing.
    assert!(exchange(&mut b, msg(77, false, MessageType::ReleaseComplete, vec![])).is_empty());
    // d: SETUP with the flag set: ignored.
    assert!(exchange(&mut b, msg(78, true, MessageType::Setup, vec![bc(), chan(1)])).is_empty());
    // STATUS ENQUIRY: STATUS, null state, cause 30.
    let r = exchange(&mut b, msg(79, true, MessageType::StatusEnquiry, vec![]));
    assert_eq!(r[0].msg_type, MessageType::Status);
    assert_eq!((cause_of(&r[0]), state_of(&r[0])), (Some(30), Some(0)));
    // STATUS reporting a call: RELEASE COMPLETE 101; reporting null:
    // nothing.
    let st = |s| vec![cause(30), IeRepr::CallState(CallStateRepr::new(CallStateValue::from_bits(s)))];
    let r = exchange(&mut b, msg(80, false, MessageType::Status, st(10)));
    assert_eq!((r[0].msg_type, cause_of(&r[0])), (MessageType::ReleaseComplete, Some(101)));
    assert!(exchange(&mut b, msg(80, false, MessageType::Status, st(0))).is_empty());
    // e: SETUP for a known call reference is ignored.
    let call = offer(&mut b, 1, 1);
    assert!(exchange(&mut b, msg(1, false, MessageType::Setup, vec![bc(), chan(2)])).is_empty());
    assert_eq!(b.state(End::User, call), Some(CallState::CallPresent));
    // Our own call reference 1 (flag set) is another call: unknown.
    let r = exchange(&mut b, msg(1, true, MessageType::Connect, vec![]));
    assert_eq!(cause_of(&r[0]), Some(81));
}

#[test]
fn global_call_reference_and_ignored_messages() {
    let mut b = user_stack();
    let global = |mt, ies| {
        MessageRepr { pd: ProtocolDiscriminator::Q931, call_ref: CallRef::global(2, CallRefFlag::FromOriginator), msg_type: mt, ies }.to_vec().unwrap()
    };
    // §5.8.3.2 f: STATUS 81 on the global call reference.
    let r = exchange(&mut b, global(MessageType::Alerting, vec![]));
    assert_eq!(r[0].msg_type, MessageType::Status);
    assert!(r[0].call_ref.is_global());
    assert_eq!((cause_of(&r[0]), state_of(&r[0])), (Some(81), Some(0)));
    // RESTART of a channel that does not exist: STATUS 82; class 0
    // without channel: STATUS 96.
    let ri = |c| IeRepr::RestartIndicator(RestartIndicatorRepr { class: c });
    let r = exchange(&mut b, global(MessageType::Restart, vec![ri(RestartClass::Indicated), chan(30)]));
    assert_eq!((r[0].msg_type, cause_of(&r[0])), (MessageType::Status, Some(82)));
    let r = exchange(&mut b, global(MessageType::Restart, vec![ri(RestartClass::Indicated)]));
    assert_eq!(cause_of(&r[0]), Some(96));
    // A good one is acknowledged, channel IE echoed.
    let r = exchange(&mut b, global(MessageType::Restart, vec![ri(RestartClass::Indicated), chan(4)]));
    assert_eq!(r[0].msg_type, MessageType::RestartAcknowledge);
    assert_eq!(r[0].call_ref, CallRef::global(2, CallRefFlag::ToOriginator));
    assert!(r[0].ies.contains(&chan(4)));
    // Too short, bad protocol discriminator, dummy call reference:
    // ignored.
    for m in [
        vec![0x08, 0x02, 0x00],
        vec![0x09, 0x02, 0x00, 0x01, 0x05],
        vec![0x41, 0x02, 0x00, 0x01, 0x05],
        vec![0x08, 0x03, 0x00, 0x00, 0x01, 0x05],
        vec![0x08, 0x00, 0x62],
        vec![],
    ] {
        assert!(exchange(&mut b, m.clone()).is_empty(), "{m:x?}");
    }
    // ETSI has no SERVICE: maintenance messages are ignored there; NI-2
    // answers them.
    let service = MessageRepr {
        pd: ProtocolDiscriminator::NationalMaintenance,
        call_ref: CallRef::global(2, CallRefFlag::FromOriginator),
        msg_type: MessageType::Service,
        ies: vec![IeRepr::ChangeStatus(ChangeStatusRepr { channel_preference: true, status: ServiceStatus::OutOfService }), chan(9)],
    }
    .to_vec()
    .unwrap();
    let r = exchange(&mut b, service.clone());
    assert_eq!(r[0].pd, ProtocolDiscriminator::NationalMaintenance);
    assert_eq!(r[0].msg_type, MessageType::ServiceAcknowledge);
    // The channel is out of service now: a SETUP for it gets 44.
    let r = exchange(&mut b, msg(3, false, MessageType::Setup, vec![bc(), chan(9)]));
    assert_eq!(cause_of(&r[0]), Some(44));
    let mut e = Bench::raw(SwitchType::EuroIsdnE1, End::User);
    e.establish();
    assert!(exchange(&mut e, service).is_empty());
}

#[test]
fn status_with_incompatible_or_null_state() {
    let st = |cause_v, s| vec![cause(cause_v), IeRepr::CallState(CallStateRepr::new(CallStateValue::from_bits(s)))];
    // Incompatible: the network claims it placed a call the user... is
    // the caller of (user in U6, network reports N1 = "received SETUP").
    let mut b = user_stack();
    let call = offer(&mut b, 1, 1);
    let r = exchange(&mut b, msg(1, false, MessageType::Status, st(30, 1)));
    assert_eq!(r[0].msg_type, MessageType::Release);
    assert_eq!(cause_of(&r[0]), Some(101));
    assert!(b.events(End::User).iter().any(|e| matches!(
        e, Event::Disconnecting { cause, .. } if cause.value == CauseValue::MESSAGE_NOT_COMPATIBLE
    )));
    b.raw_send(End::Net, msg(1, false, MessageType::ReleaseComplete, vec![]));
    b.settle();
    assert!(b.released(End::User, call).is_some());
    // Compatible: reported to the application, nothing sent.
    let call = offer(&mut b, 2, 1);
    let r = exchange(&mut b, msg(2, false, MessageType::Status, st(97, 6)));
    assert!(r.is_empty());
    assert!(b.events(End::User).iter().any(|e| matches!(e, Event::Status { peer_state: 6, our_state: CallState::CallPresent, .. })));
    // Null: released locally, no message.
    let r = exchange(&mut b, msg(2, false, MessageType::Status, st(30, 0)));
    assert!(r.is_empty());
    assert_eq!(b.released(End::User, call).map(|c| c.value), Some(CauseValue::TEMPORARY_FAILURE));
    b.assert_idle();
}

#[test]
fn suspend_and_resume_are_refused_by_the_network_side() {
    let mut b = Bench::raw(SwitchType::EuroIsdnE1, End::Net);
    b.establish();
    // RESUME with a new call reference: RESUME REJECT.
    b.raw_send(End::User, msg(9, false, MessageType::Resume, vec![]));
    b.settle();
    let r = b.raw_take(End::User);
    assert_eq!(r[0].msg_type, MessageType::ResumeReject);
    assert_eq!(cause_of(&r[0]), Some(79));
    // An active call, then SUSPEND: SUSPEND REJECT, call stays active.
    b.raw_send(
        End::User,
        msg(
            1,
            false,
            MessageType::Setup,
            vec![IeRepr::BearerCapability(BearerCapabilityRepr::voice(InfoTransferCapability::Speech, Layer1Protocol::G711Alaw)), chan(1), called("1")],
        ),
    );
    b.settle();
    let call = b.incoming(End::Net).call;
    b.command(End::Net, Command::Connect { call, connected: None });
    b.settle();
    b.raw_take(End::User);
    b.raw_send(End::User, msg(1, false, MessageType::Suspend, vec![]));
    b.settle();
    let r = b.raw_take(End::User);
    assert_eq!(r[0].msg_type, MessageType::SuspendReject);
    assert_eq!(b.state(End::Net, call), Some(CallState::Active));
}
