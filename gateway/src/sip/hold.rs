//! Hold, resume and blind transfer of a SIP leg, asked for by the other
//! leg (an FXS phone's hook flash): call control's [`LegCommand::Hold`](crate::call::model::LegCommand::Hold)
//! and [`LegCommand::Transfer`](crate::call::model::LegCommand::Transfer).
//!
//! * **Hold** (RFC 3264 §8.4, RFC 6337 §5.3): a re-INVITE whose offer says
//!   `a=sendonly`; the answer (`a=recvonly`) is applied as any re-INVITE's.
//!   Call control parks the media stream when the TDM side holds: the pump
//!   detaches it from the channel (the phone hears recall dial tone, or
//!   talks to the other call under call waiting) and keeps its RTP session:
//!   its ports, SSRC, sequence and timestamps, and RTCP, which goes on while
//!   held; no RTP is sent meanwhile. **Resume** offers the same port again
//!   (RFC 3264 §8: the `o=` version one higher) with `a=sendrecv`, and the
//!   leg reports the stream, sending and receiving, as its media at once
//!   (the remote address is the one already negotiated), so call control
//!   attaches it to the channel again without waiting for the answer: the
//!   far end sees the same SSRC, the sequence continuing, the timestamp
//!   advanced by the time held, and the marker bit. Only when the stream is
//!   gone does the resume take a fresh RTP port pair from
//!   [`super::MediaPorts`]. (A call-waiting alert needs no re-INVITE at
//!   all: call control parks the stream for the tone and caller ID and
//!   attaches it again; the far end sees a pause in the RTP.)
//! * **Glare** (RFC 3261 §14.1): one hold or resume re-INVITE at a time; one
//!   asked for meanwhile waits for the answer. A re-INVITE refused with
//!   491 Request Pending (the far end sent its own at the same time) goes
//!   again after [`glare_retry_delay`]: 2.1–4 s when we own the Call-ID
//!   (we sent the initial INVITE), else 0–2 s, in 10 ms steps, drawn from
//!   the SIP side's random source; what goes is the latest state asked
//!   for (hold or resume). After [`GLARE_RETRIES`] retries refused too,
//!   the gateway gives up and logs it (the call stays up). The other way
//!   round, a re-INVITE (or an UPDATE with an offer) from the far end
//!   while an INVITE of ours is pending in the dialog gets 491
//!   (RFC 3261 §14.2, RFC 3311 §5.2).
//! * **Blind transfer** (RFC 3515): REFER in the dialog with
//!   `Refer-To: <sip:NUMBER@TRUNK-HOST>` and `Referred-By` (RFC 3892) us. A
//!   final non-2xx ends the leg (BYE). On the 202 the leg ends at once
//!   when the transfer does not await its result; otherwise it waits for a
//!   NOTIFY (`Event: refer`, `message/sipfrag`, RFC 3515 §2.4.5) with a
//!   final status, or a terminated subscription, or [`REFER_RESULT_WAIT`],
//!   and then sends BYE. The leg's `Released` carries what happened.

use std::time::{Duration, Instant};

use tandem_media::codec::Direction as SdpDirection;
use tandem_media::sdp;
use tandem_sip::transaction::TxKey;
use tandem_sip::wire::{HeaderAccess, Method, Request, Response, Uri};
use tracing::{debug, info, warn};

use super::{Phase, Purpose, Role, SipSide};
use crate::call::model::{Cause, LegEvent, MediaEndpoint};

/// How long a transfer waits for the NOTIFY with its outcome before the
/// leg is ended anyway (64 × T1 at the default T1, RFC 3261 Timer F's span).
pub const REFER_RESULT_WAIT: Duration = Duration::from_secs(32);

/// How many times a hold or resume re-INVITE refused with 491 Request
/// Pending is sent again before the gateway gives up (RFC 3261 §14.1
/// leaves the count to the UAC).
pub const GLARE_RETRIES: u8 = 3;

/// How long to wait before sending again a re-INVITE that got 491 Request
/// Pending (RFC 3261 §14.1): when we own the dialog's Call-ID (we sent the
/// initial INVITE) a value between 2.1 and 4 s, else between 0 and 2 s, in
/// units of 10 ms, chosen by `random` (any value; it is reduced to the range).
pub fn glare_retry_delay(owns_call_id: bool, random: u64) -> Duration {
    // RFC 3261 §14.1: owner 2.1–4 s, else 0–2 s, in units of 10 ms.
    let (lo, hi) = if owns_call_id { (210, 400) } else { (0, 200) };
    Duration::from_millis(10 * (lo + random % (hi - lo + 1)))
}

