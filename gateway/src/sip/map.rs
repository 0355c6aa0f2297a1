//! SIP headers ↔ the call vocabulary: numbers, parties, privacy,
//! redirection and Q.850 reasons.
//!
//! Pure functions over received [`Request`]s and into header values, so
//! every mapping is tested on its own:
//!
//! * called number: the Request-URI's user (or tel number) without
//!   parameters such as `;phone-context` and without visual separators,
//!   falling back to the To user; then [`normalise`] by the trunk's
//!   `e164` settings;
//! * calling party: P-Asserted-Identity (every configured trunk is
//!   trusted) else From; `Privacy: id`/`user`/`header` or an anonymous
//!   From make the presentation restricted, the number being kept from
//!   PAI as ISUP does; PAI present → network provided, else user
//!   provided, not screened;
//! * redirection: the first Diversion entry (RFC 5806), else History-Info
//!   (RFC 7044) with the RFC 4458 `cause` URI parameter;
//! * Reason (RFC 3326): `Q.850;cause=N;text="…"` both ways.
//!
//! Outbound numbers are put on the wire as call control gives them (route
//! translations shape them); only inbound numbers are normalised.

use tandem_sip::wire::{FromHeader, HeaderAccess, NameAddr, Reason, Request, Scheme, Uri, split_list};

use crate::call::model::{Cause, Party, Presentation, Redirect, RedirectReason, Screening, Setup};
use crate::config::E164;

/// Makes a received number E.164 (`+` and digits) where the trunk's
/// `e164` settings allow: `+…` is kept; the international prefix becomes
/// `+`; the national prefix becomes `+<country code>`. Anything else is
/// returned as received (short codes, extensions, unknown formats).
pub fn normalise(number: &str, e164: Option<&E164>) -> String {
    if number.starts_with('+') {
        return number.to_owned();
    }
    let Some(e) = e164 else { return number.to_owned() };
    if let Some(ip) = e.international_prefix.as_deref().filter(|p| !p.is_empty())
        && let Some(rest) = number.strip_prefix(ip)
        && !rest.is_empty()
    {
        return format!("+{rest}");
    }
    if let Some(np) = e.national_prefix.as_deref().filter(|p| !p.is_empty())
        && let Some(rest) = number.strip_prefix(np)
        && !rest.is_empty()
    {
        return format!("+{}{rest}", e.country_code.get_ref());
    }
    number.to_owned()
}

/// The number in a SIP or tel URI (user part without parameters, escapes
/// decoded, separators removed); `None` if it has no user part.
pub fn uri_number(uri: &Uri) -> Option<String> {
    uri.number().filter(|n| !n.is_empty())
}

/// Whether a From/PAI value is the RFC 3323 anonymous identity.
pub fn is_anonymous(a: &NameAddr) -> bool {
    let user_anon = a.uri.user.as_deref().is_some_and(|u| u.eq_ignore_ascii_case("anonymous"));
    let host_anon = a.uri.host.eq_ignore_ascii_case("anonymous.invalid");
    let name_anon = a.display.as_deref().is_some_and(|d| d.trim().eq_ignore_ascii_case("anonymous"));
    user_anon || host_anon || name_anon
}

/// Whether the Privacy header asks to hide the identity (RFC 3323 `id`,
/// `user`, `header`; RFC 3325 §9.3).
pub fn privacy_restricts(req: &impl HeaderAccess) -> bool {
    req.option_tags("Privacy").iter().any(|t| ["id", "user", "header"].iter().any(|p| t.trim().eq_ignore_ascii_case(p)))
}

fn non_empty(s: Option<String>) -> Option<String> {
    s.map(|s| s.trim().to_owned()).filter(|s| !s.is_empty())
}

/// The calling party of an inbound INVITE.
pub fn calling_party(req: &Request, e164: Option<&E164>) -> Option<Party> {
    let from = req.from_addr();
    let pai: Option<NameAddr> =
        req.typed_list::<NameAddr>("P-Asserted-Identity").ok().and_then(|l| l.iter().find(|a| a.uri.scheme != Scheme::Tel).or(l.first()).cloned());
    let from_anon = from.as_ref().is_some_and(is_anonymous);
    let restricted = privacy_restricts(req) || from_anon;
    let (number, name, screening) = match &pai {
        Some(p) => {
            (uri_number(&p.uri), non_empty(p.display.clone()).or_else(|| from.as_ref().and_then(|f| non_empty(f.display.clone()))), Screening::NetworkProvided)
        }
        None => match &from {
            Some(f) if !from_anon => (uri_number(&f.uri), non_empty(f.display.clone()), Screening::UserNotScreened),
            _ => (None, None, Screening::UserNotScreened),
        },
    };
    let number = number.filter(|n| !n.eq_ignore_ascii_case("anonymous")).map(|n| normalise(&n, e164)).unwrap_or_default();
    let name = name.filter(|n| !n.eq_ignore_ascii_case("anonymous"));
    if number.is_empty() && name.is_none() && !restricted {
        return None;
    }
    let presentation = if restricted {
        Presentation::Restricted
    } else if number.is_empty() {
        Presentation::Unavailable
    } else {
        Presentation::Allowed
    };
    Some(Party { number, name, presentation, screening })
}

