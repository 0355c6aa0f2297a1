use super::*;
use crate::{CallEvent as E, LineCommand as L, LineInput as I, Output::*};

struct H {
    port: FxoPort,
    base: Instant,
}

fn cid(n: &str) -> CallerIdInfo {
    CallerIdInfo { number: Some(n.into()), name: Some("ALICE".into()), datetime: None, ..CallerIdInfo::default() }
}

impl H {
    fn new(config: FxoConfig) -> Self {
        H { port: FxoPort::new(config), base: Instant::now() }
    }
    fn t(&self, ms: u64) -> Instant {
        self.base + Duration::from_millis(ms)
    }
    fn input(&mut self, ms: u64, i: LineInput) -> Vec<Output> {
        self.port.handle_input(i, self.t(ms));
        self.drain()
    }
    fn cmd(&mut self, ms: u64, c: Command) -> Vec<Output> {
        self.port.handle_command(c, self.t(ms)).expect("command accepted");
        self.drain()
    }
    fn tick(&mut self, ms: u64) -> Vec<Output> {
        self.port.handle_timeout(self.t(ms));
        self.drain()
    }
    fn drain(&mut self) -> Vec<Output> {
        std::iter::from_fn(|| self.port.poll_output()).collect()
    }
    fn state(&self) -> FxoState {
        self.port.state()
    }
    /// Drives an outgoing call to Connected with the default config.
    fn connected_outgoing(&mut self) {
        self.cmd(0, Command::Dial("5551234".into()));
        self.input(100, I::ToneDetected(Tone::DialTone));
        self.input(900, I::DialComplete);
        assert_eq!(self.state(), FxoState::Connected);
    }
    fn ring(&mut self, start: u64, len: u64) -> Vec<Output> {
        let mut v = self.input(start, I::RingBegin);
        v.extend(self.input(start + len, I::RingEnd));
        v
    }
}

fn incoming(c: Option<CallerIdInfo>) -> Output {
    Call(E::Incoming { caller_id: c })
}

fn hangup(reason: HangupReason) -> Output {
    Call(E::Hangup { reason })
}

// ---- incoming ----

#[test]
fn idle_port_has_no_timer() {
    let h = H::new(FxoConfig::default());
    assert!(h.port.is_idle());
    assert_eq!(h.port.poll_timeout(), None);
}

#[test]
fn ring_begin_enters_ringing_without_presenting() {
    let mut h = H::new(FxoConfig::default());
    assert_eq!(h.input(0, I::RingBegin), vec![]);
    assert_eq!(h.state(), FxoState::Ringing);
    assert_eq!(h.port.poll_timeout(), Some(h.t(150)));
}

#[test]
fn short_ring_spike_is_not_a_call() {
    let mut h = H::new(FxoConfig::default());
    assert_eq!(h.ring(0, 50), vec![]);
    assert_eq!(h.tick(8_050), vec![]);
    assert!(h.port.is_idle());
}

#[test]
fn present_after_second_ring_without_caller_id() {
    let mut h = H::new(FxoConfig::default());
    assert_eq!(h.ring(0, 2000), vec![]);
    let out = h.ring(6000, 2000);
    assert_eq!(out, vec![incoming(None)]);
    assert_eq!(h.state(), FxoState::Ringing);
}

#[test]
fn ring_validated_by_timer_while_still_ringing() {
    let mut h = H::new(FxoConfig { present_after_rings: 1, ..FxoConfig::default() });
    h.input(0, I::RingBegin);
    assert_eq!(h.tick(149), vec![]);
    assert_eq!(h.tick(150), vec![incoming(None)]);
    // The RingEnd of the same burst does not count it twice.
    assert_eq!(h.input(2000, I::RingEnd), vec![]);
}

#[test]
fn min_ring_on_is_configurable() {
    let mut h = H::new(FxoConfig { min_ring_on: Duration::from_millis(500), present_after_rings: 1, ..FxoConfig::default() });
    assert_eq!(h.ring(0, 400), vec![]);
    assert_eq!(h.ring(1000, 600), vec![incoming(None)]);
}

