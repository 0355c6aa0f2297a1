//! The I/O shell of CAS trunks: one thread per channel that owns its DAHDI
//! channel (raw CAS, `DAHDI_SIG_CAS`), moves the ABCD bits, and does the
//! tone work of address signalling for [`super::cas::CasInterface`], which
//! the daemon keeps in its call-control task.
//!
//! * [`resolve`] turns a `[[cas]]` section into [`CasSettings`]: the span's
//!   framing (T1 ESF or D4, E1) and the channel numbers, from discovery;
//!   every channel must be configured as raw CAS.
//! * [`spawn_channel`] opens the channel (non-blocking, 20 ms blocks, the
//!   span's law) and starts its thread, which:
//!   - reports received bits as [`CasLineInput::Bits`]: on
//!     `DAHDI_EVENT_BITSCHANGED` it reads `DAHDI_GETRXBITS`, and while the
//!     media pump has the channel (the pump reads its events during a call)
//!     it polls `GETRXBITS` every 10 ms;
//!   - transmits the core's bits with `DAHDI_SETTXBITS`;
//!   - sends digits with spandsp's Bell MF or DTMF generator and receives
//!     them with its Bell MF or DTMF receiver, while the core asks for it
//!     (E&M); plays R2 MF signals and runs both R2 receivers, reporting the
//!     tone start and stop of each signal set (MFC/R2);
//!   - keeps `TX_LEAD` blocks (60 ms) queued ahead of the line and writes
//!     one block for every block it reads, so its tones go out at line rate
//!     with no gap when the thread runs late (silence when it has nothing
//!     to send); a change of tone flushes the queue and queues the new one,
//!     so the lead delays nothing;
//!   - bridges dropouts of up to about 30 ms in a received R2 MF signal
//!     (`R2_RELEASE`): a signal ends only after 50 ms of absence;
//!   - plays a refused E&M call's busy tone, reorder or SIT and reorder
//!     ([`CasCommand::PlayRefusal`], the tones of the interface's resolved
//!     tone zone, `[tones]` overrides included), with the channel
//!     unanswered.
//!
//! # Sharing the channel with the media pump
//!
//! As for analog ports ([`super::analog_io`]): the channel stays open in its
//! shell for the trunk's whole life; once address signalling is over the
//! daemon borrows a duplicate descriptor ([`super::shell_link::ShellLink::lend`]) for the pump,
//! and the shell stops reading audio (it keeps polling the bits) until
//! [`super::shell_link::ShellLink::resume`].
//!
//! An outgoing E&M call is media-ready as soon as its address is out (early
//! media), so the far switch's ringback, busy, reorder or SIT reach the SIP
//! caller through the pump; the daemon starts E&M streams with the pump's
//! tap ([`CasShell::tap`]) and [`super::analog_tap`] runs the call-progress
//! and SIT detectors over the tapped audio. A refusal tone is played by the
//! shell: the refused call's media has stopped, so the shell has the
//! channel back.
//!
//! One thread per channel keeps each channel's tone timing independent.
//! An idle channel costs nothing: after `IDLE_AFTER` with nothing to
//! send, detect or play, its shell stops reading and writing audio and
//! sleeps in `shell_link::Idleness` until a command or a channel
//! event (the bit change of a seizure), reading the bits once a second as a
//! safety net. Woken, it flushes the stale received audio and rebuilds its
//! transmit lead. Over the simulator, 48 idle E&M channels took 44 % of a
//! core when every shell read its channel every 4 ms, and 0.7 % asleep.

use std::path::Path;
use std::time::{Duration, Instant};

use crossbeam_channel::RecvTimeoutError;
use tandem_drivers::{Channel, Discovery, Io, LineEvent, OpenOptionsDahdi, Policy, Signalling};
use tandem_dsp::mf::R1Signal;
use tandem_dsp::{DigitEvent, g711};
use tandem_signalling::cas::{Abcd, DigitKind, Framing};
use tandem_spandsp::{BellMfRx, BellMfTx, DtmfRx, DtmfRxConfig, DtmfTx, DtmfTxConfig, R2Direction, R2MfRx, R2MfTx};
use tokio::sync::mpsc::UnboundedSender;

