//! Applying a configuration to the simulator through `Ctl`: what DAHDI
//! then reports, what the simulator recorded (echo cancellers, idle bits,
//! timing priorities), nothing applied when validation fails, and
//! re-applying leaves configured channels alone. Needs root (FUSE).

use std::path::{Path, PathBuf};

use dahdi_sys as d;
use hw_sim::runner::Sim;
use tandem_drivers::Ctl;
use tandem_drivers::config::{self, ApplyOptions, ConfiguredState, DahdiConfig, Hardware};

fn example(name: &str) -> String {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().join("examples/dahdi").join(name);
    std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

struct Running {
    sim: Option<Sim>,
    mount: PathBuf,
    _dir: tempfile::TempDir,
}

impl Running {
    fn start(sim_toml: &str) -> Running {
        assert_eq!(unsafe { libc::geteuid() }, 0, "these tests mount the simulator over FUSE and must run as root");
        let dir = tempfile::tempdir().unwrap();
        let mount = dir.path().join("dahdi");
        let sim = Sim::start(sim_toml, "sim.toml", &mount, &dir.path().join("ctl.sock")).unwrap();
        Running { sim: Some(sim), mount, _dir: dir }
    }

    fn ctl(&self) -> Ctl {
        Ctl::open(&self.mount).unwrap()
    }

    fn sim(&self) -> &Sim {
        self.sim.as_ref().unwrap()
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Some(s) = self.sim.take() {
            let _ = s.stop();
        }
    }
}

#[test]
fn the_full_sample_applies() {
    let r = Running::start(&example("sample.sim.toml"));
    let ctl = r.ctl();
    let cfg = DahdiConfig::from_toml(&example("full.toml"), "full.toml").unwrap();
    let hw = Hardware::discover(&ctl).unwrap();
    let plan = config::validate(&cfg, &hw).unwrap_or_else(|e| panic!("{e}"));
    let report = config::apply(&plan, &ctl).unwrap();
    assert_eq!(report.spans_configured, [2, 3, 4, 5], "analog span 1 gets no SPANCONFIG");
    assert_eq!(report.spans_started, [2, 3, 4, 5]);
    assert_eq!(report.channels_configured.len(), 4 + 24 + 31 + 24 + 30);
    assert_eq!(report.default_zone, Some(0));

    let st = ConfiguredState::read(&ctl).unwrap();
    let span = |n: u32| st.spans.iter().find(|s| s.span == n).unwrap();
    assert_eq!((span(2).framing.as_str(), span(2).coding.as_str()), ("esf", "b8zs"));
    assert_eq!((span(3).framing.as_str(), span(3).coding.as_str(), span(3).crc4), ("ccs", "hdb3", true));
    assert_eq!((span(5).framing.as_str(), span(5).coding.as_str(), span(5).crc4), ("cas", "hdb3", false));
    assert_eq!(span(2).configured_channels, 24);
    assert_eq!(span(5).configured_channels, 30);
    let ch = |n: u32| st.channels.iter().find(|c| c.chan == n).unwrap();
    assert_eq!((ch(1).signalling.as_str(), ch(1).sigtype), ("fxs_ks", d::DAHDI_SIG_FXOKS));
    assert_eq!((ch(3).signalling.as_str(), ch(3).sigtype), ("fxo_ks", d::DAHDI_SIG_FXSKS));
    assert_eq!(ch(28).signalling, "dchan");
    assert_eq!(ch(44).signalling, "hdlc_fcs");
    assert_eq!(ch(60).signalling, "em");
    assert_eq!(ch(84).signalling, "cas");
    assert_eq!(ch(99).signalling, "none", "timeslot 16 of the E1 CAS span stays unconfigured");
    assert_eq!(ch(29).law, "alaw");

    let s = r.sim().state.lock();
    let dahdi = &s.dahdi;
    let chan = |n: u32| &dahdi.chans[n as usize - 1];
    assert_eq!(chan(1).echocan.attached.as_deref(), Some("mg2"));
    assert_eq!(chan(29).echocan.attached.as_deref(), Some("oslec"));
    assert_eq!(chan(28).echocan.attached, None, "the D-channel has none");
    assert_eq!(chan(84).idlebits, 0b1101);
    let prio: Vec<i32> = dahdi.spans.iter().map(|s| s.sync_prio).collect();
    assert_eq!(prio, [0, 1, 2, 0, 3]);
    assert!(dahdi.spans.iter().all(|s| s.running));
    assert_eq!(dahdi.default_zone, Some(0));
}

#[test]
fn nothing_is_applied_when_validation_fails() {
    let r = Running::start(&example("sample.sim.toml"));
    // Span 2 is fine; span 3 names a channel that does not exist.
    let text = format!(
        "[dahdi]\ndevice_dir = \"{}\"\n[[dahdi.span]]\nspan = 2\ntype = \"t1\"\ntiming = 1\n[[dahdi.span.group]]\nchannels = \"1-24\"\nrole = \"bchan\"\n\
         [[dahdi.span]]\nspan = 3\ntype = \"e1\"\ntiming = 2\n[[dahdi.span.group]]\nchannels = \"1-32\"\nrole = \"bchan\"\n",
        r.mount.display()
    );
    let cfg = DahdiConfig::from_toml(&text, "bad.toml").unwrap();
    let before = ConfiguredState::read(&r.ctl()).unwrap();
    let err = config::configure(&cfg).unwrap_err();
    let msg = err.to_string();
    assert!(matches!(err, config::ConfigureError::Invalid(_)), "{msg}");
    assert!(msg.starts_with("bad.toml:15:13: channel 32 of span 3 does not exist"), "{msg}");
    assert_eq!(ConfiguredState::read(&r.ctl()).unwrap(), before, "the hardware was not touched");
    let s = r.sim().state.lock();
    assert!(s.dahdi.spans.iter().all(|s| s.sync_prio == 0
        && s.lineconfig
            == if s.kind == hw_sim::model::span::SpanKind::E1 {
                d::DAHDI_CONFIG_HDB3 | d::DAHDI_CONFIG_CCS | d::DAHDI_CONFIG_CRC4
            } else if s.kind == hw_sim::model::span::SpanKind::Analog {
                0
            } else {
                d::DAHDI_CONFIG_ESF | d::DAHDI_CONFIG_B8ZS
            }));
}

#[test]
fn configure_then_reapply_leaves_configured_channels_alone() {
    let r = Running::start(&example("sample.sim.toml"));
    let text = format!("device_dir = \"{}\"\n", r.mount.display());
    let body = example("full.toml").replace("[dahdi]\n", &format!("[dahdi]\n{text}"));
    let cfg = DahdiConfig::from_toml(&body, "full.toml").unwrap();
    let (plan, first) = config::configure(&cfg).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(first.channels_unchanged, Vec::<u32>::new());

    let ctl = r.ctl();
    let again = config::apply(&plan, &ctl).unwrap();
    let cas: Vec<u32> = (84..=98).chain(100..=114).collect();
    assert_eq!(again.channels_configured, cas, "only CAS channels (idle bits unreadable) are reconfigured");
    assert_eq!(again.channels_unchanged.len(), 4 + 24 + 31 + 24);

    let forced = config::apply_with(&plan, &ctl, ApplyOptions { force: true }).unwrap();
    assert_eq!(forced.channels_configured.len(), 4 + 24 + 31 + 24 + 30);

    // Role "unused" unconfigures a channel.
    let body = body.replace("channels = \"24\"\nrole = \"dchan\"", "channels = \"24\"\nrole = \"unused\"");
    let cfg = DahdiConfig::from_toml(&body, "full.toml").unwrap();
    config::configure(&cfg).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(ctl.params(28).unwrap().sigtype_raw, 0);
}

#[test]
fn an_unloaded_tone_zone_is_explained() {
    let r = Running::start(&example("sample.sim.toml"));
    let ctl = r.ctl();
    let cfg = DahdiConfig::from_toml(
        "[dahdi]\ntone_zone = \"uk\"\n[[dahdi.span]]\nspan = 1\ntype = \"analog\"\n[[dahdi.span.group]]\nchannels = \"1-2\"\nrole = \"fxs\"\n",
        "z.toml",
    )
    .unwrap();
    let plan = config::validate(&cfg, &Hardware::discover(&ctl).unwrap()).unwrap();
    let e = config::apply(&plan, &ctl).unwrap_err().to_string();
    assert!(e.contains("DEFAULTZONE 4 (\"uk\") refused: DAHDI has not loaded that tone zone"), "{e}");
}
