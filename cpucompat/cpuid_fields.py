"""Scalar fields read from raw CPUID: vendor, signature, brand, leaf ranges, address sizes,
XSAVE state, hypervisor and hybrid core type.

These are the numbers a migration check levels besides the feature bits. Every reader here
honours the leaf ranges the CPU reports: above the maximum, Intel echoes the highest basic
leaf, so such data is garbage and never read.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

from .knowledge.cpuid_layout import CENTAUR_BASE, EXTENDED_BASE, HYPERVISOR_BASE, reported_max, subleaf_exists
from .knowledge.tables import rows
from .dump import CpuLeaves

#: Hybrid core types, CPUID.1A:EAX[31:24].
CORE_TYPES = {0x20: "Intel Atom (E-core)", 0x40: "Intel Core (P-core)"}


@cache
def vendor_families() -> dict[str, str]:
    return {row["vendor_string"]: row["family"] for row in rows("vendors.csv")}


@cache
def hypervisor_names() -> dict[str, str]:
    return {row["signature"]: row["name"] for row in rows("hypervisors.csv")}


@cache
def xsave_components() -> dict[int, dict[str, str]]:
    return {int(row["component"]): row for row in rows("xsave-components.csv")}


def xsave_component_names(bits: int) -> list[str]:
    """The XSAVE state components of a bit set as people read them: ``avx(2) pkru(9)``."""
    names = xsave_components()
    return [f"{names[i]['name'] if i in names else 'component'}({i})" for i in range(64) if bits >> i & 1]


def _ascii(*registers: int) -> str:
    raw = b"".join(r.to_bytes(4, "little") for r in registers)
    return raw.decode("latin-1")


def vendor_string(cpu: CpuLeaves) -> str:
    _, ebx, ecx, edx = cpu.get(0)
    return _ascii(ebx, edx, ecx)


@dataclass(frozen=True)
class LeafRanges:
    """The highest valid leaf of each range, and the vendor family of the CPU."""

    max_basic: int
    max_extended: int  # EXTENDED_BASE - 1 when the CPU reports no extended leaves
    max_hypervisor: int  # HYPERVISOR_BASE - 1 when no hypervisor is reported
    max_centaur: int  # CENTAUR_BASE - 1 unless a Centaur/Zhaoxin CPU reports them
    vendor_family: str

    def leaf_valid(self, leaf: int) -> bool:
        if leaf < HYPERVISOR_BASE:
            return leaf <= self.max_basic
        if leaf < EXTENDED_BASE:
            return leaf <= self.max_hypervisor
        if leaf < CENTAUR_BASE:
            return leaf <= self.max_extended
        return leaf <= self.max_centaur


def _range_max(value: int, base: int) -> int:
    """A range's max leaf, or base-1 when the value is not a leaf of that range."""
    reported = reported_max(base, value)
    return base - 1 if reported is None else reported


def leaf_ranges(cpu: CpuLeaves) -> LeafRanges:
    family = vendor_families().get(vendor_string(cpu), "other")
    hypervisor_bit = bool(cpu.get(1)[2] >> 31 & 1) if cpu.get(0)[0] >= 1 else False
    max_hv = (_range_max(cpu.get(HYPERVISOR_BASE)[0], HYPERVISOR_BASE) if hypervisor_bit and cpu.has(HYPERVISOR_BASE)
              else HYPERVISOR_BASE - 1)
    max_centaur = _range_max(cpu.get(CENTAUR_BASE)[0], CENTAUR_BASE) if family == "centaur" else CENTAUR_BASE - 1
    return LeafRanges(
        max_basic=cpu.get(0)[0],
        max_extended=_range_max(cpu.get(EXTENDED_BASE)[0], EXTENDED_BASE),
        max_hypervisor=max_hv,
        max_centaur=max_centaur,
        vendor_family=family,
    )


def subleaf_valid(cpu: CpuLeaves, leaf: int, subleaf: int) -> bool:
    """Whether the leaf's own rule (``knowledge/cpuid_layout.py``) says the subleaf exists:
    exactly the subleaves the host agent reads."""
    return subleaf_exists(leaf, subleaf, lambda index: cpu.get(leaf, index))


