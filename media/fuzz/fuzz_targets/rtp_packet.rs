//! RTP packets: decoding never panics, checked and unchecked; the view and
//! the repr agree on what they accept; an accepted packet re-emits to the
//! same octets (padding octets zeroed) and parses back to the same repr.

#![no_main]

use libfuzzer_sys::fuzz_target;
use std::hint::black_box;
use tandem_media::wire::rtp::{RtpPacket, RtpRepr};

fuzz_target!(|data: &[u8]| {
    let v = RtpPacket::new_unchecked(data);
    black_box((v.version(), v.csrc_count(), v.marker(), v.payload_type(), v.sequence_number()));
    black_box((v.timestamp(), v.ssrc(), v.csrcs().count(), v.csrc(14), v.extension()));
    black_box((v.header_len(), v.padding_len(), v.payload(), v.check_len().is_ok()));

    let checked = RtpPacket::new_checked(data);
    let parsed = RtpRepr::parse_bytes(data);
    assert_eq!(checked.is_ok(), parsed.is_ok());
    let (Ok(view), Ok(repr)) = (checked, parsed) else {
        return;
    };
    assert_eq!(RtpRepr::parse(&view), Ok(repr));
    assert_eq!(repr.buffer_len(), data.len());
    let out = repr.to_vec(view.payload()).expect("an accepted packet re-emits");
    let pad_start = data.len() - view.padding_len();
    assert_eq!(out[..pad_start], data[..pad_start]);
    if repr.padding != 0 {
        assert_eq!(out.last(), data.last());
    }
    assert_eq!(RtpRepr::parse_bytes(&out), Ok(repr));

    // Setters on a copy never panic and keep a checked packet checked as
    // long as the length fields are left alone.
    let mut copy = data.to_vec();
    let mut m = RtpPacket::new_unchecked(&mut copy[..]);
    m.set_marker(!view.marker());
    m.set_payload_type(view.payload_type() ^ 0x55);
    m.set_sequence_number(1);
    m.set_csrc(0, 7);
    m.payload_mut().fill(0);
    m.extension_data_mut().fill(0);
    assert!(RtpPacket::new_checked(&copy[..]).is_ok());
});
