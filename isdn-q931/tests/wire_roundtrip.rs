//! Property tests: every typed IE, LAPD frames and whole Q.931 messages
//! survive emit → parse unchanged, and whatever parses re-emits to the
//! same octets.

use isdn_q931::wire::ie::facility::{Name, NameData, NameOperation, NameStyle};
use isdn_q931::wire::ie::*;
use isdn_q931::wire::lapd::{Frame, FrameKind, FrameRepr};
use isdn_q931::wire::q931::{CallRef, CallRefFlag, MessageRepr, MessageType, ProtocolDiscriminator};
use proptest::prelude::*;
use proptest::sample::select;

fn coding_standard() -> impl Strategy<Value = CodingStandard> {
    (0..4u8).prop_map(CodingStandard::from_bits)
}

fn location() -> impl Strategy<Value = Location> {
    any::<u8>().prop_map(Location::from_bits)
}

fn ia5(min: usize, max: usize) -> impl Strategy<Value = String> {
    prop::collection::vec(0..0x80u8, min..=max).prop_map(|v| v.into_iter().map(char::from).collect())
}

fn seven_bit_vec(max: usize) -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(0..0x80u8, 0..=max)
}

fn layer_info() -> impl Strategy<Value = LayerInfo> {
    (0..0x20u8, seven_bit_vec(4)).prop_map(|(protocol, extra)| LayerInfo { protocol, extra })
}

fn bearer() -> impl Strategy<Value = BearerCapabilityRepr> {
    (
        coding_standard(),
        any::<u8>(),
        0..4u8,
        any::<u8>(),
        0..0x80u8,
        prop::option::of(layer_info()),
        prop::option::of(layer_info()),
        prop::option::of(layer_info()),
    )
        .prop_map(|(cs, itc, mode, rate, mult, l1, l2, l3)| {
            let transfer_rate = TransferRate::from_bits(rate);
            BearerCapabilityRepr {
                coding_standard: cs,
                itc: InfoTransferCapability::from_bits(itc),
                transfer_mode: TransferMode::from_bits(mode),
                transfer_rate,
                rate_multiplier: (transfer_rate == TransferRate::Multirate).then_some(mult),
                layer1: l1,
                layer2: l2,
                layer3: l3,
            }
        })
}

fn channel_id() -> impl Strategy<Value = ChannelIdRepr> {
    let list = prop_oneof![
        prop::collection::vec(0..0x80u8, 1..5).prop_map(ChannelList::Numbers),
        prop::collection::vec(any::<u8>(), 1..5).prop_map(ChannelList::Map),
    ];
    let spec =
        (coding_standard(), 0..0x10u8, list).prop_map(|(cs, units, list)| ChannelSpec { coding_standard: cs, units: ChannelUnits::from_bits(units), list });
    (any::<bool>(), prop::option::of(0..0x80u8), any::<bool>(), any::<bool>(), 0..4u8, prop::option::of(spec)).prop_map(
        |(primary, interface_id, exclusive, d_channel, sel, channels)| ChannelIdRepr {
            interface_type: if primary { InterfaceType::Primary } else { InterfaceType::Basic },
            interface_id,
            exclusive,
            d_channel,
            selection: ChannelSelection::from_bits(sel),
            channels: if primary { channels } else { None },
        },
    )
}

fn number(kind: NumberKind) -> impl Strategy<Value = PartyNumberRepr> {
    (any::<u8>(), any::<u8>(), prop::option::of((0..4u8, 0..4u8)), prop::option::of(any::<u8>()), ia5(0, 20)).prop_map(
        move |(ton, npi, pres, reason, digits)| {
            let presentation = match kind {
                NumberKind::Called => None,
                _ => pres.map(|(p, s)| (Presentation::from_bits(p), Screening::from_bits(s))),
            };
            let reason = match kind {
                NumberKind::Redirecting if presentation.is_some() => reason.map(RedirectReason::from_bits),
                _ => None,
            };
            PartyNumberRepr { type_of_number: TypeOfNumber::from_bits(ton), numbering_plan: NumberingPlan::from_bits(npi), presentation, reason, digits }
        },
    )
}

fn cause() -> impl Strategy<Value = CauseRepr> {
    (coding_standard(), location(), prop::option::of(0..0x80u8), 0..0x80u8, prop::collection::vec(any::<u8>(), 0..8)).prop_map(
        |(cs, loc, rec, value, diagnostics)| CauseRepr { coding_standard: cs, location: loc, recommendation: rec, value: CauseValue(value), diagnostics },
    )
}

