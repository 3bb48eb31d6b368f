"""The kernel's CPU list syntax (``0,2-3``): parsing and formatting."""

from __future__ import annotations

import re

from .errors import UsageError

_CPU_LIST = re.compile(r"\d+(-\d+)?(,\d+(-\d+)?)*")
#: Highest CPU number accepted: Linux's NR_CPUS is at most 8192 on distribution kernels.
MAX_CPU = 65535


def parse_cpu_list(text: str, what: str = "CPU list") -> list[int]:
    """``0,2-3`` -> [0, 2, 3] (the kernel's list syntax); UsageError when malformed."""
    text = text.strip()
    if not _CPU_LIST.fullmatch(text):
        raise UsageError(f"invalid {what} {text!r}: expected numbers and ranges like 0,2-3")
    spans = []
    for part in text.split(","):
        low, _, high = part.partition("-")
        if len(low) > 6 or len(high) > 6 or int(high or low) > MAX_CPU:
            raise UsageError(f"invalid {what}: CPU numbers go up to {MAX_CPU}, got {part[:20]!r}")
        first, last = int(low), int(high or low)
        if last < first:
            raise UsageError(f"invalid {what}: range {part} is backwards")
        spans.append((first, last))
    cpus: list[int] = []
    for first, last in sorted(spans):  # overlapping ranges merged: at most MAX_CPU + 1 numbers
        start = max(first, cpus[-1] + 1) if cpus else first
        cpus.extend(range(start, last + 1))
    return cpus


def format_cpu_list(cpus: list[int]) -> str:
    """[0, 2, 3] -> ``0,2-3``."""
    spans: list[list[int]] = []
    for cpu in sorted(cpus):
        if spans and cpu == spans[-1][1] + 1:
            spans[-1][1] = cpu
        else:
            spans.append([cpu, cpu])
    return ",".join(str(a) if a == b else f"{a}-{b}" for a, b in spans)
