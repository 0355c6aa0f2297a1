//! Q.850 cause ↔ SIP status mapping: RFC 3398's tables plus per-trunk
//! overrides.
//!
//! The defaults are RFC 3398 §7.2.4.1 (ISUP cause → SIP status, used when
//! the SIP leg must answer an INVITE with a failure) and §8.2.6.1 (SIP
//! status → ISUP cause, used when an outbound INVITE fails). A trunk's
//! `[sip.trunk.cause_to_status]` and `[sip.trunk.status_to_cause]` tables
//! (see [`crate::config`]) override single entries.
//!
//! Where RFC 3398 gives no single value, this module chooses one and says
//! so:
//! * cause 16 (normal clearing) is not a failure status; before answer it
//!   still needs one, and RFC 3398 leaves it open. We answer 480, as for
//!   31. After answer the SIP leg sends BYE and needs no status.
//! * 487 (Request Terminated) has no mapping in the RFC: it only follows
//!   our own CANCEL. We use 127 (interworking) so a stray one is visible.
//! * 488 and 606 are mapped "by Warning header" in the RFC; without one we
//!   use 65 (bearer capability not implemented), the media mismatch.
//! * Causes and statuses the tables do not list fall back by class:
//!   unlisted causes → 500; unlisted 3xx/4xx → 21 (call rejected), 5xx →
//!   41, 6xx → 31.
//!
//! Reason header values (RFC 3326) are the SIP leg's business.

use std::collections::HashMap;

use super::model::Cause;

/// Per-trunk overrides of the default tables, from the config.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CauseOverrides {
    /// Q.850 cause value → SIP status.
    pub cause_to_status: HashMap<u8, u16>,
    /// SIP status → Q.850 cause value.
    pub status_to_cause: HashMap<u16, u8>,
}

// RFC 3398 §7.2.4.1: ISUP cause value → SIP response.
const CAUSE_TO_STATUS: &[(u8, u16)] = &[
    (1, 404),
    (2, 404),
    (3, 404),
    (17, 486),
    (18, 408),
    (19, 480),
    (20, 480),
    (21, 403),
    (22, 410),
    (23, 410),
    (26, 404),
    (27, 502),
    (28, 484),
    (29, 501),
    (31, 480),
    (34, 503),
    (38, 503),
    (41, 503),
    (42, 503),
    (47, 503),
    (55, 403),
    (57, 403),
    (58, 503),
    (65, 488),
    (70, 488),
    (79, 501),
    (87, 403),
    (88, 503),
    (102, 504),
    (111, 500),
    (127, 500),
];

// RFC 3398 §8.2.6.1: SIP response received → cause value in the REL.
const STATUS_TO_CAUSE: &[(u16, u8)] = &[
    (400, 41),
    (401, 21),
    (402, 21),
    (403, 21),
    (404, 1),
    (405, 63),
    (406, 79),
    (407, 21),
    (408, 102),
    (410, 22),
    (413, 127),
    (414, 127),
    (415, 79),
    (416, 127),
    (420, 127),
    (421, 127),
    (423, 127),
    (480, 18),
    (481, 41),
    (482, 25),
    (483, 25),
    (484, 28),
    (485, 1),
    (486, 17),
    (500, 41),
    (501, 79),
    (502, 38),
    (503, 41),
    (504, 102),
    (505, 127),
    (513, 127),
    (600, 17),
    (603, 21),
    (604, 1),
];

/// The SIP failure status for a Q.850 cause, with a trunk's overrides.
///
/// Cause 16 gives 480 here: a SIP leg that is already answered sends BYE
/// instead and never asks.
pub fn cause_to_status(cause: Cause, overrides: Option<&CauseOverrides>) -> u16 {
    if let Some(s) = overrides.and_then(|o| o.cause_to_status.get(&cause.0)) {
        return *s;
    }
    match cause.0 {
        16 => 480,
        c => CAUSE_TO_STATUS.iter().find(|(k, _)| *k == c).map(|(_, s)| *s).unwrap_or(500),
    }
}

/// The Q.850 cause for a SIP final failure status, with a trunk's overrides.
pub fn status_to_cause(status: u16, overrides: Option<&CauseOverrides>) -> Cause {
    if let Some(c) = overrides.and_then(|o| o.status_to_cause.get(&status)) {
        return Cause(*c);
    }
    if let Some((_, c)) = STATUS_TO_CAUSE.iter().find(|(k, _)| *k == status) {
        return Cause(*c);
    }
    match status {
        487 => Cause::INTERWORKING,
        488 | 606 => Cause::BEARER_NOT_IMPLEMENTED,
        300..=499 => Cause::CALL_REJECTED,
        500..=599 => Cause::TEMPORARY_FAILURE,
        _ => Cause::NORMAL_UNSPECIFIED,
    }
}

/// Whether an RFC 3398 table (not a fallback) maps this cause.
pub fn cause_is_mapped(cause: Cause) -> bool {
    cause.0 == 16 || CAUSE_TO_STATUS.iter().any(|(k, _)| *k == cause.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn causes_map_to_rfc3398_statuses() {
        for (cause, status) in
            [(1, 404), (3, 404), (17, 486), (18, 408), (19, 480), (21, 403), (27, 502), (28, 484), (34, 503), (41, 503), (102, 504), (127, 500)]
        {
            assert_eq!(cause_to_status(Cause(cause), None), status, "cause {cause}");
        }
    }

    #[test]
    fn statuses_map_to_rfc3398_causes() {
        for (status, cause) in [(404, 1), (486, 17), (480, 18), (503, 41), (502, 38), (408, 102), (484, 28), (600, 17), (603, 21), (604, 1), (500, 41)] {
            assert_eq!(status_to_cause(status, None), Cause(cause), "status {status}");
        }
    }

    #[test]
    fn normal_clearing_is_not_a_failure_status_but_gets_480_before_answer() {
        assert_eq!(cause_to_status(Cause::NORMAL_CLEARING, None), 480);
    }

    #[test]
    fn unlisted_values_fall_back_by_class() {
        assert_eq!(cause_to_status(Cause(99), None), 500);
        assert_eq!(status_to_cause(499, None), Cause::CALL_REJECTED);
        assert_eq!(status_to_cause(599, None), Cause::TEMPORARY_FAILURE);
        assert_eq!(status_to_cause(699, None), Cause::NORMAL_UNSPECIFIED);
        assert_eq!(status_to_cause(488, None), Cause::BEARER_NOT_IMPLEMENTED);
    }

    #[test]
    fn trunk_overrides_win_over_the_tables() {
        let mut o = CauseOverrides::default();
        o.cause_to_status.insert(17, 600);
        o.status_to_cause.insert(404, 3);
        assert_eq!(cause_to_status(Cause::USER_BUSY, Some(&o)), 600);
        assert_eq!(status_to_cause(404, Some(&o)), Cause::NO_ROUTE_DESTINATION);
        assert_eq!(cause_to_status(Cause::UNALLOCATED, Some(&o)), 404);
    }
}
