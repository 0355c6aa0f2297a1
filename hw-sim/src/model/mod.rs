//! The simulated DAHDI kernel: spans, channels and file handles, advanced one
//! millisecond (one 8-sample chunk) at a time.
//!
//! The model is sans-IO: the FUSE layer turns syscalls into calls on
//! [`Dahdi`] and the clock thread calls [`Dahdi::tick`]. Every operation
//! returns [`Io`]: done, an errno, or "would block" so that the caller can
//! hold the request and retry it when the handle is marked ready.

pub mod chan;
pub mod device;
pub mod dial;
pub mod echo;
pub mod hdlc;
pub mod ioctl;
pub mod k;
pub mod span;

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};

use chan::{Chan, Wiring};
pub use device::{Device, DeviceSpec, Uevent};
use k::*;
use span::{Span, SpanFar, SpanKind};
use tandem_dsp::g711::Law;

use crate::farend::{Line, PortIn, Signal};

/// Result of one device operation.
#[derive(Debug)]
pub enum Io<T> {
    Done(T),
    /// Fail with this errno.
    Err(i32),
    /// Nothing to do yet: retry when the handle becomes ready.
    Block,
}

/// Which device file a handle was opened on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Node {
    Ctl,
    /// `channel`: unbound until DAHDI_SPECIFY.
    Channel,
    Pseudo,
    Timer,
    /// `chan/SSS/CCC`, by channel number.
    Chan(u32),
}

/// The state behind one open file.
#[derive(Debug)]
pub enum Handle {
    Ctl,
    Channel(Option<u32>),
    Pseudo(u32),
    Timer(Timer),
    Chan(u32),
    /// The file's channel was unregistered (span unassigned, card unplugged):
    /// every operation fails with ENODEV (the kernel's `nodev_fops`).
    Gone,
}

/// The `timer` device: a periodic timer configured in samples.
#[derive(Debug, Default)]
pub struct Timer {
    pub period: i32,
    pub pos: i32,
    pub tripped: i32,
    pub ping: bool,
}

/// A tone zone known to the simulator (DAHDI_LOADZONE cannot carry its tone
/// data through FUSE, so zones come from the simulator's config).
#[derive(Clone, Debug)]
pub struct Zone {
    pub name: String,
    pub ringcadence: [i32; MAX_CADENCE],
}

/// A frame that crossed a D-channel, for the trace.
#[derive(Clone, Debug, serde::Serialize)]
pub struct FrameTrace {
    pub ms: u64,
    pub span: u32,
    /// "tx" when the host sent it, "rx" when the host received it.
    pub dir: &'static str,
    pub hex: String,
}

/// The simulated DAHDI subsystem.
pub struct Dahdi {
    /// Devices (cards), in configuration order.
    pub devices: Vec<Device>,
    /// Every span of every device, in hardware order (by device, then local
    /// span), assigned or not; [`Dahdi::span_index`] finds one by number.
    pub spans: Vec<Span>,
    /// Every real channel, in hardware order (span by span); its DAHDI
    /// number is `channo` (0 while its span is unassigned) and
    /// [`Dahdi::chan_index`] finds one by number. With every span
    /// auto-assigned at start, index = channo - 1.
    pub chans: Vec<Chan>,
    /// Far end per real channel, same index.
    pub lines: Vec<Line>,
    /// Line echo (and the echo canceller model) per real channel, same index.
    pub echo: Vec<echo::EchoPath>,
    /// Assigned channel numbers -> index in `chans`.
    chan_map: HashMap<u32, usize>,
    /// Assigned span numbers -> index in `spans`, in span-number order (the kernel's `span_list`).
    span_map: BTreeMap<u32, usize>,
    /// The `auto_assign_spans` module parameter.
    pub auto_assign: bool,
    /// Uevents not yet delivered, oldest first (see [`Dahdi::take_uevents`]).
    pub uevents: Vec<Uevent>,
    seqnum: u64,
    /// DAHDI's master span (`master_span`), by index.
    master: Option<usize>,
    /// How to rebuild each channel when its card is plugged in again.
    chan_init: Vec<device::ChanInit>,
    /// Pseudo channels by slot; channo = PSEUDO_BASE + slot.
    pub pseudos: Vec<Option<Chan>>,
    pub handles: HashMap<u64, (Handle, bool)>,
    /// Handles whose file was closed (FUSE FLUSH) but whose RELEASE has not
    /// arrived yet. FUSE sends RELEASE asynchronously, after close(2) has
    /// returned; DAHDI's release is synchronous, so a channel closed by its
    /// last holder must be free for the next open at once.
    flushed: HashSet<u64>,
    next_fh: u64,
    pub zones: HashMap<i32, Zone>,
    pub default_zone: Option<i32>,
    pub now_ms: u64,
    /// Handles whose readiness may have changed since the last call to `take_dirty`.
    dirty: Vec<u64>,
    /// Frames from hosts' D-channels on external spans, waiting for the socket: (span index, frame).
    pub dchan_out: Vec<(usize, Vec<u8>)>,
    /// Frames from external programs, waiting for delivery: (span index, frame, good FCS).
    pub dchan_in: Vec<(usize, Vec<u8>, bool)>,
    /// The D-channel frame trace, oldest first, at most [`FRAME_TRACE_CAP`] entries.
    pub frame_trace: VecDeque<FrameTrace>,
    pub trace_frames: bool,
    // Scratch buffers reused every tick.
    tx_chunks: Vec<[u8; CHUNK]>,
    tx_frames: Vec<Option<Vec<u8>>>,
    signals: Vec<Signal>,
}

