"""Migration domains, readable class names, the hosts that cost the EVC mode, and mixed vendors
in ``fleet`` (cpucompat/fleet/domains.py, per_vendor.py)."""

from __future__ import annotations

import json

import numpy as np
import pytest
from typer.testing import CliRunner

from cpucompat.cli import app
from cpucompat.decode import decode
from cpucompat.fleet.bits import pack
from cpucompat.fleet.synth import synthesize
from cpucompat.fleet.tables import write_table
from cpucompat.formats.reader import read_dump

from ..conftest import reference

runner = CliRunner()
DUMPS = ("dumps", "instlatx64")
CASCADE_LAKE = "GenuineIntel0050657_CascadeLakeSP_CPUID1.txt"
MILAN = "AuthenticAMD0A00F11_K19_Milan_CPUID1.txt"
#: The acceptance fleet is 100,000 hosts (README: benchmark); the test keeps the 0.5% NX-off ratio at 4,000.
HOSTS = 4000


@pytest.fixture(scope="module")
def nx_fleet(tmp_path_factory):
    """A synthetic Cascade Lake fleet (fleet synth: 0.5% of hosts with NX off in the BIOS, and the
    other BIOS masks and losses), and the names of its NX-off hosts."""
    fleet = synthesize([decode(read_dump(reference(*DUMPS, CASCADE_LAKE)))], HOSTS, seed=3)
    path = tmp_path_factory.mktemp("fleet") / "fleet.csv"
    write_table(fleet, str(path))
    nx = pack(["nx"])
    off = ~np.any(fleet.bits & nx, axis=1)
    return path, set(fleet.hosts[off])


def test_fleet_names_the_hosts_that_cost_the_evc_mode_and_the_bios_fix(nx_fleet):
    path, nx_off = nx_fleet
    assert 0.002 * HOSTS <= len(nx_off) <= 0.01 * HOSTS
    result = runner.invoke(app, ["fleet", str(path), "--json"])
    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    assert document["evc_mode"] is None  # a handful of NX-off hosts leave the whole fleet without EVC
    (cost,) = document["evc_costs"]
    assert cost["evc_mode"] is None and cost["reachable_evc_mode"] is not None
    xd = [c for c in cost["classes"] if any("Execute Disable (XD" in r for r in c["remedies"])]
    assert sum(c["hosts"] for c in xd) == len(nx_off)
    assert all(c["missing"] == ["nx"] and c["bios"] == {"nx-disabled": ["nx"]} for c in xd)
    assert cost["classes"][:len(xd)] == xd  # the hosts that cost most come first
    assert {h for c in xd for h in c["examples"]} <= nx_off
    text = runner.invoke(app, ["fleet", str(path)])
    assert "enable Execute Disable (XD / NX) in the BIOS on these hosts: it alone removes nx" in text.stdout


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
    assert text.exit_code == 0 and "=== GenuineIntel: 1 of 2 hosts ===" in text.stdout
