//! DAHDI's sysfs, emulated: a second FUSE filesystem (`tandem-sim --sysfs
//! DIR`) laid out as the kernel's `/sys` for DAHDI, and the uevents the
//! kernel would send, delivered to a hotplug program the way udev runs its
//! RUN programs.
//!
//! ```text
//! bus/dahdi_devices/devices/<dev>   -> ../../../devices/<parent>/<dev>
//! bus/dahdi_spans/devices/span-N    -> ../../../devices/<parent>/<dev>/span-N
//! devices/<parent>/<dev>/           manufacturer type span_count hardware_id location
//!                                   auto_assign(w) assign_span(w) unassign_span(w)
//!                                   spantype(rw) registration_time uevent(rw)
//!                                   subsystem -> bus/dahdi_devices
//! devices/<parent>/<dev>/span-N/    name desc spantype local_spanno alarms lbo syncsrc
//!                                   is_digital is_sync_master basechan channels
//!                                   lineconfig linecompat uevent(rw)
//!                                   ddev -> ..   subsystem -> bus/dahdi_spans
//! module/dahdi/parameters/auto_assign_spans (rw)
//! ```
//!
//! Values are printed as dahdi-sysfs.c prints them. A write acts on the
//! model at once and its error (EINVAL, EFAULT…) is the writer's errno, as
//! with the kernel's store functions. `<parent>` is the card's PCI slot,
//! `pci0000:00/0000:00:NN.0`, and `<dev>` is `pci:0000:00:NN.0` (NN = card
//! number in hex), the name DAHDI gives a device (`<bus>:<parent name>`).
//!
//! Nothing is cached by the kernel (entry and attribute TTLs are 0) and
//! attribute files use direct I/O, so every read shows the model as it is.
//!
//! Differences from the kernel: `spantype` and `registration_time` are named
//! as dahdi-tools expect (the 4.13+ code names them `dahdi_spantype` and
//! `dahdi_registration_time`; dahdi_span_assignments reads either);
//! `spantype` can only switch a digital span between T1 and J1 (the
//! simulated framers cannot change their channel count); there are no
//! `power/`, `driver` or class `dahdi_channels` entries.

use std::collections::HashMap;
use std::ffi::OsStr;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant, SystemTime};

use fuser::{
    BsdFileFlags, Errno, FileAttr, FileHandle, FileType, Filesystem, FopenFlags, INodeNo, LockOwner, OpenFlags, ReplyAttr, ReplyData, ReplyDirectory,
    ReplyEmpty, ReplyEntry, ReplyOpen, ReplyWrite, Request, TimeOrNow, WriteFlags,
};
use parking_lot::Mutex;

use crate::fs::State;
use crate::model::device::{linecompat_str, lineconfig_str};
use crate::model::span::SpanKind;
use crate::model::{Dahdi, Uevent};

const TTL: Duration = Duration::ZERO;
/// sysfs reports every attribute as one page long.
const ATTR_SIZE: u64 = 4096;

/// What a path is.
enum Entry {
    Dir(Vec<(String, FileType)>),
    /// An attribute: its mode (0444, 0200, 0644).
    File(u16),
    Symlink(String),
}

/// Where a path leads, parsed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Target {
    DevAttr(usize, DevAttr),
    SpanAttr(usize, SpanAttr),
    AutoAssignParam,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum DevAttr {
    Manufacturer,
    Type,
    SpanCount,
    HardwareId,
    Location,
    AutoAssign,
    AssignSpan,
    UnassignSpan,
    Spantype,
    RegistrationTime,
    Uevent,
}

const DEV_ATTRS: &[(&str, DevAttr, u16)] = &[
    ("manufacturer", DevAttr::Manufacturer, 0o444),
    ("type", DevAttr::Type, 0o444),
    ("span_count", DevAttr::SpanCount, 0o444),
    ("hardware_id", DevAttr::HardwareId, 0o444),
    ("location", DevAttr::Location, 0o444),
    ("auto_assign", DevAttr::AutoAssign, 0o200),
    ("assign_span", DevAttr::AssignSpan, 0o200),
    ("unassign_span", DevAttr::UnassignSpan, 0o200),
    ("spantype", DevAttr::Spantype, 0o644),
    ("registration_time", DevAttr::RegistrationTime, 0o444),
    ("uevent", DevAttr::Uevent, 0o644),
];

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum SpanAttr {
    Name,
    Desc,
    Spantype,
    LocalSpanno,
    Alarms,
    Lbo,
    Syncsrc,
    IsDigital,
    IsSyncMaster,
    Basechan,
    Channels,
    Lineconfig,
    Linecompat,
    Uevent,
}

