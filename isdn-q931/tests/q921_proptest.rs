//! Property tests of the Q.921 data link: no input makes it panic or spin,
//! and no loss pattern makes it deliver a message twice or out of order.

mod q921_harness;

use std::time::{Duration, Instant};

use isdn_q931::q921::{Command, Config, Link, LinkState, Output, Role};
use proptest::prelude::*;
use q921_harness::{Bench, Fate, Side, classify, message, millis, secs};

/// Frames that look like LAPD often enough to reach deep states: our
/// address with either C/R, a control field from the defined set or any
/// octet, small sequence numbers, short information fields; plus plain
/// random bytes.
fn frame() -> impl Strategy<Value = Vec<u8>> {
    let control = prop_oneof![
        // I frame
        (0u8..8, 0u8..8, any::<bool>()).prop_map(|(ns, nr, p)| vec![ns << 1, (nr << 1) | u8::from(p)]),
        // S frame
        (prop::sample::select(vec![0x01u8, 0x05, 0x09, 0x0D]), 0u8..8, any::<bool>()).prop_map(|(s, nr, pf)| vec![s, (nr << 1) | u8::from(pf)]),
        // U frame
        (prop::sample::select(vec![0x6Fu8, 0x0F, 0x03, 0x43, 0x63, 0x87, 0xAF, 0x2F]), any::<bool>()).prop_map(|(u, pf)| vec![u | if pf { 0x10 } else { 0 }]),
        any::<u8>().prop_map(|c| vec![c]),
    ];
    let info = prop_oneof![
        4 => prop::collection::vec(any::<u8>(), 0..8),
        1 => prop::collection::vec(any::<u8>(), 255..270),
    ];
    let structured = (any::<bool>(), control, info).prop_map(|(cr, control, info)| {
        let mut f = vec![u8::from(cr) << 1, 0x01];
        f.extend(control);
        f.extend(info);
        f
    });
    prop_oneof![
        3 => structured,
        1 => prop::collection::vec(any::<u8>(), 0..12),
    ]
}

#[derive(Debug, Clone)]
enum Input {
    Frame(Vec<u8>),
    Wait(u16),
    Command(Command),
}

fn input() -> impl Strategy<Value = Input> {
    prop_oneof![
        6 => frame().prop_map(Input::Frame),
        2 => (0u16..3000).prop_map(Input::Wait),
        1 => prop_oneof![
            Just(Command::Establish),
            Just(Command::Release),
            (0u16..10).prop_map(|n| Command::Send(message(n))),
            Just(Command::Send(vec![0; 300])),
            Just(Command::SendUnitdata(vec![1, 2, 3])),
            any::<bool>().prop_map(Command::ReceiverBusy),
        ]
        .prop_map(Input::Command),
    ]
}

