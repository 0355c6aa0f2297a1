//! One call's media, sans-IO: TDM blocks in, RTP/RTCP out, and the
//! reverse, as a pure state machine.
//!
//! The pump thread owns the sockets and the DAHDI channel and feeds this
//! core: [`Stream::tdm_block`] once per TDM block read (it returns the block
//! to write back, so playout runs on the TDM clock), [`Stream::rtp_in`] and
//! [`Stream::rtcp_in`] per datagram, [`Stream::handle_timeout`] when
//! [`Stream::poll_timeout`] is due; it then drains
//! [`Stream::poll_transmit`]. No clock, socket or allocation per packet
//! inside (RTCP, every few seconds, allocates its report).
//!
//! Fax and modem calls: both directions (the block read from the channel
//! and the block about to be written to it) run through an
//! [`AnswerToneDetector`]; on the 2100 Hz answer tone the stream enters
//! data mode (fixed jitter buffer, no PLC, no DTMF detection or muting)
//! and [`Stream::take_echo_off`] tells the shell to switch the channel's
//! echo canceller off.
//!
//! Hold: [`Stream::park`] detaches the stream from its channel and
//! [`Stream::attach`] joins it to a channel again (the same one, or another
//! one: call waiting moves an FXS port between two streams). The RTP
//! session goes on across the pause: same SSRC, the sequence number
//! continuing, the timestamp advanced by the time parked at the sampling
//! rate (RFC 3550 §5.1), the marker bit on the first packet after it
//! (RFC 3551 §4.1, a talkspurt starts), and RTCP all along.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use tandem_dsp::DigitEvent;
use tandem_dsp::dtmf::tone_pair;
use tandem_dsp::g711::Law as DspLaw;
use tandem_dsp::tone::Oscillator;
use tandem_spandsp::{DtmfRx, DtmfRxConfig};

use super::answer_tone::AnswerToneDetector;
use super::dtmf_gate::DtmfGate;
use super::jitter::{JitterBuffer, JitterConfig};
use super::stats::StreamStats;
use super::{DtmfMode, StreamSpec};
use crate::codec::{Codec, SAMPLES_PER_MS, Transcoder, dsp_law};
use crate::wire::rfc4733::{TelephoneEvent, TelephoneEventCode, TelephoneEventRepr};
use crate::wire::rtcp::{CompoundRepr, ReportBlockRepr, RtcpRepr, SenderInfo};
use crate::wire::rtp::{self, RtpPacket, RtpRepr};

/// Largest payload handled: 60 ms of G.711.
pub const MAX_PAYLOAD: usize = 480;
/// Transmit buffer size (RTP header + payload, or an RTCP report).
const TX_BUF: usize = 12 + MAX_PAYLOAD + 64;
/// Transmit queue length.
const TX_SLOTS: usize = 16;
/// RTCP report interval (RFC 3550 §6.2: 5 s minimum), randomised ±50 % (§6.3.1).
pub const RTCP_INTERVAL: Duration = Duration::from_secs(5);
/// RFC 3550 Appendix A.1: a sequence jump beyond this restarts the statistics.
const MAX_DROPOUT: u16 = 3000;
/// RFC 3550 Appendix A.1: a jump back by at most this much is reordering.
const MAX_MISORDER: u16 = 100;
/// Comfort noise, RFC 3389 (static payload type 13, RFC 3551 Table 4).
const PT_CN: u8 = 13;
/// A received event not updated for this long is ended.
const EVENT_TIMEOUT_SAMPLES: u32 = 80 * SAMPLES_PER_MS;
/// Volume of the events we send (−dBm0, RFC 4733 §2.5.2.2).
const SENT_EVENT_VOLUME: u8 = 10;
/// RFC 4733 §2.5.1.4: the end packet is sent three times.
const END_REPEATS: usize = 3;

/// Maps `Instant`s to 64-bit NTP timestamps (RFC 3550 §4) from one
/// reference pair the shell takes from the wall clock.
#[derive(Clone, Copy, Debug)]
pub struct NtpClock {
    /// An instant.
    pub at: Instant,
    /// The NTP time at `at` (seconds since 1900 in the upper 32 bits).
    pub ntp: u64,
}

impl NtpClock {
    /// Reads the wall clock now.
    pub fn now() -> NtpClock {
        // RFC 5905 §6: NTP era 0 starts 2,208,988,800 s before the Unix epoch.
        const UNIX_TO_NTP: u64 = 2_208_988_800;
        let wall = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
        let frac = (u64::from(wall.subsec_nanos()) << 32) / 1_000_000_000;
        NtpClock { at: Instant::now(), ntp: ((wall.as_secs() + UNIX_TO_NTP) << 32) | frac }
    }

    /// The NTP timestamp of `t`.
    pub fn ntp(&self, t: Instant) -> u64 {
        let d = t.saturating_duration_since(self.at);
        let frac = (u128::from(d.subsec_nanos()) << 32) / 1_000_000_000;
        self.ntp.wrapping_add((d.as_secs() << 32) | frac as u64)
    }
}

/// A datagram to send.
#[derive(Debug)]
pub struct Transmit<'a> {
    /// Destination.
    pub dest: SocketAddr,
    /// RTCP (send from the RTCP socket) rather than RTP.
    pub rtcp: bool,
    /// The datagram.
    pub data: &'a [u8],
}

#[derive(Clone, Copy)]
struct TxSlot {
    data: [u8; TX_BUF],
    len: usize,
    rtcp: bool,
}

/// Receive statistics of the remote source (RFC 3550 Appendix A.1, A.3, A.8).
#[derive(Clone, Copy, Debug, Default)]
struct Source {
    ssrc: u32,
    base_seq: u16,
    max_seq: u16,
    cycles: u32,
    received: u64,
    expected_prior: u64,
    received_prior: u64,
    /// Interarrival jitter × 16 in timestamp units (A.8).
    jitter16: u32,
    transit: Option<i32>,
}

impl Source {
    fn new(ssrc: u32, seq: u16) -> Source {
        Source { ssrc, base_seq: seq, max_seq: seq, ..Default::default() }
    }

    fn extended_max(&self) -> u32 {
        self.cycles.wrapping_add(u32::from(self.max_seq))
    }

    fn expected(&self) -> u64 {
        u64::from(self.extended_max().wrapping_sub(u32::from(self.base_seq))) + 1
    }

    fn lost(&self) -> i64 {
        self.expected() as i64 - self.received as i64
    }
}

/// A received RFC 4733 event being played.
#[derive(Clone, Debug)]
struct PlayingEvent {
    ts: u32,
    low: Oscillator,
    high: Oscillator,
    played: u32,
    duration: u32,
    ended: bool,
    idle: u32,
}

/// An in-band digit being sent as RFC 4733 events.
#[derive(Clone, Copy, Debug)]
struct SendingEvent {
    code: TelephoneEventCode,
    ts: u32,
    start: u64,
}

/// One stream's media state.
pub struct Stream {
    spec: StreamSpec,
    dtmf_mode: DtmfMode,
    frame: usize,
    ntp: NtpClock,
    epoch: Instant,
    // Sending.
    ssrc: u32,
    seq: u16,
    ts_base: u32,
    /// TDM samples consumed since the start.
    samples: u64,
    pk: [u8; MAX_PAYLOAD],
    pk_len: usize,
    pk_start: u64,
    marker: bool,
    to_codec: Transcoder,
    tdm_decode: &'static [i16; 256],
    /// spandsp's in-band DTMF receiver (TDM side), when digits go out as RFC 4733.
    detector: Option<DtmfRx>,
    /// The per-block pre-check that mutes DTMF before the receiver has
    /// recognised it (present with the detector).
    gate: Option<DtmfGate>,
    lin: Box<[i16]>,
    /// Answer-tone detectors: what the line sends, and what is played to it.
    ans_tdm: Option<AnswerToneDetector>,
    ans_rtp: Option<AnswerToneDetector>,
    /// Fax or modem: see [`StreamSpec::data_mode`].
    data_mode: bool,
    /// The answer tone was heard and the shell has not switched the echo
    /// canceller off yet.
    echo_off: bool,
    sending_event: Option<SendingEvent>,
    sent_since_report: bool,
    // Receiving.
    /// When the newest audio packet so far was buffered (not yet taken).
    audio_arrival: Option<Instant>,
    latched: Option<SocketAddr>,
    source: Option<Source>,
    candidate: Option<(u32, u16)>,
    jb: JitterBuffer,
    jb_min: u32,
    jb_max: u32,
    to_tdm: Transcoder,
    scratch: [u8; MAX_PAYLOAD],
    playing: Option<PlayingEvent>,
    last_event_ts: Option<u32>,
    tdm_law: DspLaw,
    // RTCP.
    next_rtcp: Instant,
    rng: u64,
    lsr: u32,
    lsr_at: Option<Instant>,
    /// Detached from the TDM side since then ([`Stream::park`]).
    parked_at: Option<Instant>,
    // Output.
    tx: Box<[TxSlot]>,
    tx_head: usize,
    tx_len: usize,
    stats: StreamStats,
}

