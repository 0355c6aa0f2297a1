//! The thin I/O shell of a PRI interface: the D-channel and the span
//! alarms, moved between DAHDI (through `tandem-drivers`) and tokio
//! channels. The protocol lives in [`super::pri::PriInterface`], which the
//! integrator keeps in its call-control task; this shell only moves bytes.
//!
//! * [`resolve`] turns a `[[pri]]` section into [`PriSettings`] with the
//!   hardware facts from discovery (span type, first channel number).
//! * [`spawn_dchannel`] opens the D-channel (HDLC, non-blocking) and runs a
//!   tokio task (on the caller's runtime, or, when [`crate::realtime`] is
//!   on, on a SCHED_FIFO thread of its own, `dchan-N`, so the daemon's run
//!   loop can stay SCHED_OTHER): received frames (FCS dropped) and line events come out of
//!   the [`DChannel::rx`] receiver, frames sent into [`DChannel::tx`] are
//!   written.
//! * [`spawn_alarm_watch`] polls the spans' alarms (SPANSTAT through the
//!   control device) from a thread and reports changes.
//! * [`PcapSink`] writes [`PriIo::Trace`](super::pri::PriIo::Trace) records
//!   to a pcap file.
//!
//! A run loop for one interface (the integrator's task holds many, through
//! [`super::Tdm`]):
//!
//! ```no_run
//! use std::time::{Duration, Instant};
//! use tandem_gateway::tdm::{TdmInterface, TdmInput, TdmIo, TdmOutput};
//! use tandem_gateway::tdm::pri::{PriInput, PriInterface, PriIo};
//! use tandem_gateway::tdm::pri_io::{self, DChannelEvent};
//!
//! # async fn run(cfg: tandem_gateway::config::pri::PriConfig) -> Result<(), Box<dyn std::error::Error>> {
//! let dir = std::path::Path::new("/dev/dahdi");
//! let settings = pri_io::resolve(&cfg, dir)?;
//! let mut dch = pri_io::spawn_dchannel(dir, settings.dchannel_channo().unwrap())?;
//! let mut alarms = pri_io::spawn_alarm_watch(dir, settings.spans.iter().map(|s| s.span).collect(), Duration::from_millis(500));
//! let mut pri = PriInterface::new(settings, Instant::now())?;
//! loop {
//!     while let Some(out) = pri.poll_output() {
//!         match out {
//!             TdmOutput::Io(TdmIo::Pri(PriIo::Frame { frame, .. })) => { let _ = dch.tx.send(frame).await; }
//!             TdmOutput::Io(TdmIo::Pri(PriIo::Trace(_)) | TdmIo::Analog(_) | TdmIo::Cas(_)) => {}
//!             TdmOutput::Incoming { .. } | TdmOutput::Leg(..) => { /* to call control */ }
//!         }
//!     }
//!     let deadline = pri.poll_timeout().map(tokio::time::Instant::from_std);
//!     tokio::select! {
//!         Some(ev) = dch.rx.recv() => if let DChannelEvent::Frame(frame) = ev {
//!             pri.handle_input(TdmInput::Pri(PriInput::Frame { link: 0, frame }), Instant::now());
//!         },
//!         Some(a) = alarms.recv() => pri.handle_input(TdmInput::Alarm { span: a.span, in_alarm: a.in_alarm }, Instant::now()),
//!         _ = async { match deadline { Some(d) => tokio::time::sleep_until(d).await, None => std::future::pending().await } } => {
//!             pri.handle_timeout(Instant::now());
//!         }
//!     }
//! }
//! # }
//! ```

use std::io::BufWriter;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime};

use isdn_q931::Trace;
use isdn_q931::q921::Role;
use isdn_q931::q921::pcap::PcapWriter;
use isdn_q931::q931::{InterfaceKind, Side};
use tandem_drivers::{AsyncChannel, Channel, Ctl, Discovery, Input, LineEvent, OpenOptionsDahdi, Policy};
use tokio::sync::mpsc;