/// The called number of an inbound INVITE: Request-URI user, else To
/// user. `contact_user` is the user part of the Contact we registered (a
/// provider sends calls to it, with the dialled number in To): a
/// Request-URI with that user falls back to To too.
pub fn called_number(req: &Request, e164: Option<&E164>, contact_user: Option<&str>) -> String {
    let ruri = uri_number(&req.uri).filter(|u| contact_user.is_none_or(|c| c != u));
    let n = ruri.or_else(|| req.to_addr().and_then(|t| uri_number(&t.uri))).unwrap_or_default();
    normalise(&n, e164)
}

/// A Diversion `reason` (RFC 5806 §4) as a redirect reason.
pub fn diversion_reason(s: &str) -> RedirectReason {
    match s.trim_matches('"').to_ascii_lowercase().as_str() {
        "user-busy" => RedirectReason::Busy,
        "no-answer" => RedirectReason::NoReply,
        "unconditional" => RedirectReason::Unconditional,
        "deflection" => RedirectReason::Deflection,
        "unavailable" | "out-of-service" => RedirectReason::Unavailable,
        _ => RedirectReason::Unknown,
    }
}

/// The Diversion `reason` token for a redirect reason.
pub fn diversion_token(r: RedirectReason) -> &'static str {
    match r {
        RedirectReason::Busy => "user-busy",
        RedirectReason::NoReply => "no-answer",
        RedirectReason::Unconditional => "unconditional",
        RedirectReason::Deflection => "deflection",
        RedirectReason::Unavailable => "unavailable",
        RedirectReason::Unknown => "unknown",
    }
}

/// An RFC 4458 History-Info `cause` (a SIP status) as a redirect reason.
pub fn history_cause_reason(cause: u16) -> RedirectReason {
    match cause {
        486 => RedirectReason::Busy,
        408 => RedirectReason::NoReply,
        302 => RedirectReason::Unconditional,
        480 | 487 => RedirectReason::Deflection,
        404 | 503 => RedirectReason::Unavailable,
        _ => RedirectReason::Unknown,
    }
}

/// The RFC 4458 cause (a SIP status) for a redirect reason, the reverse
/// of [`history_cause_reason`].
pub fn history_cause(reason: RedirectReason) -> u16 {
    match reason {
        RedirectReason::Busy => 486,
        RedirectReason::NoReply => 408,
        RedirectReason::Unconditional => 302,
        RedirectReason::Deflection => 487,
        RedirectReason::Unavailable => 503,
        RedirectReason::Unknown => 404,
    }
}

fn party_of(a: &NameAddr, e164: Option<&E164>) -> Party {
    Party {
        number: uri_number(&a.uri).map(|n| normalise(&n, e164)).unwrap_or_default(),
        name: non_empty(a.display.clone()),
        presentation: Presentation::Allowed,
        screening: Screening::NetworkProvided,
    }
}

/// The redirection of an inbound INVITE: Diversion first, else History-Info.
pub fn redirect(req: &Request, e164: Option<&E164>) -> Option<Redirect> {
    let div = req.typed_list::<NameAddr>("Diversion").unwrap_or_default();
    if let Some(d) = div.first() {
        let count = d.params.get("counter").flatten().and_then(|c| c.parse::<u8>().ok()).unwrap_or(div.len().min(255) as u8).max(1);
        let reason = d.params.get("reason").flatten().map(diversion_reason).unwrap_or_default();
        return Some(Redirect { from: party_of(d, e164), reason, count });
    }
    let hi = req.typed_list::<NameAddr>("History-Info").unwrap_or_default();
    if hi.len() < 2 {
        return None;
    }
    let cause_of = |a: &NameAddr| a.uri.params.get("cause").flatten().and_then(|c| c.parse::<u16>().ok());
    let with_cause: Vec<usize> = (0..hi.len()).filter(|&i| cause_of(&hi[i]).is_some()).collect();
    match with_cause.first() {
        Some(&i) if i > 0 => {
            let reason = cause_of(&hi[i]).map(history_cause_reason).unwrap_or_default();
            Some(Redirect { from: party_of(&hi[i - 1], e164), reason, count: with_cause.len().clamp(1, 255) as u8 })
        }
        _ => Some(Redirect { from: party_of(&hi[0], e164), reason: RedirectReason::Unknown, count: (hi.len() - 1).clamp(1, 255) as u8 }),
    }
}

