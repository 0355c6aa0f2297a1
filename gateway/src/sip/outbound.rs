//! The UAC role: [`SipSide::originate`] becomes an INVITE on a trunk.
//!
//! * **Refusals at once** (`Released` before anything is sent): unknown
//!   trunk → 3; trunk down (OPTIONS unanswered, not registered, host not
//!   resolved) → 38, so that call control fails over; `max_calls` → 34;
//!   `max_cps` → 42; no RTP port → 47; a number that makes no URI → 28.
//! * **The INVITE**: Request-URI from the route's `uri` template
//!   (`{called}`, `{calling}` substituted) else `sip:<called>@<host>`; To
//!   the same; From `"<name>" <sip:<calling>@<our address>>` with a tag.
//!   Privacy per the trunk's `privacy`: `rfc3325` sends the number in
//!   P-Asserted-Identity and, when restricted, an anonymous From with
//!   `Privacy: id`; `anonymous-from` sends an anonymous From and nothing
//!   else; `ignore` sends the number in From. A redirect becomes
//!   `Diversion: <sip:NUM@host>;reason=…;counter=N` (RFC 5806). Also
//!   Supported (100rel unless off, timer), Require: 100rel when the trunk
//!   requires it, Session-Expires/Min-SE when configured, Allow,
//!   User-Agent, Contact, Route `<proxy;lr>` through an outbound proxy,
//!   and the SDP offer (trunk codecs, ptime, telephone-event 101).
//! * **Responses**: 100 → `Proceeding`; 180 → `Alerting{inband: false}`;
//!   183 → `Progress{inband: false}`; with SDP, `Media` then the same with
//!   `inband: true`; a reliable one (Require: 100rel) is PRACKed; 2xx →
//!   ACK, `Media`, `Answered{connected from P-Asserted-Identity}`;
//!   401/407 → the INVITE again with credentials (CSeq + 1, same Call-ID
//!   and tags), once per nonce; 422 → again with the peer's Min-SE; other
//!   finals → `Released` with the Reason's Q.850 cause, else the RFC 3398
//!   mapping with the trunk's overrides; Timer B → 102. A 3xx whose first
//!   Contact is a `sip:`/`sips:` URI with a user part first reports
//!   `Redirected{to: that number}` (call control may follow it with a new
//!   attempt); the `Released` with the mapped cause follows either way.
//! * **Release**: before the final response a CANCEL with `Reason` (once a
//!   provisional came, RFC 3261 §9.1), and `Released` when the 487 comes;
//!   a 2xx that crosses the CANCEL is ACKed and BYEd. After the 2xx: BYE.

use std::time::Instant;

use tandem_media::sdp;
use tandem_sip::auth::DigestClient;
use tandem_sip::dialog::Dialog;
use tandem_sip::rel100;
use tandem_sip::session_timer::{self, SessionTimer};
use tandem_sip::transaction::{Peer, TxKey};
use tandem_sip::wire::{CSeq, HeaderAccess, Method, NameAddr, Request, Response, Uri, Via};
use tracing::{debug, info, warn};

use super::{ALLOW, Call, MediaState, Phase, Purpose, Role, SipOutput, SipSide, TxOwner, map};
use crate::call::causes::status_to_cause;
use crate::call::model::{Cause, LegCommand, LegEvent, LegIdentity, LegRef, Presentation, Release, Setup};
use crate::config::{Privacy, RedirectHeader, Rel100};

/// A number as a SIP URI user part (RFC 3261 §25.1: `#` must be escaped).
pub fn user_part(number: &str) -> String {
    let mut s = String::with_capacity(number.len());
    for c in number.chars() {
        match c {
            '#' => s.push_str("%23"),
            c if c.is_ascii_alphanumeric() || "+*-.!~_'()&=$,;?/".contains(c) => s.push(c),
            _ => {}
        }
    }
    s
}

const ANONYMOUS: &str = "\"Anonymous\" <sip:anonymous@anonymous.invalid>";

