//! The UAS role: an INVITE from a trunk becomes an inbound leg.
//!
//! An out-of-dialog INVITE passes [`super::security`] (source address,
//! digest, `max_calls`, `max_cps`), the option-tag checks (420 for a
//! `Require` we do not support, 421 when the trunk requires 100rel and
//! the caller does not support it, 422 for a Session-Expires below our
//! Min-SE) and SDP negotiation (an RTP port is allocated and the offer
//! answered with the trunk's codec preference; 488 when nothing fits, 400
//! for unparseable SDP). Only then is 100 Trying sent and
//! [`super::SipOutput::Incoming`] emitted; a refused INVITE never reaches
//! call control.
//!
//! Call control's commands then become responses:
//!
//! | command | SIP |
//! |---|---|
//! | `Proceeding` | nothing (100 went out already) |
//! | `Alerting { inband: false }` | 180 without SDP |
//! | `Alerting`/`Progress { inband: true }` | 183 with SDP, reliable (RFC 3262) when the caller supports 100rel and the trunk's `rel100` is not off |
//! | `Answer` | 200 with SDP (held until the PRACK of an outstanding reliable provisional, RFC 3262 §3) |
//! | `Release` before answer | the RFC 3398 status (with the trunk's overrides) and `Reason: Q.850` |
//! | `Release` after answer | BYE with `Reason: Q.850` |
//! | `Dtmf` | INFO `application/dtmf-relay` when the trunk's `dtmf = "info"` |
//!
//! An INVITE without SDP (delayed offer) gets our offer in the reliable
//! 183 or in the 200, and the answer is taken from the PRACK or the ACK.

use std::time::Instant;

use tandem_media::sdp::{self, LocalMedia};
use tandem_sip::auth::Verdict;
use tandem_sip::dialog::{Dialog, DialogState};
use tandem_sip::rel100::{self, RelAction, RelSender};
use tandem_sip::session_timer::{self, UasDecision};
use tandem_sip::transaction::{Peer, TxKey};
use tandem_sip::wire::{HeaderAccess, Method, NameAddr, Request, Transport, Uri};
use tracing::{debug, info, warn};

use super::security::{self, RETRY_AFTER_S};
use super::{Call, MediaState, Phase, Purpose, Role, SipOutput, SipSide, map};
use crate::call::causes::cause_to_status;
use crate::call::model::{Cause, LegCommand, LegEvent, LegIdentity, Party, Release};
use crate::config::{DtmfMode, Rel100};

/// Where responses to a request go (RFC 3261 §18.2.2, RFC 3581 §4).
fn response_peer(req: &Request, source: Peer) -> Peer {
    if source.transport.is_reliable() {
        return source;
    }
    let port = match req.top_via() {
        Some(v) if v.rport().is_some() => source.addr.port(),
        Some(v) => v.port.unwrap_or(Transport::Udp.default_port()),
        None => source.addr.port(),
    };
    Peer { transport: source.transport, addr: std::net::SocketAddr::new(source.addr.ip(), port) }
}

impl SipSide {
    /// Our media description for a trunk, on the allocated address.
    pub(crate) fn local_media(&mut self, trunk: usize, addr: std::net::SocketAddr) -> LocalMedia {
        let session_id = self.ep.ids().next_u64() >> 1;
        let t = &self.trunks[trunk];
        let mut lm = LocalMedia::new(addr, session_id);
        lm.codecs = t
            .cfg
            .codecs()
            .into_iter()
            .map(|c| match c {
                crate::call::model::Codec::Pcmu => tandem_media::codec::Codec::Pcmu,
                crate::call::model::Codec::Pcma => tandem_media::codec::Codec::Pcma,
            })
            .collect();
        lm.ptime_ms = t.cfg.ptime_ms();
        if t.cfg.dtmf != DtmfMode::Rfc4733 {
            lm.dtmf_payload_type = None;
        }
        lm
    }

