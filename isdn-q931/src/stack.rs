//! The whole D-channel stack: Q.921 links under one Q.931 entity, sans-IO.
//!
//! [`Pri`] owns one [`q921::Link`] per configured D-channel and one
//! [`CallControl`]. With several links (NFAS D-channel backup) one is the
//! *active* link that carries call control; the others stand by:
//!
//! * [`BackupMode::Cold`] (default): a backup link is left released
//!   (answering the peer's SABME) until no link carries call control; then
//!   the stack establishes it. Calls in the active state survive the
//!   switch-over under T309, and are checked with STATUS ENQUIRY on the
//!   new link.
//! * [`BackupMode::Hot`]: every link keeps itself established; when the
//!   active one fails, call control moves at once to another established
//!   link.
//!
//! A message arriving on an established link that is not the active one
//! makes it the active one (the peer switched over).
//!
//! ```
//! use std::time::Instant;
//! use isdn_q931::{Output, Pri, PriConfig};
//! use isdn_q931::q931::{Config, Side, SwitchType};
//!
//! let now = Instant::now();
//! let mut pri = Pri::new(PriConfig::new(Config::new(SwitchType::Ni2, Side::User)), now).unwrap();
//! // The link starts establishing: a SABME to transmit on link 0.
//! let Some(Output::Transmit { link: 0, frame }) = pri.poll_output() else { panic!() };
//! assert_eq!(frame, [0x00, 0x01, 0x7F]);
//! ```

use std::collections::VecDeque;
use std::time::Instant;

use crate::q921::pcap::Direction;
use crate::q921::{self, LinkEvent, Role};
use crate::q931::{CallControl, CallId, ChannelRef, Command, CommandError, Config, ConfigError, Event, LinkId, SetupRequest, Side};

/// One D-channel data link.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkConfig {
    pub id: LinkId,
    /// A backup D-channel (NFAS D-channel backup).
    pub backup: bool,
    /// Data link parameters. The role follows the Q.931 side.
    pub q921: q921::Config,
}

impl LinkConfig {
    pub fn primary(id: LinkId) -> LinkConfig {
        LinkConfig { id, backup: false, q921: q921::Config::default() }
    }
    pub fn backup(id: LinkId) -> LinkConfig {
        LinkConfig { backup: true, ..LinkConfig::primary(id) }
    }
}

/// How backup D-channels stand by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum BackupMode {
    /// Established only when needed.
    #[default]
    Cold,
    /// Always established.
    Hot,
}

/// Configuration of a [`Pri`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PriConfig {
    pub q931: Config,
    /// The D-channels; at least one.
    pub links: Vec<LinkConfig>,
    pub backup_mode: BackupMode,
    /// Emit [`Output::Trace`] for every frame sent and received.
    pub trace: bool,
}

impl PriConfig {
    /// One D-channel, link id 0, no trace.
    pub fn new(q931: Config) -> PriConfig {
        PriConfig { q931, links: vec![LinkConfig::primary(0)], backup_mode: BackupMode::Cold, trace: false }
    }
}

/// A frame seen on a link, for a capture (write it with
/// [`q921::pcap::PcapWriter`]: link type 177, `Direction` as given).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Trace {
    pub link: LinkId,
    pub direction: Direction,
    /// Address, control and information field (no flags, no FCS).
    pub frame: Vec<u8>,
    pub at: Instant,
}

/// Something for the shell to act on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Output {
    /// A frame to transmit on a D-channel (the shell adds flags and FCS).
    Transmit {
        link: LinkId,
        frame: Vec<u8>,
    },
    Event(Event),
    /// Frame tap (with [`PriConfig::trace`]).
    Trace(Trace),
}

#[derive(Debug, Clone)]
struct Slot {
    id: LinkId,
    backup: bool,
    link: q921::Link,
    up: bool,
}

/// The D-channel stack. See the [module documentation](self).
#[derive(Debug, Clone)]
pub struct Pri {
    cc: CallControl,
    links: Vec<Slot>,
    active: Option<usize>,
    mode: BackupMode,
    trace: bool,
    out: VecDeque<Output>,
    dropped: usize,
}

