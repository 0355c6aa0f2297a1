use std::time::{Duration, Instant};

use super::*;
use crate::call::model::CallId;
use tandem_signalling::Tone;

fn settings(kind: PortKind) -> AnalogSettings {
    AnalogSettings {
        name: "line".into(),
        ports: vec![AnalogPort { addr: ChannelAddr { span: 1, pos: 3 }, channo: 3, kind }],
        law: Law::Ulaw,
        line: Some("+12125550100".into()),
        fxo: FxoConfig::for_start(StartType::KewlStart),
        fxs: FxsConfig { hookflash_min: Duration::ZERO, hookflash_max: Duration::ZERO, ..FxsConfig::default() },
        call_waiting: true,
        transfer_await_notify: true,
        ring_pattern: None,
    }
}

fn input(a: &mut AnalogInterface, i: LineInput, now: Instant) {
    a.handle_input(TdmInput::Analog(AnalogInput { channo: 3, input: i }), now);
}

fn drain(a: &mut AnalogInterface) -> Vec<TdmOutput> {
    std::iter::from_fn(|| a.poll_output()).collect()
}

#[test]
fn a_co_call_with_private_caller_id_is_presented_to_the_line_number_and_answered_off_hook() {
    let mut a = AnalogInterface::new(settings(PortKind::Fxo));
    let t = Instant::now();
    input(&mut a, LineInput::RingBegin, t);
    input(&mut a, LineInput::RingEnd, t + Duration::from_secs(2));
    let cid = CallerIdInfo { number_absent: Some(Absence::Private), name: Some("ALICE".into()), ..CallerIdInfo::default() };
    input(&mut a, LineInput::CallerId(cid), t + Duration::from_millis(3000));
    let out = drain(&mut a);
    let Some(TdmOutput::Incoming { key, setup, media, .. }) = out.into_iter().find(|o| matches!(o, TdmOutput::Incoming { .. })) else { panic!("no call") };
    assert_eq!(setup.called, "+12125550100");
    let calling = setup.calling.expect("calling party");
    assert_eq!(calling.presentation, Presentation::Restricted);
    assert_eq!(calling.name.as_deref(), Some("ALICE"));
    assert_eq!(media, MediaEndpoint::Tdm { channo: 3, law: Law::Ulaw });
    let leg = LegRef::inbound(CallId(1));
    a.accept(key, leg);
    a.command(leg, LegCommand::Answer { connected: None }, t + Duration::from_millis(3500));
    let out = drain(&mut a);
    assert!(out.contains(&TdmOutput::Io(TdmIo::Analog(AnalogIo { channo: 3, cmd: LineCommand::OffHook }))), "{out:?}");
    // The CO hangs up: battery drops for longer than the open-loop minimum.
    input(&mut a, LineInput::BatteryLost, t + Duration::from_secs(10));
    a.handle_timeout(t + Duration::from_millis(10_400));
    let out = drain(&mut a);
    assert!(out.iter().any(|o| matches!(o, TdmOutput::Leg(l, LegEvent::Released(r)) if *l == leg && r.cause == Cause::NORMAL_CLEARING)), "{out:?}");
    assert!(out.contains(&TdmOutput::Io(TdmIo::Analog(AnalogIo { channo: 3, cmd: LineCommand::OnHook }))));
}

#[test]
fn an_outbound_fxo_call_dials_after_dial_tone_and_reports_media_only_once_dialled() {
    let mut a = AnalogInterface::new(settings(PortKind::Fxo));
    let t = Instant::now();
    let leg = LegRef::outbound(CallId(2), 1);
    a.originate(leg, &Setup { called: "+5551234".into(), complete: true, ..Setup::default() }, ChannelChoice::Any, t);
    let out = drain(&mut a);
    assert!(out.contains(&TdmOutput::Io(TdmIo::Analog(AnalogIo { channo: 3, cmd: LineCommand::OffHook }))));
    assert!(!out.iter().any(|o| matches!(o, TdmOutput::Leg(_, LegEvent::Media(_)))));
    assert_eq!(a.channels()[0].state, ChannelState::Busy);
    input(&mut a, LineInput::ToneDetected(Tone::DialTone), t + Duration::from_millis(600));
    let out = drain(&mut a);
    assert!(out.contains(&TdmOutput::Io(TdmIo::Analog(AnalogIo { channo: 3, cmd: LineCommand::Dial { digits: "5551234".into(), mode: DialMode::Dtmf } }))));
    assert!(out.contains(&TdmOutput::Leg(leg, LegEvent::Proceeding)));
    input(&mut a, LineInput::DialComplete, t + Duration::from_secs(2));
    let out = drain(&mut a);
    assert!(out.contains(&TdmOutput::Leg(leg, LegEvent::Media(MediaEndpoint::Tdm { channo: 3, law: Law::Ulaw }))));
    assert!(out.contains(&TdmOutput::Leg(leg, LegEvent::Answered { connected: None })), "immediate answer supervision: {out:?}");
}

