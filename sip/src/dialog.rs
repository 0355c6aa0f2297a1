//! RFC 3261 §12 dialogs: identity, CSeq counters, route set and remote
//! target, and building in-dialog requests (BYE, re-INVITE, UPDATE, PRACK,
//! INFO, and the ACK for a 2xx).
//!
//! A [`Dialog`] is plain data plus rules; it sends nothing. Requests it
//! builds go through [`crate::transaction::Endpoint::send_request`] (or
//! `send_stateless` for the ACK) to [`Dialog::next_hop`], which the shell
//! resolves.

use crate::wire::{CSeq, Contact, FromHeader, HeaderAccess, Method, NameAddr, Request, Response, Scheme, Uri};

/// What identifies a dialog (RFC 3261 §12): Call-ID and both tags.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct DialogId {
    /// The Call-ID.
    pub call_id: String,
    /// Our tag.
    pub local_tag: String,
    /// The peer's tag.
    pub remote_tag: String,
}

impl DialogId {
    /// The id of the dialog a received request belongs to (To tag is ours, From tag theirs).
    pub fn of_incoming_request(req: &impl HeaderAccess) -> Option<DialogId> {
        Some(DialogId { call_id: req.call_id()?.to_string(), local_tag: req.to_addr()?.tag()?.to_string(), remote_tag: req.from_addr()?.tag()?.to_string() })
    }

    /// The id of the dialog a received response belongs to (From tag is ours, To tag theirs).
    pub fn of_incoming_response(resp: &impl HeaderAccess) -> Option<DialogId> {
        Some(DialogId { call_id: resp.call_id()?.to_string(), local_tag: resp.from_addr()?.tag()?.to_string(), remote_tag: resp.to_addr()?.tag()?.to_string() })
    }
}

/// Early (after a 1xx with a To tag) or confirmed (after a 2xx).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DialogState {
    /// Created by a provisional response.
    Early,
    /// Created or confirmed by a 2xx.
    Confirmed,
}

/// Why a dialog could not be made or a request was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DialogError {
    /// A header needed to build the dialog is missing or malformed.
    #[error("missing or bad {0}")]
    Missing(&'static str),
    /// A request's CSeq is lower than the last one: answer 500 (§12.2.2).
    #[error("CSeq {got} is lower than the remote sequence {last}")]
    CSeqOutOfOrder {
        /// The CSeq received.
        got: u32,
        /// The highest seen.
        last: u32,
    },
    /// The request does not belong to this dialog.
    #[error("request is not in this dialog")]
    NotInDialog,
}

/// One dialog's state (RFC 3261 §12.1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dialog {
    /// The identity.
    pub id: DialogId,
    /// Early or confirmed.
    pub state: DialogState,
    /// Our address of record with our tag (From of our requests).
    pub local: NameAddr,
    /// The peer's address with its tag (To of our requests).
    pub remote: NameAddr,
    /// The CSeq of our last request in the dialog.
    pub local_cseq: u32,
    /// The highest CSeq received from the peer.
    pub remote_cseq: Option<u32>,
    /// The route set, in the order our requests visit it.
    pub route_set: Vec<NameAddr>,
    /// Where our requests go (the peer's Contact).
    pub remote_target: Uri,
    /// Our Contact, sent in target-refreshing requests.
    pub local_contact: Option<NameAddr>,
    /// Whether the dialog is SIPS.
    pub secure: bool,
    /// The CSeq number of the INVITE that created the dialog (or of the latest re-INVITE).
    pub invite_cseq: u32,
}

fn contact_uri(m: &impl HeaderAccess) -> Option<Uri> {
    m.typed_list::<Contact>("Contact").ok()?.into_iter().find_map(|c| match c {
        Contact::Addr(a) => Some(a.uri),
        Contact::Star => None,
    })
}

