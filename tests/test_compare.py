"""compare: a newer host to an older one lists exactly what the older lacks; exit codes."""

from __future__ import annotations

import json
import re

import pytest
from typer.testing import CliRunner

from cpucompat.cli import app
from cpucompat.cluster import usable_features
from cpucompat.decode import decode
from cpucompat.knowledge.features import feature_table
from cpucompat.formats.reader import read_dump

from .conftest import REFERENCE, TEST_DATA
from tests.conftest import missing_reference

runner = CliRunner()
DUMPS = REFERENCE / "dumps" / "instlatx64"
NEWER_OLDER = [
    ("GenuineIntel0050654_SkylakeXeon_CPUID9.txt", "GenuineIntel00206A7_SandyBridge_CPUID.txt"),
    ("GenuineIntel00806F8_SapphireRapids_05_CPUID.txt", "GenuineIntel00606A6_ICX_CPUID3.txt"),
    ("AuthenticAMD0A10F11_K19_Genoa_02_CPUID.txt", "AuthenticAMD0830F10_K17_Rome_CPUID2.txt"),
]


@pytest.mark.parametrize("newer, older", NEWER_OLDER)
def test_newer_to_older_lists_exactly_what_older_lacks(newer, older):
    if not DUMPS.exists():
        missing_reference()
    result = runner.invoke(app, ["compare", str(DUMPS / newer), str(DUMPS / older), "--json"])
    assert result.exit_code == 1
    target, = json.loads(result.stdout)["targets"]
    source, dest = decode(read_dump(DUMPS / newer)), decode(read_dump(DUMPS / older))
    table = feature_table()
    lacking = usable_features(source.features) - dest.features
    assert [m["name"] for m in target["missing"]] == sorted(lacking - table.emulated())
    assert target["emulated"] == sorted(lacking & table.emulated())  # tsc_adjust, no_smm_ctl_msr: information
    assert not set(target["host_only"]) & lacking and set(target["host_only"]) <= table.host_only()
    assert target["verdict"] == "incompatible"
    for missing in target["missing"]:  # vendor-facing names ride along where a system has one
        feature = table.by_name[missing["name"]]
        assert missing.get("libvirt", "") == feature.libvirt and missing.get("qemu", "") == feature.qemu


def test_same_host_is_compatible_exit_0():
    fixture = str(TEST_DATA / "linux-kvm-zen3-epyc-milan_cpuid-r.txt")
    result = runner.invoke(app, ["compare", fixture, fixture, "--json"])
    assert result.exit_code == 0
    assert json.loads(result.stdout)["targets"][0]["verdict"] == "compatible"


def test_named_source_and_lower_scalars(tmp_path):
    fixture = TEST_DATA / "linux-kvm-zen3-epyc-milan_cpuid-r.txt"
    result = runner.invoke(app, ["compare", "--evc", "amd-zen3", str(fixture), "--json"])
    assert result.exit_code == 0, result.stdout
    assert runner.invoke(app, ["compare", "--evc", "amd-zen4", str(fixture)]).exit_code == 1
    assert runner.invoke(app, ["compare", "--evc", "intel-haswell", str(fixture)]).exit_code == 1
    # the same CPU with 40 physical address bits instead of 48
    text = fixture.read_text().replace("0x80000008 0x00: eax=0x00303030", "0x80000008 0x00: eax=0x00303028")
    assert text != fixture.read_text()
    small = tmp_path / "small.txt"
    small.write_text(text)
    lowered = json.loads(runner.invoke(app, ["compare", str(fixture), str(small), "--json"]).stdout)
    assert lowered["targets"][0]["lower"] == {"phys_addr_bits": {"source": 48, "target": 40}}
    assert lowered["targets"][0]["missing"] == []


def test_usage_errors_exit_2():
    fixture = str(TEST_DATA / "linux-kvm-zen3-epyc-milan_cpuid-r.txt")
    assert runner.invoke(app, ["compare", fixture]).exit_code == 2
    bad = runner.invoke(app, ["compare", "--evc", "intel-skylak", fixture])
    assert bad.exit_code == 2 and "intel-skylake" in bad.stderr


def _variant(tmp_path, name, old, new):
    fixture = TEST_DATA / "linux-kvm-zen3-epyc-milan_cpuid-r.txt"
    text = fixture.read_text()
    assert text.count(old) == 2, "both CPUs of the fixture carry the line"
    path = tmp_path / name
    path.write_text(text.replace(old, new))
    return path


def test_xsave_components_compare_as_sets_by_name(tmp_path):
    """0x207 (x87 sse avx pkru) against 0xe7 (x87 sse avx + AVX-512 state): the second is the
    larger number and still lacks pkru, which this VM may use (it has pku)."""
    source = TEST_DATA / "linux-kvm-zen3-epyc-milan_cpuid-r.txt"
    target = _variant(tmp_path, "no-pkru.txt", "0x0000000d 0x00: eax=0x00000207", "0x0000000d 0x00: eax=0x000000e7")
    result = runner.invoke(app, ["compare", str(source), str(target), "--json"])
    verdict = json.loads(result.stdout)["targets"][0]
    assert result.exit_code == 1
    assert verdict["missing_xsave_components"] == ["pkru(9)"]
    assert "xcr0_supported" not in verdict["lower"]
    text = runner.invoke(app, ["compare", str(source), str(target)]).stdout
    assert "missing XSAVE components:\n    pkru(9)\n" in text
    # the other way round: the AVX-512 components belong to features this VM never had
    back = json.loads(runner.invoke(app, ["compare", str(target), str(source), "--json"]).stdout)
    assert back["targets"][0]["missing_xsave_components"] == []


def test_leaves_print_in_hex(tmp_path):
    source = TEST_DATA / "linux-kvm-zen3-epyc-milan_cpuid-r.txt"
    target = _variant(tmp_path, "low-xlevel.txt", "0x80000000 0x00: eax=0x80000022", "0x80000000 0x00: eax=0x80000008")
    text = runner.invoke(app, ["compare", str(source), str(target)]).stdout
    assert re.search(r"lower limits \(source -> target\):\n +max_extended_leaf +0x80000022 -> 0x80000008\n", text)
    assert "2147483" not in text
    decoded = runner.invoke(app, ["decode", str(source)]).stdout
    assert re.search(r"\n +max_extended_leaf +0x80000022\n", decoded) and "2147483" not in decoded
    mask = runner.invoke(app, ["mask", str(source), "--target", str(target), "--format", "qemu"]).stdout
    assert "lower max_extended_leaf to 0x80000008" in mask and "2147483" not in mask
