//! A central-office line on an FXO port.
//!
//! The CO rings with a cadence, sends caller ID before the first ring or
//! between the first and second rings, drops or restores battery, reverses
//! polarity, gives dial tone when the host seizes the line, and collects the
//! digits the host dials (DTMF heard in the audio, pulses counted from loop
//! breaks). Detection delays model an FXO module's debouncing (wctdm24xxp):
//! ring is reported after it has been present for 32 ms, its end after 64 ms,
//! polarity after 64 ms, battery loss after 16 ms and a red channel alarm
//! after 1 s without battery.

use std::collections::VecDeque;

use super::{AudioEnd, PortIn, Signal, Source};
use crate::model::k::*;

const RING_DETECT_MS: u64 = 32;
const RING_OFF_DEBOUNCE_MS: u64 = 64;
const POLARITY_DEBOUNCE_MS: u64 = 64;
const BATTERY_DEBOUNCE_MS: u64 = 16;
const BATTERY_ALARM_MS: u64 = 1000;

/// When caller ID is sent relative to the ringing.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CidTiming {
    /// Bell/Telcordia: in the silence after the first ring (500 ms after it ends).
    AfterFirstRing,
    /// ETSI: a polarity reversal, then the data, then the first ring.
    BeforeFirstRing,
    /// ETSI DTMF style: the data before the first ring without a reversal.
    BeforeFirstRingNoReversal,
}

/// A ringing plan started by the `co.ring` command.
#[derive(Clone, Debug)]
struct Ringing {
    cadence: Vec<(u64, u64)>,
    cycles_left: Option<u32>,
    start_ms: u64,
    cid: Option<(CidTiming, Vec<i16>)>,
    /// Ring voltage is only applied once the pre-ring caller ID has played.
    ring_start_ms: u64,
    rings_done: u32,
}

/// What the CO observed, for tests to read.
#[derive(Clone, Debug, Default, serde::Serialize)]
pub struct CoView {
    /// The host closed the loop (off-hook).
    pub loop_closed: bool,
    pub ringing: bool,
    pub rings: u32,
    pub battery: bool,
    pub polarity_reversed: bool,
    /// The host answered a ringing call.
    pub answered: bool,
    /// Digits the host dialled since it last seized the line.
    pub digits: String,
    pub seizures: u32,
    pub flashes: u32,
}

/// A CO line on an FXO port.
#[derive(Debug)]
pub struct CoLine {
    pub view: CoView,
    pub audio: AudioEnd,
    /// Give dial tone when the host seizes the line.
    pub dial_tone: bool,
    ringing: Option<Ringing>,
    ring_voltage: bool,
    ring_changed_ms: u64,
    reported_ring: bool,
    polarity_changed_ms: Option<u64>,
    battery_changed_ms: Option<u64>,
    battery_alarm: bool,
    loop_changed_ms: u64,
    pulses: u32,
    dtmf: crate::dsp::DtmfRx,
    giving_dial_tone: bool,
    pending_cid: VecDeque<i16>,
}

impl Default for CoLine {
    fn default() -> Self {
        CoLine::new()
    }
}

impl CoLine {
    pub fn new() -> CoLine {
        CoLine {
            view: CoView { battery: true, ..Default::default() },
            audio: AudioEnd::default(),
            dial_tone: true,
            ringing: None,
            ring_voltage: false,
            ring_changed_ms: 0,
            reported_ring: false,
            polarity_changed_ms: None,
            battery_changed_ms: None,
            battery_alarm: false,
            loop_changed_ms: 0,
            pulses: 0,
            dtmf: crate::dsp::DtmfRx::new(),
            giving_dial_tone: false,
            pending_cid: VecDeque::new(),
        }
    }

    /// Start ringing with a cadence of (on, off) ms pairs; `cycles` = None rings until answered or stopped.
    pub fn ring(&mut self, now: u64, cadence: Vec<(u64, u64)>, cycles: Option<u32>, cid: Option<(CidTiming, Vec<i16>)>) {
        let mut ring_start_ms = now;
        if let Some((CidTiming::BeforeFirstRing, samples)) = &cid {
            // Reversal, 250 ms, data, 200 ms, then ring (ETSI EN 300 659-1 timing).
            self.set_polarity(now, !self.view.polarity_reversed);
            ring_start_ms = now + 250 + samples.len() as u64 / 8 + 200;
        }
        if let Some((CidTiming::BeforeFirstRingNoReversal, samples)) = &cid {
            ring_start_ms = now + 100 + samples.len() as u64 / 8 + 200;
        }
        self.ringing = Some(Ringing { cadence, cycles_left: cycles, start_ms: now, cid, ring_start_ms, rings_done: 0 });
    }

    pub fn stop_ringing(&mut self) {
        self.ringing = None;
    }

    pub fn set_battery(&mut self, now: u64, on: bool) {
        if on != self.view.battery {
            self.view.battery = on;
            self.battery_changed_ms = Some(now);
        }
    }

    pub fn set_polarity(&mut self, now: u64, reversed: bool) {
        if reversed != self.view.polarity_reversed {
            self.view.polarity_reversed = reversed;
            self.polarity_changed_ms = Some(now);
        }
    }

    /// The far party hangs up: by default the CO drops battery briefly (open
    /// loop disconnect, 800 ms) and then plays nothing.
    pub fn disconnect(&mut self, now: u64) {
        self.audio.play(Source::Silence);
        self.set_battery(now, false);
    }

