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
//! The CAS tests use `examples/dahdi/cas-cross.*` instead: T1 E&M, T1
//! `cas=`, channel-bank fxo?s/fxs?s and E1 `cas=…:1101` channels on
//! cross-connected spans, configured by dahdi_cfg and by Tandem and
//! compared channel by channel (signalling and ABCD bits), and ABCD bits
//! moved across the cross-connect with SETTXBITS/GETRXBITS.
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

// ---- CAS and robbed-bit spans ------------------------------------------
//
// `examples/dahdi/cas-cross.sim.toml`: a TE420P whose T1 spans 1 and 2 are
// cross-connected, and its E1 spans 3 and 4 too. It is configured once by
// Debian's dahdi_cfg from `examples/dahdi/cas-cross-system.conf` and once
// by Tandem (`tandem configure`) from the equivalent `[dahdi]` TOML,
// `examples/dahdi/cas-cross.toml`, each on a simulator of its own.

fn cas_sim() -> PathBuf {
    repo_path("examples/dahdi/cas-cross.sim.toml")
}

fn tandem_bin() -> PathBuf {
    tandem_tests::gateway::workspace_bin("tandem")
}

/// Configure a fresh simulator with `configure` (a shell command) and dump
/// GET_PARAMS of every channel.
fn cas_params_after(configure: &str) -> BTreeMap<i64, Value> {
    let conf = repo_path("examples/dahdi/cas-cross-system.conf").display().to_string();
    let toml = repo_path("examples/dahdi/cas-cross.toml").display().to_string();
    let tandem = tandem_bin().display().to_string();
    let script = format!("{configure} >&2 || {{ echo \"configuring failed: $?\" >&2; exit 1; }}\n\"$DAHDI_PARAMS\" 1-110\n");
    let out = sim_ns(
        &cas_sim(),
        &["bash", "-c", &script],
        &[("CONF", conf.as_str()), ("TOML", toml.as_str()), ("TANDEM", tandem.as_str()), ("DAHDI_PARAMS", DAHDI_PARAMS)],
        Duration::from_secs(60),
    );
    out.assert_success(configure);
    params_by_chan(&out.stdout)
}

/// ABCD bits as DAHDI packs them (A = 8, B = 4, C = 2, D = 1).
const BITS_BD: i64 = 0b0101;
const BITS_ABCD: i64 = 0b1111;

/// What each configured channel of cas-cross must be: its signalling and the
/// bits it sends while idle. dahdi-base.c `dahdi_rbs_sethook` (its `outs`
/// table, TXSIG_ONHOOK column): E&M 0; fxols, fxoks, fxsls, fxsgs and
/// fxsks B+D; fxogs A+B+C+D (tip open). A CAS channel sends its idle bits.
fn cas_expected(chan: i64) -> Option<(&'static str, i64, i64)> {
    use dahdi_sys as d;
    let s = |v: u32| v as i64;
    Some(match chan {
        1..=4 | 25..=28 => ("e&m", s(d::DAHDI_SIG_EM), 0),
        5..=8 | 29..=32 => ("cas:0001", s(d::DAHDI_SIG_CAS), 0b0001),
        9 | 10 => ("fxols", s(d::DAHDI_SIG_FXOLS), BITS_BD),
        11 | 12 => ("fxogs", s(d::DAHDI_SIG_FXOGS), BITS_ABCD),
        13 | 14 => ("fxoks", s(d::DAHDI_SIG_FXOKS), BITS_BD),
        33 | 34 => ("fxsls", s(d::DAHDI_SIG_FXSLS), BITS_BD),
        35 | 36 => ("fxsgs", s(d::DAHDI_SIG_FXSGS), BITS_BD),
        37 | 38 => ("fxsks", s(d::DAHDI_SIG_FXSKS), BITS_BD),
        49..=63 | 65..=79 | 80..=94 | 96..=110 => ("cas:1101", s(d::DAHDI_SIG_CAS), 0b1101),
        _ => return None,
    })
}

/// The channel wired to `chan` by the cross-connects (same position on the peer span).
fn cas_peer(chan: i64) -> i64 {
    match chan {
        1..=24 => chan + 24,
        25..=48 => chan - 24,
        49..=79 => chan + 31,
        _ => chan - 31,
    }
}

