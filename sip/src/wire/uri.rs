//! SIP, SIPS and tel URIs (RFC 3261 §19.1, §25.1; RFC 3966).

use super::header::HeaderError;
use std::fmt;

/// A URI scheme the gateway accepts; anything else is answered 416 (RFC 3261 §8.2.2.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Scheme {
    /// `sip:`
    Sip,
    /// `sips:` (TLS end to end).
    Sips,
    /// `tel:` (RFC 3966), a telephone number without a host.
    Tel,
}

impl Scheme {
    /// The scheme name without the colon.
    pub fn as_str(self) -> &'static str {
        match self {
            Scheme::Sip => "sip",
            Scheme::Sips => "sips",
            Scheme::Tel => "tel",
        }
    }
}

/// An ordered `;name[=value]` parameter list (URI or header parameters).
///
/// Names compare case-insensitively. Values are kept as written (quoted
/// strings keep their quotes) so that emitting reproduces the input; use
/// [`Params::get_unquoted`] for the text inside quotes.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Params(pub Vec<(String, Option<String>)>);

impl Params {
    /// An empty list.
    pub fn new() -> Params {
        Params(Vec::new())
    }

    /// The raw value of `name`: `Some(None)` for a flag parameter without a value.
    pub fn get(&self, name: &str) -> Option<Option<&str>> {
        self.0.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_deref())
    }

    /// The value of `name` with surrounding quotes and escapes removed.
    pub fn get_unquoted(&self, name: &str) -> Option<String> {
        self.get(name).flatten().map(super::header::unquote)
    }

    /// Whether `name` is present (with or without a value).
    pub fn contains(&self, name: &str) -> bool {
        self.get(name).is_some()
    }

    /// Sets `name` (replacing an existing one in place, else appending).
    pub fn set(&mut self, name: &str, value: Option<&str>) {
        let value = value.map(str::to_string);
        if let Some(slot) = self.0.iter_mut().find(|(n, _)| n.eq_ignore_ascii_case(name)) {
            slot.1 = value;
        } else {
            self.0.push((name.to_string(), value));
        }
    }

    /// Removes every `name`.
    pub fn remove(&mut self, name: &str) {
        self.0.retain(|(n, _)| !n.eq_ignore_ascii_case(name));
    }

    /// Parses `;a=b;c` (the text after the leading element, starting at a `;`
    /// or empty). `value_ok` validates each value.
    pub(crate) fn parse(s: &str, allow_quoted: bool) -> Result<Params, HeaderError> {
        let mut out = Params::new();
        let s = s.trim();
        if s.is_empty() {
            return Ok(out);
        }
        let Some(rest) = s.strip_prefix(';') else {
            return Err(HeaderError::Syntax("expected ';' before parameter"));
        };
        for part in split_outside_quotes(rest, b';') {
            let part = part.trim();
            let (name, value) = match part.split_once('=') {
                Some((n, v)) => (n.trim(), Some(v.trim())),
                None => (part, None),
            };
            if !super::is_token(name) {
                return Err(HeaderError::Syntax("bad parameter name"));
            }
            if let Some(v) = value {
                let ok = if v.starts_with('"') { allow_quoted && super::header::is_quoted_string(v) } else { is_param_value(v) };
                if !ok {
                    return Err(HeaderError::Syntax("bad parameter value"));
                }
            }
            out.0.push((name.to_string(), value.map(str::to_string)));
        }
        Ok(out)
    }
}

impl fmt::Display for Params {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (n, v) in &self.0 {
            match v {
                Some(v) => write!(f, ";{n}={v}")?,
                None => write!(f, ";{n}")?,
            }
        }
        Ok(())
    }
}

/// Splits at `sep` outside double quotes (backslash escapes honoured).
pub(crate) fn split_outside_quotes(s: &str, sep: u8) -> Vec<&str> {
    let b = s.as_bytes();
    let mut out = Vec::new();
    let (mut start, mut quoted, mut i) = (0, false, 0);
    while i < b.len() {
        match b[i] {
            b'\\' if quoted => i += 1,
            b'"' => quoted = !quoted,
            c if c == sep && !quoted => {
                out.push(&s[start..i]);
                start = i + 1;
            }
            _ => {}
        }
        i += 1;
    }
    out.push(&s[start.min(s.len())..]);
    out
}

