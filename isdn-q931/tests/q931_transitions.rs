//! The call state machine on its own ([`CallControl`], no data link):
//! one table row per state transition, user and network side, and every
//! timer's expiry.

use std::time::{Duration, Instant};

use isdn_q931::q931::{CallControl, CallId, CallState, ChannelRef, Command, Config, Event, Output, RestartTarget, SetupRequest, Side, SwitchType};
use isdn_q931::wire::ie::{
    BearerCapabilityRepr, CauseRepr, ChannelIdRepr, InfoTransferCapability, Layer1Protocol, Location, NumberingPlan, PartyNumberRepr, ProgressDescription,
    ProgressIndicatorRepr, RestartClass, RestartIndicatorRepr, ServiceStatus, TypeOfNumber,
};
use isdn_q931::wire::{CallRef, CallRefFlag, CauseValue, IeRepr, MessageRepr, MessageType, ProtocolDiscriminator};

/// A call-control entity with the link up, a fake clock and what it
/// produced.
struct Cc {
    cc: CallControl,
    now: Instant,
    sent: Vec<MessageRepr>,
    events: Vec<Event>,
}

impl Cc {
    fn new(switch: SwitchType, side: Side) -> Cc {
        Cc::with(Config::new(switch, side))
    }

    fn with(config: Config) -> Cc {
        let now = Instant::now();
        let mut cc = CallControl::new(config, now).unwrap();
        cc.link_up(now);
        let mut c = Cc { cc, now, sent: Vec::new(), events: Vec::new() };
        c.drain();
        c
    }

    fn drain(&mut self) {
        while let Some(o) = self.cc.poll_output() {
            match o {
                Output::Send(b) => self.sent.push(MessageRepr::parse_bytes(&b).unwrap()),
                Output::Event(e) => self.events.push(e),
            }
        }
        self.cc.check_consistency().unwrap();
    }

    fn feed(&mut self, m: &MessageRepr) {
        self.cc.handle_message(&m.to_vec().unwrap(), self.now);
        self.drain();
    }

    fn cmd(&mut self, c: Command) -> Option<CallId> {
        let r = self.cc.command(c.clone(), self.now).unwrap_or_else(|e| panic!("{c:?}: {e}"));
        self.drain();
        r
    }

    /// Advances the clock by `d`, running every timer on the way.
    fn advance(&mut self, d: Duration) {
        let end = self.now + d;
        while let Some(t) = self.cc.poll_timeout() {
            if t > end {
                break;
            }
            self.now = t.max(self.now);
            self.cc.handle_timeout(self.now);
            self.drain();
        }
        self.now = end;
    }

    fn take_sent(&mut self) -> Vec<MessageType> {
        std::mem::take(&mut self.sent).into_iter().map(|m| m.msg_type).collect()
    }

    fn state(&self, call: CallId) -> u8 {
        self.cc.call_state(call).map_or(0, CallState::number)
    }

    fn released(&self, call: CallId) -> Option<u8> {
        self.events.iter().find_map(|e| match e {
            Event::Released { call: c, cause } if *c == call => Some(cause.value.0),
            _ => None,
        })
    }
}

/// A message from the peer on call reference `cr`; `ours` when we
/// allocated the call reference (peer's flag is 1).
fn peer(cr: u16, ours: bool, mt: MessageType, ies: Vec<IeRepr>) -> MessageRepr {
    MessageRepr {
        pd: ProtocolDiscriminator::Q931,
        call_ref: CallRef::pri(cr, if ours { CallRefFlag::ToOriginator } else { CallRefFlag::FromOriginator }),
        msg_type: mt,
        ies,
    }
}

fn chan(n: u8) -> IeRepr {
    IeRepr::ChannelId(ChannelIdRepr::pri_channel(n, true))
}

fn cause(v: CauseValue) -> IeRepr {
    IeRepr::Cause(CauseRepr::new(Location::PublicLocal, v))
}

fn inband() -> IeRepr {
    IeRepr::ProgressIndicator(ProgressIndicatorRepr::new(Location::PublicLocal, ProgressDescription::InbandAvailable))
}

