#!/usr/bin/env bash
# Set everything up, then run the main job on this host and on bundled data:
# collect this host's fingerprint, summarise it, and decode a bundled dump.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
out=$(mktemp -d)
set -x
.venv/bin/cpucompat collect -o "$out/this-host.json"
.venv/bin/cpucompat collect --check
.venv/bin/cpucompat decode "$out/this-host.json" --names qemu
.venv/bin/cpucompat decode tests/data/linux-kvm-zen3-epyc-milan_cpuid-r.txt --names libvirt --json
