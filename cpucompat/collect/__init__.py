"""The host agent (``cpucompat collect``): fingerprint this host's CPUs.

Owns reading the hardware and the OS (raw CPUID of every online logical CPU, XCR0, read-only
MSRs, /proc and /sys, KVM's supported CPUID), the BIOS-influenced findings and the
``--check`` summary. Modules: ``leaves`` (which leaves and subleaves exist), ``access``
(CPUID instruction, /dev/cpu/N/cpuid and msr), ``kvm``, ``system`` (/proc, /sys),
``findings``, ``collector`` (one deadline-bounded run), ``check`` and ``command``.
Imports stay light: the whole ``cpucompat collect`` process has a 150 ms budget.
"""

from __future__ import annotations


def collect(*args, **kwargs):
    """See ``cpucompat.collect.collector.collect``."""
    from .collector import collect as _collect

    return _collect(*args, **kwargs)
