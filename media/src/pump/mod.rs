//! The media pump: B-channel PCM ⇄ RTP for many calls from one thread.
//!
//! # Design
//!
//! * **Sans-IO core, thin shell.** [`stream::Stream`] is one call's media as
//!   a pure state machine (packetiser, transcoder, receive statistics,
//!   [`jitter::JitterBuffer`] with PLC, RFC 4733 in both directions, RTCP).
//!   The pump thread (`shell`) owns the DAHDI channels and UDP sockets and
//!   feeds the cores.
//! * **The TDM clock is the master.** The pump does not poll the channels:
//!   like `hw-sim/benches/capacity.rs` it learns each channel's block phase
//!   (reading every millisecond until a block shows up right after an
//!   empty look) and then reads once per block, 1 ms after the block
//!   completes. Each block read is packetised and answered with one block
//!   written from the jitter buffer, so playout runs at exactly the TDM
//!   rate; a remote clock that drifts makes the jitter buffer slip. Every
//!   50th block the pump reads once more to catch a backlog (counted as an
//!   overrun). When the phase locks, the transmit queue is flushed and
//!   restarted as `tx_margin_ms` of silence plus the block just written, so
//!   each later write (right after its read) finds only the margin queued:
//!   the transmit side adds the margin, not a block or two, to RTP → TDM.
//! * **Writes timed to the packets.** Once a stream's packet arrival phase
//!   against its channel's block phase is learnt (`write_phase`: a high
//!   order statistic of the last 16 arrival offsets, plus a 1 ms guard;
//!   20 ms ptime on 20 ms blocks only), its blocks are no longer written at
//!   the reads but are nominally due at that offset on the read grid: the
//!   transmit queue is restarted (flush, silence, block) when the offset
//!   is taken or moves (rarely: hysteresis, and at most once per 24
//!   packets) so that it holds the margin plus 4 ms at each nominal time.
//!   A block is written as soon as its packet is in (from 8 ms before its
//!   nominal time; the samples still play at their fixed place in the
//!   queue), so timed writes need no wake-up of their own; a packet that
//!   has not come 4 ms after the nominal time is concealed then (the queue
//!   still holds the margin). A packet waits about the guard, the margin
//!   and 4 ms instead of up to a block plus the margin. A write late by
//!   more than the margin (a stall) drops what should have played
//!   meanwhile, so the delay does not creep. Reads are unchanged, and a
//!   lost and found read phase leaves the timed writes' queue alone.
//!   UDP sockets are in an epoll set whose wait ends at the next block due.
//! * **Jitter buffer.** Its target starts at `jitter_min_ms` (10 ms: on a
//!   clean network one packet is buffered when its block is pulled), grows
//!   by a frame on a late packet or an underrun and shrinks slowly.
//! * **Call control never waits on media.** [`PumpHandle`] is `Clone + Send
//!   + Sync`; it binds sockets and opens the channel on the caller's thread
//!   (so errors come back synchronously and the SIP leg knows its port
//!   before the stream starts), then passes them to the pump thread over a
//!   crossbeam channel. The pump thread never blocks on call control:
//!   commands are drained without waiting, and figures are published in
//!   atomics ([`StatsCell`]) that [`PumpHandle::stats`] reads.
//! * **No allocation or lock per packet** on the media path: buffers are
//!   preallocated per stream; RTCP (every ~5 s) allocates its report.
//!
//! Streams are spread over `threads` pump threads by id (one by default).
//!
//! # Hold: parking a stream
//!
//! [`PumpHandle::park`] detaches a started stream from its channel and
//! keeps the rest: its sockets (so the port in the SDP stays valid), its
//! SSRC, sequence and timestamp, its statistics, and RTCP, which goes on
//! being sent and received. While parked nothing is read from or written
//! to the channel (the pump closes its descriptor: an analog shell that
//! lent it may use the line again), received RTP is counted and dropped,
//! and no RTP is sent (no comfort noise: the far end, offered `sendonly`,
//! hears silence). [`PumpHandle::unpark`] / [`PumpHandle::unpark_on`]
//! attach it to a channel again, the same or another one (call waiting
//! moves an FXS port between two parked streams): the sequence continues,
//! the timestamp is advanced by the time parked at 8 kHz, the first packet
//! carries the marker, the jitter buffer starts empty and the channel's
//! block phase is learnt afresh.
//!
//! # Use from call control
//!
//! ```no_run
//! use tandem_media::codec::Law;
//! use tandem_media::pump::{Pump, PumpConfig};
//! use tandem_media::sdp::{self, LocalMedia};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let pump = Pump::start(PumpConfig { rtp_ip: "192.0.2.10".parse()?, ..Default::default() })?;
//! // INVITE with an offer arrives for B-channel 5 (a µ-law T1):
//! # let offer_text = b"";
//! let port = pump.allocate()?;
//! let offer = sdp::parse(offer_text)?;
//! let (answer, negotiated) = sdp::answer_offer(&offer, &LocalMedia::new(port.local, 1))?; // Err → 488
//! pump.start(port.id, negotiated.stream_spec(5, Law::Mulaw, true))?;
//! let _ = answer.to_string(); // the 200 OK body
//! // A re-INVITE (hold, new codec, new address):
//! # let reoffer = offer.clone();
//! let (_, renegotiated) = sdp::answer_offer(&reoffer, &LocalMedia::new(port.local, 1))?;
//! pump.update(port.id, renegotiated.stream_spec(5, Law::Mulaw, true))?;
//! // BYE: the figures go to the CDR.
//! let figures = pump.stop(port.id)?;
//! println!("lost {} jitter {:.1} ms rtt {:?}", figures.lost, figures.jitter_ms, figures.rtt_ms);
//! pump.shutdown();
//! # Ok(())
//! # }
//! ```

