//! The Q.931 call-control entity for one D-channel (group): sans-IO.
//!
//! Inputs: received layer 3 messages ([`CallControl::handle_message`]),
//! data link state changes ([`CallControl::link_up`],
//! [`CallControl::link_down`], [`CallControl::link_reset`]), commands
//! ([`CallControl::command`]) and expired timers
//! ([`CallControl::handle_timeout`]). Outputs: messages to send on the
//! data link and events ([`CallControl::poll_output`]), and the next
//! deadline ([`CallControl::poll_timeout`]).

mod commands;
mod maintenance;
mod timers;

use std::collections::{BTreeMap, VecDeque};
use std::time::Instant;

use super::call::{Call, Phase, Timer, compatible};
use super::channels::{ChannelAllocator, ChannelStatus};
use super::codec::{self, NumberIe};
use super::command::{Command, CommandError, RestartTarget, SetupRequest};
use super::config::{Config, ConfigError};
use super::event::{Event, IncomingCall};
use super::types::{Bearer, CallId, CallState, Cause, ChannelPref, ChannelRef, Initiator, Side};
use crate::wire::ie::{
    CallStateRepr, CallStateValue, CauseRepr, ChangeStatusRepr, ChannelIdRepr, ChannelSelection, ChannelUnits, InterfaceType, KeypadFacilityRepr, Location,
    ProgressDescription, ProgressIndicatorRepr, RawIe, RedirectReason, RestartClass, RestartIndicatorRepr, ServiceStatus,
};
use crate::wire::{CallRef, CallRefFlag, CauseValue, Error as WireError, IeId, IeRepr, Message, MessageRepr, MessageType, ProtocolDiscriminator};

/// Longest message handed to the data link (Q.921 N201 for a PRI).
pub const MAX_MESSAGE_LEN: usize = 260;

/// Something for the owner of a [`CallControl`] to act on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Output {
    /// A layer 3 message for the active data link (DL-DATA request).
    Send(Vec<u8>),
    /// An event for the application.
    Event(Event),
}

/// Memory used by calls, for capacity planning.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MemoryStats {
    /// Calls in progress.
    pub calls: usize,
    /// `size_of` the per-call structure.
    pub call_struct_bytes: usize,
    /// Heap octets held by all calls (retransmission buffers) plus the
    /// two index entries per call (estimated).
    pub heap_bytes: usize,
}

/// A RESTART or SERVICE awaiting acknowledgement.
#[derive(Debug, Clone)]
struct Pending {
    channels: Vec<ChannelRef>,
    /// RESTART: the restart class.
    class: RestartClass,
    /// SERVICE: the new status.
    status: Option<ServiceStatus>,
    bytes: Vec<u8>,
    attempts: u8,
    /// `None` while the data link is down (sent again when it comes up).
    deadline: Option<Instant>,
}

/// What the IE checks of Q.931 §5.8.6–5.8.7 found in a received message.
#[derive(Debug, Clone, Copy, Default)]
struct IeCheck {
    /// A mandatory IE missing (cause 96) or with invalid contents (100),
    /// or an unrecognized comprehension-required IE (96).
    fatal: Option<WireError>,
    /// A non-mandatory IE unrecognized (99) or invalid (100): the message
    /// is acted on, then STATUS reports it.
    report: Option<WireError>,
}

/// The Q.931 call-control entity for one D-channel (group), sans-IO.
///
/// Inputs: received layer 3 messages ([`handle_message`]), data link state
/// changes ([`link_up`], [`link_down`], [`link_reset`]), commands
/// ([`command`], [`setup`]) and expired timers ([`handle_timeout`]).
/// Outputs: messages to send on the data link and events
/// ([`poll_output`]), and the next deadline ([`poll_timeout`]).
///
/// [`handle_message`]: CallControl::handle_message
/// [`link_up`]: CallControl::link_up
/// [`link_down`]: CallControl::link_down
/// [`link_reset`]: CallControl::link_reset
/// [`command`]: CallControl::command
/// [`setup`]: CallControl::setup
/// [`handle_timeout`]: CallControl::handle_timeout
/// [`poll_output`]: CallControl::poll_output
/// [`poll_timeout`]: CallControl::poll_timeout
#[derive(Debug, Clone)]
pub struct CallControl {
    config: Config,
    channels: ChannelAllocator,
    calls: BTreeMap<CallId, Call>,
    /// (call reference value, we originated it) → call.
    by_cr: BTreeMap<(u16, bool), CallId>,
    next_call: u64,
    next_cr: u16,
    invoke_id: i64,
    link_up: bool,
    restarts: Vec<Pending>,
    services: Vec<Pending>,
    out: VecDeque<Output>,
}

impl CallControl {
    /// A new entity with the data link down (call
    /// [`link_up`](CallControl::link_up) when it comes up).
    pub fn new(config: Config, _now: Instant) -> Result<CallControl, ConfigError> {
        config.validate()?;
        Ok(CallControl {
            channels: ChannelAllocator::new(&config.interfaces),
            config,
            calls: BTreeMap::new(),
            by_cr: BTreeMap::new(),
            next_call: 1,
            next_cr: 1,
            invoke_id: 0,
            link_up: false,
            restarts: Vec::new(),
            services: Vec::new(),
            out: VecDeque::new(),
        })
    }

    pub fn config(&self) -> &Config {
        &self.config
    }

    pub fn side(&self) -> Side {
        self.config.side
    }

    /// Whether the data link is up (as last told).
    pub fn is_link_up(&self) -> bool {
        self.link_up
    }