impl SipSide {
    fn refuse(&mut self, leg: LegRef, cause: Cause, wire: String) {
        info!(call = %leg.call, cause = cause.0, %wire, "SIP originate refused");
        self.out.push_back(SipOutput::Leg(leg, LegEvent::Released(Release { cause, wire: Some(wire) })));
    }

    pub(crate) fn uac_originate(&mut self, leg: LegRef, trunk: &str, uri: Option<&str>, setup: &Setup, now: Instant) {
        let Some(ti) = self.trunks.iter().position(|t| t.name() == trunk) else {
            return self.refuse(leg, Cause::NO_ROUTE_DESTINATION, format!("no trunk {trunk}"));
        };
        if !self.trunks[ti].is_up() {
            return self.refuse(leg, Cause::NETWORK_OUT_OF_ORDER, format!("trunk {trunk} is down"));
        }
        let t = &mut self.trunks[ti];
        if t.cfg.max_calls.as_ref().is_some_and(|m| t.active_calls >= *m.get_ref() as usize) {
            return self.refuse(leg, Cause::NO_CIRCUIT, format!("trunk {trunk}: max_calls"));
        }
        if let Some(b) = &mut t.bucket
            && !b.take(now)
        {
            return self.refuse(leg, Cause::SWITCH_CONGESTION, format!("trunk {trunk}: max_cps"));
        }
        let calling = setup.calling.clone().unwrap_or_default();
        let ruri_text = match uri {
            Some(tpl) => tpl.replace("{called}", &user_part(&setup.called)).replace("{calling}", &user_part(&calling.number)),
            None => {
                let port = (t.port != t.transport.default_port()).then_some(t.port);
                Uri::sip(Some(&user_part(&setup.called)), &t.host, port).to_string()
            }
        };
        let Ok(ruri) = Uri::parse(&ruri_text).map_err(|_| ()).and_then(|u| if setup.called.is_empty() && uri.is_none() { Err(()) } else { Ok(u) }) else {
            return self.refuse(leg, Cause::INVALID_NUMBER_FORMAT, format!("no URI from {ruri_text:?}"));
        };
        let (stream, addr) = match self.ports.allocate() {
            Ok(p) => p,
            Err(e) => return self.refuse(leg, Cause::RESOURCE_UNAVAILABLE, format!("no RTP port: {e}")),
        };
        let lm = self.local_media(ti, addr);
        let offer = sdp::build_offer(&lm).to_string();
        let call_id = self.ep.ids().call_id(&self.host);
        let tag = self.ep.ids().tag();
        let branch = self.ep.ids().branch();
        let t = &self.trunks[ti];
        let dest = Peer { transport: t.transport, addr: t.next_hop().expect("is_up implies an address") };
        let mut via = Via::new(t.transport, &self.host, Some(self.port_for(t.transport)), &branch);
        via.params.set("rport", None);
        let mut req = Request::new(Method::Invite, ruri.clone());
        req.headers.push("Via", via.to_string());
        req.headers.push("Max-Forwards", "70");
        if let Some((p, _)) = &t.proxy {
            req.headers.push("Route", NameAddr::new(p.clone()).to_string());
        }
        // Calling party and privacy.
        let restricted = calling.presentation == Presentation::Restricted;
        // A provider we register with knows us by its own domain; peers by our address.
        let from_host = if t.cfg.kind == crate::config::TrunkKind::Register { t.host.clone() } else { self.host.clone() };
        let our_uri = |num: &str| Uri::sip(Some(&user_part(num)), &from_host, None);
        let from_named = || {
            let mut a =
                if calling.number.is_empty() { NameAddr::new(Uri::sip(Some("tandem"), &from_host, None)) } else { NameAddr::new(our_uri(&calling.number)) };
            a.display = calling.name.clone();
            a
        };
        let (from, pai, privacy) = match t.cfg.privacy {
            Privacy::Rfc3325 => {
                let pai = (!calling.number.is_empty()).then(|| {
                    let mut a = NameAddr::new(our_uri(&calling.number));
                    a.display = calling.name.clone();
                    a.to_string()
                });
                if restricted { (ANONYMOUS.to_owned(), pai, Some("id")) } else { (from_named().to_string(), pai, None) }
            }
            Privacy::AnonymousFrom => (if restricted { ANONYMOUS.to_owned() } else { from_named().to_string() }, None, None),
            Privacy::Ignore => (from_named().to_string(), None, None),
        };
        req.headers.push("From", format!("{from};tag={tag}"));
        req.headers.push("To", NameAddr::new(ruri.clone()).to_string());
        req.headers.push("Call-ID", call_id.clone());
        req.headers.push("CSeq", "1 INVITE");
        req.headers.push("Contact", self.contact(t.transport).to_string());
        if let Some(p) = pai {
            req.headers.push("P-Asserted-Identity", p);
        }
        if let Some(p) = privacy {
            req.headers.push("Privacy", p);
        }
        if let Some(r) = &setup.redirect {
            let how = t.cfg.redirect_header;
            if matches!(how, RedirectHeader::Diversion | RedirectHeader::Both) {
                let mut a = NameAddr::new(our_uri(&r.from.number));
                a.display = r.from.name.clone();
                a.params.set("reason", Some(map::diversion_token(r.reason)));
                a.params.set("counter", Some(&r.count.max(1).to_string()));
                req.headers.push("Diversion", a.to_string());
            }
            if matches!(how, RedirectHeader::HistoryInfo | RedirectHeader::Both) {
                // RFC 7044: the redirecting party at index 1, the target it
                // was retargeted to at 1.1 with the RFC 4458 cause.
                let mut from = NameAddr::new(our_uri(&r.from.number));
                from.display = r.from.name.clone();
                from.params.set("index", Some("1"));
                let mut target_uri = ruri.clone();
                target_uri.params.set("cause", Some(&map::history_cause(r.reason).to_string()));
                let mut target = NameAddr::new(target_uri);
                target.params.set("index", Some("1.1"));
                req.headers.push("History-Info", format!("{from}, {target}"));
            }
        }
        req.headers.push("Allow", ALLOW);
        req.headers.push("Supported", if t.cfg.rel100 == Rel100::Off { "timer" } else { "100rel, timer" });
        if t.cfg.rel100 == Rel100::Required {
            req.headers.push("Require", rel100::TAG);
        }
        if let Some(st) = t.cfg.session_timer() {
            let cfg = session_timer::Config { session_expires: st.as_secs() as u32, min_se: session_timer::MIN_SE_FLOOR };
            session_timer::add_request_headers(&cfg, &mut req);
        }
        req.headers.push("User-Agent", self.user_agent.clone());
        let req = req.with_body("application/sdp", offer.clone().into_bytes());
        let id = self.new_call_id();
        let call = Call {
            role: Role::Outbound,
            leg: Some(leg),
            trunk: ti,
            call_id: call_id.clone(),
            peer: dest,
            invite: req.clone(),
            invite_tx: None,
            dialog: None,
            local_tag: tag,
            phase: Phase::Setup,
            media: Some(MediaState { stream, local: lm, negotiated: None, sdp: offer }),
            held: Vec::new(),
            rel: None,
            rel_required: false,
            answer_queued: None,
            sdp_reliable: false,
            offer_pending: false,
            st_decision: session_timer::UasDecision::None,
            timer: None,
            refresh_sent: false,
            provisional_sent: false,
            rel_rx: Default::default(),
            digest: None,
            cancel: None,
            cancel_sent: false,
            proceeding_sent: false,
            retried_422: false,
            peer_allows_update: false,
            referral: None,
            hold_in_flight: false,
            hold_next: None,
            hold_glare: Default::default(),
        };
        self.calls.insert(id, call);
        self.by_leg.insert(leg, id);
        self.index_call_id(&call_id, id);
        self.trunks[ti].active_calls += 1;
        info!(call = %leg.call, sip_call_id = %call_id, trunk, called = %setup.called, "outbound SIP call");
        self.emit(id, LegEvent::Identity(LegIdentity { interface: trunk.to_owned(), sip_call_id: Some(call_id), ..Default::default() }));
        self.send_invite(id, req, now);
    }