pub mod answer_tone;
mod dtmf_gate;
mod jitter;
mod shell;
mod stats;
pub mod stream;
mod write_phase;

use std::collections::HashMap;
use std::io;
use std::net::{IpAddr, Ipv4Addr, SocketAddr, UdpSocket};
use std::ops::RangeInclusive;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use crossbeam_channel::Sender;
use nix::sys::eventfd::{EfdFlags, EventFd};
use tandem_drivers::{Channel, OpenOptionsDahdi, Policy};

pub use jitter::{JitterBuffer, JitterConfig, JitterStats};
pub use stats::{IoStats, READ_LATE_BOUNDS_US, READ_LATE_BUCKETS, SYSCALL_KINDS, StatsCell, StreamStats, Syscall};

use crate::codec::{Codec, Direction, Law, SAMPLES_PER_MS};

/// How DTMF digits heard on the TDM side are carried.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum DtmfMode {
    /// Detect in-band digits and send them as RFC 4733 events (when the
    /// stream has a telephone-event payload type), muting the audio while a
    /// digit lasts.
    #[default]
    Rfc4733,
    /// Leave digits in the audio. Received RFC 4733 events are played
    /// either way.
    Inband,
}

/// Settings of a pump.
#[derive(Clone, Debug)]
pub struct PumpConfig {
    /// The DAHDI device directory (`/dev/dahdi`, or a simulator mount).
    pub device_dir: PathBuf,
    /// Local address the RTP sockets bind to.
    pub rtp_ip: IpAddr,
    /// Port range; each stream takes an even RTP port and RTCP = RTP + 1.
    pub rtp_ports: RangeInclusive<u16>,
    /// TDM block, ms (20: 160-byte reads and writes).
    pub tdm_block_ms: u32,
    /// Smallest jitter-buffer target, ms.
    pub jitter_min_ms: u32,
    /// Largest jitter-buffer depth, ms.
    pub jitter_max_ms: u32,
    /// DTMF handling towards RTP.
    pub dtmf_mode: DtmfMode,
    /// Pin the pump thread(s) to this CPU.
    pub cpu: Option<usize>,
    /// Pump threads (streams are spread over them by id).
    pub threads: usize,
    /// DAHDI buffers per direction (chan_dahdi uses 4).
    pub numbufs: u32,
    /// Silence (ms) kept queued on the channel's transmit side ahead of each
    /// block written: the margin against a late read, and the RTP → TDM
    /// delay the transmit queue adds.
    pub tx_margin_ms: u32,
    /// Where line events (hook, polarity, ring…) met on a stream's channel
    /// go, with the DAHDI channel number; `None` drops them. Analog lines
    /// need them: their signalling goes on while the pump owns the channel.
    pub line_events: Option<crossbeam_channel::Sender<(u32, tandem_drivers::LineEvent)>>,
    /// Where copies of the blocks read from the channels of streams with
    /// [`StreamSpec::tap`] go (what the far end on the line sends), for
    /// call control's own tone detection; sent with `try_send`, so a full
    /// channel drops blocks (counted in [`StreamStats::tap_dropped`]).
    pub tap: Option<crossbeam_channel::Sender<TapBlock>>,
    /// Detect the 2100 Hz fax/modem answer tone in both directions of every
    /// stream and then switch the stream to data mode and its channel's
    /// echo canceller off (see [`answer_tone`]).
    pub answer_tone: bool,
    /// Run the pump thread(s) at a realtime priority, set by each thread
    /// as it starts; `None` (the default) leaves them as they are. A
    /// refusal (EPERM) is logged as a warning and the pump runs on.
    pub rt_priority: Option<RtPriority>,
}

