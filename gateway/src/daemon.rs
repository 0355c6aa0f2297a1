//! `tandem run`: the daemon's run loop, the thin shell around the sans-IO
//! cores.
//!
//! One tokio task owns every protocol core: call control
//! ([`CallControl`]), the TDM side ([`Tdm`]: the PRI interfaces and their
//! span groups) and the SIP side ([`SipSide`]). I/O lives in small tasks
//! and threads that only move bytes:
//!
//! * one task per D-channel (`tdm::pri_io::spawn_dchannel`; with realtime
//!   on, on a thread of its own) and a thread watching span alarms;
//! * one thread per analog port (`tdm::analog_io::spawn_port`), which
//!   lends the pump a duplicate of its channel for a call's media; the
//!   pump's line events for those channels come back through
//!   `PumpConfig::line_events`;
//! * one thread per CAS channel (`tdm::cas_io::spawn_channel`), which
//!   lends the pump its channel once address signalling is over (a call's
//!   media waits until the CAS interface says the channel is media-ready);
//! * the SIP transport (`sip::transport`): UDP, TCP and TLS sockets;
//! * the media pump's thread (`tandem_media::pump`), told to start, change
//!   and stop streams through its handle, which never blocks;
//! * the CDR writer thread.
//!
//! Each turn of the loop feeds one input (a frame, a SIP message, an alarm,
//! a signal or a timer) to its core, then drains the outputs of all three
//! cores until none has more: a TDM or SIP leg's events go to call control,
//! call control's commands go to the leg that owns them, and transmits go
//! to their sockets. Time only enters as `now`, so everything the cores do
//! is what their tests already cover.
//!
//! **SIGTERM** (or SIGINT) drains: call control refuses new calls, lets
//! existing ones go on for `[general] drain_timeout_s`, then clears the rest
//! (cause 41 before answer, 16 after) on both sides. When no call is left,
//! SIP trunks unregister and the daemon exits 0. A second signal clears at
//! once.
//!
//! **SIGHUP** (or the control socket's `reload` op) reloads the
//! configuration file without touching calls in progress: routes, trunks,
//! span groups, limits and the drain timeout are applied live, what needs
//! a restart is only reported (see [`crate::reload`]), and the CDR file is
//! closed and opened again at its configured path (logrotate).
//!
//! **systemd** (`Type=notify`, see [`crate::notify`]): `READY=1` once spans,
//! SIP listeners and the control socket are up; `RELOADING=1` and `READY=1`
//! around each reload; `STOPPING=1` when a drain begins; `WATCHDOG=1` from
//! the run loop itself, so a wedged loop stops the pings.
//!
//! **Realtime** (`[process] realtime`, see [`crate::realtime`]): the media
//! pump threads run SCHED_FIFO at `realtime_priority`, the D-channel,
//! analog and CAS threads one below; this loop and the CDR writer stay
//! SCHED_OTHER, and memory is locked.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr};
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use tokio::signal::unix::{SignalKind, signal};
use tokio::sync::mpsc;
use tracing::{debug, error, info, warn};

use crate::call::control::{CallControl, CallControlConfig, MediaCommand, Output as CcOutput};
use crate::call::{CallId, CallIds, Codec, Direction, LegEvent, LegRef, RtpParams, Target};
use crate::cdr::{CdrMedia, CdrRecord, CdrWriter};
use crate::config::Config;
use crate::notify::Notifier;
use crate::route::Origin;
use crate::sip::transport::{Outbound, SipTransport, TransportEvent};
use crate::sip::{SipOutput, SipSide};
use crate::tdm::analog::{AnalogInput, AnalogInterface};
use crate::tdm::analog_io::{self, PortShell, ShellOptions};
use crate::tdm::analog_tap::Listener;
use crate::tdm::cas::{CasCommand, CasInput, CasInterface};
use crate::tdm::cas_io::{self, CasShell};
use crate::tdm::pri::{PriInput, PriInterface, PriIo};
use crate::tdm::pri_io::{self, DChannelEvent, PcapSink};
use crate::tdm::smdi::{Smdi, SmdiEvent, SmdiJoin, SmdiLink, SmdiSerialConfig};
use crate::tdm::{Tdm, TdmInput, TdmIo, TdmOutput, hunt::SpanGroup};
use tandem_media::pump::{Pump, PumpConfig, PumpHandle, RtPriority, StatsCell, StreamSpec, StreamStats};

/// Why the daemon could not start or had to stop.
#[derive(Debug, thiserror::Error)]
pub enum DaemonError {
    #[error("applying [dahdi]: {0}")]
    Dahdi(String),
    #[error("PRI interface {name}: {msg}")]
    Pri { name: String, msg: String },
    #[error("analog interface {name}: {msg}")]
    Analog { name: String, msg: String },
    #[error("CAS interface {name}: {msg}")]
    Cas { name: String, msg: String },
    #[error("SIP: {0}")]
    Sip(String),
    #[error("media pump: {0}")]
    Media(std::io::Error),
    #[error("CDR file: {0}")]
    Cdr(String),
    #[error("signals: {0}")]
    Signal(std::io::Error),
}

/// Which side owns a leg.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Owner {
    Tdm,
    Sip,
}

/// Inputs from the I/O tasks, tagged with where they came from.
enum Input {
    /// A D-channel of PRI interface `iface`.
    DChannel {
        iface: usize,
        ev: DChannelEvent,
    },
    Alarm(pri_io::AlarmEvent),
    Sip(TransportEvent),
    Control(crate::control::ControlRequest),
    /// A line event or DSP result of an analog port (from its shell, or
    /// from the media pump while it owns the port's audio).
    Analog(crate::tdm::analog::AnalogInput),
    /// Bits or a DSP result of a CAS channel's shell.
    Cas(CasInput),
    /// Bytes from an SMDI link, when they were read.
    Smdi(Vec<u8>, Instant),
}

/// What a reload compares with and where it reads (see [`crate::reload`]).
struct ReloadState {
    /// The file the daemon was started with.
    path: std::path::PathBuf,
    /// Its TOML values at start-up (what needs a restart is compared with these).
    started: toml::Table,
    /// The values applied last (what is live is compared with these).
    applied: toml::Table,
    /// The CDR file and its fsync setting in use.
    cdr: Option<(std::path::PathBuf, bool)>,
    /// Trunk host names resolved after a reload come back here.
    resolved: mpsc::UnboundedSender<(String, String, IpAddr)>,
}

/// Everything the run loop owns.
struct Daemon {
    cc: CallControl,
    tdm: Tdm,
    sip: Option<SipSide>,
    transport: Option<SipTransport>,
    pump: PumpHandle,
    /// Per PRI interface: the D-channel's transmit queue and the pcap sink.
    dchan_tx: Vec<mpsc::Sender<Vec<u8>>>,
    pcap: Vec<Option<PcapSink>>,
    /// Interface names by index, for call control's origins.
    iface_names: Vec<String>,
    owners: HashMap<LegRef, Owner>,
    /// Started media streams per call: id, what they were started with,
    /// and their published figures (which outlive the stream).
    streams: HashMap<CallId, (u64, StreamSpec, Option<Arc<StatsCell>>)>,
    /// Calls whose stream (still in `streams`) is parked: held, detached
    /// from its channel, to be attached again on the resume's `Connect`.
    parked: std::collections::HashSet<CallId>,
    /// Echo canceller taps per range of DAHDI channels (`[[pri]] echo_taps`).
    echo: Vec<(std::ops::RangeInclusive<u32>, u32)>,
    /// Totals for the metrics.
    totals: crate::metrics::Totals,
    /// Final media figures of calls whose CDR is still to come.
    media_done: HashMap<String, StreamStats>,
    cdr: Option<crossbeam_channel::Sender<CdrRecord>>,
    /// Analog ports' shells by DAHDI channel number, with their interface index.
    analog: HashMap<u32, (usize, PortShell)>,
    /// Calls whose media runs on a channel lent by an analog port's shell.
    lent: HashMap<CallId, u32>,
    /// CAS channels' shells by DAHDI channel number, with their interface
    /// index and whether the channel is media-ready.
    cas: HashMap<u32, (usize, CasShell, bool)>,
    /// Media waiting for its CAS channel to be media-ready, by channel.
    cas_pending: HashMap<u32, (CallId, u64, StreamSpec)>,
    /// Calls whose media runs on a channel lent by a CAS channel's shell.
    cas_lent: HashMap<CallId, u32>,
    /// SMDI: the receiver, the call details waiting for a ringing port, and
    /// each analog interface's station.
    smdi: Option<(Smdi, SmdiJoin)>,
    stations: HashMap<usize, String>,
    /// Per analog interface with a `mailbox`: the mailbox, and the SMDI
    /// link (a writer) of an FXO line that has one.
    mailboxes: Vec<(usize, String, Option<String>)>,
    smdi_out: HashMap<String, SmdiLink>,
    /// On SIGTERM, how long calls may go on (`[general] drain_timeout_s`; a reload changes it).
    drain_limit: Duration,
    reload: ReloadState,
    /// systemd's notification socket, if it gave one.
    notify: Option<Notifier>,
    /// The media pump's SCHED_FIFO priority, if realtime is on.
    realtime: Option<u8>,
}

