//! Round trips between the spandsp wrappers and tandem-dsp's own generators
//! and detectors, in both directions, plus no-panic checks on arbitrary audio.

use proptest::prelude::*;
use tandem_dsp::dtmf::{DtmfConfig, DtmfDetector};
use tandem_dsp::mf::{R1Signal, R2_BACKWARD, R2_FORWARD, detect_codes, detect_r1, generate, generate_r1};
use tandem_dsp::{DigitEvent, Law};
use tandem_spandsp::{BellMfRx, BellMfTx, DtmfRx, DtmfRxConfig, DtmfTx, DtmfTxConfig, R2Direction, R2MfRx, R2MfTx};

const ALL_DTMF: &str = "0123456789*#ABCD";

/// Deterministic white noise of the given RMS.
fn add_noise(samples: &mut [i16], rms: f64, seed: u64) {
    let mut x = seed | 1;
    for s in samples {
        // Sum of 4 uniforms, scaled to unit variance (Irwin-Hall), times rms.
        let mut acc = 0.0;
        for _ in 0..4 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            acc += (x >> 11) as f64 / (1u64 << 53) as f64 - 0.5;
        }
        let n = acc * (12.0f64 / 4.0).sqrt() * rms;
        *s = (f64::from(*s) + n).clamp(-32768.0, 32767.0) as i16;
    }
}

fn through_law(samples: &[i16], law: Law) -> Vec<i16> {
    law.decode_vec(&law.encode_vec(samples))
}

fn dtmf_events(samples: &[i16], chunk: usize) -> Vec<DigitEvent> {
    let mut rx = DtmfRx::new(&DtmfRxConfig::default()).unwrap();
    let mut events = Vec::new();
    for c in samples.chunks(chunk) {
        rx.process(c, &mut events);
    }
    rx.finish_with(|e| events.push(e));
    events
}

fn downs(events: &[DigitEvent]) -> String {
    events.iter().filter(|e| e.is_down()).map(|e| e.digit()).collect()
}

#[test]
fn spandsp_hears_all_16_tandem_dsp_digits_through_ulaw_with_noise() {
    let cfg = DtmfConfig { on_ms: 60, off_ms: 60, ..Default::default() };
    let mut audio = tandem_dsp::dtmf::generate(ALL_DTMF, &cfg).unwrap();
    // About −40 dBm0 of noise (≈ 30 dB below the tones).
    add_noise(&mut audio, 80.0, 7);
    let audio = through_law(&audio, Law::Mulaw);
    for chunk in [1, 80, 160, 1000, audio.len()] {
        let events = dtmf_events(&audio, chunk);
        assert_eq!(downs(&events), ALL_DTMF, "chunk {chunk}");
    }
}

#[test]
fn digit_events_pair_up_with_the_tone_duration_and_position() {
    let cfg = DtmfConfig { on_ms: 120, off_ms: 200, ..Default::default() };
    let audio = tandem_dsp::dtmf::generate("159", &cfg).unwrap();
    let events = dtmf_events(&audio, 160);
    assert_eq!(events.len(), 6, "{events:?}");
    let period = 8 * (120 + 200);
    for (i, pair) in events.chunks(2).enumerate() {
        let (DigitEvent::DigitDown { digit: d, at: start }, DigitEvent::DigitUp { digit: u, at: end }) = (pair[0], pair[1]) else {
            panic!("not a down/up pair: {pair:?}");
        };
        assert_eq!(d, u);
        assert_eq!(d, "159".chars().nth(i).unwrap());
        // Within one analysis block (102 samples) of the truth.
        let true_start = (i * period) as i64;
        assert!((start as i64 - true_start).abs() <= 102, "digit {d} starts at {start}, expected {true_start}");
        // Both ends are quantised to blocks, so the duration is within two.
        let duration = end as i64 - start as i64;
        assert!((duration - 960).abs() <= 2 * 102, "digit {d} lasted {duration} samples, expected 960");
    }
}

