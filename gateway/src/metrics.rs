//! Prometheus metrics over HTTP (`[general] metrics_listen`).
//!
//! A scrape (`GET /metrics`) asks the run loop for a snapshot through
//! the same request channel as the control socket, so the figures are
//! read where they live and nothing is shared or locked. The text
//! exposition format is written by hand: it is a few lines of
//! `name{labels} value`.
//!
//! | metric | type | labels |
//! |---|---|---|
//! | `tandem_calls_active` | gauge | |
//! | `tandem_calls_total` | counter | `direction` (tdm-to-sip, sip-to-tdm), `answered` (true, false) |
//! | `tandem_call_release_causes_total` | counter | `cause` (Q.850) |
//! | `tandem_pri_up` | gauge | `interface` |
//! | `tandem_pri_channels` | gauge | `interface`, `state` (idle, busy, alarm, other) |
//! | `tandem_sip_trunk_up` | gauge | `trunk` (1 when up or registered) |
//! | `tandem_sip_malformed_total` | counter | |
//! | `tandem_rtp_packets_sent_total`, `..._received_total`, `..._lost_total`, `tandem_rtp_plc_frames_total`, `tandem_rtp_slips_total`, `tandem_tdm_underruns_total`, `tandem_rtp_bad_total`, `tandem_rtp_foreign_total` | counter | |
//! | `tandem_draining` | gauge | |
//!
//! RTP counters add up the media of ended calls and of calls in progress.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::net::SocketAddr;
use std::time::Duration;

use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::sync::{mpsc, oneshot};
use tracing::{info, warn};

use crate::control::ControlRequest;

/// Running totals the run loop keeps for the metrics.
#[derive(Debug, Default, Clone)]
pub struct Totals {
    /// (direction, answered) → calls ended.
    pub calls: BTreeMap<(String, bool), u64>,
    /// Q.850 cause → calls ended with it.
    pub causes: BTreeMap<u8, u64>,
    /// RTP figures of ended calls: name → total.
    pub rtp: BTreeMap<&'static str, u64>,
}

impl Totals {
    /// Count an ended call from its CDR.
    pub fn add_call(&mut self, rec: &crate::cdr::CdrRecord) {
        *self.calls.entry((rec.direction.to_owned(), rec.answer.is_some())).or_default() += 1;
        *self.causes.entry(rec.cause).or_default() += 1;
        if let Some(m) = &rec.media {
            for (k, v) in rtp_fields(m) {
                *self.rtp.entry(k).or_default() += v;
            }
        }
    }
}

