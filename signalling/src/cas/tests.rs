//! Back-to-back tests of the CAS cores: an originating core wired to a
//! terminating core, bits crossing a 2 ms "wire" and each side's own
//! debounce, digits passed through as the DSP would (and lost if the
//! receiver's detector is off), on a simulated clock.

use std::time::{Duration, Instant};

use proptest::prelude::*;

use super::em::{EmConfig, EmEvent, EmInput, EmOutput, EmState, EmTrunk, GlarePriority, StartType};
use super::fgd::{Address, AddressFormat, Ani};
use super::r2::{R2Call, R2Config, R2Event, R2Input, R2Output, R2State, R2Trunk};
use super::r2_variants::{CalledPartyStatus, Category, R2Variant};
use super::{Abcd, CasCause, DigitKind};

const WIRE: Duration = Duration::from_millis(2);
const PER_DIGIT: Duration = Duration::from_millis(70);
const MAX_ITER: usize = 100_000;

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

// ---------------- E&M ----------------

enum EmMsg {
    In(EmInput),
}

struct EmPair {
    t: [EmTrunk; 2],
    now: Instant,
    queue: Vec<(Instant, usize, EmMsg)>,
    detect: [Option<DigitKind>; 2],
    events: [Vec<EmEvent>; 2],
}

impl EmPair {
    fn new(a: EmConfig, b: EmConfig) -> EmPair {
        let mut p = EmPair { t: [EmTrunk::new(a), EmTrunk::new(b)], now: Instant::now(), queue: Vec::new(), detect: [None, None], events: [vec![], vec![]] };
        p.drain();
        p
    }

    fn drain(&mut self) {
        for side in 0..2 {
            while let Some(o) = self.t[side].poll_output() {
                let other = 1 - side;
                match o {
                    EmOutput::Bits(b) => self.queue.push((self.now + WIRE, other, EmMsg::In(EmInput::Bits(b)))),
                    EmOutput::SendDigits { kind, digits } => {
                        let done = self.now + PER_DIGIT * digits.len() as u32;
                        self.queue.push((done, other, EmMsg::In(EmInput::DigitsReceived { kind, digits, complete: false })));
                        self.queue.push((done, side, EmMsg::In(EmInput::DigitsSent)));
                    }
                    EmOutput::StopDigits => self.queue.retain(|(_, s, m)| !(*s == side && matches!(m, EmMsg::In(EmInput::DigitsSent)))),
                    EmOutput::StartDetect(k) => self.detect[side] = Some(k),
                    EmOutput::StopDetect => self.detect[side] = None,
                    EmOutput::Event(e) => self.events[side].push(e),
                }
            }
        }
    }

    fn run(&mut self, d: Duration) {
        let end = self.now + d;
        for _ in 0..MAX_ITER {
            let q = self.queue.iter().map(|(t, _, _)| *t).min();
            let next = [self.t[0].poll_timeout(), self.t[1].poll_timeout(), q].into_iter().flatten().min();
            let Some(next) = next.filter(|n| *n <= end) else {
                self.now = end;
                return;
            };
            self.now = self.now.max(next);
            if let Some(i) = self.queue.iter().position(|(t, _, _)| *t <= self.now) {
                let (_, side, EmMsg::In(input)) = self.queue.remove(i);
                let deliver = match &input {
                    EmInput::DigitsReceived { .. } => self.detect[side].is_some(),
                    _ => true,
                };
                if deliver {
                    self.t[side].handle_input(input, self.now);
                }
            } else {
                for s in 0..2 {
                    self.t[s].handle_timeout(self.now);
                }
            }
            self.drain();
        }
        panic!("simulation did not settle");
    }

    fn take(&mut self, side: usize) -> Vec<EmEvent> {
        std::mem::take(&mut self.events[side])
    }
}

fn em(start: StartType, address: AddressFormat) -> EmConfig {
    EmConfig { start, address, ..EmConfig::default() }
}

fn addr(n: &str) -> Address {
    Address { dnis: n.into(), ani: None }
}

