//! The device files themselves: version, unknown requests, channel
//! identity through `ctl`, configuration with CHANCONFIG/SPANCONFIG/STARTUP,
//! and the open rules (ENXIO before configuration, EBUSY for a second open,
//! SPECIFY on `channel`), plus a clean SIGTERM shutdown.

mod common;

use std::os::fd::AsRawFd;

use common::*;

/// Span 1: analog (FXS, FXO); spans 2 and 3: T1 back to back.
const CONFIG: &str = r#"
[[card]]
model = "tdm410p"
ports = ["fxs", "fxo"]

[[card]]
model = "te220p"
[[card.span]]
type = "t1"
far_end = "cross"
peer = 3
[[card.span]]
type = "t1"
far_end = "cross"
peer = 2
"#;

const FXS_SIGCAP: u32 = d::DAHDI_SIG_FXOKS | d::DAHDI_SIG_FXOLS | d::DAHDI_SIG_FXOGS | d::DAHDI_SIG_SF | d::DAHDI_SIG_EM | d::DAHDI_SIG_CLEAR;
const FXO_SIGCAP: u32 = d::DAHDI_SIG_FXSKS | d::DAHDI_SIG_FXSLS | d::DAHDI_SIG_SF | d::DAHDI_SIG_CLEAR;

#[test]
fn getversion_answers_and_unknown_ioctl_is_enotty() {
    let sim = Sim::start(CONFIG);
    let ctl = sim.ctl();
    let mut v = d::dahdi_versioninfo::default();
    // SAFETY: valid fd and struct.
    unsafe { rq::getversion(ctl.as_raw_fd(), &mut v) }.expect("GETVERSION");
    let version = cstr_to_string(&v.version);
    assert!(!version.is_empty(), "GETVERSION gave an empty version");
    assert!(version.chars().next().unwrap().is_ascii_digit(), "version {version:?} should start with a digit");

    // A request number DAHDI does not define, on ctl and on an open channel.
    let bogus = nix::request_code_none!(0xDA, 0xEE) as libc::c_ulong;
    // SAFETY: a no-argument ioctl on a valid fd.
    let r = unsafe { libc::ioctl(ctl.as_raw_fd(), bogus as _) };
    assert_eq!(r, -1);
    assert_eq!(Errno::last(), Errno::ENOTTY);

    chanconfig(&ctl, 1, d::DAHDI_SIG_FXOKS);
    let ch = sim.open_chan(1, 1);
    // SAFETY: as above.
    let r = unsafe { libc::ioctl(ch.as_raw_fd(), bogus as _) };
    assert_eq!(r, -1);
    assert_eq!(Errno::last(), Errno::ENOTTY);
    // The channel still works afterwards.
    let mut no: i32 = 0;
    // SAFETY: valid fd; int out.
    unsafe { rq::channo(ch.as_raw_fd(), &mut no) }.expect("CHANNO");
    assert_eq!(no, 1);
}

