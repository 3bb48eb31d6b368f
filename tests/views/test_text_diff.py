"""``cpucompat diff`` text, pinned: a Cascade Lake (reference dump) before and after a microcode
update that turns TSX off, after a BIOS reset that turns NX off, unchanged, and as a history."""

from __future__ import annotations

from pathlib import Path

import pytest

from ..test_diff import CASCADE_LAKE, _write
from cpucompat.fleet.synth import clear_features
from cpucompat.formats.reader import read_dump

from ..conftest import reference
from .snapshots import assert_snapshot, cli_text


@pytest.fixture
def snapshots(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Three dated fingerprints of one host; no QEMU on PATH, so the newest shipped QEMU table
    names the models whatever QEMU this machine has."""
    monkeypatch.setenv("PATH", str(tmp_path / "no-qemu"))
    cpus = read_dump(reference(*CASCADE_LAKE)).cpus
    _write(tmp_path / "2019-05-01.json", cpus, "2019-05-01T08:00:00Z", "0x5000021")
    _write(tmp_path / "2019-12-01.json", [clear_features(c, ["hle", "rtm"]) for c in cpus],
           "2019-12-01T08:00:00Z", "0x500002c")
    finding = [{"id": "nx-disabled", "status": "found", "evidence": "CPUID 0x80000001 EDX[20] (NX) = 0",
                "explanation": "", "cpus": [0]}]
    _write(tmp_path / "2024-02-01.json", [clear_features(c, ["hle", "rtm", "nx"]) for c in cpus],
           "2024-02-01T08:00:00Z", "0x5003604", finding)
    return tmp_path


def _text(folder: Path, *names: str, expect: int) -> str:
    """Run in ``folder`` with the snapshots named relative to it (the same text wherever it lies)."""
    return cli_text("diff", *names, expect=expect, cwd=folder)


def test_microcode_update_removing_tsx(snapshots: Path):
    text = _text(snapshots, "2019-05-01.json", "2019-12-01.json", expect=1)
    assert_snapshot("diff-tsx-microcode", text)
    assert text.splitlines()[0] == "changed: 2 features lost (TSX: hle rtm), microcode 0x5000021 -> 0x500002c"
    assert "  lost (2):\n    instructions (2):\n      TSX  hle rtm\n" in text and "highest EVC mode: intel-cascadelake (kept)" in text


def test_bios_reset_turning_nx_off(snapshots: Path):
    text = _text(snapshots, "2019-12-01.json", "2024-02-01.json", expect=1)
    assert_snapshot("diff-nx-bios", text)
    assert text.startswith("changed: 1 feature lost (x86-64 base: nx), microcode 0x500002c -> 0x5003604, BIOS "
                           "finding\n    nx-disabled found\n")  # wrapped at 100 columns
    assert "highest EVC mode: intel-cascadelake -> none" in text


def test_same_and_history(snapshots: Path):
    assert _text(snapshots, "2019-05-01.json", "2019-05-01.json", expect=0).startswith("same: no change\n")
    text = _text(snapshots, ".", expect=1)
    assert_snapshot("diff-history", text)
    assert text.startswith("changed: esx-07, 3 snapshots, 2 of 2 steps changed the CPU\n")
