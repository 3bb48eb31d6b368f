"""``cpucompat collect --check``: the human summary of one collection.

CPU and feature count, the BIOS findings, per-CPU differences (the decoder's warnings), and what
KVM would hide from or add for a guest compared with the raw CPUID. The caller decodes and
compares (``collect/command.py``); this module only lays the text out.
"""

from __future__ import annotations

from ..cpulist import format_cpu_list
from .text import wrap

INDENT = "    "


def check_text(collection, decoded, kvm: tuple[list[str], list[str]] | None) -> str:
    """The whole --check text (ends with a newline): ``decoded`` is the collection decoded, ``kvm``
    what KVM hides and adds (``collect.check.kvm_difference``), None when not collected."""
    lines = _cpu_lines(collection, decoded)
    lines += _finding_lines(collection.findings)
    lines += ["Per-CPU differences:"] + [wrap(w, "  ", "  ") for w in decoded.warnings or ["none"]]
    lines += _kvm_lines(kvm)
    lines += ["Notes:"] + [wrap(n, "  ", "  ") for n in collection.notes or ["none"]]
    return "\n".join(lines) + "\n"


def _cpu_lines(collection, decoded) -> list[str]:
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
            lines.append(wrap(finding["explanation"], INDENT + "  ", "  "))
    return lines


def _kvm_lines(kvm: tuple[list[str], list[str]] | None) -> list[str]:
    if kvm is None:
        return ["KVM: supported CPUID not collected (see notes)"]
    hidden, added = kvm
    return [
        "KVM (KVM_GET_SUPPORTED_CPUID) compared with the raw CPUID:",
        wrap(f"hides {len(hidden)}: {' '.join(hidden) or '-'}", "  ", "  "),
        wrap(f"adds {len(added)}: {' '.join(added) or '-'}", "  ", "  "),
    ]
