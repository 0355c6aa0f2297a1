//! Parsing and validating the `[dahdi]` TOML: every error at
//! `file:line:column`, with what is wrong and how to fix it, all reported
//! at once; and the plan a valid configuration gives.

use dahdi_sys as d;
use tandem_drivers::config::{self, DahdiConfig, Hardware, HwSpan, Port, Role, SpanType};
use tandem_drivers::{Law, Signalling, Start};

/// The hardware of examples/dahdi/sample.sim.toml.
fn sample_hw() -> Hardware {
    Hardware::new(vec![
        HwSpan::analog(1, 1, &[Port::Fxs, Port::Fxs, Port::Fxo, Port::Fxo]),
        HwSpan::t1(2, 5),
        HwSpan::e1(3, 29),
        HwSpan::t1(4, 60),
        HwSpan::e1(5, 84),
    ])
}

/// The messages for `toml` (parse or validation), one string each.
fn errors(toml: &str) -> Vec<String> {
    let cfg = match DahdiConfig::from_toml(toml, "cfg.toml") {
        Ok(c) => c,
        Err(e) => return e.iter().map(|d| d.to_string()).collect(),
    };
    match config::validate(&cfg, &sample_hw()) {
        Ok(p) => panic!("expected errors, got a plan: {p:#?}"),
        Err(e) => e.iter().map(|d| d.to_string()).collect(),
    }
}

fn assert_has(errs: &[String], wanted: &[&str]) {
    for w in wanted {
        assert!(errs.iter().any(|e| e.contains(w)), "no error contains {w:?}; errors:\n{}", errs.join("\n"));
    }
}

const PRI: &str = r#"[dahdi]
tone_zone = "us"

[[dahdi.span]]
span = 2
type = "t1"
framing = "esf"
coding = "b8zs"
timing = 1
lbo = 0

[[dahdi.span.group]]
channels = "1-23"
role = "bchan"
echo_canceller = "oslec"

[[dahdi.span.group]]
channels = 24
role = "dchan"

[[dahdi.span]]
span = 1
type = "analog"

[[dahdi.span.group]]
channels = "1-2"
role = "fxs"

[[dahdi.span.group]]
channels = "3-4"
role = "fxo"
start = "loop"
law = "alaw"
"#;

#[test]
fn a_valid_configuration_gives_the_plan() {
    let cfg = DahdiConfig::from_toml(PRI, "cfg.toml").unwrap();
    config::check(&cfg).unwrap();
    let plan = config::validate(&cfg, &sample_hw()).unwrap();
    assert_eq!(plan.tone_zone.as_ref().map(|z| z.number), Some(0));
    assert_eq!(plan.spans.iter().map(|s| s.span).collect::<Vec<_>>(), [1, 2], "spans in order");

    let analog = &plan.spans[0];
    assert_eq!(analog.kind, SpanType::Analog);
    assert_eq!(analog.line, None, "analog spans get no SPANCONFIG");
    let sigs: Vec<_> = analog.channels.iter().map(|c| (c.config.chan, c.config.signalling, c.config.law)).collect();
    assert_eq!(
        sigs,
        [
            (1, Signalling::Fxs(Start::Kewl), None),
            (2, Signalling::Fxs(Start::Kewl), None),
            (3, Signalling::Fxo(Start::Loop), Some(Law::Alaw)),
            (4, Signalling::Fxo(Start::Loop), Some(Law::Alaw)),
        ]
    );
    // The user-side naming maps to DAHDI's inverse names.
    assert_eq!(analog.channels[0].config.signalling.to_dahdi(), d::DAHDI_SIG_FXOKS);
    assert_eq!(analog.channels[2].config.signalling.to_dahdi(), d::DAHDI_SIG_FXSLS);

    let t1 = &plan.spans[1];
    let lc = t1.line.expect("SPANCONFIG for a T1");
    assert_eq!((lc.span, lc.timing, lc.lbo), (2, 1, 0));
    assert_eq!(lc.lineconfig, d::DAHDI_CONFIG_ESF | d::DAHDI_CONFIG_B8ZS);
    assert_eq!(t1.channels.len(), 24);
    assert_eq!(t1.channels[0].config.chan, 5, "position 1 of span 2 is DAHDI channel 5");
    assert_eq!(t1.channels[0].role, Role::Bchan);
    assert_eq!(t1.channels[0].echo_canceller, "oslec");
    assert_eq!(t1.channels[23].config.chan, 28);
    assert_eq!(t1.channels[23].config.signalling, Signalling::Dchan);
    assert_eq!(t1.channels[23].echo_canceller, "");
    let order: Vec<u32> = plan.channels().map(|(_, c)| c.config.chan).collect();
    assert_eq!(order, (1..=28).collect::<Vec<_>>(), "channels in DAHDI order");
}

