//! Reading DAHDI's system.conf into Tandem's model and converting it to
//! Tandem TOML: round trips on the samples in examples/dahdi/ (a TDM410P,
//! and a TE420P with T1 PRI, E1 PRI, T1 CAS E&M and E1 CAS), and errors at
//! `file:line:column`.

use std::path::{Path, PathBuf};

use dahdi_sys as d;
use tandem_drivers::config::{self, DahdiConfig, Hardware, HwSpan, Port, Role, SystemConf};
use tandem_drivers::{Ctl, Law, Signalling, Start};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_path_buf()
}

fn example(name: &str) -> String {
    std::fs::read_to_string(root().join("examples/dahdi").join(name)).unwrap_or_else(|e| panic!("examples/dahdi/{name}: {e}"))
}

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

/// system.conf → model → TOML → model: the two models are equal, and so
/// are the plans they give.
fn round_trip(name: &str) -> (DahdiConfig, config::Plan, String) {
    let hw = sample_hw();
    let text = example(name);
    let sc = SystemConf::parse(&text, name, &hw).unwrap_or_else(|e| panic!("{e}"));
    let plan = config::validate(&sc.config, &hw).unwrap_or_else(|e| panic!("{e}"));
    let toml = config::system_conf_to_toml(&text, name, &hw).unwrap_or_else(|e| panic!("{e}"));
    let back = DahdiConfig::from_toml(&toml, "converted.toml").unwrap_or_else(|e| panic!("{e}\n--- converted ---\n{toml}"));
    assert_eq!(back, sc.config, "{name}: the model read back from the TOML differs\n--- converted ---\n{toml}");
    let plan2 = config::validate(&back, &hw).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(plan2, plan, "{name}: the plans differ");
    (back, plan, toml)
}

fn chan(plan: &config::Plan, chan: u32) -> &config::ChannelPlan {
    plan.channels().map(|(_, c)| c).find(|c| c.config.chan == chan).unwrap_or_else(|| panic!("channel {chan} not in the plan"))
}

#[test]
fn analog_tdm410p_round_trips() {
    let (cfg, plan, toml) = round_trip("analog-system.conf");
    assert_eq!(cfg.spans.len(), 1);
    assert_eq!(cfg.spans[0].groups.len(), 2, "fxoks=1 and fxoks=2 merge into one group:\n{toml}");
    assert!(toml.contains("channels = \"1-2\"\nrole = \"fxs\"\nstart = \"kewl\"\necho_canceller = \"mg2\""), "{toml}");
    assert!(toml.contains("channels = \"3-4\"\nrole = \"fxo\""), "{toml}");
    assert!(toml.contains("tone_zone = \"us\""), "{toml}");
    assert_eq!(chan(&plan, 1).config.signalling, Signalling::Fxs(Start::Kewl));
    assert_eq!(chan(&plan, 1).config.signalling.to_dahdi(), d::DAHDI_SIG_FXOKS, "fxoks stays fxoks on the wire");
    assert_eq!(chan(&plan, 4).config.signalling.to_dahdi(), d::DAHDI_SIG_FXSKS);
    assert_eq!(chan(&plan, 4).echo_canceller, "mg2");
    assert!(plan.spans[0].line.is_none());
}

#[test]
fn t1_pri_round_trips() {
    let (cfg, plan, toml) = round_trip("t1-pri-system.conf");
    assert_eq!(*cfg.spans[0].span.get_ref(), 2);
    assert!(toml.contains("type = \"t1\"\nframing = \"esf\"\ncoding = \"b8zs\"\ntiming = 1\nlbo = 0"), "{toml}");
    assert!(toml.contains("channels = \"1-23\"\nrole = \"bchan\"\necho_canceller = \"mg2\""), "{toml}");
    assert!(toml.contains("channels = \"24\"\nrole = \"dchan\""), "hardhdlc is Tandem's dchan:\n{toml}");
    let lc = plan.spans[0].line.unwrap();
    assert_eq!(lc.lineconfig, d::DAHDI_CONFIG_ESF | d::DAHDI_CONFIG_B8ZS);
    assert_eq!(chan(&plan, 28).config.signalling.to_dahdi(), d::DAHDI_SIG_HARDHDLC);
}

#[test]
fn e1_pri_round_trips() {
    let (cfg, plan, toml) = round_trip("e1-pri-system.conf");
    assert_eq!(cfg.tone_zone.as_ref().unwrap().get_ref(), "uk");
    assert_eq!(plan.tone_zone.as_ref().unwrap().number, 4);
    assert!(toml.contains("crc4 = true"), "{toml}");
    assert!(toml.contains("channels = \"1-15,17-31\"\nrole = \"bchan\"\necho_canceller = \"oslec\""), "{toml}");
    assert!(toml.contains("channels = \"16\"\nrole = \"hdlc_fcs\""), "system.conf's dchan is software HDLC:\n{toml}");
    assert_eq!(plan.spans[0].line.unwrap().lineconfig, d::DAHDI_CONFIG_CCS | d::DAHDI_CONFIG_HDB3 | d::DAHDI_CONFIG_CRC4);
    assert_eq!(chan(&plan, 44).config.signalling.to_dahdi(), d::DAHDI_SIG_HDLCFCS);
}

