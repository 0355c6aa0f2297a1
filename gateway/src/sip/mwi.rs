//! Message-waiting indication from SIP: `NOTIFY` with `Event:
//! message-summary` and an `application/simple-message-summary` body
//! (RFC 3842).
//!
//! Voicemail servers and ITSPs (Asterisk among them) send these NOTIFYs
//! out of dialog, without any SUBSCRIBE ("unsolicited" MWI), so the SIP
//! side takes them as it takes an INVITE: only from a configured trunk's
//! addresses (default-deny, `403` otherwise). A well-formed summary is
//! answered `200` and becomes `SipOutput::Mwi`;
//! any other event package gets `489 Bad Event` (RFC 6665 §8.2.1) and a
//! body that is not a message summary `415`/`400`.
//!
//! [`parse_summary`] is the pure parser of the body, for any input bytes.

use tandem_sip::wire::{HeaderAccess, Request, Uri};
use tracing::{debug, info};

use super::{SipOutput, SipSide, security};
use tandem_sip::transaction::{Peer, TxKey};

/// The message summary a NOTIFY carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessageSummary {
    /// `Messages-Waiting: yes|no`.
    pub waiting: bool,
    /// The user part of `Message-Account` (or of the Request-URI when the
    /// body names no account), unescaped.
    pub account: Option<String>,
    /// New voice messages (`Voice-Message: new/old`), 0 when not given.
    pub new: u32,
    /// Old voice messages, 0 when not given.
    pub old: u32,
}

/// Why a message-summary body was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SummaryError {
    /// The body is not UTF-8 text.
    #[error("the message summary is not text")]
    NotText,
    /// RFC 3842 §5.2: `Messages-Waiting` is mandatory.
    #[error("no Messages-Waiting line")]
    NoStatus,
    /// `Messages-Waiting` is neither `yes` nor `no`.
    #[error("Messages-Waiting is {0:?}, not yes or no")]
    BadStatus(String),
}

/// RFC 3842 §5.2 bodies are small; Tandem reads at most this much.
const MAX_BODY: usize = 8192;

/// Parses an `application/simple-message-summary` body (RFC 3842 §5.2).
/// Unknown lines (other message classes, message headers) are skipped.
pub fn parse_summary(body: &[u8]) -> Result<MessageSummary, SummaryError> {
    let text = std::str::from_utf8(&body[..body.len().min(MAX_BODY)]).map_err(|_| SummaryError::NotText)?;
    let mut waiting = None;
    let mut account = None;
    let (mut new, mut old) = (0, 0);
    for line in text.lines() {
        let Some((name, value)) = line.split_once(':') else { continue };
        let value = value.trim();
        match name.trim().to_ascii_lowercase().as_str() {
            "messages-waiting" => {
                waiting = Some(match value.to_ascii_lowercase().as_str() {
                    "yes" => true,
                    "no" => false,
                    _ => return Err(SummaryError::BadStatus(value.chars().take(32).collect())),
                });
            }
            "message-account" => account = Uri::parse(value).ok().and_then(|u| u.user).map(|u| unescape(&u)),
            "voice-message" => {
                // `new/old`, optionally followed by ` (urgent-new/urgent-old)`.
                let counts = value.split_whitespace().next().unwrap_or("");
                if let Some((n, o)) = counts.split_once('/') {
                    new = n.trim().parse().unwrap_or(0);
                    old = o.trim().parse().unwrap_or(0);
                }
            }
            _ => {}
        }
    }
    let waiting = waiting.ok_or(SummaryError::NoStatus)?;
    Ok(MessageSummary { waiting, account, new, old })
}

