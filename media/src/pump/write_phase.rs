//! When to write a stream's blocks to its channel (sans-IO): learnt from
//! when the stream's packets arrive against the channel's TDM blocks.
//!
//! Writing each block right after its read makes a packet wait for the
//! next read, 0–20 ms depending on the phase of the remote's packets
//! against the TDM blocks. Instead the shell times each block's write to a
//! fixed offset after the channel's read phase, chosen just after the
//! packets arrive, so the block pulled from the jitter buffer holds the
//! packet that has just come in. The TDM clock stays the master: the
//! writes are one per block, on the read grid, which follows the TDM
//! clock; the jitter buffer still absorbs a remote clock's drift by
//! slipping.
//!
//! [`WritePhase`] keeps the arrival times of the last [`WINDOW`] packets
//! and takes their offsets (arrival time modulo the block) against the
//! read grid as it is when an estimate is made, so an arrival recorded
//! before the grid moved (a refined or re-found TDM phase) counts where it
//! belongs. The arrival times are the kernel's receive timestamps where
//! the shell has them: a time taken by the pass that read the packet
//! would carry the pass's own timing (after a read, the pump sleeps up to
//! a millisecond before it looks at the sockets), and packets that arrive
//! just after their channel's read would seem to move by that much. Every
//! [`EVERY`] packets it takes a high order statistic of them (the largest
//! but one of a full window: a packet later than most is left to the jitter
//! buffer) on the circle (the offsets are clustered across the largest
//! empty gap, so a cluster that straddles the block boundary is handled),
//! adds the guard, and proposes that as the write offset when it differs
//! from the one in force: later when it would move by more than
//! [`LATER_BY`] (the shell still writes a block whose packet comes a little
//! after its nominal time, at arrival, up to a slack), earlier only by more
//! than [`EARLIER_BY`], and never twice within [`MIN_GAP`] packets (each
//! change is a flush and restart of the transmit queue, a small click).

use std::time::{Duration, Instant};

/// Arrival offsets kept.
pub const WINDOW: usize = 16;
/// Arrivals between estimates (the first estimate waits for this many).
pub const EVERY: u32 = 8;
/// The write phase moves earlier only when it would gain more than this.
pub const EARLIER_BY: Duration = Duration::from_millis(3);
/// The write phase moves later only when it would move by more than this.
pub const LATER_BY: Duration = Duration::from_millis(1);
/// Arrivals at least between two changes of the write phase.
pub const MIN_GAP: u32 = 3 * EVERY;

/// The learner of one stream's write phase (see the module docs).
#[derive(Clone, Debug)]
pub struct WritePhase {
    /// The TDM block, µs.
    block_us: u32,
    /// Time between the (high) arrival offset and the write, µs.
    guard_us: u32,
    /// The first arrival recorded: the others are kept as µs after it.
    anchor: Option<Instant>,
    /// Arrival times, µs after `anchor` (negative: before it).
    ats: [i64; WINDOW],
    len: usize,
    pos: usize,
    since: u32,
    since_change: u32,
    current: Option<u32>,
}

impl WritePhase {
    /// A learner for TDM blocks of `block`, writing `guard` after the
    /// packets' (late) arrival phase.
    pub fn new(block: Duration, guard: Duration) -> WritePhase {
        let block_us = (block.as_micros() as u32).max(1);
        WritePhase {
            block_us,
            guard_us: (guard.as_micros() as u32).min(block_us / 2),
            anchor: None,
            ats: [0; WINDOW],
            len: 0,
            pos: 0,
            since: 0,
            since_change: 0,
            current: None,
        }
    }

    /// Forgets the arrivals and the offset in force (a new remote, a lost
    /// TDM phase).
    pub fn reset(&mut self) {
        self.len = 0;
        self.pos = 0;
        self.since = 0;
        self.current = None;
        self.anchor = None;
    }

    /// The write offset in force after the read grid, if learnt.
    pub fn offset(&self) -> Option<Duration> {
        self.current.map(|us| Duration::from_micros(u64::from(us)))
    }

