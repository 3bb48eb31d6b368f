"""VMware ``featMask.vm.cpuid.<NAME> = "Val:0"`` masks, applied to raw CPUID.

Reader: every non-comment line is ``featMask.vm.cpuid.<NAME> = "Val:<n>"``; names are VMware's
(the ``vmware`` column of features.csv), case-insensitive as seen in the wild; ``Val:0`` clears
the feature's bit. Anything the names cannot say must be listed in the comments.
"""

from __future__ import annotations

import re

import pytest

from cpucompat.decode import Decoded
from cpucompat.knowledge.features import feature_table
from cpucompat.masks import plan_for_baseline, plan_for_hosts, render
from cpucompat.masks.plan import header_lines

from .conftest import instlat, instlat_names, named_format_problems, pair_failures

LINE = re.compile(r'featMask\.vm\.cpuid\.([A-Za-z0-9_]+)\s*=\s*"(Val|Min|Max):(\d+)"')


def featmask_edits(text: str):
    vmware = {name.upper(): f for name, f in feature_table().by_vocabulary["vmware"].items()}
    zeros: dict = {}
    seen = set()
    for line in text.splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        match = LINE.fullmatch(line.strip())
        assert match, f"not a featMask line: {line!r}"
        name, kind, value = match.group(1).upper(), match.group(2), int(match.group(3))
        assert name not in seen, f"{name} given twice"
        seen.add(name)
        assert name in vmware, f"{name} is not a VMware feature name"
        assert (kind, value) == ("Val", 0), f"{line!r}: a mask only hides"
        feature = vmware[name]
        zeros[feature.location] = zeros.get(feature.location, 0) | feature.mask
    return zeros, {}


def check(vm: Decoded, plan, target_features, target_fields=None) -> list[str]:
    text = render(plan, "featmask")
    header = header_lines(plan)
    assert text.splitlines()[:len(header)] == [f"# {line}" for line in header]
    zeros, ones = featmask_edits(text)
    return named_format_problems(vm, plan, text, zeros, ones, "vmware", target_features, target_fields)


@pytest.mark.parametrize("source", instlat_names() or ["(no reference dumps)"])
def test_featmask_between_reference_dumps(source):
    failures = pair_failures(source, check)
    assert not failures, "\n".join(failures)


def test_avx512_names_and_the_rest_in_comments():
    vm = instlat("GenuineIntel00806F8_SapphireRapids_05_CPUID.txt")
    plan = plan_for_hosts(vm, [instlat("GenuineIntel00306F2_HaswellEP_00_CPUID.txt")])
    text = render(plan, "featmask")
    assert 'featMask.vm.cpuid.AVX512F = "Val:0"' in text.splitlines()
    assert 'featMask.vm.cpuid.AVX512DQ = "Val:0"' in text.splitlines()
    notes = "\n".join(text.splitlines()[len(header_lines(plan)):])
    assert "la57" in notes and "--format vmx" in notes  # no VMware name: pointed to vmx
    assert "max_basic_leaf" in notes and "phys_addr_bits" in notes


def test_baseline_plan_on_our_fixture(zen3):
    plan = plan_for_baseline(zen3, "x86-64-v2")
    assert not check(zen3, plan, plan.target_features)
    assert 'featMask.vm.cpuid.AVX = "Val:0"' in render(plan, "featmask").splitlines()
