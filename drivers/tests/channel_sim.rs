//! The safe DAHDI layer against the simulator: real syscalls on a FUSE mount.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use hw_sim::farend::Line;
use hw_sim::runner::Sim;
use tandem_drivers::*;

const SIM: &str = r#"
[[card]]
model = "tdm410p"
ports = ["fxs", "fxs", "fxo", "fxo"]

[[card]]
model = "te220p"
[[card.span]]
type = "t1"
far_end = "cross"
peer = 3
[[card.span]]
type = "t1"
far_end = "cross"
peer = 2
"#;

struct Rig {
    sim: Option<Sim>,
    dir: PathBuf,
    _tmp: tempfile::TempDir,
}

impl Rig {
    fn new() -> Rig {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("dahdi");
        let sim = Sim::start(SIM, "test", &dir, &tmp.path().join("ctl.sock")).expect("start simulator");
        Rig { sim: Some(sim), dir, _tmp: tmp }
    }
    fn dir(&self) -> &Path {
        &self.dir
    }
    fn sim(&self) -> &Sim {
        self.sim.as_ref().unwrap()
    }
    fn ctl(&self) -> Ctl {
        Ctl::open(self.dir()).unwrap()
    }
    /// Configure analog ports 1-2 as FXS (kewl start) and 3-4 as FXO, and the
    /// two T1 spans with `sig` on channels 1-23 and a D-channel on 24.
    fn configure(&self, t1: Signalling) {
        let ctl = self.ctl();
        for (ch, s) in
            [(1, Signalling::Fxs(Start::Kewl)), (2, Signalling::Fxs(Start::Kewl)), (3, Signalling::Fxo(Start::Kewl)), (4, Signalling::Fxo(Start::Kewl))]
        {
            ctl.configure_channel(&ChanConfig { chan: ch, signalling: s, law: None, idle_bits: 0 }).unwrap();
        }
        for span in [2u32, 3] {
            let lineconfig = dahdi_sys::DAHDI_CONFIG_ESF | dahdi_sys::DAHDI_CONFIG_B8ZS;
            ctl.configure_span(&LineConfig { span, timing: span - 1, lbo: 0, lineconfig }, "t1").unwrap();
            let first = if span == 2 { 5 } else { 29 };
            for k in 0..23 {
                ctl.configure_channel(&ChanConfig { chan: first + k, signalling: t1, law: None, idle_bits: 0b1001 }).unwrap();
            }
            ctl.configure_channel(&ChanConfig { chan: first + 23, signalling: Signalling::Dchan, law: None, idle_bits: 0 }).unwrap();
            ctl.startup(span).unwrap();
        }
    }
    fn open(&self, chan: u32, span_pos: Option<(u32, u32)>, nonblocking: bool) -> Channel {
        Channel::open(self.dir(), chan, span_pos, OpenOptionsDahdi { nonblocking }).unwrap()
    }
    fn with_line<R>(&self, chan: u32, f: impl FnOnce(&mut Line, u64) -> R) -> R {
        let mut st = self.sim().state.lock();
        let now = st.dahdi.now_ms;
        f(&mut st.dahdi.lines[chan as usize - 1], now)
    }
}

/// Wait for the next event, reading (and discarding) audio meanwhile.
fn wait_event(ch: &Channel, limit: Duration) -> Option<LineEvent> {
    let deadline = Instant::now() + limit;
    let mut buf = [0u8; 1024];
    while Instant::now() < deadline {
        if let Some(ev) = ch.next_event().unwrap() {
            return Some(ev);
        }
        match ch.read(&mut buf).unwrap() {
            Io::Event => continue,
            Io::Done(_) => {}
            Io::WouldBlock => std::thread::sleep(Duration::from_millis(2)),
        }
    }
    None
}

#[test]
fn a_channel_opens_by_its_node_or_by_specify_and_reports_its_parameters() {
    let rig = Rig::new();
    rig.configure(Signalling::Clear);
    let a = rig.open(1, Some((1, 1)), false);
    let p = a.params().unwrap();
    assert_eq!((p.chan, p.span, p.chanpos), (1, 1, 1));
    assert_eq!(p.signalling, Some(Signalling::Fxs(Start::Kewl)));
    drop(a);
    let b = rig.open(7, None, false);
    let p = b.params().unwrap();
    assert_eq!((p.chan, p.span, p.chanpos), (7, 2, 3));
    assert_eq!(p.signalling, Some(Signalling::Clear));
    assert_eq!(p.law, Some(Law::Mulaw));
    // Exclusive open, and unconfigured channels cannot be opened.
    let again = Channel::open(rig.dir(), 7, Some((2, 3)), OpenOptionsDahdi::default());
    assert!(matches!(again, Err(Error::Busy { .. })), "{again:?}");
    let ctl = rig.ctl();
    let spans = ctl.spans().unwrap();
    assert_eq!(spans.len(), 3);
    assert_eq!(spans[1].span_type, "T1");
    assert_eq!(spans[1].framing(), "esf");
    assert_eq!(spans[1].coding(), "b8zs");
    assert_eq!(spans[1].sync_source, 2, "span 2 has timing priority 1");
}

