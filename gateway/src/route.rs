//! Call routing: called-number patterns, number translation and the
//! ordered targets of each route.
//!
//! A [`Router`] is built from the `[[route]]` tables of the config (see
//! [`crate::config`]). A route whose targets are SIP trunks serves calls
//! arriving on TDM (optionally only from the PRI interfaces or groups its
//! `from` names); a route whose targets are span groups serves calls
//! arriving over SIP (optionally only from the trunks `from` names).
//!
//! # Patterns
//!
//! A called-number pattern is one of:
//! * **an exact number**: `"911"`, `"+15551234567"`;
//! * **a range** of numbers of one length: `"5551000-5551999"` (both ends
//!   the same length; `+` allowed on both ends);
//! * **an Asterisk-style pattern**, starting with `_` or containing one of
//!   its classes: `X` = 0-9, `Z` = 1-9, `N` = 2-9, `[1-5]`/`[13579]` = a
//!   set, other characters (digits, `+`, `*`, `#`) literal; it may end with
//!   `.` (one or more further characters) or `!` (zero or more).
//!
//! # Which match wins
//!
//! Of all patterns (of routes serving the call's origin) that match the
//! number, the most specific wins, in this order:
//! 1. exact numbers;
//! 2. fixed-length ranges and patterns, the one that covers the fewest
//!    numbers first (`555100X` (10) beats `5551000-5551999` (1,000) beats
//!    `NXXXXXX`);
//! 3. variable-length patterns (`.` and `!`): more fixed characters
//!    first, then the fewest numbers covered by the fixed part;
//! 4. ties go to the route (and pattern) written first in the file.
//!
//! # Overlap
//!
//! With digits still arriving, [`Router::lookup`] answers
//! [`Lookup::Incomplete`] while some pattern could still match a longer
//! number; a fixed-length match routes at once only when no pattern could
//! match a longer number.

use std::collections::HashMap;
use std::fmt;
use std::time::Duration;

use crate::call::model::{Cause, Target};
use crate::config::{Config, RouteConfig, TranslateConfig};

/// Where a call came from, for routing and the CDR.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Origin {
    /// A TDM interface (a `[[pri]]` name, later an analog line or CAS group).
    Tdm { interface: String },
    /// A SIP trunk (a `[[sip.trunk]]` name).
    Sip { trunk: String },
}

impl Origin {
    /// The interface or trunk name.
    pub fn name(&self) -> &str {
        match self {
            Origin::Tdm { interface } => interface,
            Origin::Sip { trunk } => trunk,
        }
    }

    /// Whether the call came from TDM.
    pub fn is_tdm(&self) -> bool {
        matches!(self, Origin::Tdm { .. })
    }
}

/// Why a pattern does not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PatternError {
    #[error("an empty pattern")]
    Empty,
    #[error("'{0}' cannot appear in a number pattern")]
    BadChar(char),
    #[error("an unclosed '['")]
    Unclosed,
    #[error("an empty or reversed set")]
    BadSet,
    #[error("'.' and '!' may only end a pattern")]
    WildcardNotLast,
    #[error("the range's ends differ in length or the first is larger")]
    BadRange,
}

// The characters a number may hold: 0-9, then + * #.
const SYMBOLS: usize = 13;

fn sym(c: char) -> Option<usize> {
    match c {
        '0'..='9' => Some(c as usize - '0' as usize),
        '+' => Some(10),
        '*' => Some(11),
        '#' => Some(12),
        _ => None,
    }
}

/// One position of a pattern: a set of symbols (bit i = symbol i).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Class(u16);

impl Class {
    fn has(self, c: char) -> bool {
        sym(c).is_some_and(|i| self.0 & (1 << i) != 0)
    }

    fn size(self) -> u32 {
        self.0.count_ones()
    }

    fn digits(lo: u8, hi: u8) -> Class {
        Class((lo..=hi).fold(0, |m, d| m | (1 << d)))
    }
}

/// What may follow the fixed part of a pattern.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Tail {
    None,
    /// `.`: one or more characters.
    OneOrMore,
    /// `!`: zero or more.
    ZeroOrMore,
}