    fn send_invite(&mut self, id: u64, req: Request, now: Instant) {
        let dest = self.calls[&id].peer;
        match self.ep.send_request(req.clone(), dest, now) {
            Ok(k) => {
                self.txs.insert(k, TxOwner::Invite(id));
                let c = self.calls.get_mut(&id).expect("caller checked");
                c.invite = req;
                c.invite_tx = Some(k);
            }
            Err(e) => {
                let c = &self.calls[&id];
                warn!(call = %c.label(), sip_call_id = %c.call_id, error = %e, "could not send INVITE");
                self.finish(id, Release { cause: Cause::TEMPORARY_FAILURE, wire: Some(format!("INVITE not sent: {e}")) });
            }
        }
    }

    /// The INVITE again with the next CSeq and a new branch (after 401/407/422).
    fn reinvite_setup(&mut self, id: u64) -> Request {
        let branch = self.ep.ids().branch();
        let c = &self.calls[&id];
        let mut req = c.invite.clone();
        let seq = req.cseq().map(|s| s.seq).unwrap_or(1) + 1;
        req.headers.set("CSeq", CSeq { seq, method: Method::Invite }.to_string());
        let mut via = Via::new(c.peer.transport, &self.host, Some(self.port_for(c.peer.transport)), &branch);
        via.params.set("rport", None);
        req.headers.set("Via", via.to_string());
        req
    }

