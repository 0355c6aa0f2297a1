//! Hook events from a phone on an FXS port (signalling FXOKS), and the ways a
//! program waits for them: ELAST from read/write, IOMUX, poll and epoll.

mod common;

use std::os::fd::AsRawFd;
use std::time::{Duration, Instant};

use common::*;

const CONFIG: &str = r#"
[[card]]
model = "tdm410p"
ports = ["fxs", "fxs", "fxs", "fxs"]
"#;

fn setup() -> (Sim, std::fs::File) {
    let sim = Sim::start(CONFIG);
    let ctl = sim.ctl();
    for ch in 1..=4 {
        chanconfig(&ctl, ch, d::DAHDI_SIG_FXOKS);
    }
    (sim, ctl)
}

fn phone_hook(c: &mut Client, chan: u32, offhook: bool) {
    call(c, "phone.hook", json!({"chan": chan, "offhook": offhook}));
}

#[test]
fn phone_hook_changes_give_ringoffhook_onhook_after_rxflashtime_and_winkflash() {
    let (sim, _ctl) = setup();
    let mut c = sim.client();
    let ch = sim.open_chan(1, 1);
    expect_no_event(&ch, Duration::from_millis(100));

    // Off-hook: RINGOFFHOOK at once.
    phone_hook(&mut c, 1, true);
    let t0 = Instant::now();
    expect_event(&ch, d::DAHDI_EVENT_RINGOFFHOOK, Duration::from_millis(500));
    assert!(t0.elapsed() < Duration::from_millis(200), "RINGOFFHOOK took {:?}", t0.elapsed());
    expect_no_event(&ch, Duration::from_millis(100));

    // On-hook: nothing until rxflashtime (1250 ms) has passed, then ONHOOK.
    phone_hook(&mut c, 1, false);
    let t0 = Instant::now();
    let evs = collect_events(&ch, t0, Duration::from_millis(1600));
    assert_eq!(evs.len(), 1, "events after on-hook: {:?}", names(&evs));
    let (e, at) = evs[0];
    assert_eq!(e, d::DAHDI_EVENT_ONHOOK as i32, "got {}", ev_name(e));
    assert!(at >= Duration::from_millis(1150) && at <= Duration::from_millis(1450), "ONHOOK after {at:?}, expected rxflashtime 1250 ms");

    // Off-hook again, then a short on-hook (600 ms < 1250 ms): WINKFLASH
    // when the loop closes again, and no ONHOOK.
    phone_hook(&mut c, 1, true);
    expect_event(&ch, d::DAHDI_EVENT_RINGOFFHOOK, Duration::from_millis(500));
    phone_hook(&mut c, 1, false);
    let t0 = Instant::now();
    std::thread::sleep(Duration::from_millis(600));
    expect_no_event(&ch, Duration::from_millis(1));
    phone_hook(&mut c, 1, true);
    let evs = collect_events(&ch, t0, Duration::from_millis(1500));
    assert_eq!(evs.iter().map(|e| e.0).collect::<Vec<_>>(), vec![d::DAHDI_EVENT_WINKFLASH as i32], "{:?}", names(&evs));

    // The phone's own flash (default 500 ms) is a WINKFLASH too.
    let t0 = Instant::now();
    call(&mut c, "phone.flash", json!({"chan": 1}));
    let evs = collect_events(&ch, t0, Duration::from_millis(1800));
    assert_eq!(evs.len(), 1, "{:?}", names(&evs));
    assert_eq!(evs[0].0, d::DAHDI_EVENT_WINKFLASH as i32, "{:?}", names(&evs));
    assert!(evs[0].1 >= Duration::from_millis(450) && evs[0].1 <= Duration::from_millis(750), "{:?}", names(&evs));
    // The phone is off-hook: GET_PARAMS agrees.
    let p = get_params(&ch, 0).unwrap();
    assert_eq!(p.rxisoffhook, 1);
    assert_eq!(p.rxhooksig, 1, "DAHDI_RXSIG_OFFHOOK");
}

