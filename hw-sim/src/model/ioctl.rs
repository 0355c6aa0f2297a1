//! ioctl(2) on the simulated device files, following dahdi-base.c.
//!
//! FUSE runs these in "restricted" mode: the kernel copies exactly
//! `_IOC_SIZE(cmd)` bytes in and/or out, so every request here works on the
//! fixed-size struct the header declares. Requests that follow pointers
//! (LOADZONE's tone table, ECHOCANCEL_PARAMS' parameter array, INDIRECT)
//! only see their header; see the README.

use dahdi_sys as d;
use dahdi_sys::ioctl as rq;

use super::chan::{Chan, Policy, TxState};
use super::k::*;
use super::span::SpanFar;
use super::{Dahdi, Handle, Io, alarm_channel};
use tandem_dsp::g711::Law;

/// Plain-old-data structs from `dahdi-sys` that may be built from any bytes.
///
/// # Safety
/// Implementors contain only integers and integer arrays (no padding-sensitive
/// invariants, no pointers, no enums or bools), so every bit pattern is valid.
unsafe trait Pod: Copy + Default {}
unsafe impl Pod for d::dahdi_params {}
unsafe impl Pod for d::dahdi_spaninfo {}
unsafe impl Pod for d::dahdi_lineconfig {}
unsafe impl Pod for d::dahdi_chanconfig {}
unsafe impl Pod for d::dahdi_bufferinfo {}
unsafe impl Pod for d::dahdi_gains {}
unsafe impl Pod for d::dahdi_confinfo {}
unsafe impl Pod for d::dahdi_dialoperation {}
unsafe impl Pod for d::dahdi_versioninfo {}
unsafe impl Pod for d::dahdi_attach_echocan {}
unsafe impl Pod for d::dahdi_ring_cadence {}
unsafe impl Pod for d::dahdi_maintinfo {}
unsafe impl Pod for d::dahdi_vmwi_info {}
unsafe impl Pod for d::dahdi_dialparams {}

fn from_bytes<T: Pod>(b: &[u8]) -> T {
    let mut t = T::default();
    let n = std::mem::size_of::<T>().min(b.len());
    // SAFETY: T is Pod (any bytes are a valid T); we copy at most size_of::<T>() bytes.
    unsafe { std::ptr::copy_nonoverlapping(b.as_ptr(), (&mut t as *mut T).cast::<u8>(), n) };
    t
}

fn to_bytes<T: Pod>(t: &T) -> Vec<u8> {
    // SAFETY: T is Pod and fully initialised; reading its bytes is sound.
    unsafe { std::slice::from_raw_parts((t as *const T).cast::<u8>(), std::mem::size_of::<T>()) }.to_vec()
}

fn int_in(b: &[u8]) -> i32 {
    let mut a = [0u8; 4];
    let n = b.len().min(4);
    a[..n].copy_from_slice(&b[..n]);
    i32::from_ne_bytes(a)
}

fn int_out(v: i32) -> Io<(i32, Vec<u8>)> {
    Io::Done((0, v.to_ne_bytes().to_vec()))
}

fn ok() -> Io<(i32, Vec<u8>)> {
    Io::Done((0, Vec::new()))
}

fn cstr(s: &str, out: &mut [std::os::raw::c_char]) {
    let n = out.len();
    for (i, o) in out.iter_mut().enumerate() {
        *o = 0;
        if i + 1 < n
            && let Some(&b) = s.as_bytes().get(i)
        {
            *o = b as std::os::raw::c_char;
        }
    }
}

fn rstr(b: &[std::os::raw::c_char]) -> String {
    b.iter().take_while(|&&c| c != 0).map(|&c| c as u8 as char).collect()
}

/// Every request the simulator knows, for the "unknown gets ENOTTY" rule.
pub fn known(cmd: u32) -> bool {
    rq::ALL.iter().any(|(_, c)| *c == cmd)
}