const SPAN_ATTRS: &[(&str, SpanAttr, u16)] = &[
    ("name", SpanAttr::Name, 0o444),
    ("desc", SpanAttr::Desc, 0o444),
    ("spantype", SpanAttr::Spantype, 0o444),
    ("local_spanno", SpanAttr::LocalSpanno, 0o444),
    ("alarms", SpanAttr::Alarms, 0o444),
    ("lbo", SpanAttr::Lbo, 0o444),
    ("syncsrc", SpanAttr::Syncsrc, 0o444),
    ("is_digital", SpanAttr::IsDigital, 0o444),
    ("is_sync_master", SpanAttr::IsSyncMaster, 0o444),
    ("basechan", SpanAttr::Basechan, 0o444),
    ("channels", SpanAttr::Channels, 0o444),
    ("lineconfig", SpanAttr::Lineconfig, 0o444),
    ("linecompat", SpanAttr::Linecompat, 0o444),
    ("uevent", SpanAttr::Uevent, 0o644),
];

/// `dahdi_spantype2str` of a simulated span.
fn spantype_name(k: SpanKind) -> &'static str {
    k.type_str()
}

/// The components of a present device's directory below the sysfs root.
fn dev_components(d: &Dahdi, dev: usize) -> Vec<String> {
    let dv = &d.devices[dev];
    let mut v = vec!["devices".to_string()];
    v.extend(dv.parent.split('/').filter(|c| !c.is_empty()).map(str::to_string));
    v.push(dv.name.clone());
    v
}

fn ups(n: usize) -> String {
    "../".repeat(n)
}

/// The assigned span of a device by its directory name `span-N`.
fn span_by_dirname(d: &Dahdi, dev: usize, name: &str) -> Option<usize> {
    let n: i32 = name.strip_prefix("span-")?.parse().ok()?;
    let si = d.span_index(n)?;
    (d.spans[si].device == dev).then_some(si)
}

/// What `path` (components below the sysfs root) is, and what it acts on.
fn resolve(d: &Dahdi, path: &[&str]) -> Option<(Entry, Option<Target>)> {
    use FileType::{Directory as D, RegularFile as F, Symlink as L};
    let dir = |v: Vec<(&str, FileType)>| Some((Entry::Dir(v.into_iter().map(|(n, t)| (n.to_string(), t)).collect()), None));
    let present: Vec<usize> = (0..d.devices.len()).filter(|&i| d.devices[i].present).collect();
    match path {
        [] => dir(vec![("bus", D), ("devices", D), ("module", D)]),
        ["bus"] => dir(vec![("dahdi_devices", D), ("dahdi_spans", D)]),
        ["bus", "dahdi_devices" | "dahdi_spans"] => dir(vec![("devices", D)]),
        ["bus", "dahdi_devices", "devices"] => Some((Entry::Dir(present.iter().map(|&i| (d.devices[i].name.clone(), L)).collect()), None)),
        ["bus", "dahdi_devices", "devices", name] => {
            let &dev = present.iter().find(|&&i| d.devices[i].name == *name)?;
            Some((Entry::Symlink(format!("{}{}", ups(3), dev_components(d, dev).join("/"))), None))
        }
        ["bus", "dahdi_spans", "devices"] => {
            let v =
                d.span_list().into_iter().filter(|&si| d.devices[d.spans[si].device].present).map(|si| (format!("span-{}", d.spans[si].spanno), L)).collect();
            Some((Entry::Dir(v), None))
        }
        ["bus", "dahdi_spans", "devices", name] => {
            let n: i32 = name.strip_prefix("span-")?.parse().ok()?;
            let si = d.span_index(n)?;
            let dev = d.spans[si].device;
            d.devices[dev].present.then_some(())?;
            Some((Entry::Symlink(format!("{}{}/{name}", ups(3), dev_components(d, dev).join("/"))), None))
        }
        ["module"] => dir(vec![("dahdi", D)]),
        ["module", "dahdi"] => dir(vec![("parameters", D)]),
        ["module", "dahdi", "parameters"] => dir(vec![("auto_assign_spans", F)]),
        ["module", "dahdi", "parameters", "auto_assign_spans"] => Some((Entry::File(0o644), Some(Target::AutoAssignParam))),
        ["devices", rest @ ..] => {
            for &dev in &present {
                let comps = dev_components(d, dev);
                let depth = comps.len();
                let full: Vec<&str> = comps.iter().map(String::as_str).collect();
                if path.len() >= depth && path[..depth] == full[..] {
                    return resolve_device(d, dev, depth, &path[depth..]);
                }
            }
            // An intermediate directory (a PCI bus or slot).
            let mut kids: Vec<String> = Vec::new();
            for &dev in &present {
                let comps = dev_components(d, dev);
                if comps.len() > path.len() && comps[..path.len()].iter().zip(path).all(|(a, b)| a == b) {
                    let k = comps[path.len()].clone();
                    if !kids.contains(&k) {
                        kids.push(k);
                    }
                }
            }
            if kids.is_empty() && !rest.is_empty() {
                return None;
            }
            Some((Entry::Dir(kids.into_iter().map(|k| (k, D)).collect()), None))
        }
        _ => None,
    }
}