#[test]
fn t1_cas_em_round_trips() {
    let (_, plan, toml) = round_trip("t1-cas-system.conf");
    assert!(toml.contains("timing = 0"), "{toml}");
    assert!(toml.contains("channels = \"1-24\"\nrole = \"em\""), "{toml}");
    assert_eq!(plan.spans[0].channels.len(), 24);
    assert!(plan.spans[0].channels.iter().all(|c| c.config.signalling.to_dahdi() == d::DAHDI_SIG_EM));
}

#[test]
fn e1_cas_round_trips() {
    let (_, plan, toml) = round_trip("e1-cas-system.conf");
    assert!(toml.contains("framing = \"cas\"\ncoding = \"hdb3\"\ncrc4 = false\ntiming = 2"), "{toml}");
    assert!(toml.contains("channels = \"1-15,17-31\"\nrole = \"cas\"\nlaw = \"alaw\"\necho_canceller = \"mg2\"\nidle_bits = \"1101\""), "{toml}");
    let c = chan(&plan, 84);
    assert_eq!((c.config.signalling, c.config.idle_bits, c.config.law), (Signalling::Cas, 0b1101, Some(Law::Alaw)));
    assert_eq!(plan.spans[0].line.unwrap().lineconfig, d::DAHDI_CONFIG_HDB3);
}

#[test]
fn the_full_sample_equals_the_hand_written_toml() {
    let (cfg, plan, _) = round_trip("full-system.conf");
    let hand = DahdiConfig::from_toml(&example("full.toml"), "full.toml").unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(hand, cfg, "examples/dahdi/full.toml says what full-system.conf says");
    assert_eq!(config::validate(&hand, &sample_hw()).unwrap(), plan);
    let roles: Vec<Role> = cfg.spans.iter().flat_map(|s| s.groups.iter().map(|g| *g.role.get_ref())).collect();
    assert_eq!(roles, [Role::Fxs, Role::Fxo, Role::Bchan, Role::Dchan, Role::Bchan, Role::HdlcFcs, Role::Em, Role::Cas]);
}

#[test]
fn the_equivalence_pair_says_the_same() {
    let hw = Hardware::new(vec![
        HwSpan::t1(1, 1),
        HwSpan::t1(2, 25),
        HwSpan::t1(3, 49),
        HwSpan::t1(4, 73),
        HwSpan::analog(5, 97, &[Port::Fxs, Port::Fxs, Port::Fxs, Port::Fxs, Port::Fxo, Port::Fxo, Port::Fxo, Port::Fxo]),
    ]);
    let sc = SystemConf::parse(&example("equivalence-system.conf"), "equivalence-system.conf", &hw).unwrap_or_else(|e| panic!("{e}"));
    let from_conf = config::validate(&sc.config, &hw).unwrap_or_else(|e| panic!("{e}"));
    let toml = DahdiConfig::from_toml(&example("equivalence.toml"), "equivalence.toml").unwrap_or_else(|e| panic!("{e}"));
    let from_toml = config::validate(&toml, &hw).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(from_toml, from_conf);
}

/// Errors, each as "path:line:col: message".
fn conf_errors(text: &str) -> Vec<String> {
    let hw = sample_hw();
    match config::system_conf_to_toml(text, "system.conf", &hw) {
        Ok(t) => panic!("expected errors, got:\n{t}"),
        Err(e) => e.iter().map(|d| d.to_string()).collect(),
    }
}

fn assert_has(errs: &[String], wanted: &[&str]) {
    for w in wanted {
        assert!(errs.iter().any(|e| e.contains(w)), "no error contains {w:?}; errors:\n{}", errs.join("\n"));
    }
}

#[test]
fn system_conf_errors_name_the_line() {
    let e = conf_errors(
        "# test\n\
         span=2,1,0,esf,b8zs\n\
         bchan=5-27\n\
         hardhdlc=27\n\
         fxoks=1-2,200\n\
         frobnicate=1\n\
         nethdlc=29\n\
         cas=84-98\n\
         span=3,1,0,xyz,hdb3\n\
         clear=60-61\n\
         span=1,0,0,esf,b8zs\n\
         bchan=29-30\n\
         bchan=5-3\n\
         defaultzone=qq\n\
         just some text\n\
         e&me1=61\n",
    );
    assert_has(
        &e,
        &[
            "system.conf:4:10: channel 27 is already configured as `bchan` at line 3",
            "system.conf:5:11: channel 200 does not exist: this system has 114 channels",
            "system.conf:6:1: unknown keyword `frobnicate`",
            "system.conf:7:1: `nethdlc`: HDLC network interfaces are not supported by Tandem",
            "system.conf:8:5: cas needs the idle ABCD bits after the channels",
            "system.conf:9:12: framing \"xyz\" is not d4, esf, cas or ccs",
            "system.conf:10:7: `clear` with several channels on one line bundles them",
            "help: for separate 64 kbit/s channels write bchan= instead",
            "system.conf:11:6: span 1 (ANALOG/1) is an analog card, which takes no span= line",
            "system.conf:12:7: channels of span 3 (SPAN/3, E1) are configured, but there is no span=3 line",
            "system.conf:13:7: range \"5-3\" runs backwards",
            "system.conf:14:13: unknown tone zone \"qq\"",
            "system.conf:15:1: syntax error: expected keyword=value",
        ],
    );
}

