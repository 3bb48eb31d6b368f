"""The kernel's CPU list syntax (``0,2-3``): parsing and formatting."""

from __future__ import annotations

import re

from .errors import UsageError

_CPU_LIST = re.compile(r"\d+(-\d+)?(,\d+(-\d+)?)*")


def parse_cpu_list(text: str, what: str = "CPU list") -> list[int]:
    """``0,2-3`` -> [0, 2, 3] (the kernel's list syntax); UsageError when malformed."""
    text = text.strip()
    if not _CPU_LIST.fullmatch(text):
        raise UsageError(f"invalid {what} {text!r}: expected numbers and ranges like 0,2-3")
    cpus: set[int] = set()
    for part in text.split(","):
        low, _, high = part.partition("-")
        first, last = int(low), int(high or low)
        if last < first or last - first > 65536:
            raise UsageError(f"invalid {what} {text!r}: range {part} is backwards or too long")
        cpus.update(range(first, last + 1))
    return sorted(cpus)


def format_cpu_list(cpus: list[int]) -> str:
    """[0, 2, 3] -> ``0,2-3``."""
    spans: list[list[int]] = []
    for cpu in sorted(cpus):
        if spans and cpu == spans[-1][1] + 1:
            spans[-1][1] = cpu
        else:
            spans.append([cpu, cpu])
    return ",".join(str(a) if a == b else f"{a}-{b}" for a, b in spans)
