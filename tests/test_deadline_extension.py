"""Deadline extensions (issue 5, GDPR Art. 12(3)): they move the due date everywhere, stay within the policy's
maximum, leave the request's state alone, and a certificate issued afterwards states them and still verifies."""

from __future__ import annotations

from datetime import datetime

import pytest
from typer.testing import CliRunner

from ledger import RequestError
from policies import PolicyError, gdpr_deadline
from ui._queries import request_rows, request_summary
from ui.services import Services
from ui.cli import app
from unlearn.requests import ErasureRequest
from verify import verify_certificate_file

runner = CliRunner()


def _file(services: Services, rank: int = 0) -> str:
    subjects = services.ledger.store.subjects_frame().sort_values("interactions", ascending=False)
    return services.engine.file(ErasureRequest(subject=str(subjects.iloc[rank]["subject"])))


def test_extension_moves_the_due_date_and_is_certified(workspace: Services) -> None:
    ledger, engine, policy = workspace.ledger, workspace.engine, workspace.policy
    request_id = _file(workspace)
    received = datetime.fromisoformat(ledger.request(request_id).received["received_at"]).date()
    assert request_summary(ledger, policy, request_id)["deadline"] == gdpr_deadline(received, 1).isoformat()

    result = runner.invoke(app, ["request", "extend", request_id, "--months", "1", "--reason",
                                 "complex request: data held by two processors", "--workspace",
                                 str(ledger.workspace.root)])
    assert result.exit_code == 0, result.output
    due = gdpr_deadline(received, 2)
    assert due.isoformat() in result.output
    record = ledger.request(request_id)
    assert record.state == "received" and record.extension_months == 1  # an annotation, not a lifecycle step
    assert request_summary(ledger, policy, request_id)["deadline"] == due.isoformat()
    assert {r["request_id"]: r["deadline"] for r in request_rows(ledger, policy)}[request_id] == due.isoformat()

    record = engine.run(request_id)
    assert record.state == "certified"
    certificate = verify_certificate_file(ledger.workspace.root / record.history[-1].payload["json_path"],
                                          ledger.workspace.public_key_path)
    assert certificate.deadline == due and certificate.within_deadline
    assert [(e.months, e.reason) for e in certificate.extensions] == [(1, "complex request: data held by two processors")]
    pdf = (ledger.workspace.root / record.history[-1].payload["pdf_path"]).read_bytes()
    assert b"Deadline extended" in pdf and b"two processors" in pdf


def test_extensions_beyond_the_maximum_or_without_reason_are_refused(workspace: Services) -> None:
    engine = workspace.engine
    request_id = _file(workspace)
    count = len(workspace.ledger.log.events())
    with pytest.raises(RequestError, match="needs a reason"):
        engine.extend(request_id, 1, "   ")
    with pytest.raises(RequestError, match="maximum of 2"):
        engine.extend(request_id, 3, "backlog")
    with pytest.raises(PolicyError, match="may not approve extend deadline"):
        engine.extend(request_id, 1, "backlog", role="auditor")
    assert len(workspace.ledger.log.events()) == count

    engine.extend(request_id, 1, "backlog")
    engine.extend(request_id, 1, "still waiting for the processor")
    with pytest.raises(RequestError, match="already extended by 2 month.*over policy 'default''s maximum of 2"):
        engine.extend(request_id, 1, "one more")
    result = runner.invoke(app, ["request", "extend", request_id, "--months", "1", "--reason", "again",
                                 "--workspace", str(workspace.ledger.workspace.root)])
    assert result.exit_code == 2 and "maximum of 2" in result.output


def test_only_open_requests_can_be_extended(workspace: Services) -> None:
    with pytest.raises(RequestError, match="unknown request"):
        workspace.engine.extend("req-nope", 1, "x")
    request_id = _file(workspace)
    ledger = workspace.ledger
    ledger.append("request.rejected", {"request_id": request_id, "reason": "identity not verified"})
    with pytest.raises(RequestError, match="is rejected: only an open request"):
        workspace.engine.extend(request_id, 1, "x")
