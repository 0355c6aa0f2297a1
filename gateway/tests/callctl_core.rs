//! Call control as a pure function of (leg events, now): routing,
//! progress, media, release, failover, redirects, timers, overlap, drain,
//! limits and CDRs.

use std::net::SocketAddr;
use std::time::{Duration, Instant, UNIX_EPOCH};

use tandem_gateway::call::control::{CallControl, CallControlConfig, MAX_REDIRECTS, MediaCommand, Origin, Output};
use tandem_gateway::call::*;
use tandem_gateway::cdr::CdrRecord;
use tandem_gateway::route::{Route, RouteFrom, Router};

const WALL0: u64 = 1_714_564_800; // 2024-05-01T12:00:00Z

struct H {
    cc: CallControl,
    t0: Instant,
}

fn sip(trunk: &str) -> Target {
    Target::Sip { trunk: trunk.into(), uri: None }
}

fn router() -> Router {
    let mut did = Route::new("did", RouteFrom::Tdm(vec![]), &["5551XXX", "9."], vec![sip("a"), sip("b"), sip("c")]).unwrap();
    did.translate_called.strip = 3;
    did.translate_calling.prepend = "+1".into();
    let out = Route::new("out", RouteFrom::Sip(vec![]), &["NXXXXXX"], vec![Target::Tdm { group: "pstn".into() }]).unwrap();
    Router::new(vec![did, out])
}

impl H {
    fn new() -> H {
        H::with(|_| {})
    }

    fn with(f: impl FnOnce(&mut CallControlConfig)) -> H {
        let t0 = Instant::now();
        let mut cfg = CallControlConfig::new(router(), (t0, UNIX_EPOCH + Duration::from_secs(WALL0)));
        f(&mut cfg);
        H { cc: CallControl::new(cfg, CallIds::new(WALL0)), t0 }
    }

    fn at(&self, ms: u64) -> Instant {
        self.t0 + Duration::from_millis(ms)
    }

    fn out(&mut self) -> Vec<Output> {
        std::iter::from_fn(|| self.cc.poll_output()).collect()
    }

    fn tdm_call(&mut self, called: &str, complete: bool, ms: u64) -> LegRef {
        let setup =
            Setup { called: called.into(), complete, calling: Some(Party { name: Some("Alice".into()), ..Party::number("2125550100") }), ..Setup::default() };
        self.cc.incoming(Origin::Tdm { interface: "pri1".into() }, setup, self.at(ms))
    }

    fn ev(&mut self, leg: LegRef, ev: LegEvent, ms: u64) -> Vec<Output> {
        self.cc.handle(leg, ev, self.at(ms));
        self.out()
    }

    fn tick(&mut self, ms: u64) -> Vec<Output> {
        self.cc.handle_timeout(self.at(ms));
        self.out()
    }

    /// A TDM→SIP call routed, ringing and answered at 2 s, media up.
    fn answered_call(&mut self) -> (LegRef, LegRef) {
        let inb = self.tdm_call("5551234", true, 0);
        let o = self.out();
        let out = originate_leg(&o);
        self.ev(out, LegEvent::Proceeding, 100);
        self.ev(out, LegEvent::Alerting { inband: false }, 500);
        self.ev(inb, LegEvent::Media(tdm(5)), 10);
        self.ev(out, LegEvent::Media(MediaEndpoint::Rtp(rtp(1, None))), 600);
        self.ev(out, LegEvent::Answered { connected: None }, 2_000);
        (inb, out)
    }
}

fn tdm(channo: u32) -> MediaEndpoint {
    MediaEndpoint::Tdm { channo, law: Law::Ulaw }
}

fn rtp(stream: u64, remote: Option<&str>) -> RtpParams {
    RtpParams {
        stream,
        local: "127.0.0.1:10000".parse().unwrap(),
        remote: remote.map(|r| r.parse::<SocketAddr>().unwrap()),
        codec: Codec::Pcmu,
        payload_type: 0,
        ptime_ms: 20,
        dtmf_payload_type: Some(101),
        direction: Direction::SendRecv,
        symmetric: false,
    }
}

fn rel(cause: u8) -> LegEvent {
    LegEvent::Released(Release { cause: Cause(cause), wire: None })
}

fn cmd(leg: LegRef, c: LegCommand) -> Output {
    Output::Command(leg, c)
}

fn release(leg: LegRef, cause: u8) -> Output {
    cmd(leg, LegCommand::Release(Release::cause(Cause(cause))))
}

/// The first Originate in `o`: its leg, target and setup.
fn originate(o: &[Output]) -> Option<(LegRef, Target, Setup)> {
    o.iter().find_map(|o| match o {
        Output::Originate { leg, target, setup } => Some((*leg, target.clone(), setup.clone())),
        _ => None,
    })
}

fn originate_leg(o: &[Output]) -> LegRef {
    originate(o).unwrap_or_else(|| panic!("no Originate in {o:?}")).0
}

