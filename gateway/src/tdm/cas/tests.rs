//! Two CAS interfaces wired back to back through a fake shell: bits cross
//! after 2 ms, digit strings arrive as the shell would report them, R2 MF
//! tone starts and stops cross after 30 ms, on a simulated clock.

use std::time::{Duration, Instant};

use tandem_signalling::cas::em::{EmConfig, StartType};
use tandem_signalling::cas::fgd::AddressFormat;
use tandem_signalling::cas::r2::R2Config;
use tandem_signalling::cas::r2_variants::R2Variant;
use tandem_signalling::cas::{Abcd, DigitKind, Framing};

use super::*;
use crate::call::model::CallId;

const WIRE: Duration = Duration::from_millis(2);
const TONE: Duration = Duration::from_millis(30);

fn settings(name: &str, sig: CasSignalling) -> CasSettings {
    CasSettings {
        name: name.into(),
        channels: vec![CasChannel { addr: ChannelAddr { span: 1, pos: 1 }, channo: 1 }, CasChannel { addr: ChannelAddr { span: 1, pos: 2 }, channo: 2 }],
        law: Law::Ulaw,
        signalling: sig,
        category: Category::NationalSubscriber,
        ani_ii: "00".into(),
        zone: crate::tdm::zones::ToneZone::get("us").expect("us"),
        refusal_tone: Duration::from_secs(10),
    }
}

/// Side 0 and side 1 and everything that crossed or came out.
struct Rig {
    s: [CasInterface; 2],
    now: Instant,
    queue: Vec<(Instant, usize, CasInput)>,
    detect: [Option<DigitKind>; 2],
    events: [Vec<(LegRef, LegEvent)>; 2],
    incoming: [Vec<(IncomingKey, Setup)>; 2],
    ready: [Vec<bool>; 2],
    tx: [Vec<Abcd>; 2],
    /// The side listens for call progress.
    listening: [bool; 2],
    /// The refusal tone each side plays (what its shell was told last).
    playing: [Option<Refusal>; 2],
}

impl Rig {
    fn new(a: CasSettings, b: CasSettings) -> Rig {
        let mut r = Rig {
            s: [CasInterface::new(a), CasInterface::new(b)],
            now: Instant::now(),
            queue: Vec::new(),
            detect: [None, None],
            events: [vec![], vec![]],
            incoming: [vec![], vec![]],
            ready: [vec![], vec![]],
            tx: [vec![], vec![]],
            listening: [false, false],
            playing: [None, None],
        };
        r.drain();
        r
    }

    fn drain(&mut self) {
        for side in 0..2 {
            while let Some(o) = self.s[side].poll_output() {
                let other = 1 - side;
                match o {
                    TdmOutput::Io(TdmIo::Cas(CasIo { channo, cmd })) => match cmd {
                        CasCommand::Bits(b) => {
                            self.tx[side].push(b);
                            self.queue.push((self.now + WIRE, other, CasInput { channo, input: CasLineInput::Bits(b) }));
                        }
                        CasCommand::SendDigits { kind, digits } => {
                            let done = self.now + Duration::from_millis(70) * digits.len() as u32;
                            if self.detect[other] == Some(kind) {
                                self.queue.push((done, other, CasInput { channo, input: CasLineInput::Digits { kind, digits } }));
                            }
                            self.queue.push((done, side, CasInput { channo, input: CasLineInput::DigitsSent }));
                        }
                        CasCommand::StartDetect(k) => self.detect[side] = Some(k),
                        CasCommand::StopDetect => self.detect[side] = None,
                        CasCommand::R2Mf { forward, signal } => {
                            self.queue.push((self.now + TONE, other, CasInput { channo, input: CasLineInput::R2Mf { forward, signal } }))
                        }
                        // The daemon taps a media-ready channel's stream: its tones are heard.
                        CasCommand::MediaReady(r) => {
                            self.ready[side].push(r);
                            self.listening[side] = r;
                        }
                        CasCommand::StopDigits | CasCommand::ReportBits => {}
                        // A detector recognises a refusal tone 1.5 s after it starts.
                        CasCommand::PlayRefusal { refusal } => {
                            self.playing[side] = Some(refusal);
                            let heard = match refusal {
                                Refusal::Busy => CallProgress::Busy,
                                Refusal::Reorder => CallProgress::Reorder,
                                Refusal::Sit(k) => CallProgress::Sit(k),
                            };
                            let at = self.now + Duration::from_millis(1500);
                            self.queue.push((at, other, CasInput { channo, input: CasLineInput::Progress(heard) }));
                        }
                        CasCommand::StopTone => self.playing[side] = None,
                    },
                    TdmOutput::Io(_) => {}
                    TdmOutput::Incoming { key, setup, .. } => {
                        self.s[side].accept(key, LegRef::inbound(CallId(100 + side as u64)));
                        self.incoming[side].push((key, setup));
                    }
                    TdmOutput::Leg(l, e) => self.events[side].push((l, e)),
                }
            }
        }
    }

