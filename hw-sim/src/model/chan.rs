//! One DAHDI channel: its buffers, event queue and the RBS hook state machine.
//!
//! The behaviour follows dahdi-base.c: the same buffer ring semantics
//! (`outreadbuf`/`inwritebuf`), the same event queue, and the same transmit
//! (`txstate`, `otimer`) and receive (`rxhooksig`, `itimer`) hook machines.
//! Timers count samples and advance one 8-sample chunk per tick, as in the
//! kernel.

use std::collections::VecDeque;

use super::dial::Dialer;
use super::k::*;
use tandem_dsp::g711::Law;

/// Transmit hook state (kernel.h `DAHDI_TXSTATE_*`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TxState {
    OnHook,
    OffHook,
    Start,
    PreWink,
    Wink,
    PreFlash,
    Flash,
    Debounce,
    AfterStart,
    RingOn,
    RingOff,
    Kewl,
    AfterKewl,
    PulseBreak,
    PulseMake,
    PulseAfter,
}

/// What kind of span a channel belongs to, which decides how the hook
/// machine's output reaches the line.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Wiring {
    /// No span: a pseudo channel.
    Pseudo,
    /// An analog port; the card driver turns `txhooksig` into battery, ring
    /// or loop state (span op `hooksig`).
    Analog,
    /// A T1/E1 timeslot; the framer sends ABCD bits (span op `rbsbits`).
    Digital,
}

/// Data-path mode of an open channel.
#[derive(Clone, Copy, Debug, Default)]
pub struct Flags {
    pub audio: bool,
    pub linear: bool,
    /// Software HDLC framing by DAHDI (HDLCRAW/HDLCFCS signalling).
    pub hdlc: bool,
    /// FCS calculated by DAHDI on write (HDLCFCS) or by the hardware (HARDHDLC).
    pub fcs: bool,
    pub sigfreeze: bool,
    pub buffer_events: bool,
}

/// Buffer fill policy (`DAHDI_POLICY_*`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Policy {
    Immediate,
    WhenFull,
    HalfFull,
}

impl Policy {
    pub fn from_raw(v: i32) -> Option<Policy> {
        match v {
            x if x == POLICY_IMMEDIATE => Some(Policy::Immediate),
            x if x == POLICY_WHEN_FULL => Some(Policy::WhenFull),
            x if x == POLICY_HALF_FULL => Some(Policy::HalfFull),
            _ => None,
        }
    }
    pub fn raw(self) -> i32 {
        match self {
            Policy::Immediate => POLICY_IMMEDIATE,
            Policy::WhenFull => POLICY_WHEN_FULL,
            Policy::HalfFull => POLICY_HALF_FULL,
        }
    }
}

/// Timing parameters set through SET_PARAMS, in milliseconds.
#[derive(Clone, Copy, Debug)]
pub struct Timing {
    pub prewinktime: i32,
    pub preflashtime: i32,
    pub winktime: i32,
    pub flashtime: i32,
    pub starttime: i32,
    pub rxwinktime: i32,
    pub rxflashtime: i32,
    pub debouncetime: i32,
    pub pulsemaketime: i32,
    pub pulsebreaktime: i32,
    pub pulseaftertime: i32,
}

impl Timing {
    pub fn defaults(sig: u32) -> Timing {
        Timing {
            prewinktime: DEFAULT_PREWINKTIME,
            preflashtime: DEFAULT_PREFLASHTIME,
            winktime: DEFAULT_WINKTIME,
            flashtime: DEFAULT_FLASHTIME,
            starttime: if sig & (1 << 12) != 0 { DEFAULT_RINGTIME } else { DEFAULT_STARTTIME },
            rxwinktime: DEFAULT_RXWINKTIME,
            rxflashtime: DEFAULT_RXFLASHTIME,
            debouncetime: DEFAULT_DEBOUNCETIME,
            pulsemaketime: DEFAULT_PULSEMAKETIME,
            pulsebreaktime: DEFAULT_PULSEBREAKTIME,
            pulseaftertime: DEFAULT_PULSEAFTERTIME,
        }
    }
}

/// Echo canceller state as configured by the host; [`super::echo::EchoPath`]
/// honours it on ports with line echo.
#[derive(Clone, Debug, Default)]
pub struct EchoCan {
    pub taps: u32,
    pub params: Vec<(String, i32)>,
    pub attached: Option<String>,
    pub fax_mode: bool,
}

/// Conference / monitor state set with SETCONF.
#[derive(Clone, Copy, Debug, Default)]
pub struct Conf {
    pub chan: i32,
    pub confno: i32,
    pub confmode: i32,
}

