#!/usr/bin/env bash
# Set up everything cpucompat and its tests need on a fresh Debian machine:
# Debian packages (when run as root with apt), a virtual environment in .venv, the package.
# Idempotent; quiet unless something fails.
set -euo pipefail
cd "$(dirname "$0")/.."

# cpuid: reference decoder in tests; qemu-system-x86 + gcc: the CPUID probe guest that proves
# QEMU masks; libvirt-clients/libvirt-daemon: virt-xml-validate and the test:///default driver;
# python3-libvirt: libvirt's own baseline in scripts/bench_fleet.py.
APT_PACKAGES=(cpuid qemu-system-x86 gcc libvirt-clients libvirt-daemon python3-libvirt libxml2-utils)

missing_apt() {
    for p in "${APT_PACKAGES[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || echo "$p"; done
}

if command -v apt-get >/dev/null && [ "$(id -u)" = 0 ]; then
    todo=$(missing_apt)
    if [ -n "$todo" ]; then
        export DEBIAN_FRONTEND=noninteractive
        apt-get -o DPkg::Lock::Timeout=600 update -qq >/dev/null
        # shellcheck disable=SC2086
        apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends $todo >/dev/null
    fi
fi

PYTHON=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
    "$PYTHON" -m venv .venv 2>/dev/null || {
        [ "$(id -u)" = 0 ] && apt-get install -y -qq python3-venv >/dev/null && "$PYTHON" -m venv .venv
    }
fi
.venv/bin/python -m pip install -q --disable-pip-version-check -e ".[test]"
