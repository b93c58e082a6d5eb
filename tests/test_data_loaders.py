"""Loaders: every source yields the same validated table, and bad input fails with a message naming where."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from ledger.errors import LetheError
from unlearn.data import SOURCES, ColumnMapping, DataError, RawInteractions, content_digest, load_source

U_DATA = (
    "196\t242\t3\t881250949\n186\t302\t3\t891717742\n22\t377\t1\t878887116\n"
    "244\t51\t2\t880606923\n166\t346\t1\t886397596\n"
)
RATINGS_DAT = "1::1193::5::978300760\n1::661::3::978302109\n2::1357::5::978298709\n"


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def assert_contract(data: RawInteractions) -> None:
    """The column contract every consumer relies on."""
    expected = ["subject", "item", "rating", "timestamp"] + (["split"] if data.fixed_split else [])
    assert list(data.frame.columns) == expected
    assert pd.api.types.is_string_dtype(data.frame["subject"]) and pd.api.types.is_string_dtype(data.frame["item"])
    assert data.frame["rating"].dtype == np.float64
    assert data.frame["timestamp"].dtype == pd.Int64Dtype()
    assert data.frame.index.equals(pd.RangeIndex(len(data.frame)))
    assert data.digest == content_digest(data.frame) and data.digest.startswith("sha256:")
    json.dumps(data.params)
    assert data.source in SOURCES


# --- ml-100k -------------------------------------------------------------------------------------------------


def test_ml100k_reads_folder_or_file_with_ratings_and_timestamps(tmp_path: Path) -> None:
    file = write(tmp_path / "ml-100k" / "u.data", U_DATA)
    data = load_source("ml-100k", tmp_path / "ml-100k")
    assert_contract(data)
    assert (data.name, data.source, data.fixed_split) == ("ml-100k", "ml-100k", False)
    assert data.frame.iloc[0].to_dict() == {"subject": "196", "item": "242", "rating": 3.0, "timestamp": 881250949}
    assert len(data.frame) == 5
    assert load_source("ml-100k", file).digest == data.digest


def test_ml100k_wrong_field_count_names_file_and_line(tmp_path: Path) -> None:
    write(tmp_path / "u.data", U_DATA + "7\t8\t3\n")
    with pytest.raises(DataError, match=r"u\.data, line 6: expected 4 fields .* found 3"):
        load_source("ml-100k", tmp_path)


def test_ml100k_non_integer_rating_names_line(tmp_path: Path) -> None:
    lines = U_DATA.splitlines()
    lines[2] = "22\t377\tgood\t878887116"
    write(tmp_path / "u.data", "\n".join(lines) + "\n")
    with pytest.raises(DataError, match=r"u\.data, line 3: rating must be an integer, found 'good'"):
        load_source("ml-100k", tmp_path)


@pytest.mark.parametrize(("line", "message"), [
    ("7\t8\t3\t99999999999999999999999", r"line 6: timestamp '99999999999999999999999' does not fit in 64 bits"),
    ("7\t8\t3\t253402300800", r"data row 6: column 'timestamp' must hold unix seconds of the years 1 to 9999"),
])
def test_ml100k_time_beyond_any_calendar_is_a_clear_error(tmp_path: Path, line: str, message: str) -> None:
    """An int64 overflow crashed with a traceback; a time past the year 9999 is no time either."""
    write(tmp_path / "u.data", U_DATA + line + "\n")
    with pytest.raises(DataError, match=message):
        load_source("ml-100k", tmp_path)


def test_ml100k_line_numbers_count_blank_lines(tmp_path: Path) -> None:
    write(tmp_path / "u.data", "\n1\t2\t3\t4\n\n1\t3\t4\n")
    with pytest.raises(DataError, match="line 4"):
        load_source("ml-100k", tmp_path)


def test_ml100k_empty_file_is_empty_data_set(tmp_path: Path) -> None:
    write(tmp_path / "u.data", "")
    with pytest.raises(DataError, match="empty"):
        load_source("ml-100k", tmp_path)


def test_ml100k_folder_without_u_data_says_what_is_missing(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="no u.data"):
        load_source("ml-100k", tmp_path)


# --- ml-1m ---------------------------------------------------------------------------------------------------


def test_ml1m_ratings_dat_splits_on_double_colon(tmp_path: Path) -> None:
    write(tmp_path / "ratings.dat", RATINGS_DAT)
    data = load_source("ml-1m", tmp_path)
    assert_contract(data)
    assert data.params == {"file": "ratings.dat"}
    assert data.frame["item"].tolist() == ["1193", "661", "1357"]
    assert data.frame["rating"].tolist() == [5.0, 3.0, 5.0]
    assert data.frame["timestamp"].tolist() == [978300760, 978302109, 978298709]


@pytest.mark.parametrize(
    ("bad_line", "message"),
    [
        ("3::10::4", r"line 2: expected 4 fields"),
        ("3::10::4.5::978298709", r"line 2: rating must be an integer, found '4.5'"),
        ("3::ten::4::978298709", r"line 2: item must be an integer, found 'ten'"),
    ],
)
def test_ml1m_ratings_dat_malformed_line_is_named(tmp_path: Path, bad_line: str, message: str) -> None:
    write(tmp_path / "ratings.dat", "1::1193::5::978300760\n" + bad_line + "\n")
    with pytest.raises(DataError, match=r"ratings\.dat, " + message):
        load_source("ml-1m", tmp_path)


def test_ml1m_ratings_dat_with_stray_whitespace_reads_the_same(tmp_path: Path) -> None:
    """A tab forces the line-by-line parser; it must agree with the fast one."""
    clean = load_source("ml-1m", write(tmp_path / "clean" / "ratings.dat", RATINGS_DAT))
    tabbed = load_source("ml-1m", write(tmp_path / "tabbed" / "ratings.dat", RATINGS_DAT.replace("\n", "\t\n", 1)))
    assert tabbed.digest == clean.digest


def test_ml1m_parquet_is_implicit_feedback(tmp_path: Path) -> None:
    pd.DataFrame({"userID": ["1", "1", "2"], "movieID": ["1193", "661", "914"]}).to_parquet(
        tmp_path / "ratings.parquet"
    )
    data = load_source("ml-1m", tmp_path)
    assert_contract(data)
    assert data.params == {"file": "ratings.parquet"}
    assert data.frame["rating"].isna().all() and data.frame["timestamp"].isna().all()
    assert data.frame["subject"].tolist() == ["1", "1", "2"]


def test_ml1m_parquet_without_expected_column_lists_columns_found(tmp_path: Path) -> None:
    pd.DataFrame({"user": ["1"], "movieID": ["2"]}).to_parquet(tmp_path / "ratings.parquet")
    with pytest.raises(DataError, match=r"no column 'userID'; columns found: \['user', 'movieID'\]"):
        load_source("ml-1m", tmp_path / "ratings.parquet")


# --- lightgcn ------------------------------------------------------------------------------------------------


def test_lightgcn_reads_fixed_split_with_itemless_and_absent_users(tmp_path: Path) -> None:
    write(tmp_path / "train.txt", "0 10 11 12\n1 10\n2\n")
    write(tmp_path / "test.txt", "0 13\n")
    data = load_source("lightgcn", tmp_path)
    assert_contract(data)
    assert data.fixed_split
    frame = data.frame
    assert frame["split"].tolist() == ["train"] * 4 + ["test"]
    assert frame["subject"].tolist() == ["0", "0", "0", "1", "0"]
    assert frame["item"].tolist() == ["10", "11", "12", "10", "13"]
    assert frame["rating"].isna().all() and frame["timestamp"].isna().all()


def test_lightgcn_non_integer_id_names_line(tmp_path: Path) -> None:
    write(tmp_path / "train.txt", "0 1 2\n1 3 x4\n")
    write(tmp_path / "test.txt", "0 5\n")
    with pytest.raises(DataError, match=r"train\.txt, line 2: .*found 'x4'"):
        load_source("lightgcn", tmp_path)


def test_lightgcn_missing_test_file(tmp_path: Path) -> None:
    write(tmp_path / "train.txt", "0 1 2\n")
    with pytest.raises(DataError, match="no test.txt"):
        load_source("lightgcn", tmp_path)


# --- csv / parquet -------------------------------------------------------------------------------------------


def test_csv_with_renamed_columns_via_mapping(tmp_path: Path) -> None:
    file = write(tmp_path / "shop.csv", "customer,sku,stars,when,extra\nc1,A-1,4,1600000000,x\nc2,B-2,,1600000100,y\n")
    mapping = ColumnMapping(user_col="customer", item_col="sku", rating_col="stars", time_col="when")
    data = load_source("csv", file, columns=mapping)
    assert_contract(data)
    assert (data.name, data.source) == ("shop", "csv")
    assert data.params["user_col"] == "customer" and data.params["format"] == "csv"
    assert data.frame["subject"].tolist() == ["c1", "c2"]
    assert data.frame["rating"].tolist()[0] == 4.0 and np.isnan(data.frame["rating"].iloc[1])
    assert data.frame["timestamp"].tolist() == [1600000000, 1600000100]


def test_csv_keeps_ids_verbatim(tmp_path: Path) -> None:
    file = write(tmp_path / "ids.csv", "user_id,item_id\n007,NA\n1.0,null\n")
    data = load_source("csv", file)
    assert data.frame["subject"].tolist() == ["007", "1.0"]
    assert data.frame["item"].tolist() == ["NA", "null"]


def test_csv_without_rating_or_time_columns_is_implicit(tmp_path: Path) -> None:
    data = load_source("csv", write(tmp_path / "clicks.csv", "user_id,item_id\n1,2\n1,3\n"))
    assert_contract(data)
    assert data.frame["rating"].isna().all() and data.frame["timestamp"].isna().all()


def test_csv_missing_user_column_names_it_and_lists_header(tmp_path: Path) -> None:
    file = write(tmp_path / "bad.csv", "user,item_id\n1,2\n")
    with pytest.raises(DataError, match=r"bad\.csv: no user column 'user_id'; columns found: \['user', 'item_id'\]"):
        load_source("csv", file)


def test_csv_non_numeric_rating_names_column_and_row(tmp_path: Path) -> None:
    file = write(tmp_path / "r.csv", "user_id,item_id,rating\n1,2,4\n1,3,great\n")
    with pytest.raises(DataError, match=r"data row 2: column 'rating' must be numeric, found 'great'"):
        load_source("csv", file)


def test_csv_fractional_timestamp_is_refused(tmp_path: Path) -> None:
    file = write(tmp_path / "t.csv", "user_id,item_id,timestamp\n1,2,1600000000.5\n")
    with pytest.raises(DataError, match="whole unix seconds"):
        load_source("csv", file)


def test_csv_empty_file_and_header_only_are_empty(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="empty"):
        load_source("csv", write(tmp_path / "none.csv", ""))
    with pytest.raises(DataError, match="empty"):
        load_source("csv", write(tmp_path / "header.csv", "user_id,item_id\n"))


def test_csv_missing_item_id_is_refused(tmp_path: Path) -> None:
    file = write(tmp_path / "gap.csv", "user_id,item_id\n1,2\n1,\n")
    with pytest.raises(DataError, match="'item_id' is empty in 1 rows"):
        load_source("csv", file)


@pytest.mark.parametrize(("row", "message"), [
    ("1,3,4,9,9", r"line 3: 5 fields where the header has 3: '1,3,4,9,9'"),
    ("1,3", r"line 3: 2 fields where the header has 3: '1,3'"),
])
def test_csv_ragged_row_is_refused_not_cut_to_fit(tmp_path: Path, row: str, message: str) -> None:
    """Dropping the extra fields (or padding missing ones) would ingest a quietly different data set."""
    with pytest.raises(DataError, match=message):
        load_source("csv", write(tmp_path / "ragged.csv", f"user_id,item_id,rating\n1,2,5\n{row}\n"))


@pytest.mark.parametrize("stamp", ["99999999999999999999", "-99999999999999999999", "1e300"])
def test_csv_timestamp_outside_any_calendar_is_a_clear_error(tmp_path: Path, stamp: str) -> None:
    """An int64-overflowing time crashed with a traceback; it is no unix time, and says so."""
    with pytest.raises(DataError, match=r"data row 1: column 'timestamp' must hold unix seconds of the years 1 to"):
        load_source("csv", write(tmp_path / "t.csv", f"user_id,item_id,timestamp\n1,2,{stamp}\n"))


def test_csv_infinite_rating_is_refused(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"data row 1: column 'rating' must be a finite number"):
        load_source("csv", write(tmp_path / "r.csv", "user_id,item_id,rating\n1,2,-inf\n"))


def test_csv_blank_id_is_missing(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="'user_id' is empty in 1 rows"):
        load_source("csv", write(tmp_path / "gap.csv", 'user_id,item_id\n1,2\n"  ",3\n'))


@pytest.mark.parametrize(("row", "message"), [
    ("1,a\x00b", r"data row 2: column 'item_id' holds a control character: 'a\\x00b'"),
    ('"7\n8",3', r"data row 2: column 'user_id' holds a control character: '7\\n8'"),
])
def test_csv_id_with_a_control_character_is_refused(tmp_path: Path, row: str, message: str) -> None:
    """A NUL or a quoted line break inside an id is a broken export; nobody could name that id in a request."""
    with pytest.raises(DataError, match=message):
        load_source("csv", write(tmp_path / "ids.csv", f"user_id,item_id\n1,2\n{row}\n"))


def test_csv_header_naming_a_column_twice_is_refused(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"the header names column\(s\) \['user_id'\] more than once"):
        load_source("csv", write(tmp_path / "twice.csv", "user_id,item_id,user_id\n1,2,3\n"))


@pytest.mark.parametrize("ids", [[[1, 2], [3]], [{"a": 1}, {"a": 2}], [1.5, 2.0], [b"\x00\xff", b"x"], [True, False]])
def test_parquet_ids_that_are_not_integers_or_strings_are_refused(tmp_path: Path, ids: list) -> None:
    """A list id stored as its text ('[1 2]') would become a subject nobody can name in a request."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    file = tmp_path / "events.parquet"
    pq.write_table(pa.table({"user_id": ids, "item_id": [1, 2]}), file)
    with pytest.raises(DataError, match="column 'user_id' must hold integer or string ids, found"):
        load_source("csv", file)


