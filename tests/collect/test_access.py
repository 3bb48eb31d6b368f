"""Hardware access: /dev/cpu/N/{cpuid,msr} reads, the refused-leaf fallback, KVM's struct, --load-msr."""

from __future__ import annotations

import os
import platform
import struct
from pathlib import Path

import pytest

from cpucompat.collect.access import DevCpuidReader, HostMsr, InstructionReader, machine_code_cpuid
from cpucompat.collect.collector import collect
from cpucompat.collect.kvm import entries_to_leaves

from .cpus import skylake_sp
from .fakes import FakeCpuid, make_root, sources

x86_only = pytest.mark.skipif(platform.machine() not in ("x86_64", "AMD64"),
                              reason=f"needs an x86-64 CPU; this machine is {platform.machine()}")


def sparse_file(path: Path, writes: dict[int, bytes]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as handle:
        for offset, data in writes.items():
            handle.seek(offset)
            handle.write(data)
    return path


def test_dev_cpu_cpuid_reads_16_bytes_at_leaf_or_subleaf_shifted(tmp_path):
    regs = (0x207, 0x988, 0x988, 0)
    path = sparse_file(tmp_path / "dev/cpu/0/cpuid", {0xD | 1 << 32: struct.pack("<4I", *regs)})
    reader = DevCpuidReader(path)
    try:
        assert reader.cpuid(0xD, 1) == regs and reader.xgetbv() is None
    finally:
        reader.close()


def test_msr_is_read_only_8_bytes_at_the_index(tmp_path):
    sparse_file(tmp_path / "dev/cpu/1/msr", {0x1A0: (0x850089).to_bytes(8, "little")})
    msr = HostMsr(tmp_path)
    try:
        assert msr.read(1, 0x1A0) == 0x850089
        with pytest.raises(OSError):  # past the end: a short read, as EIO for a missing MSR
            msr.read(1, 0xC0010114)
        with pytest.raises(FileNotFoundError):
            msr.read(0, 0x1A0)
        assert not hasattr(msr, "write")
    finally:
        msr.close()


def test_kvm_cpuid2_entries():
    header = struct.pack("<II", 2, 0)
    entry = struct.Struct("<7I12x")
    body = entry.pack(0xD, 1, 1, 0xF, 0x340, 0, 0) + entry.pack(0x80000001, 7, 0, 1, 2, 3, 4)
    leaves = entries_to_leaves(header + body + bytes(40)).leaves
    # index counts only with KVM_CPUID_FLAG_SIGNIFCANT_INDEX
    assert leaves == {(0xD, 1): (0xF, 0x340, 0, 0), (0x80000001, 0): (1, 2, 3, 4)}


def test_load_msr_only_when_asked(tmp_path):
    calls = []
    access = sources(make_root(tmp_path, [0]), {0: FakeCpuid(skylake_sp())})
    access = access._replace(load_msr_module=lambda: calls.append(1) or "--load-msr: loaded")
    assert "--load-msr: loaded" not in collect(sources=access).notes and not calls
    assert "--load-msr: loaded" in collect(sources=access, load_msr=True).notes and calls == [1]


@x86_only
def test_the_cpuid_package_refuses_hypervisor_leaves_and_we_notice():
    refused = []
    reader = InstructionReader(lambda leaf, subleaf: refused.append((leaf, subleaf)) or (1, 2, 3, 4))
    assert reader.cpuid(0x40000000, 0) == (1, 2, 3, 4)
    assert refused == [(0x40000000, 0)]
    assert reader.cpuid(0, 0)[0] >= 1 and len(refused) == 1  # a basic leaf is its own


@x86_only
def test_machine_code_stub_matches_the_instruction_and_dev_cpu():
    import cpuid_native

    stub = machine_code_cpuid()
    original = os.sched_getaffinity(0)
    cpu = min(original)
    os.sched_setaffinity(0, {cpu})
    try:
        for leaf in (0, 1, 7, 0x80000000, 0x80000001):
            assert stub(leaf, 0) == cpuid_native.get_cpuid_count(leaf, 0)[1:]
        if os.access(f"/dev/cpu/{cpu}/cpuid", os.R_OK):
            dev = DevCpuidReader(Path(f"/dev/cpu/{cpu}/cpuid"))
            try:
                for leaf in (0x40000000, 0x40000001):
                    assert stub(leaf, 0) == dev.cpuid(leaf, 0)
            finally:
                dev.close()
    finally:
        os.sched_setaffinity(0, original)


def test_kvm_query_retries_with_a_bigger_buffer_on_e2big():
    import errno

    from cpucompat.collect import kvm

    sizes = []

    def ioctl(fd, request, buffer, mutate):
        nent = struct.unpack_from("<I", buffer)[0]
        sizes.append(nent)
        if nent < 300:
            raise OSError(errno.E2BIG, "Argument list too long")
        struct.pack_into("<I", buffer, 0, 1)
        struct.pack_into("<7I", buffer, 8, 0, 0, 0, 0x10, 1, 2, 3)
        return 0

    buffer = kvm._query(3, ioctl)
    assert sizes == [kvm.FIRST_NENT, kvm.FIRST_NENT * 2, kvm.FIRST_NENT * 4]
    assert entries_to_leaves(buffer).leaves == {(0, 0): (0x10, 1, 2, 3)}
