//! Typed header values (RFC 3261 §20, §25.1 and the extensions the gateway
//! uses) and the small grammar helpers they share.

use super::uri::{Params, Uri, split_hostport, split_outside_quotes};
use super::{MAGIC_COOKIE, Method, Transport};
use std::fmt;
use std::net::IpAddr;

/// Why a header value did not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HeaderError {
    /// The value breaks the header's grammar; the text says where.
    #[error("bad header value: {0}")]
    Syntax(&'static str),
}

/// A header value type that parses from the text of one header value.
pub trait FromHeader: Sized {
    /// Parses one value (one element of a comma list, or a whole line for
    /// headers that are not lists).
    fn from_header(s: &str) -> Result<Self, HeaderError>;
}

/// Whether `s` is a non-empty RFC 3261 §25.1 `token`.
pub fn is_token(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|c| c.is_ascii_alphanumeric() || b"-.!%*_+`'~".contains(&c))
}

/// Whether `s` is exactly one quoted-string (RFC 3261 §25.1).
pub(crate) fn is_quoted_string(s: &str) -> bool {
    let b = s.as_bytes();
    if b.len() < 2 || b[0] != b'"' {
        return false;
    }
    let mut i = 1;
    while i < b.len() {
        match b[i] {
            b'\\' => {
                if i + 1 >= b.len() || b[i + 1] > 0x7f || b[i + 1] == b'\n' || b[i + 1] == b'\r' {
                    return false;
                }
                i += 2;
                continue;
            }
            b'"' => return i == b.len() - 1,
            b'\r' | b'\n' => return false,
            _ => {}
        }
        i += 1;
    }
    false
}

/// Strips the quotes and backslash escapes of a quoted-string; other text is returned trimmed.
pub fn unquote(s: &str) -> String {
    let s = s.trim();
    match s.strip_prefix('"').and_then(|x| x.strip_suffix('"')) {
        Some(inner) => {
            let mut out = String::with_capacity(inner.len());
            let mut esc = false;
            for c in inner.chars() {
                if esc || c != '\\' {
                    out.push(c);
                    esc = false;
                } else {
                    esc = true;
                }
            }
            out
        }
        None => s.to_string(),
    }
}

/// Quotes `s` as a quoted-string, escaping `"` and `\`.
pub(crate) fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        if c == '"' || c == '\\' {
            out.push('\\');
        }
        if c != '\r' && c != '\n' {
            out.push(c);
        }
    }
    out.push('"');
    out
}

/// Splits a comma-separated header value into its elements, ignoring
/// commas inside quotes, `<...>` and `(comments)`; elements are trimmed.
/// An empty element (`a,,b`) is an error.
pub fn split_list(s: &str) -> Result<Vec<&str>, HeaderError> {
    let b = s.as_bytes();
    let mut out = Vec::new();
    let (mut start, mut quoted, mut angle, mut paren, mut i) = (0, false, false, 0u32, 0);
    while i < b.len() {
        match b[i] {
            b'\\' if quoted => i += 1,
            b'"' if !angle => quoted = !quoted,
            b'<' if !quoted => angle = true,
            b'>' if !quoted => angle = false,
            b'(' if !quoted && !angle => paren += 1,
            b')' if !quoted && !angle => paren = paren.saturating_sub(1),
            b',' if !quoted && !angle && paren == 0 => {
                out.push(s[start..i].trim());
                start = i + 1;
            }
            _ => {}
        }
        i += 1;
    }
    if quoted || angle {
        return Err(HeaderError::Syntax("unterminated quote or angle bracket"));
    }
    out.push(s[start.min(s.len())..].trim());
    if out.iter().any(|e| e.is_empty()) {
        return Err(HeaderError::Syntax("empty list element"));
    }
    Ok(out)
}