/// A parsed called-number pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pattern {
    text: String,
    kind: Kind,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Kind {
    Exact(String),
    /// Same-length ends, digits only after an optional shared `+`.
    Range {
        plus: bool,
        lo: String,
        hi: String,
    },
    Classes {
        elems: Vec<Class>,
        tail: Tail,
    },
}

/// How specific a match is: smaller sorts first (wins).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Specificity {
    /// 0 exact, 1 fixed length, 2 variable length.
    tier: u8,
    /// Variable length only: fixed characters, negated (more wins).
    fixed_neg: i64,
    /// Numbers covered (by the fixed part).
    covered: u128,
}

impl Pattern {
    /// Parse a pattern (see the module docs).
    pub fn parse(s: &str) -> Result<Pattern, PatternError> {
        let text = s.to_owned();
        let s = s.trim();
        if s.is_empty() || s == "_" {
            return Err(PatternError::Empty);
        }
        if let Some((a, b)) = s.split_once('-')
            && !s.starts_with('_')
            && !s.contains('[')
        {
            let (pa, a) = a.strip_prefix('+').map(|a| (true, a)).unwrap_or((false, a));
            let (pb, b) = b.strip_prefix('+').map(|b| (true, b)).unwrap_or((false, b));
            let digits = |x: &str| !x.is_empty() && x.bytes().all(|c| c.is_ascii_digit());
            if pa != pb || !digits(a) || !digits(b) || a.len() != b.len() || a > b {
                return Err(PatternError::BadRange);
            }
            return Ok(Pattern { text, kind: Kind::Range { plus: pa, lo: a.into(), hi: b.into() } });
        }
        let body = s.strip_prefix('_').unwrap_or(s);
        let is_pattern = s.starts_with('_') || body.chars().any(|c| matches!(c, 'X' | 'x' | 'Z' | 'z' | 'N' | 'n' | '[' | '.' | '!'));
        if !is_pattern {
            if let Some(c) = body.chars().find(|c| sym(*c).is_none()) {
                return Err(PatternError::BadChar(c));
            }
            return Ok(Pattern { text, kind: Kind::Exact(body.into()) });
        }
        let mut elems = Vec::new();
        let mut tail = Tail::None;
        let mut it = body.chars().peekable();
        while let Some(c) = it.next() {
            if tail != Tail::None {
                return Err(PatternError::WildcardNotLast);
            }
            let class = match c {
                'X' | 'x' => Class::digits(0, 9),
                'Z' | 'z' => Class::digits(1, 9),
                'N' | 'n' => Class::digits(2, 9),
                '.' => {
                    tail = Tail::OneOrMore;
                    continue;
                }
                '!' => {
                    tail = Tail::ZeroOrMore;
                    continue;
                }
                '[' => {
                    let mut set = 0u16;
                    let mut prev: Option<usize> = None;
                    loop {
                        match it.next() {
                            None => return Err(PatternError::Unclosed),
                            Some(']') => break,
                            Some('-') => {
                                let (Some(lo), Some(hi)) = (prev, it.next().and_then(sym)) else { return Err(PatternError::BadSet) };
                                if hi < lo || hi > 9 {
                                    return Err(PatternError::BadSet);
                                }
                                set |= (lo..=hi).fold(0, |m, d| m | (1 << d));
                                prev = None;
                            }
                            Some(c) => {
                                let i = sym(c).ok_or(PatternError::BadChar(c))?;
                                set |= 1 << i;
                                prev = Some(i);
                            }
                        }
                    }
                    if set == 0 {
                        return Err(PatternError::BadSet);
                    }
                    Class(set)
                }
                c => Class(1 << sym(c).ok_or(PatternError::BadChar(c))?),
            };
            elems.push(class);
        }
        Ok(Pattern { text, kind: Kind::Classes { elems, tail } })
    }

    /// The pattern as written.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// Whether `number` matches.
    pub fn matches(&self, number: &str) -> bool {
        match &self.kind {
            Kind::Exact(e) => e == number,
            Kind::Range { plus, lo, hi } => {
                let n = if *plus { number.strip_prefix('+') } else { Some(number) };
                n.is_some_and(|n| n.len() == lo.len() && n.bytes().all(|c| c.is_ascii_digit()) && n >= lo.as_str() && n <= hi.as_str())
            }
            Kind::Classes { elems, tail } => {
                let n: Vec<char> = number.chars().collect();
                if n.len() < elems.len() || n.iter().any(|c| sym(*c).is_none()) {
                    return false;
                }
                let len_ok = match tail {
                    Tail::None => n.len() == elems.len(),
                    Tail::OneOrMore => n.len() > elems.len(),
                    Tail::ZeroOrMore => true,
                };
                len_ok && elems.iter().zip(&n).all(|(e, c)| e.has(*c))
            }
        }
    }

