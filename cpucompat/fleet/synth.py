"""Synthetic fleets from real dumps, for benchmarks and tests (``cpucompat fleet synth``).

Each synthetic host is one of the source dumps, chosen at random, with what really makes
identical servers differ applied at random: BIOS settings that hide CPUID bits (NX, AES-NI,
VT-x/SVM, x2APIC; "Limit CPUID Maxval", which makes leaf 0 report 3 so every leaf from 4 up
is gone) and feature losses (microcode turning TSX off, a hypervisor or microcode hiding a
subset of AVX-512). Bits are cleared as the hardware would: only the named CPUID bits, so
dependents may stay set (AVX-512VL without AVX-512F) and the baseline policy must cope.

The "Limit CPUID Maxval" variant of each dump is decoded again by the real decoder (it
changes fields, not only bits); every other variation clears bits in the packed rows. The
same seed gives the same fleet. AVX-512 subsets are drawn once per fleet (a few patterns that
hosts share), as a real fleet has a few configurations, not one per host.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ..formats import fingerprint
from ..decode import Decoded, decode
from ..dump import REGISTERS, CpuLeaves, Dump
from ..errors import UsageError
from ..evc import finding_features
from ..knowledge.features import feature_table
from .bits import columns, pack
from .model import Fleet, host_scalars, pandas, scalar_frame


@dataclass(frozen=True)
class Variation:
    """CPUID bits that a share of the hosts has cleared."""

    label: str
    share: float
    features: tuple[str, ...]


#: BIOS findings simulated, with the share of hosts that have each; the features each hides
#: are data/finding-features.csv's (``evc.finding_features``).
FINDING_SHARES = (
    ("nx-disabled", "BIOS: NX (execute disable) off", 0.005),
    ("aes-disabled", "BIOS: AES-NI off", 0.01),
    ("vt-disabled", "BIOS: virtualization (VT-x/AMD-V) off", 0.03),
)
#: Losses no collector finding names, each with its share and the features lost.
OTHER_LOSSES = (
    Variation("BIOS: x2APIC off", 0.01, ("x2apic",)),
    Variation("microcode: TSX off (TSX_CTRL CPUID clear)", 0.2, ("hle", "rtm")),
)


def variations() -> tuple[Variation, ...]:
    """BIOS settings and losses, each applied to a host with probability ``share``."""
    hidden = finding_features()
    found = tuple(Variation(label, share, tuple(sorted(hidden[finding]))) for finding, label, share in FINDING_SHARES)
    return found + OTHER_LOSSES


#: Share of hosts with "Limit CPUID Maxval" on, and the leaf-0 maximum it reports.
LIMIT_MAXVAL_SHARE, LIMIT_MAXVAL = 0.005, 3
#: Share of hosts with part of AVX-512 hidden, the number of distinct patterns, and the
#: chance of each AVX-512 feature being part of a pattern.
AVX512_SHARE, AVX512_PATTERNS, AVX512_DROP = 0.05, 4, 0.4


def limit_maxval(host: Decoded) -> Decoded:
    """The host as it looks with "Limit CPUID Maxval" on (decoded again from changed leaves)."""
    if not host.cpus or host.fields.get("max_basic_leaf", 0) <= LIMIT_MAXVAL:
        return host
    cpus = []
    for cpu in host.cpus:
        eax, *others = cpu.get(0, 0)
        cpus.append(CpuLeaves(cpu.index, {**cpu.leaves, (0, 0): (LIMIT_MAXVAL, *others)}, cpu.xcr0, cpu.label))
    return decode(Dump(path=host.path, format=host.format, cpus=cpus))


def _clear(bits: np.ndarray, hit: np.ndarray, masks: np.ndarray) -> None:
    """Clear the bits of ``masks`` (one row per hit host, or one row for all) in the hit rows."""
    bits[hit] &= ~masks


def _avx512_losses(bits: np.ndarray, rng: np.random.Generator) -> None:
    avx512 = [name for name in columns() if name.startswith("avx512")]
    patterns = np.stack([pack(np.array(avx512)[rng.random(len(avx512)) < AVX512_DROP])
                         for _ in range(AVX512_PATTERNS)])
    hit = rng.random(bits.shape[0]) < AVX512_SHARE
    _clear(bits, hit, patterns[rng.integers(0, AVX512_PATTERNS, int(hit.sum()))])


def synthesize(sources: Sequence[Decoded], hosts: int, seed: int = 0) -> Fleet:
    """A fleet of ``hosts`` synthetic hosts drawn from ``sources`` (seeded)."""
    pd = pandas()

    if not sources:
        raise UsageError("fleet synth needs at least one --from dump")
    if hosts < 1:
        raise UsageError("--hosts must be at least 1")
    rng = np.random.default_rng(seed)
    variants = [v for source in sources for v in (source, limit_maxval(source))]
    pick = rng.integers(0, len(sources), hosts) * 2 + (rng.random(hosts) < LIMIT_MAXVAL_SHARE)
    bits = np.stack([pack(v.features) for v in variants])[pick]
    for variation in variations():
        _clear(bits, rng.random(hosts) < variation.share, pack(variation.features))
    _avx512_losses(bits, rng)
    scalars = scalar_frame([host_scalars(v) for v in variants]).iloc[pick].reset_index(drop=True)
    width = len(str(hosts - 1))
    names = pd.Series([f"synth-{i:0{width}d}" for i in range(hosts)], dtype="str")
    return Fleet(names, bits, scalars)


# --- fingerprint files (ingest benchmarks and tests) ------------------------------------

def clear_features(cpu: CpuLeaves, names: Sequence[str]) -> CpuLeaves:
    """A copy of one CPU's raw leaves with the CPUID bits of ``names`` cleared."""
    leaves = dict(cpu.leaves)
    for name in names:
        feature = feature_table().by_name[name]
        key, slot = (feature.leaf, feature.subleaf), REGISTERS.index(feature.reg)
        if key in leaves:
            regs = list(leaves[key])
            regs[slot] &= ~feature.mask
            leaves[key] = tuple(regs)
    return CpuLeaves(cpu.index, leaves, cpu.xcr0, cpu.label)


def fingerprint_configs(dump: Dump, configs: int, seed: int = 0) -> list[dict]:
    """``configs`` fingerprints of the dump's CPUs, each with a random set of ``variations()`` applied."""
    rng = np.random.default_rng(seed)
    documents = []
    for _ in range(configs):
        names = [n for v in variations() if rng.random() < 0.3 for n in v.features]
        cpus = [clear_features(cpu, names) for cpu in dump.cpus]
        documents.append(fingerprint.build(cpus, host={}, source={"method": "synth", "from": dump.path}))
    return documents


def write_fingerprints(dump: Dump, folder: str, count: int, configs: int = 16, seed: int = 0) -> None:
    """Write ``count`` fingerprint files (hosts fp-00000...) drawn from a few configurations."""
    import os

    documents = fingerprint_configs(dump, configs, seed)
    pick = np.random.default_rng(seed).integers(0, configs, count)
    width = len(str(count - 1))
    for i, which in enumerate(pick):
        name = f"fp-{i:0{width}d}"
        document = {**documents[which], "host": {**documents[which]["host"], "hostname": name}}  # the schema wants tool_version
        with open(os.path.join(folder, f"{name}.json"), "w", encoding="utf-8") as handle:
            handle.write(fingerprint.dumps(document))