def signature(cpu: CpuLeaves) -> tuple[int, int, int, int]:
    """(raw EAX, family, model, stepping) with the extended family/model arithmetic.

    Family = base + extended family when base is 0xF; the extended model is prepended from
    base family 6 up, as Linux ``x86_model()`` and Debian ``cpuid`` do (Intel SDM Vol. 2A names
    families 6 and 0xF only, but Centaur/Zhaoxin family 7 parts use it too: KX-40000 is 7/0x5B).
    """
    eax = cpu.get(1)[0] if cpu.get(0)[0] >= 1 else 0
    base_family, base_model, stepping = eax >> 8 & 0xF, eax >> 4 & 0xF, eax & 0xF
    family = base_family + (eax >> 20 & 0xFF) if base_family == 0xF else base_family
    model = (eax >> 16 & 0xF) << 4 | base_model if base_family >= 6 else base_model
    return eax, family, model, stepping


def brand_string(cpu: CpuLeaves, ranges: LeafRanges) -> str:
    if ranges.max_extended < EXTENDED_BASE + 4:
        return ""
    registers = [r for leaf in range(EXTENDED_BASE + 2, EXTENDED_BASE + 5) for r in cpu.get(leaf)]
    return _ascii(*registers).replace("\x00", " ").strip()


def address_bits(cpu: CpuLeaves, ranges: LeafRanges) -> tuple[int | None, int | None]:
    """(physical, virtual) address bits from 0x80000008 EAX, None when not reported."""
    if ranges.max_extended < EXTENDED_BASE + 8:
        return None, None
    eax = cpu.get(EXTENDED_BASE + 8)[0]
    return (eax & 0xFF) or None, (eax >> 8 & 0xFF) or None


def xsave_state(cpu: CpuLeaves, ranges: LeafRanges) -> dict:
    """Supported XCR0/XSS component masks and per-component sizes from leaf 0xD."""
    if ranges.max_basic < 0xD or not cpu.get(1)[2] >> 26 & 1:
        return {"xcr0_supported": None, "xss_supported": None, "xsave_components": [], "xsave_max_size": None}
    eax0, _, ecx0, edx0 = cpu.get(0xD, 0)
    _, _, ecx1, edx1 = cpu.get(0xD, 1)
    xcr0, xss = eax0 | edx0 << 32, ecx1 | edx1 << 32
    components = []
    for index in range(64):
        if (xcr0 | xss) >> index & 1:
            size, offset = cpu.get(0xD, index)[:2] if index >= 2 else (0, 0)
            known = xsave_components().get(index, {})
            components.append({"component": index, "name": known.get("name", f"component{index}"),
                               "register": "xss" if xss >> index & 1 else "xcr0",
                               "size": size, "offset": offset})
    return {"xcr0_supported": xcr0, "xss_supported": xss, "xsave_components": components, "xsave_max_size": ecx0}


def hypervisor(cpu: CpuLeaves, ranges: LeafRanges) -> str | None:
    """The hypervisor's name (or raw signature) when the CPU says it runs under one."""
    if ranges.max_hypervisor < HYPERVISOR_BASE:
        return None
    _, ebx, ecx, edx = cpu.get(HYPERVISOR_BASE)
    raw = _ascii(ebx, ecx, edx)
    return hypervisor_names().get(raw) or hypervisor_names().get(raw.rstrip("\x00")) or raw.strip("\x00 ") or "unknown"


def core_type(cpu: CpuLeaves, ranges: LeafRanges) -> str | None:
    """Hybrid core type (CPUID.1A:EAX[31:24]) when the CPU is hybrid (7.0:EDX[15])."""
    if ranges.max_basic < 0x1A or not cpu.get(7)[3] >> 15 & 1:
        return None
    code = cpu.get(0x1A)[0] >> 24
    return CORE_TYPES.get(code, f"core type {code:#x}") if code else None
