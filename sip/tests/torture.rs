//! Table-driven torture tests in the spirit of RFC 4475: each message is
//! our own, built to exercise one of the RFC's cases, and the table says
//! whether it parses and, if not, which status the server must answer with
//! and whether it can answer at all.

use tandem_sip::wire::{HeaderAccess, Limits, MessageView, Method};

const HDRS: &str = "Via: SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bK-t1\r\n\
From: <sip:caller@example.net>;tag=1928\r\n\
To: <sip:callee@example.com>\r\n\
Call-ID: torture-1@192.0.2.10\r\n";

fn invite(extra: &str) -> String {
    format!("INVITE sip:callee@example.com SIP/2.0\r\n{HDRS}CSeq: 1 INVITE\r\nMax-Forwards: 70\r\n{extra}Content-Length: 0\r\n\r\n")
}

/// (name, message, expected: Ok(()) or Err((status, can_respond)))
type Case = (&'static str, Vec<u8>, Result<(), (u16, bool)>);

fn table() -> Vec<Case> {
    let mut t: Vec<Case> = vec![
        ("plain invite", invite("").into_bytes(), Ok(())),
        (
            "compact forms, odd case, folding and tabs",
            b"INVITE sip:callee@example.com SIP/2.0\r\n\
v:  SIP/2.0/UDP 192.0.2.10;branch=z9hG4bK-c1 , SIP / 2.0 / TCP\r\n  proxy.example.net:5070;branch=z9hG4bKx\r\n\
f: \"Caller, Esq.\" <sip:caller@example.net>;tag=9\r\nT:\tsip:callee@example.com\r\n\
i: c1@x\r\nCSEQ: 8\r\n    INVITE\r\nmax-forwards: 5\r\nk: 100rel, timer\r\nm: <sip:c@192.0.2.10>;expires=60\r\n\
c: application/sdp\r\nl: 4\r\n\r\nv=0\n"
                .to_vec(),
            Ok(()),
        ),
        (
            "escaped user part and params",
            invite("").replace("sip:callee@example.com SIP", "sip:%61lice;npdi;rn=+1555@example.com;user=phone SIP").into_bytes(),
            Ok(()),
        ),
        ("tel request-uri", invite("").replace("sip:callee@example.com SIP", "tel:+1-555-0100;phone-context=example.com SIP").into_bytes(), Ok(())),
        ("ipv6 request-uri and via", invite("").replace("sip:callee@example.com SIP", "sip:[2001:db8::9]:5060 SIP").into_bytes(), Ok(())),
        ("lowercase version token", invite("").replace("SIP/2.0\r\nVia", "sip/2.0\r\nVia").into_bytes(), Ok(())),
        ("max-forwards zero still parses", invite("").replace("Max-Forwards: 70", "Max-Forwards: 0").into_bytes(), Ok(())),
        ("leading CRLFs are ignored", format!("\r\n\r\n{}", invite("")).into_bytes(), Ok(())),
        ("unknown headers and methods pass", invite("X-Anything: ~!@#$%^&*()\r\n").into_bytes(), Ok(())),
        ("extension method", invite("").replace("INVITE sip", "NEWMETHOD sip").replace("1 INVITE", "1 NEWMETHOD").into_bytes(), Ok(())),
        ("header with empty value", invite("Subject:\r\n").into_bytes(), Ok(())),
        ("empty Supported", invite("Supported: \r\n").into_bytes(), Ok(())),
        // 400s that can be answered
        ("header line without colon", invite("This line has no colon\r\n").into_bytes(), Err((400, true))),
        ("request-uri without scheme", invite("").replace("sip:callee@example.com SIP", "callee@example.com SIP").into_bytes(), Err((400, true))),
        ("space inside request-uri", invite("").replace("sip:callee@example.com SIP", "sip:callee@exa mple.com SIP").into_bytes(), Err((400, true))),
        ("missing Max-Forwards", invite("").replace("Max-Forwards: 70\r\n", "").into_bytes(), Err((400, true))),
        ("duplicate CSeq", invite("CSeq: 2 INVITE\r\n").into_bytes(), Err((400, true))),
        ("duplicate To", invite("To: <sip:other@example.com>\r\n").into_bytes(), Err((400, true))),
        ("CSeq method mismatch", invite("").replace("1 INVITE", "1 ACK").into_bytes(), Err((400, true))),
        ("CSeq number beyond 2^31", invite("").replace("CSeq: 1 INVITE", "CSeq: 2147483648 INVITE").into_bytes(), Err((400, true))),
        ("CSeq without number", invite("").replace("CSeq: 1 INVITE", "CSeq: INVITE").into_bytes(), Err((400, true))),
        ("Content-Length larger than body", invite("").replace("Content-Length: 0", "Content-Length: 50").into_bytes(), Err((400, true))),
        ("Content-Length not a number", invite("").replace("Content-Length: 0", "Content-Length: zero").into_bytes(), Err((400, true))),
        ("negative Content-Length", invite("").replace("Content-Length: 0", "Content-Length: -5").into_bytes(), Err((400, true))),
        ("Max-Forwards not a number", invite("").replace("Max-Forwards: 70", "Max-Forwards: seventy").into_bytes(), Err((400, true))),
        ("unterminated display name", invite("").replace("From: <sip", "From: \"Caller <sip").into_bytes(), Err((400, true))),
        ("To without closing bracket", invite("").replace("To: <sip:callee@example.com>", "To: <sip:callee@example.com").into_bytes(), Err((400, true))),
        ("contact with bad expires value", invite("Contact: <sip:c@h>;expires=\"x\r\n").into_bytes(), Err((400, true))),
        ("bad Expires", invite("Expires: soon\r\n").into_bytes(), Err((400, true))),
        ("Via with bad version", invite("").replace("Via: SIP/2.0/UDP", "Via: SIP/2.1/UDP").into_bytes(), Err((400, true))),
        ("Via with bad received", invite("").replace("t1\r\n", "t1;received=not-an-ip\r\n").into_bytes(), Err((400, true))),
        ("Require with an empty element", invite("Require: 100rel,,timer\r\n").into_bytes(), Err((400, true))),
        ("Content-Type without subtype", invite("Content-Type: application\r\n").into_bytes(), Err((400, true))),
        ("RSeq not a number", invite("RSeq: one\r\n").into_bytes(), Err((400, true))),
        ("continuation line at top (Via lost)", invite("").replace("Via:", " Via:").into_bytes(), Err((400, false))),
        ("NUL in header", invite("X-Nul: a\0b\r\n").into_bytes(), Err((400, true))),
        ("extra spaces in request line", invite("").replace("INVITE sip", "INVITE  sip").into_bytes(), Err((400, true))),
        // other statuses
        ("unknown URI scheme", invite("").replace("sip:callee@example.com SIP", "http://example.com/x SIP").into_bytes(), Err((416, true))),
        ("mailto URI scheme", invite("").replace("sip:callee@example.com SIP", "mailto:a@example.com SIP").into_bytes(), Err((416, true))),
        ("SIP/7.0", invite("").replace("SIP/2.0\r\nVia", "SIP/7.0\r\nVia").into_bytes(), Err((505, true))),
        // not answerable
        ("missing Call-ID", invite("").replace("Call-ID: torture-1@192.0.2.10\r\n", "").into_bytes(), Err((400, false))),
        ("missing Via", invite("").replace("Via: SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bK-t1\r\n", "").into_bytes(), Err((400, false))),
        ("no empty line after headers", invite("").trim_end().as_bytes().to_vec(), Err((400, true))),
        ("garbage", b"\x01\x02hello".to_vec(), Err((400, false))),
        ("empty", Vec::new(), Err((400, false))),
    ];
    let mut m = invite("").into_bytes();
    let at = m.len() - "Content-Length: 0\r\n\r\n".len();
    m.splice(at..at, b"X-Bin: \xc3\x28\r\n".iter().copied());
    t.push(("bad UTF-8 in a header", m, Err((400, true))));
    t
}

#[test]
fn torture_table_accepts_and_rejects_with_the_right_status() {
    for (name, msg, expected) in table() {
        let got = MessageView::parse(&msg);
        match (&got, expected) {
            (Ok(_), Ok(())) => {}
            (Err(e), Err((status, respond))) => {
                assert_eq!(e.status(), status, "{name}: {e}");
                assert_eq!(e.can_respond(), respond, "{name}: {e}");
                if respond {
                    let r = e.rejection("rej1").expect(name);
                    let bytes = r.to_bytes();
                    // The rejection echoes the request's headers, bad ones included.
                    let text = String::from_utf8_lossy(&bytes);
                    assert!(text.starts_with(&format!("SIP/2.0 {status} ")), "{name}: {text}");
                    assert!(text.contains(";tag=rej1\r\n"), "{name}: {text}");
                    assert!(text.contains("\r\nContent-Length: 0\r\n\r\n"), "{name}: {text}");
                }
            }
            _ => panic!("{name}: expected {expected:?}, got {got:?}"),
        }
    }
}

#[test]
fn oversized_message_gets_513_and_limit_is_configurable() {
    let big = invite(&format!("X-Pad: {}\r\n", "a".repeat(70_000)));
    let e = MessageView::parse(big.as_bytes()).unwrap_err();
    assert_eq!(e.status(), 513);
    assert!(e.can_respond());
    let small = invite("");
    let limits = Limits { max_message_size: 100, ..Limits::default() };
    assert_eq!(MessageView::parse_with(small.as_bytes(), limits).unwrap_err().status(), 513);
}

#[test]
fn stream_messages_require_content_length() {
    let m = invite("").replace("Content-Length: 0\r\n", "");
    assert!(MessageView::parse(m.as_bytes()).is_ok());
    let limits = Limits { require_content_length: true, ..Limits::default() };
    assert_eq!(MessageView::parse_with(m.as_bytes(), limits).unwrap_err().status(), 400);
}

#[test]
fn folded_compact_message_exposes_typed_headers() {
    let msg = table().into_iter().find(|(n, _, _)| n.starts_with("compact")).unwrap().1;
    let v = MessageView::parse(&msg).unwrap();
    assert_eq!(v.method(), Some(&Method::Invite));
    assert_eq!(v.checked_cseq().seq, 8);
    assert_eq!(v.checked_top_via().branch(), Some("z9hG4bK-c1"));
    assert_eq!(v.typed_list::<tandem_sip::wire::Via>("Via").unwrap().len(), 2);
    assert_eq!(v.checked_from().display.as_deref(), Some("Caller, Esq."));
    assert_eq!(v.call_id(), Some("c1@x"));
    assert_eq!(v.option_tags("Supported"), vec!["100rel", "timer"]);
    assert_eq!(v.body(), b"v=0\n");
    assert_eq!(v.max_forwards(), Some(5));
    let req = v.to_request().unwrap();
    assert_eq!(req.header("Call-ID"), Some("c1@x"));
    let again = req.to_bytes();
    let v2 = MessageView::parse(&again).unwrap();
    assert_eq!(v2.body(), b"v=0\n");
    assert!(String::from_utf8_lossy(&again).contains("Call-ID: c1@x\r\n"));
}

#[test]
fn datagram_bytes_past_content_length_are_ignored() {
    let m = invite("").replace("Content-Length: 0\r\n\r\n", "Content-Length: 3\r\n\r\nabcdef");
    assert_eq!(MessageView::parse(m.as_bytes()).unwrap().body(), b"abc");
}