    fn step(&mut self) -> bool {
        self.queue.sort_by_key(|q| q.0);
        // Tones reach only a side whose stream is tapped.
        let listening = self.listening;
        self.queue.retain(|(_, side, i)| !matches!(i.input, CasLineInput::Progress(_)) || listening[*side]);
        let next_q = self.queue.first().map(|q| q.0);
        let next_t = [self.s[0].poll_timeout(), self.s[1].poll_timeout()].into_iter().flatten().min();
        let Some(t) = [next_q, next_t].into_iter().flatten().min() else { return false };
        self.now = self.now.max(t);
        if next_q.is_some_and(|q| q <= self.now) {
            let (_, side, input) = self.queue.remove(0);
            self.s[side].handle_input(TdmInput::Cas(input), self.now);
        } else {
            for s in &mut self.s {
                s.handle_timeout(self.now);
            }
        }
        self.drain();
        true
    }

    /// Runs until `pred` holds (at most 60 simulated seconds).
    fn run_until(&mut self, mut pred: impl FnMut(&Rig) -> bool) -> bool {
        let end = self.now + Duration::from_secs(60);
        for _ in 0..100_000 {
            if pred(self) {
                return true;
            }
            if self.now > end || !self.step() {
                return pred(self);
            }
        }
        false
    }

    fn cmd(&mut self, side: usize, leg: LegRef, cmd: LegCommand) {
        self.s[side].command(leg, cmd, self.now);
        self.drain();
    }

    fn has(&self, side: usize, pred: impl Fn(&LegEvent) -> bool) -> bool {
        self.events[side].iter().any(|(_, e)| pred(e))
    }

    fn all_idle(&self) -> bool {
        self.s.iter().all(|s| s.channels().iter().all(|c| c.state == ChannelState::Idle))
    }
}

fn out_leg() -> LegRef {
    LegRef::outbound(CallId(1), 1)
}

fn setup(called: &str, calling: &str) -> Setup {
    Setup { called: called.into(), calling: Some(Party::number(calling)), complete: true, ..Setup::default() }
}

fn em(start: StartType, address: AddressFormat) -> CasSignalling {
    CasSignalling::Em(EmConfig { start, address, digits: DigitKind::MfR1, framing: Framing::Esf, ..EmConfig::default() })
}

fn call_answer_and_clear(mut r: Rig, want_calling: Option<&str>) {
    let leg = out_leg();
    r.s[0].originate(leg, &setup("+15551234", "2125550100"), ChannelChoice::Any, r.now);
    r.drain();
    assert!(r.run_until(|r| !r.incoming[1].is_empty()), "no incoming call: {:?}", r.events);
    let (_, su) = r.incoming[1][0].clone();
    assert_eq!(su.called, "15551234");
    assert_eq!(su.calling.as_ref().map(|p| p.number.as_str()).filter(|n| !n.is_empty()), want_calling);
    let inleg = LegRef::inbound(CallId(101));
    r.cmd(1, inleg, LegCommand::Alerting { inband: false });
    r.cmd(1, inleg, LegCommand::Answer { connected: None });
    assert!(r.run_until(|r| r.has(0, |e| matches!(e, LegEvent::Answered { .. }))), "no answer: {:?}", r.events);
    assert!(r.has(0, |e| matches!(e, LegEvent::Media(MediaEndpoint::Tdm { channo: 1, .. }))));
    assert!(r.ready[0].contains(&true) && r.ready[1].contains(&true), "{:?}", r.ready);
    r.cmd(0, leg, LegCommand::Release(Release::cause(Cause::NORMAL_CLEARING)));
    assert!(r.run_until(|r| r.has(1, |e| matches!(e, LegEvent::Released(Release { cause: Cause(16), .. })))), "{:?}", r.events);
    assert!(r.run_until(|r| r.all_idle()), "channels stuck: {:?}", r.s.iter().map(|s| s.channels()).collect::<Vec<_>>());
}