#[test]
fn starting_at_offsets_every_position() {
    let audio = tandem_dsp::dtmf::generate("7", &DtmfConfig::default()).unwrap();
    let mut plain = DtmfRx::new(&DtmfRxConfig::default()).unwrap();
    let mut shifted = DtmfRx::new(&DtmfRxConfig::default()).unwrap().starting_at(10_000);
    let (mut a, mut b) = (Vec::new(), Vec::new());
    plain.process(&audio, &mut a);
    shifted.process(&audio, &mut b);
    assert!(!a.is_empty());
    assert_eq!(a.len(), b.len());
    for (x, y) in a.iter().zip(&b) {
        assert_eq!(x.at() + 10_000, y.at());
    }
    assert_eq!(shifted.position(), plain.position() + 10_000);
}

#[test]
fn back_to_back_digits_without_a_gap_end_the_first_before_the_second() {
    let cfg = DtmfConfig { on_ms: 100, off_ms: 0, ..Default::default() };
    let audio = tandem_dsp::dtmf::generate("12", &cfg).unwrap();
    let events = dtmf_events(&audio, 160);
    let kinds: Vec<(bool, char)> = events.iter().map(|e| (e.is_down(), e.digit())).collect();
    assert_eq!(kinds, vec![(true, '1'), (false, '1'), (true, '2'), (false, '2')]);
}

#[test]
fn noise_and_silence_give_no_digits() {
    let mut audio = vec![0i16; 8000 * 3];
    add_noise(&mut audio[8000..], 3000.0, 99);
    assert!(dtmf_events(&audio, 160).is_empty());
}

#[test]
fn a_tone_below_the_threshold_is_ignored_and_a_lower_threshold_hears_it() {
    let cfg = DtmfConfig { low_level_dbm0: -40.0, high_level_dbm0: -40.0, ..Default::default() };
    let audio = tandem_dsp::dtmf::generate("5", &cfg).unwrap();
    let mut strict = DtmfRx::new(&DtmfRxConfig { threshold_dbm0: -30.0, ..Default::default() }).unwrap();
    let mut ev = Vec::new();
    strict.process(&audio, &mut ev);
    assert!(ev.is_empty(), "{ev:?}");
    let mut lax = DtmfRx::new(&DtmfRxConfig::default()).unwrap();
    lax.process(&audio, &mut ev);
    assert_eq!(downs(&ev), "5");
}

#[test]
fn reverse_twist_limit_is_configurable() {
    // High group 6 dB above the low group: beyond spandsp's default 4 dB.
    let cfg = DtmfConfig { low_level_dbm0: -16.0, high_level_dbm0: -10.0, ..Default::default() };
    let audio = tandem_dsp::dtmf::generate("8", &cfg).unwrap();
    assert_eq!(downs(&dtmf_events(&audio, 160)), "");
    let mut rx = DtmfRx::new(&DtmfRxConfig { max_high_above_low_db: 8.0, ..Default::default() }).unwrap();
    let mut ev = Vec::new();
    rx.process(&audio, &mut ev);
    assert_eq!(downs(&ev), "8");
}

#[test]
fn tandem_dsp_hears_all_16_spandsp_digits_and_so_does_spandsp() {
    let mut tx = DtmfTx::new(&DtmfTxConfig { on_ms: 70, off_ms: 70, ..Default::default() }).unwrap();
    tx.put(ALL_DTMF).unwrap();
    let mut audio = vec![0i16; 16 * 8 * 140 + 800];
    let n = tx.generate(&mut audio);
    assert_eq!(n, 16 * 8 * 140, "generated samples");
    assert!(audio[n..].iter().all(|&s| s == 0));
    let mut noisy = audio.clone();
    add_noise(&mut noisy, 80.0, 3);
    let noisy = through_law(&noisy, Law::Alaw);
    assert_eq!(tandem_dsp::dtmf::detect_digits(&noisy), ALL_DTMF);
    assert_eq!(downs(&dtmf_events(&noisy, 160)), ALL_DTMF);
}

#[test]
fn dtmf_generator_rejects_bad_digits_and_overfull_queues_whole() {
    let mut tx = DtmfTx::new(&DtmfTxConfig::default()).unwrap();
    assert!(tx.put("12x").is_err());
    assert!(tx.put(&"1".repeat(129)).is_err());
    // Nothing was queued by the failures.
    let mut buf = [1i16; 160];
    assert_eq!(tx.generate(&mut buf), 0);
    assert!(buf.iter().all(|&s| s == 0));
    tx.put("").unwrap();
    tx.put(&"1".repeat(128)).unwrap();
    assert!(tx.put("2").is_err());
}