/// `%XX` escapes of a URI user part undone (invalid escapes kept as they are).
fn unescape(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%'
            && i + 2 < b.len()
            && let Ok(v) = u8::from_str_radix(std::str::from_utf8(&b[i + 1..i + 3]).unwrap_or("zz"), 16)
        {
            out.push(v);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

impl SipSide {
    /// An out-of-dialog NOTIFY: message-waiting from a trunk, else refused.
    pub(crate) fn uas_notify(&mut self, key: TxKey, req: Request, source: Peer) {
        let Some(ti) = security::trunk_for_source(self.trunks.iter().map(|t| &t.acl), source.addr) else {
            info!(source = %source.addr, "NOTIFY from an address no trunk accepts: 403");
            self.respond(key, &req, 403, None, &[]);
            return;
        };
        let event = req.header("Event").or_else(|| req.header("o")).unwrap_or("");
        let package = event.split(';').next().unwrap_or("").trim();
        if !package.eq_ignore_ascii_case("message-summary") {
            debug!(source = %source.addr, event, "NOTIFY for an event package we do not take: 489");
            self.respond(key, &req, 489, None, &[("Allow-Events", "message-summary")]);
            return;
        }
        let ct = req.header("Content-Type").or_else(|| req.header("c")).unwrap_or("");
        let media = ct.split(';').next().unwrap_or("").trim();
        if !req.body.is_empty() && !media.eq_ignore_ascii_case("application/simple-message-summary") {
            self.respond(key, &req, 415, None, &[("Accept", "application/simple-message-summary")]);
            return;
        }
        match parse_summary(&req.body) {
            Ok(s) => {
                self.respond(key, &req, 200, None, &[]);
                let account = s.account.or_else(|| req.uri.user.as_deref().map(unescape)).unwrap_or_default();
                let trunk = self.trunks[ti].name().to_owned();
                info!(%trunk, %account, waiting = s.waiting, new = s.new, "message waiting");
                self.out.push_back(SipOutput::Mwi { trunk, account, waiting: s.waiting, new: s.new });
            }
            Err(e) => {
                debug!(source = %source.addr, error = %e, "bad message summary: 400");
                self.respond(key, &req, 400, None, &[]);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_summary_with_account_and_counts_parses() {
        let s = parse_summary(b"Messages-Waiting: yes\r\nMessage-Account: sip:2001@vm.example.com\r\nVoice-Message: 2/8 (0/2)\r\n").unwrap();
        assert_eq!(s, MessageSummary { waiting: true, account: Some("2001".into()), new: 2, old: 8 });
    }

    #[test]
    fn names_and_values_are_case_insensitive_and_counts_optional() {
        let s = parse_summary(b"messages-waiting:NO\n").unwrap();
        assert_eq!(s, MessageSummary { waiting: false, account: None, new: 0, old: 0 });
    }

    #[test]
    fn a_summary_without_status_or_with_a_bad_one_is_refused() {
        assert_eq!(parse_summary(b"Voice-Message: 1/0\r\n"), Err(SummaryError::NoStatus));
        assert_eq!(parse_summary(b"Messages-Waiting: maybe\r\n"), Err(SummaryError::BadStatus("maybe".into())));
        assert_eq!(parse_summary(&[0xff, 0xfe]), Err(SummaryError::NotText));
    }

    #[test]
    fn escaped_account_user_parts_are_unescaped() {
        let s = parse_summary(b"Messages-Waiting: yes\r\nMessage-Account: sip:%32001@h\r\n").unwrap();
        assert_eq!(s.account.as_deref(), Some("2001"));
        assert_eq!(unescape("a%2"), "a%2");
    }

    #[test]
    fn garbage_bodies_never_panic() {
        let mut x: u32 = 12345;
        for len in 0..300 {
            let body: Vec<u8> = (0..len)
                .map(|_| {
                    x ^= x << 13;
                    x ^= x >> 17;
                    x ^= x << 5;
                    let alphabet = b"Messages-Waiting: yes/no%:\r\n0123sip@";
                    alphabet[x as usize % alphabet.len()]
                })
                .collect();
            let _ = parse_summary(&body);
        }
    }
}
