//! CPU cost per channel of one 20 ms read and one write, for the async form
//! (tokio, one task per channel on a current-thread runtime) and the batch
//! form (one thread, epoll), at 24, 240 and 1,024 channels.
//!
//! The simulator runs in-process on a FUSE mount; only the driving thread's
//! CPU time (CLOCK_THREAD_CPUTIME_ID) is counted, so the figure is what the
//! media pump pays in the DAHDI layer (syscalls through FUSE included, the
//! simulator's own work excluded). Run: `cargo bench -p tandem-drivers --bench io_cost`.

use std::time::{Duration, Instant};

use hw_sim::runner::Sim;
use tandem_drivers::*;

const RUN: Duration = Duration::from_secs(4);

fn thread_cpu() -> Duration {
    let t = nix::time::clock_gettime(nix::time::ClockId::CLOCK_THREAD_CPUTIME_ID).expect("thread cpu clock");
    Duration::new(t.tv_sec() as u64, t.tv_nsec() as u32)
}

/// A simulator with `n` clear channels: E1 spans (31 channels each) cross-
/// connected in pairs (an odd last one goes to an external far end), and the
/// remainder on analog ports. Returns the TOML, the E1 span count and
/// (channel, span, position) of every channel.
fn sim_config(n: usize) -> (String, u32, Vec<(u32, u32, u32)>) {
    let spans = n / 31;
    let rest = n - spans * 31;
    let mut toml = String::from("[sim]\nfuse_threads = 1\n");
    for card in 0..spans.div_ceil(4) {
        toml.push_str("[[card]]\nmodel = \"te420p\"\n");
        for k in 0..4 {
            let s = card * 4 + k + 1;
            if s > spans {
                break;
            }
            if s == spans && s % 2 == 1 {
                toml.push_str("[[card.span]]\ntype = \"e1\"\nfar_end = \"external\"\n");
            } else {
                let peer = if s % 2 == 1 { s + 1 } else { s - 1 };
                toml.push_str(&format!("[[card.span]]\ntype = \"e1\"\nfar_end = \"cross\"\npeer = {peer}\n"));
            }
        }
    }
    let mut chans = Vec::new();
    for s in 1..=spans as u32 {
        for pos in 1..=31u32 {
            chans.push(((s - 1) * 31 + pos, s, pos));
        }
    }
    let mut left = rest;
    let mut span = spans as u32;
    while left > 0 {
        let ports = left.min(24);
        span += 1;
        let list = vec!["\"fxs\""; ports].join(", ");
        toml.push_str(&format!("[[card]]\nmodel = \"tdm2400p\"\nports = [{list}]\n"));
        for pos in 1..=ports as u32 {
            chans.push((chans.len() as u32 + 1, span, pos));
        }
        left -= ports;
    }
    (toml, spans as u32, chans)
}

fn configure(dir: &std::path::Path, spans: u32, chans: &[(u32, u32, u32)]) {
    let ctl = Ctl::open(dir).unwrap();
    for s in 1..=spans {
        let lc = dahdi_sys::DAHDI_CONFIG_CCS | dahdi_sys::DAHDI_CONFIG_HDB3;
        ctl.configure_span(&LineConfig { span: s, timing: 0, lbo: 0, lineconfig: lc }, "e1").unwrap();
    }
    for &(ch, _, _) in chans {
        ctl.configure_channel(&ChanConfig { chan: ch, signalling: Signalling::Clear, law: None, idle_bits: 0 }).unwrap();
    }
    for s in 1..=spans {
        ctl.startup(s).unwrap();
    }
}

fn open_all(dir: &std::path::Path, chans: &[(u32, u32, u32)]) -> Vec<Channel> {
    chans
        .iter()
        .map(|&(ch, s, p)| {
            let c = Channel::open(dir, ch, Some((s, p)), OpenOptionsDahdi { nonblocking: true }).unwrap();
            c.set_blocksize(160).unwrap();
            // Four buffers per direction, as chan_dahdi uses.
            c.set_buffers(Policy::Immediate, Policy::Immediate, 4, 160).unwrap();
            c
        })
        .collect()
}

