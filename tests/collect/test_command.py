"""``cpucompat collect`` as a command: both entry paths, output files, errors, a non-root run."""

from __future__ import annotations

import errno
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cpucompat import output
from cpucompat.cli import app
from cpucompat.collect.command import parse_args

from ..conftest import REPO

x86_only = pytest.mark.skipif(platform.machine() not in ("x86_64", "AMD64", "i686"),
                              reason=f"collect reads x86 CPUID; this machine is {platform.machine()}")
runner = CliRunner()


def cli(*args: str, user: list[str] | None = None) -> subprocess.CompletedProcess:
    """The real process: ``python -m cpucompat collect ...`` (the fast path in cli.main)."""
    return subprocess.run([*(user or []), sys.executable, "-m", "cpucompat", "collect", *args],
                          cwd=REPO, capture_output=True, text=True, timeout=60)


@pytest.mark.parametrize("args, expected", [
    ([], {}),
    (["-o", "f.json", "--cpus", "0,2-3"], {"output": "f.json", "cpus": "0,2-3"}),
    (["-of.json", "--cpus=1", "--force", "--check", "--load-msr"],
     {"output": "f.json", "cpus": "1", "force": True, "check": True, "load_msr": True}),
    (["--output=x"], {"output": "x"}),
    (["--help"], None), (["-o"], None), (["--cpus"], None), (["--bogus"], None), (["extra"], None),
    (["--force=yes"], None),
])
def test_fast_path_parses_what_it_knows_and_leaves_the_rest_to_typer(args, expected):
    assert parse_args(args) == expected


@x86_only
def test_writes_the_fingerprint_atomically(tmp_path):
    target = tmp_path / "fp.json"
    done = cli("-o", str(target))
    assert done.returncode == 0, done.stderr
    assert (done.stdout, done.stderr) == ("", "")
    assert json.loads(target.read_text())["format"] == "cpucompat-fingerprint"
    assert os.listdir(tmp_path) == ["fp.json"]


@x86_only
def test_stdout_is_pure_json_without_o():
    done = cli("--cpus", "0")
    assert done.returncode == 0, done.stderr
    document = json.loads(done.stdout)
    assert [c["cpu"] for c in document["raw"]["cpus"]] == [0]


@x86_only
@pytest.mark.parametrize("entry", ["process", "typer"])
def test_an_existing_file_is_kept_unless_force(tmp_path, entry):
    target = tmp_path / "fp.json"
    target.write_text("old\n")

    def run(*args):
        if entry == "process":
            done = cli(*args)
            return done.returncode, done.stderr
        result = runner.invoke(app, ["collect", *args])
        return result.exit_code, result.stderr

    code, stderr = run("-o", str(target))
    assert code == 2 and stderr == f"error: {target}: exists; use --force to replace it\n"
    assert target.read_text() == "old\n"
    code, stderr = run("-o", str(target), "--force")
    assert code == 0, stderr
    assert json.loads(target.read_text())["version"] == 1


@pytest.mark.parametrize("cpus", ["0,x", "3-1", "", "-1", "0,,1", "99999"])
def test_invalid_cpus_is_one_error_line_and_exit_2(cpus):
    for code, stderr in ((lambda d: (d.returncode, d.stderr))(cli("--cpus", cpus)),
                         (lambda r: (r.exit_code, r.stderr))(runner.invoke(app, ["collect", "--cpus", cpus]))):
        assert code == 2
        lines = stderr.splitlines()
        assert len(lines) == 1 and lines[0].startswith("error: ") and "Traceback" not in stderr


@x86_only
def test_failed_write_leaves_no_temporary_file(tmp_path, monkeypatch):
    def broken_fsync(fd):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(output.os, "fsync", broken_fsync)
    result = runner.invoke(app, ["collect", "-o", str(tmp_path / "fp.json")])
    assert result.exit_code == 2
    assert result.stderr.startswith("error: ") and "No space left" in result.stderr
    assert os.listdir(tmp_path) == []


