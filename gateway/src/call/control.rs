//! The call control core: a sans-IO back-to-back agent joining an inbound
//! leg and an outbound leg.
//!
//! [`CallControl`] knows neither Q.931 nor SIP; it speaks the leg-neutral
//! vocabulary of [`super::model`]. It has no clock, socket or thread: the
//! shell feeds it input and drains its output.
//!
//! ```text
//! shell                                   CallControl
//!  new call on a leg ── incoming(origin, setup, now) ──▶ returns the LegRef the leg uses
//!  a leg event       ── handle(leg, event, now) ──────▶
//!  timer fired       ── handle_timeout(now) ──────────▶
//!  SIGTERM           ── drain(limit, now) ────────────▶
//!                   ◀── poll_output(): Command(leg, cmd) | Originate{leg,target,setup}
//!                                      | Media(cmd) | Cdr(record)
//!                   ◀── poll_timeout(): when to call handle_timeout next
//! ```
//!
//! # Behaviour
//!
//! * **Routing.** A setup is routed by [`Router`] on its called number.
//!   No route: the inbound leg is released with `[general] no_route_cause`
//!   (1 by default). A TDM call in overlap (`complete == false`) gets
//!   `SetupAck` while a longer number could still match, and digits are
//!   collected until the number is complete, the dial plan matches (see
//!   [`crate::route`]), or the leg reports `DigitTimeout` (then what was
//!   dialled is routed, or released with cause 28). SIP setups are en
//!   bloc; outbound legs always get an en-bloc setup. When a route is
//!   found, the inbound leg gets `Proceeding` at once (so a Q.931 caller's
//!   T303/T310 never runs out while SIP resolves); the outbound leg's own
//!   `Proceeding` is then not passed on again.
//! * **Attempts.** Each outbound leg of a call is a new [`LegRef`] with the
//!   next `attempt` number. Events for an attempt other than the current
//!   one are stale and ignored.
//! * **Progress.** `Progress`, `Alerting` (inband flag kept) and
//!   `Answered` from the outbound leg go to the inbound leg.
//! * **Media.** When both legs have reported a [`MediaEndpoint`] (one TDM,
//!   one RTP), [`MediaCommand::Connect`] is emitted — early media
//!   included. A later RTP change (hold, resume, re-INVITE) gives
//!   [`MediaCommand::Update`]; a hold or a mute (call-waiting alert) from the TDM side gives
//!   [`MediaCommand::Park`] (the RTP stream lives on, detached from the
//!   channel) and its resume `Connect` again with the same stream; the first release gives
//!   [`MediaCommand::Disconnect`]. An RTP change is also passed to the other
//!   leg when that leg is RTP too.
//! * **Release.** When one leg releases, the other is released with the
//!   same cause. Before answer, an outbound failure whose cause is in the
//!   route's failover set moves on to the route's next target with a new
//!   attempt, the inbound leg waiting.
//! * **Redirects.** An outbound leg that reports `Redirected { to, .. }`
//!   (a SIP 3xx) before its `Released` gets, at that release, a new
//!   attempt: `to` is routed afresh for the call's origin (default-deny: a
//!   number no route allows is not followed, and the release goes on as
//!   any failure), the new route's targets are placed with the called
//!   number `to` and the last called number as the redirecting party
//!   (counter + 1). At most [`MAX_REDIRECTS`] per call; the CDR keeps the
//!   called number as it arrived and shows the new one as sent.
//! * **Timers.** Per route: the setup timer (the outbound leg must report
//!   proceeding, progress or alerting in time, default 32 s, else cause
//!   102, which fails over by default) and the no-answer timer (started
//!   when an attempt is placed, default 180 s, then both legs are released
//!   with cause 19). A leg that was told to release and has not reported
//!   `Released` after [`RELEASE_GUARD`] is taken as gone, so no call
//!   lingers forever.
//! * **Limits.** With `max_calls` calls up, a new one is refused with
//!   cause 34.
//! * **Drain.** [`CallControl::drain`] refuses new calls with cause 41 and
//!   lets existing ones run until the limit; then calls not yet answered are
//!   released with 41 (temporary failure: the caller may retry elsewhere)
//!   and answered calls with 16 (normal clearing, as for an administrative
//!   shutdown).
//! * **CDRs.** When both legs have reported `Released` (or the call never
//!   got an outbound leg) exactly one [`Output::Cdr`] is emitted. The core
//!   only sees [`Instant`]s; wall-clock times come from the `(Instant,
//!   SystemTime)` pair of [`CallControlConfig::epoch`], taken once at
//!   start-up by the shell: a time `t` is `epoch.1 + (t - epoch.0)`.
//!
//! Every log line carries the call id (`call = …`).

use std::collections::{BTreeMap, VecDeque};
use std::time::{Duration, Instant, SystemTime};

use tracing::{debug, info, warn};

use super::model::*;
use crate::cdr::{CdrLeg, CdrRecord, rfc3339, secs_ms};
use crate::config::Config;
pub use crate::route::Origin;
use crate::route::{Lookup, Route, Router};

/// How long a leg told to release may take to report `Released` before it
/// is taken as gone.
pub const RELEASE_GUARD: Duration = Duration::from_secs(60);

/// Redirects (SIP 3xx) followed per call at most; the next one ends the
/// call as an unfollowed redirect would (a loop guard).
pub const MAX_REDIRECTS: u8 = 3;

/// What call control needs from the configuration.
#[derive(Debug, Clone)]
pub struct CallControlConfig {
    /// The routes.
    pub router: Router,
    /// Concurrent calls at most.
    pub max_calls: Option<usize>,
    /// The cause for a number no route matches (1 or 3).
    pub no_route_cause: Cause,
    /// The same moment as an [`Instant`] and as wall-clock time, for CDR times.
    pub epoch: (Instant, SystemTime),
}

