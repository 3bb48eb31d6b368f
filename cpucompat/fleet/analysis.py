"""Fleet analysis: a million hosts as a bit matrix.

Each host is one row of packed feature bits: feature ``j`` of ``data/features.csv`` is bit
``j % 64`` of word ``j // 64`` in a ``(hosts, words)`` uint64 matrix. Hosts with identical
feature sets are identical rows, so the hosts are grouped once into *classes* (distinct rows
with host counts) and everything after that works on the few classes, not the many hosts:
the common ground is an AND over the class rows, coverage a count-weighted column sum.

The baseline policy is ``cpucompat.cluster``'s, called rather than re-implemented:
``usable_features`` (drop OS bits, host-only bits and non-migratable features, close under
dependencies), ``host_only_left_out``, ``MixedVendors`` and ``name_baseline``. ``fleet`` and
``baseline`` over the same hosts agree.

``--min-hosts`` is a greedy search that is easy to explain. A host can give a VM its
*usable* set ``U`` (its features under the policy); the baseline of any set of hosts is the
intersection of their ``U``. Starting from the baseline of all hosts, candidate features (on
at least the share of hosts) are tried by coverage, highest first; a feature is kept when the
hosts offering every feature kept so far still reach the share. The result is the baseline of
the hosts that remain, by the same rule as ``cluster.cluster_baseline``: maximal, since adding
any further feature would lose too many hosts.

Scalars (vendor, signature, max leaves, address bits, XSAVE masks) ride along in a pandas
frame; pandas is imported only when a fleet is built.
"""

from __future__ import annotations

import hashlib
import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from fractions import Fraction
from functools import cache

from ..knowledge.baselines import Baseline
from ..cluster import (
    LEVELLED_FIELDS,
    MixedVendors,
    Policy,
    host_only_left_out,
    name_baseline,
    usable_features,
)
from ..decode import Decoded
from ..errors import CpuCompatError, UsageError
from ..knowledge.features import feature_table


class MissingExtra(CpuCompatError):
    """Fleet analysis without pandas (and numpy) installed."""


try:
    import numpy as np
except ImportError:  # pragma: no cover - numpy comes with pandas, the fleet extra
    raise MissingExtra("fleet analysis needs pandas: pip install 'cpucompat[fleet]'") from None


def pandas():
    """The pandas module, imported on first use; MissingExtra (exit 2) when it is not installed."""
    try:
        import pandas as pd
    except ImportError:
        raise MissingExtra("fleet analysis needs pandas: pip install 'cpucompat[fleet]'") from None
    return pd


#: Scalar columns of a fleet, besides ``host`` and one bool column per feature.
SCALARS = ("vendor", "family", "model", "stepping", *LEVELLED_FIELDS, "xcr0_supported", "xss_supported")
#: Scalars that are masks of XSAVE components: levelled by AND, like ``cluster.level_fields``.
MASK_FIELDS = ("xcr0_supported", "xss_supported")
#: Example hosts shown per class.
EXAMPLES = 3
_MIX = np.uint64(0x9E3779B97F4A7C15)  # odd 64-bit constant for the row hash


# --- feature bits -----------------------------------------------------------------------

@cache
def columns() -> tuple[str, ...]:
    """Canonical feature names in column order (``data/features.csv`` order)."""
    return tuple(f.name for f in feature_table().features)


@cache
def _column_index() -> dict[str, int]:
    return {name: j for j, name in enumerate(columns())}


def words() -> int:
    """uint64 words per host row."""
    return (len(columns()) + 63) // 64


def pack(features: Iterable[str]) -> np.ndarray:
    """One host's features as a row of ``words()`` uint64."""
    flags = np.zeros(words() * 64, dtype=bool)
    flags[[_column_index()[name] for name in features]] = True
    return pack_matrix(flags[None, :])[0]


@cache
def guest_visible_row() -> np.ndarray:
    """One row with the bits of the guest-visible features set: ANDed in, it drops host-only bits."""
    return pack(n for n in columns() if feature_table().guest_visible(n))


def unpack(row: np.ndarray) -> frozenset[str]:
    """The canonical feature names whose bits are set in one row."""
    names = columns()
    return frozenset(names[j] for j in np.flatnonzero(bool_matrix(row[None, :])[0]))


def bool_matrix(rows: np.ndarray) -> np.ndarray:
    """``(k, words)`` uint64 rows as a ``(k, features)`` bool matrix."""
    as_bytes = np.ascontiguousarray(rows, dtype="<u8").view(np.uint8)
    return np.unpackbits(as_bytes, axis=1, bitorder="little")[:, :len(columns())].view(bool)