    /// The next message to send or event to deliver.
    pub fn poll_output(&mut self) -> Option<Output> {
        self.out.pop_front()
    }

    /// When [`handle_timeout`](CallControl::handle_timeout) should next
    /// run.
    pub fn poll_timeout(&self) -> Option<Instant> {
        let calls = self.calls.values().filter_map(Call::deadline);
        let pending = self.restarts.iter().chain(&self.services).filter_map(|p| p.deadline);
        calls.chain(pending).min()
    }

    /// The Q.931 state of a call.
    pub fn call_state(&self, call: CallId) -> Option<CallState> {
        self.calls.get(&call).map(|c| c.phase.state(self.side()))
    }

    /// The B-channel of a call.
    pub fn call_channel(&self, call: CallId) -> Option<ChannelRef> {
        self.calls.get(&call)?.channel
    }

    /// Every call in progress and its state.
    pub fn calls(&self) -> Vec<(CallId, CallState)> {
        self.calls.values().map(|c| (c.id, c.phase.state(self.side()))).collect()
    }

    /// The channel allocator (read only).
    pub fn channels(&self) -> &ChannelAllocator {
        &self.channels
    }

    /// The status of one B-channel.
    pub fn channel_status(&self, ch: ChannelRef) -> Option<ChannelStatus> {
        self.channels.status(ch)
    }

    /// Blocks (or unblocks) a B-channel locally, for operator maintenance,
    /// without telling the peer (SERVICE is [`Command::Service`]). A blocked
    /// channel takes no new call: our hunt skips it; an incoming SETUP that
    /// prefers it gets another idle channel, indicated exclusive in our first
    /// answer (Q.931 §5.1.2, §5.2.3.1); one that asks for it exclusive is refused
    /// with cause 44; with no other channel idle, cause 34. A call holding
    /// the channel goes on. Returns `false` for an unknown channel.
    pub fn set_channel_blocked(&mut self, ch: ChannelRef, blocked: bool) -> bool {
        if !self.channels.exists(ch) {
            return false;
        }
        self.channels.set_blocked(ch, blocked);
        true
    }

    /// RESTARTs awaiting acknowledgement.
    pub fn pending_restarts(&self) -> usize {
        self.restarts.len()
    }

    /// Memory used by the calls in progress.
    pub fn memory(&self) -> MemoryStats {
        let index = 2 * (size_of::<(u16, bool)>() + size_of::<CallId>() * 2 + 32);
        MemoryStats {
            calls: self.calls.len(),
            call_struct_bytes: size_of::<Call>(),
            heap_bytes: self.calls.values().map(|c| c.heap_bytes() + size_of::<Call>() + index).sum(),
        }
    }

    /// Checks the internal invariants: each call's channel is held by it,
    /// each held channel belongs to a live call, and the call-reference
    /// index matches the calls. For tests and debugging.
    pub fn check_consistency(&self) -> Result<(), String> {
        for c in self.calls.values() {
            if let Some(ch) = c.channel {
                let owner = self.channels.status(ch).and_then(|s| s.owner);
                if owner != Some(c.id) {
                    return Err(format!("{} holds {ch} owned by {owner:?}", c.id));
                }
            }
            if self.by_cr.get(&(c.cr, c.originated)) != Some(&c.id) {
                return Err(format!("{} missing from the call reference index", c.id));
            }
        }
        for (ch, owner) in self.channels.owners() {
            match self.calls.get(&owner) {
                Some(c) if c.channel == Some(ch) => {}
                _ => return Err(format!("{ch} owned by {owner} which does not hold it")),
            }
        }
        if self.by_cr.len() != self.calls.len() {
            return Err("call reference index has stale entries".into());
        }
        Ok(())
    }

    // ------------------------------------------------------------------
    // Data link state
    // ------------------------------------------------------------------

    /// The data link came up (DL-ESTABLISH indication/confirm). After a
    /// failure, active calls are checked with STATUS ENQUIRY (or STATUS
    /// cause 31) and T309 stops (Q.931 §5.8.9); pending RESTART and
    /// SERVICE messages are sent again.
    pub fn link_up(&mut self, now: Instant) {
        if self.link_up {
            self.link_reset(now);
            return;
        }
        self.link_up = true;
        let recovering: Vec<CallId> = self.calls.values().filter(|c| c.phase == Phase::Active).map(|c| c.id).collect();
        for id in recovering {
            if let Some(c) = self.calls.get_mut(&id) {
                c.t309 = None;
            }
            self.recover_call(id, now);
        }
        let t316 = self.config.timers.t316;
        let t3m1 = self.config.timers.t3m1;
        let mut resend = Vec::new();
        for p in &mut self.restarts {
            p.deadline = Some(now + t316);
            resend.push(p.bytes.clone());
        }
        for p in &mut self.services {
            p.deadline = Some(now + t3m1);
            resend.push(p.bytes.clone());
        }
        for b in resend {
            self.transmit(b);
        }
        if self.config.restart_on_link_up {
            let _ = self.restart(RestartTarget::All, Initiator::Local, now);
        }
    }

    /// The data link was reset while up (re-established, or call control
    /// moved to another link): messages in flight may be lost. Every call
    /// not being cleared is checked with STATUS ENQUIRY (or STATUS cause
    /// 31), so that one side's call the other side forgot is released
    /// (Q.931 §5.8.8 leaves these calls to the other procedures; the
    /// enquiry is what finds them).
    pub fn link_reset(&mut self, now: Instant) {
        if !self.link_up {
            self.link_up(now);
            return;
        }
        let active: Vec<CallId> = self.calls.values().filter(|c| !c.phase.is_clearing() && c.t322.is_none()).map(|c| c.id).collect();
        for id in active {
            self.recover_call(id, now);
        }
    }

