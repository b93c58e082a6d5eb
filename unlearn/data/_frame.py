"""The one interaction table every loader produces, and its content digest.

Everything downstream (store, splits, models, ledger) reads interactions only through
:class:`RawInteractions`, so a loader is correct exactly when its output passes the validation here.
The digest is what the ledger records to prove which data a model was trained on.
"""

from __future__ import annotations

import hashlib
import json
import warnings
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from ledger.errors import LetheError

SOURCES = ("synthetic", "ml-100k", "ml-1m", "lightgcn", "csv")
COLUMNS = ("subject", "item", "rating", "timestamp")
SPLIT_VALUES = frozenset({"train", "test"})
_DIGEST_FORMAT = b"lethe-interactions/1\n"


class DataError(LetheError):
    """A data set cannot be read or is not a valid interaction table; the message names file, line, column."""


@dataclass(frozen=True)
class RawInteractions:
    """A validated interaction table plus where it came from, as recorded in the ledger.

    ``frame`` columns, in order: ``subject`` and ``item`` (str ids), ``rating`` (float64, NaN if none),
    ``timestamp`` (nullable Int64 unix seconds) and, only when ``fixed_split``, ``split`` ("train"/"test").
    Build it with :func:`finalise_interactions`, which normalises dtypes, drops duplicate pairs and computes ``digest``.
    """

    name: str
    source: str
    path: str | None
    frame: pd.DataFrame = field(repr=False)
    digest: str
    fixed_split: bool
    params: dict[str, Any]

    def __post_init__(self) -> None:
        _validate(self.frame, self.source, self.fixed_split, self.name)
        if not self.digest.startswith("sha256:"):
            raise DataError(f"{self.name}: digest must be 'sha256:<hex>', got {self.digest!r}")
        try:
            json.dumps(self.params, allow_nan=False)
        except (TypeError, ValueError) as error:
            raise DataError(f"{self.name}: params must be JSON-serialisable for the ledger: {error}") from None


def _validate(frame: pd.DataFrame, source: str, fixed_split: bool, name: str) -> None:
    """Reject any table that breaks the column contract, so consumers never re-check it."""
    if source not in SOURCES:
        raise DataError(f"unknown source {source!r}; expected one of {', '.join(SOURCES)}")
    expected = COLUMNS + (("split",) if fixed_split else ())
    if tuple(frame.columns) != expected:
        raise DataError(f"{name}: columns must be {list(expected)}, found {list(frame.columns)}")
    if len(frame) == 0:
        raise DataError(f"{name}: data set is empty")
    if not isinstance(frame.index, pd.RangeIndex) or frame.index.start != 0 or frame.index.step != 1:
        raise DataError(f"{name}: frame index must be 0..n-1 (call reset_index)")
    for column in ("subject", "item") + (("split",) if fixed_split else ()):
        if not pd.api.types.is_string_dtype(frame[column].dtype):
            raise DataError(f"{name}: column {column!r} must hold strings, found dtype {frame[column].dtype}")
        missing = int(frame[column].isna().sum())
        if missing:
            raise DataError(f"{name}: column {column!r} has {missing} missing values")
    if frame["rating"].dtype != np.float64:
        raise DataError(f"{name}: column 'rating' must be float64, found {frame['rating'].dtype}")
    if frame["timestamp"].dtype != pd.Int64Dtype():
        raise DataError(f"{name}: column 'timestamp' must be Int64, found {frame['timestamp'].dtype}")
    if fixed_split:
        bad = set(frame["split"].unique()) - SPLIT_VALUES
        if bad:
            raise DataError(f"{name}: column 'split' may hold only 'train'/'test', found {sorted(bad)}")
    if _has_duplicate_pairs(frame):
        raise DataError(f"{name}: duplicate (subject, item) pairs; build the table with finalise_interactions")


def _pair_keys(frame: pd.DataFrame) -> np.ndarray:
    """One int64 per (subject, item) pair: comparing these is far cheaper than comparing string pairs."""
    subjects, _ = pd.factorize(frame["subject"])
    items, item_ids = pd.factorize(frame["item"])
    return subjects.astype(np.int64) * len(item_ids) + items


def _has_duplicate_pairs(frame: pd.DataFrame) -> bool:
    """Whether some (subject, item) pair repeats; a sort beats a 10M-entry hash table in time and memory."""
    keys = np.sort(_pair_keys(frame))
    return bool((keys[1:] == keys[:-1]).any())


def finalise_interactions(
    frame: pd.DataFrame,
    *,
    name: str,
    source: str,
    path: str | None,
    params: dict[str, Any],
    fixed_split: bool = False,
) -> RawInteractions:
    """Normalise dtypes, drop duplicate pairs (keeping the latest) and digest: the only way loaders build data.

    Implicit feedback counts a (subject, item) pair once, so a repeated pair is one interaction; the latest
    timestamp wins (file order breaks ties), and the caller is warned how many rows were dropped.
    """
    label = path or name
    frame = frame.reset_index(drop=True)
    if len(frame) == 0:
        raise DataError(f"{label}: data set is empty")
    for column in ("subject", "item"):
        missing = int(frame[column].isna().sum())
        if missing:
            raise DataError(f"{label}: {missing} rows have no {column} id")
    columns = {
        "subject": frame["subject"].astype(str),
        "item": frame["item"].astype(str),
        "rating": frame["rating"].astype(np.float64) if "rating" in frame else np.nan,
        "timestamp": frame["timestamp"].astype("Int64") if "timestamp" in frame else pd.NA,
    }
    if fixed_split:
        columns["split"] = frame["split"].astype(str)
    out = pd.DataFrame(columns, copy=False)
    out["timestamp"] = out["timestamp"].astype("Int64")
    out["rating"] = out["rating"].astype(np.float64)
    if _has_duplicate_pairs(out):
        out = _drop_duplicate_pairs(out, label)
    return RawInteractions(
        name=name,
        source=source,
        path=path,
        frame=out,
        digest=content_digest(out),
        fixed_split=fixed_split,
        params=params,
    )