#[test]
fn dahdi_cfg_and_tandem_configure_give_robbed_bit_and_cas_channels_the_same_signalling_and_bits() {
    let by_dahdi_cfg = cas_params_after("dahdi_cfg -vv -c \"$CONF\"");
    let by_tandem = cas_params_after("\"$TANDEM\" configure --config \"$TOML\"");
    assert_eq!(by_dahdi_cfg.len(), 110);
    assert_eq!(by_tandem.len(), 110);
    let mut diffs = Vec::new();
    for chan in 1..=110 {
        let (a, b) = (&by_dahdi_cfg[&chan], &by_tandem[&chan]);
        for key in ["sigtype", "txbits", "rxbits", "idlebits", "curlaw", "rxisoffhook", "txhooksig", "rxhooksig"] {
            if a[key] != b[key] {
                diffs.push(format!("channel {chan} {key}: dahdi_cfg {} tandem {}", a[key], b[key]));
            }
        }
    }
    assert!(diffs.is_empty(), "dahdi_cfg and tandem configure differ:\n{}", diffs.join("\n"));
    // And both are what DAHDI does with that system.conf.
    for (who, p) in [("dahdi_cfg", &by_dahdi_cfg), ("tandem", &by_tandem)] {
        for chan in 1..=110 {
            let c = &p[&chan];
            let Some((name, sig, idle)) = cas_expected(chan) else {
                assert_eq!(sigtype(p, chan), 0, "{who}: channel {chan} is not in the system.conf: {c}");
                continue;
            };
            assert_eq!(sigtype(p, chan), sig, "{who}: channel {chan} ({name}) signalling: {c}");
            assert_eq!(c["txbits"].as_i64(), Some(idle), "{who}: channel {chan} ({name}) sends its idle bits: {c}");
            let peer_idle = cas_expected(cas_peer(chan)).map(|e| e.2).unwrap_or(-1);
            assert_eq!(c["rxbits"].as_i64(), Some(peer_idle), "{who}: channel {chan} ({name}) receives its peer's idle bits: {c}");
            if name.starts_with("cas") {
                assert_eq!(c["idlebits"].as_i64(), Some(idle), "{who}: channel {chan} ({name}) idle bits: {c}");
            }
        }
    }
}

/// GET_PARAMS of `chans` from another process (`dahdi-params --dev`).
fn params_from_outside(dev: &std::path::Path, chans: &[u32]) -> BTreeMap<i64, Value> {
    let out =
        std::process::Command::new(DAHDI_PARAMS).arg("--dev").arg(dev.join("ctl")).args(chans.iter().map(u32::to_string)).output().expect("run dahdi-params");
    assert!(out.status.success(), "dahdi-params failed: {}", String::from_utf8_lossy(&out.stderr));
    params_by_chan(&String::from_utf8_lossy(&out.stdout))
}

#[test]
fn abcd_bits_set_with_settxbits_are_what_the_crossed_channel_reads_with_getrxbits() {
    use tandem_drivers::{Channel, OpenOptionsDahdi};
    use tandem_tests::gateway::{Lab, wait_until};
    let lab = Lab::start(&std::fs::read_to_string(cas_sim()).expect("cas-cross.sim.toml"));
    let out = std::process::Command::new(tandem_bin())
        .args(["configure", "--config"])
        .arg(repo_path("examples/dahdi/cas-cross.toml"))
        .arg("--device-dir")
        .arg(&lab.dev)
        .output()
        .expect("run tandem configure");
    assert!(out.status.success(), "tandem configure failed:\n{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    let mut sim = lab.client();
    let open = |chan: u32| Channel::open(&lab.dev, chan, None, OpenOptionsDahdi { nonblocking: true }).unwrap_or_else(|e| panic!("open channel {chan}: {e}"));
    // T1 CAS 5 <-> 29, E1 CAS 49 <-> 80 and 79 <-> 110 (each side of timeslot 16).
    for (a, b) in [(5u32, 29u32), (29, 5), (49, 80), (110, 79)] {
        let (ta, tb) = (open(a), open(b));
        for bits in 0u8..16 {
            ta.set_tx_bits(bits).unwrap_or_else(|e| panic!("SETTXBITS {bits:#06b} on {a}: {e}"));
            assert!(
                wait_until(Duration::from_secs(5), || tb.rx_bits().ok() == Some(bits)),
                "channel {b} read {:?} with GETRXBITS after channel {a} sent {bits:#06b}",
                tb.rx_bits()
            );
            let (pa, pb) = (ta.params().expect("GET_PARAMS"), tb.params().expect("GET_PARAMS"));
            assert_eq!(pa.tx_bits, Some(bits), "GET_PARAMS txbits of {a}: {pa:?}");
            assert_eq!(pb.rx_bits, Some(bits), "GET_PARAMS rxbits of {b}: {pb:?}");
            let (sa, sb) = (sim.chan_get(a).expect("chan.get"), sim.chan_get(b).expect("chan.get"));
            assert_eq!(sa["txbits"].as_u64(), Some(u64::from(bits)), "the simulator's txbits of {a}: {sa}");
            assert_eq!(sb["rxbits"].as_u64(), Some(u64::from(bits)), "the simulator's rxbits of {b}: {sb}");
            let outside = params_from_outside(&lab.dev, &[a, b]);
            assert_eq!(outside[&i64::from(a)]["txbits"].as_u64(), Some(u64::from(bits)), "another process's GET_PARAMS of {a}");
            assert_eq!(outside[&i64::from(b)]["rxbits"].as_u64(), Some(u64::from(bits)), "another process's GET_PARAMS of {b}");
        }
    }
    // Robbed-bit signalling other than CAS keeps its bits to the kernel's
    // hook machine: SETTXBITS is refused (EINVAL), the bits stay idle.
    for chan in [1u32, 9, 11, 33, 35] {
        let c = open(chan);
        let before = c.params().expect("GET_PARAMS").tx_bits;
        assert!(c.set_tx_bits(0b1010).is_err(), "SETTXBITS accepted on channel {chan}");
        assert_eq!(c.params().expect("GET_PARAMS").tx_bits, before, "channel {chan}'s bits changed");
    }
}
