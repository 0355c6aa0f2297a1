//! TDM legs: the gateway's side of PRI B-channels, analog lines and CAS
//! trunks, as sans-IO state machines behind one small interface.
//!
//! A [`TdmInterface`] is one signalling entity: a PRI interface (one
//! D-channel and the spans it controls, [`pri::PriInterface`]) or an
//! analog interface (FXO or FXS ports, [`analog::AnalogInterface`]) or a CAS
//! trunk (E&M/FGB/FGD or MFC/R2 channels, [`cas::CasInterface`]). It speaks call control's leg-neutral
//! vocabulary ([`crate::call::model`]) on one side and its own wire on the
//! other, and holds no clock, socket or thread:
//!
//! * inputs: [`TdmInterface::originate`], [`TdmInterface::command`],
//!   [`TdmInterface::accept`], [`TdmInterface::handle_input`] (kind-specific
//!   I/O such as a received D-channel frame, and span alarms) and
//!   [`TdmInterface::handle_timeout`], each with `now`;
//! * outputs: [`TdmInterface::poll_output`] until `None`, then
//!   [`TdmInterface::poll_timeout`].
//!
//! # The contract
//!
//! * A new call on the wire comes out as [`TdmOutput::Incoming`] with an
//!   [`IncomingKey`]. The integrator gives the call to call control (which
//!   hands back a [`LegRef`]) and calls [`TdmInterface::accept`]`(key, leg)`
//!   **before polling again**; from then on everything about the call is a
//!   [`TdmOutput::Leg`]. (Events that happen before `accept` are held and
//!   come out after it.)
//! * An outbound leg starts with [`TdmInterface::originate`]; a span group
//!   ([`hunt::SpanGroup`]) chooses the interface and channel first.
//! * Every leg, inbound or outbound, ends with exactly one
//!   [`LegEvent::Released`]; its channel is free when that comes out. A
//!   command for a leg that is gone is ignored.
//! * [`TdmOutput::Io`] asks the shell to do kind-specific I/O (for a PRI:
//!   transmit a D-channel frame, or record one in the capture).
//!
//! [`Tdm`] bundles the interfaces and span groups of a daemon, so that the
//! integrator has one object to feed and drain:
//!
//! ```no_run
//! # use std::time::Instant;
//! # use tandem_gateway::tdm::{Tdm, TdmOutput, TdmIo, TdmInput, pri::{PriIo, PriInput}};
//! # fn sketch(tdm: &mut Tdm, frame_from_dchannel: Vec<u8>) {
//! let now = Instant::now();
//! // A frame arrived on interface 0's D-channel (from pri_io::spawn_dchannel):
//! tdm.handle_input(0, TdmInput::Pri(PriInput::Frame { link: 0, frame: frame_from_dchannel }), now);
//! while let Some((iface, out)) = tdm.poll_output() {
//!     match out {
//!         TdmOutput::Incoming { key, setup, identity, media } => {
//!             // let leg = control.incoming(setup, identity, media, now);
//!             # let leg = unimplemented!();
//!             tdm.accept(iface, key, leg);
//!         }
//!         TdmOutput::Leg(leg, event) => { /* control.leg_event(leg, event, now) */ }
//!         TdmOutput::Io(TdmIo::Pri(PriIo::Frame { link, frame })) => { /* dchannel_tx[iface].send(frame) */ }
//!         TdmOutput::Io(TdmIo::Pri(PriIo::Trace(t))) => { /* pcap[iface].write(&t) */ }
//!         TdmOutput::Io(TdmIo::Analog(a)) => { /* analog_shell[a.channo].command(a.cmd) */ }
//!         TdmOutput::Io(TdmIo::Cas(c)) => { /* cas_shell[c.channo].command(c.cmd) */ }
//!     }
//! }
//! // Sleep until tdm.poll_timeout(), the next frame or the next command.
//! # }
//! ```

pub mod analog;
pub mod analog_io;
pub mod analog_tap;
pub mod cas;
pub mod cas_io;
pub mod hunt;
pub mod numbering;
pub mod pri;
pub mod pri_io;
pub mod shell_link;
pub mod smdi;
pub mod zones;

use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::time::Instant;

use crate::call::model::{Cause, LegCommand, LegEvent, LegIdentity, LegRef, MediaEndpoint, Release, Setup};

/// A B-channel or line: its DAHDI span number and position in the span.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ChannelAddr {
    pub span: u32,
    pub pos: u32,
}

impl fmt::Display for ChannelAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.span, self.pos)
    }
}

