//! `tandem-hotplug`: run by udev when a DAHDI card or span appears or goes
//! away (see udev/rules/60-tandem-dahdi.rules).
//!
//! It reads the event from the environment udev sets, assigns a new card's
//! spans from assigned-spans.conf, configures a newly assigned span from the
//! `[dahdi]` section of tandem.toml, and tells a running tandem. See
//! `--help` for the variables.

use std::path::PathBuf;
use std::process::ExitCode;

use tandem_udev::assign::parse_assigned_spans_conf;
use tandem_udev::{HotplugConfig, UdevEvent, execute, plan};

const DEFAULT_CONFIG: &str = "/etc/tandem/tandem.toml";
const DEFAULT_ASSIGNED: &str = "/etc/dahdi/assigned-spans.conf";
const DEFAULT_SOCKET: &str = "/run/tandem/tandem.sock";

const HELP: &str = "\
tandem-hotplug: udev RUN helper for DAHDI cards (see 60-tandem-dahdi.rules)

usage: tandem-hotplug            (the event comes from the environment)
       tandem-hotplug --help

What it does, by event:
  SUBSYSTEM=dahdi_devices ACTION=add
      Unless DAHDI's auto_assign_spans parameter is set (then the spans are
      numbered already and nothing is written), assign the card's spans:
      for each line of the assignments file naming the card (by hardware id,
      @location or sysfs path) write local:span:basechan to
      $TANDEM_SYSFS_ROOT/$DEVPATH/assign_span; with no such line write 1 to
      its auto_assign. Then tell tandem: device.add.
  SUBSYSTEM=dahdi_spans ACTION=add (a span got its number)
      Apply that span's [[dahdi.span]] table of the [dahdi] section of the
      configuration (validated against the hardware first; other spans are
      left alone; a span the file does not mention is not touched), then
      tell tandem: span.up.
  SUBSYSTEM=dahdi_spans ACTION=remove      tell tandem: span.down.
  SUBSYSTEM=dahdi_devices ACTION=remove    tell tandem: device.remove.
  Anything else (offline, change...) is logged and skipped.
Telling tandem is one JSON line, {\"op\", \"span\", \"device\"}, on its control
socket; a tandem that is not running is not an error.

Environment set by udev:
  ACTION, SUBSYSTEM, DEVPATH (below the sysfs root), DAHDI_DEVICE_HWID and
  DAHDI_DEVICE_LOCATION (devices), SPAN_NUM and SPAN_NAME (spans; for a
  removed span SPAN_NUM is 0 and the number comes from DEVPATH's span-N).
Settings (environment):
  TANDEM_CONFIG           tandem.toml (default /etc/tandem/tandem.toml, used
                          if it exists; when set, it must exist)
  TANDEM_ASSIGNED_SPANS   assignments (default /etc/dahdi/assigned-spans.conf)
  TANDEM_CONTROL_SOCKET   tandem's control socket (default /run/tandem/tandem.sock)
  TANDEM_SYSFS_ROOT       sysfs root (default /sys)
  TANDEM_DEVICE_DIR       DAHDI device directory for configuring spans
                          (default: the config's device_dir, else /dev/dahdi)

Prints one line per action. Exit status: 0 done; 1 a sysfs write or the span
configuration failed; 2 bad environment or unreadable assignments file.";

fn main() -> ExitCode {
    if std::env::args().skip(1).any(|a| a == "--help" || a == "-h") {
        println!("{HELP}");
        return ExitCode::SUCCESS;
    }
    if let Some(a) = std::env::args().nth(1) {
        eprintln!("tandem-hotplug: unexpected argument {a:?}; it takes none (see --help)");
        return ExitCode::from(2);
    }
    let var = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
    let ev = match UdevEvent::from_env(std::env::vars()) {
        Ok(e) => e,
        Err(e) => {
            eprintln!("tandem-hotplug: {e}");
            return ExitCode::from(2);
        }
    };
    let assigned = var("TANDEM_ASSIGNED_SPANS").unwrap_or_else(|| DEFAULT_ASSIGNED.into());
    let assignments = match std::fs::read_to_string(&assigned) {
        Ok(text) => match parse_assigned_spans_conf(&text, &assigned) {
            Ok(a) => a,
            Err(e) => {
                eprintln!("tandem-hotplug: {e}");
                return ExitCode::from(2);
            }
        },
        Err(_) => Vec::new(),
    };
    let config: Option<PathBuf> = match var("TANDEM_CONFIG") {
        Some(p) => Some(PathBuf::from(p)),
        None => Some(PathBuf::from(DEFAULT_CONFIG)).filter(|p| p.exists()),
    };
    let device_dir = var("TANDEM_DEVICE_DIR").map(PathBuf::from);
    let cfg = HotplugConfig {
        sysfs_root: PathBuf::from(var("TANDEM_SYSFS_ROOT").unwrap_or_else(|| "/sys".into())),
        device_dir: device_dir.clone().unwrap_or_else(|| PathBuf::from(tandem_drivers::DEFAULT_DEVICE_DIR)),
        control_socket: Some(PathBuf::from(var("TANDEM_CONTROL_SOCKET").unwrap_or_else(|| DEFAULT_SOCKET.into()))),
        assignments,
        configure_spans: config.is_some(),
    };
    let actions = plan(&ev, &cfg);
    let configure = |span: u32| match &config {
        Some(path) => tandem_udev::configure::configure_span(path, device_dir.as_deref(), span),
        None => Ok(format!("no configuration; span {span} left as it is")),
    };
    match execute(&actions, &cfg, &configure) {
        Ok(log) => {
            for l in log {
                println!("tandem-hotplug: {} {}: {l}", ev.action, ev.devpath);
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("tandem-hotplug: {} {}: {e}", ev.action, ev.devpath);
            ExitCode::FAILURE
        }
    }
}
