//! SMDI (Simplified Message Desk Interface, Bellcore TR-NWT-000283): call
//! details from the CO over a serial link, joined to ringing FXO ports, and
//! message-waiting set/clear messages back to the CO.
//!
//! # Wire format
//!
//! The switch sends a call-detail ("MD") message when it presents a call to
//! a message-desk line:
//!
//! ```text
//! CR LF "MD" ddd tttt T fffffffff SP ccccccccc SP CR LF ^Y
//! ```
//!
//! * `ddd`: message desk number (3 digits);
//! * `tttt`: message desk terminal, the line (station) the call arrives on (4 digits);
//! * `T`: call type ([`CallKind`]): `D` direct, `A` forwarded (all calls),
//!   `B` forwarded on busy, `N` forwarded on no answer, `U` unknown;
//! * `f…`: the forwarding station (7 or 10 digits; blank for a direct call);
//! * `c…`: the calling station (7 or 10 digits; blank when not available).
//!
//! Tandem sends `"OP:MWI " number "!" EOT` to light a lamp and
//! `"RMV:MWI " number "!" EOT` to clear it; the switch answers a failure
//! with `"MWI " number " " cause` (e.g. `INV` invalid number, `BLK` blocked).
//!
//! # Robustness
//!
//! The receiver ([`Smdi`]) is a sans-IO core: bytes in, [`SmdiEvent`]s out.
//! It cuts the stream into frames at CR, LF and ^Y, looks for `MD` or `MWI`
//! inside each frame (so line noise before a message does not hide it), and
//! drops frames it cannot parse, counting them. A frame longer than
//! [`MAX_FRAME`] bytes is discarded up to the next terminator. Parity bits
//! are stripped (the link is 7-bit), so a port left at 8N1 still works.
//!
//! # Joining to a ringing port
//!
//! [`SmdiJoin`] keeps recent call details; an FXO port that starts ringing
//! asks for the newest detail for its station received within a window
//! ([`SmdiJoin::take`]). The serial I/O is [`SmdiLink`], a thin shell over
//! the `serialport` crate.

use std::collections::VecDeque;
use std::io::{Read, Write};
use std::time::{Duration, Instant};

/// Longest frame kept while waiting for its terminator, bytes.
pub const MAX_FRAME: usize = 128;

/// Events a [`Smdi`] holds before they are polled; older ones are dropped beyond this.
pub const MAX_EVENTS: usize = 256;

/// End of an SMDI message from the switch (^Y, EM).
const EM: u8 = 0x19;
/// End of an MWI request to the switch (^D, EOT).
const EOT: u8 = 0x04;

/// How the call reached the message desk (the MD message's call type).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum CallKind {
    /// `D`: dialled directly.
    Direct,
    /// `A`: forwarded, all calls.
    ForwardAll,
    /// `B`: forwarded because the station was busy.
    ForwardBusy,
    /// `N`: forwarded because the station did not answer.
    ForwardNoAnswer,
    /// `U`: unknown.
    Unknown,
    /// Any other code letter.
    Other(char),
}

impl CallKind {
    /// The call type for a code letter.
    pub fn from_code(c: u8) -> CallKind {
        match c {
            b'D' => CallKind::Direct,
            b'A' => CallKind::ForwardAll,
            b'B' => CallKind::ForwardBusy,
            b'N' => CallKind::ForwardNoAnswer,
            b'U' => CallKind::Unknown,
            c => CallKind::Other(char::from(c)),
        }
    }

    /// The code letter.
    pub fn code(self) -> char {
        match self {
            CallKind::Direct => 'D',
            CallKind::ForwardAll => 'A',
            CallKind::ForwardBusy => 'B',
            CallKind::ForwardNoAnswer => 'N',
            CallKind::Unknown => 'U',
            CallKind::Other(c) => c,
        }
    }
}

/// One call-detail (MD) message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CallDetail {
    /// Message desk number (3 digits).
    pub desk: String,
    /// Message desk terminal: the line / station the call arrives on (4 digits).
    pub station: String,
    /// Call type.
    pub kind: CallKind,
    /// The station that forwarded the call, if any.
    pub forwarded_from: Option<String>,
    /// The calling number, if the switch gave one.
    pub calling: Option<String>,
    /// When the message was received.
    pub at: Instant,
}

