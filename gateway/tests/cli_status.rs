//! `tandem spans` and `tandem channels` against the simulator.

use std::process::Command;

use hw_sim::runner::Sim;
use tandem_drivers::{ChanConfig, Ctl, LineConfig, Signalling, Start};

const SIM: &str = r#"
[[card]]
model = "tdm410p"
ports = ["fxs", "fxs", "fxo", "fxo"]
[[card]]
model = "te220p"
[[card.span]]
type = "t1"
far_end = "external"
[[card.span]]
type = "t1"
far_end = "none"
"#;

fn configure(dir: &std::path::Path) {
    let ctl = Ctl::open(dir).unwrap();
    ctl.configure_channel(&ChanConfig { chan: 1, signalling: Signalling::Fxs(Start::Kewl), law: None, idle_bits: 0 }).unwrap();
    ctl.configure_channel(&ChanConfig { chan: 3, signalling: Signalling::Fxo(Start::Loop), law: None, idle_bits: 0 }).unwrap();
    let lc = dahdi_sys::DAHDI_CONFIG_ESF | dahdi_sys::DAHDI_CONFIG_B8ZS;
    ctl.configure_span(&LineConfig { span: 2, timing: 1, lbo: 0, lineconfig: lc }, "t1").unwrap();
    for ch in 5..=27 {
        ctl.configure_channel(&ChanConfig { chan: ch, signalling: Signalling::Clear, law: None, idle_bits: 0 }).unwrap();
    }
    ctl.configure_channel(&ChanConfig { chan: 28, signalling: Signalling::Dchan, law: None, idle_bits: 0 }).unwrap();
    ctl.startup(2).unwrap();
}

fn tandem(args: &[&str]) -> (bool, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_tandem")).args(args).output().unwrap();
    (out.status.success(), String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr))
}

#[test]
fn spans_and_channels_show_types_roles_alarms_and_hook_state() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("dahdi");
    let sim = Sim::start(SIM, "test", &dir, &tmp.path().join("c.sock")).unwrap();
    configure(&dir);
    {
        let mut st = sim.state.lock();
        let now = st.dahdi.now_ms;
        if let hw_sim::farend::Line::Phone(p) = &mut st.dahdi.lines[0] {
            p.set_hook(now + 1, true);
        }
    }
    std::thread::sleep(std::time::Duration::from_millis(50));
    let d = dir.to_str().unwrap();

    let (ok, text) = tandem(&["spans", "--device-dir", d]);
    assert!(ok, "{text}");
    let line2 = text.lines().find(|l| l.starts_with("2 ")).expect(&text);
    assert!(line2.contains("T1") && line2.contains("esf/b8zs") && line2.contains("source"), "{line2}");
    assert!(line2.contains("23 bchan") && line2.contains("1 dchan"), "{line2}");
    let line3 = text.lines().find(|l| l.starts_with("3 ")).expect(&text);
    assert!(line3.contains("red,los"), "{line3}");

    let (ok, json) = tandem(&["spans", "--device-dir", d, "--json"]);
    assert!(ok, "{json}");
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(v["spans"][2]["alarms"], serde_json::json!(["red", "los"]));
    assert_eq!(v["spans"][1]["sync_source"], 2);
    assert_eq!(v["spans"][1]["framing"], "esf");

    let (ok, json) = tandem(&["channels", "--device-dir", d, "--json"]);
    assert!(ok, "{json}");
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    let chans = v["channels"].as_array().unwrap();
    assert_eq!(chans.len(), 52);
    assert_eq!(chans[0]["role"], "fxs_ks");
    assert_eq!(chans[0]["hook"], "offhook");
    assert_eq!(chans[2]["role"], "fxo_ls");
    assert_eq!(chans[27]["role"], "dchan");
    assert_eq!(chans[4]["role"], "bchan");

    let (ok, text) = tandem(&["channels", "--device-dir", d]);
    assert!(ok);
    assert!(text.lines().any(|l| l.starts_with("1 ") && l.contains("fxs_ks") && l.contains("offhook")), "{text}");
    drop(sim);
}

#[test]
fn a_missing_device_directory_is_a_clear_error() {
    let (ok, text) = tandem(&["spans", "--device-dir", "/nonexistent/dahdi"]);
    assert!(!ok);
    assert!(text.contains("/nonexistent/dahdi/ctl"), "{text}");
}
