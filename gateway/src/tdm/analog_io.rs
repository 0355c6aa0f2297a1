//! The I/O shell of analog ports: one thread per port that owns its DAHDI
//! channel, turns line events and audio into [`AnalogInput`]s and carries
//! out the [`LineCommand`]s of [`super::analog::AnalogInterface`]. The
//! signalling lives in the interface, which the daemon keeps in its
//! call-control task; this shell only does I/O and DSP.
//!
//! * [`resolve`] turns an `[[analog]]` section into [`AnalogSettings`] with
//!   the channel numbers (and the kind, when not configured) from discovery.
//! * [`spawn_port`] opens the port's channel (non-blocking, 20 ms blocks)
//!   and starts its thread. Every 20 ms block read is run through the DSP:
//!   - FXO on-hook: caller-ID detection with spandsp's ADSI receiver
//!     ([`tandem_spandsp::AdsiRx`]): Bell 202 (GR-30 SDMF/MDMF), V.23
//!     (ETSI) or DTMF caller ID, as configured;
//!   - FXO off-hook: call-progress detection of the zone's dial, busy,
//!     reorder and ringback tones ([`super::zones::ZoneDetector`], spandsp's
//!     super-tone receiver) and of Special Information Tones
//!     ([`super::zones::SitDetector`]: vacant code or intercept is
//!     `Tone::Sit`, which fails a call before answer as unallocated);
//!   - FXS: DTMF digits (spandsp), and the block written back carries the
//!     tone being played (dial, stutter, reorder… of the zone; a refusal's
//!     SIT then reorder) or the caller-ID FSK queued for the phone.
//! * Line events are mapped by [`line_input`]: ring begin/end, battery loss
//!   (DAHDI's ONHOOK on an FXO port), polarity, dial complete; off-hook,
//!   on-hook, flash and pulse digits on an FXS port.
//!
//! # Sharing the channel with the media pump
//!
//! DAHDI opens a channel only once (`dahdi_specchan_open` refuses a second
//! open with EBUSY, and the simulator does the same), and closing it hangs
//! the line up. So the shell keeps its channel open for the port's whole
//! life, and during a call it lends the media pump a duplicate descriptor
//! ([`super::shell_link::ShellLink::lend`], [`tandem_drivers::Channel::try_clone`], then
//! `PumpHandle::start_on`): the shell stops reading until
//! [`super::shell_link::ShellLink::resume`], while the pump reads the audio. Line events
//! (hang-up, polarity, flash) then surface in the pump's reads; it
//! forwards them over `PumpConfig::line_events` and the daemon feeds them
//! through [`line_input`] to the interface, as the shell would. The
//! shell's DSP hears nothing during a call; FXO streams are tapped instead
//! (`StreamSpec::tap`) and [`super::analog_tap`] runs the zone's detector
//! over what the line sends, so busy, reorder or dial tone after answer
//! still disconnect.
//!
//! # Idle ports sleep
//!
//! A busy port's thread reads its non-blocking channel every few
//! milliseconds. After `IDLE_AFTER` with nothing to play or send, no
//! command and no line event, with an FXO port on hook or an FXS port's
//! phone on hook, it stops reading and writing audio and sleeps in
//! `shell_link::Idleness` until a command or a line event (ring,
//! off-hook, polarity reversal: DAHDI's POLLPRI), and flushes the stale
//! audio when woken. Caller ID after the first ring or after a reversal is
//! announced by that event; an FXO port configured for caller ID before the
//! first ring (`position = "before-first-ring"`, which may come with no
//! event at all) keeps listening. Four idle ports took 2.6 % of a core over
//! the simulator while polled, 1.0 % (the whole daemon) asleep.

use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crossbeam_channel::{RecvTimeoutError, TryRecvError};
use tandem_drivers::{Channel, Discovery, Hook, Io, LineEvent, OpenOptionsDahdi, Policy, Signalling};
use tandem_dsp::callerid::{self, CallerId, CallerIdMessage, Format, Standard};
use tandem_dsp::{DigitEvent, g711};
use tandem_signalling::{Absence, CallerIdInfo, CallerIdWhen, DialMode, LineCommand, LineInput, Tone};
use tandem_spandsp::{AdsiRx, CidStandard, DtmfRx, DtmfRxConfig};
use tokio::sync::mpsc::UnboundedSender;

