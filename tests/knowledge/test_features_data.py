"""Invariants of the knowledge files data/features.csv and data/feature-deps.csv.

Read with the csv module only (no cpucompat imports), so a wrong bit or name fails here whatever
the library code does. Cross-checks against ../shared/reference (libvirt's cpu_map and a real
/proc/cpuinfo) skip cleanly when that folder is absent.
"""

from __future__ import annotations

import csv
import platform
import re
from collections import Counter
from pathlib import Path

import pytest
from tests.conftest import missing_reference

try:  # defusedxml is a runtime dependency; fall back to the stdlib parser for a bare checkout
    from defusedxml.ElementTree import parse as parse_xml
except ImportError:  # pragma: no cover
    from xml.etree.ElementTree import parse as parse_xml

REPO = Path(__file__).resolve().parents[2]
DATA = REPO / "data"
REFERENCE = REPO / ".." / "shared" / "reference"
LIBVIRT_FEATURES = REFERENCE / "libvirt" / "cpu_map" / "x86_features.xml"
REFERENCE_CPUINFO = REFERENCE / "dumps" / "local" / "amd-epyc-fam26-model2-kvm_proc-cpuinfo.txt"
OWN_CPUINFO = REPO / "tests" / "data" / "linux-kvm-zen3-epyc-milan_proc-cpuinfo.txt"

COLUMNS = [
    "leaf", "subleaf", "reg", "bit", "name", "linux_name", "qemu_name", "libvirt_name",
    "vmware_name", "xen_name", "nfd_name", "vendor", "kind", "migratable", "description",
]
NAME_COLUMNS = ["name", "linux_name", "qemu_name", "libvirt_name", "vmware_name", "xen_name", "nfd_name"]
VENDORS = {"any", "intel", "amd", "centaur"}
KINDS = {"isa", "security", "virt", "os", "info"}
DEP_SOURCES = {"linux", "qemu", "linux+qemu", "isa"}

# libvirt marks these migratable='no' but cpucompat deliberately keeps them migratable.
LIBVIRT_UNMIGRATABLE_ALLOWED = {
    "xsaves",  # QEMU migrates XSAVES state: its only unmigratable CPUID flag is invtsc
}

# /proc/cpuinfo flags that the kernel synthesises (Linux-defined words 3, 7, 8, 11, 21) or derives
# from something other than a single CPUID bit; they have no row in features.csv.
SYNTHETIC_FLAGS = {
    "constant_tsc",  # set from invtsc (0x80000007 EDX[8]) or by family/model
    "nonstop_tsc",  # set from invtsc or by family/model
    "nonstop_tsc_s3",  # model list
    "tsc_known_freq",  # TSC frequency from CPUID 0x15/0x16, MSR or hypervisor
    "tsc_reliable",  # TSC declared reliable (hypervisor or platform)
    "rep_good",  # REP string microcode is fast (vendor code)
    "nopl",  # NOPL instructions usable (vendor code)
    "xtopology",  # leaf 0xB/0x1F topology enumeration is used
    "cpuid",  # CPU has the CPUID instruction
    "extd_apicid",  # AMD 8-bit extended APIC ID
    "amd_dcm",  # AMD multi-node package
    "up",  # SMP kernel running on one CPU
    "art",  # always running timer, derived from leaf 0x15
    "arch_perfmon",  # architectural perfmon, derived from leaf 0xA version
    "pebs",  # precise event based sampling (MSR)
    "bts",  # branch trace store (MSR)
    "cxmmx",  # Cyrix MMX extensions (vendor code)
    "k6_mtrr",  # AMD K6 MTRRs (vendor code)
    "cyrix_arr",  # Cyrix ARRs (vendor code)
    "centaur_mcr",  # Centaur MCRs (vendor code)
    "ring3mwait",  # Xeon Phi ring-3 MWAIT (MSR)
    "cpuid_fault",  # CPUID faulting (MSR)
    "pti",  # kernel page-table isolation in use
    "kaiser",  # page-table isolation, older distribution kernels
    "invpcid_single",  # INVPCID with CR4.PCIDE, older kernels
    "ibrs",  # speculation control in use (from 7.0 EDX[26] or 0x80000008 EBX[14])
    "ibpb",  # from 7.0 EDX[26] or 0x80000008 EBX[12]
    "stibp",  # from 7.0 EDX[27] or 0x80000008 EBX[15]
    "ssbd",  # from 7.0 EDX[31], 0x80000008 EBX[24/25] or family-specific MSRs
    "ibrs_enhanced",  # from IA32_ARCH_CAPABILITIES (MSR)
    "tdx_host_platform",  # TDX host support (firmware)
    "tpr_shadow",  # VMX capability MSRs
    "flexpriority",  # VMX capability MSRs
    "ept",  # VMX capability MSRs
    "vpid",  # VMX capability MSRs
    "ept_ad",  # VMX capability MSRs
    "vmmcall",  # prefer VMMCALL over VMCALL (AMD/Hygon guests)
    "tdx_guest",  # running as a TDX guest (leaf 0x21 signature)
    "split_lock_detect",  # IA32_CORE_CAPABILITIES / model list
    "user_shstk",  # user shadow stacks enabled by the kernel
}


