//! Procedures between two stacks: B-channel and call reference glare,
//! RESTART in both directions, D-channel outage (T309), NFAS with a backup
//! D-channel, SERVICE.

mod q931_harness;

use isdn_q931::q931::{
    CallState, ChannelPref, ChannelRef, Command, Config, Event, Initiator, InterfaceConfig, InterfaceKind, RestartTarget, SetupRequest, Side, SwitchType,
    SwitchVariant,
};
use isdn_q931::wire::ie::{RestartClass, ServiceStatus};
use isdn_q931::wire::{CauseValue, IeRepr, MessageType};
use isdn_q931::{LinkConfig, PriConfig};
use q931_harness::{Bench, End, cause_of, secs};

fn bench(s: SwitchType) -> Bench {
    let mut b = Bench::new(s);
    b.establish();
    b
}

#[test]
fn b_channel_glare_exclusive_network_wins() {
    for s in SwitchType::ALL {
        let mut b = bench(s);
        let ch = ChannelRef::new(0, 3);
        let req = SetupRequest::new("100").channel(ChannelPref::Exclusive(ch));
        // Both sides seize channel 3 at the same instant.
        let u = b.setup(End::User, req.clone());
        let n = b.setup(End::Net, req);
        b.settle();
        // Both SETUPs use call reference 1: the flag tells them apart.
        let setups: Vec<u16> = b
            .messages_from(End::User)
            .iter()
            .chain(b.messages_from(End::Net).iter())
            .filter(|m| m.msg_type == MessageType::Setup)
            .map(|m| m.call_ref.value)
            .collect();
        assert_eq!(setups, [1, 1], "{s:?}");
        let ic = b.incoming(End::User);
        assert_eq!(ic.channel, ch, "{s:?}: the network's call keeps the channel");
        assert_eq!(b.released(End::User, u).map(|c| c.value), Some(CauseValue::REQUESTED_CHANNEL_NOT_AVAILABLE), "{s:?}");
        assert!(b.events(End::Net).iter().all(|e| !matches!(e, Event::IncomingCall(_))));
        b.command(End::User, Command::Connect { call: ic.call, connected: None });
        b.settle();
        assert_eq!(b.state(End::Net, n), Some(CallState::Active));
        b.command(End::Net, Command::Disconnect { call: n, cause: CauseValue::NORMAL_CLEARING, inband: false });
        b.settle();
        b.assert_idle();
    }
}

#[test]
fn b_channel_glare_preferred_moves_the_users_call() {
    for s in SwitchType::ALL {
        let v = SwitchVariant::for_switch(s);
        let mut b = bench(s);
        let ch = ChannelRef::new(0, 3);
        let u = b.setup(End::User, SetupRequest::new("100").channel(ChannelPref::Preferred(ch)));
        let n = b.setup(End::Net, SetupRequest::new("200").channel(ChannelPref::Exclusive(ch)));
        b.settle();
        let at_user = b.incoming(End::User);
        assert_eq!(at_user.channel, ch);
        if !v.preferred_channel {
            // 4ESS: channels are always exclusive.
            assert_eq!(b.released(End::User, u).map(|c| c.value), Some(CauseValue::REQUESTED_CHANNEL_NOT_AVAILABLE));
            continue;
        }
        let at_net = b.incoming(End::Net);
        assert_ne!(at_net.channel, ch, "{s:?}: the network picks another channel");
        b.command(End::Net, Command::Proceeding { call: at_net.call, inband: false });
        b.command(End::User, Command::Alerting { call: at_user.call, inband: false });
        b.settle();
        assert!(b.events(End::User).iter().any(|e| matches!(
            e,
            Event::Proceeding { call, channel, .. } if *call == u && *channel == at_net.channel
        )));
        assert_eq!(b.pri_ref(End::User).call_control().call_channel(u), Some(at_net.channel));
        assert_eq!(b.state(End::Net, n), Some(CallState::CallReceived));
        for (end, call) in [(End::User, u), (End::Net, n)] {
            b.command(end, Command::Disconnect { call, cause: CauseValue::NORMAL_CLEARING, inband: false });
        }
        b.settle();
        b.assert_idle();
    }
}

/// The channel identification a message carries: (exclusive, channels).
fn channel_id_of(m: &isdn_q931::wire::MessageRepr) -> Option<(bool, Vec<u8>)> {
    m.ies.iter().find_map(|ie| match ie {
        IeRepr::ChannelId(ci) => Some((ci.exclusive, ci.channel_numbers())),
        _ => None,
    })
}

