"""The names each mask consumer knows (``data/consumer-names.csv``): libvirt 9.0's models and
features, the QEMU names QEMU 7.2 refuses, Proxmox's reported models, KubeVirt's obsolete
models."""

from __future__ import annotations

from functools import cache

from ..knowledge.tables import rows


@cache
def _table() -> dict[tuple[str, str], frozenset[str]]:
    table: dict[tuple[str, str], set[str]] = {}
    for row in rows("consumer-names.csv"):
        table.setdefault((row["consumer"], row["kind"]), set()).add(row["name"])
    return {key: frozenset(names) for key, names in table.items()}


def known_names(consumer: str, kind: str) -> frozenset[str]:
    """The names of one kind (model, feature ...) that one consumer knows."""
    return _table()[(consumer, kind)]
