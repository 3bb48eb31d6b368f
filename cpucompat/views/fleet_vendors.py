"""The ``fleet`` command's document: per CPU vendor (a mixed fleet is a report per vendor, never
an error), with readable class names, the hosts that cost the EVC mode, guest-OS floors and,
with ``--domains K``, the proposed migration domains (``fleet/domains.py``)."""

from __future__ import annotations

from collections.abc import Sequence
from fractions import Fraction

import numpy as np

from ..cluster import Policy
from ..errors import UsageError
from ..guests import warn as guest_floors
from ..fleet import domains as dom
from ..fleet.analysis import analyse
from ..fleet.model import Fleet
from .fleet import fleet_json

#: Classes named in the document (the largest first); the rest keep their id only.
NAMED_CLASSES = 200


def split_by_vendor(fleet: Fleet) -> list[tuple[str, Fleet]]:
    """One fleet per CPU vendor, rows in order; a one-vendor fleet is itself."""
    vendors = fleet.scalars["vendor"].astype("str").to_numpy()
    distinct = sorted(set(vendors.tolist()))
    if len(distinct) == 1:
        return [(distinct[0], fleet)]
    parts = []
    for vendor in distinct:
        mask = vendors == vendor
        scalars = fleet.scalars[mask].reset_index(drop=True)
        scalars["vendor"] = scalars["vendor"].cat.remove_unused_categories()
        parts.append((vendor, Fleet(fleet.hosts[mask].reset_index(drop=True), fleet.bits[mask], scalars)))
    return parts


def _dominant(report, raw: dom.RawClasses) -> np.ndarray:
    """Per class (guest-visible features), the raw-CPUID class holding most of its hosts."""
    raw_of = np.empty(len(report.fleet), dtype=np.int64)
    for i, members in enumerate(raw.members):
        raw_of[members] = i
    n = len(raw.counts)
    pairs, counts = np.unique(report.groups.of_host.astype(np.int64) * n + raw_of, return_counts=True)
    group, raw_class = np.divmod(pairs, n)
    order = np.lexsort((raw_class, -counts, group))  # per class: most hosts, then the larger raw class
    first = order[np.r_[True, group[order][1:] != group[order][:-1]]]
    return raw_class[first]


def _name_classes(document: dict, report, raw: dom.RawClasses, raw_names: list[str]) -> None:
    """Each class is named as the raw-CPUID class of most of its hosts (the names ``evc_costs``
    uses): a class whose few hosts have VT-x off in the BIOS, which KVM guests never see, keeps
    the name of what its other hosts offer."""
    for item, i in zip(document["classes"][:NAMED_CLASSES], _dominant(report, raw)):
        item["name"] = raw_names[int(i)]


def _one(fleet: Fleet, policy: Policy, share: Fraction | None, left_out: Sequence[str], vocabulary: str,
         skipped, guests: Sequence[str], k: int | None) -> dict:
    report = analyse(fleet, policy, share, left_out)
    document = fleet_json(report, vocabulary, skipped)
    raw = dom.raw_classes(fleet)
    names = dom.class_names(raw.rows, raw.counts, raw.vendors, policy) if len(raw.counts) <= 4 * NAMED_CLASSES \
        else [f"class {i + 1}" for i in range(len(raw.counts))]
    _name_classes(document, report, raw, names)
    document["evc_costs"] = dom.costs_json(dom.evc_costs(fleet, raw, names, policy), vocabulary)
    if k is not None:
        document["domains"] = dom.domains_json(dom.propose(fleet, raw, k, policy), vocabulary, fleet, raw)
    under = "the fleet baseline" if document.get("vendor") is None else f"the {document['vendor']} fleet baseline"
    document["guest_floors"] = guest_floors(report.baseline.features | policy.never_blocking(), under, guests)
    return document


def fleet_document(fleet: Fleet, policy: Policy, share: Fraction | None = None, left_out: Sequence[str] = (),
                   vocabulary: str = "canonical", skipped=(), guests: Sequence[str] = (),
                   k: int | None = None) -> dict:
    """The fleet document; for several vendors (without --cross-vendor) ``{hosts, vendors: [document
    per vendor]}``, each vendor analysed on its own."""
    if k is not None and k < 1:
        raise UsageError("--domains: give at least 1")
    parts = [(None, fleet)] if policy.cross_vendor else split_by_vendor(fleet)
    if len(parts) == 1:
        return _one(fleet, policy, share, left_out, vocabulary, skipped, guests, k)
    everywhere = set(left_out) - set(np.concatenate([p.hosts[p.hosts.isin(list(left_out))].to_numpy() for _, p in parts]))
    if everywhere:
        raise UsageError(f"--without: no such host in the fleet: {', '.join(sorted(everywhere)[:10])}")
    documents = []
    for vendor, part in parts:
        mine = [h for h in left_out if part.hosts.isin([h]).any()]
        documents.append(_one(part, policy, share, mine, vocabulary, skipped, guests, k))
    return {"hosts": len(fleet), "vendors": documents,
            "notes": [f"{len(parts)} CPU vendors: one analysis per vendor (no VM moves live between vendors; "
                      "--cross-vendor gives the vendor-neutral common ground)"]}
