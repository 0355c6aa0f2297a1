use super::*;
use crate::{CallEvent as E, LineCommand as L, LineInput as I, Output::*};

struct H {
    port: FxsPort,
    base: Instant,
}

fn cid(n: &str) -> CallerIdInfo {
    CallerIdInfo { number: Some(n.into()), name: None, datetime: None, ..CallerIdInfo::default() }
}

impl H {
    fn new(config: FxsConfig) -> Self {
        H { port: FxsPort::new(config), base: Instant::now() }
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
    fn state(&self) -> FxsState {
        self.port.state()
    }
    fn dial(&mut self, start: u64, digits: &str) -> Vec<Output> {
        let mut v = Vec::new();
        for (i, ch) in digits.chars().enumerate() {
            v.extend(self.input(start + 100 * i as u64, I::Digit(ch)));
        }
        v
    }
    /// Off-hook, dial "123#" with the default plan, far end answers.
    fn connected(&mut self) {
        self.input(0, I::OffHook);
        self.dial(1000, "123#");
        self.cmd(2000, Command::Answer);
        self.drain();
        assert_eq!(self.state(), FxsState::Connected);
    }
}

fn plan(p: &[&str]) -> FxsConfig {
    FxsConfig { dial_plan: DialPlan::new(p).unwrap(), ..FxsConfig::default() }
}

fn dialed(n: &str) -> Output {
    Call(E::Dialed { number: n.into() })
}

// ---- outgoing: dial tone and digit collection ----

#[test]
fn idle_port_has_no_timer() {
    let h = H::new(FxsConfig::default());
    assert!(h.port.is_idle());
    assert_eq!(h.port.poll_timeout(), None);
}

#[test]
fn off_hook_gives_dial_tone() {
    let mut h = H::new(FxsConfig::default());
    assert_eq!(h.input(0, I::OffHook), vec![Line(L::PlayTone(Tone::DialTone))]);
    assert_eq!(h.state(), FxsState::Collecting);
    assert_eq!(h.port.poll_timeout(), Some(h.t(10_000)));
}

#[test]
fn off_hook_with_mwi_gives_stutter_dial_tone() {
    let mut h = H::new(FxsConfig::default());
    assert_eq!(h.cmd(0, Command::Mwi(true)), vec![Line(L::Vmwi(true))]);
    assert!(h.port.mwi());
    assert_eq!(h.input(10, I::OffHook), vec![Line(L::PlayTone(Tone::StutterDialTone))]);
}

#[test]
fn first_digit_stops_dial_tone() {
    let mut h = H::new(FxsConfig::default());
    h.input(0, I::OffHook);
    assert_eq!(h.input(500, I::Digit('5')), vec![Line(L::StopTone)]);
    assert_eq!(h.input(600, I::PulseDigit('6')), vec![]);
    assert_eq!(h.port.poll_timeout(), Some(h.t(4600)));
}

#[test]
fn first_digit_timeout_gives_reorder_lockout() {
    let mut h = H::new(FxsConfig::default());
    h.input(0, I::OffHook);
    assert_eq!(h.tick(9_999), vec![]);
    assert_eq!(h.tick(10_000), vec![Line(L::PlayTone(Tone::Reorder))]);
    assert_eq!(h.state(), FxsState::Lockout);
}

#[test]
fn reorder_gives_way_to_the_howler_then_silence_while_the_phone_stays_off_hook() {
    let mut h = H::new(FxsConfig::default());
    h.input(0, I::OffHook);
    h.tick(10_000);
    assert_eq!(h.port.poll_timeout(), Some(h.t(40_000)), "30 s of reorder");
    assert_eq!(h.tick(40_000), vec![Line(L::PlayTone(Tone::Howler))]);
    assert_eq!(h.port.poll_timeout(), Some(h.t(80_000)), "40 s of howler");
    assert_eq!(h.tick(80_000), vec![Line(L::StopTone)]);
    assert_eq!(h.port.poll_timeout(), None);
    assert_eq!(h.state(), FxsState::Lockout);
    h.input(90_000, I::OnHook);
    assert!(h.port.is_idle());
}

#[test]
fn no_howler_when_howler_after_is_zero() {
    let mut h = H::new(FxsConfig { howler_after: Duration::ZERO, ..FxsConfig::default() });
    h.input(0, I::OffHook);
    h.tick(10_000);
    assert_eq!(h.port.poll_timeout(), None);
}

#[test]
fn lockout_ends_on_hook() {
    let mut h = H::new(FxsConfig::default());
    h.input(0, I::OffHook);
    h.tick(10_000);
    assert_eq!(h.input(11_000, I::OnHook), vec![Line(L::StopTone)]);
    assert!(h.port.is_idle());
}

#[test]
fn complete_match_dials_immediately() {
    let mut h = H::new(plan(&["911", "1NXXNXXXXXX"]));
    h.input(0, I::OffHook);
    let out = h.dial(1000, "911");
    assert_eq!(out, vec![Line(L::StopTone), dialed("911")]);
    assert_eq!(h.state(), FxsState::Outgoing);
}

#[test]
fn nanp_number_dials_on_last_digit() {
    let mut h = H::new(plan(&["911", "1NXXNXXXXXX"]));
    h.input(0, I::OffHook);
    assert_eq!(h.dial(1000, "12125551234").last(), Some(&dialed("12125551234")));
}

#[test]
fn no_match_gives_reorder() {
    let mut h = H::new(plan(&["911"]));
    h.input(0, I::OffHook);
    assert_eq!(h.dial(1000, "8"), vec![Line(L::StopTone), Line(L::PlayTone(Tone::Reorder))]);
    assert_eq!(h.state(), FxsState::Lockout);
}

#[test]
fn ambiguous_match_dials_on_inter_digit_timeout() {
    let mut h = H::new(plan(&["XXX."]));
    h.input(0, I::OffHook);
    h.dial(1000, "5551");
    assert_eq!(h.tick(5_299), vec![]);
    assert_eq!(h.tick(5_300), vec![dialed("5551")]);
}

#[test]
fn partial_match_inter_digit_timeout_gives_reorder() {
    let mut h = H::new(plan(&["1NXXNXXXXXX"]));
    h.input(0, I::OffHook);
    h.dial(1000, "1212");
    assert_eq!(h.tick(5_300), vec![Line(L::PlayTone(Tone::Reorder))]);
    assert_eq!(h.state(), FxsState::Lockout);
}

#[test]
fn terminator_completes_a_matching_number() {
    let mut h = H::new(FxsConfig::default());
    h.input(0, I::OffHook);
    assert_eq!(h.dial(1000, "42#").last(), Some(&dialed("42")));
}

#[test]
fn terminator_on_partial_number_gives_reorder() {
    let mut h = H::new(plan(&["1NXXNXXXXXX"]));
    h.input(0, I::OffHook);
    assert_eq!(h.dial(1000, "12#").last(), Some(&Line(L::PlayTone(Tone::Reorder))));
}

#[test]
fn too_many_digits_gives_reorder() {
    let mut h = H::new(FxsConfig { max_digits: 3, ..FxsConfig::default() });
    h.input(0, I::OffHook);
    assert_eq!(h.dial(1000, "1234").last(), Some(&Line(L::PlayTone(Tone::Reorder))));
}

#[test]
fn on_hook_while_dialling_returns_to_idle_without_event() {
    let mut h = H::new(FxsConfig::default());
    h.input(0, I::OffHook);
    assert_eq!(h.input(500, I::OnHook), vec![Line(L::StopTone)]);
    assert!(h.port.is_idle());
    h.input(600, I::OffHook);
    h.dial(700, "1");
    assert_eq!(h.input(900, I::OnHook), vec![]);
    assert!(h.port.is_idle());
}

#[test]
fn hangup_command_while_dialling_is_rejected() {
    let mut h = H::new(FxsConfig::default());
    h.input(0, I::OffHook);
    assert!(matches!(h.port.handle_command(Command::Hangup, h.t(10)), Err(Error::InvalidState { command: "Hangup", state: "Collecting" })));
}

// ---- outgoing: answer, flash, hangup ----

#[test]
fn far_end_answer_connects() {
    let mut h = H::new(FxsConfig::default());
    h.input(0, I::OffHook);
    h.dial(1000, "1#");
    assert_eq!(h.cmd(2000, Command::Answer), vec![]);
    assert_eq!(h.state(), FxsState::Connected);
    assert_eq!(h.cmd(2100, Command::Answer), vec![]);
}

#[test]
fn far_end_answer_reverses_polarity_when_configured() {
    let mut h = H::new(FxsConfig { answer_polarity: true, ..FxsConfig::default() });
    h.input(0, I::OffHook);
    h.dial(1000, "1#");
    assert_eq!(h.cmd(2000, Command::Answer), vec![Line(L::Polarity(true))]);
    // Phone hangs up: polarity restored on return to idle.
    h.input(3000, I::OnHook);
    assert_eq!(h.tick(3700), vec![Call(E::Hangup { reason: HangupReason::Normal }), Line(L::Polarity(false))]);
}

#[test]
fn answer_when_not_outgoing_is_rejected() {
    let mut h = H::new(FxsConfig::default());
    assert!(h.port.handle_command(Command::Answer, h.t(0)).is_err());
}

#[test]
fn phone_on_hook_during_call_is_hangup_after_flash_window() {
    let mut h = H::new(FxsConfig::default());
    h.connected();
    assert_eq!(h.input(5000, I::OnHook), vec![]);
    assert_eq!(h.port.poll_timeout(), Some(h.t(5700)));
    assert_eq!(h.tick(5700), vec![Call(E::Hangup { reason: HangupReason::Normal })]);
    assert!(h.port.is_idle());
}

#[test]
fn phone_on_hook_before_answer_is_hangup() {
    let mut h = H::new(FxsConfig::default());
    h.input(0, I::OffHook);
    h.dial(1000, "1#");
    h.input(2000, I::OnHook);
    assert_eq!(h.tick(2700), vec![Call(E::Hangup { reason: HangupReason::Normal })]);
}

#[test]
fn short_on_hook_is_a_flash() {
    let mut h = H::new(FxsConfig::default());
    h.connected();
    h.input(5000, I::OnHook);
    assert_eq!(h.input(5300, I::OffHook), vec![Call(E::Flash)]);
    assert_eq!(h.state(), FxsState::Connected);
    assert_eq!(h.port.poll_timeout(), None);
}

#[test]
fn very_short_on_hook_is_a_bounce() {
    let mut h = H::new(FxsConfig::default());
    h.connected();
    h.input(5000, I::OnHook);
    assert_eq!(h.input(5030, I::OffHook), vec![]);
    assert_eq!(h.state(), FxsState::Connected);
}

#[test]
fn wink_flash_input_is_a_flash() {
    let mut h = H::new(FxsConfig::default());
    h.connected();
    assert_eq!(h.input(5000, I::WinkFlash), vec![Call(E::Flash)]);
}

#[test]
fn digits_during_call_are_reported() {
    let mut h = H::new(FxsConfig::default());
    h.connected();
    assert_eq!(h.input(5000, I::Digit('7')), vec![Call(E::Digit('7'))]);
}

#[test]
fn far_end_hangup_open_loop_then_reorder() {
    let mut h = H::new(FxsConfig::default());
    h.connected();
    assert_eq!(h.cmd(5000, Command::Hangup), vec![Line(L::Battery(false))]);
    assert_eq!(h.state(), FxsState::Disconnecting);
    assert_eq!(h.tick(5750), vec![Line(L::Battery(true)), Line(L::PlayTone(Tone::Reorder))]);
    assert_eq!(h.state(), FxsState::Lockout);
    assert_eq!(h.input(9000, I::OnHook), vec![Line(L::StopTone)]);
    assert!(h.port.is_idle());
}

#[test]
fn phone_hangs_up_during_open_loop_disconnect() {
    let mut h = H::new(FxsConfig::default());
    h.connected();
    h.cmd(5000, Command::Hangup);
    h.input(5100, I::OnHook);
    assert_eq!(h.tick(5750), vec![Line(L::Battery(true))]);
    assert!(h.port.is_idle());
}

#[test]
fn far_end_hangup_by_polarity_reversal_only() {
    let mut h = H::new(FxsConfig { hangup: HangupSignalling { polarity_reversal: true, open_loop: None }, ..FxsConfig::default() });
    h.connected();
    assert_eq!(h.cmd(5000, Command::Hangup), vec![Line(L::Polarity(true)), Line(L::PlayTone(Tone::Reorder))]);
    assert_eq!(h.input(6000, I::OnHook), vec![Line(L::StopTone), Line(L::Polarity(false))]);
}

#[test]
fn far_end_hangup_restores_answer_polarity() {
    let mut h = H::new(FxsConfig { answer_polarity: true, hangup: HangupSignalling { polarity_reversal: false, open_loop: None }, ..FxsConfig::default() });
    h.input(0, I::OffHook);
    h.dial(1000, "1#");
    h.cmd(2000, Command::Answer);
    assert_eq!(h.cmd(3000, Command::Hangup)[0], Line(L::Polarity(false)));
}

#[test]
fn far_end_hangup_during_flash_window_just_idles() {
    let mut h = H::new(FxsConfig::default());
    h.connected();
    h.input(5000, I::OnHook);
    assert_eq!(h.cmd(5100, Command::Hangup), vec![]);
    assert!(h.port.is_idle());
}

// ---- incoming ----

#[test]
fn alert_rings_with_cadence() {
    let mut h = H::new(FxsConfig::default());
    assert_eq!(h.cmd(0, Command::Alert { caller_id: None, cadence: None }), vec![Line(L::Ring)]);
    assert_eq!(h.state(), FxsState::Alerting);
    assert_eq!(h.tick(2000), vec![Line(L::RingOff)]);
    assert_eq!(h.tick(5999), vec![]);
    assert_eq!(h.tick(6000), vec![Line(L::Ring)]);
}

#[test]
fn alert_uses_given_cadence() {
    let mut h = H::new(FxsConfig::default());
    let cadence = Cadence { on: Duration::from_millis(400), off: Duration::from_millis(200) };
    h.cmd(0, Command::Alert { caller_id: None, cadence: Some(cadence) });
    assert_eq!(h.tick(400), vec![Line(L::RingOff)]);
    assert_eq!(h.tick(600), vec![Line(L::Ring)]);
}

#[test]
fn alert_pattern_rings_every_phase_in_turn_and_repeats() {
    let mut h = H::new(FxsConfig::default());
    let ms = Duration::from_millis;
    let dr2 = vec![Cadence { on: ms(800), off: ms(400) }, Cadence { on: ms(800), off: ms(4000) }];
    assert_eq!(h.cmd(0, Command::AlertPattern { caller_id: None, pattern: dr2, repeat: true }), vec![Line(L::Ring)]);
    assert_eq!(h.tick(800), vec![Line(L::RingOff)]);
    assert_eq!(h.tick(1200), vec![Line(L::Ring)]);
    assert_eq!(h.tick(2000), vec![Line(L::RingOff)]);
    assert_eq!(h.tick(5999), vec![]);
    assert_eq!(h.tick(6000), vec![Line(L::Ring)]);
    assert_eq!(h.tick(6800), vec![Line(L::RingOff)]);
    assert_eq!(h.tick(7200), vec![Line(L::Ring)]);
}

#[test]
fn alert_pattern_once_rings_one_burst_then_stays_silent_until_cleared() {
    let mut h = H::new(FxsConfig::default());
    let once = vec![Cadence { on: Duration::from_millis(500), off: Duration::from_millis(4000) }];
    assert_eq!(h.cmd(0, Command::AlertPattern { caller_id: None, pattern: once, repeat: false }), vec![Line(L::Ring)]);
    assert_eq!(h.tick(500), vec![Line(L::RingOff)]);
    assert_eq!(h.tick(4500), vec![]);
    assert_eq!(h.tick(20_000), vec![]);
    assert_eq!(h.state(), FxsState::Alerting);
}

#[test]
fn caller_id_with_an_alert_pattern_waits_for_the_long_silence() {
    let mut h = H::new(FxsConfig::default());
    let ms = Duration::from_millis;
    let dr2 = vec![Cadence { on: ms(800), off: ms(400) }, Cadence { on: ms(800), off: ms(4000) }];
    h.cmd(0, Command::AlertPattern { caller_id: Some(cid("1")), pattern: dr2, repeat: true });
    assert_eq!(h.tick(800), vec![Line(L::RingOff)]);
    assert_eq!(h.tick(1200), vec![Line(L::Ring)]);
    assert_eq!(h.tick(2000), vec![Line(L::RingOff)]);
    assert_eq!(h.tick(2500), vec![Line(L::SendCallerId(cid("1"), CallerIdWhen::AfterFirstRing))]);
}

#[test]
fn caller_id_after_first_ring() {
    let mut h = H::new(FxsConfig::default());
    h.cmd(0, Command::Alert { caller_id: Some(cid("1")), cadence: None });
    assert_eq!(h.tick(2000), vec![Line(L::RingOff)]);
    assert_eq!(h.tick(2500), vec![Line(L::SendCallerId(cid("1"), CallerIdWhen::AfterFirstRing))]);
    assert_eq!(h.tick(6000), vec![Line(L::Ring)]);
    // Sent only once.
    assert_eq!(h.tick(8500), vec![Line(L::RingOff)]);
    assert_eq!(h.tick(9000), vec![]);
}

#[test]
fn caller_id_before_first_ring() {
    let mut h = H::new(FxsConfig { caller_id: CallerIdTiming::BeforeFirstRing, ..FxsConfig::default() });
    assert_eq!(h.cmd(0, Command::Alert { caller_id: Some(cid("2")), cadence: None }), vec![Line(L::SendCallerId(cid("2"), CallerIdWhen::BeforeFirstRing))]);
    assert_eq!(h.tick(1999), vec![]);
    assert_eq!(h.tick(2000), vec![Line(L::Ring)]);
}

#[test]
fn caller_id_off_is_not_sent() {
    let mut h = H::new(FxsConfig { caller_id: CallerIdTiming::Off, ..FxsConfig::default() });
    h.cmd(0, Command::Alert { caller_id: Some(cid("3")), cadence: None });
    assert_eq!(h.tick(2000), vec![Line(L::RingOff)]);
    assert_eq!(h.tick(5999), vec![]);
}

#[test]
fn off_hook_while_ringing_answers() {
    let mut h = H::new(FxsConfig::default());
    h.cmd(0, Command::Alert { caller_id: None, cadence: None });
    assert_eq!(h.input(1000, I::OffHook), vec![Line(L::RingOff), Call(E::Answered)]);
    assert_eq!(h.state(), FxsState::Connected);
}

#[test]
fn off_hook_between_rings_answers() {
    let mut h = H::new(FxsConfig::default());
    h.cmd(0, Command::Alert { caller_id: None, cadence: None });
    h.tick(2000);
    assert_eq!(h.input(3000, I::OffHook), vec![Call(E::Answered)]);
}

#[test]
fn caller_cancels_alerting() {
    let mut h = H::new(FxsConfig::default());
    h.cmd(0, Command::Alert { caller_id: None, cadence: None });
    assert_eq!(h.cmd(1000, Command::Hangup), vec![Line(L::RingOff)]);
    assert!(h.port.is_idle());
    assert_eq!(h.port.poll_timeout(), None);
}

#[test]
fn alert_when_busy_is_rejected() {
    let mut h = H::new(FxsConfig::default());
    h.input(0, I::OffHook);
    assert!(matches!(h.port.handle_command(Command::Alert { caller_id: None, cadence: None }, h.t(10)), Err(Error::InvalidState { command: "Alert", .. })));
}

#[test]
fn mwi_change_while_busy_is_sent_when_idle() {
    let mut h = H::new(FxsConfig::default());
    h.input(0, I::OffHook);
    assert_eq!(h.cmd(10, Command::Mwi(true)), vec![]);
    assert_eq!(h.input(20, I::OnHook), vec![Line(L::StopTone), Line(L::Vmwi(true))]);
}

#[test]
fn fxo_commands_are_unsupported() {
    let mut h = H::new(FxsConfig::default());
    let t = h.t(0);
    assert_eq!(h.port.handle_command(Command::Dial("1".into()), t), Err(Error::Unsupported("Dial")));
    assert_eq!(h.port.handle_command(Command::Flash, t), Err(Error::Unsupported("Flash")));
    assert_eq!(h.port.config().hookflash_max, Duration::from_millis(700));
}

#[test]
fn phone_back_off_hook_during_open_loop_disconnect_gets_reorder() {
    let mut h = H::new(FxsConfig::default());
    h.connected();
    h.cmd(5000, Command::Hangup);
    h.input(5100, I::OnHook);
    h.input(5200, I::OffHook);
    assert_eq!(h.tick(5750), vec![Line(L::Battery(true)), Line(L::PlayTone(Tone::Reorder))]);
    assert_eq!(h.state(), FxsState::Lockout);
}

#[test]
fn zero_cadence_is_raised_to_min_phase() {
    let mut h = H::new(FxsConfig::default());
    let cadence = Cadence { on: Duration::ZERO, off: Duration::ZERO };
    h.cmd(0, Command::Alert { caller_id: None, cadence: Some(cadence) });
    assert_eq!(h.port.poll_timeout(), Some(h.t(0) + MIN_PHASE));
}

// ---- call waiting, hold and transfer ----

#[test]
fn call_waiting_plays_the_tone_then_cas_and_sends_caller_id_after_the_ack() {
    let mut h = H::new(FxsConfig::default());
    h.connected();
    h.port.call_waiting(Some(cid("5551234")), h.t(3000)).expect("call waiting accepted");
    assert_eq!(h.drain(), vec![Call(E::Mute(true)), Line(L::PlayTone(Tone::CallWaiting))]);
    assert_eq!(h.tick(3299), vec![]);
    assert_eq!(h.tick(3300), vec![Line(L::StopTone), Line(L::SendCas)]);
    assert_eq!(h.tick(3400), vec![], "the ACK window runs from the end of the CAS");
    assert_eq!(h.input(3430, I::Digit('D')), vec![]);
    assert_eq!(h.tick(3530), vec![Line(L::SendCallerId(cid("5551234"), CallerIdWhen::CallWaiting))]);
    assert!(h.port.call_waiting_alert());
    let out = h.tick(5000);
    assert_eq!(out, vec![Call(E::Mute(false))]);
    assert!(!h.port.call_waiting_alert());
    assert_eq!(h.port.poll_timeout(), None);
}

#[test]
fn call_waiting_without_an_ack_sends_no_caller_id() {
    let mut h = H::new(FxsConfig::default());
    h.connected();
    h.port.call_waiting(Some(cid("5551234")), h.t(3000)).expect("accepted");
    h.drain();
    h.tick(3300);
    // The window closes 160 ms after the CAS ends (3380 ms): a late ACK is a digit.
    assert_eq!(h.tick(3540), vec![Call(E::Mute(false))]);
    assert_eq!(h.input(3600, I::Digit('D')), vec![Call(E::Digit('D'))]);
}

#[test]
fn call_waiting_with_cidcw_off_plays_only_the_tone() {
    let mut h = H::new(FxsConfig { cidcw: false, ..FxsConfig::default() });
    h.connected();
    h.port.call_waiting(Some(cid("5551234")), h.t(3000)).expect("accepted");
    h.drain();
    assert_eq!(h.tick(3300), vec![Line(L::StopTone), Call(E::Mute(false))]);
}

#[test]
fn call_waiting_is_refused_unless_a_call_is_up() {
    let mut h = H::new(FxsConfig::default());
    assert!(h.port.call_waiting(None, h.t(0)).is_err());
    h.connected();
    h.port.call_waiting(None, h.t(3000)).expect("accepted");
    assert!(h.port.call_waiting(None, h.t(3010)).is_err(), "a second alert while one runs");
}

#[test]
fn a_flash_during_the_call_waiting_alert_ends_it_and_is_reported() {
    let mut h = H::new(FxsConfig::default());
    h.connected();
    h.port.call_waiting(Some(cid("5551234")), h.t(3000)).expect("accepted");
    h.drain();
    assert_eq!(h.input(3100, I::WinkFlash), vec![Call(E::Flash), Line(L::StopTone), Call(E::Mute(false))]);
    assert_eq!(h.port.poll_timeout(), None);
}

#[test]
fn stopping_call_waiting_stops_the_tone_and_gives_the_audio_back() {
    let mut h = H::new(FxsConfig::default());
    h.connected();
    h.port.call_waiting(None, h.t(3000)).expect("accepted");
    h.drain();
    h.port.stop_call_waiting(h.t(3100));
    assert_eq!(h.drain(), vec![Line(L::StopTone), Call(E::Mute(false))]);
}

#[test]
fn hold_gives_recall_dial_tone_collects_digits_and_resume_ends_it() {
    let mut h = H::new(FxsConfig::default());
    h.connected();
    h.port.hold(h.t(3000)).expect("hold");
    assert_eq!(h.drain(), vec![Line(L::PlayTone(Tone::StutterDialTone))]);
    assert!(h.port.on_hold());
    assert_eq!(h.input(3500, I::Digit('5')), vec![Line(L::StopTone)], "the first digit stops the tone and is not passed on");
    assert_eq!(h.input(3600, I::Digit('6')), vec![]);
    h.port.resume(h.t(4000));
    assert!(!h.port.on_hold());
    assert_eq!(h.input(4100, I::Digit('7')), vec![Call(E::Digit('7'))]);
}

#[test]
fn hanging_up_on_hold_after_dialling_is_a_transfer_to_the_digits() {
    let mut h = H::new(FxsConfig::default());
    h.connected();
    h.port.hold(h.t(3000)).expect("hold");
    h.dial(3500, "2125550123");
    h.drain();
    h.input(6000, I::OnHook);
    let out = h.tick(7000);
    assert_eq!(out, vec![Call(E::Transfer { number: "2125550123".into() })]);
    assert!(h.port.is_idle());
}

#[test]
fn hanging_up_on_hold_without_digits_is_a_hangup() {
    let mut h = H::new(FxsConfig::default());
    h.connected();
    h.port.hold(h.t(3000)).expect("hold");
    h.drain();
    h.input(3500, I::OnHook);
    let out = h.tick(4500);
    assert!(out.contains(&Call(E::Hangup { reason: HangupReason::Normal })), "{out:?}");
}

#[test]
fn far_end_hangup_on_hold_stops_the_recall_tone() {
    let mut h = H::new(FxsConfig::default());
    h.connected();
    h.port.hold(h.t(3000)).expect("hold");
    h.drain();
    let out = h.cmd(3500, Command::Hangup);
    assert_eq!(out[0], Line(L::StopTone), "{out:?}");
    assert!(!h.port.on_hold());
}

// ---- refusal of a dialled call ----

#[test]
fn a_dialled_call_refused_before_answer_plays_the_refusal_tone_until_on_hook() {
    for tone in [Tone::Busy, Tone::Sit, Tone::Reorder] {
        let mut h = H::new(plan(&["911"]));
        h.input(0, I::OffHook);
        h.dial(1000, "911");
        h.port.refuse(tone, h.t(1500)).expect("refusal accepted");
        // The tone, and no disconnect signal (battery stays, polarity unchanged).
        assert_eq!(h.drain(), vec![Line(L::PlayTone(tone))], "{tone:?}");
        assert_eq!(h.state(), FxsState::Lockout);
        assert_eq!(h.input(9000, I::OnHook), vec![Line(L::StopTone)]);
        assert!(h.port.is_idle());
    }
}

#[test]
fn refusal_is_only_for_a_dialled_call_not_yet_answered() {
    let mut h = H::new(FxsConfig::default());
    assert!(h.port.refuse(Tone::Busy, h.t(0)).is_err(), "idle");
    h.connected();
    assert!(h.port.refuse(Tone::Busy, h.t(3000)).is_err(), "answered");
    assert_eq!(h.state(), FxsState::Connected);
}

#[test]
fn a_dialled_call_that_rings_plays_ringback_until_answer() {
    let t0 = Instant::now();
    let mut p = FxsPort::new(plan(&["NXX"]));
    p.handle_input(LineInput::OffHook, t0);
    for d in "555".chars() {
        p.handle_input(LineInput::Digit(d), t0);
    }
    let _: Vec<Output> = std::iter::from_fn(|| p.poll_output()).collect();
    p.ringback(true, t0).expect("ringback while the call is outgoing");
    assert_eq!(p.poll_output(), Some(Output::Line(LineCommand::PlayTone(Tone::Ringback))));
    p.handle_command(Command::Answer, t0).expect("answer");
    assert_eq!(p.poll_output(), Some(Output::Line(LineCommand::StopTone)), "answer stops the ringback");
    assert!(p.ringback(true, t0).is_err(), "no ringback once answered");
}
