"""Which CPUID leaves and subleaves one CPU has, and reading them all through a ``Reader``.

Leaves come in ranges (basic 0x0, hypervisor 0x40000000, extended 0x80000000, Centaur
0xC0000000); the first leaf of a range reports its highest leaf in EAX, and nothing above it
is read (Intel echoes the highest basic leaf there). Inside a leaf, each leaf has its own
rule for which subleaves exist (Intel SDM Vol. 2A "CPUID", AMD APM Vol. 3 appendix E). The
rules are the table ``SUBLEAF_RULES``; every rule is capped so a buggy CPU or hypervisor
cannot make the collector loop.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import NamedTuple, Protocol

from ..cpuid_fields import vendor_families
from ..dump import Regs

EAX, EBX, ECX, EDX = range(4)
#: At most this many subleaves per leaf, and leaves per range above its base.
MAX_SUBLEAF = 63
MAX_RANGE_LEAVES = 0xFF


class Reader(Protocol):
    """One logical CPU's CPUID (and XCR0, when the method can read it)."""

    method: str

    def cpuid(self, leaf: int, subleaf: int) -> Regs: ...

    def xgetbv(self) -> int | None: ...


class DeadlineReached(Exception):
    """The global collection deadline passed while reading a CPU."""


class Count(NamedTuple):
    """Subleaves 0..N where N is a register of subleaf 0 (leaf 7: 7.0.EAX)."""

    register: int = EAX


class Until(NamedTuple):
    """Subleaves ``start``.. up to and including the first whose field (register & mask) is 0.

    Subleaves below ``start`` are always read (leaf 0x12: 0 and 1 are fixed, EPC sections follow).
    """

    register: int
    mask: int
    start: int = 0


class Bitmap(NamedTuple):
    """The fixed subleaves, then one subleaf per bit set in the OR of registers of fixed subleaves.

    ``sources`` are (subleaf, register, shift): leaf 0xD's bitmap is XCR0-supported
    (0.EDX:EAX) | XSS-supported (1.EDX:ECX).
    """

    sources: tuple[tuple[int, int, int], ...]
    fixed: tuple[int, ...] = (0,)


Rule = Count | Until | Bitmap

#: How each leaf with subleaves enumerates them; any other leaf has subleaf 0 only.
SUBLEAF_RULES: dict[int, Rule] = {
    0x04: Until(EAX, 0x1F),  # deterministic cache parameters: until cache type 0
    0x07: Count(),
    0x0B: Until(ECX, 0xFF00),  # x2APIC topology: until level type 0
    0x0D: Bitmap(((0, EAX, 0), (0, EDX, 32), (1, ECX, 0), (1, EDX, 32)), fixed=(0, 1)),
    0x0F: Bitmap(((0, EDX, 0),)),  # RDT monitoring: resource bits of 0xF.0.EDX
    0x10: Bitmap(((0, EBX, 0),)),  # RDT allocation: resource bits of 0x10.0.EBX
    0x12: Until(EAX, 0xF, start=2),  # SGX: 0, 1, then EPC sections until type 0
    0x14: Count(),
    0x17: Count(),
    0x18: Count(),
    0x1B: Until(EAX, 0xFFF),  # PCONFIG: until target type 0
    0x1D: Count(),
    0x1E: Count(),
    0x1F: Until(ECX, 0xFF00),  # V2 extended topology
    0x20: Count(),
    0x23: Bitmap(((0, EAX, 0),)),  # architectural PerfMon ext: valid-subleaf bitmap in 0x23.0.EAX
    0x24: Count(),
    0x8000001D: Until(EAX, 0x1F),  # AMD cache topology: until cache type 0
    0x80000020: Bitmap(((0, EBX, 0),)),  # AMD PQoS extensions: bits of 0x80000020.0.EBX
    0x80000026: Until(ECX, 0xFF00),  # AMD extended CPU topology
}


class LeafRange(NamedTuple):
    """A CPUID leaf range and when it exists: a feature bit set, or a vendor family."""

    base: int
    requires_bit: tuple[int, int, int] | None = None  # (leaf, register, bit), subleaf 0
    vendor_family: str | None = None


#: The ranges read, in order; the hypervisor range only when CPUID.1:ECX[31] says so.
RANGES = (
    LeafRange(0x00000000),
    LeafRange(0x40000000, requires_bit=(1, ECX, 31)),
    LeafRange(0x80000000),
    LeafRange(0xC0000000, vendor_family="centaur"),
)


def subleaves(rule: Rule | None, read: Callable[[int], Regs]) -> tuple[list[int], bool]:
    """The subleaves a rule reads (reading them through ``read``) and whether the cap stopped it."""
    if rule is None:
        read(0)
        return [0], False
    if isinstance(rule, Count):
        count = read(0)[rule.register]
        wanted = list(range(1, min(count, MAX_SUBLEAF) + 1))
        for subleaf in wanted:
            read(subleaf)
        return [0, *wanted], count > MAX_SUBLEAF
    if isinstance(rule, Until):
        done = list(range(rule.start))
        for subleaf in done:
            read(subleaf)
        for subleaf in range(rule.start, MAX_SUBLEAF + 1):
            done.append(subleaf)
            if not read(subleaf)[rule.register] & rule.mask:
                return done, False
        return done, True
    fixed = {s: read(s) for s in rule.fixed}
    bits = 0
    for subleaf, register, shift in rule.sources:
        bits |= fixed[subleaf][register] << shift
    extra = [b for b in range(min(bits.bit_length(), MAX_SUBLEAF + 1)) if bits >> b & 1 and b not in fixed]
    for subleaf in extra:
        read(subleaf)
    return [*rule.fixed, *extra], False


def _range_max(first: Regs, base: int) -> int:
    """The highest leaf a range's first leaf reports, capped; base when it reports none."""
    reported = first[EAX]
    if base == 0x40000000 and reported < base:
        return base + 1  # old KVM reports 0, meaning 0x40000001 (as Linux reads it)
    if not base <= reported <= base + 0xFFFF:
        return base
    return min(reported, base + MAX_RANGE_LEAVES)


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

    _, capped = subleaves(SUBLEAF_RULES.get(leaf), read)
    if capped:
        notes.append(f"leaf {leaf:#x}: more than {MAX_SUBLEAF + 1} subleaves; stopped at {MAX_SUBLEAF:#x}")


def _masked(regs: Regs) -> Regs:
    return tuple(r & 0xFFFFFFFF for r in regs)  # type: ignore[return-value]
