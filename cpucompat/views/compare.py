"""``cpucompat compare``: the JSON document (one verdict per target) and its text layout."""

from __future__ import annotations

from ..compare import Verdict
from ..knowledge.features import feature_table
from .text import scalar_text

#: The vendor-facing vocabularies a missing feature is reported in.
REPORTED_VOCABULARIES = ("linux", "qemu", "libvirt", "vmware", "xen")


def feature_names(name: str) -> dict[str, str]:
    """A canonical feature's name in each vendor-facing vocabulary (blank ones left out)."""
    feature = feature_table().by_name[name]
    names = {v: feature.name_in(v) for v in REPORTED_VOCABULARIES}
    return {"name": name, **{v: n for v, n in names.items() if n}}


def verdict_json(verdict: Verdict) -> dict:
    return {
        "target": verdict.target,
        "verdict": "compatible" if verdict.compatible else "incompatible",
        "missing": [feature_names(n) for n in verdict.missing],
        "lower": {k: {"source": s, "target": t} for k, (s, t) in verdict.lower.items()},
        "missing_xsave_components": verdict.missing_xsave,
        "host_only": verdict.host_only,
        "emulated": verdict.emulated,
        "vendor_mismatch": None if verdict.vendor_mismatch is None
        else dict(zip(("source", "target"), verdict.vendor_mismatch)),
    }
def compare_document(source, verdicts: list[Verdict], qemu_version: str | None, accel: str | None) -> dict:
    """The ``compare --json`` document: the source (a host or a named baseline) and every verdict."""
    return {"source": source.name, "qemu_version": qemu_version, "accel": accel,
            "notes": list(source.notes), "targets": [verdict_json(v) for v in verdicts]}


def print_verdicts(document: dict) -> None:
    for target in document["targets"]:
        print(f"{document['source']} -> {target['target']}: {target['verdict']}")
        if target["vendor_mismatch"]:
            print(f"  vendor: {target['vendor_mismatch']['source']} vs {target['vendor_mismatch']['target']}")
        for feature in target["missing"]:
            others = ", ".join(f"{k} {v}" for k, v in feature.items() if k != "name")
            print(f"  missing {feature['name']}" + (f" ({others})" if others else ""))
        for name, values in target["lower"].items():
            print(f"  lower {name}: {scalar_text(name, values['source'])} -> {scalar_text(name, values['target'])}")
        if target.get("host_only"):
            print(f"  host-only, no guest sees them (not judged): {' '.join(target['host_only'])}")
        if target.get("emulated"):
            print(f"  KVM emulates on every host (not judged): {' '.join(target['emulated'])}")
        if target.get("missing_xsave_components"):
            print(f"  missing XSAVE components: {' '.join(target['missing_xsave_components'])}")