/// Counters kept per channel, reported through the control socket.
#[derive(Clone, Copy, Debug, Default, serde::Serialize)]
pub struct ChanCounters {
    pub rx_overruns: u64,
    pub tx_underruns: u64,
    pub frames_rx: u64,
    pub frames_tx: u64,
    pub bad_fcs: u64,
    pub events_dropped: u64,
}

/// Where a sound the far end started (`audio.play`) entered the channel's
/// receive path, and which tick completed the block holding its first
/// sample: the reference for measuring what a host adds to the latency
/// beyond its block (packetisation).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RxOnset {
    /// Index of the sound's first sample in its receive block.
    pub sample: usize,
    /// The block size then.
    pub blocksize: usize,
    /// The tick (model ms) whose chunk completed that block, made it
    /// readable; `None` while it fills.
    pub complete_ms: Option<u64>,
    /// The block will never be read whole: flushed, samples lost to an
    /// overrun, or the channel not open.
    pub lost: bool,
}

impl RxOnset {
    fn pending(&self) -> bool {
        self.complete_ms.is_none() && !self.lost
    }
}

/// A DAHDI channel.
pub struct Chan {
    pub channo: u32,
    pub span: Option<usize>,
    pub chanpos: u32,
    pub name: String,
    pub wiring: Wiring,
    pub sigcap: u32,
    pub sig: u32,
    pub deflaw: Law,
    pub law: Law,
    pub idlebits: u32,
    pub timing: Timing,
    pub flags: Flags,
    pub open_fh: Option<u64>,
    pub nonblock: bool,

    // Buffers.
    pub blocksize: usize,
    pub numbufs: usize,
    pub rxpolicy: Policy,
    pub txpolicy: Policy,
    /// Completed receive blocks, oldest first (at most `numbufs`).
    pub rx_ready: VecDeque<Vec<u8>>,
    /// The receive block being filled.
    pub rx_fill: Vec<u8>,
    /// Transmit blocks waiting, oldest first, with the read position in the front one.
    pub tx_queue: VecDeque<Vec<u8>>,
    pub tx_pos: usize,
    pub txdisable: bool,
    pub events: VecDeque<i32>,

    // Hook state machine (dahdi-base.c).
    pub txstate: TxState,
    pub txhooksig: i32,
    pub rxhooksig: i32,
    pub txsig: u32,
    pub rxsig: u32,
    pub otimer: i32,
    pub itimer: i32,
    pub itimerset: i32,
    pub ringdebtimer: i32,
    pub ringtrailer: i32,
    pub pulsetimer: i32,
    pub pulsecount: i32,
    pub gotgs: bool,
    pub kewlonhook: bool,
    pub ringcadence: [i32; MAX_CADENCE],
    pub cadencepos: usize,
    pub firstcadencepos: usize,
    pub zone: Option<i32>,

    pub dialer: Dialer,

    // Line controls.
    pub rxgain: Option<Box<[u8; 256]>>,
    pub txgain: Option<Box<[u8; 256]>>,
    pub echocan: EchoCan,
    pub conf: Conf,
    pub polarity: bool,
    pub vmwi: i32,
    pub vmwi_config: Vec<u8>,
    pub onhooktransfer_ms: i32,
    pub chan_alarms: u32,
    pub hdlc_rate: i32,
    pub counters: ChanCounters,
    /// The receive onset of the sound last started by the far end, if any.
    pub rx_onset: Option<RxOnset>,
    /// Set whenever readiness (readable, writable, event, hook) may have changed.
    pub dirty: bool,
    /// The channel is gone (hot-unplugged); every operation fails with ENODEV.
    pub removed: bool,
}

