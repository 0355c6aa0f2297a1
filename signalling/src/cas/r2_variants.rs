//! MFC/R2 country variants as data: which signal number means what in each
//! group, the line-signalling C/D bits, and per-variant behaviour and timers.
//!
//! Signals are numbered 1..=15 as in ITU-T Q.441 (forward groups I/II,
//! backward groups A/B; signal 10 is digit 0). The ITU table follows Q.441;
//! the national differences are the facts openr2 (`src/r2proto.c`,
//! `r2config_*`) records from field use. [`R2Variant::itu`] is the base every
//! other variant modifies.

use std::time::Duration;

/// Calling party category (sent as a group II signal).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Category {
    /// Ordinary national subscriber (II-1).
    #[default]
    NationalSubscriber,
    /// National subscriber with priority (II-2).
    NationalPriority,
    /// Maintenance / test equipment (II-3).
    TestEquipment,
    /// International subscriber (II-7).
    InternationalSubscriber,
    /// International subscriber with priority (II-9).
    InternationalPriority,
    /// Collect call (Brazil II-8).
    CollectCall,
    /// Pay phone (Argentina II-4).
    PayPhone,
    /// A group II signal this variant gives no name.
    Other(u8),
}

/// Group A (backward, during address signalling) meanings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GroupA {
    /// Send next DNIS digit.
    pub next_dnis: u8,
    /// Send last-but-one DNIS digit.
    pub dnis_minus_1: Option<u8>,
    /// Send last-but-two.
    pub dnis_minus_2: Option<u8>,
    /// Send last-but-three.
    pub dnis_minus_3: Option<u8>,
    /// Send the whole DNIS again (Brazil A-2).
    pub all_dnis_again: Option<u8>,
    /// Send next ANI digit (ITU A-5, after the category).
    pub next_ani: Option<u8>,
    /// Send calling party category (ITU A-5).
    pub category: Option<u8>,
    /// Send category and switch to group C (Mexico A-6).
    pub category_then_group_c: Option<u8>,
    /// Address complete, change over to group B.
    pub change_to_b: u8,
    /// Address complete, charge, set up speech conditions: accept without group B (ITU A-6).
    pub complete_charge: Option<u8>,
    /// Congestion.
    pub congestion: u8,
    /// Congestion in an international exchange.
    pub international_congestion: Option<u8>,
}

/// Group B (backward, called party status) meanings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GroupB {
    /// Subscriber free, charge.
    pub free_charge: u8,
    /// Subscriber free, no charge.
    pub free_no_charge: Option<u8>,
    /// Subscriber busy.
    pub busy: u8,
    /// Congestion.
    pub congestion: Option<u8>,
    /// Unallocated number.
    pub unallocated: Option<u8>,
    /// Line out of order.
    pub out_of_order: Option<u8>,
    /// Send special information tone.
    pub special_info: Option<u8>,
    /// Number changed.
    pub number_changed: Option<u8>,
}

/// Group C (Mexico: backward signals after the category request).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GroupC {
    /// Send next ANI digit (C-1).
    pub next_ani: u8,
    /// Change to group II / B (C-3).
    pub change_to_b: u8,
    /// Send next DNIS digit and return to group A (C-5).
    pub next_dnis_to_a: u8,
    /// Congestion (C-4).
    pub congestion: u8,
}

/// Group I special signals (forward).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GroupI {
    /// No more DNIS digits (I-15); `None`: the backward side must time out.
    pub end_of_dnis: Option<u8>,
    /// No more ANI digits.
    pub end_of_ani: Option<u8>,
    /// ANI restricted (presentation withheld).
    pub ani_restricted: Option<u8>,
}

/// One R2 variant: tables, behaviour and default timers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct R2Variant {
    /// Short name ("ITU", "MX", …).
    pub name: &'static str,
    /// Group A.
    pub group_a: GroupA,
    /// Group B.
    pub group_b: GroupB,
    /// Group C, where used.
    pub group_c: Option<GroupC>,
    /// Group I specials.
    pub group_i: GroupI,
    /// Group II: categories and their signals.
    pub categories: &'static [(Category, u8)],
    /// The C and D bits sent with every line signal (ITU 01, China 11).
    pub cd_bits: u8,
    /// Incoming: ask for the category/ANI after the first DNIS digit
    /// (`true`), or after the whole DNIS (`false`, Mexico).
    pub ani_first: bool,
    /// Incoming: the ANI is exactly `max_ani` digits (no end signal; China).
    pub force_max_ani: bool,
    /// Metering pulses: a clear-back shorter than this after answer is a
    /// pulse, not a clear (Argentina 400 ms); zero = none.
    pub metering_pulse: Duration,
}

