//! The data link state machine (Q.921 §5, multiple-frame operation).
//!
//! Frames are decoded and built with the crate's LAPD codec,
//! [`crate::wire::lapd`].

use std::collections::VecDeque;
use std::fmt;
use std::time::{Duration, Instant};

use crate::wire::Error as WireError;
use crate::wire::lapd::{CommandResponse, Frame, FrameKind, FrameRepr, Role};

/// Data link parameters (Q.921 §5.9). The defaults are those for a PRI.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// T200: time to wait for an acknowledgement before retransmitting
    /// (default 1 s).
    pub t200: Duration,
    /// T203: longest time without frames exchanged before polling the peer
    /// (default 10 s).
    pub t203: Duration,
    /// N200: retransmissions of a frame before giving up (default 3).
    pub n200: u32,
    /// k: most I frames outstanding (sent, not yet acknowledged); 7 for a
    /// PRI SAPI 0 link. Clamped to 1..=127.
    pub k: u8,
    /// N201: most octets in an information field (default 260). Longer
    /// DL-DATA requests are refused, longer received I frames are a frame
    /// rejection condition (MDL-ERROR O).
    pub n201: usize,
    /// SAPI of this link (default 0, call control). Masked to 6 bits.
    pub sapi: u8,
    /// TEI of this link (default 0, the PRI's fixed TEI). Masked to 7 bits.
    pub tei: u8,
    /// Keep the link up by itself, as a PRI does: start establishing in
    /// [`Link::new`], and when the link has gone down for any reason other
    /// than [`Command::Release`], try again after `retry_interval`
    /// (default true).
    pub auto_establish: bool,
    /// Pause in the TEI-assigned state before another automatic attempt to
    /// establish (default 1 s).
    pub retry_interval: Duration,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            t200: Duration::from_secs(1),
            t203: Duration::from_secs(10),
            n200: 3,
            k: 7,
            n201: 260,
            sapi: 0,
            tei: 0,
            auto_establish: true,
            retry_interval: Duration::from_secs(1),
        }
    }
}

/// Requests from layer 3 (or from management) to the data link.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// DL-ESTABLISH request: bring the link into multiple-frame operation.
    /// While it is already up, this re-establishes it (dropping the frames
    /// sent and not yet acknowledged), reported as
    /// [`LinkEvent::Reestablished`].
    Establish,
    /// DL-RELEASE request: send DISC and keep the link down until the next
    /// `Establish` or `Send`; SABMEs from the peer are answered with DM
    /// meanwhile.
    Release,
    /// DL-DATA request: one layer-3 message (a Q.931 message) for
    /// acknowledged transfer. Queued while the link is not established; in
    /// the TEI-assigned state this starts establishment.
    Send(Vec<u8>),
    /// DL-UNIT-DATA request: one message sent at once in a UI frame, in any
    /// state, without acknowledgement or retransmission.
    SendUnitdata(Vec<u8>),
    /// Set (`true`) or clear (`false`) the own-receiver-busy condition:
    /// while set, received I frames are discarded and answered with RNR, so
    /// that the peer stops sending.
    ReceiverBusy(bool),
}

/// Why a [`Command`] was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum CommandError {
    /// The message is longer than N201.
    #[error("message of {len} octets is longer than N201 ({max} octets)")]
    TooLong {
        /// Length of the refused message.
        len: usize,
        /// N201.
        max: usize,
    },
    /// A DL-DATA request while the link is being released (Q.921 discards
    /// these).
    #[error("the data link is being released")]
    Releasing,
}

/// The management error codes of Q.921 Appendix II (Table II.1), reported
/// as [`LinkEvent::Error`] (MDL-ERROR indication).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MdlError {
    /// A: a supervisory response with F=1 that answers no poll.
    UnsolicitedSupervisoryResponse,
    /// B: a DM response with F=1 that answers no poll.
    UnsolicitedDmResponse,
    /// C: a UA response with F=1 that answers no SABME or DISC.
    UnsolicitedUaResponseF1,
    /// D: a UA response with F=0.
    UnsolicitedUaResponseF0,
    /// E: a DM response with F=0 while established: the peer has left
    /// multiple-frame operation.
    DmResponse,
    /// F: the peer re-established the link (SABME while established).
    PeerInitiatedReestablishment,
    /// G: SABME sent N200+1 times without answer.
    SabmeRetriesExhausted,
    /// H: DISC sent N200+1 times without answer.
    DiscRetriesExhausted,
    /// I: status enquiry (poll) sent N200+1 times without answer.
    StatusEnquiryRetriesExhausted,
    /// J: an N(R) outside V(A)..=V(S).
    NrSequenceError,
    /// K: an FRMR response.
    FrmrReceived,
    /// L: an undefined or not implemented control field.
    UndefinedControlField,
    /// M: an information field in a frame that must not carry one.
    InfoFieldNotPermitted,
    /// N: a supervisory frame of the wrong length.
    WrongFrameSize,
    /// O: an information field longer than N201.
    InfoFieldTooLong,
}

impl MdlError {
    /// The letter Q.921 Appendix II gives this error.
    pub fn code(self) -> char {
        match self {
            MdlError::UnsolicitedSupervisoryResponse => 'A',
            MdlError::UnsolicitedDmResponse => 'B',
            MdlError::UnsolicitedUaResponseF1 => 'C',
            MdlError::UnsolicitedUaResponseF0 => 'D',
            MdlError::DmResponse => 'E',
            MdlError::PeerInitiatedReestablishment => 'F',
            MdlError::SabmeRetriesExhausted => 'G',
            MdlError::DiscRetriesExhausted => 'H',
            MdlError::StatusEnquiryRetriesExhausted => 'I',
            MdlError::NrSequenceError => 'J',
            MdlError::FrmrReceived => 'K',
            MdlError::UndefinedControlField => 'L',
            MdlError::InfoFieldNotPermitted => 'M',
            MdlError::WrongFrameSize => 'N',
            MdlError::InfoFieldTooLong => 'O',
        }
    }

    fn description(self) -> &'static str {
        match self {
            MdlError::UnsolicitedSupervisoryResponse => "unsolicited supervisory response (F=1)",
            MdlError::UnsolicitedDmResponse => "unsolicited DM response (F=1)",
            MdlError::UnsolicitedUaResponseF1 => "unsolicited UA response (F=1)",
            MdlError::UnsolicitedUaResponseF0 => "unsolicited UA response (F=0)",
            MdlError::DmResponse => "DM response (F=0) received",
            MdlError::PeerInitiatedReestablishment => "peer initiated re-establishment (SABME)",
            MdlError::SabmeRetriesExhausted => "unsuccessful retransmission of SABME (N200)",
            MdlError::DiscRetriesExhausted => "unsuccessful retransmission of DISC (N200)",
            MdlError::StatusEnquiryRetriesExhausted => "status enquiry unanswered (N200)",
            MdlError::NrSequenceError => "N(R) sequence error",
            MdlError::FrmrReceived => "FRMR response received",
            MdlError::UndefinedControlField => "undefined or not implemented control field",
            MdlError::InfoFieldNotPermitted => "information field not permitted",
            MdlError::WrongFrameSize => "frame of the wrong size",
            MdlError::InfoFieldTooLong => "information field longer than N201",
        }
    }
}

