"""Fleet analysis: a million hosts as a bit matrix (``fleet.bits``, ``fleet.model``).

Each host is one row of packed feature bits. Hosts with identical feature sets are identical
rows, so the hosts are grouped once into *classes* (distinct rows with host counts) and
everything after that works on the few classes, not the many hosts: the common ground is an
AND over the class rows, coverage a count-weighted column sum.

The baseline policy is ``cpucompat.cluster``'s, called rather than re-implemented:
``usable_features`` (drop OS bits, host-only bits and non-migratable features, close under
dependencies), ``host_only_left_out``, ``one_vendor`` and ``name_baseline``; the levelled
scalars follow ``levels``. ``fleet`` and ``baseline`` over the same hosts agree.

``--min-hosts`` is a greedy search that is easy to explain. A host can give a VM its
*usable* set ``U`` (its features under the policy); the baseline of any set of hosts is the
intersection of their ``U``. Starting from the baseline of all hosts, candidate features (on
at least the share of hosts) are tried by coverage, highest first; a feature is kept when the
hosts offering every feature kept so far still reach the share. The result is the baseline of
the hosts that remain, by the same rule as ``cluster.cluster_baseline``: maximal, since adding
any further feature would lose too many hosts.
"""

from __future__ import annotations

import hashlib
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction

import numpy as np

from ..cluster import Policy, host_only_left_out, name_baseline, one_vendor, usable_features
from ..errors import CpuCompatError, UsageError
from ..knowledge.baselines import Baseline
from .bits import bool_matrix, column_index, columns, guest_visible_row, unpack
from .model import Fleet, level_fields, pandas

#: Example hosts shown per class.
EXAMPLES = 3
_MIX = np.uint64(0x9E3779B97F4A7C15)  # odd 64-bit constant for the row hash


# --- classes ----------------------------------------------------------------------------

@dataclass
class Classes:
    """Hosts grouped by identical feature rows, the largest class first."""

    rows: np.ndarray  # (k, words()) the distinct rows
    counts: np.ndarray  # (k,) hosts per class
    first: np.ndarray  # (k,) the first host of each class
    of_host: np.ndarray  # (hosts,) the class of each host


def _row_key(bits: np.ndarray, varying: np.ndarray) -> np.ndarray:
    """One uint64 per host: the varying word itself, or a hash of the varying words."""
    if varying.size == 1:
        return bits[:, varying[0]]
    key = np.zeros(bits.shape[0], dtype=np.uint64)
    for word in varying:
        key = (key ^ bits[:, word]) * _MIX
        key ^= key >> np.uint64(29)
    return key


def _first_of_each(codes: np.ndarray) -> np.ndarray:
    """Index of the first host of each code (``factorize`` numbers codes by first appearance)."""
    seen = np.maximum.accumulate(codes)
    new = np.ones(codes.size, dtype=bool)
    new[1:] = codes[1:] > seen[:-1]
    return np.flatnonzero(new)


