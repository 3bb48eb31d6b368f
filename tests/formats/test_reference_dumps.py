"""Every real dump in ../shared/reference parses, with the CPU count, signature and vendor
that cpuid-dump-formats.md §3.1 and the file names give; the libvirt raw dumps too."""

from __future__ import annotations

import re
import time

import pytest

from cpucompat.formats.reader import read_dump

from ._reference import CPUTESTDATA, DUMPS, reference_file, require_reference
from tests.conftest import missing_reference

#: file under dumps/ -> (format, CPUs) — the "CPUs" column of cpuid-dump-formats.md §3.1
DUMP_TABLE: dict[str, tuple[str, int]] = {
    "instlatx64/GenuineIntel00006F6_Merom_CPUID.txt": ("aida64", 2),
    "instlatx64/GenuineIntel00106E5_Lynnfield_CPUID.txt": ("aida64", 8),
    "instlatx64/GenuineIntel00206A7_SandyBridge_CPUID.txt": ("aida64", 4),
    "instlatx64/GenuineIntel00306F2_HaswellEP_00_CPUID.txt": ("aida64", 16),
    "instlatx64/GenuineIntel0050654_SkylakeXeon_CPUID9.txt": ("aida64", 12),
    "instlatx64/GenuineIntel0050657_CascadeLakeSP_CPUID1.txt": ("aida64", 20),
    "instlatx64/GenuineIntel00606A6_ICX_CPUID3.txt": ("aida64", 72),
    "instlatx64/GenuineIntel00806F8_SapphireRapids_05_CPUID.txt": ("aida64", 40),
    "instlatx64/GenuineIntel00C06F2_EmeraldRapids_03_CPUID.txt": ("aida64", 56),
    "instlatx64/GenuineIntel0090672_AlderLake_01_LC_BC_CPUID.txt": ("aida64", 24),
    "instlatx64/GenuineIntel00A0654_CometLake_CPUID.txt": ("aida64", 20),
    "instlatx64/AuthenticAMD0000F5A_K8_Sledgehammer_CPUID.txt": ("aida64", 1),
    "instlatx64/AuthenticAMD0100F42_K10_Shanghai_CPUID.txt": ("aida64", 8),
    "instlatx64/AuthenticAMD0600F12_K15_Interlagos_CPUID3.txt": ("aida64", 12),
    "instlatx64/AuthenticAMD0600F20_K15_AbuDhabi_CPUID2.txt": ("aida64", 16),
    "instlatx64/AuthenticAMD0800F12_K17_Zen_CPUID.txt": ("aida64", 64),
    "instlatx64/AuthenticAMD0830F10_K17_Rome_CPUID2.txt": ("aida64", 48),
    "instlatx64/AuthenticAMD0A00F11_K19_Milan_CPUID1.txt": ("aida64", 128),
    "instlatx64/AuthenticAMD0A10F11_K19_Genoa_02_CPUID.txt": ("aida64", 32),
    "instlatx64/AuthenticAMD0B00F21_K20_Turin_01_CPUID.txt": ("aida64", 64),
    "instlatx64/HygonGenuine0900F02_Hygon_CPUID.txt": ("aida64", 16),
    "instlatx64/CentaurHauls00507B3_KX40000_01_CPUID.txt": ("aida64", 16),
    "libcpuid/qemu-virtual-cpu-version.test": ("libcpuid", 1),
    "libcpuid/hygon-c86-7185-32-core-processor.test": ("libcpuid", 1),
    "local/amd-epyc-fam26-model2-kvm_cpuid-r.txt": ("cpuid-r", 2),
    "local/amd-epyc-fam26-model2-kvm_proc-cpuinfo.txt": ("proc-cpuinfo", 2),
}
#: signature and vendor of the files whose names do not carry them (§3.1)
UNNAMED = {
    "libcpuid/qemu-virtual-cpu-version.test": (0x6D3, "GenuineIntel"),
    "libcpuid/hygon-c86-7185-32-core-processor.test": (0x900F01, "HygonGenuine"),
    "local/amd-epyc-fam26-model2-kvm_cpuid-r.txt": (0xB00F21, "AuthenticAMD"),
}
_NAME = re.compile(r"([A-Za-z]{12})([0-9A-F]{7})_")


def vendor(regs: tuple[int, int, int, int]) -> str:
    _, ebx, ecx, edx = regs
    return b"".join(r.to_bytes(4, "little") for r in (ebx, edx, ecx)).decode("ascii")


