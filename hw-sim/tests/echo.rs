//! Line echo on analog ports (`line_echo` in the config) and the echo
//! canceller the host enables through DAHDI_ECHOCANCEL_PARAMS, measured on
//! the audio the host reads: the level of the 1 kHz tone the host writes,
//! as it comes back.

mod common;

use std::fs::File;
use std::time::Duration;

use common::*;
use tandem_dsp::goertzel::goertzel_power;

const CONFIG: &str = r#"
[sim]
line_echo = { delay_ms = 8, erl_db = 12, erle_db = 30, converge_ms = 250 }

[[card]]
model = "tdm410p"
ports = ["fxs", "fxo"]
"#;

const BLOCK: usize = 160;
const AMPLITUDE: f32 = 8000.0;

/// Keeps writing a 1 kHz tone and reads `blocks` blocks back, one write per
/// read. Returns the audio read and the events that interrupted reads.
fn tone_exchange(ch: &File, blocks: usize, phase: &mut usize) -> (Vec<i16>, Vec<i32>) {
    let mut got = Vec::new();
    let mut events = Vec::new();
    let mut n = 0;
    // Bounded: every read waits at most 2 s, and at most 2 × blocks reads happen.
    for _ in 0..blocks * 2 {
        if n == blocks {
            break;
        }
        match read_block(ch, BLOCK, Duration::from_secs(2)) {
            Ok(b) => {
                got.extend(mulaw_decode(&b));
                n += 1;
                let tone = mulaw_tone(1000.0, AMPLITUDE, BLOCK, *phase);
                *phase += BLOCK;
                write_block(ch, &tone, Duration::from_secs(2)).expect("write tone");
            }
            Err(ELAST) => events.push(getevent(ch)),
            Err(e) => panic!("read: {}", Errno::from_raw(e)),
        }
    }
    assert_eq!(n, blocks, "read {n} of {blocks} blocks");
    (got, events)
}

/// Level of the 1 kHz component of `rx` relative to the tone written, dB.
fn echo_level_db(rx: &[i16]) -> f64 {
    let tone = (AMPLITUDE as f64).powi(2) / 2.0;
    10.0 * (goertzel_power(rx, 1000.0) as f64 / tone).log10()
}

fn echocancel_params(ch: &File, taps: u32) -> std::io::Result<()> {
    use std::os::fd::AsRawFd;
    let hdr: [u32; 2] = [taps, 0];
    // SAFETY: the request copies in the 8-byte header from a valid pointer.
    let r = unsafe { libc::ioctl(ch.as_raw_fd(), rq::DAHDI_ECHOCANCEL_PARAMS as _, hdr.as_ptr()) };
    if r < 0 { Err(std::io::Error::last_os_error()) } else { Ok(()) }
}

fn fax_mode(ch: &File, on: bool) -> std::io::Result<()> {
    use std::os::fd::AsRawFd;
    let v: i32 = on.into();
    // SAFETY: the request copies in one int.
    let r = unsafe { libc::ioctl(ch.as_raw_fd(), rq::DAHDI_ECHOCANCEL_FAX_MODE as _, &v) };
    if r < 0 { Err(std::io::Error::last_os_error()) } else { Ok(()) }
}

/// Configures both ports, takes the FXS phone off-hook and opens `chan/001/pos`
/// with 160-byte blocks.
fn setup(pos: u32) -> (Sim, File) {
    let sim = Sim::start(CONFIG);
    let ctl = sim.ctl();
    chanconfig(&ctl, 1, d::DAHDI_SIG_FXOKS);
    chanconfig(&ctl, 2, d::DAHDI_SIG_FXSKS);
    let ch = sim.open_chan(1, pos);
    set_blocksize(&ch, BLOCK as i32).expect("SET_BLOCKSIZE");
    if pos == 1 {
        call(&mut sim.client(), "phone.hook", json!({"chan": 1, "offhook": true}));
    } else {
        hook(&ch, d::DAHDI_OFFHOOK).expect("off-hook");
    }
    drain_events(&ch);
    (sim, ch)
}

