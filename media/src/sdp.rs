//! SDP offer/answer (RFC 3264) for the gateway's one audio stream, on top
//! of `sdp-types` (RFC 8866 syntax).
//!
//! * [`build_offer`]: our offer from a [`LocalMedia`] (address, codec
//!   preference, ptime, telephone-event payload type, direction).
//! * [`answer_offer`]: answer a remote offer: the first audio m-line with a
//!   codec we support is accepted with the first codec *in our preference*
//!   that the offer lists, keeping the offer's payload type numbers
//!   (dynamic ones included) and its telephone-event if offered; the
//!   direction is mirrored (sendonly ↔ recvonly, inactive stays) and
//!   intersected with ours; every other m-line (video, a second audio line,
//!   `m=image` T.38 for now) is declined with port 0 in the same position.
//! * [`parse_answer`]: the negotiated parameters from the answer to our
//!   offer.
//! * [`is_hold`]: whether an offer puts us on hold (`a=sendonly`,
//!   `a=inactive` or the RFC 2543 `c=0.0.0.0`).
//!
//! All results come as [`Negotiated`], whose `direction` is from *our*
//! side, ready for a [`StreamSpec`]. An SDP we
//! cannot negotiate gives an [`SdpError`]; the SIP leg answers 488 (or 400
//! for [`SdpError::Parse`]).

use std::net::{IpAddr, SocketAddr};

use sdp_types::{Attribute, Connection, Media, Origin, Session, Time};

use crate::codec::{Codec, Direction, Law, SAMPLE_RATE};
use crate::pump::StreamSpec;

/// The telephone-event payload type we offer (any dynamic value works;
/// 101 is what most peers use).
pub const DEFAULT_DTMF_PAYLOAD_TYPE: u8 = 101;
/// RTP/AVP (RFC 3551).
const RTP_AVP: &str = "RTP/AVP";

/// Why an SDP could not be negotiated.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SdpError {
    /// Not parseable as SDP (→ 400).
    #[error("malformed SDP: {0}")]
    Parse(String),
    /// No usable audio m-line (none, or all with port 0, or not RTP/AVP) (→ 488).
    #[error("no acceptable audio stream in the SDP")]
    NoAudio,
    /// The audio m-line has no codec in common with ours (→ 488).
    #[error("no codec in common (offered: {0})")]
    NoCommonCodec(String),
    /// The answer declined our audio stream (port 0).
    #[error("the audio stream was rejected")]
    Rejected,
    /// A `c=` line we cannot use (not IN IP4/IP6, or no address at all).
    #[error("bad connection address: {0}")]
    BadAddress(String),
}

/// What we offer or accept.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LocalMedia {
    /// Our RTP address (from [`PumpHandle::allocate`](crate::pump::PumpHandle::allocate)).
    pub addr: SocketAddr,
    /// Codecs in order of preference.
    pub codecs: Vec<Codec>,
    /// Packet time we want to receive, ms.
    pub ptime_ms: u8,
    /// Payload type to offer telephone-event on; `None` for no RFC 4733.
    pub dtmf_payload_type: Option<u8>,
    /// Our direction (`SendOnly` to hold the remote).
    pub direction: Direction,
    /// `o=` session id.
    pub session_id: u64,
    /// `o=` version; increment it for each new offer or answer in a dialog.
    pub session_version: u64,
}

impl LocalMedia {
    /// Defaults: PCMU then PCMA, 20 ms, telephone-event on 101, sendrecv.
    pub fn new(addr: SocketAddr, session_id: u64) -> LocalMedia {
        LocalMedia {
            addr,
            codecs: vec![Codec::Pcmu, Codec::Pcma],
            ptime_ms: 20,
            dtmf_payload_type: Some(DEFAULT_DTMF_PAYLOAD_TYPE),
            direction: Direction::SendRecv,
            session_id,
            session_version: 1,
        }
    }
}

/// The outcome of a negotiation, from our side.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Negotiated {
    /// Where to send RTP; `None` when the remote gave `c=0.0.0.0` (hold).
    pub remote: Option<SocketAddr>,
    /// The codec.
    pub codec: Codec,
    /// Its payload type.
    pub payload_type: u8,
    /// Packet time to send with, ms.
    pub ptime_ms: u8,
    /// telephone-event payload type, if both sides have it.
    pub dtmf_payload_type: Option<u8>,
    /// Our direction.
    pub direction: Direction,
}

