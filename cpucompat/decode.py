"""Decode a ``Dump`` into named features and levelled scalar fields.

A note on the three views a fingerprint keeps. *Raw CPUID* is what the hardware (or the
hypervisor below us) reports, and it is what a guest sees; it is the truth for migration.
*XCR0* says which register states the OS enabled: a CPU may report AVX while the OS has not
enabled YMM state, so the OS-dependent bits (OSXSAVE 1.ECX[27], OSPKE 7.ECX[4]) describe the
running kernel, not the CPU, and are flagged rather than trusted. *The kernel's view*
(/proc/cpuinfo) is filtered and renamed: Linux hides bits it has disabled (e.g. "RDSEED32 is
broken. Disabling the corresponding CPUID bit." on some AMD parts) and adds synthetic flags
(constant_tsc, rep_good); an input that has only that view is decoded in degraded mode.

Bits are never read from a leaf above the maximum the CPU reports for its range (Intel
echoes the highest basic leaf there), nor from a subleaf the leaf's own rule says does not exist,
nor from a vendor-specific leaf range of another vendor (``knowledge/cpuid_layout.py``).

For a multi-CPU dump, ``features`` is what all CPUs share, and a warning lists per-CPU
differences (hybrid P/E cores, mixed microcode, BIOS settings applied to some sockets only).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache

from . import cpuid_fields as cf
from . import levels
from .cpulist import format_cpu_list
from .dump import CpuLeaves, Dump, KernelCpu
from .errors import InputError
from .knowledge.cpuid_layout import vendor_allows
from .knowledge.features import feature_table
from .text import printable

#: Fields that must agree on every CPU of one host; a difference is warned about.
CONSISTENCY_FIELDS = ("signature", *levels.names(), "core_type", "microcode")


@dataclass
class Identity:
    """What a CPU says of itself, decoded; for a whole input, what all its CPUs share."""

    vendor: str
    family: int | None
    model: int | None
    stepping: int | None
    brand: str
    features: frozenset[str]
    fields: dict


@dataclass
class CpuDecode(Identity):
    """One logical CPU, decoded."""

    index: int = 0


@dataclass
class Decoded(Identity):
    """A whole input, decoded: what every CPU shares, plus the per-CPU detail."""

    path: str = ""
    format: str = ""
    per_cpu: list[CpuDecode] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    degraded: bool = False
    name: str = ""
    findings: list[dict] = field(default_factory=list)
    cpus: list[CpuLeaves] = field(default_factory=list, repr=False)  # the raw leaves decoded

    @property
    def vendor_family(self) -> str:
        return cf.vendor_families().get(self.vendor, "other")


@lru_cache(maxsize=65536)
def _features_in_register(location: tuple[int, int, str], value: int) -> frozenset[str]:
    return frozenset(f.name for f in feature_table().by_location[location] if value >> f.bit & 1)


def cpu_features(cpu: CpuLeaves, ranges: cf.LeafRanges) -> frozenset[str]:
    """Canonical names of the features whose bits are set in valid leaves of one CPU."""
    found: set[str] = set()
    for location in feature_table().by_location:
        leaf, subleaf, register = location
        if not (ranges.leaf_valid(leaf) and cf.subleaf_valid(cpu, leaf, subleaf)
                and vendor_allows(leaf, ranges.vendor_family)):
            continue
        value = cpu.reg(leaf, subleaf, register)
        if value:
            found |= _features_in_register(location, value)
    return frozenset(found)


def _mode_dependent(features: frozenset[str], vendor_family: str) -> tuple[frozenset[str], dict[str, str]]:
    """Bits whose value depends on the mode the dumping program ran in.

    Intel reports SYSCALL (0x80000001 EDX[11]) only to 64-bit code (Intel SDM Vol. 2A, CPUID:
    "SYSCALL/SYSRET available in 64-bit mode"), so a dump taken by a 32-bit program on a
    64-bit CPU lacks it although every 64-bit guest sees it.
    """
    if vendor_family == "intel" and "lm" in features and "syscall" not in features:
        return features | {"syscall"}, {"syscall": "Intel reports it only to 64-bit code; this dump was taken in 32-bit mode"}
    return features, {}


def _os_dependent(features: frozenset[str]) -> list[str]:
    table = feature_table()
    return sorted(n for n in features if table.by_name[n].kind == "os")


def decode_cpu(cpu: CpuLeaves, kernel: KernelCpu | None = None) -> CpuDecode:
    """Decode one logical CPU's raw leaves."""
    ranges = cf.leaf_ranges(cpu)
    raw_eax, family, model, stepping = cf.signature(cpu)
    phys, virt = cf.address_bits(cpu, ranges)
    features, inferred = _mode_dependent(cpu_features(cpu, ranges), ranges.vendor_family)
    fields = {
        "signature": f"{raw_eax:#010x}",
        "max_basic_leaf": ranges.max_basic,
        "max_extended_leaf": ranges.max_extended if ranges.max_extended >= cf.EXTENDED_BASE else None,
        "max_hypervisor_leaf": ranges.max_hypervisor if ranges.max_hypervisor >= cf.HYPERVISOR_BASE else None,
        "phys_addr_bits": phys,
        "virt_addr_bits": virt,
        "hypervisor": _shown(cf.hypervisor(cpu, ranges)),
        "core_type": cf.core_type(cpu, ranges),
        "xcr0": cpu.xcr0,
        "os_dependent": _os_dependent(features),
        "inferred": inferred,
        "microcode": kernel.microcode if kernel else None,
        **cf.xsave_state(cpu, ranges),
    }
    return CpuDecode(printable(cf.vendor_string(cpu)), family, model, stepping,
                     printable(cf.brand_string(cpu, ranges)), features, fields, index=cpu.index)


