"""Per-VM CPUID masks: one plan (``plan.py``), one renderer module per hypervisor format.

Each format module exposes ``render(plan, options) -> str``; ``FORMATS`` maps the CLI's
format names to them. Every output starts with a comment naming what is hidden and which
target hosts lack it (``plan.header_lines``).
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass

from ..errors import UsageError
from .plan import MaskPlan, plan_for_baseline, plan_for_hosts

#: CLI format name -> module under cpucompat.masks that renders it.
FORMATS = {
    "vmx": "vmx",
    "featmask": "featmask",
    "qemu": "qemu",
    "libvirt": "libvirt",
    "xen": "xen",
    "xen-legacy": "xen_legacy",
    "proxmox": "proxmox",
    "kubevirt": "kubevirt",
}


@dataclass(frozen=True)
class MaskOptions:
    qemu_base: str = "host"  # -cpu BASE for the qemu format: host, max or a model
    libvirt_mode: str = "custom"  # custom (closest named model) or host-passthrough
    name: str = ""  # model / profile name where the format needs one


def render(plan: MaskPlan, fmt: str, options: MaskOptions = MaskOptions()) -> str:
    """The mask in one format's configuration language."""
    if fmt not in FORMATS:
        raise UsageError(f"unknown mask format {fmt!r} (expected one of {', '.join(FORMATS)})")
    module = importlib.import_module(f".{FORMATS[fmt]}", __name__)
    return module.render(plan, options)


__all__ = ["FORMATS", "MaskOptions", "MaskPlan", "plan_for_baseline", "plan_for_hosts", "render"]
