"""Shared helpers of the mask tests.

Reference dumps are decoded once per session. A mask is checked the same way for every format:
the test's own reader of the generated text turns it into forced bits, ``apply_bits`` applies
them to the VM's raw CPUID (CPU 0), ``decode_cpu`` decodes the result, and ``problems`` says
whether the masked CPU lies within the targets and keeps what they share.
"""

from __future__ import annotations

import functools
import re
from pathlib import Path

import pytest

from cpucompat import levels
from cpucompat.knowledge import baselines
from cpucompat.cluster import Policy, usable_features
from cpucompat.decode import Decoded, decode
from cpucompat.dump import REGISTERS, CpuLeaves, Dump
from cpucompat.knowledge.features import feature_table
from cpucompat.masks import plan_for_hosts, render
from cpucompat.masks.plan import header_lines
from cpucompat.formats.reader import read_dump

from ..conftest import REFERENCE, TEST_DATA

INSTLAT = REFERENCE / "dumps" / "instlatx64"
ZEN3_KVM = TEST_DATA / "linux-kvm-zen3-epyc-milan_cpuid-r.txt"
#: Scalar fields a mask lowers; the masked CPU must not report more than the targets.
LEVELLED = tuple(f.name for f in levels.levelled_fields() if f.rule == "min" and f.lowerable)

Location = tuple[int, int, str]


def instlat_names() -> list[str]:
    """File names of the InstLatx64 reference dumps (empty when ../shared/reference is absent)."""
    return sorted(p.name for p in INSTLAT.glob("*.txt")) if INSTLAT.is_dir() else []


@functools.cache
def decoded(path: str) -> Decoded:
    """A dump, parsed and decoded once per session."""
    return decode(read_dump(path))


def instlat(name: str) -> Decoded:
    path = INSTLAT / name
    if not path.is_file():
        pytest.skip("../shared/reference not available")
    return decoded(str(path))


def same_vendor_targets(name: str) -> list[str]:
    """Every other reference dump of the same CPU vendor."""
    vendor = instlat(name).vendor
    return [other for other in instlat_names() if other != name and instlat(other).vendor == vendor]


def bit_exact_checker(masker, fmt: str):
    """A ``pair_failures`` check for a bit-level format: ``masker(vm, text) -> Decoded`` applies
    the rendered mask to the VM's leaves; the result must lie within the target, hide exactly the
    plan's features, and lose the hidden XSAVE state."""

    def check(vm: Decoded, plan, target_features, target_fields) -> list[str]:
        original = decode_cpu(vm.cpus[0], vm.name)
        masked = masker(vm, render(plan, fmt))
        return (problems(masked, original, target_features, target_fields)
                + exactness_problems(masked, original, frozenset(plan.hidden)) + xsave_problems(masked, plan))

    return check


def pair_failures(source: str, check) -> list[str]:
    """Run ``check(vm, plan, target_features, target_fields) -> [problems]`` for the plan from one
    reference dump to every other dump of its vendor; the problems, each naming its pair."""
    vm = instlat(source)
    failures = []
    for target_name in same_vendor_targets(source):
        target = instlat(target_name)
        found = check(vm, plan_for_hosts(vm, [target]), target.features, target.fields)
        failures += [f"{source} -> {target_name}: {p}" for p in found]
    return failures


def zen3_kvm() -> Decoded:
    """Our own fixture: an EPYC Milan guest under KVM (cpuid -r)."""
    return decoded(str(ZEN3_KVM))


def with_bits_cleared(dump_path: Path, location: Location, mask: int) -> Decoded:
    """A dump read from disk with some bits cleared on every CPU, decoded."""
    dump = read_dump(str(dump_path))
    leaf, subleaf, register = location
    index = REGISTERS.index(register)
    for cpu in dump.cpus:
        regs = list(cpu.get(leaf, subleaf))
        regs[index] &= ~mask
        cpu.leaves[(leaf, subleaf)] = tuple(regs)
    return decode(dump)


def apply_bits(cpu: CpuLeaves, zeros: dict[Location, int], ones: dict[Location, int]) -> CpuLeaves:
    """A copy of one CPU's leaves with bits forced to 0 and to 1."""
    leaves = dict(cpu.leaves)
    for location in set(zeros) | set(ones):
        leaf, subleaf, register = location
        regs = list(leaves.get((leaf, subleaf), (0, 0, 0, 0)))
        index = REGISTERS.index(register)
        regs[index] = (regs[index] & ~zeros.get(location, 0) & 0xFFFFFFFF) | ones.get(location, 0)
        leaves[(leaf, subleaf)] = tuple(regs)
    return CpuLeaves(0, leaves, xcr0=cpu.xcr0)


def decode_cpu(cpu: CpuLeaves, name: str = "masked") -> Decoded:
    return decode(Dump(path=name, format="test", cpus=[CpuLeaves(0, dict(cpu.leaves), xcr0=cpu.xcr0)]))


def exempt(features: frozenset[str]) -> frozenset[str]:
    """Bits no mask hides: OS-dependent ones, the hypervisor bit, and by default host-only bits
    (no guest sees them) and those KVM emulates on every host (data/guest-visibility.csv)."""
    table = feature_table()
    return frozenset(n for n in features if n == "hypervisor" or table.by_name[n].kind == "os"
                     or n in Policy().never_blocking())