impl Stream {
    /// A stream starting now. `seed` randomises SSRC, sequence number,
    /// timestamp and RTCP timing (RFC 3550 §5.1, §8).
    pub fn new(spec: StreamSpec, jitter_min_ms: u32, jitter_max_ms: u32, dtmf_mode: DtmfMode, ntp: NtpClock, now: Instant, seed: u64) -> Stream {
        let mut rng = seed | 1;
        let r = xorshift(&mut rng);
        let frame = frame_len(spec.ptime_ms);
        let codec_law = dsp_law(spec.codec.law());
        let jb = JitterBuffer::new(JitterConfig {
            frame: frame as u32,
            min_depth: jitter_min_ms * SAMPLES_PER_MS,
            max_depth: jitter_max_ms * SAMPLES_PER_MS,
            law: codec_law,
        });
        let mut s = Stream {
            frame,
            ntp,
            epoch: now,
            ssrc: r as u32,
            seq: (r >> 32) as u16,
            ts_base: (xorshift(&mut rng) >> 32) as u32,
            samples: 0,
            pk: [0; MAX_PAYLOAD],
            pk_len: 0,
            pk_start: 0,
            marker: true,
            to_codec: Transcoder::new(spec.tdm_law, spec.codec.law()),
            tdm_decode: dsp_law(spec.tdm_law).decode_table(),
            detector: None,
            gate: None,
            lin: vec![0; 1024].into_boxed_slice(),
            ans_tdm: Some(AnswerToneDetector::new()),
            ans_rtp: Some(AnswerToneDetector::new()),
            data_mode: false,
            echo_off: false,
            sending_event: None,
            sent_since_report: false,
            audio_arrival: None,
            latched: None,
            source: None,
            candidate: None,
            jb,
            jb_min: jitter_min_ms * SAMPLES_PER_MS,
            jb_max: jitter_max_ms * SAMPLES_PER_MS,
            to_tdm: Transcoder::new(spec.codec.law(), spec.tdm_law),
            scratch: [0; MAX_PAYLOAD],
            playing: None,
            last_event_ts: None,
            tdm_law: dsp_law(spec.tdm_law),
            next_rtcp: now,
            rng,
            lsr: 0,
            lsr_at: None,
            parked_at: None,
            tx: vec![TxSlot { data: [0; TX_BUF], len: 0, rtcp: false }; TX_SLOTS].into_boxed_slice(),
            tx_head: 0,
            tx_len: 0,
            stats: StreamStats::default(),
            dtmf_mode,
            spec,
        };
        s.next_rtcp = now + s.rtcp_interval() / 2;
        s.detector = s.wants_detector().then(|| s.new_detector()).flatten();
        s.gate = s.detector.is_some().then(DtmfGate::new);
        if s.spec.data_mode {
            s.enter_data_mode(0);
        }
        s
    }

    /// Turns answer-tone detection on or off (it is on from [`Stream::new`]).
    pub fn detect_answer_tone(&mut self, on: bool) {
        if on && !self.data_mode {
            self.ans_tdm.get_or_insert_with(AnswerToneDetector::new);
            self.ans_rtp.get_or_insert_with(AnswerToneDetector::new);
        } else {
            self.ans_tdm = None;
            self.ans_rtp = None;
        }
    }

    /// When the last audio packet that advanced the sequence was buffered,
    /// once: the shell times its writes to the channel by these arrivals.
    pub fn take_audio_arrival(&mut self) -> Option<Instant> {
        self.audio_arrival.take()
    }

    /// Samples buffered in the jitter buffer ahead of its playout point.
    pub fn buffered(&self) -> u32 {
        self.jb.depth()
    }

    /// Whether the next `n` samples to play are in the jitter buffer (no
    /// packet missing at the playout point): the shell's cue for a write.
    pub fn block_ready(&self, n: usize) -> bool {
        self.jb.ready(n as u32)
    }

    /// Samples per RTP packet (the ptime in force).
    pub fn frame_samples(&self) -> usize {
        self.frame
    }

    /// Whether the stream is in data mode (fax or modem).
    pub fn data_mode(&self) -> bool {
        self.data_mode
    }

    /// `true` once after the answer tone was heard: the shell then
    /// switches the channel's echo canceller off.
    pub fn take_echo_off(&mut self) -> bool {
        std::mem::take(&mut self.echo_off)
    }

    /// Data mode: fixed jitter buffer without PLC, DTMF left in the audio.
    /// `from`: 0 asked for, 1 answer tone from the TDM side, 2 from RTP.
    fn enter_data_mode(&mut self, from: u8) {
        if !self.data_mode {
            tracing::debug!(channo = self.spec.channo, from, "media stream: data mode (fax/modem)");
        }
        self.data_mode = true;
        self.jb.set_fixed();
        self.detector = None;
        self.gate = None;
        self.sending_event = None;
        self.ans_tdm = None;
        self.ans_rtp = None;
        self.stats.data_mode = true;
        if from != 0 {
            self.stats.answer_tone_from = from;
            self.echo_off = true;
        }
    }

    /// Our SSRC.
    pub fn ssrc(&self) -> u32 {
        self.ssrc
    }

    /// The spec in force.
    pub fn spec(&self) -> &StreamSpec {
        &self.spec
    }

    /// The RTP timestamp of the next TDM sample.
    pub fn rtp_timestamp(&self) -> u32 {
        self.ts_base.wrapping_add(self.samples as u32)
    }

    /// The RTP timestamp of `now`: the next TDM sample's, plus the time
    /// parked (RFC 3550 §6.4.1: an SR's RTP timestamp is its NTP time's).
    fn rtp_timestamp_at(&self, now: Instant) -> u32 {
        self.rtp_timestamp().wrapping_add(self.parked_at.map_or(0, |at| samples_between(at, now) as u32))
    }

    /// The sequence number of the next packet sent.
    pub fn next_sequence(&self) -> u16 {
        self.seq
    }

    /// A DTMF receiver whose positions count from the next TDM sample.
    /// (spandsp only fails to allocate one when out of memory; the stream then carries no in-band digits.)
    fn new_detector(&self) -> Option<DtmfRx> {
        DtmfRx::new(&DtmfRxConfig::default()).ok().map(|d| d.starting_at(self.samples))
    }

    fn wants_detector(&self) -> bool {
        self.dtmf_mode == DtmfMode::Rfc4733 && self.spec.dtmf_payload_type.is_some() && !self.data_mode
    }

    fn rtcp_interval(&mut self) -> Duration {
        // Uniform in [0.5, 1.5] × the interval.
        let u = (xorshift(&mut self.rng) >> 11) as f64 / (1u64 << 53) as f64;
        RTCP_INTERVAL.mul_f64(0.5 + u)
    }

