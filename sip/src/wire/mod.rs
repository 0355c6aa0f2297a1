//! SIP messages on the wire (RFC 3261 §7, §20, §25): a strict, zero-copy
//! checked view of received messages, typed header representations, and
//! owned builders for messages we send.
//!
//! Two levels, as in smoltcp's `wire` module:
//!
//! - [`MessageView`] borrows a received datagram (or one message framed
//!   off a stream by [`StreamFramer`]). [`MessageView::parse`] validates
//!   the start line, every header line and the headers the transaction
//!   layer relies on, once; afterwards its accessors cannot fail for the
//!   validated headers. A rejected message yields a [`ParseError`] that
//!   names the response status the server must answer with and, when the
//!   message carried enough to answer at all, builds that response.
//! - [`Request`] and [`Response`] are owned messages with an ordered
//!   header list ([`Headers`]) that emit with `to_bytes()`. Typed header
//!   values ([`Via`], [`NameAddr`], [`CSeq`], [`Uri`]...) parse from and
//!   display to header value text.
//!
//! Header names are case-insensitive and compact forms (`v`, `i`, `f`...)
//! are accepted everywhere and expanded to their full names on output.

mod header;
mod message;
mod parse;
mod stream;
mod uri;

pub use header::{
    AuthParams, CSeq, Contact, Diversion, FromHeader, HistoryInfo, NameAddr, RAck, Reason, Refresher, RetryAfter, SessionExpires, Via, canonical_name,
    is_token, privacy_values, split_list, unquote,
};
pub use message::{Headers, Request, Response, reason_phrase};
pub use parse::{Limits, MessageView, ParseError, ParseErrorKind, StartLine};
pub use stream::{Frame, FramingError, StreamFramer};
pub use uri::{Params, Scheme, Uri, percent_decode};

use std::fmt;

/// The only protocol version this crate speaks (RFC 3261 §7.1).
pub const SIP_VERSION: &str = "SIP/2.0";

/// The RFC 3261 §8.1.1.7 branch magic cookie that marks an RFC 3261 branch.
pub const MAGIC_COOKIE: &str = "z9hG4bK";

/// A SIP request method (RFC 3261 §7.1 and the extensions the gateway meets).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Method {
    /// Start a session (RFC 3261).
    Invite,
    /// Acknowledge a final response to INVITE (RFC 3261).
    Ack,
    /// Cancel a pending request (RFC 3261).
    Cancel,
    /// End a session (RFC 3261).
    Bye,
    /// Query capabilities; used as keepalive (RFC 3261).
    Options,
    /// Register a contact (RFC 3261).
    Register,
    /// Acknowledge a reliable provisional response (RFC 3262).
    Prack,
    /// Update session parameters before answer (RFC 3311).
    Update,
    /// Mid-session information (RFC 6086).
    Info,
    /// Event notification (RFC 6665).
    Notify,
    /// Event subscription (RFC 6665).
    Subscribe,
    /// Call transfer (RFC 3515).
    Refer,
    /// Instant message (RFC 3428).
    Message,
    /// Any other method token.
    Extension(String),
}

impl Method {
    /// Parses a method token (case-sensitive, RFC 3261 §7.1). `None` if it is not a token.
    pub fn parse(s: &str) -> Option<Method> {
        Some(match s {
            "INVITE" => Method::Invite,
            "ACK" => Method::Ack,
            "CANCEL" => Method::Cancel,
            "BYE" => Method::Bye,
            "OPTIONS" => Method::Options,
            "REGISTER" => Method::Register,
            "PRACK" => Method::Prack,
            "UPDATE" => Method::Update,
            "INFO" => Method::Info,
            "NOTIFY" => Method::Notify,
            "SUBSCRIBE" => Method::Subscribe,
            "REFER" => Method::Refer,
            "MESSAGE" => Method::Message,
            other if is_token(other) => Method::Extension(other.to_string()),
            _ => return None,
        })
    }

