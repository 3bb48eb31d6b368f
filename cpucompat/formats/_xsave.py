"""Which subleaf an untagged ``CPUID 0000000D`` line of an old AIDA64/EVEREST dump is.

Old dumps print leaf 0xD without ``[SL nn]`` tags and only for the components present, so a
running count is wrong: the Sandy Bridge dump lists subleaf 0 and then subleaf 2 (AVX).
For subleaf i >= 2 CPUID returns EAX = size and EBX = offset of XSAVE component i (EBX = 0 and
ECX[0] = 1 for supervisor components); subleaf 1 returns feature bits in EAX[4:0]. The
components a line can be are the bits that subleaf 0 (XCR0-capable, EDX:EAX) and subleaf 1
(IA32_XSS-capable, EDX:ECX) report, in ascending order: AIDA64 prints subleaves in order.
Sizes and standard offsets are ``data/xsave-components.csv``'s.
"""

from __future__ import annotations

from functools import cache
from typing import NamedTuple

from cpucompat.dump import Regs
from cpucompat.knowledge.tables import table

class Component(NamedTuple):
    """One row of ``data/xsave-components.csv``: size and standard offset, None where CPUID
    reports none (supervisor components have no offset; arch LBR's size varies)."""

    component: int
    name: str
    size: int | None = None
    offset: int | None = None


@cache
def components() -> dict[int, tuple[int | None, int | None]]:
    """component -> (size, standard offset or None) for the components CPUID enumerates (i >= 2).
    AMD packs the user components differently, so a size match alone also counts."""
    return {row.component: (row.size, row.offset) for row in table("xsave-components.csv", Component)
            if row.component >= 2}


_SUBLEAF1_EAX_BITS = 0x1F  # XSAVEOPT, XSAVEC, XGETBV1, XSAVES, XFD


def infer_subleaf(seen: dict[int, Regs], regs: Regs, last: int | None = None) -> int:
    """The subleaf of the next untagged 0xD line ``regs``; ``seen`` = subleaves already read.

    ``last`` is ``max(seen)`` when the caller keeps it (a reader of many lines must: computing
    it here for every line makes a long dump quadratic).
    """
    if not seen:
        return 0
    if last is None:
        last = max(seen)
    candidates = [i for i in _enabled(seen) if i > max(last, 1)]
    exact = [i for i in candidates if _matches(i, regs, offset=True)]
    if exact:
        return exact[0]
    if last == 0 and regs[0] & ~_SUBLEAF1_EAX_BITS == 0:
        return 1
    sized = [i for i in candidates if _matches(i, regs, offset=False)]
    if sized:
        return sized[0]
    if candidates:
        return candidates[0]
    known = [i for i in components() if i > last and _matches(i, regs, offset=True)]
    return known[0] if known else last + 1


def _enabled(seen: dict[int, Regs]) -> list[int]:
    """Component numbers that subleaf 0 (XCR0 bits) and subleaf 1 (IA32_XSS bits) announce."""
    eax0, _, _, edx0 = seen.get(0, (0, 0, 0, 0))
    _, _, ecx1, edx1 = seen.get(1, (0, 0, 0, 0))
    mask = eax0 | edx0 << 32 | ecx1 | edx1 << 32
    return [bit for bit in range(64) if mask >> bit & 1]


def _matches(component: int, regs: Regs, *, offset: bool) -> bool:
    size, standard = components().get(component, (None, None))
    eax, ebx, ecx, _ = regs
    if size is not None and eax != size:
        return False
    if size is None and eax == 0:
        return False
    if not offset:
        return True
    if ecx & 1:  # supervisor component: no offset in the standard format
        return ebx == 0
    return standard is not None and ebx == standard