#[test]
fn em_wink_call_is_offered_answered_and_cleared_back_to_back() {
    let r = Rig::new(settings("a", em(StartType::Wink, AddressFormat::default())), settings("b", em(StartType::Wink, AddressFormat::default())));
    call_answer_and_clear(r, None);
}

#[test]
fn em_immediate_and_delay_dial_calls_complete() {
    for start in [StartType::Immediate, StartType::DelayDial] {
        let r = Rig::new(settings("a", em(start, AddressFormat::default())), settings("b", em(start, AddressFormat::default())));
        call_answer_and_clear(r, None);
    }
}

#[test]
fn fgd_carries_the_calling_number_as_ani() {
    let f = AddressFormat::FeatureGroupD { ack_wink: true };
    let r = Rig::new(settings("a", em(StartType::Wink, f)), settings("b", em(StartType::Wink, f)));
    call_answer_and_clear(r, Some("2125550100"));
}

#[test]
fn r2_itu_and_mexico_calls_carry_dnis_and_ani() {
    for v in [R2Variant::itu(), R2Variant::mexico()] {
        let mut c = R2Config::new(v);
        c.max_dnis = 8;
        let r = Rig::new(settings("a", CasSignalling::R2(c.clone())), settings("b", CasSignalling::R2(c)));
        call_answer_and_clear(r, Some("2125550100"));
    }
}

#[test]
fn r2_refusals_carry_the_sip_side_cause_back_as_group_b() {
    for (cause, want) in [(Cause::USER_BUSY, 17), (Cause::UNALLOCATED, 1), (Cause::NO_CIRCUIT, 34)] {
        let mut c = R2Config::new(R2Variant::itu());
        c.max_dnis = 8;
        let mut r = Rig::new(settings("a", CasSignalling::R2(c.clone())), settings("b", CasSignalling::R2(c)));
        let leg = out_leg();
        r.s[0].originate(leg, &setup("15551234", "2125550100"), ChannelChoice::Any, r.now);
        r.drain();
        assert!(r.run_until(|r| !r.incoming[1].is_empty()));
        r.cmd(1, LegRef::inbound(CallId(101)), LegCommand::Release(Release::cause(cause)));
        assert!(r.has(1, |e| matches!(e, LegEvent::Released(_))), "the refused leg is released at once");
        assert!(
            r.run_until(|r| r.has(0, |e| matches!(e, LegEvent::Released(Release { cause: Cause(c), .. }) if *c == want))),
            "cause {cause}: {:?}",
            r.events[0]
        );
        assert!(r.run_until(|r| r.all_idle()), "channels stuck after cause {cause}");
    }
}

#[test]
fn a_span_alarm_clears_the_call_and_busies_out_until_it_clears() {
    let mut r = Rig::new(settings("a", em(StartType::Wink, AddressFormat::default())), settings("b", em(StartType::Wink, AddressFormat::default())));
    let leg = out_leg();
    r.s[0].originate(leg, &setup("5551234", "1"), ChannelChoice::Any, r.now);
    r.drain();
    assert!(r.run_until(|r| !r.incoming[1].is_empty()));
    r.s[0].handle_input(TdmInput::Alarm { span: 1, in_alarm: true }, r.now);
    r.drain();
    assert!(r.has(0, |e| matches!(e, LegEvent::Released(Release { cause: Cause(38), .. }))), "{:?}", r.events[0]);
    assert!(r.s[0].channels().iter().all(|c| c.state == ChannelState::Alarm));
    assert!(r.tx[0].last().is_some_and(|b| b.a()), "busy-out is off hook on E&M: {:?}", r.tx[0]);
    r.s[0].originate(LegRef::outbound(CallId(2), 1), &setup("5551234", "1"), ChannelChoice::Any, r.now);
    r.drain();
    assert!(r.has(0, |e| matches!(e, LegEvent::Released(Release { cause: Cause(34), .. }))), "no channel during an alarm");
    r.s[0].handle_input(TdmInput::Alarm { span: 1, in_alarm: false }, r.now);
    r.drain();
    assert!(r.run_until(|r| r.s[0].channels().iter().all(|c| c.state == ChannelState::Idle)), "{:?}", r.s[0].channels());
}