impl Dialog {
    /// The UAC side: from the INVITE we sent and a response with a To tag
    /// (1xx makes an early dialog, 2xx a confirmed one; §12.1.2).
    pub fn from_uac(invite: &Request, resp: &Response, local_contact: Option<NameAddr>) -> Result<Dialog, DialogError> {
        let local = invite.from_addr().ok_or(DialogError::Missing("From"))?;
        let remote = resp.to_addr().ok_or(DialogError::Missing("To"))?;
        let id = DialogId::of_incoming_response(resp).ok_or(DialogError::Missing("tags"))?;
        let mut route_set = resp.typed_list::<NameAddr>("Record-Route").map_err(|_| DialogError::Missing("Record-Route"))?;
        route_set.reverse();
        let remote_target = contact_uri(resp).unwrap_or_else(|| remote.uri.clone());
        let cseq = invite.cseq().ok_or(DialogError::Missing("CSeq"))?.seq;
        Ok(Dialog {
            id,
            state: if resp.status < 200 { DialogState::Early } else { DialogState::Confirmed },
            secure: invite.uri.scheme == Scheme::Sips,
            local,
            remote,
            local_cseq: cseq,
            remote_cseq: None,
            route_set,
            remote_target,
            local_contact,
            invite_cseq: cseq,
        })
    }

    /// The UAS side: from a received INVITE and the tag we put in our To (§12.1.1).
    pub fn from_uas(invite: &Request, local_tag: &str, local_contact: Option<NameAddr>, confirmed: bool) -> Result<Dialog, DialogError> {
        let mut local = invite.to_addr().ok_or(DialogError::Missing("To"))?;
        local.set_tag(local_tag);
        let remote = invite.from_addr().ok_or(DialogError::Missing("From"))?;
        let remote_tag = remote.tag().ok_or(DialogError::Missing("From tag"))?.to_string();
        let route_set = invite.typed_list::<NameAddr>("Record-Route").map_err(|_| DialogError::Missing("Record-Route"))?;
        let remote_target = contact_uri(invite).ok_or(DialogError::Missing("Contact"))?;
        let cseq = invite.cseq().ok_or(DialogError::Missing("CSeq"))?.seq;
        Ok(Dialog {
            id: DialogId { call_id: invite.call_id().ok_or(DialogError::Missing("Call-ID"))?.to_string(), local_tag: local_tag.into(), remote_tag },
            state: if confirmed { DialogState::Confirmed } else { DialogState::Early },
            secure: invite.uri.scheme == Scheme::Sips,
            local,
            remote,
            local_cseq: 0,
            remote_cseq: Some(cseq),
            route_set,
            remote_target,
            local_contact,
            invite_cseq: cseq,
        })
    }

    /// The UAC got the 2xx for an early dialog: confirm it and recompute the
    /// route set and remote target from the 2xx (§13.2.2.4).
    pub fn confirm(&mut self, resp: &Response) {
        if self.state == DialogState::Early {
            if let Ok(mut rr) = resp.typed_list::<NameAddr>("Record-Route") {
                rr.reverse();
                self.route_set = rr;
            }
        }
        if let Some(t) = contact_uri(resp) {
            self.remote_target = t;
        }
        self.state = DialogState::Confirmed;
    }

    /// Checks and records a request received in this dialog (§12.2.2):
    /// refuses an out-of-order CSeq (answer 500) and updates the remote
    /// target on target-refresh requests (re-INVITE, UPDATE).
    pub fn handle_request(&mut self, req: &Request) -> Result<(), DialogError> {
        if DialogId::of_incoming_request(req).as_ref() != Some(&self.id) {
            return Err(DialogError::NotInDialog);
        }
        let seq = req.cseq().ok_or(DialogError::Missing("CSeq"))?.seq;
        if !matches!(req.method, Method::Ack | Method::Cancel) {
            if let Some(last) = self.remote_cseq
                && seq < last
            {
                return Err(DialogError::CSeqOutOfOrder { got: seq, last });
            }
            self.remote_cseq = Some(seq);
        }
        if matches!(req.method, Method::Invite | Method::Update)
            && let Some(t) = contact_uri(req)
        {
            self.remote_target = t;
        }
        if req.method == Method::Invite {
            self.invite_cseq = seq;
        }
        Ok(())
    }

