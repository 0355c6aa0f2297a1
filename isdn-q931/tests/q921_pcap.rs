//! The pcap writer's output, read back by tshark (Debian package `tshark`,
//! which scripts/setup.sh installs; the tests fail without it).

mod q921_harness;

use std::path::PathBuf;
use std::process::Command as Process;
use std::time::Duration;

use isdn_q931::q921::Role;
use isdn_q931::q921::pcap::{Direction, PcapWriter};
use q921_harness::{Bench, Side, millis, secs};

/// A Q.931 call setup exchange: SETUP (bearer speech, B-channel 1, called
/// number 1234), CALL PROCEEDING, ALERTING, CONNECT, CONNECT ACKNOWLEDGE.
const SETUP: &[u8] = &[
    0x08, 0x02, 0x00, 0x01, 0x05, // PD, CR 1 (from originator), SETUP
    0x04, 0x03, 0x80, 0x90, 0xA2, // bearer capability: speech, 64 kbit/s, mu-law
    0x18, 0x03, 0xA9, 0x83, 0x81, // channel identification: PRI, exclusive, B1
    0x70, 0x05, 0x81, 0x31, 0x32, 0x33, 0x34, // called party number 1234
];
const CALL_PROCEEDING: &[u8] = &[0x08, 0x02, 0x80, 0x01, 0x02, 0x18, 0x03, 0xA9, 0x83, 0x81];
const ALERTING: &[u8] = &[0x08, 0x02, 0x80, 0x01, 0x01];
const CONNECT: &[u8] = &[0x08, 0x02, 0x80, 0x01, 0x07];
const CONNECT_ACK: &[u8] = &[0x08, 0x02, 0x00, 0x01, 0x0F];

/// Runs establishment and a call setup, and writes what side `role` saw
/// as a pcap. Returns (frames, frames sent by the network).
fn capture(path: &PathBuf, role: Role) -> (usize, usize) {
    let mut b = Bench::new();
    b.run_until_established(secs(1));
    b.send(Side::Net, SETUP);
    b.run_for(millis(20));
    b.send(Side::User, CALL_PROCEEDING);
    b.send(Side::User, ALERTING);
    b.run_for(millis(20));
    b.send(Side::User, CONNECT);
    b.run_for(millis(20));
    b.send(Side::Net, CONNECT_ACK);
    b.run_for(millis(20));
    // An idle period long enough for a T203 poll.
    b.run_for(secs(11));

    let file = std::fs::File::create(path).expect("create pcap");
    let mut w = PcapWriter::new(std::io::BufWriter::new(file), role).unwrap();
    let us = match role {
        Role::Network => Side::Net,
        Role::User => Side::User,
    };
    let epoch = Duration::from_secs(1_700_000_000);
    for s in &b.sent {
        let direction = if s.from == us { Direction::Sent } else { Direction::Received };
        w.write_frame(epoch + s.at, direction, &s.bytes).unwrap();
    }
    w.flush().unwrap();
    let from_net = b.sent.iter().filter(|s| s.from == Side::Net).count();
    (b.sent.len(), from_net)
}

fn tshark() -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path).map(|d| d.join("tshark")).find(|p| p.is_file())
}

#[test]
fn tshark_decodes_network_side_capture_without_malformed_packets() {
    check_with_tshark(Role::Network);
}

#[test]
fn tshark_decodes_user_side_capture_without_malformed_packets() {
    check_with_tshark(Role::User);
}

fn check_with_tshark(role: Role) {
    let path = std::env::temp_dir().join(format!("q921-pcap-test-{}-{role:?}.pcap", std::process::id()));
    let (frames, from_net) = capture(&path, role);
    assert!(frames >= 10, "{frames} frames");
    let size = std::fs::metadata(&path).unwrap().len();
    assert!(size > 24);

    let tshark = tshark().expect("tshark is not installed: run scripts/setup.sh (the decode check needs it)");
    let output = Process::new(tshark).arg("-r").arg(&path).arg("-V").env("HOME", std::env::temp_dir()).output().expect("run tshark");
    std::fs::remove_file(&path).ok();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "tshark failed: {stderr}");
    assert!(!stdout.contains("Malformed"), "malformed packet:\n{stdout}");
    assert!(!stdout.contains("Expert Info (Error"), "decode error:\n{stdout}");
    assert!(stdout.contains("Link Access Procedure, Channel D (LAPD)"), "{stdout}");
    for needle in [
        "func=SABME",
        "func=UA",
        "Control field: I, N(R)=0, N(S)=0",
        "func=RR",
        "Message type: SETUP (0x05)",
        "Message type: CALL PROCEEDING (0x02)",
        "Message type: ALERTING (0x01)",
        "Message type: CONNECT (0x07)",
        "Message type: CONNECT ACKNOWLEDGE (0x0f)",
        "Called party number: '1234'",
    ] {
        assert!(stdout.contains(needle), "no {needle:?} in tshark output:\n{stdout}");
    }
    // Direction and network-side flag were understood: each frame is
    // attributed to the side that sent it.
    assert_eq!(stdout.matches("[Direction: Network->User").count(), from_net, "{stdout}");
    assert_eq!(stdout.matches("[Direction: User->Network").count(), frames - from_net, "{stdout}");
}
