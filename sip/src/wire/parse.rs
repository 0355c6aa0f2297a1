//! Strict parsing of received SIP messages into a checked [`MessageView`].

use super::header::{HeaderError, canonical_name, is_token, same_name};
use super::message::{Headers, Request, Response};
use super::uri::UriError;
use super::{CSeq, Contact, FromHeader, HeaderAccess, Method, NameAddr, RAck, SessionExpires, Uri, Via};
use std::borrow::Cow;

/// Limits applied while parsing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Largest accepted message in bytes; larger ones get 513.
    pub max_message_size: usize,
    /// Whether Content-Length is mandatory (true for stream transports, RFC 3261 §18.3).
    pub require_content_length: bool,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits { max_message_size: 64 * 1024, require_content_length: false }
    }
}

/// What was wrong with a rejected message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseErrorKind {
    /// Longer than [`Limits::max_message_size`].
    #[error("message of {size} bytes exceeds the limit of {limit}")]
    TooLarge {
        /// The message size.
        size: usize,
        /// The limit.
        limit: usize,
    },
    /// No empty line ends the headers.
    #[error("no empty line after the headers")]
    NoHeaderEnd,
    /// The request or status line is malformed.
    #[error("malformed start line")]
    BadStartLine,
    /// The SIP version is not 2.0.
    #[error("unsupported SIP version {0:?}")]
    BadVersion(String),
    /// The Request-URI is malformed or has no scheme.
    #[error("bad Request-URI: {0}")]
    BadUri(&'static str),
    /// The Request-URI scheme is well-formed but not sip, sips or tel.
    #[error("unsupported URI scheme {0:?}")]
    UnsupportedScheme(String),
    /// A header line is not valid UTF-8.
    #[error("header line {0} is not UTF-8")]
    NotUtf8(usize),
    /// A header line has no colon.
    #[error("header line {0} has no colon")]
    MissingColon(usize),
    /// A header name is not a token.
    #[error("header line {0} has a bad name")]
    BadHeaderName(usize),
    /// A mandatory header is missing.
    #[error("missing mandatory header {0}")]
    Missing(&'static str),
    /// A header that may appear once appears more than once.
    #[error("header {0} appears more than once")]
    Duplicate(&'static str),
    /// The CSeq method differs from the request method.
    #[error("CSeq method does not match the request method")]
    CSeqMismatch,
    /// A header value breaks its grammar.
    #[error("bad {name} header: {error}")]
    BadHeader {
        /// The header's canonical name.
        name: &'static str,
        /// What is wrong.
        error: HeaderError,
    },
    /// Content-Length is not a number or says more than the body holds.
    #[error("Content-Length {0}")]
    BadContentLength(&'static str),
}

/// A rejected message: why, which status the server answers with, and
/// (when the message had Via, From, To, Call-ID and CSeq) enough of it to
/// build that answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{kind}")]
pub struct ParseError {
    /// What was wrong.
    pub kind: ParseErrorKind,
    is_request: bool,
    reply: Option<Headers>,
}

impl ParseError {
    /// The status a server answers a bad request with: 400, 505 (version),
    /// 416 (URI scheme) or 513 (too large, RFC 3261 §21.5.11).
    pub fn status(&self) -> u16 {
        match self.kind {
            ParseErrorKind::TooLarge { .. } => 513,
            ParseErrorKind::BadVersion(_) => 505,
            ParseErrorKind::UnsupportedScheme(_) => 416,
            _ => 400,
        }
    }

    /// Whether the message looked like a request (responses are never answered).
    pub fn is_request(&self) -> bool {
        self.is_request
    }

    /// Whether a response can be sent: a request that carried Via, From, To,
    /// Call-ID and CSeq. Otherwise the message is dropped silently
    /// (RFC 3261 §18.2.1 / §16.3 practice).
    pub fn can_respond(&self) -> bool {
        self.is_request && self.reply.is_some()
    }

    /// The response to send (with `to_tag` added to To), if one can be sent.
    pub fn rejection(&self, to_tag: &str) -> Option<Response> {
        if !self.is_request {
            return None;
        }
        let h = self.reply.as_ref()?;
        let mut r = Response::for_request(h, self.status(), None, Some(to_tag));
        let warn = self.kind.to_string().replace(['"', '\\'], "'");
        r.headers.push("Warning", format!("399 tandem \"{warn}\""));
        Some(r)
    }
}

/// The first line of a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StartLine<'a> {
    /// `Method Request-URI SIP/2.0`
    Request {
        /// The method.
        method: Method,
        /// The parsed Request-URI.
        uri: Uri,
    },
    /// `SIP/2.0 Status-Code Reason-Phrase`
    Response {
        /// The status code.
        status: u16,
        /// The reason phrase as received.
        reason: &'a str,
    },
}

/// A received message, checked once by [`MessageView::parse`] and borrowed
/// from the input; header values are borrowed unless they were folded.
#[derive(Debug, Clone)]
pub struct MessageView<'a> {
    raw: &'a [u8],
    start: StartLine<'a>,
    headers: Vec<(&'a str, Cow<'a, str>)>,
    body: &'a [u8],
    cseq: CSeq,
    top_via: Via,
    from: NameAddr,
    to: NameAddr,
    max_forwards: Option<u32>,
}

/// Headers that must appear exactly once (RFC 3261 §7.3.1, §8.1.1).
const SINGLE: &[&str] =
    &["To", "From", "Call-ID", "CSeq", "Max-Forwards", "Content-Length", "Content-Type", "Expires", "RSeq", "RAck", "Session-Expires", "Min-SE"];
/// Headers needed to answer at all.
const REPLY: &[&str] = &["Via", "From", "To", "Call-ID", "CSeq"];

impl<'a> MessageView<'a> {
    /// Parses a whole message with the default [`Limits`] (a datagram: Content-Length optional).
    pub fn parse(raw: &'a [u8]) -> Result<MessageView<'a>, ParseError> {
        Self::parse_with(raw, Limits::default())
    }

    /// Parses a whole message with explicit limits.
    pub fn parse_with(raw: &'a [u8], limits: Limits) -> Result<MessageView<'a>, ParseError> {
        let mut start = 0;
        while raw[start..].starts_with(b"\r\n") {
            start += 2; // RFC 3261 §7.5: ignore CRLF before the start line
        }
        let msg = &raw[start..];
        let scan_len = msg.len().min(limits.max_message_size);
        let head_end = find(&msg[..scan_len], b"\r\n\r\n");
        let head = &msg[..head_end.unwrap_or(scan_len)];
        let mut lines = split_crlf(head);
        let first = lines.next().unwrap_or(b"");
        let is_request = !first.starts_with(b"SIP/");
        let (headers, line_error) = collect_headers(lines);
        let reply = reply_headers(&headers);
        let fail = |kind| ParseError { kind, is_request, reply: reply.clone() };

        if msg.len() > limits.max_message_size {
            return Err(fail(ParseErrorKind::TooLarge { size: msg.len(), limit: limits.max_message_size }));
        }
        let Some(head_end) = head_end else { return Err(fail(ParseErrorKind::NoHeaderEnd)) };
        let start_line = parse_start_line(first).map_err(fail)?;
        if let Some(e) = line_error {
            return Err(fail(e));
        }
        let fail = |kind| ParseError { kind, is_request, reply: reply.clone() };

        for name in REPLY.iter().chain(if is_request { &["Max-Forwards"][..] } else { &[][..] }) {
            if !headers.iter().any(|(n, _)| same_name(n, name)) {
                return Err(fail(ParseErrorKind::Missing(name)));
            }
        }
        for name in SINGLE {
            if headers.iter().filter(|(n, _)| same_name(n, name)).count() > 1 {
                return Err(fail(ParseErrorKind::Duplicate(name)));
            }
        }
        let get = |name: &str| headers.iter().find(|(n, _)| same_name(n, name)).map(|(_, v)| v.as_ref());
        let bad = |name: &'static str| move |error| fail(ParseErrorKind::BadHeader { name, error });

        let cseq = CSeq::from_header(get("CSeq").unwrap_or("")).map_err(bad("CSeq"))?;
        if let StartLine::Request { method, .. } = &start_line {
            // RFC 3261 §8.1.1.5; an ACK or CANCEL carries the INVITE's number with its own method.
            if cseq.method != *method {
                return Err(fail(ParseErrorKind::CSeqMismatch));
            }
        }
        let from = NameAddr::from_header(get("From").unwrap_or("")).map_err(bad("From"))?;
        let to = NameAddr::from_header(get("To").unwrap_or("")).map_err(bad("To"))?;
        if get("Call-ID").is_some_and(|c| c.is_empty() || c.contains(char::is_whitespace)) {
            return Err(fail(ParseErrorKind::BadHeader { name: "Call-ID", error: HeaderError::Syntax("bad Call-ID") }));
        }
        let mut top_via = None;
        for (_, v) in headers.iter().filter(|(n, _)| same_name(n, "Via")) {
            for item in super::split_list(v).map_err(bad("Via"))? {
                let via = Via::from_header(item).map_err(bad("Via"))?;
                top_via.get_or_insert(via);
            }
        }
        let top_via = top_via.ok_or_else(|| fail(ParseErrorKind::Missing("Via")))?;
        let max_forwards = get("Max-Forwards").map(u32::from_header).transpose().map_err(bad("Max-Forwards"))?;
        if max_forwards.is_some_and(|m| m > 255) {
            return Err(fail(ParseErrorKind::BadHeader { name: "Max-Forwards", error: HeaderError::Syntax("above 255") }));
        }
        if let Some(e) = get("Expires") {
            u32::from_header(e).map_err(bad("Expires"))?;
        }
        for (name, check) in [
            ("Contact", check_list::<Contact> as fn(&str) -> Result<(), HeaderError>),
            ("Route", check_list::<NameAddr>),
            ("Record-Route", check_list::<NameAddr>),
            ("RSeq", check_one::<u32>),
            ("RAck", check_one::<RAck>),
            ("Session-Expires", check_one::<SessionExpires>),
            ("Min-SE", check_one::<SessionExpires>),
            ("Require", check_tokens),
            ("Supported", check_tokens),
            ("Proxy-Require", check_tokens),
        ] {
            for (_, v) in headers.iter().filter(|(n, _)| same_name(n, name)) {
                check(v).map_err(bad(canonical_name(name).unwrap_or("?")))?;
            }
        }
        if let Some(ct) = get("Content-Type") {
            let (media, _) = ct.split_once(';').unwrap_or((ct, ""));
            let ok = media.split_once('/').is_some_and(|(t, s)| is_token(t.trim()) && is_token(s.trim()));
            if !ok {
                return Err(fail(ParseErrorKind::BadHeader { name: "Content-Type", error: HeaderError::Syntax("not type/subtype") }));
            }
        }

        let rest = &msg[head_end + 4..];
        let body = match get("Content-Length") {
            Some(cl) => {
                let n = u32::from_header(cl).map_err(|_| fail(ParseErrorKind::BadContentLength("is not a number")))? as usize;
                if n > rest.len() {
                    return Err(fail(ParseErrorKind::BadContentLength("is larger than the body")));
                }
                &rest[..n] // RFC 3261 §18.3: bytes past Content-Length in a datagram are discarded
            }
            None if limits.require_content_length => return Err(fail(ParseErrorKind::Missing("Content-Length"))),
            None => rest,
        };
        Ok(MessageView { raw: msg, start: start_line, headers, body, cseq, top_via, from, to, max_forwards })
    }

    /// The start line.
    pub fn start_line(&self) -> &StartLine<'a> {
        &self.start
    }

    /// Whether this is a request.
    pub fn is_request(&self) -> bool {
        matches!(self.start, StartLine::Request { .. })
    }

    /// The request method (`None` for a response).
    pub fn method(&self) -> Option<&Method> {
        match &self.start {
            StartLine::Request { method, .. } => Some(method),
            StartLine::Response { .. } => None,
        }
    }

    /// The Request-URI (`None` for a response).
    pub fn request_uri(&self) -> Option<&Uri> {
        match &self.start {
            StartLine::Request { uri, .. } => Some(uri),
            StartLine::Response { .. } => None,
        }
    }

    /// The status code (`None` for a request).
    pub fn status(&self) -> Option<u16> {
        match self.start {
            StartLine::Response { status, .. } => Some(status),
            StartLine::Request { .. } => None,
        }
    }

    /// Every header as (name as received, value with folding undone), in order.
    pub fn headers(&self) -> impl Iterator<Item = (&str, &str)> {
        self.headers.iter().map(|(n, v)| (*n, v.as_ref()))
    }

    /// The body (exactly Content-Length bytes when Content-Length was given).
    pub fn body(&self) -> &'a [u8] {
        self.body
    }

    /// The bytes of the message (leading CRLFs skipped).
    pub fn raw(&self) -> &'a [u8] {
        self.raw
    }

    /// The validated CSeq.
    pub fn checked_cseq(&self) -> &CSeq {
        &self.cseq
    }

    /// The validated topmost Via.
    pub fn checked_top_via(&self) -> &Via {
        &self.top_via
    }

    /// The validated From.
    pub fn checked_from(&self) -> &NameAddr {
        &self.from
    }

    /// The validated To.
    pub fn checked_to(&self) -> &NameAddr {
        &self.to
    }

    /// Max-Forwards (always present on a request). A UAS or proxy answers a
    /// request with 0 by 483 unless it is an OPTIONS to itself (RFC 3261 §16.3 step 3).
    pub fn max_forwards(&self) -> Option<u32> {
        self.max_forwards
    }

    fn owned_headers(&self) -> Headers {
        let mut h = Headers::new();
        for (n, v) in &self.headers {
            h.push(n, v.as_ref());
        }
        h
    }

    /// An owned copy, if this is a request.
    pub fn to_request(&self) -> Option<Request> {
        let StartLine::Request { method, uri } = &self.start else { return None };
        Some(Request { method: method.clone(), uri: uri.clone(), headers: self.owned_headers(), body: self.body.to_vec() })
    }

    /// An owned copy, if this is a response.
    pub fn to_response(&self) -> Option<Response> {
        let StartLine::Response { status, reason } = &self.start else { return None };
        Some(Response { status: *status, reason: reason.to_string(), headers: self.owned_headers(), body: self.body.to_vec() })
    }
}