    /// The method token as sent on the wire.
    pub fn as_str(&self) -> &str {
        match self {
            Method::Invite => "INVITE",
            Method::Ack => "ACK",
            Method::Cancel => "CANCEL",
            Method::Bye => "BYE",
            Method::Options => "OPTIONS",
            Method::Register => "REGISTER",
            Method::Prack => "PRACK",
            Method::Update => "UPDATE",
            Method::Info => "INFO",
            Method::Notify => "NOTIFY",
            Method::Subscribe => "SUBSCRIBE",
            Method::Refer => "REFER",
            Method::Message => "MESSAGE",
            Method::Extension(s) => s,
        }
    }
}

impl fmt::Display for Method {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A transport SIP runs over (RFC 3261 §18).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Transport {
    /// UDP: unreliable, so the transaction layer retransmits.
    Udp,
    /// TCP: reliable and stream-framed.
    Tcp,
    /// TLS over TCP: reliable and stream-framed.
    Tls,
}

impl Transport {
    /// Whether the transport is reliable (RFC 3261 §17: no retransmission timers).
    pub fn is_reliable(self) -> bool {
        !matches!(self, Transport::Udp)
    }

    /// Whether messages must be framed by Content-Length (RFC 3261 §18.3).
    pub fn is_stream(self) -> bool {
        self.is_reliable()
    }

    /// The transport token used in Via (`UDP`, `TCP`, `TLS`).
    pub fn as_str(self) -> &'static str {
        match self {
            Transport::Udp => "UDP",
            Transport::Tcp => "TCP",
            Transport::Tls => "TLS",
        }
    }

    /// Parses a Via transport token, case-insensitively.
    pub fn parse(s: &str) -> Option<Transport> {
        match s.to_ascii_uppercase().as_str() {
            "UDP" => Some(Transport::Udp),
            "TCP" => Some(Transport::Tcp),
            "TLS" => Some(Transport::Tls),
            _ => None,
        }
    }

    /// The default port for the transport (RFC 3261 §19.1.2: 5060, 5061 for TLS).
    pub fn default_port(self) -> u16 {
        match self {
            Transport::Tls => 5061,
            _ => 5060,
        }
    }
}

impl fmt::Display for Transport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Read access to the headers of a message, received ([`MessageView`]) or
/// owned ([`Request`], [`Response`]), with typed accessors on top.
pub trait HeaderAccess {
    /// Every value of the header `name` (any case, compact form accepted), in
    /// order, one entry per header line (comma lists are not split).
    fn header_lines(&self, name: &str) -> Vec<&str>;

    /// The first line of header `name`, if present.
    fn header(&self, name: &str) -> Option<&str> {
        self.header_lines(name).into_iter().next()
    }

    /// Parses the first line of header `name` as `T`; `Ok(None)` if absent.
    fn typed<T: FromHeader>(&self, name: &str) -> Result<Option<T>, header::HeaderError> {
        self.header(name).map(T::from_header).transpose()
    }

    /// Parses every comma-separated element of every line of header `name` as `T`.
    fn typed_list<T: FromHeader>(&self, name: &str) -> Result<Vec<T>, header::HeaderError> {
        let mut out = Vec::new();
        for line in self.header_lines(name) {
            for item in split_list(line)? {
                out.push(T::from_header(item)?);
            }
        }
        Ok(out)
    }

    /// The Call-ID.
    fn call_id(&self) -> Option<&str> {
        self.header("Call-ID")
    }

    /// The CSeq, if present and valid.
    fn cseq(&self) -> Option<CSeq> {
        self.typed("CSeq").ok().flatten()
    }

    /// The topmost Via, if present and valid.
    fn top_via(&self) -> Option<Via> {
        self.typed_list::<Via>("Via").ok().and_then(|v| v.into_iter().next())
    }

    /// The From header, if present and valid.
    #[allow(clippy::wrong_self_convention)] // named after the From header, not a conversion
    fn from_addr(&self) -> Option<NameAddr> {
        self.typed("From").ok().flatten()
    }

    /// The To header, if present and valid.
    fn to_addr(&self) -> Option<NameAddr> {
        self.typed("To").ok().flatten()
    }

    /// Option tags listed in every `name` header (Require, Supported, Unsupported...).
    fn option_tags(&self, name: &str) -> Vec<String> {
        self.header_lines(name).into_iter().flat_map(|l| split_list(l).unwrap_or_default()).map(str::to_string).collect()
    }
}

pub use header::HeaderError;