impl Chan {
    pub fn new(channo: u32, span: Option<usize>, chanpos: u32, name: String, wiring: Wiring, sigcap: u32, law: Law) -> Chan {
        let mut c = Chan {
            channo,
            span,
            chanpos,
            name,
            wiring,
            sigcap,
            sig: SIG_NONE,
            deflaw: law,
            law,
            idlebits: 0,
            timing: Timing::defaults(SIG_NONE),
            flags: Flags::default(),
            open_fh: None,
            nonblock: false,
            blocksize: DEFAULT_BLOCKSIZE,
            numbufs: DEFAULT_NUM_BUFS,
            rxpolicy: Policy::Immediate,
            txpolicy: Policy::Immediate,
            rx_ready: VecDeque::new(),
            rx_fill: Vec::new(),
            tx_queue: VecDeque::new(),
            tx_pos: 0,
            txdisable: false,
            events: VecDeque::new(),
            txstate: TxState::OnHook,
            txhooksig: TXSIG_ONHOOK,
            rxhooksig: RXSIG_INITIAL,
            txsig: 0,
            rxsig: 0,
            otimer: 0,
            itimer: 0,
            itimerset: 0,
            ringdebtimer: 0,
            ringtrailer: 0,
            pulsetimer: 0,
            pulsecount: 0,
            gotgs: false,
            kewlonhook: false,
            ringcadence: [0; MAX_CADENCE],
            cadencepos: 0,
            firstcadencepos: 0,
            zone: None,
            dialer: Dialer::default(),
            rxgain: None,
            txgain: None,
            echocan: EchoCan::default(),
            conf: Conf::default(),
            polarity: false,
            vmwi: 0,
            vmwi_config: Vec::new(),
            onhooktransfer_ms: 0,
            chan_alarms: 0,
            hdlc_rate: 0,
            counters: ChanCounters::default(),
            rx_onset: None,
            dirty: false,
            removed: false,
        };
        c.ringcadence[0] = c.timing.starttime;
        c.ringcadence[1] = RINGOFFTIME;
        c
    }

    pub fn is_open(&self) -> bool {
        self.open_fh.is_some()
    }

    pub fn is_pseudo(&self) -> bool {
        self.wiring == Wiring::Pseudo
    }

    pub fn is_fxs_sig(&self) -> bool {
        self.sig & (1 << 13) != 0
    }

    pub fn is_fxo_sig(&self) -> bool {
        self.sig & (1 << 12) != 0
    }

    pub fn is_clear(&self) -> bool {
        self.sig & SIG_CLEAR != 0 && self.sig != SIG_CAS
    }

    /// Channels whose frames are HDLC rather than a byte stream.
    pub fn is_framed(&self) -> bool {
        self.sig == SIG_HARDHDLC || self.flags.hdlc
    }

    // ---- events -------------------------------------------------------

    /// Queue an event (dahdi-base.c `__qevent`): silently dropped when full.
    pub fn qevent(&mut self, ev: i32) {
        if self.events.len() >= MAX_EVENTS {
            self.counters.events_dropped += 1;
            return;
        }
        self.events.push_back(ev);
        self.dirty = true;
    }

    pub fn event_pending(&self) -> bool {
        !self.events.is_empty()
    }

    // ---- buffers ------------------------------------------------------

    /// (Re)allocate buffers, dropping their contents (`dahdi_reallocbufs`).
    pub fn reallocbufs(&mut self, blocksize: usize, numbufs: usize) {
        self.blocksize = blocksize;
        self.numbufs = numbufs;
        self.flush_rx();
        self.flush_tx();
    }

    pub fn flush_rx(&mut self) {
        if let Some(o) = self.rx_onset.as_mut().filter(|o| o.pending()) {
            o.lost = true;
        }
        self.rx_ready.clear();
        self.rx_fill.clear();
        self.dirty = true;
    }

    pub fn flush_tx(&mut self) {
        self.tx_queue.clear();
        self.tx_pos = 0;
        self.txdisable = self.txpolicy != Policy::Immediate;
        self.dirty = true;
    }

    /// Readable: a completed block waits (`outreadbuf > -1`).
    pub fn readable(&self) -> bool {
        !self.rx_ready.is_empty()
    }

    /// Writable: a free transmit buffer exists (`inwritebuf > -1`).
    pub fn writable(&self) -> bool {
        self.tx_queue.len() < self.numbufs
    }

    pub fn tx_empty(&self) -> bool {
        self.tx_queue.is_empty()
    }

    /// Take the oldest receive block.
    pub fn take_rx_block(&mut self) -> Option<Vec<u8>> {
        let b = self.rx_ready.pop_front();
        if b.is_some() {
            self.dirty = true;
        }
        b
    }

    /// Queue a transmit block written by the host (`dahdi_chan_write`).
    pub fn push_tx_block(&mut self, block: Vec<u8>) {
        self.tx_queue.push_back(block);
        if self.tx_queue.len() >= self.numbufs {
            // All buffers full: start the transmitter for POLICY_WHEN_FULL.
            self.txdisable = false;
        }
        if self.txpolicy == Policy::HalfFull && self.txdisable && self.tx_queue.len() >= self.numbufs / 2 {
            self.txdisable = false;
        }
        self.dirty = true;
    }

