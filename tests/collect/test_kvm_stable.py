"""KVM_GET_SUPPORTED_CPUID carries the APIC ID of the CPU the ioctl runs on (leaf 1 EBX[31:24],
leaves 0xB and 0x1F EDX); the collector runs it on the lowest allowed CPU, so a host's
fingerprint (content hash) does not depend on where the collector happened to be scheduled (the
Ansible module reports ``changed`` by that hash)."""

from __future__ import annotations

import os

import pytest

from cpucompat.collect import kvm


def test_the_ioctl_runs_on_the_lowest_allowed_cpu_and_affinity_comes_back(monkeypatch):
    allowed = os.sched_getaffinity(0)
    if len(allowed) < 2 or not os.access("/dev/kvm", os.R_OK | os.W_OK):
        pytest.skip("needs two CPUs and a usable /dev/kvm")
    seen = []
    real = kvm._query

    def query(fd, ioctl):
        seen.append(os.sched_getaffinity(0))
        return real(fd, ioctl)

    monkeypatch.setattr(kvm, "_query", query)
    os.sched_setaffinity(0, {max(allowed)})  # where the collector's last pinned read leaves the thread
    os.sched_setaffinity(0, allowed)
    first = kvm.supported_cpuid()
    assert seen == [{min(allowed)}]
    assert os.sched_getaffinity(0) == allowed
    assert kvm.supported_cpuid() == first
