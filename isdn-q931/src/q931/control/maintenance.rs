//! The global call reference: RESTART and RESTART ACKNOWLEDGE (Q.931
//! §5.5), and SERVICE / SERVICE ACKNOWLEDGE on the maintenance protocol
//! discriminators.

use std::time::Instant;

use super::*;

/// One RESTART to send: class, channel identification, channels covered.
type RestartMessage = (RestartClass, Option<ChannelIdRepr>, Vec<ChannelRef>);

impl CallControl {
    pub(super) fn global_state(&self) -> u8 {
        if self.restarts.is_empty() { 0 } else { CallStateValue::RestartRequest.bits() }
    }

    pub(super) fn on_global(&mut self, msg: &MessageRepr, now: Instant) {
        match msg.msg_type {
            MessageType::Restart => self.on_restart(msg, now),
            MessageType::RestartAcknowledge => self.on_restart_ack(msg),
            MessageType::Status => {
                if let Some(peer_state) = call_state_of(msg) {
                    let cause = codec::cause(msg).unwrap_or(Cause::new(CauseValue::NORMAL_UNSPECIFIED, Location::User));
                    self.event(Event::Status { call: None, cause, peer_state, our_state: CallState::Null });
                }
            }
            _ => {
                // §5.8.3.2 f.
                let c = self.cause_repr(CauseValue::INVALID_CALL_REFERENCE);
                let state = self.global_state();
                self.reply(msg, MessageType::Status, Self::status_ies(c, state));
            }
        }
    }

    /// The channels a RESTART (or RESTART ACKNOWLEDGE) designates.
    pub(super) fn restart_channels(&self, class: RestartClass, ci: Option<&ChannelIdRepr>) -> Result<Vec<ChannelRef>, WireError> {
        match class {
            RestartClass::Indicated => {
                let ci = ci.ok_or(WireError::MandatoryIeMissing(IeId::CHANNEL_ID))?;
                let list = self.indicated(ci).ok_or(WireError::InvalidIe(IeId::CHANNEL_ID))?;
                if list.iter().all(|c| self.channels.exists(*c)) { Ok(list) } else { Err(WireError::InvalidIe(IeId::CHANNEL_ID)) }
            }
            RestartClass::SingleInterface => {
                let iface = ci.and_then(|c| c.interface_id).unwrap_or(self.implicit_interface());
                if self.channels.has_interface(iface) { Ok(self.channels.of_interface(iface)) } else { Err(WireError::InvalidIe(IeId::CHANNEL_ID)) }
            }
            RestartClass::AllInterfaces => Ok(self.channels.all()),
            RestartClass::Other(_) => Err(WireError::InvalidIe(IeId::RESTART_INDICATOR)),
        }
    }

    pub(super) fn on_restart(&mut self, msg: &MessageRepr, _now: Instant) {
        let check = self.ie_check(msg, self.peer());
        let status = |s: &mut Self, err: WireError| {
            let mut c = s.error_cause(&err);
            if err == WireError::InvalidIe(IeId::CHANNEL_ID) {
                c.value = CauseValue::CHANNEL_DOES_NOT_EXIST;
            }
            let state = s.global_state();
            s.reply(msg, MessageType::Status, Self::status_ies(c, state));
        };
        if let Some(err) = check.fatal {
            status(self, err);
            return;
        }
        let Some(IeRepr::RestartIndicator(ri)) = codec::find(msg, IeId::RESTART_INDICATOR) else {
            return;
        };
        let ri = *ri;
        let ci = match codec::find(msg, IeId::CHANNEL_ID) {
            Some(IeRepr::ChannelId(ci)) => Some(ci.clone()),
            _ => None,
        };
        let channels = match self.restart_channels(ri.class, ci.as_ref()) {
            Ok(c) => c,
            Err(err) => {
                status(self, err);
                return;
            }
        };
        let cause = self.our_cause(CauseValue::TEMPORARY_FAILURE);
        for ch in &channels {
            if let Some(owner) = self.channels.status(*ch).and_then(|s| s.owner) {
                let cause = self.end_cause(owner, Some(cause));
                self.finish(owner, cause);
            }
        }
        self.event(Event::ChannelsRestarted { channels, initiator: Initiator::Peer });
        let mut ies = vec![IeRepr::RestartIndicator(ri)];
        if let Some(ci) = ci {
            ies.push(IeRepr::ChannelId(ci));
        }
        self.reply(msg, MessageType::RestartAcknowledge, ies);
    }

