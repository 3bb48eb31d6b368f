"""``cpucompat collect --check``: the human summary of one collection.

Summary first (the CPU, its logical CPUs and feature count, the BIOS findings found, what KVM
hides), then the BIOS findings with their evidence and explanation, per-CPU differences (the
decoder's warnings), what KVM would hide from or add for a guest compared with the raw CPUID,
and what could not be read. The caller decodes and compares (``collect/command.py``); this
module only lays the text out.
"""

from __future__ import annotations

from rich.text import Text

from ..cpulist import format_cpu_list
from .console import console, feature_groups, items, say, styled
from .lines import folded_table, say_wrapped, section

STATUS_STYLES = {"found": "bad", "unknown": "warn", "not-found": "ok"}


def check_text(collection, decoded, kvm: tuple[list[str], list[str]] | None) -> str:
    """The whole --check text (ends with a newline): ``decoded`` is the collection decoded, ``kvm``
    what KVM hides and adds (``collect.check.kvm_difference``), None when not collected. Coloured
    only when stdout is a terminal."""
    with console().capture() as captured:
        print_check(collection, decoded, kvm)
    return captured.get()


def print_check(collection, decoded, kvm: tuple[list[str], list[str]] | None) -> None:
    _summary(collection, decoded, kvm)
    _findings(collection.findings)
    section("Per-CPU differences")
    items(decoded.warnings or ["none"])
    _kvm(kvm)
    section("Notes (what could not be read)")
    for note in collection.notes or ["none"]:
        say_wrapped(f"  {note}")


def _hex(value: int | None) -> str:
    return "?" if value is None else f"{value:#x}"


def _summary(collection, decoded, kvm) -> None:
    cpus = [c.index for c in collection.cpus]
    say_wrapped((decoded.brand or "(no brand string)", "head"),
                f" ({decoded.vendor}, family {_hex(decoded.family)} model {_hex(decoded.model)} stepping "
                f"{_hex(decoded.stepping)})")
    found = [f["id"] for f in collection.findings if f["status"] == "found"]
    unknown = [f["id"] for f in collection.findings if f["status"] == "unknown"]
    parts = [("BIOS findings: ", "head"), (f"{len(found)} found", "bad" if found else "ok"),
             f" ({', '.join(found)})" if found else "", f", {len(unknown)} unknown" if unknown else ""]
    if kvm is not None:
        parts.append(f"; KVM hides {len(kvm[0])} features, adds {len(kvm[1])}")
    say_wrapped(*parts)
    say_wrapped(f"  {len(cpus)} logical CPUs ({format_cpu_list(cpus)}) read by {collection.source.get('method')}, "
                f"{len(decoded.features)} named CPUID features on every CPU")
    if decoded.fields.get("hypervisor"):
        say_wrapped(("  under ", "warn"), (f"{decoded.fields['hypervisor']}", "warn"),
                    ": this is the virtual CPU it shows, not the physical one")


def _findings(findings: list[dict]) -> None:
    section("BIOS findings")
    rows = []
    for finding in findings:
        detail = styled(finding["evidence"])
        if finding["status"] != "not-found" and finding.get("explanation"):
            detail = Text("\n").join([detail, styled(finding["explanation"], "dim")])
        rows.append((styled(finding["status"], STATUS_STYLES.get(finding["status"], "")), finding["id"], detail))
    folded_table(["status", "finding", "evidence"], rows)


def _kvm(kvm: tuple[list[str], list[str]] | None) -> None:
    section("KVM (KVM_GET_SUPPORTED_CPUID) compared with the raw CPUID")
    if kvm is None:
        say("  supported CPUID not collected (see notes)")
        return
    for verb, names in zip(("hides", "adds"), kvm):
        say(f"  {verb} {len(names)}" + (":" if names else ""))
        feature_groups(names, "canonical", indent=4)
