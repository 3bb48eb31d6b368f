"""VMware .vmx ``cpuid.<leaf>[.<subleaf>].<reg>`` masks, checked by applying them to raw CPUID.

The reader below follows VMware's documented semantics, not the renderer: 32 characters, the
leftmost is bit 31, ``:`` or spaces between groups of four; ``0``/``1`` override the bit, ``-``
keeps the default; on an AMD host the ``.amd`` form of a key is read first.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import replace

import pytest
from typer.testing import CliRunner

from cpucompat.cli import app
from cpucompat.decode import Decoded
from cpucompat.masks import MaskOptions, plan_for_baseline, plan_for_hosts, render
from cpucompat.masks.plan import header_lines

from .conftest import (TEST_DATA, ZEN3_KVM, apply_bits, bit_exact_checker, decode_cpu, decoded,
                       exactness_problems, instlat, instlat_names, pair_failures, problems,
                       same_vendor_targets, with_bits_cleared, xsave_problems)

KEY = re.compile(r"cpuid\.([0-9a-f]+)(?:\.([0-9a-f]+))?\.(eax|ebx|ecx|edx)(\.amd)?")
LINE = re.compile(r'\s*(\S+)\s*=\s*"([^"]*)"\s*')
NX_LINE = 'cpuid.80000001.edx = "----:----:---0:----:----:----:----:----"'


def parse_vmx(text: str) -> dict[str, str]:
    """key -> 32-character value; comments and blank lines skipped, anything else an error."""
    entries = {}
    for line in text.splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        match = LINE.fullmatch(line)
        assert match, f"not a .vmx line: {line!r}"
        key, value = match.groups()
        assert KEY.fullmatch(key), f"not a cpuid mask key: {key!r}"
        assert key not in entries, f"{key} given twice"
        entries[key] = value
    return entries


def value_bits(value: str) -> tuple[int, int]:
    """(bits forced to 0, bits forced to 1) of one value, leftmost character = bit 31."""
    chars = value.replace(":", "").replace(" ", "")
    assert len(chars) == 32, f"{value!r} is not 32 characters"
    zeros = ones = 0
    for position, char in enumerate(chars):
        bit = 31 - position
        assert char in "01-", f"{value!r}: {char!r} is not a character a mask should need"
        if char == "0":
            zeros |= 1 << bit
        elif char == "1":
            ones |= 1 << bit
    return zeros, ones


def vmx_edits(text: str, amd: bool):
    """The bits a VMware host of this vendor forces, by (leaf, subleaf, register)."""
    entries = parse_vmx(text)
    chosen: dict[tuple[int, int, str], str] = {}
    for key, value in entries.items():
        leaf, subleaf, register, suffix = KEY.fullmatch(key).groups()
        location = (int(leaf, 16), int(subleaf or "0", 16), register)
        if suffix and not amd:
            continue
        if suffix or location not in chosen:  # on AMD the .amd form wins
            chosen[location] = value
    zeros, ones = {}, {}
    for location, value in chosen.items():
        zeros[location], ones[location] = value_bits(value)
    return zeros, ones


def masked_by_vmx(vm: Decoded, text: str) -> Decoded:
    amd = vm.vendor in ("AuthenticAMD", "HygonGenuine")
    zeros, ones = vmx_edits(text, amd)
    return decode_cpu(apply_bits(vm.cpus[0], zeros, ones))


# --- acceptance: every ordered pair of reference dumps of one vendor -------------------------

@pytest.mark.parametrize("source", instlat_names() or ["(no reference dumps)"])
def test_vmx_mask_between_reference_dumps(source):
    failures = pair_failures(source, bit_exact_checker(masked_by_vmx, "vmx"))
    assert not failures, "\n".join(failures)


def test_every_vendor_pair_is_covered():
    names = instlat_names()
    if not names:
        pytest.skip("../shared/reference not available")
    by_vendor = Counter(instlat(n).vendor for n in names)
    assert by_vendor["AuthenticAMD"] >= 2 and by_vendor["GenuineIntel"] >= 2
    # both directions of every same-vendor pair are masked by the test above
    assert sum(len(same_vendor_targets(n)) for n in names) == sum(k * (k - 1) for k in by_vendor.values())


# --- the classic NX/XD case -------------------------------------------------------------------

def test_nx_hidden_on_target_gives_the_classic_line(zen3):
    target = with_bits_cleared(ZEN3_KVM, (0x80000001, 0, "edx"), 1 << 20)
    assert "nx" in zen3.features and "nx" not in target.features
    plan = plan_for_hosts(zen3, [target])
    # nx, plus what every mask of this VM hides: invtsc (not migratable) and SSBD in 7.0:EDX
    # (which needs SPEC_CTRL, absent in this guest); none of those lives in 80000001h:EDX
    assert "nx" in plan.hidden
    text = render(plan, "vmx")
    lines = text.splitlines()
    assert NX_LINE in lines
    assert NX_LINE.replace(".edx =", ".edx.amd =") in lines
    assert [line for line in lines if line.startswith("cpuid.80000001.")] == [
        NX_LINE, NX_LINE.replace(".edx =", ".edx.amd =")]
    masked = masked_by_vmx(zen3, text)
    assert "nx" not in masked.features
    assert masked.features == decode_cpu(zen3.cpus[0]).features - set(plan.hidden)


def test_documented_example_reads_as_nx_cleared():
    # the formats doc's example, with spaces (one Workstation post) and with colons
    for value in ("----:----:---0:----:----:----:----:----", "---- ---- ---0 ---- ---- ---- ---- ----"):
        assert value_bits(value) == (1 << 20, 0)


# --- shape of the output ----------------------------------------------------------------------

def test_header_comes_first_and_intel_has_no_amd_keys():
    vm = instlat("GenuineIntel00806F8_SapphireRapids_05_CPUID.txt")
    target = instlat("GenuineIntel00306F2_HaswellEP_00_CPUID.txt")
    plan = plan_for_hosts(vm, [target])
    text = render(plan, "vmx")
    header = header_lines(plan)
    assert text.splitlines()[:len(header)] == [f"# {line}" for line in header]
    entries = parse_vmx(text)
    assert entries and not any(key.endswith(".amd") for key in entries)
    # subleaf leaves carry their subleaf; plain leaves do not
    assert "cpuid.7.0.ebx" in entries and "cpuid.7.ebx" not in entries
    assert "cpuid.0.eax" in entries  # max basic leaf lowered to the Haswell's
    assert value_bits(entries["cpuid.0.eax"]) == (~target.fields["max_basic_leaf"] & 0xFFFFFFFF,
                                                  target.fields["max_basic_leaf"])
    zeros, ones = value_bits(entries["cpuid.80000008.eax"])
    assert zeros | ones == 0xFF and ones == target.fields["phys_addr_bits"]
    # Processor Trace state (component 8) is an IA32_XSS component: hidden in 0xD.1 ECX
    assert plan.xsave_hidden >> 8 & 1
    assert value_bits(entries["cpuid.d.1.ecx"])[0] >> 8 & 1
    assert not value_bits(entries["cpuid.d.0.eax"])[0] >> 8 & 1
    assert not xsave_problems(masked_by_vmx(vm, text), plan)


def test_amd_keys_mirror_plain_keys():
    vm = instlat("AuthenticAMD0B00F21_K20_Turin_01_CPUID.txt")
    plan = plan_for_hosts(vm, [instlat("AuthenticAMD0800F12_K17_Zen_CPUID.txt")])
    entries = parse_vmx(render(plan, "vmx"))
    plain = {k: v for k, v in entries.items() if not k.endswith(".amd")}
    assert plain
    amd = {k: v for k, v in entries.items() if k.endswith(".amd")}
    assert {k + ".amd": v for k, v in plain.items()} == amd
    assert "cpuid.d.0.eax" in plain  # AVX-512 state components hidden with AVX-512


def test_baseline_plan_on_our_fixture(zen3):
    plan = plan_for_baseline(zen3, "x86-64-v2")
    masked = masked_by_vmx(zen3, render(plan, "vmx"))
    original = decode_cpu(zen3.cpus[0])
    assert not problems(masked, original, plan.target_features)
    assert not exactness_problems(masked, original, frozenset(plan.hidden))
    assert "avx" not in masked.features and "sse4_2" in masked.features


def test_degraded_input_still_hides_feature_bits(zen3):
    # /proc/cpuinfo only: no raw leaves, the bits come from the feature table alone
    degraded = decoded(str(TEST_DATA / "linux-kvm-zen3-epyc-milan_proc-cpuinfo.txt"))
    assert degraded.degraded and not degraded.cpus
    plan = plan_for_baseline(degraded, "EPYC-Rome-v1")
    assert plan.hidden
    masked = masked_by_vmx(zen3, render(plan, "vmx"))  # applied to the same VM's raw CPUID
    assert not masked.features & set(plan.hidden)


def test_empty_plan_writes_only_comments(zen3):
    plan = replace(plan_for_hosts(zen3, [zen3]), hidden=(), lacking={}, xsave_hidden=0, lower={})
    assert plan.empty
    text = render(plan, "vmx", MaskOptions())
    assert parse_vmx(text) == {}
    assert text.startswith("# cpucompat mask for VM")


# --- the CLI ----------------------------------------------------------------------------------

def test_cli_vmx_and_unknown_format():
    runner = CliRunner()
    result = runner.invoke(app, ["mask", str(ZEN3_KVM), "--qemu-model", "x86-64-v2", "--format", "vmx"])
    assert result.exit_code == 0, result.output
    assert parse_vmx(result.stdout)
    result = runner.invoke(app, ["mask", str(ZEN3_KVM), "--qemu-model", "x86-64-v2", "--format", "vmware"])
    assert result.exit_code == 2


def test_unknown_format_through_the_api(zen3):
    from cpucompat.errors import UsageError

    with pytest.raises(UsageError):
        render(plan_for_baseline(zen3, "x86-64-v2"), "vmware")
