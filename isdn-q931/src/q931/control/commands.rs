//! Commands from the application.

use std::time::Instant;

use super::*;

impl CallControl {
    /// Carries out a command. `Ok(Some(call))` for [`Command::Setup`].
    pub fn command(&mut self, cmd: Command, now: Instant) -> Result<Option<CallId>, CommandError> {
        let id = match &cmd {
            Command::Setup(_) | Command::Restart(_) | Command::Service { .. } => None,
            Command::Information { call, .. }
            | Command::SetupAck { call }
            | Command::Proceeding { call, .. }
            | Command::Alerting { call, .. }
            | Command::Progress { call, .. }
            | Command::Connect { call, .. }
            | Command::Disconnect { call, .. }
            | Command::Release { call, .. }
            | Command::Facility { call, .. }
            | Command::StatusEnquiry { call } => Some(*call),
        };
        if let Some(id) = id
            && !self.calls.contains_key(&id)
        {
            return Err(CommandError::UnknownCall(id));
        }
        match cmd {
            Command::Setup(req) => return self.setup(*req, now).map(Some),
            Command::Information { call, digits, sending_complete } => self.cmd_information(call, &digits, sending_complete, now)?,
            Command::SetupAck { call } => self.cmd_setup_ack(call, now)?,
            Command::Proceeding { call, inband } => self.cmd_proceeding(call, inband, now)?,
            Command::Alerting { call, inband } => self.cmd_alerting(call, inband, now)?,
            Command::Progress { call, description } => self.cmd_progress(call, description)?,
            Command::Connect { call, connected } => self.cmd_connect(call, connected, now)?,
            Command::Disconnect { call, cause, inband } => {
                if self.phase(call) == Phase::Null {
                    return Err(CommandError::WrongState(CallState::Null));
                }
                let c = self.our_cause(cause);
                self.disconnect(call, c, inband, now);
            }
            Command::Release { call, cause } => {
                let c = self.our_cause(cause);
                self.release(call, c, now);
            }
            Command::Facility { call, facility } => {
                self.require_link()?;
                let m = self.call_message(call, MessageType::Facility, vec![IeRepr::Facility(facility)]).ok_or(CommandError::UnknownCall(call))?;
                let b = encode(&m)?;
                self.transmit(b);
            }
            Command::StatusEnquiry { call } => {
                self.require_link()?;
                self.send_call(call, MessageType::StatusEnquiry, Vec::new());
                let t322 = self.config.timers.t322;
                if let Some(c) = self.calls.get_mut(&call)
                    && c.t322.is_none()
                {
                    c.t322 = Some(now + t322);
                    c.enquiries = 1;
                }
            }
            Command::Restart(target) => {
                self.require_link()?;
                self.restart(target, Initiator::Application, now)?;
            }
            Command::Service { target, status } => {
                self.require_link()?;
                self.service(target, status, now)?;
            }
        }
        Ok(None)
    }

    pub(super) fn require_link(&self) -> Result<(), CommandError> {
        if self.link_up { Ok(()) } else { Err(CommandError::NoDataLink) }
    }

    pub(super) fn wrong_state(&self, id: CallId) -> CommandError {
        CommandError::WrongState(self.call_state(id).unwrap_or(CallState::Null))
    }

    pub(super) fn alloc_cr(&mut self) -> Option<u16> {
        for _ in 0..0x7FFF {
            let v = self.next_cr;
            self.next_cr = if v >= 0x7FFF { 1 } else { v + 1 };
            if !self.by_cr.contains_key(&(v, true)) {
                return Some(v);
            }
        }
        None
    }