    /// Records a packet that arrived at `at`, against the read grid (any
    /// instant of it: a read time of the channel, past or future). Returns
    /// the new write offset after the grid when the writes should move to it.
    pub fn arrival(&mut self, at: Instant, grid: Instant) -> Option<Duration> {
        let anchor = *self.anchor.get_or_insert(at);
        self.ats[self.pos] = signed_us(at, anchor);
        self.pos = (self.pos + 1) % WINDOW;
        self.len = (self.len + 1).min(WINDOW);
        self.since += 1;
        self.since_change = self.since_change.saturating_add(1);
        if self.since < EVERY || (self.current.is_some() && self.since_change < MIN_GAP) {
            return None;
        }
        self.since = 0;
        let want = self.estimate(anchor, grid);
        let change = match self.current {
            None => true,
            Some(cur) => {
                let diff = self.circular(want, cur);
                diff > LATER_BY.as_micros() as i64 || diff < -(EARLIER_BY.as_micros() as i64)
            }
        };
        if !change {
            return None;
        }
        self.current = Some(want);
        self.since_change = 0;
        self.offset()
    }

    /// The arrival `at_us` after `anchor`, minus `grid`, modulo the block, µs.
    fn phase_of(&self, at_us: i64, anchor: Instant, grid: Instant) -> u32 {
        (i128::from(at_us) + i128::from(signed_us(anchor, grid))).rem_euclid(i128::from(self.block_us)) as u32
    }

    /// `a` − `b` on the circle of one block, in (−block/2, block/2], µs.
    fn circular(&self, a: u32, b: u32) -> i64 {
        let n = i64::from(self.block_us);
        let d = (i64::from(a) - i64::from(b)).rem_euclid(n);
        if d > n / 2 { d - n } else { d }
    }

    /// The write offset after `grid` the recorded arrivals call for.
    fn estimate(&self, anchor: Instant, grid: Instant) -> u32 {
        let n = self.len;
        let mut a = [0u32; WINDOW];
        for (o, &at) in a.iter_mut().zip(&self.ats[..n]) {
            *o = self.phase_of(at, anchor, grid);
        }
        a[..n].sort_unstable();
        // The cluster starts after the largest gap between neighbours on
        // the circle (the wrap-around gap included).
        let mut start = 0;
        let mut widest = a[0] + self.block_us - a[n - 1];
        for i in 1..n {
            if a[i] - a[i - 1] > widest {
                widest = a[i] - a[i - 1];
                start = i;
            }
        }
        let unwrapped = |k: usize| {
            let i = (start + k) % n;
            a[i] + if start + k >= n { self.block_us } else { 0 }
        };
        // The largest but one of a full window (the largest of fewer).
        let skip = n / WINDOW;
        let late = unwrapped(n - 1 - skip);
        (late + self.guard_us) % self.block_us
    }
}

/// `a` − `b`, µs, signed.
fn signed_us(a: Instant, b: Instant) -> i64 {
    if a >= b { (a - b).as_micros() as i64 } else { -((b - a).as_micros() as i64) }
}

/// The instant ≡ `grid` + `offset` modulo `block` that is nearest to `near`.
pub fn align(grid: Instant, offset: Duration, block: Duration, near: Instant) -> Instant {
    let base = grid + offset;
    let b = block.as_nanos().max(1) as i128;
    let d = if near >= base { (near - base).as_nanos() as i128 } else { -((base - near).as_nanos() as i128) };
    let k = (d + b / 2).div_euclid(b);
    let shift = (k * b).unsigned_abs();
    let shift = Duration::from_nanos(shift.min(u128::from(u64::MAX)) as u64);
    if k >= 0 { base + shift } else { base.checked_sub(shift).unwrap_or(base) }
}

#[cfg(test)]
mod tests {
    use super::*;

    const B: Duration = Duration::from_millis(20);
    const G: Duration = Duration::from_millis(1);

    fn ms(x: f64) -> Duration {
        Duration::from_secs_f64(x / 1000.0)
    }

