//! Writing a [`DahdiConfig`] as Tandem TOML.

use std::fmt::Write as _;

use super::hardware::Hardware;
use super::model::{DahdiConfig, EchoCanceller};
use crate::channel::Law;
use crate::signalling::Start;

/// TOML text for `cfg`, with `header` lines as comments at the top and,
/// when `hw` is given, a comment naming each span's hardware. Parsing the
/// text back with [`DahdiConfig::from_toml`] gives a configuration equal
/// to `cfg`.
pub fn to_toml(cfg: &DahdiConfig, hw: Option<&Hardware>, header: &[String]) -> String {
    let mut o = String::new();
    for h in header {
        if h.is_empty() {
            o.push_str("#\n");
        } else {
            for l in h.lines() {
                let _ = writeln!(o, "# {l}");
            }
        }
    }
    if !header.is_empty() {
        o.push('\n');
    }
    o.push_str("[dahdi]\n");
    if let Some(d) = &cfg.device_dir {
        let _ = writeln!(o, "device_dir = {}", quote(d.get_ref()));
    }
    if let Some(z) = &cfg.tone_zone {
        let _ = writeln!(o, "tone_zone = {}", quote(z.get_ref()));
    }
    for s in &cfg.spans {
        let n = *s.span.get_ref();
        o.push('\n');
        if let Some(h) = hw.and_then(|h| h.span(n)) {
            let chans: Vec<u32> = h.channels.iter().map(|c| c.chan).collect();
            let _ = writeln!(
                o,
                "# Span {n}: {} \"{}\" ({}, {}; DAHDI channels {})",
                h.name,
                h.description,
                h.kind,
                h.describe_channels(),
                super::ranges::format(&chans)
            );
        }
        o.push_str("[[dahdi.span]]\n");
        let _ = writeln!(o, "span = {n}");
        let _ = writeln!(o, "type = \"{}\"", s.kind.get_ref().name());
        if let Some(f) = &s.framing {
            let _ = writeln!(o, "framing = \"{}\"", f.get_ref().name());
        }
        if let Some(c) = &s.coding {
            let _ = writeln!(o, "coding = \"{}\"", c.get_ref().name());
        }
        if let Some(c) = &s.crc4 {
            let _ = writeln!(o, "crc4 = {}", c.get_ref());
        }
        if let Some(y) = &s.yellow {
            let _ = writeln!(o, "yellow = {}", y.get_ref());
        }
        if let Some(t) = &s.timing {
            let _ = writeln!(o, "timing = {}", t.get_ref());
        }
        if let Some(l) = &s.lbo {
            let _ = writeln!(o, "lbo = {}", l.get_ref());
        }
        for g in &s.groups {
            o.push_str("\n[[dahdi.span.group]]\n");
            let _ = writeln!(o, "channels = {}", quote(&g.channels.get_ref().0));
            let _ = writeln!(o, "role = \"{}\"", g.role.get_ref().name());
            if let Some(st) = &g.start {
                let _ = writeln!(o, "start = \"{}\"", start_name(*st.get_ref()));
            }
            if let Some(l) = &g.law {
                let _ = writeln!(o, "law = \"{}\"", law_name(*l.get_ref()));
            }
            match g.echo_canceller.as_ref().map(|e| e.get_ref()) {
                Some(EchoCanceller::Name(n)) => {
                    let _ = writeln!(o, "echo_canceller = {}", quote(n));
                }
                Some(EchoCanceller::Off) => o.push_str("echo_canceller = false\n"),
                None => {}
            }
            if let Some(b) = &g.idle_bits {
                let _ = writeln!(o, "idle_bits = {}", quote(b.get_ref()));
            }
        }
    }
    o
}

pub(crate) fn start_name(s: Start) -> &'static str {
    match s {
        Start::Loop => "loop",
        Start::Ground => "ground",
        Start::Kewl => "kewl",
    }
}

pub(crate) fn law_name(l: Law) -> &'static str {
    match l {
        Law::Mulaw => "mulaw",
        Law::Alaw => "alaw",
    }
}

/// A TOML basic string.
fn quote(s: &str) -> String {
    let mut o = String::with_capacity(s.len() + 2);
    o.push('"');
    for c in s.chars() {
        match c {
            '"' => o.push_str("\\\""),
            '\\' => o.push_str("\\\\"),
            '\n' => o.push_str("\\n"),
            '\t' => o.push_str("\\t"),
            '\r' => o.push_str("\\r"),
            c if (c as u32) < 0x20 || c as u32 == 0x7f => {
                let _ = write!(o, "\\u{:04X}", c as u32);
            }
            c => o.push(c),
        }
    }
    o.push('"');
    o
}
