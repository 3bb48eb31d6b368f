"""Per-VM CPUID masks: one plan (``plan.py``), one renderer module per hypervisor format.

``FORMATS`` is the registry: format name -> ``renderer(plan, options) -> str``. It is the one
place to add a mask format (a module here with ``render(plan, options)``, its name below, a
paragraph in the README's ``cpucompat mask`` section and ``tests/masks/test_<module>.py``;
``tests/masks/test_registry.py`` checks the last two), and the CLI's ``--format`` choices come
from it. Every output starts with a comment naming what is hidden and which target hosts lack
it (``plan.header_lines``). Renderers and the plan import on first use: the CLI reads the
format names without loading the feature table.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from importlib import import_module
from typing import TYPE_CHECKING

from ..errors import UsageError

if TYPE_CHECKING:
    from .plan import MaskPlan


@dataclass(frozen=True)
class MaskOptions:
    qemu_base: str = "host"  # -cpu BASE for the qemu format: host, max or a model
    libvirt_mode: str = "custom"  # custom (closest named model) or host-passthrough
    name: str = ""  # model / profile name where the format needs one


def _lazy(module: str) -> Callable[[MaskPlan, MaskOptions], str]:
    """The ``render`` of ``masks/<module>.py``, imported on first use (not when the CLI reads the names)."""
    def render(plan: MaskPlan, options: MaskOptions) -> str:
        return import_module(f".{module}", __name__).render(plan, options)
    return render


#: Mask format name (as the CLI spells it) -> its renderer. The one place to add a format.
FORMATS: dict[str, Callable[[MaskPlan, MaskOptions], str]] = {
    name: _lazy(name.replace("-", "_"))  # masks/<name>.py, - as _
    for name in ("vmx", "featmask", "qemu", "libvirt", "xen", "xen-legacy", "proxmox", "kubevirt")
}


def render(plan: MaskPlan, fmt: str, options: MaskOptions = MaskOptions()) -> str:
    """The mask in one format's configuration language."""
    renderer = FORMATS.get(fmt)
    if renderer is None:
        raise UsageError(f"unknown mask format {fmt!r} (expected one of {', '.join(FORMATS)})")
    return renderer(plan, options)


def __getattr__(name: str):
    """The plan (decode, baselines, the feature table) loads when a mask is made, not when the
    CLI reads ``FORMATS``."""
    if name in {"MaskPlan", "plan_for_baseline", "plan_for_hosts"}:
        from . import plan

        return getattr(plan, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["FORMATS", "MaskOptions", "MaskPlan", "plan_for_baseline", "plan_for_hosts", "render"]
