"""Output files (cpucompat.output): create-or-fail races, permissions, non-regular targets,
temporary files after signals, a full stdout (issue 12 #5, #9, #10, #14, #3 /dev/full)."""

from __future__ import annotations

import os
import signal
import stat
import subprocess
import sys
import threading

import pytest

from cpucompat import output
from cpucompat.errors import CpuCompatError

from .conftest import REPO, TEST_DATA

FIXTURE = str(TEST_DATA / "linux-kvm-zen3-epyc-milan_cpuid-r.txt")


def _run(*args, **kwargs):
    streams = {"stdout": subprocess.PIPE, "stderr": subprocess.PIPE}
    return subprocess.run([sys.executable, "-m", "cpucompat", *args], cwd=REPO, text=True, timeout=60,
                          **{**streams, **kwargs})


def test_of_parallel_writers_to_a_new_file_exactly_one_wins(tmp_path):
    target = tmp_path / "new.txt"
    barrier = threading.Barrier(20)
    results: list[object] = []

    def write(n: int) -> None:
        def fill(temp: str) -> None:
            with open(temp, "w") as handle:
                handle.write(f"writer {n}\n")
            barrier.wait(timeout=10)  # every writer has its temporary file before any links it
        try:
            output.replace_atomically(target, fill)
            results.append(n)
        except CpuCompatError as error:
            results.append(str(error))

    threads = [threading.Thread(target=write, args=(n,)) for n in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    winners = [r for r in results if isinstance(r, int)]
    assert len(winners) == 1
    assert all("exists; use --force" in r for r in results if isinstance(r, str))
    assert target.read_text() == f"writer {winners[0]}\n"
    assert sorted(os.listdir(tmp_path)) == ["new.txt"]  # no temporary file left


def test_parallel_commands_creating_one_file_exit_2_but_one(tmp_path):
    target = str(tmp_path / "mask.txt")
    procs = [subprocess.Popen([sys.executable, "-m", "cpucompat", "mask", FIXTURE, "--target", FIXTURE,
                               "-o", target], cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
             for _ in range(6)]
    codes = sorted(p.wait(timeout=60) for p in procs)
    assert codes == [0, 2, 2, 2, 2, 2]


@pytest.mark.parametrize("umask, mode", [(0o022, 0o644), (0o077, 0o600), (0o002, 0o664)])
def test_a_new_file_honours_the_umask(tmp_path, umask, mode):
    old = os.umask(umask)
    try:
        output.write_text(tmp_path / "out.txt", "x\n")
    finally:
        os.umask(old)
    assert stat.S_IMODE(os.stat(tmp_path / "out.txt").st_mode) == mode


def test_force_keeps_the_mode_of_the_replaced_file(tmp_path):
    target = tmp_path / "out.txt"
    target.write_text("old\n")
    os.chmod(target, 0o640)
    output.write_text(target, "new\n", force=True)
    assert target.read_text() == "new\n"
    assert stat.S_IMODE(os.stat(target).st_mode) == 0o640


def test_an_existing_file_is_kept_without_force(tmp_path):
    target = tmp_path / "out.txt"
    target.write_text("old\n")
    with pytest.raises(CpuCompatError, match="exists; use --force"):
        output.write_text(target, "new\n")
    assert target.read_text() == "old\n"


def test_a_fifo_or_folder_is_refused_at_once(tmp_path):
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    for target, kind in ((fifo, "FIFO"), (tmp_path, "folder")):
        for force in (False, True):
            with pytest.raises(CpuCompatError, match=f"is a {kind}; output goes to a regular file"):
                output.write_text(target, "x\n", force=force)
    result = _run("mask", FIXTURE, "--evc", "amd-zen", "-o", str(fifo))
    assert result.returncode == 2 and result.stderr.strip().splitlines() == [
        f"error: {fifo}: is a FIFO; output goes to a regular file (or - for stdout)"]


def test_a_character_device_is_written_directly():
    output.write_text("/dev/null", "x\n")
    output.write_text("/dev/null", "x\n", force=True)


def test_temporary_files_are_named_and_stale_ones_removed(tmp_path):
    target = tmp_path / "out.txt"
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    stale = tmp_path / f".out.txt.cpucompat-tmp-{dead.pid}"
    alive = tmp_path / f".out.txt.cpucompat-tmp-{os.getppid()}"
    other = tmp_path / f".other.txt.cpucompat-tmp-{dead.pid}"
    for path in (stale, alive, other):
        path.write_text("partial")
    seen = []
    output.replace_atomically(target, lambda temp: seen.append(os.path.basename(temp)) or open(temp, "w").close())
    assert seen == [f".out.txt.cpucompat-tmp-{os.getpid()}"]
    assert not stale.exists() and alive.exists() and other.exists()


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGHUP, signal.SIGINT])
def test_a_signal_while_writing_leaves_no_temporary_file(tmp_path, signum):
    code = ("import sys, time\nfrom cpucompat import output\n"
            "def fill(temp):\n    open(temp, 'w').write('partial')\n    print('ready', flush=True)\n"
            "    time.sleep(30)\n"
            f"output.replace_atomically({str(tmp_path / 'out.txt')!r}, fill)\n")
    proc = subprocess.Popen([sys.executable, "-c", code], cwd=REPO, stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline() == "ready\n"
    proc.send_signal(signum)
    assert proc.wait(timeout=20) != 0
    assert os.listdir(tmp_path) == []


def test_stdout_on_a_full_disk_is_one_error_line():
    for args in (["--version"], ["decode", FIXTURE, "--json"], ["evc", "list"]):
        with open("/dev/full", "w") as full:
            result = _run(*args, stdout=full, stderr=subprocess.PIPE)
        assert result.returncode == 2, (args, result.stderr)
        assert "Traceback" not in result.stderr and "Exception ignored" not in result.stderr
        assert [line for line in result.stderr.splitlines() if line.startswith("error:")] == [
            "error: No space left on device"], args


def test_a_missing_folder_names_the_target_not_the_temporary_file(tmp_path):
    target = tmp_path / "no-such-folder" / "mask.txt"
    with pytest.raises(CpuCompatError) as caught:
        output.write_text(target, "x\n")
    assert str(caught.value) == f"{target}: cannot write: No such file or directory"
    assert output.TEMP_MARK not in str(caught.value)
