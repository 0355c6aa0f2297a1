//! RTCP compound packets: walking and decoding never panic, checked or
//! unchecked; whatever parses re-emits to octets that parse to the same
//! repr, never longer than the original.

#![no_main]

use libfuzzer_sys::fuzz_target;
use std::hint::black_box;
use tandem_media::wire::rtcp::{CompoundIter, CompoundRepr, RtcpPacket, RtcpRepr, check_compound};

fn touch<T: AsRef<[u8]>>(p: &RtcpPacket<T>) {
    black_box((p.version(), p.count(), p.packet_type(), p.packet_len(), p.padding_len()));
    black_box((p.payload(), p.ssrc(), p.ntp_timestamp(), p.sender_octet_count()));
    for b in p.report_blocks() {
        black_box((b.ssrc(), b.fraction_lost(), b.cumulative_lost(), b.jitter()));
        black_box((b.extended_highest_seq(), b.last_sr(), b.delay_since_last_sr()));
    }
    black_box((p.report_block(31), p.report_extension()));
    for chunk in p.sdes_chunks().flatten() {
        black_box((chunk.ssrc, chunk.cname(), chunk.items().count()));
    }
    black_box((p.bye_sources().count(), p.bye_reason().ok(), p.app_name(), p.app_data()));
}

fuzz_target!(|data: &[u8]| {
    touch(&RtcpPacket::new_unchecked(data));
    let mut count = 0;
    for packet in CompoundIter::new(data) {
        let Ok(packet) = packet else { break };
        count += 1;
        touch(&packet);
        if let Ok(repr) = RtcpRepr::parse(&packet) {
            let out = repr.to_vec().expect("a parsed packet re-emits");
            assert!(out.len() <= packet.packet_len());
            assert_eq!(RtcpRepr::parse_bytes(&out), Ok(repr));
        }
    }
    if let Ok(repr) = CompoundRepr::parse(data) {
        assert!(check_compound(data).is_ok());
        assert_eq!(repr.packets.len(), count);
        let out = repr.to_vec().expect("a parsed compound re-emits");
        assert!(out.len() <= data.len());
        assert_eq!(CompoundRepr::parse(&out), Ok(repr));
    }
});