#[test]
fn caller_id_between_rings_presents_call() {
    let mut h = H::new(FxoConfig::default());
    h.ring(0, 2000);
    assert_eq!(h.input(2500, I::CallerId(cid("5551234"))), vec![incoming(Some(cid("5551234")))]);
    // Second ring adds nothing.
    assert_eq!(h.ring(6000, 2000), vec![]);
}

#[test]
fn caller_id_is_waited_for_when_not_presenting_on_it() {
    let mut h = H::new(FxoConfig { present_on_caller_id: false, ..FxoConfig::default() });
    h.ring(0, 2000);
    assert_eq!(h.input(2500, I::CallerId(cid("1"))), vec![]);
    assert_eq!(h.ring(6000, 2000), vec![incoming(Some(cid("1")))]);
}

#[test]
fn caller_id_before_first_ring_after_polarity_reversal() {
    let mut h = H::new(FxoConfig::default());
    assert_eq!(h.input(0, I::Polarity), vec![]);
    assert_eq!(h.state(), FxoState::Ringing);
    assert_eq!(h.input(300, I::CallerId(cid("2"))), vec![incoming(Some(cid("2")))]);
}

#[test]
fn caller_id_in_idle_starts_a_call() {
    let mut h = H::new(FxoConfig::default());
    assert_eq!(h.input(0, I::CallerId(cid("3"))), vec![incoming(Some(cid("3")))]);
}

#[test]
fn polarity_without_follow_up_times_out_silently() {
    let mut h = H::new(FxoConfig::default());
    h.input(0, I::Polarity);
    assert_eq!(h.tick(8000), vec![]);
    assert!(h.port.is_idle());
}

#[test]
fn ringing_stops_after_presentation_is_abandoned() {
    let mut h = H::new(FxoConfig::default());
    h.ring(0, 2000);
    h.ring(6000, 2000);
    assert_eq!(h.tick(15_999), vec![]);
    assert_eq!(h.tick(16_000), vec![hangup(HangupReason::Abandoned)]);
    assert!(h.port.is_idle());
}

#[test]
fn answer_goes_off_hook_and_connects() {
    let mut h = H::new(FxoConfig::default());
    h.ring(0, 2000);
    h.ring(6000, 2000);
    assert_eq!(h.cmd(8100, Command::Answer), vec![Line(L::OffHook)]);
    assert_eq!(h.state(), FxoState::Connected);
}

#[test]
fn answer_before_presentation_is_rejected() {
    let mut h = H::new(FxoConfig::default());
    h.ring(0, 2000);
    assert!(matches!(h.port.handle_command(Command::Answer, h.t(2100)), Err(Error::InvalidState { command: "Answer", state: "Ringing" })));
}

#[test]
fn early_answer_goes_off_hook_on_presentation() {
    let mut h = H::new(FxoConfig { early_answer: true, ..FxoConfig::default() });
    h.ring(0, 2000);
    let out = h.input(2500, I::CallerId(cid("4")));
    assert_eq!(out, vec![incoming(Some(cid("4"))), Line(L::OffHook), Call(E::Answered)]);
    assert_eq!(h.state(), FxoState::Connected);
    // Answer after early answer is a harmless no-op.
    assert_eq!(h.cmd(3000, Command::Answer), vec![]);
}

#[test]
fn hangup_while_ringing_ignores_the_rest_of_the_ringing() {
    let mut h = H::new(FxoConfig::default());
    h.ring(0, 2000);
    h.ring(6000, 2000);
    assert_eq!(h.cmd(8100, Command::Hangup), vec![]);
    assert_eq!(h.ring(12_000, 2000), vec![]);
    assert_eq!(h.tick(22_000), vec![]);
    assert!(h.port.is_idle());
}

// ---- outgoing ----

#[test]
fn dial_seizes_line() {
    let mut h = H::new(FxoConfig::default());
    assert_eq!(h.cmd(0, Command::Dial("123".into())), vec![Line(L::OffHook)]);
    assert_eq!(h.state(), FxoState::Seizing);
}

