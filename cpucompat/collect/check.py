"""``cpucompat collect --check``: a human summary of one collection.

CPU and feature count (through ``cpucompat.decode``), the BIOS findings, per-CPU differences
(the decoder's warnings), and what KVM would hide from or add for a guest compared with the
raw CPUID. Features the OS sets (OSXSAVE, OSPKE) are left out of the KVM comparison: KVM
reports them as 0 because the guest's own kernel sets them.
"""

from __future__ import annotations

import textwrap

from .collector import Collection
from ..cpulist import format_cpu_list

INDENT = "    "


def summary(collection: Collection) -> str:
    """The whole --check text (ends with a newline)."""
    from ..decode import decode

    decoded = decode(collection.dump())
    lines = _cpu_lines(collection, decoded)
    lines += _finding_lines(collection.findings)
    lines += ["Per-CPU differences:"] + [_wrap(w) for w in decoded.warnings or ["none"]]
    lines += _kvm_lines(collection, decoded.features)
    lines += ["Notes:"] + [_wrap(n) for n in collection.notes or ["none"]]
    return "\n".join(lines) + "\n"


def _cpu_lines(collection: Collection, decoded) -> list[str]:
    cpus = [c.index for c in collection.cpus]
    family = "?" if decoded.family is None else f"{decoded.family:#x}"
    model = "?" if decoded.model is None else f"{decoded.model:#x}"
    lines = [
        f"CPU: {decoded.brand or '(no brand string)'} ({decoded.vendor}, family {family} model {model} "
        f"stepping {decoded.stepping})",
        f"Logical CPUs: {len(cpus)} ({format_cpu_list(cpus)}), read by {collection.source.get('method')}",
        f"Features: {len(decoded.features)} named CPUID features on every CPU",
    ]
    if decoded.fields.get("hypervisor"):
        lines.append(f"Hypervisor: {decoded.fields['hypervisor']} (this is the virtual CPU it shows)")
    return lines


def _finding_lines(findings: list[dict]) -> list[str]:
    lines = ["BIOS findings:"]
    for finding in findings:
        lines.append(f"  {finding['status']:<9} {finding['id']}: {finding['evidence']}")
        if finding["status"] != "not-found":
            lines.append(_wrap(finding["explanation"], INDENT + "  "))
    return lines


def kvm_difference(collection: Collection, raw: frozenset[str]) -> tuple[list[str], list[str]] | None:
    """(hidden, added) canonical feature names of KVM's supported CPUID against the raw CPUID."""
    from ..cpuid_fields import leaf_ranges
    from ..decode import cpu_features
    from ..knowledge.features import feature_table

    if collection.kvm_supported is None:
        return None
    kvm = cpu_features(collection.kvm_supported, leaf_ranges(collection.kvm_supported))
    os_set = {f.name for f in feature_table().features if f.kind == "os"}
    return sorted(raw - kvm - os_set), sorted(kvm - raw - os_set)


def _kvm_lines(collection: Collection, raw: frozenset[str]) -> list[str]:
    difference = kvm_difference(collection, raw)
    if difference is None:
        return ["KVM: supported CPUID not collected (see notes)"]
    hidden, added = difference
    return [
        "KVM (KVM_GET_SUPPORTED_CPUID) compared with the raw CPUID:",
        _wrap(f"hides {len(hidden)}: {' '.join(hidden) or '-'}"),
        _wrap(f"adds {len(added)}: {' '.join(added) or '-'}"),
    ]


def _wrap(text: str, indent: str = "  ") -> str:
    return textwrap.fill(text, width=100, initial_indent=indent, subsequent_indent=indent + "  ")
