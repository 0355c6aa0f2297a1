//! Line echo on analog ports, and a model of DAHDI's echo canceller.
//!
//! A real analog port converts the host's 4-wire audio (separate transmit
//! and receive) to the 2-wire line through a hybrid. The hybrid never
//! balances the line exactly, so part of what the host transmits comes back
//! in what it receives: line echo, a delayed and attenuated copy. The
//! attenuation is the echo return loss (ERL).
//!
//! [`EchoPath`] reproduces that on an analog port when the simulator's
//! config asks for it (`line_echo`; off by default so that tests measuring
//! received audio hear only the far end). It also honours the channel's
//! echo canceller as the host configures it (DAHDI_ECHOCANCEL_PARAMS,
//! DAHDI_ECHOCANCEL, DAHDI_ECHOCANCEL_FAX_MODE). This is a *model*, not an
//! adaptive filter: a canceller whose tail (`taps` samples) covers the echo
//! delay converges over `converge_ms`, its echo return loss enhancement
//! (ERLE) growing linearly in dB up to `erle_db`; a canceller too short for
//! the delay, switched off, or in fax mode removes nothing.

use std::collections::VecDeque;

use serde::{Deserialize, Serialize};

use super::chan::EchoCan;
use super::k::CHUNK;

/// Samples per millisecond at DAHDI's 8 kHz.
const SAMPLES_PER_MS: u32 = 8;

/// Line echo of one analog port: `[sim] line_echo = { ... }` in the
/// simulator config, or `line_echo` on one `[[card]]`.
#[derive(Clone, Copy, Debug, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct LineEchoCfg {
    /// Round-trip delay of the echo, ms (0..=100). 8 ms is a short local loop
    /// plus the card's codec and FIFO delay.
    #[serde(default = "default_delay_ms")]
    pub delay_ms: u32,
    /// Echo return loss, dB (0..=60): how much weaker the echo is than what
    /// the host sent. ITU-T G.168 designs cancellers for an ERL of at least
    /// 6 dB; a typical analog hybrid gives 10 to 20 dB.
    #[serde(default = "default_erl_db")]
    pub erl_db: f64,
    /// Echo return loss enhancement of a converged canceller, dB (0..=80).
    #[serde(default = "default_erle_db")]
    pub erle_db: f64,
    /// Time the canceller takes to reach `erle_db`, ms (0..=10000). ITU-T
    /// G.168's convergence test allows up to 1 s.
    #[serde(default = "default_converge_ms")]
    pub converge_ms: u32,
}

fn default_delay_ms() -> u32 {
    8
}
fn default_erl_db() -> f64 {
    12.0
}
fn default_erle_db() -> f64 {
    30.0
}
fn default_converge_ms() -> u32 {
    250
}

impl Default for LineEchoCfg {
    fn default() -> Self {
        LineEchoCfg { delay_ms: default_delay_ms(), erl_db: default_erl_db(), erle_db: default_erle_db(), converge_ms: default_converge_ms() }
    }
}

impl LineEchoCfg {
    /// Check the ranges; the message says what to change.
    pub fn validate(&self) -> Result<(), String> {
        if self.delay_ms > 100 {
            return Err(format!("line_echo.delay_ms = {} must be 0..=100", self.delay_ms));
        }
        if !(0.0..=60.0).contains(&self.erl_db) {
            return Err(format!("line_echo.erl_db = {} must be 0..=60", self.erl_db));
        }
        if !(0.0..=80.0).contains(&self.erle_db) {
            return Err(format!("line_echo.erle_db = {} must be 0..=80", self.erle_db));
        }
        if self.converge_ms > 10_000 {
            return Err(format!("line_echo.converge_ms = {} must be 0..=10000", self.converge_ms));
        }
        Ok(())
    }

    /// The echo delay in samples.
    pub fn delay_samples(&self) -> u32 {
        self.delay_ms * SAMPLES_PER_MS
    }
}

/// The echo path of one analog port, with the state of the canceller model.
#[derive(Clone, Debug, Default)]
pub struct EchoPath {
    cfg: Option<LineEchoCfg>,
    /// The host's transmitted samples, `delay` long: the front is the one
    /// whose echo arrives now.
    hist: VecDeque<i16>,
    /// Linear echo gain (from ERL).
    gain: f64,
    /// Milliseconds the canceller has been cancelling (0 while it is not).
    active_ms: u32,
}

impl EchoPath {
    /// An echo path with this configuration (`None`: no echo).
    pub fn new(cfg: Option<LineEchoCfg>) -> EchoPath {
        let Some(c) = cfg else { return EchoPath::default() };
        let hist = std::iter::repeat_n(0, c.delay_samples() as usize).collect();
        EchoPath { cfg, hist, gain: db_to_gain(c.erl_db), active_ms: 0 }
    }

    /// The configuration, if the port has line echo.
    pub fn cfg(&self) -> Option<&LineEchoCfg> {
        self.cfg.as_ref()
    }