/// The full, canonically-cased name of a known header (compact forms
/// expanded, RFC 3261 §7.3.3 and the IANA registry), or `None` if unknown.
pub fn canonical_name(name: &str) -> Option<&'static str> {
    const COMPACT: &[(&str, &str)] = &[
        ("i", "Call-ID"),
        ("m", "Contact"),
        ("e", "Content-Encoding"),
        ("l", "Content-Length"),
        ("c", "Content-Type"),
        ("f", "From"),
        ("s", "Subject"),
        ("k", "Supported"),
        ("t", "To"),
        ("v", "Via"),
        ("o", "Event"),
        ("r", "Refer-To"),
        ("b", "Referred-By"),
        ("u", "Allow-Events"),
        ("x", "Session-Expires"),
        ("a", "Accept-Contact"),
        ("j", "Reject-Contact"),
        ("d", "Request-Disposition"),
    ];
    const KNOWN: &[&str] = &[
        "Accept",
        "Accept-Contact",
        "Accept-Encoding",
        "Accept-Language",
        "Alert-Info",
        "Allow",
        "Allow-Events",
        "Authorization",
        "Call-ID",
        "Call-Info",
        "Contact",
        "Content-Disposition",
        "Content-Encoding",
        "Content-Language",
        "Content-Length",
        "Content-Type",
        "CSeq",
        "Date",
        "Diversion",
        "Error-Info",
        "Event",
        "Expires",
        "From",
        "History-Info",
        "In-Reply-To",
        "Max-Forwards",
        "Min-Expires",
        "Min-SE",
        "MIME-Version",
        "Organization",
        "P-Asserted-Identity",
        "P-Preferred-Identity",
        "Priority",
        "Privacy",
        "Proxy-Authenticate",
        "Proxy-Authorization",
        "Proxy-Require",
        "RAck",
        "Reason",
        "Record-Route",
        "Refer-To",
        "Referred-By",
        "Reject-Contact",
        "Reply-To",
        "Request-Disposition",
        "Require",
        "Retry-After",
        "Route",
        "RSeq",
        "Server",
        "Session-Expires",
        "Subject",
        "Subscription-State",
        "Supported",
        "Timestamp",
        "To",
        "Unsupported",
        "User-Agent",
        "Via",
        "Warning",
        "WWW-Authenticate",
    ];
    if name.len() == 1 {
        return COMPACT.iter().find(|(c, _)| c.eq_ignore_ascii_case(name)).map(|(_, f)| *f);
    }
    KNOWN.iter().find(|k| k.eq_ignore_ascii_case(name)).copied()
}

/// Whether two header names denote the same header (case and compact forms ignored).
pub(crate) fn same_name(a: &str, b: &str) -> bool {
    if a.eq_ignore_ascii_case(b) {
        return true;
    }
    match (canonical_name(a), canonical_name(b)) {
        (Some(x), Some(y)) => x == y,
        _ => false,
    }
}

impl FromHeader for String {
    fn from_header(s: &str) -> Result<Self, HeaderError> {
        let s = s.trim();
        if s.is_empty() {
            return Err(HeaderError::Syntax("empty value"));
        }
        Ok(s.to_string())
    }
}

impl FromHeader for u32 {
    fn from_header(s: &str) -> Result<Self, HeaderError> {
        parse_u32(s.trim())
    }
}

fn parse_u32(s: &str) -> Result<u32, HeaderError> {
    if s.is_empty() || s.len() > 10 || !s.bytes().all(|c| c.is_ascii_digit()) {
        return Err(HeaderError::Syntax("expected a decimal number"));
    }
    s.parse().map_err(|_| HeaderError::Syntax("number out of range"))
}

impl FromHeader for Uri {
    fn from_header(s: &str) -> Result<Self, HeaderError> {
        Uri::parse(s.trim())
    }
}

/// A name-addr or addr-spec with header parameters: the value of From, To,
/// Contact, Route, Record-Route, P-Asserted-Identity, Diversion, History-Info...
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NameAddr {
    /// The display name, unquoted.
    pub display: Option<String>,
    /// The URI.
    pub uri: Uri,
    /// Header parameters after the URI (`tag`, `expires`, `reason`, `counter`...).
    pub params: Params,
}

impl NameAddr {
    /// A name-addr with no display name and no parameters.
    pub fn new(uri: Uri) -> NameAddr {
        NameAddr { display: None, uri, params: Params::new() }
    }