use super::pri::{PriSettings, PriSettingsError, PriSpan};
use crate::config::pri::PriConfig;

/// Why the PRI shell cannot start.
#[derive(Debug, thiserror::Error)]
pub enum PriIoError {
    #[error("DAHDI: {0}")]
    Dahdi(#[from] tandem_drivers::Error),
    #[error("PRI interface {name}: span {span} does not exist")]
    NoSpan { name: String, span: u32 },
    #[error("PRI interface {name}: span {span} is {kind}, not a T1 or E1")]
    NotDigital { name: String, span: u32, kind: String },
    #[error(transparent)]
    Settings(#[from] PriSettingsError),
    #[error("{path}: {source}")]
    Pcap { path: PathBuf, source: std::io::Error },
    #[error("D-channel thread: {0}")]
    Thread(std::io::Error),
}

/// The settings of a `[[pri]]` section on this hardware: every span must
/// exist and be a T1 (J1) or E1.
pub fn resolve(cfg: &PriConfig, device_dir: &Path) -> Result<PriSettings, PriIoError> {
    let inv = Discovery::new(device_dir).scan()?;
    let name = cfg.name.get_ref().clone();
    let mut spans = Vec::new();
    for n in cfg.span_numbers() {
        let Some(s) = inv.spans.iter().find(|s| s.status.span == n) else {
            return Err(PriIoError::NoSpan { name, span: n });
        };
        let kind = match s.status.span_type.as_str() {
            "T1" | "J1" => InterfaceKind::T1,
            "E1" => InterfaceKind::E1,
            other => return Err(PriIoError::NotDigital { name, span: n, kind: other.to_owned() }),
        };
        let basechan = s.basechan.or_else(|| s.channels.iter().map(|c| c.chan).min()).ok_or_else(|| PriIoError::NoSpan { name: name.clone(), span: n })?;
        spans.push(PriSpan { span: n, basechan, kind });
    }
    Ok(PriSettings::from_config(cfg, spans)?)
}

/// What the D-channel task reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DChannelEvent {
    /// A received frame (address, control, information; FCS dropped).
    Frame(Vec<u8>),
    /// A line event on the D-channel (alarm, bad FCS, abort…).
    Line(LineEvent),
    /// The task ended on an error (the channel is gone, for example).
    Failed(String),
}

/// The two ends of a running D-channel task.
pub struct DChannel {
    pub rx: mpsc::Receiver<DChannelEvent>,
    /// Frames to transmit (without FCS).
    pub tx: mpsc::Sender<Vec<u8>>,
    /// Where the channel's task runs.
    pub task: DChannelTask,
}

/// Where a D-channel's task runs.
pub enum DChannelTask {
    /// On the runtime [`spawn_dchannel`] was called on (it ends with that runtime).
    Runtime(tokio::task::JoinHandle<()>),
    /// On a thread of its own (`dchan-N`, realtime on), with a runtime of its own.
    Thread(std::thread::JoinHandle<()>),
}

/// HDLC buffers: frames up to 1 KiB, 16 of them each way.
const HDLC_BUFS: u32 = 16;
const HDLC_BUFSIZE: u32 = 1024;

/// Opens DAHDI channel `channo` as a non-blocking HDLC D-channel and
/// starts its task on the current tokio runtime, or, when
/// [`crate::realtime`] is on, on a thread of its own (`dchan-<channo>`,
/// with a single-threaded runtime, at the signalling priority). The task
/// ends when both `rx` and `tx` are dropped (or its runtime is), or on an
/// error (reported as [`DChannelEvent::Failed`]).
pub fn spawn_dchannel(device_dir: &Path, channo: u32) -> Result<DChannel, PriIoError> {
    let ch = Channel::open(device_dir, channo, None, OpenOptionsDahdi { nonblocking: true })?;
    ch.set_buffers(Policy::Immediate, Policy::Immediate, HDLC_BUFS, HDLC_BUFSIZE)?;
    let (in_tx, in_rx) = mpsc::channel::<DChannelEvent>(256);
    let (out_tx, out_rx) = mpsc::channel::<Vec<u8>>(256);
    if crate::realtime::signalling().is_none() {
        let ach = AsyncChannel::new(ch)?;
        let task = tokio::spawn(dchannel_task(ach, channo, in_tx, out_rx));
        return Ok(DChannel { rx: in_rx, tx: out_tx, task: DChannelTask::Runtime(task) });
    }
    // The channel is registered with the thread's own reactor; the thread says whether that worked.
    let (up_tx, up_rx) = std::sync::mpsc::channel::<Result<(), PriIoError>>();
    let name = format!("dchan-{channo}");
    let thread = std::thread::Builder::new()
        .name(name.clone())
        .spawn(move || {
            crate::realtime::enter_signalling(&name);
            let rt = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
                Ok(rt) => rt,
                Err(e) => {
                    let _ = up_tx.send(Err(PriIoError::Thread(e)));
                    return;
                }
            };
            let ach = match rt.block_on(async { AsyncChannel::new(ch) }) {
                Ok(a) => a,
                Err(e) => {
                    let _ = up_tx.send(Err(e.into()));
                    return;
                }
            };
            let _ = up_tx.send(Ok(()));
            rt.block_on(dchannel_task(ach, channo, in_tx, out_rx));
        })
        .map_err(PriIoError::Thread)?;
    up_rx.recv().map_err(|_| PriIoError::Thread(std::io::Error::other("the D-channel thread ended at start")))??;
    Ok(DChannel { rx: in_rx, tx: out_tx, task: DChannelTask::Thread(thread) })
}