const ITU_CATEGORIES: &[(Category, u8)] = &[
    (Category::NationalSubscriber, 1),
    (Category::NationalPriority, 2),
    (Category::TestEquipment, 3),
    (Category::InternationalSubscriber, 7),
    (Category::InternationalPriority, 9),
];

const BRAZIL_CATEGORIES: &[(Category, u8)] = &[
    (Category::NationalSubscriber, 1),
    (Category::NationalPriority, 2),
    (Category::TestEquipment, 3),
    (Category::InternationalSubscriber, 7),
    (Category::CollectCall, 8),
    (Category::InternationalPriority, 9),
];

const ARGENTINA_CATEGORIES: &[(Category, u8)] = &[
    (Category::NationalSubscriber, 1),
    (Category::NationalPriority, 2),
    (Category::TestEquipment, 3),
    (Category::PayPhone, 4),
    (Category::InternationalSubscriber, 7),
    (Category::InternationalPriority, 9),
];

impl R2Variant {
    /// ITU-T Q.441.
    pub fn itu() -> R2Variant {
        R2Variant {
            name: "ITU",
            group_a: GroupA {
                next_dnis: 1,
                dnis_minus_1: Some(2),
                dnis_minus_2: Some(7),
                dnis_minus_3: Some(8),
                all_dnis_again: None,
                next_ani: Some(5),
                category: Some(5),
                category_then_group_c: None,
                change_to_b: 3,
                complete_charge: Some(6),
                congestion: 4,
                international_congestion: Some(15),
            },
            group_b: GroupB {
                free_charge: 6,
                free_no_charge: Some(7),
                busy: 3,
                congestion: Some(4),
                unallocated: Some(5),
                out_of_order: Some(8),
                special_info: Some(2),
                number_changed: None,
            },
            group_c: None,
            group_i: GroupI { end_of_dnis: Some(15), end_of_ani: Some(15), ani_restricted: Some(12) },
            categories: ITU_CATEGORIES,
            cd_bits: 0b01,
            ani_first: true,
            force_max_ani: false,
            metering_pulse: Duration::ZERO,
        }
    }

    /// Mexico (Telmex): DNIS first, category request switches to group C,
    /// no end-of-DNIS signal (the backward side times out), B-1 free/charge,
    /// B-2 busy (also used for unallocated).
    pub fn mexico() -> R2Variant {
        let mut v = R2Variant::itu();
        v.name = "MX";
        v.ani_first = false;
        v.group_a.category = None;
        v.group_a.next_ani = None;
        v.group_a.category_then_group_c = Some(6);
        v.group_a.complete_charge = None;
        v.group_b = GroupB {
            free_charge: 1,
            free_no_charge: Some(5),
            busy: 2,
            congestion: Some(4),
            unallocated: Some(2),
            out_of_order: Some(8),
            special_info: None,
            number_changed: None,
        };
        v.group_c = Some(GroupC { next_ani: 1, change_to_b: 3, next_dnis_to_a: 5, congestion: 4 });
        v.group_i = GroupI { end_of_dnis: None, end_of_ani: Some(15), ani_restricted: Some(15) };
        v
    }

    /// Brazil: no end-of-DNIS signal, A-9 repeats the last digit, A-2 asks
    /// for the whole DNIS again, B-1 free/charge, B-2 busy, B-3 number
    /// changed, B-5 free/no charge, B-6 special information, B-7
    /// unallocated; category II-8 is a collect call.
    pub fn brazil() -> R2Variant {
        let mut v = R2Variant::itu();
        v.name = "BR";
        v.group_i.end_of_dnis = None;
        v.group_i.ani_restricted = Some(12);
        v.group_a.complete_charge = None;
        v.group_a.dnis_minus_1 = Some(9);
        v.group_a.all_dnis_again = Some(2);
        v.group_b = GroupB {
            free_charge: 1,
            free_no_charge: Some(5),
            busy: 2,
            congestion: Some(4),
            unallocated: Some(7),
            out_of_order: Some(8),
            special_info: Some(6),
            number_changed: Some(3),
        };
        v.categories = BRAZIL_CATEGORIES;
        v
    }