    /// Places a call: SETUP with the channel chosen as the request and the
    /// variant allow, T303.
    pub fn setup(&mut self, req: SetupRequest, now: Instant) -> Result<CallId, CommandError> {
        self.require_link()?;
        let v = self.config.variant.clone();
        if req.overlap && !v.overlap_dialing {
            return Err(CommandError::NotSupported("overlap dialling"));
        }
        let free = |s: &Self, c: ChannelRef| -> Result<(), CommandError> {
            if !s.channels.exists(c) {
                Err(CommandError::NoSuchChannel(c))
            } else if !s.channels.is_free(c) {
                Err(CommandError::ChannelUnavailable(c))
            } else {
                Ok(())
            }
        };
        let hunt = |s: &Self| s.channels.hunt(s.config.hunt).ok_or(CommandError::NoChannel);
        let (channel, exclusive) = match req.channel {
            ChannelPref::Any => (hunt(self)?, !(v.preferred_channel && self.side() == Side::User)),
            ChannelPref::Preferred(c) => match free(self, c) {
                Ok(()) => (c, !v.preferred_channel),
                Err(CommandError::ChannelUnavailable(_)) if v.preferred_channel => (hunt(self)?, false),
                Err(e) => return Err(e),
            },
            ChannelPref::Exclusive(c) => {
                free(self, c)?;
                (c, true)
            }
        };
        let cr = self.alloc_cr().ok_or(CommandError::NoCallReference)?;
        let mut ies = Vec::new();
        if req.sending_complete && !req.overlap && v.sending_complete_ie {
            ies.push(IeRepr::SendingComplete);
        }
        let bearer = req.bearer.unwrap_or(Bearer::speech(self.config.law));
        ies.push(IeRepr::BearerCapability(codec::bearer_repr(bearer)));
        ies.push(IeRepr::ChannelId(codec::channel_repr(channel, exclusive, self.explicit())));
        for p in &req.progress {
            ies.push(IeRepr::ProgressIndicator(ProgressIndicatorRepr::new(self.config.location, *p)));
        }
        if let Some(n) = &req.calling {
            ies.push(codec::number_ie(NumberIe::Calling, n));
        }
        if !req.called.digits.is_empty() {
            ies.push(codec::number_ie(NumberIe::Called, &req.called));
        }
        if let Some((n, reason)) = &req.redirecting {
            let mut r = codec::number_repr(NumberIe::Calling, n);
            r.reason = Some(*reason);
            ies.push(IeRepr::RedirectingNumber(r));
        }
        if let Some(name) = &req.calling_name {
            let invoke = self.next_invoke();
            ies.extend(codec::name_ies(v.name_encoding, name, invoke, false));
        }
        let m = MessageRepr { pd: ProtocolDiscriminator::Q931, call_ref: CallRef::pri(cr, CallRefFlag::FromOriginator), msg_type: MessageType::Setup, ies };
        let bytes = encode(&m)?;
        let id = CallId(self.next_call);
        self.next_call += 1;
        self.channels.claim(channel, id).map_err(|_| CommandError::ChannelUnavailable(channel))?;
        let mut call = Call::new(id, cr, 2, true, Phase::OutSetupSent);
        call.channel = Some(channel);
        call.exclusive = exclusive;
        call.setup = Some(bytes.clone());
        self.by_cr.insert((cr, true), id);
        self.calls.insert(id, call);
        self.transmit(bytes);
        self.set_timer(id, Some(Timer::T303), now);
        Ok(id)
    }

    pub(super) fn cmd_information(&mut self, id: CallId, digits: &str, sending_complete: bool, now: Instant) -> Result<(), CommandError> {
        self.require_link()?;
        let phase = self.phase(id);
        let mut ies = Vec::new();
        match phase {
            Phase::OutOverlap => {
                if !digits.is_empty() {
                    ies.push(codec::number_ie(NumberIe::Called, &crate::q931::Number::new(digits)));
                }
                if sending_complete && self.config.variant.sending_complete_ie {
                    ies.push(IeRepr::SendingComplete);
                }
            }
            Phase::Null | Phase::ReleaseSent | Phase::Abort | Phase::OutSetupSent | Phase::InSetupReceived => return Err(self.wrong_state(id)),
            _ => {
                if !digits.is_empty() {
                    ies.push(IeRepr::KeypadFacility(KeypadFacilityRepr { digits: digits.chars().filter(char::is_ascii).collect() }));
                }
            }
        }
        if ies.is_empty() {
            return Ok(());
        }
        let m = self.call_message(id, MessageType::Information, ies).ok_or(CommandError::UnknownCall(id))?;
        let b = encode(&m)?;
        self.transmit(b);
        if phase == Phase::OutOverlap {
            self.set_timer(id, Some(Timer::T304), now);
        }
        Ok(())
    }

