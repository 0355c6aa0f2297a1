//! Back-to-back calls between a network-side and a user-side stack, for
//! every switch type: numbers, presentation, names, answer, rejection,
//! clearing from either side before and after answer, overlap dialling,
//! STATUS ENQUIRY.

mod q931_harness;

use isdn_q931::q931::{
    Bearer, BearerKind, CallState, ChannelPref, ChannelRef, Command, CommandError, Event, Initiator, Law, Number, PartyName, Side, SwitchType, SwitchVariant,
};
use isdn_q931::wire::ie::{Presentation, ProgressDescription, Screening, TypeOfNumber};
use isdn_q931::wire::{CauseValue, MessageType};
use q931_harness::{Bench, End, cause_of, secs, state_of};

fn bench(s: SwitchType) -> Bench {
    let mut b = Bench::new(s);
    b.establish();
    b
}

fn law(s: SwitchType) -> Law {
    SwitchVariant::for_switch(s).interface_kind.law()
}

#[test]
fn outgoing_call_numbers_presentation_name_answer_and_release_by_caller() {
    for s in SwitchType::ALL {
        for from in [End::User, End::Net] {
            let mut b = bench(s);
            let calling = Number::new("3035550100").with_ton(TypeOfNumber::National).with_presentation(Presentation::Restricted, Screening::UserVerifiedPassed);
            let req = isdn_q931::q931::SetupRequest::new("2125551234").calling(calling.clone()).name(PartyName::allowed("JOHN DOE"));
            let a = b.setup(from, req);
            b.settle();
            let ic = b.incoming(from.other());
            assert_eq!(ic.called.digits, "2125551234", "{s:?}");
            assert_eq!(ic.calling.as_ref(), Some(&calling), "{s:?}");
            assert_eq!(ic.calling_name.as_ref().map(|n| n.name.as_str()), Some("JOHN DOE"), "{s:?} name");
            assert_eq!(ic.bearer, Bearer::speech(law(s)));
            assert!(ic.sending_complete);
            assert_eq!(
                b.state(from, a),
                Some(
                    CallState::from_number(match from {
                        End::User => 1,
                        End::Net => 6,
                    })
                    .unwrap()
                )
            );
            b.command(from.other(), Command::Alerting { call: ic.call, inband: true });
            b.settle();
            assert!(b.events(from).iter().any(|e| matches!(
                e,
                Event::Alerting { call, inband: true, .. } if *call == a
            )));
            b.command(from.other(), Command::Connect { call: ic.call, connected: Some(Number::new("2125551234")) });
            b.settle();
            let channel = ic.channel;
            assert!(b.events(from).iter().any(|e| matches!(
                e,
                Event::Connected { call, channel: ch, connected: Some(n) }
                    if *call == a && *ch == channel && n.digits == "2125551234"
            )));
            assert_eq!(b.state(from, a), Some(CallState::Active));
            assert_eq!(b.state(from.other(), ic.call), Some(CallState::Active));
            assert_eq!(b.pri_ref(from).call_control().call_channel(a), Some(channel));
            // Caller hangs up.
            b.command(from, Command::Disconnect { call: a, cause: CauseValue::NORMAL_CLEARING, inband: false });
            b.settle();
            assert_eq!(b.released(from, a).unwrap().value, CauseValue::NORMAL_CLEARING);
            let callee = b.events(from.other());
            assert!(callee.iter().any(|e| matches!(
                e,
                Event::Disconnecting { cause, initiator: Initiator::Peer, .. }
                    if cause.value == CauseValue::NORMAL_CLEARING
            )));
            assert_eq!(b.released(from.other(), ic.call).unwrap().value, CauseValue::NORMAL_CLEARING);
            // DISCONNECT, RELEASE, RELEASE COMPLETE.
            let caller_types = b.types_from(from);
            assert!(caller_types.ends_with(&[MessageType::Disconnect, MessageType::ReleaseComplete]));
            b.assert_idle();
        }
    }
}

