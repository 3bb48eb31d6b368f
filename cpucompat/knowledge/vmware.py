"""vCenter's CPU vocabulary: what a featureMask / featureCapability / featureRequirement key means.

Feature keys map onto canonical names through the ``vmware_name`` column of data/features.csv
(any case: vSphere 8 writes ``cpuid.sse41``, earlier releases ``cpuid.SSE41``); the keys that name
no feature bit (scalars, vendors, XSAVE components, keys outside cpuid) are the ``vmware_keys``
section of baselines/evc.json.
"""

from __future__ import annotations

from functools import cache

from .features import feature_table
from .tables import document


@cache
def vmware_keys() -> dict:
    """The ``vmware_keys`` section of baselines/evc.json: the vCenter keys that name no feature bit."""
    return document("evc.json", "baselines")["vmware_keys"]


@cache
def _vmware_feature_names() -> dict[str, str]:
    """Upper-case VMware feature name -> canonical name (the vmware_name column of features.csv)."""
    return {f.vmware.upper(): f.name for f in feature_table().features if f.vmware}


def vmware_key(key: str, vendor: str | None = None) -> tuple[str, object]:
    """What a vCenter featureMask / featureCapability / featureRequirement key means, in any case
    (vSphere 8 writes ``cpuid.sse41``, earlier releases ``cpuid.SSE41``): ("feature", canonical
    name), ("scalar", field name), ("vendor", vendor id), ("xsave", XSAVE component), ("other",
    key) for keys outside cpuid (hv.capable, vt.realmode, ...), ("unknown", key) otherwise."""
    keys = vmware_keys()
    upper = key.upper()
    for kind in ("scalars", "vendors", "xsave_components"):
        found = {k.upper(): v for k, v in keys[kind].items()}.get(upper)
        if found is not None:
            return {"scalars": "scalar", "vendors": "vendor", "xsave_components": "xsave"}[kind], found
    if not upper.startswith("CPUID."):
        return "other", key
    name = upper.removeprefix("CPUID.")
    specific = {k.upper(): v for k, v in keys["vendor_specific"].get(vendor or "", {}).items()}
    found = specific.get(name) or _vmware_feature_names().get(name)
    return ("feature", found) if found else ("unknown", key)