#[test]
fn a_phone_that_dials_a_complete_number_starts_a_call_and_its_hang_up_releases_it() {
    let mut s = settings(PortKind::Fxs);
    s.fxs.dial_plan = DialPlan::new(["1NXXNXXXXXX"]).unwrap();
    let mut a = AnalogInterface::new(s);
    let t = Instant::now();
    input(&mut a, LineInput::OffHook, t);
    assert!(drain(&mut a).contains(&TdmOutput::Io(TdmIo::Analog(AnalogIo { channo: 3, cmd: LineCommand::PlayTone(Tone::DialTone) }))));
    for (k, d) in "12125550199".chars().enumerate() {
        input(&mut a, LineInput::Digit(d), t + Duration::from_millis(500 + 200 * k as u64));
    }
    let out = drain(&mut a);
    let Some(TdmOutput::Incoming { key, setup, .. }) = out.into_iter().find(|o| matches!(o, TdmOutput::Incoming { .. })) else { panic!("no call") };
    assert_eq!(setup.called, "12125550199");
    assert_eq!(setup.calling.map(|p| p.number), Some("+12125550100".into()));
    let leg = LegRef::inbound(CallId(3));
    a.accept(key, leg);
    input(&mut a, LineInput::OnHook, t + Duration::from_secs(9));
    let out = drain(&mut a);
    assert!(out.iter().any(|o| matches!(o, TdmOutput::Leg(l, LegEvent::Released(_)) if *l == leg)), "{out:?}");
    assert_eq!(a.channels()[0].state, ChannelState::Idle);
}

#[test]
fn a_call_to_a_phone_rings_it_and_its_answer_brings_the_media() {
    let mut a = AnalogInterface::new(settings(PortKind::Fxs));
    let t = Instant::now();
    let leg = LegRef::outbound(CallId(4), 1);
    let calling = Party { number: "+12125550123".into(), name: Some("BOB".into()), ..Party::default() };
    a.originate(leg, &Setup { called: "100".into(), complete: true, calling: Some(calling), ..Setup::default() }, ChannelChoice::Any, t);
    let out = drain(&mut a);
    assert!(out.contains(&TdmOutput::Io(TdmIo::Analog(AnalogIo { channo: 3, cmd: LineCommand::Ring }))));
    assert!(out.contains(&TdmOutput::Leg(leg, LegEvent::Alerting { inband: false })));
    a.handle_timeout(t + Duration::from_millis(2000));
    a.handle_timeout(t + Duration::from_millis(2600));
    let out = drain(&mut a);
    let cid = out.iter().find_map(|o| match o {
        TdmOutput::Io(TdmIo::Analog(AnalogIo { cmd: LineCommand::SendCallerId(c, _), .. })) => Some(c.clone()),
        _ => None,
    });
    assert_eq!(cid.and_then(|c| c.number), Some("12125550123".into()));
    input(&mut a, LineInput::OffHook, t + Duration::from_secs(4));
    let out = drain(&mut a);
    assert!(out.contains(&TdmOutput::Leg(leg, LegEvent::Media(MediaEndpoint::Tdm { channo: 3, law: Law::Ulaw }))));
    assert!(out.contains(&TdmOutput::Leg(leg, LegEvent::Answered { connected: None })));
}

