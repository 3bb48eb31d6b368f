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
from .baseline import key
from .console import counted, feature_groups, items, say, two_columns, words
from .lines import canonical, folded, folded_table, say_wrapped, section
from .text import scalar_text


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



def named(value: str | None) -> tuple[str, str]:
    """A named baseline as a ``console.say`` part: its key, or a red ``none``."""
    return (value, "name") if value else ("none", "bad")


def print_summary(document: dict) -> None:
    """The one-line summary: hosts, vendor, classes and the fleet baseline's names."""
    vendor = document["vendor"] or "mixed vendors (vendor-neutral features only)"
    say_wrapped(f"{document['hosts']:,} hosts, {vendor}, {len(document['classes'])} classes: EVC mode ",
        named(document["evc_mode"]), ", QEMU model ", named(document["qemu_model"]), ", psABI level ",
        named(document["psabi_level"]), f" ({len(document['features'])} features)")


def print_baseline(document: dict) -> None:
    """The fleet baseline: its scalars (leaves and XSAVE in hex), features and host-only bits."""
    section(f"Baseline: {len(document['features'])} features ({document['names']} names)")
    feature_groups(canonical(document["features"], document["names"]), document["names"])
    say("  levelled fields:")
    two_columns([(k, scalar_text(k, v)) for k, v in document["fields"].items()], 4)
    if document.get("host_only"):
        say("  host-only, no guest sees them (not judged; --all-bits judges them):")
        words(document["host_only"], "    ")


def lacks(missing: list[str], most: int = 8) -> str:
    return " ".join(missing[:most]) + (f" (+{len(missing) - most} more)" if len(missing) > most else "") or "-"


def print_classes(classes: list[dict], hosts: int) -> None:
    section(f"Classes: {len(classes)} distinct feature sets, the largest first")
    rows = [(item.get("name") or item["id"], f"{item['hosts']:,}", f"{item['hosts'] / hosts:.1%}",
             lacks(item["missing"]), item["examples"][0])
            for item in classes[:SHOWN]]
    folded_table(["class", "hosts", "share", "lacks (vs the richest class)", folded("e.g.", 28)], rows)
    if len(classes) > SHOWN:
        say(f"  ... {len(classes) - SHOWN} more classes (--json lists them all)")


def print_coverage(coverage: dict[str, float]) -> None:
    partial = sorted(((share, name) for name, share in coverage.items() if share < 1), reverse=True)
    section(f"Coverage: {len(coverage) - len(partial)} features on every host, {len(partial)} on some only")
    if partial:
        more = [f"(+{len(partial) - SHOWN} more, see --json)"] if len(partial) > SHOWN else []
        words([f"{name} ({share:.2%})" for share, name in partial[:SHOWN]] + more)


def print_what_ifs(document: dict) -> None:
    if "min_hosts" in document:
        result = document["min_hosts"]
        left_out = result["hosts_left_out"]
        section(f"Keeping at least {result['share']:.1%} of the hosts ({result['hosts_kept']:,} kept, "
                f"{len(left_out):,} left out) gains {len(result['features_gained'])} features:")
        words(result["features_gained"])
        folded_table(["left out", "lacks"], [(host, lacks(lacking)) for host, lacking in list(left_out.items())[:SHOWN]])
        if len(left_out) > SHOWN:
            say(f"  ... {len(left_out) - SHOWN:,} more hosts left out (--json lists them all)")
    if "without" in document:
        result = document["without"]
        gained, removed = len(result["features_gained"]), result["hosts_removed"]
        section(f"Without {counted(removed, 'host')} the baseline gains {counted(gained, 'feature')}:")
        words(result["features_gained"])
        say("  hosts left out:")
        items(result["hosts"], "    ")