/// How long an SMDI call detail waits for its line to present the call
/// (Tandem's choice: the call detail comes around the first ring, and a
/// line without caller ID presents after its second ring, 6 s later in the US).
const SMDI_WINDOW: Duration = Duration::from_secs(15);

/// Run the daemon until it has drained after SIGTERM/SIGINT, reporting
/// to systemd through `notify` if given.
pub fn run(cfg: Config, notify: Option<Notifier>) -> Result<(), DaemonError> {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().map_err(DaemonError::Signal)?;
    rt.block_on(run_async(cfg, notify))
}

async fn run_async(cfg: Config, notify: Option<Notifier>) -> Result<(), DaemonError> {
    let device_dir = cfg.device_dir();
    info!(device_dir = %device_dir.display(), "tandem starting");
    // Realtime: set before any I/O thread starts, as each applies it itself.
    let realtime = cfg.process.realtime();
    if let Some(p) = realtime {
        let signalling = crate::realtime::signalling_priority(p);
        info!(media_priority = p, signalling_priority = signalling, "realtime: media pump and signalling threads SCHED_FIFO");
        crate::realtime::lock_memory();
        crate::realtime::set_signalling(Some(signalling));
    }
    // SIGHUP (reload) is caught from here on, so one sent while the spans
    // and trunks come up is not fatal: the reload runs once the loop starts.
    let mut sighup = signal(SignalKind::hangup()).map_err(DaemonError::Signal)?;

    // 1. Spans and channels, as dahdi_cfg would.
    if cfg.dahdi.is_some() {
        let d = cfg.dahdi();
        let (_plan, report) = tandem_drivers::config::configure(&d).map_err(|e| DaemonError::Dahdi(e.to_string()))?;
        info!(?report, "[dahdi] applied");
    }

    // 2. The media pump.
    let sipcfg = cfg.sip.clone();
    let (lo, hi) = sipcfg.as_ref().map(|s| s.rtp_ports()).unwrap_or((10000, 20000));
    let rtp_ip = sipcfg.as_ref().and_then(|s| s.rtp_ip()).unwrap_or(IpAddr::V4(Ipv4Addr::LOCALHOST));
    // Line events the pump meets on analog ports during calls come back here.
    let (line_tx, line_rx) = crossbeam_channel::bounded::<(u32, tandem_drivers::LineEvent)>(1024);
    // And copies of what tapped lines send (FXO after answer: tone disconnect; E&M: call progress in early media), for tdm::analog_tap.
    let (tap_tx, tap_rx) = crossbeam_channel::bounded::<tandem_media::pump::TapBlock>(1024);
    let pump_cfg = PumpConfig {
        device_dir: device_dir.clone(),
        rtp_ip,
        rtp_ports: lo..=hi,
        line_events: Some(line_tx),
        tap: Some(tap_tx),
        rt_priority: realtime.map(|priority| RtPriority { priority, apply: crate::realtime::set_current_thread_fifo }),
        ..PumpConfig::default()
    };
    let pump = Pump::start(pump_cfg).map_err(DaemonError::Media)?;

    // 3. CDRs.
    let cdr = match cfg.general.cdr_file() {
        Some(path) => {
            let w = CdrWriter::open(&path, cfg.general.cdr_fsync()).map_err(|e| DaemonError::Cdr(format!("{}: {e}", path.display())))?;
            let (tx, _join) = w.spawn();
            Some(tx)
        }
        None => None,
    };

    // 4. The TDM side: PRI interfaces and span groups.
    let (in_tx, mut in_rx) = mpsc::channel::<Input>(4096);
    let now = Instant::now();
    let mut tdm = Tdm::new();
    let mut dchan_tx = Vec::new();
    let mut pcap = Vec::new();
    let mut iface_names = Vec::new();
    let mut all_spans = Vec::new();
    let mut echo = Vec::new();
    for p in &cfg.pri {
        let name = p.name.get_ref().clone();
        let perr = |msg: String| DaemonError::Pri { name: name.clone(), msg };
        let settings = pri_io::resolve(p, &device_dir).map_err(|e| perr(e.to_string()))?;
        let dch = settings.dchannel_channo().ok_or_else(|| perr("no D-channel".into()))?;
        all_spans.extend(settings.spans.iter().map(|s| s.span));
        if let Some(taps) = p.echo_taps() {
            echo.extend(settings.spans.iter().map(|s| {
                let slots = match s.kind {
                    isdn_q931::q931::InterfaceKind::T1 => 24,
                    isdn_q931::q931::InterfaceKind::E1 => 31,
                };
                (s.basechan..=s.basechan + slots - 1, taps)
            }));
        }
        let sink = match &p.pcap {
            Some(path) => Some(PcapSink::create(Path::new(path.get_ref()), settings.q931.side).map_err(|e| perr(e.to_string()))?),
            None => None,
        };
        let iface = PriInterface::new(settings, now).map_err(|e| perr(e.to_string()))?;
        let idx = tdm.add_interface(Box::new(iface));
        let chan = pri_io::spawn_dchannel(&device_dir, dch).map_err(|e| perr(e.to_string()))?;
        let tx = in_tx.clone();
        let mut rx = chan.rx;
        tokio::spawn(async move {
            while let Some(ev) = rx.recv().await {
                if tx.send(Input::DChannel { iface: idx, ev }).await.is_err() {
                    break;
                }
            }
        });
        dchan_tx.push(chan.tx);
        pcap.push(sink);
        iface_names.push(name.clone());
        info!(interface = %name, dchannel = dch, "PRI interface up");
    }
    // Analog interfaces: the sans-IO interface here, a shell thread per port.
    let mut analog = HashMap::new();
    let mut tap_zones = HashMap::new();
    let mut stations = HashMap::new();
    let mut smdi_devices: Vec<String> = Vec::new();
    let mut mailboxes = Vec::new();
    let mut smdi_out = HashMap::new();
    let (an_tx, mut an_rx) = mpsc::unbounded_channel::<AnalogInput>();
    for a in &cfg.analog {
        let name = a.name.get_ref().clone();
        let aerr = |msg: String| DaemonError::Analog { name: name.clone(), msg };
        let zone = cfg.tone_zone(a.zone());
        let settings = analog_io::resolve(a, &device_dir, &zone).map_err(|e| aerr(e.to_string()))?;
        if let Some(taps) = a.echo_taps() {
            echo.extend(settings.ports.iter().map(|p| (p.channo..=p.channo, taps)));
        }
        let opts = ShellOptions::from_config(a, zone);
        tap_zones.extend(settings.ports.iter().filter(|p| p.kind == crate::config::analog::PortKind::Fxo).map(|p| (p.channo, opts.zone.clone())));
        let ports = settings.ports.clone();
        let idx = tdm.add_interface(Box::new(AnalogInterface::new(settings)));
        for p in ports {
            let shell = analog_io::spawn_port(&device_dir, p, opts.clone(), an_tx.clone()).map_err(|e| aerr(e.to_string()))?;
            analog.insert(p.channo, (idx, shell));
        }
        iface_names.push(name.clone());
        info!(interface = %name, ports = analog.values().filter(|(i, _)| *i == idx).count(), "analog interface up");
        if let (Some(dev), Some(st)) = (&a.smdi_device, &a.smdi_station) {
            stations.insert(idx, st.get_ref().clone());
            let dev = dev.get_ref().clone();
            if !smdi_devices.contains(&dev) {
                let link = SmdiLink::open(&SmdiSerialConfig::new(&dev), Duration::from_millis(200)).map_err(|e| aerr(format!("SMDI link {dev}: {e}")))?;
                let (tx, rx) = crossbeam_channel::bounded(256);
                smdi_out.insert(dev.clone(), link.try_clone().map_err(|e| aerr(format!("SMDI link {dev}: {e}")))?);
                link.spawn_reader(tx).map_err(|e| aerr(format!("SMDI reader: {e}")))?;
                let in_tx = in_tx.clone();
                let _ = std::thread::Builder::new().name("smdi-bridge".into()).spawn(move || {
                    while let Ok(r) = rx.recv() {
                        match r {
                            Ok((bytes, at)) => {
                                if in_tx.blocking_send(Input::Smdi(bytes, at)).is_err() {
                                    break;
                                }
                            }
                            Err(e) => warn!(error = %e, "SMDI link read failed"),
                        }
                    }
                });
                info!(device = %dev, "SMDI link open");
                smdi_devices.push(dev);
            }
        }
        if let Some(m) = &a.mailbox {
            let smdi = a.smdi_device.as_ref().filter(|_| a.kind.as_ref().is_none_or(|k| *k.get_ref() == crate::config::analog::PortKind::Fxo));
            mailboxes.push((idx, m.get_ref().clone(), smdi.map(|d| d.get_ref().clone())));
        }
    }
    {
        let tx = in_tx.clone();
        tokio::spawn(async move {
            while let Some(a) = an_rx.recv().await {
                if tx.send(Input::Analog(a)).await.is_err() {
                    break;
                }
            }
        });
        // The pump's forwarded events: a blocking receiver, so a thread.
        let kinds: HashMap<u32, crate::config::analog::PortKind> = analog.iter().map(|(c, (_, s))| (*c, s.kind)).collect();
        let an_tx = an_tx.clone();
        let _ = std::thread::Builder::new().name("analog-pump-events".into()).spawn(move || {
            while let Ok((channo, ev)) = line_rx.recv() {
                let Some(kind) = kinds.get(&channo) else { continue };
                debug!(channo, ?ev, "line event from the media pump");
                if let Some(input) = analog_io::line_input(*kind, ev)
                    && an_tx.send(AnalogInput { channo, input }).is_err()
                {
                    break;
                }
            }
        });
    }
    // CAS trunks: the sans-IO interface here, a shell thread per channel.
    let mut cas = HashMap::new();
    let (cas_tx, mut cas_rx) = mpsc::unbounded_channel::<CasInput>();
    // The pump's tap (tdm::analog_tap): FXO lines for tone disconnect, E&M channels for early-media call progress.
    let mut tap_listeners: HashMap<u32, Listener> = tap_zones.into_iter().map(|(ch, zone)| (ch, Listener::Fxo { zone, events: an_tx.clone() })).collect();
    drop(an_tx);
    for c in &cfg.cas {
        let name = c.name.get_ref().clone();
        let cerr = |msg: String| DaemonError::Cas { name: name.clone(), msg };
        let zone = cfg.tone_zone(c.zone());
        let settings = cas_io::resolve(c, &device_dir, &zone).map_err(|e| cerr(e.to_string()))?;
        if let Some(taps) = c.echo_taps() {
            echo.extend(settings.channels.iter().map(|ch| (ch.channo..=ch.channo, taps)));
        }
        let (chans, law, r2) = (settings.channels.clone(), settings.law, c.is_r2());
        let iface = CasInterface::new(settings);
        all_spans.extend(crate::tdm::TdmInterface::spans(&iface));
        let idx = tdm.add_interface(Box::new(iface));
        for ch in chans {
            let shell = cas_io::spawn_channel(&device_dir, ch, law, r2, zone.clone(), cas_tx.clone()).map_err(|e| cerr(e.to_string()))?;
            if shell.tap {
                tap_listeners.insert(ch.channo, Listener::Cas { zone: zone.clone(), events: cas_tx.clone() });
            }
            cas.insert(ch.channo, (idx, shell, false));
        }
        iface_names.push(name.clone());
        info!(interface = %name, signalling = c.signalling.get_ref().as_str(), channels = cas.values().filter(|(i, _, _)| *i == idx).count(), "CAS interface up");
    }
    crate::tdm::analog_tap::spawn(tap_rx, tap_listeners).map_err(DaemonError::Media)?;
    drop(cas_tx);
    {
        let tx = in_tx.clone();
        tokio::spawn(async move {
            while let Some(c) = cas_rx.recv().await {
                if tx.send(Input::Cas(c)).await.is_err() {
                    break;
                }
            }
        });
    }
    for g in &cfg.group {
        tdm.add_group(SpanGroup::from_config(g));
    }
    if !all_spans.is_empty() {
        let mut alarms = pri_io::spawn_alarm_watch(&device_dir, all_spans, Duration::from_millis(500));
        let tx = in_tx.clone();
        tokio::spawn(async move {
            while let Some(a) = alarms.recv().await {
                if tx.send(Input::Alarm(a)).await.is_err() {
                    break;
                }
            }
        });
    }

    // 5. The SIP side.
    let (sip, transport) = match &sipcfg {
        Some(sc) => {
            let (transport, mut rx) = SipTransport::bind(sc).await.map_err(|e| DaemonError::Sip(e.to_string()))?;
            let unix = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
            let mut side = SipSide::new(sc, Box::new(pump.clone()), Instant::now(), unix).map_err(|e| DaemonError::Sip(e.to_string()))?;
            for (trunk, host) in side.unresolved() {
                let ip = tokio::net::lookup_host((host.as_str(), 0))
                    .await
                    .ok()
                    .and_then(|mut a| a.next())
                    .map(|a| a.ip())
                    .ok_or_else(|| DaemonError::Sip(format!("trunk {trunk}: cannot resolve {host}")))?;
                info!(%trunk, %host, %ip, "resolved");
                side.set_resolved(&trunk, &host, ip);
            }
            let tx = in_tx.clone();
            tokio::spawn(async move {
                while let Some(ev) = rx.recv().await {
                    if tx.send(Input::Sip(ev)).await.is_err() {
                        break;
                    }
                }
            });
            (Some(side), Some(transport))
        }
        None => (None, None),
    };
    // The control socket (status, hotplug's span events).
    let (ctl_tx, mut ctl_rx) = mpsc::channel::<crate::control::ControlRequest>(64);
    if let Some(addr) = cfg.general.metrics_listen() {
        crate::metrics::serve(addr, ctl_tx.clone()).await;
    }
    let ctl_path = crate::control::serve(&cfg.general.control_socket(), ctl_tx).await;
    {
        let tx = in_tx.clone();
        tokio::spawn(async move {
            while let Some(r) = ctl_rx.recv().await {
                if tx.send(Input::Control(r)).await.is_err() {
                    break;
                }
            }
        });
    }
    drop(in_tx);

    // 6. Call control.
    let unix = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
    let cc = CallControl::new(CallControlConfig::from_config(&cfg, (Instant::now(), SystemTime::now())), CallIds::new(unix));

    let (resolved_tx, mut resolved_rx) = mpsc::unbounded_channel::<(String, String, IpAddr)>();
    let started = crate::reload::table_of(&cfg);
    let reload = ReloadState {
        path: cfg.source.0.as_ref().map(|s| std::path::PathBuf::from(&s.path)).unwrap_or_default(),
        applied: started.clone(),
        started,
        cdr: cfg.general.cdr_file().map(|p| (p, cfg.general.cdr_fsync())),
        resolved: resolved_tx,
    };
    let mut d = Daemon {
        cc,
        tdm,
        sip,
        transport,
        pump,
        dchan_tx,
        pcap,
        iface_names,
        owners: HashMap::new(),
        streams: HashMap::new(),
        parked: Default::default(),
        media_done: HashMap::new(),
        echo,
        totals: Default::default(),
        cdr,
        analog,
        lent: HashMap::new(),
        cas,
        cas_pending: HashMap::new(),
        cas_lent: HashMap::new(),
        // SMDI_WINDOW: a call detail joins a port that presents its call within it.
        smdi: (!stations.is_empty()).then(|| (Smdi::new(), SmdiJoin::new(SMDI_WINDOW))),
        stations,
        mailboxes,
        smdi_out,
        drain_limit: cfg.general.drain_timeout(),
        reload,
        notify,
        realtime,
    };
    let mut sigterm = signal(SignalKind::terminate()).map_err(DaemonError::Signal)?;
    let mut sigint = signal(SignalKind::interrupt()).map_err(DaemonError::Signal)?;
    let mut draining: Option<Instant> = None;
    info!("tandem running");
    // Spans, SIP listeners and the control socket are up: tell systemd.
    if let Some(n) = &d.notify {
        n.ready(&d.status_line());
    }
    // The watchdog is fed from this loop, so a wedged loop starves it.
    let mut watchdog = d.notify.as_ref().and_then(|n| n.watchdog_interval()).map(|every| {
        let mut i = tokio::time::interval(every);
        i.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        i
    });

    loop {
        d.flush(Instant::now());
        if let Some(since) = draining {
            if d.cc.is_idle() {
                info!(after_ms = since.elapsed().as_millis() as u64, "drained: no calls left");
                break;
            }
        }
        let deadline = d.next_deadline();
        let sleep = async {
            match deadline {
                Some(t) => tokio::time::sleep_until(tokio::time::Instant::from_std(t)).await,
                None => std::future::pending::<()>().await,
            }
        };
        tokio::select! {
            input = in_rx.recv() => {
                let now = Instant::now();
                match input {
                    Some(Input::DChannel { iface, ev }) => match ev {
                        DChannelEvent::Frame(frame) => d.tdm.handle_input(iface, TdmInput::Pri(PriInput::Frame { link: 0, frame }), now),
                        DChannelEvent::Line(ev) => debug!(interface = %d.iface_names[iface], ?ev, "D-channel line event"),
                        DChannelEvent::Failed(msg) => error!(interface = %d.iface_names[iface], %msg, "D-channel failed"),
                    },
                    Some(Input::Alarm(a)) => {
                        if a.in_alarm { warn!(span = a.span, alarms = ?a.alarms, "span in alarm") } else { info!(span = a.span, "span alarm cleared") }
                        d.tdm.span_alarm(a.span, a.in_alarm, now);
                    }
                    Some(Input::Sip(TransportEvent::Message(m))) => {
                        if let Some(sip) = d.sip.as_mut() {
                            sip.handle_message(m.transport, m.source, m.local, &m.bytes, now);
                        }
                    }
                    Some(Input::Sip(ev)) => {
                        if let Some(sip) = d.sip.as_mut() {
                            sip.handle_transport_event(ev, now);
                        }
                    }
                    Some(Input::Analog(a)) => {
                        if let Some((iface, _)) = d.analog.get(&a.channo) {
                            let iface = *iface;
                            d.tdm.handle_input(iface, TdmInput::Analog(a), now);
                        }
                    }
                    Some(Input::Cas(c)) => {
                        if let Some((iface, _, _)) = d.cas.get(&c.channo) {
                            let iface = *iface;
                            d.tdm.handle_input(iface, TdmInput::Cas(c), now);
                        }
                    }
                    Some(Input::Smdi(bytes, at)) => {
                        if let Some((rx, join)) = d.smdi.as_mut() {
                            rx.handle_input(&bytes, at);
                            while let Some(ev) = rx.poll_event() {
                                match ev {
                                    SmdiEvent::CallDetail(cd) => {
                                        info!(station = %cd.station, calling = ?cd.calling, kind = ?cd.kind, "SMDI call detail");
                                        join.push(cd);
                                    }
                                    SmdiEvent::MwiFailed { number, cause, .. } => warn!(%number, %cause, "SMDI: the switch refused an MWI request"),
                                }
                            }
                        }
                    }
                    Some(Input::Control(r)) => {
                        let reply = d.control(&r.request, draining.is_some(), now);
                        let _ = r.reply.send(reply);
                    }
                    None => {
                        error!("every I/O task has ended");
                        break;
                    }
                }
            }
            _ = sleep => {
                let now = Instant::now();
                d.cc.handle_timeout(now);
                d.tdm.handle_timeout(now);
                if let Some(sip) = d.sip.as_mut() {
                    sip.handle_timeout(now);
                }
            }
            _ = sigterm.recv() => d.on_signal("SIGTERM", d.drain_limit, &mut draining),
            _ = sigint.recv() => d.on_signal("SIGINT", d.drain_limit, &mut draining),
            _ = sighup.recv() => {
                let _ = d.reload("SIGHUP", Instant::now());
            }
            _ = async {
                match watchdog.as_mut() {
                    Some(i) => {
                        i.tick().await;
                    }
                    None => std::future::pending::<()>().await,
                }
            } => {
                if let Some(n) = &d.notify {
                    n.watchdog();
                }
            }
            Some((trunk, host, ip)) = resolved_rx.recv() => {
                info!(%trunk, %host, %ip, "resolved");
                if let Some(sip) = d.sip.as_mut() {
                    sip.set_resolved(&trunk, &host, ip);
                }
            }
        }
    }

    // Unregister trunks and give the last messages a moment to leave.
    if let Some(sip) = d.sip.as_mut() {
        sip.shutdown(Instant::now());
    }
    d.flush(Instant::now());
    let until = Instant::now() + Duration::from_millis(500);
    while Instant::now() < until {
        tokio::time::sleep(Duration::from_millis(50)).await;
        d.flush(Instant::now());
    }
    if let Some(t) = d.transport.take() {
        t.shutdown().await;
    }
    d.pump.shutdown();
    drop(d.cdr.take());
    if let Some(p) = ctl_path {
        let _ = std::fs::remove_file(p);
    }
    info!("tandem stopped");
    Ok(())
}

