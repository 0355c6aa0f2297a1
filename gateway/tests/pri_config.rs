//! The PRI example fragments validate cleanly and resolve against the
//! simulated hardware they are written for.

use std::path::{Path, PathBuf};

use hw_sim::runner::Sim;
use isdn_q931::q931::InterfaceKind;
use serde::Deserialize;
use tandem_drivers::config::diag::{Source, SourceRef};
use tandem_gateway::config::pri::{self, GroupConfig, PriConfig};
use tandem_gateway::tdm::pri_io;

#[derive(Deserialize)]
struct Root {
    #[serde(default)]
    pri: Vec<PriConfig>,
    #[serde(default)]
    group: Vec<GroupConfig>,
}

fn example(rel: &str) -> (String, Root) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples").join(rel);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let root: Root = toml::from_str(&text).unwrap_or_else(|e| panic!("{rel}: {e}"));
    (text, root)
}

fn problems(rel: &str) -> Vec<String> {
    let (text, root) = example(rel);
    let mut out = Vec::new();
    pri::validate(&root.pri, &root.group, &SourceRef::new(Source::new(rel, text)), &mut out);
    out.iter().map(|d| d.to_string()).collect()
}

#[test]
fn the_pri_example_fragments_validate_cleanly() {
    for rel in ["gateway/pri-t1-user.toml", "gateway/pri-e1-network.toml"] {
        assert_eq!(problems(rel), Vec::<String>::new(), "{rel}");
    }
}

fn sim(rel: &str) -> (tempfile::TempDir, Sim, PathBuf) {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("dahdi");
    let text = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples").join(rel)).unwrap();
    let sim = Sim::start(&text, rel, &dir, &tmp.path().join("c.sock")).unwrap();
    (tmp, sim, dir)
}

#[test]
fn the_t1_user_example_resolves_its_d_channel_on_the_simulated_te120p() {
    let (_tmp, _sim, dir) = sim("sim/pri-t1.toml");
    let (_, root) = example("gateway/pri-t1-user.toml");
    let s = pri_io::resolve(&root.pri[0], &dir).expect("resolve");
    assert_eq!(s.spans[0].kind, InterfaceKind::T1);
    assert_eq!(s.dchannel_channo(), Some(24));
    assert_eq!(s.bchannels.as_deref(), Some(&(1..=23).collect::<Vec<u32>>()[..]));
    assert_eq!(s.q931.timers.t309, std::time::Duration::from_secs(90));
    assert!(s.trace && s.pcap);
}

#[test]
fn the_e1_network_example_resolves_both_spans_of_the_simulated_te220p() {
    let (_tmp, _sim, dir) = sim("sim/pri-two-e1.toml");
    let (_, root) = example("gateway/pri-e1-network.toml");
    let a = pri_io::resolve(&root.pri[0], &dir).expect("resolve pbx-a");
    let b = pri_io::resolve(&root.pri[1], &dir).expect("resolve pbx-b");
    assert_eq!((a.spans[0].kind, a.dchannel_channo()), (InterfaceKind::E1, Some(16)));
    assert_eq!((b.spans[0].kind, b.dchannel_channo()), (InterfaceKind::E1, Some(31 + 16)));
    assert!(a.overlap && !b.overlap);
}

#[test]
fn a_span_that_does_not_exist_is_refused_by_resolve() {
    let (_tmp, _sim, dir) = sim("sim/pri-t1.toml");
    let cfg: PriConfig = toml::from_str("name = 'x'\nspans = [7]\nswitch = 'ni2'\nside = 'user'\n").unwrap();
    let e = pri_io::resolve(&cfg, &dir).unwrap_err();
    assert!(e.to_string().contains("span 7 does not exist"), "{e}");
}
