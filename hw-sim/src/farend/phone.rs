//! An analog telephone plugged into an FXS port.
//!
//! The phone hears ring voltage (the host's START hook signal while the phone
//! is on-hook), battery drops (KEWL), polarity and the message-waiting lamp.
//! It goes off- and on-hook, flashes, and dials DTMF (audio) or pulse (hook
//! breaks at 10 pulses per second, 60 % break, unless told otherwise). What the host sends is
//! recorded; an on-hook phone still hears the line, as a SLIC in forward
//! active idle passes audio, so on-hook caller ID can be captured.
//!
//! Off-hook, the phone is a type II (caller ID on call waiting) set: when it
//! hears the CPE alerting signal (GR-30 CAS, 2130 + 2750 Hz, at least 40 ms)
//! it counts it and, unless `cidcw_ack` is off, answers with DTMF `D`
//! (60 ms, starting 20 ms after the CAS ends), then demodulates the Bell 202
//! FSK that follows for 2 s and keeps the number and name it carried.

use std::collections::VecDeque;

use super::{AudioEnd, PortIn, Signal, Source};
use crate::model::k::*;

/// Pulse dialing timing: 10 pps with 60 ms break and 40 ms make, 700 ms between digits.
const PULSE_BREAK_MS: u64 = 60;
const PULSE_MAKE_MS: u64 = 40;
const INTERDIGIT_MS: u64 = 700;

/// What the phone observed on its line, for tests to read.
#[derive(Clone, Debug, Default, serde::Serialize)]
pub struct PhoneView {
    pub offhook: bool,
    pub ringing: bool,
    pub rings: u32,
    pub battery: bool,
    pub polarity_reversed: bool,
    pub polarity_reversals: u32,
    pub mwi_lamp: bool,
    pub battery_drops: u32,
    /// CPE alerting signals (CAS) heard off-hook.
    pub cas_heard: u32,
    /// Whether the phone acknowledges a CAS (DTMF `D`). Default true.
    pub cidcw_ack: bool,
    /// ACKs sent.
    pub cidcw_acks: u32,
    /// The number of the last caller ID on call waiting received.
    pub cidcw_number: Option<String>,
    /// Its name.
    pub cidcw_name: Option<String>,
}

/// A phone on an FXS port.
#[derive(Debug, Default)]
pub struct Phone {
    pub view: PhoneView,
    pub audio: AudioEnd,
    /// Scheduled hook changes: (time in ms, off-hook?).
    pub script: VecDeque<(u64, bool)>,
    last_polarity: bool,
    cas: CasListener,
}

/// CAS: 10 ms blocks in which both tones carry most of the energy.
const CAS_BLOCK: usize = 80;
const CAS_HZ: [f32; 2] = [2130.0, 2750.0];
/// Blocks (10 ms) of CAS needed: 40 ms of the nominal 80.
const CAS_MIN_BLOCKS: u32 = 4;
/// Mean square below this (about -40 dBm0) is silence.
const CAS_MIN_POWER: f32 = 2.0e4;
/// The ACK: DTMF D for 60 ms, 20 ms after the CAS (GR-30: 55-65 ms within 100 ms).
const ACK_DELAY_MS: u64 = 20;
const ACK_MS: u32 = 60;
/// How long after the ACK the FSK is listened for.
const CIDCW_LISTEN_MS: u64 = 2000;

/// Listens for the CAS and, after an ACK, for the caller-ID FSK.
#[derive(Default)]
struct CasListener {
    block: Vec<i16>,
    run: u32,
    ack_at: Option<u64>,
    fsk: Option<(tandem_dsp::callerid::FskCallerIdReceiver, u64)>,
}

impl std::fmt::Debug for CasListener {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CasListener").field("run", &self.run).field("ack_at", &self.ack_at).finish()
    }
}

/// Whether a 10 ms block is CAS.
fn is_cas(block: &[i16]) -> bool {
    let ms = tandem_dsp::goertzel::mean_square(block);
    if ms < CAS_MIN_POWER {
        return false;
    }
    CAS_HZ.iter().all(|&f| tandem_dsp::goertzel::goertzel_power(block, f) > 0.25 * ms)
}

