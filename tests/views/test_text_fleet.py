"""``cpucompat fleet`` text, pinned: real server dumps of one vendor, a mixed-vendor folder, and a
small fixed-seed synthetic fleet with every section (next step, EVC costs, domains, what-ifs)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from ..conftest import reference
from .snapshots import assert_snapshot, cli_text

DUMPS = ("dumps", "instlatx64")
INTEL_SERVERS = ("GenuineIntel00306F2_HaswellEP_00_CPUID.txt", "GenuineIntel0050657_CascadeLakeSP_CPUID1.txt",
                 "GenuineIntel00606A6_ICX_CPUID3.txt", "GenuineIntel00806F8_SapphireRapids_05_CPUID.txt",
                 "GenuineIntel00C06F2_EmeraldRapids_03_CPUID.txt")
MIXED = ("GenuineIntel0050657_CascadeLakeSP_CPUID1.txt", "AuthenticAMD0A00F11_K19_Milan_CPUID1.txt",
         "AuthenticAMD0A10F11_K19_Genoa_02_CPUID.txt", "GenuineIntel00606A6_ICX_CPUID3.txt")


@pytest.fixture(autouse=True)
def no_qemu(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """No QEMU on PATH: the newest shipped QEMU table names the models, whatever QEMU is installed."""
    monkeypatch.setenv("PATH", str(tmp_path / "no-qemu"))


def _fleet(*args: str, cwd: Path, expect: int = 0) -> str:
    """Run in ``cwd`` with inputs named relative to it: the commands the next steps print are the
    same wherever the reference data or the temporary folder lie."""
    return cli_text("fleet", *args, expect=expect, cwd=cwd)


def _joined(text: str) -> str:
    """Text with the shell commands' backslash continuations joined back into one line each."""
    return re.sub(r" \\\n\s+", " ", text)


def test_intel_servers():
    text = _fleet(*INTEL_SERVERS, cwd=reference(*DUMPS))
    assert_snapshot("fleet-intel-servers", text)
    assert text.startswith("5 hosts, GenuineIntel, 5 classes: EVC mode intel-haswell, QEMU model Haswell-v4")
    assert "    - vSphere: set the cluster's EVC mode to intel-haswell (or per VM, with this mask)\n" in text
    assert "      cpucompat mask VM.json --evc intel-haswell --format vmx-evc\n" in text
    assert f"cpucompat fleet {' '.join(INTEL_SERVERS)} --domains 2\n" in _joined(text)


def test_mixed_vendors_with_domains():
    text = _fleet(*MIXED, "--domains", "3", cwd=reference(*DUMPS))
    assert_snapshot("fleet-mixed-vendors", text)
    assert text.startswith("4 hosts of 2 CPU vendors (AuthenticAMD 2, GenuineIntel 2): one report per vendor\n")
    assert "\n=== AuthenticAMD: 2 of 4 hosts ===\n2 hosts, AuthenticAMD, 2 classes: EVC mode amd-zen3" in text


def test_small_synthetic_fleet(tmp_path: Path):
    cli_text("fleet", "synth", "--from", str(reference(*DUMPS, MIXED[0])), "--hosts", "300", "--seed", "1",
             "-o", "my fleet.parquet", expect=0, cwd=tmp_path)
    text = _fleet("my fleet.parquet", "--domains", "2", "--min-hosts", "95%", "--without", "synth-023,synth-158",
                  cwd=tmp_path)
    assert_snapshot("fleet-synth-300", text)
    lines = text.splitlines()
    assert lines[0].startswith("300 hosts, GenuineIntel, 12 classes: EVC mode none")
    assert "    - enable Execute Disable (XD / NX) in the BIOS on 2 hosts: it gives back nx" in lines
    assert "      cpucompat mask VM.json --evc intel-broadwell --format vmx-evc" in lines
    plain = _joined(_fleet("my fleet.parquet", cwd=tmp_path))
    assert "      cpucompat fleet 'my fleet.parquet' --domains 2\n" in plain  # the input, shell-quoted
    for section in ("  next steps:", "Baseline: ", "Classes: ", "Hosts that cost the EVC mode", "Migration domains: ",
                    "Coverage: ", "Keeping at least 95.0%", "Without 2 hosts"):
        assert any(line.startswith(section) for line in lines), section
    assert not re.search(r"[{}[\]]|\bNone\b|\bTrue\b|\bFalse\b|'\w+', '", text)  # no Python reprs


@pytest.mark.parametrize("command", [("fleet", "analyse"), ("fleet", "synth")])
def test_help_has_an_example(command):
    assert "Example: cpucompat fleet" in cli_text(*command, "--help", expect=0)


def test_without_every_host_of_one_vendor_is_no_error():
    """Mixed vendors are never an error: --without naming every host of one vendor leaves that
    vendor's report without a what-if (a note says so), the other vendor's has its own."""
    amd = ",".join(name for name in MIXED if name.startswith("AuthenticAMD"))
    text = _fleet(*MIXED, "--without", f"{amd},{INTEL_SERVERS[2]}", cwd=reference(*DUMPS))
    assert "note: --without names every AuthenticAMD host: no what-if for AuthenticAMD\n" in text
    assert f"Without 1 host the baseline gains 1 feature:\n  mpx\n  hosts left out:\n    {INTEL_SERVERS[2]}\n" in text