def read_csv(path: Path) -> tuple[list[str], list[dict[str, str]]]:
    with path.open(newline="", encoding="utf-8") as f:
        lines = [line for line in f if not line.startswith("#")]
    reader = csv.DictReader(lines)
    return list(reader.fieldnames or []), list(reader)


@pytest.fixture(scope="module")
def features() -> list[dict[str, str]]:
    return read_csv(DATA / "features.csv")[1]


@pytest.fixture(scope="module")
def by_name(features: list[dict[str, str]]) -> dict[str, dict[str, str]]:
    return {row["name"]: row for row in features}


@pytest.fixture(scope="module")
def deps() -> list[dict[str, str]]:
    return read_csv(DATA / "feature-deps.csv")[1]


def location(row: dict[str, str]) -> tuple[int, int, str, int]:
    return int(row["leaf"], 16), int(row["subleaf"]), row["reg"], int(row["bit"])


def flags_of(cpuinfo: Path) -> set[str]:
    flags: set[str] = set()
    for line in cpuinfo.read_text(encoding="utf-8", errors="replace").splitlines():
        key, sep, value = line.partition(":")
        if sep and key.strip() == "flags":
            flags.update(value.split())
    return flags


# ---------------------------------------------------------------- features.csv shape


def test_both_files_start_with_a_comment_header() -> None:
    for name in ("features.csv", "feature-deps.csv"):
        first = (DATA / name).read_text(encoding="utf-8").splitlines()[0]
        assert first.startswith("#"), name


def test_columns_are_exact() -> None:
    assert read_csv(DATA / "features.csv")[0] == COLUMNS
    assert read_csv(DATA / "feature-deps.csv")[0] == ["feature", "depends_on", "source"]


def test_field_formats(features: list[dict[str, str]]) -> None:
    assert len(features) > 300
    for row in features:
        assert None not in row and all(v is not None for v in row.values()), row
        assert re.fullmatch(r"0x[0-9a-f]{8}", row["leaf"]), row
        assert re.fullmatch(r"0|[1-9][0-9]*", row["subleaf"]), row
        assert row["reg"] in {"eax", "ebx", "ecx", "edx"}, row
        assert re.fullmatch(r"[0-9]|[12][0-9]|3[01]", row["bit"]), row
        assert re.fullmatch(r"[a-z0-9][a-z0-9_]*", row["name"]), row
        assert row["vendor"] in VENDORS, row
        assert row["kind"] in KINDS, row
        assert row["migratable"] in {"yes", "no"}, row
        assert row["description"].strip() and "\n" not in row["description"], row
        for column in NAME_COLUMNS:
            assert row[column] == row[column].strip() and " " not in row[column], (column, row)


def test_locations_are_unique(features: list[dict[str, str]]) -> None:
    counts = Counter(location(row) for row in features)
    assert [loc for loc, n in counts.items() if n > 1] == []


@pytest.mark.parametrize("column", NAME_COLUMNS)
def test_names_are_unique_within_each_column(features: list[dict[str, str]], column: str) -> None:
    counts = Counter(row[column] for row in features if row[column])
    assert [name for name, n in counts.items() if n > 1] == []


def test_name_equals_linux_name_where_linux_shows_the_bit(features: list[dict[str, str]]) -> None:
    assert [r["name"] for r in features if r["linux_name"] and r["linux_name"] != r["name"]] == []


def test_spelling_conventions(features: list[dict[str, str]]) -> None:
    for row in features:
        assert "_" not in row["qemu_name"], row  # QOM property names use dashes
        assert row["xen_name"] == row["xen_name"].lower() and "_" not in row["xen_name"], row
        assert row["nfd_name"] == row["nfd_name"].upper(), row
        assert row["vmware_name"] == row["vmware_name"].upper(), row