fn progress() -> impl Strategy<Value = ProgressIndicatorRepr> {
    (coding_standard(), location(), any::<u8>()).prop_map(|(cs, loc, d)| ProgressIndicatorRepr {
        coding_standard: cs,
        location: loc,
        description: ProgressDescription::from_bits(d),
    })
}

fn display() -> impl Strategy<Value = DisplayRepr> {
    (prop::option::of(0x80..=0xFFu8), prop::collection::vec(any::<u8>(), 1..30)).prop_map(|(t, mut text)| {
        if t.is_none() {
            text[0] &= 0x7F;
        }
        DisplayRepr { display_type: t, text }
    })
}

fn notification() -> impl Strategy<Value = NotificationIndicatorRepr> {
    (0..0x80u8, prop::collection::vec(any::<u8>(), 0..8)).prop_map(|(description, data)| NotificationIndicatorRepr { description, data })
}

fn date_time() -> impl Strategy<Value = DateTimeRepr> {
    (any::<[u8; 6]>(), 0..=3usize).prop_map(|(v, n)| DateTimeRepr {
        year: v[0],
        month: v[1],
        day: v[2],
        hour: (n >= 1).then_some(v[3]),
        minute: (n >= 2).then_some(v[4]),
        second: (n >= 3).then_some(v[5]),
    })
}

fn hlc() -> impl Strategy<Value = HighLayerCompatRepr> {
    (0..0x80u8, any::<u8>(), 0..0x80u8).prop_map(|(o3, o4, o4a)| {
        let contents = if o4 & 0x80 != 0 { vec![0x80 | o3, o4] } else { vec![0x80 | o3, o4, 0x80 | o4a] };
        HighLayerCompatRepr { contents }
    })
}

fn llc() -> impl Strategy<Value = LowLayerCompatRepr> {
    (any::<u8>(), 0..0x80u8, any::<u8>(), prop::collection::vec(any::<u8>(), 0..6)).prop_map(|(o3, o3a, o4, rest)| {
        let mut contents = vec![o3];
        if o3 & 0x80 == 0 {
            contents.push(0x80 | o3a);
        }
        contents.push(o4);
        contents.extend(rest);
        LowLayerCompatRepr { contents }
    })
}

fn name() -> impl Strategy<Value = Name> {
    let data = (prop::collection::vec(any::<u8>(), 1..50), prop::option::of(any::<i64>())).prop_map(|(name, character_set)| NameData { name, character_set });
    prop_oneof![data.clone().prop_map(Name::Allowed), data.prop_map(Name::Restricted), Just(Name::RestrictedNull), Just(Name::NotAvailable),]
}

fn facility() -> impl Strategy<Value = FacilityRepr> {
    prop_oneof![
        (0..0x20u8, prop::option::of(0..0x80u8), prop::collection::vec(any::<u8>(), 0..40))
            .prop_map(|(protocol_profile, service_id, components)| FacilityRepr { protocol_profile, service_id, components }),
        (any::<bool>(), any::<i16>(), name()).prop_map(|(qsig, id, name)| {
            let style = if qsig { NameStyle::Qsig } else { NameStyle::Ni2 };
            FacilityRepr::with_calling_name(style, i64::from(id), &name)
        }),
    ]
}

/// Typed codeset-0 identifiers (never generated as `Unknown`).
const TYPED_IDS: &[u8] = &[0x01, 0x04, 0x08, 0x14, 0x18, 0x1C, 0x1E, 0x27, 0x28, 0x29, 0x2C, 0x34, 0x4C, 0x6C, 0x70, 0x74, 0x79, 0x7C, 0x7D, 0x7E];

fn unknown() -> impl Strategy<Value = RawIe> {
    let variable = (select(vec![0u8, 4, 5, 6, 7]), 0..0x80u8, prop::collection::vec(any::<u8>(), 1..10))
        .prop_filter("typed identifier", |(cs, id, _)| *cs != 0 || !TYPED_IDS.contains(id))
        .prop_map(|(codeset, id, data)| RawIe { codeset, id, data });
    let single = (select(vec![0u8, 5, 6, 7]), prop_oneof![0x80..=0x8Fu8, 0xA2..=0xAFu8, 0xC0..=0xCFu8, 0xE0..=0xFFu8]).prop_map(|(codeset, id)| RawIe {
        codeset,
        id,
        data: Vec::new(),
    });
    prop_oneof![4 => variable, 1 => single]
}

