//! One open DAHDI channel: parameters, buffers, audio, hook control, CAS
//! bits, HDLC frames, echo canceller and gains.
//!
//! Reads and writes follow DAHDI's rules: `read` returns at most one block;
//! while an event is pending both `read` and `write` fail with ELAST, which
//! this layer turns into [`Io::Event`] so the caller fetches the event with
//! [`Channel::next_event`] and retries. Every error names the span and
//! channel; ENODEV becomes [`Error::Removed`].

use std::fs::OpenOptions;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd, RawFd};
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use dahdi_sys as d;
use dahdi_sys::ioctl as rq;
use nix::errno::Errno;

use crate::error::{Error, Result, Target};
use crate::event::LineEvent;
use crate::signalling::Signalling;

/// ELAST: DAHDI's "an event is pending" errno.
pub(crate) const ELAST: i32 = d::ELAST as i32;

/// Outcome of a read or write that did not fail.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Io {
    /// This many bytes were transferred.
    Done(usize),
    /// An event is pending: fetch it with `next_event`, then retry.
    Event,
    /// Non-blocking and nothing to do now.
    WouldBlock,
}

/// G.711 law of a channel.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Law {
    Mulaw,
    Alaw,
}

impl Law {
    pub fn to_dahdi(self) -> i32 {
        match self {
            Law::Mulaw => d::DAHDI_LAW_MULAW as i32,
            Law::Alaw => d::DAHDI_LAW_ALAW as i32,
        }
    }
    pub fn from_dahdi(v: i32) -> Option<Law> {
        match v as u32 {
            d::DAHDI_LAW_MULAW => Some(Law::Mulaw),
            d::DAHDI_LAW_ALAW => Some(Law::Alaw),
            _ => None,
        }
    }
}

/// Hook operations (DAHDI_HOOK).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Hook {
    OnHook,
    OffHook,
    /// Trunks: send a wink.
    Wink,
    /// Phones and trunks: a hook flash.
    Flash,
    /// Trunks: start (seize).
    Start,
    /// FXS ports: ring the phone with the zone's cadence.
    Ring,
    /// FXS ports: stop ringing.
    RingOff,
}

impl Hook {
    fn raw(self) -> i32 {
        (match self {
            Hook::OnHook => d::DAHDI_ONHOOK,
            Hook::OffHook => d::DAHDI_OFFHOOK,
            Hook::Wink => d::DAHDI_WINK,
            Hook::Flash => d::DAHDI_FLASH,
            Hook::Start => d::DAHDI_START,
            Hook::Ring => d::DAHDI_RING,
            Hook::RingOff => d::DAHDI_RINGOFF,
        }) as i32
    }
}

/// Buffer fill policy.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Policy {
    Immediate,
    WhenFull,
    HalfFull,
}

impl Policy {
    fn raw(self) -> i32 {
        (match self {
            Policy::Immediate => d::DAHDI_POLICY_IMMEDIATE,
            Policy::WhenFull => d::DAHDI_POLICY_WHEN_FULL,
            Policy::HalfFull => d::DAHDI_POLICY_HALF_FULL,
        }) as i32
    }
    fn from_raw(v: i32) -> Policy {
        match v as u32 {
            d::DAHDI_POLICY_WHEN_FULL => Policy::WhenFull,
            d::DAHDI_POLICY_HALF_FULL => Policy::HalfFull,
            _ => Policy::Immediate,
        }
    }
}

/// Buffer configuration (DAHDI_SET_BUFINFO / GET_BUFINFO).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BufferInfo {
    pub tx_policy: Policy,
    pub rx_policy: Policy,
    pub numbufs: u32,
    pub bufsize: u32,
    /// Full receive buffers (read-only).
    pub readbufs: u32,
    /// Queued transmit buffers (read-only).
    pub writebufs: u32,
}

/// Dial modes for DAHDI_DIAL.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DialMode {
    Dtmf,
    MfR1,
    MfR2Forward,
    MfR2Backward,
    Pulse,
}