    /// An out-of-dialog INVITE.
    pub(crate) fn uas_invite(&mut self, key: TxKey, req: Request, source: Peer, now: Instant) {
        let call_id = req.call_id().unwrap_or("").to_owned();
        let Some(ti) = security::trunk_for_source(self.trunks.iter().map(|t| &t.acl), source.addr) else {
            info!(source = %source.addr, sip_call_id = %call_id, "INVITE from an address no trunk accepts: 403");
            self.respond(key, &req, 403, None, &[]);
            return;
        };
        let trunk_name = self.trunks[ti].name().to_owned();
        let from_tag = req.from_addr().and_then(|f| f.tag().map(str::to_owned));
        let merged = self.by_call_id.get(&call_id).is_some_and(|ids| {
            ids.iter().any(|id| self.calls.get(id).is_some_and(|c| c.role == Role::Inbound && c.dialog.as_ref().map(|d| &d.id.remote_tag) == from_tag.as_ref()))
        });
        if merged {
            // RFC 3261 §8.2.2.2: a merged request (the same INVITE by another path).
            self.respond(key, &req, 482, None, &[]);
            return;
        }
        if let (Some(server), Some(a)) = (&self.trunks[ti].auth_server, &self.trunks[ti].cfg.auth_inbound) {
            let (user, pw) = (a.username.clone(), a.password.clone());
            match server.verify_request(&req, |u| (u == user).then(|| pw.clone()), self.unix(now)) {
                Verdict::Authorized(_) => {}
                Verdict::Challenge(resp, why) => {
                    debug!(trunk = %trunk_name, sip_call_id = %call_id, reason = %why, "INVITE challenged");
                    let mut resp = *resp;
                    let tag = self.ep.ids().tag();
                    if let Some(to) = req.header("To") {
                        resp.headers.set("To", format!("{to};tag={tag}"));
                    }
                    resp.headers.push("Server", self.user_agent.clone());
                    let _ = self.ep.send_response(key, resp, now);
                    return;
                }
            }
        }
        let retry = RETRY_AFTER_S.to_string();
        let t = &mut self.trunks[ti];
        if t.cfg.max_calls.as_ref().is_some_and(|m| t.active_calls >= *m.get_ref() as usize) {
            info!(trunk = %trunk_name, sip_call_id = %call_id, "max_calls reached: 503");
            self.respond(key, &req, 503, None, &[("Retry-After", &retry)]);
            return;
        }
        if let Some(b) = &mut t.bucket
            && !b.take(now)
        {
            info!(trunk = %trunk_name, sip_call_id = %call_id, "max_cps exceeded: 503");
            self.respond(key, &req, 503, None, &[("Retry-After", &retry)]);
            return;
        }
        let rel_cfg = t.cfg.rel100;
        let unsupported: Vec<String> = req
            .option_tags("Require")
            .into_iter()
            .filter(|tag| !(tag.eq_ignore_ascii_case(session_timer::TAG) || tag.eq_ignore_ascii_case(rel100::TAG) && rel_cfg != Rel100::Off))
            .collect();
        if !unsupported.is_empty() {
            self.respond(key, &req, 420, None, &[("Unsupported", &unsupported.join(", "))]);
            return;
        }
        let peer_rel = rel100::lists_100rel(&req, "Supported") || rel100::lists_100rel(&req, "Require");
        let rel_required = rel100::lists_100rel(&req, "Require");
        if rel_cfg == Rel100::Required && !peer_rel {
            self.respond(key, &req, 421, None, &[("Require", rel100::TAG)]);
            return;
        }
        let st_trunk = t.cfg.session_timer();
        let decision = if st_trunk.is_none() && req.header("Session-Expires").is_none() {
            UasDecision::None
        } else {
            let cfg = session_timer::Config { session_expires: st_trunk.map(|d| d.as_secs() as u32).unwrap_or(86_400), min_se: session_timer::MIN_SE_FLOOR };
            session_timer::uas_negotiate(&cfg, &req)
        };
        if let UasDecision::TooSmall { min_se } = decision {
            self.respond(key, &req, 422, None, &[("Min-SE", &min_se.to_string())]);
            return;
        }
        let content_type = req.header("Content-Type").unwrap_or("application/sdp");
        if !req.body.is_empty() && !content_type.split(';').next().unwrap_or("").trim().eq_ignore_ascii_case("application/sdp") {
            self.respond(key, &req, 415, None, &[("Accept", "application/sdp")]);
            return;
        }
        let (stream, addr) = match self.ports.allocate() {
            Ok(p) => p,
            Err(e) => {
                warn!(trunk = %trunk_name, sip_call_id = %call_id, error = %e, "no RTP port: 503");
                self.respond(key, &req, 503, None, &[("Retry-After", &retry)]);
                return;
            }
        };
        let lm = self.local_media(ti, addr);
        let (negotiated, sdp_text) = if req.body.is_empty() {
            (None, sdp::build_offer(&lm).to_string())
        } else {
            match sdp::parse(&req.body).and_then(|o| sdp::answer_offer(&o, &lm)) {
                Ok((answer, n)) => (Some(n), answer.to_string()),
                Err(e) => {
                    self.ports.release(stream);
                    let status = if matches!(e, sdp::SdpError::Parse(_)) { 400 } else { 488 };
                    info!(trunk = %trunk_name, sip_call_id = %call_id, error = %e, status, "INVITE refused for its SDP");
                    self.respond(key, &req, status, None, &[]);
                    return;
                }
            }
        };
        let tag = self.ep.ids().tag();
        let contact = self.contact(source.transport);
        let dialog = match Dialog::from_uas(&req, &tag, Some(contact), false) {
            Ok(d) => d,
            Err(e) => {
                self.ports.release(stream);
                self.respond(key, &req, 400, None, &[]);
                debug!(error = %e, "INVITE without what a dialog needs");
                return;
            }
        };
        self.respond(key, &req, 100, None, &[]);
        let e164 = self.trunks[ti].cfg.e164.clone();
        let contact_user = self.trunks[ti].reg.as_ref().and(self.trunks[ti].cfg.username.as_ref()).map(|u| u.get_ref().clone());
        let setup = map::setup_from_invite(&req, e164.as_ref(), contact_user.as_deref());
        let rel = (peer_rel && rel_cfg != Rel100::Off).then(|| RelSender::new((self.ep.ids().next_u64() as u32 & 0x7fff_ffff).max(1), self.t1));
        let allows_update = req.option_tags("Allow").iter().any(|m| m.eq_ignore_ascii_case("UPDATE"));
        let id = self.new_call_id();
        let call = Call {
            role: Role::Inbound,
            leg: None,
            trunk: ti,
            call_id: call_id.clone(),
            peer: response_peer(&req, source),
            invite: req,
            invite_tx: Some(key),
            dialog: Some(dialog),
            local_tag: tag,
            phase: Phase::Setup,
            media: Some(MediaState { stream, local: lm, negotiated: None, sdp: sdp_text }),
            held: Vec::new(),
            rel,
            rel_required,
            answer_queued: None,
            sdp_reliable: false,
            offer_pending: false,
            st_decision: decision,
            timer: None,
            refresh_sent: false,
            provisional_sent: false,
            rel_rx: Default::default(),
            digest: None,
            cancel: None,
            cancel_sent: false,
            proceeding_sent: false,
            retried_422: false,
            peer_allows_update: allows_update,
            referral: None,
            hold_in_flight: false,
            hold_next: None,
            hold_glare: Default::default(),
        };
        self.calls.insert(id, call);
        self.index_call_id(&call_id, id);
        self.trunks[ti].active_calls += 1;
        info!(trunk = %trunk_name, sip_call_id = %call_id, called = %setup.called, "inbound SIP call");
        let identity = LegIdentity { interface: trunk_name.clone(), sip_call_id: Some(call_id), ..Default::default() };
        self.emit(id, LegEvent::Identity(identity.clone()));
        if let Some(n) = negotiated {
            self.set_negotiated(id, n);
        }
        self.out.push_back(SipOutput::Incoming { key: super::IncomingKey(id), trunk: trunk_name, setup, identity });
    }