/// A D-channel's I/O: frames read go to `in_tx`, frames from `out_rx` are written.
async fn dchannel_task(ach: AsyncChannel, channo: u32, in_tx: mpsc::Sender<DChannelEvent>, mut out_rx: mpsc::Receiver<Vec<u8>>) {
    let mut buf = vec![0u8; HDLC_BUFSIZE as usize + 8];
    let mut out_open = true;
    loop {
        tokio::select! {
            r = ach.read(&mut buf) => match r {
                Ok(Input::Audio(n)) => {
                    // DAHDI hands over the frame followed by its 2 FCS octets.
                    let frame = buf[..n.saturating_sub(2)].to_vec();
                    if !frame.is_empty() && in_tx.send(DChannelEvent::Frame(frame)).await.is_err() && !out_open {
                        return;
                    }
                }
                Ok(Input::Event(ev)) => {
                    tracing::debug!(chan = channo, ?ev, "D-channel event");
                    let _ = in_tx.send(DChannelEvent::Line(ev)).await;
                }
                Err(e) => {
                    tracing::error!(chan = channo, error = %e, "D-channel read failed");
                    let _ = in_tx.send(DChannelEvent::Failed(e.to_string())).await;
                    return;
                }
            },
            f = out_rx.recv(), if out_open => match f {
                Some(frame) => {
                    let mut w = frame;
                    // Room for the FCS, which the driver computes.
                    w.extend_from_slice(&[0, 0]);
                    match ach.write(&w).await {
                        Ok(Ok(_)) => {}
                        Ok(Err(ev)) => {
                            tracing::debug!(chan = channo, ?ev, "D-channel event instead of a write; frame dropped");
                            let _ = in_tx.send(DChannelEvent::Line(ev)).await;
                        }
                        Err(e) => {
                            tracing::error!(chan = channo, error = %e, "D-channel write failed");
                            let _ = in_tx.send(DChannelEvent::Failed(e.to_string())).await;
                            return;
                        }
                    }
                }
                None => {
                    out_open = false;
                    if in_tx.is_closed() {
                        return;
                    }
                }
            },
        }
    }
}