/// What the [`Smdi`] core reports.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SmdiEvent {
    /// A call-detail message.
    CallDetail(CallDetail),
    /// The switch refused an MWI request.
    MwiFailed {
        /// The number in the refused request.
        number: String,
        /// The switch's cause code (e.g. `INV`, `BLK`), if given.
        cause: String,
        /// When the message was received.
        at: Instant,
    },
}

/// SMDI errors.
#[derive(Debug, thiserror::Error)]
pub enum SmdiError {
    /// An MWI number must be 1 to 10 digits.
    #[error("invalid SMDI MWI number {0:?}: it must be 1 to 10 digits")]
    InvalidNumber(String),
    /// The serial port could not be opened or configured.
    #[error("SMDI serial port {path}: {source}")]
    Open {
        /// Device path.
        path: String,
        /// Why.
        source: serialport::Error,
    },
    /// Reading or writing the serial port failed.
    #[error("SMDI serial port {path}: {source}")]
    Io {
        /// Device path.
        path: String,
        /// Why.
        source: std::io::Error,
    },
}

/// The sans-IO SMDI receiver: feed it bytes from the link, poll events.
#[derive(Debug, Default)]
pub struct Smdi {
    frame: Vec<u8>,
    overlong: bool,
    events: VecDeque<SmdiEvent>,
    garbage: u64,
}

impl Smdi {
    /// An empty receiver.
    pub fn new() -> Smdi {
        Smdi::default()
    }

    /// Bytes received from the link at `now` (any split; garbage is fine).
    pub fn handle_input(&mut self, bytes: &[u8], now: Instant) {
        for &b in bytes {
            let b = b & 0x7F;
            match b {
                b'\r' | b'\n' | EM | EOT | 0 => self.end_frame(now),
                _ if self.overlong => {}
                _ if self.frame.len() >= MAX_FRAME => {
                    self.frame.clear();
                    self.overlong = true;
                    self.garbage += 1;
                }
                _ => self.frame.push(b),
            }
        }
    }

    /// The next event, if any.
    pub fn poll_event(&mut self) -> Option<SmdiEvent> {
        self.events.pop_front()
    }

    /// Frames received that were neither a call detail nor an MWI failure.
    pub fn garbage_frames(&self) -> u64 {
        self.garbage
    }

    /// The bytes that ask the switch to turn the message-waiting indicator
    /// of `number` on (`OP:MWI`) or off (`RMV:MWI`).
    pub fn mwi(number: &str, on: bool) -> Result<Vec<u8>, SmdiError> {
        if number.is_empty() || number.len() > 10 || !number.bytes().all(|b| b.is_ascii_digit()) {
            return Err(SmdiError::InvalidNumber(number.to_string()));
        }
        let mut v = Vec::with_capacity(20);
        v.extend_from_slice(if on { b"OP:MWI " } else { b"RMV:MWI " });
        v.extend_from_slice(number.as_bytes());
        v.push(b'!');
        v.push(EOT);
        Ok(v)
    }