impl Dahdi {
    /// Dispatch one ioctl. Returns the result value and the bytes to copy out.
    pub fn ioctl(&mut self, fh: u64, cmd: u32, data: &[u8]) -> Io<(i32, Vec<u8>)> {
        let Some((handle, _)) = self.handles.get(&fh) else { return Io::Err(libc::EBADF) };
        if matches!(handle, Handle::Gone) {
            // nodev_unlocked_ioctl()
            return Io::Err(libc::ENODEV);
        }
        let is_timer = matches!(handle, Handle::Timer(_));
        let own = self.handle_chan(fh);
        if let Some(c) = own.and_then(|c| self.chan(c))
            && c.removed
        {
            return Io::Err(libc::ENODEV);
        }
        if is_timer {
            return self.timer_ioctl(fh, cmd, data);
        }
        match cmd {
            rq::DAHDI_GETVERSION => {
                let mut v = d::dahdi_versioninfo::default();
                cstr(VERSION, &mut v.version);
                cstr("SIM (no echo cancellation)", &mut v.echo_canceller);
                Io::Done((0, to_bytes(&v)))
            }
            rq::DAHDI_GET_PARAMS => self.get_params(own, data),
            rq::DAHDI_SET_PARAMS => {
                let p: d::dahdi_params = from_bytes(data);
                let target = own.or(u32::try_from(p.channo).ok());
                let Some(c) = target.and_then(|t| self.chan_mut(t)) else { return Io::Err(libc::EINVAL) };
                let t = &mut c.timing;
                t.prewinktime = p.prewinktime;
                t.preflashtime = p.preflashtime;
                t.winktime = p.winktime;
                t.flashtime = p.flashtime;
                t.starttime = p.starttime;
                t.rxwinktime = p.rxwinktime;
                t.rxflashtime = p.rxflashtime;
                t.debouncetime = p.debouncetime;
                t.pulsemaketime = p.pulsemaketime;
                t.pulsebreaktime = p.pulsebreaktime;
                t.pulseaftertime = p.pulseaftertime;
                if c.zone.is_none() {
                    c.ringcadence[0] = p.starttime;
                }
                ok()
            }
            rq::DAHDI_SPANSTAT => self.spanstat(own, data),
            rq::DAHDI_SPANCONFIG => {
                let lc: d::dahdi_lineconfig = from_bytes(data);
                let Some(si) = self.span_index(lc.span) else { return Io::Err(libc::ENXIO) };
                let s = &mut self.spans[si];
                let lineconfig = lc.lineconfig as u32;
                if lineconfig & 0x1ff0 & s.kind.linecompat() != lineconfig & 0x1ff0 {
                    return Io::Err(libc::EINVAL);
                }
                if s.kind != super::span::SpanKind::Analog {
                    s.lineconfig = lineconfig;
                    s.lbo = lc.lbo;
                    s.sync_prio = lc.sync;
                }
                self.recompute_sync();
                ok()
            }
            rq::DAHDI_CHANCONFIG => self.chanconfig(data),
            rq::DAHDI_STARTUP => {
                let Some(si) = self.span_index(int_in(data)) else { return Io::Err(libc::ENXIO) };
                if !self.spans[si].running {
                    self.spans[si].running = true;
                    for i in self.spans[si].hw_range() {
                        let c = &mut self.chans[i];
                        if let Some((_, idle)) = super::chan::idle_rx_pattern(c.sig, c.idlebits) {
                            c.rxsig = idle;
                        }
                        c.hangup();
                        c.rxhooksig = RXSIG_INITIAL;
                    }
                    self.recompute_sync();
                    self.find_master();
                }
                ok()
            }
            rq::DAHDI_SHUTDOWN => {
                let Some(si) = self.span_index(int_in(data)) else { return Io::Err(libc::ENXIO) };
                for i in self.spans[si].hw_range() {
                    self.chans[i].sig = SIG_NONE;
                }
                self.spans[si].running = false;
                ok()
            }
            rq::DAHDI_MAINT => {
                let m: d::dahdi_maintinfo = from_bytes(data);
                let Some(si) = self.span_index(m.spanno) else { return Io::Err(libc::EINVAL) };
                self.spans[si].maint = m.command;
                // DAHDI_MAINT_NONE (0) clears loopback; the loopback commands set it.
                let mut alarms = self.spans[si].alarms & !ALARM_LOOPBACK;
                if matches!(m.command, 1..=3) {
                    alarms |= ALARM_LOOPBACK;
                }
                self.set_span_alarms(si, alarms);
                ok()
            }
            rq::DAHDI_ATTACH_ECHOCAN => {
                let a: d::dahdi_attach_echocan = from_bytes(data);
                let Some(c) = u32::try_from(a.chan).ok().and_then(|n| self.chan_mut(n)) else {
                    return Io::Err(libc::EINVAL);
                };
                let name = rstr(&a.echocan);
                c.echocan.attached = if name.is_empty() { None } else { Some(name) };
                ok()
            }
            rq::DAHDI_LOADZONE => {
                // Only the header crosses FUSE: zone number, name and ring cadence.
                let n = std::mem::size_of::<d::dahdi_tone_def_header>().min(data.len());
                let mut cad = [0i32; MAX_CADENCE];
                let zone = int_in(data.get(4..8).unwrap_or(&[]));
                for (i, c) in cad.iter_mut().enumerate() {
                    *c = int_in(data.get(8 + i * 4..12 + i * 4).unwrap_or(&[]));
                }
                let name: String = data.get(72..n).unwrap_or(&[]).iter().take_while(|&&b| b != 0).map(|&b| b as char).collect();
                if !(0..128).contains(&zone) {
                    return Io::Err(libc::EINVAL);
                }
                self.zones.insert(zone, super::Zone { name, ringcadence: cad });
                ok()
            }
            rq::DAHDI_FREEZONE => {
                let z = int_in(data);
                if !(0..128).contains(&z) {
                    return Io::Err(libc::EINVAL);
                }
                if self.chans.iter().any(|c| c.is_open() && c.zone == Some(z)) {
                    return Io::Err(libc::EBUSY);
                }
                ok()
            }
            rq::DAHDI_DEFAULTZONE => {
                let z = int_in(data);
                if !self.zones.contains_key(&z) {
                    return Io::Err(libc::EINVAL);
                }
                self.default_zone = Some(z);
                ok()
            }
            rq::DAHDI_SET_DIALPARAMS | rq::DAHDI_CHANDIAG | rq::DAHDI_CHANDIAG_V1 | rq::DAHDI_SFCONFIG | rq::DAHDI_CONFLINK => ok(),
            rq::DAHDI_GET_DIALPARAMS => {
                let p = super::dial::Dialer::params();
                let v = d::dahdi_dialparams { mfv1_tonelen: p.mfv1_tonelen, dtmf_tonelen: p.dtmf_tonelen, mfr2_tonelen: p.mfr2_tonelen, reserved: [0; 3] };
                Io::Done((0, to_bytes(&v)))
            }
            rq::DAHDI_GETGAINS | rq::DAHDI_SETGAINS => {
                let g: d::dahdi_gains = from_bytes(data);
                let target = if g.chan > 0 { u32::try_from(g.chan).ok() } else { own };
                let Some(c) = target.and_then(|t| self.chan_mut(t)) else { return Io::Err(libc::EINVAL) };
                if cmd == rq::DAHDI_SETGAINS {
                    let ident = |t: &[u8; 256]| t.iter().enumerate().all(|(i, &v)| v as usize == i);
                    c.rxgain = (!ident(&g.rxgain)).then(|| Box::new(g.rxgain));
                    c.txgain = (!ident(&g.txgain)).then(|| Box::new(g.txgain));
                    ok()
                } else {
                    let mut out = g;
                    out.chan = c.channo as i32;
                    for i in 0..256 {
                        out.rxgain[i] = c.rxgain.as_ref().map(|t| t[i]).unwrap_or(i as u8);
                        out.txgain[i] = c.txgain.as_ref().map(|t| t[i]).unwrap_or(i as u8);
                    }
                    Io::Done((0, to_bytes(&out)))
                }
            }
            rq::DAHDI_GETCONF | rq::DAHDI_SETCONF => {
                let ci: d::dahdi_confinfo = from_bytes(data);
                let target = if ci.chan > 0 { u32::try_from(ci.chan).ok() } else { own };
                let Some(c) = target.and_then(|t| self.chan_mut(t)) else { return Io::Err(libc::EINVAL) };
                if cmd == rq::DAHDI_SETCONF {
                    c.conf = super::chan::Conf { chan: ci.chan, confno: ci.confno, confmode: ci.confmode };
                    let mut out = ci;
                    out.chan = c.channo as i32;
                    Io::Done((0, to_bytes(&out)))
                } else {
                    let out = d::dahdi_confinfo { chan: c.channo as i32, confno: c.conf.confno, confmode: c.conf.confmode };
                    Io::Done((0, to_bytes(&out)))
                }
            }
            rq::DAHDI_SPECIFY => match self.specify(fh, int_in(data)) {
                Ok(()) => ok(),
                Err(e) => Io::Err(e),
            },
            rq::DAHDI_INDIRECT => Io::Err(libc::EINVAL),
            _ => {
                if !known(cmd) {
                    return Io::Err(libc::ENOTTY);
                }
                let Some(channo) = own else {
                    // A channel request on ctl or an unbound `channel`.
                    return Io::Err(libc::EINVAL);
                };
                self.chan_ioctl(fh, channo, cmd, data)
            }
        }
    }

