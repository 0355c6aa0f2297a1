#!/usr/bin/env bash
# Run every cargo-fuzz target for a while (default 600 s each).
#   bash scripts/fuzz.sh [SECONDS] [TARGET...]
# Targets are "crate-dir:target", e.g. isdn-q931:q931_message. Without
# targets, every target of every fuzz crate runs in turn. Uses stable Rust
# with `-s none` (no sanitizer); installs cargo-fuzz if it is missing.
# Prints one line per target: runs, coverage and whether it crashed.
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-600}
shift || true
command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
    for dir in */fuzz; do
        crate=${dir%/fuzz}
        for t in "$dir"/fuzz_targets/*.rs; do
            targets+=("$crate:$(basename "$t" .rs)")
        done
    done
fi
status=0
for spec in "${targets[@]}"; do
    crate=${spec%%:*}
    target=${spec#*:}
    log=$(mktemp)
    echo "== $crate: $target for $secs s"
    if (cd "$crate" && cargo fuzz run "$target" -s none -- -max_total_time="$secs" -print_final_stats=1) >"$log" 2>&1; then
        runs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' || true)
        cov=$(grep -o 'cov: [0-9]*' "$log" | tail -1 || true)
        echo "   ok: ${runs:-?} runs, ${cov:-cov: ?}, no crash"
    else
        echo "   CRASH or error; last lines:"
        tail -20 "$log"
        status=1
    fi
    rm -f "$log"
done
exit $status