    pub(super) fn on_restart_ack(&mut self, msg: &MessageRepr) {
        let Some(IeRepr::RestartIndicator(ri)) = codec::find(msg, IeId::RESTART_INDICATOR) else {
            return;
        };
        let ci = match codec::find(msg, IeId::CHANNEL_ID) {
            Some(IeRepr::ChannelId(ci)) => Some(ci),
            _ => None,
        };
        let Ok(mut channels) = self.restart_channels(ri.class, ci) else {
            return;
        };
        channels.sort();
        let Some(i) = self.restarts.iter().position(|p| {
            let mut mine = p.channels.clone();
            mine.sort();
            p.class == ri.class && mine == channels
        }) else {
            return;
        };
        let p = self.restarts.remove(i);
        self.refresh_restarting(&p.channels);
        self.event(Event::RestartCompleted { channels: p.channels });
    }

    /// A channel is restarting while any pending RESTART covers it.
    pub(super) fn refresh_restarting(&mut self, channels: &[ChannelRef]) {
        for ch in channels {
            let busy = self.restarts.iter().any(|p| p.channels.contains(ch));
            self.channels.set_restarting(*ch, busy);
        }
    }

    /// The RESTART messages for a target, as the variant sends them.
    pub(super) fn restart_plan(&self, target: &RestartTarget) -> Result<Vec<RestartMessage>, CommandError> {
        let v = &self.config.variant;
        let explicit = self.explicit();
        let per_interface = |i: u8| {
            let chans = self.channels.of_interface(i);
            if v.uses_restart_class(RestartClass::SingleInterface) {
                vec![(RestartClass::SingleInterface, explicit.then(|| codec::interface_repr(i, true)), chans)]
            } else if self.channels.interface_ids().len() == 1 && v.uses_restart_class(RestartClass::AllInterfaces) {
                vec![(RestartClass::AllInterfaces, None, chans)]
            } else {
                chans.into_iter().map(|c| (RestartClass::Indicated, Some(codec::channel_repr(c, true, explicit)), vec![c])).collect()
            }
        };
        Ok(match target {
            RestartTarget::Channels(list) => {
                let mut out = Vec::new();
                for &c in list {
                    if !self.channels.exists(c) {
                        return Err(CommandError::NoSuchChannel(c));
                    }
                    out.push((RestartClass::Indicated, Some(codec::channel_repr(c, true, explicit)), vec![c]));
                }
                out
            }
            RestartTarget::Interface(i) => {
                if !self.channels.has_interface(*i) {
                    return Err(CommandError::NoSuchChannel(ChannelRef::new(*i, 0)));
                }
                per_interface(*i)
            }
            RestartTarget::All => {
                if v.uses_restart_class(RestartClass::AllInterfaces) {
                    vec![(RestartClass::AllInterfaces, None, self.channels.all())]
                } else {
                    self.channels.interface_ids().into_iter().flat_map(per_interface).collect()
                }
            }
        })
    }

    pub(super) fn restart(&mut self, target: RestartTarget, _initiator: Initiator, now: Instant) -> Result<(), CommandError> {
        let plan = self.restart_plan(&target)?;
        let cause = self.our_cause(CauseValue::TEMPORARY_FAILURE);
        for (class, ci, channels) in plan {
            let mut ies = vec![IeRepr::RestartIndicator(RestartIndicatorRepr { class })];
            if let Some(ci) = ci {
                ies.push(IeRepr::ChannelId(ci));
            }
            let m =
                MessageRepr { pd: ProtocolDiscriminator::Q931, call_ref: CallRef::global(2, CallRefFlag::FromOriginator), msg_type: MessageType::Restart, ies };
            let bytes = encode(&m)?;
            for ch in &channels {
                if let Some(owner) = self.channels.status(*ch).and_then(|s| s.owner) {
                    let cause = self.end_cause(owner, Some(cause));
                    self.finish(owner, cause);
                }
                self.channels.set_restarting(*ch, true);
            }
            let deadline = self.link_up.then(|| now + self.config.timers.t316);
            self.transmit(bytes.clone());
            self.restarts.push(Pending { channels, class, status: None, bytes, attempts: 1, deadline });
        }
        Ok(())
    }

