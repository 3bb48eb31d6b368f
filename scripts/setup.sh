#!/usr/bin/env bash
# Set up everything cpucompat and its tests need on a fresh Debian machine:
# Debian packages (when run as root with apt), a virtual environment in .venv, the package.
# Idempotent; quiet unless something fails.
set -euo pipefail
cd "$(dirname "$0")/.."

APT_PACKAGES=(cpuid)

missing_apt() {
    for p in "${APT_PACKAGES[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || echo "$p"; done
}

if command -v apt-get >/dev/null && [ "$(id -u)" = 0 ]; then
    todo=$(missing_apt)
    if [ -n "$todo" ]; then
        export DEBIAN_FRONTEND=noninteractive
        apt-get -o DPkg::Lock::Timeout=600 update -qq >/dev/null
        # shellcheck disable=SC2086
        apt-get -o DPkg::Lock::Timeout=600 install -y -qq $todo >/dev/null
    fi
fi

PYTHON=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
    "$PYTHON" -m venv .venv 2>/dev/null || {
        [ "$(id -u)" = 0 ] && apt-get install -y -qq python3-venv >/dev/null && "$PYTHON" -m venv .venv
    }
fi
.venv/bin/python -m pip install -q --disable-pip-version-check -e ".[test]"
