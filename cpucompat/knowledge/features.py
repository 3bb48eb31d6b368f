"""The feature knowledge base: ``data/features.csv`` and ``data/feature-deps.csv`` as objects.

One row per CPUID feature bit, with its canonical name (the Linux /proc/cpuinfo spelling
where Linux has one) and the name each ecosystem uses for it (QEMU, libvirt, VMware, Xen,
Kubernetes NFD). Dependencies (``avx2`` requires ``avx``) are a table too, and
``data/guest-visibility.csv`` says whether KVM can show a guest each bit (``Feature.kvm``) and
whether vCenter names it (``Feature.esxi``). Everything here is derived from those files; no
feature is spelled in code.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import cache

from .tables import rows
from .vocabularies import VOCABULARIES
from ..errors import UnknownFeature

KINDS = ("isa", "security", "virt", "os", "info")
#: ``Feature.kvm`` values: what KVM does with a bit (data/guest-visibility.csv).
KVM_VISIBILITY = ("passthrough", "emulated", "nested", "never")
#: Of those, the bits a guest can see without nested virtualization.
GUEST_VISIBLE = frozenset({"passthrough", "emulated"})


@dataclass(frozen=True)
class Feature:
    """One CPUID feature bit and its names."""

    name: str
    leaf: int
    subleaf: int
    reg: str
    bit: int
    vendor: str
    kind: str
    migratable: bool
    description: str
    kvm: str = "passthrough"
    esxi: bool = False
    #: The name in each vocabulary of VOCABULARIES but canonical ('' where that system has none);
    #: also read as attributes: ``feature.qemu``, ``feature.vmware`` ...
    names: Mapping[str, str] = field(default_factory=dict, compare=False)

    def __getattr__(self, vocabulary: str) -> str:
        names = self.__dict__.get("names") or {}
        if vocabulary in names:
            return names[vocabulary]
        raise AttributeError(vocabulary)

    @property
    def location(self) -> tuple[int, int, str]:
        return (self.leaf, self.subleaf, self.reg)

    @property
    def mask(self) -> int:
        return 1 << self.bit

    def name_in(self, vocabulary: str) -> str:
        """This feature's name in a vocabulary, '' when that system has none."""
        return self.name if vocabulary == "canonical" else self.names[vocabulary]

    @property
    def guest_visible(self) -> bool:
        """Whether a guest can see this bit without nested virtualization (``kvm`` passthrough/emulated)."""
        return self.kvm in GUEST_VISIBLE

    def where(self) -> str:
        """CPUID location as people write it: ``CPUID.(EAX=7,ECX=0):EBX[5]``."""
        return f"CPUID.(EAX={self.leaf:#x},ECX={self.subleaf}):{self.reg.upper()}[{self.bit}]"


def _feature_from_row(row: dict[str, str], visibility: dict[str, dict[str, str]]) -> Feature:
    seen = visibility.get(row["name"], {})
    return Feature(
        name=row["name"],
        leaf=int(row["leaf"], 16),
        subleaf=int(row["subleaf"], 0),
        reg=row["reg"],
        bit=int(row["bit"]),
        names={vocabulary: row[f"{vocabulary}_name"] for vocabulary in VOCABULARIES[1:]},
        vendor=row["vendor"],
        kind=row["kind"],
        migratable=row["migratable"] == "yes",
        description=row["description"],
        kvm=seen.get("kvm", "passthrough"),
        esxi=seen.get("esxi") == "yes",
    )


def _spelling_key(name: str) -> str:
    """Spellings that differ only in case and in '-', '_', '.' name the same feature."""
    return name.lower().replace("-", "_").replace(".", "_")