impl Pri {
    /// A new stack; primary links (and hot backups) start establishing.
    pub fn new(config: PriConfig, now: Instant) -> Result<Pri, ConfigError> {
        if config.links.is_empty() {
            return Err(ConfigError::NoLink);
        }
        for (i, l) in config.links.iter().enumerate() {
            if config.links[..i].iter().any(|m| m.id == l.id) {
                return Err(ConfigError::DuplicateLink(l.id));
            }
        }
        let role = match config.q931.side {
            Side::Network => Role::Network,
            Side::User => Role::User,
        };
        let links = config
            .links
            .iter()
            .map(|l| {
                let mut c = l.q921.clone();
                if l.backup && config.backup_mode == BackupMode::Cold {
                    c.auto_establish = false;
                }
                Slot { id: l.id, backup: l.backup, link: q921::Link::new(role, c, now), up: false }
            })
            .collect();
        let mut pri = Pri {
            cc: CallControl::new(config.q931, now)?,
            links,
            active: None,
            mode: config.backup_mode,
            trace: config.trace,
            out: VecDeque::new(),
            dropped: 0,
        };
        if !pri.links.iter().any(|s| !s.backup) {
            // Only backups configured: nothing else will bring one up.
            pri.establish_backups(now);
        }
        pri.pump(now);
        Ok(pri)
    }

    /// A frame received on a link (address, control, information; no
    /// flags or FCS). Frames for unknown links are ignored.
    pub fn handle_frame(&mut self, link: LinkId, frame: &[u8], now: Instant) {
        let Some(i) = self.index(link) else {
            return;
        };
        if self.trace {
            self.out.push_back(Output::Trace(Trace { link, direction: Direction::Received, frame: frame.to_vec(), at: now }));
        }
        self.links[i].link.handle_frame(frame, now);
        self.pump(now);
    }

    /// Runs the timers due at `now`.
    pub fn handle_timeout(&mut self, now: Instant) {
        for s in &mut self.links {
            if s.link.poll_timeout().is_some_and(|t| t <= now) {
                s.link.handle_timeout(now);
            }
        }
        self.pump(now);
        if self.cc.poll_timeout().is_some_and(|t| t <= now) {
            self.cc.handle_timeout(now);
        }
        self.pump(now);
    }

    /// A command for call control. `Ok(Some(call))` for
    /// [`Command::Setup`].
    pub fn command(&mut self, cmd: Command, now: Instant) -> Result<Option<CallId>, CommandError> {
        let r = self.cc.command(cmd, now);
        self.pump(now);
        r
    }

    /// Places a call (shorthand for [`Command::Setup`]).
    pub fn setup(&mut self, req: SetupRequest, now: Instant) -> Result<CallId, CommandError> {
        let r = self.cc.setup(req, now);
        self.pump(now);
        r
    }

    /// The next frame, event or trace record.
    pub fn poll_output(&mut self) -> Option<Output> {
        self.out.pop_front()
    }

