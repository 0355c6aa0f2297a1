//! Call detail records: what a CDR holds, and the writer that appends them
//! to the CDR file as JSON lines.
//!
//! Call control emits exactly one [`CdrRecord`] per call when both legs
//! are gone (or the call never got an outbound leg). [`CdrWriter`] appends
//! each as one JSON object on one line to `[general] cdr_file`, opened with
//! `O_APPEND`, with one `write(2)` per line (so lines from concurrent
//! writers never interleave) and, by default, an `fsync` after each record
//! so a record survives a crash once written. [`CdrWriter::spawn`] runs the
//! writer on a thread of its own fed by a channel, so call control never
//! waits for the disk; [`CdrWriter::write_record`] writes synchronously.
//!
//! # Fields
//!
//! | field | type | meaning |
//! |---|---|---|
//! | `call_id` | string | the call's id (16 hex digits), as in the logs |
//! | `direction` | string | `"tdm-to-sip"` or `"sip-to-tdm"` |
//! | `start` | string | when the inbound setup arrived (RFC 3339, UTC, ms) |
//! | `answer` | string or null | when the call was answered |
//! | `end` | string | when the call ended (the first release) |
//! | `duration_s` | number | answer → end in seconds, ms precision (0 if unanswered) |
//! | `setup_s` | number | start → answer (or → end if unanswered) in seconds |
//! | `pdd_s` | number or null | post-dial delay: start → first alerting or in-band progress |
//! | `released_by` | string | `"inbound"`, `"outbound"` or `"gateway"` (timers, drain, routing) |
//! | `cause` | number | the Q.850 cause that ended the call |
//! | `calling` | string or null | the calling number as received |
//! | `calling_out` | string or null | the calling number as sent (after translation) |
//! | `calling_name` | string or null | the calling name |
//! | `called` | string | the called number as received (all digits collected) |
//! | `called_out` | string or null | the called number as sent (after translation) |
//! | `redirecting` | string or null | the redirecting number |
//! | `route` | string or null | the route's name |
//! | `attempts` | number | outbound legs placed (failover tries) |
//! | `inbound`, `outbound` | object / null | the legs, below |
//!
//! A leg: `kind` (`"tdm"`/`"sip"`), `interface` (PRI interface or SIP
//! trunk), `span`, `channel`, `sip_call_id`, `cause` (Q.850, null while
//! unknown), `wire` (what the leg saw or sent on its wire, e.g. `"486 Busy
//! Here"`), `target` (outbound: the Request-URI or group placed to).
//!
//! `media` (null if the call had no media): the RTP figures the pump kept,
//! `packets_sent`, `packets_received`, `lost`, `late`, `reordered`,
//! `foreign`, `bad`, `jitter_ms`, `rtt_ms`, `remote_fraction_lost`,
//! `remote_cumulative_lost`, `remote_jitter_ms` (from the remote's RTCP),
//! `plc_frames`, `slips`, `underruns`, `overruns`, `dtmf_sent`,
//! `dtmf_received`. The daemon fills it in; call control leaves it null.

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::thread::JoinHandle;
use std::time::{SystemTime, UNIX_EPOCH};

use serde::Serialize;

/// One leg of a call in a CDR.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CdrLeg {
    /// `"tdm"` or `"sip"`.
    pub kind: &'static str,
    /// The PRI interface or SIP trunk name.
    pub interface: String,
    /// DAHDI span (TDM legs).
    pub span: Option<u32>,
    /// Channel position within the span (TDM legs).
    pub channel: Option<u32>,
    /// The SIP dialog's Call-ID (SIP legs).
    pub sip_call_id: Option<String>,
    /// The Q.850 cause the leg ended with.
    pub cause: Option<u8>,
    /// What the leg saw or sent on its wire.
    pub wire: Option<String>,
    /// Outbound: the URI or group the leg was placed to.
    pub target: Option<String>,
}

/// One call's record.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CdrRecord {
    pub call_id: String,
    pub direction: &'static str,
    pub start: String,
    pub answer: Option<String>,
    pub end: String,
    pub duration_s: f64,
    pub setup_s: f64,
    pub pdd_s: Option<f64>,
    pub released_by: &'static str,
    pub cause: u8,
    pub calling: Option<String>,
    pub calling_out: Option<String>,
    pub calling_name: Option<String>,
    pub called: String,
    pub called_out: Option<String>,
    pub redirecting: Option<String>,
    pub route: Option<String>,
    pub attempts: u8,
    pub inbound: CdrLeg,
    pub outbound: Option<CdrLeg>,
    /// The RTP stream's figures (null if the call never had media).
    pub media: Option<CdrMedia>,
}