#[test]
fn pending_event_makes_read_and_write_fail_with_elast_until_getevent() {
    let (sim, _ctl) = setup();
    let mut c = sim.client();
    let ch = sim.open_chan(1, 2);
    set_blocksize(&ch, 160).unwrap();
    assert_eq!(getevent(&ch), d::DAHDI_EVENT_NONE as i32, "no event: GETEVENT gives DAHDI_EVENT_NONE");

    phone_hook(&mut c, 2, true);
    std::thread::sleep(Duration::from_millis(100));
    let silence = vec![0xffu8; 160];
    assert_eq!(read_raw(&ch, 160), Err(ELAST), "read with an event pending");
    assert_eq!(write_raw(&ch, &silence), Err(ELAST), "write with an event pending");
    assert_eq!(read_raw(&ch, 160), Err(ELAST), "ELAST persists until the event is taken");

    assert_eq!(getevent(&ch), d::DAHDI_EVENT_RINGOFFHOOK as i32);
    assert_eq!(getevent(&ch), d::DAHDI_EVENT_NONE as i32);
    let b = read_block(&ch, 160, Duration::from_secs(2)).expect("read after GETEVENT");
    assert_eq!(b.len(), 160);
    assert_eq!(write_raw(&ch, &silence), Ok(160));

    // FLUSH of the event queue clears it as well.
    phone_hook(&mut c, 2, false);
    std::thread::sleep(Duration::from_millis(1400));
    assert_eq!(read_raw(&ch, 160), Err(ELAST));
    let what = d::DAHDI_FLUSH_EVENT as i32;
    // SAFETY: valid fd; int in.
    unsafe { rq::flush(ch.as_raw_fd(), &what) }.expect("FLUSH EVENT");
    assert_eq!(getevent(&ch), 0);
    read_block(&ch, 160, Duration::from_secs(2)).expect("read after FLUSH_EVENT");
}

#[test]
fn iomux_waits_for_events_and_nowait_returns_at_once() {
    let (sim, _ctl) = setup();
    let ch = sim.open_chan(1, 3);
    set_blocksize(&ch, 160).unwrap();

    // NOWAIT with nothing pending: 0, immediately.
    let t0 = Instant::now();
    let r = iomux(&ch, d::DAHDI_IOMUX_SIGEVENT | d::DAHDI_IOMUX_NOWAIT).expect("IOMUX NOWAIT");
    assert_eq!(r, 0);
    assert!(t0.elapsed() < Duration::from_millis(100), "IOMUX_NOWAIT took {:?}", t0.elapsed());
    // A zero mask is invalid.
    assert_eq!(iomux(&ch, 0), Err(Errno::EINVAL));

    // READ: a block is ready within one block time.
    let r = iomux(&ch, d::DAHDI_IOMUX_READ).expect("IOMUX READ");
    assert_eq!(r as u32, d::DAHDI_IOMUX_READ);
    // WRITE: buffers are free.
    let r = iomux(&ch, d::DAHDI_IOMUX_WRITE | d::DAHDI_IOMUX_SIGEVENT).expect("IOMUX WRITE");
    assert_eq!(r as u32, d::DAHDI_IOMUX_WRITE);

    // SIGEVENT blocks until the phone goes off-hook 300 ms later.
    let ctl_path = sim.control.clone();
    let lifter = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(300));
        let mut c = Client::connect(&ctl_path).expect("connect");
        call(&mut c, "phone.hook", json!({"chan": 3, "offhook": true}));
    });
    let t0 = Instant::now();
    let r = iomux(&ch, d::DAHDI_IOMUX_SIGEVENT).expect("IOMUX SIGEVENT");
    let woke = t0.elapsed();
    lifter.join().unwrap();
    assert_eq!(r as u32, d::DAHDI_IOMUX_SIGEVENT);
    assert!(woke >= Duration::from_millis(280) && woke <= Duration::from_millis(600), "IOMUX woke after {woke:?}; the phone went off-hook after 300 ms");
    assert_eq!(getevent(&ch), d::DAHDI_EVENT_RINGOFFHOOK as i32);
    // With the event consumed, NOWAIT reports nothing again.
    assert_eq!(iomux(&ch, d::DAHDI_IOMUX_SIGEVENT | d::DAHDI_IOMUX_NOWAIT).unwrap(), 0);
}

fn poll1(f: &std::fs::File, events: i16, timeout_ms: i32) -> i16 {
    let mut p = libc::pollfd { fd: f.as_raw_fd(), events, revents: 0 };
    // SAFETY: one valid pollfd.
    let r = unsafe { libc::poll(&mut p, 1, timeout_ms) };
    assert!(r >= 0, "poll: {}", Errno::last());
    p.revents
}

