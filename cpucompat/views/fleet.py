"""``cpucompat fleet``: the JSON document (``--json``), its text layout and the ingest progress bar.

Feature names follow the ``--names`` vocabulary like ``decode`` (a feature that vocabulary does
not name is left out). Shares are fractions of the hosts, rounded to six places. The progress bar
is rich's, on stderr, so stdout stays clean for ``--json``; it appears only for ingests of at
least ``PROGRESS_MIN_FILES`` files.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence

import numpy as np

from .. import levels
from ..knowledge.features import feature_table
from ..fleet.analysis import EXAMPLES, Classes, FleetReport, MinHosts, Without, class_id
from ..fleet.bits import unpack
from ..text import printable_tree
from .baseline import key
from .text import scalar_text, wrap


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


# --- text ---

#: Show the progress bar from this many input files on.
PROGRESS_MIN_FILES = 200
#: Rows of the class and coverage listings shown as text (``--json`` has them all).
SHOWN = 15


@contextlib.contextmanager
def ingest_progress() -> Iterator:
    """A ``progress(done, total)`` callback drawing a rich bar on stderr once total is large."""
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    bar = Progress(TextColumn("reading hosts"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                   console=Console(stderr=True))
    task = None

    def progress(done: int, total: int) -> None:
        nonlocal task
        if total < PROGRESS_MIN_FILES:
            return
        if task is None:
            bar.start()
            task = bar.add_task("ingest", total=total)
        bar.update(task, completed=done)

    try:
        yield progress
    finally:
        if task is not None:
            bar.stop()


def _print_classes(classes: list[dict], hosts: int) -> None:
    print(f"classes ({len(classes)} distinct feature sets; missing = vs the richest):")
    for item in classes[:SHOWN]:
        missing = " ".join(item["missing"][:8]) + (" ..." if len(item["missing"]) > 8 else "")
        print(f"  {item.get('name') or item['id']}  {item['hosts']:>8} hosts ({item['hosts'] / hosts:6.1%})  "
              f"e.g. {', '.join(item['examples'])}  missing: {missing or '-'}")
    if len(classes) > SHOWN:
        print(f"  ... {len(classes) - SHOWN} more (see --json)")


def _print_coverage(coverage: dict[str, float]) -> None:
    partial = sorted(((share, name) for name, share in coverage.items() if share < 1), reverse=True)
    print(f"coverage: {len(coverage) - len(partial)} features on every host; on some hosts only:")
    for share, name in partial[:SHOWN]:
        print(f"  {name:<24} {share:7.2%}")
    if len(partial) > SHOWN:
        print(f"  ... {len(partial) - SHOWN} more (see --json)")


def _print_what_ifs(document: dict) -> None:
    if "min_hosts" in document:
        result = document["min_hosts"]
        print(f"keeping at least {result['share']:.1%} of hosts ({result['hosts_kept']} kept, "
              f"{len(result['hosts_left_out'])} left out) gains:")
        print(wrap(result["features_gained"]))
        for host, lacking in list(result["hosts_left_out"].items())[:SHOWN]:
            print(f"  left out {host}: lacks {' '.join(lacking)}")
    if "without" in document:
        result = document["without"]
        print(f"without {', '.join(result['hosts'])} ({result['hosts_removed']} hosts) the baseline gains:")
        print(wrap(result["features_gained"]))


def print_fleet(document: dict) -> None:
    """Print a fleet document: baseline and its names, classes, coverage, what-ifs."""
    document = printable_tree(document)  # host names and vendors from tables: no terminal control
    print(f"hosts: {document['hosts']}   vendor: {document['vendor'] or 'mixed (cross-vendor)'}")
    print(f"evc mode: {document['evc_mode'] or '-'}   psABI level: {document['psabi_level'] or '-'}   "
          f"qemu model: {document['qemu_model'] or '-'}")
    print("fields: " + "  ".join(f"{k}={scalar_text(k, v)}" for k, v in document["fields"].items()))
    print(f"baseline ({len(document['features'])} features, {document['names']} names):")
    print(wrap(document["features"]))
    if document.get("host_only"):
        print(f"host-only, no guest sees them (not judged; --all-bits judges them): {' '.join(document['host_only'])}")
    _print_classes(document["classes"], document["hosts"])
    _print_coverage(document["coverage"])
    _print_what_ifs(document)