/// Entries kept in [`Dahdi::frame_trace`] (the oldest are dropped).
pub const FRAME_TRACE_CAP: usize = 10_000;

/// Frames kept in [`Dahdi::dchan_out`] when nobody drains it (the oldest are dropped).
pub const DCHAN_OUT_CAP: usize = 1_000;

/// Append to the frame trace, dropping the oldest entry beyond [`FRAME_TRACE_CAP`].
fn push_trace(trace: &mut VecDeque<FrameTrace>, entry: FrameTrace) {
    while trace.len() >= FRAME_TRACE_CAP {
        trace.pop_front();
    }
    trace.push_back(entry);
}

/// Channel numbers of pseudo channels start here, as in DAHDI (FIRST_PSEUDO_CHANNEL).
pub const PSEUDO_BASE: u32 = 0x8000;

/// Description of one span for [`Dahdi::new`].
pub struct SpanSpec {
    pub kind: SpanKind,
    pub name: String,
    pub desc: String,
    pub manufacturer: String,
    pub devicetype: String,
    pub location: String,
    /// For analog spans: each port, true = FXS (a phone plugs in), false = FXO.
    pub ports: Vec<bool>,
    pub law: Law,
}

impl Dahdi {
    /// Build the spans and their channels with every span on a device of
    /// its own, all assigned in order: span numbers and channel numbers from 1.
    pub fn new(specs: Vec<SpanSpec>) -> Dahdi {
        let devs = specs
            .into_iter()
            .enumerate()
            .map(|(i, s)| DeviceSpec {
                model: "sim".into(),
                name: format!("pci:0000:00:{:02x}.0", i + 1),
                parent: format!("pci0000:00/0000:00:{:02x}.0", i + 1),
                hardware_id: format!("SIM-{}", i + 1),
                location: format!("pci0000:00/0000:00:{:02x}.0", i + 1),
                manufacturer: s.manufacturer.clone(),
                devicetype: s.devicetype.clone(),
                spans: vec![s],
            })
            .collect();
        Dahdi::with_devices(devs, true)
    }

