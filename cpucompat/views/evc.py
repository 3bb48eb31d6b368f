"""``cpucompat evc list | show | check``: the JSON documents and their text layouts.

``check`` prints the cluster's mode first, then each host's mode, what the next mode lacks
(counted by group, named by family) and the likely BIOS cause, then ``advice``'s next steps."""

from __future__ import annotations

from ..evc import EvcCheck, EvcResult, mode_scalars
from ..knowledge import baselines
from ..knowledge.features import feature_table
from . import console
from .baseline import key


def baseline_summary(baseline: baselines.Baseline) -> dict:
    return {"key": baseline.key, "label": baseline.label, "vendor": baseline.vendor, "level": baseline.level,
            "parent": baseline.parent, "features": len(baseline.features), "reconstructed": baseline.reconstructed}


def baseline_detail(baseline: baselines.Baseline, vocabulary: str = "canonical") -> dict:
    parent = baselines.parent_of(baseline)
    table = feature_table()
    adds = baseline.features - (parent.features if parent else frozenset())
    return {**baseline_summary(baseline), "kind": baseline.kind, "names": vocabulary,
            "features": table.names(baseline.features, vocabulary), "canonical_features": sorted(baseline.features),
            "adds": table.names(adds, vocabulary), "notes": baseline.notes, **_evc_detail(baseline, vocabulary)}


def _evc_detail(baseline: baselines.Baseline, vocabulary: str) -> dict:
    """An EVC mode's provenance per feature, the scalars it presents and its featureMask."""
    if baseline.kind != "evc":
        return {}
    table = feature_table()
    return {"provenance": {table.names([f], vocabulary)[0]: source for f, source in sorted(baseline.provenance.items())
                           if table.names([f], vocabulary)},
            "scalars": {name: value for name, (value, _source) in mode_scalars(baseline).items()},
            "scalar_sources": {name: source for name, (_value, source) in mode_scalars(baseline).items()},
            "feature_mask": [{"key": k, "value": v, "source": s} for k, v, s in baseline.feature_mask]}


def host_mode_json(result: EvcResult) -> dict:
    """One host's line of ``evc check --json``."""
    return {
        "host": result.host,
        "max_evc_mode": result.mode.key if result.mode else None,
        "label": result.mode.label if result.mode else None,
        "next_mode": result.next_mode.key if result.next_mode else None,
        "next_mode_missing": result.missing,
        "likely_causes": result.likely_causes,
    }


def evc_check_document(check: EvcCheck, steps: list | None = None) -> dict:
    """Per host the highest EVC mode; for several hosts, the mode of their common baseline; the next steps."""
    document = {"hosts": [host_mode_json(r) for r in check.hosts], "next_steps": [s.json() for s in steps or []]}
    if check.cluster:
        document["cluster"] = ({"max_evc_mode": None, "reason": check.cluster_reason} if check.cluster_reason
                               else {"max_evc_mode": key(check.cluster_mode)})
    return document


def print_mode_list(modes: list[dict]) -> None:
    console.table(("mode", "vendor", "level", "features", "label"),
                  ((m["key"], m["vendor"] or "any", m["level"], m["features"], m["label"] + (" [R]" if m["reconstructed"] else ""))
                   for m in modes))
    if any(m["reconstructed"] for m in modes):
        console.say(("[R]: feature list reconstructed (evc show MODE says from what)", "dim"))


def print_mode_detail(mode: dict) -> None:
    console.say((mode["key"], "head"), f": {mode['label']} ({mode['vendor']}, level {mode['level']}, "
                                       f"parent {mode['parent'] or '-'})")
    console.hanging(" ".join(mode["adds"]) or "-", indent=0, first="adds: ")
    if mode.get("scalars"):
        reasoned = any(s.startswith("reasoning") for s in mode.get("scalar_sources", {}).values())
        console.say("presents: " + ", ".join(f"{name} {value:#x}" for name, value in mode["scalars"].items())
                    + (" [R]" if reasoned else ""))
    if mode.get("provenance"):
        kinds = [source.split(":")[0] for source in mode["provenance"].values()]
        console.say("evidence per feature: " + ", ".join(f"{kind} {kinds.count(kind)}" for kind in dict.fromkeys(kinds))
                    + " (--json lists it)")
    console.say(f"features ({len(mode['features'])}, {mode['names']} names):")
    console.feature_groups(mode["canonical_features"], mode["names"], indent=2)
    if mode["notes"]:
        console.hanging(f"notes: {mode['notes']}", indent=0, first="")


def print_evc_check(document: dict) -> None:
    """The cluster's mode first (several hosts), then each host's mode and why not the next one."""
    if "cluster" in document:
        cluster = document["cluster"]
        count = len(document["hosts"])
        reason = cluster.get("reason") or (f"the highest mode all {count} hosts offer" if cluster["max_evc_mode"]
                                           else f"no mode is offered by all {count} hosts")
        console.verdict_line("cluster", bool(cluster["max_evc_mode"]), cluster["max_evc_mode"] or "no EVC mode",
                             f" ({reason})")
    for host in document["hosts"]:
        console.verdict_line(host["host"], bool(host["max_evc_mode"]), host["max_evc_mode"] or "no EVC mode")
        if host["next_mode"]:
            missing = host["next_mode_missing"]
            console.hanging(f"not {host['next_mode']}: lacks {', '.join(console.group_summary(missing, ''))}:",
                            indent=4, first="")
            console.words(missing, "      ")
        for finding, names in host["likely_causes"].items():
            console.hanging(f"likely cause: BIOS finding {finding} hides {' '.join(names)}", indent=4, first="")
    console.next_steps(document.get("next_steps", []), indent=0)
