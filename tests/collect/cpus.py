"""Real CPUID tables for the collector's fakes, read from the InstLatx64/AIDA64 reference dumps.

Each table is one logical CPU of a dump under ../shared/reference/dumps/instlatx64, parsed
from the dump's own line format (``CPUID LLLLLLLL: EAX-EBX-ECX-EDX [SL nn]``) at run time:
reference files are never copied into the project. Dumps leave out all-zero subleaves; a
fake reads those as zeros, as the CPU would. Without ../shared the tests that use them skip
(or fail under CPUCOMPAT_REQUIRE_REFERENCE=1, see tests/conftest.py ``reference``).
"""

from __future__ import annotations

import re
from functools import cache

from tests.conftest import reference

_LINE = re.compile(r"CPUID ([0-9A-F]{8}): ([0-9A-F]{8})-([0-9A-F]{8})-([0-9A-F]{8})-([0-9A-F]{8})(?: \[SL ([0-9A-F]{2})\])?")
_CPU_HEADER = re.compile(r"------\[ (?:CPUID Registers / )?Logical CPU #(\d+) \]------")

Table = dict[tuple[int, int], tuple[int, int, int, int]]


def table(text: str) -> Table:
    """{(leaf, subleaf): (eax, ebx, ecx, edx)} from dump lines."""
    leaves = {}
    for match in _LINE.finditer(text):
        leaf, eax, ebx, ecx, edx, subleaf = match.groups()
        leaves[(int(leaf, 16), int(subleaf or "0", 16))] = tuple(int(r, 16) for r in (eax, ebx, ecx, edx))
    return leaves


@cache
def _logical_cpu(name: str, cpu: int) -> Table:
    text = reference("dumps", "instlatx64", name).read_text(encoding="latin-1")
    parts = _CPU_HEADER.split(text)
    for number, body in zip(parts[1::2], parts[2::2]):
        if int(number) == cpu and _LINE.search(body):
            return table(body)
    raise LookupError(f"{name} has no CPUID registers for logical CPU #{cpu}")


def skylake_sp() -> Table:
    """Logical CPU #0 of a Xeon Bronze 3104 (Skylake-SP, 06/55/4)."""
    return _logical_cpu("GenuineIntel0050654_SkylakeXeon_CPUID9.txt", 0)


def alder_lake_p() -> Table:
    """Logical CPU #0 of a Core i9-12900K: a P-core (Golden Cove)."""
    return _logical_cpu("GenuineIntel0090672_AlderLake_01_LC_BC_CPUID.txt", 0)


def alder_lake_e() -> Table:
    """Logical CPU #16 of the same Core i9-12900K: the first E-core (Gracemont); leaf 0x1A EAX[31:24] = 0x20."""
    return _logical_cpu("GenuineIntel0090672_AlderLake_01_LC_BC_CPUID.txt", 16)


def epyc_rome() -> Table:
    """Logical CPU #0 of an EPYC 7402P (Zen 2 Rome, 17/31/0)."""
    return _logical_cpu("AuthenticAMD0830F10_K17_Rome_CPUID2.txt", 0)
