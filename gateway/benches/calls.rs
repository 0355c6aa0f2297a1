//! Call-handling benchmark (issue 5's performance acceptance): how fast the
//! gateway turns a Q.931 SETUP into a SIP INVITE and back, how many calls per
//! second it sustains with no failed call, and how much memory an active call
//! costs.
//!
//! Run with `cargo bench -p tandem-gateway --bench calls` (as root: part 2
//! mounts the simulator over FUSE). Nothing is asserted; figures are printed.
//!
//! # Part 1: the cores alone (in-process, no I/O)
//!
//! Call control ([`CallControl`]), the TDM side ([`Tdm`] with one
//! [`PriInterface`] per span) and the SIP side ([`SipSide`]) are built from a
//! configuration and joined the way `tandem run` joins them (the shell in
//! [`Gw`] is a copy of the daemon's `flush` and routing, without sockets,
//! pump or CDR writer). The far end of each span is a network-side
//! [`isdn_q931::Pri`] in memory and the SIP peer is the scripted [`Peer`]
//! below (answers INVITE with 100 and 200 + SDP, answers BYE; as a caller
//! sends INVITE, ACK, BYE). Everything runs on one thread and `now` is the
//! real clock. It reports:
//!
//! * the processing latency of one call at a time: from handing the SETUP
//!   frame to the gateway's cores until the INVITE comes out, and from
//!   handing the INVITE until the SETUP frame comes out (p50/p99/max);
//! * calls per second on one thread, batches of calls (half each way,
//!   answered and cleared at once), as the time spent inside the gateway's
//!   cores per call (the far ends' and peer's time is not counted) and as
//!   the whole loop's rate;
//! * memory per active call: a counting global allocator tags each block
//!   with whether the gateway's cores or the bench allocated it, and the
//!   gateway's live bytes with `K` answered calls are compared with idle.
//!
//! # Part 2: the whole daemon, end to end
//!
//! `tandem-sim` runs in this process with `CALLS_BENCH_SPANS` external T1
//! spans (TE420P cards, 4 spans each); a network-side `Pri` per span speaks
//! on the span's external D-channel socket; the real `tandem run` binary
//! (`target/release/tandem` under `cargo bench`, from
//! `CARGO_BIN_EXE_tandem`) is started on a configuration with one NI-2
//! `[[pri]]` (user side) per span, SIP on `udp:127.0.0.51:25060`, and a
//! peer trunk to this bench at `127.0.0.52:25070` (one UDP socket acting as
//! UAS for PRI→SIP calls and UAC for SIP→PRI calls). The first half of the
//! spans carries PRI→SIP calls, the second half (group `pstn-out`)
//! SIP→PRI, so the two directions never glare. Answered calls start real
//! media streams in tandem's pump (RTP goes to a sink socket here).
//!
//! tandem is pinned to CPU 1 (`CALLS_BENCH_TANDEM_CPU`), this process with
//! the simulator to CPU 0 (`CALLS_BENCH_CPU`), so "one core" is tandem's
//! whole process: run loop, D-channel tasks, SIP transport, media pump and
//! CDR writer. Timestamps: the frame carrying the SETUP written to the
//! D-channel socket (the clock starts when that frame is really sent, not
//! when the far end is told to send it) → INVITE
//! read from the UDP socket (SETUP-in → INVITE-out), and INVITE written →
//! the SETUP frame read from the D-channel socket (INVITE-in → SETUP-out).
//! Both include the simulator, which moves D-channel frames on its 1 ms
//! clock tick (0–1 ms added per direction) and serves tandem's reads and
//! writes over FUSE. Steps:
//!
//! 1. latency: `CALLS_BENCH_RATE` calls/s (default 100) one way for
//!    `CALLS_BENCH_SECS` (default 10) with `CALLS_BENCH_HOLD_MS` (default
//!    500) of talk, then the other way;
//! 2. memory: `CALLS_BENCH_MEM_CALLS` (default 80) PRI→SIP calls held at
//!    once; tandem's VmRSS with them minus VmRSS idle, per call;
//! 3. ramp: calls both ways (alternating) at each rate of
//!    `CALLS_BENCH_RAMP` (default `100,200,300,400,500,600,800,1000`) for
//!    `CALLS_BENCH_STEP_SECS` (default 5) with `CALLS_BENCH_RAMP_HOLD_MS`
//!    (default 250) of talk, until a step has a failed call. A call fails
//!    when it is not answered, a side clears with a cause other than 16, or
//!    it has not ended both on the PRI and on SIP 10 s after its hold time.
//!
//! The latency steps run on a first tandem that also logs the Q.931
//! ladder and SIP messages at debug, so that its own share (SETUP decoded →
//! INVITE sent, INVITE received → SETUP encoded) is read from its log
//! timestamps. Then, for comparison, the simulator's own D-channel path is
//! measured without tandem (`sim_floor`: socket → a reader of the span's
//! D-channel on tandem's CPU, and back). Memory, ramp and the sustained run
//! use a second tandem with
//! `CALLS_BENCH_LOG`. After the ramp, a sustained run at
//! `CALLS_BENCH_SUSTAIN_RATE` (default 200) for `CALLS_BENCH_SUSTAIN_SECS`
//! (default 40; 0 skips it) lets SIP transactions reach their steady
//! population (they stay 64×T1 = 32 s after a call) and prints tandem's CPU
//! per 5 s window.
//!
//! Each step reports tandem's CPU (from `/proc/PID/task/*/stat`, by thread
//! name), this process's CPU (the bench and the simulator) and how late the
//! bench started calls (when the bench, not tandem, is the limit, these
//! show it).
//!
//! # Knobs
//!
//! `CALLS_BENCH_PARTS` (`core,e2e`), `CALLS_BENCH_CORE_CALLS` (calls for
//! part 1's latency, default 2000 each way), `CALLS_BENCH_CORE_BATCHES`
//! (default 500 batches of 40 calls), `CALLS_BENCH_SPANS` (default 12, a
//! multiple of 2), `CALLS_BENCH_RATE`, `CALLS_BENCH_SECS`,
//! `CALLS_BENCH_HOLD_MS`, `CALLS_BENCH_MEM_CALLS`, `CALLS_BENCH_RAMP`,
//! `CALLS_BENCH_STEP_SECS`, `CALLS_BENCH_RAMP_HOLD_MS`, `CALLS_BENCH_CPU`
//! and `CALLS_BENCH_TANDEM_CPU` (`none` to not pin), `CALLS_BENCH_FUSE_THREADS` (the
//! simulator's FUSE threads, default 1), `CALLS_BENCH_LOG`
//! (tandem's `RUST_LOG`, default `warn`), `CALLS_BENCH_TANDEM` (the binary),
//! `CALLS_BENCH_RT=1` (the bench, the simulator and tandem run SCHED_FIFO,
//! so other processes on a shared machine cannot preempt them),
//! `CALLS_BENCH_KEEP=1` (keep the scratch directory with tandem's log),
//! `CALLS_BENCH_PRI_TRACE=1` (`trace = true` on every `[[pri]]`, and the
//! wall-clock times of the first calls' SETUP/INVITE on stderr, to line them
//! up with tandem's log).
//! Every loop is bounded in count and time.

use std::alloc::{GlobalAlloc, Layout, System};
use std::collections::{HashMap, VecDeque};
use std::net::{SocketAddr, UdpSocket};
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use isdn_q931::q931::{self, Event, Number, SetupRequest, Side, SwitchType};
use isdn_q931::wire::CauseValue;
use isdn_q931::{Output, Pri, PriConfig as StackConfig};
use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
use nix::sys::socket::{self, AddressFamily, MsgFlags, SockFlag, SockType, UnixAddr};
use tandem_gateway::call::control::{CallControl, CallControlConfig, Output as CcOutput};
use tandem_gateway::call::{CallIds, LegEvent, LegRef, Target};
use tandem_gateway::config::Config;
use tandem_gateway::route::Origin;
use tandem_gateway::sip::{MediaPorts, ShellTransport, SipOutput, SipSide};
use tandem_gateway::tdm::hunt::SpanGroup;
use tandem_gateway::tdm::pri::{PriInput, PriInterface, PriIo, PriSettings, PriSpan};
use tandem_gateway::tdm::{Tdm, TdmInput, TdmIo, TdmOutput};

// ---------------------------------------------------------------------------
// A counting allocator: live bytes by who allocated them.

/// Live bytes allocated while the gateway's cores were running.
static GW_LIVE: AtomicI64 = AtomicI64::new(0);
/// Live bytes allocated by everything else.
static OTHER_LIVE: AtomicI64 = AtomicI64::new(0);
/// Set while the gateway's cores run (part 1 is single-threaded).
static IN_GW: AtomicBool = AtomicBool::new(false);

/// Wraps the system allocator; each block carries a tag word just before it
/// saying which counter it was charged to.
struct Counting;

const HDR: usize = 16;

fn counter(tag: usize) -> &'static AtomicI64 {
    if tag == 1 { &GW_LIVE } else { &OTHER_LIVE }
}

// SAFETY: every block is `off` bytes into a System block of `size + off`
// bytes aligned to `off` (a power of two ≥ 16), so the tag word fits before
// the user pointer and the user pointer keeps the requested alignment.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        let off = l.align().max(HDR);
        // SAFETY: off is a power of two and size + off does not overflow for any real request.
        let p = unsafe { System.alloc(Layout::from_size_align_unchecked(l.size() + off, off)) };
        if p.is_null() {
            return p;
        }
        let tag = IN_GW.load(Ordering::Relaxed) as usize;
        // SAFETY: p + off is inside the block; the tag word is the 8 bytes before it.
        unsafe {
            let u = p.add(off);
            (u.sub(8) as *mut usize).write(tag);
            counter(tag).fetch_add(l.size() as i64, Ordering::Relaxed);
            u
        }
    }

    unsafe fn dealloc(&self, u: *mut u8, l: Layout) {
        let off = l.align().max(HDR);
        // SAFETY: `u` came from `alloc` above with the same layout.
        unsafe {
            let tag = (u.sub(8) as *const usize).read();
            counter(tag).fetch_sub(l.size() as i64, Ordering::Relaxed);
            System.dealloc(u.sub(off), Layout::from_size_align_unchecked(l.size() + off, off));
        }
    }
}

#[global_allocator]
static ALLOC: Counting = Counting;

// ---------------------------------------------------------------------------
// Knobs and small helpers.

fn env_u64(name: &str, default: u64) -> u64 {
    std::env::var(name).ok().and_then(|v| v.trim().parse().ok()).unwrap_or(default)
}

