//! RTP header parse and emit: ns per packet for our codec and for
//! `rtp-types` (the test oracle), and their ratio.
//!
//! Run with `cargo bench -p tandem-media --bench rtp` (a plain `main`, no
//! harness). Each case runs over a batch of 1024 distinct 172-octet G.711
//! packets (12-octet header + 160 octets = 20 ms), in 9 rounds after a
//! warm-up; the median round is reported. Every field read is fed to
//! `black_box`, so both parsers do the same work:
//!
//! * parse: validate and read marker, PT, sequence number, timestamp, SSRC
//!   and the payload slice. Ours via `RtpRepr::parse_bytes` (the inlined
//!   fast path) and via the view (`RtpPacket::new_checked` + getters);
//!   theirs via `RtpPacket::parse` + getters. Also a packet with 2 CSRCs,
//!   an extension and 4 octets of padding (our slow path), where both also
//!   read the CSRC list and the extension.
//! * emit (header): write the 12-octet header for fresh seq/timestamp
//!   values. Ours: `RtpRepr::emit` into the packet buffer (payload left in
//!   place); theirs: `RtpPacketBuilder` without payload, `write_into` a
//!   12-octet buffer.
//! * emit (header + 160-octet payload): ours `emit_with_payload`, theirs
//!   `RtpPacketBuilder::payload(..).write_into`.

use std::hint::black_box;
use std::time::Instant;

use rtp_types::{RtpPacket as TheirPacket, RtpPacketBuilder};
use tandem_media::wire::rtp::{Csrcs, RtpExtension, RtpPacket, RtpRepr};

const BATCH: usize = 1024;
const ROUNDS: usize = 9;
const PAYLOAD: usize = 160;

/// Median ns per operation of `f`, which performs `BATCH` operations.
fn measure(mut f: impl FnMut()) -> f64 {
    // Warm up and size the round to ~50 ms.
    let start = Instant::now();
    let mut iters = 0u64;
    while start.elapsed().as_millis() < 50 {
        f();
        iters += 1;
    }
    let mut samples = Vec::with_capacity(ROUNDS);
    for _ in 0..ROUNDS {
        let t = Instant::now();
        for _ in 0..iters {
            f();
        }
        samples.push(t.elapsed().as_nanos() as f64 / (iters as f64 * BATCH as f64));
    }
    samples.sort_by(f64::total_cmp);
    samples[ROUNDS / 2]
}