/// A realtime priority for the pump threads, and how a thread takes it.
/// This crate has no unsafe code, so the caller brings the system call
/// (the daemon's is `tandem_gateway::realtime::set_current_thread_fifo`:
/// SCHED_FIFO at `priority`).
#[derive(Clone, Copy, Debug)]
pub struct RtPriority {
    /// The priority, 1–99 for SCHED_FIFO.
    pub priority: u8,
    /// Gives the calling thread `priority`.
    pub apply: fn(u8) -> std::io::Result<()>,
}

/// Samples in a [`TapBlock`] (20 ms).
pub const TAP_BLOCK: usize = 160;

/// A copy of audio read from a tapped stream's channel.
#[derive(Clone, Copy, Debug)]
pub struct TapBlock {
    /// The stream.
    pub id: u64,
    /// Its DAHDI channel number.
    pub channo: u32,
    /// The channel's law (the codes in `data`).
    pub law: Law,
    /// Codes in `data`.
    pub len: usize,
    /// The block, in the channel's law (a longer TDM block comes as several).
    pub data: [u8; TAP_BLOCK],
}

impl TapBlock {
    /// The block's codes.
    pub fn codes(&self) -> &[u8] {
        &self.data[..self.len.min(TAP_BLOCK)]
    }
}

impl Default for PumpConfig {
    fn default() -> Self {
        PumpConfig {
            device_dir: PathBuf::from("/dev/dahdi"),
            rtp_ip: IpAddr::V4(Ipv4Addr::UNSPECIFIED),
            rtp_ports: 10000..=20000,
            tdm_block_ms: 20,
            jitter_min_ms: 10,
            jitter_max_ms: 200,
            dtmf_mode: DtmfMode::Rfc4733,
            cpu: None,
            threads: 1,
            numbufs: 4,
            tx_margin_ms: 4,
            line_events: None,
            tap: None,
            answer_tone: true,
            rt_priority: None,
        }
    }
}

/// What one stream carries; given at start and on each re-INVITE.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StreamSpec {
    /// DAHDI channel number of the B-channel.
    pub channo: u32,
    /// G.711 law the channel is set to (the span's law).
    pub tdm_law: Law,
    /// The negotiated codec.
    pub codec: Codec,
    /// Its RTP payload type.
    pub payload_type: u8,
    /// Packet time, ms (10, 20 or 30; 40 and 60 also work).
    pub ptime_ms: u8,
    /// RFC 4733 telephone-event payload type, if negotiated.
    pub dtmf_payload_type: Option<u8>,
    /// Where to send RTP (RTCP goes to port + 1); `None` until known.
    pub remote: Option<SocketAddr>,
    /// Media direction from our side (hold: `SendOnly` or `Inactive`).
    pub direction: Direction,
    /// Symmetric RTP: latch onto the address the remote's packets come
    /// from and send there.
    pub symmetric: bool,
    /// The channel's echo canceller: `Some(taps)` enables it with a tail of
    /// `taps` samples when the stream starts (`Some(0)` switches it off);
    /// `None` leaves it as the channel's configuration set it. On
    /// [`PumpHandle::update`] a changed value is applied;
    /// [`PumpHandle::set_echo`] switches it at any time (fax and modem).
    pub echo_taps: Option<u32>,
    /// Send copies of what is read from the channel to [`PumpConfig::tap`].
    pub tap: bool,
    /// Data mode from the start (fax or modem): the jitter buffer keeps a
    /// fixed depth and conceals nothing, and in-band DTMF is left alone.
    /// The pump also enters it by itself on the 2100 Hz answer tone
    /// ([`PumpConfig::answer_tone`]); once in it a stream stays in it.
    pub data_mode: bool,
}