#[test]
fn invalid_dial_strings_are_rejected() {
    let mut h = H::new(FxoConfig::default());
    let t = h.t(0);
    assert!(matches!(h.port.handle_command(Command::Dial("".into()), t), Err(Error::InvalidDialString(_))));
    assert!(matches!(h.port.handle_command(Command::Dial("12x".into()), t), Err(Error::InvalidDialString(_))));
    let mut p = H::new(FxoConfig { dial_mode: DialMode::Pulse, ..FxoConfig::default() });
    assert!(p.port.handle_command(Command::Dial("12*".into()), t).is_err());
    assert!(p.port.is_idle());
    assert_eq!(p.drain(), vec![]);
}

#[test]
fn dial_while_busy_is_rejected() {
    let mut h = H::new(FxoConfig::default());
    h.input(0, I::RingBegin);
    assert!(matches!(h.port.handle_command(Command::Dial("1".into()), h.t(10)), Err(Error::InvalidState { command: "Dial", .. })));
}

#[test]
fn dial_tone_starts_dialling() {
    let mut h = H::new(FxoConfig::default());
    h.cmd(0, Command::Dial("5551234".into()));
    let out = h.input(200, I::ToneDetected(Tone::DialTone));
    assert_eq!(out, vec![Call(E::Progress(Progress::Dialing)), Line(L::Dial { digits: "5551234".into(), mode: DialMode::Dtmf })]);
    assert_eq!(h.state(), FxoState::Dialing);
}

#[test]
fn no_dial_tone_fails_the_call() {
    let mut h = H::new(FxoConfig::default());
    h.cmd(0, Command::Dial("1".into()));
    assert_eq!(h.tick(2999), vec![]);
    assert_eq!(h.tick(3000), vec![Line(L::OnHook), hangup(HangupReason::NoDialTone)]);
    assert_eq!(h.state(), FxoState::Guard);
    h.tick(3500);
    assert!(h.port.is_idle());
}

#[test]
fn blind_dial_after_delay_when_not_waiting_for_dial_tone() {
    let mut h = H::new(FxoConfig { wait_for_dial_tone: false, dial_mode: DialMode::Pulse, ..FxoConfig::default() });
    h.cmd(0, Command::Dial("42".into()));
    let out = h.tick(1000);
    assert_eq!(out[1], Line(L::Dial { digits: "42".into(), mode: DialMode::Pulse }));
}

#[test]
fn ground_start_waits_for_tip_ground_before_dial_tone() {
    let mut h = H::new(FxoConfig::for_start(StartType::GroundStart));
    h.cmd(0, Command::Dial("1".into()));
    // Dial tone before the acknowledgement is ignored.
    assert_eq!(h.input(100, I::ToneDetected(Tone::DialTone)), vec![]);
    h.input(2000, I::BatteryRestored);
    // The dial tone timer restarts at the acknowledgement.
    assert_eq!(h.tick(4000), vec![]);
    assert_eq!(h.input(4100, I::ToneDetected(Tone::DialTone)).len(), 2);
}

#[test]
fn ground_start_without_acknowledgement_fails() {
    let mut h = H::new(FxoConfig::for_start(StartType::GroundStart));
    h.cmd(0, Command::Dial("1".into()));
    assert_eq!(h.tick(3000), vec![Line(L::OnHook), hangup(HangupReason::NoDialTone)]);
}

#[test]
fn busy_while_seizing_fails_busy() {
    let mut h = H::new(FxoConfig::default());
    h.cmd(0, Command::Dial("1".into()));
    assert_eq!(h.input(10, I::ToneDetected(Tone::Busy)), vec![Line(L::OnHook), hangup(HangupReason::Busy)]);
}

#[test]
fn reorder_while_seizing_fails_reorder() {
    let mut h = H::new(FxoConfig::default());
    h.cmd(0, Command::Dial("1".into()));
    assert_eq!(h.input(10, I::ToneDetected(Tone::Reorder)), vec![Line(L::OnHook), hangup(HangupReason::Reorder)]);
}