fn cdrs(o: &[Output]) -> Vec<CdrRecord> {
    o.iter()
        .filter_map(|o| match o {
            Output::Cdr(c) => Some((**c).clone()),
            _ => None,
        })
        .collect()
}

fn one_cdr(o: &[Output]) -> CdrRecord {
    let c = cdrs(o);
    assert_eq!(c.len(), 1, "{o:?}");
    c.into_iter().next().unwrap()
}

#[test]
fn tdm_to_sip_call_is_routed_translated_answered_and_cleared_by_the_caller() {
    let mut h = H::new();
    let inb = h.tdm_call("5551234", true, 0);
    assert_eq!(inb.side, LegSide::Inbound);
    let o = h.out();
    let out = LegRef::outbound(inb.call, 1);
    let expected_setup = Setup {
        called: "1234".into(),
        complete: true,
        calling: Some(Party { name: Some("Alice".into()), ..Party::number("+12125550100") }),
        ..Setup::default()
    };
    assert_eq!(o, vec![cmd(inb, LegCommand::Proceeding), Output::Originate { leg: out, target: sip("a"), setup: expected_setup }]);

    assert_eq!(h.ev(out, LegEvent::Proceeding, 100), vec![], "Proceeding goes to the caller once");
    assert_eq!(h.ev(out, LegEvent::Alerting { inband: true }, 500), vec![cmd(inb, LegCommand::Alerting { inband: true })]);
    assert_eq!(h.ev(inb, LegEvent::Media(tdm(5)), 10), vec![]);
    let r = rtp(1, Some("127.0.0.2:20000"));
    assert_eq!(
        h.ev(out, LegEvent::Media(MediaEndpoint::Rtp(r.clone())), 600),
        vec![Output::Media(MediaCommand::Connect { call: inb.call, tdm_channo: 5, tdm_law: Law::Ulaw, rtp: r })],
        "early media connects as soon as both ends are known"
    );
    let connected = Some(Party::number("1234"));
    assert_eq!(h.ev(out, LegEvent::Answered { connected: connected.clone() }, 2_000), vec![cmd(inb, LegCommand::Answer { connected })]);
    h.ev(inb, LegEvent::Identity(LegIdentity { interface: "pri1".into(), span: Some(1), channel: Some(5), sip_call_id: None }), 2_001);
    h.ev(out, LegEvent::Identity(LegIdentity { interface: "a".into(), sip_call_id: Some("abc@127.0.0.1".into()), ..LegIdentity::default() }), 2_001);
    assert_eq!(h.cc.active_calls(), 1);

    let o = h.ev(inb, LegEvent::Released(Release { cause: Cause(16), wire: Some("DISCONNECT cause 16".into()) }), 62_500);
    assert_eq!(o, vec![Output::Media(MediaCommand::Disconnect { call: inb.call }), release(out, 16)]);
    assert!(!h.cc.is_idle(), "the call waits for the outbound leg's Released");

    let c = one_cdr(&h.ev(out, LegEvent::Released(Release { cause: Cause(16), wire: Some("200 OK (BYE)".into()) }), 62_600));
    assert!(h.cc.is_idle());
    assert_eq!(c.call_id, inb.call.to_string());
    assert_eq!(c.direction, "tdm-to-sip");
    assert_eq!(c.start, "2024-05-01T12:00:00.000Z");
    assert_eq!(c.answer.as_deref(), Some("2024-05-01T12:00:02.000Z"));
    assert_eq!(c.end, "2024-05-01T12:01:02.500Z");
    assert_eq!(c.duration_s, 60.5);
    assert_eq!(c.setup_s, 2.0);
    assert_eq!(c.pdd_s, Some(0.5));
    assert_eq!(c.released_by, "inbound");
    assert_eq!(c.cause, 16);
    assert_eq!(c.calling.as_deref(), Some("2125550100"));
    assert_eq!(c.calling_out.as_deref(), Some("+12125550100"));
    assert_eq!(c.calling_name.as_deref(), Some("Alice"));
    assert_eq!(c.called, "5551234");
    assert_eq!(c.called_out.as_deref(), Some("1234"));
    assert_eq!(c.route.as_deref(), Some("did"));
    assert_eq!(c.attempts, 1);
    assert_eq!((c.inbound.kind, c.inbound.interface.as_str(), c.inbound.span, c.inbound.channel), ("tdm", "pri1", Some(1), Some(5)));
    assert_eq!(c.inbound.wire.as_deref(), Some("DISCONNECT cause 16"));
    let v: serde_json::Value = serde_json::from_str(&c.to_json()).unwrap();
    assert_eq!(v["outbound"]["sip_call_id"], "abc@127.0.0.1");
    assert_eq!(v["duration_s"], 60.5);
    assert_eq!(v["redirecting"], serde_json::Value::Null);
    let ob = c.outbound.unwrap();
    assert_eq!((ob.kind, ob.interface.as_str(), ob.sip_call_id.as_deref(), ob.cause), ("sip", "a", Some("abc@127.0.0.1"), Some(16)));
    assert_eq!(ob.target.as_deref(), Some("a"));
}