/// Entries inside a device directory (`depth` = components of the device dir).
fn resolve_device(d: &Dahdi, dev: usize, depth: usize, rest: &[&str]) -> Option<(Entry, Option<Target>)> {
    use FileType::{Directory as D, RegularFile as F, Symlink as L};
    match rest {
        [] => {
            let mut v: Vec<(String, FileType)> = DEV_ATTRS.iter().map(|(n, _, _)| (n.to_string(), F)).collect();
            v.push(("subsystem".into(), L));
            for &si in &d.devices[dev].spans {
                if d.spans[si].assigned() {
                    v.push((format!("span-{}", d.spans[si].spanno), D));
                }
            }
            Some((Entry::Dir(v), None))
        }
        ["subsystem"] => Some((Entry::Symlink(format!("{}bus/dahdi_devices", ups(depth))), None)),
        [name] if name.starts_with("span-") => {
            span_by_dirname(d, dev, name)?;
            let mut v: Vec<(String, FileType)> = SPAN_ATTRS.iter().map(|(n, _, _)| (n.to_string(), F)).collect();
            v.push(("ddev".into(), L));
            v.push(("subsystem".into(), L));
            Some((Entry::Dir(v), None))
        }
        [attr] => {
            let (_, a, mode) = DEV_ATTRS.iter().find(|(n, _, _)| n == attr)?;
            Some((Entry::File(*mode), Some(Target::DevAttr(dev, *a))))
        }
        [span, "ddev"] => {
            span_by_dirname(d, dev, span)?;
            Some((Entry::Symlink("..".into()), None))
        }
        [span, "subsystem"] => {
            span_by_dirname(d, dev, span)?;
            Some((Entry::Symlink(format!("{}bus/dahdi_spans", ups(depth + 1))), None))
        }
        [span, attr] => {
            let si = span_by_dirname(d, dev, span)?;
            let (_, a, mode) = SPAN_ATTRS.iter().find(|(n, _, _)| n == attr)?;
            Some((Entry::File(*mode), Some(Target::SpanAttr(si, *a))))
        }
        _ => None,
    }
}

