//! What to do for one udev event, and doing it.

use std::io::Write;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::assign::{Assignment, clean};

/// The udev event, from the environment udev gives RUN programs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UdevEvent {
    /// "add", "remove", "change"…
    pub action: String,
    /// "dahdi_devices" or "dahdi_spans".
    pub subsystem: String,
    /// Kernel device path below /sys, e.g. `/devices/pci0000:00/.../pci:0000:03:00.0`.
    pub devpath: String,
    /// `DAHDI_DEVICE_HWID` (devices).
    pub hwid: Option<String>,
    /// `DAHDI_DEVICE_LOCATION` (devices).
    pub location: Option<String>,
    /// `SPAN_NUM` (spans); for "remove" (and "offline") the kernel sends
    /// SPAN_NUM=0, as it clears the number first, so the number is then
    /// taken from DEVPATH's `span-N`.
    pub span: Option<u32>,
    /// `SPAN_NAME` (spans).
    pub span_name: Option<String>,
}

/// A missing or malformed variable in the udev environment.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("udev environment: {0}")]
pub struct EnvError(pub String);

impl UdevEvent {
    /// Read the event from environment variables.
    pub fn from_env<I: IntoIterator<Item = (String, String)>>(vars: I) -> Result<UdevEvent, EnvError> {
        let mut action = None;
        let mut subsystem = None;
        let mut devpath = None;
        let mut ev =
            UdevEvent { action: String::new(), subsystem: String::new(), devpath: String::new(), hwid: None, location: None, span: None, span_name: None };
        for (k, v) in vars {
            match k.as_str() {
                "ACTION" => action = Some(v),
                "SUBSYSTEM" => subsystem = Some(v),
                "DEVPATH" => devpath = Some(v),
                "DAHDI_DEVICE_HWID" => ev.hwid = Some(v),
                "DAHDI_DEVICE_LOCATION" => ev.location = Some(v),
                "SPAN_NUM" => ev.span = Some(v.parse().map_err(|_| EnvError(format!("SPAN_NUM={v:?} is not a number")))?),
                "SPAN_NAME" => ev.span_name = Some(v),
                _ => {}
            }
        }
        ev.action = action.ok_or_else(|| EnvError("ACTION is not set (run me from udev, or set ACTION, SUBSYSTEM and DEVPATH)".into()))?;
        ev.subsystem = subsystem.ok_or_else(|| EnvError("SUBSYSTEM is not set".into()))?;
        ev.devpath = devpath.ok_or_else(|| EnvError("DEVPATH is not set".into()))?;
        if ev.subsystem == "dahdi_spans" && matches!(ev.span, None | Some(0)) {
            ev.span = ev.devpath.rsplit("span-").next().and_then(|n| n.parse().ok()).filter(|_| ev.devpath.contains("span-"));
        }
        Ok(ev)
    }
}

/// Where things are and what is configured.
#[derive(Clone, Debug)]
pub struct HotplugConfig {
    /// Root of sysfs, normally `/sys`.
    pub sysfs_root: PathBuf,
    /// DAHDI device directory, normally `/dev/dahdi`.
    pub device_dir: PathBuf,
    /// A running tandem's control socket; `None` or absent means nobody to tell.
    pub control_socket: Option<PathBuf>,
    pub assignments: Vec<Assignment>,
    /// Apply span configuration when a span is assigned.
    pub configure_spans: bool,
}

/// DAHDI's `auto_assign_spans` module parameter as sysfs shows it, if it does.
pub fn auto_assign_spans(sysfs_root: &Path) -> Option<bool> {
    let v = read_attr(&sysfs_root.join("module/dahdi/parameters"), "auto_assign_spans");
    v.parse::<i64>().ok().map(|n| n != 0)
}

/// One thing to do.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "do", rename_all = "snake_case")]
pub enum Action {
    /// Write a sysfs attribute.
    WriteAttr { path: PathBuf, value: String },
    /// Apply the configuration of span `span`.
    ConfigureSpan { span: u32 },
    /// Tell tandem: `span.up`, `span.down`, `device.add`, `device.remove`.
    Notify { op: String, span: Option<u32>, device: Option<String> },
    /// Nothing to do, and why.
    Skip { why: String },
}

fn read_attr(dir: &Path, name: &str) -> String {
    std::fs::read_to_string(dir.join(name)).unwrap_or_default().trim().to_string()
}

/// The local span numbers of a device, from its `spantype` attribute
/// (`local:type` lines) or its `span_count`.
fn local_spans(dev: &Path) -> Vec<u32> {
    let st = read_attr(dev, "spantype");
    let v: Vec<u32> = st.lines().filter_map(|l| l.split(':').next()?.trim().parse().ok()).collect();
    if !v.is_empty() {
        return v;
    }
    let n: u32 = read_attr(dev, "span_count").parse().unwrap_or(0);
    (1..=n).collect()
}

