"""BIOS-influenced findings: settings that change what CPUID shows, so what guests can get.

Each finding is judged per CPU from the best evidence at hand: the model-specific register
the BIOS sets, when it can be read (only ever read; never written), else an inference from
the raw CPUID, the kernel's /proc/cpuinfo view and /dev/kvm. The per-CPU verdicts are merged
into one ``{id, status, evidence, explanation, cpus}`` per finding. The explanations are
data: ``data/bios-findings.csv``, keyed by id, status and the case of evidence.

Under a hypervisor everything here describes the virtual CPU: a missing VT-x there is the
hypervisor's choice, not the BIOS's.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cache
from typing import NamedTuple

from .. import cpuid_fields as cf
from ..knowledge.tables import rows
from ..dump import CpuLeaves
from ..knowledge.cpuid_layout import ECX, EDX
from ..cpulist import format_cpu_list

IA32_FEATURE_CONTROL = 0x3A
IA32_MISC_ENABLE = 0x1A0
VM_CR = 0xC0010114
#: The MSRs each vendor family's findings read (read-only).
MSRS_BY_VENDOR = {"intel": (IA32_FEATURE_CONTROL, IA32_MISC_ENABLE), "centaur": (IA32_FEATURE_CONTROL,),
                  "amd": (VM_CR,)}
STATUS_ORDER = ("found", "unknown", "not-found")  # the merged status is the first any CPU has

Verdict = tuple[str, str, str]  # status, case (which explanation), evidence


class CpuFacts:
    """What the findings may look at for one logical CPU.

    ``msrs`` holds only the MSRs that could be read; ``kernel_flags`` is None when
    /proc/cpuinfo has no entry for the CPU.
    """

    def __init__(self, leaves: CpuLeaves, msrs: dict[int, int] | None = None,
                 kernel_flags: frozenset[str] | None = None) -> None:
        self.leaves, self.msrs, self.kernel_flags = leaves, msrs or {}, kernel_flags
        self.ranges = cf.leaf_ranges(leaves)
        _, self.family, self.model, _ = cf.signature(leaves)

    def bit(self, leaf: int, register: int, bit: int) -> bool | None:
        """A CPUID bit of subleaf 0, None when the leaf is above the reported max."""
        if not self.ranges.leaf_valid(leaf):
            return None
        return bool(self.leaves.get(leaf)[register] >> bit & 1)


class HostFacts(NamedTuple):
    """Host-wide evidence: SMT state and whether /dev/kvm exists."""

    smt_control: str | None = None
    smt_active: str | None = None
    kvm_device: bool = False


def _msr_evidence(name: str, index: int, value: int, bit: int, meaning: str) -> str:
    return f"{name} ({index:#x}) = {value:#x}: bit {bit} ({meaning}) = {value >> bit & 1}"


def _misc_enable(cpu: CpuFacts, bit: int, meaning: str) -> str:
    return _msr_evidence("IA32_MISC_ENABLE", IA32_MISC_ENABLE, cpu.msrs[IA32_MISC_ENABLE], bit, meaning)


def nx_disabled(cpu: CpuFacts, host: HostFacts) -> Verdict:
    nx, lm = cpu.bit(0x80000001, EDX, 20), cpu.bit(0x80000001, EDX, 29)
    if cpu.msrs.get(IA32_MISC_ENABLE, 0) >> 34 & 1:
        return "found", "msr", _misc_enable(cpu, 34, "XD disable")
    if nx:
        return "not-found", "", "CPUID 0x80000001 EDX[20] (NX) = 1"
    if lm:
        return "found", "inferred", "CPUID 0x80000001 EDX[20] (NX) = 0 on a 64-bit CPU (EDX[29] LM = 1)"
    return "unknown", "", "CPUID reports neither NX nor LM"


def limit_cpuid_maxval(cpu: CpuFacts, host: HostFacts) -> Verdict:
    max_basic = cpu.ranges.max_basic
    if cpu.msrs.get(IA32_MISC_ENABLE, 0) >> 22 & 1:
        return "found", "msr", _misc_enable(cpu, 22, "Limit CPUID Maxval")
    if max_basic > 3:
        return "not-found", "", f"max basic leaf {max_basic:#x}"
    if cpu.bit(0x80000001, EDX, 29) or (cpu.family == 6 and (cpu.model or 0) >= 0x0F) or (cpu.family or 0) > 0xF:
        return "found", "inferred", (f"max basic leaf {max_basic:#x} on family {cpu.family:#x} model {cpu.model:#x}"
                                     f"{' with long mode (LM)' if cpu.bit(0x80000001, EDX, 29) else ''}")
    return "unknown", "", f"max basic leaf {max_basic:#x} on family {cpu.family:#x} model {cpu.model:#x}"


def vt_disabled(cpu: CpuFacts, host: HostFacts) -> Verdict:
    if IA32_FEATURE_CONTROL in cpu.msrs:
        value = cpu.msrs[IA32_FEATURE_CONTROL]
        evidence = (f"IA32_FEATURE_CONTROL (0x3a) = {value:#x}: lock (bit 0) = {value & 1}, "
                    f"VMX outside SMX (bit 2) = {value >> 2 & 1}")
        return ("found" if value & 1 and not value >> 2 & 1 else "not-found"), "msr", evidence
    if VM_CR in cpu.msrs:
        value = cpu.msrs[VM_CR]
        evidence = _msr_evidence("VM_CR", VM_CR, value, 4, "SVMDIS")
        return ("found", "msr-amd", evidence) if value >> 4 & 1 else ("not-found", "msr", evidence)
    vmx = cpu.bit(1, ECX, 5)
    svm = cpu.ranges.vendor_family == "amd" and cpu.bit(0x80000001, ECX, 2)
    hypervisor = _hypervisor_name(cpu)
    if not vmx and not svm:
        evidence = "CPUID reports neither VMX (1 ECX[5]) nor SVM (0x80000001 ECX[2]); MSRs not read"
        if hypervisor:
            return "unknown", "hypervisor", f"{evidence}; running under {hypervisor}"
        return "unknown", "absent", evidence
    name = "vmx" if vmx else "svm"
    flags = cpu.kernel_flags
    if name == "vmx" and flags is not None and "vmx" not in flags:
        return "found", "kernel", "CPUID reports VMX but /proc/cpuinfo has no vmx flag"
    if host.kvm_device:
        return "not-found", "kvm", f"CPUID reports {name.upper()} and /dev/kvm exists"
    if name == "vmx" and flags is not None:
        return "not-found", "kernel", "CPUID reports VMX and /proc/cpuinfo keeps the vmx flag"
    return "unknown", "inferred", "CPUID reports SVM; VM_CR not readable; no /dev/kvm"


def aes_disabled(cpu: CpuFacts, host: HostFacts) -> Verdict:
    vendor, family, model = cpu.ranges.vendor_family, cpu.family or 0, cpu.model or 0
    signature = f"family {family:#x} model {model:#x}"
    if cpu.bit(1, ECX, 25):
        return "not-found", "", "CPUID 1 ECX[25] (AES) = 1"
    known = (vendor == "intel" and family == 6 and model >= 0x2A) or (vendor == "amd" and family >= 0x15)
    if known:
        return "found", "", f"CPUID 1 ECX[25] (AES) = 0 on {vendor.upper()} {signature}, a model with AES-NI"
    return "unknown", "", f"CPUID 1 ECX[25] (AES) = 0 on {vendor} {signature}"


def monitor_disabled(cpu: CpuFacts, host: HostFacts) -> Verdict:
    vendor, family, model = cpu.ranges.vendor_family, cpu.family or 0, cpu.model or 0
    if cpu.bit(1, ECX, 3):
        return "not-found", "", "CPUID 1 ECX[3] (MONITOR) = 1"
    if vendor == "intel" and IA32_MISC_ENABLE in cpu.msrs and not cpu.msrs[IA32_MISC_ENABLE] >> 18 & 1:
        return "found", "msr", _misc_enable(cpu, 18, "ENABLE MONITOR FSM")
    hypervisor = _hypervisor_name(cpu)
    if hypervisor:
        return "unknown", "hypervisor", f"CPUID 1 ECX[3] (MONITOR) = 0; running under {hypervisor}"
    known = (vendor == "intel" and family == 6 and model >= 0x0F) or (vendor == "amd" and family >= 0x10)
    if known:
        return "found", "inferred", f"CPUID 1 ECX[3] (MONITOR) = 0 on {vendor.upper()} family {family:#x} model {model:#x}"
    return "unknown", "", f"CPUID 1 ECX[3] (MONITOR) = 0 on {vendor} family {family:#x} model {model:#x}"


def _hypervisor_name(cpu: CpuFacts) -> str | None:
    """The hypervisor's name, or a neutral phrase when its signature is not printable text."""
    name = cf.hypervisor(cpu.leaves, cpu.ranges)
    return name if name is None or (name.isascii() and name.isprintable()) else "an unidentified hypervisor"


