"""libvirt domain XML ``<cpu>`` elements (libvirt ``docs/formatdomain.rst``, "CPU model and topology").

Two modes (``--libvirt-mode``):

- ``custom`` (default): ``<cpu mode='custom' match='exact' check='full'>``, a named model
  (``fallback='forbid'``), ``<feature policy='require'>`` for every feature the guest is to see
  and ``<feature policy='disable'>`` for every feature the model (or the hypervisor, unasked)
  would add that the guest must not see. The guest then sees exactly that CPU wherever it
  runs, and ``check='full'`` makes libvirt refuse to start the domain when QEMU built anything
  else. What the guest is promised: the features the VM keeps that KVM can offer a guest
  (``Feature.kvm`` passthrough or emulated, data/guest-visibility.csv) and that a guest CPU
  definition can carry (instruction-set and security bits, and the other bits QEMU's models
  offer), plus ``hypervisor``, which QEMU sets for every guest. Host-only bits (``ds``, ``tm``,
  ``est``, ``acpi``, ``monitor`` ...) and nested-virtualization bits (``vmx``, ``svm`` ...) are
  never required: KVM does not offer them, so a domain requiring them would not start.
- ``host-passthrough``: ``<cpu mode='host-passthrough' check='none' migratable='on'>`` with a
  ``disable`` for every hidden feature.

The model: the named libvirt model that agrees most with the promised CPU (its features the
guest keeps, less those to disable), all of whose extra features libvirt can disable by name;
ties go to fewer disables, then the newer model. Every promised feature is required
explicitly, not only those beyond the model: libvirt's view of a model (its cpu_map) and QEMU's
differ between versions (QEMU 7.2's ``Opteron_G2`` on pc-q35-7.2 lacks the ``rdtscp`` libvirt's
map gives it), and an explicit ``require`` makes QEMU turn the feature on whatever its model
says. What the model may have in libvirt's map (any version: ``mpx`` that libvirt 11 marks
removed) or what QEMU turns on unasked under KVM (the emulated bits, e.g. ``x2apic``) is
disabled when the guest is not to see it.

Names are those of libvirt 9.0's cpu_map (Debian 12): every later libvirt keeps them, while
newer names (``avx-vnni-int8``, the ``-vN`` model aliases such as ``EPYC-v3``) make libvirt 9.0
refuse the domain with "Unknown CPU feature/model". A hidden or kept feature libvirt 9.0 cannot
name is listed in the comment instead. ``<maxphysaddr mode='emulate' bits='N'/>`` (libvirt 8.7+)
lowers the physical address width; libvirt has no setting for the max leaves, and leaf 0xD
follows the features. The plan's header opens the output as an XML comment. The ``<cpu>``
element is built with ``xml.etree.ElementTree``, so names are always escaped.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass
from functools import cache

from ..cpuid_fields import vendor_families
from ..knowledge.baselines import Baseline, load_baselines
from ..knowledge.tables import rows
from ..errors import CpuCompatError, UsageError
from ..knowledge.features import Feature, feature_table
from .bits import unowned_xsave
from .consumers import known_names
from .plan import MaskPlan, header_lines

MODES = ("custom", "host-passthrough")
#: The oldest libvirt whose names the output uses.
LIBVIRT_FLOOR = "9.0"

#: x86 CPU models of libvirt 9.0's cpu_map/index.xml.
MODELS = known_names("libvirt-9.0", "model")

#: x86 feature names of libvirt 9.0's cpu_map/x86_features.xml.
FEATURES = known_names("libvirt-9.0", "feature")


#: Set by QEMU for every guest (TCG and KVM); libvirt's models never list it, so a custom CPU
#: with check='full' must require it or libvirt refuses the domain ("extra features: hypervisor").
ALWAYS_SET = "hypervisor"

#: Kinds of feature a guest CPU definition carries. Other informational bits of a host dump are
#: required only where KVM emulates them (x2apic, arat ...) or a QEMU model offers them to guests
#: (ss, mca ...): a bit KVM passes through only under a module or PMU setting (pdcm, intel_pt,
#: dtes64) is not required.
REQUIRED_KINDS = frozenset({"isa", "security"})


def libvirt_name(feature: Feature) -> str:
    """The feature's libvirt name if libvirt 9.0 knows it, else ''."""
    return feature.libvirt if feature.libvirt in FEATURES else ""


