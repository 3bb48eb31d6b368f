"""Our intersection checked against libvirt's own baseline (virConnectBaselineCPU, libvirt 9.0
through Debian's python3-libvirt) over pairs of real CPUs from libvirt's test data."""

from __future__ import annotations

import json
import os
import subprocess

import pytest

from cpucompat.decode import decode
from cpucompat.knowledge.features import feature_table
from cpucompat.masks.consumers import known_names
from cpucompat.formats.reader import read_dump

from .conftest import REFERENCE, missing_reference

SYSTEM_PYTHON = "/usr/bin/python3"
#: Runs under the system Python, where python3-libvirt lives: host <cpu> XMLs in, expanded
#: baseline feature names out (model data + require - disable, as libvirt computes them).
LIBVIRT_BASELINE = r"""
import json, sys, xml.etree.ElementTree as ET
import libvirt
libvirt.registerErrorHandler(lambda *a: None, None)
conn = libvirt.open("test:///default")
out = conn.baselineCPU(json.load(sys.stdin), libvirt.VIR_CONNECT_BASELINE_CPU_EXPAND_FEATURES)
cpu = ET.fromstring(out)
print(json.dumps(sorted(f.get("name") for f in cpu.findall("feature") if f.get("policy") != "disable")))
"""
PAIRS = [("Xeon-E5-2609-v3", "Xeon-Gold-6148"), ("Xeon-E5-2623-v4", "Xeon-Platinum-8268"),
         ("Core-i5-6600", "Xeon-Gold-6148"), ("Core-i7-2600", "Xeon-X5460"),
         ("EPYC-7601-32-Core", "EPYC-7502-32-Core"), ("Opteron-2350", "A10-5800K")]


def _libvirt_available() -> bool:
    if not os.path.exists(SYSTEM_PYTHON):
        return False
    return subprocess.run([SYSTEM_PYTHON, "-c", "import libvirt"], capture_output=True).returncode == 0


@pytest.fixture(scope="module")
def libvirt_python():
    if not _libvirt_available():
        if os.environ.get("CPUCOMPAT_REQUIRE_QEMU", "") not in ("", "0"):
            pytest.fail("python3-libvirt is missing, and CI requires the consumer tests")
        pytest.skip("python3-libvirt (Debian) not installed")
    return SYSTEM_PYTHON


def _host_cpu_xml(features: frozenset[str], vendor: str) -> str:
    """A host-style <cpu>: the smallest model (486, whose only feature is fpu) plus features."""
    table, known = feature_table(), known_names("libvirt-9.0", "feature")
    names = sorted({table.by_name[n].libvirt for n in features} & known)
    body = "".join(f"<feature name='{n}'/>" for n in names)
    return f"<cpu><arch>x86_64</arch><model>486</model><vendor>{vendor}</vendor>{body}</cpu>"


@pytest.mark.parametrize("first, second", PAIRS)
def test_intersection_equals_libvirt_baseline(libvirt_python, first, second):
    paths = [REFERENCE / "libvirt" / "cputestdata" / f"x86_64-cpuid-{n}.xml" for n in (first, second)]
    if not all(p.exists() for p in paths):
        missing_reference()
    hosts = [decode(read_dump(p)) for p in paths]
    vendor = {"GenuineIntel": "Intel", "AuthenticAMD": "AMD"}[hosts[0].vendor]
    xmls = [_host_cpu_xml(h.features, vendor) for h in hosts]
    result = subprocess.run([libvirt_python, "-c", LIBVIRT_BASELINE], input=json.dumps(xmls),
                            capture_output=True, text=True, check=True)
    theirs = set(json.loads(result.stdout))
    table, known = feature_table(), known_names("libvirt-9.0", "feature")
    ours = {table.by_name[n].libvirt for n in hosts[0].features & hosts[1].features} & known
    assert theirs == ours, f"only libvirt: {sorted(theirs - ours)}; only ours: {sorted(ours - theirs)}"

