"""The ``cpucompat report`` command: a fleet or cluster as one self-contained HTML page.

A thin typer layer like ``cli_fleet.py`` (``cli.py`` registers it), over ``fleet/``,
``views/report.py`` (the document, on ``fleet``'s own) and ``views/report_page.py`` (the page).
"""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from . import __version__
from .cli import ALL_BITS_OPTION, NAMES_OPTION, Vocabulary
from .errors import handled
from .text import printable


@handled
def report(
    inputs: Annotated[list[str], typer.Argument(help="Dumps, fingerprints, fleet tables (.parquet/.csv) or folders "
                                                "(walked recursively): whatever cpucompat fleet reads.")],
    output: Annotated[str, typer.Option("-o", "--output", help="The HTML page to write (atomically).")],
    force: Annotated[bool, typer.Option("--force", help="Replace an existing output file.")] = False,
    names: Annotated[Vocabulary, NAMES_OPTION] = Vocabulary.canonical,
    domains: Annotated[int, typer.Option("--domains", min=1, help="Propose at most this many migration domains.")] = 3,
    cross_vendor: Annotated[bool, typer.Option("--cross-vendor", help="Mixed vendors as one fleet: vendor-neutral features only.")] = False,
    include_nonmigratable: Annotated[bool, typer.Option("--include-nonmigratable", help="Keep invtsc and other non-migratable features.")] = False,
    all_bits: Annotated[bool, ALL_BITS_OPTION] = False,
) -> None:
    """One self-contained HTML page for a fleet or cluster; its numbers are cpucompat fleet --json's.

    Summary, heat map, classes, EVC / QEMU / psABI ladder, weakest links, BIOS findings, guest-OS
    floors and migration domains (per CPU vendor).

    Example: cpucompat report hosts/ -o report.html"""
    from .cluster import Policy
    from .fleet.ingest import ingest
    from .output import refuse_existing, write_text
    from .views.fleet import ingest_progress
    from .views.report import report_document
    from .views.report_page import report_page

    refuse_existing(output, force)  # before a long ingest
    with ingest_progress() as progress:
        ingested = ingest(inputs, progress)
    for path, reason in ingested.skipped:
        print(f"warning: skipped {printable(path)}: {printable(reason)}", file=sys.stderr)
    document = report_document(ingested.fleet, Policy(include_nonmigratable, cross_vendor, all_bits), names.value,
                               ingested.skipped, domains)
    write_text(output, report_page(document, inputs, f"cpucompat {__version__} report"), force=force)
    print(f"wrote {printable(output)}: {document['hosts']} hosts, {len(document['vendors'])} CPU vendor(s)",
          file=sys.stderr)