#[test]
fn fgd_ack_wink_that_starts_before_the_last_tone_ends_is_still_the_ack() {
    // A real MF receiver recognises ST mid-tone, so the terminator's
    // acknowledgement wink can begin before our generator has finished.
    let mut t = EmTrunk::new(em(StartType::Wink, AddressFormat::FeatureGroupD { ack_wink: true }));
    let t0 = Instant::now();
    let a = Address { dnis: "5551234".into(), ani: Some(Ani { ii: "00".into(), number: "2125550100".into() }) };
    t.dial(a, t0).expect("dial");
    t.handle_input(EmInput::Bits(Abcd::new(0b1111)), t0 + ms(300));
    t.handle_timeout(t0 + ms(320));
    t.handle_input(EmInput::Bits(Abcd::new(0)), t0 + ms(500));
    t.handle_timeout(t0 + ms(520));
    t.handle_timeout(t0 + ms(600));
    while t.poll_output().is_some() {}
    // Digits are going out; the far end's ack wink starts now.
    t.handle_input(EmInput::Bits(Abcd::new(0b1111)), t0 + ms(2000));
    t.handle_timeout(t0 + ms(2020));
    t.handle_input(EmInput::DigitsSent, t0 + ms(2050));
    t.handle_input(EmInput::Bits(Abcd::new(0)), t0 + ms(2200));
    t.handle_timeout(t0 + ms(2220));
    let mut evs = Vec::new();
    while let Some(o) = t.poll_output() {
        if let EmOutput::Event(e) = o {
            evs.push(e);
        }
    }
    assert_eq!(evs, vec![EmEvent::Proceeding], "the wink is the acknowledgement, not an answer and a clear");
    assert_eq!(t.state(), EmState::Outgoing);
}

fn em_call_both_clears(start: StartType, address: AddressFormat, a: Address) {
    for clearing_side in [0usize, 1] {
        let mut p = EmPair::new(em(start, address), em(start, address));
        p.t[0].dial(a.clone(), p.now).unwrap();
        p.drain();
        p.run(ms(3000));
        let inc = p.take(1);
        assert_eq!(inc, vec![EmEvent::Incoming(a.clone())], "{start:?} {address:?}");
        assert_eq!(p.take(0), vec![EmEvent::Proceeding]);
        p.t[1].answer(p.now).unwrap();
        p.drain();
        p.run(ms(500));
        assert_eq!(p.take(0), vec![EmEvent::Answered]);
        assert_eq!(p.t[0].state(), EmState::Connected);
        assert_eq!(p.t[1].state(), EmState::Connected);
        p.t[clearing_side].hangup(p.now).unwrap();
        p.drain();
        p.run(ms(2000));
        assert_eq!(p.take(1 - clearing_side), vec![EmEvent::Released(CasCause::NormalClearing)]);
        assert!(p.take(clearing_side).is_empty());
        assert!(p.t[0].is_idle() && p.t[1].is_idle(), "{start:?}: both idle after clearing from {clearing_side}");
    }
}

#[test]
fn em_immediate_start_call_answer_and_clear_from_each_side() {
    em_call_both_clears(StartType::Immediate, AddressFormat::default(), addr("4100"));
}

#[test]
fn em_wink_start_call_answer_and_clear_from_each_side() {
    em_call_both_clears(StartType::Wink, AddressFormat::FeatureGroupB, addr("5551212"));
}

#[test]
fn em_delay_dial_call_answer_and_clear_from_each_side() {
    em_call_both_clears(StartType::DelayDial, AddressFormat::default(), addr("2000"));
}

#[test]
fn fgd_call_carries_ani_with_ii_digits_and_the_ack_wink() {
    let a = Address { dnis: "8005551212".into(), ani: Some(Ani { ii: "00".into(), number: "2125551234".into() }) };
    em_call_both_clears(StartType::Wink, AddressFormat::FeatureGroupD { ack_wink: true }, a.clone());
    em_call_both_clears(StartType::Wink, AddressFormat::FeatureGroupD { ack_wink: false }, a);
}