#[test]
fn an_unknown_leg_or_garbage_bits_do_not_disturb_an_idle_trunk() {
    let mut r = Rig::new(settings("a", em(StartType::Wink, AddressFormat::default())), settings("b", em(StartType::Wink, AddressFormat::default())));
    r.cmd(0, out_leg(), LegCommand::Answer { connected: None });
    for v in 0..64u8 {
        r.s[1].handle_input(TdmInput::Cas(CasInput { channo: 2, input: CasLineInput::Bits(Abcd::new(v.wrapping_mul(37))) }), r.now);
        r.now += Duration::from_millis(3);
    }
    r.s[1].handle_input(TdmInput::Cas(CasInput { channo: 2, input: CasLineInput::Bits(Abcd::new(0)) }), r.now);
    r.drain();
    assert!(r.run_until(|r| r.all_idle() && r.queue.is_empty()));
}

/// Originates an E&M call from side 0, has side 1 refuse it with `cause`,
/// and returns the rig once side 1 has been offered the call and refused.
fn refused_em_call(address: AddressFormat, cause: Cause, tone_s: u64) -> Rig {
    let mut b = settings("b", em(StartType::Wink, address));
    b.refusal_tone = Duration::from_secs(tone_s);
    let mut r = Rig::new(settings("a", em(StartType::Wink, address)), b);
    r.s[0].originate(out_leg(), &setup("5551234", "2125550100"), ChannelChoice::Any, r.now);
    r.drain();
    assert!(r.run_until(|r| !r.incoming[1].is_empty() && r.listening[0]), "no call: {:?}", r.events);
    r.cmd(1, LegRef::inbound(CallId(101)), LegCommand::Release(Release::cause(cause)));
    assert!(r.has(1, |e| matches!(e, LegEvent::Released(_))), "the refused leg is released at once");
    r
}

#[test]
fn em_refusals_travel_in_band_and_come_back_as_the_cause() {
    for address in [AddressFormat::default(), AddressFormat::FeatureGroupD { ack_wink: true }] {
        for (cause, tone, want) in [
            (Cause::USER_BUSY, Refusal::Busy, 17),
            (Cause::UNALLOCATED, Refusal::Sit(SitKind::VacantCode), 1),
            (Cause(28), Refusal::Sit(SitKind::VacantCode), 1),
            (Cause::NO_CIRCUIT, Refusal::Reorder, 34),
            (Cause(41), Refusal::Reorder, 34),
        ] {
            let mut r = refused_em_call(address, cause, 10);
            assert_eq!(r.playing[1], Some(tone), "cause {cause}");
            // Refused unanswered: side 1 never went off hook after its winks.
            assert!(r.tx[1].last().is_some_and(|b| !b.a()), "{:?}", r.tx[1]);
            assert!(
                r.run_until(|r| r.has(0, |e| matches!(e, LegEvent::Released(Release { cause: Cause(c), .. }) if *c == want))),
                "cause {cause}: {:?}",
                r.events[0]
            );
            assert!(!r.has(0, |e| matches!(e, LegEvent::Answered { .. })));
            assert!(r.run_until(|r| r.all_idle()), "channels stuck after cause {cause}");
            assert_eq!(r.playing, [None, None], "the tone stops when the caller hangs up");
            assert_eq!(r.listening, [false, false], "the media stops with the call");
            assert!(r.ready[0].contains(&true), "the outgoing call had early media");
            assert!(r.has(0, |e| matches!(e, LegEvent::Progress { inband: true })), "183 with SDP: {:?}", r.events[0]);
        }
    }
}

#[test]
fn a_refusal_tone_ends_after_its_time_and_the_trunk_clears() {
    let mut r = refused_em_call(AddressFormat::default(), Cause::USER_BUSY, 3);
    // The caller does not listen: nothing clears the call but the refusal time.
    r.listening[0] = false;
    let t0 = r.now;
    assert!(r.run_until(|r| r.playing[1].is_none()));
    assert!(r.now.duration_since(t0) >= Duration::from_millis(2900), "{:?}", r.now.duration_since(t0));
    // The caller goes on hook at last; everything is idle.
    r.cmd(0, out_leg(), LegCommand::Release(Release::cause(Cause::NORMAL_CLEARING)));
    assert!(r.run_until(|r| r.all_idle()), "{:?}", r.s.iter().map(|s| s.channels()).collect::<Vec<_>>());
}