    /// The `tag` parameter (dialog identification, RFC 3261 §19.3).
    pub fn tag(&self) -> Option<&str> {
        self.params.get("tag").flatten()
    }

    /// Sets the `tag` parameter.
    pub fn set_tag(&mut self, tag: &str) {
        self.params.set("tag", Some(tag));
    }

    /// Builder form of [`NameAddr::set_tag`].
    pub fn with_tag(mut self, tag: &str) -> NameAddr {
        self.set_tag(tag);
        self
    }

    /// Builder form setting the display name.
    pub fn with_display(mut self, display: &str) -> NameAddr {
        self.display = Some(display.to_string());
        self
    }
}

impl FromHeader for NameAddr {
    fn from_header(s: &str) -> Result<Self, HeaderError> {
        let s = s.trim();
        let (display, uri_text, rest) = if s.starts_with('"') || s.contains('<') {
            let (display, after) = if s.starts_with('"') {
                let end = quoted_end(s).ok_or(HeaderError::Syntax("unterminated display name"))?;
                (Some(unquote(&s[..end])), s[end..].trim_start())
            } else {
                let lt = s.find('<').unwrap_or(0);
                let d = s[..lt].trim();
                if !d.is_empty() && !d.split_whitespace().all(is_token) {
                    return Err(HeaderError::Syntax("bad display name"));
                }
                (if d.is_empty() { None } else { Some(d.to_string()) }, &s[lt..])
            };
            let inner = after.strip_prefix('<').ok_or(HeaderError::Syntax("expected '<'"))?;
            let gt = inner.find('>').ok_or(HeaderError::Syntax("expected '>'"))?;
            (display, &inner[..gt], &inner[gt + 1..])
        } else {
            match s.find(';') {
                Some(i) => (None, &s[..i], &s[i..]),
                None => (None, s, ""),
            }
        };
        let uri = Uri::parse(uri_text.trim())?;
        let params = Params::parse(rest, true)?;
        Ok(NameAddr { display, uri, params })
    }
}

/// Index just past the closing quote of the quoted-string at the start of `s`.
fn quoted_end(s: &str) -> Option<usize> {
    let b = s.as_bytes();
    let mut i = 1;
    while i < b.len() {
        match b[i] {
            b'\\' => i += 1,
            b'"' => return Some(i + 1),
            _ => {}
        }
        i += 1;
    }
    None
}

impl fmt::Display for NameAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(d) = &self.display {
            write!(f, "{} ", quote(d))?;
        }
        write!(f, "<{}>{}", self.uri, self.params)
    }
}

/// One Contact value: `*` (in REGISTER, remove all bindings) or an address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Contact {
    /// `Contact: *`
    Star,
    /// A contact address with its parameters (`expires`, `q`...).
    Addr(NameAddr),
}

impl Contact {
    /// The `expires` parameter of an address contact.
    pub fn expires(&self) -> Option<u32> {
        match self {
            Contact::Addr(a) => a.params.get("expires").flatten().and_then(|v| parse_u32(v).ok()),
            Contact::Star => None,
        }
    }
}

impl FromHeader for Contact {
    fn from_header(s: &str) -> Result<Self, HeaderError> {
        if s.trim() == "*" { Ok(Contact::Star) } else { NameAddr::from_header(s).map(Contact::Addr) }
    }
}

impl fmt::Display for Contact {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Contact::Star => f.write_str("*"),
            Contact::Addr(a) => a.fmt(f),
        }
    }
}

/// One Via value (RFC 3261 §20.42, §18.2.1; `rport` from RFC 3581).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Via {
    /// The transport token, upper-cased (`UDP`, `TCP`, `TLS`, or another token).
    pub transport: String,
    /// The sent-by host.
    pub host: String,
    /// The sent-by port, if given.
    pub port: Option<u16>,
    /// Via parameters (`branch`, `received`, `rport`, `maddr`, `ttl`...).
    pub params: Params,
}

