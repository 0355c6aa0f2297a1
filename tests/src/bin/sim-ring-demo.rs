//! `sim-ring-demo [--chan N]`: ring an FXO port of a running tandem-sim
//! through its control socket and print the DAHDI events the channel reports.
//!
//! Run inside `scripts/sim-ns.sh` after `dahdi_cfg` (the FXO port needs FXS
//! signalling, e.g. `fxsks=3-4`): the control socket is `$SIM_CONTROL`, the
//! channel is opened as `/dev/dahdi/chan/SSS/CCC`. Steps: the CO rings the
//! line (800 ms on, 700 ms off) once DAHDI's 2 s ring debounce after opening
//! has passed; the demo reads events with DAHDI_GETEVENT until two rings
//! have been reported, answers (DAHDI_HOOK off-hook), asks the CO what it saw
//! (`co.get`) and hangs up. Finishes in about 6 s. Exits 0 on success and 1
//! with a message on failure; if the simulator does not implement the `co.*`
//! control operations yet, it says so and exits 0.

use std::ffi::CStr;
use std::os::fd::AsRawFd;
use std::time::{Duration, Instant};

use dahdi_sys::{dahdi_params, ioctl};
use hw_sim::client::Client;
use serde_json::{Value, json};

fn event_name(e: i32) -> String {
    use dahdi_sys::*;
    let base = e as u32 & 0xffff;
    if e as u32 & DAHDI_EVENT_PULSEDIGIT != 0 {
        return format!("PULSEDIGIT '{}'", char::from(base as u8));
    }
    if e as u32 & DAHDI_EVENT_DTMFDOWN != 0 {
        return format!("DTMFDOWN '{}'", char::from(base as u8));
    }
    if e as u32 & DAHDI_EVENT_DTMFUP != 0 {
        return format!("DTMFUP '{}'", char::from(base as u8));
    }
    let name = match base {
        DAHDI_EVENT_ONHOOK => "ONHOOK",
        DAHDI_EVENT_RINGOFFHOOK => "RINGOFFHOOK",
        DAHDI_EVENT_WINKFLASH => "WINKFLASH",
        DAHDI_EVENT_ALARM => "ALARM",
        DAHDI_EVENT_NOALARM => "NOALARM",
        DAHDI_EVENT_ABORT => "ABORT",
        DAHDI_EVENT_OVERRUN => "OVERRUN",
        DAHDI_EVENT_BADFCS => "BADFCS",
        DAHDI_EVENT_DIALCOMPLETE => "DIALCOMPLETE",
        DAHDI_EVENT_RINGERON => "RINGERON",
        DAHDI_EVENT_RINGEROFF => "RINGEROFF",
        DAHDI_EVENT_HOOKCOMPLETE => "HOOKCOMPLETE",
        DAHDI_EVENT_BITSCHANGED => "BITSCHANGED",
        DAHDI_EVENT_PULSE_START => "PULSE_START",
        DAHDI_EVENT_POLARITY => "POLARITY",
        DAHDI_EVENT_RINGBEGIN => "RINGBEGIN",
        DAHDI_EVENT_REMOVED => "REMOVED",
        DAHDI_EVENT_READ_OVERRUN => "READ_OVERRUN",
        DAHDI_EVENT_WRITE_UNDERRUN => "WRITE_UNDERRUN",
        _ => return format!("event {e}"),
    };
    name.to_string()
}