/// A SIP/SIPS or tel URI.
///
/// Components are kept in their escaped wire form, so `to_string()` of a
/// parsed URI gives back equivalent text. For `tel:` URIs the number is in
/// `user` and `host` is empty.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Uri {
    /// The scheme.
    pub scheme: Scheme,
    /// The user part (or telephone number), escaped as on the wire.
    pub user: Option<String>,
    /// The password in the userinfo (deprecated but legal).
    pub password: Option<String>,
    /// Host name, IPv4 address or bracketed IPv6 reference (empty for tel).
    pub host: String,
    /// Port, if given.
    pub port: Option<u16>,
    /// URI parameters (`transport`, `user=phone`, `lr`, `maddr`...).
    pub params: Params,
    /// URI headers after `?`, as (name, value) escaped pairs.
    pub headers: Vec<(String, String)>,
}

/// Why a URI's scheme was refused: either no scheme at all (400) or one we do not serve (416).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum UriError {
    /// The text has no `scheme:` prefix, or it is malformed.
    Syntax(&'static str),
    /// A well-formed but unsupported scheme (e.g. `http:`, `mailto:`).
    UnsupportedScheme(String),
}

impl Uri {
    /// A `sip:user@host[:port]` URI with no parameters.
    pub fn sip(user: Option<&str>, host: &str, port: Option<u16>) -> Uri {
        Uri { scheme: Scheme::Sip, user: user.map(str::to_string), password: None, host: host.to_string(), port, params: Params::new(), headers: Vec::new() }
    }

    /// Parses a URI; any failure is a [`HeaderError`].
    pub fn parse(s: &str) -> Result<Uri, HeaderError> {
        Uri::parse_inner(s).map_err(|e| match e {
            UriError::Syntax(m) => HeaderError::Syntax(m),
            UriError::UnsupportedScheme(_) => HeaderError::Syntax("unsupported URI scheme"),
        })
    }

    /// Parses with the 400/416 distinction kept.
    pub(crate) fn parse_inner(s: &str) -> Result<Uri, UriError> {
        let (scheme, rest) = s.split_once(':').ok_or(UriError::Syntax("URI without scheme"))?;
        let sb = scheme.as_bytes();
        if sb.is_empty() || !sb[0].is_ascii_alphabetic() || !sb.iter().all(|c| c.is_ascii_alphanumeric() || b"+-.".contains(c)) {
            return Err(UriError::Syntax("URI without scheme"));
        }
        let scheme = match scheme.to_ascii_lowercase().as_str() {
            "sip" => Scheme::Sip,
            "sips" => Scheme::Sips,
            "tel" => Scheme::Tel,
            _ => return Err(UriError::UnsupportedScheme(scheme.to_string())),
        };
        if rest.bytes().any(|c| c <= b' ' || c >= 0x7f) {
            return Err(UriError::Syntax("whitespace or non-ASCII in URI"));
        }
        if scheme == Scheme::Tel {
            let (number, params) = match rest.find(';') {
                Some(i) => (&rest[..i], &rest[i..]),
                None => (rest, ""),
            };
            let nb = number.as_bytes();
            let global = nb.first() == Some(&b'+');
            let digits = if global { &nb[1..] } else { nb };
            if digits.is_empty() || !digits.iter().all(|c| c.is_ascii_hexdigit() || b"*#-.()pPwW".contains(c)) {
                return Err(UriError::Syntax("bad tel number"));
            }
            let params = Params::parse(params, false).map_err(|_| UriError::Syntax("bad tel parameter"))?;
            return Ok(Uri { scheme, user: Some(number.to_string()), password: None, host: String::new(), port: None, params, headers: Vec::new() });
        }
        let (main, headers) = match rest.split_once('?') {
            Some((m, h)) => (m, Some(h)),
            None => (rest, None),
        };
        let (userinfo, hostpart) = match main.split_once('@') {
            Some((u, h)) => (Some(u), h),
            None => (None, main),
        };
        let (mut user, mut password) = (None, None);
        if let Some(ui) = userinfo {
            let (u, p) = match ui.split_once(':') {
                Some((u, p)) => (u, Some(p)),
                None => (ui, None),
            };
            if u.is_empty() || !u.bytes().all(|c| is_unreserved(c) || b"%&=+$,;?/".contains(&c)) || !valid_escapes(u) {
                return Err(UriError::Syntax("bad user part"));
            }
            if let Some(p) = p {
                if !p.bytes().all(|c| is_unreserved(c) || b"%&=+$,".contains(&c)) || !valid_escapes(p) {
                    return Err(UriError::Syntax("bad password"));
                }
                password = Some(p.to_string());
            }
            user = Some(u.to_string());
        }
        let (hostport, params) = match hostpart.find(';') {
            Some(i) => (&hostpart[..i], &hostpart[i..]),
            None => (hostpart, ""),
        };
        let (host, port) = split_hostport(hostport).ok_or(UriError::Syntax("bad host or port"))?;
        let params = Params::parse(params, false).map_err(|_| UriError::Syntax("bad URI parameter"))?;
        let mut hdrs = Vec::new();
        if let Some(h) = headers {
            for pair in h.split('&') {
                let (n, v) = pair.split_once('=').ok_or(UriError::Syntax("bad URI header"))?;
                let ok = |s: &str| s.bytes().all(|c| is_unreserved(c) || b"%[]/?:+$".contains(&c)) && valid_escapes(s);
                if n.is_empty() || !ok(n) || !ok(v) {
                    return Err(UriError::Syntax("bad URI header"));
                }
                hdrs.push((n.to_string(), v.to_string()));
            }
        }
        Ok(Uri { scheme, user, password, host: host.to_string(), port, params, headers: hdrs })
    }