    /// The data link failed (DL-RELEASE indication). Calls not active are
    /// cleared internally (cause 41); active calls start T309 (Q.931
    /// §5.8.9).
    pub fn link_down(&mut self, now: Instant) {
        if !self.link_up {
            return;
        }
        self.link_up = false;
        let t309 = self.config.timers.t309;
        let ids: Vec<CallId> = self.calls.keys().copied().collect();
        for id in ids {
            let Some(c) = self.calls.get_mut(&id) else {
                continue;
            };
            if c.phase == Phase::Active {
                c.t309.get_or_insert(now + t309);
                c.t322 = None;
                c.enquiries = 0;
            } else {
                let cause = self.our_cause(CauseValue::TEMPORARY_FAILURE);
                let cause = self.end_cause(id, Some(cause));
                self.finish(id, cause);
            }
        }
        for p in self.restarts.iter_mut().chain(&mut self.services) {
            p.deadline = None;
        }
    }

    fn recover_call(&mut self, id: CallId, now: Instant) {
        if self.config.enquire_on_link_recovery {
            self.send_call(id, MessageType::StatusEnquiry, Vec::new());
            let t322 = self.config.timers.t322;
            if let Some(c) = self.calls.get_mut(&id) {
                c.t322 = Some(now + t322);
                c.enquiries = 1;
            }
        } else {
            let cause = self.cause_repr(CauseValue::NORMAL_UNSPECIFIED);
            self.send_status(id, cause);
        }
    }

    // ------------------------------------------------------------------
    // Output helpers
    // ------------------------------------------------------------------

    fn event(&mut self, e: Event) {
        self.out.push_back(Output::Event(e));
    }

    fn transmit(&mut self, bytes: Vec<u8>) {
        if self.link_up {
            self.out.push_back(Output::Send(bytes));
        }
    }

    fn send(&mut self, m: &MessageRepr) {
        if let Ok(b) = encode(m) {
            self.transmit(b);
        }
    }

    fn our_cause(&self, v: CauseValue) -> Cause {
        Cause::new(v, self.config.location)
    }

    fn cause_repr(&self, v: CauseValue) -> CauseRepr {
        CauseRepr::new(self.config.location, v)
    }

    fn error_cause(&self, err: &WireError) -> CauseRepr {
        CauseRepr::for_error(err, self.config.location).unwrap_or_else(|| self.cause_repr(CauseValue::INVALID_MESSAGE))
    }

    fn peer(&self) -> Side {
        self.config.side.peer()
    }

    fn implicit_interface(&self) -> u8 {
        self.config.interfaces.first().map_or(0, |i| i.id)
    }

    fn explicit(&self) -> bool {
        self.config.explicit_interface_id
    }

    fn next_invoke(&mut self) -> i64 {
        self.invoke_id = self.invoke_id % 0x7F + 1;
        self.invoke_id
    }

    fn call_ref(call: &Call) -> CallRef {
        CallRef { value: call.cr, flag: if call.originated { CallRefFlag::FromOriginator } else { CallRefFlag::ToOriginator }, len: call.cr_len }
    }

    fn call_message(&self, id: CallId, mt: MessageType, ies: Vec<IeRepr>) -> Option<MessageRepr> {
        let call = self.calls.get(&id)?;
        Some(MessageRepr { pd: ProtocolDiscriminator::Q931, call_ref: Self::call_ref(call), msg_type: mt, ies })
    }

    fn send_call(&mut self, id: CallId, mt: MessageType, ies: Vec<IeRepr>) {
        if let Some(m) = self.call_message(id, mt, ies) {
            self.send(&m);
        }
    }

    /// Answers a message on its own call reference (flag flipped).
    fn reply(&mut self, to: &MessageRepr, mt: MessageType, ies: Vec<IeRepr>) {
        let m = MessageRepr { pd: ProtocolDiscriminator::Q931, call_ref: to.call_ref.reversed(), msg_type: mt, ies };
        self.send(&m);
    }

    fn status_ies(cause: CauseRepr, state: u8) -> Vec<IeRepr> {
        vec![IeRepr::Cause(cause), IeRepr::CallState(CallStateRepr::new(CallStateValue::from_bits(state)))]
    }

    fn send_status(&mut self, id: CallId, cause: CauseRepr) {
        let Some(state) = self.call_state(id) else {
            return;
        };
        self.send_call(id, MessageType::Status, Self::status_ies(cause, state.number()));
    }

    fn set_timer(&mut self, id: CallId, t: Option<Timer>, now: Instant) {
        let deadline = t.map(|t| (t, now + t.duration(&self.config.timers)));
        if let Some(c) = self.calls.get_mut(&id) {
            c.timer = deadline;
        }
    }

    fn set_phase(&mut self, id: CallId, p: Phase) {
        if let Some(c) = self.calls.get_mut(&id) {
            c.phase = p;
        }
    }

    fn phase(&self, id: CallId) -> Phase {
        self.calls.get(&id).map_or(Phase::Null, |c| c.phase)
    }

    /// Removes a call, frees its channel, reports Released.
    fn finish(&mut self, id: CallId, cause: Cause) {
        let Some(call) = self.calls.remove(&id) else {
            return;
        };
        self.by_cr.remove(&(call.cr, call.originated));
        if let Some(ch) = call.channel {
            self.channels.release(ch, id);
        }
        self.event(Event::Released { call: id, cause });
    }

