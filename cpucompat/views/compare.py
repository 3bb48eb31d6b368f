"""``cpucompat compare``: the JSON document (one verdict per target) and its text layout.

Text output is summary first: one verdict line per target ("incompatible: 43 instructions
missing (AVX-512 family, AMX, TSX, ...), 11 XSAVE components, ..."), then the missing features
grouped, each once in the vocabulary asked (``--names``), lower limits in hex, what was not
judged, and the next step. ``--json`` keeps every vocabulary per missing feature.
"""

from __future__ import annotations

from ..compare import Verdict
from ..knowledge.features import feature_table
from . import console
from .text import scalar_text

#: The vendor-facing vocabularies a missing feature is reported in (JSON).
REPORTED_VOCABULARIES = ("linux", "qemu", "libvirt", "vmware", "xen")


def feature_names(name: str) -> dict[str, str]:
    """A canonical feature's name in each vendor-facing vocabulary (blank ones left out)."""
    feature = feature_table().by_name[name]
    names = {v: feature.name_in(v) for v in REPORTED_VOCABULARIES}
    return {"name": name, **{v: n for v, n in names.items() if n}}


def summary(verdict: Verdict) -> str:
    """The verdict in one line: the missing features counted per group and named by family, XSAVE
    components, lower limits, a vendor mismatch."""
    if verdict.compatible:
        return "compatible"
    parts = [f"vendor {verdict.vendor_mismatch[0]} vs {verdict.vendor_mismatch[1]}"] if verdict.vendor_mismatch else []
    parts += console.group_summary(verdict.missing)
    if verdict.missing_xsave:
        parts.append(console.counted(len(verdict.missing_xsave), "XSAVE component"))
    if verdict.lower:
        parts.append("lower " + ", ".join(verdict.lower))
    return "incompatible: " + ", ".join(parts)


def verdict_json(verdict: Verdict, steps: list | None = None) -> dict:
    return {
        "target": verdict.target,
        "verdict": "compatible" if verdict.compatible else "incompatible",
        "summary": summary(verdict),
        "missing": [feature_names(n) for n in verdict.missing],
        "missing_by_group": console.grouped(verdict.missing),
        "lower": {k: {"source": s, "target": t} for k, (s, t) in verdict.lower.items()},
        "missing_xsave_components": verdict.missing_xsave,
        "host_only": verdict.host_only,
        "emulated": verdict.emulated,
        "vendor_mismatch": None if verdict.vendor_mismatch is None
        else dict(zip(("source", "target"), verdict.vendor_mismatch)),
        "next_steps": [step.json() for step in steps or []],
    }


def compare_document(source, verdicts: list[Verdict], qemu_version: str | None, accel: str | None,
                     vocabulary: str = "linux", steps: list[list] | None = None) -> dict:
    """The ``compare --json`` document: the source (a host or a named baseline) and every verdict."""
    steps = steps or [[] for _ in verdicts]
    return {"source": source.name, "qemu_version": qemu_version, "accel": accel, "names": vocabulary,
            "notes": list(source.notes), "targets": [verdict_json(v, s) for v, s in zip(verdicts, steps)]}


def print_verdicts(document: dict) -> None:
    """Every target's verdict line first, then each incompatible target's detail and next step."""
    console.say("source: ", (document["source"], "head"))
    for target in document["targets"]:
        word, colon, rest = target["summary"].partition(":")
        console.verdict_line(target["target"], target["verdict"] == "compatible", word, colon + rest, indent=2)
    for target in document["targets"]:
        _print_detail(document, target)


def _print_detail(document: dict, target: dict) -> None:
    informational = target.get("host_only") or target.get("emulated")
    if target["verdict"] == "compatible" and not informational:
        return
    console.say("")
    console.heading(f"{document['source']} -> {target['target']}")
    names = [feature["name"] for feature in target["missing"]]
    if names:
        console.say(f"  missing ({len(names)}, {document['names']} names):")
        console.feature_groups(names, document["names"], indent=4)
    if target["vendor_mismatch"]:
        console.say(f"  vendor: {target['vendor_mismatch']['source']} vs {target['vendor_mismatch']['target']}")
    if target["lower"]:
        console.say("  lower limits (source -> target):")
        console.two_columns(((name, f"{scalar_text(name, v['source'])} -> {scalar_text(name, v['target'])}")
                             for name, v in target["lower"].items()), indent=4)
    if target.get("missing_xsave_components"):
        console.say("  missing XSAVE components:")
        console.words(target["missing_xsave_components"], "    ")
    _print_not_judged(target, document["names"])
    console.next_steps(target.get("next_steps", []))


def _print_not_judged(target: dict, vocabulary: str) -> None:
    rows = []
    if target.get("host_only"):
        rows.append(("host-only, no guest sees them",
                     " ".join(console.feature_name(n, vocabulary) for n in target["host_only"])))
    if target.get("emulated"):
        rows.append(("KVM emulates on every host", " ".join(console.feature_name(n, vocabulary)
                                                            for n in target["emulated"])))
    if rows:
        console.say("  not judged:")
        console.two_columns(rows, indent=4)