fn fail(msg: impl std::fmt::Display) -> ! {
    eprintln!("sim-ring-demo: {msg}");
    std::process::exit(1);
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let chan: u32 = match args.as_slice() {
        [] => 3,
        [flag, n] if flag == "--chan" => n.parse().unwrap_or_else(|_| fail("--chan takes a channel number")),
        _ => fail("usage: sim-ring-demo [--chan N]   (inside scripts/sim-ns.sh, after dahdi_cfg)"),
    };
    let control = std::env::var("SIM_CONTROL").unwrap_or_else(|_| fail("$SIM_CONTROL is not set; run me inside scripts/sim-ns.sh"));
    let mut sim = Client::connect(&control).unwrap_or_else(|e| fail(format!("{control}: {e}")));
    let ping = sim.call("ping", Value::Null).unwrap_or_else(|e| fail(e));
    println!("control socket {control}: ping -> {ping}");

    // Find the channel's device file from its span and position.
    let ctl = std::fs::OpenOptions::new().read(true).write(true).open("/dev/dahdi/ctl").unwrap_or_else(|e| fail(format!("/dev/dahdi/ctl: {e}")));
    let mut p = dahdi_params { channo: chan as i32, ..Default::default() };
    // SAFETY: open DAHDI fd and a valid dahdi_params.
    unsafe { ioctl::get_params(ctl.as_raw_fd(), &mut p) }.unwrap_or_else(|e| fail(format!("GET_PARAMS({chan}): {e}")));
    // SAFETY: `name` is NUL-terminated (zeroed before the call).
    let name = unsafe { CStr::from_ptr(p.name.as_ptr()) }.to_string_lossy().into_owned();
    let fxs_sigs = [dahdi_sys::DAHDI_SIG_FXSKS, dahdi_sys::DAHDI_SIG_FXSLS, dahdi_sys::DAHDI_SIG_FXSGS];
    if !fxs_sigs.contains(&(p.sigtype as u32)) {
        fail(format!("channel {chan} ({name}) has sigtype {:#x}; configure it with FXS signalling (fxsks) first", p.sigtype));
    }
    let path = format!("/dev/dahdi/chan/{:03}/{:03}", p.spanno, p.chanpos);
    let dev = std::fs::OpenOptions::new().read(true).write(true).open(&path).unwrap_or_else(|e| fail(format!("{path}: {e}")));
    println!("opened {path}: channel {chan} {name}, sigtype {:#x} (FXS signalling on an FXO port)", p.sigtype);

    // Opening a channel hangs it up, and DAHDI ignores rings on FXS-signalled
    // channels for RING_DEBOUNCE_TIME (2 s) after a hang-up.
    println!("waiting 2 s: DAHDI ignores rings for 2 s after a channel is opened (hung up)");
    std::thread::sleep(Duration::from_millis(2100));

    let t0 = Instant::now();
    let ring = json!({"chan": chan, "cadence": [[800, 700]]});
    match sim.call("co.ring", ring.clone()) {
        Ok(_) => println!("{:>6} ms  control: co.ring {ring}", 0),
        Err(e) => fail(e),
    }

    // Read events while the line rings, until the second ring has ended.
    let fd = dev.as_raw_fd();
    let mut events: Vec<String> = Vec::new();
    let rings = |events: &[String]| events.iter().filter(|e| e.as_str() == "RINGOFFHOOK").count();
    while rings(&events) < 2 && t0.elapsed() < Duration::from_secs(6) {
        let mut ev: libc::c_int = 0;
        // SAFETY: open DAHDI fd and a valid int.
        unsafe { ioctl::getevent(fd, &mut ev) }.unwrap_or_else(|e| fail(format!("GETEVENT: {e}")));
        if ev != 0 {
            let n = event_name(ev);
            println!("{:>6} ms  event: {n}", t0.elapsed().as_millis());
            events.push(n);
        } else {
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    // Answer, see what the CO saw, hang up.
    let off = dahdi_sys::DAHDI_OFFHOOK as libc::c_int;
    // SAFETY: open DAHDI fd and a valid int.
    unsafe { ioctl::hook(fd, &off) }.unwrap_or_else(|e| fail(format!("HOOK(OFFHOOK): {e}")));
    println!("{:>6} ms  host: DAHDI_HOOK off-hook (answer)", t0.elapsed().as_millis());
    std::thread::sleep(Duration::from_millis(300));
    match sim.call("co.get", json!({"chan": chan})) {
        Ok(v) => println!("{:>6} ms  control: co.get -> {v}", t0.elapsed().as_millis()),
        Err(e) => println!("{:>6} ms  control: co.get failed: {e}", t0.elapsed().as_millis()),
    }
    let on = dahdi_sys::DAHDI_ONHOOK as libc::c_int;
    // SAFETY: as above.
    unsafe { ioctl::hook(fd, &on) }.unwrap_or_else(|e| fail(format!("HOOK(ONHOOK): {e}")));
    println!("{:>6} ms  host: DAHDI_HOOK on-hook (hang up)", t0.elapsed().as_millis());

    let rings = rings(&events);
    if rings == 0 {
        fail(format!("the CO rang but channel {chan} reported no RINGOFFHOOK event (events: {events:?})"));
    }
    println!("ok: {rings} ring(s) detected on channel {chan}");
}