    /// The cause to report at the end of a call: whoever started the
    /// clearing fixed it; else the one in the final message; else 31.
    fn end_cause(&self, id: CallId, msg: Option<Cause>) -> Cause {
        self.calls.get(&id).and_then(|c| c.cause).or(msg).unwrap_or(Cause::new(CauseValue::NORMAL_UNSPECIFIED, Location::User))
    }

    fn set_cause(&mut self, id: CallId, cause: Cause) {
        if let Some(c) = self.calls.get_mut(&id) {
            c.cause.get_or_insert(cause);
        }
    }

    /// RELEASE with `cause`, T308, release request state.
    fn send_release(&mut self, id: CallId, cause: CauseRepr, now: Instant) {
        self.set_cause(id, Cause::new(cause.value, cause.location));
        self.send_call(id, MessageType::Release, vec![IeRepr::Cause(cause)]);
        self.set_phase(id, Phase::ReleaseSent);
        self.set_timer(id, Some(Timer::T308), now);
        if let Some(c) = self.calls.get_mut(&id) {
            c.expiries = 0;
            c.t322 = None;
        }
    }

    /// This stack clears a call on its own with RELEASE (channel
    /// unacceptable, incompatible state).
    fn local_release(&mut self, id: CallId, v: CauseValue, now: Instant) {
        let cause = self.our_cause(v);
        if !self.phase(id).is_clearing() {
            self.event(Event::Disconnecting { call: id, cause, inband: false, initiator: Initiator::Local });
        }
        let repr = self.cause_repr(v);
        self.send_release(id, repr, now);
    }

    /// This stack clears a call on its own with DISCONNECT (timer
    /// expiry).
    fn local_disconnect(&mut self, id: CallId, v: CauseValue, now: Instant) {
        let cause = self.our_cause(v);
        if !self.phase(id).is_clearing() {
            self.event(Event::Disconnecting { call: id, cause, inband: false, initiator: Initiator::Local });
        }
        self.disconnect(id, cause, false, now);
    }

    // ------------------------------------------------------------------
    // Received messages
    // ------------------------------------------------------------------

    /// One layer 3 message from the data link (DL-DATA indication).
    /// Never panics; malformed input is answered as Q.931 §5.8 says or
    /// ignored.
    pub fn handle_message(&mut self, bytes: &[u8], now: Instant) {
        // §5.8.1-5.8.3.1: too short, bad call reference length: ignore.
        let Ok(view) = Message::new_checked(bytes) else {
            return;
        };
        let pd = view.protocol_discriminator();
        if pd.is_maintenance() {
            self.on_maintenance(&view, now);
            return;
        }
        if pd != ProtocolDiscriminator::Q931 {
            return;
        }
        let cr = view.call_ref();
        if cr.is_dummy() {
            return;
        }
        let msg = parse_lenient(&view);
        if cr.is_global() {
            self.on_global(&msg, now);
            return;
        }
        let ours = cr.flag == CallRefFlag::ToOriginator;
        match self.by_cr.get(&(cr.value, ours)).copied() {
            Some(id) => self.on_call_message(id, &msg, now),
            None => self.on_unknown_call_ref(&msg, now),
        }
    }

    fn ie_check(&self, msg: &MessageRepr, from: Side) -> IeCheck {
        let mandatory = self.config.variant.mandatory_ies(msg.msg_type, from);
        let mut check = IeCheck { fatal: msg.check_mandatory(&mandatory).err(), report: None };
        for ie in &msg.ies {
            match ie {
                IeRepr::Malformed(raw) => {
                    let id = raw.ie_id();
                    if !mandatory.contains(&id) {
                        check.report.get_or_insert(WireError::InvalidIe(id));
                    }
                }
                IeRepr::Unknown(raw) => {
                    let id = raw.ie_id();
                    if id.codeset == 0 {
                        if id.name().is_none() {
                            if id.comprehension_required() {
                                check.fatal.get_or_insert(WireError::MandatoryIeMissing(id));
                            } else {
                                check.report.get_or_insert(WireError::UnrecognizedIe(id));
                            }
                        }
                    } else if !self.config.variant.codesets.contains(&id.codeset) {
                        check.report.get_or_insert(WireError::UnrecognizedIe(id));
                    }
                }
                _ => {}
            }
        }
        check
    }

    /// §5.8.3.2: a message for a call reference we do not know.
    fn on_unknown_call_ref(&mut self, msg: &MessageRepr, now: Instant) {
        let from_originator = msg.call_ref.flag == CallRefFlag::FromOriginator;
        match msg.msg_type {
            MessageType::Setup => {
                if from_originator {
                    self.on_setup(msg, now);
                }
            }
            MessageType::ReleaseComplete => {}
            MessageType::Status => {
                if call_state_of(msg).is_some_and(|s| s != 0) {
                    let c = self.cause_repr(CauseValue::MESSAGE_NOT_COMPATIBLE);
                    self.reply(msg, MessageType::ReleaseComplete, vec![IeRepr::Cause(c)]);
                }
            }
            MessageType::StatusEnquiry => {
                let c = self.cause_repr(CauseValue::RESPONSE_TO_STATUS_ENQUIRY);
                self.reply(msg, MessageType::Status, Self::status_ies(c, 0));
            }
            MessageType::Resume if self.side() == Side::Network && from_originator => {
                let c = self.cause_repr(CauseValue::SERVICE_NOT_IMPLEMENTED);
                self.reply(msg, MessageType::ResumeReject, vec![IeRepr::Cause(c)]);
            }
            _ => {
                let c = self.cause_repr(CauseValue::INVALID_CALL_REFERENCE);
                self.reply(msg, MessageType::ReleaseComplete, vec![IeRepr::Cause(c)]);
            }
        }
    }