#[test]
fn block_size_buffers_and_law_can_be_set_and_read_back() {
    let rig = Rig::new();
    rig.configure(Signalling::Clear);
    let ch = rig.open(5, Some((2, 1)), false);
    ch.set_blocksize(160).unwrap();
    assert_eq!(ch.blocksize().unwrap(), 160);
    assert!(matches!(ch.set_blocksize(8), Err(Error::Invalid { .. })));
    ch.set_buffers(Policy::Immediate, Policy::Immediate, 4, 160).unwrap();
    let bi = ch.buffer_info().unwrap();
    assert_eq!((bi.numbufs, bi.bufsize), (4, 160));
    ch.set_law(Law::Alaw).unwrap();
    assert_eq!(ch.params().unwrap().law, Some(Law::Alaw));
    // A blocking read returns one 160-byte block every 20 ms.
    let start = Instant::now();
    let mut buf = [0u8; 400];
    for _ in 0..10 {
        assert_eq!(ch.read(&mut buf).unwrap(), Io::Done(160));
    }
    let el = start.elapsed();
    assert!(el >= Duration::from_millis(150) && el < Duration::from_millis(400), "10 blocks took {el:?}");
}

#[test]
fn events_arrive_while_audio_flows_and_elast_is_reported_as_an_event() {
    let rig = Rig::new();
    rig.configure(Signalling::Clear);
    let ch = rig.open(1, Some((1, 1)), true);
    ch.set_blocksize(160).unwrap();
    // Audio flows.
    let mut buf = [0u8; 160];
    let deadline = Instant::now() + Duration::from_secs(2);
    let mut blocks = 0;
    while blocks < 5 && Instant::now() < deadline {
        if let Io::Done(160) = ch.read(&mut buf).unwrap() {
            blocks += 1;
        } else {
            std::thread::sleep(Duration::from_millis(5));
        }
    }
    assert_eq!(blocks, 5);
    // The phone goes off-hook: reads now report the pending event (ELAST).
    rig.with_line(1, |l, now| {
        if let Line::Phone(p) = l {
            p.set_hook(now + 1, true)
        }
    });
    std::thread::sleep(Duration::from_millis(50));
    assert_eq!(ch.read(&mut buf).unwrap(), Io::Event);
    assert_eq!(ch.write(&buf).unwrap(), Io::Event);
    assert_eq!(ch.next_event().unwrap(), Some(LineEvent::RingOffHook));
    assert_eq!(ch.next_event().unwrap(), None);
    assert!(matches!(ch.read(&mut buf).unwrap(), Io::Done(_) | Io::WouldBlock));
}

#[test]
fn hdlc_frames_cross_a_back_to_back_span_whole() {
    let rig = Rig::new();
    rig.configure(Signalling::Clear);
    let a = rig.open(28, Some((2, 24)), false);
    let b = rig.open(52, Some((3, 24)), false);
    let frames: Vec<Vec<u8>> = vec![vec![0x00, 0x01, 0x7f], (0..200u8).collect(), vec![0x02, 0x01, 0x01, 0x03], vec![0xff; 1]];
    for f in &frames {
        assert_eq!(a.write_frame(f).unwrap(), Io::Done(f.len()));
    }
    let mut buf = [0u8; 512];
    for f in &frames {
        // A pending event (the span coming out of alarm after the
        // configuration, for instance) makes the read return ELAST first;
        // a D-channel reader takes the event and reads on, as here.
        let mut tries = 0;
        loop {
            match b.read_frame(&mut buf).unwrap() {
                Io::Done(n) => {
                    assert_eq!(&buf[..n], &f[..]);
                    break;
                }
                Io::Event if tries < 8 => {
                    tries += 1;
                    let _ = b.next_event().unwrap();
                }
                other => panic!("read_frame: {other:?}"),
            }
        }
    }
}

#[test]
fn cas_bits_cross_a_back_to_back_span() {
    let rig = Rig::new();
    rig.configure(Signalling::Cas);
    let a = rig.open(5, Some((2, 1)), false);
    let b = rig.open(29, Some((3, 1)), false);
    std::thread::sleep(Duration::from_millis(20));
    while b.next_event().unwrap().is_some() {}
    a.set_tx_bits(0b0101).unwrap();
    assert_eq!(wait_event(&b, Duration::from_secs(1)), Some(LineEvent::BitsChanged));
    assert_eq!(b.rx_bits().unwrap(), 0b0101);
    assert!(matches!(a.set_tx_bits(0x10), Err(Error::Invalid { .. })));
}

