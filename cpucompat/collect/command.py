"""The ``cpucompat collect`` command: options in, fingerprint and/or summary out.

``run`` is what the Typer command calls. ``fast_path`` is what ``cli.main`` calls first for
``cpucompat collect ...``: Typer 0.29 coerces every option value, including its own --help,
through a pydantic TypeAdapter, and importing pydantic costs about 85 ms, more than the whole
collection. ``fast_path`` parses the same options itself and exits; anything it does not know
(--help, a typo) is left to Typer so help and usage errors look the same as everywhere else.
"""

from __future__ import annotations

import sys

from ..errors import CpuCompatError, exit_on_error
from ..cpulist import parse_cpu_list

STDOUT = "-"
#: Options of ``collect`` that take a value: spelling -> run() keyword.
VALUE_OPTIONS = {"-o": "output", "--output": "output", "--cpus": "cpus", "--nfd": "nfd",
                 "--prometheus": "prometheus"}
#: Flags of ``collect``: spelling -> run() keyword.
FLAGS = {"--force": "force", "--check": "check", "--load-msr": "load_msr"}


def run(output: str = STDOUT, cpus: str | None = None, force: bool = False, check: bool = False,
        load_msr: bool = False, nfd: str | None = None, prometheus: str | None = None) -> None:
    """Collect this host; write the fingerprint (stdout, or ``output`` atomically) and/or the summary,
    and the NFD feature file and Prometheus textfile asked for (always replaced, atomically)."""
    from ..formats import fingerprint
    from ..output import refuse_existing, write_text
    from .collector import collect

    selected = parse_cpu_list(cpus, "--cpus list") if cpus is not None else None
    refuse_existing(output, force)
    for path in (nfd, prometheus):
        if path is not None:
            refuse_existing(path, force=True)  # a folder or FIFO is refused before collecting
    collection = collect(selected, load_msr=load_msr)
    if not collection.cpus:
        raise CpuCompatError("no CPU could be read: " + "; ".join(collection.notes))
    document = collection.document()
    if output != STDOUT or not (check or nfd or prometheus):
        write_text(output, fingerprint.dumps(document), force=force)
    if nfd or prometheus:
        _write_views(document, nfd, prometheus)
    if check:
        from ..decode import decode
        from ..views.collect import check_text
        from .check import kvm_difference

        decoded = decode(collection.dump())
        sys.stdout.write(check_text(collection, decoded, kvm_difference(collection, decoded.features)))


def _write_views(document: dict, nfd: str | None, prometheus: str | None) -> None:
    """The NFD feature file and the Prometheus textfile (views of the summary; not on the fast path)."""
    from ..output import write_text
    from .summary import summarize

    summary = summarize(document)
    if nfd:
        from . import nfd as nfd_file

        text, left_out = nfd_file.render(summary)
        for label in left_out:
            sys.stderr.write(f"warning: label {label} is not a valid Kubernetes label; left out\n")
        write_text(nfd, text, force=True)
    if prometheus:
        from . import prometheus as textfile

        write_text(prometheus, textfile.render(summary, document["host"].get("collected_at")), force=True)


def parse_args(args: list[str]) -> dict | None:
    """The ``run`` keywords for these arguments, or None when Typer should handle them."""
    options: dict = {}
    items = iter(args)
    for arg in items:
        name, equals, value = arg.partition("=")
        if arg.startswith("-o") and len(arg) > 2 and not arg.startswith("--"):
            name, equals, value = "-o", "=", arg[2:]
        if name in FLAGS and not equals:
            options[FLAGS[name]] = True
        elif name in VALUE_OPTIONS:
            value = value if equals else next(items, None)
            if value is None:
                return None
            options[VALUE_OPTIONS[name]] = value
        else:
            return None
    return options


def fast_path(args: list[str]) -> None:
    """Run ``collect`` without Typer and exit (0, or 2 with one ``error:`` line); return if Typer is needed."""
    options = parse_args(args)
    if options is None:
        return
    with exit_on_error():
        run(**options)
    raise SystemExit(0)