    /// Applies a re-INVITE: new remote, codec, payload types or direction.
    /// SSRC, sequence numbers and timestamps continue. The channel number
    /// and TDM law cannot change.
    pub fn update(&mut self, spec: StreamSpec) {
        let spec = StreamSpec { tdm_law: self.spec.tdm_law, channo: self.spec.channo, ..spec };
        let old = std::mem::replace(&mut self.spec, spec);
        if spec.remote != old.remote || spec.symmetric != old.symmetric {
            self.latched = None;
        }
        if spec.codec != old.codec || spec.ptime_ms != old.ptime_ms {
            self.frame = frame_len(spec.ptime_ms);
            self.to_codec = Transcoder::new(old.tdm_law, spec.codec.law());
            self.to_tdm = Transcoder::new(spec.codec.law(), old.tdm_law);
            self.jb =
                JitterBuffer::new(JitterConfig { frame: self.frame as u32, min_depth: self.jb_min, max_depth: self.jb_max, law: dsp_law(spec.codec.law()) });
            if self.data_mode {
                self.jb.set_fixed();
            }
            self.pk_len = 0;
        }
        if spec.direction.receives() && !old.direction.receives() {
            self.jb.reset();
        }
        if spec.direction.sends() && !old.direction.sends() {
            self.marker = true;
        }
        if spec.data_mode {
            self.enter_data_mode(0);
        }
        if self.wants_detector() {
            if self.detector.is_none() {
                self.detector = self.new_detector();
                self.gate = self.detector.is_some().then(DtmfGate::new);
            }
        } else {
            self.detector = None;
            self.gate = None;
            self.sending_event = None;
        }
    }

    /// Where RTP goes: the latched source (symmetric RTP) or the SDP remote.
    pub fn destination(&self) -> Option<SocketAddr> {
        self.latched.or(self.spec.remote)
    }

    fn rtcp_destination(&self) -> Option<SocketAddr> {
        self.destination().map(|mut a| {
            a.set_port(a.port().wrapping_add(1));
            a
        })
    }

    // ---- output queue ---------------------------------------------------

    fn tx_slot(&mut self) -> Option<&mut TxSlot> {
        if self.tx_len == TX_SLOTS {
            return None;
        }
        let i = (self.tx_head + self.tx_len) % TX_SLOTS;
        self.tx_len += 1;
        Some(&mut self.tx[i])
    }