def _codes(bits: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Class code of every host and the first host of each code: exact, hash verified."""
    pd = pandas()

    varying = np.flatnonzero(np.bitwise_or.reduce(bits, axis=0) & ~np.bitwise_and.reduce(bits, axis=0))
    if varying.size == 0:
        return np.zeros(bits.shape[0], dtype=np.intp), np.zeros(1, dtype=np.intp)
    codes, _ = pd.factorize(_row_key(bits, varying), sort=False)
    first = _first_of_each(codes)
    if varying.size > 1 and not _same_as_first(bits, varying, codes, first):
        _, first, codes = np.unique(bits, axis=0, return_index=True, return_inverse=True)  # a hash collision
    return codes.reshape(-1), first


def _same_as_first(bits: np.ndarray, varying: np.ndarray, codes: np.ndarray, first: np.ndarray) -> bool:
    """True when every host's row equals the first row of its code (no hash collision)."""
    firsts = bits[first]
    return all(np.array_equal(bits[:, word], firsts[codes, word]) for word in varying)


def classes(bits: np.ndarray) -> Classes:
    """Group hosts by identical feature rows."""
    if bits.shape[0] == 0:
        raise CpuCompatError("no hosts given")
    codes, first = _codes(bits)
    counts = np.bincount(codes, minlength=first.size)
    order = np.lexsort((first, -counts))  # largest class first, then by first appearance
    rank = np.empty_like(order)
    rank[order] = np.arange(order.size)
    return Classes(bits[first[order]], counts[order], first[order], rank[codes])


def class_id(row: np.ndarray) -> str:
    """A stable id of a feature set: a hash of its sorted canonical names."""
    text = ",".join(sorted(unpack(row)))
    return "fs-" + hashlib.blake2b(text.encode(), digest_size=5).hexdigest()


def coverage(groups: Classes) -> dict[str, float]:
    """Share of hosts that have each feature (features no host has are left out)."""
    hosts = np.zeros(len(columns()), dtype=np.int64)
    for start in range(0, groups.rows.shape[0], 65536):
        chunk = slice(start, start + 65536)
        hosts += groups.counts[chunk] @ bool_matrix(groups.rows[chunk]).astype(np.int64)
    total = int(groups.counts.sum())
    return {columns()[j]: int(hosts[j]) / total for j in np.flatnonzero(hosts)}


# --- baseline ---------------------------------------------------------------------------

@dataclass
class FleetBaseline:
    """The common ground of all hosts, as ``cluster_baseline`` would give it."""

    features: frozenset[str]
    fields: dict
    vendor: str | None
    named: dict[str, Baseline | None]
    host_only: frozenset[str] = frozenset()  # left out as host-only; --all-bits would keep them


def fleet_vendor(fleet: Fleet, cross_vendor: bool) -> str | None:
    """``cluster.one_vendor`` of a fleet, naming a few example hosts of each vendor."""
    counts = fleet.scalars["vendor"].value_counts()
    counts = {str(v): int(n) for v, n in counts.items() if n > 0}  # a categorical counts unused categories
    vendors = fleet.scalars["vendor"].astype("str") if len(counts) > 1 else None
    examples = {v: [] if vendors is None else list(fleet.hosts[vendors == v].head(EXAMPLES)) for v in counts}
    return one_vendor(examples, cross_vendor, counts)


def common_features(groups: Classes, policy: Policy, keep: np.ndarray | None = None) -> frozenset[str]:
    """The usable features of the intersection of the (kept) classes."""
    rows = groups.rows if keep is None else groups.rows[keep]
    return usable_features(unpack(np.bitwise_and.reduce(rows, axis=0)), policy,
                           seen=unpack(np.bitwise_or.reduce(rows, axis=0)))


def fleet_baseline(fleet: Fleet, groups: Classes, policy: Policy = Policy()) -> FleetBaseline:
    """Features every host can offer a VM, levelled fields, and the named baselines they meet."""
    vendor = fleet_vendor(fleet, policy.cross_vendor)
    features = common_features(groups, policy)
    raw = unpack(np.bitwise_and.reduce(fleet.bits, axis=0))
    host_only = host_only_left_out(raw, policy, seen=unpack(np.bitwise_or.reduce(fleet.bits, axis=0)))
    return FleetBaseline(features, level_fields(fleet.scalars), vendor, name_baseline(features, vendor, raw, policy),
                         host_only)


# --- what-ifs ---------------------------------------------------------------------------

_SHARE = re.compile(r"(?:\d{1,9}(?:\.\d{0,12})?|\.\d{1,12})%?")


def parse_share(text: str | None) -> Fraction | None:
    """``95%`` or ``0.95`` as an exact fraction in (0, 1]; UsageError otherwise."""
    if text is None:
        return None
    if not _SHARE.fullmatch(text):  # no exponents: Fraction("1e-999999999") would run for ever
        raise UsageError(f"--min-hosts {text!r}: expected a share such as 95% or 0.95")
    try:
        share = Fraction(text[:-1]) / 100 if text.endswith("%") else Fraction(text)
    except (ValueError, ZeroDivisionError):
        raise UsageError(f"--min-hosts {text!r}: expected a share such as 95% or 0.95") from None
    if not 0 < share <= 1:
        raise UsageError(f"--min-hosts {text!r}: the share must be above 0% and at most 100%")
    return share


@dataclass
class MinHosts:
    """The richest baseline (greedy, maximal) that keeps at least ``share`` of the hosts."""

    share: Fraction
    features: frozenset[str]
    gained: frozenset[str]
    kept_hosts: int
    lacking: dict[int, frozenset[str]]  # class index -> gained features its hosts lack


def _greedy_keep(usable: list[frozenset[str]], counts: np.ndarray, base: frozenset[str], need: int) -> np.ndarray:
    """Classes kept after adding candidate features by coverage while ``need`` hosts remain."""
    has = {}
    for i, features in enumerate(usable):
        for name in features - base:
            has.setdefault(name, np.zeros(len(usable), dtype=bool))[i] = True
    hosts = {name: int(counts[mask].sum()) for name, mask in has.items()}
    order = column_index()
    candidates = sorted((n for n in hosts if hosts[n] >= need), key=lambda n: (-hosts[n], order[n]))
    kept = np.ones(len(usable), dtype=bool)
    for name in candidates:
        trial = kept & has[name]
        if counts[trial].sum() >= need:
            kept = trial
    return kept


def min_hosts(groups: Classes, base: FleetBaseline, share: Fraction, policy: Policy = Policy()) -> MinHosts:
    """The richest baseline, by the greedy search in the module docstring, keeping ``share`` of hosts."""
    usable = [usable_features(unpack(row), policy) for row in groups.rows]
    need = math.ceil(share * int(groups.counts.sum()))
    kept = _greedy_keep(usable, groups.counts, base.features, need)
    features = common_features(groups, policy, kept)
    gained = features - base.features
    lacking = {int(i): gained - usable[i] for i in np.flatnonzero(~kept)}
    return MinHosts(share, features, gained, int(groups.counts[kept].sum()), lacking)


@dataclass
class Without:
    """The baseline gained by removing some hosts."""

    hosts: list[str]
    removed: int
    features: frozenset[str]
    gained: frozenset[str]


def host_mask(fleet: Fleet, names: Sequence[str]) -> np.ndarray:
    """Rows whose host is one of ``names``; UsageError naming hosts not in the fleet."""
    mask = fleet.hosts.isin(list(names)).to_numpy()
    unknown = sorted(set(names) - set(fleet.hosts[mask]))
    if unknown:
        raise UsageError(f"--without: no such host in the fleet: {', '.join(unknown[:10])}"
                         + (f" (and {len(unknown) - 10} more)" if len(unknown) > 10 else ""))
    return mask


def without(fleet: Fleet, groups: Classes, base: FleetBaseline, names: Sequence[str],
            policy: Policy = Policy()) -> Without:
    """What the baseline gains when the named hosts leave the fleet."""
    removed = host_mask(fleet, names)
    left = groups.counts - np.bincount(groups.of_host[removed], minlength=groups.counts.size)
    if not left.any():
        raise UsageError("--without removes every host of the fleet")
    features = common_features(groups, policy, left > 0)
    return Without(list(names), int(removed.sum()), features, features - base.features)


# --- the whole analysis -----------------------------------------------------------------

@dataclass
class FleetReport:
    """Everything ``cpucompat fleet`` reports."""

    fleet: Fleet
    groups: Classes
    baseline: FleetBaseline
    coverage: dict[str, float]
    min_hosts: MinHosts | None = None
    without: Without | None = None


def analyse(fleet: Fleet, policy: Policy = Policy(), share: Fraction | None = None,
            without_hosts: Sequence[str] = ()) -> FleetReport:
    """Classes, baseline and coverage of a fleet, plus the --min-hosts and --without what-ifs.

    Classes and coverage are of guest-visible features only, unless ``policy.all_bits``: hosts
    that differ in host-only bits alone (HWP, EST ...) are one class."""
    groups = classes(fleet.bits if policy.all_bits else fleet.bits & guest_visible_row())
    base = fleet_baseline(fleet, groups, policy)
    report = FleetReport(fleet, groups, base, coverage(groups))
    if share is not None:
        report.min_hosts = min_hosts(groups, base, share, policy)
    if without_hosts:
        report.without = without(fleet, groups, base, without_hosts, policy)
    return report