    /// When [`handle_timeout`](Pri::handle_timeout) should next run.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.links.iter().filter_map(|s| s.link.poll_timeout()).chain(self.cc.poll_timeout()).min()
    }

    /// Blocks (or unblocks) a B-channel locally (see
    /// [`CallControl::set_channel_blocked`]); `false` for an unknown channel.
    pub fn set_channel_blocked(&mut self, ch: ChannelRef, blocked: bool) -> bool {
        self.cc.set_channel_blocked(ch, blocked)
    }

    /// The call-control entity (read only: states, channels, memory).
    pub fn call_control(&self) -> &CallControl {
        &self.cc
    }

    /// The link carrying call control.
    pub fn active_link(&self) -> Option<LinkId> {
        self.active.map(|i| self.links[i].id)
    }

    /// The Q.921 state of a link.
    pub fn link_state(&self, link: LinkId) -> Option<q921::LinkState> {
        Some(self.links[self.index(link)?].link.state())
    }

    /// Messages dropped because no link was up.
    pub fn dropped_messages(&self) -> usize {
        self.dropped
    }

    fn index(&self, link: LinkId) -> Option<usize> {
        self.links.iter().position(|s| s.id == link)
    }

    fn set_active(&mut self, i: Option<usize>) {
        if self.active != i {
            self.active = i;
            let link = i.map(|i| self.links[i].id);
            self.out.push_back(Output::Event(Event::ActiveLink { link }));
        }
    }

    /// Moves everything the links and call control produced into the
    /// output queue, feeding link events to call control, until quiet.
    fn pump(&mut self, now: Instant) {
        loop {
            let mut progressed = false;
            for i in 0..self.links.len() {
                while let Some(o) = self.links[i].link.poll_output() {
                    progressed = true;
                    match o {
                        q921::Output::Transmit(frame) => {
                            let link = self.links[i].id;
                            if self.trace {
                                self.out.push_back(Output::Trace(Trace { link, direction: Direction::Sent, frame: frame.clone(), at: now }));
                            }
                            self.out.push_back(Output::Transmit { link, frame });
                        }
                        q921::Output::Event(e) => self.on_link_event(i, e, now),
                    }
                }
            }
            while let Some(o) = self.cc.poll_output() {
                progressed = true;
                match o {
                    crate::q931::Output::Send(msg) => match self.active {
                        Some(a) => {
                            if self.links[a].link.command(q921::Command::Send(msg), now).is_err() {
                                self.dropped += 1;
                            }
                        }
                        None => self.dropped += 1,
                    },
                    crate::q931::Output::Event(e) => self.out.push_back(Output::Event(e)),
                }
            }
            if !progressed {
                break;
            }
        }
    }

    fn on_link_event(&mut self, i: usize, e: LinkEvent, now: Instant) {
        let id = self.links[i].id;
        match e {
            LinkEvent::Established => {
                self.links[i].up = true;
                self.out.push_back(Output::Event(Event::LinkUp { link: id }));
                if self.active.is_none() {
                    self.set_active(Some(i));
                    self.cc.link_up(now);
                }
            }
            LinkEvent::Reestablished => {
                self.links[i].up = true;
                if self.active == Some(i) {
                    self.cc.link_reset(now);
                }
            }
            LinkEvent::Released => {
                let was_up = std::mem::replace(&mut self.links[i].up, false);
                if was_up {
                    self.out.push_back(Output::Event(Event::LinkDown { link: id }));
                }
                if self.active == Some(i) {
                    match self.links.iter().position(|s| s.up) {
                        Some(j) => {
                            // Hot standby: carry on on the other link.
                            self.set_active(Some(j));
                            self.cc.link_reset(now);
                        }
                        None => {
                            self.set_active(None);
                            self.cc.link_down(now);
                        }
                    }
                }
                if self.active.is_none() {
                    // Cold standby: bring up the backups, and keep trying
                    // while no link carries call control.
                    self.establish_backups(now);
                }
            }
            LinkEvent::Data(msg) | LinkEvent::UnitData(msg) => {
                if self.active != Some(i) && self.links[i].up {
                    // The peer switched D-channels: follow it, and check
                    // the calls (messages on the old link may be lost).
                    let was_down = self.active.is_none();
                    self.set_active(Some(i));
                    if was_down {
                        self.cc.link_up(now);
                    } else {
                        self.cc.link_reset(now);
                    }
                }
                if self.active == Some(i) {
                    self.cc.handle_message(&msg, now);
                }
            }
            LinkEvent::Error(_) => {}
        }
    }

    /// Cold standby: bring up the backup links that are down.
    fn establish_backups(&mut self, now: Instant) {
        if self.mode != BackupMode::Cold {
            return;
        }
        for s in &mut self.links {
            if s.backup && !s.up && s.link.state() == q921::LinkState::TeiAssigned {
                let _ = s.link.command(q921::Command::Establish, now);
            }
        }
    }
}