impl CallControlConfig {
    /// Routes only; no limit; cause 1 for unroutable numbers.
    pub fn new(router: Router, epoch: (Instant, SystemTime)) -> CallControlConfig {
        CallControlConfig { router, max_calls: None, no_route_cause: Cause::UNALLOCATED, epoch }
    }

    /// From a checked configuration.
    pub fn from_config(cfg: &Config, epoch: (Instant, SystemTime)) -> CallControlConfig {
        CallControlConfig { router: Router::from_config(cfg), max_calls: cfg.general.max_calls(), no_route_cause: cfg.general.no_route_cause(), epoch }
    }
}

/// What the media pump must do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MediaCommand {
    /// Bridge a DAHDI channel and an RTP stream.
    Connect { call: CallId, tdm_channo: u32, tdm_law: Law, rtp: RtpParams },
    /// The RTP side changed (hold, resume, new remote address).
    Update { call: CallId, rtp: RtpParams },
    /// Stop bridging.
    Disconnect { call: CallId },
    /// Hold: detach the RTP stream from the channel and keep it (its port,
    /// SSRC, sequence, timestamps and RTCP); a later `Connect` with the
    /// same stream attaches it again.
    Park { call: CallId },
}

/// What call control asks of the shell.
#[derive(Debug, Clone, PartialEq)]
pub enum Output {
    /// Tell a leg to do something.
    Command(LegRef, LegCommand),
    /// Place the outbound leg. The shell must answer with leg events for
    /// `leg` (at least `Released` on failure).
    Originate { leg: LegRef, target: Target, setup: Setup },
    /// Tell the media pump something.
    Media(MediaCommand),
    /// A finished call's record (boxed: it is much larger than the rest).
    Cdr(Box<CdrRecord>),
}

/// Where a call is, as the operator sees it (`tandem calls`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CallState {
    /// Collecting digits, routing, or the outbound leg placed and not alerting yet.
    Setup,
    /// The outbound leg alerts.
    Ringing,
    Answered,
    /// One leg is gone or told to go; waiting for the other's release.
    Releasing,
}

impl CallState {
    /// The lower-case name the control socket uses.
    pub fn name(self) -> &'static str {
        match self {
            CallState::Setup => "setup",
            CallState::Ringing => "ringing",
            CallState::Answered => "answered",
            CallState::Releasing => "releasing",
        }
    }
}

/// One leg of a listed call.
#[derive(Debug, Clone, PartialEq)]
pub struct LegInfo {
    pub leg: LegRef,
    /// "tdm" or "sip".
    pub kind: &'static str,
    /// Interface or trunk, span and channel, SIP Call-ID (what the CDR shows).
    pub identity: LegIdentity,
    /// Outbound: where call control placed it.
    pub target: Option<Target>,
}

/// A call in progress, for the operator's listing ([`CallControl::calls`]).
#[derive(Debug, Clone, PartialEq)]
pub struct CallInfo {
    /// The id the logs and the CDR use.
    pub id: CallId,
    /// "tdm-to-sip" or "sip-to-tdm", as in the CDR.
    pub direction: &'static str,
    pub state: CallState,
    pub inbound: LegInfo,
    /// The current outbound attempt, once placed.
    pub outbound: Option<LegInfo>,
    pub calling: Option<String>,
    pub called: String,
    /// Wall-clock start and answer.
    pub start: SystemTime,
    pub answer: Option<SystemTime>,
    /// Since the start.
    pub age: Duration,
    /// Since the answer (to the end, once clearing).
    pub duration: Option<Duration>,
}

/// Who ended a call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum By {
    Inbound,
    Outbound,
    Gateway,
}

impl By {
    fn name(self) -> &'static str {
        match self {
            By::Inbound => "inbound",
            By::Outbound => "outbound",
            By::Gateway => "gateway",
        }
    }
}

/// One leg's state as call control sees it.
#[derive(Debug, Clone, Default)]
struct Leg {
    identity: LegIdentity,
    media: Option<MediaEndpoint>,
    /// The leg reported `Released` (or the guard gave up on it).
    released: Option<Release>,
    /// We told it to release, at this time.
    release_sent: Option<Instant>,
    /// Outbound: where it was placed.
    target: Option<Target>,
}

impl Leg {
    fn gone(&self) -> bool {
        self.released.is_some()
    }

    fn active(&self) -> bool {
        self.released.is_none() && self.release_sent.is_none()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Collecting overlap digits.
    Collecting,
    /// Outbound placed, no answer yet.
    Routing,
    Answered,
    /// One side is gone; waiting for the other's `Released`.
    Clearing,
}

#[derive(Debug)]
struct Call {
    id: CallId,
    origin: Origin,
    phase: Phase,
    setup: Setup,
    setup_out: Option<Setup>,
    /// The route the call took (kept whole, so a reload that changes the
    /// routes does not touch calls in progress).
    route: Option<std::sync::Arc<Route>>,
    next_target: usize,
    attempt: u8,
    inbound: Leg,
    outbound: Option<Leg>,
    setup_ack_sent: bool,
    proceeding_sent: bool,
    media_connected: bool,
    /// The bridge is parked (hold, call-waiting alert): the stream lives
    /// on detached, and the call's end must still disconnect it.
    media_parked: bool,
    /// A leg put the other on hold: no media bridge until it takes it off.
    held: bool,
    /// A leg needs its channel to itself for now: no media bridge.
    muted: bool,
    /// RTP streams whose bridge was stopped: the media pump frees a stopped
    /// stream, so a bridge needs a new one from the SIP leg.
    stopped_streams: Vec<u64>,
    start: Instant,
    pdd: Option<Instant>,
    /// The outbound leg reported alerting (for `tandem calls`).
    alerted: bool,
    answer: Option<Instant>,
    end: Option<Instant>,
    by: Option<By>,
    cause: Option<Cause>,
    setup_deadline: Option<Instant>,
    no_answer_deadline: Option<Instant>,
    /// The current attempt reported `Redirected` (number, reason); acted on
    /// at its `Released`.
    redirect_to: Option<(String, RedirectReason)>,
    /// Redirects followed so far.
    redirects: u8,
    /// After a followed redirect: the setup routed and placed from then on
    /// (the new called number, the redirecting party); `setup` stays as it
    /// arrived.
    redirected: Option<Setup>,
}

impl Call {
    fn in_ref(&self) -> LegRef {
        LegRef::inbound(self.id)
    }

