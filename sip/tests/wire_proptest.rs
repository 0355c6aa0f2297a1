//! Property tests of the wire layer: what we emit parses back to the same
//! message, and no input (random or a mutated valid message) makes the
//! parser or the stream framer panic.

use proptest::prelude::*;
use tandem_sip::wire::{HeaderAccess, MessageView, Method, NameAddr, Request, Response, StreamFramer, Transport, Uri, Via};

fn method() -> impl Strategy<Value = Method> {
    prop_oneof![
        Just(Method::Invite),
        Just(Method::Bye),
        Just(Method::Options),
        Just(Method::Register),
        Just(Method::Info),
        Just(Method::Prack),
        "[A-Z]{3,9}".prop_map(|m| Method::parse(&m).unwrap()),
    ]
}

fn uri() -> impl Strategy<Value = Uri> {
    ("[a-z0-9+][a-z0-9.+_-]{0,12}", "[a-z][a-z0-9]{0,8}(\\.[a-z]{2,5}){0,2}", proptest::option::of(1u16..), proptest::bool::ANY).prop_map(|(u, h, p, phone)| {
        let mut uri = Uri::sip(Some(&u), &h, p);
        if phone {
            uri.params.set("user", Some("phone"));
        }
        uri
    })
}

fn request() -> impl Strategy<Value = Request> {
    (
        method(),
        uri(),
        uri(),
        "[ -~]{0,20}",
        "[a-zA-Z0-9]{1,10}",
        0u32..(1 << 31),
        0u32..=255,
        proptest::collection::vec(any::<u8>(), 0..64),
        "[a-zA-Z0-9.@-]{1,30}",
    )
        .prop_map(|(m, ruri, from, display, tag, seq, mf, body, call_id)| {
            let via = Via::new(Transport::Udp, "192.0.2.1", Some(5060), &format!("z9hG4bK{tag}"));
            let mut r = Request::new(m.clone(), ruri.clone())
                .with_header("Via", via.to_string())
                .with_header("From", NameAddr::new(from).with_display(&display).with_tag(&tag).to_string())
                .with_header("To", NameAddr::new(ruri).to_string())
                .with_header("Call-ID", call_id)
                .with_header("CSeq", format!("{seq} {m}"))
                .with_header("Max-Forwards", mf.to_string());
            if !body.is_empty() {
                r = r.with_body("application/octet-stream", body);
            }
            r
        })
}

proptest! {
    #[test]
    fn emitted_requests_parse_back_identically(req in request()) {
        let bytes = req.to_bytes();
        let view = MessageView::parse(&bytes).unwrap();
        let back = view.to_request().unwrap();
        prop_assert_eq!(&back.method, &req.method);
        prop_assert_eq!(&back.uri, &req.uri);
        prop_assert_eq!(&back.body, &req.body);
        for name in ["Via", "From", "To", "Call-ID", "CSeq", "Max-Forwards"] {
            prop_assert_eq!(back.header(name), req.header(name));
        }
        prop_assert_eq!(back.from_addr(), req.from_addr());
        prop_assert_eq!(back.to_bytes(), bytes);
    }

    #[test]
    fn responses_built_for_a_request_parse_back(req in request(), status in 100u16..700) {
        let bytes = req.to_bytes();
        let view = MessageView::parse(&bytes).unwrap();
        let resp = Response::for_request(&view, status, None, Some("t0"));
        let rb = resp.to_bytes();
        let rv = MessageView::parse(&rb).unwrap();
        prop_assert_eq!(rv.status(), Some(status));
        prop_assert_eq!(rv.checked_cseq(), view.checked_cseq());
        prop_assert_eq!(rv.call_id(), view.call_id());
        prop_assert_eq!(rv.checked_to().tag(), Some("t0"));
    }

    #[test]
    fn arbitrary_bytes_never_panic(data in proptest::collection::vec(any::<u8>(), 0..2048)) {
        if let Err(e) = MessageView::parse(&data) {
            let _ = (e.status(), e.rejection("x"));
        }
        let mut f = StreamFramer::new(4096);
        f.push(&data);
        for _ in 0..64 {
            match f.next_frame() {
                Ok(Some(_)) => {}
                _ => break,
            }
        }
    }

    #[test]
    fn mutated_valid_messages_never_panic(req in request(), edits in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..8)) {
        let mut bytes = req.to_bytes();
        for (i, b) in edits {
            let i = i.index(bytes.len());
            bytes[i] = b;
        }
        match MessageView::parse(&bytes) {
            Ok(v) => {
                let _ = (v.to_request(), v.top_via(), v.typed_list::<tandem_sip::wire::Contact>("Contact"));
            }
            Err(e) => {
                let _ = e.rejection("x").map(|r| r.to_bytes());
            }
        }
    }
}
