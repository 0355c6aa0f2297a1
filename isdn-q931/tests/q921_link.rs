//! Q.921 data link behaviour, two links back to back on a simulated
//! D-channel with a fake clock.

mod q921_harness;

use std::cell::Cell;
use std::rc::Rc;

use isdn_q931::q921::{Command, Config, LinkEvent, LinkState, MdlError};
use q921_harness::{Bench, Fate, Kind, Side, classify, is_command, message, millis, secs};

fn manual() -> Config {
    Config { auto_establish: false, ..Config::default() }
}

fn established_bench() -> Bench {
    let mut b = Bench::new();
    b.run_until_established(secs(1));
    b.clear_events();
    b.sent.clear();
    b
}

fn is_i(k: &Kind) -> bool {
    matches!(k, Kind::I { .. })
}

#[test]
fn both_sides_establish_at_start_through_sabme_collision() {
    let mut b = Bench::new();
    b.run_until_established(secs(1));
    assert_eq!(b.events(Side::Net), [LinkEvent::Established]);
    assert_eq!(b.events(Side::User), [LinkEvent::Established]);
    // Both sent SABME, both answered the other's with UA.
    for side in [Side::Net, Side::User] {
        let frames = b.frames_from(side);
        assert_eq!(frames, [Kind::Sabme, Kind::Ua], "{side:?}");
    }
    assert!(b.elapsed() < millis(10), "no timer was needed");
}

#[test]
fn network_establishes_when_user_waits() {
    let mut b = Bench::with_configs(Config::default(), manual());
    b.run_until_established(secs(1));
    assert_eq!(b.frames_from(Side::Net), [Kind::Sabme]);
    assert_eq!(b.frames_from(Side::User), [Kind::Ua]);
    assert_eq!(b.events(Side::User), [LinkEvent::Established]);
    assert_eq!(b.events(Side::Net), [LinkEvent::Established]);
}

#[test]
fn user_establishes_when_network_waits() {
    let mut b = Bench::with_configs(manual(), Config::default());
    b.run_until_established(secs(1));
    assert_eq!(b.frames_from(Side::User), [Kind::Sabme]);
    assert_eq!(b.frames_from(Side::Net), [Kind::Ua]);
}

#[test]
fn establish_command_brings_up_a_manual_link() {
    let mut b = Bench::with_configs(manual(), manual());
    b.run_for(secs(5));
    assert!(b.sent.is_empty(), "nothing happens on its own");
    b.command(Side::User, Command::Establish);
    b.run_until_established(secs(1));
    assert_eq!(b.events(Side::User), [LinkEvent::Established]);
}

#[test]
fn establishment_retries_sabme_when_first_is_lost() {
    let mut b = Bench::with_configs(manual(), manual());
    let dropped = Rc::new(Cell::new(false));
    let d = dropped.clone();
    b.set_filter(move |s| {
        if !d.get() && classify(&s.bytes) == Kind::Sabme {
            d.set(true);
            Fate::Drop
        } else {
            Fate::Deliver
        }
    });
    b.command(Side::Net, Command::Establish);
    b.run_until_established(secs(2));
    assert!(dropped.get());
    assert_eq!(b.frames_from(Side::Net), [Kind::Sabme, Kind::Sabme]);
    assert!(b.elapsed() >= secs(1), "second SABME after T200");
    assert_eq!(b.events(Side::Net), [LinkEvent::Established]);
}

#[test]
fn data_is_queued_until_established_and_establishes_on_demand() {
    let mut b = Bench::with_configs(manual(), manual());
    b.send(Side::User, &message(1));
    b.send(Side::User, &message(2));
    b.run_for(secs(1));
    assert_eq!(b.received(Side::Net), [message(1), message(2)]);
    assert_eq!(b.events(Side::User)[0], LinkEvent::Established);
}

#[test]
fn twenty_messages_each_way_arrive_once_in_order() {
    let mut b = established_bench();
    for n in 0..20 {
        b.send(Side::Net, &message(n));
        b.send(Side::User, &message(100 + n));
    }
    b.run_for(secs(2));
    let expected_user: Vec<_> = (0..20).map(message).collect();
    let expected_net: Vec<_> = (100..120).map(message).collect();
    assert_eq!(b.received(Side::User), expected_user);
    assert_eq!(b.received(Side::Net), expected_net);
    // No retransmissions were needed.
    let i_frames = b.sent.iter().filter(|s| is_i(&classify(&s.bytes))).count();
    assert_eq!(i_frames, 40);
    assert!(b.net.queued() == 0 && b.user.queued() == 0);
}

