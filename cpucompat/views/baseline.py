"""The JSON documents of the baseline, compare and evc commands (the ``--json`` output).

Text rendering of the same documents lives in ``render.py``; both stay free of analysis.
"""

from __future__ import annotations

from ..knowledge import baselines as named
from ..cluster import ClusterBaseline, Policy, cluster_baseline
from ..decode import Decoded
from ..evc import cluster_mode, evc_check, evc_json, mode_scalars
from ..knowledge.features import feature_table


def _key(baseline: named.Baseline | None) -> str | None:
    return baseline.key if baseline else None


def _extra(features: frozenset[str], baseline: named.Baseline | None, vocabulary: str) -> list[str]:
    """What the cluster baseline has beyond a named baseline."""
    return feature_table().names(features - (baseline.features if baseline else frozenset()), vocabulary)


def baseline_json(result: ClusterBaseline, vocabulary: str = "canonical") -> dict:
    table = feature_table()
    fields = dict(result.fields)
    for name in ("xcr0_supported", "xss_supported"):
        if fields.get(name) is not None:
            fields[name] = f"{fields[name]:#x}"
    return {
        "hosts": [h.name for h in result.hosts],
        "vendor": result.vendor,
        "names": vocabulary,
        "features": table.names(result.features, vocabulary),
        "fields": fields,
        "evc_mode": _key(result.named.get("evc")),
        "psabi_level": _key(result.named.get("psabi")),
        "qemu_model": _key(result.named.get("qemu")),
        "extra": {kind: _extra(result.features, result.named.get(kind), vocabulary)
                  for kind in ("evc", "psabi", "qemu")},
        "weakest_links": {host: table.names(names, vocabulary) for host, names in result.weakest_links.items()},
        "host_only": table.names(result.host_only, vocabulary),
    }


def baseline_summary(baseline: named.Baseline) -> dict:
    return {"key": baseline.key, "label": baseline.label, "vendor": baseline.vendor, "level": baseline.level,
            "parent": baseline.parent, "features": len(baseline.features), "reconstructed": baseline.reconstructed}


def baseline_detail(baseline: named.Baseline, vocabulary: str = "canonical") -> dict:
    parent = named.parent_of(baseline)
    table = feature_table()
    adds = baseline.features - (parent.features if parent else frozenset())
    return {**baseline_summary(baseline), "kind": baseline.kind,
            "features": table.names(baseline.features, vocabulary),
            "adds": table.names(adds, vocabulary), "notes": baseline.notes, **_evc_detail(baseline, vocabulary)}


def _evc_detail(baseline: named.Baseline, vocabulary: str) -> dict:
    """An EVC mode's provenance per feature, the scalars it presents and its featureMask."""
    if baseline.kind != "evc":
        return {}
    table = feature_table()
    return {"provenance": {table.names([f], vocabulary)[0]: source for f, source in sorted(baseline.provenance.items())
                           if table.names([f], vocabulary)},
            "scalars": {name: value for name, (value, _source) in mode_scalars(baseline).items()},
            "scalar_sources": {name: source for name, (_value, source) in mode_scalars(baseline).items()},
            "feature_mask": [{"key": k, "value": v, "source": s} for k, v, s in baseline.feature_mask]}


def evc_check_document(hosts: list[Decoded], policy: Policy = Policy()) -> dict:
    """Per host the highest EVC mode; for several hosts, the mode of their common baseline."""
    document = {"hosts": [evc_json(evc_check(h, policy)) for h in hosts]}
    if len(hosts) > 1:
        vendors = sorted({h.vendor for h in hosts})
        if len(vendors) > 1:
            document["cluster"] = {"max_evc_mode": None,
                                   "reason": f"EVC needs one CPU vendor; these hosts have {', '.join(vendors)}"}
        else:
            document["cluster"] = {"max_evc_mode": _key(cluster_mode(hosts))}
    return document