    /// The next datagram to send, if any.
    pub fn poll_transmit(&mut self) -> Option<Transmit<'_>> {
        while self.tx_len > 0 {
            let i = self.tx_head;
            self.tx_head = (self.tx_head + 1) % TX_SLOTS;
            self.tx_len -= 1;
            let rtcp = self.tx[i].rtcp;
            let dest = if rtcp { self.rtcp_destination() } else { self.destination() };
            if let Some(dest) = dest {
                let slot = &self.tx[i];
                return Some(Transmit { dest, rtcp, data: &slot.data[..slot.len] });
            }
        }
        None
    }

    fn send_rtp(&mut self, pt: u8, marker: bool, ts: u32, payload: &[u8]) {
        if self.destination().is_none() {
            return;
        }
        let seq = self.seq;
        let ssrc = self.ssrc;
        let Some(slot) = self.tx_slot() else { return };
        let mut repr = RtpRepr::new(pt, seq, ts, ssrc, payload.len());
        repr.marker = marker;
        match repr.emit_with_payload(&mut slot.data, payload) {
            Ok(n) => {
                slot.len = n;
                slot.rtcp = false;
            }
            Err(_) => {
                self.tx_len -= 1;
                return;
            }
        }
        self.seq = self.seq.wrapping_add(1);
        self.stats.packets_sent += 1;
        self.stats.octets_sent += payload.len() as u64;
        self.sent_since_report = true;
    }

    // ---- TDM side -------------------------------------------------------

    /// Handles one block read from the channel (TDM law) and fills `out`
    /// (same length) with the block to write back: [`Stream::tdm_in`] then
    /// [`Stream::tdm_out`], for a shell that writes right after each read.
    pub fn tdm_block(&mut self, block: &[u8], out: &mut [u8]) {
        let n = block.len().min(out.len()).min(self.lin.len());
        self.tdm_in(&block[..n]);
        self.tdm_out(&mut out[..n]);
        out[n..].fill(self.tdm_law.silence());
    }

    /// Handles one block read from the channel (TDM law): DTMF and answer
    /// tone detection, packetisation, RFC 4733 events.
    pub fn tdm_in(&mut self, block: &[u8]) {
        self.stats.tdm_blocks += 1;
        let n = block.len().min(self.lin.len());
        if self.detector.is_some() || self.ans_tdm.is_some() {
            for (l, &c) in self.lin[..n].iter_mut().zip(&block[..n]) {
                *l = self.tdm_decode[c as usize];
            }
        }
        if self.ans_tdm.as_mut().is_some_and(|d| d.process(&self.lin[..n])) {
            self.enter_data_mode(1);
        }
        if self.detector.is_some() {
            self.detect(n);
        }
        // What looks like DTMF is muted before it is packetised (in both
        // laws the silence code is what the transcoder maps silence to).
        let mute = self.gate.as_mut().and_then(|g| g.check(&self.lin[..n])).unwrap_or(0..0);
        let codec_silence = dsp_law(self.spec.codec.law()).silence();
        // Packetise.
        let mut i = 0;
        while i < n {
            if self.pk_len == 0 {
                self.pk_start = self.samples + i as u64;
            }
            let take = (self.frame - self.pk_len).min(n - i);
            self.to_codec.copy(&block[i..i + take], &mut self.pk[self.pk_len..self.pk_len + take]);
            let (ma, mb) = (mute.start.max(i), mute.end.min(i + take));
            if ma < mb {
                self.pk[self.pk_len + ma - i..self.pk_len + mb - i].fill(codec_silence);
                self.stats.dtmf_muted_samples += (mb - ma) as u64;
            }
            self.pk_len += take;
            i += take;
            if self.pk_len == self.frame {
                self.pk_len = 0;
                if self.spec.direction.sends() && self.sending_event.is_none() {
                    let ts = self.ts_base.wrapping_add(self.pk_start as u32);
                    let marker = std::mem::take(&mut self.marker);
                    let pk = self.pk;
                    self.send_rtp(self.spec.payload_type, marker, ts, &pk[..self.frame]);
                } else if !self.spec.direction.sends() {
                    self.marker = true;
                }
            }
        }
        self.samples += n as u64;
        if let Some(ev) = self.sending_event {
            let duration = (self.samples - ev.start).min(u64::from(u16::MAX)) as u16;
            self.send_event(ev, duration, false, false);
        }
    }

    /// Fills `out` (TDM law) with the next block to write to the channel:
    /// the jitter buffer's playout and received DTMF, run through the
    /// answer-tone detector. Called once per TDM block, on the TDM clock.
    pub fn tdm_out(&mut self, out: &mut [u8]) {
        let n = out.len().min(self.lin.len());
        self.playout(&mut out[..n]);
        out[n..].fill(self.tdm_law.silence());
        if self.ans_rtp.is_some() {
            for (l, &c) in self.lin[..n].iter_mut().zip(&out[..n]) {
                *l = self.tdm_decode[c as usize];
            }
            if self.ans_rtp.as_mut().is_some_and(|d| d.process(&self.lin[..n])) {
                self.enter_data_mode(2);
            }
        }
    }

    fn detect(&mut self, n: usize) {
        let Some(mut det) = self.detector.take() else { return };
        let mut evs: [Option<DigitEvent>; 4] = [None; 4];
        let mut k = 0;
        det.process_with(&self.lin[..n], |e| {
            if k < evs.len() {
                evs[k] = Some(e);
                k += 1;
            }
        });
        self.detector = Some(det);
        for e in evs.into_iter().flatten() {
            match e {
                DigitEvent::DigitDown { digit, at } => {
                    let Some(code) = TelephoneEventCode::from_dtmf_char(digit) else { continue };
                    if !self.spec.direction.sends() {
                        continue;
                    }
                    let ev = SendingEvent { code, ts: self.ts_base.wrapping_add(at as u32), start: at };
                    self.sending_event = Some(ev);
                    self.stats.dtmf_sent += 1;
                    let duration = (self.samples + n as u64).saturating_sub(at).min(u64::from(u16::MAX)) as u16;
                    self.send_event(ev, duration, false, true);
                }
                DigitEvent::DigitUp { at, .. } => {
                    if let Some(ev) = self.sending_event.take() {
                        let duration = at.saturating_sub(ev.start).min(u64::from(u16::MAX)) as u16;
                        for _ in 0..END_REPEATS {
                            self.send_event(ev, duration, true, false);
                        }
                        self.marker = true;
                    }
                }
            }
        }
    }

    fn send_event(&mut self, ev: SendingEvent, duration: u16, end: bool, marker: bool) {
        let Some(pt) = self.spec.dtmf_payload_type else { return };
        let repr = TelephoneEventRepr { event: ev.code, end, volume: SENT_EVENT_VOLUME, duration };
        let Ok(payload) = repr.to_bytes() else { return };
        self.send_rtp(pt, marker, ev.ts, &payload);
    }

    fn playout(&mut self, out: &mut [u8]) {
        if !self.spec.direction.receives() {
            out.fill(self.tdm_law.silence());
            return;
        }
        for chunk in out.chunks_mut(MAX_PAYLOAD) {
            let n = chunk.len();
            self.jb.pull(&mut self.scratch[..n]);
            self.to_tdm.copy(&self.scratch[..n], chunk);
        }
        if let Some(mut ev) = self.playing.take() {
            let mut i = 0;
            let law = self.tdm_law;
            while i < out.len() {
                let limit = if ev.ended { ev.duration } else { ev.duration.saturating_add(EVENT_TIMEOUT_SAMPLES) };
                if ev.played >= limit {
                    break;
                }
                let s = ev.low.next_sample() + ev.high.next_sample();
                out[i] = law.encode(s.clamp(-32768.0, 32767.0) as i16);
                ev.played += 1;
                i += 1;
            }
            ev.idle += out.len() as u32;
            let limit = if ev.ended { ev.duration } else { ev.duration.saturating_add(EVENT_TIMEOUT_SAMPLES) };
            self.playing = if ev.played >= limit || ev.idle > EVENT_TIMEOUT_SAMPLES * 4 { None } else { Some(ev) };
        }
    }

    // ---- RTP in ---------------------------------------------------------

    fn accept_from(&mut self, from: SocketAddr) -> bool {
        if let Some(l) = self.latched {
            return l == from;
        }
        if self.spec.symmetric {
            self.latched = Some(from);
            return true;
        }
        self.spec.remote == Some(from)
    }

    /// Handles a datagram received on the RTP socket.
    pub fn rtp_in(&mut self, data: &[u8], from: SocketAddr, now: Instant) {
        let Ok(packet) = RtpPacket::new_checked(data) else {
            self.stats.bad += 1;
            return;
        };
        let pt = packet.payload_type();
        let audio = pt == self.spec.payload_type;
        let event = !audio && Some(pt) == self.spec.dtmf_payload_type;
        if !audio && !event {
            if pt != PT_CN {
                self.stats.bad += 1;
            }
            return;
        }
        if !self.accept_from(from) {
            self.stats.foreign += 1;
            return;
        }
        let (ssrc, seq, ts) = (packet.ssrc(), packet.sequence_number(), packet.timestamp());
        match &mut self.source {
            None => self.source = Some(Source::new(ssrc, seq)),
            Some(s) if s.ssrc == ssrc => {}
            Some(_) => {
                // A new source: accept it after two packets in sequence.
                match self.candidate {
                    Some((c, last)) if c == ssrc && seq == last.wrapping_add(1) => {
                        self.candidate = None;
                        self.source = Some(Source::new(ssrc, seq));
                        self.stats.ssrc_changes += 1;
                        self.jb.reset();
                        self.playing = None;
                        self.last_event_ts = None;
                    }
                    _ => {
                        self.candidate = Some((ssrc, seq));
                        return;
                    }
                }
            }
        }
        let Some(src) = self.source.as_mut() else { return };
        // RFC 3550 Appendix A.1, simplified.
        let delta = seq.wrapping_sub(src.max_seq);
        let newest = src.received == 0 || (delta != 0 && delta < MAX_DROPOUT);
        if src.received == 0 {
            src.max_seq = seq;
        } else if delta == 0 {
            // Duplicate: counted by the jitter buffer.
        } else if delta < MAX_DROPOUT {
            if seq < src.max_seq {
                src.cycles = src.cycles.wrapping_add(1 << 16);
            }
            src.max_seq = seq;
        } else if delta > u16::MAX - MAX_MISORDER {
            self.stats.reordered += 1;
        } else {
            // A large jump: the source restarted.
            *src = Source::new(ssrc, seq);
        }
        src.received += 1;
        let payload = packet.payload();
        self.stats.packets_received += 1;
        self.stats.octets_received += payload.len() as u64;
        if audio {
            // RFC 3550 Appendix A.8: interarrival jitter.
            let arrival = (now.saturating_duration_since(self.epoch).as_micros() as u64 * u64::from(SAMPLES_PER_MS) / 1000) as u32;
            let transit = arrival.wrapping_sub(ts) as i32;
            if let Some(prev) = src.transit {
                let d = transit.wrapping_sub(prev).unsigned_abs();
                src.jitter16 = src.jitter16.wrapping_add(d).wrapping_sub((src.jitter16 + 8) >> 4);
            }
            src.transit = Some(transit);
            if self.spec.direction.receives() && self.parked_at.is_none() && payload.len() <= MAX_PAYLOAD {
                self.jb.push(ts, payload);
                if newest {
                    self.audio_arrival = Some(now);
                }
            }
        } else {
            self.event_in(ts, payload);
        }
    }

    fn event_in(&mut self, ts: u32, payload: &[u8]) {
        let Ok(view) = TelephoneEvent::new_checked(payload) else {
            self.stats.bad += 1;
            return;
        };
        let Ok(ev) = TelephoneEventRepr::parse(&view) else {
            self.stats.bad += 1;
            return;
        };
        if !self.spec.direction.receives() || self.parked_at.is_some() {
            return;
        }
        let Some((lo, hi)) = ev.event.dtmf_char().and_then(tone_pair) else { return };
        let duration = u32::from(ev.duration);
        match &mut self.playing {
            Some(p) if p.ts == ts => {
                p.duration = p.duration.max(duration);
                p.ended |= ev.end;
                p.idle = 0;
            }
            _ if self.last_event_ts == Some(ts) => {} // a repeated end packet
            _ => {
                // RFC 4733 §2.5.2.2: volume is the power level in −dBm0.
                let v = f32::from(ev.volume.clamp(3, 36));
                self.playing =
                    Some(PlayingEvent { ts, low: Oscillator::new(lo, -v - 2.0), high: Oscillator::new(hi, -v), played: 0, duration, ended: ev.end, idle: 0 });
                self.last_event_ts = Some(ts);
                self.stats.dtmf_received += 1;
            }
        }
    }

    /// Play a DTMF digit on the TDM side for `duration_ms` (an out-of-band
    /// digit, e.g. from SIP INFO), as a received RFC 4733 event would be
    /// played: −8/−10 dBm0 (high/low group). Replaces a digit still
    /// playing; ignored for characters that are not DTMF digits.
    pub fn play_digit(&mut self, digit: char, duration_ms: u16) {
        let Some((lo, hi)) = tone_pair(digit) else { return };
        let duration = u32::from(duration_ms.clamp(40, 8000)) * 8;
        self.playing = Some(PlayingEvent {
            ts: self.rtp_timestamp(),
            low: Oscillator::new(lo, -10.0),
            high: Oscillator::new(hi, -8.0),
            played: 0,
            duration,
            ended: true,
            idle: 0,
        });
        self.stats.dtmf_received += 1;
    }

    // ---- hold -----------------------------------------------------------

    /// Detaches the stream from its TDM channel at `now` (hold, or the
    /// channel lent to another call). Until [`attach`](Stream::attach) the
    /// shell feeds no TDM block and no RTP is sent (a held party hears
    /// nothing from us: no comfort noise either); received RTP still counts
    /// in the statistics and RTCP reports but is not played; RTCP goes on
    /// (RFC 3264 §5.1: a sendonly or inactive stream still sends RTCP). An
    /// RFC 4733 digit being sent is ended (three end packets); a partly
    /// filled packet is dropped. Parking a parked stream does nothing.
    pub fn park(&mut self, now: Instant) {
        if self.parked_at.is_some() {
            return;
        }
        if let Some(ev) = self.sending_event.take() {
            let duration = (self.samples - ev.start).min(u64::from(u16::MAX)) as u16;
            for _ in 0..END_REPEATS {
                self.send_event(ev, duration, true, false);
            }
        }
        self.parked_at = Some(now);
        self.pk_len = 0;
        self.marker = true;
        self.playing = None;
        self.audio_arrival = None;
    }

    /// Whether the stream is parked.
    pub fn parked(&self) -> bool {
        self.parked_at.is_some()
    }

    /// Attaches a parked stream to a TDM channel again at `now`: the
    /// channel of `spec` (its number and law may differ from before), with
    /// `spec`'s RTP parameters applied as by [`update`](Stream::update).
    /// SSRC and sequence numbers continue; the timestamp jumps by the time
    /// parked at 8 kHz (RFC 3550 §5.1) and the first packet carries the
    /// marker (RFC 3551 §4.1); the jitter buffer starts empty and the
    /// detectors afresh. On a stream that is not parked it is `update`.
    pub fn attach(&mut self, spec: StreamSpec, now: Instant) {
        let Some(at) = self.parked_at.take() else {
            self.update(spec);
            return;
        };
        self.samples += samples_between(at, now);
        if spec.tdm_law != self.spec.tdm_law {
            self.spec.tdm_law = spec.tdm_law;
            self.tdm_law = dsp_law(spec.tdm_law);
            self.tdm_decode = self.tdm_law.decode_table();
            self.to_codec = Transcoder::new(spec.tdm_law, self.spec.codec.law());
            self.to_tdm = Transcoder::new(self.spec.codec.law(), spec.tdm_law);
        }
        self.spec.channo = spec.channo;
        self.update(spec);
        self.jb.reset();
        self.marker = true;
        self.pk_len = 0;
        if self.detector.is_some() {
            // Its positions count from the stream's samples, which jumped.
            self.detector = self.new_detector();
            self.gate = self.detector.is_some().then(DtmfGate::new);
        }
        if self.ans_tdm.is_some() {
            self.ans_tdm = Some(AnswerToneDetector::new());
            self.ans_rtp = Some(AnswerToneDetector::new());
        }
    }

    // ---- RTCP -----------------------------------------------------------

    /// When [`handle_timeout`](Stream::handle_timeout) is next due.
    pub fn poll_timeout(&self) -> Instant {
        self.next_rtcp
    }

    /// Sends an RTCP report when it is due.
    pub fn handle_timeout(&mut self, now: Instant) {
        if now < self.next_rtcp {
            return;
        }
        self.next_rtcp = now + self.rtcp_interval();
        let ntp_now = self.ntp.ntp(now);
        let mut reports = Vec::new();
        if let Some(src) = self.source.as_mut() {
            let expected = src.expected();
            let expected_interval = expected.saturating_sub(src.expected_prior);
            let received_interval = src.received.saturating_sub(src.received_prior);
            src.expected_prior = expected;
            src.received_prior = src.received;
            let lost_interval = expected_interval as i64 - received_interval as i64;
            let fraction = if expected_interval == 0 || lost_interval <= 0 { 0 } else { ((lost_interval << 8) / expected_interval as i64).min(255) as u8 };
            self.stats.fraction_lost = fraction;
            let dlsr = match self.lsr_at {
                Some(at) => (now.saturating_duration_since(at).as_micros() as u64 * 65536 / 1_000_000) as u32,
                None => 0,
            };
            reports.push(ReportBlockRepr {
                ssrc: src.ssrc,
                fraction_lost: fraction,
                cumulative_lost: src.lost().clamp(-0x80_0000, 0x7F_FFFF) as i32,
                extended_highest_seq: src.extended_max(),
                jitter: src.jitter16 >> 4,
                last_sr: self.lsr,
                delay_since_last_sr: dlsr,
            });
        }
        let sender_info = self.sent_since_report.then(|| SenderInfo {
            ntp_timestamp: ntp_now,
            rtp_timestamp: self.rtp_timestamp_at(now),
            packet_count: self.stats.packets_sent as u32,
            octet_count: self.stats.octets_sent as u32,
        });
        self.sent_since_report = false;
        let repr = CompoundRepr::report(self.ssrc, sender_info, reports, b"tandem");
        if self.rtcp_destination().is_none() {
            return;
        }
        let Some(slot) = self.tx_slot() else { return };
        match repr.emit(&mut slot.data) {
            Ok(n) => {
                slot.len = n;
                slot.rtcp = true;
                self.stats.rtcp_sent += 1;
            }
            Err(_) => self.tx_len -= 1,
        }
    }

    /// Handles a datagram received on the RTCP socket.
    pub fn rtcp_in(&mut self, data: &[u8], from: SocketAddr, now: Instant) {
        let remote_ip = self.destination().map(|a| a.ip());
        if remote_ip.is_some_and(|ip| ip != from.ip()) || (remote_ip.is_none() && !self.spec.symmetric) {
            self.stats.foreign += 1;
            return;
        }
        let Ok(compound) = CompoundRepr::parse(data) else {
            self.stats.bad += 1;
            return;
        };
        self.stats.rtcp_received += 1;
        let ntp_now = self.ntp.ntp(now);
        for p in &compound.packets {
            let (blocks, sr) = match p {
                RtcpRepr::SenderReport(sr) => (&sr.reports, Some(sr.sender_info.ntp_timestamp)),
                RtcpRepr::ReceiverReport(rr) => (&rr.reports, None),
                _ => continue,
            };
            if let Some(ntp) = sr {
                self.lsr = (ntp >> 16) as u32;
                self.lsr_at = Some(now);
            }
            for b in blocks.iter().filter(|b| b.ssrc == self.ssrc) {
                self.stats.remote_fraction_lost = b.fraction_lost;
                self.stats.remote_cumulative_lost = i64::from(b.cumulative_lost);
                self.stats.remote_jitter_ms = f64::from(b.jitter) / f64::from(SAMPLES_PER_MS);
                if b.last_sr != 0 {
                    // RFC 3550 §6.4.1: RTT = A − LSR − DLSR, in 1/65536 s.
                    let a = (ntp_now >> 16) as u32;
                    let rtt = a.wrapping_sub(b.last_sr).wrapping_sub(b.delay_since_last_sr) as i32;
                    if rtt >= 0 {
                        self.stats.rtt_ms = Some(f64::from(rtt) * 1000.0 / 65536.0);
                    }
                }
            }
        }
    }

    // ---- figures --------------------------------------------------------

    /// The stream's figures now.
    pub fn stats(&self) -> StreamStats {
        let mut s = self.stats;
        let jb = self.jb.stats();
        s.late = jb.late + jb.duplicates;
        s.plc_frames = jb.concealed_samples / self.frame as u64;
        s.slips = jb.slips;
        s.underruns = jb.underruns;
        s.overruns += jb.overflows;
        s.jitter_buffer_ms = self.jb.depth() / SAMPLES_PER_MS;
        s.jitter_target_ms = self.jb.target() / SAMPLES_PER_MS;
        if let Some(src) = &self.source {
            s.lost = src.lost();
            s.jitter_ms = f64::from(src.jitter16 >> 4) / f64::from(SAMPLES_PER_MS);
        }
        s
    }

    /// Bytes this stream's state takes (struct and its heap buffers; the
    /// in-band DTMF detector included when present).
    pub fn footprint_bytes(&self) -> usize {
        std::mem::size_of::<Stream>()
            + 2 * super::jitter::RING
            + self.lin.len() * 2
            + self.tx.len() * std::mem::size_of::<TxSlot>()
            + self.frame * 2
            + self.detector.as_ref().map_or(0, DtmfRx::heap_bytes)
    }

    /// Counts a tapped block the shell could not hand over (the tap was full).
    pub fn count_tap_drop(&mut self) {
        self.stats.tap_dropped += 1;
    }

    /// Counts a TDM overrun seen by the shell (more than one block waiting).
    pub fn count_overrun(&mut self) {
        self.stats.overruns += 1;
    }

    /// The codec in force.
    pub fn codec(&self) -> Codec {
        self.spec.codec
    }
}

