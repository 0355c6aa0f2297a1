//! The adaptive jitter buffer and packet-loss concealment (sans-IO).
//!
//! Received G.711 payloads are stored by RTP timestamp in a ring of
//! [`RING`] samples with a presence flag per sample, so any packet size and
//! any packet alignment work, and the TDM side can pull whatever block size
//! it uses. The TDM clock drives [`JitterBuffer::pull`]; arrivals drive
//! [`JitterBuffer::push`]. Nothing here reads a clock.
//!
//! * **Start.** Playout waits ("priming") until `target` samples are
//!   buffered, then plays from the oldest sample.
//! * **Loss.** A missing sample whose successors are buffered is concealed:
//!   the sample one frame earlier, attenuated by 3/4 — each repeated frame
//!   is 2.5 dB quieter than the one before (a simple repeat-and-fade PLC).
//! * **Underrun.** When nothing at all is buffered the timeline is held
//!   (concealment is played without advancing) so a slow remote clock
//!   inserts a frame rather than losing one; after [`REPRIME_FRAMES`] frames
//!   of that, playout primes again. Each underrun raises the target depth.
//! * **Jumps.** A gap far beyond the target (silence suppression, a DTMF
//!   event, a new talkspurt) is skipped rather than concealed; a timestamp
//!   jump beyond the ring resynchronises.
//! * **Drift.** If over a window of [`WINDOW_PULLS`] pulls the buffer never
//!   went below the target (nor a frame) after a pull, one frame is dropped
//!   (a slip), so a fast remote clock cannot grow the delay without bound,
//!   and a frame held by an underrun is given back once the target has
//!   shrunk again. Packets beyond
//!   `max_depth` also slip the playout point forward.
//! * **Adaptation.** The target starts at `min_depth`, grows by one frame
//!   on each underrun or late packet (up to `max_depth`) and shrinks by one
//!   frame after [`CALM_WINDOWS`] windows without either.
//! * **Data mode** ([`JitterBuffer::set_fixed`], for fax and modem calls):
//!   the target stays where it is and missing samples are played as
//!   silence, not concealed (a repeated frame corrupts a modem's signal
//!   more than a gap). Slips still follow the remote clock.

use tandem_dsp::g711::Law as DspLaw;

/// Ring size in samples (1.024 s at 8 kHz). Depths are capped at half.
pub const RING: usize = 8192;
/// Pulls per adaptation window (about one second of 20 ms blocks).
pub const WINDOW_PULLS: u32 = 50;
/// Calm windows before the target shrinks by a frame.
pub const CALM_WINDOWS: u32 = 10;
/// Frames of held (underrun) concealment before playout primes again.
pub const REPRIME_FRAMES: u32 = 3;

/// Jitter-buffer settings, in samples.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct JitterConfig {
    /// Samples per packet (ptime × 8).
    pub frame: u32,
    /// Smallest target depth.
    pub min_depth: u32,
    /// Largest target depth (and the depth beyond which packets slip).
    pub max_depth: u32,
    /// G.711 law of the payload (for concealment).
    pub law: DspLaw,
}

/// Counters of what the buffer did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct JitterStats {
    /// Packets that arrived after their playout time.
    pub late: u64,
    /// Packets whose samples were all already buffered.
    pub duplicates: u64,
    /// Packets too far ahead of the playout point (the buffer slipped).
    pub overflows: u64,
    /// Samples concealed.
    pub concealed_samples: u64,
    /// Frames dropped or inserted to follow the remote clock.
    pub slips: u64,
    /// Pulls that found the buffer empty.
    pub underruns: u64,
    /// Timestamp jumps skipped or resynchronised.
    pub resyncs: u64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    /// Nothing received yet.
    Idle,
    /// Buffering up to the target.
    Priming,
    /// Playing on the TDM clock.
    Playing,
}

/// The jitter buffer of one stream.
pub struct JitterBuffer {
    cfg: JitterConfig,
    codes: Box<[u8]>,
    present: Box<[bool]>,
    state: State,
    next_ts: u32,
    newest_end: u32,
    target: u32,
    silence: u8,
    /// The last `frame` samples played, linear.
    hist: Box<[i16]>,
    hist_pos: usize,
    held_run: u32,
    window_min: i32,
    window_pulls: u32,
    window_trouble: bool,
    calm: u32,
    /// Data mode: no adaptation, no concealment.
    fixed: bool,
    stats: JitterStats,
}

