//! A deterministic back-to-back bench for the Q.931 stack: a network side
//! and a user side joined by simulated D-channels (one per link id) with
//! a fixed latency and a fake clock. Either end is a full [`Pri`] or a
//! raw peer (a bare Q.921 link) that sends hand-made Q.931 messages.
//!
//! Shared by the `q931_*.rs` integration tests (`mod q931_harness;`).

#![allow(dead_code)]

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use isdn_q931::q921::{self, Link, LinkEvent, Role};
use isdn_q931::q931::{CallId, CallState, Command, Config, Event, IncomingCall, LinkId, SetupRequest, Side, SwitchType};
use isdn_q931::wire::{CallRef, CallRefFlag, IeRepr, MessageRepr, MessageType, ProtocolDiscriminator};
use isdn_q931::{Output, Pri, PriConfig};

pub fn millis(ms: u64) -> Duration {
    Duration::from_millis(ms)
}

pub fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

/// Which end of the bench.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum End {
    Net,
    User,
}

impl End {
    pub fn other(self) -> End {
        match self {
            End::Net => End::User,
            End::User => End::Net,
        }
    }
    fn index(self) -> usize {
        match self {
            End::Net => 0,
            End::User => 1,
        }
    }
    pub fn side(self) -> Side {
        match self {
            End::Net => Side::Network,
            End::User => Side::User,
        }
    }
}

/// A bare Q.921 link on link id 0 that records the Q.931 messages it
/// receives and sends whatever it is told to.
pub struct RawPeer {
    pub link: Link,
    pub received: Vec<Vec<u8>>,
    pub up: bool,
}

pub enum Node {
    Stack(Box<Pri>),
    Raw(Box<RawPeer>),
}

/// A frame on the wire.
#[derive(Debug, Clone)]
pub struct Sent {
    pub at: Duration,
    pub from: End,
    pub link: LinkId,
    pub bytes: Vec<u8>,
    pub dropped: bool,
}

pub struct Bench {
    pub nodes: [Node; 2],
    pub start: Instant,
    pub now: Instant,
    pub latency: Duration,
    in_flight: VecDeque<(Instant, End, LinkId, Vec<u8>)>,
    pub events: Vec<(Duration, End, Event)>,
    pub sent: Vec<Sent>,
    /// Frames on these links are dropped (both directions) while set.
    pub cut_links: Vec<LinkId>,
    /// Frame tap records (stacks configured with `trace`).
    pub traces: Vec<(End, isdn_q931::Trace)>,
}

impl Bench {
    /// Network and user stacks of one switch type, one link each.
    pub fn new(switch: SwitchType) -> Bench {
        Bench::with(PriConfig::new(Config::new(switch, Side::Network)), PriConfig::new(Config::new(switch, Side::User)))
    }

    /// Both ends from configurations.
    pub fn with(net: PriConfig, user: PriConfig) -> Bench {
        let now = Instant::now();
        let net = Pri::new(net, now).expect("network config");
        let user = Pri::new(user, now).expect("user config");
        Bench::from_nodes([Node::Stack(Box::new(net)), Node::Stack(Box::new(user))], now)
    }

    /// A stack of `switch` on `end`, a raw peer on the other end.
    pub fn raw(switch: SwitchType, end: End) -> Bench {
        Bench::raw_with(PriConfig::new(Config::new(switch, end.side())), end)
    }

    pub fn raw_with(config: PriConfig, end: End) -> Bench {
        let now = Instant::now();
        let stack = Node::Stack(Box::new(Pri::new(config, now).expect("config")));
        let role = match end.other() {
            End::Net => Role::Network,
            End::User => Role::User,
        };
        let raw = Node::Raw(Box::new(RawPeer { link: Link::new(role, q921::Config::default(), now), received: Vec::new(), up: false }));
        let nodes = match end {
            End::Net => [stack, raw],
            End::User => [raw, stack],
        };
        Bench::from_nodes(nodes, now)
    }

    fn from_nodes(nodes: [Node; 2], now: Instant) -> Bench {
        Bench {
            nodes,
            start: now,
            now,
            latency: millis(2),
            in_flight: VecDeque::new(),
            events: Vec::new(),
            sent: Vec::new(),
            cut_links: Vec::new(),
            traces: Vec::new(),
        }
    }

    pub fn elapsed(&self) -> Duration {
        self.now - self.start
    }

    pub fn pri(&mut self, end: End) -> &mut Pri {
        match &mut self.nodes[end.index()] {
            Node::Stack(p) => p,
            Node::Raw(_) => panic!("{end:?} is a raw peer"),
        }
    }

    pub fn pri_ref(&self, end: End) -> &Pri {
        match &self.nodes[end.index()] {
            Node::Stack(p) => p,
            Node::Raw(_) => panic!("{end:?} is a raw peer"),
        }
    }

    pub fn raw_peer(&mut self, end: End) -> &mut RawPeer {
        match &mut self.nodes[end.index()] {
            Node::Raw(r) => r,
            Node::Stack(_) => panic!("{end:?} is a stack"),
        }
    }

