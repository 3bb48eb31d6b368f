"""Inputs that cost too much or have the wrong shape: linear parsing, a CPU cap, fingerprint
host names and findings checked (issue 12 #3, #6, #7)."""

from __future__ import annotations

import json
import time

import pytest
from typer.testing import CliRunner

from cpucompat.cli import app
from cpucompat.errors import InputError
from cpucompat.formats.reader import parse_text
from cpucompat.formats._common import MAX_CPUS

from . import _samples

runner = CliRunner()
AIDA_HEAD = ("CPUID 00000000: 0000000D-756E6547-6C65746E-49656E69\n"
             "CPUID 00000001: 000206A7-00100800-1FBAE3FF-BFEBFBFF\n")


def test_untagged_xsave_lines_parse_in_linear_time():
    text = AIDA_HEAD + "CPUID 0000000D: 00000100-00000240-00000000-00000000\n" * 20_000
    start = time.perf_counter()
    dump = parse_text(text, "many-0xd.txt")
    assert time.perf_counter() - start < 3  # was 11.5 s: max(seen) on every line
    assert len(dump.cpus[0].leaves) == 20_002


@pytest.mark.parametrize("block", [
    "CPU {i}:\n   0x00000000 0x00: eax=0x0000000d ebx=0x756e6547 ecx=0x6c65746e edx=0x49656e69\n",
    "CPUID Registers (CPU #{i}):\nCPUID 00000000  \t00000010-68747541-444D4163-69746E65\n",
    "_________________ Logical CPU #{i} _________________\nbasic_cpuid[0]=00000004 756e6547 6c65746e 49656e69\n",
    "processor\t: {i}\nvendor_id\t: AuthenticAMD\n",
])
def test_more_cpus_than_any_host_are_refused_early(block):
    text = ("version=0.7.0\n" if "basic_cpuid" in block else "") + "".join(
        block.format(i=i) for i in range(MAX_CPUS + 1))
    start = time.perf_counter()
    with pytest.raises(InputError, match=f"more than {MAX_CPUS} CPUs"):
        parse_text(text, "many.txt")
    assert time.perf_counter() - start < 5


FINDING = {"id": "nx", "status": "found", "evidence": "", "explanation": ""}


def _fingerprint(tmp_path, **changes) -> str:
    doc = json.loads(_samples.FINGERPRINT)
    for key, value in changes.items():
        if key == "hostname":
            doc["host"]["hostname"] = value
        else:
            doc[key] = value
    path = tmp_path / "fp.json"
    path.write_text(json.dumps(doc))
    return str(path)


@pytest.mark.parametrize("changes, message", [
    ({"hostname": ["a"]}, "host.hostname: expected a string, got an array"),
    ({"hostname": {"a": 1}}, "host.hostname: expected a string, got an object"),
    ({"hostname": 7}, "host.hostname: expected a string, got 7"),
    ({"findings": [1]}, "findings[0]: expected an object, got 1"),
    ({"findings": [{"status": "found"}]}, "findings[0]: missing id, evidence, explanation"),
    ({"findings": [{**FINDING, "id": ["x"]}]}, "findings[0].id: expected a string, got an array"),
    ({"findings": [{**FINDING, "cpus": "0"}]}, "findings[0].cpus: expected an array, got '0'"),
    ({"findings": [{**FINDING, "status": "maybe"}]}, "findings[0].status: must be one of ['found', 'not-found', 'unknown']"),
    ({"findings": {"id": "nx"}}, "findings: expected an array, got an object"),
])
def test_malformed_host_names_and_findings_are_one_error(tmp_path, changes, message):
    path = _fingerprint(tmp_path, **changes)
    for command in (["decode", path], ["evc", "check", path], ["baseline", path]):
        result = runner.invoke(app, command)
        assert result.exit_code == 2, (command, result.stderr)
        assert result.stderr.splitlines()[-1] == f"error: {path}: {message}", command


def test_a_lone_surrogate_in_the_hostname_is_shown_escaped(tmp_path):
    path = tmp_path / "fp.json"
    path.write_text(_samples.FINGERPRINT.replace('"node-a"', '"node-\\ud800"'))
    for command in (["decode", str(path)], ["baseline", str(path)], ["evc", "check", str(path)],
                    ["mask", str(path), "--evc", "amd-zen", "-f", "vmx"], ["baseline", str(path), "--json"]):
        result = runner.invoke(app, command)
        assert result.exit_code in (0, 1), (command, result.stderr, result.exception)
    assert "node-\\ud800" in runner.invoke(app, ["baseline", str(path)]).stdout
