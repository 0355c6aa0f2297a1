#!/usr/bin/env bash
# Install everything and run the whole test suite (as root, on Debian 12).
# .ci/run runs this.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/setup.sh
# setup.sh may have just installed rustup's cargo.
export PATH="$HOME/.cargo/bin:$PATH"

# A one-off build gains nothing from incremental state, which would be a
# third of the target directory. Show the free space, so that a full disk
# is obvious in the log.
export CARGO_INCREMENTAL=0
df -h . | tail -n 1

# Builds every binary the tests run: tandem-sim (hw-sim), and the helpers
# of the tests crate (dahdi-params, sim-ring-demo).
cargo build --workspace --all-targets

# Every test of every crate, including the dahdi-tools fidelity tests in
# tests/tests/, which start tandem-sim over FUSE in private mount namespaces
# (one per test, so they may run in parallel).
cargo test --workspace --no-fail-fast
