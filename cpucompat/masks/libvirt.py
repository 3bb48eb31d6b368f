"""libvirt domain XML ``<cpu>`` elements (libvirt ``docs/formatdomain.rst``, "CPU model and topology").

Two modes (``--libvirt-mode``):

- ``custom`` (default): ``<cpu mode='custom' match='exact' check='full'>`` with the closest named
  model — the highest QEMU model the VM's kept features satisfy, by its libvirt name —
  ``<feature policy='require'>`` for every kept feature beyond the model and
  ``<feature policy='disable'>`` for what the model would add that the VM must not see. The
  guest then sees exactly model + required features wherever it runs, so whatever the mask hides
  is simply never asked for.
- ``host-passthrough``: ``<cpu mode='host-passthrough' check='none' migratable='on'>`` with a
  ``disable`` for every hidden feature.

Names are those of libvirt 9.0's cpu_map (Debian 12): every later libvirt keeps them, while
newer names (``avx-vnni-int8``, the ``-vN`` model aliases such as ``EPYC-v3``) make libvirt 9.0
refuse the domain with "Unknown CPU feature/model". A hidden or kept feature libvirt 9.0 cannot
name is listed in the comment instead. ``<maxphysaddr mode='emulate' bits='N'/>`` (libvirt 8.7+)
lowers the physical address width; libvirt has no setting for the max leaves, and leaf 0xD
follows the features. The plan's header opens the output as an XML comment.
"""

from __future__ import annotations

from functools import cache
from xml.sax.saxutils import escape

from ..baselines import load_baselines
from ..errors import CpuCompatError, UsageError
from ..features import Feature, feature_table
from .bits import satisfied_models, unowned_xsave
from .consumers import known_names
from .plan import MaskPlan, header_lines, maskable

MODES = ("custom", "host-passthrough")
#: The oldest libvirt whose names the output uses.
LIBVIRT_FLOOR = "9.0"

#: x86 CPU models of libvirt 9.0's cpu_map/index.xml.
MODELS = known_names("libvirt-9.0", "model")

#: x86 feature names of libvirt 9.0's cpu_map/x86_features.xml.
FEATURES = known_names("libvirt-9.0", "feature")

#: CPUID vendor strings -> libvirt's <vendor> names (cpu_map/x86_vendors.xml).
VENDORS = {"GenuineIntel": "Intel", "AuthenticAMD": "AMD", "HygonGenuine": "Hygon"}


def libvirt_name(feature: Feature) -> str:
    """The feature's libvirt name if libvirt 9.0 knows it, else ''."""
    return feature.libvirt if feature.libvirt in FEATURES else ""


#: Kinds of feature a custom <cpu> requires. Other informational bits (ds, tm, est, acpi)
#: and virtualization bits (vmx, svm) of a host dump are not what KVM gives a guest; requiring
#: them would make check='full' refuse to start the VM, so they are left to the hypervisor,
#: unless some QEMU model offers them to guests (arat, x2apic, monitor ...).
REQUIRED_KINDS = frozenset({"isa", "security"})


@cache
def _offered_by_qemu_models() -> frozenset[str]:
    return frozenset().union(*(b.features for b in load_baselines("qemu")))


def _required(name: str) -> bool:
    kind = feature_table().by_name[name].kind
    return maskable(name) and (kind in REQUIRED_KINDS or name in _offered_by_qemu_models())


def closest_model(plan: MaskPlan):
    """The highest QEMU model the VM keeps all features of that libvirt 9.0 names."""
    for model in satisfied_models(plan):
        if model.libvirt_name in MODELS:
            return model
    raise CpuCompatError(f"no libvirt {LIBVIRT_FLOOR} CPU model fits the features VM "
                         f"{plan.vm_name} keeps; use --libvirt-mode host-passthrough")


def _names(features) -> list[str]:
    return sorted({libvirt_name(f) for f in features} - {""})


def _list(features) -> str:
    return ", ".join(sorted(f.name for f in features))


def _comment(lines: list[str]) -> str:
    """An XML comment; '--' may not occur inside one."""
    body = "\n".join(f"  {line}".rstrip() for line in lines)
    while "--" in body:
        body = body.replace("--", "- -")
    return f"<!--\n{body}\n-->"


def _attr(value: str) -> str:
    return escape(value, {"'": "&apos;"})


def _feature(policy: str, name: str) -> str:
    return f"  <feature policy='{policy}' name='{_attr(name)}'/>"