use super::ChannelAddr;
use super::analog::{AnalogInput, AnalogPort, AnalogSettings};
use super::shell_link::{Idleness, ShellCmd, ShellLink, ShellQueue, Wake};
use super::zones::{ProgressTone, Refusal, SitDetector, SitKind, ToneKind, ToneSequence, ToneZone, ZoneDetector};
use crate::config::analog::{AnalogConfig, CidFormat, CidMessage, CidPosition, PortKind};

/// Why an analog interface or port cannot start.
#[derive(Debug, thiserror::Error)]
pub enum AnalogIoError {
    #[error("DAHDI: {0}")]
    Dahdi(#[from] tandem_drivers::Error),
    #[error("analog interface {name}: span {span} does not exist")]
    NoSpan { name: String, span: u32 },
    #[error("analog interface {name}: span {span} has no port {pos}")]
    NoPort { name: String, span: u32, pos: u32 },
    #[error("analog interface {name}: span {span} port {pos} is {sig}, not an analog port of the configured kind")]
    NotAnalog { name: String, span: u32, pos: u32, sig: String },
    #[error("analog port {channo}: the shell thread: {0}", channo = .1)]
    Thread(std::io::Error, u32),
}

/// The settings of an `[[analog]]` section on this hardware: every port
/// must exist and be configured for FXO or FXS signalling (of `kind`, when
/// given).
pub fn resolve(cfg: &AnalogConfig, device_dir: &Path, zone: &ToneZone) -> Result<AnalogSettings, AnalogIoError> {
    let inv = Discovery::new(device_dir).scan()?;
    let name = cfg.name.get_ref().clone();
    let span = *cfg.span.get_ref();
    let s = inv.spans.iter().find(|s| s.status.span == span).ok_or_else(|| AnalogIoError::NoSpan { name: name.clone(), span })?;
    let mut ports = Vec::new();
    for pos in cfg.positions().unwrap_or_default() {
        let p = s.channels.iter().find(|c| c.chanpos == pos).ok_or_else(|| AnalogIoError::NoPort { name: name.clone(), span, pos })?;
        let hw = match p.signalling {
            Some(Signalling::Fxo(_)) => PortKind::Fxo,
            Some(Signalling::Fxs(_)) => PortKind::Fxs,
            other => {
                let sig = other.map(|s| s.to_string()).unwrap_or_else(|| "unconfigured".into());
                return Err(AnalogIoError::NotAnalog { name, span, pos, sig });
            }
        };
        if let Some(k) = &cfg.kind
            && *k.get_ref() != hw
        {
            return Err(AnalogIoError::NotAnalog { name, span, pos, sig: p.signalling.map(|s| s.to_string()).unwrap_or_default() });
        }
        ports.push(AnalogPort { addr: ChannelAddr { span, pos }, channo: p.chan, kind: hw });
    }
    Ok(AnalogSettings::from_config(cfg, ports, zone))
}

/// How a port's shell does its DSP.
#[derive(Debug, Clone)]
pub struct ShellOptions {
    /// The tone zone's tones.
    pub zone: ToneZone,
    /// Caller-ID transport (detected on FXO, generated on FXS).
    pub cid_format: CidFormat,
    /// FSK message layout generated on FXS.
    pub cid_message: CidMessage,
    /// Caller ID may come before the first ring with nothing (no ring, no
    /// polarity reversal) to announce it: an idle FXO port keeps listening.
    pub cid_unannounced: bool,
}

impl ShellOptions {
    /// The options an `[[analog]]` section asks for, in its tone zone (as
    /// the config resolves it, [`crate::config::Config::tone_zone`]).
    pub fn from_config(cfg: &AnalogConfig, zone: ToneZone) -> ShellOptions {
        let cid = cfg.caller_id.as_ref();
        let cid_format = cid.and_then(|c| c.format.as_ref()).map(|f| *f.get_ref()).unwrap_or(CidFormat::Bell202);
        let default_msg = if cid_format == CidFormat::V23 { CidMessage::Etsi } else { CidMessage::Mdmf };
        let position = cid.and_then(|c| c.position.as_ref()).map(|p| *p.get_ref());
        ShellOptions {
            zone,
            cid_format,
            cid_message: cid.and_then(|c| c.message.as_ref()).map(|m| *m.get_ref()).unwrap_or(default_msg),
            cid_unannounced: cid_format != CidFormat::Off && position == Some(CidPosition::BeforeFirstRing),
        }
    }
}

/// The handle of a running port shell. Dropping it ends the thread (and
/// closes the channel, which puts the line on-hook).
pub struct PortShell {
    /// The port's DAHDI channel number.
    pub channo: u32,
    /// The port's kind.
    pub kind: PortKind,
    link: ShellLink<LineCommand>,
}

impl std::ops::Deref for PortShell {
    type Target = ShellLink<LineCommand>;

