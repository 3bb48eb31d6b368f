"""VMware .vmx legacy ``cpuid.<leaf>.<reg>`` masks, checked by applying them to raw CPUID.

The reader below follows VMware's documented semantics, not the renderer: 32 characters, the
leftmost is bit 31, ``:`` or spaces between groups of four (or none); ``0``/``1`` override the
bit, ``-`` keeps the default; on an AMD host the ``.amd`` form of a key is read first; a leaf
with subleaves is read at subleaf 0 (``cpuid.7.ebx``, the one real-world leaf-7 line). The
renderer writes no subleaf key (no evidence ESXi reads one): what lives in other subleaves must
be listed in its comments instead.
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
from cpucompat.masks.vmx import unexpressed_features

from .conftest import (
    LEVELLED,
    TEST_DATA,
    ZEN3_KVM,
    apply_bits,
    comment_text,
    decode_cpu,
    decoded,
    exactness_problems,
    instlat,
    instlat_names,
    pair_failures,
    problems,
    same_vendor_targets,
    with_bits_cleared,
)
from tests.conftest import missing_reference

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


def legacy_check(vm: Decoded, plan, target_features, target_fields) -> list[str]:
    """Bit-exact for what the legacy form can say; what it cannot (features in subleaves other
    than 7.0, XSAVE components) must be named in its comments."""
    text = render(plan, "vmx")
    unexpressed = unexpressed_features(plan)
    notes = comment_text(text, len(header_lines(plan)))
    found = [f"{name} neither hidden nor listed in a comment" for name in sorted(unexpressed)
             if not re.search(rf"(?<![\w.]){re.escape(name)}(?![\w.])", notes)]
    if plan.xsave_hidden and "XSAVE state components" not in notes:
        found.append("hidden XSAVE components neither hidden nor listed in a comment")
    original = decode_cpu(vm.cpus[0], vm.name)
    masked = masked_by_vmx(vm, text)
    fields = {k: v for k, v in (target_fields or {}).items() if k in LEVELLED}
    return (found + problems(masked, original, target_features, fields, unexpressed)
            + exactness_problems(masked, original, frozenset(plan.hidden), unexpressed))


# --- acceptance: every ordered pair of reference dumps of one vendor -------------------------

@pytest.mark.parametrize("source", instlat_names() or ["(no reference dumps)"])
def test_vmx_mask_between_reference_dumps(source):
    failures = pair_failures(source, legacy_check)
    assert not failures, "\n".join(failures)


def test_every_vendor_pair_is_covered():
    names = instlat_names()
    if not names:
        missing_reference()
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
    # leaf 7 as the one real-world line writes it: no subleaf, no colons; no other subleaf key
    assert "cpuid.7.ebx" in entries and ":" not in entries["cpuid.7.ebx"]
    assert not [k for k in entries if re.fullmatch(r"cpuid\.[0-9a-f]+\.[0-9a-f]+\.e[a-d]x", k)]
    assert "cpuid.0.eax" in entries  # max basic leaf lowered to the Haswell's
    assert value_bits(entries["cpuid.0.eax"]) == (~target.fields["max_basic_leaf"] & 0xFFFFFFFF,
                                                  target.fields["max_basic_leaf"])
    zeros, ones = value_bits(entries["cpuid.80000008.eax"])
    assert zeros | ones == 0xFF and ones == target.fields["phys_addr_bits"]
    # Processor Trace state (component 8): leaf 0xD has subleaves, so it is named, not written
    assert plan.xsave_hidden >> 8 & 1
    assert not [k for k in entries if k.startswith("cpuid.d.")]
    notes = comment_text(text, len(header))
    assert "XSAVE state components" in notes and "pt(8)" in notes and "--format featmask hides XCR0_MASTER_OPMASK" in notes
    # subleaf features: featmask where VMware names them (7.1 AVX_VNNI), never where it does not (7.2 BHI_CTRL)
    assert re.search(r"avx_vnni [^;]*; use --format featmask", notes)
    assert re.search(r"bhi_ctrl [^;]*; featMask has no VMware name for them either", notes)


def test_amd_keys_mirror_plain_keys():
    vm = instlat("AuthenticAMD0B00F21_K20_Turin_01_CPUID.txt")
    plan = plan_for_hosts(vm, [instlat("AuthenticAMD0800F12_K17_Zen_CPUID.txt")])
    entries = parse_vmx(render(plan, "vmx"))
    plain = {k: v for k, v in entries.items() if not k.endswith(".amd")}
    assert plain
    amd = {k: v for k, v in entries.items() if k.endswith(".amd")}
    assert {k + ".amd": v for k, v in plain.items()} == amd
    assert not [k for k in plain if k.startswith("cpuid.d.")]  # AVX-512 state: named in a comment
    assert "XSAVE state components" in render(plan, "vmx")


def test_baseline_plan_on_our_fixture(zen3):
    plan = plan_for_baseline(zen3, "x86-64-v2")
    masked = masked_by_vmx(zen3, render(plan, "vmx"))
    original = decode_cpu(zen3.cpus[0])
    unexpressed = unexpressed_features(plan)
    assert not problems(masked, original, plan.target_features, None, unexpressed)
    assert not exactness_problems(masked, original, frozenset(plan.hidden), unexpressed)
    assert "avx" not in masked.features and "sse4_2" in masked.features


def test_degraded_input_still_hides_feature_bits(zen3):
    # /proc/cpuinfo only: no raw leaves, the bits come from the feature table alone
    degraded = decoded(str(TEST_DATA / "linux-kvm-zen3-epyc-milan_proc-cpuinfo.txt"))
    assert degraded.degraded and not degraded.cpus
    plan = plan_for_baseline(degraded, "EPYC-Rome-v1")
    assert plan.hidden
    masked = masked_by_vmx(zen3, render(plan, "vmx"))  # applied to the same VM's raw CPUID
    assert not masked.features & (set(plan.hidden) - unexpressed_features(plan))


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