    /// Call control's command for an inbound leg.
    pub(crate) fn uas_command(&mut self, id: u64, cmd: LegCommand, now: Instant) {
        match cmd {
            LegCommand::Proceeding | LegCommand::SetupAck | LegCommand::Digits { .. } | LegCommand::Media(_) => {}
            LegCommand::Progress { inband: false } | LegCommand::Flash => {}
            LegCommand::Hold(on) => self.send_hold(id, on, now),
            LegCommand::Transfer { to, await_result } => self.send_refer(id, &to, await_result, now),
            LegCommand::Alerting { inband: false } => self.uas_provisional(id, 180, false, now),
            LegCommand::Alerting { inband: true } | LegCommand::Progress { inband: true } => self.uas_provisional(id, 183, true, now),
            LegCommand::Answer { connected } => self.uas_answer(id, connected, now),
            LegCommand::Release(r) => self.release_leg(id, r.cause, now),
            LegCommand::Dtmf { digit, duration_ms } => self.send_dtmf_info(id, digit, duration_ms, now),
        }
    }

    fn uas_provisional(&mut self, id: u64, status: u16, with_sdp: bool, now: Instant) {
        let Some(c) = self.calls.get(&id) else { return };
        if c.phase != Phase::Setup {
            return;
        }
        let reliable = c.rel.is_some() && (with_sdp || c.rel_required);
        if reliable && c.rel.as_ref().is_some_and(|r| r.is_outstanding()) {
            debug!(call = %c.label(), sip_call_id = %c.call_id, status, "a reliable provisional is still unacknowledged; not sending another");
            return;
        }
        let delayed = c.media.as_ref().is_some_and(|m| m.negotiated.is_none());
        // An offer may only go in a reliable provisional (RFC 3262 §5).
        let with_sdp = with_sdp && (reliable || !delayed) && !c.sdp_reliable;
        let (invite, tag, transport) = (c.invite.clone(), c.local_tag.clone(), c.peer.transport);
        let mut r = self.base_response(&invite, status, Some(&tag));
        r.headers.push("Contact", self.contact(transport).to_string());
        let c = self.calls.get_mut(&id).expect("checked above");
        if with_sdp && let Some(m) = &c.media {
            r = r.with_body("application/sdp", m.sdp.clone().into_bytes());
        }
        if reliable {
            let cseq = invite.cseq().map(|s| s.seq).unwrap_or(0);
            c.rel.as_mut().expect("reliable implies rel").send(&mut r, cseq, now);
            if with_sdp {
                c.sdp_reliable = true;
                c.offer_pending = delayed;
            }
        }
        c.provisional_sent = true;
        if let Some(k) = c.invite_tx {
            let _ = self.ep.send_response(k, r, now);
        }
    }

