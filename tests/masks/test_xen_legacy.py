"""Xen xend list form ``cpuid = [ "leaf[,subleaf]:reg=<32 chars>,...", ... ]``, applied to raw CPUID.

Reader from xl.cfg(5) and ``libxl_cpuid_parse_config_xend``: leaf and subleaf read like
``strtoul(.., 0)`` (decimal or ``0x`` hex), each register string exactly 32 characters, the first
one bit 31; ``0``/``1`` force the bit, ``x`` (safe default) and ``k``/``s`` (host value) keep it.
"""

from __future__ import annotations

import ast
import re

import pytest

from cpucompat.decode import Decoded
from cpucompat.masks import plan_for_baseline, plan_for_hosts, render
from cpucompat.masks.plan import header_lines

from .conftest import (
    apply_bits,
    bit_exact_checker,
    decode_cpu,
    exactness_problems,
    instlat,
    instlat_names,
    pair_failures,
    problems,
)

ASSIGNMENT = re.compile(r"cpuid\s*=\s*(\[.*\])\s*", re.DOTALL)
ENTRY = re.compile(r"(\w+)(?:,(\w+))?:(.*)")
REGISTER = re.compile(r"e([abcd])x=([01xks]{32})")


def xend_entries(text: str) -> list[str]:
    body = "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("#"))
    if not body.strip():
        return []
    match = ASSIGNMENT.fullmatch(body.strip())
    assert match, f"not a cpuid = [...] assignment: {body!r}"
    entries = ast.literal_eval(match.group(1))
    assert isinstance(entries, list) and all(isinstance(e, str) for e in entries)
    return entries


def xend_edits(text: str):
    zeros, ones = {}, {}
    for entry in xend_entries(text):
        match = ENTRY.fullmatch(entry)
        assert match, f"bad entry {entry!r}"
        leaf, subleaf, registers = int(match.group(1), 0), int(match.group(2) or "0", 0), match.group(3)
        for part in registers.split(","):
            reg = REGISTER.fullmatch(part.strip())
            assert reg, f"bad register policy {part!r} in {entry!r}"
            location = (leaf, subleaf, f"e{reg.group(1)}x")
            assert location not in zeros, f"{location} given twice"
            zeros[location] = ones[location] = 0
            for position, char in enumerate(reg.group(2)):
                if char == "0":
                    zeros[location] |= 1 << (31 - position)
                elif char == "1":
                    ones[location] |= 1 << (31 - position)
    return zeros, ones


def masked_by_xend(vm: Decoded, text: str) -> Decoded:
    return decode_cpu(apply_bits(vm.cpus[0], *xend_edits(text)))


@pytest.mark.parametrize("source", instlat_names() or ["(no reference dumps)"])
def test_xen_legacy_between_reference_dumps(source):
    failures = pair_failures(source, bit_exact_checker(masked_by_xend, "xen-legacy"))
    assert not failures, "\n".join(failures)


def test_syntax_matches_the_documented_example():
    vm = instlat("GenuineIntel00806F8_SapphireRapids_05_CPUID.txt")
    plan = plan_for_hosts(vm, [instlat("GenuineIntel00306F2_HaswellEP_00_CPUID.txt")])
    text = render(plan, "xen-legacy")
    header = header_lines(plan)
    assert text.splitlines()[:len(header)] == [f"# {line}" for line in header]
    entries = xend_entries(text)
    leaf7 = [e for e in entries if e.startswith("0x00000007,0:")]
    assert len(leaf7) == 1 and "ebx=" in leaf7[0]
    leaf1 = [e for e in entries if ENTRY.fullmatch(e).group(1) == "0x80000001"]
    assert leaf1 and ENTRY.fullmatch(leaf1[0]).group(2) is None  # no subleaf for a plain leaf
    # one string per leaf/subleaf, all registers of it together
    inputs = [e.split(":")[0] for e in entries]
    assert len(inputs) == len(set(inputs))


def test_baseline_plan_on_our_fixture(zen3):
    plan = plan_for_baseline(zen3, "x86-64-v3")
    masked = masked_by_xend(zen3, render(plan, "xen-legacy"))
    original = decode_cpu(zen3.cpus[0])
    assert not problems(masked, original, plan.target_features)
    assert not exactness_problems(masked, original, frozenset(plan.hidden))
    assert "avx2" in masked.features
    assert "sha_ni" in zen3.features and "sha_ni" not in masked.features
