"""The names each mask consumer knows (``data/consumer-names.csv``): libvirt 9.0's models and
features, the QEMU names QEMU 7.2 refuses, Proxmox's reported models, KubeVirt's obsolete
models."""

from __future__ import annotations

import csv
from functools import cache

from ..knowledge.tables import data_file


@cache
def _table() -> dict[tuple[str, str], frozenset[str]]:
    with open(data_file("consumer-names.csv"), newline="", encoding="utf-8") as handle:
        rows = csv.DictReader(line for line in handle if not line.startswith("#"))
        table: dict[tuple[str, str], set[str]] = {}
        for row in rows:
            table.setdefault((row["consumer"], row["kind"]), set()).add(row["name"])
    return {key: frozenset(names) for key, names in table.items()}


def known_names(consumer: str, kind: str) -> frozenset[str]:
    """The names of one kind (model, feature ...) that one consumer knows."""
    return _table()[(consumer, kind)]