#[test]
fn dtmf_plain_number_ends_by_inter_digit_timeout() {
    let cfg = EmConfig { digits: DigitKind::Dtmf, ..em(StartType::Wink, AddressFormat::default()) };
    let mut p = EmPair::new(cfg.clone(), cfg);
    p.t[0].dial(addr("123"), p.now).unwrap();
    p.drain();
    p.run(ms(6000));
    assert_eq!(p.take(1), vec![EmEvent::Incoming(addr("123"))]);
}

#[test]
fn wink_start_without_a_wink_fails_with_no_seizure_ack() {
    let mut t = EmTrunk::new(em(StartType::Wink, AddressFormat::default()));
    let t0 = Instant::now();
    t.dial(addr("1"), t0).unwrap();
    assert_eq!(t.poll_output(), Some(EmOutput::Bits(Abcd::new(0))));
    assert_eq!(t.poll_output(), Some(EmOutput::Bits(Abcd::new(0b1111))));
    t.handle_timeout(t0 + ms(5000));
    assert_eq!(t.poll_output(), Some(EmOutput::Event(EmEvent::Released(CasCause::NoSeizureAck))));
    assert_eq!(t.poll_output(), Some(EmOutput::Bits(Abcd::new(0))));
    t.handle_timeout(t0 + ms(6000));
    assert!(t.is_idle());
}

#[test]
fn a_short_bit_hit_is_not_a_seizure() {
    let mut t = EmTrunk::new(em(StartType::Wink, AddressFormat::default()));
    let t0 = Instant::now();
    t.handle_input(EmInput::Bits(Abcd::new(0b1111)), t0);
    t.handle_input(EmInput::Bits(Abcd::new(0)), t0 + ms(10));
    t.handle_timeout(t0 + ms(1000));
    assert!(t.is_idle());
}

fn glare(start: StartType, prio: [GlarePriority; 2]) -> EmPair {
    let cfg = |g| EmConfig { glare: g, ..em(start, AddressFormat::FeatureGroupB) };
    let mut p = EmPair::new(cfg(prio[0]), cfg(prio[1]));
    p.t[0].dial(addr("1111"), p.now).unwrap();
    p.t[1].dial(addr("2222"), p.now).unwrap();
    p.drain();
    p.run(ms(15_000));
    p
}

#[test]
fn glare_on_two_way_trunk_yielding_side_serves_the_keeping_sides_call() {
    for start in [StartType::Wink, StartType::Immediate, StartType::DelayDial] {
        let mut p = glare(start, [GlarePriority::Keep, GlarePriority::Yield]);
        let yield_ev = p.take(1);
        assert_eq!(yield_ev, vec![EmEvent::Released(CasCause::Glare), EmEvent::Incoming(addr("1111"))], "{start:?}");
        assert_eq!(p.take(0), vec![EmEvent::Proceeding], "{start:?}");
        p.t[1].hangup(p.now).unwrap();
        p.drain();
        p.run(ms(2000));
        assert!(p.t[0].state() == EmState::Idle || p.t[0].state() == EmState::Outgoing, "{start:?}");
        p.t[0].hangup(p.now).ok();
        p.drain();
        p.run(ms(2000));
        assert!(p.t[0].is_idle() && p.t[1].is_idle(), "{start:?}: no stuck channel");
    }
}

#[test]
fn glare_with_equal_priorities_leaves_no_stuck_channel() {
    for prio in [GlarePriority::Keep, GlarePriority::Yield] {
        let mut p = glare(StartType::Wink, [prio, prio]);
        for s in 0..2 {
            let ev = p.take(s);
            assert!(ev.contains(&EmEvent::Released(CasCause::Glare)), "{prio:?}: {ev:?}");
        }
        for s in 0..2 {
            let _ = p.t[s].hangup(p.now);
        }
        p.drain();
        p.run(ms(20_000));
        assert!(p.t[0].is_idle() && p.t[1].is_idle(), "{prio:?}");
    }
}

