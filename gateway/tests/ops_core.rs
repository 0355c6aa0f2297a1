//! Call control's operator side as a pure function of (leg events, now):
//! the call listing (`tandem calls`) and the operator's hangup.

use std::time::{Duration, Instant, UNIX_EPOCH};

use tandem_gateway::call::control::{CallControl, CallControlConfig, CallState, MediaCommand, Origin, Output};
use tandem_gateway::call::*;
use tandem_gateway::route::{Route, RouteFrom, Router};

const WALL0: u64 = 1_714_564_800; // 2024-05-01T12:00:00Z

struct H {
    cc: CallControl,
    t0: Instant,
}

impl H {
    fn new() -> H {
        let t0 = Instant::now();
        let route = Route::new("did", RouteFrom::Tdm(vec![]), &["X."], vec![Target::Sip { trunk: "pbx".into(), uri: None }]).unwrap();
        let cfg = CallControlConfig::new(Router::new(vec![route]), (t0, UNIX_EPOCH + Duration::from_secs(WALL0)));
        H { cc: CallControl::new(cfg, CallIds::new(WALL0)), t0 }
    }

    fn at(&self, ms: u64) -> Instant {
        self.t0 + Duration::from_millis(ms)
    }

    fn out(&mut self) -> Vec<Output> {
        std::iter::from_fn(|| self.cc.poll_output()).collect()
    }

    fn ev(&mut self, leg: LegRef, ev: LegEvent, ms: u64) -> Vec<Output> {
        self.cc.handle(leg, ev, self.at(ms));
        self.out()
    }

    /// A call in from the PRI on span 1 channel 5, routed to the PBX trunk.
    fn call(&mut self) -> (LegRef, LegRef) {
        let setup = Setup { called: "5551234".into(), complete: true, calling: Some(Party::number("2125550100")), ..Setup::default() };
        let inb = self.cc.incoming(Origin::Tdm { interface: "pri1".into() }, setup, self.at(0));
        let identity = LegIdentity { interface: "pri1".into(), span: Some(1), channel: Some(5), sip_call_id: None };
        self.cc.handle(inb, LegEvent::Identity(identity), self.at(0));
        let out = self
            .out()
            .into_iter()
            .find_map(|o| match o {
                Output::Originate { leg, .. } => Some(leg),
                _ => None,
            })
            .expect("originate");
        (inb, out)
    }
}

fn releases(out: &[Output]) -> Vec<(LegSide, u8)> {
    out.iter()
        .filter_map(|o| match o {
            Output::Command(leg, LegCommand::Release(r)) => Some((leg.side, r.cause.0)),
            _ => None,
        })
        .collect()
}

#[test]
fn the_listing_follows_a_call_from_setup_to_ringing_answered_and_releasing() {
    let mut h = H::new();
    let (inb, out) = h.call();
    let state = |h: &H, ms| h.cc.calls(h.at(ms))[0].state;
    assert_eq!(state(&h, 10), CallState::Setup);
    h.ev(out, LegEvent::Alerting { inband: false }, 500);
    assert_eq!(state(&h, 600), CallState::Ringing);
    h.ev(out, LegEvent::Answered { connected: None }, 2_000);
    let c = &h.cc.calls(h.at(5_000))[0];
    assert_eq!(c.state, CallState::Answered);
    assert_eq!(c.direction, "tdm-to-sip");
    assert_eq!((c.called.as_str(), c.calling.as_deref()), ("5551234", Some("2125550100")));
    assert_eq!((c.inbound.kind, c.inbound.identity.interface.as_str(), c.inbound.identity.channel), ("tdm", "pri1", Some(5)));
    let o = c.outbound.as_ref().expect("outbound leg");
    assert_eq!((o.kind, o.identity.interface.as_str(), o.leg), ("sip", "pbx", out));
    assert_eq!(c.start, UNIX_EPOCH + Duration::from_secs(WALL0));
    assert_eq!(c.age, Duration::from_secs(5));
    assert_eq!(c.duration, Some(Duration::from_secs(3)));
    h.ev(inb, LegEvent::Released(Release::cause(Cause::NORMAL_CLEARING)), 6_000);
    assert_eq!(state(&h, 6_000), CallState::Releasing);
    h.ev(out, LegEvent::Released(Release::cause(Cause::NORMAL_CLEARING)), 6_100);
    assert!(h.cc.calls(h.at(6_200)).is_empty());
}

#[test]
fn an_operator_hangup_releases_both_legs_with_its_cause_and_the_cdr_says_gateway() {
    let mut h = H::new();
    let (inb, out) = h.call();
    h.ev(inb, LegEvent::Media(MediaEndpoint::Tdm { channo: 5, law: Law::Ulaw }), 10);
    h.ev(out, LegEvent::Answered { connected: None }, 1_000);
    let id = h.cc.calls(h.at(1_000))[0].id;
    assert!(h.cc.hangup(id, Cause(31), h.at(2_000)));
    let o = h.out();
    let mut rel = releases(&o);
    rel.sort();
    assert_eq!(rel, [(LegSide::Inbound, 31), (LegSide::Outbound, 31)]);
    // Asked again while clearing: nothing more is sent.
    assert!(h.cc.hangup(id, Cause(16), h.at(2_100)));
    assert!(releases(&h.out()).is_empty());
    h.ev(inb, LegEvent::Released(Release::cause(Cause(31))), 2_200);
    let o = h.ev(out, LegEvent::Released(Release::cause(Cause(31))), 2_300);
    let cdr = o
        .iter()
        .find_map(|o| match o {
            Output::Cdr(r) => Some(r.clone()),
            _ => None,
        })
        .expect("CDR");
    assert_eq!((cdr.call_id.as_str(), cdr.cause, cdr.released_by), (id.to_string().as_str(), 31, "gateway"));
    assert!(!o.iter().any(|o| matches!(o, Output::Media(MediaCommand::Connect { .. }))));
    // Gone: an unknown id.
    assert!(!h.cc.hangup(id, Cause(16), h.at(3_000)));
}

#[test]
fn a_hangup_before_the_outbound_leg_answers_still_clears_both_legs() {
    let mut h = H::new();
    let (_inb, _out) = h.call();
    let id = h.cc.calls(h.at(0))[0].id;
    assert!(h.cc.hangup(id, Cause::NORMAL_CLEARING, h.at(100)));
    let mut rel = releases(&h.out());
    rel.sort();
    assert_eq!(rel, [(LegSide::Inbound, 16), (LegSide::Outbound, 16)]);
}
