"""/proc/cpuinfo: the kernel's per-CPU view, marked degraded."""

from __future__ import annotations

import pytest

from cpucompat.errors import InputError
from cpucompat.formats.reader import parse_text, read_dump
from cpucompat.formats import proc_cpuinfo

from ._reference import TEST_DATA
from ._samples import CPUID_R, PROC_CPUINFO


def test_sniff():
    assert proc_cpuinfo.sniff(PROC_CPUINFO)
    assert not proc_cpuinfo.sniff(CPUID_R)


def test_sample():
    dump = parse_text(PROC_CPUINFO, "cpuinfo")
    assert dump.format == "proc-cpuinfo" and dump.degraded and dump.cpus == []
    assert dump.notes == [proc_cpuinfo.NOTE]
    assert [k.index for k in dump.kernel] == [0, 1]
    cpu = dump.kernel[0]
    assert (cpu.vendor_id, cpu.family, cpu.model, cpu.stepping) == ("AuthenticAMD", 26, 2, 1)
    assert cpu.model_name == "AMD EPYC" and cpu.microcode == "0x1000065"
    assert "avx512_vp2intersect" in cpu.flags


def test_own_fixture():
    dump = read_dump(TEST_DATA / "linux-kvm-zen3-epyc-milan_proc-cpuinfo.txt")
    assert len(dump.kernel) == 2
    cpu = dump.kernel[1]
    assert (cpu.index, cpu.family, cpu.model, cpu.stepping) == (1, 25, 1, 1)
    assert {"avx2", "sha_ni", "hypervisor", "vaes"} <= cpu.flags
    assert "avx512f" not in cpu.flags


def test_bad_number_names_the_line():
    with pytest.raises(InputError, match=r"cpuinfo:3: cpu family: expected a number"):
        parse_text(PROC_CPUINFO.replace("cpu family\t: 26", "cpu family\t: twenty"), "cpuinfo")


def test_not_x86():
    with pytest.raises(InputError, match="not an x86"):
        parse_text("processor\t: 0\nBogoMIPS\t: 50.00\nFeatures\t: fp asimd\n", "cpuinfo")
