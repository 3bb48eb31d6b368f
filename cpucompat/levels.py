"""The levelled scalar fields (``data/levelled-fields.csv``): the one home of their rules.

A VM must not see more of a scalar than its weakest host offers: the lowest max leaf or
address bits (rule ``min``), only the XSAVE state components every host has (rule ``and``).
Decode levels a host's CPUs, cluster and fleet level hosts, compare and masks judge each field,
and the views print it, all from this table.
"""

from __future__ import annotations

import functools
import operator
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import cache

from .cpuid_fields import xsave_component_names
from .knowledge.tables import rows

_REDUCE = {"min": min, "and": lambda values: functools.reduce(operator.and_, values)}


@dataclass(frozen=True)
class Levelled:
    """One row of ``data/levelled-fields.csv``."""

    name: str
    rule: str  # "min" or "and"
    leaf: int
    subleaf: int
    register: str  # "eax", or "edx:eax" for a 64-bit set (EDX high)
    lowest: int  # lowest bit of the field in its register
    width: int  # bits
    lowerable: bool  # a mask can lower it
    shown: str  # "hex", "decimal" or "xsave"

    @property
    def is_set(self) -> bool:
        """A set of XSAVE components (compared bit by bit), not a quantity."""
        return self.rule == "and"

    def level(self, values: Iterable[int | None]) -> int | None:
        """The value every source can offer: None when any is unknown (or there is none)."""
        values = list(values)
        return None if not values or None in values else _REDUCE[self.rule](values)

    def where(self) -> str:
        """Its CPUID location as people read it: ``CPUID.0x80000008:EAX[7:0]``."""
        sub = f",{self.subleaf}" if self.subleaf else ""
        return f"CPUID.{self.leaf:#x}{sub}:{self.register.upper()}[{self.lowest + self.width - 1}:{self.lowest}]"

    def text(self, value: int) -> str:
        """A value as people read it: leaves in hex, bits in decimal, sets as named components."""
        if self.shown == "hex":
            return f"{value:#x}"
        if self.shown == "xsave":
            return f"{value:#x} ({' '.join(xsave_component_names(value)) or 'none'})"
        return str(value)


def _row(row: dict[str, str]) -> Levelled:
    high, low = (int(b) for b in row["bits"].split(":"))
    return Levelled(row["name"], row["rule"], int(row["leaf"], 16), int(row["subleaf"]), row["register"],
                    low, high - low + 1, row["lowerable"] == "yes", row["shown"])


@cache
def levelled_fields() -> tuple[Levelled, ...]:
    """Every levelled field, in table order (the order of a fleet table's scalar columns)."""
    return tuple(_row(row) for row in rows("levelled-fields.csv"))


@cache
def by_name() -> dict[str, Levelled]:
    return {f.name: f for f in levelled_fields()}


def names(rule: str | None = None) -> tuple[str, ...]:
    """The levelled fields' names, those of one rule when given."""
    return tuple(f.name for f in levelled_fields() if rule in (None, f.rule))


def level(records: Sequence[Mapping]) -> dict:
    """Each levelled field over records (hosts' or CPUs' fields): what all of them offer."""
    return {f.name: f.level(r.get(f.name) for r in records) for f in levelled_fields()}


def lower(source: Mapping, target: Mapping) -> dict[str, tuple[int, int]]:
    """The quantities (rule min) the target has lower than the source: {field: (source, target)}."""
    found = {}
    for name in names("min"):
        mine, theirs = source.get(name), target.get(name)
        if mine is not None and theirs is not None and theirs < mine:
            found[name] = (mine, theirs)
    return found


def lacking(source: Mapping, target: Mapping) -> int:
    """The set members (XSAVE components, rule and) the source has and the target lacks."""
    bits = 0
    for name in names("and"):
        mine, theirs = source.get(name), target.get(name)
        if mine is not None and theirs is not None:
            bits |= mine & ~theirs
    return bits


def json_fields(fields: Mapping) -> dict:
    """Fields for a JSON document: the sets (rule and) as hex strings, ``0x2e7``."""
    return {name: f"{value:#x}" if name in names("and") and value is not None else value
            for name, value in fields.items()}


def fields_json(fields: dict) -> dict:
    """Decoded fields as JSON: the XSAVE bit sets and XCR0 in hex."""
    out = json_fields(fields)
    if out.get("xcr0") is not None:
        out["xcr0"] = f"{out['xcr0']:#x}"
    return out