#[test]
fn the_called_party_hanging_up_clears_the_caller_with_the_same_cause() {
    let mut h = H::new();
    let (inb, out) = h.answered_call();
    h.out();
    let o = h.ev(out, rel(16), 30_000);
    assert_eq!(o, vec![Output::Media(MediaCommand::Disconnect { call: inb.call }), release(inb, 16)]);
    let c = one_cdr(&h.ev(inb, rel(16), 30_050));
    assert_eq!(c.released_by, "outbound");
    assert_eq!(c.duration_s, 28.0);
    assert_eq!(c.end, "2024-05-01T12:00:30.000Z", "the end is the first release");
}

#[test]
fn sip_to_tdm_call_goes_to_the_span_group() {
    let mut h = H::new();
    let setup = Setup { called: "5552000".into(), complete: false, ..Setup::default() };
    let inb = h.cc.incoming(Origin::Sip { trunk: "pbx".into() }, setup, h.at(0));
    let o = h.out();
    let out = originate_leg(&o);
    assert!(matches!(&o[1], Output::Originate { target: Target::Tdm { group }, setup, .. } if group == "pstn" && setup.called == "5552000" && setup.complete));
    h.ev(inb, LegEvent::Media(MediaEndpoint::Rtp(rtp(7, Some("127.0.0.3:4000")))), 1);
    let o = h.ev(out, LegEvent::Media(tdm(30)), 50);
    assert!(matches!(&o[..], [Output::Media(MediaCommand::Connect { tdm_channo: 30, .. })]), "{o:?}");
    assert_eq!(h.ev(out, LegEvent::Answered { connected: None }, 3_000), vec![cmd(inb, LegCommand::Answer { connected: None })]);
    h.ev(inb, rel(16), 5_000);
    let c = one_cdr(&h.ev(out, rel(16), 5_010));
    assert_eq!(c.direction, "sip-to-tdm");
    assert_eq!((c.inbound.kind, c.inbound.interface.as_str()), ("sip", "pbx"));
    assert_eq!(c.outbound.unwrap().target.as_deref(), Some("pstn"));
}

#[test]
fn busy_is_passed_back_without_failover() {
    let mut h = H::new();
    let inb = h.tdm_call("5551234", true, 0);
    let out = originate_leg(&h.out());
    let o = h.ev(out, LegEvent::Released(Release { cause: Cause::USER_BUSY, wire: Some("486 Busy Here".into()) }), 300);
    assert_eq!(o, vec![release(inb, 17)]);
    let c = one_cdr(&h.ev(inb, rel(17), 310));
    assert_eq!((c.released_by, c.cause, c.attempts), ("outbound", 17, 1));
    assert_eq!(c.answer, None);
    assert_eq!(c.duration_s, 0.0);
    assert_eq!(c.outbound.unwrap().wire.as_deref(), Some("486 Busy Here"));
}

#[test]
fn the_no_answer_timer_clears_both_legs_with_cause_19() {
    let mut h = H::new();
    let inb = h.tdm_call("5551234", true, 0);
    let out = originate_leg(&h.out());
    h.ev(out, LegEvent::Alerting { inband: false }, 1_000);
    assert_eq!(h.cc.poll_timeout(), Some(h.at(180_000)));
    assert_eq!(h.tick(179_999), vec![]);
    assert_eq!(h.tick(180_000), vec![release(out, 19), release(inb, 19)]);
    h.ev(out, rel(19), 180_010);
    let c = one_cdr(&h.ev(inb, rel(19), 180_020));
    assert_eq!((c.released_by, c.cause), ("gateway", 19));
    assert_eq!(c.setup_s, 180.0);
}

#[test]
fn the_caller_hanging_up_before_answer_cancels_the_outbound_leg() {
    let mut h = H::new();
    let inb = h.tdm_call("5551234", true, 0);
    let out = originate_leg(&h.out());
    h.ev(out, LegEvent::Alerting { inband: false }, 1_000);
    assert_eq!(h.ev(inb, rel(16), 4_000), vec![release(out, 16)]);
    assert_eq!(h.ev(out, LegEvent::Answered { connected: None }, 4_001), vec![], "a late answer is not passed to a gone caller");
    let c = one_cdr(&h.ev(out, LegEvent::Released(Release { cause: Cause(16), wire: Some("487 Request Terminated".into()) }), 4_050));
    assert_eq!((c.released_by, c.answer.as_deref()), ("inbound", None));
    assert_eq!(h.cc.poll_timeout(), None);
}