def hypervisor(cpu: CpuFacts, host: HostFacts) -> Verdict:
    name = _hypervisor_name(cpu)
    if cpu.bit(1, ECX, 31):
        signature = f"; leaf 0x40000000 says {name}" if name else ""
        return "found", "", f"CPUID 1 ECX[31] (hypervisor) = 1{signature}"
    return "not-found", "", "CPUID 1 ECX[31] (hypervisor) = 0"


def smt_off(host: HostFacts) -> Verdict:
    control, active = host.smt_control, host.smt_active
    evidence = f"/sys/devices/system/cpu/smt: control = {control}, active = {active}"
    if control is None:
        return "unknown", "", "/sys/devices/system/cpu/smt/control not readable"
    if control in ("off", "forceoff"):
        return "found", "kernel", evidence
    if control in ("notsupported", "notimplemented"):
        return "found", "unsupported", evidence
    if active == "0":
        return "found", "inactive", evidence
    return "not-found", "", evidence


#: Per-CPU findings, in report order; ``smt-off`` is host-wide.
PER_CPU: tuple[tuple[str, Callable[[CpuFacts, HostFacts], Verdict]], ...] = (
    ("hypervisor", hypervisor),
    ("nx-disabled", nx_disabled),
    ("limit-cpuid-maxval", limit_cpuid_maxval),
    ("vt-disabled", vt_disabled),
    ("aes-disabled", aes_disabled),
    ("monitor-disabled", monitor_disabled),
)


