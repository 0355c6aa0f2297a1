//! `tandem.toml`: the example loads, and a bad file gets every problem at
//! once as file:line:column with help.

use std::process::Command;

use tandem_gateway::call::causes::{cause_to_status, status_to_cause};
use tandem_gateway::call::{Cause, Codec, Target};
use tandem_gateway::config::{Config, DtmfMode, Transport, TrunkKind};
use tandem_gateway::route::{Lookup, Origin, Router};

fn repo(p: &str) -> String {
    format!("{}/../{p}", env!("CARGO_MANIFEST_DIR"))
}

#[test]
fn the_example_config_loads_and_routes() {
    let path = repo("examples/gateway/pri-to-sip.toml");
    let cfg = Config::load(std::path::Path::new(&path)).unwrap_or_else(|e| panic!("{}", e.iter().map(|d| d.to_string()).collect::<Vec<_>>().join("\n")));
    assert_eq!(cfg.general.max_calls(), Some(23));
    assert_eq!(cfg.general.drain_timeout().as_secs(), 30);
    assert!(cfg.general.cdr_fsync());
    assert!(cfg.dahdi.is_some());
    let sip = cfg.sip.as_ref().unwrap();
    assert_eq!(sip.listen().len(), 2);
    assert_eq!(sip.listen()[1].transport, Transport::Tcp);
    assert_eq!(sip.rtp_ports(), (10000, 20000));
    let pbx = sip.trunk("pbx").unwrap();
    assert_eq!(pbx.kind, TrunkKind::Peer);
    assert_eq!(pbx.dtmf, DtmfMode::Rfc4733);
    assert_eq!(pbx.codecs(), vec![Codec::Pcmu, Codec::Pcma]);
    assert!(pbx.accept_from()[0].contains("192.0.2.20".parse().unwrap()));
    let o = pbx.cause_overrides();
    assert_eq!(cause_to_status(Cause::NO_CIRCUIT, Some(&o)), 503);
    let backup = sip.trunk("pbx-backup").unwrap().cause_overrides();
    assert_eq!(status_to_cause(480, Some(&backup)), Cause::NO_ANSWER);

    let r = Router::from_config(&cfg);
    let pstn = Origin::Tdm { interface: "pstn".into() };
    let Lookup::Route(i) = r.lookup(&pstn, "2125551234", true) else { panic!() };
    let route = r.route(i);
    assert_eq!(route.name, "did-to-pbx");
    assert_eq!(route.translate_called.apply("2125551234"), "1234");
    assert_eq!(route.translate_called.apply("+12125551234"), "1234");
    assert_eq!(route.targets[0].resolve("1234", ""), Target::Sip { trunk: "pbx".into(), uri: Some("sip:1234@pbx.example.com".into()) });
    assert!(route.fails_over_on(Cause::NO_USER_RESPONSE));
    let Lookup::Route(i) = r.lookup(&Origin::Sip { trunk: "pbx".into() }, "+12125550100", true) else { panic!() };
    assert_eq!(r.route(i).targets[0].target, Target::Tdm { group: "pstn-out".into() });
    assert_eq!(r.lookup(&Origin::Sip { trunk: "elsewhere".into() }, "2125550100", true), Lookup::NoMatch);
}

#[test]
fn a_dahdi_only_file_is_a_valid_config() {
    let cfg = Config::from_toml("[dahdi]\n[[dahdi.span]]\nspan = 1\ntype = \"t1\"\ntiming = 1\n", "t.toml").unwrap();
    assert!(cfg.sip.is_none() && cfg.route.is_empty());
    assert_eq!(cfg.device_dir(), std::path::PathBuf::from("/dev/dahdi"));
}

const BAD: &str = r#"[general]
max_calls = 0
no_route_cause = 16

[sip]
listen = ["udp:0.0.0.0:5060", "sctp:0.0.0.0:5060"]
rtp_ports = "20000-10000"

[[sip.trunk]]
name = "pbx"
host = "pbx example"
accept_from = ["10.0.0.0/40"]

[[sip.trunk]]
name = "pbx"
kind = "register"
host = "sip.example.net"

