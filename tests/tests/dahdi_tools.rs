//! dahdi-tools fidelity: the stock Debian dahdi-tools (3.1.0) run unmodified
//! against tandem-sim and must behave as on real hardware.
//!
//! Each test starts its own simulator on `examples/sim/basic.toml` in a
//! private mount namespace (`scripts/sim-ns.sh`) and configures it with
//! `examples/sim/basic-system.conf`:
//!
//! * span 1: TDM410P, chans 1-4 = fxs, fxs, fxo, fxo (fxoks=1-2, fxsks=3-4)
//! * span 2: TE220P span 1, T1, chans 5-28 (bchan=5-27, hardhdlc=28)
//! * span 3: TE220P span 2, T1, chans 29-52 (bchan=29-51, hardhdlc=52),
//!   cross-connected to span 2
//!
//! `dahdi_test` has its own test binary, `dahdi_timing.rs`.
//!
//! Needs root, dahdi-tools (`scripts/setup.sh`) and a built simulator
//! (`cargo build -p hw-sim`).

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use serde_json::Value;
use tandem_tests::{repo_path, section, sections, sim_ns};

const DAHDI_PARAMS: &str = env!("CARGO_BIN_EXE_dahdi-params");

fn basic_toml() -> PathBuf {
    repo_path("examples/sim/basic.toml")
}

fn basic_conf() -> String {
    repo_path("examples/sim/basic-system.conf").display().to_string()
}

/// Run a shell script inside the namespace with `$CONF` (the system.conf)
/// and `$DAHDI_PARAMS` (the GET_PARAMS checker) set.
fn run_script(script: &str, timeout_s: u64) -> tandem_tests::NsOutput {
    let conf = basic_conf();
    sim_ns(&basic_toml(), &["bash", "-c", script], &[("CONF", conf.as_str()), ("DAHDI_PARAMS", DAHDI_PARAMS)], Duration::from_secs(timeout_s))
}

/// Parse one line of `dahdi-params` JSON into channo -> object.
fn params_by_chan(json_text: &str) -> BTreeMap<i64, Value> {
    let line = json_text.lines().rev().find(|l| !l.trim().is_empty()).expect("dahdi-params printed nothing");
    let v: Value = serde_json::from_str(line).unwrap_or_else(|e| panic!("dahdi-params output is not JSON ({e}): {line}"));
    v["chans"].as_array().expect("\"chans\" array").iter().map(|c| (c["channo"].as_i64().expect("channo"), c.clone())).collect()
}

fn sigtype(params: &BTreeMap<i64, Value>, chan: i64) -> i64 {
    let c = params.get(&chan).unwrap_or_else(|| panic!("no GET_PARAMS result for channel {chan}"));
    assert!(c.get("error").is_none(), "GET_PARAMS on channel {chan} failed: {c}");
    c["sigtype"].as_i64().expect("sigtype")
}

#[test]
fn dahdi_cfg_configures_channels() {
    let out = run_script(
        r#"
        echo @@before;     "$DAHDI_PARAMS" 1-52
        echo @@cfg;        dahdi_cfg -vv -c "$CONF" 2>&1; echo "@@cfg-status $?"
        echo @@after;      "$DAHDI_PARAMS" 1-52
        echo @@cfg2;       dahdi_cfg -c "$CONF" 2>&1; echo "@@cfg2-status $?"
        echo @@after2;     "$DAHDI_PARAMS" 1-52
        "#,
        60,
    );
    out.assert_success("dahdi_cfg script");
    let secs = sections(&out.stdout);
    let status_of = |name: &str| {
        secs.iter()
            .find_map(|(n, _)| n.strip_prefix(name).map(|s| s.trim().to_string()))
            .unwrap_or_else(|| panic!("no @@{name} marker in output:\n{}", out.stdout))
    };
    let cfg = section(&secs, "cfg");
    assert_eq!(status_of("cfg-status"), "0", "dahdi_cfg -vv failed:\n{cfg}");
    assert_eq!(status_of("cfg2-status"), "0", "second dahdi_cfg run failed:\n{}", section(&secs, "cfg2"));

    // What dahdi_cfg itself reports.
    for line in [
        "SPAN 2: ESF/B8ZS Build-out: 0 db (CSU)/0-133 feet (DSX-1)",
        "SPAN 3: ESF/B8ZS Build-out: 0 db (CSU)/0-133 feet (DSX-1)",
        "Channel 01: FXO Kewlstart (Default)",
        "Channel 03: FXS Kewlstart (Default)",
        "Channel 05: Clear channel (Default)",
        "Channel 28: Hardware assisted D-channel (Default)",
        "52 channels to configure.",
        "Changing signalling on channel 1 from Unused to FXO Kewlstart",
        "Changing signalling on channel 3 from Unused to FXS Kewlstart",
        "Changing signalling on channel 52 from Unused to Hardware assisted D-channel",
    ] {
        assert!(cfg.contains(line), "dahdi_cfg -vv output lacks {line:?}:\n{cfg}");
    }

    // Before: every channel exists and is unconfigured.
    let before = params_by_chan(section(&secs, "before"));
    assert_eq!(before.len(), 52);
    for chan in 1..=52 {
        assert_eq!(sigtype(&before, chan), 0, "channel {chan} configured before dahdi_cfg ran");
    }

    // After: GET_PARAMS shows the configuration took effect, also after a re-run.
    let fxoks = dahdi_sys::DAHDI_SIG_FXOKS as i64;
    let fxsks = dahdi_sys::DAHDI_SIG_FXSKS as i64;
    let clear = dahdi_sys::DAHDI_SIG_CLEAR as i64;
    let hdlc = dahdi_sys::DAHDI_SIG_HARDHDLC as i64;
    for name in ["after", "after2"] {
        let p = params_by_chan(section(&secs, name));
        assert_eq!(sigtype(&p, 1), fxoks, "{name}: chan 1 (FXS port, fxoks)");
        assert_eq!(sigtype(&p, 3), fxsks, "{name}: chan 3 (FXO port, fxsks)");
        assert_eq!(sigtype(&p, 5), clear, "{name}: chan 5 (bchan)");
        assert_eq!(sigtype(&p, 28), hdlc, "{name}: chan 28 (hardhdlc)");
        let expect = |chan: i64| match chan {
            1 | 2 => fxoks,
            3 | 4 => fxsks,
            28 | 52 => hdlc,
            _ => clear,
        };
        for chan in 1..=52 {
            assert_eq!(sigtype(&p, chan), expect(chan), "{name}: sigtype of channel {chan}");
        }
        // Channel numbering across spans.
        for (chan, span, pos) in [(1, 1, 1), (4, 1, 4), (5, 2, 1), (28, 2, 24), (29, 3, 1), (52, 3, 24)] {
            assert_eq!(p[&chan]["spanno"].as_i64(), Some(span), "{name}: span of channel {chan}");
            assert_eq!(p[&chan]["chanpos"].as_i64(), Some(pos), "{name}: position of channel {chan}");
        }
    }
}