#[test]
fn busy_while_dialling_fails_busy() {
    let mut h = H::new(FxoConfig::default());
    h.cmd(0, Command::Dial("1".into()));
    h.input(100, I::ToneDetected(Tone::DialTone));
    assert_eq!(h.input(200, I::ToneDetected(Tone::Busy)), vec![Line(L::OnHook), hangup(HangupReason::Busy)]);
}

#[test]
fn reorder_while_dialling_fails_reorder() {
    let mut h = H::new(FxoConfig::default());
    h.cmd(0, Command::Dial("1".into()));
    h.input(100, I::ToneDetected(Tone::DialTone));
    assert_eq!(h.input(200, I::ToneDetected(Tone::Reorder))[1], hangup(HangupReason::Reorder));
}

#[test]
fn immediate_answer_supervision_connects_after_dialling() {
    let mut h = H::new(FxoConfig::default());
    h.cmd(0, Command::Dial("1".into()));
    h.input(100, I::ToneDetected(Tone::DialTone));
    assert_eq!(h.input(500, I::DialComplete), vec![Call(E::Progress(Progress::Proceeding)), Call(E::Answered)]);
    assert_eq!(h.state(), FxoState::Connected);
}

#[test]
fn missing_dial_complete_is_assumed_after_timeout() {
    let mut h = H::new(FxoConfig::default());
    h.cmd(0, Command::Dial("1".into()));
    h.input(100, I::ToneDetected(Tone::DialTone));
    assert_eq!(h.tick(30_100).last(), Some(&Call(E::Answered)));
}

#[test]
fn polarity_answer_supervision() {
    let mut h = H::new(FxoConfig { answer: AnswerSupervision::Polarity, ..FxoConfig::default() });
    h.cmd(0, Command::Dial("1".into()));
    h.input(100, I::ToneDetected(Tone::DialTone));
    assert_eq!(h.input(500, I::DialComplete), vec![Call(E::Progress(Progress::Proceeding))]);
    assert_eq!(h.state(), FxoState::AwaitingAnswer);
    assert_eq!(h.input(1000, I::ToneDetected(Tone::Ringback)), vec![Call(E::Progress(Progress::Ringback))]);
    // Reported once.
    assert_eq!(h.input(5000, I::ToneDetected(Tone::Ringback)), vec![]);
    assert_eq!(h.input(9000, I::Polarity), vec![Call(E::Answered)]);
    assert_eq!(h.state(), FxoState::Connected);
}

#[test]
fn polarity_answer_supervision_times_out_no_answer() {
    let mut h = H::new(FxoConfig { answer: AnswerSupervision::Polarity, ..FxoConfig::default() });
    h.cmd(0, Command::Dial("1".into()));
    h.input(100, I::ToneDetected(Tone::DialTone));
    h.input(500, I::DialComplete);
    assert_eq!(h.tick(60_500), vec![Line(L::OnHook), hangup(HangupReason::NoAnswer)]);
}

#[test]
fn answer_after_timeout_policy() {
    let mut h = H::new(FxoConfig { answer: AnswerSupervision::AfterTimeout(Duration::from_secs(5)), ..FxoConfig::default() });
    h.cmd(0, Command::Dial("1".into()));
    h.input(100, I::ToneDetected(Tone::DialTone));
    h.input(500, I::DialComplete);
    // Polarity is not answer supervision under this policy.
    assert_eq!(h.input(600, I::Polarity), vec![]);
    assert_eq!(h.tick(5499), vec![]);
    assert_eq!(h.tick(5500), vec![Call(E::Answered)]);
}

#[test]
fn busy_while_awaiting_answer_fails_busy() {
    let mut h = H::new(FxoConfig { answer: AnswerSupervision::Polarity, ..FxoConfig::default() });
    h.cmd(0, Command::Dial("1".into()));
    h.input(100, I::ToneDetected(Tone::DialTone));
    h.input(500, I::DialComplete);
    assert_eq!(h.input(900, I::ToneDetected(Tone::Busy)), vec![Line(L::OnHook), hangup(HangupReason::Busy)]);
}

