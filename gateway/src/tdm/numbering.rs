//! Number normalisation between a TDM wire (digits plus a type of number)
//! and call control's form (`+` and digits for E.164, else as dialled).
//!
//! Inbound: international → `+digits`; national → `+<cc>digits` when the
//! country code is configured; subscriber → `+<cc><area>digits` when both
//! are configured; unknown type → `+…` after a configured international
//! prefix, `+<cc>…` after a configured national (trunk) prefix; anything
//! else is left as signalled.
//!
//! Outbound, the reverse: `+<cc>rest` → national `rest`; any other `+…` →
//! international; plain digits → unknown type, as dialled.

use isdn_q931::wire::ie::TypeOfNumber;

/// The numbering context of one interface.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Numbering {
    /// Country code digits (no `+`).
    pub country_code: Option<String>,
    /// Trunk prefix of national numbers of unknown type (e.g. `0`).
    pub national_prefix: Option<String>,
    /// International access prefix of numbers of unknown type (e.g. `00`).
    pub international_prefix: Option<String>,
    /// Area code for subscriber numbers.
    pub area_code: Option<String>,
}

fn nonempty(s: &Option<String>) -> Option<&str> {
    s.as_deref().filter(|s| !s.is_empty())
}

impl Numbering {
    /// The call-control form of a number received as `digits` with `ton`.
    pub fn to_e164(&self, digits: &str, ton: TypeOfNumber) -> String {
        if digits.is_empty() {
            return String::new();
        }
        let cc = nonempty(&self.country_code);
        match ton {
            TypeOfNumber::International => format!("+{}", digits.trim_start_matches('+')),
            TypeOfNumber::National => match cc {
                Some(cc) => format!("+{cc}{digits}"),
                None => digits.to_owned(),
            },
            TypeOfNumber::Subscriber => match (cc, nonempty(&self.area_code)) {
                (Some(cc), Some(area)) => format!("+{cc}{area}{digits}"),
                _ => digits.to_owned(),
            },
            TypeOfNumber::Unknown => {
                if let Some(p) = nonempty(&self.international_prefix)
                    && let Some(rest) = digits.strip_prefix(p)
                    && !rest.is_empty()
                {
                    return format!("+{rest}");
                }
                if let (Some(p), Some(cc)) = (nonempty(&self.national_prefix), cc)
                    && let Some(rest) = digits.strip_prefix(p)
                    && !rest.is_empty()
                {
                    return format!("+{cc}{rest}");
                }
                digits.to_owned()
            }
            _ => digits.to_owned(),
        }
    }

    /// The wire form (digits, type of number) of a call-control number.
    pub fn to_wire(&self, number: &str) -> (String, TypeOfNumber) {
        let Some(e164) = number.strip_prefix('+') else {
            return (number.to_owned(), TypeOfNumber::Unknown);
        };
        if let Some(cc) = nonempty(&self.country_code)
            && let Some(rest) = e164.strip_prefix(cc)
            && !rest.is_empty()
        {
            return (rest.to_owned(), TypeOfNumber::National);
        }
        (e164.to_owned(), TypeOfNumber::International)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn us() -> Numbering {
        Numbering { country_code: Some("1".into()), national_prefix: Some("1".into()), international_prefix: Some("011".into()), area_code: Some("212".into()) }
    }

    #[test]
    fn inbound_numbers_become_e164_by_type() {
        let n = us();
        assert_eq!(n.to_e164("442071234567", TypeOfNumber::International), "+442071234567");
        assert_eq!(n.to_e164("2125551234", TypeOfNumber::National), "+12125551234");
        assert_eq!(n.to_e164("5551234", TypeOfNumber::Subscriber), "+12125551234");
        assert_eq!(n.to_e164("011442071234567", TypeOfNumber::Unknown), "+442071234567");
        assert_eq!(n.to_e164("12125551234", TypeOfNumber::Unknown), "+12125551234");
        assert_eq!(n.to_e164("411", TypeOfNumber::Unknown), "411");
        assert_eq!(n.to_e164("", TypeOfNumber::National), "");
    }

    #[test]
    fn without_a_country_code_national_and_subscriber_numbers_stay_as_signalled() {
        let n = Numbering::default();
        assert_eq!(n.to_e164("2125551234", TypeOfNumber::National), "2125551234");
        assert_eq!(n.to_e164("5551234", TypeOfNumber::Subscriber), "5551234");
        assert_eq!(n.to_e164("4420", TypeOfNumber::International), "+4420");
    }

    #[test]
    fn outbound_numbers_get_their_type_back() {
        let n = us();
        assert_eq!(n.to_wire("+12125551234"), ("2125551234".to_owned(), TypeOfNumber::National));
        assert_eq!(n.to_wire("+442071234567"), ("442071234567".to_owned(), TypeOfNumber::International));
        assert_eq!(n.to_wire("5551234"), ("5551234".to_owned(), TypeOfNumber::Unknown));
        assert_eq!(Numbering::default().to_wire("+12125551234"), ("12125551234".to_owned(), TypeOfNumber::International));
    }
}