#[test]
fn poll_and_epoll_report_events_as_pri_and_blocks_as_in() {
    let (sim, _ctl) = setup();
    let mut c = sim.client();
    let ch = sim.open_chan_nonblock(1, 4);
    set_blocksize(&ch, 160).unwrap();

    // Nothing pending: POLLPRI is not reported.
    let r = poll1(&ch, libc::POLLPRI, 0);
    assert_eq!(r & libc::POLLPRI, 0, "revents {r:#x}");
    // Blocks: drain, then POLLIN comes back within a block time.
    while read_raw(&ch, 160).is_ok() {}
    let t0 = Instant::now();
    let r = poll1(&ch, libc::POLLIN, 1000);
    assert_ne!(r & libc::POLLIN, 0, "revents {r:#x}");
    assert!(t0.elapsed() <= Duration::from_millis(100), "POLLIN after {:?}", t0.elapsed());
    assert_ne!(poll1(&ch, libc::POLLOUT, 0) & libc::POLLOUT, 0, "free transmit buffers: POLLOUT");

    // An event: poll sleeps (POLLPRI only) until it arrives.
    let ctl_path = sim.control.clone();
    let lifter = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(300));
        let mut c = Client::connect(&ctl_path).expect("connect");
        call(&mut c, "phone.hook", json!({"chan": 4, "offhook": true}));
    });
    let t0 = Instant::now();
    let r = poll1(&ch, libc::POLLPRI, 3000);
    let woke = t0.elapsed();
    lifter.join().unwrap();
    assert_ne!(r & libc::POLLPRI, 0, "revents {r:#x}");
    assert!(woke >= Duration::from_millis(280) && woke <= Duration::from_millis(600), "poll woke after {woke:?}");
    assert_ne!(poll1(&ch, libc::POLLPRI, 0) & libc::POLLPRI, 0, "still pending until GETEVENT");
    assert_eq!(getevent(&ch), d::DAHDI_EVENT_RINGOFFHOOK as i32);
    assert_eq!(poll1(&ch, libc::POLLPRI, 0) & libc::POLLPRI, 0, "consumed");

    // epoll: edge of the ONHOOK after rxflashtime.
    // SAFETY: plain syscalls on valid descriptors.
    unsafe {
        let ep = libc::epoll_create1(libc::EPOLL_CLOEXEC);
        assert!(ep >= 0);
        let mut ev = libc::epoll_event { events: (libc::EPOLLPRI) as u32, u64: 7 };
        assert_eq!(libc::epoll_ctl(ep, libc::EPOLL_CTL_ADD, ch.as_raw_fd(), &mut ev), 0, "epoll_ctl: {}", Errno::last());
        let mut out = [libc::epoll_event { events: 0, u64: 0 }; 4];
        // Nothing pending yet.
        assert_eq!(libc::epoll_wait(ep, out.as_mut_ptr(), 4, 0), 0);
        call(&mut c, "phone.hook", json!({"chan": 4, "offhook": false}));
        let t0 = Instant::now();
        let n = libc::epoll_wait(ep, out.as_mut_ptr(), 4, 3000);
        let woke = t0.elapsed();
        assert_eq!(n, 1, "epoll_wait: {n} ({})", Errno::last());
        let (events, data) = (out[0].events, out[0].u64);
        assert_eq!(data, 7);
        assert_ne!(events & libc::EPOLLPRI as u32, 0, "events {events:#x}");
        assert!(woke >= Duration::from_millis(1100) && woke <= Duration::from_millis(1600), "ONHOOK woke epoll after {woke:?}");
        assert_eq!(getevent(&ch), d::DAHDI_EVENT_ONHOOK as i32);

        // EPOLLIN for blocks.
        let mut ev = libc::epoll_event { events: (libc::EPOLLIN) as u32, u64: 8 };
        assert_eq!(libc::epoll_ctl(ep, libc::EPOLL_CTL_MOD, ch.as_raw_fd(), &mut ev), 0);
        while read_raw(&ch, 160).is_ok() {}
        let n = libc::epoll_wait(ep, out.as_mut_ptr(), 4, 1000);
        assert_eq!(n, 1);
        let (events, data) = (out[0].events, out[0].u64);
        assert_eq!(data, 8);
        assert_ne!(events & libc::EPOLLIN as u32, 0);
        libc::close(ep);
    }
}