impl Via {
    /// A Via for `transport` from `host[:port]` with the given branch.
    pub fn new(transport: Transport, host: &str, port: Option<u16>, branch: &str) -> Via {
        let mut params = Params::new();
        params.set("branch", Some(branch));
        Via { transport: transport.as_str().to_string(), host: host.to_string(), port, params }
    }

    /// The branch parameter.
    pub fn branch(&self) -> Option<&str> {
        self.params.get("branch").flatten()
    }

    /// Whether the branch starts with the RFC 3261 magic cookie.
    pub fn is_rfc3261_branch(&self) -> bool {
        self.branch().is_some_and(|b| b.starts_with(MAGIC_COOKIE))
    }

    /// The `received` parameter as an address.
    pub fn received(&self) -> Option<IpAddr> {
        self.params.get("received").flatten().and_then(|r| r.trim_start_matches('[').trim_end_matches(']').parse().ok())
    }

    /// The `rport` parameter: `Some(None)` when requested but not yet filled (RFC 3581).
    pub fn rport(&self) -> Option<Option<u16>> {
        self.params.get("rport").map(|v| v.and_then(|p| p.parse().ok()))
    }

    /// The transport, if it is one we know.
    pub fn transport(&self) -> Option<Transport> {
        Transport::parse(&self.transport)
    }

    /// `host[:port]`, the sent-by used for transaction matching.
    pub fn sent_by(&self) -> String {
        match self.port {
            Some(p) => format!("{}:{p}", self.host.to_ascii_lowercase()),
            None => self.host.to_ascii_lowercase(),
        }
    }
}

impl FromHeader for Via {
    fn from_header(s: &str) -> Result<Self, HeaderError> {
        let mut parts = s.splitn(3, '/');
        let (Some(name), Some(version), Some(rest)) = (parts.next(), parts.next(), parts.next()) else {
            return Err(HeaderError::Syntax("Via without sent-protocol"));
        };
        if !name.trim().eq_ignore_ascii_case("SIP") || version.trim() != "2.0" {
            return Err(HeaderError::Syntax("Via protocol is not SIP/2.0"));
        }
        let rest = rest.trim_start();
        let tend = rest.find(|c: char| c.is_ascii_whitespace()).ok_or(HeaderError::Syntax("Via without sent-by"))?;
        let transport = &rest[..tend];
        if !is_token(transport) {
            return Err(HeaderError::Syntax("bad Via transport"));
        }
        let rest = rest[tend..].trim_start();
        let (hostport, params) = match rest.find(';') {
            Some(i) => (rest[..i].trim_end(), &rest[i..]),
            None => (rest.trim_end(), ""),
        };
        let (host, port) = split_hostport(hostport).ok_or(HeaderError::Syntax("bad Via sent-by"))?;
        let params = Params::parse(params, false)?;
        if let Some(b) = params.get("branch") {
            if !b.is_some_and(is_token) {
                return Err(HeaderError::Syntax("bad Via branch"));
            }
        }
        if let Some(r) = params.get("received") {
            let r = r.ok_or(HeaderError::Syntax("empty received"))?;
            if r.trim_start_matches('[').trim_end_matches(']').parse::<IpAddr>().is_err() {
                return Err(HeaderError::Syntax("bad Via received"));
            }
        }
        if let Some(Some(p)) = params.get("rport") {
            if p.parse::<u16>().is_err() {
                return Err(HeaderError::Syntax("bad Via rport"));
            }
        }
        Ok(Via { transport: transport.to_ascii_uppercase(), host: host.to_string(), port, params })
    }
}

impl fmt::Display for Via {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SIP/2.0/{} {}", self.transport, self.host)?;
        if let Some(p) = self.port {
            write!(f, ":{p}")?;
        }
        write!(f, "{}", self.params)
    }
}

/// The CSeq header: sequence number and method (RFC 3261 §20.16).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CSeq {
    /// The sequence number (below 2^31).
    pub seq: u32,
    /// The method.
    pub method: Method,
}

