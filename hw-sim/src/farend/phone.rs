//! An analog telephone plugged into an FXS port.
//!
//! The phone hears ring voltage (the host's START hook signal while the phone
//! is on-hook), battery drops (KEWL), polarity and the message-waiting lamp.
//! It goes off- and on-hook, flashes, and dials DTMF (audio) or pulse (hook
//! breaks at 10 pulses per second, 60 % break, unless told otherwise). What the host sends is
//! recorded; an on-hook phone still hears the line, as a SLIC in forward
//! active idle passes audio, so on-hook caller ID can be captured.

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
}

/// A phone on an FXS port.
#[derive(Debug, Default)]
pub struct Phone {
    pub view: PhoneView,
    pub audio: AudioEnd,
    /// Scheduled hook changes: (time in ms, off-hook?).
    pub script: VecDeque<(u64, bool)>,
    last_polarity: bool,
}

impl Phone {
    pub fn new() -> Phone {
        Phone { view: PhoneView { battery: true, ..Default::default() }, ..Default::default() }
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
            self.audio.fill(rx);
        } else {
            rx.fill(0);
        }
    }
}
