//! `q931-peer`: a command-line Q.921/Q.931 peer on Tandem's own stack
//! (`isdn_q931::Pri`), for interop tests and for poking at a switch by hand.
//!
//! It speaks LAPD over a Unix `SOCK_SEQPACKET` socket, one frame per packet
//! (address, control, information; no flags, no FCS): the framing of
//! tandem-sim's external D-channel socket and of the libpri test peer
//! (`tests/libpri-peer`). It reads commands on stdin, one per line, and
//! prints one JSON object per event on stdout. Run `q931-peer --help` for
//! the whole interface.
//!
//! The program is a thin shell: one thread, `poll(2)` on the socket and
//! stdin, with the stack's `poll_timeout` as the poll timeout. All protocol
//! behaviour is the library's.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::os::fd::RawFd;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use isdn_q931::q921::pcap::{Direction, PcapWriter};
use isdn_q931::q921::{self, Role};
use isdn_q931::q931::{
    Bearer, CallId, CallState, Cause, ChannelPref, ChannelRef, Command, Config, Event, IncomingCall, Initiator, InterfaceConfig, InterfaceKind, Law, Number,
    PartyName, RestartTarget, SetupRequest, Side, SwitchType, Timers,
};
use isdn_q931::wire::CauseValue;
use isdn_q931::wire::ie::{NumberingPlan, Presentation, ProgressDescription, RedirectReason, Screening, ServiceStatus, TypeOfNumber};
use isdn_q931::{Output, Pri, PriConfig};

/// Exit statuses (the same as libpri-peer's).
const EXIT_OK: i32 = 0;
const EXIT_SOCKET: i32 = 2;
const EXIT_CLOSED: i32 = 3;
const EXIT_USAGE: i32 = 64;

/// How long `--connect` keeps trying while the path does not exist yet.
const CONNECT_RETRY: Duration = Duration::from_secs(10);
/// Most frames read from the socket in one go.
const READ_BURST: usize = 64;

const HELP: &str = "\
q931-peer: a Q.921/Q.931 (ISDN PRI) peer on Tandem's isdn-q931 stack

USAGE:
    q931-peer --role network|user --switch SWITCH (--listen PATH | --connect PATH)
              [--pcap FILE] [--auto-answer MS] [--trace] [--interface t1|e1]
              [--law alaw|ulaw] [--overlap] [--timer NAME=MS]... [--quit-timeout MS]

The D-channel is a Unix SOCK_SEQPACKET socket carrying one LAPD frame per
packet (address, control, information; no flags, no FCS): the framing of
tandem-sim's external D-channel socket and of tests/libpri-peer. The link
uses TEI 0, SAPI 0 and starts establishing as soon as the socket connects.

