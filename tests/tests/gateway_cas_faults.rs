//! End to end: faults on a CAS trunk — glare, span alarms and bad input.
//!
//! One tandem with a two-way E&M wink-start trunk (`[[cas]] trunk`, DTMF
//! digits) on channels 1-4 of a simulated T1 span whose far end is
//! external: the test plays the carrier's switch through the simulator's
//! `trunk.bits` (the ABCD bits it sends), `trunk.get` (the bits tandem
//! sends, now and as they changed), `audio.play` (tones towards tandem) and
//! `audio.analyze` (the DTMF tandem outpulses). E&M on hook is A = 0
//! (`0000`), off hook A = 1 (`1111`); the busy-out pattern is off hook.
//!
//! Addresses (the same as gateway_cas_bank.rs, a different test binary):
//! tandem `127.0.0.40:5060`; the PBX (sipp) `127.0.0.41:5070` as UAC,
//! `127.0.0.41:5071` as UAS.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde_json::Value;
use tandem_tests::gateway::{Lab, Sipp, SippOpts, Tandem, cdrs, header, wait_until};

static SERIAL: Mutex<()> = Mutex::new(());

const T: Duration = Duration::from_secs(10);

const ON_HOOK: u8 = 0b0000;
const OFF_HOOK: u8 = 0b1111;
/// E&M busy-out: the channel sends off hook (signalling/src/cas/bits.rs, `RbsType::Em`).
const BUSY_OUT: u64 = 0b1111;

const SIM: &str = r#"
[[card]]
model = "te120p"
[[card.span]]
type = "t1"
far_end = "external"
"#;

fn config(glare: &str) -> String {
    format!(
        r#"
[general]
device_dir = "@DEV@"
cdr_file = "@DIR@/cdr.jsonl"
control_socket = "@DIR@/tandem.sock"
drain_timeout_s = 2

[dahdi]

[[dahdi.span]]
span = 1
type = "t1"
framing = "esf"
coding = "b8zs"
timing = 0

[[dahdi.span.group]]
channels = "1-24"
role = "cas"
idle_bits = "0000"

[[cas]]
name = "trunk"
span = 1
channels = "1-4"
signalling = "em_wink"
digits = "dtmf"
direction = "both"
glare = "{glare}"
max_digits = 7

# The test plays the far end over the simulator's control socket, whose
# round trips stretch under load: accept its 200 ms winks as up to 800 ms
# (a seizure still lasts longer: the glare tests hold it 2 s).
[cas.timers]
wink_rx_max = 800

[[group]]
name = "out"
members = ["trunk"]
hunt = "ascending"

[sip]
listen = ["udp:127.0.0.40:5060"]
rtp_ip = "127.0.0.40"
rtp_ports = "26000-26999"
t1_ms = 100

[[sip.trunk]]
name = "pbx"
kind = "peer"
host = "127.0.0.41:5071"
options_interval_s = 0

[[route]]
name = "out"
from = ["pbx"]
called = ["!"]
failover_causes = [34, 44]
target = [{{ group = "out" }}, {{ group = "out" }}]

[[route]]
name = "in"
from = ["trunk"]
called = ["!"]
target = [{{ trunk = "pbx" }}]
"#
    )
}

struct Rig {
    lab: Lab,
    tandem: Tandem,
}

fn rig(glare: &str) -> Rig {
    let lab = Lab::start(SIM);
    let tandem = Tandem::start(&lab, &config(glare));
    tandem.expect_log("tandem running", T);
    Rig { lab, tandem }
}

impl Rig {
    fn log(&self) -> String {
        self.tandem.log.all().join("\n")
    }

    /// The bits tandem sends on `ch`.
    fn tx(&self, ch: u32) -> u8 {
        self.lab.client().trunk_get(ch).map(|t| t.bits as u8).unwrap_or(0xff)
    }