#[test]
fn fxs_echo_is_heard_at_the_erl_and_a_converged_canceller_removes_it_until_fax_mode() {
    let (sim, ch) = setup(1);
    let mut phase = 0;
    tone_exchange(&ch, 5, &mut phase);

    // Canceller off: the tone comes back 12 dB down.
    let (rx, _) = tone_exchange(&ch, 10, &mut phase);
    let off = echo_level_db(&rx);
    assert!((off + 12.0).abs() < 1.5, "echo at {off:.1} dB, expected -12 dB (erl_db)");

    // 128 taps cover the 64-sample echo; after convergence it is ≥ 25 dB lower.
    echocancel_params(&ch, 128).expect("ECHOCANCEL_PARAMS 128");
    tone_exchange(&ch, 20, &mut phase);
    let (rx, _) = tone_exchange(&ch, 10, &mut phase);
    let on = echo_level_db(&rx);
    assert!(off - on >= 25.0, "canceller on: echo at {on:.1} dB, only {:.1} dB below {off:.1} dB", off - on);
    let got = call(&mut sim.client(), "chan.get", json!({"chan": 1}));
    assert_eq!(got["echocan"]["taps"], 128, "{got}");
    assert_eq!(got["echocan"]["cancelling"], true, "{got}");
    assert_eq!(got["line_echo"]["delay_ms"], 8, "{got}");

    // Fax mode frees the canceller (EC_DISABLED): the echo is back.
    fax_mode(&ch, true).expect("ECHOCANCEL_FAX_MODE 1");
    let (_, events) = tone_exchange(&ch, 3, &mut phase);
    assert!(events.contains(&(d::DAHDI_EVENT_EC_DISABLED as i32)), "events {events:?}");
    let (rx, _) = tone_exchange(&ch, 10, &mut phase);
    let fax = echo_level_db(&rx);
    assert!((fax + 12.0).abs() < 1.5, "fax mode: echo at {fax:.1} dB, expected -12 dB");
    let got = call(&mut sim.client(), "chan.get", json!({"chan": 1}));
    assert_eq!(got["echocan"]["fax_mode"], true, "{got}");
    assert_eq!(got["echocan"]["taps"], 0, "{got}");
    // With no canceller left, fax mode is refused as DAHDI refuses it.
    assert_eq!(fax_mode(&ch, false).map_err(|e| e.raw_os_error()), Err(Some(libc::EINVAL)));
}

#[test]
fn fxo_echo_is_not_cancelled_by_a_tail_shorter_than_the_delay() {
    let (_sim, ch) = setup(2);
    let mut phase = 0;
    tone_exchange(&ch, 5, &mut phase);
    let (rx, _) = tone_exchange(&ch, 10, &mut phase);
    let off = echo_level_db(&rx);
    assert!((off + 12.0).abs() < 1.5, "FXO echo at {off:.1} dB, expected -12 dB");

    // 64 taps end where the echo (64 samples late) begins.
    echocancel_params(&ch, 64).expect("ECHOCANCEL_PARAMS 64");
    tone_exchange(&ch, 20, &mut phase);
    let (rx, _) = tone_exchange(&ch, 10, &mut phase);
    let short = echo_level_db(&rx);
    assert!((short + 12.0).abs() < 1.5, "64 taps: echo at {short:.1} dB, expected it unchanged");

    // Switching the canceller off (taps 0) is always accepted.
    echocancel_params(&ch, 0).expect("ECHOCANCEL_PARAMS 0");
}

#[test]
fn ports_without_line_echo_return_none() {
    let sim = Sim::start("[[card]]\nmodel = \"tdm410p\"\nports = [\"fxs\"]\n");
    chanconfig(&sim.ctl(), 1, d::DAHDI_SIG_FXOKS);
    let ch = sim.open_chan(1, 1);
    set_blocksize(&ch, BLOCK as i32).expect("SET_BLOCKSIZE");
    call(&mut sim.client(), "phone.hook", json!({"chan": 1, "offhook": true}));
    drain_events(&ch);
    let mut phase = 0;
    tone_exchange(&ch, 5, &mut phase);
    let (rx, _) = tone_exchange(&ch, 10, &mut phase);
    assert!(echo_level_db(&rx) < -60.0, "echo at {:.1} dB without line_echo", echo_level_db(&rx));
    let got = call(&mut sim.client(), "chan.get", json!({"chan": 1}));
    assert!(got["line_echo"].is_null(), "{got}");
}