    fn out_ref(&self) -> LegRef {
        LegRef::outbound(self.id, self.attempt)
    }

    fn deadlines(&self) -> impl Iterator<Item = Instant> + '_ {
        let guard = |l: &Leg| if l.released.is_none() { l.release_sent.map(|t| t + RELEASE_GUARD) } else { None };
        [self.setup_deadline, self.no_answer_deadline, guard(&self.inbound), self.outbound.as_ref().and_then(guard)].into_iter().flatten()
    }

    /// The RTP end of the call, if one leg has one.
    fn rtp(&self) -> Option<&RtpParams> {
        [Some(&self.inbound), self.outbound.as_ref()].into_iter().flatten().find_map(|l| match &l.media {
            Some(MediaEndpoint::Rtp(r)) => Some(r),
            _ => None,
        })
    }

    /// Note the first end of the call.
    fn ended(&mut self, by: By, cause: Cause, now: Instant) {
        if self.by.is_none() {
            self.by = Some(by);
            self.cause = Some(cause);
            self.end = Some(now);
        }
        self.phase = Phase::Clearing;
        self.setup_deadline = None;
        self.no_answer_deadline = None;
    }
}

/// The call control core (see the module docs).
#[derive(Debug)]
pub struct CallControl {
    cfg: CallControlConfig,
    ids: CallIds,
    calls: BTreeMap<CallId, Call>,
    out: VecDeque<Output>,
    drain_deadline: Option<Instant>,
}

impl CallControl {
    /// A core with these routes and limits, handing out ids from `ids`.
    pub fn new(cfg: CallControlConfig, ids: CallIds) -> CallControl {
        CallControl { cfg, ids, calls: BTreeMap::new(), out: VecDeque::new(), drain_deadline: None }
    }

    /// The router.
    pub fn router(&self) -> &Router {
        &self.cfg.router
    }

    /// Takes new routes, limits and the no-route cause (a configuration
    /// reload). Calls in progress keep the route they took; only calls
    /// routed from now on see the new ones. The CDR epoch is kept.
    pub fn reconfigure(&mut self, router: Router, max_calls: Option<usize>, no_route_cause: Cause) {
        self.cfg.router = router;
        self.cfg.max_calls = max_calls;
        self.cfg.no_route_cause = no_route_cause;
    }

    /// A new call arrived on a leg; returns the inbound [`LegRef`] the leg
    /// must use from now on. (This takes the place of
    /// [`LegEvent::Setup`], which [`CallControl::handle`] ignores.) Every call ends in exactly one CDR, refused
    /// ones included, once the leg has reported `Released`.
    pub fn incoming(&mut self, origin: Origin, mut setup: Setup, now: Instant) -> LegRef {
        let id = self.ids.next_id();
        if !origin.is_tdm() {
            // SIP has no overlap.
            setup.complete = true;
        }
        info!(call = %id, from = origin.name(), called = %setup.called, calling = ?setup.calling.as_ref().map(|p| &p.number), "incoming call");
        let mut call = Call {
            id,
            origin,
            phase: Phase::Collecting,
            setup,
            setup_out: None,
            route: None,
            next_target: 0,
            attempt: 0,
            inbound: Leg::default(),
            outbound: None,
            setup_ack_sent: false,
            proceeding_sent: false,
            media_connected: false,
            media_parked: false,
            held: false,
            muted: false,
            stopped_streams: Vec::new(),
            start: now,
            pdd: None,
            alerted: false,
            answer: None,
            end: None,
            by: None,
            cause: None,
            setup_deadline: None,
            no_answer_deadline: None,
            redirect_to: None,
            redirects: 0,
            redirected: None,
        };
        let refuse = if self.drain_deadline.is_some() {
            info!(call = %id, "refused: draining");
            Some(Cause::TEMPORARY_FAILURE)
        } else if self.cfg.max_calls.is_some_and(|m| self.calls.len() >= m) {
            warn!(call = %id, max_calls = self.cfg.max_calls, "refused: too many calls");
            Some(Cause::NO_CIRCUIT)
        } else {
            None
        };
        if let Some(cause) = refuse {
            release_leg(&mut self.out, &mut call, LegSide::Inbound, cause, now);
            call.ended(By::Gateway, cause, now);
        } else {
            self.route(&mut call, false, now);
        }
        let r = call.in_ref();
        self.calls.insert(id, call);
        r
    }

    /// A leg reports an event.
    pub fn handle(&mut self, leg: LegRef, ev: LegEvent, now: Instant) {
        let Some(mut call) = self.calls.remove(&leg.call) else {
            debug!(call = %leg.call, leg = %leg, ?ev, "event for no call");
            return;
        };
        if leg.side == LegSide::Outbound && (leg.attempt != call.attempt || call.outbound.is_none()) {
            debug!(call = %call.id, leg = %leg, ?ev, "stale event from an earlier attempt");
        } else if call.outbound.as_ref().is_some_and(|o| o.released.is_some()) && leg.side == LegSide::Outbound {
            debug!(call = %call.id, leg = %leg, ?ev, "event after Released");
        } else {
            match leg.side {
                LegSide::Inbound => self.inbound_event(&mut call, ev, now),
                LegSide::Outbound => self.outbound_event(&mut call, ev, now),
            }
        }
        self.finish_or_keep(call, now);
    }

