"""The CPUID layout has one home (``knowledge/cpuid_layout.py``, ``data/cpuid-leaves.csv``):
the host agent collects, the decoder decodes and the mask writers address exactly the
subleaves its rules give, for every leaf of the table."""

from __future__ import annotations

from cpucompat import cpuid_fields as cf
from cpucompat.collect.leaves import read_leaves
from cpucompat.dump import CpuLeaves
from cpucompat.knowledge.cpuid_layout import (HYPERVISOR_BASE, MAX_SUBLEAF, Bitmap, Count, Until,
                                              subleaf_rules)
from cpucompat.knowledge.features import feature_table
from cpucompat.masks.bits import has_subleaf

from ..collect.fakes import FakeCpuid

GENUINE_INTEL = (0x756E6547, 0x6C65746E, 0x49656E69)  # ebx, ecx, edx of leaf 0


def _cpu_with_subleaves() -> dict:
    """A CPU on which every rule of the table enumerates a few subleaves beyond subleaf 0."""
    table: dict = {(0, 0): (0x24, *GENUINE_INTEL), (0x80000000, 0): (0x80000026, 0, 0, 0)}
    for leaf, rule in subleaf_rules().items():
        if isinstance(rule, Count):
            regs = [0, 0, 0, 0]
            regs[rule.register] = 3
            table[(leaf, 0)] = tuple(regs)
        elif isinstance(rule, Until):
            for subleaf in range(rule.start + 3):  # three live entries, then the end
                regs = [0, 0, 0, 0]
                regs[rule.register] = rule.mask & -rule.mask
                table[(leaf, subleaf)] = tuple(regs)
        else:
            for subleaf, register, shift in rule.sources:
                regs = list(table.get((leaf, subleaf), (0, 0, 0, 0)))
                regs[register] |= 0b10110 << 1 if shift else 0b10110  # bits 1, 2, 4 (or 2, 3, 5)
                table[(leaf, subleaf)] = tuple(regs)
    return table


def test_collect_decode_and_masks_agree_on_every_leaf_of_the_table():
    table = _cpu_with_subleaves()
    leaves, notes = read_leaves(FakeCpuid(table))
    assert notes == []
    cpu = CpuLeaves(0, leaves)
    for leaf in subleaf_rules():
        collected = sorted(s for (l, s) in leaves if l == leaf)
        decoded = [s for s in range(MAX_SUBLEAF + 1) if cf.subleaf_valid(cpu, leaf, s)]
        assert collected == decoded, f"leaf {leaf:#x}"
        assert len(collected) > 1, f"leaf {leaf:#x}"
        assert has_subleaf(leaf), f"leaf {leaf:#x}"


def test_leaf_0x1e_subleaves_are_decoded_as_collected():
    """Leaf 0x1E (AMX TMUL information) counts its subleaves in 0x1E.0.EAX; the decoder once
    ignored that (its own list of counted leaves lacked 0x1E)."""
    base = {(0, 0): (0x1E, *GENUINE_INTEL), (0x1E, 1): (0, 0, 0, 0x1)}
    without = CpuLeaves(0, read_leaves(FakeCpuid(base))[0])
    assert not cf.subleaf_valid(without, 0x1E, 1) and (0x1E, 1) not in without.leaves
    counted = {**base, (0x1E, 0): (1, 0, 0, 0)}
    with_one = CpuLeaves(0, read_leaves(FakeCpuid(counted))[0])
    assert cf.subleaf_valid(with_one, 0x1E, 1) and (0x1E, 1) in with_one.leaves


def test_subleaves_are_nowhere_else_but_in_the_table():
    """A leaf outside the table has subleaf 0 only, so every feature at a subleaf > 0 sits on a
    leaf of the table (else the decoder would never see it)."""
    rules = subleaf_rules()
    assert {f.leaf for f in feature_table().features if f.subleaf} <= set(rules)
    cpu = CpuLeaves(0, {(0, 0): (0x16, *GENUINE_INTEL), (0x16, 1): (1, 1, 1, 1)})
    assert not cf.subleaf_valid(cpu, 0x16, 1) and not has_subleaf(0x16)


def test_the_old_kvm_rule_is_one_rule():
    """Old KVM reports 0 in 0x40000000 EAX, meaning 0x40000001: collect reads that leaf and the
    decoder takes it as the range's maximum."""
    table = {(0, 0): (1, *GENUINE_INTEL), (1, 0): (0, 0, 1 << 31, 0),
             (HYPERVISOR_BASE, 0): (0, 0x4B4D564B, 0x564B4D56, 0x4D), (HYPERVISOR_BASE + 1, 0): (0x7, 0, 0, 0)}
    leaves, _ = read_leaves(FakeCpuid(table))
    assert (HYPERVISOR_BASE + 1, 0) in leaves and (HYPERVISOR_BASE + 2, 0) not in leaves
    assert cf.leaf_ranges(CpuLeaves(0, leaves)).max_hypervisor == HYPERVISOR_BASE + 1


def test_every_rule_kind_is_used():
    assert {type(rule) for rule in subleaf_rules().values()} == {Count, Until, Bitmap}
