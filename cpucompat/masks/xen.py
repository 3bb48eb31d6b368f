"""Xen xl.cfg ``cpuid=`` in the libxl string form: ``cpuid = "host,avx2=0,avx=0,maxleaf=13"``.

``host`` first, then ``key=value`` pairs (xen-project/xen ``docs/man/xl.cfg.5.pod.in``,
``tools/libs/light/libxl_cpuid.c``). Feature keys are Xen's names (``cpufeatureset.h`` in
lower case with hyphens; the ``xen`` column of features.csv); ``0`` forces the bit clear. Of
the numeric keys only ``maxleaf`` (CPUID.0:EAX) lowers something a plan lowers: libxl has no key
for the max extended leaf or the physical address width, and none for XSAVE components. Xen
rebuilds leaf 0xD from the features it offers, so components owned by hidden features go with
them. Whatever the string form cannot say is listed in a comment: ``--format xen-legacy``
writes it bit by bit.
"""

from __future__ import annotations

from .bits import Unexpressed, commented, header, split_by_name, unexpressed_notes, unowned_xsave

WORDS = Unexpressed(
    what="the libxl cpuid string",
    features=("the libxl cpuid string has no Xen name for these hidden features; "
              "use --format xen-legacy for them:"),
    lower="use --format xen-legacy",
    xsave="no hidden feature owns them; use --format xen-legacy",
)


def render(plan, options) -> str:
    named, unnamed = split_by_name(plan, "xen")
    pairs = [f"{name}=0" for name, _ in named]
    if "max_basic_leaf" in plan.lower:
        pairs.append(f"maxleaf={plan.lower['max_basic_leaf']}")
    notes = unexpressed_notes(plan, unnamed, WORDS, lowerable=("max_basic_leaf",),
                              xsave_left=unowned_xsave(plan, {f.name for _, f in named}))
    lines = header(plan) + commented(notes)
    lines.append(f'cpuid = "{",".join(["host", *pairs])}"')
    return "\n".join(lines) + "\n"