impl fmt::Display for MdlError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "MDL-ERROR {}: {}", self.code(), self.description())
    }
}

/// What the link tells layer 3 and management.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LinkEvent {
    /// DL-ESTABLISH indication or confirm: the link entered multiple-frame
    /// operation after having been down (or never up).
    Established,
    /// DL-ESTABLISH indication after a re-establishment of a link that was
    /// up (by the peer's SABME or our own error recovery): sequence numbers
    /// were reset and I frames sent but not acknowledged were dropped, so
    /// layer 3 should check the state of its calls (Q.931 §5.8.9 / status
    /// enquiry). Messages never transmitted are kept and sent on the new link.
    Reestablished,
    /// DL-RELEASE indication or confirm: the link left multiple-frame
    /// operation (or an establishment asked for by layer 3 failed). Queued
    /// messages were dropped.
    Released,
    /// DL-DATA indication: one message received in sequence.
    Data(Vec<u8>),
    /// DL-UNIT-DATA indication: the information field of a UI frame.
    UnitData(Vec<u8>),
    /// MDL-ERROR indication.
    Error(MdlError),
}

/// Something for the caller to act on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Output {
    /// A frame to transmit (address, control, information; the caller adds
    /// flags and FCS).
    Transmit(Vec<u8>),
    /// An event for layer 3 or management.
    Event(LinkEvent),
}

/// The data link states of Q.921 §5 that a PRI link goes through (TEI
/// assignment is not needed: the TEI is fixed).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LinkState {
    /// State 4: TEI assigned, link down.
    TeiAssigned,
    /// State 5: SABME sent, awaiting UA.
    AwaitingEstablishment,
    /// State 6: DISC sent, awaiting UA.
    AwaitingRelease,
    /// State 7: multiple frame established.
    MultipleFrameEstablished,
    /// State 8: timer recovery (T200 ran out while established; polling the
    /// peer).
    TimerRecovery,
}

impl LinkState {
    /// The state number Q.921 uses.
    pub fn number(self) -> u8 {
        match self {
            LinkState::TeiAssigned => 4,
            LinkState::AwaitingEstablishment => 5,
            LinkState::AwaitingRelease => 6,
            LinkState::MultipleFrameEstablished => 7,
            LinkState::TimerRecovery => 8,
        }
    }
}

/// TEI 127: the group TEI, accepted on UI frames only.
const GROUP_TEI: u8 = 127;

/// One LAPD data link (one SAPI and TEI), network or user side.
///
/// Never panics on any input; see the [module documentation](super).
#[derive(Debug, Clone)]
pub struct Link {
    role: Role,
    config: Config,
    /// SAPI of this link (masked to 6 bits).
    sapi: u8,
    /// TEI of this link (masked to 7 bits).
    tei: u8,
    state: LinkState,
    /// V(S): sequence number of the next new I frame to send.
    vs: u8,
    /// V(A): sequence number of the oldest unacknowledged I frame.
    va: u8,
    /// V(R): sequence number of the next in-sequence I frame expected.
    vr: u8,
    /// RC: retransmission counter.
    rc: u32,
    peer_busy: bool,
    own_busy: bool,
    reject_exception: bool,
    acknowledge_pending: bool,
    /// Layer 3 asked for the establishment under way.
    l3_initiated: bool,
    /// Layer 3 was last told the link is up.
    reported_up: bool,
    /// Layer 3 released the link; stay down until it asks otherwise.
    locally_released: bool,
    /// The I queue: element 0 carries sequence number V(A). Elements
    /// before V(S) - V(A) have been sent and await acknowledgement.
    queue: VecDeque<Vec<u8>>,
    /// How many elements at the front of `queue` were transmitted at least
    /// once (at least V(S) - V(A); more after a retransmission rewound
    /// V(S)). These are dropped, never resent, across a re-establishment,
    /// so that the peer never receives a message twice.
    transmitted: usize,
    t200: Option<Instant>,
    t203: Option<Instant>,
    retry: Option<Instant>,
    out: VecDeque<Output>,
}

impl Link {
    /// A new link in the TEI-assigned state. With
    /// [`Config::auto_establish`] it starts establishing at once: its first
    /// output is a SABME.
    pub fn new(role: Role, config: Config, now: Instant) -> Link {
        let (sapi, tei) = (config.sapi & 0x3F, config.tei & 0x7F);
        let mut link = Link {
            role,
            config,
            sapi,
            tei,
            state: LinkState::TeiAssigned,
            vs: 0,
            va: 0,
            vr: 0,
            rc: 0,
            peer_busy: false,
            own_busy: false,
            reject_exception: false,
            acknowledge_pending: false,
            l3_initiated: false,
            reported_up: false,
            locally_released: false,
            queue: VecDeque::new(),
            transmitted: 0,
            t200: None,
            t203: None,
            retry: None,
            out: VecDeque::new(),
        };
        if link.config.auto_establish {
            link.establish_data_link(now);
        }
        link
    }

    /// This link's side.
    pub fn role(&self) -> Role {
        self.role
    }

    /// This link's parameters.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The current Q.921 state.
    pub fn state(&self) -> LinkState {
        self.state
    }

    /// Whether the link is in multiple-frame operation (states 7 and 8).
    pub fn is_established(&self) -> bool {
        matches!(self.state, LinkState::MultipleFrameEstablished | LinkState::TimerRecovery)
    }

    /// Whether the peer said it is busy (RNR) and has not cleared it since.
    pub fn is_peer_busy(&self) -> bool {
        self.peer_busy
    }

    /// DL-DATA messages accepted and not yet acknowledged by the peer
    /// (sent or waiting to be sent).
    pub fn queued(&self) -> usize {
        self.queue.len()
    }

    /// A received frame: address, control and information field, without
    /// flags and FCS. Frames for another SAPI or TEI, and invalid frames,
    /// are ignored.
    pub fn handle_frame(&mut self, bytes: &[u8], now: Instant) {
        let view = Frame::new_unchecked(bytes);
        match FrameRepr::parse_with_stray_info(&view) {
            Ok((frame, stray)) => {
                if frame.sapi != self.sapi {
                    return;
                }
                let is_ui = matches!(frame.kind, FrameKind::Ui { .. });
                if frame.tei != self.tei && !(is_ui && frame.tei == GROUP_TEI) {
                    return;
                }
                let command = frame.command_response(self.role.peer()) == CommandResponse::Command;
                self.on_frame(command, frame.kind, stray, now);
            }
            Err(WireError::LapdControl(_)) => {
                // Only if the frame was meant for this link (its address
                // field is well formed, or the error would be LapdAddress).
                if view.sapi() == self.sapi && view.tei() == self.tei {
                    self.frame_rejection(MdlError::UndefinedControlField, now);
                }
            }
            // Invalid frames (Q.921 §5.8.4: too short, bad address field)
            // are discarded without notice.
            Err(_) => {}
        }
        self.pump(now);
    }

