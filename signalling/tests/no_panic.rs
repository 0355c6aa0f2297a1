//! Random input / command / timer sequences never panic, and a port that is
//! hung up returns to idle.

use std::time::{Duration, Instant};

use proptest::prelude::*;
use tandem_signalling::fxo::{AnswerSupervision, FxoConfig, FxoPort, StartType};
use tandem_signalling::fxs::{CallerIdTiming, FxsConfig, FxsPort, HangupSignalling};
use tandem_signalling::{Cadence, CallerIdInfo, Command, DialMode, DialPlan, LineInput, Output, Tone};

#[derive(Debug, Clone)]
enum Step {
    Input(LineInput),
    Command(Command),
    /// Advance the clock by this many ms and fire timers.
    Wait(u64),
}

fn tone() -> impl Strategy<Value = Tone> {
    prop_oneof![Just(Tone::DialTone), Just(Tone::StutterDialTone), Just(Tone::Busy), Just(Tone::Reorder), Just(Tone::Ringback)]
}

fn digit() -> impl Strategy<Value = char> {
    prop_oneof![proptest::char::range('0', '9'), Just('*'), Just('#'), Just('A'), Just('x')]
}

fn caller_id() -> impl Strategy<Value = CallerIdInfo> {
    (proptest::option::of("[0-9]{0,12}"), proptest::option::of("[A-Z ]{0,8}")).prop_map(|(number, name)| CallerIdInfo {
        number,
        name,
        datetime: None,
        ..CallerIdInfo::default()
    })
}

fn input() -> impl Strategy<Value = LineInput> {
    prop_oneof![
        Just(LineInput::RingBegin),
        Just(LineInput::RingEnd),
        Just(LineInput::OffHook),
        Just(LineInput::OnHook),
        Just(LineInput::WinkFlash),
        Just(LineInput::Polarity),
        Just(LineInput::BatteryLost),
        Just(LineInput::BatteryRestored),
        digit().prop_map(LineInput::Digit),
        digit().prop_map(LineInput::PulseDigit),
        tone().prop_map(LineInput::ToneDetected),
        caller_id().prop_map(LineInput::CallerId),
        Just(LineInput::DialComplete),
    ]
}

fn command() -> impl Strategy<Value = Command> {
    let cadence = (prop_oneof![Just(0u64), 0u64..3000], prop_oneof![Just(0u64), 0u64..5000])
        .prop_map(|(on, off)| Cadence { on: Duration::from_millis(on), off: Duration::from_millis(off) });
    prop_oneof![
        "[0-9*#,x]{0,6}".prop_map(Command::Dial),
        Just(Command::Answer),
        Just(Command::Hangup),
        Just(Command::Flash),
        (proptest::option::of(caller_id()), proptest::option::of(cadence)).prop_map(|(caller_id, cadence)| Command::Alert { caller_id, cadence }),
        any::<bool>().prop_map(Command::Mwi),
    ]
}

fn steps() -> impl Strategy<Value = Vec<Step>> {
    proptest::collection::vec(
        prop_oneof![
            4 => input().prop_map(Step::Input),
            2 => command().prop_map(Step::Command),
            3 => prop_oneof![0u64..50, 0u64..1000, 0u64..20_000].prop_map(Step::Wait),
        ],
        0..80,
    )
}

fn fxo_config() -> impl Strategy<Value = FxoConfig> {
    (
        prop_oneof![Just(StartType::LoopStart), Just(StartType::GroundStart), Just(StartType::KewlStart)],
        any::<bool>(),
        0u32..4,
        any::<bool>(),
        any::<bool>(),
        prop_oneof![
            Just(AnswerSupervision::Immediate),
            Just(AnswerSupervision::Polarity),
            prop_oneof![Just(0u64), 0u64..10_000].prop_map(|ms| AnswerSupervision::AfterTimeout(Duration::from_millis(ms)))
        ],
        any::<bool>(),
        prop_oneof![Just(DialMode::Dtmf), Just(DialMode::Pulse)],
        any::<bool>(),
    )
        .prop_map(|(start, cid, rings, early, wait, answer, pol, mode, zero)| {
            let mut c = FxoConfig::for_start(start);
            c.present_on_caller_id = cid;
            c.present_after_rings = rings;
            c.early_answer = early;
            c.wait_for_dial_tone = wait;
            c.answer = answer;
            c.disconnect.polarity = pol;
            c.dial_mode = mode;
            if zero {
                // Degenerate but legal: every timer zero.
                c.min_ring_on = Duration::ZERO;
                c.ring_timeout = Duration::ZERO;
                c.dial_tone_timeout = Duration::ZERO;
                c.blind_dial_delay = Duration::ZERO;
                c.dial_complete_timeout = Duration::ZERO;
                c.no_answer_timeout = Duration::ZERO;
                c.disconnect.open_loop_min = Duration::ZERO;
                c.hangup_guard = Duration::ZERO;
            }
            c
        })
}

