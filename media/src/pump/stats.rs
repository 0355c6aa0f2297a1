//! Per-stream figures, published by the pump thread through atomics and
//! read by call control (for CDRs) without locks on either side.

use std::sync::atomic::{AtomicU64, Ordering};

/// What one stream has done so far. Counters are cumulative from
/// [`PumpHandle::start`](super::PumpHandle::start).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct StreamStats {
    /// RTP packets sent (audio and telephone events).
    pub packets_sent: u64,
    /// RTP payload octets sent (RFC 3550 §6.4.1 sender's octet count).
    pub octets_sent: u64,
    /// RTP packets accepted from the remote.
    pub packets_received: u64,
    /// RTP payload octets accepted.
    pub octets_received: u64,
    /// Cumulative packets lost (RFC 3550 §6.4.1: expected − received; may
    /// be negative with duplicates).
    pub lost: i64,
    /// Packets that arrived after their playout time, or duplicates, and
    /// were discarded.
    pub late: u64,
    /// Packets that arrived with a lower sequence number than one already
    /// received.
    pub reordered: u64,
    /// Packets from an address other than the remote's (dropped).
    pub foreign: u64,
    /// Datagrams that were not valid RTP/RTCP or had an unknown payload type.
    pub bad: u64,
    /// Times the remote's SSRC changed.
    pub ssrc_changes: u64,
    /// Jitter-buffer depth now, ms.
    pub jitter_buffer_ms: u32,
    /// Jitter-buffer target depth now, ms.
    pub jitter_target_ms: u32,
    /// Frames (ptime each) concealed by PLC.
    pub plc_frames: u64,
    /// Frames dropped or inserted to follow the remote's clock.
    pub slips: u64,
    /// Playout found the jitter buffer empty.
    pub underruns: u64,
    /// The TDM side had more than one block waiting (the pump fell behind),
    /// or a packet arrived beyond the jitter buffer's maximum depth.
    pub overruns: u64,
    /// TDM blocks read.
    pub tdm_blocks: u64,
    /// RFC 4733 events received (distinct events, played as tones).
    pub dtmf_received: u64,
    /// RFC 4733 events sent (digits detected on the TDM side).
    pub dtmf_sent: u64,
    /// TDM samples muted towards RTP because the per-block pre-check took
    /// them for DTMF (RFC 4733 mode).
    pub dtmf_muted_samples: u64,
    /// Our interarrival jitter estimate of the remote's stream, ms
    /// (RFC 3550 §6.4.1).
    pub jitter_ms: f64,
    /// Our fraction lost of the remote's stream over the last RTCP interval
    /// (0–255 = 0–100 %).
    pub fraction_lost: u8,
    /// RTCP reports sent.
    pub rtcp_sent: u64,
    /// RTCP compound packets received.
    pub rtcp_received: u64,
    /// The remote's view of our stream from its last report block: fraction
    /// lost (0–255).
    pub remote_fraction_lost: u8,
    /// The remote's cumulative lost count for our stream.
    pub remote_cumulative_lost: i64,
    /// The remote's interarrival jitter for our stream, ms.
    pub remote_jitter_ms: f64,
    /// Round-trip time from the last report block with LSR/DLSR, ms.
    pub rtt_ms: Option<f64>,
}

/// Number of `u64` slots a [`StreamStats`] takes.
const SLOTS: usize = 28;

/// A [`StreamStats`] in atomics: the pump thread stores, anyone loads.
/// Each field is individually current (no cross-field snapshot).
#[derive(Debug)]
pub struct StatsCell {
    slots: [AtomicU64; SLOTS],
}

impl Default for StatsCell {
    fn default() -> Self {
        StatsCell { slots: std::array::from_fn(|_| AtomicU64::new(0)) }
    }
}

impl StatsCell {
    /// Publishes `s`.
    pub fn store(&self, s: &StreamStats) {
        let v: [u64; SLOTS] = [
            s.packets_sent,
            s.octets_sent,
            s.packets_received,
            s.octets_received,
            s.lost as u64,
            s.late,
            s.reordered,
            s.foreign,
            s.bad,
            s.ssrc_changes,
            u64::from(s.jitter_buffer_ms),
            u64::from(s.jitter_target_ms),
            s.plc_frames,
            s.slips,
            s.underruns,
            s.overruns,
            s.tdm_blocks,
            s.dtmf_received,
            s.dtmf_sent,
            s.jitter_ms.to_bits(),
            u64::from(s.fraction_lost),
            s.rtcp_sent,
            s.rtcp_received,
            u64::from(s.remote_fraction_lost),
            s.remote_cumulative_lost as u64,
            s.remote_jitter_ms.to_bits(),
            s.rtt_ms.map_or(u64::MAX, f64::to_bits),
            s.dtmf_muted_samples,
        ];
        for (slot, x) in self.slots.iter().zip(v) {
            slot.store(x, Ordering::Relaxed);
        }
    }

    /// The figures last published.
    pub fn load(&self) -> StreamStats {
        let v: [u64; SLOTS] = std::array::from_fn(|i| self.slots[i].load(Ordering::Relaxed));
        StreamStats {
            packets_sent: v[0],
            octets_sent: v[1],
            packets_received: v[2],
            octets_received: v[3],
            lost: v[4] as i64,
            late: v[5],
            reordered: v[6],
            foreign: v[7],
            bad: v[8],
            ssrc_changes: v[9],
            jitter_buffer_ms: v[10] as u32,
            jitter_target_ms: v[11] as u32,
            plc_frames: v[12],
            slips: v[13],
            underruns: v[14],
            overruns: v[15],
            tdm_blocks: v[16],
            dtmf_received: v[17],
            dtmf_sent: v[18],
            jitter_ms: f64::from_bits(v[19]),
            fraction_lost: v[20] as u8,
            rtcp_sent: v[21],
            rtcp_received: v[22],
            remote_fraction_lost: v[23] as u8,
            remote_cumulative_lost: v[24] as i64,
            remote_jitter_ms: f64::from_bits(v[25]),
            rtt_ms: if v[26] == u64::MAX { None } else { Some(f64::from_bits(v[26])) },
            dtmf_muted_samples: v[27],
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stats_survive_a_round_trip_through_the_cell() {
        let s =
            StreamStats { packets_sent: 7, lost: -2, jitter_ms: 1.25, rtt_ms: Some(12.5), remote_cumulative_lost: -1, fraction_lost: 25, ..Default::default() };
        let c = StatsCell::default();
        c.store(&s);
        assert_eq!(c.load(), s);
        c.store(&StreamStats::default());
        assert_eq!(c.load().rtt_ms, None);
    }
}