/// A bound RTP/RTCP socket pair, ready to be started.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StreamPort {
    /// The stream's id for all later calls.
    pub id: u64,
    /// The local RTP address (RTCP is port + 1); put it in the SDP.
    pub local: SocketAddr,
}

/// Errors of the pump's control calls.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PumpError {
    /// No stream with this id (never allocated, or stopped).
    #[error("stream {0}: unknown")]
    UnknownStream(u64),
    /// `start` on a stream already started.
    #[error("stream {0}: already started")]
    AlreadyStarted(u64),
    /// `update` on a stream that was allocated but not started.
    #[error("stream {0}: not started")]
    NotStarted(u64),
    /// `park` on a stream already parked.
    #[error("stream {0}: already parked")]
    AlreadyParked(u64),
    /// `unpark` on a stream that is not parked.
    #[error("stream {0}: not parked")]
    NotParked(u64),
    /// The DAHDI channel could not be opened or set up.
    #[error("stream {id}: channel {channo}: {source}")]
    Channel {
        /// The stream.
        id: u64,
        /// The DAHDI channel number.
        channo: u32,
        /// What the driver layer said.
        #[source]
        source: tandem_drivers::Error,
    },
    /// The pump thread has stopped.
    #[error("the pump has shut down")]
    ShutDown,
}

/// A command to a pump thread.
pub(crate) enum Command {
    Start { id: u64, spec: StreamSpec, chan: Channel, rtp: UdpSocket, rtcp: UdpSocket, stats: Arc<StatsCell> },
    Update { id: u64, spec: StreamSpec },
    Echo { id: u64, taps: u32 },
    Digit { id: u64, digit: char, duration_ms: u16 },
    Stop { id: u64 },
    Park { id: u64 },
    Unpark { id: u64, spec: StreamSpec, chan: Channel },
    Shutdown,
}

struct Entry {
    port: u16,
    sockets: Option<(UdpSocket, UdpSocket)>,
    stats: Arc<StatsCell>,
    /// Started and parked (see [`PumpHandle::park`]).
    parked: bool,
}

struct Inner {
    cfg: PumpConfig,
    cmd: Vec<CmdLink>,
    next_id: AtomicU64,
    /// Next port to try, and the ports in use.
    ports: Mutex<(u16, std::collections::HashSet<u16>)>,
    streams: Mutex<HashMap<u64, Entry>>,
    threads: Mutex<Vec<JoinHandle<()>>>,
    io: Vec<Arc<stats::IoCells>>,
}

/// A pump thread's command queue, and the doorbell (an eventfd in its
/// epoll set) rung with every command, so that the thread picks a command
/// up at once, and sleeps long when it has no streams.
struct CmdLink {
    tx: Sender<Command>,
    bell: Arc<EventFd>,
}

impl CmdLink {
    fn send(&self, c: Command) -> Result<(), PumpError> {
        self.tx.send(c).map_err(|_| PumpError::ShutDown)?;
        // The counter cannot fill: the thread drains it at every wake-up.
        let _ = self.bell.write(1);
        Ok(())
    }
}

/// The pump (see the module docs); [`Pump::start`] runs it.
pub struct Pump;