#[test]
fn incoming_call_answered_and_released_by_callee() {
    for s in SwitchType::ALL {
        let mut b = bench(s);
        let (a, c) = b.connected_call(End::Net, isdn_q931::q931::SetupRequest::new("5551000"));
        b.clear();
        b.command(End::User, Command::Disconnect { call: c, cause: CauseValue::NORMAL_CLEARING, inband: false });
        b.settle();
        assert_eq!(b.released(End::Net, a).unwrap().value, CauseValue::NORMAL_CLEARING);
        assert_eq!(b.released(End::User, c).unwrap().value, CauseValue::NORMAL_CLEARING);
        assert_eq!(b.types_from(End::User), [MessageType::Disconnect, MessageType::ReleaseComplete]);
        assert_eq!(b.types_from(End::Net), [MessageType::Release]);
        b.assert_idle();
    }
}

#[test]
fn calls_are_rejected_with_causes_1_17_34() {
    for s in SwitchType::ALL {
        for from in [End::User, End::Net] {
            for cause in [CauseValue::UNALLOCATED_NUMBER, CauseValue::USER_BUSY, CauseValue::NO_CIRCUIT_AVAILABLE] {
                let mut b = bench(s);
                let a = b.setup(from, isdn_q931::q931::SetupRequest::new("911"));
                b.settle();
                let ic = b.incoming(from.other());
                b.command(from.other(), Command::Disconnect { call: ic.call, cause, inband: false });
                b.settle();
                let rc = b.messages_from(from.other());
                assert_eq!(rc.last().unwrap().msg_type, MessageType::ReleaseComplete);
                assert_eq!(cause_of(rc.last().unwrap()), Some(cause.0));
                assert_eq!(b.released(from, a).unwrap().value, cause, "{s:?} {from:?}");
                assert_eq!(b.released(from.other(), ic.call).unwrap().value, cause);
                b.assert_idle();
            }
        }
    }
}

#[test]
fn clearing_before_answer_from_either_side() {
    for s in SwitchType::ALL {
        // The caller gives up while the callee is alerting.
        let mut b = bench(s);
        let a = b.setup(End::User, isdn_q931::q931::SetupRequest::new("100"));
        b.settle();
        let ic = b.incoming(End::Net);
        b.command(End::Net, Command::Proceeding { call: ic.call, inband: false });
        b.command(End::Net, Command::Alerting { call: ic.call, inband: false });
        b.settle();
        assert_eq!(b.state(End::User, a), Some(CallState::CallDelivered));
        assert_eq!(b.state(End::Net, ic.call), Some(CallState::CallDelivered));
        b.command(End::User, Command::Disconnect { call: a, cause: CauseValue::NORMAL_CLEARING, inband: false });
        b.settle();
        assert!(b.released(End::Net, ic.call).is_some());
        assert!(b.released(End::User, a).is_some());
        b.assert_idle();

        // The callee refuses after alerting (busy), with in-band tones
        // from the network side.
        let mut b = bench(s);
        let a = b.setup(End::User, isdn_q931::q931::SetupRequest::new("100"));
        b.settle();
        let ic = b.incoming(End::Net);
        b.command(End::Net, Command::Alerting { call: ic.call, inband: false });
        b.settle();
        b.command(End::Net, Command::Disconnect { call: ic.call, cause: CauseValue::USER_BUSY, inband: true });
        b.settle();
        assert!(b.events(End::User).iter().any(|e| matches!(
            e,
            Event::Disconnecting { cause, inband: true, initiator: Initiator::Peer, .. }
                if cause.value == CauseValue::USER_BUSY
        )));
        assert_eq!(b.released(End::User, a).unwrap().value, CauseValue::USER_BUSY);
        b.assert_idle();

        // Network cancels its own call before the user answered anything
        // (call abort, N22): the user's CALL PROCEEDING is released.
        let mut b = bench(s);
        let a = b.setup(End::Net, isdn_q931::q931::SetupRequest::new("100"));
        b.command(End::Net, Command::Disconnect { call: a, cause: CauseValue::NORMAL_CLEARING, inband: false });
        assert_eq!(b.state(End::Net, a), Some(CallState::CallAbort));
        b.settle();
        let ic = b.incoming(End::User);
        b.command(End::User, Command::Proceeding { call: ic.call, inband: false });
        b.settle();
        assert!(b.released(End::User, ic.call).is_some());
        assert_eq!(b.released(End::Net, a).unwrap().value, CauseValue::NORMAL_CLEARING);
        b.assert_idle();
    }
}

