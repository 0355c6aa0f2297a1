//! DAHDI devices (cards) and span assignment, following dahdi-base.c.
//!
//! A device is registered with its spans unnumbered. With
//! `auto_assign_spans` (the module parameter) its spans are assigned at
//! once, each at the first free span number and channel range
//! (`_assign_spanno_and_basechan`); otherwise they stay unassigned,
//! invisible to SPANSTAT, GET_PARAMS and the device files, until user space
//! writes `assign_span` ("local:spanno:basechan", checked as
//! `_check_spanno_and_basechan` does) or `auto_assign` in sysfs.
//! `unassign_span` takes a span away again: its channels' open files are
//! cut off (every operation fails with ENODEV, the kernel's `nodev_fops`),
//! its channels are unconfigured and it loses its numbers.
//!
//! Every registration change queues the uevent the kernel would send
//! ([`Dahdi::uevents`]); the simulator delivers them to a hotplug program
//! outside the model lock.

use std::time::Duration;

use super::chan::{Chan, Wiring};
use super::k::*;
use super::span::{SpanFar, SpanKind};
use super::{Dahdi, Handle, SpanSpec};
use tandem_dsp::g711::Law;

/// Description of one device (card) for [`Dahdi::with_devices`].
pub struct DeviceSpec {
    /// Card model, e.g. "te420p".
    pub model: String,
    /// sysfs name of the device, e.g. "pci:0000:00:01.0".
    pub name: String,
    /// Path of its parent below `/sys/devices`, e.g. "pci0000:00/0000:00:01.0".
    pub parent: String,
    pub hardware_id: String,
    pub location: String,
    pub manufacturer: String,
    pub devicetype: String,
    /// Its spans, in local order (local span 1 first).
    pub spans: Vec<SpanSpec>,
}

/// A DAHDI device (`struct dahdi_device`).
pub struct Device {
    pub model: String,
    pub name: String,
    pub parent: String,
    pub hardware_id: String,
    pub location: String,
    pub manufacturer: String,
    pub devicetype: String,
    /// Span indices, in local order.
    pub spans: Vec<usize>,
    /// Plugged in (registered); an unplugged device has no sysfs entry and no spans.
    pub present: bool,
    /// `ktime_get()` (CLOCK_MONOTONIC) at registration.
    pub registration_time: Duration,
}

impl Device {
    /// The device's DEVPATH (below /sys), e.g. `/devices/pci0000:00/0000:00:01.0/pci:0000:00:01.0`.
    pub fn devpath(&self) -> String {
        format!("/devices/{}/{}", self.parent, self.name)
    }
}

/// A uevent, as the kernel sends it (ACTION, SUBSYSTEM, DEVPATH, SEQNUM and
/// the bus's variables).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Uevent {
    pub seqnum: u64,
    /// "add", "remove", "offline", "change"…
    pub action: String,
    /// "dahdi_devices" or "dahdi_spans".
    pub subsystem: &'static str,
    /// Relative to the sysfs root, with a leading slash.
    pub devpath: String,
    /// The bus's variables (DAHDI_DEVICE_HWID…, SPAN_NUM…), in the kernel's order.
    pub vars: Vec<(&'static str, String)>,
}

impl Uevent {
    /// The whole environment udev gives a RUN program for this event.
    pub fn env(&self) -> Vec<(String, String)> {
        let mut v = vec![
            ("ACTION".to_string(), self.action.clone()),
            ("DEVPATH".to_string(), self.devpath.clone()),
            ("SUBSYSTEM".to_string(), self.subsystem.to_string()),
        ];
        v.extend(self.vars.iter().map(|(k, val)| (k.to_string(), val.clone())));
        v.push(("SEQNUM".to_string(), self.seqnum.to_string()));
        v
    }
}

/// Uevents kept when nobody drains [`Dahdi::uevents`] (the oldest are dropped).
pub const UEVENT_CAP: usize = 10_000;