/// Which channel an outbound call should take.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum ChannelChoice {
    /// Any free channel of the interface.
    #[default]
    Any,
    /// This one if free, otherwise one the interface or the far end picks.
    Preferred(ChannelAddr),
    /// This one or no call.
    Exclusive(ChannelAddr),
}

/// Whether a channel can take a new call, and if not, why.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ChannelState {
    Idle,
    /// A call holds it.
    Busy,
    /// Its span is in alarm.
    Alarm,
    /// Taken out of service by the far end or by us (Q.931 SERVICE).
    OutOfService,
    /// Restarting, or blocked by the operator.
    Maintenance,
    /// The signalling link is down (D-channel not established).
    Down,
}

/// One channel of an interface, as a hunt sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ChannelInfo {
    pub addr: ChannelAddr,
    /// The DAHDI channel number (what the media pump opens).
    pub channo: u32,
    pub state: ChannelState,
}

/// Names a new incoming call until [`TdmInterface::accept`] binds it to a leg.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct IncomingKey(pub u64);

/// Kind-specific I/O an interface asks its shell to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TdmIo {
    Pri(pri::PriIo),
    /// A line command for an analog port's shell.
    Analog(analog::AnalogIo),
    /// A command for a CAS channel's shell.
    Cas(cas::CasIo),
}

/// Kind-specific input from a shell, and what all kinds share.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TdmInput {
    /// A span's alarm state changed (red, blue, LOS…: `true` while in alarm).
    Alarm {
        span: u32,
        in_alarm: bool,
    },
    Pri(pri::PriInput),
    /// A line event or DSP result from an analog port's shell.
    Analog(analog::AnalogInput),
    /// Bits or a DSP result from a CAS channel's shell.
    Cas(cas::CasInput),
}

/// What an interface has for the integrator.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TdmOutput {
    /// A new call arrived: give it to call control, then
    /// [`TdmInterface::accept`] it before polling again.
    Incoming { key: IncomingKey, setup: Setup, identity: LegIdentity, media: MediaEndpoint },
    /// Something happened on a leg.
    Leg(LegRef, LegEvent),
    /// I/O for the shell.
    Io(TdmIo),
}

/// One TDM signalling entity (a PRI interface, analog ports or a CAS trunk). See
/// the [module documentation](self) for the contract.
pub trait TdmInterface {
    /// The configured name (groups and logs use it).
    fn name(&self) -> &str;

    /// What kind of interface it is, as `tandem status` names it: `pri`,
    /// `analog` or `cas`.
    fn kind(&self) -> &'static str;

    /// The DAHDI spans this interface controls.
    fn spans(&self) -> Vec<u32>;

    /// Places an outbound call for `leg`. Failure comes out as the leg's
    /// [`LegEvent::Released`] (cause 34 when no channel is free).
    fn originate(&mut self, leg: LegRef, setup: &Setup, channel: ChannelChoice, now: Instant);

    /// Binds an incoming call to the leg call control made for it.
    fn accept(&mut self, key: IncomingKey, leg: LegRef);

    /// A command for one of this interface's legs.
    fn command(&mut self, leg: LegRef, cmd: LegCommand, now: Instant);

    /// I/O from the shell.
    fn handle_input(&mut self, input: TdmInput, now: Instant);

    /// Runs the timers due at `now`.
    fn handle_timeout(&mut self, now: Instant);

    /// When [`handle_timeout`](TdmInterface::handle_timeout) should next run.
    fn poll_timeout(&self) -> Option<Instant>;

    /// The next output; drain until `None` after every input.
    fn poll_output(&mut self) -> Option<TdmOutput>;

    /// The cause for a call none of this interface's channels can take when
    /// that is its user's being busy rather than a lack of circuits (an FXS
    /// phone with a call and a call waiting: 17). Default none (34 applies).
    fn busy_cause(&self) -> Option<Cause> {
        None
    }

    /// Every channel outbound calls may use, with its state, in ascending
    /// (span, position) order.
    fn channels(&self) -> Vec<ChannelInfo>;

    /// Whether signalling is up (PRI: a D-channel is established).
    fn is_up(&self) -> bool;

    /// Messages wait (or no longer) in the mailbox the interface's lines
    /// show (analog FXS: lamp, FSK MWI, stutter dial tone); ignored by default.
    fn message_waiting(&mut self, _waiting: bool, _now: Instant) {}

    /// The operator blocks (or unblocks) a channel of this interface
    /// (`tandem block`): it takes no new call, outbound or inbound, as its
    /// signalling refuses one; a call on it goes on and the block takes
    /// effect when it ends. False when the interface has no such channel
    /// (or cannot block; the default).
    fn set_blocked(&mut self, _addr: ChannelAddr, _blocked: bool, _now: Instant) -> bool {
        false
    }