def pack_matrix(flags: np.ndarray) -> np.ndarray:
    """A ``(k, features)`` bool matrix as ``(k, words)`` uint64 rows."""
    padded = np.zeros((flags.shape[0], words() * 64), dtype=bool)
    padded[:, :flags.shape[1]] = flags
    return np.packbits(padded, axis=1, bitorder="little").view("<u8").astype(np.uint64, copy=False)


# --- the fleet --------------------------------------------------------------------------

@dataclass
class Fleet:
    """Hosts, their feature bits and their scalars, row for row."""

    hosts: object  # pandas Series of host names (str)
    bits: np.ndarray  # (hosts, words()) uint64
    scalars: object  # pandas DataFrame with the SCALARS columns

    def __len__(self) -> int:
        return self.bits.shape[0]


def scalar_frame(records: Sequence[tuple] | dict):
    """The scalars as a frame with nullable integer columns and a categorical vendor."""
    pd = pandas()

    frame = pd.DataFrame(records, copy=False) if isinstance(records, dict) else pd.DataFrame(records, columns=list(SCALARS))
    for name in SCALARS[1:]:
        frame[name] = frame[name].astype("UInt64" if name in MASK_FIELDS else "Int64")
    frame["vendor"] = frame["vendor"].astype("category")
    return frame[list(SCALARS)]


def host_scalars(host: Decoded) -> tuple:
    """One decoded host's scalar values, in SCALARS order."""
    return (host.vendor, host.family, host.model, host.stepping,
            *(host.fields.get(name) for name in SCALARS[4:]))


def from_records(names: Sequence[str], rows: Sequence, scalars: Sequence[tuple]) -> Fleet:
    """A fleet from per-host names, packed rows and scalar tuples."""
    pd = pandas()

    bits = np.array(rows, dtype=np.uint64).reshape(len(names), words())
    return Fleet(pd.Series(list(names), dtype="str"), bits, scalar_frame(scalars))


def from_decoded(hosts: Sequence[Decoded]) -> Fleet:
    """A fleet from decoded hosts (names are ``Decoded.name``)."""
    return from_records([h.name for h in hosts], [pack(h.features) for h in hosts],
                        [host_scalars(h) for h in hosts])


def concat(fleets: Sequence[Fleet]) -> Fleet:
    """Several fleets as one, rows in order."""
    pd = pandas()

    if len(fleets) == 1:
        return fleets[0]
    hosts = pd.concat([f.hosts for f in fleets], ignore_index=True)
    scalars = scalar_frame(pd.concat([f.scalars.astype({"vendor": "str"}) for f in fleets], ignore_index=True))
    return Fleet(hosts, np.concatenate([f.bits for f in fleets]), scalars)


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
    """The one vendor of all hosts; MixedVendors unless cross_vendor (then None)."""
    counts = fleet.scalars["vendor"].value_counts()
    counts = counts[counts > 0]  # a categorical column counts unused categories too
    if len(counts) == 1:
        return str(counts.index[0])
    if cross_vendor:
        return None
    vendors = fleet.scalars["vendor"].astype("str")
    detail = "; ".join(
        f"{vendor}: {count} hosts, e.g. {', '.join(fleet.hosts[vendors == vendor].head(EXAMPLES))}"
        for vendor, count in sorted(counts.items()))
    raise MixedVendors(f"hosts of different CPU vendors cannot share a baseline ({detail}); "
                       "use --cross-vendor for the vendor-neutral common ground")


def level_fields(scalars) -> dict:
    """Lowest max leaves and address bits; XSAVE components common to all hosts (as cluster)."""
    fields: dict = {}
    for name in LEVELLED_FIELDS:
        column = scalars[name]
        fields[name] = None if column.isna().any() else int(column.min())
    for name in MASK_FIELDS:
        column = scalars[name]
        fields[name] = None if column.isna().any() else int(np.bitwise_and.reduce(column.to_numpy(np.uint64)))
    return fields


def _named(features: frozenset[str], vendor: str | None, raw: frozenset[str], policy: Policy) -> dict:
    result = name_baseline(features, vendor, raw, policy)
    if policy.cross_vendor and vendor is None:  # as cluster_baseline: only psABI levels are vendor-neutral
        result = {"psabi": result["psabi"], "evc": None, "qemu": None}
    return result


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
    return FleetBaseline(features, level_fields(fleet.scalars), vendor, _named(features, vendor, raw, policy), host_only)


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
    order = _column_index()
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