/// dahdi-sysfs.c: `tools_rootdir` defaults to "" and `initdir` to /usr/share/dahdi.
const TOOLS_ROOTDIR: &str = "";
const INIT_DIR: &str = "/usr/share/dahdi";

/// What a channel is when the card is (re)plugged: enough to rebuild it.
pub(super) struct ChanInit {
    pub span: usize,
    pub pos: u32,
    pub name: String,
    pub wiring: Wiring,
    pub sigcap: u32,
    pub law: Law,
}

impl ChanInit {
    pub fn build(&self) -> Chan {
        Chan::new(0, Some(self.span), self.pos, self.name.clone(), self.wiring, self.sigcap, self.law)
    }
}

/// CLOCK_MONOTONIC now, as `ktime_get()`.
pub fn monotonic_now() -> Duration {
    nix::time::clock_gettime(nix::time::ClockId::CLOCK_MONOTONIC).map(|t| Duration::new(t.tv_sec() as u64, t.tv_nsec() as u32)).unwrap_or_default()
}

impl Dahdi {
    // ---- lookups ----------------------------------------------------------

    /// Span indices of the assigned spans, in span-number order (the kernel's `span_list`).
    pub fn span_list(&self) -> Vec<usize> {
        self.span_map.values().copied().collect()
    }

    /// The span of a device by local span number.
    pub fn local_span(&self, dev: usize, local: u32) -> Option<usize> {
        let d = self.devices.get(dev)?;
        d.spans.iter().copied().find(|&si| self.spans[si].local == local)
    }

    /// `dahdi_is_sync_master`.
    pub fn is_sync_master(&self, si: usize) -> bool {
        self.master == Some(si)
    }

    /// The DEVPATH of a span's device directory (`.../<device>/span-N`), while assigned.
    pub fn span_devpath(&self, si: usize) -> Option<String> {
        let s = &self.spans[si];
        s.assigned().then(|| format!("{}/span-{}", self.devices[s.device].devpath(), s.spanno))
    }

    // ---- uevents ------------------------------------------------------------