    fn end_frame(&mut self, now: Instant) {
        self.overlong = false;
        if self.frame.is_empty() {
            return;
        }
        let frame = std::mem::take(&mut self.frame);
        match parse_frame(&frame, now) {
            Some(ev) => {
                if self.events.len() >= MAX_EVENTS {
                    self.events.pop_front();
                }
                self.events.push_back(ev);
            }
            None => self.garbage += 1,
        }
        self.frame = frame;
        self.frame.clear();
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

fn digits(b: &[u8]) -> bool {
    !b.is_empty() && b.iter().all(u8::is_ascii_digit)
}

/// Parses one frame (without its terminator); looks for the message anywhere in it.
fn parse_frame(frame: &[u8], at: Instant) -> Option<SmdiEvent> {
    // Every MD candidate in the frame, so that noise containing "MD" does not hide a real one.
    let mut from = 0;
    while let Some(i) = find(&frame[from..], b"MD") {
        if let Some(d) = parse_md(&frame[from + i + 2..], at) {
            return Some(SmdiEvent::CallDetail(d));
        }
        from += i + 1;
    }
    let i = find(frame, b"MWI")?;
    let rest = &frame[i + 3..];
    let mut fields = rest.split(|&b| b == b' ').filter(|f| !f.is_empty());
    let number = fields.next().filter(|n| digits(n) && n.len() <= 10)?;
    let cause = fields.next().unwrap_or_default();
    if !cause.iter().all(u8::is_ascii_alphanumeric) {
        return None;
    }
    Some(SmdiEvent::MwiFailed { number: String::from_utf8_lossy(number).into_owned(), cause: String::from_utf8_lossy(cause).into_owned(), at })
}

/// Parses what follows "MD": desk (3), terminal (4), type (1), then the
/// forwarding and calling stations separated by spaces.
fn parse_md(b: &[u8], at: Instant) -> Option<CallDetail> {
    let desk = b.get(..3).filter(|d| digits(d))?;
    let station = b.get(3..7).filter(|t| digits(t))?;
    let kind = *b.get(7).filter(|c| c.is_ascii_uppercase())?;
    let rest = b.get(8..).unwrap_or_default();
    // Fields are space separated; a blank field is one or more spaces (direct call).
    let mut parts = rest.split(|&c| c == b' ');
    let fwd = parts.next().unwrap_or_default();
    let calling = parts.find(|p| !p.is_empty()).unwrap_or_default();
    let field = |f: &[u8]| -> Result<Option<String>, ()> {
        match f {
            [] => Ok(None),
            f if digits(f) && f.len() <= 15 => Ok(Some(String::from_utf8_lossy(f).into_owned())),
            _ => Err(()),
        }
    };
    let forwarded_from = field(fwd).ok()?;
    let calling = field(calling).ok()?;
    Some(CallDetail {
        desk: String::from_utf8_lossy(desk).into_owned(),
        station: String::from_utf8_lossy(station).into_owned(),
        kind: CallKind::from_code(kind),
        forwarded_from,
        calling,
        at,
    })
}

/// Digits without leading zeros ("0007" and "7" are the same station).
fn normalise(s: &str) -> &str {
    let t = s.trim_start_matches('0');
    if t.is_empty() && !s.is_empty() { "0" } else { t }
}

/// Recent call details, for a ringing port to claim by station and time.
#[derive(Debug)]
pub struct SmdiJoin {
    window: Duration,
    capacity: usize,
    details: VecDeque<CallDetail>,
}

impl SmdiJoin {
    /// Keeps details for `window` (at most 64 of them).
    pub fn new(window: Duration) -> SmdiJoin {
        SmdiJoin { window, capacity: 64, details: VecDeque::new() }
    }

    /// Remembers a call detail (the oldest is forgotten when full).
    pub fn push(&mut self, detail: CallDetail) {
        if self.details.len() >= self.capacity {
            self.details.pop_front();
        }
        self.details.push_back(detail);
    }

    /// The newest detail for `station` received within the window before
    /// `now` (or up to the window after it: the ring may be seen first),
    /// removed so that it joins one call only. `station` matches the
    /// message desk terminal (leading zeros ignored) or the forwarding station.
    pub fn take(&mut self, station: &str, now: Instant) -> Option<CallDetail> {
        self.expire(now);
        let want = normalise(station);
        let i = self.details.iter().rposition(|d| {
            let fresh = now.saturating_duration_since(d.at) <= self.window && d.at.saturating_duration_since(now) <= self.window;
            fresh && (normalise(&d.station) == want || d.forwarded_from.as_deref() == Some(station))
        })?;
        self.details.remove(i)
    }

    /// Forgets details older than the window.
    pub fn expire(&mut self, now: Instant) {
        self.details.retain(|d| now.saturating_duration_since(d.at) <= self.window);
    }

    /// Details held.
    pub fn len(&self) -> usize {
        self.details.len()
    }

    /// Whether no detail is held.
    pub fn is_empty(&self) -> bool {
        self.details.is_empty()
    }
}

/// Serial settings of an SMDI link.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SmdiSerialConfig {
    /// Device path, e.g. `/dev/ttyS0`.
    pub path: String,
    /// Baud rate (TR-NWT-000283: 1200; many switches use 9600).
    pub baud: u32,
    /// 7 data bits with even parity (the SMDI default) rather than 8N1.
    pub seven_even: bool,
}

impl SmdiSerialConfig {
    /// The SMDI defaults on `path`: 1200 baud, 7 data bits, even parity, 1 stop bit.
    pub fn new(path: &str) -> SmdiSerialConfig {
        SmdiSerialConfig { path: path.to_string(), baud: 1200, seven_even: true }
    }
}

/// The serial port of an SMDI link (the thin I/O shell around [`Smdi`]).
pub struct SmdiLink {
    path: String,
    port: Box<dyn serialport::SerialPort>,
}

impl std::fmt::Debug for SmdiLink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SmdiLink").field("path", &self.path).finish_non_exhaustive()
    }
}

