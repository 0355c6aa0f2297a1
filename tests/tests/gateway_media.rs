//! End to end: the media path of `tandem run` (issue 6's acceptance).
//!
//! A PRI from the simulated carrier (`q931-peer` on the simulator's external
//! D-channel) is bridged by `tandem run` to sipp, which does the SIP
//! signalling; the RTP endpoint is this test itself. The scenarios
//! (`uas_answer_media.xml`, `uac_call_media.xml`) put the test's UDP socket
//! in their SDP, so tandem's RTP comes here to be decoded and measured, and
//! the test sends RTP (tones, RFC 4733 events, losses, reordering, garbage)
//! to the address tandem's RTP comes from. The B-channel end is the
//! simulator's far end (`audio.play`, `audio.analyze`, `audio.save`).
//!
//! A T1 span is µ-law and an E1 span A-law; the trunk's `codecs` decides
//! the negotiated codec, so PCMU on E1 and PCMA on T1 go through the
//! pump's transcoder.
//!
//! Addresses (apart from the other end-to-end tests, which may run at the
//! same time): tandem `127.0.0.3:5060`, RTP on `127.0.0.3`; the PBX (sipp
//! UAS) `127.0.0.13:5070`; the SIP caller (sipp UAC) `127.0.0.14:5070`;
//! the test's RTP socket `127.0.0.15:7400`; strangers `127.0.0.66` and
//! other ports of `127.0.0.15`. A lock runs the tests one at a time.

use std::net::{SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use serde_json::Value;
use tandem_dsp::g711::Law;
use tandem_dsp::goertzel::{estimate_frequency, level_dbm0};
use tandem_dsp::tone::Oscillator;
use tandem_media::wire::{RtpRepr, TelephoneEventCode, TelephoneEventRepr};
use tandem_tests::gateway::{Lab, Sipp, SippOpts, wait_until};
use tandem_tests::rigs::{PriRig as Rig, PriSipConfig, PriSpan, cdrs, peer_trunk, pri_sim, routes_both_ways};

static SERIAL: Mutex<()> = Mutex::new(());

const T: Duration = Duration::from_secs(10);

/// The test's RTP address (the SDP of both scenarios points here).
const RTP_IP: &str = "127.0.0.15";
const RTP_PORT: u16 = 7400;
/// The telephone-event payload type both scenarios offer and answer.
const PT_EVENT: u8 = 101;
/// 20 ms of G.711.
const FRAME: usize = 160;

/// The kind of PRI span, and so the B-channel's law.
#[derive(Clone, Copy, Debug)]
enum Span {
    /// µ-law, NI-2, D-channel on 24.
    T1,
    /// A-law, EuroISDN, D-channel on time slot 16.
    E1,
}

impl Span {
    /// The span's type, channels and Q.931 variant.
    fn pri(self) -> PriSpan {
        match self {
            Span::T1 => PriSpan::T1_NI2,
            Span::E1 => PriSpan::E1_EURO,
        }
    }

    /// The simulator's name of the span's law.
    fn law_name(self) -> &'static str {
        match self {
            Span::T1 => "mulaw",
            Span::E1 => "alaw",
        }
    }

    fn switch(self) -> &'static str {
        self.pri().switch
    }
}

/// A negotiated codec: its payload type and law.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Codec {
    Pcmu,
    Pcma,
}

impl Codec {
    fn pt(self) -> u8 {
        match self {
            Codec::Pcmu => 0,
            Codec::Pcma => 8,
        }
    }

    fn law(self) -> Law {
        match self {
            Codec::Pcmu => Law::Mulaw,
            Codec::Pcma => Law::Alaw,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Codec::Pcmu => "pcmu",
            Codec::Pcma => "pcma",
        }
    }
}