    fn push_uevent(&mut self, action: &str, subsystem: &'static str, devpath: String, vars: Vec<(&'static str, String)>) {
        self.seqnum += 1;
        if self.uevents.len() >= UEVENT_CAP {
            self.uevents.remove(0);
        }
        self.uevents.push(Uevent { seqnum: self.seqnum, action: action.to_string(), subsystem, devpath, vars });
    }

    /// The variables of a device's uevents (dahdi-sysfs.c `DEVICE_VAR_BLOCK`).
    pub fn device_uevent_vars(&self, dev: usize) -> Vec<(&'static str, String)> {
        let d = &self.devices[dev];
        vec![
            ("DAHDI_TOOLS_ROOTDIR", TOOLS_ROOTDIR.to_string()),
            ("DAHDI_INIT_DIR", format!("{TOOLS_ROOTDIR}/{INIT_DIR}")),
            ("DAHDI_DEVICE_HWID", d.hardware_id.clone()),
            ("DAHDI_DEVICE_LOCATION", d.location.clone()),
        ]
    }

    /// The variables of a span's uevents (dahdi-sysfs.c `SPAN_VAR_BLOCK`);
    /// SPAN_NUM is the span's current number (0 once it is being unassigned).
    pub fn span_uevent_vars(&self, si: usize) -> Vec<(&'static str, String)> {
        let s = &self.spans[si];
        vec![
            ("DAHDI_TOOLS_ROOTDIR", TOOLS_ROOTDIR.to_string()),
            ("DAHDI_INIT_DIR", format!("{TOOLS_ROOTDIR}/{INIT_DIR}")),
            ("SPAN_NUM", s.spanno.to_string()),
            ("SPAN_NAME", s.name.clone()),
        ]
    }

    /// A uevent on a device (e.g. `echo change > uevent`).
    pub fn device_uevent(&mut self, dev: usize, action: &str) {
        let vars = self.device_uevent_vars(dev);
        let path = self.devices[dev].devpath();
        self.push_uevent(action, "dahdi_devices", path, vars);
    }

    /// A uevent on an assigned span.
    pub fn span_uevent(&mut self, si: usize, action: &str) {
        if let Some(path) = self.span_devpath(si) {
            let vars = self.span_uevent_vars(si);
            self.push_uevent(action, "dahdi_spans", path, vars);
        }
    }

    /// Take the queued uevents, oldest first.
    pub fn take_uevents(&mut self) -> Vec<Uevent> {
        std::mem::take(&mut self.uevents)
    }

    // ---- the master span ----------------------------------------------------

    /// `__dahdi_find_master_span`, literally (including its preference for
    /// moving away from the current master).
    pub(super) fn find_master(&mut self) {
        let old = self.master;
        for si in self.span_list() {
            let s = &self.spans[si];
            if s.alarms != 0 && old.is_some() {
                continue;
            }
            if s.is_digital() && !s.running && old.is_some() {
                continue;
            }
            if self.master == Some(si) {
                continue;
            }
            self.master = Some(si);
            break;
        }
    }

    // ---- assignment ---------------------------------------------------------

    /// First channel number of the span at `list[k]` or of the first span
    /// after it that has channels (`_get_next_channo`), as u32::MAX for none (-1).
    fn next_channo(&self, list: &[usize], k: usize) -> u32 {
        list[k..].iter().map(|&i| &self.spans[i]).find(|s| s.nchans > 0).map(|s| s.first_chan).unwrap_or(u32::MAX)
    }

    /// `_assign_spanno_and_basechan`: the first place the span fits.
    fn first_free_place(&self, nchans: u32) -> (u32, u32) {
        let list = self.span_list();
        let (mut spanno, mut basechan) = (1u32, 1u32);
        for (k, &p) in list.iter().enumerate() {
            let pos = &self.spans[p];
            if pos.spanno <= spanno {
                spanno = pos.spanno + 1;
                basechan = pos.first_chan + pos.nchans;
                continue;
            }
            let next = self.next_channo(&list, k);
            if u64::from(basechan) + u64::from(nchans) <= u64::from(next) {
                break;
            }
            spanno = pos.spanno + 1;
            if pos.nchans > 0 {
                basechan = pos.first_chan + pos.nchans;
            }
        }
        (spanno, basechan)
    }

    /// `_check_spanno_and_basechan`: may the span go at `spanno` / `basechan`?
    fn check_place(&self, spanno: u32, basechan: u32, nchans: u32) -> Result<(), i32> {
        let list = self.span_list();
        for (k, &p) in list.iter().enumerate() {
            let pos = &self.spans[p];
            let next = self.next_channo(&list, k);
            if pos.spanno <= spanno {
                // The requested basechan would break the channel order.
                if u64::from(basechan) < u64::from(next) + u64::from(pos.nchans) {
                    return Err(libc::EINVAL);
                }
                continue;
            }
            if next == u32::MAX {
                break;
            }
            if u64::from(basechan) + u64::from(nchans) <= u64::from(next) {
                break;
            }
            // Cannot fit the span into the requested location.
            return Err(libc::EINVAL);
        }
        Ok(())
    }

    /// `dahdi_assign_span`: give span `si` a number and channel numbers
    /// (`spanno` 0 = the first free place, `basechan` ignored). Errors are
    /// the errno `assign_span` returns to its writer.
    pub fn assign_span(&mut self, si: usize, spanno: u32, basechan: u32) -> Result<(), i32> {
        let s = &self.spans[si];
        if !self.devices[s.device].present {
            return Err(libc::ENODEV);
        }
        if s.assigned() {
            // "local span %d is already assigned span %d"
            return Err(libc::EINVAL);
        }
        let n = s.nchans;
        let (spanno, basechan) = if spanno == 0 {
            self.first_free_place(n)
        } else {
            self.check_place(spanno, basechan, n)?;
            (spanno, basechan)
        };
        // The simulator's limits (DAHDI_MAX_SPANS, DAHDI_MAX_CHANNELS of the
        // user-space headers); the kernel itself has none.
        if spanno > MAX_SPANS || basechan == 0 || u64::from(basechan) + u64::from(n) - 1 > u64::from(MAX_CHANNELS) {
            return Err(libc::EINVAL);
        }
        if self.span_map.contains_key(&spanno) {
            // The check above lets a second span with the same number through
            // when its channels come after the first's; the kernel then fails
            // to create /proc/dahdi/<spanno> and returns EFAULT.
            return Err(libc::EFAULT);
        }
        let base = self.spans[si].chan_base;
        {
            let s = &mut self.spans[si];
            s.spanno = spanno;
            s.first_chan = basechan;
            if s.kind == SpanKind::Analog {
                s.running = true;
            }
        }
        for k in 0..n as usize {
            let channo = basechan + k as u32;
            self.chans[base + k].channo = channo;
            self.chan_map.insert(channo, base + k);
        }
        self.span_map.insert(spanno, si);
        // DAHDI_ALARM_NOTOPEN is cleared on (re)assignment; the driver's own
        // alarms come back.
        if self.spans[si].alarms & ALARM_NOTOPEN != 0 {
            let restored = self.spans[si].saved_alarms;
            self.set_span_alarms(si, restored);
        }
        self.find_master();
        self.recompute_sync();
        self.span_uevent(si, "add");
        Ok(())
    }

    /// `dahdi_unassign_span`: disable the span (NOTOPEN, DAHDI_EVENT_REMOVED),
    /// cut off its channels' open files, shut it down and take its numbers away.
    pub fn unassign_span(&mut self, si: usize) -> Result<(), i32> {
        if !self.spans[si].assigned() {
            // "local span %d is already unassigned"
            return Err(libc::EINVAL);
        }
        // disable_span()
        if self.spans[si].alarms & ALARM_NOTOPEN == 0 {
            self.spans[si].saved_alarms = self.spans[si].alarms;
        }
        for i in self.spans[si].hw_range() {
            self.chans[i].qevent(EVENT_REMOVED);
        }
        self.set_span_alarms(si, ALARM_NOTOPEN);
        // The channels' open files now get ENODEV for everything (nodev_fops).
        for i in self.spans[si].hw_range() {
            if let Some(fh) = self.chans[i].open_fh {
                if let Some(h) = self.handles.get_mut(&fh) {
                    h.0 = Handle::Gone;
                }
                self.mark(fh);
                self.chans[i].close();
            }
            let channo = self.chans[i].channo;
            self.chan_map.remove(&channo);
            self.chans[i].channo = 0;
            // dahdi_shutdown_span(): unconfigure the channels.
            self.chans[i].sig = SIG_NONE;
        }
        let spanno = self.spans[si].spanno;
        // The span's uevents are sent after its number is cleared (SPAN_NUM=0),
        // from the directory it had.
        let devpath = self.span_devpath(si).unwrap_or_default();
        self.span_map.remove(&spanno);
        {
            let s = &mut self.spans[si];
            s.spanno = 0;
            s.first_chan = 0;
            s.running = false;
        }
        // _dahdi_unassign_span()'s choice of a new master, literally.
        let mut new_master = if self.master == Some(si) { None } else { self.master };
        for s in self.span_list() {
            if Some(s) == new_master {
                continue;
            }
            new_master = Some(s);
            break;
        }
        self.master = new_master;
        self.recompute_sync();
        let vars = self.span_uevent_vars(si);
        self.push_uevent("offline", "dahdi_spans", devpath.clone(), vars.clone());
        self.push_uevent("remove", "dahdi_spans", devpath, vars);
        Ok(())
    }

    /// `dahdi_assign_device_spans` (sysfs `auto_assign`): assign every
    /// unassigned span of the device at the first free place.
    pub fn auto_assign_device(&mut self, dev: usize) {
        for si in self.devices[dev].spans.clone() {
            if !self.spans[si].assigned() {
                let _ = self.assign_span(si, 0, 0);
            }
        }
    }

    /// Hot-unplug a card (`dahdi_unregister_device`): its spans are
    /// unassigned (open channels get ENODEV) and the device disappears.
    pub fn unplug_device(&mut self, dev: usize) -> Result<(), String> {
        if !self.devices[dev].present {
            return Err("the card is already unplugged".into());
        }
        for si in self.devices[dev].spans.clone() {
            if self.spans[si].assigned() {
                let _ = self.unassign_span(si);
            }
        }
        self.device_uevent(dev, "remove");
        self.devices[dev].present = false;
        Ok(())
    }

    /// Plug a card back in (`dahdi_register_device`): fresh hardware state,
    /// a device "add" uevent, and with `auto_assign_spans` its spans assigned.
    pub fn plug_device(&mut self, dev: usize) -> Result<(), String> {
        if self.devices[dev].present {
            return Err("the card is already plugged in".into());
        }
        for si in self.devices[dev].spans.clone() {
            for i in self.spans[si].hw_range() {
                self.chans[i] = self.chan_init[i].build();
            }
            let s = &mut self.spans[si];
            s.lineconfig = default_lineconfig(s.kind);
            s.lbo = 0;
            s.sync_prio = 0;
            s.syncsrc = 0;
            s.counters = Default::default();
            s.running = false;
            s.maint = 0;
            s.alarms = if s.far == SpanFar::None { ALARM_RED | ALARM_LOS } else { 0 };
            s.saved_alarms = s.alarms;
        }
        self.register_device(dev);
        Ok(())
    }

    /// `_dahdi_register_device`: the device appears, then (with
    /// `auto_assign_spans`) its spans are assigned in order.
    pub(super) fn register_device(&mut self, dev: usize) {
        self.devices[dev].present = true;
        self.devices[dev].registration_time = monotonic_now();
        self.device_uevent(dev, "add");
        if self.auto_assign {
            for si in self.devices[dev].spans.clone() {
                let _ = self.assign_span(si, 0, 0);
            }
        }
    }
}