impl Daemon {
    /// Answer a control-socket request (see [`crate::control`]).
    fn control(&mut self, req: &serde_json::Value, draining: bool, now: Instant) -> serde_json::Value {
        use crate::tdm::{ChannelAddr, ChannelState};
        use serde_json::json;
        let span = req["span"].as_u64().map(|s| s as u32);
        match req["op"].as_str().unwrap_or("") {
            "status" => {
                let mut interfaces = Vec::new();
                for (i, name) in self.iface_names.iter().enumerate() {
                    let Some(iface) = self.tdm.interface(i) else { continue };
                    let (mut idle, mut busy, mut alarm, mut other) = (0, 0, 0, 0);
                    let blocked = iface.blocked();
                    let far = iface.far_blocked();
                    for c in iface.channels() {
                        match c.state {
                            ChannelState::Idle => idle += 1,
                            ChannelState::Busy => busy += 1,
                            ChannelState::Alarm => alarm += 1,
                            // Blocked by the operator or the far end: counted as blocked only.
                            ChannelState::Maintenance | ChannelState::OutOfService if blocked.contains(&c.addr) || far.contains(&c.addr) => {}
                            _ => other += 1,
                        }
                    }
                    let mut all: Vec<ChannelAddr> = blocked.iter().chain(&far).copied().collect();
                    all.sort();
                    all.dedup();
                    let by = |a: &ChannelAddr| match (blocked.contains(a), far.contains(a)) {
                        (true, true) => "both",
                        (true, false) => "local",
                        _ => "far",
                    };
                    let blocked_list: Vec<String> = blocked.iter().map(|a| a.to_string()).collect();
                    let far_list: Vec<String> = far.iter().map(|a| a.to_string()).collect();
                    let by_list: Vec<_> = all.iter().map(|a| json!({"channel": a.to_string(), "blocked_by": by(a)})).collect();
                    let mut entry = json!({
                        "name": name,
                        "kind": iface.kind(),
                        "up": iface.is_up(),
                        "channels": {"idle": idle, "busy": busy, "alarm": alarm, "other": other, "blocked": all.len()},
                        "blocked_channels": blocked_list,
                        "far_blocked_channels": far_list,
                        "blocks": by_list,
                    });
                    if let Some(note) = iface.block_note() {
                        entry["block_note"] = json!(note);
                    }
                    // CAS trunks list each channel's state too.
                    if iface.channels().first().is_some_and(|c| self.cas.contains_key(&c.channo)) {
                        let list: Vec<_> = iface
                            .channels()
                            .iter()
                            .map(|c| json!({"span": c.addr.span, "pos": c.addr.pos, "channo": c.channo, "state": format!("{:?}", c.state).to_lowercase()}))
                            .collect();
                        entry["cas_channels"] = json!(list);
                    }
                    interfaces.push(entry);
                }
                let trunks: Vec<_> = self
                    .sip
                    .as_ref()
                    .map(|s| s.trunk_status())
                    .unwrap_or_default()
                    .into_iter()
                    .map(|t| json!({"name": t.name, "kind": format!("{:?}", t.kind).to_lowercase(), "state": format!("{:?}", t.state).to_lowercase(), "active_calls": t.active_calls}))
                    .collect();
                json!({
                    "ok": true,
                    "calls": self.cc.active_calls(),
                    "draining": draining,
                    "realtime": match self.realtime {
                        Some(p) => json!({"on": true, "media_priority": p, "signalling_priority": crate::realtime::signalling_priority(p), "memory_locked": crate::realtime::memory_locked()}),
                        None => json!({"on": false}),
                    },
                    "interfaces": interfaces,
                    "trunks": trunks,
                    "sip_malformed": self.sip.as_ref().map(|s| s.malformed_count()).unwrap_or(0),
                })
            }
            op @ ("span.up" | "span.down") => match span {
                Some(n) => {
                    let down = op == "span.down";
                    info!(span = n, op, "span event from the control socket");
                    self.tdm.span_alarm(n, down, now);
                    json!({"ok": true})
                }
                None => json!({"ok": false, "error": "span events need \"span\": N"}),
            },
            "metrics" => {
                let status = self.control(&json!({"op": "status"}), draining, now);
                let mut live = std::collections::BTreeMap::new();
                for (_, _, cell) in self.streams.values() {
                    if let Some(c) = cell {
                        for (k, v) in crate::metrics::rtp_fields(&CdrMedia::from(&c.load())) {
                            *live.entry(k).or_insert(0) += v;
                        }
                    }
                }
                json!({"ok": true, "text": crate::metrics::render(&status, &self.totals, &live)})
            }
            op @ ("device.add" | "device.remove") => {
                info!(op, device = ?req["device"].as_str(), "device event from the control socket");
                json!({"ok": true})
            }
            "calls" => json!({"ok": true, "calls": self.calls_json(now)}),
            "reload" => self.reload("control socket", now),
            "log.level" => match req["filter"].as_str() {
                None => json!({"ok": true, "filter": crate::logging::filter()}),
                Some(f) => match crate::logging::set_filter(f) {
                    Ok(previous) => {
                        info!(filter = f, %previous, "log filter changed from the control socket");
                        json!({"ok": true, "filter": f, "previous": previous})
                    }
                    Err(e) => json!({"ok": false, "error": e}),
                },
            },
            "call.hangup" => {
                let Some(id) = req["call"].as_str().and_then(|s| u64::from_str_radix(s.trim(), 16).ok()) else {
                    return json!({"ok": false, "error": "call.hangup needs \"call\": the call id (16 hex digits, as `tandem calls` and the CDRs show it)"});
                };
                let cause = match req.get("cause").filter(|c| !c.is_null()) {
                    None => crate::call::Cause::NORMAL_CLEARING,
                    Some(c) => match c.as_u64().filter(|n| (1..=127).contains(n)) {
                        Some(n) => crate::call::Cause(n as u8),
                        None => return json!({"ok": false, "error": format!("cause {c} is not a Q.850 cause (1-127)")}),
                    },
                };
                let call = CallId(id);
                if self.cc.hangup(call, cause, now) {
                    info!(%call, %cause, "call hung up from the control socket");
                    json!({"ok": true})
                } else {
                    json!({"ok": false, "error": format!("no call {call}")})
                }
            }
            op @ ("channel.block" | "channel.unblock") => {
                let block = op == "channel.block";
                let Some(span) = span else { return json!({"ok": false, "error": format!("{op} needs \"span\": N")}) };
                let positions: Option<Vec<u32>> = match req.get("channels").filter(|c| !c.is_null()) {
                    None => None,
                    Some(c) => match c.as_array().map(|a| a.iter().map(|v| v.as_u64().and_then(|n| u32::try_from(n).ok())).collect::<Option<Vec<u32>>>()) {
                        Some(Some(list)) if !list.is_empty() => Some(list),
                        _ => return json!({"ok": false, "error": "\"channels\" must be a list of channel positions"}),
                    },
                };
                match self.tdm.set_blocked(span, positions.as_deref(), block, now) {
                    Ok(done) => {
                        info!(span, op, channels = done.len(), "channels {} from the control socket", if block { "blocked" } else { "unblocked" });
                        let list: Vec<_> = done
                            .iter()
                            .map(|(i, a)| json!({"interface": self.iface_names.get(*i).cloned().unwrap_or_default(), "span": a.span, "channel": a.pos}))
                            .collect();
                        let mut cleared = Vec::new();
                        if block && req["now"] == true {
                            let cause = crate::call::Cause(crate::control::BLOCK_NOW_CAUSE);
                            let on = |l: &crate::call::control::LegInfo| {
                                l.kind == "tdm"
                                    && done.iter().any(|(i, a)| {
                                        self.iface_names.get(*i) == Some(&l.identity.interface)
                                            && l.identity.span == Some(a.span)
                                            && l.identity.channel == Some(a.pos)
                                    })
                            };
                            let ids: Vec<CallId> =
                                self.cc.calls(now).iter().filter(|c| on(&c.inbound) || c.outbound.as_ref().is_some_and(on)).map(|c| c.id).collect();
                            for id in ids {
                                info!(call = %id, %cause, "blocked now: clearing the call on the channel");
                                self.cc.hangup(id, cause, now);
                                cleared.push(id.to_string());
                            }
                        }
                        // What the block does not do, per interface touched (a PRI without SERVICE).
                        let mut touched: Vec<usize> = done.iter().map(|(i, _)| *i).collect();
                        touched.sort_unstable();
                        touched.dedup();
                        let notes: Vec<_> = touched
                            .iter()
                            .filter_map(|&i| {
                                let note = self.tdm.interface(i)?.block_note()?;
                                Some(json!({"interface": self.iface_names.get(i).cloned().unwrap_or_default(), "note": note}))
                            })
                            .collect();
                        json!({"ok": true, "channels": list, "cleared": cleared, "notes": notes})
                    }
                    Err(e) => json!({"ok": false, "error": e}),
                }
            }
            other => {
                json!({"ok": false, "error": format!("unknown op {other:?}; try status, calls, call.hangup, channel.block, channel.unblock, log.level, reload, span.up, span.down")})
            }
        }
    }