    /// Requests that act on the handle's own channel.
    fn chan_ioctl(&mut self, fh: u64, channo: u32, cmd: u32, data: &[u8]) -> Io<(i32, Vec<u8>)> {
        let nonblock = self.handles.get(&fh).map(|h| h.1).unwrap_or(false);
        let Some(c) = self.chan_mut(channo) else { return Io::Err(libc::ENODEV) };
        match cmd {
            rq::DAHDI_GET_BLOCKSIZE => int_out(c.blocksize as i32),
            rq::DAHDI_SET_BLOCKSIZE => {
                let j = int_in(data);
                if !(16..=MAX_BLOCKSIZE as i32).contains(&j) {
                    return Io::Err(libc::EINVAL);
                }
                let nb = c.numbufs;
                c.reallocbufs(j as usize, nb);
                ok()
            }
            rq::DAHDI_FLUSH => {
                let j = int_in(data);
                if j & FLUSH_READ != 0 {
                    c.flush_rx();
                }
                if j & FLUSH_WRITE != 0 {
                    c.flush_tx();
                }
                if j & FLUSH_EVENT != 0 {
                    c.events.clear();
                }
                ok()
            }
            rq::DAHDI_SYNC => {
                if c.tx_empty() {
                    ok()
                } else {
                    Io::Block
                }
            }
            rq::DAHDI_GET_BUFINFO => {
                let b = d::dahdi_bufferinfo {
                    txbufpolicy: c.txpolicy.raw(),
                    rxbufpolicy: c.rxpolicy.raw(),
                    numbufs: c.numbufs as i32,
                    bufsize: c.blocksize as i32,
                    readbufs: c.rx_ready.len() as i32,
                    writebufs: c.tx_queue.len() as i32,
                };
                Io::Done((0, to_bytes(&b)))
            }
            rq::DAHDI_SET_BUFINFO => {
                let b: d::dahdi_bufferinfo = from_bytes(data);
                // dahdi-base.c DAHDI_SET_BUFINFO: only bufsize is validated
                // (16..=DAHDI_MAX_BLOCKSIZE, bufsize * numbufs <= DAHDI_MAX_BUF_SPACE);
                // the receive policy is ignored ("DAHDI always provides received
                // buffers to upper layers immediately"), the transmit policy is
                // taken as `txbufpolicy & 0x3`, and dahdi_reallocbufs() clamps
                // numbufs to 2..=DAHDI_MAX_NUM_BUFS instead of refusing it.
                if b.bufsize < 16 || b.bufsize as usize > MAX_BLOCKSIZE {
                    return Io::Err(libc::EINVAL);
                }
                if i64::from(b.bufsize) * i64::from(b.numbufs) > MAX_BUF_SPACE as i64 {
                    return Io::Err(libc::EINVAL);
                }
                c.txpolicy = Policy::from_raw(b.txbufpolicy & 0x3).unwrap_or(Policy::Immediate);
                c.rxpolicy = Policy::Immediate;
                let numbufs = b.numbufs.clamp(2, MAX_NUM_BUFS as i32) as usize;
                c.reallocbufs(b.bufsize as usize, numbufs);
                ok()
            }
            rq::DAHDI_GETEVENT => int_out(c.events.pop_front().unwrap_or(EVENT_NONE)),
            rq::DAHDI_IOMUX => {
                let mask = int_in(data) as u32;
                if mask == 0 {
                    return Io::Err(libc::EINVAL);
                }
                let mut r = 0u32;
                if mask & IOMUX_READ != 0 && c.readable() {
                    r |= IOMUX_READ;
                }
                if mask & IOMUX_WRITE != 0 && c.writable() {
                    r |= IOMUX_WRITE;
                }
                if mask & IOMUX_WRITEEMPTY != 0 {
                    c.txdisable = false;
                    if c.tx_empty() {
                        r |= IOMUX_WRITEEMPTY;
                    }
                }
                if mask & IOMUX_SIGEVENT != 0 && c.event_pending() {
                    r |= IOMUX_SIGEVENT;
                }
                if r != 0 || mask & IOMUX_NOWAIT != 0 { int_out(r as i32) } else { Io::Block }
            }
            rq::DAHDI_HOOK => hook(c, int_in(data), nonblock),
            rq::DAHDI_DIAL => {
                let op: d::dahdi_dialoperation = from_bytes(data);
                if c.zone.is_none() {
                    return Io::Err(libc::ENODATA);
                }
                let s: Vec<u8> = rstr(&op.dialstr).to_ascii_uppercase().into_bytes();
                match op.op {
                    x if x == DIAL_OP_CANCEL => c.dialer.cancel(),
                    x if x == DIAL_OP_REPLACE => {
                        c.dialer.cancel();
                        c.dialer.buf = s.into_iter().collect();
                        c.dialer.dialing = true;
                        c.do_dial();
                    }
                    x if x == DIAL_OP_APPEND => {
                        if s.len() + c.dialer.buf.len() >= d::DAHDI_MAX_DTMF_BUF as usize - 1 {
                            return Io::Err(libc::EBUSY);
                        }
                        c.dialer.buf.extend(s);
                        if !c.dialer.dialing {
                            c.dialer.dialing = true;
                            c.do_dial();
                        }
                    }
                    _ => return Io::Err(libc::EINVAL),
                }
                ok()
            }
            rq::DAHDI_DIALING => int_out(i32::from(c.dialer.dialing)),
            rq::DAHDI_CHANNO => int_out(c.channo as i32),
            rq::DAHDI_SETLAW => {
                let j = int_in(data);
                c.law = match j {
                    x if x == LAW_DEFAULT => c.deflaw,
                    x if x == LAW_MULAW => Law::Mulaw,
                    x if x == LAW_ALAW => Law::Alaw,
                    _ => return Io::Err(libc::EINVAL),
                };
                ok()
            }
            rq::DAHDI_SETLINEAR => {
                c.flags.linear = int_in(data) != 0;
                ok()
            }
            rq::DAHDI_AUDIOMODE => {
                let on = int_in(data) != 0;
                if c.sig & SIG_CLEAR != 0 && c.sig != SIG_HARDHDLC {
                    if on {
                        c.flags.audio = true;
                        c.flags.hdlc = false;
                        c.flags.fcs = false;
                    } else {
                        c.flags.audio = false;
                    }
                } else {
                    c.flags.audio = on;
                }
                ok()
            }
            rq::DAHDI_HDLCRAWMODE | rq::DAHDI_HDLCFCSMODE => {
                if c.sig & SIG_CLEAR == 0 {
                    return Io::Err(libc::EINVAL);
                }
                let on = int_in(data) != 0;
                c.flags.hdlc = on;
                c.flags.fcs = on && cmd == rq::DAHDI_HDLCFCSMODE;
                if on {
                    c.flags.audio = false;
                }
                c.flush_rx();
                c.flush_tx();
                ok()
            }
            rq::DAHDI_HDLC_RATE => {
                c.hdlc_rate = int_in(data);
                ok()
            }
            rq::DAHDI_ECHOCANCEL => {
                let j = int_in(data);
                if j < 0 {
                    return Io::Err(libc::EINVAL);
                }
                c.echocan.taps = j as u32;
                c.echocan.fax_mode = false;
                ok()
            }
            rq::DAHDI_ECHOCANCEL_PARAMS => {
                // Only the 8-byte header crosses FUSE (tap_length, param_count).
                let taps = int_in(data.get(0..4).unwrap_or(&[]));
                if !(0..=1024).contains(&taps) {
                    return Io::Err(libc::EINVAL);
                }
                if c.sig & SIG_CLEAR != 0 && taps != 0 && c.sig != SIG_CLEAR {
                    return Io::Err(libc::EINVAL);
                }
                // A new canceller starts in voice mode.
                c.echocan.taps = taps as u32;
                c.echocan.fax_mode = false;
                ok()
            }
            rq::DAHDI_ECHOCANCEL_FAX_MODE => {
                // dahdi-base.c: EINVAL without a canceller. The simulated
                // canceller has no NLP switch, so fax mode does what DAHDI does
                // for such cancellers: frees it and queues EC_DISABLED.
                if c.echocan.taps == 0 {
                    return Io::Err(libc::EINVAL);
                }
                if int_in(data) != 0 {
                    c.echocan.fax_mode = true;
                    c.echocan.taps = 0;
                    c.qevent(EVENT_EC_DISABLED);
                }
                ok()
            }
            rq::DAHDI_ECHOTRAIN => ok(),
            rq::DAHDI_GETRXBITS => {
                if c.span.is_none() || c.wiring != super::chan::Wiring::Digital {
                    return Io::Err(libc::EINVAL);
                }
                int_out(c.rxsig as i32)
            }
            rq::DAHDI_SETTXBITS => {
                if c.sig != SIG_CAS {
                    return Io::Err(libc::EINVAL);
                }
                c.txsig = int_in(data) as u32 & 0xf;
                c.dirty = true;
                ok()
            }
            rq::DAHDI_SETCADENCE => {
                if data.is_empty() {
                    // A NULL pointer in DAHDI restores the zone's cadence; here the
                    // struct always arrives, so an all-zero cadence does the same.
                }
                let rc: d::dahdi_ring_cadence = from_bytes(data);
                if rc.ringcadence.iter().all(|&x| x == 0) {
                    return ok();
                }
                if rc.ringcadence.iter().any(|&x| x < 0) {
                    return Io::Err(libc::EINVAL);
                }
                c.ringcadence = rc.ringcadence;
                c.firstcadencepos = 0;
                ok()
            }
            rq::DAHDI_SETTONEZONE => {
                let z = int_in(data);
                let cad = self.zones.get(&z).map(|z| z.ringcadence);
                let Some(cad) = cad else { return Io::Err(libc::ENODATA) };
                let c = self.chan_mut(channo).expect("checked above");
                c.zone = Some(z);
                c.ringcadence = cad;
                ok()
            }
            rq::DAHDI_GETTONEZONE => int_out(c.zone.unwrap_or(0)),
            rq::DAHDI_SENDTONE => {
                if c.zone.is_none() {
                    return Io::Err(libc::ENODATA);
                }
                ok()
            }
            rq::DAHDI_CONFMUTE => ok(),
            rq::DAHDI_GETCONFMUTE => int_out(0),
            rq::DAHDI_GETSIGFREEZE => int_out(i32::from(c.flags.sigfreeze)),
            rq::DAHDI_SETSIGFREEZE => {
                c.flags.sigfreeze = int_in(data) != 0;
                ok()
            }
            rq::DAHDI_SETPOLARITY => {
                if c.wiring != super::chan::Wiring::Analog || !c.is_fxo_sig() {
                    return Io::Err(libc::EINVAL);
                }
                c.polarity = int_in(data) != 0;
                c.dirty = true;
                ok()
            }
            rq::DAHDI_VMWI => {
                if c.wiring != super::chan::Wiring::Analog || !c.is_fxo_sig() {
                    return Io::Err(libc::EINVAL);
                }
                let j = int_in(data);
                if j < 0 {
                    return Io::Err(libc::EINVAL);
                }
                c.vmwi = j;
                ok()
            }
            rq::DAHDI_VMWI_CONFIG => {
                if c.wiring != super::chan::Wiring::Analog || !c.is_fxo_sig() {
                    return Io::Err(libc::EINVAL);
                }
                c.vmwi_config = data.to_vec();
                ok()
            }
            rq::DAHDI_ONHOOKTRANSFER => {
                if c.wiring != super::chan::Wiring::Analog || !c.is_fxo_sig() {
                    return Io::Err(libc::EINVAL);
                }
                let ms = int_in(data);
                if c.txstate != TxState::OnHook {
                    return Io::Err(libc::EBUSY);
                }
                c.onhooktransfer_ms = ms.max(0);
                ok()
            }
            rq::DAHDI_BUFFER_EVENTS => {
                c.flags.buffer_events = int_in(data) != 0;
                ok()
            }
            rq::DAHDI_LOOPBACK => ok(),
            rq::DAHDI_TONEDETECT | rq::DAHDI_SET_HWGAIN => Io::Err(libc::ENOSYS),
            rq::DAHDI_TIMERCONFIG | rq::DAHDI_TIMERACK | rq::DAHDI_TIMERPING | rq::DAHDI_TIMERPONG => Io::Err(libc::EINVAL),
            _ => Io::Err(libc::ENOTTY),
        }
    }