    /// Build the devices, their spans and channels, and register the
    /// devices in order: with `auto_assign` (the `auto_assign_spans` module
    /// parameter) their spans get numbers at once, in order from 1;
    /// otherwise they wait for sysfs `assign_span` / `auto_assign`.
    pub fn with_devices(devs: Vec<DeviceSpec>, auto_assign: bool) -> Dahdi {
        let mut spans = Vec::new();
        let mut chans = Vec::new();
        let mut lines = Vec::new();
        let mut chan_init = Vec::new();
        let mut devices = Vec::new();
        for (di, dev) in devs.into_iter().enumerate() {
            let mut dev_spans = Vec::new();
            for (li, s) in dev.spans.into_iter().enumerate() {
                let i = spans.len();
                dev_spans.push(i);
                let chan_base = chans.len();
                let n = if s.kind == SpanKind::Analog { s.ports.len() as u32 } else { s.kind.channels() };
                for pos in 1..=n {
                    let (wiring, sigcap, line) = if s.kind == SpanKind::Analog {
                        let fxs = s.ports[(pos - 1) as usize];
                        if fxs {
                            (
                                Wiring::Analog,
                                SIG_FXOKS | SIG_FXOLS | SIG_FXOGS | SIG_SF | SIG_EM | SIG_CLEAR,
                                Line::Phone(Box::new(crate::farend::Phone::new())),
                            )
                        } else {
                            (Wiring::Analog, SIG_FXSKS | SIG_FXSLS | SIG_SF | SIG_CLEAR, Line::Co(Box::default()))
                        }
                    } else {
                        (
                            Wiring::Digital,
                            SIG_EM
                                | SIG_CLEAR
                                | SIG_EM_E1
                                | SIG_FXSLS
                                | SIG_FXSGS
                                | SIG_FXSKS
                                | SIG_HARDHDLC
                                | SIG_MTP2
                                | SIG_FXOLS
                                | SIG_FXOGS
                                | SIG_FXOKS
                                | SIG_CAS
                                | SIG_SF,
                            Line::Trunk(Box::default()),
                        )
                    };
                    // wctdm24xxp names ports from 0 ("WCTDM/0/0"); wct4xxp names
                    // timeslots from 1 ("TE4/0/1/1").
                    let name = if s.kind == SpanKind::Analog { format!("{}/{}", s.name, pos - 1) } else { format!("{}/{}", s.name, pos) };
                    let init = device::ChanInit { span: i, pos, name, wiring, sigcap, law: s.law };
                    chans.push(init.build());
                    chan_init.push(init);
                    lines.push(line);
                }
                let lineconfig = device::default_lineconfig(s.kind);
                spans.push(Span {
                    spanno: 0,
                    device: di,
                    local: li as u32 + 1,
                    chan_base,
                    name: s.name,
                    desc: s.desc,
                    kind: s.kind,
                    manufacturer: s.manufacturer,
                    devicetype: s.devicetype,
                    location: s.location,
                    first_chan: 0,
                    nchans: n,
                    lineconfig,
                    lbo: 0,
                    sync_prio: 0,
                    syncsrc: 0,
                    alarms: 0,
                    running: s.kind == SpanKind::Analog,
                    counters: Default::default(),
                    far: if s.kind == SpanKind::Analog { SpanFar::Ports } else { SpanFar::None },
                    rbs: true,
                    maint: 0,
                    saved_alarms: 0,
                });
            }
            devices.push(Device {
                model: dev.model,
                name: dev.name,
                parent: dev.parent,
                hardware_id: dev.hardware_id,
                location: dev.location,
                manufacturer: dev.manufacturer,
                devicetype: dev.devicetype,
                spans: dev_spans,
                present: false,
                registration_time: std::time::Duration::ZERO,
            });
        }
        let mut zones = HashMap::new();
        let mut us = [0; MAX_CADENCE];
        us[0] = 2000;
        us[1] = 4000;
        zones.insert(0, Zone { name: "us".into(), ringcadence: us });
        let n = chans.len();
        let mut d = Dahdi {
            devices,
            spans,
            chans,
            lines,
            echo: vec![echo::EchoPath::default(); n],
            chan_map: HashMap::new(),
            span_map: BTreeMap::new(),
            auto_assign,
            uevents: Vec::new(),
            seqnum: 0,
            master: None,
            chan_init,
            pseudos: Vec::new(),
            handles: HashMap::new(),
            flushed: HashSet::new(),
            next_fh: 1,
            zones,
            default_zone: Some(0),
            now_ms: 0,
            dirty: Vec::new(),
            dchan_out: Vec::new(),
            dchan_in: Vec::new(),
            frame_trace: VecDeque::new(),
            trace_frames: true,
            tx_chunks: vec![[0; CHUNK]; n],
            tx_frames: vec![None; n],
            signals: Vec::new(),
        };
        d.update_alarms_for_far();
        for dev in 0..d.devices.len() {
            d.register_device(dev);
        }
        d
    }

    /// Spans whose line is connected to nothing are in red alarm, as an
    /// unplugged card would be.
    fn update_alarms_for_far(&mut self) {
        for i in 0..self.spans.len() {
            if self.spans[i].far == SpanFar::None {
                self.set_span_alarms(i, ALARM_RED | ALARM_LOS);
            }
        }
    }

    // ---- lookup -------------------------------------------------------

