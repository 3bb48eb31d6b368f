"""Writing output files so that nothing is ever left half-written: a temporary file in the
target's folder, then a rename. An existing file is kept unless ``force``."""

from __future__ import annotations

import os
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

from .errors import CpuCompatError

STDOUT = "-"


def replace_atomically(path: str | os.PathLike, write: Callable[[str], None]) -> None:
    """Let ``write(temp_path)`` fill a temporary file, then rename it over ``path``."""
    target = Path(path)
    fd, temp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    os.close(fd)
    try:
        write(temp)
        os.chmod(temp, 0o644)
        os.replace(temp, target)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise


def refuse_existing(path: str | os.PathLike, force: bool) -> None:
    """CpuCompatError when ``path`` is an existing regular file and ``force`` is not given."""
    if str(path) != STDOUT and Path(path).is_file() and not force:
        raise CpuCompatError(f"{path}: exists; use --force to replace it")


def _write_synced(temp: str, text: str) -> None:
    with open(temp, "w", encoding="utf-8") as handle:
        handle.write(text)
        handle.flush()
        os.fsync(handle.fileno())


def write_text(path: str | os.PathLike, text: str, force: bool = False) -> None:
    """Write text atomically; ``-`` is stdout, and a special file (/dev/null) is written directly."""
    if str(path) == STDOUT:
        sys.stdout.write(text)
        return
    target = Path(path)
    if target.exists() and not target.is_file():
        target.write_text(text)
        return
    refuse_existing(target, force)
    replace_atomically(target, lambda temp: _write_synced(temp, text))