def test_amd_mirror_bits_use_the_e_prefix(by_name: dict[str, dict[str, str]]) -> None:
    mirrored = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 12, 13, 14, 15, 16, 17, 23, 24]
    leaf1 = {location(r)[3]: r["name"] for r in by_name.values() if location(r)[:3] == (1, 0, "edx")}
    for bit in mirrored:
        row = by_name["e_" + leaf1[bit]]
        assert location(row) == (0x80000001, 0, "edx", bit)
        assert row["vendor"] == "amd" and not row["libvirt_name"] and not row["linux_name"]


def test_only_invtsc_is_unmigratable(features: list[dict[str, str]]) -> None:
    assert {r["name"] for r in features if r["migratable"] == "no"} == {"invtsc"}


def test_os_state_bits(by_name: dict[str, dict[str, str]]) -> None:
    assert {n for n, r in by_name.items() if r["kind"] == "os"} == {"osxsave", "ospke"}


# Well-known anchors (SDM/APM and the crosswalk in ../shared/docs); a shifted bit fails here even
# without the reference folder. (leaf, subleaf, reg, bit, name, linux, qemu, libvirt, nfd, xen)
ANCHORS = [
    (0x1, 0, "ecx", 0, "pni", "pni", "pni", "pni", "SSE3", "sse3"),
    (0x1, 0, "ecx", 1, "pclmulqdq", "pclmulqdq", "pclmulqdq", "pclmuldq", "CLMUL", "pclmulqdq"),
    (0x1, 0, "ecx", 19, "sse4_1", "sse4_1", "sse4.1", "sse4.1", "SSE4", "sse4-1"),
    (0x1, 0, "ecx", 20, "sse4_2", "sse4_2", "sse4.2", "sse4.2", "SSE42", "sse4-2"),
    (0x1, 0, "ecx", 24, "tsc_deadline_timer", "tsc_deadline_timer", "tsc-deadline", "tsc-deadline", "", "tsc-deadline"),
    (0x1, 0, "ecx", 27, "osxsave", "", "", "osxsave", "OSXSAVE", "osxsave"),
    (0x1, 0, "ecx", 28, "avx", "avx", "avx", "avx", "AVX", "avx"),
    (0x1, 0, "ecx", 31, "hypervisor", "hypervisor", "hypervisor", "hypervisor", "HYPERVISOR", "hypervisor"),
    (0x1, 0, "edx", 21, "dts", "dts", "ds", "ds", "", "ds"),
    (0x1, 0, "edx", 26, "sse2", "sse2", "sse2", "sse2", "SSE2", "sse2"),
    (0x7, 0, "ebx", 5, "avx2", "avx2", "avx2", "avx2", "AVX2", "avx2"),
    (0x7, 0, "ebx", 12, "cqm", "cqm", "", "cmt", "", "pqm"),
    (0x7, 0, "ebx", 16, "avx512f", "avx512f", "avx512f", "avx512f", "AVX512F", "avx512f"),
    (0x7, 0, "ebx", 29, "sha_ni", "sha_ni", "sha-ni", "sha-ni", "SHA", "sha"),
    (0x7, 0, "ecx", 4, "ospke", "ospke", "", "ospke", "", "ospke"),
    (0x7, 0, "ecx", 6, "avx512_vbmi2", "avx512_vbmi2", "avx512vbmi2", "avx512vbmi2", "AVX512VBMI2", "avx512-vbmi2"),
    (0x7, 0, "ecx", 14, "avx512_vpopcntdq", "avx512_vpopcntdq", "avx512-vpopcntdq", "avx512-vpopcntdq",
     "AVX512VPOPCNTDQ", "avx512-vpopcntdq"),
    (0x7, 0, "edx", 10, "md_clear", "md_clear", "md-clear", "md-clear", "MD_CLEAR", "md-clear"),
    (0x7, 0, "edx", 26, "spec_ctrl", "", "spec-ctrl", "spec-ctrl", "IBPB", "ibrsb"),
    (0x7, 0, "edx", 31, "spec_ctrl_ssbd", "", "ssbd", "ssbd", "SPEC_CTRL_SSBD", "ssbd"),
    (0x7, 1, "eax", 5, "avx512_bf16", "avx512_bf16", "avx512-bf16", "avx512-bf16", "AVX512BF16", "avx512-bf16"),
    (0xD, 1, "eax", 3, "xsaves", "xsaves", "xsaves", "xsaves", "XSAVES", "xsaves"),
    (0x80000001, 0, "ecx", 0, "lahf_lm", "lahf_lm", "lahf-lm", "lahf_lm", "LAHF", "lahf-lm"),
    (0x80000001, 0, "ecx", 5, "abm", "abm", "abm", "abm", "LZCNT", "abm"),
    (0x80000001, 0, "edx", 20, "nx", "nx", "nx", "nx", "NX", "nx"),
    (0x80000001, 0, "edx", 29, "lm", "lm", "lm", "lm", "", "lm"),
    (0x80000007, 0, "edx", 8, "invtsc", "", "invtsc", "invtsc", "", "itsc"),
    (0x80000008, 0, "ebx", 12, "amd_ibpb", "", "ibpb", "ibpb", "", "ibpb"),
    (0x8000000A, 0, "edx", 3, "nrip_save", "nrip_save", "nrip-save", "nrip-save", "NRIPS", ""),
]