    /// Runs the timers that are due at `now`.
    pub fn handle_timeout(&mut self, now: Instant) {
        if self.t200.is_some_and(|t| t <= now) {
            self.t200 = None;
            self.t200_expired(now);
        }
        if self.t203.is_some_and(|t| t <= now) {
            self.t203 = None;
            self.t203_expired(now);
        }
        if self.retry.is_some_and(|t| t <= now) {
            self.retry = None;
            if self.state == LinkState::TeiAssigned && self.wants_up() {
                self.l3_initiated = false;
                self.establish_data_link(now);
            }
        }
        self.pump(now);
    }

    /// A request from layer 3.
    pub fn command(&mut self, cmd: Command, now: Instant) -> Result<(), CommandError> {
        match cmd {
            Command::Establish => {
                self.locally_released = false;
                match self.state {
                    LinkState::AwaitingEstablishment => self.l3_initiated = true,
                    _ => {
                        self.discard_transmitted();
                        self.l3_initiated = true;
                        self.establish_data_link(now);
                    }
                }
            }
            Command::Release => {
                self.locally_released = true;
                self.retry = None;
                match self.state {
                    LinkState::TeiAssigned => {
                        self.clear_queue();
                        self.event(LinkEvent::Released);
                    }
                    LinkState::AwaitingRelease => {}
                    LinkState::AwaitingEstablishment | LinkState::MultipleFrameEstablished | LinkState::TimerRecovery => {
                        self.clear_queue();
                        self.rc = 0;
                        self.transmit(true, FrameKind::Disc { p: true });
                        self.t203 = None;
                        self.t200 = Some(now + self.config.t200);
                        self.state = LinkState::AwaitingRelease;
                    }
                }
            }
            Command::Send(msg) => {
                if msg.len() > self.config.n201 {
                    return Err(CommandError::TooLong { len: msg.len(), max: self.config.n201 });
                }
                match self.state {
                    LinkState::AwaitingRelease => return Err(CommandError::Releasing),
                    LinkState::TeiAssigned => {
                        self.queue.push_back(msg);
                        self.locally_released = false;
                        self.l3_initiated = true;
                        self.establish_data_link(now);
                    }
                    _ => self.queue.push_back(msg),
                }
            }
            Command::SendUnitdata(msg) => {
                if msg.len() > self.config.n201 {
                    return Err(CommandError::TooLong { len: msg.len(), max: self.config.n201 });
                }
                self.transmit(true, FrameKind::Ui { p: false, info: &msg });
            }
            Command::ReceiverBusy(busy) => {
                if busy != self.own_busy {
                    self.own_busy = busy;
                    if self.is_established() {
                        let kind = self.receiver_status(false);
                        self.tx_s(false, kind);
                    }
                }
            }
        }
        self.pump(now);
        Ok(())
    }

    /// The next frame to transmit or event to deliver, in order.
    pub fn poll_output(&mut self) -> Option<Output> {
        self.out.pop_front()
    }

    /// When [`Link::handle_timeout`] should next be called, if a timer runs.
    pub fn poll_timeout(&self) -> Option<Instant> {
        [self.t200, self.t203, self.retry].into_iter().flatten().min()
    }

    // ----- helpers -----

    fn wants_up(&self) -> bool {
        self.config.auto_establish && !self.locally_released
    }

    fn k(&self) -> usize {
        usize::from(self.config.k.clamp(1, 127))
    }

    fn n200(&self) -> u32 {
        self.config.n200
    }

    fn event(&mut self, event: LinkEvent) {
        self.out.push_back(Output::Event(event));
    }

    fn error(&mut self, error: MdlError) {
        self.event(LinkEvent::Error(error));
    }

    /// Queues a frame of this link, sent as a command (`true`) or a
    /// response (`false`) from this side.
    fn transmit(&mut self, command: bool, kind: FrameKind<'_>) {
        let cr = if command { CommandResponse::Command } else { CommandResponse::Response };
        let frame = FrameRepr { sapi: self.sapi, tei: self.tei, cr: cr.cr_bit(self.role), kind };
        self.out.push_back(Output::Transmit(frame.to_vec()));
    }

    /// An S frame, whose N(R) must be V(R). Every S frame acknowledges, so
    /// it clears the acknowledge-pending condition.
    fn tx_s(&mut self, command: bool, kind: FrameKind<'_>) {
        debug_assert_eq!(kind.nr(), Some(self.vr));
        self.transmit(command, kind);
        self.acknowledge_pending = false;
    }

