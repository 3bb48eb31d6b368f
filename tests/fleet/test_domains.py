"""Migration domains, readable class names, the hosts that cost the EVC mode, and mixed vendors
in ``fleet`` (cpucompat/fleet/domains.py, per_vendor.py)."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest
from typer.testing import CliRunner

from cpucompat.cli import app
from cpucompat.fleet.bits import pack
from cpucompat.fleet.tables import read_table

from ..conftest import reference

runner = CliRunner()
DUMPS = ("dumps", "instlatx64")
CASCADE_LAKE = "GenuineIntel0050657_CascadeLakeSP_CPUID1.txt"
MILAN = "AuthenticAMD0A00F11_K19_Milan_CPUID1.txt"
#: The acceptance fleet of issue 11: 100,000 hosts, about 0.5% of them with NX off in the BIOS
#: (``fleet synth``: about 6 s to make, once per session, and 1-3 s per analysis).
HOSTS = 100_000


@pytest.fixture(scope="module")
def nx_fleet(tmp_path_factory):
    """A synthetic Cascade Lake fleet made by ``fleet synth`` (0.5% of hosts with NX off in the
    BIOS, and the other BIOS masks and losses), and the names of its NX-off hosts."""
    path = tmp_path_factory.mktemp("fleet") / "fleet.parquet"
    result = runner.invoke(app, ["fleet", "synth", "--from", str(reference(*DUMPS, CASCADE_LAKE)),
                                 "--hosts", str(HOSTS), "--seed", "3", "-o", str(path)])
    assert result.exit_code == 0, result.output
    fleet = read_table(str(path))
    off = ~np.any(fleet.bits & pack(["nx"]), axis=1)
    return path, set(fleet.hosts[off])


def test_fleet_names_the_hosts_that_cost_the_evc_mode_and_the_bios_fix(nx_fleet):
    path, nx_off = nx_fleet
    assert 0.003 * HOSTS <= len(nx_off) <= 0.007 * HOSTS
    result = runner.invoke(app, ["fleet", str(path), "--json"])
    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    assert document["evc_mode"] is None  # a handful of NX-off hosts leave the whole fleet without EVC
    (cost,) = document["evc_costs"]
    assert cost["evc_mode"] is None and cost["reachable_evc_mode"] is not None
    xd = [c for c in cost["classes"] if any("Execute Disable (XD" in r for r in c["remedies"])]
    assert sum(c["hosts"] for c in xd) == len(nx_off)
    assert all("nx" in c["missing"] and c["bios"]["nx-disabled"] == ["nx"] for c in xd)
    assert cost["classes"][:len(xd)] == xd  # the hosts that leave no EVC mode at all come first
    assert {h for c in xd for h in c["examples"]} <= nx_off
    text = runner.invoke(app, ["fleet", str(path)]).stdout
    assert text.startswith(f"{HOSTS:,} hosts, GenuineIntel, {len(document['classes'])} classes: EVC mode none")
    step = re.sub(r" \\\n\s+", " ", text[text.index("\n  next steps:\n"):text.index("\nBaseline: ")])
    assert f"    - enable Execute Disable (XD / NX) in the BIOS on {len(nx_off):,} hosts: it gives back nx\n" in step
    assert f"cpucompat fleet {path} --domains 2\n" in step
    assert f"cpucompat mask VM.json --evc {cost['reachable_evc_mode']} --format vmx-evc\n" in step
    bios = next(s for s in document["next_steps"] if s["action"] == "bios" and "Execute Disable" in s["text"])
    assert bios["features"] == ["nx"] and f"on {len(nx_off):,} hosts" in bios["text"]
    costs = text[text.index("\nHosts that cost the EVC mode\n"):]
    assert all(host in costs for host in xd[0]["examples"][:3])  # the hosts, one per line


def test_domains_2_puts_the_nx_off_hosts_apart(nx_fleet):
    path, nx_off = nx_fleet
    result = runner.invoke(app, ["fleet", str(path), "--json", "--domains", "2"])
    assert result.exit_code == 0, result.output
    domains = json.loads(result.stdout)["domains"]["domains"]
    assert len(domains) == 2
    main, apart = domains
    assert set(apart["host_names"]) == nx_off and apart["hosts"] == len(nx_off)
    assert main["hosts"] == HOSTS - len(nx_off)
    assert main["evc_mode"] is not None and apart["evc_mode"] is None
    assert "nx" in main["gained"]
    assert "-nx" in apart["name"]
    text = runner.invoke(app, ["fleet", str(path), "--domains", "2"]).stdout
    rows = text[text.index("\nMigration domains: 2 (at most 2)"):].splitlines()
    assert any(row.startswith(apart["name"]) and f" {len(nx_off):,} " in row and " none " in row for row in rows)


def test_classes_have_readable_names(nx_fleet):
    path, _ = nx_fleet
    classes = json.loads(runner.invoke(app, ["fleet", str(path), "--json"]).stdout)["classes"]
    names = [c["name"] for c in classes]
    assert len(set(names)) == len(names)
    assert not any(n.startswith("fs-") for n in names)
    assert names[0].startswith("intel-")


def test_mixed_vendors_are_reported_per_vendor():
    paths = [str(reference(*DUMPS, name)) for name in (CASCADE_LAKE, MILAN)]
    result = runner.invoke(app, ["fleet", *paths, "--json", "--domains", "3"])
    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    assert document["hosts"] == 2
    assert [v["vendor"] for v in document["vendors"]] == ["AuthenticAMD", "GenuineIntel"]
    assert document["vendors"][1]["evc_mode"] == "intel-cascadelake"
    text = runner.invoke(app, ["fleet", *paths])
    assert text.exit_code == 0 and "\n=== GenuineIntel: 1 of 2 hosts ===\n" in text.stdout
    assert text.stdout.startswith("2 hosts of 2 CPU vendors (AuthenticAMD 1, GenuineIntel 1): one report per vendor")