#[test]
fn with_polarity_answer_supervision_busy_releases_with_17_and_the_reversal_answers() {
    let mut s = settings(PortKind::Fxo);
    s.fxo.answer = AnswerSupervision::Polarity;
    let mut a = AnalogInterface::new(s);
    let t = Instant::now();
    let setup = Setup { called: "5551234".into(), complete: true, ..Setup::default() };
    // Busy after dialling.
    let leg = LegRef::outbound(CallId(5), 1);
    a.originate(leg, &setup, ChannelChoice::Any, t);
    input(&mut a, LineInput::ToneDetected(Tone::DialTone), t + Duration::from_millis(500));
    input(&mut a, LineInput::DialComplete, t + Duration::from_secs(2));
    input(&mut a, LineInput::ToneDetected(Tone::Busy), t + Duration::from_secs(4));
    let out = drain(&mut a);
    assert!(!out.iter().any(|o| matches!(o, TdmOutput::Leg(_, LegEvent::Media(_)))), "{out:?}");
    assert!(out.iter().any(|o| matches!(o, TdmOutput::Leg(l, LegEvent::Released(r)) if *l == leg && r.cause == Cause::USER_BUSY)), "{out:?}");
    // Answered by a polarity reversal, after the guard time.
    let t = t + Duration::from_secs(10);
    a.handle_timeout(t);
    let leg = LegRef::outbound(CallId(6), 1);
    a.originate(leg, &setup, ChannelChoice::Any, t);
    input(&mut a, LineInput::ToneDetected(Tone::DialTone), t + Duration::from_millis(500));
    input(&mut a, LineInput::DialComplete, t + Duration::from_secs(2));
    input(&mut a, LineInput::ToneDetected(Tone::Ringback), t + Duration::from_secs(3));
    let out = drain(&mut a);
    assert!(out.contains(&TdmOutput::Leg(leg, LegEvent::Alerting { inband: false })), "{out:?}");
    assert!(!out.iter().any(|o| matches!(o, TdmOutput::Leg(_, LegEvent::Answered { .. }))));
    input(&mut a, LineInput::Polarity, t + Duration::from_secs(5));
    let out = drain(&mut a);
    assert!(out.contains(&TdmOutput::Leg(leg, LegEvent::Media(MediaEndpoint::Tdm { channo: 3, law: Law::Ulaw }))));
    assert!(out.contains(&TdmOutput::Leg(leg, LegEvent::Answered { connected: None })));
}

#[test]
fn a_release_from_call_control_while_the_co_still_rings_frees_the_port_once_ringing_stops() {
    let mut a = AnalogInterface::new(settings(PortKind::Fxo));
    let t = Instant::now();
    input(&mut a, LineInput::CallerId(CallerIdInfo { number: Some("123".into()), ..CallerIdInfo::default() }), t);
    let Some(TdmOutput::Incoming { key, .. }) = drain(&mut a).into_iter().find(|o| matches!(o, TdmOutput::Incoming { .. })) else { panic!("no call") };
    let leg = LegRef::inbound(CallId(7));
    a.accept(key, leg);
    a.command(leg, LegCommand::Release(Release::cause(Cause::NO_ROUTE_DESTINATION)), t + Duration::from_millis(10));
    let out = drain(&mut a);
    assert_eq!(out.iter().filter(|o| matches!(o, TdmOutput::Leg(l, LegEvent::Released(_)) if *l == leg)).count(), 1, "{out:?}");
    // No second call for the same ringing; the port is free after it stops.
    input(&mut a, LineInput::RingBegin, t + Duration::from_secs(1));
    input(&mut a, LineInput::RingEnd, t + Duration::from_secs(3));
    assert!(!drain(&mut a).iter().any(|o| matches!(o, TdmOutput::Incoming { .. })));
    a.handle_timeout(t + Duration::from_secs(12));
    assert_eq!(a.channels()[0].state, ChannelState::Idle);
}

#[test]
fn message_waiting_lights_the_phone_gives_stutter_dial_tone_and_clears() {
    let mut a = AnalogInterface::new(settings(PortKind::Fxs));
    let t = Instant::now();
    let io = |cmd| TdmOutput::Io(TdmIo::Analog(AnalogIo { channo: 3, cmd }));
    a.message_waiting(true, t);
    assert_eq!(drain(&mut a), vec![io(LineCommand::Vmwi(true))]);
    input(&mut a, LineInput::OffHook, t + Duration::from_secs(1));
    assert!(drain(&mut a).contains(&io(LineCommand::PlayTone(Tone::StutterDialTone))));
    input(&mut a, LineInput::OnHook, t + Duration::from_secs(2));
    drain(&mut a);
    a.message_waiting(false, t + Duration::from_secs(3));
    assert_eq!(drain(&mut a), vec![io(LineCommand::Vmwi(false))]);
    input(&mut a, LineInput::OffHook, t + Duration::from_secs(4));
    assert!(drain(&mut a).contains(&io(LineCommand::PlayTone(Tone::DialTone))));
}

