"""The one table loader (``cpucompat.knowledge.tables``): typed rows, caching, the folders the
env variables choose, and no other CSV/JSON loader for the knowledge files in the package."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import NamedTuple

import pytest

from cpucompat.knowledge import tables

REPO = Path(__file__).resolve().parents[2]


class Vendor(NamedTuple):
    vendor_string: str
    family: str
    label: str = ""
    missing: int = 7


class Leaf(NamedTuple):
    leaf: int
    bit: int
    uses_x: bool = False


@pytest.fixture
def fresh_tables(monkeypatch):
    tables.clear_caches()
    yield monkeypatch
    monkeypatch.delenv("CPUCOMPAT_DATA_DIR", raising=False)
    monkeypatch.delenv("CPUCOMPAT_BASELINES_DIR", raising=False)
    tables.clear_caches()


def test_rows_skip_comments_and_blank_lines(tmp_path, fresh_tables):
    (tmp_path / "t.csv").write_text("# source: here\nleaf,bit,uses_x\n\n0x1e,3,yes\n# more\n7,31,no\n")
    fresh_tables.setenv("CPUCOMPAT_DATA_DIR", str(tmp_path))
    assert tables.rows("t.csv") == ({"leaf": "0x1e", "bit": "3", "uses_x": "yes"},
                                    {"leaf": "7", "bit": "31", "uses_x": "no"})
    assert tables.table("t.csv", Leaf) == (Leaf(0x1E, 3, True), Leaf(7, 31, False))


def test_typed_rows_are_cached_and_take_defaults():
    first = tables.table("vendors.csv", Vendor)
    assert first is tables.table("vendors.csv", Vendor)
    intel = next(row for row in first if row.vendor_string == "GenuineIntel")
    assert (intel.family, intel.missing) == ("intel", 7)


def test_data_dir_override_brings_its_baselines(tmp_path, fresh_tables):
    shutil.copytree(REPO / "data", tmp_path / "data")
    shutil.copytree(REPO / "baselines", tmp_path / "baselines")
    evc = tmp_path / "baselines" / "evc.json"
    evc.write_text(evc.read_text().replace('"intel-merom"', '"intel-merom-here"', 1))
    fresh_tables.setenv("CPUCOMPAT_DATA_DIR", str(tmp_path / "data"))
    assert tables.baselines_dir() == tmp_path / "baselines"
    assert tables.document("evc.json", "baselines")["baselines"][0]["key"] == "intel-merom-here"


def test_baselines_dir_override(tmp_path, fresh_tables):
    fresh_tables.setenv("CPUCOMPAT_DATA_DIR", str(tmp_path))  # no baselines/ beside it: the shipped one
    assert tables.baselines_dir() == REPO / "baselines"
    tables.clear_caches()
    fresh_tables.setenv("CPUCOMPAT_BASELINES_DIR", str(tmp_path))
    assert tables.baselines_dir() == tmp_path


def test_data_dir_override_reaches_the_cli(tmp_path):
    """A whole run reads its tables from CPUCOMPAT_DATA_DIR and the baselines beside it."""
    shutil.copytree(REPO / "data", tmp_path / "data")
    shutil.copytree(REPO / "baselines", tmp_path / "baselines")
    evc = tmp_path / "baselines" / "evc.json"
    evc.write_text(evc.read_text().replace('"intel-merom"', '"intel-merom-here"', 1))
    done = subprocess.run([sys.executable, "-m", "cpucompat", "evc", "list"], cwd=REPO, capture_output=True,
                          text=True, timeout=120, env={"PATH": "/usr/bin:/bin", "CPUCOMPAT_DATA_DIR": str(tmp_path / "data")})
    assert done.returncode == 0, done.stderr
    assert "intel-merom-here" in done.stdout


def test_one_loader():
    """Knowledge files are read through tables.py only: no other CSV reader or data-file open."""
    loaders = re.compile(r"csv\.(DictReader|reader)|open\((data_file|baselines_dir|data_dir)\(|"
                         r"(data_file|baselines_dir|data_dir)\(.*\.read_(text|bytes)\(")
    offenders = [f"{path.relative_to(REPO)}:{number}"
                 for path in sorted((REPO / "cpucompat").rglob("*.py")) if path.name != "tables.py"
                 for number, line in enumerate(path.read_text().splitlines(), 1) if loaders.search(line)]
    assert offenders == []
