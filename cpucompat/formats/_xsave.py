"""Which subleaf an untagged ``CPUID 0000000D`` line of an old AIDA64/EVEREST dump is.

Old dumps print leaf 0xD without ``[SL nn]`` tags and only for the components present, so a
running count is wrong: the Sandy Bridge dump lists subleaf 0 and then subleaf 2 (AVX).
For subleaf i >= 2 CPUID returns EAX = size and EBX = offset of XSAVE component i (EBX = 0 and
ECX[0] = 1 for supervisor components); subleaf 1 returns feature bits in EAX[4:0]. The
components a line can be are the bits that subleaf 0 (XCR0-capable, EDX:EAX) and subleaf 1
(IA32_XSS-capable, EDX:ECX) report, in ascending order: AIDA64 prints subleaves in order.
"""

from __future__ import annotations

from cpucompat.dump import Regs

#: component -> (size, standard offset or None): Intel SDM Vol. 1 §13.2-13.5, AMD APM Vol. 2
#: §11.5. AMD packs the user components differently (Zen 4: opmask at 0x340, PKRU at 0x980),
#: so a size match alone also counts; supervisor components have no offset.
COMPONENTS: dict[int, tuple[int | None, int | None]] = {
    2: (0x100, 0x240),  # AVX (YMM_Hi128)
    3: (0x40, 0x3C0),  # MPX BNDREGS
    4: (0x40, 0x400),  # MPX BNDCSR
    5: (0x40, 0x440),  # AVX-512 opmask
    6: (0x200, 0x480),  # AVX-512 ZMM_Hi256
    7: (0x400, 0x680),  # AVX-512 Hi16_ZMM
    8: (0x80, None),  # PT (supervisor)
    9: (0x8, 0xA80),  # PKRU
    10: (0x8, None),  # PASID (supervisor)
    11: (0x10, None),  # CET_U (supervisor)
    12: (0x18, None),  # CET_S (supervisor)
    13: (0x8, None),  # HDC (supervisor)
    14: (0x30, None),  # UINTR (supervisor)
    15: (None, None),  # arch LBR (supervisor, size depends on the LBR depth)
    16: (0x8, None),  # HWP (supervisor)
    17: (0x40, 0xAC0),  # AMX TILECFG
    18: (0x2000, 0xB00),  # AMX TILEDATA
    19: (0x80, 0x3C0),  # APX extended GPRs (reuses the MPX area)
    62: (0x80, 0x340),  # AMD LWP
}
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
    known = [i for i in COMPONENTS if i > last and _matches(i, regs, offset=True)]
    return known[0] if known else last + 1


def _enabled(seen: dict[int, Regs]) -> list[int]:
    """Component numbers that subleaf 0 (XCR0 bits) and subleaf 1 (IA32_XSS bits) announce."""
    eax0, _, _, edx0 = seen.get(0, (0, 0, 0, 0))
    _, _, ecx1, edx1 = seen.get(1, (0, 0, 0, 0))
    mask = eax0 | edx0 << 32 | ecx1 | edx1 << 32
    return [bit for bit in range(64) if mask >> bit & 1]


def _matches(component: int, regs: Regs, *, offset: bool) -> bool:
    size, standard = COMPONENTS.get(component, (None, None))
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
