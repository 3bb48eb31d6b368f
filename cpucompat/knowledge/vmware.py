"""vCenter's CPU vocabulary: what a featureMask / featureCapability / featureRequirement key means.

Feature keys map onto canonical names through the ``vmware_name`` column of data/features.csv
(any case: vSphere 8 writes ``cpuid.sse41``, earlier releases ``cpuid.SSE41``); the keys that name
no feature bit (scalars, vendors, XSAVE components, keys outside cpuid, known keys cpucompat has
no bit for) are the ``vmware_keys`` section of baselines/evc.json. The same names are the
``featMask.vm.cpuid.<NAME>`` keys of a per-VM mask in the .vmx.
"""

from __future__ import annotations

from functools import cache

from .features import feature_table
from .tables import document

_KINDS = {"scalars": "scalar", "vendors": "vendor", "xsave_components": "xsave"}


@cache
def vmware_keys() -> dict:
    """The ``vmware_keys`` section of baselines/evc.json: the vCenter keys that name no feature bit."""
    return document("evc.json", "baselines")["vmware_keys"]


@cache
def _vmware_feature_names() -> dict[str, str]:
    """Upper-case VMware feature name -> canonical name (the vmware_name column of features.csv)."""
    return {f.vmware.upper(): f.name for f in feature_table().features if f.vmware}


@cache
def _special_keys() -> dict[str, tuple[str, object]]:
    """Upper-case key -> (kind, meaning) for the scalars, vendors, XSAVE components and the
    known keys without a features.csv bit (kind ``unmapped``)."""
    keys = vmware_keys()
    found = {k.upper(): (kind, v) for section, kind in _KINDS.items() for k, v in keys[section].items()}
    found.update({k.upper(): ("unmapped", k) for k in keys["unmapped"]})
    return found


def vmware_key(key: str, vendor: str | None = None) -> tuple[str, object]:
    """What a vCenter featureMask / featureCapability / featureRequirement key means, in any case
    (vSphere 8 writes ``cpuid.sse41``, earlier releases ``cpuid.SSE41``): ("feature", canonical
    name), ("scalar", field name), ("vendor", vendor id), ("xsave", XSAVE component),
    ("unmapped", key) for a VMware key cpucompat has no bit for, ("other", key) for keys outside
    cpuid (hv.capable, vt.realmode, ...), ("unknown", key) otherwise."""
    upper = key.upper()
    special = _special_keys().get(upper)
    if special is not None:
        return special
    if not upper.startswith("CPUID."):
        return "other", key
    name = upper.removeprefix("CPUID.")
    specific = {k.upper(): v for k, v in vmware_keys()["vendor_specific"].get(vendor or "", {}).items()}
    found = specific.get(name) or _vmware_feature_names().get(name)
    return ("feature", found) if found else ("unknown", key)


def featmask_name(kind: str, what) -> str | None:
    """The ``<NAME>`` of ``featMask.vm.cpuid.<NAME>`` for a scalar field (``max_basic_leaf`` ->
    ``NUMLEVELS``) or an XSAVE component number (5 -> ``XCR0_MASTER_OPMASK``), None where vCenter's
    vocabulary has no key for it."""
    section = {"scalar": "scalars", "xsave": "xsave_components"}[kind]
    names = {meaning: key.split(".", 1)[1] for key, meaning in vmware_keys()[section].items()}
    return names.get(what)


def feature_key_name(name: str, vendor: str | None) -> str | None:
    """The ``<NAME>`` that means this canonical feature on this vendor's CPUs (``STIBP`` is
    intel_stibp on Intel, amd_stibp on AMD: ``vendor_specific``), None where vCenter has none."""
    specific = {v: k for k, v in vmware_keys()["vendor_specific"].get(vendor or "", {}).items()}
    key = specific.get(name) or feature_table().by_name[name].vmware
    return key if key and vmware_key(f"cpuid.{key}", vendor) == ("feature", name) else None


def feature_key_names(name: str, vendor: str | None) -> list[str]:
    """Every ``<NAME>`` that means this canonical feature on this vendor's CPUs, the one
    ``feature_key_name`` gives first: on Intel both ``IBPB`` and ``IBRS`` mean CPUID 7 EDX[26]
    (vCenter lists both for it), so a mask that hides the bit must say both."""
    first = feature_key_name(name, vendor)
    if first is None:
        return []
    candidates = [feature_table().by_name[name].vmware, *vmware_keys()["vendor_specific"].get(vendor or "", {})]
    others = {k for k in candidates if k and k != first and vmware_key(f"cpuid.{k}", vendor) == ("feature", name)}
    return [first, *sorted(others)]