impl JitterBuffer {
    /// An empty buffer.
    pub fn new(cfg: JitterConfig) -> JitterBuffer {
        let mut cfg = cfg;
        cfg.frame = cfg.frame.clamp(8, RING as u32 / 8);
        cfg.max_depth = cfg.max_depth.clamp(cfg.frame, RING as u32 / 2);
        cfg.min_depth = cfg.min_depth.clamp(0, cfg.max_depth);
        JitterBuffer {
            codes: vec![cfg.law.silence(); RING].into_boxed_slice(),
            present: vec![false; RING].into_boxed_slice(),
            state: State::Idle,
            next_ts: 0,
            newest_end: 0,
            target: cfg.min_depth,
            silence: cfg.law.silence(),
            hist: vec![0; cfg.frame as usize].into_boxed_slice(),
            hist_pos: 0,
            held_run: 0,
            window_min: i32::MAX,
            window_pulls: 0,
            window_trouble: false,
            calm: 0,
            fixed: false,
            stats: JitterStats::default(),
            cfg,
        }
    }

    /// What the buffer has done so far.
    pub fn stats(&self) -> JitterStats {
        self.stats
    }

    /// Samples buffered ahead of the playout point (0 when not playing).
    pub fn depth(&self) -> u32 {
        match self.state {
            State::Idle => 0,
            _ => (self.newest_end.wrapping_sub(self.next_ts) as i32).max(0) as u32,
        }
    }

    /// Whether a pull of `n` samples would play buffered samples only, no
    /// concealment: the first and the `n`th from the playout point are in
    /// (payloads are stored whole, so for `n` up to a frame nothing between
    /// them is missing unless two packets are). While priming: whether `n`
    /// samples are buffered at all.
    pub fn ready(&self, n: u32) -> bool {
        let n = n.max(1);
        match self.state {
            State::Idle => false,
            State::Priming => self.depth() >= n,
            _ => self.depth() >= n && self.present[Self::idx(self.next_ts)] && self.present[Self::idx(self.next_ts.wrapping_add(n - 1))],
        }
    }

    /// The current target depth in samples.
    pub fn target(&self) -> u32 {
        self.target
    }

    /// Data mode: keeps the target depth fixed from now on and plays
    /// missing samples as silence instead of concealing them.
    pub fn set_fixed(&mut self) {
        self.fixed = true;
    }

    /// Whether the buffer is in data mode.
    pub fn is_fixed(&self) -> bool {
        self.fixed
    }

    /// Forgets everything buffered (new source, direction change); the
    /// counters and the adapted target stay.
    pub fn reset(&mut self) {
        self.present.fill(false);
        self.state = State::Idle;
        self.held_run = 0;
        self.window_min = i32::MAX;
        self.window_pulls = 0;
    }

    #[inline]
    fn idx(ts: u32) -> usize {
        ts as usize % RING
    }

    fn clear_range(&mut self, from: u32, len: u32) {
        for i in 0..len.min(RING as u32) {
            self.present[Self::idx(from.wrapping_add(i))] = false;
        }
    }

