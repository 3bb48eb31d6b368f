"""The JSON document of ``cpucompat fleet`` (``--json``); its text layout is ``views/fleet_text.py``.

Feature names follow the ``--names`` vocabulary like ``decode`` (a feature that vocabulary does
not name is left out). Shares are fractions of the hosts, rounded to six places.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from .. import levels
from ..knowledge.features import feature_table
from ..fleet.analysis import EXAMPLES, Classes, FleetReport, MinHosts, Without, class_id
from ..fleet.bits import unpack
from .baseline import key


def _classes_json(report: FleetReport, vocabulary: str) -> list[dict]:
    groups: Classes = report.groups
    table = feature_table()
    sets = [unpack(row) for row in groups.rows]
    richest = max(range(len(sets)), key=lambda i: (len(sets[i]), groups.counts[i], -i))
    examples = _examples(report, groups)
    return [{"id": class_id(groups.rows[i]), "hosts": int(groups.counts[i]), "examples": examples[i],
             "missing": table.names(sets[richest] - sets[i], vocabulary)}
            for i in range(len(sets))]


def _examples(report: FleetReport, groups: Classes) -> list[list[str]]:
    """Up to EXAMPLES host names per class, in fleet order."""
    order = np.argsort(groups.of_host, kind="stable")
    starts = np.concatenate(([0], np.cumsum(groups.counts)[:-1]))
    picks = [order[start:start + min(EXAMPLES, count)] for start, count in zip(starts, groups.counts)]
    names = report.fleet.hosts
    return [names.iloc[p].tolist() for p in picks]


def _coverage_json(coverage: dict[str, float], vocabulary: str) -> dict[str, float]:
    table = feature_table()
    out = {}
    for name, share in coverage.items():
        spelled = table.by_name[name].name_in(vocabulary)
        if spelled:
            out[spelled] = round(share, 6)
    return dict(sorted(out.items()))


def _min_hosts_json(report: FleetReport, result: MinHosts, vocabulary: str) -> dict:
    table = feature_table()
    left_out = np.flatnonzero(np.isin(report.groups.of_host, list(result.lacking)))
    lacking = {i: table.names(names, vocabulary) for i, names in result.lacking.items()}
    hosts = report.fleet.hosts.iloc[left_out].tolist()
    return {"share": float(result.share), "hosts_kept": result.kept_hosts,
            "features_gained": table.names(result.gained, vocabulary),
            "hosts_left_out": {host: lacking[int(report.groups.of_host[i])] for host, i in zip(hosts, left_out)}}


def _without_json(result: Without, vocabulary: str) -> dict:
    return {"hosts": result.hosts, "hosts_removed": result.removed,
            "features_gained": feature_table().names(result.gained, vocabulary)}


def fleet_json(report: FleetReport, vocabulary: str = "canonical", skipped: Sequence[tuple[str, str]] = ()) -> dict:
    """The documented shape of ``cpucompat fleet --json``."""
    base = report.baseline
    document = {
        "hosts": len(report.fleet),
        "vendor": base.vendor,
        "names": vocabulary,
        "features": feature_table().names(base.features, vocabulary),
        "fields": levels.json_fields(base.fields),
        "evc_mode": key(base.named.get("evc")),
        "psabi_level": key(base.named.get("psabi")),
        "qemu_model": key(base.named.get("qemu")),
        "classes": _classes_json(report, vocabulary),
        "coverage": _coverage_json(report.coverage, vocabulary),
        "host_only": feature_table().names(base.host_only, vocabulary),
    }
    if report.min_hosts is not None:
        document["min_hosts"] = _min_hosts_json(report, report.min_hosts, vocabulary)
    if report.without is not None:
        document["without"] = _without_json(report.without, vocabulary)
    if skipped:
        document["skipped"] = [{"input": path, "error": reason} for path, reason in skipped]
    return document