/// A span's alarm state changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AlarmEvent {
    pub span: u32,
    pub in_alarm: bool,
    /// DAHDI's names for the alarms now present ("RED", "BLUE"…).
    pub alarms: Vec<&'static str>,
}

/// Polls the alarms of `spans` every `period` from a thread (SPANSTAT is a
/// blocking ioctl). The first poll reports every span already in alarm.
/// The thread ends when the receiver is dropped.
pub fn spawn_alarm_watch(device_dir: &Path, spans: Vec<u32>, period: Duration) -> mpsc::UnboundedReceiver<AlarmEvent> {
    let (tx, rx) = mpsc::unbounded_channel();
    let dir = device_dir.to_path_buf();
    let _ = std::thread::Builder::new().name("pri-alarms".into()).spawn(move || {
        let mut last: std::collections::HashMap<u32, bool> = Default::default();
        while !tx.is_closed() {
            let started = Instant::now();
            match Ctl::open(&dir) {
                Ok(ctl) => {
                    for &span in &spans {
                        match ctl.span_status(span) {
                            Ok(st) => {
                                let in_alarm = !st.alarms.is_ok();
                                let changed = match last.insert(span, in_alarm) {
                                    None => in_alarm,
                                    Some(before) => before != in_alarm,
                                };
                                if changed {
                                    let ev = AlarmEvent { span, in_alarm, alarms: st.alarms.names() };
                                    if tx.send(ev).is_err() {
                                        return;
                                    }
                                }
                            }
                            Err(e) => tracing::debug!(span, error = %e, "SPANSTAT failed"),
                        }
                    }
                }
                Err(e) => tracing::debug!(error = %e, "cannot open the DAHDI control device"),
            }
            std::thread::sleep(period.saturating_sub(started.elapsed()));
        }
    });
    rx
}

/// Writes a PRI interface's frames to a pcap file (LINUX_LAPD, link type 177).
pub struct PcapSink {
    w: PcapWriter<BufWriter<std::fs::File>>,
    /// `Instant` and Unix time at creation, to stamp records.
    start: (Instant, Duration),
}

impl PcapSink {
    /// Creates (truncates) the file; `side` sets the pseudo-header's
    /// network-side flag.
    pub fn create(path: &Path, side: Side) -> Result<PcapSink, PriIoError> {
        let err = |source| PriIoError::Pcap { path: path.to_path_buf(), source };
        let f = std::fs::File::create(path).map_err(err)?;
        let role = match side {
            Side::Network => Role::Network,
            Side::User => Role::User,
        };
        Ok(PcapSink {
            w: PcapWriter::new(BufWriter::new(f), role).map_err(err)?,
            start: (Instant::now(), SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).unwrap_or_default()),
        })
    }

    /// Records one frame (and flushes, so the file is readable while running).
    pub fn write(&mut self, t: &Trace) -> std::io::Result<()> {
        let ts = self.start.1 + t.at.saturating_duration_since(self.start.0);
        self.w.write_frame(ts, t.direction, &t.frame)?;
        self.w.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use isdn_q931::q921::pcap::Direction;

    #[test]
    fn the_pcap_sink_writes_a_header_and_one_record_per_frame() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("d.pcap");
        let mut sink = PcapSink::create(&path, Side::Network).unwrap();
        let frame = vec![0x00, 0x01, 0x7F];
        sink.write(&Trace { link: 0, direction: Direction::Sent, frame: frame.clone(), at: Instant::now() }).unwrap();
        let bytes = std::fs::read(&path).unwrap();
        // File header 24, record header 16, LAPD pseudo-header 16, frame.
        assert_eq!(bytes.len(), 24 + 16 + 16 + frame.len());
        assert_eq!(u32::from_le_bytes(bytes[20..24].try_into().unwrap()), 177);
        assert_eq!(bytes[24 + 16 + 6], 1, "network-side flag");
        assert_eq!(&bytes[bytes.len() - 3..], &frame[..]);
    }
}