OPTIONS:
    --role network|user    The Q.931 side (for qsig: network = side A, user = side B).
    --switch SWITCH        ni2 dms100 4ess 5ess euroisdn-e1 euroisdn-t1 qsig
    --listen PATH          Listen on PATH and take exactly one connection.
    --connect PATH         Connect to PATH (retried for 10 s while it does not exist).
    --pcap FILE            Write every frame sent and received to FILE (pcap,
                           link type 177 LINUX_LAPD; tshark/Wireshark decode it).
    --auto-answer MS       Answer incoming calls: CALL PROCEEDING and ALERTING at once,
                           CONNECT MS ms later. With overlap dialling and an incomplete
                           number, SETUP ACKNOWLEDGE first; the number counts as complete
                           on Sending Complete or once no digit came for MS ms.
    --trace                Also print a `frame` event for every frame.
    --interface t1|e1      Span type (default: the switch type's; sets the law too).
    --law alaw|ulaw        G.711 law of outgoing speech calls (default: the span's).
    --overlap              Allow overlap dialling even where the switch type does not
                           use it (ni2, dms100, 4ess, 5ess); euroisdn-* and qsig always do.
    --timer NAME=MS        Set a timer: Q.931 T301 T302 T303 T304 T305 T306 T308 T309
                           T310 T312 T313 T316 T317 T322 T3M1, Q.921 T200 T203 (ms),
                           or N200=COUNT. May be repeated.
    --quit-timeout MS      On quit or EOF, how long to wait for calls to clear
                           (default 2000).
    -h, --help             This text.

COMMANDS (stdin, one per line; words may be grouped with \"double quotes\";
lines starting with # are ignored; CALLID defaults to the newest call that is
not being cleared):
    call CALLED CALLING [name NAME] [pres allowed|restricted|unavailable]
         [name-pres allowed|restricted] [screen N] [ton N] [npi N] [chan N]
         [preferred] [overlap] [bearer speech|audio|data]
         [redirecting NUMBER] [reason busy|noreply|unconditional|deflection|unknown]
                           Place a call (SETUP). CALLING may be - for none. With
                           `chan N` the channel is exclusive unless `preferred`;
                           without it the stack hunts one. `overlap` sends the number
                           as incomplete (send more with `info`). `redirecting` adds
                           a Redirecting Number IE (`reason` defaults to unknown).
                           Prints `dialing`.
    proceeding [CALLID] [inband]    CALL PROCEEDING
    alerting [CALLID] [inband]      ALERTING
    progress [CALLID]               PROGRESS (in-band information available)
    setup_ack [CALLID]              SETUP ACKNOWLEDGE (overlap receiving)
    answer [CALLID]                 CONNECT
    hangup CAUSE [CALLID]           Clear: DISCONNECT (RELEASE COMPLETE for an incoming
                                    call not yet replied to)
    release CAUSE [CALLID]          Clear at once: RELEASE
    info DIGITS [CALLID] [complete] INFORMATION (overlap digits, or keypad)
    enquiry [CALLID]                STATUS ENQUIRY
    restart [CHAN...|all]           RESTART: the listed channels (one RESTART each), the
                                    whole interface (no argument), or all interfaces
    service in|out CHAN...          SERVICE (maintenance; NI-2, DMS-100, 4ESS, 5ESS): put
                                    the channels in or out of service
    status                          Print a `status` event.
    quit                            Clear every call (cause 16; 34 for an incoming call not
                                    yet replied to), wait for the clearing (--quit-timeout),
                                    exit 0. EOF on stdin does the same.

EVENTS (stdout, one JSON object per line; every one has \"event\" and \"ms\", the
milliseconds since start; calls are identified by \"call\", channels are B-channel
numbers; causes are Q.850 values with \"location\"):
    listening {path}               started {role, switch}
    link_up {link}  link_down {link}  active_link {link}
    dialing {call, called, calling, channel}
    incoming {call, channel, called, calling, name, presentation, screening, pres,
              ton, npi, name_presentation, name_follows, complete, bearer, law,
              redirecting, redirecting_reason, progress}
    digits {call, digits, complete}     digit_timeout {call}
    setup_ack {call, channel}           proceeding {call, channel, progress}
    alerting {call, channel, inband}    progress {call, progress, inband}
    connected {call, channel, connected}    connect_ack {call}
    calling_name {call, name, presentation} facility {call}  notify {call, description}
    disconnecting {call, cause, location, inband, initiator}
    released {call, cause, location}    (the last event of every call)
    status_received {call, cause, peer_state, our_state}
    restart {channels, initiator}       (channels restarted, calls on them released)
    restart_ack {channels}  restart_failed {channels}
    service {channels, status, initiator}  service_failed {channels}
    auto_answer {call}  frame {dir, hex} (--trace)
    status {role, switch, socket, link_up, calls: [{call, direction, state, channel}],
            pending_restarts, dropped_messages}
    error {msg, command}   (a refused command; never exits)
    exit {status}          (the last line)

EXIT STATUS:
    0 quit or EOF on stdin; 2 socket error; 3 the other end closed the socket;
    64 bad command line.
";

// ---------------------------------------------------------------------------
// Command line

#[derive(Debug)]
struct Options {
    side: Side,
    role_name: String,
    switch: SwitchType,
    switch_name: String,
    listen: Option<String>,
    connect: Option<String>,
    pcap: Option<String>,
    auto_answer: Option<Duration>,
    trace: bool,
    interface: Option<InterfaceKind>,
    law: Option<Law>,
    overlap: bool,
    timers: Vec<(String, u64)>,
    quit_timeout: Duration,
}

fn usage_error(msg: &str) -> ! {
    eprintln!("q931-peer: {msg}");
    eprintln!("run `q931-peer --help` for usage");
    std::process::exit(EXIT_USAGE);
}

fn parse_switch(s: &str) -> Option<SwitchType> {
    Some(match s {
        "ni2" => SwitchType::Ni2,
        "dms100" => SwitchType::Dms100,
        "4ess" => SwitchType::Att4ess,
        "5ess" => SwitchType::Lucent5ess,
        "euroisdn-e1" => SwitchType::EuroIsdnE1,
        "euroisdn-t1" => SwitchType::EuroIsdnT1,
        "qsig" => SwitchType::Qsig,
        _ => return None,
    })
}

fn parse_ms(opt: &str, v: &str) -> Duration {
    match v.parse::<u64>() {
        Ok(ms) => Duration::from_millis(ms),
        Err(_) => usage_error(&format!("{opt} wants milliseconds, not {v:?}")),
    }
}

fn parse_args() -> Options {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut role = None;
    let mut switch = None;
    let mut o = Options {
        side: Side::User,
        role_name: String::new(),
        switch: SwitchType::Ni2,
        switch_name: String::new(),
        listen: None,
        connect: None,
        pcap: None,
        auto_answer: None,
        trace: false,
        interface: None,
        law: None,
        overlap: false,
        timers: Vec::new(),
        quit_timeout: Duration::from_millis(2000),
    };
    let mut i = 0;
    while i < args.len() {
        let a = args[i].as_str();
        match a {
            "-h" | "--help" => {
                print!("{HELP}");
                std::process::exit(EXIT_OK);
            }
            "--trace" => o.trace = true,
            "--overlap" => o.overlap = true,
            _ => {
                let Some(v) = args.get(i + 1).map(String::as_str) else {
                    usage_error(&format!("{a} needs a value or is unknown"));
                };
                i += 1;
                match a {
                    "--role" => {
                        role = Some(match v {
                            "network" => Side::Network,
                            "user" => Side::User,
                            _ => usage_error("--role must be network or user"),
                        });
                        o.role_name = v.to_string();
                    }
                    "--switch" => {
                        switch = Some(
                            parse_switch(v)
                                .unwrap_or_else(|| usage_error(&format!("unknown switch type {v:?} (ni2 dms100 4ess 5ess euroisdn-e1 euroisdn-t1 qsig)"))),
                        );
                        o.switch_name = v.to_string();
                    }
                    "--listen" => o.listen = Some(v.to_string()),
                    "--connect" => o.connect = Some(v.to_string()),
                    "--pcap" => o.pcap = Some(v.to_string()),
                    "--auto-answer" => o.auto_answer = Some(parse_ms(a, v)),
                    "--quit-timeout" => o.quit_timeout = parse_ms(a, v),
                    "--interface" => {
                        o.interface = Some(match v {
                            "t1" => InterfaceKind::T1,
                            "e1" => InterfaceKind::E1,
                            _ => usage_error("--interface must be t1 or e1"),
                        })
                    }
                    "--law" => {
                        o.law = Some(match v {
                            "alaw" => Law::Alaw,
                            "ulaw" => Law::Ulaw,
                            _ => usage_error("--law must be alaw or ulaw"),
                        })
                    }
                    "--timer" => {
                        let Some((name, ms)) = v.split_once('=') else {
                            usage_error("--timer wants NAME=MS, e.g. T309=2000");
                        };
                        let name = name.to_ascii_uppercase();
                        let Ok(ms) = ms.parse::<u64>() else {
                            usage_error(&format!("bad timer value in {v:?}"));
                        };
                        if !TIMER_NAMES.contains(&name.as_str()) {
                            usage_error(&format!("unknown timer {name:?} (known: {})", TIMER_NAMES.join(" ")));
                        }
                        o.timers.push((name, ms));
                    }
                    _ => usage_error(&format!("unknown option {a}")),
                }
            }
        }
        i += 1;
    }
    match (role, switch) {
        (Some(r), Some(s)) => {
            o.side = r;
            o.switch = s;
        }
        _ => usage_error("--role and --switch are required"),
    }
    if o.listen.is_some() == o.connect.is_some() {
        usage_error("exactly one of --listen PATH and --connect PATH is required");
    }
    o
}

const TIMER_NAMES: [&str; 18] =
    ["T301", "T302", "T303", "T304", "T305", "T306", "T308", "T309", "T310", "T312", "T313", "T316", "T317", "T322", "T3M1", "T200", "T203", "N200"];

fn set_timer(t: &mut Timers, l2: &mut q921::Config, name: &str, v: u64) {
    let d = Duration::from_millis(v);
    match name {
        "T301" => t.t301 = d,
        "T302" => t.t302 = d,
        "T303" => t.t303 = d,
        "T304" => t.t304 = d,
        "T305" => t.t305 = d,
        "T306" => t.t306 = d,
        "T308" => t.t308 = d,
        "T309" => t.t309 = d,
        "T310" => t.t310 = d,
        "T312" => t.t312 = d,
        "T313" => t.t313 = d,
        "T316" => t.t316 = d,
        "T317" => t.t317 = d,
        "T322" => t.t322 = d,
        "T3M1" => t.t3m1 = d,
        "T200" => l2.t200 = d,
        "T203" => l2.t203 = d,
        "N200" => l2.n200 = v as u32,
        _ => unreachable!("checked in parse_args"),
    }
}

// ---------------------------------------------------------------------------
// JSON output

/// One JSON object, built field by field and printed as one line.
struct J(String);

fn json_str(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 || c == '\u{7f}' => {
                out.push_str(&format!("\\u{:04x}", c as u32));
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

impl J {
    fn new(event: &str, ms: u128) -> J {
        let mut s = String::from("{\"event\":");
        json_str(&mut s, event);
        s.push_str(&format!(",\"ms\":{ms}"));
        J(s)
    }
    fn key(&mut self, k: &str) {
        self.0.push(',');
        json_str(&mut self.0, k);
        self.0.push(':');
    }
    fn str(mut self, k: &str, v: &str) -> J {
        self.key(k);
        json_str(&mut self.0, v);
        self
    }
    fn opt_str(mut self, k: &str, v: Option<&str>) -> J {
        self.key(k);
        match v {
            Some(v) => json_str(&mut self.0, v),
            None => self.0.push_str("null"),
        }
        self
    }
    fn num(mut self, k: &str, v: i64) -> J {
        self.key(k);
        self.0.push_str(&v.to_string());
        self
    }
    fn opt_num(mut self, k: &str, v: Option<i64>) -> J {
        self.key(k);
        match v {
            Some(v) => self.0.push_str(&v.to_string()),
            None => self.0.push_str("null"),
        }
        self
    }
    fn bool(mut self, k: &str, v: bool) -> J {
        self.key(k);
        self.0.push_str(if v { "true" } else { "false" });
        self
    }
    /// A value that is already JSON.
    fn raw(mut self, k: &str, v: &str) -> J {
        self.key(k);
        self.0.push_str(v);
        self
    }
    fn emit(mut self) {
        self.0.push('}');
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "{}", self.0);
        let _ = out.flush();
    }
}

fn num_list<I: IntoIterator<Item = i64>>(it: I) -> String {
    let v: Vec<String> = it.into_iter().map(|n| n.to_string()).collect();
    format!("[{}]", v.join(","))
}

fn channels_json(chs: &[ChannelRef]) -> String {
    num_list(chs.iter().map(|c| i64::from(c.channel)))
}

fn progress_json(p: &[ProgressDescription]) -> String {
    num_list(p.iter().map(|d| i64::from(d.bits())))
}

fn pres_name(p: Presentation) -> &'static str {
    match p {
        Presentation::Allowed => "allowed",
        Presentation::Restricted => "restricted",
        Presentation::NotAvailable => "unavailable",
        Presentation::Reserved => "reserved",
    }
}

fn screening_name(s: Screening) -> &'static str {
    match s {
        Screening::UserNotScreened => "user_not_screened",
        Screening::UserVerifiedPassed => "user_passed",
        Screening::UserVerifiedFailed => "user_failed",
        Screening::NetworkProvided => "network_provided",
    }
}

fn initiator_name(i: Initiator) -> &'static str {
    match i {
        Initiator::Peer => "peer",
        Initiator::Local => "local",
        Initiator::Application => "application",
    }
}

fn law_name(l: Option<Law>) -> Option<&'static str> {
    l.map(|l| match l {
        Law::Alaw => "alaw",
        Law::Ulaw => "ulaw",
    })
}