def expected_identity(relative: str) -> tuple[int, str]:
    if relative in UNNAMED:
        return UNNAMED[relative]
    match = _NAME.match(relative.split("/")[-1])
    assert match, relative
    return int(match.group(2), 16), match.group(1)


@pytest.mark.parametrize("relative", sorted(DUMP_TABLE))
def test_reference_dump_parses(relative):
    path = reference_file(f"dumps/{relative}")
    fmt, cpus = DUMP_TABLE[relative]
    dump = read_dump(path)
    assert dump.format == fmt
    if fmt == "proc-cpuinfo":
        assert len(dump.kernel) == cpus and dump.degraded
        return
    assert len(dump.cpus) == cpus
    signature, vendor_name = expected_identity(relative)
    cpu0 = dump.cpus[0]
    assert cpu0.get(1)[0] == signature
    assert vendor(cpu0.get(0)) == vendor_name


def test_table_lists_every_reference_dump():
    require_reference()
    present = {
        str(p.relative_to(DUMPS)) for p in DUMPS.rglob("*") if p.is_file() and p.name != "SOURCE.md"
    }
    assert present == set(DUMP_TABLE)


def test_multi_cpu_dump_keeps_every_cpu_with_its_header():
    dump = read_dump(reference_file("dumps/instlatx64/GenuineIntel0090672_AlderLake_01_LC_BC_CPUID.txt"))
    assert [cpu.index for cpu in dump.cpus] == list(range(24))
    assert dump.cpus[5].label == "CPUID Registers / Logical CPU #5"
    # the hybrid's core type (leaf 0x1A) differs between P-cores and E-cores
    assert {cpu.get(0x1A)[0] >> 24 for cpu in dump.cpus} == {0x40, 0x20}


def test_sandy_bridge_untagged_xsave_lines_are_subleaves_0_and_2():
    dump = read_dump(reference_file("dumps/instlatx64/GenuineIntel00206A7_SandyBridge_CPUID.txt"))
    for cpu in dump.cpus:
        assert sorted(s for (leaf, s) in cpu.leaves if leaf == 0xD) == [0, 2]
        assert cpu.get(0xD, 2) == (0x100, 0x240, 0, 0)
        assert [cpu.get(4, s)[0] for s in range(4)] == [0x1C004121, 0x1C004122, 0x1C004143, 0x1C03C163]


def test_largest_dump_parses_fast():
    path = reference_file("dumps/instlatx64/AuthenticAMD0A00F11_K19_Milan_CPUID1.txt")
    start = time.perf_counter()
    dump = read_dump(path)
    elapsed = time.perf_counter() - start
    assert len(dump.cpus) == 128
    assert elapsed < 1.0, f"128-CPU dump took {elapsed:.2f} s"


def _libvirt_raw_dumps() -> list:
    if not CPUTESTDATA.is_dir():
        return [None]
    return sorted(
        p.name
        for p in CPUTESTDATA.glob("x86_64-cpuid-*.xml")
        if not p.name.endswith("-json.xml") and not p.name.startswith("x86_64-cpuid-baseline-")
    )


@pytest.mark.parametrize("name", _libvirt_raw_dumps())
def test_libvirt_raw_dump_parses(name):
    if name is None:
        missing_reference()
    dump = read_dump(CPUTESTDATA / name)
    assert dump.format == "libvirt-xml"
    assert len(dump.cpus) == 1
    assert dump.cpus[0].has(0)
    assert vendor(dump.cpus[0].get(0)) in {"GenuineIntel", "AuthenticAMD", "HygonGenuine"}


def test_cross_format_pair_agrees():
    """libcpuid's and libvirt's dumps of a Hygon C86 7185 agree on the feature leaves."""
    libcpuid = read_dump(reference_file("dumps/libcpuid/hygon-c86-7185-32-core-processor.test"))
    libvirt = read_dump(reference_file("libvirt/cputestdata/x86_64-cpuid-Hygon-C86-7185-32-core.xml"))
    a, b = libcpuid.cpus[0], libvirt.cpus[0]
    for leaf in (0x0, 0x7, 0x80000001):
        assert a.get(leaf) == b.get(leaf), hex(leaf)
    apic_id = 0xFF000000  # leaf 1 EBX[31:24]: the APIC ID of whichever CPU ran the dump
    (eax1, ebx1, ecx1, edx1), (eax2, ebx2, ecx2, edx2) = a.get(1), b.get(1)
    assert (eax1, ebx1 & ~apic_id, ecx1, edx1) == (eax2, ebx2 & ~apic_id, ecx2, edx2)