    /// Moves outputs into flight and records events.
    fn collect(&mut self) {
        for end in [End::Net, End::User] {
            loop {
                let now = self.now;
                let item = match &mut self.nodes[end.index()] {
                    Node::Stack(p) => match p.poll_output() {
                        Some(Output::Transmit { link, frame }) => Some(Ok((link, frame))),
                        Some(Output::Event(e)) => Some(Err(Some(e))),
                        Some(Output::Trace(t)) => {
                            self.traces.push((end, t));
                            Some(Err(None))
                        }
                        None => None,
                    },
                    Node::Raw(r) => match r.link.poll_output() {
                        Some(q921::Output::Transmit(f)) => Some(Ok((0, f))),
                        Some(q921::Output::Event(e)) => {
                            match e {
                                LinkEvent::Data(m) => r.received.push(m),
                                LinkEvent::Established | LinkEvent::Reestablished => r.up = true,
                                LinkEvent::Released => r.up = false,
                                _ => {}
                            }
                            Some(Err(None))
                        }
                        None => None,
                    },
                };
                match item {
                    None => break,
                    Some(Ok((link, bytes))) => {
                        let dropped = self.cut_links.contains(&link);
                        self.sent.push(Sent { at: now - self.start, from: end, link, bytes: bytes.clone(), dropped });
                        if !dropped {
                            self.in_flight.push_back((now + self.latency, end.other(), link, bytes));
                        }
                    }
                    Some(Err(Some(e))) => self.events.push((now - self.start, end, e)),
                    Some(Err(None)) => {}
                }
            }
        }
    }

