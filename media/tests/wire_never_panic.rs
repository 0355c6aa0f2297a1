//! Property tests: arbitrary bytes never make a parser, accessor or setter
//! panic, checked or unchecked; and whatever the parsers accept re-emits to
//! octets that parse to the same repr.

mod common;

use common::*;
use proptest::prelude::*;
use std::hint::black_box;
use tandem_media::wire::rfc4733::{TelephoneEvent, TelephoneEventCode, TelephoneEventRepr};
use tandem_media::wire::rtcp::{CompoundIter, CompoundRepr, RtcpPacket, RtcpPacketType, RtcpRepr, check_compound};
use tandem_media::wire::rtp::{RtpPacket, RtpRepr};

fn touch_rtp<T: AsRef<[u8]>>(p: &RtpPacket<T>) {
    black_box((p.version(), p.csrc_count(), p.payload_type(), p.has_padding(), p.has_extension()));
    black_box((p.marker(), p.sequence_number(), p.timestamp(), p.ssrc()));
    black_box((p.csrcs().count(), p.csrc(0), p.csrc(15), p.csrc(usize::MAX)));
    black_box((p.extension_profile(), p.extension_len_words(), p.extension_data(), p.extension()));
    black_box((p.header_len(), p.padding_len(), p.payload_len(), p.payload(), p.extension_offset()));
}

fn poke_rtp(data: &mut [u8]) {
    let mut p = RtpPacket::new_unchecked(data);
    p.set_csrc(14, 1);
    p.set_csrc(usize::MAX, 1);
    p.extension_data_mut().fill(1);
    p.payload_mut().fill(2);
    p.set_extension_header(3, 0xFFFF);
    touch_rtp(&p);
    p.set_version(2);
    p.set_csrc_count(15);
    p.set_extension(true);
    p.set_padding(true);
    touch_rtp(&p);
    p.set_marker(true);
    p.set_payload_type(0xFF);
    p.set_sequence_number(1);
    p.set_timestamp(2);
    p.set_ssrc(3);
    touch_rtp(&p);
}

/// Whatever parses re-emits (padding octets normalized to zeros) to the
/// same length and to octets that parse to the same repr.
fn rtp_reemit(data: &[u8]) -> Result<(), TestCaseError> {
    let checked = RtpPacket::new_checked(data);
    let parsed = RtpRepr::parse_bytes(data);
    prop_assert_eq!(checked.is_ok(), parsed.is_ok());
    if let (Ok(view), Ok(repr)) = (checked, parsed) {
        touch_rtp(&view);
        prop_assert_eq!(RtpRepr::parse(&view), Ok(repr));
        let out = repr.to_vec(view.payload()).unwrap();
        prop_assert_eq!(out.len(), data.len());
        let pad_start = data.len() - view.padding_len();
        prop_assert_eq!(&out[..pad_start], &data[..pad_start]);
        prop_assert_eq!(out.last(), if repr.padding != 0 { data.last() } else { out.last() });
        prop_assert_eq!(RtpRepr::parse_bytes(&out), Ok(repr));
    }
    Ok(())
}

fn touch_rtcp<T: AsRef<[u8]>>(p: &RtcpPacket<T>) {
    black_box((p.version(), p.count(), p.packet_type(), p.has_padding(), p.length()));
    black_box((p.packet_len(), p.padding_len(), p.as_bytes(), p.payload(), p.ssrc()));
    black_box((p.ntp_timestamp(), p.rtp_timestamp(), p.sender_packet_count(), p.sender_octet_count()));
    for b in p.report_blocks() {
        black_box((b.ssrc(), b.fraction_lost(), b.cumulative_lost(), b.extended_highest_seq()));
        black_box((b.jitter(), b.last_sr(), b.delay_since_last_sr()));
    }
    black_box((p.report_block(31), p.report_extension()));
    for chunk in p.sdes_chunks().flatten() {
        black_box((chunk.ssrc, chunk.cname(), chunk.items().count()));
    }
    black_box((p.bye_sources().count(), p.bye_reason().ok(), p.app_name(), p.app_data()));
}

fn poke_rtcp(data: &mut [u8]) {
    let mut p = RtcpPacket::new_unchecked(data);
    touch_rtcp(&p);
    p.payload_mut().fill(0);
    p.set_ntp_timestamp(u64::MAX);
    p.set_sender_octet_count(1);
    if let Some(mut b) = p.report_block_mut(0) {
        b.set_cumulative_lost(-5);
        b.set_delay_since_last_sr(1);
    }
    p.set_packet_type(RtcpPacketType::SenderReport);
    p.set_count(31);
    p.set_length(0xFFFF);
    p.set_padding(true);
    p.set_version(3);
    touch_rtcp(&p);
}