    /// Every call, as the `calls` op lists it (see [`crate::control`]).
    fn calls_json(&self, now: Instant) -> Vec<serde_json::Value> {
        use serde_json::json;
        let leg = |l: &crate::call::control::LegInfo| {
            let mut v = if l.kind == "tdm" {
                json!({"kind": "tdm", "interface": l.identity.interface, "span": l.identity.span, "channel": l.identity.channel})
            } else {
                json!({
                    "kind": "sip",
                    "trunk": l.identity.interface,
                    "call_id": l.identity.sip_call_id,
                    "remote": self.sip.as_ref().and_then(|s| s.leg_remote(l.leg)),
                })
            };
            if let Some(t) = &l.target {
                v["target"] = json!(match t {
                    Target::Sip { trunk, uri } => uri.clone().unwrap_or_else(|| trunk.clone()),
                    Target::Tdm { group } => group.clone(),
                });
            }
            v
        };
        self.cc
            .calls(now)
            .iter()
            .map(|c| {
                json!({
                    "id": c.id.to_string(),
                    "direction": c.direction,
                    "state": c.state.name(),
                    "calling": c.calling,
                    "called": c.called,
                    "start": crate::cdr::rfc3339(c.start),
                    "answer": c.answer.map(crate::cdr::rfc3339),
                    "age_s": crate::cdr::secs_ms(c.age),
                    "duration_s": c.duration.map(crate::cdr::secs_ms),
                    "inbound": leg(&c.inbound),
                    "outbound": c.outbound.as_ref().map(leg),
                })
            })
            .collect()
    }

