#!/usr/bin/env bash
# The main job, for now: install everything, build, and show tandem-sim at
# work. Starts the simulator on examples/sim/basic.toml (a 4-port analog
# card and two cross-connected T1 spans) in a private mount namespace, then
# drives it with the stock dahdi-tools and the control socket:
#   dahdi_cfg   configures the channels from examples/sim/basic-system.conf
#   dahdi_scan  lists the spans
#   tandem spans / tandem channels  show the same through Tandem's DAHDI layer
#   dahdi_test  measures the timing of /dev/dahdi/pseudo
#   sim-ring-demo  rings the FXO port (channel 3) and prints the DAHDI events
# Run as root on Debian 12. Exits 0 on success.
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$(pwd)

bash scripts/setup.sh
export PATH="$HOME/.cargo/bin:$PATH"

echo "== building tandem-sim and the demo helpers"
cargo build --quiet -p hw-sim -p tandem-tests -p tandem-gateway --bins
bin=${CARGO_TARGET_DIR:-$repo/target}/debug
export TANDEM_SIM=$bin/tandem-sim
export RING_DEMO=$bin/sim-ring-demo
export TANDEM=$bin/tandem

echo "== starting tandem-sim on examples/sim/basic.toml (scripts/sim-ns.sh)"
SIM_NS_TIMEOUT=60 bash scripts/sim-ns.sh examples/sim/basic.toml -- bash -c '
set -euo pipefail
echo "-- simulated device files:"
echo "/dev/dahdi: $(ls /dev/dahdi | tr "\n" " ")"
for d in /dev/dahdi/chan/*; do
    echo "$d: $(ls "$d" | wc -l) channels"
done
echo
echo "-- dahdi_cfg -v -c examples/sim/basic-system.conf (\"Setting echocan\" lines left out)"
dahdi_cfg -v -c examples/sim/basic-system.conf 2>&1 | grep -v "^Setting echocan"
echo
echo "-- dahdi_scan"
dahdi_scan
echo
echo "-- tandem spans / tandem channels (Tandem naming: fxs = a phone plugs in)"
"$TANDEM" spans
"$TANDEM" channels | head -8
echo
echo "-- dahdi_test -c 3"
dahdi_test -c 3
echo
echo "-- ringing the FXO port (channel 3) through the control socket"
"$RING_DEMO" --chan 3
'
echo "== demo finished"
