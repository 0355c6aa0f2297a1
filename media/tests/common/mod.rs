//! Strategies shared by the property tests: owned mirrors of the reprs
//! (which borrow their variable-length parts) and how to borrow them.

#![allow(dead_code)]

use proptest::prelude::*;
use tandem_media::wire::rfc4733::{TelephoneEventCode, TelephoneEventRepr};
use tandem_media::wire::rtcp::{
    AppRepr, ByeRepr, CompoundRepr, ReceiverReportRepr, ReportBlockRepr, RtcpRepr, SdesChunk, SdesItem, SdesItemType, SdesRepr, SenderInfo, SenderReportRepr,
};
use tandem_media::wire::rtp::{Csrcs, RtpExtension, RtpRepr};

/// An RTP packet's header fields plus its payload, owned.
#[derive(Debug, Clone)]
pub struct OwnedRtp {
    pub marker: bool,
    pub payload_type: u8,
    pub sequence_number: u16,
    pub timestamp: u32,
    pub ssrc: u32,
    pub csrcs: Vec<u32>,
    pub extension: Option<(u16, Vec<u8>)>,
    pub payload: Vec<u8>,
    pub padding: u8,
}

impl OwnedRtp {
    pub fn repr(&self) -> RtpRepr<'_> {
        RtpRepr {
            marker: self.marker,
            payload_type: self.payload_type,
            sequence_number: self.sequence_number,
            timestamp: self.timestamp,
            ssrc: self.ssrc,
            csrcs: Csrcs::from_ids(&self.csrcs).unwrap(),
            extension: self.extension.as_ref().map(|(profile, data)| RtpExtension { profile: *profile, data }),
            payload_len: self.payload.len(),
            padding: self.padding,
        }
    }

    pub fn to_vec(&self) -> Vec<u8> {
        self.repr().to_vec(&self.payload).unwrap()
    }
}

pub fn rtp() -> impl Strategy<Value = OwnedRtp> {
    (
        (any::<bool>(), 0..128u8, any::<u16>(), any::<u32>(), any::<u32>()),
        prop::collection::vec(any::<u32>(), 0..=15),
        prop::option::of((any::<u16>(), (0..6usize).prop_flat_map(|w| prop::collection::vec(any::<u8>(), 4 * w)))),
        prop::collection::vec(any::<u8>(), 0..48),
        prop_oneof![3 => Just(0u8), 1 => any::<u8>()],
    )
        .prop_map(|((marker, payload_type, sequence_number, timestamp, ssrc), csrcs, extension, payload, padding)| OwnedRtp {
            marker,
            payload_type,
            sequence_number,
            timestamp,
            ssrc,
            csrcs,
            extension,
            payload,
            padding,
        })
}

pub fn telephone_event() -> impl Strategy<Value = TelephoneEventRepr> {
    (any::<u8>(), any::<bool>(), 0..=63u8, any::<u16>()).prop_map(|(e, end, volume, duration)| TelephoneEventRepr {
        event: TelephoneEventCode::from(e),
        end,
        volume,
        duration,
    })
}

pub fn report_block() -> impl Strategy<Value = ReportBlockRepr> {
    (any::<u32>(), any::<u8>(), -0x80_0000..=0x7F_FFFFi32, any::<u32>(), any::<u32>(), any::<u32>(), any::<u32>()).prop_map(
        |(ssrc, fraction_lost, cumulative_lost, ehs, jitter, lsr, dlsr)| ReportBlockRepr {
            ssrc,
            fraction_lost,
            cumulative_lost,
            extended_highest_seq: ehs,
            jitter,
            last_sr: lsr,
            delay_since_last_sr: dlsr,
        },
    )
}

fn words(max: usize) -> impl Strategy<Value = Vec<u8>> {
    (0..=max).prop_flat_map(|w| prop::collection::vec(any::<u8>(), 4 * w))
}

/// An SDES chunk, owned: SSRC and (item type, value) pairs.
pub type OwnedChunk = (u32, Vec<(u8, Vec<u8>)>);