impl SmdiLink {
    /// Opens and configures the port; reads time out after `read_timeout`.
    pub fn open(config: &SmdiSerialConfig, read_timeout: Duration) -> Result<SmdiLink, SmdiError> {
        let (bits, parity) =
            if config.seven_even { (serialport::DataBits::Seven, serialport::Parity::Even) } else { (serialport::DataBits::Eight, serialport::Parity::None) };
        let port = serialport::new(&config.path, config.baud)
            .data_bits(bits)
            .parity(parity)
            .stop_bits(serialport::StopBits::One)
            .flow_control(serialport::FlowControl::None)
            .timeout(read_timeout)
            .open()
            .map_err(|source| SmdiError::Open { path: config.path.clone(), source })?;
        Ok(SmdiLink { path: config.path.clone(), port })
    }

    /// Reads what is available into `buf`; `Ok(0)` when the timeout passed with nothing.
    pub fn read(&mut self, buf: &mut [u8]) -> Result<usize, SmdiError> {
        match self.port.read(buf) {
            Ok(n) => Ok(n),
            Err(e) if matches!(e.kind(), std::io::ErrorKind::TimedOut | std::io::ErrorKind::WouldBlock | std::io::ErrorKind::Interrupted) => Ok(0),
            Err(source) => Err(SmdiError::Io { path: self.path.clone(), source }),
        }
    }

    /// Writes `bytes` (e.g. from [`Smdi::mwi`]) completely.
    pub fn write(&mut self, bytes: &[u8]) -> Result<(), SmdiError> {
        self.port.write_all(bytes).and_then(|()| self.port.flush()).map_err(|source| SmdiError::Io { path: self.path.clone(), source })
    }

    /// A second handle on the same port (one thread reads, another writes).
    pub fn try_clone(&self) -> Result<SmdiLink, SmdiError> {
        let port = self.port.try_clone().map_err(|source| SmdiError::Open { path: self.path.clone(), source })?;
        Ok(SmdiLink { path: self.path.clone(), port })
    }

