"""Collecting one host: raw CPUID of every chosen CPU, XCR0, MSR-based findings, the kernel's
view, firmware facts and KVM's supported CPUID, under one deadline.

The collector never fails because something is unreadable: it degrades and says so in a
note ("/dev/cpu/N/msr on CPUs 0-1: permission denied; ..."). What it reads through is a
``Sources`` object, so tests replace the hardware with fakes and the file system with a
folder. Only a bad request (a CPU that is not online) is an error.
"""

from __future__ import annotations

import errno
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, NamedTuple

from ..formats import fingerprint
from ..cpuid_fields import leaf_ranges
from ..cpulist import format_cpu_list
from ..dump import CpuLeaves, Dump, KernelCpu
from ..errors import CpuCompatError, UsageError
from . import findings as bios
from . import system
from ..knowledge.cpuid_layout import ECX
from .leaves import DeadlineReached, read_leaves

DEFAULT_DEADLINE_S = 10.0
MSR_CONSEQUENCE = "NX/XD, Limit CPUID Maxval and VT-x/AMD-V findings inferred from CPUID, /proc/cpuinfo and /dev/kvm"
REFUSED_DETAIL = "leaves the cpuid package refuses (above the basic/extended maximum: hypervisor, Centaur) read by "
#: Why an OSError happened, in words, by errno.
REASONS = {
    errno.ENOENT: "not present",
    errno.ENXIO: "not present (CPU offline or no such device)",
    errno.EACCES: "permission denied",
    errno.EPERM: "permission denied",
    errno.EIO: "not readable (EIO: the CPU or hypervisor has no such register)",
}
#: What each missing thing means, appended to its note.
HINTS = {
    ("msr", errno.ENOENT): "the msr kernel module is not loaded; as root, --load-msr loads it",
    ("msr", errno.EACCES): "reading MSRs needs root",
    ("msr", errno.EPERM): "reading MSRs needs root (CAP_SYS_RAWIO)",
    ("kvm", errno.ENOENT): "KVM is not loaded here; raw.kvm_supported not collected",
    ("kvm", errno.EACCES): "needs root or the kvm group; raw.kvm_supported not collected",
    ("cpuid", errno.ENOENT): "the cpuid kernel module is not loaded",
    ("cpuid", errno.EACCES): "reading it needs root",
}


def reason(error: OSError) -> str:
    return REASONS.get(error.errno or 0) or error.strerror or str(error)


class Sources(NamedTuple):
    """Where the collector reads from; ``Sources.host()`` reads this host, tests pass fakes."""

    root: Path = Path("/")
    cpuid: Any = None  # .allowed, .open(cpu) -> Reader, .restore(); default access.HostCpuid
    msr: Any = None  # .read(cpu, index) -> int, .close(); default access.HostMsr
    kvm: Callable[[], CpuLeaves] | None = None  # default kvm.supported_cpuid
    load_msr_module: Callable[[], str] | None = None  # runs modprobe msr, returns a note

    @classmethod
    def host(cls, root: Path = Path("/")) -> Sources:
        machine = os.uname().machine
        if machine not in ("x86_64", "i386", "i686", "AMD64"):
            raise CpuCompatError(f"collect reads x86 CPUID; this machine is {machine}")
        from . import access, kvm

        return cls(root, access.HostCpuid(root), access.HostMsr(root),
                   lambda: kvm.supported_cpuid(root / "dev/kvm"), access.load_msr_module)


class Collection(NamedTuple):
    """The result of one collection, ready to become a fingerprint or a Dump."""

    cpus: list[CpuLeaves]
    kernel_cpus: dict[int, dict]
    kvm_supported: CpuLeaves | None
    host: dict
    source: dict
    kernel: dict
    firmware: dict
    findings: list[dict]
    notes: list[str]

    def document(self) -> dict:
        """The fingerprint v1 document."""
        kernel = dict(self.kernel)
        kernel["cpus"] = [{"cpu": c.index, **self.kernel_cpus[c.index]}
                          for c in self.cpus if c.index in self.kernel_cpus]
        return fingerprint.build(self.cpus, host=self.host, source=self.source, kvm_supported=self.kvm_supported,
                                 kernel=kernel, firmware=self.firmware, findings=self.findings, notes=self.notes)

    def dump(self) -> Dump:
        """The same data as a Dump, for ``cpucompat.decode``."""
        read = {c.index for c in self.cpus}
        kernel = [KernelCpu(index=i, flags=frozenset(k["flags"]), microcode=k.get("microcode", ""))
                  for i, k in sorted(self.kernel_cpus.items()) if i in read]
        return Dump(path="<this host>", format="fingerprint", cpus=self.cpus, kernel=kernel,
                    kvm_supported=self.kvm_supported, host=self.host, notes=self.notes)


