"""What a per-VM mask must hide, independent of any hypervisor's syntax.

The VM keeps the CPU it sees now (VM_INPUT). To run on every target it must lose exactly the
features of VM_INPUT that the target baseline lacks, plus everything that depends on them
(hiding avx hides avx2, fma, f16c, the avx512 family ...), plus the XSAVE state components
those features own (leaf 0xD follows the features), and its max leaves and address bits must
not exceed the targets'. OS-dependent bits (OSXSAVE, OSPKE) follow from the hidden features
and CR4 and are never masked themselves; neither is the hypervisor bit, which every
hypervisor sets for its guests. By default only guest-visible features are judged (see
``cluster``): host-only bits (HWP, EST, SMX, VMX without nesting ...) are no guest's to lose and
bits KVM emulates on every host (x2apic, tsc-deadline, arat) are not lost, so neither is hidden;
the header names the host-only ones the targets lack. ``Policy(all_bits=True)`` hides them too.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .. import levels
from ..knowledge import baselines
from ..cluster import Policy, cluster_baseline, host_only_left_out, usable_features
from ..cpuid_fields import xsave_component_names, xsave_components
from ..decode import Decoded
from ..dump import CpuLeaves
from ..errors import CpuCompatError
from ..knowledge.features import feature_table

#: Bits a hypervisor sets for every guest: never part of a mask.
NEVER_HIDDEN = frozenset({"hypervisor"})
#: Named-baseline kinds that list instructions only (see ``baseline_target``).
ISA_ONLY_KINDS = frozenset({"evc", "psabi"})
#: The QEMU model psABI levels stand on.
PSABI_FLOOR = "qemu64-v1"


class VendorMismatch(CpuCompatError):
    """The VM's CPU vendor differs from the targets': no CPUID mask can change the vendor."""


@dataclass
class MaskPlan:
    """The format-neutral content of a mask."""

    vm_name: str
    vm_vendor: str
    vm_features: frozenset[str]
    vm_cpu: CpuLeaves | None
    target_label: str
    target_features: frozenset[str]
    hidden: tuple[str, ...]
    lacking: dict[str, list[str]]
    xsave_hidden: int = 0
    lower: dict[str, int] = field(default_factory=dict)
    host_only: tuple[str, ...] = ()  # the VM's host-only bits the targets lack: not hidden
    policy: Policy = Policy()

    @property
    def kept(self) -> frozenset[str]:
        return self.vm_features - set(self.hidden)

    @property
    def empty(self) -> bool:
        return not (self.hidden or self.lower or self.xsave_hidden)


def maskable(name: str, policy: Policy | None = None) -> bool:
    """Whether a mask may name this feature: not OS state (OSXSAVE, OSPKE), not the hypervisor bit;
    under a ``policy`` without all_bits, neither host-only nor emulated by KVM on every host."""
    return (name not in NEVER_HIDDEN and feature_table().by_name[name].kind != "os"
            and (policy is None or name not in policy.never_blocking()))


def hidden_features(vm_features: frozenset[str], target_features: frozenset[str],
                    policy: Policy = Policy()) -> tuple[str, ...]:
    """The VM's features the target lacks, closed under dependents, restricted to the VM's own."""
    missing = {n for n in vm_features - target_features if maskable(n, policy)}
    closed = feature_table().dependents(missing) & vm_features
    return tuple(sorted(n for n in closed if maskable(n, policy)))


def xsave_bits_to_hide(hidden: tuple[str, ...], vm: Decoded, target_fields: dict | None) -> int:
    """XCR0/XSS component bits owned by hidden features, or absent on the targets."""
    owned = {i for i, row in xsave_components().items() if row["feature"] and row["feature"] in hidden}
    bits = sum(1 << i for i in owned) | levels.lacking(vm.fields, target_fields or {})
    return bits & levels.lacking(vm.fields, {name: 0 for name in levels.names("and")})


def _lowered(vm: Decoded, target_fields: dict) -> dict[str, int]:
    """The targets' values of the lowerable quantities (``levels``) the VM exceeds."""
    table = levels.by_name()
    return {name: theirs for name, (_, theirs) in levels.lower(vm.fields, target_fields).items()
            if table[name].lowerable}


def _check_vendor(vm: Decoded, vendor: str | None, label: str) -> None:
    if vendor is not None and vendor != vm.vendor:
        raise VendorMismatch(
            f"the VM's CPU is {vm.vendor} but {label} is {vendor}: a CPUID mask cannot change the "
            "vendor; use a vendor-neutral model instead (--qemu-model qemu64-v1 or x86-64-v2)")


