"""``cpucompat report``: the fleet report's document (the page is ``views/report_page.py``).

It is ``fleet``'s own document (``views/fleet_vendors.fleet_document``, so every number is the one
``cpucompat fleet --json`` gives for the same inputs), one part per CPU vendor, plus what the page
adds, computed by the same library:

- CPUID classes: hosts with identical raw CPUID bits (``fleet/domains.raw_classes``, named as
  ``fleet`` names them), each with its compatibility class, CPU signature, hosts and ladder: the
  highest EVC mode (judged as vCenter judges hosts), QEMU model and psABI level, and the next rung
  up with the features the class lacks of it (why it stops there);
- the heat map: per compatibility class (``fleet``'s classes), its hosts and the features of each
  group it lacks, in the KVM view; the groups are the feature families text output names
  (``data/feature-families.csv``), the rest by group (instructions, security, ...);
- weakest links: ``cluster.weakest_links``' rule over compatibility classes (the features at most
  5% of the hosts lack) and what the fleet would reach without those hosts;
- same CPU, fewer features: CPUID classes that lack features other hosts with the same CPU
  signature have, with the BIOS setting (``fleet/domains.bios_causes``) or microcode update
  (``data/remedies.csv``) that explains them;
- guest-OS floors: every floor under the fleet baseline (``guests.check``, as ``fleet`` checks
  them) and how many hosts meet it on their own.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from ..knowledge.remedies import action, microcode_updates
from ..cluster import Policy, esxi_view, usable_features
from ..evc import next_mode_up
from .. import guests
from ..fleet import domains as dom
from ..fleet.analysis import FleetReport, analyse
from ..fleet.bits import unpack
from ..fleet.model import Fleet, pandas
from ..knowledge import baselines
from ..knowledge.features import feature_table
from .baseline import key
from .console import by_family, grouped
from .fleet_vendors import NAMED_CLASSES, fleet_document, split_by_vendor

#: Migration domains proposed unless ``--domains`` says otherwise.
DOMAINS = 3
#: Host names one listing of the page (the heat map's, the ladder's) names at most; the rest are counted.
HOST_NAMES = 50_000
#: The share of hosts ``cluster.weakest_links`` lets lack a feature for it to count.
WEAK_SHARE = 0.05


def spell(names, vocabulary: str) -> list[str]:
    """Canonical names in the vocabulary (the canonical name where it has none), sorted."""
    table = feature_table()
    return sorted(table.by_name[n].name_in(vocabulary) or n for n in names)


# --- ladders ----------------------------------------------------------------------------

def next_rung(kind: str, current: baselines.Baseline | None, vendor: str | None,
              present: frozenset[str]) -> baselines.Baseline | None:
    """The rung above ``current``: for EVC the mode ``evc check`` names (``evc.next_mode_up``);
    for QEMU models and psABI levels, of those above it, the one the host misses fewest features of."""
    if kind == "evc":
        return next_mode_up(current, vendor, present)
    level = -1 if current is None else current.level
    above = [b for b in baselines.load_baselines(kind) if b.fits_vendor(vendor) and b.level > level]
    return min(above, key=lambda b: (len(b.required - present), b.level), default=None)


def kvm_view(row: np.ndarray, policy: Policy) -> frozenset[str]:
    """What a class offers a KVM guest: its usable features and what never blocks."""
    return usable_features(unpack(row), policy) | policy.never_blocking()


def ladder(row: np.ndarray, vendor: str, policy: Policy, vocabulary: str) -> dict:
    """Per kind the highest named baseline, the next rung and what the class lacks of it."""
    named = dom.ground(row[None, :], vendor, policy).named
    esxi, kvm = esxi_view(unpack(row)), kvm_view(row, policy)  # EVC as vCenter judges hosts
    out = {}
    for kind, present in (("evc", esxi), ("qemu", kvm), ("psabi", kvm)):
        above = next_rung(kind, named.get(kind), vendor, present)
        out[kind] = {"highest": key(named.get(kind)), "next": key(above),
                     "missing": spell(baselines.missing_for(above, present), vocabulary) if above else []}
    return out


# --- heat map ---------------------------------------------------------------------------

def heat_groups(seen: frozenset[str], policy: Policy) -> list[dict]:
    """The heat map's columns: the features the policy judges that some host has, by family
    (``data/feature-families.csv``, as text output names them), the rest by group (instructions,
    security, ...)."""
    families = by_family(n for n in seen if policy.admits(n))
    other = families.pop("other", [])
    groups = [{"label": label, "features": frozenset(members)} for label, members in families.items()]
    groups += [{"label": f"other {group}", "features": frozenset(members)} for group, members in grouped(other).items()]
    return groups


def heat_rows(report: FleetReport, summary: dict, groups: list[dict], policy: Policy, vocabulary: str,
              budget: list[int]) -> list[dict]:
    """Per compatibility class (``fleet``'s, in its order): its hosts (within ``budget``) and the
    features of each group it lacks, in the KVM view (what a guest may be given)."""
    order = np.argsort(report.groups.of_host, kind="stable")
    members = np.split(order, np.cumsum(report.groups.counts)[:-1])
    out = []
    for item, row, hosts in zip(summary["classes"], report.groups.rows, members):
        kvm = kvm_view(row, policy)
        out.append({"name": item.get("name") or item["id"], "id": item["id"], "hosts": item["hosts"],
                    "host_names": listed(report.fleet, hosts, budget),
                    "lacks": [spell(g["features"] - kvm, vocabulary) for g in groups]})
    return out


def listed(fleet: Fleet, members: np.ndarray, budget: list[int]) -> list[str]:
    """The names of these hosts, as many as ``budget`` (shared by one listing of the page) allows."""
    shown = members[:max(0, min(budget[0], members.size))]
    budget[0] -= shown.size
    return [str(h) for h in fleet.hosts.iloc[shown]]


# --- CPUID classes ----------------------------------------------------------------------

def signatures(fleet: Fleet, raw: dom.RawClasses) -> list[str]:
    """``family 0x6 model 0x55 stepping 7`` of each CPUID class (``?`` where the input had none)."""
    firsts = [int(m[0]) for m in raw.members]
    columns = {name: fleet.scalars[name].iloc[firsts].tolist() for name in ("family", "model", "stepping")}

    def shown(value, hexa: bool) -> str:
        if pandas().isna(value):
            return "?"
        return f"{int(value):#x}" if hexa else str(int(value))

    return [f"family {shown(f, True)} model {shown(m, True)} stepping {shown(s, False)}"
            for f, m, s in zip(columns["family"], columns["model"], columns["stepping"])]


def raw_names(raw: dom.RawClasses, policy: Policy) -> list[str]:
    """The CPUID classes' names, as ``fleet`` names them in ``evc_costs``."""
    if len(raw.counts) > 4 * NAMED_CLASSES:
        return [f"class {i + 1}" for i in range(len(raw.counts))]
    return dom.class_names(raw.rows, raw.counts, raw.vendors, policy)


def cpuid_classes(fleet: Fleet, report: FleetReport, raw: dom.RawClasses, summary: dict, policy: Policy,
                  vocabulary: str, budget: list[int]) -> list[dict]:
    """Every CPUID class with its hosts (within ``budget``, shared by the whole page), compatibility
    class, signature and ladder."""
    names, cpus = raw_names(raw, policy), signatures(fleet, raw)
    compat = summary["classes"]
    out = []
    for i, members in enumerate(raw.members):
        item = compat[int(report.groups.of_host[members[0]])]
        out.append({"name": names[i], "hosts": int(raw.counts[i]), "vendor": raw.vendors[i],
                    "signature": cpus[i],
                    "compatibility_class": item.get("name") or item["id"],
                    "host_names": listed(fleet, members, budget),
                    "ladder": ladder(raw.rows[i], raw.vendors[i], policy, vocabulary)})
    return out


# --- weakest links, same CPU, guest floors -----------------------------------------------

def weakest_links(report: FleetReport, raw: dom.RawClasses, summary: dict, policy: Policy, vocabulary: str) -> dict:
    """Compatibility classes whose hosts alone (with at most 5% of the hosts) remove a feature,
    and the fleet without all of them."""
    groups = report.groups
    total = int(groups.counts.sum())
    few = max(1, math.floor(total * WEAK_SHARE))
    seen = unpack(np.bitwise_or.reduce(groups.rows, axis=0))
    usable = [usable_features(unpack(row), policy, seen) for row in groups.rows]
    everywhere = frozenset.intersection(*usable)
    removes: dict[int, set[str]] = {}
    for name in frozenset.union(*usable) - everywhere:
        lacking = [i for i, features in enumerate(usable) if name not in features]
        if int(groups.counts[lacking].sum()) <= few:
            for i in lacking:
                removes.setdefault(i, set()).add(name)
    classes = [{"name": summary["classes"][i].get("name") or summary["classes"][i]["id"],
                "id": summary["classes"][i]["id"], "hosts": int(groups.counts[i]),
                "removes": spell(removes[i], vocabulary)} for i in sorted(removes)]
    result = {"few": few, "classes": classes, "without": None}
    if removes:
        compat_of = groups.of_host[[int(m[0]) for m in raw.members]]
        kept = np.flatnonzero(~np.isin(compat_of, list(removes)))
        vendor = summary["vendor"]
        before, after = dom.ground(raw.rows, vendor, policy), dom.ground(raw.rows[kept], vendor, policy)
        result["without"] = {"hosts": int(groups.counts[list(removes)].sum()), "evc_mode": key(after.named.get("evc")),
                             "qemu_model": key(after.named.get("qemu")), "psabi_level": key(after.named.get("psabi")),
                             "gained": spell(after.features - before.features, vocabulary)}
    return result


def same_cpu(raw: dom.RawClasses, classes: list[dict], vocabulary: str) -> list[dict]:
    """CPUID classes lacking features that hosts with the same vendor and CPU signature have, and
    the BIOS settings and microcode updates that explain them (the rest: nothing in cpucompat's data does)."""
    table = feature_table()
    by_signature: dict[tuple, list[int]] = {}
    for i, item in enumerate(classes):
        by_signature.setdefault((item["vendor"], item["signature"]), []).append(i)
    out = []
    for (vendor, signature), index in by_signature.items():
        if len(index) < 2:
            continue
        union = np.bitwise_or.reduce(raw.rows[index], axis=0)
        for i in index:
            lacking = sorted(n for n in unpack(union & ~raw.rows[i]) if table.by_name[n].kind != "os")
            if not lacking:
                continue
            causes = dom.bios_causes(lacking)
            updates = microcode_updates(set(lacking) - {n for hidden in causes.values() for n in hidden}, vendor)
            explained = {n for hidden in [*causes.values(), *updates.values()] for n in hidden}
            out.append({"class": classes[i]["name"], "hosts": int(raw.counts[i]), "vendor": vendor, "signature": signature,
                        "lacking": spell(lacking, vocabulary),
                        "bios": {f: spell(hidden, vocabulary) for f, hidden in causes.items()},
                        "microcode": {c: spell(hidden, vocabulary) for c, hidden in updates.items()},
                        "remedies": [action(cause) for cause in [*causes, *updates]],
                        "unexplained": spell(set(lacking) - explained, vocabulary)})
    return sorted(out, key=lambda e: (not e["bios"], -e["hosts"]))


def guest_floors(report: FleetReport, raw: dom.RawClasses, policy: Policy, vocabulary: str) -> list[dict]:
    """Every guest-OS floor under the fleet baseline (as ``fleet`` checks it; what it misses in the
    vocabulary) and the hosts that meet it on their own."""
    never = policy.never_blocking()
    present = report.baseline.features | never
    results = guests.check(present, [f.key for f in guests.floors()])
    own = [kvm_view(row, policy) for row in raw.rows]
    out = guests.to_json(results)
    for entry, result in zip(out, results):
        entry["missing"] = spell(entry["missing"], vocabulary)
        entry["hosts_meeting"] = int(sum(int(c) for c, f in zip(raw.counts, own) if result.floor.needs <= f))
    return out


# --- the document -----------------------------------------------------------------------

def vendor_part(fleet: Fleet, summary: dict, policy: Policy, vocabulary: str, budgets: tuple[list[int], list[int]]) -> dict:
    """One vendor's part of the report: ``fleet``'s document and what the page adds."""
    report = analyse(fleet, policy)
    raw = dom.raw_classes(fleet)
    classes = cpuid_classes(fleet, report, raw, summary, policy, vocabulary, budgets[1])
    groups = heat_groups(unpack(np.bitwise_or.reduce(report.groups.rows, axis=0)), policy)
    return {"fleet": summary, "heat_groups": [{"label": g["label"], "features": spell(g["features"], vocabulary)}
                                              for g in groups],
            "heat": heat_rows(report, summary, groups, policy, vocabulary, budgets[0]),
            "cpuid_classes": classes,
            "weakest_links": weakest_links(report, raw, summary, policy, vocabulary),
            "same_cpu": same_cpu(raw, classes, vocabulary),
            "guest_floors": guest_floors(report, raw, policy, vocabulary)}


def report_document(fleet: Fleet, policy: Policy = Policy(), vocabulary: str = "canonical",
                    skipped: Sequence[tuple[str, str]] = (), k: int | None = DOMAINS) -> dict:
    """The whole report: ``{hosts, notes, skipped, vendors: [part per vendor]}``."""
    document = fleet_document(fleet, policy, vocabulary=vocabulary, skipped=skipped, k=k)
    summaries = document.get("vendors", [document])
    parts = [fleet] if len(summaries) == 1 else [part for _, part in split_by_vendor(fleet)]
    budgets = ([HOST_NAMES], [HOST_NAMES])  # the heat map's host lists, the ladder's
    return {"hosts": len(fleet), "notes": document.get("notes", []),
            "skipped": [{"input": path, "error": reason} for path, reason in skipped],
            "vendors": [vendor_part(part, summary, policy, vocabulary, budgets)
                        for part, summary in zip(parts, summaries)]}
