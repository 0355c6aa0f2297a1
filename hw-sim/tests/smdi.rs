//! The SMDI link as a pseudo-terminal (`[sim] smdi`): Tandem's side is a
//! symlink to a pty slave, opened and used through real syscalls; the
//! switch's side is `smdi.send` / `smdi.get` on the control socket.

mod common;

use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;
use std::time::{Duration, Instant};

use common::*;

fn config(link: &Path) -> String {
    format!("[sim]\nsmdi = \"{}\"\n\n[[card]]\nmodel = \"tdm410p\"\nports = [\"fxo\"]\n", link.display())
}

fn open_link(link: &Path) -> File {
    OpenOptions::new().read(true).write(true).custom_flags(libc::O_NOCTTY).open(link).expect("open the SMDI link")
}

/// Reads until `want` bytes have arrived (at most 5 s).
fn read_exactly(f: &mut File, want: usize) -> Vec<u8> {
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut got = Vec::new();
    let mut buf = [0u8; 256];
    while got.len() < want && Instant::now() < deadline {
        let mut fds = [nix::poll::PollFd::new(std::os::fd::AsFd::as_fd(f), nix::poll::PollFlags::POLLIN)];
        if nix::poll::poll(&mut fds, nix::poll::PollTimeout::from(100u16)).unwrap_or(0) > 0 {
            let n = f.read(&mut buf).expect("read the SMDI link");
            got.extend_from_slice(&buf[..n]);
        }
    }
    got
}

/// Polls `smdi.get` until `want` bytes have arrived (at most 5 s).
fn get_exactly(c: &mut Client, want: usize) -> String {
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut got = String::new();
    while got.len() < want && Instant::now() < deadline {
        got.push_str(&c.smdi_get().expect("smdi.get"));
        std::thread::sleep(Duration::from_millis(20));
    }
    got
}

#[test]
fn call_details_reach_the_port_and_mwi_requests_reach_the_switch_byte_exact() {
    let dir = tempfile::tempdir().unwrap();
    let link = dir.path().join("smdi");
    let sim = Sim::start(&config(&link));
    assert!(std::fs::symlink_metadata(&link).unwrap().file_type().is_symlink());
    let mut port = open_link(&link);
    assert!(nix::unistd::isatty(&port).unwrap(), "the SMDI link is a terminal");
    let mut c = sim.client();

    // Raw mode: CR, LF and ^Y arrive unchanged, and nothing is echoed back.
    let md = "\r\nMD0010001D 2125551212 \r\n\u{19}";
    c.smdi_send(md).unwrap();
    assert_eq!(read_exactly(&mut port, md.len()), md.as_bytes());

    port.write_all(b"OP:MWI 5551234!\x04").unwrap();
    port.write_all(b"RMV:MWI 5551234!\x04").unwrap();
    let want = "OP:MWI 5551234!\u{4}RMV:MWI 5551234!\u{4}";
    assert_eq!(get_exactly(&mut c, want.len()), want);
    // Taken once.
    assert_eq!(c.smdi_get().unwrap(), "");
}

#[test]
fn the_link_survives_tandem_closing_and_reopening_it() {
    let dir = tempfile::tempdir().unwrap();
    let link = dir.path().join("smdi");
    let sim = Sim::start(&config(&link));
    let mut c = sim.client();
    drop(open_link(&link));
    // Sent while nobody has the port open: held in the pty for the next reader.
    c.smdi_send("\r\nMD0010002N5550001 5550002 \r\n\u{19}").unwrap();
    let mut port = open_link(&link);
    let got = read_exactly(&mut port, 34);
    assert_eq!(got, b"\r\nMD0010002N5550001 5550002 \r\n\x19");
    port.write_all(b"OP:MWI 1!\x04").unwrap();
    assert_eq!(get_exactly(&mut c, 10), "OP:MWI 1!\u{4}");
}

#[test]
fn the_symlink_goes_away_when_the_simulator_stops() {
    let dir = tempfile::tempdir().unwrap();
    let link = dir.path().join("smdi");
    let mut sim = Sim::start(&config(&link));
    assert!(link.exists());
    sim.stop();
    assert!(std::fs::symlink_metadata(&link).is_err(), "symlink left behind");
}

#[test]
fn smdi_ops_without_a_link_or_with_bad_text_are_refused() {
    let sim = Sim::start("[[card]]\nmodel = \"tdm410p\"\nports = [\"fxo\"]\n");
    let mut c = sim.client();
    let e = c.smdi_get().unwrap_err().to_string();
    assert!(e.contains("[sim] smdi"), "{e}");
    let e = c.smdi_send("x").unwrap_err().to_string();
    assert!(e.contains("[sim] smdi"), "{e}");

    let dir = tempfile::tempdir().unwrap();
    let link = dir.path().join("smdi");
    let sim = Sim::start(&config(&link));
    let mut c = sim.client();
    let e = c.smdi_send(&"M".repeat(5000)).unwrap_err().to_string();
    assert!(e.contains("at most 4096"), "{e}");
    let e = c.call("smdi.send", json!({})).unwrap_err().to_string();
    assert!(e.contains("text"), "{e}");
}

#[test]
fn a_regular_file_at_the_link_path_is_not_replaced() {
    let dir = tempfile::tempdir().unwrap();
    let link = dir.path().join("smdi");
    std::fs::write(&link, "keep me").unwrap();
    let cfg = dir.path().join("sim.toml");
    std::fs::write(&cfg, config(&link)).unwrap();
    let mount = dir.path().join("dahdi");
    std::fs::create_dir(&mount).unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_tandem-sim"))
        .arg("--config")
        .arg(&cfg)
        .arg("--mount")
        .arg(&mount)
        .arg("--control")
        .arg(dir.path().join("ctl.sock"))
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("not a symlink"), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(std::fs::read_to_string(&link).unwrap(), "keep me");
}