def test_parquet_via_csv_source_with_mapping(tmp_path: Path) -> None:
    file = tmp_path / "events.parquet"
    pd.DataFrame({"u": [1, 2], "i": [10, 20], "score": [1.5, 2.0], "t": [5, 6]}).to_parquet(file)
    data = load_source("csv", file, columns=ColumnMapping("u", "i", "score", "t"))
    assert_contract(data)
    assert data.params["format"] == "parquet"
    assert data.frame["subject"].tolist() == ["1", "2"] and data.frame["item"].tolist() == ["10", "20"]
    assert data.frame["rating"].tolist() == [1.5, 2.0] and data.frame["timestamp"].tolist() == [5, 6]


def test_parquet_non_numeric_rating_column_is_refused(tmp_path: Path) -> None:
    file = tmp_path / "events.parquet"
    pd.DataFrame({"user_id": ["a"], "item_id": ["b"], "rating": [pd.Timestamp("2020-01-01")]}).to_parquet(file)
    with pytest.raises(DataError, match="column 'rating' must be numeric"):
        load_source("csv", file)


def test_csv_source_refuses_other_suffixes(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"\.csv or \.parquet"):
        load_source("csv", write(tmp_path / "data.tsv", "user_id\titem_id\n"))


# --- dispatch and shared validation ---------------------------------------------------------------------------