#[test]
fn locally_blocked_channel_moves_a_preferred_setup_and_refuses_an_exclusive_one() {
    for s in SwitchType::ALL.into_iter().filter(|&s| SwitchVariant::for_switch(s).preferred_channel) {
        for callee in [End::User, End::Net] {
            let caller = callee.other();
            let mut b = bench(s);
            let one = ChannelRef::new(0, 1);
            assert!(b.pri(callee).set_channel_blocked(one, true));
            assert!(!b.pri(callee).set_channel_blocked(ChannelRef::new(7, 1), true), "no interface 7");
            // The callee's hunt: ascending on the user side, descending on the network side.
            let all = b.pri_ref(callee).call_control().channels().all();
            let moved = if callee == End::User { all[1] } else { all[all.len() - 1] };

            // Preferred: another idle channel, indicated exclusive in the first answer.
            let a = b.setup(caller, SetupRequest::new("100").channel(ChannelPref::Preferred(one)));
            b.settle();
            let setup = b.messages_from(caller).into_iter().find(|m| m.msg_type == MessageType::Setup).expect("SETUP");
            assert_eq!(channel_id_of(&setup), Some((false, vec![1])), "{s:?} {callee:?}: the SETUP prefers channel 1");
            let ic = b.incoming(callee);
            assert_eq!(ic.channel, moved, "{s:?} {callee:?}");
            let first =
                if callee == End::User { Command::Proceeding { call: ic.call, inband: false } } else { Command::Alerting { call: ic.call, inband: false } };
            let first_type = if callee == End::User { MessageType::CallProceeding } else { MessageType::Alerting };
            b.command(callee, first);
            b.settle();
            let answer = b.messages_from(callee).into_iter().find(|m| m.msg_type == first_type).expect("first answer");
            assert_eq!(channel_id_of(&answer), Some((true, vec![moved.channel])), "{s:?} {callee:?}: {answer:?}");
            assert_eq!(b.pri_ref(caller).call_control().call_channel(a), Some(moved), "{s:?} {callee:?}");
            b.command(caller, Command::Disconnect { call: a, cause: CauseValue::NORMAL_CLEARING, inband: false });
            b.settle();
            b.clear();

            // Exclusive: RELEASE COMPLETE, cause 44.
            let a = b.setup(caller, SetupRequest::new("101").channel(ChannelPref::Exclusive(one)));
            b.settle();
            let rc = b.messages_from(callee).into_iter().find(|m| m.msg_type == MessageType::ReleaseComplete).expect("RELEASE COMPLETE");
            assert_eq!(cause_of(&rc), Some(CauseValue::REQUESTED_CHANNEL_NOT_AVAILABLE.0), "{s:?} {callee:?}");
            assert_eq!(b.released(caller, a).map(|c| c.value), Some(CauseValue::REQUESTED_CHANNEL_NOT_AVAILABLE));
            assert!(b.events(callee).iter().all(|e| !matches!(e, Event::IncomingCall(_))));
            b.clear();

            // Every channel blocked: a preferred SETUP finds none, cause 34.
            for &c in &all {
                b.pri(callee).set_channel_blocked(c, true);
            }
            let a = b.setup(caller, SetupRequest::new("102").channel(ChannelPref::Preferred(one)));
            b.settle();
            let rc = b.messages_from(callee).into_iter().find(|m| m.msg_type == MessageType::ReleaseComplete).expect("RELEASE COMPLETE");
            assert_eq!(cause_of(&rc), Some(CauseValue::NO_CIRCUIT_AVAILABLE.0), "{s:?} {callee:?}");
            assert_eq!(b.released(caller, a).map(|c| c.value), Some(CauseValue::NO_CIRCUIT_AVAILABLE));
            b.clear();

            // Unblocked: channel 1 takes an exclusive call again.
            for &c in &all {
                b.pri(callee).set_channel_blocked(c, false);
            }
            let a = b.setup(caller, SetupRequest::new("103").channel(ChannelPref::Exclusive(one)));
            b.settle();
            let ic = b.incoming(callee);
            assert_eq!(ic.channel, one, "{s:?} {callee:?}");
            b.command(callee, Command::Proceeding { call: ic.call, inband: false });
            b.settle();
            b.command(caller, Command::Disconnect { call: a, cause: CauseValue::NORMAL_CLEARING, inband: false });
            b.settle();
            b.assert_idle();
        }
    }
}