    /// Run timers that are due.
    pub fn handle_timeout(&mut self, now: Instant) {
        let due: Vec<CallId> = self.calls.values().filter(|c| c.deadlines().any(|d| d <= now)).map(|c| c.id).collect();
        for id in due {
            let Some(mut call) = self.calls.remove(&id) else { continue };
            self.call_timeout(&mut call, now);
            self.finish_or_keep(call, now);
        }
        if self.drain_deadline.is_some_and(|d| d <= now) {
            let ids: Vec<CallId> = self.calls.keys().copied().collect();
            for id in ids {
                let Some(mut call) = self.calls.remove(&id) else { continue };
                self.clear_for_drain(&mut call, now);
                self.finish_or_keep(call, now);
            }
        }
    }

    /// When [`CallControl::handle_timeout`] should next be called.
    pub fn poll_timeout(&self) -> Option<Instant> {
        let calls = self.calls.values().flat_map(|c| c.deadlines()).min();
        let drain = self.drain_deadline.filter(|_| self.calls.values().any(|c| c.phase != Phase::Clearing));
        [calls, drain].into_iter().flatten().min()
    }

    /// The next thing to do, if any.
    pub fn poll_output(&mut self) -> Option<Output> {
        self.out.pop_front()
    }

    /// Refuse new calls (cause 41) and clear the remaining ones at `now +
    /// limit`: unanswered with 41, answered with 16.
    pub fn drain(&mut self, limit: Duration, now: Instant) {
        info!(calls = self.calls.len(), limit_s = limit.as_secs(), "draining");
        self.drain_deadline = Some(now + limit);
        if limit.is_zero() {
            self.handle_timeout(now);
        }
    }

    /// Whether draining was asked for.
    pub fn is_draining(&self) -> bool {
        self.drain_deadline.is_some()
    }

    /// No calls at all (not even clearing ones).
    pub fn is_idle(&self) -> bool {
        self.calls.is_empty()
    }

    /// Calls present, clearing ones included (what `max_calls` counts).
    pub fn active_calls(&self) -> usize {
        self.calls.len()
    }

    /// Every call present, clearing ones included, in id order (for the
    /// operator's `tandem calls`).
    pub fn calls(&self, now: Instant) -> Vec<CallInfo> {
        let tdm_in = |c: &Call| c.origin.is_tdm();
        let leg =
            |l: &Leg, r: LegRef, tdm: bool| LegInfo { leg: r, kind: if tdm { "tdm" } else { "sip" }, identity: l.identity.clone(), target: l.target.clone() };
        self.calls
            .values()
            .map(|c| {
                let mut inbound = leg(&c.inbound, c.in_ref(), tdm_in(c));
                if inbound.identity.interface.is_empty() {
                    inbound.identity.interface = c.origin.name().to_owned();
                }
                let outbound = c.outbound.as_ref().map(|o| {
                    let mut l = leg(o, c.out_ref(), !tdm_in(c));
                    if l.identity.interface.is_empty()
                        && let Some(Target::Sip { trunk, .. }) = &o.target
                    {
                        l.identity.interface = trunk.clone();
                    }
                    l
                });
                let state = match c.phase {
                    Phase::Clearing => CallState::Releasing,
                    Phase::Answered => CallState::Answered,
                    Phase::Routing if c.alerted => CallState::Ringing,
                    Phase::Collecting | Phase::Routing => CallState::Setup,
                };
                CallInfo {
                    id: c.id,
                    direction: if tdm_in(c) { "tdm-to-sip" } else { "sip-to-tdm" },
                    state,
                    calling: c.setup.calling.as_ref().map(|p| p.number.clone()).filter(|n| !n.is_empty()),
                    called: c.setup.called.clone(),
                    start: self.wall(c.start),
                    answer: c.answer.map(|a| self.wall(a)),
                    age: now.saturating_duration_since(c.start),
                    duration: c.answer.map(|a| c.end.unwrap_or(now).saturating_duration_since(a)),
                    inbound,
                    outbound,
                }
            })
            .collect()
    }

    /// Clears a call at the operator's request (`tandem hangup`): both legs
    /// are told to release with `cause` (the CDR says released by the
    /// gateway, with that cause, once both have reported `Released`). A
    /// call already clearing is left to finish. False when no such call is
    /// present.
    pub fn hangup(&mut self, id: CallId, cause: Cause, now: Instant) -> bool {
        let Some(mut call) = self.calls.remove(&id) else { return false };
        if call.phase == Phase::Clearing {
            debug!(call = %id, "hangup asked for a call already clearing");
        } else {
            info!(call = %id, %cause, "hangup asked for by the operator");
            call.ended(By::Gateway, cause, now);
            self.disconnect_media(&mut call);
            release_leg(&mut self.out, &mut call, LegSide::Outbound, cause, now);
            release_leg(&mut self.out, &mut call, LegSide::Inbound, cause, now);
        }
        self.finish_or_keep(call, now);
        true
    }