fn env_str(name: &str, default: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| default.to_owned())
}

/// Sorted durations → (p50, p99, max) in µs.
fn pct(v: &mut [Duration]) -> Option<(f64, f64, f64)> {
    if v.is_empty() {
        return None;
    }
    v.sort();
    let at = |q: f64| v[((v.len() as f64 * q).ceil() as usize).clamp(1, v.len()) - 1].as_secs_f64() * 1e6;
    Some((at(0.50), at(0.99), v[v.len() - 1].as_secs_f64() * 1e6))
}

fn fmt_pct(v: &mut [Duration]) -> String {
    match pct(v) {
        Some((a, b, c)) => format!("{:>9.1} {:>9.1} {:>9.1}", a, b, c),
        None => format!("{:>9} {:>9} {:>9}", "-", "-", "-"),
    }
}

/// Is this LAPD frame an I-frame carrying a Q.931 SETUP (2-byte call reference)?
fn is_setup(f: &[u8]) -> bool {
    f.len() > 8 && f[2] & 1 == 0 && f[4] == 0x08 && f[5] == 2 && f[8] == 0x05
}

/// The call number `k` from a called number: its last 8 digits.
fn k_of(number: &str) -> Option<u64> {
    let d: String = number.chars().filter(char::is_ascii_digit).collect();
    d.get(d.len().saturating_sub(8)..)?.parse().ok()
}

const GW_SIP: &str = "127.0.0.51:25060";
const PEER_SIP: &str = "127.0.0.52:25070";
const PEER_RTP: &str = "127.0.0.52:26000";

/// The gateway configuration: one PRI (user side) per span; the first half
/// of the spans routes to the SIP trunk, the trunk routes to the second half.
fn gateway_config(spans: u32, dahdi: bool, dir: &Path) -> String {
    let mut t = String::new();
    t += &format!(
        "[general]\ndevice_dir = \"{d}/dev\"\ncontrol_socket = \"{d}/control.sock\"\ncdr_file = \"{d}/cdr.jsonl\"\ndrain_timeout_s = 1\n\n",
        d = dir.display()
    );
    let half = spans / 2;
    let names = |r: std::ops::RangeInclusive<u32>| r.map(|s| format!("\"pri{s}\"")).collect::<Vec<_>>().join(", ");
    for s in 1..=spans {
        if dahdi {
            t += &format!(
                "[[dahdi.span]]\nspan = {s}\ntype = \"t1\"\ntiming = 1\n[[dahdi.span.group]]\nchannels = \"1-23\"\nrole = \"bchan\"\n[[dahdi.span.group]]\nchannels = \"24\"\nrole = \"dchan\"\n\n"
            );
        }
        t += &format!(
            "[[pri]]\nname = \"pri{s}\"\nspans = [{s}]\nswitch = \"ni2\"\nside = \"user\"\ncountry_code = \"1\"\ntrace = {}\n\n",
            std::env::var("CALLS_BENCH_PRI_TRACE").is_ok_and(|v| v == "1")
        );
    }
    t += &format!("[[group]]\nname = \"pstn-out\"\nmembers = [{}]\nhunt = \"round_robin\"\n\n", names(half + 1..=spans));
    t += &format!(
        "[sip]\nlisten = [\"udp:{GW_SIP}\"]\nrtp_ip = \"127.0.0.51\"\nrtp_ports = \"31000-32999\"\n\n[[sip.trunk]]\nname = \"pbx\"\nkind = \"peer\"\nhost = \"{PEER_SIP}\"\naccept_from = [\"127.0.0.52\"]\noptions_interval_s = 0\nsession_timer_s = 0\n\n"
    );
    t += &format!("[[route]]\nname = \"pri-to-sip\"\nfrom = [{}]\ncalled = [\"X.\"]\ntarget = [{{ trunk = \"pbx\" }}]\n\n", names(1..=half));
    t += "[[route]]\nname = \"sip-to-pri\"\nfrom = \"pbx\"\ncalled = [\"X.\"]\ntarget = [{ group = \"pstn-out\" }]\n";
    t
}

// ---------------------------------------------------------------------------
// The scripted SIP peer (sans-IO): UAS for the gateway's INVITEs, UAC for ours.

/// What the peer saw.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum PeerEvent {
    /// The gateway's INVITE for call `k` (answered with 200 at once).
    InviteIn(u64),
    /// The gateway sent BYE for call `k` (answered with 200).
    ByeIn(u64),
    /// Our INVITE for `k` was answered with 200 (ACK sent).
    Answered(u64),
    /// Our INVITE for `k` got a final error.
    Rejected(u64, u16),
    /// Our BYE for `k` got its 200.
    ByeDone(u64),
}

/// One dialog of ours as UAC.
struct UacDialog {
    to: String,
    contact: String,
    answered: bool,
}

/// A minimal SIP endpoint for the benchmark; it parses just what it needs.
struct Peer {
    me: SocketAddr,
    gw: SocketAddr,
    rtp: SocketAddr,
    /// Call-ID → k for the gateway's INVITEs.
    uas: HashMap<String, u64>,
    uac: HashMap<u64, UacDialog>,
}

fn header<'a>(head: &'a str, names: &[&str]) -> Option<&'a str> {
    head.lines().skip(1).find_map(|l| {
        let (n, v) = l.split_once(':')?;
        names.iter().any(|x| n.trim().eq_ignore_ascii_case(x)).then(|| v.trim())
    })
}

fn headers<'a>(head: &'a str, names: &[&str]) -> Vec<&'a str> {
    head.lines()
        .skip(1)
        .filter_map(|l| {
            let (n, v) = l.split_once(':')?;
            names.iter().any(|x| n.trim().eq_ignore_ascii_case(x)).then(|| v.trim())
        })
        .collect()
}

impl Peer {
    fn new() -> Peer {
        Peer { me: PEER_SIP.parse().unwrap(), gw: GW_SIP.parse().unwrap(), rtp: PEER_RTP.parse().unwrap(), uas: HashMap::new(), uac: HashMap::new() }
    }

    fn sdp(&self) -> String {
        format!(
            "v=0\r\no=bench 1 1 IN IP4 {ip}\r\ns=-\r\nc=IN IP4 {ip}\r\nt=0 0\r\nm=audio {port} RTP/AVP 0 101\r\na=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-15\r\na=ptime:20\r\na=sendrecv\r\n",
            ip = self.rtp.ip(),
            port = self.rtp.port()
        )
    }

    /// Our INVITE for call `k` to number `called`.
    fn invite(&mut self, k: u64, called: &str) -> Vec<u8> {
        self.uac.insert(k, UacDialog { to: String::new(), contact: String::new(), answered: false });
        let body = self.sdp();
        format!(
            "INVITE sip:{called}@{gw} SIP/2.0\r\nVia: SIP/2.0/UDP {me};branch=z9hG4bK-inv-{k}\r\nFrom: <sip:2125550000@{me}>;tag=uac{k}\r\nTo: <sip:{called}@{gw}>\r\nCall-ID: uac-{k}@bench\r\nCSeq: 1 INVITE\r\nContact: <sip:bench@{me}>\r\nMax-Forwards: 70\r\nContent-Type: application/sdp\r\nContent-Length: {}\r\n\r\n{body}",
            body.len(),
            gw = self.gw,
            me = self.me
        )
        .into_bytes()
    }

    /// Our BYE for call `k` (None before the answer).
    fn bye(&mut self, k: u64) -> Option<Vec<u8>> {
        let d = self.uac.get(&k).filter(|d| d.answered)?;
        Some(
            format!(
                "BYE {} SIP/2.0\r\nVia: SIP/2.0/UDP {me};branch=z9hG4bK-bye-{k}\r\nFrom: <sip:2125550000@{me}>;tag=uac{k}\r\nTo: {}\r\nCall-ID: uac-{k}@bench\r\nCSeq: 2 BYE\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n",
                d.contact,
                d.to,
                me = self.me
            )
            .into_bytes(),
        )
    }

    fn ack(&self, k: u64, ruri: &str, to: &str, branch: &str) -> Vec<u8> {
        format!(
            "ACK {ruri} SIP/2.0\r\nVia: SIP/2.0/UDP {me};branch={branch}\r\nFrom: <sip:2125550000@{me}>;tag=uac{k}\r\nTo: {to}\r\nCall-ID: uac-{k}@bench\r\nCSeq: 1 ACK\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n",
            me = self.me
        )
        .into_bytes()
    }

    /// A response to the request `head` with `to_tag` added to To when given.
    fn response(&self, head: &str, status: &str, to_tag: Option<&str>, body: Option<&str>) -> Vec<u8> {
        let mut r = format!("SIP/2.0 {status}\r\n");
        for v in headers(head, &["via", "v"]) {
            r += &format!("Via: {v}\r\n");
        }
        let to = header(head, &["to", "t"]).unwrap_or("");
        let to = match to_tag {
            Some(t) if !to.contains(";tag=") => format!("{to};tag={t}"),
            _ => to.to_owned(),
        };
        r += &format!(
            "From: {}\r\nTo: {to}\r\nCall-ID: {}\r\nCSeq: {}\r\n",
            header(head, &["from", "f"]).unwrap_or(""),
            header(head, &["call-id", "i"]).unwrap_or(""),
            header(head, &["cseq"]).unwrap_or("")
        );
        match body {
            Some(b) => r += &format!("Contact: <sip:bench@{}>\r\nContent-Type: application/sdp\r\nContent-Length: {}\r\n\r\n{b}", self.me, b.len()),
            None => r += "Content-Length: 0\r\n\r\n",
        }
        r.into_bytes()
    }