use super::ChannelAddr;
use super::cas::{CasChannel, CasCommand, CasInput, CasLineInput, CasSettings, Refusal};
use super::shell_link::{Idleness, ShellCmd, ShellLink, ShellQueue, Wake};
use super::zones::{ToneSequence, ToneZone};
use crate::call::model::Law;
use crate::config::cas::CasConfig;

/// Why a CAS interface or channel cannot start.
#[derive(Debug, thiserror::Error)]
pub enum CasIoError {
    #[error("DAHDI: {0}")]
    Dahdi(#[from] tandem_drivers::Error),
    #[error("CAS interface {name}: span {span} does not exist")]
    NoSpan { name: String, span: u32 },
    #[error("CAS interface {name}: span {span} is {kind}, not T1 or E1")]
    NotDigital { name: String, span: u32, kind: String },
    #[error("CAS interface {name}: MFC/R2 needs an E1 span; span {span} is {kind}")]
    R2NotE1 { name: String, span: u32, kind: String },
    #[error("CAS interface {name}: span {span} has no channel {pos}")]
    NoChannel { name: String, span: u32, pos: u32 },
    #[error("CAS interface {name}: span {span} channel {pos} is {sig}, not raw CAS (role = \"cas\" in [dahdi])")]
    NotCas { name: String, span: u32, pos: u32, sig: String },
    #[error("CAS interface {name}: span {span} has no raw CAS channels (role = \"cas\" in [dahdi])")]
    NoChannels { name: String, span: u32 },
    #[error("CAS channel {1}: the shell thread: {0}")]
    Thread(std::io::Error, u32),
}

/// The settings of a `[[cas]]` section on this hardware.
/// `zone` is the section's tone zone as the config resolves it.
pub fn resolve(cfg: &CasConfig, device_dir: &Path, zone: &ToneZone) -> Result<CasSettings, CasIoError> {
    let inv = Discovery::new(device_dir).scan()?;
    let name = cfg.name.get_ref().clone();
    let span = *cfg.span.get_ref();
    let s = inv.spans.iter().find(|s| s.status.span == span).ok_or_else(|| CasIoError::NoSpan { name: name.clone(), span })?;
    let kind = s.status.span_type.to_ascii_uppercase();
    let framing = match kind.as_str() {
        "E1" => Framing::E1,
        "T1" | "J1" if s.status.lineconfig & dahdi_sys::DAHDI_CONFIG_D4 != 0 => Framing::D4,
        "T1" | "J1" => Framing::Esf,
        _ => return Err(CasIoError::NotDigital { name, span, kind }),
    };
    if cfg.is_r2() && framing != Framing::E1 {
        return Err(CasIoError::R2NotE1 { name, span, kind });
    }
    let positions = match cfg.positions() {
        Some(p) => p,
        None => s.channels.iter().filter(|c| c.signalling == Some(Signalling::Cas)).map(|c| c.chanpos).collect(),
    };
    if positions.is_empty() {
        return Err(CasIoError::NoChannels { name, span });
    }
    let mut channels = Vec::new();
    for pos in positions {
        let p = s.channels.iter().find(|c| c.chanpos == pos).ok_or_else(|| CasIoError::NoChannel { name: name.clone(), span, pos })?;
        if p.signalling != Some(Signalling::Cas) {
            let sig = p.signalling.map(|s| s.to_string()).unwrap_or_else(|| "unconfigured".into());
            return Err(CasIoError::NotCas { name, span, pos, sig });
        }
        channels.push(CasChannel { addr: ChannelAddr { span, pos }, channo: p.chan });
    }
    Ok(CasSettings::from_config(cfg, channels, framing, zone.clone()))
}

/// The handle of a running channel shell. Dropping it ends the thread.
pub struct CasShell {
    /// The channel's DAHDI channel number.
    pub channo: u32,
    /// The call's stream is to be tapped for call progress (E&M, not R2).
    pub tap: bool,
    link: ShellLink<CasCommand>,
}

impl std::ops::Deref for CasShell {
    type Target = ShellLink<CasCommand>;