    /// The `timer` device (dahdi-base.c `dahdi_timer_unlocked_ioctl`).
    fn timer_ioctl(&mut self, fh: u64, cmd: u32, data: &[u8]) -> Io<(i32, Vec<u8>)> {
        let Some((Handle::Timer(t), _)) = self.handles.get_mut(&fh) else { return Io::Err(libc::EINVAL) };
        match cmd {
            rq::DAHDI_TIMERCONFIG => {
                // A negative period disables the timer like 0; the position is
                // only reset when the period changes.
                let j = int_in(data).max(0);
                if t.period != j {
                    t.period = j;
                    t.pos = j;
                }
                ok()
            }
            rq::DAHDI_TIMERACK => {
                // Acknowledges j expiries (all of them when j is out of range);
                // the ioctl itself returns 0, as res_timing_dahdi expects.
                let j = int_in(data);
                let n = if j < 1 || j > t.tripped { t.tripped } else { j };
                t.tripped -= n;
                ok()
            }
            rq::DAHDI_GETEVENT => {
                // A ping outranks an expiry and stays until DAHDI_TIMERPONG.
                let ev = if t.ping {
                    EVENT_TIMER_PING
                } else if t.tripped > 0 {
                    EVENT_TIMER_EXPIRED
                } else {
                    EVENT_NONE
                };
                int_out(ev)
            }
            rq::DAHDI_TIMERPING => {
                t.ping = true;
                self.dirty.push(fh);
                ok()
            }
            rq::DAHDI_TIMERPONG => {
                t.ping = false;
                ok()
            }
            _ => Io::Err(libc::ENOTTY),
        }
    }