    /// Handle one message from the gateway; replies go to `send`.
    fn handle(&mut self, bytes: &[u8], send: &mut Vec<Vec<u8>>, events: &mut Vec<PeerEvent>) {
        let Ok(text) = std::str::from_utf8(bytes) else { return };
        let head = text.split("\r\n\r\n").next().unwrap_or("");
        let first = head.lines().next().unwrap_or("");
        let call_id = header(head, &["call-id", "i"]).unwrap_or("").to_owned();
        if let Some(status) = first.strip_prefix("SIP/2.0 ") {
            let code: u16 = status.get(..3).and_then(|c| c.parse().ok()).unwrap_or(0);
            let cseq = header(head, &["cseq"]).unwrap_or("");
            let Some(k) = call_id.strip_prefix("uac-").and_then(|r| r.split('@').next()).and_then(|n| n.parse::<u64>().ok()) else { return };
            if cseq.ends_with("INVITE") {
                if (200..300).contains(&code) {
                    let to = header(head, &["to", "t"]).unwrap_or("").to_owned();
                    let contact = header(head, &["contact", "m"])
                        .and_then(|c| Some(c.split_once('<')?.1.split_once('>')?.0.to_owned()))
                        .unwrap_or_else(|| format!("sip:{}", self.gw));
                    let first_time = self.uac.get(&k).is_some_and(|d| !d.answered);
                    if let Some(d) = self.uac.get_mut(&k) {
                        d.to = to.clone();
                        d.contact = contact.clone();
                        d.answered = true;
                    }
                    send.push(self.ack(k, &contact, &to, &format!("z9hG4bK-ack-{k}")));
                    if first_time {
                        events.push(PeerEvent::Answered(k));
                    }
                } else if code >= 300 {
                    let to = header(head, &["to", "t"]).unwrap_or("").to_owned();
                    send.push(self.ack(k, &format!("sip:x@{}", self.gw), &to, &format!("z9hG4bK-inv-{k}")));
                    if self.uac.remove(&k).is_some() {
                        events.push(PeerEvent::Rejected(k, code));
                    }
                }
            } else if cseq.ends_with("BYE") && code >= 200 && self.uac.remove(&k).is_some() {
                events.push(PeerEvent::ByeDone(k));
            }
            return;
        }
        let method = first.split(' ').next().unwrap_or("");
        match method {
            "INVITE" => {
                let ruri = first.split(' ').nth(1).unwrap_or("");
                let user = ruri.strip_prefix("sip:").and_then(|r| r.split('@').next()).unwrap_or("");
                let Some(k) = k_of(user) else { return };
                let new = self.uas.insert(call_id, k).is_none();
                let tag = format!("uas{k}");
                send.push(self.response(head, "100 Trying", None, None));
                send.push(self.response(head, "200 OK", Some(&tag), Some(&self.sdp())));
                if new {
                    events.push(PeerEvent::InviteIn(k));
                }
            }
            "BYE" => {
                send.push(self.response(head, "200 OK", None, None));
                if let Some(k) = self.uas.remove(&call_id) {
                    events.push(PeerEvent::ByeIn(k));
                }
            }
            "ACK" => {}
            _ => send.push(self.response(head, "200 OK", None, None)),
        }
    }
}

// ---------------------------------------------------------------------------
// The network-side Q.931 far end of one span (sans-IO too).

/// A network-side stack and the frames it wants sent.
struct Far {
    pri: Pri,
    out: Vec<Vec<u8>>,
    /// Q.931 call → bench call.
    calls: HashMap<q931::CallId, u64>,
}

impl Far {
    fn new(now: Instant) -> Far {
        let pri = Pri::new(StackConfig::new(q931::Config::new(SwitchType::Ni2, Side::Network)), now).expect("far-end stack");
        let mut f = Far { pri, out: Vec::new(), calls: HashMap::new() };
        f.drain(&mut Vec::new());
        f
    }

    fn drain(&mut self, events: &mut Vec<Event>) {
        while let Some(o) = self.pri.poll_output() {
            match o {
                Output::Transmit { frame, .. } => self.out.push(frame),
                Output::Event(e) => events.push(e),
                Output::Trace(_) => {}
            }
        }
    }

    fn up(&self) -> bool {
        self.pri.active_link().is_some()
    }
}

// ---------------------------------------------------------------------------
// The load: calls, their state, and the reactions of the far ends and peer.

/// Which way a call goes through the gateway.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Dir {
    PriToSip,
    SipToPri,
}

/// One call of the load.
#[derive(Debug)]
struct CallRec {
    dir: Dir,
    /// When the SETUP or INVITE was sent.
    sent: Option<Instant>,
    /// When the far end was told to send the SETUP (PRI→SIP).
    commanded: Instant,
    /// SETUP-in→INVITE-out or INVITE-in→SETUP-out.
    latency: Option<Duration>,
    answered: bool,
    pri_done: bool,
    sip_done: bool,
    failed: Option<String>,
    /// The far end's call (span, id) once known.
    far: Option<(usize, q931::CallId)>,
}

impl CallRec {
    fn finished(&self) -> bool {
        self.failed.is_some() || (self.pri_done && self.sip_done)
    }
}

/// Calls in flight and what the bench must do next.
struct Load {
    calls: HashMap<u64, CallRec>,
    next_k: u64,
    /// How long an answered call talks; None: until told.
    hold: Option<Duration>,
    /// (when, k) hang-ups due, in order.
    hangups: VecDeque<(Instant, u64)>,
    /// Spans carrying PRI→SIP calls (the first ones), taken in turn.
    in_spans: usize,
    /// Per span, PRI→SIP calls whose SETUP frame has not gone out yet.
    awaiting_setup: HashMap<usize, VecDeque<u64>>,
    rr: usize,
}

impl Load {
    fn new(in_spans: usize) -> Load {
        Load { calls: HashMap::new(), next_k: 1, hold: None, hangups: VecDeque::new(), in_spans, awaiting_setup: HashMap::new(), rr: 0 }
    }

    fn fail(&mut self, k: u64, why: String) {
        if let Some(c) = self.calls.get_mut(&k)
            && c.failed.is_none()
            && !(c.pri_done && c.sip_done)
        {
            c.failed = Some(why);
        }
    }

    /// Start a call; returns what to send: a SIP message, or the far span
    /// whose frames now hold a SETUP.
    fn start(&mut self, dir: Dir, fars: &mut [Far], peer: &mut Peer, now: Instant) -> (u64, Option<Vec<u8>>, Option<usize>) {
        let k = self.next_k;
        self.next_k += 1;
        let mut rec = CallRec { dir, sent: None, commanded: now, latency: None, answered: false, pri_done: false, sip_done: false, failed: None, far: None };
        let r = match dir {
            Dir::PriToSip => {
                let span = self.rr % self.in_spans;
                self.rr += 1;
                let req = SetupRequest::new(&format!("9{:08}", k % 100_000_000)).calling(Number::new("2125550000"));
                match fars[span].pri.command(q931::Command::Setup(Box::new(req)), now) {
                    Ok(Some(id)) => {
                        fars[span].calls.insert(id, k);
                        rec.far = Some((span, id));
                        (k, None, Some(span))
                    }
                    Ok(None) => {
                        rec.failed = Some("SETUP gave no call".into());
                        (k, None, None)
                    }
                    Err(e) => {
                        rec.failed = Some(format!("SETUP refused by the far end: {e:?}"));
                        (k, None, None)
                    }
                }
            }
            Dir::SipToPri => (k, Some(peer.invite(k, &format!("8{:08}", k % 100_000_000))), None),
        };
        self.calls.insert(k, rec);
        r
    }

    fn mark_sent(&mut self, k: u64, at: Instant) {
        if let Some(c) = self.calls.get_mut(&k) {
            c.sent = Some(at);
        }
    }

    fn answered(&mut self, k: u64, now: Instant) {
        if let Some(c) = self.calls.get_mut(&k)
            && !c.answered
        {
            c.answered = true;
            if let Some(h) = self.hold {
                self.hangups.push_back((now + h, k));
            }
        }
    }

    /// The far end of span `span` reported `ev` at `at`.
    fn on_far(&mut self, span: usize, ev: Event, fars: &mut [Far], at: Instant) {
        match ev {
            Event::IncomingCall(ic) => {
                let k = k_of(&ic.called.digits).unwrap_or(0);
                fars[span].calls.insert(ic.call, k);
                if let Some(c) = self.calls.get_mut(&k) {
                    c.far = Some((span, ic.call));
                    if c.latency.is_none() {
                        c.latency = c.sent.map(|s| at.saturating_duration_since(s));
                    }
                }
                let _ = fars[span].pri.command(q931::Command::Connect { call: ic.call, connected: None }, at);
            }
            Event::Connected { call, .. } => {
                if let Some(&k) = fars[span].calls.get(&call) {
                    self.answered(k, at);
                }
            }
            Event::Released { call, cause } => {
                if let Some(k) = fars[span].calls.remove(&call) {
                    let ok = cause.value == CauseValue::NORMAL_CLEARING;
                    if let Some(c) = self.calls.get_mut(&k) {
                        c.pri_done = true;
                        if !ok || !c.answered {
                            let why = format!("PRI released with cause {} (answered: {})", cause.value.0, c.answered);
                            self.fail(k, why);
                        }
                    }
                }
            }
            _ => {}
        }
    }

    /// The SIP peer reported `ev` at `at`.
    fn on_peer(&mut self, ev: PeerEvent, at: Instant) {
        match ev {
            PeerEvent::InviteIn(k) => {
                if k <= 5 && std::env::var("CALLS_BENCH_PRI_TRACE").is_ok_and(|v| v == "1") {
                    eprintln!("call {k} INVITE in at {:?}", SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default());
                }
                if let Some(c) = self.calls.get_mut(&k)
                    && c.latency.is_none()
                {
                    c.latency = c.sent.map(|s| at.saturating_duration_since(s));
                }
            }
            PeerEvent::Answered(k) => self.answered(k, at),
            PeerEvent::ByeIn(k) | PeerEvent::ByeDone(k) => {
                if let Some(c) = self.calls.get_mut(&k) {
                    c.sip_done = true;
                }
            }
            PeerEvent::Rejected(k, code) => {
                if let Some(c) = self.calls.get_mut(&k) {
                    c.sip_done = true;
                }
                self.fail(k, format!("SIP {code}"));
            }
        }
    }

    /// Hang up call `k` from the side that placed it.
    fn hangup(&mut self, k: u64, fars: &mut [Far], peer: &mut Peer, now: Instant) -> Option<Vec<u8>> {
        let c = self.calls.get(&k)?;
        if c.finished() {
            return None;
        }
        match c.dir {
            Dir::PriToSip => {
                let (span, id) = c.far?;
                if let Err(e) = fars[span].pri.command(q931::Command::Disconnect { call: id, cause: CauseValue::NORMAL_CLEARING, inband: false }, now) {
                    self.fail(k, format!("DISCONNECT refused: {e:?}"));
                }
                None
            }
            Dir::SipToPri => peer.bye(k),
        }
    }

    fn all_finished(&self) -> bool {
        self.calls.values().all(CallRec::finished)
    }
}

// ---------------------------------------------------------------------------
// Part 1: the gateway's cores joined as the daemon joins them, without I/O.

/// Fake RTP ports for the SIP side (the pump is not in part 1).
struct FakePorts(std::sync::atomic::AtomicU64);

