//! Property tests: repr → bytes → repr is the identity for RTP, RTCP and
//! telephone events, and the views read back what the reprs wrote.

mod common;

use common::*;
use proptest::prelude::*;
use tandem_media::wire::rfc4733::{TelephoneEvent, TelephoneEventRepr};
use tandem_media::wire::rtcp::{CompoundIter, CompoundRepr, RtcpPacket, RtcpRepr};
use tandem_media::wire::rtp::{RtpPacket, RtpRepr};

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn rtp_round_trip(p in rtp()) {
        let repr = p.repr();
        let bytes = p.to_vec();
        prop_assert_eq!(bytes.len(), repr.buffer_len());
        let view = RtpPacket::new_checked(&bytes[..]).unwrap();
        prop_assert_eq!(RtpRepr::parse(&view).unwrap(), repr);
        prop_assert_eq!(view.payload(), &p.payload[..]);
        prop_assert_eq!(view.header_len(), repr.header_len());
        prop_assert_eq!(view.csrcs().collect::<Vec<_>>(), p.csrcs.clone());
        prop_assert_eq!(view.padding_len(), usize::from(p.padding));
        prop_assert_eq!(
            view.extension(),
            p.extension.as_ref().map(|(profile, data)| (*profile, &data[..]))
        );

        // Emitting through the view API into a dirty, longer buffer gives
        // the same prefix.
        let mut buf = vec![0xA5; bytes.len() + 7];
        let n = repr.emit_with_payload(&mut buf, &p.payload).unwrap();
        prop_assert_eq!(&buf[..n], &bytes[..]);

        // One octet short never fits.
        if let Some(short) = buf.get_mut(..bytes.len() - 1) {
            prop_assert!(repr.emit_with_payload(short, &p.payload).is_err());
        }
    }

    #[test]
    fn rtcp_packet_round_trip(p in rtcp_packet()) {
        let repr = p.repr();
        let bytes = repr.to_vec().unwrap();
        prop_assert_eq!(bytes.len(), repr.buffer_len());
        prop_assert_eq!(bytes.len() % 4, 0);
        let view = RtcpPacket::new_checked(&bytes[..]).unwrap();
        prop_assert_eq!(view.packet_len(), bytes.len());
        prop_assert_eq!(view.packet_type(), repr.packet_type());
        prop_assert_eq!(RtcpRepr::parse(&view).unwrap(), repr);
    }

    #[test]
    fn rtcp_compound_round_trip(packets in rtcp_compound()) {
        let repr = compound_repr(&packets);
        let bytes = repr.to_vec().unwrap();
        prop_assert_eq!(CompoundRepr::parse(&bytes).unwrap(), repr.clone());
        let views: Vec<_> = CompoundIter::new(&bytes).collect::<Result<_, _>>().unwrap();
        prop_assert_eq!(views.len(), packets.len());
        for (view, packet) in views.iter().zip(&repr.packets) {
            prop_assert_eq!(view.packet_len(), packet.buffer_len());
        }
    }

    #[test]
    fn rtcp_gateway_report_round_trip(
        first in rtcp_report(),
        cname in prop::collection::vec(any::<u8>(), 0..=255),
        bye in prop::option::of(prop::option::of(prop::collection::vec(any::<u8>(), 0..=255))),
    ) {
        let (ssrc, sender_info, reports) = match first {
            OwnedRtcp::Sr(s, si, r, _) => (s, Some(si), r),
            OwnedRtcp::Rr(s, r, _) => (s, None, r),
            _ => unreachable!(),
        };
        let mut repr = CompoundRepr::report(ssrc, sender_info, reports, &cname);
        if let Some(reason) = &bye {
            repr = repr.with_bye(ssrc, reason.as_deref());
        }
        let bytes = repr.to_vec().unwrap();
        let parsed = CompoundRepr::parse(&bytes).unwrap();
        prop_assert_eq!(parsed.cname(ssrc), Some(&cname[..]));
        prop_assert_eq!(parsed, repr);
    }

    #[test]
    fn telephone_event_round_trip(e in telephone_event()) {
        let bytes = e.to_bytes().unwrap();
        let view = TelephoneEvent::new_checked(&bytes[..]).unwrap();
        prop_assert_eq!(view.event(), e.event);
        prop_assert_eq!(view.end(), e.end);
        prop_assert!(!view.reserved());
        prop_assert_eq!(view.volume(), e.volume);
        prop_assert_eq!(view.duration(), e.duration);
        prop_assert_eq!(TelephoneEventRepr::parse(&view).unwrap(), e);
    }

    /// The other way for telephone events, where it is exact: every 4
    /// octets with R clear are a valid event that re-emits to itself.
    #[test]
    fn telephone_event_bytes_round_trip(mut b in any::<[u8; 4]>()) {
        b[1] &= !0x40;
        let e = TelephoneEventRepr::parse_bytes(&b).unwrap();
        prop_assert_eq!(e.to_bytes().unwrap(), b);
    }
}
