//! End to end: CAS trunks bridged by `tandem run` to SIP, on the simulator.
//!
//! One tandem drives two spans of a simulated card that the simulator joins
//! back to back (`far_end = "cross"`): span 1 plays the carrier's switch,
//! span 2 the trunk (examples/sim/cas-t1-cross.toml, cas-e1-cross.toml, and
//! examples/gateway/cas-em-wink.toml (also run as immediate start, delay
//! dial and FGB), cas-fgd.toml, cas-r2.toml (also run as Mexico), as users
//! read them). A SIP call from peer 1 goes out on span 1, comes in on span 2
//! as a CAS call and rings peer 2; peer 2's calls go the other way.
//!
//! Addresses (apart from the other end-to-end files): tandem
//! `127.0.0.30:5060`; SIP peer 1 `127.0.0.31:5070`, peer 2
//! `127.0.0.32:5070` (each as UAC or UAS as the test needs).

use std::sync::Mutex;
use std::time::Duration;

use tandem_tests::gateway::{Lab, Sipp, SippOpts, Tandem, cdrs, header, wait_until};
use tandem_tests::rigs::{cas_states, control, example, example_config, start_tandem, unread};

static SERIAL: Mutex<()> = Mutex::new(());

const T: Duration = Duration::from_secs(10);
const CALL: Duration = Duration::from_secs(40);

const PEER1: &str = "127.0.0.31";
const PEER2: &str = "127.0.0.32";

/// An example gateway config with the test's device directory and scratch files.
fn config(name: &str, replace: &[(&str, &str)]) -> String {
    example_config(name, replace)
}

struct Rig {
    lab: Lab,
    _tandem: Tandem,
}

fn rig(sim: &str, cfg: String) -> Rig {
    let lab = Lab::start(&example(&format!("examples/sim/{sim}")));
    let tandem = start_tandem(&lab, &cfg);
    Rig { lab, _tandem: tandem }
}

