"""Guest-OS floors: the CPU a guest operating system needs to boot (``data/guest-os-floors.csv``).

RHEL 9 is built for x86-64-v2 and RHEL 10 for x86-64-v3; Windows 11 24H2 and Windows Server
2025 do not boot without POPCNT and SSE4.2. A cluster baseline, a fleet baseline, an EVC mode or
a masked VM CPU below such a floor is a guest that will not start after a move (or at all):
``baseline``, ``fleet``, ``evc check`` and ``mask`` warn ("a Windows Server 2025 guest will not
boot under intel-merom: it needs popcnt, sse4_2"), and ``--guest KEY`` checks one floor.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import NamedTuple

from .errors import UsageError
from .knowledge import baselines
from .knowledge.tables import table
from .text import printable


class FloorRow(NamedTuple):
    key: str
    label: str
    psabi: str = ""
    features: str = ""
    source: str = ""
    note: str = ""


@dataclass(frozen=True)
class Floor:
    key: str
    label: str
    psabi: str | None  # the psABI level it needs, if any
    needs: frozenset[str]  # every feature it needs: the level's and its own
    source: str

    @property
    def own(self) -> frozenset[str]:
        return self.needs - (baselines.get(self.psabi).required if self.psabi else frozenset())


def floors() -> tuple[Floor, ...]:
    result = []
    for row in table("guest-os-floors.csv", FloorRow):
        level = baselines.get(row.psabi).required if row.psabi else frozenset()
        result.append(Floor(row.key, row.label, row.psabi or None, level | frozenset(row.features.split()), row.source))
    return tuple(result)


def get(name: str) -> Floor:
    """A floor by key or label, any case (``windows-server-2025``, ``Windows Server 2025``)."""
    wanted = name.strip().lower()
    for floor in floors():
        if wanted in (floor.key, floor.label.lower()):
            return floor
    raise UsageError(f"--guest {name!r}: no such guest OS; known: {', '.join(f.key for f in floors())}")


def validate(guests: Sequence[str]) -> None:
    """Every ``--guest`` named is known: a UsageError before any work or note (``get``'s)."""
    for name in guests:
        get(name)


@dataclass(frozen=True)
class Shortfall:
    floor: Floor
    missing: tuple[str, ...]

    @property
    def boots(self) -> bool:
        return not self.missing


def check(present: Iterable[str], guests: Sequence[str] = (), before: Iterable[str] | None = None) -> list[Shortfall]:
    """The floors ``present`` falls below (every floor; with ``before``, only those ``before`` met:
    what a mask takes away), or the verdict for each of ``guests``."""
    present = frozenset(present)
    chosen = [get(g) for g in guests] if guests else list(floors())
    results = [Shortfall(f, tuple(sorted(f.needs - present))) for f in chosen]
    if guests:
        return results
    met = None if before is None else frozenset(before)
    return [r for r in results if not r.boots and (met is None or r.floor.needs <= met)]


def _needs_text(result: Shortfall) -> str:
    floor, missing = result.floor, set(result.missing)
    own = sorted(missing & floor.own)
    level = sorted(missing - floor.own)
    parts = []
    if level:
        shown = ", ".join(level[:8]) + (f" and {len(level) - 8} more" if len(level) > 8 else "")
        parts.append(f"{floor.psabi} ({shown})")
    if own:
        parts.append(", ".join(own))
    return "; ".join(parts)


def message(result: Shortfall, under: str) -> str:
    article = "an" if result.floor.label[:1].lower() in "aeiou" else "a"
    if result.boots:
        return f"{article} {result.floor.label} guest boots under {under}"
    return f"{article} {result.floor.label} guest will not boot under {under}: it needs {_needs_text(result)}"


def to_json(results: Sequence[Shortfall]) -> list[dict]:
    return [{"guest": r.floor.key, "label": r.floor.label, "psabi": r.floor.psabi, "boots": r.boots,
             "missing": list(r.missing), "source": r.floor.source} for r in results]


def warn(present: Iterable[str], under: str, guests: Sequence[str] = (), before: Iterable[str] | None = None) -> list[dict]:
    """Check, print one stderr line per floor not met (``warning:``) or checked and met
    (``note:``), and return the JSON list (the ``guest_floors`` key)."""
    results = check(present, guests, before)
    for result in results:
        print(f"{'note' if result.boots else 'warning'}: {printable(message(result, under))}", file=sys.stderr)
    return to_json(results)
