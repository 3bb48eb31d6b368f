"""Xen xl.cfg ``cpuid=`` in the xend list form: one string per leaf with per-bit characters.

``cpuid = [ "0x00000007,0:ebx=xxxx...,ecx=...", ... ]``: the leaf (``0x`` hex), ``,subleaf``
for leaves that take one, then ``reg=`` and exactly 32 characters, the first one bit 31
(xen-project/xen ``docs/man/xl.cfg.5.pod.in``; parsed by ``libxl_cpuid_parse_config_xend``).
``x`` keeps Xen's safe default, ``0``/``1`` force the bit. Unlike the libxl string form it can
say everything a plan says: every hidden feature, hidden XSAVE components (leaf 0xD) and the
lowered max basic/extended leaf and physical address bits.
"""

from __future__ import annotations

from itertools import groupby

from .bits import forced_bits, has_subleaf, header

KEEP = "x"


def _input(leaf: int, subleaf: int) -> str:
    return f"{leaf:#010x},{subleaf}" if has_subleaf(leaf) else f"{leaf:#010x}"


def render(plan, options) -> str:
    lines = header(plan)
    forced = forced_bits(plan)
    entries = []
    for (leaf, subleaf), group in groupby(forced.items(), key=lambda item: item[0][:2]):
        registers = ",".join(f"{register}={bits.string(KEEP)}" for (_, _, register), bits in group)
        entries.append(f'"{_input(leaf, subleaf)}:{registers}"')
    if not entries:
        lines.append("# nothing to mask")
        return "\n".join(lines) + "\n"
    lines.append("cpuid = [")
    lines.extend(f"    {entry}," for entry in entries[:-1])
    lines.append(f"    {entries[-1]}")
    lines.append("]")
    return "\n".join(lines) + "\n"