impl Negotiated {
    /// The pump's stream spec for this negotiation on DAHDI channel
    /// `channo` (whose law is `tdm_law`).
    pub fn stream_spec(&self, channo: u32, tdm_law: Law, symmetric: bool) -> StreamSpec {
        StreamSpec {
            channo,
            tdm_law,
            codec: self.codec,
            payload_type: self.payload_type,
            ptime_ms: self.ptime_ms,
            dtmf_payload_type: self.dtmf_payload_type,
            remote: self.remote,
            direction: self.direction,
            symmetric,
            echo_taps: None,
            tap: false,
            data_mode: false,
        }
    }
}

fn session_skeleton(local: &LocalMedia) -> Session {
    let mut origin = Origin::with_ip_addr(local.session_id, local.session_version, local.addr.ip());
    origin.set_username("tandem");
    let mut s = Session::new(origin, "tandem");
    s.set_connection(Connection::from_ip_addr(local.addr.ip()));
    s.add_time(Time::new(0, 0));
    s
}

fn audio_media(port: u16, formats: &[(u8, Codec)], dtmf: Option<u8>, ptime: u8, direction: Direction) -> Media {
    let mut fmt: Vec<String> = formats.iter().map(|(pt, _)| pt.to_string()).collect();
    if let Some(pt) = dtmf {
        fmt.push(pt.to_string());
    }
    let mut m = Media {
        media: "audio".into(),
        port,
        num_ports: None,
        proto: RTP_AVP.into(),
        fmt: fmt.join(" "),
        media_title: None,
        connections: Vec::new(),
        bandwidths: Vec::new(),
        key: None,
        attributes: Vec::new(),
    };
    for (pt, c) in formats {
        m.add_attribute(Attribute::with_value("rtpmap", format!("{pt} {}/{}", c.encoding_name(), c.clock_rate())));
    }
    if let Some(pt) = dtmf {
        m.add_attribute(Attribute::with_value("rtpmap", format!("{pt} telephone-event/{SAMPLE_RATE}")));
        m.add_attribute(Attribute::with_value("fmtp", format!("{pt} 0-16")));
    }
    m.add_attribute(Attribute::with_value("ptime", ptime));
    m.add_attribute(Attribute::new(direction.attribute()));
    m
}

/// Our offer.
pub fn build_offer(local: &LocalMedia) -> Session {
    let mut s = session_skeleton(local);
    let formats: Vec<(u8, Codec)> = local.codecs.iter().map(|&c| (c.static_payload_type(), c)).collect();
    s.add_media(audio_media(local.addr.port(), &formats, local.dtmf_payload_type, local.ptime_ms, local.direction));
    s
}

/// Parses SDP text.
pub fn parse(sdp: &[u8]) -> Result<Session, SdpError> {
    Session::parse(sdp).map_err(|e| SdpError::Parse(e.to_string()))
}

/// What a media description says about its payload types.
struct Formats {
    /// (payload type, codec) for every format we support, in the m-line's order.
    codecs: Vec<(u8, Codec)>,
    /// The telephone-event payload type, if listed.
    dtmf: Option<u8>,
    /// All format tokens, for error messages.
    listed: String,
}

fn formats(m: &Media) -> Formats {
    let mut codecs = Vec::new();
    let mut dtmf = None;
    for tok in m.fmt.split_ascii_whitespace() {
        let Ok(pt) = tok.parse::<u8>() else { continue };
        if pt > 127 {
            continue;
        }
        let map = m.attributes.iter().filter(|a| a.attribute.eq_ignore_ascii_case("rtpmap")).find_map(|a| {
            let v = a.value.as_deref()?;
            let (p, enc) = v.trim().split_once(char::is_whitespace)?;
            (p.parse::<u8>().ok()? == pt).then(|| enc.trim().to_string())
        });
        match map {
            Some(enc) => {
                let mut parts = enc.split('/');
                let name = parts.next().unwrap_or("");
                let rate = parts.next().and_then(|r| r.parse::<u32>().ok()).unwrap_or(0);
                if name.eq_ignore_ascii_case("telephone-event") && rate == SAMPLE_RATE {
                    dtmf.get_or_insert(pt);
                } else if let Some(c) = Codec::from_encoding(name, rate) {
                    codecs.push((pt, c));
                }
            }
            None => {
                if let Some(c) = Codec::from_static_payload_type(pt) {
                    codecs.push((pt, c));
                }
            }
        }
    }
    Formats { codecs, dtmf, listed: m.fmt.clone() }
}

