//! `tandem spans` and `tandem channels`: what dahdi_scan and dahdi_tool show,
//! readable or as JSON.

use std::fmt::Write;

use tandem_drivers::{Inventory, Params, Signalling};

/// Human name of a channel's role on its span.
pub fn role(p: &Params) -> String {
    match p.signalling {
        Some(Signalling::None) | None if p.sigtype_raw == 0 => "unconfigured".into(),
        Some(Signalling::Clear) => "bchan".into(),
        Some(s) => s.to_string(),
        None => format!("sig {:#x}", p.sigtype_raw),
    }
}

/// Hook state as the channel reports it.
pub fn hook(p: &Params) -> &'static str {
    match p.signalling {
        Some(s) if s.is_hdlc() || s == Signalling::Clear => "-",
        Some(Signalling::None) => "-",
        _ => {
            if p.rx_off_hook {
                "offhook"
            } else {
                "onhook"
            }
        }
    }
}

/// Summarise roles as "23 bchan, 1 dchan".
fn roles_summary(chans: &[Params]) -> String {
    let mut counts: Vec<(String, usize)> = Vec::new();
    for c in chans {
        let r = role(c);
        match counts.iter_mut().find(|(n, _)| *n == r) {
            Some((_, k)) => *k += 1,
            None => counts.push((r, 1)),
        }
    }
    counts.iter().map(|(r, k)| format!("{k} {r}")).collect::<Vec<_>>().join(", ")
}

/// SPANSTAT's span type field is 5 characters; DAHDI truncates ANALOG_MIXED.
pub fn span_type(t: &str) -> &str {
    if t.starts_with("ANALO") { "ANALOG" } else { t }
}

/// The `tandem spans` table.
pub fn spans_text(inv: &Inventory) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "DAHDI {}", inv.version);
    let _ = writeln!(
        s,
        "{:<5} {:<14} {:<7} {:<14} {:<12} {:<8} {:>6} {:>6} {:>6} {:>6}  ROLES",
        "SPAN", "NAME", "TYPE", "FRAME", "ALARMS", "SYNC", "BPV", "CRC4", "FAS", "CHANS"
    );
    for sp in &inv.spans {
        let st = &sp.status;
        let framing = if st.span_type == "T1" || st.span_type == "E1" || st.span_type == "J1" {
            format!("{}/{}{}", st.framing(), st.coding(), if st.crc4() { "/crc4" } else { "" })
        } else {
            "-".into()
        };
        let sync = if st.sync_source == st.span {
            "source".to_string()
        } else if st.sync_source == 0 {
            "-".into()
        } else {
            format!("span {}", st.sync_source)
        };
        let _ = writeln!(
            s,
            "{:<5} {:<14} {:<7} {:<14} {:<12} {:<8} {:>6} {:>6} {:>6} {:>6}  {}",
            st.span,
            st.name,
            span_type(&st.span_type),
            framing,
            st.alarms.to_string(),
            sync,
            st.counters.bpv,
            st.counters.crc4,
            st.counters.fas,
            format!("{}/{}", st.configured_channels, st.total_channels),
            roles_summary(&sp.channels)
        );
    }
    s
}

/// The `tandem channels` table.
pub fn channels_text(inv: &Inventory) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "{:<5} {:<5} {:<4} {:<16} {:<14} {:<8} {:<6} {:<5} {:<5} {:<8}",
        "CHAN", "SPAN", "POS", "NAME", "ROLE", "HOOK", "LAW", "RXABCD", "TXABCD", "ALARMS"
    );
    for sp in &inv.spans {
        for p in &sp.channels {
            let bits = |b: Option<u8>| b.map(|v| format!("{v:04b}")).unwrap_or_else(|| "-".into());
            let law = match p.law {
                Some(tandem_drivers::Law::Alaw) => "alaw",
                Some(tandem_drivers::Law::Mulaw) => "mulaw",
                None => "-",
            };
            let _ = writeln!(
                s,
                "{:<5} {:<5} {:<4} {:<16} {:<14} {:<8} {:<6} {:<5}  {:<5}  {:<8}",
                p.chan,
                p.span,
                p.chanpos,
                p.name,
                role(p),
                hook(p),
                law,
                bits(p.rx_bits),
                bits(p.tx_bits),
                tandem_drivers::Alarms(p.alarms).to_string()
            );
        }
    }
    s
}

/// JSON for `--json`.
pub fn spans_json(inv: &Inventory) -> serde_json::Value {
    serde_json::json!({
        "version": inv.version,
        "spans": inv.spans.iter().map(|sp| {
            let st = &sp.status;
            serde_json::json!({
                "span": st.span, "name": st.name, "description": st.description, "type": span_type(&st.span_type),
                "framing": st.framing(), "coding": st.coding(), "crc4": st.crc4(),
                "alarms": st.alarms.names(), "sync_source": st.sync_source,
                "counters": st.counters, "lbo": st.lbo_name,
                "configured_channels": st.configured_channels, "total_channels": st.total_channels,
                "basechan": sp.basechan, "device": sp.device,
                "manufacturer": st.manufacturer, "device_type": st.device_type, "location": st.location,
                "roles": sp.channels.iter().map(role).collect::<Vec<_>>(),
            })
        }).collect::<Vec<_>>()
    })
}

pub fn channels_json(inv: &Inventory) -> serde_json::Value {
    serde_json::json!({
        "channels": inv.spans.iter().flat_map(|sp| sp.channels.iter()).map(|p| serde_json::json!({
            "chan": p.chan, "span": p.span, "pos": p.chanpos, "name": p.name,
            "role": role(p), "signalling": p.signalling.map(|s| s.to_string()),
            "hook": hook(p), "rx_off_hook": p.rx_off_hook,
            "law": p.law, "rx_bits": p.rx_bits, "tx_bits": p.tx_bits,
            "alarms": tandem_drivers::Alarms(p.alarms).names(),
        })).collect::<Vec<_>>()
    })
}
