"""VMware EVC: the highest mode each host supports (vCenter's maxEVCModeKey) and why not more.

For the next mode up, the features a host lacks are listed, and BIOS findings recorded in
its fingerprint are named as the likely cause where they explain a missing feature
(``data/finding-features.csv``: NX disabled hides nx, "Limit CPUID Maxval" hides every
feature of leaf 4 and above, ...).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache

from .knowledge import baselines
from .cluster import Policy, esxi_view, evc_mode
from .knowledge.tables import rows
from .decode import Decoded
from .knowledge.features import feature_table
from .knowledge.vmware import vmware_key

#: Finding id whose effect is "every feature in a basic leaf >= 4 is hidden".
MAXVAL_FINDING = "limit-cpuid-maxval"


@cache
def finding_features() -> dict[str, frozenset[str]]:
    """Finding id -> the features that finding hides (from data/finding-features.csv)."""
    table: dict[str, frozenset[str]] = {}
    for row in rows("finding-features.csv"):
        table[row["finding"]] = table.get(row["finding"], frozenset()) | {row["feature"]}
    maxval = {f.name for f in feature_table().features if 4 <= f.leaf < 0x40000000}
    table[MAXVAL_FINDING] = table.get(MAXVAL_FINDING, frozenset()) | maxval
    return table


@dataclass
class EvcResult:
    host: str
    mode: baselines.Baseline | None
    next_mode: baselines.Baseline | None
    missing: list[str]
    likely_causes: dict[str, list[str]]  # finding id -> the missing features it explains


def next_mode_up(mode: baselines.Baseline | None, vendor: str, features: frozenset[str]) -> baselines.Baseline | None:
    """The mode one step above: among the modes whose parent is this one (the roots when none is
    reached), the one the host misses fewest features of. AMD forks after Greyhound (no 3DNow!)
    into Greyhound and Bulldozer; the nearer branch is the one worth explaining."""
    parent = mode.key if mode else None
    children = [b for b in baselines.load_baselines("evc") if b.vendor == vendor and b.parent == parent]
    return min(children, key=lambda b: (len(b.features - features), b.level), default=None)


def likely_causes(missing: list[str], findings: list[dict]) -> dict[str, list[str]]:
    causes = {}
    for finding in findings:
        if finding.get("status") == "found":
            hidden = sorted(set(missing) & finding_features().get(finding["id"], frozenset()))
            if hidden:
                causes[finding["id"]] = hidden
    return causes


def evc_check(host: Decoded, policy: Policy = Policy()) -> EvcResult:
    """The highest EVC mode one host (or a cluster baseline wrapped as a host) supports, judged as
    vCenter judges hosts (``cluster.esxi_view``): KVM's guest-visibility ``policy`` does not apply to EVC."""
    features = esxi_view(host.features)
    mode = baselines.highest_satisfied(features, host.vendor, "evc")
    upper = next_mode_up(mode, host.vendor, features)
    missing = baselines.missing_for(upper, features) if upper else []
    return EvcResult(host.name, mode, upper, missing, likely_causes(missing, host.findings))


def cluster_mode(hosts: Sequence[Decoded]) -> baselines.Baseline | None:
    """The EVC mode of hosts of one vendor: the highest mode all of them satisfy."""
    return evc_mode(frozenset.intersection(*(h.features for h in hosts)), hosts[0].vendor)


def mode_scalars(mode: baselines.Baseline) -> dict[str, tuple[int, str]]:
    """The scalars an EVC mode presents to guests (family, model, stepping, max basic and extended
    leaf) from its featureMask, each with its source ("capture", "kb:...", "reasoning: ...")."""
    scalars = {}
    for key, value, source in mode.feature_mask:
        kind, name = vmware_key(key, mode.vendor)
        if kind == "scalar":
            scalars[name] = (int(value.split(":", 1)[1], 0), source)
    return scalars


@dataclass(frozen=True)
class EvcCheck:
    """``evc check``: per host the highest mode; for several hosts, the mode of their common
    baseline, or why there is none (``cluster_reason``)."""

    hosts: list[EvcResult]
    cluster: bool
    cluster_mode: baselines.Baseline | None = None
    cluster_reason: str | None = None


def check_hosts(hosts: Sequence[Decoded], policy: Policy = Policy()) -> EvcCheck:
    results = [evc_check(h, policy) for h in hosts]
    if len(hosts) < 2:
        return EvcCheck(results, cluster=False)
    vendors = sorted({h.vendor for h in hosts})
    if len(vendors) > 1:
        return EvcCheck(results, True, None, f"EVC needs one CPU vendor; these hosts have {', '.join(vendors)}")
    return EvcCheck(results, True, cluster_mode(hosts))