fn uevent_text(vars: &[(&'static str, String)]) -> String {
    vars.iter().map(|(k, v)| format!("{k}={v}\n")).collect()
}

/// The text a read of an attribute returns (dahdi-sysfs.c's show functions).
fn show(d: &Dahdi, t: Target) -> Result<String, i32> {
    Ok(match t {
        Target::AutoAssignParam => format!("{}\n", i32::from(d.auto_assign)),
        Target::DevAttr(dev, a) => {
            let dv = &d.devices[dev];
            match a {
                DevAttr::Manufacturer => format!("{}\n", dv.manufacturer),
                DevAttr::Type => format!("{}\n", dv.devicetype),
                DevAttr::SpanCount => format!("{}\n", dv.spans.len()),
                DevAttr::HardwareId => format!("{}\n", dv.hardware_id),
                DevAttr::Location => format!("{}\n", dv.location),
                DevAttr::Spantype => dv.spans.iter().map(|&si| format!("{}:{}\n", d.spans[si].local, spantype_name(d.spans[si].kind))).collect(),
                DevAttr::RegistrationTime => {
                    let t = dv.registration_time;
                    format!("{:010}.{:09}\n", t.as_secs(), t.subsec_nanos())
                }
                DevAttr::Uevent => uevent_text(&d.device_uevent_vars(dev)),
                DevAttr::AutoAssign | DevAttr::AssignSpan | DevAttr::UnassignSpan => return Err(libc::EACCES),
            }
        }
        Target::SpanAttr(si, a) => {
            let s = &d.spans[si];
            match a {
                SpanAttr::Name => format!("{}\n", s.name),
                SpanAttr::Desc => format!("{}\n", s.desc),
                SpanAttr::Spantype => format!("{}\n", spantype_name(s.kind)),
                SpanAttr::LocalSpanno => format!("{}\n", s.local),
                SpanAttr::Alarms => format!("0x{:x}\n", s.alarms),
                SpanAttr::Lbo => format!("{}\n", s.lbo),
                SpanAttr::Syncsrc => format!("{}\n", s.syncsrc),
                SpanAttr::IsDigital => format!("{}\n", i32::from(s.is_digital())),
                SpanAttr::IsSyncMaster => format!("{}\n", i32::from(d.is_sync_master(si))),
                SpanAttr::Basechan => {
                    if s.nchans == 0 {
                        return Err(libc::ENODEV);
                    }
                    format!("{}\n", s.first_chan)
                }
                SpanAttr::Channels => format!("{}\n", s.nchans),
                SpanAttr::Lineconfig => format!("{}\n", lineconfig_str(s.lineconfig)),
                SpanAttr::Linecompat => format!("{}\n", linecompat_str(s.kind.linecompat())),
                SpanAttr::Uevent => uevent_text(&d.span_uevent_vars(si)),
            }
        }
    })
}

/// `sscanf(buf, "%u")` for each of `n` colon-separated numbers; None unless
/// all `n` convert (trailing text is ignored, as sscanf does).
fn scan_u32s(text: &str, n: usize) -> Option<Vec<u32>> {
    let mut out = Vec::new();
    let mut rest = text;
    for k in 0..n {
        if k > 0 {
            rest = rest.strip_prefix(':')?;
        }
        let t = rest.trim_start();
        let (neg, t) = match t.as_bytes().first() {
            Some(b'-') => (true, &t[1..]),
            Some(b'+') => (false, &t[1..]),
            _ => (false, t),
        };
        let digits = t.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return None;
        }
        // %u wraps like strtoul.
        let v = t[..digits].parse::<u64>().unwrap_or(u64::MAX) as u32;
        out.push(if neg { v.wrapping_neg() } else { v });
        rest = &t[digits..];
    }
    Some(out)
}

/// A write to an attribute (dahdi-sysfs.c's store functions).
fn store(d: &mut Dahdi, t: Target, data: &[u8]) -> Result<(), i32> {
    let text = String::from_utf8_lossy(data);
    match t {
        Target::AutoAssignParam => {
            let v: i32 = text.trim().parse().map_err(|_| libc::EINVAL)?;
            d.auto_assign = v != 0;
            Ok(())
        }
        Target::DevAttr(dev, a) => match a {
            DevAttr::AutoAssign => {
                d.auto_assign_device(dev);
                Ok(())
            }
            DevAttr::AssignSpan => {
                let v = scan_u32s(&text, 3).ok_or(libc::EINVAL)?;
                let (local, spanno, basechan) = (v[0], v[1], v[2]);
                if spanno != 0 && basechan == 0 {
                    // "Must set span number AND base chan number"
                    return Err(libc::EINVAL);
                }
                let si = d.local_span(dev, local).ok_or(libc::EINVAL)?;
                d.assign_span(si, spanno, basechan)
            }
            DevAttr::UnassignSpan => {
                let v = scan_u32s(&text, 1).ok_or(libc::EINVAL)?;
                let si = d.local_span(dev, v[0]).ok_or(libc::EINVAL)?;
                d.unassign_span(si)
            }
            DevAttr::Spantype => {
                // sscanf(buf, "%u:%70s", ...)
                let (l, name) = text.split_once(':').ok_or(libc::EINVAL)?;
                let local = scan_u32s(l, 1).ok_or(libc::EINVAL)?[0];
                let name: String = name.split_whitespace().next().ok_or(libc::EINVAL)?.chars().take(70).collect();
                let kind = match name.to_ascii_uppercase().as_str() {
                    "T1" => Some(SpanKind::T1),
                    "E1" => Some(SpanKind::E1),
                    "J1" => Some(SpanKind::J1),
                    "FXS" | "FXO" | "ANALOG_MIXED" => Some(SpanKind::Analog),
                    "BRI_NT" | "BRI_TE" | "BRI_SOFT" | "DYNAMIC" => None,
                    _ => return Err(libc::EINVAL),
                };
                let si = d.local_span(dev, local).ok_or(libc::EINVAL)?;
                let s = &mut d.spans[si];
                if s.assigned() {
                    // "Span %s is already assigned."
                    return Err(libc::EINVAL);
                }
                match (s.kind, kind) {
                    (SpanKind::T1 | SpanKind::J1, Some(k @ (SpanKind::T1 | SpanKind::J1))) => {
                        s.kind = k;
                        Ok(())
                    }
                    (cur, Some(k)) if cur == k && cur != SpanKind::Analog => Ok(()),
                    _ => Err(libc::EINVAL),
                }
            }
            DevAttr::Uevent => {
                let action = synth_action(&text)?;
                d.device_uevent(dev, action);
                Ok(())
            }
            _ => Err(libc::EACCES),
        },
        Target::SpanAttr(si, SpanAttr::Uevent) => {
            let action = synth_action(&text)?;
            d.span_uevent(si, action);
            Ok(())
        }
        Target::SpanAttr(..) => Err(libc::EACCES),
    }
}

/// `kobject_synth_uevent`: the action written to a `uevent` file.
fn synth_action(text: &str) -> Result<&'static str, i32> {
    let word = text.split_whitespace().next().unwrap_or("");
    ["add", "remove", "change", "move", "online", "offline", "bind", "unbind"].into_iter().find(|a| *a == word).ok_or(libc::EINVAL)
}

/// The sysfs filesystem handed to fuser.
pub struct SysFs {
    state: Arc<Mutex<State>>,
    started: SystemTime,
    /// Paths by inode (ino 1 = the root, "").
    inodes: Mutex<(HashMap<String, u64>, Vec<String>)>,
}

impl SysFs {
    pub fn new(state: Arc<Mutex<State>>) -> SysFs {
        let mut map = HashMap::new();
        map.insert(String::new(), 1);
        SysFs { state, started: SystemTime::now(), inodes: Mutex::new((map, vec![String::new(), String::new()])) }
    }

    fn ino_of(&self, path: &str) -> u64 {
        let mut t = self.inodes.lock();
        if let Some(&i) = t.0.get(path) {
            return i;
        }
        let i = t.1.len() as u64;
        t.1.push(path.to_string());
        t.0.insert(path.to_string(), i);
        i
    }

    fn path_of(&self, ino: u64) -> Option<String> {
        self.inodes.lock().1.get(ino as usize).filter(|_| ino >= 1).cloned()
    }

    /// Resolve an inode now: its path, what it is, and what it acts on.
    fn lookup_ino(&self, ino: u64) -> Option<(String, Entry, Option<Target>)> {
        let path = self.path_of(ino)?;
        let comps: Vec<&str> = path.split('/').filter(|c| !c.is_empty()).collect();
        let st = self.state.lock();
        let (e, t) = resolve(&st.dahdi, &comps)?;
        Some((path, e, t))
    }

