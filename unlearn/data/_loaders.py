"""Readers for each supported source, all ending in the same validated :class:`RawInteractions`.

Files are parsed strictly: a malformed line is an error naming the file and line, never a silently
dropped or NaN-filled row, because a quietly different data set would make every later digest meaningless.
"""

from __future__ import annotations

import csv
import inspect
import io
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from unlearn.data._frame import SOURCES, DataError, RawInteractions, finalise_interactions
from unlearn.data._synthetic import synthetic_interactions

_RATING_FIELDS = ("user", "item", "rating", "timestamp")
_UNIX_SECONDS = (-62135596800, 253402300799)
"""The unix seconds of 0001-01-01 and 9999-12-31T23:59:59 UTC: any later or earlier "time" is not one."""


@dataclass(frozen=True)
class ColumnMapping:
    """Which columns of a user's CSV/parquet hold what; rating and time are optional (absent → NaN/<NA>)."""

    user_col: str = "user_id"
    item_col: str = "item_id"
    rating_col: str | None = "rating"
    time_col: str | None = "timestamp"


def load_source(
    source: str,
    path: str | Path | None = None,
    columns: ColumnMapping | None = None,
    seed: int = 0,
    **synthetic_params: Any,
) -> RawInteractions:
    """Load one data set by source name; ``seed`` and ``synthetic_params`` only matter for "synthetic"."""
    if source not in SOURCES:
        raise DataError(f"unknown data source {source!r}; expected one of {', '.join(SOURCES)}")
    if source == "synthetic":
        allowed = set(inspect.signature(synthetic_interactions).parameters) - {"seed"}
        unknown = sorted(set(synthetic_params) - allowed)
        if unknown:
            raise DataError(f"unknown synthetic option(s) {unknown}; expected some of {sorted(allowed)}")
        return synthetic_interactions(seed=seed, **synthetic_params)
    if synthetic_params:
        raise DataError(f"options {sorted(synthetic_params)} only apply to source 'synthetic', not {source!r}")
    if columns is not None and source != "csv":
        raise DataError(f"a column mapping only applies to source 'csv', not {source!r}")
    if path is None:
        raise DataError(f"source {source!r} needs a path to the data")
    path = Path(path)
    if not path.exists():
        raise DataError(f"{path}: no such file or directory (source {source!r})")
    if source == "csv":
        return _load_table(path, columns or ColumnMapping())
    return _LOADERS[source](path)


def _load_ml100k(path: Path) -> RawInteractions:
    """MovieLens-100K ``u.data``: ``user \\t item \\t rating \\t unix_ts``, no header."""
    file = _pick_file(path, ("u.data",), "ml-100k")
    return _explicit_ratings(_read_delimited(file, "\t", _RATING_FIELDS), "ml-100k", path, file)


def _load_ml1m(path: Path) -> RawInteractions:
    """MovieLens-1M: ``ratings.dat`` (explicit) if present, else the implicit-only ``ratings.parquet``."""
    file = _pick_file(path, ("ratings.dat", "ratings.parquet"), "ml-1m")
    if file.suffix == ".parquet":
        table = _read_parquet(file, ["userID", "movieID"])
        frame = pd.DataFrame({"subject": _ids(table, "userID", file), "item": _ids(table, "movieID", file)})
        return finalise_interactions(frame, name="ml-1m", source="ml-1m", path=str(path), params={"file": file.name})
    return _explicit_ratings(_read_delimited(file, "::", _RATING_FIELDS), "ml-1m", path, file)


def _load_lightgcn(path: Path) -> RawInteractions:
    """LightGCN/RecEraser adjacency lists ``uid iid iid ...`` in ``train.txt`` and ``test.txt``: a fixed split."""
    if not path.is_dir():
        raise DataError(f"{path}: source 'lightgcn' needs a folder holding train.txt and test.txt")
    parts = []
    for split in ("train", "test"):
        file = path / f"{split}.txt"
        if not file.is_file():
            raise DataError(f"{path}: no {file.name} (source 'lightgcn' needs train.txt and test.txt)")
        subjects, items = _read_adjacency(file)
        parts.append(pd.DataFrame({"subject": subjects, "item": items, "split": split}))
    frame = pd.concat(parts, ignore_index=True)
    params = {"files": ["train.txt", "test.txt"]}
    return finalise_interactions(frame, name="lightgcn", source="lightgcn", path=str(path), params=params, fixed_split=True)


