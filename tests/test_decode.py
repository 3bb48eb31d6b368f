"""Decoder checked against real CPUs: libvirt's dumps and feature map, the kernel's view,
InstLatx64 file names and Debian's `cpuid` tool."""

from __future__ import annotations

import re
import shutil
import subprocess
import xml.etree.ElementTree as ET

import pytest

from cpucompat.decode import decode
from cpucompat.views.decode import decode_document as to_json
from cpucompat.dump import CpuLeaves, Dump
from cpucompat.formats.reader import read_dump
from cpucompat.formats.cpuid_r import format_cpuid_r

from .conftest import REFERENCE, TEST_DATA, reference
from tests.conftest import missing_reference

REGISTERS = ("eax", "ebx", "ecx", "edx")


# --- libvirt: every raw dump against an independent reading of x86_features.xml -------------

def _libvirt_feature_bits() -> dict[str, tuple[int, int, str, int]]:
    """name -> (leaf, subleaf, register, bit) for every CPUID feature of libvirt's map."""
    root = ET.parse(reference("libvirt", "cpu_map", "x86_features.xml")).getroot()
    bits = {}
    for feature in root.iter("feature"):
        cpuid = feature.find("cpuid")
        if cpuid is None:
            continue
        (register, mask), = [(r, int(cpuid.get(r), 16)) for r in REGISTERS if cpuid.get(r)]
        assert mask & (mask - 1) == 0, f"{feature.get('name')}: one bit per feature"
        bits[feature.get("name")] = (int(cpuid.get("eax_in"), 16), int(cpuid.get("ecx_in", "0"), 16),
                                     register, mask.bit_length() - 1)
    return bits


def _libvirt_dump_leaves(path) -> dict[tuple[int, int], dict[str, int]]:
    root = ET.parse(path).getroot()
    return {(int(e.get("eax_in"), 16), int(e.get("ecx_in"), 16)): {r: int(e.get(r), 16) for r in REGISTERS}
            for e in root.iter("cpuid")}


def _in_reported_range(leaves, leaf: int, subleaf: int) -> bool:
    zero = {r: 0 for r in REGISTERS}
    top = 0 if leaf < 0x80000000 else 0x80000000
    if leaf > leaves.get((top, 0), zero)["eax"]:
        return False
    # leaf 7 and 0x14 count their subleaves in subleaf 0's EAX (Intel SDM Vol. 2A, CPUID)
    return subleaf == 0 or leaf not in (7, 0x14, 0x24) or subleaf <= leaves.get((leaf, 0), zero)["eax"]


def _libvirt_dumps():
    folder = REFERENCE / "libvirt" / "cputestdata"
    return sorted(p for p in folder.glob("x86_64-cpuid-*.xml") if not p.name.endswith("-json.xml")
                  and "baseline" not in p.name) if folder.exists() else []


@pytest.mark.parametrize("path", _libvirt_dumps(), ids=lambda p: p.name)
def test_libvirt_dump_decodes_to_exactly_libvirt_features(path):
    bits, leaves = _libvirt_feature_bits(), _libvirt_dump_leaves(path)
    expected = sorted(
        name for name, (leaf, subleaf, register, bit) in bits.items()
        if _in_reported_range(leaves, leaf, subleaf)
        and leaves.get((leaf, subleaf), {}).get(register, 0) >> bit & 1
    )
    assert to_json(decode(read_dump(path)), "libvirt")["features"] == expected


def test_libvirt_dump_list_is_not_empty():
    if not (REFERENCE / "libvirt").exists():
        missing_reference()
    assert len(_libvirt_dumps()) == 37


# --- the kernel's view of the local reference machine and of our own fixture ----------------