    fn route(&mut self, call: &mut Call, digit_timeout: bool, now: Instant) {
        let complete = call.setup.complete || digit_timeout;
        match self.cfg.router.lookup(&call.origin, &call.setup.called, complete) {
            Lookup::Route(i) => {
                let r = self.cfg.router.route(i);
                info!(call = %call.id, route = %r.name, called = %call.setup.called, "routed");
                call.route = Some(std::sync::Arc::new(r.clone()));
                call.phase = Phase::Routing;
                if !call.proceeding_sent {
                    call.proceeding_sent = true;
                    self.out.push_back(Output::Command(call.in_ref(), LegCommand::Proceeding));
                }
                if !self.originate_next(call, now) {
                    warn!(call = %call.id, "the route has no targets");
                    release_leg(&mut self.out, call, LegSide::Inbound, Cause::NO_CIRCUIT, now);
                    call.ended(By::Gateway, Cause::NO_CIRCUIT, now);
                }
            }
            Lookup::Incomplete => {
                if !call.setup_ack_sent {
                    call.setup_ack_sent = true;
                    debug!(call = %call.id, digits = %call.setup.called, "overlap: asking for more digits");
                    self.out.push_back(Output::Command(call.in_ref(), LegCommand::SetupAck));
                }
            }
            Lookup::NoMatch => {
                let cause = if digit_timeout { Cause::INVALID_NUMBER_FORMAT } else { self.cfg.no_route_cause };
                info!(call = %call.id, called = %call.setup.called, %cause, "no route");
                release_leg(&mut self.out, call, LegSide::Inbound, cause, now);
                call.ended(By::Gateway, cause, now);
            }
        }
    }

    /// Place the next target of the call's route; false if none is left.
    fn originate_next(&mut self, call: &mut Call, now: Instant) -> bool {
        let Some(route) = call.route.clone() else { return false };
        let Some(t) = route.targets.get(call.next_target) else { return false };
        call.next_target += 1;
        call.attempt = call.attempt.saturating_add(1);
        let setup = translate(&route, call.redirected.as_ref().unwrap_or(&call.setup));
        let calling = setup.calling.as_ref().map(|p| p.number.as_str()).unwrap_or("");
        let target = t.resolve(&setup.called, calling);
        info!(call = %call.id, attempt = call.attempt, ?target, called = %setup.called, "placing outbound leg");
        call.outbound = Some(Leg { target: Some(target.clone()), ..Leg::default() });
        call.setup_out = Some(setup.clone());
        call.setup_deadline = Some(now + route.setup_timeout);
        call.no_answer_deadline = Some(now + route.no_answer);
        self.out.push_back(Output::Originate { leg: call.out_ref(), target, setup });
        true
    }

    fn inbound_event(&mut self, call: &mut Call, ev: LegEvent, now: Instant) {
        match ev {
            LegEvent::Digits { digits, complete } => {
                if call.phase == Phase::Collecting && call.by.is_none() {
                    call.setup.called.push_str(&digits);
                    call.setup.complete |= complete;
                    self.route(call, false, now);
                } else {
                    debug!(call = %call.id, %digits, "digits after routing ignored (outbound legs are en bloc)");
                }
            }
            LegEvent::DigitTimeout => {
                if call.phase == Phase::Collecting && call.by.is_none() {
                    debug!(call = %call.id, digits = %call.setup.called, "digit timeout");
                    self.route(call, true, now);
                }
            }
            LegEvent::Media(ep) => {
                call.inbound.media = Some(ep.clone());
                self.media_changed(call, LegSide::Inbound, ep);
            }
            LegEvent::Dtmf { digit, duration_ms } => {
                if let Some(o) = &call.outbound
                    && o.active()
                {
                    self.out.push_back(Output::Command(call.out_ref(), LegCommand::Dtmf { digit, duration_ms }));
                }
            }
            LegEvent::Flash => {
                if call.phase == Phase::Answered
                    && let Some(o) = &call.outbound
                    && o.active()
                {
                    self.out.push_back(Output::Command(call.out_ref(), LegCommand::Flash));
                }
            }
            LegEvent::Identity(id) => call.inbound.identity = id,
            LegEvent::Hold(_) | LegEvent::Mute(_) | LegEvent::Transfer { .. } => self.hold_event(call, LegSide::Inbound, ev),
            LegEvent::Released(rel) => {
                info!(call = %call.id, cause = %rel.cause, wire = ?rel.wire, "inbound leg released");
                let cause = rel.cause;
                call.inbound.released = Some(rel);
                call.ended(By::Inbound, cause, now);
                self.disconnect_media(call);
                if call.outbound.as_ref().is_some_and(Leg::active) {
                    release_leg(&mut self.out, call, LegSide::Outbound, cause, now);
                }
            }
            LegEvent::Setup(_)
            | LegEvent::Proceeding
            | LegEvent::Progress { .. }
            | LegEvent::Alerting { .. }
            | LegEvent::Answered { .. }
            | LegEvent::Redirected { .. } => {
                debug!(call = %call.id, ?ev, "unexpected event from the inbound leg ignored");
            }
        }
    }