    /// A reload, told to systemd: `RELOADING=1` before, `READY=1` after
    /// (applied or refused). Returns the `reload` op's reply.
    fn reload(&mut self, by: &str, now: Instant) -> serde_json::Value {
        if let Some(n) = &self.notify {
            n.reloading();
        }
        let reply = self.apply_reload(by, now);
        if let Some(n) = &self.notify {
            let outcome = if reply["ok"] == true { "reloaded" } else { "reload refused" };
            n.ready(&format!("{}; {outcome}", self.status_line()));
        }
        reply
    }

    /// One line for systemd's STATUS=: calls in progress and TDM interfaces up.
    fn status_line(&self) -> String {
        let total = self.iface_names.len();
        let up = (0..total).filter(|i| self.tdm.interface(*i).is_some_and(|t| t.is_up())).count();
        format!("{} calls active, {up}/{total} TDM interfaces up", self.cc.active_calls())
    }

    /// Reloads the configuration file (SIGHUP, the `reload` op): checks it
    /// as `tandem check` does, applies what can change live, reports what
    /// needs a restart, and reopens the CDR file (also when the file is
    /// invalid, for logrotate). Returns the `reload` op's reply.
    fn apply_reload(&mut self, by: &str, now: Instant) -> serde_json::Value {
        use serde_json::json;
        info!(by, path = %self.reload.path.display(), "reloading the configuration");
        let (cfg, table) = match crate::reload::load(&self.reload.path) {
            Ok(v) => v,
            Err(e) => {
                error!(by, "configuration not reloaded, nothing changed:\n{e}");
                self.reopen_cdr(self.reload.cdr.clone());
                let errors: Vec<String> = match &e {
                    crate::reload::ReloadError::Invalid(d) => d.iter().map(ToString::to_string).collect(),
                    other => vec![other.to_string()],
                };
                return json!({"ok": false, "error": e.to_string(), "errors": errors});
            }
        };
        let diff = crate::reload::diff(&self.reload.started, &self.reload.applied, &table);
        // The SIP side first: it is the only part that can refuse, and then nothing has changed.
        if let (Some(sip), Some(sc)) = (self.sip.as_mut(), cfg.sip.as_ref()) {
            match sip.reconfigure(sc, now) {
                Ok(ch) => {
                    if ch != Default::default() {
                        info!(added = ?ch.added, removed = ?ch.removed, reregistered = ?ch.reregistered, keepalive_restarted = ?ch.keepalive_restarted, "SIP trunks reloaded");
                    }
                    for (trunk, host) in sip.unresolved() {
                        let tx = self.reload.resolved.clone();
                        tokio::spawn(async move {
                            match tokio::net::lookup_host((host.as_str(), 0)).await.ok().and_then(|mut a| a.next()) {
                                Some(a) => {
                                    let _ = tx.send((trunk, host, a.ip()));
                                }
                                None => warn!(%trunk, %host, "cannot resolve the trunk's host after a reload"),
                            }
                        });
                    }
                }
                Err(e) => {
                    let e = crate::reload::ReloadError::from(e);
                    error!(by, "configuration not reloaded, nothing changed: {e}");
                    self.reopen_cdr(self.reload.cdr.clone());
                    return json!({"ok": false, "error": e.to_string(), "errors": [e.to_string()]});
                }
            }
        }
        self.cc.reconfigure(crate::route::Router::from_config(&cfg), cfg.general.max_calls(), cfg.general.no_route_cause());
        self.tdm.set_groups(cfg.group.iter().map(SpanGroup::from_config).collect());
        self.drain_limit = cfg.general.drain_timeout();
        let cdr = cfg.general.cdr_file().map(|p| (p, cfg.general.cdr_fsync()));
        self.reopen_cdr(cdr);
        for section in &diff.restart_needed {
            warn!(section = %section, "changed in the file but needs a restart: not applied");
        }
        self.reload.applied = table;
        info!(by, applied = ?diff.applied, restart_needed = ?diff.restart_needed, calls = self.cc.active_calls(), "configuration reloaded");
        json!({"ok": true, "applied": diff.applied, "restart_needed": diff.restart_needed})
    }

