//! A tiny, dependency-free scanner for `<dahdi/user.h>`.
//!
//! Shared (via `#[path]`) by `build.rs`, which uses it to list every
//! `struct dahdi_*` for the generated `STRUCT_SIZES` table, and by
//! `tests/layout.rs`, which uses it to list every struct and every
//! `#define DAHDI_* _IO*(...)` request so that nothing in the header can be
//! forgotten by the layout check. It is not a C parser: it understands just
//! enough of the header's style (comments, `struct NAME {`, one-line
//! `#define NAME _IOx(CODE, NR[, TYPE])`).

/// Direction of an ioctl request, as spelled by the `_IO*` macro.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dir {
    /// `_IO(code, nr)`: no data.
    None,
    /// `_IOR(code, nr, type)`: the kernel writes, userspace reads.
    Read,
    /// `_IOW(code, nr, type)`: userspace writes, the kernel reads.
    Write,
    /// `_IOWR(code, nr, type)`: both.
    ReadWrite,
}

/// One `#define NAME _IOx(CODE, NR[, TYPE])` line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IoctlDefine {
    /// The macro name, e.g. `DAHDI_GET_PARAMS`.
    pub name: String,
    /// Which `_IO*` macro it uses.
    pub dir: Dir,
    /// First argument, e.g. `DAHDI_CODE`.
    pub code: String,
    /// Second argument, the request number, as written.
    pub nr: String,
    /// Third argument (the argument type, e.g. `struct dahdi_params` or
    /// `int`), absent for `_IO`.
    pub arg: Option<String>,
}

/// Replaces `/* ... */` and `// ...` comments with spaces, keeping newlines
/// so that line structure survives.
pub fn strip_comments(src: &str) -> String {
    let mut out = String::with_capacity(src.len());
    let mut chars = src.chars().peekable();
    while let Some(c) = chars.next() {
        match (c, chars.peek().copied()) {
            ('/', Some('*')) => {
                chars.next();
                let mut prev = ' ';
                for c in chars.by_ref() {
                    if c == '\n' {
                        out.push('\n');
                    }
                    if prev == '*' && c == '/' {
                        break;
                    }
                    prev = c;
                }
                out.push(' ');
            }
            ('/', Some('/')) => {
                for c in chars.by_ref() {
                    if c == '\n' {
                        out.push('\n');
                        break;
                    }
                }
            }
            _ => out.push(c),
        }
    }
    out
}

fn is_ident_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

/// Every `struct dahdi_* {` definition in the header, in order of
/// appearance, without duplicates.
pub fn struct_names(src: &str) -> Vec<String> {
    let src = strip_comments(src);
    let mut names: Vec<String> = Vec::new();
    let mut rest = src.as_str();
    while let Some(pos) = rest.find("struct") {
        let before_ok = rest[..pos].chars().next_back().is_none_or(|c| !is_ident_char(c));
        let after = &rest[pos + "struct".len()..];
        rest = after;
        if !before_ok || !after.starts_with(char::is_whitespace) {
            continue;
        }
        let after = after.trim_start();
        let end = after.find(|c: char| !is_ident_char(c)).unwrap_or(after.len());
        let name = &after[..end];
        if name.starts_with("dahdi_") && after[end..].trim_start().starts_with('{') && !names.iter().any(|n| n == name) {
            names.push(name.to_string());
        }
    }
    names
}

/// Every `#define DAHDI_* _IO*(...)` in the header, in order of appearance,
/// including ones inside `#ifdef` blocks.
pub fn ioctl_defines(src: &str) -> Vec<IoctlDefine> {
    let src = strip_comments(src).replace("\\\n", " ");
    let mut out = Vec::new();
    for line in src.lines() {
        let Some(line) = line.trim_start().strip_prefix('#') else {
            continue;
        };
        let Some(line) = line.trim_start().strip_prefix("define") else {
            continue;
        };
        if !line.starts_with(char::is_whitespace) {
            continue;
        }
        let line = line.trim_start();
        let end = line.find(|c: char| !is_ident_char(c)).unwrap_or(line.len());
        let (name, value) = line.split_at(end);
        if !name.starts_with("DAHDI_") {
            continue;
        }
        let value = value.trim();
        let (dir, args) = if let Some(a) = value.strip_prefix("_IOWR") {
            (Dir::ReadWrite, a)
        } else if let Some(a) = value.strip_prefix("_IOR") {
            (Dir::Read, a)
        } else if let Some(a) = value.strip_prefix("_IOW") {
            (Dir::Write, a)
        } else if let Some(a) = value.strip_prefix("_IO") {
            (Dir::None, a)
        } else {
            continue;
        };
        let Some(args) = args.trim_start().strip_prefix('(') else {
            continue;
        };
        let Some(close) = args.rfind(')') else {
            continue;
        };
        let parts: Vec<String> = args[..close].split(',').map(|p| p.split_whitespace().collect::<Vec<_>>().join(" ")).collect();
        let arity_ok = match dir {
            Dir::None => parts.len() == 2,
            _ => parts.len() == 3,
        };
        if !arity_ok {
            continue;
        }
        out.push(IoctlDefine { name: name.to_string(), dir, code: parts[0].clone(), nr: parts[1].clone(), arg: parts.get(2).cloned() });
    }
    out
}

/// Every object-like `#define DAHDI_* VALUE` with a non-empty value that is
/// not an ioctl request (`_IO*`), as `(name, value)`, in order of
/// appearance, including ones inside `#ifdef` blocks.
pub fn object_macros(src: &str) -> Vec<(String, String)> {
    let src = strip_comments(src).replace("\\\n", " ");
    let mut out: Vec<(String, String)> = Vec::new();
    for line in src.lines() {
        let Some(line) = line.trim_start().strip_prefix('#') else {
            continue;
        };
        let Some(line) = line.trim_start().strip_prefix("define") else {
            continue;
        };
        if !line.starts_with(char::is_whitespace) {
            continue;
        }
        let line = line.trim_start();
        let end = line.find(|c: char| !is_ident_char(c)).unwrap_or(line.len());
        let (name, value) = line.split_at(end);
        if !name.starts_with("DAHDI_") || value.starts_with('(') {
            continue;
        }
        let value = value.trim();
        if value.is_empty() || value.starts_with("_IO") || out.iter().any(|(n, _)| n == name) {
            continue;
        }
        out.push((name.to_string(), value.to_string()));
    }
    out
}