    /// Stores a received payload that starts at RTP timestamp `ts`.
    pub fn push(&mut self, ts: u32, payload: &[u8]) {
        let len = payload.len() as u32;
        if len == 0 || len as usize > RING / 4 {
            self.stats.overflows += 1;
            return;
        }
        if self.state == State::Idle {
            self.next_ts = ts;
            self.newest_end = ts.wrapping_add(len);
            self.state = State::Priming;
        }
        let mut offset = ts.wrapping_sub(self.next_ts) as i32;
        if offset < 0 && self.state == State::Priming && offset.unsigned_abs() <= self.target.max(self.cfg.frame) {
            // Reordered before the first packet while priming: start earlier.
            self.next_ts = ts;
            offset = 0;
        }
        if offset + len as i32 <= 0 {
            self.stats.late += 1;
            self.window_trouble = true;
            if self.state == State::Playing && !self.fixed && self.target + self.cfg.frame <= self.cfg.max_depth {
                self.target += self.cfg.frame;
            }
            return;
        }
        if offset >= RING as i32 / 2 {
            // A jump no buffer could absorb: resynchronise on this packet.
            self.present.fill(false);
            self.next_ts = ts;
            self.newest_end = ts.wrapping_add(len);
            self.state = State::Priming;
            self.held_run = 0;
            self.stats.resyncs += 1;
            offset = 0;
        } else if offset + len as i32 > (self.cfg.max_depth + self.cfg.frame) as i32 && self.state == State::Playing {
            // Too far ahead: slip the playout point so the depth is back at target.
            let end = ts.wrapping_add(len);
            let new_next = end.wrapping_sub(self.target.max(len));
            let skip = new_next.wrapping_sub(self.next_ts);
            self.clear_range(self.next_ts, skip);
            self.next_ts = new_next;
            self.stats.overflows += 1;
            self.stats.slips += u64::from(skip.div_ceil(self.cfg.frame));
            offset = ts.wrapping_sub(self.next_ts) as i32;
        }
        let skip = if offset < 0 { offset.unsigned_abs() } else { 0 };
        let mut dup = true;
        for i in skip..len {
            let k = Self::idx(ts.wrapping_add(i));
            dup &= self.present[k];
            self.codes[k] = payload[i as usize];
            self.present[k] = true;
        }
        if dup {
            self.stats.duplicates += 1;
        }
        let end = ts.wrapping_add(len);
        if end.wrapping_sub(self.newest_end) as i32 > 0 {
            self.newest_end = end;
        }
    }

    /// Offset from the playout point of the first buffered sample, if any.
    fn first_present(&self) -> Option<u32> {
        let depth = self.depth();
        (0..depth).find(|&i| self.present[Self::idx(self.next_ts.wrapping_add(i))])
    }

    /// Records a played sample in the history (one frame, for concealment).
    #[inline]
    fn remember(&mut self, s: i16) {
        self.hist[self.hist_pos] = s;
        self.hist_pos += 1;
        if self.hist_pos == self.hist.len() {
            self.hist_pos = 0;
        }
    }

    #[inline]
    fn conceal(&mut self) -> u8 {
        // The sample one frame back, 3/4 as loud (silence in data mode).
        let s = if self.fixed { 0 } else { (i32::from(self.hist[self.hist_pos]) * 3 / 4) as i16 };
        self.remember(s);
        self.stats.concealed_samples += 1;
        self.cfg.law.encode(s)
    }

    fn raise_target(&mut self) {
        self.window_trouble = true;
        if !self.fixed && self.target + self.cfg.frame <= self.cfg.max_depth {
            self.target += self.cfg.frame;
        }
    }

    /// Fills `out` with the next samples to play (payload law codes).
    pub fn pull(&mut self, out: &mut [u8]) {
        let n = out.len() as u32;
        if self.state == State::Idle {
            out.fill(self.silence);
            return;
        }
        if self.state == State::Priming {
            let Some(first) = self.first_present() else {
                out.fill(self.silence);
                return;
            };
            if self.depth() - first < self.target.max(1) {
                out.fill(self.silence);
                return;
            }
            self.next_ts = self.next_ts.wrapping_add(first);
            self.state = State::Playing;
            self.held_run = 0;
        }
        let depth = self.newest_end.wrapping_sub(self.next_ts) as i32;
        if depth <= 0 {
            // Underrun: hold the timeline and conceal.
            self.stats.underruns += 1;
            self.raise_target();
            for o in out.iter_mut() {
                *o = self.conceal();
            }
            self.held_run += n;
            if self.held_run >= REPRIME_FRAMES * self.cfg.frame {
                self.state = State::Priming;
                self.stats.slips += 1;
            }
            self.end_pull(depth);
            return;
        }
        self.held_run = 0;
        if !self.present[Self::idx(self.next_ts)]
            && let Some(first) = self.first_present()
            && first >= n
            && first > self.target + 2 * self.cfg.frame
        {
            // A gap well beyond any loss burst: skip it.
            self.next_ts = self.next_ts.wrapping_add(first);
            self.stats.resyncs += 1;
        }
        // The ring in runs that do not wrap (the timestamp's wrap is one of
        // the ring's: RING divides 2^32).
        let table = self.cfg.law.decode_table();
        let mut done = 0;
        while done < out.len() {
            let k0 = Self::idx(self.next_ts);
            let take = (out.len() - done).min(RING - k0);
            for (k, o) in (k0..k0 + take).zip(&mut out[done..done + take]) {
                *o = if self.present[k] {
                    self.present[k] = false;
                    let c = self.codes[k];
                    self.remember(table[c as usize]);
                    c
                } else {
                    self.conceal()
                };
            }
            self.next_ts = self.next_ts.wrapping_add(take as u32);
            done += take;
        }
        let depth = self.newest_end.wrapping_sub(self.next_ts) as i32;
        self.end_pull(depth);
    }

