"""Helpers every dump parser shares: hex values with range checks, CPU blocks, the final Dump.

Owns the rules that are the same in every format: a register is 32 bits, a CPU block that
holds no leaf is dropped, and a file without a single leaf is an ``InputError``.
"""

from __future__ import annotations

import re

from cpucompat.dump import CpuLeaves, Dump, Regs
from cpucompat.errors import InputError

MAX32 = 0xFFFFFFFF
MAX64 = 0xFFFFFFFFFFFFFFFF
#: Logical CPUs one input may hold: far above any real host (Linux NR_CPUS is 8192 on
#: distribution kernels), low enough that a crafted 32 MiB dump stays cheap to refuse.
MAX_CPUS = 8192

_HEX = re.compile(r"\s*(?:0[xX])?([0-9a-fA-F]+)\s*")


def hex32(text: str, path: str, line: int | None, what: str = "register value") -> int:
    """``text`` (hex, ``0x`` optional) as an int of at most 32 bits, else an InputError."""
    return _hex(text, path, line, what, MAX32, 32)


def hex64(text: str, path: str, line: int | None, what: str) -> int:
    """``text`` (hex, ``0x`` optional) as an int of at most 64 bits (XCR0, MSRs)."""
    return _hex(text, path, line, what, MAX64, 64)


def _hex(text: str, path: str, line: int | None, what: str, limit: int, bits: int) -> int:
    match = _HEX.fullmatch(text)
    if not match:
        raise InputError(path, f"{what} {shorten(text)!r} is not a hex number", line)
    value = int(match.group(1), 16)
    if value > limit:
        raise InputError(path, f"{what} {shorten(text.strip())} is more than {bits} bits", line)
    return value


def shorten(text: str, limit: int = 40) -> str:
    """``text`` cut to ``limit`` characters for an error message."""
    return text if len(text) <= limit else text[: limit - 3] + "..."


def regs32(values: tuple[str, ...] | list[str], path: str, line: int | None) -> Regs:
    """Four hex register strings (EAX, EBX, ECX, EDX) as a checked register tuple."""
    eax, ebx, ecx, edx = (hex32(value, path, line) for value in values)
    return (eax, ebx, ecx, edx)


def check_cpu_count(count: int, path: str, line: int | None) -> None:
    """InputError once an input holds more than MAX_CPUS logical CPUs (``count`` so far)."""
    if count > MAX_CPUS:
        raise InputError(path, f"more than {MAX_CPUS} CPUs in one input; expected one host's dump", line)


def new_cpu(cpus: list[CpuLeaves], path: str, line: int | None, index: int, label: str = "") -> CpuLeaves:
    """A new CPU block appended to ``cpus``, within MAX_CPUS."""
    check_cpu_count(len(cpus) + 1, path, line)
    cpu = CpuLeaves(index=index, label=label)
    cpus.append(cpu)
    return cpu


def finish(path: str, fmt: str, cpus: list[CpuLeaves], **fields) -> Dump:
    """The Dump of a raw-CPUID format: empty CPU blocks dropped, at least one leaf required."""
    kept = [cpu for cpu in cpus if cpu.leaves]
    if not kept:
        raise InputError(path, f"no CPUID leaves found in this {fmt} dump")
    return Dump(path=path, format=fmt, cpus=kept, **fields)
