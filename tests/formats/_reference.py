"""Where the tests find real dumps: ../shared/reference (read in place, never copied) and tests/data."""

from __future__ import annotations

from pathlib import Path

import pytest
from tests.conftest import missing_reference

REPO = Path(__file__).resolve().parents[2]
REFERENCE = REPO.parent / "shared" / "reference"
DUMPS = REFERENCE / "dumps"
CPUTESTDATA = REFERENCE / "libvirt" / "cputestdata"
TEST_DATA = REPO / "tests" / "data"


def reference_file(relative: str) -> Path:
    """A file under ../shared/reference, or a clean skip when the folder is not there."""
    path = REFERENCE / relative
    if not REFERENCE.is_dir():
        missing_reference()
    if not path.is_file():
        pytest.skip(f"../shared/reference/{relative} not available")
    return path


def require_reference() -> None:
    if not REFERENCE.is_dir():
        missing_reference()
