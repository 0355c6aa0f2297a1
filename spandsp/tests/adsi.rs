//! Caller ID over spandsp's ADSI modem: spandsp → spandsp, tandem-dsp → spandsp
//! and spandsp → tandem-dsp, through G.711 with noise, for SDMF, MDMF, ETSI
//! V.23 and DTMF caller ID, plus malformed FSK.

use proptest::prelude::*;
use tandem_dsp::Law;
use tandem_dsp::callerid::{self, Absence, CallerId, CallerIdMessage, Format, Standard};
use tandem_spandsp::adsi::{AdsiRx, AdsiTx, CidError, CidStandard, Preamble, Presentation, presentation};

/// Deterministic white noise of the given RMS.
fn add_noise(samples: &mut [i16], rms: f64, seed: u64) {
    let mut x = seed | 1;
    for s in samples {
        let mut acc = 0.0;
        for _ in 0..4 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            acc += (x >> 11) as f64 / (1u64 << 53) as f64 - 0.5;
        }
        let n = acc * 3.0f64.sqrt() * rms;
        *s = (f64::from(*s) + n).clamp(-32768.0, 32767.0) as i16;
    }
}

/// Silence around the signal, −45 dBm0-ish noise, then µ-law.
fn line(signal: &[i16], seed: u64) -> Vec<i16> {
    let mut v = vec![0i16; 1600];
    v.extend_from_slice(signal);
    v.extend(std::iter::repeat_n(0, 1600));
    add_noise(&mut v, 150.0, seed);
    Law::Mulaw.decode_vec(&Law::Mulaw.encode_vec(&v))
}

fn receive(standard: CidStandard, audio: &[i16], chunk: usize) -> Vec<CallerIdMessage> {
    let mut rx = AdsiRx::new(standard).unwrap();
    let mut got = Vec::new();
    for c in audio.chunks(chunk) {
        rx.process_with(c, |m| got.push(m.message));
    }
    got
}

fn spandsp_send(standard: CidStandard, msg: &CallerIdMessage, format: Format) -> Vec<i16> {
    let mut tx = AdsiTx::new(standard).unwrap();
    tx.send(msg, format).unwrap();
    let audio = tx.render(8000 * 10);
    assert!(tx.is_idle());
    assert!(!audio.is_empty());
    audio
}

fn full() -> CallerId {
    CallerId { number: Some("2125551212".into()), name: Some("DOE JOHN".into()), datetime: Some((12, 31, 23, 59)), ..CallerId::default() }
}

fn sdmf() -> CallerIdMessage {
    CallerIdMessage::CallerId(CallerId { number: Some("6095551212".into()), datetime: Some((9, 30, 12, 24)), ..CallerId::default() })
}

fn etsi() -> CallerIdMessage {
    CallerIdMessage::CallerId(CallerId {
        number: Some("0123456789".into()),
        name: Some("Tandem Test".into()),
        datetime: Some((6, 1, 14, 30)),
        ..CallerId::default()
    })
}

/// (modem, format, message) for every FSK case.
fn fsk_cases() -> Vec<(CidStandard, Format, CallerIdMessage)> {
    let private =
        CallerId { datetime: Some((2, 29, 8, 15)), number_absence: Some(Absence::Private), name_absence: Some(Absence::Private), ..CallerId::default() };
    let unavailable = CallerId { number_absence: Some(Absence::Unavailable), name_absence: Some(Absence::Unavailable), ..CallerId::default() };
    let sdmf_private = CallerId { datetime: Some((1, 1, 0, 0)), number_absence: Some(Absence::Private), ..CallerId::default() };
    vec![
        (CidStandard::Bell202, Format::Sdmf, sdmf()),
        (CidStandard::Bell202, Format::Sdmf, CallerIdMessage::CallerId(sdmf_private)),
        (CidStandard::Bell202, Format::Mdmf, CallerIdMessage::CallerId(full())),
        (CidStandard::Bell202, Format::Mdmf, CallerIdMessage::CallerId(private.clone())),
        (CidStandard::Bell202, Format::Mdmf, CallerIdMessage::CallerId(unavailable.clone())),
        (CidStandard::Bell202, Format::Sdmf, CallerIdMessage::MessageWaiting(true)),
        (CidStandard::Bell202, Format::Mdmf, CallerIdMessage::MessageWaiting(false)),
        (CidStandard::V23, Format::Etsi, etsi()),
        (CidStandard::V23, Format::Etsi, CallerIdMessage::CallerId(private)),
        (CidStandard::V23, Format::Etsi, CallerIdMessage::CallerId(unavailable)),
        (CidStandard::V23, Format::Etsi, CallerIdMessage::MessageWaiting(true)),
    ]
}