    /// Mark the next received sample (the first of the next
    /// [`Chan::put_rx_bytes`]) as the onset of a sound the far end started.
    pub fn mark_rx_onset(&mut self) {
        let lost = !self.is_open() || self.rx_ready.len() >= self.numbufs;
        self.rx_onset = Some(RxOnset { sample: self.rx_fill.len(), blocksize: self.blocksize, complete_ms: None, lost });
    }

    /// Append received samples for the host, completing blocks as they fill
    /// (during tick `now_ms`).
    pub fn put_rx_bytes(&mut self, bytes: &[u8], now_ms: u64) {
        if !self.is_open() {
            return;
        }
        for &b in bytes {
            if self.rx_ready.len() >= self.numbufs {
                // No free buffer: data is lost (inreadbuf == -1).
                self.counters.rx_overruns += 1;
                if self.rx_fill.is_empty() && self.flags.buffer_events {
                    self.qevent(EVENT_READ_OVERRUN);
                }
                if let Some(o) = self.rx_onset.as_mut().filter(|o| o.pending()) {
                    o.lost = true;
                }
                return;
            }
            let b = match &self.rxgain {
                Some(g) => g[b as usize],
                None => b,
            };
            self.rx_fill.push(b);
            if self.rx_fill.len() >= self.blocksize {
                let full = std::mem::replace(&mut self.rx_fill, Vec::with_capacity(self.blocksize));
                self.rx_ready.push_back(full);
                self.dirty = true;
                if let Some(o) = self.rx_onset.as_mut().filter(|o| o.pending()) {
                    o.complete_ms = Some(now_ms);
                }
            }
        }
    }

    /// Deliver one received HDLC frame (already carrying its 2 FCS bytes).
    pub fn put_rx_frame(&mut self, frame: Vec<u8>) {
        if !self.is_open() {
            return;
        }
        if self.rx_ready.len() >= self.numbufs {
            self.counters.rx_overruns += 1;
            self.qevent(EVENT_OVERRUN);
            return;
        }
        self.counters.frames_rx += 1;
        self.rx_ready.push_back(frame);
        self.dirty = true;
    }

    /// Take up to 8 bytes of transmit audio, or `None` when nothing is queued.
    pub fn take_tx_chunk(&mut self, out: &mut [u8; CHUNK]) -> bool {
        if self.txdisable || self.tx_queue.is_empty() {
            if self.is_open() && !self.is_framed() {
                self.counters.tx_underruns += 1;
            }
            return false;
        }
        let mut n = 0;
        while n < CHUNK {
            let Some(front) = self.tx_queue.front() else { break };
            let take = (front.len() - self.tx_pos).min(CHUNK - n);
            out[n..n + take].copy_from_slice(&front[self.tx_pos..self.tx_pos + take]);
            n += take;
            self.tx_pos += take;
            if self.tx_pos >= front.len() {
                self.tx_queue.pop_front();
                self.tx_pos = 0;
                self.dirty = true;
                if self.tx_queue.is_empty() && self.txpolicy != Policy::Immediate {
                    self.txdisable = true;
                }
            }
        }
        if n < CHUNK {
            let s = self.law.silence();
            out[n..].fill(s);
            self.counters.tx_underruns += 1;
        }
        if let Some(g) = &self.txgain {
            for b in out.iter_mut() {
                *b = g[*b as usize];
            }
        }
        true
    }

    /// Take one whole transmit frame (HDLC), dropping its 2 FCS placeholder bytes.
    pub fn take_tx_frame(&mut self) -> Option<Vec<u8>> {
        let mut f = self.tx_queue.pop_front()?;
        self.tx_pos = 0;
        self.dirty = true;
        let keep = f.len().saturating_sub(2);
        f.truncate(keep);
        self.counters.frames_tx += 1;
        Some(f)
    }

    // ---- state reset -------------------------------------------------