    /// RR, or RNR while this side's receiver is busy, with N(R) = V(R).
    fn receiver_status(&self, pf: bool) -> FrameKind<'static> {
        if self.own_busy { FrameKind::Rnr { nr: self.vr, pf } } else { FrameKind::Rr { nr: self.vr, pf } }
    }

    /// Sends the I frame numbered V(S) (queue element V(S) - V(A)) and
    /// increments V(S).
    fn tx_i(&mut self, p: bool) -> bool {
        let index = self.outstanding();
        let Some(info) = self.queue.get(index) else {
            return false;
        };
        let cr = CommandResponse::Command.cr_bit(self.role);
        let frame = FrameRepr { sapi: self.sapi, tei: self.tei, cr, kind: FrameKind::I { ns: self.vs, nr: self.vr, p, info } };
        self.out.push_back(Output::Transmit(frame.to_vec()));
        self.vs = (self.vs + 1) & 0x7F;
        self.transmitted = self.transmitted.max(index + 1);
        self.acknowledge_pending = false;
        true
    }

    /// V(S) - V(A) modulo 128.
    fn outstanding(&self) -> usize {
        usize::from(self.vs.wrapping_sub(self.va) & 0x7F)
    }

    /// V(A) <= N(R) <= V(S), modulo 128.
    fn nr_valid(&self, nr: u8) -> bool {
        usize::from(nr.wrapping_sub(self.va) & 0x7F) <= self.outstanding()
    }

    /// V(A) := N(R), dropping the acknowledged frames. N(R) must be valid.
    fn acknowledge(&mut self, nr: u8) {
        let acked = usize::from(nr.wrapping_sub(self.va) & 0x7F).min(self.queue.len());
        self.queue.drain(..acked);
        self.transmitted = self.transmitted.saturating_sub(acked);
        self.va = nr & 0x7F;
    }

    /// Drops the frames transmitted and not acknowledged: whether the peer
    /// got them is unknown, so they are neither kept nor sent again.
    fn discard_transmitted(&mut self) {
        let n = self.transmitted.max(self.outstanding()).min(self.queue.len());
        self.queue.drain(..n);
        self.transmitted = 0;
        self.vs = self.va;
    }

    fn clear_queue(&mut self) {
        self.queue.clear();
        self.transmitted = 0;
        self.vs = self.va;
    }

    fn clear_exception_conditions(&mut self) {
        self.peer_busy = false;
        self.reject_exception = false;
        self.acknowledge_pending = false;
    }

    /// "Establish data link": SABME with P=1 and T200 (state 5).
    fn establish_data_link(&mut self, now: Instant) {
        self.clear_exception_conditions();
        self.rc = 0;
        self.transmit(true, FrameKind::Sabme { p: true });
        self.t203 = None;
        self.retry = None;
        self.t200 = Some(now + self.config.t200);
        self.state = LinkState::AwaitingEstablishment;
    }

    /// Enters state 7 with fresh sequence numbers, after UA to or from a
    /// SABME.
    fn enter_established(&mut self, now: Instant) {
        self.discard_transmitted();
        self.clear_exception_conditions();
        self.vs = 0;
        self.va = 0;
        self.vr = 0;
        self.rc = 0;
        self.retry = None;
        self.t200 = None;
        self.t203 = Some(now + self.config.t203);
        self.state = LinkState::MultipleFrameEstablished;
        self.l3_initiated = false;
        let event = if self.reported_up { LinkEvent::Reestablished } else { LinkEvent::Established };
        self.reported_up = true;
        self.event(event);
        if self.own_busy {
            self.tx_s(false, FrameKind::Rnr { nr: self.vr, pf: false });
        }
    }

    /// Enters state 4. `confirm` forces a Released event (the answer to a
    /// release request); otherwise one is given if layer 3 believed the
    /// link up or was waiting for it.
    fn enter_released(&mut self, now: Instant, confirm: bool) {
        self.clear_queue();
        self.clear_exception_conditions();
        self.vs = 0;
        self.va = 0;
        self.vr = 0;
        self.t200 = None;
        self.t203 = None;
        self.state = LinkState::TeiAssigned;
        if confirm || self.reported_up || self.l3_initiated {
            self.event(LinkEvent::Released);
        }
        self.reported_up = false;
        self.l3_initiated = false;
        self.retry = self.wants_up().then(|| now + self.config.retry_interval);
    }

    /// Error recovery by re-establishment, after an MDL-ERROR.
    fn reestablish(&mut self, error: MdlError, now: Instant) {
        self.error(error);
        self.discard_transmitted();
        self.l3_initiated = false;
        self.establish_data_link(now);
    }

    /// A frame rejection condition (Q.921 §5.8.5): while established,
    /// report it and re-establish; otherwise ignore the frame.
    fn frame_rejection(&mut self, error: MdlError, now: Instant) {
        if self.is_established() {
            self.reestablish(error, now);
        }
    }

    /// RR (or RNR while own receiver busy) command with P=1, and T200.
    fn transmit_enquiry(&mut self, now: Instant) {
        let kind = self.receiver_status(true);
        self.tx_s(true, kind);
        self.t203 = None;
        self.t200 = Some(now + self.config.t200);
    }

    /// RR (or RNR) response with F=1 to a command with P=1.
    fn enquiry_response(&mut self) {
        let kind = self.receiver_status(true);
        self.tx_s(false, kind);
    }

    /// Resends the last I frame sent, with P=1, and restarts T200.
    fn retransmit_last(&mut self, now: Instant) {
        self.vs = self.vs.wrapping_sub(1) & 0x7F;
        self.tx_i(true);
        self.t203 = None;
        self.t200 = Some(now + self.config.t200);
    }

    /// Sends the queued I frames the window allows, then an RR if an
    /// acknowledgement is still owed.
    fn pump(&mut self, now: Instant) {
        if self.state == LinkState::MultipleFrameEstablished && !self.peer_busy {
            while self.outstanding() < self.k() && self.tx_i(false) {
                if self.t200.is_none() {
                    self.t203 = None;
                    self.t200 = Some(now + self.config.t200);
                }
            }
        }
        if self.acknowledge_pending && self.is_established() {
            self.tx_s(false, FrameKind::Rr { nr: self.vr, pf: false });
        }
        self.acknowledge_pending = false;
    }

    // ----- timers -----

    fn t200_expired(&mut self, now: Instant) {
        match self.state {
            LinkState::TeiAssigned => {}
            LinkState::AwaitingEstablishment => {
                if self.rc >= self.n200() {
                    self.error(MdlError::SabmeRetriesExhausted);
                    self.enter_released(now, false);
                } else {
                    self.rc += 1;
                    self.transmit(true, FrameKind::Sabme { p: true });
                    self.t200 = Some(now + self.config.t200);
                }
            }
            LinkState::AwaitingRelease => {
                if self.rc >= self.n200() {
                    self.error(MdlError::DiscRetriesExhausted);
                    self.enter_released(now, true);
                } else {
                    self.rc += 1;
                    self.transmit(true, FrameKind::Disc { p: true });
                    self.t200 = Some(now + self.config.t200);
                }
            }
            LinkState::MultipleFrameEstablished => {
                self.rc = 0;
                self.poll_or_retransmit(now);
                self.rc += 1;
                self.state = LinkState::TimerRecovery;
            }
            LinkState::TimerRecovery => {
                if self.rc >= self.n200() {
                    self.reestablish(MdlError::StatusEnquiryRetriesExhausted, now);
                } else {
                    self.poll_or_retransmit(now);
                    self.rc += 1;
                }
            }
        }
    }

    fn poll_or_retransmit(&mut self, now: Instant) {
        if self.peer_busy || self.outstanding() == 0 {
            self.transmit_enquiry(now);
        } else {
            self.retransmit_last(now);
        }
    }

    fn t203_expired(&mut self, now: Instant) {
        if self.state == LinkState::MultipleFrameEstablished {
            self.transmit_enquiry(now);
            self.rc = 0;
            self.state = LinkState::TimerRecovery;
        }
    }

    // ----- received frames -----

    /// A decoded frame for this link; `stray` is an information field
    /// that its type does not permit (empty in a well-formed frame).
    fn on_frame(&mut self, command: bool, kind: FrameKind<'_>, stray: &[u8], now: Instant) {
        match kind {
            FrameKind::I { ns, nr, p, info } => {
                if !command {
                    // I frames are always commands.
                    return;
                }
                if info.len() > self.config.n201 {
                    self.frame_rejection(MdlError::InfoFieldTooLong, now);
                    return;
                }
                self.on_i(ns, nr, p, info, now);
            }
            FrameKind::Rr { nr, pf } | FrameKind::Rnr { nr, pf } | FrameKind::Rej { nr, pf } => {
                if !stray.is_empty() {
                    self.frame_rejection(MdlError::WrongFrameSize, now);
                    return;
                }
                self.on_s(command, kind, nr, pf, now);
            }
            _ => self.on_u(command, kind, stray, now),
        }
    }

    fn on_u(&mut self, command: bool, kind: FrameKind<'_>, stray: &[u8], now: Instant) {
        if matches!(kind, FrameKind::Xid { .. }) {
            // Not implemented (optional); ignore rather than reset the link.
            return;
        }
        // SABME, DISC and UI are commands only; UA, DM and FRMR responses
        // only. Any other is not for us.
        let cr = if command { CommandResponse::Command } else { CommandResponse::Response };
        if !kind.allowed_as(cr) {
            return;
        }
        match kind {
            FrameKind::Ui { info, .. } => {
                if info.len() > self.config.n201 {
                    self.frame_rejection(MdlError::InfoFieldTooLong, now);
                } else {
                    self.event(LinkEvent::UnitData(info.to_vec()));
                }
                return;
            }
            FrameKind::Frmr { .. } => {
                if self.is_established() {
                    self.reestablish(MdlError::FrmrReceived, now);
                }
                return;
            }
            _ => {}
        }
        if !stray.is_empty() {
            self.frame_rejection(MdlError::InfoFieldNotPermitted, now);
            return;
        }
        match kind {
            FrameKind::Sabme { p } => self.on_sabme(p, now),
            FrameKind::Disc { p } => self.on_disc(p, now),
            FrameKind::Ua { f } => self.on_ua(f, now),
            FrameKind::Dm { f } => self.on_dm(f, now),
            _ => {}
        }
    }

    fn on_sabme(&mut self, p: bool, now: Instant) {
        match self.state {
            LinkState::TeiAssigned => {
                if self.locally_released {
                    self.transmit(false, FrameKind::Dm { f: p });
                } else {
                    self.transmit(false, FrameKind::Ua { f: p });
                    self.enter_established(now);
                }
            }
            // Both sides sent SABME: answer, and keep waiting for our UA.
            LinkState::AwaitingEstablishment => self.transmit(false, FrameKind::Ua { f: p }),
            LinkState::AwaitingRelease => self.transmit(false, FrameKind::Dm { f: p }),
            LinkState::MultipleFrameEstablished | LinkState::TimerRecovery => {
                self.transmit(false, FrameKind::Ua { f: p });
                self.error(MdlError::PeerInitiatedReestablishment);
                self.enter_established(now);
            }
        }
    }

    fn on_disc(&mut self, p: bool, now: Instant) {
        match self.state {
            LinkState::TeiAssigned | LinkState::AwaitingEstablishment => {
                self.transmit(false, FrameKind::Dm { f: p });
            }
            // Both sides sent DISC.
            LinkState::AwaitingRelease => self.transmit(false, FrameKind::Ua { f: p }),
            LinkState::MultipleFrameEstablished | LinkState::TimerRecovery => {
                self.transmit(false, FrameKind::Ua { f: p });
                self.enter_released(now, false);
            }
        }
    }

    fn on_ua(&mut self, f: bool, now: Instant) {
        match self.state {
            LinkState::AwaitingEstablishment if f => self.enter_established(now),
            LinkState::AwaitingRelease if f => {
                self.t200 = None;
                self.enter_released(now, true);
            }
            LinkState::TeiAssigned | LinkState::MultipleFrameEstablished | LinkState::TimerRecovery if f => {
                self.error(MdlError::UnsolicitedUaResponseF1);
            }
            _ => self.error(MdlError::UnsolicitedUaResponseF0),
        }
    }

    fn on_dm(&mut self, f: bool, now: Instant) {
        match self.state {
            LinkState::TeiAssigned => {
                // DM F=0 asks us to establish (Q.921 §5.5.1).
                if !f && !self.locally_released {
                    self.l3_initiated = false;
                    self.establish_data_link(now);
                }
            }
            LinkState::AwaitingEstablishment => {
                if f {
                    self.enter_released(now, false);
                }
            }
            LinkState::AwaitingRelease => {
                if f {
                    self.enter_released(now, true);
                }
            }
            LinkState::MultipleFrameEstablished => {
                if f {
                    self.error(MdlError::UnsolicitedDmResponse);
                } else {
                    self.reestablish(MdlError::DmResponse, now);
                }
            }
            LinkState::TimerRecovery => {
                // A DM answering our poll: the peer is not in multiple
                // frame operation any more.
                let error = if f { MdlError::UnsolicitedDmResponse } else { MdlError::DmResponse };
                self.reestablish(error, now);
            }
        }
    }

    /// An RR, RNR or REJ frame (`kind`), with its N(R) and P/F bit.
    fn on_s(&mut self, command: bool, kind: FrameKind<'_>, nr: u8, pf: bool, now: Instant) {
        match self.state {
            LinkState::TeiAssigned => {
                if command && pf {
                    self.transmit(false, FrameKind::Dm { f: true });
                }
                return;
            }
            LinkState::AwaitingEstablishment | LinkState::AwaitingRelease => return,
            LinkState::MultipleFrameEstablished | LinkState::TimerRecovery => {}
        }
        self.peer_busy = matches!(kind, FrameKind::Rnr { .. });
        if command && pf {
            self.enquiry_response();
        }
        let final_response = !command && pf;
        if self.state == LinkState::MultipleFrameEstablished {
            if final_response {
                self.error(MdlError::UnsolicitedSupervisoryResponse);
            }
            if !self.nr_valid(nr) {
                self.reestablish(MdlError::NrSequenceError, now);
                return;
            }
            match kind {
                FrameKind::Rr { .. } => self.acknowledge_in_established(nr, now),
                FrameKind::Rej { .. } => {
                    self.acknowledge(nr);
                    self.t200 = None;
                    self.t203 = Some(now + self.config.t203);
                    self.invoke_retransmission();
                }
                FrameKind::Rnr { .. } => {
                    self.acknowledge(nr);
                    self.t203 = None;
                    self.t200 = Some(now + self.config.t200);
                }
                // Only S frames come here.
                _ => {}
            }
        } else {
            if !self.nr_valid(nr) {
                self.reestablish(MdlError::NrSequenceError, now);
                return;
            }
            self.acknowledge(nr);
            if final_response {
                // The answer to our poll: leave timer recovery.
                if self.peer_busy {
                    self.t203 = None;
                    self.t200 = Some(now + self.config.t200);
                } else {
                    self.t200 = None;
                    self.t203 = Some(now + self.config.t203);
                }
                self.invoke_retransmission();
                self.state = LinkState::MultipleFrameEstablished;
            }
        }
    }

    /// N(R) handling in state 7 for RR and I frames (N(R) already valid).
    fn acknowledge_in_established(&mut self, nr: u8, now: Instant) {
        if self.peer_busy {
            self.acknowledge(nr);
        } else if nr == self.vs {
            self.acknowledge(nr);
            self.t200 = None;
            self.t203 = Some(now + self.config.t203);
        } else if nr != self.va {
            self.acknowledge(nr);
            self.t203 = None;
            self.t200 = Some(now + self.config.t200);
        }
    }

    /// V(S) := V(A): everything unacknowledged goes again (as the window
    /// allows, from `pump`).
    fn invoke_retransmission(&mut self) {
        self.vs = self.va;
    }

    fn on_i(&mut self, ns: u8, nr: u8, p: bool, info: &[u8], now: Instant) {
        match self.state {
            LinkState::TeiAssigned => {
                if p {
                    self.transmit(false, FrameKind::Dm { f: true });
                }
                return;
            }
            LinkState::AwaitingEstablishment | LinkState::AwaitingRelease => return,
            LinkState::MultipleFrameEstablished | LinkState::TimerRecovery => {}
        }
        if !self.nr_valid(nr) {
            self.reestablish(MdlError::NrSequenceError, now);
            return;
        }
        if self.own_busy {
            if p {
                self.tx_s(false, FrameKind::Rnr { nr: self.vr, pf: true });
            }
        } else if ns == self.vr {
            self.vr = (self.vr + 1) & 0x7F;
            self.reject_exception = false;
            self.event(LinkEvent::Data(info.to_vec()));
            if p {
                self.tx_s(false, FrameKind::Rr { nr: self.vr, pf: true });
            } else {
                self.acknowledge_pending = true;
            }
        } else if self.reject_exception {
            if p {
                self.tx_s(false, FrameKind::Rr { nr: self.vr, pf: true });
            }
        } else {
            self.reject_exception = true;
            self.tx_s(false, FrameKind::Rej { nr: self.vr, pf: p });
        }
        if self.state == LinkState::MultipleFrameEstablished {
            self.acknowledge_in_established(nr, now);
        } else {
            self.acknowledge(nr);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const T0: Duration = Duration::ZERO;

    /// Frames the user side would send (C/R=0 for commands, 1 for
    /// responses), to feed a network-side link.
    mod from_user {
        pub const SABME: [u8; 3] = [0x00, 0x01, 0x7F];
        pub const UA: [u8; 3] = [0x02, 0x01, 0x73];
        pub const DISC: [u8; 3] = [0x00, 0x01, 0x53];
        pub fn rr_response(nr: u8, f: bool) -> [u8; 4] {
            [0x02, 0x01, 0x01, (nr << 1) | u8::from(f)]
        }
        pub fn rnr_response(nr: u8, f: bool) -> [u8; 4] {
            [0x02, 0x01, 0x05, (nr << 1) | u8::from(f)]
        }
        pub fn rej_response(nr: u8, f: bool) -> [u8; 4] {
            [0x02, 0x01, 0x09, (nr << 1) | u8::from(f)]
        }
        pub fn rr_command(nr: u8, p: bool) -> [u8; 4] {
            [0x00, 0x01, 0x01, (nr << 1) | u8::from(p)]
        }
        pub fn i(ns: u8, nr: u8, p: bool, info: &[u8]) -> Vec<u8> {
            let mut v = vec![0x00, 0x01, ns << 1, (nr << 1) | u8::from(p)];
            v.extend_from_slice(info);
            v
        }
    }

    struct Fixture {
        link: Link,
        start: Instant,
    }

    impl Fixture {
        fn network(config: Config) -> Fixture {
            let start = Instant::now();
            Fixture { link: Link::new(Role::Network, config, start), start }
        }

        fn at(&self, d: Duration) -> Instant {
            self.start + d
        }

        fn feed(&mut self, bytes: &[u8]) {
            let now = self.start;
            self.link.handle_frame(bytes, now);
        }

        fn drain(&mut self) -> (Vec<Vec<u8>>, Vec<LinkEvent>) {
            let mut frames = Vec::new();
            let mut events = Vec::new();
            while let Some(out) = self.link.poll_output() {
                match out {
                    Output::Transmit(f) => frames.push(f),
                    Output::Event(e) => events.push(e),
                }
            }
            (frames, events)
        }

        /// A network link brought up by the user's SABME.
        fn established() -> Fixture {
            let mut fx = Fixture::network(Config { auto_establish: false, ..Config::default() });
            fx.feed(&from_user::SABME);
            let (frames, events) = fx.drain();
            assert_eq!(frames, [vec![0x00, 0x01, 0x73]]);
            assert_eq!(events, [LinkEvent::Established]);
            fx
        }

        fn send(&mut self, msg: &[u8]) {
            let now = self.at(T0);
            self.link.command(Command::Send(msg.to_vec()), now).unwrap();
        }
    }

    fn i_numbers(frame: &[u8]) -> Option<(u8, u8, bool)> {
        (frame.len() >= 4 && frame[2] & 1 == 0).then(|| (frame[2] >> 1, frame[3] >> 1, frame[3] & 1 == 1))
    }

    #[test]
    fn new_link_with_auto_establish_sends_sabme_with_p() {
        let mut fx = Fixture::network(Config::default());
        assert_eq!(fx.link.state(), LinkState::AwaitingEstablishment);
        let (frames, events) = fx.drain();
        assert_eq!(frames, [vec![0x02, 0x01, 0x7F]]);
        assert!(events.is_empty());
        assert_eq!(fx.link.poll_timeout(), Some(fx.at(Duration::from_secs(1))));
    }

    #[test]
    fn ua_with_f_completes_establishment_and_starts_t203() {
        let mut fx = Fixture::network(Config::default());
        fx.drain();
        fx.feed(&from_user::UA);
        let (frames, events) = fx.drain();
        assert!(frames.is_empty());
        assert_eq!(events, [LinkEvent::Established]);
        assert_eq!(fx.link.state(), LinkState::MultipleFrameEstablished);
        assert_eq!(fx.link.poll_timeout(), Some(fx.at(Duration::from_secs(10))));
    }

    #[test]
    fn sabme_retries_n200_times_then_reports_g_and_retries_later() {
        let mut fx = Fixture::network(Config::default());
        let mut sabmes = fx.drain().0.len();
        for s in 1..=4 {
            fx.link.handle_timeout(fx.at(Duration::from_secs(s)));
            let (frames, events) = fx.drain();
            sabmes += frames.len();
            if s == 4 {
                assert_eq!(events, [LinkEvent::Error(MdlError::SabmeRetriesExhausted)]);
            }
        }
        assert_eq!(sabmes, 4, "SABME sent once plus N200 retransmissions");
        assert_eq!(fx.link.state(), LinkState::TeiAssigned);
        // auto_establish: another attempt after retry_interval.
        assert_eq!(fx.link.poll_timeout(), Some(fx.at(Duration::from_secs(5))));
        fx.link.handle_timeout(fx.at(Duration::from_secs(5)));
        assert_eq!(fx.drain().0, [vec![0x02, 0x01, 0x7F]]);
    }

    #[test]
    fn window_k_limits_outstanding_i_frames() {
        let mut fx = Fixture::established();
        for n in 0..10u8 {
            fx.send(&[n]);
        }
        let (frames, _) = fx.drain();
        assert_eq!(frames.len(), 7);
        for (n, f) in frames.iter().enumerate() {
            assert_eq!(i_numbers(f), Some((n as u8, 0, false)));
        }
        // Acknowledging 3 opens the window for 3 more.
        fx.feed(&from_user::rr_response(3, false));
        let (frames, _) = fx.drain();
        assert_eq!(frames.len(), 3);
        assert_eq!(i_numbers(&frames[0]), Some((7, 0, false)));
        assert_eq!(fx.link.queued(), 7);
    }

    #[test]
    fn received_i_frame_is_delivered_and_acknowledged_with_rr() {
        let mut fx = Fixture::established();
        fx.feed(&from_user::i(0, 0, false, b"hello"));
        let (frames, events) = fx.drain();
        assert_eq!(events, [LinkEvent::Data(b"hello".to_vec())]);
        // RR response from the network: C/R=0, N(R)=1.
        assert_eq!(frames, [vec![0x00, 0x01, 0x01, 0x02]]);
    }

    #[test]
    fn acknowledgement_is_piggybacked_on_outgoing_i_frame() {
        let mut fx = Fixture::established();
        for n in 0..8u8 {
            fx.send(&[n]);
        }
        assert_eq!(fx.drain().0.len(), 7, "window full");
        // The user's I frame acknowledges one of ours: the eighth goes out
        // carrying N(R)=1, and no separate RR is sent.
        fx.feed(&from_user::i(0, 1, false, b"q"));
        let (frames, events) = fx.drain();
        assert_eq!(events, [LinkEvent::Data(b"q".to_vec())]);
        assert_eq!(frames.len(), 1);
        assert_eq!(i_numbers(&frames[0]), Some((7, 1, false)));
    }

    #[test]
    fn out_of_sequence_i_frame_gets_one_rej_and_is_not_delivered() {
        let mut fx = Fixture::established();
        fx.feed(&from_user::i(1, 0, false, b"b"));
        fx.feed(&from_user::i(2, 0, false, b"c"));
        let (frames, events) = fx.drain();
        assert!(events.is_empty());
        assert_eq!(frames, [vec![0x00, 0x01, 0x09, 0x00]], "one REJ N(R)=0");
        fx.feed(&from_user::i(0, 0, false, b"a"));
        let (_, events) = fx.drain();
        assert_eq!(events, [LinkEvent::Data(b"a".to_vec())]);
    }

    #[test]
    fn rej_rewinds_and_retransmits_from_nr() {
        let mut fx = Fixture::established();
        for n in 0..3u8 {
            fx.send(&[n]);
        }
        fx.drain();
        fx.feed(&from_user::rej_response(1, false));
        let (frames, _) = fx.drain();
        let numbers: Vec<_> = frames.iter().map(|f| i_numbers(f).unwrap().0).collect();
        assert_eq!(numbers, [1, 2]);
    }

    #[test]
    fn t200_expiry_retransmits_last_i_frame_with_p_and_enters_timer_recovery() {
        let mut fx = Fixture::established();
        fx.send(b"x");
        fx.drain();
        fx.link.handle_timeout(fx.at(Duration::from_secs(1)));
        let (frames, _) = fx.drain();
        assert_eq!(frames.len(), 1);
        assert_eq!(i_numbers(&frames[0]), Some((0, 0, true)));
        assert_eq!(fx.link.state(), LinkState::TimerRecovery);
        // The peer answers the poll: back to state 7, acknowledged.
        fx.feed(&from_user::rr_response(1, true));
        assert_eq!(fx.link.state(), LinkState::MultipleFrameEstablished);
        assert_eq!(fx.link.queued(), 0);
    }

    #[test]
    fn timer_recovery_gives_up_after_n200_and_re_establishes() {
        let mut fx = Fixture::established();
        fx.send(b"x");
        fx.drain();
        for s in 1..=4 {
            fx.link.handle_timeout(fx.at(Duration::from_secs(s)));
        }
        let (frames, events) = fx.drain();
        assert_eq!(events, [LinkEvent::Error(MdlError::StatusEnquiryRetriesExhausted)]);
        assert_eq!(frames.last().unwrap(), &vec![0x02, 0x01, 0x7F]);
        assert_eq!(fx.link.state(), LinkState::AwaitingEstablishment);
        // The unacknowledged message is dropped, never resent.
        assert_eq!(fx.link.queued(), 0);
        fx.feed(&from_user::UA);
        assert_eq!(fx.drain().1, [LinkEvent::Reestablished]);
    }

    #[test]
    fn t203_expiry_polls_with_rr_command() {
        let mut fx = Fixture::established();
        fx.link.handle_timeout(fx.at(Duration::from_secs(10)));
        let (frames, _) = fx.drain();
        // RR command from the network: C/R=1, P=1.
        assert_eq!(frames, [vec![0x02, 0x01, 0x01, 0x01]]);
        assert_eq!(fx.link.state(), LinkState::TimerRecovery);
        fx.feed(&from_user::rr_response(0, true));
        assert_eq!(fx.link.state(), LinkState::MultipleFrameEstablished);
    }

    #[test]
    fn poll_from_peer_is_answered_with_final_rr() {
        let mut fx = Fixture::established();
        fx.feed(&from_user::rr_command(0, true));
        assert_eq!(fx.drain().0, [vec![0x00, 0x01, 0x01, 0x01]]);
    }

    #[test]
    fn rnr_stops_transmission_until_rr() {
        let mut fx = Fixture::established();
        fx.feed(&from_user::rnr_response(0, false));
        assert!(fx.link.is_peer_busy());
        fx.send(b"a");
        fx.send(b"b");
        assert!(fx.drain().0.is_empty());
        fx.feed(&from_user::rr_response(0, false));
        let (frames, _) = fx.drain();
        assert_eq!(frames.len(), 2);
    }

    #[test]
    fn sabme_while_established_resets_sequence_numbers_and_reports() {
        let mut fx = Fixture::established();
        fx.send(b"a");
        fx.send(b"b");
        fx.drain();
        fx.feed(&from_user::SABME);
        let (frames, events) = fx.drain();
        assert_eq!(frames, [vec![0x00, 0x01, 0x73]]);
        assert_eq!(events, [LinkEvent::Error(MdlError::PeerInitiatedReestablishment), LinkEvent::Reestablished]);
        assert_eq!(fx.link.queued(), 0);
        fx.send(b"c");
        assert_eq!(i_numbers(&fx.drain().0[0]), Some((0, 0, false)));
    }

    #[test]
    fn unsent_messages_survive_re_establishment() {
        let mut fx = Fixture::established();
        fx.feed(&from_user::rnr_response(0, false));
        fx.send(b"kept");
        assert!(fx.drain().0.is_empty());
        fx.feed(&from_user::SABME);
        let (frames, _) = fx.drain();
        assert_eq!(frames.len(), 2, "UA, then the queued message");
        assert_eq!(frames[1][..4], [0x02, 0x01, 0x00, 0x00]);
        assert_eq!(frames[1][4..], *b"kept");
    }

    #[test]
    fn frames_rewound_for_retransmission_are_not_resent_after_re_establishment() {
        let mut fx = Fixture::established();
        for n in 0..3u8 {
            fx.send(&[n]);
        }
        fx.drain();
        // Poll after T200; the busy peer answers RNR F=1 acknowledging
        // nothing: V(S) is rewound to V(A) but nothing may go while busy.
        fx.link.handle_timeout(fx.at(Duration::from_secs(1)));
        fx.feed(&from_user::rnr_response(0, true));
        assert_eq!(fx.link.state(), LinkState::MultipleFrameEstablished);
        assert_eq!(fx.link.queued(), 3);
        fx.drain();
        // The peer may have got them all: after its SABME none is resent.
        fx.feed(&from_user::SABME);
        let (frames, _) = fx.drain();
        assert_eq!(frames, [vec![0x00, 0x01, 0x73]]);
        assert_eq!(fx.link.queued(), 0);
    }

    #[test]
    fn nr_sequence_error_re_establishes() {
        let mut fx = Fixture::established();
        fx.feed(&from_user::rr_response(5, false));
        let (frames, events) = fx.drain();
        assert_eq!(events, [LinkEvent::Error(MdlError::NrSequenceError)]);
        assert_eq!(frames, [vec![0x02, 0x01, 0x7F]]);
    }

    #[test]
    fn frmr_re_establishes_with_error_k() {
        let mut fx = Fixture::established();
        fx.feed(&[0x02, 0x01, 0x87, 0, 0, 0, 0, 0]);
        let (frames, events) = fx.drain();
        assert_eq!(events, [LinkEvent::Error(MdlError::FrmrReceived)]);
        assert_eq!(frames, [vec![0x02, 0x01, 0x7F]]);
    }

    #[test]
    fn frame_rejection_conditions_while_established() {
        let cases: [(&[u8], MdlError); 4] = [
            (&[0x00, 0x01, 0x0D, 0x00], MdlError::UndefinedControlField),
            (&[0x02, 0x01, 0x01, 0x00, 0xFF], MdlError::WrongFrameSize),
            (&[0x00, 0x01, 0x7F, 0x00], MdlError::InfoFieldNotPermitted),
            (&[0x00, 0x01, 0x00, 0x00], MdlError::InfoFieldTooLong),
        ];
        for (frame, error) in cases {
            let mut fx = Fixture::established();
            let mut frame = frame.to_vec();
            if error == MdlError::InfoFieldTooLong {
                frame.resize(4 + 261, 0x55);
            }
            fx.feed(&frame);
            let (frames, events) = fx.drain();
            assert_eq!(events, [LinkEvent::Error(error)], "{frame:02x?}");
            assert_eq!(frames, [vec![0x02, 0x01, 0x7F]]);
        }
    }

    #[test]
    fn invalid_and_foreign_frames_are_ignored() {
        let mut fx = Fixture::established();
        for frame in [
            &[][..],
            &[0x00],
            &[0x00, 0x01],
            &[0x00, 0x01, 0x00],       // I frame cut short
            &[0x01, 0x01, 0x7F],       // one-octet address
            &[0x04, 0x01, 0x7F],       // SAPI 1
            &[0x00, 0x03, 0x7F],       // TEI 1
            &[0x02, 0x01, 0x7F],       // SABME as a response
            &[0x00, 0x01, 0x73],       // UA as a command
            &[0x02, 0x01, 0x00, 0x00], // I frame as a response
        ] {
            fx.feed(frame);
            assert_eq!(fx.drain(), (vec![], vec![]), "{frame:02x?}");
        }
        assert_eq!(fx.link.state(), LinkState::MultipleFrameEstablished);
    }

    #[test]
    fn disc_while_established_is_acknowledged_and_released() {
        let mut fx = Fixture::established();
        fx.feed(&from_user::DISC);
        let (frames, events) = fx.drain();
        assert_eq!(frames, [vec![0x00, 0x01, 0x73]]);
        assert_eq!(events, [LinkEvent::Released]);
        assert_eq!(fx.link.state(), LinkState::TeiAssigned);
    }

    #[test]
    fn release_sends_disc_and_confirms_on_ua() {
        let mut fx = Fixture::established();
        fx.link.command(Command::Release, fx.start).unwrap();
        assert_eq!(fx.drain().0, [vec![0x02, 0x01, 0x53]]);
        assert_eq!(fx.link.state(), LinkState::AwaitingRelease);
        fx.feed(&from_user::UA);
        assert_eq!(fx.drain().1, [LinkEvent::Released]);
        // Released by layer 3: a SABME from the peer is refused with DM.
        fx.feed(&from_user::SABME);
        assert_eq!(fx.drain().0, [vec![0x00, 0x01, 0x1F]]);
        assert_eq!(fx.link.poll_timeout(), None);
    }

    #[test]
    fn send_in_tei_assigned_state_establishes_on_demand() {
        let mut fx = Fixture::network(Config { auto_establish: false, ..Config::default() });
        assert!(fx.drain().0.is_empty());
        fx.send(b"setup");
        assert_eq!(fx.drain().0, [vec![0x02, 0x01, 0x7F]]);
        fx.feed(&from_user::UA);
        let (frames, events) = fx.drain();
        assert_eq!(events, [LinkEvent::Established]);
        assert_eq!(frames[0][4..], *b"setup");
    }

    #[test]
    fn too_long_message_is_refused() {
        let mut fx = Fixture::established();
        let err = fx.link.command(Command::Send(vec![0; 261]), fx.start).unwrap_err();
        assert_eq!(err, CommandError::TooLong { len: 261, max: 260 });
    }

    #[test]
    fn ui_frames_are_delivered_as_unit_data() {
        let mut fx = Fixture::established();
        fx.feed(&[0x00, 0x01, 0x03, 0xAA]);
        assert_eq!(fx.drain().1, [LinkEvent::UnitData(vec![0xAA])]);
        fx.link.command(Command::SendUnitdata(vec![0xBB]), fx.start).unwrap();
        assert_eq!(fx.drain().0, [vec![0x02, 0x01, 0x03, 0xBB]]);
    }

    #[test]
    fn mdl_error_display_names_the_code() {
        assert_eq!(MdlError::NrSequenceError.to_string(), "MDL-ERROR J: N(R) sequence error");
    }
}
