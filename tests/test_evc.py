"""evc list/show/check: each server's own generation, the oldest for a mix, reasons and causes."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from cpucompat import fingerprint
from cpucompat.cli import app
from cpucompat.parsers import read_dump

from .conftest import REFERENCE, TEST_DATA

runner = CliRunner()
DUMPS = REFERENCE / "dumps" / "instlatx64"
#: Server dumps and the EVC mode of their own generation (VMware has none for K8 Rev C,
#: Hygon and Zhaoxin).
GENERATIONS = {
    "GenuineIntel00006F6_Merom_CPUID.txt": "intel-merom",
    "GenuineIntel00106E5_Lynnfield_CPUID.txt": "intel-nehalem",
    "GenuineIntel00206A7_SandyBridge_CPUID.txt": "intel-sandybridge",
    "GenuineIntel00306F2_HaswellEP_00_CPUID.txt": "intel-haswell",
    "GenuineIntel0050654_SkylakeXeon_CPUID9.txt": "intel-skylake",
    "GenuineIntel0050657_CascadeLakeSP_CPUID1.txt": "intel-cascadelake",
    "GenuineIntel00606A6_ICX_CPUID3.txt": "intel-icelake",
    "GenuineIntel00806F8_SapphireRapids_05_CPUID.txt": "intel-sapphirerapids",
    "GenuineIntel00C06F2_EmeraldRapids_03_CPUID.txt": "intel-sapphirerapids",
    "AuthenticAMD0000F5A_K8_Sledgehammer_CPUID.txt": None,
    "AuthenticAMD0100F42_K10_Shanghai_CPUID.txt": "amd-greyhound",
    "AuthenticAMD0600F12_K15_Interlagos_CPUID3.txt": "amd-bulldozer",
    "AuthenticAMD0600F20_K15_AbuDhabi_CPUID2.txt": "amd-piledriver",
    "AuthenticAMD0800F12_K17_Zen_CPUID.txt": "amd-zen",
    "AuthenticAMD0830F10_K17_Rome_CPUID2.txt": "amd-zen2",
    "AuthenticAMD0A00F11_K19_Milan_CPUID1.txt": "amd-zen3",
    "AuthenticAMD0A10F11_K19_Genoa_02_CPUID.txt": "amd-zen4",
    "AuthenticAMD0B00F21_K20_Turin_01_CPUID.txt": "amd-zen4",
    "HygonGenuine0900F02_Hygon_CPUID.txt": None,
    "CentaurHauls00507B3_KX40000_01_CPUID.txt": None,
}


def _check(*names: str) -> dict:
    if not DUMPS.exists():
        pytest.skip("../shared/reference not available")
    result = runner.invoke(app, ["evc", "check", "--json", *(str(DUMPS / n) for n in names)])
    assert result.exit_code == 0, result.stderr
    return json.loads(result.stdout)


@pytest.mark.parametrize("name, mode", GENERATIONS.items())
def test_each_server_gets_its_own_generation(name, mode):
    host, = _check(name)["hosts"]
    assert host["max_evc_mode"] == mode


def test_every_server_dump_is_listed():
    if not DUMPS.exists():
        pytest.skip("../shared/reference not available")
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


@pytest.mark.parametrize("name, mode, lacking", [
    # hybrid client: E-cores have no AVX-512, so Skylake (server) EVC is out of reach
    ("GenuineIntel0090672_AlderLake_01_LC_BC_CPUID.txt", "intel-broadwell", {"avx512f"}),
    # Hyper-V guest of a Comet Lake Xeon W: no AVX-512 on this client-class core either
    ("GenuineIntel00A0654_CometLake_CPUID.txt", "intel-broadwell", {"avx512f"}),
])
def test_client_and_guest_get_the_mode_their_features_allow(name, mode, lacking):
    host, = _check(name)["hosts"]
    assert host["max_evc_mode"] == mode
    assert host["next_mode"] == "intel-skylake"
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
