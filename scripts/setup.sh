#!/usr/bin/env bash
# Install every system dependency Tandem needs on Debian 12, as root.
# Idempotent: safe to run again; it only installs what is missing.
set -euo pipefail

if [ "$(id -u)" -ne 0 ]; then
    echo "setup.sh: run as root (it installs Debian packages)" >&2
    exit 1
fi

export DEBIAN_FRONTEND=noninteractive

PACKAGES=(
    # build
    build-essential pkg-config libclang-dev clang
    # <dahdi/user.h> for dahdi-sys, and dahdi-tools for the fidelity tests
    dahdi-source dahdi
    # FUSE mounts for tandem-sim
    fuse3
    # mount namespaces (unshare) for scripts/sim-ns.sh; timeout(1)
    util-linux coreutils
    # tracing the ioctls of dahdi-tools against the simulator
    strace
    # libpri 1.6 for tests/libpri-peer, the reference Q.931 peer of the
    # isdn-q931 interop tests
    libpri-dev
    # decoding LAPD/Q.931 captures of the interop tests
    tshark
    # real SIP peers for the gateway's end-to-end tests and the demo:
    # sipp (sip-tester), kamailio as registrar/proxy with digest auth
    sip-tester kamailio kamailio-extra-modules
    # kamailio's tls module: the SIP-over-TLS peer of tests/tests/gateway_tls.rs
    kamailio-tls-modules
    # TLS test certificates
    openssl
    systemd  # systemd-analyze verifies packaging/tandem.service (tests/tests/gateway_reload.rs)
)

# tshark's wireshark-common asks whether non-root users may capture; answer
# "no" beforehand so that the install never stops for a question.
echo "wireshark-common wireshark-common/install-setuid boolean false" | debconf-set-selections

missing=()
for p in "${PACKAGES[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
        missing+=("$p")
    fi
done

if [ "${#missing[@]}" -gt 0 ]; then
    echo "setup.sh: installing ${missing[*]}"
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}"
else
    echo "setup.sh: all system packages present"
fi

# Rust toolchain (edition 2024, Rust >= 1.85; Debian 12's rustc is too old):
# use rustup's cargo if present, else install the stable toolchain with rustup.
if ! command -v cargo >/dev/null 2>&1 && [ ! -x "$HOME/.cargo/bin/cargo" ]; then
    echo "setup.sh: cargo not found; installing the stable Rust toolchain with rustup"
    if ! command -v curl >/dev/null 2>&1; then
        apt-get update -qq
        apt-get install -y -qq --no-install-recommends curl ca-certificates
    fi
    curl --proto '=https' --tlsv1.2 -sSf https://sh.rustup.rs |
        sh -s -- -y --profile minimal --default-toolchain stable
fi
export PATH="$HOME/.cargo/bin:$PATH"
if ! cargo --version >/dev/null 2>&1; then
    echo "setup.sh: cargo does not run; install Rust (https://rustup.rs) first" >&2
    exit 1
fi
