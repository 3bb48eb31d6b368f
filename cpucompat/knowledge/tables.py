"""Where the knowledge files live: ``data/`` and ``baselines/``.

In a wheel they are shipped inside the package (``cpucompat/data``); in a source checkout
they sit beside the package. ``CPUCOMPAT_DATA_DIR`` overrides the data folder.
"""

from __future__ import annotations

import os
from functools import cache
from pathlib import Path

_PACKAGE = Path(__file__).resolve().parents[1]


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
    """The folder holding the named baselines."""
    return _first_existing("baselines")


def data_file(name: str) -> Path:
    return data_dir() / name