    /// Runs a reader thread: every chunk read goes to `tx` with the time it
    /// arrived; the thread ends when `tx` is disconnected or the port fails
    /// (the error is sent last).
    pub fn spawn_reader(mut self, tx: crossbeam_channel::Sender<Result<(Vec<u8>, Instant), SmdiError>>) -> std::io::Result<std::thread::JoinHandle<()>> {
        std::thread::Builder::new().name("smdi-rx".into()).spawn(move || {
            let mut buf = [0u8; 256];
            loop {
                match self.read(&mut buf) {
                    Ok(0) => {
                        // Timeout: check that someone still listens.
                        if tx.is_empty() && tx.send(Ok((Vec::new(), Instant::now()))).is_err() {
                            return;
                        }
                    }
                    Ok(n) => {
                        if tx.send(Ok((buf[..n].to_vec(), Instant::now()))).is_err() {
                            return;
                        }
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "SMDI link failed");
                        let _ = tx.send(Err(e));
                        return;
                    }
                }
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn md(desk: &str, term: &str, t: char, fwd: &str, calling: &str) -> Vec<u8> {
        format!("\r\nMD{desk}{term}{t}{fwd} {calling} \r\n\x19").into_bytes()
    }

    fn events(s: &mut Smdi) -> Vec<SmdiEvent> {
        std::iter::from_fn(|| s.poll_event()).collect()
    }

    fn detail(ev: &SmdiEvent) -> &CallDetail {
        match ev {
            SmdiEvent::CallDetail(d) => d,
            other => panic!("not a call detail: {other:?}"),
        }
    }

    #[test]
    fn a_call_detail_message_is_parsed() {
        let now = Instant::now();
        let mut s = Smdi::new();
        s.handle_input(&md("001", "0007", 'N', "5551234", "2125551212"), now);
        let ev = events(&mut s);
        assert_eq!(ev.len(), 1);
        let d = detail(&ev[0]);
        assert_eq!((d.desk.as_str(), d.station.as_str(), d.kind), ("001", "0007", CallKind::ForwardNoAnswer));
        assert_eq!(d.forwarded_from.as_deref(), Some("5551234"));
        assert_eq!(d.calling.as_deref(), Some("2125551212"));
        assert_eq!(d.at, now);
        assert_eq!(s.garbage_frames(), 0);
    }

    #[test]
    fn a_direct_call_has_no_forwarding_station_and_may_lack_the_caller() {
        let mut s = Smdi::new();
        let now = Instant::now();
        s.handle_input(b"\r\nMD0010002D 2125551212 \r\n\x19", now);
        s.handle_input(b"\r\nMD0010003D  \r\n\x19", now);
        let ev = events(&mut s);
        let (a, b) = (detail(&ev[0]), detail(&ev[1]));
        assert_eq!((a.kind, a.forwarded_from.as_deref(), a.calling.as_deref()), (CallKind::Direct, None, Some("2125551212")));
        assert_eq!((b.station.as_str(), b.calling.as_deref()), ("0003", None));
    }

    #[test]
    fn byte_by_byte_fragments_give_the_same_message() {
        let now = Instant::now();
        let msg = md("123", "4567", 'B', "5550000", "5551111");
        let mut whole = Smdi::new();
        whole.handle_input(&msg, now);
        let mut bytes = Smdi::new();
        for b in &msg {
            bytes.handle_input(std::slice::from_ref(b), now);
        }
        assert_eq!(events(&mut whole), events(&mut bytes));
    }

    #[test]
    fn garbage_around_and_inside_frames_is_skipped_and_counted() {
        let now = Instant::now();
        let mut s = Smdi::new();
        let mut stream = b"\xff\xfe noise MDx \r\n".to_vec();
        stream.extend_from_slice(&[0x55; 300]);
        stream.extend_from_slice(b"\r\n#@!MD0010001A5551234 5559876 \r\n\x19");
        stream.extend_from_slice(b"MD00\r\nMD0010001Z");
        stream.extend_from_slice(&md("001", "0002", 'U', "", ""));
        s.handle_input(&stream, now);
        let ev = events(&mut s);
        assert_eq!(ev.len(), 3, "{ev:?}");
        assert_eq!(detail(&ev[0]).calling.as_deref(), Some("5559876"));
        // "MD0010001Z" followed by a new frame: a type letter with no stations is still a detail.
        assert_eq!(detail(&ev[1]).kind, CallKind::Other('Z'));
        assert_eq!(detail(&ev[2]).kind, CallKind::Unknown);
        assert!(s.garbage_frames() >= 3);
    }

    #[test]
    fn parity_bits_are_ignored() {
        let mut s = Smdi::new();
        let msg: Vec<u8> = md("001", "0001", 'D', "", "5551212").iter().map(|b| b | 0x80).collect();
        s.handle_input(&msg, Instant::now());
        assert_eq!(detail(&events(&mut s)[0]).calling.as_deref(), Some("5551212"));
    }

    #[test]
    fn mwi_requests_have_the_op_and_rmv_formats() {
        assert_eq!(Smdi::mwi("5551234", true).unwrap(), b"OP:MWI 5551234!\x04");
        assert_eq!(Smdi::mwi("5551234", false).unwrap(), b"RMV:MWI 5551234!\x04");
        for bad in ["", "12a", "12345678901", "1 2"] {
            assert!(Smdi::mwi(bad, true).is_err(), "{bad}");
        }
    }

    #[test]
    fn mwi_failures_are_reported() {
        let mut s = Smdi::new();
        s.handle_input(b"\r\nMWI 5551234 INV\r\n\x19", Instant::now());
        assert!(matches!(&events(&mut s)[..], [SmdiEvent::MwiFailed { number, cause, .. }] if number == "5551234" && cause == "INV"));
    }

    #[test]
    fn arbitrary_bytes_never_panic_and_bound_memory() {
        let mut x = 0x1234_5678_9abc_def0u64;
        let mut s = Smdi::new();
        let now = Instant::now();
        for _ in 0..2000 {
            let mut chunk = [0u8; 64];
            for b in &mut chunk {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                *b = [b'M', b'D', b'0', b'1', b' ', b'\r', b'W', b'I', (x >> 32) as u8][(x % 9) as usize];
            }
            s.handle_input(&chunk, now);
            assert!(s.frame.len() <= MAX_FRAME);
        }
        assert!(s.events.len() <= MAX_EVENTS);
    }

    fn cd(station: &str, fwd: Option<&str>, calling: &str, at: Instant) -> CallDetail {
        CallDetail {
            desk: "001".into(),
            station: station.into(),
            kind: CallKind::Direct,
            forwarded_from: fwd.map(str::to_string),
            calling: Some(calling.into()),
            at,
        }
    }

    #[test]
    fn a_ringing_port_gets_the_newest_fresh_detail_for_its_station_once() {
        let t0 = Instant::now();
        let mut j = SmdiJoin::new(Duration::from_secs(10));
        j.push(cd("0001", None, "111", t0));
        j.push(cd("0002", None, "222", t0 + Duration::from_secs(1)));
        j.push(cd("0001", None, "333", t0 + Duration::from_secs(2)));
        let now = t0 + Duration::from_secs(3);
        assert_eq!(j.take("1", now).unwrap().calling.as_deref(), Some("333"));
        assert_eq!(j.take("0001", now).unwrap().calling.as_deref(), Some("111"));
        assert_eq!(j.take("0001", now), None);
        assert_eq!(j.take("0003", now), None);
        assert_eq!(j.take("0002", now).unwrap().calling.as_deref(), Some("222"));
    }

    #[test]
    fn stale_details_do_not_join_and_are_forgotten() {
        let t0 = Instant::now();
        let mut j = SmdiJoin::new(Duration::from_secs(5));
        j.push(cd("0001", None, "111", t0));
        assert_eq!(j.take("0001", t0 + Duration::from_secs(6)), None);
        assert!(j.is_empty());
    }

    #[test]
    fn a_detail_arriving_just_after_the_ring_still_joins_and_forwarding_station_matches() {
        let t0 = Instant::now();
        let mut j = SmdiJoin::new(Duration::from_secs(5));
        j.push(cd("0004", Some("5551234"), "999", t0 + Duration::from_secs(1)));
        assert_eq!(j.take("5551234", t0).unwrap().calling.as_deref(), Some("999"));
    }

    #[test]
    fn the_join_holds_a_bounded_number_of_details() {
        let t0 = Instant::now();
        let mut j = SmdiJoin::new(Duration::from_secs(60));
        for i in 0..1000 {
            j.push(cd("0001", None, &i.to_string(), t0));
        }
        assert_eq!(j.len(), 64);
        assert_eq!(j.take("1", t0).unwrap().calling.as_deref(), Some("999"));
    }

    #[test]
    fn the_serial_link_reads_details_and_writes_mwi_over_a_pty() {
        use std::os::fd::AsRawFd;
        let pty = nix::pty::openpty(None, None).unwrap();
        let path = std::fs::read_link(format!("/proc/self/fd/{}", pty.slave.as_raw_fd())).unwrap();
        let mut cfg = SmdiSerialConfig::new(path.to_str().unwrap());
        cfg.seven_even = false;
        let mut link = SmdiLink::open(&cfg, Duration::from_millis(50)).unwrap();
        let mut master = std::fs::File::from(pty.master);
        master.write_all(&md("001", "0009", 'D', "", "2125551212")).unwrap();
        let mut smdi = Smdi::new();
        let mut buf = [0u8; 256];
        let deadline = Instant::now() + Duration::from_secs(5);
        let mut got = None;
        while got.is_none() && Instant::now() < deadline {
            let n = link.read(&mut buf).unwrap();
            smdi.handle_input(&buf[..n], Instant::now());
            got = smdi.poll_event();
        }
        assert_eq!(detail(&got.expect("no call detail over the pty")).calling.as_deref(), Some("2125551212"));
        link.write(&Smdi::mwi("2125551212", true).unwrap()).unwrap();
        let mut out = vec![0u8; 64];
        let n = master.read(&mut out).unwrap();
        assert_eq!(&out[..n], b"OP:MWI 2125551212!\x04");
    }
}