    /// Index in [`Dahdi::chans`] of an assigned (real) channel number.
    pub fn chan_index(&self, channo: u32) -> Option<usize> {
        self.chan_map.get(&channo).copied()
    }

    /// Assigned channel numbers, in order.
    pub fn channos(&self) -> Vec<u32> {
        let mut v: Vec<u32> = self.chan_map.keys().copied().collect();
        v.sort_unstable();
        v
    }

    /// A pseudo or assigned real channel by number.
    pub fn chan(&self, channo: u32) -> Option<&Chan> {
        if channo >= PSEUDO_BASE {
            return self.pseudos.get((channo - PSEUDO_BASE) as usize)?.as_ref();
        }
        self.chans.get(self.chan_index(channo)?)
    }

    pub fn chan_mut(&mut self, channo: u32) -> Option<&mut Chan> {
        if channo >= PSEUDO_BASE {
            return self.pseudos.get_mut((channo - PSEUDO_BASE) as usize)?.as_mut();
        }
        let i = self.chan_index(channo)?;
        self.chans.get_mut(i)
    }

    /// Span index of an assigned span number.
    pub fn span_index(&self, spanno: i32) -> Option<usize> {
        self.span_map.get(&u32::try_from(spanno).ok()?).copied()
    }

    /// The channel number at position `pos` (from 1) of assigned span `spanno`.
    pub fn chan_at(&self, spanno: u32, pos: u32) -> Option<u32> {
        let si = *self.span_map.get(&spanno)?;
        let s = &self.spans[si];
        (pos >= 1 && pos <= s.nchans).then(|| s.first_chan + pos - 1)
    }

    /// Whether a handle's channel was unregistered under it.
    pub fn handle_gone(&self, fh: u64) -> bool {
        matches!(self.handles.get(&fh), Some((Handle::Gone, _)))
    }

    /// The channel a handle is bound to, if any.
    pub fn handle_chan(&self, fh: u64) -> Option<u32> {
        match &self.handles.get(&fh)?.0 {
            Handle::Channel(c) => *c,
            Handle::Pseudo(c) | Handle::Chan(c) => Some(*c),
            _ => None,
        }
    }

    pub fn zone_cadence(&self, zone: Option<i32>) -> Option<[i32; MAX_CADENCE]> {
        zone.and_then(|z| self.zones.get(&z)).map(|z| z.ringcadence)
    }

    fn mark(&mut self, fh: u64) {
        self.dirty.push(fh);
    }

    /// Handles whose readiness may have changed.
    pub fn take_dirty(&mut self) -> Vec<u64> {
        for c in self.chans.iter_mut().chain(self.pseudos.iter_mut().flatten()) {
            if c.dirty {
                c.dirty = false;
                if let Some(fh) = c.open_fh {
                    self.dirty.push(fh);
                }
            }
        }
        let mut v = std::mem::take(&mut self.dirty);
        v.sort_unstable();
        v.dedup();
        v
    }

    // ---- open / close ---------------------------------------------------

    /// open(2) on a device node.
    pub fn open(&mut self, node: Node, nonblock: bool) -> Result<u64, i32> {
        let fh = self.next_fh;
        let handle = match node {
            Node::Ctl => Handle::Ctl,
            Node::Channel => Handle::Channel(None),
            Node::Timer => Handle::Timer(Timer::default()),
            Node::Pseudo => {
                let slot = match self.pseudos.iter().position(|p| p.is_none()) {
                    Some(s) => s,
                    None => {
                        if self.pseudos.len() >= 512 {
                            return Err(libc::EBUSY);
                        }
                        self.pseudos.push(None);
                        self.pseudos.len() - 1
                    }
                };
                let channo = PSEUDO_BASE + slot as u32;
                let mut c = Chan::new(channo, None, 0, format!("Pseudo/{slot}"), Wiring::Pseudo, SIG_CLEAR, Law::Mulaw);
                c.sig = SIG_CLEAR;
                c.open_fh = Some(fh);
                c.nonblock = nonblock;
                c.initialize(None);
                self.pseudos[slot] = Some(c);
                Handle::Pseudo(channo)
            }
            Node::Chan(channo) => {
                self.open_chan(channo, fh, nonblock)?;
                Handle::Chan(channo)
            }
        };
        self.next_fh += 1;
        self.handles.insert(fh, (handle, nonblock));
        Ok(fh)
    }