fn setup_ies() -> Vec<IeRepr> {
    vec![
        IeRepr::BearerCapability(BearerCapabilityRepr::voice(InfoTransferCapability::Speech, Layer1Protocol::G711Alaw)),
        chan(1),
        IeRepr::CalledNumber(PartyNumberRepr::new(TypeOfNumber::Unknown, NumberingPlan::Isdn, "123")),
    ]
}

/// Where a row starts.
#[derive(Debug, Clone, Copy)]
enum Start {
    OutSetup,
    OutOverlap,
    OutProceeding,
    OutAlerting,
    OutActive,
    InSetup,
    InOverlap,
    InProceeding,
    InAlerting,
    InConnect,
    InActive,
    DisconnectSent,
    DisconnectReceived,
    ReleaseSent,
    Abort,
    Null,
}

/// What happens.
#[derive(Debug, Clone, Copy)]
enum Input {
    Peer(MessageType),
    PeerInband(MessageType),
    Setup,
    SetupAck,
    Proceeding,
    Alerting,
    Connect,
    Disconnect,
    Release,
    Info,
}

/// Brings a fresh entity to `start`; returns the call and whether we
/// originated it.
fn reach(c: &mut Cc, start: Start) -> (Option<CallId>, bool) {
    let out = |c: &mut Cc, overlap: bool| {
        let mut req = SetupRequest::new("123");
        if overlap {
            req = req.overlap();
        }
        c.cmd(Command::Setup(Box::new(req))).unwrap()
    };
    let incoming = |c: &mut Cc| {
        c.feed(&peer(1, false, MessageType::Setup, setup_ies()));
        c.events
            .iter()
            .find_map(|e| match e {
                Event::IncomingCall(ic) => Some(ic.call),
                _ => None,
            })
            .unwrap()
    };
    let user = c.cc.side() == Side::User;
    let r = match start {
        Start::Null => (None, false),
        Start::OutSetup => (Some(out(c, false)), true),
        Start::OutOverlap => {
            let id = out(c, true);
            let ch = c.cc.call_channel(id).unwrap().channel;
            c.feed(&peer(1, true, MessageType::SetupAcknowledge, vec![chan(ch)]));
            (Some(id), true)
        }
        Start::OutProceeding | Start::OutAlerting | Start::OutActive => {
            let id = out(c, false);
            let mt = match start {
                Start::OutProceeding => MessageType::CallProceeding,
                Start::OutAlerting => MessageType::Alerting,
                _ => MessageType::Connect,
            };
            let ch = c.cc.call_channel(id).unwrap().channel;
            c.feed(&peer(1, true, mt, vec![chan(ch)]));
            (Some(id), true)
        }
        Start::InSetup => (Some(incoming(c)), false),
        Start::InOverlap | Start::InProceeding | Start::InAlerting | Start::InConnect => {
            let id = incoming(c);
            let cmd = match start {
                Start::InOverlap => Command::SetupAck { call: id },
                Start::InProceeding => Command::Proceeding { call: id, inband: false },
                Start::InAlerting => Command::Alerting { call: id, inband: false },
                _ => Command::Connect { call: id, connected: None },
            };
            c.cmd(cmd);
            (Some(id), false)
        }
        Start::InActive => {
            let id = incoming(c);
            c.cmd(Command::Connect { call: id, connected: None });
            if user {
                c.feed(&peer(1, false, MessageType::ConnectAcknowledge, vec![]));
            }
            (Some(id), false)
        }
        Start::DisconnectSent | Start::ReleaseSent => {
            let (id, ours) = reach(c, Start::OutActive);
            let id = id.unwrap();
            c.cmd(if matches!(start, Start::DisconnectSent) {
                Command::Disconnect { call: id, cause: CauseValue::NORMAL_CLEARING, inband: false }
            } else {
                Command::Release { call: id, cause: CauseValue::NORMAL_CLEARING }
            });
            (Some(id), ours)
        }
        Start::DisconnectReceived => {
            let (id, ours) = reach(c, Start::OutActive);
            c.feed(&peer(1, true, MessageType::Disconnect, vec![cause(CauseValue::USER_BUSY), inband()]));
            (id, ours)
        }
        Start::Abort => {
            let id = out(c, false);
            c.cmd(Command::Disconnect { call: id, cause: CauseValue::NORMAL_CLEARING, inband: false });
            (Some(id), true)
        }
    };
    c.sent.clear();
    r
}

