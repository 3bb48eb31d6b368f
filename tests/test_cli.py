"""The command line: output streams, JSON shape, exit codes, one-line errors."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import venv

import pytest
from typer.testing import CliRunner

from cpucompat.cli import app

from .conftest import REPO, TEST_DATA

FIXTURE = str(TEST_DATA / "linux-kvm-zen3-epyc-milan_cpuid-r.txt")
runner = CliRunner()


def test_decode_json_goes_to_stdout_alone():
    result = runner.invoke(app, ["decode", FIXTURE, "--json", "--names", "libvirt"])
    assert result.exit_code == 0, result.stderr
    document = json.loads(result.stdout)
    assert {"vendor", "family", "model", "stepping", "brand", "cpus", "features", "fields", "warnings"} <= set(document)
    assert (document["vendor"], document["family"], document["model"], document["stepping"]) == ("AuthenticAMD", 25, 1, 1)
    assert document["cpus"] == 2
    assert document["features"] == sorted(document["features"])
    assert "pclmuldq" in document["features"] and "sse4.2" in document["features"]  # libvirt spellings
    assert document["fields"]["hypervisor"] == "KVM"
    assert document["fields"]["max_basic_leaf"] == 0x10


@pytest.mark.parametrize("names, present, absent", [
    ("linux", ["sse4_1", "pni", "pclmulqdq"], ["sse4.1"]),
    ("qemu", ["sse4.1", "pni", "pclmulqdq"], ["sse4_1"]),
    ("libvirt", ["sse4.1", "pclmuldq"], ["pclmulqdq"]),
])
def test_decode_vocabularies(names, present, absent):
    features = json.loads(runner.invoke(app, ["decode", FIXTURE, "--json", "--names", names]).stdout)["features"]
    assert set(present) <= set(features)
    assert not set(absent) & set(features)


def test_decode_per_cpu():
    document = json.loads(runner.invoke(app, ["decode", FIXTURE, "--json", "--per-cpu"]).stdout)
    assert [c["cpu"] for c in document["per_cpu"]] == [0, 1]


def test_decode_text_output():
    result = runner.invoke(app, ["decode", FIXTURE])
    assert result.exit_code == 0
    assert "AuthenticAMD" in result.stdout and "sse4_2" in result.stdout


@pytest.mark.parametrize("content, expected", [
    (b"", "empty"),
    (b"\x00\x01\x02binary\xff\xfe", "binary"),
    (b"hello world\n", "unknown format"),
    (b'{"a": 1}\n', "fingerprint"),
    (b"CPU 0:\n   0x00000000 0x00: eax=0x0000000d ebx=0x68747541\n", ":2"),
])
def test_bad_input_is_one_line_exit_2(tmp_path, content, expected):
    bad = tmp_path / "bad.txt"
    bad.write_bytes(content)
    result = runner.invoke(app, ["decode", str(bad)])
    assert result.exit_code == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and str(bad) in lines[0]
    assert expected in lines[0]
    assert result.stdout == ""


def test_missing_file_and_bad_option():
    result = runner.invoke(app, ["decode", "/nonexistent/x.txt"])
    assert result.exit_code == 2 and "Traceback" not in result.stderr
    assert runner.invoke(app, ["decode", FIXTURE, "--names", "klingon"]).exit_code == 2


def test_console_script_runs_without_traceback(tmp_path):
    bad = tmp_path / "bad.xml"
    bad.write_text("<cpudata arch='x86'><cpuid eax_in='0x0'")
    result = subprocess.run([sys.executable, "-m", "cpucompat", "decode", str(bad)], capture_output=True, text=True)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr and result.stderr.startswith("error: ")


@pytest.mark.skipif(os.environ.get("CPUCOMPAT_SKIP_WHEEL") == "1", reason="wheel test disabled")
def test_wheel_install_finds_its_data_from_another_folder(tmp_path):
    """pip install . into a fresh venv, run from elsewhere: data/ ships inside the package."""
    env_dir = tmp_path / "venv"
    venv.EnvBuilder(with_pip=True, system_site_packages=False).create(env_dir)
    pip = [str(env_dir / "bin" / "python"), "-m", "pip", "install", "-q", "--disable-pip-version-check"]
    installed = subprocess.run([*pip, str(REPO)], capture_output=True, text=True)
    if installed.returncode != 0 and "Could not find a version" in installed.stderr:
        pytest.skip("no package index reachable for the build backend")
    assert installed.returncode == 0, installed.stderr
    result = subprocess.run([str(env_dir / "bin" / "cpucompat"), "decode", FIXTURE, "--json"],
                            capture_output=True, text=True, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "sse4_2" in json.loads(result.stdout)["features"]


@pytest.mark.parametrize("args, expected", [
    (["decode", "x.txt", "--names", "klingon"], "Invalid value for '--names': 'klingon' is not one of"),
    (["fleet", "x", "--domains", "0"], "'--domains'"),
    (["compare", "--bogus"], "No such option: --bogus (see 'cpucompat compare --help')"),
    (["nosuch"], "No such command 'nosuch'."),
    (["evc", "show"], "Missing argument 'MODE'. (see 'cpucompat evc show --help')"),
])
def test_usage_errors_are_one_line_exit_2(args, expected):
    """typer/click's own usage errors read like every other bad input: one error line, exit 2."""
    done = subprocess.run([sys.executable, "-m", "cpucompat", *args], capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    assert done.stdout == ""
    lines = done.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and expected in lines[0], done.stderr


def test_no_arguments_show_the_help():
    done = subprocess.run([sys.executable, "-m", "cpucompat"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 2 and "Usage: cpucompat" in done.stdout + done.stderr and "Traceback" not in done.stderr


@pytest.mark.parametrize("args", [
    ["compare", "--qemu-model", "Haswell-v4", "/nonexistent/x.txt"],
    ["mask", "/nonexistent/x.txt", "--qemu-model", "Haswell-v4"],
    ["mask", FIXTURE, "--qemu-model", "Haswell-v1", "--format", "libvirt", "--libvirt-mode", "bogus"],
])
def test_bad_input_gives_no_note_before_its_error(args):
    result = runner.invoke(app, args)
    assert result.exit_code == 2
    assert [line.split(":")[0] for line in result.stderr.splitlines()] == ["error"], result.stderr
