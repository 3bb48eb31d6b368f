"""VMware per-VM CPUID masks in the .vmx: ``cpuid.<leaf>[.<subleaf>].<reg> = "----:...:----"``.

Each value has 32 characters in groups of 4, bit 31 first. ``0`` and ``1`` override the bit,
``-`` leaves VMware's default alone ("Ones and zeroes override the default settings, bit by
bit"; it is not an AND mask). Leaf and subleaf are hex without ``0x``; leaves that take a
subleaf (7, 0xD, ...) are always written with it. VMware looks up ``<key>.amd`` first on AMD
hosts, so for an AMD (or Hygon) VM every line is written in both forms.

What it writes: every hidden feature's bit as ``0``; hidden XSAVE components in leaf 0xD
(subleaf 0 EAX/EDX for XCR0, subleaf 1 ECX/EDX for IA32_XSS); a lowered max basic or extended
leaf as the exact value of leaf 0 / 0x80000000 EAX; lowered physical address bits as
0x80000008 EAX[7:0]. These keys are VMware's legacy per-VM masks (hardware version 8 and
older); for newer hardware see ``--format featmask``.
"""

from __future__ import annotations

from ..cpuid_fields import vendor_families
from .bits import forced_bits, has_subleaf, header

KEEP = "-"


def key(leaf: int, subleaf: int, register: str) -> str:
    if has_subleaf(leaf):
        return f"cpuid.{leaf:x}.{subleaf:x}.{register}"
    return f"cpuid.{leaf:x}.{register}"


def render(plan, options) -> str:
    amd = vendor_families().get(plan.vm_vendor) == "amd"
    lines = header(plan)
    if amd:
        lines.append("# AMD CPU: VMware reads the .amd form of a key first, so both forms are given")
    for (leaf, subleaf, register), forced in forced_bits(plan).items():
        value = forced.string(KEEP, ":")
        name = key(leaf, subleaf, register)
        lines.append(f'{name} = "{value}"')
        if amd:
            lines.append(f'{name}.amd = "{value}"')
    return "\n".join(lines) + "\n"
