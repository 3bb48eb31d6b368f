"""``cpucompat evc list | show | check``: the JSON documents and their text layouts."""

from __future__ import annotations

from ..evc import EvcCheck, EvcResult, mode_scalars
from ..knowledge import baselines
from ..knowledge.features import feature_table
from .baseline import key
from .text import wrap


def baseline_summary(baseline: baselines.Baseline) -> dict:
    return {"key": baseline.key, "label": baseline.label, "vendor": baseline.vendor, "level": baseline.level,
            "parent": baseline.parent, "features": len(baseline.features), "reconstructed": baseline.reconstructed}




def baseline_detail(baseline: baselines.Baseline, vocabulary: str = "canonical") -> dict:
    parent = baselines.parent_of(baseline)
    table = feature_table()
    adds = baseline.features - (parent.features if parent else frozenset())
    return {**baseline_summary(baseline), "kind": baseline.kind,
            "features": table.names(baseline.features, vocabulary),
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


def evc_check_document(check: EvcCheck) -> dict:
    """Per host the highest EVC mode; for several hosts, the mode of their common baseline."""
    document = {"hosts": [host_mode_json(r) for r in check.hosts]}
    if check.cluster:
        document["cluster"] = ({"max_evc_mode": None, "reason": check.cluster_reason} if check.cluster_reason
                               else {"max_evc_mode": key(check.cluster_mode)})
    return document


def print_mode_list(modes: list[dict]) -> None:
    for mode in modes:
        mark = " [R]" if mode["reconstructed"] else ""
        print(f"{mode['key']:<24}{mode['vendor'] or 'any':<14}L{mode['level']:<3}{mode['features']:>4} features  "
              f"{mode['label']}{mark}")


def print_mode_detail(mode: dict) -> None:
    print(f"{mode['key']}: {mode['label']} ({mode['vendor']}, level {mode['level']}, parent {mode['parent'] or '-'})")
    print(f"adds: {' '.join(mode['adds']) or '-'}")
    if mode.get("scalars"):
        reasoned = any(s.startswith("reasoning") for s in mode.get("scalar_sources", {}).values())
        print("presents: " + ", ".join(f"{name} {value:#x}" for name, value in mode["scalars"].items())
              + (" [R]" if reasoned else ""))
    if mode.get("provenance"):
        kinds = [source.split(":")[0] for source in mode["provenance"].values()]
        print("evidence per feature: " + ", ".join(f"{kind} {kinds.count(kind)}" for kind in dict.fromkeys(kinds))
              + " (--json lists it)")
    print(f"features ({len(mode['features'])}):")
    print(wrap(mode["features"]))
    if mode["notes"]:
        print(wrap(f"notes: {mode['notes']}", ""))


def print_evc_check(document: dict) -> None:
    for host in document["hosts"]:
        print(f"{host['host']}: {host['max_evc_mode'] or 'no EVC mode'}")
        if host["next_mode"]:
            print(f"  not {host['next_mode']}: lacks {' '.join(host['next_mode_missing'])}")
        for finding, names in host["likely_causes"].items():
            print(f"  likely cause: BIOS finding {finding} hides {' '.join(names)}")
    if "cluster" in document:
        cluster = document["cluster"]
        print(f"cluster: {cluster['max_evc_mode'] or 'no EVC mode'}" + (f" ({cluster['reason']})" if "reason" in cluster else ""))