    /// `dahdi_specchan_open`: exclusive open of a configured channel.
    fn open_chan(&mut self, channo: u32, fh: u64, nonblock: bool) -> Result<(), i32> {
        // A holder that has closed its file but whose RELEASE is still in
        // flight no longer counts (see `flushed`): finish its close now.
        if let Some(owner) = self.chan(channo).and_then(|c| c.open_fh) {
            if self.flushed.remove(&owner) {
                if let Some(c) = self.chan_mut(channo) {
                    c.close();
                }
                if let Some(h) = self.handles.get_mut(&owner) {
                    h.0 = Handle::Gone;
                }
            }
        }
        let default_zone = self.default_zone;
        let cadence = self.zone_cadence(default_zone);
        let c = self.chan_mut(channo).ok_or(libc::ENXIO)?;
        if c.removed {
            return Err(libc::ENODEV);
        }
        if c.sig == SIG_NONE {
            return Err(libc::ENXIO);
        }
        if c.sig & SIG_DACS == SIG_DACS && c.sig != SIG_CLEAR && c.sig & (1 << 16) != 0 {
            return Err(libc::EBUSY);
        }
        if c.is_open() {
            return Err(libc::EBUSY);
        }
        c.open_fh = Some(fh);
        c.nonblock = nonblock;
        c.zone = default_zone;
        c.initialize(cadence);
        Ok(())
    }

    /// close(2) of a file (FUSE FLUSH); the RELEASE follows asynchronously.
    pub fn flushed(&mut self, fh: u64) {
        if self.handles.contains_key(&fh) {
            self.flushed.insert(fh);
        }
    }

    /// release(2): the last close of a handle.
    pub fn release(&mut self, fh: u64) {
        self.flushed.remove(&fh);
        let Some((h, _)) = self.handles.remove(&fh) else { return };
        match h {
            Handle::Channel(Some(c)) | Handle::Chan(c) => {
                if let Some(ch) = self.chan_mut(c)
                    && ch.open_fh == Some(fh)
                {
                    ch.close();
                }
            }
            Handle::Pseudo(c) => {
                let slot = (c - PSEUDO_BASE) as usize;
                if let Some(p) = self.pseudos.get_mut(slot) {
                    *p = None;
                }
            }
            _ => {}
        }
    }

    /// Bind a `channel` handle to a channel (DAHDI_SPECIFY).
    pub fn specify(&mut self, fh: u64, channo: i32) -> Result<(), i32> {
        let nonblock = self.handles.get(&fh).map(|h| h.1).unwrap_or(false);
        match self.handles.get(&fh) {
            Some((Handle::Channel(None), _)) => {}
            Some((Handle::Channel(Some(_)), _)) => return Err(libc::EINVAL),
            _ => return Err(libc::EINVAL),
        }
        let channo = u32::try_from(channo).map_err(|_| libc::EINVAL)?;
        if channo == 0 || channo >= PSEUDO_BASE {
            return Err(libc::EINVAL);
        }
        self.open_chan(channo, fh, nonblock)?;
        if let Some(h) = self.handles.get_mut(&fh) {
            h.0 = Handle::Channel(Some(channo));
        }
        Ok(())
    }

    // ---- read / write / poll -------------------------------------------

    /// read(2) on a channel (`dahdi_chan_read`).
    pub fn read(&mut self, fh: u64, size: u32) -> Io<Vec<u8>> {
        let Some(channo) = self.handle_chan(fh) else {
            return if self.handle_gone(fh) { Io::Err(libc::ENODEV) } else { Io::Err(libc::EINVAL) };
        };
        let nonblock = self.handles.get(&fh).map(|h| h.1).unwrap_or(false);
        let Some(c) = self.chan_mut(channo) else { return Io::Err(libc::ENODEV) };
        if c.removed {
            return Io::Err(libc::ENODEV);
        }
        let count = (size & 0xffff) as usize;
        if count < 1 {
            return Io::Err(libc::EINVAL);
        }
        if c.event_pending() {
            return Io::Err(ELAST);
        }
        let Some(block) = c.take_rx_block() else {
            return if nonblock { Io::Err(libc::EAGAIN) } else { Io::Block };
        };
        if c.flags.linear {
            let n = (count / 2).min(block.len());
            let mut out = Vec::with_capacity(n * 2);
            for &b in &block[..n] {
                out.extend_from_slice(&c.law.decode(b).to_ne_bytes());
            }
            Io::Done(out)
        } else {
            let n = count.min(block.len());
            let mut block = block;
            block.truncate(n);
            Io::Done(block)
        }
    }