@cache
def explanations() -> dict[tuple[str, str, str], str]:
    return {(r["id"], r["status"], r["case"]): r["explanation"] for r in rows("bios-findings.csv")}


def explain(finding: str, status: str, case: str) -> str:
    table = explanations()
    return table.get((finding, status, case)) or table.get((finding, status, ""), "")


def merge(finding: str, verdicts: dict[int, Verdict]) -> dict:
    """One finding from per-CPU verdicts: the worst status any CPU has, and those CPUs."""
    status = next(s for s in STATUS_ORDER if any(v[0] == s for v in verdicts.values()))
    chosen = {cpu: v for cpu, v in verdicts.items() if v[0] == status}
    groups: dict[str, list[int]] = {}
    for cpu, (_, _, evidence) in chosen.items():
        groups.setdefault(evidence, []).append(cpu)
    if len(groups) == 1:
        evidence = next(iter(groups))
    else:
        evidence = "; ".join(f"CPUs {format_cpu_list(cpus)}: {text}" for text, cpus in groups.items())
    others = sorted(set(verdicts) - set(chosen))
    if others:
        evidence += f" (CPUs {format_cpu_list(others)}: {verdicts[others[0]][0]})"
    case = next(iter(chosen.values()))[1]
    return {"id": finding, "status": status, "evidence": evidence,
            "explanation": explain(finding, status, case), "cpus": sorted(chosen)}


def evaluate(cpus: list[CpuFacts], host: HostFacts) -> list[dict]:
    """Every finding for these CPUs (in ``PER_CPU`` order, then smt-off)."""
    findings = [merge(name, {c.leaves.index: check(c, host) for c in cpus}) for name, check in PER_CPU]
    status, case, evidence = smt_off(host)
    findings.append({"id": "smt-off", "status": status, "evidence": evidence,
                     "explanation": explain("smt-off", status, case), "cpus": [c.leaves.index for c in cpus]})
    return findings
