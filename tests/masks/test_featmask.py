"""VMware ``featMask.vm.cpuid.<NAME> = "Val:<n>"`` masks, applied to raw CPUID.

Reader: every non-comment line is ``featMask.vm.cpuid.<NAME> = "Val:<n>"``; names are VMware's
(the ``vmware`` column of features.csv and the XSAVE component and scalar keys of
baselines/evc.json ``vmware_keys``), case-insensitive as seen in the wild; ``Val:0`` clears a
feature's bit or an XSAVE component's bit of leaf 0xD, ``NUMLEVELS``/``NUM_EXT_LEVELS`` set the
max basic / extended leaf. Anything the names cannot say must be listed in the comments.
"""

from __future__ import annotations

import re

import pytest

from cpucompat import levels
from cpucompat.decode import Decoded
from cpucompat.knowledge.features import feature_table
from cpucompat.knowledge.vmware import feature_key_name, featmask_name, vmware_key
from cpucompat.masks import plan_for_baseline, plan_for_hosts, render
from cpucompat.masks.plan import header_lines

from .conftest import apply_bits, decode_cpu, instlat, instlat_names, named_format_problems, pair_failures

LINE = re.compile(r'featMask\.vm\.cpuid\.([A-Za-z0-9_]+)\s*=\s*"(Val|Min|Max):(0x[0-9a-f]+|\d+)"')
LOWERABLE = ("max_basic_leaf", "max_extended_leaf")


def _force(zeros, ones, location, mask, value):
    zeros[location] = (zeros.get(location, 0) & ~mask) | (mask & ~value)
    ones[location] = (ones.get(location, 0) & ~mask) | (mask & value)


def featmask_edits(text: str, vendor: str = "GenuineIntel"):
    """The bits a featMask text forces: (zeros, ones) per (leaf, subleaf, register)."""
    zeros: dict = {}
    ones: dict = {}
    seen = set()
    for line in text.splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        match = LINE.fullmatch(line.strip())
        assert match, f"not a featMask line: {line!r}"
        name, kind, value = match.group(1).upper(), match.group(2), int(match.group(3), 0)
        assert name not in seen, f"{name} given twice"
        seen.add(name)
        meaning, what = vmware_key(f"cpuid.{name}", vendor)
        assert kind == "Val", f"{line!r}: a mask gives exact values"
        if meaning == "feature":
            assert value == 0, f"{line!r}: a mask only hides features"
            feature = feature_table().by_name[what]
            _force(zeros, ones, feature.location, feature.mask, 0)
        elif meaning == "xsave":
            assert value == 0, f"{line!r}: a mask only hides XSAVE components"
            regs = ((0xD, 1, "ecx"), (0xD, 1, "edx")) if name.startswith("XSS_") else ((0xD, 0, "eax"), (0xD, 0, "edx"))
            location, bit = (regs[0], what) if what < 32 else (regs[1], what - 32)
            _force(zeros, ones, location, 1 << bit, 0)
        else:
            assert meaning == "scalar" and what in LOWERABLE, f"{name} is not a VMware feature name"
            field = levels.by_name()[what]
            _force(zeros, ones, (field.leaf, field.subleaf, field.register), 0xFFFFFFFF, value)
    return zeros, ones


def check(vm: Decoded, plan, target_features, target_fields=None) -> list[str]:
    text = render(plan, "featmask")
    header = header_lines(plan)
    assert text.splitlines()[:len(header)] == [f"# {line}" for line in header]
    zeros, ones = featmask_edits(text, vm.vendor)
    found = named_format_problems(vm, plan, text, zeros, ones, "vmware", target_features, target_fields,
                                  lowerable=LOWERABLE)
    masked = decode_cpu(apply_bits(vm.cpus[0], zeros, ones))
    reported = (masked.fields.get("xcr0_supported") or 0) | (masked.fields.get("xss_supported") or 0)
    named = sum(1 << c for c in range(64) if plan.xsave_hidden >> c & 1 and featmask_name("xsave", c))
    if reported & named:
        found.append(f"XSAVE components {reported & named:#x} VMware names are still reported")
    if plan.xsave_hidden & ~named and "cannot hide XSAVE components" not in text:
        found.append("XSAVE components without a VMware name not listed in a comment")
    return found


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
    assert 'featMask.vm.cpuid.XCR0_MASTER_OPMASK = "Val:0"' in text.splitlines()  # the AVX-512 state goes too
    assert 'featMask.vm.cpuid.NUMLEVELS = "Val:0xf"' in text.splitlines()  # as vCenter's EVC featureMasks say it
    notes = "\n".join(text.splitlines()[len(header_lines(plan)):])
    assert re.search(r"no name for them on this CPU vendor:\n(#   .*\n)*#   la57 ", notes)  # no key invented
    assert re.search(r"--format vmx hides .*\bla57\b", notes)  # and what to do instead
    assert "featMask cannot lower phys_addr_bits to 46" in notes and "max_basic_leaf" not in notes


def test_no_line_without_a_vmware_key_every_unnamed_feature_in_a_comment(zen3):
    """Every feature of our Zen 3 fixture hidden at once (a baseline of nothing): each line is a
    key of vCenter's vocabulary, each feature without one is named in a comment."""
    plan = plan_for_baseline(zen3, "qemu64-v1")
    text = render(plan, "featmask")
    zeros, _ = featmask_edits(text, zen3.vendor)
    table = feature_table()
    notes = "\n".join(line for line in text.splitlines() if line.startswith("#"))
    for name in plan.hidden:
        feature = table.by_name[name]
        if feature_key_name(name, zen3.vendor):
            assert zeros.get(feature.location, 0) & feature.mask, name
        else:
            assert re.search(rf"^#   {name} ", notes, re.M), name


def test_baseline_plan_on_our_fixture(zen3):
    plan = plan_for_baseline(zen3, "x86-64-v2")
    assert not check(zen3, plan, plan.target_features)
    assert 'featMask.vm.cpuid.AVX = "Val:0"' in render(plan, "featmask").splitlines()