/// A channel's parameters (DAHDI_GET_PARAMS), typed.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Params {
    pub chan: u32,
    pub span: u32,
    pub chanpos: u32,
    pub name: String,
    /// `None` when DAHDI reports a signalling Tandem does not model.
    pub signalling: Option<Signalling>,
    pub sigtype_raw: u32,
    pub sigcap: u32,
    pub rx_off_hook: bool,
    /// ABCD bits (None on clear channels and analog ports).
    pub rx_bits: Option<u8>,
    pub tx_bits: Option<u8>,
    /// Idle ABCD bits of a CAS channel (None elsewhere).
    pub idle_bits: Option<u8>,
    pub rx_hooksig: i32,
    pub tx_hooksig: i32,
    pub law: Option<Law>,
    pub alarms: u32,
    pub timing: Timing,
}

/// Signalling timers in ms (DAHDI_SET_PARAMS).
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Timing {
    pub prewink: i32,
    pub preflash: i32,
    pub wink: i32,
    pub flash: i32,
    pub start: i32,
    pub rxwink: i32,
    pub rxflash: i32,
    pub debounce: i32,
    pub pulse_break: i32,
    pub pulse_make: i32,
    pub pulse_after: i32,
}

pub(crate) fn cstr(b: &[std::os::raw::c_char]) -> String {
    b.iter().take_while(|&&c| c != 0).map(|&c| c as u8 as char).collect()
}

pub(crate) fn params_from_raw(p: &d::dahdi_params) -> Params {
    let bits = |v: i32| if v < 0 { None } else { Some((v & 0xf) as u8) };
    Params {
        chan: p.channo as u32 & 0xffff,
        span: p.spanno as u32,
        chanpos: p.chanpos as u32,
        name: cstr(&p.name),
        signalling: Signalling::from_dahdi(p.sigtype as u32),
        sigtype_raw: p.sigtype as u32,
        sigcap: p.sigcap as u32,
        rx_off_hook: p.rxisoffhook != 0,
        rx_bits: bits(p.rxbits),
        tx_bits: bits(p.txbits),
        idle_bits: (p.sigtype as u32 == d::DAHDI_SIG_CAS).then_some((p.idlebits & 0xf) as u8),
        rx_hooksig: p.rxhooksig,
        tx_hooksig: p.txhooksig,
        law: Law::from_dahdi(p.curlaw),
        alarms: p.chan_alarms,
        timing: Timing {
            prewink: p.prewinktime,
            preflash: p.preflashtime,
            wink: p.winktime,
            flash: p.flashtime,
            start: p.starttime,
            rxwink: p.rxwinktime,
            rxflash: p.rxflashtime,
            debounce: p.debouncetime,
            pulse_break: p.pulsebreaktime,
            pulse_make: p.pulsemaketime,
            pulse_after: p.pulseaftertime,
        },
    }
}

/// An open DAHDI channel.
#[derive(Debug)]
pub struct Channel {
    fd: OwnedFd,
    chan: u32,
    span: Option<u32>,
    nonblocking: bool,
}

/// How to open a channel.
#[derive(Clone, Copy, Debug, Default)]
pub struct OpenOptionsDahdi {
    /// Open with O_NONBLOCK (reads and writes return [`Io::WouldBlock`]).
    pub nonblocking: bool,
}

impl Channel {
    /// Open channel `chan` under the device directory `dir` (e.g. `/dev/dahdi`):
    /// through `chan/SSS/CCC` when `span`/`pos` are known, else `channel` + DAHDI_SPECIFY.
    pub fn open(dir: &Path, chan: u32, span_pos: Option<(u32, u32)>, opts: OpenOptionsDahdi) -> Result<Channel> {
        let target = Target::Channel { span: span_pos.map(|s| s.0), chan };
        let flags = if opts.nonblocking { libc::O_NONBLOCK } else { 0 };
        if let Some((span, pos)) = span_pos {
            let path = dir.join(format!("chan/{span:03}/{pos:03}"));
            match OpenOptions::new().read(true).write(true).custom_flags(flags).open(&path) {
                Ok(f) => {
                    return Ok(Channel { fd: f.into(), chan, span: Some(span), nonblocking: opts.nonblocking });
                }
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => {
                    return Err(match e.raw_os_error() {
                        Some(n) => Error::from_errno(target, "open", Errno::from_raw(n)),
                        None => Error::Open { path: path.display().to_string(), source: e },
                    });
                }
            }
        }
        let path = dir.join("channel");
        let f = OpenOptions::new()
            .read(true)
            .write(true)
            .custom_flags(flags)
            .open(&path)
            .map_err(|e| Error::Open { path: path.display().to_string(), source: e })?;
        let c = Channel { fd: f.into(), chan, span: span_pos.map(|s| s.0), nonblocking: opts.nonblocking };
        let n = chan as libc::c_int;
        // SAFETY: DAHDI_SPECIFY copies in one int from a valid pointer.
        unsafe { rq::specify(c.raw(), &n) }.map_err(|e| Error::from_errno(target, "specify", e))?;
        Ok(c)
    }