    /// Where to send our requests: the first route, or the remote target (§8.1.2, §12.2.1.1).
    pub fn next_hop(&self) -> &Uri {
        self.route_set.first().map(|r| &r.uri).unwrap_or(&self.remote_target)
    }

    /// Builds a request in the dialog with the next CSeq (§12.2.1.1):
    /// Request-URI and Route from the route set (loose or strict routing),
    /// From/To with tags, Call-ID, Max-Forwards and, for target-refreshing
    /// methods, our Contact. The transaction layer adds the Via.
    pub fn new_request(&mut self, method: Method) -> Request {
        self.local_cseq += 1;
        if method == Method::Invite {
            self.invite_cseq = self.local_cseq;
        }
        let seq = self.local_cseq;
        self.build(method, seq)
    }

    /// The ACK for a 2xx to the INVITE with CSeq `invite_cseq` (§13.2.2.4):
    /// same CSeq number, method ACK, routed like any in-dialog request.
    pub fn ack_for_2xx(&self, invite_cseq: u32) -> Request {
        self.build(Method::Ack, invite_cseq)
    }

    fn build(&self, method: Method, seq: u32) -> Request {
        let (uri, routes): (Uri, Vec<String>) = match self.route_set.first() {
            None => (self.remote_target.clone(), vec![]),
            Some(first) if first.uri.is_loose_route() => (self.remote_target.clone(), self.route_set.iter().map(|r| r.to_string()).collect()),
            Some(first) => {
                // Strict routing (§12.2.1.1): the first route becomes the
                // Request-URI and the remote target goes last in Route.
                let mut ruri = first.uri.clone();
                ruri.params.remove("method");
                ruri.headers.clear();
                let mut routes: Vec<String> = self.route_set[1..].iter().map(|r| r.to_string()).collect();
                routes.push(NameAddr::new(self.remote_target.clone()).to_string());
                (ruri, routes)
            }
        };
        let mut req = Request::new(method.clone(), uri);
        for r in routes {
            req.headers.push("Route", r);
        }
        req.headers.push("Max-Forwards", "70");
        req.headers.push("From", self.local.to_string());
        req.headers.push("To", self.remote.to_string());
        req.headers.push("Call-ID", self.id.call_id.clone());
        req.headers.push("CSeq", CSeq { seq, method: method.clone() }.to_string());
        if matches!(method, Method::Invite | Method::Update | Method::Subscribe | Method::Notify | Method::Refer)
            && let Some(c) = &self.local_contact
        {
            req.headers.push("Contact", c.to_string());
        }
        req
    }

    /// Whether a received request belongs to this dialog.
    pub fn matches_request(&self, req: &impl HeaderAccess) -> bool {
        DialogId::of_incoming_request(req).as_ref() == Some(&self.id)
    }

    /// Whether a received response belongs to this dialog.
    pub fn matches_response(&self, resp: &impl HeaderAccess) -> bool {
        DialogId::of_incoming_response(resp).as_ref() == Some(&self.id)
    }
}