    /// write(2) on a channel (`dahdi_chan_write`).
    pub fn write(&mut self, fh: u64, data: &[u8]) -> Io<u32> {
        let Some(channo) = self.handle_chan(fh) else {
            return if self.handle_gone(fh) { Io::Err(libc::ENODEV) } else { Io::Err(libc::EINVAL) };
        };
        let nonblock = self.handles.get(&fh).map(|h| h.1).unwrap_or(false);
        let Some(c) = self.chan_mut(channo) else { return Io::Err(libc::ENODEV) };
        if c.removed {
            return Io::Err(libc::ENODEV);
        }
        let count = data.len() & 0xffff;
        if count < 1 {
            return Io::Err(libc::EINVAL);
        }
        // Writing audio cancels a dial string in progress (not on pseudo channels).
        if (c.dialer.tone_active() || c.dialer.pdialcount > 0) && !c.is_pseudo() {
            c.dialer.cancel();
        }
        if c.event_pending() {
            return Io::Err(ELAST);
        }
        if !c.writable() {
            return if nonblock { Io::Err(libc::EAGAIN) } else { Io::Block };
        }
        let block: Vec<u8> = if c.flags.linear {
            let n = (count / 2).min(c.blocksize);
            data[..n * 2].chunks_exact(2).map(|p| c.law.encode(i16::from_ne_bytes([p[0], p[1]]))).collect()
        } else {
            data[..count.min(c.blocksize)].to_vec()
        };
        let written = if c.flags.linear { block.len() * 2 } else { block.len() };
        c.push_tx_block(block);
        Io::Done(written as u32)
    }

    /// poll(2) readiness: (readable, writable, event pending).
    pub fn poll(&self, fh: u64) -> Result<(bool, bool, bool), i32> {
        if let Some((Handle::Timer(t), _)) = self.handles.get(&fh) {
            return Ok((false, false, t.tripped > 0 || t.ping));
        }
        if self.handle_gone(fh) {
            return Ok((true, true, true));
        }
        let Some(channo) = self.handle_chan(fh) else {
            return Err(libc::EINVAL);
        };
        let c = self.chan(channo).ok_or(libc::ENODEV)?;
        if c.removed {
            return Ok((true, true, true));
        }
        Ok((c.readable(), c.writable(), c.event_pending()))
    }

    // ---- span state -----------------------------------------------------

    /// Set a span's alarms and notify its channels (`dahdi_alarm_notify`).
    pub fn set_span_alarms(&mut self, span: usize, alarms: u32) {
        if self.spans[span].alarms == alarms {
            return;
        }
        let was_in_alarm = self.spans[span].alarms != 0;
        self.spans[span].alarms = alarms;
        // dahdi-base.c dahdi_alarm_notify(): the channels are told (through
        // dahdi_alarm_channel) only "if change in general state", i.e. when the
        // span goes into or out of alarm; a change of alarm bits while in
        // alarm (red -> red|yellow) shows in SPANSTAT only.
        if was_in_alarm == (alarms != 0) {
            return;
        }
        for i in self.spans[span].hw_range() {
            alarm_channel(&mut self.chans[i], alarms);
        }
        // "If we're going into or out of alarm we should try to find a new
        // master_span that may be a better fit."
        if self.spans[span].assigned() {
            self.find_master();
        }
    }

    /// Remove a channel, as a hot-unplug would: open handles get ENODEV.
    pub fn remove_chan(&mut self, channo: u32) -> bool {
        let Some(c) = self.chan_mut(channo) else { return false };
        c.removed = true;
        c.qevent(EVENT_REMOVED);
        c.dirty = true;
        true
    }

    // ---- the clock ----------------------------------------------------