    fn end_pull(&mut self, depth: i32) {
        self.window_min = self.window_min.min(depth);
        self.window_pulls += 1;
        if self.window_pulls < WINDOW_PULLS {
            return;
        }
        if self.state == State::Playing && self.window_min >= self.target.max(self.cfg.frame) as i32 {
            // The remote clock runs fast, or the delay grew (an underrun held
            // the timeline) and is no longer needed: a whole frame more than
            // the target stayed buffered before every pull of the window, so
            // drop a frame.
            let f = self.cfg.frame;
            self.clear_range(self.next_ts, f);
            self.next_ts = self.next_ts.wrapping_add(f);
            self.stats.slips += 1;
        }
        if self.window_trouble {
            self.calm = 0;
        } else {
            self.calm += 1;
            if !self.fixed && self.calm >= CALM_WINDOWS && self.target >= self.cfg.min_depth + self.cfg.frame {
                self.target -= self.cfg.frame;
                self.calm = 0;
            }
        }
        self.window_trouble = false;
        self.window_min = i32::MAX;
        self.window_pulls = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const F: u32 = 160;

    fn jb(min_ms: u32, max_ms: u32) -> JitterBuffer {
        JitterBuffer::new(JitterConfig { frame: F, min_depth: min_ms * 8, max_depth: max_ms * 8, law: DspLaw::Mulaw })
    }

    fn frame(v: u8) -> Vec<u8> {
        vec![v; F as usize]
    }

    #[test]
    fn plays_in_order_after_priming_to_the_target() {
        let mut b = jb(40, 200);
        let mut out = [0u8; 160];
        b.push(1000, &frame(1));
        b.pull(&mut out);
        assert_eq!(out, [0xFF; 160], "still priming after one frame");
        b.push(1160, &frame(2));
        b.pull(&mut out);
        assert_eq!(out, [1; 160]);
        b.push(1320, &frame(3));
        b.pull(&mut out);
        assert_eq!(out, [2; 160]);
    }

    #[test]
    fn ready_only_when_the_next_block_is_buffered_without_a_hole() {
        let mut b = jb(10, 200);
        assert!(!b.ready(160), "idle");
        b.push(0, &frame(1));
        let mut out = [0u8; 160];
        b.pull(&mut out);
        assert!(!b.ready(160), "frame 0 played, nothing buffered");
        // Frame 2 overtakes frame 1: a block pulled now would conceal frame 1.
        b.push(320, &frame(3));
        assert!(!b.ready(160), "frame 1 missing");
        b.push(160, &frame(2));
        assert!(b.ready(160));
        b.pull(&mut out);
        assert!(b.ready(160), "frame 2 buffered");
    }

    #[test]
    fn reordered_packets_play_in_timestamp_order() {
        let mut b = jb(40, 200);
        let mut out = [0u8; 160];
        b.push(0, &frame(1));
        b.push(320, &frame(3));
        b.push(160, &frame(2));
        for want in 1..=3 {
            b.pull(&mut out);
            assert_eq!(out[0], want);
        }
        assert_eq!(b.stats().concealed_samples, 0);
    }

    #[test]
    fn a_lost_frame_is_concealed_by_the_previous_frame_faded() {
        let mut b = jb(40, 200);
        let mut out = [0u8; 160];
        let tone: Vec<u8> = (0..160).map(|i| DspLaw::Mulaw.encode(((i as f32 * 0.3).sin() * 8000.0) as i16)).collect();
        b.push(0, &tone);
        b.push(320, &tone); // 160 lost
        b.push(480, &tone);
        b.pull(&mut out);
        assert_eq!(&out[..], &tone[..]);
        b.pull(&mut out);
        assert_eq!(b.stats().concealed_samples, 160);
        let level = |c: &[u8]| c.iter().map(|&x| f64::from(DspLaw::Mulaw.decode(x)).powi(2)).sum::<f64>();
        let ratio = level(&out) / level(&tone);
        assert!(ratio > 0.4 && ratio < 0.7, "concealed frame is the last one at 3/4 amplitude (power ratio {ratio})");
        b.pull(&mut out);
        assert_eq!(&out[..], &tone[..]);
    }

    #[test]
    fn late_and_duplicate_packets_are_discarded_and_counted() {
        let mut b = jb(20, 200);
        let mut out = [0u8; 160];
        b.push(0, &frame(1));
        b.push(160, &frame(2));
        b.pull(&mut out);
        b.pull(&mut out);
        b.push(0, &frame(9));
        assert_eq!(b.stats().late, 1);
        b.push(320, &frame(3));
        b.push(320, &frame(3));
        assert_eq!(b.stats().duplicates, 1);
    }

    #[test]
    fn underrun_holds_the_timeline_so_a_slow_remote_loses_nothing() {
        let mut b = jb(20, 200);
        let mut out = [0u8; 160];
        b.push(0, &frame(1));
        b.pull(&mut out);
        b.pull(&mut out); // nothing buffered: held
        assert_eq!(b.stats().underruns, 1);
        b.push(160, &frame(2));
        b.pull(&mut out);
        assert_eq!(out[0], 2, "the late frame still plays");
        assert!(b.target() > 160, "an underrun raises the target");
    }

    #[test]
    fn a_fast_remote_clock_slips_instead_of_growing_the_delay() {
        let mut b = jb(20, 400);
        let mut out = [0u8; 160];
        let mut ts = 0u32;
        // The remote sends 51 frames for every 50 pulls.
        for k in 0..2000u32 {
            b.push(ts, &frame(1));
            ts += 160;
            if k % 50 == 0 {
                b.push(ts, &frame(1));
                ts += 160;
            }
            b.pull(&mut out);
        }
        assert!(b.stats().slips > 20, "slips {}", b.stats().slips);
        assert!(b.depth() <= 400 * 8, "depth {} stays bounded", b.depth());
    }

    #[test]
    fn a_timestamp_jump_resynchronises() {
        let mut b = jb(20, 200);
        let mut out = [0u8; 160];
        b.push(0, &frame(1));
        b.pull(&mut out);
        b.push(1_000_000, &frame(5));
        b.pull(&mut out);
        assert_eq!(out[0], 5);
        assert_eq!(b.stats().resyncs, 1);
    }

    #[test]
    fn in_data_mode_a_lost_frame_is_silence_and_underruns_do_not_raise_the_target() {
        let mut b = jb(20, 200);
        b.set_fixed();
        let mut out = [0u8; F as usize];
        b.push(0, &frame(0x20));
        b.push(F, &frame(0x20));
        b.pull(&mut out);
        let target = b.target();
        // Frame 2 is lost, frame 3 arrives: frame 2 plays as silence.
        b.push(3 * F, &frame(0x20));
        b.pull(&mut out);
        b.pull(&mut out);
        assert!(out.iter().all(|&c| c == DspLaw::Mulaw.silence()), "a lost frame is silence in data mode");
        for _ in 0..10 {
            b.pull(&mut out);
        }
        assert!(b.stats().underruns > 0);
        assert_eq!(b.target(), target, "the target stays fixed");
    }

    #[test]
    fn a_talkspurt_gap_is_skipped_not_concealed() {
        let mut b = jb(20, 200);
        let mut out = [0u8; 160];
        b.push(0, &frame(1));
        b.pull(&mut out);
        // 100 ms later (silence suppression), a new talkspurt.
        b.push(160 * 6, &frame(7));
        b.push(160 * 7, &frame(8));
        b.pull(&mut out);
        assert_eq!(out[0], 7);
        assert_eq!(b.stats().concealed_samples, 0);
    }
}