@pytest.mark.parametrize("anchor", ANCHORS, ids=[a[4] for a in ANCHORS])
def test_anchor_rows(by_name: dict[str, dict[str, str]], anchor: tuple) -> None:
    leaf, subleaf, reg, bit, name, linux, qemu, libvirt, nfd, xen = anchor
    row = by_name[name]
    assert location(row) == (leaf, subleaf, reg, bit)
    assert (row["linux_name"], row["qemu_name"], row["libvirt_name"], row["nfd_name"], row["xen_name"]) == (
        linux, qemu, libvirt, nfd, xen)


def test_vmware_spellings(by_name: dict[str, dict[str, str]]) -> None:
    expected = {"sse4_1": "SSE41", "sse4_2": "SSE42", "avx512f": "AVX512F", "nx": "NX", "xsave": "XSAVE",
                "lahf_lm": "LAHF64", "pdpe1gb": "PDPE1GB", "monitor": "MWAIT", "cx16": "CMPXCHG16B"}
    assert {n: by_name[n]["vmware_name"] for n in expected} == expected


# ---------------------------------------------------------------- libvirt cpu_map coverage


def libvirt_cpuid_features() -> dict[str, tuple[tuple[int, int, str, int], str]]:
    if not LIBVIRT_FEATURES.is_file():
        missing_reference()
    out = {}
    for feature in parse_xml(LIBVIRT_FEATURES).getroot().iter("feature"):
        cpuid = feature.find("cpuid")
        if cpuid is None:
            continue  # MSR features
        regs = [(reg, int(cpuid.get(reg), 16)) for reg in ("eax", "ebx", "ecx", "edx") if cpuid.get(reg)]
        assert len(regs) == 1, feature.get("name")
        reg, mask = regs[0]
        assert mask and mask & (mask - 1) == 0, feature.get("name")
        loc = (int(cpuid.get("eax_in"), 16), int(cpuid.get("ecx_in", "0"), 16), reg, mask.bit_length() - 1)
        out[feature.get("name")] = (loc, feature.get("migratable", "yes"))
    return out


def test_every_libvirt_cpuid_feature_is_a_row_at_its_bit(features: list[dict[str, str]]) -> None:
    libvirt = libvirt_cpuid_features()
    assert len(libvirt) == 250
    ours = {row["libvirt_name"]: location(row) for row in features if row["libvirt_name"]}
    wrong = {name: (loc, ours.get(name)) for name, (loc, _) in libvirt.items() if ours.get(name) != loc}
    assert wrong == {}


def test_every_libvirt_name_exists_in_libvirt(features: list[dict[str, str]]) -> None:
    libvirt = libvirt_cpuid_features()
    assert [r["libvirt_name"] for r in features if r["libvirt_name"] and r["libvirt_name"] not in libvirt] == []


def test_libvirt_unmigratable_features_are_handled(features: list[dict[str, str]]) -> None:
    ours = {row["libvirt_name"]: row for row in features if row["libvirt_name"]}
    unmigratable = {name for name, (_, migratable) in libvirt_cpuid_features().items() if migratable == "no"}
    assert "invtsc" in unmigratable
    problems = [n for n in unmigratable if ours[n]["migratable"] != "no" and n not in LIBVIRT_UNMIGRATABLE_ALLOWED]
    assert problems == []


# ---------------------------------------------------------------- /proc/cpuinfo coverage