    /// Whether the canceller `ec` removes this port's echo: it is on
    /// (taps > 0), not in fax mode, and its tail reaches the echo (taps
    /// greater than the delay in samples).
    pub fn cancels(&self, ec: &EchoCan) -> bool {
        let Some(c) = &self.cfg else { return false };
        ec.taps > 0 && !ec.fax_mode && ec.taps > c.delay_samples()
    }

    /// The canceller's current ERLE in dB (0 while not cancelling).
    pub fn erle_db(&self) -> f64 {
        let Some(c) = &self.cfg else { return 0.0 };
        if self.active_ms == 0 {
            return 0.0;
        }
        if c.converge_ms == 0 {
            return c.erle_db;
        }
        c.erle_db * (f64::from(self.active_ms) / f64::from(c.converge_ms)).min(1.0)
    }

    /// One chunk: remember what the host transmitted (`tx`) and mix the
    /// echo that arrives now into `rx`, less what the canceller `ec` removes.
    /// `loop_closed`: the line carries audio (a phone off-hook, or the FXO
    /// port off-hook); otherwise no echo returns.
    pub fn process(&mut self, tx: &[i16; CHUNK], rx: &mut [i16; CHUNK], ec: &EchoCan, loop_closed: bool) {
        if self.cfg.is_none() {
            return;
        }
        if self.cancels(ec) {
            self.active_ms = self.active_ms.saturating_add(1);
        } else {
            self.active_ms = 0;
        }
        let gain = self.gain * db_to_gain(self.erle_db());
        for (o, &s) in rx.iter_mut().zip(tx) {
            self.hist.push_back(s);
            let e = self.hist.pop_front().unwrap_or(0);
            if loop_closed {
                let mixed = f64::from(*o) + f64::from(e) * gain;
                *o = mixed.round().clamp(f64::from(i16::MIN), f64::from(i16::MAX)) as i16;
            }
        }
    }
}

/// Linear amplitude factor for an attenuation of `db` decibels.
fn db_to_gain(db: f64) -> f64 {
    10f64.powf(-db / 20.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ec(taps: u32, fax_mode: bool) -> EchoCan {
        EchoCan { taps, fax_mode, ..Default::default() }
    }

    fn run(p: &mut EchoPath, ec: &EchoCan, ms: usize) -> Vec<i16> {
        let mut out = Vec::new();
        for k in 0..ms {
            let mut tx = [0i16; CHUNK];
            if k == 0 {
                tx[0] = 10_000;
            }
            let mut rx = [0i16; CHUNK];
            p.process(&tx, &mut rx, ec, true);
            out.extend_from_slice(&rx);
        }
        out
    }

    #[test]
    fn echo_is_the_delayed_attenuated_transmit() {
        let mut p = EchoPath::new(Some(LineEchoCfg { delay_ms: 2, erl_db: 20.0, ..Default::default() }));
        let out = run(&mut p, &ec(0, false), 4);
        assert_eq!(out[16], 1000);
        assert!(out.iter().enumerate().all(|(i, &v)| i == 16 || v == 0));
    }

    #[test]
    fn converged_canceller_removes_echo_and_fax_mode_brings_it_back() {
        let cfg = LineEchoCfg { delay_ms: 8, erl_db: 0.0, erle_db: 30.0, converge_ms: 100 };
        let mut p = EchoPath::new(Some(cfg));
        let on = ec(128, false);
        let mut rx = [0i16; CHUNK];
        for _ in 0..50 {
            p.process(&[0; CHUNK], &mut rx, &on, true);
        }
        assert!((p.erle_db() - 15.0).abs() < 0.5, "half way: {}", p.erle_db());
        for _ in 0..100 {
            p.process(&[0; CHUNK], &mut rx, &on, true);
        }
        assert_eq!(p.erle_db(), 30.0);
        p.process(&[0; CHUNK], &mut rx, &ec(128, true), true);
        assert_eq!(p.erle_db(), 0.0);
    }

    #[test]
    fn short_tail_does_not_cancel() {
        let p = EchoPath::new(Some(LineEchoCfg::default()));
        assert!(!p.cancels(&ec(64, false)), "64 taps do not reach an echo 64 samples late");
        assert!(p.cancels(&ec(128, false)));
        assert!(!EchoPath::new(None).cancels(&ec(128, false)));
    }

    #[test]
    fn open_loop_returns_no_echo() {
        let mut p = EchoPath::new(Some(LineEchoCfg { delay_ms: 0, erl_db: 0.0, ..Default::default() }));
        let mut rx = [0i16; CHUNK];
        p.process(&[1000; CHUNK], &mut rx, &ec(0, false), false);
        assert_eq!(rx, [0; CHUNK]);
        p.process(&[1000; CHUNK], &mut rx, &ec(0, false), true);
        assert_eq!(rx, [1000; CHUNK]);
    }
}
