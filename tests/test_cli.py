"""The `lethe` command line: exit codes and one-line reasons, on good and bad input."""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import pytest
from typer.testing import CliRunner

from ledger import Ledger, Signer
from tests.conftest import build_workspace
from ui.cli import app
from unlearn.requests import ErasureRequest

runner = CliRunner()


def lethe(*args: str) -> tuple[int, str]:
    result = runner.invoke(app, list(args))
    return result.exit_code, result.output


@pytest.fixture(scope="module")
def certified(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A workspace with one certified request; tests copy what they tamper with."""
    root = tmp_path_factory.mktemp("cli") / "ws"
    services = build_workspace(root)
    subjects = services.ledger.store.subjects_frame()
    request_id = services.engine.file(ErasureRequest(subject=str(subjects.iloc[0]["subject"])))
    record = services.engine.run(request_id)
    return {"root": root, "certificate": root / record.history[-1].payload["json_path"],
            "request_id": request_id}


def test_ingest_csv_with_mapped_columns(tmp_path: Path) -> None:
    data = tmp_path / "events.csv"
    data.write_text("uid,movie,stars\n" + "".join(f"{u},{i},{(u + i) % 5 + 1}\n" for u in range(20) for i in range(u % 7, 30, 3)))
    code, output = lethe("ingest", "--source", "csv", "--path", str(data), "--user-col", "uid", "--item-col", "movie",
                         "--rating-col", "stars", "--workspace", str(tmp_path / "ws"))
    assert code == 0, output
    assert "20 users" in output


@pytest.mark.parametrize(("content", "reason"), [
    ("subject,thing\n1,2\n", "user_id"),
    ("user_id,item_id,rating\n1,2,five\n", "rating"),
])
def test_malformed_csv_is_a_one_line_error_and_records_nothing(tmp_path: Path, content: str, reason: str) -> None:
    data = tmp_path / "bad.csv"
    data.write_text(content)
    code, output = lethe("ingest", "--source", "csv", "--path", str(data), "--workspace", str(tmp_path / "ws"))
    assert code != 0
    assert output.startswith("error:") and reason in output and "Traceback" not in output
    assert Ledger.open(tmp_path / "ws").dataset() is None


def test_empty_data_set_is_refused(tmp_path: Path) -> None:
    data = tmp_path / "empty.csv"
    data.write_text("user_id,item_id,rating,timestamp\n")
    code, output = lethe("ingest", "--source", "csv", "--path", str(data), "--workspace", str(tmp_path / "ws"))
    assert code != 0 and "empty" in output
    assert Ledger.open(tmp_path / "ws").dataset() is None


def test_second_ingest_into_a_workspace_is_refused(tmp_path: Path) -> None:
    ws = str(tmp_path / "ws")
    assert lethe("ingest", "--source", "synthetic", "--workspace", ws)[0] == 0
    code, output = lethe("ingest", "--source", "synthetic", "--workspace", ws)
    assert code != 0 and "already holds" in output


def test_request_for_unknown_subject_exits_2(certified: dict[str, Path]) -> None:
    code, output = lethe("request", "file", "--subject", "nobody", "--workspace", str(certified["root"]))
    assert code == 2 and "unknown subject" in output


def test_running_an_unknown_request_exits_2(certified: dict[str, Path]) -> None:
    code, output = lethe("request", "run", "req-doesnotexist", "--workspace", str(certified["root"]))
    assert code == 2 and "unknown request id" in output


def test_request_show_json_lists_the_lifecycle(certified: dict[str, Path]) -> None:
    code, output = lethe("request", "show", str(certified["request_id"]), "--json", "--workspace", str(certified["root"]))
    assert code == 0
    summary = json.loads(output)
    assert summary["state"] == "certified"
    assert [e["state"] for e in summary["history"]][-1] == "certified"


def test_evaluate_json_reports_recall_and_ndcg(certified: dict[str, Path]) -> None:
    code, output = lethe("evaluate", "--json", "--workspace", str(certified["root"]))
    assert code == 0
    assert set(json.loads(output)["metrics"]) == {"recall@10", "ndcg@10", "recall@20", "ndcg@20"}


def test_certificate_verifies_with_the_workspace_key(certified: dict[str, Path]) -> None:
    key = certified["root"] / "keys" / "signing.pub"
    code, output = lethe("certificate", "verify", str(certified["certificate"]), "--public-key", str(key))
    assert code == 0 and "authentic" in output and "included in the signed checkpoint" in output


def test_certificate_verifies_against_the_auditors_exported_checkpoint(certified: dict[str, Path]) -> None:
    envelope = json.loads(certified["certificate"].read_text())
    size = envelope["payload"]["ledger_checkpoint"]["tree_size"]
    note = certified["root"] / "checkpoints" / f"{size}.note"
    key = certified["root"] / "keys" / "signing.pub"
    code, output = lethe("certificate", "verify", str(certified["certificate"]), "--public-key", str(key),
                         "--checkpoint", str(note))
    assert code == 0, output


@pytest.mark.parametrize("edit", [
    lambda p: p.__setitem__("method", "retrain"),
    lambda p: p.__setitem__("passed", not p["passed"]),
    lambda p: p.__setitem__("shards_retrained", [0, 1]),
    lambda p: p.__setitem__("deadline", "2099-01-01"),
    lambda p: p["verdicts"][0].__setitem__("passed", not p["verdicts"][0]["passed"]),
])
def test_edited_certificate_is_rejected(certified: dict[str, Path], tmp_path: Path, edit) -> None:  # noqa: ANN001
    envelope = json.loads(certified["certificate"].read_text())
    edit(envelope["payload"])
    forged = tmp_path / "forged.json"
    forged.write_text(json.dumps(envelope))
    key = certified["root"] / "keys" / "signing.pub"
    code, output = lethe("certificate", "verify", str(forged), "--public-key", str(key))
    assert code == 3 and "error:" in output


def test_certificate_is_rejected_with_another_key(certified: dict[str, Path], tmp_path: Path) -> None:
    Signer.load_or_create(tmp_path / "other")
    code, output = lethe("certificate", "verify", str(certified["certificate"]),
                         "--public-key", str(tmp_path / "other" / "signing.pub"))
    assert code == 3 and "not signed by" in output


def test_ledger_verify_names_the_tampered_event(certified: dict[str, Path], tmp_path: Path) -> None:
    import shutil

    root = tmp_path / "copy"
    shutil.copytree(certified["root"], root)
    assert lethe("ledger", "verify", "--workspace", str(root))[0] == 0
    con = duckdb.connect(str(root / "ledger.duckdb"))
    seq = con.execute("SELECT min(seq) FROM events WHERE kind = 'request.planned'").fetchone()[0]
    con.execute("UPDATE events SET payload = replace(payload, 'interaction_ids', 'interaction_idz') WHERE seq = ?", [seq])
    con.close()
    code, output = lethe("ledger", "verify", "--workspace", str(root))
    assert code == 3
    assert f"seq {seq}" in output