impl Phone {
    pub fn new() -> Phone {
        Phone { view: PhoneView { battery: true, cidcw_ack: true, ..Default::default() }, ..Default::default() }
    }

    pub fn set_hook(&mut self, now: u64, offhook: bool) {
        self.script.clear();
        self.script.push_back((now, offhook));
    }

    /// Flash: on-hook for `ms`, then off-hook again.
    pub fn flash(&mut self, now: u64, ms: u64) {
        self.script.push_back((now, false));
        self.script.push_back((now + ms, true));
    }

    /// Dial digits by pulses, starting now (the phone must be off-hook).
    pub fn dial_pulse(&mut self, now: u64, digits: &str) -> Result<(), String> {
        self.dial_pulse_timed(now, digits, PULSE_BREAK_MS, PULSE_MAKE_MS)
    }

    /// Dial digits by pulses with this break and make per pulse (ms), for
    /// dials at the edges of their tolerances (8–12 pps, 58–66 % break).
    pub fn dial_pulse_timed(&mut self, now: u64, digits: &str, break_ms: u64, make_ms: u64) -> Result<(), String> {
        let mut t = now;
        for c in digits.chars() {
            let n = match c {
                '1'..='9' => c as u64 - '0' as u64,
                '0' => 10,
                _ => return Err(format!("pulse dialing cannot send {c:?}; use 0-9")),
            };
            for _ in 0..n {
                self.script.push_back((t, false));
                t += break_ms;
                self.script.push_back((t, true));
                t += make_ms;
            }
            t += INTERDIGIT_MS;
        }
        Ok(())
    }

    /// Dial DTMF digits as audio.
    pub fn dial_dtmf(&mut self, digits: &str, on_ms: u32, off_ms: u32) -> Result<(), String> {
        let samples = crate::dsp::dtmf_samples(digits, on_ms, off_ms)?;
        self.audio.play(Source::samples(samples));
        Ok(())
    }

    /// CAS detection, the ACK, and caller ID on call waiting.
    fn listen_cidcw(&mut self, tx: &[i16], now: u64) {
        let l = &mut self.cas;
        if let Some((rx, until)) = l.fsk.as_mut() {
            if let Some(tandem_dsp::callerid::CallerIdMessage::CallerId(c)) = rx.process(tx) {
                self.view.cidcw_number = c.number;
                self.view.cidcw_name = c.name;
                l.fsk = None;
            } else if now >= *until {
                l.fsk = None;
            }
        }
        if l.ack_at.is_some_and(|t| now >= t) {
            l.ack_at = None;
            if let Ok(d) = crate::dsp::dtmf_samples("D", ACK_MS, 0) {
                self.audio.play(Source::samples(d));
                self.view.cidcw_acks += 1;
                l.fsk = Some((tandem_dsp::callerid::FskCallerIdReceiver::new(tandem_dsp::fsk::Standard::Bell202), now + CIDCW_LISTEN_MS));
            }
        }
        for &x in tx {
            l.block.push(x);
            if l.block.len() < CAS_BLOCK {
                continue;
            }
            if is_cas(&l.block) {
                l.run += 1;
            } else {
                if l.run >= CAS_MIN_BLOCKS {
                    self.view.cas_heard += 1;
                    if self.view.cidcw_ack {
                        l.ack_at = Some(now + ACK_DELAY_MS);
                    }
                }
                l.run = 0;
            }
            l.block.clear();
        }
    }

