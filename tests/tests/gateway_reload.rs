//! End to end: reloading the configuration of a running `tandem run`
//! (`tandem reload`, SIGHUP) while calls are up, reopening the CDR file
//! after logrotate's rename, and the systemd unit in `packaging/`.
//!
//! The set-up is `gateway_pri_sip.rs`'s: the simulated carrier's switch
//! (q931-peer, network side) on an NI-2 PRI, and sipp as the PBXs. Each test
//! starts its own simulator, switch and daemon; a lock runs them one at a
//! time, since they share tandem's SIP port.
//!
//! Addresses: tandem `127.0.0.60:5060`; PBX A (sipp) `127.0.0.61:5070`;
//! PBX B `127.0.0.62:5070`.

use std::path::Path;
use std::process::{Command, Output};
use std::sync::Mutex;
use std::time::Duration;

use serde_json::Value;
use tandem_tests::gateway::{Lab, Sipp, SippOpts, Tandem, cdrs, start_pri, wait_until, workspace_bin};
use tandem_tests::q931peer::Q931Peer;
use tandem_tests::rigs::{PriSipConfig, pri_sim};

static SERIAL: Mutex<()> = Mutex::new(());

const T: Duration = Duration::from_secs(10);

/// One NI-2 PRI (user side) on span 1 with span timing `timing`, trunk
/// `a` (and `b` with `trunk_b`), a route from the PRI to `target`.
fn config(lab: &Lab, target: &str, trunk_b: bool, timing: u32) -> String {
    PriSipConfig {
        timing,
        outbound_group: false,
        trunks: format!("{TRUNK_A}{}", if trunk_b { TRUNK_B } else { "" }),
        routes: format!("[[route]]\nname = \"pstn-out\"\nfrom = \"pstn\"\ncalled = [\"X.\"]\ntarget = [{{ trunk = \"{target}\" }}]\n"),
        ..PriSipConfig::new("127.0.0.60", "23000-23999")
    }
    .render()
    .replace("@DEV@", &lab.dev.display().to_string())
    .replace("@DIR@", &lab.path("").display().to_string())
}

const TRUNK_A: &str = "[[sip.trunk]]\nname = \"a\"\nhost = \"127.0.0.61:5070\"\noptions_interval_s = 0\n";
const TRUNK_B: &str = "[[sip.trunk]]\nname = \"b\"\nhost = \"127.0.0.62:5070\"\noptions_interval_s = 0\n";

struct Rig {
    lab: Lab,
    switch: Q931Peer,
    tandem: Tandem,
}

fn rig() -> Rig {
    let lab = Lab::start(&pri_sim("t1"));
    let cfg = config(&lab, "a", false, 1);
    let (switch, tandem) = start_pri(&lab, &cfg, "ni2", &[]);
    Rig { lab, switch, tandem }
}

impl Rig {
    /// Rewrites the daemon's config file.
    fn write_config(&self, text: &str) {
        std::fs::write(&self.tandem.config, text).expect("rewrite tandem.toml");
    }

    /// `tandem reload --socket <lab's socket> [args]`.
    fn reload(&self, args: &[&str]) -> Output {
        Command::new(workspace_bin("tandem")).arg("reload").arg("--socket").arg(self.lab.path("tandem.sock")).args(args).output().expect("run tandem reload")
    }

    /// `tandem reload --json`, which must succeed; its reply.
    fn reload_ok(&self) -> Value {
        let out = self.reload(&["--json"]);
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        assert!(out.status.success(), "tandem reload failed: {text}{}", String::from_utf8_lossy(&out.stderr));
        serde_json::from_str(text.trim()).unwrap_or_else(|e| panic!("reply {text:?}: {e}"))
    }

    /// A call from the carrier, connected; its q931-peer call id.
    fn call(&mut self, called: &str) -> i64 {
        self.switch.send_line(&format!("call {called} 9175550000"));
        let conn = self.switch.wait_for("connected", T);
        conn["call"].as_i64().unwrap_or_else(|| panic!("no call id in {conn}"))
    }