fn fxs_config() -> impl Strategy<Value = FxsConfig> {
    (
        prop_oneof![Just(DialPlan::any()), Just(DialPlan::new(["911", "1NXXNXXXXXX", "XXX.", "0!"]).unwrap())],
        prop_oneof![Just(CallerIdTiming::Off), Just(CallerIdTiming::BeforeFirstRing), Just(CallerIdTiming::AfterFirstRing)],
        any::<bool>(),
        any::<bool>(),
        proptest::option::of((0u64..2000).prop_map(Duration::from_millis)),
        proptest::option::of(digit()),
        any::<bool>(),
    )
        .prop_map(|(dial_plan, caller_id, answer_polarity, pol, open_loop, terminator, zero)| {
            let mut c = FxsConfig {
                dial_plan,
                caller_id,
                answer_polarity,
                hangup: HangupSignalling { polarity_reversal: pol, open_loop },
                terminator,
                ..FxsConfig::default()
            };
            if zero {
                // Degenerate but legal: every timer zero.
                c.first_digit_timeout = Duration::ZERO;
                c.inter_digit_timeout = Duration::ZERO;
                c.max_digits = 0;
                c.ring_cadence = Cadence { on: Duration::ZERO, off: Duration::ZERO };
                c.cid_before_ring_gap = Duration::ZERO;
                c.cid_after_ring_delay = Duration::ZERO;
                c.hookflash_min = Duration::ZERO;
                c.hookflash_max = Duration::ZERO;
            }
            c
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn fxo_never_panics_and_hangs_up_to_idle(config in fxo_config(), steps in steps()) {
        let mut port = FxoPort::new(config);
        let mut now = Instant::now();
        for step in steps {
            match step {
                Step::Input(i) => port.handle_input(i, now),
                Step::Command(c) => { let _ = port.handle_command(c, now); }
                Step::Wait(ms) => { now += Duration::from_millis(ms); port.handle_timeout(now); }
            }
            while port.poll_output().is_some() {}
            if let Some(t) = port.poll_timeout() {
                // A pending timer is never behind a clock we already processed.
                prop_assert!(t > now, "stale timer {:?}", port.state());
            }
        }
        prop_assert!(port.handle_command(Command::Hangup, now).is_ok());
        let mut t = now;
        let end = now;
        while let Some(next) = port.poll_timeout() {
            t = t.max(next);
            port.handle_timeout(t);
            if t > end + Duration::from_secs(3600) { break; }
        }
        prop_assert!(port.is_idle(), "state {:?}", port.state());
        prop_assert_eq!(port.poll_timeout(), None);
        // An idle port has nothing left to say after draining.
        while let Some(o) = port.poll_output() {
            prop_assert!(!matches!(o, Output::Line(tandem_signalling::LineCommand::OffHook)));
        }
    }

    #[test]
    fn fxs_never_panics_and_hangs_up_to_idle(config in fxs_config(), steps in steps()) {
        let mut port = FxsPort::new(config);
        let mut now = Instant::now();
        for step in steps {
            match step {
                Step::Input(i) => port.handle_input(i, now),
                Step::Command(c) => { let _ = port.handle_command(c, now); }
                Step::Wait(ms) => { now += Duration::from_millis(ms); port.handle_timeout(now); }
            }
            while port.poll_output().is_some() {}
            if let Some(t) = port.poll_timeout() {
                prop_assert!(t > now, "stale timer {:?}", port.state());
            }
        }
        // Call control hangs up, the phone goes on-hook, timers run out.
        let _ = port.handle_command(Command::Hangup, now);
        port.handle_input(LineInput::OnHook, now);
        let mut t = now;
        let limit = now + Duration::from_secs(3600);
        while let Some(next) = port.poll_timeout() {
            t = t.max(next);
            port.handle_timeout(t);
            if t > limit { break; }
        }
        prop_assert!(port.is_idle(), "state {:?}", port.state());
        prop_assert_eq!(port.poll_timeout(), None);
    }
}