fn bearer_name(b: Bearer) -> String {
    use isdn_q931::q931::BearerKind as K;
    match b.kind {
        K::Speech => "speech".into(),
        K::Audio3k1 => "audio".into(),
        K::UnrestrictedDigital => "data".into(),
        K::RestrictedDigital => "restricted_data".into(),
        K::Other(c) => format!("other_{c}"),
    }
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

// ---------------------------------------------------------------------------
// Sockets (libc: std has no SOCK_SEQPACKET)

struct Fd(RawFd);

impl Drop for Fd {
    fn drop(&mut self) {
        // SAFETY: we own the descriptor.
        unsafe { libc::close(self.0) };
    }
}

fn errno() -> std::io::Error {
    std::io::Error::last_os_error()
}

fn sockaddr(path: &str) -> Result<(libc::sockaddr_un, libc::socklen_t), String> {
    // SAFETY: sockaddr_un is plain old data; all zeroes is a valid value.
    let mut sa: libc::sockaddr_un = unsafe { std::mem::zeroed() };
    sa.sun_family = libc::AF_UNIX as libc::sa_family_t;
    let bytes = path.as_bytes();
    if bytes.len() >= sa.sun_path.len() || bytes.contains(&0) {
        return Err(format!("socket path too long or invalid: {path}"));
    }
    for (d, s) in sa.sun_path.iter_mut().zip(bytes) {
        *d = *s as libc::c_char;
    }
    Ok((sa, std::mem::size_of::<libc::sockaddr_un>() as libc::socklen_t))
}

fn seqpacket_socket() -> Result<Fd, String> {
    // SAFETY: plain system call.
    let fd = unsafe { libc::socket(libc::AF_UNIX, libc::SOCK_SEQPACKET | libc::SOCK_CLOEXEC, 0) };
    if fd < 0 {
        return Err(format!("socket: {}", errno()));
    }
    Ok(Fd(fd))
}

fn listen_on(path: &str) -> Result<Fd, String> {
    let (sa, len) = sockaddr(path)?;
    // A stale socket from an earlier run would make bind fail.
    if let Ok(m) = std::fs::symlink_metadata(path)
        && std::os::unix::fs::FileTypeExt::is_socket(&m.file_type())
    {
        let _ = std::fs::remove_file(path);
    }
    let fd = seqpacket_socket()?;
    // SAFETY: sa is a valid sockaddr_un of length len.
    let r = unsafe { libc::bind(fd.0, (&raw const sa).cast(), len) };
    if r != 0 {
        return Err(format!("bind {path}: {}", errno()));
    }
    // SAFETY: plain system call.
    if unsafe { libc::listen(fd.0, 1) } != 0 {
        return Err(format!("listen on {path}: {}", errno()));
    }
    Ok(fd)
}

fn connect_to(path: &str) -> Result<Fd, String> {
    let (sa, len) = sockaddr(path)?;
    let deadline = Instant::now() + CONNECT_RETRY;
    loop {
        let fd = seqpacket_socket()?;
        // SAFETY: sa is a valid sockaddr_un of length len.
        let r = unsafe { libc::connect(fd.0, (&raw const sa).cast(), len) };
        if r == 0 {
            return Ok(fd);
        }
        let e = errno();
        let retry = matches!(e.raw_os_error(), Some(libc::ENOENT | libc::ECONNREFUSED));
        if !retry || Instant::now() >= deadline {
            return Err(format!("connect to {path}: {e}"));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn accept_one(listen: &Fd) -> Result<Option<Fd>, String> {
    // SAFETY: plain system call; we do not want the peer address.
    let fd = unsafe { libc::accept4(listen.0, std::ptr::null_mut(), std::ptr::null_mut(), libc::SOCK_CLOEXEC) };
    if fd < 0 {
        let e = errno();
        return match e.raw_os_error() {
            Some(libc::EINTR | libc::EAGAIN | libc::ECONNABORTED) => Ok(None),
            _ => Err(format!("accept: {e}")),
        };
    }
    Ok(Some(Fd(fd)))
}

/// Result of reading the socket.
enum Rx {
    Frame(Vec<u8>),
    Nothing,
    Closed,
    Error(String),
}

fn recv_frame(fd: &Fd) -> Rx {
    let mut buf = [0u8; 1024];
    // SAFETY: buf is valid for its length.
    let n = unsafe { libc::recv(fd.0, buf.as_mut_ptr().cast(), buf.len(), libc::MSG_DONTWAIT) };
    if n > 0 {
        return Rx::Frame(buf[..n as usize].to_vec());
    }
    if n == 0 {
        return Rx::Closed;
    }
    let e = errno();
    match e.raw_os_error() {
        Some(libc::EAGAIN | libc::EINTR) => Rx::Nothing,
        Some(libc::ECONNRESET) => Rx::Closed,
        _ => Rx::Error(format!("read from the socket: {e}")),
    }
}

/// Sends one frame; `Err(status)` when the socket is gone.
fn send_frame(fd: &Fd, frame: &[u8]) -> Result<(), (i32, String)> {
    loop {
        // SAFETY: frame is valid for its length.
        let n = unsafe { libc::send(fd.0, frame.as_ptr().cast(), frame.len(), libc::MSG_NOSIGNAL) };
        if n >= 0 {
            return Ok(());
        }
        let e = errno();
        match e.raw_os_error() {
            Some(libc::EINTR) => continue,
            Some(libc::EPIPE | libc::ECONNRESET | libc::ENOTCONN) => {
                return Err((EXIT_CLOSED, "the other end closed the socket".into()));
            }
            _ => return Err((EXIT_SOCKET, format!("write to the socket: {e}"))),
        }
    }
}

// ---------------------------------------------------------------------------
// The peer

/// What we track per call beyond the stack's own state.
#[derive(Debug, Clone)]
struct CallInfo {
    outgoing: bool,
    /// Clearing has started (by us or the peer).
    releasing: bool,
    /// Auto-answer: what to do when, if anything.
    auto: Option<(Auto, Instant)>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Auto {
    /// Overlap receiving: proceed and alert once no digit came for a while.
    Digits,
    /// Send CONNECT.
    Answer,
}

struct Peer {
    o: Options,
    t0: Instant,
    wall0: SystemTime,
    listen: Option<Fd>,
    sock: Option<Fd>,
    pri: Option<Pri>,
    pcap: Option<PcapWriter<BufWriter<File>>>,
    pcap_dirty: bool,
    calls: BTreeMap<u64, CallInfo>,
    /// Quitting: the deadline for calls to clear.
    quitting: Option<Instant>,
    /// Set when the program should stop with this status.
    exit: Option<i32>,
}

impl Peer {
    fn ms(&self) -> u128 {
        self.t0.elapsed().as_millis()
    }

    fn ev(&self, event: &str) -> J {
        J::new(event, self.ms())
    }

    fn error(&self, msg: &str, command: Option<&str>) {
        self.ev("error").str("msg", msg).opt_str("command", command).emit();
    }

    fn pri_config(&self) -> PriConfig {
        let mut c = Config::new(self.o.switch, self.o.side);
        if let Some(kind) = self.o.interface {
            c.interfaces = vec![InterfaceConfig::new(0, kind, true)];
            c.law = kind.law();
        }
        if let Some(law) = self.o.law {
            c.law = law;
        }
        if self.o.overlap {
            c.variant.overlap_dialing = true;
        }
        let mut pc = PriConfig::new(c);
        for (name, v) in &self.o.timers {
            set_timer(&mut pc.q931.timers, &mut pc.links[0].q921, name, *v);
        }
        pc.trace = self.o.trace || self.o.pcap.is_some();
        pc
    }

    /// The socket is connected: create the stack (it starts establishing
    /// the link at once).
    fn start(&mut self, fd: Fd) {
        self.sock = Some(fd);
        match Pri::new(self.pri_config(), Instant::now()) {
            Ok(p) => self.pri = Some(p),
            Err(e) => {
                self.error(&format!("configuration: {e}"), None);
                self.exit = Some(EXIT_USAGE);
                return;
            }
        }
        self.ev("started").str("role", &self.o.role_name).str("switch", &self.o.switch_name).emit();
        self.pump();
    }

    /// Moves everything the stack produced to the socket, stdout and the
    /// pcap, acting on events (auto-answer) as they come.
    fn pump(&mut self) {
        while let Some(out) = self.pri.as_mut().and_then(Pri::poll_output) {
            match out {
                Output::Transmit { frame, .. } => {
                    if let Some(fd) = &self.sock
                        && self.exit.is_none()
                        && let Err((code, msg)) = send_frame(fd, &frame)
                    {
                        self.socket_gone(code, &msg);
                    }
                }
                Output::Trace(t) => {
                    if self.o.trace {
                        let dir = match t.direction {
                            Direction::Sent => "tx",
                            Direction::Received => "rx",
                        };
                        self.ev("frame").str("dir", dir).str("hex", &hex(&t.frame)).emit();
                    }
                    let ts = self.wall0 + t.at.saturating_duration_since(self.t0);
                    let ts = ts.duration_since(UNIX_EPOCH).unwrap_or_default();
                    if let Some(w) = &mut self.pcap {
                        if let Err(e) = w.write_frame(ts, t.direction, &t.frame) {
                            self.pcap = None;
                            self.error(&format!("writing the pcap: {e}"), None);
                        } else {
                            self.pcap_dirty = true;
                        }
                    }
                }
                Output::Event(e) => self.on_event(e),
            }
        }
    }

    fn socket_gone(&mut self, code: i32, msg: &str) {
        if self.exit.is_some() {
            return;
        }
        if self.quitting.is_some() && code == EXIT_CLOSED {
            // The other end left while we were leaving too.
            self.exit = Some(EXIT_OK);
            return;
        }
        self.error(msg, None);
        self.exit = Some(code);
    }

    fn command(&mut self, cmd: Command) -> Result<Option<CallId>, String> {
        let now = Instant::now();
        let pri = self.pri.as_mut().ok_or("the socket is not connected yet")?;
        let r = pri.command(cmd, now).map_err(|e| e.to_string());
        self.pump();
        r
    }

    fn on_event(&mut self, e: Event) {
        let now = Instant::now();
        match e {
            Event::LinkUp { link } => self.ev("link_up").num("link", link.into()).emit(),
            Event::LinkDown { link } => self.ev("link_down").num("link", link.into()).emit(),
            Event::ActiveLink { link } => self.ev("active_link").opt_num("link", link.map(i64::from)).emit(),
            Event::IncomingCall(ic) => self.on_incoming(*ic, now),
            Event::MoreDigits { call, digits, sending_complete } => {
                self.ev("digits").num("call", call.0 as i64).str("digits", &digits).bool("complete", sending_complete).emit();
                if let Some(info) = self.calls.get_mut(&call.0)
                    && let Some((Auto::Digits, _)) = info.auto
                {
                    let wait = self.o.auto_answer.unwrap_or_default();
                    info.auto = Some((Auto::Digits, if sending_complete { now } else { now + wait }));
                }
            }
            Event::DigitTimeout { call } => self.ev("digit_timeout").num("call", call.0 as i64).emit(),
            Event::SetupAcknowledged { call, channel } => self.ev("setup_ack").num("call", call.0 as i64).num("channel", channel.channel.into()).emit(),
            Event::Proceeding { call, channel, progress } => {
                self.ev("proceeding").num("call", call.0 as i64).num("channel", channel.channel.into()).raw("progress", &progress_json(&progress)).emit()
            }
            Event::Alerting { call, channel, inband, progress } => self
                .ev("alerting")
                .num("call", call.0 as i64)
                .num("channel", channel.channel.into())
                .bool("inband", inband)
                .raw("progress", &progress_json(&progress))
                .emit(),
            Event::Progress { call, progress, inband } => {
                self.ev("progress").num("call", call.0 as i64).raw("progress", &progress_json(&progress)).bool("inband", inband).emit()
            }
            Event::Connected { call, channel, connected } => self
                .ev("connected")
                .num("call", call.0 as i64)
                .num("channel", channel.channel.into())
                .opt_str("connected", connected.as_ref().map(|n| n.digits.as_str()))
                .emit(),
            Event::ConnectAcknowledged { call } => self.ev("connect_ack").num("call", call.0 as i64).emit(),
            Event::CallingName { call, name } => {
                self.ev("calling_name").num("call", call.0 as i64).str("name", &name.name).str("presentation", pres_name(name.presentation)).emit()
            }
            Event::Facility { call, .. } => self.ev("facility").opt_num("call", call.map(|c| c.0 as i64)).emit(),
            Event::Notify { call, description } => self.ev("notify").num("call", call.0 as i64).num("description", description.into()).emit(),
            Event::Disconnecting { call, cause, inband, initiator } => {
                if let Some(info) = self.calls.get_mut(&call.0) {
                    info.releasing = true;
                    info.auto = None;
                }
                self.cause_event("disconnecting", call, cause).bool("inband", inband).str("initiator", initiator_name(initiator)).emit();
            }
            Event::Released { call, cause } => {
                self.calls.remove(&call.0);
                self.cause_event("released", call, cause).emit();
            }
            Event::Status { call, cause, peer_state, our_state } => self
                .ev("status_received")
                .opt_num("call", call.map(|c| c.0 as i64))
                .num("cause", cause.value.0.into())
                .num("location", cause.location.bits().into())
                .num("peer_state", peer_state.into())
                .num("our_state", our_state.number().into())
                .emit(),
            Event::ChannelsRestarted { channels, initiator } => {
                self.ev("restart").raw("channels", &channels_json(&channels)).str("initiator", initiator_name(initiator)).emit()
            }
            Event::RestartCompleted { channels } => self.ev("restart_ack").raw("channels", &channels_json(&channels)).emit(),
            Event::RestartFailed { channels } => self.ev("restart_failed").raw("channels", &channels_json(&channels)).emit(),
            Event::ServiceChanged { channels, status, initiator } => self
                .ev("service")
                .raw("channels", &channels_json(&channels))
                .str(
                    "status",
                    &match status {
                        ServiceStatus::InService => "in_service".to_string(),
                        ServiceStatus::Maintenance => "maintenance".to_string(),
                        ServiceStatus::OutOfService => "out_of_service".to_string(),
                        ServiceStatus::Other(b) => format!("other_{b}"),
                    },
                )
                .str("initiator", initiator_name(initiator))
                .emit(),
            Event::ServiceFailed { channels } => self.ev("service_failed").raw("channels", &channels_json(&channels)).emit(),
        }
    }

    fn cause_event(&self, event: &str, call: CallId, cause: Cause) -> J {
        self.ev(event).num("call", call.0 as i64).num("cause", cause.value.0.into()).num("location", cause.location.bits().into())
    }

    fn on_incoming(&mut self, ic: IncomingCall, now: Instant) {
        let calling = ic.calling.as_ref();
        let name = ic.calling_name.as_ref();
        let mut j = self
            .ev("incoming")
            .num("call", ic.call.0 as i64)
            .num("channel", ic.channel.channel.into())
            .str("called", &ic.called.digits)
            .opt_str("calling", calling.map(|n| n.digits.as_str()))
            .opt_str("name", name.map(|n| n.name.as_str()))
            .opt_str("presentation", calling.map(|n| pres_name(n.presentation)))
            .opt_str("screening", calling.map(|n| screening_name(n.screening)))
            .opt_num("pres", calling.map(|n| i64::from(n.presentation.bits() << 5 | n.screening.bits())))
            .opt_num("ton", calling.map(|n| i64::from(n.ton.bits())))
            .opt_num("npi", calling.map(|n| i64::from(n.plan.bits())))
            .opt_str("name_presentation", name.map(|n| pres_name(n.presentation)))
            .bool("name_follows", ic.name_follows)
            .bool("complete", ic.sending_complete)
            .str("bearer", &bearer_name(ic.bearer))
            .opt_str("law", law_name(ic.bearer.law))
            .raw("progress", &progress_json(&ic.progress));
        if let Some(r) = &ic.redirecting {
            j = j.str("redirecting", &r.number.digits).num("redirecting_reason", r.reason.bits().into());
        }
        j.emit();
        let mut info = CallInfo { outgoing: false, releasing: false, auto: None };
        if let Some(wait) = self.o.auto_answer {
            let overlap = self.pri.as_ref().is_some_and(|p| p.call_control().config().variant.overlap_dialing);
            if overlap && !ic.sending_complete {
                info.auto = Some((Auto::Digits, now + wait));
                self.calls.insert(ic.call.0, info);
                if let Err(e) = self.command(Command::SetupAck { call: ic.call }) {
                    self.error(&format!("auto-answer: setup_ack: {e}"), None);
                }
                return;
            }
            info.auto = Some((Auto::Answer, now + wait));
            self.calls.insert(ic.call.0, info);
            self.proceed_and_alert(ic.call);
            return;
        }
        self.calls.insert(ic.call.0, info);
    }

    fn proceed_and_alert(&mut self, call: CallId) {
        let r = self.command(Command::Proceeding { call, inband: false }).and_then(|_| self.command(Command::Alerting { call, inband: false }));
        if let Err(e) = r {
            self.error(&format!("auto-answer: {e}"), None);
        }
    }

    /// Auto-answer steps that are due.
    fn run_auto(&mut self, now: Instant) {
        let due: Vec<(u64, Auto)> = self
            .calls
            .iter()
            .filter_map(|(id, c)| match c.auto {
                Some((a, at)) if at <= now && !c.releasing => Some((*id, a)),
                _ => None,
            })
            .collect();
        for (id, a) in due {
            let call = CallId(id);
            match a {
                Auto::Digits => {
                    if let Some(c) = self.calls.get_mut(&id) {
                        c.auto = Some((Auto::Answer, now + self.o.auto_answer.unwrap_or_default()));
                    }
                    self.proceed_and_alert(call);
                }
                Auto::Answer => {
                    if let Some(c) = self.calls.get_mut(&id) {
                        c.auto = None;
                    }
                    self.ev("auto_answer").num("call", id as i64).emit();
                    if let Err(e) = self.command(Command::Connect { call, connected: None }) {
                        self.error(&format!("auto-answer: answer: {e}"), None);
                    }
                }
            }
        }
    }

    fn next_deadline(&self) -> Option<Instant> {
        let stack = self.pri.as_ref().and_then(Pri::poll_timeout);
        let auto = self.calls.values().filter_map(|c| c.auto.map(|a| a.1)).min();
        [stack, auto, self.quitting].into_iter().flatten().min()
    }

    // -- commands -----------------------------------------------------------

    /// The call a command names, or the newest one not being cleared.
    fn pick_call(&self, tok: Option<&str>) -> Result<CallId, String> {
        match tok {
            Some(t) => t.parse::<u64>().map(CallId).map_err(|_| format!("bad call id {t:?}")),
            None => self.calls.iter().rev().find(|(_, c)| !c.releasing).map(|(id, _)| CallId(*id)).ok_or_else(|| "no call".to_string()),
        }
    }

    fn handle_line(&mut self, line: &str) {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            return;
        }
        let tok = tokenize(line);
        let Some(first) = tok.first() else {
            return;
        };
        if first == "quit" {
            self.start_quit();
            return;
        }
        if first == "status" {
            self.print_status();
            return;
        }
        if let Err(e) = self.run_command(&tok) {
            self.error(&format!("{first}: {e}"), Some(line));
        }
    }

    fn run_command(&mut self, tok: &[String]) -> Result<(), String> {
        let args: Vec<&str> = tok[1..].iter().map(String::as_str).collect();
        let flag = |w: &str| args.contains(&w);
        let callid = |i: usize| args.get(i).copied().filter(|a| a.parse::<u64>().is_ok());
        match tok[0].as_str() {
            "call" => self.cmd_call(&args),
            "proceeding" | "alerting" => {
                let call = self.pick_call(callid(0))?;
                let inband = flag("inband");
                let cmd = if tok[0] == "proceeding" { Command::Proceeding { call, inband } } else { Command::Alerting { call, inband } };
                self.command(cmd).map(drop)
            }
            "progress" => {
                let call = self.pick_call(callid(0))?;
                self.command(Command::Progress { call, description: ProgressDescription::InbandAvailable }).map(drop)
            }
            "setup_ack" => {
                let call = self.pick_call(callid(0))?;
                self.command(Command::SetupAck { call }).map(drop)
            }
            "answer" => {
                let call = self.pick_call(callid(0))?;
                if let Some(c) = self.calls.get_mut(&call.0) {
                    c.auto = None;
                }
                self.command(Command::Connect { call, connected: None }).map(drop)
            }
            "hangup" | "release" => {
                let cause = args.first().and_then(|c| c.parse::<u8>().ok()).filter(|c| *c < 128).ok_or("usage: hangup|release CAUSE [CALLID]")?;
                let call = self.pick_call(callid(1))?;
                if self.calls.get(&call.0).is_some_and(|c| c.releasing) {
                    return Err(format!("call {} is already being cleared", call.0));
                }
                let cause = CauseValue(cause);
                let cmd = if tok[0] == "hangup" { Command::Disconnect { call, cause, inband: false } } else { Command::Release { call, cause } };
                self.command(cmd)?;
                if let Some(c) = self.calls.get_mut(&call.0) {
                    c.releasing = true;
                    c.auto = None;
                }
                Ok(())
            }
            "info" => {
                let digits = args.first().ok_or("usage: info DIGITS [CALLID] [complete]")?;
                let call = self.pick_call(callid(1))?;
                self.command(Command::Information { call, digits: digits.to_string(), sending_complete: flag("complete") }).map(drop)
            }
            "enquiry" => {
                let call = self.pick_call(callid(0))?;
                self.command(Command::StatusEnquiry { call }).map(drop)
            }
            "restart" => {
                let target = match args.as_slice() {
                    [] => RestartTarget::Interface(self.pri.as_ref().and_then(|p| p.call_control().config().interfaces.first()).map_or(0, |i| i.id)),
                    ["all"] => RestartTarget::All,
                    list => {
                        let mut chs = Vec::new();
                        for c in list {
                            let n = c.parse::<u8>().map_err(|_| format!("bad channel {c:?}"))?;
                            chs.push(ChannelRef::new(0, n));
                        }
                        RestartTarget::Channels(chs)
                    }
                };
                self.command(Command::Restart(target)).map(drop)
            }
            "service" => {
                const USAGE: &str = "usage: service in|out CHAN...";
                let (status, chans) = match args.split_first() {
                    Some((&"in", chans)) if !chans.is_empty() => (ServiceStatus::InService, chans),
                    Some((&"out", chans)) if !chans.is_empty() => (ServiceStatus::OutOfService, chans),
                    _ => return Err(USAGE.into()),
                };
                let mut chs = Vec::new();
                for c in chans {
                    let n = c.parse::<u8>().map_err(|_| format!("bad channel {c:?}; {USAGE}"))?;
                    chs.push(ChannelRef::new(0, n));
                }
                self.command(Command::Service { target: RestartTarget::Channels(chs), status }).map(drop)
            }
            other => Err(format!("unknown command {other:?}")),
        }
    }

    fn cmd_call(&mut self, args: &[&str]) -> Result<(), String> {
        const USAGE: &str = "usage: call CALLED CALLING [name NAME] [pres allowed|restricted|unavailable] [name-pres P] [screen N] [ton N] [npi N] [chan N] [preferred] [overlap] [bearer speech|audio|data] [redirecting NUMBER] [reason busy|noreply|unconditional|deflection|unknown]";
        if args.len() < 2 {
            return Err(USAGE.into());
        }
        let called = args[0];
        let calling = (args[1] != "-").then_some(args[1]);
        let mut name = None;
        let mut pres = Presentation::Allowed;
        let mut name_pres = None;
        let mut screen = Screening::UserNotScreened;
        let mut ton = TypeOfNumber::Unknown;
        let mut npi = NumberingPlan::Isdn;
        let mut chan = None;
        let mut preferred = false;
        let mut overlap = false;
        let mut bearer = None;
        let mut redirecting = None;
        let mut redirect_reason = RedirectReason::Unknown;
        let parse_pres = |v: &str| -> Result<Presentation, String> {
            Ok(match v {
                "allowed" => Presentation::Allowed,
                "restricted" => Presentation::Restricted,
                "unavailable" => Presentation::NotAvailable,
                _ => return Err(format!("bad presentation {v:?}")),
            })
        };
        let mut i = 2;
        while i < args.len() {
            let w = args[i];
            match w {
                "preferred" => preferred = true,
                "overlap" => overlap = true,
                _ => {
                    let v = *args.get(i + 1).ok_or_else(|| format!("{w}: value missing; {USAGE}"))?;
                    i += 1;
                    let num = |v: &str| v.parse::<u8>().map_err(|_| format!("{w}: bad number {v:?}"));
                    match w {
                        "name" => name = Some(v.to_string()),
                        "pres" => pres = parse_pres(v)?,
                        "name-pres" => name_pres = Some(parse_pres(v)?),
                        "screen" => screen = Screening::from_bits(num(v)?),
                        "ton" => ton = TypeOfNumber::from_bits(num(v)?),
                        "npi" => npi = NumberingPlan::from_bits(num(v)?),
                        "chan" => chan = Some(num(v)?),
                        "bearer" => {
                            let law = self.pri.as_ref().map_or(Law::Ulaw, |p| p.call_control().config().law);
                            bearer = Some(match v {
                                "speech" => Bearer::speech(law),
                                "audio" => Bearer::audio(law),
                                "data" => Bearer::data(),
                                _ => return Err(format!("bad bearer {v:?}")),
                            })
                        }
                        "redirecting" => redirecting = Some(v.to_string()),
                        "reason" => {
                            redirect_reason = match v {
                                "busy" => RedirectReason::Busy,
                                "noreply" => RedirectReason::NoReply,
                                "unconditional" => RedirectReason::Unconditional,
                                "deflection" => RedirectReason::Deflection,
                                "unknown" => RedirectReason::Unknown,
                                _ => return Err(format!("bad redirect reason {v:?}")),
                            }
                        }
                        _ => return Err(format!("unknown argument {w:?}; {USAGE}")),
                    }
                }
            }
            i += 1;
        }
        let mut req = SetupRequest::new(called);
        if let Some(c) = calling {
            let mut n = Number::new(c).with_presentation(pres, screen);
            n.ton = ton;
            n.plan = npi;
            req = req.calling(n);
        }
        if let Some(n) = name {
            req = req.name(PartyName { name: n, presentation: name_pres.unwrap_or(pres) });
        }
        if let Some(ch) = chan {
            let c = ChannelRef::new(0, ch);
            req = req.channel(if preferred { ChannelPref::Preferred(c) } else { ChannelPref::Exclusive(c) });
        }
        if overlap {
            req = req.overlap();
        }
        req.bearer = bearer;
        req.redirecting = redirecting.map(|n| (Number::new(&n), redirect_reason));
        let call = self.command(Command::Setup(Box::new(req)))?.ok_or("the stack returned no call")?;
        let cc = self.pri.as_ref().map(Pri::call_control);
        let channel = cc.and_then(|cc| cc.call_channel(call));
        // (Unless the call is already gone again.)
        if cc.is_some_and(|cc| cc.call_state(call).is_some()) {
            self.calls.insert(call.0, CallInfo { outgoing: true, releasing: false, auto: None });
        }
        self.ev("dialing")
            .num("call", call.0 as i64)
            .str("called", called)
            .opt_str("calling", calling)
            .opt_num("channel", channel.map(|c| c.channel.into()))
            .emit();
        Ok(())
    }

    fn print_status(&self) {
        let mut calls = Vec::new();
        let mut link_up = false;
        let mut pending = 0;
        let mut dropped = 0;
        if let Some(p) = &self.pri {
            let cc = p.call_control();
            link_up = cc.is_link_up();
            pending = cc.pending_restarts();
            dropped = p.dropped_messages();
            for (id, state) in cc.calls() {
                let mut s = String::from("{\"call\":");
                s.push_str(&id.0.to_string());
                s.push_str(",\"direction\":");
                let outgoing = self.calls.get(&id.0).is_some_and(|c| c.outgoing);
                json_str(&mut s, if outgoing { "outgoing" } else { "incoming" });
                s.push_str(&format!(",\"state\":{}", state.number()));
                s.push_str(",\"state_name\":");
                json_str(&mut s, &state.label(self.o.side));
                s.push_str(",\"channel\":");
                match cc.call_channel(id) {
                    Some(c) => s.push_str(&c.channel.to_string()),
                    None => s.push_str("null"),
                }
                s.push('}');
                calls.push(s);
            }
        }
        self.ev("status")
            .str("role", &self.o.role_name)
            .str("switch", &self.o.switch_name)
            .bool("socket", self.sock.is_some())
            .bool("link_up", link_up)
            .raw("calls", &format!("[{}]", calls.join(",")))
            .num("pending_restarts", pending as i64)
            .num("dropped_messages", dropped as i64)
            .emit();
    }

    /// `quit` or EOF: clear every call, then wait (bounded) for them to go.
    fn start_quit(&mut self) {
        if self.quitting.is_some() {
            return;
        }
        self.quitting = Some(Instant::now() + self.o.quit_timeout);
        let Some(pri) = &self.pri else {
            return;
        };
        let calls = pri.call_control().calls();
        for (id, state) in calls {
            if self.calls.get(&id.0).is_some_and(|c| c.releasing) {
                continue;
            }
            let incoming = !self.calls.get(&id.0).is_some_and(|c| c.outgoing);
            let cause = if incoming && state == CallState::CallPresent { CauseValue::NO_CIRCUIT_AVAILABLE } else { CauseValue::NORMAL_CLEARING };
            if let Some(c) = self.calls.get_mut(&id.0) {
                c.releasing = true;
                c.auto = None;
            }
            // A call already clearing refuses; that is fine.
            let _ = self.command(Command::Disconnect { call: id, cause, inband: false });
        }
    }

    fn quit_done(&self, now: Instant) -> bool {
        let Some(deadline) = self.quitting else {
            return false;
        };
        let no_calls = self.pri.as_ref().is_none_or(|p| p.call_control().calls().is_empty());
        no_calls || now >= deadline
    }

    fn flush_pcap(&mut self) {
        if self.pcap_dirty {
            self.pcap_dirty = false;
            if let Some(w) = &mut self.pcap
                && let Err(e) = w.flush()
            {
                self.pcap = None;
                self.error(&format!("writing the pcap: {e}"), None);
            }
        }
    }

    fn finish(&mut self, status: i32) -> ! {
        self.flush_pcap();
        if self.listen.take().is_some()
            && let Some(p) = &self.o.listen
        {
            let _ = std::fs::remove_file(p);
        }
        self.sock = None;
        self.ev("exit").num("status", status.into()).emit();
        std::process::exit(status);
    }
}

/// Splits a command line into words; "double quotes" group words.
fn tokenize(line: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut in_word = false;
    let mut quoted = false;
    for c in line.chars() {
        match c {
            '"' => {
                quoted = !quoted;
                in_word = true;
            }
            c if c.is_whitespace() && !quoted => {
                if in_word {
                    out.push(std::mem::take(&mut cur));
                    in_word = false;
                }
            }
            c => {
                cur.push(c);
                in_word = true;
            }
        }
    }
    if in_word {
        out.push(cur);
    }
    out
}

/// Milliseconds until `deadline` for poll(2), rounded up; -1 for none.
fn poll_ms(deadline: Option<Instant>, now: Instant) -> libc::c_int {
    match deadline {
        None => -1,
        Some(d) => {
            let left = d.saturating_duration_since(now);
            let ms = left.as_micros().div_ceil(1000);
            ms.min(60_000) as libc::c_int
        }
    }
}

fn main() {
    let o = parse_args();
    let pcap = o.pcap.as_ref().map(|path| {
        let role = match o.side {
            Side::Network => Role::Network,
            Side::User => Role::User,
        };
        File::create(path).and_then(|f| PcapWriter::new(BufWriter::new(f), role)).unwrap_or_else(|e| {
            eprintln!("q931-peer: cannot write {path}: {e}");
            std::process::exit(EXIT_USAGE)
        })
    });
    let mut p = Peer {
        o,
        t0: Instant::now(),
        wall0: SystemTime::now(),
        listen: None,
        sock: None,
        pri: None,
        pcap,
        pcap_dirty: false,
        calls: BTreeMap::new(),
        quitting: None,
        exit: None,
    };

    if let Some(path) = p.o.listen.clone() {
        match listen_on(&path) {
            Ok(fd) => p.listen = Some(fd),
            Err(e) => {
                p.error(&e, None);
                p.finish(EXIT_SOCKET);
            }
        }
        p.ev("listening").str("path", &path).emit();
    } else if let Some(path) = p.o.connect.clone() {
        match connect_to(&path) {
            Ok(fd) => p.start(fd),
            Err(e) => {
                p.error(&e, None);
                p.finish(EXIT_SOCKET);
            }
        }
    }

    let mut stdin_open = true;
    let mut stdin_buf: Vec<u8> = Vec::new();
    loop {
        let now = Instant::now();
        if let Some(code) = p.exit {
            p.finish(code);
        }
        if p.quit_done(now) {
            p.finish(EXIT_OK);
        }
        let mut fds: Vec<libc::pollfd> = Vec::with_capacity(2);
        let stdin_idx = (stdin_open && p.quitting.is_none()).then(|| {
            fds.push(libc::pollfd { fd: libc::STDIN_FILENO, events: libc::POLLIN, revents: 0 });
            fds.len() - 1
        });
        let sock_fd = p.sock.as_ref().or(p.listen.as_ref()).map(|f| f.0);
        let sock_idx = sock_fd.map(|fd| {
            fds.push(libc::pollfd { fd, events: libc::POLLIN, revents: 0 });
            fds.len() - 1
        });
        p.flush_pcap();
        let timeout = poll_ms(p.next_deadline(), now);
        // SAFETY: fds is a valid array of pollfd of the given length.
        let r = unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, timeout) };
        if r < 0 {
            let e = errno();
            if e.raw_os_error() == Some(libc::EINTR) {
                continue;
            }
            p.error(&format!("poll: {e}"), None);
            p.finish(EXIT_SOCKET);
        }

        if let Some(i) = sock_idx
            && fds[i].revents != 0
        {
            if p.sock.is_some() {
                for _ in 0..READ_BURST {
                    let Some(fd) = &p.sock else { break };
                    match recv_frame(fd) {
                        Rx::Frame(f) => {
                            let now = Instant::now();
                            if let Some(pri) = &mut p.pri {
                                pri.handle_frame(0, &f, now);
                            }
                            p.pump();
                        }
                        Rx::Nothing => break,
                        Rx::Closed => {
                            p.socket_gone(EXIT_CLOSED, "the other end closed the socket");
                            break;
                        }
                        Rx::Error(e) => {
                            p.socket_gone(EXIT_SOCKET, &e);
                            break;
                        }
                    }
                }
            } else if let Some(l) = &p.listen {
                match accept_one(l) {
                    Ok(Some(fd)) => {
                        p.listen = None;
                        if let Some(path) = &p.o.listen {
                            let _ = std::fs::remove_file(path);
                        }
                        p.start(fd);
                    }
                    Ok(None) => {}
                    Err(e) => {
                        p.error(&e, None);
                        p.finish(EXIT_SOCKET);
                    }
                }
            }
        }

        let now = Instant::now();
        if let Some(pri) = &mut p.pri
            && pri.poll_timeout().is_some_and(|t| t <= now)
        {
            pri.handle_timeout(now);
            p.pump();
        }
        p.run_auto(now);

        if let Some(i) = stdin_idx
            && fds[i].revents != 0
        {
            let mut buf = [0u8; 4096];
            // SAFETY: buf is valid for its length.
            let n = unsafe { libc::read(libc::STDIN_FILENO, buf.as_mut_ptr().cast(), buf.len()) };
            if n < 0 {
                let e = errno();
                if !matches!(e.raw_os_error(), Some(libc::EINTR | libc::EAGAIN)) {
                    stdin_open = false;
                    p.start_quit();
                }
            } else if n == 0 {
                stdin_open = false;
                if !stdin_buf.is_empty() {
                    let line = String::from_utf8_lossy(&stdin_buf).into_owned();
                    stdin_buf.clear();
                    p.handle_line(&line);
                }
                p.start_quit();
            } else {
                stdin_buf.extend_from_slice(&buf[..n as usize]);
                while let Some(nl) = stdin_buf.iter().position(|&b| b == b'\n') {
                    let line: Vec<u8> = stdin_buf.drain(..=nl).collect();
                    let line = String::from_utf8_lossy(&line[..nl]).into_owned();
                    p.handle_line(&line);
                    if p.quitting.is_some() || p.exit.is_some() {
                        stdin_buf.clear();
                        break;
                    }
                }
                if stdin_buf.len() > 64 * 1024 {
                    p.error("command line too long; dropped", None);
                    stdin_buf.clear();
                }
            }
        }
    }
}