    /// A new incoming call.
    fn on_setup(&mut self, msg: &MessageRepr, _now: Instant) {
        let check = self.ie_check(msg, self.peer());
        if let Some(err) = check.fatal {
            let c = self.error_cause(&err);
            self.reply(msg, MessageType::ReleaseComplete, vec![IeRepr::Cause(c)]);
            return;
        }
        let bearer = match codec::find(msg, IeId::BEARER_CAPABILITY) {
            Some(IeRepr::BearerCapability(bc)) if codec::bearer_supported(bc) => codec::bearer_from(bc),
            _ => {
                let c = self.cause_repr(CauseValue::BEARER_CAPABILITY_NOT_IMPLEMENTED);
                self.reply(msg, MessageType::ReleaseComplete, vec![IeRepr::Cause(c)]);
                return;
            }
        };
        let id = CallId(self.next_call);
        let channel = match self.select_incoming_channel(msg, id) {
            Ok(ch) => ch,
            Err(v) => {
                let c = self.cause_repr(v);
                self.reply(msg, MessageType::ReleaseComplete, vec![IeRepr::Cause(c)]);
                return;
            }
        };
        self.next_call += 1;
        let mut call = Call::new(id, msg.call_ref.value, msg.call_ref.len, false, Phase::InSetupReceived);
        call.channel = Some(channel);
        self.by_cr.insert((call.cr, false), id);
        self.calls.insert(id, call);

        let number = |ie: IeId| match codec::find(msg, ie) {
            Some(IeRepr::CalledNumber(n) | IeRepr::CallingNumber(n) | IeRepr::RedirectingNumber(n)) => Some((codec::number_from(n), n.reason)),
            _ => None,
        };
        let redirecting = number(IeId::REDIRECTING_NUMBER).map(|(n, reason)| super::types::Redirecting {
            number: n,
            reason: reason.unwrap_or(RedirectReason::Unknown),
            count: codec::diversion_count(msg, self.config.variant.diversion_counter_operation),
        });
        let incoming = IncomingCall {
            call: id,
            channel,
            called: number(IeId::CALLED_NUMBER).map_or_else(codec::empty_number, |(n, _)| n),
            calling: number(IeId::CALLING_NUMBER).map(|(n, _)| n),
            calling_name: codec::calling_name(msg),
            name_follows: codec::name_follows(msg),
            redirecting,
            bearer,
            sending_complete: msg.find(IeId::SENDING_COMPLETE).is_some() || !self.config.variant.overlap_dialing,
            progress: codec::progress(msg),
        };
        self.event(Event::IncomingCall(Box::new(incoming)));
        if let Some(err) = check.report {
            let c = self.error_cause(&err);
            self.send_status(id, c);
        }
    }

    /// The channels a channel identification IE indicates (B-channel
    /// units, "as indicated"); `None` for "any channel" and the like.
    fn indicated(&self, ci: &ChannelIdRepr) -> Option<Vec<ChannelRef>> {
        if ci.selection != ChannelSelection::AsIndicated || ci.interface_type != InterfaceType::Primary || ci.d_channel {
            return None;
        }
        let spec = ci.channels.as_ref()?;
        if spec.units != ChannelUnits::BChannel {
            return None;
        }
        let iface = ci.interface_id.unwrap_or(self.implicit_interface());
        let list: Vec<ChannelRef> = ci.channel_numbers().into_iter().map(|n| ChannelRef::new(iface, n)).collect();
        (!list.is_empty()).then_some(list)
    }

    fn hunt_claim(&mut self, id: CallId) -> Result<ChannelRef, CauseValue> {
        let ch = self.channels.hunt(self.config.hunt).ok_or(CauseValue::NO_CIRCUIT_AVAILABLE)?;
        self.channels.claim(ch, id).map_err(|_| CauseValue::NO_CIRCUIT_AVAILABLE)?;
        Ok(ch)
    }