    /// The `user=phone`-style telephone number: the user part of a SIP URI
    /// or the number of a tel URI, with visual separators (`-.()`) removed.
    pub fn number(&self) -> Option<String> {
        self.user.as_ref().map(|u| {
            let u = u.split(';').next().unwrap_or(u);
            percent_decode(u).chars().filter(|c| !"-.()".contains(*c)).collect()
        })
    }

    /// The `transport` URI parameter, if it names a transport we know.
    pub fn transport_param(&self) -> Option<super::Transport> {
        self.params.get("transport").flatten().and_then(super::Transport::parse)
    }

    /// Whether the URI carries `lr` (loose routing, RFC 3261 §19.1.1).
    pub fn is_loose_route(&self) -> bool {
        self.params.contains("lr")
    }

    /// `host[:port]` as it would appear in a URI.
    pub fn host_port(&self) -> String {
        match self.port {
            Some(p) => format!("{}:{p}", self.host),
            None => self.host.clone(),
        }
    }
}

impl fmt::Display for Uri {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:", self.scheme.as_str())?;
        if self.scheme == Scheme::Tel {
            write!(f, "{}", self.user.as_deref().unwrap_or(""))?;
            return write!(f, "{}", self.params);
        }
        if let Some(u) = &self.user {
            f.write_str(u)?;
            if let Some(p) = &self.password {
                write!(f, ":{p}")?;
            }
            f.write_str("@")?;
        }
        f.write_str(&self.host)?;
        if let Some(p) = self.port {
            write!(f, ":{p}")?;
        }
        write!(f, "{}", self.params)?;
        for (i, (n, v)) in self.headers.iter().enumerate() {
            write!(f, "{}{n}={v}", if i == 0 { '?' } else { '&' })?;
        }
        Ok(())
    }
}

/// Splits `host[:port]`, validating both (RFC 3261 §25.1 hostport).
pub(crate) fn split_hostport(s: &str) -> Option<(&str, Option<u16>)> {
    let (host, port) = if s.starts_with('[') {
        let end = s.find(']')?;
        let host = &s[..=end];
        let rest = &s[end + 1..];
        let port = if rest.is_empty() { None } else { Some(rest.strip_prefix(':')?) };
        (host, port)
    } else {
        match s.split_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (s, None),
        }
    };
    if !valid_host(host) {
        return None;
    }
    let port = match port {
        Some(p) => {
            if p.is_empty() || p.len() > 5 || !p.bytes().all(|c| c.is_ascii_digit()) {
                return None;
            }
            Some(p.parse::<u16>().ok()?)
        }
        None => None,
    };
    Some((host, port))
}

