//! The control device (`ctl`): span and channel configuration and status.

use std::fs::OpenOptions;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::path::{Path, PathBuf};

use dahdi_sys as d;
use dahdi_sys::ioctl as rq;
use nix::errno::Errno;

use crate::channel::{Law, Params, params_from_raw};
use crate::error::{Error, Result, Target};
use crate::signalling::Signalling;
use crate::span::SpanStatus;

/// Line configuration of a T1/E1/J1 span (DAHDI_SPANCONFIG).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LineConfig {
    pub span: u32,
    /// Timing priority: 0 = never take timing from this span; 1 = first choice.
    pub timing: u32,
    /// Line build-out, 0–7.
    pub lbo: u32,
    /// DAHDI_CONFIG_* bits: framing, coding, CRC-4.
    pub lineconfig: u32,
}

/// One channel's configuration (DAHDI_CHANCONFIG).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChanConfig {
    pub chan: u32,
    pub signalling: Signalling,
    /// `None` keeps the span's default law.
    pub law: Option<Law>,
    /// Idle ABCD bits for CAS.
    pub idle_bits: u8,
}

/// The open control device.
#[derive(Debug)]
pub struct Ctl {
    fd: OwnedFd,
    dir: PathBuf,
}

impl Ctl {
    /// Open `<dir>/ctl`.
    pub fn open(dir: &Path) -> Result<Ctl> {
        let path = dir.join("ctl");
        let f = OpenOptions::new().read(true).write(true).open(&path).map_err(|e| Error::Open { path: path.display().to_string(), source: e })?;
        Ok(Ctl { fd: f.into(), dir: dir.to_path_buf() })
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn raw(&self) -> RawFd {
        self.fd.as_raw_fd()
    }

    /// DAHDI's version string.
    pub fn version(&self) -> Result<String> {
        let mut v = d::dahdi_versioninfo::default();
        // SAFETY: GETVERSION copies out a dahdi_versioninfo.
        unsafe { rq::getversion(self.raw(), &mut v) }.map_err(|e| Error::from_errno(Target::Ctl, "GETVERSION", e))?;
        Ok(crate::channel::cstr(&v.version))
    }

    /// SPANSTAT for span `span` (1-based).
    pub fn span_status(&self, span: u32) -> Result<SpanStatus> {
        let mut s = d::dahdi_spaninfo { spanno: span as i32, ..Default::default() };
        // SAFETY: SPANSTAT copies a dahdi_spaninfo in and out.
        unsafe { rq::spanstat(self.raw(), &mut s) }.map_err(|e| match e {
            Errno::EINVAL | Errno::ENXIO => Error::NoSuch { target: Target::Span(span) },
            e => Error::from_errno(Target::Span(span), "SPANSTAT", e),
        })?;
        Ok(SpanStatus::from_raw(&s))
    }

    /// Every span, in order. Span numbers need not start at 1 or be
    /// contiguous (spans can be assigned any number), so this looks at each
    /// possible number until it has found as many spans as DAHDI reports.
    pub fn spans(&self) -> Result<Vec<SpanStatus>> {
        let mut v: Vec<SpanStatus> = Vec::new();
        for n in 1..=d::DAHDI_MAX_SPANS {
            match self.span_status(n) {
                Ok(s) => {
                    let total = s.total_spans;
                    v.push(s);
                    if v.len() as u32 >= total {
                        break;
                    }
                }
                Err(Error::NoSuch { .. }) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(v)
    }

    /// GET_PARAMS of any channel, by number.
    pub fn params(&self, chan: u32) -> Result<Params> {
        let mut p = d::dahdi_params { channo: chan as i32, ..Default::default() };
        let t = Target::Channel { span: None, chan };
        // SAFETY: GET_PARAMS copies a dahdi_params in and out.
        unsafe { rq::get_params(self.raw(), &mut p) }.map_err(|e| match e {
            Errno::EINVAL => Error::NoSuch { target: t },
            e => Error::from_errno(t, "GET_PARAMS", e),
        })?;
        Ok(params_from_raw(&p))
    }

    /// DAHDI_SPANCONFIG.
    pub fn configure_span(&self, lc: &LineConfig, name: &str) -> Result<()> {
        let mut c =
            d::dahdi_lineconfig { span: lc.span as i32, lbo: lc.lbo as i32, lineconfig: lc.lineconfig as i32, sync: lc.timing as i32, ..Default::default() };
        for (o, b) in c.name.iter_mut().zip(name.bytes().take(19)) {
            *o = b as std::os::raw::c_char;
        }
        // SAFETY: SPANCONFIG copies in a dahdi_lineconfig.
        unsafe { rq::spanconfig(self.raw(), &c) }.map(|_| ()).map_err(|e| Error::from_errno(Target::Span(lc.span), "SPANCONFIG", e))
    }

    /// DAHDI_CHANCONFIG.
    pub fn configure_channel(&self, cc: &ChanConfig) -> Result<()> {
        let c = d::dahdi_chanconfig {
            chan: cc.chan as i32,
            sigtype: cc.signalling.to_dahdi() as i32,
            deflaw: cc.law.map(Law::to_dahdi).unwrap_or(0),
            master: 0,
            idlebits: i32::from(cc.idle_bits),
            ..Default::default()
        };
        let t = Target::Channel { span: None, chan: cc.chan };
        // SAFETY: CHANCONFIG copies in a dahdi_chanconfig.
        unsafe { rq::chanconfig(self.raw(), &c) }.map(|_| ()).map_err(|e| Error::from_errno(t, "CHANCONFIG", e))
    }

    /// Attach an echo canceller by name ("" detaches).
    pub fn attach_echocan(&self, chan: u32, name: &str) -> Result<()> {
        let mut a = d::dahdi_attach_echocan { chan: chan as i32, echocan: [0; 16] };
        for (o, b) in a.echocan.iter_mut().zip(name.bytes().take(15)) {
            *o = b as std::os::raw::c_char;
        }
        let t = Target::Channel { span: None, chan };
        // SAFETY: ATTACH_ECHOCAN copies in a dahdi_attach_echocan.
        unsafe { rq::attach_echocan(self.raw(), &a) }.map(|_| ()).map_err(|e| Error::from_errno(t, "ATTACH_ECHOCAN", e))
    }

    /// DAHDI_STARTUP: start a span after configuring it.
    pub fn startup(&self, span: u32) -> Result<()> {
        let v = span as libc::c_int;
        // SAFETY: STARTUP copies in one int.
        unsafe { rq::startup(self.raw(), &v) }.map(|_| ()).map_err(|e| Error::from_errno(Target::Span(span), "STARTUP", e))
    }

    /// DAHDI_SHUTDOWN: stop a span (its channels become unconfigured).
    pub fn shutdown(&self, span: u32) -> Result<()> {
        let v = span as libc::c_int;
        // SAFETY: SHUTDOWN copies in one int.
        unsafe { rq::shutdown(self.raw(), &v) }.map(|_| ()).map_err(|e| Error::from_errno(Target::Span(span), "SHUTDOWN", e))
    }

    /// DAHDI_DEFAULTZONE: the tone zone new channels use.
    pub fn set_default_zone(&self, zone: u32) -> Result<()> {
        let v = zone as libc::c_int;
        // SAFETY: DEFAULTZONE copies in one int.
        unsafe { rq::defaultzone(self.raw(), &v) }.map(|_| ()).map_err(|e| Error::from_errno(Target::Ctl, "DEFAULTZONE", e))
    }
}