    /// Advance the whole system by one millisecond.
    pub fn tick(&mut self) {
        self.now_ms += 1;
        let now = self.now_ms;
        let n = self.chans.len();

        // Phase 1: what every channel transmits this chunk.
        for i in 0..n {
            let c = &mut self.chans[i];
            let mut chunk = [c.law.silence(); CHUNK];
            self.tx_frames[i] = None;
            if c.dialer.tone_active() {
                let mut lin = [0i16; CHUNK];
                let done = c.dialer.generate(&mut lin);
                for (o, s) in chunk.iter_mut().zip(lin) {
                    *o = c.law.encode(s);
                }
                if done {
                    c.do_dial();
                }
            } else if c.is_framed() {
                self.tx_frames[i] = c.take_tx_frame();
                if let (true, Some(f), Some(si)) = (self.trace_frames, &self.tx_frames[i], c.span) {
                    push_trace(&mut self.frame_trace, FrameTrace { ms: now, span: self.spans[si].spanno, dir: "tx", hex: hex(f) });
                }
            } else if c.is_open() {
                c.take_tx_chunk(&mut chunk);
            }
            self.tx_chunks[i] = chunk;
        }

        // Phase 2: the far ends.
        for si in 0..self.spans.len() {
            let far = self.spans[si].far.clone();
            let first = self.spans[si].chan_base;
            let cnt = self.spans[si].nchans as usize;
            let down = self.spans[si].line_down();
            match far {
                SpanFar::Ports => {
                    for i in first..first + cnt {
                        self.tick_port(i, now);
                    }
                }
                SpanFar::Cross(peer) => {
                    let pfirst = self.spans[peer].chan_base;
                    let pcnt = self.spans[peer].nchans as usize;
                    let pdown = self.spans[peer].line_down();
                    for k in 0..cnt {
                        let i = first + k;
                        if down || pdown || k >= pcnt {
                            continue;
                        }
                        let j = pfirst + k;
                        let bytes = self.tx_chunks[j];
                        let bits = self.chans[j].txsig;
                        let frame = self.tx_frames[j].take();
                        let c = &mut self.chans[i];
                        if let Some(f) = frame {
                            let with_fcs = hdlc::append_fcs(&f);
                            if self.trace_frames {
                                push_trace(&mut self.frame_trace, FrameTrace { ms: now, span: self.spans[si].spanno, dir: "rx", hex: hex(&f) });
                            }
                            if c.is_framed() {
                                c.put_rx_frame(with_fcs);
                            }
                        } else if !c.is_framed() {
                            c.put_rx_bytes(&bytes, now);
                        }
                        if c.sig & SIG_CLEAR == 0 || c.sig == SIG_CAS {
                            c.rbsbits(bits);
                        }
                    }
                }
                SpanFar::External => {
                    for i in first..first + cnt {
                        let frame = self.tx_frames[i].take();
                        if let (Some(f), false) = (frame, down) {
                            if self.dchan_out.len() >= DCHAN_OUT_CAP {
                                self.dchan_out.remove(0);
                            }
                            self.dchan_out.push((si, f));
                        }
                        if down {
                            continue;
                        }
                        let law = self.chans[i].law;
                        let txbits = self.chans[i].txsig;
                        let tx = self.tx_chunks[i];
                        if let Line::Trunk(t) = &mut self.lines[i] {
                            let lin: [i16; CHUNK] = tx.map(|b| law.decode(b));
                            t.audio.recorder.push(&lin);
                            if t.seen_bits.last().map(|x| x.1) != Some(txbits) {
                                t.seen_bits.push((now, txbits));
                                if t.seen_bits.len() > 256 {
                                    t.seen_bits.remove(0);
                                }
                            }
                            let mut rx = [0i16; CHUNK];
                            t.audio.fill(&mut rx);
                            let started = std::mem::take(&mut t.audio.started);
                            let bits = t.bits;
                            let c = &mut self.chans[i];
                            if !c.is_framed() {
                                if started {
                                    c.mark_rx_onset();
                                }
                                let b: [u8; CHUNK] = rx.map(|s| law.encode(s));
                                c.put_rx_bytes(&b, now);
                            }
                            if c.sig & SIG_CLEAR == 0 || c.sig == SIG_CAS {
                                c.rbsbits(bits);
                            }
                        }
                    }
                }
                SpanFar::None => {}
            }
        }
        // Frames from external programs.
        if !self.dchan_in.is_empty() {
            let frames = std::mem::take(&mut self.dchan_in);
            for (si, f, good) in frames {
                self.deliver_external_frame(si, f, good);
            }
        }

        // Pseudo channels: a silent conference; reads are paced by the clock.
        for p in self.pseudos.iter_mut().flatten() {
            p.tx_queue.clear();
            p.tx_pos = 0;
            let s = [p.law.silence(); CHUNK];
            p.put_rx_bytes(&s, now);
        }

        // Phase 3: timers.
        for i in 0..n {
            let zone = self.chans[i].zone;
            let cad = zone.and_then(|z| self.zones.get(&z)).map(|z| z.ringcadence);
            self.chans[i].tick_timers(cad.as_ref());
        }
        let mut timer_dirty = Vec::new();
        for (fh, (h, _)) in self.handles.iter_mut() {
            if let Handle::Timer(t) = h
                && t.period > 0
            {
                t.pos -= CHUNK as i32;
                if t.pos <= 0 {
                    // dahdi-base.c process_timers(): `cur->pos = cur->ms`, so a
                    // period that is not a whole number of chunks is rounded up.
                    t.pos = t.period;
                    t.tripped += 1;
                    timer_dirty.push(*fh);
                }
            }
        }
        for fh in timer_dirty {
            self.mark(fh);
        }
    }