    /// Commands, lending and resuming go through the shell's link.
    fn deref(&self) -> &ShellLink<CasCommand> {
        &self.link
    }
}

/// 20 ms of audio.
const BLOCK: usize = 160;
/// DAHDI buffers per direction: 160 ms of received audio waits for a
/// late thread before any is lost.
const NUM_BUFS: u32 = 8;
/// Blocks kept queued for transmission ahead of the line (60 ms): a thread
/// that runs up to that late leaves no gap in a tone it sends. Every change
/// of tone flushes the queue and writes this many blocks of the new one, so
/// the lead adds no delay to a change.
const TX_LEAD: usize = 3;
/// How often the thread looks at its channel.
const POLL: Duration = Duration::from_millis(4);
/// How often the received bits are polled while the channel is lent.
const BITS_POLL: Duration = Duration::from_millis(10);
/// With nothing to send, detect or play, and no command, bit change or
/// received signal for this long, a channel goes idle: its shell stops
/// reading and writing audio and sleeps until a command or a channel event
/// (an idle trunk then costs no CPU; at 4 ms polls 48 idle channels cost
/// 44 % of a core over the simulator).
const IDLE_AFTER: Duration = Duration::from_secs(2);
/// An idle shell reads the received bits this often anyway; DAHDI reports
/// every change as `DAHDI_EVENT_BITSCHANGED`, so this is only a safety net.
const IDLE_BITS_POLL: Duration = Duration::from_secs(1);

/// Opens channel `hw` and starts its shell thread; `r2` runs the R2 MF
/// receivers; `zone` gives the refusal tones; inputs go to `events`.
pub fn spawn_channel(device_dir: &Path, hw: CasChannel, law: Law, r2: bool, zone: ToneZone, events: UnboundedSender<CasInput>) -> Result<CasShell, CasIoError> {
    let chan = Channel::open(device_dir, hw.channo, None, OpenOptionsDahdi { nonblocking: true })?;
    let dlaw = match law {
        Law::Ulaw => tandem_drivers::channel::Law::Mulaw,
        Law::Alaw => tandem_drivers::channel::Law::Alaw,
    };
    chan.set_law(dlaw)?;
    set_buffers(&chan)?;
    let (link, queue) = ShellLink::new().map_err(|e| CasIoError::Thread(e, hw.channo))?;
    let channo = hw.channo;
    std::thread::Builder::new()
        .name(format!("cas-{channo}"))
        .stack_size(crate::realtime::SIGNALLING_STACK)
        .spawn(move || {
            crate::realtime::enter_signalling("CAS channel");
            let mut s = Shell::new(chan, hw.channo, law, r2, zone, events);
            s.run(queue);
        })
        .map_err(|e| CasIoError::Thread(e, channo))?;
    Ok(CasShell { channo, tap: !r2, link })
}

/// The shell's block size and buffers (also after the pump had the channel).
fn set_buffers(chan: &Channel) -> Result<(), tandem_drivers::Error> {
    chan.set_blocksize(BLOCK as u32)?;
    chan.set_buffers(Policy::Immediate, Policy::Immediate, NUM_BUFS, BLOCK as u32)
}

/// The samples of one decision of spandsp's R2 MF receiver.
const R2_RX_BLOCK: u64 = 133;
/// How long a received R2 MF signal must be absent before it counts as
/// ended: 400 samples (50 ms), so that three failed receiver blocks in a row
/// (a dropout of up to about 30 ms, whatever its alignment) are bridged and a
/// fourth ends the signal. ITU-T Q.442 (§1.4, as summarised in spandsp's
/// r2_mf_rx documentation): the receiver must not release for interruptions
/// of up to 7 ms, and longer ones (typically 20 ms) must be kept from
/// causing a malfunction by further logic; this is that logic. spandsp's
/// receiver decides per block with no hysteresis.
const R2_RELEASE: u64 = 400;

/// One R2 MF receiver with the release bridge: it reports a signal's start
/// at once and its end only after [`R2_RELEASE`] of absence; the same
/// signal back within that time was never gone.
struct R2Receiver {
    rx: R2MfRx,
    current: Option<u8>,
    /// Where the current signal went missing (receiver sample position).
    off_at: Option<u64>,
}

impl R2Receiver {
    fn new(direction: R2Direction) -> Result<R2Receiver, tandem_spandsp::Error> {
        Ok(R2Receiver { rx: R2MfRx::new(direction)?, current: None, off_at: None })
    }