/// Decide what to do for an event.
pub fn plan(ev: &UdevEvent, cfg: &HotplugConfig) -> Vec<Action> {
    let dev = cfg.sysfs_root.join(ev.devpath.trim_start_matches('/'));
    match (ev.subsystem.as_str(), ev.action.as_str()) {
        ("dahdi_devices", "add") => {
            let hwid = ev.hwid.clone().unwrap_or_else(|| read_attr(&dev, "hardware_id"));
            let location = ev.location.clone().unwrap_or_else(|| read_attr(&dev, "location"));
            let mine: Vec<&Assignment> = cfg.assignments.iter().filter(|a| a.device.matches(&hwid, &location, &ev.devpath)).collect();
            let mut actions = Vec::new();
            if auto_assign_spans(&cfg.sysfs_root) == Some(true) {
                // As dahdi_handle_device: the driver has already assigned the spans.
                actions.push(Action::Skip { why: "auto_assign_spans=1: DAHDI assigned the spans itself".into() });
            } else if mine.is_empty() {
                actions.push(Action::WriteAttr { path: dev.join("auto_assign"), value: "1".into() });
            } else {
                let locals = local_spans(&dev);
                for a in mine {
                    if !locals.is_empty() && !locals.contains(&a.local_span) {
                        actions.push(Action::Skip { why: format!("{}: device has no local span {} (it has {:?})", a.device, a.local_span, locals) });
                        continue;
                    }
                    actions.push(Action::WriteAttr { path: dev.join("assign_span"), value: format!("{}:{}:{}", a.local_span, a.span, a.basechan) });
                }
            }
            actions.push(Action::Notify { op: "device.add".into(), span: None, device: Some(clean(&hwid)) });
            actions
        }
        ("dahdi_devices", "remove") => {
            vec![Action::Notify { op: "device.remove".into(), span: None, device: ev.hwid.as_deref().map(clean) }]
        }
        ("dahdi_spans", "add") => match ev.span {
            Some(span) => {
                let mut v = Vec::new();
                if cfg.configure_spans {
                    v.push(Action::ConfigureSpan { span });
                }
                v.push(Action::Notify { op: "span.up".into(), span: Some(span), device: None });
                v
            }
            None => vec![Action::Skip { why: "span event without SPAN_NUM".into() }],
        },
        ("dahdi_spans", "remove") => vec![Action::Notify { op: "span.down".into(), span: ev.span, device: None }],
        (s, a) => vec![Action::Skip { why: format!("nothing to do for {a} on {s}") }],
    }
}

/// Carry out the actions. `configure` applies one span's configuration and
/// says what it did. Returns a line per action for the log; fails on the
/// first write or configuration error.
pub fn execute(actions: &[Action], cfg: &HotplugConfig, configure: &dyn Fn(u32) -> Result<String, String>) -> Result<Vec<String>, String> {
    let mut log = Vec::new();
    for a in actions {
        match a {
            Action::WriteAttr { path, value } => {
                std::fs::OpenOptions::new()
                    .write(true)
                    .open(path)
                    .and_then(|mut f| f.write_all(format!("{value}\n").as_bytes()))
                    .map_err(|e| format!("{}: cannot write {value:?}: {e}", path.display()))?;
                log.push(format!("wrote {value} to {}", path.display()));
            }
            Action::ConfigureSpan { span } => {
                let done = configure(*span).map_err(|e| format!("span {span}: {e}"))?;
                log.push(done);
            }
            Action::Notify { op, span, device } => match &cfg.control_socket {
                Some(sock) if sock.exists() => {
                    let msg = serde_json::json!({"op": op, "span": span, "device": device});
                    match notify(sock, &msg) {
                        Ok(()) => log.push(format!("told tandem {msg}")),
                        // A daemon that is not listening is not a hotplug failure.
                        Err(e) => log.push(format!("could not tell tandem at {}: {e}", sock.display())),
                    }
                }
                _ => log.push(format!("no running tandem to tell about {op}")),
            },
            Action::Skip { why } => log.push(format!("skipped: {why}")),
        }
    }
    Ok(log)
}