    /// The channel identification for our first answer to a SETUP (always
    /// sent, exclusive), or nothing once sent.
    pub(super) fn first_answer_ies(&self, id: CallId) -> Vec<IeRepr> {
        match self.calls.get(&id) {
            Some(c) if !c.confirmed => c.channel.map(|ch| IeRepr::ChannelId(codec::channel_repr(ch, true, self.explicit()))).into_iter().collect(),
            _ => Vec::new(),
        }
    }

    /// Sends an answer to an incoming SETUP and marks the channel agreed.
    pub(super) fn send_answer(&mut self, id: CallId, mt: MessageType, mut extra: Vec<IeRepr>) -> Result<(), CommandError> {
        let mut ies = self.first_answer_ies(id);
        ies.append(&mut extra);
        let m = self.call_message(id, mt, ies).ok_or(CommandError::UnknownCall(id))?;
        let b = encode(&m)?;
        self.transmit(b);
        if let Some(c) = self.calls.get_mut(&id) {
            c.confirmed = true;
        }
        Ok(())
    }

    pub(super) fn inband_ie(&self) -> IeRepr {
        IeRepr::ProgressIndicator(ProgressIndicatorRepr::new(self.config.location, ProgressDescription::InbandAvailable))
    }

    pub(super) fn cmd_setup_ack(&mut self, id: CallId, now: Instant) -> Result<(), CommandError> {
        self.require_link()?;
        if !self.config.variant.overlap_dialing {
            return Err(CommandError::NotSupported("overlap dialling"));
        }
        if self.phase(id) != Phase::InSetupReceived {
            return Err(self.wrong_state(id));
        }
        self.send_answer(id, MessageType::SetupAcknowledge, Vec::new())?;
        self.set_phase(id, Phase::InOverlap);
        self.set_timer(id, Some(Timer::T302), now);
        Ok(())
    }

    pub(super) fn cmd_proceeding(&mut self, id: CallId, inband: bool, now: Instant) -> Result<(), CommandError> {
        self.require_link()?;
        if !matches!(self.phase(id), Phase::InSetupReceived | Phase::InOverlap) {
            return Err(self.wrong_state(id));
        }
        let in_cp = self.config.variant.progress_in_call_proceeding;
        let extra = if inband && in_cp { vec![self.inband_ie()] } else { Vec::new() };
        self.send_answer(id, MessageType::CallProceeding, extra)?;
        if inband && !in_cp {
            let pi = self.inband_ie();
            self.send_call(id, MessageType::Progress, vec![pi]);
        }
        self.set_phase(id, Phase::InProceeding);
        self.set_timer(id, None, now);
        Ok(())
    }

    pub(super) fn cmd_alerting(&mut self, id: CallId, inband: bool, now: Instant) -> Result<(), CommandError> {
        self.require_link()?;
        if !matches!(self.phase(id), Phase::InSetupReceived | Phase::InOverlap | Phase::InProceeding) {
            return Err(self.wrong_state(id));
        }
        let extra = if inband { vec![self.inband_ie()] } else { Vec::new() };
        self.send_answer(id, MessageType::Alerting, extra)?;
        self.set_phase(id, Phase::InAlerting);
        self.set_timer(id, None, now);
        Ok(())
    }