    /// Feeds samples; `out` gets each signal start (`Some`) and end (`None`).
    fn process(&mut self, pcm: &[i16], out: &mut Vec<Option<u8>>) {
        let (current, off_at) = (&mut self.current, &mut self.off_at);
        self.rx.process_with(pcm, |e| match e {
            DigitEvent::DigitDown { digit, .. } => {
                if *current == Some(digit) {
                    *off_at = None;
                    return;
                }
                if current.is_some() {
                    out.push(None);
                }
                *current = Some(digit);
                *off_at = None;
                out.push(Some(digit));
            }
            DigitEvent::DigitUp { digit, at } => {
                if *current == Some(digit) && off_at.is_none() {
                    *off_at = Some(at);
                }
            }
        });
        // Only whole receiver blocks have been decided on.
        let fed = self.rx.position();
        let decided = fed - fed % R2_RX_BLOCK;
        if let Some(t) = self.off_at
            && decided >= t + R2_RELEASE
        {
            self.current = None;
            self.off_at = None;
            out.push(None);
        }
    }
}

struct Shell {
    chan: Channel,
    channo: u32,
    law: g711::Law,
    r2: bool,
    events: UnboundedSender<CasInput>,
    lent: bool,
    rx_bits: Option<u8>,
    mf_rx: Option<BellMfRx>,
    dtmf_rx: Option<DtmfRx>,
    mf_tx: Option<BellMfTx>,
    dtmf_tx: Option<DtmfTx>,
    sending: bool,
    /// The last digits are generated: report them sent after this many more
    /// blocks (the transmit lead still holds them).
    sent_in: Option<usize>,
    r2_rx: Option<(R2Receiver, R2Receiver)>,
    r2_tx: Option<(bool, R2MfTx)>,
    /// An R2 MF signal is being sent.
    r2_sending: bool,
    /// The interface's tone zone (refusal tones).
    zone: ToneZone,
    /// The refusal tone being played.
    tone: Option<ToneSequence>,
    /// Asleep when idle (see [`IDLE_AFTER`]).
    idle: Idleness,
}

impl Shell {
    fn new(chan: Channel, channo: u32, law: Law, r2: bool, zone: ToneZone, events: UnboundedSender<CasInput>) -> Shell {
        let law = match law {
            Law::Ulaw => g711::Law::Mulaw,
            Law::Alaw => g711::Law::Alaw,
        };
        let mut s = Shell {
            chan,
            channo,
            law,
            r2,
            events,
            lent: false,
            rx_bits: None,
            mf_rx: None,
            dtmf_rx: None,
            mf_tx: None,
            dtmf_tx: None,
            sending: false,
            sent_in: None,
            r2_rx: None,
            r2_tx: None,
            r2_sending: false,
            zone,
            tone: None,
            idle: Idleness::new(IDLE_AFTER, channo, "CAS channel"),
        };
        s.reset_r2_rx();
        s
    }

    fn reset_r2_rx(&mut self) {
        self.r2_rx = if self.r2 {
            match (R2Receiver::new(R2Direction::Forward), R2Receiver::new(R2Direction::Backward)) {
                (Ok(f), Ok(b)) => Some((f, b)),
                _ => {
                    tracing::warn!(channo = self.channo, "no R2 MF receivers");
                    None
                }
            }
        } else {
            None
        };
    }

    fn send(&self, input: CasLineInput) {
        let _ = self.events.send(CasInput { channo: self.channo, input });
    }

