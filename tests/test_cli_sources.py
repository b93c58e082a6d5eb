"""`lethe ingest` from the command line for every --source, on the real data sets in ../shared/data (issue 16).

Ingest only (no training), so ML-1M costs seconds. The CSV cases write a renamed copy of ML-100K's u.data into the
test's temporary folder (never into the repository).
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from ledger import Ledger
from ui.cli import app

runner = CliRunner()


def lethe(*args: str) -> tuple[int, str]:
    result = runner.invoke(app, list(args))
    return result.exit_code, result.output


@pytest.mark.parametrize(("source", "folder", "options", "counts"), [
    ("ml-100k", "ml-100k", (), "100,000 interactions, 943 users, 1,682 items"),
    ("ml-1m", "ml-1m", (), "1,000,209 interactions, 6,040 users, 3,706 items"),
    ("lightgcn", "ml-1m-receraser", (), "920,193 interactions, 6,040 users, 3,695 items (train 720,152 / test 200,041)"),
    ("csv", "ml-1m/ratings.parquet", ("--user-col", "userID", "--item-col", "movieID"),
     "1,000,209 interactions, 6,040 users, 3,706 items"),
])
def test_ingest_each_source_from_the_command_line(shared_data: Path, tmp_path: Path, source: str, folder: str,
                                                  options: tuple[str, ...], counts: str) -> None:
    code, output = lethe("ingest", "--source", source, "--path", str(shared_data / folder), *options,
                         "--workspace", str(tmp_path / "ws"))
    assert code == 0, output
    assert counts in output
    assert Ledger.open(tmp_path / "ws").dataset()["source"] == source


def test_ingest_synthetic_needs_no_path(tmp_path: Path) -> None:
    code, output = lethe("ingest", "--source", "synthetic", "--workspace", str(tmp_path / "ws"))
    assert code == 0 and re.search(r"ingested synthetic: [\d,]+ interactions", output), output


@pytest.fixture
def renamed_csv(shared_data: Path, tmp_path: Path) -> Path:
    """ML-100K's u.data as a CSV whose columns all have other names than the defaults."""
    rows = (shared_data / "ml-100k" / "u.data").read_text().splitlines()
    path = tmp_path / "ratings.csv"
    path.write_text("uid,movie,stars,ts\n" + "\n".join(row.replace("\t", ",") for row in rows) + "\n")
    return path


def test_ingest_a_fully_mapped_csv_keeps_ratings_and_times(renamed_csv: Path, tmp_path: Path) -> None:
    code, output = lethe("ingest", "--source", "csv", "--path", str(renamed_csv), "--user-col", "uid",
                         "--item-col", "movie", "--rating-col", "stars", "--time-col", "ts",
                         "--workspace", str(tmp_path / "ws"))
    assert code == 0, output
    assert "100,000 interactions, 943 users" in output and "note:" not in output
    ledger = Ledger.open(tmp_path / "ws")
    assert ledger.dataset()["params"]["rating_col"] == "stars" and ledger.dataset()["params"]["time_col"] == "ts"
    assert ledger.store.interactions(with_ratings=True)["rating"].notna().all()


def test_a_partly_mapped_csv_says_which_columns_it_did_not_read(renamed_csv: Path, tmp_path: Path) -> None:
    code, output = lethe("ingest", "--source", "csv", "--path", str(renamed_csv), "--user-col", "uid",
                         "--item-col", "movie", "--workspace", str(tmp_path / "ws"))
    assert code == 0, output
    assert "no rating column" in output and "--rating-col" in output
    assert "no timestamp column" in output and "--time-col" in output
    assert "columns not read: 'stars', 'ts'" in output
    params = Ledger.open(tmp_path / "ws").dataset()["params"]
    assert params["rating_col"] is None and params["time_col"] is None  # the ledger does not claim columns it lacks


def test_a_partly_mapped_csv_takes_rating_and_time_by_their_default_names(shared_data: Path, tmp_path: Path) -> None:
    rows = (shared_data / "ml-100k" / "u.data").read_text().splitlines()[:2000]
    path = tmp_path / "ratings.csv"
    path.write_text("uid,movie,rating,timestamp\n" + "\n".join(row.replace("\t", ",") for row in rows) + "\n")
    code, output = lethe("ingest", "--source", "csv", "--path", str(path), "--user-col", "uid", "--item-col", "movie",
                         "--workspace", str(tmp_path / "ws"))
    assert code == 0 and "note:" not in output, output
    assert "rating 'rating'" in output and "timestamp 'timestamp'" in output
    assert Ledger.open(tmp_path / "ws").store.interactions(with_ratings=True)["rating"].notna().all()


def test_a_rating_column_that_is_not_there_is_refused_naming_the_option(renamed_csv: Path, tmp_path: Path) -> None:
    code, output = lethe("ingest", "--source", "csv", "--path", str(renamed_csv), "--user-col", "uid",
                         "--item-col", "movie", "--rating-col", "score", "--workspace", str(tmp_path / "ws"))
    assert code == 2 and "--rating-col" in output and "'score'" in output and "stars" in output
    assert not (tmp_path / "ws").exists()


def test_a_missing_user_column_names_the_cli_options_not_a_class(renamed_csv: Path, tmp_path: Path) -> None:
    code, output = lethe("ingest", "--source", "csv", "--path", str(renamed_csv), "--workspace", str(tmp_path / "ws"))
    assert code == 2 and "--user-col/--item-col" in output and "ColumnMapping" not in output, output
    assert not (tmp_path / "ws").exists()


def test_column_options_are_refused_for_a_source_with_fixed_columns(shared_data: Path, tmp_path: Path) -> None:
    code, output = lethe("ingest", "--source", "ml-100k", "--path", str(shared_data / "ml-100k"), "--rating-col", "r",
                         "--workspace", str(tmp_path / "ws"))
    assert code == 2 and "--rating-col" in output and "--source csv" in output
    assert not (tmp_path / "ws").exists()