#[test]
fn restart_channels_from_either_side_clears_their_calls() {
    for s in SwitchType::ALL {
        for from in [End::User, End::Net] {
            let mut b = bench(s);
            let (a, c) = b.connected_call(End::User, SetupRequest::new("1"));
            let ch = b.pri_ref(End::User).call_control().call_channel(a).unwrap();
            b.clear();
            b.command(from, Command::Restart(RestartTarget::Channels(vec![ch])));
            b.settle();
            let restart = b.messages_from(from);
            assert_eq!(restart[0].msg_type, MessageType::Restart);
            assert!(restart[0].call_ref.is_global());
            let ack = b.messages_from(from.other());
            assert_eq!(ack[0].msg_type, MessageType::RestartAcknowledge);
            assert!(b.released(End::User, a).is_some(), "{s:?}");
            assert!(b.released(End::Net, c).is_some(), "{s:?}");
            assert!(b.events(from.other()).iter().any(|e| matches!(
                e,
                Event::ChannelsRestarted { channels, initiator: Initiator::Peer } if channels == &vec![ch]
            )));
            assert!(b.events(from).iter().any(|e| matches!(
                e,
                Event::RestartCompleted { channels } if channels == &vec![ch]
            )));
            b.assert_idle();
        }
    }
}

#[test]
fn restart_interface_and_all_with_the_variants_classes() {
    for s in SwitchType::ALL {
        let v = SwitchVariant::for_switch(s);
        for (target, expect) in [
            (RestartTarget::Interface(0), RestartClass::SingleInterface),
            (RestartTarget::All, if v.uses_restart_class(RestartClass::AllInterfaces) { RestartClass::AllInterfaces } else { RestartClass::SingleInterface }),
        ] {
            let mut b = bench(s);
            let calls: Vec<_> = (0..3).map(|_| b.connected_call(End::Net, SetupRequest::new("2"))).collect();
            b.clear();
            b.command(End::Net, Command::Restart(target.clone()));
            b.settle();
            let m = &b.messages_from(End::Net)[0];
            let class = m.ies.iter().find_map(|ie| match ie {
                IeRepr::RestartIndicator(r) => Some(r.class),
                _ => None,
            });
            assert_eq!(class, Some(expect), "{s:?} {target:?}");
            for (n, u) in calls {
                assert!(b.released(End::Net, n).is_some());
                assert!(b.released(End::User, u).is_some());
            }
            let all = b.pri_ref(End::User).call_control().channels().all();
            assert!(b.events(End::User).iter().any(|e| matches!(
                e,
                Event::ChannelsRestarted { channels, .. } if *channels == all
            )));
            assert!(b.events(End::Net).iter().any(|e| matches!(e, Event::RestartCompleted { .. })));
            b.assert_idle();
        }
    }
}

#[test]
fn unanswered_restart_is_retried_then_given_up() {
    // The peer (a bare data link) never answers the RESTART.
    let mut b = Bench::raw(SwitchType::Ni2, End::Net);
    b.establish();
    let ch = ChannelRef::new(0, 7);
    b.command(End::Net, Command::Restart(RestartTarget::Channels(vec![ch])));
    assert!(!b.pri_ref(End::Net).call_control().channels().is_free(ch), "restarting");
    b.run_for(secs(125));
    assert_eq!(b.raw_take(End::User).len(), 2, "T316 expired once: sent again");
    assert_eq!(b.pri_ref(End::Net).call_control().pending_restarts(), 1);
    b.run_for(secs(250));
    assert_eq!(b.raw_take(End::User).len(), 1);
    assert!(b.events(End::Net).iter().any(|e| matches!(e, Event::RestartFailed { .. })));
    b.assert_idle();
}

/// Runs until both stacks report the link down, then returns.
fn wait_link_down(b: &mut Bench) {
    let ok = b.run_until(secs(60), |b| [End::Net, End::User].iter().all(|e| b.pri_ref(*e).active_link().is_none()));
    assert!(ok, "link failure not detected");
}

fn wait_link_up(b: &mut Bench) {
    let ok = b.run_until(secs(30), |b| [End::Net, End::User].iter().all(|e| b.pri_ref(*e).active_link().is_some()));
    assert!(ok, "link did not come back");
    b.settle();
}

