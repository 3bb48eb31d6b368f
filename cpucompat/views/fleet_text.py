"""Terminal output of ``cpucompat fleet``: the JSON document as text, and the ingest progress bar.

Used by the CLI only. The progress bar is rich's, on stderr, so stdout stays clean for
``--json``; it appears only for ingests of at least ``PROGRESS_MIN_FILES`` files.
"""

from __future__ import annotations

import contextlib
import textwrap
from collections.abc import Iterator

from ..text import printable_tree
from .text import scalar_text, wrap

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