fn apply(c: &mut Cc, call: Option<CallId>, ours: bool, input: Input) -> Option<CallId> {
    let id = |x: Option<CallId>| x.expect("a call");
    match input {
        Input::Peer(mt) => {
            let ies = match mt {
                MessageType::Disconnect | MessageType::Release => {
                    vec![cause(CauseValue::NORMAL_CLEARING)]
                }
                MessageType::Progress => vec![inband()],
                MessageType::Information => vec![IeRepr::CalledNumber(PartyNumberRepr::new(TypeOfNumber::Unknown, NumberingPlan::Unknown, "4"))],
                MessageType::Setup => setup_ies(),
                MessageType::SetupAcknowledge | MessageType::CallProceeding | MessageType::Alerting | MessageType::Connect => {
                    let ch = c.cc.call_channel(id(call)).unwrap().channel;
                    vec![chan(ch)]
                }
                _ => vec![],
            };
            c.feed(&peer(1, ours, mt, ies));
            if mt == MessageType::Setup {
                return c.events.iter().rev().find_map(|e| match e {
                    Event::IncomingCall(ic) => Some(ic.call),
                    _ => None,
                });
            }
        }
        Input::PeerInband(mt) => c.feed(&peer(1, ours, mt, vec![cause(CauseValue::USER_BUSY), inband()])),
        Input::Setup => {
            return c.cmd(Command::Setup(Box::new(SetupRequest::new("5"))));
        }
        Input::SetupAck => {
            c.cmd(Command::SetupAck { call: id(call) });
        }
        Input::Proceeding => {
            c.cmd(Command::Proceeding { call: id(call), inband: false });
        }
        Input::Alerting => {
            c.cmd(Command::Alerting { call: id(call), inband: false });
        }
        Input::Connect => {
            c.cmd(Command::Connect { call: id(call), connected: None });
        }
        Input::Disconnect => {
            c.cmd(Command::Disconnect { call: id(call), cause: CauseValue::NORMAL_CLEARING, inband: false });
        }
        Input::Release => {
            c.cmd(Command::Release { call: id(call), cause: CauseValue::NORMAL_CLEARING });
        }
        Input::Info => {
            c.cmd(Command::Information { call: id(call), digits: "9".into(), sending_complete: false });
        }
    }
    call
}

use Input as I;
use MessageType as M;
use Start as S;