    /// B-channel selection for an incoming SETUP (Q.931 §5.1.2, §5.2.3),
    /// including B-channel glare: the network side keeps its own call and
    /// refuses (cause 44) or moves the peer's; the user side yields the
    /// channel of its unanswered outgoing call to the network's call.
    fn select_incoming_channel(&mut self, msg: &MessageRepr, id: CallId) -> Result<ChannelRef, CauseValue> {
        let ci = match codec::find(msg, IeId::CHANNEL_ID) {
            Some(IeRepr::ChannelId(ci)) => ci.clone(),
            _ => return self.hunt_claim(id),
        };
        if ci.d_channel || ci.interface_type != InterfaceType::Primary {
            return Err(CauseValue::CHANNEL_UNACCEPTABLE);
        }
        match ci.selection {
            ChannelSelection::NoChannel => return Err(CauseValue::NO_CIRCUIT_AVAILABLE),
            ChannelSelection::Any | ChannelSelection::Reserved => return self.hunt_claim(id),
            ChannelSelection::AsIndicated => {}
        }
        let Some(spec) = &ci.channels else {
            return self.hunt_claim(id);
        };
        if spec.units != ChannelUnits::BChannel {
            return Err(CauseValue::REQUESTED_CHANNEL_NOT_AVAILABLE);
        }
        let iface = ci.interface_id.unwrap_or(self.implicit_interface());
        if !self.channels.has_interface(iface) {
            return Err(CauseValue::CHANNEL_DOES_NOT_EXIST);
        }
        let list: Vec<ChannelRef> = ci.channel_numbers().into_iter().map(|n| ChannelRef::new(iface, n)).filter(|c| self.channels.exists(*c)).collect();
        if list.is_empty() {
            return Err(CauseValue::CHANNEL_DOES_NOT_EXIST);
        }
        for &ch in &list {
            if self.channels.claim(ch, id).is_ok() {
                return Ok(ch);
            }
        }
        if !ci.exclusive {
            return self.hunt_claim(id);
        }
        if self.side() == Side::User {
            let ch = list[0];
            if let Some(st) = self.channels.status(ch)
                && !st.restarting
                && !st.out_of_service
                && !st.blocked
                && let Some(owner) = st.owner
                && self.calls.get(&owner).is_some_and(|c| c.originated && c.phase == Phase::OutSetupSent && !c.confirmed)
            {
                self.channels.seize(ch, id);
                if let Some(c) = self.calls.get_mut(&owner) {
                    c.channel = None;
                }
                return Ok(ch);
            }
        }
        Err(CauseValue::REQUESTED_CHANNEL_NOT_AVAILABLE)
    }

    fn on_call_message(&mut self, id: CallId, msg: &MessageRepr, now: Instant) {
        let mt = msg.msg_type;
        if let MessageType::Unknown(b) = mt {
            let c = self.error_cause(&WireError::UnknownMessageType(b));
            self.send_status(id, c);
            return;
        }
        let check = self.ie_check(msg, self.peer());
        let clearing = matches!(mt, MessageType::Disconnect | MessageType::Release | MessageType::ReleaseComplete);
        if let Some(err) = check.fatal
            && !clearing
        {
            if mt != MessageType::Setup {
                let c = self.error_cause(&err);
                self.send_status(id, c);
            }
            return;
        }
        match mt {
            // §5.8.3.2 e: SETUP for a known call reference is ignored.
            MessageType::Setup => return,
            MessageType::SetupAcknowledge | MessageType::CallProceeding | MessageType::Alerting | MessageType::Connect => self.rx_answer(id, msg, now),
            MessageType::ConnectAcknowledge => self.rx_connect_ack(id, msg, now),
            MessageType::Progress => self.rx_progress(id, msg, now),
            MessageType::Information => self.rx_information(id, msg, now),
            MessageType::Disconnect => self.rx_disconnect(id, msg, check.fatal, now),
            MessageType::Release => self.rx_release(id, msg, check.fatal, now),
            MessageType::ReleaseComplete => {
                let c = if check.fatal.is_some() { None } else { codec::cause(msg) };
                let cause = self.end_cause(id, c);
                self.finish(id, cause);
            }
            MessageType::Status => self.rx_status(id, msg, now),
            MessageType::StatusEnquiry => {
                let c = self.cause_repr(CauseValue::RESPONSE_TO_STATUS_ENQUIRY);
                self.send_status(id, c);
            }
            MessageType::Facility => self.rx_facility(id, msg),
            MessageType::Notify => {
                if let Some(IeRepr::NotificationIndicator(n)) = codec::find(msg, IeId::NOTIFICATION_INDICATOR) {
                    let description = n.description;
                    self.event(Event::Notify { call: id, description });
                }
            }
            MessageType::Suspend if self.side() == Side::Network && self.phase(id) == Phase::Active => {
                // Suspend/resume is not offered (U15/U17 never entered).
                let c = self.cause_repr(CauseValue::SERVICE_NOT_IMPLEMENTED);
                self.send_call(id, MessageType::SuspendReject, vec![IeRepr::Cause(c)]);
            }
            MessageType::UserInformation | MessageType::Segment | MessageType::CongestionControl => {
                let c = self.error_cause(&WireError::UnknownMessageType(mt.to_byte(msg.pd)));
                self.send_status(id, c);
            }
            _ => self.unexpected(id, msg),
        }
        if let Some(err) = check.report
            && !clearing
            && self.calls.contains_key(&id)
        {
            let c = self.error_cause(&err);
            self.send_status(id, c);
        }
    }

    /// §5.8.4: a message not expected in this state: STATUS cause 101.
    fn unexpected(&mut self, id: CallId, msg: &MessageRepr) {
        let mut c = self.cause_repr(CauseValue::MESSAGE_NOT_COMPATIBLE);
        c.diagnostics = vec![msg.msg_type.to_byte(msg.pd)];
        self.send_status(id, c);
    }