impl MediaPorts for FakePorts {
    fn allocate(&self) -> std::io::Result<(u64, SocketAddr)> {
        let id = self.0.fetch_add(1, Ordering::Relaxed);
        Ok((id, SocketAddr::new("127.0.0.51".parse().unwrap(), 31000 + (id % 1000) as u16 * 2)))
    }

    fn release(&self, _id: u64) {}
}

/// Which side owns a leg (as in the daemon).
#[derive(Clone, Copy)]
enum Owner {
    Tdm,
    Sip,
}

/// The daemon's cores and its output routing (a copy of `daemon::Daemon`'s
/// `flush`, `on_tdm`, `on_sip` and `on_cc` with the sockets replaced by
/// queues and the pump and CDR writer left out).
struct Gw {
    cc: CallControl,
    tdm: Tdm,
    sip: SipSide,
    iface_names: Vec<String>,
    owners: HashMap<LegRef, Owner>,
    frames_out: Vec<(usize, Vec<u8>)>,
    sip_out: Vec<Vec<u8>>,
    /// When the last SETUP frame / INVITE came out.
    setup_out: Option<Instant>,
    invite_out: Option<Instant>,
    /// Time spent inside the cores.
    busy: Duration,
}

impl Gw {
    fn new(cfg: &Config, now: Instant) -> Gw {
        IN_GW.store(true, Ordering::Relaxed);
        let gw = Gw::build(cfg, now);
        IN_GW.store(false, Ordering::Relaxed);
        gw
    }

    fn build(cfg: &Config, now: Instant) -> Gw {
        let mut tdm = Tdm::new();
        let mut names = Vec::new();
        for (i, p) in cfg.pri.iter().enumerate() {
            let span = PriSpan { span: i as u32 + 1, basechan: 24 * i as u32 + 1, kind: q931::InterfaceKind::T1 };
            let s = PriSettings::from_config(p, vec![span]).expect("PRI settings");
            tdm.add_interface(Box::new(PriInterface::new(s, now).expect("PRI interface")));
            names.push(p.name.get_ref().clone());
        }
        for g in &cfg.group {
            tdm.add_group(SpanGroup::from_config(g));
        }
        let unix = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
        let sip = SipSide::new(cfg.sip.as_ref().expect("[sip]"), Box::new(FakePorts(0.into())), now, unix).expect("SIP side");
        let cc = CallControl::new(CallControlConfig::from_config(cfg, (now, SystemTime::now())), CallIds::new(unix));
        Gw {
            cc,
            tdm,
            sip,
            iface_names: names,
            owners: HashMap::new(),
            frames_out: Vec::new(),
            sip_out: Vec::new(),
            setup_out: None,
            invite_out: None,
            busy: Duration::ZERO,
        }
    }

    fn next_deadline(&self) -> Option<Instant> {
        [self.cc.poll_timeout(), self.tdm.poll_timeout(), self.sip.poll_timeout()].into_iter().flatten().min()
    }

    /// Feed inputs, run due timers, drain every core; timed and charged to the gateway.
    fn run(&mut self, frames: Vec<(usize, Vec<u8>)>, msgs: Vec<Vec<u8>>) {
        IN_GW.store(true, Ordering::Relaxed);
        let t0 = Instant::now();
        let peer: SocketAddr = PEER_SIP.parse().unwrap();
        let local: SocketAddr = GW_SIP.parse().unwrap();
        for (i, frame) in frames {
            self.tdm.handle_input(i, TdmInput::Pri(PriInput::Frame { link: 0, frame }), Instant::now());
        }
        for m in msgs {
            self.sip.handle_message(ShellTransport::Udp, peer, local, &m, Instant::now());
        }
        let now = Instant::now();
        if self.next_deadline().is_some_and(|t| t <= now) {
            self.cc.handle_timeout(now);
            self.tdm.handle_timeout(now);
            self.sip.handle_timeout(now);
        }
        self.flush(now);
        self.busy += t0.elapsed();
        IN_GW.store(false, Ordering::Relaxed);
    }

    fn flush(&mut self, now: Instant) {
        loop {
            let mut busy = false;
            while let Some((iface, out)) = self.tdm.poll_output() {
                busy = true;
                self.on_tdm(iface, out, now);
            }
            while let Some(out) = self.sip.poll_output() {
                busy = true;
                self.on_sip(out, now);
            }
            while let Some(out) = self.cc.poll_output() {
                busy = true;
                self.on_cc(out, now);
            }
            if !busy {
                break;
            }
        }
    }

    fn leg_event(&mut self, leg: LegRef, ev: LegEvent, now: Instant) {
        if matches!(ev, LegEvent::Released(_)) {
            self.owners.remove(&leg);
        }
        self.cc.handle(leg, ev, now);
    }

    fn on_tdm(&mut self, iface: usize, out: TdmOutput, now: Instant) {
        match out {
            TdmOutput::Incoming { key, setup, identity, media } => {
                let interface = self.iface_names.get(iface).cloned().unwrap_or_default();
                let leg = self.cc.incoming(Origin::Tdm { interface }, setup, now);
                self.owners.insert(leg, Owner::Tdm);
                self.tdm.accept(iface, key, leg);
                self.cc.handle(leg, LegEvent::Identity(identity), now);
                self.cc.handle(leg, LegEvent::Media(media), now);
            }
            TdmOutput::Leg(leg, ev) => self.leg_event(leg, ev, now),
            TdmOutput::Io(TdmIo::Pri(PriIo::Frame { link: _, frame })) => {
                if is_setup(&frame) {
                    self.setup_out = Some(Instant::now());
                }
                self.frames_out.push((iface, frame));
            }
            // Traces, and I/O of analog ports (none here).
            TdmOutput::Io(_) => {}
        }
    }

    fn on_sip(&mut self, out: SipOutput, now: Instant) {
        match out {
            SipOutput::Incoming { key, trunk, setup, identity } => {
                let leg = self.cc.incoming(Origin::Sip { trunk }, setup, now);
                self.owners.insert(leg, Owner::Sip);
                self.sip.accept(key, leg);
                self.cc.handle(leg, LegEvent::Identity(identity), now);
            }
            SipOutput::Leg(leg, ev) => self.leg_event(leg, ev, now),
            SipOutput::Transmit { bytes, .. } => {
                if bytes.starts_with(b"INVITE ") {
                    self.invite_out = Some(Instant::now());
                }
                self.sip_out.push(bytes);
            }
            SipOutput::TrunkUp { .. } | SipOutput::TrunkDown { .. } | SipOutput::Mwi { .. } => {}
        }
    }

    fn on_cc(&mut self, out: CcOutput, now: Instant) {
        match out {
            CcOutput::Command(leg, cmd) => match self.owners.get(&leg) {
                Some(Owner::Tdm) => self.tdm.command(leg, cmd, now),
                Some(Owner::Sip) => self.sip.command(leg, cmd, now),
                None => {}
            },
            CcOutput::Originate { leg, target, setup } => match target {
                Target::Tdm { group } => {
                    self.owners.insert(leg, Owner::Tdm);
                    self.tdm.originate(leg, &group, &setup, now);
                }
                Target::Sip { trunk, uri } => {
                    self.owners.insert(leg, Owner::Sip);
                    self.sip.originate(leg, &trunk, uri.as_deref(), &setup, now);
                }
            },
            CcOutput::Media(_) | CcOutput::Cdr(_) => {}
        }
    }
}

/// Part 1's world: the cores, the far ends, the peer and the load.
struct Core {
    gw: Gw,
    fars: Vec<Far>,
    peer: Peer,
    load: Load,
    to_gw_frames: Vec<(usize, Vec<u8>)>,
    to_gw_msgs: Vec<Vec<u8>>,
}

impl Core {
    fn new(spans: u32) -> Core {
        let dir = std::env::temp_dir();
        let cfg = Config::parse(&gateway_config(spans, false, &dir), "calls-bench.toml").unwrap_or_else(|d| panic!("bench config: {d:?}"));
        let now = Instant::now();
        let gw = Gw::new(&cfg, now);
        let fars = (0..spans).map(|_| Far::new(now)).collect();
        let half = spans as usize / 2;
        let mut c = Core { gw, fars, peer: Peer::new(), load: Load::new(half), to_gw_frames: Vec::new(), to_gw_msgs: Vec::new() };
        let deadline = Instant::now() + Duration::from_secs(5);
        while !(c.fars.iter().all(Far::up) && (0..spans as usize).all(|i| c.gw.tdm.interface(i).is_some_and(|x| x.is_up()))) {
            assert!(Instant::now() < deadline, "links did not come up in memory");
            c.pump();
        }
        c
    }

    /// Move everything queued until nothing moves (bounded).
    fn pump(&mut self) {
        for _ in 0..10_000 {
            for (i, f) in self.fars.iter_mut().enumerate() {
                self.to_gw_frames.extend(f.out.drain(..).map(|fr| (i, fr)));
            }
            let frames = std::mem::take(&mut self.to_gw_frames);
            let msgs = std::mem::take(&mut self.to_gw_msgs);
            let had_input = !frames.is_empty() || !msgs.is_empty();
            self.gw.run(frames, msgs);
            let out_frames = std::mem::take(&mut self.gw.frames_out);
            let out_msgs = std::mem::take(&mut self.gw.sip_out);
            if !had_input && out_frames.is_empty() && out_msgs.is_empty() {
                break;
            }
            let now = Instant::now();
            let mut evs = Vec::new();
            for (i, fr) in out_frames {
                self.fars[i].pri.handle_frame(0, &fr, now);
                self.fars[i].drain(&mut evs);
                for e in evs.drain(..) {
                    self.load.on_far(i, e, &mut self.fars, self.gw.setup_out.unwrap_or(now));
                }
                self.fars[i].drain(&mut evs);
            }
            let mut pevs = Vec::new();
            for m in out_msgs {
                self.peer.handle(&m, &mut self.to_gw_msgs, &mut pevs);
            }
            for e in pevs {
                self.load.on_peer(e, self.gw.invite_out.unwrap_or(now));
            }
            // Hang-ups due (hold 0 in part 1: at once).
            while let Some(&(_, k)) = self.load.hangups.front() {
                self.load.hangups.pop_front();
                if let Some(m) = self.load.hangup(k, &mut self.fars, &mut self.peer, now) {
                    self.to_gw_msgs.push(m);
                }
            }
            let mut evs = Vec::new();
            for i in 0..self.fars.len() {
                if self.fars[i].pri.poll_timeout().is_some_and(|t| t <= now) {
                    self.fars[i].pri.handle_timeout(now);
                }
                self.fars[i].drain(&mut evs);
                for e in evs.drain(..) {
                    self.load.on_far(i, e, &mut self.fars, now);
                }
            }
        }
    }