impl FromHeader for CSeq {
    fn from_header(s: &str) -> Result<Self, HeaderError> {
        let mut it = s.split_whitespace();
        let (Some(n), Some(m), None) = (it.next(), it.next(), it.next()) else {
            return Err(HeaderError::Syntax("CSeq is not 'number method'"));
        };
        let seq = parse_u32(n)?;
        if seq >= 1 << 31 {
            return Err(HeaderError::Syntax("CSeq number too large"));
        }
        Ok(CSeq { seq, method: Method::parse(m).ok_or(HeaderError::Syntax("bad CSeq method"))? })
    }
}

impl fmt::Display for CSeq {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.seq, self.method)
    }
}

/// The RAck header of a PRACK (RFC 3262 §7.2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RAck {
    /// The RSeq of the provisional response being acknowledged.
    pub rseq: u32,
    /// The CSeq number of the INVITE.
    pub cseq: u32,
    /// The CSeq method (INVITE).
    pub method: Method,
}

impl FromHeader for RAck {
    fn from_header(s: &str) -> Result<Self, HeaderError> {
        let mut it = s.split_whitespace();
        let (Some(r), Some(c), Some(m), None) = (it.next(), it.next(), it.next(), it.next()) else {
            return Err(HeaderError::Syntax("RAck is not 'rseq cseq method'"));
        };
        Ok(RAck { rseq: parse_u32(r)?, cseq: parse_u32(c)?, method: Method::parse(m).ok_or(HeaderError::Syntax("bad RAck method"))? })
    }
}

impl fmt::Display for RAck {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {} {}", self.rseq, self.cseq, self.method)
    }
}

/// Which side refreshes a session timer (RFC 4028 §4).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refresher {
    /// The caller (the side that sent the INVITE).
    Uac,
    /// The callee.
    Uas,
}

/// The Session-Expires header (RFC 4028 §4); Min-SE parses to the same
/// type with no refresher.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionExpires {
    /// The interval in seconds.
    pub delta: u32,
    /// The refresher, if named.
    pub refresher: Option<Refresher>,
}

impl FromHeader for SessionExpires {
    fn from_header(s: &str) -> Result<Self, HeaderError> {
        let s = s.trim();
        let (d, params) = match s.find(';') {
            Some(i) => (s[..i].trim(), &s[i..]),
            None => (s, ""),
        };
        let params = Params::parse(params, true)?;
        let refresher = match params.get("refresher") {
            None => None,
            Some(Some(r)) if r.eq_ignore_ascii_case("uac") => Some(Refresher::Uac),
            Some(Some(r)) if r.eq_ignore_ascii_case("uas") => Some(Refresher::Uas),
            _ => return Err(HeaderError::Syntax("bad refresher")),
        };
        Ok(SessionExpires { delta: parse_u32(d)?, refresher })
    }
}

impl fmt::Display for SessionExpires {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.delta)?;
        match self.refresher {
            Some(Refresher::Uac) => f.write_str(";refresher=uac"),
            Some(Refresher::Uas) => f.write_str(";refresher=uas"),
            None => Ok(()),
        }
    }
}

/// One Reason value (RFC 3326), e.g. `Q.850;cause=16;text="Normal call clearing"`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reason {
    /// The protocol: `SIP`, `Q.850` or another token.
    pub protocol: String,
    /// The cause code.
    pub cause: Option<u16>,
    /// The text, unquoted.
    pub text: Option<String>,
}

impl Reason {
    /// A Q.850 reason with cause and optional text.
    pub fn q850(cause: u16, text: Option<&str>) -> Reason {
        Reason { protocol: "Q.850".into(), cause: Some(cause), text: text.map(str::to_string) }
    }
}

impl FromHeader for Reason {
    fn from_header(s: &str) -> Result<Self, HeaderError> {
        let s = s.trim();
        let (p, params) = match s.find(';') {
            Some(i) => (s[..i].trim(), &s[i..]),
            None => (s, ""),
        };
        if !is_token(p) {
            return Err(HeaderError::Syntax("bad Reason protocol"));
        }
        let params = Params::parse(params, true)?;
        let cause = match params.get("cause") {
            None => None,
            Some(Some(c)) => Some(c.parse::<u16>().map_err(|_| HeaderError::Syntax("bad Reason cause"))?),
            Some(None) => return Err(HeaderError::Syntax("bad Reason cause")),
        };
        Ok(Reason { protocol: p.to_string(), cause, text: params.get_unquoted("text") })
    }
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.protocol)?;
        if let Some(c) = self.cause {
            write!(f, ";cause={c}")?;
        }
        if let Some(t) = &self.text {
            write!(f, ";text={}", quote(t))?;
        }
        Ok(())
    }
}