#: CPUID bits the kernel does not show in /proc/cpuinfo, for a documented kernel reason.
#: flag -> (reason, condition on the decoded features under which the kernel rule applies).
KERNEL_RULES = {
    # arch/x86/kernel/cpu/common.c init_speculation_control(): when AMD_SSBD (0x80000008
    # EBX[24]) is present, the kernel sets SSBD and clears X86_FEATURE_VIRT_SSBD.
    "virt_ssbd": ("cleared when amd_ssbd is present", lambda f: "amd_ssbd" in f),
    # arch/x86/kernel/cpu/amd.c: "RDSEED32 is broken. Disabling the corresponding CPUID bit."
    # on Zen 5 (family 0x1A) with affected microcode: clear_cpu_cap(c, X86_FEATURE_RDSEED).
    "rdseed": ("cleared on Zen 5 with broken RDSEED32", lambda f: "avx512_vp2intersect" in f),
}
#: Which rules each machine is expected to hit; each must actually occur (no stale excuses).
KERNEL_DIFFERENCES = {
    "amd-epyc-fam26-model2-kvm": {"rdseed"},
    "linux-kvm-zen3-epyc-milan": {"virt_ssbd"},
}


def _kernel_pairs():
    pairs = [(TEST_DATA / "linux-kvm-zen3-epyc-milan_cpuid-r.txt",
              TEST_DATA / "linux-kvm-zen3-epyc-milan_proc-cpuinfo.txt", "linux-kvm-zen3-epyc-milan")]
    local = REFERENCE / "dumps" / "local"
    pairs.append((local / "amd-epyc-fam26-model2-kvm_cpuid-r.txt",
                  local / "amd-epyc-fam26-model2-kvm_proc-cpuinfo.txt", "amd-epyc-fam26-model2-kvm"))
    return pairs


@pytest.mark.parametrize("raw, proc, key", _kernel_pairs(), ids=lambda v: getattr(v, "name", v))
def test_decode_agrees_with_proc_cpuinfo(raw, proc, key):
    if not raw.exists():
        missing_reference()
    from cpucompat.knowledge.features import feature_table

    linux_names = feature_table().by_vocabulary["linux"]
    result = decode(read_dump(raw))
    decoded = set(to_json(result, "linux")["features"])
    kernel = set.intersection(*(set(k.flags) for k in read_dump(proc).kernel))
    plain_cpuid_flags = {flag for flag in kernel if flag in linux_names}
    missing = plain_cpuid_flags - decoded
    assert not missing, f"/proc/cpuinfo flags that are CPUID bits but not decoded: {sorted(missing)}"
    extra = decoded - kernel
    assert extra == KERNEL_DIFFERENCES[key], "unexplained CPUID bits the kernel does not show"
    for flag in extra:
        reason, applies = KERNEL_RULES[flag]
        assert applies(result.features), f"{flag}: {reason}, but the condition does not hold"


# --- every reference dump: signature in the file name, hybrid warning ------------------------

def _reference_dumps():
    folder = REFERENCE / "dumps"
    return sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix in (".txt", ".test")) \
        if folder.exists() else []


def _signature_from_name(name: str) -> int | None:
    match = re.match(r"(GenuineIntel|AuthenticAMD|HygonGenuine|CentaurHauls)([0-9A-F]{7})_", name)
    return int(match.group(2), 16) if match else None


@pytest.mark.parametrize("path", _reference_dumps(), ids=lambda p: p.name)
def test_reference_dump_decodes_with_its_signature(path):
    decoded = decode(read_dump(path))
    assert decoded.features
    sig = _signature_from_name(path.name)
    if sig is None:
        return  # libcpuid/local names carry no signature; checked elsewhere
    base_family, ext_family = sig >> 8 & 0xF, sig >> 20 & 0xFF
    family = base_family + ext_family if base_family == 0xF else base_family
    model = (sig >> 12 & 0xF0 | sig >> 4 & 0xF) if base_family >= 6 else sig >> 4 & 0xF
    assert (decoded.family, decoded.model, decoded.stepping) == (family, model, sig & 0xF)
    assert decoded.vendor == path.name[:12]


def test_alder_lake_hybrid_warns_about_core_types():
    decoded = decode(read_dump(reference("dumps", "instlatx64", "GenuineIntel0090672_AlderLake_01_LC_BC_CPUID.txt")))
    warnings = [w for w in decoded.warnings if "core_type" in w]
    assert len(warnings) == 1
    assert "P-core" in warnings[0] and "E-core" in warnings[0]
    assert decoded.fields["core_type"] == "hybrid: Intel Atom (E-core), Intel Core (P-core)"


