"""Guest-OS floors (data/guest-os-floors.csv): the data, and the warnings of baseline, fleet, evc and mask."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from cpucompat import guests
from cpucompat.cli import app
from cpucompat.knowledge import baselines
from cpucompat.knowledge.features import feature_table

from .conftest import reference

runner = CliRunner()
MEROM = ("dumps", "instlatx64", "GenuineIntel00006F6_Merom_CPUID.txt")
CASCADE_LAKE = ("dumps", "instlatx64", "GenuineIntel0050657_CascadeLakeSP_CPUID1.txt")
HASWELL = ("dumps", "instlatx64", "GenuineIntel00306F2_HaswellEP_00_CPUID.txt")


def test_every_floor_has_a_source_and_known_names():
    floors = guests.floors()
    assert {"rhel-9", "rhel-10", "windows-11-24h2", "windows-server-2025", "sles-16"} <= {f.key for f in floors}
    for floor in floors:
        assert floor.source.startswith("https://"), floor.key
        assert floor.needs, floor.key
        for name in floor.needs:
            assert name in feature_table().by_name, (floor.key, name)
    assert guests.get("rhel-9").psabi == "x86-64-v2" and guests.get("RHEL-10").psabi == "x86-64-v3"
    assert {"popcnt", "sse4_2"} <= guests.get("Windows Server 2025").own


def test_the_floors_against_the_named_baselines():
    assert guests.check(baselines.get("x86-64-v2").required, ["rhel-9"])[0].boots
    assert not guests.check(baselines.get("x86-64-v2").required, ["rhel-10"])[0].boots
    merom = guests.check(baselines.get("intel-merom").features, ["windows-server-2025"])[0]
    assert guests.message(merom, "intel-merom") == ("a Windows Server 2025 guest will not boot under "
                                                   "intel-merom: it needs popcnt, sse4_2")
    assert guests.check(baselines.get("intel-nehalem").features, ["windows-server-2025", "windows-11-24h2"])[0].boots


def test_evc_check_warns_for_a_merom(tmp_path):
    result = runner.invoke(app, ["evc", "check", str(reference(*MEROM)), "--json"])
    assert result.exit_code == 0, result.output
    floors = {f["guest"]: f for f in json.loads(result.stdout)["guest_floors"]}
    assert floors["windows-server-2025"]["missing"] == ["popcnt", "sse4_2"]
    assert "rhel-9" in floors and "windows-10" not in floors
    assert ("warning: a Windows Server 2025 guest will not boot under intel-merom: it needs popcnt, sse4_2"
            in result.stderr)


def test_baseline_and_fleet_warn_and_guest_checks_one():
    merom, cascade = str(reference(*MEROM)), str(reference(*CASCADE_LAKE))
    modern = runner.invoke(app, ["baseline", cascade, "--json"])
    assert json.loads(modern.stdout)["guest_floors"] == [] and "will not boot" not in modern.stderr
    mixed = runner.invoke(app, ["baseline", merom, cascade, "--json"])
    assert {"rhel-9", "windows-11-24h2"} <= {f["guest"] for f in json.loads(mixed.stdout)["guest_floors"]}
    one = runner.invoke(app, ["fleet", merom, cascade, "--json", "--guest", "rhel-9"])
    assert one.exit_code == 0, one.output
    (floor,) = json.loads(one.stdout)["guest_floors"]
    assert floor["guest"] == "rhel-9" and not floor["boots"] and floor["missing"] == ["popcnt", "sse4_1", "sse4_2"]
    assert "Red Hat Enterprise Linux 9 guest will not boot under the GenuineIntel fleet baseline" in one.stderr
    assert "Windows" not in one.stderr  # --guest checks only the one asked for
    fine = runner.invoke(app, ["baseline", cascade, "--json", "--guest", "rhel-10"])
    assert json.loads(fine.stdout)["guest_floors"][0]["boots"] and "note: a Red Hat Enterprise Linux 10 guest boots" in fine.stderr


def test_mask_warns_when_the_masked_cpu_is_below_a_floor():
    result = runner.invoke(app, ["mask", str(reference(*HASWELL)), "--evc", "intel-merom", "--guest", "windows-11-24h2"])
    assert result.exit_code == 0, result.output
    assert "a Windows 11 24H2 guest will not boot under this mask" in result.stderr
    assert "popcnt, sse4_2" in result.stderr
    # by default a mask warns only about the floors it takes away: Haswell masked to Nehalem loses x86-64-v3
    nehalem = runner.invoke(app, ["mask", str(reference(*HASWELL)), "--evc", "intel-nehalem"])
    assert nehalem.exit_code == 0 and "Red Hat Enterprise Linux 10 guest will not boot" in nehalem.stderr
    assert "Windows" not in nehalem.stderr and "Linux 9 " not in nehalem.stderr
    lost = runner.invoke(app, ["mask", str(reference(*HASWELL)), "--evc", "intel-merom"])
    assert "a Windows Server 2025 guest will not boot under this mask" in lost.stderr
    assert "Windows 10" not in lost.stderr


def test_a_per_vm_evc_mask_warns_too():
    result = runner.invoke(app, ["mask", str(reference(*HASWELL)), "--evc", "intel-merom", "--format", "vmx-evc",
                                 "--guest", "windows-11-24h2"])
    assert result.exit_code == 0, result.output
    assert ("warning: a Windows 11 24H2 guest will not boot under this mask (EVC mode intel-merom): it needs "
            "popcnt, sse4_2") in result.stderr


SLEDGEHAMMER = ("dumps", "instlatx64", "AuthenticAMD0000F5A_K8_Sledgehammer_CPUID.txt")  # no EVC mode at all


@pytest.mark.parametrize("command", [["baseline", CASCADE_LAKE], ["evc", "check", CASCADE_LAKE],
                                     ["evc", "check", SLEDGEHAMMER], ["fleet", CASCADE_LAKE],
                                     ["mask", CASCADE_LAKE, "--evc", "intel-merom"],
                                     ["mask", CASCADE_LAKE, "--evc", "intel-merom", "--format", "vmx-evc"]])
def test_unknown_guest_is_a_usage_error(command):
    """One error line, before any note (the QEMU table, what a mask hides) and any output."""
    argv = [str(reference(*a)) if isinstance(a, tuple) else a for a in command]
    result = runner.invoke(app, [*argv, "--guest", "beos-5"])
    assert result.exit_code == 2 and result.stdout == ""
    assert result.stderr.startswith("error: --guest 'beos-5': no such guest OS") and result.stderr.count("\n") == 1