    /// Commands, lending and resuming go through the shell's link.
    fn deref(&self) -> &ShellLink<LineCommand> {
        &self.link
    }
}

/// Maps a DAHDI line event of a port of `kind` to the signalling input it
/// means (`None` for events the signalling does not use).
pub fn line_input(kind: PortKind, ev: LineEvent) -> Option<LineInput> {
    match (kind, ev) {
        (PortKind::Fxo, LineEvent::RingBegin) => Some(LineInput::RingBegin),
        // On a port with FXS signalling RINGOFFHOOK comes when a ring burst has ended.
        (PortKind::Fxo, LineEvent::RingOffHook) => Some(LineInput::RingEnd),
        // Loop current gone while off-hook (kewl/ground start).
        (PortKind::Fxo, LineEvent::OnHook) => Some(LineInput::BatteryLost),
        // An analog FXO port raises a channel alarm when battery stays away
        // (1 s on DAHDI's FXO modules): a disconnect even if ONHOOK was lost.
        (PortKind::Fxo, LineEvent::Alarm) => Some(LineInput::BatteryLost),
        (PortKind::Fxo, LineEvent::NoAlarm) => Some(LineInput::BatteryRestored),
        (PortKind::Fxo, LineEvent::Polarity) => Some(LineInput::Polarity),
        (PortKind::Fxo, LineEvent::DialComplete) => Some(LineInput::DialComplete),
        (PortKind::Fxs, LineEvent::RingOffHook) => Some(LineInput::OffHook),
        (PortKind::Fxs, LineEvent::OnHook) => Some(LineInput::OnHook),
        (PortKind::Fxs, LineEvent::WinkFlash) => Some(LineInput::WinkFlash),
        (PortKind::Fxs, LineEvent::PulseDigit(d)) => Some(LineInput::PulseDigit(d)),
        (_, LineEvent::DtmfDown(d)) => Some(LineInput::Digit(d)),
        _ => None,
    }
}

/// 20 ms of µ-law.
const BLOCK: usize = 160;
/// How often the thread looks at its channel.
const POLL: Duration = Duration::from_millis(4);
/// With nothing to play or send, the line quiet and no command or line
/// event for this long, a port goes idle: its shell stops reading and
/// writing audio and sleeps until a command or a line event (hook, ring,
/// polarity). Six seconds span a ring cycle's silence, in which caller ID
/// after the first ring comes (the ring's event wakes the port).
const IDLE_AFTER: Duration = Duration::from_secs(6);
/// An idle port wakes this often anyway (a safety net; DAHDI reports every
/// hook, ring and polarity change as an event).
const IDLE_POLL: Duration = Duration::from_secs(1);
/// FSK sent to phones, dBm0 (GR-30: -13.5 ± 1.5 dBm at the set).
const CID_LEVEL_DBM0: f32 = -13.0;

/// Opens port `hw`'s channel and starts its shell thread; inputs go to `events`.
pub fn spawn_port(device_dir: &Path, hw: AnalogPort, opts: ShellOptions, events: UnboundedSender<AnalogInput>) -> Result<PortShell, AnalogIoError> {
    let chan = Channel::open(device_dir, hw.channo, None, OpenOptionsDahdi { nonblocking: true })?;
    chan.set_law(tandem_drivers::channel::Law::Mulaw)?;
    chan.set_blocksize(BLOCK as u32)?;
    chan.set_buffers(Policy::Immediate, Policy::Immediate, 4, BLOCK as u32)?;
    let (link, queue) = ShellLink::new().map_err(|e| AnalogIoError::Thread(e, hw.channo))?;
    let channo = hw.channo;
    let dir: PathBuf = device_dir.to_path_buf();
    std::thread::Builder::new()
        .name(format!("analog-{channo}"))
        .stack_size(crate::realtime::SIGNALLING_STACK)
        .spawn(move || {
            let _ = dir;
            crate::realtime::enter_signalling("analog port");
            let mut s = Shell::new(chan, hw, opts, events);
            s.run(queue);
        })
        .map_err(|e| AnalogIoError::Thread(e, channo))?;
    Ok(PortShell { channo, kind: hw.kind, link })
}

struct Shell {
    chan: Channel,
    hw: AnalogPort,
    opts: ShellOptions,
    events: UnboundedSender<AnalogInput>,
    lent: bool,
    offhook: bool,
    tx: VecDeque<i16>,
    tone: Option<ToneSequence>,
    cid: Option<AdsiRx>,
    dtmf: Option<DtmfRx>,
    progress: Option<ZoneDetector>,
    /// FXO off hook before answer: Special Information Tones.
    sit: SitDetector,
    /// A ground-start port on a T1 (channel-bank line, DAHDI fxsgs/fxogs
    /// over robbed bits), handled as chan_dahdi does: an FXO port seizes
    /// with DAHDI_START, because the kernel reports no tip ground from the
    /// bits, only HOOKCOMPLETE when its start (ring ground) timer has run;
    /// an FXS port grounds tip (DAHDI_OFFHOOK) when the station seizes and
    /// opens it again (DAHDI_ONHOOK) when the station hangs up.
    rbs_ground_start: bool,
    /// A DAHDI_START is running; its HOOKCOMPLETE is the ground acknowledgement.
    starting: bool,
    /// Asleep when idle (see [`IDLE_AFTER`]).
    idle: Idleness,
}

impl Shell {
    fn new(chan: Channel, hw: AnalogPort, opts: ShellOptions, events: UnboundedSender<AnalogInput>) -> Shell {
        let rbs_ground_start = matches!(
            (hw.kind, chan.params().map(|p| p.signalling)),
            (PortKind::Fxo, Ok(Some(Signalling::Fxo(tandem_drivers::Start::Ground))))
                | (PortKind::Fxs, Ok(Some(Signalling::Fxs(tandem_drivers::Start::Ground))))
        ) && chan.span_status().is_ok_and(|s| matches!(s.span_type.as_str(), "T1" | "E1" | "J1"));
        let mut s = Shell {
            chan,
            hw,
            opts,
            events,
            lent: false,
            offhook: false,
            tx: VecDeque::new(),
            tone: None,
            cid: None,
            dtmf: None,
            progress: None,
            sit: SitDetector::new(),
            rbs_ground_start,
            starting: false,
            idle: Idleness::new(IDLE_AFTER, hw.channo, "analog port"),
        };
        s.reset_dsp();
        s
    }

