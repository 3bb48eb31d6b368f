"""libcpuid ``.test`` files: native raw lines, embedded AIDA64 text, the expected decode."""

from __future__ import annotations

import pytest

from cpucompat.errors import InputError
from cpucompat.formats import libcpuid
from cpucompat.formats.reader import parse_text, read_dump

from ._reference import reference_file
from ._samples import AIDA64_B, LIBCPUID_AIDA64, LIBCPUID_NATIVE


def test_sniff():
    assert libcpuid.sniff(LIBCPUID_NATIVE) and libcpuid.sniff(LIBCPUID_AIDA64)
    assert not libcpuid.sniff(AIDA64_B)


def test_native_cpus_arrays_and_expected_decode():
    dump = parse_text(LIBCPUID_NATIVE, "q.test")
    assert dump.format == "libcpuid"
    assert [(c.index, c.label) for c in dump.cpus] == [(0, "Logical CPU #0"), (1, "Logical CPU #1")]
    cpu = dump.cpus[0]
    assert cpu.get(0x80000001) == (0x6D3, 0, 1, 0x2191ABFD)
    assert cpu.get(4, 1)[0] == 0x122  # intel_fn4[1]
    assert dump.extra["libcpuid_expected"] == ["x86", "x86-64-v1", "general", "6", "13", "3"]
    assert dump.extra["libcpuid_version"] == "0.7.0"


def test_leaves_past_the_maximum_are_dropped():
    cpu = parse_text(LIBCPUID_NATIVE, "q.test").cpus[0]
    assert cpu.has(4) and not cpu.has(5)  # max basic leaf 4: leaf 5 only echoes leaf 4
    assert not cpu.has(0xB)  # intel_fn11 beyond the max leaf too
    assert cpu.has(0x80000001) and not cpu.has(0x80000002)


def test_aida64_raw_part_is_delegated():
    dump = parse_text(LIBCPUID_AIDA64, "s.test")
    assert dump.format == "libcpuid" and dump.extra["raw_format"] == "aida64"
    assert sorted(s for (leaf, s) in dump.cpus[0].leaves if leaf == 0xD) == [0, 2]
    assert dump.extra["libcpuid_expected"][:2] == ["x86", "x86-64-v2"]


def test_reference_qemu_guest():
    dump = read_dump(reference_file("dumps/libcpuid/qemu-virtual-cpu-version.test"))
    cpu = dump.cpus[0]
    assert cpu.get(1)[2] >> 31 == 1  # hypervisor bit
    assert not cpu.has(7)  # leaves 5..31 echo leaf 4 and are dropped
    assert dump.extra["libcpuid_expected"][0] == "x86"


def test_bad_line_names_the_line():
    text = LIBCPUID_NATIVE.replace("basic_cpuid[4]=00000121 01c0003f 0000003f 00000001", "basic_cpuid[4]=00000121")
    with pytest.raises(InputError, match=r"q\.test:5: expected 'basic_cpuid\[i\]"):
        parse_text(text, "q.test")


def test_register_over_32_bits():
    text = LIBCPUID_NATIVE.replace("basic_cpuid[1]=000006d3", "basic_cpuid[1]=1000006d3")
    with pytest.raises(InputError, match=r"q\.test:4: register value 1000006d3 is more than 32 bits"):
        parse_text(text, "q.test")


def test_arm_dump_is_refused():
    with pytest.raises(InputError, match="ARM"):
        libcpuid.parse("basic_cpuid[0]=0 0 0 0\narm_midr=00000000410fd083\n", "a.test")