    fn outbound_event(&mut self, call: &mut Call, ev: LegEvent, now: Instant) {
        let inbound_up = call.inbound.active();
        match ev {
            LegEvent::Proceeding => {
                call.setup_deadline = None;
                if !call.proceeding_sent && inbound_up {
                    call.proceeding_sent = true;
                    self.out.push_back(Output::Command(call.in_ref(), LegCommand::Proceeding));
                }
            }
            LegEvent::Progress { inband } => {
                call.setup_deadline = None;
                if inband && call.pdd.is_none() {
                    call.pdd = Some(now);
                }
                if inbound_up && call.phase == Phase::Routing {
                    self.out.push_back(Output::Command(call.in_ref(), LegCommand::Progress { inband }));
                }
            }
            LegEvent::Alerting { inband } => {
                call.setup_deadline = None;
                call.pdd.get_or_insert(now);
                call.alerted = true;
                debug!(call = %call.id, inband, "alerting");
                if inbound_up && call.phase == Phase::Routing {
                    self.out.push_back(Output::Command(call.in_ref(), LegCommand::Alerting { inband }));
                }
            }
            LegEvent::Answered { connected } => {
                if call.phase == Phase::Routing {
                    info!(call = %call.id, attempt = call.attempt, "answered");
                    call.phase = Phase::Answered;
                    call.answer = Some(now);
                    call.setup_deadline = None;
                    call.no_answer_deadline = None;
                    if inbound_up {
                        self.out.push_back(Output::Command(call.in_ref(), LegCommand::Answer { connected }));
                    }
                }
            }
            LegEvent::Media(ep) => {
                if let Some(o) = call.outbound.as_mut() {
                    o.media = Some(ep.clone());
                }
                self.media_changed(call, LegSide::Outbound, ep);
            }
            LegEvent::Dtmf { digit, duration_ms } => {
                if inbound_up {
                    self.out.push_back(Output::Command(call.in_ref(), LegCommand::Dtmf { digit, duration_ms }));
                }
            }
            LegEvent::Flash => {
                if inbound_up && call.phase == Phase::Answered {
                    self.out.push_back(Output::Command(call.in_ref(), LegCommand::Flash));
                }
            }
            LegEvent::Identity(id) => {
                if let Some(o) = call.outbound.as_mut() {
                    o.identity = id;
                }
            }
            LegEvent::Hold(_) | LegEvent::Mute(_) | LegEvent::Transfer { .. } => self.hold_event(call, LegSide::Outbound, ev),
            LegEvent::Redirected { to, reason } => {
                if call.phase == Phase::Routing {
                    info!(call = %call.id, attempt = call.attempt, %to, ?reason, "outbound leg redirected");
                    call.redirect_to = Some((to, reason));
                } else {
                    debug!(call = %call.id, %to, "redirect after the answer ignored");
                }
            }
            LegEvent::Released(rel) => {
                info!(call = %call.id, attempt = call.attempt, cause = %rel.cause, wire = ?rel.wire, "outbound leg released");
                let cause = rel.cause;
                if let Some(o) = call.outbound.as_mut() {
                    o.released = Some(rel);
                }
                self.outbound_failed(call, cause, By::Outbound, now);
            }
            LegEvent::Setup(_) | LegEvent::Digits { .. } | LegEvent::DigitTimeout => {
                debug!(call = %call.id, ?ev, "unexpected event from the outbound leg ignored");
            }
        }
    }

    /// The current outbound attempt ended (its `Released`, or a gateway
    /// timer already told it to release): fail over or end the call.
    fn outbound_failed(&mut self, call: &mut Call, cause: Cause, by: By, now: Instant) {
        self.disconnect_media(call);
        if let Some((to, reason)) = call.redirect_to.take()
            && call.phase == Phase::Routing
            && call.by.is_none()
            && call.inbound.active()
            && self.follow_redirect(call, to, reason, now)
        {
            return;
        }
        let can_fail_over =
            call.phase == Phase::Routing && call.by.is_none() && call.inbound.active() && call.route.as_ref().is_some_and(|r| r.fails_over_on(cause));
        if can_fail_over {
            let previous = call.outbound.take();
            if self.originate_next(call, now) {
                info!(call = %call.id, %cause, attempt = call.attempt, "failing over to the next target");
                return;
            }
            call.outbound = previous;
        }
        call.ended(by, cause, now);
        if call.inbound.active() {
            release_leg(&mut self.out, call, LegSide::Inbound, cause, now);
        }
    }

    /// Place a new attempt to the number the last attempt was redirected
    /// to, routed afresh for the call's origin; false (nothing changed) when
    /// the loop guard is reached or no route with targets allows it.
    fn follow_redirect(&mut self, call: &mut Call, to: String, reason: RedirectReason, now: Instant) -> bool {
        if call.redirects >= MAX_REDIRECTS {
            warn!(call = %call.id, %to, redirects = call.redirects, "too many redirects; not followed");
            return false;
        }
        let Lookup::Route(i) = self.cfg.router.lookup(&call.origin, &to, true) else {
            info!(call = %call.id, %to, from = call.origin.name(), "redirect to a number no route allows for this origin; not followed");
            return false;
        };
        let route = self.cfg.router.route(i);
        if route.targets.is_empty() {
            info!(call = %call.id, %to, route = %route.name, "redirect to a route with no targets; not followed");
            return false;
        }
        let base = call.redirected.as_ref().unwrap_or(&call.setup);
        let count = base.redirect.as_ref().map_or(0, |r| r.count).saturating_add(1);
        let mut setup = base.clone();
        setup.redirect = Some(Redirect { from: Party::number(&base.called), reason, count });
        setup.called = to;
        setup.complete = true;
        info!(call = %call.id, route = %route.name, called = %setup.called, redirecting = %base.called, "following the redirect");
        call.route = Some(std::sync::Arc::new(route.clone()));
        call.next_target = 0;
        call.redirects += 1;
        call.redirected = Some(setup);
        call.outbound = None;
        self.originate_next(call, now)
    }

