"""Named baselines: VMware EVC modes, x86-64 psABI levels and QEMU CPU models, as data.

A baseline is a named feature set that a hypervisor or toolchain promises: a VM started under
it sees exactly those features, so it can move to any host that has them all. The knowledge
lives in ``baselines/<kind>.json`` (validated by ``baselines/schema.json``); this module only
loads, looks up and compares. Each baseline carries its *full* feature set in canonical names,
a ``parent`` (the previous mode or version) and a ``level`` that orders baselines of one kind
and vendor: "the best baseline a host supports" is the highest level whose features it has.

Three kinds, three kinds of evidence:
- ``evc``: VMware EVC modes. Keys, labels and levels come from VMware sources; most per-mode
  feature lists are reconstructed (``reconstructed`` is true, ``notes`` say what and why).
- ``psabi``: the x86-64 psABI micro-architecture levels, vendor-neutral.
- ``qemu``: QEMU's versioned CPU models as libvirt's cpu_map describes them. A newer version
  may drop features (TSX, MPX); ``removes`` names them, so a child is not always a superset.
"""

from __future__ import annotations

import difflib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import cache
from types import MappingProxyType

from .datafiles import baselines_dir
from .errors import CpuCompatError

#: The baseline files, one per kind, in the order they are loaded.
KINDS = ("evc", "psabi", "qemu")

_NO_SUCH_BASELINE = "unknown baseline {key!r}{hint}"


class UnknownBaseline(CpuCompatError, KeyError):
    """A baseline key (or QEMU/libvirt model name) that no baseline file defines."""

    def __init__(self, key: str, suggestions: Iterable[str] = ()) -> None:
        self.key = key
        self.suggestions = list(suggestions)
        hint = f" (did you mean {', '.join(self.suggestions)}?)" if self.suggestions else ""
        super().__init__(_NO_SUCH_BASELINE.format(key=key, hint=hint))

    def __str__(self) -> str:  # KeyError would quote the message
        return self.args[0]


@dataclass(frozen=True)
class Baseline:
    """One named baseline and its full feature set (canonical feature names)."""

    key: str
    label: str
    kind: str
    vendor: str | None
    parent: str | None
    level: int
    features: frozenset[str]
    reconstructed: bool
    notes: str
    sources: tuple[str, ...] = ()
    removes: frozenset[str] = frozenset()
    unmet_dependencies: frozenset[str] = frozenset()
    left_out: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}), compare=False)
    qemu_name: str | None = None
    libvirt_name: str | None = None
    libvirt_aliases: tuple[str, ...] = ()
    libvirt_removed: frozenset[str] = frozenset()
    msr_features: tuple[str, ...] = ()
    vmware_levels: tuple[str, ...] = ()
    #: EVC: per feature, where it comes from ("capture", "kb:<number>", "reasoning: ...").
    provenance: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}), compare=False)
    #: EVC: the featureMask vCenter writes for the mode, as (key, value, source), e.g. ("cpuid.FAMILY", "Val:6", "capture").
    feature_mask: tuple[tuple[str, str, str], ...] = ()

    @property
    def names(self) -> tuple[str, ...]:
        """Every name this baseline answers to: its key, then QEMU and libvirt names."""
        others = (self.qemu_name, self.libvirt_name, *self.libvirt_aliases)
        return (self.key, *dict.fromkeys(n for n in others if n and n != self.key))

    def fits_vendor(self, vendor: str | None) -> bool:
        """Vendor-neutral baselines fit every CPU; the others only their own vendor's."""
        return self.vendor is None or self.vendor == vendor


def _baseline_from_entry(kind: str, entry: dict) -> Baseline:
    return Baseline(
        key=entry["key"],
        label=entry["label"],
        kind=kind,
        vendor=entry["vendor"],
        parent=entry["parent"],
        level=entry["level"],
        features=frozenset(entry["features"]),
        reconstructed=entry["reconstructed"],
        notes=entry["notes"],
        sources=tuple(entry["sources"]),
        removes=frozenset(entry.get("removes", ())),
        unmet_dependencies=frozenset(entry.get("unmet_dependencies", ())),
        left_out=MappingProxyType({i["feature"]: i["reason"] for i in entry.get("left_out", ())}),
        qemu_name=entry.get("qemu_name"),
        libvirt_name=entry.get("libvirt_name"),
        libvirt_aliases=tuple(entry.get("libvirt_aliases", ())),
        libvirt_removed=frozenset(entry.get("libvirt_removed", ())),
        msr_features=tuple(entry.get("msr_features", ())),
        vmware_levels=tuple(entry.get("vmware_levels", ())),
        provenance=MappingProxyType(dict(entry.get("provenance", {}))),
        feature_mask=tuple((m["key"], m["value"], m["source"]) for m in entry.get("feature_mask", ())),
    )


@cache
def _load_kind(kind: str) -> tuple[Baseline, ...]:
    """Read ``baselines/<kind>.json`` once."""
    with open(baselines_dir() / f"{kind}.json", encoding="utf-8") as handle:
        document = json.load(handle)
    return tuple(_baseline_from_entry(kind, entry) for entry in document["baselines"])


@cache
def _by_name() -> Mapping[str, Baseline]:
    """Every baseline by each of its names; keys win over model-name aliases."""
    index: dict[str, Baseline] = {}
    everything = load_baselines()
    for baseline in everything:
        for name in baseline.names[1:]:
            index.setdefault(name, baseline)
    index.update({b.key: b for b in everything})
    return MappingProxyType(index)


def load_baselines(kind: str | None = None) -> list[Baseline]:
    """All baselines of one kind (``evc``, ``psabi``, ``qemu``), or of every kind."""
    if kind is None:
        return [b for k in KINDS for b in _load_kind(k)]
    if kind not in KINDS:
        raise CpuCompatError(f"unknown baseline kind {kind!r} (expected one of {', '.join(KINDS)})")
    return list(_load_kind(kind))


def get(key: str) -> Baseline:
    """The baseline with this key (or QEMU/libvirt model name); UnknownBaseline otherwise."""
    found = _by_name().get(key)
    if found is None:
        raise UnknownBaseline(key, difflib.get_close_matches(key, _by_name(), n=3, cutoff=0.6))
    return found


def parent_of(baseline: Baseline) -> Baseline | None:
    """The baseline this one extends (previous EVC mode, psABI level or model version)."""
    return get(baseline.parent) if baseline.parent else None


def missing_for(baseline: Baseline, features: Iterable[str]) -> list[str]:
    """Sorted features the baseline needs that a host (or cluster) does not have."""
    return sorted(baseline.features - set(features))


def satisfies(features: Iterable[str], baseline: Baseline) -> bool:
    """True when every feature of the baseline is present."""
    return baseline.features <= set(features)


def highest_satisfied(features: Iterable[str], vendor: str | None, kind: str) -> Baseline | None:
    """The highest-level baseline of ``kind`` that fits ``vendor`` and whose features are all present."""
    present = frozenset(features)
    candidates = [b for b in load_baselines(kind) if b.fits_vendor(vendor) and b.features <= present]
    return max(candidates, key=lambda b: (b.level, b.vendor is not None), default=None)