#[test]
fn validation_of_a_system_conf_points_at_its_lines() {
    // e&m on an E1, a D-channel on an E1 CAS span, fxs signalling on an FXO port.
    let e = conf_errors("span=3,1,0,ccs,hdb3\ne&m=29-30\nspan=5,1,0,cas,hdb3\nhardhdlc=99\nfxoks=3\n");
    assert_has(
        &e,
        &[
            "system.conf:2:1: role \"em\" is E&M on T1; span 3 is E1",
            "system.conf:4:1: a D-channel on E1 span 5, whose framing is \"cas\"",
            "system.conf:5:1: port 3 of span 1 (ANALOG/1) is an FXO port (a CO line plugs in)",
        ],
    );
}

#[test]
fn ignored_settings_become_notes() {
    let text = "span=2,1,0,d4,ami,yellow\nbchan=5-27\nunused=28\nalaw=28-29\nechocanceller=mg2,5-28\nloadzone=us\nloadzone=de\ndefaultzone=de\n";
    let sc = SystemConf::parse(text, "s.conf", &sample_hw()).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(sc.notes.len(), 3, "{:?}", sc.notes);
    assert!(sc.notes[0].contains("alaw=/mulaw= for channels 28-29 ignored"), "{:?}", sc.notes);
    assert!(sc.notes[1].contains("echocanceller= for channels 28 ignored"), "{:?}", sc.notes);
    assert!(sc.notes[2].contains("loadzone=us"), "{:?}", sc.notes);
    let toml = config::system_conf_to_toml(text, "s.conf", &sample_hw()).unwrap();
    assert!(toml.contains("# Note: loadzone=us"), "{toml}");
    assert!(toml.contains("framing = \"d4\"\ncoding = \"ami\"\nyellow = true"), "{toml}");
    assert!(toml.contains("tone_zone = \"de\""), "{toml}");
    let back = DahdiConfig::from_toml(&toml, "t").unwrap();
    assert_eq!(back, sc.config);
    let plan = config::validate(&back, &sample_hw()).unwrap();
    assert_eq!(plan.spans[0].line.unwrap().lineconfig, d::DAHDI_CONFIG_D4 | d::DAHDI_CONFIG_AMI | d::DAHDI_CONFIG_NOTOPEN);
    assert_eq!(chan(&plan, 28).config.signalling, Signalling::None);

    // No zone lines at all: dahdi_cfg loads "us" and makes it the default.
    let sc = SystemConf::parse("fxoks=1\n", "s.conf", &sample_hw()).unwrap();
    assert_eq!(sc.config.tone_zone.as_ref().unwrap().get_ref(), "us");
}

/// The hardware description built by hand for the samples is what
/// discovery finds on the simulator (needs root and FUSE).
#[test]
fn discovered_hardware_matches_the_sample_description() {
    assert_eq!(unsafe { libc::geteuid() }, 0, "this test mounts the simulator over FUSE and must run as root");
    let dir = tempfile::tempdir().unwrap();
    let mount = dir.path().join("dahdi");
    let sim = hw_sim::runner::Sim::start(&example("sample.sim.toml"), "sample.sim.toml", &mount, &dir.path().join("ctl.sock")).unwrap();
    let ctl = Ctl::open(&mount).unwrap();
    let mut found = Hardware::discover(&ctl).unwrap();
    let names: Vec<&str> = found.spans.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, ["WCTDM/0", "TE4/0/1", "TE4/0/2", "TE4/0/3", "TE4/0/4"]);
    for s in &mut found.spans {
        s.name = String::new();
        s.description = String::new();
    }
    let mut want = sample_hw();
    for s in &mut want.spans {
        s.name = String::new();
        s.description = String::new();
    }
    assert_eq!(found, want);
    let inv = tandem_drivers::discover::Discovery::new(&mount).scan().unwrap();
    let mut from_inv = Hardware::from_inventory(&inv);
    for s in &mut from_inv.spans {
        s.name = String::new();
        s.description = String::new();
    }
    assert_eq!(from_inv, want, "the inventory of `tandem spans` gives the same hardware");
    drop(ctl);
    sim.stop().unwrap();
}