class _Run:
    """Mutable state of one collection: what was read, and the notes so far."""

    def __init__(self, sources: Sources, deadline: float, deadline_s: float) -> None:
        self.sources, self.deadline, self.deadline_s = sources, deadline, deadline_s
        self.notes: list[str] = []
        self.cpus: list[CpuLeaves] = []
        self.methods: dict[str, list[int]] = {}  # method -> CPUs read that way
        self.msrs: dict[int, dict[int, int]] = {}  # CPU -> {MSR: value}
        self.failures: dict[tuple[str, str], list[int]] = {}  # (what, note) -> CPUs
        self.details: dict[str, str] = {}  # extra source facts

    def fail(self, what: str, error: OSError, cpu: int) -> None:
        hint = HINTS.get((what, error.errno or 0))
        self.failures.setdefault((what, reason(error) + (f" ({hint})" if hint else "")), []).append(cpu)


def collect(cpus: list[int] | None = None, *, sources: Sources | None = None,
            deadline_s: float = DEFAULT_DEADLINE_S, load_msr: bool = False) -> Collection:
    """Collect this host (or the fake one ``sources`` describes), limited to ``cpus`` if given."""
    started = time.monotonic()
    sources = sources or Sources.host()
    run = _Run(sources, started + deadline_s, deadline_s)
    root = sources.root
    selected = _select(root, cpus, run)
    kernel_cpus = _kernel_cpus(root, run)
    if load_msr and sources.load_msr_module:
        run.notes.append(sources.load_msr_module())
    _read_cpus(run, selected)
    kvm = _kvm(run)
    host_facts = bios.HostFacts(*system.smt(root), kvm_device=(root / "dev/kvm").exists())
    facts = [bios.CpuFacts(c, run.msrs.get(c.index, {}),
                           frozenset(kernel_cpus[c.index]["flags"]) if c.index in kernel_cpus else None)
             for c in run.cpus]
    run.notes.extend(_failure_notes(run))
    return Collection(
        cpus=run.cpus, kernel_cpus={i: k for i, k in kernel_cpus.items() if i in selected},
        kvm_supported=kvm, host=_host(root), source=_source(run, started, deadline_s),
        kernel=_kernel(root, run), firmware=_firmware(root, run),
        findings=bios.evaluate(facts, host_facts) if facts else [], notes=run.notes,
    )


def _select(root: Path, cpus: list[int] | None, run: _Run) -> list[int]:
    try:
        online = system.online_cpus(root)
    except OSError as error:
        online = sorted(run.sources.cpuid.allowed)
        run.notes.append(f"/sys/devices/system/cpu/online: {reason(error)}; using this process's CPU set "
                         f"{format_cpu_list(online)}")
    if cpus is None:
        return online
    offline = sorted(set(cpus) - set(online))
    if offline:
        raise UsageError(f"--cpus: CPU {format_cpu_list(offline)} not online "
                         f"(online: {format_cpu_list(online)})")
    return cpus


def _kernel_cpus(root: Path, run: _Run) -> dict[int, dict]:
    try:
        return {i: {"flags": c["flags"], "microcode": c["microcode"]} for i, c in system.proc_cpuinfo(root).items()}
    except OSError as error:
        run.notes.append(f"/proc/cpuinfo: {reason(error)}; no kernel view of the CPUs")
        return {}


def _read_cpus(run: _Run, selected: list[int]) -> None:
    access = run.sources.cpuid
    try:
        for position, cpu in enumerate(selected):
            if time.monotonic() > run.deadline:
                _deadline_note(run, selected[position:], "before CPU")
                return
            try:
                reader = access.open(cpu)
            except OSError as error:
                run.fail("cpuid", error, cpu)
                continue
            try:
                leaves, notes = read_leaves(reader, run.deadline)
            except DeadlineReached:
                _deadline_note(run, selected[position:], "while reading CPU")
                return
            _keep_cpu(run, cpu, reader, leaves, notes)
    finally:
        access.restore()
        if run.sources.msr is not None:
            run.sources.msr.close()
    if getattr(access, "refused_via", None):
        run.details["cpuid_refused_leaves"] = REFUSED_DETAIL + " and ".join(sorted(access.refused_via))
    _borrow_xcr0(run)