def _load_table(path: Path, mapping: ColumnMapping) -> RawInteractions:
    """A user's own ``.csv`` (with header) or ``.parquet`` file, columns named by ``mapping``."""
    suffix = path.suffix.lower()
    if suffix not in (".csv", ".parquet"):
        raise DataError(f"{path}: source 'csv' reads .csv or .parquet files, not {suffix or 'a folder'!r}")
    found = _parquet_columns(path) if suffix == ".parquet" else _csv_header(path)
    for role, column in (("user", mapping.user_col), ("item", mapping.item_col)):
        if column not in found:
            raise DataError(
                f"{path}: no {role} column {column!r}; columns found: {found} (name them with --user-col/--item-col)"
            )
    wanted = {"subject": mapping.user_col, "item": mapping.item_col}
    wanted |= {role: col for role, col in (("rating", mapping.rating_col), ("timestamp", mapping.time_col))
               if col is not None and col in found}
    if suffix == ".parquet":
        table = _read_parquet(path, list(dict.fromkeys(wanted.values())))
        raw = {role: _ids(table, column, path) if role in ("subject", "item") else table[column].to_pandas()
               for role, column in wanted.items()}
    else:
        raw = _read_csv_text(path, list(dict.fromkeys(wanted.values())))
        raw = {role: raw[column] for role, column in wanted.items()}
    frame = pd.DataFrame({"subject": raw["subject"], "item": raw["item"]})
    if "rating" in raw:
        frame["rating"] = _numeric(raw["rating"], path, wanted["rating"])
    if "timestamp" in raw:
        frame["timestamp"] = _unix_seconds(_numeric(raw["timestamp"], path, wanted["timestamp"]), path,
                                           wanted["timestamp"])
    _reject_bad_ids(frame, path, wanted)
    params = {**asdict(mapping), "format": suffix.lstrip(".")}
    return finalise_interactions(frame, name=path.stem, source="csv", path=str(path), params=params)


def _read_csv_text(path: Path, columns: list[str]) -> dict[str, pd.Series]:
    """The named columns of a CSV, as text; an empty field is missing.

    Every row must have as many fields as the header: a row with more is refused, never cut to fit (the
    extra fields would be someone's data silently dropped), and one with fewer never padded with blanks.
    """
    ragged: list[Any] = []

    def refuse(row: Any) -> str:
        ragged.append(row)
        return "error"

    try:
        table = pacsv.read_csv(
            path,
            read_options=pacsv.ReadOptions(use_threads=False),  # one thread: a refused row knows its line number
            parse_options=pacsv.ParseOptions(invalid_row_handler=refuse),
            convert_options=pacsv.ConvertOptions(include_columns=columns,
                                                 column_types=dict.fromkeys(columns, pa.string()),
                                                 strings_can_be_null=True, null_values=[""]),
        )
    except (pa.ArrowException, OSError) as error:
        if ragged:
            row = ragged[0]
            where = f"line {row.number}" if row.number is not None and row.number > 0 else "a row"
            raise DataError(f"{path}, {where}: {row.actual_columns} fields where the header has "
                            f"{row.expected_columns}: {row.text[:80]!r}") from None
        raise DataError(f"{path}: cannot parse as CSV: {_first_line(error)}") from None
    return {column: table[column].to_pandas() for column in columns}


def _ids(table: pa.Table, column: str, file: Path) -> pd.Series:
    """A parquet id column: integers or strings only (a list, struct, float or bytes is no id, and its text form
    would become a different one)."""
    kind = table.schema.field(column).type
    if pa.types.is_dictionary(kind):
        kind = kind.value_type
    if not (pa.types.is_integer(kind) or pa.types.is_string(kind) or pa.types.is_large_string(kind)):
        raise DataError(f"{file}: column {column!r} must hold integer or string ids, found {kind}")
    return table[column].to_pandas()


def _pick_file(path: Path, candidates: tuple[str, ...], source: str) -> Path:
    """The data file itself, or the first of ``candidates`` inside the folder ``path``."""
    if path.is_file():
        return path
    for name in candidates:
        if (path / name).is_file():
            return path / name
    raise DataError(f"{path}: no {' or '.join(candidates)} in this folder (source {source!r})")


def _read_text(file: Path) -> str:
    """A whole text file; undecodable or unreadable files are a DataError naming the file."""
    try:
        return file.read_text(encoding="utf-8")
    except UnicodeDecodeError as error:
        raise DataError(f"{file}: not UTF-8 text (byte {error.start}); is this the right file?") from error
    except OSError as error:
        raise DataError(f"{file}: cannot read: {error.strerror}") from error


def _read_delimited(file: Path, sep: str, fields: tuple[str, ...]) -> list[np.ndarray]:
    """Integer columns of a header-less file: pandas' C parser when the file is clean, else a line-by-line check.

    The C parser cannot say which line is wrong (and splitting 1M lines in Python takes seconds), so any
    irregularity sends the file to :func:`_parse_checked`, which is the authority on what is malformed.
    """
    text = _read_text(file)
    return _parse_fast(text, sep, len(fields)) or _parse_checked(file, text, sep, fields)