    /// Call control's command for an outbound leg.
    pub(crate) fn uac_command(&mut self, id: u64, cmd: LegCommand, now: Instant) {
        match cmd {
            LegCommand::Release(r) => self.release_leg(id, r.cause, now),
            LegCommand::Dtmf { digit, duration_ms } => self.send_dtmf_info(id, digit, duration_ms, now),
            LegCommand::Hold(on) => self.send_hold(id, on, now),
            LegCommand::Transfer { to, await_result } => self.send_refer(id, &to, await_result, now),
            _ => {}
        }
    }

    /// Release before the final response: CANCEL now, or once a provisional came.
    pub(crate) fn uac_cancel(&mut self, id: u64, cause: Cause, now: Instant) {
        let Some(c) = self.calls.get_mut(&id) else { return };
        if c.cancel.is_none() {
            c.cancel = Some(cause);
        }
        if c.provisional_sent && !c.cancel_sent {
            self.send_cancel(id, now);
        }
    }

    fn send_cancel(&mut self, id: u64, now: Instant) {
        let Some(c) = self.calls.get_mut(&id) else { return };
        c.cancel_sent = true;
        let inv = &c.invite;
        let mut cancel = Request::new(Method::Cancel, inv.uri.clone());
        if let Some(v) = inv.header("Via") {
            cancel.headers.push("Via", v);
        }
        for name in ["Route", "From", "To", "Call-ID"] {
            for v in inv.header_lines(name) {
                cancel.headers.push(name, v);
            }
        }
        let seq = inv.cseq().map(|s| s.seq).unwrap_or(1);
        cancel.headers.push("CSeq", CSeq { seq, method: Method::Cancel }.to_string());
        cancel.headers.push("Max-Forwards", "70");
        if let Some(cause) = c.cancel {
            cancel.headers.push("Reason", map::reason_header(cause));
        }
        let dest = c.peer;
        debug!(call = %c.label(), sip_call_id = %c.call_id, "CANCEL");
        match self.ep.send_request(cancel, dest, now) {
            Ok(k) => {
                self.txs.insert(k, TxOwner::InDialog(id, Purpose::Cancel));
            }
            Err(e) => warn!(error = %e, "could not send CANCEL"),
        }
    }