    /// Open a new pseudo channel.
    pub fn open_pseudo(dir: &Path, opts: OpenOptionsDahdi) -> Result<Channel> {
        let path = dir.join("pseudo");
        let flags = if opts.nonblocking { libc::O_NONBLOCK } else { 0 };
        let f = OpenOptions::new()
            .read(true)
            .write(true)
            .custom_flags(flags)
            .open(&path)
            .map_err(|e| Error::Open { path: path.display().to_string(), source: e })?;
        let mut c = Channel { fd: f.into(), chan: 0, span: None, nonblocking: opts.nonblocking };
        let mut n: libc::c_int = 0;
        // SAFETY: DAHDI_CHANNO copies out one int.
        unsafe { rq::channo(c.raw(), &mut n) }.map_err(|e| Error::from_errno(Target::Pseudo, "CHANNO", e))?;
        c.chan = n as u32;
        Ok(c)
    }

    /// A second descriptor for the same open channel (dup(2)): DAHDI opens
    /// a channel only once, so two owners (an analog line's shell and the
    /// media pump) share one open file this way. Both see the same events
    /// and blocks; only one should read at a time.
    pub fn try_clone(&self) -> Result<Channel> {
        let fd = self.fd.try_clone().map_err(|e| Error::from_errno(self.target(), "dup", Errno::from_raw(e.raw_os_error().unwrap_or(libc::EBADF))))?;
        Ok(Channel { fd, chan: self.chan, span: self.span, nonblocking: self.nonblocking })
    }

    /// The DAHDI channel number.
    pub fn number(&self) -> u32 {
        self.chan
    }

    /// The span, when known.
    pub fn span(&self) -> Option<u32> {
        self.span
    }

    pub fn is_nonblocking(&self) -> bool {
        self.nonblocking
    }

    pub(crate) fn target(&self) -> Target {
        Target::Channel { span: self.span, chan: self.chan }
    }

    fn raw(&self) -> RawFd {
        self.fd.as_raw_fd()
    }