    /// Clears a call from the carrier with cause 16 and waits for its release.
    fn hang_up(&mut self, call: i64) {
        self.switch.send_line(&format!("hangup 16 {call}"));
        let rel = self.switch.wait_for("released", T);
        assert_eq!(rel["cause"], 16, "{rel}");
    }
}

/// A PBX answering one call and waiting for the gateway's BYE.
fn pbx(lab: &Lab, name: &str, ip: &str, rtp: u16) -> Sipp {
    Sipp::start(lab, name, SippOpts { scenario: "uas_answer.xml", ip, rtp_echo_port: Some(rtp), pause_ms: 100, ..SippOpts::default() })
}

fn strings(v: &Value) -> Vec<&str> {
    v.as_array().into_iter().flatten().filter_map(|s| s.as_str()).collect()
}

#[test]
fn a_reloaded_route_sends_the_next_call_to_the_new_trunk_while_the_call_before_stays_up() {
    let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let mut r = rig();
    let mut pbx_a = pbx(&r.lab, "pbx-a", "127.0.0.61", 7610);
    let first = r.call("2125550001");
    assert_eq!(pbx_a.received("INVITE ").len(), 1, "the first call reached PBX A");

    r.write_config(&config(&r.lab, "b", true, 1));
    let reply = r.reload_ok();
    assert_eq!(strings(&reply["applied"]), ["route", "sip.trunk"], "{reply}");
    assert!(strings(&reply["restart_needed"]).is_empty(), "{reply}");
    r.tandem.expect_log("configuration reloaded", T);

    let mut pbx_b = pbx(&r.lab, "pbx-b", "127.0.0.62", 7620);
    let second = r.call("2125550002");
    assert_eq!(pbx_b.received("INVITE ").len(), 1, "the call after the reload reached PBX B");
    assert_eq!(pbx_a.received("INVITE ").len(), 1, "and not PBX A");
    assert!(pbx_a.received("BYE ").is_empty(), "the first call is still up");

    // The first call clears normally, then the second.
    r.hang_up(first);
    pbx_a.expect_success(T);
    r.hang_up(second);
    pbx_b.expect_success(T);
    let c = cdrs(&r.lab, 2, T);
    assert_eq!(c.len(), 2, "{c:?}");
    let by_trunk = |t: &str| c.iter().find(|x| x["outbound"]["interface"] == t).unwrap_or_else(|| panic!("no CDR on trunk {t}: {c:?}"));
    assert_eq!(by_trunk("a")["called"], "2125550001");
    assert!(by_trunk("a")["answer"].is_string() && by_trunk("a")["inbound"]["cause"] == 16, "{c:?}");
    assert_eq!(by_trunk("b")["called"], "2125550002");
}

#[test]
fn a_broken_config_is_refused_with_its_line_and_calls_route_as_before() {
    let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let mut r = rig();
    let good = config(&r.lab, "a", false, 1);
    let broken = good.replace("target = [{ trunk = \"a\" }]", "target = [{ trunk = \"nowhere\" }]");
    let line = broken.lines().position(|l| l.contains("nowhere")).expect("the broken line") + 1;
    r.write_config(&broken);
    let out = r.reload(&[]);
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(!out.status.success(), "a broken config must fail: {err}");
    let at = format!("{}:{line}:", r.tandem.config.display());
    assert!(err.contains(&at) && err.contains("nowhere"), "the error names {at}: {err}");
    r.tandem.expect_log("configuration not reloaded", T);

    // Calls still route as before the broken file.
    let mut pbx_a = pbx(&r.lab, "pbx-a", "127.0.0.61", 7610);
    let call = r.call("2125550003");
    r.hang_up(call);
    pbx_a.expect_success(T);
    assert_eq!(cdrs(&r.lab, 1, T)[0]["outbound"]["interface"], "a");

    // A changed [dahdi] section is listed, not applied; the span stays up.
    r.write_config(&config(&r.lab, "a", false, 0));
    let reply = r.reload_ok();
    assert_eq!(strings(&reply["restart_needed"]), ["dahdi"], "{reply}");
    assert!(strings(&reply["applied"]).is_empty(), "{reply}");
    r.tandem.expect_log("needs a restart", T);
    // Reported again on the next reload, until a restart.
    assert_eq!(strings(&r.reload_ok()["restart_needed"]), ["dahdi"]);
    let out = r.reload(&[]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success() && text.contains("needs a restart (not applied): dahdi"), "{text}");
}