    fn attr(&self, ino: u64, e: &Entry) -> FileAttr {
        let (kind, perm, size, nlink) = match e {
            Entry::Dir(_) => (FileType::Directory, 0o755, 0, 2),
            Entry::File(mode) => (FileType::RegularFile, *mode, ATTR_SIZE, 1),
            Entry::Symlink(t) => (FileType::Symlink, 0o777, t.len() as u64, 1),
        };
        FileAttr {
            ino: INodeNo(ino),
            size,
            blocks: 0,
            atime: self.started,
            mtime: self.started,
            ctime: self.started,
            crtime: self.started,
            kind,
            perm,
            nlink,
            uid: 0,
            gid: 0,
            rdev: 0,
            blksize: 4096,
            flags: 0,
        }
    }
}

fn errno(e: i32) -> Errno {
    Errno::from_i32(e)
}

impl Filesystem for SysFs {
    fn lookup(&self, _req: &Request, parent: INodeNo, name: &OsStr, reply: ReplyEntry) {
        let Some(ppath) = self.path_of(parent.0) else {
            return reply.error(Errno::ENOENT);
        };
        let name = name.to_string_lossy();
        let path = if ppath.is_empty() { name.to_string() } else { format!("{ppath}/{name}") };
        let comps: Vec<&str> = path.split('/').collect();
        let found = {
            let st = self.state.lock();
            resolve(&st.dahdi, &comps).map(|(e, _)| e)
        };
        match found {
            Some(e) => {
                let ino = self.ino_of(&path);
                reply.entry(&TTL, &self.attr(ino, &e), fuser::Generation(0));
            }
            None => reply.error(Errno::ENOENT),
        }
    }

    fn getattr(&self, _req: &Request, ino: INodeNo, _fh: Option<FileHandle>, reply: ReplyAttr) {
        match self.lookup_ino(ino.0) {
            Some((_, e, _)) => reply.attr(&TTL, &self.attr(ino.0, &e)),
            None => reply.error(Errno::ENOENT),
        }
    }

    fn setattr(
        &self,
        _req: &Request,
        ino: INodeNo,
        _mode: Option<u32>,
        _uid: Option<u32>,
        _gid: Option<u32>,
        _size: Option<u64>,
        _atime: Option<TimeOrNow>,
        _mtime: Option<TimeOrNow>,
        _ctime: Option<SystemTime>,
        _fh: Option<FileHandle>,
        _crtime: Option<SystemTime>,
        _chgtime: Option<SystemTime>,
        _bkuptime: Option<SystemTime>,
        _flags: Option<BsdFileFlags>,
        reply: ReplyAttr,
    ) {
        // `echo x > attr` truncates first; sysfs ignores that.
        match self.lookup_ino(ino.0) {
            Some((_, e, _)) => reply.attr(&TTL, &self.attr(ino.0, &e)),
            None => reply.error(Errno::ENOENT),
        }
    }

    fn readlink(&self, _req: &Request, ino: INodeNo, reply: ReplyData) {
        match self.lookup_ino(ino.0) {
            Some((_, Entry::Symlink(t), _)) => reply.data(t.as_bytes()),
            Some(_) => reply.error(Errno::EINVAL),
            None => reply.error(Errno::ENOENT),
        }
    }

    fn readdir(&self, _req: &Request, ino: INodeNo, _fh: FileHandle, offset: u64, mut reply: ReplyDirectory) {
        let Some((path, e, _)) = self.lookup_ino(ino.0) else {
            return reply.error(Errno::ENOENT);
        };
        let Entry::Dir(kids) = e else { return reply.error(Errno::ENOTDIR) };
        let parent = match path.rfind('/') {
            Some(i) => self.ino_of(&path[..i]),
            None => 1,
        };
        let mut entries = vec![(ino.0, FileType::Directory, ".".to_string()), (parent, FileType::Directory, "..".to_string())];
        for (name, kind) in kids {
            let p = if path.is_empty() { name.clone() } else { format!("{path}/{name}") };
            entries.push((self.ino_of(&p), kind, name));
        }
        for (i, (ino, kind, name)) in entries.into_iter().enumerate().skip(offset as usize) {
            if reply.add(INodeNo(ino), (i + 1) as u64, kind, name) {
                break;
            }
        }
        reply.ok();
    }

    fn open(&self, _req: &Request, ino: INodeNo, flags: OpenFlags, reply: ReplyOpen) {
        let Some((_, e, _)) = self.lookup_ino(ino.0) else {
            return reply.error(Errno::ENOENT);
        };
        let Entry::File(mode) = e else { return reply.error(Errno::EISDIR) };
        // kernfs_fop_open: EACCES for reading an attribute without show, or
        // writing one without store, whoever the caller is.
        let acc = flags.0 & libc::O_ACCMODE;
        let wants_read = acc == libc::O_RDONLY || acc == libc::O_RDWR;
        let wants_write = acc == libc::O_WRONLY || acc == libc::O_RDWR;
        if (wants_read && mode & 0o444 == 0) || (wants_write && mode & 0o222 == 0) {
            return reply.error(Errno::EACCES);
        }
        reply.opened(FileHandle(0), FopenFlags::FOPEN_DIRECT_IO);
    }