def _shown(text: str | None) -> str | None:
    """Register text (vendor, brand, hypervisor) as it may be shown: control bytes escaped."""
    return None if text is None else printable(text)


def decode_kernel_cpu(kernel: KernelCpu) -> CpuDecode:
    """Degraded decode of one CPU from the kernel's flags alone."""
    linux = feature_table().by_vocabulary["linux"]
    features = {linux[flag].name for flag in kernel.flags if flag in linux}
    fields = {"signature": None, "microcode": kernel.microcode or None,
              "os_dependent": _os_dependent(frozenset(features))}
    return CpuDecode(printable(kernel.vendor_id), kernel.family, kernel.model, kernel.stepping,
                     printable(kernel.model_name), frozenset(features), fields, index=kernel.index)


def _difference_warnings(per_cpu: list[CpuDecode]) -> list[str]:
    """One warning per field or feature on which the CPUs of this input disagree."""
    warnings = []
    for name in CONSISTENCY_FIELDS:
        groups: dict[object, list[int]] = {}
        for cpu in per_cpu:
            groups.setdefault(cpu.fields.get(name), []).append(cpu.index)
        if len(groups) > 1:
            detail = "; ".join(f"{value!s} on CPUs {format_cpu_list(cpus)}" for value, cpus in groups.items())
            warnings.append(f"CPUs differ in {name}: {detail}")
    everywhere = frozenset.intersection(*(c.features for c in per_cpu))
    uneven: dict[str, list[int]] = {}
    for cpu in per_cpu:
        for name in cpu.features - everywhere:
            uneven.setdefault(name, []).append(cpu.index)
    for name, cpus in sorted(uneven.items()):
        warnings.append(f"feature {name} only on CPUs {format_cpu_list(cpus)} of {len(per_cpu)}; left out")
    return warnings


def _shared_fields(per_cpu: list[CpuDecode]) -> dict:
    """Host-level fields: CPU 0's, with the levelled fields (``levels``) of the weakest CPU, and a
    hybrid CPU's core types all named."""
    fields = {**per_cpu[0].fields, **levels.level([c.fields for c in per_cpu])}
    core_types = sorted({c.fields["core_type"] for c in per_cpu if c.fields.get("core_type")})
    if len(core_types) > 1:
        fields["core_type"] = "hybrid: " + ", ".join(core_types)
    return fields


def decode(dump: Dump) -> Decoded:
    """Decode every CPU of a dump; the host's features are those all its CPUs share."""
    if dump.cpus:
        for cpu in dump.cpus:
            if not cpu.has(0):
                raise InputError(dump.path, f"CPU {cpu.index} has no CPUID leaf 0 (vendor and highest "
                                            "basic leaf); expected a dump that starts at leaf 0")
        kernels = {k.index: k for k in dump.kernel}
        per_cpu = [decode_cpu(cpu, kernels.get(cpu.index)) for cpu in dump.cpus]
    elif dump.kernel:
        per_cpu = [decode_kernel_cpu(k) for k in dump.kernel]
    else:
        raise InputError(dump.path, "no CPU found in this input")
    warnings = _difference_warnings(per_cpu) if len(per_cpu) > 1 else []
    if dump.degraded:
        warnings.insert(0, "degraded input: /proc/cpuinfo flags only, filtered by the kernel; "
                           "scalar fields unknown")
    first = per_cpu[0]
    return Decoded(
        path=dump.path, format=dump.format, vendor=first.vendor, family=first.family,
        model=first.model, stepping=first.stepping, brand=first.brand,
        features=frozenset.intersection(*(c.features for c in per_cpu)),
        fields=_shared_fields(per_cpu), per_cpu=per_cpu, warnings=warnings,
        degraded=dump.degraded, name=dump.name, findings=list(dump.extra.get("findings") or []),
        cpus=dump.cpus,
    )


def kvm_view(dump: Dump) -> Dump:
    """The CPU a KVM host can present to guests: the fingerprint's KVM_GET_SUPPORTED_CPUID set.

    That, not the raw host CPUID, is what a guest of this host may be given (KVM drops host-only
    bits such as monitor or the performance-monitoring leaves and adds paravirtual ones).
    """
    if dump.kvm_supported is None:
        raise InputError(dump.path, "no KVM-supported CPUID in this input (run cpucompat collect "
                                    "on a host where /dev/kvm is usable)")
    cpu = CpuLeaves(0, dict(dump.kvm_supported.leaves), label="KVM_GET_SUPPORTED_CPUID")
    return Dump(path=dump.path, format=dump.format, cpus=[cpu], host=dump.host,
                notes=[*dump.notes, "decoded from KVM_GET_SUPPORTED_CPUID"],
                extra={"findings": dump.extra.get("findings")})