#[test]
fn sender_never_has_more_than_k_i_frames_outstanding() {
    let mut b = established_bench();
    for n in 0..20 {
        b.send(Side::Net, &message(n));
    }
    // Before anything is delivered: exactly k = 7 on the wire.
    let on_wire = b.frames_from(Side::Net).iter().filter(|k| is_i(k)).count();
    assert_eq!(on_wire, 7);
    b.run_for(secs(2));
    assert_eq!(b.received(Side::User).len(), 20);
    // N(S) goes 0..=19 exactly once each.
    let ns: Vec<u8> = b
        .frames_from(Side::Net)
        .iter()
        .filter_map(|k| match k {
            Kind::I { ns, .. } => Some(*ns),
            _ => None,
        })
        .collect();
    assert_eq!(ns, (0..20).collect::<Vec<u8>>());
}

#[test]
fn smaller_window_is_respected() {
    let config = Config { k: 2, ..Config::default() };
    let mut b = Bench::with_configs(config.clone(), config);
    b.run_until_established(secs(1));
    b.sent.clear();
    for n in 0..5 {
        b.send(Side::Net, &message(n));
    }
    assert_eq!(b.frames_from(Side::Net).iter().filter(|k| is_i(k)).count(), 2);
    b.run_for(secs(1));
    assert_eq!(b.received(Side::User).len(), 5);
}

#[test]
fn sequence_numbers_wrap_modulo_128() {
    let mut b = established_bench();
    for n in 0..300 {
        b.send(Side::User, &message(n));
        if n % 10 == 0 {
            b.run_for(millis(20));
        }
    }
    b.run_for(secs(5));
    let expected: Vec<_> = (0..300).map(message).collect();
    assert_eq!(b.received(Side::Net), expected);
}

#[test]
fn lost_i_frame_is_recovered_by_rej_without_waiting_for_t200() {
    let mut b = established_bench();
    let count = Rc::new(Cell::new(0));
    let c = count.clone();
    b.set_filter(move |s| {
        if s.from == Side::Net && matches!(classify(&s.bytes), Kind::I { .. }) {
            c.set(c.get() + 1);
            if c.get() == 3 {
                return Fate::Drop;
            }
        }
        Fate::Deliver
    });
    for n in 0..6 {
        b.send(Side::Net, &message(n));
    }
    b.run_for(millis(100));
    assert_eq!(b.received(Side::User), (0..6).map(message).collect::<Vec<_>>());
    assert!(b.frames_from(Side::User).contains(&Kind::Rej { nr: 2, pf: false }), "user sent REJ(2): {:?}", b.frames_from(Side::User));
    assert!(b.status_events(Side::Net).is_empty());
    assert!(b.status_events(Side::User).is_empty());
}

#[test]
fn lost_last_i_frame_is_recovered_by_t200_poll() {
    let mut b = established_bench();
    let dropped = Rc::new(Cell::new(false));
    let d = dropped.clone();
    b.set_filter(move |s| {
        if !d.get() && s.from == Side::User && is_i(&classify(&s.bytes)) {
            d.set(true);
            Fate::Drop
        } else {
            Fate::Deliver
        }
    });
    b.send(Side::User, &message(7));
    b.run_for(millis(900));
    assert!(b.received(Side::Net).is_empty());
    b.run_for(millis(200));
    assert_eq!(b.received(Side::Net), [message(7)]);
    // Retransmitted with P=1 after T200, answered with F=1.
    assert!(b.frames_from(Side::User).contains(&Kind::I { ns: 0, nr: 0, p: true }));
    assert!(b.frames_from(Side::Net).contains(&Kind::Rr { nr: 1, pf: true }));
    assert_eq!(b.user.state(), LinkState::MultipleFrameEstablished);
    assert!(b.status_events(Side::User).is_empty());
}

