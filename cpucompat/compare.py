"""Compatibility verdicts: can a VM that sees SOURCE's CPU run on each TARGET?

A VM keeps the CPU it booted with. It can move to a target when the target has every feature
the VM may use (the source's usable features, see ``cluster.usable_features``), the same
vendor, and no lower scalar limit: fewer physical address bits, a lower max leaf or a missing
XSAVE state component would all change what the running guest relies on. Only guest-visible
features decide (see ``cluster``): host-only bits the target lacks are listed as ``host_only``
and bits KVM emulates on every host as ``emulated``, as information, never as blockers.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from . import levels
from .knowledge import baselines
from .cpuid_fields import xsave_component_names, xsave_components
from .cluster import Policy, host_only_left_out, usable_features
from .decode import Decoded
from .knowledge.features import feature_table

@dataclass(frozen=True)
class Source:
    """What the VM sees: a decoded host, or a named baseline standing in for one."""

    name: str
    vendor: str | None
    features: frozenset[str]
    fields: dict = field(default_factory=dict)
    host_only: frozenset[str] = frozenset()  # the source's host-only bits, set aside
    notes: tuple[str, ...] = ()


def source_from_host(host: Decoded, policy: Policy = Policy()) -> Source:
    return Source(host.name, host.vendor, usable_features(host.features, policy), host.fields,
                  host_only_left_out(host.features, policy))


def source_from_baseline(key: str, policy: Policy = Policy()) -> Source:
    """A named baseline (EVC mode, QEMU model, psABI level) as the VM's CPU.

    It needs of a target what it requires of a host (a QEMU model under KVM: its features less
    what KVM emulates); a QEMU model also brings its guests' phys-bits and XSAVE components.
    """
    baseline = baselines.get(key)
    host_only = frozenset() if policy.all_bits else baseline.features & feature_table().host_only()
    return Source(baseline.key, baseline.vendor, baseline.required - host_only, baselines.guest_fields(baseline),
                  host_only, tuple(baselines.guest_notes(baseline)))


@dataclass
class Verdict:
    target: str
    missing: list[str]
    lower: dict[str, tuple[int, int]]
    vendor_mismatch: tuple[str, str] | None
    missing_xsave: list[str] = field(default_factory=list)
    host_only: list[str] = field(default_factory=list)  # information: no guest sees them
    emulated: list[str] = field(default_factory=list)  # information: KVM offers them on every host

    @property
    def compatible(self) -> bool:
        return not (self.missing or self.lower or self.missing_xsave or self.vendor_mismatch)


def missing_xsave_components(source: dict, target: dict,
                              usable: frozenset[str] | None = None) -> list[str]:
    """XSAVE state components the source offers and the target lacks, by name (``avx(2)``).

    CPUID.(EAX=0xD,ECX=0/1) report *sets* of components, not quantities: a target with more
    components can still lack one the VM uses, so they are compared bit by bit. Only components
    whose owning feature the VM may use count (``usable``, when given): the state of a feature
    the VM does not see (Intel PT, HWP, HDC) is not the VM's to lose.
    """
    lost = levels.lacking(source, target)
    if usable is not None:  # keep only the state of features the VM may use
        lost &= sum(1 << i for i, row in xsave_components().items() if row["feature"] in usable)
    return xsave_component_names(lost)


def compare(source: Source, target: Decoded, policy: Policy = Policy()) -> Verdict:
    """The verdict for one target."""
    mismatch = None
    if source.vendor is not None and source.vendor != target.vendor:
        mismatch = (source.vendor, target.vendor)
    return Verdict(
        target=target.name,
        missing=sorted(source.features - target.features - policy.never_blocking()),
        lower=levels.lower(source.fields, target.fields),
        vendor_mismatch=mismatch,
        missing_xsave=missing_xsave_components(source.fields, target.fields, source.features),
        host_only=sorted(source.host_only - target.features),
        emulated=sorted((source.features - target.features) & policy.never_blocking()),
    )