#[test]
fn release_after_answer_with_release_message() {
    for s in SwitchType::ALL {
        let mut b = bench(s);
        let (a, c) = b.connected_call(End::User, isdn_q931::q931::SetupRequest::new("7"));
        b.clear();
        b.command(End::Net, Command::Release { call: c, cause: CauseValue::TEMPORARY_FAILURE });
        b.settle();
        assert_eq!(b.types_from(End::Net), [MessageType::Release]);
        assert_eq!(b.types_from(End::User), [MessageType::ReleaseComplete]);
        assert_eq!(b.released(End::User, a).unwrap().value, CauseValue::TEMPORARY_FAILURE);
        assert_eq!(b.released(End::Net, c).unwrap().value, CauseValue::TEMPORARY_FAILURE);
        b.assert_idle();
    }
}

#[test]
fn overlap_dialling_where_supported() {
    for s in SwitchType::ALL {
        let v = SwitchVariant::for_switch(s);
        let mut b = bench(s);
        let req = isdn_q931::q931::SetupRequest::new("21").overlap();
        if !v.overlap_dialing {
            let now = b.now;
            assert_eq!(b.pri(End::User).setup(req, now), Err(CommandError::NotSupported("overlap dialling")));
            continue;
        }
        for from in [End::User, End::Net] {
            let mut b = bench(s);
            let a = b.setup(from, req.clone());
            b.settle();
            let ic = b.incoming(from.other());
            assert!(!ic.sending_complete);
            assert_eq!(ic.called.digits, "21");
            b.command(from.other(), Command::SetupAck { call: ic.call });
            b.settle();
            assert!(b.events(from).iter().any(|e| matches!(
                e, Event::SetupAcknowledged { call, .. } if *call == a
            )));
            let overlap = match from {
                End::User => CallState::OverlapSending,
                End::Net => CallState::OverlapReceiving,
            };
            assert_eq!(b.state(from, a), Some(overlap));
            for (digits, last) in [("255", false), ("51234", true)] {
                b.command(from, Command::Information { call: a, digits: digits.into(), sending_complete: last });
            }
            b.settle();
            let more: Vec<_> = b
                .events(from.other())
                .into_iter()
                .filter_map(|e| match e {
                    Event::MoreDigits { digits, sending_complete, .. } => Some((digits, sending_complete)),
                    _ => None,
                })
                .collect();
            assert_eq!(more, [("255".to_string(), false), ("51234".to_string(), true)]);
            b.command(from.other(), Command::Proceeding { call: ic.call, inband: false });
            b.command(from.other(), Command::Connect { call: ic.call, connected: None });
            b.settle();
            assert_eq!(b.state(from, a), Some(CallState::Active));
            b.command(from, Command::Disconnect { call: a, cause: CauseValue::NORMAL_CLEARING, inband: false });
            b.settle();
            b.assert_idle();
        }
    }
}

#[test]
fn overlap_receiving_digit_timeout_t302() {
    let mut b = bench(SwitchType::EuroIsdnE1);
    let a = b.setup(End::User, isdn_q931::q931::SetupRequest::new("").overlap());
    b.settle();
    let ic = b.incoming(End::Net);
    assert_eq!(ic.called.digits, "");
    b.command(End::Net, Command::SetupAck { call: ic.call });
    b.settle();
    b.run_for(secs(16));
    assert!(b.events(End::Net).iter().any(|e| matches!(e, Event::DigitTimeout { .. })));
    // The application decides: incomplete number.
    b.command(End::Net, Command::Disconnect { call: ic.call, cause: CauseValue::INVALID_NUMBER_FORMAT, inband: false });
    b.settle();
    assert_eq!(b.released(End::User, a).unwrap().value, CauseValue::INVALID_NUMBER_FORMAT);
    b.assert_idle();
}

#[test]
fn status_enquiry_is_answered_with_the_state() {
    for s in SwitchType::ALL {
        let mut b = bench(s);
        let (a, c) = b.connected_call(End::User, isdn_q931::q931::SetupRequest::new("7"));
        b.clear();
        b.command(End::User, Command::StatusEnquiry { call: a });
        b.settle();
        let status = b.messages_from(End::Net);
        assert_eq!(status.len(), 1);
        assert_eq!(status[0].msg_type, MessageType::Status);
        assert_eq!(cause_of(&status[0]), Some(30));
        assert_eq!(state_of(&status[0]), Some(10));
        assert!(b.events(End::User).iter().any(|e| matches!(
            e,
            Event::Status { call: Some(x), peer_state: 10, our_state: CallState::Active, .. }
                if *x == a
        )));
        // No T322 left running: nothing more happens.
        b.run_for(secs(30));
        assert_eq!(b.state(End::User, a), Some(CallState::Active));
        assert_eq!(b.state(End::Net, c), Some(CallState::Active));
    }
}

