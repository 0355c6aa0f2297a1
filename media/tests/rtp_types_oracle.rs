//! Differential tests against `rtp-types` (pinned, dev-dependency only):
//! on random valid packets — ours emitted and theirs built — both parsers
//! agree field by field and both writers produce the same octets; on
//! arbitrary and mutated octets both accept and reject the same inputs.

mod common;

use common::*;
use proptest::prelude::*;
use rtp_types::{RtpPacket as Theirs, RtpPacketBuilder};
use tandem_media::wire::rtp::{RtpPacket, RtpRepr};

/// Every field both crates expose, compared.
fn same_fields(data: &[u8]) -> Result<(), TestCaseError> {
    let ours = RtpPacket::new_checked(data).unwrap();
    let repr = RtpRepr::parse(&ours).unwrap();
    let theirs = Theirs::parse(data).unwrap();
    prop_assert_eq!(ours.version(), theirs.version());
    prop_assert_eq!(ours.has_padding(), theirs.padding_bit());
    prop_assert_eq!(ours.has_extension(), theirs.extension_bit());
    prop_assert_eq!(ours.csrc_count(), theirs.n_csrcs());
    prop_assert_eq!(ours.marker(), theirs.marker_bit());
    prop_assert_eq!(repr.marker, theirs.marker_bit());
    prop_assert_eq!(repr.payload_type, theirs.payload_type());
    prop_assert_eq!(repr.sequence_number, theirs.sequence_number());
    prop_assert_eq!(repr.timestamp, theirs.timestamp());
    prop_assert_eq!(repr.ssrc, theirs.ssrc());
    prop_assert_eq!(repr.csrcs.iter().collect::<Vec<_>>(), theirs.csrc().collect::<Vec<_>>());
    prop_assert_eq!(ours.csrcs().collect::<Vec<_>>(), theirs.csrc().collect::<Vec<_>>());
    prop_assert_eq!(repr.extension.map(|e| (e.profile, e.data)), theirs.extension());
    prop_assert_eq!(ours.extension(), theirs.extension());
    prop_assert_eq!(ours.extension_data().len(), theirs.extension_len());
    prop_assert_eq!(ours.header_len(), theirs.payload_offset());
    prop_assert_eq!(repr.header_len(), theirs.payload_offset());
    prop_assert_eq!((repr.padding != 0).then_some(repr.padding), theirs.padding());
    prop_assert_eq!(repr.payload_len, theirs.payload_len());
    prop_assert_eq!(ours.payload(), theirs.payload());
    Ok(())
}

fn builder(p: &OwnedRtp) -> RtpPacketBuilder<&[u8], &[u8]> {
    let mut b = RtpPacketBuilder::new()
        .marker_bit(p.marker)
        .payload_type(p.payload_type)
        .sequence_number(p.sequence_number)
        .timestamp(p.timestamp)
        .ssrc(p.ssrc)
        .payload(&p.payload[..]);
    for &c in &p.csrcs {
        b = b.add_csrc(c);
    }
    if let Some((profile, data)) = &p.extension {
        b = b.extension(*profile, &data[..]);
    }
    if p.padding != 0 {
        b = b.padding(p.padding);
    }
    b
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(3000))]

    /// Our emitter's packets: rtp-types reads the same fields, and its
    /// builder writes the same octets from the same fields.
    #[test]
    fn ours_emitted(p in rtp()) {
        let bytes = p.to_vec();
        same_fields(&bytes)?;
        let theirs = builder(&p).write_vec().unwrap();
        prop_assert_eq!(&theirs, &bytes);
    }

    /// rtp-types' builder's packets: we read back its inputs.
    #[test]
    fn theirs_built(p in rtp()) {
        let bytes = builder(&p).write_vec().unwrap();
        same_fields(&bytes)?;
        prop_assert_eq!(RtpRepr::parse_bytes(&bytes).unwrap(), p.repr());
    }

    /// Arbitrary and mutated octets: both accept exactly the same inputs
    /// (both check version, CSRC list, extension and padding the same way),
    /// and agree on every field of those accepted.
    #[test]
    fn same_verdict(data in prop_oneof![
        prop::collection::vec(any::<u8>(), 0..120),
        (rtp(), any::<prop::sample::Index>(), any::<u8>(), any::<bool>()).prop_map(|(p, i, x, cut)| {
            let mut v = p.to_vec();
            let at = i.index(v.len());
            if cut { v.truncate(at) } else { v[at] = x }
            v
        }),
        (prop::sample::select(vec![0x80u8, 0x8F, 0x90, 0xA0, 0xB5]), prop::collection::vec(any::<u8>(), 0..80))
            .prop_map(|(b0, mut v)| { v.insert(0, b0); v }),
    ]) {
        let ours = RtpPacket::new_checked(&data[..]).is_ok();
        let theirs = Theirs::parse(&data).is_ok();
        prop_assert_eq!(ours, theirs, "verdicts differ on {:02x?}", data);
        if ours {
            same_fields(&data)?;
        }
    }
}