#[test]
fn dtmf_generator_level_is_what_was_asked() {
    let mut tx = DtmfTx::new(&DtmfTxConfig { low_level_dbm0: -20, twist_db: 0, on_ms: 200, off_ms: 0 }).unwrap();
    tx.put("1").unwrap();
    let mut buf = vec![0i16; 1600];
    tx.generate(&mut buf);
    // Two tones at −20 dBm0 each: −17 dBm0 total.
    let level = tandem_dsp::goertzel::level_dbm0(&buf[200..1400]);
    assert!((level + 17.0).abs() < 1.0, "level {level}");
}

fn r1_sequence() -> Vec<R1Signal> {
    let mut v = vec![R1Signal::Kp];
    v.extend((0..=9).map(R1Signal::Digit));
    v.extend([R1Signal::St, R1Signal::StPrime, R1Signal::St2Prime, R1Signal::St3Prime]);
    v
}

#[test]
fn spandsp_hears_tandem_dsp_bell_mf_kp_digits_and_st_through_ulaw() {
    let seq = r1_sequence();
    let mut audio = generate_r1(&seq).unwrap();
    add_noise(&mut audio, 60.0, 11);
    let audio = through_law(&audio, Law::Mulaw);
    for chunk in [1, 160, audio.len()] {
        let mut rx = BellMfRx::new().unwrap();
        let mut got = Vec::new();
        for c in audio.chunks(chunk) {
            rx.process(c, &mut got);
        }
        assert_eq!(got, seq, "chunk {chunk}");
    }
}

#[test]
fn tandem_dsp_hears_spandsp_bell_mf() {
    let seq = r1_sequence();
    let mut tx = BellMfTx::new().unwrap();
    tx.put(&seq).unwrap();
    let mut audio = vec![0i16; 8000 * 3];
    let n = tx.generate(&mut audio);
    // KP 100 ms, the rest 68 ms, each followed by 68 ms.
    assert_eq!(n, 8 * (100 + 68 + (seq.len() - 1) * (68 + 68)));
    let audio = through_law(&audio, Law::Mulaw);
    assert_eq!(detect_r1(&audio), seq);
    let mut rx = BellMfRx::new().unwrap();
    let mut got = Vec::new();
    rx.process(&audio, &mut got);
    assert_eq!(got, seq);
}

#[test]
fn bell_mf_generator_rejects_a_non_digit() {
    let mut tx = BellMfTx::new().unwrap();
    assert!(tx.put(&[R1Signal::Kp, R1Signal::Digit(12)]).is_err());
    let mut buf = [0i16; 160];
    assert_eq!(tx.generate(&mut buf), 0);
}

fn r2_round_trip_from_tandem_dsp(direction: R2Direction) {
    let set = if direction == R2Direction::Forward { R2_FORWARD } else { R2_BACKWARD };
    let codes: Vec<u8> = (1..=15).collect();
    let mut audio = generate(&set, &codes).unwrap();
    add_noise(&mut audio, 60.0, 5);
    let audio = through_law(&audio, Law::Alaw);
    let mut rx = R2MfRx::new(direction).unwrap();
    let mut events = Vec::new();
    for c in audio.chunks(160) {
        rx.process(c, &mut events);
    }
    let got: Vec<u8> = events.iter().filter(|e| e.is_down()).map(|e| e.digit()).collect();
    assert_eq!(got, codes, "{direction:?}");
    // Starts are 200 ms apart (100 on, 100 off), each within one block of the truth.
    for (i, e) in events.iter().filter(|e| e.is_down()).enumerate() {
        let truth = (i * 1600) as i64;
        assert!((e.at() as i64 - truth).abs() <= 133, "{direction:?} signal {} at {}, expected {truth}", e.digit(), e.at());
    }
    // The other direction's receiver hears none of them.
    let other = if direction == R2Direction::Forward { R2Direction::Backward } else { R2Direction::Forward };
    let mut rx = R2MfRx::new(other).unwrap();
    let mut events = Vec::new();
    rx.process(&audio, &mut events);
    assert!(events.is_empty(), "{other:?} heard {events:?}");
}