    /// Whether some number longer than `prefix` and starting with it matches.
    pub fn could_extend(&self, prefix: &str) -> bool {
        if prefix.chars().any(|c| sym(c).is_none()) {
            return false;
        }
        match &self.kind {
            Kind::Exact(e) => e.len() > prefix.len() && e.starts_with(prefix),
            Kind::Range { plus, lo, hi } => {
                let p = if *plus {
                    // A lone "" could still become "+…".
                    if prefix.is_empty() {
                        return true;
                    }
                    match prefix.strip_prefix('+') {
                        Some(p) => p,
                        None => return false,
                    }
                } else {
                    prefix
                };
                if p.len() >= lo.len() || !p.bytes().all(|c| c.is_ascii_digit()) {
                    return false;
                }
                let pad = lo.len() - p.len();
                let min = format!("{p}{}", "0".repeat(pad));
                let max = format!("{p}{}", "9".repeat(pad));
                min.as_str() <= hi.as_str() && max.as_str() >= lo.as_str()
            }
            Kind::Classes { elems, tail } => {
                let n: Vec<char> = prefix.chars().collect();
                let fixed_ok = elems.iter().zip(&n).all(|(e, c)| e.has(*c));
                match tail {
                    Tail::None => n.len() < elems.len() && fixed_ok,
                    Tail::OneOrMore | Tail::ZeroOrMore => fixed_ok,
                }
            }
        }
    }

    /// Whether this pattern matches numbers of one length only.
    pub fn is_fixed_length(&self) -> bool {
        !matches!(&self.kind, Kind::Classes { tail: Tail::OneOrMore | Tail::ZeroOrMore, .. })
    }

    /// How specific the pattern is (smaller wins; see the module docs).
    pub fn specificity(&self) -> Specificity {
        match &self.kind {
            Kind::Exact(_) => Specificity { tier: 0, fixed_neg: 0, covered: 1 },
            Kind::Range { lo, hi, .. } => {
                let covered = hi.parse::<u128>().unwrap_or(u128::MAX).saturating_sub(lo.parse::<u128>().unwrap_or(0)).saturating_add(1);
                Specificity { tier: 1, fixed_neg: 0, covered }
            }
            Kind::Classes { elems, tail } => {
                let covered = elems.iter().fold(1u128, |a, e| a.saturating_mul(e.size() as u128));
                match tail {
                    Tail::None => Specificity { tier: 1, fixed_neg: 0, covered },
                    _ => Specificity { tier: 2, fixed_neg: -(elems.len() as i64), covered },
                }
            }
        }
    }
}

impl fmt::Display for Pattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

const _: () = assert!(SYMBOLS <= 16);

/// A number translation: replace a prefix, strip, prepend (in that order).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Translation {
    /// `(prefix, replacement)`, applied when the number starts with `prefix`.
    pub replace: Option<(String, String)>,
    /// Leading characters removed.
    pub strip: usize,
    /// Prepended last.
    pub prepend: String,
}

impl Translation {
    /// Build from the config table.
    pub fn from_config(t: &TranslateConfig) -> Translation {
        Translation {
            replace: t.replace.clone().map(|r| (r, t.with.clone().unwrap_or_default())),
            strip: t.strip,
            prepend: t.prepend.clone().unwrap_or_default(),
        }
    }

    /// Whether this translation changes nothing.
    pub fn is_identity(&self) -> bool {
        self.replace.is_none() && self.strip == 0 && self.prepend.is_empty()
    }

    /// Translate a number.
    pub fn apply(&self, number: &str) -> String {
        let mut n = number.to_owned();
        if let Some((from, to)) = &self.replace
            && let Some(rest) = n.strip_prefix(from.as_str())
        {
            n = format!("{to}{rest}");
        }
        let skip = n.char_indices().nth(self.strip).map(|(i, _)| i).unwrap_or(n.len());
        format!("{}{}", self.prepend, &n[skip..])
    }
}

