"""The request workflow before a run (issue 23, point 2): identity verification and a second approval gate the
engine itself (so the worker, the CLI and the API obey it), closing needs a reason, duplicates are flagged, and
every step is a ledger event that does not move the request's state."""

from __future__ import annotations

import pytest

from ledger import REQUEST_DUPLICATE_RECEIVED, RequestError
from policies import Policy
from ui.services import Services
from ui.worker import queue_request
from unlearn.engine import ErasureEngine
from unlearn.requests import ErasureRequest
from unlearn.workflow import WorkflowError, approve, assign, close, record_identity, workflow_status

METHOD = "knowledge-based questions"


def _subjects(services: Services) -> list[str]:
    frame = services.ledger.store.subjects_frame().sort_values("interactions", ascending=False)
    return [str(s) for s in frame["subject"]]


def _with_approvers(services: Services, roles: list[str]) -> Services:
    policy = Policy.model_validate({**services.policy.model_dump(), "approvers": {
        **services.policy.approvers.model_dump(), "run_request": roles}})
    return Services(services.ledger, policy, ErasureEngine(services.ledger, policy, services.engine.verifier))


def test_a_console_request_runs_only_after_identity_verification(workspace: Services) -> None:
    engine, ledger = workspace.engine, workspace.ledger
    request_id = engine.file(ErasureRequest(subject=_subjects(workspace)[0]), actor="olivia", intake="console")
    with pytest.raises(WorkflowError, match="record how the subject's identity was verified"):
        engine.run(request_id, actor="worker")
    with pytest.raises(WorkflowError, match="identity was verified"):
        queue_request(workspace, request_id, "olivia")  # the console's Run button refuses before queuing
    assert ledger.request(request_id).state == "received"  # nothing ran, nothing was queued
    with pytest.raises(WorkflowError, match="not a verification method"):
        record_identity(ledger, workspace.policy, request_id, "looked at a passport scan", "olivia")
    record_identity(ledger, workspace.policy, request_id, METHOD, "olivia", note="3 of 3 answered")
    assign(ledger, workspace.policy, request_id, "olivia", actor="olivia")
    record = ledger.request(request_id)
    status = workflow_status(record, workspace.policy)
    assert record.state == "received" and status.blockers == []
    assert (status.identity.actor, status.identity.payload["method"]) == ("olivia", METHOD)
    assert status.assignee.payload["assignee"] == "olivia"
    assert engine.run(request_id, actor="worker").state == "certified"


def test_code_and_cli_filings_are_not_gated_by_the_default_policy(workspace: Services) -> None:
    request_id = workspace.engine.file(ErasureRequest(subject=_subjects(workspace)[0]))
    assert workflow_status(workspace.ledger.request(request_id), workspace.policy).blockers == []


def test_a_second_person_of_an_approving_role_must_approve(workspace: Services) -> None:
    services = _with_approvers(workspace, ["auditor"])
    ledger, policy = services.ledger, services.policy
    request_id = services.engine.file(ErasureRequest(subject=_subjects(workspace)[0]), actor="olivia", intake="console")
    with pytest.raises(WorkflowError, match="identity verification first"):
        approve(ledger, policy, request_id, "aldo", "auditor")
    record_identity(ledger, policy, request_id, METHOD, "olivia")
    with pytest.raises(WorkflowError, match="second person"):
        services.engine.run(request_id)
    with pytest.raises(WorkflowError, match="olivia filed this request"):
        approve(ledger, policy, request_id, "olivia", "auditor")
    with pytest.raises(Exception, match="may not approve run request"):
        approve(ledger, policy, request_id, "omar", "officer")
    approve(ledger, policy, request_id, "aldo", "auditor")
    with pytest.raises(WorkflowError, match="already approved"):
        approve(ledger, policy, request_id, "aldo", "auditor")
    status = workflow_status(ledger.request(request_id), policy)
    assert status.blockers == [] and [a.actor for a in status.approvals] == ["aldo"]


def test_refusing_needs_a_reason_and_ends_the_request(workspace: Services) -> None:
    ledger, policy = workspace.ledger, workspace.policy
    request_id = workspace.engine.file(ErasureRequest(subject=_subjects(workspace)[0]), actor="olivia",
                                       intake="console")
    with pytest.raises(WorkflowError, match="reason"):
        close(ledger, policy, request_id, "refused", "  ", "olivia")
    close(ledger, policy, request_id, "refused", "identity could not be established", "olivia")
    record = ledger.request(request_id)
    assert record.state == "rejected"
    assert record.payload("rejected") | {"policy_digest": None} == {
        "request_id": request_id, "reason": "identity could not be established", "outcome": "refused",
        "policy_digest": None}
    assert record.history[-1].actor == "olivia"
    with pytest.raises(WorkflowError, match="already rejected"):
        close(ledger, policy, request_id, "closed", "duplicate of another", "olivia")


def test_a_duplicate_filing_is_flagged_on_the_open_request(workspace: Services) -> None:
    subject = _subjects(workspace)[0]
    first = workspace.engine.file(ErasureRequest(subject=subject), actor="olivia", intake="console")
    with pytest.raises(RequestError, match=f"request {first} for subject {subject!r} is already open"):
        workspace.engine.file(ErasureRequest(subject=subject), actor="omar", intake="console")
    record = workspace.ledger.request(first)
    flagged = [e for e in record.history if e.kind == REQUEST_DUPLICATE_RECEIVED]
    assert [(e.actor, e.payload["intake"]) for e in flagged] == [("omar", "console")]
    assert record.state == "received" and len(workspace.ledger.requests()) == 1
    assert [d.actor for d in workflow_status(record, workspace.policy).duplicates] == ["omar"]
