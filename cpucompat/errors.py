"""The one error hierarchy of cpucompat.

Every error a user can cause (bad input, unknown names, bad usage) is a ``CpuCompatError``;
the CLI catches it once, prints ``error: <message>`` on stderr and exits 2.
"""

from __future__ import annotations

import contextlib
import functools
import io
import os
import sys

from .text import printable


class CpuCompatError(Exception):
    """Base of every expected cpucompat error; the CLI turns it into exit code 2."""

    exit_code = 2


class InputError(CpuCompatError, ValueError):
    """A file that cannot be read as what it should be.

    The message names the file, the line (when one applies) and what was expected.
    """

    def __init__(self, path: str, message: str, line: int | None = None) -> None:
        self.path = str(path)
        self.line = line
        self.reason = message
        where = f"{self.path}:{line}" if line is not None else self.path
        super().__init__(f"{where}: {message}")


class UnknownFeature(CpuCompatError, KeyError):
    """A feature name that no vocabulary of the feature table knows."""

    def __init__(self, name: str, suggestions: list[str] | None = None) -> None:
        self.name = name
        hint = f" (did you mean {', '.join(suggestions)}?)" if suggestions else ""
        super().__init__(f"unknown feature {name!r}{hint}")

    def __str__(self) -> str:  # KeyError would quote the message
        return self.args[0]


class UsageError(CpuCompatError):
    """A command line that asks for something impossible (bad option value, ...)."""


@contextlib.contextmanager
def exit_on_error():
    """The one CLI error handler: expected errors become one ``error:`` line and an exit code.

    ``CpuCompatError`` exits with its code (2), an ``OSError`` (missing file, permission) with 2;
    a closed stdout (``cpucompat ... | head``) ends quietly with 0. Never a traceback.
    """
    try:
        yield
        sys.stdout.flush()  # a full disk or closed pipe is reported here, not at interpreter exit
    except CpuCompatError as exc:
        print(f"error: {printable(str(exc))}", file=sys.stderr)
        raise SystemExit(exc.exit_code) from None
    except BrokenPipeError:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        raise SystemExit(0) from None
    except OSError as exc:
        where = f"{exc.filename}: " if exc.filename else ""
        print(f"error: {printable(where + str(exc.strerror or exc))}", file=sys.stderr)
        _drop_stdout_if_broken()
        raise SystemExit(2) from None


def handled(command):
    """A command routed through the one error handler, ``exit_on_error`` (every CLI command is)."""

    @functools.wraps(command)
    def wrapper(*args, **kwargs):
        with exit_on_error():
            return command(*args, **kwargs)

    return wrapper


def _drop_stdout_if_broken() -> None:
    """When stdout cannot be written (``> /dev/full``), send what is buffered to /dev/null, so
    the interpreter's last flush does not print a second error."""
    try:
        sys.stdout.flush()
    except OSError:
        with contextlib.suppress(OSError, ValueError, AttributeError, io.UnsupportedOperation):
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