#[test]
fn sit_while_awaiting_timed_answer_fails_unallocated() {
    let mut h = H::new(FxoConfig { answer: AnswerSupervision::AfterTimeout(Duration::from_secs(8)), ..FxoConfig::default() });
    h.cmd(0, Command::Dial("1".into()));
    h.input(100, I::ToneDetected(Tone::DialTone));
    h.input(500, I::DialComplete);
    assert_eq!(h.input(2500, I::ToneDetected(Tone::Sit)), vec![Line(L::OnHook), hangup(HangupReason::Unallocated)]);
    // Nothing answers afterwards.
    assert!(!h.tick(9000).contains(&Call(E::Answered)));
}

#[test]
fn reorder_while_awaiting_answer_fails_reorder() {
    let mut h = H::new(FxoConfig { answer: AnswerSupervision::Polarity, ..FxoConfig::default() });
    h.cmd(0, Command::Dial("1".into()));
    h.input(100, I::ToneDetected(Tone::DialTone));
    h.input(500, I::DialComplete);
    assert_eq!(h.input(900, I::ToneDetected(Tone::Reorder))[1], hangup(HangupReason::Reorder));
}

#[test]
fn hangup_command_during_setup_goes_on_hook_without_event() {
    for stage in 0..3 {
        let mut h = H::new(FxoConfig { answer: AnswerSupervision::Polarity, ..FxoConfig::default() });
        h.cmd(0, Command::Dial("1".into()));
        if stage >= 1 {
            h.input(100, I::ToneDetected(Tone::DialTone));
        }
        if stage >= 2 {
            h.input(500, I::DialComplete);
        }
        assert_eq!(h.cmd(1000, Command::Hangup), vec![Line(L::OnHook)]);
        assert_eq!(h.state(), FxoState::Guard);
    }
}

// ---- connected ----

#[test]
fn open_loop_disconnect_after_min_duration() {
    let mut h = H::new(FxoConfig::default());
    h.connected_outgoing();
    assert_eq!(h.input(10_000, I::BatteryLost), vec![]);
    assert_eq!(h.tick(10_299), vec![]);
    assert_eq!(h.tick(10_300), vec![Line(L::OnHook), hangup(HangupReason::RemoteDisconnect(DisconnectMethod::OpenLoop))]);
}

#[test]
fn short_battery_drop_is_not_a_disconnect() {
    let mut h = H::new(FxoConfig::default());
    h.connected_outgoing();
    h.input(10_000, I::BatteryLost);
    assert_eq!(h.input(10_100, I::BatteryRestored), vec![]);
    assert_eq!(h.tick(20_000), vec![]);
    assert_eq!(h.state(), FxoState::Connected);
}

#[test]
fn loop_start_ignores_battery_loss_by_default() {
    let mut h = H::new(FxoConfig::for_start(StartType::LoopStart));
    h.connected_outgoing();
    h.input(10_000, I::BatteryLost);
    assert_eq!(h.tick(20_000), vec![]);
    assert_eq!(h.state(), FxoState::Connected);
}

#[test]
fn polarity_disconnect_when_enabled() {
    let mut cfg = FxoConfig::default();
    assert!(!H::new(cfg.clone()).port.config().disconnect.polarity);
    cfg.disconnect.polarity = true;
    let mut h = H::new(cfg);
    h.connected_outgoing();
    assert_eq!(h.input(5000, I::Polarity), vec![Line(L::OnHook), hangup(HangupReason::RemoteDisconnect(DisconnectMethod::Polarity))]);
}

#[test]
fn polarity_ignored_when_disabled() {
    let mut h = H::new(FxoConfig::default());
    h.connected_outgoing();
    assert_eq!(h.input(5000, I::Polarity), vec![]);
}

#[test]
fn tone_disconnects_each_configurable() {
    for tone in [Tone::Busy, Tone::Reorder, Tone::DialTone] {
        let mut h = H::new(FxoConfig::default());
        h.connected_outgoing();
        assert_eq!(h.input(5000, I::ToneDetected(tone)), vec![Line(L::OnHook), hangup(HangupReason::RemoteDisconnect(DisconnectMethod::Tone(tone)))]);
        let mut cfg = FxoConfig::default();
        cfg.disconnect.busy = false;
        cfg.disconnect.reorder = false;
        cfg.disconnect.dial_tone = false;
        let mut h = H::new(cfg);
        h.connected_outgoing();
        assert_eq!(h.input(5000, I::ToneDetected(tone)), vec![]);
    }
}

