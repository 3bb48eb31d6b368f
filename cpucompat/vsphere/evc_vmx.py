"""Per-VM EVC (vSphere 6.7+, hardware version 14+, VM powered off): the mode's featureMask.

vCenter's ``ApplyEvcModeVM_Task(mask, completeMasks=True)`` stores the mode's whole featureMask
with the VM, which ESXi writes to the ``.vmx`` as ``featMask.vm.cpuid.<NAME> = "Val:<n>"`` for
every feature and scalar of the mode, plus ``featureCompat.vm.completeMasks = "TRUE"``. The
mode's featureMask is baselines/evc.json ``feature_mask`` (vCenter's own where captured). ESXi
adds ``featMask.vm.hv.capable`` and ``featMask.vm.vt.realmode`` itself; host-level
``featMask.evc.*`` keys belong to ESXi's /etc/vmware/config and are never written.
"""

from __future__ import annotations

from ..errors import UsageError

MIN_HARDWARE_VERSION = 14


def mode_for(evc: str | None, targets=None):
    """The EVC mode named, or the highest mode every target host offers."""
    from ..knowledge import baselines

    if evc:
        mode = baselines.get(evc)
        if mode.kind != "evc":
            raise UsageError(f"{evc} is a {mode.kind} baseline, not an EVC mode")
        return mode
    from ..evc import cluster_mode

    vendors = {t.vendor for t in targets}
    if len(vendors) != 1:
        raise UsageError("per-VM EVC needs target hosts of one vendor, got " + ", ".join(sorted(vendors)))
    mode = cluster_mode(targets)
    if mode is None:
        raise UsageError("the targets share no EVC mode")
    return mode


def mask_entries(mode) -> list[tuple[str, str]]:
    """(key, value) of the mode's featureMask: ``cpuid.SSE3`` = ``Val:1`` ..."""
    if not mode.feature_mask:
        raise UsageError(f"EVC mode {mode.key} has no featureMask in baselines/evc.json")
    return [(key, value) for key, value, _source in mode.feature_mask]


def render(mode, vm_name: str = "") -> str:
    """The .vmx block of per-VM EVC at this mode."""
    from ..text import printable

    lines = [f"# per-VM EVC {mode.key} ({mode.label}){' for ' + printable(vm_name) if vm_name else ''}: what vCenter's "
             "ApplyEvcModeVM_Task writes to the .vmx",
             f"# VM powered off, hardware version {MIN_HARDWARE_VERSION} or later; or run "
             f"`cpucompat vsphere apply-evc VM {mode.key}` to apply it through vCenter"]
    lines += [f'featMask.vm.{key} = "{value}"' for key, value in mask_entries(mode)]
    lines.append('featureCompat.vm.completeMasks = "TRUE"')
    return "\n".join(lines) + "\n"


def hardware_version(text: str | None) -> int | None:
    try:
        return int(str(text).removeprefix("vmx-"))
    except ValueError:
        return None


def apply(si, vm_moid: str, mode) -> None:
    """ApplyEvcModeVM_Task with the mode's complete featureMask; waits for the task."""
    from pyVim.task import WaitForTask
    from pyVmomi import vim

    vm = vim.VirtualMachine(vm_moid, si._stub)
    mask = [vim.host.FeatureMask(key=key, featureName=key, value=value) for key, value in mask_entries(mode)]
    WaitForTask(vm.ApplyEvcModeVM_Task(mask=mask, completeMasks=True))
