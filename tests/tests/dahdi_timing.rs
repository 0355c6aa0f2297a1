//! dahdi-tools fidelity: `dahdi_test` measures the timing of
//! `/dev/dahdi/pseudo` on tandem-sim (`examples/sim/basic.toml`, in a private
//! mount namespace through `scripts/sim-ns.sh`) and must report DAHDI's
//! "definite pass" accuracy.
//!
//! A test binary of its own, so that cargo runs it alone: the other
//! simulators of dahdi_tools.rs would compete for the CPU and blur the timing.
//!
//! Needs root, dahdi-tools (`scripts/setup.sh`) and a built simulator
//! (`cargo build -p hw-sim`).

use std::time::Duration;

use tandem_tests::{repo_path, sim_ns};

/// Parse dahdi_test's output: (per-pass accuracies, cumulative accuracy).
fn parse_dahdi_test(text: &str) -> (Vec<f64>, Option<f64>) {
    let mut passes = Vec::new();
    let mut cumulative = None;
    for line in text.lines() {
        if let Some(rest) = line.split("Cumulative Accuracy (not per pass):").nth(1) {
            cumulative = rest.trim().trim_end_matches('%').parse::<f64>().ok();
        } else if !line.contains(':') {
            passes.extend(line.split_whitespace().filter_map(|w| w.strip_suffix('%')?.parse::<f64>().ok()));
        }
    }
    (passes, cumulative)
}

/// DAHDI's own threshold: "Values of 100% and 99.99% are normally considered
/// a definite pass. Values of 99.98% and 99.97% are probably OK as well."
/// We ask for 99.9% cumulative, which a simulator whose clock drifts or
/// loses samples does not reach.
const MIN_ACCURACY: f64 = 99.9;

/// Attempts before failing. The clock is real time, so a machine busy with
/// other work (parallel builds) can make one run miss its deadlines; a
/// simulator that drifts fails every attempt.
const ATTEMPTS: usize = 3;

#[test]
fn dahdi_test_timing_is_accurate() {
    const PASSES: usize = 5;
    let mut report = String::new();
    for attempt in 1..=ATTEMPTS {
        let out = sim_ns(&repo_path("examples/sim/basic.toml"), &["dahdi_test", "-c", &PASSES.to_string()], &[], Duration::from_secs(60));
        out.assert_success("dahdi_test");
        let (passes, cumulative) = parse_dahdi_test(&out.stdout);
        assert_eq!(passes.len(), PASSES, "expected {PASSES} per-pass results:\n{}", out.stdout);
        let cumulative = cumulative.unwrap_or_else(|| panic!("no cumulative accuracy in dahdi_test output:\n{}", out.stdout));
        for p in &passes {
            assert!((0.0..=100.0).contains(p), "impossible accuracy {p}%:\n{}", out.stdout);
        }
        if cumulative >= MIN_ACCURACY {
            eprintln!("dahdi_test attempt {attempt}: cumulative accuracy {cumulative}% (passes {passes:?})");
            return;
        }
        report.push_str(&format!("--- attempt {attempt}: cumulative {cumulative}% ---\n{}", out.stdout));
    }
    panic!("dahdi_test cumulative accuracy stayed below {MIN_ACCURACY}% in {ATTEMPTS} attempts:\n{report}");
}

#[test]
fn parse_dahdi_test_output() {
    let sample = "Opened pseudo dahdi interface, measuring accuracy...\n\
                  99.998% 99.995% 99.991% \n\
                  --- Results after 3 passes ---\n\
                  Best: 99.998% -- Worst: 99.991% -- Average: 99.994371%\n\
                  Cumulative Accuracy (not per pass): 99.996\n";
    let (passes, cumulative) = parse_dahdi_test(sample);
    assert_eq!(passes, vec![99.998, 99.995, 99.991]);
    assert_eq!(cumulative, Some(99.996));
}