    /// Deliver a frame from an external program to the span's D-channel.
    fn deliver_external_frame(&mut self, si: usize, f: Vec<u8>, good_fcs: bool) {
        if self.spans[si].line_down() {
            return;
        }
        let now = self.now_ms;
        let spanno = self.spans[si].spanno;
        for i in self.spans[si].hw_range() {
            let c = &mut self.chans[i];
            if c.is_framed() && c.is_open() {
                if self.trace_frames {
                    push_trace(&mut self.frame_trace, FrameTrace { ms: now, span: spanno, dir: "rx", hex: hex(&f) });
                }
                if good_fcs {
                    c.put_rx_frame(hdlc::append_fcs(&f));
                } else {
                    c.counters.bad_fcs += 1;
                    c.qevent(EVENT_BADFCS);
                }
                return;
            }
        }
    }

    /// The D-channel of a span: the first channel configured for HDLC.
    pub fn dchan_of(&self, si: usize) -> Option<u32> {
        self.spans[si].hw_range().find(|&i| self.chans[i].is_framed()).map(|i| self.chans[i].channo)
    }

    fn tick_port(&mut self, i: usize, now: u64) {
        let law = self.chans[i].law;
        let lin: [i16; CHUNK] = self.tx_chunks[i].map(|b| law.decode(b));
        let c = &self.chans[i];
        let port = PortIn { tx: &lin, txhooksig: c.txhooksig, polarity: c.polarity, vmwi: c.vmwi, oht: c.onhooktransfer_ms > 0, now_ms: now };
        let mut rx = [0i16; CHUNK];
        self.signals.clear();
        match &mut self.lines[i] {
            Line::Phone(p) => p.tick(&port, &mut rx, &mut self.signals),
            Line::Co(co) => co.tick(&port, &mut rx, &mut self.signals),
            _ => {}
        }
        let loop_closed = match &self.lines[i] {
            Line::Phone(p) => p.view.offhook,
            Line::Co(_) => self.chans[i].txhooksig == TXSIG_OFFHOOK,
            _ => false,
        };
        self.echo[i].process(&lin, &mut rx, &self.chans[i].echocan, loop_closed);
        let started = self.lines[i].audio_mut().is_some_and(|a| std::mem::take(&mut a.started));
        let c = &mut self.chans[i];
        if c.onhooktransfer_ms > 0 {
            c.onhooktransfer_ms -= 1;
        }
        for s in self.signals.drain(..) {
            match s {
                Signal::Hook(sig) => c.hooksig(sig),
                Signal::Event(ev) => c.qevent(ev),
                Signal::Alarm(a) => alarm_channel(c, a),
            }
        }
        let b: [u8; CHUNK] = rx.map(|s| law.encode(s));
        if started {
            c.mark_rx_onset();
        }
        c.put_rx_bytes(&b, now);
    }
}

/// `dahdi_alarm_channel`: record a channel alarm and tell the host.
pub fn alarm_channel(c: &mut Chan, alarms: u32) {
    if c.chan_alarms != alarms {
        c.chan_alarms = alarms;
        c.qevent(if alarms != 0 { EVENT_ALARM } else { EVENT_NOALARM });
    }
}

pub fn hex(b: &[u8]) -> String {
    let mut s = String::with_capacity(b.len() * 2);
    for x in b {
        s.push_str(&format!("{x:02x}"));
    }
    s
}

#[cfg(test)]
mod tests;