/// `dahdi_scan` output: `[N]` headers followed by `key=value` lines.
fn parse_scan(text: &str) -> BTreeMap<u32, Vec<(String, String)>> {
    let mut spans = BTreeMap::new();
    let mut cur: Option<u32> = None;
    for line in text.lines() {
        let line = line.trim();
        if let Some(n) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            let n: u32 = n.parse().unwrap_or_else(|_| panic!("bad span header {line:?}"));
            spans.insert(n, Vec::new());
            cur = Some(n);
        } else if let (Some(n), Some((k, v))) = (cur, line.split_once('=')) {
            spans.get_mut(&n).expect("current span").push((k.to_string(), v.to_string()));
        }
    }
    spans
}

#[test]
fn dahdi_scan_lists_spans() {
    let out = run_script(
        r#"
        dahdi_cfg -c "$CONF" >/dev/null 2>&1 || { echo "dahdi_cfg failed: $?" >&2; exit 1; }
        dahdi_scan
        "#,
        60,
    );
    out.assert_success("dahdi_scan");
    let spans = parse_scan(&out.stdout);
    assert_eq!(spans.keys().copied().collect::<Vec<_>>(), vec![1, 2, 3], "spans listed by dahdi_scan:\n{}", out.stdout);
    let get = |span: u32, key: &str| -> Vec<&str> { spans[&span].iter().filter(|(k, _)| k == key).map(|(_, v)| v.as_str()).collect() };
    let one = |span: u32, key: &str| -> String {
        let v = get(span, key);
        assert_eq!(v.len(), 1, "span {span}: expected one {key}= line, got {v:?}\n{}", out.stdout);
        v[0].to_string()
    };

    // Every span is up and named.
    for span in 1..=3 {
        assert_eq!(one(span, "active"), "yes", "span {span}");
        assert_eq!(one(span, "alarms"), "OK", "span {span}");
        assert_eq!(one(span, "manufacturer"), "Digium", "span {span}");
        assert!(!one(span, "location").is_empty(), "span {span}: empty location");
        assert!(!one(span, "name").is_empty(), "span {span}: empty name");
    }

    // The analog card.
    assert_eq!(one(1, "type"), "analog");
    assert_eq!(one(1, "basechan"), "1");
    assert_eq!(one(1, "totchans"), "4");
    assert_eq!(one(1, "devicetype"), "Wildcard TDM410P");
    assert_eq!(get(1, "port"), vec!["1,FXS", "2,FXS", "3,FXO", "4,FXO"]);

    // The two T1 spans, configured ESF/B8ZS by system.conf.
    for (span, basechan) in [(2, "5"), (3, "29")] {
        assert_eq!(one(span, "type"), "digital-T1", "span {span}");
        assert_eq!(one(span, "basechan"), basechan, "span {span}");
        assert_eq!(one(span, "totchans"), "24", "span {span}");
        assert_eq!(one(span, "devicetype"), "Wildcard TE220P", "span {span}");
        assert_eq!(one(span, "framing"), "ESF", "span {span}");
        assert_eq!(one(span, "coding"), "B8ZS", "span {span}");
        assert_eq!(one(span, "framing_opts"), "ESF,D4", "span {span}");
        assert_eq!(one(span, "coding_opts"), "B8ZS,AMI", "span {span}");
        assert_eq!(one(span, "lbo"), "0 db (CSU)/0-133 feet (DSX-1)", "span {span}");
        // Span 2 is the configured primary timing source (span=2,1,...).
        assert_eq!(one(span, "syncsrc"), "2", "span {span}");
    }
}
