"""Migration domains, readable class names and the hosts that cost the fleet its EVC mode.

``fleet --domains K`` proposes how to split a fleet into at most K groups, each with its own
baseline (an EVC cluster, a QEMU model per group), so that VMs keep as much as possible. The
score of a split, compared in this order:

1. host-weighted EVC level: every host counts the level of its group's EVC mode (none: 0), so a
   handful of hosts with NX off in their BIOS, which leave the whole fleet without any EVC mode,
   are put apart first;
2. host-weighted QEMU model level, the same way;
3. host-weighted feature count: every host counts the features its group's baseline keeps.

The search is greedy and divisive: start from one group per CPU vendor (a vendor split is
forced: no baseline spans two vendors), then, while fewer than K groups, take the split of one
group by one CPUID bit (its hosts with the bit / without it) that raises the score most; stop
early when no split raises it. It works on classes (hosts with identical raw CPUID bits), so
100,000 hosts cost what their few hundred classes cost.

Classes are named by what they offer, not by a hash: the highest EVC mode (else QEMU model,
else psABI level) of the class, and, where several classes share that name, a short
distinguisher against the largest of them (``intel-cascadelake -hle -rtm``).

``evc_costs`` says which hosts cost the fleet its EVC mode: the highest mode that at least
95% of the hosts reach together, the classes below it, what each lacks of it, and the BIOS
setting that explains the loss (``data/finding-features.csv``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from ..cluster import Policy, esxi_view, name_baseline, usable_features
from ..knowledge import baselines
from ..knowledge.features import feature_table
from ..knowledge.remedies import action
from .analysis import classes
from .bits import unpack
from .model import Fleet

#: The share of hosts the EVC cost analysis keeps together.
EVC_SHARE = 0.95
EXAMPLES = 10


@dataclass
class RawClasses:
    """Hosts grouped by identical raw CPUID bits (EVC judges raw bits; KVM the guest-visible)."""

    rows: np.ndarray
    counts: np.ndarray
    vendors: list[str]
    members: list[np.ndarray]  # host indexes of each class


def raw_classes(fleet: Fleet) -> RawClasses:
    groups = classes(fleet.bits)
    vendors = fleet.scalars["vendor"].astype("str").to_numpy()
    order = np.argsort(groups.of_host, kind="stable")
    bounds = np.cumsum(groups.counts)[:-1]
    members = np.split(order, bounds)
    return RawClasses(groups.rows, groups.counts, [str(vendors[m[0]]) for m in members], members)


@dataclass(frozen=True)
class Ground:
    """The common ground of some classes: raw intersection, usable features, named baselines."""

    raw: frozenset[str]
    features: frozenset[str]
    named: dict

    def level(self, kind: str) -> int:
        baseline = self.named.get(kind)
        return 0 if baseline is None else baseline.level + 1


def ground(rows: np.ndarray, vendor: str | None, policy: Policy) -> Ground:
    raw = unpack(np.bitwise_and.reduce(rows, axis=0))
    seen = unpack(np.bitwise_or.reduce(rows, axis=0))
    features = usable_features(raw, policy, seen)
    return Ground(raw, features, name_baseline(features, vendor, raw, policy))


def _score(hosts: int, g: Ground) -> np.ndarray:
    return np.array([hosts * g.level("evc"), hosts * g.level("qemu"), hosts * len(g.features)], dtype=np.int64)


def _better(a: np.ndarray, b: np.ndarray) -> bool:
    """Lexicographic a > b."""
    for x, y in zip(a, b):
        if x != y:
            return x > y
    return False


# --- class names ------------------------------------------------------------------------

def _base_name(g: Ground) -> str:
    for kind in ("evc", "qemu", "psabi"):
        if g.named.get(kind) is not None:
            return g.named[kind].key
    return "x86-64 (no named baseline)"


def _distinguisher(features: frozenset[str], reference: frozenset[str], most: int = 3) -> str:
    lost, gained = sorted(reference - features), sorted(features - reference)
    words = [f"-{n}" for n in lost] + [f"+{n}" for n in gained]
    if len(words) > most:
        words = words[:most] + [f"(+{len(words) - most} more)"]
    return " ".join(words)


def class_names(rows: np.ndarray, counts: np.ndarray, vendors: Sequence[str | None], policy: Policy) -> list[str]:
    """A readable, unique name per class: its named baseline, and what sets it apart from the
    largest class of the same name (classes ordered largest first, as ``analysis.classes``)."""
    grounds = [ground(rows[i:i + 1], vendors[i], policy) for i in range(rows.shape[0])]
    bases = [_base_name(g) for g in grounds]
    first: dict[str, int] = {}
    names, used = [], set()
    for i, base in enumerate(bases):
        if base not in first:
            first[base] = i
            name = base
        else:
            reference = grounds[first[base]]
            diff = _distinguisher(grounds[i].features, reference.features) or \
                _distinguisher(grounds[i].raw, reference.raw)
            name = f"{base} {diff}".strip()
        candidate, n = name, 2
        while candidate in used:
            candidate, n = f"{name} #{n}", n + 1
        used.add(candidate)
        names.append(candidate)
    return names


# --- the hosts that cost the EVC mode ---------------------------------------------------

def bios_causes(missing: Sequence[str]) -> dict[str, list[str]]:
    """Finding id -> the missing features that BIOS setting explains (Limit CPUID Maxval only when
    nothing else explains the rest and it explains all of it)."""
    from ..evc import MAXVAL_FINDING, finding_features

    table = finding_features()
    causes: dict[str, list[str]] = {}
    left = set(missing)
    for finding, hidden in table.items():
        if finding != MAXVAL_FINDING and (hit := sorted(left & hidden)):
            causes[finding] = hit
    left -= {n for names in causes.values() for n in names}
    if left and left <= table.get(MAXVAL_FINDING, frozenset()) and len(left) > 3:
        causes[MAXVAL_FINDING] = sorted(left)
    return causes


@dataclass
class CostlyClass:
    name: str
    hosts: int
    examples: list[str]
    missing: list[str]  # features of the reachable mode the class lacks
    causes: dict[str, list[str]]  # finding id -> features it explains
    remedies: list[str]


@dataclass
class EvcCost:
    vendor: str
    mode: str | None  # the fleet's (this vendor's) EVC mode
    reachable: str | None  # the mode the hosts outside the costly classes reach together
    costly_hosts: int
    classes: list[CostlyClass] = field(default_factory=list)


def evc_costs(fleet: Fleet, raw: RawClasses, names: list[str], policy: Policy = Policy()) -> list[EvcCost]:
    """Per vendor: which hosts keep the fleet below the EVC mode 95% of its hosts reach together."""
    results = []
    for vendor in sorted(set(raw.vendors)):
        index = [i for i, v in enumerate(raw.vendors) if v == vendor]
        total = int(raw.counts[index].sum())
        own = {i: baselines.highest_satisfied(esxi_view(unpack(raw.rows[i])), vendor, "evc") for i in index}
        mode = ground(raw.rows[index], vendor, policy).named.get("evc")
        levels = sorted({b.level for b in own.values() if b is not None}, reverse=True)
        reachable, costly = mode, []
        for level in levels:
            kept = [i for i in index if own[i] is not None and own[i].level >= level]
            if raw.counts[kept].sum() < EVC_SHARE * total:
                continue
            candidate = ground(raw.rows[kept], vendor, policy).named.get("evc")
            if candidate is not None and (mode is None or candidate.level > mode.level):
                reachable, costly = candidate, [i for i in index if i not in kept]
            break
        cost = EvcCost(vendor, mode.key if mode else None, reachable.key if reachable else None,
                       int(raw.counts[costly].sum()))
        costly.sort(key=lambda i: (-1 if own[i] is None else own[i].level, -int(raw.counts[i])))
        for i in costly:
            missing = baselines.missing_for(reachable, esxi_view(unpack(raw.rows[i])))
            causes = bios_causes(missing)
            hosts = fleet.hosts.iloc[raw.members[i][:EXAMPLES]]
            cost.classes.append(CostlyClass(names[i], int(raw.counts[i]), [str(h) for h in hosts], missing, causes,
                                            [action(c) for c in causes]))
        results.append(cost)
    return results


# --- domains ----------------------------------------------------------------------------

@dataclass
class Domain:
    name: str
    vendor: str
    classes: list[int]
    hosts: int
    examples: list[str]
    ground: Ground
    gained: list[str]  # features over the single fleet-wide baseline (of this vendor)


@dataclass
class Domains:
    k: int
    domains: list[Domain]
    notes: list[str] = field(default_factory=list)


def _split_candidates(rows: np.ndarray) -> np.ndarray:
    """Bit columns (word, bit) that vary among the rows."""
    varying = np.bitwise_or.reduce(rows, axis=0) & ~np.bitwise_and.reduce(rows, axis=0)
    words = np.flatnonzero(varying)
    return [(int(w), b) for w in words for b in range(64) if (int(varying[w]) >> b) & 1]


def propose(fleet: Fleet, raw: RawClasses, k: int, policy: Policy = Policy()) -> Domains:
    """At most ``k`` groups of hosts, one baseline each, by the greedy search of the module docstring."""
    notes = []
    vendors = sorted(set(raw.vendors))
    groups = [[i for i, v in enumerate(raw.vendors) if v == vendor] for vendor in vendors]
    if len(groups) > k:
        notes.append(f"{len(groups)} CPU vendors need {len(groups)} domains at least (asked for {k})")
    hosts_of = lambda g: int(raw.counts[g].sum())  # noqa: E731
    grounds = [ground(raw.rows[g], raw.vendors[g[0]], policy) for g in groups]
    while len(groups) < k:
        best = None
        for gi, group in enumerate(groups):
            if len(group) < 2:
                continue
            current = _score(hosts_of(group), grounds[gi])
            vendor = raw.vendors[group[0]]
            rows = raw.rows[group]
            for word, bit in _split_candidates(rows):
                has = ((rows[:, word] >> np.uint64(bit)) & np.uint64(1)).astype(bool)
                left = [c for c, h in zip(group, has) if h]
                right = [c for c, h in zip(group, has) if not h]
                gl, gr = ground(raw.rows[left], vendor, policy), ground(raw.rows[right], vendor, policy)
                gain = _score(hosts_of(left), gl) + _score(hosts_of(right), gr) - current
                if best is None or _better(gain, best[0]):
                    best = (gain, gi, left, right, gl, gr)
        if best is None or not _better(best[0], np.zeros(3, dtype=np.int64)):
            notes.append(f"no split raises what VMs keep beyond {len(groups)} domain(s)")
            break
        _, gi, left, right, gl, gr = best
        groups[gi:gi + 1] = [left, right]
        grounds[gi:gi + 1] = [gl, gr]
    fleet_wide = {v: ground(raw.rows[[i for i, x in enumerate(raw.vendors) if x == v]], v, policy) for v in vendors}
    domains, largest, used = [], {}, set()
    for group, g in sorted(zip(groups, grounds), key=lambda pair: -hosts_of(pair[0])):
        vendor = raw.vendors[group[0]]
        members = np.concatenate([raw.members[i] for i in group])
        members.sort()
        name = _base_name(g)
        if vendor in largest:  # named by what sets it apart from the vendor's largest domain
            name = f"{name} {_distinguisher(g.features, largest[vendor].features)}".strip()
        else:
            largest[vendor] = g
        candidate, n = name, 2
        while candidate in used:
            candidate, n = f"{name} #{n}", n + 1
        used.add(candidate)
        domains.append(Domain(candidate, vendor, sorted(group), hosts_of(group),
                              [str(h) for h in fleet.hosts.iloc[members[:EXAMPLES]]], g,
                              sorted(g.features - fleet_wide[vendor].features)))
    return Domains(k, domains, notes)


def domains_json(result: Domains, vocabulary: str = "canonical", fleet: Fleet | None = None,
                 raw: RawClasses | None = None, all_hosts_up_to: int = 1000) -> dict:
    """JSON of the proposal; a domain of at most ``all_hosts_up_to`` hosts lists them all."""
    table = feature_table()

    def key(baseline):
        return baseline.key if baseline is not None else None

    out = []
    for d in result.domains:
        entry = {"name": d.name, "vendor": d.vendor, "hosts": d.hosts, "examples": d.examples,
                 "evc_mode": key(d.ground.named.get("evc")), "qemu_model": key(d.ground.named.get("qemu")),
                 "psabi_level": key(d.ground.named.get("psabi")), "features": len(d.ground.features),
                 "gained": table.names(d.gained, vocabulary), "classes": len(d.classes)}
        if fleet is not None and raw is not None and d.hosts <= all_hosts_up_to:
            members = np.sort(np.concatenate([raw.members[i] for i in d.classes]))
            entry["host_names"] = [str(h) for h in fleet.hosts.iloc[members]]
        out.append(entry)
    return {"k": result.k, "domains": out, "notes": result.notes}


def costs_json(costs: list[EvcCost], vocabulary: str = "canonical") -> list[dict]:
    table = feature_table()
    return [{"vendor": c.vendor, "evc_mode": c.mode, "reachable_evc_mode": c.reachable, "costly_hosts": c.costly_hosts,
             "classes": [{"name": k.name, "hosts": k.hosts, "examples": k.examples,
                          "missing": table.names(k.missing, vocabulary), "bios": k.causes, "remedies": k.remedies}
                         for k in c.classes]}
            for c in costs if c.classes]
