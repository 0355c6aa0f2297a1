//! Property tests: arbitrary bytes never make a parser or accessor panic,
//! and whatever the strict decoders accept re-emits to the same octets.

use isdn_q931::wire::ie::facility::Facility;
use isdn_q931::wire::ie::*;
use isdn_q931::wire::lapd::{Frame, FrameRepr, FrmrInfo};
use isdn_q931::wire::q931::{IeIter, Message, MessageRepr};
use proptest::prelude::*;

/// Every codeset-0 identifier with a typed decoder, and a few without.
const IDS: &[u8] =
    &[0x01, 0x04, 0x08, 0x14, 0x18, 0x1C, 0x1E, 0x27, 0x28, 0x29, 0x2C, 0x34, 0x4C, 0x6C, 0x70, 0x74, 0x79, 0x7C, 0x7D, 0x7E, 0x00, 0x0B, 0x6D, 0x7F];

/// Message-shaped input: a plausible header, then IE-ish octets, so the
/// walk gets past the header most of the time.
fn message_bytes() -> impl Strategy<Value = Vec<u8>> {
    let ie = prop_oneof![
        // Variable-length IE with a correct length.
        (prop::sample::select(IDS), prop::collection::vec(any::<u8>(), 0..12)).prop_map(|(id, data)| {
            let mut v = vec![id, data.len() as u8];
            v.extend(data);
            v
        }),
        // Shifts and other single-octet IEs.
        (0x80..=0xFFu8).prop_map(|b| vec![b]),
        // Garbage.
        prop::collection::vec(any::<u8>(), 0..6),
    ];
    (prop::sample::select(vec![0x08u8, 0x03, 0x43, 0x00]), 0..=3u8, any::<[u8; 3]>(), prop::collection::vec(ie, 0..10)).prop_map(|(pd, crlen, hdr, ies)| {
        let mut v = vec![pd, crlen];
        v.extend_from_slice(&hdr[..usize::from(crlen.min(2)) + 1]);
        for ie in ies {
            v.extend(ie);
        }
        v
    })
}

fn touch_ie_views(d: &[u8]) {
    let b = BearerCapability::new_unchecked(d);
    let _ = (b.coding_standard(), b.itc(), b.transfer_rate(), b.rate_multiplier(), b.layer(1), b.layer1_protocol());
    let c = ChannelId::new_unchecked(d);
    let _ = (c.interface_id(), c.selection(), c.units(), c.is_map(), c.channel_octets(), c.has_channel_spec());
    let n = PartyNumber::new_unchecked(d);
    let _ = (n.type_of_number(), n.presentation(), n.screening(), n.reason(), n.digits());
    let c = Cause::new_unchecked(d);
    let _ = (c.location(), c.recommendation(), c.value(), c.diagnostics());
    let p = ProgressIndicator::new_unchecked(d);
    let _ = (p.location(), p.description());
    let disp = Display::new_unchecked(d);
    let _ = (disp.display_type(), disp.text());
    let _ = Signal::new_unchecked(d).value();
    let ni = NotificationIndicator::new_unchecked(d);
    let _ = (ni.description(), ni.data());
    let _ = CallState::new_unchecked(d).value();
    let _ = RestartIndicator::new_unchecked(d).class();
    let _ = ChangeStatus::new_unchecked(d).status();
    let _ = KeypadFacility::new_unchecked(d).digits();
    let _ = UserUser::new_unchecked(d).data();
    let dt = DateTime::new_unchecked(d);
    let _ = (dt.year(), dt.day(), dt.hour(), dt.second());
    let h = HighLayerCompat::new_unchecked(d);
    let _ = (h.characteristics(), h.extended_characteristics());
    let l = LowLayerCompat::new_unchecked(d);
    let _ = (l.itc(), l.transfer_rate(), l.out_band_negotiation());
    let f = Facility::new_unchecked(d);
    let _ = (f.protocol_profile(), f.service_id(), f.apdu_octets());
}

