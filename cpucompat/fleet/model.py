"""The fleet table: host names, packed feature rows (``bits``) and scalar columns, row for row.

The scalars are the CPU's identity (vendor, signature) and the levelled fields (``levels``), in a
pandas frame; pandas is imported only when a fleet is built.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from .. import levels
from ..decode import Decoded
from .bits import MissingExtra, pack, words


def pandas():
    """The pandas module, imported on first use; MissingExtra (exit 2) when it is not installed."""
    try:
        import pandas as pd
    except ImportError:
        raise MissingExtra("fleet analysis needs pandas: pip install 'cpucompat[fleet]'") from None
    return pd


#: Scalar columns of a fleet, besides ``host`` and one bool column per feature: the levelled
#: fields (``levels``) after the CPU's identity.
SCALARS = ("vendor", "family", "model", "stepping", *levels.names())


@dataclass
class Fleet:
    """Hosts, their feature bits and their scalars, row for row."""

    hosts: object  # pandas Series of host names (str)
    bits: np.ndarray  # (hosts, words()) uint64
    scalars: object  # pandas DataFrame with the SCALARS columns

    def __len__(self) -> int:
        return self.bits.shape[0]


def scalar_frame(records: Sequence[tuple] | dict):
    """The scalars as a frame with nullable integer columns and a categorical vendor."""
    pd = pandas()

    frame = pd.DataFrame(records, copy=False) if isinstance(records, dict) else pd.DataFrame(records, columns=list(SCALARS))
    for name in SCALARS[1:]:
        frame[name] = frame[name].astype("UInt64" if name in levels.names("and") else "Int64")
    frame["vendor"] = frame["vendor"].astype("category")
    return frame[list(SCALARS)]


def host_scalars(host: Decoded) -> tuple:
    """One decoded host's scalar values, in SCALARS order."""
    return (host.vendor, host.family, host.model, host.stepping,
            *(host.fields.get(name) for name in SCALARS[4:]))


def from_records(names: Sequence[str], rows: Sequence, scalars: Sequence[tuple]) -> Fleet:
    """A fleet from per-host names, packed rows and scalar tuples."""
    pd = pandas()

    bits = np.array(rows, dtype=np.uint64).reshape(len(names), words())
    return Fleet(pd.Series(list(names), dtype="str"), bits, scalar_frame(scalars))


def from_decoded(hosts: Sequence[Decoded]) -> Fleet:
    """A fleet from decoded hosts (names are ``Decoded.name``)."""
    return from_records([h.name for h in hosts], [pack(h.features) for h in hosts],
                        [host_scalars(h) for h in hosts])


def concat(fleets: Sequence[Fleet]) -> Fleet:
    """Several fleets as one, rows in order."""
    pd = pandas()

    if len(fleets) == 1:
        return fleets[0]
    hosts = pd.concat([f.hosts for f in fleets], ignore_index=True)
    scalars = scalar_frame(pd.concat([f.scalars.astype({"vendor": "str"}) for f in fleets], ignore_index=True))
    return Fleet(hosts, np.concatenate([f.bits for f in fleets]), scalars)


def level_fields(scalars) -> dict:
    """The levelled fields of all hosts, by ``levels``' rules over each column's distinct values
    (min and AND are idempotent: the distinct values level as all of them)."""
    pd = pandas()
    return {f.name: f.level(None if pd.isna(v) else int(v) for v in scalars[f.name].unique())
            for f in levels.levelled_fields()}
