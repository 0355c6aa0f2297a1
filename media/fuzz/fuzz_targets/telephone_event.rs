//! RFC 4733 telephone events: decoding never panics; every payload of at
//! least 4 octets parses and re-emits to its first 4 octets with R clear.

#![no_main]

use libfuzzer_sys::fuzz_target;
use std::hint::black_box;
use tandem_media::wire::rfc4733::{TelephoneEvent, TelephoneEventRepr};

fuzz_target!(|data: &[u8]| {
    let v = TelephoneEvent::new_unchecked(data);
    black_box((v.event(), v.end(), v.reserved(), v.volume(), v.duration()));
    match TelephoneEventRepr::parse_bytes(data) {
        Ok(e) => {
            let out = e.to_bytes().expect("a parsed event re-emits");
            assert_eq!(out[0], data[0]);
            assert_eq!(out[1], data[1] & !0x40);
            assert_eq!(out[2..], data[2..4]);
            black_box(e.event.dtmf_char());
        }
        Err(_) => assert!(data.len() < 4),
    }
});