@cache
def _offered_by_qemu_models() -> frozenset[str]:
    return frozenset().union(*(b.features | getattr(b, "emulated", frozenset())
                               for b in load_baselines("qemu")))


def kvm_offers(feature: Feature) -> bool:
    """Whether KVM can offer this feature to a guest without nested virtualization
    (``Feature.kvm`` passthrough or emulated, data/guest-visibility.csv)."""
    return feature.guest_visible


def _emulated(feature: Feature) -> bool:
    return feature.kvm == "emulated"


def promised(name: str) -> bool:
    """Whether a custom <cpu> requires this kept feature (before asking libvirt for a name)."""
    if name == ALWAYS_SET:
        return True
    feature = feature_table().by_name[name]
    return (feature.kind != "os" and kvm_offers(feature)
            and (feature.kind in REQUIRED_KINDS or _emulated(feature)
                 or name in _offered_by_qemu_models()))


@dataclass(frozen=True)
class CustomCpu:
    """What mode custom says: the model, and the features to require and to disable
    (canonical names)."""

    model: Baseline
    require: frozenset[str]
    disable: frozenset[str]
    lost: frozenset[str]  # kept features KVM offers that libvirt 9.0 cannot name


@cache
def libvirt_vendors() -> dict[str, str]:
    """CPUID vendor strings -> libvirt's <vendor> names (data/vendors.csv, from cpu_map/x86_vendors.xml)."""
    return {row["vendor_string"]: row["libvirt_vendor"] for row in rows("vendors.csv") if row["libvirt_vendor"]}


@cache
def libvirt_models() -> dict[str, frozenset[str]]:
    """libvirt 9.0's models and their CPUID features (data/libvirt-models.csv)."""
    found: dict[str, set[str]] = {}
    for row in rows("libvirt-models.csv"):
        found.setdefault(row["model"], set()).add(row["feature"])
    return {name: frozenset(features) for name, features in found.items()}


def model_view(model: Baseline) -> frozenset[str]:
    """Every feature the model may have: in QEMU's definition or in libvirt's map, which
    libvirt's check='full' compares with (libvirt 9.0's Skylake-Server has mpx, QEMU 7.2's has
    not; libvirt 11 marks it removed)."""
    return (model.features | model.libvirt_removed
            | libvirt_models().get(model.libvirt_name or "", frozenset()))


def custom_cpu(plan: MaskPlan) -> CustomCpu:
    """Mode custom's model, requires and disables for a plan."""
    table = feature_table()
    vendor = vendor_families().get(plan.vm_vendor, "?")
    wanted = {n for n in plan.kept | {ALWAYS_SET} if promised(n)}
    require = frozenset(n for n in wanted if libvirt_name(table.by_name[n]))
    lost = frozenset(n for n in wanted - require if table.by_name[n].qemu)
    unasked = {f.name for f in table.features if libvirt_name(f) and f.vendor in ("any", vendor)
               and (_emulated(f) or (not kvm_offers(f) and f.qemu and (
                   f.kind == "virt" or f.name in plan.vm_features
                   or f.name in _offered_by_qemu_models())))}
    best, best_score = None, None
    for model in load_baselines("qemu"):
        if (model.libvirt_name not in MODELS or not model.fits_vendor(plan.vm_vendor)
                or ("lm" in plan.kept and "lm" not in model.features)):
            continue
        extra = model_view(model) - require
        if any(not libvirt_name(table.by_name[n]) and n in model.features for n in extra
               if n not in table.mirror_of):
            continue  # the guest would see a model feature libvirt cannot disable
        disable = frozenset(n for n in extra if libvirt_name(table.by_name[n]))
        score = (len(model.features & require) - len(disable), -len(disable), model.level,
                 model.vendor is not None)
        if best_score is None or score > best_score:
            best, best_score = (model, disable), score
    if best is None:
        raise CpuCompatError(f"no libvirt {LIBVIRT_FLOOR} CPU model fits the features VM "
                             f"{plan.vm_name} keeps; use --libvirt-mode host-passthrough")
    model, disable = best
    disable |= frozenset(n for n in unasked - require)
    return CustomCpu(model, require, frozenset(disable), lost)