#[test]
fn a_503_fails_over_to_the_next_trunk_and_stale_events_are_ignored() {
    let mut h = H::new();
    let inb = h.tdm_call("5551234", true, 0);
    let out1 = originate_leg(&h.out());
    h.ev(out1, LegEvent::Progress { inband: true }, 200);
    h.ev(inb, LegEvent::Media(tdm(5)), 10);
    h.ev(out1, LegEvent::Media(MediaEndpoint::Rtp(rtp(1, None))), 210);
    // 503 maps to 41: fail over; the early media of the failed attempt stops.
    let o = h.ev(out1, LegEvent::Released(Release { cause: Cause::TEMPORARY_FAILURE, wire: Some("503 Service Unavailable".into()) }), 300);
    let out2 = LegRef::outbound(inb.call, 2);
    assert_eq!(o.len(), 2, "{o:?}");
    assert_eq!(o[0], Output::Media(MediaCommand::Disconnect { call: inb.call }));
    assert!(matches!(&o[1], Output::Originate { leg, target, .. } if *leg == out2 && *target == sip("b")));
    assert_ne!(out1, out2);
    assert_eq!(out2.to_string(), format!("{}/out2", inb.call));

    // Late events from attempt 1 change nothing.
    assert_eq!(h.ev(out1, LegEvent::Alerting { inband: false }, 310), vec![]);
    assert_eq!(h.ev(out1, LegEvent::Answered { connected: None }, 320), vec![]);
    assert_eq!(h.ev(out1, rel(16), 330), vec![]);

    assert_eq!(h.ev(out2, LegEvent::Alerting { inband: false }, 400), vec![cmd(inb, LegCommand::Alerting { inband: false })]);
    let o = h.ev(out2, LegEvent::Media(MediaEndpoint::Rtp(rtp(2, None))), 410);
    assert!(matches!(&o[..], [Output::Media(MediaCommand::Connect { rtp, .. })] if rtp.stream == 2), "{o:?}");
    assert_eq!(h.ev(out2, LegEvent::Answered { connected: None }, 1_000), vec![cmd(inb, LegCommand::Answer { connected: None })]);
    h.ev(out2, rel(16), 2_000);
    let c = one_cdr(&h.ev(inb, rel(16), 2_010));
    assert_eq!(c.attempts, 2);
    assert_eq!(c.outbound.unwrap().target.as_deref(), Some("b"));
    assert_eq!(h.ev(out1, rel(16), 3_000), vec![], "events after the CDR are ignored");
}

#[test]
fn the_last_target_failing_releases_the_caller_with_its_cause() {
    let mut h = H::new();
    let inb = h.tdm_call("5551234", true, 0);
    let mut out = originate_leg(&h.out());
    for _ in 0..2 {
        out = originate_leg(&h.ev(out, rel(34), 10));
    }
    assert_eq!(h.ev(out, rel(42), 20), vec![release(inb, 42)]);
    let c = one_cdr(&h.ev(inb, rel(42), 30));
    assert_eq!((c.attempts, c.cause, c.released_by), (3, 42, "outbound"));
}

#[test]
fn no_failover_after_answer() {
    let mut h = H::new();
    let (inb, out) = h.answered_call();
    h.out();
    let o = h.ev(out, rel(41), 10_000);
    assert_eq!(o, vec![Output::Media(MediaCommand::Disconnect { call: inb.call }), release(inb, 41)]);
}

#[test]
fn the_setup_timer_gives_up_on_a_silent_target_and_fails_over() {
    let mut h = H::new();
    let inb = h.tdm_call("5551234", true, 0);
    let out1 = originate_leg(&h.out());
    assert_eq!(h.cc.poll_timeout(), Some(h.at(32_000)));
    let o = h.tick(32_000);
    assert_eq!(o[0], release(out1, 102));
    let out2 = originate_leg(&o);
    assert_eq!(out2.attempt, 2);
    h.ev(out2, LegEvent::Proceeding, 32_100);
    assert_eq!(h.ev(out1, rel(102), 32_200), vec![], "the abandoned attempt's Released is stale");
    h.ev(inb, rel(16), 40_000);
    let c = one_cdr(&h.ev(out2, rel(16), 40_100));
    assert_eq!(c.attempts, 2);
}

#[test]
fn overlap_digits_are_collected_until_the_dial_plan_matches() {
    let mut h = H::new();
    let inb = h.tdm_call("555", false, 0);
    assert_eq!(h.out(), vec![cmd(inb, LegCommand::SetupAck)]);
    assert_eq!(h.ev(inb, LegEvent::Digits { digits: "1".into(), complete: false }, 1_000), vec![]);
    let o = h.ev(inb, LegEvent::Digits { digits: "234".into(), complete: false }, 2_000);
    assert_eq!(o[0], cmd(inb, LegCommand::Proceeding));
    assert!(matches!(&o[1], Output::Originate { setup, .. } if setup.called == "1234" && setup.complete), "{o:?}");
}

