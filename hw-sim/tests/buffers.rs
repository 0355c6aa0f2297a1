//! Channel buffers: block size, buffer info, reads paced by the 8 kHz clock,
//! non-blocking reads and writes, and receive overrun.

mod common;

use std::time::{Duration, Instant};

use common::*;

const CONFIG: &str = r#"
[[card]]
model = "tdm410p"
ports = ["fxs", "fxs", "fxs"]
"#;

fn setup() -> (Sim, std::fs::File) {
    let sim = Sim::start(CONFIG);
    let ctl = sim.ctl();
    for ch in 1..=3 {
        chanconfig(&ctl, ch, d::DAHDI_SIG_FXOKS);
    }
    (sim, ctl)
}

#[test]
fn blocksize_is_bounded_to_16_through_8192() {
    let (sim, _ctl) = setup();
    let ch = sim.open_chan(1, 1);
    assert_eq!(get_blocksize(&ch), d::DAHDI_DEFAULT_BLOCKSIZE as i32, "a fresh open has the default block size (1024)");
    for bad in [15, 0, -1, 8193, 65536] {
        assert_eq!(set_blocksize(&ch, bad), Err(Errno::EINVAL), "SET_BLOCKSIZE {bad}");
        assert_eq!(get_blocksize(&ch), 1024, "a refused SET_BLOCKSIZE {bad} changes nothing");
    }
    for good in [16, 8192, 80, 240] {
        set_blocksize(&ch, good).unwrap_or_else(|e| panic!("SET_BLOCKSIZE {good}: {e}"));
        assert_eq!(get_blocksize(&ch), good);
    }
    // Reads now return blocks of the new size.
    let b = read_block(&ch, 1024, Duration::from_secs(2)).expect("read");
    assert_eq!(b.len(), 240);
    // A short read buffer gets the head of the block.
    let b = read_block(&ch, 100, Duration::from_secs(2)).expect("read");
    assert_eq!(b.len(), 100);
    assert_eq!(get_bufinfo(&ch).bufsize, 240, "GET_BUFINFO reports the block size too");
}

#[test]
fn bufinfo_round_trips_and_counts_ready_blocks() {
    let (sim, _ctl) = setup();
    let ch = sim.open_chan(1, 1);
    let b = get_bufinfo(&ch);
    assert_eq!((b.txbufpolicy as u32, b.rxbufpolicy as u32), (d::DAHDI_POLICY_IMMEDIATE, d::DAHDI_POLICY_IMMEDIATE));
    assert_eq!((b.numbufs, b.bufsize), (d::DAHDI_DEFAULT_NUM_BUFS as i32, d::DAHDI_DEFAULT_BLOCKSIZE as i32));

    let want = d::dahdi_bufferinfo {
        txbufpolicy: d::DAHDI_POLICY_WHEN_FULL as i32,
        rxbufpolicy: d::DAHDI_POLICY_IMMEDIATE as i32,
        numbufs: 4,
        bufsize: 80,
        ..Default::default()
    };
    set_bufinfo(&ch, &want).expect("SET_BUFINFO");
    // The buffers were just reallocated: nothing ready yet.
    let b = get_bufinfo(&ch);
    assert_eq!((b.txbufpolicy as u32, b.numbufs, b.bufsize), (d::DAHDI_POLICY_WHEN_FULL, 4, 80));
    assert!(b.readbufs <= 1, "readbufs {} right after SET_BUFINFO", b.readbufs);
    assert_eq!(get_blocksize(&ch), 80);

    // 80-byte blocks complete every 10 ms; after ~25 ms two or three are ready.
    std::thread::sleep(Duration::from_millis(25));
    let n = get_bufinfo(&ch).readbufs;
    assert!((1..=4).contains(&n), "readbufs {n} after 25 ms");
    // Not reading: every buffer fills and stays full (receive overrun).
    std::thread::sleep(Duration::from_millis(100));
    let b = get_bufinfo(&ch);
    assert_eq!(b.readbufs, b.numbufs, "all receive buffers full when nobody reads");
    let nb = read_raw(&ch, 1024).expect("read a full buffer");
    assert_eq!(nb.len(), 80);
    let left = get_bufinfo(&ch).readbufs;
    assert!(left == 3 || left == 4, "readbufs {left} after one read");

    // Bad buffer sizes are refused and change nothing.
    for (bufsize, numbufs) in [(15, 4), (8193, 2), (8192, 5), (4096, 9)] {
        let bad = d::dahdi_bufferinfo { bufsize, numbufs, ..want };
        assert_eq!(set_bufinfo(&ch, &bad), Err(Errno::EINVAL), "SET_BUFINFO bufsize {bufsize} numbufs {numbufs}");
    }
    let b = get_bufinfo(&ch);
    assert_eq!((b.numbufs, b.bufsize), (4, 80));

    // dahdi_reallocbufs() clamps the number of buffers to 2..=32, and the
    // receive policy is always "immediate".
    let few = d::dahdi_bufferinfo { numbufs: 1, rxbufpolicy: d::DAHDI_POLICY_WHEN_FULL as i32, ..want };
    set_bufinfo(&ch, &few).expect("SET_BUFINFO numbufs 1");
    let b = get_bufinfo(&ch);
    assert_eq!((b.numbufs, b.rxbufpolicy as u32), (2, d::DAHDI_POLICY_IMMEDIATE));
    let many = d::dahdi_bufferinfo { numbufs: 40, bufsize: 16, ..want };
    set_bufinfo(&ch, &many).expect("SET_BUFINFO numbufs 40");
    assert_eq!(get_bufinfo(&ch).numbufs, 32);
}

