"""Fixtures for the QEMU probe tests: skip cleanly without QEMU or gcc, unless told not to.

CI installs both, so a skip there would hide a broken setup: with CPUCOMPAT_REQUIRE_QEMU=1
in the environment a missing tool fails the tests instead.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.qemu_probe import harness

REQUIRE_ENV = "CPUCOMPAT_REQUIRE_QEMU"


@pytest.fixture(scope="session")
def probe_kernel() -> Path:
    """The built probe image; skips (or fails, see REQUIRE_ENV) without qemu-system-x86_64/gcc."""
    if not harness.available():
        message = f"{harness.QEMU} or {harness.GCC} not installed"
        if os.environ.get(REQUIRE_ENV, "") not in ("", "0"):
            pytest.fail(f"{message}, and {REQUIRE_ENV} is set")
        pytest.skip(message)
    return harness.build_probe()