/// Which calls a route serves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RouteFrom {
    /// Calls arriving on TDM, from these interfaces (empty: any).
    Tdm(Vec<String>),
    /// Calls arriving over SIP, from these trunks (empty: any).
    Sip(Vec<String>),
}

/// One target of a route.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteTarget {
    /// Where to place the outbound leg; a trunk's `uri` is still a template.
    pub target: Target,
}

impl RouteTarget {
    /// The target with `{called}` and `{calling}` filled in.
    pub fn resolve(&self, called: &str, calling: &str) -> Target {
        match &self.target {
            Target::Sip { trunk, uri } => {
                Target::Sip { trunk: trunk.clone(), uri: uri.as_ref().map(|u| u.replace("{called}", called).replace("{calling}", calling)) }
            }
            t => t.clone(),
        }
    }
}

/// A route, ready to use.
#[derive(Debug, Clone)]
pub struct Route {
    /// The route's name (logs, CDRs).
    pub name: String,
    /// Which calls it serves.
    pub from: RouteFrom,
    /// Called-number patterns.
    pub patterns: Vec<Pattern>,
    /// Targets in failover order.
    pub targets: Vec<RouteTarget>,
    /// Called number translation.
    pub translate_called: Translation,
    /// Calling number translation.
    pub translate_calling: Translation,
    /// Ring no longer than this (cause 19).
    pub no_answer: Duration,
    /// The outbound leg must proceed or ring within this (cause 102).
    pub setup_timeout: Duration,
    /// Causes that move on to the next target before answer.
    pub failover_causes: Vec<Cause>,
}

impl Route {
    /// A route with the defaults of the config (180 s, 32 s, the default failover causes).
    pub fn new(name: &str, from: RouteFrom, patterns: &[&str], targets: Vec<Target>) -> Result<Route, PatternError> {
        Ok(Route {
            name: name.into(),
            from,
            patterns: patterns.iter().map(|p| Pattern::parse(p)).collect::<Result<_, _>>()?,
            targets: targets.into_iter().map(|target| RouteTarget { target }).collect(),
            translate_called: Translation::default(),
            translate_calling: Translation::default(),
            no_answer: Duration::from_secs(180),
            setup_timeout: Duration::from_secs(32),
            failover_causes: crate::config::DEFAULT_FAILOVER_CAUSES.iter().map(|c| Cause(*c)).collect(),
        })
    }

    fn serves(&self, origin: &Origin, groups: &HashMap<String, Vec<String>>) -> bool {
        match (&self.from, origin) {
            (RouteFrom::Tdm(names), Origin::Tdm { interface }) => {
                names.is_empty() || names.iter().any(|n| n == interface || groups.get(n).is_some_and(|m| m.iter().any(|i| i == interface)))
            }
            (RouteFrom::Sip(names), Origin::Sip { trunk }) => names.is_empty() || names.iter().any(|n| n == trunk),
            _ => false,
        }
    }

    /// Whether a failure with `cause` before answer should try the next target.
    pub fn fails_over_on(&self, cause: Cause) -> bool {
        self.failover_causes.contains(&cause)
    }
}

/// The answer of [`Router::lookup`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lookup {
    /// Route with this route (index into [`Router::routes`]).
    Route(usize),
    /// Wait for more digits: a longer number could still match.
    Incomplete,
    /// Nothing matches, and more digits would not help.
    NoMatch,
}

/// All routes, and how to pick one.
#[derive(Debug, Clone, Default)]
pub struct Router {
    routes: Vec<Route>,
    /// Group name → member interface names, so `from` may name a group.
    groups: HashMap<String, Vec<String>>,
}

impl Router {
    /// A router over these routes.
    pub fn new(routes: Vec<Route>) -> Router {
        Router { routes, groups: HashMap::new() }
    }

    /// Let a route's `from` name the group `group` for its member interfaces.
    pub fn set_group_members(&mut self, group: &str, interfaces: Vec<String>) {
        self.groups.insert(group.into(), interfaces);
    }