    /// SETUP ACKNOWLEDGE, CALL PROCEEDING, ALERTING or CONNECT for our
    /// call.
    fn rx_answer(&mut self, id: CallId, msg: &MessageRepr, now: Instant) {
        let Some(call) = self.calls.get(&id) else {
            return;
        };
        let (phase, originated) = (call.phase, call.originated);
        let mt = msg.msg_type;
        if phase == Phase::Abort {
            // N22: the answer we waited for; release it now.
            let cause = self.end_cause(id, None);
            let repr = CauseRepr::new(cause.location, cause.value);
            self.send_release(id, repr, now);
            return;
        }
        use Phase as P;
        let allowed = originated
            && match mt {
                MessageType::SetupAcknowledge => phase == P::OutSetupSent,
                MessageType::CallProceeding => matches!(phase, P::OutSetupSent | P::OutOverlap),
                MessageType::Alerting => {
                    matches!(phase, P::OutSetupSent | P::OutOverlap | P::OutProceeding)
                }
                MessageType::Connect => matches!(phase, P::OutSetupSent | P::OutOverlap | P::OutProceeding | P::OutAlerting),
                _ => false,
            };
        if !allowed {
            self.unexpected(id, msg);
            return;
        }
        let Some(channel) = self.accept_channel(id, msg, now) else {
            return;
        };
        if let Some(c) = self.calls.get_mut(&id) {
            c.setup = None;
            c.expiries = 0;
        }
        let progress = codec::progress(msg);
        let inband = codec::inband(&progress);
        match mt {
            MessageType::SetupAcknowledge => {
                self.set_phase(id, P::OutOverlap);
                self.set_timer(id, Some(Timer::T304), now);
                self.event(Event::SetupAcknowledged { call: id, channel });
            }
            MessageType::CallProceeding => {
                self.set_phase(id, P::OutProceeding);
                self.set_timer(id, (!inband).then_some(Timer::T310), now);
                self.event(Event::Proceeding { call: id, channel, progress });
            }
            MessageType::Alerting => {
                self.set_phase(id, P::OutAlerting);
                self.set_timer(id, Some(Timer::T301), now);
                self.event(Event::Alerting { call: id, channel, inband, progress });
            }
            _ => {
                self.set_timer(id, None, now);
                self.set_phase(id, P::Active);
                self.send_call(id, MessageType::ConnectAcknowledge, Vec::new());
                let connected = match codec::find(msg, IeId::CONNECTED_NUMBER) {
                    Some(IeRepr::ConnectedNumber(n)) => Some(codec::number_from(n)),
                    _ => None,
                };
                self.event(Event::Connected { call: id, channel, connected });
            }
        }
        self.rx_facility_ies(id, msg);
    }

    /// The channel in the first answer to our SETUP (§5.1.2, §5.2.3):
    /// ours, or another one if we offered ours as preferred (or lost it to
    /// glare). An unusable choice clears the call with RELEASE cause 6.
    fn accept_channel(&mut self, id: CallId, msg: &MessageRepr, now: Instant) -> Option<ChannelRef> {
        let call = self.calls.get(&id)?;
        if call.confirmed {
            return call.channel;
        }
        let (ours, exclusive) = (call.channel, call.exclusive);
        let offered = match codec::find(msg, IeId::CHANNEL_ID) {
            Some(IeRepr::ChannelId(ci)) => self.indicated(ci).map(|l| l[0]),
            _ => None,
        };
        let target = offered.or(ours);
        let ok = match target {
            Some(ch) if Some(ch) == ours => true,
            Some(ch) => (ours.is_none() || !exclusive) && self.channels.claim(ch, id).is_ok(),
            None => false,
        };
        if !ok {
            self.local_release(id, CauseValue::CHANNEL_UNACCEPTABLE, now);
            return None;
        }
        if let (Some(o), Some(t)) = (ours, target)
            && o != t
        {
            self.channels.release(o, id);
        }
        let c = self.calls.get_mut(&id)?;
        c.channel = target;
        c.confirmed = true;
        target
    }

    fn rx_connect_ack(&mut self, id: CallId, msg: &MessageRepr, now: Instant) {
        let Some(call) = self.calls.get(&id) else {
            return;
        };
        match (call.phase, call.originated) {
            (Phase::InConnectSent, false) => {
                self.set_timer(id, None, now);
                self.set_phase(id, Phase::Active);
                self.event(Event::ConnectAcknowledged { call: id });
            }
            (Phase::Active, false) if self.side() == Side::Network => {
                self.event(Event::ConnectAcknowledged { call: id });
            }
            (Phase::Active, _) => {}
            _ => self.unexpected(id, msg),
        }
    }

    fn rx_progress(&mut self, id: CallId, msg: &MessageRepr, now: Instant) {
        let phase = self.phase(id);
        if matches!(phase, Phase::ReleaseSent | Phase::Abort) {
            self.unexpected(id, msg);
            return;
        }
        let progress = codec::progress(msg);
        let inband = codec::inband(&progress);
        if inband && phase == Phase::OutProceeding {
            self.set_timer(id, None, now);
        }
        self.event(Event::Progress { call: id, progress, inband });
        self.rx_facility_ies(id, msg);
    }

    fn rx_information(&mut self, id: CallId, msg: &MessageRepr, now: Instant) {
        let phase = self.phase(id);
        if matches!(phase, Phase::ReleaseSent | Phase::Abort) {
            self.unexpected(id, msg);
            return;
        }
        let mut digits = String::new();
        for ie in &msg.ies {
            match ie {
                IeRepr::CalledNumber(n) => digits.push_str(&n.digits),
                IeRepr::KeypadFacility(k) => digits.push_str(&k.digits),
                _ => {}
            }
        }
        let sending_complete = msg.find(IeId::SENDING_COMPLETE).is_some();
        if phase == Phase::InOverlap {
            let t = (!sending_complete).then_some(Timer::T302);
            self.set_timer(id, t, now);
        }
        if !digits.is_empty() || sending_complete {
            self.event(Event::MoreDigits { call: id, digits, sending_complete });
        }
    }