/// A call's hold and resume re-INVITEs refused with 491 (glare with the
/// far end's own re-INVITE), and when the latest wanted state goes again.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Glare {
    /// What the re-INVITE in flight asks for (hold `true`, resume `false`).
    pub sent: bool,
    /// 491s in a row so far.
    pub refusals: u8,
    /// Send the latest wanted state again at this time.
    pub retry_at: Option<Instant>,
}

/// A transfer in progress on a call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Referral {
    /// End the leg only on the outcome (NOTIFY), not on the 202.
    pub await_result: bool,
    /// The REFER was accepted.
    pub accepted: bool,
    /// Give up waiting for the outcome at this time.
    pub deadline: Instant,
}

impl SipSide {
    /// Puts the far end on hold (`true`) or takes it off (`false`) by re-INVITE.
    pub(crate) fn send_hold(&mut self, id: u64, on: bool, now: Instant) {
        let Some(c) = self.calls.get(&id) else { return };
        if c.phase != Phase::Answered || c.dialog.is_none() || c.media.is_none() {
            debug!(call = %c.label(), on, "hold: the call is not up");
            return;
        }
        if c.hold_in_flight || c.hold_glare.retry_at.is_some() {
            // One re-INVITE at a time (RFC 3261 §14.1): this one goes when the last is answered,
            // or in place of the one refused with 491 when its retry is due.
            debug!(call = %c.label(), on, "hold: queued behind the re-INVITE in progress");
            if let Some(c) = self.calls.get_mut(&id) {
                c.hold_next = Some(on);
            }
            return;
        }
        let fresh = if on || self.ports.is_alive(c.media.as_ref().map_or(0, |m| m.stream)) {
            None
        } else {
            match self.ports.allocate() {
                Ok(p) => Some(p),
                Err(e) => {
                    warn!(call = %c.label(), error = %e, "no RTP port to resume the call on");
                    return;
                }
            }
        };
        let contact = self.contact(c.peer.transport).to_string();
        let ua = self.user_agent.clone();
        let Some(c) = self.calls.get_mut(&id) else { return };
        let Some(m) = c.media.as_mut() else { return };
        if let Some((stream, addr)) = fresh {
            m.stream = stream;
            m.local.addr = addr;
        }
        m.local.session_version += 1;
        m.local.direction = if on { SdpDirection::SendOnly } else { SdpDirection::SendRecv };
        let offer = sdp::build_offer(&m.local).to_string();
        let label = c.label();
        let call_id = c.call_id.clone();
        let Some(d) = c.dialog.as_mut() else { return };
        let mut req = d.new_request(Method::Invite);
        req.headers.push("Contact", contact);
        req.headers.push("User-Agent", ua);
        let req = req.with_body("application/sdp", offer.into_bytes());
        info!(call = %label, sip_call_id = %call_id, on, "hold re-INVITE");
        c.hold_in_flight = true;
        c.hold_glare.sent = on;
        self.send_in_dialog(id, req, Purpose::Hold, now);
        if !on {
            // The stream (kept, or fresh), toward the address already negotiated, sending and receiving.
            if let Some(n) = self.calls.get_mut(&id).and_then(|c| c.media.as_mut()).and_then(|m| m.negotiated.as_mut()) {
                n.direction = SdpDirection::SendRecv;
            }
            if let Some(p) = self.rtp_params(id) {
                self.emit(id, LegEvent::Media(MediaEndpoint::Rtp(p)));
            }
        }
    }

    /// Our hold re-INVITE got its final response `status` (or none came:
    /// 408): send the hold or resume asked for meanwhile; after a 491
    /// (glare), send the latest wanted state again after
    /// [`glare_retry_delay`], at most [`GLARE_RETRIES`] times.
    pub(crate) fn hold_answered(&mut self, id: u64, status: u16, now: Instant) {
        let Some(c) = self.calls.get_mut(&id) else { return };
        c.hold_in_flight = false;
        if status == 491 && c.phase == Phase::Answered {
            if c.hold_glare.refusals < GLARE_RETRIES {
                c.hold_glare.refusals += 1;
                let delay = glare_retry_delay(c.role == Role::Outbound, self.ep.ids().next_u64());
                c.hold_glare.retry_at = Some(now + delay);
                let on = c.hold_next.unwrap_or(c.hold_glare.sent);
                info!(call = %c.label(), sip_call_id = %c.call_id, on, retry = c.hold_glare.refusals, delay_ms = delay.as_millis() as u64, "hold re-INVITE met glare (491): sending it again later");
                return;
            }
            let sent = c.hold_glare.sent;
            warn!(call = %c.label(), sip_call_id = %c.call_id, on = sent, tries = GLARE_RETRIES + 1, "hold re-INVITE refused with 491 every time: giving up");
            c.hold_glare = Glare::default();
            // A different state asked for meanwhile is a new request.
            match c.hold_next.take() {
                Some(on) if on != sent => self.send_hold(id, on, now),
                _ => {}
            }
            return;
        }
        c.hold_glare.refusals = 0;
        if let Some(on) = c.hold_next.take() {
            self.send_hold(id, on, now);
        }
    }