/// Where a 3xx response redirects an outbound call: the number in the
/// first Contact (RFC 3261 §21.3), normalised by the trunk's `e164`
/// settings. `None` when there is no Contact, it is not a `sip:`/`sips:`
/// URI, or its user part is not a number (digits, `+`, `*`, `#`): the 3xx
/// is then a plain failure.
pub fn redirect_target(resp: &impl HeaderAccess, e164: Option<&E164>) -> Option<String> {
    let contacts = resp.typed_list::<NameAddr>("Contact").ok()?;
    let c = contacts.first()?;
    if !matches!(c.uri.scheme, Scheme::Sip | Scheme::Sips) {
        return None;
    }
    let n = uri_number(&c.uri)?;
    let dialable = n.chars().any(|ch| ch.is_ascii_digit()) && n.chars().all(|ch| ch.is_ascii_digit() || "+*#".contains(ch));
    dialable.then(|| normalise(&n, e164))
}

/// The redirect reason of a 3xx: its Diversion entry's `reason` if it has
/// one (RFC 5806 §4), else unconditional (RFC 4458 maps 302 so).
pub fn redirect_reason(resp: &impl HeaderAccess) -> RedirectReason {
    let div = resp.typed_list::<NameAddr>("Diversion").unwrap_or_default();
    div.first().and_then(|d| d.params.get("reason").flatten().map(diversion_reason)).unwrap_or(RedirectReason::Unconditional)
}

/// The whole setup of an inbound INVITE (see [`called_number`] for `contact_user`).
pub fn setup_from_invite(req: &Request, e164: Option<&E164>, contact_user: Option<&str>) -> Setup {
    Setup {
        called: called_number(req, e164, contact_user),
        complete: true,
        calling: calling_party(req, e164),
        redirect: redirect(req, e164),
        bearer: Default::default(),
        alert_info: alert_info(req),
    }
}

/// The first URI of an Alert-Info header (`<http://x/Bellcore-dr2>`), or
/// the bare value when it has no angle brackets.
pub fn alert_info(m: &impl HeaderAccess) -> Option<String> {
    let line = m.header_lines("Alert-Info").into_iter().next()?;
    let first = line.split(',').next()?.trim();
    let uri = match (first.find('<'), first.find('>')) {
        (Some(a), Some(b)) if a < b => &first[a + 1..b],
        _ => first.split(';').next().unwrap_or(first),
    };
    let uri = uri.trim();
    (!uri.is_empty()).then(|| uri.to_owned())
}

/// The Q.850 cause in a message's Reason header(s), if any (RFC 3326).
pub fn reason_cause(m: &impl HeaderAccess) -> Option<Cause> {
    m.header_lines("Reason")
        .into_iter()
        .flat_map(|l| split_list(l).unwrap_or_default())
        .filter_map(|r| Reason::from_header(r).ok())
        .find(|r| r.protocol.eq_ignore_ascii_case("Q.850"))
        .and_then(|r| r.cause)
        .filter(|c| (1..=127).contains(c))
        .map(|c| Cause(c as u8))
}

/// The short Q.850 text of a cause, for Reason headers and logs.
pub fn cause_text(c: Cause) -> &'static str {
    match c.0 {
        1 => "Unallocated number",
        3 => "No route to destination",
        16 => "Normal call clearing",
        17 => "User busy",
        18 => "No user responding",
        19 => "No answer from user",
        21 => "Call rejected",
        22 => "Number changed",
        27 => "Destination out of order",
        28 => "Invalid number format",
        31 => "Normal, unspecified",
        34 => "No circuit/channel available",
        38 => "Network out of order",
        41 => "Temporary failure",
        42 => "Switching equipment congestion",
        44 => "Requested circuit/channel not available",
        47 => "Resource unavailable, unspecified",
        58 => "Bearer capability not presently available",
        65 => "Bearer capability not implemented",
        88 => "Incompatible destination",
        102 => "Recovery on timer expiry",
        111 => "Protocol error, unspecified",
        127 => "Interworking, unspecified",
        _ => "Unspecified",
    }
}

/// The Reason header value for a cause: `Q.850;cause=17;text="User busy"`.
pub fn reason_header(c: Cause) -> String {
    Reason::q850(c.0 as u16, Some(cause_text(c))).to_string()
}