    /// Closes the CDR file and opens `cdr` (path, fsync) again: records
    /// already queued go to the old file, the next ones to the new. If it
    /// cannot be opened, the old file stays in use.
    fn reopen_cdr(&mut self, cdr: Option<(std::path::PathBuf, bool)>) {
        match &cdr {
            Some((path, fsync)) => match CdrWriter::open(path, *fsync) {
                Ok(w) => {
                    let (tx, _join) = w.spawn();
                    self.cdr = Some(tx);
                    debug!(path = %path.display(), "CDR file opened again");
                }
                Err(e) => {
                    error!(path = %path.display(), error = %e, "CDR file not reopened: records still go to the file open before");
                    return;
                }
            },
            None => self.cdr = None,
        }
        self.reload.cdr = cdr;
    }

    fn on_signal(&mut self, name: &str, limit: Duration, draining: &mut Option<Instant>) {
        let now = Instant::now();
        if draining.is_some() {
            warn!(signal = name, "second signal: clearing every call now");
            self.cc.drain(Duration::ZERO, now);
        } else {
            info!(signal = name, limit_s = limit.as_secs(), calls = self.cc.active_calls(), "draining: no new calls");
            self.cc.drain(limit, now);
            *draining = Some(now);
            if let Some(n) = &self.notify {
                n.stopping(&format!("draining: {}", self.status_line()));
            }
        }
    }

    fn next_deadline(&self) -> Option<Instant> {
        [self.cc.poll_timeout(), self.tdm.poll_timeout(), self.sip.as_ref().and_then(|s| s.poll_timeout())].into_iter().flatten().min()
    }

    /// Drain the outputs of all three cores until none has more.
    fn flush(&mut self, now: Instant) {
        loop {
            let mut busy = false;
            while let Some((iface, out)) = self.tdm.poll_output() {
                busy = true;
                self.on_tdm(iface, out, now);
            }
            while let Some(out) = self.sip.as_mut().and_then(|s| s.poll_output()) {
                busy = true;
                self.on_sip(out, now);
            }
            while let Some(out) = self.cc.poll_output() {
                busy = true;
                self.on_cc(out, now);
            }
            if !busy {
                break;
            }
        }
    }

    fn leg_event(&mut self, leg: LegRef, ev: LegEvent, now: Instant) {
        if matches!(ev, LegEvent::Released(_)) {
            self.owners.remove(&leg);
        }
        if matches!(ev, LegEvent::Answered { .. }) {
            self.stop_progress_tap(leg.call);
        }
        self.cc.handle(leg, ev, now);
    }

    /// An answered call on an E&M channel: its trunk supervises by bits
    /// from now on, so the pump stops copying the channel's audio to the
    /// call-progress tap (FXO lines keep theirs, for tone disconnect).
    fn stop_progress_tap(&mut self, call: CallId) {
        for (_, _, spec) in self.cas_pending.values_mut().filter(|(c, _, _)| *c == call) {
            spec.tap = false;
        }
        if let Some((id, spec, _)) = self.streams.get_mut(&call)
            && spec.tap
            && self.cas.contains_key(&spec.channo)
        {
            spec.tap = false;
            match self.pump.update(*id, *spec) {
                Ok(()) => debug!(%call, stream = *id, "answered: the call-progress tap is off"),
                Err(e) => debug!(%call, stream = *id, %e, "call-progress tap not switched off"),
            }
        }
    }