#[test]
fn e1_defaults_and_cas_idle_bits() {
    let cfg = DahdiConfig::from_toml(
        r#"[dahdi]
[[dahdi.span]]
span = 3
type = "e1"
timing = 0
crc4 = true
[[dahdi.span.group]]
channels = "1-15,17-31"
role = "bchan"
[[dahdi.span.group]]
channels = "16"
role = "hdlc_fcs"

[[dahdi.span]]
span = 5
type = "e1"
framing = "cas"
timing = 2
lbo = 3
yellow = true
[[dahdi.span.group]]
channels = "1-15, 17-31"
role = "cas"
idle_bits = "1101"
"#,
        "e1.toml",
    )
    .unwrap();
    let plan = config::validate(&cfg, &sample_hw()).unwrap();
    assert_eq!(plan.tone_zone, None);
    let pri = &plan.spans[0];
    assert_eq!(pri.line.unwrap().lineconfig, d::DAHDI_CONFIG_CCS | d::DAHDI_CONFIG_HDB3 | d::DAHDI_CONFIG_CRC4);
    assert_eq!(pri.channels[15].config.signalling, Signalling::HdlcFcs);
    assert_eq!(pri.channels[15].config.chan, 44);
    let cas = &plan.spans[1];
    let lc = cas.line.unwrap();
    assert_eq!((lc.timing, lc.lbo), (2, 3));
    assert_eq!(lc.lineconfig, d::DAHDI_CONFIG_HDB3 | d::DAHDI_CONFIG_NOTOPEN, "E1 CAS framing sets no framing bit");
    assert_eq!(cas.channels.len(), 30);
    assert!(cas.channels.iter().all(|c| c.config.signalling == Signalling::Cas && c.config.idle_bits == 0b1101));
    assert!(!cas.channels.iter().any(|c| c.pos == 16));
}

#[test]
fn syntax_errors_and_unknown_keys_name_file_line_and_column() {
    let e = errors("[dahdi]\ntone_zone = \"us\"\n[[dahdi.span]]\nspan = 2\ntype = \"t1\"\ntimming = 1\n");
    assert_eq!(e.len(), 1);
    assert!(e[0].starts_with("cfg.toml:6:1: unknown field `timming`"), "{}", e[0]);
    assert!(e[0].contains("help:"), "{}", e[0]);

    let e = errors("[dahdi]\n[[dahdi.span]]\nspan = 2\ntype = \"t1\"\ntiming = 1\nframing = \"esx\"\n");
    assert!(e[0].starts_with("cfg.toml:6:11: unknown variant `esx`"), "{}", e[0]);

    let e =
        errors("[dahdi]\n[[dahdi.span]]\nspan = 2\ntype = \"t1\"\ntiming = 1\n[[dahdi.span.group]]\nchannels = \"1-24\"\nrole = \"fxs\"\nstart = \"kool\"\n");
    assert!(e[0].starts_with("cfg.toml:9:9: unknown variant `kool`"), "{}", e[0]);

    let e = errors("[dahdi]\n[[dahdi.span]]\nspan = 2\ntimimg = 1\n");
    assert!(e[0].starts_with("cfg.toml:4:1: unknown field `timimg`"), "{}", e[0]);

    let e = errors("[dahdi]\nspan = [\n");
    assert!(e[0].starts_with("cfg.toml:"), "{}", e[0]);

    let e = errors("[dahdy]\n");
    assert!(e[0].contains("unknown field `dahdy`"), "{}", e[0]);

    let e = errors("");
    assert!(e[0].contains("no [dahdi] table"), "{}", e[0]);

    let e = errors(
        "[dahdi]\n[[dahdi.span]]\nspan = 2\ntype = \"t1\"\ntiming = 1\n[[dahdi.span.group]]\nchannels = \"1-23\"\nrole = \"bchan\"\necho_canceller = true\n",
    );
    assert!(e[0].starts_with("cfg.toml:9:18: echo_canceller = true does not say which canceller"), "{}", e[0]);
}

