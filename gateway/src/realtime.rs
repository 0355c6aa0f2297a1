//! Realtime scheduling for the daemon's time-critical threads (`[process]
//! realtime`, `tandem run --realtime`), as Asterisk's `-p` and
//! FreeSWITCH's `-rp` offer.
//!
//! When it is on, the media pump threads run SCHED_FIFO at
//! `realtime_priority` (the pump applies it itself:
//! `tandem_media::pump::PumpConfig::rt_priority`), and the signalling I/O
//! threads one step below it ([`signalling_priority`]): each D-channel's
//! thread (`dchan-N`; with realtime off the D-channels are tasks of the run
//! loop instead), each analog port's (`analog-N`) and each CAS
//! channel's (`cas-N`), so audio always wins over signalling and both win
//! over everything else. The main run loop (call control, SIP), the CDR
//! writer and the other helper threads stay SCHED_OTHER. The process also
//! locks its memory (`mlockall(MCL_CURRENT | MCL_FUTURE)`), so a page fault
//! never stalls a realtime thread.
//!
//! A thread learns its priority from a process-wide setting made once at
//! start-up ([`set_signalling`]) and applies it itself when it starts
//! ([`enter_signalling`]); a thread started later (a new D-channel) does the
//! same. Failing to get a priority (EPERM for an unprivileged user without
//! `LimitRTPRIO`/CAP_SYS_NICE) or to lock memory is logged as a warning
//! saying what to grant, and the daemon goes on without it.

use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};

/// The priority of the signalling threads; 0 = realtime off.
static SIGNALLING: AtomicU8 = AtomicU8::new(0);
/// Whether the "cannot get a realtime priority" warning was logged already.
static WARNED: AtomicBool = AtomicBool::new(false);
/// Whether [`lock_memory`] succeeded.
static LOCKED: AtomicBool = AtomicBool::new(false);

/// What to grant when the kernel refuses a realtime priority (logged with the failure).
pub const HOW_TO_ALLOW: &str = "run tandem as root, or grant it CAP_SYS_NICE, or raise RLIMIT_RTPRIO (LimitRTPRIO=99 in the systemd unit)";

/// Stack size of a per-channel signalling thread (each analog port and
/// CAS channel has one). With memory locked (`MCL_FUTURE`) every thread's
/// whole stack is resident, so at the 2 MiB default 1,024 CAS channels
/// would lock 2 GiB; their loops need a small fraction of this.
pub const SIGNALLING_STACK: usize = 256 * 1024;

/// The signalling threads' priority for a media priority: one step below
/// it (at least 1), so the pump preempts them.
pub fn signalling_priority(media: u8) -> u8 {
    media.saturating_sub(1).max(1)
}

/// Sets (or, with `None`, clears) the priority signalling threads started
/// from now on take in [`enter_signalling`].
pub fn set_signalling(priority: Option<u8>) {
    SIGNALLING.store(priority.unwrap_or(0), Ordering::Relaxed);
}

/// The priority signalling threads take, if realtime is on.
pub fn signalling() -> Option<u8> {
    Some(SIGNALLING.load(Ordering::Relaxed)).filter(|p| *p > 0)
}

/// Called by a signalling I/O thread as it starts (`what` names it in the
/// log): switches it to SCHED_FIFO if realtime is on. Failures are logged
/// (the first one as a warning) and the thread goes on as it was.
pub fn enter_signalling(what: &str) {
    let Some(p) = signalling() else { return };
    if let Err(e) = set_current_thread_fifo(p) {
        if !WARNED.swap(true, Ordering::Relaxed) {
            tracing::warn!(thread = what, priority = p, error = %e, "cannot run signalling threads SCHED_FIFO: {HOW_TO_ALLOW}");
        } else {
            tracing::debug!(thread = what, priority = p, error = %e, "no SCHED_FIFO");
        }
    }
}

/// Switches the calling thread to SCHED_FIFO at `priority` (1–99).
pub fn set_current_thread_fifo(priority: u8) -> std::io::Result<()> {
    let param = libc::sched_param { sched_priority: i32::from(priority) };
    // SAFETY: pthread_self() is the calling thread, and param is a valid sched_param.
    let r = unsafe { libc::pthread_setschedparam(libc::pthread_self(), libc::SCHED_FIFO, &param) };
    if r == 0 { Ok(()) } else { Err(std::io::Error::from_raw_os_error(r)) }
}

/// Locks the process's memory, now and future mappings; a failure is
/// logged as a warning and ignored.
pub fn lock_memory() {
    // SAFETY: mlockall takes flags only.
    if unsafe { libc::mlockall(libc::MCL_CURRENT | libc::MCL_FUTURE) } != 0 {
        let e = std::io::Error::last_os_error();
        tracing::warn!(
            error = %e,
            "realtime: memory not locked (mlockall), page faults may delay audio: run tandem as root, or grant it CAP_IPC_LOCK, or raise RLIMIT_MEMLOCK (LimitMEMLOCK=infinity in the systemd unit)"
        );
    } else {
        LOCKED.store(true, Ordering::Relaxed);
        tracing::info!("realtime: memory locked");
    }
}

/// Whether [`lock_memory`] locked the memory.
pub fn memory_locked() -> bool {
    LOCKED.load(Ordering::Relaxed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signalling_runs_one_step_below_the_media_pump() {
        assert_eq!(signalling_priority(50), 49);
        assert_eq!(signalling_priority(1), 1, "never below 1, the lowest FIFO priority");
        assert_eq!(signalling_priority(99), 98);
    }
}