struct Figures {
    blocks: u64,
    cpu: Duration,
    wall: Duration,
}

fn batch_form(chans: Vec<Channel>) -> Figures {
    let mut batch = Batch::new().unwrap();
    for c in chans {
        batch.add(c).unwrap();
    }
    let mut ready = Vec::new();
    let mut buf = [0u8; 160];
    let mut blocks = 0u64;
    let start = Instant::now();
    let cpu0 = thread_cpu();
    while start.elapsed() < RUN {
        batch.wait(Duration::from_millis(20), &mut ready).unwrap();
        for r in &ready {
            let ch = batch.get(r.id).unwrap();
            if r.event {
                let _ = ch.next_event();
            }
            if let Ok(Io::Done(160)) = ch.read(&mut buf) {
                let _ = ch.write(&buf);
                blocks += 1;
            }
        }
    }
    Figures { blocks, cpu: thread_cpu() - cpu0, wall: start.elapsed() }
}

fn async_form(chans: Vec<Channel>) -> Figures {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    rt.block_on(async move {
        let start = Instant::now();
        let cpu0 = thread_cpu();
        let mut tasks = Vec::new();
        for c in chans {
            let ach = AsyncChannel::new(c).unwrap();
            tasks.push(tokio::spawn(async move {
                let mut buf = [0u8; 160];
                let mut n = 0u64;
                while start.elapsed() < RUN {
                    match tokio::time::timeout(Duration::from_millis(100), ach.read(&mut buf)).await {
                        Ok(Ok(Input::Audio(160))) => {
                            let _ = ach.channel().write(&buf);
                            n += 1;
                        }
                        Ok(Ok(_)) | Err(_) => {}
                        Ok(Err(e)) => panic!("{e}"),
                    }
                }
                n
            }));
        }
        let mut blocks = 0;
        for t in tasks {
            blocks += t.await.unwrap();
        }
        Figures { blocks, cpu: thread_cpu() - cpu0, wall: start.elapsed() }
    })
}

fn main() {
    // The simulator runs in this process; keep it and the pump on one CPU,
    // where a FUSE round trip is cheapest (CAPACITY-style; IO_COST_CPU=none
    // to leave scheduling alone).
    if std::env::var("IO_COST_CPU").as_deref() != Ok("none") {
        // SAFETY: a zeroed cpu_set_t with one bit set, passed with its size.
        unsafe {
            let mut set: libc::cpu_set_t = std::mem::zeroed();
            libc::CPU_SET(0, &mut set);
            libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set);
        }
    }
    println!("DAHDI layer cost per channel: one 160-byte read + one write every 20 ms");
    println!("{:<6} {:>6} {:>10} {:>10} {:>12} {:>14} {:>10}", "form", "chans", "blocks", "expected", "delivered %", "CPU µs/block", "core %");
    for &n in &[24usize, 240, 1024] {
        for form in ["batch", "async"] {
            let (toml, e1_spans, chans) = sim_config(n);
            let tmp = tempfile::tempdir().unwrap();
            let dir = tmp.path().join("dahdi");
            let sim = Sim::start(&toml, "bench", &dir, &tmp.path().join("c.sock")).unwrap();
            configure(&dir, e1_spans, &chans);
            let opened = open_all(&dir, &chans);
            let f = if form == "batch" { batch_form(opened) } else { async_form(opened) };
            let expected = (f.wall.as_secs_f64() * 50.0 * n as f64) as u64;
            let per_block = f.cpu.as_secs_f64() * 1e6 / f.blocks.max(1) as f64;
            println!(
                "{:<6} {:>6} {:>10} {:>10} {:>11.1}% {:>14.2} {:>9.1}%",
                form,
                n,
                f.blocks,
                expected,
                100.0 * f.blocks as f64 / expected.max(1) as f64,
                per_block,
                100.0 * f.cpu.as_secs_f64() / f.wall.as_secs_f64()
            );
            drop(sim);
        }
    }
    println!("(µs/block is the driving thread's CPU per channel per 20 ms: one read + one write.)");
}
