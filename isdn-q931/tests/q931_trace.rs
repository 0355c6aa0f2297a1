//! The frame tap: every frame a stack sends and receives comes out as a
//! trace record; written with the pcap writer, tshark decodes the whole
//! exchange (call with numbers and names, STATUS, RESTART, RELEASE) as
//! Q.931 without a malformed packet, for each switch variant's encoding.

mod q931_harness;

use std::path::PathBuf;
use std::process::Command as Process;
use std::time::Duration;

use isdn_q931::PriConfig;
use isdn_q931::q921::Role;
use isdn_q931::q921::pcap::PcapWriter;
use isdn_q931::q931::{Command, Config, Number, PartyName, RestartTarget, SetupRequest, Side, SwitchType};
use isdn_q931::wire::CauseValue;
use isdn_q931::wire::ie::{Presentation, Screening, TypeOfNumber};
use q931_harness::{Bench, End};

fn traced(switch: SwitchType, side: Side) -> PriConfig {
    let mut c = PriConfig::new(Config::new(switch, side));
    c.trace = true;
    c
}

fn tshark() -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path).map(|d| d.join("tshark")).find(|p| p.is_file())
}

/// Runs a call and some maintenance between two traced stacks; returns the
/// network side's trace as a pcap file and the number of records.
fn capture(switch: SwitchType, path: &PathBuf) -> usize {
    let mut b = Bench::with(traced(switch, Side::Network), traced(switch, Side::User));
    b.establish();
    b.traces.clear();
    let req = SetupRequest::new("2125551234")
        .calling(Number::new("3035550100").with_ton(TypeOfNumber::National).with_presentation(Presentation::Allowed, Screening::NetworkProvided))
        .name(PartyName::allowed("JOHN DOE"));
    let (a, c) = b.connected_call(End::User, req);
    b.command(End::User, Command::StatusEnquiry { call: a });
    b.settle();
    b.command(End::Net, Command::Disconnect { call: c, cause: CauseValue::NORMAL_CLEARING, inband: true });
    b.settle();
    b.command(End::User, Command::Restart(RestartTarget::Interface(0)));
    b.settle();
    let records: Vec<_> = b.traces.iter().filter(|(e, _)| *e == End::Net).collect();
    // Every frame on the wire was tapped on both ends.
    assert_eq!(b.traces.len(), 2 * b.sent.len());
    let file = std::fs::File::create(path).expect("create pcap");
    let mut w = PcapWriter::new(std::io::BufWriter::new(file), Role::Network).unwrap();
    let epoch = Duration::from_secs(1_700_000_000);
    for (_, t) in &records {
        w.write_frame(epoch + (t.at - b.start), t.direction, &t.frame).unwrap();
    }
    w.flush().unwrap();
    records.len()
}

#[test]
fn tshark_decodes_the_stacks_q931_for_every_variant() {
    let tshark = tshark().expect("tshark is not installed: run scripts/setup.sh");
    for switch in SwitchType::ALL {
        let path = std::env::temp_dir().join(format!("q931-trace-{}-{switch:?}.pcap", std::process::id()));
        let n = capture(switch, &path);
        assert!(n >= 20, "{n} records");
        let output = Process::new(&tshark).arg("-r").arg(&path).arg("-V").env("HOME", std::env::temp_dir()).output().expect("run tshark");
        if std::env::var_os("Q931_TRACE_KEEP").is_none() {
            std::fs::remove_file(&path).ok();
        }
        let stdout = String::from_utf8_lossy(&output.stdout);
        assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
        assert!(!stdout.contains("Malformed"), "{switch:?}: malformed packet:\n{stdout}");
        assert!(!stdout.contains("Expert Info (Error"), "{switch:?}: decode error:\n{stdout}");
        for needle in [
            "Message type: SETUP (0x05)",
            "Message type: CONNECT (0x07)",
            "Message type: CONNECT ACKNOWLEDGE (0x0f)",
            "Message type: STATUS ENQUIRY (0x75)",
            "Message type: STATUS (0x7d)",
            "Message type: DISCONNECT (0x45)",
            "Message type: RELEASE (0x4d)",
            "Message type: RELEASE COMPLETE (0x5a)",
            "Message type: RESTART (0x46)",
            "Message type: RESTART ACKNOWLEDGE (0x4e)",
            "Calling party number: '3035550100'",
            "Called party number: '2125551234'",
            "Cause value: Normal call clearing (16)",
            "Cause value: Response to STATUS ENQUIRY (30)",
        ] {
            assert!(stdout.contains(needle), "{switch:?}: no {needle:?} in:\n{stdout}");
        }
    }
}