    /// One 1 ms tick.
    pub fn tick(&mut self, port: &PortIn<'_>, rx: &mut [i16], out: &mut Vec<Signal>) {
        while let Some(&(at, off)) = self.script.front() {
            if at > port.now_ms {
                break;
            }
            self.script.pop_front();
            if off != self.view.offhook {
                self.view.offhook = off;
                out.push(Signal::Hook(if off { RXSIG_OFFHOOK } else { RXSIG_ONHOOK }));
            }
        }
        let ringing = port.txhooksig == TXSIG_START && !self.view.offhook;
        if ringing && !self.view.ringing {
            self.view.rings += 1;
        }
        self.view.ringing = ringing;
        let battery = port.txhooksig != TXSIG_KEWL;
        if !battery && self.view.battery {
            self.view.battery_drops += 1;
        }
        self.view.battery = battery;
        if port.polarity != self.last_polarity {
            self.last_polarity = port.polarity;
            self.view.polarity_reversals += 1;
        }
        self.view.polarity_reversed = port.polarity;
        self.view.mwi_lamp = port.vmwi > 0;
        if !ringing {
            self.audio.recorder.push(port.tx);
        }
        if self.view.offhook {
            self.listen_cidcw(port.tx, port.now_ms);
        } else {
            self.cas = CasListener::default();
        }
        if self.view.offhook {
            self.audio.fill(rx);
        } else {
            rx.fill(0);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tandem_dsp::callerid::{self, CallerId, CallerIdMessage, Format};

    fn tone(freqs: &[f32], ms: usize) -> Vec<i16> {
        let mut osc: Vec<_> = freqs.iter().map(|&f| tandem_dsp::tone::Oscillator::new(f, -15.0)).collect();
        (0..ms * 8).map(|_| osc.iter_mut().map(|o| o.next_sample()).sum::<f32>().round() as i16).collect()
    }

    /// Plays `tx` to an off-hook phone 1 ms at a time from `t0`; returns what the phone sent back.
    fn run(p: &mut Phone, tx: &[i16], t0: u64) -> Vec<i16> {
        let mut back = Vec::new();
        for (k, chunk) in tx.chunks(8).enumerate() {
            let port = PortIn { tx: chunk, txhooksig: TXSIG_OFFHOOK, polarity: false, vmwi: 0, oht: false, now_ms: t0 + k as u64 };
            let mut rx = [0i16; 8];
            let mut out = Vec::new();
            p.tick(&port, &mut rx[..chunk.len()], &mut out);
            back.extend_from_slice(&rx[..chunk.len()]);
        }
        back
    }

    fn off_hook_phone() -> Phone {
        let mut p = Phone::new();
        p.set_hook(0, true);
        run(&mut p, &[0; 8], 0);
        assert!(p.view.offhook);
        p
    }

    fn cidcw_fsk(number: &str) -> Vec<i16> {
        let cid = CallerId { number: Some(number.into()), name: Some("BOB".into()), ..CallerId::default() };
        let bytes = callerid::encode(&CallerIdMessage::CallerId(cid), Format::Mdmf).expect("encodes");
        let mut m = tandem_dsp::fsk::FskModulator::new(tandem_dsp::fsk::Standard::Bell202.modem(), -13.0);
        let mut out = Vec::new();
        m.mark(96, &mut out);
        m.bytes(&bytes, &mut out);
        out
    }

    #[test]
    fn an_off_hook_phone_answers_the_cas_with_dtmf_d_and_keeps_the_caller_id_that_follows() {
        let mut p = off_hook_phone();
        let mut tx = vec![0i16; 8 * 50];
        tx.extend(tone(&CAS_HZ, 80));
        tx.extend(vec![0i16; 8 * 150]);
        let back = run(&mut p, &tx, 10);
        assert_eq!(p.view.cas_heard, 1);
        assert_eq!(p.view.cidcw_acks, 1);
        let mut rx = crate::dsp::DtmfRx::new();
        assert_eq!(rx.feed(&back), Some('D'), "no DTMF D came back after the CAS");
        run(&mut p, &cidcw_fsk("2125550177"), 400);
        run(&mut p, &[0; 800], 2000);
        assert_eq!(p.view.cidcw_number.as_deref(), Some("2125550177"));
        assert_eq!(p.view.cidcw_name.as_deref(), Some("BOB"));
    }

    #[test]
    fn without_cidcw_ack_the_cas_is_heard_but_not_answered_and_a_single_tone_is_no_cas() {
        let mut p = off_hook_phone();
        p.view.cidcw_ack = false;
        let mut tx = tone(&[440.0], 300);
        tx.extend(tone(&[2130.0], 80));
        tx.extend(vec![0i16; 8 * 20]);
        tx.extend(tone(&CAS_HZ, 80));
        tx.extend(vec![0i16; 8 * 150]);
        let back = run(&mut p, &tx, 10);
        assert_eq!(p.view.cas_heard, 1);
        assert_eq!(p.view.cidcw_acks, 0);
        assert!(back.iter().all(|&x| x == 0), "the phone sent audio without an ACK");
    }
}