    /// The channels the operator blocked, in (span, position) order; a
    /// blocked channel with a call shows as busy in [`TdmInterface::channels`]
    /// until the call ends, then as [`ChannelState::Maintenance`].
    fn blocked(&self) -> Vec<ChannelAddr> {
        Vec::new()
    }

    /// The channels the far end took out of service (an ISDN SERVICE
    /// message), in (span, position) order; a channel may also be in
    /// [`TdmInterface::blocked`].
    fn far_blocked(&self) -> Vec<ChannelAddr> {
        Vec::new()
    }

    /// What an operator's block does beyond this side, when that needs
    /// saying (e.g. a PRI whose switch type has no SERVICE messages: the
    /// far end is not told).
    fn block_note(&self) -> Option<String> {
        None
    }
}

/// The daemon's TDM side: every interface and every span group, fed and
/// drained as one.
#[derive(Default)]
pub struct Tdm {
    interfaces: Vec<Box<dyn TdmInterface + Send>>,
    groups: Vec<hunt::SpanGroup>,
    legs: HashMap<LegRef, usize>,
    out: VecDeque<(usize, TdmOutput)>,
    next_poll: usize,
}

impl Tdm {
    pub fn new() -> Tdm {
        Tdm::default()
    }

    /// Adds an interface; returns its index (used by every per-interface call).
    pub fn add_interface(&mut self, iface: Box<dyn TdmInterface + Send>) -> usize {
        self.interfaces.push(iface);
        self.interfaces.len() - 1
    }

    /// Adds a span group.
    pub fn add_group(&mut self, group: hunt::SpanGroup) {
        self.groups.push(group);
    }

    /// Replaces the span groups (a configuration reload). A group whose
    /// name and members stay keeps its hunting memory (round robin's last
    /// pick, LRU's order) and takes the new strategy; calls in progress
    /// are not touched.
    pub fn set_groups(&mut self, groups: Vec<hunt::SpanGroup>) {
        let mut old = std::mem::take(&mut self.groups);
        for g in groups {
            match old.iter().position(|o| o.name() == g.name() && o.members() == g.members()) {
                Some(i) => {
                    let mut kept = old.swap_remove(i);
                    kept.set_strategy(g.strategy());
                    self.groups.push(kept);
                }
                None => self.groups.push(g),
            }
        }
    }

    /// The span groups.
    pub fn groups(&self) -> &[hunt::SpanGroup] {
        &self.groups
    }

    /// The index of an interface by name.
    pub fn interface_index(&self, name: &str) -> Option<usize> {
        self.interfaces.iter().position(|i| i.name() == name)
    }

    /// An interface by index.
    pub fn interface(&self, index: usize) -> Option<&(dyn TdmInterface + Send)> {
        self.interfaces.get(index).map(|b| b.as_ref())
    }

    /// Which interface carries a leg.
    pub fn leg_interface(&self, leg: LegRef) -> Option<usize> {
        self.legs.get(&leg).copied()
    }

    /// Places an outbound leg on a span group: hunts a channel and
    /// originates on its interface, or releases the leg with cause 34 (no
    /// circuit available; cause 3 for an unknown group).
    pub fn originate(&mut self, leg: LegRef, group: &str, setup: &Setup, now: Instant) {
        let Some(g) = self.groups.iter_mut().find(|g| g.name() == group) else {
            tracing::warn!(call = %leg.call, group, "originate to an unknown span group");
            self.out.push_back((usize::MAX, TdmOutput::Leg(leg, LegEvent::Released(Release { cause: Cause::NO_ROUTE_DESTINATION, wire: None }))));
            return;
        };
        let interfaces = &self.interfaces;
        let pick = g.hunt(|name| interfaces.iter().find(|i| i.name() == name).map(|i| i.channels()).unwrap_or_default());
        match pick {
            Some(h) => {
                let Some(i) = self.interface_index(&h.interface) else { unreachable!("hunt returns members that exist") };
                tracing::debug!(call = %leg.call, group, interface = %h.interface, channel = %h.channel.addr, "hunted");
                self.legs.insert(leg, i);
                self.interfaces[i].originate(leg, setup, ChannelChoice::Exclusive(h.channel.addr), now);
            }
            None => {
                tracing::info!(call = %leg.call, group, "no channel free in the group");
                let cause =
                    g.members().iter().find_map(|m| interfaces.iter().find(|i| i.name() == m).and_then(|i| i.busy_cause())).unwrap_or(Cause::NO_CIRCUIT);
                let r = Release { cause, wire: Some(format!("no channel in group {group}")) };
                self.out.push_back((usize::MAX, TdmOutput::Leg(leg, LegEvent::Released(r))));
            }
        }
    }

