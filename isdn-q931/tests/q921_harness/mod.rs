//! A deterministic back-to-back test bench for two Q.921 links: a network
//! side and a user side joined by a simulated D-channel with a fixed
//! latency, a fake clock, and a pluggable fate for every frame (deliver,
//! drop, duplicate, delay).
//!
//! Shared by the `q921_*.rs` integration tests (`mod q921_harness;`).

#![allow(dead_code)]

use std::time::{Duration, Instant};

use isdn_q931::q921::{Command, Config, Link, LinkEvent, LinkState, Output, Role};

/// One end of the bench.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Side {
    Net,
    User,
}

impl Side {
    pub fn other(self) -> Side {
        match self {
            Side::Net => Side::User,
            Side::User => Side::Net,
        }
    }
}

/// What happens to one transmitted frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fate {
    Deliver,
    Drop,
    /// Delivered twice, back to back.
    Duplicate,
    /// Delivered this much later than the normal latency (so frames sent
    /// after it may overtake it).
    Delay(Duration),
}

/// A frame as transmitted, before its fate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sent {
    /// Time since the bench started.
    pub at: Duration,
    pub from: Side,
    pub bytes: Vec<u8>,
    pub fate: Fate,
}

/// A decoded view of a frame, enough for assertions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    I { ns: u8, nr: u8, p: bool },
    Rr { nr: u8, pf: bool },
    Rnr { nr: u8, pf: bool },
    Rej { nr: u8, pf: bool },
    Sabme,
    Ua,
    Dm,
    Disc,
    Ui,
    Other,
}

/// Classifies a frame by its control field (see [`is_command`] for C/R).
pub fn classify(bytes: &[u8]) -> Kind {
    if bytes.len() < 3 {
        return Kind::Other;
    }
    let c = bytes[2];
    if c & 1 == 0 {
        if bytes.len() < 4 {
            return Kind::Other;
        }
        return Kind::I { ns: c >> 1, nr: bytes[3] >> 1, p: bytes[3] & 1 == 1 };
    }
    if c & 3 == 1 {
        if bytes.len() < 4 {
            return Kind::Other;
        }
        let (nr, pf) = (bytes[3] >> 1, bytes[3] & 1 == 1);
        return match c {
            0x01 => Kind::Rr { nr, pf },
            0x05 => Kind::Rnr { nr, pf },
            0x09 => Kind::Rej { nr, pf },
            _ => Kind::Other,
        };
    }
    match c & !0x10 {
        0x6F => Kind::Sabme,
        0x63 => Kind::Ua,
        0x0F => Kind::Dm,
        0x43 => Kind::Disc,
        0x03 => Kind::Ui,
        _ => Kind::Other,
    }
}

/// Whether a frame sent by `from` is a command (network commands C/R=1,
/// user commands C/R=0).
pub fn is_command(from: Side, bytes: &[u8]) -> bool {
    let cr = bytes.first().is_some_and(|a| a & 0x02 != 0);
    cr == (from == Side::Net)
}

struct InFlight {
    at: Instant,
    seq: u64,
    to: Side,
    bytes: Vec<u8>,
}

type Filter = Box<dyn FnMut(&Sent) -> Fate>;

pub struct Bench {
    pub net: Link,
    pub user: Link,
    pub start: Instant,
    pub now: Instant,
    /// One-way delay of the D-channel.
    pub latency: Duration,
    wire: Vec<InFlight>,
    seq: u64,
    /// Every frame transmitted, in order, with its fate.
    pub sent: Vec<Sent>,
    pub net_events: Vec<(Duration, LinkEvent)>,
    pub user_events: Vec<(Duration, LinkEvent)>,
    filter: Option<Filter>,
}

impl Bench {
    /// Both sides with default (PRI) parameters: both establish at start.
    pub fn new() -> Bench {
        Bench::with_configs(Config::default(), Config::default())
    }

    pub fn with_configs(net: Config, user: Config) -> Bench {
        let start = Instant::now();
        let mut bench = Bench {
            net: Link::new(Role::Network, net, start),
            user: Link::new(Role::User, user, start),
            start,
            now: start,
            latency: Duration::from_millis(2),
            wire: Vec::new(),
            seq: 0,
            sent: Vec::new(),
            net_events: Vec::new(),
            user_events: Vec::new(),
            filter: None,
        };
        bench.collect();
        bench
    }

    /// Decides the fate of every frame transmitted from now on.
    pub fn set_filter(&mut self, filter: impl FnMut(&Sent) -> Fate + 'static) {
        self.filter = Some(Box::new(filter));
    }

    pub fn clear_filter(&mut self) {
        self.filter = None;
    }

    pub fn elapsed(&self) -> Duration {
        self.now - self.start
    }

    pub fn link(&mut self, side: Side) -> &mut Link {
        match side {
            Side::Net => &mut self.net,
            Side::User => &mut self.user,
        }
    }

    pub fn command(&mut self, side: Side, cmd: Command) {
        let now = self.now;
        self.link(side).command(cmd, now).expect("command refused");
        self.collect();
    }

