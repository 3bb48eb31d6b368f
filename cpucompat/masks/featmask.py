"""VMware feature-name masks in the .vmx: ``featMask.vm.cpuid.<NAME> = "Val:0"``.

The recommended per-VM mask for hardware version 9 and later. Names are VMware's upper-case
feature names (``SSE41``, ``LAHF64``, ``AVX512F``; the ``vmware`` column of features.csv, as
seen second-hand in ``vmware-vmx``); ``Val:0`` requires the feature absent. VMware knows far
fewer names than CPUID has bits, and offers no featMask for leaf limits, address width or XSAVE
components; all of those are listed in a comment: ``--format vmx`` writes them bit by bit
(legacy ``cpuid.<leaf>.<reg>`` masks), except what lives in CPUID subleaves.
"""

from __future__ import annotations

from .bits import Unexpressed, commented, header, split_by_name, unexpressed_notes

WORDS = Unexpressed(
    what="featMask",
    features="featMask has no VMware name for these hidden features; --format vmx (hardware version 8 and "
             "older) can hide those outside CPUID subleaves:",
    lower="use --format vmx",
    xsave="use --format vmx",
)


def render(plan, options) -> str:
    named, unnamed = split_by_name(plan, "vmware")
    lines = header(plan) + commented(unexpressed_notes(plan, unnamed, WORDS))
    lines.extend(f'featMask.vm.cpuid.{name} = "Val:0"' for name, _ in named)
    return "\n".join(lines) + "\n"
