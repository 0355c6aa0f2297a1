#!/usr/bin/env bash
# The main job: install everything, build, and run tandem on the simulator.
#
#   tandem-sim   a TE120P T1 card (examples/sim/pri-t1.toml) whose D-channel
#                is a socket for the carrier's switch
#   q931-peer    the carrier's switch: Tandem's own ISDN stack, network side
#   tandem run   the gateway (examples/demo/tandem.toml): PRI user side <-> SIP
#   sipp         the SIP PBX at 127.0.0.10:5070 (answers, echoes RTP), and a
#                SIP phone calling out through the gateway
#
# Two calls cross the gateway, one each way, and the script prints the ladder
# of Q.931 and SIP messages tandem logged, the RTP figures and the CDRs.
# Run as root on Debian 12. Exits 0 on success.
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$(pwd)

bash scripts/setup.sh
export PATH="$HOME/.cargo/bin:$PATH"

echo "== building tandem, tandem-sim and q931-peer"
cargo build --quiet -p hw-sim -p tandem-gateway -p isdn-q931 --bins
bin=${CARGO_TARGET_DIR:-$repo/target}/debug

work=$(mktemp -d /tmp/tandem-demo.XXXXXX)
pids=()
cleanup() {
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
    for _ in $(seq 50); do
        alive=0
        for p in "${pids[@]}"; do kill -0 "$p" 2>/dev/null && alive=1; done
        [ "$alive" = 0 ] && break
        sleep 0.2
    done
    for p in "${pids[@]}"; do kill -KILL "$p" 2>/dev/null || true; done
    umount -l "$work/dev" 2>/dev/null || true
}
trap cleanup EXIT
mkdir "$work/dev"
cd "$work"

echo "== tandem-sim: examples/sim/pri-t1.toml mounted on $work/dev"
"$bin/tandem-sim" --config "$repo/examples/sim/pri-t1.toml" --mount "$work/dev" --control "$work/sim.sock" >sim.log 2>&1 &
pids+=($!)
for _ in $(seq 100); do [ -S sim.sock ] && [ -e dev/ctl ] && break; sleep 0.1; done

echo "== q931-peer: the carrier's switch (NI-2, network side) on the D-channel socket"
mkfifo switch.in
"$bin/q931-peer" --role network --switch ni2 --connect "$work/sim.sock.span1" --auto-answer 500 <switch.in >switch.out 2>switch.err &
pids+=($!)
exec 3>switch.in

echo "== tandem run --config examples/demo/tandem.toml"
"$bin/tandem" run --config "$repo/examples/demo/tandem.toml" --device-dir "$work/dev" \
    --log "info,tandem::q931=info,tandem_gateway::sip::transport=debug" >tandem.log 2>&1 &
tandem_pid=$!
pids+=($tandem_pid)
wait_for() { # file pattern seconds
    for _ in $(seq $(($3 * 10))); do grep -q "$2" "$1" 2>/dev/null && return 0; sleep 0.1; done
    echo "demo: timed out waiting for '$2' in $1" >&2; tail -20 "$1" >&2; return 1
}
wait_for tandem.log "tandem running" 20
wait_for switch.out '"link_up"' 20
echo "   D-channel up"

echo "== sipp: the PBX at 127.0.0.10:5070"
sipp -sf "$repo/tests/sipp/uas_answer.xml" -i 127.0.0.10 -p 5070 -m 1 -d 100 -mp 7000 -mi 127.0.0.10 -rtp_echo \
    -key caller x -key from_name x -key codecs 0 -key hdr1 X-A:1 -key hdr2 X-A:2 -key hdr3 X-A:3 -key reason_hdr X-A:4 \
    -aa -nostdin -timeout 30 -timeout_error >pbx.out 2>&1 &
pbx=$!
sleep 0.5

echo
echo "== call 1: the carrier calls 212-555-1234 from 917-555-0000 (PRI -> SIP)"
echo "call 2125551234 9175550000 name Alice" >&3
wait_for switch.out '"connected"' 10
sleep 2
echo "hangup 16" >&3
wait_for switch.out '"released"' 10
wait "$pbx"
echo "   answered by the PBX, then cleared by the carrier"

echo
echo "== call 2: the PBX (127.0.0.10) calls 212-555-0142 (SIP -> PRI)"
sipp -sf "$repo/tests/sipp/uac_call.xml" -i 127.0.0.10 -p 5072 -m 1 -d 2000 -mp 7100 -mi 127.0.0.10 -rtp_echo -s 2125550142 \
    -key caller 9175550000 -key from_name '"Bob"' -key codecs "0 8" -key hdr1 X-A:1 -key hdr2 X-A:2 -key hdr3 X-A:3 -key reason_hdr X-A:4 \
    -nostdin -timeout 30 -timeout_error 127.0.0.1:5060 >phone.out 2>&1 || { echo "demo: the SIP call failed" >&2; tail -30 phone.out >&2; exit 1; }
echo "   answered by the carrier (auto-answer), then cleared by the PBX"
sleep 0.5

echo
echo "== a stranger at 127.0.0.66 tries the same (default-deny: 403, no channel seized)"
sipp -sf "$repo/tests/sipp/uac_reject.xml" -i 127.0.0.66 -p 5073 -m 1 -s 2125550142 \
    -key caller 666 -key from_name x -key codecs 0 -key hdr1 X-A:1 -key hdr2 X-A:2 -key hdr3 X-A:3 -key reason_hdr X-A:4 \
    -nostdin -timeout 10 -timeout_error -trace_logs -log_file stranger.log 127.0.0.1:5060 >stranger.out 2>&1 || true
grep -o "FINAL [0-9]*" stranger.log | sed 's/FINAL/   refused with/'

echo
echo "== the ladder tandem logged (Q.931 on the PRI, SIP on the trunk)"
# "time  PRI  <- SETUP ..." and "time  SIP  -> INVITE ... (peer)"
awk '
/tandem::q931: / { t = substr($1, 12, 12); sub(/.*tandem::q931: /, ""); sub(/ interface=.*/, ""); printf "%s  PRI  %s\n", t, $0 }
/sip::transport: SIP (in|out): / {
    t = substr($1, 12, 12); dir = ($0 ~ /SIP out: /) ? "->" : "<-"
    peer = $0; sub(/.* peer=/, "", peer); sub(/ .*/, "", peer)
    sub(/.*SIP (in|out): /, ""); sub(/ transport=.*/, ""); printf "%s  SIP  %s %s   (%s)\n", t, dir, $0, peer
}' tandem.log

echo
echo "== tandem status (the daemon's control socket)"
"$bin/tandem" status --socket "$work/tandem.sock"

echo
echo "== CDRs ($work/cdr.jsonl)"
cat cdr.jsonl
calls=$(wc -l <cdr.jsonl)

echo
echo "== SIGTERM: tandem drains and exits"
kill -TERM "$tandem_pid"
wait "$tandem_pid"
echo "   tandem exited $?"
exec 3>&-
[ "$calls" -eq 2 ] || { echo "demo: expected 2 CDRs, got $calls" >&2; exit 1; }
echo "== demo finished"
