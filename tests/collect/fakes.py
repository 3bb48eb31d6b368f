"""Fakes for the collector: CPUID per CPU, MSRs, KVM and a file-system root for /proc, /sys."""

from __future__ import annotations

import errno
import os
from pathlib import Path

from cpucompat.collect.collector import Sources
from cpucompat.dump import CpuLeaves

ZERO = (0, 0, 0, 0)


class FakeCpuid:
    """One logical CPU: ``FakeCpuid({(leaf, sub): (eax, ebx, ecx, edx)}, xcr0=...)``.

    Leaves not in the table read as zeros (a dump leaves them out), or as ``default`` when
    given, which makes a CPU that never ends a subleaf list. Every call is recorded.
    """

    method = "fake-cpuid"

    def __init__(self, leaves: dict, xcr0: int | None = None, default: tuple | None = None) -> None:
        self.leaves = dict(leaves)
        self.xcr0 = xcr0
        self.default = default
        self.calls: list[tuple[int, int]] = []

    def cpuid(self, leaf: int, subleaf: int):
        self.calls.append((leaf, subleaf))
        return self.leaves.get((leaf, subleaf), self.default or ZERO)

    def xgetbv(self):
        return self.xcr0

    def with_leaf(self, leaf: int, subleaf: int = 0, **registers: int) -> FakeCpuid:
        """A copy with some registers of one leaf replaced (eax=..., edx=...)."""
        names = ("eax", "ebx", "ecx", "edx")
        old = self.leaves.get((leaf, subleaf), ZERO)
        new = tuple(registers.get(n, old[i]) for i, n in enumerate(names))
        return FakeCpuid({**self.leaves, (leaf, subleaf): new}, self.xcr0, self.default)


class FakeDevCpuid:
    """A fake CPU read the way /dev/cpu/N/cpuid reads it: same leaves, no XCR0."""

    method = "dev-cpu-cpuid"

    def __init__(self, cpu: FakeCpuid) -> None:
        self.cpuid, self.xgetbv = cpu.cpuid, lambda: None


class FakeCpuidAccess:
    """The collector's CPUID access over fakes.

    CPUs in ``allowed`` (default: all) are read "pinned"; the others through a fake
    /dev/cpu/N/cpuid when ``dev_cpuid`` is true, else they fail with EACCES, as for non-root.
    """

    def __init__(self, cpus: dict[int, FakeCpuid], allowed: set[int] | None = None, dev_cpuid: bool = True) -> None:
        self.cpus = cpus
        self.allowed = frozenset(cpus if allowed is None else allowed)
        self.dev_cpuid = dev_cpuid
        self.restored = False

    def open(self, cpu: int):
        if cpu in self.allowed and cpu in self.cpus:
            return self.cpus[cpu]
        if self.dev_cpuid and cpu in self.cpus:
            return FakeDevCpuid(self.cpus[cpu])
        raise OSError(errno.EACCES, "Permission denied", f"/dev/cpu/{cpu}/cpuid")

    def restore(self) -> None:
        self.restored = True


class FakeMsr:
    """MSR values per (cpu, index); ``error`` (an errno) makes every read fail like that."""

    def __init__(self, values: dict[tuple[int, int], int] | None = None, error: int | None = None) -> None:
        self.values = values or {}
        self.error = error
        self.reads: list[tuple[int, int]] = []

    def read(self, cpu: int, index: int) -> int:
        self.reads.append((cpu, index))
        if self.error is not None:
            raise OSError(self.error, os.strerror(self.error), f"/dev/cpu/{cpu}/msr")
        if (cpu, index) not in self.values:
            raise OSError(errno.EIO, "Input/output error", f"/dev/cpu/{cpu}/msr")
        return self.values[(cpu, index)]

    def close(self) -> None:
        pass


def cpuinfo_text(flags_by_cpu: dict[int, str], microcode: str = "0x2006e05") -> str:
    blocks = [f"processor\t: {cpu}\nmicrocode\t: {microcode}\nflags\t\t: {flags}\n"
              for cpu, flags in sorted(flags_by_cpu.items())]
    return "\n".join(blocks)


def make_root(root: Path, cpus: list[int], flags: str = "fpu vme de pse tsc msr pae lm nx aes vmx",
              smt: tuple[str, str] | None = ("on", "1"), kvm: bool = False, extra: dict | None = None) -> Path:
    """A fake / with the files the collector reads."""
    files = {
        "sys/devices/system/cpu/online": ",".join(map(str, cpus)),
        "proc/cpuinfo": cpuinfo_text({cpu: flags for cpu in cpus}),
        "proc/sys/kernel/osrelease": "6.1.0-fake",
        "proc/sys/kernel/hostname": "fakehost",
        "proc/cmdline": "BOOT_IMAGE=/vmlinuz root=/dev/sda1 ro clearcpuid=514 nosmt quiet",
        "sys/class/dmi/id/bios_vendor": "Dell Inc.",
        "sys/class/dmi/id/bios_version": "2.17.1",
        "sys/class/dmi/id/bios_date": "11/14/2022",
        "sys/class/dmi/id/board_name": "0W23H8",
        **(extra or {}),
    }
    if smt:
        files["sys/devices/system/cpu/smt/control"], files["sys/devices/system/cpu/smt/active"] = smt
    if kvm:
        files["dev/kvm"] = ""
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text + "\n")
    return root


def sources(root: Path, cpus: dict[int, FakeCpuid], msr: FakeMsr | None = None,
            kvm: CpuLeaves | OSError | None = None, allowed: set[int] | None = None,
            dev_cpuid: bool = True) -> Sources:
    """Sources over fakes; ``kvm`` is what KVM_GET_SUPPORTED_CPUID gives (or the error it raises)."""
    def kvm_call() -> CpuLeaves:
        if isinstance(kvm, OSError):
            raise kvm
        if kvm is None:
            raise OSError(errno.ENOENT, "No such file or directory", "/dev/kvm")
        return kvm

    return Sources(root=root, cpuid=FakeCpuidAccess(cpus, allowed, dev_cpuid), msr=msr or FakeMsr(error=errno.ENOENT),
                   kvm=kvm_call)
