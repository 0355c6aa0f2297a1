//! Print the configuration DAHDI reports, as JSON: for each span its line
//! configuration (SPANSTAT: type, framing, coding, CRC-4, LBO, timing
//! source, alarms), for each channel its signalling and law (GET_PARAMS).
//!
//! ```text
//! cargo run -p tandem-drivers --example dahdi_dump [-- <device dir>]
//! scripts/sim-ns.sh examples/dahdi/sample.sim.toml -- \
//!     sh -c 'dahdi_cfg -c examples/dahdi/full-system.conf && target/debug/examples/dahdi_dump'
//! ```
//!
//! The device directory defaults to `/dev/dahdi`.

use std::path::PathBuf;
use std::process::ExitCode;

use tandem_drivers::Ctl;
use tandem_drivers::config::ConfiguredState;

fn main() -> ExitCode {
    let dir: PathBuf = std::env::args_os().nth(1).map(PathBuf::from).unwrap_or_else(|| tandem_drivers::DEFAULT_DEVICE_DIR.into());
    let state = Ctl::open(&dir).and_then(|ctl| ConfiguredState::read(&ctl));
    match state {
        Ok(s) => {
            println!("{}", serde_json::to_string_pretty(&s).expect("state serializes"));
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("dahdi_dump: {e}");
            ExitCode::FAILURE
        }
    }
}
