"""The knowledge files, ``data/`` and ``baselines/``, and the one loader that reads them.

In a wheel they are shipped inside the package (``cpucompat/data``); in a source checkout
they sit beside the package. ``CPUCOMPAT_DATA_DIR`` overrides the data folder and, with it,
the baselines folder (``baselines/`` beside that data folder when there is one);
``CPUCOMPAT_BASELINES_DIR`` overrides the baselines folder alone.

Every CSV file here has the same shape: ``#`` comment lines (the sources), then a header, then
rows; blank lines are skipped. ``rows(name)`` gives them as dicts, ``table(name, Row)`` as typed
rows (a NamedTuple whose fields name columns; ``int`` fields accept decimal or ``0x`` hex,
``int | None`` fields read a blank as None, ``bool`` fields ``yes``/``no``/``1``/``0``). Both
are read once per process. This module imports only the standard library's csv and json, so
the host agent stays light.
"""

from __future__ import annotations

from collections.abc import Iterator

import csv
import json
import os
from functools import cache
from pathlib import Path
from typing import Any, TypeVar

_PACKAGE = Path(__file__).resolve().parents[1]

Row = TypeVar("Row")


def _first_existing(name: str) -> Path:
    for candidate in (_PACKAGE / name, _PACKAGE.parent / name):
        if candidate.is_dir():
            return candidate
    raise FileNotFoundError(f"cpucompat is installed without its {name}/ folder")


@cache
def data_dir() -> Path:
    """The folder holding features.csv, feature-deps.csv and the schemas."""
    override = os.environ.get("CPUCOMPAT_DATA_DIR")
    return Path(override) if override else _first_existing("data")


@cache
def baselines_dir() -> Path:
    """The folder holding the named baselines: ``CPUCOMPAT_BASELINES_DIR``, else ``baselines/``
    beside ``CPUCOMPAT_DATA_DIR`` (when that is set and has one), else the shipped folder."""
    override = os.environ.get("CPUCOMPAT_BASELINES_DIR")
    if override:
        return Path(override)
    data_override = os.environ.get("CPUCOMPAT_DATA_DIR")
    if data_override and (beside := Path(data_override).parent / "baselines").is_dir():
        return beside
    return _first_existing("baselines")


def data_file(name: str) -> Path:
    return data_dir() / name


def _content_lines(handle) -> Iterator[str]:
    """A CSV file's lines without '#' source lines and blank lines: the header, then the rows."""
    return (line for line in handle if line.strip() and not line.startswith("#"))


@cache
def header(name: str) -> tuple[str, ...]:
    """The column names of ``data/NAME`` (a CSV file), reading no further than its header."""
    with open(data_file(name), newline="", encoding="utf-8") as handle:
        return tuple(next(csv.reader(_content_lines(handle))))


@cache
def rows(name: str) -> tuple[dict[str, str], ...]:
    """The rows of ``data/NAME`` (a CSV file) as dicts, header names as keys. Do not mutate."""
    with open(data_file(name), newline="", encoding="utf-8") as handle:
        return tuple(csv.DictReader(list(_content_lines(handle))))


def _converter(kind: Any):
    kind = getattr(kind, "__forward_arg__", kind)  # NamedTuple fields under postponed annotations
    if kind in ("int | None", "None | int"):
        return lambda text: int(text, 0) if text else None
    if kind in (int, "int"):
        return lambda text: int(text, 0) if text else 0
    if kind in (bool, "bool"):
        return lambda text: text.strip().lower() in ("yes", "true", "1")
    return lambda text: text


@cache
def table(name: str, row_type: type[Row]) -> tuple[Row, ...]:
    """The rows of ``data/NAME`` as ``row_type`` (a NamedTuple): one field per column it names,
    converted by the field's annotation (``int``, ``bool``, else ``str``); a column the file
    lacks takes the field's default."""
    hints = getattr(row_type, "__annotations__", {})
    defaults = getattr(row_type, "_field_defaults", {})
    fields = [(field, _converter(hints.get(field))) for field in row_type._fields]  # type: ignore[attr-defined]
    return tuple(
        row_type(*(convert(row[field]) if field in row else defaults[field] for field, convert in fields))
        for row in rows(name)
    )


@cache
def document(name: str, folder: str = "data") -> Any:
    """A JSON file of ``data/`` or (``folder="baselines"``) ``baselines/``, parsed once. Do not mutate."""
    base = baselines_dir() if folder == "baselines" else data_dir()
    with open(base / name, encoding="utf-8") as handle:
        return json.load(handle)


def clear_caches() -> None:
    """Forget the folders and every table read (tests that point the env variables elsewhere)."""
    for function in (data_dir, baselines_dir, rows, table, document):
        function.cache_clear()