    fn uas_answer(&mut self, id: u64, connected: Option<Party>, now: Instant) {
        let Some(c) = self.calls.get_mut(&id) else { return };
        if c.phase != Phase::Setup {
            return;
        }
        if c.rel.as_ref().is_some_and(|r| r.is_outstanding()) {
            // RFC 3262 §3: no 2xx before the PRACK of the last reliable provisional.
            c.answer_queued = Some(connected);
            return;
        }
        let (invite, tag, transport) = (c.invite.clone(), c.local_tag.clone(), c.peer.transport);
        let privacy = self.trunks[c.trunk].cfg.privacy;
        let mut r = self.base_response(&invite, 200, Some(&tag));
        r.headers.push("Contact", self.contact(transport).to_string());
        let rel = self.calls[&id].rel.is_some();
        r.headers.push("Supported", if rel { "100rel, timer" } else { "timer" });
        if let Some(p) = connected.filter(|p| !p.number.is_empty())
            && privacy == crate::config::Privacy::Rfc3325
        {
            let mut a = NameAddr::new(Uri::sip(Some(&super::outbound::user_part(&p.number)), &self.host, None));
            a.display = p.name.clone();
            r.headers.push("P-Asserted-Identity", a.to_string());
            if p.presentation == crate::call::model::Presentation::Restricted {
                r.headers.push("Privacy", "id");
            }
        }
        let c = self.calls.get_mut(&id).expect("checked above");
        c.st_decision.apply(&mut r);
        if !c.sdp_reliable
            && let Some(m) = &c.media
        {
            if m.negotiated.is_none() {
                c.offer_pending = true;
            }
            r = r.with_body("application/sdp", m.sdp.clone().into_bytes());
        }
        c.timer = tandem_sip::session_timer::SessionTimer::from_decision(&c.st_decision, now);
        c.phase = Phase::Answered;
        if let Some(d) = c.dialog.as_mut() {
            d.state = DialogState::Confirmed;
        }
        if let Some(k) = c.invite_tx {
            let _ = self.ep.send_response(k, r, now);
        }
    }

    /// A PRACK for our reliable provisional.
    pub(crate) fn uas_prack(&mut self, id: u64, key: TxKey, req: Request, now: Instant) {
        let ok = self.calls.get_mut(&id).and_then(|c| c.rel.as_mut()).is_some_and(|r| r.handle_prack(&req));
        if !ok {
            self.respond(key, &req, 481, None, &[]);
            return;
        }
        self.respond(key, &req, 200, None, &[]);
        let c = self.calls.get_mut(&id).expect("checked above");
        if c.offer_pending && !req.body.is_empty() {
            c.offer_pending = false;
            let n = c.media.as_ref().and_then(|m| sdp::parse(&req.body).and_then(|a| sdp::parse_answer(&a, &m.local)).ok());
            if let Some(n) = n {
                self.set_negotiated(id, n);
            }
        }
        if let Some(connected) = self.calls.get_mut(&id).and_then(|c| c.answer_queued.take()) {
            self.uas_answer(id, connected, now);
        }
    }