    fn reset_dsp(&mut self) {
        let standard = match self.opts.cid_format {
            CidFormat::Bell202 => Some(CidStandard::Bell202),
            CidFormat::V23 => Some(CidStandard::V23),
            CidFormat::Dtmf => Some(CidStandard::Dtmf),
            CidFormat::Off => None,
        };
        self.cid = standard.and_then(|s| AdsiRx::new(s).map_err(|e| tracing::warn!(channo = self.hw.channo, error = %e, "no caller-ID detection")).ok());
        self.dtmf = DtmfRx::new(&DtmfRxConfig::default()).ok();
        self.progress = ZoneDetector::new(&self.opts.zone).map_err(|e| tracing::warn!(channo = self.hw.channo, error = %e, "no call-progress detection")).ok();
        self.sit = SitDetector::new();
        self.tone = None;
        self.tx.clear();
    }

    fn send(&self, input: LineInput) {
        let _ = self.events.send(AnalogInput { channo: self.hw.channo, input });
    }

    /// Nothing to play or send, nothing happened lately, and the line is
    /// quiet: our own hook on hook (FXO, with no caller ID that could come
    /// unannounced), or the phone on hook (FXS; asked of DAHDI).
    fn can_idle(&mut self, now: Instant) -> bool {
        if self.lent || self.starting || !self.tx.is_empty() || self.tone.is_some() || !self.idle.quiet(now) {
            return false;
        }
        match self.hw.kind {
            PortKind::Fxo => !self.offhook && !self.opts.cid_unannounced,
            // Idle, it learns of an off-hook by its event.
            PortKind::Fxs if self.idle.asleep() => true,
            PortKind::Fxs => {
                let on_hook = self.chan.params().is_ok_and(|p| !p.rx_off_hook);
                if !on_hook {
                    // Asked again after another IDLE_AFTER.
                    self.idle.touch();
                }
                on_hook
            }
        }
    }

