"""The collector on the machine running the tests: every online CPU, schema, kernel flags, KVM."""

from __future__ import annotations

import json
import os
import platform
import re
from pathlib import Path

import jsonschema
import pytest
from typer.testing import CliRunner

from cpucompat.cli import app
from cpucompat.collect.access import DevCpuidReader, HostCpuid
from cpucompat.collect.check import kvm_difference
from cpucompat.collect.collector import collect
from cpucompat.collect.leaves import read_leaves
from cpucompat.cpulist import parse_cpu_list
from cpucompat.knowledge.tables import data_file
from cpucompat.decode import decode
from cpucompat.knowledge.features import feature_table

pytestmark = pytest.mark.skipif(platform.machine() not in ("x86_64", "AMD64", "i686"),
                                reason=f"collect reads x86 CPUID; this machine is {platform.machine()}")

#: /proc/cpuinfo flags that are the linux_name of a features.csv row but that Linux may show
#: although the CPUID bit the table gives is clear (the kernel adds them). Flags the kernel
#: drops (clearcpuid=, noxsave, "RDSEED32 is broken", nox2apic...) need no entry: this test
#: only checks that every plain flag the kernel shows is decoded from the raw CPUID.
KERNEL_ADDS = {
    # arch/x86/kernel/cpu/amd.c init_amd(): "3DNow or LM implies PREFETCHW".
    "3dnowprefetch",
    # arch/x86/kernel/cpu/amd.c init_amd(): set_cpu_cap(c, X86_FEATURE_ARAT) when family > 0x11.
    "arat",
    # arch/x86/kernel/cpu/common.c init_speculation_control(): set from Intel's SPEC_CTRL /
    # STIBP / SSBD bits (7.EDX[26,27,31]) or AMD's 0x80000008 EBX bits, whichever exists;
    # amd.c also sets ssbd from the LS_CFG MSR on families 0x15-0x17.
    "ibrs", "ibpb", "stibp", "ssbd",
    # arch/x86/kernel/cpu/resctrl/core.c cache_alloc_hsw_probe(): Haswell servers get
    # cat_l3 by probing MSRs although CPUID leaf 0x10 does not report it.
    "cat_l3",
    # intel.c / amd.c set these from family/model as well as from 0x80000007 EDX[8].
    "constant_tsc", "nonstop_tsc",
}


@pytest.fixture(scope="module")
def host():
    return collect()


def online() -> list[int]:
    return parse_cpu_list(Path("/sys/devices/system/cpu/online").read_text())


def proc_cpuinfo_field(name: str) -> dict[int, str]:
    values, cpu = {}, None
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        key, _, value = (part.strip() for part in line.partition(":"))
        if key == "processor":
            cpu = int(value)
        elif key == name:
            values[cpu] = value
    return values


def test_holds_every_online_cpu(host):
    cpus = online()
    allowed = os.sched_getaffinity(0)
    read = [c.index for c in host.cpus]
    if set(cpus) <= allowed or os.access("/dev/cpu/0/cpuid", os.R_OK):
        assert read == cpus
    else:  # a restricted cpuset without /dev/cpu: the rest is noted as missing
        assert read == sorted(set(cpus) & allowed)
        assert any("not collected" in note for note in host.notes)
    assert os.sched_getaffinity(0) == allowed  # affinity restored


def test_each_cpu_was_read_on_that_cpu(host):
    apic_ids = proc_cpuinfo_field("initial apicid")
    if not apic_ids:
        pytest.skip("/proc/cpuinfo has no 'initial apicid'")
    for cpu in host.cpus:
        assert cpu.get(1)[1] >> 24 == int(apic_ids[cpu.index]) & 0xFF, f"CPU {cpu.index}"


def test_validates_against_the_schema(host):
    schema = json.loads(data_file("fingerprint.schema.json").read_text())
    jsonschema.validate(host.document(), schema)


def test_two_collections_hash_alike(host):
    assert collect().document()["content_hash"] == host.document()["content_hash"]


def test_decode_has_every_plain_kernel_flag(host):
    table = feature_table()
    linux = table.by_vocabulary["linux"]
    decoded = decode(host.dump())
    for cpu in decoded.per_cpu:
        flags = set(host.kernel_cpus[cpu.index]["flags"])
        plain = {flag for flag in flags if flag in linux} - KERNEL_ADDS
        names = {table.by_name[name].linux for name in cpu.features}
        assert plain - names == set(), f"CPU {cpu.index}: kernel flags not decoded from raw CPUID"


def test_dev_cpu_cpuid_agrees_with_the_instruction():
    if not os.access("/dev/cpu/0/cpuid", os.R_OK):
        pytest.skip("/dev/cpu/0/cpuid not readable (needs root and the cpuid module)")
    access = HostCpuid()
    try:
        for cpu in sorted(access.allowed):
            pinned, _ = read_leaves(access.open(cpu))
            reader = DevCpuidReader(Path(f"/dev/cpu/{cpu}/cpuid"))
            try:
                assert read_leaves(reader)[0] == pinned, f"CPU {cpu}"
            finally:
                reader.close()
    finally:
        access.restore()


def test_kvm_supported_cpuid_and_check(host):
    if not os.access("/dev/kvm", os.R_OK | os.W_OK):
        pytest.skip("no usable /dev/kvm here")
    assert host.kvm_supported is not None and host.kvm_supported.has(0) and host.kvm_supported.has(1)
    assert host.document()["raw"]["kvm_supported"]["leaves"]
    hidden, added = kvm_difference(host, decode(host.dump()).features)
    result = CliRunner().invoke(app, ["collect", "--check"])
    assert result.exit_code == 0, result.stderr
    assert "KVM (KVM_GET_SUPPORTED_CPUID) compared with the raw CPUID" in result.stdout
    assert f"KVM hides {len(hidden)} features, adds {len(added)}" in result.stdout  # the summary line
    section = result.stdout.split("compared with the raw CPUID", 1)[1].split("\nNotes", 1)[0]
    hides, _, adds = section.partition(f"adds {len(added)}")
    assert f"hides {len(hidden)}" in hides
    assert set(hidden) <= set(re.findall(r"[a-z0-9_]+", hides)), "every hidden feature is listed"
    assert set(added) <= set(re.findall(r"[a-z0-9_]+", adds))
