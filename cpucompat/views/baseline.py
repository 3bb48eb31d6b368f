"""``cpucompat baseline``: the JSON document and its text layout (free of analysis: the caller
passes the ``ClusterBaseline`` and the next steps of ``advice``).

Text output is summary first (hosts, the named baselines, the feature count, the weakest links),
then the hosts one per line, the levelled fields, the features grouped, and the next steps.
"""

from __future__ import annotations

from .. import levels
from ..knowledge import baselines
from ..cluster import ClusterBaseline
from ..knowledge.features import feature_table
from . import console
from .text import scalar_text

#: Weakest links the summary line names before "and N more".
SUMMARY_HOSTS = 3
#: The named baselines of a cluster as text output labels them.
NAMED = (("EVC mode", "evc_mode", "evc"), ("QEMU model", "qemu_model", "qemu"), ("psABI level", "psabi_level", "psabi"))


def key(baseline: baselines.Baseline | None) -> str | None:
    """A named baseline in JSON: its key, or null."""
    return baseline.key if baseline else None


def _extra(features: frozenset[str], baseline: baselines.Baseline | None, vocabulary: str) -> list[str]:
    """What the cluster baseline has beyond a named baseline."""
    return feature_table().names(features - (baseline.features if baseline else frozenset()), vocabulary)


def baseline_json(result: ClusterBaseline, vocabulary: str = "canonical", steps: list | None = None) -> dict:
    table = feature_table()
    document = {
        "hosts": [h.name for h in result.hosts],
        "vendor": result.vendor,
        "names": vocabulary,
        "features": table.names(result.features, vocabulary),
        "features_by_group": console.grouped(result.features),
        "fields": levels.json_fields(result.fields),
        "evc_mode": key(result.named.get("evc")),
        "psabi_level": key(result.named.get("psabi")),
        "qemu_model": key(result.named.get("qemu")),
        "extra": {kind: _extra(result.features, result.named.get(kind), vocabulary)
                  for kind in ("evc", "psabi", "qemu")},
        "weakest_links": {host: table.names(names, vocabulary) for host, names in result.weakest_links.items()},
        "host_only": table.names(result.host_only, vocabulary),
        "next_steps": [step.json() for step in steps or []],
    }
    document["summary"] = summary(document)
    return document


def summary(document: dict) -> str:
    """``3 hosts share 82 features: EVC mode intel-cascadelake, ...; weakest link: HOST (14)``."""
    named = [f"{label} {document[field]}" for label, field, _kind in NAMED if document[field]]
    text = (f"{console.counted(len(document['hosts']), 'host')} share "
            f"{console.counted(len(document['features']), 'feature')}: " + (", ".join(named) or "no named baseline"))
    links = list(document["weakest_links"].items())
    if links:
        shown = ", ".join(f"{host} ({len(names)})" for host, names in links[:SUMMARY_HOSTS])
        more = f" and {len(links) - SUMMARY_HOSTS} more" if len(links) > SUMMARY_HOSTS else ""
        text += "; weakest " + ("link" if len(links) == 1 else "links") + f": {shown}{more}"
    return text


def print_baseline(document: dict) -> None:
    console.hanging(document["summary"], indent=0, first="")
    console.say(f"hosts ({len(document['hosts'])}):")
    console.items(document["hosts"])
    console.say(f"vendor: {document['vendor'] or 'mixed (cross-vendor)'}")
    console.say("named baselines (the highest each kind offers):")
    console.two_columns(((label, f"{document[field]}  (+{len(document['extra'][kind])} features beyond it)"
                          if document[field] else "-") for label, field, kind in NAMED), indent=2)
    console.say("levelled fields:")
    console.two_columns(((name, scalar_text(name, value)) for name, value in document["fields"].items()), indent=2)
    console.say(f"features ({len(document['features'])}, {document['names']} names):")
    console.feature_groups(_canonical(document), document["names"], indent=2)
    if document["weakest_links"]:
        console.say("weakest links (the features each host alone, or with few others, removes):")
        for host, names in document["weakest_links"].items():
            console.say("  ", (host, "name"), f" removes {len(names)}:")
            console.words(names, "    ")
    if document.get("host_only"):
        console.say("host-only, no guest sees them (not judged; --all-bits judges them):")
        console.words(document["host_only"])
    console.next_steps(document.get("next_steps", []), indent=0)


def _canonical(document: dict) -> list[str]:
    return [name for members in document["features_by_group"].values() for name in members]