/// The daemon's config: one PRI (user side, traced) on span 1, the PBX
/// trunk offering only `codec`, routes both ways.
fn config(span: Span, codec: Codec) -> String {
    PriSipConfig {
        span: span.pri(),
        country_code: None,
        trace: true,
        trunks: peer_trunk("pbx", "127.0.0.13:5070", "\"127.0.0.13\", \"127.0.0.14\"", &format!("options_interval_s = 0\ncodecs = [\"{}\"]", codec.name())),
        routes: routes_both_ways("pbx", r#"[{ trunk = "pbx" }]"#),
        ..PriSipConfig::new("127.0.0.3", "23000-23999")
    }
    .render()
}

/// Simulator, the carrier's switch (q931-peer, network side) and tandem,
/// with the D-channel up on both ends.
fn rig(span: Span, codec: Codec) -> Rig {
    Rig::start_in(Lab::start(&pri_sim(span.pri().kind)), &config(span, codec), span.switch(), &[])
}

/// The PBX (sipp UAS) answering `calls` calls with the test's RTP socket.
fn pbx(lab: &Lab, calls: u32) -> Sipp {
    Sipp::start(lab, "pbx", SippOpts { scenario: "uas_answer_media.xml", ip: "127.0.0.13", calls, pause_ms: 100, ..SippOpts::default() })
}

/// A SIP caller (sipp UAC) offering PCMU and PCMA with the test's RTP socket.
fn sip_caller(lab: &Lab, called: &str) -> Sipp {
    Sipp::start(
        lab,
        "uac",
        SippOpts { scenario: "uac_call_media.xml", ip: "127.0.0.14", service: Some(called), remote: Some("127.0.0.3:5060"), ..SippOpts::default() },
    )
}

fn num(v: &Value, key: &str) -> i64 {
    v[key].as_i64().unwrap_or_else(|| panic!("no {key} in {v}"))
}

// ---------------------------------------------------------------------------
// The test's RTP endpoint

/// One RTP packet the test received.
#[derive(Clone, Debug)]
struct Rx {
    from: SocketAddr,
    pt: u8,
    marker: bool,
    seq: u16,
    ts: u32,
    payload: Vec<u8>,
}

/// A UDP socket on the test's RTP address whose thread keeps every RTP
/// packet that arrives.
struct RtpPeer {
    sock: Arc<UdpSocket>,
    rx: Arc<Mutex<Vec<Rx>>>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl RtpPeer {
    fn bind() -> RtpPeer {
        let sock = Arc::new(UdpSocket::bind((RTP_IP, RTP_PORT)).expect("bind the test's RTP socket"));
        sock.set_read_timeout(Some(Duration::from_millis(50))).expect("timeout");
        let rx: Arc<Mutex<Vec<Rx>>> = Arc::default();
        let stop = Arc::new(AtomicBool::new(false));
        let (s, r, st) = (sock.clone(), rx.clone(), stop.clone());
        let thread = std::thread::spawn(move || {
            let mut buf = [0u8; 2048];
            while !st.load(Ordering::Relaxed) {
                let Ok((n, from)) = s.recv_from(&mut buf) else { continue };
                let Ok(h) = RtpRepr::parse_bytes(&buf[..n]) else { continue };
                let start = h.header_len();
                let payload = buf[start..start + h.payload_len].to_vec();
                let p = Rx { from, pt: h.payload_type, marker: h.marker, seq: h.sequence_number, ts: h.timestamp, payload };
                r.lock().expect("rx").push(p);
            }
        });
        RtpPeer { sock, rx, stop, thread: Some(thread) }
    }

    fn packets(&self) -> Vec<Rx> {
        self.rx.lock().expect("rx").clone()
    }

    /// The `n`-th distinct address RTP came from (0-based), waiting for it.
    fn source(&self, n: usize) -> SocketAddr {
        let mut found = None;
        wait_until(T, || {
            let mut seen: Vec<SocketAddr> = Vec::new();
            for p in self.rx.lock().expect("rx").iter() {
                if !seen.contains(&p.from) {
                    seen.push(p.from);
                }
            }
            found = seen.get(n).copied();
            found.is_some()
        });
        found.unwrap_or_else(|| panic!("no RTP from a {}th source within {T:?}", n + 1))
    }

    /// The audio of the last `frames` packets from `from` with payload type
    /// `pt`, in sequence order, decoded.
    fn audio(&self, from: SocketAddr, codec: Codec, frames: usize) -> Vec<i16> {
        let mut ps: Vec<Rx> = self.packets().into_iter().filter(|p| p.from == from && p.pt == codec.pt()).collect();
        let skip = ps.len().saturating_sub(frames);
        ps.drain(..skip);
        ps.sort_by_key(|p| p.seq);
        ps.iter().flat_map(|p| p.payload.iter().map(|&c| codec.law().decode(c))).collect()
    }
}

impl Drop for RtpPeer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// What the talker sends in one 20 ms slot.
#[derive(Clone, Debug)]
struct Slot {
    /// Datagrams sent in this slot, in order.
    packets: Vec<Vec<u8>>,
}

/// A planned RTP stream: one entry per 20 ms slot. Built by [`Plan::tone`]
/// and changed by [`Plan::dtmf`], [`Plan::lose_and_reorder`].
struct Plan {
    slots: Vec<Slot>,
    /// Per slot: the audio frame's sequence number (for reordering/loss).
    seq0: u16,
}

const SSRC: u32 = 0x7E57_0001;
const TS0: u32 = 0x1000_0000;

impl Plan {
    /// `seconds` of a tone (`freq` Hz at `level` dBm0, or silence for 0 Hz)
    /// in `codec`, one packet per 20 ms.
    fn tone(codec: Codec, freq: f32, level: f32, seconds: u32) -> Plan {
        let mut osc = Oscillator::new(if freq > 0.0 { freq } else { 1000.0 }, level);
        let seq0 = 1000u16;
        let n = seconds as usize * 50;
        let mut slots = Vec::with_capacity(n);
        let mut samples = [0i16; FRAME];
        for i in 0..n {
            osc.fill(&mut samples);
            if freq <= 0.0 {
                samples.fill(0);
            }
            let payload: Vec<u8> = samples.iter().map(|&s| codec.law().encode(s)).collect();
            let mut h = RtpRepr::new(codec.pt(), seq0.wrapping_add(i as u16), TS0.wrapping_add((i * FRAME) as u32), SSRC, FRAME);
            h.marker = i == 0;
            slots.push(Slot { packets: vec![h.to_vec(&payload).expect("emit RTP")] });
        }
        Plan { slots, seq0 }
    }

    /// Replace the audio from slot `at` on with RFC 4733 events for
    /// `digits`, each `on` slots long (updates every slot, then the end
    /// packet three times) and followed by `off` slots of audio.
    fn dtmf(&mut self, at: usize, digits: &str, on: usize, off: usize) {
        let mut slot = at;
        for d in digits.chars() {
            let code = TelephoneEventCode::from_dtmf_char(d).expect("a DTMF digit");
            let ts = TS0.wrapping_add((slot * FRAME) as u32);
            for k in 0..on {
                let i = slot + k;
                let seq = self.seq0.wrapping_add(i as u16);
                let end = k + 1 == on;
                let ev = TelephoneEventRepr { event: code, end, volume: 10, duration: ((k + 1) * FRAME) as u16 };
                let mut h = RtpRepr::new(PT_EVENT, seq, ts, SSRC, 4);
                h.marker = k == 0;
                let bytes = h.to_vec(&ev.to_bytes().expect("event")).expect("emit RTP");
                // RFC 4733 §2.5.1.4: the end packet three times, same sequence number.
                self.slots[i].packets = if end { vec![bytes.clone(), bytes.clone(), bytes] } else { vec![bytes] };
            }
            slot += on + off;
        }
    }

    /// Drop the audio packet of each slot in `lose` and send the packet of
    /// each slot in `swap` after the next slot's.
    fn lose_and_reorder(&mut self, lose: &[usize], swap: &[usize]) {
        for &i in lose {
            self.slots[i].packets.clear();
        }
        for &i in swap {
            let p = std::mem::take(&mut self.slots[i].packets);
            self.slots[i + 1].packets.extend(p);
        }
    }
}

/// A thread sending a [`Plan`] from the test's RTP socket on a 20 ms
/// clock, until the plan ends or it is stopped.
struct Talker {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<usize>>,
}

impl Talker {
    fn start(peer: &RtpPeer, to: SocketAddr, plan: Plan) -> Talker {
        let sock = peer.sock.clone();
        let stop = Arc::new(AtomicBool::new(false));
        let st = stop.clone();
        let thread = std::thread::spawn(move || {
            let t0 = Instant::now();
            for (i, slot) in plan.slots.iter().enumerate() {
                if st.load(Ordering::Relaxed) {
                    return i;
                }
                let due = t0 + Duration::from_millis(20 * i as u64);
                if let Some(d) = due.checked_duration_since(Instant::now()) {
                    std::thread::sleep(d);
                }
                for p in &slot.packets {
                    let _ = sock.send_to(p, to);
                }
            }
            plan.slots.len()
        });
        Talker { stop, thread: Some(thread) }
    }

    /// Stop; returns the slots sent.
    fn stop(mut self) -> usize {
        self.stop.store(true, Ordering::Relaxed);
        self.thread.take().map(|t| t.join().expect("talker")).unwrap_or(0)
    }
}

impl Drop for Talker {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

// ---------------------------------------------------------------------------
// Measurements

/// Frequency (Hz) and level (dBm0) of samples; panics on no tone.
fn measure(samples: &[i16], what: &str) -> (f64, f64) {
    let f = estimate_frequency(samples).unwrap_or_else(|| panic!("{what}: no tone in {} samples", samples.len()));
    (f64::from(f), f64::from(level_dbm0(samples)))
}

/// What the simulator heard on a B-channel over the last `ms`.
fn analyze(sim: &mut hw_sim::client::Client, chan: u64, ms: u32) -> Value {
    sim.call("audio.analyze", serde_json::json!({"chan": chan, "ms": ms})).expect("audio.analyze")
}

/// What tandem wrote to a B-channel over the last `ms`, as linear samples.
fn recorded(lab: &Lab, sim: &mut hw_sim::client::Client, chan: u64, ms: u32, name: &str) -> Vec<i16> {
    let path = lab.path(name);
    sim.audio_save(chan as u32, &path, Some(ms)).expect("audio.save");
    let bytes = std::fs::read(&path).expect("read the saved WAV");
    tandem_dsp::wav::read_wav_bytes(&bytes).expect("a WAV").samples
}

/// The quietest 10 ms window (dBm0) of a recording, and where it starts.
fn quietest_window(samples: &[i16]) -> (f64, usize) {
    let mut worst = (f64::MAX, 0);
    for (i, w) in samples.chunks_exact(80).enumerate() {
        let l = f64::from(level_dbm0(w));
        if l < worst.0 {
            worst = (l, i * 80);
        }
    }
    worst
}

/// An RFC 4733 event the test received: digit, timestamp, final duration
/// (timestamp units), end packets seen.
#[derive(Debug)]
struct Event {
    digit: char,
    ts: u32,
    duration: u16,
    ends: usize,
}

fn events(packets: &[Rx]) -> Vec<Event> {
    let mut out: Vec<Event> = Vec::new();
    for p in packets.iter().filter(|p| p.pt == PT_EVENT) {
        let ev = TelephoneEventRepr::parse_bytes(&p.payload).expect("a well-formed telephone-event");
        let digit = ev.event.dtmf_char().expect("a DTMF event");
        match out.iter_mut().find(|e| e.ts == p.ts) {
            Some(e) => {
                assert_eq!(e.digit, digit, "one event per timestamp");
                e.duration = e.duration.max(ev.duration);
                e.ends += usize::from(ev.end);
            }
            None => {
                assert!(p.marker, "the first packet of an event has the marker bit: {p:?}");
                out.push(Event { digit, ts: p.ts, duration: ev.duration, ends: usize::from(ev.end) });
            }
        }
    }
    out
}

// ---------------------------------------------------------------------------
// Calls

/// An answered call with the test's RTP socket at the SIP end.
struct Call {
    chan: u64,
    /// Where tandem's RTP comes from (and where the test sends).
    tandem: SocketAddr,
    sipp: Sipp,
}

/// Place a call from the PRI and wait until it is answered; returns its
/// B-channel and q931-peer's call id.
fn pri_call(r: &mut Rig, called: &str) -> (u64, i64) {
    r.switch.send_line(&format!("call {called} 9175550000"));
    let conn = r.switch.wait_for("connected", T);
    (conn["channel"].as_u64().expect("channel"), num(&conn, "call"))
}

/// A call from the PRI answered by the PBX.
fn call_from_pri(r: &mut Rig, peer: &RtpPeer, sipp: Sipp, called: &str) -> Call {
    let (chan, _) = pri_call(r, called);
    let tandem = peer.source(0);
    Call { chan, tandem, sipp }
}

/// A call from SIP answered on the PRI.
fn call_from_sip(r: &mut Rig, peer: &RtpPeer) -> Call {
    let sipp = sip_caller(&r.lab, "2125550142");
    let inc = r.switch.wait_for("incoming", T);
    let chan = inc["channel"].as_u64().expect("channel");
    r.switch.send_line("answer");
    let tandem = peer.source(0);
    Call { chan, tandem, sipp }
}

/// Clear from the PRI; the SIP peer sees the BYE; returns the CDR's media.
fn hang_up(r: &mut Rig, call: &mut Call) -> Value {
    r.switch.send_line("hangup 16");
    r.switch.wait_for("released", T);
    call.sipp.expect_success(T);
    let c = cdrs(&r.lab, 1).pop().expect("a CDR");
    assert!(c["media"].is_object(), "the CDR has media figures: {c}");
    c["media"].clone()
}

/// Audio both ways on one call: the carrier's 1 kHz tone arrives as RTP at
/// 1 kHz, the SIP end's 440 Hz arrives on the B-channel at 440 Hz, both
/// at about the level sent.
fn audio_both_ways(span: Span, codec: Codec, from_pri: bool) {
    let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let mut r = rig(span, codec);
    let peer = RtpPeer::bind();
    let mut call = if from_pri {
        let sipp = pbx(&r.lab, 1);
        call_from_pri(&mut r, &peer, sipp, "2125551234")
    } else {
        call_from_sip(&mut r, &peer)
    };
    let mut sim = r.lab.client();
    let law = sim.chan_get(call.chan as u32).expect("chan.get")["law"].clone();
    assert_eq!(law, span.law_name(), "the B-channel's law");
    sim.call("audio.play", serde_json::json!({"chan": call.chan, "tone": {"freqs": [1000.0], "level_dbm0": -10.0}})).expect("audio.play");
    let talker = Talker::start(&peer, call.tandem, Plan::tone(codec, 440.0, -10.0, 10));
    std::thread::sleep(Duration::from_millis(1500));

    let got = peer.packets();
    let pts: Vec<u8> = got.iter().filter(|p| p.from == call.tandem).map(|p| p.pt).collect();
    assert!(pts.iter().all(|&pt| pt == codec.pt()), "{span:?} with {codec:?}: tandem sends payload type {} only, got {pts:?}", codec.pt());
    let to_rtp = peer.audio(call.tandem, codec, 25);
    assert_eq!(to_rtp.len(), 25 * FRAME, "500 ms of 20 ms packets");
    let (f, l) = measure(&to_rtp, "TDM→RTP");
    let a = analyze(&mut sim, call.chan, 400);
    let f2 = a["frequency_hz"].as_f64().unwrap_or_else(|| panic!("no tone on the B-channel: {a}"));
    let l2 = a["level_dbm0"].as_f64().expect("level");
    eprintln!(
        "{span:?} {codec:?} ({}): TDM→RTP {f:.1} Hz at {l:.2} dBm0; RTP→TDM {f2:.1} Hz at {l2:.2} dBm0",
        if from_pri { "PRI→SIP call" } else { "SIP→PRI call" }
    );
    assert!((f - 1000.0).abs() <= 15.0, "TDM→RTP: the 1 kHz tone arrives at {f} Hz");
    assert!((l + 10.0).abs() <= 1.5, "TDM→RTP: the -10 dBm0 tone arrives at {l} dBm0");
    assert!((f2 - 440.0).abs() <= 15.0, "RTP→TDM: the 440 Hz tone arrives at {f2} Hz: {a}");
    assert!((l2 + 10.0).abs() <= 1.5, "RTP→TDM: the -10 dBm0 tone arrives at {l2} dBm0: {a}");
    talker.stop();
    let m = hang_up(&mut r, &mut call);
    let sdp_said = format!("addr={} port={}", call.tandem.ip(), call.tandem.port());
    assert!(call.sipp.log().contains(&sdp_said), "tandem's RTP comes from the address in its SDP ({sdp_said}): {}", call.sipp.log());
    assert!(num(&m, "packets_sent") > 50 && num(&m, "packets_received") > 50, "{m}");
    assert_eq!(num(&m, "lost"), 0, "{m}");
    assert_eq!((num(&m, "bad"), num(&m, "foreign")), (0, 0), "{m}");
}

#[test]
fn t1_pcmu_tones_cross_both_ways_at_their_frequencies() {
    audio_both_ways(Span::T1, Codec::Pcmu, true);
}

#[test]
fn t1_pcma_transcoded_tones_cross_both_ways_at_their_frequencies() {
    audio_both_ways(Span::T1, Codec::Pcma, true);
}

#[test]
fn e1_pcma_tones_cross_both_ways_at_their_frequencies() {
    audio_both_ways(Span::E1, Codec::Pcma, false);
}

#[test]
fn e1_pcmu_transcoded_tones_cross_both_ways_at_their_frequencies() {
    audio_both_ways(Span::E1, Codec::Pcmu, false);
}

// ---------------------------------------------------------------------------
// DTMF both ways

/// Digits played in-band on the B-channel (100 ms on, 100 ms off) arrive
/// as RFC 4733 events with the right digits and durations; RFC 4733 events
/// sent to tandem (100 ms each) are played on the B-channel as DTMF of
/// about that length.
fn dtmf_both_ways(span: Span, codec: Codec, from_pri: bool) {
    let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let mut r = rig(span, codec);
    let peer = RtpPeer::bind();
    let mut call = if from_pri {
        let sipp = pbx(&r.lab, 1);
        call_from_pri(&mut r, &peer, sipp, "2125551234")
    } else {
        call_from_sip(&mut r, &peer)
    };
    let mut sim = r.lab.client();
    // TDM → RTP: "1590*#" typed on the B-channel.
    let typed = "1590*#";
    let wav = r.lab.path("typed.wav");
    let pcm = tandem_dsp::dtmf::generate(typed, &tandem_dsp::dtmf::DtmfConfig::default()).expect("digits");
    tandem_dsp::wav::write_wav(std::fs::File::create(&wav).expect("create WAV"), &pcm).expect("write WAV");
    sim.audio_play_wav(call.chan as u32, &wav, false).expect("audio.play wav");
    // RTP → TDM: silence with "2580#" as events from 2.5 s (100 ms each,
    // 100 ms apart).
    let sent = "2580#";
    let mut plan = Plan::tone(codec, 0.0, 0.0, 8);
    plan.dtmf(125, sent, 5, 5);
    let talker = Talker::start(&peer, call.tandem, plan);
    std::thread::sleep(Duration::from_millis(4200));

    let evs = events(&peer.packets().into_iter().filter(|p| p.from == call.tandem).collect::<Vec<_>>());
    let digits: String = evs.iter().map(|e| e.digit).collect();
    let ms: Vec<f64> = evs.iter().map(|e| f64::from(e.duration) / 8.0).collect();
    let gaps: Vec<f64> = evs.windows(2).map(|w| f64::from(w[1].ts.wrapping_sub(w[0].ts)) / 8.0).collect();
    eprintln!(
        "{span:?} {codec:?}: TDM→RTP events {digits:?}, durations {ms:?} ms, starts {gaps:?} ms apart, end packets {:?}",
        evs.iter().map(|e| e.ends).collect::<Vec<_>>()
    );
    assert_eq!(digits, typed, "the typed digits arrive as RFC 4733 events: {evs:?}");
    for (e, d) in evs.iter().zip(&ms) {
        assert!((d - 100.0).abs() <= 30.0, "a 100 ms digit lasts {d} ms as an event: {e:?}");
        assert_eq!(e.ends, 3, "the end packet is sent three times: {e:?}");
    }
    for g in &gaps {
        assert!((g - 200.0).abs() <= 30.0, "digits 200 ms apart are {g} ms apart in RTP timestamps: {gaps:?}");
    }
    // The digits are taken out of the audio: no audio packet that overlaps
    // an event carries tone (the pump mutes what looks like DTMF block by
    // block before its receiver has recognised the digit, so the packets
    // sent before recognition are silence).
    let audio: Vec<Rx> = peer.packets().into_iter().filter(|p| p.from == call.tandem && p.pt == codec.pt()).collect();
    let mut leaks = Vec::new();
    for e in &evs {
        let over: Vec<(i32, f64)> = audio
            .iter()
            .filter_map(|p| {
                let start = p.ts.wrapping_sub(e.ts) as i32;
                (start + FRAME as i32 > 0 && start < i32::from(e.duration)).then(|| {
                    let pcm: Vec<i16> = p.payload.iter().map(|&c| codec.law().decode(c)).collect();
                    (start / 8, (f64::from(level_dbm0(&pcm)) * 10.0).round() / 10.0)
                })
            })
            .collect();
        let tone: Vec<&(i32, f64)> = over.iter().filter(|(_, db)| *db > -40.0).collect();
        assert!(tone.is_empty(), "no audio packet overlapping the event {e:?} carries tone, but {} do: {over:?}", tone.len());
        leaks.extend(over);
    }
    eprintln!("{span:?} {codec:?}: audio packets overlapping an event (ms from the event's start, dBm0): {leaks:?}");

    let heard = recorded(&r.lab, &mut sim, call.chan, 2500, "heard.wav");
    let mut det = tandem_dsp::dtmf::DtmfDetector::new();
    let mut down = Vec::new();
    let mut played = Vec::new();
    det.process_with(&heard, |e| match e {
        tandem_dsp::DigitEvent::DigitDown { digit, at } => down.push((digit, at)),
        tandem_dsp::DigitEvent::DigitUp { digit, at } => {
            if let Some(&(d, start)) = down.last() {
                assert_eq!(d, digit);
                played.push((digit, (at - start) as f64 / 8.0));
            }
        }
    });
    let a = analyze(&mut sim, call.chan, 2500);
    eprintln!("{span:?} {codec:?}: RTP→TDM tones {played:?} (digit, ms); the simulator heard {:?}", a["dtmf"]);
    assert_eq!(a["dtmf"], sent, "the simulator detects the events' digits on the B-channel: {a}");
    assert_eq!(played.iter().map(|p| p.0).collect::<String>(), sent, "{played:?}");
    for (d, len) in &played {
        assert!((len - 100.0).abs() <= 30.0, "a 100 ms event plays as {len} ms of {d}: {played:?}");
    }
    talker.stop();
    let m = hang_up(&mut r, &mut call);
    assert_eq!(num(&m, "dtmf_sent"), typed.len() as i64, "{m}");
    assert_eq!(num(&m, "dtmf_received"), sent.len() as i64, "{m}");
}

#[test]
fn t1_pcmu_dtmf_crosses_both_ways_as_rfc4733_events_and_tones() {
    dtmf_both_ways(Span::T1, Codec::Pcmu, true);
}

#[test]
fn t1_pcma_transcoded_dtmf_crosses_both_ways_as_rfc4733_events_and_tones() {
    dtmf_both_ways(Span::T1, Codec::Pcma, true);
}

#[test]
fn e1_pcma_dtmf_crosses_both_ways_as_rfc4733_events_and_tones() {
    dtmf_both_ways(Span::E1, Codec::Pcma, false);
}

#[test]
fn e1_pcmu_transcoded_dtmf_crosses_both_ways_as_rfc4733_events_and_tones() {
    dtmf_both_ways(Span::E1, Codec::Pcmu, false);
}

// ---------------------------------------------------------------------------
// Loss and reordering

/// Slots of a plan to lose and to reorder: one of each in every 20
/// slots from `start` on, `count` of each (5 % loss, 5 % of the packets
/// late by one place), at pseudo-random places (a fixed sequence) at
/// least 3 slots apart, so each loss is one frame.
fn impairments(start: usize, count: usize) -> (Vec<usize>, Vec<usize>) {
    let (mut lose, mut swap) = (Vec::new(), Vec::new());
    let mut x: u64 = 0x2545_F491_4F6C_DD1D;
    let mut next = || {
        // Knuth's MMIX LCG constants.
        x = x.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        (x >> 33) as usize
    };
    for k in 0..count {
        let base = start + 20 * k;
        lose.push(base + next() % 7); // slots 0..=6 of the 20
        swap.push(base + 10 + next() % 7); // slots 10..=16, swapped with the next
    }
    (lose, swap)
}

#[test]
fn five_percent_loss_with_reordering_is_concealed_frame_for_frame() {
    let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let mut r = rig(Span::T1, Codec::Pcmu);
    let peer = RtpPeer::bind();
    let sipp = pbx(&r.lab, 1);
    let mut call = call_from_pri(&mut r, &peer, sipp, "2125551234");
    let mut sim = r.lab.client();
    // 440 Hz for up to 12 s; loss and reordering from 1.5 s to 6.5 s.
    let (lose, swap) = impairments(75, 13);
    let mut plan = Plan::tone(Codec::Pcmu, 440.0, -10.0, 12);
    plan.lose_and_reorder(&lose, &swap);
    let talker = Talker::start(&peer, call.tandem, plan);
    std::thread::sleep(Duration::from_millis(8000));
    // Everything tandem played from 1 s to 8 s, while the stream still runs.
    let heard = recorded(&r.lab, &mut sim, call.chan, 7000, "heard.wav");
    let m = hang_up(&mut r, &mut call);
    let slots = talker.stop();
    let (quiet, at) = quietest_window(&heard);
    let f = estimate_frequency(&heard).map(f64::from);
    eprintln!(
        "loss: {} of 260 packets lost, {} pairs swapped; CDR lost {} reordered {} late {} plc_frames {} underruns {} slips {} jitter {} ms; \
         TDM: {f:?} Hz, quietest 10 ms at {:.2} dBm0 ({} ms in); {slots} slots sent",
        lose.len(),
        swap.len(),
        m["lost"],
        m["reordered"],
        m["late"],
        m["plc_frames"],
        m["underruns"],
        m["slips"],
        m["jitter_ms"],
        quiet,
        at / 8
    );
    assert_eq!(num(&m, "lost"), lose.len() as i64, "every dropped packet is counted lost, no reordered one: {m}");
    assert_eq!(num(&m, "reordered"), swap.len() as i64, "{m}");
    let plc = num(&m, "plc_frames");
    assert!(plc >= lose.len() as i64 && plc <= lose.len() as i64 + 2, "one concealed frame per lost packet: {plc} for {} lost: {m}", lose.len());
    assert!(heard.len() >= 6900 * 8, "7 s recorded");
    assert!(f.is_some_and(|f| (f - 440.0).abs() <= 15.0), "the tone plays on: {f:?}");
    assert!(quiet > -20.0, "no gap in the audio: the quietest 10 ms is {quiet} dBm0 at {} ms", at / 8);
}

// ---------------------------------------------------------------------------
// Bad RTP

/// Malformed datagrams: each fails the RTP checks or carries a payload
/// type the call did not negotiate.
fn malformed() -> Vec<Vec<u8>> {
    let good = RtpRepr::new(0, 1, 160, 0xBAD, 4).to_vec(&[0xFF; 4]).expect("emit");
    let with = |f: &dyn Fn(&mut Vec<u8>)| {
        let mut p = good.clone();
        f(&mut p);
        p
    };
    vec![
        with(&|p| p[0] = 0x00), // version 0
        with(&|p| p[0] = 0xC0), // version 3
        good[..5].to_vec(),     // truncated header
        vec![0x80],             // one octet
        with(&|p| p[0] = 0x8F), // 15 CSRCs in 4 octets
        with(&|p| p[0] = 0x90), // an extension header that is not there
        with(&|p| p[0] = 0xA0), // padding count 0xFF beyond the packet
        with(&|p| {
            p[0] = 0xA0;
            *p.last_mut().expect("octet") = 0;
        }), // padding count 0
        with(&|p| p[1] = 96),   // a payload type nobody offered
        with(&|p| p[1] = 127),
    ]
}

#[test]
fn malformed_packets_and_a_foreign_flood_are_dropped_and_counted_and_the_other_call_stays_clean() {
    let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let mut r = rig(Span::T1, Codec::Pcmu);
    let peer = RtpPeer::bind();
    let mut sipp = pbx(&r.lab, 2);
    // Call A (440 Hz) takes the garbage; call B (700 Hz) is the bystander.
    // Both have the test's one RTP socket as their SIP end.
    let (a_chan, a_call) = pri_call(&mut r, "2125551234");
    let a = peer.source(0);
    let talker_a = Talker::start(&peer, a, Plan::tone(Codec::Pcmu, 440.0, -10.0, 12));
    let (b_chan, b_call) = pri_call(&mut r, "2125551235");
    let b = peer.source(1);
    let talker_b = Talker::start(&peer, b, Plan::tone(Codec::Pcmu, 700.0, -10.0, 12));
    let mut sim = r.lab.client();
    std::thread::sleep(Duration::from_millis(1000));

    // Malformed packets from A's own SIP end, among its good ones.
    let bad = malformed();
    let mut bad_sent = 0;
    for round in 0..30 {
        for p in &bad {
            peer.sock.send_to(p, a).expect("send");
            bad_sent += 1;
        }
        if round % 3 == 0 {
            std::thread::sleep(Duration::from_millis(5));
        }
    }
    // A flood of well-formed PCMU from strangers: other ports of the
    // test's address, and another address.
    let strangers =
        [UdpSocket::bind((RTP_IP, 0)).expect("bind"), UdpSocket::bind((RTP_IP, 0)).expect("bind"), UdpSocket::bind(("127.0.0.66", 0)).expect("bind")];
    let mut foreign_sent = 0u64;
    let flood_start = Instant::now();
    for i in 0..3000u32 {
        let p = RtpRepr::new(0, i as u16, i * 160, 0xF00D + i % 3, FRAME).to_vec(&[0x55; FRAME]).expect("emit");
        strangers[i as usize % 3].send_to(&p, a).expect("send");
        foreign_sent += 1;
        if i % 30 == 29 {
            std::thread::sleep(Duration::from_millis(1));
        }
    }
    let flood_ms = flood_start.elapsed().as_millis();
    std::thread::sleep(Duration::from_millis(1000));

    // The bystander's audio over the whole attack: its tone, unbroken.
    let b_heard = recorded(&r.lab, &mut sim, b_chan, 1800, "b.wav");
    let (b_quiet, b_at) = quietest_window(&b_heard);
    let b_f = estimate_frequency(&b_heard).map(f64::from);
    // The attacked call still plays its own stream.
    let a_now = analyze(&mut sim, a_chan, 400);
    // What tandem sent B meanwhile came without a gap in sequence.
    let b_rx: Vec<Rx> = peer.packets().into_iter().filter(|p| p.from == b).collect();
    let seq_gaps = b_rx.windows(2).filter(|w| w[1].seq != w[0].seq.wrapping_add(1)).count();

    r.switch.send_line(&format!("hangup 16 {a_call}"));
    r.switch.wait_for("released", T);
    r.switch.send_line(&format!("hangup 16 {b_call}"));
    r.switch.wait_for("released", T);
    sipp.expect_success(T);
    talker_a.stop();
    talker_b.stop();
    let c = cdrs(&r.lab, 2);
    let media = |chan: u64| {
        c.iter().find(|c| c["inbound"]["channel"] == chan).map(|c| c["media"].clone()).unwrap_or_else(|| panic!("no CDR for channel {chan}: {c:?}"))
    };
    let (ma, mb) = (media(a_chan), media(b_chan));
    eprintln!(
        "bad RTP: {bad_sent} malformed and {foreign_sent} foreign packets (flood over {flood_ms} ms) at A; \
         A counted bad {} foreign {} lost {} plc {}, and plays {:?} Hz; \
         B counted bad {} foreign {} lost {} plc {} underruns {}, played {b_f:?} Hz with its quietest 10 ms at {b_quiet:.2} dBm0; {seq_gaps} gaps in B's RTP",
        ma["bad"], ma["foreign"], ma["lost"], ma["plc_frames"], a_now["frequency_hz"], mb["bad"], mb["foreign"], mb["lost"], mb["plc_frames"], mb["underruns"]
    );
    assert_eq!(num(&ma, "bad"), bad_sent, "every malformed packet is counted: {ma}");
    let foreign = num(&ma, "foreign") as u64;
    assert!(foreign <= foreign_sent && foreign * 10 >= foreign_sent * 9, "the flood is counted as foreign ({foreign} of {foreign_sent}): {ma}");
    assert_eq!(num(&ma, "lost"), 0, "A's own stream lost nothing: {ma}");
    let af = a_now["frequency_hz"].as_f64().unwrap_or_else(|| panic!("A's tone is gone after the attack: {a_now}"));
    assert!((af - 440.0).abs() <= 15.0, "A still plays its own 440 Hz, not the flood: {a_now}");
    assert_eq!((num(&mb, "bad"), num(&mb, "foreign"), num(&mb, "lost")), (0, 0, 0), "{mb}");
    assert!(num(&mb, "plc_frames") <= 1, "B needed no concealment: {mb}");
    assert!(b_f.is_some_and(|f| (f - 700.0).abs() <= 15.0), "B plays its 700 Hz: {b_f:?}");
    assert!(b_quiet > -20.0, "B's audio has no gap: the quietest 10 ms is {b_quiet} dBm0 at {} ms", b_at / 8);
    assert_eq!(seq_gaps, 0, "B's outgoing RTP has no gap");
}