    /// Reset for a fresh open (`initialize_channel`).
    pub fn initialize(&mut self, zone_cadence: Option<[i32; MAX_CADENCE]>) {
        self.reallocbufs(DEFAULT_BLOCKSIZE, DEFAULT_NUM_BUFS);
        self.rxpolicy = Policy::Immediate;
        self.txpolicy = Policy::Immediate;
        self.txdisable = false;
        self.dialer = Dialer::default();
        self.cadencepos = 0;
        self.firstcadencepos = 0;
        self.timing = Timing::defaults(self.sig);
        self.itimer = 0;
        self.itimerset = 0;
        self.otimer = 0;
        self.ringdebtimer = 0;
        self.conf = Conf::default();
        self.gotgs = false;
        self.rxgain = None;
        self.txgain = None;
        self.events.clear();
        self.law = self.deflaw;
        self.echocan.taps = 0;
        self.echocan.fax_mode = false;
        self.echocan.params.clear();
        self.flags.linear = false;
        self.flags.buffer_events = false;
        if self.is_pseudo() {
            self.flags.audio = true;
        }
        if self.sig & SIG_CLEAR != 0 || self.sig == SIG_HARDHDLC {
            self.flags.audio = false;
        }
        if self.sig == SIG_CLEAR || self.sig == SIG_HARDHDLC {
            self.flags.hdlc = false;
            self.flags.fcs = false;
        }
        if self.sig == SIG_HDLCRAW {
            self.flags.hdlc = true;
            self.flags.fcs = false;
        }
        if self.sig == SIG_HDLCFCS || self.sig == SIG_HDLCNET || self.sig == SIG_MTP2 {
            self.flags.hdlc = true;
            self.flags.fcs = true;
        }
        match zone_cadence {
            Some(c) => self.ringcadence = c,
            None => {
                self.ringcadence = [0; MAX_CADENCE];
                self.ringcadence[0] = self.timing.starttime;
                self.ringcadence[1] = RINGOFFTIME;
            }
        }
        self.hangup();
    }

    /// Reset on the last close (`close_channel`).
    pub fn close(&mut self) {
        self.open_fh = None;
        self.dialer = Dialer::default();
        self.cadencepos = 0;
        self.hangup();
        self.itimer = 0;
        self.itimerset = 0;
        self.pulsecount = 0;
        self.pulsetimer = 0;
        self.ringdebtimer = 0;
        self.conf = Conf::default();
        self.gotgs = false;
        self.zone = None;
        self.events.clear();
        self.rx_ready.clear();
        self.rx_fill.clear();
        self.tx_queue.clear();
        self.tx_pos = 0;
        self.echocan.taps = 0;
        self.echocan.fax_mode = false;
        self.dirty = true;
    }

    // ---- transmit hook machine -----------------------------------------

    /// `dahdi_rbs_sethook`: enter a tx state with a timeout in ms and set the
    /// line output (hook signal for analog ports, ABCD bits for T1/E1).
    pub fn rbs_sethook(&mut self, txsig: i32, txstate: TxState, timeout_ms: i32) {
        if self.wiring == Wiring::Pseudo {
            return;
        }
        if self.sig == SIG_DACS_RBS {
            return;
        }
        self.txstate = txstate;
        self.otimer = timeout_ms * CHUNK as i32;
        self.dirty = true;
        match self.wiring {
            Wiring::Analog => self.txhooksig = txsig,
            Wiring::Digital => {
                if let Some(bits) = tx_bits(self.sig, txsig) {
                    self.txhooksig = txsig;
                    self.txsig = bits;
                }
            }
            Wiring::Pseudo => {}
        }
    }

    /// `dahdi_hangup`.
    pub fn hangup(&mut self) {
        if self.wiring == Wiring::Pseudo {
            return;
        }
        self.kewlonhook = false;
        if matches!(self.sig, SIG_FXSLS | SIG_FXSKS | SIG_FXSGS) {
            self.ringdebtimer = RING_DEBOUNCE_TIME;
        }
        if self.sig == SIG_CAS {
            self.txsig = self.idlebits;
        } else if self.sig == SIG_FXOKS && self.txstate != TxState::OnHook && !(self.rxhooksig == RXSIG_ONHOOK && self.itimer <= 0) {
            self.rbs_sethook(TXSIG_KEWL, TxState::Kewl, KEWLTIME);
        } else {
            self.rbs_sethook(TXSIG_ONHOOK, TxState::OnHook, 0);
        }
        if self.is_open() {
            self.tx_queue.clear();
            self.tx_pos = 0;
            self.rx_ready.clear();
            self.rx_fill.clear();
            self.txdisable = self.txpolicy != Policy::Immediate;
        }
        self.dirty = true;
    }

