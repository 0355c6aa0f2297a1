//! `tandem check`, `tandem configure` and `tandem convert-system-conf` on the simulator.

use std::process::Command;

use hw_sim::runner::Sim;

fn tandem(args: &[&str]) -> (bool, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_tandem")).args(args).output().unwrap();
    (out.status.success(), String::from_utf8_lossy(&out.stdout).into_owned(), String::from_utf8_lossy(&out.stderr).into_owned())
}

fn repo(p: &str) -> String {
    format!("{}/../{p}", env!("CARGO_MANIFEST_DIR"))
}

#[test]
fn a_system_conf_converts_validates_and_applies_to_the_hardware() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("dahdi");
    let toml = std::fs::read_to_string(repo("examples/sim/basic.toml")).unwrap();
    let _sim = Sim::start(&toml, "basic.toml", &dir, &tmp.path().join("c.sock")).unwrap();
    let d = dir.to_str().unwrap();

    let (ok, converted, err) = tandem(&["convert-system-conf", &repo("examples/sim/basic-system.conf"), "--device-dir", d]);
    assert!(ok, "{err}");
    assert!(converted.contains("role = \"fxs\"") && converted.contains("role = \"dchan\""), "{converted}");
    let conf = tmp.path().join("tandem.toml");
    std::fs::write(&conf, &converted).unwrap();
    let c = conf.to_str().unwrap();

    let (ok, out, err) = tandem(&["check", "--config", c, "--device-dir", d]);
    assert!(ok, "{err}");
    assert!(out.contains("OK"), "{out}");

    let (ok, out, err) = tandem(&["configure", "--config", c, "--device-dir", d]);
    assert!(ok, "{err}");
    assert!(out.contains("52 channel(s) configured"), "{out}");

    let (ok, json, _) = tandem(&["channels", "--device-dir", d, "--json"]);
    assert!(ok);
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    let roles: Vec<&str> = v["channels"].as_array().unwrap().iter().map(|c| c["role"].as_str().unwrap()).collect();
    assert_eq!(&roles[..4], ["fxs_ks", "fxs_ks", "fxo_ks", "fxo_ks"]);
    assert_eq!(roles[27], "dchan");
    assert_eq!(roles[51], "dchan");
    assert!(roles[4..27].iter().all(|r| *r == "bchan"));
}

#[test]
fn a_bad_config_is_refused_with_its_file_line_and_column() {
    let tmp = tempfile::tempdir().unwrap();
    let conf = tmp.path().join("bad.toml");
    std::fs::write(&conf, "[dahdi]\n[[dahdi.span]]\nspan = 2\ntype = \"t1\"\nframing = \"ccs\"\ntiming = 1\n").unwrap();
    let c = conf.to_str().unwrap();
    let (ok, _, err) = tandem(&["check", "--config", c]);
    assert!(!ok);
    assert!(err.contains(&format!("{c}:5:")), "{err}");
    assert!(err.contains("help:"), "{err}");
}

#[test]
fn an_existing_system_conf_is_applied_as_it_is() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("dahdi");
    let toml = std::fs::read_to_string(repo("examples/sim/basic.toml")).unwrap();
    let _sim = Sim::start(&toml, "basic.toml", &dir, &tmp.path().join("c.sock")).unwrap();
    let d = dir.to_str().unwrap();
    let (ok, out, err) = tandem(&["configure", "--system-conf", &repo("examples/sim/basic-system.conf"), "--device-dir", d]);
    assert!(ok, "{err}");
    assert!(out.contains("basic-system.conf: applied"), "{out}");
    let (ok, json, _) = tandem(&["channels", "--device-dir", d, "--json"]);
    assert!(ok);
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    let roles: Vec<&str> = v["channels"].as_array().unwrap().iter().map(|c| c["role"].as_str().unwrap()).collect();
    assert_eq!(&roles[..4], ["fxs_ks", "fxs_ks", "fxo_ks", "fxo_ks"]);
    assert_eq!(roles[27], "dchan");
    let (ok, _, err) = tandem(&["configure", "--device-dir", d]);
    assert!(!ok && err.contains("--config"), "{err}");
}
