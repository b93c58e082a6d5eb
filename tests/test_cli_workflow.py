"""The request workflow from the command line (issue 23, point 2): under a policy that gates CLI filings and wants a
second approver, `lethe request run` refuses until identity and approval are recorded; then it runs, and the
completion letter is written; another request is refused with a reason. Every step is a ledger event."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from ledger import Ledger
from ui.cli import app
from ui.services import Services

runner = CliRunner()


def _lethe(*args: str) -> tuple[int, str]:
    result = runner.invoke(app, list(args))
    return result.exit_code, result.output


def test_an_officer_walks_a_gated_request_through_the_cli(workspace: Services, tmp_path: Path) -> None:
    root = str(workspace.ledger.workspace.root)
    text = Path(__file__).parents[1].joinpath("policies", "default.yaml").read_text()
    policy = tmp_path / "gated.yaml"
    policy.write_text(text.replace("identity_verification: [console]", "identity_verification: [console, cli]")
                      .replace("run_request: []", "run_request: [officer]"))
    common = ["--workspace", root, "--policy", str(policy)]
    subjects = [str(s) for s in workspace.ledger.store.subjects_frame()["subject"].iloc[:2]]

    code, request_id = _lethe("request", "file", "--subject", subjects[0], *common)
    assert code == 0, request_id
    request_id = request_id.strip()
    code, out = _lethe("request", "run", request_id, *common)
    assert code != 0 and "identity" in out, out  # gated: says what to record first

    assert _lethe("request", "assign", request_id, "olivia", "--actor", "rosa", *common)[0] == 0
    code, out = _lethe("request", "verify-identity", request_id, "--method", "a passport", "--actor", "olivia", *common)
    assert code != 0 and "not a verification method" in out, out
    code, out = _lethe("request", "verify-identity", request_id, "--method", "government ID sighted (not kept)",
                       "--note", "checked name and date of birth", "--actor", "olivia", *common)
    assert code == 0, out
    code, out = _lethe("request", "approve", request_id, "--actor", "olivia", *common)
    assert code != 0 and "second person" in out, out  # she verified the identity herself
    assert _lethe("request", "approve", request_id, "--actor", "marek", *common)[0] == 0

    code, out = _lethe("request", "run", request_id, *common)
    assert code == 0 and "certified" in out, out
    code, out = _lethe("request", "letter", request_id, "completion", "--actor", "olivia", *common)
    assert code == 0 and Path(out.strip()).is_file() and Path(out.strip()).read_bytes().startswith(b"%PDF"), out

    code, other = _lethe("request", "file", "--subject", subjects[1], *common)
    other = other.strip()
    code, out = _lethe("request", "close", other, "--outcome", "refused", "--reason", "manifestly unfounded",
                       *common)
    assert code == 0, out
    ledger = Ledger.open(root)
    assert ledger.request(other).state == "rejected"
    kinds = [e.kind for e in ledger.request(request_id).history]
    for kind in ("request.assigned", "request.identity_verified", "request.approved", "request.certified",
                 "request.letter_issued"):
        assert kind in kinds, kinds
    verified = next(e for e in ledger.request(request_id).history if e.kind == "request.identity_verified")
    assert verified.actor == "olivia" and verified.payload["method"] == "government ID sighted (not kept)"