    fn get_params(&mut self, own: Option<u32>, data: &[u8]) -> Io<(i32, Vec<u8>)> {
        let mut p: d::dahdi_params = from_bytes(data);
        let return_master = p.channo as u32 & d::DAHDI_GET_PARAMS_RETURN_MASTER != 0;
        let wanted = (p.channo as u32) & !d::DAHDI_GET_PARAMS_RETURN_MASTER;
        let target = own.or(Some(wanted));
        let Some(c) = target.and_then(|t| self.chan(t)) else { return Io::Err(libc::EINVAL) };
        let spanno = c.span.map(|si| self.spans[si].spanno).unwrap_or(0);
        fill_params(c, spanno, &mut p);
        if return_master {
            p.channo |= (c.channo as i32) << 16;
        }
        Io::Done((0, to_bytes(&p)))
    }

    fn spanstat(&mut self, own: Option<u32>, data: &[u8]) -> Io<(i32, Vec<u8>)> {
        let mut si_out: d::dahdi_spaninfo = from_bytes(data);
        let idx = if si_out.spanno == 0 {
            match own.and_then(|c| self.chan(c)).and_then(|c| c.span) {
                Some(i) => i,
                None => return Io::Err(libc::EINVAL),
            }
        } else {
            match self.span_index(si_out.spanno) {
                Some(i) => i,
                None => return Io::Err(libc::EINVAL),
            }
        };
        let s = &self.spans[idx];
        si_out.spanno = s.spanno as i32;
        si_out.totalspans = self.span_map.len() as i32;
        cstr(&s.desc, &mut si_out.desc);
        cstr(&s.name, &mut si_out.name);
        si_out.alarms = s.alarms as i32;
        si_out.rxlevel = 0;
        si_out.txlevel = s.lbo;
        si_out.bpvcount = s.counters.bpv as i32;
        si_out.crc4count = s.counters.crc4 as i32;
        si_out.ebitcount = s.counters.ebit as i32;
        si_out.fascount = s.counters.fas as i32;
        si_out.fecount = s.counters.fe;
        si_out.cvcount = s.counters.cv;
        si_out.becount = s.counters.be;
        si_out.prbs = s.counters.prbs;
        si_out.errsec = s.counters.errsec;
        si_out.irqmisses = 0;
        si_out.syncsrc = s.syncsrc;
        si_out.totalchans = s.nchans as i32;
        si_out.numchans = s.hw_range().filter(|&i| self.chans[i].sig != SIG_NONE).count() as i32;
        si_out.lbo = s.lbo;
        si_out.lineconfig = s.lineconfig as i32;
        si_out.irq = 0;
        si_out.linecompat = s.kind.linecompat() as i32;
        cstr(lbo_name(s.lbo), &mut si_out.lboname);
        cstr(&s.manufacturer, &mut si_out.manufacturer);
        cstr(&s.devicetype, &mut si_out.devicetype);
        cstr(&s.location, &mut si_out.location);
        cstr(s.kind.type_str(), &mut si_out.spantype);
        Io::Done((0, to_bytes(&si_out)))
    }