/// A call's media figures, from the pump's RTP and RTCP statistics.
#[derive(Debug, Clone, PartialEq, Default, Serialize)]
pub struct CdrMedia {
    pub packets_sent: u64,
    pub packets_received: u64,
    /// Packets the remote sent that never arrived (RFC 3550 A.3; negative with duplicates).
    pub lost: i64,
    /// Packets that arrived too late for playout.
    pub late: u64,
    pub reordered: u64,
    /// Packets from an address other than the negotiated one, and malformed ones (dropped).
    pub foreign: u64,
    pub bad: u64,
    /// Interarrival jitter of the remote's stream (RFC 3550 §6.4.1), ms.
    pub jitter_ms: f64,
    /// Round-trip time from RTCP (LSR/DLSR), ms; null without RTCP from the remote.
    pub rtt_ms: Option<f64>,
    /// What the remote reported about our stream (RTCP RR).
    pub remote_fraction_lost: u8,
    pub remote_cumulative_lost: i64,
    pub remote_jitter_ms: f64,
    /// Frames concealed, jitter-buffer slips, TDM underruns and overruns.
    pub plc_frames: u64,
    pub slips: u64,
    pub underruns: u64,
    pub overruns: u64,
    /// RFC 4733 digits sent and received.
    pub dtmf_sent: u64,
    pub dtmf_received: u64,
}

impl From<&tandem_media::pump::StreamStats> for CdrMedia {
    fn from(s: &tandem_media::pump::StreamStats) -> CdrMedia {
        CdrMedia {
            packets_sent: s.packets_sent,
            packets_received: s.packets_received,
            lost: s.lost,
            late: s.late,
            reordered: s.reordered,
            foreign: s.foreign,
            bad: s.bad,
            jitter_ms: (s.jitter_ms * 100.0).round() / 100.0,
            rtt_ms: s.rtt_ms.map(|r| (r * 100.0).round() / 100.0),
            remote_fraction_lost: s.remote_fraction_lost,
            remote_cumulative_lost: s.remote_cumulative_lost,
            remote_jitter_ms: (s.remote_jitter_ms * 100.0).round() / 100.0,
            plc_frames: s.plc_frames,
            slips: s.slips,
            underruns: s.underruns,
            overruns: s.overruns,
            dtmf_sent: s.dtmf_sent,
            dtmf_received: s.dtmf_received,
        }
    }
}

impl CdrRecord {
    /// The record as one line of JSON (no newline).
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_else(|_| "{}".into())
    }
}

/// Seconds with millisecond precision.
pub fn secs_ms(d: std::time::Duration) -> f64 {
    (d.as_millis() as f64) / 1000.0
}

/// RFC 3339 UTC with milliseconds: `2024-05-01T12:00:00.123Z`.
pub fn rfc3339(t: SystemTime) -> String {
    let d = t.duration_since(UNIX_EPOCH).unwrap_or_default();
    let secs = d.as_secs() as i64;
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    // Civil date from days since 1970-01-01 (proleptic Gregorian).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!("{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:03}Z", rem / 3600, rem / 60 % 60, rem % 60, d.subsec_millis())
}

/// Why a CDR could not be written.
#[derive(Debug, thiserror::Error)]
pub enum CdrError {
    #[error("CDR file {path}: {source}")]
    Io { path: PathBuf, source: io::Error },
}

/// Appends CDRs to a file, one JSON object per line.
#[derive(Debug)]
pub struct CdrWriter {
    path: PathBuf,
    file: File,
    fsync: bool,
}

impl CdrWriter {
    /// Open (create) `path` for appending.
    pub fn open(path: &Path, fsync: bool) -> Result<CdrWriter, CdrError> {
        let file = OpenOptions::new().append(true).create(true).mode(0o640).open(path).map_err(|source| CdrError::Io { path: path.into(), source })?;
        Ok(CdrWriter { path: path.into(), file, fsync })
    }

    /// Write one record: one write(2) of the line, then fsync if configured.
    pub fn write_record(&mut self, r: &CdrRecord) -> Result<(), CdrError> {
        let mut line = r.to_json();
        line.push('\n');
        let err = |source| CdrError::Io { path: self.path.clone(), source };
        // With O_APPEND a regular file takes the whole line in one write;
        // write_all only loops on a short write (a full disk).
        self.file.write_all(line.as_bytes()).map_err(err)?;
        if self.fsync {
            self.file.sync_data().map_err(|source| CdrError::Io { path: self.path.clone(), source })?;
        }
        Ok(())
    }

    /// Run the writer on its own thread. Send records to the returned
    /// sender; drop it to stop the thread (it writes what is queued
    /// first). Write errors are logged and the record is dropped.
    pub fn spawn(mut self) -> (crossbeam_channel::Sender<CdrRecord>, JoinHandle<()>) {
        let (tx, rx) = crossbeam_channel::unbounded::<CdrRecord>();
        let h = std::thread::Builder::new()
            .name("tandem-cdr".into())
            .spawn(move || {
                for r in rx {
                    if let Err(e) = self.write_record(&r) {
                        tracing::error!(call = %r.call_id, "CDR lost: {e}");
                    }
                }
            })
            .expect("spawn the CDR writer thread");
        (tx, h)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn times_are_rfc3339_utc_with_milliseconds() {
        assert_eq!(rfc3339(UNIX_EPOCH), "1970-01-01T00:00:00.000Z");
        assert_eq!(rfc3339(UNIX_EPOCH + Duration::from_millis(951_782_400_123)), "2000-02-29T00:00:00.123Z");
        assert_eq!(rfc3339(UNIX_EPOCH + Duration::from_secs(1_714_564_799)), "2024-05-01T11:59:59.000Z");
    }

    #[test]
    fn durations_keep_milliseconds() {
        assert_eq!(secs_ms(Duration::from_micros(12_345_678)), 12.345);
    }
}