impl HeaderAccess for MessageView<'_> {
    fn header_lines(&self, name: &str) -> Vec<&str> {
        self.headers.iter().filter(|(n, _)| same_name(n, name)).map(|(_, v)| v.as_ref()).collect()
    }
}

fn check_list<T: FromHeader>(v: &str) -> Result<(), HeaderError> {
    for item in super::split_list(v)? {
        T::from_header(item)?;
    }
    Ok(())
}

fn check_one<T: FromHeader>(v: &str) -> Result<(), HeaderError> {
    T::from_header(v).map(|_| ())
}

fn check_tokens(v: &str) -> Result<(), HeaderError> {
    if v.trim().is_empty() {
        return Ok(()); // an empty Supported is legal (RFC 3261 §20.37)
    }
    for item in super::split_list(v)? {
        if !is_token(item) {
            return Err(HeaderError::Syntax("option tag is not a token"));
        }
    }
    Ok(())
}

pub(crate) fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

fn split_crlf(b: &[u8]) -> impl Iterator<Item = &[u8]> {
    let mut rest = Some(b);
    std::iter::from_fn(move || {
        let r = rest?;
        match find(r, b"\r\n") {
            Some(i) => {
                rest = Some(&r[i + 2..]);
                Some(&r[..i])
            }
            None => {
                rest = None;
                Some(r)
            }
        }
    })
}