fn rtcp_reemit(data: &[u8]) -> Result<(), TestCaseError> {
    let mut packets = 0;
    for packet in CompoundIter::new(data) {
        let Ok(packet) = packet else { break };
        packets += 1;
        touch_rtcp(&packet);
        if let Ok(repr) = RtcpRepr::parse(&packet) {
            let out = repr.to_vec().unwrap();
            prop_assert!(out.len() <= packet.packet_len());
            prop_assert_eq!(RtcpRepr::parse_bytes(&out), Ok(repr));
        }
    }
    let compound = CompoundRepr::parse(data);
    prop_assert!(compound.is_err() || check_compound(data).is_ok());
    if let Ok(repr) = compound {
        prop_assert_eq!(repr.packets.len(), packets);
        let out = repr.to_vec().unwrap();
        prop_assert_eq!(CompoundRepr::parse(&out), Ok(repr));
    }
    Ok(())
}

/// Octets that look like RTP often enough to get past the first checks.
fn rtp_shaped() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        prop::collection::vec(any::<u8>(), 0..200),
        (prop::sample::select(vec![0x80u8, 0x81, 0x8F, 0x90, 0x9F, 0xA0, 0xA3, 0xB0, 0xBF, 0x40, 0xC0]), prop::collection::vec(any::<u8>(), 0..200)).prop_map(
            |(b0, mut v)| {
                v.insert(0, b0);
                v
            }
        ),
        // Valid packets, then cut or with one octet changed.
        (rtp(), any::<prop::sample::Index>(), any::<u8>(), any::<bool>()).prop_map(|(p, i, x, cut)| {
            let mut v = p.to_vec();
            let at = i.index(v.len());
            if cut {
                v.truncate(at)
            } else {
                v[at] = x
            }
            v
        }),
    ]
}

/// Octets that look like RTCP: valid compounds mutated, and headers with
/// the RTCP types in front of garbage.
fn rtcp_shaped() -> impl Strategy<Value = Vec<u8>> {
    let header = (any::<u8>(), 198..=208u8, 0..24u16).prop_map(|(b0, pt, len)| {
        let [h, l] = len.to_be_bytes();
        vec![0x80 | (b0 & 0x3F), pt, h, l]
    });
    prop_oneof![
        prop::collection::vec(any::<u8>(), 0..200),
        prop::collection::vec((header, prop::collection::vec(any::<u8>(), 0..40)), 1..5).prop_map(|parts| {
            let mut v = vec![];
            for (h, body) in parts {
                v.extend(h);
                v.extend(body);
            }
            v
        }),
        (rtcp_compound(), any::<prop::sample::Index>(), any::<u8>(), 0..3u8).prop_map(|(c, i, x, how)| {
            let mut v = compound_repr(&c).to_vec().unwrap();
            let at = i.index(v.len());
            match how {
                0 => v.truncate(at),
                1 => v[at] = x,
                _ => v[at] ^= 1 << (x % 8),
            }
            v
        }),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(4000))]

    #[test]
    fn rtp_never_panics(mut data in rtp_shaped()) {
        touch_rtp(&RtpPacket::new_unchecked(&data[..]));
        rtp_reemit(&data)?;
        let _ = RtpPacket::new_unchecked(&data[..]).check_len();
        poke_rtp(&mut data);
        rtp_reemit(&data)?;
    }

    #[test]
    fn rtcp_never_panics(mut data in rtcp_shaped()) {
        touch_rtcp(&RtcpPacket::new_unchecked(&data[..]));
        rtcp_reemit(&data)?;
        poke_rtcp(&mut data);
        rtcp_reemit(&data)?;
    }

    #[test]
    fn telephone_event_never_panics(mut data in prop::collection::vec(any::<u8>(), 0..8)) {
        let v = TelephoneEvent::new_unchecked(&data[..]);
        let _ = (v.event(), v.event_code(), v.end(), v.reserved(), v.volume(), v.duration());
        match TelephoneEventRepr::parse_bytes(&data) {
            Ok(e) => {
                prop_assert!(data.len() >= 4);
                let out = e.to_bytes().unwrap();
                prop_assert_eq!(out[0], data[0]);
                prop_assert_eq!(out[1], data[1] & !0x40);
                prop_assert_eq!(&out[2..], &data[2..4]);
                prop_assert_eq!(e.event.dtmf_char().is_some(), u8::from(e.event) < 16);
            }
            Err(_) => prop_assert!(data.len() < 4),
        }
        let mut v = TelephoneEvent::new_unchecked(&mut data[..]);
        v.set_event(TelephoneEventCode::Flash);
        v.set_end(true);
        v.set_reserved(true);
        v.set_volume(0xFF);
        v.set_duration(0xFFFF);
    }
}