    fn chanconfig(&mut self, data: &[u8]) -> Io<(i32, Vec<u8>)> {
        let ch: d::dahdi_chanconfig = from_bytes(data);
        let Some(channo) = u32::try_from(ch.chan).ok().filter(|&n| n > 0 && n < super::PSEUDO_BASE) else {
            return Io::Err(libc::EINVAL);
        };
        let mut sigtype = ch.sigtype as u32;
        if sigtype == SIG_SLAVE {
            let Some(m) = u32::try_from(ch.master).ok().and_then(|m| self.chan(m)) else { return Io::Err(libc::EINVAL) };
            sigtype = m.sig;
        } else if sigtype & (1 << 16) != 0 && self.chan(ch.idlebits as u32).is_none() {
            return Io::Err(libc::EINVAL);
        }
        if sigtype == SIG_HDLCNET {
            return Io::Err(libc::ENOSYS);
        }
        let Some(c) = self.chan_mut(channo) else { return Io::Err(libc::EINVAL) };
        let mut sigcap = c.sigcap;
        if sigcap & SIG_CLEAR != 0 {
            sigcap |= SIG_HDLCRAW | SIG_HDLCFCS | SIG_HDLCNET | SIG_DACS;
        }
        if sigcap & sigtype != sigtype {
            return Io::Err(libc::EINVAL);
        }
        c.sig = sigtype;
        c.idlebits = if sigtype == SIG_CAS { ch.idlebits as u32 } else { 0 };
        let name = rstr(&ch.name);
        if !name.is_empty() {
            c.name = name;
        }
        if ch.deflaw == LAW_MULAW {
            c.deflaw = Law::Mulaw;
            c.law = Law::Mulaw;
        } else if ch.deflaw == LAW_ALAW {
            c.deflaw = Law::Alaw;
            c.law = Law::Alaw;
        }
        c.timing = super::chan::Timing::defaults(sigtype);
        c.flags.hdlc = matches!(sigtype, SIG_HDLCRAW | SIG_HDLCFCS | SIG_MTP2);
        c.flags.fcs = matches!(sigtype, SIG_HDLCFCS | SIG_MTP2);
        c.flags.audio = sigtype & SIG_CLEAR == 0;
        if sigtype == SIG_CAS {
            c.txsig = c.idlebits;
        }
        c.dirty = true;
        ok()
    }

