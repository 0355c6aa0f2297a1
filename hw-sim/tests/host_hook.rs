//! DAHDI_HOOK from the host: ringing a phone on an FXS port with the ring
//! cadence (RINGERON/RINGEROFF), the phone answering, and WINK/FLASH on an
//! E&M trunk, blocking and non-blocking (EINPROGRESS, HOOKCOMPLETE), watched
//! from the far end of a T1 cross-connect.

mod common;

use std::time::{Duration, Instant};

use common::*;

const ANALOG: &str = r#"
[[card]]
model = "tdm410p"
ports = ["fxs", "fxs"]
"#;

const T1_PAIR: &str = r#"
[[card]]
model = "te220p"
[[card.span]]
type = "t1"
far_end = "cross"
peer = 2
[[card.span]]
type = "t1"
far_end = "cross"
peer = 1
"#;

#[test]
fn ring_rings_the_phone_with_the_cadence_and_answering_gives_ringoffhook() {
    let sim = Sim::start(ANALOG);
    let ctl = sim.ctl();
    chanconfig(&ctl, 1, d::DAHDI_SIG_FXOKS);
    let ch = sim.open_chan(1, 1);
    let mut c = sim.client();
    // 300 ms on, 500 ms off.
    set_cadence(&ch, &[300, 500]).expect("SETCADENCE");
    let phone = |c: &mut Client| call(c, "phone.get", json!({"chan": 1}));
    assert_eq!(phone(&mut c)["ringing"], json!(false));

    hook(&ch, d::DAHDI_RING).expect("HOOK RING (blocking returns at once)");
    let t0 = Instant::now();
    std::thread::sleep(Duration::from_millis(50));
    let v = phone(&mut c);
    assert_eq!((v["ringing"].clone(), v["rings"].clone()), (json!(true), json!(1)), "{v}");
    // A second RING while ringing is refused.
    assert_eq!(hook(&ch, d::DAHDI_RING), Err(Errno::EBUSY));

    // The cadence: ringer off at 300, on at 800, off at 1100, on at 1600.
    let evs = collect_events(&ch, t0, Duration::from_millis(1700).saturating_sub(t0.elapsed()));
    let (on, off) = (d::DAHDI_EVENT_RINGERON as i32, d::DAHDI_EVENT_RINGEROFF as i32);
    assert_eq!(evs.iter().map(|e| e.0).collect::<Vec<_>>(), vec![off, on, off, on], "{:?}", names(&evs));
    for ((_, at), want) in evs.iter().zip([300u64, 800, 1100, 1600]) {
        let at = at.as_millis() as u64;
        assert!(at + 20 >= want && at <= want + 80, "cadence event at {at} ms, expected {want} ms: {:?}", names(&evs));
    }
    let v = phone(&mut c);
    assert_eq!((v["ringing"].clone(), v["rings"].clone()), (json!(true), json!(3)), "third ring burst: {v}");

    // The phone answers in the third burst: RINGOFFHOOK, and the bell stops.
    call(&mut c, "phone.hook", json!({"chan": 1, "offhook": true}));
    expect_event(&ch, d::DAHDI_EVENT_RINGOFFHOOK, Duration::from_millis(150));
    assert_eq!(phone(&mut c)["ringing"], json!(false));
    // The host takes the call; the cadence stops with it.
    hook(&ch, d::DAHDI_OFFHOOK).expect("HOOK OFFHOOK");
    expect_no_event(&ch, Duration::from_millis(800));
    let v = phone(&mut c);
    assert_eq!((v["ringing"].clone(), v["rings"].clone(), v["offhook"].clone()), (json!(false), json!(3), json!(true)));
}

#[test]
fn ring_without_answer_then_ringoff_stops_the_bell() {
    let sim = Sim::start(ANALOG);
    let ctl = sim.ctl();
    chanconfig(&ctl, 2, d::DAHDI_SIG_FXOKS);
    let ch = sim.open_chan_nonblock(1, 2);
    let mut c = sim.client();
    assert_eq!(hook(&ch, d::DAHDI_RING), Err(Errno::EINPROGRESS), "O_NONBLOCK RING");
    std::thread::sleep(Duration::from_millis(100));
    assert_eq!(call(&mut c, "phone.get", json!({"chan": 2}))["ringing"], json!(true));
    hook(&ch, d::DAHDI_RINGOFF).expect("HOOK RINGOFF");
    std::thread::sleep(Duration::from_millis(50));
    assert_eq!(call(&mut c, "phone.get", json!({"chan": 2}))["ringing"], json!(false));
    // Default cadence (2 s on): had it kept ringing, RINGEROFF would come at 2000 ms.
    expect_no_event(&ch, Duration::from_millis(2200));
}

/// E&M on channel 1 of both spans; returns (ctl, near, far).
fn em_pair(sim: &Sim, nonblock_near: bool) -> (std::fs::File, std::fs::File, std::fs::File) {
    let ctl = sim.ctl();
    setup_t1(&ctl, 1, &[(1, d::DAHDI_SIG_EM, 0), (24, d::DAHDI_SIG_HARDHDLC, 0)]);
    setup_t1(&ctl, 2, &[(25, d::DAHDI_SIG_EM, 0), (48, d::DAHDI_SIG_HARDHDLC, 0)]);
    let near = if nonblock_near { sim.open_chan_nonblock(1, 1) } else { sim.open_chan(1, 1) };
    let far = sim.open_chan(2, 1);
    std::thread::sleep(Duration::from_millis(50));
    drain_events(&near);
    drain_events(&far);
    (ctl, near, far)
}