#[test]
fn message_waiting_during_a_call_reaches_the_phone_when_it_hangs_up_and_fxo_ignores_it() {
    let mut a = AnalogInterface::new(settings(PortKind::Fxs));
    let t = Instant::now();
    input(&mut a, LineInput::OffHook, t);
    drain(&mut a);
    a.message_waiting(true, t + Duration::from_millis(100));
    assert!(!drain(&mut a).iter().any(|o| matches!(o, TdmOutput::Io(TdmIo::Analog(AnalogIo { cmd: LineCommand::Vmwi(_), .. })))));
    input(&mut a, LineInput::OnHook, t + Duration::from_secs(1));
    assert!(drain(&mut a).contains(&TdmOutput::Io(TdmIo::Analog(AnalogIo { channo: 3, cmd: LineCommand::Vmwi(true) }))));
    let mut fxo = AnalogInterface::new(settings(PortKind::Fxo));
    fxo.message_waiting(true, t);
    assert_eq!(drain(&mut fxo), vec![]);
}

#[test]
fn bellcore_alert_info_names_the_gr506_distinctive_ring_patterns() {
    let ms = Duration::from_millis;
    let (dr2, repeat) = distinctive_ring("http://127.0.0.1/Bellcore-dr2").expect("dr2");
    assert!(repeat);
    assert_eq!(dr2, vec![Cadence { on: ms(800), off: ms(400) }, Cadence { on: ms(800), off: ms(4000) }]);
    assert_eq!(distinctive_ring("<urn:alert:x>;info=bellcore-DR3").map(|(p, _)| p.len()), Some(3));
    assert_eq!(distinctive_ring("http://x/Bellcore-dr5").map(|(p, r)| (p[0].on, r)), Some((ms(500), false)));
    assert_eq!(distinctive_ring("http://x/Bellcore-dr9"), None);
    assert_eq!(distinctive_ring("http://x/ring.wav"), None);
}

// ---- two calls on an FXS port, hold and transfer ----

fn legs(out: &[TdmOutput], leg: LegRef) -> Vec<LegEvent> {
    out.iter()
        .filter_map(|o| match o {
            TdmOutput::Leg(l, e) if *l == leg => Some(e.clone()),
            _ => None,
        })
        .collect()
}

fn lines(out: &[TdmOutput]) -> Vec<LineCommand> {
    out.iter()
        .filter_map(|o| match o {
            TdmOutput::Io(TdmIo::Analog(a)) => Some(a.cmd.clone()),
            _ => None,
        })
        .collect()
}

/// A SIP call rung on the phone and answered: (interface, leg A, t).
fn phone_in_a_call() -> (AnalogInterface, LegRef, Instant) {
    let mut a = AnalogInterface::new(settings(PortKind::Fxs));
    let t = Instant::now();
    let leg = LegRef::outbound(CallId(10), 1);
    a.originate(leg, &Setup { called: "100".into(), complete: true, ..Setup::default() }, ChannelChoice::Any, t);
    input(&mut a, LineInput::OffHook, t + Duration::from_secs(1));
    let out = drain(&mut a);
    assert!(legs(&out, leg).contains(&LegEvent::Answered { connected: None }), "{out:?}");
    (a, leg, t + Duration::from_secs(1))
}