#[test]
fn a_digit_timeout_routes_what_was_dialled_or_refuses_with_cause_28() {
    let mut h = H::new();
    // "9." matches 91 but could take more digits: wait for T302.
    let inb = h.tdm_call("91", false, 0);
    assert_eq!(h.out(), vec![cmd(inb, LegCommand::SetupAck)]);
    let o = h.ev(inb, LegEvent::DigitTimeout, 15_000);
    assert!(matches!(&o[1], Output::Originate { .. }), "{o:?}");

    let inb = h.tdm_call("55", false, 0);
    assert_eq!(h.out(), vec![cmd(inb, LegCommand::SetupAck)]);
    assert_eq!(h.ev(inb, LegEvent::DigitTimeout, 15_000), vec![release(inb, 28)]);
    let c = one_cdr(&h.ev(inb, rel(28), 15_010));
    assert_eq!((c.released_by, c.cause, c.outbound), ("gateway", 28, None));
}

#[test]
fn an_unroutable_number_is_refused_with_the_configured_cause() {
    let mut h = H::new();
    let inb = h.tdm_call("4441234", true, 0);
    assert_eq!(h.out(), vec![release(inb, 1)]);
    let c = one_cdr(&h.ev(inb, rel(1), 5));
    assert_eq!((c.route, c.attempts), (None, 0));

    let mut h = H::with(|c| c.no_route_cause = Cause::NO_ROUTE_DESTINATION);
    let inb = h.tdm_call("4441234", true, 0);
    assert_eq!(h.out(), vec![release(inb, 3)]);
    // Overlap digits that can never match are refused at once too.
    let inb = h.tdm_call("4", false, 0);
    assert_eq!(h.out(), vec![release(inb, 3)]);
}

#[test]
fn calls_over_max_calls_are_refused_with_cause_34() {
    let mut h = H::with(|c| c.max_calls = Some(1));
    let _first = h.tdm_call("5551234", true, 0);
    h.out();
    let second = h.tdm_call("5551235", true, 10);
    assert_eq!(h.out(), vec![release(second, 34)]);
    assert_eq!(h.cc.active_calls(), 2, "the refused call lasts until its leg reports Released");
    let c = one_cdr(&h.ev(second, rel(34), 20));
    assert_eq!((c.released_by, c.cause), ("gateway", 34));
    assert_eq!(h.cc.active_calls(), 1);
}

#[test]
fn drain_refuses_new_calls_and_clears_the_rest_at_the_limit() {
    let mut h = H::new();
    let (a_in, a_out) = h.answered_call();
    let b_in = h.tdm_call("5551999", true, 3_000);
    let b_out = originate_leg(&h.out());
    h.ev(b_out, LegEvent::Alerting { inband: false }, 3_100);

    h.cc.drain(Duration::from_secs(30), h.at(5_000));
    assert!(h.cc.is_draining());
    let c_in = h.tdm_call("5551000", true, 6_000);
    assert_eq!(h.out(), vec![release(c_in, 41)]);
    h.ev(c_in, rel(41), 6_010);

    assert_eq!(h.cc.poll_timeout(), Some(h.at(35_000)));
    let o = h.tick(35_000);
    assert!(o.contains(&release(a_in, 16)) && o.contains(&release(a_out, 16)), "answered calls clear normally: {o:?}");
    assert!(o.contains(&release(b_in, 41)) && o.contains(&release(b_out, 41)), "unanswered calls get 41: {o:?}");
    for l in [a_in, a_out, b_in, b_out] {
        h.ev(l, rel(16), 35_100);
    }
    assert!(h.cc.is_idle());
}

#[test]
fn drain_with_no_calls_is_idle_at_once() {
    let mut h = H::new();
    h.cc.drain(Duration::from_secs(30), h.at(0));
    assert!(h.cc.is_idle());
    assert_eq!(h.cc.poll_timeout(), None);
}

#[test]
fn hold_updates_the_media_and_dtmf_crosses_legs() {
    let mut h = H::new();
    let (inb, out) = h.answered_call();
    h.out();
    let mut held = rtp(1, Some("127.0.0.2:20000"));
    held.direction = Direction::SendOnly;
    let o = h.ev(out, LegEvent::Media(MediaEndpoint::Rtp(held.clone())), 5_000);
    assert_eq!(o, vec![Output::Media(MediaCommand::Update { call: inb.call, rtp: held })], "the TDM leg is not told");
    assert_eq!(h.ev(out, LegEvent::Dtmf { digit: '5', duration_ms: 100 }, 6_000), vec![cmd(inb, LegCommand::Dtmf { digit: '5', duration_ms: 100 })]);
    assert_eq!(h.ev(inb, LegEvent::Dtmf { digit: '#', duration_ms: 80 }, 6_100), vec![cmd(out, LegCommand::Dtmf { digit: '#', duration_ms: 80 })]);
}