/// The Retry-After header (RFC 3261 §20.33).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetryAfter {
    /// Seconds to wait.
    pub delta: u32,
    /// The `duration` parameter, if any.
    pub duration: Option<u32>,
}

impl FromHeader for RetryAfter {
    fn from_header(s: &str) -> Result<Self, HeaderError> {
        let s = s.trim();
        let dend = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
        let delta = parse_u32(&s[..dend])?;
        let mut rest = s[dend..].trim_start();
        if rest.starts_with('(') {
            let close = rest.find(')').ok_or(HeaderError::Syntax("unterminated comment"))?;
            rest = rest[close + 1..].trim_start();
        }
        let params = Params::parse(rest, true)?;
        let duration = params.get("duration").flatten().map(parse_u32).transpose()?;
        Ok(RetryAfter { delta, duration })
    }
}

impl fmt::Display for RetryAfter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.delta)?;
        if let Some(d) = self.duration {
            write!(f, ";duration={d}")?;
        }
        Ok(())
    }
}

/// An authentication challenge or credentials header: a scheme and its
/// comma-separated parameters (WWW-Authenticate, Proxy-Authenticate,
/// Authorization, Proxy-Authorization; RFC 3261 §20.27, RFC 7616 §3.3).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthParams {
    /// The scheme, e.g. `Digest`.
    pub scheme: String,
    /// (name, unquoted value, was-quoted) in order.
    pub params: Vec<(String, String, bool)>,
}

impl AuthParams {
    /// A parameter list for `scheme` with no parameters.
    pub fn new(scheme: &str) -> AuthParams {
        AuthParams { scheme: scheme.to_string(), params: Vec::new() }
    }

    /// The unquoted value of parameter `name`.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.params.iter().find(|(n, _, _)| n.eq_ignore_ascii_case(name)).map(|(_, v, _)| v.as_str())
    }

    /// Appends a parameter, quoted or as a bare token.
    pub fn push(&mut self, name: &str, value: &str, quoted: bool) {
        self.params.push((name.to_string(), value.to_string(), quoted));
    }
}

impl FromHeader for AuthParams {
    fn from_header(s: &str) -> Result<Self, HeaderError> {
        let s = s.trim();
        let (scheme, rest) = s.split_once(|c: char| c.is_ascii_whitespace()).unwrap_or((s, ""));
        if !is_token(scheme) {
            return Err(HeaderError::Syntax("bad auth scheme"));
        }
        let mut out = AuthParams::new(scheme);
        if rest.trim().is_empty() {
            return Ok(out);
        }
        for item in split_outside_quotes(rest, b',') {
            let (n, v) = item.split_once('=').ok_or(HeaderError::Syntax("auth parameter without '='"))?;
            let (n, v) = (n.trim(), v.trim());
            if !is_token(n) {
                return Err(HeaderError::Syntax("bad auth parameter name"));
            }
            let quoted = v.starts_with('"');
            if quoted && !is_quoted_string(v) || !quoted && !is_token(v) {
                return Err(HeaderError::Syntax("bad auth parameter value"));
            }
            out.params.push((n.to_string(), unquote(v), quoted));
        }
        Ok(out)
    }
}

impl fmt::Display for AuthParams {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.scheme)?;
        for (i, (n, v, q)) in self.params.iter().enumerate() {
            let sep = if i == 0 { " " } else { ", " };
            if *q { write!(f, "{sep}{n}={}", quote(v))? } else { write!(f, "{sep}{n}={v}")? }
        }
        Ok(())
    }
}

