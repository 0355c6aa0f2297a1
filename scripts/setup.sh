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
    # mount namespaces (unshare) for dahdi-tools tests
    util-linux
)

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

# Rust toolchain: the machine image provides cargo through rustup.
if ! command -v cargo >/dev/null 2>&1; then
    if [ -x "$HOME/.cargo/bin/cargo" ]; then
        export PATH="$HOME/.cargo/bin:$PATH"
    else
        echo "setup.sh: cargo not found; install Rust (https://rustup.rs) first" >&2
        exit 1
    fi
fi
