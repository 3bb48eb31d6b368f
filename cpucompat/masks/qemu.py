"""QEMU ``-cpu`` masks: ``-cpu BASE,-feat,...,level=N,xlevel=N,phys-bits=N,enforce``.

BASE is ``host`` (default), ``max`` or a named model (``--qemu-base``), optionally followed by
the VM's own properties, kept as given: under TCG ``max`` is an AuthenticAMD CPU, so an Intel
VM there runs ``-cpu max,vendor=GenuineIntel`` and its base says so. Each hidden feature
QEMU names becomes ``-name`` (QEMU's spelling: ``sse4.1``, ``lahf-lm``, ``cr8legacy``); the
legacy ``-feat`` form wins over any ``feat=on`` (libvirt-qemu.md §5.4). A hidden feature QEMU
has no name for cannot be requested by QEMU at all, so nothing needs to be done about it; the
comment lists it. Lowered scalars use the x86 CPU properties of QEMU 7.2:

- ``level=N`` (CPUID.0:EAX) and ``xlevel=0x8000000N`` (CPUID.0x80000000:EAX); an explicit
  value wins over the minimum QEMU would derive from the features.
- ``phys-bits=N`` (CPUID.0x80000008:EAX[7:0]). ``host`` and ``max`` under KVM set
  ``host-phys-bits=on``, which overrides ``phys-bits`` (QEMU ``host_cpu_adjust_phys_bits``), so
  for those bases the mask also says ``host-phys-bits=off``.

XSAVE components need no property: QEMU builds leaf 0xD from the features it offers, so a
component goes with the hidden feature that owns it; any other is listed in a comment.
``enforce`` makes QEMU refuse to start instead of silently dropping a feature the base asks for
and the accelerator cannot give: with ``host`` and ``max`` that never trips (they ask only for
what the accelerator has); with a named model under TCG it does (TCG lacks pcid, x2apic, ...).
"""

from __future__ import annotations

from ..knowledge import baselines
from ..errors import UsageError
from .bits import commented, header, split_by_name, unowned_xsave
from .consumers import known_names
from .plan import MaskPlan

#: Bases whose ``host-phys-bits`` defaults to on under KVM (QEMU ``host_cpu_max_instance_init``).
HOST_BASES = ("host", "max")

#: QEMU feature names (features.csv) that QEMU 7.2, Debian 12's, does not know: it refuses a
#: ``-cpu`` naming one ("Property '...' not found"), and it cannot expose the feature either.
#: Only used for a comment; tests/masks/test_qemu.py checks it against the installed QEMU 7.2.
UNKNOWN_TO_QEMU_7_2 = known_names("qemu-7.2", "unknown-feature")


def qemu_base(base: str) -> tuple[str, str]:
    """(model, the rest) of ``--qemu-base``: ``host``, ``max`` or a QEMU CPU model name, then
    optionally ``,prop=value...`` passed through as given (e.g. ``max,vendor=GenuineIntel``,
    the VM's own ``-cpu`` under TCG). UsageError for anything else."""
    model, _, rest = base.partition(",")
    if model in HOST_BASES:
        return model, rest
    try:
        found = baselines.get(model)
    except baselines.UnknownBaseline as exc:
        raise UsageError(f"--qemu-base: {exc}; expected host, max or a QEMU CPU model") from None
    if found.kind != "qemu":
        raise UsageError(f"--qemu-base {model!r} is a {found.kind} baseline, not a QEMU CPU model "
                         "(expected host, max or a model such as Haswell-v4)")
    return model, rest


def cpu_properties(plan: MaskPlan, base: str = "host") -> list[str]:
    """The ``-cpu`` value as its comma-separated parts: base, ``-feat``s, properties, enforce."""
    model, rest = qemu_base(base)
    names = [spelled for spelled, _ in split_by_name(plan, "qemu")[0]]
    parts = [model, *([rest] if rest else []), *(f"-{name}" for name in dict.fromkeys(names))]
    if "max_basic_leaf" in plan.lower:
        parts.append(f"level={plan.lower['max_basic_leaf']}")
    if "max_extended_leaf" in plan.lower:
        parts.append(f"xlevel={plan.lower['max_extended_leaf']:#x}")
    if "phys_addr_bits" in plan.lower:
        if model in HOST_BASES:
            parts.append("host-phys-bits=off")
        parts.append(f"phys-bits={plan.lower['phys_addr_bits']}")
    if "enforce" not in rest.split(","):
        parts.append("enforce")
    return parts


def notes(plan: MaskPlan) -> list[str]:
    """Comment lines: what QEMU cannot name, and how leaf 0xD follows the features."""
    named_hidden, unnamed = split_by_name(plan, "qemu")
    lines = []
    if unnamed:
        lines.append("not exposed by QEMU, nothing to do: "
                     + ", ".join(f"{f.name} ({f.where()})" for f in unnamed))
    if newer := sorted({name for name, _ in named_hidden} & UNKNOWN_TO_QEMU_7_2):
        lines.append(f"QEMU 7.2 (Debian 12) does not know {', '.join('-' + n for n in newer)}: it "
                     "refuses the line (\"Property ... not found\") and cannot expose them either, "
                     "so drop them there")
    left = unowned_xsave(plan, {f.name for _, f in named_hidden})
    if plan.xsave_hidden & ~left:
        lines.append(f"XSAVE components {plan.xsave_hidden & ~left:#x} go with the hidden features "
                     "(QEMU builds CPUID leaf 0xD from the features it offers)")
    if left:
        lines.append(f"QEMU cannot hide XSAVE components {left:#x}: it drops a component only "
                     "with the feature that owns it")
    return lines


def render(plan: MaskPlan, options) -> str:
    cpu = ",".join(cpu_properties(plan, options.qemu_base))
    lines = header(plan) + commented(notes(plan))
    lines.append(f"-cpu {cpu}")
    return "\n".join(lines) + "\n"
