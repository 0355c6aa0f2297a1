//! The requests the other files do not reach: SET_PARAMS, SHUTDOWN,
//! GETGAINS/SETGAINS, SETLAW, AUDIOMODE, ECHOCANCEL_PARAMS, FLUSH, SYNC and
//! HOOK START on a trunk.

mod common;

use std::os::fd::AsRawFd;
use std::time::Duration;

use common::*;
use serde_json::json;

const CONFIG: &str = r#"
[[card]]
model = "te220p"
[[card.span]]
type = "t1"
far_end = "cross"
peer = 2
[[card.span]]
type = "t1"
far_end = "cross"
peer = 1
"#;

#[test]
fn set_params_round_trips_the_signalling_timers() {
    let sim = Sim::start(CONFIG);
    let ctl = sim.ctl();
    setup_t1(&ctl, 1, &[(1, d::DAHDI_SIG_EM, 0)]);
    let ch = sim.open_chan(1, 1);
    let mut p = get_params(&ch, 0).unwrap();
    assert_eq!((p.winktime, p.rxwinktime, p.flashtime), (150, 250, 750), "kernel.h defaults");
    p.winktime = 200;
    p.rxwinktime = 300;
    p.debouncetime = 500;
    // SAFETY: valid fd; the struct is read by the request.
    unsafe { rq::set_params(ch.as_raw_fd(), &p) }.expect("SET_PARAMS");
    let q = get_params(&ch, 0).unwrap();
    assert_eq!((q.winktime, q.rxwinktime, q.debouncetime), (200, 300, 500));
}

#[test]
fn shutdown_unconfigures_a_span_and_its_channels_stop_opening() {
    let sim = Sim::start(CONFIG);
    let ctl = sim.ctl();
    setup_t1(&ctl, 1, &[(1, d::DAHDI_SIG_CLEAR, 0), (2, d::DAHDI_SIG_CLEAR, 0)]);
    drop(sim.open_chan(1, 1));
    let span: i32 = 1;
    // SAFETY: valid fd; int in.
    unsafe { rq::shutdown(ctl.as_raw_fd(), &span) }.expect("SHUTDOWN");
    assert_eq!(get_params(&ctl, 1).unwrap().sigtype, 0, "channels are unconfigured");
    let numchans = spanstat(&ctl, 1).unwrap().numchans;
    assert_eq!(numchans, 0);
    let e = sim.try_open_chan(1, 1, false).expect_err("unconfigured after SHUTDOWN");
    assert_eq!(errno_of(&e), Errno::ENXIO);
}

#[test]
fn gains_law_audio_mode_echo_canceller_flush_and_sync() {
    let sim = Sim::start(CONFIG);
    let ctl = sim.ctl();
    setup_t1(&ctl, 1, &[(1, d::DAHDI_SIG_CLEAR, 0)]);
    let ch = sim.open_chan(1, 1);
    let fd = ch.as_raw_fd();

    // GETGAINS starts as the identity; SETGAINS is read back by GETGAINS.
    let mut g = d::dahdi_gains { chan: 0, rxgain: [0; 256], txgain: [0; 256] };
    // SAFETY: valid fd; the struct is read and written.
    unsafe { rq::getgains(fd, &mut g) }.expect("GETGAINS");
    assert!(g.rxgain.iter().enumerate().all(|(i, &v)| v as usize == i));
    for i in 0..256 {
        g.rxgain[i] = (255 - i) as u8;
    }
    // SAFETY: as above.
    unsafe { rq::setgains(fd, &g) }.expect("SETGAINS");
    let mut back = d::dahdi_gains { chan: 0, rxgain: [0; 256], txgain: [0; 256] };
    // SAFETY: as above.
    unsafe { rq::getgains(fd, &mut back) }.expect("GETGAINS");
    assert_eq!(back.rxgain[0], 255);
    assert_eq!(back.chan, 1);

    // SETLAW shows in GET_PARAMS; a bad law is EINVAL.
    let alaw = d::DAHDI_LAW_ALAW as i32;
    // SAFETY: valid fd; int in.
    unsafe { rq::setlaw(fd, &alaw) }.expect("SETLAW");
    assert_eq!(get_params(&ch, 0).unwrap().curlaw, alaw);
    let bad = 7;
    // SAFETY: as above.
    assert_eq!(unsafe { rq::setlaw(fd, &bad) }, Err(Errno::EINVAL));

    // AUDIOMODE off on a clear channel; on again.
    let off = 0;
    let on = 1;
    // SAFETY: valid fd; int in.
    unsafe { rq::audiomode(fd, &off) }.expect("AUDIOMODE 0");
    // SAFETY: as above.
    unsafe { rq::audiomode(fd, &on) }.expect("AUDIOMODE 1");

    // ECHOCANCEL_PARAMS: the tap count arrives (the parameter array cannot cross FUSE).
    let hdr: [u32; 2] = [256, 0];
    // SAFETY: the request copies in the 8-byte header.
    let r = unsafe { libc::ioctl(fd, rq::DAHDI_ECHOCANCEL_PARAMS as _, hdr.as_ptr()) };
    assert_eq!(r, 0, "{}", std::io::Error::last_os_error());
    let mut c = sim.client();
    let got = c.call("chan.get", json!({"chan": 1})).unwrap();
    assert_eq!(got["echocan_taps"], 256, "{got}");

    // FLUSH empties the receive ring; SYNC returns once transmission is done.
    let bs = 160;
    // SAFETY: valid fd; int in.
    unsafe { rq::set_blocksize(fd, &bs) }.expect("SET_BLOCKSIZE");
    std::thread::sleep(Duration::from_millis(60));
    assert!(get_bufinfo(&ch).readbufs > 0);
    let both = (d::DAHDI_FLUSH_READ | d::DAHDI_FLUSH_WRITE) as i32;
    // SAFETY: valid fd; int in.
    unsafe { rq::flush(fd, &both) }.expect("FLUSH");
    assert_eq!(get_bufinfo(&ch).readbufs, 0);
    write_block(&ch, &[0x55; 160], Duration::from_secs(1)).expect("write");
    // SAFETY: valid fd; no argument.
    unsafe { rq::sync(fd) }.expect("SYNC");
    assert_eq!(get_bufinfo(&ch).writebufs, 0, "SYNC returned with data still queued");
}

#[test]
fn hook_start_on_an_em_trunk_seizes_the_far_end() {
    let sim = Sim::start(CONFIG);
    let ctl = sim.ctl();
    setup_t1(&ctl, 1, &[(1, d::DAHDI_SIG_EM, 0)]);
    setup_t1(&ctl, 2, &[(25, d::DAHDI_SIG_EM, 0)]);
    let a = sim.open_chan_nonblock(1, 1);
    let b = sim.open_chan(2, 1);
    std::thread::sleep(Duration::from_millis(30));
    while getevent(&b) != 0 {}
    while getevent(&a) != 0 {}
    // START sends off-hook for starttime (1500 ms) and then stays off-hook.
    assert_eq!(hook(&a, d::DAHDI_START), Err(Errno::EINPROGRESS), "non-blocking START");
    expect_event(&b, d::DAHDI_EVENT_RINGOFFHOOK, Duration::from_secs(1));
    expect_event(&a, d::DAHDI_EVENT_HOOKCOMPLETE, Duration::from_secs(3));
    assert!(get_params(&b, 0).unwrap().rxisoffhook != 0);
}