/// The connected party of a 2xx: its P-Asserted-Identity, if any.
pub fn connected_party(m: &impl HeaderAccess) -> Option<Party> {
    let pai: NameAddr = m.typed_list::<NameAddr>("P-Asserted-Identity").ok()?.into_iter().next()?;
    let mut p = party_of(&pai, None);
    if privacy_restricts(m) {
        p.presentation = Presentation::Restricted;
    }
    Some(p)
}

/// A DTMF digit from an INFO body: `application/dtmf-relay`
/// (`Signal=5`, `Duration=160`) or `application/dtmf` (`5`).
pub fn dtmf_from_info(content_type: &str, body: &[u8]) -> Option<(char, u16)> {
    let text = std::str::from_utf8(body).ok()?;
    let ct = content_type.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
    let digit_of = |s: &str| -> Option<char> {
        let s = s.trim();
        match s {
            "10" => Some('*'),
            "11" => Some('#'),
            _ => {
                let mut it = s.chars();
                let c = it.next()?.to_ascii_uppercase();
                (it.next().is_none() && (c.is_ascii_digit() || "*#ABCD".contains(c))).then_some(c)
            }
        }
    };
    match ct.as_str() {
        "application/dtmf-relay" => {
            let mut digit = None;
            let mut duration = 100u16;
            for line in text.lines() {
                let Some((k, v)) = line.split_once('=') else { continue };
                match k.trim().to_ascii_lowercase().as_str() {
                    "signal" => digit = digit_of(v),
                    "duration" => duration = v.trim().parse().unwrap_or(100),
                    _ => {}
                }
            }
            digit.map(|d| (d, duration))
        }
        "application/dtmf" => digit_of(text).map(|d| (d, 100)),
        _ => None,
    }
}