fn dsp_standard(s: CidStandard) -> Standard {
    match s {
        CidStandard::V23 => Standard::V23,
        _ => Standard::Bell202,
    }
}

#[test]
fn spandsp_fsk_round_trips_every_format_through_ulaw_with_noise() {
    for (i, (standard, format, msg)) in fsk_cases().into_iter().enumerate() {
        let audio = line(&spandsp_send(standard, &msg, format), i as u64);
        for chunk in [1, 80, 160, 4000] {
            assert_eq!(receive(standard, &audio, chunk), vec![msg.clone()], "{standard:?} {format:?} chunk {chunk}");
        }
    }
}

#[test]
fn spandsp_hears_tandem_dsp_fsk_in_every_format() {
    for (i, (standard, format, msg)) in fsk_cases().into_iter().enumerate() {
        let audio = callerid::generate_fsk_callerid(&msg, format, dsp_standard(standard), -13.0).unwrap();
        let audio = line(&audio, 100 + i as u64);
        assert_eq!(receive(standard, &audio, 160), vec![msg], "{standard:?} {format:?}");
    }
}

#[test]
fn tandem_dsp_hears_spandsp_fsk_in_every_format() {
    for (i, (standard, format, msg)) in fsk_cases().into_iter().enumerate() {
        let audio = line(&spandsp_send(standard, &msg, format), 200 + i as u64);
        assert_eq!(callerid::detect_fsk_callerid_with(&audio, dsp_standard(standard)), Some(msg), "{standard:?} {format:?}");
    }
}

#[test]
fn fsk_survives_a_20_db_snr_at_minus_20_dbm0_through_alaw() {
    let msg = CallerIdMessage::CallerId(full());
    for (standard, format) in [(CidStandard::Bell202, Format::Mdmf), (CidStandard::V23, Format::Etsi)] {
        for seed in 0..4 {
            // −20 dBm0 FSK from tandem-dsp, noise at about −40 dBm0.
            let mut audio = callerid::generate_fsk_callerid(&msg, format, dsp_standard(standard), -20.0).unwrap();
            add_noise(&mut audio, 230.0, seed);
            let audio = Law::Alaw.decode_vec(&Law::Alaw.encode_vec(&audio));
            assert_eq!(receive(standard, &audio, 160), vec![msg.clone()], "{standard:?} seed {seed}");
        }
    }
}

fn dtmf_cases() -> Vec<CallerId> {
    vec![
        CallerId { number: Some("4930123456".into()), ..CallerId::default() },
        CallerId { number_absence: Some(Absence::Private), ..CallerId::default() },
        CallerId { number_absence: Some(Absence::Unavailable), ..CallerId::default() },
    ]
}

#[test]
fn dtmf_caller_id_round_trips_spandsp_to_spandsp_and_to_tandem_dsp() {
    for (i, cid) in dtmf_cases().into_iter().enumerate() {
        let msg = CallerIdMessage::CallerId(cid.clone());
        let audio = line(&spandsp_send(CidStandard::Dtmf, &msg, Format::Etsi), 300 + i as u64);
        assert_eq!(receive(CidStandard::Dtmf, &audio, 160), vec![msg.clone()]);
        assert_eq!(callerid::detect_dtmf_callerid(&audio), Some(cid));
    }
}