def _common_notes(plan: MaskPlan, hidden_by_name: set[str], passthrough: bool) -> list[str]:
    notes = []
    owned = plan.xsave_hidden & ~unowned_xsave(plan, hidden_by_name)
    if owned:
        notes.append(f"XSAVE components {owned:#x} go with the hidden features "
                     "(QEMU builds CPUID leaf 0xD from the features it offers)")
    if plan.xsave_hidden & ~owned:
        notes.append(f"libvirt cannot hide XSAVE components {plan.xsave_hidden & ~owned:#x}: "
                     "QEMU drops a component only with the feature that owns it")
    for name in ("max_basic_leaf", "max_extended_leaf"):
        if name in plan.lower:
            where = ("host-passthrough passes the host's value through" if passthrough else
                     "the model's own value applies (QEMU raises it to cover the features)")
            notes.append(f"libvirt has no setting for {name} ({plan.lower[name]:#x} wanted): "
                         f"{where}; the qemu format can lower it (level=, xlevel=)")
    if passthrough and "phys_addr_bits" in plan.lower:
        notes.append("maxphysaddr: QEMU 7.2's host model keeps host-phys-bits=on under KVM, which "
                     "overrides phys-bits; mode custom (a named model) lowers it reliably")
    return notes


def _custom(plan: MaskPlan) -> tuple[list[str], list[str]]:
    """(notes, XML lines) of mode='custom'."""
    table = feature_table()
    model = closest_model(plan)
    kept = {table.by_name[n] for n in plan.kept if _required(n)}
    extra = {f for f in kept if f.name not in model.features}
    # libvirt_removed: features libvirt >= 11 marks removed='yes' but libvirt 9.0's model
    # still carries (mpx in Skylake); disabled explicitly so every libvirt agrees.
    unwanted = {table.by_name[n] for n in (model.features | model.libvirt_removed) - plan.kept}
    notes = [f"closest libvirt {LIBVIRT_FLOOR} model: {model.libvirt_name} (QEMU {model.key}); "
             "every hidden feature is left out: neither the model nor a require names it"]
    if lost := {f for f in extra if not libvirt_name(f) and f.qemu}:
        notes.append(f"kept features libvirt {LIBVIRT_FLOOR} cannot require, so the VM loses them "
                     f"under this definition: {_list(lost)}")
    lines = ["<cpu mode='custom' match='exact' check='full'>",
             f"  <model fallback='forbid'>{escape(model.libvirt_name)}</model>"]
    if plan.vm_vendor in VENDORS:
        lines.append(f"  <vendor>{VENDORS[plan.vm_vendor]}</vendor>")
    else:
        notes.append(f"libvirt has no <vendor> for {plan.vm_vendor!r}; left out")
    lines += _maxphysaddr(plan)
    lines += [_feature("require", n) for n in _names(extra)]
    lines += [_feature("disable", n) for n in _names(unwanted)]
    return notes + _common_notes(plan, set(plan.hidden), passthrough=False), lines + ["</cpu>"]


def _passthrough(plan: MaskPlan) -> tuple[list[str], list[str]]:
    """(notes, XML lines) of mode='host-passthrough'."""
    table = feature_table()
    hidden = [table.by_name[n] for n in plan.hidden]
    named = [f for f in hidden if libvirt_name(f)]
    notes = []
    if silent := [f for f in hidden if not libvirt_name(f) and not f.qemu]:
        notes.append(f"not exposed by QEMU, nothing to do: {_list(silent)}")
    if loud := [f for f in hidden if not libvirt_name(f) and f.qemu]:
        notes.append(f"NOT HIDDEN: libvirt {LIBVIRT_FLOOR} has no name for {_list(loud)}; "
                     "host-passthrough passes them through wherever QEMU offers them. Use mode "
                     "custom (the default) or the qemu format for this VM")
    lines = ["<cpu mode='host-passthrough' check='none' migratable='on'>", *_maxphysaddr(plan)]
    lines += [_feature("disable", n) for n in _names(named)]
    return notes + _common_notes(plan, {f.name for f in named}, passthrough=True), lines + ["</cpu>"]


def _maxphysaddr(plan: MaskPlan) -> list[str]:
    if "phys_addr_bits" not in plan.lower:
        return []
    return [f"  <maxphysaddr mode='emulate' bits='{plan.lower['phys_addr_bits']}'/>"]


def render(plan: MaskPlan, options) -> str:
    mode = options.libvirt_mode
    if mode not in MODES:
        raise UsageError(f"unknown --libvirt-mode {mode!r} (expected one of {', '.join(MODES)})")
    notes, xml = _passthrough(plan) if mode == "host-passthrough" else _custom(plan)
    return _comment(header_lines(plan) + notes) + "\n" + "\n".join(xml) + "\n"