/// Parses a NameAddr header value, for callers building dialogs by hand.
pub fn parse_name_addr(s: &str) -> Option<NameAddr> {
    NameAddr::from_header(s).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn invite() -> Request {
        Request::new(Method::Invite, Uri::parse("sip:bob@biloxi.example.com").unwrap())
            .with_header("Via", "SIP/2.0/UDP 192.0.2.1;branch=z9hG4bKa")
            .with_header("Max-Forwards", "70")
            .with_header("From", "Alice <sip:alice@atlanta.example.com>;tag=a1")
            .with_header("To", "<sip:bob@biloxi.example.com>")
            .with_header("Call-ID", "d1")
            .with_header("CSeq", "314 INVITE")
            .with_header("Contact", "<sip:alice@192.0.2.1>")
            .with_header("Record-Route", "<sip:p1.example.com;lr>, <sip:p2.example.com;lr>")
    }

    #[test]
    fn uac_dialog_reverses_record_route_and_builds_bye_with_next_cseq() {
        let inv = invite();
        let ok = Response::for_request(&inv, 200, None, Some("b1")).with_header("Contact", "<sip:bob@198.51.100.7:5062>");
        let mut d = Dialog::from_uac(&inv, &ok, None).unwrap();
        assert_eq!(d.state, DialogState::Confirmed);
        assert_eq!(d.id, DialogId { call_id: "d1".into(), local_tag: "a1".into(), remote_tag: "b1".into() });
        assert_eq!(d.next_hop().host, "p2.example.com");
        let bye = d.new_request(Method::Bye);
        assert_eq!(bye.uri.to_string(), "sip:bob@198.51.100.7:5062");
        assert_eq!(bye.header_lines("Route"), vec!["<sip:p2.example.com;lr>", "<sip:p1.example.com;lr>"]);
        assert_eq!(bye.cseq().unwrap(), CSeq { seq: 315, method: Method::Bye });
        assert_eq!(bye.to_addr().unwrap().tag(), Some("b1"));
        assert_eq!(bye.from_addr().unwrap().tag(), Some("a1"));
        let ack = d.ack_for_2xx(314);
        assert_eq!(ack.cseq().unwrap(), CSeq { seq: 314, method: Method::Ack });
        assert_eq!(ack.uri, bye.uri);
    }

    #[test]
    fn uas_dialog_keeps_record_route_order_and_checks_remote_cseq() {
        let inv = invite();
        let mut d = Dialog::from_uas(&inv, "gw1", Some(NameAddr::new(Uri::sip(Some("gw"), "192.0.2.9", None))), true).unwrap();
        assert_eq!(d.next_hop().host, "p1.example.com");
        assert_eq!(d.remote_target.host, "192.0.2.1");
        let reinv = d.new_request(Method::Invite);
        assert_eq!(reinv.cseq().unwrap().seq, 1);
        assert!(reinv.header("Contact").is_some());
        let mut bye = Request::new(Method::Bye, Uri::sip(Some("gw"), "192.0.2.9", None))
            .with_header("From", "<sip:alice@atlanta.example.com>;tag=a1")
            .with_header("To", "<sip:bob@biloxi.example.com>;tag=gw1")
            .with_header("Call-ID", "d1")
            .with_header("CSeq", "315 BYE");
        assert!(d.matches_request(&bye));
        d.handle_request(&bye).unwrap();
        bye.headers.set("CSeq", "300 BYE");
        assert_eq!(d.handle_request(&bye), Err(DialogError::CSeqOutOfOrder { got: 300, last: 315 }));
    }

    #[test]
    fn strict_route_puts_first_route_in_request_uri() {
        let inv = invite();
        let ok = Response::for_request(&inv, 200, None, Some("b1"))
            .with_header("Contact", "<sip:bob@198.51.100.7>")
            .with_header("Record-Route", "<sip:strict.example.com>");
        let mut ok = ok;
        ok.headers.remove("Record-Route");
        ok.headers.push("Record-Route", "<sip:strict.example.com>");
        let mut d = Dialog::from_uac(&inv, &ok, None).unwrap();
        let bye = d.new_request(Method::Bye);
        assert_eq!(bye.uri.to_string(), "sip:strict.example.com");
        assert_eq!(bye.header_lines("Route"), vec!["<sip:bob@198.51.100.7>"]);
    }

    #[test]
    fn early_dialog_is_confirmed_by_2xx_with_new_target() {
        let inv = invite();
        let ringing = Response::for_request(&inv, 180, None, Some("b1")).with_header("Contact", "<sip:bob@early.example.com>");
        let mut d = Dialog::from_uac(&inv, &ringing, None).unwrap();
        assert_eq!(d.state, DialogState::Early);
        let ok = Response::for_request(&inv, 200, None, Some("b1")).with_header("Contact", "<sip:bob@final.example.com>");
        assert!(d.matches_response(&ok));
        d.confirm(&ok);
        assert_eq!(d.state, DialogState::Confirmed);
        assert_eq!(d.remote_target.host, "final.example.com");
    }
}
