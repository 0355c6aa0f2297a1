//! The example configurations are run, so they stay correct: every
//! `examples/gateway/*.toml` and `examples/demo/tandem.toml` passes
//! `tandem check`, and the demo's config bridges calls both ways between
//! the simulated carrier (`examples/sim/pri-t1.toml`, q931-peer as the
//! switch) and a sipp PBX at `127.0.0.10:5070`, exactly as the file is.

use std::ffi::OsStr;
use std::path::PathBuf;
use std::process::Command;
use std::sync::Mutex;
use std::time::Duration;

use tandem_tests::gateway::{Lab, Sipp, SippOpts, Tandem, wait_until, workspace_bin};
use tandem_tests::q931peer::Q931Peer;
use tandem_tests::repo_path;

/// One test at a time: the demo binds tandem's SIP port.
static SERIAL: Mutex<()> = Mutex::new(());

const T: Duration = Duration::from_secs(10);

/// The gateway configs among the examples, sorted.
fn gateway_examples() -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(repo_path("examples/gateway"))
        .expect("examples/gateway")
        .map(|e| e.expect("dir entry").path())
        .filter(|p| p.extension() == Some(OsStr::new("toml")))
        .collect();
    files.sort();
    files.push(repo_path("examples/demo/tandem.toml"));
    files
}

#[test]
fn every_gateway_example_passes_tandem_check() {
    let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let files = gateway_examples();
    assert!(files.len() >= 4, "the gateway examples are there: {files:?}");
    for f in &files {
        let out = Command::new(workspace_bin("tandem")).arg("check").arg("--config").arg(f).output().expect("run tandem check");
        assert!(
            out.status.success(),
            "tandem check --config {} failed ({}):\n{}{}",
            f.display(),
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

#[test]
fn the_demo_config_bridges_calls_both_ways_and_writes_two_cdrs() {
    let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let sim = std::fs::read_to_string(repo_path("examples/sim/pri-t1.toml")).expect("examples/sim/pri-t1.toml");
    let lab = Lab::start(&sim);
    let sock = lab.dchan_socket(1);
    let mut switch = Q931Peer::spawn_named("switch", &["--role", "network", "--switch", "ni2", "--connect", sock.to_str().expect("utf-8")]);
    // The file as it is; its relative cdr_file lands in the lab directory.
    let dir = lab.path("");
    let tandem = Tandem::start_file(&lab, &repo_path("examples/demo/tandem.toml"), &[OsStr::new("--device-dir"), lab.dev.as_os_str()], Some(&dir));
    switch.wait_for("link_up", Duration::from_secs(15));
    tandem.expect_log("tandem running", T);

    // A call from the carrier to the PBX, answered, cleared by the carrier.
    let mut pbx = Sipp::start(&lab, "pbx", SippOpts { scenario: "uas_answer.xml", rtp_echo_port: Some(7000), pause_ms: 100, ..SippOpts::default() });
    switch.send_line("call 2125551234 9175550000 name Alice");
    switch.wait_for("connected", T);
    switch.send_line("hangup 16");
    switch.wait_for("released", T);
    pbx.expect_success(T);
    let invite = &pbx.received("INVITE ")[0];
    assert!(invite.lines().next().unwrap_or("").contains("2125551234"), "{invite}");

    // A call from the PBX to the carrier, answered, cleared by the PBX.
    let mut uac = Sipp::start(
        &lab,
        "uac",
        SippOpts {
            scenario: "uac_call.xml",
            rtp_echo_port: Some(7100),
            pause_ms: 300,
            service: Some("2125550142"),
            remote: Some("127.0.0.1:5060"),
            ..SippOpts::default()
        },
    );
    let inc = switch.wait_for("incoming", T);
    assert!(inc["called"].as_str().unwrap_or("").ends_with("2125550142"), "{inc}");
    switch.send_line("answer");
    switch.wait_for("disconnecting", T);
    uac.expect_success(T);

    // Exactly one CDR line per call, in cdr.jsonl relative to tandem's
    // working directory.
    let lines = || lab.read("cdr.jsonl").lines().filter(|l| !l.trim().is_empty()).map(str::to_owned).collect::<Vec<_>>();
    assert!(wait_until(T, || lines().len() >= 2), "two CDR lines: {:?}", lines());
    std::thread::sleep(Duration::from_millis(300));
    let cdrs: Vec<serde_json::Value> = lines().iter().map(|l| serde_json::from_str(l).expect("CDR line is JSON")).collect();
    assert_eq!(cdrs.len(), 2, "{cdrs:?}");
    let mut dirs: Vec<&str> = cdrs.iter().map(|c| c["direction"].as_str().unwrap_or("")).collect();
    dirs.sort();
    assert_eq!(dirs, ["sip-to-tdm", "tdm-to-sip"], "{cdrs:?}");
    assert!(cdrs.iter().all(|c| c["answer"].is_string()), "both answered: {cdrs:?}");
    drop(tandem);
}