    /// A response to our INVITE.
    pub(crate) fn uac_invite_response(&mut self, id: u64, key: TxKey, resp: Response, now: Instant) {
        let Some(c) = self.calls.get_mut(&id) else {
            if (200..300).contains(&resp.status) {
                debug!("2xx for a call that is gone");
            }
            return;
        };
        if c.invite_tx != Some(key) {
            return; // a response to an INVITE we already retried with credentials
        }
        let status = resp.status;
        if status < 200 {
            c.provisional_sent = true;
            if c.cancel.is_some() {
                if !c.cancel_sent {
                    self.send_cancel(id, now);
                }
                return;
            }
            if status == 100 {
                if !c.proceeding_sent {
                    c.proceeding_sent = true;
                    self.emit(id, LegEvent::Proceeding);
                }
                return;
            }
            let transport = c.peer.transport;
            let contact = self.contact(transport);
            let c = self.calls.get_mut(&id).expect("checked");
            if c.dialog.is_none() && resp.to_addr().is_some_and(|t| t.tag().is_some()) {
                c.dialog = Dialog::from_uac(&c.invite, &resp, Some(contact)).ok();
            }
            if rel100::lists_100rel(&resp, "Require") && resp.header("RSeq").is_some() {
                match c.rel_rx.on_provisional(&resp) {
                    Some(rack) => {
                        if let Some(d) = c.dialog.as_mut() {
                            let prack = rel100::build_prack(d, &rack);
                            self.send_in_dialog(id, prack, Purpose::Prack, now);
                        }
                    }
                    None => return, // a retransmission, or out of order
                }
            }
            let mut early_media = false;
            if !resp.body.is_empty() {
                let c = &self.calls[&id];
                match c.media.as_ref().map(|m| sdp::parse(&resp.body).and_then(|a| sdp::parse_answer(&a, &m.local))) {
                    Some(Ok(n)) => {
                        self.set_negotiated(id, n);
                        early_media = true;
                    }
                    Some(Err(e)) => debug!(call = %c.label(), sip_call_id = %c.call_id, error = %e, "unusable SDP in a provisional"),
                    None => {}
                }
            }
            self.calls.get_mut(&id).expect("checked").proceeding_sent = true;
            let ev = match status {
                180..=182 => LegEvent::Alerting { inband: early_media },
                _ => LegEvent::Progress { inband: early_media },
            };
            self.emit(id, ev);
            return;
        }
        if status < 300 {
            let transport = c.peer.transport;
            let contact = self.contact(transport);
            let c = self.calls.get_mut(&id).expect("checked");
            match c.dialog.as_mut() {
                Some(d) if d.matches_response(&resp) => d.confirm(&resp),
                Some(_) => debug!(call = %c.label(), sip_call_id = %c.call_id, "2xx from another fork; keeping the first dialog"),
                None => c.dialog = Dialog::from_uac(&c.invite, &resp, Some(contact)).ok(),
            }
            let seq = resp.cseq().map(|s| s.seq).unwrap_or(1);
            if let Some(ack) = c.dialog.as_ref().map(|d| d.ack_for_2xx(seq)) {
                let dest = self.dialog_dest(id);
                self.ep.send_stateless(ack, dest);
            }
            let c = self.calls.get_mut(&id).expect("checked");
            if c.phase == Phase::Answered {
                return; // a retransmitted 2xx, ACKed again
            }
            c.phase = Phase::Answered;
            if let Some(cause) = c.cancel {
                // The 2xx crossed our CANCEL: ACK (done) and BYE.
                self.hang_up(id, cause, "2xx after CANCEL", now);
                return;
            }
            c.peer_allows_update = resp.option_tags("Allow").iter().any(|m| m.eq_ignore_ascii_case("UPDATE"));
            c.timer = SessionTimer::from_2xx(&resp, now);
            if !resp.body.is_empty() {
                let n = c.media.as_ref().map(|m| sdp::parse(&resp.body).and_then(|a| sdp::parse_answer(&a, &m.local)));
                match n {
                    Some(Ok(n)) => self.set_negotiated(id, n),
                    Some(Err(e)) => {
                        warn!(call = %self.calls[&id].label(), sip_call_id = %self.calls[&id].call_id, error = %e, "unusable SDP answer in the 2xx");
                        self.hang_up(id, Cause::BEARER_NOT_IMPLEMENTED, "SDP answer refused", now);
                        return;
                    }
                    None => {}
                }
            }
            let connected = map::connected_party(&resp);
            self.emit(id, LegEvent::Answered { connected });
            return;
        }
        // Final failure.
        if matches!(status, 401 | 407) && c.cancel.is_none() {
            let t = &self.trunks[c.trunk].cfg;
            if let (Some(u), Some(p)) = (&t.username, &t.password) {
                let digest = c.digest.get_or_insert_with(|| DigestClient::new(u.get_ref(), p.get_ref()));
                let _ = digest;
                let mut req = self.reinvite_setup(id);
                let cnonce = self.ep.ids().cnonce();
                let c = self.calls.get_mut(&id).expect("checked");
                match c.digest.as_mut().expect("set above").answer(&resp, &mut req, &cnonce) {
                    Ok(()) => {
                        debug!(call = %c.label(), sip_call_id = %c.call_id, status, "INVITE challenged; answering");
                        return self.send_invite(id, req, now);
                    }
                    Err(e) => info!(call = %c.label(), sip_call_id = %c.call_id, error = %e, "INVITE authentication failed"),
                }
            }
        }
        let c = self.calls.get_mut(&id).expect("checked");
        if status == 422 && !c.retried_422 && c.cancel.is_none() {
            c.retried_422 = true;
            let st = self.trunks[c.trunk].cfg.session_timer().map(|d| d.as_secs() as u32).unwrap_or(session_timer::DEFAULT_SESSION_EXPIRES);
            let mut cfg = session_timer::Config { session_expires: st, min_se: session_timer::MIN_SE_FLOOR };
            if session_timer::uac_on_422(&mut cfg, &resp).is_some() {
                let mut req = self.reinvite_setup(id);
                session_timer::add_request_headers(&cfg, &mut req);
                return self.send_invite(id, req, now);
            }
        }
        let c = &self.calls[&id];
        let cause = match c.cancel {
            Some(cause) if status == 487 => cause,
            _ => map::reason_cause(&resp).unwrap_or_else(|| status_to_cause(status, Some(&self.trunks[c.trunk].overrides))),
        };
        if (300..400).contains(&status)
            && c.cancel.is_none()
            && let Some(to) = map::redirect_target(&resp, self.trunks[c.trunk].cfg.e164.as_ref())
        {
            let reason = map::redirect_reason(&resp);
            info!(call = %c.label(), sip_call_id = %c.call_id, status, %to, "INVITE redirected");
            self.emit(id, LegEvent::Redirected { to, reason });
        }
        self.finish(id, Release { cause, wire: Some(format!("{status} {}", resp.reason)) });
    }

    /// Timer B (no final response to our INVITE; RFC 3398 §8.2.6.1 maps
    /// the implied 408 to 102), or a transport error (the peer cannot be
    /// reached: 38, network out of order, so call control fails over).
    pub(crate) fn uac_invite_timeout(&mut self, id: u64, transport_error: bool) {
        let Some(c) = self.calls.get(&id) else { return };
        if c.phase != Phase::Setup {
            return;
        }
        let (cause, wire) = match (c.cancel, transport_error) {
            (Some(cause), _) => (cause, "no final response after CANCEL"),
            (None, true) => (Cause::NETWORK_OUT_OF_ORDER, "transport error"),
            (None, false) => (Cause::RECOVERY_ON_TIMER_EXPIRY, "408 (no response)"),
        };
        self.finish(id, Release { cause, wire: Some(wire.into()) });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_become_uri_user_parts() {
        assert_eq!(user_part("+12125551234"), "+12125551234");
        assert_eq!(user_part("*67#"), "*67%23");
        assert_eq!(user_part("55 51"), "5551");
    }
}