/// (start, input, state after (0 = gone), messages sent).
type Row = (Start, Input, u8, &'static [MessageType]);

const USER_ROWS: &[Row] = &[
    (S::Null, I::Setup, 1, &[M::Setup]),
    (S::OutSetup, I::Peer(M::SetupAcknowledge), 2, &[]),
    (S::OutSetup, I::Peer(M::CallProceeding), 3, &[]),
    (S::OutSetup, I::Peer(M::Alerting), 4, &[]),
    (S::OutSetup, I::Peer(M::Connect), 10, &[M::ConnectAcknowledge]),
    (S::OutSetup, I::Peer(M::ReleaseComplete), 0, &[]),
    (S::OutSetup, I::Peer(M::Disconnect), 19, &[M::Release]),
    (S::OutSetup, I::Disconnect, 11, &[M::Disconnect]),
    (S::OutOverlap, I::Info, 2, &[M::Information]),
    (S::OutOverlap, I::Peer(M::CallProceeding), 3, &[]),
    (S::OutOverlap, I::Peer(M::Alerting), 4, &[]),
    (S::OutOverlap, I::Peer(M::Connect), 10, &[M::ConnectAcknowledge]),
    (S::OutProceeding, I::Peer(M::Alerting), 4, &[]),
    (S::OutProceeding, I::Peer(M::Connect), 10, &[M::ConnectAcknowledge]),
    (S::OutProceeding, I::Peer(M::Progress), 3, &[]),
    (S::OutAlerting, I::Peer(M::Connect), 10, &[M::ConnectAcknowledge]),
    (S::OutAlerting, I::Disconnect, 11, &[M::Disconnect]),
    (S::Null, I::Peer(M::Setup), 6, &[]),
    (S::InSetup, I::SetupAck, 25, &[M::SetupAcknowledge]),
    (S::InSetup, I::Proceeding, 9, &[M::CallProceeding]),
    (S::InSetup, I::Alerting, 7, &[M::Alerting]),
    (S::InSetup, I::Connect, 8, &[M::Connect]),
    (S::InSetup, I::Disconnect, 0, &[M::ReleaseComplete]),
    (S::InSetup, I::Release, 0, &[M::ReleaseComplete]),
    (S::InSetup, I::Peer(M::Release), 0, &[M::ReleaseComplete]),
    (S::InOverlap, I::Peer(M::Information), 25, &[]),
    (S::InOverlap, I::Proceeding, 9, &[M::CallProceeding]),
    (S::InOverlap, I::Alerting, 7, &[M::Alerting]),
    (S::InProceeding, I::Alerting, 7, &[M::Alerting]),
    (S::InProceeding, I::Connect, 8, &[M::Connect]),
    (S::InAlerting, I::Connect, 8, &[M::Connect]),
    (S::InAlerting, I::Disconnect, 11, &[M::Disconnect]),
    (S::InConnect, I::Peer(M::ConnectAcknowledge), 10, &[]),
    (S::InConnect, I::Peer(M::Disconnect), 19, &[M::Release]),
    (S::InActive, I::Peer(M::Disconnect), 19, &[M::Release]),
    (S::InActive, I::Peer(M::Release), 0, &[M::ReleaseComplete]),
    (S::InActive, I::Peer(M::ReleaseComplete), 0, &[]),
    (S::InActive, I::Disconnect, 11, &[M::Disconnect]),
    (S::InActive, I::Release, 19, &[M::Release]),
    (S::InActive, I::Peer(M::StatusEnquiry), 10, &[M::Status]),
    (S::InActive, I::Peer(M::Information), 10, &[]),
    (S::OutActive, I::Peer(M::SetupAcknowledge), 10, &[M::Status]),
    (S::OutActive, I::Peer(M::Connect), 10, &[M::Status]),
    (S::OutActive, I::Peer(M::ConnectAcknowledge), 10, &[]),
    (S::OutActive, I::PeerInband(M::Disconnect), 12, &[]),
    (S::InAlerting, I::Peer(M::ConnectAcknowledge), 7, &[M::Status]),
    (S::DisconnectSent, I::Peer(M::Release), 0, &[M::ReleaseComplete]),
    (S::DisconnectSent, I::Peer(M::Disconnect), 19, &[M::Release]),
    (S::DisconnectSent, I::Disconnect, 11, &[]),
    (S::DisconnectReceived, I::Release, 19, &[M::Release]),
    (S::DisconnectReceived, I::Disconnect, 19, &[M::Release]),
    (S::DisconnectReceived, I::Peer(M::Release), 0, &[M::ReleaseComplete]),
    (S::ReleaseSent, I::Peer(M::ReleaseComplete), 0, &[]),
    (S::ReleaseSent, I::Peer(M::Release), 0, &[]),
    (S::ReleaseSent, I::Peer(M::Disconnect), 19, &[]),
    (S::ReleaseSent, I::Release, 19, &[]),
];

const NETWORK_ROWS: &[Row] = &[
    (S::Null, I::Setup, 6, &[M::Setup]),
    (S::OutSetup, I::Peer(M::SetupAcknowledge), 25, &[]),
    (S::OutSetup, I::Peer(M::CallProceeding), 9, &[]),
    (S::OutSetup, I::Peer(M::Alerting), 7, &[]),
    (S::OutSetup, I::Peer(M::Connect), 10, &[M::ConnectAcknowledge]),
    (S::OutSetup, I::Peer(M::ReleaseComplete), 0, &[]),
    (S::OutSetup, I::Disconnect, 22, &[]),
    (S::Abort, I::Peer(M::CallProceeding), 19, &[M::Release]),
    (S::Abort, I::Peer(M::Connect), 19, &[M::Release]),
    (S::Abort, I::Peer(M::ReleaseComplete), 0, &[]),
    (S::Abort, I::Peer(M::Disconnect), 19, &[M::Release]),
    (S::OutOverlap, I::Info, 25, &[M::Information]),
    (S::OutOverlap, I::Peer(M::CallProceeding), 9, &[]),
    (S::OutProceeding, I::Peer(M::Alerting), 7, &[]),
    (S::OutAlerting, I::Peer(M::Connect), 10, &[M::ConnectAcknowledge]),
    (S::Null, I::Peer(M::Setup), 1, &[]),
    (S::InSetup, I::SetupAck, 2, &[M::SetupAcknowledge]),
    (S::InSetup, I::Proceeding, 3, &[M::CallProceeding]),
    (S::InSetup, I::Alerting, 4, &[M::Alerting]),
    (S::InSetup, I::Connect, 10, &[M::Connect]),
    (S::InSetup, I::Disconnect, 0, &[M::ReleaseComplete]),
    (S::InOverlap, I::Peer(M::Information), 2, &[]),
    (S::InOverlap, I::Proceeding, 3, &[M::CallProceeding]),
    (S::InProceeding, I::Alerting, 4, &[M::Alerting]),
    (S::InProceeding, I::Peer(M::Progress), 3, &[]),
    (S::InAlerting, I::Connect, 10, &[M::Connect]),
    (S::InActive, I::Peer(M::ConnectAcknowledge), 10, &[]),
    (S::InActive, I::Peer(M::Disconnect), 19, &[M::Release]),
    (S::InActive, I::PeerInband(M::Disconnect), 11, &[]),
    (S::InActive, I::Disconnect, 12, &[M::Disconnect]),
    (S::InActive, I::Release, 19, &[M::Release]),
    (S::DisconnectSent, I::Peer(M::Release), 0, &[M::ReleaseComplete]),
    (S::DisconnectSent, I::Peer(M::Disconnect), 19, &[M::Release]),
    (S::DisconnectReceived, I::Release, 19, &[M::Release]),
    (S::ReleaseSent, I::Peer(M::ReleaseComplete), 0, &[]),
    (S::ReleaseSent, I::Peer(M::Release), 0, &[]),
];

fn run_rows(side: Side, rows: &[Row]) {
    for (i, &(start, input, state, sent)) in rows.iter().enumerate() {
        let mut config = Config::new(SwitchType::EuroIsdnE1, side);
        config.inband_disconnect = true;
        let mut c = Cc::with(config);
        let (call, ours) = reach(&mut c, start);
        let before = call.map(|id| c.state(id));
        let call = apply(&mut c, call, ours, input);
        let after = call.map_or(0, |id| c.state(id));
        assert_eq!(after, state, "row {i}: {side:?} {start:?} (state {before:?}) + {input:?}: events {:?}", c.events);
        assert_eq!(c.take_sent(), sent, "row {i}: {side:?} {start:?} + {input:?} sent");
        if state == 0
            && let Some(id) = call
        {
            assert!(c.released(id).is_some(), "row {i}: Released reported");
        }
    }
}

#[test]
fn user_side_transitions() {
    run_rows(Side::User, USER_ROWS);
}

#[test]
fn network_side_transitions() {
    run_rows(Side::Network, NETWORK_ROWS);
}

#[test]
fn commands_in_wrong_states_are_refused() {
    let mut c = Cc::new(SwitchType::EuroIsdnE1, Side::User);
    let (call, _) = reach(&mut c, Start::OutSetup);
    let call = call.unwrap();
    for cmd in [
        Command::Connect { call, connected: None },
        Command::Alerting { call, inband: false },
        Command::SetupAck { call },
        Command::Information { call, digits: "1".into(), sending_complete: false },
    ] {
        assert!(c.cc.command(cmd, c.now).is_err());
    }
    assert!(c.cc.command(Command::Connect { call: CallId(999), connected: None }, c.now).is_err());
    c.cc.link_down(c.now);
    assert!(c.cc.setup(SetupRequest::new("1"), c.now).is_err());
}

// ----- timers -----

#[test]
fn t303_retransmits_setup_once_then_clears_with_102() {
    for side in [Side::User, Side::Network] {
        let mut c = Cc::new(SwitchType::Ni2, side);
        let (call, _) = reach(&mut c, Start::OutSetup);
        let call = call.unwrap();
        c.advance(Duration::from_millis(3999));
        assert!(c.take_sent().is_empty());
        c.advance(Duration::from_millis(1));
        assert_eq!(c.take_sent(), [M::Setup]);
        assert_eq!(c.state(call), if side == Side::User { 1 } else { 6 });
        c.advance(Duration::from_secs(4));
        let rc = std::mem::take(&mut c.sent);
        assert_eq!(rc[0].msg_type, M::ReleaseComplete);
        assert_eq!(rc[0].ies, [IeRepr::Cause(CauseRepr::new(c.cc.config().location, CauseValue(102)))]);
        let expect = if side == Side::User { 102 } else { 18 };
        assert_eq!(c.released(call), Some(expect));
        assert_eq!(c.cc.channels().counts(), (0, 0, 0));
    }
}

#[test]
fn t303_an_answer_after_the_retransmission_is_accepted() {
    let mut c = Cc::new(SwitchType::Ni2, Side::User);
    let (call, _) = reach(&mut c, Start::OutSetup);
    let call = call.unwrap();
    c.advance(Duration::from_secs(5));
    let ch = c.cc.call_channel(call).unwrap().channel;
    c.feed(&peer(1, true, M::CallProceeding, vec![chan(ch)]));
    c.advance(Duration::from_secs(5));
    assert_eq!(c.state(call), 3);
}

#[test]
fn t305_sends_release_with_the_disconnect_cause() {
    let mut c = Cc::new(SwitchType::Ni2, Side::User);
    let (call, _) = reach(&mut c, Start::InActive);
    let call = call.unwrap();
    c.cmd(Command::Disconnect { call, cause: CauseValue::USER_BUSY, inband: false });
    c.sent.clear();
    c.advance(Duration::from_secs(29));
    assert!(c.sent.is_empty());
    c.advance(Duration::from_secs(1));
    assert_eq!(c.sent[0].msg_type, M::Release);
    assert_eq!(c.sent[0].ies.len(), 1);
    let IeRepr::Cause(cause) = &c.sent[0].ies[0] else { panic!() };
    assert_eq!(cause.value, CauseValue::USER_BUSY);
    assert_eq!(c.state(call), 19);
}

#[test]
fn t306_network_disconnect_with_tones() {
    let mut c = Cc::new(SwitchType::EuroIsdnE1, Side::Network);
    let (call, _) = reach(&mut c, Start::InActive);
    let call = call.unwrap();
    c.cmd(Command::Disconnect { call, cause: CauseValue::NORMAL_CLEARING, inband: true });
    assert!(c.sent[0].ies.iter().any(|ie| matches!(ie, IeRepr::ProgressIndicator(_))));
    c.sent.clear();
    c.advance(Duration::from_secs(30));
    assert_eq!(c.take_sent(), [M::Release]);
}

#[test]
fn t308_retransmits_release_then_restarts_the_channel() {
    let mut c = Cc::new(SwitchType::Ni2, Side::User);
    let (call, _) = reach(&mut c, Start::ReleaseSent);
    let call = call.unwrap();
    let ch = c.cc.call_channel(call).unwrap();
    c.advance(Duration::from_secs(4));
    assert_eq!(c.take_sent(), [M::Release]);
    assert_eq!(c.state(call), 19);
    c.advance(Duration::from_secs(4));
    assert_eq!(c.released(call), Some(16));
    // The channel went to maintenance: RESTART for it.
    let r = std::mem::take(&mut c.sent);
    assert_eq!(r[0].msg_type, M::Restart);
    assert!(r[0].ies.contains(&chan(ch.channel)));
    assert!(!c.cc.channels().is_free(ch));
    c.feed(&MessageRepr {
        pd: ProtocolDiscriminator::Q931,
        call_ref: CallRef::global(2, CallRefFlag::ToOriginator),
        msg_type: M::RestartAcknowledge,
        ies: vec![chan(ch.channel), IeRepr::RestartIndicator(RestartIndicatorRepr { class: RestartClass::Indicated })],
    });
    assert!(c.cc.channels().is_free(ch));
    assert!(c.events.iter().any(|e| matches!(e, Event::RestartCompleted { .. })));
}

#[test]
fn t310_t313_t301_t304_clear_with_102() {
    // (start, side, timer value)
    let cases = [
        (Start::OutProceeding, Side::User, 30),
        (Start::OutProceeding, Side::Network, 10),
        (Start::InConnect, Side::User, 4),
        (Start::OutAlerting, Side::User, 180),
        (Start::OutAlerting, Side::Network, 180),
        (Start::OutOverlap, Side::User, 30),
        (Start::OutOverlap, Side::Network, 20),
    ];
    for (start, side, t) in cases {
        let mut c = Cc::new(SwitchType::EuroIsdnE1, side);
        let (call, _) = reach(&mut c, start);
        let call = call.unwrap();
        let before = c.state(call);
        c.advance(Duration::from_secs(t) - Duration::from_millis(1));
        assert_eq!(c.state(call), before, "{start:?} {side:?}");
        c.advance(Duration::from_millis(1));
        let d = std::mem::take(&mut c.sent);
        assert_eq!(d[0].msg_type, M::Disconnect, "{start:?} {side:?}");
        let IeRepr::Cause(cause) = &d[0].ies[0] else { panic!() };
        assert_eq!(cause.value, CauseValue::RECOVERY_ON_TIMER_EXPIRY);
        assert!(c.events.iter().any(|e| matches!(e, Event::Disconnecting { .. })));
    }
}

#[test]
fn t302_reports_digit_timeout_and_restarts_on_information() {
    let mut c = Cc::new(SwitchType::EuroIsdnE1, Side::Network);
    let (call, _) = reach(&mut c, Start::InOverlap);
    let call = call.unwrap();
    c.advance(Duration::from_secs(10));
    c.feed(&peer(1, false, M::Information, vec![IeRepr::CalledNumber(PartyNumberRepr::new(TypeOfNumber::Unknown, NumberingPlan::Unknown, "7"))]));
    c.advance(Duration::from_secs(14));
    assert!(!c.events.iter().any(|e| matches!(e, Event::DigitTimeout { .. })));
    c.advance(Duration::from_secs(1));
    assert!(c.events.iter().any(|e| matches!(e, Event::DigitTimeout { call: x } if *x == call)));
    assert_eq!(c.state(call), 2);
}

#[test]
fn t322_status_enquiry_retries_then_clears_with_41() {
    let mut c = Cc::new(SwitchType::Ni2, Side::User);
    let (call, _) = reach(&mut c, Start::InActive);
    let call = call.unwrap();
    c.cmd(Command::StatusEnquiry { call });
    c.advance(Duration::from_secs(8));
    assert_eq!(c.take_sent(), [M::StatusEnquiry, M::StatusEnquiry, M::StatusEnquiry]);
    c.advance(Duration::from_secs(4));
    let d = std::mem::take(&mut c.sent);
    assert_eq!(d[0].msg_type, M::Disconnect);
    let IeRepr::Cause(cause) = &d[0].ies[0] else { panic!() };
    assert_eq!(cause.value, CauseValue::TEMPORARY_FAILURE);
}

#[test]
fn t309_keeps_active_calls_over_a_short_link_failure() {
    let mut c = Cc::new(SwitchType::Ni2, Side::Network);
    let (active, _) = reach(&mut c, Start::InActive);
    let active = active.unwrap();
    let ringing = c.cmd(Command::Setup(Box::new(SetupRequest::new("2")))).unwrap();
    c.sent.clear();
    c.cc.link_down(c.now);
    c.drain();
    assert_eq!(c.released(ringing), Some(41), "non-active calls cleared");
    assert_eq!(c.state(active), 10);
    c.advance(Duration::from_secs(89));
    c.cc.link_up(c.now);
    c.drain();
    assert_eq!(c.take_sent(), [M::StatusEnquiry]);
    c.advance(Duration::from_secs(100));
    assert_eq!(c.state(active), 0, "the enquiry went unanswered: cleared");
    // Answered, the call survives.
    let mut c = Cc::new(SwitchType::Ni2, Side::Network);
    let (active, _) = reach(&mut c, Start::InActive);
    let active = active.unwrap();
    c.cc.link_down(c.now);
    c.advance(Duration::from_secs(30));
    c.cc.link_up(c.now);
    c.drain();
    c.feed(&peer(
        1,
        false,
        M::Status,
        vec![
            cause(CauseValue::RESPONSE_TO_STATUS_ENQUIRY),
            IeRepr::CallState(isdn_q931::wire::ie::CallStateRepr::new(isdn_q931::wire::ie::CallStateValue::Active)),
        ],
    ));
    c.advance(Duration::from_secs(300));
    assert_eq!(c.state(active), 10);
}

#[test]
fn t309_expiry_clears_with_27() {
    for s in SwitchType::ALL {
        let mut c = Cc::new(s, Side::User);
        let (call, _) = reach(&mut c, Start::InActive);
        let call = call.unwrap();
        let ch = c.cc.call_channel(call).unwrap();
        c.cc.link_down(c.now);
        let t309 = c.cc.config().timers.t309;
        c.advance(t309 - Duration::from_millis(1));
        assert_eq!(c.state(call), 10);
        c.advance(Duration::from_millis(1));
        assert_eq!(c.released(call), Some(27), "{s:?}");
        assert!(c.cc.channels().is_free(ch));
        assert!(c.sent.is_empty(), "nothing sent without a link");
    }
}

#[test]
fn t316_and_t3m1_retry_then_give_up() {
    let mut c = Cc::new(SwitchType::Att4ess, Side::Network);
    c.cmd(Command::Restart(RestartTarget::Interface(0)));
    c.cmd(Command::Service { target: RestartTarget::Channels(vec![ChannelRef::new(0, 2)]), status: ServiceStatus::OutOfService });
    assert_eq!(c.take_sent(), [M::Restart, M::Service]);
    assert_eq!(c.sent.len(), 0);
    c.advance(Duration::from_secs(120));
    assert_eq!(c.take_sent(), [M::Restart, M::Service]);
    c.advance(Duration::from_secs(240));
    assert_eq!(c.take_sent(), [M::Restart, M::Service]);
    assert!(c.events.iter().any(|e| matches!(e, Event::RestartFailed { .. })));
    assert!(c.events.iter().any(|e| matches!(e, Event::ServiceFailed { .. })));
    assert_eq!(c.cc.channels().counts(), (0, 0, 1), "out of service stays");
    assert!(c.cc.poll_timeout().is_none());
}

#[test]
fn every_timer_is_configurable() {
    let mut config = Config::new(SwitchType::Ni2, Side::User);
    config.timers.t303 = Duration::from_millis(500);
    let mut c = Cc::with(config);
    reach(&mut c, Start::OutSetup);
    c.advance(Duration::from_millis(500));
    assert_eq!(c.take_sent(), [M::Setup]);
    let t = config_timers(SwitchType::Ni2, Side::User);
    assert_eq!(t.all().len(), 15);
}

fn config_timers(s: SwitchType, side: Side) -> isdn_q931::q931::Timers {
    Config::new(s, side).timers
}

#[test]
fn a_new_service_status_supersedes_an_unacknowledged_one_for_the_same_channel() {
    let mut c = Cc::new(SwitchType::Ni2, Side::User);
    let ch = ChannelRef::new(0, 5);
    c.cmd(Command::Service { target: RestartTarget::Channels(vec![ch]), status: ServiceStatus::OutOfService });
    c.cmd(Command::Service { target: RestartTarget::Channels(vec![ch]), status: ServiceStatus::InService });
    assert_eq!(c.take_sent(), [M::Service, M::Service]);
    // Only the in-service SERVICE is retried after T3M1; the out-of-service one is gone.
    c.advance(Duration::from_secs(120));
    let resent = std::mem::take(&mut c.sent);
    assert_eq!(resent.len(), 1, "{resent:?}");
    assert!(resent[0].ies.iter().any(|ie| matches!(ie, IeRepr::ChangeStatus(cs) if cs.status == ServiceStatus::InService)), "{resent:?}");
    assert!(c.cc.channels().is_free(ch));
}