    /// Start one call; its latency clock starts when the gateway gets it.
    fn start(&mut self, dir: Dir) -> u64 {
        let (k, msg, _) = self.load.start(dir, &mut self.fars, &mut self.peer, Instant::now());
        let mut evs = Vec::new();
        for f in self.fars.iter_mut() {
            f.drain(&mut evs);
        }
        if let Some(m) = msg {
            self.to_gw_msgs.push(m);
        }
        // The gateway is handed the input at the next `run`: stamp now.
        self.load.mark_sent(k, Instant::now());
        k
    }
}

fn part_core() {
    println!("== Part 1: the cores alone (call control + TDM/PRI + SIP side, in memory, one thread) ==");
    let n = env_u64("CALLS_BENCH_CORE_CALLS", 2000);
    let batches = env_u64("CALLS_BENCH_CORE_BATCHES", 500);
    let mut failed = 0;

    // Memory per active call, on fresh cores: K answered calls held.
    {
        let mut c = Core::new(4);
        let k_calls = 80u64;
        let idle = GW_LIVE.load(Ordering::Relaxed);
        let mut ks = Vec::new();
        for i in 0..k_calls {
            ks.push(c.start(if i % 2 == 0 { Dir::PriToSip } else { Dir::SipToPri }));
            c.pump();
        }
        let up = ks.iter().filter(|k| c.load.calls.get(k).is_some_and(|r| r.answered)).count() as i64;
        let held = GW_LIVE.load(Ordering::Relaxed);
        for &k in &ks {
            if let Some(m) = c.load.hangup(k, &mut c.fars, &mut c.peer, Instant::now()) {
                c.to_gw_msgs.push(m);
            }
            c.pump();
        }
        let after = GW_LIVE.load(Ordering::Relaxed);
        let ended = ks.iter().filter(|k| c.load.calls.get(k).is_some_and(|r| r.finished() && r.failed.is_none())).count();
        println!(
            "memory (gateway cores' live heap, counted by a tagging allocator): {idle} B idle, {held} B with {up} answered calls (half each way) \
             → {} B per active call; {after} B once all {ended} ended (→ {} B per ended call kept a while: SIP transactions wait out \
             Timers J/K/D before they go). Signalling only: the media pump is not in part 1.",
            if up > 0 { (held - idle) / up } else { 0 },
            if ended > 0 { (after - idle) / ended as i64 } else { 0 },
        );
    }

    let mut c = Core::new(4);
    c.load.hold = Some(Duration::ZERO);
    // Latency, one call at a time.
    let mut lat = [Vec::new(), Vec::new()];
    for (di, dir) in [Dir::PriToSip, Dir::SipToPri].into_iter().enumerate() {
        for _ in 0..n {
            let k = c.start(dir);
            c.pump();
            let rec = c.load.calls.remove(&k).expect("call");
            if !rec.finished() || rec.failed.is_some() {
                failed += 1;
                if failed <= 3 {
                    eprintln!("core call {k} ({dir:?}) failed: {rec:?}");
                }
            }
            if let Some(l) = rec.latency {
                lat[di].push(l);
            }
        }
    }
    println!("latency inside the cores, one call at a time ({n} calls each way, after the frame or message is handed over), µs:");
    println!("  {:<28} {:>9} {:>9} {:>9}", "", "p50", "p99", "max");
    println!("  {:<28} {}", "SETUP-in → INVITE-out", fmt_pct(&mut lat[0]));
    println!("  {:<28} {}", "INVITE-in → SETUP-out", fmt_pct(&mut lat[1]));

    // Throughput: batches of 40 calls, half each way, answered and cleared at once.
    let mut c = Core::new(4);
    c.load.hold = Some(Duration::ZERO);
    let t0 = Instant::now();
    let deadline = t0 + Duration::from_secs(30);
    let mut done = 0u64;
    let mut per_batch = Vec::new();
    for _ in 0..batches {
        if Instant::now() > deadline {
            break;
        }
        let b0 = c.gw.busy;
        let ks: Vec<u64> = (0..40).map(|i| c.start(if i % 2 == 0 { Dir::PriToSip } else { Dir::SipToPri })).collect();
        c.pump();
        per_batch.push(c.gw.busy - b0);
        for k in ks {
            let rec = c.load.calls.remove(&k).expect("call");
            if !rec.finished() || rec.failed.is_some() {
                failed += 1;
                if failed <= 3 {
                    eprintln!("core call {k} failed: {rec:?}");
                }
            }
            done += 1;
        }
    }
    let wall = t0.elapsed();
    let busy: Duration = per_batch.iter().sum();
    let us = |b: &[Duration]| b.iter().sum::<Duration>().as_secs_f64() * 1e6 / (b.len().max(1) * 40) as f64;
    let q = per_batch.len() / 10;
    println!(
        "throughput: {done} calls in batches of 40 (half each way, answered and cleared at once): {:.1} µs of gateway-core time per call \
         = {:.0} calls/s on one thread (whole loop incl. the far ends and the SIP peer: {:.0} calls/s); \
         first 10 % of the calls {:.1} µs each, last 10 % {:.1} µs each; failed calls: {failed}",
        busy.as_secs_f64() * 1e6 / done.max(1) as f64,
        done as f64 / busy.as_secs_f64(),
        done as f64 / wall.as_secs_f64(),
        us(&per_batch[..q.max(1).min(per_batch.len())]),
        us(&per_batch[per_batch.len().saturating_sub(q.max(1))..]),
    );
    println!();
}

// ---------------------------------------------------------------------------
// Part 2: the whole daemon end to end.

/// A network-side far end on a span's external D-channel socket.
fn connect_dchan(path: &Path) -> OwnedFd {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let fd = socket::socket(AddressFamily::Unix, SockType::SeqPacket, SockFlag::SOCK_CLOEXEC | SockFlag::SOCK_NONBLOCK, None).expect("socket");
        match socket::connect(fd.as_raw_fd(), &UnixAddr::new(path).expect("socket path")) {
            Ok(()) => return fd,
            Err(e) if Instant::now() < deadline => {
                let _ = e;
                std::thread::sleep(Duration::from_millis(20));
            }
            Err(e) => panic!("connect {}: {e}", path.display()),
        }
    }
}

/// SCHED_FIFO priority of every thread of the bench, the simulator and
/// tandem under `CALLS_BENCH_RT=1`.
const RT_PRIORITY: u8 = 10;

/// `CALLS_BENCH_RT=1`: every thread of the bench, the simulator and tandem
/// runs SCHED_FIFO, so other processes on a shared machine cannot preempt
/// them (the simulator's clock thread stands for a card's interrupt).
fn realtime() -> bool {
    std::env::var("CALLS_BENCH_RT").is_ok_and(|v| v == "1")
}

/// Pin the calling thread (and the threads it starts later) to `cpu`.
fn pin_self(cpu: &str) {
    if let Ok(n) = cpu.parse::<usize>() {
        let mut set = nix::sched::CpuSet::new();
        if set.set(n).is_ok() {
            let _ = nix::sched::sched_setaffinity(nix::unistd::Pid::from_raw(0), &set);
        }
    }
}

/// Threads of a process: name → CPU ticks (utime + stime).
fn thread_ticks(pid: u32) -> HashMap<String, u64> {
    let mut out: HashMap<String, u64> = HashMap::new();
    let Ok(rd) = std::fs::read_dir(format!("/proc/{pid}/task")) else { return out };
    for e in rd.flatten() {
        let Ok(stat) = std::fs::read_to_string(e.path().join("stat")) else { continue };
        let Some(close) = stat.rfind(')') else { continue };
        let name = stat[stat.find('(').map(|i| i + 1).unwrap_or(0)..close].to_owned();
        let f: Vec<&str> = stat[close + 2..].split(' ').collect();
        let t = f.get(11).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0) + f.get(12).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
        *out.entry(name).or_default() += t;
    }
    out
}

fn vm_rss_kb(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| s.lines().find(|l| l.starts_with("VmRSS:")).and_then(|l| l.split_whitespace().nth(1)?.parse().ok()))
        .unwrap_or(0)
}

fn ticks_per_sec() -> f64 {
    // SAFETY: sysconf has no preconditions.
    let t = unsafe { nix::libc::sysconf(nix::libc::_SC_CLK_TCK) };
    if t > 0 { t as f64 } else { 100.0 }
}

/// The simulator's configuration: `spans` external T1 spans on TE420P cards.
fn sim_config(spans: u32) -> String {
    let mut sim = format!("[sim]\nfuse_threads = {}\n", env_u64("CALLS_BENCH_FUSE_THREADS", 1));
    for c in 0..spans.div_ceil(4) {
        sim += "[[card]]\nmodel = \"te420p\"\n";
        for _ in 0..(spans - 4 * c).min(4) {
            sim += "[[card.span]]\ntype = \"t1\"\nfar_end = \"external\"\n";
        }
    }
    sim
}