/// Splits header lines, unfolding continuations; returns the lines that
/// parsed and the first error met (the scan continues past errors so that a
/// rejection can still be answered).
fn collect_headers<'a>(lines: impl Iterator<Item = &'a [u8]>) -> (Vec<(&'a str, Cow<'a, str>)>, Option<ParseErrorKind>) {
    let mut out: Vec<(&'a str, Cow<'a, str>)> = Vec::new();
    let mut err = None;
    let mut last_ok = false;
    for (i, line) in lines.enumerate() {
        let n = i + 2;
        let Ok(line) = std::str::from_utf8(line) else {
            err.get_or_insert(ParseErrorKind::NotUtf8(n));
            last_ok = false;
            continue;
        };
        if line.starts_with([' ', '\t']) {
            // RFC 3261 §7.3.1: a continuation line folds into the previous value.
            match out.last_mut() {
                Some((_, v)) if last_ok => {
                    let t = line.trim();
                    if !t.is_empty() {
                        let mut s = v.to_string();
                        if !s.is_empty() {
                            s.push(' ');
                        }
                        s.push_str(t);
                        *v = Cow::Owned(s);
                    }
                }
                _ => {
                    err.get_or_insert(ParseErrorKind::MissingColon(n));
                }
            }
            continue;
        }
        if line.bytes().any(|c| c.is_ascii_control() && c != b'\t') {
            err.get_or_insert(ParseErrorKind::BadHeaderName(n));
            last_ok = false;
            continue;
        }
        let Some((name, value)) = line.split_once(':') else {
            err.get_or_insert(ParseErrorKind::MissingColon(n));
            last_ok = false;
            continue;
        };
        let name = name.trim_end_matches([' ', '\t']);
        if !is_token(name) {
            err.get_or_insert(ParseErrorKind::BadHeaderName(n));
            last_ok = false;
            continue;
        }
        out.push((name, Cow::Borrowed(value.trim_matches([' ', '\t']))));
        last_ok = true;
    }
    (out, err)
}