#[test]
fn spandsp_hears_tandem_dsp_r2_forward_signals() {
    r2_round_trip_from_tandem_dsp(R2Direction::Forward);
}

#[test]
fn spandsp_hears_tandem_dsp_r2_backward_signals() {
    r2_round_trip_from_tandem_dsp(R2Direction::Backward);
}

fn r2_round_trip_from_spandsp(direction: R2Direction) {
    let set = if direction == R2Direction::Forward { R2_FORWARD } else { R2_BACKWARD };
    let mut tx = R2MfTx::new(direction).unwrap();
    let mut audio = Vec::new();
    let mut block = vec![0i16; 800];
    for code in 1..=15u8 {
        tx.set(Some(code)).unwrap();
        assert_eq!(tx.current(), Some(code));
        tx.generate(&mut block);
        audio.extend_from_slice(&block);
        tx.set(None).unwrap();
        tx.generate(&mut block);
        assert!(block.iter().all(|&s| s == 0), "silence after set(None)");
        audio.extend_from_slice(&block);
    }
    let audio = through_law(&audio, Law::Mulaw);
    let codes: Vec<u8> = (1..=15).collect();
    assert_eq!(detect_codes(&set, &audio), codes, "tandem-dsp, {direction:?}");
    let mut rx = R2MfRx::new(direction).unwrap();
    let mut events = Vec::new();
    rx.process(&audio, &mut events);
    let kinds: Vec<(bool, u8)> = events.iter().map(|e| (e.is_down(), e.digit())).collect();
    let expected: Vec<(bool, u8)> = codes.iter().flat_map(|&c| [(true, c), (false, c)]).collect();
    assert_eq!(kinds, expected, "spandsp, {direction:?}");
}

#[test]
fn tandem_dsp_hears_spandsp_r2_forward_signals() {
    r2_round_trip_from_spandsp(R2Direction::Forward);
}

#[test]
fn tandem_dsp_hears_spandsp_r2_backward_signals() {
    r2_round_trip_from_spandsp(R2Direction::Backward);
}

#[test]
fn r2_generator_rejects_codes_outside_1_to_15() {
    let mut tx = R2MfTx::new(R2Direction::Forward).unwrap();
    assert!(tx.set(Some(0)).is_err());
    assert!(tx.set(Some(16)).is_err());
    assert_eq!(tx.current(), None);
}

#[test]
fn wrappers_move_to_other_threads() {
    fn assert_send<T: Send>() {}
    assert_send::<DtmfRx>();
    assert_send::<DtmfTx>();
    assert_send::<BellMfRx>();
    assert_send::<BellMfTx>();
    assert_send::<R2MfRx>();
    assert_send::<R2MfTx>();
    // Created concurrently on several threads (spandsp builds shared tables on first init).
    let audio = tandem_dsp::dtmf::generate("42", &DtmfConfig::default()).unwrap();
    let handles: Vec<_> = (0..4)
        .map(|_| {
            let audio = audio.clone();
            std::thread::spawn(move || {
                let mut ev = Vec::new();
                DtmfRx::new(&DtmfRxConfig::default()).unwrap().process(&audio, &mut ev);
                let mut mf = Vec::new();
                BellMfRx::new().unwrap().process(&generate_r1(&[R1Signal::Kp]).unwrap(), &mut mf);
                (downs(&ev), mf)
            })
        })
        .collect();
    for h in handles {
        assert_eq!(h.join().unwrap(), ("42".to_string(), vec![R1Signal::Kp]));
    }
    // And a detector built here keeps working on another thread.
    let mut rx = DtmfRx::new(&DtmfRxConfig::default()).unwrap();
    let got = std::thread::spawn(move || {
        let mut ev = Vec::new();
        rx.process(&audio, &mut ev);
        downs(&ev)
    })
    .join()
    .unwrap();
    assert_eq!(got, "42");
}