    /// The far end sends `bits` on `ch`.
    fn far(&self, ch: u32, bits: u8) {
        self.lab.client().trunk_bits(ch, bits).unwrap_or_else(|e| panic!("trunk.bits {ch} {bits:04b}: {e}"));
    }

    fn wait_tx(&self, ch: u32, bits: u8, what: &str) {
        assert!(wait_until(T, || self.tx(ch) == bits), "{what}: channel {ch} sends {:04b}, not {bits:04b}; tandem's log:\n{}", self.tx(ch), self.log());
    }

    fn control(&self, req: &str) -> Value {
        use std::io::{BufRead, Write};
        let mut s = std::os::unix::net::UnixStream::connect(self.lab.path("tandem.sock")).expect("control socket");
        s.set_read_timeout(Some(T)).expect("timeout");
        s.write_all(format!("{req}\n").as_bytes()).expect("write");
        let mut line = String::new();
        std::io::BufReader::new(s).read_line(&mut line).expect("reply");
        serde_json::from_str(&line).expect("JSON reply")
    }

    /// Every CAS channel as `tandem status` lists it: "pos=state".
    fn states(&self) -> Vec<String> {
        let st = self.control(r#"{"op": "status"}"#);
        st["interfaces"]
            .as_array()
            .into_iter()
            .flatten()
            .flat_map(|i| i["cas_channels"].as_array().cloned().unwrap_or_default())
            .map(|c| format!("{}={}", c["pos"], c["state"].as_str().unwrap_or("?")))
            .collect()
    }

    /// No call left, every channel idle in `tandem status` and sending on hook.
    fn expect_all_idle(&mut self, within: Duration) {
        assert!(self.tandem.running(), "tandem died; its log:\n{}", self.log());
        let ok = wait_until(within, || {
            let st = self.control(r#"{"op": "status"}"#);
            let states = self.states();
            st["calls"] == 0 && states.len() == 4 && states.iter().all(|s| s.ends_with("=idle")) && (1..=4).all(|ch| self.tx(ch) == ON_HOOK)
        });
        assert!(
            ok,
            "not every channel is idle: {:?}, bits {:?}; tandem's log:\n{}",
            self.states(),
            (1..=4).map(|ch| self.tx(ch)).collect::<Vec<_>>(),
            self.log()
        );
    }

    /// The far end winks on `ch` (a seizure acknowledgement: off hook for 200 ms).
    fn wink(&self, ch: u32) {
        std::thread::sleep(Duration::from_millis(150));
        self.far(ch, OFF_HOOK);
        std::thread::sleep(Duration::from_millis(200));
        self.far(ch, ON_HOOK);
    }

    /// Waits until the DTMF tandem sent on `ch` in the last 10 s contains `digits`.
    fn expect_dtmf(&self, ch: u32, digits: &str) {
        let mut c = self.lab.client();
        let mut heard = String::new();
        let ok = wait_until(T, || {
            heard = c.audio_analyze(ch, 10_000).map(|a| a.dtmf).unwrap_or_default();
            heard.contains(digits)
        });
        assert!(ok, "channel {ch}: the far end heard DTMF {heard:?}, not {digits}; tandem's log:\n{}", self.log());
    }
}

/// The PBX calls `called` through tandem (uac_call.xml: it hangs up
/// `hold_ms` after the answer, or uac_call_remote_bye.xml: it waits for BYE).
fn pbx_call(lab: &Lab, name: &str, called: &str, scenario: &str, hold_ms: u32) -> Sipp {
    Sipp::start(
        lab,
        name,
        SippOpts {
            scenario,
            ip: "127.0.0.41",
            port: 5070,
            rtp_echo_port: Some(7410),
            pause_ms: hold_ms,
            service: Some(called),
            remote: Some("127.0.0.40:5060"),
            ..SippOpts::default()
        },
    )
}

/// A whole outgoing call on `ch` with the far end acting properly: seizure,
/// wink, DTMF, answer, the PBX's hang-up, the far end's clear.
fn normal_call(r: &mut Rig, ch: u32, called: &str) {
    let mut sipp = pbx_call(&r.lab, "normal", called, "uac_call.xml", 1000);
    r.wait_tx(ch, OFF_HOOK, "the seizure of a normal call");
    r.wink(ch);
    r.expect_dtmf(ch, called);
    r.far(ch, OFF_HOOK);
    assert!(wait_until(T, || !sipp.received("SIP/2.0 200").is_empty()), "no 200 for the answered call; log:\n{}", r.log());
    sipp.expect_success(T);
    r.wait_tx(ch, ON_HOOK, "tandem's clear after the PBX hung up");
    r.far(ch, ON_HOOK);
    r.expect_all_idle(T);
}

#[test]
fn glare_on_a_wink_trunk_set_to_keep_holds_our_seizure_until_the_far_end_backs_off_and_the_call_completes() {
    let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let mut r = rig("keep");
    let mut sipp = pbx_call(&r.lab, "glare", "5551234", "uac_call.xml", 1000);
    r.wait_tx(1, OFF_HOOK, "tandem's seizure");
    // The far end seizes the same channel at the same time: its A bit stays
    // up far longer than a wink (800 ms at most here).
    r.far(1, OFF_HOOK);
    std::thread::sleep(Duration::from_millis(2000));
    assert_eq!(r.tx(1), OFF_HOOK, "with glare = keep tandem holds its seizure; log:\n{}", r.log());
    // The far end yields, then acknowledges our seizure with a wink.
    r.far(1, ON_HOOK);
    r.wink(1);
    r.expect_dtmf(1, "5551234");
    r.far(1, OFF_HOOK);
    assert!(wait_until(T, || !sipp.received("SIP/2.0 200").is_empty()), "no 200 after the glare; log:\n{}", r.log());
    sipp.expect_success(T);
    r.wait_tx(1, ON_HOOK, "tandem's clear");
    r.far(1, ON_HOOK);
    r.expect_all_idle(T);
    let c = cdrs(&r.lab, 1, T);
    assert!(c[0]["answer"].is_string(), "the glared call was answered: {}", c[0]);
    assert_eq!(c[0]["outbound"]["channel"], 1, "{}", c[0]);
    // And the next call works.
    normal_call(&mut r, 1, "5550000");
}

#[test]
fn glare_on_a_wink_trunk_set_to_yield_gives_the_channel_to_the_far_end_and_the_sip_call_moves_to_the_next_channel() {
    let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let mut r = rig("yield");
    let mut sipp = pbx_call(&r.lab, "glare", "5551234", "uac_call.xml", 1000);
    r.wait_tx(1, OFF_HOOK, "tandem's seizure");
    r.far(1, OFF_HOOK);
    // Tandem yields: it drops its seizure and winks for the far end's call;
    // call control retries the SIP call (cause 44) on channel 2.
    let mut c = r.lab.client();
    let winked = wait_until(T, || {
        let seen = c.trunk_get(1).map(|t| t.seen).unwrap_or_default();
        // ... off hook (our seizure), on hook (yield), off hook (wink), on hook.
        let tail: Vec<u32> = seen.iter().map(|s| s.1).collect();
        tail.windows(4).any(|w| w == [15, 0, 15, 0])
    });
    assert!(winked, "channel 1 did not yield and wink: {:?}; log:\n{}", c.trunk_get(1).map(|t| t.seen), r.log());
    r.wait_tx(2, OFF_HOOK, "the retried seizure on channel 2");
    // The far end abandons its call on channel 1 before dialling.
    r.far(1, ON_HOOK);
    // Channel 2 completes.
    r.wink(2);
    r.expect_dtmf(2, "5551234");
    r.far(2, OFF_HOOK);
    assert!(wait_until(T, || !sipp.received("SIP/2.0 200").is_empty()), "no 200 for the retried call; log:\n{}", r.log());
    sipp.expect_success(T);
    r.wait_tx(2, ON_HOOK, "tandem's clear");
    r.far(2, ON_HOOK);
    r.expect_all_idle(Duration::from_secs(15));
    let c = cdrs(&r.lab, 1, T);
    assert_eq!(c[0]["attempts"], 2, "{}", c[0]);
    assert_eq!(c[0]["outbound"]["channel"], 2, "{}", c[0]);
    normal_call(&mut r, 1, "5550000");
}

#[test]
fn an_alarm_during_an_answered_call_clears_it_with_bye_busies_the_channels_out_and_they_come_back_after_recovery() {
    let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let mut r = rig("yield");
    let mut sipp = pbx_call(&r.lab, "alarmed", "5551234", "uac_call_remote_bye.xml", 1000);
    r.wait_tx(1, OFF_HOOK, "tandem's seizure");
    r.wink(1);
    r.expect_dtmf(1, "5551234");
    r.far(1, OFF_HOOK);
    assert!(wait_until(T, || !sipp.received("SIP/2.0 200").is_empty()), "no 200; log:\n{}", r.log());
    // Red alarm: the call is cleared toward SIP with cause 38 (network out of order).
    let mut c = r.lab.client();
    c.span_alarm(1, &["red"]).expect("span.alarm red");
    assert!(wait_until(T, || !sipp.received("BYE ").is_empty()), "no BYE after the alarm; log:\n{}", r.log());
    let bye = sipp.received("BYE ").remove(0);
    assert!(header(&bye, "Reason").contains("cause=38"), "the BYE's cause: {bye}");
    sipp.expect_success(T);
    // Every channel is busied out (sends off hook) and shown in alarm.
    let busied = wait_until(T, || (1..=4).all(|ch| c.chan_get(ch).map(|v| v["txbits"].as_u64() == Some(BUSY_OUT)).unwrap_or(false)));
    assert!(busied, "channels not busied out: {:?}", (1..=4).map(|ch| c.chan_get(ch).map(|v| v["txbits"].clone())).collect::<Vec<_>>());
    assert!(wait_until(T, || r.states().iter().all(|s| s.ends_with("=alarm"))), "{:?}", r.states());
    // A SIP call meanwhile is refused: no channel to take it.
    let mut refused = pbx_call(&r.lab, "refused", "5550001", "uac_reject.xml", 500);
    refused.expect_success(T);
    let got = refused.log();
    assert!(got.contains("FINAL 503") && got.contains("cause=34"), "the call during the alarm got: {got}");
    // The busy-out holds while the alarm lasts.
    std::thread::sleep(Duration::from_millis(500));
    assert!((1..=4).all(|ch| c.chan_get(ch).map(|v| v["txbits"].as_u64() == Some(BUSY_OUT)).unwrap_or(false)), "busy-out ended early");
    // Recovery: the far end is on hook, the alarm clears, the channels return.
    r.far(1, ON_HOOK);
    c.span_alarm(1, &[]).expect("span.alarm clear");
    r.expect_all_idle(T);
    let cdr = cdrs(&r.lab, 2, T);
    let first = cdr.iter().find(|c| c["answer"].is_string()).unwrap_or_else(|| panic!("{cdr:?}"));
    assert_eq!(first["cause"], 38, "{first}");
    normal_call(&mut r, 1, "5550000");
}

/// A small deterministic generator (xorshift), so a failure can be replayed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

#[test]
fn garbage_bits_fast_and_slow_leave_tandem_running_every_channel_idle_and_a_call_working() {
    let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let mut r = rig("yield");
    let mut rng = Rng(0x5eed_cafe_f00d_0001);
    let mut c = r.lab.client();
    // Fast: 400 random ABCD patterns on random channels, 2-20 ms apart
    // (flicker shorter than the debounce); bounded to 20 s.
    let start = Instant::now();
    for _ in 0..400 {
        if start.elapsed() > Duration::from_secs(20) {
            break;
        }
        c.trunk_bits(1 + rng.below(4) as u32, rng.below(16) as u8).expect("trunk.bits");
        std::thread::sleep(Duration::from_millis(2 + rng.below(19)));
    }
    // Slow: 30 patterns held 100-700 ms (seizures, winks, half winks, clears);
    // bounded to 30 s.
    let start = Instant::now();
    for _ in 0..30 {
        if start.elapsed() > Duration::from_secs(30) {
            break;
        }
        c.trunk_bits(1 + rng.below(4) as u32, rng.below(16) as u8).expect("trunk.bits");
        std::thread::sleep(Duration::from_millis(100 + rng.below(600)));
    }
    for ch in 1..=4 {
        r.far(ch, ON_HOOK);
    }
    // Every half-started call times out (first digit 5 s, clear wait 10 s).
    r.expect_all_idle(Duration::from_secs(30));
    // What tandem made of the garbage is in its bit trace: every debounced
    // change it received (and each wink it answered a "seizure" with).
    assert!(r.tandem.log.count(" rx ABCD=") >= 20, "the received bits were not traced:\n{}", r.log());
    assert!(r.tandem.log.count(" tx ABCD=1111") >= 1, "tandem never answered a seizure with a wink:\n{}", r.log());
    normal_call(&mut r, 1, "5551234");
}

#[test]
fn mf_and_dtmf_floods_on_idle_and_seized_channels_leave_tandem_running_every_channel_idle_and_a_call_working() {
    let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let mut r = rig("yield");
    // A PBX that refuses whatever number a flood makes up.
    let scen = r.lab.path("uas_reject_404.xml");
    let text = std::fs::read_to_string(tandem_tests::repo_path("tests/sipp/uas_reject.xml")).expect("uas_reject.xml");
    std::fs::write(&scen, text.replace("@STATUS@", "404").replace("@REASON@", "Not Found")).expect("write");
    let uas =
        Sipp::start(&r.lab, "pbx-uas", SippOpts { scenario: scen.to_str().expect("utf-8"), ip: "127.0.0.41", port: 5071, calls: 100, ..SippOpts::default() });
    let mut c = r.lab.client();
    // Idle channels: continuous Bell MF KP (1100 + 1700 Hz) on 1, a fast
    // DTMF "0" train (40 ms on, 40 ms off) on 2.
    c.audio_play_tone(1, &[1100.0, 1700.0], -7.0).expect("MF KP");
    c.audio_play_cadenced(2, &[941.0, 1336.0], -7.0, &[(40, 40)]).expect("DTMF train");
    // Seized channels: the far end seizes 3 and 4, tandem winks, and then gets
    // the DTMF train on 3 and random dual tones on 4 instead of a number.
    r.far(3, OFF_HOOK);
    r.far(4, OFF_HOOK);
    c.audio_play_cadenced(3, &[852.0, 1477.0], -7.0, &[(40, 40)]).expect("DTMF train");
    let mut rng = Rng(0x0ddb_a115_eed0);
    let start = Instant::now();
    for _ in 0..60 {
        if start.elapsed() > Duration::from_secs(15) {
            break;
        }
        let f1 = 300.0 + rng.below(3300) as f32;
        let f2 = 300.0 + rng.below(3300) as f32;
        c.audio_play_cadenced(4, &[f1, f2], -7.0, &[(30 + rng.below(100) as u32, 20 + rng.below(60) as u32)]).expect("random tones");
        std::thread::sleep(Duration::from_millis(100));
    }
    for ch in 1..=4 {
        c.audio_play_silence(ch).expect("silence");
        r.far(ch, ON_HOOK);
    }
    r.expect_all_idle(Duration::from_secs(30));
    drop(uas);
    normal_call(&mut r, 1, "5551234");
}