    /// Leaves the idle state: the audio queued meanwhile is stale.
    fn wake(&mut self) {
        if self.idle.wake() {
            if let Err(e) = self.chan.flush(true, false, false) {
                tracing::debug!(channo = self.hw.channo, error = %e, "analog port flush failed");
            }
        }
    }

    fn run(&mut self, queue: ShellQueue<LineCommand>) {
        let mut buf = [0u8; BLOCK];
        self.idle.watch(&self.chan, queue.bell.clone());
        let rx = queue.rx;
        loop {
            if self.can_idle(Instant::now()) && self.idle.sleep(IDLE_POLL) == Wake::LineEvent {
                self.event();
            }
            // Commands first.
            loop {
                let c = if self.lent {
                    match rx.recv_timeout(Duration::from_millis(200)) {
                        Ok(c) => c,
                        Err(RecvTimeoutError::Timeout) => break,
                        Err(RecvTimeoutError::Disconnected) => return,
                    }
                } else {
                    match rx.try_recv() {
                        Ok(c) => c,
                        Err(TryRecvError::Empty) => break,
                        Err(TryRecvError::Disconnected) => return,
                    }
                };
                match c {
                    ShellCmd::Do(cmd) => {
                        self.wake();
                        self.execute(cmd);
                    }
                    ShellCmd::Lend(reply) => {
                        self.idle.interrupt();
                        self.lent = true;
                        // What was queued for the phone is stale once the call has the line.
                        self.tx.clear();
                        let _ = reply.send(self.chan.try_clone().map_err(|e| e.to_string()));
                    }
                    ShellCmd::Resume => {
                        self.idle.interrupt();
                        self.lent = false;
                        self.open_tip_if_station_on_hook();
                        // A tone or caller ID commanded just before the channel came
                        // back (call waiting) still plays: only the detectors restart.
                        let (tone, tx) = (self.tone.take(), std::mem::take(&mut self.tx));
                        self.reset_dsp();
                        self.tone = tone;
                        self.tx = tx;
                    }
                }
            }
            if self.lent {
                continue;
            }
            if self.idle.asleep() {
                if self.can_idle(Instant::now()) {
                    continue;
                }
                self.wake();
            }
            // Then whatever the channel has.
            for _ in 0..16 {
                match self.chan.read(&mut buf) {
                    Ok(Io::Done(0)) | Ok(Io::WouldBlock) => break,
                    Ok(Io::Done(n)) => self.audio(&buf[..n]),
                    Ok(Io::Event) => self.event(),
                    Err(tandem_drivers::Error::Removed { .. }) => {
                        tracing::warn!(channo = self.hw.channo, "analog port removed: its shell ends");
                        return;
                    }
                    Err(e) => {
                        tracing::debug!(channo = self.hw.channo, error = %e, "analog port read failed");
                        break;
                    }
                }
            }
            std::thread::sleep(POLL);
        }
    }

    fn event(&mut self) {
        match self.chan.next_event() {
            Ok(Some(ev)) => {
                self.idle.touch();
                tracing::debug!(channo = self.hw.channo, ?ev, "line event");
                if ev == LineEvent::HookComplete && self.starting {
                    self.starting = false;
                    self.send(LineInput::BatteryRestored);
                    return;
                }
                if self.rbs_ground_start && self.hw.kind == PortKind::Fxs {
                    match ev {
                        LineEvent::RingOffHook => self.hook(Hook::OffHook),
                        LineEvent::OnHook => self.hook(Hook::OnHook),
                        _ => {}
                    }
                }
                if let Some(i) = line_input(self.hw.kind, ev) {
                    self.send(i);
                }
            }
            Ok(None) => {}
            Err(e) => tracing::debug!(channo = self.hw.channo, error = %e, "GETEVENT failed"),
        }
    }