def _keep_cpu(run: _Run, cpu: int, reader, leaves: dict, notes: list[str]) -> None:
    leaf = CpuLeaves(index=cpu, leaves=leaves)
    osxsave = leaf.get(0)[0] >= 1 and leaf.get(1)[ECX] >> 27 & 1
    leaf.xcr0 = reader.xgetbv() if osxsave else None
    run.cpus.append(leaf)
    run.methods.setdefault(reader.method, []).append(cpu)
    run.notes.extend(f"CPU {cpu}: {note}" for note in notes)
    _read_msrs(run, leaf)


def _read_msrs(run: _Run, cpu: CpuLeaves) -> None:
    if run.sources.msr is None:
        return
    for index in bios.MSRS_BY_VENDOR.get(leaf_ranges(cpu).vendor_family, ()):
        try:
            run.msrs.setdefault(cpu.index, {})[index] = run.sources.msr.read(cpu.index, index)
        except OSError as error:
            run.fail("msr", error, cpu.index)
            if error.errno != errno.EIO:
                return


def _borrow_xcr0(run: _Run) -> None:
    """CPUs read through /dev/cpu/N/cpuid have no XCR0; Linux programs one XCR0 on every CPU."""
    known = [c for c in run.cpus if c.xcr0 is not None]
    missing = [c for c in run.cpus if c.xcr0 is None and c.get(0)[0] >= 1 and c.get(1)[ECX] >> 27 & 1]
    if known and missing:
        for cpu in missing:
            cpu.xcr0 = known[0].xcr0
        run.notes.append(f"XCR0 of CPUs {format_cpu_list([c.index for c in missing])} is CPU "
                         f"{known[0].index}'s (Linux sets the same XCR0 on every CPU; /dev/cpu/N/cpuid cannot read it)")


def _deadline_note(run: _Run, left: list[int], when: str) -> None:
    run.notes.append(f"collection deadline ({run.deadline_s:g} s) reached {when} {left[0]}; "
                     f"CPUs {format_cpu_list(left)} not collected")


def _kvm(run: _Run) -> CpuLeaves | None:
    if run.sources.kvm is None:
        return None
    if time.monotonic() > run.deadline:
        run.notes.append(f"collection deadline ({run.deadline_s:g} s) reached; raw.kvm_supported not collected")
        return None
    try:
        return run.sources.kvm()
    except OSError as error:
        hint = HINTS.get(("kvm", error.errno or 0), "raw.kvm_supported not collected")
        run.notes.append(f"/dev/kvm: {reason(error)} ({hint})")
        return None


def _failure_notes(run: _Run) -> list[str]:
    notes = []
    allowed = run.sources.cpuid.allowed
    outside = sorted(set(run.methods.get("dev-cpu-cpuid", [])) - allowed)
    if outside:
        notes.append(f"CPUs {format_cpu_list(outside)} are outside this process's CPU set "
                     f"({format_cpu_list(sorted(allowed))}); read through /dev/cpu/N/cpuid")
    for (what, text), cpus in run.failures.items():
        cpu_list = format_cpu_list(cpus)
        if what == "msr":
            notes.append(f"/dev/cpu/N/msr on CPUs {cpu_list}: {text}; {MSR_CONSEQUENCE}")
        else:
            notes.append(f"CPUs {cpu_list} not collected: outside this process's CPU set and "
                         f"/dev/cpu/N/cpuid {text}")
    return notes


def _host(root: Path) -> dict:
    host = {"collected_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    try:
        host["hostname"] = system.read(root, "proc/sys/kernel/hostname")
    except OSError:
        host["hostname"] = os.uname().nodename
    return host


def _source(run: _Run, started: float, deadline_s: float) -> dict:
    methods = {m: format_cpu_list(c) for m, c in run.methods.items()}
    return {
        "method": next(iter(methods)) if len(methods) == 1 else ("mixed" if methods else "none"),
        "cpus": methods,
        "cpu_set": format_cpu_list(sorted(run.sources.cpuid.allowed)),
        "msr": bool(run.msrs),
        "elapsed_ms": round((time.monotonic() - started) * 1000, 1),
        "deadline_s": deadline_s,
        **run.details,
    }


def _kernel(root: Path, run: _Run) -> dict:
    kernel: dict = {}
    try:
        kernel["version"] = system.read(root, "proc/sys/kernel/osrelease")
    except OSError:
        kernel["version"] = os.uname().release
    try:
        kernel["cmdline_feature_options"] = system.cmdline_feature_options(root)
    except OSError as error:
        run.notes.append(f"/proc/cmdline: {reason(error)}; kernel options unknown")
    return kernel


def _firmware(root: Path, run: _Run) -> dict:
    facts = system.firmware(root)
    if not facts:
        run.notes.append("/sys/class/dmi/id: nothing readable (no DMI on this platform or VM); firmware unknown")
    return facts