def _parse_fast(text: str, sep: str, width: int) -> list[np.ndarray] | None:
    """The integer columns of a well-formed file, or None if anything at all looks irregular."""
    if sep != "\t":
        if "\t" in text:
            return None  # a tab would be read as a separator after the rewrite below
        text = text.replace(sep, "\t")
    try:
        frame = pd.read_csv(io.StringIO(text), sep="\t", header=None, dtype=np.int64, quoting=csv.QUOTE_NONE)
    except (ValueError, OverflowError, pd.errors.ParserError, pd.errors.EmptyDataError):
        return None
    if frame.shape[1] != width or frame.empty:
        return None
    return [frame[position].to_numpy() for position in range(width)]


def _parse_checked(file: Path, text: str, sep: str, fields: tuple[str, ...]) -> list[np.ndarray]:
    """Split and parse every non-blank line, reporting the first malformed one by line number."""
    lines = text.splitlines()
    numbers = [number for number, line in enumerate(lines, 1) if line.strip()]
    if len(numbers) != len(lines):
        lines = [lines[number - 1] for number in numbers]
    if not lines:
        raise DataError(f"{file}: no interactions (data set is empty)")
    rows = [line.split(sep) for line in lines]
    widths = np.fromiter(map(len, rows), dtype=np.int64, count=len(rows))
    bad = np.flatnonzero(widths != len(fields))
    if bad.size:
        at = int(bad[0])
        raise DataError(
            f"{file}, line {numbers[at]}: expected {len(fields)} fields ({', '.join(fields)}) separated by "
            f"{sep!r}, found {widths[at]}: {lines[at][:80]!r}"
        )
    return [_integers(values, file, field, numbers) for field, values in zip(fields, zip(*rows))]


def _integers(values: tuple[str, ...], file: Path, field: str, numbers: list[int]) -> np.ndarray:
    """Parse a column of decimal integers (64-bit); on failure, find the first bad line for the message."""
    try:
        return np.array(values).astype(np.int64)
    except (ValueError, OverflowError):
        low, high = np.iinfo(np.int64).min, np.iinfo(np.int64).max
        for number, value in zip(numbers, values):
            try:
                parsed = int(value)
            except ValueError:
                raise DataError(f"{file}, line {number}: {field} must be an integer, found {value!r}") from None
            if not low <= parsed <= high:
                raise DataError(f"{file}, line {number}: {field} {value[:30]!r} does not fit in 64 bits") from None
        raise


def _explicit_ratings(columns: list[np.ndarray], name: str, path: Path, file: Path) -> RawInteractions:
    """Frame for MovieLens-style ``user item rating ts`` rows; ids become decimal strings."""
    user, item, rating, timestamp = columns
    frame = pd.DataFrame(
        {
            "subject": pd.Series(user).astype(str),
            "item": pd.Series(item).astype(str),
            "rating": rating.astype(np.float64),
            "timestamp": _unix_seconds(pd.Series(timestamp), file, "timestamp"),
        }
    )
    return finalise_interactions(frame, name=name, source=name, path=str(path), params={"file": file.name})


def _read_adjacency(file: Path) -> tuple[np.ndarray, np.ndarray]:
    """(subject, item) id strings from ``uid iid iid ...`` lines; a user line may list no items."""
    users: list[str] = []
    counts: list[int] = []
    items: list[str] = []
    for number, line in enumerate(_read_text(file).splitlines(), 1):
        tokens = line.split()
        if not tokens:
            continue
        joined = "".join(tokens)
        if not (joined.isascii() and joined.isdigit()):
            token = next(t for t in tokens if not (t.isascii() and t.isdigit()))
            raise DataError(f"{file}, line {number}: ids must be non-negative integers, found {token!r}")
        users.append(tokens[0])
        counts.append(len(tokens) - 1)
        items.extend(tokens[1:])
    if not users:
        raise DataError(f"{file}: no users (data set is empty)")
    subjects = np.repeat(np.array(users, dtype=object), counts)
    return subjects, np.array(items, dtype=object)


def _read_parquet(file: Path, columns: list[str]) -> pa.Table:
    """Only the named columns of a parquet file; a missing column names what the file has."""
    found = _parquet_columns(file)
    missing = [column for column in columns if column not in found]
    if missing:
        raise DataError(f"{file}: no column {missing[0]!r}; columns found: {found}")
    try:
        return pq.read_table(file, columns=columns)
    except (OSError, pa.ArrowException) as error:
        raise DataError(f"{file}: cannot read parquet: {_first_line(error)}") from error


