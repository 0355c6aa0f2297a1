//! What a latency probe needs from the simulator: `audio.onset` (where a
//! sound started by `audio.play` entered a channel's receive path, and when
//! its block became readable) and the realtime clock thread.

mod common;

use std::time::{Duration, Instant};

use common::*;
use hw_sim::client::wait_for;

const CONFIG: &str = r#"
[[card]]
model = "te120p"
[[card.span]]
type = "t1"
far_end = "external"
"#;

fn monotonic_ns() -> u64 {
    hw_sim::clock::monotonic_ns()
}

/// The next 160-byte block, taking any event read() reports first.
fn next_block(ch: &std::fs::File) -> Vec<u8> {
    for _ in 0..10 {
        match read_block(ch, 160, Duration::from_secs(2)) {
            Ok(b) => return b,
            Err(ELAST) => {
                getevent(ch);
            }
            Err(e) => panic!("read: {}", Errno::from_raw(e)),
        }
    }
    panic!("read: events kept coming");
}

/// The scheduling policy of the simulator's thread named `name`.
fn thread_policy(pid: u32, name: &str) -> Option<i32> {
    for e in std::fs::read_dir(format!("/proc/{pid}/task")).ok()?.flatten() {
        if std::fs::read_to_string(e.path().join("comm")).is_ok_and(|c| c.trim() == name) {
            let tid: i32 = e.file_name().to_str()?.parse().ok()?;
            // SAFETY: sched_getscheduler only reads the thread's policy.
            return Some(unsafe { libc::sched_getscheduler(tid) });
        }
    }
    None
}

#[test]
fn onset_block_is_reported_readable_between_the_play_and_the_read_that_returned_it() {
    let sim = Sim::start(CONFIG);
    let ctl = sim.ctl();
    setup_t1(&ctl, 1, &[(1, d::DAHDI_SIG_CLEAR, 0)]);
    let ch = sim.open_chan(1, 1);
    set_blocksize(&ch, 160).expect("SET_BLOCKSIZE 160");
    let mut c = sim.client();
    let dir = tempfile::tempdir().expect("temp dir");
    let wav = dir.path().join("burst.wav");
    // A constant level: its first sample is already not silence.
    tandem_dsp::wav::write_wav(std::fs::File::create(&wav).expect("create wav"), &[4000; 400]).expect("write wav");
    assert_eq!(c.audio_onset(1).expect("audio.onset"), None, "nothing played yet");
    for _ in 0..3 {
        next_block(&ch);
    }
    let played = monotonic_ns();
    c.audio_play_wav(1, &wav, false).expect("audio.play");
    // Blocking reads return each block as it completes.
    let deadline = Instant::now() + Duration::from_secs(10);
    let (block, returned) = loop {
        assert!(Instant::now() < deadline, "no block with the sound within 10 s");
        let b = next_block(&ch);
        let t = monotonic_ns();
        if b.iter().any(|&x| x != 0xFF) {
            break (b, t);
        }
    };
    let first = block.iter().position(|&x| x != 0xFF).unwrap();
    let o = wait_for(Duration::from_secs(10), Duration::from_millis(10), || c.audio_onset(1).ok().flatten().filter(|o| o.readable_ns.is_some()))
        .expect("the onset's block is reported complete");
    assert_eq!((o.chan, o.sample, o.blocksize, o.lost), (1, first, 160, false), "{o:?}");
    let readable = o.readable_ns.unwrap();
    assert!(played <= readable && readable <= returned, "readable at {readable} ns, not between the play ({played}) and the read's return ({returned})");
    let all = c.audio_onsets().expect("audio.onset for every channel");
    assert_eq!(all, vec![o], "only channel 1 has an onset");
}

#[test]
fn realtime_clock_makes_the_clock_thread_sched_fifo() {
    let sim = Sim::start(&format!("[sim]\nrealtime_clock = true\n{CONFIG}"));
    let pid = sim.pid().expect("running");
    assert_eq!(thread_policy(pid, "clock"), Some(libc::SCHED_FIFO));
    let plain = Sim::start(CONFIG);
    assert_eq!(thread_policy(plain.pid().expect("running"), "clock"), Some(libc::SCHED_OTHER));
}
