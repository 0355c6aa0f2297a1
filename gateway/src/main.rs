//! `tandem`: the TDM-to-SIP gateway's daemon and operator CLI.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use tandem_drivers::Discovery;
use tandem_gateway::cli::status;

/// Tandem: an open-source TDM-to-SIP media gateway.
#[derive(Parser, Debug)]
#[command(name = "tandem", version)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// List spans: type, framing/coding, alarms, timing source, error counters and channel roles.
    Spans(ShowArgs),
    /// List channels: role (signalling, in Tandem's naming), hook state, law, ABCD bits and alarms.
    Channels(ShowArgs),
}

#[derive(clap::Args, Debug)]
struct ShowArgs {
    /// DAHDI device directory (a tandem-sim mount works too).
    #[arg(long, default_value = tandem_drivers::DEFAULT_DEVICE_DIR)]
    device_dir: PathBuf,
    /// sysfs root, for DAHDI's span and device attributes where present.
    #[arg(long, default_value = "/sys")]
    sysfs: PathBuf,
    /// Print JSON instead of a table.
    #[arg(long)]
    json: bool,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("tandem: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> Result<(), String> {
    match cli.command {
        Command::Spans(a) => {
            let inv = Discovery { device_dir: a.device_dir, sysfs_root: a.sysfs }.scan().map_err(|e| e.to_string())?;
            if a.json {
                println!("{}", serde_json::to_string_pretty(&status::spans_json(&inv)).unwrap_or_default());
            } else {
                print!("{}", status::spans_text(&inv));
            }
        }
        Command::Channels(a) => {
            let inv = Discovery { device_dir: a.device_dir, sysfs_root: a.sysfs }.scan().map_err(|e| e.to_string())?;
            if a.json {
                println!("{}", serde_json::to_string_pretty(&status::channels_json(&inv)).unwrap_or_default());
            } else {
                print!("{}", status::channels_text(&inv));
            }
        }
    }
    Ok(())
}