fn ie() -> impl Strategy<Value = IeRepr> {
    prop_oneof![
        Just(IeRepr::SendingComplete),
        Just(IeRepr::MoreData),
        (0..0x10u8).prop_map(IeRepr::CongestionLevel),
        (0..0x10u8).prop_map(IeRepr::RepeatIndicator),
        bearer().prop_map(IeRepr::BearerCapability),
        cause().prop_map(IeRepr::Cause),
        (coding_standard(), any::<u8>()).prop_map(|(cs, v)| IeRepr::CallState(CallStateRepr { coding_standard: cs, value: CallStateValue::from_bits(v) })),
        channel_id().prop_map(IeRepr::ChannelId),
        facility().prop_map(IeRepr::Facility),
        progress().prop_map(IeRepr::ProgressIndicator),
        notification().prop_map(IeRepr::NotificationIndicator),
        display().prop_map(IeRepr::Display),
        date_time().prop_map(IeRepr::DateTime),
        ia5(1, 20).prop_map(|digits| IeRepr::KeypadFacility(KeypadFacilityRepr { digits })),
        any::<u8>().prop_map(|v| IeRepr::Signal(SignalRepr { value: SignalValue::from_bits(v) })),
        number(NumberKind::Connected).prop_map(IeRepr::ConnectedNumber),
        number(NumberKind::Calling).prop_map(IeRepr::CallingNumber),
        number(NumberKind::Called).prop_map(IeRepr::CalledNumber),
        number(NumberKind::Redirecting).prop_map(IeRepr::RedirectingNumber),
        (0..8u8).prop_map(|c| IeRepr::RestartIndicator(RestartIndicatorRepr { class: RestartClass::from_bits(c) })),
        (any::<bool>(), 0..8u8).prop_map(|(p, s)| IeRepr::ChangeStatus(ChangeStatusRepr { channel_preference: p, status: ServiceStatus::from_bits(s) })),
        llc().prop_map(IeRepr::LowLayerCompat),
        hlc().prop_map(IeRepr::HighLayerCompat),
        (any::<u8>(), prop::collection::vec(any::<u8>(), 0..10)).prop_map(|(protocol, data)| IeRepr::UserUser(UserUserRepr { protocol, data })),
        unknown().prop_map(IeRepr::Unknown),
        // Bearer capability with a lone octet 3: always malformed.
        any::<u8>().prop_map(|b| IeRepr::Malformed(RawIe { codeset: 0, id: 0x04, data: vec![b] })),
    ]
}

fn pd() -> impl Strategy<Value = ProtocolDiscriminator> {
    prop_oneof![
        Just(ProtocolDiscriminator::Q931),
        Just(ProtocolDiscriminator::AttMaintenance),
        Just(ProtocolDiscriminator::NationalMaintenance),
        any::<u8>().prop_map(ProtocolDiscriminator::from_byte),
    ]
}

fn call_ref() -> impl Strategy<Value = CallRef> {
    (0..=2u8, any::<u16>(), any::<bool>()).prop_map(|(len, value, to)| match len {
        0 => CallRef::dummy(),
        _ => {
            CallRef { value: value & if len == 1 { 0x7F } else { 0x7FFF }, flag: if to { CallRefFlag::ToOriginator } else { CallRefFlag::FromOriginator }, len }
        }
    })
}

fn message() -> impl Strategy<Value = MessageRepr> {
    (pd(), call_ref(), any::<u8>(), prop::collection::vec(ie(), 0..12)).prop_map(|(pd, call_ref, t, ies)| MessageRepr {
        pd,
        call_ref,
        msg_type: MessageType::from_byte(pd, t),
        ies,
    })
}

/// `emit` then `parse` gives the IE back, and the octets are stable.
fn ie_round_trip(ie: &IeRepr) -> Result<(), TestCaseError> {
    let bytes = ie.to_vec().unwrap();
    let (id, contents) = if ie.is_single_octet() {
        prop_assert_eq!(bytes.len(), 1);
        (bytes[0], &bytes[1..])
    } else {
        prop_assert_eq!(usize::from(bytes[1]), bytes.len() - 2);
        (bytes[0], &bytes[2..])
    };
    let back = IeRepr::parse(ie.codeset(), id, contents);
    prop_assert_eq!(&back, ie);
    prop_assert_eq!(back.to_vec().unwrap(), bytes.clone());
    prop_assert_eq!(ie.buffer_len(), bytes.len());
    Ok(())
}

