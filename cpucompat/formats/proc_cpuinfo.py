"""Linux ``/proc/cpuinfo`` (x86): one ``KernelCpu`` per ``processor`` block, no raw CPUID.

The kernel shows a filtered, renamed view (it hides bits it does not use and adds synthetic
ones), so the Dump is ``degraded``: ``cpus`` stays empty and a note says why.
"""

from __future__ import annotations

import re

from cpucompat.dump import Dump, KernelCpu
from cpucompat.errors import InputError
from cpucompat.formats._common import check_cpu_count

NAME = "proc-cpuinfo"
NOTE = "flags only: /proc/cpuinfo is the kernel's filtered view, not raw CPUID"

_SNIFF = re.compile(r"^processor[ \t]*:[ \t]*[0-9]+[ \t]*$", re.MULTILINE)
_INTEGERS = {"cpu family": "family", "model": "model", "stepping": "stepping"}
_STRINGS = {"vendor_id": "vendor_id", "model name": "model_name", "microcode": "microcode"}


def sniff(text: str) -> bool:
    """True when some line is ``processor : N``."""
    return _SNIFF.search(text) is not None


def parse(text: str, path: str) -> Dump:
    """The kernel's per-CPU view: flags, vendor, family/model/stepping, name, microcode."""
    cpus: list[KernelCpu] = []
    for number, line in enumerate(text.split("\n"), 1):
        if not line.strip():
            continue
        key, colon, value = line.partition(":")
        if not colon:
            raise InputError(path, "expected 'key : value'", number)
        key, value = key.strip(), value.strip()
        if key == "processor":
            check_cpu_count(len(cpus) + 1, path, number)
            cpus.append(KernelCpu(index=_integer(value, path, number, key)))
        elif cpus:
            _set_field(cpus[-1], key, value, path, number)
    if not cpus:
        raise InputError(path, "no 'processor : N' line found")
    if not any(cpu.flags for cpu in cpus):
        raise InputError(path, "no 'flags' line: not an x86 /proc/cpuinfo")
    return Dump(path=path, format=NAME, kernel=cpus, degraded=True, notes=[NOTE])


def _set_field(cpu: KernelCpu, key: str, value: str, path: str, number: int) -> None:
    if key == "flags":
        cpu.flags = frozenset(value.split())
    elif key in _INTEGERS:
        number_or_none = None if value == "unknown" else _integer(value, path, number, key)
        setattr(cpu, _INTEGERS[key], number_or_none)
    elif key in _STRINGS:
        setattr(cpu, _STRINGS[key], value)


def _integer(value: str, path: str, number: int, key: str) -> int:
    if not value.isdigit() or not value.isascii() or len(value) > 9:
        raise InputError(path, f"{key}: expected a number, got {value!r}", number)
    return int(value)
