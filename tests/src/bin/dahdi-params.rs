//! `dahdi-params [--dev PATH] CHANS...`: print DAHDI_GET_PARAMS of channels as JSON.
//!
//! Opens `/dev/dahdi/ctl` (or `--dev`) and issues `DAHDI_GET_PARAMS` with
//! `channo` set for each channel, the way dahdi_cfg and dahdi_scan do.
//! `CHANS` are channel numbers or ranges (`1`, `5-28`). Prints one line:
//!
//! `{"chans":[{"channo":1,"spanno":1,"chanpos":1,"sigtype":4128,"sigcap":..,
//!   "curlaw":1,"name":"WCTDM/0/0","rxisoffhook":0,"rxhooksig":..,
//!   "txhooksig":..,"chan_alarms":0}, ...]}`
//!
//! A channel whose ioctl fails appears as `{"channo":N,"error":"ENXIO: ..."}`.
//! Exits 0 if every request succeeded, 1 otherwise, 2 on usage errors.

use std::ffi::CStr;
use std::os::fd::AsRawFd;

use dahdi_sys::{dahdi_params, ioctl};
use serde_json::{Value, json};

fn usage() -> ! {
    eprintln!("usage: dahdi-params [--dev /dev/dahdi/ctl] CHAN|FIRST-LAST...");
    std::process::exit(2);
}

fn parse_chans(args: &[String]) -> Vec<i32> {
    let mut out = Vec::new();
    for a in args {
        let r = match a.split_once('-') {
            Some((f, l)) => f.parse::<i32>().ok().zip(l.parse::<i32>().ok()),
            None => a.parse::<i32>().ok().map(|n| (n, n)),
        };
        match r {
            Some((f, l)) if f <= l => out.extend(f..=l),
            _ => usage(),
        }
    }
    out
}

fn main() {
    let mut args: Vec<String> = std::env::args().skip(1).collect();
    let mut dev = "/dev/dahdi/ctl".to_string();
    if args.first().map(String::as_str) == Some("--dev") {
        if args.len() < 2 {
            usage();
        }
        dev = args.remove(1);
        args.remove(0);
    }
    let chans = parse_chans(&args);
    if chans.is_empty() {
        usage();
    }
    let ctl = match std::fs::OpenOptions::new().read(true).write(true).open(&dev) {
        Ok(f) => f,
        Err(e) => {
            eprintln!("dahdi-params: cannot open {dev}: {e}");
            std::process::exit(1);
        }
    };
    let mut ok = true;
    let mut list = Vec::new();
    for channo in chans {
        let mut p = dahdi_params { channo, ..Default::default() };
        // SAFETY: `ctl` is an open DAHDI file and `p` a valid dahdi_params.
        let r = unsafe { ioctl::get_params(ctl.as_raw_fd(), &mut p) };
        let v: Value = match r {
            Ok(_) => {
                // SAFETY: the kernel (and the simulator) NUL-terminate `name`;
                // the array is zeroed before the call.
                let name = unsafe { CStr::from_ptr(p.name.as_ptr()) }.to_string_lossy().into_owned();
                json!({
                    "channo": p.channo,
                    "spanno": p.spanno,
                    "chanpos": p.chanpos,
                    "sigtype": p.sigtype,
                    "sigcap": p.sigcap,
                    "curlaw": p.curlaw,
                    "name": name,
                    "rxisoffhook": p.rxisoffhook,
                    "rxhooksig": p.rxhooksig,
                    "txhooksig": p.txhooksig,
                    "rxbits": p.rxbits,
                    "txbits": p.txbits,
                    "idlebits": p.idlebits,
                    "chan_alarms": p.chan_alarms,
                })
            }
            Err(e) => {
                ok = false;
                json!({"channo": channo, "error": format!("{e:?}: {}", e.desc())})
            }
        };
        list.push(v);
    }
    println!("{}", json!({ "chans": list }));
    std::process::exit(if ok { 0 } else { 1 });
}