fn direction_of(session: &Session, m: &Media) -> Direction {
    let find = |attrs: &[Attribute]| attrs.iter().find_map(|a| Direction::from_attribute(&a.attribute.to_ascii_lowercase()));
    find(&m.attributes).or_else(|| find(&session.attributes)).unwrap_or_default()
}

fn ptime_of(m: &Media) -> Option<u8> {
    let v = m.attributes.iter().find(|a| a.attribute.eq_ignore_ascii_case("ptime"))?.value.as_deref()?;
    let p: u32 = v.trim().parse().ok()?;
    // Send at the remote's ptime when we can; 20 ms otherwise.
    Some(match p {
        10 | 20 | 30 => p as u8,
        _ => 20,
    })
}

/// The connection address for a media line (media level wins over session
/// level); `Ok(None)` for the hold address 0.0.0.0 (or ::).
fn address_of(session: &Session, m: &Media) -> Result<Option<IpAddr>, SdpError> {
    let c = m.connections.first().or(session.connection.as_ref()).ok_or_else(|| SdpError::BadAddress("no c= line".into()))?;
    let text = c.connection_address.split('/').next().unwrap_or("");
    let ip: IpAddr = text.parse().map_err(|_| SdpError::BadAddress(c.connection_address.clone()))?;
    Ok(if ip.is_unspecified() { None } else { Some(ip) })
}

fn is_audio_rtp(m: &Media) -> bool {
    m.media.eq_ignore_ascii_case("audio") && m.proto.eq_ignore_ascii_case(RTP_AVP)
}

/// Intersects the direction the remote offered (its side) with ours.
fn mirror(theirs: Direction, ours: Direction, have_address: bool) -> Direction {
    let theirs = if have_address {
        theirs
    } else if theirs.sends() {
        Direction::SendOnly
    } else {
        Direction::Inactive
    };
    let sends = ours.sends() && theirs.receives();
    let receives = ours.receives() && theirs.sends();
    match (sends, receives) {
        (true, true) => Direction::SendRecv,
        (true, false) => Direction::SendOnly,
        (false, true) => Direction::RecvOnly,
        (false, false) => Direction::Inactive,
    }
}

/// Whether an offer puts us on hold: its audio is `sendonly`/`inactive`
/// or its address is 0.0.0.0. `false` for SDP without audio.
pub fn is_hold(offer: &Session) -> bool {
    let Some(m) = offer.medias.iter().find(|m| is_audio_rtp(m) && m.port != 0) else { return false };
    !direction_of(offer, m).receives() || matches!(address_of(offer, m), Ok(None))
}

/// A declined copy of an m-line (RFC 3264 §6: port 0, same formats).
fn declined(m: &Media) -> Media {
    Media {
        media: m.media.clone(),
        port: 0,
        num_ports: None,
        proto: m.proto.clone(),
        fmt: m.fmt.clone(),
        media_title: None,
        connections: Vec::new(),
        bandwidths: Vec::new(),
        key: None,
        attributes: Vec::new(),
    }
}

/// Answers a remote offer. Returns our answer and the negotiated stream.
pub fn answer_offer(offer: &Session, local: &LocalMedia) -> Result<(Session, Negotiated), SdpError> {
    let mut answer = session_skeleton(local);
    let mut chosen: Option<Negotiated> = None;
    let mut seen_codecs = Vec::new();
    for m in &offer.medias {
        if chosen.is_some() || m.port == 0 || !is_audio_rtp(m) {
            answer.add_media(declined(m));
            continue;
        }
        let f = formats(m);
        seen_codecs.push(f.listed.clone());
        let Some(&(pt, codec)) = local.codecs.iter().find_map(|c| f.codecs.iter().find(|(_, oc)| oc == c)) else {
            answer.add_media(declined(m));
            continue;
        };
        let ip = address_of(offer, m)?;
        let direction = mirror(direction_of(offer, m), local.direction, ip.is_some());
        let dtmf = if local.dtmf_payload_type.is_some() { f.dtmf } else { None };
        let ptime = ptime_of(m).unwrap_or(local.ptime_ms);
        answer.add_media(audio_media(local.addr.port(), &[(pt, codec)], dtmf, ptime, direction));
        chosen =
            Some(Negotiated { remote: ip.map(|ip| SocketAddr::new(ip, m.port)), codec, payload_type: pt, ptime_ms: ptime, dtmf_payload_type: dtmf, direction });
    }
    match chosen {
        Some(n) => Ok((answer, n)),
        None if seen_codecs.is_empty() => Err(SdpError::NoAudio),
        None => Err(SdpError::NoCommonCodec(seen_codecs.join("; "))),
    }
}