    fn on_tdm(&mut self, iface: usize, out: TdmOutput, now: Instant) {
        match out {
            TdmOutput::Incoming { key, mut setup, identity, media } => {
                // An analog line presenting a call without caller ID takes the
                // SMDI call detail for its station, if one came.
                if setup.calling.as_ref().is_none_or(|p| p.number.is_empty() && p.presentation != crate::call::model::Presentation::Restricted)
                    && let (Some(station), Some((_, join))) = (self.stations.get(&iface), self.smdi.as_mut())
                    && let Some(cd) = join.take(station, now)
                    && let Some(number) = cd.calling
                {
                    info!(interface = ?self.iface_names.get(iface), %station, %number, "caller ID from SMDI");
                    let name = setup.calling.as_ref().and_then(|p| p.name.clone());
                    setup.calling = Some(crate::call::model::Party { number, name, ..Default::default() });
                }
                let interface = self.iface_names.get(iface).cloned().unwrap_or_default();
                let leg = self.cc.incoming(Origin::Tdm { interface }, setup, now);
                self.owners.insert(leg, Owner::Tdm);
                self.tdm.accept(iface, key, leg);
                self.cc.handle(leg, LegEvent::Identity(identity), now);
                self.cc.handle(leg, LegEvent::Media(media), now);
            }
            TdmOutput::Leg(leg, ev) => self.leg_event(leg, ev, now),
            TdmOutput::Io(TdmIo::Pri(PriIo::Frame { link: _, frame })) => {
                if let Some(tx) = self.dchan_tx.get(iface) {
                    if tx.try_send(frame).is_err() {
                        warn!(interface = %self.iface_names[iface], "D-channel transmit queue full: frame dropped");
                    }
                }
            }
            TdmOutput::Io(TdmIo::Analog(a)) => match self.analog.get(&a.channo) {
                Some((_, shell)) => shell.command(a.cmd),
                None => warn!(channo = a.channo, "line command for a port without a shell"),
            },
            TdmOutput::Io(TdmIo::Cas(c)) => match c.cmd {
                CasCommand::MediaReady(ready) => {
                    if let Some(e) = self.cas.get_mut(&c.channo) {
                        e.2 = ready;
                    }
                    if ready && let Some((call, id, spec)) = self.cas_pending.remove(&c.channo) {
                        self.start_cas_media(call, id, spec);
                    }
                }
                cmd => match self.cas.get(&c.channo) {
                    Some((_, shell, _)) => shell.command(cmd),
                    None => warn!(channo = c.channo, "CAS command for a channel without a shell"),
                },
            },
            TdmOutput::Io(TdmIo::Pri(PriIo::Trace(t))) => {
                if let Some(Some(sink)) = self.pcap.get_mut(iface) {
                    if let Err(e) = sink.write(&t) {
                        warn!(%e, "pcap write failed");
                    }
                }
            }
        }
    }

    fn on_sip(&mut self, out: SipOutput, now: Instant) {
        match out {
            SipOutput::Incoming { key, trunk, setup, identity } => {
                let leg = self.cc.incoming(Origin::Sip { trunk }, setup, now);
                self.owners.insert(leg, Owner::Sip);
                if let Some(sip) = self.sip.as_mut() {
                    sip.accept(key, leg);
                }
                self.cc.handle(leg, LegEvent::Identity(identity), now);
            }
            SipOutput::Leg(leg, ev) => self.leg_event(leg, ev, now),
            SipOutput::Transmit { transport, dest, bytes } => {
                if let Some(t) = &self.transport {
                    t.send(Outbound { transport, dest, bytes });
                }
            }
            SipOutput::TrunkUp { trunk } => info!(%trunk, "SIP trunk up"),
            SipOutput::TrunkDown { trunk } => warn!(%trunk, "SIP trunk down"),
            SipOutput::Mwi { trunk, account, waiting, new } => self.message_waiting(&trunk, &account, waiting, new, now),
        }
    }

    /// A trunk reported `account`'s message-waiting state: every analog
    /// interface with that `mailbox` shows it (FXS ports), and an FXO line
    /// with an SMDI link asks the switch (`OP:MWI` / `RMV:MWI`).
    fn message_waiting(&mut self, trunk: &str, account: &str, waiting: bool, new: u32, now: Instant) {
        let mut shown = false;
        for (iface, mailbox, smdi) in &self.mailboxes {
            if mailbox != account {
                continue;
            }
            shown = true;
            info!(%trunk, interface = ?self.iface_names.get(*iface), %mailbox, waiting, new, "message waiting");
            self.tdm.message_waiting(*iface, waiting, now);
            if let Some(dev) = smdi
                && let Some(link) = self.smdi_out.get_mut(dev)
            {
                match Smdi::mwi(mailbox, waiting) {
                    Ok(bytes) => {
                        if let Err(e) = link.write(&bytes) {
                            warn!(device = %dev, error = %e, "SMDI MWI request not sent");
                        }
                    }
                    Err(e) => warn!(device = %dev, error = %e, "SMDI MWI request not sent"),
                }
            }
        }
        if !shown {
            debug!(%trunk, %account, waiting, "message waiting for a mailbox no analog interface shows");
        }
    }

    fn on_cc(&mut self, out: CcOutput, now: Instant) {
        match out {
            CcOutput::Command(leg, cmd) => match self.owners.get(&leg) {
                // An out-of-band digit (SIP INFO) for a TDM leg is played in
                // band on its channel by the pump.
                Some(Owner::Tdm) if matches!(cmd, crate::call::LegCommand::Dtmf { .. }) => {
                    if let crate::call::LegCommand::Dtmf { digit, duration_ms } = cmd
                        && let Some((id, _, _)) = self.streams.get(&leg.call)
                        && let Err(e) = self.pump.play_dtmf(*id, digit, duration_ms)
                    {
                        debug!(%leg, %e, "DTMF not played");
                    }
                }
                Some(Owner::Tdm) => self.tdm.command(leg, cmd, now),
                Some(Owner::Sip) => {
                    if let Some(sip) = self.sip.as_mut() {
                        sip.command(leg, cmd, now);
                    }
                }
                None => debug!(%leg, ?cmd, "command for a leg that is gone"),
            },
            CcOutput::Originate { leg, target, setup } => match target {
                Target::Tdm { group } => {
                    self.owners.insert(leg, Owner::Tdm);
                    self.tdm.originate(leg, &group, &setup, now);
                }
                Target::Sip { trunk, uri } => {
                    self.owners.insert(leg, Owner::Sip);
                    match self.sip.as_mut() {
                        Some(sip) => sip.originate(leg, &trunk, uri.as_deref(), &setup, now),
                        None => {
                            warn!(%leg, %trunk, "route to SIP, but no [sip] section");
                            self.leg_event(leg, LegEvent::Released(crate::call::Release::cause(crate::call::Cause::NETWORK_OUT_OF_ORDER)), now);
                        }
                    }
                }
            },
            CcOutput::Media(m) => self.on_media(m),
            CcOutput::Cdr(mut rec) => {
                rec.media = self.media_done.remove(&rec.call_id).as_ref().map(CdrMedia::from);
                self.totals.add_call(&rec);
                if let Some(tx) = &self.cdr {
                    if tx.send(*rec).is_err() {
                        error!("CDR writer is gone: record lost");
                    }
                }
            }
        }
    }