    /// Advance the transmit timer by one chunk (`__rbs_otimer_expire` on expiry).
    fn otimer_tick(&mut self, zone_cadence: Option<&[i32; MAX_CADENCE]>) {
        if self.otimer <= 0 {
            return;
        }
        self.otimer -= CHUNK as i32;
        if self.otimer > 0 {
            return;
        }
        self.otimer = 0;
        match self.txstate {
            TxState::RingOff => {
                self.cadencepos += 1;
                if self.cadencepos >= MAX_CADENCE {
                    self.cadencepos = self.firstcadencepos;
                }
                let mut len = self.ringcadence[self.cadencepos];
                if len == 0 {
                    self.cadencepos = self.firstcadencepos;
                    len = self.ringcadence[self.cadencepos];
                }
                self.rbs_sethook(TXSIG_START, TxState::RingOn, len);
                self.qevent(EVENT_RINGERON);
            }
            TxState::RingOn => {
                self.cadencepos += 1;
                if self.cadencepos >= MAX_CADENCE {
                    self.cadencepos = 0;
                }
                let mut len = self.ringcadence[self.cadencepos];
                if len == 0 {
                    self.cadencepos = 0;
                    len = zone_cadence.map(|c| c[0]).unwrap_or(self.ringcadence[0]);
                }
                self.rbs_sethook(TXSIG_OFFHOOK, TxState::RingOff, len);
                self.qevent(EVENT_RINGEROFF);
            }
            TxState::Start => {
                self.rbs_sethook(TXSIG_OFFHOOK, TxState::AfterStart, AFTERSTART_TIME);
            }
            TxState::PreWink => {
                let t = self.timing.winktime;
                self.rbs_sethook(TXSIG_OFFHOOK, TxState::Wink, t);
            }
            TxState::Wink => {
                self.rbs_sethook(TXSIG_ONHOOK, TxState::OnHook, 0);
                if self.nonblock {
                    self.qevent(EVENT_HOOKCOMPLETE);
                }
            }
            TxState::PreFlash => {
                let t = self.timing.flashtime;
                self.rbs_sethook(TXSIG_ONHOOK, TxState::Flash, t);
            }
            TxState::Flash => {
                self.rbs_sethook(TXSIG_OFFHOOK, TxState::OffHook, 0);
                if self.nonblock {
                    self.qevent(EVENT_HOOKCOMPLETE);
                }
            }
            TxState::Debounce => {
                self.rbs_sethook(TXSIG_OFFHOOK, TxState::OffHook, 0);
                if self.rxhooksig == RXSIG_ONHOOK && self.timing.rxflashtime > 2 {
                    self.itimer = self.timing.rxflashtime * CHUNK as i32;
                    self.itimerset = self.itimer;
                }
            }
            TxState::AfterStart => {
                self.rbs_sethook(TXSIG_OFFHOOK, TxState::OffHook, 0);
                if self.nonblock {
                    self.qevent(EVENT_HOOKCOMPLETE);
                }
            }
            TxState::Kewl => {
                self.rbs_sethook(TXSIG_ONHOOK, TxState::AfterKewl, AFTERKEWLTIME);
                if self.nonblock {
                    self.qevent(EVENT_HOOKCOMPLETE);
                }
            }
            TxState::AfterKewl => {
                if self.kewlonhook {
                    self.qevent(EVENT_ONHOOK);
                }
                self.txstate = TxState::OnHook;
                self.gotgs = false;
            }
            TxState::PulseBreak => {
                let t = self.timing.pulsemaketime;
                self.rbs_sethook(TXSIG_OFFHOOK, TxState::PulseMake, t);
            }
            TxState::PulseMake => {
                if self.dialer.pdialcount > 0 {
                    self.dialer.pdialcount -= 1;
                }
                if self.dialer.pdialcount > 0 {
                    let t = self.timing.pulsebreaktime;
                    self.rbs_sethook(TXSIG_ONHOOK, TxState::PulseBreak, t);
                } else {
                    self.txstate = TxState::PulseAfter;
                    self.otimer = self.timing.pulseaftertime * CHUNK as i32;
                }
            }
            TxState::PulseAfter => {
                self.txstate = TxState::OffHook;
                self.do_dial();
            }
            TxState::OnHook | TxState::OffHook => {}
        }
        self.dirty = true;
    }

    /// Continue the dial string (`__do_dtmf`): start the next tone or pulse
    /// digit, or report DIALCOMPLETE when nothing is left.
    pub fn do_dial(&mut self) {
        use super::dial::Step;
        loop {
            match self.dialer.next_step(self.txhooksig == TXSIG_OFFHOOK) {
                Step::Pulse(n) => {
                    self.dialer.pdialcount = n;
                    let t = self.timing.pulsebreaktime;
                    self.rbs_sethook(TXSIG_ONHOOK, TxState::PulseBreak, t);
                    return;
                }
                Step::Tone => return,
                Step::Skip => continue,
                Step::Done => {
                    if self.dialer.dialing {
                        self.dialer.dialing = false;
                        self.qevent(EVENT_DIALCOMPLETE);
                    }
                    return;
                }
            }
        }
    }

    // ---- receive hook machine ----------------------------------------

