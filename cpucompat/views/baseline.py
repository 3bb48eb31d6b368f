"""``cpucompat baseline``: the JSON document and its text layout (free of analysis: the caller
passes the ``ClusterBaseline``)."""

from __future__ import annotations

from .. import levels
from ..knowledge import baselines
from ..cluster import ClusterBaseline
from ..knowledge.features import feature_table
from .text import scalar_text, wrap


def key(baseline: baselines.Baseline | None) -> str | None:
    """A named baseline in JSON: its key, or null."""
    return baseline.key if baseline else None


def _extra(features: frozenset[str], baseline: baselines.Baseline | None, vocabulary: str) -> list[str]:
    """What the cluster baseline has beyond a named baseline."""
    return feature_table().names(features - (baseline.features if baseline else frozenset()), vocabulary)


def baseline_json(result: ClusterBaseline, vocabulary: str = "canonical") -> dict:
    table = feature_table()
    return {
        "hosts": [h.name for h in result.hosts],
        "vendor": result.vendor,
        "names": vocabulary,
        "features": table.names(result.features, vocabulary),
        "fields": levels.json_fields(result.fields),
        "evc_mode": key(result.named.get("evc")),
        "psabi_level": key(result.named.get("psabi")),
        "qemu_model": key(result.named.get("qemu")),
        "extra": {kind: _extra(result.features, result.named.get(kind), vocabulary)
                  for kind in ("evc", "psabi", "qemu")},
        "weakest_links": {host: table.names(names, vocabulary) for host, names in result.weakest_links.items()},
        "host_only": table.names(result.host_only, vocabulary),
    }


def print_baseline(document: dict) -> None:
    print(f"hosts ({len(document['hosts'])}): {', '.join(document['hosts'])}")
    print(f"vendor: {document['vendor'] or 'mixed (cross-vendor)'}")
    for kind, key in (("EVC mode", "evc_mode"), ("psABI level", "psabi_level"), ("QEMU model", "qemu_model")):
        extra = document["extra"][key.split("_")[0]]
        print(f"{kind + ':':<13}{document[key] or '-'}  (+{len(extra)} features beyond it)")
    for name, value in document["fields"].items():
        print(f"  {name + ':':<22}{scalar_text(name, value)}")
    print(f"features ({len(document['features'])}, {document['names']} names):")
    print(wrap(document["features"]))
    for host, names in document["weakest_links"].items():
        print(f"weakest link {host} removes: {' '.join(names)}")
    if document.get("host_only"):
        print(f"host-only, no guest sees them (not judged; --all-bits judges them): {' '.join(document['host_only'])}")