#[test]
fn alarm_during_a_call_clears_it_and_busies_out_until_recovery() {
    let mut p = EmPair::new(em(StartType::Wink, AddressFormat::default()), em(StartType::Wink, AddressFormat::default()));
    p.t[0].dial(addr("77"), p.now).unwrap();
    p.drain();
    p.run(ms(3000));
    p.t[1].answer(p.now).unwrap();
    p.drain();
    p.run(ms(500));
    p.take(0);
    p.take(1);
    for s in 0..2 {
        p.t[s].set_alarm(true, p.now);
    }
    p.drain();
    for s in 0..2 {
        assert_eq!(p.take(s), vec![EmEvent::Released(CasCause::Alarm), EmEvent::ServiceChanged(false)]);
        assert_eq!(p.t[s].state(), EmState::OutOfService);
        assert_eq!(p.t[s].tx_bits(), Abcd::new(0b1111), "busy-out is off hook");
        assert!(p.t[s].dial(addr("1"), p.now).is_err());
    }
    p.queue.clear();
    p.run(ms(5000));
    assert_eq!(p.t[0].state(), EmState::OutOfService);
    for s in 0..2 {
        p.t[s].set_alarm(false, p.now);
    }
    p.drain();
    p.run(ms(2000));
    assert!(p.t[0].is_idle() && p.t[1].is_idle());
    assert_eq!(p.take(0), vec![EmEvent::ServiceChanged(true)]);
    assert_eq!(p.take(1), vec![EmEvent::ServiceChanged(true)]);
    // And the trunk works again.
    p.t[0].dial(addr("78"), p.now).unwrap();
    p.drain();
    p.run(ms(3000));
    assert_eq!(p.take(1), vec![EmEvent::Incoming(addr("78"))]);
}

#[test]
fn out_of_service_busies_out_and_far_end_refuses_nothing_but_stays_clear() {
    let mut p = EmPair::new(em(StartType::Wink, AddressFormat::default()), em(StartType::Wink, AddressFormat::default()));
    p.t[0].set_in_service(false, p.now);
    p.drain();
    p.run(ms(20_000));
    assert_eq!(p.t[0].state(), EmState::OutOfService);
    assert_eq!(p.t[1].state(), EmState::OutOfService, "a permanently seized far end is treated as busied out");
    assert!(p.take(1).is_empty(), "no call is offered for a busy-out");
    p.t[0].set_in_service(true, p.now);
    p.drain();
    p.run(ms(2000));
    assert!(p.t[0].is_idle() && p.t[1].is_idle());
}

// ---------------- R2 ----------------

struct R2Pair {
    t: [R2Trunk; 2],
    now: Instant,
    queue: Vec<(Instant, usize, R2Input)>,
    events: [Vec<R2Event>; 2],
    /// How forward tones reach side 1 (`None`: as sent).
    dropout: Option<Dropout>,
}

/// How the pair's line mangles each forward tone on its way to side 1.
#[derive(Clone, Copy)]
enum Dropout {
    /// Recognised, lost for 5 ms 10 ms later, recognised again.
    Gap,
    /// Recognised twice, 5 ms apart, with no end between.
    Repeat,
}

impl R2Pair {
    fn new(a: R2Config, b: R2Config) -> R2Pair {
        let mut p = R2Pair { t: [R2Trunk::new(a), R2Trunk::new(b)], now: Instant::now(), queue: Vec::new(), events: [vec![], vec![]], dropout: None };
        p.drain();
        p
    }

    fn drain(&mut self) {
        for side in 0..2 {
            while let Some(o) = self.t[side].poll_output() {
                let other = 1 - side;
                match o {
                    R2Output::Bits(b) => self.queue.push((self.now + WIRE, other, R2Input::Bits(b))),
                    // Tone detection takes about two 133-sample blocks.
                    R2Output::Mf { signal, .. } => {
                        self.queue.push((self.now + ms(35), other, R2Input::Mf(signal)));
                        match (self.dropout, side, signal) {
                            (Some(Dropout::Gap), 0, Some(_)) => {
                                self.queue.push((self.now + ms(45), other, R2Input::Mf(None)));
                                self.queue.push((self.now + ms(50), other, R2Input::Mf(signal)));
                            }
                            (Some(Dropout::Repeat), 0, Some(_)) => self.queue.push((self.now + ms(40), other, R2Input::Mf(signal))),
                            _ => {}
                        }
                    }
                    R2Output::Event(e) => self.events[side].push(e),
                }
            }
        }
    }