    fn read(&self, _req: &Request, ino: INodeNo, _fh: FileHandle, offset: u64, size: u32, _flags: OpenFlags, _lock_owner: Option<LockOwner>, reply: ReplyData) {
        let Some((_, _, Some(t))) = self.lookup_ino(ino.0) else {
            return reply.error(Errno::ENODEV);
        };
        let text = {
            let st = self.state.lock();
            show(&st.dahdi, t)
        };
        match text {
            Ok(text) => {
                let b = text.as_bytes();
                let start = (offset as usize).min(b.len());
                let end = (start + size as usize).min(b.len());
                reply.data(&b[start..end]);
            }
            Err(e) => reply.error(errno(e)),
        }
    }

    fn write(
        &self,
        _req: &Request,
        ino: INodeNo,
        _fh: FileHandle,
        _offset: u64,
        data: &[u8],
        _write_flags: WriteFlags,
        _flags: OpenFlags,
        _lock_owner: Option<LockOwner>,
        reply: ReplyWrite,
    ) {
        // The attribute may have gone (span unassigned) since the open.
        let Some((path, _, Some(t))) = self.lookup_ino(ino.0) else {
            return reply.error(Errno::ENODEV);
        };
        let data = &data[..data.len().min(4096)];
        let r = {
            let mut st = self.state.lock();
            store(&mut st.dahdi, t, data)
        };
        match r {
            Ok(()) => {
                tracing::info!(attr = %path, value = %String::from_utf8_lossy(data).trim_end(), "sysfs write");
                reply.written(data.len() as u32)
            }
            Err(e) => {
                tracing::info!(attr = %path, value = %String::from_utf8_lossy(data).trim_end(), errno = e, "sysfs write refused");
                reply.error(errno(e))
            }
        }
    }

    fn release(&self, _req: &Request, _ino: INodeNo, _fh: FileHandle, _flags: OpenFlags, _lock_owner: Option<LockOwner>, _flush: bool, reply: ReplyEmpty) {
        reply.ok();
    }

    fn flush(&self, _req: &Request, _ino: INodeNo, _fh: FileHandle, _lock_owner: LockOwner, reply: ReplyEmpty) {
        reply.ok();
    }

    fn getxattr(&self, _req: &Request, _ino: INodeNo, _name: &OsStr, _size: u32, reply: fuser::ReplyXattr) {
        reply.error(Errno::from_i32(libc::ENODATA));
    }

    fn listxattr(&self, _req: &Request, _ino: INodeNo, size: u32, reply: fuser::ReplyXattr) {
        if size == 0 {
            reply.size(0);
        } else {
            reply.data(&[]);
        }
    }
}