    /// Build from a checked config (patterns that do not parse are left out).
    pub fn from_config(cfg: &Config) -> Router {
        let mut r = Router::new(cfg.route.iter().map(route_from_config).collect());
        for g in &cfg.group {
            r.set_group_members(g.name.get_ref(), g.member_names());
        }
        r
    }

    /// The routes, in file order.
    pub fn routes(&self) -> &[Route] {
        &self.routes
    }

    /// The route at `i`.
    pub fn route(&self, i: usize) -> &Route {
        &self.routes[i]
    }

    /// Pick the route for a called number from `origin`. With
    /// `complete == false` (overlap), answers [`Lookup::Incomplete`] while a
    /// longer number could still match.
    pub fn lookup(&self, origin: &Origin, number: &str, complete: bool) -> Lookup {
        let mut best: Option<(Specificity, usize, bool)> = None;
        let mut extendable = false;
        for (i, r) in self.routes.iter().enumerate() {
            if !r.serves(origin, &self.groups) {
                continue;
            }
            for p in &r.patterns {
                if p.matches(number) {
                    let s = p.specificity();
                    if best.is_none_or(|(b, _, _)| s < b) {
                        best = Some((s, i, p.is_fixed_length()));
                    }
                }
                extendable |= !complete && p.could_extend(number);
            }
        }
        match best {
            Some((_, i, _)) if complete => Lookup::Route(i),
            Some((_, i, true)) if !extendable => Lookup::Route(i),
            Some(_) => Lookup::Incomplete,
            None if extendable => Lookup::Incomplete,
            None => Lookup::NoMatch,
        }
    }
}

