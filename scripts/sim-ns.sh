#!/usr/bin/env bash
# Run a command against a simulated DAHDI system, in a private mount namespace.
#
#   scripts/sim-ns.sh <sim.toml> -- <command...>
#
# As root: creates a private mount namespace with a fresh /dev (a tmpfs with
# the usual device nodes bound back in), starts tandem-sim on the given
# config with its files mounted at /dev/dahdi, waits until /dev/dahdi/ctl is
# there, runs the command, stops the simulator (SIGTERM) and exits with the
# command's status. Nothing outside the namespace sees /dev/dahdi.
#
# The caller builds the simulator first (`cargo build -p hw-sim`).
#
# Environment:
#   TANDEM_SIM       simulator binary (default: <repo>/target/debug/tandem-sim,
#                    or $CARGO_TARGET_DIR/debug/tandem-sim)
#   SIM_CONTROL      control socket path (default: a fresh temporary path);
#                    exported to the command either way
#   SIM_LOG          where the simulator's log goes (default: a temporary file,
#                    printed to stderr if the simulator fails or the command
#                    exits non-zero); exported to the command
#   SIM_LOG_FILTER   tandem-sim --log filter (default: info)
#   SIM_NS_TIMEOUT   seconds the command may run before it is killed (default 300)
#   SIM_SYSFS        1: also mount the simulator's sysfs emulation (--sysfs) at
#                    a temporary directory, exported as SIM_SYSFS_DIR, and bind
#                    its bus/, module/ and devices/ over /sys/bus, /sys/module
#                    and /sys/devices, so that tools reading
#                    /sys/bus/dahdi_devices (dahdi_span_assignments, udev
#                    helpers) see the simulated cards. devices/ is bound too
#                    because the bus entries are relative symlinks into
#                    ../../../devices, as in the kernel's sysfs.
#   SIM_HOTPLUG      a program the simulator runs for every uevent (--hotplug)
#
# Exit status: the command's; 124 if it timed out; 2 for usage errors; 3 if
# the simulator could not be started.
set -euo pipefail

usage() {
    echo "usage: $0 <sim.toml> -- <command...>" >&2
    exit 2
}

self=$(readlink -f "$0")
repo=$(cd "$(dirname "$self")/.." && pwd)

if [ "${_TANDEM_SIM_NS_INNER:-}" != 1 ]; then
    # ---- outside: check arguments, then re-run this script in a new namespace.
    if [ "$#" -lt 3 ] || [ "$2" != "--" ]; then usage; fi
    if [ "$(id -u)" -ne 0 ]; then
        echo "sim-ns.sh: run as root (it mounts FUSE and a private /dev)" >&2
        exit 2
    fi
    [ -r "$1" ] || { echo "sim-ns.sh: cannot read config $1" >&2; exit 2; }
    sim=${TANDEM_SIM:-${CARGO_TARGET_DIR:-$repo/target}/debug/tandem-sim}
    if [ ! -x "$sim" ]; then
        echo "sim-ns.sh: simulator binary $sim not found; run 'cargo build -p hw-sim' first (or set TANDEM_SIM)" >&2
        exit 3
    fi
    tmp=$(mktemp -d /tmp/tandem-sim-ns.XXXXXX)
    status=0
    _TANDEM_SIM_NS_INNER=1 _TANDEM_SIM_NS_TMP=$tmp TANDEM_SIM=$(readlink -f "$sim") \
        unshare --mount --propagation private -- bash "$self" "$(readlink -f "$1")" "${@:2}" || status=$?
    # The namespace (and every mount in it) is gone with its last process.
    # Only remove what we created; never recurse into a possible mount point.
    rm -f "$tmp"/control.sock "$tmp"/control.sock.span* "$tmp"/sim.log 2>/dev/null || true
    rmdir "$tmp/realdev" "$tmp/sysfs" "$tmp" 2>/dev/null || true
    exit "$status"
fi

# ---- inside the private mount namespace.
config=$1
shift 2
tmp=$_TANDEM_SIM_NS_TMP
unset _TANDEM_SIM_NS_INNER _TANDEM_SIM_NS_TMP

# A fresh /dev: keep the real one reachable at $tmp/realdev while we copy
# the nodes we need, then detach it.
mkdir -p "$tmp/realdev"
mount --rbind /dev "$tmp/realdev"
mount -t tmpfs -o mode=0755,size=1m tandem-dev /dev
for n in null zero full random urandom tty fuse kmsg console; do
    if [ -e "$tmp/realdev/$n" ]; then
        : >"/dev/$n"
        mount --bind "$tmp/realdev/$n" "/dev/$n"
    fi
done
for d in pts shm mqueue hugepages; do
    if [ -d "$tmp/realdev/$d" ]; then
        mkdir "/dev/$d"
        mount --rbind "$tmp/realdev/$d" "/dev/$d"
    fi