def unexplained_flags(cpuinfo: Path, features: list[dict[str, str]]) -> set[str]:
    flags = flags_of(cpuinfo)
    assert flags, f"no flags line in {cpuinfo}"
    return flags - {r["linux_name"] for r in features if r["linux_name"]} - SYNTHETIC_FLAGS


def test_synthetic_flags_are_not_table_names(features: list[dict[str, str]]) -> None:
    linux = {r["linux_name"] for r in features if r["linux_name"]}
    assert SYNTHETIC_FLAGS & linux == set()


def test_reference_dump_flags_are_known(features: list[dict[str, str]]) -> None:
    if not REFERENCE_CPUINFO.is_file():
        missing_reference()
    assert unexplained_flags(REFERENCE_CPUINFO, features) == set()


def test_own_fixture_flags_are_known(features: list[dict[str, str]]) -> None:
    if not OWN_CPUINFO.is_file():
        pytest.skip("tests/data fixture not available")
    assert unexplained_flags(OWN_CPUINFO, features) == set()


def test_this_machine_flags_are_known(features: list[dict[str, str]]) -> None:
    cpuinfo = Path("/proc/cpuinfo")
    if platform.machine().lower() not in {"x86_64", "amd64", "i686", "i386"} or not cpuinfo.is_file():
        pytest.skip("not an x86 Linux machine")
    if not flags_of(cpuinfo):
        pytest.skip("/proc/cpuinfo has no flags line")
    assert unexplained_flags(cpuinfo, features) == set()


# ---------------------------------------------------------------- feature-deps.csv


def test_dep_rows_are_well_formed(deps: list[dict[str, str]], by_name: dict[str, dict[str, str]]) -> None:
    assert len(deps) > 60
    pairs = Counter((d["feature"], d["depends_on"]) for d in deps)
    assert [p for p, n in pairs.items() if n > 1] == []
    for dep in deps:
        assert dep["source"] in DEP_SOURCES, dep
        assert dep["feature"] in by_name and dep["depends_on"] in by_name, dep
        assert dep["feature"] != dep["depends_on"], dep


def test_deps_have_no_cycles(deps: list[dict[str, str]]) -> None:
    graph: dict[str, set[str]] = {}
    for dep in deps:
        graph.setdefault(dep["feature"], set()).add(dep["depends_on"])
    done: set[str] = set()

    def visit(node: str, path: tuple[str, ...]) -> None:
        assert node not in path, f"cycle: {' -> '.join(path + (node,))}"
        if node in done:
            return
        for nxt in graph.get(node, ()):
            visit(nxt, path + (node,))
        done.add(node)

    for node in list(graph):
        visit(node, ())


KEY_PAIRS = [
    ("fxsr", "fpu"), ("sse", "fxsr"), ("sse2", "sse"), ("pni", "sse2"), ("sse4_2", "sse2"),
    ("avx", "xsave"), ("avx2", "avx"), ("fma", "avx"), ("avx512f", "avx"), ("avx512vl", "avx512f"),
    ("avx512bw", "avx512f"), ("avx512_vbmi2", "avx512vl"), ("avx512_fp16", "avx512bw"),
    ("xsaves", "xsave"), ("xfd", "xsaves"), ("amx_tile", "xfd"), ("sgx_lc", "sgx"), ("fred", "lkgs"),
    ("fred", "lm"), ("intel_pt_lip", "intel_pt"), ("nrip_save", "svm"), ("npt", "svm"),
    ("avx10_512", "avx10_256"), ("avx10_256", "avx10"), ("sgx1", "sgx"),
]


@pytest.mark.parametrize("pair", KEY_PAIRS, ids=["->".join(p) for p in KEY_PAIRS])
def test_key_dependency_pairs(deps: list[dict[str, str]], pair: tuple[str, str]) -> None:
    assert pair in {(d["feature"], d["depends_on"]) for d in deps}


def test_every_svm_subfeature_depends_on_svm(features: list[dict[str, str]], deps: list[dict[str, str]]) -> None:
    svm_bits = {r["name"] for r in features if location(r)[:3] == (0x8000000A, 0, "edx")}
    assert svm_bits and svm_bits <= {d["feature"] for d in deps if d["depends_on"] == "svm"}


def test_dep_sources_match_origin(deps: list[dict[str, str]]) -> None:
    source = {(d["feature"], d["depends_on"]): d["source"] for d in deps}
    assert source[("avx2", "avx")] == "linux"
    assert source[("fred", "lkgs")] == "linux+qemu"
    assert source[("nrip_save", "svm")] == "qemu"
    assert source[("f16c", "avx")] == "isa"