#[test]
fn spandsp_hears_tandem_dsp_dtmf_caller_id() {
    for (i, cid) in dtmf_cases().into_iter().enumerate() {
        let audio = callerid::generate_dtmf_callerid(&cid, &callerid::DTMF_CALLERID_CONFIG).unwrap();
        let audio = line(&audio, 400 + i as u64);
        assert_eq!(receive(CidStandard::Dtmf, &audio, 160), vec![CallerIdMessage::CallerId(cid)]);
    }
}

#[test]
fn spandsp_decodes_the_hash_terminated_dtmf_variant() {
    for (digits, expect) in [
        ("A5551234#", CallerId { number: Some("5551234".into()), ..CallerId::default() }),
        ("D1#", CallerId { number_absence: Some(Absence::Private), ..CallerId::default() }),
        ("D3#", CallerId { number_absence: Some(Absence::Unavailable), ..CallerId::default() }),
    ] {
        let mut tx = AdsiTx::new(CidStandard::Dtmf).unwrap();
        tx.send_raw(digits.as_bytes()).unwrap();
        let audio = line(&tx.render(80_000), 7);
        assert_eq!(receive(CidStandard::Dtmf, &audio, 160), vec![CallerIdMessage::CallerId(expect)], "{digits}");
    }
}

#[test]
fn private_and_unavailable_map_to_presentation() {
    let cases = fsk_cases();
    let got: Vec<Presentation> = cases
        .iter()
        .filter_map(|(_, _, m)| match m {
            CallerIdMessage::CallerId(c) => Some(presentation(c)),
            _ => None,
        })
        .collect();
    assert!(got.contains(&Presentation::Available));
    assert!(got.contains(&Presentation::Private));
    assert!(got.contains(&Presentation::Unavailable));
}

#[test]
fn off_hook_preamble_is_shorter_and_still_received() {
    let msg = CallerIdMessage::CallerId(full());
    let on_hook = spandsp_send(CidStandard::Bell202, &msg, Format::Mdmf);
    let mut tx = AdsiTx::new(CidStandard::Bell202).unwrap();
    tx.set_preamble(Preamble::OFF_HOOK);
    tx.send_alert_tone();
    tx.send(&msg, Format::Mdmf).unwrap();
    let off_hook = tx.render(80_000);
    // 400 bits fewer, plus the alert tone (110 ms, then 60 ms of silence).
    let saved = on_hook.len() as i64 - off_hook.len() as i64;
    assert!((saved - (400 * 8000 / 1200 - 170 * 8)).abs() < 40, "saved {saved} samples");
    assert_eq!(receive(CidStandard::Bell202, &line(&off_hook, 9), 160), vec![msg]);
}

#[test]
fn transmitter_refuses_mismatched_and_unencodable_messages() {
    let mut bell = AdsiTx::new(CidStandard::Bell202).unwrap();
    assert!(matches!(bell.send(&etsi(), Format::Etsi), Err(CidError::Mismatch { .. })));
    assert!(matches!(bell.send(&CallerIdMessage::CallerId(full()), Format::Sdmf), Err(CidError::Encode(_))));
    let mut v23 = AdsiTx::new(CidStandard::V23).unwrap();
    assert!(matches!(v23.send(&sdmf(), Format::Sdmf), Err(CidError::Mismatch { .. })));
    let mut dtmf = AdsiTx::new(CidStandard::Dtmf).unwrap();
    assert!(dtmf.send(&CallerIdMessage::MessageWaiting(true), Format::Etsi).is_err());
    assert!(dtmf.send_raw(b"A12X4C").is_err());
    assert!(matches!(bell.send_raw(&[0x80; 300]), Err(CidError::TooLong(300))));
    // A second message while the first is still going out.
    bell.send(&sdmf(), Format::Sdmf).unwrap();
    assert_eq!(bell.send(&sdmf(), Format::Sdmf), Err(CidError::Busy));
}