#[test]
fn sighup_after_renaming_the_cdr_file_writes_the_next_cdr_to_a_new_file() {
    let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let mut r = rig();
    let mut pbx_a = pbx(&r.lab, "pbx-a", "127.0.0.61", 7610);
    let call = r.call("2125550004");
    r.hang_up(call);
    pbx_a.expect_success(T);
    assert_eq!(cdrs(&r.lab, 1, T).len(), 1);

    // logrotate: rename, then HUP.
    let cdr = r.lab.path("cdr.jsonl");
    let rotated = r.lab.path("cdr.jsonl.1");
    std::fs::rename(&cdr, &rotated).expect("rename the CDR file");
    let before = r.tandem.log.count("configuration reloaded");
    r.tandem.signal(libc::SIGHUP);
    assert!(wait_until(T, || r.tandem.log.count("configuration reloaded") > before), "no reload after SIGHUP:\n{}", r.tandem.log.all().join("\n"));
    assert!(wait_until(T, || cdr.exists()), "the CDR file is opened again at its configured path");

    let mut pbx_a = pbx(&r.lab, "pbx-a2", "127.0.0.61", 7610);
    let call = r.call("2125550005");
    r.hang_up(call);
    pbx_a.expect_success(T);
    let new = cdrs(&r.lab, 1, T);
    assert_eq!(new.len(), 1, "{new:?}");
    assert_eq!(new[0]["called"], "2125550005");
    let old = lines(&rotated);
    assert_eq!(old.len(), 1, "the rotated file keeps only the record before the HUP: {old:?}");
    assert!(old[0].contains("2125550004"), "{old:?}");
    assert!(r.tandem.running());
}

fn lines(p: &Path) -> Vec<String> {
    std::fs::read_to_string(p).unwrap_or_default().lines().filter(|l| !l.trim().is_empty()).map(str::to_owned).collect()
}

/// `systemd-analyze verify` on `packaging/tandem.service`, with the unit's
/// `/usr/local/bin/tandem` pointed at the built binary (verify insists that
/// the commands exist). Needs systemd (scripts/setup.sh installs it).
#[test]
fn the_systemd_unit_verifies_and_logrotate_signals_a_reload() {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("repo root");
    let unit = std::fs::read_to_string(repo.join("packaging/tandem.service")).expect("packaging/tandem.service");
    assert!(unit.contains("ExecReload=/bin/kill -HUP $MAINPID"), "{unit}");
    assert!(unit.contains("ExecStart=/usr/local/bin/tandem run --config /etc/tandem/tandem.toml"), "{unit}");
    let stop: u64 = unit.lines().find_map(|l| l.strip_prefix("TimeoutStopSec=")).and_then(|v| v.trim().parse().ok()).expect("TimeoutStopSec");
    assert!(stop > 30, "TimeoutStopSec {stop} must be above the default drain timeout (30 s)");
    let dir = tempfile::Builder::new().prefix("tandem-unit-").tempdir().expect("tempdir");
    let copy = dir.path().join("tandem.service");
    std::fs::write(&copy, unit.replace("/usr/local/bin/tandem", &workspace_bin("tandem").display().to_string())).expect("write unit");
    let out = Command::new("systemd-analyze").arg("verify").arg(&copy).output().expect("systemd-analyze (package systemd; scripts/setup.sh installs it)");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success() && err.trim().is_empty(), "systemd-analyze verify: {err}");
    let rotate = std::fs::read_to_string(repo.join("packaging/tandem.logrotate")).expect("packaging/tandem.logrotate");
    assert!(rotate.contains("systemctl reload tandem") && !rotate.lines().any(|l| l.trim() == "copytruncate"), "{rotate}");
}
