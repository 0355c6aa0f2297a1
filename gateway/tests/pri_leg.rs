//! The PRI TDM leg against the simulator: our `PriInterface` (through the
//! `pri_io` shell on the simulated D-channel) and a network-side (or
//! user-side) `isdn_q931::Pri` in this process as the far end, on the
//! span's external D-channel socket.
//!
//! Every wait is bounded ([`Harness::run_until`] gives up after its
//! timeout; the far end's socket is non-blocking).

use std::os::fd::{AsRawFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use hw_sim::runner::Sim;
use isdn_q931::q931::{self, ChannelPref, ChannelRef, Command, Event, Number, SetupRequest, Side, SwitchType};
use isdn_q931::wire::CauseValue;
use isdn_q931::wire::ie::{Presentation as QPres, ProgressDescription, RedirectReason as QReason, Screening as QScreen, TypeOfNumber};
use isdn_q931::{Output, Pri, PriConfig as StackConfig};
use nix::sys::socket::{self, AddressFamily, MsgFlags, SockFlag, SockType, UnixAddr};
use tandem_drivers::{ChanConfig, Ctl, LineConfig, Signalling};
use tandem_gateway::call::model::{
    CallId, Cause, Law, LegCommand, LegEvent, LegIdentity, LegRef, MediaEndpoint, Party, Presentation, RedirectReason, Release, Setup,
};
use tandem_gateway::config::pri::PriConfig;
use tandem_gateway::tdm::hunt::{HuntStrategy, SpanGroup};
use tandem_gateway::tdm::pri::{PriInput, PriInterface, PriIo};
use tandem_gateway::tdm::pri_io::{self, AlarmEvent, DChannel, DChannelEvent};
use tandem_gateway::tdm::{Tdm, TdmInput, TdmIo, TdmOutput};

const SIM_ONE: &str = r#"
[[card]]
model = "te120p"
[[card.span]]
type = "t1"
far_end = "external"
"#;

const SIM_TWO: &str = r#"
[[card]]
model = "te420p"
[[card.span]]
type = "t1"
far_end = "external"
[[card.span]]
type = "t1"
far_end = "external"
"#;

/// Configures T1 span `span` (channels `base..base+23`) as a PRI: 23 B-channels and the D-channel.
fn configure_t1_pri(dir: &Path, span: u32, base: u32) {
    let ctl = Ctl::open(dir).unwrap();
    let lc = dahdi_sys::DAHDI_CONFIG_ESF | dahdi_sys::DAHDI_CONFIG_B8ZS;
    ctl.configure_span(&LineConfig { span, timing: 1, lbo: 0, lineconfig: lc }, "t1").unwrap();
    for ch in base..base + 23 {
        ctl.configure_channel(&ChanConfig { chan: ch, signalling: Signalling::Clear, law: None, idle_bits: 0 }).unwrap();
    }
    ctl.configure_channel(&ChanConfig { chan: base + 23, signalling: Signalling::Dchan, law: None, idle_bits: 0 }).unwrap();
    ctl.startup(span).unwrap();
}

/// The far end: a Q.931 stack on the external D-channel socket.
struct Far {
    fd: OwnedFd,
    pri: Pri,
    events: Vec<Event>,
}

impl Far {
    fn connect(path: &Path, switch: SwitchType, side: Side) -> Far {
        let deadline = Instant::now() + Duration::from_secs(5);
        let fd = loop {
            let fd = socket::socket(AddressFamily::Unix, SockType::SeqPacket, SockFlag::SOCK_CLOEXEC | SockFlag::SOCK_NONBLOCK, None).expect("socket");
            match socket::connect(fd.as_raw_fd(), &UnixAddr::new(path).unwrap()) {
                Ok(()) => break fd,
                Err(e) if Instant::now() < deadline => {
                    let _ = e;
                    std::thread::sleep(Duration::from_millis(20));
                }
                Err(e) => panic!("connect {}: {e}", path.display()),
            }
        };
        let pri = Pri::new(StackConfig::new(q931::Config::new(switch, side)), Instant::now()).unwrap();
        let mut far = Far { fd, pri, events: Vec::new() };
        far.flush();
        far
    }

    fn flush(&mut self) {
        while let Some(o) = self.pri.poll_output() {
            match o {
                Output::Transmit { frame, .. } => {
                    let _ = socket::send(self.fd.as_raw_fd(), &frame, MsgFlags::MSG_DONTWAIT);
                }
                Output::Event(e) => self.events.push(e),
                Output::Trace(_) => {}
            }
        }
    }

    fn pump(&mut self, now: Instant) {
        let mut buf = [0u8; 4096];
        while let Ok(n) = socket::recv(self.fd.as_raw_fd(), &mut buf, MsgFlags::MSG_DONTWAIT) {
            if n == 0 {
                break;
            }
            self.pri.handle_frame(0, &buf[..n], now);
        }
        if self.pri.poll_timeout().is_some_and(|t| t <= now) {
            self.pri.handle_timeout(now);
        }
        self.flush();
    }

    fn command(&mut self, cmd: Command) -> Option<q931::CallId> {
        let r = self.pri.command(cmd, Instant::now()).expect("far-end command");
        self.flush();
        r
    }

    fn incoming(&self) -> Option<Box<q931::IncomingCall>> {
        self.events.iter().rev().find_map(|e| match e {
            Event::IncomingCall(ic) => Some(ic.clone()),
            _ => None,
        })
    }

    fn released(&self, call: q931::CallId) -> Option<u8> {
        self.events.iter().find_map(|e| match e {
            Event::Released { call: c, cause } if *c == call => Some(cause.value.0),
            _ => None,
        })
    }

    fn up(&self) -> bool {
        self.pri.active_link().is_some()
    }
}

/// Our side: the interfaces under `Tdm`, their D-channel tasks and the alarm watch.
struct Harness {
    _rt: tokio::runtime::Runtime,
    _sim: Sim,
    _tmp: tempfile::TempDir,
    control: PathBuf,
    tdm: Tdm,
    dchans: Vec<DChannel>,
    alarms: tokio::sync::mpsc::UnboundedReceiver<AlarmEvent>,
    far: Vec<Far>,
    /// Incoming calls as call control saw them, with the leg we gave each.
    incoming: Vec<(LegRef, Setup, LegIdentity, MediaEndpoint)>,
    events: Vec<(LegRef, LegEvent)>,
    next_call: u64,
}

fn pri_config(name: &str, span: u32, side: &str) -> PriConfig {
    let text = format!(
        "name = \"{name}\"\nspans = [{span}]\nswitch = \"ni2\"\nside = \"{side}\"\ncountry_code = \"1\"\ntrace = true\n[timers]\nt200 = 500\nt303 = 2000\n"
    );
    toml::from_str(&text).expect("PRI section")
}

impl Harness {
    /// The simulator with `sim`, one PRI interface per span (`sides`: our
    /// side on each), far ends on the other side, a group "out" over all
    /// interfaces with `hunt`.
    fn start(sim: &str, sides: &[Side], hunt: HuntStrategy) -> Harness {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("dahdi");
        let control = tmp.path().join("c.sock");
        let sim = Sim::start(sim, "test", &dir, &control).unwrap();
        let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().unwrap();
        let _g = rt.enter();
        let mut tdm = Tdm::new();
        let mut dchans = Vec::new();
        let mut far = Vec::new();
        let mut names = Vec::new();
        for (i, side) in sides.iter().enumerate() {
            let span = i as u32 + 1;
            configure_t1_pri(&dir, span, 24 * i as u32 + 1);
            let name = format!("pri{span}");
            let side_name = if *side == Side::User { "user" } else { "network" };
            let settings = pri_io::resolve(&pri_config(&name, span, side_name), &dir).expect("resolve");
            assert_eq!(settings.dchannel_channo(), Some(24 * span), "D-channel of span {span}");
            dchans.push(pri_io::spawn_dchannel(&dir, settings.dchannel_channo().unwrap()).expect("D-channel"));
            tdm.add_interface(Box::new(PriInterface::new(settings, Instant::now()).unwrap()));
            let sock = PathBuf::from(format!("{}.span{span}", control.display()));
            far.push(Far::connect(&sock, SwitchType::Ni2, side.peer()));
            names.push(name);
        }
        tdm.add_group(SpanGroup::new("out", names, hunt));
        let alarms = pri_io::spawn_alarm_watch(&dir, (1..=sides.len() as u32).collect(), Duration::from_millis(50));
        let mut h = Harness { _rt: rt, _sim: sim, _tmp: tmp, control, tdm, dchans, alarms, far, incoming: Vec::new(), events: Vec::new(), next_call: 1 };
        assert!(
            h.run_until(Duration::from_secs(10), |h| h.far.iter().all(Far::up) && (0..sides.len()).all(|i| h.tdm.interface(i).unwrap().is_up())),
            "links up"
        );
        h
    }

    fn step(&mut self) {
        let now = Instant::now();
        for (i, d) in self.dchans.iter_mut().enumerate() {
            while let Ok(ev) = d.rx.try_recv() {
                match ev {
                    DChannelEvent::Frame(frame) => self.tdm.handle_input(i, TdmInput::Pri(PriInput::Frame { link: 0, frame }), now),
                    DChannelEvent::Line(_) => {}
                    DChannelEvent::Failed(e) => panic!("D-channel {i} failed: {e}"),
                }
            }
        }
        while let Ok(a) = self.alarms.try_recv() {
            self.tdm.span_alarm(a.span, a.in_alarm, now);
        }
        if self.tdm.poll_timeout().is_some_and(|t| t <= now) {
            self.tdm.handle_timeout(now);
        }
        while let Some((i, out)) = self.tdm.poll_output() {
            match out {
                TdmOutput::Io(TdmIo::Pri(PriIo::Frame { frame, .. })) => self.dchans[i].tx.try_send(frame).expect("D-channel queue"),
                TdmOutput::Io(TdmIo::Pri(PriIo::Trace(_)) | TdmIo::Analog(_) | TdmIo::Cas(_)) => {}
                TdmOutput::Incoming { key, setup, identity, media } => {
                    let leg = LegRef::inbound(CallId(self.next_call));
                    self.next_call += 1;
                    self.tdm.accept(i, key, leg);
                    self.incoming.push((leg, setup, identity, media));
                }
                TdmOutput::Leg(leg, ev) => self.events.push((leg, ev)),
            }
        }
        for f in &mut self.far {
            f.pump(now);
        }
    }

    fn run_until(&mut self, limit: Duration, mut cond: impl FnMut(&Harness) -> bool) -> bool {
        let deadline = Instant::now() + limit;
        loop {
            self.step();
            if cond(self) {
                return true;
            }
            if Instant::now() >= deadline {
                return false;
            }
            std::thread::sleep(Duration::from_millis(2));
        }
    }

    fn wait(&mut self, what: &str, cond: impl FnMut(&Harness) -> bool) {
        assert!(self.run_until(Duration::from_secs(8), cond), "timed out waiting for {what}; leg events so far: {:#?}", self.events);
    }

    fn events_of(&self, leg: LegRef) -> Vec<LegEvent> {
        self.events.iter().filter(|(l, _)| *l == leg).map(|(_, e)| e.clone()).collect()
    }

    fn has(&self, leg: LegRef, f: impl Fn(&LegEvent) -> bool) -> bool {
        self.events.iter().any(|(l, e)| *l == leg && f(e))
    }

    fn released(&self, leg: LegRef) -> Vec<Cause> {
        self.events_of(leg)
            .into_iter()
            .filter_map(|e| match e {
                LegEvent::Released(r) => Some(r.cause),
                _ => None,
            })
            .collect()
    }

    fn outbound(&mut self) -> LegRef {
        let leg = LegRef::outbound(CallId(self.next_call), 1);
        self.next_call += 1;
        leg
    }

    /// Waits for the far end `f` to see a new SETUP; returns it.
    fn far_incoming(&mut self, f: usize, before: usize) -> Box<q931::IncomingCall> {
        self.wait("the far end's SETUP", |h| h.far[f].events.iter().filter(|e| matches!(e, Event::IncomingCall(_))).count() > before);
        self.far[f].incoming().unwrap()
    }
}

fn count_incoming(f: &Far) -> usize {
    f.events.iter().filter(|e| matches!(e, Event::IncomingCall(_))).count()
}

fn setup(called: &str, calling: &str) -> Setup {
    Setup { called: called.into(), complete: true, calling: Some(Party::number(calling)), ..Setup::default() }
}

#[test]
fn incoming_setup_becomes_a_leg_setup_with_normalised_numbers_and_its_channel() {
    let mut h = Harness::start(SIM_ONE, &[Side::User], HuntStrategy::Ascending);
    let req = SetupRequest {
        called: Number::new("2125551234").with_ton(TypeOfNumber::National),
        calling: Some(Number::new("2125550000").with_ton(TypeOfNumber::National).with_presentation(QPres::Restricted, QScreen::NetworkProvided)),
        redirecting: Some((Number::new("442071234567").with_ton(TypeOfNumber::International), QReason::Busy)),
        channel: ChannelPref::Exclusive(ChannelRef::new(0, 5)),
        ..SetupRequest::new("")
    };
    let far_call = h.far[0].command(Command::Setup(Box::new(req))).unwrap();
    h.wait("the incoming call", |h| !h.incoming.is_empty());
    let (leg, s, id, media) = h.incoming[0].clone();
    assert_eq!(s.called, "+12125551234");
    assert!(s.complete);
    let calling = s.calling.as_ref().expect("calling party");
    assert_eq!(calling.number, "+12125550000");
    assert_eq!(calling.presentation, Presentation::Restricted);
    let redirect = s.redirect.as_ref().expect("redirecting party");
    assert_eq!(redirect.from.number, "+442071234567");
    assert_eq!(redirect.reason, RedirectReason::Busy);
    assert_eq!(media, MediaEndpoint::Tdm { channo: 5, law: Law::Ulaw });
    assert_eq!((id.interface.as_str(), id.span, id.channel), ("pri1", Some(1), Some(5)));

    // Call control answers: alerting with in-band ringback, then connect.
    h.tdm.command(leg, LegCommand::Alerting { inband: true }, Instant::now());
    h.wait("ALERTING at the far end", |h| h.far[0].events.iter().any(|e| matches!(e, Event::Alerting { inband: true, .. })));
    h.tdm.command(leg, LegCommand::Answer { connected: None }, Instant::now());
    h.wait("CONNECT at the far end", |h| h.far[0].events.iter().any(|e| matches!(e, Event::Connected { .. })));

    // The far end hangs up: exactly one Released, cause 16.
    h.far[0].command(Command::Disconnect { call: far_call, cause: CauseValue::NORMAL_CLEARING, inband: false });
    h.wait("the leg's release", |h| !h.released(leg).is_empty());
    h.run_until(Duration::from_millis(300), |_| false);
    assert_eq!(h.released(leg), [Cause::NORMAL_CLEARING]);
    assert!(h.tdm.interface(0).unwrap().channels().iter().all(|c| c.state == tandem_gateway::tdm::ChannelState::Idle), "channel 5 free again");
}

#[test]
fn originate_goes_out_on_the_hunted_channel_and_maps_alerting_progress_connect_and_our_release() {
    let mut h = Harness::start(SIM_ONE, &[Side::User], HuntStrategy::Descending);
    let leg = h.outbound();
    h.tdm.originate(leg, "out", &setup("+12125551234", "+442071234567"), Instant::now());
    let ic = h.far_incoming(0, 0);
    assert_eq!(ic.channel, ChannelRef::new(0, 23), "descending hunt takes the highest B-channel");
    assert_eq!((ic.called.digits.as_str(), ic.called.ton), ("2125551234", TypeOfNumber::National));
    let calling = ic.calling.as_ref().unwrap();
    assert_eq!((calling.digits.as_str(), calling.ton), ("442071234567", TypeOfNumber::International));
    h.wait("the leg's media", |h| h.has(leg, |e| *e == LegEvent::Media(MediaEndpoint::Tdm { channo: 23, law: Law::Ulaw })));

    let fc = ic.call;
    h.far[0].command(Command::Proceeding { call: fc, inband: false });
    h.far[0].command(Command::Progress { call: fc, description: ProgressDescription::InbandAvailable });
    h.wait("Progress{inband}", |h| h.has(leg, |e| *e == LegEvent::Progress { inband: true }));
    h.far[0].command(Command::Alerting { call: fc, inband: true });
    h.wait("Alerting{inband}", |h| h.has(leg, |e| *e == LegEvent::Alerting { inband: true }));
    h.far[0].command(Command::Connect { call: fc, connected: Some(Number::new("2125551234").with_ton(TypeOfNumber::National)) });
    h.wait("Answered", |h| h.has(leg, |e| matches!(e, LegEvent::Answered { .. })));
    let answered = h.events_of(leg).into_iter().find(|e| matches!(e, LegEvent::Answered { .. })).unwrap();
    let LegEvent::Answered { connected: Some(p) } = answered else { panic!("no connected party: {answered:?}") };
    assert_eq!(p.number, "+12125551234");
    assert!(h.has(leg, |e| *e == LegEvent::Proceeding));

    // We hang up with cause 16: the far end sees 16, the leg ends once.
    h.tdm.command(leg, LegCommand::Release(Release::cause(Cause::NORMAL_CLEARING)), Instant::now());
    h.wait("the leg's release", |h| !h.released(leg).is_empty());
    h.wait("the far end's release", |h| h.far[0].released(fc).is_some());
    h.run_until(Duration::from_millis(300), |_| false);
    assert_eq!(h.far[0].released(fc), Some(16));
    assert_eq!(h.released(leg), [Cause::NORMAL_CLEARING]);
}

#[test]
fn far_end_busy_or_unallocated_releases_the_outbound_leg_with_that_cause() {
    let mut h = Harness::start(SIM_ONE, &[Side::User], HuntStrategy::RoundRobin);
    for (k, cause) in [(0, CauseValue::USER_BUSY), (1, CauseValue::UNALLOCATED_NUMBER)] {
        let leg = h.outbound();
        h.tdm.originate(leg, "out", &setup("+12125551234", "5550000"), Instant::now());
        let ic = h.far_incoming(0, k);
        assert_eq!(ic.channel, ChannelRef::new(0, k as u8 + 1), "round robin moves on");
        assert_eq!(ic.calling.as_ref().unwrap().ton, TypeOfNumber::Unknown, "plain digits go out with unknown type");
        h.far[0].command(Command::Disconnect { call: ic.call, cause, inband: false });
        h.wait("the leg's release", |h| !h.released(leg).is_empty());
        h.run_until(Duration::from_millis(200), |_| false);
        assert_eq!(h.released(leg), [Cause(cause.0)]);
    }
}

#[test]
fn on_the_network_side_an_incoming_call_rejected_with_cause_1_reaches_the_user_side() {
    let mut h = Harness::start(SIM_ONE, &[Side::Network], HuntStrategy::Ascending);
    let req = SetupRequest::new("5551234").calling(Number::new("2125550000").with_ton(TypeOfNumber::Subscriber));
    let far_call = h.far[0].command(Command::Setup(Box::new(req))).unwrap();
    h.wait("the incoming call", |h| !h.incoming.is_empty());
    let (leg, s, _, _) = h.incoming[0].clone();
    assert_eq!(s.called, "5551234", "unknown type stays as dialled");
    assert_eq!(s.calling.as_ref().unwrap().number, "2125550000", "subscriber number without an area code stays as is");
    h.tdm.command(leg, LegCommand::Release(Release::cause(Cause::UNALLOCATED)), Instant::now());
    h.wait("the far end's release", |h| h.far[0].released(far_call).is_some());
    h.wait("the leg's release", |h| !h.released(leg).is_empty());
    assert_eq!(h.far[0].released(far_call), Some(1));
    assert_eq!(h.released(leg), [Cause::UNALLOCATED]);

    // And the network side places calls too.
    let out = h.outbound();
    h.tdm.originate(out, "out", &setup("+12125551234", "+12125550000"), Instant::now());
    let ic = h.far_incoming(0, 0);
    assert_eq!(ic.channel, ChannelRef::new(0, 1));
    h.far[0].command(Command::Connect { call: ic.call, connected: None });
    h.wait("Answered", |h| h.has(out, |e| matches!(e, LegEvent::Answered { .. })));
}

#[test]
fn a_span_in_alarm_is_skipped_by_the_hunt_and_no_channel_gives_cause_34() {
    let mut h = Harness::start(SIM_TWO, &[Side::User, Side::User], HuntStrategy::Ascending);
    let mut c = hw_sim::client::Client::connect(&h.control).unwrap();
    c.span_alarm(1, &["red"]).unwrap();
    h.wait("span 1 out of the hunt", |h| h.tdm.interface(0).unwrap().channels().iter().all(|c| c.state == tandem_gateway::tdm::ChannelState::Alarm));
    let leg = h.outbound();
    h.tdm.originate(leg, "out", &setup("+12125551234", "+12125550000"), Instant::now());
    let ic = h.far_incoming(1, 0);
    assert_eq!(ic.channel, ChannelRef::new(0, 1));
    assert_eq!(count_incoming(&h.far[0]), 0, "nothing on the span in alarm");
    h.wait("Media on span 2", |h| h.has(leg, |e| *e == LegEvent::Media(MediaEndpoint::Tdm { channo: 25, law: Law::Ulaw })));
    assert!(h.has(leg, |e| matches!(e, LegEvent::Identity(i) if i.interface == "pri2" && i.span == Some(2) && i.channel == Some(1))));

    c.span_alarm(2, &["blue"]).unwrap();
    h.wait("span 2 out of the hunt", |h| h.tdm.interface(1).unwrap().channels().iter().all(|c| c.state != tandem_gateway::tdm::ChannelState::Idle));
    let none = h.outbound();
    h.tdm.originate(none, "out", &setup("+12125551234", "+12125550000"), Instant::now());
    h.step();
    assert_eq!(h.released(none), [Cause::NO_CIRCUIT]);
}