#[test]
fn short_d_channel_outage_keeps_active_calls() {
    for s in SwitchType::ALL {
        let mut b = bench(s);
        let (a, c) = b.connected_call(End::User, SetupRequest::new("1"));
        // A call still ringing is cleared by the outage.
        let ringing = b.setup(End::User, SetupRequest::new("2"));
        b.settle();
        let ring_in = b.incoming(End::Net).call;
        assert_ne!(ring_in, c);
        b.clear();
        b.cut_links = vec![0];
        // The first side to notice clears its ringing call and starts
        // T309 for the active one.
        let ok = b.run_until(secs(60), |b| [End::Net, End::User].iter().any(|e| b.pri_ref(*e).active_link().is_none()));
        assert!(ok, "link failure not detected");
        assert!(b.released(End::User, ringing).is_some() || b.released(End::Net, ring_in).is_some(), "{s:?}");
        assert_eq!(b.state(End::User, a), Some(CallState::Active));
        let t309 = SwitchVariant::for_switch(s).user_timers.t309;
        b.run_for((t309 / 4).min(secs(1)));
        b.cut_links.clear();
        wait_link_up(&mut b);
        assert!(b.released(End::User, ringing).is_some(), "{s:?}");
        assert!(b.released(End::Net, ring_in).is_some(), "{s:?}");
        assert_eq!(b.state(End::User, a), Some(CallState::Active), "{s:?}");
        assert_eq!(b.state(End::Net, c), Some(CallState::Active), "{s:?}");
        assert!(b.types_from(End::User).contains(&MessageType::StatusEnquiry));
        assert!(b.types_from(End::Net).contains(&MessageType::Status));
        // And long after, nothing was cleared.
        b.run_for(secs(200));
        assert_eq!(b.state(End::User, a), Some(CallState::Active));
        b.command(End::User, Command::Disconnect { call: a, cause: CauseValue::NORMAL_CLEARING, inband: false });
        b.settle();
        b.assert_idle();
    }
}

#[test]
fn long_d_channel_outage_clears_active_calls_with_cause_27() {
    for s in SwitchType::ALL {
        let mut b = bench(s);
        let (a, c) = b.connected_call(End::Net, SetupRequest::new("1"));
        b.clear();
        b.cut_links = vec![0];
        wait_link_down(&mut b);
        let t309 = SwitchVariant::for_switch(s).user_timers.t309;
        b.run_for(t309 + secs(1));
        for (end, call) in [(End::Net, a), (End::User, c)] {
            assert_eq!(b.released(end, call).map(|c| c.value), Some(CauseValue::DESTINATION_OUT_OF_ORDER), "{s:?} {end:?}");
        }
        b.cut_links.clear();
        wait_link_up(&mut b);
        b.assert_idle();
        // Calls work again.
        b.connected_call(End::User, SetupRequest::new("3"));
    }
}

fn nfas(side: Side) -> PriConfig {
    let q931 = Config::new(SwitchType::Ni2, side).with_interfaces(vec![
        InterfaceConfig::new(0, InterfaceKind::T1, true),
        InterfaceConfig::new(1, InterfaceKind::T1, false),
        InterfaceConfig::new(2, InterfaceKind::T1, true),
    ]);
    let mut c = PriConfig::new(q931);
    c.links = vec![LinkConfig::primary(0), LinkConfig::backup(2)];
    c
}

#[test]
fn nfas_backup_d_channel_takes_over() {
    let mut b = Bench::with(nfas(Side::Network), nfas(Side::User));
    b.establish();
    assert_eq!(b.pri_ref(End::Net).active_link(), Some(0));
    // A call on the span without a D-channel (channel 24 exists there).
    let ch = ChannelRef::new(1, 24);
    let (a, c) = b.connected_call(End::User, SetupRequest::new("1").channel(ChannelPref::Exclusive(ch)));
    assert_eq!(b.pri_ref(End::Net).call_control().call_channel(c), Some(ch));
    // The interface identifier is explicit in the channel identification.
    let setup = b.messages_from(End::User).into_iter().find(|m| m.msg_type == MessageType::Setup).unwrap();
    let cid = setup.ies.iter().find_map(|ie| match ie {
        IeRepr::ChannelId(c) => Some(c.clone()),
        _ => None,
    });
    assert_eq!(cid.unwrap().interface_id, Some(1));
    b.clear();
    // The primary D-channel fails; the backup comes up and carries on.
    b.cut_links = vec![0];
    let ok = b.run_until(secs(60), |b| [End::Net, End::User].iter().all(|e| b.pri_ref(*e).active_link() == Some(2)));
    assert!(ok, "backup did not take over: {:?}", b.events);
    b.settle();
    assert_eq!(b.state(End::User, a), Some(CallState::Active));
    assert_eq!(b.state(End::Net, c), Some(CallState::Active));
    // Calls are checked on the new link.
    assert!(b.sent.iter().any(|s| s.link == 2 && s.from == End::User && s.bytes.len() > 4 && s.bytes[4..].get(4) == Some(&0x75)));
    // New calls use the backup link.
    let (a2, _) = b.connected_call(End::Net, SetupRequest::new("2"));
    let _ = a2;
    // The primary comes back: no switch back (non-revertive).
    b.cut_links.clear();
    b.run_for(secs(10));
    assert_eq!(b.pri_ref(End::User).active_link(), Some(2));
    assert_eq!(b.pri_ref(End::Net).link_state(0).map(|s| s.number()), Some(7));
    b.command(End::User, Command::Disconnect { call: a, cause: CauseValue::NORMAL_CLEARING, inband: false });
    b.command(End::Net, Command::Restart(RestartTarget::All));
    b.settle();
    b.assert_idle();
}