    // ----- SERVICE (maintenance protocol discriminators) -----

    pub(super) fn service_channels(&self, cs: &ChangeStatusRepr, ci: &ChannelIdRepr) -> Option<Vec<ChannelRef>> {
        if cs.channel_preference {
            let list = self.indicated(ci)?;
            list.iter().all(|c| self.channels.exists(*c)).then_some(list)
        } else {
            let iface = ci.interface_id.unwrap_or(self.implicit_interface());
            self.channels.has_interface(iface).then(|| self.channels.of_interface(iface))
        }
    }

    pub(super) fn on_maintenance(&mut self, view: &Message<&[u8]>, _now: Instant) {
        if self.config.variant.service_pd.is_none() {
            return;
        }
        let msg = parse_lenient(view);
        let (Some(IeRepr::ChangeStatus(cs)), Some(IeRepr::ChannelId(ci))) = (codec::find(&msg, IeId::CHANGE_STATUS), codec::find(&msg, IeId::CHANNEL_ID))
        else {
            return;
        };
        let (cs, ci) = (*cs, ci.clone());
        let Some(channels) = self.service_channels(&cs, &ci) else {
            return;
        };
        match msg.msg_type {
            MessageType::Service => {
                for ch in &channels {
                    self.channels.set_out_of_service(*ch, cs.status != ServiceStatus::InService);
                }
                self.event(Event::ServiceChanged { channels, status: cs.status, initiator: Initiator::Peer });
                let reply = MessageRepr {
                    pd: msg.pd,
                    call_ref: msg.call_ref.reversed(),
                    msg_type: MessageType::ServiceAcknowledge,
                    ies: vec![IeRepr::ChangeStatus(cs), IeRepr::ChannelId(ci)],
                };
                self.send(&reply);
            }
            MessageType::ServiceAcknowledge => {
                let Some(i) = self.services.iter().position(|p| p.channels == channels && p.status == Some(cs.status)) else {
                    return;
                };
                let p = self.services.remove(i);
                self.event(Event::ServiceChanged { channels: p.channels, status: cs.status, initiator: Initiator::Application });
            }
            _ => {}
        }
    }

    pub(super) fn service(&mut self, target: RestartTarget, status: ServiceStatus, now: Instant) -> Result<(), CommandError> {
        let Some(pd) = self.config.variant.service_pd else {
            return Err(CommandError::NotSupported("SERVICE messages"));
        };
        let explicit = self.explicit();
        let mut plan: Vec<(bool, ChannelIdRepr, Vec<ChannelRef>)> = Vec::new();
        let mut interface = |s: &Self, i: u8| -> Result<(), CommandError> {
            if !s.channels.has_interface(i) {
                return Err(CommandError::NoSuchChannel(ChannelRef::new(i, 0)));
            }
            plan.push((false, codec::interface_repr(i, explicit), s.channels.of_interface(i)));
            Ok(())
        };
        match &target {
            RestartTarget::Channels(list) => {
                for &c in list {
                    if !self.channels.exists(c) {
                        return Err(CommandError::NoSuchChannel(c));
                    }
                    plan.push((true, codec::channel_repr(c, true, explicit), vec![c]));
                }
            }
            RestartTarget::Interface(i) => interface(self, *i)?,
            RestartTarget::All => {
                for i in self.channels.interface_ids() {
                    interface(self, i)?;
                }
            }
        }
        for (pref, ci, channels) in plan {
            let m = MessageRepr {
                pd,
                call_ref: CallRef::global(2, CallRefFlag::FromOriginator),
                msg_type: MessageType::Service,
                ies: vec![IeRepr::ChangeStatus(ChangeStatusRepr { channel_preference: pref, status }), IeRepr::ChannelId(ci)],
            };
            let bytes = encode(&m)?;
            for ch in &channels {
                self.channels.set_out_of_service(*ch, status != ServiceStatus::InService);
            }
            // A new status supersedes one still unacknowledged for the same
            // channels: retrying the old one would undo the new.
            self.services.retain(|p| p.channels != channels);
            self.transmit(bytes.clone());
            self.services.push(Pending {
                channels,
                class: RestartClass::Indicated,
                status: Some(status),
                bytes,
                attempts: 1,
                deadline: Some(now + self.config.timers.t3m1),
            });
        }
        Ok(())
    }
}