def test_syscall_of_a_32_bit_dump_on_intel_is_inferred():
    decoded = decode(read_dump(reference("dumps", "instlatx64", "GenuineIntel00206A7_SandyBridge_CPUID.txt")))
    assert not decoded.per_cpu[0].features - decoded.features
    assert "syscall" in decoded.features and "syscall" in decoded.fields["inferred"]
    raw = read_dump(reference("dumps", "instlatx64", "GenuineIntel00206A7_SandyBridge_CPUID.txt")).cpus[0]
    assert not raw.get(0x80000001)[3] >> 11 & 1, "the dump itself lacks the bit"


def test_hyper_v_guest_names_its_hypervisor():
    decoded = decode(read_dump(reference("dumps", "instlatx64", "GenuineIntel00A0654_CometLake_CPUID.txt")))
    assert decoded.fields["hypervisor"] == "Hyper-V"
    assert "hypervisor" in decoded.features


def test_leaves_above_the_reported_maximum_are_not_read():
    """'Limit CPUID Maxval' style: leaf 7 is in the dump but above max basic leaf 4."""
    dump = read_dump(TEST_DATA / "linux-kvm-zen3-epyc-milan_cpuid-r.txt")
    full = decode(dump).features
    for cpu in dump.cpus:
        cpu.leaves[(0, 0)] = (4, *cpu.get(0)[1:])
    limited = decode(dump)
    assert limited.fields["max_basic_leaf"] == 4
    assert {"avx2", "bmi1", "smep", "erms"} <= full
    assert not {"avx2", "bmi1", "smep", "erms", "xsaveopt"} & limited.features
    assert {"sse4_2", "lm", "nx"} <= limited.features  # leaf 1 and extended leaves still count


def test_intel_echo_of_centaur_leaves_is_ignored():
    """Intel answers 0xC0000000.. with the highest basic leaf's data; those are not features."""
    dump = read_dump(reference("libvirt", "cputestdata", "x86_64-cpuid-Xeon-Platinum-8268.xml"))
    assert dump.cpus[0].get(0xC0000000) != (0, 0, 0, 0), "the echo is in the file"
    from cpucompat.knowledge.features import feature_table

    centaur = {f.name for f in feature_table().features if f.leaf >= 0xC0000000}
    assert centaur and not centaur & decode(dump).features


# --- Debian's cpuid tool as a second decoder of leaves 1, 7 and 0x80000001 -------------------

CHECKED_REGISTERS = [(1, 0, "ecx"), (1, 0, "edx"), (7, 0, "ebx"), (7, 0, "ecx"), (7, 0, "edx"),
                     (7, 1, "eax"), (0x80000001, 0, "ecx"), (0x80000001, 0, "edx")]


def _cpuid_tool_true_lines(cpu: CpuLeaves, tmp_path) -> set[str]:
    path = tmp_path / "one.txt"
    path.write_text(format_cpuid_r(Dump(path="x", format="cpuid-r", cpus=[cpu])).strip() + "\n")
    out = subprocess.run(["cpuid", "-f", str(path)], capture_output=True, text=True, check=True).stdout
    return {re.sub(r"\s+", " ", line.split("=")[0]).strip() + f"@{section}"
            for section, line in _sections(out) if line.rstrip().endswith("= true")}


def _sections(text: str):
    section = ""
    for line in text.splitlines():
        if re.match(r"^ {3}\S.*:$", line):
            section = line.strip()
        yield section, line


def _skeleton(cpu: CpuLeaves) -> CpuLeaves:
    keep = {(0, 0), (0x80000000, 0)}
    leaves = {k: v for k, v in cpu.leaves.items() if k in keep}
    eax1 = cpu.get(1)[0]
    leaves[(1, 0)] = (eax1, 0, 0, 0)
    leaves[(7, 0)] = (1, 0, 0, 0)  # subleaf 1 exists
    leaves[(7, 1)] = (0, 0, 0, 0)
    leaves[(0x80000001, 0)] = (0, 0, 0, 0)
    return CpuLeaves(0, leaves)