#[test]
fn overlapping_channel_ranges_are_reported_with_both_places() {
    let e = errors(
        r#"[dahdi]
[[dahdi.span]]
span = 2
type = "t1"
timing = 1
[[dahdi.span.group]]
channels = "1-23"
role = "bchan"
[[dahdi.span.group]]
channels = "20-24"
role = "dchan"
"#,
    );
    assert_eq!(e.len(), 1, "{e:?}");
    assert!(e[0].starts_with("cfg.toml:10:13: channels 20-23 of span 2 are already in the group at line 7"), "{}", e[0]);
}

#[test]
fn a_dchan_on_a_cas_span_is_refused() {
    // E1 with CAS framing and a D-channel.
    let e = errors(
        r#"[dahdi]
[[dahdi.span]]
span = 3
type = "e1"
framing = "cas"
timing = 1
[[dahdi.span.group]]
channels = "1-15,17-31"
role = "cas"
idle_bits = "1101"
[[dahdi.span.group]]
channels = "16"
role = "dchan"
"#,
    );
    assert_has(&e, &["cfg.toml:13:8: a D-channel on E1 span 3, whose framing is \"cas\"", "cfg.toml:12:13: channel 16 of E1 span 3 carries the CAS bits"]);

    // A T1 with a D-channel and E&M at once.
    let e = errors(
        r#"[dahdi]
[[dahdi.span]]
span = 2
type = "t1"
timing = 1
[[dahdi.span.group]]
channels = "1-23"
role = "em"
[[dahdi.span.group]]
channels = "24"
role = "dchan"
"#,
    );
    assert_eq!(e.len(), 1, "{e:?}");
    assert!(e[0].starts_with("cfg.toml:11:8: span 2 mixes an ISDN D-channel with CAS signalling (role \"em\" in the group at line 8)"), "{}", e[0]);

    // An E1 CCS span with CAS roles.
    let e = errors("[dahdi]\n[[dahdi.span]]\nspan = 3\ntype = \"e1\"\ntiming = 1\n[[dahdi.span.group]]\nchannels = \"1-15\"\nrole = \"em_e1\"\n");
    assert!(e[0].starts_with("cfg.toml:8:8: role \"em_e1\" signals in the ABCD bits, which E1 span 3 has only with framing = \"cas\""), "{}", e[0]);
}

#[test]
fn framing_and_coding_must_fit_the_span_type() {
    let e = errors(
        r#"[dahdi]
[[dahdi.span]]
span = 2
type = "t1"
framing = "ccs"
coding = "hdb3"
crc4 = true
timing = 1
lbo = 9
[[dahdi.span]]
span = 3
type = "e1"
framing = "esf"
coding = "b8zs"
timing = 300
[[dahdi.span]]
span = 1
type = "analog"
timing = 1
"#,
    );
    assert_has(
        &e,
        &[
            "cfg.toml:5:11: framing \"ccs\" is an E1 framing; span 2 is T1",
            "help: write framing = \"esf\"",
            "cfg.toml:6:10: coding \"hdb3\" is for E1; span 2 is T1",
            "cfg.toml:7:8: crc4 is for E1 spans",
            "cfg.toml:9:7: lbo 9 is out of range",
            "cfg.toml:13:11: framing \"esf\" is a T1/J1 framing; span 3 is E1",
            "cfg.toml:14:10: coding \"b8zs\" is for T1/J1",
            "cfg.toml:15:10: timing 300 is out of range",
            "cfg.toml:19:10: `timing` is for T1/E1/J1 spans; span 1 is analog",
        ],
    );
    assert_eq!(e.len(), 8, "every problem is reported at once:\n{}", e.join("\n"));

    let e = errors("[dahdi]\n[[dahdi.span]]\nspan = 2\ntype = \"t1\"\n");
    assert!(e[0].starts_with("cfg.toml:3:8: span 2 has no `timing`"), "{}", e[0]);
    assert!(e[0].contains("help: add timing = 1"), "{}", e[0]);
}