#[test]
fn get_params_through_ctl_reports_each_channels_identity() {
    let sim = Sim::start(CONFIG);
    let ctl = sim.ctl();

    let p = get_params(&ctl, 1).expect("GET_PARAMS 1");
    assert_eq!((p.channo, p.spanno, p.chanpos), (1, 1, 1));
    assert_eq!(p.sigcap as u32, FXS_SIGCAP, "an FXS port signals as FXO (wctdm24xxp sigcap)");
    assert_eq!(p.sigtype, 0, "channels start unconfigured");
    assert_eq!(cstr_to_string(&p.name), "WCTDM/0/0", "wctdm24xxp numbers ports from 0");

    let p = get_params(&ctl, 2).expect("GET_PARAMS 2");
    assert_eq!((p.channo, p.spanno, p.chanpos), (2, 1, 2));
    assert_eq!(p.sigcap as u32, FXO_SIGCAP);
    assert_eq!(cstr_to_string(&p.name), "WCTDM/0/1");

    // First and last channel of each T1 span.
    for (chan, span, pos) in [(3, 2, 1), (26, 2, 24), (27, 3, 1), (50, 3, 24)] {
        let p = get_params(&ctl, chan).expect("GET_PARAMS T1");
        assert_eq!((p.channo, p.spanno, p.chanpos), (chan, span, pos));
        let sigcap = p.sigcap as u32;
        for s in [d::DAHDI_SIG_EM, d::DAHDI_SIG_CAS, d::DAHDI_SIG_CLEAR, d::DAHDI_SIG_HARDHDLC, d::DAHDI_SIG_FXSKS, d::DAHDI_SIG_FXOKS] {
            assert_eq!(sigcap & s, s, "T1 chan {chan} sigcap {sigcap:#x} lacks {s:#x}");
        }
        assert_eq!(cstr_to_string(&p.name), format!("TE2/0/{}/{}", span - 1, pos), "wct4xxp names spans TE<spans on the card>/<card>/<span>");
    }

    // CHANCONFIG shows in sigtype; a signalling the port cannot do is EINVAL.
    chanconfig(&ctl, 1, d::DAHDI_SIG_FXOKS);
    assert_eq!(get_params(&ctl, 1).unwrap().sigtype as u32, d::DAHDI_SIG_FXOKS);
    assert_eq!(chanconfig_full(&ctl, 1, d::DAHDI_SIG_FXSKS, 0), Err(Errno::EINVAL));
    assert_eq!(chanconfig_full(&ctl, 2, d::DAHDI_SIG_FXOKS, 0), Err(Errno::EINVAL));
    assert_eq!(get_params(&ctl, 1).unwrap().sigtype as u32, d::DAHDI_SIG_FXOKS, "a refused CHANCONFIG changes nothing");

    // A channel number that does not exist.
    assert_eq!(get_params(&ctl, 51).err(), Some(Errno::EINVAL));
    assert_eq!(chanconfig_full(&ctl, 51, d::DAHDI_SIG_EM, 0), Err(Errno::EINVAL));
}

#[test]
fn channels_open_only_once_configured_and_only_once() {
    let sim = Sim::start(CONFIG);
    let ctl = sim.ctl();

    // Before dahdi_cfg: ENXIO, both through chan/SSS/CCC and SPECIFY.
    let e = sim.try_open_chan(1, 1, false).expect_err("open of an unconfigured channel");
    assert_eq!(errno_of(&e), Errno::ENXIO);
    let chf = sim.open("channel");
    let one: i32 = 1;
    // SAFETY: valid fd; int in.
    assert_eq!(unsafe { rq::specify(chf.as_raw_fd(), &one) }, Err(Errno::ENXIO));
    // No such position in the span at all.
    let e = sim.try_open_chan(1, 3, false).expect_err("chan/001/003 does not exist");
    assert_eq!(errno_of(&e), Errno::ENOENT);

    chanconfig(&ctl, 1, d::DAHDI_SIG_FXOKS);
    chanconfig(&ctl, 2, d::DAHDI_SIG_FXSKS);

    let a = sim.open_chan(1, 1);
    let e = sim.try_open_chan(1, 1, false).expect_err("second open of the same channel");
    assert_eq!(errno_of(&e), Errno::EBUSY);
    // SAFETY: as above.
    assert_eq!(unsafe { rq::specify(chf.as_raw_fd(), &one) }, Err(Errno::EBUSY));
    // Another configured channel still opens.
    let b = sim.open_chan(1, 2);
    drop(b);

    // Closing frees it: SPECIFY on `channel` now binds that handle to it.
    drop(a);
    // SAFETY: as above.
    unsafe { rq::specify(chf.as_raw_fd(), &one) }.expect("SPECIFY after close");
    let mut no: i32 = 0;
    // SAFETY: valid fd; int out.
    unsafe { rq::channo(chf.as_raw_fd(), &mut no) }.expect("CHANNO");
    assert_eq!(no, 1);
    // GET_PARAMS on a bound handle describes its own channel.
    let p = get_params(&chf, 0).expect("GET_PARAMS on specified channel");
    assert_eq!((p.channo, p.spanno, p.chanpos), (1, 1, 1));
    assert_eq!(p.sigtype as u32, d::DAHDI_SIG_FXOKS);
    // And the channel is busy for chan/001/001.
    let e = sim.try_open_chan(1, 1, false).expect_err("open while bound through `channel`");
    assert_eq!(errno_of(&e), Errno::EBUSY);
    drop(chf);
    drop(sim.open_chan(1, 1));
}

