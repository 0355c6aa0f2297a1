//! The `timer` device: TIMERCONFIG in samples, POLLPRI on expiry, TIMERACK,
//! GETEVENT, TIMERPING/PONG (dahdi-base.c dahdi_timer_unlocked_ioctl and
//! process_timers).

mod common;

use std::os::fd::AsRawFd;
use std::time::{Duration, Instant};

use common::*;

const CONFIG: &str = r#"
[[card]]
model = "tdm410p"
ports = ["fxs"]
"#;

fn timerconfig(t: &std::fs::File, samples: i32) -> nix::Result<i32> {
    // SAFETY: valid fd; int in.
    unsafe { rq::timerconfig(t.as_raw_fd(), &samples) }
}

fn timerack(t: &std::fs::File, n: i32) -> nix::Result<i32> {
    // SAFETY: valid fd; int in.
    unsafe { rq::timerack(t.as_raw_fd(), &n) }
}

fn pollpri(t: &std::fs::File, timeout_ms: i32) -> bool {
    let mut p = libc::pollfd { fd: t.as_raw_fd(), events: libc::POLLPRI, revents: 0 };
    // SAFETY: one valid pollfd.
    let r = unsafe { libc::poll(&mut p, 1, timeout_ms) };
    assert!(r >= 0, "poll: {}", Errno::last());
    p.revents & libc::POLLPRI != 0
}

/// Wait for `n` expiries, acknowledging one at a time; returns the time taken.
fn time_expiries(t: &std::fs::File, n: usize) -> Duration {
    let start = Instant::now();
    for i in 0..n {
        assert!(pollpri(t, 1000), "expiry {i} did not come within 1 s");
        assert_eq!(timerack(t, 1), Ok(0), "TIMERACK returns 0");
    }
    start.elapsed()
}

#[test]
fn timer_expires_every_160_samples_and_is_acknowledged() {
    let sim = Sim::start(CONFIG);
    let t = sim.open("timer");
    // Not configured: no expiry, GETEVENT gives nothing.
    assert!(!pollpri(&t, 100), "an unconfigured timer never expires");
    assert_eq!(getevent(&t), d::DAHDI_EVENT_NONE as i32);

    timerconfig(&t, 160).expect("TIMERCONFIG 160");
    // Get in step: first expiry.
    assert!(pollpri(&t, 1000));
    assert_eq!(getevent(&t), d::DAHDI_EVENT_TIMER_EXPIRED as i32, "GETEVENT while expired");
    timerack(&t, 1).unwrap();
    let took = time_expiries(&t, 50);
    assert!(took >= Duration::from_millis(900) && took <= Duration::from_millis(1100), "50 expiries of 160 samples took {took:?}, expected 1 s ± 10 %");

    // Unacknowledged expiries accumulate; TIMERACK with 0 (or too many)
    // acknowledges them all, and POLLPRI clears.
    std::thread::sleep(Duration::from_millis(110));
    assert!(pollpri(&t, 0));
    assert_eq!(timerack(&t, 1), Ok(0));
    assert!(pollpri(&t, 0), "several expiries were pending; one ack leaves the rest");
    assert_eq!(timerack(&t, 0), Ok(0));
    assert!(!pollpri(&t, 0), "TIMERACK 0 acknowledges everything");
    assert_eq!(getevent(&t), d::DAHDI_EVENT_NONE as i32);
    std::thread::sleep(Duration::from_millis(70));
    assert_eq!(timerack(&t, 1000), Ok(0));
    assert!(!pollpri(&t, 0), "TIMERACK beyond the count acknowledges everything");

    // A period that is not a whole number of 8-sample chunks is rounded up:
    // 100 samples expire every 13 ms (pos = ms after each expiry).
    timerconfig(&t, 100).unwrap();
    timerack(&t, 0).unwrap();
    assert!(pollpri(&t, 1000));
    timerack(&t, 0).unwrap();
    let took = time_expiries(&t, 100);
    assert!(took >= Duration::from_millis(1265) && took <= Duration::from_millis(1420), "100 expiries of 100 samples took {took:?}, expected 1.3 s");

    // 0 (or a negative period) stops the timer.
    timerconfig(&t, -5).expect("a negative period is taken as 0");
    timerack(&t, 0).unwrap();
    assert!(!pollpri(&t, 200), "a stopped timer does not expire");
}

#[test]
fn timer_ping_wakes_pollers_until_pong() {
    let sim = Sim::start(CONFIG);
    let t = sim.open("timer");
    let t2 = sim.open("timer");
    // PING from another thread wakes a poller.
    let waiter = {
        let fd = t.try_clone().unwrap();
        std::thread::spawn(move || {
            let start = Instant::now();
            let woke = pollpri(&fd, 3000);
            (woke, start.elapsed())
        })
    };
    std::thread::sleep(Duration::from_millis(200));
    // SAFETY: valid fd; no argument.
    unsafe { rq::timerping(t.as_raw_fd()) }.expect("TIMERPING");
    let (woke, after) = waiter.join().unwrap();
    assert!(woke, "poll did not see the ping");
    assert!(after >= Duration::from_millis(150) && after <= Duration::from_millis(600), "woke after {after:?}");
    // The ping stays until PONG and outranks expiries; it is per timer.
    assert_eq!(getevent(&t), d::DAHDI_EVENT_TIMER_PING as i32);
    assert_eq!(getevent(&t), d::DAHDI_EVENT_TIMER_PING as i32, "GETEVENT does not clear a ping");
    assert!(!pollpri(&t2, 0), "another timer is not pinged");
    // SAFETY: as above.
    unsafe { rq::timerpong(t.as_raw_fd()) }.expect("TIMERPONG");
    assert_eq!(getevent(&t), d::DAHDI_EVENT_NONE as i32);
    assert!(!pollpri(&t, 0));
    // Channel requests mean nothing to a timer.
    let mut bs = 0;
    // SAFETY: valid fd; int out.
    assert_eq!(unsafe { rq::get_blocksize(t.as_raw_fd(), &mut bs) }, Err(Errno::ENOTTY));
}
