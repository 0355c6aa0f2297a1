//! The simulated 8 kHz clock: one tick per millisecond, on absolute deadlines
//! so that it does not drift, catching up after a late wake-up.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use parking_lot::Mutex;

use crate::fs::State;

/// Ticks run per wake-up at most, so that a long stall does not turn into a burst.
const MAX_CATCH_UP: u32 = 200;

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