#[test]
fn the_hardware_decides_what_exists() {
    let e = errors(
        r#"[dahdi]
[[dahdi.span]]
span = 9
type = "t1"
timing = 1
[[dahdi.span]]
span = 3
type = "t1"
timing = 1
[[dahdi.span]]
span = 2
type = "t1"
timing = 1
[[dahdi.span.group]]
channels = "1-23,25-26"
role = "bchan"
[[dahdi.span]]
span = 1
type = "analog"
[[dahdi.span.group]]
channels = "1-5"
role = "fxs"
"#,
    );
    assert_has(
        &e,
        &[
            "cfg.toml:3:8: span 9 does not exist: this system has spans 1 (analog), 2 (T1), 3 (E1), 4 (T1), 5 (E1)",
            "cfg.toml:8:8: span 3 (SPAN/3) is an E1, not T1",
            "help: write type = \"e1\"",
            "cfg.toml:15:18: channels 25-26 of span 2 do not exist: span 2 (SPAN/2, T1) has channels 1-24",
            "cfg.toml:21:13: port 5 of span 1 does not exist",
        ],
    );
}

#[test]
fn signalling_the_port_cannot_do_is_refused() {
    let e = errors(
        r#"[dahdi]
[[dahdi.span]]
span = 1
type = "analog"
[[dahdi.span.group]]
channels = "1-4"
role = "fxs"
"#,
    );
    assert_eq!(e.len(), 1, "{e:?}");
    assert!(
        e[0].starts_with("cfg.toml:7:8: ports 3-4 of span 1 (ANALOG/1) are FXO ports (a CO line plugs in); role \"fxs\" is for ports a phone plugs into"),
        "{}",
        e[0]
    );
    assert!(e[0].contains("help: give them a group of their own with role = \"fxo\""), "{}", e[0]);

    let e = errors("[dahdi]\n[[dahdi.span]]\nspan = 1\ntype = \"analog\"\n[[dahdi.span.group]]\nchannels = \"3\"\nrole = \"fxo\"\nstart = \"ground\"\n");
    assert!(e[0].starts_with("cfg.toml:8:9: port 3 of span 1 (ANALOG/1) cannot do ground start"), "{}", e[0]);

    let e = errors("[dahdi]\n[[dahdi.span]]\nspan = 1\ntype = \"analog\"\n[[dahdi.span.group]]\nchannels = \"1\"\nrole = \"bchan\"\n");
    assert!(e[0].starts_with("cfg.toml:7:8: role \"bchan\" on span 1, an analog card"), "{}", e[0]);

    // A digital channel whose driver lacks hardware HDLC (like a TE12xP).
    let mut hw = sample_hw();
    for c in &mut hw.spans[1].channels {
        c.sigcap &= !(d::DAHDI_SIG_HARDHDLC & !d::DAHDI_SIG_CLEAR);
    }
    let cfg = DahdiConfig::from_toml(
        "[dahdi]\n[[dahdi.span]]\nspan = 2\ntype = \"t1\"\ntiming = 1\n[[dahdi.span.group]]\nchannels = 24\nrole = \"dchan\"\n",
        "c.toml",
    )
    .unwrap();
    let e = config::validate(&cfg, &hw).unwrap_err().to_string();
    assert!(e.starts_with("c.toml:8:8: channel 24 of span 2 (SPAN/2) cannot do role \"dchan\" (DAHDI signalling hardhdlc)"), "{e}");
    assert!(e.contains("hdlc_fcs"), "the help lists what the channel can do: {e}");
}

#[test]
fn duplicate_spans_and_bad_ranges() {
    let e = errors(
        r#"[dahdi]
[[dahdi.span]]
span = 2
type = "t1"
timing = 1
[[dahdi.span.group]]
channels = "5-3,abc"
role = "bchan"
[[dahdi.span.group]]
channels = "1,,2"
role = "bchan"
[[dahdi.span]]
span = 2
type = "t1"
timing = 2
"#,
    );
    assert_has(
        &e,
        &[
            "cfg.toml:7:13: range \"5-3\" runs backwards",
            "help: write \"3-5\"",
            "cfg.toml:7:17: \"abc\" is not a channel number",
            "cfg.toml:10:15: empty item in the channel list",
            "cfg.toml:13:8: span 2 is configured twice (also in the [[dahdi.span]] table at line 3)",
        ],
    );
}