    fn call_timeout(&mut self, call: &mut Call, now: Instant) {
        if call.setup_deadline.is_some_and(|d| d <= now) {
            call.setup_deadline = None;
            info!(call = %call.id, attempt = call.attempt, "outbound setup timer expired");
            let cause = Cause::RECOVERY_ON_TIMER_EXPIRY;
            release_leg(&mut self.out, call, LegSide::Outbound, cause, now);
            if let Some(o) = call.outbound.as_mut() {
                // The attempt is over for us; its late Released is stale
                // once a new attempt starts.
                o.released.get_or_insert(Release { cause, wire: Some("setup timer expired".into()) });
            }
            self.outbound_failed(call, cause, By::Gateway, now);
            if call.phase == Phase::Clearing {
                // No failover: the attempt still owes us its Released.
                if let Some(o) = call.outbound.as_mut() {
                    o.released = None;
                }
            }
        }
        if call.no_answer_deadline.is_some_and(|d| d <= now) {
            call.no_answer_deadline = None;
            info!(call = %call.id, "no answer");
            let cause = Cause::NO_ANSWER;
            call.ended(By::Gateway, cause, now);
            self.disconnect_media(call);
            release_leg(&mut self.out, call, LegSide::Outbound, cause, now);
            release_leg(&mut self.out, call, LegSide::Inbound, cause, now);
        }
        for side in [LegSide::Inbound, LegSide::Outbound] {
            let leg = match side {
                LegSide::Inbound => Some(&mut call.inbound),
                LegSide::Outbound => call.outbound.as_mut(),
            };
            if let Some(l) = leg
                && l.released.is_none()
                && l.release_sent.is_some_and(|t| t + RELEASE_GUARD <= now)
            {
                warn!(call = %call.id, ?side, "leg never reported Released; taking it as gone");
                let cause = call.cause.unwrap_or(Cause::RECOVERY_ON_TIMER_EXPIRY);
                l.released = Some(Release { cause, wire: Some("no Released from the leg".into()) });
            }
        }
    }

    fn clear_for_drain(&mut self, call: &mut Call, now: Instant) {
        if call.phase == Phase::Clearing {
            return;
        }
        let cause = if call.phase == Phase::Answered { Cause::NORMAL_CLEARING } else { Cause::TEMPORARY_FAILURE };
        info!(call = %call.id, %cause, "drain limit reached: clearing");
        call.ended(By::Gateway, cause, now);
        self.disconnect_media(call);
        release_leg(&mut self.out, call, LegSide::Outbound, cause, now);
        release_leg(&mut self.out, call, LegSide::Inbound, cause, now);
    }

    /// Hold, mute and transfer asked for by the leg on `side`.
    fn hold_event(&mut self, call: &mut Call, side: LegSide, ev: LegEvent) {
        let (other_up, other_ref) = match side {
            LegSide::Inbound => (call.outbound.as_ref().is_some_and(Leg::active), call.out_ref()),
            LegSide::Outbound => (call.inbound.active(), call.in_ref()),
        };
        if call.phase != Phase::Answered {
            debug!(call = %call.id, ?side, ?ev, "hold, mute or transfer before the answer ignored");
            return;
        }
        match ev {
            LegEvent::Hold(on) => {
                info!(call = %call.id, ?side, on, "hold");
                call.held = on;
                if on {
                    self.park_media(call);
                }
                if other_up {
                    self.out.push_back(Output::Command(other_ref, LegCommand::Hold(on)));
                }
                self.connect_media(call);
            }
            LegEvent::Mute(on) => {
                debug!(call = %call.id, ?side, on, "media muted for the leg's own use");
                call.muted = on;
                if on {
                    // Parked, not stopped: the RTP session pauses and resumes as it was, unknown to the far end.
                    self.park_media(call);
                } else if !call.held && other_up && call.rtp().is_some_and(|r| call.stopped_streams.contains(&r.stream)) {
                    // The stopped stream is gone: the RTP leg renews its media (a re-INVITE, sendrecv).
                    self.out.push_back(Output::Command(other_ref, LegCommand::Hold(false)));
                }
                self.connect_media(call);
            }
            LegEvent::Transfer { to, await_result } => {
                info!(call = %call.id, ?side, %to, "transfer");
                if other_up {
                    self.out.push_back(Output::Command(other_ref, LegCommand::Transfer { to, await_result }));
                }
            }
            _ => {}
        }
    }

    fn media_changed(&mut self, call: &mut Call, side: LegSide, ep: MediaEndpoint) {
        if call.phase == Phase::Clearing {
            return;
        }
        if call.media_connected {
            match &ep {
                MediaEndpoint::Rtp(rtp) => self.out.push_back(Output::Media(MediaCommand::Update { call: call.id, rtp: rtp.clone() })),
                MediaEndpoint::Tdm { .. } => {
                    // A different channel: bridge afresh.
                    self.out.push_back(Output::Media(MediaCommand::Disconnect { call: call.id }));
                    call.media_connected = false;
                }
            }
        }
        // Pass an RTP change to the other leg when it is RTP too.
        let (other, other_ref) = match side {
            LegSide::Inbound => (call.outbound.as_ref(), call.out_ref()),
            LegSide::Outbound => (Some(&call.inbound), call.in_ref()),
        };
        if let (MediaEndpoint::Rtp(_), Some(o)) = (&ep, other)
            && o.active()
            && matches!(o.media, Some(MediaEndpoint::Rtp(_)))
        {
            self.out.push_back(Output::Command(other_ref, LegCommand::Media(ep.clone())));
        }
        self.connect_media(call);
    }

    /// Bridge the legs' media if both are known, one TDM and one RTP, and
    /// neither hold nor mute stands in the way.
    fn connect_media(&mut self, call: &mut Call) {
        let stopped = call.rtp().is_some_and(|r| call.stopped_streams.contains(&r.stream));
        if !call.media_connected && !call.held && !call.muted && !stopped && call.phase != Phase::Clearing {
            let a = call.inbound.media.as_ref();
            let b = call.outbound.as_ref().and_then(|o| o.media.as_ref());
            let pair = match (a, b) {
                (Some(MediaEndpoint::Tdm { channo, law }), Some(MediaEndpoint::Rtp(rtp)))
                | (Some(MediaEndpoint::Rtp(rtp)), Some(MediaEndpoint::Tdm { channo, law })) => Some((*channo, *law, rtp.clone())),
                _ => None,
            };
            if let Some((tdm_channo, tdm_law, rtp)) = pair {
                debug!(call = %call.id, tdm_channo, stream = rtp.stream, "media connected");
                call.media_connected = true;
                call.media_parked = false;
                self.out.push_back(Output::Media(MediaCommand::Connect { call: call.id, tdm_channo, tdm_law, rtp }));
            }
        }
    }

