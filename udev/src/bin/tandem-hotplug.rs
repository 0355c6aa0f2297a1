//! `tandem-hotplug`: run by udev when a DAHDI card or span appears or goes
//! away (see udev/rules/60-tandem-dahdi.rules).
//!
//! It reads the event from the environment udev sets (ACTION, SUBSYSTEM,
//! DEVPATH, DAHDI_DEVICE_HWID, DAHDI_DEVICE_LOCATION, SPAN_NUM), assigns the
//! card's spans from the configured assignments, applies span
//! configuration, and tells a running tandem. Paths can be overridden for
//! testing with TANDEM_SYSFS_ROOT, TANDEM_DEVICE_DIR, TANDEM_CONTROL_SOCKET
//! and TANDEM_ASSIGNED_SPANS (default /etc/dahdi/assigned-spans.conf).

use std::path::PathBuf;
use std::process::ExitCode;

use tandem_udev::assign::parse_assigned_spans_conf;
use tandem_udev::{HotplugConfig, UdevEvent, execute, plan};

fn main() -> ExitCode {
    if std::env::args().any(|a| a == "--help" || a == "-h") {
        println!(
            "tandem-hotplug: udev RUN helper for DAHDI cards\n\n\
             Environment (set by udev): ACTION, SUBSYSTEM (dahdi_devices|dahdi_spans), DEVPATH,\n\
             DAHDI_DEVICE_HWID, DAHDI_DEVICE_LOCATION, SPAN_NUM.\n\
             Overrides: TANDEM_SYSFS_ROOT (/sys), TANDEM_DEVICE_DIR (/dev/dahdi),\n\
             TANDEM_CONTROL_SOCKET (/run/tandem/tandem.sock),\n\
             TANDEM_ASSIGNED_SPANS (/etc/dahdi/assigned-spans.conf).\n\
             Prints one line per action; exits non-zero if a sysfs write fails."
        );
        return ExitCode::SUCCESS;
    }
    let var = |k: &str, d: &str| std::env::var(k).unwrap_or_else(|_| d.to_string());
    let ev = match UdevEvent::from_env(std::env::vars()) {
        Ok(e) => e,
        Err(e) => {
            eprintln!("tandem-hotplug: {e}");
            return ExitCode::from(2);
        }
    };
    let assigned = var("TANDEM_ASSIGNED_SPANS", "/etc/dahdi/assigned-spans.conf");
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
    let cfg = HotplugConfig {
        sysfs_root: PathBuf::from(var("TANDEM_SYSFS_ROOT", "/sys")),
        device_dir: PathBuf::from(var("TANDEM_DEVICE_DIR", tandem_drivers::DEFAULT_DEVICE_DIR)),
        control_socket: Some(PathBuf::from(var("TANDEM_CONTROL_SOCKET", "/run/tandem/tandem.sock"))),
        assignments,
        configure_spans: false,
    };
    let actions = plan(&ev, &cfg);
    match execute(&actions, &cfg, &|_| Ok(())) {
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