/// A Diversion value (RFC 5806): the address a call was diverted from,
/// why (`reason`, e.g. `user-busy`, `no-answer`, `unconditional`) and how
/// many times (`counter`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diversion {
    /// The diverting address (its URI carries the number).
    pub addr: NameAddr,
    /// The `reason` parameter, unquoted.
    pub reason: Option<String>,
    /// The `counter` parameter.
    pub counter: Option<u32>,
}

impl Diversion {
    /// A Diversion for `uri` with a reason and counter.
    pub fn new(uri: Uri, reason: &str, counter: u32) -> Diversion {
        Diversion { addr: NameAddr::new(uri), reason: Some(reason.to_string()), counter: Some(counter) }
    }
}

impl FromHeader for Diversion {
    fn from_header(s: &str) -> Result<Self, HeaderError> {
        let addr = NameAddr::from_header(s)?;
        let reason = addr.params.get_unquoted("reason");
        let counter = addr.params.get("counter").flatten().map(parse_u32).transpose()?;
        Ok(Diversion { addr, reason, counter })
    }
}

impl fmt::Display for Diversion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut a = self.addr.clone();
        if let Some(r) = &self.reason {
            let v = if is_token(r) { r.clone() } else { quote(r) };
            a.params.set("reason", Some(&v));
        }
        if let Some(c) = self.counter {
            a.params.set("counter", Some(&c.to_string()));
        }
        a.fmt(f)
    }
}

/// One History-Info entry (RFC 7044): a target, its `index`, and the cause
/// that moved the call on from it (RFC 4458 `cause` URI parameter, or a
/// `Reason` header embedded in the URI).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HistoryInfo {
    /// The target (its URI carries the number).
    pub addr: NameAddr,
    /// The `index` parameter, e.g. `1.1`.
    pub index: Option<String>,
    /// The cause code, if any.
    pub cause: Option<u16>,
}

impl FromHeader for HistoryInfo {
    fn from_header(s: &str) -> Result<Self, HeaderError> {
        let addr = NameAddr::from_header(s)?;
        let index = addr.params.get("index").flatten().map(str::to_string);
        let from_param = addr.uri.params.get("cause").flatten().and_then(|c| c.parse().ok());
        let from_reason = addr
            .uri
            .headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case("Reason"))
            .and_then(|(_, v)| Reason::from_header(&super::uri::percent_decode(v)).ok())
            .and_then(|r| r.cause);
        Ok(HistoryInfo { addr, index, cause: from_param.or(from_reason) })
    }
}