def _drop_duplicate_pairs(frame: pd.DataFrame, label: str) -> pd.DataFrame:
    """Keep the latest row of each repeated (subject, item) pair, warning how many rows went."""
    # Stable sort by timestamp (missing first) keeps file order among ties, so "last" = latest, then last in file.
    times = frame["timestamp"].to_numpy(dtype=np.int64, na_value=np.iinfo(np.int64).min)
    order = np.argsort(times, kind="stable")
    drop = pd.Series(_pair_keys(frame.iloc[order])).duplicated(keep="last").to_numpy()
    dropped_rows = np.sort(order[drop])
    example = frame.iloc[dropped_rows[0]]
    warnings.warn(
        f"{label}: dropped {len(dropped_rows)} duplicate (subject, item) rows, keeping the latest of each "
        f"(first: subject {example['subject']!r}, item {example['item']!r})",
        stacklevel=4,
    )
    return frame.drop(index=dropped_rows).reset_index(drop=True)


def content_digest(frame: pd.DataFrame) -> str:
    """``"sha256:<hex>"`` of the table's content, independent of row order and of the pandas version.

    Rows are ordered by (subject, item) and then every other column, so a shuffled copy digests the same.
    Each string column is serialised as its sorted distinct values (length-prefixed UTF-8) plus one
    little-endian int64 code per row; ``rating`` as little-endian float64 with one canonical NaN;
    ``timestamp`` as a missing-mask byte per row plus int64 values (0 where missing). Explicit bytes,
    unlike ``pd.util.hash_pandas_object``, do not change between library versions.
    """
    names = [str(column) for column in frame.columns]
    encoded: dict[str, list[np.ndarray | bytes]] = {}
    keys: dict[str, list[np.ndarray]] = {}
    for column in names:
        encoded[column], keys[column] = _encode_column(frame[column])
    order = _row_order([key for column in _sort_priority(names) for key in keys[column]], len(frame))
    digest = hashlib.sha256(_DIGEST_FORMAT)
    digest.update(f"{len(frame)}\n{len(names)}\n".encode())
    for column in names:
        digest.update(_length_prefixed([column]))
        for part in encoded[column]:
            digest.update(part if isinstance(part, bytes) else np.ascontiguousarray(part[order]).tobytes())
    return f"sha256:{digest.hexdigest()}"


def _row_order(keys: list[np.ndarray], n_rows: int) -> np.ndarray:
    """Permutation sorting rows by ``keys`` (most significant first).

    Valid tables have unique (subject, item) pairs, so one argsort of a combined pair key settles the order;
    the multi-key lexsort, several times slower on millions of rows, runs only when that key has ties.
    """
    if n_rows == 0 or not keys:
        return np.arange(n_rows)
    if len(keys) >= 2 and keys[0].dtype.kind == keys[1].dtype.kind == "i":
        first, second = keys[0], keys[1]
        first_low, second_low = int(first.min()), int(second.min())
        span = int(second.max()) - second_low + 1
        if (int(first.max()) - first_low + 1) * span < 2**62:  # the combined key fits in int64
            pair = (first - first_low) * span + (second - second_low)
            order = np.argsort(pair, kind="stable")
            ordered = pair[order]
            if not (ordered[1:] == ordered[:-1]).any():
                return order
    return np.lexsort(keys[::-1])


def _sort_priority(names: list[str]) -> list[str]:
    """Row order: subject, item first (the pair is unique in valid data), then the rest as tie-breakers."""
    first = [column for column in ("subject", "item") if column in names]
    return first + [column for column in names if column not in first]


def _encode_column(series: pd.Series) -> tuple[list[np.ndarray | bytes], list[np.ndarray]]:
    """Canonical parts of one column (bytes are row-independent, arrays get reordered) and its sort keys."""
    if pd.api.types.is_integer_dtype(series.dtype):
        missing = series.isna().to_numpy()
        values = series.to_numpy(dtype="<i8", na_value=0)
        return [b"int64\n", missing.astype(np.uint8), values], [missing, values]
    if pd.api.types.is_float_dtype(series.dtype):
        values = series.to_numpy(dtype="<f8", na_value=np.nan) + 0.0  # + 0.0 folds -0.0 into 0.0
        values[np.isnan(values)] = np.nan
        return [b"float64\n", values], [values]
    codes, uniques = pd.factorize(series.astype(str), sort=True, use_na_sentinel=True)
    codes = codes.astype("<i8")
    return [b"str\n", _length_prefixed(uniques.tolist()), codes], [codes]


def _length_prefixed(values: list[str]) -> bytes:
    """Unambiguous bytes for a list of strings: count, then each length and UTF-8 bytes."""
    raw = [value.encode("utf-8") for value in values]
    lengths = np.fromiter((len(item) for item in raw), dtype="<i8", count=len(raw))
    return np.int64(len(raw)).astype("<i8").tobytes() + lengths.tobytes() + b"".join(raw)
