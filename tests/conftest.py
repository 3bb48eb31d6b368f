"""Shared test helpers: where the reference data and our own fixtures are."""

from __future__ import annotations

from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
TEST_DATA = REPO / "tests" / "data"
REFERENCE = REPO.parent / "shared" / "reference"


def reference(*parts: str) -> Path:
    """A path under ../shared/reference; skips the test cleanly when it is absent."""
    path = REFERENCE.joinpath(*parts)
    if not path.exists():
        pytest.skip("../shared/reference not available")
    return path
