"""Pinned text output: ``assert_snapshot(name, text)`` compares a command's text output with
``tests/views/snapshots/<name>.txt``, reviewed by eye once and then pinned.

``CPUCOMPAT_UPDATE_SNAPSHOTS=1 pytest tests/views`` rewrites the files after an intended change;
review the diff (``git diff tests/views/snapshots``) before committing it.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

SNAPSHOTS = Path(__file__).resolve().parent / "snapshots"
UPDATE_ENV = "CPUCOMPAT_UPDATE_SNAPSHOTS"


def cli_text(*args: str, expect: int | None = None, cwd: Path | None = None) -> str:
    """``cpucompat ARGS`` run as a user runs it, piped (no terminal, no colour): its stdout. ``cwd``
    lets inputs be named relative to a folder, so the text does not depend on where it lies."""
    env = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "LINES", "FORCE_COLOR")}
    done = subprocess.run([sys.executable, "-m", "cpucompat", *args], capture_output=True, text=True, env=env,
                          timeout=300, cwd=cwd)
    if expect is not None:
        assert done.returncode == expect, f"exit {done.returncode}: {done.stderr}"
    assert "Traceback" not in done.stderr, done.stderr
    return done.stdout


def assert_snapshot(name: str, text: str) -> None:
    path = SNAPSHOTS / f"{name}.txt"
    if os.environ.get(UPDATE_ENV, "") not in ("", "0"):
        SNAPSHOTS.mkdir(exist_ok=True)
        path.write_text(text)
        return
    assert path.exists(), f"no pinned snapshot {path}; run with {UPDATE_ENV}=1, review it, commit it"
    assert text == path.read_text(), f"text output differs from {path} (rerun with {UPDATE_ENV}=1 if intended)"