#[test]
fn spandsp_and_tandem_dsp_agree_on_where_a_digit_starts() {
    let cfg = DtmfConfig { on_ms: 80, off_ms: 80, ..Default::default() };
    let mut audio = vec![0i16; 1234];
    audio.extend(tandem_dsp::dtmf::generate("3", &cfg).unwrap());
    let ours = dtmf_events(&audio, 160);
    let mut theirs = Vec::new();
    let mut d = DtmfDetector::new();
    d.process(&audio, &mut theirs);
    assert_eq!(ours.len(), 2);
    assert_eq!(theirs.len(), 2);
    for (a, b) in ours.iter().zip(&theirs) {
        assert_eq!(a.digit(), b.digit());
        assert!((a.at() as i64 - b.at() as i64).abs() <= 2 * 102, "spandsp {a:?} vs tandem-dsp {b:?}");
    }
}

/// Down and up alternate, match, and never go backwards.
fn well_formed<S: Copy + PartialEq + std::fmt::Debug>(events: &[DigitEvent<S>]) -> bool {
    let mut down: Option<S> = None;
    let mut last = 0;
    for e in events {
        if e.at() < last {
            return false;
        }
        last = e.at();
        match (*e, down) {
            (DigitEvent::DigitDown { digit, .. }, None) => down = Some(digit),
            (DigitEvent::DigitUp { digit, .. }, Some(d)) if d == digit => down = None,
            _ => return false,
        }
    }
    true
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_samples_never_panic_and_events_stay_well_formed(
        samples in proptest::collection::vec(any::<i16>(), 0..6000),
        chunk in 1usize..700,
        tone in proptest::option::of(0usize..16),
    ) {
        let mut samples = samples;
        if let Some(i) = tone {
            // Mix a real digit into the noise so the event paths run too.
            let d = ALL_DTMF.chars().nth(i).unwrap();
            let t = tandem_dsp::dtmf::generate(&d.to_string(), &DtmfConfig::default()).unwrap();
            for (s, x) in samples.iter_mut().zip(t) {
                *s = s.saturating_add(x) / 8;
            }
        }
        let mut rx = DtmfRx::new(&DtmfRxConfig::default()).unwrap();
        let mut ev = Vec::new();
        for c in samples.chunks(chunk) {
            rx.process(c, &mut ev);
        }
        rx.finish_with(|e| ev.push(e));
        prop_assert!(well_formed(&ev), "{:?}", ev);
        prop_assert!(ev.iter().all(|e| ALL_DTMF.contains(e.digit())));

        let mut mf = BellMfRx::new().unwrap();
        let mut sig = Vec::new();
        for c in samples.chunks(chunk) {
            mf.process(c, &mut sig);
        }
        for dir in [R2Direction::Forward, R2Direction::Backward] {
            let mut r2 = R2MfRx::new(dir).unwrap();
            let mut ev = Vec::new();
            for c in samples.chunks(chunk) {
                r2.process(c, &mut ev);
            }
            prop_assert!(well_formed(&ev), "{:?}", ev);
            prop_assert!(ev.iter().all(|e| (1..=15).contains(&e.digit())));
            prop_assert_eq!(r2.position(), samples.len() as u64);
        }
    }

    #[test]
    fn generators_never_panic_on_any_buffer_size(len in 0usize..3000, digits in "[0-9*#A-D]{0,20}", code in 0u8..20) {
        let mut tx = DtmfTx::new(&DtmfTxConfig::default()).unwrap();
        tx.put(&digits).unwrap();
        let mut buf = vec![0i16; len];
        prop_assert!(tx.generate(&mut buf) <= len);
        let mut r2 = R2MfTx::new(R2Direction::Backward).unwrap();
        let _ = r2.set(Some(code));
        r2.generate(&mut buf);
        let mut mf = BellMfTx::new().unwrap();
        mf.put(&[R1Signal::Kp, R1Signal::Digit(code % 10), R1Signal::St]).unwrap();
        prop_assert!(mf.generate(&mut buf) <= len);
    }
}

mod progress {
    use tandem_dsp::DigitEvent;
    use tandem_dsp::tone::{Cadence, ToneSpec};
    use tandem_spandsp::{CadenceStep, ProgressToneRx};