    fn rx_disconnect(&mut self, id: CallId, msg: &MessageRepr, fatal: Option<WireError>, now: Instant) {
        let phase = self.phase(id);
        match phase {
            Phase::ReleaseSent | Phase::DisconnectReceived | Phase::Null => return,
            Phase::Abort => {
                let cause = self.end_cause(id, None);
                let repr = CauseRepr::new(cause.location, cause.value);
                self.send_release(id, repr, now);
                return;
            }
            _ => {}
        }
        // §5.8.6.1: a DISCONNECT without (valid) cause counts as cause 31.
        let peer_cause = fatal.is_none().then(|| codec::cause(msg)).flatten().unwrap_or(Cause::new(CauseValue::NORMAL_UNSPECIFIED, Location::User));
        let collision = phase == Phase::DisconnectSent;
        self.set_cause(id, peer_cause);
        let progress = codec::progress(msg);
        let inband = progress.contains(&ProgressDescription::InbandAvailable);
        if !collision {
            self.event(Event::Disconnecting { call: id, cause: peer_cause, inband, initiator: Initiator::Peer });
        }
        if let Some(c) = self.calls.get_mut(&id) {
            c.t322 = None;
        }
        if inband && self.config.inband_disconnect && !collision {
            self.set_phase(id, Phase::DisconnectReceived);
            self.set_timer(id, None, now);
        } else {
            let repr = match fatal {
                Some(err) => self.error_cause(&err),
                None => self.cause_repr(peer_cause.value),
            };
            self.send_release(id, repr, now);
        }
    }

    fn rx_release(&mut self, id: CallId, msg: &MessageRepr, fatal: Option<WireError>, _now: Instant) {
        let phase = self.phase(id);
        let msg_cause = fatal.is_none().then(|| codec::cause(msg)).flatten();
        if phase != Phase::ReleaseSent {
            let mut ies = Vec::new();
            if let Some(err) = fatal {
                ies.push(IeRepr::Cause(self.error_cause(&err)));
            } else if msg_cause.is_none() && !phase.is_clearing() {
                // Cause is mandatory in the first clearing message.
                let err = WireError::MandatoryIeMissing(IeId::CAUSE);
                ies.push(IeRepr::Cause(self.error_cause(&err)));
            }
            self.send_call(id, MessageType::ReleaseComplete, ies);
        }
        // In the release request state this is a clear collision: no
        // RELEASE COMPLETE (§5.3.5).
        let cause = self.end_cause(id, msg_cause);
        self.finish(id, cause);
    }

    fn rx_status(&mut self, id: CallId, msg: &MessageRepr, now: Instant) {
        let Some(peer_state) = call_state_of(msg) else {
            return;
        };
        let Some(call) = self.calls.get_mut(&id) else {
            return;
        };
        call.t322 = None;
        call.enquiries = 0;
        let (phase, originated) = (call.phase, call.originated);
        let cause = codec::cause(msg).unwrap_or(Cause::new(CauseValue::NORMAL_UNSPECIFIED, Location::User));
        if peer_state == 0 {
            // §5.8.11 c: the peer has no such call: release everything.
            let c = self.end_cause(id, Some(self.our_cause(CauseValue::TEMPORARY_FAILURE)));
            self.finish(id, c);
            return;
        }
        if phase == Phase::ReleaseSent {
            return;
        }
        if !compatible(self.side(), phase, originated, peer_state) {
            self.local_release(id, CauseValue::MESSAGE_NOT_COMPATIBLE, now);
            return;
        }
        let our_state = phase.state(self.side());
        self.event(Event::Status { call: Some(id), cause, peer_state, our_state });
    }

    fn rx_facility(&mut self, id: CallId, msg: &MessageRepr) {
        self.rx_facility_ies(id, msg);
        let incoming = self.calls.get(&id).is_some_and(|c| !c.originated);
        if incoming && let Some(name) = codec::facility_name(msg, crate::wire::ie::facility::NameOperation::CallingName) {
            self.event(Event::CallingName { call: id, name });
        }
    }

    fn rx_facility_ies(&mut self, id: CallId, msg: &MessageRepr) {
        for ie in &msg.ies {
            if let IeRepr::Facility(f) = ie {
                self.event(Event::Facility { call: Some(id), facility: f.clone() });
            }
        }
    }
}

/// Encodes a message for the data link.
fn encode(m: &MessageRepr) -> Result<Vec<u8>, CommandError> {
    let v = m.to_vec().map_err(CommandError::Encode)?;
    if v.len() > MAX_MESSAGE_LEN {
        return Err(CommandError::TooLong);
    }
    Ok(v)
}

/// Decodes a checked message, keeping the IEs before a framing error and
/// marking the broken one as malformed (cause 100) instead of dropping the
/// whole message.
fn parse_lenient(view: &Message<&[u8]>) -> MessageRepr {
    let mut ies = Vec::new();
    for raw in view.ies() {
        match raw {
            Ok(raw) => {
                if !raw.is_single_octet() && raw.data.is_empty() {
                    continue;
                }
                ies.push(raw.to_repr());
            }
            Err(e) => {
                if let Some(id) = e.ie() {
                    ies.push(IeRepr::Malformed(RawIe { codeset: id.codeset, id: id.id, data: Vec::new() }));
                }
                break;
            }
        }
    }
    MessageRepr { pd: view.protocol_discriminator(), call_ref: view.call_ref(), msg_type: view.message_type(), ies }
}

/// The call state number in a message's call state IE.
fn call_state_of(m: &MessageRepr) -> Option<u8> {
    match codec::find(m, IeId::CALL_STATE) {
        Some(IeRepr::CallState(s)) => Some(s.value.bits()),
        _ => None,
    }
}
