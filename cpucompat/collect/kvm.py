"""What KVM on this host can offer its guests: the ``KVM_GET_SUPPORTED_CPUID`` ioctl on /dev/kvm.

The answer is a leaf table like a CPU's own, minus what KVM cannot virtualise and plus what
it emulates (x2APIC, TSC deadline, the hypervisor bit...). It is the ceiling of any guest
CPU model on this host, so it belongs in the fingerprint next to the raw CPUID.

ABI (linux/kvm.h): ``struct kvm_cpuid2 {u32 nent; u32 padding; struct kvm_cpuid_entry2
entries[];}``, each entry ``{u32 function, index, flags, eax, ebx, ecx, edx; u32 padding[3]}``
(40 bytes). The kernel fails with E2BIG when ``nent`` is too small; we retry bigger.
"""

from __future__ import annotations

import errno
import os
import struct
from pathlib import Path

from ..dump import CpuLeaves

KVM_GET_API_VERSION = 0xAE00  # _IO(KVMIO, 0x00)
KVM_GET_SUPPORTED_CPUID = 0xC008AE05  # _IOWR(KVMIO, 0x05, struct kvm_cpuid2)
KVM_CPUID_FLAG_SIGNIFCANT_INDEX = 1  # (sic, the kernel's spelling)
_HEADER = struct.Struct("<II")
_ENTRY = struct.Struct("<7I12x")
FIRST_NENT = 128
MAX_NENT = 4096


def supported_cpuid(path: Path = Path("/dev/kvm")) -> CpuLeaves:
    """The leaves KVM supports for guests; OSError when /dev/kvm is absent or not usable."""
    import fcntl

    fd = os.open(path, os.O_RDWR | os.O_CLOEXEC)
    # KVM copies the APIC ID of the CPU the ioctl runs on into leaves 1 (EBX[31:24]), 0xB and
    # 0x1F (EDX): run it on the lowest allowed CPU, so the answer (and the content hash) is the
    # same on every run.
    allowed = os.sched_getaffinity(0)
    try:
        os.sched_setaffinity(0, {min(allowed)})
        fcntl.ioctl(fd, KVM_GET_API_VERSION)
        buffer = _query(fd, fcntl.ioctl)
    finally:
        os.close(fd)
        os.sched_setaffinity(0, allowed)
    return entries_to_leaves(buffer)


def _query(fd: int, ioctl) -> bytearray:
    nent = FIRST_NENT
    while True:
        buffer = bytearray(_HEADER.size + _ENTRY.size * nent)
        _HEADER.pack_into(buffer, 0, nent, 0)
        try:
            ioctl(fd, KVM_GET_SUPPORTED_CPUID, buffer, True)
            return buffer
        except OSError as error:
            if error.errno != errno.E2BIG or nent >= MAX_NENT:
                raise
            nent *= 2


def entries_to_leaves(buffer: bytes) -> CpuLeaves:
    """Parse a filled ``struct kvm_cpuid2`` into a CpuLeaves (index 0, labelled)."""
    nent, _ = _HEADER.unpack_from(buffer, 0)
    leaves = {}
    for i in range(nent):
        function, index, flags, eax, ebx, ecx, edx = _ENTRY.unpack_from(buffer, _HEADER.size + i * _ENTRY.size)
        subleaf = index if flags & KVM_CPUID_FLAG_SIGNIFCANT_INDEX else 0
        leaves[(function, subleaf)] = (eax, ebx, ecx, edx)
    return CpuLeaves(index=0, leaves=leaves, label="KVM_GET_SUPPORTED_CPUID")