def test_unknown_source_lists_known_ones() -> None:
    with pytest.raises(DataError, match="unknown data source 'netflix'.*ml-100k"):
        load_source("netflix", "/nowhere")


def test_missing_path_and_missing_file_are_data_errors(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="needs a path"):
        load_source("ml-100k")
    with pytest.raises(DataError, match="no such file"):
        load_source("csv", tmp_path / "absent.csv")


def test_options_for_the_wrong_source_are_refused(tmp_path: Path) -> None:
    write(tmp_path / "u.data", U_DATA)
    with pytest.raises(DataError, match="column mapping only applies"):
        load_source("ml-100k", tmp_path, columns=ColumnMapping())
    with pytest.raises(DataError, match="only apply to source 'synthetic'"):
        load_source("ml-100k", tmp_path, n_users=5)


def test_data_error_is_a_lethe_error() -> None:
    assert issubclass(DataError, LetheError)


def test_duplicate_pairs_keep_latest_with_a_warning(tmp_path: Path) -> None:
    write(tmp_path / "u.data", "1\t2\t5\t200\n1\t2\t1\t100\n1\t3\t4\t50\n1\t3\t2\t50\n")
    with pytest.warns(UserWarning, match="dropped 2 duplicate"):
        data = load_source("ml-100k", tmp_path)
    assert data.frame[["item", "rating", "timestamp"]].values.tolist() == [["2", 5.0, 200], ["3", 2.0, 50]]