    /// Argentina: no end-of-DNIS signal, I-12 ends the ANI and I-15 marks it
    /// restricted, II-4 pay phone, 400 ms metering pulses.
    pub fn argentina() -> R2Variant {
        let mut v = R2Variant::itu();
        v.name = "AR";
        v.group_i = GroupI { end_of_dnis: None, end_of_ani: Some(12), ani_restricted: Some(15) };
        v.categories = ARGENTINA_CATEGORIES;
        v.metering_pulse = Duration::from_millis(400);
        v
    }

    /// China: C and D bits both 1, A-6 requests the category and A-1 the
    /// next ANI digit (as well as the next DNIS digit), B-1 free/charge, B-2
    /// busy, no end-of-DNIS signal, and a fixed-length ANI.
    pub fn china() -> R2Variant {
        let mut v = R2Variant::itu();
        v.name = "CN";
        v.cd_bits = 0b11;
        v.group_a.next_ani = Some(1);
        v.group_a.category = Some(6);
        v.group_a.complete_charge = None;
        v.group_b.free_charge = 1;
        v.group_b.busy = 2;
        v.group_b.special_info = None;
        v.group_i.end_of_dnis = None;
        v.force_max_ani = true;
        v
    }

    /// A variant by its short name (`ITU`, `MX`, `BR`, `AR`, `CN`), case-insensitive.
    pub fn by_name(name: &str) -> Option<R2Variant> {
        match name.to_ascii_uppercase().as_str() {
            "ITU" => Some(R2Variant::itu()),
            "MX" | "MEXICO" => Some(R2Variant::mexico()),
            "BR" | "BRAZIL" => Some(R2Variant::brazil()),
            "AR" | "ARGENTINA" => Some(R2Variant::argentina()),
            "CN" | "CHINA" => Some(R2Variant::china()),
            _ => None,
        }
    }

    /// The group II signal for `cat` (national subscriber if this variant has none for it).
    pub fn category_signal(&self, cat: Category) -> u8 {
        if let Category::Other(s) = cat
            && (1..=15).contains(&s)
        {
            return s;
        }
        self.categories.iter().find(|(c, _)| *c == cat).map(|(_, s)| *s).unwrap_or(1)
    }

    /// The category a group II signal stands for.
    pub fn category_of(&self, signal: u8) -> Category {
        self.categories.iter().find(|(_, s)| *s == signal).map(|(c, _)| *c).unwrap_or(Category::Other(signal))
    }

    /// The group B signal that reports `status`, if this variant has one
    /// (falls back to busy for refusals and free/charge for acceptance).
    pub fn b_signal(&self, status: CalledPartyStatus) -> u8 {
        let b = &self.group_b;
        match status {
            CalledPartyStatus::FreeCharge => b.free_charge,
            CalledPartyStatus::FreeNoCharge => b.free_no_charge.unwrap_or(b.free_charge),
            CalledPartyStatus::Busy => b.busy,
            CalledPartyStatus::Congestion => b.congestion.unwrap_or(b.busy),
            CalledPartyStatus::Unallocated => b.unallocated.unwrap_or(b.busy),
            CalledPartyStatus::OutOfOrder => b.out_of_order.unwrap_or(b.busy),
            CalledPartyStatus::SpecialInfo => b.special_info.unwrap_or(b.busy),
            CalledPartyStatus::NumberChanged => b.number_changed.unwrap_or(b.busy),
        }
    }

    /// What a received group B signal means (`None`: not a group B signal here).
    /// Where two meanings share a signal (Mexico B-2), the first of free,
    /// busy, congestion, unallocated, out of order, special, changed wins.
    pub fn b_status(&self, signal: u8) -> Option<CalledPartyStatus> {
        let b = &self.group_b;
        let table = [
            (Some(b.free_charge), CalledPartyStatus::FreeCharge),
            (b.free_no_charge, CalledPartyStatus::FreeNoCharge),
            (Some(b.busy), CalledPartyStatus::Busy),
            (b.congestion, CalledPartyStatus::Congestion),
            (b.unallocated, CalledPartyStatus::Unallocated),
            (b.out_of_order, CalledPartyStatus::OutOfOrder),
            (b.special_info, CalledPartyStatus::SpecialInfo),
            (b.number_changed, CalledPartyStatus::NumberChanged),
        ];
        table.iter().find(|(s, _)| *s == Some(signal)).map(|(_, st)| *st)
    }
}

