"""The ``cpuid -r`` text format (Todd Allen's ``cpuid``): reader and writer.

Reads ``cpuid -r`` (``CPU N:`` blocks), ``cpuid -1 -r`` (one ``CPU:`` block) and header-less
files, in upper or lower case hex, with or without leading spaces; also the old form without
a subleaf (``0x0000000d: eax=...``), where repeated lines of one leaf count subleaf 0, 1, 2…
A ``xcr0=0x...`` line inside a CPU block sets that CPU's XCR0. Blank lines and ``#`` comments
are skipped. ``format_cpuid_r`` writes what ``cpuid -f`` reads back.
"""

from __future__ import annotations

import re

from cpucompat.dump import CpuLeaves, Dump
from cpucompat.errors import InputError
from cpucompat.formats._common import finish, hex32, hex64, new_cpu, regs32

NAME = "cpuid-r"

_HEADER = re.compile(r"\s*CPU(?:\s+([0-9]{1,9}))?:\s*", re.IGNORECASE)
_LEAF = re.compile(
    r"\s*0x([0-9a-fA-F]+)(?:\s+0x([0-9a-fA-F]+))?:"
    r"\s*eax=(0x[0-9a-fA-F]+)\s+ebx=(0x[0-9a-fA-F]+)\s+ecx=(0x[0-9a-fA-F]+)\s+edx=(0x[0-9a-fA-F]+)"
    r"\s*(?:#.*)?",
    re.IGNORECASE,
)
_XCR0 = re.compile(r"\s*xcr0=(0x[0-9a-fA-F]+)\s*(?:#.*)?", re.IGNORECASE)
_SNIFF = re.compile(
    r"^[ \t]*(?:CPU(?:[ \t]+[0-9]+)?:[ \t]*$"
    r"|0x[0-9a-fA-F]{8}(?:[ \t]+0x[0-9a-fA-F]+)?:[ \t]*eax=0x)",
    re.MULTILINE | re.IGNORECASE,
)
_EXPECTED = "expected '0xLEAF 0xSUB: eax=0x... ebx=0x... ecx=0x... edx=0x...'"


def sniff(text: str) -> bool:
    """True when some line is a ``CPU N:`` header or a ``0xLEAF ...: eax=0x`` line."""
    return _SNIFF.search(text) is not None


def parse(text: str, path: str) -> Dump:
    """All CPUs of a ``cpuid -r`` / ``cpuid -1 -r`` text."""
    cpus: list[CpuLeaves] = []
    current: CpuLeaves | None = None
    counts: dict[int, int] = {}  # leaf -> lines seen without a subleaf, in this CPU
    for number, line in enumerate(text.split("\n"), 1):
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        header = _HEADER.fullmatch(line)
        if header:
            index = int(header.group(1)) if header.group(1) else 0
            current = new_cpu(cpus, path, number, index, stripped.rstrip(":"))
            counts = {}
            continue
        if current is None:  # lines before any header: one header-less CPU
            current = new_cpu(cpus, path, number, 0)
        _read_line(line, number, path, current, counts)
    return finish(path, NAME, cpus)


def _read_line(line: str, number: int, path: str, cpu: CpuLeaves, counts: dict[int, int]) -> None:
    leaf_match = _LEAF.fullmatch(line)
    if leaf_match:
        leaf_text, sub_text, *registers = leaf_match.groups()
        leaf = hex32(leaf_text, path, number, "leaf")
        if sub_text is None:
            subleaf = counts.get(leaf, 0)
            counts[leaf] = subleaf + 1
        else:
            subleaf = hex32(sub_text, path, number, "subleaf")
        cpu.leaves[(leaf, subleaf)] = regs32(registers, path, number)
        return
    xcr0 = _XCR0.fullmatch(line)
    if xcr0:
        cpu.xcr0 = hex64(xcr0.group(1), path, number, "xcr0")
        return
    raise InputError(path, _EXPECTED, number)


def format_cpuid_r(dump: Dump, *, with_xcr0: bool = False) -> str:
    """``dump`` as ``cpuid -r`` text (``CPU N:`` blocks, leaves in ascending order).

    ``cpuid -f`` rejects any other line, so the ``xcr0=`` lines are only written on request.
    """
    out: list[str] = []
    for cpu in dump.cpus:
        out.append(f"CPU {cpu.index}:")
        for (leaf, subleaf), (eax, ebx, ecx, edx) in sorted(cpu.leaves.items()):
            out.append(
                f"   0x{leaf:08x} 0x{subleaf:02x}: "
                f"eax=0x{eax:08x} ebx=0x{ebx:08x} ecx=0x{ecx:08x} edx=0x{edx:08x}"
            )
        if with_xcr0 and cpu.xcr0 is not None:
            out.append(f"   xcr0=0x{cpu.xcr0:016x}")
    return "\n".join(out) + "\n"