/// The line configuration a span starts with.
pub fn default_lineconfig(kind: SpanKind) -> u32 {
    match kind {
        SpanKind::T1 | SpanKind::J1 => CONFIG_ESF | CONFIG_B8ZS,
        SpanKind::E1 => CONFIG_HDB3 | CONFIG_CCS | CONFIG_CRC4,
        SpanKind::Analog => 0,
    }
}

/// `lineconfig_str` (dahdi-base.c): "ESF/B8ZS", "CCS/HDB3/CRC4", "" for none.
pub fn lineconfig_str(lineconfig: u32) -> String {
    let mut parts: Vec<&str> = Vec::new();
    let (mut framing, mut coding, mut crc4) = (false, false, false);
    for bit in 4..=12 {
        let mask = 1u32 << bit;
        if lineconfig & mask == 0 {
            continue;
        }
        if !framing && (mask == CONFIG_B8ZS || mask == CONFIG_AMI || mask == CONFIG_HDB3) {
            framing = true;
            parts.extend(lineconfig_bit_name(bit));
        }
        if !coding && (mask == CONFIG_ESF || mask == CONFIG_D4 || mask == CONFIG_CCS) {
            coding = true;
            parts.extend(lineconfig_bit_name(bit));
        }
        if !crc4 && mask == CONFIG_CRC4 {
            crc4 = true;
            parts.extend(lineconfig_bit_name(bit));
        }
    }
    parts.join("/")
}

/// `dahdi_lineconfig_bit_name`.
pub fn lineconfig_bit_name(bit: u32) -> Option<&'static str> {
    Some(match bit {
        4 => "D4",
        5 => "ESF",
        6 => "AMI",
        7 => "B8ZS",
        8 => "CCS",
        9 => "HDB3",
        10 => "CRC4",
        11 => "NTTE",
        12 => "TERM",
        16 => "NOTOPEN",
        _ => return None,
    })
}

/// The `linecompat` attribute: bit names 4–12, space-separated.
pub fn linecompat_str(linecompat: u32) -> String {
    (4..=12).filter(|b| linecompat & (1 << b) != 0).filter_map(lineconfig_bit_name).collect::<Vec<_>>().join(" ")
}