    fn err(&self, op: &'static str) -> impl Fn(Errno) -> Error + '_ {
        move |e| Error::from_errno(self.target(), op, e)
    }

    fn set_int(&self, op: &'static str, f: unsafe fn(RawFd, *const libc::c_int) -> nix::Result<libc::c_int>, v: i32) -> Result<()> {
        // SAFETY: these requests copy in exactly one int from a valid pointer.
        unsafe { f(self.raw(), &v) }.map(|_| ()).map_err(self.err(op))
    }

    fn get_int(&self, op: &'static str, f: unsafe fn(RawFd, *mut libc::c_int) -> nix::Result<libc::c_int>) -> Result<i32> {
        let mut v: libc::c_int = 0;
        // SAFETY: these requests copy out exactly one int to a valid pointer.
        unsafe { f(self.raw(), &mut v) }.map_err(self.err(op))?;
        Ok(v)
    }

    // ---- parameters ---------------------------------------------------

    /// DAHDI_GET_PARAMS.
    pub fn params(&self) -> Result<Params> {
        let mut p = d::dahdi_params::default();
        // SAFETY: GET_PARAMS copies a dahdi_params in and out.
        unsafe { rq::get_params(self.raw(), &mut p) }.map_err(self.err("GET_PARAMS"))?;
        let params = params_from_raw(&p);
        Ok(params)
    }

    /// DAHDI_SET_PARAMS: set the signalling timers.
    pub fn set_timing(&self, t: &Timing) -> Result<()> {
        let mut p = d::dahdi_params::default();
        // SAFETY: as above.
        unsafe { rq::get_params(self.raw(), &mut p) }.map_err(self.err("GET_PARAMS"))?;
        p.prewinktime = t.prewink;
        p.preflashtime = t.preflash;
        p.winktime = t.wink;
        p.flashtime = t.flash;
        p.starttime = t.start;
        p.rxwinktime = t.rxwink;
        p.rxflashtime = t.rxflash;
        p.debouncetime = t.debounce;
        p.pulsebreaktime = t.pulse_break;
        p.pulsemaketime = t.pulse_make;
        p.pulseaftertime = t.pulse_after;
        // SAFETY: SET_PARAMS copies in a dahdi_params.
        unsafe { rq::set_params(self.raw(), &p) }.map(|_| ()).map_err(self.err("SET_PARAMS"))
    }

    /// DAHDI_SET_BLOCKSIZE: bytes per read/write block (16–8192; 160 = 20 ms).
    pub fn set_blocksize(&self, bytes: u32) -> Result<()> {
        if !(16..=8192).contains(&bytes) {
            return Err(Error::Invalid { target: self.target(), msg: format!("block size {bytes} outside 16..=8192") });
        }
        self.set_int("SET_BLOCKSIZE", rq::set_blocksize, bytes as i32)
    }

    pub fn blocksize(&self) -> Result<u32> {
        Ok(self.get_int("GET_BLOCKSIZE", rq::get_blocksize)? as u32)
    }

    pub fn buffer_info(&self) -> Result<BufferInfo> {
        let mut b = d::dahdi_bufferinfo::default();
        // SAFETY: GET_BUFINFO copies out a dahdi_bufferinfo.
        unsafe { rq::get_bufinfo(self.raw(), &mut b) }.map_err(self.err("GET_BUFINFO"))?;
        Ok(BufferInfo {
            tx_policy: Policy::from_raw(b.txbufpolicy),
            rx_policy: Policy::from_raw(b.rxbufpolicy),
            numbufs: b.numbufs as u32,
            bufsize: b.bufsize as u32,
            readbufs: b.readbufs as u32,
            writebufs: b.writebufs as u32,
        })
    }

    /// DAHDI_SET_BUFINFO (read-only fields are ignored).
    pub fn set_buffers(&self, tx: Policy, rx: Policy, numbufs: u32, bufsize: u32) -> Result<()> {
        let b =
            d::dahdi_bufferinfo { txbufpolicy: tx.raw(), rxbufpolicy: rx.raw(), numbufs: numbufs as i32, bufsize: bufsize as i32, readbufs: 0, writebufs: 0 };
        // SAFETY: SET_BUFINFO copies in a dahdi_bufferinfo.
        unsafe { rq::set_bufinfo(self.raw(), &b) }.map(|_| ()).map_err(self.err("SET_BUFINFO"))
    }

    pub fn set_law(&self, law: Law) -> Result<()> {
        self.set_int("SETLAW", rq::setlaw, law.to_dahdi())
    }

    /// Read and write signed 16-bit linear samples instead of G.711 bytes.
    pub fn set_linear(&self, on: bool) -> Result<()> {
        self.set_int("SETLINEAR", rq::setlinear, i32::from(on))
    }

    /// Audio mode on a clear channel (off = HDLC).
    pub fn set_audio_mode(&self, on: bool) -> Result<()> {
        self.set_int("AUDIOMODE", rq::audiomode, i32::from(on))
    }

    /// Flush receive and/or transmit buffers and/or events.
    pub fn flush(&self, read: bool, write: bool, events: bool) -> Result<()> {
        let mut v = 0;
        if read {
            v |= d::DAHDI_FLUSH_READ as i32;
        }
        if write {
            v |= d::DAHDI_FLUSH_WRITE as i32;
        }
        if events {
            v |= d::DAHDI_FLUSH_EVENT as i32;
        }
        self.set_int("FLUSH", rq::flush, v)
    }

    // ---- audio ----------------------------------------------------------

    /// Read one block (at most `buf.len()` bytes of it).
    pub fn read(&self, buf: &mut [u8]) -> Result<Io> {
        // SAFETY: buf is valid for buf.len() bytes.
        let n = unsafe { libc::read(self.raw(), buf.as_mut_ptr().cast(), buf.len()) };
        self.io_result(n, "read")
    }

    /// Write one block (DAHDI takes at most one block size per call).
    pub fn write(&self, buf: &[u8]) -> Result<Io> {
        // SAFETY: buf is valid for buf.len() bytes.
        let n = unsafe { libc::write(self.raw(), buf.as_ptr().cast(), buf.len()) };
        self.io_result(n, "write")
    }

    /// Map a read/write result. The raw errno is needed: ELAST (500) is not
    /// a Linux errno, so nix cannot name it.
    fn io_result(&self, n: isize, op: &'static str) -> Result<Io> {
        if n >= 0 {
            return Ok(Io::Done(n as usize));
        }
        let raw = std::io::Error::last_os_error().raw_os_error().unwrap_or(0);
        match raw {
            ELAST => Ok(Io::Event),
            libc::EAGAIN | libc::EINTR => Ok(Io::WouldBlock),
            _ => Err(Error::from_errno(self.target(), op, Errno::from_raw(raw))),
        }
    }

    // ---- events and hook ----------------------------------------------

    /// DAHDI_GETEVENT: the next pending event, if any.
    pub fn next_event(&self) -> Result<Option<LineEvent>> {
        Ok(LineEvent::from_raw(self.get_int("GETEVENT", rq::getevent)?))
    }

    /// DAHDI_HOOK. A blocking channel waits for winks and flashes to finish;
    /// a non-blocking one returns at once and later reports HookComplete.
    pub fn hook(&self, op: Hook) -> Result<()> {
        let v = op.raw();
        // SAFETY: DAHDI_HOOK copies in one int.
        match unsafe { rq::hook(self.raw(), &v) } {
            Ok(_) | Err(Errno::EINPROGRESS) => Ok(()),
            Err(e) => Err(Error::from_errno(self.target(), "HOOK", e)),
        }
    }

    /// FXS ports: reverse (true) or restore (false) battery polarity.
    pub fn set_polarity(&self, reversed: bool) -> Result<()> {
        self.set_int("SETPOLARITY", rq::setpolarity, i32::from(reversed))
    }

    /// FXS ports: message-waiting indication (number of messages; 0 clears).
    pub fn set_vmwi(&self, messages: u32) -> Result<()> {
        let mut v = messages as libc::c_int;
        // SAFETY: DAHDI_VMWI copies one int in and out.
        unsafe { rq::vmwi(self.raw(), &mut v) }.map(|_| ()).map_err(self.err("VMWI"))
    }

    /// FXS ports: pass audio to the on-hook phone for `ms` (caller ID).
    pub fn onhook_transfer(&self, ms: u32) -> Result<()> {
        self.set_int("ONHOOKTRANSFER", rq::onhooktransfer, ms as i32)
    }

    /// DAHDI_DIAL: send digits in the given mode (replacing any dial in progress).
    pub fn dial(&self, mode: DialMode, digits: &str) -> Result<()> {
        let prefix = match mode {
            DialMode::Dtmf => 'T',
            DialMode::MfR1 => 'M',
            DialMode::MfR2Forward => 'O',
            DialMode::MfR2Backward => 'R',
            DialMode::Pulse => 'P',
        };
        let s = format!("{prefix}{digits}");
        self.dial_raw(d::DAHDI_DIAL_OP_REPLACE as i32, &s)
    }

    /// Cancel a dial in progress.
    pub fn cancel_dial(&self) -> Result<()> {
        self.dial_raw(d::DAHDI_DIAL_OP_CANCEL as i32, "")
    }

    fn dial_raw(&self, op: i32, s: &str) -> Result<()> {
        let mut o = d::dahdi_dialoperation { op, dialstr: [0; 256] };
        if s.len() >= o.dialstr.len() || !s.is_ascii() {
            return Err(Error::Invalid { target: self.target(), msg: format!("dial string {s:?} must be ASCII and under 256 characters") });
        }
        for (o, b) in o.dialstr.iter_mut().zip(s.bytes()) {
            *o = b as std::os::raw::c_char;
        }
        // SAFETY: DAHDI_DIAL copies in a dahdi_dialoperation.
        unsafe { rq::dial(self.raw(), &o) }.map(|_| ()).map_err(self.err("DIAL"))
    }

    /// True while a DIAL string is playing.
    pub fn dialing(&self) -> Result<bool> {
        Ok(self.get_int("DIALING", rq::dialing)? != 0)
    }

    // ---- CAS ------------------------------------------------------------

    /// The received ABCD bits (A = 8, B = 4, C = 2, D = 1).
    pub fn rx_bits(&self) -> Result<u8> {
        Ok((self.get_int("GETRXBITS", rq::getrxbits)? & 0xf) as u8)
    }

    /// Send ABCD bits (CAS signalling only).
    pub fn set_tx_bits(&self, bits: u8) -> Result<()> {
        if bits > 0xf {
            return Err(Error::Invalid { target: self.target(), msg: format!("ABCD bits {bits:#x} out of range 0..=0xF") });
        }
        self.set_int("SETTXBITS", rq::settxbits, i32::from(bits))
    }

    // ---- HDLC -----------------------------------------------------------

    /// Read one HDLC frame into `buf`, without its FCS; returns its length.
    pub fn read_frame(&self, buf: &mut [u8]) -> Result<Io> {
        let mut tmp = [0u8; 4098];
        match self.read(&mut tmp)? {
            Io::Done(n) => {
                // DAHDI hands over the frame followed by its 2 FCS bytes.
                let len = n.saturating_sub(2);
                if len > buf.len() {
                    return Err(Error::Invalid { target: self.target(), msg: format!("frame of {len} bytes does not fit a {}-byte buffer", buf.len()) });
                }
                buf[..len].copy_from_slice(&tmp[..len]);
                Ok(Io::Done(len))
            }
            other => Ok(other),
        }
    }

    /// Write one HDLC frame (DAHDI or the hardware appends the FCS).
    pub fn write_frame(&self, frame: &[u8]) -> Result<Io> {
        if frame.len() > 4096 {
            return Err(Error::Invalid { target: self.target(), msg: format!("frame of {} bytes is too long", frame.len()) });
        }
        let mut tmp = Vec::with_capacity(frame.len() + 2);
        tmp.extend_from_slice(frame);
        tmp.extend_from_slice(&[0, 0]);
        match self.write(&tmp)? {
            Io::Done(_) => Ok(Io::Done(frame.len())),
            other => Ok(other),
        }
    }

    // ---- echo canceller and gains --------------------------------------

    /// Enable the echo canceller with `taps` (0 disables).
    pub fn echo_cancel(&self, taps: u32) -> Result<()> {
        self.echo_cancel_params(taps, &[])
    }

    /// Enable the echo canceller with a tail of `taps` samples (0 disables)
    /// and canceller-specific parameters (`name`, `value`), at most
    /// [`ECHO_MAX_PARAMS`], names of 1 to 15 bytes.
    ///
    /// DAHDI_ECHOCANCEL_PARAMS declares only its 8-byte header (taps,
    /// parameter count); DAHDI reads the parameter array that follows it
    /// from the same buffer. Real DAHDI gets the whole array; `tandem-sim`,
    /// which sits behind FUSE, receives only the header, so it honours the
    /// taps but never sees the parameters.
    pub fn echo_cancel_params(&self, taps: u32, params: &[(&str, i32)]) -> Result<()> {
        if params.len() > ECHO_MAX_PARAMS {
            return Err(Error::Invalid {
                target: self.target(),
                msg: format!("{} echo canceller parameters; DAHDI takes at most {ECHO_MAX_PARAMS}", params.len()),
            });
        }
        let mut buf = EchoCanParams { tap_length: taps, param_count: params.len() as u32, params: [d::dahdi_echocanparam::default(); ECHO_MAX_PARAMS] };
        for (slot, (name, value)) in buf.params.iter_mut().zip(params) {
            if name.is_empty() || name.len() > 15 || name.bytes().any(|b| b == 0) {
                return Err(Error::Invalid { target: self.target(), msg: format!("echo canceller parameter name {name:?} must be 1 to 15 bytes without NUL") });
            }
            for (o, b) in slot.name.iter_mut().zip(name.bytes()) {
                *o = b as std::os::raw::c_char;
            }
            slot.value = *value;
        }
        let code = rq::DAHDI_ECHOCANCEL_PARAMS;
        // SAFETY: DAHDI copies in the 8-byte header, then `param_count`
        // parameters that follow it; `buf` holds both and outlives the call.
        let r = unsafe { libc::ioctl(self.raw(), code as _, &buf as *const EchoCanParams) };
        if r < 0 {
            return Err(Error::from_errno(self.target(), "ECHOCANCEL_PARAMS", Errno::last()));
        }
        Ok(())
    }

    /// Put the echo canceller into fax mode (`true`) or back to voice mode
    /// (DAHDI_ECHOCANCEL_FAX_MODE), e.g. on a 2100 Hz answer tone. A
    /// canceller that can switch off its non-linear processor keeps
    /// cancelling without it; any other is freed (DAHDI reports
    /// [`LineEvent::EcDisabled`]). Fails with EINVAL when no canceller
    /// is active.
    pub fn echo_cancel_fax_mode(&self, on: bool) -> Result<()> {
        let v: std::os::raw::c_int = on.into();
        // SAFETY: ECHOCANCEL_FAX_MODE copies in one int.
        unsafe { rq::echocancel_fax_mode(self.raw(), &v) }.map(|_| ()).map_err(self.err("ECHOCANCEL_FAX_MODE"))
    }

    /// Set receive and transmit gains in dB (applied by DAHDI as G.711 tables).
    pub fn set_gains(&self, law: Law, rx_db: f32, tx_db: f32) -> Result<()> {
        let mut g = d::dahdi_gains { chan: 0, rxgain: [0; 256], txgain: [0; 256] };
        fill_gain(&mut g.rxgain, law, rx_db);
        fill_gain(&mut g.txgain, law, tx_db);
        // SAFETY: SETGAINS copies in a dahdi_gains.
        unsafe { rq::setgains(self.raw(), &g) }.map(|_| ()).map_err(self.err("SETGAINS"))
    }

    /// Span status of this channel's span (SPANSTAT with span 0).
    pub fn span_status(&self) -> Result<crate::span::SpanStatus> {
        let mut s = d::dahdi_spaninfo::default();
        // SAFETY: SPANSTAT copies a dahdi_spaninfo in and out.
        unsafe { rq::spanstat(self.raw(), &mut s) }.map_err(self.err("SPANSTAT"))?;
        Ok(crate::span::SpanStatus::from_raw(&s))
    }
}

/// Most parameters one DAHDI_ECHOCANCEL_PARAMS carries (`DAHDI_MAX_ECHOCANPARAMS` in `<dahdi/user.h>`).
pub const ECHO_MAX_PARAMS: usize = d::DAHDI_MAX_ECHOCANPARAMS as usize;

/// `struct dahdi_echocanparams` with room for its parameter array.
#[repr(C)]
struct EchoCanParams {
    tap_length: u32,
    param_count: u32,
    params: [d::dahdi_echocanparam; ECHO_MAX_PARAMS],
}

/// A G.711 gain table: decode, scale, re-encode.
fn fill_gain(t: &mut [u8; 256], law: Law, db: f32) {
    let k = 10f32.powf(db / 20.0);
    let l = match law {
        Law::Mulaw => tandem_dsp::g711::Law::Mulaw,
        Law::Alaw => tandem_dsp::g711::Law::Alaw,
    };
    for (i, o) in t.iter_mut().enumerate() {
        let lin = f32::from(l.decode(i as u8)) * k;
        *o = l.encode(lin.clamp(-32768.0, 32767.0) as i16);
    }
}

impl AsFd for Channel {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

impl AsRawFd for Channel {
    fn as_raw_fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }
}