    fn audio(&mut self, block: &[u8]) {
        let mut pcm = [0i16; BLOCK];
        let n = block.len().min(BLOCK);
        g711::Law::Mulaw.decode_slice(&block[..n], &mut pcm[..n]);
        let pcm = &pcm[..n];
        match self.hw.kind {
            PortKind::Fxo if !self.offhook => self.detect_caller_id(pcm),
            PortKind::Fxo => {
                let mut found = Vec::new();
                if let Some(p) = self.progress.as_mut() {
                    p.process_with(pcm, |e| {
                        if let DigitEvent::DigitDown { digit, .. } = e {
                            found.push(digit);
                        }
                    });
                }
                let mut tones: Vec<Tone> = found
                    .into_iter()
                    .map(|t| match t {
                        ProgressTone::Dial => Tone::DialTone,
                        ProgressTone::Ringback => Tone::Ringback,
                        ProgressTone::Busy => Tone::Busy,
                        ProgressTone::Reorder => Tone::Reorder,
                    })
                    .collect();
                // A SIT: vacant code or intercept means the number is not
                // there (unallocated); the other kinds are network blockage.
                if let Some(k) = self.sit.process(pcm) {
                    tracing::info!(channo = self.hw.channo, sit = ?k, "special information tone heard");
                    tones.push(if matches!(k, SitKind::VacantCode | SitKind::Intercept) { Tone::Sit } else { Tone::Reorder });
                }
                for tone in tones {
                    tracing::debug!(channo = self.hw.channo, ?tone, "tone detected");
                    self.send(LineInput::ToneDetected(tone));
                }
            }
            PortKind::Fxs => {
                let mut digits = Vec::new();
                if let Some(d) = self.dtmf.as_mut() {
                    d.process_with(pcm, |e| {
                        if let DigitEvent::DigitDown { digit, .. } = e {
                            digits.push(digit);
                        }
                    });
                }
                for d in digits {
                    self.send(LineInput::Digit(d));
                }
                self.write_block(n);
            }
        }
    }

    fn detect_caller_id(&mut self, pcm: &[i16]) {
        let mut got = Vec::new();
        if let Some(rx) = self.cid.as_mut() {
            rx.process_with(pcm, |m| got.push(m.message));
        }
        for m in got {
            if let CallerIdMessage::CallerId(c) = m {
                tracing::info!(channo = self.hw.channo, ?c, "caller ID received");
                self.send(LineInput::CallerId(info_of(&c)));
            }
        }
    }

    /// Writes one block to the phone: queued caller ID, else the tone, else silence.
    fn write_block(&mut self, n: usize) {
        let mut pcm = [0i16; BLOCK];
        let n = n.min(BLOCK);
        let mut k = 0;
        while k < n
            && let Some(s) = self.tx.pop_front()
        {
            pcm[k] = s;
            k += 1;
        }
        if k == 0
            && let Some(t) = self.tone.as_mut()
        {
            t.fill(&mut pcm[..n]);
        }
        let mut out = [0u8; BLOCK];
        g711::Law::Mulaw.encode_slice(&pcm[..n], &mut out[..n]);
        match self.chan.write(&out[..n]) {
            Ok(Io::Event) => self.event(),
            Ok(_) => {}
            Err(e) => tracing::debug!(channo = self.hw.channo, error = %e, "analog port write failed"),
        }
    }

    /// Ground start over T1, FXS port: the station's hang-up may have been
    /// read by the media pump while it had the channel; open tip again.
    fn open_tip_if_station_on_hook(&self) {
        if self.rbs_ground_start && self.hw.kind == PortKind::Fxs && self.chan.params().is_ok_and(|p| !p.rx_off_hook) {
            self.hook(Hook::OnHook);
        }
    }

    fn hook(&self, h: Hook) {
        if let Err(e) = self.chan.hook(h) {
            tracing::warn!(channo = self.hw.channo, hook = ?h, error = %e, "hook operation failed");
        }
    }