    /// Binds an incoming call of interface `iface` to its leg.
    pub fn accept(&mut self, iface: usize, key: IncomingKey, leg: LegRef) {
        if let Some(i) = self.interfaces.get_mut(iface) {
            self.legs.insert(leg, iface);
            i.accept(key, leg);
        }
    }

    /// A command for a leg on any interface (ignored for legs that are gone).
    pub fn command(&mut self, leg: LegRef, cmd: LegCommand, now: Instant) {
        match self.legs.get(&leg) {
            Some(&i) => self.interfaces[i].command(leg, cmd, now),
            None => tracing::debug!(call = %leg.call, ?cmd, "command for a TDM leg that is gone"),
        }
    }

    /// Input for interface `iface`.
    pub fn handle_input(&mut self, iface: usize, input: TdmInput, now: Instant) {
        if let Some(i) = self.interfaces.get_mut(iface) {
            i.handle_input(input, now);
        }
    }

    /// Tells interface `iface` its mailbox's message-waiting state.
    pub fn message_waiting(&mut self, iface: usize, waiting: bool, now: Instant) {
        if let Some(i) = self.interfaces.get_mut(iface) {
            i.message_waiting(waiting, now);
        }
    }

    /// Blocks or unblocks channels of `span` (`positions`, or all of the
    /// span's channels when `None`) on the interfaces that have them; returns
    /// each channel changed with its interface index. Positions no
    /// interface has are named in the error, and nothing is changed then.
    pub fn set_blocked(&mut self, span: u32, positions: Option<&[u32]>, blocked: bool, now: Instant) -> Result<Vec<(usize, ChannelAddr)>, String> {
        let mut plan = Vec::new();
        let mut missing = Vec::new();
        let owner = |addr: ChannelAddr| self.interfaces.iter().position(|i| i.channels().iter().any(|c| c.addr == addr));
        match positions {
            Some(list) => {
                for &pos in list {
                    let addr = ChannelAddr { span, pos };
                    match owner(addr) {
                        Some(i) => plan.push((i, addr)),
                        None => missing.push(pos),
                    }
                }
            }
            None => {
                for (i, iface) in self.interfaces.iter().enumerate() {
                    plan.extend(iface.channels().iter().filter(|c| c.addr.span == span).map(|c| (i, c.addr)));
                }
            }
        }
        if !missing.is_empty() {
            let list: Vec<String> = missing.iter().map(|p| p.to_string()).collect();
            return Err(format!("span {span} has no channel {} on any interface", list.join(",")));
        }
        if plan.is_empty() {
            return Err(format!("no interface has channels on span {span}"));
        }
        let mut done = Vec::new();
        for (i, addr) in plan {
            if self.interfaces[i].set_blocked(addr, blocked, now) {
                done.push((i, addr));
            }
        }
        if done.is_empty() {
            return Err(format!("the channels of span {span} cannot be blocked"));
        }
        Ok(done)
    }

    /// A span's alarm changed: tells the interface that has the span.
    pub fn span_alarm(&mut self, span: u32, in_alarm: bool, now: Instant) {
        for i in &mut self.interfaces {
            if i.spans().contains(&span) {
                i.handle_input(TdmInput::Alarm { span, in_alarm }, now);
            }
        }
    }

    /// Runs every interface's due timers.
    pub fn handle_timeout(&mut self, now: Instant) {
        for i in &mut self.interfaces {
            if i.poll_timeout().is_some_and(|t| t <= now) {
                i.handle_timeout(now);
            }
        }
    }

    /// The earliest deadline of all interfaces.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.interfaces.iter().filter_map(|i| i.poll_timeout()).min()
    }

    /// The next output and the index of its interface (`usize::MAX` for a
    /// leg released by a hunt that found nothing).
    pub fn poll_output(&mut self) -> Option<(usize, TdmOutput)> {
        let o = self.next_output()?;
        if let (_, TdmOutput::Leg(leg, LegEvent::Released(_))) = &o {
            self.legs.remove(leg);
        }
        Some(o)
    }

    fn next_output(&mut self) -> Option<(usize, TdmOutput)> {
        if let Some(o) = self.out.pop_front() {
            return Some(o);
        }
        let n = self.interfaces.len();
        for k in 0..n {
            let i = (self.next_poll + k) % n;
            if let Some(o) = self.interfaces[i].poll_output() {
                self.next_poll = (i + 1) % n;
                return Some((i, o));
            }
        }
        None
    }
}
