"""evc list/show/check: each server's own generation, the oldest for a mix, reasons and causes."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from cpucompat.formats import fingerprint
from cpucompat.cli import app
from cpucompat.formats.reader import read_dump

from .conftest import EVC_INSTLATX64, REFERENCE, TEST_DATA
from tests.conftest import missing_reference

runner = CliRunner()
DUMPS = REFERENCE / "dumps" / "instlatx64"
#: Server dumps and the EVC mode of their own generation (none for K8 Rev C, Hygon, Zhaoxin).
GENERATIONS = {name: mode for name, mode in EVC_INSTLATX64.items()
               if "AlderLake" not in name and "CometLake" not in name}


def _check(*names: str) -> dict:
    if not DUMPS.exists():
        missing_reference()
    result = runner.invoke(app, ["evc", "check", "--json", *(str(DUMPS / n) for n in names)])
    assert result.exit_code == 0, result.stderr
    return json.loads(result.stdout)


@pytest.mark.parametrize("name, mode", GENERATIONS.items())
def test_each_server_gets_its_own_generation(name, mode):
    host, = _check(name)["hosts"]
    assert host["max_evc_mode"] == mode


def test_every_server_dump_is_listed():
    if not DUMPS.exists():
        missing_reference()
    clients = {"GenuineIntel0090672_AlderLake_01_LC_BC_CPUID.txt", "GenuineIntel00A0654_CometLake_CPUID.txt"}
    assert {p.name for p in DUMPS.glob("*.txt")} == set(GENERATIONS) | clients


@pytest.mark.parametrize("names, oldest", [
    (["GenuineIntel0050657_CascadeLakeSP_CPUID1.txt", "GenuineIntel00306F2_HaswellEP_00_CPUID.txt",
      "GenuineIntel00806F8_SapphireRapids_05_CPUID.txt"], "intel-haswell"),
    (["AuthenticAMD0A10F11_K19_Genoa_02_CPUID.txt", "AuthenticAMD0800F12_K17_Zen_CPUID.txt",
      "AuthenticAMD0A00F11_K19_Milan_CPUID1.txt"], "amd-zen"),
])
def test_mixed_generations_get_the_oldest_mode(names, oldest):
    assert _check(*names)["cluster"]["max_evc_mode"] == oldest


@pytest.mark.parametrize("name, mode, next_mode, lacking", [
    # hybrid client: E-cores have no AVX-512, so Skylake (server) EVC is out of reach
    ("GenuineIntel0090672_AlderLake_01_LC_BC_CPUID.txt", "intel-broadwell", "intel-skylake", {"avx512f"}),
    # Hyper-V guest of a Comet Lake Xeon W: Hyper-V hides MONITOR/MWAIT, which vCenter's
    # intel-merom featureMask exposes, so no EVC mode at all
    ("GenuineIntel00A0654_CometLake_CPUID.txt", None, "intel-merom", {"monitor"}),
    # a dump older than the 2018 microcode: no IBRS/IBPB, STIBP, SSBD, L1D flush (Westmere capture)
    ("GenuineIntel0050654_SkylakeXeon_CPUID9.txt", "intel-nehalem", "intel-westmere",
     {"spec_ctrl", "intel_stibp", "spec_ctrl_ssbd", "flush_l1d"}),
])
def test_client_and_guest_get_the_mode_their_features_allow(name, mode, next_mode, lacking):
    host, = _check(name)["hosts"]
    assert host["max_evc_mode"] == mode
    assert host["next_mode"] == next_mode
    assert lacking <= set(host["next_mode_missing"])


def test_bios_finding_is_named_as_likely_cause(tmp_path):
    dump = read_dump(TEST_DATA / "linux-kvm-zen3-epyc-milan_cpuid-r.txt")
    for cpu in dump.cpus:  # BIOS "AES-NI: disabled" clears CPUID.1:ECX[25]
        eax, ebx, ecx, edx = cpu.get(1)
        cpu.leaves[(1, 0)] = (eax, ebx, ecx & ~(1 << 25), edx)
    document = fingerprint.from_dump(dump)
    document["findings"] = [{"id": "aes-disabled", "status": "found", "evidence": "test",
                             "explanation": "AES-NI hidden", "cpus": [0, 1]}]
    path = tmp_path / "no-aes.json"
    path.write_text(fingerprint.dumps(document))
    result = runner.invoke(app, ["evc", "check", "--json", str(path)])
    host, = json.loads(result.stdout)["hosts"]
    assert "aes" in host["next_mode_missing"]
    assert host["likely_causes"] == {"aes-disabled": ["aes"]}
    text = runner.invoke(app, ["evc", "check", str(path)]).stdout
    assert "likely cause: BIOS finding aes-disabled hides aes" in text


def test_list_and_show():
    listed = json.loads(runner.invoke(app, ["evc", "list", "--json"]).stdout)
    keys = [m["key"] for m in listed]
    assert keys[0] == "intel-merom" and "amd-zen4" in keys and "intel-sapphirerapids" in keys
    shown = json.loads(runner.invoke(app, ["evc", "show", "intel-penryn", "--json"]).stdout)
    assert shown["adds"] == ["sse4_1"] and shown["parent"] == "intel-merom"
    assert runner.invoke(app, ["evc", "show", "intel-pentium4"]).exit_code == 2