    fn on_media(&mut self, m: MediaCommand) {
        match m {
            MediaCommand::Connect { call, tdm_channo, tdm_law, rtp } => {
                let mut spec = stream_spec(tdm_channo, tdm_law, &rtp);
                spec.echo_taps = self.echo.iter().find(|(r, _)| r.contains(&tdm_channo)).map(|(_, t)| *t);
                // FXO lines: the tap carries the line's audio to tone disconnect supervision.
                spec.tap = self.analog.get(&tdm_channo).is_some_and(|(_, s)| s.kind == crate::config::analog::PortKind::Fxo);
                // E&M trunk channels: the tap carries early media to call-progress detection.
                spec.tap |= self.cas.get(&tdm_channo).is_some_and(|(_, s, _)| s.tap);
                let id = rtp.stream;
                if self.parked.remove(&call) {
                    match self.streams.get(&call).map(|(p, _, _)| *p) {
                        Some(p) if p == id => {
                            // A resume: the same stream, attached to the channel again.
                            match self.unpark_media(call, id, spec) {
                                Ok(()) => {
                                    debug!(%call, stream = id, channo = tdm_channo, "media resumed");
                                    if let Some(e) = self.streams.get_mut(&call) {
                                        e.1 = spec;
                                    }
                                }
                                Err(e) => {
                                    self.parked.insert(call);
                                    warn!(%call, stream = id, %e, "media resume failed");
                                }
                            }
                            return;
                        }
                        Some(p) => {
                            // A new stream replaces the parked one.
                            let _ = self.pump.stop(p);
                            self.streams.remove(&call);
                        }
                        None => {}
                    }
                }
                // A CAS channel's media waits until address signalling is over.
                if let Some((_, _, ready)) = self.cas.get(&tdm_channo) {
                    if *ready {
                        self.start_cas_media(call, id, spec);
                    } else {
                        debug!(%call, channo = tdm_channo, "media waits for the CAS channel's address signalling");
                        self.cas_pending.insert(tdm_channo, (call, id, spec));
                    }
                    return;
                }
                // An analog port's channel stays open in its shell: the pump gets a duplicate.
                let started = match self.analog.get(&tdm_channo) {
                    Some((_, shell)) => match shell.lend() {
                        Ok(chan) => {
                            let r = self.pump.start_on(id, spec, chan);
                            if r.is_ok() {
                                self.lent.insert(call, tdm_channo);
                            } else {
                                shell.resume();
                            }
                            r.map_err(|e| e.to_string())
                        }
                        Err(e) => Err(e),
                    },
                    None => self.pump.start(id, spec).map_err(|e| e.to_string()),
                };
                match started {
                    Ok(()) => {
                        debug!(%call, stream = id, channo = tdm_channo, "media connected");
                        self.streams.insert(call, (id, spec, self.pump.stats_cell(id)));
                    }
                    Err(e) => warn!(%call, stream = id, %e, "media connect failed"),
                }
            }
            MediaCommand::Update { call, rtp } => {
                if let Some((_, _, spec)) = self.cas_pending.values_mut().find(|(c, _, _)| *c == call) {
                    merge_rtp(spec, &rtp);
                }
                if let Some((id, spec, _)) = self.streams.get_mut(&call) {
                    merge_rtp(spec, &rtp);
                    if let Err(e) = self.pump.update(*id, *spec) {
                        warn!(%call, stream = *id, %e, "media update failed");
                    }
                }
            }
            MediaCommand::Park { call } => {
                if let Some((id, _, _)) = self.streams.get(&call) {
                    match self.pump.park(*id) {
                        Ok(()) => {
                            debug!(%call, stream = *id, "media parked (hold)");
                            self.parked.insert(call);
                        }
                        Err(e) => warn!(%call, stream = *id, %e, "media park failed"),
                    }
                }
                // The channel goes back to its shell (an FXS port plays recall dial tone).
                if let Some(channo) = self.lent.remove(&call)
                    && let Some((_, shell)) = self.analog.get(&channo)
                {
                    shell.resume();
                }
                if let Some(channo) = self.cas_lent.remove(&call)
                    && let Some((_, shell, _)) = self.cas.get(&channo)
                {
                    shell.resume();
                }
            }
            MediaCommand::Disconnect { call } => {
                self.parked.remove(&call);
                if let Some((id, _, cell)) = self.streams.remove(&call) {
                    // The SIP leg may have released the stream already; then
                    // its last published figures stand.
                    let stats = match self.pump.stop(id) {
                        Ok(st) => Some(st),
                        Err(_) => cell.map(|c| c.load()),
                    };
                    if let Some(st) = stats {
                        self.media_done.insert(call.to_string(), st);
                    }
                    debug!(%call, stream = id, "media disconnected");
                }
                if let Some(channo) = self.lent.remove(&call)
                    && let Some((_, shell)) = self.analog.get(&channo)
                {
                    shell.resume();
                }
                self.cas_pending.retain(|_, (c, _, _)| *c != call);
                if let Some(channo) = self.cas_lent.remove(&call)
                    && let Some((_, shell, _)) = self.cas.get(&channo)
                {
                    shell.resume();
                }
            }
        }
    }
}

impl Daemon {
    /// Attaches a call's parked stream to its channel again: a duplicate
    /// lent by the channel's analog or CAS shell, or the B-channel opened
    /// by the pump.
    fn unpark_media(&mut self, call: CallId, id: u64, spec: StreamSpec) -> Result<(), String> {
        if let Some((_, shell)) = self.analog.get(&spec.channo) {
            let chan = shell.lend()?;
            let r = self.pump.unpark_on(id, spec, chan);
            if r.is_ok() {
                self.lent.insert(call, spec.channo);
            } else {
                shell.resume();
            }
            return r.map_err(|e| e.to_string());
        }
        if let Some((_, shell, _)) = self.cas.get(&spec.channo) {
            let chan = shell.lend()?;
            let r = self.pump.unpark_on(id, spec, chan);
            if r.is_ok() {
                self.cas_lent.insert(call, spec.channo);
            } else {
                shell.resume();
            }
            return r.map_err(|e| e.to_string());
        }
        self.pump.unpark(id, spec).map_err(|e| e.to_string())
    }

    /// Starts a call's media on a CAS channel: its shell lends the pump a
    /// duplicate of the channel.
    fn start_cas_media(&mut self, call: CallId, id: u64, spec: StreamSpec) {
        let Some((_, shell, _)) = self.cas.get(&spec.channo) else { return };
        let started = match shell.lend() {
            Ok(chan) => {
                let r = self.pump.start_on(id, spec, chan);
                if r.is_ok() {
                    self.cas_lent.insert(call, spec.channo);
                } else {
                    shell.resume();
                }
                r.map_err(|e| e.to_string())
            }
            Err(e) => Err(e),
        };
        match started {
            Ok(()) => {
                debug!(%call, stream = id, channo = spec.channo, "media connected on the CAS channel");
                self.streams.insert(call, (id, spec, self.pump.stats_cell(id)));
            }
            Err(e) => warn!(%call, stream = id, %e, "media connect failed"),
        }
    }
}

/// The pump's view of a negotiated stream on a B-channel.
fn stream_spec(channo: u32, law: crate::call::Law, rtp: &RtpParams) -> StreamSpec {
    let mut spec = StreamSpec {
        channo,
        tdm_law: match law {
            crate::call::Law::Ulaw => tandem_media::codec::Law::Mulaw,
            crate::call::Law::Alaw => tandem_media::codec::Law::Alaw,
        },
        codec: tandem_media::codec::Codec::Pcmu,
        payload_type: 0,
        ptime_ms: 20,
        dtmf_payload_type: None,
        remote: None,
        direction: tandem_media::codec::Direction::SendRecv,
        symmetric: false,
        echo_taps: None,
        tap: false,
        data_mode: false,
    };
    merge_rtp(&mut spec, rtp);
    spec
}

/// Copy the negotiated RTP parameters into a pump stream spec.
fn merge_rtp(spec: &mut StreamSpec, rtp: &RtpParams) {
    spec.codec = match rtp.codec {
        Codec::Pcmu => tandem_media::codec::Codec::Pcmu,
        Codec::Pcma => tandem_media::codec::Codec::Pcma,
    };
    spec.payload_type = rtp.payload_type;
    spec.ptime_ms = rtp.ptime_ms;
    spec.dtmf_payload_type = rtp.dtmf_payload_type;
    spec.remote = rtp.remote;
    spec.direction = match rtp.direction {
        Direction::SendRecv => tandem_media::codec::Direction::SendRecv,
        Direction::SendOnly => tandem_media::codec::Direction::SendOnly,
        Direction::RecvOnly => tandem_media::codec::Direction::RecvOnly,
        Direction::Inactive => tandem_media::codec::Direction::Inactive,
    };
    spec.symmetric = rtp.symmetric;
}

/// Load the configuration, printing diagnostics; for `tandem run`.
pub fn load(path: &Path) -> Result<Config, String> {
    Config::load(path).map_err(|d| d.iter().map(|x| x.to_string()).collect::<Vec<_>>().join("\n"))
}