def problems(masked: Decoded, source: Decoded, target_features: frozenset[str],
             target_fields: dict | None = None, unexpressed: frozenset[str] = frozenset()) -> list[str]:
    """Why a masked CPU does not lie within the targets or lost something they share.

    ``source`` is the unmasked CPU 0, ``target_features`` what every target has;
    ``unexpressed`` are hidden features the format cannot name (listed in its comments).
    """
    found = []
    extra = masked.features - target_features - exempt(masked.features) - unexpressed
    if extra:
        found.append(f"keeps features the targets lack: {sorted(extra)}")
    lost = (source.features & usable_features(target_features)) - masked.features
    if lost:
        found.append(f"lost features the targets share: {sorted(lost)}")
    if masked.vendor != source.vendor:
        found.append(f"vendor changed to {masked.vendor}")
    for name in LEVELLED if target_fields else ():
        mine, theirs = masked.fields.get(name), target_fields.get(name)
        if mine is not None and theirs is not None and mine > theirs:
            found.append(f"{name} {mine} above the targets' {theirs}")
    if target_fields:
        mine, theirs = masked.fields.get("xcr0_supported"), target_fields.get("xcr0_supported")
        if mine is not None and theirs is not None and mine & ~theirs:
            found.append(f"XCR0 components {mine & ~theirs:#x} the targets lack")
    return found


def exactness_problems(masked: Decoded, source: Decoded, hidden: frozenset[str],
                       unexpressed: frozenset[str] = frozenset()) -> list[str]:
    """The mask hides every expressible hidden feature and nothing else."""
    found = []
    # host-only and KVM-emulated bits go with a lowered max leaf (IBS in 0x8000001B, arat in leaf 6)
    hidden_too = (source.features - hidden - Policy().never_blocking()) - masked.features
    if hidden_too:
        found.append(f"hid features the plan keeps: {sorted(hidden_too)}")
    still = (hidden - unexpressed) & masked.features
    if still:
        found.append(f"did not hide: {sorted(still)}")
    return found


def xsave_problems(masked: Decoded, plan) -> list[str]:
    """Hidden XSAVE components must be gone from CPUID.0xD.0 (XCR0) and 0xD.1 (IA32_XSS)."""
    reported = (masked.fields.get("xcr0_supported") or 0) | (masked.fields.get("xss_supported") or 0)
    left = reported & plan.xsave_hidden
    return [f"XSAVE components {left:#x} still reported"] if left else []


def model_problems(vm: Decoded, plan, model_name: str, removed: frozenset[str], target_features,
                   notes: str) -> list[str]:
    """QEMU starts from the model: what the flags leave of it must be features the VM keeps, and
    all of it should be on the targets (when no model is, the comments must say so)."""
    model = baselines.get(model_name)  # a QEMU model cpucompat knows
    found = []
    # what KVM emulates (x2apic, hypervisor ...) every guest gets anyway: only ``required`` counts
    beyond = model.required - target_features - exempt(model.required)
    if beyond and "features some target lacks" not in notes:
        found.append(f"model {model_name} has features the targets lack, unannounced: {sorted(beyond)}")
    offered = model.required - removed
    foreign = offered - (vm.features - set(plan.hidden))
    if foreign:
        found.append(f"model {model_name} offers features the masked VM does not keep: {sorted(foreign)}")
    return found


def comment_text(text: str, header_count: int, prefix: str = "#") -> str:
    """The comment lines after the header (the header names every hidden feature anyway)."""
    comments = [line for line in text.splitlines() if line.lstrip().startswith(prefix)]
    return "\n".join(comments[header_count:])


def named_format_problems(vm: Decoded, plan, text: str, zeros, ones, vocabulary: str,
                          target_features: frozenset[str], target_fields: dict | None = None,
                          lowerable: tuple[str, ...] = ()) -> list[str]:
    """Check a name-based mask that a test's reader turned into forced bits.

    Hidden features the vocabulary has no name for (features.csv) must be listed in the
    comments after the header, and so must lowered fields the format cannot express; the rest
    is exact: every nameable hidden feature gone, nothing else.
    """
    table = feature_table()
    unexpressed = frozenset(n for n in plan.hidden if not table.by_name[n].name_in(vocabulary))
    notes = comment_text(text, len(header_lines(plan)))
    found = [f"{name} neither hidden nor listed in a comment" for name in sorted(unexpressed)
             if not re.search(rf"(?<![\w.]){re.escape(name)}(?![\w.])", notes)]
    found += [f"lowering {name} neither expressed nor listed in a comment" for name in plan.lower
              if name not in lowerable and name not in notes]
    original = decode_cpu(vm.cpus[0], vm.name)
    masked = decode_cpu(apply_bits(vm.cpus[0], zeros, ones))
    fields = {k: v for k, v in (target_fields or {}).items() if k in lowerable}
    found += problems(masked, original, target_features, fields, unexpressed)
    found += exactness_problems(masked, original, frozenset(plan.hidden), unexpressed)
    return found


@pytest.fixture(scope="session")
def zen3():
    """Our own EPYC Milan KVM guest fixture, decoded."""
    return zen3_kvm()