#[test]
fn blocking_reads_arrive_every_20_ms() {
    let (sim, _ctl) = setup();
    let ch = sim.open_chan(1, 2);
    set_blocksize(&ch, 160).expect("SET_BLOCKSIZE 160");
    // Drain what is buffered and get in step with the clock.
    for _ in 0..3 {
        read_block(&ch, 160, Duration::from_secs(2)).expect("read");
    }
    let start = Instant::now();
    for i in 0..50 {
        let b = read_block(&ch, 160, Duration::from_secs(2)).unwrap_or_else(|e| panic!("read {i}: {}", Errno::from_raw(e)));
        assert_eq!(b.len(), 160, "read {i}");
    }
    let t = start.elapsed();
    assert!(t >= Duration::from_millis(900) && t <= Duration::from_millis(1100), "50 blocks of 160 samples took {t:?}, expected 1 s ± 10 %");
}

#[test]
fn nonblocking_read_without_a_ready_block_is_eagain() {
    let (sim, _ctl) = setup();
    let ch = sim.open_chan_nonblock(1, 3);
    set_blocksize(&ch, 160).expect("SET_BLOCKSIZE 160");
    // Drain anything ready; then the next read finds nothing.
    let mut drained = 0;
    loop {
        match read_raw(&ch, 160) {
            Ok(_) => drained += 1,
            Err(libc::EAGAIN) => break,
            Err(e) => panic!("read: {}", Errno::from_raw(e)),
        }
        assert!(drained <= 2, "more blocks than buffers");
    }
    assert_eq!(read_raw(&ch, 160), Err(libc::EAGAIN));
    // A block completes within 20 ms.
    std::thread::sleep(Duration::from_millis(30));
    let b = read_raw(&ch, 160).expect("a block is ready after 30 ms");
    assert_eq!(b.len(), 160);

    // Writes: two buffers accept a block each, then EAGAIN until one drains.
    let tone = mulaw_tone(1000.0, 8000.0, 160, 0);
    assert_eq!(write_raw(&ch, &tone), Ok(160));
    assert_eq!(write_raw(&ch, &tone), Ok(160));
    assert_eq!(write_raw(&ch, &tone), Err(libc::EAGAIN), "both transmit buffers are full");
    std::thread::sleep(Duration::from_millis(30));
    assert_eq!(write_raw(&ch, &tone), Ok(160), "the first block has been sent after 20 ms");
    // More than a block is cut to the block size.
    std::thread::sleep(Duration::from_millis(50));
    let big = mulaw_tone(1000.0, 8000.0, 400, 0);
    assert_eq!(write_raw(&ch, &big), Ok(160));
}
