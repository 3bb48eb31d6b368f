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
- ``qemu``: QEMU's versioned CPU models as QEMU itself defines them, one table per QEMU release
  (``baselines/qemu-<major.minor>.json``, written by ``scripts/gen_qemu_models.py``), in the view
  of one accelerator: ``kvm`` (default: the KVM defaults applied; what KVM emulates on every host,
  data/guest-visibility.csv's ``emulated``, is never required of a host) or ``tcg``. The table is
  the installed QEMU's release, else the newest shipped (``select_qemu``). A newer version may
  drop features (TSX, MPX); ``removes`` names them, so a child is not always a superset.
"""
from __future__ import annotations

import difflib
import re
import shutil
import subprocess
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import cache
from types import MappingProxyType

from ..cpuid_fields import xsave_components
from .tables import baselines_dir, document
from ..errors import CpuCompatError
from .features import feature_table

#: The baseline kinds, in the order they are loaded (``qemu`` has one file per QEMU release).
KINDS = ("evc", "psabi", "qemu")
#: The accelerators a QEMU table has a view for; ``kvm`` is what production runs.
QEMU_ACCELS = ("kvm", "tcg")
QEMU_BINARY = "qemu-system-x86_64"

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
    #: Features the guest gets although no host needs them (what KVM emulates); empty but for QEMU/KVM.
    emulated: frozenset[str] = frozenset()
    #: A QEMU model's vendor, family, model, stepping, model_id, level, xlevel and phys_bits.
    cpuid: Mapping[str, object] = field(default_factory=lambda: MappingProxyType({}), compare=False)
    #: QEMU release and accelerator of a QEMU model's table, e.g. ("7.2", "kvm").
    qemu: tuple[str, str] | None = None

    @property
    def required(self) -> frozenset[str]:
        """What a host must have to offer this baseline: its features less what KVM emulates."""
        return self.features - self.emulated

    @property
    def names(self) -> tuple[str, ...]:
        """Every name this baseline answers to: its key, then QEMU and libvirt names."""
        others = (self.qemu_name, self.libvirt_name, *self.libvirt_aliases)
        return (self.key, *dict.fromkeys(n for n in others if n and n != self.key))

    def fits_vendor(self, vendor: str | None) -> bool:
        """Vendor-neutral baselines fit every CPU; the others only their own vendor's."""
        return self.vendor is None or self.vendor == vendor


def _qemu_view(entry: dict, accel: str) -> tuple[frozenset[str], frozenset[str], frozenset[str]]:
    """(features, removes, emulated) of a QEMU table entry under one accelerator."""
    features = frozenset(entry["features"])
    if accel == "tcg":
        tcg = entry.get("tcg", {})
        return (features - set(tcg.get("removes", ()))) | set(tcg.get("adds", ())), frozenset(), frozenset()
    return features, frozenset(entry.get("removes", ())), features & feature_table().emulated()


def _baseline_from_entry(kind: str, entry: dict, qemu: tuple[str, str] | None = None) -> Baseline:
    features, removes, emulated = (_qemu_view(entry, qemu[1]) if qemu else
                                   (frozenset(entry["features"]), frozenset(entry.get("removes", ())), frozenset()))
    return Baseline(
        key=entry["key"],
        label=entry["label"],
        kind=kind,
        vendor=entry["vendor"],
        parent=entry["parent"],
        level=entry["level"],
        features=features,
        reconstructed=entry["reconstructed"],
        notes=entry["notes"],
        sources=tuple(entry["sources"]),
        removes=removes,
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
        emulated=emulated,
        cpuid=MappingProxyType(dict(entry.get("cpuid", {}))),
        qemu=qemu,
    )


@dataclass(frozen=True)
class QemuSelection:
    """Which QEMU table is in use, in which accelerator's view, and why."""

    version: str
    accel: str
    reason: str

    def message(self) -> str:
        return f"QEMU models: QEMU {self.version} ({self.reason}), {self.accel} view"


def _release_key(version: str) -> tuple[int, ...]:
    return tuple(int(part) for part in version.split("."))


def shipped_qemu_versions() -> list[str]:
    """QEMU releases with a shipped table (``baselines/qemu-7.2.json`` -> ``7.2``), oldest first."""
    found = [m[1] for p in baselines_dir().glob("qemu-*.json") if (m := re.fullmatch(r"qemu-(\d+\.\d+)\.json", p.name))]
    return sorted(found, key=_release_key)


@cache
def installed_qemu_version() -> str | None:
    """The installed QEMU's full version (``7.2.22``) from ``--version``, once per process; None if absent."""
    binary = shutil.which(QEMU_BINARY)
    if binary is None:
        return None
    try:
        out = subprocess.run([binary, "--version"], capture_output=True, text=True, timeout=10).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    match = re.search(r"version (\d+\.\d+(?:\.\d+)?)", out)
    return match[1] if match else None


def _default_qemu_version() -> tuple[str, str]:
    shipped = shipped_qemu_versions()
    installed = installed_qemu_version()
    if installed is None:
        return shipped[-1], f"no {QEMU_BINARY} installed; the newest shipped table"
    release = ".".join(installed.split(".")[:2])
    if release in shipped:
        return release, f"the installed {QEMU_BINARY} {installed}"
    older = [v for v in shipped if _release_key(v) <= _release_key(release)]
    chosen = older[-1] if older else shipped[-1]
    return chosen, f"the installed {QEMU_BINARY} {installed} has no table; nearest shipped"


_selection: QemuSelection | None = None


def select_qemu(version: str | None = None, accel: str = "kvm") -> QemuSelection:
    """Choose the QEMU table (default: the installed QEMU's release) and accelerator view."""
    global _selection
    shipped = shipped_qemu_versions()
    if accel not in QEMU_ACCELS:
        raise CpuCompatError(f"unknown accelerator {accel!r} (expected one of {', '.join(QEMU_ACCELS)})")
    if version is None:
        version, reason = _default_qemu_version()
    elif version not in shipped:
        raise CpuCompatError(f"no QEMU {version} table (shipped: {', '.join(shipped)})")
    else:
        reason = "--qemu-version"
    _selection = QemuSelection(version, accel, reason)
    return _selection


def qemu_selection() -> QemuSelection:
    """The QEMU table in use (the default one until ``select_qemu`` chose another)."""
    return _selection or select_qemu()


def qemu_document(version: str) -> dict:
    """The raw table of one QEMU release."""
    return document(f"qemu-{version}.json", "baselines")


@cache
def _load_file(kind: str, qemu: tuple[str, str] | None) -> tuple[Baseline, ...]:
    """Read ``baselines/<kind>.json`` (or a QEMU release's table in one accelerator's view) once."""
    if qemu is not None:
        entries = qemu_document(qemu[0])
    else:
        entries = document(f"{kind}.json", "baselines")
    return tuple(_baseline_from_entry(kind, entry, qemu) for entry in entries["baselines"])


def _load_kind(kind: str) -> tuple[Baseline, ...]:
    if kind == "qemu":
        selection = qemu_selection()
        return _load_file(kind, (selection.version, selection.accel))
    return _load_file(kind, None)


def _by_name() -> Mapping[str, Baseline]:
    selection = qemu_selection()
    return _index((selection.version, selection.accel))


@cache
def _index(_qemu: tuple[str, str]) -> Mapping[str, Baseline]:
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


def guest_fields(baseline: Baseline) -> dict:
    """The scalars a QEMU model gives its guests: phys-bits and the XSAVE components its features imply.

    QEMU enables the XCR0/XSS components of the features a model has (none without xsave); other
    baselines name features only, so they have no scalars.
    """
    if baseline.kind != "qemu" or not baseline.cpuid:
        return {}
    fields = {"phys_addr_bits": baseline.cpuid["phys_bits"], "xcr0_supported": 0, "xss_supported": 0}
    if "xsave" in baseline.features:
        for bit, row in xsave_components().items():
            if row["feature"] in baseline.features:
                fields[f"{row['register']}_supported"] |= 1 << bit
    return fields


def guest_notes(baseline: Baseline) -> list[str]:
    """What a reader of a verdict against a QEMU model should know about its scalars."""
    if baseline.kind != "qemu" or not baseline.cpuid:
        return []
    return [f"QEMU gives {baseline.key} guests {baseline.cpuid['phys_bits']} physical address bits; "
            "with host-phys-bits=on they get the host's own instead"]


def missing_for(baseline: Baseline, features: Iterable[str]) -> list[str]:
    """Sorted features the baseline needs that a host (or cluster) does not have."""
    return sorted(baseline.required - set(features))


def satisfies(features: Iterable[str], baseline: Baseline) -> bool:
    """True when every feature the baseline needs of a host is present."""
    return baseline.required <= set(features)


def highest_satisfied(features: Iterable[str], vendor: str | None, kind: str) -> Baseline | None:
    """The highest-level baseline of ``kind`` that fits ``vendor`` and whose required features are all present."""
    present = frozenset(features)
    candidates = [b for b in load_baselines(kind) if b.fits_vendor(vendor) and b.required <= present]
    return max(candidates, key=lambda b: (b.level, b.vendor is not None), default=None)