class FeatureTable:
    """All known features, their names in every vocabulary, and their dependencies."""

    def __init__(self, features: Iterable[Feature], deps: Iterable[tuple[str, str]]) -> None:
        self.features: tuple[Feature, ...] = tuple(features)
        self.by_name: dict[str, Feature] = {f.name: f for f in self.features}
        self.by_location: dict[tuple[int, int, str], tuple[Feature, ...]] = {}
        for feature in self.features:
            self.by_location.setdefault(feature.location, ())
            self.by_location[feature.location] += (feature,)
        self.requires: dict[str, frozenset[str]] = {}
        self.required_by: dict[str, frozenset[str]] = {}
        for feature, needed in deps:
            self.requires[feature] = self.requires.get(feature, frozenset()) | {needed}
            self.required_by[needed] = self.required_by.get(needed, frozenset()) | {feature}
        self.by_vocabulary: dict[str, dict[str, Feature]] = {
            vocabulary: {f.name_in(vocabulary): f for f in self.features if f.name_in(vocabulary)}
            for vocabulary in VOCABULARIES
        }
        self._spellings = self._build_spellings()
        self._emulated = frozenset(f.name for f in self.features if f.kvm == "emulated")
        self._host_only = frozenset(f.name for f in self.features if not f.guest_visible)
        #: AMD's copies of leaf-1 EDX bits in 0x80000001 EDX (``e_fpu``) -> the leaf-1 feature.
        self.mirror_of: dict[str, str] = {
            f.name: f.name[2:] for f in self.features if f.name.startswith("e_") and f.name[2:] in self.by_name
        }

    def _build_spellings(self) -> dict[str, Feature]:
        spellings: dict[str, Feature] = {}
        for vocabulary in reversed(VOCABULARIES):  # canonical names win over look-alikes
            for feature in self.features:
                name = feature.name_in(vocabulary)
                if name:
                    spellings[name] = feature
                    spellings.setdefault(_spelling_key(name), feature)
        for feature in self.features:
            spellings[feature.name] = feature
        return spellings

    def resolve(self, name: str) -> Feature:
        """The feature a name means, in any vocabulary; raises UnknownFeature."""
        found = self._spellings.get(name) or self._spellings.get(_spelling_key(name))
        if found is None:
            close = difflib.get_close_matches(_spelling_key(name), self._spellings, n=3)
            raise UnknownFeature(name, close)
        return found

    def names(self, canonical: Iterable[str], vocabulary: str = "canonical") -> list[str]:
        """Sorted names in a vocabulary; features that vocabulary does not name are left out."""
        out = {self.by_name[n].name_in(vocabulary) for n in canonical}
        out.discard("")
        return sorted(out)

    def close_under_deps(self, canonical: Iterable[str]) -> frozenset[str]:
        """Drop every feature whose requirements are not all present (to a fixed point)."""
        present = set(canonical)
        changed = True
        while changed:
            changed = False
            for name in list(present):
                if not self.requires.get(name, frozenset()) <= present:
                    present.discard(name)
                    changed = True
        return frozenset(present)

    def with_mirrors(self, canonical: Iterable[str]) -> frozenset[str]:
        """The features plus AMD's 0x80000001 EDX copies of those that have one."""
        present = frozenset(canonical)
        return present | {copy for copy, original in self.mirror_of.items() if original in present}

    def emulated(self) -> frozenset[str]:
        """Features KVM offers on every host whatever its CPU has (x2apic, arat, hypervisor ...)."""
        return self._emulated

    def guest_visible(self, name: str) -> bool:
        """Whether a guest can see this feature without nested virtualization."""
        return self.by_name[name].guest_visible

    def host_only(self) -> frozenset[str]:
        """Features no guest sees (kvm ``never``) or only a nested hypervisor does (``nested``)."""
        return self._host_only

    def dependents(self, canonical: Iterable[str]) -> frozenset[str]:
        """Everything that (transitively) requires one of these features, themselves included."""
        todo, seen = list(canonical), set(canonical)
        while todo:
            for child in self.required_by.get(todo.pop(), ()):
                if child not in seen:
                    seen.add(child)
                    todo.append(child)
        return frozenset(seen)


@cache
def feature_table() -> FeatureTable:
    """The shipped feature table (loaded once)."""
    visibility = {row["name"]: row for row in rows("guest-visibility.csv")}
    features = [_feature_from_row(row, visibility) for row in rows("features.csv")]
    deps = [(row["feature"], row["depends_on"]) for row in rows("feature-deps.csv")]
    return FeatureTable(features, deps)