def _bit_map(skeleton: CpuLeaves, tmp_path) -> dict[str, tuple[int, int, str, int]]:
    """Which `cpuid -f` line each single bit turns true: learnt from the tool itself.

    Lines the tool synthesises from several bits ("(synth)" sections, e.g. PREFETCH/PREFETCHW
    from 3dnow or prefetchw) and lines more than one bit turns on are left out.
    """
    baseline = _cpuid_tool_true_lines(skeleton, tmp_path)
    triggers: dict[str, set[tuple[int, int, str, int]]] = {}
    for leaf, subleaf, register in CHECKED_REGISTERS:
        for bit in range(32):
            probe = CpuLeaves(0, dict(skeleton.leaves))
            regs = list(probe.get(leaf, subleaf))
            regs[REGISTERS.index(register)] |= 1 << bit
            probe.leaves[(leaf, subleaf)] = tuple(regs)
            for line in _cpuid_tool_true_lines(probe, tmp_path) - baseline:
                triggers.setdefault(line, set()).add((leaf, subleaf, register, bit))
    return {line: next(iter(bits)) for line, bits in triggers.items()
            if len(bits) == 1 and "synth" not in line.split("@", 1)[1]}


def _cpuid_tool_cases():
    cases = [TEST_DATA / "linux-kvm-zen3-epyc-milan_cpuid-r.txt"]
    for name in ("local/amd-epyc-fam26-model2-kvm_cpuid-r.txt",
                 "instlatx64/GenuineIntel00806F8_SapphireRapids_05_CPUID.txt"):
        cases.append(REFERENCE / "dumps" / name)
    return cases


@pytest.mark.skipif(shutil.which("cpuid") is None, reason="Debian package cpuid not installed")
@pytest.mark.parametrize("path", _cpuid_tool_cases(), ids=lambda p: p.name)
def test_feature_bits_agree_with_debian_cpuid_tool(path, tmp_path):
    if not path.exists():
        missing_reference()
    from cpucompat.knowledge.features import feature_table

    cpu = read_dump(path).cpus[0]
    mapping = _bit_map(_skeleton(cpu), tmp_path)
    assert len(mapping) > 150, "the tool should name most bits of these registers"
    tool_bits = {mapping[line] for line in _cpuid_tool_true_lines(cpu, tmp_path) if line in mapping}
    decoded = decode(Dump(path=str(path), format="cpuid-r", cpus=[cpu]))
    ours = decoded.features - set(decoded.fields["inferred"])  # the tool reads raw bits only
    table = feature_table()
    checked = 0
    for location, features in table.by_location.items():
        if location not in {(l, s, r) for l, s, r in CHECKED_REGISTERS}:
            continue
        for feature in features:
            key = (*location, feature.bit)
            if key not in mapping.values():
                continue
            checked += 1
            assert (key in tool_bits) == (feature.name in ours), f"{feature.name} {feature.where()}"
    assert checked > 150


@pytest.mark.skipif(shutil.which("cpuid") is None, reason="Debian package cpuid not installed")
def test_every_bit_debian_cpuid_names_has_a_feature_row(tmp_path):
    """Each bit of leaves 1, 7 and 0x80000001 that Debian's cpuid names is in features.csv.

    The skeleton is a real Intel dump's (Emerald Rapids); the tool is asked bit by bit, so a
    bit the tool knows and the table lacks (RAO-INT, leaf 7.1 EAX[3], once) fails here.
    """
    from cpucompat.knowledge.features import feature_table

    path = reference("dumps", "instlatx64", "GenuineIntel00C06F2_EmeraldRapids_03_CPUID.txt")
    mapping = _bit_map(_skeleton(read_dump(path).cpus[0]), tmp_path)
    rows = {(*location, f.bit) for location, features in feature_table().by_location.items()
            for f in features}
    missing = {line: bit for line, bit in mapping.items() if bit not in rows}
    assert not missing
    assert (7, 1, "eax", 3) in mapping.values()


def test_zhaoxin_family_7_gets_the_extended_model():
    """KX-40000 is family 7 model 0x5B (Linux x86_model() and Debian cpuid apply the extended
    model from family 6 up, not only for 6 and 0xF)."""
    path = reference("dumps", "instlatx64", "CentaurHauls00507B3_KX40000_01_CPUID.txt")
    decoded = decode(read_dump(path))
    assert (decoded.family, decoded.model, decoded.stepping) == (7, 0x5B, 3)