/// The called party's status as group B reports it: the outcome the gateway
/// maps to SIP.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CalledPartyStatus {
    /// Free, charge: alerting.
    FreeCharge,
    /// Free, no charge: alerting.
    FreeNoCharge,
    /// Busy (Q.850 17).
    Busy,
    /// Congestion (Q.850 34).
    Congestion,
    /// Unallocated number (Q.850 1).
    Unallocated,
    /// Line out of order (Q.850 27).
    OutOfOrder,
    /// Special information tone (Q.850 31, normal unspecified).
    SpecialInfo,
    /// Number changed (Q.850 22).
    NumberChanged,
}

impl CalledPartyStatus {
    /// True for the two "free" statuses (the call goes on to alerting).
    pub fn is_free(self) -> bool {
        matches!(self, CalledPartyStatus::FreeCharge | CalledPartyStatus::FreeNoCharge)
    }

    /// The Q.850 cause of a refusal; `None` for free (alerting).
    pub fn q850(self) -> Option<u8> {
        match self {
            CalledPartyStatus::FreeCharge | CalledPartyStatus::FreeNoCharge => None,
            CalledPartyStatus::Busy => Some(17),
            CalledPartyStatus::Congestion => Some(34),
            CalledPartyStatus::Unallocated => Some(1),
            CalledPartyStatus::OutOfOrder => Some(27),
            CalledPartyStatus::SpecialInfo => Some(31),
            CalledPartyStatus::NumberChanged => Some(22),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn itu_group_b_follows_q441() {
        let v = R2Variant::itu();
        assert_eq!(v.b_status(6), Some(CalledPartyStatus::FreeCharge));
        assert_eq!(v.b_status(3), Some(CalledPartyStatus::Busy));
        assert_eq!(v.b_status(5), Some(CalledPartyStatus::Unallocated));
        assert_eq!(v.b_status(4), Some(CalledPartyStatus::Congestion));
        assert_eq!(v.b_status(15), None);
        assert_eq!(v.b_signal(CalledPartyStatus::Unallocated), 5);
    }

    #[test]
    fn mexico_shares_b2_for_busy_and_unallocated() {
        let v = R2Variant::mexico();
        assert_eq!(v.b_signal(CalledPartyStatus::Unallocated), 2);
        assert_eq!(v.b_status(2), Some(CalledPartyStatus::Busy));
        assert_eq!(v.b_status(1), Some(CalledPartyStatus::FreeCharge));
        assert!(v.group_c.is_some() && v.group_i.end_of_dnis.is_none() && !v.ani_first);
    }

    #[test]
    fn variants_differ_where_their_countries_do() {
        assert_eq!(R2Variant::china().cd_bits, 0b11);
        assert_eq!(R2Variant::china().group_a.category, Some(6));
        assert_eq!(R2Variant::brazil().b_status(7), Some(CalledPartyStatus::Unallocated));
        assert_eq!(R2Variant::brazil().category_of(8), Category::CollectCall);
        assert_eq!(R2Variant::argentina().metering_pulse, Duration::from_millis(400));
        assert_eq!(R2Variant::argentina().category_signal(Category::PayPhone), 4);
        assert_eq!(R2Variant::by_name("mx").unwrap().name, "MX");
        assert!(R2Variant::by_name("XX").is_none());
    }

    #[test]
    fn statuses_map_to_q850() {
        assert_eq!(CalledPartyStatus::Busy.q850(), Some(17));
        assert_eq!(CalledPartyStatus::Unallocated.q850(), Some(1));
        assert_eq!(CalledPartyStatus::Congestion.q850(), Some(34));
        assert_eq!(CalledPartyStatus::FreeCharge.q850(), None);
        assert!(CalledPartyStatus::FreeNoCharge.is_free());
    }
}
