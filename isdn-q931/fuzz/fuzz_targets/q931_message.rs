//! Q.931 messages and IEs: decoding never panics; a decoded message
//! re-emits to octets that decode to the same (canonically ordered)
//! message; typed IE decoders accept only what they re-emit exactly.

#![no_main]

use isdn_q931::wire::ie::IeRepr;
use isdn_q931::wire::q931::{Message, MessageRepr};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // The same input read as one IE: first octet identifier, rest contents.
    if let Some((&id, contents)) = data.split_first() {
        let ie = IeRepr::parse(0, id & 0x7F, contents);
        let mut out = Vec::new();
        ie.encode_contents(&mut out);
        assert_eq!(out, contents, "{ie:?}");
        if let IeRepr::Facility(f) = &ie {
            for apdu in f.apdus() {
                let _ = apdu;
            }
            let _ = f.names();
        }
    }

    let view = Message::new_unchecked(data);
    let _ = (
        view.protocol_discriminator(),
        view.call_ref(),
        view.message_type(),
    );
    for ie in view.ies() {
        let _ = ie.map(|raw| raw.to_repr());
    }
    let Ok(msg) = MessageRepr::parse_bytes(data) else {
        return;
    };
    let _ = msg.validate();
    let _ = msg.ie_errors().count();
    let bytes = msg.to_vec().expect("decoded IEs fit their length octets");
    let again = MessageRepr::parse_bytes(&bytes).expect("emitted message decodes");
    assert_eq!(again, msg.canonical());
    assert_eq!(again.to_vec().unwrap(), bytes);
});