/// Drives one link with arbitrary inputs, checking what it says back.
fn drive(role: Role, config: Config, inputs: &[Input]) {
    let start = Instant::now();
    let mut now = start;
    let mut link = Link::new(role, config.clone(), now);
    for input in inputs {
        match input {
            Input::Frame(f) => link.handle_frame(f, now),
            Input::Wait(ms) => {
                now += Duration::from_millis(u64::from(*ms));
                // Fire every timer due by now, as an event loop would.
                let mut fired = 0;
                while let Some(t) = link.poll_timeout().filter(|t| *t <= now) {
                    link.handle_timeout(now);
                    fired += 1;
                    assert!(fired < 10, "timer at {t:?} keeps firing");
                }
            }
            Input::Command(c) => {
                let _ = link.command(c.clone(), now);
            }
        }
        while let Some(out) = link.poll_output() {
            if let Output::Transmit(f) = out {
                assert!(f.len() >= 3 && f.len() <= 4 + config.n201, "{f:02x?}");
                assert_ne!(classify(&f), q921_harness::Kind::Other, "{f:02x?}");
                // Our address, SAPI 0 TEI 0.
                assert_eq!(f[0] & !0x02, 0x00);
                assert_eq!(f[1], 0x01);
            }
        }
        if let Some(t) = link.poll_timeout() {
            assert!(t > start, "timer in the past");
        }
        assert!(link.queued() <= 1000);
        if link.state() == LinkState::TeiAssigned {
            assert!(!link.is_established());
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_input_never_panics_network_side(inputs in prop::collection::vec(input(), 0..80)) {
        drive(Role::Network, Config::default(), &inputs);
    }

    #[test]
    fn arbitrary_input_never_panics_user_side(inputs in prop::collection::vec(input(), 0..80)) {
        drive(Role::User, Config::default(), &inputs);
    }

    #[test]
    fn arbitrary_input_never_panics_with_odd_config(
        inputs in prop::collection::vec(input(), 0..80),
        k in any::<u8>(),
        n200 in 0u32..3,
        n201 in 0usize..10,
    ) {
        let config = Config { k, n200, n201, t200: Duration::from_millis(1), t203: Duration::from_millis(1), ..Config::default() };
        drive(Role::Network, config, &inputs);
    }
}

/// A tiny deterministic generator for loss decisions.
struct XorShift(u64);

impl XorShift {
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }

    /// True with probability `percent`/100.
    fn chance(&mut self, percent: u64) -> bool {
        self.next() % 100 < percent
    }
}

/// Message index of a test message (inverse of `message`).
fn index(msg: &[u8]) -> u16 {
    u16::from_be_bytes([msg[2], msg[3]])
}

fn assert_increasing(side: Side, delivered: &[Vec<u8>]) -> Result<(), TestCaseError> {
    let indices: Vec<u16> = delivered.iter().map(|m| index(m)).collect();
    for pair in indices.windows(2) {
        prop_assert!(pair[0] < pair[1], "{:?} got a duplicate or out-of-order message: {:?}", side, indices);
    }
    Ok(())
}

#[derive(Debug, Clone)]
enum Step {
    Send(Side),
    Wait(u16),
    Busy(Side, bool),
}

fn step() -> impl Strategy<Value = Step> {
    let side = prop_oneof![Just(Side::Net), Just(Side::User)];
    prop_oneof![
        6 => side.clone().prop_map(Step::Send),
        4 => (0u16..1500).prop_map(Step::Wait),
        1 => (side, any::<bool>()).prop_map(|(s, b)| Step::Busy(s, b)),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    /// Messages may be lost while the line is bad (re-establishment drops
    /// what was unacknowledged) but never come twice or out of order, and
    /// once the line is good the link recovers and carries everything new.
    #[test]
    fn random_loss_never_duplicates_or_reorders_and_link_recovers(
        seed in 1u64..,
        loss_percent in 0u64..70,
        dup_percent in 0u64..10,
        steps in prop::collection::vec(step(), 0..60),
    ) {
        let mut b = Bench::new();
        let mut rng = XorShift(seed);
        b.set_filter(move |_| {
            if rng.chance(loss_percent) {
                Fate::Drop
            } else if rng.chance(dup_percent) {
                Fate::Duplicate
            } else {
                Fate::Deliver
            }
        });
        let mut next = [0u16, 10_000];
        for s in &steps {
            match s {
                Step::Send(side) => {
                    let i = usize::from(*side == Side::User);
                    let msg = message(next[i]);
                    next[i] += 1;
                    b.send(*side, &msg);
                }
                Step::Wait(ms) => b.run_for(millis(u64::from(*ms))),
                Step::Busy(side, busy) => b.command(*side, Command::ReceiverBusy(*busy)),
            }
        }
        b.run_for(secs(5));
        assert_increasing(Side::User, &b.received(Side::User))?;
        assert_increasing(Side::Net, &b.received(Side::Net))?;

        // Heal the line.
        b.clear_filter();
        b.command(Side::Net, Command::ReceiverBusy(false));
        b.command(Side::User, Command::ReceiverBusy(false));
        b.run_for(secs(40));
        prop_assert!(b.net.is_established() && b.user.is_established(),
            "net {:?} user {:?}", b.net.state(), b.user.state());
        prop_assert_eq!(b.net.queued(), 0);
        prop_assert_eq!(b.user.queued(), 0);

        let before = [b.received(Side::User).len(), b.received(Side::Net).len()];
        let fresh_net: Vec<_> = (0..5).map(|n| message(5_000 + n)).collect();
        let fresh_user: Vec<_> = (0..5).map(|n| message(20_000 + n)).collect();
        for (a, u) in fresh_net.iter().zip(&fresh_user) {
            b.send(Side::Net, a);
            b.send(Side::User, u);
        }
        b.run_for(secs(2));
        prop_assert_eq!(&b.received(Side::User)[before[0]..], &fresh_net[..]);
        prop_assert_eq!(&b.received(Side::Net)[before[1]..], &fresh_user[..]);
        assert_increasing(Side::User, &b.received(Side::User))?;
        assert_increasing(Side::Net, &b.received(Side::Net))?;
    }

    /// Garbage injected into both ends while they talk: no panic, and the
    /// link comes back and carries data once the garbage stops.
    #[test]
    fn injected_garbage_never_wedges_the_link(
        garbage in prop::collection::vec((any::<bool>(), frame(), 0u16..500), 0..40),
    ) {
        let mut b = Bench::new();
        for (n, (to_net, f, wait)) in (0u16..).zip(&garbage) {
            let now = b.now;
            if *to_net { b.net.handle_frame(f, now) } else { b.user.handle_frame(f, now) }
            b.send(Side::Net, &message(n));
            b.run_for(millis(u64::from(*wait)));
        }
        b.run_for(secs(40));
        prop_assert!(b.net.is_established() && b.user.is_established(),
            "net {:?} user {:?}", b.net.state(), b.user.state());
        b.send(Side::User, &message(9_999));
        b.run_for(secs(2));
        let received = b.received(Side::Net);
        prop_assert_eq!(received.last(), Some(&message(9_999)));
    }
}
