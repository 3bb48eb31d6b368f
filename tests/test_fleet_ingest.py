"""Reading fleets from hostile folders and tables (issue 12 #2, #3, #4, #5, #8, #11, #12)."""

from __future__ import annotations

import dataclasses
import json
import os
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cpucompat.fleet import model as M
from cpucompat.fleet import ingest as fleet_ingest, synth as fleet_synth, tables as fleet_io
from cpucompat.cli import app
from cpucompat.decode import decode
from cpucompat.formats import reader
from cpucompat.formats.reader import read_dump

from .conftest import TEST_DATA

FIXTURE = TEST_DATA / "linux-kvm-zen3-epyc-milan_cpuid-r.txt"
runner = CliRunner()


def _strict_json(text: str) -> dict:
    def refuse(name):
        raise AssertionError(f"bare {name} in JSON")
    return json.loads(text, parse_constant=refuse)


def _folder(tmp_path: Path) -> Path:
    root = tmp_path / "fleet"
    (root / "dc1").mkdir(parents=True)
    (root / "dc1" / "good.txt").write_text(FIXTURE.read_text())
    return root


def _fleet(args):
    result = runner.invoke(app, ["fleet", *args, "--json"])
    return result, (_strict_json(result.stdout) if result.exit_code == 0 else None)


BAD_FILES = {
    "deep.json": "[" * 100_000 + "]" * 100_000,
    "deep-object.json": '{"format": "cpucompat-fingerprint", "version": 1, "raw": ' + "[" * 50_000 + "]" * 50_000 + "}",
    "bad-fields.csv": "host,vendor\na,AuthenticAMD\nb,AuthenticAMD,x,y,z\n",
    "bad-utf8.csv": b"host,vendor\n\xff\xfe\xfa,AuthenticAMD\n",
    "huge-int.csv": "host,vendor,family\na,AuthenticAMD,99999999999999999999999999\n",
    "bad-bool.csv": "host,vendor,sse2\na,AuthenticAMD,maybe\n",
    "garbage.parquet": b"PAR1" + b"\x00" * 64 + b"PAR1",
    "fingerprint-list-hostname.json": json.dumps({"format": "cpucompat-fingerprint", "version": 1,
                                                  "host": {"hostname": [1]}, "raw": {"cpus": []}}),
    "name-\xff.txt": b"\x00binary",
}


@pytest.mark.parametrize("name", sorted(BAD_FILES))
def test_a_bad_file_in_a_folder_is_skipped_with_a_warning(tmp_path, name):
    root = _folder(tmp_path)
    content = BAD_FILES[name]
    path = os.path.join(os.fsencode(root / "dc1"), name.encode("utf-8", "surrogateescape"))
    with open(path, "wb") as handle:
        handle.write(content if isinstance(content, bytes) else content.encode())
    start = time.perf_counter()
    result, document = _fleet([str(root)])
    assert result.exit_code == 0, result.stderr
    assert time.perf_counter() - start < 20
    assert document["hosts"] == 1
    assert len(document["skipped"]) == 1
    assert "warning: skipped" in result.stderr and "Traceback" not in result.stderr
    named = runner.invoke(app, ["fleet", os.fsdecode(path), "--json"])  # named: an error
    assert named.exit_code == 2, named.stderr
    assert [line for line in named.stderr.splitlines() if line.startswith("error:")] and named.stdout == ""
    assert "\n" not in named.stderr.strip().split("error:", 1)[1]


def test_an_unreadable_folder_is_reported(tmp_path, monkeypatch):
    root = _folder(tmp_path)
    (root / "locked").mkdir()
    (root / "locked" / "host.txt").write_text(FIXTURE.read_text())
    scandir = os.scandir

    def fake(path="."):
        if os.fspath(path).endswith("locked"):
            raise PermissionError(13, "Permission denied", os.fspath(path))
        return scandir(path)

    monkeypatch.setattr(os, "scandir", fake)
    result, document = _fleet([str(root)])
    assert result.exit_code == 0, result.stderr
    assert document["skipped"] == [{"input": str(root / "locked"), "error": "cannot read folder: Permission denied"}]
    assert f"warning: skipped {root / 'locked'}: cannot read folder: Permission denied" in result.stderr


