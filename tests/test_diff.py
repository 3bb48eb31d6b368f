"""``cpucompat diff``: one host before and after an update (built from a real reference dump)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cpucompat.cli import app
from cpucompat.diff import diff_paths
from cpucompat.fleet.synth import clear_features
from cpucompat.formats.reader import read_dump

try:  # the fingerprint writer is moving into formats/fingerprint.py (issue 13)
    from cpucompat.formats import fingerprint_write
except ImportError:
    from cpucompat.formats import fingerprint as fingerprint_write

from .conftest import reference

runner = CliRunner()
CASCADE_LAKE = ("dumps", "instlatx64", "GenuineIntel0050657_CascadeLakeSP_CPUID1.txt")


def _write(path: Path, cpus, when: str, microcode: str, findings=None) -> Path:
    document = fingerprint_write.build(
        cpus, host={"hostname": "esx-07", "collected_at": when}, source={"method": "import"},
        kernel={"version": "6.1.0-18-amd64", "cpus": [{"cpu": c.index, "flags": [], "microcode": microcode} for c in cpus]},
        findings=findings)
    path.write_text(fingerprint_write.dumps(document), encoding="utf-8")
    return path


@pytest.fixture
def tsx_update(tmp_path: Path) -> tuple[Path, Path]:
    """A Cascade Lake host before and after a microcode update that turns TSX off (hle, rtm)."""
    cpus = read_dump(reference(*CASCADE_LAKE)).cpus
    old = _write(tmp_path / "2019-05-01.json", cpus, "2019-05-01T08:00:00Z", "0x5000021")
    new = _write(tmp_path / "2019-12-01.json", [clear_features(c, ["hle", "rtm"]) for c in cpus],
                 "2019-12-01T08:00:00Z", "0x500002c")
    return old, new


def test_microcode_update_removing_tsx(tsx_update):
    old, new = tsx_update
    result = runner.invoke(app, ["diff", str(old), str(new), "--json"])
    assert result.exit_code == 1, result.output
    document = json.loads(result.stdout)
    assert document["features"] == {"gained": [], "lost": ["hle", "rtm"]}
    assert document["host_only"] == {"gained": [], "lost": []}
    assert document["microcode"] == {"old": "0x5000021", "new": "0x500002c"}
    impact = document["impact"]
    assert impact["cannot_move_back"] == ["hle", "rtm"]
    assert "TSX" in impact["reasons"]["rtm"]
    # QEMU's models with TSX are left (their -noTSX versions and v3+ stay); the highest stays.
    lost_models = impact["no_longer_meets"]["qemu"]
    assert {"Cascadelake-Server-v1", "Cascadelake-Server-v2", "Skylake-Server-v1", "Skylake-Server-v2",
            "Haswell-v1", "Broadwell-v1"} <= set(lost_models)
    # the noTSX versions (Skylake-Server-v3 is QEMU's Skylake-Server-noTSX-IBRS) are kept
    assert not {"Cascadelake-Server-v3", "Skylake-Server-v3", "Haswell-v2", "Broadwell-v2"} & set(lost_models)
    assert impact["highest"]["qemu"]["old"] == impact["highest"]["qemu"]["new"]
    # No EVC mode requires TSX (baselines/evc.json left_out), nor any psABI level: both are kept.
    assert impact["no_longer_meets"]["evc"] == [] and impact["no_longer_meets"]["psabi"] == []
    assert impact["highest"]["evc"] == {"old": "intel-cascadelake", "new": "intel-cascadelake"}

    text = runner.invoke(app, ["diff", str(old), str(new)])
    assert text.exit_code == 1
    assert text.stdout.startswith("changed: 2 features lost (TSX: hle rtm), microcode 0x5000021 -> 0x500002c\n")
    assert "Cascadelake-Server-v1" in text.stdout
    assert "highest EVC mode: intel-cascadelake (kept)" in text.stdout
    assert "cannot move back" in text.stdout


def test_bios_reset_turning_nx_off_leaves_every_evc_mode(tmp_path: Path):
    cpus = read_dump(reference(*CASCADE_LAKE)).cpus
    old = _write(tmp_path / "a.json", cpus, "2024-01-01T00:00:00Z", "0x5003604")
    finding = [{"id": "nx-disabled", "status": "found", "evidence": "test", "explanation": "", "cpus": [0]}]
    new = _write(tmp_path / "b.json", [clear_features(c, ["nx"]) for c in cpus], "2024-02-01T00:00:00Z",
                 "0x5003604", finding)
    result = diff_paths(str(old), str(new))
    assert result.guest.lost == ["nx"] and result.microcode is None
    assert result.highest["evc"] == ("intel-cascadelake", None)
    assert result.no_longer_meets["evc"][0] == "intel-merom"
    assert result.findings == {"nx-disabled": (None, "found")}
    assert "Execute Disable" in result.reasons["nx"]


def test_same_fingerprint_is_exit_0(tsx_update):
    old, _ = tsx_update
    result = runner.invoke(app, ["diff", str(old), str(old)])
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("same: no change")


def test_history_of_a_folder(tsx_update, tmp_path: Path):
    old, new = tsx_update
    # a third snapshot, later, with the same CPU: the history has two steps, the first the TSX loss
    cpus = read_dump(new).cpus
    _write(tmp_path / "0-latest.json", cpus, "2020-06-01T08:00:00Z", "0x500002c")
    result = runner.invoke(app, ["diff", str(tmp_path), "--json"])
    assert result.exit_code == 1, result.output
    steps = json.loads(result.stdout)["steps"]
    assert [s["new"]["collected_at"] for s in steps] == ["2019-12-01T08:00:00Z", "2020-06-01T08:00:00Z"]
    assert steps[0]["features"]["lost"] == ["hle", "rtm"] and not steps[1]["changed"]


@pytest.mark.parametrize("args", [["missing.json", "other.json"], ["a-file-not-a-folder"]])
def test_bad_input_is_exit_2(tmp_path: Path, args):
    (tmp_path / "a-file-not-a-folder").write_text("x")
    result = runner.invoke(app, ["diff", *(str(tmp_path / a) for a in args)])
    assert result.exit_code == 2
    assert result.stderr.startswith("error: ")