[[route]]
name = "in"
from = "pri9"
called = ["5551999-5551000", "NXX[2"]
failover_causes = [200]
target = [{ trunk = "nowhere" }, { group = "pstn" }]

[[route]]
name = "in2"
from = "pri9"
called = ["X."]
target = [{ trunk = "pbx" }]
"#;

#[test]
fn a_bad_config_reports_every_problem_with_place_and_help() {
    let errs = Config::from_toml(BAD, "bad.toml").unwrap_err();
    let text: Vec<String> = errs.iter().map(|d| d.to_string()).collect();
    let all = text.join("\n");
    let expect = [
        "bad.toml:2:13: max_calls = 0",
        "bad.toml:3:18: no_route_cause = 16",
        "bad.toml:6:31: \"sctp:0.0.0.0:5060\" is not a listener",
        "bad.toml:7:13: \"20000-10000\" is not a port range",
        "bad.toml:11:8: \"pbx example\" is not a host[:port]",
        "bad.toml:12:16: \"10.0.0.0/40\" is not an IP address or network",
        "bad.toml:15:8: a second trunk named \"pbx\"",
        "bad.toml:15:8: trunk \"pbx\" registers but has no username or password",
        "bad.toml:28:8: no [[pri]] or [[group]] is named \"pri9\"",
        "bad.toml:22:11: \"5551999-5551000\"",
        "bad.toml:22:30: \"NXX[2\"",
        "bad.toml:23:20: 200 is not a Q.850 cause",
        "bad.toml:24:10: a route mixing trunk and group targets",
        "bad.toml:24:21: no [[sip.trunk]] is named \"nowhere\"",
        "bad.toml:24:44: no [[group]] is named \"pstn\"",
    ];
    for e in expect {
        assert!(all.contains(e), "missing {e:?} in:\n{all}");
    }
    assert!(errs.iter().all(|d| d.help.is_some()), "every error says how to fix it:\n{all}");
    assert!(errs.windows(2).all(|w| (w[0].line, w[0].column) <= (w[1].line, w[1].column)), "sorted by place");
}

#[test]
fn a_syntax_error_is_reported_at_its_place() {
    let errs = Config::from_toml("[general]\nlog_format = \"xml\"\n", "s.toml").unwrap_err();
    assert_eq!(errs.len(), 1);
    assert!(errs[0].to_string().starts_with("s.toml:2:14: unknown variant `xml`"), "{}", errs[0]);
}

#[test]
fn routes_may_not_join_sip_to_sip_or_tdm_to_tdm() {
    let text = r#"
[[pri]]
name = "pstn"
spans = [1]
switch = "ni2"
side = "user"

[[group]]
name = "out"
members = ["pstn"]

[sip]
[[sip.trunk]]
name = "pbx"
host = "192.0.2.1"

[[route]]
name = "sip-loop"
from = "pbx"
called = ["X."]
target = [{ trunk = "pbx" }]

[[route]]
name = "tdm-loop"
from = "pstn"
called = ["X."]
target = [{ group = "out" }]
"#;
    let errs = Config::from_toml(text, "loop.toml").unwrap_err();
    let all: Vec<String> = errs.iter().map(|d| d.to_string()).collect();
    assert_eq!(errs.len(), 2, "{all:#?}");
    assert!(all[0].starts_with("loop.toml:19:8: no [[pri]] or [[group]] is named \"pbx\""), "{all:#?}");
    assert!(all[1].starts_with("loop.toml:25:8: no [[sip.trunk]] is named \"pstn\""), "{all:#?}");
}

#[test]
fn tandem_check_prints_all_errors_and_fails() {
    let tmp = tempfile::tempdir().unwrap();
    let p = tmp.path().join("bad.toml");
    std::fs::write(&p, BAD).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_tandem")).args(["check", "--config", p.to_str().unwrap()]).output().unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains(":24:21: no [[sip.trunk]] is named \"nowhere\""), "{err}");
    assert!(err.contains(":2:13: max_calls = 0"), "{err}");
    assert!(err.matches("help:").count() >= 10, "{err}");

    let out = Command::new(env!("CARGO_BIN_EXE_tandem")).args(["check", "--config", &repo("examples/gateway/pri-to-sip.toml")]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
}