/// Samples per packet for a ptime (10, 20, 30, 40, 60 ms; others → 20).
fn frame_len(ptime_ms: u8) -> usize {
    match ptime_ms {
        10 | 20 | 30 | 40 | 60 => usize::from(ptime_ms) * SAMPLES_PER_MS as usize,
        _ => 20 * SAMPLES_PER_MS as usize,
    }
}

/// Samples at 8 kHz from `from` to `to` (none when `to` is earlier).
fn samples_between(from: Instant, to: Instant) -> u64 {
    (to.saturating_duration_since(from).as_micros() * u128::from(SAMPLES_PER_MS) / 1000) as u64
}

fn xorshift(s: &mut u64) -> u64 {
    // xorshift64* (Vigna): cheap, good enough for SSRCs and jitter.
    *s ^= *s >> 12;
    *s ^= *s << 25;
    *s ^= *s >> 27;
    s.wrapping_mul(0x2545_F491_4F6C_DD1D)
}

/// A seed from the OS-randomised hasher keys and the time.
pub(crate) fn random_seed() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default().as_nanos());
    h.finish()
}

#[allow(dead_code)]
const _: () = assert!(rtp::HEADER_LEN == 12);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::{Direction, Law};

    fn spec(remote: SocketAddr) -> StreamSpec {
        StreamSpec {
            channo: 1,
            tdm_law: Law::Mulaw,
            codec: Codec::Pcmu,
            payload_type: 0,
            ptime_ms: 20,
            dtmf_payload_type: Some(101),
            remote: Some(remote),
            direction: Direction::SendRecv,
            symmetric: false,
            echo_taps: None,
            tap: false,
            data_mode: false,
        }
    }

    fn remote() -> SocketAddr {
        "127.0.0.1:40000".parse().unwrap()
    }

    fn stream(s: StreamSpec) -> (Stream, Instant) {
        let now = Instant::now();
        (Stream::new(s, 20, 200, DtmfMode::Rfc4733, NtpClock { at: now, ntp: 1 << 40 }, now, 42), now)
    }

    fn sent(s: &mut Stream) -> Vec<(bool, Vec<u8>)> {
        let mut v = Vec::new();
        while let Some(t) = s.poll_transmit() {
            v.push((t.rtcp, t.data.to_vec()));
        }
        v
    }

    #[test]
    fn each_block_becomes_one_packet_with_advancing_seq_and_timestamp() {
        let (mut s, _) = stream(spec(remote()));
        let mut out = [0u8; 160];
        let mut prev: Option<(u16, u32)> = None;
        for k in 0..3 {
            s.tdm_block(&[0x55; 160], &mut out);
            let p = sent(&mut s);
            assert_eq!(p.len(), 1);
            let r = RtpRepr::parse_bytes(&p[0].1).unwrap();
            assert_eq!(r.marker, k == 0, "marker on the first packet only");
            if let Some((seq, ts)) = prev {
                assert_eq!(r.sequence_number, seq.wrapping_add(1));
                assert_eq!(r.timestamp, ts.wrapping_add(160));
            }
            prev = Some((r.sequence_number, r.timestamp));
        }
    }

    #[test]
    fn ptime_10_sends_two_packets_per_block_and_30_sends_three_per_two() {
        let mut sp = spec(remote());
        sp.ptime_ms = 10;
        let (mut s, _) = stream(sp);
        let mut out = [0u8; 160];
        s.tdm_block(&[0x55; 160], &mut out);
        assert_eq!(sent(&mut s).len(), 2);
        sp.ptime_ms = 30;
        let (mut s, _) = stream(sp);
        s.tdm_block(&[0x55; 160], &mut out);
        s.tdm_block(&[0x55; 160], &mut out);
        s.tdm_block(&[0x55; 160], &mut out);
        assert_eq!(sent(&mut s).len(), 2);
    }

    #[test]
    fn alaw_channel_is_transcoded_to_pcmu() {
        let mut sp = spec(remote());
        sp.tdm_law = Law::Alaw;
        let (mut s, _) = stream(sp);
        let mut out = [0u8; 160];
        s.tdm_block(&[0xD5; 160], &mut out);
        let p = sent(&mut s);
        let want = tandem_dsp::g711::alaw_to_ulaw(0xD5);
        assert!(p[0].1[12..].iter().all(|&b| b == want), "A-law codes are mapped to µ-law");
        assert!(out.iter().all(|&b| b == 0xD5), "nothing received: A-law silence to the channel");
    }

    #[test]
    fn hold_keeps_timestamps_running_and_marks_the_resumed_talkspurt() {
        let (mut s, _) = stream(spec(remote()));
        let mut out = [0u8; 160];
        s.tdm_block(&[0x55; 160], &mut out);
        let first = RtpRepr::parse_bytes(&sent(&mut s)[0].1).map(|r| (r.sequence_number, r.timestamp)).unwrap();
        let mut held = *s.spec();
        held.direction = Direction::RecvOnly;
        s.update(held);
        for _ in 0..5 {
            s.tdm_block(&[0x55; 160], &mut out);
        }
        assert!(sent(&mut s).is_empty());
        held.direction = Direction::SendRecv;
        s.update(held);
        s.tdm_block(&[0x55; 160], &mut out);
        let p = sent(&mut s);
        let r = RtpRepr::parse_bytes(&p[0].1).unwrap();
        assert_eq!(r.sequence_number, first.0.wrapping_add(1), "sequence continues");
        assert_eq!(r.timestamp, first.1.wrapping_add(6 * 160), "timestamp counts held samples");
        assert!(r.marker);
    }

    #[test]
    fn a_parked_stream_resumes_with_its_ssrc_the_next_sequence_a_timestamp_advanced_by_the_pause_and_the_marker() {
        let (mut s, now) = stream(spec(remote()));
        let mut out = [0u8; 160];
        s.tdm_block(&[0x55; 160], &mut out);
        s.tdm_block(&[0x55; 160], &mut out);
        let p = sent(&mut s);
        let before = RtpRepr::parse_bytes(&p[1].1).unwrap();
        let parked_at = now + Duration::from_millis(40);
        s.park(parked_at);
        assert!(s.parked());
        // 1.5 s later it is attached again, to another channel of the other law.
        let mut again = spec(remote());
        again.channo = 2;
        again.tdm_law = Law::Alaw;
        s.attach(again, parked_at + Duration::from_millis(1500));
        assert!(!s.parked());
        assert_eq!((s.spec().channo, s.spec().tdm_law), (2, Law::Alaw));
        s.tdm_block(&[0xD5; 160], &mut out);
        s.tdm_block(&[0xD5; 160], &mut out);
        let p = sent(&mut s);
        assert_eq!(p.len(), 2);
        let first = RtpRepr::parse_bytes(&p[0].1).unwrap();
        let second = RtpRepr::parse_bytes(&p[1].1).unwrap();
        assert_eq!(first.ssrc, before.ssrc, "same SSRC");
        assert_eq!(first.sequence_number, before.sequence_number.wrapping_add(1), "the sequence continues");
        assert_eq!(first.timestamp, before.timestamp.wrapping_add(160 + 1500 * 8), "the timestamp counts the pause at 8 kHz");
        assert!(first.marker, "a talkspurt starts");
        assert!(!second.marker);
        assert_eq!(second.timestamp, first.timestamp.wrapping_add(160));
        let want = tandem_dsp::g711::alaw_to_ulaw(0xD5);
        assert!(p[0].1[12..].iter().all(|&b| b == want), "the new channel's A-law is transcoded to PCMU");
    }

    #[test]
    fn a_parked_stream_sends_rtcp_but_no_rtp_and_counts_received_rtp_without_playing_it() {
        let (mut s, now) = stream(spec(remote()));
        let mut out = [0u8; 160];
        s.tdm_block(&[0x55; 160], &mut out);
        let p = sent(&mut s);
        let before = RtpRepr::parse_bytes(&p[0].1).unwrap();
        s.park(now);
        for k in 0..5u16 {
            s.rtp_in(&rtp(0, k, u32::from(k) * 160, 7, &[0x11; 160]), remote(), now + Duration::from_millis(20 * u64::from(k)));
        }
        assert_eq!(s.stats().packets_received, 5, "received RTP is counted");
        assert_eq!(s.buffered(), 0, "and not buffered for playout");
        assert_eq!(s.take_audio_arrival(), None);
        let t = s.poll_timeout();
        assert!(t <= now + RTCP_INTERVAL);
        s.handle_timeout(t);
        let p = sent(&mut s);
        assert_eq!(p.len(), 1, "one RTCP report while parked");
        assert!(p[0].0);
        let c = CompoundRepr::parse(&p[0].1).unwrap();
        let RtcpRepr::SenderReport(sr) = &c.packets[0] else { panic!("SR expected (we sent since the last report): {c:?}") };
        assert_eq!(sr.reports[0].extended_highest_seq, 4, "the report covers what came while parked");
        let parked_samples = (t.saturating_duration_since(now).as_micros() * 8 / 1000) as u32;
        assert_eq!(sr.sender_info.rtp_timestamp, before.timestamp.wrapping_add(160 + parked_samples), "the SR's timestamp runs on while parked");
        // The next report has no sender info: nothing was sent since.
        let t2 = s.poll_timeout();
        s.handle_timeout(t2);
        let p = sent(&mut s);
        let c = CompoundRepr::parse(&p[0].1).unwrap();
        assert!(matches!(&c.packets[0], RtcpRepr::ReceiverReport(_)), "{c:?}");
        // Attached again: the jitter buffer starts empty and new packets play.
        s.attach(spec(remote()), t2);
        s.rtp_in(&rtp(0, 5, 800, 7, &[0x22; 160]), remote(), t2);
        s.tdm_block(&[0x55; 160], &mut out);
        assert_eq!(s.stats().packets_received, 6);
        assert!(sent(&mut s).iter().any(|(rtcp, _)| !rtcp), "RTP flows again");
    }

    fn rtp(pt: u8, seq: u16, ts: u32, ssrc: u32, payload: &[u8]) -> Vec<u8> {
        RtpRepr::new(pt, seq, ts, ssrc, payload.len()).to_vec(payload).unwrap()
    }

    #[test]
    fn only_packets_that_advance_the_sequence_time_the_writes_and_the_block_is_ready_once_its_packet_is_in() {
        let (mut s, now) = stream(spec(remote()));
        let ms = Duration::from_millis;
        assert_eq!(s.take_audio_arrival(), None);
        s.rtp_in(&rtp(0, 10, 1600, 7, &[1; 160]), remote(), now);
        assert_eq!(s.take_audio_arrival(), Some(now));
        assert_eq!(s.take_audio_arrival(), None, "taken once");
        // The first block plays packet 10; packet 12 overtakes 11.
        let mut out = [0u8; 160];
        s.tdm_out(&mut out);
        s.rtp_in(&rtp(0, 12, 1920, 7, &[1; 160]), remote(), now + ms(40));
        assert_eq!(s.take_audio_arrival(), Some(now + ms(40)));
        assert!(!s.block_ready(160), "packet 11 is missing at the playout point");
        s.rtp_in(&rtp(0, 11, 1760, 7, &[1; 160]), remote(), now + ms(41));
        assert_eq!(s.take_audio_arrival(), None, "a reordered packet says nothing of the arrival phase");
        assert!(s.block_ready(160));
        assert_eq!(s.buffered(), 320);
    }

    #[test]
    fn foreign_and_garbage_packets_are_counted_and_not_played() {
        let (mut s, now) = stream(spec(remote()));
        let other: SocketAddr = "127.0.0.1:40002".parse().unwrap();
        s.rtp_in(&rtp(0, 1, 0, 7, &[1; 160]), other, now);
        s.rtp_in(&[0x00, 1, 2], remote(), now);
        s.rtp_in(&rtp(96, 1, 0, 7, &[1; 160]), remote(), now);
        let st = s.stats();
        assert_eq!((st.foreign, st.bad, st.packets_received), (1, 2, 0));
    }

    #[test]
    fn symmetric_rtp_latches_on_the_first_source() {
        let mut sp = spec(remote());
        sp.symmetric = true;
        let (mut s, now) = stream(sp);
        let nat: SocketAddr = "127.0.0.1:50000".parse().unwrap();
        s.rtp_in(&rtp(0, 1, 0, 7, &[1; 160]), nat, now);
        s.rtp_in(&rtp(0, 2, 160, 7, &[1; 160]), remote(), now);
        assert_eq!(s.destination(), Some(nat));
        assert_eq!(s.stats().foreign, 1);
    }

    #[test]
    fn a_new_ssrc_is_adopted_after_two_packets_in_sequence() {
        let (mut s, now) = stream(spec(remote()));
        s.rtp_in(&rtp(0, 1, 0, 7, &[1; 160]), remote(), now);
        s.rtp_in(&rtp(0, 500, 9000, 8, &[1; 160]), remote(), now);
        s.rtp_in(&rtp(0, 501, 9160, 8, &[1; 160]), remote(), now);
        assert_eq!(s.stats().ssrc_changes, 1);
    }

    #[test]
    fn telephone_event_plays_a_dtmf_tone_for_its_duration() {
        let (mut s, now) = stream(spec(remote()));
        let ev = |end: bool, dur: u16| {
            TelephoneEventRepr { event: TelephoneEventCode::from_dtmf_char('5').unwrap(), end, volume: 10, duration: dur }.to_bytes().unwrap()
        };
        let mut out = [0u8; 160];
        let mut heard = Vec::new();
        for k in 0..5u16 {
            s.rtp_in(&rtp(101, k, 8000, 7, &ev(k == 4, (k + 1) * 160)), remote(), now);
            s.tdm_block(&[0xFF; 160], &mut out);
            heard.extend(out.iter().map(|&c| tandem_dsp::g711::ulaw_decode(c)));
        }
        for _ in 0..3 {
            s.tdm_block(&[0xFF; 160], &mut out);
            heard.extend(out.iter().map(|&c| tandem_dsp::g711::ulaw_decode(c)));
        }
        assert_eq!(tandem_dsp::dtmf::detect_digits(&heard), "5");
        assert!(out.iter().all(|&c| c == 0xFF), "tone stops after the end");
        assert_eq!(s.stats().dtmf_received, 1);
    }

    #[test]
    fn an_out_of_band_digit_plays_on_tdm_for_its_duration() {
        let (mut s, _) = stream(spec(remote()));
        let mut out = [0u8; 160];
        let mut heard = Vec::new();
        s.play_digit('9', 100);
        s.play_digit('x', 100); // not a digit: ignored, '9' keeps playing
        for _ in 0..8 {
            s.tdm_block(&[0xFF; 160], &mut out);
            heard.extend(out.iter().map(|&c| tandem_dsp::g711::ulaw_decode(c)));
        }
        assert_eq!(tandem_dsp::dtmf::detect_digits(&heard), "9");
        let toned = heard.iter().filter(|&&x| x.unsigned_abs() > 64).count();
        assert!((760..=840).contains(&toned), "about 100 ms of tone: {toned} samples");
        assert_eq!(s.stats().dtmf_received, 1);
    }

    #[test]
    fn inband_digit_is_sent_as_rfc4733_start_updates_and_three_ends() {
        let (mut s, _) = stream(spec(remote()));
        let mut out = [0u8; 160];
        let cfg = tandem_dsp::dtmf::DtmfConfig { on_ms: 120, off_ms: 200, ..Default::default() };
        let lin = tandem_dsp::dtmf::generate("7", &cfg).unwrap();
        let mut events = Vec::new();
        for chunk in lin.chunks(160) {
            let mut b = [0xFFu8; 160];
            for (o, &x) in b.iter_mut().zip(chunk) {
                *o = tandem_dsp::g711::Law::Mulaw.encode(x);
            }
            s.tdm_block(&b, &mut out);
            for (_, p) in sent(&mut s) {
                let r = RtpRepr::parse_bytes(&p).unwrap();
                if r.payload_type == 101 {
                    events.push((r.marker, r.timestamp, TelephoneEventRepr::parse_bytes(&p[12..]).unwrap()));
                }
            }
        }
        assert!(events.len() >= 5, "{events:?}");
        assert!(events[0].0, "marker on the first event packet");
        assert!(events.iter().all(|e| e.1 == events[0].1 && e.2.event.dtmf_char() == Some('7')));
        let ends: Vec<_> = events.iter().filter(|e| e.2.end).collect();
        assert_eq!(ends.len(), 3);
        let d = ends[0].2.duration;
        assert!((800..=1100).contains(&d), "end duration {d} ≈ 120 ms");
        assert_eq!(s.stats().dtmf_sent, 1);
    }

    #[test]
    fn inband_digit_after_rfc4733_is_enabled_mid_call_is_timed_from_the_stream() {
        let (mut s, _) = stream(StreamSpec { dtmf_payload_type: None, ..spec(remote()) });
        let mut out = [0u8; 160];
        for _ in 0..50 {
            s.tdm_block(&[0xFF; 160], &mut out);
        }
        sent(&mut s);
        s.update(spec(remote()));
        let digit_ts = s.rtp_timestamp();
        let cfg = tandem_dsp::dtmf::DtmfConfig { on_ms: 120, off_ms: 200, ..Default::default() };
        let lin = tandem_dsp::dtmf::generate("3", &cfg).unwrap();
        let mut events = Vec::new();
        for chunk in lin.chunks(160) {
            let b: Vec<u8> = chunk.iter().map(|&x| tandem_dsp::g711::Law::Mulaw.encode(x)).collect();
            s.tdm_block(&b, &mut out);
            for (_, p) in sent(&mut s) {
                let r = RtpRepr::parse_bytes(&p).unwrap();
                if r.payload_type == 101 {
                    events.push((r.timestamp, TelephoneEventRepr::parse_bytes(&p[12..]).unwrap()));
                }
            }
        }
        assert!(!events.is_empty());
        let late = events[0].0.wrapping_sub(digit_ts);
        assert!(late <= 2 * 102, "event timestamp {late} samples after the digit's start");
        let end = events.iter().find(|e| e.1.end).expect("an end event");
        assert!((800..=1100).contains(&end.1.duration), "end duration {} ≈ 120 ms", end.1.duration);
    }

    fn ulaw_tone(freq: f32, blocks: usize) -> Vec<[u8; 160]> {
        (0..blocks)
            .map(|k| {
                std::array::from_fn(|i| {
                    let t = (k * 160 + i) as f32 / 8000.0;
                    tandem_dsp::g711::Law::Mulaw.encode((3000.0 * (2.0 * std::f32::consts::PI * freq * t).sin()) as i16)
                })
            })
            .collect()
    }

    #[test]
    fn the_answer_tone_from_the_line_puts_the_stream_in_data_mode_and_asks_for_the_canceller_off_once() {
        let (mut s, _) = stream(spec(remote()));
        let mut out = [0u8; 160];
        for b in ulaw_tone(2100.0, 15) {
            s.tdm_block(&b, &mut out);
        }
        assert!(!s.data_mode(), "300 ms is not enough");
        for b in ulaw_tone(2100.0, 10) {
            s.tdm_block(&b, &mut out);
        }
        assert!(s.data_mode());
        assert!(s.take_echo_off());
        assert!(!s.take_echo_off(), "asked once");
        let st = s.stats();
        assert!(st.data_mode);
        assert_eq!(st.answer_tone_from, 1);
        // DTMF is no longer detected (the modem's signal is not muted).
        let cfg = tandem_dsp::dtmf::DtmfConfig { on_ms: 120, off_ms: 200, ..Default::default() };
        for chunk in tandem_dsp::dtmf::generate("7", &cfg).unwrap().chunks(160) {
            let b: Vec<u8> = chunk.iter().map(|&x| tandem_dsp::g711::Law::Mulaw.encode(x)).collect();
            s.tdm_block(&b, &mut out);
        }
        assert_eq!(s.stats().dtmf_sent, 0);
        assert_eq!(s.stats().dtmf_muted_samples, 0);
        // A re-INVITE without the flag keeps data mode.
        s.update(spec(remote()));
        assert!(s.data_mode());
    }

    #[test]
    fn the_answer_tone_from_rtp_puts_the_stream_in_data_mode() {
        let (mut s, now) = stream(spec(remote()));
        let mut out = [0u8; 160];
        for (k, b) in ulaw_tone(2100.0, 40).iter().enumerate() {
            s.rtp_in(&rtp(0, k as u16, k as u32 * 160, 7, b), remote(), now);
            s.tdm_block(&[0xFF; 160], &mut out);
        }
        assert!(s.data_mode());
        assert_eq!(s.stats().answer_tone_from, 2);
        assert!(s.take_echo_off());
    }

    #[test]
    fn a_1_khz_tone_either_way_leaves_the_stream_in_voice_mode() {
        let (mut s, now) = stream(spec(remote()));
        let mut out = [0u8; 160];
        for (k, b) in ulaw_tone(1000.0, 100).iter().enumerate() {
            s.rtp_in(&rtp(0, k as u16, k as u32 * 160, 7, b), remote(), now);
            s.tdm_block(b, &mut out);
        }
        assert!(!s.data_mode());
        assert!(!s.take_echo_off());
    }

    #[test]
    fn rtcp_report_carries_a_report_block_and_rtt_is_computed_from_lsr_dlsr() {
        let (mut s, now) = stream(spec(remote()));
        let mut out = [0u8; 160];
        for k in 0..10u16 {
            s.rtp_in(&rtp(0, k, u32::from(k) * 160, 7, &[0xFF; 160]), remote(), now);
            s.tdm_block(&[0xFF; 160], &mut out);
        }
        sent(&mut s);
        let t = s.poll_timeout();
        s.handle_timeout(t);
        let p = sent(&mut s);
        assert_eq!(p.len(), 1);
        assert!(p[0].0);
        let c = CompoundRepr::parse(&p[0].1).unwrap();
        let RtcpRepr::SenderReport(sr) = &c.packets[0] else { panic!("SR expected: {c:?}") };
        assert_eq!(sr.reports[0].ssrc, 7);
        assert_eq!(sr.reports[0].extended_highest_seq, 9);
        // The remote answers 100 ms later with LSR = our SR, DLSR = 60 ms.
        let lsr = (sr.sender_info.ntp_timestamp >> 16) as u32;
        let rb = ReportBlockRepr { ssrc: s.ssrc(), fraction_lost: 12, last_sr: lsr, delay_since_last_sr: 65536 * 60 / 1000, ..Default::default() };
        let rr = CompoundRepr::report(7, None, vec![rb], b"peer").to_vec().unwrap();
        let rtcp_from: SocketAddr = "127.0.0.1:40001".parse().unwrap();
        s.rtcp_in(&rr, rtcp_from, t + Duration::from_millis(100));
        let st = s.stats();
        assert_eq!(st.remote_fraction_lost, 12);
        let rtt = st.rtt_ms.unwrap();
        assert!((rtt - 40.0).abs() < 1.0, "rtt {rtt}");
    }
}