fn packets(repr_of: impl Fn(usize) -> (RtpRepr<'static>, Vec<u8>)) -> Vec<Vec<u8>> {
    (0..BATCH)
        .map(|i| {
            let (repr, payload) = repr_of(i);
            repr.to_vec(&payload).unwrap()
        })
        .collect()
}

fn plain(i: usize) -> (RtpRepr<'static>, Vec<u8>) {
    let repr = RtpRepr { marker: i % 50 == 0, ..RtpRepr::new((i % 2 * 8) as u8, i as u16, (i * PAYLOAD) as u32, 0x1234_5678, PAYLOAD) };
    (repr, vec![(i % 251) as u8; PAYLOAD])
}

static EXT: [u8; 8] = [0x10, 0xAA, 0, 0, 0x22, 0xBB, 0xCC, 0];

fn full(i: usize) -> (RtpRepr<'static>, Vec<u8>) {
    let (mut repr, payload) = plain(i);
    repr.csrcs = Csrcs::from_ids(&[1, 2]).unwrap();
    repr.extension = Some(RtpExtension { profile: 0xBEDE, data: &EXT });
    repr.padding = 4;
    (repr, payload)
}

fn parse_ours(batch: &[Vec<u8>]) {
    for p in batch {
        let r = RtpRepr::parse_bytes(black_box(p)).unwrap();
        black_box((r.marker, r.payload_type, r.sequence_number, r.timestamp, r.ssrc));
        black_box(r.payload_len);
    }
}

fn parse_ours_view(batch: &[Vec<u8>]) {
    for p in batch {
        let v = RtpPacket::new_checked(&black_box(p)[..]).unwrap();
        black_box((v.marker(), v.payload_type(), v.sequence_number(), v.timestamp(), v.ssrc()));
        black_box(v.payload());
    }
}

fn parse_ours_full(batch: &[Vec<u8>]) {
    for p in batch {
        let r = RtpRepr::parse_bytes(black_box(p)).unwrap();
        black_box((r.marker, r.payload_type, r.sequence_number, r.timestamp, r.ssrc));
        black_box((r.csrcs.iter().sum::<u32>(), r.extension, r.payload_len));
    }
}

fn parse_theirs_full(batch: &[Vec<u8>]) {
    for p in batch {
        let v = TheirPacket::parse(black_box(p)).unwrap();
        black_box((v.marker_bit(), v.payload_type(), v.sequence_number(), v.timestamp(), v.ssrc()));
        black_box((v.csrc().sum::<u32>(), v.extension(), v.payload().len()));
    }
}

fn parse_theirs(batch: &[Vec<u8>]) {
    for p in batch {
        let v = TheirPacket::parse(black_box(p)).unwrap();
        black_box((v.marker_bit(), v.payload_type(), v.sequence_number(), v.timestamp(), v.ssrc()));
        black_box(v.payload());
    }
}

fn main() {
    let plain_batch = packets(plain);
    let full_batch = packets(full);
    let mut bufs = vec![vec![0u8; 12 + PAYLOAD]; BATCH];
    let payload = [0xD5u8; PAYLOAD];

    let mut rows: Vec<(&str, f64, f64)> = Vec::new();

    let ours = measure(|| parse_ours(&plain_batch));
    let theirs = measure(|| parse_theirs(&plain_batch));
    rows.push(("parse, 12-octet header (RtpRepr)", ours, theirs));
    let ours = measure(|| parse_ours_view(&plain_batch));
    rows.push(("parse, 12-octet header (view)", ours, theirs));
    let ours = measure(|| parse_ours_full(&full_batch));
    let theirs = measure(|| parse_theirs_full(&full_batch));
    rows.push(("parse, 2 CSRC + ext + padding (RtpRepr)", ours, theirs));

    let mut seq = 0u16;
    let ours = measure(|| {
        for buf in bufs.iter_mut() {
            seq = seq.wrapping_add(1);
            let repr = RtpRepr::new(0, black_box(seq), u32::from(seq) * 160, 0x1234_5678, PAYLOAD);
            repr.emit(&mut RtpPacket::new_unchecked(&mut buf[..])).unwrap();
        }
        black_box(&mut bufs);
    });
    let mut hdr = [[0u8; 12]; BATCH];
    let theirs = measure(|| {
        for h in hdr.iter_mut() {
            seq = seq.wrapping_add(1);
            let b = RtpPacketBuilder::<&[u8], &[u8]>::new().payload_type(0).sequence_number(black_box(seq)).timestamp(u32::from(seq) * 160).ssrc(0x1234_5678);
            b.write_into(&mut h[..]).unwrap();
        }
        black_box(&mut hdr);
    });
    rows.push(("emit, 12-octet header", ours, theirs));

    let ours = measure(|| {
        for buf in bufs.iter_mut() {
            seq = seq.wrapping_add(1);
            let repr = RtpRepr::new(0, black_box(seq), u32::from(seq) * 160, 0x1234_5678, PAYLOAD);
            repr.emit_with_payload(&mut buf[..], &payload).unwrap();
        }
        black_box(&mut bufs);
    });
    let theirs = measure(|| {
        for buf in bufs.iter_mut() {
            seq = seq.wrapping_add(1);
            let b = RtpPacketBuilder::<&[u8], &[u8]>::new()
                .payload_type(0)
                .sequence_number(black_box(seq))
                .timestamp(u32::from(seq) * 160)
                .ssrc(0x1234_5678)
                .payload(&payload[..]);
            b.write_into(&mut buf[..]).unwrap();
        }
        black_box(&mut bufs);
    });
    rows.push(("emit, header + 160-octet payload", ours, theirs));

    println!("{:<42} {:>12} {:>16} {:>16}", "RTP (ns per packet, median of 9)", "tandem-media", "rtp-types 0.1.2", "rtp-types/ours");
    for (name, ours, theirs) in rows {
        println!("{name:<42} {ours:>12.2} {theirs:>16.2} {:>15.2}x", theirs / ours);
    }
}