/// FSK of `bytes` with tandem-dsp's modulator (its own seizure and mark).
fn raw_fsk(standard: Standard, bytes: &[u8]) -> Vec<i16> {
    tandem_dsp::fsk::transmit(standard, bytes, -13.0)
}

#[test]
fn a_message_with_a_bad_checksum_is_never_reported() {
    let mut bytes = callerid::encode(&CallerIdMessage::CallerId(full()), Format::Mdmf).unwrap();
    *bytes.last_mut().unwrap() ^= 0x5A;
    let audio = line(&raw_fsk(Standard::Bell202, &bytes), 1);
    assert!(receive(CidStandard::Bell202, &audio, 160).is_empty());
    // The same with the right checksum is heard.
    *bytes.last_mut().unwrap() ^= 0x5A;
    let audio = line(&raw_fsk(Standard::Bell202, &bytes), 1);
    assert_eq!(receive(CidStandard::Bell202, &audio, 160).len(), 1);
}

#[test]
fn silence_and_noise_give_no_message() {
    for standard in [CidStandard::Bell202, CidStandard::V23, CidStandard::Dtmf] {
        let mut audio = vec![0i16; 80_000];
        add_noise(&mut audio, 3000.0, 5);
        assert!(receive(standard, &audio, 160).is_empty(), "{standard:?}");
    }
}

#[test]
fn receiver_and_transmitter_move_to_other_threads() {
    let rx = AdsiRx::new(CidStandard::V23).unwrap();
    let tx = AdsiTx::new(CidStandard::V23).unwrap();
    std::thread::spawn(move || {
        let (mut rx, mut tx) = (rx, tx);
        tx.send(&etsi(), Format::Etsi).unwrap();
        let audio = tx.render(80_000);
        assert_eq!(rx.process(&audio).len(), 1);
    })
    .join()
    .unwrap();
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    /// Arbitrary bytes after a proper preamble: no panic, and anything reported
    /// had a correct checksum (so came from a frame that was really valid).
    #[test]
    fn malformed_fsk_never_panics_or_passes_a_bad_checksum(
        body in proptest::collection::vec(any::<u8>(), 0..80),
        ty in prop_oneof![Just(0x04u8), Just(0x06), Just(0x80), Just(0x82), any::<u8>()],
        v23 in any::<bool>(),
        corrupt in any::<bool>(),
    ) {
        let mut bytes = vec![ty, body.len() as u8];
        bytes.extend_from_slice(&body);
        let cs = callerid::checksum(&bytes);
        bytes.push(if corrupt { cs.wrapping_add(1) } else { cs });
        let (standard, dsp) = if v23 { (CidStandard::V23, Standard::V23) } else { (CidStandard::Bell202, Standard::Bell202) };
        let got = receive(standard, &line(&raw_fsk(dsp, &bytes), 3), 160);
        if corrupt {
            prop_assert!(got.is_empty(), "bad checksum accepted: {got:?}");
        } else {
            // Whatever was reported is what tandem-dsp's decoder makes of the bytes.
            for m in got {
                prop_assert_eq!(Ok(m), callerid::decode(&bytes));
            }
        }
    }

    /// Arbitrary audio never panics any receiver.
    #[test]
    fn arbitrary_audio_never_panics(audio in proptest::collection::vec(any::<i16>(), 0..4000), chunk in 1usize..400) {
        for standard in [CidStandard::Bell202, CidStandard::V23, CidStandard::Dtmf] {
            let mut rx = AdsiRx::new(standard).unwrap();
            for c in audio.chunks(chunk) {
                rx.process_with(c, |_| {});
            }
        }
    }
}