    /// Feeds packets every block at `phase` (ms after the grid) plus `jitter(k)` ms.
    fn feed(w: &mut WritePhase, grid: Instant, from: u32, count: u32, phase: f64, jitter: impl Fn(u32) -> f64) -> Vec<(u32, Duration)> {
        let mut changes = Vec::new();
        for k in from..from + count {
            let at = grid + B * k + ms(phase + jitter(k));
            if let Some(off) = w.arrival(at, grid) {
                changes.push((k, off));
            }
        }
        changes
    }

    fn near(a: Duration, b: Duration) -> bool {
        a.abs_diff(b) <= Duration::from_micros(2)
    }

    #[test]
    fn no_offset_until_enough_packets_then_the_write_follows_the_arrivals_by_the_guard() {
        let mut w = WritePhase::new(B, G);
        let grid = Instant::now();
        assert!(feed(&mut w, grid, 0, EVERY - 1, 7.0, |_| 0.0).is_empty());
        assert_eq!(w.offset(), None);
        let c = feed(&mut w, grid, EVERY - 1, 1, 7.0, |_| 0.0);
        assert_eq!(c.len(), 1);
        assert!(near(c[0].1, ms(8.0)), "{c:?}");
    }

    #[test]
    fn the_write_goes_after_the_late_packets_not_the_typical_ones() {
        let mut w = WritePhase::new(B, G);
        let grid = Instant::now();
        // Most packets at 5 ms, every fourth 3 ms late.
        feed(&mut w, grid, 0, 2 * WINDOW as u32, 5.0, |k| if k % 4 == 0 { 3.0 } else { 0.0 });
        assert!(near(w.offset().unwrap(), ms(9.0)), "{:?}", w.offset());
    }

    #[test]
    fn a_single_outlier_in_a_full_window_is_left_to_the_jitter_buffer() {
        let mut w = WritePhase::new(B, G);
        let grid = Instant::now();
        let n = WINDOW as u32;
        feed(&mut w, grid, 0, 2 * n, 5.0, |k| if k == n + 3 { 9.0 } else { 0.0 });
        assert!(near(w.offset().unwrap(), ms(6.0)), "{:?}", w.offset());
    }

    #[test]
    fn arrivals_straddling_the_block_boundary_put_the_write_after_the_latest() {
        let mut w = WritePhase::new(B, G);
        let grid = Instant::now();
        // Alternately 19.5 ms and 20.5 ms (= 0.5 ms of the next block).
        feed(&mut w, grid, 0, 2 * WINDOW as u32, 19.5, |k| if k % 2 == 0 { 1.0 } else { 0.0 });
        assert!(near(w.offset().unwrap(), ms(1.5)), "{:?}", w.offset());
    }

    #[test]
    fn small_wobble_keeps_the_phase_and_later_or_much_earlier_arrivals_move_it() {
        let mut w = WritePhase::new(B, G);
        let grid = Instant::now();
        feed(&mut w, grid, 0, 2 * WINDOW as u32, 5.0, |_| 0.0);
        let first = w.offset().unwrap();
        // 0.8 ms later, and 2 ms earlier: within the hysteresis.
        assert!(feed(&mut w, grid, 100, 2 * WINDOW as u32, 5.8, |_| 0.0).is_empty());
        assert!(feed(&mut w, grid, 200, 2 * WINDOW as u32, 3.0, |_| 0.0).is_empty());
        assert_eq!(w.offset(), Some(first));
        // 2 ms later than at first: the writes move after them.
        let c = feed(&mut w, grid, 300, 2 * WINDOW as u32, 7.0, |_| 0.0);
        assert!(!c.is_empty());
        assert!(near(w.offset().unwrap(), ms(8.0)), "{:?}", w.offset());
        // Much earlier (a new remote): they move earlier too.
        let c = feed(&mut w, grid, 400, 2 * WINDOW as u32, 1.0, |_| 0.0);
        assert!(!c.is_empty());
        assert!(near(w.offset().unwrap(), ms(2.0)), "{:?}", w.offset());
    }