    fn run(&mut self, d: Duration) {
        let end = self.now + d;
        for _ in 0..MAX_ITER {
            let q = self.queue.iter().map(|(t, _, _)| *t).min();
            let next = [self.t[0].poll_timeout(), self.t[1].poll_timeout(), q].into_iter().flatten().min();
            let Some(next) = next.filter(|n| *n <= end) else {
                self.now = end;
                return;
            };
            self.now = self.now.max(next);
            if let Some(i) = self.queue.iter().position(|(t, _, _)| *t <= self.now) {
                let (_, side, input) = self.queue.remove(i);
                self.t[side].handle_input(input, self.now);
            } else {
                for s in 0..2 {
                    self.t[s].handle_timeout(self.now);
                }
            }
            self.drain();
        }
        panic!("simulation did not settle");
    }

    fn take(&mut self, side: usize) -> Vec<R2Event> {
        std::mem::take(&mut self.events[side])
    }
}

fn r2_setup(variant: R2Variant, dnis: &str, max_dnis: usize, ani: &str) -> R2Pair {
    let cfg = |v: &R2Variant| R2Config { max_dnis, ..R2Config::new(v.clone()) };
    let mut p = R2Pair::new(cfg(&variant), cfg(&variant));
    let call = R2Call { dnis: dnis.into(), ani: Some(ani.into()), ani_restricted: false, category: Category::NationalSubscriber };
    p.t[0].dial(call, p.now).unwrap();
    p.drain();
    p.run(ms(6000));
    p
}

fn r2_full_call(variant: R2Variant, max_dnis: usize) {
    for clearing_side in [0usize, 1] {
        let mut p = r2_setup(variant.clone(), "5551234", max_dnis, "8001");
        assert_eq!(
            p.take(1),
            vec![R2Event::Incoming { dnis: "5551234".into(), ani: "8001".into(), ani_restricted: false, category: Category::NationalSubscriber }],
            "{}",
            variant.name
        );
        p.t[1].answer(p.now).unwrap();
        p.drain();
        p.run(ms(2000));
        assert_eq!(p.take(0), vec![R2Event::Accepted(CalledPartyStatus::FreeCharge), R2Event::Answered], "{}", variant.name);
        assert_eq!(p.t[0].state(), R2State::Connected);
        assert_eq!(p.t[1].state(), R2State::Connected);
        p.t[clearing_side].hangup(p.now).unwrap();
        p.drain();
        p.run(ms(3000));
        assert_eq!(p.take(1 - clearing_side), vec![R2Event::Released(CasCause::NormalClearing)], "{}", variant.name);
        assert!(p.t[0].is_idle() && p.t[1].is_idle(), "{}: idle after clearing from {clearing_side}", variant.name);
        assert_eq!(p.t[0].tx_bits().value() & 0b1100, 0b1000);
    }
}

#[test]
fn r2_forward_signals_that_drop_out_or_repeat_are_each_taken_once() {
    for (variant, dropout) in [(R2Variant::itu(), Dropout::Gap), (R2Variant::mexico(), Dropout::Gap), (R2Variant::itu(), Dropout::Repeat)] {
        let cfg = R2Config { max_dnis: 20, ..R2Config::new(variant.clone()) };
        let mut p = R2Pair::new(cfg.clone(), cfg);
        p.dropout = Some(dropout);
        let call = R2Call { dnis: "5551100".into(), ani: Some("2125550100".into()), ani_restricted: false, category: Category::NationalSubscriber };
        p.t[0].dial(call, p.now).unwrap();
        p.drain();
        p.run(ms(8000));
        assert_eq!(
            p.take(1),
            vec![R2Event::Incoming { dnis: "5551100".into(), ani: "2125550100".into(), ani_restricted: false, category: Category::NationalSubscriber }],
            "{}",
            variant.name
        );
    }
}

