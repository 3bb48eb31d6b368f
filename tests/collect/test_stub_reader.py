"""Without the ``cpuid`` package (a Python with only the standard library, as on an Ansible
managed host) the collector reads CPUID and XCR0 through its machine-code stubs: the same
fingerprint, content hash included, as with the package."""

from __future__ import annotations

import json
import platform
import subprocess
import sys

import pytest

from ..conftest import REPO

COLLECT = ("import json, sys; {block}from cpucompat.collect.collector import collect; "
           "d = collect(None).document(); print(json.dumps([d['content_hash'], d['source']['method'], "
           "[c['xcr0'] for c in d['raw']['cpus']]]))")


def run(block: str = "") -> list:
    done = subprocess.run([sys.executable, "-c", COLLECT.format(block=block)], cwd=REPO, capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


@pytest.mark.skipif(platform.machine() != "x86_64", reason="the stubs are x86-64 machine code")
def test_without_the_cpuid_package_the_stub_reads_the_same():
    pytest.importorskip("cpuid_native")
    with_package = run()
    without = run("sys.modules['cpuid_native'] = None; ")  # import cpuid_native raises ImportError
    assert without == with_package
    assert without[1] == "cpuid-instruction" and all(x is None or x.startswith("0x") for x in without[2])