    #[test]
    fn a_drifting_remote_moves_the_phase_around_the_block_in_few_steps() {
        let mut w = WritePhase::new(B, G);
        let grid = Instant::now();
        // 1 ms later every 50 packets (a remote clock 1,000 ppm slow) for 25 s.
        let c = feed(&mut w, grid, 0, 1250, 2.0, |k| f64::from(k) / 50.0);
        let after = w.offset().unwrap();
        // The latest arrivals are at 2 + 1248/50 ms ≡ 6.96 ms; the write 1 ms after.
        assert!(after.abs_diff(ms(7.96)) < ms(0.6), "{after:?}");
        // Each change moves the write later by a little (never around the block).
        assert!(c.len() >= 12 && c.len() <= 25, "{} changes", c.len());
    }

    #[test]
    fn the_phase_changes_at_most_once_per_min_gap_packets() {
        let mut w = WritePhase::new(B, G);
        let grid = Instant::now();
        feed(&mut w, grid, 0, EVERY, 5.0, |_| 0.0);
        // Arrivals jump between 5 and 12 ms every 8 packets: each estimate
        // asks for a change, but they are spaced MIN_GAP packets apart.
        let c = feed(&mut w, grid, EVERY, 20 * MIN_GAP, 5.0, |k| if (k / EVERY) % 2 == 0 { 7.0 } else { 0.0 });
        assert!(!c.is_empty());
        assert!(c.windows(2).all(|p| p[1].0 - p[0].0 >= MIN_GAP), "{c:?}");
    }

    #[test]
    fn arrivals_timed_against_a_passing_guess_of_the_read_grid_count_against_the_grid_found_again() {
        let mut w = WritePhase::new(B, G);
        let grid = Instant::now();
        // Steady packets at 5 ms after the grid: the write at 6 ms.
        let n = 2 * WINDOW as u32;
        feed(&mut w, grid, 0, n, 5.0, |_| 0.0);
        assert!(near(w.offset().unwrap(), ms(6.0)), "{:?}", w.offset());
        // Two packets come while the shell hunts a late block and guesses
        // the grid 4 ms early (they seem 9 ms after it); then the grid is
        // found where it was. The packets never moved, so neither do the writes.
        let guess = grid - ms(4.0);
        let mut changes = Vec::new();
        for k in n..n + 2 * EVERY {
            let g = if k < n + 2 { guess } else { grid };
            if let Some(off) = w.arrival(grid + B * k + ms(5.0), g) {
                changes.push((k, off));
            }
        }
        assert!(changes.is_empty(), "{changes:?}");
        assert!(near(w.offset().unwrap(), ms(6.0)), "{:?}", w.offset());
    }

    #[test]
    fn reset_forgets_the_phase() {
        let mut w = WritePhase::new(B, G);
        let grid = Instant::now();
        feed(&mut w, grid, 0, WINDOW as u32, 5.0, |_| 0.0);
        w.reset();
        assert_eq!(w.offset(), None);
        assert!(feed(&mut w, grid, 0, EVERY - 1, 5.0, |_| 0.0).is_empty());
    }

    #[test]
    fn arrivals_before_the_grid_instant_count_on_the_same_circle() {
        let mut w = WritePhase::new(B, G);
        let grid = Instant::now() + Duration::from_secs(1);
        for k in 0..EVERY {
            w.arrival(grid - B * (10 + k) + ms(4.0), grid);
        }
        assert!(near(w.offset().unwrap(), ms(5.0)), "{:?}", w.offset());
    }

    #[test]
    fn align_picks_the_grid_point_nearest() {
        let g = Instant::now();
        let off = ms(6.0);
        assert_eq!(align(g, off, B, g + ms(60.0)), g + ms(66.0));
        assert_eq!(align(g, off, B, g + ms(75.0)), g + ms(66.0));
        assert_eq!(align(g, off, B, g + ms(77.0)), g + ms(86.0));
        let later = g + Duration::from_secs(1);
        assert_eq!(align(later, off, B, g + ms(26.0)), g + ms(26.0));
    }
}
