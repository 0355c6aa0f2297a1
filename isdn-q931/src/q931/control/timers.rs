//! Timer expiries (Q.931 Tables 9-1 and 9-2).

use std::time::Instant;

use super::*;

impl CallControl {
    /// Runs every timer due at `now`.
    pub fn handle_timeout(&mut self, now: Instant) {
        let due: Vec<CallId> = self.calls.values().filter(|c| c.deadline().is_some_and(|d| d <= now)).map(|c| c.id).collect();
        for id in due {
            let Some(c) = self.calls.get(&id) else {
                continue;
            };
            if c.t309.is_some_and(|t| t <= now) {
                // §5.8.9: the link did not come back in time.
                let cause = self.our_cause(CauseValue::DESTINATION_OUT_OF_ORDER);
                self.finish(id, cause);
                continue;
            }
            if c.t322.is_some_and(|t| t <= now) {
                self.t322_expired(id, now);
            }
            if let Some(c) = self.calls.get_mut(&id)
                && let Some((t, at)) = c.timer
                && at <= now
            {
                c.timer = None;
                self.timer_expired(id, t, now);
            }
        }
        self.pending_timeouts(now);
    }

    pub(super) fn t322_expired(&mut self, id: CallId, now: Instant) {
        let attempts = self.config.status_enquiry_attempts;
        let t322 = self.config.timers.t322;
        let Some(c) = self.calls.get_mut(&id) else {
            return;
        };
        if c.enquiries < attempts && self.link_up {
            c.enquiries += 1;
            c.t322 = Some(now + t322);
            self.send_call(id, MessageType::StatusEnquiry, Vec::new());
        } else {
            c.t322 = None;
            c.enquiries = 0;
            self.local_disconnect(id, CauseValue::TEMPORARY_FAILURE, now);
        }
    }

    pub(super) fn timer_expired(&mut self, id: CallId, t: Timer, now: Instant) {
        let Some(c) = self.calls.get(&id) else {
            return;
        };
        let (phase, expiries) = (c.phase, c.expiries);
        match t {
            Timer::T303 => {
                if phase == Phase::Abort {
                    let cause = self.end_cause(id, None);
                    self.finish(id, cause);
                } else if expiries == 0 {
                    let bytes = c.setup.clone();
                    if let Some(b) = bytes {
                        self.transmit(b);
                    }
                    if let Some(c) = self.calls.get_mut(&id) {
                        c.expiries = 1;
                    }
                    self.set_timer(id, Some(Timer::T303), now);
                } else {
                    let repr = self.cause_repr(CauseValue::RECOVERY_ON_TIMER_EXPIRY);
                    self.send_call(id, MessageType::ReleaseComplete, vec![IeRepr::Cause(repr)]);
                    // Q.931 Table 9-1: the network reports "no user
                    // responding" towards the caller.
                    let v = match self.side() {
                        Side::User => CauseValue::RECOVERY_ON_TIMER_EXPIRY,
                        Side::Network => CauseValue::NO_USER_RESPONDING,
                    };
                    let cause = self.our_cause(v);
                    self.finish(id, cause);
                }
            }
            Timer::T301 | Timer::T304 | Timer::T310 | Timer::T313 => {
                self.local_disconnect(id, CauseValue::RECOVERY_ON_TIMER_EXPIRY, now);
            }
            Timer::T302 => self.event(Event::DigitTimeout { call: id }),
            Timer::T305 | Timer::T306 => {
                let cause = self.end_cause(id, None);
                let repr = CauseRepr::new(cause.location, cause.value);
                self.send_release(id, repr, now);
            }
            Timer::T308 => {
                let cause = self.end_cause(id, None);
                if expiries == 0 {
                    let repr = CauseRepr::new(cause.location, cause.value);
                    self.send_call(id, MessageType::Release, vec![IeRepr::Cause(repr)]);
                    self.set_timer(id, Some(Timer::T308), now);
                    if let Some(c) = self.calls.get_mut(&id) {
                        c.expiries = 1;
                    }
                } else {
                    // The B-channel goes to a maintenance condition.
                    let channel = c.channel;
                    self.finish(id, cause);
                    if self.config.variant.restart_after_t308
                        && let Some(ch) = channel
                    {
                        let _ = self.restart(RestartTarget::Channels(vec![ch]), Initiator::Local, now);
                    }
                }
            }
        }
    }

    pub(super) fn pending_timeouts(&mut self, now: Instant) {
        let t316 = self.config.timers.t316;
        let attempts = self.config.restart_attempts;
        let mut i = 0;
        while i < self.restarts.len() {
            if self.restarts[i].deadline.is_none_or(|d| d > now) {
                i += 1;
                continue;
            }
            if self.restarts[i].attempts < attempts {
                let p = &mut self.restarts[i];
                p.attempts += 1;
                p.deadline = Some(now + t316);
                let b = p.bytes.clone();
                self.transmit(b);
                i += 1;
            } else {
                let p = self.restarts.remove(i);
                self.refresh_restarting(&p.channels);
                self.event(Event::RestartFailed { channels: p.channels });
            }
        }
        let t3m1 = self.config.timers.t3m1;
        let attempts = self.config.service_attempts;
        let mut i = 0;
        while i < self.services.len() {
            if self.services[i].deadline.is_none_or(|d| d > now) {
                i += 1;
                continue;
            }
            if self.services[i].attempts < attempts {
                let p = &mut self.services[i];
                p.attempts += 1;
                p.deadline = Some(now + t3m1);
                let b = p.bytes.clone();
                self.transmit(b);
                i += 1;
            } else {
                let p = self.services.remove(i);
                self.event(Event::ServiceFailed { channels: p.channels });
            }
        }
    }
}
