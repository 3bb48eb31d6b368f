"""Feature sets as packed bits: one host is a row of uint64 words.

Feature ``j`` of ``data/features.csv`` is bit ``j % 64`` of word ``j // 64``; a fleet is a
``(hosts, words)`` uint64 matrix, unpacked to bools only where a count needs it.
"""

from __future__ import annotations

from collections.abc import Iterable
from functools import cache

from ..errors import CpuCompatError
from ..knowledge.features import feature_table


class MissingExtra(CpuCompatError):
    """Fleet analysis without pandas (and numpy) installed."""


try:
    import numpy as np
except ImportError:  # pragma: no cover - numpy comes with pandas, the fleet extra
    raise MissingExtra("fleet analysis needs pandas: pip install 'cpucompat[fleet]'") from None


@cache
def columns() -> tuple[str, ...]:
    """Canonical feature names in column order (``data/features.csv`` order)."""
    return tuple(f.name for f in feature_table().features)


@cache
def column_index() -> dict[str, int]:
    return {name: j for j, name in enumerate(columns())}


def words() -> int:
    """uint64 words per host row."""
    return (len(columns()) + 63) // 64


def pack(features: Iterable[str]) -> np.ndarray:
    """One host's features as a row of ``words()`` uint64."""
    flags = np.zeros(words() * 64, dtype=bool)
    flags[[column_index()[name] for name in features]] = True
    return pack_matrix(flags[None, :])[0]


@cache
def guest_visible_row() -> np.ndarray:
    """One row with the bits of the guest-visible features set: ANDed in, it drops host-only bits."""
    return pack(n for n in columns() if feature_table().guest_visible(n))


def unpack(row: np.ndarray) -> frozenset[str]:
    """The canonical feature names whose bits are set in one row."""
    names = columns()
    return frozenset(names[j] for j in np.flatnonzero(bool_matrix(row[None, :])[0]))


def bool_matrix(rows: np.ndarray) -> np.ndarray:
    """``(k, words)`` uint64 rows as a ``(k, features)`` bool matrix."""
    as_bytes = np.ascontiguousarray(rows, dtype="<u8").view(np.uint8)
    return np.unpackbits(as_bytes, axis=1, bitorder="little")[:, :len(columns())].view(bool)


def pack_matrix(flags: np.ndarray) -> np.ndarray:
    """A ``(k, features)`` bool matrix as ``(k, words)`` uint64 rows."""
    padded = np.zeros((flags.shape[0], words() * 64), dtype=bool)
    padded[:, :flags.shape[1]] = flags
    return np.packbits(padded, axis=1, bitorder="little").view("<u8").astype(np.uint64, copy=False)