    fn execute(&mut self, cmd: LineCommand) {
        tracing::debug!(channo = self.hw.channo, ?cmd, "line command");
        match cmd {
            LineCommand::OffHook if self.rbs_ground_start && !self.offhook => {
                self.hook(Hook::Start);
                self.starting = true;
                self.offhook = true;
                self.reset_dsp();
            }
            LineCommand::OffHook => {
                self.hook(Hook::OffHook);
                self.offhook = true;
                self.reset_dsp();
            }
            LineCommand::OnHook => {
                self.hook(Hook::OnHook);
                self.offhook = false;
                self.starting = false;
                self.reset_dsp();
            }
            LineCommand::Flash => self.hook(Hook::Flash),
            LineCommand::Ring => self.hook(Hook::Ring),
            LineCommand::RingOff => self.hook(Hook::RingOff),
            LineCommand::Dial { digits, mode } => {
                let mode = match mode {
                    DialMode::Dtmf => tandem_drivers::channel::DialMode::Dtmf,
                    DialMode::Pulse => tandem_drivers::channel::DialMode::Pulse,
                };
                // DAHDI's dial strings wait with 'w'.
                let digits = digits.replace(',', "w");
                if let Err(e) = self.chan.dial(mode, &digits) {
                    tracing::warn!(channo = self.hw.channo, error = %e, "dialling failed");
                    self.send(LineInput::DialComplete);
                }
            }
            LineCommand::Polarity(r) => {
                if let Err(e) = self.chan.set_polarity(r) {
                    tracing::warn!(channo = self.hw.channo, error = %e, "polarity not set");
                }
            }
            // DAHDI drops battery (kewl, for its kewl time; it comes back by
            // itself) when an FXS port whose phone is off-hook is put on-hook
            // from a non-idle transmit state: go there first.
            LineCommand::Battery(false) => {
                self.hook(Hook::OffHook);
                self.hook(Hook::OnHook);
            }
            LineCommand::Battery(true) => {}
            LineCommand::SendCallerId(info, CallerIdWhen::CallWaiting) => {
                let samples = self.cidcw_samples(&info);
                self.tx.extend(samples);
            }
            LineCommand::SendCallerId(info, _when) => {
                let samples = self.caller_id_samples(&info);
                self.tx.extend(samples);
            }
            LineCommand::SendCas => self.tx.extend(cas_samples()),
            LineCommand::PlayTone(t) => {
                let z = &self.opts.zone;
                let tones = match t {
                    Tone::DialTone => vec![z.tone(ToneKind::Dial).clone()],
                    Tone::StutterDialTone => vec![z.tone(ToneKind::StutterDial).clone()],
                    Tone::Busy => Refusal::Busy.tones(z),
                    Tone::Reorder => Refusal::Reorder.tones(z),
                    Tone::Ringback => vec![z.tone(ToneKind::Ringback).clone()],
                    Tone::CallWaiting => vec![z.tone(ToneKind::CallWaiting).clone()],
                    Tone::Howler => vec![z.tone(ToneKind::Howler).clone()],
                    // GR-1162-CORE: an unassigned number gets the vacant-code SIT, then reorder.
                    Tone::Sit => Refusal::Sit(SitKind::VacantCode).tones(z),
                };
                self.tone = Some(ToneSequence::new(&tones));
            }
            LineCommand::StopTone => self.tone = None,
            LineCommand::Vmwi(on) => {
                if let Err(e) = self.chan.set_vmwi(u32::from(on)) {
                    tracing::warn!(channo = self.hw.channo, error = %e, "VMWI not set");
                }
                // The core sends VMWI only with the phone on hook: FSK MWI
                // too, for sets that take their lamp from it.
                let samples = self.mwi_samples(on);
                self.tx.extend(samples);
            }
        }
    }

    /// An FSK message-waiting message (GR-30 SDMF/MDMF, ETSI EN 300 659-3)
    /// in the port's caller-ID format; none for DTMF caller ID or none.
    fn mwi_samples(&self, on: bool) -> Vec<i16> {
        let standard = match self.opts.cid_format {
            CidFormat::Off | CidFormat::Dtmf => return Vec::new(),
            CidFormat::V23 => Standard::V23,
            CidFormat::Bell202 => Standard::Bell202,
        };
        let format = match self.opts.cid_message {
            CidMessage::Mdmf => Format::Mdmf,
            CidMessage::Sdmf => Format::Sdmf,
            CidMessage::Etsi => Format::Etsi,
        };
        callerid::generate_fsk_callerid(&CallerIdMessage::MessageWaiting(on), format, standard, CID_LEVEL_DBM0).unwrap_or_else(|e| {
            tracing::warn!(channo = self.hw.channo, error = %e, "FSK MWI not encodable; none sent");
            Vec::new()
        })
    }

