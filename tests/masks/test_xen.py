"""Xen libxl string form ``cpuid = "host,<name>=0,...,maxleaf=N"``, applied to raw CPUID.

Reader from xl.cfg(5) and ``libxl_cpuid_parse_config``: ``host`` first, then ``key=value``;
feature keys are Xen's names (the ``xen`` column of features.csv), ``0`` clears the bit;
``maxleaf`` is the numeric key for CPUID.0:EAX. Anything the string cannot say must be
listed in the comments.
"""

from __future__ import annotations

import re

import pytest

from cpucompat.decode import Decoded
from cpucompat.knowledge.features import feature_table
from cpucompat.masks import plan_for_baseline, plan_for_hosts, render
from cpucompat.masks.plan import header_lines

from .conftest import instlat, instlat_names, named_format_problems, pair_failures

ASSIGNMENT = re.compile(r'cpuid\s*=\s*"([^"]*)"')


def libxl_edits(text: str):
    xen = feature_table().by_vocabulary["xen"]
    body = [line for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")]
    assert len(body) == 1, f"expected one cpuid= line, got {body!r}"
    match = ASSIGNMENT.fullmatch(body[0].strip())
    assert match, f"not a libxl cpuid string: {body[0]!r}"
    first, *pairs = match.group(1).split(",")
    assert first == "host"
    zeros, ones, seen = {}, {}, set()
    for pair in pairs:
        key, _, value = pair.partition("=")
        assert key not in seen, f"{key} given twice"
        seen.add(key)
        if key == "maxleaf":
            number = int(value, 0)
            zeros[(0, 0, "eax")], ones[(0, 0, "eax")] = ~number & 0xFFFFFFFF, number
            continue
        assert key in xen, f"{key} is not a Xen feature name"
        assert value == "0", f"{pair}: a mask only clears"
        feature = xen[key]
        zeros[feature.location] = zeros.get(feature.location, 0) | feature.mask
    return zeros, ones


def check(vm: Decoded, plan, target_features, target_fields=None) -> list[str]:
    text = render(plan, "xen")
    header = header_lines(plan)
    assert text.splitlines()[:len(header)] == [f"# {line}" for line in header]
    zeros, ones = libxl_edits(text)
    return named_format_problems(vm, plan, text, zeros, ones, "xen", target_features, target_fields,
                                 lowerable=("max_basic_leaf",))


@pytest.mark.parametrize("source", instlat_names() or ["(no reference dumps)"])
def test_xen_between_reference_dumps(source):
    failures = pair_failures(source, check)
    assert not failures, "\n".join(failures)


def test_maxleaf_and_pointer_to_xen_legacy():
    vm = instlat("GenuineIntel00806F8_SapphireRapids_05_CPUID.txt")
    target = instlat("GenuineIntel00306F2_HaswellEP_00_CPUID.txt")
    plan = plan_for_hosts(vm, [target])
    text = render(plan, "xen")
    assert f"maxleaf={target.fields['max_basic_leaf']}" in text
    assert "avx512f=0" in text and "avx512-vnni=0" in text
    notes = "\n".join(text.splitlines()[len(header_lines(plan)):])
    assert "phys_addr_bits" in notes and "xen-legacy" in notes


def test_baseline_plan_on_our_fixture(zen3):
    plan = plan_for_baseline(zen3, "x86-64-v2")
    assert not check(zen3, plan, plan.target_features)
    assert "avx=0" in render(plan, "xen").split('"')[1].split(",")