    pub fn send(&mut self, side: Side, msg: &[u8]) {
        self.command(side, Command::Send(msg.to_vec()));
    }

    pub fn events(&self, side: Side) -> Vec<LinkEvent> {
        let events = match side {
            Side::Net => &self.net_events,
            Side::User => &self.user_events,
        };
        events.iter().map(|(_, e)| e.clone()).collect()
    }

    /// Events other than data.
    pub fn status_events(&self, side: Side) -> Vec<LinkEvent> {
        self.events(side).into_iter().filter(|e| !matches!(e, LinkEvent::Data(_) | LinkEvent::UnitData(_))).collect()
    }

    /// DL-DATA indications received by `side`, in order.
    pub fn received(&self, side: Side) -> Vec<Vec<u8>> {
        self.events(side)
            .into_iter()
            .filter_map(|e| match e {
                LinkEvent::Data(d) => Some(d),
                _ => None,
            })
            .collect()
    }

    pub fn clear_events(&mut self) {
        self.net_events.clear();
        self.user_events.clear();
    }

    /// Frames sent by `from`, classified.
    pub fn frames_from(&self, from: Side) -> Vec<Kind> {
        self.sent.iter().filter(|s| s.from == from).map(|s| classify(&s.bytes)).collect()
    }

    /// Drains both links' outputs onto the wire and into the event logs.
    pub fn collect(&mut self) {
        for side in [Side::Net, Side::User] {
            while let Some(out) = self.link(side).poll_output() {
                match out {
                    Output::Transmit(bytes) => self.transmit(side, bytes),
                    Output::Event(e) => {
                        let at = self.elapsed();
                        match side {
                            Side::Net => self.net_events.push((at, e)),
                            Side::User => self.user_events.push((at, e)),
                        }
                    }
                }
            }
        }
    }

    fn transmit(&mut self, from: Side, bytes: Vec<u8>) {
        let mut sent = Sent { at: self.elapsed(), from, bytes, fate: Fate::Deliver };
        if let Some(filter) = self.filter.as_mut() {
            sent.fate = filter(&sent);
        }
        let copies = match sent.fate {
            Fate::Deliver => vec![self.latency],
            Fate::Drop => vec![],
            Fate::Duplicate => vec![self.latency, self.latency],
            Fate::Delay(extra) => vec![self.latency + extra],
        };
        for delay in copies {
            self.seq += 1;
            self.wire.push(InFlight { at: self.now + delay, seq: self.seq, to: from.other(), bytes: sent.bytes.clone() });
        }
        self.sent.push(sent);
    }

    /// Runs the bench until `now + d`: delivers frames and fires timers in
    /// time order.
    pub fn run_for(&mut self, d: Duration) {
        let end = self.now + d;
        self.run_until(end);
    }

    pub fn run_until(&mut self, end: Instant) {
        let mut steps = 0u64;
        loop {
            steps += 1;
            assert!(steps < 1_000_000, "bench does not settle (livelock?)");
            self.collect();
            let next_frame = self.wire.iter().enumerate().min_by_key(|(_, f)| (f.at, f.seq)).map(|(i, f)| (i, f.at));
            let next_timer = [self.net.poll_timeout(), self.user.poll_timeout()].into_iter().flatten().min();
            let next = match (next_frame, next_timer) {
                (Some((_, a)), Some(b)) => a.min(b),
                (Some((_, a)), None) => a,
                (None, Some(b)) => b,
                (None, None) => break,
            };
            if next > end {
                break;
            }
            self.now = self.now.max(next);
            let now = self.now;
            match next_frame {
                Some((i, at)) if at <= now => {
                    let frame = self.wire.remove(i);
                    self.link(frame.to).handle_frame(&frame.bytes, now);
                }
                _ => {
                    for side in [Side::Net, Side::User] {
                        if self.link(side).poll_timeout().is_some_and(|t| t <= now) {
                            self.link(side).handle_timeout(now);
                        }
                    }
                }
            }
        }
        self.now = self.now.max(end);
        self.collect();
    }

    /// Runs until both links are in state 7, at most `limit`.
    pub fn run_until_established(&mut self, limit: Duration) {
        let end = self.now + limit;
        while self.now < end {
            self.run_for(Duration::from_millis(1));
            if self.net.state() == LinkState::MultipleFrameEstablished && self.user.state() == LinkState::MultipleFrameEstablished {
                return;
            }
        }
        panic!("not established after {limit:?}: net {:?}, user {:?}", self.net.state(), self.user.state());
    }

    /// Whether nothing is in flight.
    pub fn wire_idle(&self) -> bool {
        self.wire.is_empty()
    }
}

impl Default for Bench {
    fn default() -> Self {
        Bench::new()
    }
}

/// The numbered test message `n`: a Q.931-looking payload with `n` in its
/// call reference.
pub fn message(n: u16) -> Vec<u8> {
    let [hi, lo] = n.to_be_bytes();
    vec![0x08, 0x02, hi & 0x7F, lo, 0x7B]
}

pub fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

pub fn millis(ms: u64) -> Duration {
    Duration::from_millis(ms)
}