    /// Sends again the hold or resume re-INVITEs refused with 491 whose
    /// retry is due: the latest state asked for.
    pub(crate) fn hold_glare_timers(&mut self, now: Instant) {
        let due: Vec<u64> = self.calls.iter().filter(|(_, c)| c.hold_glare.retry_at.is_some_and(|t| t <= now)).map(|(id, _)| *id).collect();
        for id in due {
            let Some(c) = self.calls.get_mut(&id) else { continue };
            c.hold_glare.retry_at = None;
            let on = c.hold_next.take().unwrap_or(c.hold_glare.sent);
            debug!(call = %c.label(), on, "hold re-INVITE: glare retry due");
            self.send_hold(id, on, now);
        }
    }

    /// Whether an INVITE we sent in the dialog awaits its final response
    /// (a hold or resume, or a session refresh by re-INVITE): a re-INVITE
    /// from the far end meanwhile gets 491 (RFC 3261 §14.2), and so does
    /// an UPDATE with an offer (RFC 3311 §5.2).
    pub(crate) fn our_invite_pending(&self, id: u64) -> bool {
        self.calls.get(&id).is_some_and(|c| c.hold_in_flight || (c.refresh_sent && !c.peer_allows_update))
    }

    /// Sends REFER to `to` (a number, on the call's trunk host).
    pub(crate) fn send_refer(&mut self, id: u64, to: &str, await_result: bool, now: Instant) {
        let Some(c) = self.calls.get(&id) else { return };
        if c.phase != Phase::Answered || c.dialog.is_none() {
            debug!(call = %c.label(), "transfer: the call is not up");
            self.hang_up(id, Cause::NORMAL_CLEARING, "transfer of a call not up", now);
            return;
        }
        let user = super::outbound::user_part(to);
        let target = match self.trunks.get(c.trunk) {
            Some(t) => Uri::sip(Some(&user), &t.host, (t.port != t.transport.default_port()).then_some(t.port)),
            None => Uri::sip(Some(&user), &self.host, None),
        };
        let contact = self.contact(c.peer.transport);
        let ua = self.user_agent.clone();
        let Some(c) = self.calls.get_mut(&id) else { return };
        let label = c.label();
        let call_id = c.call_id.clone();
        let Some(d) = c.dialog.as_mut() else { return };
        let mut req = d.new_request(Method::Refer);
        req.headers.push("Refer-To", format!("<{target}>"));
        req.headers.push("Referred-By", contact.to_string());
        req.headers.push("Contact", contact.to_string());
        req.headers.push("User-Agent", ua);
        c.referral = Some(Referral { await_result, accepted: false, deadline: now + REFER_RESULT_WAIT });
        info!(call = %label, sip_call_id = %call_id, refer_to = %target, "REFER (blind transfer)");
        self.send_in_dialog(id, req, Purpose::Refer, now);
    }

    /// The final response to our REFER.
    pub(crate) fn on_refer_response(&mut self, id: u64, resp: &Response, now: Instant) {
        let Some(r) = self.calls.get_mut(&id).and_then(|c| c.referral.as_mut()) else { return };
        if (200..300).contains(&resp.status) {
            r.accepted = true;
            if !r.await_result {
                self.hang_up(id, Cause::NORMAL_CLEARING, "transferred (REFER accepted)", now);
            }
        } else {
            let why = format!("transfer refused: {}", resp.status);
            self.hang_up(id, Cause::NORMAL_CLEARING, &why, now);
        }
    }