def plan_for_hosts(vm: Decoded, targets: list[Decoded], policy: Policy = Policy()) -> MaskPlan:
    """Mask a VM so that it can run on every target host."""
    if not targets:
        raise CpuCompatError("no target given")
    for target in targets:
        _check_vendor(vm, target.vendor, f"target {target.name}")
    common = cluster_baseline(targets, policy)
    hidden = hidden_features(vm.features, common.features, policy)
    lacking = {n: [t.name for t in targets if n not in usable_features(t.features, policy)] for n in hidden}
    raw = common if policy.all_bits else cluster_baseline(targets, policy.raw())  # what the targets have
    return MaskPlan(
        vm_name=vm.name, vm_vendor=vm.vendor, vm_features=vm.features,
        vm_cpu=vm_cpu(vm), target_label=", ".join(t.name for t in targets),
        target_features=raw.features, hidden=hidden,
        lacking={n: hosts or ["(depends on a hidden feature)"] for n, hosts in lacking.items()},
        xsave_hidden=xsave_bits_to_hide(hidden, vm, common.fields),
        lower=_lowered(vm, common.fields),
        host_only=tuple(sorted(host_only_left_out(vm.features, policy) - raw.features)), policy=policy,
    )


def baseline_target(vm: Decoded, baseline: baselines.Baseline, policy: Policy = Policy()) -> frozenset[str]:
    """The features a VM masked down to a named baseline may keep.

    QEMU models are complete CPUs. EVC modes and psABI levels list instructions only (features
    of kind ``isa``), so the VM's other features (apic, mce, security and topology bits) stay as
    they are; psABI levels stand on QEMU's 64-bit floor, ``qemu64`` (pae, nx, tsc, msr ...), as
    QEMU's and Proxmox's x86-64-vN models do.
    """
    table = feature_table()
    features = set(table.with_mirrors(baseline.features))  # named baselines omit AMD's copies
    if baseline.kind in ISA_ONLY_KINDS:
        features |= {n for n in vm.features if table.by_name[n].kind != "isa"}
        if baseline.kind == "psabi":
            features |= table.with_mirrors(baselines.get(PSABI_FLOOR).features)
    return usable_features(features, policy)


def plan_for_baseline(vm: Decoded, key: str, policy: Policy = Policy()) -> MaskPlan:
    """Mask a VM down to a named baseline (an EVC mode, a QEMU model, a psABI level)."""
    baseline = baselines.get(key)
    _check_vendor(vm, baseline.vendor, f"{baseline.kind} baseline {baseline.key}")
    target = baseline_target(vm, baseline, policy)
    hidden = hidden_features(vm.features, target, policy)
    raw = baseline_target(vm, baseline, policy.raw())  # what the baseline has
    direct = set(vm.features - target)
    return MaskPlan(
        vm_name=vm.name, vm_vendor=vm.vendor, vm_features=vm.features, vm_cpu=vm_cpu(vm),
        target_label=f"{baseline.kind} baseline {baseline.key}", target_features=raw, hidden=hidden,
        lacking={n: [baseline.key] if n in direct else ["(depends on a hidden feature)"] for n in hidden},
        xsave_hidden=xsave_bits_to_hide(hidden, vm, None),
        host_only=tuple(sorted(host_only_left_out(vm.features, policy) - raw)),
        policy=policy,
    )


def vm_cpu(vm: Decoded) -> CpuLeaves | None:
    """CPU 0's raw leaves, which bit-level formats (vmx, xen-legacy) need."""
    return vm.cpus[0] if vm.cpus else None


def header_lines(plan: MaskPlan) -> list[str]:
    """The comment every mask starts with: what is hidden and which targets lack it."""
    lines = [f"cpucompat mask for VM {plan.vm_name} ({plan.vm_vendor}) to run on {plan.target_label}"]
    if not plan.hidden:
        lines.append("hides nothing: the targets offer every feature this VM sees")
    for name in plan.hidden:
        lines.append(f"hide {name}: lacking on {', '.join(plan.lacking[name])}")
    if plan.xsave_hidden:
        hidden = " ".join(xsave_component_names(plan.xsave_hidden))
        lines.append(f"hide XSAVE components {hidden} (mask {plan.xsave_hidden:#x}, CPUID leaf 0xD)")
    if plan.host_only:
        lines.append(f"not hidden, host-only (no guest sees them): {' '.join(plan.host_only)}")
    for name, value in plan.lower.items():
        lines.append(f"lower {name} to {levels.by_name()[name].text(value)}")
    return lines
