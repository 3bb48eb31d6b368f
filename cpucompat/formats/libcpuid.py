"""libcpuid ``.test`` files: a raw dump, a line of 80 dashes, then libcpuid's expected decode.

The raw part is either libcpuid's own ``cpu_raw_data`` text (``basic_cpuid[i]=EAX EBX ECX EDX``,
``ext_cpuid[i]``, ``intel_fn4[i]``, ``intel_fn11[i]``, ``intel_fn12h[i]``, ``intel_fn14h[i]``,
``amd_fn8000001dh[i]``, an optional ``version=`` line and ``____ Logical CPU #N ____``
headers) or AIDA64 text, which goes to the aida64 parser. libcpuid always records 32 basic
and 32 extended leaves; those past the maximum leaf that leaf 0 / 0x80000000 report are echoes
of another leaf (Intel repeats the highest basic leaf) and are dropped. The expected decode
is kept, one value per line, in ``Dump.extra['libcpuid_expected']``.
"""

from __future__ import annotations

import re

from cpucompat.dump import CpuLeaves, Dump
from cpucompat.errors import InputError
from cpucompat.formats import aida64
from cpucompat.formats._common import finish, new_cpu, regs32

NAME = "libcpuid"

#: libcpuid array name -> (leaf, True when the index is the subleaf / False when added to leaf)
ARRAYS: dict[str, tuple[int, bool]] = {
    "basic_cpuid": (0x0, False),
    "ext_cpuid": (0x80000000, False),
    "intel_fn4": (0x4, True),
    "intel_fn11": (0xB, True),
    "intel_fn12h": (0x12, True),
    "intel_fn14h": (0x14, True),
    "amd_fn8000001dh": (0x8000001D, True),
}
_ENTRY = re.compile(
    r"([a-z_0-9]+)\[([0-9]{1,9})\]="
    r"\s*([0-9a-fA-F]+)\s+([0-9a-fA-F]+)\s+([0-9a-fA-F]+)\s+([0-9a-fA-F]+)\s*"
)
_CPU_HEADER = re.compile(r"_+[ \t]*Logical CPU #([0-9]{1,9})[ \t]*_+")
_VERSION = re.compile(r"version=(.*)")
_ARM = re.compile(r"arm_\w+=")
_DELIMITER = re.compile(r"^-{80}[ \t]*$", re.MULTILINE)
_NATIVE_SNIFF = re.compile(r"^(?:basic_cpuid|ext_cpuid)\[[0-9]+\]=", re.MULTILINE)
_EXPECTED = "expected 'basic_cpuid[i]=EAX EBX ECX EDX' or another libcpuid raw-data line"


def sniff(text: str) -> bool:
    """libcpuid's own raw lines, or AIDA64 lines followed by the 80-dash delimiter."""
    if _NATIVE_SNIFF.search(text):
        return True
    delimiter = _DELIMITER.search(text)
    return delimiter is not None and aida64.sniff(text[: delimiter.start()])


def parse(text: str, path: str) -> Dump:
    """The raw CPUs of a libcpuid ``.test`` and, in ``extra``, its expected decode."""
    delimiter = _DELIMITER.search(text)
    raw = text[: delimiter.start()] if delimiter else text
    extra: dict = {}
    if delimiter:
        expected = text[delimiter.end() :].strip("\n").split("\n")
        extra["libcpuid_expected"] = [line.rstrip() for line in expected]
    if _NATIVE_SNIFF.search(raw):
        cpus = _native_cpus(raw, path, extra)
    else:
        extra["raw_format"] = aida64.NAME
        cpus = aida64.read_cpus(raw, path)
    return finish(path, NAME, cpus, extra=extra)


def _native_cpus(raw: str, path: str, extra: dict) -> list[CpuLeaves]:
    cpus: list[CpuLeaves] = []
    current: CpuLeaves | None = None
    for number, line in enumerate(raw.split("\n"), 1):
        stripped = line.strip()
        if not stripped:
            continue
        header = _CPU_HEADER.fullmatch(stripped)
        if header:
            current = new_cpu(cpus, path, number, int(header.group(1)), f"Logical CPU #{header.group(1)}")
            continue
        version = _VERSION.fullmatch(stripped)
        if version:
            extra["libcpuid_version"] = version.group(1).strip()
            continue
        if current is None:
            current = new_cpu(cpus, path, number, 0)
        _read_entry(stripped, number, path, current)
    for cpu in cpus:
        _drop_past_max(cpu)
    return cpus


def _read_entry(line: str, number: int, path: str, cpu: CpuLeaves) -> None:
    match = _ENTRY.fullmatch(line)
    if not match or match.group(1) not in ARRAYS:
        if _ARM.match(line):
            raise InputError(path, "an ARM libcpuid dump: cpucompat reads x86 CPUID only", number)
        raise InputError(path, _EXPECTED, number)
    name, index_text, *registers = match.groups()
    base, indexed_by_subleaf = ARRAYS[name]
    index = int(index_text)
    key = (base, index) if indexed_by_subleaf else (base + index, 0)
    if key in cpu.leaves and not indexed_by_subleaf:
        return  # the subleaf arrays are explicit ECX queries: they win over basic_cpuid[i]
    cpu.leaves[key] = regs32(registers, path, number)


def _drop_past_max(cpu: CpuLeaves) -> None:
    """Remove the leaves libcpuid recorded beyond the maximum basic / extended leaf."""
    max_basic = cpu.get(0)[0] if cpu.has(0) else None
    max_ext = cpu.get(0x80000000)[0] if cpu.has(0x80000000) else None
    if max_ext is not None and max_ext >> 16 != 0x8000:
        max_ext = 0x80000000  # no extended range: only 0x80000000 itself is meaningful
    for leaf, subleaf in list(cpu.leaves):
        limit = max_ext if leaf >= 0x80000000 else max_basic
        if limit is not None and leaf > limit:
            del cpu.leaves[(leaf, subleaf)]