def closest_model(plan: MaskPlan) -> Baseline:
    """The named model mode custom starts the guest from."""
    return custom_cpu(plan).model


def _names(features) -> list[str]:
    table = feature_table()
    return sorted({libvirt_name(table.by_name[n]) for n in features} - {""})


def _list(features) -> str:
    return ", ".join(sorted(f.name for f in features))


def _comment(lines: list[str]) -> str:
    """An XML comment; '--' may not occur inside one."""
    body = "\n".join(f"  {line}".rstrip() for line in lines)
    while "--" in body:
        body = body.replace("--", "- -")
    return f"<!--\n{body}\n-->"


def _feature(cpu: ET.Element, policy: str, name: str) -> None:
    ET.SubElement(cpu, "feature", policy=policy, name=name)


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


def _custom(plan: MaskPlan) -> tuple[list[str], ET.Element]:
    """(notes, <cpu>) of mode='custom'."""
    table = feature_table()
    chosen = custom_cpu(plan)
    model = chosen.model
    notes = [f"closest libvirt {LIBVIRT_FLOOR} model: {model.libvirt_name} (QEMU {model.key}); "
             "every feature the guest sees is required, so every hidden feature is left out"]
    if chosen.lost:
        notes.append(f"kept features libvirt {LIBVIRT_FLOOR} cannot require, so the VM loses them "
                     f"under this definition: {_list(table.by_name[n] for n in chosen.lost)}")
    left = sorted(n for n in plan.kept if not kvm_offers(table.by_name[n]))
    if left:
        notes.append("not required, KVM does not offer them to guests (host-only or nested "
                     f"virtualization): {', '.join(left)}")
    cpu = ET.Element("cpu", mode="custom", match="exact", check="full")
    element = ET.SubElement(cpu, "model", fallback="forbid")
    if len(plan.vm_vendor) == 12 and plan.vm_vendor.isprintable():
        element.set("vendor_id", plan.vm_vendor)  # what the guest reads in CPUID leaf 0
    element.text = model.libvirt_name
    if plan.vm_vendor in libvirt_vendors():
        ET.SubElement(cpu, "vendor").text = libvirt_vendors()[plan.vm_vendor]
    else:
        notes.append(f"libvirt has no <vendor> for {plan.vm_vendor!r}; left out")
    _maxphysaddr(cpu, plan)
    for name in _names(chosen.require):
        _feature(cpu, "require", name)
    for name in _names(chosen.disable):
        _feature(cpu, "disable", name)
    return notes + _common_notes(plan, set(plan.hidden), passthrough=False), cpu


def _passthrough(plan: MaskPlan) -> tuple[list[str], ET.Element]:
    """(notes, <cpu>) of mode='host-passthrough'."""
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
    cpu = ET.Element("cpu", mode="host-passthrough", check="none", migratable="on")
    _maxphysaddr(cpu, plan)
    for name in _names(f.name for f in named):
        _feature(cpu, "disable", name)
    return notes + _common_notes(plan, {f.name for f in named}, passthrough=True), cpu


def _maxphysaddr(cpu: ET.Element, plan: MaskPlan) -> None:
    if "phys_addr_bits" in plan.lower:
        ET.SubElement(cpu, "maxphysaddr", mode="emulate", bits=str(plan.lower["phys_addr_bits"]))


def render(plan: MaskPlan, options) -> str:
    mode = options.libvirt_mode
    if mode not in MODES:
        raise UsageError(f"unknown --libvirt-mode {mode!r} (expected one of {', '.join(MODES)})")
    notes, cpu = _passthrough(plan) if mode == "host-passthrough" else _custom(plan)
    ET.indent(cpu, "  ")
    return _comment(header_lines(plan) + notes) + "\n" + ET.tostring(cpu, encoding="unicode") + "\n"
