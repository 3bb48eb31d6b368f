"""What an admin changes to get lost features back, and why a feature went: ``data/remedies.csv``
(BIOS settings by collector finding, microcode updates by the features they add) and
``data/loss-reasons.csv`` (the known reasons a host stops reporting a feature).

``advice`` (next steps), ``fleet`` (the hosts that cost the EVC mode), ``diff`` (what a change
means) and the HTML report read them here, so each setting is worded once. The rows are cached
by ``tables`` (``tables.clear_caches`` forgets them)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import NamedTuple

from .tables import table


class Remedy(NamedTuple):
    cause: str
    features: str = ""
    vendor: str = ""
    action: str = ""
    source: str = ""


class LossReason(NamedTuple):
    feature: str
    reason: str = ""
    source: str = ""


def remedies() -> dict[str, Remedy]:
    """``data/remedies.csv`` by cause: BIOS finding ids, and microcode updates matched by features."""
    return {row.cause: row for row in table("remedies.csv", Remedy)}


def action(cause: str) -> str:
    """The change that undoes a cause (a BIOS finding id or a microcode row), else the cause itself."""
    remedy = remedies().get(cause)
    return remedy.action if remedy else cause


def microcode_updates(lacking: Iterable[str], vendor: str | None) -> dict[str, list[str]]:
    """The microcode updates (rows with ``features``) for ``vendor`` that add some of ``lacking``:
    cause -> those features, in the file's order."""
    lacking = set(lacking)
    found = {}
    for cause, remedy in remedies().items():
        hit = sorted(set(remedy.features.split()) & lacking)
        if hit and remedy.vendor in ("", vendor):
            found[cause] = hit
    return found


def loss_reasons() -> dict[str, str]:
    """Canonical feature -> the known reason a host stops reporting it (``data/loss-reasons.csv``)."""
    return {row.feature: row.reason for row in table("loss-reasons.csv", LossReason)}