    /// The timing source is the running span with the best (lowest non-zero) priority.
    pub(crate) fn recompute_sync(&mut self) {
        let best = self
            .spans
            .iter()
            .filter(|s| s.assigned() && s.running && s.sync_prio > 0 && !s.line_down())
            .min_by_key(|s| s.sync_prio)
            .map(|s| s.spanno as i32)
            .unwrap_or(0);
        for s in &mut self.spans {
            s.syncsrc = best;
        }
    }

    /// Mark the far-end connection of a span (used by the config loader).
    pub fn set_far(&mut self, si: usize, far: SpanFar) {
        self.spans[si].far = far;
        let alarms = if self.spans[si].far == SpanFar::None { ALARM_RED | ALARM_LOS } else { 0 };
        self.set_span_alarms(si, alarms);
    }

    /// Apply an alarm change on one channel (analog battery loss).
    pub fn chan_alarm(&mut self, channo: u32, alarms: u32) {
        if let Some(c) = self.chan_mut(channo) {
            alarm_channel(c, alarms);
        }
    }
}

/// DAHDI_HOOK on a channel (dahdi-base.c `dahdi_chan_ioctl` case DAHDI_HOOK).
fn hook(c: &mut Chan, j: i32, nonblock: bool) -> Io<(i32, Vec<u8>)> {
    if c.is_clear() && c.sig != SIG_CAS {
        return Io::Err(libc::EINVAL);
    }
    if c.sig == SIG_CAS {
        return Io::Err(libc::EINVAL);
    }
    if c.span.is_none() {
        return ok();
    }
    c.dialer.cancel();
    match j {
        x if x == ONHOOK => c.hangup(),
        x if x == OFFHOOK => {
            if matches!(c.txstate, TxState::Kewl | TxState::AfterKewl) {
                return Io::Err(libc::EBUSY);
            }
            let t = c.timing.debouncetime;
            c.rbs_sethook(TXSIG_OFFHOOK, TxState::Debounce, t);
        }
        x if x == RING || x == START => {
            if c.zone.is_none() {
                return Io::Err(libc::ENODATA);
            }
            if c.txstate != TxState::OnHook {
                return Io::Err(libc::EBUSY);
            }
            if c.is_fxo_sig() {
                c.cadencepos = 0;
                let len = c.ringcadence[0];
                c.rbs_sethook(TXSIG_START, TxState::RingOn, len);
            } else {
                let t = c.timing.starttime;
                c.rbs_sethook(TXSIG_START, TxState::Start, t);
            }
            if nonblock {
                return Io::Err(libc::EINPROGRESS);
            }
        }
        x if x == WINK => {
            if c.txstate != TxState::OnHook {
                return Io::Err(libc::EBUSY);
            }
            let t = c.timing.prewinktime;
            c.rbs_sethook(TXSIG_ONHOOK, TxState::PreWink, t);
            if nonblock {
                return Io::Err(libc::EINPROGRESS);
            }
            // Blocking: the FUSE layer waits until the wink has finished.
            return Io::Done((HOOK_WAIT_ONHOOK, Vec::new()));
        }
        x if x == FLASH => {
            if c.txstate != TxState::OffHook {
                return Io::Err(libc::EBUSY);
            }
            let t = c.timing.preflashtime;
            c.rbs_sethook(TXSIG_OFFHOOK, TxState::PreFlash, t);
            if nonblock {
                return Io::Err(libc::EINPROGRESS);
            }
            return Io::Done((HOOK_WAIT_OFFHOOK, Vec::new()));
        }
        x if x == RINGOFF => c.rbs_sethook(TXSIG_ONHOOK, TxState::OnHook, 0),
        _ => return Io::Err(libc::EINVAL),
    }
    ok()
}