/// An RTCP packet, owned.
#[derive(Debug, Clone)]
pub enum OwnedRtcp {
    Sr(u32, SenderInfo, Vec<ReportBlockRepr>, Vec<u8>),
    Rr(u32, Vec<ReportBlockRepr>, Vec<u8>),
    Sdes(Vec<OwnedChunk>),
    Bye(Vec<u32>, Option<Vec<u8>>),
    App(u8, u32, [u8; 4], Vec<u8>),
    Unknown(u8, u8, Vec<u8>),
}

impl OwnedRtcp {
    pub fn repr(&self) -> RtcpRepr<'_> {
        match self {
            OwnedRtcp::Sr(ssrc, si, reports, ext) => {
                RtcpRepr::SenderReport(SenderReportRepr { ssrc: *ssrc, sender_info: *si, reports: reports.clone(), extension: ext })
            }
            OwnedRtcp::Rr(ssrc, reports, ext) => RtcpRepr::ReceiverReport(ReceiverReportRepr { ssrc: *ssrc, reports: reports.clone(), extension: ext }),
            OwnedRtcp::Sdes(chunks) => RtcpRepr::SourceDescription(SdesRepr {
                chunks: chunks
                    .iter()
                    .map(|(ssrc, items)| SdesChunk {
                        ssrc: *ssrc,
                        items: items.iter().map(|(t, v)| SdesItem { item_type: SdesItemType::from(*t), value: v }).collect(),
                    })
                    .collect(),
            }),
            OwnedRtcp::Bye(sources, reason) => RtcpRepr::Goodbye(ByeRepr { sources: sources.clone(), reason: reason.as_deref() }),
            OwnedRtcp::App(subtype, ssrc, name, data) => RtcpRepr::App(AppRepr { subtype: *subtype, ssrc: *ssrc, name: *name, data }),
            OwnedRtcp::Unknown(packet_type, count, payload) => RtcpRepr::Unknown { packet_type: *packet_type, count: *count, payload },
        }
    }
}

fn sender_info() -> impl Strategy<Value = SenderInfo> {
    (any::<u64>(), any::<u32>(), any::<u32>(), any::<u32>()).prop_map(|(ntp, rtp, p, o)| SenderInfo {
        ntp_timestamp: ntp,
        rtp_timestamp: rtp,
        packet_count: p,
        octet_count: o,
    })
}

pub fn rtcp_report() -> impl Strategy<Value = OwnedRtcp> {
    prop_oneof![
        (any::<u32>(), sender_info(), prop::collection::vec(report_block(), 0..=31), words(3)).prop_map(|(s, si, r, e)| OwnedRtcp::Sr(s, si, r, e)),
        (any::<u32>(), prop::collection::vec(report_block(), 0..=31), words(3)).prop_map(|(s, r, e)| OwnedRtcp::Rr(s, r, e)),
    ]
}

pub fn rtcp_packet() -> impl Strategy<Value = OwnedRtcp> {
    let item = (1..=255u8, prop::collection::vec(any::<u8>(), 0..40));
    let chunk = (any::<u32>(), prop::collection::vec(item, 0..5));
    prop_oneof![
        rtcp_report(),
        prop::collection::vec(chunk, 0..=8).prop_map(OwnedRtcp::Sdes),
        (prop::collection::vec(any::<u32>(), 0..=31), prop::option::of(prop::collection::vec(any::<u8>(), 0..=255))).prop_map(|(s, r)| OwnedRtcp::Bye(s, r)),
        (0..=31u8, any::<u32>(), any::<[u8; 4]>(), words(8)).prop_map(|(t, s, n, d)| OwnedRtcp::App(t, s, n, d)),
        (any::<u8>().prop_filter("typed packet types", |t| !(200..=204).contains(t)), 0..=31u8, words(8)).prop_map(|(t, c, p)| OwnedRtcp::Unknown(t, c, p)),
    ]
}

/// A compound packet: an SR or RR, then up to four packets of any type.
pub fn rtcp_compound() -> impl Strategy<Value = Vec<OwnedRtcp>> {
    (rtcp_report(), prop::collection::vec(rtcp_packet(), 0..4)).prop_map(|(first, rest)| {
        let mut v = vec![first];
        v.extend(rest);
        v
    })
}

pub fn compound_repr(packets: &[OwnedRtcp]) -> CompoundRepr<'_> {
    CompoundRepr { packets: packets.iter().map(OwnedRtcp::repr).collect() }
}