    /// Caller ID on call waiting (GR-30 type II): no channel seizure, 80 ms
    /// of mark, then the message; FSK formats only (DTMF caller ID has no
    /// off-hook form).
    fn cidcw_samples(&self, info: &CallerIdInfo) -> Vec<i16> {
        let standard = match self.opts.cid_format {
            CidFormat::Off | CidFormat::Dtmf => return Vec::new(),
            CidFormat::V23 => Standard::V23,
            CidFormat::Bell202 => Standard::Bell202,
        };
        let format = match self.opts.cid_message {
            CidMessage::Sdmf => Format::Sdmf,
            CidMessage::Mdmf => Format::Mdmf,
            CidMessage::Etsi => Format::Etsi,
        };
        let bytes = match callerid::encode(&CallerIdMessage::CallerId(cid_of(info)), format) {
            Ok(b) => b,
            Err(e) => {
                tracing::warn!(channo = self.hw.channo, error = %e, "caller ID on call waiting not encodable; none sent");
                return Vec::new();
            }
        };
        let mut m = tandem_dsp::fsk::FskModulator::new(standard.modem(), CID_LEVEL_DBM0);
        let mut out = Vec::new();
        // GR-30 type II: 80 ms of mark signal (96 bits at 1200 bit/s) before the message.
        m.mark(96, &mut out);
        m.bytes(&bytes, &mut out);
        out
    }

    fn caller_id_samples(&self, info: &CallerIdInfo) -> Vec<i16> {
        let c = cid_of(info);
        let r = match self.opts.cid_format {
            CidFormat::Off => return Vec::new(),
            CidFormat::Dtmf => callerid::generate_dtmf_callerid(&c, &tandem_dsp::dtmf::DtmfConfig::default()),
            f => {
                let standard = if f == CidFormat::V23 { Standard::V23 } else { Standard::Bell202 };
                let format = match self.opts.cid_message {
                    CidMessage::Mdmf => Format::Mdmf,
                    CidMessage::Sdmf => Format::Sdmf,
                    CidMessage::Etsi => Format::Etsi,
                };
                callerid::generate_fsk_callerid(&CallerIdMessage::CallerId(c), format, standard, CID_LEVEL_DBM0)
            }
        };
        r.unwrap_or_else(|e| {
            tracing::warn!(channo = self.hw.channo, error = %e, "caller ID not encodable; none sent");
            Vec::new()
        })
    }
}

/// CPE alerting signal (GR-30-CORE): 2130 Hz and 2750 Hz together for 80 ms.
const CAS_HZ: [f32; 2] = [2130.0, 2750.0];
const CAS_MS: usize = 80;
/// CAS level per tone, dBm0 (GR-30: -15 dBm per tone nominal at the set).
const CAS_LEVEL_DBM0: f32 = -15.0;

/// The CPE alerting signal as 8 kHz samples.
fn cas_samples() -> Vec<i16> {
    let mut a = tandem_dsp::tone::Oscillator::new(CAS_HZ[0], CAS_LEVEL_DBM0);
    let mut b = tandem_dsp::tone::Oscillator::new(CAS_HZ[1], CAS_LEVEL_DBM0);
    (0..CAS_MS * 8).map(|_| (a.next_sample() + b.next_sample()).round().clamp(-32768.0, 32767.0) as i16).collect()
}

fn absence_in(a: Option<callerid::Absence>) -> Option<Absence> {
    a.map(|a| match a {
        callerid::Absence::Private => Absence::Private,
        callerid::Absence::Unavailable => Absence::Unavailable,
    })
}

fn absence_out(a: Option<Absence>) -> Option<callerid::Absence> {
    a.map(|a| match a {
        Absence::Private => callerid::Absence::Private,
        Absence::Unavailable => callerid::Absence::Unavailable,
    })
}

/// The signalling's view of decoded caller ID.
pub fn info_of(c: &CallerId) -> CallerIdInfo {
    CallerIdInfo {
        number: c.number.clone(),
        name: c.name.clone(),
        datetime: c.datetime.map(|(mo, d, h, mi)| format!("{mo:02}{d:02}{h:02}{mi:02}")),
        number_absent: absence_in(c.number_absence),
        name_absent: absence_in(c.name_absence),
    }
}

/// Caller ID to encode for a phone.
pub fn cid_of(i: &CallerIdInfo) -> CallerId {
    let datetime = i.datetime.as_deref().filter(|d| d.len() == 8 && d.bytes().all(|b| b.is_ascii_digit())).map(|d| {
        let n = |k: usize| d[k..k + 2].parse::<u8>().unwrap_or(0);
        (n(0), n(2), n(4), n(6))
    });
    CallerId {
        number: i.number.clone(),
        name: i.name.clone(),
        datetime,
        number_absence: absence_out(i.number_absent),
        name_absence: absence_out(i.name_absent),
    }
}