#[test]
fn a_flash_crosses_legs_once_answered_and_is_dropped_before() {
    let mut h = H::new();
    let inb = h.tdm_call("5551234", true, 0);
    let o = h.out();
    let out = originate_leg(&o);
    h.ev(out, LegEvent::Alerting { inband: false }, 500);
    assert_eq!(h.ev(out, LegEvent::Flash, 600), vec![], "a flash before the answer went through");
    h.ev(out, LegEvent::Answered { connected: None }, 2_000);
    assert_eq!(h.ev(out, LegEvent::Flash, 3_000), vec![cmd(inb, LegCommand::Flash)]);
    assert_eq!(h.ev(inb, LegEvent::Flash, 3_100), vec![cmd(out, LegCommand::Flash)]);
}

#[test]
fn a_leg_that_never_reports_released_is_given_up_on() {
    let mut h = H::new();
    let (inb, _out) = h.answered_call();
    h.out();
    h.ev(inb, rel(16), 10_000);
    let t = h.cc.poll_timeout().unwrap();
    assert_eq!(t, h.at(70_000));
    let c = one_cdr(&h.tick(70_000));
    assert_eq!(c.outbound.unwrap().wire.as_deref(), Some("no Released from the leg"));
    assert!(h.cc.is_idle());
}

#[test]
fn every_call_gets_exactly_one_cdr() {
    let mut h = H::new();
    let mut total = 0;
    for i in 0..20u64 {
        let inb = h.tdm_call("5551234", true, i * 10);
        let out = originate_leg(&h.out());
        let mut all = Vec::new();
        if i % 2 == 0 {
            all.extend(h.ev(out, rel(17), i * 10 + 1));
            all.extend(h.ev(inb, rel(17), i * 10 + 2));
        } else {
            all.extend(h.ev(inb, rel(16), i * 10 + 1));
            all.extend(h.ev(out, rel(16), i * 10 + 2));
        }
        // Duplicates after the end change nothing.
        all.extend(h.ev(inb, rel(16), i * 10 + 3));
        all.extend(h.ev(out, rel(16), i * 10 + 3));
        total += cdrs(&all).len();
    }
    assert_eq!(total, 20);
    assert!(h.cc.is_idle());
}

#[test]
fn inband_progress_reaches_the_caller_and_early_media_flows_before_answer() {
    let mut h = H::new();
    let inb = h.tdm_call("5551234", true, 0);
    let out = originate_leg(&h.out());
    h.ev(inb, LegEvent::Media(tdm(9)), 5);
    assert_eq!(h.ev(out, LegEvent::Progress { inband: true }, 700), vec![cmd(inb, LegCommand::Progress { inband: true })]);
    let o = h.ev(out, LegEvent::Media(MediaEndpoint::Rtp(rtp(3, Some("127.0.0.9:30000")))), 710);
    assert!(matches!(&o[..], [Output::Media(MediaCommand::Connect { tdm_channo: 9, .. })]), "{o:?}");
    assert_eq!(h.cc.poll_timeout(), Some(h.at(180_000)), "progress stops the setup timer; the no-answer timer runs");
    h.ev(out, rel(18), 20_000);
    let c = one_cdr(&h.ev(inb, rel(18), 20_010));
    assert_eq!(c.pdd_s, Some(0.7));
}

fn media_cmds(o: &[Output]) -> Vec<MediaCommand> {
    o.iter()
        .filter_map(|o| match o {
            Output::Media(m) => Some(m.clone()),
            _ => None,
        })
        .collect()
}

#[test]
fn a_tdm_hold_parks_the_stream_and_holds_the_sip_leg_and_the_resume_bridges_the_same_stream_again() {
    let mut h = H::new();
    let (inb, out) = h.answered_call();
    let call = inb.call;
    let o = h.ev(inb, LegEvent::Hold(true), 3_000);
    assert_eq!(media_cmds(&o), vec![MediaCommand::Park { call }]);
    assert!(o.contains(&cmd(out, LegCommand::Hold(true))), "{o:?}");
    // The hold's answer (same stream) does not bridge while held.
    assert_eq!(media_cmds(&h.ev(out, LegEvent::Media(MediaEndpoint::Rtp(rtp(1, Some("127.0.0.9:4000")))), 3_100)), vec![]);
    let o = h.ev(inb, LegEvent::Hold(false), 4_000);
    assert!(o.contains(&cmd(out, LegCommand::Hold(false))), "{o:?}");
    assert!(matches!(media_cmds(&o).as_slice(), [MediaCommand::Connect { rtp, .. }] if rtp.stream == 1), "the parked stream is bridged again: {o:?}");
    // The resume's media (the same stream, sending again) updates it.
    let o = h.ev(out, LegEvent::Media(MediaEndpoint::Rtp(rtp(1, Some("127.0.0.9:4000")))), 4_010);
    assert!(matches!(media_cmds(&o).as_slice(), [MediaCommand::Update { rtp, .. }] if rtp.stream == 1), "{o:?}");
}