    fn poll_bits(&mut self, force: bool) {
        match self.chan.rx_bits() {
            Ok(b) => {
                if self.rx_bits != Some(b) {
                    self.idle.touch();
                }
                if force || self.rx_bits != Some(b) {
                    self.rx_bits = Some(b);
                    self.send(CasLineInput::Bits(Abcd::new(b)));
                }
            }
            Err(e) => tracing::debug!(channo = self.channo, error = %e, "GETRXBITS failed"),
        }
    }

    /// Nothing is being sent, detected or played, and nothing happened lately.
    fn can_idle(&self, now: Instant) -> bool {
        let r2_quiet = self.r2_rx.as_ref().is_none_or(|(f, b)| f.current.is_none() && b.current.is_none());
        !self.lent
            && !self.sending
            && self.sent_in.is_none()
            && self.mf_rx.is_none()
            && self.dtmf_rx.is_none()
            && !self.r2_sending
            && self.tone.is_none()
            && r2_quiet
            && self.idle.quiet(now)
    }

    /// Leaves the idle state: the audio queued meanwhile is stale, and the
    /// transmit lead is rebuilt.
    fn wake(&mut self) {
        if self.idle.wake() {
            if let Err(e) = self.chan.flush(true, false, false) {
                tracing::debug!(channo = self.channo, error = %e, "CAS channel flush failed");
            }
            self.reset_r2_rx();
            self.restart_tx();
        }
    }

    fn run(&mut self, queue: ShellQueue<CasCommand>) {
        let mut buf = [0u8; BLOCK];
        let mut next_bits = Instant::now();
        self.idle.watch(&self.chan, queue.bell.clone());
        let rx = queue.rx;
        self.poll_bits(true);
        self.restart_tx();
        loop {
            if self.can_idle(Instant::now()) {
                match self.idle.sleep(IDLE_BITS_POLL) {
                    Wake::LineEvent => self.event(),
                    Wake::Timeout => self.poll_bits(false),
                    Wake::Command => {}
                }
            }
            // Commands first, waiting at most one poll interval for one
            // (not when idle: the doorbell said whether there are any).
            let mut first = !self.idle.asleep();
            loop {
                let c = if first {
                    first = false;
                    match rx.recv_timeout(POLL) {
                        Ok(c) => c,
                        Err(RecvTimeoutError::Timeout) => break,
                        Err(RecvTimeoutError::Disconnected) => return,
                    }
                } else {
                    match rx.try_recv() {
                        Ok(c) => c,
                        Err(crossbeam_channel::TryRecvError::Empty) => break,
                        Err(crossbeam_channel::TryRecvError::Disconnected) => return,
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
                        let _ = reply.send(self.chan.try_clone().map_err(|e| e.to_string()));
                    }
                    ShellCmd::Resume => {
                        self.idle.interrupt();
                        self.lent = false;
                        self.reset_r2_rx();
                        if let Err(e) = set_buffers(&self.chan) {
                            tracing::warn!(channo = self.channo, error = %e, "CAS channel buffers not set");
                        }
                        self.restart_tx();
                    }
                }
            }
            if self.idle.asleep() && !self.can_idle(Instant::now()) {
                // A bit change woke it.
                self.wake();
            }
            if self.idle.asleep() {
                continue;
            }
            if Instant::now() >= next_bits {
                next_bits = Instant::now() + BITS_POLL;
                self.poll_bits(false);
            }
            if self.lent {
                continue;
            }
            for _ in 0..16 {
                match self.chan.read(&mut buf) {
                    Ok(Io::Done(0)) | Ok(Io::WouldBlock) => break,
                    Ok(Io::Done(n)) => self.audio(&buf[..n]),
                    Ok(Io::Event) => self.event(),
                    Err(tandem_drivers::Error::Removed { .. }) => {
                        tracing::warn!(channo = self.channo, "CAS channel removed: its shell ends");
                        return;
                    }
                    Err(e) => {
                        tracing::debug!(channo = self.channo, error = %e, "CAS channel read failed");
                        break;
                    }
                }
            }
        }
    }