fn reply_headers(headers: &[(&str, Cow<'_, str>)]) -> Option<Headers> {
    let mut h = Headers::new();
    for name in REPLY {
        let mut found = false;
        for (n, v) in headers.iter().filter(|(n, _)| same_name(n, name)) {
            h.push(n, v.as_ref());
            found = true;
        }
        if !found {
            return None;
        }
    }
    Some(h)
}

fn parse_start_line(line: &[u8]) -> Result<StartLine<'_>, ParseErrorKind> {
    let line = std::str::from_utf8(line).map_err(|_| ParseErrorKind::BadStartLine)?;
    if let Some(rest) = line.strip_prefix("SIP/") {
        let mut it = rest.splitn(3, ' ');
        let (Some(version), Some(code), reason) = (it.next(), it.next(), it.next()) else {
            return Err(ParseErrorKind::BadStartLine);
        };
        check_version(&format!("SIP/{version}"))?;
        let status: u16 = if code.len() == 3 && code.bytes().all(|c| c.is_ascii_digit()) { code.parse().unwrap_or(0) } else { 0 };
        if !(100..700).contains(&status) {
            return Err(ParseErrorKind::BadStartLine);
        }
        let reason = reason.unwrap_or("");
        if reason.bytes().any(|c| c.is_ascii_control() && c != b'\t') {
            return Err(ParseErrorKind::BadStartLine);
        }
        return Ok(StartLine::Response { status, reason });
    }
    let parts: Vec<&str> = line.split(' ').collect();
    let [method, uri, version] = parts[..] else { return Err(ParseErrorKind::BadStartLine) };
    let method = Method::parse(method).ok_or(ParseErrorKind::BadStartLine)?;
    check_version(version)?;
    let uri = Uri::parse_inner(uri).map_err(|e| match e {
        UriError::Syntax(m) => ParseErrorKind::BadUri(m),
        UriError::UnsupportedScheme(s) => ParseErrorKind::UnsupportedScheme(s),
    })?;
    Ok(StartLine::Request { method, uri })
}

/// `SIP/2.0` (case-insensitive) passes; another well-formed version is 505; anything else is 400.
fn check_version(v: &str) -> Result<(), ParseErrorKind> {
    if v.eq_ignore_ascii_case("SIP/2.0") {
        return Ok(());
    }
    let well_formed = v.get(..4).is_some_and(|p| p.eq_ignore_ascii_case("SIP/"))
        && v[4..].split_once('.').is_some_and(|(a, b)| !a.is_empty() && !b.is_empty() && (a.bytes().chain(b.bytes())).all(|c| c.is_ascii_digit()));
    if well_formed { Err(ParseErrorKind::BadVersion(v.to_string())) } else { Err(ParseErrorKind::BadStartLine) }
}