#[test]
fn lost_acknowledgement_does_not_duplicate_delivery() {
    let mut b = established_bench();
    let dropped = Rc::new(Cell::new(false));
    let d = dropped.clone();
    b.set_filter(move |s| {
        if !d.get() && s.from == Side::Net && matches!(classify(&s.bytes), Kind::Rr { .. }) {
            d.set(true);
            Fate::Drop
        } else {
            Fate::Deliver
        }
    });
    b.send(Side::User, &message(1));
    b.run_for(secs(3));
    assert!(dropped.get());
    assert_eq!(b.received(Side::Net), [message(1)]);
    assert_eq!(b.user.queued(), 0, "acknowledged by the poll's answer");
}

#[test]
fn reordered_i_frames_are_delivered_in_order() {
    let mut b = established_bench();
    let count = Rc::new(Cell::new(0));
    let c = count.clone();
    b.set_filter(move |s| {
        if s.from == Side::Net && is_i(&classify(&s.bytes)) {
            c.set(c.get() + 1);
            if c.get() == 1 {
                return Fate::Delay(millis(5));
            }
        }
        Fate::Deliver
    });
    for n in 0..4 {
        b.send(Side::Net, &message(n));
    }
    b.run_for(secs(3));
    assert_eq!(b.received(Side::User), (0..4).map(message).collect::<Vec<_>>());
}

#[test]
fn duplicated_frames_are_delivered_once() {
    let mut b = established_bench();
    b.set_filter(|_| Fate::Duplicate);
    for n in 0..10 {
        b.send(Side::Net, &message(n));
        b.send(Side::User, &message(50 + n));
    }
    b.run_for(secs(5));
    assert_eq!(b.received(Side::User), (0..10).map(message).collect::<Vec<_>>());
    assert_eq!(b.received(Side::Net), (50..60).map(message).collect::<Vec<_>>());
}

#[test]
fn total_loss_beyond_t200_times_n200_reports_errors_releases_then_recovers() {
    let mut b = established_bench();
    let cut = Rc::new(Cell::new(true));
    let c = cut.clone();
    b.set_filter(move |_| if c.get() { Fate::Drop } else { Fate::Deliver });
    b.send(Side::Net, &message(1));
    // Net: T200 x (1 + N200) polling, then SABME x (1 + N200). The idle
    // user notices at T203 and then goes the same way.
    b.run_for(secs(25));
    for side in [Side::Net, Side::User] {
        let events = b.status_events(side);
        assert!(events.contains(&LinkEvent::Error(MdlError::StatusEnquiryRetriesExhausted)), "{side:?}: {events:?}");
        assert!(events.contains(&LinkEvent::Error(MdlError::SabmeRetriesExhausted)), "{side:?}: {events:?}");
        assert_eq!(events.iter().filter(|e| **e == LinkEvent::Released).count(), 1, "{side:?} reports the link down once: {events:?}");
        assert!(!b.link(side).is_established());
    }
    // The message in flight when the line died is gone, not kept for later.
    assert_eq!(b.net.queued(), 0);
    b.clear_events();
    cut.set(false);
    b.run_for(secs(10));
    assert!(b.net.is_established() && b.user.is_established());
    assert!(b.status_events(Side::Net).contains(&LinkEvent::Established));
    assert!(b.status_events(Side::User).contains(&LinkEvent::Established));
    assert!(b.received(Side::User).is_empty());
    b.send(Side::Net, &message(2));
    b.run_for(secs(1));
    assert_eq!(b.received(Side::User), [message(2)]);
}

#[test]
fn idle_link_is_polled_after_t203_and_stays_up() {
    let mut b = established_bench();
    b.run_for(millis(9_990));
    assert!(b.sent.is_empty(), "quiet before T203");
    b.run_for(millis(100));
    let polls: Vec<_> = b.sent.iter().filter(|s| is_command(s.from, &s.bytes) && classify(&s.bytes) == Kind::Rr { nr: 0, pf: true }).collect();
    assert!(!polls.is_empty(), "RR command P=1 after T203: {:?}", b.sent);
    assert!(b.frames_from(Side::Net).contains(&Kind::Rr { nr: 0, pf: true }));
    assert!(b.frames_from(Side::User).contains(&Kind::Rr { nr: 0, pf: true }));
    assert_eq!(b.net.state(), LinkState::MultipleFrameEstablished);
    assert_eq!(b.user.state(), LinkState::MultipleFrameEstablished);
    // And so on every T203, without errors.
    b.run_for(secs(60));
    assert!(b.status_events(Side::Net).is_empty());
    assert!(b.status_events(Side::User).is_empty());
}