    fn event(&mut self) {
        match self.chan.next_event() {
            Ok(Some(LineEvent::BitsChanged)) => self.poll_bits(false),
            Ok(Some(ev)) => tracing::debug!(channo = self.channo, ?ev, "CAS channel event"),
            Ok(None) => {}
            Err(e) => tracing::debug!(channo = self.channo, error = %e, "GETEVENT failed"),
        }
    }

    fn audio(&mut self, block: &[u8]) {
        let n = block.len().min(BLOCK);
        let mut pcm = [0i16; BLOCK];
        self.law.decode_slice(&block[..n], &mut pcm[..n]);
        let pcm = &pcm[..n];
        let mut digits = String::new();
        let mut kind = None;
        if let Some(rx) = self.mf_rx.as_mut() {
            kind = Some(DigitKind::MfR1);
            rx.process_with(pcm, |s| digits.push(r1_char(s)));
        }
        if let Some(rx) = self.dtmf_rx.as_mut() {
            kind = Some(DigitKind::Dtmf);
            rx.process_with(pcm, |e| {
                if let DigitEvent::DigitDown { digit, .. } = e {
                    digits.push(digit);
                }
            });
        }
        if let (Some(kind), false) = (kind, digits.is_empty()) {
            self.idle.touch();
            self.send(CasLineInput::Digits { kind, digits });
        }
        if let Some(k) = self.sent_in {
            if k == 0 {
                self.sent_in = None;
                self.send(CasLineInput::DigitsSent);
            } else {
                self.sent_in = Some(k - 1);
            }
        }
        let mut r2 = Vec::new();
        if let Some((f, b)) = self.r2_rx.as_mut() {
            for (forward, rx) in [(true, f), (false, b)] {
                let mut signals = Vec::new();
                rx.process(pcm, &mut signals);
                r2.extend(signals.into_iter().map(|s| (forward, s)));
            }
        }
        for (forward, signal) in r2 {
            self.idle.touch();
            self.send(CasLineInput::R2Mf { forward, signal });
        }
        self.write_block(n);
    }

    /// Writes one block: the digits or R2 signal being sent, else silence.
    fn write_block(&mut self, n: usize) {
        let mut pcm = [0i16; BLOCK];
        let n = n.min(BLOCK);
        if self.sending {
            let done = match (self.mf_tx.as_mut(), self.dtmf_tx.as_mut()) {
                (Some(t), _) => t.generate(&mut pcm[..n]),
                (None, Some(t)) => t.generate(&mut pcm[..n]),
                (None, None) => 0,
            };
            if done < n {
                self.sending = false;
                self.mf_tx = None;
                self.dtmf_tx = None;
                // Reported now, though the lead still holds the last 60 ms:
                // an outgoing E&M call's early media starts on it, and the
                // sooner the pump has the channel the less of the far
                // switch's first tone the call-progress tap misses.
                self.sent_in = Some(0);
            }
        } else if let Some((_, t)) = self.r2_tx.as_mut() {
            t.generate(&mut pcm[..n]);
        } else if let Some(t) = self.tone.as_mut() {
            t.fill(&mut pcm[..n]);
        }
        let mut out = [0u8; BLOCK];
        self.law.encode_slice(&pcm[..n], &mut out[..n]);
        match self.chan.write(&out[..n]) {
            Ok(Io::Event) => self.event(),
            Ok(_) => {}
            Err(e) => tracing::debug!(channo = self.channo, error = %e, "CAS channel write failed"),
        }
    }

    /// A new tone: drops what is queued for transmission and queues
    /// [`TX_LEAD`] blocks of what is to be sent now.
    fn restart_tx(&mut self) {
        if self.lent {
            return;
        }
        if let Err(e) = self.chan.flush(false, true, false) {
            tracing::debug!(channo = self.channo, error = %e, "CAS channel flush failed");
        }
        for _ in 0..TX_LEAD {
            self.write_block(BLOCK);
        }
    }