/// The simulator's own D-channel path, without tandem: a frame written to
/// the external socket until a reader of the span's D-channel (a thread on
/// tandem's CPU, reading as `pri_io` does: non-blocking, woken by poll)
/// has it (once with poll(2), once through `AsyncChannel` on tokio, as
/// `pri_io` reads), and a frame written to the D-channel until it comes out of the
/// socket. `n` frames each way, spaced a little over 3 ms to sample every
/// phase of the simulator's 1 ms tick.
fn sim_floor(n: usize, spans: u32, reader_cpu: &str) -> Result<[Vec<Duration>; 3], String> {
    use tandem_drivers::{ChanConfig, Channel, Ctl, Io, LineConfig, OpenOptionsDahdi, Policy, Signalling};
    let tmp = tempfile::Builder::new().prefix("tandem-calls-floor-").tempdir().map_err(|e| e.to_string())?;
    let dev = tmp.path().join("dev");
    let control = tmp.path().join("sim.sock");
    let sim_toml = sim_config(spans);
    let sim = hw_sim::runner::Sim::start(&sim_toml, "calls-bench-floor.toml", &dev, &control)?;
    let ctl = Ctl::open(&dev).map_err(|e| e.to_string())?;
    let lc = dahdi_sys::DAHDI_CONFIG_ESF | dahdi_sys::DAHDI_CONFIG_B8ZS;
    ctl.configure_span(&LineConfig { span: 1, timing: 1, lbo: 0, lineconfig: lc }, "t1").map_err(|e| e.to_string())?;
    for ch in 1..=23 {
        ctl.configure_channel(&ChanConfig { chan: ch, signalling: Signalling::Clear, law: None, idle_bits: 0 }).map_err(|e| e.to_string())?;
    }
    ctl.configure_channel(&ChanConfig { chan: 24, signalling: Signalling::Dchan, law: None, idle_bits: 0 }).map_err(|e| e.to_string())?;
    ctl.startup(1).map_err(|e| e.to_string())?;
    let sock = connect_dchan(&PathBuf::from(format!("{}.span1", control.display())));
    let cpu = reader_cpu.to_owned();
    let dev2 = dev.clone();
    let (go_tx, go_rx) = std::sync::mpsc::channel::<()>();
    let (ready_tx, ready_rx) = std::sync::mpsc::channel::<Instant>();
    let reader = std::thread::spawn(move || -> Result<(), String> {
        pin_self(&cpu);
        let ch = Channel::open(&dev2, 24, None, OpenOptionsDahdi { nonblocking: true }).map_err(|e| e.to_string())?;
        ch.set_buffers(Policy::Immediate, Policy::Immediate, 16, 1024).map_err(|e| e.to_string())?;
        let mut buf = [0u8; 1100];
        let frame = [0x02u8, 0x01, 0x00, 0x00, 0x08, 0x02, 0x00, 0x01, 0x05, 0x04, 0x03, 0x80, 0x90, 0xa2, 0x00, 0x00];
        // Inbound: wait for each frame the main thread sends.
        for _ in 0..n {
            let deadline = Instant::now() + Duration::from_millis(200);
            loop {
                let mut p = [PollFd::new(ch.as_fd(), PollFlags::POLLIN | PollFlags::POLLPRI)];
                let _ = poll(&mut p, PollTimeout::from(50u16));
                match ch.read(&mut buf) {
                    Ok(Io::Done(_)) => {
                        let _ = ready_tx.send(Instant::now());
                        break;
                    }
                    Ok(_) | Err(_) if Instant::now() > deadline => break,
                    _ => {}
                }
            }
        }
        // Inbound again, read as `pri_io` reads: tokio's AsyncFd (epoll).
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().map_err(|e| e.to_string())?;
        let ach = {
            let _g = rt.enter();
            tandem_drivers::AsyncChannel::new(ch).map_err(|e| e.to_string())?
        };
        for _ in 0..n {
            match rt.block_on(async { tokio::time::timeout(Duration::from_millis(200), ach.read(&mut buf)).await }) {
                Ok(Ok(tandem_drivers::Input::Audio(_))) => {
                    let _ = ready_tx.send(Instant::now());
                }
                _ => break,
            }
        }
        // Outbound: write a frame whenever told to.
        while go_rx.recv_timeout(Duration::from_secs(2)).is_ok() {
            let _ = ready_tx.send(Instant::now());
            let _ = rt.block_on(ach.write(&frame));
        }
        Ok(())
    });
    let mut out = [Vec::new(), Vec::new(), Vec::new()];
    let frame = [0x00u8, 0x01, 0x00, 0x00, 0x08, 0x02, 0x00, 0x01, 0x05, 0x04, 0x03, 0x80, 0x90, 0xa2];
    std::thread::sleep(Duration::from_millis(100));
    for slot in [0, 2] {
        for i in 0..n {
            let t0 = Instant::now();
            let _ = socket::send(sock.as_raw_fd(), &frame, MsgFlags::MSG_DONTWAIT);
            if let Ok(t1) = ready_rx.recv_timeout(Duration::from_millis(300)) {
                out[slot].push(t1 - t0);
            }
            std::thread::sleep(Duration::from_micros(3100 + (i as u64 * 137) % 1000));
        }
    }
    let mut buf = [0u8; 1100];
    for i in 0..n {
        if go_tx.send(()).is_err() {
            break;
        }
        let Ok(t0) = ready_rx.recv_timeout(Duration::from_millis(300)) else { break };
        let deadline = Instant::now() + Duration::from_millis(200);
        while Instant::now() < deadline {
            let mut p = [PollFd::new(sock.as_fd(), PollFlags::POLLIN)];
            let _ = poll(&mut p, PollTimeout::from(50u16));
            if socket::recv(sock.as_raw_fd(), &mut buf, MsgFlags::MSG_DONTWAIT).is_ok_and(|n| n > 0) {
                out[1].push(Instant::now() - t0);
                break;
            }
        }
        std::thread::sleep(Duration::from_micros(3100 + (i as u64 * 137) % 1000));
    }
    drop(go_tx);
    let _ = reader.join();
    drop(sock);
    let _ = sim.stop();
    drop(tmp);
    Ok(out)
}

/// What one step measured.
struct StepResult {
    started: usize,
    ok: usize,
    failed: usize,
    first_failures: Vec<String>,
    lat: [Vec<Duration>; 2],
    cpu: HashMap<String, u64>,
    wall: Duration,
    max_late: Duration,
    /// tandem's CPU (% of one core) in each 5 s window.
    windows: Vec<f64>,
    /// This process's CPU (the bench and the simulator) as % of one core.
    rig_cpu: f64,
    /// How long the far end's LAPD held each PRI→SIP SETUP before sending it.
    held: Vec<Duration>,
}

/// The end-to-end rig: simulator, far ends, tandem, the SIP socket.
struct E2e {
    _sim: hw_sim::runner::Sim,
    dir: PathBuf,
    tandem: Child,
    pid: u32,
    fds: Vec<OwnedFd>,
    fars: Vec<Far>,
    udp: UdpSocket,
    peer: Peer,
    load: Load,
    rtp_stop: std::sync::Arc<AtomicBool>,
    rtp_thread: Option<std::thread::JoinHandle<()>>,
    /// Last, so that it is removed after the simulator has unmounted.
    tmp: Option<tempfile::TempDir>,
    keep: bool,
}