#[test]
fn r2_itu_call_with_numbers_answer_and_clear_from_each_side() {
    r2_full_call(R2Variant::itu(), 20);
    r2_full_call(R2Variant::itu(), 7);
}

#[test]
fn r2_mexico_call_ends_dnis_by_timeout_and_uses_group_c() {
    r2_full_call(R2Variant::mexico(), 20);
}

#[test]
fn r2_other_variants_complete_a_call() {
    r2_full_call(R2Variant::brazil(), 20);
    r2_full_call(R2Variant::argentina(), 20);
}

#[test]
fn r2_china_with_fixed_ani_length_completes_a_call() {
    let cfg = R2Config { max_ani: 4, ..R2Config::new(R2Variant::china()) };
    let mut p = R2Pair::new(cfg.clone(), cfg);
    p.t[0].dial(R2Call { dnis: "12345".into(), ani: Some("6789".into()), ..R2Call::default() }, p.now).unwrap();
    p.drain();
    p.run(ms(8000));
    assert_eq!(p.take(1), vec![R2Event::Incoming { dnis: "12345".into(), ani: "6789".into(), ani_restricted: false, category: Category::NationalSubscriber }]);
    assert_eq!(p.t[0].tx_bits().value() & 0b0011, 0b11, "China C/D bits");
}

fn r2_refused(variant: R2Variant, status: CalledPartyStatus) -> Vec<R2Event> {
    let mut p = r2_setup(variant, "999", 3, "1");
    p.take(1);
    p.t[1].respond(status, p.now).unwrap();
    p.drain();
    p.run(ms(5000));
    assert!(p.t[0].is_idle() && p.t[1].is_idle());
    assert!(p.take(1).is_empty());
    p.take(0)
}

#[test]
fn r2_busy_and_unallocated_outcomes_reach_the_caller() {
    assert_eq!(r2_refused(R2Variant::itu(), CalledPartyStatus::Busy), vec![R2Event::Released(CasCause::Busy)]);
    assert_eq!(r2_refused(R2Variant::itu(), CalledPartyStatus::Unallocated), vec![R2Event::Released(CasCause::Unallocated)]);
    assert_eq!(r2_refused(R2Variant::mexico(), CalledPartyStatus::Busy), vec![R2Event::Released(CasCause::Busy)]);
    // Mexico signals unallocated with B-2, which reads as busy.
    assert_eq!(r2_refused(R2Variant::mexico(), CalledPartyStatus::Unallocated), vec![R2Event::Released(CasCause::Busy)]);
    assert_eq!(CasCause::Unallocated.q850(), 1);
}

#[test]
fn r2_line_signals_follow_q421() {
    let mut p = R2Pair::new(R2Config::new(R2Variant::itu()), R2Config::new(R2Variant::itu()));
    assert_eq!(p.t[0].tx_bits(), Abcd::new(0b1001));
    p.t[0].dial(R2Call { dnis: "1".into(), ..R2Call::default() }, p.now).unwrap();
    assert_eq!(p.t[0].tx_bits(), Abcd::new(0b0001), "seize");
    p.drain();
    p.run(ms(30));
    assert_eq!(p.t[1].tx_bits(), Abcd::new(0b1101), "seize ack");
}

#[test]
fn r2_glare_resolves_with_the_yielding_side_taking_the_call() {
    let a = R2Config { glare: super::em::GlarePriority::Keep, ..R2Config::new(R2Variant::itu()) };
    let b = R2Config::new(R2Variant::itu());
    let mut p = R2Pair::new(a, b);
    p.t[0].dial(R2Call { dnis: "11".into(), ..R2Call::default() }, p.now).unwrap();
    p.t[1].dial(R2Call { dnis: "22".into(), ..R2Call::default() }, p.now).unwrap();
    p.drain();
    p.run(ms(20_000));
    let ev = p.take(1);
    assert_eq!(ev[0], R2Event::Released(CasCause::Glare));
    assert!(matches!(&ev[1], R2Event::Incoming { dnis, .. } if dnis == "11"));
}