#[test]
fn t203_poll_of_one_sided_idle_link_gets_final_response() {
    // Only the network polls (the user's T203 is longer).
    let user = Config { t203: secs(30), ..Config::default() };
    let mut b = Bench::with_configs(Config::default(), user);
    b.run_until_established(secs(1));
    b.sent.clear();
    b.run_for(secs(11));
    assert_eq!(
        b.sent.iter().map(|s| (s.from, is_command(s.from, &s.bytes), classify(&s.bytes))).collect::<Vec<_>>(),
        [(Side::Net, true, Kind::Rr { nr: 0, pf: true }), (Side::User, false, Kind::Rr { nr: 0, pf: true }),]
    );
}

#[test]
fn peer_busy_pauses_sending_until_cleared() {
    let mut b = established_bench();
    b.command(Side::User, Command::ReceiverBusy(true));
    b.run_for(millis(10));
    assert!(b.net.is_peer_busy());
    for n in 0..5 {
        b.send(Side::Net, &message(n));
    }
    b.run_for(secs(5));
    assert!(!b.frames_from(Side::Net).iter().any(is_i), "no I frames while the peer is busy");
    assert!(b.received(Side::User).is_empty());
    // The network keeps polling and the link stays up.
    assert!(b.frames_from(Side::User).contains(&Kind::Rnr { nr: 0, pf: true }));
    assert!(b.net.is_established());
    b.command(Side::User, Command::ReceiverBusy(false));
    b.run_for(secs(2));
    assert_eq!(b.received(Side::User), (0..5).map(message).collect::<Vec<_>>());
    assert!(b.status_events(Side::Net).is_empty());
    assert!(b.status_events(Side::User).is_empty());
}

#[test]
fn frames_in_flight_when_peer_becomes_busy_are_resent_after() {
    let mut b = established_bench();
    for n in 0..3 {
        b.send(Side::Net, &message(n));
    }
    // The user turns busy while the I frames are on the wire: they are
    // discarded, and must come again once it clears.
    b.command(Side::User, Command::ReceiverBusy(true));
    b.run_for(secs(3));
    assert!(b.received(Side::User).is_empty());
    b.command(Side::User, Command::ReceiverBusy(false));
    b.run_for(secs(5));
    assert_eq!(b.received(Side::User), (0..3).map(message).collect::<Vec<_>>());
}

#[test]
fn sabme_on_established_link_resets_and_reports_reestablished() {
    let mut b = established_bench();
    for n in 0..3 {
        b.send(Side::Net, &message(n));
    }
    b.run_for(secs(1));
    b.clear_events();
    b.sent.clear();
    // The user re-establishes (as after a restart of its layer 2).
    b.command(Side::User, Command::Establish);
    b.run_for(millis(100));
    assert_eq!(b.status_events(Side::Net), [LinkEvent::Error(MdlError::PeerInitiatedReestablishment), LinkEvent::Reestablished]);
    assert_eq!(b.status_events(Side::User), [LinkEvent::Reestablished]);
    // Sequence numbers start again from 0 on both sides.
    b.send(Side::Net, &message(10));
    b.send(Side::User, &message(11));
    b.run_for(millis(100));
    assert!(b.frames_from(Side::Net).contains(&Kind::I { ns: 0, nr: 0, p: false }));
    assert_eq!(b.received(Side::User), [message(10)]);
    assert_eq!(b.received(Side::Net), [message(11)]);
}

#[test]
fn unacknowledged_frames_are_dropped_by_peer_reestablishment() {
    let mut b = established_bench();
    // The user's acknowledgements are lost; then the user re-establishes.
    b.set_filter(|s| if s.from == Side::User && matches!(classify(&s.bytes), Kind::Rr { .. }) { Fate::Drop } else { Fate::Deliver });
    b.send(Side::Net, &message(1));
    b.run_for(millis(50));
    assert_eq!(b.net.queued(), 1, "sent, not acknowledged");
    b.clear_filter();
    b.command(Side::User, Command::Establish);
    b.run_for(secs(3));
    // Delivered once, and not resent after the reset.
    assert_eq!(b.received(Side::User), [message(1)]);
    assert_eq!(b.net.queued(), 0);
}