/// Mount the sysfs emulation at `dir` (created if missing) and wait (at
/// most 10 s) until it shows.
pub fn mount(state: Arc<Mutex<State>>, dir: &Path) -> Result<fuser::BackgroundSession, String> {
    std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let mut fcfg = fuser::Config::default();
    fcfg.mount_options =
        vec![fuser::MountOption::FSName("tandem-sim".into()), fuser::MountOption::Subtype("sysfs".into()), fuser::MountOption::DefaultPermissions];
    fcfg.acl = fuser::SessionACL::All;
    fcfg.n_threads = Some(2);
    let session = fuser::spawn_mount(SysFs::new(state), dir, &fcfg).map_err(|e| format!("cannot mount the sysfs emulation at {}: {e}", dir.display()))?;
    let deadline = Instant::now() + Duration::from_secs(10);
    while !dir.join("module/dahdi/parameters/auto_assign_spans").exists() {
        if Instant::now() > deadline {
            return Err(format!("{}: sysfs mount did not appear", dir.display()));
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    Ok(session)
}

// ---- udev -------------------------------------------------------------------

/// Longest a hotplug program may run for one event before it is killed
/// (udev's own event timeout is 180 s).
pub const HOTPLUG_TIMEOUT: Duration = Duration::from_secs(60);

/// How to run the hotplug program.
#[derive(Clone, Debug, Default)]
pub struct HotplugConfig {
    /// The program; `None` = events are only logged.
    pub program: Option<String>,
    /// Extra environment (after udev's variables).
    pub env: Vec<(String, String)>,
    /// The sysfs emulation's mount point, given as TANDEM_SYSFS_ROOT.
    pub sysfs_root: Option<PathBuf>,
    /// The device files' mount point, given as TANDEM_DEVICE_DIR.
    pub device_dir: Option<PathBuf>,
}

/// The thread that delivers uevents, one at a time in order, as udev does
/// for a device and its children.
pub struct Udev {
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Udev {
    /// Start the delivery thread; the returned hook (for the clock) takes the
    /// model's queued uevents after each tick and hands them over, so that
    /// the program never runs with the model locked (its sysfs writes come
    /// back through FUSE).
    pub fn start(cfg: HotplugConfig) -> std::io::Result<(Udev, crate::clock::AfterTick)> {
        let (tx, rx) = mpsc::channel::<Uevent>();
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let stop = stop.clone();
            std::thread::Builder::new().name("udev".into()).spawn(move || {
                for ev in rx {
                    if stop.load(Ordering::Relaxed) {
                        break;
                    }
                    deliver(&cfg, &ev, &stop);
                }
            })?
        };
        let hook: crate::clock::AfterTick = Box::new(move |st: &mut State| {
            if st.dahdi.uevents.is_empty() {
                return;
            }
            for ev in st.dahdi.take_uevents() {
                let _ = tx.send(ev);
            }
        });
        Ok((Udev { stop, thread: Some(thread) }, hook))
    }

    /// Stop: kill a program still running and wait for the thread (it ends
    /// once the clock, which holds the sending side, has stopped).
    pub fn stop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for Udev {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Run the hotplug program for one event, with udev's environment, and wait
/// for it (bounded by [`HOTPLUG_TIMEOUT`] and by `stop`).
fn deliver(cfg: &HotplugConfig, ev: &Uevent, stop: &AtomicBool) {
    tracing::info!(action = %ev.action, subsystem = ev.subsystem, devpath = %ev.devpath, seqnum = ev.seqnum, "uevent");
    let Some(prog) = &cfg.program else { return };
    let mut cmd = Command::new(prog);
    cmd.env_clear().envs(ev.env());
    if let Some(p) = &cfg.sysfs_root {
        cmd.env("TANDEM_SYSFS_ROOT", p);
    }
    if let Some(p) = &cfg.device_dir {
        cmd.env("TANDEM_DEVICE_DIR", p);
    }
    cmd.envs(cfg.env.iter().map(|(k, v)| (k, v)));
    cmd.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut child = match cmd.spawn() {
        Ok(c) => c,
        Err(e) => {
            tracing::warn!(program = %prog, "hotplug: cannot run: {e}");
            return;
        }
    };
    // Log the program's output line by line; the readers end when the pipes
    // close (possibly after the program, if it leaves children behind).
    for (pipe, name) in [
        (child.stdout.take().map(|p| Box::new(p) as Box<dyn std::io::Read + Send>), "stdout"),
        (child.stderr.take().map(|p| Box::new(p) as Box<dyn std::io::Read + Send>), "stderr"),
    ] {
        if let Some(p) = pipe {
            let seq = ev.seqnum;
            let _ = std::thread::Builder::new().name("hotplug-log".into()).spawn(move || {
                for line in BufReader::new(p).lines().map_while(Result::ok) {
                    tracing::info!(seqnum = seq, stream = name, "hotplug: {line}");
                }
            });
        }
    }
    let deadline = Instant::now() + HOTPLUG_TIMEOUT;
    loop {
        match child.try_wait() {
            Ok(Some(status)) => {
                if status.success() {
                    tracing::info!(seqnum = ev.seqnum, "hotplug program exited 0");
                } else {
                    tracing::warn!(seqnum = ev.seqnum, action = %ev.action, devpath = %ev.devpath, "hotplug program failed: {status}");
                }
                return;
            }
            Ok(None) => {}
            Err(e) => {
                tracing::warn!("hotplug: wait: {e}");
                return;
            }
        }
        if stop.load(Ordering::Relaxed) || Instant::now() > deadline {
            tracing::warn!(seqnum = ev.seqnum, "hotplug program still running; killing it");
            let _ = child.kill();
            let _ = child.wait();
            return;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::SimConfig;

    const CFG: &str = r#"
[sim]
auto_assign_spans = false

[[card]]
model = "tdm410p"
ports = ["fxs", "fxo"]

[[card]]
model = "te220p"
hardware_id = "TE2-XYZ"
[[card.span]]
type = "t1"
[[card.span]]
type = "e1"
"#;

    fn dahdi() -> Dahdi {
        SimConfig::parse(CFG, "t").unwrap().build("t").unwrap().0
    }

    fn res(d: &Dahdi, p: &str) -> Option<(Entry, Option<Target>)> {
        let c: Vec<&str> = p.split('/').filter(|c| !c.is_empty()).collect();
        resolve(d, &c)
    }

    fn read(d: &Dahdi, p: &str) -> String {
        let (_, t) = res(d, p).unwrap_or_else(|| panic!("{p} missing"));
        show(d, t.unwrap()).unwrap()
    }

    #[test]
    fn layout_values_and_assignment() {
        let mut d = dahdi();
        let dev = "devices/pci0000:00/0000:00:02.0/pci:0000:00:02.0";
        assert!(matches!(res(&d, "bus/dahdi_devices/devices/pci:0000:00:02.0"), Some((Entry::Symlink(t), _)) if t == format!("../../../{dev}")));
        assert_eq!(read(&d, &format!("{dev}/hardware_id")), "TE2-XYZ\n");
        assert_eq!(read(&d, &format!("{dev}/spantype")), "1:T1\n2:E1\n");
        assert_eq!(read(&d, &format!("{dev}/span_count")), "2\n");
        assert_eq!(read(&d, "module/dahdi/parameters/auto_assign_spans"), "0\n");
        assert!(res(&d, "bus/dahdi_spans/devices/span-1").is_none());
        let (_, t) = res(&d, &format!("{dev}/assign_span")).unwrap();
        assert_eq!(store(&mut d, t.unwrap(), b"2:5:100\n"), Ok(()));
        assert_eq!(store(&mut d, t.unwrap(), b"2:6:200\n"), Err(libc::EINVAL), "already assigned");
        assert_eq!(store(&mut d, t.unwrap(), b"1:4:90\n"), Err(libc::EINVAL), "basechan too low for a span after");
        assert_eq!(store(&mut d, t.unwrap(), b"1:6:101\n"), Err(libc::EINVAL), "overlaps span 5");
        assert_eq!(store(&mut d, t.unwrap(), b"1:5:131\n"), Err(libc::EFAULT), "span 5 taken");
        assert_eq!(store(&mut d, t.unwrap(), b"1:7:0\n"), Err(libc::EINVAL), "basechan 0");
        assert_eq!(store(&mut d, t.unwrap(), b"3:7:200\n"), Err(libc::EINVAL), "no local span 3");
        assert_eq!(store(&mut d, t.unwrap(), b"1:9:1020\n"), Err(libc::EINVAL), "beyond 1024");
        assert_eq!(store(&mut d, t.unwrap(), b"x\n"), Err(libc::EINVAL));
        assert_eq!(read(&d, &format!("{dev}/span-5/basechan")), "100\n");
        assert_eq!(read(&d, &format!("{dev}/span-5/channels")), "31\n");
        assert_eq!(read(&d, &format!("{dev}/span-5/local_spanno")), "2\n");
        assert_eq!(read(&d, &format!("{dev}/span-5/lineconfig")), "CCS/HDB3/CRC4\n");
        assert_eq!(read(&d, &format!("{dev}/span-5/linecompat")), "AMI CCS HDB3 CRC4\n");
        assert_eq!(read(&d, &format!("{dev}/span-5/alarms")), "0x108\n");
        assert_eq!(read(&d, &format!("{dev}/span-5/spantype")), "E1\n");
        assert_eq!(read(&d, &format!("{dev}/span-5/is_digital")), "1\n");
        assert!(matches!(res(&d, "bus/dahdi_spans/devices/span-5"), Some((Entry::Symlink(t), _)) if t == format!("../../../{dev}/span-5")));
        // The analog card, auto-assigned: first free place is span 1 at channel 1.
        let (_, t) = res(&d, "devices/pci0000:00/0000:00:01.0/pci:0000:00:01.0/auto_assign").unwrap();
        assert_eq!(store(&mut d, t.unwrap(), b"1\n"), Ok(()));
        assert_eq!(read(&d, "devices/pci0000:00/0000:00:01.0/pci:0000:00:01.0/span-1/basechan"), "1\n");
        assert_eq!(read(&d, "devices/pci0000:00/0000:00:01.0/pci:0000:00:01.0/span-1/lineconfig"), "\n");
        assert_eq!(read(&d, "devices/pci0000:00/0000:00:01.0/pci:0000:00:01.0/span-1/is_digital"), "0\n");
        // Spans 1 (1-2) and 5 (100-130): local span 1 of the T1 card can go at 2 with 3-26.
        let (_, t) = res(&d, &format!("{dev}/assign_span")).unwrap();
        assert_eq!(store(&mut d, t.unwrap(), b"1:2:3"), Ok(()));
        assert_eq!(d.chan_index(3), Some(2), "after the analog card's 2 channels");
        let ev: Vec<(String, String)> = d.take_uevents().iter().map(|e| (e.action.clone(), e.devpath.clone())).collect();
        assert_eq!(ev[0], ("add".into(), "/devices/pci0000:00/0000:00:01.0/pci:0000:00:01.0".into()));
        assert_eq!(ev[2], ("add".into(), format!("/{dev}/span-5")));
        let (_, t) = res(&d, &format!("{dev}/unassign_span")).unwrap();
        assert_eq!(store(&mut d, t.unwrap(), b"2"), Ok(()));
        assert_eq!(store(&mut d, t.unwrap(), b"2"), Err(libc::EINVAL), "already unassigned");
        assert!(res(&d, &format!("{dev}/span-5")).is_none());
        let ev = d.take_uevents();
        assert_eq!(ev.iter().map(|e| e.action.as_str()).collect::<Vec<_>>(), ["offline", "remove"]);
        assert!(ev[1].env().contains(&("SPAN_NUM".into(), "0".into())), "the kernel clears the number first");
        assert!(ev[1].devpath.ends_with("/span-5"));
    }

    #[test]
    fn sscanf_like_parsing() {
        assert_eq!(scan_u32s("1:2:3\n", 3), Some(vec![1, 2, 3]));
        assert_eq!(scan_u32s(" 1: 2: 3junk", 3), Some(vec![1, 2, 3]));
        assert_eq!(scan_u32s("1:2", 3), None);
        assert_eq!(scan_u32s("1 :2:3", 3), None);
    }
}
