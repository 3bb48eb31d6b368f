"""The ``fleet`` command's document: per CPU vendor (a mixed fleet is a report per vendor, never
an error), with readable class names, the hosts that cost the EVC mode, guest-OS floors, the next
steps (``next_steps``, as ``advice.Step``) and, with ``--domains K``, the proposed migration
domains (``fleet/domains.py``)."""

from __future__ import annotations

from collections.abc import Sequence
from fractions import Fraction

import numpy as np

from ..advice import VM_INPUT, Step, feature_list, mask_command
from ..cluster import Policy
from ..errors import UsageError
from ..guests import warn as guest_floors
from ..knowledge import baselines
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


def bios_fixes(cost: dict) -> list[tuple[str | None, int, list[str]]]:
    """(BIOS change, hosts, features it gives back) over every class that costs the EVC mode, the
    most hosts first; the hosts no BIOS setting explains as ``(None, hosts, features)``."""
    fixes: dict[str | None, tuple[int, set[str]]] = {}
    for item in cost["classes"]:
        causes = list(zip(item["remedies"], item["bios"].values())) or [(None, item["missing"])]
        for remedy, features in causes:
            hosts, names = fixes.get(remedy, (0, set()))
            fixes[remedy] = (hosts + item["hosts"], names | set(features))
    return sorted(((r, h, sorted(n)) for r, (h, n) in fixes.items()), key=lambda fix: (fix[0] is None, -fix[1]))


def _64_bit(model: str) -> bool:
    """Whether a QEMU model offers the base psABI level (x86-64): a 32-bit model such as kvm32 is
    no answer for 64-bit guests (``advice`` holds the same rule)."""
    base = min(baselines.load_baselines("psabi"), key=lambda b: b.level)
    return base.required <= baselines.get(model).features


def _evc_steps(document: dict, command: str | None) -> list[Step]:
    """Which hosts cost the EVC mode and what to change in their BIOS, and the mode to configure."""
    if document["vendor"] is None:
        return [Step("split", "no EVC mode spans two CPU vendors: one vSphere cluster per vendor")]
    cost = next(iter(document.get("evc_costs") or []), None)
    steps = []
    if cost:
        reach, now = cost["reachable_evc_mode"], cost["evc_mode"] or "no EVC mode"
        steps.append(Step("leave-out", f"to reach EVC mode {reach}, fix or leave out the {cost['costly_hosts']:,} "
                          f"hosts that cost it (the whole fleet now: {now}; the hosts below)", baseline=reach))
        for remedy, hosts, features in bios_fixes(cost):
            text = f"{remedy} on {hosts:,} hosts: it gives back {feature_list(features)}" if remedy else \
                f"no BIOS setting explains what {hosts:,} hosts lack ({feature_list(features)}): leave them out"
            steps.append(Step("bios" if remedy else "leave-out", text, features=tuple(features)))
        if "domains" not in document and command:
            steps.append(Step("split", "or set the weakest hosts apart: migration domains, one baseline each",
                              f"{command} --domains 2"))
    mode = cost["reachable_evc_mode"] if cost else document["evc_mode"]
    if mode:
        then = " once they are fixed or left out" if cost else ""
        steps.append(Step("evc", f"vSphere: set the cluster's EVC mode to {mode}{then} (or per VM, with this mask)",
                          mask_command(VM_INPUT, evc=mode, fmt="vmx-evc"), baseline=mode))
    else:
        steps.append(Step("evc", "vSphere: no EVC mode fits every host"))
    return steps


def _qemu_steps(document: dict) -> list[Step]:
    """The fleet's QEMU model when it is a 64-bit one, else its psABI level."""
    model, level = document["qemu_model"], document["psabi_level"]
    if model and _64_bit(model):
        return [Step("qemu", f"KVM: start VMs as QEMU model {model} (-cpu {model}), which every host offers",
                     mask_command(VM_INPUT, qemu_model=model), baseline=model)]
    why = f"the highest, {model}, is a 32-bit one" if model else "none does"
    if level:
        return [Step("psabi", f"KVM: no 64-bit QEMU model fits every host ({why}); level VMs to psABI level {level}",
                     mask_command(VM_INPUT, qemu_model=level), baseline=level)]
    return [Step("qemu", f"KVM: no 64-bit QEMU model fits every host ({why})")]


def fleet_steps(document: dict, command: str | None = None) -> list[Step]:
    """The next steps on a fleet baseline: the hosts to fix (BIOS) or leave out for the EVC mode,
    the EVC mode and QEMU model to configure (mask commands for one VM, ``VM_INPUT`` standing for
    its CPU), and migration domains; ``command`` is the ``cpucompat fleet`` command line that
    reads the same fleet (shell-quoted), None where there is none."""
    steps = _evc_steps(document, command) + _qemu_steps(document)
    if "domains" in document:
        steps.append(Step("split", "configure each migration domain's EVC mode and QEMU model (the domains below)"))
    elif len(document["classes"]) > 1 and not document.get("evc_costs") and command:
        steps.append(Step("split", "see how far migration domains, one baseline each, raise it", f"{command} --domains 2"))
    return steps


def _one(fleet: Fleet, policy: Policy, share: Fraction | None, left_out: Sequence[str], vocabulary: str,
         skipped, guests: Sequence[str], k: int | None, command: str | None) -> dict:
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
    document["next_steps"] = [step.json() for step in fleet_steps(document, command)]
    return document


def fleet_document(fleet: Fleet, policy: Policy, share: Fraction | None = None, left_out: Sequence[str] = (),
                   vocabulary: str = "canonical", skipped=(), guests: Sequence[str] = (),
                   k: int | None = None, command: str | None = None) -> dict:
    """The fleet document; for several vendors (without --cross-vendor) ``{hosts, vendors: [document
    per vendor]}``, each vendor analysed on its own. ``command``: the ``cpucompat fleet`` command
    line that reads this fleet, for the next steps."""
    if k is not None and k < 1:
        raise UsageError("--domains: give at least 1")
    parts = [(None, fleet)] if policy.cross_vendor else split_by_vendor(fleet)
    if len(parts) == 1:
        return _one(fleet, policy, share, left_out, vocabulary, skipped, guests, k, command)
    everywhere = set(left_out) - set(np.concatenate([p.hosts[p.hosts.isin(list(left_out))].to_numpy() for _, p in parts]))
    if everywhere:
        raise UsageError(f"--without: no such host in the fleet: {', '.join(sorted(everywhere)[:10])}")
    documents, notes = [], [f"{len(parts)} CPU vendors: one analysis per vendor (no VM moves live between vendors; "
                            "--cross-vendor gives the vendor-neutral common ground)"]
    for vendor, part in parts:
        mine = [h for h in left_out if part.hosts.isin([h]).any()]
        if mine and part.hosts.isin(mine).all():  # a what-if without any of them says nothing
            notes.append(f"--without names every {vendor} host: no what-if for {vendor}")
            mine = []
        documents.append(_one(part, policy, share, mine, vocabulary, skipped, guests, k, command))
    return {"hosts": len(fleet), "vendors": documents, "notes": notes}
