//! Thin adapters from `tandem-dsp` to what the far ends need.

use tandem_dsp::DigitEvent;
use tandem_dsp::dtmf::{DtmfConfig, DtmfDetector};

/// Generate DTMF digits as linear samples.
pub fn dtmf_samples(digits: &str, on_ms: u32, off_ms: u32) -> Result<Vec<i16>, String> {
    let cfg = DtmfConfig { on_ms, off_ms, ..DtmfConfig::default() };
    tandem_dsp::dtmf::generate(digits, &cfg).map_err(|e| format!("cannot dial {:?} as DTMF", e.0))
}

/// A streaming DTMF receiver that reports each digit once, when it starts.
pub struct DtmfRx {
    det: DtmfDetector,
    events: Vec<DigitEvent>,
}

impl std::fmt::Debug for DtmfRx {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("DtmfRx")
    }
}

impl Default for DtmfRx {
    fn default() -> Self {
        DtmfRx::new()
    }
}

impl DtmfRx {
    pub fn new() -> DtmfRx {
        DtmfRx { det: DtmfDetector::new(), events: Vec::new() }
    }

    /// Feed samples; returns a digit when one starts.
    pub fn feed(&mut self, samples: &[i16]) -> Option<char> {
        self.events.clear();
        self.det.process(samples, &mut self.events);
        self.events.iter().find_map(|e| match e {
            DigitEvent::DigitDown { digit, .. } => Some(*digit),
            _ => None,
        })
    }
}