#[test]
fn a_second_call_for_a_phone_in_a_call_waits_with_tone_and_a_flash_holds_the_first_and_answers_it() {
    let (mut a, la, t) = phone_in_a_call();
    // The busy port shows as free for a waiting call.
    assert_eq!(a.channels()[0].state, ChannelState::Idle);
    assert_eq!(a.busy_cause(), None);
    let lb = LegRef::outbound(CallId(11), 1);
    let calling = Party::number("+12125550177");
    a.originate(
        lb,
        &Setup { called: "100".into(), complete: true, calling: Some(calling), ..Setup::default() },
        ChannelChoice::Any,
        t + Duration::from_secs(2),
    );
    let out = drain(&mut a);
    assert!(legs(&out, lb).contains(&LegEvent::Alerting { inband: false }), "{out:?}");
    assert_eq!(legs(&out, la), vec![LegEvent::Mute(true)]);
    assert_eq!(lines(&out), vec![LineCommand::PlayTone(Tone::CallWaiting)]);
    assert_eq!(a.channels()[0].state, ChannelState::Busy, "a third call finds the port busy");
    assert_eq!(a.busy_cause(), Some(Cause::USER_BUSY), "a hunt finding no port tells the third caller the phone is busy");
    let lc = LegRef::outbound(CallId(12), 1);
    a.originate(
        lc,
        &Setup { called: "100".into(), complete: true, ..Setup::default() },
        ChannelChoice::Exclusive(ChannelAddr { span: 1, pos: 3 }),
        t + Duration::from_secs(2),
    );
    let out = drain(&mut a);
    assert_eq!(legs(&out, lc), vec![LegEvent::Released(Release { cause: Cause::USER_BUSY, wire: Some("phone busy".into()) })]);
    // CAS at 300 ms, the phone's ACK, caller ID, then the first call's audio back.
    a.handle_timeout(t + Duration::from_millis(2300));
    assert_eq!(lines(&drain(&mut a)), vec![LineCommand::StopTone, LineCommand::SendCas]);
    input(&mut a, LineInput::Digit('D'), t + Duration::from_millis(2420));
    a.handle_timeout(t + Duration::from_millis(2600));
    let out = drain(&mut a);
    let cid = CallerIdInfo { number: Some("12125550177".into()), ..CallerIdInfo::default() };
    assert_eq!(lines(&out), vec![LineCommand::SendCallerId(cid, tandem_signalling::CallerIdWhen::CallWaiting)]);
    a.handle_timeout(t + Duration::from_secs(5));
    assert_eq!(legs(&drain(&mut a), la), vec![LegEvent::Mute(false)]);
    // Flash: A held, B answered on the channel.
    input(&mut a, LineInput::WinkFlash, t + Duration::from_secs(6));
    let out = drain(&mut a);
    assert_eq!(legs(&out, la), vec![LegEvent::Hold(true)]);
    assert_eq!(legs(&out, lb), vec![LegEvent::Media(MediaEndpoint::Tdm { channo: 3, law: Law::Ulaw }), LegEvent::Answered { connected: None }]);
    // Flash again: swap.
    input(&mut a, LineInput::WinkFlash, t + Duration::from_secs(7));
    let out = drain(&mut a);
    assert_eq!(legs(&out, lb), vec![LegEvent::Hold(true)]);
    assert_eq!(legs(&out, la), vec![LegEvent::Hold(false)]);
    // Hang up: A (talking) ends, the phone rings again for B (held); answering resumes B.
    input(&mut a, LineInput::OnHook, t + Duration::from_secs(8));
    let out = drain(&mut a);
    assert!(matches!(legs(&out, la).as_slice(), [LegEvent::Released(r)] if r.cause == Cause::NORMAL_CLEARING), "{out:?}");
    assert!(legs(&out, lb).is_empty(), "{out:?}");
    assert!(lines(&out).contains(&LineCommand::Ring), "{out:?}");
    input(&mut a, LineInput::OffHook, t + Duration::from_secs(9));
    let out = drain(&mut a);
    assert_eq!(legs(&out, lb), vec![LegEvent::Hold(false)]);
    input(&mut a, LineInput::OnHook, t + Duration::from_secs(10));
    assert!(matches!(legs(&drain(&mut a), lb).as_slice(), [LegEvent::Released(_)]));
    assert_eq!(a.channels()[0].state, ChannelState::Idle);
}