    /// A NOTIFY in a dialog: the progress of our REFER.
    pub(crate) fn on_refer_notify(&mut self, id: u64, key: TxKey, req: Request, now: Instant) {
        let refer_event = req.header("Event").is_some_and(|e| e.trim().to_ascii_lowercase().starts_with("refer"));
        let Some(r) = self.calls.get(&id).and_then(|c| c.referral) else {
            self.respond(key, &req, 481, None, &[]);
            return;
        };
        if !refer_event {
            self.respond(key, &req, 489, None, &[]);
            return;
        }
        self.respond(key, &req, 200, None, &[]);
        let status = sipfrag_status(&req.body);
        let terminated = req.header("Subscription-State").is_some_and(|s| s.trim().to_ascii_lowercase().starts_with("terminated"));
        debug!(call = %self.calls[&id].label(), ?status, terminated, "REFER progress");
        let done = status.is_some_and(|s| s >= 200) || terminated;
        if done && r.await_result {
            let why = match status {
                Some(s) if (200..300).contains(&s) => "transferred".to_owned(),
                Some(s) => format!("transfer failed: {s}"),
                None => "transfer subscription ended".to_owned(),
            };
            self.hang_up(id, Cause::NORMAL_CLEARING, &why, now);
        }
    }

    /// Ends transfers whose outcome did not come in time.
    pub(crate) fn referral_timers(&mut self, now: Instant) {
        let late: Vec<u64> = self.calls.iter().filter(|(_, c)| c.referral.is_some_and(|r| r.deadline <= now)).map(|(id, _)| *id).collect();
        for id in late {
            self.hang_up(id, Cause::NORMAL_CLEARING, "no transfer outcome in time", now);
        }
    }
}

/// The status code of a `message/sipfrag` status line (`SIP/2.0 200 OK`).
pub(crate) fn sipfrag_status(body: &[u8]) -> Option<u16> {
    let text = std::str::from_utf8(body).ok()?;
    let line = text.lines().next()?.trim();
    let rest = line.strip_prefix("SIP/2.0 ")?;
    let code: u16 = rest.get(..3)?.parse().ok()?;
    (100..700).contains(&code).then_some(code)
}

#[cfg(test)]
mod tests {
    use super::{glare_retry_delay, sipfrag_status};
    use std::time::Duration;

    /// A small deterministic random source (SplitMix64) for the tests.
    fn splitmix(seed: &mut u64) -> u64 {
        *seed = seed.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = *seed;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    #[test]
    fn the_glare_retry_delay_is_2_1_to_4_s_for_the_call_id_owner_and_0_to_2_s_otherwise_in_10_ms_steps() {
        let ms = |d: Duration| d.as_millis() as u64;
        // The ends of each range are reached.
        assert_eq!(ms(glare_retry_delay(true, 0)), 2100);
        assert_eq!(ms(glare_retry_delay(true, 190)), 4000);
        assert_eq!(ms(glare_retry_delay(true, 191)), 2100, "the range wraps: 191 steps of 10 ms");
        assert_eq!(ms(glare_retry_delay(false, 0)), 0);
        assert_eq!(ms(glare_retry_delay(false, 200)), 2000);
        assert_eq!(ms(glare_retry_delay(false, u64::MAX)), 10 * (u64::MAX % 201));
        // Any random value stays in range, on a 10 ms grid, and the draws spread over the range.
        let mut seed = 1;
        for (owner, lo, hi) in [(true, 2100, 4000), (false, 0, 2000)] {
            let draws: Vec<u64> = (0..5000).map(|_| ms(glare_retry_delay(owner, splitmix(&mut seed)))).collect();
            assert!(
                draws.iter().all(|&d| (lo..=hi).contains(&d) && d % 10 == 0),
                "owner {owner}: {:?}",
                draws.iter().find(|&&d| !(lo..=hi).contains(&d) || d % 10 != 0)
            );
            let distinct: std::collections::BTreeSet<_> = draws.iter().collect();
            assert!(distinct.len() > 150, "owner {owner}: only {} distinct delays", distinct.len());
            assert!(draws.iter().any(|&d| d < lo + 200) && draws.iter().any(|&d| d > hi - 200), "owner {owner}: both ends of the range are drawn");
        }
    }

    #[test]
    fn a_sipfrag_status_line_gives_its_code_and_anything_else_none() {
        assert_eq!(sipfrag_status(b"SIP/2.0 200 OK\r\n"), Some(200));
        assert_eq!(sipfrag_status(b"SIP/2.0 100 Trying"), Some(100));
        assert_eq!(sipfrag_status(b"SIP/2.0 603 Declined\r\nContact: x\r\n"), Some(603));
        assert_eq!(sipfrag_status(b""), None);
        assert_eq!(sipfrag_status(b"HTTP/1.1 200 OK"), None);
        assert_eq!(sipfrag_status(b"SIP/2.0 2"), None);
        assert_eq!(sipfrag_status(b"SIP/2.0 999 Nope"), None);
        assert_eq!(sipfrag_status(&[0xff, 0xfe]), None);
    }
}
