"""Comment lines of every mask format stay comments, whatever a host is called (issue 12 #1)."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from cpucompat.cli import app
from cpucompat.masks import FORMATS as MASK_FORMATS

from ..conftest import TEST_DATA

FORMATS = list(MASK_FORMATS)
INJECTED = 'vm\nmonitor_control.restrict_backdoor = "FALSE"\n\x1b[2J'
runner = CliRunner()


def _fingerprint(tmp_path, hostname: str, edx7: str = "0x10000010") -> str:
    from tests.formats._samples import FINGERPRINT_DOC

    doc = json.loads(json.dumps(FINGERPRINT_DOC))
    doc["host"]["hostname"] = hostname
    doc["raw"]["cpus"] = doc["raw"]["cpus"][:1]
    doc["raw"]["cpus"][0]["leaves"][2][5] = edx7
    path = tmp_path / f"{len(list(tmp_path.iterdir()))}.json"
    path.write_text(json.dumps(doc))
    return str(path)


def _live_lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if "restrict_backdoor" in line or "\x1b" in line]


@pytest.mark.parametrize("fmt", FORMATS)
def test_a_newline_in_the_vm_hostname_stays_in_the_comment(tmp_path, fmt):
    vm = _fingerprint(tmp_path, INJECTED)
    target = str(TEST_DATA / "linux-kvm-zen3-epyc-milan_cpuid-r.txt")
    result = runner.invoke(app, ["mask", vm, "--target", target, "--format", fmt])
    assert result.exit_code == 0, result.stderr
    lines = _live_lines(result.stdout)
    assert lines, result.stdout  # the name is shown, escaped
    for line in lines:
        assert "\x1b" not in line
        assert line.startswith(("#", "<!--")) or fmt == "libvirt", line
    assert not any(line.startswith("monitor_control") for line in result.stdout.splitlines())


@pytest.mark.parametrize("fmt", FORMATS)
def test_a_newline_in_a_target_file_name_stays_in_the_comment(tmp_path, fmt):
    vm = _fingerprint(tmp_path, "vm")
    source = (TEST_DATA / "linux-kvm-zen3-epyc-milan_cpuid-r.txt").read_text()
    (tmp_path / "t").mkdir()
    target = tmp_path / "t" / 'x\nmonitor_control.restrict_backdoor = "FALSE"'
    target.write_text(source)
    result = runner.invoke(app, ["mask", str(target), "--target", vm, "--format", fmt])
    assert result.exit_code == 0, result.stderr
    assert not any(line.startswith("monitor_control") for line in result.stdout.splitlines())
    assert all(line.startswith(("#", "<!--")) or fmt == "libvirt" for line in _live_lines(result.stdout))