fn notify(sock: &Path, msg: &serde_json::Value) -> std::io::Result<()> {
    let mut s = UnixStream::connect(sock)?;
    s.set_write_timeout(Some(Duration::from_secs(2)))?;
    s.write_all(format!("{msg}\n").as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::assign::DeviceKey;

    fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    fn cfg(root: &Path, assignments: Vec<Assignment>) -> HotplugConfig {
        HotplugConfig { sysfs_root: root.into(), device_dir: "/dev/dahdi".into(), control_socket: None, assignments, configure_spans: true }
    }

    #[test]
    fn a_device_with_an_assignment_gets_its_spans_assigned_by_hardware_id() {
        let tmp = tempfile::tempdir().unwrap();
        let dev = tmp.path().join("devices/pci0000:00/pci:0000:03:00.0");
        std::fs::create_dir_all(&dev).unwrap();
        std::fs::write(dev.join("spantype"), "1:T1\n2:T1\n").unwrap();
        let ev = UdevEvent::from_env(env(&[
            ("ACTION", "add"),
            ("SUBSYSTEM", "dahdi_devices"),
            ("DEVPATH", "/devices/pci0000:00/pci:0000:03:00.0"),
            ("DAHDI_DEVICE_HWID", "TE2-1"),
            ("DAHDI_DEVICE_LOCATION", "pci0000:00/0000:03:00.0"),
        ]))
        .unwrap();
        let a = |l, s, b| Assignment { device: DeviceKey::HardwareId("TE2-1".into()), local_span: l, span: s, basechan: b };
        let actions = plan(&ev, &cfg(tmp.path(), vec![a(1, 3, 49), a(2, 4, 73), a(3, 5, 97)]));
        assert_eq!(actions[0], Action::WriteAttr { path: dev.join("assign_span"), value: "1:3:49".into() });
        assert_eq!(actions[1], Action::WriteAttr { path: dev.join("assign_span"), value: "2:4:73".into() });
        assert!(matches!(&actions[2], Action::Skip { why } if why.contains("no local span 3")));
        assert!(matches!(&actions[3], Action::Notify { op, .. } if op == "device.add"));
    }

    #[test]
    fn a_device_without_an_assignment_is_auto_assigned() {
        let tmp = tempfile::tempdir().unwrap();
        let ev = UdevEvent::from_env(env(&[("ACTION", "add"), ("SUBSYSTEM", "dahdi_devices"), ("DEVPATH", "/devices/x")])).unwrap();
        let actions = plan(&ev, &cfg(tmp.path(), vec![]));
        assert_eq!(actions[0], Action::WriteAttr { path: tmp.path().join("devices/x/auto_assign"), value: "1".into() });
    }

    #[test]
    fn span_events_configure_and_notify_and_removal_notifies() {
        let tmp = tempfile::tempdir().unwrap();
        let ev = UdevEvent::from_env(env(&[("ACTION", "add"), ("SUBSYSTEM", "dahdi_spans"), ("DEVPATH", "/devices/x/span-3"), ("SPAN_NUM", "3")])).unwrap();
        let actions = plan(&ev, &cfg(tmp.path(), vec![]));
        assert_eq!(actions[0], Action::ConfigureSpan { span: 3 });
        assert_eq!(actions[1], Action::Notify { op: "span.up".into(), span: Some(3), device: None });
        let ev = UdevEvent::from_env(env(&[("ACTION", "remove"), ("SUBSYSTEM", "dahdi_spans"), ("DEVPATH", "/devices/x/span-3")])).unwrap();
        assert_eq!(plan(&ev, &cfg(tmp.path(), vec![])), vec![Action::Notify { op: "span.down".into(), span: Some(3), device: None }]);
        // The kernel's remove event says SPAN_NUM=0.
        let ev = UdevEvent::from_env(env(&[("ACTION", "remove"), ("SUBSYSTEM", "dahdi_spans"), ("DEVPATH", "/devices/x/span-12"), ("SPAN_NUM", "0")])).unwrap();
        assert_eq!(ev.span, Some(12));
    }

    #[test]
    fn with_auto_assign_spans_set_the_device_is_left_alone() {
        let tmp = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(tmp.path().join("module/dahdi/parameters")).unwrap();
        std::fs::write(tmp.path().join("module/dahdi/parameters/auto_assign_spans"), "1\n").unwrap();
        let ev = UdevEvent::from_env(env(&[("ACTION", "add"), ("SUBSYSTEM", "dahdi_devices"), ("DEVPATH", "/devices/x")])).unwrap();
        let actions = plan(&ev, &cfg(tmp.path(), vec![]));
        assert!(matches!(&actions[0], Action::Skip { why } if why.contains("auto_assign_spans=1")), "{actions:?}");
        std::fs::write(tmp.path().join("module/dahdi/parameters/auto_assign_spans"), "0\n").unwrap();
        let actions = plan(&ev, &cfg(tmp.path(), vec![]));
        assert_eq!(actions[0], Action::WriteAttr { path: tmp.path().join("devices/x/auto_assign"), value: "1".into() });
    }

    #[test]
    fn a_missing_environment_is_a_clear_error() {
        assert!(UdevEvent::from_env(env(&[("SUBSYSTEM", "dahdi_spans")])).unwrap_err().0.contains("ACTION"));
        assert!(UdevEvent::from_env(env(&[("ACTION", "add"), ("SUBSYSTEM", "x"), ("DEVPATH", "/d"), ("SPAN_NUM", "x")])).is_err());
    }
}
