"""AIDA64 / EVEREST / InstLatX64 CPUID text (the InstLatx64 collection), all five variants.

A CPU block starts at ``------[ CPUID Registers / Logical CPU #N ]------`` (A),
``------[ Logical CPU #N ]------`` (B), ``CPU#NNN AffMask: ...`` (C) or
``CPUID Registers (CPU #N):`` (D); a file without headers (E) starts a new CPU at each
repeated ``CPUID 00000000``. Other ``------[ ... ]------`` sections (versions, MSRs, the APIC
table) are skipped. A register line is ``CPUID LLLLLLLL: EAX-EBX-ECX-EDX``, with a colon or a
TAB, dashes or spaces; ``[SL nn]`` gives the subleaf, other ``[...]`` are annotations, the
AMD ``8FFFFFFF`` easter-egg leaf is dropped. Untagged leaves count subleaf 0, 1, 2… except
0xD, whose subleaf is inferred (``_xsave``).
"""

from __future__ import annotations

import re

from cpucompat.dump import CpuLeaves, Dump
from cpucompat.errors import InputError
from cpucompat.formats import _xsave
from cpucompat.formats._common import finish, new_cpu

NAME = "aida64"

_H = "[0-9A-Fa-f]{8}"
_REGISTER_LINE = re.compile(
    rf"CPUID ({_H})(?::[ \t]*|[ \t]+)({_H})[- ]({_H})[- ]({_H})[- ]({_H})(?=\s|\[|$)(.*)"
)
_CPUID_START = re.compile(rf"CPUID {_H}(?![0-9A-Za-z])")
_SUBLEAF_TAG = re.compile(r"\[SL ([0-9A-Fa-f]{1,8})\]")
_SECTION = re.compile(r"-{2,}\[([^\]]*)\]-{2,}")
_SECTION_CPU = re.compile(r"(?:CPUID Registers / )?Logical CPU #([0-9]{1,9})")
_AFFMASK_CPU = re.compile(r"CPU#([0-9]{1,9})\s+AffMask\b.*")
_REGISTERS_CPU = re.compile(r"CPUID Registers \(CPU #([0-9]{1,9})\):\s*")
_SNIFF = re.compile(rf"^CPUID {_H}(?::|[ \t])", re.MULTILINE)
_ANY_HEADER = re.compile(
    r"^(?:[ \t]*-{2,}\[[ \t]*(?:CPUID Registers / )?Logical CPU #[0-9]+[ \t]*\]"
    r"|CPU#[0-9]+[ \t]+AffMask\b|CPUID Registers \(CPU #[0-9]+\):)",
    re.MULTILINE,
)
_EASTER_EGG = 0x8FFFFFFF
_XSAVE_LEAF = 0xD
_EXPECTED = "expected 'CPUID LLLLLLLL: EAX-EBX-ECX-EDX' (8 hex digits each)"


def sniff(text: str) -> bool:
    """True when some line starts with ``CPUID`` and an 8-digit hex leaf."""
    return _SNIFF.search(text) is not None


def parse(text: str, path: str) -> Dump:
    """All CPUs of an AIDA64/InstLatx64 text dump."""
    return finish(path, NAME, read_cpus(text, path))


def read_cpus(text: str, path: str) -> list[CpuLeaves]:
    """The CPU blocks of AIDA64 text (its line 1 = file line 1); the libcpuid parser uses it too.

    With CPU headers, register lines outside a CPU block are ignored; without any (variant E),
    every register line counts and sections do not matter.
    """
    reader = _Reader(path, headed=_ANY_HEADER.search(text) is not None)
    for number, line in enumerate(text.split("\n"), 1):
        reader.feed(line.rstrip(), number)
    return reader.cpus


class _Reader:
    """Line-by-line state: the current CPU block and its untagged-subleaf counters."""

    def __init__(self, path: str, *, headed: bool) -> None:
        self.path = path
        self.headed = headed  # the file has CPU headers: no splitting at leaf 0
        self.cpus: list[CpuLeaves] = []
        self.current: CpuLeaves | None = None
        self.number = 0  # the line being read
        self.counts: dict[int, int] = {}
        self.xsave: dict[int, tuple[int, int, int, int]] = {}
        self.xsave_last = -1  # max(self.xsave), kept as lines come

    def feed(self, line: str, number: int) -> None:
        self.number = number
        if line.startswith("CPUID "):
            if _CPUID_START.match(line):
                self._register_line(line, number)
                return
            header = _REGISTERS_CPU.fullmatch(line)
            if header:
                self._start_cpu(int(header.group(1)), line.rstrip(":"))
        elif line.startswith("CPU#"):
            header = _AFFMASK_CPU.fullmatch(line)
            if header:
                self._start_cpu(int(header.group(1)), line.strip())
        elif line.lstrip().startswith("--"):
            section = _SECTION.fullmatch(line.strip())
            if section:
                self._section(section.group(1).strip())

    def _section(self, title: str) -> None:
        cpu = _SECTION_CPU.fullmatch(title)
        if cpu:
            self._start_cpu(int(cpu.group(1)), title)
        elif self.headed:
            self.current = None  # versions, MSRs, APIC table...: not a CPU block

    def _start_cpu(self, index: int, label: str) -> None:
        self.current = new_cpu(self.cpus, self.path, self.number, index, label)
        self.counts = {}
        self.xsave = {}
        self.xsave_last = -1

    def _register_line(self, line: str, number: int) -> None:
        if self.headed and self.current is None:
            return
        match = _REGISTER_LINE.fullmatch(line)
        if not match:
            raise InputError(self.path, _EXPECTED, number)
        leaf_text, *registers, rest = match.groups()
        leaf = int(leaf_text, 16)
        if leaf == _EASTER_EGG:
            return
        eax, ebx, ecx, edx = (int(register, 16) for register in registers)
        regs = (eax, ebx, ecx, edx)
        cpu = self._cpu_for(leaf)
        tag = _SUBLEAF_TAG.search(rest)
        subleaf = int(tag.group(1), 16) if tag else self._untagged_subleaf(leaf, regs)
        cpu.leaves[(leaf, subleaf)] = regs
        if leaf == _XSAVE_LEAF:
            self.xsave[subleaf] = regs
            self.xsave_last = max(self.xsave_last, subleaf)

    def _cpu_for(self, leaf: int) -> CpuLeaves:
        """The CPU a register line belongs to; variant E starts a new one at each leaf 0."""
        if self.current is None or (not self.headed and leaf == 0 and self.current.has(0)):
            self.current = new_cpu(self.cpus, self.path, self.number, len(self.cpus))
            self.counts = {}
            self.xsave = {}
            self.xsave_last = -1
        return self.current

    def _untagged_subleaf(self, leaf: int, regs: tuple[int, int, int, int]) -> int:
        if leaf == _XSAVE_LEAF:
            return _xsave.infer_subleaf(self.xsave, regs, self.xsave_last)
        subleaf = self.counts.get(leaf, 0)
        self.counts[leaf] = subleaf + 1
        return subleaf