#[test]
fn the_waiting_caller_giving_up_stops_the_tone_and_releases_only_that_leg() {
    let (mut a, la, t) = phone_in_a_call();
    let lb = LegRef::outbound(CallId(11), 1);
    a.originate(lb, &Setup { called: "100".into(), complete: true, ..Setup::default() }, ChannelChoice::Any, t);
    drain(&mut a);
    a.command(lb, LegCommand::Release(Release::cause(Cause::NORMAL_CLEARING)), t + Duration::from_millis(100));
    let out = drain(&mut a);
    assert_eq!(lines(&out), vec![LineCommand::StopTone]);
    assert_eq!(legs(&out, la), vec![LegEvent::Mute(false)]);
    assert!(matches!(legs(&out, lb).as_slice(), [LegEvent::Released(_)]));
    // The first call goes on: a new call may wait again.
    assert_eq!(a.channels()[0].state, ChannelState::Idle);
}

#[test]
fn flash_holds_with_recall_dial_tone_a_second_flash_resumes_and_dial_and_hang_up_transfers() {
    let (mut a, la, t) = phone_in_a_call();
    input(&mut a, LineInput::WinkFlash, t + Duration::from_secs(1));
    let out = drain(&mut a);
    assert_eq!(legs(&out, la), vec![LegEvent::Hold(true)]);
    assert_eq!(lines(&out), vec![LineCommand::PlayTone(Tone::StutterDialTone)]);
    input(&mut a, LineInput::WinkFlash, t + Duration::from_secs(2));
    let out = drain(&mut a);
    assert_eq!(legs(&out, la), vec![LegEvent::Hold(false)]);
    assert_eq!(lines(&out), vec![LineCommand::StopTone]);
    input(&mut a, LineInput::WinkFlash, t + Duration::from_secs(3));
    drain(&mut a);
    for (k, d) in "2125550123".chars().enumerate() {
        input(&mut a, LineInput::Digit(d), t + Duration::from_millis(3500 + 200 * k as u64));
    }
    input(&mut a, LineInput::OnHook, t + Duration::from_secs(6));
    let out = drain(&mut a);
    assert_eq!(legs(&out, la), vec![LegEvent::Transfer { to: "2125550123".into(), await_result: true }]);
    assert_eq!(a.channels()[0].state, ChannelState::Idle, "the port is free once the call is handed over");
    a.command(la, LegCommand::Release(Release::cause(Cause::NORMAL_CLEARING)), t + Duration::from_secs(7));
    assert!(matches!(legs(&drain(&mut a), la).as_slice(), [LegEvent::Released(_)]));
}

#[test]
fn a_call_the_phone_dialled_refused_before_answer_gets_the_causes_tone_until_on_hook() {
    for (cause, tone) in [(Cause::USER_BUSY, Tone::Busy), (Cause::UNALLOCATED, Tone::Sit), (Cause(28), Tone::Sit), (Cause::NO_CIRCUIT, Tone::Reorder)] {
        let mut s = settings(PortKind::Fxs);
        s.fxs.dial_plan = DialPlan::new(["7XXX"]).unwrap();
        let mut a = AnalogInterface::new(s);
        let t = Instant::now();
        input(&mut a, LineInput::OffHook, t);
        for (k, d) in "7123".chars().enumerate() {
            input(&mut a, LineInput::Digit(d), t + Duration::from_millis(500 + 200 * k as u64));
        }
        let Some(TdmOutput::Incoming { key, .. }) = drain(&mut a).into_iter().find(|o| matches!(o, TdmOutput::Incoming { .. })) else { panic!("no call") };
        let leg = LegRef::inbound(CallId(4));
        a.accept(key, leg);
        let r = Release { cause, wire: None };
        a.command(leg, LegCommand::Release(r.clone()), t + Duration::from_secs(2));
        let out = drain(&mut a);
        // The leg ends at once; the phone hears the tone, with no disconnect signal.
        assert_eq!(legs(&out, leg), vec![LegEvent::Released(r)], "{cause}");
        assert_eq!(lines(&out), vec![LineCommand::PlayTone(tone)], "{cause}");
        // The line stays in use (busy to new calls) until the phone hangs up.
        assert_eq!(a.channels()[0].state, ChannelState::Busy);
        assert_eq!(a.busy_cause(), Some(Cause::USER_BUSY));
        input(&mut a, LineInput::OnHook, t + Duration::from_secs(5));
        assert_eq!(lines(&drain(&mut a)), vec![LineCommand::StopTone]);
        assert_eq!(a.channels()[0].state, ChannelState::Idle);
        assert_eq!(a.busy_cause(), None);
    }
}