def test_constructing_an_invalid_table_directly_is_refused() -> None:
    frame = pd.DataFrame({"subject": ["1"], "item": ["2"]})
    with pytest.raises(DataError, match="columns must be"):
        RawInteractions("x", "csv", None, frame, "sha256:0", False, {})
    empty = pd.DataFrame({"subject": pd.Series([], dtype=str), "item": pd.Series([], dtype=str),
                          "rating": pd.Series([], dtype=float), "timestamp": pd.Series([], dtype="Int64")})
    with pytest.raises(DataError, match="data set is empty"):
        RawInteractions("x", "csv", None, empty, "sha256:0", False, {})


def test_digest_ignores_row_order_but_sees_every_value(tmp_path: Path) -> None:
    write(tmp_path / "u.data", U_DATA)
    frame = load_source("ml-100k", tmp_path).frame
    shuffled = frame.sample(frac=1.0, random_state=3).reset_index(drop=True)
    assert content_digest(shuffled) == content_digest(frame)
    changed = frame.copy()
    changed.loc[0, "rating"] = 4.0
    assert content_digest(changed) != content_digest(frame)
    missing_time = frame.copy()
    missing_time.loc[0, "timestamp"] = pd.NA
    assert content_digest(missing_time) != content_digest(frame)


def test_digest_of_a_raw_frame_with_repeated_pairs_ignores_row_order() -> None:
    """Repeated pairs take the slower full sort; it must be just as order-free."""
    frame = pd.DataFrame({"subject": ["1", "1", "2", "1"], "item": ["a", "a", "b", "c"], "rating": [1.0, 2, 3, 4]})
    assert content_digest(frame.iloc[[3, 1, 2, 0]].reset_index(drop=True)) == content_digest(frame)