done
# New pseudo-terminals come from the (host's) devpts instance bound above.
ln -s pts/ptmx /dev/ptmx
ln -s /proc/self/fd /dev/fd
ln -s /proc/self/fd/0 /dev/stdin
ln -s /proc/self/fd/1 /dev/stdout
ln -s /proc/self/fd/2 /dev/stderr
[ -L "$tmp/realdev/log" ] && cp -P "$tmp/realdev/log" /dev/log
umount -l "$tmp/realdev"

export SIM_CONTROL=${SIM_CONTROL:-$tmp/control.sock}
log_is_temp=0
if [ -z "${SIM_LOG:-}" ]; then
    SIM_LOG=$tmp/sim.log
    log_is_temp=1
fi
export SIM_LOG

show_log() {
    if [ "$log_is_temp" = 1 ] && [ -s "$SIM_LOG" ]; then
        echo "---- tandem-sim log (last 50 lines) ----" >&2
        tail -n 50 "$SIM_LOG" >&2
        echo "----------------------------------------" >&2
    fi
}

extra_args=()
sysfs_bound=()
if [ "${SIM_SYSFS:-0}" = 1 ]; then
    SIM_SYSFS_DIR=$tmp/sysfs
    mkdir -p "$SIM_SYSFS_DIR"
    export SIM_SYSFS_DIR
    extra_args+=(--sysfs "$SIM_SYSFS_DIR")
fi
if [ -n "${SIM_HOTPLUG:-}" ]; then
    extra_args+=(--hotplug "$SIM_HOTPLUG")
fi

NO_COLOR=1 "$TANDEM_SIM" --config "$config" --mount /dev/dahdi --control "$SIM_CONTROL" \
    --log "${SIM_LOG_FILTER:-info}" "${extra_args[@]}" </dev/null >>"$SIM_LOG" 2>&1 &
sim_pid=$!

# The bind mounts keep the sysfs FUSE connection alive: drop them before the
# simulator unmounts.
unbind_sysfs() {
    local m
    for m in "${sysfs_bound[@]}"; do
        umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null || true
    done
    sysfs_bound=()
}

stop_sim() {
    unbind_sysfs
    [ -n "${sim_pid:-}" ] || return 0
    local pid=$sim_pid
    sim_pid=
    kill -TERM "$pid" 2>/dev/null || return 0
    for _ in $(seq 100); do # 10 s
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    if kill -0 "$pid" 2>/dev/null; then
        echo "sim-ns.sh: tandem-sim did not stop within 10 s of SIGTERM; killing it" >&2
        kill -KILL "$pid" 2>/dev/null || true
        umount -l /dev/dahdi 2>/dev/null || true
    fi
    local rc=0
    wait "$pid" 2>/dev/null || rc=$?
    if [ "$rc" -ne 0 ]; then
        echo "sim-ns.sh: tandem-sim exited with status $rc" >&2
        return 1
    fi
}
trap 'stop_sim || true' EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# Wait (at most 10 s) for the files and the control socket.
ready=0
for _ in $(seq 100); do
    if ! kill -0 "$sim_pid" 2>/dev/null; then
        break
    fi
    if [ -e /dev/dahdi/ctl ] && [ -S "$SIM_CONTROL" ] &&
        { [ -z "${SIM_SYSFS_DIR:-}" ] || [ -e "$SIM_SYSFS_DIR/module/dahdi/parameters/auto_assign_spans" ]; }; then
        ready=1
        break
    fi
    sleep 0.1
done
if [ "$ready" != 1 ]; then
    if kill -0 "$sim_pid" 2>/dev/null; then
        echo "sim-ns.sh: /dev/dahdi/ctl did not appear within 10 s" >&2
    else
        echo "sim-ns.sh: tandem-sim exited before /dev/dahdi/ctl appeared" >&2
    fi
    stop_sim || true
    log_is_temp=1 show_log
    exit 3
fi

if [ -n "${SIM_SYSFS_DIR:-}" ]; then
    for d in bus module devices; do
        if ! mount --bind "$SIM_SYSFS_DIR/$d" "/sys/$d"; then
            echo "sim-ns.sh: cannot bind $SIM_SYSFS_DIR/$d over /sys/$d" >&2
            stop_sim || true
            exit 3
        fi
        sysfs_bound+=("/sys/$d")
    done
fi

# timeout(1) puts the command in its own process group, which would stop an
# interactive command reading the terminal; keep it in the foreground then.
fg=()
[ -t 0 ] && fg=(--foreground)
status=0
timeout "${fg[@]}" --kill-after=5 "${SIM_NS_TIMEOUT:-300}" "$@" || status=$?
if [ "$status" = 124 ]; then
    echo "sim-ns.sh: command timed out after ${SIM_NS_TIMEOUT:-300} s: $*" >&2
fi
sim_status=0
stop_sim || sim_status=$?
if [ "$status" -ne 0 ] || [ "$sim_status" -ne 0 ]; then
    show_log
fi
exit "$status"