/// Waits until no call is left and every CAS channel is idle again, and
/// the simulator shows idle bits on both spans' channels.
fn assert_all_idle(r: &Rig, idle_bits: u8) {
    let ok = wait_until(Duration::from_secs(15), || {
        let st = control(&r.lab, r#"{"op": "status"}"#);
        st["calls"] == 0 && cas_states(&r.lab).iter().all(|s| s.ends_with("=idle"))
    });
    assert!(ok, "channels not idle: {:?}", cas_states(&r.lab));
    let mut c = r.lab.client();
    // Channel 1 of span 1 and channel 25 (T1) / 32 (E1) of span 2 carry the calls.
    let ok = wait_until(T, || [1u32, 2].iter().all(|&ch| c.chan_get(ch).map(|v| v["txbits"].as_u64() == Some(u64::from(idle_bits))).unwrap_or(false)));
    assert!(ok, "span 1 channels do not send idle bits {idle_bits:04b}: {:?}", c.chan_get(1));
}

fn uas(lab: &Lab, name: &str, ip: &str, scenario: &str) -> Sipp {
    let port = if ip == PEER1 { 7310 } else { 7320 };
    Sipp::start(lab, name, SippOpts { scenario, ip, port: 5070, rtp_echo_port: Some(port), pause_ms: 500, ..SippOpts::default() })
}

fn uac(lab: &Lab, name: &str, ip: &str, called: &str, scenario: &str, pause_ms: u32) -> Sipp {
    let port = if ip == PEER1 { 7312 } else { 7322 };
    Sipp::start(
        lab,
        name,
        SippOpts {
            scenario,
            ip,
            port: 5070,
            rtp_echo_port: Some(port),
            pause_ms,
            service: Some(called),
            remote: Some("127.0.0.30:5060"),
            ..SippOpts::default()
        },
    )
}

/// A rejecting UAS answering `status reason`.
fn rejecter(lab: &Lab, ip: &str, status: &str, reason: &str) -> Sipp {
    let scen = lab.path(&format!("uas_reject_{status}.xml"));
    let text = example("tests/sipp/uas_reject.xml");
    std::fs::write(&scen, text.replace("@STATUS@", status).replace("@REASON@", reason)).expect("write");
    Sipp::start(lab, "rejecter", SippOpts { scenario: scen.to_str().expect("utf-8"), ip, port: 5070, ..SippOpts::default() })
}

/// A call from `from` to `to` through both spans, answered, cleared by the
/// caller (`caller_clears`) or by the called side; checks the numbers the
/// called peer sees.
fn call_through(r: &Rig, from: &str, to: &str, called: &str, calling: Option<&str>, caller_clears: bool) {
    let (uas_scen, uac_scen) = if caller_clears { ("uas_answer.xml", "uac_call.xml") } else { ("uas_hangup.xml", "uac_call_remote_bye.xml") };
    let mut callee = uas(&r.lab, &format!("callee-{to}"), to, uas_scen);
    let mut caller = uac(&r.lab, &format!("caller-{from}"), from, called, uac_scen, 1000);
    caller.expect_success(CALL);
    callee.expect_success(CALL);
    let invites = callee.received("INVITE ");
    assert_eq!(invites.len(), 1, "{}", callee.messages());
    let rline = invites[0].lines().next().unwrap_or("");
    assert!(rline.contains(&format!("sip:{called}@")), "called number: {rline}");
    assert!(header(&invites[0], "To").contains(called), "To: {}", header(&invites[0], "To"));
    if let Some(n) = calling {
        let from_h = header(&invites[0], "From");
        let pai = header(&invites[0], "P-Asserted-Identity");
        assert!(from_h.contains(n) || pai.contains(n), "calling number {n}: From {from_h} PAI {pai}");
    }
}

// ---------------------------------------------------------------------------
// T1 E&M

fn em_rig(signalling: &str) -> Rig {
    em_rig_with(signalling, "mf")
}

/// The E&M example on both spans with `signalling` and `digits` (mf or dtmf).
fn em_rig_with(signalling: &str, digits: &str) -> Rig {
    let cfg = config(
        "cas-em-wink.toml",
        &[
            (
                "signalling = \"em_wink\"\ndigits = \"mf\"\ndirection = \"both\"\nglare = \"keep\"",
                &format!("signalling = \"{signalling}\"\ndigits = \"{digits}\"\ndirection = \"both\"\nglare = \"keep\""),
            ),
            (
                "signalling = \"em_wink\"\ndigits = \"mf\"\ndirection = \"both\"\nglare = \"yield\"",
                &format!("signalling = \"{signalling}\"\ndigits = \"{digits}\"\ndirection = \"both\"\nglare = \"yield\""),
            ),
        ],
    );
    rig("cas-t1-cross.toml", cfg)
}

fn em_calls_both_ways_with_clearing_from_each_side(signalling: &str) {
    let r = em_rig(signalling);
    call_through(&r, PEER1, PEER2, "5551234", None, true);
    assert_all_idle(&r, 0b0000);
    call_through(&r, PEER1, PEER2, "5551235", None, false);
    assert_all_idle(&r, 0b0000);
    call_through(&r, PEER2, PEER1, "2125550142", None, true);
    assert_all_idle(&r, 0b0000);
    // CDRs name the spans and channels.
    let recs = cdrs(&r.lab, 6, T);
    assert!(
        recs.iter().any(|c| c["outbound"]["interface"] == "switch" && c["outbound"]["span"] == 1 && c["outbound"]["channel"].is_u64()),
        "a CDR of the call out on the switch span: {recs:?}"
    );
    assert!(
        recs.iter().any(|c| c["inbound"]["interface"] == "trunk" && c["inbound"]["span"] == 2 && c["called"] == "5551234"),
        "a CDR of the call in on the trunk span: {recs:?}"
    );
}

#[test]
fn em_wink_start_bridges_calls_both_ways_and_clears_from_each_side() {
    let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    em_calls_both_ways_with_clearing_from_each_side("em_wink");
}

#[test]
fn em_immediate_start_bridges_calls_both_ways() {
    let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    em_calls_both_ways_with_clearing_from_each_side("em_immediate");
}

#[test]
fn em_delay_dial_bridges_calls_both_ways() {
    let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    em_calls_both_ways_with_clearing_from_each_side("em_delay");
}

#[test]
fn fgb_bridges_calls_both_ways() {
    let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    em_calls_both_ways_with_clearing_from_each_side("fgb");
}

#[test]
fn fgd_carries_the_caller_as_ani_in_both_directions() {
    let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let r = rig("cas-t1-cross.toml", config("cas-fgd.toml", &[]));
    call_through(&r, PEER1, PEER2, "5551234", Some("2125550100"), true);
    assert_all_idle(&r, 0b0000);
    call_through(&r, PEER2, PEER1, "3125550199", Some("2125550100"), false);
    assert_all_idle(&r, 0b0000);
}

#[test]
fn em_wink_with_dtmf_digits_bridges_calls_both_ways() {
    let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let r = em_rig_with("em_wink", "dtmf");
    call_through(&r, PEER1, PEER2, "5551234", None, true);
    assert_all_idle(&r, 0b0000);
    call_through(&r, PEER2, PEER1, "2125550142", None, false);
    assert_all_idle(&r, 0b0000);
}

/// Peer 2 refuses a call from peer 1 with SIP `status`; the E&M trunk
/// carries the refusal in band (busy tone, SIT then reorder) as early media
/// and peer 1 must get 183 with SDP, hear the tone in its RTP before the
/// final response (the busy tone's 480 + 620 Hz for 486, the SIT's first
/// segment, 913.8 or 985.2 Hz, for 404) and then get `want`.
fn refusals_reach_the_caller(r: &Rig, refusals: &[(&str, &str, &str)]) {
    for &(status, reason, want) in refusals {
        let mut callee = rejecter(&r.lab, PEER2, status, reason);
        // peer 1's media is this test's socket: the scenario offers it.
        let rtp = std::net::UdpSocket::bind((PEER1, 0)).expect("rtp socket");
        rtp.set_read_timeout(Some(Duration::from_millis(100))).expect("timeout");
        let rtp_port = rtp.local_addr().expect("addr").port().to_string();
        let scen = r.lab.path(&format!("uac_reject_media_{status}.xml"));
        let text = example("tests/sipp/uac_reject.xml")
            .replace("c=IN IP[media_ip_type] [media_ip]", &format!("c=IN IP4 {PEER1}"))
            .replace("m=audio [media_port]", &format!("m=audio {rtp_port}"))
            .replace(
                r#"<log message="EARLY [$p183]"/>"#,
                r#"<log message="EARLY [$p183]"/><ereg regexp="m=audio [0-9]+" search_in="body" check_it="false" assign_to="sdp"/><log message="EARLY_SDP [$sdp]"/>"#,
            );
        std::fs::write(&scen, text).expect("write");
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let rx = {
            let stop = stop.clone();
            std::thread::spawn(move || {
                let mut audio: Vec<u8> = Vec::new();
                let mut buf = [0u8; 2048];
                let end = std::time::Instant::now() + CALL;
                while !stop.load(std::sync::atomic::Ordering::Relaxed) && std::time::Instant::now() < end {
                    if let Ok(n) = rtp.recv(&mut buf)
                        && n > 12
                        && buf[1] & 0x7f == 0
                    {
                        audio.extend_from_slice(&buf[12..n]);
                    }
                }
                audio
            })
        };
        let mut caller = Sipp::start(
            &r.lab,
            &format!("refused-{status}"),
            SippOpts {
                scenario: scen.to_str().expect("utf-8"),
                ip: PEER1,
                port: 5070,
                pause_ms: 500,
                service: Some("5551236"),
                remote: Some("127.0.0.30:5060"),
                ..SippOpts::default()
            },
        );
        caller.expect_success(CALL);
        callee.expect_success(CALL);
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        let audio = rx.join().expect("rtp thread");
        let log = caller.log();
        assert!(log.contains(&format!("FINAL {want}")), "SIP {status} from peer 2 should reach peer 1 as {want}: {log}");
        assert!(log.contains("EARLY SIP/2.0 183") && log.contains("EARLY_SDP m=audio"), "peer 1 should get 183 with SDP first: {log}");
        let freqs: &[f64] = if want == "486" { &[480.0, 620.0] } else { &[913.8, 985.2] };
        let frames = tone_frames(&audio, freqs);
        assert!(frames >= 10, "peer 1 should hear {freqs:?} Hz in band before the {want}: {frames} of {} 20 ms frames", audio.len() / 160);
        assert_all_idle(r, 0b0000);
    }
}

/// How many 20 ms frames of µ-law `audio` are mostly `freqs` (Goertzel).
fn tone_frames(audio: &[u8], freqs: &[f64]) -> usize {
    let mut pcm = vec![0i16; audio.len()];
    tandem_dsp::g711::Law::Mulaw.decode_slice(audio, &mut pcm);
    pcm.chunks_exact(160)
        .filter(|f| {
            let energy: f64 = f.iter().map(|&x| f64::from(x) * f64::from(x)).sum();
            if energy / 160.0 < 100.0 * 100.0 {
                return false;
            }
            let share: f64 = freqs
                .iter()
                .map(|&hz| {
                    let k = 2.0 * (2.0 * std::f64::consts::PI * hz / 8000.0).cos();
                    let (mut s1, mut s2) = (0.0, 0.0);
                    for &x in f.iter() {
                        let s0 = f64::from(x) + k * s1 - s2;
                        s2 = s1;
                        s1 = s0;
                    }
                    2.0 * (s1 * s1 + s2 * s2 - k * s1 * s2) / 160.0 / energy
                })
                .sum();
            share > 0.6
        })
        .count()
}

const EM_REFUSALS: [(&str, &str, &str); 2] = [("486", "Busy Here", "486"), ("404", "Not Found", "404")];

/// Busy (486) and unallocated (404) through an E&M trunk of `signalling`,
/// then a call that still completes on the same channels.
fn em_refusals_travel_in_band(signalling: &str) {
    let r = em_rig(signalling);
    refusals_reach_the_caller(&r, &EM_REFUSALS);
    call_through(&r, PEER1, PEER2, "5551234", None, true);
    assert_all_idle(&r, 0b0000);
}

#[test]
fn em_wink_refusals_travel_in_band_as_busy_tone_and_sit() {
    let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    em_refusals_travel_in_band("em_wink");
}

#[test]
fn em_immediate_start_refusals_travel_in_band_as_busy_tone_and_sit() {
    let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    em_refusals_travel_in_band("em_immediate");
}

#[test]
fn em_delay_dial_refusals_travel_in_band_as_busy_tone_and_sit() {
    let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    em_refusals_travel_in_band("em_delay");
}

#[test]
fn fgd_refusals_travel_in_band_as_busy_tone_and_sit() {
    let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let r = rig("cas-t1-cross.toml", config("cas-fgd.toml", &[]));
    refusals_reach_the_caller(&r, &EM_REFUSALS);
    // And a call still completes on the same channels afterwards.
    call_through(&r, PEER1, PEER2, "5551234", Some("2125550100"), true);
    assert_all_idle(&r, 0b0000);
}

// ---------------------------------------------------------------------------
// E1 MFC/R2

/// The idle ABCD bits of an R2 variant: C D = 0 1, China's 1 1.
fn r2_idle(variant: &str) -> u8 {
    if variant == "china" { 0b1011 } else { 0b1001 }
}

fn r2_rig(variant: &str) -> Rig {
    let idle = format!("idle_bits = \"{:04b}\"", r2_idle(variant));
    let cfg = config("cas-r2.toml", &[]).replace("variant = \"itu\"", &format!("variant = \"{variant}\"")).replace("idle_bits = \"1001\"", &idle);
    rig("cas-e1-cross.toml", cfg)
}

/// `refusals`: the SIP status peer 2 answers and the one peer 1 must get
/// (the variant's group B decides: Mexico has no "unallocated" signal and
/// sends B-2, busy, for it).
fn r2_calls_outcomes(variant: &str, refusals: &[(&str, &str, &str)]) {
    let r = r2_rig(variant);
    let idle = r2_idle(variant);
    call_through(&r, PEER1, PEER2, "5551234", Some("2125550100"), true);
    assert_all_idle(&r, idle);
    call_through(&r, PEER1, PEER2, "5551235", Some("2125550100"), false);
    assert_all_idle(&r, idle);
    call_through(&r, PEER2, PEER1, "2125599", Some("2125550100"), true);
    assert_all_idle(&r, idle);
    for &(status, reason, want) in refusals {
        let mut callee = rejecter(&r.lab, PEER2, status, reason);
        let mut caller = uac(&r.lab, &format!("refused-{status}"), PEER1, "5551236", "uac_reject.xml", 500);
        caller.expect_success(CALL);
        callee.expect_success(CALL);
        assert!(caller.log().contains(&format!("FINAL {want}")), "SIP {status} from peer 2 should reach peer 1 as {want}: {}", caller.log());
        assert_all_idle(&r, idle);
    }
}

#[test]
fn r2_itu_bridges_calls_both_ways_with_busy_and_unallocated() {
    let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    r2_calls_outcomes("itu", &[("486", "Busy Here", "486"), ("404", "Not Found", "404")]);
}

#[test]
fn r2_mexico_bridges_calls_both_ways_and_refuses_busy_and_unallocated_with_b2() {
    let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    r2_calls_outcomes("mexico", &[("486", "Busy Here", "486"), ("404", "Not Found", "486")]);
}

#[test]
fn r2_brazil_argentina_and_china_bridge_calls_both_ways_with_busy_and_unallocated() {
    let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    // Brazil: B-2 busy, B-7 unallocated; Argentina: the ITU group B; China:
    // B-2 busy, ITU's B-5 unallocated, idle bits 1011.
    for variant in ["brazil", "argentina", "china"] {
        r2_calls_outcomes(variant, &[("486", "Busy Here", "486"), ("404", "Not Found", "404")]);
    }
}

// ---------------------------------------------------------------------------
// Idle channels sleep

/// The first channel of each span (DAHDI numbers the spans' channels one
/// after the other).
fn first_channels(r: &Rig) -> Vec<u32> {
    let mut c = r.lab.client();
    let mut firsts = Vec::new();
    let mut last_span = None;
    for ch in 1..=64 {
        let Ok(v) = c.chan_get(ch) else { break };
        let span = v["span"].as_u64();
        if span.is_some() && span != last_span {
            firsts.push(ch);
            last_span = span;
        }
    }
    firsts
}

/// Waits until the first channel of every span is left unread (its shell asleep).
fn assert_asleep(r: &Rig, chans: &[u32]) {
    let mut c = r.lab.client();
    for &ch in chans {
        assert!(wait_until(Duration::from_secs(20), || unread(&mut c, ch)), "channel {ch}: its shell still reads it, idle");
    }
}

/// An idle trunk's shells stop reading their channels, and wake for calls
/// in both directions: the seizure's bit change (an event) wakes the called
/// side, the SIP call's commands the calling side.
fn idle_shells_sleep_and_wake_for_calls(r: Rig, idle: u8, calling: Option<&str>) {
    let chans = first_channels(&r);
    assert_eq!(chans.len(), 2, "two spans: {chans:?}");
    assert_asleep(&r, &chans);
    call_through(&r, PEER1, PEER2, "5551234", calling, true);
    assert_all_idle(&r, idle);
    assert_asleep(&r, &chans);
    call_through(&r, PEER2, PEER1, "2125599", calling, false);
    assert_all_idle(&r, idle);
    assert_asleep(&r, &chans);
}

#[test]
fn idle_em_wink_channels_are_left_unread_and_wake_for_calls_both_ways() {
    let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    idle_shells_sleep_and_wake_for_calls(em_rig("em_wink"), 0b0000, None);
}

#[test]
fn idle_r2_channels_are_left_unread_and_wake_for_calls_both_ways() {
    let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    idle_shells_sleep_and_wake_for_calls(r2_rig("itu"), r2_idle("itu"), Some("2125550100"));
}