    fn ring_voltage_at(&mut self, now: u64) -> bool {
        let Some(r) = &mut self.ringing else { return false };
        if now < r.ring_start_ms {
            return false;
        }
        let period: u64 = r.cadence.iter().map(|(a, b)| a + b).sum();
        if period == 0 {
            return false;
        }
        let t = now - r.ring_start_ms;
        let cycle = t / period;
        if let Some(n) = r.cycles_left
            && cycle >= u64::from(n)
        {
            self.ringing = None;
            return false;
        }
        let mut pos = t % period;
        for (on, off) in &r.cadence {
            if pos < *on {
                return true;
            }
            if pos < on + off {
                return false;
            }
            pos -= on + off;
        }
        false
    }

    /// One 1 ms tick.
    pub fn tick(&mut self, port: &PortIn<'_>, rx: &mut [i16], out: &mut Vec<Signal>) {
        let now = port.now_ms;
        // Host loop state (FXO port: the host is the phone).
        let closed = port.txhooksig == TXSIG_OFFHOOK || port.txhooksig == TXSIG_START;
        if closed != self.view.loop_closed {
            let held = now.saturating_sub(self.loop_changed_ms);
            self.loop_changed_ms = now;
            self.view.loop_closed = closed;
            if closed {
                if self.ringing.is_some() {
                    self.view.answered = true;
                    self.ringing = None;
                } else if held >= 300 || self.view.seizures == 0 {
                    // A new seizure (not the make of a dial pulse or flash).
                    if held > 1500 || self.view.seizures == 0 {
                        self.view.seizures += 1;
                        self.view.digits.clear();
                        self.pulses = 0;
                        if self.dial_tone && !self.view.answered {
                            self.giving_dial_tone = true;
                            self.audio.play(Source::tone(&[350.0, 440.0], -13.0, vec![]));
                        }
                    } else {
                        self.view.flashes += 1;
                    }
                } else if (20..=100).contains(&held) {
                    self.pulses += 1;
                }
            } else {
                self.view.answered = false;
            }
        }
        if closed && self.pulses > 0 && now.saturating_sub(self.loop_changed_ms) > 300 {
            let d = if self.pulses >= 10 { '0' } else { char::from(b'0' + self.pulses as u8) };
            self.digit(d);
            self.pulses = 0;
        }
        if closed && let Some(d) = self.dtmf.feed(port.tx) {
            self.digit(d);
        }
        if !closed && self.giving_dial_tone {
            self.giving_dial_tone = false;
            self.audio.play(Source::Silence);
        }

        // Ringing and caller ID.
        if let Some(r) = &mut self.ringing
            && let Some((timing, samples)) = &r.cid
        {
            let due = match timing {
                CidTiming::BeforeFirstRing => now == r.start_ms + 250,
                CidTiming::BeforeFirstRingNoReversal => now == r.start_ms + 100,
                CidTiming::AfterFirstRing => r.rings_done == 1 && !self.ring_voltage && now == self.ring_changed_ms + 500,
            };
            if due {
                self.pending_cid = samples.iter().copied().collect();
                if *timing != CidTiming::AfterFirstRing {
                    r.cid = None;
                }
            }
        }
        let v = self.ring_voltage_at(now);
        if v != self.ring_voltage {
            self.ring_voltage = v;
            self.ring_changed_ms = now;
            if v {
                self.view.rings += 1;
                if let Some(r) = &mut self.ringing {
                    r.rings_done += 1;
                }
            }
        }
        self.view.ringing = v;
        let since = now - self.ring_changed_ms;
        if self.ring_voltage && !self.reported_ring && since >= RING_DETECT_MS {
            self.reported_ring = true;
            out.push(Signal::Hook(RXSIG_RING));
        }
        if !self.ring_voltage && self.reported_ring && since >= RING_OFF_DEBOUNCE_MS {
            self.reported_ring = false;
            out.push(Signal::Hook(RXSIG_OFFHOOK));
        }

        // Polarity and battery.
        if let Some(t) = self.polarity_changed_ms
            && now - t >= POLARITY_DEBOUNCE_MS
        {
            self.polarity_changed_ms = None;
            out.push(Signal::Event(EVENT_POLARITY));
        }
        if let Some(t) = self.battery_changed_ms {
            let held = now - t;
            if self.view.battery && held >= BATTERY_DEBOUNCE_MS {
                self.battery_changed_ms = None;
                out.push(Signal::Hook(RXSIG_OFFHOOK));
                if self.battery_alarm {
                    self.battery_alarm = false;
                    out.push(Signal::Alarm(0));
                }
            } else if !self.view.battery {
                if held == BATTERY_DEBOUNCE_MS {
                    out.push(Signal::Hook(RXSIG_ONHOOK));
                }
                if held >= BATTERY_ALARM_MS {
                    self.battery_changed_ms = None;
                    self.battery_alarm = true;
                    out.push(Signal::Alarm(ALARM_RED));
                }
            }
        }

        // Audio: caller ID data takes precedence over the line audio.
        if !self.pending_cid.is_empty() {
            for s in rx.iter_mut() {
                *s = self.pending_cid.pop_front().unwrap_or(0);
            }
        } else if self.ring_voltage || !self.view.battery {
            rx.fill(0);
        } else {
            self.audio.fill(rx);
        }
        self.audio.recorder.push(port.tx);
    }

    fn digit(&mut self, d: char) {
        self.view.digits.push(d);
        if self.giving_dial_tone {
            self.giving_dial_tone = false;
            self.audio.play(Source::Silence);
        }
    }
}
