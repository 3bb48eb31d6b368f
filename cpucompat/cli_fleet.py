"""The ``cpucompat fleet`` commands: ``fleet INPUT...`` (analyse, the default) and ``fleet synth``.

A thin typer layer like ``cli.py`` (which registers it), over ``fleet/`` and ``views/fleet*.py``.
"""

from __future__ import annotations

import shlex
import sys
from typing import Annotated

import typer

from .cli import ALL_BITS_OPTION, GUEST_OPTION, Vocabulary, _decode_all, emit_json
from .errors import handled
from .text import printable


class _FleetGroup(typer.core.TyperGroup):
    """``fleet`` with ``analyse`` as its default command: ``fleet DIR`` is ``fleet analyse DIR``."""

    def parse_args(self, ctx, args: list[str]) -> list[str]:
        if args and args[0] not in self.commands and args[0] not in ctx.help_option_names:
            args = ["analyse", *args]
        return super().parse_args(ctx, args)


fleet_app = typer.Typer(cls=_FleetGroup, no_args_is_help=True, help=(
    "Fleet analysis at scale. [bold]cpucompat fleet INPUT...[/bold] (the default command, analyse) "
    "reads dumps, fingerprints, folders and fleet tables; [bold]cpucompat fleet synth[/bold] makes a synthetic fleet."))


@fleet_app.command("analyse")
@handled
def fleet_analyse(
    inputs: Annotated[list[str], typer.Argument(help="Dumps, fingerprints, fleet tables (.parquet/.csv) or folders (walked recursively).")],
    output: Annotated[str | None, typer.Option("-o", "--output", help="Also write the fleet table (.parquet or .csv).")] = None,
    force: Annotated[bool, typer.Option("--force", help="Replace an existing output file.")] = False,
    names: Annotated[Vocabulary, typer.Option("--names", help="Vocabulary of the feature names.")] = Vocabulary.canonical,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable JSON on stdout.")] = False,
    cross_vendor: Annotated[bool, typer.Option("--cross-vendor", help="Allow mixed vendors: vendor-neutral features only.")] = False,
    include_nonmigratable: Annotated[bool, typer.Option("--include-nonmigratable", help="Keep invtsc and other non-migratable features.")] = False,
    min_hosts: Annotated[str | None, typer.Option("--min-hosts", help="The richest baseline keeping at least this share of hosts, e.g. 95%.")] = None,
    without: Annotated[list[str] | None, typer.Option("--without", help="What-if: the baseline without these hosts (repeat, or comma-separated).")] = None,
    all_bits: Annotated[bool, ALL_BITS_OPTION] = False,
    guest: Annotated[list[str] | None, GUEST_OPTION] = None,
    domains: Annotated[int | None, typer.Option("--domains", min=1, help="Propose how to split the fleet into at most "
                                                "this many migration domains, one baseline each.")] = None,
) -> None:
    """Baseline, compatibility classes and feature coverage of a fleet (per CPU vendor).

    Then the hosts that cost the EVC mode and what to change in their BIOS, migration domains and what-ifs.

    Example: cpucompat fleet hosts/ --domains 2"""
    from .cluster import Policy
    from .fleet.analysis import parse_share
    from .fleet.ingest import ingest
    from .fleet.tables import check_output, write_table
    from .views.fleet import ingest_progress

    share = parse_share(min_hosts)  # usage errors before a long ingest
    from .guests import validate

    validate(guest or [])
    if output:
        check_output(output, force)
    with ingest_progress() as progress:
        ingested = ingest(inputs, progress)
    for path, reason in ingested.skipped:
        print(f"warning: skipped {printable(path)}: {printable(reason)}", file=sys.stderr)
    if output:
        write_table(ingested.fleet, output, force)
    left_out = [host for item in without or [] for host in item.split(",") if host]
    from .views.fleet_vendors import fleet_document
    from .views.fleet_domains import print_fleet_document

    again = ["cpucompat", "fleet", *inputs] + [flag for flag, on in (("--cross-vendor", cross_vendor), (
        "--include-nonmigratable", include_nonmigratable), ("--all-bits", all_bits)) if on]
    document = fleet_document(ingested.fleet, Policy(include_nonmigratable, cross_vendor, all_bits), share, left_out,
                              names.value, ingested.skipped, guest or [], domains, shlex.join(again))
    emit_json(document) if as_json else print_fleet_document(document)


@fleet_app.command("synth")
@handled
def fleet_synth(
    sources: Annotated[list[str], typer.Option("--from", help="A real dump to draw hosts from (repeat).")],
    hosts: Annotated[int, typer.Option("--hosts", min=1, help="Number of hosts.")],
    output: Annotated[str, typer.Option("-o", "--output", help="The fleet table to write (.parquet or .csv).")],
    seed: Annotated[int, typer.Option("--seed", help="Random seed: the same seed gives the same fleet.")] = 0,
    force: Annotated[bool, typer.Option("--force", help="Replace an existing output file.")] = False,
) -> None:
    """A synthetic fleet from real dumps with random BIOS masks and feature losses (for benchmarks and tests).

    Example: cpucompat fleet synth --from cascadelake.txt --hosts 100000 -o fleet.parquet"""
    from .fleet.tables import check_output, write_table
    from .fleet.synth import synthesize

    check_output(output, force)
    write_table(synthesize(_decode_all(sources), hosts, seed), output, force)
    print(f"wrote {hosts} synthetic hosts to {printable(output)}", file=sys.stderr)