#[test]
fn an_outgoing_em_call_has_early_media_and_ringback_heard_is_alerting_once() {
    let mut r = Rig::new(settings("a", em(StartType::Wink, AddressFormat::default())), settings("b", em(StartType::Wink, AddressFormat::default())));
    let leg = out_leg();
    r.s[0].originate(leg, &setup("5551234", "1"), ChannelChoice::Any, r.now);
    r.drain();
    assert!(r.run_until(|r| !r.incoming[1].is_empty() && r.listening[0]));
    assert!(r.has(0, |e| matches!(e, LegEvent::Media(_))) && r.ready[0] == vec![true], "media-ready once the address is out");
    assert!(r.has(0, |e| matches!(e, LegEvent::Progress { inband: true })));
    assert!(!r.has(0, |e| matches!(e, LegEvent::Answered { .. })));
    for _ in 0..2 {
        r.s[0].handle_input(TdmInput::Cas(CasInput { channo: 1, input: CasLineInput::Progress(CallProgress::Ringback) }), r.now);
        r.drain();
    }
    let alerts = r.events[0].iter().filter(|(_, e)| matches!(e, LegEvent::Alerting { inband: true })).count();
    assert_eq!(alerts, 1);
    r.cmd(1, LegRef::inbound(CallId(101)), LegCommand::Answer { connected: None });
    assert!(r.run_until(|r| r.has(0, |e| matches!(e, LegEvent::Answered { .. }))));
    assert_eq!(r.ready[0], vec![true], "the answer keeps the media it had");
    // Tones after answer are speech to the detector's owner: ignored.
    r.s[0].handle_input(TdmInput::Cas(CasInput { channo: 1, input: CasLineInput::Progress(CallProgress::Busy) }), r.now);
    r.drain();
    assert!(!r.has(0, |e| matches!(e, LegEvent::Released(_))));
}

#[test]
fn refusal_causes_map_to_busy_sit_or_reorder() {
    assert_eq!(refusal_for_cause(Cause::USER_BUSY), Refusal::Busy);
    for c in [1, 3, 22, 28] {
        assert_eq!(refusal_for_cause(Cause(c)), Refusal::Sit(SitKind::VacantCode), "{c}");
    }
    for c in [34, 38, 41, 42, 44, 16, 21] {
        assert_eq!(refusal_for_cause(Cause(c)), Refusal::Reorder, "{c}");
    }
}

#[test]
fn a_blocked_channel_keeps_its_call_then_is_busied_out_and_skipped_until_unblocked() {
    let mut r = Rig::new(settings("a", em(StartType::Wink, AddressFormat::default())), settings("b", em(StartType::Wink, AddressFormat::default())));
    let leg = out_leg();
    r.s[0].originate(leg, &setup("5551234", "1"), ChannelChoice::Exclusive(ChannelAddr { span: 1, pos: 1 }), r.now);
    r.drain();
    assert!(r.run_until(|r| !r.incoming[1].is_empty()));
    let ch1 = ChannelAddr { span: 1, pos: 1 };
    assert!(r.s[0].set_blocked(ch1, true, r.now));
    assert!(!r.s[0].set_blocked(ChannelAddr { span: 1, pos: 9 }, true, r.now), "no such channel");
    r.drain();
    // Graceful: the call goes on, the channel shows busy.
    assert!(!r.has(0, |e| matches!(e, LegEvent::Released(_))), "{:?}", r.events[0]);
    assert_eq!(r.s[0].channels()[0].state, ChannelState::Busy);
    assert_eq!(r.s[0].blocked(), [ch1]);
    r.cmd(0, leg, LegCommand::Release(Release::cause(Cause::NORMAL_CLEARING)));
    assert!(r.run_until(|r| r.s[0].channels()[0].state == ChannelState::Maintenance), "{:?}", r.s[0].channels());
    // After the release guard, the busy-out: off hook on E&M.
    assert!(r.run_until(|r| r.tx[0].last().is_some_and(|b| b.a())), "no busy-out: {:?}", r.tx[0]);
    assert_eq!(r.s[0].channels()[0].state, ChannelState::Maintenance);
    // A new call takes channel 2.
    let leg2 = LegRef::outbound(CallId(2), 1);
    r.s[0].originate(leg2, &setup("5551235", "1"), ChannelChoice::Any, r.now);
    r.drain();
    assert!(r.has(0, |e| matches!(e, LegEvent::Identity(id) if id.channel == Some(2))), "{:?}", r.events[0]);
    r.cmd(0, leg2, LegCommand::Release(Release::cause(Cause::NORMAL_CLEARING)));
    assert!(r.s[0].set_blocked(ch1, false, r.now));
    r.drain();
    assert!(r.s[0].blocked().is_empty());
    assert!(r.run_until(|r| r.s[0].channels().iter().all(|c| c.state == ChannelState::Idle)), "{:?}", r.s[0].channels());
    assert!(r.tx[0].last().is_some_and(|b| !b.a()), "idle (on hook) bits again: {:?}", r.tx[0]);
}