    /// North American dial tone, busy (0.5 s on/off) and reorder (0.25 s on/off).
    const DIAL: &[CadenceStep] = &[CadenceStep::tone(350, 440, 400, 0)];
    const BUSY: &[CadenceStep] = &[CadenceStep::tone(480, 620, 450, 550), CadenceStep::silence(450, 550)];
    const REORDER: &[CadenceStep] = &[CadenceStep::tone(480, 620, 200, 300), CadenceStep::silence(200, 300)];

    fn heard(audio: &[i16]) -> Vec<DigitEvent<usize>> {
        let mut rx = ProgressToneRx::new(&[DIAL, BUSY, REORDER]).unwrap();
        let mut ev = Vec::new();
        for c in audio.chunks(160) {
            rx.process(c, &mut ev);
        }
        assert_eq!(rx.position(), audio.len() as u64);
        ev
    }

    fn downs(ev: &[DigitEvent<usize>]) -> Vec<usize> {
        ev.iter().filter(|e| e.is_down()).map(|e| e.digit()).collect()
    }

    #[test]
    fn busy_reorder_and_dial_tone_from_tandem_dsp_are_told_apart() {
        let busy = ToneSpec::dual(480.0, 620.0, -24.0, Cadence::repeating(&[(500, 500)])).render(8000 * 4);
        assert_eq!(downs(&heard(&busy)), vec![1]);
        let reorder = ToneSpec::dual(480.0, 620.0, -24.0, Cadence::repeating(&[(250, 250)])).render(8000 * 3);
        assert_eq!(downs(&heard(&reorder)), vec![2]);
        let dial = ToneSpec::dual(350.0, 440.0, -17.0, Cadence::CONTINUOUS).render(8000 * 2);
        assert_eq!(downs(&heard(&dial)), vec![0]);
    }

    #[test]
    fn a_tone_ends_when_its_cadence_stops() {
        let mut audio = ToneSpec::dual(350.0, 440.0, -17.0, Cadence::CONTINUOUS).render(8000 * 2);
        audio.extend(vec![0i16; 8000 * 2]);
        let ev = heard(&audio);
        assert_eq!(ev.len(), 2, "{ev:?}");
        assert!(ev[0].is_down() && !ev[1].is_down());
        // The end is recognised after the tone stops at 2 s, within about half a second.
        assert!((16_000..=20_000).contains(&ev[1].at()), "{ev:?}");
    }

    #[test]
    fn silence_and_speech_band_noise_are_no_progress_tone() {
        let mut audio = vec![0i16; 8000 * 3];
        let mut x = 12345u64;
        for s in &mut audio[8000..] {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            *s = (x >> 52) as i16 - 2048;
        }
        assert!(heard(&audio).is_empty());
    }

    #[test]
    fn bad_cadences_are_rejected() {
        assert!(ProgressToneRx::new(&[&[]]).is_err());
        assert!(ProgressToneRx::new(&[&[CadenceStep::tone(4000, 0, 100, 0)]]).is_err());
        let long = [CadenceStep::silence(100, 200); 5];
        assert!(ProgressToneRx::new(&[&long]).is_err());
        let many: Vec<[CadenceStep; 1]> = (0..40u16).map(|i| [CadenceStep::tone(300 + 50 * i, 0, 100, 0)]).collect();
        let refs: Vec<&[CadenceStep]> = many.iter().map(|a| &a[..]).collect();
        assert!(ProgressToneRx::new(&refs).is_err());
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig { cases: 32, ..Default::default() })]
        #[test]
        fn arbitrary_samples_never_panic_the_progress_detector(samples in proptest::collection::vec(proptest::prelude::any::<i16>(), 0..8000), chunk in 1usize..600) {
            let mut rx = ProgressToneRx::new(&[DIAL, BUSY, REORDER]).unwrap();
            let mut ev = Vec::new();
            for c in samples.chunks(chunk) {
                rx.process(c, &mut ev);
            }
            proptest::prop_assert!(ev.iter().all(|e| e.digit() < 3));
        }
    }
}
