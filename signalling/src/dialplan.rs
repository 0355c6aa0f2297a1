//! A small, regex-free dial-plan matcher (Asterisk-like pattern letters).
//!
//! Pattern syntax, one pattern per entry:
//!
//! | char        | matches                                   |
//! |-------------|-------------------------------------------|
//! | `0-9 * #`   | itself                                    |
//! | `X`         | any digit 0-9                             |
//! | `Z`         | any digit 1-9                             |
//! | `N`         | any digit 2-9                             |
//! | `.` (last)  | one or more further characters            |
//! | `!` (last)  | zero or more further characters           |
//!
//! Examples: `"911"`, `"1NXXNXXXXXX"`, `"XXX."`. An empty plan
//! ([`DialPlan::any`]) accepts any non-empty digit string, completed by the
//! inter-digit timeout or the terminator.

/// Result of matching collected digits against a plan.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PlanMatch {
    /// Matched, and no pattern could take more digits: dial now.
    Complete,
    /// Matched, but a pattern could take more: dial on inter-digit timeout.
    Ambiguous,
    /// A prefix of some pattern: keep collecting.
    Partial,
    /// No pattern can match: reject.
    NoMatch,
}

/// A dial-plan pattern is malformed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DialPlanError {
    /// Character not allowed in a pattern.
    #[error("invalid character {ch:?} in dial-plan pattern {pattern:?}")]
    InvalidChar {
        /// The pattern.
        pattern: String,
        /// The character.
        ch: char,
    },
    /// `.` or `!` not at the end.
    #[error("wildcard not at the end of dial-plan pattern {0:?}")]
    WildcardNotLast(String),
    /// Empty pattern.
    #[error("empty dial-plan pattern")]
    Empty,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Elem {
    Lit(char),
    Range(char, char),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Tail {
    None,
    OneOrMore,
    ZeroOrMore,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Pattern {
    elems: Vec<Elem>,
    tail: Tail,
}

impl Pattern {
    fn parse(s: &str) -> Result<Self, DialPlanError> {
        if s.is_empty() {
            return Err(DialPlanError::Empty);
        }
        let mut elems = Vec::new();
        let mut tail = Tail::None;
        for ch in s.chars() {
            if tail != Tail::None {
                return Err(DialPlanError::WildcardNotLast(s.to_owned()));
            }
            match ch.to_ascii_uppercase() {
                c @ ('0'..='9' | '*' | '#' | 'A'..='D') => elems.push(Elem::Lit(c)),
                'X' => elems.push(Elem::Range('0', '9')),
                'Z' => elems.push(Elem::Range('1', '9')),
                'N' => elems.push(Elem::Range('2', '9')),
                '.' => tail = Tail::OneOrMore,
                '!' => tail = Tail::ZeroOrMore,
                _ => {
                    return Err(DialPlanError::InvalidChar { pattern: s.to_owned(), ch });
                }
            }
        }
        Ok(Pattern { elems, tail })
    }

    fn matches(&self, digits: &str) -> PlanMatch {
        let n = digits.chars().count();
        for (i, d) in digits.chars().enumerate() {
            match self.elems.get(i) {
                Some(Elem::Lit(c)) if *c == d.to_ascii_uppercase() => {}
                Some(Elem::Range(lo, hi)) if (*lo..=*hi).contains(&d) => {}
                Some(_) => return PlanMatch::NoMatch,
                None if self.tail == Tail::None => return PlanMatch::NoMatch,
                None => {}
            }
        }
        let fixed = self.elems.len();
        match (n.cmp(&fixed), self.tail) {
            (std::cmp::Ordering::Less, _) => PlanMatch::Partial,
            (std::cmp::Ordering::Equal, Tail::None) => PlanMatch::Complete,
            (std::cmp::Ordering::Equal, Tail::ZeroOrMore) => PlanMatch::Ambiguous,
            (std::cmp::Ordering::Equal, Tail::OneOrMore) => PlanMatch::Partial,
            (std::cmp::Ordering::Greater, _) => PlanMatch::Ambiguous,
        }
    }
}

/// A set of patterns; see the [module docs](self).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct DialPlan {
    patterns: Vec<Pattern>,
}

impl DialPlan {
    /// The empty plan: any non-empty digit string, completed by timeout or terminator.
    pub fn any() -> Self {
        DialPlan::default()
    }

    /// Parses a list of patterns.
    pub fn new<S: AsRef<str>>(patterns: impl IntoIterator<Item = S>) -> Result<Self, DialPlanError> {
        let patterns = patterns.into_iter().map(|p| Pattern::parse(p.as_ref())).collect::<Result<_, _>>()?;
        Ok(DialPlan { patterns })
    }

    /// Whether the plan has no patterns (accepts anything).
    pub fn is_any(&self) -> bool {
        self.patterns.is_empty()
    }

    /// Classifies `digits` against the plan.
    pub fn classify(&self, digits: &str) -> PlanMatch {
        if self.patterns.is_empty() {
            return if digits.is_empty() { PlanMatch::Partial } else { PlanMatch::Ambiguous };
        }
        let mut complete = false;
        let mut more = false;
        for p in &self.patterns {
            match p.matches(digits) {
                PlanMatch::Complete => complete = true,
                PlanMatch::Ambiguous => {
                    complete = true;
                    more = true;
                }
                PlanMatch::Partial => more = true,
                PlanMatch::NoMatch => {}
            }
        }
        match (complete, more) {
            (true, false) => PlanMatch::Complete,
            (true, true) => PlanMatch::Ambiguous,
            (false, true) => PlanMatch::Partial,
            (false, false) => PlanMatch::NoMatch,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan() -> DialPlan {
        DialPlan::new(["911", "1NXXNXXXXXX", "XXX.", "*6X"]).unwrap()
    }

    #[test]
    fn emergency_number_completes_immediately() {
        let p = DialPlan::new(["911", "1NXXNXXXXXX"]).unwrap();
        assert_eq!(p.classify("9"), PlanMatch::Partial);
        assert_eq!(p.classify("91"), PlanMatch::Partial);
        assert_eq!(p.classify("911"), PlanMatch::Complete);
        assert_eq!(p.classify("912"), PlanMatch::NoMatch);
    }

    #[test]
    fn nanp_pattern_checks_digit_classes() {
        let p = DialPlan::new(["1NXXNXXXXXX"]).unwrap();
        assert_eq!(p.classify("12125551234"), PlanMatch::Complete);
        assert_eq!(p.classify("11"), PlanMatch::NoMatch);
        assert_eq!(p.classify("1212"), PlanMatch::Partial);
        assert_eq!(p.classify("121215"), PlanMatch::NoMatch);
        assert_eq!(p.classify("121255512345"), PlanMatch::NoMatch);
    }

    #[test]
    fn trailing_dot_needs_one_more_and_is_open_ended() {
        let p = DialPlan::new(["XXX."]).unwrap();
        assert_eq!(p.classify("123"), PlanMatch::Partial);
        assert_eq!(p.classify("1234"), PlanMatch::Ambiguous);
        assert_eq!(p.classify("12345678"), PlanMatch::Ambiguous);
    }

    #[test]
    fn trailing_bang_allows_zero_more() {
        let p = DialPlan::new(["0!"]).unwrap();
        assert_eq!(p.classify("0"), PlanMatch::Ambiguous);
        assert_eq!(p.classify("01"), PlanMatch::Ambiguous);
    }

    #[test]
    fn mixed_plan_prefers_waiting_when_extendable() {
        let p = plan();
        // "911" is complete, but also a prefix of "XXX.": wait for the timeout.
        assert_eq!(p.classify("911"), PlanMatch::Ambiguous);
        assert_eq!(p.classify("*61"), PlanMatch::Complete);
        assert_eq!(p.classify("*7"), PlanMatch::NoMatch);
    }

    #[test]
    fn empty_plan_accepts_anything_nonempty() {
        let p = DialPlan::any();
        assert!(p.is_any());
        assert_eq!(p.classify(""), PlanMatch::Partial);
        assert_eq!(p.classify("5"), PlanMatch::Ambiguous);
    }

    #[test]
    fn malformed_patterns_are_rejected() {
        assert_eq!(DialPlan::new([""]), Err(DialPlanError::Empty));
        assert!(matches!(DialPlan::new(["9Q"]), Err(DialPlanError::InvalidChar { ch: 'Q', .. })));
        assert!(matches!(DialPlan::new(["9.1"]), Err(DialPlanError::WildcardNotLast(_))));
    }
}