#[test]
fn digits_while_connected_are_reported() {
    let mut h = H::new(FxoConfig::default());
    h.connected_outgoing();
    assert_eq!(h.input(5000, I::Digit('5')), vec![Call(E::Digit('5'))]);
}

#[test]
fn flash_command_while_connected() {
    let mut h = H::new(FxoConfig::default());
    h.connected_outgoing();
    assert_eq!(h.cmd(5000, Command::Flash), vec![Line(L::Flash)]);
    let mut idle = H::new(FxoConfig::default());
    assert!(idle.port.handle_command(Command::Flash, idle.t(0)).is_err());
    assert_eq!(idle.drain(), vec![]);
}

#[test]
fn local_hangup_then_guard_then_idle() {
    let mut h = H::new(FxoConfig::default());
    h.connected_outgoing();
    assert_eq!(h.cmd(5000, Command::Hangup), vec![Line(L::OnHook)]);
    // Ringing during the guard time is ignored.
    assert_eq!(h.input(5100, I::RingBegin), vec![]);
    assert_eq!(h.port.poll_timeout(), Some(h.t(5500)));
    h.tick(5500);
    assert!(h.port.is_idle());
    // Hangup when idle is a no-op.
    assert_eq!(h.cmd(6000, Command::Hangup), vec![]);
}

#[test]
fn fxs_commands_are_unsupported() {
    let mut h = H::new(FxoConfig::default());
    let t = h.t(0);
    assert_eq!(h.port.handle_command(Command::Mwi(true), t), Err(Error::Unsupported("Mwi")));
    assert_eq!(h.port.handle_command(Command::Alert { caller_id: None, cadence: None }, t), Err(Error::Unsupported("Alert")));
}

#[test]
fn time_going_backwards_does_not_panic() {
    let mut h = H::new(FxoConfig::default());
    h.input(5000, I::RingBegin);
    h.input(0, I::RingEnd);
    h.tick(0);
    assert_eq!(h.state(), FxoState::Ringing);
}

#[test]
fn zero_length_timers_fire_within_the_same_call() {
    let mut h = H::new(FxoConfig { answer: AnswerSupervision::AfterTimeout(Duration::ZERO), ..FxoConfig::default() });
    h.cmd(0, Command::Dial("1".into()));
    h.input(100, I::ToneDetected(Tone::DialTone));
    assert_eq!(h.input(500, I::DialComplete), vec![Call(E::Progress(Progress::Proceeding)), Call(E::Answered)]);
}

#[test]
fn battery_restored_outside_ground_start_seizure_is_ignored() {
    let mut h = H::new(FxoConfig::default());
    h.cmd(0, Command::Dial("1".into()));
    assert_eq!(h.input(100, I::BatteryRestored), vec![]);
    assert_eq!(h.port.poll_timeout(), Some(h.t(3000)));
}

#[test]
fn a_bare_polarity_reversal_on_an_idle_line_is_forgotten_after_the_polarity_wait() {
    let mut p = FxoPort::new(FxoConfig::default());
    let t = Instant::now();
    p.handle_input(LineInput::Polarity, t);
    assert_eq!(p.state(), FxoState::Ringing);
    p.handle_timeout(t + Duration::from_millis(2900));
    assert_eq!(p.state(), FxoState::Ringing);
    p.handle_timeout(t + Duration::from_millis(3000));
    assert!(p.is_idle());
    assert_eq!(p.poll_output(), None, "nothing was presented, so nothing is reported");
    // Caller ID after the reversal keeps the call for the ring timeout.
    p.handle_input(LineInput::Polarity, t + Duration::from_secs(10));
    p.handle_input(LineInput::CallerId(cid("123")), t + Duration::from_secs(11));
    p.handle_timeout(t + Duration::from_secs(15));
    assert_eq!(p.state(), FxoState::Ringing);
}