/// Whether `h` is a hostname, IPv4 address or `[IPv6]` reference.
pub(crate) fn valid_host(h: &str) -> bool {
    if let Some(inner) = h.strip_prefix('[').and_then(|x| x.strip_suffix(']')) {
        return inner.parse::<std::net::Ipv6Addr>().is_ok();
    }
    if h.is_empty() || h.len() > 255 {
        return false;
    }
    let labels: Vec<&str> = h.strip_suffix('.').unwrap_or(h).split('.').collect();
    labels.iter().all(|l| {
        let b = l.as_bytes();
        !b.is_empty() && b.iter().all(|c| c.is_ascii_alphanumeric() || *c == b'-') && b[0] != b'-' && b[b.len() - 1] != b'-'
    })
}

fn is_unreserved(c: u8) -> bool {
    c.is_ascii_alphanumeric() || b"-_.!~*'()".contains(&c)
}

fn is_param_value(v: &str) -> bool {
    !v.is_empty() && v.bytes().all(|c| is_unreserved(c) || b"%[]/:&+$".contains(&c)) && valid_escapes(v)
}

fn valid_escapes(s: &str) -> bool {
    let b = s.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            if !(b.get(i + 1).is_some_and(u8::is_ascii_hexdigit) && b.get(i + 2).is_some_and(u8::is_ascii_hexdigit)) {
                return false;
            }
            i += 3;
        } else {
            i += 1;
        }
    }
    true
}

/// Decodes `%XX` escapes (invalid sequences are kept as they are).
pub fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%'
            && let (Some(h), Some(l)) = (b.get(i + 1).and_then(|c| (*c as char).to_digit(16)), b.get(i + 2).and_then(|c| (*c as char).to_digit(16)))
        {
            out.push((h * 16 + l) as u8);
            i += 3;
            continue;
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sip_uri_with_user_port_and_params_round_trips() {
        let s = "sip:+15551234;npdi@gw.example.com:5070;transport=tcp;user=phone;lr?subject=x&priority=urgent";
        let u = Uri::parse(s).unwrap();
        assert_eq!(u.user.as_deref(), Some("+15551234;npdi"));
        assert_eq!(u.host, "gw.example.com");
        assert_eq!(u.port, Some(5070));
        assert_eq!(u.transport_param(), Some(super::super::Transport::Tcp));
        assert_eq!(u.params.get("user"), Some(Some("phone")));
        assert!(u.is_loose_route());
        assert_eq!(u.headers.len(), 2);
        assert_eq!(u.number().as_deref(), Some("+15551234"));
        assert_eq!(u.to_string(), s);
    }

    #[test]
    fn tel_uri_carries_number_without_separators() {
        let u = Uri::parse("tel:+1-201-555-0123;phone-context=example.com").unwrap();
        assert_eq!(u.scheme, Scheme::Tel);
        assert_eq!(u.number().as_deref(), Some("+12015550123"));
        assert_eq!(u.to_string(), "tel:+1-201-555-0123;phone-context=example.com");
    }

    #[test]
    fn ipv6_host_and_bad_hosts() {
        let u = Uri::parse("sip:alice@[2001:db8::10]:5060").unwrap();
        assert_eq!(u.host, "[2001:db8::10]");
        assert_eq!(u.port, Some(5060));
        for bad in ["sip:alice@", "sip:alice@host:99999", "sip:alice@ho st", "sip:al%zzice@host", "sip:@host", "sip:a@-host", "sip:[::1"] {
            assert!(Uri::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn unsupported_scheme_is_told_apart_from_no_scheme() {
        assert!(matches!(Uri::parse_inner("http://example.com"), Err(UriError::UnsupportedScheme(_))));
        assert!(matches!(Uri::parse_inner("alice@example.com"), Err(UriError::Syntax(_))));
        assert!(matches!(Uri::parse_inner("1sip:alice@example.com"), Err(UriError::Syntax(_))));
    }
}
