//! Conversions between the API's data types and information elements.

use super::types::{Bearer, BearerKind, Cause, ChannelRef, Law, Number, PartyName};
use super::variant::NameEncoding;
use crate::wire::IeRepr;
use crate::wire::ie::facility::{Apdu, Code, Name, NameData, NameStyle, ber};
use crate::wire::ie::{
    BearerCapabilityRepr, ChannelIdRepr, DisplayRepr, FacilityRepr, Layer1Protocol, LayerInfo, NumberingPlan, PartyNumberRepr, Presentation,
    ProgressDescription, Screening, TypeOfNumber,
};
use crate::wire::{IeId, MessageRepr};

/// Which party number IE.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum NumberIe {
    Called,
    Calling,
    Connected,
}

pub(crate) fn number_repr(kind: NumberIe, n: &Number) -> PartyNumberRepr {
    let mut r = PartyNumberRepr::new(n.ton, n.plan, &ascii(&n.digits));
    if kind != NumberIe::Called {
        r.presentation = Some((n.presentation, n.screening));
    }
    r
}

pub(crate) fn number_ie(kind: NumberIe, n: &Number) -> IeRepr {
    let r = number_repr(kind, n);
    match kind {
        NumberIe::Called => IeRepr::CalledNumber(r),
        NumberIe::Calling => IeRepr::CallingNumber(r),
        NumberIe::Connected => IeRepr::ConnectedNumber(r),
    }
}

/// Keeps IA5 characters only (the number IEs cannot carry others).
fn ascii(s: &str) -> String {
    s.chars().filter(|c| c.is_ascii() && !c.is_ascii_control()).collect()
}

pub(crate) fn number_from(r: &PartyNumberRepr) -> Number {
    let (presentation, screening) = r.presentation.unwrap_or((Presentation::Allowed, Screening::UserNotScreened));
    Number { digits: r.digits.clone(), ton: r.type_of_number, plan: r.numbering_plan, presentation, screening }
}

/// An empty called number (overlap SETUP without digits).
pub(crate) fn empty_number() -> Number {
    Number {
        digits: String::new(),
        ton: TypeOfNumber::Unknown,
        plan: NumberingPlan::Unknown,
        presentation: Presentation::Allowed,
        screening: Screening::UserNotScreened,
    }
}

pub(crate) fn bearer_repr(b: Bearer) -> BearerCapabilityRepr {
    let mut r = BearerCapabilityRepr::unrestricted_digital();
    r.itc = b.itc();
    r.layer1 = b.law.map(|l| {
        LayerInfo::new(
            match l {
                Law::Ulaw => Layer1Protocol::G711Ulaw,
                Law::Alaw => Layer1Protocol::G711Alaw,
            }
            .bits(),
        )
    });
    r
}

pub(crate) fn bearer_from(r: &BearerCapabilityRepr) -> Bearer {
    Bearer::from_itc(r.itc, r.layer1_protocol())
}

/// Whether the stack can carry this bearer on a B-channel: circuit mode,
/// 64 kbit/s.
pub(crate) fn bearer_supported(r: &BearerCapabilityRepr) -> bool {
    use crate::wire::ie::{TransferMode, TransferRate};
    r.transfer_mode == TransferMode::Circuit && r.transfer_rate == TransferRate::Kbit64 && !matches!(bearer_from(r).kind, BearerKind::Other(_))
}

/// Channel identification for one B-channel.
pub(crate) fn channel_repr(ch: ChannelRef, exclusive: bool, explicit: bool) -> ChannelIdRepr {
    let r = ChannelIdRepr::pri_channel(ch.channel, exclusive);
    if explicit { r.with_interface(ch.interface) } else { r }
}

/// Channel identification naming only an interface (RESTART class 6,
/// SERVICE for an interface).
pub(crate) fn interface_repr(interface: u8, explicit: bool) -> ChannelIdRepr {
    let mut r = ChannelIdRepr::pri_any();
    r.exclusive = true;
    r.selection = crate::wire::ie::ChannelSelection::NoChannel;
    if explicit {
        r = r.with_interface(interface);
    }
    r
}

fn latin1(bytes: &[u8]) -> String {
    bytes.iter().map(|&b| b as char).collect()
}

fn latin1_bytes(s: &str) -> Vec<u8> {
    s.chars().map(|c| u8::try_from(u32::from(c)).unwrap_or(b'?')).collect()
}

pub(crate) fn name_from(n: &Name) -> PartyName {
    match n {
        Name::Allowed(d) => PartyName { name: latin1(&d.name), presentation: Presentation::Allowed },
        Name::Restricted(d) => PartyName { name: latin1(&d.name), presentation: Presentation::Restricted },
        Name::RestrictedNull => PartyName { name: String::new(), presentation: Presentation::Restricted },
        Name::NotAvailable => PartyName { name: String::new(), presentation: Presentation::NotAvailable },
    }
}

fn name_value(p: &PartyName) -> Name {
    let bytes: Vec<u8> = latin1_bytes(&p.name).into_iter().take(50).collect();
    match p.presentation {
        Presentation::Allowed if !bytes.is_empty() => Name::Allowed(NameData::simple(&bytes)),
        Presentation::Restricted if !bytes.is_empty() => Name::Restricted(NameData::simple(&bytes)),
        Presentation::Restricted => Name::RestrictedNull,
        _ => Name::NotAvailable,
    }
}