fn route_from_config(r: &RouteConfig) -> Route {
    let targets: Vec<RouteTarget> = r
        .target
        .get_ref()
        .iter()
        .filter_map(|t| match (&t.trunk, &t.group) {
            (Some(tr), _) => Some(Target::Sip { trunk: tr.get_ref().clone(), uri: t.uri.as_ref().map(|u| u.get_ref().clone()) }),
            (None, Some(g)) => Some(Target::Tdm { group: g.get_ref().clone() }),
            (None, None) => None,
        })
        .map(|target| RouteTarget { target })
        .collect();
    let names: Vec<String> = r.from.as_ref().map(|f| f.get_ref().names()).unwrap_or_default();
    let from = if targets.iter().any(|t| matches!(t.target, Target::Tdm { .. })) { RouteFrom::Sip(names) } else { RouteFrom::Tdm(names) };
    Route {
        name: r.name.get_ref().clone(),
        from,
        patterns: r.called.get_ref().iter().filter_map(|p| Pattern::parse(p.get_ref()).ok()).collect(),
        targets,
        translate_called: Translation::from_config(&r.translate_called),
        translate_calling: Translation::from_config(&r.translate_calling),
        no_answer: r.no_answer(),
        setup_timeout: r.setup_timeout(),
        failover_causes: r.failover_causes(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> Pattern {
        Pattern::parse(s).unwrap()
    }

    fn tdm() -> Origin {
        Origin::Tdm { interface: "pri1".into() }
    }

    fn sip_target(t: &str) -> Target {
        Target::Sip { trunk: t.into(), uri: None }
    }

    #[test]
    fn asterisk_classes_match_their_digits() {
        assert!(p("NXXNXXXXXX").matches("2125551234"));
        assert!(!p("NXXNXXXXXX").matches("1125551234"));
        assert!(!p("NXXNXXXXXX").matches("212555123"));
        assert!(p("_1Z[2-4]").matches("114"));
        assert!(!p("_1Z[2-4]").matches("105"));
        assert!(p("[13579]").matches("7"));
        assert!(!p("[13579]").matches("8"));
        assert!(p("+1555NXXXXXX").matches("+15552001234"));
    }

    #[test]
    fn dot_needs_one_more_and_bang_takes_zero_or_more() {
        assert!(p("9.").matches("91"));
        assert!(!p("9.").matches("9"));
        assert!(p("9!").matches("9"));
        assert!(p("9!").matches("9123"));
        assert!(p("!").matches(""));
        assert!(p("011.").matches("01144123"));
    }

    #[test]
    fn ranges_match_numbers_of_their_length_between_the_ends() {
        let r = p("5551000-5551999");
        assert!(r.matches("5551000"));
        assert!(r.matches("5551999"));
        assert!(!r.matches("5552000"));
        assert!(!r.matches("555100"));
        assert!(!r.matches("55510000"));
        assert!(p("+15551000-+15551999").matches("+15551234"));
        assert!(!p("+15551000-+15551999").matches("15551234"));
    }

    #[test]
    fn bad_patterns_are_refused_with_a_reason() {
        assert_eq!(Pattern::parse("5551999-5551000"), Err(PatternError::BadRange));
        assert_eq!(Pattern::parse("100-1999"), Err(PatternError::BadRange));
        assert_eq!(Pattern::parse("9.1"), Err(PatternError::WildcardNotLast));
        assert_eq!(Pattern::parse("[12"), Err(PatternError::Unclosed));
        assert_eq!(Pattern::parse("12a"), Err(PatternError::BadChar('a')));
        assert_eq!(Pattern::parse(""), Err(PatternError::Empty));
    }

    #[test]
    fn the_most_specific_match_wins_whatever_the_file_order() {
        let routes = vec![
            Route::new("any", RouteFrom::Tdm(vec![]), &["!"], vec![sip_target("a")]).unwrap(),
            Route::new("nanp", RouteFrom::Tdm(vec![]), &["NXXXXXX"], vec![sip_target("b")]).unwrap(),
            Route::new("block", RouteFrom::Tdm(vec![]), &["5551000-5551999"], vec![sip_target("c")]).unwrap(),
            Route::new("ten", RouteFrom::Tdm(vec![]), &["555100X"], vec![sip_target("d")]).unwrap(),
            Route::new("one", RouteFrom::Tdm(vec![]), &["5551005"], vec![sip_target("e")]).unwrap(),
            Route::new("long", RouteFrom::Tdm(vec![]), &["55."], vec![sip_target("f")]).unwrap(),
            Route::new("longer", RouteFrom::Tdm(vec![]), &["555."], vec![sip_target("g")]).unwrap(),
        ];
        let r = Router::new(routes);
        let name = |n: &str| match r.lookup(&tdm(), n, true) {
            Lookup::Route(i) => r.route(i).name.clone(),
            l => format!("{l:?}"),
        };
        assert_eq!(name("5551005"), "one");
        assert_eq!(name("5551006"), "ten");
        assert_eq!(name("5551500"), "block");
        assert_eq!(name("5552000"), "nanp");
        assert_eq!(name("55520001"), "longer");
        assert_eq!(name("5520001"), "nanp");
        assert_eq!(name("55"), "any");
    }

    #[test]
    fn ties_go_to_the_first_route_in_the_file() {
        let r = Router::new(vec![
            Route::new("first", RouteFrom::Tdm(vec![]), &["NXX"], vec![sip_target("a")]).unwrap(),
            Route::new("second", RouteFrom::Tdm(vec![]), &["NXX"], vec![sip_target("b")]).unwrap(),
        ]);
        assert_eq!(r.lookup(&tdm(), "212", true), Lookup::Route(0));
    }

    #[test]
    fn routes_serve_only_their_origin() {
        let mut r = Router::new(vec![
            Route::new("from-pri2", RouteFrom::Tdm(vec!["pri2".into()]), &["X!"], vec![sip_target("a")]).unwrap(),
            Route::new("from-grp", RouteFrom::Tdm(vec!["east".into()]), &["1X!"], vec![sip_target("b")]).unwrap(),
            Route::new("from-sip", RouteFrom::Sip(vec![]), &["X!"], vec![Target::Tdm { group: "pstn".into() }]).unwrap(),
        ]);
        assert_eq!(r.lookup(&tdm(), "123", true), Lookup::NoMatch);
        r.set_group_members("east", vec!["pri1".into()]);
        assert_eq!(r.lookup(&tdm(), "123", true), Lookup::Route(1));
        assert_eq!(r.lookup(&Origin::Tdm { interface: "pri2".into() }, "223", true), Lookup::Route(0));
        assert_eq!(r.lookup(&Origin::Sip { trunk: "pbx".into() }, "223", true), Lookup::Route(2));
    }

    #[test]
    fn could_still_match_looks_at_longer_numbers_only() {
        assert!(p("5551000-5551999").could_extend("5551"));
        assert!(p("5551000-5551999").could_extend(""));
        assert!(!p("5551000-5551999").could_extend("5552"));
        assert!(!p("5551000-5551999").could_extend("5551000"));
        assert!(p("NXXXXXX").could_extend("2"));
        assert!(!p("NXXXXXX").could_extend("1"));
        assert!(p("911").could_extend("91"));
        assert!(!p("911").could_extend("911"));
        assert!(p("9.").could_extend("9"));
        assert!(p("9.").could_extend("9123"));
        assert!(p("+15551000-+15551999").could_extend("+1555"));
    }

    #[test]
    fn overlap_routes_at_a_fixed_length_match_unless_a_longer_number_could_match() {
        let r = Router::new(vec![
            Route::new("local", RouteFrom::Tdm(vec![]), &["NXXXXXX"], vec![sip_target("a")]).unwrap(),
            Route::new("emergency", RouteFrom::Tdm(vec![]), &["911"], vec![sip_target("b")]).unwrap(),
            Route::new("intl", RouteFrom::Tdm(vec![]), &["011."], vec![sip_target("c")]).unwrap(),
        ]);
        assert_eq!(r.lookup(&tdm(), "91", false), Lookup::Incomplete);
        // 911 matches, but NXXXXXX could still match 911xxxx: wait.
        assert_eq!(r.lookup(&tdm(), "911", false), Lookup::Incomplete);
        assert_eq!(r.lookup(&tdm(), "911", true), Lookup::Route(1));
        assert_eq!(r.lookup(&tdm(), "5551234", false), Lookup::Route(0));
        assert_eq!(r.lookup(&tdm(), "01144", false), Lookup::Incomplete);
        assert_eq!(r.lookup(&tdm(), "01144", true), Lookup::Route(2));
        assert_eq!(r.lookup(&tdm(), "1", false), Lookup::NoMatch);
    }

    #[test]
    fn translations_replace_then_strip_then_prepend() {
        let t = Translation { replace: Some(("+1".into(), "".into())), strip: 0, prepend: String::new() };
        assert_eq!(t.apply("+12125551234"), "2125551234");
        assert_eq!(t.apply("2125551234"), "2125551234");
        let t = Translation { replace: None, strip: 1, prepend: "+44".into() };
        assert_eq!(t.apply("02071234567"), "+442071234567");
        let t = Translation { replace: Some(("9".into(), "".into())), strip: 0, prepend: "1".into() };
        assert_eq!(t.apply("92125551234"), "12125551234");
        let t = Translation { replace: None, strip: 5, prepend: String::new() };
        assert_eq!(t.apply("123"), "");
    }

    #[test]
    fn odd_numbers_from_the_wire_never_panic_and_never_match_by_accident() {
        let pats: Vec<Pattern> = ["5551000-5551999", "+15551000-+15551999", "NXX.", "911", "!", "[1-3]X"].iter().map(|s| p(s)).collect();
        let r = Router::new(vec![Route::new("r", RouteFrom::Tdm(vec![]), &["5551000-5551999", "+1NXX.", "911"], vec![sip_target("a")]).unwrap()]);
        for n in ["", "+", "++1", "é5551000", "5551000é", "555１000", "\u{0}", "*#", "5551000\n", "9999999999999999999999999999999999999999999"] {
            for pat in &pats {
                let _ = (pat.matches(n), pat.could_extend(n));
            }
            let _ = (r.lookup(&tdm(), n, true), r.lookup(&tdm(), n, false));
            let _ = Translation { replace: Some(("é".into(), "".into())), strip: 2, prepend: "+".into() }.apply(n);
        }
        assert!(!p("5551000-5551999").matches("555１000"));
        assert!(!p("!").matches("12a"));
    }

    #[test]
    fn uri_templates_take_the_numbers() {
        let t = RouteTarget { target: Target::Sip { trunk: "pbx".into(), uri: Some("sip:{called}@pbx.example.com;from={calling}".into()) } };
        assert_eq!(t.resolve("1000", "2000"), Target::Sip { trunk: "pbx".into(), uri: Some("sip:1000@pbx.example.com;from=2000".into()) });
    }
}