#[test]
fn progress_and_proceeding_with_inband() {
    for s in SwitchType::ALL {
        let mut b = bench(s);
        let a = b.setup(End::User, isdn_q931::q931::SetupRequest::new("7"));
        b.settle();
        let ic = b.incoming(End::Net);
        b.command(End::Net, Command::Proceeding { call: ic.call, inband: true });
        b.command(End::Net, Command::Progress { call: ic.call, description: ProgressDescription::NotEndToEndIsdn });
        b.settle();
        let ev = b.events(End::User);
        assert!(ev.iter().any(|e| matches!(e, Event::Proceeding { call, .. } if *call == a)));
        assert!(ev.iter().any(|e| matches!(e, Event::Progress { inband: true, .. })));
        let v = SwitchVariant::for_switch(s);
        let types = b.types_from(End::Net);
        if v.progress_in_call_proceeding {
            assert_eq!(types, [MessageType::CallProceeding, MessageType::Progress]);
        } else {
            assert_eq!(types, [MessageType::CallProceeding, MessageType::Progress, MessageType::Progress]);
        }
        // In-band announced: T310 does not run out.
        b.run_for(secs(40));
        assert_eq!(b.state(End::User, a), Some(CallState::OutgoingCallProceeding));
    }
}

#[test]
fn data_bearer_and_channel_preferences() {
    for s in SwitchType::ALL {
        let mut b = bench(s);
        let mut req = isdn_q931::q931::SetupRequest::new("7").channel(ChannelPref::Exclusive(ChannelRef::new(0, 5)));
        req.bearer = Some(Bearer::data());
        b.setup(End::User, req);
        b.settle();
        let ic = b.incoming(End::Net);
        assert_eq!(ic.channel, ChannelRef::new(0, 5));
        assert_eq!(ic.bearer.kind, BearerKind::UnrestrictedDigital);
        // A channel that does not exist, a busy one.
        let now = b.now;
        assert_eq!(
            b.pri(End::User).setup(isdn_q931::q931::SetupRequest::new("7").channel(ChannelPref::Exclusive(ChannelRef::new(0, 40))), now),
            Err(CommandError::NoSuchChannel(ChannelRef::new(0, 40)))
        );
        assert_eq!(
            b.pri(End::User).setup(isdn_q931::q931::SetupRequest::new("7").channel(ChannelPref::Exclusive(ChannelRef::new(0, 5))), now),
            Err(CommandError::ChannelUnavailable(ChannelRef::new(0, 5)))
        );
        // Hunting: the user side ascends, the network side descends.
        let u = b.setup(End::User, isdn_q931::q931::SetupRequest::new("8"));
        let n = b.setup(End::Net, isdn_q931::q931::SetupRequest::new("9"));
        assert_eq!(b.pri_ref(End::User).call_control().call_channel(u), Some(ChannelRef::new(0, 1)));
        let top = *b.pri_ref(End::Net).call_control().channels().all().last().unwrap();
        assert_eq!(b.pri_ref(End::Net).call_control().call_channel(n), Some(top));
    }
}

#[test]
fn every_channel_busy_gives_cause_34() {
    let mut b = bench(SwitchType::Ni2);
    // Fill the span from the network side.
    let n = b.pri_ref(End::Net).call_control().channels().all().len();
    for _ in 0..n {
        b.setup(End::Net, isdn_q931::q931::SetupRequest::new("1"));
    }
    b.settle();
    let now = b.now;
    assert_eq!(b.pri(End::Net).setup(isdn_q931::q931::SetupRequest::new("1"), now), Err(CommandError::NoChannel));
    assert_eq!(b.pri(End::User).setup(isdn_q931::q931::SetupRequest::new("1"), now), Err(CommandError::NoChannel));
    let _ = Side::User;
}