    fn execute(&mut self, cmd: CasCommand) {
        let retone = matches!(
            cmd,
            CasCommand::SendDigits { .. } | CasCommand::StopDigits | CasCommand::R2Mf { .. } | CasCommand::PlayRefusal { .. } | CasCommand::StopTone
        );
        self.execute_cmd(cmd);
        if retone {
            self.restart_tx();
        }
    }

    fn execute_cmd(&mut self, cmd: CasCommand) {
        match cmd {
            CasCommand::Bits(b) => {
                if let Err(e) = self.chan.set_tx_bits(b.value()) {
                    tracing::warn!(channo = self.channo, bits = %b, error = %e, "SETTXBITS failed");
                }
            }
            CasCommand::SendDigits { kind, digits } => {
                self.mf_tx = None;
                self.dtmf_tx = None;
                let ok = match kind {
                    DigitKind::MfR1 => {
                        let signals: Vec<R1Signal> = digits.chars().filter_map(r1_signal).collect();
                        match BellMfTx::new().and_then(|mut t| t.put(&signals).map(|()| t)) {
                            Ok(t) => {
                                self.mf_tx = Some(t);
                                true
                            }
                            Err(e) => {
                                tracing::warn!(channo = self.channo, error = %e, "MF digits not sent");
                                false
                            }
                        }
                    }
                    DigitKind::Dtmf => match DtmfTx::new(&DtmfTxConfig::default()).and_then(|mut t| t.put(&digits).map(|()| t)) {
                        Ok(t) => {
                            self.dtmf_tx = Some(t);
                            true
                        }
                        Err(e) => {
                            tracing::warn!(channo = self.channo, error = %e, "DTMF digits not sent");
                            false
                        }
                    },
                };
                self.sending = ok;
                self.sent_in = None;
                if !ok {
                    self.send(CasLineInput::DigitsSent);
                }
            }
            CasCommand::StopDigits => {
                self.sending = false;
                self.sent_in = None;
                self.mf_tx = None;
                self.dtmf_tx = None;
            }
            CasCommand::StartDetect(kind) => {
                self.mf_rx = None;
                self.dtmf_rx = None;
                match kind {
                    DigitKind::MfR1 => self.mf_rx = BellMfRx::new().map_err(|e| tracing::warn!(channo = self.channo, error = %e, "no MF receiver")).ok(),
                    DigitKind::Dtmf => {
                        self.dtmf_rx =
                            DtmfRx::new(&DtmfRxConfig::default()).map_err(|e| tracing::warn!(channo = self.channo, error = %e, "no DTMF receiver")).ok()
                    }
                }
            }
            CasCommand::StopDetect => {
                self.mf_rx = None;
                self.dtmf_rx = None;
            }
            CasCommand::R2Mf { forward, signal } => {
                if self.r2_tx.as_ref().is_none_or(|(f, _)| *f != forward) {
                    let dir = if forward { R2Direction::Forward } else { R2Direction::Backward };
                    self.r2_tx =
                        R2MfTx::new(dir).map(|t| (forward, t)).map_err(|e| tracing::warn!(channo = self.channo, error = %e, "no R2 MF generator")).ok();
                }
                self.r2_sending = signal.is_some();
                if let Some((_, t)) = self.r2_tx.as_mut()
                    && let Err(e) = t.set(signal)
                {
                    tracing::warn!(channo = self.channo, error = %e, "R2 MF signal not played");
                }
            }
            CasCommand::ReportBits => self.poll_bits(true),
            CasCommand::MediaReady(_) => {}
            CasCommand::PlayRefusal { refusal } => {
                let z = &self.zone;
                let tones = match refusal {
                    Refusal::Busy => vec![z.busy.clone()],
                    Refusal::Reorder => vec![z.reorder.clone()],
                    Refusal::Sit(k) => {
                        let mut t = k.tones().to_vec();
                        t.push(z.reorder.clone());
                        t
                    }
                };
                self.tone = Some(ToneSequence::new(&tones));
            }
            CasCommand::StopTone => self.tone = None,
        }
    }
}

/// The MF letter of a Bell MF signal (chan_dahdi's: `*` KP, `#` ST, `A`-`C` ST'-ST''').
fn r1_char(s: R1Signal) -> char {
    match s {
        R1Signal::Digit(d) => char::from(b'0' + d.min(9)),
        R1Signal::Kp => '*',
        R1Signal::St => '#',
        R1Signal::StPrime => 'A',
        R1Signal::St2Prime => 'B',
        R1Signal::St3Prime => 'C',
    }
}

/// The Bell MF signal of an MF letter.
fn r1_signal(c: char) -> Option<R1Signal> {
    Some(match c {
        '0'..='9' => R1Signal::Digit(c as u8 - b'0'),
        '*' => R1Signal::Kp,
        '#' => R1Signal::St,
        'A' => R1Signal::StPrime,
        'B' => R1Signal::St2Prime,
        'C' => R1Signal::St3Prime,
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What a receiver reports for `tone_ms` of signal 5, a `gap_ms`
    /// silence, `tone_ms` more, then silence, fed in 20 ms blocks.
    fn r2_heard_with_gap(gap_ms: usize) -> Vec<Option<u8>> {
        let mut tx = R2MfTx::new(R2Direction::Forward).unwrap();
        tx.set(Some(5)).unwrap();
        let mut pcm = vec![0i16; 8 * (200 + gap_ms + 200 + 300)];
        tx.generate(&mut pcm[..1600]);
        tx.generate(&mut pcm[1600 + gap_ms * 8..3200 + gap_ms * 8]);
        let mut rx = R2Receiver::new(R2Direction::Forward).unwrap();
        let mut out = Vec::new();
        for block in pcm.chunks(BLOCK) {
            rx.process(block, &mut out);
        }
        out
    }

    #[test]
    fn an_r2_signal_with_a_10_to_30_ms_dropout_is_one_signal() {
        for gap in [10, 15, 20, 25, 30] {
            assert_eq!(r2_heard_with_gap(gap), vec![Some(5), None], "a {gap} ms dropout");
        }
    }

    #[test]
    fn an_r2_signal_that_stops_for_longer_than_the_release_time_is_two() {
        assert_eq!(r2_heard_with_gap(120), vec![Some(5), None, Some(5), None]);
    }

    #[test]
    fn an_r2_signal_ends_within_about_70_ms_of_its_tone() {
        let mut tx = R2MfTx::new(R2Direction::Backward).unwrap();
        tx.set(Some(1)).unwrap();
        let mut pcm = vec![0i16; 8 * 600];
        tx.generate(&mut pcm[..8 * 200]);
        let mut rx = R2Receiver::new(R2Direction::Backward).unwrap();
        let mut out = Vec::new();
        let mut ended_at = None;
        for (k, block) in pcm.chunks(BLOCK).enumerate() {
            rx.process(block, &mut out);
            if ended_at.is_none() && out.contains(&None) {
                ended_at = Some((k + 1) * 20);
            }
        }
        assert_eq!(out, vec![Some(1), None]);
        let ended_at = ended_at.unwrap();
        assert!((220..=300).contains(&ended_at), "the end reported {ended_at} ms in (the tone stopped at 200 ms)");
    }

    #[test]
    fn a_different_r2_signal_ends_the_current_one_at_once() {
        let mut tx = R2MfTx::new(R2Direction::Forward).unwrap();
        let mut pcm = vec![0i16; 8 * 700];
        tx.set(Some(5)).unwrap();
        tx.generate(&mut pcm[..1600]);
        tx.set(Some(7)).unwrap();
        tx.generate(&mut pcm[1600 + 80..3200]);
        let mut rx = R2Receiver::new(R2Direction::Forward).unwrap();
        let mut out = Vec::new();
        for block in pcm.chunks(BLOCK) {
            rx.process(block, &mut out);
        }
        assert_eq!(out, vec![Some(5), None, Some(7), None]);
    }

    #[test]
    fn mf_letters_round_trip() {
        for c in "0123456789*#ABC".chars() {
            assert_eq!(r1_signal(c).map(r1_char), Some(c));
        }
        assert_eq!(r1_signal('D'), None);
    }
}
