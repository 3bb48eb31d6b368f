"""Which per-VM mask `vsphere apply-evc` can apply, and the legacy one: ``config.cpuFeatureMask``.

The vSphere API decides it:

- ``ApplyEvcModeVM_Task`` (per-VM EVC) exists since vSphere API 6.7 (pyVmomi: ``vim.version.version12``,
  "6.7"), so vCenter and the VM's host must both speak 6.7 or later, and vCenter takes it only for
  hardware version 14 and later (the per-VM EVC requirements);
- ``VirtualMachineCpuIdInfoSpec`` (the ``cpuFeatureMask`` of a ``ReconfigVM_Task``, CpuIdInfo bit
  strings of VMware KB 1993) "should be used only to mask hardware version 8 and lower"; for
  hardware version 9 and later the mask is FeatureMask (``featMask.vm.cpuid.<NAME>``, extraConfig).

So: hardware version 14+ on 6.7+ -> per-VM EVC; hardware version 8 and older -> cpuFeatureMask,
on any host; anything else is refused with the reason. The legacy mask of a mode hides every
instruction (features of kind ``isa``) of the mode's vendor that the mode lacks, where a legacy
key can say it (``masks.vmx.key``: plain leaves and leaf 7 subleaf 0), and lowers the max basic
and extended leaf where the mode's featureMask gives them; FAMILY, MODEL and STEPPING stay the
host's. The CpuIdInfo ``vendor`` is left unset (the mask applies to the VM whatever the vendor).
"""

from __future__ import annotations

import re

from .. import levels
from ..cpuid_fields import vendor_families
from ..dump import REGISTERS
from ..knowledge.features import feature_table
from ..knowledge.vmware import vmware_keys
from ..masks.bits import Forced
from ..masks.vmx import key as legacy_key
from .evc_vmx import MIN_HARDWARE_VERSION, hardware_version

PER_VM_EVC_API = (6, 7)
LEGACY_MAX_HARDWARE_VERSION = 8
PER_VM_EVC, CPU_FEATURE_MASK = "ApplyEvcModeVM_Task", "ReconfigVM_Task cpuFeatureMask"


def api_at_least(version: str | None, minimum: tuple[int, int] = PER_VM_EVC_API) -> bool:
    """``"7.0.3.0"`` >= (6, 7); False when unknown."""
    numbers = [int(n) for n in re.findall(r"\d+", version or "")[:2]]
    return len(numbers) == 2 and tuple(numbers) >= minimum


def choose(vm: dict, vcenter_api: str | None, host_api: str | None) -> tuple[str | None, str | None]:
    """(method, None) or (None, why vCenter would refuse) for this VM record."""
    if vm.get("power_state") != "poweredOff":
        return None, f"VM {vm['name']} is {vm.get('power_state')}: a per-VM CPU mask is applied to a powered-off VM only"
    version = hardware_version(vm.get("hardware_version")) or 0
    has_evc = api_at_least(vcenter_api) and api_at_least(host_api)
    if version >= MIN_HARDWARE_VERSION and has_evc:
        return PER_VM_EVC, None
    if 0 < version <= LEGACY_MAX_HARDWARE_VERSION:
        return CPU_FEATURE_MASK, None
    if version >= MIN_HARDWARE_VERSION:
        return None, (f"per-VM EVC (ApplyEvcModeVM_Task) needs vSphere API 6.7 on vCenter and on the VM's host; "
                      f"vCenter speaks {vcenter_api}, host {vm.get('host')} {host_api}")
    return None, (f"VM {vm['name']} has hardware version {vm.get('hardware_version')}: per-VM EVC needs "
                  f"vmx-{MIN_HARDWARE_VERSION} or later (upgrade the VM's compatibility first), and the legacy "
                  f"cpuFeatureMask is for hardware version {LEGACY_MAX_HARDWARE_VERSION} and older only; for this "
                  "VM put `cpucompat mask VM --evc MODE --format featmask` lines in its extraConfig")


def forced(mode) -> dict[tuple[int, str], Forced]:
    """(leaf, register) -> the bits the legacy mask of this mode forces."""
    from ..evc import mode_scalars

    table = feature_table()
    keep = table.with_mirrors(set(mode.features) | set(vmware_keys()["always_exposed"]))
    family = vendor_families().get(mode.vendor)
    out: dict[tuple[int, str], Forced] = {}
    for feature in table.features:
        if feature.kind != "isa" or feature.name in keep or feature.vendor not in ("any", family):
            continue
        if legacy_key(feature.leaf, feature.subleaf, feature.reg) is not None:
            out.setdefault((feature.leaf, feature.reg), Forced()).zeros |= feature.mask
    for name, (value, _source) in mode_scalars(mode).items():
        field = levels.by_name().get(name)
        if field is not None and field.lowerable and field.width <= 32:
            out.setdefault((field.leaf, field.register), Forced()).force(field.lowest, field.width, value)
    order = {r: i for i, r in enumerate(REGISTERS)}
    return {k: out[k] for k in sorted(out, key=lambda k: (k[0], order[k[1]]))}


def cpuid_info(mode) -> list[dict]:
    """The CpuIdInfo entries (API form: 32 characters, bit 31 first, ``:`` every 4 bits; ``-``
    keeps the default): ``{"level": 1, "ecx": "----:...", ...}`` per leaf, registers left alone
    as all ``-``."""
    entries: dict[int, dict] = {}
    for (leaf, register), bits in forced(mode).items():
        entry = entries.setdefault(leaf, {"level": leaf, **{r: Forced().string("-", ":") for r in REGISTERS}})
        entry[register] = bits.string("-", ":")
    return list(entries.values())


def render(mode, vm_name: str) -> str:
    """The change, as `vsphere apply-evc` prints it before applying it."""
    from ..text import printable

    lines = [f"# legacy per-VM CPUID mask for EVC mode {mode.key} ({mode.label}) for {printable(vm_name)}: "
             "ReconfigVM_Task config.cpuFeatureMask (CpuIdInfo, VMware KB 1993; hardware version 8 and older)",
             "# hides the instructions the mode lacks and lowers the max leaves to the mode's; "
             "FAMILY, MODEL and STEPPING stay the host's"]
    for entry in cpuid_info(mode):
        lines += [f'cpuFeatureMask[level {entry["level"]:#x}].{r} = "{entry[r]}"' for r in REGISTERS
                  if set(entry[r]) != {"-", ":"}]
    return "\n".join(lines) + "\n"


def apply(si, vm_moid: str, mode, present_levels: set[int]) -> None:
    """One ReconfigVM_Task whose cpuFeatureMask sets the mode's entries (edit where the VM already
    has a mask for the level, add otherwise); waits for the task."""
    from pyVim.task import WaitForTask
    from pyVmomi import vim

    vm = vim.VirtualMachine(vm_moid, si._stub)
    specs = []
    for entry in cpuid_info(mode):
        level = entry["level"] - (1 << 32) if entry["level"] >= 1 << 31 else entry["level"]  # xsd:int
        info = vim.host.CpuIdInfo(level=level, **{r: entry[r] for r in REGISTERS})
        operation = "edit" if entry["level"] in present_levels else "add"
        specs.append(vim.vm.ConfigSpec.CpuIdInfoSpec(operation=operation, info=info))
    WaitForTask(vm.ReconfigVM_Task(vim.vm.ConfigSpec(cpuFeatureMask=specs)))