    fn next_deadline(&self) -> Option<Instant> {
        let mut t: Option<Instant> = self.in_flight.front().map(|f| f.0);
        for n in &self.nodes {
            let d = match n {
                Node::Stack(p) => p.poll_timeout(),
                Node::Raw(r) => r.link.poll_timeout(),
            };
            t = match (t, d) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            };
        }
        t
    }

    fn step_to(&mut self, t: Instant) {
        self.now = t;
        while self.in_flight.front().is_some_and(|f| f.0 <= t) {
            let (_, to, link, bytes) = self.in_flight.pop_front().unwrap();
            if self.cut_links.contains(&link) {
                continue;
            }
            match &mut self.nodes[to.index()] {
                Node::Stack(p) => p.handle_frame(link, &bytes, t),
                Node::Raw(r) => r.link.handle_frame(&bytes, t),
            }
            self.collect();
        }
        for n in &mut self.nodes {
            match n {
                Node::Stack(p) => {
                    if p.poll_timeout().is_some_and(|d| d <= t) {
                        p.handle_timeout(t);
                    }
                }
                Node::Raw(r) => {
                    if r.link.poll_timeout().is_some_and(|d| d <= t) {
                        r.link.handle_timeout(t);
                    }
                }
            }
        }
        self.collect();
    }

    /// Runs the simulation for `d`.
    pub fn run_for(&mut self, d: Duration) {
        let end = self.now + d;
        self.collect();
        loop {
            match self.next_deadline() {
                Some(t) if t <= end => self.step_to(t.max(self.now)),
                _ => break,
            }
        }
        self.now = end;
    }

    /// Runs until `done` holds (checked after every step) or `max` passes;
    /// returns whether it held.
    pub fn run_until(&mut self, max: Duration, mut done: impl FnMut(&Bench) -> bool) -> bool {
        let end = self.now + max;
        self.collect();
        loop {
            if done(self) {
                return true;
            }
            match self.next_deadline() {
                Some(t) if t <= end => self.step_to(t.max(self.now)),
                _ => {
                    self.now = end;
                    return done(self);
                }
            }
        }
    }

    /// Short settle: lets messages in flight arrive and be answered.
    pub fn settle(&mut self) {
        self.run_for(millis(200));
    }

    /// Runs until both stacks have a link carrying call control.
    pub fn establish(&mut self) {
        let ok = self.run_until(secs(5), |b| {
            b.nodes.iter().all(|n| match n {
                Node::Stack(p) => p.active_link().is_some(),
                Node::Raw(r) => r.up,
            })
        });
        assert!(ok, "links did not come up");
        self.settle();
        self.events.clear();
        self.sent.clear();
    }

    // ----- commands -----

    pub fn command(&mut self, end: End, cmd: Command) -> Option<CallId> {
        let now = self.now;
        let r = self.pri(end).command(cmd.clone(), now).unwrap_or_else(|e| panic!("{end:?} {cmd:?}: {e}"));
        self.collect();
        r
    }

    pub fn try_command(&mut self, end: End, cmd: Command) -> Result<Option<CallId>, isdn_q931::q931::CommandError> {
        let now = self.now;
        let r = self.pri(end).command(cmd, now);
        self.collect();
        r
    }

    pub fn setup(&mut self, end: End, req: SetupRequest) -> CallId {
        let now = self.now;
        let id = self.pri(end).setup(req, now).unwrap_or_else(|e| panic!("{end:?} setup: {e}"));
        self.collect();
        id
    }

    /// Sends a raw Q.931 message from the raw peer on `end`.
    pub fn raw_send(&mut self, end: End, msg: Vec<u8>) {
        let now = self.now;
        self.raw_peer(end).link.command(q921::Command::Send(msg), now).expect("raw send");
        self.collect();
    }

    /// Messages the raw peer on `end` received, decoded, and forgets them.
    pub fn raw_take(&mut self, end: End) -> Vec<MessageRepr> {
        std::mem::take(&mut self.raw_peer(end).received).iter().map(|b| MessageRepr::parse_bytes(b).expect("stack sent a bad message")).collect()
    }

    // ----- observation -----

    pub fn events(&self, end: End) -> Vec<Event> {
        self.events.iter().filter(|(_, e, _)| *e == end).map(|(_, _, ev)| ev.clone()).collect()
    }

    pub fn take_events(&mut self, end: End) -> Vec<Event> {
        let (mine, rest): (Vec<_>, Vec<_>) = std::mem::take(&mut self.events).into_iter().partition(|(_, e, _)| *e == end);
        self.events = rest;
        mine.into_iter().map(|(_, _, ev)| ev).collect()
    }

    pub fn clear(&mut self) {
        self.events.clear();
        self.sent.clear();
    }

    /// The latest incoming call `end` was offered (panics if none).
    pub fn incoming(&self, end: End) -> IncomingCall {
        self.events(end)
            .into_iter()
            .rev()
            .find_map(|e| match e {
                Event::IncomingCall(ic) => Some(*ic),
                _ => None,
            })
            .unwrap_or_else(|| panic!("no incoming call at {end:?}: {:?}", self.events(end)))
    }

    /// The Released event of a call at `end`.
    pub fn released(&self, end: End, call: CallId) -> Option<isdn_q931::q931::Cause> {
        self.events(end).into_iter().find_map(|e| match e {
            Event::Released { call: c, cause } if c == call => Some(cause),
            _ => None,
        })
    }

    /// The Q.931 messages `from` transmitted (I frames, decoded), with
    /// dropped ones.
    pub fn messages_from(&self, from: End) -> Vec<MessageRepr> {
        self.sent
            .iter()
            .filter(|s| s.from == from)
            .filter_map(|s| {
                let b = &s.bytes;
                (b.len() > 4 && b[2] & 1 == 0).then(|| MessageRepr::parse_bytes(&b[4..]).ok()).flatten()
            })
            .collect()
    }

    /// The message types `from` transmitted.
    pub fn types_from(&self, from: End) -> Vec<MessageType> {
        self.messages_from(from).iter().map(|m| m.msg_type).collect()
    }

    pub fn state(&self, end: End, call: CallId) -> Option<CallState> {
        self.pri_ref(end).call_control().call_state(call)
    }

    /// Both stacks: no calls, every channel idle, invariants hold.
    pub fn assert_idle(&self) {
        for (i, n) in self.nodes.iter().enumerate() {
            if let Node::Stack(p) = n {
                let cc = p.call_control();
                cc.check_consistency().unwrap();
                assert!(cc.calls().is_empty(), "end {i}: calls left {:?}", cc.calls());
                let (busy, restarting, oos) = cc.channels().counts();
                assert_eq!((busy, restarting, oos), (0, 0, 0), "end {i}: channels stuck");
            }
        }
    }

    /// Places a call from `from` and answers it at the other end with
    /// CONNECT; returns (caller's id, callee's id).
    pub fn connected_call(&mut self, from: End, req: SetupRequest) -> (CallId, CallId) {
        let a = self.setup(from, req);
        self.settle();
        let b = self.incoming(from.other()).call;
        self.command(from.other(), Command::Connect { call: b, connected: None });
        self.settle();
        assert_eq!(self.state(from, a), Some(CallState::Active), "caller");
        assert_eq!(self.state(from.other(), b), Some(CallState::Active), "callee");
        (a, b)
    }
}

/// A Q.931 message with a two-octet call reference.
pub fn msg(cr: u16, flag_to_originator: bool, mt: MessageType, ies: Vec<IeRepr>) -> Vec<u8> {
    let flag = if flag_to_originator { CallRefFlag::ToOriginator } else { CallRefFlag::FromOriginator };
    MessageRepr { pd: ProtocolDiscriminator::Q931, call_ref: CallRef::pri(cr, flag), msg_type: mt, ies }.to_vec().unwrap()
}

/// The cause value of a message, if any.
pub fn cause_of(m: &MessageRepr) -> Option<u8> {
    m.ies.iter().find_map(|ie| match ie {
        IeRepr::Cause(c) => Some(c.value.0),
        _ => None,
    })
}

/// The call state reported in a STATUS.
pub fn state_of(m: &MessageRepr) -> Option<u8> {
    m.ies.iter().find_map(|ie| match ie {
        IeRepr::CallState(s) => Some(s.value.bits()),
        _ => None,
    })
}