#[test]
fn a_mute_parks_the_stream_without_telling_the_far_end_and_its_end_bridges_the_same_stream_again() {
    let mut h = H::new();
    let (inb, _out) = h.answered_call();
    let call = inb.call;
    let o = h.ev(inb, LegEvent::Mute(true), 3_000);
    assert_eq!(o, vec![Output::Media(MediaCommand::Park { call })], "parked, and no command to the SIP leg");
    let o = h.ev(inb, LegEvent::Mute(false), 4_000);
    assert!(
        matches!(o.as_slice(), [Output::Media(MediaCommand::Connect { rtp, .. })] if rtp.stream == 1),
        "the parked stream is bridged again, no re-INVITE: {o:?}"
    );
}

#[test]
fn a_call_that_ends_while_held_disconnects_its_parked_stream_once() {
    for far_end_clears in [true, false] {
        let mut h = H::new();
        let (inb, out) = h.answered_call();
        let call = inb.call;
        assert_eq!(media_cmds(&h.ev(inb, LegEvent::Hold(true), 3_000)), vec![MediaCommand::Park { call }]);
        let (first, second) = if far_end_clears { (out, inb) } else { (inb, out) };
        let mut o = h.ev(first, rel(16), 5_000);
        o.extend(h.ev(second, rel(16), 5_010));
        assert_eq!(media_cmds(&o), vec![MediaCommand::Disconnect { call }], "the parked stream is let go once: {o:?}");
        assert!(h.cc.is_idle());
    }
}

#[test]
fn a_flash_during_the_call_waiting_alert_holds_the_parked_call_and_its_resume_bridges_the_same_stream() {
    let mut h = H::new();
    let (inb, out) = h.answered_call();
    let call = inb.call;
    assert_eq!(h.ev(inb, LegEvent::Mute(true), 3_000), vec![Output::Media(MediaCommand::Park { call })]);
    let o = h.ev(inb, LegEvent::Hold(true), 3_200);
    assert_eq!(o, vec![cmd(out, LegCommand::Hold(true))], "already parked: only the SIP leg is told");
    assert_eq!(media_cmds(&h.ev(inb, LegEvent::Mute(false), 3_500)), vec![], "the alert's end does not bridge a held call");
    let o = h.ev(inb, LegEvent::Hold(false), 5_000);
    assert!(o.contains(&cmd(out, LegCommand::Hold(false))), "{o:?}");
    assert!(matches!(media_cmds(&o).as_slice(), [MediaCommand::Connect { rtp, .. }] if rtp.stream == 1), "{o:?}");
}

#[test]
fn a_transfer_from_the_tdm_leg_goes_to_the_sip_leg_and_nothing_happens_before_the_answer() {
    let mut h = H::new();
    let inb = h.tdm_call("5551234", true, 0);
    let out = originate_leg(&h.out());
    let early = h.ev(inb, LegEvent::Transfer { to: "2125550123".into(), await_result: true }, 100);
    assert!(early.is_empty(), "{early:?}");
    h.ev(inb, LegEvent::Media(tdm(5)), 10);
    h.ev(out, LegEvent::Media(MediaEndpoint::Rtp(rtp(1, None))), 600);
    h.ev(out, LegEvent::Answered { connected: None }, 2_000);
    let o = h.ev(inb, LegEvent::Transfer { to: "2125550123".into(), await_result: false }, 3_000);
    assert_eq!(o, vec![cmd(out, LegCommand::Transfer { to: "2125550123".into(), await_result: false })]);
}

// ---------------------------------------------------------------------------
// Redirects (an outbound leg's `Redirected`, from a SIP 301/302): a new
// attempt routed afresh for the call's origin, with the redirecting party
// set; default-deny for numbers no route allows; at most `MAX_REDIRECTS`
// per call.

/// TDM calls to 5551XXX go to trunk a, to 5552XXX to trunk b; 7XXXXXX is
/// only routed for calls that came over SIP.
fn redirect_router() -> Router {
    let did = Route::new("did", RouteFrom::Tdm(vec![]), &["5551XXX"], vec![sip("a")]).unwrap();
    let fwd = Route::new("fwd", RouteFrom::Tdm(vec![]), &["5552XXX"], vec![sip("b")]).unwrap();
    let sip_only = Route::new("sip-only", RouteFrom::Sip(vec![]), &["7XXXXXX"], vec![Target::Tdm { group: "pstn".into() }]).unwrap();
    Router::new(vec![did, fwd, sip_only])
}

impl H {
    /// Call control on [`redirect_router`].
    fn redirecting() -> H {
        H::with(|c| c.router = redirect_router())
    }

    /// A TDM call to `called`; returns the inbound leg and the first Originate.
    fn redirect_call(&mut self, called: &str) -> (LegRef, (LegRef, Target, Setup)) {
        let inb = self.tdm_call(called, true, 0);
        let o = self.out();
        (inb, originate(&o).unwrap_or_else(|| panic!("no Originate in {o:?}")))
    }

