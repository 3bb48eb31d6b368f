"""Fleet tables on disk: Parquet (through pyarrow) and CSV (through pandas).

Layout: ``host``, the scalar columns (``fleet.SCALARS``), then one bool column per feature,
named by its canonical name, in ``data/features.csv`` order. A table written by another
version may lack feature columns; a missing feature counts as absent on every host, which
can only make a baseline smaller, never wrong. Unknown columns are ignored.

Parquet is the fast path. Arrow stores a bool column as a bitmap (host ``i`` is bit ``i % 8``
of byte ``i // 8``), which is the transpose of our packed rows; ``_transpose8`` swaps the two
layouts 8 features x 8 hosts at a time with the classic 8x8 bit-matrix transpose (Hacker's
Delight, 7-8), vectorised by numpy. Columns that the Parquet statistics show to be constant
(most features: absent from every host of one vendor, or present everywhere) are not read.

pyarrow is an extra (``pip install cpucompat[parquet]``); without it Parquet paths fail with a
clear message (exit 2) and CSV still works.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import numpy as np

from ..errors import CpuCompatError, InputError, UsageError
from .bits import bool_matrix, columns, pack_matrix, words
from .model import SCALARS, Fleet, pandas, scalar_frame
from ..output import refuse_existing, replace_atomically

PARQUET_MAGIC = b"PAR1"
CSV_HEADER = b"host,"
#: Fleet tables may be larger than a dump (MAX_BYTES): a million hosts as CSV is ~1.5 GB.
MAX_TABLE_BYTES = 8 * 1024**3
_T8 = ((7, 0x00AA00AA00AA00AA), (14, 0x0000CCCC0000CCCC), (28, 0x00000000F0F0F0F0))


class MissingParquet(CpuCompatError):
    """Parquet asked for, but pyarrow is not installed."""


def _parquet():
    try:
        import pyarrow as pa
        import pyarrow.parquet as pq
    except ImportError:
        raise MissingParquet("Parquet needs pyarrow: pip install 'cpucompat[parquet]' (or write .csv)") from None
    return pa, pq


def table_kind(path: str | os.PathLike) -> str | None:
    """``parquet`` or ``csv`` when the file is a fleet table (by content), else None."""
    from ..formats.reader import open_regular

    with open_regular(os.fspath(path)) as handle:
        return kind_of(handle.read(len(CSV_HEADER)))


def kind_of(head: bytes) -> str | None:
    """``parquet`` or ``csv`` for the first bytes of a fleet table, else None."""
    if head.startswith(PARQUET_MAGIC):
        return "parquet"
    return "csv" if head == CSV_HEADER else None


def check_table_size(path: str, size: int) -> None:
    if size > MAX_TABLE_BYTES:
        raise InputError(path, f"table is {size / 1e9:.1f} GB; a fleet table is at most {MAX_TABLE_BYTES >> 30} GiB")


def check_output(path: str, force: bool = False) -> str:
    """``parquet`` or ``csv`` by the file name; errors for another name, or an existing file without force."""
    suffix = Path(path).suffix.lower()
    if suffix not in (".parquet", ".csv"):
        raise UsageError(f"{path}: a fleet table is written as .parquet or .csv")
    refuse_existing(path, force)
    if suffix == ".parquet":
        _parquet()
    return suffix[1:]


# --- bit layout -------------------------------------------------------------------------

def _transpose8(x: np.ndarray) -> np.ndarray:
    """Transpose the 8x8 bit matrix in each uint64 (bit 8r+c <-> bit 8c+r), in place."""
    t = np.empty_like(x)
    for shift, mask in _T8:
        s = np.uint64(shift)
        np.right_shift(x, s, out=t)
        t ^= x
        t &= np.uint64(mask)
        x ^= t
        t <<= s
        x ^= t
    return x


def interleaved_bitmaps(hosts: int) -> np.ndarray:
    """An empty ``(words()*8, ceil(hosts/8), 8)`` uint8 array: [j // 8, :, j % 8] is column j's bitmap."""
    return np.zeros((words() * 8, (hosts + 7) // 8, 8), dtype=np.uint8)


def rows_from_bitmaps(interleaved: np.ndarray, hosts: int, fixed: dict[int, int] | None = None) -> np.ndarray:
    """Column bitmaps (laid out by ``interleaved_bitmaps``; overwritten) as ``(hosts, words())`` rows.

    ``fixed`` maps groups of 8 columns that hold one value on every host to their byte; their
    bitmaps are not looked at.
    """
    fixed = fixed or {}
    groups, nbytes = interleaved.shape[:2]
    words_ = interleaved.view("<u8")[..., 0]
    for start, stop in _runs([g not in fixed for g in range(groups)]):
        _transpose8(words_[start:stop])
    rows = np.ascontiguousarray(interleaved.transpose(1, 2, 0)).reshape(nbytes * 8, groups)
    for group, byte in fixed.items():
        rows[:, group] = byte
    return rows[:hosts].view("<u8").astype(np.uint64, copy=False)


def _runs(flags: list[bool]) -> list[tuple[int, int]]:
    """(start, stop) of each run of True."""
    runs, start = [], None
    for i, flag in enumerate([*flags, False]):
        if flag and start is None:
            start = i
        elif not flag and start is not None:
            runs.append((start, i))
            start = None
    return runs


def fixed_groups(constant: dict[int, bool]) -> dict[int, int]:
    """Groups of 8 feature columns that are all constant (or padding), with their byte."""
    fixed = {}
    for group in range(words() * 8):
        members = range(8 * group, 8 * group + 8)
        if all(j >= len(columns()) or j in constant for j in members):
            fixed[group] = sum(1 << (j % 8) for j in members if constant.get(j))
    return fixed


def bitmaps_from_rows(bits: np.ndarray) -> np.ndarray:
    """``(hosts, words())`` uint64 rows as ``(words()*64, ceil(hosts/8))`` uint8 column bitmaps."""
    hosts, nbytes = bits.shape[0], (bits.shape[0] + 7) // 8
    padded = np.zeros((nbytes * 8, bits.shape[1]), dtype="<u8")
    padded[:hosts] = bits
    groups = bits.shape[1] * 8
    x = np.ascontiguousarray(padded.view(np.uint8).reshape(nbytes, 8, groups).transpose(2, 0, 1))
    x = _transpose8(x.view("<u8")[..., 0].astype(np.uint64, copy=False))
    return np.ascontiguousarray(x.view(np.uint8).reshape(groups, nbytes, 8).transpose(0, 2, 1)).reshape(groups * 8, nbytes)


# --- frames (CSV, pandas users) ---------------------------------------------------------

def to_frame(fleet: Fleet):
    """The fleet as a pandas frame: host, scalars, one bool column per feature."""
    pd = pandas()

    features = pd.DataFrame(bool_matrix(fleet.bits), columns=list(columns()))
    return pd.concat([fleet.hosts.rename("host").to_frame(), fleet.scalars.reset_index(drop=True), features], axis=1)


def from_frame(frame, path: str = "<frame>") -> Fleet:
    """A fleet from a frame in the table layout (missing feature columns: absent)."""
    if "host" not in frame.columns:
        raise InputError(path, "not a cpucompat fleet table: no 'host' column")
    present = [name for name in columns() if name in frame.columns]
    flags = np.zeros((len(frame), len(columns())), dtype=bool)
    index = {name: j for j, name in enumerate(columns())}
    for name in present:
        flags[:, index[name]] = _bool_column(frame[name], name, path)
    scalars = {name: frame[name] if name in frame.columns else None for name in SCALARS}
    return Fleet(frame["host"].astype("str").reset_index(drop=True), pack_matrix(flags),
                 scalar_frame({k: (v.reset_index(drop=True) if v is not None else [None] * len(frame))
                               for k, v in scalars.items()}))


def _bool_column(column, name: str, path: str) -> np.ndarray:
    """A feature column as bools: True/False (CSV text or bool), empty = False; else an InputError."""
    if column.dtype == bool:
        return column.to_numpy()
    values = column.map({True: True, False: False, "True": True, "False": False,
                         "true": True, "false": False, "1": True, "0": False, 1: True, 0: False})
    bad = values.isna() & column.notna() & (column.astype("str") != "")
    if bad.any():
        row = int(np.flatnonzero(bad.to_numpy())[0])
        raise InputError(path, f"column {name}: expected True or False, got {str(column.iloc[row])[:40]!r}",
                         row + 2)
    return values.fillna(False).astype(bool).to_numpy()


def read_csv(path: str) -> Fleet:
    """A fleet from a CSV table: host names are kept as written (``007``, ``NA``)."""
    from ..formats.reader import open_regular

    pd = pandas()
    with open_regular(path) as handle:
        check_table_size(path, os.fstat(handle.fileno()).st_size)
        try:
            with warnings.catch_warnings():  # a row longer than the header: an error, not an index
                warnings.simplefilter("error", pd.errors.ParserWarning)
                frame = pd.read_csv(handle, dtype={"host": str}, keep_default_na=False, na_values=[""],
                                    encoding="utf-8", index_col=False)
            frame["host"] = frame["host"].fillna("")
            return from_frame(frame, path)
        except InputError:
            raise
        except (ValueError, TypeError, OverflowError, KeyError, pd.errors.ParserError,
                pd.errors.ParserWarning) as error:
            raise InputError(path, f"cannot read CSV table: {_first_line(error)}") from None


def _first_line(error: BaseException) -> str:
    text = str(error).strip().splitlines()
    return text[0][:200] if text else type(error).__name__


# --- Parquet ----------------------------------------------------------------------------

def _arrow_table(fleet: Fleet):
    pa, _ = _parquet()
    bitmaps = bitmaps_from_rows(fleet.bits)
    hosts = len(fleet)
    arrays = [pa.array(fleet.hosts.to_numpy(dtype=object), type=pa.string())]
    arrays += [pa.Array.from_pandas(fleet.scalars[name]) for name in SCALARS]
    arrays += [pa.Array.from_buffers(pa.bool_(), hosts, [None, pa.py_buffer(bitmaps[j])])
               for j in range(len(columns()))]
    return pa.Table.from_arrays(arrays, names=["host", *SCALARS, *columns()])


def _constant_columns(metadata, names: list[str]) -> dict[str, bool]:
    """Bool columns that the statistics of every row group show to hold one value, no nulls."""
    values: dict[str, set] = {name: set() for name in names}
    position = {metadata.schema.column(j).name: j for j in range(metadata.num_columns)}
    for group in range(metadata.num_row_groups):
        row_group = metadata.row_group(group)
        for name in names:
            stats = row_group.column(position[name]).statistics
            if stats is None or not stats.has_min_max or stats.null_count:
                values[name].add(None)
            else:
                values[name].update((stats.min, stats.max))
    return {name: next(iter(seen)) for name, seen in values.items() if len(seen) == 1 and None not in seen}


def _column_bitmap(column, nbytes: int) -> np.ndarray:
    """The bitmap of a bool column (nulls read as False)."""
    array = column.combine_chunks() if hasattr(column, "combine_chunks") else column
    if array.null_count:
        array = array.fill_null(False)
    if array.offset % 8 == 0:
        start = array.offset // 8
        return np.frombuffer(array.buffers()[1], dtype=np.uint8)[start:start + nbytes]
    return np.packbits(array.to_numpy(zero_copy_only=False), bitorder="little")


def _nullable_types(pa):
    pd = pandas()

    return {pa.int64(): pd.Int64Dtype(), pa.uint64(): pd.UInt64Dtype()}.get


def _feature_rows(table, constant: dict[str, bool], varying: list[str]) -> np.ndarray:
    """Packed rows from the varying bool columns read and the constant ones known from statistics."""
    index = {name: j for j, name in enumerate(columns())}
    fixed = fixed_groups({index[name]: value for name, value in constant.items()})
    bitmaps = interleaved_bitmaps(table.num_rows)  # zeros: pages of fixed groups are never touched
    for name in varying:
        bitmaps[index[name] // 8, :, index[name] % 8] = _column_bitmap(table.column(name), bitmaps.shape[1])
    for name in (n for n, value in constant.items() if value and index[n] // 8 not in fixed):
        bitmaps[index[name] // 8, :, index[name] % 8] = 0xFF
    return rows_from_bitmaps(bitmaps, table.num_rows, fixed)


def read_parquet(path: str) -> Fleet:
    """A fleet from a Parquet table; reads only the feature columns that vary."""
    pa, pq = _parquet()
    try:
        source = pq.ParquetFile(path)
        schema = source.schema_arrow  # a property that converts the whole schema on every access
        names = schema.names
        if "host" not in names:
            raise InputError(path, "not a cpucompat fleet table: no 'host' column")
        features = [name for name in columns() if name in names]
        constant = _constant_columns(source.metadata, features)
        varying = [name for name in features if name not in constant]
        scalars = [name for name in SCALARS if name in names]
        wrong = [name for name in features if schema.field(name).type != pa.bool_()]
        if wrong:
            raise InputError(path, f"column {wrong[0]}: expected a bool column, got {schema.field(wrong[0]).type}")
        table = source.read(columns=["host", *scalars, *varying], use_threads=True)
        frame = table.select(["host", *scalars]).to_pandas(types_mapper=_nullable_types(pa))
        return Fleet(frame["host"].astype("str"), _feature_rows(table, constant, varying),
                     scalar_frame({name: frame[name] if name in frame else [None] * len(frame) for name in SCALARS}))
    except InputError:
        raise
    except (pa.ArrowException, OSError, ValueError, TypeError, OverflowError, KeyError, IndexError) as error:
        raise InputError(path, f"cannot read Parquet: {_first_line(error)}") from None


# --- any table --------------------------------------------------------------------------

def read_table(path: str) -> Fleet:
    """A fleet table, Parquet or CSV (by content)."""
    kind = table_kind(path)
    if kind == "parquet":
        check_table_size(path, os.stat(path).st_size)
        return read_parquet(path)
    if kind == "csv":
        return read_csv(path)
    raise InputError(path, "not a fleet table (expected Parquet, or CSV starting with 'host,')")


def write_table(fleet: Fleet, path: str, force: bool = False) -> None:
    """Write the fleet as .parquet or .csv (by the file name), atomically."""
    if check_output(path, force) == "parquet":
        _, pq = _parquet()
        table = _arrow_table(fleet)
        replace_atomically(path, lambda temp: pq.write_table(table, temp), force)
    else:
        frame = to_frame(fleet)
        replace_atomically(path, lambda temp: frame.to_csv(temp, index=False), force)