# --- the real data sets (skipped without ../shared/data) --------------------------------------------------------


@pytest.fixture(scope="module")
def real_ml1m(shared_data: Path) -> RawInteractions:
    return load_source("ml-1m", shared_data / "ml-1m")


def test_real_ml100k_counts_and_stable_digest(shared_data: Path) -> None:
    first = load_source("ml-100k", shared_data / "ml-100k")
    frame = first.frame
    assert (len(frame), frame["subject"].nunique(), frame["item"].nunique()) == (100_000, 943, 1_682)
    assert frame["rating"].between(1, 5).all() and frame["timestamp"].notna().all()
    assert load_source("ml-100k", shared_data / "ml-100k" / "u.data").digest == first.digest


def test_real_ml1m_parquet_counts_and_order_free_digest(real_ml1m: RawInteractions) -> None:
    frame = real_ml1m.frame
    assert (len(frame), frame["subject"].nunique(), frame["item"].nunique()) == (1_000_209, 6_040, 3_706)
    assert frame["rating"].isna().all()
    assert content_digest(frame.iloc[::-1].reset_index(drop=True)) == real_ml1m.digest


def test_real_receraser_split_counts(shared_data: Path) -> None:
    data = load_source("lightgcn", shared_data / "ml-1m-receraser")
    counts = data.frame["split"].value_counts().to_dict()
    assert counts == {"train": 720_152, "test": 200_041}
    assert data.frame["subject"].nunique() == 6_040 and data.frame["item"].nunique() == 3_695