@x86_only
def test_check_prints_a_summary_and_no_json(tmp_path):
    done = cli("--check")
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert " family 0x" in lines[0] and lines[1].startswith("BIOS findings: ")
    assert "Per-CPU differences" in lines and "{" not in lines[0]
    done = cli("--check", "-o", str(tmp_path / "fp.json"))
    assert done.returncode == 0 and (tmp_path / "fp.json").is_file() and "BIOS findings: " in done.stdout


def _nobody_prefix() -> list[str]:
    if os.geteuid() != 0:
        pytest.skip("running as a non-root user needs root to switch users")
    if shutil.which("setpriv"):
        return ["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups"]
    if shutil.which("runuser"):
        return ["runuser", "-u", "nobody", "--"]
    pytest.skip("neither setpriv nor runuser is installed")


def _world_readable_install(root: Path) -> Path:
    """The package (with its data, as a wheel lays it out) and the compiled CPUID reader copied
    where any user can read them: the checkout and the venv may sit in folders only root may
    enter (CI clones into a private temporary folder)."""
    import cpuid
    import cpuid_native

    site = root / "site"
    shutil.copytree(REPO / "cpucompat", site / "cpucompat", ignore=shutil.ignore_patterns("__pycache__"))
    for folder in ("data", "baselines"):
        shutil.copytree(REPO / folder, site / "cpucompat" / folder)
    for module in (cpuid, cpuid_native):
        shutil.copy(module.__file__, site)
    for path in [root, *root.rglob("*")]:
        path.chmod(0o755 if path.is_dir() else 0o644)
    return site


def _python_for(user: list[str]) -> str:
    """This interpreter when ``user`` may run it, else Debian's (the same CPython 3.11 ABI)."""
    for python in (sys.executable, "/usr/bin/python3"):
        if subprocess.run([*user, python, "-c", "pass"], capture_output=True).returncode == 0:
            return python
    pytest.skip("user nobody can run no Python interpreter on this machine")


@x86_only
def test_runs_as_nobody_and_notes_what_it_could_not_read():
    """What ``cpucompat collect`` runs (cli.main's fast path), as user nobody."""
    user = _nobody_prefix()
    with tempfile.TemporaryDirectory() as work:  # pytest's tmp_path is private to root
        site = _world_readable_install(Path(work))
        out = Path(work, "out")
        out.mkdir(mode=0o777)
        out.chmod(0o777)
        program = "import sys; from cpucompat.collect.command import fast_path; fast_path(sys.argv[1:])"
        done = subprocess.run([*user, _python_for(user), "-c", program, "-o", f"{out}/fp.json"],
                              cwd=work, env={**os.environ, "PYTHONPATH": str(site)},
                              capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, done.stderr
        document = json.loads(Path(out, "fp.json").read_text())
    assert len(document["raw"]["cpus"]) == len(os.sched_getaffinity(0))
    notes = "\n".join(document["notes"])
    assert "/dev/cpu/N/msr on CPUs" in notes and "inferred from CPUID" in notes
    if os.path.exists("/dev/kvm"):
        assert "/dev/kvm: permission denied" in notes or document["raw"]["kvm_supported"] is not None
    assert document["source"]["msr"] is False


@x86_only
def test_collect_stays_light():
    """No pandas, py-cpuinfo, pydantic (Typer's option coercion) or the feature table on the hot path."""
    done = subprocess.run([sys.executable, "-X", "importtime", "-m", "cpucompat", "collect", "-o", "/dev/null"],
                          cwd=REPO, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0
    imported = {line.rsplit("|", 1)[-1].strip() for line in done.stderr.splitlines() if "|" in line}
    assert not {"pandas", "cpuinfo", "pydantic", "cpucompat.knowledge.features", "cpucompat.decode",
                "cpucompat.formats.reader"} & imported
