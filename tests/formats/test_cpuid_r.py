"""``cpuid -r`` text: reading every accepted form, the errors, and the writer round trip."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cpucompat.dump import CpuLeaves, Dump
from cpucompat.errors import InputError
from cpucompat.formats import cpuid_r
from cpucompat.formats.reader import parse_text, read_dump
from cpucompat.formats.cpuid_r import format_cpuid_r

from ._reference import TEST_DATA, reference_file
from ._samples import AIDA64_A, AIDA64_B, AIDA64_C, AIDA64_D, AIDA64_E, CPUID_R, CPUID_R_ONE, CPUID_R_OLD

MILAN_GUEST = TEST_DATA / "linux-kvm-zen3-epyc-milan_cpuid-r.txt"


def test_sniff():
    assert cpuid_r.sniff(CPUID_R) and cpuid_r.sniff(CPUID_R_ONE) and cpuid_r.sniff(CPUID_R_OLD)
    assert not cpuid_r.sniff(AIDA64_B)


def test_multi_cpu_blocks():
    dump = parse_text(CPUID_R, "x.txt")
    assert dump.format == "cpuid-r"
    assert [(c.index, c.label) for c in dump.cpus] == [(0, "CPU 0"), (1, "CPU 1")]
    assert dump.cpus[0].get(7, 1) == (0x30, 0, 0, 0)
    assert dump.cpus[1].get(1) == (0x00B00F21, 0x01020800, 0xFFFA3203, 0x178BFBFF)


def test_one_cpu_form_upper_case_without_indent():
    dump = parse_text(CPUID_R_ONE, "x.txt")
    assert [(c.index, c.label) for c in dump.cpus] == [(0, "CPU")]
    assert dump.cpus[0].get(1) == (0x000206A7, 0x00100800, 0x1FBAE3FF, 0xBFEBFBFF)


def test_old_form_counts_subleaves_and_reads_xcr0():
    cpu = parse_text(CPUID_R_OLD, "x.txt").cpus[0]
    assert [cpu.get(4, s)[0] for s in range(3)] == [0x1C004121, 0x1C004122, 0x1C004143]
    assert cpu.xcr0 == 7


def test_headerless_lines_are_one_cpu():
    dump = parse_text("0x00000000 0x00: eax=0x1 ebx=0x2 ecx=0x3 edx=0x4\n", "x.txt")
    assert dump.cpus[0].index == 0 and dump.cpus[0].get(0) == (1, 2, 3, 4)


def test_own_fixture_exact_values():
    dump = read_dump(MILAN_GUEST)
    assert dump.format == "cpuid-r" and len(dump.cpus) == 2
    cpu0, cpu1 = dump.cpus
    assert cpu0.get(0) == (0x00000010, 0x68747541, 0x444D4163, 0x69746E65)
    assert cpu0.get(1) == (0x00A00F11, 0x00020800, 0xFFFA3203, 0x178BFBFF)
    assert cpu0.get(7) == (0x00000000, 0x219C07AB, 0x0040069C, 0x88000010)
    assert cpu0.get(0xB, 1) == (0x00000005, 0x00000002, 0x00000201, 0x00000000)
    assert cpu0.get(0xD, 9) == (0x00000008, 0x00000980, 0, 0)
    assert cpu1.get(1)[1] >> 24 == 1  # APIC ID of the second vCPU


def test_truncated_line_names_file_and_line():
    lines = CPUID_R.splitlines()
    lines[6] = lines[6][:40]
    with pytest.raises(InputError) as error:
        parse_text("\n".join(lines), "dump.txt")
    assert error.value.line == 7
    assert str(error.value).startswith("dump.txt:7: expected '0xLEAF 0xSUB: eax=0x...")


def test_register_over_32_bits():
    text = "CPU 0:\n   0x00000001 0x00: eax=0x1ffffffff ebx=0x0 ecx=0x0 edx=0x0\n"
    with pytest.raises(InputError, match=r"x\.txt:2: register value 0x1ffffffff is more than 32 bits"):
        parse_text(text, "x.txt")


def test_no_leaves_is_an_error():
    with pytest.raises(InputError, match="no CPUID leaves"):
        parse_text("CPU 0:\nCPU 1:\n", "x.txt")


def test_writer_output_reads_back():
    dump = parse_text(CPUID_R, "x.txt")
    text = format_cpuid_r(dump)
    assert text.splitlines()[1] == (
        "   0x00000000 0x00: eax=0x0000001c ebx=0x68747541 ecx=0x444d4163 edx=0x69746e65"
    )
    assert [c.leaves for c in parse_text(text, "y").cpus] == [c.leaves for c in dump.cpus]


def test_writer_xcr0_only_on_request():
    dump = parse_text(CPUID_R_OLD, "x.txt")
    assert "xcr0" not in format_cpuid_r(dump)
    assert parse_text(format_cpuid_r(dump, with_xcr0=True), "y").cpus[0].xcr0 == 7


@pytest.mark.parametrize("sample", [AIDA64_A, AIDA64_B, AIDA64_C, AIDA64_D, AIDA64_E])
def test_aida64_sample_round_trips_through_cpuid_r(sample):
    dump = parse_text(sample, "x.txt")
    again = parse_text(format_cpuid_r(dump), "y.txt")
    assert [(c.index, c.leaves) for c in again.cpus] == [(c.index, c.leaves) for c in dump.cpus]


@pytest.mark.parametrize(
    "name",
    [
        "GenuineIntel00206A7_SandyBridge_CPUID.txt",
        "GenuineIntel0090672_AlderLake_01_LC_BC_CPUID.txt",
        "AuthenticAMD0A00F11_K19_Milan_CPUID1.txt",
        "GenuineIntel00A0654_CometLake_CPUID.txt",
    ],
)
def test_reference_aida64_round_trips_through_cpuid_r(name):
    dump = read_dump(reference_file(f"dumps/instlatx64/{name}"))
    again = parse_text(format_cpuid_r(dump), "y.txt")
    assert again.format == "cpuid-r"
    assert [(c.index, c.leaves) for c in again.cpus] == [(c.index, c.leaves) for c in dump.cpus]


_u32 = st.integers(0, 0xFFFFFFFF)
_leaves = st.dictionaries(st.tuples(_u32, _u32), st.tuples(_u32, _u32, _u32, _u32), min_size=1, max_size=8)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 4096), _leaves), min_size=1, max_size=4))
def test_writer_round_trip_property(cpus):
    dump = Dump(path="x", format="aida64", cpus=[CpuLeaves(index=i, leaves=l) for i, l in cpus])
    again = parse_text(format_cpuid_r(dump), "y")
    assert [(c.index, c.leaves) for c in again.cpus] == cpus
