//! The CDR writer: JSON lines appended to the file, synchronously or from
//! its own thread.

use tandem_gateway::cdr::{CdrLeg, CdrRecord, CdrWriter};

fn record(id: u32) -> CdrRecord {
    CdrRecord {
        call_id: format!("{id:016x}"),
        direction: "tdm-to-sip",
        start: "2024-05-01T12:00:00.000Z".into(),
        answer: Some("2024-05-01T12:00:02.000Z".into()),
        end: "2024-05-01T12:01:02.500Z".into(),
        duration_s: 60.5,
        setup_s: 2.0,
        pdd_s: Some(0.5),
        released_by: "inbound",
        cause: 16,
        calling: Some("2125550100".into()),
        calling_out: Some("+12125550100".into()),
        calling_name: Some("Zoë \"Z\" Smith".into()),
        called: "5551234".into(),
        called_out: Some("1234".into()),
        redirecting: None,
        route: Some("did".into()),
        attempts: 1,
        inbound: CdrLeg {
            kind: "tdm",
            interface: "pri1".into(),
            span: Some(1),
            channel: Some(5),
            sip_call_id: None,
            cause: Some(16),
            wire: None,
            target: None,
        },
        outbound: Some(CdrLeg {
            kind: "sip",
            interface: "pbx".into(),
            span: None,
            channel: None,
            sip_call_id: Some("a84b4c76e66710@192.0.2.4".into()),
            cause: Some(16),
            wire: Some("BYE".into()),
            target: Some("sip:1234@pbx.example.com".into()),
        }),
        media: None,
    }
}

#[test]
fn records_are_appended_as_one_json_object_per_line() {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("cdr.jsonl");
    std::fs::write(&path, "{\"earlier\":true}\n").unwrap();
    let mut w = CdrWriter::open(&path, true).unwrap();
    w.write_record(&record(1)).unwrap();
    w.write_record(&record(2)).unwrap();
    let text = std::fs::read_to_string(&path).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 3, "{text}");
    assert_eq!(lines[0], "{\"earlier\":true}", "existing records are kept");
    let v: serde_json::Value = serde_json::from_str(lines[2]).unwrap();
    assert_eq!(v["call_id"], "0000000000000002");
    assert_eq!(v["calling_name"], "Zoë \"Z\" Smith");
    assert_eq!(v["outbound"]["target"], "sip:1234@pbx.example.com");
    assert_eq!(v["inbound"]["channel"], 5);
    assert_eq!(v["duration_s"], 60.5);
    assert!(text.ends_with('\n'));
}

#[test]
fn the_writer_thread_writes_everything_queued_before_it_stops() {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("cdr.jsonl");
    let (tx, handle) = CdrWriter::open(&path, false).unwrap().spawn();
    for i in 0..200 {
        tx.send(record(i)).unwrap();
    }
    drop(tx);
    handle.join().unwrap();
    let text = std::fs::read_to_string(&path).unwrap();
    let ids: Vec<String> = text.lines().map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap()["call_id"].as_str().unwrap().to_owned()).collect();
    assert_eq!(ids.len(), 200);
    assert_eq!(ids[199], format!("{:016x}", 199));
}

#[test]
fn an_unwritable_cdr_file_is_an_error_naming_it() {
    let e = CdrWriter::open(std::path::Path::new("/nonexistent-dir/cdr.jsonl"), true).unwrap_err();
    assert!(e.to_string().contains("/nonexistent-dir/cdr.jsonl"), "{e}");
}