proptest! {
    // 2048 cases by default; PROPTEST_CASES overrides for longer runs.
    #![proptest_config(ProptestConfig {
        cases: std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(2048),
        ..ProptestConfig::default()
    })]

    #[test]
    fn lapd_never_panics_and_is_exact(data in prop::collection::vec(any::<u8>(), 0..24)) {
        let view = Frame::new_unchecked(&data[..]);
        let _ = (view.sapi(), view.cr(), view.tei(), view.format(), view.ns(), view.nr(),
                 view.poll_final(), view.info(), view.header_len());
        let _ = FrmrInfo::parse(&data);
        if let Ok(f) = FrameRepr::parse_bytes(&data) {
            prop_assert_eq!(f.to_vec(), data.clone());
        }
        // Also through an unchecked view.
        let _ = FrameRepr::parse(&view);
    }

    #[test]
    fn lapd_plausible_frames(addr in prop::sample::select(vec![[0x00u8, 0x01], [0x02, 0x01], [0xFC, 0xFF]]),
                             rest in prop::collection::vec(any::<u8>(), 0..8)) {
        let mut data = addr.to_vec();
        data.extend(rest);
        if let Ok(f) = FrameRepr::parse_bytes(&data) {
            prop_assert_eq!(f.to_vec(), data.clone());
        }
    }

    #[test]
    fn q931_arbitrary_bytes(data in prop::collection::vec(any::<u8>(), 0..64)) {
        let view = Message::new_unchecked(&data[..]);
        let _ = (view.protocol_discriminator(), view.call_ref(), view.message_type(), view.body());
        let _ = view.ies().count();
        let _ = MessageRepr::parse(&view);
        let _ = MessageRepr::parse_bytes(&data);
    }

    #[test]
    fn q931_messages_reparse_stably(data in message_bytes()) {
        let Ok(m) = MessageRepr::parse_bytes(&data) else { return Ok(()); };
        let _ = m.validate();
        let _: Vec<_> = m.ie_errors().collect();
        for ie in &m.ies {
            if let IeRepr::Facility(f) = ie {
                let _: Vec<_> = f.apdus().collect();
                let _ = f.names();
            }
        }
        let bytes = m.to_vec().unwrap();
        let back = MessageRepr::parse_bytes(&bytes).unwrap();
        prop_assert_eq!(&back, &m.canonical());
        prop_assert_eq!(back.to_vec().unwrap(), bytes);
    }

    #[test]
    fn ie_walk_never_panics(body in prop::collection::vec(any::<u8>(), 0..64)) {
        for ie in IeIter::new(&body) {
            match ie {
                Ok(raw) => { let _ = raw.to_repr(); }
                Err(e) => { prop_assert!(e.ie().is_some()); }
            }
        }
    }

    #[test]
    fn ie_decoders_are_exact(id in prop::sample::select(IDS), codeset in 0..8u8,
                             data in prop::collection::vec(any::<u8>(), 0..16)) {
        touch_ie_views(&data);
        let ie = IeRepr::parse(codeset, id, &data);
        let mut out = Vec::new();
        ie.encode_contents(&mut out);
        prop_assert_eq!(out, data.clone(), "{:?}", ie);
        if let Some(e) = ie.error() {
            prop_assert!(e.cause().is_some());
            prop_assert_eq!(e.ie().map(|i| i.id), Some(id));
        }
    }

    #[test]
    fn structured_ie_contents(id in prop::sample::select(IDS),
                              data in prop::collection::vec(
                                  prop::sample::select(vec![0x00u8, 0x01, 0x02, 0x03, 0x21, 0x30, 0x80, 0x81,
                                                            0x82, 0x83, 0x87, 0x8B, 0x90, 0x91, 0x9F, 0xA1,
                                                            0xA2, 0xA3, 0xA9, 0xAA, 0xC2, 0xE9, 0xFF]),
                                  0..16)) {
        // Biased octets reach deeper into the structured decoders.
        let ie = IeRepr::parse(0, id, &data);
        let mut out = Vec::new();
        ie.encode_contents(&mut out);
        prop_assert_eq!(out, data.clone(), "{:?}", ie);
        if let IeRepr::Facility(f) = &ie {
            let _: Vec<_> = f.apdus().collect();
            let _ = f.names();
            let _ = f.has_ni2_information_following();
        }
        if let IeRepr::ChannelId(c) = &ie {
            let _ = c.channel_numbers();
        }
    }

    #[test]
    fn facility_apdus_never_panic(components in prop::collection::vec(
        prop::sample::select(vec![0x00u8, 0x01, 0x02, 0x04, 0x05, 0x06, 0x0A, 0x30, 0x80, 0x81, 0x82, 0x84,
                                  0x87, 0x8B, 0x92, 0xA1, 0xA2, 0xA3, 0xA4, 0xAA, 0xFF]), 0..40)) {
        let f = FacilityRepr { protocol_profile: 0x1F, service_id: None, components };
        let _: Vec<_> = f.apdus().collect();
        let _ = f.names();
        let _ = f.calling_name();
    }
}