#[test]
fn keys_that_do_not_fit_the_role() {
    let e = errors(
        r#"[dahdi]
tone_zone = "xx"
[[dahdi.span]]
span = 5
type = "e1"
framing = "cas"
timing = 1
[[dahdi.span.group]]
channels = "1-15"
role = "cas"
[[dahdi.span.group]]
channels = "17-20"
role = "cas"
idle_bits = "12"
[[dahdi.span.group]]
channels = "21-31"
role = "em"
start = "loop"
idle_bits = "1101"
[[dahdi.span]]
span = 3
type = "e1"
timing = 2
[[dahdi.span.group]]
channels = "16"
role = "dchan"
law = "alaw"
echo_canceller = "mg2"
"#,
    );
    assert_has(
        &e,
        &[
            "cfg.toml:2:13: unknown tone zone \"xx\"",
            "cfg.toml:10:8: role \"cas\" needs `idle_bits`",
            "cfg.toml:14:13: idle_bits \"12\" is not four ABCD bits",
            "cfg.toml:17:8: role \"em\" is E&M on T1; span 5 is E1",
            "cfg.toml:18:9: `start` is for fxs and fxo groups",
            "cfg.toml:19:13: `idle_bits` is for role \"cas\"",
            "cfg.toml:27:7: `law` is for audio channels",
            "cfg.toml:28:18: an echo canceller on role \"dchan\"",
        ],
    );
}

#[test]
fn check_needs_no_hardware() {
    let cfg = DahdiConfig::from_toml(
        "[dahdi]\n[[dahdi.span]]\nspan = 9\ntype = \"t1\"\ntiming = 1\n[[dahdi.span.group]]\nchannels = \"1-30\"\nrole = \"bchan\"\n",
        "c.toml",
    )
    .unwrap();
    config::check(&cfg).expect("span 9 and channel 30 may exist elsewhere");
    let cfg = DahdiConfig::from_toml("[dahdi]\n[[dahdi.span]]\nspan = 9\ntype = \"t1\"\nframing = \"cas\"\ntiming = 1\n", "c.toml").unwrap();
    assert!(config::check(&cfg).unwrap_err().to_string().starts_with("c.toml:5:11: framing \"cas\" is an E1 framing"));
}

#[test]
fn embedded_in_a_larger_file() {
    #[derive(serde::Deserialize)]
    struct TandemToml {
        #[allow(dead_code)]
        sip: toml::Value,
        dahdi: DahdiConfig,
    }
    let text = "[sip]\nbind = \"0.0.0.0:5060\"\n\n[dahdi]\n[[dahdi.span]]\nspan = 2\ntype = \"e1\"\ntiming = 1\n";
    let t: TandemToml = toml::from_str(text).unwrap();
    let cfg = t.dahdi.with_source(config::Source::new("/etc/tandem/tandem.toml", text));
    let e = config::validate(&cfg, &sample_hw()).unwrap_err().to_string();
    assert!(e.starts_with("/etc/tandem/tandem.toml:7:8: span 2 (SPAN/2) is a T1, not E1"), "{e}");
}

#[test]
fn the_examples_validate() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    let text = std::fs::read_to_string(root.join("examples/dahdi/full.toml")).unwrap();
    let cfg = DahdiConfig::from_toml(&text, "examples/dahdi/full.toml").unwrap();
    let plan = config::validate(&cfg, &sample_hw()).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(plan.spans.len(), 5);
    assert_eq!(plan.channels().count(), 4 + 24 + 31 + 24 + 30);
}

#[test]
fn the_table_alone_parses_too() {
    let cfg = DahdiConfig::from_toml_table(
        "tone_zone = \"us\"\n[[span]]\nspan = 2\ntype = \"t1\"\ntiming = 1\n[[span.group]]\nchannels = \"1-24\"\nrole = \"em\"\n",
        "dahdi.toml",
    )
    .unwrap();
    let plan = config::validate(&cfg, &sample_hw()).unwrap();
    assert_eq!(plan.spans[0].channels.len(), 24);
    let e = DahdiConfig::from_toml_table("[[span]]\nspan = 2\ntype = \"t1\"\nframing = \"d5\"\n", "dahdi.toml").unwrap_err().to_string();
    assert!(e.starts_with("dahdi.toml:4:11: unknown variant `d5`"), "{e}");
}
