"""vcsim for the vSphere tests: built once from Debian's govmomi source (scripts/build-vcsim.sh),
started on a free 127.0.0.1 port, stopped after. Tests never reach any other address.

Without Debian's golang-go and golang-github-vmware-govmomi-dev the vcsim tests skip (they fail
where CPUCOMPAT_REQUIRE_VCSIM=1, as CI may set it); the offline tests run everywhere.
"""

from __future__ import annotations

import os
import select
import subprocess
import time
from pathlib import Path

import pytest

from tests.conftest import REPO, reference

REQUIRE_VCSIM_ENV = "CPUCOMPAT_REQUIRE_VCSIM"
USER, PASSWORD = "user", "pass"


def _missing(message: str):
    if os.environ.get(REQUIRE_VCSIM_ENV, "") not in ("", "0"):
        pytest.fail(f"{message}, and {REQUIRE_VCSIM_ENV} is set")
    pytest.skip(message)


@pytest.fixture(scope="session")
def vcsim_binary() -> Path:
    try:
        import pyVmomi  # noqa: F401
    except ImportError:
        _missing("pyVmomi is not installed (pip install -e .[vsphere])")
    build = subprocess.run([str(REPO / "scripts" / "build-vcsim.sh")], capture_output=True, text=True, timeout=900)
    if build.returncode != 0:
        _missing(f"vcsim cannot be built: {build.stderr.strip().splitlines()[-1:]}")
    return Path(build.stdout.strip().splitlines()[-1])


class Vcsim:
    """One running vcsim: ``port``, ``url``, ``si()`` (a pyVmomi connection), ``stop()``."""

    def __init__(self, binary: Path, *args: str, timeout: float = 60) -> None:
        self.process = subprocess.Popen([str(binary), "-listen", "127.0.0.1:0", *args], stdin=subprocess.PIPE,
                                        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        deadline = time.monotonic() + timeout
        line = ""
        while time.monotonic() < deadline:
            ready, _, _ = select.select([self.process.stdout], [], [], 1)
            if ready:
                line = self.process.stdout.readline()
                break
            if self.process.poll() is not None:
                break
        if not line.startswith("URL "):
            self.stop()
            raise RuntimeError(f"vcsim did not start: {line!r} {self.process.stderr.read()[-2000:]}")
        self.url = line.split()[1]
        self.port = int(self.url.split(":")[2].split("/")[0])
        assert self.url.startswith(("http://127.0.0.1:", "https://127.0.0.1:"))
        self.server = f"{self.url.split('://')[0]}://127.0.0.1:{self.port}"
        self._si = None

    def si(self):
        from pyVim.connect import SmartConnect

        if self._si is None:
            self._si = SmartConnect(host="127.0.0.1", port=self.port, user=USER, pwd=PASSWORD, protocol="http",
                                    disableSslCertValidation=True)
        return self._si

    def stop(self) -> None:
        if self.process.poll() is None:
            try:
                self.process.stdin.close()
                self.process.wait(timeout=10)
            except (subprocess.TimeoutExpired, OSError):
                self.process.kill()
                self.process.wait()


@pytest.fixture(scope="session")
def sddc_vcsim(vcsim_binary):
    """The real VMC vCenter inventory (govc-sddc) served by vcsim."""
    sim = Vcsim(vcsim_binary, "-load", str(reference("vsphere", "govc-sddc")))
    yield sim
    sim.stop()


@pytest.fixture
def make_vcsim(vcsim_binary):
    """Start vcsims with given flags (a fresh one per scenario); all stopped after the test."""
    started = []

    def start(*args: str) -> Vcsim:
        sim = Vcsim(vcsim_binary, *args)
        started.append(sim)
        return sim

    yield start
    for sim in started:
        sim.stop()


@pytest.fixture
def env(monkeypatch):
    """The password for vcsim through the environment (never the command line)."""
    monkeypatch.setenv("CPUCOMPAT_VSPHERE_PASSWORD", PASSWORD)
    monkeypatch.setenv("CPUCOMPAT_VSPHERE_USER", USER)
    return monkeypatch