    /// Release by call control, either role.
    pub(crate) fn release_leg(&mut self, id: u64, cause: Cause, now: Instant) {
        let Some(c) = self.calls.get_mut(&id) else { return };
        match (c.role, c.phase) {
            (super::Role::Inbound, Phase::Setup) => {
                if let Some(r) = c.rel.as_mut() {
                    r.cancel();
                }
                let status = cause_to_status(cause, Some(&self.trunks[c.trunk].overrides));
                let (invite, tag, k) = (c.invite.clone(), c.local_tag.clone(), c.invite_tx);
                let mut r = self.base_response(&invite, status, Some(&tag));
                r.headers.push("Reason", map::reason_header(cause));
                let wire = format!("{status} {}", r.reason);
                if let Some(k) = k {
                    let _ = self.ep.send_response(k, r, now);
                }
                self.finish(id, Release { cause, wire: Some(wire) });
            }
            (super::Role::Outbound, Phase::Setup) => self.uac_cancel(id, cause, now),
            (_, Phase::Answered) => self.hang_up(id, cause, "released", now),
            (_, Phase::Gone) => {}
        }
    }

    /// DTMF as SIP INFO, when the trunk's `dtmf = "info"`.
    pub(crate) fn send_dtmf_info(&mut self, id: u64, digit: char, duration_ms: u16, now: Instant) {
        let Some(c) = self.calls.get_mut(&id) else { return };
        if self.trunks[c.trunk].cfg.dtmf != DtmfMode::Info || c.phase != Phase::Answered {
            return;
        }
        let Some(d) = c.dialog.as_mut() else { return };
        let info = d.new_request(Method::Info).with_body("application/dtmf-relay", format!("Signal={digit}\r\nDuration={duration_ms}\r\n").into_bytes());
        self.send_in_dialog(id, info, Purpose::Info, now);
    }

    /// Reliable-provisional retransmissions and session timers.
    pub(crate) fn call_timers(&mut self, now: Instant) {
        let ids: Vec<u64> = self.calls.keys().copied().collect();
        for id in ids {
            let Some(c) = self.calls.get_mut(&id) else { continue };
            if let Some(r) = c.rel.as_mut()
                && r.poll_timeout().is_some_and(|t| t <= now)
            {
                match r.handle_timeout(now) {
                    Some(RelAction::Retransmit(bytes)) if !c.peer.transport.is_reliable() => {
                        self.out.push_back(SipOutput::Transmit { transport: super::shell_transport(c.peer.transport), dest: c.peer.addr, bytes });
                    }
                    Some(RelAction::GiveUp) => {
                        // RFC 3262 §3: no PRACK in 64*T1: reject the INVITE with a 5xx.
                        warn!(call = %c.label(), sip_call_id = %c.call_id, "no PRACK for our reliable provisional");
                        c.answer_queued = None;
                        self.release_leg(id, Cause::RECOVERY_ON_TIMER_EXPIRY, now);
                        continue;
                    }
                    Some(RelAction::Retransmit(_)) | None => {}
                }
            }
            let Some(c) = self.calls.get(&id) else { continue };
            let Some(st) = c.timer else { continue };
            if st.expire_at() <= now {
                warn!(call = %c.label(), sip_call_id = %c.call_id, "session expired without refresh");
                self.hang_up(id, Cause::RECOVERY_ON_TIMER_EXPIRY, "session expired", now);
                continue;
            }
            if !c.refresh_sent && st.refresh_at().is_some_and(|t| t <= now) {
                self.send_refresh(id, now);
            }
        }
    }

    /// A session refresh (RFC 4028 §10): UPDATE if the peer allows it, else a re-INVITE with our SDP.
    fn send_refresh(&mut self, id: u64, now: Instant) {
        let Some(c) = self.calls.get_mut(&id) else { return };
        let Some(st) = c.timer else { return };
        c.refresh_sent = true;
        let use_update = c.peer_allows_update;
        let Some(d) = c.dialog.as_mut() else { return };
        let mut req = d.new_request(if use_update { Method::Update } else { Method::Invite });
        req.headers.push("Session-Expires", format!("{};refresher=uac", st.interval));
        req.headers.push("Supported", "timer");
        if !use_update && let Some(m) = c.media.as_mut() {
            m.local.session_version += 1;
            let mut local = m.local.clone();
            if let Some(n) = m.negotiated {
                local.direction = n.direction;
            }
            req = req.with_body("application/sdp", sdp::build_offer(&local).to_string().into_bytes());
        }
        debug!(call = %c.label(), sip_call_id = %c.call_id, method = %req.method, "session refresh");
        self.send_in_dialog(id, req, Purpose::Refresh, now);
    }
}
