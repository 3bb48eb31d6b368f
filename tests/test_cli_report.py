"""``cpucompat report`` on the command line: bad input is one line, exit 2 and nothing written; an
existing page is kept unless --force; a written page is whole and self-contained."""

from __future__ import annotations

import os
import subprocess
import sys

from typer.testing import CliRunner

from cpucompat.cli import app

from .conftest import REPO, reference

runner = CliRunner()
CASCADE_LAKE = ("dumps", "instlatx64", "GenuineIntel0050657_CascadeLakeSP_CPUID1.txt")


def cpucompat(*args: str) -> subprocess.CompletedProcess:
    """The real command in a child process (stderr as a user sees it)."""
    return subprocess.run([sys.executable, "-m", "cpucompat", *args], capture_output=True, text=True, cwd=REPO,
                          timeout=120)


def test_bad_input_is_one_line_and_writes_nothing(tmp_path):
    bad = tmp_path / "garbage.txt"
    bad.write_text("this is not a CPUID dump\n")
    page = tmp_path / "report.html"
    run = cpucompat("report", str(reference(*CASCADE_LAKE)), str(bad), "-o", str(page))
    assert run.returncode == 2
    lines = run.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and "garbage.txt" in lines[0], run.stderr
    assert "Traceback" not in run.stderr and run.stdout == ""
    assert os.listdir(tmp_path) == ["garbage.txt"]  # no page, no temporary file


def test_missing_input_is_one_line(tmp_path):
    page = tmp_path / "report.html"
    result = runner.invoke(app, ["report", str(tmp_path / "nothing-here.json"), "-o", str(page)])
    assert result.exit_code == 2 and "nothing-here.json" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and not page.exists()


def test_existing_page_is_kept_unless_force(tmp_path):
    page = tmp_path / "report.html"
    page.write_text("keep me")
    result = runner.invoke(app, ["report", str(reference(*CASCADE_LAKE)), "-o", str(page)])
    assert result.exit_code == 2 and "exists; use --force" in result.stderr
    assert page.read_text() == "keep me"
    result = runner.invoke(app, ["report", str(reference(*CASCADE_LAKE)), "-o", str(page), "--force"])
    assert result.exit_code == 0, result.output
    text = page.read_text()
    assert text.startswith("<!DOCTYPE html>") and text.rstrip().endswith("</html>")
    assert "intel-cascadelake" in text and "<script" not in text
    assert result.stdout == "" and "wrote " in result.stderr