impl E2e {
    fn start(spans: u32, rust_log: &str) -> Result<E2e, String> {
        let keep = std::env::var("CALLS_BENCH_KEEP").is_ok_and(|v| v == "1");
        let tmp = tempfile::Builder::new().prefix("tandem-calls-bench-").tempdir().map_err(|e| e.to_string())?;
        let dir = tmp.path().to_path_buf();
        let sim = sim_config(spans);
        let control = dir.join("sim.sock");
        let s = hw_sim::runner::Sim::start(&sim, "calls-bench-sim.toml", &dir.join("dev"), &control)?;
        // SIP and RTP sockets.
        let udp = UdpSocket::bind(PEER_SIP).map_err(|e| format!("bind {PEER_SIP}: {e}"))?;
        udp.set_nonblocking(true).map_err(|e| e.to_string())?;
        let rtp = UdpSocket::bind(PEER_RTP).map_err(|e| format!("bind {PEER_RTP}: {e}"))?;
        rtp.set_read_timeout(Some(Duration::from_millis(100))).map_err(|e| e.to_string())?;
        let rtp_stop = std::sync::Arc::new(AtomicBool::new(false));
        let stop = rtp_stop.clone();
        let rtp_thread = std::thread::spawn(move || {
            let mut buf = [0u8; 2048];
            while !stop.load(Ordering::Relaxed) {
                let _ = rtp.recv(&mut buf);
            }
        });
        // tandem.
        let cfg_path = dir.join("tandem.toml");
        std::fs::write(&cfg_path, gateway_config(spans, true, &dir)).map_err(|e| e.to_string())?;
        let bin = std::env::var("CALLS_BENCH_TANDEM").unwrap_or_else(|_| env!("CARGO_BIN_EXE_tandem").to_owned());
        let log = std::fs::File::create(dir.join("tandem.log")).map_err(|e| e.to_string())?;
        let tcpu = env_str("CALLS_BENCH_TANDEM_CPU", "1");
        let mut cmd = if tcpu == "none" {
            Command::new(&bin)
        } else {
            let mut c = Command::new("taskset");
            c.args(["-c", &tcpu]).arg(&bin);
            c
        };
        if realtime() {
            // chrt runs taskset (or tandem), and every thread inherits SCHED_FIFO.
            let prog = cmd.get_program().to_owned();
            let args: Vec<_> = cmd.get_args().map(|a| a.to_owned()).collect();
            cmd = Command::new("chrt");
            cmd.args(["-f", &RT_PRIORITY.to_string()]).arg(prog).args(args);
        }
        cmd.arg("run").arg("--config").arg(&cfg_path).env("RUST_LOG", rust_log);
        cmd.stdin(Stdio::null()).stdout(log.try_clone().map_err(|e| e.to_string())?).stderr(log);
        let tandem = cmd.spawn().map_err(|e| format!("spawn {bin}: {e}"))?;
        let pid = tandem.id();
        println!("tandem: {bin} (pid {pid}, CPU {tcpu}); scratch directory {}", dir.display());
        let now = Instant::now();
        let fds: Vec<OwnedFd> = (1..=spans).map(|n| connect_dchan(&PathBuf::from(format!("{}.span{n}", control.display())))).collect();
        let fars = (0..spans).map(|_| Far::new(now)).collect();
        let half = spans as usize / 2;
        let mut e = E2e {
            _sim: s,
            dir,
            tandem,
            pid,
            fds,
            fars,
            udp,
            peer: Peer::new(),
            load: Load::new(half),
            rtp_stop,
            rtp_thread: Some(rtp_thread),
            tmp: Some(tmp),
            keep,
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        while !e.fars.iter().all(Far::up) {
            if Instant::now() > deadline || e.tandem.try_wait().ok().flatten().is_some() {
                let log = std::fs::read_to_string(e.dir.join("tandem.log")).unwrap_or_default();
                return Err(format!("the D-channels did not come up in 30 s; tandem's log:\n{log}"));
            }
            e.turn(Instant::now() + Duration::from_millis(5));
        }
        // Let both ends settle (tandem's interfaces see the link up too).
        let until = Instant::now() + Duration::from_millis(500);
        while Instant::now() < until {
            e.turn(until);
        }
        Ok(e)
    }

    /// Send the far ends' queued frames.
    fn send_frames(&mut self) {
        for (i, f) in self.fars.iter_mut().enumerate() {
            for fr in f.out.drain(..) {
                if socket::send(self.fds[i].as_raw_fd(), &fr, MsgFlags::MSG_DONTWAIT).is_err() {
                    eprintln!("span {}: D-channel send failed", i + 1);
                }
                if is_setup(&fr)
                    && let Some(k) = self.load.awaiting_setup.get_mut(&i).and_then(VecDeque::pop_front)
                {
                    let now = Instant::now();
                    if let Some(c) = self.load.calls.get_mut(&k) {
                        c.sent = Some(now);
                    }
                }
            }
        }
    }

    fn send_sip(&self, m: &[u8]) {
        let _ = self.udp.send_to(m, self.peer.gw);
    }

    /// One turn: wait for input (at most until `until`), handle it, run due
    /// hang-ups and far-end timers.
    fn turn(&mut self, until: Instant) {
        let wait = until.saturating_duration_since(Instant::now());
        let ms = if wait.is_zero() { 0 } else { (wait.as_micros().div_ceil(1000) as u16).min(5) };
        let ready: Vec<bool> = {
            let mut pfds: Vec<PollFd> = self.fds.iter().map(|fd| PollFd::new(fd.as_fd(), PollFlags::POLLIN)).collect();
            pfds.push(PollFd::new(self.udp.as_fd(), PollFlags::POLLIN));
            let _ = poll(&mut pfds, PollTimeout::from(ms));
            pfds.iter().map(|p| p.revents().is_some_and(|r| !r.is_empty())).collect()
        };
        let mut buf = [0u8; 4096];
        let mut evs = Vec::new();
        for i in (0..self.fds.len()).filter(|&i| ready[i]) {
            for _ in 0..256 {
                let Ok(n) = socket::recv(self.fds[i].as_raw_fd(), &mut buf, MsgFlags::MSG_DONTWAIT) else { break };
                if n == 0 {
                    break;
                }
                let at = Instant::now();
                self.fars[i].pri.handle_frame(0, &buf[..n], at);
                self.fars[i].drain(&mut evs);
                for e in evs.drain(..) {
                    self.load.on_far(i, e, &mut self.fars, at);
                }
                self.fars[i].drain(&mut evs);
            }
        }
        self.send_frames();
        if ready[self.fds.len()] {
            let mut replies = Vec::new();
            let mut pevs = Vec::new();
            for _ in 0..256 {
                let Ok((n, _src)) = self.udp.recv_from(&mut buf) else { break };
                let at = Instant::now();
                self.peer.handle(&buf[..n], &mut replies, &mut pevs);
                for r in replies.drain(..) {
                    self.send_sip(&r);
                }
                for e in pevs.drain(..) {
                    self.load.on_peer(e, at);
                }
            }
        }
        let now = Instant::now();
        while let Some(&(t, k)) = self.load.hangups.front() {
            if t > now {
                break;
            }
            self.load.hangups.pop_front();
            if let Some(m) = self.load.hangup(k, &mut self.fars, &mut self.peer, now) {
                self.send_sip(&m);
            }
        }
        for i in 0..self.fars.len() {
            if self.fars[i].pri.poll_timeout().is_some_and(|t| t <= now) {
                self.fars[i].pri.handle_timeout(now);
            }
            self.fars[i].drain(&mut evs);
            for e in evs.drain(..) {
                self.load.on_far(i, e, &mut self.fars, now);
            }
        }
        self.send_frames();
    }

    /// Start one call now.
    fn start_call(&mut self, dir: Dir) {
        let now = Instant::now();
        let (k, msg, span) = self.load.start(dir, &mut self.fars, &mut self.peer, now);
        if let Some(m) = msg {
            self.send_sip(&m);
            self.load.mark_sent(k, Instant::now());
        }
        if let Some(span) = span {
            self.load.awaiting_setup.entry(span).or_default().push_back(k);
            let mut evs = Vec::new();
            self.fars[span].drain(&mut evs);
            for e in evs {
                self.load.on_far(span, e, &mut self.fars, now);
            }
            self.send_frames();
        }
        if k <= 5 && std::env::var("CALLS_BENCH_PRI_TRACE").is_ok_and(|v| v == "1") {
            eprintln!("call {k} {dir:?} sent at {:?}", SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default());
        }
    }

    /// Calls at `rate` per second for `secs`, of `dir` (None: alternating),
    /// each talking `hold`; then wait until every call has ended (bounded).
    fn step(&mut self, rate: u64, secs: u64, dir: Option<Dir>, hold: Duration) -> StepResult {
        self.load.calls.clear();
        self.load.awaiting_setup.clear();
        self.load.hold = Some(hold);
        let cpu0 = thread_ticks(self.pid);
        let rig0: u64 = thread_ticks(std::process::id()).values().sum();
        let t0 = Instant::now();
        let total = rate * secs;
        let interval = Duration::from_secs_f64(1.0 / rate as f64);
        let mut started = 0u64;
        let mut max_late = Duration::ZERO;
        let hard_end = t0 + Duration::from_secs(secs) + hold + Duration::from_secs(10);
        let mut windows = Vec::new();
        let mut win = (t0, cpu0.values().sum::<u64>());
        while Instant::now() < hard_end {
            let now = Instant::now();
            if now - win.0 >= Duration::from_secs(5) && started < total {
                let t: u64 = thread_ticks(self.pid).values().sum();
                windows.push((t - win.1) as f64 / ticks_per_sec() / (now - win.0).as_secs_f64() * 100.0);
                win = (now, t);
            }
            while started < total {
                let due = t0 + interval * started as u32;
                if due > now {
                    break;
                }
                max_late = max_late.max(now - due);
                let d = dir.unwrap_or(if started.is_multiple_of(2) { Dir::PriToSip } else { Dir::SipToPri });
                self.start_call(d);
                started += 1;
            }
            if started >= total && self.load.all_finished() {
                break;
            }
            let next = if started < total { t0 + interval * started as u32 } else { Instant::now() + Duration::from_millis(5) };
            self.turn(next);
        }
        let wall = t0.elapsed();
        let cpu1 = thread_ticks(self.pid);
        let cpu = cpu1.iter().map(|(n, t)| (n.clone(), t.saturating_sub(*cpu0.get(n).unwrap_or(&0)))).collect();
        let mut r = StepResult {
            started: started as usize,
            ok: 0,
            failed: 0,
            first_failures: Vec::new(),
            lat: [Vec::new(), Vec::new()],
            cpu,
            wall,
            max_late,
            windows,
            rig_cpu: 0.0,
            held: Vec::new(),
        };
        r.rig_cpu = thread_ticks(std::process::id()).values().sum::<u64>().saturating_sub(rig0) as f64 / ticks_per_sec() / wall.as_secs_f64() * 100.0;
        let mut ks: Vec<_> = self.load.calls.keys().copied().collect();
        ks.sort();
        for k in ks {
            let c = &self.load.calls[&k];
            if let Some(l) = c.latency {
                r.lat[if c.dir == Dir::PriToSip { 0 } else { 1 }].push(l);
            }
            if c.dir == Dir::PriToSip
                && let Some(t) = c.sent
            {
                r.held.push(t.saturating_duration_since(c.commanded));
            }
            if c.finished() && c.failed.is_none() {
                r.ok += 1;
            } else {
                r.failed += 1;
                if r.first_failures.len() < 3 {
                    r.first_failures.push(format!(
                        "call {k} {:?}: {}",
                        c.dir,
                        c.failed.clone().unwrap_or_else(|| format!("not ended (answered {}, PRI ended {}, SIP ended {})", c.answered, c.pri_done, c.sip_done))
                    ));
                }
            }
        }
        // Clear leftovers so the next step starts clean (bounded).
        let ks: Vec<u64> = self.load.calls.iter().filter(|(_, c)| !c.finished()).map(|(k, _)| *k).collect();
        for k in ks {
            if let Some(m) = self.load.hangup(k, &mut self.fars, &mut self.peer, Instant::now()) {
                self.send_sip(&m);
            }
        }
        self.settle(Duration::from_millis(500));
        r
    }

    fn settle(&mut self, d: Duration) {
        let until = Instant::now() + d;
        while Instant::now() < until {
            self.turn(until);
        }
    }

    /// tandem's RSS with `k` PRI→SIP calls up, and idle.
    fn memory(&mut self, k: u64) -> (u64, u64, usize) {
        self.load.calls.clear();
        self.load.awaiting_setup.clear();
        self.load.hold = None;
        self.settle(Duration::from_millis(300));
        let idle = vm_rss_kb(self.pid);
        let t0 = Instant::now();
        let mut started = 0;
        while started < k && t0.elapsed() < Duration::from_secs(20) {
            if t0 + Duration::from_millis(10) * started as u32 <= Instant::now() {
                self.start_call(Dir::PriToSip);
                started += 1;
            }
            self.turn(Instant::now() + Duration::from_millis(1));
        }
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline && !self.load.calls.values().all(|c| c.answered || c.failed.is_some()) {
            self.turn(Instant::now() + Duration::from_millis(5));
        }
        self.settle(Duration::from_millis(1000));
        let up = self.load.calls.values().filter(|c| c.answered && c.failed.is_none()).count();
        let held = vm_rss_kb(self.pid);
        let ks: Vec<u64> = self.load.calls.keys().copied().collect();
        for kk in ks {
            if let Some(m) = self.load.hangup(kk, &mut self.fars, &mut self.peer, Instant::now()) {
                self.send_sip(&m);
            }
        }
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline && !self.load.all_finished() {
            self.turn(Instant::now() + Duration::from_millis(5));
        }
        self.settle(Duration::from_millis(300));
        (idle, held, up)
    }

    fn stop(mut self) {
        let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(self.pid as i32), nix::sys::signal::Signal::SIGTERM);
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if self.tandem.try_wait().ok().flatten().is_some() {
                break;
            }
            self.turn(Instant::now() + Duration::from_millis(20));
        }
        if self.tandem.try_wait().ok().flatten().is_none() {
            let _ = self.tandem.kill();
            let _ = self.tandem.wait();
        }
        self.rtp_stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.rtp_thread.take() {
            let _ = t.join();
        }
        if self.keep
            && let Some(t) = self.tmp.take()
        {
            println!("scratch directory kept: {}", t.keep().display());
        }
    }
}

/// tandem's log filter for the latency rig: the Q.931 ladder and SIP messages.
const LADDER_LOG: &str = "warn,tandem::q931=debug,tandem_gateway::sip::transport=debug";

/// Seconds since midnight of a log line's RFC 3339 timestamp.
fn log_time(line: &str) -> Option<f64> {
    let t = line.get(11..line.find('Z')?)?;
    let mut it = t.split(':');
    let h: f64 = it.next()?.parse().ok()?;
    let m: f64 = it.next()?.parse().ok()?;
    let s: f64 = it.next()?.parse().ok()?;
    Some(h * 3600.0 + m * 60.0 + s)
}

/// The called number of a Q.931 ladder line (`called=900000001/unknown`).
fn ladder_called(line: &str) -> Option<u64> {
    let c = line.split("called=").nth(1)?;
    k_of(c.split(['/', ' ']).next()?)
}