    /// Hold: the bridge stops, the RTP stream stays (see [`MediaCommand::Park`]).
    fn park_media(&mut self, call: &mut Call) {
        if call.media_connected {
            call.media_connected = false;
            call.media_parked = true;
            self.out.push_back(Output::Media(MediaCommand::Park { call: call.id }));
        }
    }

    fn disconnect_media(&mut self, call: &mut Call) {
        if call.media_connected || call.media_parked {
            call.media_connected = false;
            call.media_parked = false;
            if let Some(stream) = call.rtp().map(|r| r.stream) {
                call.stopped_streams.push(stream);
            }
            self.out.push_back(Output::Media(MediaCommand::Disconnect { call: call.id }));
        }
    }

    /// Emit the CDR and forget the call when both legs are gone; keep it otherwise.
    fn finish_or_keep(&mut self, call: Call, now: Instant) {
        let done = call.inbound.gone() && call.outbound.as_ref().is_none_or(Leg::gone);
        if !done {
            self.calls.insert(call.id, call);
            return;
        }
        let mut call = call;
        self.disconnect_media(&mut call);
        let rec = self.cdr(&call, now);
        info!(call = %call.id, cause = rec.cause, released_by = rec.released_by, duration_s = rec.duration_s, "call ended");
        self.out.push_back(Output::Cdr(Box::new(rec)));
    }

    fn wall(&self, t: Instant) -> SystemTime {
        let (i0, s0) = self.cfg.epoch;
        if t >= i0 { s0 + (t - i0) } else { s0.checked_sub(i0 - t).unwrap_or(SystemTime::UNIX_EPOCH) }
    }

    fn cdr(&self, c: &Call, now: Instant) -> CdrRecord {
        let end = c.end.unwrap_or(now);
        let tdm_in = c.origin.is_tdm();
        let kind = |tdm: bool| if tdm { "tdm" } else { "sip" };
        let leg = |l: &Leg, tdm: bool| CdrLeg {
            kind: kind(tdm),
            interface: l.identity.interface.clone(),
            span: l.identity.span,
            channel: l.identity.channel,
            sip_call_id: l.identity.sip_call_id.clone(),
            cause: l.released.as_ref().map(|r| r.cause.0),
            wire: l.released.as_ref().and_then(|r| r.wire.clone()),
            target: l.target.as_ref().map(|t| match t {
                Target::Sip { trunk, uri } => uri.clone().unwrap_or_else(|| trunk.clone()),
                Target::Tdm { group } => group.clone(),
            }),
        };
        let mut inbound = leg(&c.inbound, tdm_in);
        if inbound.interface.is_empty() {
            inbound.interface = c.origin.name().to_owned();
        }
        let outbound = c.outbound.as_ref().map(|o| {
            let mut l = leg(o, !tdm_in);
            if l.interface.is_empty()
                && let Some(Target::Sip { trunk, .. }) = &o.target
            {
                l.interface = trunk.clone();
            }
            l
        });
        let party = |p: &Option<Party>| p.as_ref().map(|p| p.number.clone()).filter(|n| !n.is_empty());
        CdrRecord {
            call_id: c.id.to_string(),
            direction: if tdm_in { "tdm-to-sip" } else { "sip-to-tdm" },
            start: rfc3339(self.wall(c.start)),
            answer: c.answer.map(|a| rfc3339(self.wall(a))),
            end: rfc3339(self.wall(end)),
            duration_s: c.answer.map(|a| secs_ms(end.saturating_duration_since(a))).unwrap_or(0.0),
            setup_s: secs_ms(c.answer.unwrap_or(end).saturating_duration_since(c.start)),
            pdd_s: c.pdd.map(|p| secs_ms(p.saturating_duration_since(c.start))),
            released_by: c.by.unwrap_or(By::Gateway).name(),
            cause: c.cause.unwrap_or(Cause::NORMAL_CLEARING).0,
            calling: party(&c.setup.calling),
            calling_out: c.setup_out.as_ref().and_then(|s| party(&s.calling)),
            calling_name: c.setup.calling.as_ref().and_then(|p| p.name.clone()),
            called: c.setup.called.clone(),
            called_out: c.setup_out.as_ref().map(|s| s.called.clone()),
            redirecting: c.setup.redirect.as_ref().map(|r| r.from.number.clone()).filter(|n| !n.is_empty()),
            route: c.route.as_ref().map(|r| r.name.clone()),
            attempts: c.attempt,
            inbound,
            outbound,
            media: None,
        }
    }
}

/// Tell a leg to release, unless it is gone or already told.
fn release_leg(out: &mut VecDeque<Output>, call: &mut Call, side: LegSide, cause: Cause, now: Instant) {
    let r = match side {
        LegSide::Inbound => call.in_ref(),
        LegSide::Outbound => call.out_ref(),
    };
    let leg = match side {
        LegSide::Inbound => Some(&mut call.inbound),
        LegSide::Outbound => call.outbound.as_mut(),
    };
    if let Some(l) = leg
        && l.active()
    {
        l.release_sent = Some(now);
        out.push_back(Output::Command(r, LegCommand::Release(Release::cause(cause))));
    }
}

/// The outbound setup: translated numbers, en bloc.
fn translate(route: &Route, s: &Setup) -> Setup {
    let mut o = s.clone();
    o.called = route.translate_called.apply(&s.called);
    o.complete = true;
    if let Some(p) = o.calling.as_mut()
        && !p.number.is_empty()
    {
        p.number = route.translate_calling.apply(&p.number);
    }
    o
}