#[test]
fn disc_releases_both_sides_and_link_stays_down_until_asked() {
    let mut b = established_bench();
    b.command(Side::Net, Command::Release);
    b.run_for(millis(100));
    assert_eq!(b.frames_from(Side::Net)[0], Kind::Disc);
    assert_eq!(b.frames_from(Side::User)[0], Kind::Ua);
    assert_eq!(b.status_events(Side::Net), [LinkEvent::Released]);
    assert_eq!(b.status_events(Side::User), [LinkEvent::Released]);
    assert_eq!(b.net.state(), LinkState::TeiAssigned);
    assert_eq!(b.user.state(), LinkState::TeiAssigned);
    // The user (a PRI) keeps trying; the network refuses with DM.
    b.run_for(secs(10));
    assert!(b.frames_from(Side::Net).contains(&Kind::Dm));
    assert!(!b.net.is_established() && !b.user.is_established());
    assert!(!b.status_events(Side::Net).contains(&LinkEvent::Established));
    // Until layer 3 asks again.
    b.command(Side::Net, Command::Establish);
    b.run_until_established(secs(1));
    b.send(Side::User, &message(3));
    b.run_for(millis(50));
    assert_eq!(b.received(Side::Net), [message(3)]);
}

#[test]
fn release_with_peer_gone_gives_up_after_n200_disc() {
    let mut b = established_bench();
    b.set_filter(|_| Fate::Drop);
    b.command(Side::Net, Command::Release);
    b.run_for(secs(5));
    let discs = b.frames_from(Side::Net).iter().filter(|k| **k == Kind::Disc).count();
    assert_eq!(discs, 4);
    assert_eq!(b.status_events(Side::Net), [LinkEvent::Error(MdlError::DiscRetriesExhausted), LinkEvent::Released]);
}

#[test]
fn peer_released_link_is_re_established_automatically() {
    let mut b = established_bench();
    // The user releases, then gives up holding it down (a PRI network side
    // re-establishes by itself).
    b.command(Side::User, Command::Release);
    b.run_for(millis(100));
    assert_eq!(b.status_events(Side::Net), [LinkEvent::Released]);
    b.command(Side::User, Command::Establish);
    b.run_until_established(secs(3));
}

#[test]
fn garbage_on_the_wire_does_not_break_an_established_link() {
    let mut b = established_bench();
    let now = b.now;
    for frame in [
        &[][..],
        &[0xFF],
        &[0x00, 0x01],
        &[0x01, 0x01, 0x7F],
        &[0x40, 0x01, 0x7F], // other SAPI
        &[0x00, 0x05, 0x7F], // other TEI
    ] {
        b.net.handle_frame(frame, now);
    }
    b.collect();
    assert!(b.sent.is_empty());
    assert!(b.status_events(Side::Net).is_empty());
    b.send(Side::User, &message(1));
    b.run_for(millis(50));
    assert_eq!(b.received(Side::Net), [message(1)]);
}

#[test]
fn undefined_control_field_re_establishes_with_error_l() {
    let mut b = established_bench();
    let now = b.now;
    // From the user: C/R=0, control 0x0D (not a LAPD S frame).
    b.net.handle_frame(&[0x00, 0x01, 0x0D, 0x00], now);
    b.run_for(millis(100));
    assert_eq!(b.status_events(Side::Net), [LinkEvent::Error(MdlError::UndefinedControlField), LinkEvent::Reestablished]);
    assert!(b.net.is_established() && b.user.is_established());
}

#[test]
fn unit_data_is_delivered_unacknowledged() {
    let mut b = established_bench();
    b.command(Side::Net, Command::SendUnitdata(vec![0x08, 0x01, 0x00, 0x7D]));
    b.run_for(millis(10));
    assert_eq!(b.events(Side::User), [LinkEvent::UnitData(vec![0x08, 0x01, 0x00, 0x7D])]);
    assert_eq!(b.frames_from(Side::User), []);
}