/// The IEs carrying a calling (or, with `connected`, connected) name.
pub(crate) fn name_ies(encoding: NameEncoding, name: &PartyName, invoke_id: i64, connected: bool) -> Vec<IeRepr> {
    use crate::wire::ie::facility::NameOperation;
    let op = if connected { NameOperation::ConnectedName } else { NameOperation::CallingName };
    match encoding {
        NameEncoding::Ni2Facility | NameEncoding::QsigFacility => {
            let style = if encoding == NameEncoding::Ni2Facility { NameStyle::Ni2 } else { NameStyle::Qsig };
            vec![IeRepr::Facility(FacilityRepr::name_invoke(style, op, invoke_id, &name_value(name)))]
        }
        NameEncoding::Display => {
            let text = latin1_bytes(&name.name);
            if name.presentation == Presentation::Allowed && !text.is_empty() && text[0] & 0x80 == 0 {
                vec![IeRepr::Display(DisplayRepr { display_type: None, text: text.into_iter().take(34).collect() })]
            } else {
                Vec::new()
            }
        }
        NameEncoding::None => Vec::new(),
    }
}

/// The calling name of a message: a name-identification invoke in a
/// facility IE (any style), else the text of a display IE.
pub(crate) fn calling_name(m: &MessageRepr) -> Option<PartyName> {
    facility_name(m, crate::wire::ie::facility::NameOperation::CallingName).or_else(|| {
        m.ies.iter().find_map(|ie| match ie {
            IeRepr::Display(d) if !d.text.is_empty() => Some(PartyName { name: latin1(&d.text), presentation: Presentation::Allowed }),
            _ => None,
        })
    })
}

pub(crate) fn facility_name(m: &MessageRepr, op: crate::wire::ie::facility::NameOperation) -> Option<PartyName> {
    m.ies.iter().find_map(|ie| match ie {
        IeRepr::Facility(f) => f.names().into_iter().find(|(o, _)| *o == op).map(|(_, n)| name_from(&n)),
        _ => None,
    })
}

/// NI-2: an InformationFollowing invoke announces the name in a later
/// FACILITY.
pub(crate) fn name_follows(m: &MessageRepr) -> bool {
    m.ies.iter().any(|ie| match ie {
        IeRepr::Facility(f) => f.has_ni2_information_following(),
        _ => false,
    })
}

/// The diversion counter of a divertingLegInformation2 invoke with the
/// given local operation code.
pub(crate) fn diversion_count(m: &MessageRepr, op: Option<i64>) -> Option<u8> {
    let op = op?;
    m.ies.iter().find_map(|ie| {
        let IeRepr::Facility(f) = ie else {
            return None;
        };
        f.apdus().find_map(|a| match a {
            Ok(Apdu::Invoke(inv)) if inv.operation == Code::Local(op) => {
                let arg = inv.argument?;
                if arg.tag != ber::SEQUENCE {
                    return None;
                }
                let first = arg.children().next()?.ok()?;
                if first.tag != ber::INTEGER {
                    return None;
                }
                u8::try_from(ber::int(first.contents).ok()?).ok()
            }
            _ => None,
        })
    })
}

/// The cause of a message (the first well-formed one).
pub(crate) fn cause(m: &MessageRepr) -> Option<Cause> {
    m.ies.iter().find_map(|ie| match ie {
        IeRepr::Cause(c) => Some(Cause::new(c.value, c.location)),
        _ => None,
    })
}

/// The progress descriptions of a message.
pub(crate) fn progress(m: &MessageRepr) -> Vec<ProgressDescription> {
    m.ies
        .iter()
        .filter_map(|ie| match ie {
            IeRepr::ProgressIndicator(p) => Some(p.description),
            _ => None,
        })
        .collect()
}

/// In-band information available (progress #1 or #8).
pub(crate) fn inband(p: &[ProgressDescription]) -> bool {
    p.iter().any(|d| matches!(d, ProgressDescription::InbandAvailable | ProgressDescription::NotEndToEndIsdn))
}

/// The first typed IE with this identifier.
pub(crate) fn find(m: &MessageRepr, id: IeId) -> Option<&IeRepr> {
    m.ies.iter().find(|ie| ie.id() == id && !matches!(ie, IeRepr::Malformed(_)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::ie::RedirectReason;

    #[test]
    fn numbers_round_trip() {
        let n = Number::new("2125551234").with_ton(TypeOfNumber::National).with_presentation(Presentation::Restricted, Screening::NetworkProvided);
        let r = number_repr(NumberIe::Calling, &n);
        assert_eq!(number_from(&r), n);
        let called = number_repr(NumberIe::Called, &n);
        assert_eq!(called.presentation, None);
        let _ = RedirectReason::Busy;
    }

    #[test]
    fn names_in_every_encoding() {
        let name = PartyName::allowed("J SMITH");
        for enc in [NameEncoding::Ni2Facility, NameEncoding::QsigFacility] {
            let ies = name_ies(enc, &name, 1, false);
            let m = MessageRepr {
                pd: crate::wire::ProtocolDiscriminator::Q931,
                call_ref: crate::wire::CallRef::pri(1, Default::default()),
                msg_type: crate::wire::MessageType::Setup,
                ies,
            };
            let back = MessageRepr::parse_bytes(&m.to_vec().unwrap()).unwrap();
            assert_eq!(calling_name(&back), Some(name.clone()), "{enc:?}");
        }
        let d = name_ies(NameEncoding::Display, &name, 1, false);
        assert!(matches!(&d[..], [IeRepr::Display(_)]));
        let restricted = PartyName { name: "X".into(), presentation: Presentation::Restricted };
        assert!(name_ies(NameEncoding::Display, &restricted, 1, false).is_empty());
        assert_eq!(name_from(&name_value(&restricted)).presentation, Presentation::Restricted);
    }

    #[test]
    fn bearer_round_trip() {
        for b in [Bearer::speech(Law::Ulaw), Bearer::audio(Law::Alaw), Bearer::data()] {
            let r = bearer_repr(b);
            assert!(bearer_supported(&r));
            assert_eq!(bearer_from(&r), b);
        }
    }
}