#[test]
fn blocking_wink_and_flash_return_when_done_and_the_far_end_sees_them() {
    let sim = Sim::start(T1_PAIR);
    let (_ctl, near, far) = em_pair(&sim, false);

    // FLASH needs an off-hook line; WINK an on-hook one.
    assert_eq!(hook(&near, d::DAHDI_FLASH), Err(Errno::EBUSY));

    // WINK: prewink 50 ms, wink 150 ms, then back on-hook.
    let t0 = Instant::now();
    hook(&near, d::DAHDI_WINK).expect("HOOK WINK");
    let took = t0.elapsed();
    assert!(took >= Duration::from_millis(180) && took <= Duration::from_millis(400), "blocking WINK took {took:?}");
    // Off-hook shorter than rxwinktime (250 ms) at the far end: a wink.
    let evs = collect_events(&far, t0, Duration::from_millis(400));
    assert_eq!(evs.iter().map(|e| e.0).collect::<Vec<_>>(), vec![d::DAHDI_EVENT_WINKFLASH as i32], "{:?}", names(&evs));
    expect_no_event(&near, Duration::from_millis(10));

    // Seize: the far end sees RINGOFFHOOK once rxwinktime has passed.
    hook(&near, d::DAHDI_OFFHOOK).unwrap();
    let t0 = Instant::now();
    expect_event(&far, d::DAHDI_EVENT_RINGOFFHOOK, Duration::from_millis(600));
    assert!(t0.elapsed() >= Duration::from_millis(230), "RINGOFFHOOK after {:?}, before rxwinktime", t0.elapsed());
    assert_eq!(hook(&near, d::DAHDI_WINK), Err(Errno::EBUSY), "no wink while off-hook");
    // Wait out the off-hook debounce (600 ms) so the line is plainly off-hook.
    std::thread::sleep(Duration::from_millis(700));

    // FLASH: preflash 50 ms, on-hook for flashtime 750 ms, off-hook again.
    let t0 = Instant::now();
    hook(&near, d::DAHDI_FLASH).expect("HOOK FLASH");
    let took = t0.elapsed();
    assert!(took >= Duration::from_millis(760) && took <= Duration::from_millis(1000), "blocking FLASH took {took:?}");
    // The far end (E&M, no EMFLASH) sees a real on-hook, then a new seizure.
    let evs = collect_events(&far, t0, Duration::from_millis(1300));
    let kinds: Vec<i32> = evs.iter().map(|e| e.0).collect();
    assert_eq!(kinds, vec![d::DAHDI_EVENT_ONHOOK as i32, d::DAHDI_EVENT_RINGOFFHOOK as i32], "{:?}", names(&evs));
    expect_no_event(&near, Duration::from_millis(10));
}

#[test]
fn nonblocking_wink_and_flash_give_einprogress_then_hookcomplete() {
    let sim = Sim::start(T1_PAIR);
    let (_ctl, near, far) = em_pair(&sim, true);

    let t0 = Instant::now();
    assert_eq!(hook(&near, d::DAHDI_WINK), Err(Errno::EINPROGRESS));
    assert!(t0.elapsed() < Duration::from_millis(100), "O_NONBLOCK WINK must not wait");
    let evs = collect_events(&near, t0, Duration::from_millis(400));
    assert_eq!(evs.iter().map(|e| e.0).collect::<Vec<_>>(), vec![d::DAHDI_EVENT_HOOKCOMPLETE as i32], "{:?}", names(&evs));
    let at = evs[0].1;
    assert!(at >= Duration::from_millis(180) && at <= Duration::from_millis(300), "HOOKCOMPLETE at {at:?}");
    expect_event(&far, d::DAHDI_EVENT_WINKFLASH, Duration::from_millis(100));

    hook(&near, d::DAHDI_OFFHOOK).unwrap();
    expect_event(&far, d::DAHDI_EVENT_RINGOFFHOOK, Duration::from_millis(600));
    std::thread::sleep(Duration::from_millis(700));
    expect_no_event(&near, Duration::from_millis(1));
    let t0 = Instant::now();
    assert_eq!(hook(&near, d::DAHDI_FLASH), Err(Errno::EINPROGRESS));
    let evs = collect_events(&near, t0, Duration::from_millis(1000));
    assert_eq!(evs.iter().map(|e| e.0).collect::<Vec<_>>(), vec![d::DAHDI_EVENT_HOOKCOMPLETE as i32], "{:?}", names(&evs));
    let at = evs[0].1;
    assert!(at >= Duration::from_millis(760) && at <= Duration::from_millis(900), "HOOKCOMPLETE at {at:?}");

    // HOOK makes no sense on a clear (HDLC) channel.
    let dchan = sim.open_chan(1, 24);
    assert_eq!(hook(&dchan, d::DAHDI_OFFHOOK), Err(Errno::EINVAL));
}
