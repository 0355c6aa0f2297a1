//! Call control across a configuration reload (`CallControl::reconfigure`):
//! calls in progress keep the route they took; new calls see the new one.

use std::time::{Duration, Instant, UNIX_EPOCH};

use tandem_gateway::call::control::{CallControl, CallControlConfig, Origin, Output};
use tandem_gateway::call::*;
use tandem_gateway::route::{Route, RouteFrom, Router};

const WALL0: u64 = 1_714_564_800;

fn sip(trunk: &str) -> Target {
    Target::Sip { trunk: trunk.into(), uri: None }
}

fn router(name: &str, targets: &[&str]) -> Router {
    Router::new(vec![Route::new(name, RouteFrom::Tdm(vec![]), &["X."], targets.iter().map(|t| sip(t)).collect()).unwrap()])
}

fn outs(cc: &mut CallControl) -> Vec<Output> {
    std::iter::from_fn(|| cc.poll_output()).collect()
}

fn originated(o: &[Output]) -> (LegRef, Target) {
    o.iter()
        .find_map(|o| match o {
            Output::Originate { leg, target, .. } => Some((*leg, target.clone())),
            _ => None,
        })
        .unwrap_or_else(|| panic!("no Originate in {o:?}"))
}

fn call(cc: &mut CallControl, at: Instant) -> LegRef {
    let setup = Setup { called: "5551234".into(), complete: true, ..Setup::default() };
    cc.incoming(Origin::Tdm { interface: "pri1".into() }, setup, at)
}

#[test]
fn a_call_routed_before_a_reload_fails_over_along_its_old_route_and_a_new_call_takes_the_new_one() {
    let t0 = Instant::now();
    let at = |ms: u64| t0 + Duration::from_millis(ms);
    let cfg = CallControlConfig::new(router("old", &["a", "a2"]), (t0, UNIX_EPOCH + Duration::from_secs(WALL0)));
    let mut cc = CallControl::new(cfg, CallIds::new(WALL0));
    let inb = call(&mut cc, at(0));
    let (first, target) = originated(&outs(&mut cc));
    assert_eq!(target, sip("a"));

    cc.reconfigure(router("new", &["b"]), Some(5), Cause(3));

    // The first call's attempt fails with a failover cause: it moves on to
    // its own route's next target, not the new route's.
    cc.handle(first, LegEvent::Released(Release::cause(Cause(38))), at(100));
    let (second, target) = originated(&outs(&mut cc));
    assert_eq!(target, sip("a2"));
    // A call after the reload takes the new route.
    let _ = call(&mut cc, at(200));
    let (_, target) = originated(&outs(&mut cc));
    assert_eq!(target, sip("b"));

    // The first call ends; its CDR names the route it took.
    cc.handle(second, LegEvent::Answered { connected: None }, at(300));
    cc.handle(inb, LegEvent::Released(Release::cause(Cause::NORMAL_CLEARING)), at(400));
    let o = outs(&mut cc);
    let leg2 = o
        .iter()
        .find_map(|x| match x {
            Output::Command(l, LegCommand::Release(_)) if *l == second => Some(*l),
            _ => None,
        })
        .unwrap_or_else(|| panic!("the outbound leg is told to release: {o:?}"));
    cc.handle(leg2, LegEvent::Released(Release::cause(Cause::NORMAL_CLEARING)), at(500));
    let cdr = outs(&mut cc)
        .into_iter()
        .find_map(|x| match x {
            Output::Cdr(c) => Some(c),
            _ => None,
        })
        .expect("a CDR");
    assert_eq!(cdr.route.as_deref(), Some("old"));
    assert_eq!(cdr.attempts, 2);
}

#[test]
fn a_reload_takes_the_new_no_route_cause_and_call_limit() {
    let t0 = Instant::now();
    let cfg = CallControlConfig::new(router("r", &["a"]), (t0, UNIX_EPOCH + Duration::from_secs(WALL0)));
    let mut cc = CallControl::new(cfg, CallIds::new(WALL0));
    let _ = call(&mut cc, t0);
    let _ = outs(&mut cc);
    cc.reconfigure(Router::new(vec![]), Some(1), Cause(3));
    let refused = call(&mut cc, t0);
    let o = outs(&mut cc);
    assert!(
        o.iter().any(|x| matches!(x, Output::Command(l, LegCommand::Release(r)) if *l == refused && r.cause == Cause(34))),
        "max_calls = 1 refuses the second call with 34: {o:?}"
    );
    cc.reconfigure(Router::new(vec![]), None, Cause(3));
    let unrouted = call(&mut cc, t0);
    let o = outs(&mut cc);
    assert!(
        o.iter().any(|x| matches!(x, Output::Command(l, LegCommand::Release(r)) if *l == unrouted && r.cause == Cause(3))),
        "no route: the new no_route_cause: {o:?}"
    );
}