impl Pump {
    /// Starts the pump thread(s).
    pub fn start(cfg: PumpConfig) -> io::Result<PumpHandle> {
        if cfg.rtp_ports.is_empty() || *cfg.rtp_ports.end() < 2 {
            return Err(io::Error::new(io::ErrorKind::InvalidInput, "empty RTP port range"));
        }
        if !(10..=100).contains(&cfg.tdm_block_ms) {
            return Err(io::Error::new(io::ErrorKind::InvalidInput, "tdm_block_ms must be 10..=100"));
        }
        let mut cmd = Vec::new();
        let mut threads = Vec::new();
        let mut io = Vec::new();
        for k in 0..cfg.threads.max(1) {
            let (tx, rx) = crossbeam_channel::unbounded();
            let bell = Arc::new(EventFd::from_value_and_flags(0, EfdFlags::EFD_CLOEXEC | EfdFlags::EFD_NONBLOCK)?);
            let sc = shell::ShellConfig {
                block: (cfg.tdm_block_ms * SAMPLES_PER_MS) as usize,
                jitter_min_ms: cfg.jitter_min_ms,
                jitter_max_ms: cfg.jitter_max_ms,
                dtmf_mode: cfg.dtmf_mode,
                cpu: cfg.cpu,
                tx_margin: (cfg.tx_margin_ms * SAMPLES_PER_MS) as usize,
                line_events: cfg.line_events.clone(),
                tap: cfg.tap.clone(),
                answer_tone: cfg.answer_tone,
                rt_priority: cfg.rt_priority,
            };
            let cells = Arc::new(stats::IoCells::default());
            io.push(cells.clone());
            let thread_bell = bell.clone();
            let t = std::thread::Builder::new().name(format!("media-pump-{k}")).spawn(move || shell::run(sc, rx, thread_bell, cells))?;
            cmd.push(CmdLink { tx, bell });
            threads.push(t);
        }
        let first = *cfg.rtp_ports.start() + (*cfg.rtp_ports.start() & 1);
        Ok(PumpHandle {
            inner: Arc::new(Inner {
                cfg,
                cmd,
                next_id: AtomicU64::new(1),
                ports: Mutex::new((first, Default::default())),
                streams: Mutex::new(HashMap::new()),
                threads: Mutex::new(threads),
                io,
            }),
        })
    }
}

