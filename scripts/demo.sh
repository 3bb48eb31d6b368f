#!/usr/bin/env bash
# Set everything up, then run the main job on this host and on bundled data: fingerprint this
# host, summarise it, decode it; level a small cluster of bundled dumps (our QEMU probe's view
# of three Intel models), check its EVC mode, compare, and write the masks a VM needs.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
out=$(mktemp -d)
q=tests/data/qemu
cluster=("$q/tcg_SandyBridge-v1_cpuid-r.txt" "$q/tcg_Haswell-v4_cpuid-r.txt" "$q/tcg_Skylake-Server-v4_cpuid-r.txt")
run() { echo "+ cpucompat $*" >&2; .venv/bin/cpucompat "$@"; }
run collect -o "$out/this-host.json"
run collect --check
run decode "$out/this-host.json" --names qemu
run baseline "${cluster[@]}"
run evc check "${cluster[@]}"
run compare "$q/tcg_Skylake-Server-v4_cpuid-r.txt" "$q/tcg_SandyBridge-v1_cpuid-r.txt" || echo "(exit $?: incompatible, as expected)" >&2
run mask "$q/tcg_Skylake-Server-v4_cpuid-r.txt" --target "$q/tcg_SandyBridge-v1_cpuid-r.txt" --format qemu --qemu-base max
run mask "$q/tcg_Skylake-Server-v4_cpuid-r.txt" --target "$q/tcg_SandyBridge-v1_cpuid-r.txt" --format libvirt
echo "fingerprint of this host: $out/this-host.json" >&2