    /// `__dahdi_hooksig_pvt`: the line reports a new receive hook signal.
    pub fn hooksig(&mut self, rxsig: i32) {
        if self.rxhooksig == rxsig || self.flags.sigfreeze {
            return;
        }
        self.rxhooksig = rxsig;
        self.dirty = true;
        // RINGBEGIN is compiled in by default (dahdi_config.h).
        if self.is_fxs_sig() && rxsig == RXSIG_RING && self.ringdebtimer == 0 {
            self.qevent(EVENT_RINGBEGIN);
        }
        match self.sig {
            SIG_EM | SIG_EM_E1 => match rxsig {
                RXSIG_OFFHOOK => {
                    self.itimer = self.timing.rxwinktime * CHUNK as i32;
                    self.itimerset = self.itimer;
                }
                RXSIG_ONHOOK => {
                    if self.itimer > 0 {
                        self.qevent(EVENT_WINKFLASH);
                    } else {
                        self.qevent(EVENT_ONHOOK);
                        self.gotgs = false;
                    }
                    self.itimer = 0;
                    self.itimerset = 0;
                }
                _ => {}
            },
            SIG_FXSKS | SIG_FXSGS => {
                if self.sig == SIG_FXSKS && self.txstate != TxState::OffHook {
                    return;
                }
                if rxsig == RXSIG_ONHOOK {
                    self.ringdebtimer = RING_DEBOUNCE_TIME;
                    self.ringtrailer = 0;
                    if self.txstate != TxState::Debounce {
                        self.gotgs = false;
                        self.qevent(EVENT_ONHOOK);
                    }
                }
            }
            SIG_FXOGS | SIG_FXOLS | SIG_FXOKS => {
                if self.sig == SIG_FXOGS && rxsig == RXSIG_START && !self.gotgs {
                    self.qevent(EVENT_RINGOFFHOOK);
                    self.gotgs = true;
                }
                match rxsig {
                    RXSIG_OFFHOOK => {
                        if self.txstate == TxState::Start {
                            self.rbs_sethook(TXSIG_OFFHOOK, TxState::AfterStart, AFTERSTART_TIME);
                        }
                        self.kewlonhook = false;
                        if self.itimer > 0 {
                            let plen = self.itimerset - self.itimer;
                            if plen <= MAXPULSETIME {
                                if plen >= MINPULSETIME {
                                    self.pulsecount += 1;
                                    self.pulsetimer = PULSETIMEOUT;
                                    if self.pulsecount == 1 {
                                        self.qevent(EVENT_PULSE_START);
                                    }
                                }
                            } else {
                                self.qevent(EVENT_WINKFLASH);
                            }
                        } else if !self.gotgs {
                            self.qevent(EVENT_RINGOFFHOOK);
                            self.gotgs = true;
                        }
                        self.itimer = 0;
                        self.itimerset = 0;
                    }
                    RXSIG_ONHOOK => {
                        if !matches!(self.txstate, TxState::Debounce | TxState::Kewl | TxState::AfterKewl) {
                            self.itimer = self.timing.rxflashtime * CHUNK as i32;
                            self.itimerset = self.itimer;
                        }
                        if self.txstate == TxState::Kewl {
                            self.kewlonhook = true;
                        }
                    }
                    _ => {}
                }
            }
            _ => {}
        }
    }

    /// `dahdi_rbsbits`: the framer reports new receive ABCD bits.
    pub fn rbsbits(&mut self, cursig: u32) {
        if cursig == self.rxsig || self.flags.sigfreeze {
            return;
        }
        match self.sig {
            SIG_FXOGS if cursig & BBIT == 0 => self.hooksig(RXSIG_START),
            SIG_FXOGS | SIG_EM_E1 | SIG_FXOLS | SIG_FXOKS => self.hooksig(if cursig & ABIT != 0 { RXSIG_OFFHOOK } else { RXSIG_ONHOOK }),
            SIG_EM if (cursig & ABIT) != (self.rxsig & ABIT) => {
                self.hooksig(if cursig & ABIT != 0 { RXSIG_OFFHOOK } else { RXSIG_ONHOOK });
            }
            SIG_FXSKS | SIG_FXSGS | SIG_FXSLS => {
                if cursig & BBIT == 0 {
                    self.hooksig(RXSIG_RING);
                } else if self.sig != SIG_FXSLS && cursig & ABIT != 0 {
                    self.hooksig(RXSIG_ONHOOK);
                } else {
                    self.hooksig(RXSIG_OFFHOOK);
                }
            }
            SIG_CAS => self.qevent(EVENT_BITSCHANGED),
            _ => {}
        }
        self.rxsig = cursig;
        self.dirty = true;
    }

