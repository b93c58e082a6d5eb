"""The `lethe` command line: exit codes and one-line reasons, on good and bad input."""

from __future__ import annotations

import base64
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


def certificate_of(path: Path) -> dict:
    """The certificate inside a signed file (its DSSE payload's in-toto predicate), read without verifying."""
    return json.loads(base64.b64decode(json.loads(Path(path).read_text())["payload"]))["predicate"]


def lethe(*args: str, env: dict[str, str] | None = None) -> tuple[int, str]:
    result = runner.invoke(app, list(args), env=env)
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
    size = certificate_of(certified["certificate"])["ledger_checkpoint"]["tree_size"]
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
    statement = json.loads(base64.b64decode(envelope["payload"]))
    edit(statement["predicate"])
    envelope["payload"] = base64.b64encode(json.dumps(statement).encode()).decode()  # not re-signed
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


# --- output: verdicts, whole paths, ids and dates at 80 columns (issue 16) ------------------------------------


def test_request_run_prints_the_verdicts_and_a_certificate_path_that_exists_from_here(
        certified: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import shutil

    shutil.copytree(certified["root"], tmp_path / "ws")
    monkeypatch.chdir(tmp_path)  # a relative --workspace: the path printed must still open from here
    subject = str(Ledger.open(tmp_path / "ws").store.subjects_frame().iloc[0]["subject"])
    code, request_id = lethe("request", "file", "--subject", subject, "--workspace", "ws")
    assert code == 0, request_id
    code, output = lethe("request", "run", request_id.strip(), "--workspace", "ws")
    assert code == 0, output
    paths = [line.split(":", 1)[1].strip() for line in output.splitlines() if line.strip().startswith(("certificate:", "PDF:"))]
    assert len(paths) == 2 and all(Path(p).is_file() for p in paths), output
    for verdict in certificate_of(Path(paths[0]))["verdicts"]:  # every check: its verdict, name and value vs threshold
        line = next((line for line in output.splitlines() if f" {verdict['name']} " in f"{line} "), None)
        assert line is not None, (verdict["name"], output)
        assert line.split()[0] == verdict["verdict"]
        if verdict["value"] is not None and verdict["threshold"] is not None:
            assert f"{verdict['value']:.4g} {verdict['comparison']} {verdict['threshold']:.4g}" in line


def test_request_show_prints_the_certificate_and_never_cuts_a_value(certified: dict[str, Path]) -> None:
    root, request_id = certified["root"], str(certified["request_id"])
    code, output = lethe("request", "show", request_id, "--workspace", str(root), env={"COLUMNS": "80"})
    assert code == 0, output
    assert f"certificate: {Path(certified['certificate']).resolve()}" in output
    record = Ledger.open(root).request(request_id)
    certified_event = record.history[-1].payload
    assert certified_event["sha256"] in output and certified_event["policy_digest"] in output
    assert "..." not in output


def test_request_show_json_is_whole_and_names_the_certificate(certified: dict[str, Path]) -> None:
    root, request_id = certified["root"], str(certified["request_id"])
    code, output = lethe("request", "show", request_id, "--json", "--workspace", str(root), env={"COLUMNS": "80"})
    assert code == 0, output
    summary = json.loads(output)
    assert summary["certificate"]["json"] == str(Path(certified["certificate"]).resolve())
    assert Path(summary["report"]).is_file()
    events = Ledger.open(root).request(request_id).history
    assert [entry["payload"] for entry in summary["history"]] == [event.payload for event in events]
    assert "..." not in output


def test_request_list_keeps_ids_and_dates_whole_at_80_columns(certified: dict[str, Path]) -> None:
    root = certified["root"]
    code, output = lethe("request", "list", "--workspace", str(root), env={"COLUMNS": "80"})
    assert code == 0, output
    record = Ledger.open(root).request(str(certified["request_id"]))
    received = record.received["received_at"].replace("T", " ").replace("+00:00", " UTC")
    line = next(line for line in output.splitlines() if str(certified["request_id"]) in line)
    assert received in line and "certified" in line
    assert "…" not in output


def test_ledger_lineage_keeps_ids_and_digests_whole_at_80_columns(certified: dict[str, Path]) -> None:
    root = certified["root"]
    ledger = Ledger.open(root)
    subject = str(ledger.store.subjects_frame().iloc[0]["subject"])
    code, output = lethe("ledger", "lineage", "--subject", subject, "--workspace", str(root), env={"COLUMNS": "80"})
    assert code == 0, output
    for placement in ledger.subject_lineage(subject)["placements"]:
        assert placement["deployment_id"] in output and placement["checkpoint"] in output
    checkpoint = ledger.subject_lineage(subject)["placements"][0]["checkpoint"]
    code, output = lethe("ledger", "lineage", "--checkpoint", checkpoint, "--workspace", str(root),
                         env={"COLUMNS": "80"})
    assert code == 0, output
    for record in ledger.checkpoint_lineage(checkpoint):
        assert record.checkpoint_id in output and record.training_set_digest in output
    assert "…" not in output


# --- exit codes, as the README's table says; no workspace made by a failed or read-only command ------------------


@pytest.mark.parametrize("args", [
    ("request", "list"), ("request", "show", "req-000000000000"), ("ledger", "verify"), ("ledger", "checkpoint"),
    ("ledger", "lineage", "--subject", "1"), ("policy", "show"), ("evaluate",),
    ("request", "file", "--subject", "1"), ("train", "--epochs", "1"),
])
def test_commands_on_a_missing_workspace_say_so_exit_2_and_create_nothing(tmp_path: Path, args: tuple[str, ...]) -> None:
    workspace = tmp_path / "nowhere"
    code, output = lethe(*args, "--workspace", str(workspace))
    assert code == 2 and "no Lethe workspace" in output and str(workspace) in output, output
    assert len(output.strip().splitlines()) == 1
    assert not workspace.exists()


def test_the_default_workspace_is_not_created_by_a_read_only_command(tmp_path: Path,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("LETHE_HOME", raising=False)
    code, output = lethe("request", "list")
    assert code == 2 and "no Lethe workspace" in output
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("args", [
    ("--source", "ml-100k", "--path", "does-not-exist"),
    ("--source", "ml-100k"),
    ("--source", "csv", "--path", "missing.csv"),
    ("--source", "lightgcn", "--path", "."),
    ("--source", "netflix", "--path", "."),
    ("--source", "ml-100k", "--path", ".", "--user-col", "uid"),
    ("--source", "synthetic", "--test-fraction", "1"),
])
def test_ingest_with_a_wrong_path_or_option_exits_2_and_creates_no_workspace(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, args: tuple[str, ...]) -> None:
    monkeypatch.chdir(tmp_path)
    code, output = lethe("ingest", *args, "--workspace", "ws")
    assert code == 2 and output.startswith("error:") and "Traceback" not in output, output
    assert not (tmp_path / "ws").exists()


def test_user_add_with_a_wrong_role_creates_no_workspace(tmp_path: Path) -> None:
    result = runner.invoke(app, ["user", "add", "olivia", "--role", "root", "--workspace", str(tmp_path / "ws")],
                           input="a-long-password\na-long-password\n")
    assert result.exit_code == 2 and "role" in result.output
    assert not (tmp_path / "ws").exists()


def test_certificate_verify_with_a_missing_public_key_is_bad_usage(certified: dict[str, Path], tmp_path: Path) -> None:
    code, output = lethe("certificate", "verify", str(certified["certificate"]),
                         "--public-key", str(tmp_path / "absent.pub"))
    assert code == 2 and "--public-key" in output and "absent.pub" in output
    code, output = lethe("certificate", "verify", str(certified["certificate"]),
                         "--workspace", str(tmp_path / "nowhere"))  # no key given, and no workspace to take it from
    assert code == 2 and "--public-key" in output
    assert not (tmp_path / "nowhere").exists()


def test_certificate_verify_given_the_pdf_names_the_json_file(certified: dict[str, Path]) -> None:
    pdf = Path(certified["certificate"]).with_suffix(".pdf")
    assert pdf.read_bytes().startswith(b"%PDF")
    code, output = lethe("certificate", "verify", str(pdf), "--public-key",
                         str(certified["root"] / "keys" / "signing.pub"))
    assert code == 2, output
    assert output.startswith("error:") and len(output.strip().splitlines()) == 1
    assert "PDF" in output and pdf.with_suffix(".json").name in output
    assert "UnicodeDecodeError" not in output and "utf-8" not in output.lower()


def test_certificate_verify_prints_every_verdict(certified: dict[str, Path]) -> None:
    key = certified["root"] / "keys" / "signing.pub"
    code, output = lethe("certificate", "verify", str(certified["certificate"]), "--public-key", str(key))
    assert code == 0, output
    for verdict in certificate_of(certified["certificate"])["verdicts"]:
        assert any(line.split()[:1] == [verdict["verdict"]] and f" {verdict['name']} " in f"{line} "
                   for line in output.splitlines()), verdict["name"]


def test_the_readme_states_the_exit_codes_the_cli_uses() -> None:
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    section = readme.split("## The command line", 1)[1].split("\n## ", 1)[0]
    rows = {line.split("|")[1].strip(): line for line in section.splitlines() if line.startswith("| ")}
    assert {"0", "1", "2", "3"} <= set(rows)
    assert "--path" in rows["2"] and "public key" in rows["2"] and "PDF" in rows["2"] and "workspace" in rows["2"]
    assert "tampered" in rows["3"] or "altered" in rows["3"]


# --- help and start-up ----------------------------------------------------------------------------------------


def _commands(group, path=()):  # noqa: ANN001, ANN202
    import click

    for name, command in group.commands.items():
        if isinstance(command, click.Group):
            yield from _commands(command, (*path, name))
        else:
            yield (*path, name), command


def test_help_shows_flags_as_flags_and_explains_every_option() -> None:
    import typer

    code, output = lethe("--help")
    assert code == 0 and "<bool>" not in output
    for path, command in _commands(typer.main.get_command(app)):
        code, output = lethe(*path, "--help")
        assert code == 0, (path, output)
        assert "<bool>" not in output, (path, output)
        for param in command.params:
            assert getattr(param, "help", None), f"`lethe {' '.join(path)}`: {param.name} has no help text"


def test_help_and_cheap_commands_do_not_import_torch(certified: dict[str, Path], tmp_path: Path) -> None:
    import subprocess
    import sys

    root, key = str(certified["root"]), str(certified["root"] / "keys" / "signing.pub")
    checkpoint = Ledger.open(root).subject_lineage(
        str(Ledger.open(root).store.subjects_frame().iloc[0]["subject"]))["placements"][0]["checkpoint"]
    data = tmp_path / "events.csv"
    data.write_text("user_id,item_id\n1,2\n1,3\n2,3\n")
    commands = [["ledger", "verify", "-w", root], ["certificate", "verify", str(certified["certificate"]),
                 "--public-key", key], ["policy", "show", "-w", root], ["ledger", "lineage", "--checkpoint",
                 checkpoint, "-w", root], ["ingest", "--source", "csv", "--path", str(data), "-w", str(tmp_path / "ws")]]
    script = (
        "import sys, json\n"
        "from ui.cli import app\n"
        "assert 'pandas' not in sys.modules and 'torch' not in sys.modules, 'importing the CLI loads pandas/torch'\n"
        "from typer.testing import CliRunner\n"
        f"for args in [['--help']] + {commands!r}:\n"
        "    result = CliRunner().invoke(app, args)\n"
        "    assert result.exit_code == 0, (args, result.output)\n"
        "    assert 'torch' not in sys.modules, ('torch imported by', args)\n"
        "print('ok')\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300,
                          cwd=Path(__file__).resolve().parents[1])
    assert done.returncode == 0 and done.stdout.strip() == "ok", done.stderr[-2000:]
