//! The simulated 8 kHz clock: one tick per millisecond, on absolute deadlines
//! so that it does not drift, catching up after a late wake-up.
//!
//! On a card, DAHDI's clock is the card's interrupt, which preempts every
//! process; this thread is an ordinary one unless `[sim] realtime_clock`
//! makes it SCHED_FIFO ([`set_realtime`]). Either way it records when each
//! tick's results became visible to the host ([`TickTimes`]), so a latency
//! probe can start its count at the moment a block was readable rather than
//! at the moment it was due.

use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use parking_lot::Mutex;

use crate::fs::State;

/// Ticks run per wake-up at most, so that a long stall does not turn into a burst.
const MAX_CATCH_UP: u32 = 200;

/// SCHED_FIFO priority of a realtime clock thread: that of the kernel's
/// threaded interrupt handlers (kernel/irq/manage.c, `MAX_RT_PRIO / 2`),
/// above any ordinary realtime program such as a media pump.
pub const REALTIME_PRIORITY: i32 = 50;

/// Wake-ups remembered by [`TickTimes`]: about 8 s at one per tick.
const TICK_TIMES_CAP: usize = 8192;

/// When the clock thread had run each tick (and so what the tick did, such
/// as a completed receive block, was in place: a held read is answered
/// with it next, other readers get it once the clock releases the model,
/// a few µs later), in CLOCK_MONOTONIC nanoseconds. One entry per wake-up: the
/// ticks run together after a late wake-up share its time.
#[derive(Debug, Default)]
pub struct TickTimes {
    /// (last tick of a wake-up, its release time), oldest first.
    ring: VecDeque<(u64, u64)>,
}

impl TickTimes {
    /// Record that the ticks up to `last_tick` (after the previous entry's)
    /// became visible at `ns`.
    pub fn record(&mut self, last_tick: u64, ns: u64) {
        if self.ring.back().is_some_and(|&(t, _)| t >= last_tick) {
            return;
        }
        if self.ring.len() >= TICK_TIMES_CAP {
            self.ring.pop_front();
        }
        self.ring.push_back((last_tick, ns));
    }

    /// When tick `tick` became visible; `None` if it has not yet, or is too
    /// old to be remembered.
    pub fn lookup(&self, tick: u64) -> Option<u64> {
        let k = self.ring.partition_point(|&(t, _)| t < tick);
        let &(_, ns) = self.ring.get(k)?;
        // The oldest entry's range starts at an unknown tick.
        (k > 0 || self.ring.len() < TICK_TIMES_CAP).then_some(ns)
    }
}

/// CLOCK_MONOTONIC now, in nanoseconds (the clock `Instant` and the
/// kernel's poll and timer wake-ups use).
pub fn monotonic_ns() -> u64 {
    nix::time::clock_gettime(nix::time::ClockId::CLOCK_MONOTONIC).map_or(0, |t| t.tv_sec() as u64 * 1_000_000_000 + t.tv_nsec() as u64)
}

/// Make the calling thread SCHED_FIFO at [`REALTIME_PRIORITY`], as a card's
/// interrupt would be: it then preempts every ordinary thread on its CPU.
pub fn set_realtime() -> Result<(), String> {
    let param = libc::sched_param { sched_priority: REALTIME_PRIORITY };
    // SAFETY: pid 0 is the calling thread, and `param` is a valid sched_param.
    if unsafe { libc::sched_setscheduler(0, libc::SCHED_FIFO, &param) } == 0 {
        Ok(())
    } else {
        Err(format!(
            "realtime clock: SCHED_FIFO {REALTIME_PRIORITY}: {} (needs root or CAP_SYS_NICE, and realtime time in the cgroup)",
            std::io::Error::last_os_error()
        ))
    }
}

/// Hooks run after every tick, with the lock held (the control socket's
/// D-channel writers, for example).
pub type AfterTick = Box<dyn FnMut(&mut State) + Send>;

/// Run the clock until `stop` is set.
pub fn run(state: Arc<Mutex<State>>, stop: Arc<AtomicBool>, mut after: Vec<AfterTick>) {
    let start = Instant::now();
    let mut ticks: u64 = 0;
    let mut last_expire = Instant::now();
    while !stop.load(Ordering::Relaxed) {
        let now = Instant::now();
        let due = (now - start).as_millis() as u64;
        if due <= ticks {
            let next = start + Duration::from_millis(ticks + 1);
            std::thread::sleep(next.saturating_duration_since(Instant::now()));
            continue;
        }
        let mut st = state.lock();
        let mut n = 0;
        while ticks < due && n < MAX_CATCH_UP {
            st.dahdi.tick();
            ticks += 1;
            n += 1;
        }
        if ticks < due {
            // Too far behind: skip the missed time instead of bursting.
            ticks = due;
        }
        // The blocks these ticks completed are in place: held reads get
        // them in `service` below, other readers once the lock is released.
        let last = st.dahdi.now_ms;
        st.tick_times.record(last, monotonic_ns());
        for f in after.iter_mut() {
            f(&mut st);
        }
        st.service();
        if now.duration_since(last_expire) >= Duration::from_millis(20) {
            st.expire(now);
            last_expire = now;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tick_times_give_each_tick_the_time_of_the_wake_up_that_ran_it() {
        let mut t = TickTimes::default();
        assert_eq!(t.lookup(1), None);
        t.record(1, 1_000);
        // A late wake-up ran ticks 2 to 5 together.
        t.record(5, 5_300);
        t.record(6, 6_000);
        assert_eq!([0, 1, 2, 5, 6].map(|k| t.lookup(k)), [Some(1_000), Some(1_000), Some(5_300), Some(5_300), Some(6_000)]);
        assert_eq!(t.lookup(7), None, "not run yet");
        t.record(6, 9_999);
        assert_eq!(t.lookup(6), Some(6_000), "a wake-up that ran no tick records nothing");
    }

    #[test]
    fn tick_times_forget_the_oldest_wake_ups_beyond_the_cap() {
        let mut t = TickTimes::default();
        for k in 1..=TICK_TIMES_CAP as u64 + 10 {
            t.record(k, k * 1_000);
        }
        assert_eq!(t.lookup(5), None);
        assert_eq!(t.lookup(11), None, "the oldest entry's range start is unknown");
        assert_eq!(t.lookup(12), Some(12_000));
    }
}