#[test]
fn service_messages_take_channels_out_of_service() {
    for s in SwitchType::ALL {
        let v = SwitchVariant::for_switch(s);
        let mut b = bench(s);
        let ch = ChannelRef::new(0, 5);
        let r = b.try_command(End::Net, Command::Service { target: RestartTarget::Channels(vec![ch]), status: ServiceStatus::OutOfService });
        let Some(pd) = v.service_pd else {
            assert!(r.is_err(), "{s:?}");
            continue;
        };
        r.unwrap();
        b.settle();
        let sent = b.messages_from(End::Net);
        assert_eq!(sent[0].pd, pd);
        assert_eq!(sent[0].msg_type, MessageType::Service);
        assert_eq!(b.messages_from(End::User)[0].msg_type, MessageType::ServiceAcknowledge);
        assert!(b.events(End::User).iter().any(|e| matches!(e, Event::ServiceChanged { status: ServiceStatus::OutOfService, initiator: Initiator::Peer, .. })));
        assert!(b.events(End::Net).iter().any(|e| matches!(e, Event::ServiceChanged { initiator: Initiator::Application, .. })));
        for end in [End::Net, End::User] {
            assert!(!b.pri_ref(end).call_control().channels().is_free(ch));
        }
        let now = b.now;
        assert!(b.pri(End::User).setup(SetupRequest::new("1").channel(ChannelPref::Exclusive(ch)), now).is_err());
        b.command(End::User, Command::Service { target: RestartTarget::Channels(vec![ch]), status: ServiceStatus::InService });
        b.settle();
        b.assert_idle();
    }
}

#[test]
fn nfas_hot_standby_moves_call_control_at_once() {
    let hot = |side| {
        let mut c = nfas(side);
        c.backup_mode = isdn_q931::BackupMode::Hot;
        c
    };
    let mut b = Bench::with(hot(Side::Network), hot(Side::User));
    b.establish();
    b.run_for(secs(2));
    for end in [End::Net, End::User] {
        assert_eq!(b.pri_ref(end).link_state(2).map(|s| s.number()), Some(7));
    }
    let (a, c) = b.connected_call(End::Net, SetupRequest::new("1"));
    let ringing = b.setup(End::User, SetupRequest::new("2"));
    b.settle();
    let ring_in = b.incoming(End::Net).call;
    b.command(End::Net, Command::Alerting { call: ring_in, inband: false });
    b.settle();
    b.clear();
    b.cut_links = vec![0];
    let ok = b.run_until(secs(60), |b| [End::Net, End::User].iter().all(|e| b.pri_ref(*e).active_link() == Some(2)));
    assert!(ok);
    b.settle();
    // No data link failure as far as call control is concerned: even the
    // call still ringing survives, checked by STATUS ENQUIRY.
    assert_eq!(b.state(End::Net, a), Some(CallState::Active));
    assert_eq!(b.state(End::User, c), Some(CallState::Active));
    assert_eq!(b.state(End::User, ringing), Some(CallState::CallDelivered));
    assert!(b.events.iter().all(|(_, _, e)| !matches!(e, Event::Released { .. })));
    for (end, call) in [(End::Net, a), (End::User, ringing)] {
        b.command(end, Command::Disconnect { call, cause: CauseValue::NORMAL_CLEARING, inband: false });
    }
    b.settle();
    b.run_for(secs(10));
    b.assert_idle();
}