#[test]
fn alarm_changes_reach_channels_and_the_watcher() {
    let rig = Rig::new();
    rig.configure(Signalling::Clear);
    let ch = rig.open(5, Some((2, 1)), false);
    let ctl = rig.ctl();
    let mut watch = AlarmWatch::new();
    assert!(watch.poll(&ctl).unwrap().is_empty());
    rig.sim().state.lock().dahdi.set_span_alarms(1, Alarms::RED | Alarms::LOS);
    assert_eq!(wait_event(&ch, Duration::from_secs(1)), Some(LineEvent::Alarm));
    let st = ch.span_status().unwrap();
    assert!(st.alarms.contains(Alarms::RED) && st.alarms.contains(Alarms::LOS));
    assert_eq!(st.alarms.to_string(), "red,los");
    let changes = watch.poll(&ctl).unwrap();
    assert_eq!(changes.len(), 1);
    assert_eq!(changes[0].span, 2);
    rig.sim().state.lock().dahdi.set_span_alarms(1, 0);
    assert_eq!(wait_event(&ch, Duration::from_secs(1)), Some(LineEvent::NoAlarm));
    assert!(ch.span_status().unwrap().alarms.is_ok());
}

#[test]
fn a_channel_removed_while_in_use_reports_removed() {
    let rig = Rig::new();
    rig.configure(Signalling::Clear);
    let ch = rig.open(6, Some((2, 2)), false);
    ch.set_blocksize(160).unwrap();
    let mut buf = [0u8; 160];
    assert_eq!(ch.read(&mut buf).unwrap(), Io::Done(160));
    assert!(rig.sim().state.lock().dahdi.remove_chan(6));
    let err = loop {
        match ch.read(&mut buf) {
            Err(e) => break e,
            Ok(_) => {
                let _ = ch.next_event();
            }
        }
    };
    assert!(err.is_removed(), "{err}");
    assert!(err.to_string().contains("span 2 channel 6"), "{err}");
}

#[test]
fn dialling_from_an_fxo_port_reaches_the_central_office() {
    let rig = Rig::new();
    rig.configure(Signalling::Clear);
    let ch = rig.open(3, Some((1, 3)), false);
    ch.hook(Hook::OffHook).unwrap();
    std::thread::sleep(Duration::from_millis(50));
    ch.dial(DialMode::Dtmf, "5551234").unwrap();
    assert!(ch.dialing().unwrap());
    assert_eq!(wait_event(&ch, Duration::from_secs(3)), Some(LineEvent::DialComplete));
    let digits = rig.with_line(3, |l, _| if let Line::Co(c) = l { c.view.digits.clone() } else { String::new() });
    assert_eq!(digits, "5551234");
}

#[test]
fn the_async_form_delivers_audio_and_events() {
    let rig = Rig::new();
    rig.configure(Signalling::Clear);
    let ch = rig.open(2, Some((1, 2)), true);
    ch.set_blocksize(160).unwrap();
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    rt.block_on(async {
        let ach = AsyncChannel::new(ch).unwrap();
        let mut buf = [0u8; 160];
        for _ in 0..3 {
            let r = tokio::time::timeout(Duration::from_secs(1), ach.read(&mut buf)).await.expect("audio in time").unwrap();
            assert_eq!(r, Input::Audio(160));
        }
        rig.with_line(2, |l, now| {
            if let Line::Phone(p) = l {
                p.set_hook(now + 1, true)
            }
        });
        let deadline = Instant::now() + Duration::from_secs(2);
        loop {
            let r = tokio::time::timeout(Duration::from_secs(1), ach.read(&mut buf)).await.expect("input in time").unwrap();
            if r == Input::Event(LineEvent::RingOffHook) {
                break;
            }
            assert!(Instant::now() < deadline, "no off-hook event");
        }
        let w = tokio::time::timeout(Duration::from_secs(1), ach.write(&[0xffu8; 160])).await.unwrap().unwrap();
        assert_eq!(w, Ok(160));
    });
}

#[test]
fn the_batch_form_serves_many_channels_from_one_thread() {
    let rig = Rig::new();
    rig.configure(Signalling::Clear);
    let mut batch = Batch::new().unwrap();
    let mut ids = Vec::new();
    for pos in 1..=23u32 {
        let ch = rig.open(4 + pos, Some((2, pos)), true);
        ch.set_blocksize(160).unwrap();
        ids.push(batch.add(ch).unwrap());
    }
    let mut got = vec![0u32; ids.len()];
    let mut ready = Vec::new();
    let mut buf = [0u8; 160];
    let deadline = Instant::now() + Duration::from_secs(3);
    while got.iter().any(|&g| g < 10) && Instant::now() < deadline {
        batch.wait(Duration::from_millis(50), &mut ready).unwrap();
        for r in &ready {
            let ch = batch.get(r.id).unwrap();
            if r.event {
                let _ = ch.next_event();
            }
            if let Io::Done(160) = ch.read(&mut buf).unwrap() {
                got[r.id] += 1;
                assert_eq!(ch.write(&buf).unwrap(), Io::Done(160));
            }
        }
    }
    assert!(got.iter().all(|&g| g >= 10), "blocks per channel: {got:?}");
}