/// Whether an INFO body asks for a hook flash: `application/hook-flash`
/// (`signal=hf`), or `application/dtmf-relay` with `Signal=16` (the
/// RFC 4733 §3.2 flash event code) or `Signal=!`.
pub fn flash_from_info(content_type: &str, body: &[u8]) -> bool {
    let Ok(text) = std::str::from_utf8(body) else { return false };
    let ct = content_type.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
    let signal = || {
        text.lines().find_map(|line| {
            let (k, v) = line.split_once('=')?;
            k.trim().eq_ignore_ascii_case("signal").then(|| v.trim().to_ascii_lowercase())
        })
    };
    match ct.as_str() {
        "application/hook-flash" => signal().is_none_or(|v| v == "hf"),
        "application/dtmf-relay" => signal().is_some_and(|v| v == "16" || v == "!"),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tandem_sip::wire::{Method, Uri};

    fn e164() -> E164 {
        E164 { country_code: toml::Spanned::new(0..0, "1".into()), national_prefix: Some("1".into()), international_prefix: Some("011".into()) }
    }

    fn invite(extra: &[(&str, &str)], ruri: &str) -> Request {
        let mut r = Request::new(Method::Invite, Uri::parse(ruri).unwrap())
            .with_header("From", "\"Alice\" <sip:+12125551234@pbx.example.com>;tag=a")
            .with_header("To", "<sip:5551000@gw.example.com>")
            .with_header("Call-ID", "c1")
            .with_header("CSeq", "1 INVITE");
        for (n, v) in extra {
            r.headers.push(n, *v);
        }
        r
    }

    #[test]
    fn national_and_international_numbers_become_e164() {
        let e = e164();
        assert_eq!(normalise("+442071234567", Some(&e)), "+442071234567");
        assert_eq!(normalise("011442071234567", Some(&e)), "+442071234567");
        assert_eq!(normalise("12125551234", Some(&e)), "+12125551234");
        assert_eq!(normalise("911", Some(&e)), "911");
        assert_eq!(normalise("12125551234", None), "12125551234");
    }

    #[test]
    fn called_number_strips_phone_context_and_reads_tel_uris() {
        let r = invite(&[], "sip:5551000;phone-context=+1212@gw.example.com;user=phone");
        assert_eq!(called_number(&r, None, None), "5551000");
        let r = invite(&[], "tel:+1-212-555-1000;phone-context=example.com");
        assert_eq!(called_number(&r, None, None), "+12125551000");
        let r = invite(&[], "sip:gw.example.com");
        assert_eq!(called_number(&r, None, None), "5551000", "falls back to To");
        let r = invite(&[], "sip:gw1@192.0.2.10");
        assert_eq!(called_number(&r, None, Some("gw1")), "5551000", "a registered contact falls back to To");
    }

    #[test]
    fn pai_wins_over_from_and_privacy_id_restricts() {
        let r = invite(&[("P-Asserted-Identity", "\"Real Name\" <sip:+12125550000@carrier>"), ("Privacy", "id")], "sip:1@gw");
        let p = calling_party(&r, None).unwrap();
        assert_eq!(p.number, "+12125550000");
        assert_eq!(p.name.as_deref(), Some("Real Name"));
        assert_eq!(p.presentation, Presentation::Restricted);
        assert_eq!(p.screening, Screening::NetworkProvided);
        let r = invite(&[], "sip:1@gw");
        let p = calling_party(&r, None).unwrap();
        assert_eq!((p.number.as_str(), p.presentation, p.screening), ("+12125551234", Presentation::Allowed, Screening::UserNotScreened));
    }

    #[test]
    fn anonymous_from_without_pai_is_restricted_with_no_number() {
        let mut r = invite(&[], "sip:1@gw");
        r.headers.set("From", "\"Anonymous\" <sip:anonymous@anonymous.invalid>;tag=x");
        let p = calling_party(&r, None).unwrap();
        assert_eq!((p.number.as_str(), p.name.as_deref(), p.presentation), ("", None, Presentation::Restricted));
    }

    #[test]
    fn diversion_gives_redirect_with_reason_and_counter() {
        let r = invite(&[("Diversion", "\"Bob\" <sip:5551001@pbx>;reason=user-busy;counter=2, <sip:5551002@pbx>;reason=no-answer")], "sip:1@gw");
        let d = redirect(&r, None).unwrap();
        assert_eq!((d.from.number.as_str(), d.reason, d.count), ("5551001", RedirectReason::Busy, 2));
        assert_eq!(d.from.name.as_deref(), Some("Bob"));
    }

    #[test]
    fn history_info_with_cause_gives_redirect() {
        let r = invite(&[("History-Info", "<sip:5551001@pbx>;index=1, <sip:5551002@pbx;cause=408>;index=1.1")], "sip:5551002@gw");
        let d = redirect(&r, None).unwrap();
        assert_eq!((d.from.number.as_str(), d.reason, d.count), ("5551001", RedirectReason::NoReply, 1));
    }

    #[test]
    fn reason_header_round_trips_q850() {
        let r = invite(&[("Reason", "SIP;cause=200, Q.850;cause=17;text=\"User busy\"")], "sip:1@gw");
        assert_eq!(reason_cause(&r), Some(Cause::USER_BUSY));
        assert_eq!(reason_header(Cause::USER_BUSY), "Q.850;cause=17;text=\"User busy\"");
    }

    #[test]
    fn info_bodies_give_digits() {
        assert_eq!(dtmf_from_info("application/dtmf-relay", b"Signal=5\r\nDuration=160\r\n"), Some(('5', 160)));
        assert_eq!(dtmf_from_info("application/dtmf-relay", b"Signal=11\r\n"), Some(('#', 100)));
        assert_eq!(dtmf_from_info("application/dtmf", b"*"), Some(('*', 100)));
        assert_eq!(dtmf_from_info("text/plain", b"5"), None);
        assert_eq!(dtmf_from_info("application/dtmf-relay", b"Signal=16\r\nDuration=100\r\n"), None);
    }

    #[test]
    fn alert_info_gives_its_first_uri() {
        let r = invite(&[("Alert-Info", "<http://127.0.0.1/Bellcore-dr2>, <http://x/other>")], "sip:100@gw");
        assert_eq!(setup_from_invite(&r, None, None).alert_info.as_deref(), Some("http://127.0.0.1/Bellcore-dr2"));
        assert_eq!(alert_info(&invite(&[("Alert-Info", "info=Bellcore-dr3")], "sip:100@gw")).as_deref(), Some("info=Bellcore-dr3"));
        assert_eq!(alert_info(&invite(&[], "sip:100@gw")), None);
        assert_eq!(alert_info(&invite(&[("Alert-Info", "<>")], "sip:100@gw")), None);
    }

    #[test]
    fn info_bodies_ask_for_hook_flash() {
        assert!(flash_from_info("application/hook-flash", b"signal=hf\r\n"));
        assert!(flash_from_info("application/dtmf-relay", b"Signal=16\r\nDuration=100\r\n"));
        assert!(flash_from_info("application/dtmf-relay", b"Signal=!\r\n"));
        assert!(!flash_from_info("application/dtmf-relay", b"Signal=5\r\n"));
        assert!(!flash_from_info("application/hook-flash", b"signal=xx\r\n"));
        assert!(!flash_from_info("text/plain", b"signal=hf"));
        assert!(!flash_from_info("application/hook-flash", &[0xff, 0xfe]));
    }
}