/// Call control's handle on the pump: cheap to clone, usable from any
/// thread, never blocked by the media path.
#[derive(Clone)]
pub struct PumpHandle {
    inner: Arc<Inner>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl PumpHandle {
    /// Binds an RTP/RTCP socket pair (even port, port + 1) from the range,
    /// so its port can go into SDP before the stream starts.
    pub fn allocate(&self) -> io::Result<StreamPort> {
        let cfg = &self.inner.cfg;
        let (lo, hi) = (*cfg.rtp_ports.start(), *cfg.rtp_ports.end());
        let lo = lo + (lo & 1);
        let pairs = (u32::from(hi.saturating_sub(lo)) + 1).div_ceil(2);
        let mut ports = lock(&self.inner.ports);
        for _ in 0..pairs {
            let p = ports.0;
            ports.0 = if u32::from(p) + 3 > u32::from(hi) { lo } else { p + 2 };
            if ports.1.contains(&p) {
                continue;
            }
            let Ok(rtp) = UdpSocket::bind(SocketAddr::new(cfg.rtp_ip, p)) else { continue };
            let Ok(rtcp) = UdpSocket::bind(SocketAddr::new(cfg.rtp_ip, p + 1)) else { continue };
            rtp.set_nonblocking(true)?;
            rtcp.set_nonblocking(true)?;
            let local = rtp.local_addr()?;
            ports.1.insert(p);
            drop(ports);
            let id = self.inner.next_id.fetch_add(1, Ordering::Relaxed);
            lock(&self.inner.streams).insert(id, Entry { port: p, sockets: Some((rtp, rtcp)), stats: Arc::new(StatsCell::default()), parked: false });
            return Ok(StreamPort { id, local });
        }
        Err(io::Error::new(io::ErrorKind::AddrInUse, format!("no free RTP port pair in {lo}..={hi}")))
    }

    fn sender(&self, id: u64) -> &CmdLink {
        &self.inner.cmd[(id % self.inner.cmd.len() as u64) as usize]
    }

    /// Opens the stream's B-channel and starts the media.
    pub fn start(&self, id: u64, spec: StreamSpec) -> Result<(), PumpError> {
        let (sockets, stats) = {
            let mut streams = lock(&self.inner.streams);
            let e = streams.get_mut(&id).ok_or(PumpError::UnknownStream(id))?;
            (e.sockets.take().ok_or(PumpError::AlreadyStarted(id))?, e.stats.clone())
        };
        let chan = match self.open_channel(&spec) {
            Ok(c) => c,
            Err(source) => {
                if let Some(e) = lock(&self.inner.streams).get_mut(&id) {
                    e.sockets = Some(sockets);
                }
                return Err(PumpError::Channel { id, channo: spec.channo, source });
            }
        };
        let (rtp, rtcp) = sockets;
        self.sender(id).send(Command::Start { id, spec, chan, rtp, rtcp, stats })
    }

    /// As [`start`](PumpHandle::start), on a channel the caller already
    /// has open (an analog line's signalling shell keeps its file open for
    /// the whole call, since DAHDI opens a channel only once and closing it
    /// hangs the line up: it hands the pump a duplicate of its descriptor,
    /// [`Channel::try_clone`]). The channel must be non-blocking; the pump
    /// sets its law, block size, buffers and echo canceller as for `start`.
    pub fn start_on(&self, id: u64, spec: StreamSpec, chan: Channel) -> Result<(), PumpError> {
        let (sockets, stats) = {
            let mut streams = lock(&self.inner.streams);
            let e = streams.get_mut(&id).ok_or(PumpError::UnknownStream(id))?;
            (e.sockets.take().ok_or(PumpError::AlreadyStarted(id))?, e.stats.clone())
        };
        let chan = match self.setup_channel(chan, &spec) {
            Ok(c) => c,
            Err(source) => {
                if let Some(e) = lock(&self.inner.streams).get_mut(&id) {
                    e.sockets = Some(sockets);
                }
                return Err(PumpError::Channel { id, channo: spec.channo, source });
            }
        };
        let (rtp, rtcp) = sockets;
        self.sender(id).send(Command::Start { id, spec, chan, rtp, rtcp, stats })
    }

    fn open_channel(&self, spec: &StreamSpec) -> tandem_drivers::Result<Channel> {
        let cfg = &self.inner.cfg;
        let chan = Channel::open(&cfg.device_dir, spec.channo, None, OpenOptionsDahdi { nonblocking: true })?;
        self.setup_channel(chan, spec)
    }

    fn setup_channel(&self, chan: Channel, spec: &StreamSpec) -> tandem_drivers::Result<Channel> {
        let cfg = &self.inner.cfg;
        let block = cfg.tdm_block_ms * SAMPLES_PER_MS;
        chan.set_law(spec.tdm_law)?;
        chan.set_blocksize(block)?;
        if cfg.numbufs > 0 {
            chan.set_buffers(Policy::Immediate, Policy::Immediate, cfg.numbufs, block)?;
        }
        if let Some(taps) = spec.echo_taps {
            chan.echo_cancel(taps)?;
        }
        Ok(chan)
    }

    /// Applies a re-INVITE (new remote, codec, direction; hold =
    /// `SendOnly`/`Inactive`).
    pub fn update(&self, id: u64, spec: StreamSpec) -> Result<(), PumpError> {
        {
            let streams = lock(&self.inner.streams);
            let e = streams.get(&id).ok_or(PumpError::UnknownStream(id))?;
            if e.sockets.is_some() {
                return Err(PumpError::NotStarted(id));
            }
        }
        self.sender(id).send(Command::Update { id, spec })
    }

    /// Switches the echo canceller of a started stream's channel: `taps`
    /// samples of tail, or 0 to switch it off (a fax or modem answer tone,
    /// ITU-T V.25's 2100 Hz, wants the path free of cancellers). The pump
    /// thread applies it; a failure is logged, not returned.
    pub fn set_echo(&self, id: u64, taps: u32) -> Result<(), PumpError> {
        {
            let streams = lock(&self.inner.streams);
            let e = streams.get(&id).ok_or(PumpError::UnknownStream(id))?;
            if e.sockets.is_some() {
                return Err(PumpError::NotStarted(id));
            }
        }
        self.sender(id).send(Command::Echo { id, taps })
    }

    /// Plays a DTMF digit on the stream's channel for `duration_ms`, as an
    /// out-of-band digit (SIP INFO) arriving for the TDM side.
    pub fn play_dtmf(&self, id: u64, digit: char, duration_ms: u16) -> Result<(), PumpError> {
        {
            let streams = lock(&self.inner.streams);
            let e = streams.get(&id).ok_or(PumpError::UnknownStream(id))?;
            if e.sockets.is_some() {
                return Err(PumpError::NotStarted(id));
            }
        }
        self.sender(id).send(Command::Digit { id, digit, duration_ms })
    }

    /// Parks a started stream: detaches it from its channel (the pump
    /// closes its descriptor of it) and keeps its sockets, RTP state and
    /// RTCP going (see the module docs). [`update`](PumpHandle::update)
    /// still applies to a parked stream; echo and DTMF commands are ignored
    /// until it is attached again.
    pub fn park(&self, id: u64) -> Result<(), PumpError> {
        {
            let mut streams = lock(&self.inner.streams);
            let e = streams.get_mut(&id).ok_or(PumpError::UnknownStream(id))?;
            if e.sockets.is_some() {
                return Err(PumpError::NotStarted(id));
            }
            if e.parked {
                return Err(PumpError::AlreadyParked(id));
            }
            e.parked = true;
        }
        self.sender(id).send(Command::Park { id })
    }

    /// Attaches a parked stream to the channel of `spec` (opened as by
    /// [`start`](PumpHandle::start); the same channel or another), with
    /// `spec`'s RTP parameters.
    pub fn unpark(&self, id: u64, spec: StreamSpec) -> Result<(), PumpError> {
        self.check_parked(id)?;
        let chan = self.open_channel(&spec).map_err(|source| PumpError::Channel { id, channo: spec.channo, source })?;
        self.attach(id, spec, chan)
    }

    /// As [`unpark`](PumpHandle::unpark), on a channel the caller already
    /// has open (see [`start_on`](PumpHandle::start_on)).
    pub fn unpark_on(&self, id: u64, spec: StreamSpec, chan: Channel) -> Result<(), PumpError> {
        self.check_parked(id)?;
        let chan = self.setup_channel(chan, &spec).map_err(|source| PumpError::Channel { id, channo: spec.channo, source })?;
        self.attach(id, spec, chan)
    }

    /// Whether the stream is started and parked (`None`: no such stream).
    pub fn is_parked(&self, id: u64) -> Option<bool> {
        lock(&self.inner.streams).get(&id).map(|e| e.parked)
    }

    fn check_parked(&self, id: u64) -> Result<(), PumpError> {
        let streams = lock(&self.inner.streams);
        let e = streams.get(&id).ok_or(PumpError::UnknownStream(id))?;
        if e.parked { Ok(()) } else { Err(PumpError::NotParked(id)) }
    }

    fn attach(&self, id: u64, spec: StreamSpec, chan: Channel) -> Result<(), PumpError> {
        {
            let mut streams = lock(&self.inner.streams);
            let e = streams.get_mut(&id).ok_or(PumpError::UnknownStream(id))?;
            if !e.parked {
                return Err(PumpError::NotParked(id));
            }
            e.parked = false;
        }
        self.sender(id).send(Command::Unpark { id, spec, chan })
    }

    /// Stops a started (or parked) stream: the pump closes its channel and sockets and
    /// the port pair becomes free. Returns the stream's figures as last
    /// published (at most one TDM block old), for the CDR.
    pub fn stop(&self, id: u64) -> Result<StreamStats, PumpError> {
        let e = lock(&self.inner.streams).remove(&id).ok_or(PumpError::UnknownStream(id))?;
        lock(&self.inner.ports).1.remove(&e.port);
        if e.sockets.is_none() {
            self.sender(id).send(Command::Stop { id })?;
        }
        Ok(e.stats.load())
    }

    /// Frees an allocated port pair that was never started (a failed call
    /// setup). On a started stream it acts as [`stop`](PumpHandle::stop).
    pub fn release(&self, id: u64) -> Result<(), PumpError> {
        self.stop(id).map(|_| ())
    }

    /// The stream's figures, as last published by the pump thread.
    pub fn stats(&self, id: u64) -> Option<StreamStats> {
        lock(&self.inner.streams).get(&id).map(|e| e.stats.load())
    }

    /// The stream's shared figures, to read without looking it up again.
    pub fn stats_cell(&self, id: u64) -> Option<Arc<StatsCell>> {
        lock(&self.inner.streams).get(&id).map(|e| e.stats.clone())
    }

    /// The pump threads' system calls so far (counts and sampled CPU cost),
    /// summed over the threads: what the benchmark splits the CPU with.
    pub fn io_stats(&self) -> IoStats {
        let mut t = IoStats::default();
        for c in &self.inner.io {
            t.add(&c.load());
        }
        t
    }

    /// Stops every stream and the pump thread(s), and waits for them.
    pub fn shutdown(&self) {
        for link in &self.inner.cmd {
            let _ = link.send(Command::Shutdown);
        }
        let threads = std::mem::take(&mut *lock(&self.inner.threads));
        for t in threads {
            let _ = t.join();
        }
        lock(&self.inner.streams).clear();
        lock(&self.inner.ports).1.clear();
    }
}
