//! Diagnostics: every configuration problem as `file:line:column: what is
//! wrong`, with a line saying how to fix it.

use std::fmt;
use std::ops::Range;
use std::sync::Arc;

/// The text a configuration was read from, to turn byte offsets into
/// line and column numbers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Source {
    /// The file name shown in messages.
    pub path: String,
    pub text: String,
}

impl Source {
    pub fn new(path: impl Into<String>, text: impl Into<String>) -> Source {
        Source { path: path.into(), text: text.into() }
    }

    /// 1-based line and column (in characters) of a byte offset. Offsets
    /// past the end, or inside a character, are clamped.
    pub fn line_col(&self, offset: usize) -> (usize, usize) {
        let mut offset = offset.min(self.text.len());
        while !self.text.is_char_boundary(offset) {
            offset -= 1;
        }
        let before = &self.text[..offset];
        let line = before.matches('\n').count() + 1;
        let line_start = before.rfind('\n').map(|i| i + 1).unwrap_or(0);
        let col = self.text[line_start..offset].chars().count() + 1;
        (line, col)
    }

    /// The diagnostic for a byte range of this source.
    pub fn diagnostic(&self, span: Range<usize>, message: impl Into<String>, help: Option<String>) -> Diagnostic {
        let (line, column) = self.line_col(span.start);
        Diagnostic { path: self.path.clone(), line, column, message: message.into(), help }
    }

    /// A TOML syntax or type error (unknown key, wrong type, unknown value,
    /// missing key) as a diagnostic at the place `toml` reports.
    pub fn toml_error(&self, e: &toml::de::Error) -> Diagnostic {
        let message = e.message().trim().to_string();
        let help = toml_help(&message);
        match e.span() {
            Some(span) => self.diagnostic(span, message, help),
            None => Diagnostic { path: self.path.clone(), line: 0, column: 0, message, help },
        }
    }
}

/// Some extra words for the commonest TOML mistakes.
fn toml_help(message: &str) -> Option<String> {
    if message.starts_with("unknown field") {
        Some("remove the key or fix its spelling; the keys this table takes are listed above".into())
    } else if message.starts_with("missing field") {
        Some("add the key to this table".into())
    } else if message.starts_with("unknown variant") {
        Some("use one of the values listed above".into())
    } else {
        None
    }
}

/// A shared, optional [`Source`] attached to a parsed configuration. It
/// never takes part in comparisons: two configurations are equal when they
/// say the same thing, wherever they came from.
#[derive(Clone, Debug, Default)]
pub struct SourceRef(pub Option<Arc<Source>>);

impl PartialEq for SourceRef {
    fn eq(&self, _: &SourceRef) -> bool {
        true
    }
}

impl SourceRef {
    pub fn new(src: Source) -> SourceRef {
        SourceRef(Some(Arc::new(src)))
    }

    /// A diagnostic at `span`, or one with no position when the
    /// configuration was built in code.
    pub fn diagnostic(&self, span: Range<usize>, message: impl Into<String>, help: Option<String>) -> Diagnostic {
        match &self.0 {
            Some(s) => s.diagnostic(span, message, help),
            None => Diagnostic { path: "[dahdi]".into(), line: 0, column: 0, message: message.into(), help },
        }
    }

    /// The line of a byte offset (0 when unknown).
    pub fn line(&self, offset: usize) -> usize {
        self.0.as_ref().map(|s| s.line_col(offset).0).unwrap_or(0)
    }

    pub fn text(&self) -> Option<&str> {
        self.0.as_ref().map(|s| s.text.as_str())
    }
}

/// One problem, at a place in a file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Diagnostic {
    pub path: String,
    /// 1-based; 0 when the place is unknown.
    pub line: usize,
    /// 1-based, in characters; 0 when the place is unknown.
    pub column: usize,
    /// What is wrong.
    pub message: String,
    /// How to fix it.
    pub help: Option<String>,
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.line > 0 {
            write!(f, "{}:{}:{}: {}", self.path, self.line, self.column, self.message)?;
        } else {
            write!(f, "{}: {}", self.path, self.message)?;
        }
        if let Some(h) = &self.help {
            write!(f, "\n    help: {h}")?;
        }
        Ok(())
    }
}

/// Every problem found in a configuration, in file order.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Errors(pub Vec<Diagnostic>);

impl Errors {
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn iter(&self) -> std::slice::Iter<'_, Diagnostic> {
        self.0.iter()
    }

    pub fn push(&mut self, d: Diagnostic) {
        self.0.push(d);
    }

    /// `Ok(v)` when there are no errors; the errors sorted by place otherwise.
    pub fn into_result<T>(mut self, v: T) -> Result<T, Errors> {
        if self.0.is_empty() {
            Ok(v)
        } else {
            self.0.sort_by(|a, b| (&a.path, a.line, a.column).cmp(&(&b.path, b.line, b.column)));
            self.0.dedup();
            Err(self)
        }
    }
}

impl fmt::Display for Errors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, d) in self.0.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{d}")?;
        }
        Ok(())
    }
}

impl std::error::Error for Errors {}

impl From<Diagnostic> for Errors {
    fn from(d: Diagnostic) -> Errors {
        Errors(vec![d])
    }
}

impl IntoIterator for Errors {
    type Item = Diagnostic;
    type IntoIter = std::vec::IntoIter<Diagnostic>;
    fn into_iter(self) -> Self::IntoIter {
        self.0.into_iter()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_and_column_count_characters_from_one() {
        let s = Source::new("f", "ab\nçd\n\nx");
        assert_eq!(s.line_col(0), (1, 1));
        assert_eq!(s.line_col(1), (1, 2));
        assert_eq!(s.line_col(3), (2, 1));
        assert_eq!(s.line_col(5), (2, 2)); // after the two-byte ç
        assert_eq!(s.line_col(8), (4, 1));
        assert_eq!(s.line_col(100), (4, 2));
    }
}