    /// The outbound leg reports a 302 to `to`: `Redirected`, then
    /// `Released` with the cause a 302 maps to (21).
    fn redirect(&mut self, out: LegRef, to: &str, ms: u64) -> Vec<Output> {
        let o = self.ev(out, LegEvent::Redirected { to: to.into(), reason: RedirectReason::Unconditional }, ms);
        assert_eq!(o, vec![], "nothing happens before the attempt's Released");
        self.ev(out, LegEvent::Released(Release { cause: Cause::CALL_REJECTED, wire: Some("302 Moved Temporarily".into()) }), ms + 1)
    }
}

#[test]
fn a_redirect_places_a_new_attempt_to_the_new_number_with_the_original_called_number_as_redirecting_party() {
    let mut h = H::redirecting();
    let (inb, (out1, target1, setup1)) = h.redirect_call("5551234");
    assert_eq!((target1, setup1.redirect), (sip("a"), None));

    let o = h.redirect(out1, "5552000", 100);
    let (out2, target2, setup2) = originate(&o).unwrap_or_else(|| panic!("no new attempt in {o:?}"));
    assert_eq!(out2, LegRef::outbound(inb.call, 2));
    assert_eq!(target2, sip("b"), "the new number is routed afresh");
    assert_eq!(setup2.called, "5552000");
    assert_eq!(setup2.calling, setup1.calling, "the same caller");
    assert_eq!(setup2.redirect, Some(Redirect { from: Party::number("5551234"), reason: RedirectReason::Unconditional, count: 1 }));
    assert!(!o.iter().any(|o| matches!(o, Output::Command(l, _) if *l == inb)), "the caller waits: {o:?}");

    assert_eq!(h.ev(out2, LegEvent::Answered { connected: None }, 1_000), vec![Output::Command(inb, LegCommand::Answer { connected: None })]);
    h.ev(out2, LegEvent::Released(Release::cause(Cause::NORMAL_CLEARING)), 2_000);
    let c = one_cdr(&h.ev(inb, LegEvent::Released(Release::cause(Cause::NORMAL_CLEARING)), 2_010));
    assert_eq!(c.attempts, 2);
    assert_eq!(c.called, "5551234");
    assert_eq!(c.called_out.as_deref(), Some("5552000"));
    assert_eq!(c.route.as_deref(), Some("fwd"));
    assert_eq!(c.cause, 16);
}

#[test]
fn a_redirect_to_a_number_no_route_allows_for_the_origin_ends_the_call_with_the_3xx_cause() {
    for to in ["12345", "7000000"] {
        let mut h = H::redirecting();
        let (inb, (out1, _, _)) = h.redirect_call("5551234");
        // 7000000 is routed, but only for calls that came over SIP.
        assert_eq!(h.redirect(out1, to, 100), vec![release(inb, 21)], "redirect to {to}");
        let c = one_cdr(&h.ev(inb, LegEvent::Released(Release::cause(Cause::CALL_REJECTED)), 200));
        assert_eq!((c.attempts, c.cause, c.released_by), (1, 21, "outbound"));
    }
}

#[test]
fn the_redirect_after_the_third_ends_the_call() {
    assert_eq!(MAX_REDIRECTS, 3);
    let mut h = H::redirecting();
    let (inb, (mut out, _, _)) = h.redirect_call("5551234");
    for n in 1..=3u8 {
        let to = format!("555200{n}");
        let o = h.redirect(out, &to, 100 * n as u64);
        let (next, target, setup) = originate(&o).unwrap_or_else(|| panic!("redirect {n} not followed: {o:?}"));
        assert_eq!((next.attempt, target, setup.called.as_str()), (n + 1, sip("b"), to.as_str()));
        let r = setup.redirect.expect("redirecting party");
        assert_eq!(r.count, n, "the redirect counter grows");
        assert_eq!(r.from.number, if n == 1 { "5551234".to_owned() } else { format!("555200{}", n - 1) }, "the last called number redirected");
        out = next;
    }
    assert_eq!(h.redirect(out, "5552009", 1_000), vec![release(inb, 21)], "the fourth redirect is not followed");
    let c = one_cdr(&h.ev(inb, LegEvent::Released(Release::cause(Cause::CALL_REJECTED)), 1_100));
    assert_eq!((c.attempts, c.cause), (4, 21));
}

#[test]
fn a_redirect_reported_after_the_answer_is_ignored() {
    let mut h = H::redirecting();
    let (inb, (out1, _, _)) = h.redirect_call("5551234");
    h.ev(out1, LegEvent::Answered { connected: None }, 100);
    assert_eq!(h.ev(out1, LegEvent::Redirected { to: "5552000".into(), reason: RedirectReason::Unconditional }, 200), vec![]);
    let o = h.ev(out1, LegEvent::Released(Release::cause(Cause::NORMAL_CLEARING)), 300);
    assert_eq!(o, vec![release(inb, 16)]);
}
