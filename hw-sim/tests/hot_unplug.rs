//! Hot unplug (control `chan.remove`): open handles fail with ENODEV, as
//! with DAHDI's nodev file operations after dahdi_chan_unreg(), a reader
//! blocked at the time is woken, and the device file disappears.

mod common;

use std::os::fd::AsRawFd;
use std::time::{Duration, Instant};

use common::*;

const CONFIG: &str = r#"
[[card]]
model = "tdm410p"
ports = ["fxs", "fxs"]
"#;

#[test]
fn removed_channel_gives_enodev_to_open_handles_and_disappears() {
    let sim = Sim::start(CONFIG);
    let ctl = sim.ctl();
    chanconfig(&ctl, 1, d::DAHDI_SIG_FXOKS);
    chanconfig(&ctl, 2, d::DAHDI_SIG_FXOKS);
    let ch = sim.open_chan(1, 1);
    set_blocksize(&ch, 160).unwrap();
    let keep = sim.open_chan(1, 2);
    read_block(&ch, 160, Duration::from_secs(1)).expect("the channel works before");

    // A reader blocked in read(2) when the channel goes.
    let blocked = {
        let f = ch.try_clone().unwrap();
        std::thread::spawn(move || {
            // Drain whatever is ready, then block.
            let _ = read_raw(&f, 160);
            let _ = read_raw(&f, 160);
            let t0 = Instant::now();
            let mut r = read_raw(&f, 160);
            while r.is_ok() && t0.elapsed() < Duration::from_secs(2) {
                r = read_raw(&f, 160);
            }
            r
        })
    };
    std::thread::sleep(Duration::from_millis(100));
    let mut c = sim.client();
    call(&mut c, "chan.remove", json!({"chan": 1}));
    let r = blocked.join().unwrap();
    assert_eq!(r.err(), Some(libc::ENODEV), "the blocked reader gets ENODEV");

    assert_eq!(read_raw(&ch, 160), Err(libc::ENODEV));
    assert_eq!(write_raw(&ch, &[0xff; 160]), Err(libc::ENODEV));
    assert_eq!(get_params(&ch, 0).err(), Some(Errno::ENODEV));
    let mut e = 0;
    // SAFETY: valid fd; int out.
    assert_eq!(unsafe { rq::getevent(ch.as_raw_fd(), &mut e) }, Err(Errno::ENODEV));
    // poll does not hang on a removed channel.
    let mut p = libc::pollfd { fd: ch.as_raw_fd(), events: libc::POLLIN | libc::POLLPRI, revents: 0 };
    // SAFETY: one valid pollfd.
    let n = unsafe { libc::poll(&mut p, 1, 1000) };
    assert_eq!(n, 1, "poll on a removed channel returns at once");

    // The device file is gone, and reopening fails.
    assert!(!sim.chan_path(1, 1).exists(), "chan/001/001 still exists");
    let listed: Vec<String> = std::fs::read_dir(sim.path("chan/001")).unwrap().map(|e| e.unwrap().file_name().into_string().unwrap()).collect();
    assert_eq!(listed, vec!["002".to_string()]);
    assert!(sim.try_open_chan(1, 1, false).is_err());
    drop(ch);

    // The neighbour is unaffected, and the simulator keeps running.
    set_blocksize(&keep, 160).unwrap();
    assert_eq!(read_block(&keep, 160, Duration::from_secs(1)).map(|b| b.len()), Ok(160));
    call(&mut c, "ping", json!({}));
    assert!(c.call("chan.remove", json!({"chan": 99})).is_err(), "removing a channel that does not exist");
}
