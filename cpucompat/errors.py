"""The one error hierarchy of cpucompat.

Every error a user can cause (bad input, unknown names, bad usage) is a ``CpuCompatError``;
the CLI catches it once, prints ``error: <message>`` on stderr and exits 2.
"""

from __future__ import annotations


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
