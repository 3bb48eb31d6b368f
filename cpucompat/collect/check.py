"""``cpucompat collect --check``: what KVM would hide from or add for a guest compared with the
raw CPUID. Features the OS sets (OSXSAVE, OSPKE) are left out of the comparison: KVM reports
them as 0 because the guest's own kernel sets them. The summary text is ``views/collect.py``.
"""

from __future__ import annotations

from .collector import Collection


def kvm_difference(collection: Collection, raw: frozenset[str]) -> tuple[list[str], list[str]] | None:
    """(hidden, added) canonical feature names of KVM's supported CPUID against the raw CPUID."""
    from ..cpuid_fields import leaf_ranges
    from ..decode import cpu_features
    from ..knowledge.features import feature_table

    if collection.kvm_supported is None:
        return None
    kvm = cpu_features(collection.kvm_supported, leaf_ranges(collection.kvm_supported))
    os_set = {f.name for f in feature_table().features if f.kind == "os"}
    return sorted(raw - kvm - os_set), sorted(kvm - raw - os_set)