proptest! {
    #[test]
    fn every_ie_round_trips(ie in ie()) {
        ie_round_trip(&ie)?;
    }

    #[test]
    fn bearer_repr_and_view(bc in bearer()) {
        let bytes = bc.to_vec();
        prop_assert_eq!(bc.buffer_len(), bytes.len());
        let view = BearerCapability::new_checked(&bytes[..]).unwrap();
        prop_assert_eq!(&BearerCapabilityRepr::parse(&view).unwrap(), &bc);
        let mut buf = vec![0u8; bytes.len()];
        bc.emit(&mut BearerCapability::new_unchecked(&mut buf[..])).unwrap();
        prop_assert_eq!(buf, bytes);
    }

    #[test]
    fn channel_id_repr_and_view(c in channel_id()) {
        let bytes = c.to_vec();
        let view = ChannelId::new_checked(&bytes[..]).unwrap();
        prop_assert_eq!(view.exclusive(), c.exclusive);
        prop_assert_eq!(view.interface_id(), c.interface_id);
        prop_assert_eq!(&ChannelIdRepr::parse(&view).unwrap(), &c);
    }

    #[test]
    fn party_numbers((kind, n) in select(vec![NumberKind::Calling, NumberKind::Called,
                                              NumberKind::Connected, NumberKind::Redirecting])
                         .prop_flat_map(|k| (Just(k), number(k)))) {
        let bytes = n.to_vec();
        prop_assert_eq!(PartyNumberRepr::decode_as(kind, &bytes).unwrap(), n.clone());
        let view = PartyNumber::new_checked(&bytes[..]).unwrap();
        prop_assert_eq!(view.digits(), n.digits.as_bytes());
        prop_assert_eq!(view.presentation(), n.presentation.map(|p| p.0));
        prop_assert_eq!(view.reason(), n.reason);
    }

    #[test]
    fn cause_repr_and_view(c in cause()) {
        let bytes = c.to_vec();
        let view = Cause::new_checked(&bytes[..]).unwrap();
        prop_assert_eq!(view.value(), c.value);
        prop_assert_eq!(view.diagnostics(), &c.diagnostics[..]);
        prop_assert_eq!(&CauseRepr::parse(&view).unwrap(), &c);
    }

    #[test]
    fn names_round_trip(style in select(vec![NameStyle::Ni2, NameStyle::Qsig]),
                        op in select(vec![NameOperation::CallingName, NameOperation::CalledName,
                                          NameOperation::ConnectedName, NameOperation::BusyName]),
                        id in any::<i64>(), name in name()) {
        let f = FacilityRepr::name_invoke(style, op, id, &name);
        let back = FacilityRepr::parse_bytes(&f.to_vec()).unwrap();
        prop_assert_eq!(back.names(), vec![(op, name)]);
        prop_assert!(back.apdus().all(|a| a.is_ok()));
    }

    #[test]
    fn messages_round_trip(m in message()) {
        let bytes = m.to_vec().unwrap();
        prop_assert_eq!(m.buffer_len(), bytes.len());
        let back = MessageRepr::parse_bytes(&bytes).unwrap();
        prop_assert_eq!(&back, &m.canonical());
        // Emission is a fixed point.
        prop_assert_eq!(back.to_vec().unwrap(), bytes);
    }

    #[test]
    fn lapd_frames_round_trip(sapi in 0..64u8, tei in 0..128u8, cr in any::<bool>(),
                              ns in 0..128u8, nr in 0..128u8, pf in any::<bool>(),
                              which in 0..11u8, info in prop::collection::vec(any::<u8>(), 0..40)) {
        let kind = match which {
            0 => FrameKind::I { ns, nr, p: pf, info: &info },
            1 => FrameKind::Rr { nr, pf },
            2 => FrameKind::Rnr { nr, pf },
            3 => FrameKind::Rej { nr, pf },
            4 => FrameKind::Sabme { p: pf },
            5 => FrameKind::Dm { f: pf },
            6 => FrameKind::Ui { p: pf, info: &info },
            7 => FrameKind::Disc { p: pf },
            8 => FrameKind::Ua { f: pf },
            9 => FrameKind::Frmr { f: pf, info: &info },
            _ => FrameKind::Xid { pf, info: &info },
        };
        let f = FrameRepr { sapi, tei, cr, kind };
        let bytes = f.to_vec();
        prop_assert_eq!(bytes.len(), f.buffer_len());
        let view = Frame::new_checked(&bytes[..]).unwrap();
        prop_assert_eq!(FrameRepr::parse(&view).unwrap(), f);
    }
}
