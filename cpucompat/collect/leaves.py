"""Which CPUID leaves and subleaves one CPU has, and reading them all through a ``Reader``.

Leaves come in ranges (basic 0x0, hypervisor 0x40000000, extended 0x80000000, Centaur
0xC0000000); the first leaf of a range reports its highest leaf in EAX, and nothing above it
is read (Intel echoes the highest basic leaf there). Inside a leaf, each leaf has its own
rule for which subleaves exist: the ranges and the rules are ``knowledge/cpuid_layout.py``
(``data/cpuid-leaves.csv``), which the decoder and the mask writers read too; every rule is
capped so a buggy CPU or hypervisor cannot make the collector loop.
"""

from __future__ import annotations

import time
from typing import Protocol

from ..cpuid_fields import vendor_families
from ..dump import Regs
from ..knowledge.cpuid_layout import (EAX, MAX_RANGE_LEAVES, MAX_SUBLEAF, RANGES, LeafRange,
                                      reported_max, subleaf_rules, subleaves)


class Reader(Protocol):
    """One logical CPU's CPUID (and XCR0, when the method can read it)."""

    method: str

    def cpuid(self, leaf: int, subleaf: int) -> Regs: ...

    def xgetbv(self) -> int | None: ...


class DeadlineReached(Exception):
    """The global collection deadline passed while reading a CPU."""


def _range_max(first: Regs, base: int) -> int:
    """The highest leaf a range's first leaf reports, capped; base when it reports none."""
    reported = reported_max(base, first[EAX])
    return base if reported is None else min(reported, base + MAX_RANGE_LEAVES)


def _range_present(spec: LeafRange, leaves: dict[tuple[int, int], Regs]) -> bool:
    if spec.requires_bit:
        leaf, register, bit = spec.requires_bit
        basic_max = leaves[(0, 0)][EAX]
        return leaf <= basic_max and bool(leaves.get((leaf, 0), (0, 0, 0, 0))[register] >> bit & 1)
    if spec.vendor_family:
        _, ebx, ecx, edx = leaves[(0, 0)]
        vendor = b"".join(r.to_bytes(4, "little") for r in (ebx, edx, ecx)).decode("latin-1")
        return vendor_families().get(vendor) == spec.vendor_family
    return True


def read_leaves(reader: Reader, deadline: float | None = None) -> tuple[dict[tuple[int, int], Regs], list[str]]:
    """Every leaf/subleaf of one CPU, and notes on anything capped.

    ``deadline`` is a ``time.monotonic()`` value; past it ``DeadlineReached`` is raised.
    """
    leaves: dict[tuple[int, int], Regs] = {}
    notes: list[str] = []
    for spec in RANGES:
        if _range_present(spec, leaves):
            try:
                _read_range(reader, spec.base, leaves, notes, deadline)
            except OSError as error:  # e.g. no way to run CPUID for this range
                notes.append(f"leaves {spec.base:#x} and up not read: {error.strerror or error}")
    return leaves, notes


def _read_range(reader: Reader, base: int, leaves: dict, notes: list[str], deadline: float | None) -> None:
    first = _masked(reader.cpuid(base, 0))
    leaves[(base, 0)] = first
    last = _range_max(first, base)
    if first[EAX] > base + MAX_RANGE_LEAVES and last == base + MAX_RANGE_LEAVES:
        notes.append(f"leaf {base:#x} reports max leaf {first[EAX]:#x}; read only up to {last:#x}")
    for leaf in range(base, last + 1):
        if deadline is not None and time.monotonic() > deadline:
            raise DeadlineReached(f"leaf {leaf:#x}")
        _read_leaf(reader, leaf, leaves, notes)


def _read_leaf(reader: Reader, leaf: int, leaves: dict, notes: list[str]) -> None:
    def read(subleaf: int) -> Regs:
        regs = leaves.get((leaf, subleaf))
        if regs is None:
            regs = leaves[(leaf, subleaf)] = _masked(reader.cpuid(leaf, subleaf))
        return regs

    _, capped = subleaves(subleaf_rules().get(leaf), read)
    if capped:
        notes.append(f"leaf {leaf:#x}: more than {MAX_SUBLEAF + 1} subleaves; stopped at {MAX_SUBLEAF:#x}")


def _masked(regs: Regs) -> Regs:
    return tuple(r & 0xFFFFFFFF for r in regs)  # type: ignore[return-value]