def test_a_fifo_in_a_folder_is_skipped_not_waited_on(tmp_path):
    root = _folder(tmp_path)
    os.mkfifo(root / "dc1" / "pipe")
    result, document = _fleet([str(root)])
    assert result.exit_code == 0, result.stderr
    assert document["skipped"][0]["input"].endswith("pipe")
    assert "FIFO" in document["skipped"][0]["error"]
    result = runner.invoke(app, ["decode", str(root / "dc1" / "pipe")])
    assert result.exit_code == 2 and "cannot read a FIFO" in result.stderr


def test_csv_round_trip_keeps_host_names_and_json_is_strict(tmp_path):
    host = decode(read_dump(FIXTURE))
    names = ["007", "NA", "nan", "", "1e3", "True"]
    fleet = M.from_decoded([dataclasses.replace(host, name=n) for n in names])
    table = str(tmp_path / "fleet.csv")
    fleet_io.write_table(fleet, table)
    assert list(fleet_io.read_table(table).hosts) == names
    result, document = _fleet([table, "--without", "007"])
    assert result.exit_code == 0, result.stderr
    assert document["hosts"] == len(names)


def test_tables_have_their_own_larger_size_limit(tmp_path, monkeypatch):
    host = decode(read_dump(FIXTURE))
    fleet = M.from_decoded([dataclasses.replace(host, name=f"h{i}") for i in range(20)])
    root = tmp_path / "fleet"
    root.mkdir()
    fleet_io.write_table(fleet, str(root / "fleet.csv"))
    assert os.path.getsize(root / "fleet.csv") > 1000
    monkeypatch.setattr(reader, "MAX_BYTES", 1000)
    result, document = _fleet([str(root)])
    assert result.exit_code == 0, result.stderr
    assert document["hosts"] == 20


@pytest.mark.parametrize("share", ["1e-999999999", "1e999999999%", "9" * 5000, "inf", "nan%", "-1%", "0x10"])
def test_min_hosts_is_parsed_bounded(share):
    start = time.perf_counter()
    result = runner.invoke(app, ["fleet", str(FIXTURE), "--min-hosts", share])
    assert result.exit_code == 2 and "--min-hosts" in result.stderr
    assert time.perf_counter() - start < 5


def test_control_characters_of_table_host_names_never_reach_the_terminal(tmp_path):
    host = decode(read_dump(FIXTURE))
    fleet = M.from_decoded([dataclasses.replace(host, name="a\x1b[2J\nb"),
                            dataclasses.replace(host, name="c", features=host.features - {"avx2"})])
    table = str(tmp_path / "fleet.csv")
    fleet_io.write_table(fleet, table)
    result = runner.invoke(app, ["fleet", table, "--min-hosts", "50%"])
    assert result.exit_code == 0, result.stderr
    assert "\x1b" not in result.stdout and "a\\x1b[2J\\x0ab" in result.stdout


def test_a_csv_row_longer_than_its_header_is_an_error_not_an_index(tmp_path):
    table = tmp_path / "wide.csv"
    table.write_text("host,vendor,sse2\na,AuthenticAMD,True\n" + "b," * 20000 + "c\n")
    start = time.perf_counter()
    result = runner.invoke(app, ["fleet", str(table), "--json"])
    assert result.exit_code == 2 and "cannot read CSV table" in result.stderr
    assert time.perf_counter() - start < 5


def test_each_file_is_read_once(tmp_path, monkeypatch):
    """A cache miss parses the bytes already read; nothing is opened twice, read_dump not at all."""
    fleet_synth.write_fingerprints(read_dump(FIXTURE), str(tmp_path), 6, configs=3, seed=1)
    (tmp_path / "host.txt").write_bytes(FIXTURE.read_bytes())
    opened = []
    real_open = os.open
    monkeypatch.setattr(os, "open", lambda path, *args, **kw: opened.append(str(path)) or real_open(path, *args, **kw))
    ingested = fleet_ingest.ingest([str(tmp_path)])
    assert len(ingested.fleet) == 7 and not ingested.skipped
    mine = [path for path in opened if path.startswith(str(tmp_path))]
    assert len(mine) == len(set(mine)) == 7
