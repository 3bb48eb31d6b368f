"""Cluster baselines and compatibility verdicts over decoded hosts.

The migration rule: a VM may run on every host whose CPU has each feature the VM was started
with, and no lower scalar limit (address bits, max leaf, XSAVE state). A cluster baseline is
therefore the *intersection* of the hosts' features, closed under feature dependencies (if
one host lacks AVX, AVX2 goes too), without OS-dependent bits (they describe the running
kernel) and, by default, without non-migratable features (invtsc). Only guest-visible features
count (``data/guest-visibility.csv``): host-only bits (HWP, EST, SMX, AVIC, SEV, and VMX/SVM
without nested virtualization) are never a blocker nor a baseline member, and bits KVM emulates on
every host (x2apic, tsc-deadline, arat, the hypervisor bit) never block; ``Policy(all_bits=True)``
keeps the raw view. Scalars are levelled to the weakest host. The result is named by the highest
EVC mode, psABI level and QEMU model it satisfies.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace

from . import levels
from .knowledge import baselines
from .decode import Decoded
from .errors import CpuCompatError
from .knowledge.features import feature_table

#: Named baseline kinds reported for a cluster baseline.
NAMED_KINDS = ("evc", "psabi", "qemu")


class MixedVendors(CpuCompatError):
    """Hosts of more than one CPU vendor, without --cross-vendor."""


@dataclass(frozen=True)
class Policy:
    """What a baseline keeps beyond the plain intersection."""

    include_nonmigratable: bool = False
    cross_vendor: bool = False
    all_bits: bool = False

    def admits(self, name: str) -> bool:
        feature = feature_table().by_name[name]
        if feature.kind == "os":
            return False
        if not (self.all_bits or feature.guest_visible):
            return False
        if not feature.migratable and not self.include_nonmigratable:
            return False
        return feature.vendor == "any" or not self.cross_vendor

    def never_blocking(self) -> frozenset[str]:
        """Features that never block a move: host-only and KVM-emulated ones (none with all_bits)."""
        table = feature_table()
        return frozenset() if self.all_bits else table.host_only() | table.emulated()

    def raw(self) -> Policy:
        """This policy with all bits: what ``--all-bits`` would judge."""
        return replace(self, all_bits=True)


def usable_features(features: Iterable[str], policy: Policy = Policy(),
                    seen: Iterable[str] | None = None) -> frozenset[str]:
    """The features a VM may be given: policy-filtered and closed under dependencies.

    ``seen`` is every feature any of the hosts has (default: ``features`` themselves). A
    feature goes when something it requires was lost, i.e. seen on a host but not kept: when
    one host lacks AVX, AVX2 goes too. A requirement no host has at all (a CPU that reports
    SPEC_CTRL_SSBD without SPEC_CTRL, as KVM does on AMD) removes nothing, so a host's
    baseline against itself is just the policy's.
    """
    features = frozenset(features)
    kept = frozenset(n for n in features if policy.admits(n))
    lost = (features if seen is None else frozenset(seen) | features) - kept
    return kept - feature_table().dependents(lost)


def host_only_left_out(features: Iterable[str], policy: Policy, seen: Iterable[str] | None = None) -> frozenset[str]:
    """Host-only features the policy left out that ``--all-bits`` would keep (reported as information)."""
    if policy.all_bits:
        return frozenset()
    return usable_features(features, policy.raw(), seen) & feature_table().host_only()


@dataclass
class ClusterBaseline:
    """The common ground of a set of hosts."""

    hosts: list[Decoded]
    features: frozenset[str]
    fields: dict
    vendor: str | None
    named: dict[str, baselines.Baseline | None] = field(default_factory=dict)
    weakest_links: dict[str, list[str]] = field(default_factory=dict)
    host_only: frozenset[str] = frozenset()  # left out as host-only; --all-bits would keep them


def one_vendor(hosts_by_vendor: dict[str, Sequence[str]], cross_vendor: bool,
               counts: dict[str, int] | None = None) -> str | None:
    """The one vendor of all hosts; MixedVendors unless cross_vendor (then None).

    ``hosts_by_vendor`` names hosts of each vendor (a fleet gives a few examples and ``counts``).
    """
    if len(hosts_by_vendor) == 1:
        return next(iter(hosts_by_vendor))
    if cross_vendor:
        return None

    def hosts(vendor: str) -> str:
        names = ", ".join(hosts_by_vendor[vendor])
        return names if counts is None else f"{counts[vendor]} hosts, e.g. {names}"

    detail = "; ".join(f"{vendor}: {hosts(vendor)}" for vendor in sorted(hosts_by_vendor))
    raise MixedVendors(f"hosts of different CPU vendors cannot share a baseline ({detail}); "
                       "use --cross-vendor for the vendor-neutral common ground")


def check_vendors(hosts: Sequence[Decoded], cross_vendor: bool) -> str | None:
    """The one vendor of all hosts; MixedVendors unless cross_vendor (then None)."""
    by_vendor: dict[str, list[str]] = {}
    for host in hosts:
        by_vendor.setdefault(host.vendor, []).append(host.name)
    return one_vendor(by_vendor, cross_vendor)


def weakest_links(hosts: Sequence[Decoded], policy: Policy, few: int | None = None) -> dict[str, list[str]]:
    """For each host, the features that it alone (or it and at most ``few`` - 1 others) removes.

    A feature counts when at least one host has it and at most ``few`` hosts lack it
    (default: 1 host, or 5% of the hosts for large sets).
    """
    few = few or max(1, math.floor(len(hosts) * 0.05))
    seen = frozenset.union(*(h.features for h in hosts))
    usable = [usable_features(h.features, policy, seen) for h in hosts]
    everywhere = frozenset.intersection(*usable)
    lacking: dict[str, list[int]] = {}
    for name in frozenset.union(*usable) - everywhere:
        lacking[name] = [i for i, features in enumerate(usable) if name not in features]
    links: dict[str, list[str]] = {h.name: [] for h in hosts}
    for name, indexes in lacking.items():
        if len(indexes) <= few and len(indexes) < len(hosts):
            for i in indexes:
                links[hosts[i].name].append(name)
    return {host: sorted(names) for host, names in links.items() if names}


def esxi_view(features: Iterable[str]) -> frozenset[str]:
    """What vCenter judges a host by for EVC: its own CPUID features (its featureCapability) less
    the OS-dependent bits, closed under dependencies. KVM's guest-visibility filter does not apply:
    ESXi shows MONITOR/MWAIT, debug store, self-snoop and VMX to guests, and vCenter's modes
    require them, so a host with MWAIT disabled in its BIOS offers no Intel EVC mode."""
    table = feature_table()
    return table.close_under_deps(n for n in features if table.by_name[n].kind != "os")


def evc_mode(raw: frozenset[str], vendor: str | None) -> baselines.Baseline | None:
    """The highest EVC mode hosts whose plain common features are ``raw`` offer, judged on the
    ESXi view as vCenter judges them."""
    return baselines.highest_satisfied(esxi_view(raw), vendor, "evc")


def judged_features(kind: str, features: frozenset[str], raw: frozenset[str], policy: Policy) -> frozenset[str]:
    """What a named baseline of ``kind`` is judged on: EVC modes on the ESXi view of ``raw`` (the
    plain common features), QEMU models and psABI levels on the guest-visible ``features`` plus
    what never blocks."""
    return esxi_view(raw) if kind == "evc" else features | policy.never_blocking()


def name_baseline(features: frozenset[str], vendor: str | None, raw: frozenset[str],
                  policy: Policy = Policy()) -> dict[str, baselines.Baseline | None]:
    """The highest named baseline of each kind that the hosts satisfy.

    Across vendors (``vendor`` None under ``policy.cross_vendor``) only psABI levels are
    vendor-neutral: no EVC mode or QEMU model is named. QEMU models and psABI levels are judged
    on the guest-visible ``features`` (a model's host-only and KVM-emulated features are not asked
    for, unless ``policy.all_bits``); EVC modes by ``evc_mode`` on ``raw``, the plain intersection
    of the hosts' features.
    """
    result = {kind: baselines.highest_satisfied(judged_features(kind, features, raw, policy), vendor, kind)
              for kind in NAMED_KINDS}
    if policy.cross_vendor and vendor is None:
        result.update(evc=None, qemu=None)
    return result


def cluster_baseline(hosts: Sequence[Decoded], policy: Policy = Policy()) -> ClusterBaseline:
    """The features and levelled fields every host can offer a VM."""
    if not hosts:
        raise CpuCompatError("no hosts given")
    vendor = check_vendors(hosts, policy.cross_vendor)
    common = frozenset.intersection(*(h.features for h in hosts))
    seen = frozenset.union(*(h.features for h in hosts))
    features = usable_features(common, policy, seen)
    result = ClusterBaseline(list(hosts), features, levels.level([h.fields for h in hosts]), vendor,
                             host_only=host_only_left_out(common, policy, seen))
    result.named = name_baseline(features, vendor, common, policy)
    result.weakest_links = weakest_links(hosts, policy)
    return result