/// Sentinel results telling the FUSE layer to hold a blocking HOOK until the
/// transmit state settles (they never reach the caller).
pub const HOOK_WAIT_ONHOOK: i32 = -1000;
pub const HOOK_WAIT_OFFHOOK: i32 = -1001;

/// True once a held WINK/FLASH may complete.
pub fn hook_settled(c: &Chan, wait: i32) -> bool {
    match wait {
        HOOK_WAIT_ONHOOK => c.txstate == TxState::OnHook,
        HOOK_WAIT_OFFHOOK => c.txstate == TxState::OffHook,
        _ => true,
    }
}

/// Fill dahdi_params from a channel (`dahdi_ioctl_getparams`).
pub fn fill_params(c: &Chan, spanno: u32, p: &mut d::dahdi_params) {
    p.sigtype = c.sig as i32;
    let digital = c.wiring == super::chan::Wiring::Digital;
    if c.span.is_some() {
        match (digital, super::chan::idle_rx_pattern(c.sig, c.idlebits)) {
            (true, Some((mask, idle))) => p.rxisoffhook = i32::from(c.rxsig & mask != idle),
            _ => p.rxisoffhook = i32::from(c.rxhooksig != RXSIG_ONHOOK && c.rxhooksig != RXSIG_INITIAL),
        }
    } else {
        p.rxisoffhook = i32::from(matches!(c.txstate, TxState::Kewl | TxState::AfterKewl));
    }
    if digital && c.sig & SIG_CLEAR == 0 {
        p.rxbits = c.rxsig as i32;
        p.txbits = c.txsig as i32;
        p.idlebits = c.idlebits as i32;
    } else {
        p.rxbits = -1;
        p.txbits = -1;
        p.idlebits = 0;
    }
    if c.span.is_some() && c.sig & SIG_CLEAR == 0 {
        p.rxhooksig = c.rxhooksig;
        p.txhooksig = c.txhooksig;
    } else {
        p.rxhooksig = -1;
        p.txhooksig = -1;
    }
    let t = &c.timing;
    p.prewinktime = t.prewinktime;
    p.preflashtime = t.preflashtime;
    p.winktime = t.winktime;
    p.flashtime = t.flashtime;
    p.starttime = t.starttime;
    p.rxwinktime = t.rxwinktime;
    p.rxflashtime = t.rxflashtime;
    p.debouncetime = t.debouncetime;
    p.channo = c.channo as i32;
    p.chan_alarms = c.chan_alarms;
    p.pulsemaketime = t.pulsemaketime;
    p.pulsebreaktime = t.pulsebreaktime;
    p.pulseaftertime = t.pulseaftertime;
    p.spanno = spanno as i32;
    cstr(&c.name, &mut p.name);
    p.chanpos = c.chanpos as i32;
    p.sigcap = c.sigcap as i32;
    p.curlaw = if c.law == Law::Alaw { LAW_ALAW } else { LAW_MULAW };
}

/// LBO names as DAHDI reports them (`dahdi_lboname`).
fn lbo_name(lbo: i32) -> &'static str {
    match lbo {
        0 => "0 db (CSU)/0-133 feet (DSX-1)",
        1 => "133-266 feet (DSX-1)",
        2 => "266-399 feet (DSX-1)",
        3 => "399-533 feet (DSX-1)",
        4 => "533-655 feet (DSX-1)",
        5 => "-7.5db (CSU)",
        6 => "-15db (CSU)",
        7 => "-22.5db (CSU)",
        _ => "Unknown",
    }
}
