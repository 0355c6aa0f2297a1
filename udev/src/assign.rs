//! Span assignments: which device's local span becomes which DAHDI span
//! number and base channel.
//!
//! The same information as dahdi-tools' `/etc/dahdi/assigned-spans.conf`
//! (lines of `<id> <local_span>:<span>:<basechan>`, where `<id>` is a
//! hardware id, `@location`, or a sysfs device path), which Tandem reads as
//! it is, or as TOML:
//!
//! ```toml
//! [[hotplug.assign]]
//! device = "TE4XXP-0012345"     # hardware id, "@location" or a /sys device path
//! local_span = 1
//! span = 3
//! basechan = 49
//! ```

use std::fmt;

/// How an assignment names a device.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub enum DeviceKey {
    HardwareId(String),
    /// `@location` in assigned-spans.conf.
    Location(String),
    /// A sysfs device path (`/sys/devices/...` or a DEVPATH `/devices/...`).
    Devpath(String),
}

impl DeviceKey {
    pub fn parse(s: &str) -> DeviceKey {
        if let Some(l) = s.strip_prefix('@') {
            DeviceKey::Location(l.to_string())
        } else if s.starts_with('/') {
            DeviceKey::Devpath(s.strip_prefix("/sys").unwrap_or(s).to_string())
        } else {
            DeviceKey::HardwareId(s.to_string())
        }
    }

    /// Does a device with these attributes match?
    pub fn matches(&self, hwid: &str, location: &str, devpath: &str) -> bool {
        match self {
            DeviceKey::HardwareId(h) => !h.is_empty() && clean(hwid) == *h,
            DeviceKey::Location(l) => !l.is_empty() && clean(location) == *l,
            DeviceKey::Devpath(p) => devpath.trim_end_matches('/') == p.trim_end_matches('/'),
        }
    }
}

/// dahdi-tools cleans attribute values before comparing: `!` becomes `/` and
/// anything but `[a-zA-Z0-9/:.-]` becomes `_`.
pub fn clean(s: &str) -> String {
    s.trim_end_matches('\n')
        .chars()
        .map(|c| match c {
            '!' => '/',
            c if c.is_ascii_alphanumeric() || "/:.-".contains(c) => c,
            _ => '_',
        })
        .collect()
}

impl fmt::Display for DeviceKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DeviceKey::HardwareId(h) => f.write_str(h),
            DeviceKey::Location(l) => write!(f, "@{l}"),
            DeviceKey::Devpath(p) => f.write_str(p),
        }
    }
}

/// One assignment.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Assignment {
    pub device: DeviceKey,
    pub local_span: u32,
    pub span: u32,
    pub basechan: u32,
}

/// A problem in an assignments file, with its line.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("{path}:{line}: {msg}")]
pub struct AssignError {
    pub path: String,
    pub line: usize,
    pub msg: String,
}

/// Parse dahdi-tools' assigned-spans.conf.
pub fn parse_assigned_spans_conf(text: &str, path: &str) -> Result<Vec<Assignment>, AssignError> {
    let mut out = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let line = raw.split('#').next().unwrap_or("").trim();
        if line.is_empty() {
            continue;
        }
        let err = |msg: String| AssignError { path: path.into(), line: i + 1, msg };
        let mut parts = line.split_whitespace();
        let id = parts.next().ok_or_else(|| err("missing device id".into()))?;
        let specs: Vec<&str> = parts.collect();
        if specs.is_empty() {
            return Err(err(format!("{id}: missing `local_span:span:basechan`")));
        }
        for spec in specs {
            let nums: Vec<&str> = spec.split(':').collect();
            let parse = |s: &str, what: &str| -> Result<u32, AssignError> {
                s.parse::<u32>().map_err(|_| err(format!("{spec}: {what} {s:?} is not a number; write local_span:span:basechan, e.g. 1:1:1")))
            };
            if nums.len() != 3 {
                return Err(err(format!("{spec}: write local_span:span:basechan, e.g. 1:1:1")));
            }
            let a = Assignment {
                device: DeviceKey::parse(id),
                local_span: parse(nums[0], "local span")?,
                span: parse(nums[1], "span")?,
                basechan: parse(nums[2], "base channel")?,
            };
            if a.local_span == 0 || a.span == 0 || a.basechan == 0 {
                return Err(err(format!("{spec}: numbers start at 1")));
            }
            out.push(a);
        }
    }
    Ok(out)
}

/// Render assignments in assigned-spans.conf syntax.
pub fn to_assigned_spans_conf(list: &[Assignment]) -> String {
    let mut s = String::from("# Span assignments (device local_span:span:basechan)\n");
    for a in list {
        s.push_str(&format!("{:<30} {}:{}:{}\n", a.device.to_string(), a.local_span, a.span, a.basechan));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn assigned_spans_conf_lines_parse_with_all_three_key_kinds() {
        let text = "# comment\nTE4XXP-0012345 1:1:1 2:2:32\n@pci0000:00/0000:00:1c.0 1:3:63\n/sys/devices/pci0000:00/x 1:4:94 # tail\n";
        let v = parse_assigned_spans_conf(text, "a.conf").unwrap();
        assert_eq!(v.len(), 4);
        assert_eq!(v[0], Assignment { device: DeviceKey::HardwareId("TE4XXP-0012345".into()), local_span: 1, span: 1, basechan: 1 });
        assert_eq!(v[1].basechan, 32);
        assert_eq!(v[2].device, DeviceKey::Location("pci0000:00/0000:00:1c.0".into()));
        assert_eq!(v[3].device, DeviceKey::Devpath("/devices/pci0000:00/x".into()));
        let again = parse_assigned_spans_conf(&to_assigned_spans_conf(&v), "b").unwrap();
        assert_eq!(again, v);
    }

    #[test]
    fn bad_lines_name_the_line_and_say_what_to_write() {
        let e = parse_assigned_spans_conf("\nX 1:2\n", "a.conf").unwrap_err();
        assert_eq!(e.line, 2);
        assert!(e.to_string().contains("local_span:span:basechan"), "{e}");
        let e = parse_assigned_spans_conf("X 1:a:1\n", "a.conf").unwrap_err();
        assert!(e.msg.contains("not a number"), "{e}");
        assert!(parse_assigned_spans_conf("X\n", "a").is_err());
        assert!(parse_assigned_spans_conf("X 0:1:1\n", "a").is_err());
    }

    #[test]
    fn keys_match_cleaned_attributes() {
        assert!(DeviceKey::parse("@pci0000:00/0000:00:1c.0").matches("", "pci0000:00!0000:00:1c.0\n", "/x"));
        assert!(DeviceKey::parse("HW-1").matches("HW-1\n", "", "/x"));
        assert!(!DeviceKey::parse("HW-1").matches("", "", "/x"));
    }
}
