"""The ``cpucompat`` command line: a thin typer layer over the library.

Each command parses its options, calls the library and renders the result. Machine output
(``--json``) goes to stdout; messages go to stderr. Exit codes: 0 ok/compatible,
1 incompatible, 2 usage or input error. Every expected error is a ``CpuCompatError`` and is
handled in one place, ``_handle_errors``.
"""

from __future__ import annotations

import functools
import json
import sys
from enum import Enum
from typing import Annotated

import typer

from . import __version__
from .errors import CpuCompatError

app = typer.Typer(
    name="cpucompat",
    help="Can a VM live-migrate between these x86 servers without losing a CPU feature?",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


class Vocabulary(str, Enum):
    canonical = "canonical"
    linux = "linux"
    qemu = "qemu"
    libvirt = "libvirt"
    vmware = "vmware"
    xen = "xen"
    nfd = "nfd"


def error(message: str) -> None:
    """Print one diagnostic line on stderr."""
    print(f"error: {message}", file=sys.stderr)


def _handle_errors(command):
    """Turn expected errors into one line on stderr and exit code 2, never a traceback."""

    @functools.wraps(command)
    def wrapper(*args, **kwargs):
        try:
            return command(*args, **kwargs)
        except CpuCompatError as exc:
            error(str(exc))
            raise typer.Exit(exc.exit_code) from None
        except OSError as exc:
            error(f"{exc.filename or ''}: {exc.strerror or exc}".lstrip(": "))
            raise typer.Exit(2) from None

    return wrapper


def emit_json(document: object) -> None:
    sys.stdout.write(json.dumps(document, indent=2, sort_keys=False) + "\n")


def _version(value: bool) -> None:
    if value:
        print(f"cpucompat {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[bool, typer.Option("--version", callback=_version, is_eager=True,
                                          help="Print the version and exit.")] = False,
) -> None:
    """Can a VM live-migrate between these x86 servers without losing a CPU feature?"""


@app.command()
@_handle_errors
def decode(
    input: Annotated[str, typer.Argument(help="A fingerprint or CPUID dump (any supported format); - for stdin.")],
    names: Annotated[Vocabulary, typer.Option("--names", help="Vocabulary of the feature names.")] = Vocabulary.linux,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable JSON on stdout.")] = False,
    per_cpu: Annotated[bool, typer.Option("--per-cpu", help="Also show every logical CPU.")] = False,
) -> None:
    """Decode a CPUID dump into vendor, signature, fields and named features."""
    from .decode import decode as decode_dump, to_json
    from .parsers import read_dump

    document = to_json(decode_dump(read_dump(input)), names.value, per_cpu)
    if as_json:
        emit_json(document)
    else:
        from .render import print_decoded

        print_decoded(document)
    for warning in document["warnings"]:
        print(f"warning: {warning}", file=sys.stderr)


def main() -> None:
    """Console-script entry point."""
    app()