    /// `rbs_itimer_expire`: the receive timer ran out.
    fn itimer_expire(&mut self) {
        match self.sig {
            SIG_FXOLS | SIG_FXOGS | SIG_FXOKS => {
                // On-hook longer than a flash: a real hang-up.
                self.qevent(EVENT_ONHOOK);
                self.gotgs = false;
            }
            // Otherwise off-hook longer than a wink: a real seizure.
            _ => self.qevent(EVENT_RINGOFFHOOK),
        }
    }

    /// Advance all per-channel timers by one chunk (the tail of `_dahdi_receive`).
    pub fn tick_timers(&mut self, zone_cadence: Option<&[i32; MAX_CADENCE]>) {
        if self.wiring == Wiring::Pseudo {
            return;
        }
        self.otimer_tick(zone_cadence);
        if self.itimer > 0 {
            self.itimer -= CHUNK as i32;
            if self.itimer <= 0 {
                self.itimer = 0;
                self.itimer_expire();
            }
        }
        if self.ringdebtimer > 0 {
            self.ringdebtimer -= 1;
        }
        if self.is_fxs_sig() {
            if self.rxhooksig == RXSIG_RING {
                self.ringtrailer = RINGTRAILER;
            } else if self.ringtrailer > 0 {
                self.ringtrailer -= CHUNK as i32;
                if self.ringtrailer <= 0 && self.ringdebtimer == 0 {
                    self.ringtrailer = 0;
                    self.qevent(EVENT_RINGOFFHOOK);
                }
                if self.ringtrailer < 0 {
                    self.ringtrailer = 0;
                }
            }
        }
        if self.pulsetimer > 0 {
            self.pulsetimer -= 1;
            if self.pulsetimer <= 0 && self.pulsecount > 0 {
                let digit = match self.pulsecount {
                    1..=9 => Some(b'0' + self.pulsecount as u8),
                    10 => Some(b'0'),
                    11 => Some(b'*'),
                    12 => Some(b'#'),
                    _ => None,
                };
                if let Some(d) = digit {
                    self.qevent(EVENT_PULSEDIGIT | d as i32);
                }
                self.pulsecount = 0;
            }
        }
    }
}

/// The ABCD bits sent for each transmit hook signal (dahdi-base.c
/// `dahdi_rbs_sethook` table). `None` where DAHDI leaves the bits alone.
pub fn tx_bits(sig: u32, txsig: i32) -> Option<u32> {
    let row: [u32; 4] = match sig {
        SIG_NONE => [BITS_ACD, 0, 0, 0],
        SIG_EM => [0, BITS_ABCD, BITS_ABCD, 0],
        SIG_FXSLS => [BITS_BD, BITS_ABCD, BITS_ABCD, 0],
        SIG_FXSGS => [BITS_BD, BITS_ABCD, BITS_AC, 0],
        SIG_FXSKS => [BITS_BD, BITS_ABCD, BITS_ABCD, 0],
        SIG_FXOLS => [BITS_BD, BITS_BD, 0, 0],
        SIG_FXOGS => [BITS_ABCD, BITS_BD, 0, 0],
        SIG_FXOKS => [BITS_BD, BITS_BD, 0, BITS_ABCD],
        SIG_SF => [BITS_BCD, BITS_ABCD, BITS_ABCD, BITS_BCD],
        SIG_EM_E1 => [DBIT, BITS_ABD, BITS_ABD, DBIT],
        _ => return None,
    };
    usize::try_from(txsig).ok().and_then(|i| row.get(i).copied())
}

/// The receive bits pattern for "idle" (dahdi-base.c `dahdi_q_sig`):
/// returns (mask, idle value), used for `rxisoffhook`.
pub fn idle_rx_pattern(sig: u32, idlebits: u32) -> Option<(u32, u32)> {
    let v: u32 = match sig {
        SIG_NONE => 0,
        SIG_EM => ABIT << 8,
        SIG_FXSLS => BBIT | (BBIT << 8),
        SIG_FXSGS => ABIT | BBIT | ((ABIT | BBIT) << 8),
        SIG_FXSKS => BBIT | ((ABIT | BBIT) << 8),
        SIG_FXOLS => ABIT << 8,
        SIG_FXOGS => BBIT | ((ABIT | BBIT) << 8),
        SIG_FXOKS => ABIT << 8,
        SIG_SF => 0,
        SIG_EM_E1 => DBIT | ((ABIT | DBIT) << 8),
        SIG_CAS => idlebits,
        _ => return None,
    };
    Some((v >> 8, v & 0xff))
}