#[test]
fn r2_alarm_clears_the_call_and_blocks_until_recovery() {
    let mut p = r2_setup(R2Variant::itu(), "12", 2, "3");
    p.take(1);
    p.t[1].answer(p.now).unwrap();
    p.drain();
    p.run(ms(1000));
    p.take(0);
    for s in 0..2 {
        p.t[s].set_alarm(true, p.now);
    }
    p.drain();
    for s in 0..2 {
        assert_eq!(p.take(s), vec![R2Event::Released(CasCause::Alarm), R2Event::ServiceChanged(false)]);
        assert_eq!(p.t[s].state(), R2State::OutOfService);
    }
    p.queue.clear();
    for s in 0..2 {
        p.t[s].set_alarm(false, p.now);
    }
    p.drain();
    p.run(ms(1000));
    assert!(p.t[0].is_idle() && p.t[1].is_idle());
}

// ---------------- garbage ----------------

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, .. ProptestConfig::default() })]

    #[test]
    fn em_garbage_bits_and_digit_floods_never_panic_and_end_idle(
        steps in proptest::collection::vec((0u8..16, 0u64..400, 0u8..4, "[0-9*#A-D]{0,40}"), 1..60),
        start in 0u8..3,
    ) {
        let start = [StartType::Immediate, StartType::Wink, StartType::DelayDial][start as usize];
        let mut t = EmTrunk::new(em(start, AddressFormat::FeatureGroupD { ack_wink: true }));
        let mut now = Instant::now();
        for (bits, dt, what, digits) in steps {
            now += ms(dt);
            match what {
                0 => t.handle_input(EmInput::Bits(Abcd::new(bits)), now),
                1 => t.handle_input(EmInput::DigitsReceived { kind: DigitKind::MfR1, digits, complete: bits & 1 == 1 }, now),
                2 => { let _ = t.dial(addr("123"), now); }
                _ => { let _ = t.answer(now); t.handle_input(EmInput::DigitsSent, now); }
            }
            while t.poll_output().is_some() {}
        }
        let _ = t.hangup(now);
        t.handle_input(EmInput::Bits(Abcd::new(0)), now);
        for _ in 0..200 {
            match t.poll_timeout() { Some(d) => { now = now.max(d); t.handle_timeout(now); } None => break }
            while t.poll_output().is_some() {}
        }
        prop_assert!(t.is_idle(), "state {:?}", t.state());
    }

    #[test]
    fn r2_garbage_bits_and_mf_floods_never_panic_and_end_idle(
        steps in proptest::collection::vec((0u8..16, 0u64..300, 0u8..4, 0u8..20), 1..80),
        variant in 0u8..5,
    ) {
        let v = [R2Variant::itu(), R2Variant::mexico(), R2Variant::brazil(), R2Variant::argentina(), R2Variant::china()][variant as usize].clone();
        let idle = Abcd::new(0b1000 | v.cd_bits);
        let mut t = R2Trunk::new(R2Config::new(v));
        let mut now = Instant::now();
        for (bits, dt, what, sig) in steps {
            now += ms(dt);
            match what {
                0 => t.handle_input(R2Input::Bits(Abcd::new(bits)), now),
                1 => t.handle_input(R2Input::Mf((sig < 16).then_some(sig)), now),
                2 => { let _ = t.dial(R2Call { dnis: "123".into(), ..R2Call::default() }, now); }
                _ => { let _ = t.answer(now); }
            }
            while t.poll_output().is_some() {}
        }
        let _ = t.hangup(now);
        t.handle_input(R2Input::Mf(None), now);
        t.handle_input(R2Input::Bits(idle), now);
        for _ in 0..200 {
            match t.poll_timeout() { Some(d) => { now = now.max(d); t.handle_timeout(now); } None => break }
            while t.poll_output().is_some() {}
        }
        prop_assert!(t.is_idle(), "state {:?}", t.state());
    }
}
