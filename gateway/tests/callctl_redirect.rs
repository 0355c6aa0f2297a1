//! Call control following redirects (an outbound leg's `Redirected`, from
//! a SIP 301/302): a new attempt routed afresh for the call's origin, with
//! the redirecting party set; default-deny for numbers no route allows;
//! at most `MAX_REDIRECTS` per call.

use std::time::{Duration, Instant, UNIX_EPOCH};

use tandem_gateway::call::control::{CallControl, CallControlConfig, MAX_REDIRECTS, Origin, Output};
use tandem_gateway::call::*;
use tandem_gateway::cdr::CdrRecord;
use tandem_gateway::route::{Route, RouteFrom, Router};

const WALL0: u64 = 1_714_564_800;

fn sip(trunk: &str) -> Target {
    Target::Sip { trunk: trunk.into(), uri: None }
}

/// TDM calls to 5551XXX go to trunk a, to 5552XXX to trunk b; 7XXXXXX is
/// only routed for calls that came over SIP.
fn router() -> Router {
    let did = Route::new("did", RouteFrom::Tdm(vec![]), &["5551XXX"], vec![sip("a")]).unwrap();
    let fwd = Route::new("fwd", RouteFrom::Tdm(vec![]), &["5552XXX"], vec![sip("b")]).unwrap();
    let sip_only = Route::new("sip-only", RouteFrom::Sip(vec![]), &["7XXXXXX"], vec![Target::Tdm { group: "pstn".into() }]).unwrap();
    Router::new(vec![did, fwd, sip_only])
}

struct H {
    cc: CallControl,
    t0: Instant,
}

impl H {
    fn new() -> H {
        let t0 = Instant::now();
        let cfg = CallControlConfig::new(router(), (t0, UNIX_EPOCH + Duration::from_secs(WALL0)));
        H { cc: CallControl::new(cfg, CallIds::new(WALL0)), t0 }
    }

    fn ev(&mut self, leg: LegRef, ev: LegEvent, ms: u64) -> Vec<Output> {
        self.cc.handle(leg, ev, self.t0 + Duration::from_millis(ms));
        std::iter::from_fn(|| self.cc.poll_output()).collect()
    }

    /// A TDM call to `called`; returns the inbound leg and the first Originate.
    fn tdm_call(&mut self, called: &str) -> (LegRef, (LegRef, Target, Setup)) {
        let setup = Setup { called: called.into(), complete: true, calling: Some(Party::number("2125550100")), ..Setup::default() };
        let inb = self.cc.incoming(Origin::Tdm { interface: "pri1".into() }, setup, self.t0);
        let o: Vec<Output> = std::iter::from_fn(|| self.cc.poll_output()).collect();
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

fn originate(o: &[Output]) -> Option<(LegRef, Target, Setup)> {
    o.iter().find_map(|o| match o {
        Output::Originate { leg, target, setup } => Some((*leg, target.clone(), setup.clone())),
        _ => None,
    })
}

fn release_cmd(leg: LegRef, cause: Cause) -> Output {
    Output::Command(leg, LegCommand::Release(Release::cause(cause)))
}

fn one_cdr(o: &[Output]) -> CdrRecord {
    let c: Vec<CdrRecord> = o
        .iter()
        .filter_map(|o| match o {
            Output::Cdr(c) => Some((**c).clone()),
            _ => None,
        })
        .collect();
    assert_eq!(c.len(), 1, "{o:?}");
    c.into_iter().next().unwrap()
}

#[test]
fn a_redirect_places_a_new_attempt_to_the_new_number_with_the_original_called_number_as_redirecting_party() {
    let mut h = H::new();
    let (inb, (out1, target1, setup1)) = h.tdm_call("5551234");
    assert_eq!((target1, setup1.redirect), (sip("a"), None));

    let o = h.redirect(out1, "5552000", 100);
    let (out2, target2, setup2) = originate(&o).unwrap_or_else(|| panic!("no new attempt in {o:?}"));
    assert_eq!(out2, LegRef::outbound(inb.call, 2));
    assert_eq!(target2, sip("b"), "the new number is routed afresh");
    assert_eq!(setup2.called, "5552000");
    assert_eq!(setup2.calling, Some(Party::number("2125550100")));
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
        let mut h = H::new();
        let (inb, (out1, _, _)) = h.tdm_call("5551234");
        // 7000000 is routed, but only for calls that came over SIP.
        assert_eq!(h.redirect(out1, to, 100), vec![release_cmd(inb, Cause::CALL_REJECTED)], "redirect to {to}");
        let c = one_cdr(&h.ev(inb, LegEvent::Released(Release::cause(Cause::CALL_REJECTED)), 200));
        assert_eq!((c.attempts, c.cause, c.released_by), (1, 21, "outbound"));
    }
}

#[test]
fn the_redirect_after_the_third_ends_the_call() {
    assert_eq!(MAX_REDIRECTS, 3);
    let mut h = H::new();
    let (inb, (mut out, _, _)) = h.tdm_call("5551234");
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
    assert_eq!(h.redirect(out, "5552009", 1_000), vec![release_cmd(inb, Cause::CALL_REJECTED)], "the fourth redirect is not followed");
    let c = one_cdr(&h.ev(inb, LegEvent::Released(Release::cause(Cause::CALL_REJECTED)), 1_100));
    assert_eq!((c.attempts, c.cause), (4, 21));
}

#[test]
fn a_redirect_reported_after_the_answer_is_ignored() {
    let mut h = H::new();
    let (inb, (out1, _, _)) = h.tdm_call("5551234");
    h.ev(out1, LegEvent::Answered { connected: None }, 100);
    assert_eq!(h.ev(out1, LegEvent::Redirected { to: "5552000".into(), reason: RedirectReason::Unconditional }, 200), vec![]);
    let o = h.ev(out1, LegEvent::Released(Release::cause(Cause::NORMAL_CLEARING)), 300);
    assert_eq!(o, vec![release_cmd(inb, Cause::NORMAL_CLEARING)]);
}