#[test]
fn t1_spans_take_spanconfig_and_startup() {
    let sim = Sim::start(CONFIG);
    let ctl = sim.ctl();
    let mut c = sim.client();

    let si = spanstat(&ctl, 2).expect("SPANSTAT 2");
    let (spanno, totalchans, numchans, totalspans) = (si.spanno, si.totalchans, si.numchans, si.totalspans);
    assert_eq!((spanno, totalchans, numchans, totalspans), (2, 24, 0, 3));
    assert_eq!(cstr_to_string(&si.spantype), "T1");
    let linecompat = si.linecompat as u32;
    assert_eq!(linecompat & (d::DAHDI_CONFIG_ESF | d::DAHDI_CONFIG_B8ZS), d::DAHDI_CONFIG_ESF | d::DAHDI_CONFIG_B8ZS);
    assert_eq!(spanstat(&ctl, 4).err(), Some(Errno::EINVAL), "SPANSTAT of a span that does not exist");

    // E1 line coding on a T1 framer is refused; no such span is ENXIO.
    assert_eq!(spanconfig(&ctl, 2, d::DAHDI_CONFIG_HDB3 | d::DAHDI_CONFIG_CCS, 1), Err(Errno::EINVAL));
    assert_eq!(spanconfig(&ctl, 9, d::DAHDI_CONFIG_ESF, 1), Err(Errno::ENXIO));
    assert_eq!(startup(&ctl, 9), Err(Errno::ENXIO));

    spanconfig(&ctl, 2, d::DAHDI_CONFIG_D4 | d::DAHDI_CONFIG_AMI, 1).expect("SPANCONFIG D4/AMI");
    for ch in 3..=8 {
        chanconfig(&ctl, ch, d::DAHDI_SIG_EM);
    }
    chanconfig(&ctl, 26, d::DAHDI_SIG_HARDHDLC);
    let running = |c: &mut Client, span: u64| {
        let st = call(c, "status", json!({}));
        st["spans"].as_array().unwrap().iter().find(|s| s["span"] == span).unwrap()["running"].clone()
    };
    assert_eq!(running(&mut c, 2), json!(false), "a T1 span is stopped until STARTUP");
    startup(&ctl, 2).expect("STARTUP");
    startup(&ctl, 2).expect("a second STARTUP is harmless");
    assert_eq!(running(&mut c, 2), json!(true));
    assert_eq!(running(&mut c, 3), json!(false));

    let si = spanstat(&ctl, 2).unwrap();
    let (lineconfig, numchans) = (si.lineconfig as u32, si.numchans);
    assert_eq!(lineconfig, d::DAHDI_CONFIG_D4 | d::DAHDI_CONFIG_AMI);
    assert_eq!(numchans, 7, "numchans counts configured channels");

    // Configured channels open; unconfigured ones on a running span do not.
    drop(sim.open_chan(2, 1));
    drop(sim.open_chan(2, 24));
    let e = sim.try_open_chan(2, 10, false).expect_err("unconfigured T1 channel");
    assert_eq!(errno_of(&e), Errno::ENXIO);
}

#[test]
fn sigterm_unmounts_and_exits_zero() {
    let mut sim = Sim::start(CONFIG);
    assert!(is_mounted(&sim.mount));
    assert!(sim.path("ctl").exists());
    let status = sim.stop().expect("exit status");
    assert!(status.success(), "tandem-sim exited with {status}; log:\n{}", sim.log_text());
    assert!(!is_mounted(&sim.mount), "mount still present after SIGTERM");
    assert!(!sim.control.exists(), "control socket left behind");
}
