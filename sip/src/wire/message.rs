//! Owned SIP messages for building and sending (and for handing received
//! messages to the transaction user without borrowing the datagram).

use super::header::{NameAddr, canonical_name, same_name};
use super::{FromHeader, HeaderAccess, Method, SIP_VERSION, Uri};
use std::fmt::Write;

/// An ordered header list; names are stored in their full canonical form
/// when known (compact forms expanded) and looked up case-insensitively.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Headers(Vec<(String, String)>);

impl Headers {
    /// An empty list.
    pub fn new() -> Headers {
        Headers(Vec::new())
    }

    /// Appends a header line.
    pub fn push(&mut self, name: &str, value: impl Into<String>) {
        let name = canonical_name(name).map(str::to_string).unwrap_or_else(|| name.to_string());
        self.0.push((name, value.into()));
    }

    /// Inserts a header line before all others (used for the top Via).
    pub fn push_front(&mut self, name: &str, value: impl Into<String>) {
        let name = canonical_name(name).map(str::to_string).unwrap_or_else(|| name.to_string());
        self.0.insert(0, (name, value.into()));
    }

    /// Replaces the first `name` line (keeping its position) and removes the
    /// others, or appends if there is none.
    pub fn set(&mut self, name: &str, value: impl Into<String>) {
        let value = value.into();
        match self.0.iter().position(|(n, _)| same_name(n, name)) {
            Some(i) => {
                self.0[i].1 = value;
                let mut j = 0;
                self.0.retain(|(n, _)| {
                    j += 1;
                    j - 1 == i || !same_name(n, name)
                });
            }
            None => self.push(name, value),
        }
    }

    /// Removes every `name` line.
    pub fn remove(&mut self, name: &str) {
        self.0.retain(|(n, _)| !same_name(n, name));
    }

    /// Removes the first `name` line and returns its value.
    pub fn remove_first(&mut self, name: &str) -> Option<String> {
        let i = self.0.iter().position(|(n, _)| same_name(n, name))?;
        Some(self.0.remove(i).1)
    }

    /// Every (name, value) line in order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.0.iter().map(|(n, v)| (n.as_str(), v.as_str()))
    }

    /// The number of header lines.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether there are no header lines.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    fn write_to(&self, out: &mut String, body_len: usize) {
        for (n, v) in &self.0 {
            if !same_name(n, "Content-Length") {
                let _ = write!(out, "{n}: {v}\r\n");
            }
        }
        let _ = write!(out, "Content-Length: {body_len}\r\n\r\n");
    }
}

impl HeaderAccess for Headers {
    fn header_lines(&self, name: &str) -> Vec<&str> {
        self.0.iter().filter(|(n, _)| same_name(n, name)).map(|(_, v)| v.as_str()).collect()
    }
}

/// An owned SIP request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    /// The method.
    pub method: Method,
    /// The Request-URI.
    pub uri: Uri,
    /// The headers in order (Content-Length is computed on output).
    pub headers: Headers,
    /// The body.
    pub body: Vec<u8>,
}

impl Request {
    /// A request with no headers and no body.
    pub fn new(method: Method, uri: Uri) -> Request {
        Request { method, uri, headers: Headers::new(), body: Vec::new() }
    }

    /// Builder: appends a header line.
    pub fn with_header(mut self, name: &str, value: impl Into<String>) -> Request {
        self.headers.push(name, value);
        self
    }

    /// Builder: sets the body and its Content-Type.
    pub fn with_body(mut self, content_type: &str, body: impl Into<Vec<u8>>) -> Request {
        self.headers.set("Content-Type", content_type);
        self.body = body.into();
        self
    }

    /// The message as wire bytes; Content-Length always matches the body.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut s = String::with_capacity(256 + self.headers.len() * 48);
        let _ = write!(s, "{} {} {SIP_VERSION}\r\n", self.method, self.uri);
        self.headers.write_to(&mut s, self.body.len());
        let mut out = s.into_bytes();
        out.extend_from_slice(&self.body);
        out
    }
}

impl HeaderAccess for Request {
    fn header_lines(&self, name: &str) -> Vec<&str> {
        self.headers.header_lines(name)
    }
}

/// An owned SIP response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    /// The status code (100–699).
    pub status: u16,
    /// The reason phrase.
    pub reason: String,
    /// The headers in order (Content-Length is computed on output).
    pub headers: Headers,
    /// The body.
    pub body: Vec<u8>,
}

impl Response {
    /// A response with the standard reason phrase, no headers and no body.
    pub fn new(status: u16) -> Response {
        Response { status, reason: reason_phrase(status).to_string(), headers: Headers::new(), body: Vec::new() }
    }