/// Per call, from tandem's own log: SETUP decoded → INVITE sent, and
/// INVITE received → SETUP encoded.
fn ladder_latency(path: &Path) -> [Vec<Duration>; 2] {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let mut setup_in = HashMap::new();
    let mut invite_in = HashMap::new();
    let mut out = [Vec::new(), Vec::new()];
    let d = |a: f64, b: f64| Duration::from_secs_f64((b - a).max(0.0));
    for line in text.lines() {
        let Some(t) = log_time(line) else { continue };
        if line.contains("<- SETUP ") {
            if let Some(k) = ladder_called(line) {
                setup_in.insert(k, t);
            }
        } else if line.contains("-> SETUP ") {
            if let Some(t0) = ladder_called(line).and_then(|k| invite_in.remove(&k)) {
                out[1].push(d(t0, t));
            }
        } else if let Some(rest) = line.split("SIP out: INVITE sip:").nth(1) {
            if let Some(t0) = k_of(rest.split('@').next().unwrap_or("")).and_then(|k| setup_in.remove(&k)) {
                out[0].push(d(t0, t));
            }
        } else if let Some(rest) = line.split("SIP in: INVITE sip:").nth(1)
            && let Some(k) = k_of(rest.split('@').next().unwrap_or(""))
        {
            invite_in.insert(k, t);
        }
    }
    out
}

fn print_step(label: &str, r: &mut StepResult, rate: u64) {
    let tps = ticks_per_sec();
    let total: u64 = r.cpu.values().sum();
    let cpu_pct = total as f64 / tps / r.wall.as_secs_f64() * 100.0;
    let per_call = if r.started > 0 { total as f64 / tps * 1e6 / r.started as f64 } else { 0.0 };
    let mut by: Vec<_> = r.cpu.iter().filter(|(_, t)| **t > 0).collect();
    by.sort_by(|a, b| b.1.cmp(a.1));
    let by: Vec<String> = by.iter().take(5).map(|(n, t)| format!("{n} {:.0}%", **t as f64 / total.max(1) as f64 * 100.0)).collect();
    println!(
        "  {label:<24} {rate:>5}/s {:>6} {:>6} {:>6} | tandem CPU {cpu_pct:>5.1}% of one core, {per_call:>6.0} µs/call [{}] | bench + simulator CPU {:.0}%, calls started late by ≤ {:.1} ms",
        r.started,
        r.ok,
        r.failed,
        by.join(", "),
        r.rig_cpu,
        r.max_late.as_secs_f64() * 1e3
    );
    for f in &r.first_failures {
        println!("      failed: {f}");
    }
}

fn part_e2e() {
    println!("== Part 2: the whole daemon (tandem run, release build) against tandem-sim, end to end ==");
    if !nix::unistd::Uid::effective().is_root() {
        println!("part 2 needs root (the simulator mounts FUSE): not run");
        return;
    }
    let spans = (env_u64("CALLS_BENCH_SPANS", 12) as u32 / 2).max(1) * 2;
    pin_self(&env_str("CALLS_BENCH_CPU", "0"));
    if realtime() {
        // Threads started from here on (the simulator's, the readers') inherit it.
        let ok = tandem_gateway::realtime::set_current_thread_fifo(RT_PRIORITY).is_ok();
        println!("realtime (CALLS_BENCH_RT=1): bench and simulator SCHED_FIFO {RT_PRIORITY}: {}", if ok { "set" } else { "FAILED" });
    }
    // Rig 1, for latency: tandem also logs the Q.931 ladder and SIP
    // messages (debug), so its own share can be read from its timestamps.
    let mut e = match E2e::start(spans, LADDER_LOG) {
        Ok(e) => e,
        Err(msg) => {
            println!("could not start the rig: {msg}");
            return;
        }
    };
    println!(
        "{spans} T1 spans ({} B-channels each way), tandem pinned to CPU {}, bench + simulator on CPU {}",
        spans / 2 * 23,
        env_str("CALLS_BENCH_TANDEM_CPU", "1"),
        env_str("CALLS_BENCH_CPU", "0"),
    );
    let rate = env_u64("CALLS_BENCH_RATE", 100).max(1);
    let secs = env_u64("CALLS_BENCH_SECS", 10).max(1);
    let hold = Duration::from_millis(env_u64("CALLS_BENCH_HOLD_MS", 500));

    // Warm-up (not reported).
    let _ = e.step(50, 1, None, Duration::from_millis(100));

    println!("latency at {rate} calls/s for {secs} s, {} ms talk (µs):", hold.as_millis());
    println!("  {:<24} {:>9} {:>9} {:>9}   calls ok failed", "", "p50", "p99", "max");
    let mut a = e.step(rate, secs, Some(Dir::PriToSip), hold);
    println!("  {:<24} {}   {:>5} {:>2} {:>6}", "SETUP-in → INVITE-out", fmt_pct(&mut a.lat[0]), a.started, a.ok, a.failed);
    let mut b = e.step(rate, secs, Some(Dir::SipToPri), hold);
    println!("  {:<24} {}   {:>5} {:>2} {:>6}", "INVITE-in → SETUP-out", fmt_pct(&mut b.lat[1]), b.started, b.ok, b.failed);
    println!("  {:<24} {:>5}   {:>6} {:>6} {:>6}", "step", "rate", "calls", "ok", "failed");
    print_step("PRI→SIP", &mut a, rate);
    println!("  (from the far end's SETUP command to its frame on the wire, p50/p99/max µs {}; not counted above)", fmt_pct(&mut a.held));
    print_step("SIP→PRI", &mut b, rate);
    let mut inside = ladder_latency(&e.dir.join("tandem.log"));
    println!("  inside tandem (its log timestamps: Q.931 SETUP decoded → INVITE handed to the socket, INVITE read → SETUP encoded; RUST_LOG={LADDER_LOG}):");
    println!("  {:<24} {}   {:>5}", "SETUP-in → INVITE-out", fmt_pct(&mut inside[0]), inside[0].len());
    println!("  {:<24} {}   {:>5}", "INVITE-in → SETUP-out", fmt_pct(&mut inside[1]), inside[1].len());
    match sim_floor(300, spans, &env_str("CALLS_BENCH_TANDEM_CPU", "1")) {
        Ok(mut f) => {
            println!(
                "  the simulator's own D-channel path, no tandem (the same {spans}-span simulator, one span configured, 300 frames each way, reader on tandem's CPU):"
            );
            println!("  {:<24} {}   {:>5}", "socket → D-channel read", fmt_pct(&mut f[0]), f[0].len());
            println!("  {:<24} {}   {:>5}", "  same, read via tokio", fmt_pct(&mut f[2]), f[2].len());
            println!("  {:<24} {}   {:>5}", "D-channel write → socket", fmt_pct(&mut f[1]), f[1].len());
        }
        Err(msg) => println!("  the simulator's own D-channel path: not measured ({msg})"),
    }
    e.stop();

    // Rig 2, for memory and rates: tandem logs at CALLS_BENCH_LOG.
    let log = env_str("CALLS_BENCH_LOG", "warn");
    let mut e = match E2e::start(spans, &log) {
        Ok(e) => e,
        Err(msg) => {
            println!("could not start the rig: {msg}");
            return;
        }
    };
    println!("tandem restarted with RUST_LOG={log}");
    let _ = e.step(50, 1, None, Duration::from_millis(100));

    let k = env_u64("CALLS_BENCH_MEM_CALLS", 80).min(spans as u64 / 2 * 23);
    let (idle, held, up) = e.memory(k);
    println!(
        "memory: tandem VmRSS {idle} kB idle, {held} kB with {up} answered PRI→SIP calls (media streams running) → {:.1} kB per active call",
        if up > 0 { (held as f64 - idle as f64) / up as f64 } else { 0.0 }
    );

    let ramp: Vec<u64> = env_str("CALLS_BENCH_RAMP", "100,200,300,400,500,600,800,1000").split(',').filter_map(|s| s.trim().parse().ok()).collect();
    let step_secs = env_u64("CALLS_BENCH_STEP_SECS", 5).max(1);
    let rhold = Duration::from_millis(env_u64("CALLS_BENCH_RAMP_HOLD_MS", 250));
    println!("ramp: calls both ways (alternating), {step_secs} s per step, {} ms talk:", rhold.as_millis());
    println!("  {:<24} {:>7} {:>6} {:>6} {:>6}", "step", "rate", "calls", "ok", "failed");
    let mut best = None;
    for r in ramp {
        let mut s = e.step(r, step_secs, None, rhold);
        let mut l0 = std::mem::take(&mut s.lat[0]);
        let mut l1 = std::mem::take(&mut s.lat[1]);
        print_step(&format!("{r} calls/s"), &mut s, r);
        println!("      latency p50/p99/max µs: SETUP→INVITE {} | INVITE→SETUP {}", fmt_pct(&mut l0), fmt_pct(&mut l1));
        if s.failed > 0 {
            break;
        }
        best = Some(r);
    }
    match best {
        Some(r) => println!("highest rate with no failed call in {step_secs} s steps: {r} calls/s"),
        None => println!("highest rate with no failed call in {step_secs} s steps: none of the steps"),
    }

    // Sustained: long enough for SIP transactions to reach their steady
    // population (they linger 64*T1 = 32 s after a call with T1 = 500 ms).
    let srate = env_u64("CALLS_BENCH_SUSTAIN_RATE", 200).max(1);
    let ssecs = env_u64("CALLS_BENCH_SUSTAIN_SECS", 40);
    if ssecs > 0 {
        e.settle(Duration::from_secs(2));
        println!("sustained: {srate} calls/s both ways for {ssecs} s, {} ms talk:", rhold.as_millis());
        let mut s = e.step(srate, ssecs, None, rhold);
        let mut l0 = std::mem::take(&mut s.lat[0]);
        let mut l1 = std::mem::take(&mut s.lat[1]);
        print_step(&format!("{srate} calls/s"), &mut s, srate);
        println!("      latency p50/p99/max µs: SETUP→INVITE {} | INVITE→SETUP {}", fmt_pct(&mut l0), fmt_pct(&mut l1));
        let w: Vec<String> = s.windows.iter().map(|p| format!("{p:.0}%")).collect();
        println!("      tandem CPU per 5 s window: {}", w.join(" "));
    }
    e.stop();
    println!();
}

fn main() {
    // `cargo bench` passes `--bench`; nothing else is taken from the command line.
    let parts = env_str("CALLS_BENCH_PARTS", "core,e2e");
    if parts.split(',').any(|p| p.trim() == "core") {
        part_core();
    }
    if parts.split(',').any(|p| p.trim() == "e2e") {
        part_e2e();
    }
}
