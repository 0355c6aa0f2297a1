//! SIP messages: parsing never panics; whatever parses converts to an owned
//! message that emits and parses again to the same method or status, CSeq
//! and body; a rejection builds a response; the stream framer never panics.

#![no_main]

use libfuzzer_sys::fuzz_target;
use std::hint::black_box;
use tandem_sip::wire::{Contact, HeaderAccess, MessageView, StreamFramer};

fuzz_target!(|data: &[u8]| {
    match MessageView::parse(data) {
        Ok(v) => {
            black_box((v.top_via(), v.typed_list::<Contact>("Contact"), v.option_tags("Require")));
            let bytes = match (v.to_request(), v.to_response()) {
                (Some(r), _) => r.to_bytes(),
                (_, Some(r)) => r.to_bytes(),
                _ => unreachable!("a view is a request or a response"),
            };
            let again = MessageView::parse(&bytes).expect("re-emitted message parses");
            assert_eq!(again.method(), v.method());
            assert_eq!(again.status(), v.status());
            assert_eq!(again.checked_cseq(), v.checked_cseq());
            assert_eq!(again.body(), v.body());
        }
        Err(e) => {
            black_box((e.status(), e.can_respond(), e.rejection("fz").map(|r| r.to_bytes())));
        }
    }
    let mut framer = StreamFramer::new(8192);
    framer.push(data);
    while let Ok(Some(frame)) = framer.next_frame() {
        black_box(frame);
    }
});