def _parquet_columns(file: Path) -> list[str]:
    """Column names from the parquet footer, without reading data."""
    try:
        return list(pq.read_schema(file).names)
    except (OSError, pa.ArrowException) as error:
        raise DataError(f"{file}: not a readable parquet file: {_first_line(error)}") from error


def _csv_header(file: Path) -> list[str]:
    """The header row of a CSV file; an empty file has none, and a name given twice names no one column."""
    try:
        columns = [str(column) for column in pd.read_csv(file, nrows=0).columns]
        with file.open(encoding="utf-8-sig", newline="") as handle:
            raw = next(csv.reader(handle), [])
    except pd.errors.EmptyDataError:
        raise DataError(f"{file}: file is empty (data set is empty; a header row is required)") from None
    except (ValueError, pd.errors.ParserError, csv.Error) as error:  # UnicodeDecodeError is a ValueError
        raise DataError(f"{file}: cannot read the CSV header: {_first_line(error)}") from error
    repeated = sorted({name for name in raw if raw.count(name) > 1})
    if repeated:
        raise DataError(f"{file}: the header names column(s) {repeated} more than once")
    return columns


def _numeric(values: pd.Series, file: Path, column: str) -> pd.Series:
    """Finite numbers from a column read as text or from parquet; any other cell is a DataError."""
    if pd.api.types.is_numeric_dtype(values.dtype) and not pd.api.types.is_bool_dtype(values.dtype):
        parsed = values
    elif not pd.api.types.is_string_dtype(values.dtype):
        raise DataError(f"{file}: column {column!r} must be numeric, found {values.dtype}")
    else:
        parsed = pd.to_numeric(values, errors="coerce")
        bad = np.flatnonzero(parsed.isna().to_numpy() & values.notna().to_numpy())
        if bad.size:
            row = int(bad[0])
            raise DataError(f"{file}, data row {row + 1}: column {column!r} must be numeric, "
                            f"found {values.iloc[row]!r}")
    infinite = np.flatnonzero(np.isinf(parsed.to_numpy(dtype=np.float64, na_value=np.nan)))
    if infinite.size:
        row = int(infinite[0])
        raise DataError(f"{file}, data row {row + 1}: column {column!r} must be a finite number, "
                        f"found {values.iloc[row]!r}")
    return parsed


def _unix_seconds(values: pd.Series, file: Path, column: str) -> pd.Series:
    """Whole unix seconds as Int64, between the years 1 and 9999; fractional values mean a different unit, and
    anything outside those years (an int64 overflow, milliseconds read as seconds) is no time: both are refused."""
    as_float = values.astype(np.float64)
    fractional = np.flatnonzero(np.isfinite(as_float) & (np.mod(as_float, 1) != 0))
    if fractional.size:
        row = int(fractional[0])
        raise DataError(
            f"{file}, data row {row + 1}: column {column!r} must hold whole unix seconds, found {as_float.iloc[row]!r}"
        )
    low, high = _UNIX_SECONDS
    outside = np.flatnonzero((as_float < low) | (as_float > high))
    if outside.size:
        row = int(outside[0])
        raise DataError(f"{file}, data row {row + 1}: column {column!r} must hold unix seconds of the years 1 to 9999, "
                        f"found {values.iloc[row]!r}")
    return values.astype("Int64")


def _reject_bad_ids(frame: pd.DataFrame, file: Path, wanted: dict[str, str]) -> None:
    """Every interaction needs both ids (an empty or blank one is none), printable: a NUL or a line break inside an
    id (a quoted newline) is a broken export, and no officer could type that id into a request."""
    for role in ("subject", "item"):
        blank = frame[role].isna() | (frame[role].astype(str).str.strip() == "")
        missing = np.flatnonzero(blank.to_numpy())
        if missing.size:
            raise DataError(f"{file}: column {wanted[role]!r} is empty in {missing.size} rows "
                            f"(first at data row {int(missing[0]) + 1})")
        if pd.api.types.is_integer_dtype(frame[role].dtype):
            continue
        control = np.flatnonzero(frame[role].astype(str).str.contains(r"[\x00-\x1f\x7f]", regex=True).to_numpy())
        if control.size:
            row = int(control[0])
            raise DataError(f"{file}, data row {row + 1}: column {wanted[role]!r} holds a control character: "
                            f"{frame[role].iloc[row]!r}")


def _first_line(error: BaseException) -> str:
    """Library errors can span lines; our messages are one line."""
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__


_LOADERS: dict[str, Callable[[Path], RawInteractions]] = {
    "ml-100k": _load_ml100k,
    "ml-1m": _load_ml1m,
    "lightgcn": _load_lightgcn,
}