    pub(super) fn cmd_progress(&mut self, id: CallId, d: ProgressDescription) -> Result<(), CommandError> {
        self.require_link()?;
        if matches!(self.phase(id), Phase::Null | Phase::InSetupReceived | Phase::OutSetupSent | Phase::ReleaseSent | Phase::Abort) {
            return Err(self.wrong_state(id));
        }
        let pi = IeRepr::ProgressIndicator(ProgressIndicatorRepr::new(self.config.location, d));
        self.send_call(id, MessageType::Progress, vec![pi]);
        Ok(())
    }

    pub(super) fn cmd_connect(&mut self, id: CallId, connected: Option<crate::q931::Number>, now: Instant) -> Result<(), CommandError> {
        self.require_link()?;
        if !matches!(self.phase(id), Phase::InSetupReceived | Phase::InOverlap | Phase::InProceeding | Phase::InAlerting) {
            return Err(self.wrong_state(id));
        }
        let extra = connected.iter().map(|n| codec::number_ie(NumberIe::Connected, n)).collect();
        self.send_answer(id, MessageType::Connect, extra)?;
        match self.side() {
            Side::User => {
                self.set_phase(id, Phase::InConnectSent);
                self.set_timer(id, Some(Timer::T313), now);
            }
            Side::Network => {
                self.set_phase(id, Phase::Active);
                self.set_timer(id, None, now);
            }
        }
        Ok(())
    }

    /// Normal clearing (application or timer): DISCONNECT in most states
    /// (Q.931 §5.3), RELEASE COMPLETE for an unanswered incoming SETUP,
    /// call abort (N22) for the network's unanswered SETUP, RELEASE after
    /// a DISCONNECT received. Without a data link the call is cleared
    /// locally.
    pub(super) fn disconnect(&mut self, id: CallId, cause: Cause, inband: bool, now: Instant) {
        if !self.link_up {
            self.set_cause(id, cause);
            let c = self.end_cause(id, None);
            self.finish(id, c);
            return;
        }
        let repr = CauseRepr::new(cause.location, cause.value);
        match self.phase(id) {
            Phase::Null | Phase::DisconnectSent | Phase::ReleaseSent | Phase::Abort => {}
            Phase::InSetupReceived => {
                self.set_cause(id, cause);
                self.send_call(id, MessageType::ReleaseComplete, vec![IeRepr::Cause(repr)]);
                let c = self.end_cause(id, None);
                self.finish(id, c);
            }
            Phase::OutSetupSent if self.side() == Side::Network => {
                self.set_cause(id, cause);
                self.set_phase(id, Phase::Abort);
            }
            Phase::DisconnectReceived => self.send_release(id, repr, now),
            _ => {
                self.set_cause(id, cause);
                let tones = inband && self.side() == Side::Network;
                let mut ies = vec![IeRepr::Cause(repr)];
                if tones {
                    ies.push(self.inband_ie());
                }
                self.send_call(id, MessageType::Disconnect, ies);
                self.set_phase(id, Phase::DisconnectSent);
                let t = if tones { Timer::T306 } else { Timer::T305 };
                self.set_timer(id, Some(t), now);
                if let Some(c) = self.calls.get_mut(&id) {
                    c.t322 = None;
                    c.t309 = None;
                }
            }
        }
    }

    /// Immediate clearing: RELEASE (RELEASE COMPLETE for an unanswered
    /// incoming SETUP). Without a data link the call is cleared locally.
    pub(super) fn release(&mut self, id: CallId, cause: Cause, now: Instant) {
        if !self.link_up {
            self.set_cause(id, cause);
            let c = self.end_cause(id, None);
            self.finish(id, c);
            return;
        }
        let repr = CauseRepr::new(cause.location, cause.value);
        match self.phase(id) {
            Phase::Null | Phase::ReleaseSent | Phase::Abort => {}
            Phase::InSetupReceived => self.disconnect(id, cause, false, now),
            _ => self.send_release(id, repr, now),
        }
    }
}
