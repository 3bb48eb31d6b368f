"""The CPUID layout: leaf ranges, the vendors that own them, and how each leaf enumerates its
subleaves (``data/cpuid-leaves.csv``). The one home of these rules: the host agent
(``collect/leaves.py``) reads what they say exists, the decoder (``decode.py``) takes bits only
from subleaves they say are real, and the mask writers (``masks/bits.py``) name the leaves they
list as ``leaf,subleaf``.

Leaves come in ranges (basic 0x0, hypervisor 0x40000000, extended 0x80000000, Centaur
0xC0000000); the first leaf of a range reports its highest leaf in EAX. Every rule is capped so
a buggy CPU or hypervisor cannot make a reader loop. Imports only the table loader (the host
agent's fast path stays light).
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cache
from typing import NamedTuple

from .tables import rows

EAX, EBX, ECX, EDX = range(4)
REGISTER_NAMES = ("eax", "ebx", "ecx", "edx")
HYPERVISOR_BASE = 0x40000000
EXTENDED_BASE = 0x80000000
CENTAUR_BASE = 0xC0000000
#: At most this many subleaves per leaf (0..MAX_SUBLEAF), and leaves per range above its base.
MAX_SUBLEAF = 63
MAX_RANGE_LEAVES = 0xFF

Regs = tuple[int, int, int, int]


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


class LeafRange(NamedTuple):
    """A CPUID leaf range and when it exists: a feature bit set, or a vendor family."""

    base: int
    requires_bit: tuple[int, int, int] | None = None  # (leaf, register, bit), subleaf 0
    vendor_family: str | None = None


#: The ranges, in order; the hypervisor range only when CPUID.1:ECX[31] says so, Centaur's
#: only on a Centaur/Zhaoxin CPU (data/vendors.csv family).
RANGES = (
    LeafRange(0x00000000),
    LeafRange(HYPERVISOR_BASE, requires_bit=(1, ECX, 31)),
    LeafRange(EXTENDED_BASE),
    LeafRange(CENTAUR_BASE, vendor_family="centaur"),
)
#: Leaves only one vendor family defines; another vendor's values there are garbage
#: (Intel stops at 0x80000008).
VENDOR_LEAVES = (
    (0x80000009, 0x8000FFFF, "amd"),
    (CENTAUR_BASE, CENTAUR_BASE + 0xFFFF, "centaur"),
)


def vendor_allows(leaf: int, vendor_family: str) -> bool:
    """Whether a CPU of this vendor family defines the leaf (``VENDOR_LEAVES``)."""
    return all(not lo <= leaf <= hi or vendor_family == owner for lo, hi, owner in VENDOR_LEAVES)


def reported_max(base: int, reported: int) -> int | None:
    """The highest leaf a range's first leaf reports (its EAX), None when that is no leaf of the
    range. Old KVM reports 0 in 0x40000000 EAX, meaning 0x40000001 (as Linux reads it)."""
    if base <= reported <= base + 0xFFFF:
        return reported
    if base == HYPERVISOR_BASE and reported < base:
        return base + 1
    return None


def _register(name: str) -> int:
    return REGISTER_NAMES.index(name.strip().lower())


def _source(text: str) -> tuple[int, int, int]:
    where, _, shift = text.partition("<<")
    subleaf, _, register = where.partition(".")
    return int(subleaf), _register(register), int(shift or 0)


def _rule(row: dict[str, str]) -> Rule:
    if row["rule"] == "count":
        return Count(_register(row["register"] or "eax"))
    if row["rule"] == "until":
        return Until(_register(row["register"]), int(row["mask"], 16), int(row["start"] or 0))
    if row["rule"] == "bitmap":
        fixed = tuple(int(s) for s in (row["fixed"] or "0").split())
        return Bitmap(tuple(_source(s) for s in row["bitmap"].split()), fixed)
    raise ValueError(f"data/cpuid-leaves.csv: leaf {row['leaf']}: unknown rule {row['rule']!r}")


@cache
def subleaf_rules() -> dict[int, Rule]:
    """How each leaf with subleaves enumerates them; any other leaf has subleaf 0 only."""
    return {int(row["leaf"], 16): _rule(row) for row in rows("cpuid-leaves.csv")}


def has_subleaves(leaf: int) -> bool:
    """Whether the leaf's output depends on ECX (the subleaf)."""
    return leaf in subleaf_rules()


def subleaves(rule: Rule | None, read: Callable[[int], Regs]) -> tuple[list[int], bool]:
    """The subleaves a rule enumerates (reading them through ``read``) and whether the cap stopped it."""
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


def subleaf_exists(leaf: int, subleaf: int, read: Callable[[int], Regs]) -> bool:
    """Whether the leaf's own rule says the subleaf exists, judged on its registers (``read``)."""
    if subleaf == 0:
        return True
    return subleaf in subleaves(subleaf_rules().get(leaf), read)[0]
