//! What the section checkers share: the context diagnostics go to, and the
//! checks every interface section makes (span numbers, position lists
//! such as `"1-23"`, reported at the exact place inside the string).

use std::ops::Range;

use tandem_drivers::config::diag::{Diagnostic, SourceRef};
use tandem_drivers::config::ranges;

use super::Spanned;

/// Where a checker's diagnostics go.
pub(crate) struct Ctx<'a> {
    pub src: &'a SourceRef,
    pub out: &'a mut Vec<Diagnostic>,
}

impl Ctx<'_> {
    /// Reports a problem at `at` (byte range in the file), with `help` unless empty.
    pub fn err(&mut self, at: Range<usize>, message: impl Into<String>, help: &str) {
        let help = if help.is_empty() { None } else { Some(help.to_owned()) };
        self.out.push(self.src.diagnostic(at, message, help));
    }

    /// "on line N" for a place in the file (for "first defined …" messages).
    pub fn line(&self, at: &Range<usize>) -> String {
        match self.src.line(at.start) {
            0 => "elsewhere".to_owned(),
            n => format!("on line {n}"),
        }
    }

    /// Reports a span number DAHDI cannot have; true if `n` is one.
    pub fn span_number(&mut self, n: u32, at: Range<usize>) -> bool {
        let ok = (1..=128).contains(&n);
        if !ok {
            self.err(at, format!("span {n} does not exist: DAHDI numbers spans 1 to 128"), "use the span number dahdi_scan or `tandem spans` shows");
        }
        ok
    }

    /// Parses a position list (`"1-12,14"`), reporting its syntax errors at
    /// their place; the ranges come back with their places in the file.
    pub fn positions(&mut self, list: &Spanned<String>) -> Option<Vec<Positions>> {
        // +1: the opening quote.
        let base = list.span().start + 1;
        match ranges::parse(list.get_ref()) {
            Err(errs) => {
                for e in errs {
                    self.err(base + e.at.start..base + e.at.end, e.message, &e.help);
                }
                None
            }
            Ok(items) => Some(items.into_iter().map(|i| Positions { first: i.first, last: i.last, at: base + i.at.start..base + i.at.end }).collect()),
        }
    }
}

/// One range of a position list, with its place in the file.
pub(crate) struct Positions {
    pub first: u32,
    pub last: u32,
    pub at: Range<usize>,
}