    /// A response to `req` (RFC 3261 §8.2.6.2): copies every Via, From, To,
    /// Call-ID and CSeq (and Record-Route on dialog-creating 101–299 answers
    /// to INVITE/SUBSCRIBE, §12.1.1). `to_tag` is added to To unless To
    /// already has a tag. `reason` defaults to the standard phrase.
    pub fn for_request(req: &impl HeaderAccess, status: u16, reason: Option<&str>, to_tag: Option<&str>) -> Response {
        let mut r = Response::new(status);
        if let Some(reason) = reason {
            r.reason = reason.to_string();
        }
        for v in req.header_lines("Via") {
            r.headers.push("Via", v);
        }
        if let Some(f) = req.header("From") {
            r.headers.push("From", f);
        }
        if let Some(t) = req.header("To") {
            let has_tag = NameAddr::from_header(t).map(|a| a.tag().is_some()).unwrap_or(false);
            match to_tag {
                Some(tag) if !has_tag => r.headers.push("To", format!("{t};tag={tag}")),
                _ => r.headers.push("To", t),
            }
        }
        if let Some(c) = req.header("Call-ID") {
            r.headers.push("Call-ID", c);
        }
        let cseq = req.header("CSeq");
        if let Some(c) = cseq {
            r.headers.push("CSeq", c);
        }
        let dialog_creating = cseq.and_then(|c| c.split_whitespace().nth(1)).is_some_and(|m| m == "INVITE" || m == "SUBSCRIBE");
        if dialog_creating && (101..300).contains(&status) {
            for rr in req.header_lines("Record-Route") {
                r.headers.push("Record-Route", rr);
            }
        }
        r
    }

    /// Builder: appends a header line.
    pub fn with_header(mut self, name: &str, value: impl Into<String>) -> Response {
        self.headers.push(name, value);
        self
    }

    /// Builder: sets the body and its Content-Type.
    pub fn with_body(mut self, content_type: &str, body: impl Into<Vec<u8>>) -> Response {
        self.headers.set("Content-Type", content_type);
        self.body = body.into();
        self
    }

    /// Whether this is a provisional (1xx) response.
    pub fn is_provisional(&self) -> bool {
        self.status < 200
    }

    /// The message as wire bytes; Content-Length always matches the body.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut s = String::with_capacity(256 + self.headers.len() * 48);
        let _ = write!(s, "{SIP_VERSION} {:03} {}\r\n", self.status, self.reason);
        self.headers.write_to(&mut s, self.body.len());
        let mut out = s.into_bytes();
        out.extend_from_slice(&self.body);
        out
    }
}

impl HeaderAccess for Response {
    fn header_lines(&self, name: &str) -> Vec<&str> {
        self.headers.header_lines(name)
    }
}

/// The standard reason phrase for a status code (RFC 3261 §21 and extensions).
pub fn reason_phrase(status: u16) -> &'static str {
    match status {
        100 => "Trying",
        180 => "Ringing",
        181 => "Call Is Being Forwarded",
        182 => "Queued",
        183 => "Session Progress",
        199 => "Early Dialog Terminated",
        200 => "OK",
        202 => "Accepted",
        300 => "Multiple Choices",
        301 => "Moved Permanently",
        302 => "Moved Temporarily",
        305 => "Use Proxy",
        380 => "Alternative Service",
        400 => "Bad Request",
        401 => "Unauthorized",
        402 => "Payment Required",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        406 => "Not Acceptable",
        407 => "Proxy Authentication Required",
        408 => "Request Timeout",
        410 => "Gone",
        413 => "Request Entity Too Large",
        414 => "Request-URI Too Long",
        415 => "Unsupported Media Type",
        416 => "Unsupported URI Scheme",
        420 => "Bad Extension",
        421 => "Extension Required",
        422 => "Session Interval Too Small",
        423 => "Interval Too Brief",
        480 => "Temporarily Unavailable",
        481 => "Call/Transaction Does Not Exist",
        482 => "Loop Detected",
        483 => "Too Many Hops",
        484 => "Address Incomplete",
        485 => "Ambiguous",
        486 => "Busy Here",
        487 => "Request Terminated",
        488 => "Not Acceptable Here",
        491 => "Request Pending",
        493 => "Undecipherable",
        500 => "Server Internal Error",
        501 => "Not Implemented",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Server Time-out",
        505 => "Version Not Supported",
        513 => "Message Too Large",
        600 => "Busy Everywhere",
        603 => "Decline",
        604 => "Does Not Exist Anywhere",
        606 => "Not Acceptable",
        _ => match status / 100 {
            1 => "Session Progress",
            2 => "OK",
            3 => "Redirection",
            4 => "Client Error",
            5 => "Server Error",
            _ => "Global Failure",
        },
    }
}