#[test]
fn a_call_for_phone_lines_all_off_hook_is_busy_but_for_co_lines_all_taken_no_circuit() {
    let mut s = settings(PortKind::Fxs);
    s.call_waiting = false;
    let mut a = AnalogInterface::new(s);
    let t = Instant::now();
    // The phone is off hook, dialling: the line is in use.
    input(&mut a, LineInput::OffHook, t);
    drain(&mut a);
    assert_eq!(a.channels()[0].state, ChannelState::Busy);
    assert_eq!(a.busy_cause(), Some(Cause::USER_BUSY));
    // FXO ports all in calls are circuits: no busy cause (34 applies).
    let mut a = AnalogInterface::new(settings(PortKind::Fxo));
    let leg = LegRef::outbound(CallId(5), 1);
    a.originate(leg, &Setup { called: "5551234".into(), complete: true, ..Setup::default() }, ChannelChoice::Any, t);
    drain(&mut a);
    assert_eq!(a.channels()[0].state, ChannelState::Busy);
    assert_eq!(a.busy_cause(), None);
}

#[test]
fn a_sit_heard_while_placing_a_call_on_a_co_line_releases_it_as_unallocated() {
    let mut s = settings(PortKind::Fxo);
    s.fxo.wait_for_dial_tone = false;
    s.fxo.answer = tandem_signalling::fxo::AnswerSupervision::AfterTimeout(Duration::from_secs(8));
    let mut a = AnalogInterface::new(s);
    let t = Instant::now();
    let leg = LegRef::outbound(CallId(6), 1);
    a.originate(leg, &Setup { called: "5551234".into(), complete: true, ..Setup::default() }, ChannelChoice::Any, t);
    a.handle_timeout(t + Duration::from_secs(3));
    input(&mut a, LineInput::DialComplete, t + Duration::from_secs(4));
    drain(&mut a);
    input(&mut a, LineInput::ToneDetected(Tone::Sit), t + Duration::from_secs(5));
    let out = drain(&mut a);
    assert!(legs(&out, leg).iter().any(|e| matches!(e, LegEvent::Released(Release { cause: Cause::UNALLOCATED, .. }))), "{out:?}");
    assert!(lines(&out).contains(&LineCommand::OnHook), "{out:?}");
}

#[test]
fn a_blocked_fxo_line_ignores_ringing_and_stays_on_hook_until_unblocked() {
    // Answer at once, so a presented call would take the line off hook by itself.
    let mut s = settings(PortKind::Fxo);
    s.fxo.early_answer = true;
    let mut a = AnalogInterface::new(s);
    let port = ChannelAddr { span: 1, pos: 3 };
    let t = Instant::now();
    assert!(a.set_blocked(port, true, t));
    let ring_train = |a: &mut AnalogInterface, start: Instant| {
        let mut out = Vec::new();
        for n in 0..4u64 {
            let on = start + Duration::from_secs(6 * n);
            input(a, LineInput::RingBegin, on);
            input(a, LineInput::RingEnd, on + Duration::from_secs(2));
            if n == 0 {
                let cid = CallerIdInfo { number: Some("2125551234".into()), ..CallerIdInfo::default() };
                input(a, LineInput::CallerId(cid), on + Duration::from_millis(3000));
            }
            a.handle_timeout(on + Duration::from_secs(5));
            out.extend(drain(a));
        }
        out
    };
    let out = ring_train(&mut a, t);
    assert!(!out.iter().any(|o| matches!(o, TdmOutput::Incoming { .. })), "no call presented: {out:?}");
    assert!(!lines(&out).contains(&LineCommand::OffHook), "the line stays on hook: {out:?}");
    assert!(a.channels().iter().all(|c| c.state == ChannelState::Maintenance), "{:?}", a.channels());

    // Unblocked, the next ringing is a call and is answered off hook.
    let later = t + Duration::from_secs(60);
    assert!(a.set_blocked(port, false, later));
    let out = ring_train(&mut a, later);
    assert!(out.iter().any(|o| matches!(o, TdmOutput::Incoming { .. })), "{out:?}");
    assert!(lines(&out).contains(&LineCommand::OffHook), "{out:?}");
}
