//! Configuring one span when it appears: the `[[dahdi.span]]` table of that
//! span from tandem.toml, validated against the hardware and applied
//! (SPANCONFIG, CHANCONFIG, ATTACH_ECHOCAN, DEFAULTZONE, STARTUP) with
//! `tandem_drivers::config`, leaving the other spans alone.

use std::path::Path;

use serde::Deserialize;
use tandem_drivers::Ctl;
use tandem_drivers::config::{self, DahdiConfig, Source};

/// tandem.toml: only `[dahdi]` matters here; other tables are ignored.
#[derive(Deserialize)]
struct Document {
    #[serde(default)]
    dahdi: Option<DahdiConfig>,
}

/// The `[dahdi]` section of a tandem.toml, if it has one. Errors name
/// `file:line:column`.
pub fn load_dahdi_section(path: &Path) -> Result<Option<DahdiConfig>, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let name = path.to_string_lossy().into_owned();
    let src = Source::new(name, text.clone());
    let doc: Document = toml::from_str(&text).map_err(|e| src.toml_error(&e).to_string())?;
    Ok(doc.dahdi.map(|c| c.with_source(src)))
}

/// Only the `[[dahdi.span]]` table of span `span` (and the tone zone), or
/// `None` when the section does not mention the span.
pub fn span_only(cfg: &DahdiConfig, span: u32) -> Option<DahdiConfig> {
    let mut c = cfg.clone();
    c.spans.retain(|s| *s.span.get_ref() == span);
    (!c.spans.is_empty()).then_some(c)
}

/// Configure span `span` from the `[dahdi]` section of `config_path`
/// through the control device in `device_dir` (default: the section's
/// `device_dir`). Returns what was done, for the log; a span the section
/// does not mention is left alone (and that is not an error).
pub fn configure_span(config_path: &Path, device_dir: Option<&Path>, span: u32) -> Result<String, String> {
    let Some(cfg) = load_dahdi_section(config_path)? else {
        return Ok(format!("{} has no [dahdi] section; span {span} left as it is", config_path.display()));
    };
    let Some(one) = span_only(&cfg, span) else {
        return Ok(format!("{} does not configure span {span}; left as it is", config_path.display()));
    };
    let dir = device_dir.map(Path::to_path_buf).unwrap_or_else(|| one.device_dir());
    let ctl = Ctl::open(&dir).map_err(|e| e.to_string())?;
    let hw = config::Hardware::discover(&ctl).map_err(|e| e.to_string())?;
    let plan = config::validate(&one, &hw).map_err(|e| e.to_string())?;
    let report = config::apply(&plan, &ctl).map_err(|e| e.to_string())?;
    Ok(format!(
        "configured span {span} from {}: {} channel(s) configured, {} unchanged{}",
        config_path.display(),
        report.channels_configured.len(),
        report.channels_unchanged.len(),
        if report.spans_started.contains(&span) { ", span started" } else { "" }
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_dahdi_section_and_only_the_span_count() {
        let tmp = tempfile::tempdir().unwrap();
        let p = tmp.path().join("tandem.toml");
        std::fs::write(
            &p,
            "[sip]\nlisten = \"0.0.0.0:5060\"\n\n[dahdi]\n[[dahdi.span]]\nspan = 3\ntype = \"t1\"\ntiming = 1\n\
             [[dahdi.span.group]]\nchannels = \"1-23\"\nrole = \"bchan\"\n[[dahdi.span]]\nspan = 4\ntype = \"t1\"\ntiming = 0\n",
        )
        .unwrap();
        let cfg = load_dahdi_section(&p).unwrap().expect("a [dahdi] section");
        assert_eq!(cfg.spans.len(), 2);
        let one = span_only(&cfg, 4).unwrap();
        assert_eq!(one.spans.len(), 1);
        assert_eq!(*one.spans[0].span.get_ref(), 4);
        assert!(span_only(&cfg, 9).is_none());
        std::fs::write(&p, "[sip]\nx = 1\n").unwrap();
        assert!(load_dahdi_section(&p).unwrap().is_none());
        assert!(configure_span(&p, None, 1).unwrap().contains("no [dahdi] section"));
        std::fs::write(&p, "[dahdi]\nbogus = 1\n").unwrap();
        let e = load_dahdi_section(&p).unwrap_err();
        assert!(e.contains("tandem.toml:2"), "{e}");
    }
}
