"""Raw CPUID data as every parser returns it: one ``Dump`` holding per-CPU leaf tables.

A ``Dump`` is format-neutral: the decoder and the baseline code never know which file format
it came from. Registers are plain ints; a leaf/subleaf absent from the dump reads as zeros
(dump tools skip all-zero leaves), which is why ``CpuLeaves.get`` never raises.
"""

from __future__ import annotations

from dataclasses import dataclass, field

Regs = tuple[int, int, int, int]  # eax, ebx, ecx, edx
ZERO: Regs = (0, 0, 0, 0)
REGISTERS = ("eax", "ebx", "ecx", "edx")


@dataclass
class CpuLeaves:
    """The raw CPUID of one logical CPU: {(leaf, subleaf): (eax, ebx, ecx, edx)}."""

    index: int
    leaves: dict[tuple[int, int], Regs] = field(default_factory=dict)
    xcr0: int | None = None
    label: str = ""  # what the dump called this CPU (e.g. "Logical CPU #3"), if anything

    def get(self, leaf: int, subleaf: int = 0) -> Regs:
        """Registers of leaf/subleaf, zeros when the dump does not hold it."""
        return self.leaves.get((leaf, subleaf), ZERO)

    def has(self, leaf: int, subleaf: int = 0) -> bool:
        return (leaf, subleaf) in self.leaves

    def reg(self, leaf: int, subleaf: int, register: str) -> int:
        return self.get(leaf, subleaf)[REGISTERS.index(register)]


@dataclass
class KernelCpu:
    """The kernel's view of one logical CPU (from /proc/cpuinfo or a fingerprint)."""

    index: int
    flags: frozenset[str] = frozenset()
    vendor_id: str = ""
    family: int | None = None
    model: int | None = None
    stepping: int | None = None
    model_name: str = ""
    microcode: str = ""


@dataclass
class Dump:
    """Everything one input file says about one host's CPUs.

    ``cpus`` holds raw CPUID (empty for a /proc/cpuinfo input, which is ``degraded``);
    ``kernel`` holds the kernel's per-CPU view where the input carries one.
    ``kvm_supported`` is the leaf set KVM can offer guests (fingerprints only).
    """

    path: str
    format: str
    cpus: list[CpuLeaves] = field(default_factory=list)
    kernel: list[KernelCpu] = field(default_factory=list)
    kvm_supported: CpuLeaves | None = None
    degraded: bool = False
    host: dict = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    extra: dict = field(default_factory=dict)

    @property
    def name(self) -> str:
        """A short host name for messages: the fingerprint's hostname or the file name.

        Control characters (a newline in a name) and undecodable bytes are escaped, so a name
        is always one printable line (``text.printable``).
        """
        from pathlib import PurePath

        from .text import printable

        hostname = self.host.get("hostname")
        return printable(hostname if isinstance(hostname, str) and hostname else PurePath(self.path).name)


def unique_names(names: list[str], paths: list[str]) -> list[str]:
    """Host names made unique: a name that several inputs share becomes each input's path
    (``dc1/host.txt``, ``dc2/host.txt``), and a path given twice gets ``#2``, ``#3`` ...."""
    from collections import Counter

    from .text import printable

    counts = Counter(names)
    chosen = [printable(path) if counts[name] > 1 else name for name, path in zip(names, paths)]
    seen: Counter = Counter()
    unique = []
    for name in chosen:
        seen[name] += 1
        unique.append(name if seen[name] == 1 else f"{name}#{seen[name]}")
    return unique