/// The values of a Privacy header (RFC 3323 §4.2: `id`, `header`,
/// `session`, `user`, `none`, `critical`, separated by `;`), lower-cased.
pub fn privacy_values(s: &str) -> Vec<String> {
    s.split(';').map(|v| v.trim().to_ascii_lowercase()).filter(|v| !v.is_empty()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn name_addr_forms_parse_with_display_and_tag() {
        let a = NameAddr::from_header("\"Bob \\\"B\\\" Smith\" <sip:bob@example.com>;tag=abc").unwrap();
        assert_eq!(a.display.as_deref(), Some("Bob \"B\" Smith"));
        assert_eq!(a.tag(), Some("abc"));
        let b = NameAddr::from_header("Bob Smith <sip:bob@example.com;transport=udp>").unwrap();
        assert_eq!(b.display.as_deref(), Some("Bob Smith"));
        assert_eq!(b.uri.params.get("transport"), Some(Some("udp")));
        let c = NameAddr::from_header("sip:bob@example.com;tag=xyz").unwrap();
        assert_eq!(c.tag(), Some("xyz"));
        assert!(c.uri.params.0.is_empty());
        let again = NameAddr::from_header(&a.to_string()).unwrap();
        assert_eq!(again, a);
    }

    #[test]
    fn via_with_lws_in_protocol_and_params() {
        let v = Via::from_header("SIP / 2.0 / udp  192.0.2.1:5062 ;branch=z9hG4bK776;rport;received=192.0.2.9").unwrap();
        assert_eq!(v.transport, "UDP");
        assert_eq!(v.port, Some(5062));
        assert_eq!(v.branch(), Some("z9hG4bK776"));
        assert_eq!(v.rport(), Some(None));
        assert_eq!(v.received(), Some("192.0.2.9".parse().unwrap()));
        assert!(v.is_rfc3261_branch());
        assert!(Via::from_header("SIP/3.0/UDP host").is_err());
        assert!(Via::from_header("SIP/2.0/UDP host;received=nothost").is_err());
    }

    #[test]
    fn list_split_respects_quotes_and_brackets() {
        let l = split_list("<sip:x@y;p=1,2>, <sip:z@w>").unwrap();
        assert_eq!(l, vec!["<sip:x@y;p=1,2>", "<sip:z@w>"]);
        assert_eq!(split_list("\"a, b <sip:x@y>"), Err(HeaderError::Syntax("unterminated quote or angle bracket")));
        let l = split_list("\"a, b\" <sip:x@y>, <sip:z@w>").unwrap();
        assert_eq!(l, vec!["\"a, b\" <sip:x@y>", "<sip:z@w>"]);
        assert!(split_list("a,,b").is_err());
    }

    #[test]
    fn reason_session_expires_rack_and_auth_parse() {
        let r = Reason::from_header("Q.850 ;cause=16 ;text=\"Normal call clearing\"").unwrap();
        assert_eq!((r.protocol.as_str(), r.cause, r.text.as_deref()), ("Q.850", Some(16), Some("Normal call clearing")));
        assert_eq!(Reason::from_header(&r.to_string()).unwrap(), r);
        let se = SessionExpires::from_header("1800;refresher=uas").unwrap();
        assert_eq!(se, SessionExpires { delta: 1800, refresher: Some(Refresher::Uas) });
        let ra = RAck::from_header("776656 1 INVITE").unwrap();
        assert_eq!((ra.rseq, ra.cseq, ra.method), (776656, 1, Method::Invite));
        let a = AuthParams::from_header("Digest realm=\"a, b\", nonce=\"n\", algorithm=MD5, qop=\"auth,auth-int\"").unwrap();
        assert_eq!(a.get("realm"), Some("a, b"));
        assert_eq!(a.get("algorithm"), Some("MD5"));
        assert_eq!(AuthParams::from_header(&a.to_string()).unwrap(), a);
        assert_eq!(RetryAfter::from_header("120 (I'm in a meeting);duration=60").unwrap(), RetryAfter { delta: 120, duration: Some(60) });
    }

    #[test]
    fn diversion_history_info_and_privacy_carry_number_reason_counter() {
        let d = Diversion::from_header("<sip:+15551000@pbx.example.com;user=phone>;reason=user-busy;counter=2;privacy=off").unwrap();
        assert_eq!(d.addr.uri.number().as_deref(), Some("+15551000"));
        assert_eq!((d.reason.as_deref(), d.counter), (Some("user-busy"), Some(2)));
        assert_eq!(Diversion::from_header(&d.to_string()).unwrap(), d);
        let built = Diversion::new(Uri::parse("tel:+15552000").unwrap(), "no-answer", 1).to_string();
        assert_eq!(built, "<tel:+15552000>;reason=no-answer;counter=1");
        let h = HistoryInfo::from_header("<sip:bob@example.com?Reason=SIP%3Bcause%3D302>;index=1.1").unwrap();
        assert_eq!((h.index.as_deref(), h.cause), (Some("1.1"), Some(302)));
        let h = HistoryInfo::from_header("<sip:+15553000@example.com;cause=486>;index=1.2").unwrap();
        assert_eq!(h.cause, Some(486));
        assert_eq!(privacy_values("id; Header ;user"), vec!["id", "header", "user"]);
    }

    #[test]
    fn compact_names_expand() {
        assert_eq!(canonical_name("i"), Some("Call-ID"));
        assert_eq!(canonical_name("V"), Some("Via"));
        assert_eq!(canonical_name("call-id"), Some("Call-ID"));
        assert!(same_name("l", "content-length"));
        assert!(!same_name("X-Foo", "Via"));
    }
}