/// The negotiated stream from the answer to our offer.
pub fn parse_answer(answer: &Session, offered: &LocalMedia) -> Result<Negotiated, SdpError> {
    let m = answer.medias.iter().find(|m| is_audio_rtp(m)).ok_or(SdpError::NoAudio)?;
    if m.port == 0 {
        return Err(SdpError::Rejected);
    }
    let f = formats(m);
    let &(pt, codec) = f.codecs.iter().find(|(_, c)| offered.codecs.contains(c)).ok_or_else(|| SdpError::NoCommonCodec(f.listed.clone()))?;
    let ip = address_of(answer, m)?;
    Ok(Negotiated {
        remote: ip.map(|ip| SocketAddr::new(ip, m.port)),
        codec,
        payload_type: pt,
        ptime_ms: ptime_of(m).unwrap_or(offered.ptime_ms),
        dtmf_payload_type: if offered.dtmf_payload_type.is_some() { f.dtmf } else { None },
        direction: mirror(direction_of(answer, m), offered.direction, ip.is_some()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn local() -> LocalMedia {
        LocalMedia::new("192.0.2.10:30000".parse().unwrap(), 4242)
    }

    fn offer(body: &str) -> Session {
        let text = format!("v=0\r\no=- 1 1 IN IP4 198.51.100.7\r\ns=-\r\nc=IN IP4 198.51.100.7\r\nt=0 0\r\n{body}");
        parse(text.as_bytes()).unwrap()
    }

    #[test]
    fn our_offer_lists_codecs_in_preference_with_telephone_event() {
        let text = build_offer(&local()).to_string();
        assert!(text.contains("m=audio 30000 RTP/AVP 0 8 101\r\n"), "{text}");
        assert!(text.contains("c=IN IP4 192.0.2.10\r\n"), "{text}");
        assert!(text.contains("a=rtpmap:101 telephone-event/8000\r\n"), "{text}");
        assert!(text.contains("a=fmtp:101 0-16\r\n") && text.contains("a=ptime:20\r\n") && text.contains("a=sendrecv\r\n"), "{text}");
        // It parses back as the same session.
        assert_eq!(parse(text.as_bytes()).unwrap(), build_offer(&local()));
    }

    #[test]
    fn answer_picks_our_first_preference_that_the_offer_has() {
        let o = offer("m=audio 4000 RTP/AVP 8 0 101\r\na=rtpmap:101 telephone-event/8000\r\na=ptime:30\r\n");
        let (a, n) = answer_offer(&o, &local()).unwrap();
        assert_eq!(n.codec, Codec::Pcmu);
        assert_eq!(n.payload_type, 0);
        assert_eq!(n.dtmf_payload_type, Some(101));
        assert_eq!(n.ptime_ms, 30);
        assert_eq!(n.remote, Some("198.51.100.7:4000".parse().unwrap()));
        assert_eq!(n.direction, Direction::SendRecv);
        let text = a.to_string();
        assert!(text.contains("m=audio 30000 RTP/AVP 0 101\r\n"), "{text}");
    }

    #[test]
    fn alaw_only_offer_is_answered_with_pcma() {
        let o = offer("m=audio 4000 RTP/AVP 8\r\n");
        let (a, n) = answer_offer(&o, &local()).unwrap();
        assert_eq!((n.codec, n.payload_type, n.dtmf_payload_type), (Codec::Pcma, 8, None));
        assert!(a.to_string().contains("m=audio 30000 RTP/AVP 8\r\n"));
    }

    #[test]
    fn dynamic_payload_type_numbers_of_the_offer_are_kept() {
        let o = offer("m=audio 4000 RTP/AVP 96 97\r\na=rtpmap:96 PCMA/8000\r\na=rtpmap:97 telephone-event/8000\r\n");
        let (_, n) = answer_offer(&o, &local()).unwrap();
        assert_eq!((n.codec, n.payload_type, n.dtmf_payload_type), (Codec::Pcma, 96, Some(97)));
    }

    #[test]
    fn no_common_codec_is_an_error_for_488() {
        let o = offer("m=audio 4000 RTP/AVP 18 9\r\na=rtpmap:18 G729/8000\r\n");
        assert!(matches!(answer_offer(&o, &local()), Err(SdpError::NoCommonCodec(_))));
        let o = offer("m=video 4002 RTP/AVP 31\r\n");
        assert_eq!(answer_offer(&o, &local()).unwrap_err(), SdpError::NoAudio);
        assert!(matches!(parse(b"garbage"), Err(SdpError::Parse(_))));
    }

    #[test]
    fn hold_offers_are_mirrored_and_detected() {
        let o = offer("m=audio 4000 RTP/AVP 0\r\na=sendonly\r\n");
        assert!(is_hold(&o));
        let (a, n) = answer_offer(&o, &local()).unwrap();
        assert_eq!(n.direction, Direction::RecvOnly);
        assert!(a.to_string().contains("a=recvonly\r\n"));
        let o = offer("m=audio 4000 RTP/AVP 0\r\na=inactive\r\n");
        assert!(is_hold(&o));
        assert_eq!(answer_offer(&o, &local()).unwrap().1.direction, Direction::Inactive);
        let o = offer("m=audio 4000 RTP/AVP 0\r\na=recvonly\r\n");
        assert!(!is_hold(&o));
        assert_eq!(answer_offer(&o, &local()).unwrap().1.direction, Direction::SendOnly);
    }

    #[test]
    fn rfc2543_hold_with_zero_address_stops_our_sending() {
        let o = parse(b"v=0\r\no=- 1 2 IN IP4 198.51.100.7\r\ns=-\r\nc=IN IP4 0.0.0.0\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0\r\n").unwrap();
        assert!(is_hold(&o));
        let (_, n) = answer_offer(&o, &local()).unwrap();
        assert_eq!(n.remote, None);
        assert_eq!(n.direction, Direction::RecvOnly);
    }

    #[test]
    fn resume_offer_after_hold_is_sendrecv_again() {
        let o = offer("m=audio 4000 RTP/AVP 0\r\na=sendrecv\r\n");
        assert!(!is_hold(&o));
        assert_eq!(answer_offer(&o, &local()).unwrap().1.direction, Direction::SendRecv);
    }

    #[test]
    fn other_m_lines_are_declined_with_port_zero_in_place() {
        let o = offer("m=video 5000 RTP/AVP 31\r\nm=audio 4000 RTP/AVP 0\r\nm=image 6000 udptl t38\r\nm=audio 4004 RTP/AVP 8\r\n");
        let (a, n) = answer_offer(&o, &local()).unwrap();
        assert_eq!(n.remote.unwrap().port(), 4000);
        let ports: Vec<(String, u16)> = a.medias.iter().map(|m| (m.media.clone(), m.port)).collect();
        assert_eq!(ports, [("video".into(), 0), ("audio".into(), 30000), ("image".into(), 0), ("audio".into(), 0)]);
        let text = a.to_string();
        assert!(text.contains("m=image 0 udptl t38\r\n"), "{text}");
    }

    #[test]
    fn declined_audio_line_is_skipped_for_the_next_one() {
        let o = offer("m=audio 0 RTP/AVP 0\r\nm=audio 4002 RTP/AVP 8\r\n");
        let (a, n) = answer_offer(&o, &local()).unwrap();
        assert_eq!((n.codec, n.remote.unwrap().port()), (Codec::Pcma, 4002));
        assert_eq!(a.medias[0].port, 0);
    }

    #[test]
    fn media_level_connection_overrides_session_level() {
        let o = offer("m=audio 4000 RTP/AVP 0\r\nc=IN IP4 203.0.113.9\r\n");
        assert_eq!(answer_offer(&o, &local()).unwrap().1.remote, Some("203.0.113.9:4000".parse().unwrap()));
    }

    #[test]
    fn answer_to_our_offer_gives_the_negotiated_stream() {
        let a = offer("m=audio 4006 RTP/AVP 8 101\r\na=rtpmap:101 telephone-event/8000\r\na=ptime:20\r\na=sendrecv\r\n");
        let n = parse_answer(&a, &local()).unwrap();
        assert_eq!(
            n,
            Negotiated {
                remote: Some("198.51.100.7:4006".parse().unwrap()),
                codec: Codec::Pcma,
                payload_type: 8,
                ptime_ms: 20,
                dtmf_payload_type: Some(101),
                direction: Direction::SendRecv,
            }
        );
        let rejected = offer("m=audio 0 RTP/AVP 0\r\n");
        assert_eq!(parse_answer(&rejected, &local()).unwrap_err(), SdpError::Rejected);
        let mut holding = local();
        holding.direction = Direction::SendOnly;
        let a = offer("m=audio 4006 RTP/AVP 0\r\na=recvonly\r\n");
        assert_eq!(parse_answer(&a, &holding).unwrap().direction, Direction::SendOnly);
    }
}