/// The RTP counters exported, from a call's media figures.
pub fn rtp_fields(m: &crate::cdr::CdrMedia) -> [(&'static str, u64); 8] {
    [
        ("tandem_rtp_packets_sent_total", m.packets_sent),
        ("tandem_rtp_packets_received_total", m.packets_received),
        ("tandem_rtp_packets_lost_total", m.lost.max(0) as u64),
        ("tandem_rtp_plc_frames_total", m.plc_frames),
        ("tandem_rtp_slips_total", m.slips),
        ("tandem_tdm_underruns_total", m.underruns),
        ("tandem_rtp_bad_total", m.bad),
        ("tandem_rtp_foreign_total", m.foreign),
    ]
}

/// Render the exposition text from the run loop's status (the control
/// socket's `status` reply) and its totals plus the live streams' figures.
pub fn render(status: &Value, totals: &Totals, live_rtp: &BTreeMap<&'static str, u64>) -> String {
    let mut o = String::new();
    let head = |o: &mut String, name: &str, kind: &str, help: &str| {
        let _ = writeln!(o, "# HELP {name} {help}\n# TYPE {name} {kind}");
    };
    head(&mut o, "tandem_calls_active", "gauge", "Calls in progress.");
    let _ = writeln!(o, "tandem_calls_active {}", status["calls"].as_u64().unwrap_or(0));
    head(&mut o, "tandem_draining", "gauge", "1 while the daemon drains after SIGTERM.");
    let _ = writeln!(o, "tandem_draining {}", u8::from(status["draining"] == true));
    head(&mut o, "tandem_calls_total", "counter", "Calls ended, by direction and whether they were answered.");
    for ((dir, answered), n) in &totals.calls {
        let _ = writeln!(o, "tandem_calls_total{{direction=\"{dir}\",answered=\"{answered}\"}} {n}");
    }
    head(&mut o, "tandem_call_release_causes_total", "counter", "Calls ended, by Q.850 cause.");
    for (cause, n) in &totals.causes {
        let _ = writeln!(o, "tandem_call_release_causes_total{{cause=\"{cause}\"}} {n}");
    }
    head(&mut o, "tandem_pri_up", "gauge", "1 while the PRI interface's D-channel is up.");
    for i in status["interfaces"].as_array().into_iter().flatten() {
        let _ = writeln!(o, "tandem_pri_up{{interface=\"{}\"}} {}", esc(&i["name"]), u8::from(i["up"] == true));
    }
    head(&mut o, "tandem_pri_channels", "gauge", "B-channels by state.");
    for i in status["interfaces"].as_array().into_iter().flatten() {
        for st in ["idle", "busy", "alarm", "other"] {
            let _ = writeln!(o, "tandem_pri_channels{{interface=\"{}\",state=\"{st}\"}} {}", esc(&i["name"]), i["channels"][st].as_u64().unwrap_or(0));
        }
    }
    head(&mut o, "tandem_sip_trunk_up", "gauge", "1 while the SIP trunk is usable (up or registered).");
    for t in status["trunks"].as_array().into_iter().flatten() {
        let up = matches!(t["state"].as_str(), Some("up" | "registered"));
        let _ = writeln!(o, "tandem_sip_trunk_up{{trunk=\"{}\"}} {}", esc(&t["name"]), u8::from(up));
    }
    head(&mut o, "tandem_sip_malformed_total", "counter", "Malformed SIP requests answered (400, 416, 505, 513).");
    let _ = writeln!(o, "tandem_sip_malformed_total {}", status["sip_malformed"].as_u64().unwrap_or(0));
    let names: Vec<&'static str> = rtp_fields(&crate::cdr::CdrMedia::default()).iter().map(|(k, _)| *k).collect();
    for name in names {
        head(&mut o, name, "counter", "RTP/TDM media figure, summed over calls.");
        let v = totals.rtp.get(name).copied().unwrap_or(0) + live_rtp.get(name).copied().unwrap_or(0);
        let _ = writeln!(o, "{name} {v}");
    }
    o
}

/// A label value, quoted-string escaped.
fn esc(v: &Value) -> String {
    v.as_str().unwrap_or("").replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")
}

/// Serve `GET /metrics` on `addr`; each scrape asks the run loop with
/// `{"op": "metrics"}` and gets the text in the reply's `"text"`.
pub async fn serve(addr: SocketAddr, to_loop: mpsc::Sender<ControlRequest>) {
    let listener = match TcpListener::bind(addr).await {
        Ok(l) => l,
        Err(e) => {
            warn!(%addr, error = %e, "cannot listen for metrics; running without them");
            return;
        }
    };
    info!(%addr, "metrics on http://{addr}/metrics");
    tokio::spawn(async move {
        loop {
            let Ok((mut s, _)) = listener.accept().await else {
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            };
            let tx = to_loop.clone();
            tokio::spawn(async move {
                let mut buf = [0u8; 2048];
                let n = match tokio::time::timeout(Duration::from_secs(5), s.read(&mut buf)).await {
                    Ok(Ok(n)) => n,
                    _ => return,
                };
                let req = String::from_utf8_lossy(&buf[..n]);
                let (status, body) = if req.starts_with("GET /metrics ") || req.starts_with("GET /metrics?") {
                    let (rtx, rrx) = oneshot::channel();
                    if tx.send(ControlRequest { request: json!({"op": "metrics"}), reply: rtx }).await.is_err() {
                        return;
                    }
                    match rrx.await {
                        Ok(v) => ("200 OK", v["text"].as_str().unwrap_or("").to_owned()),
                        Err(_) => ("503 Service Unavailable", "stopping\n".to_owned()),
                    }
                } else {
                    ("404 Not Found", "try GET /metrics\n".to_owned())
                };
                let resp = format!(
                    "HTTP/1.1 {status}\r\nContent-Type: text/plain; version=0.0.4\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = s.write_all(resp.as_bytes()).await;
            });
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_the_exposition_format_with_labels_and_sums() {
        let status = json!({
            "calls": 2, "draining": false, "sip_malformed": 7,
            "interfaces": [{"name": "pstn", "up": true, "channels": {"idle": 21, "busy": 2, "alarm": 0, "other": 0}}],
            "trunks": [{"name": "pbx", "state": "up"}, {"name": "itsp", "state": "unregistered"}],
        });
        let mut t = Totals::default();
        t.calls.insert(("tdm-to-sip".into(), true), 3);
        t.causes.insert(17, 1);
        t.rtp.insert("tandem_rtp_packets_sent_total", 100);
        let mut live = BTreeMap::new();
        live.insert("tandem_rtp_packets_sent_total", 5);
        let text = render(&status, &t, &live);
        for line in [
            "tandem_calls_active 2",
            "tandem_calls_total{direction=\"tdm-to-sip\",answered=\"true\"} 3",
            "tandem_call_release_causes_total{cause=\"17\"} 1",
            "tandem_pri_channels{interface=\"pstn\",state=\"busy\"} 2",
            "tandem_sip_trunk_up{trunk=\"pbx\"} 1",
            "tandem_sip_trunk_up{trunk=\"itsp\"} 0",
            "tandem_sip_malformed_total 7",
            "tandem_rtp_packets_sent_total 105",
            "# TYPE tandem_calls_total counter",
        ] {
            assert!(text.lines().any(|l| l == line), "missing {line:?} in\n{text}");
        }
    }
}
