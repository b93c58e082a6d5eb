"""Issue 16, point 4: a failed request keeps its deadline, says why and what to do, and can be retried.

A request is made to fail at verification after its rows were erased and its shard retrained (a policy whose
Recall@20 rule no model can meet: ``max_recall_drop`` far below zero, set past validation), then retried under the
normal policy: it resumes at verification only — nothing planned, forgotten or erased again — and certifies.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from typer.testing import CliRunner

from ledger import Ledger, RequestError
from policies import Policy
from ui._queries import request_rows, request_summary
from ui.services import Services
from ui._tables import open_request_rows
from ui.cli import app
from unlearn.engine import ErasureEngine
from unlearn.methods import ShardedRetraining
from unlearn.requests import ErasureRequest
from verify import run_audit, verify_certificate_file
from verify._verifier import StatisticalVerifier


def _impossible(policy: Policy) -> Policy:
    """The policy with a Recall@20 rule the sharded model misses and a single retrain meets: other users' recall
    must *exceed* the original's by 8 % (validation forbids a negative drop in a file; a test builds it). Its controls
    still separate (Retrain* 0.48 passes the 0.46 bar, the damaged retrain 0.35 fails it), so the check is an
    informative failure, not inconclusive; the SISA model (0.43, as its original) fails it. A rule no model meets
    (the old -2.0) is now inconclusive: its positive control fails too (issue 19). Verified on statistics at once,
    not certified on the lineage proof first (there would be nothing to fail before the audit)."""
    rules = policy.verification.model_copy(update={"max_recall_drop": -0.08, "certify_exact_on": "statistics"})
    return policy.model_copy(update={"verification": rules})


def _failing_engine(workspace: Services) -> ErasureEngine:
    policy = _impossible(workspace.policy)
    return ErasureEngine(workspace.ledger, policy, StatisticalVerifier(policy))


def _subjects(workspace: Services) -> list[str]:
    frame = workspace.ledger.store.subjects_frame().sort_values("interactions", ascending=False)
    return [str(s) for s in frame["subject"]]


def _failed_request(workspace: Services, subject: str | None = None) -> str:
    """A whole-subject request run under the impossible policy: erased, retrained, then failed at verification."""
    engine = _failing_engine(workspace)
    request_id = engine.file(ErasureRequest(subject=subject or _subjects(workspace)[0]), actor="test")
    record = engine.run(request_id, actor="test")
    assert record.state == "failed", record.history[-1].payload
    assert "recall@20 other users" in record.payload("failed")["reason"]
    return request_id


def _kinds(ledger: Ledger, request_id: str) -> list[str]:
    return [e.kind.removeprefix("request.") for e in ledger.request(request_id).history]


def test_a_failed_verification_is_retried_without_redoing_recorded_work(workspace: Services,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    ledger = workspace.ledger
    request_id = _failed_request(workspace)
    due = workspace.policy.deadlines.due_date(ledger.request(request_id))
    # a failed verification keeps what a retry needs to verify again
    failed = ledger.request(request_id).payload("failed")
    assert failed["kept_for_retry"]["escrowed_pairs"] == len(ledger.store.escrowed(request_id)) > 0
    with pytest.raises(RequestError, match=f"lethe request retry {request_id}"):
        workspace.engine.run(request_id)  # not "nothing to run": says what to do

    # anything but verification re-run would call the method again
    def no_forgetting(*args: object, **kwargs: object) -> None:
        raise AssertionError("a retry at verification must not forget again")

    monkeypatch.setattr(ShardedRetraining, "forget", no_forgetting)

    # a second attempt under the impossible policy fails again; a third under the normal policy certifies
    record = _failing_engine(workspace).retry(request_id, actor="olivia")
    assert record.state == "data_erased"
    assert _failing_engine(workspace).run(request_id, actor="olivia").state == "failed"
    record = workspace.engine.retry(request_id, actor="rosa")
    assert record.state == "data_erased"
    assert [(r["attempt"], r["resumes_from"]) for r in record.retries] == [(2, "data_erased"), (3, "data_erased")]
    retried = [e for e in record.history if e.kind == "request.retried"]
    assert [e.actor for e in retried] == ["olivia", "rosa"]
    assert all("recall@20 other users" in e.payload["retries_failure"] and e.payload["retried_at"]
               and e.payload["due"] == due.isoformat() for e in retried)

    record = workspace.engine.run(request_id, actor="rosa")
    assert record.state == "certified"
    kinds = _kinds(ledger, request_id)
    assert [kinds.count(k) for k in ("validated", "planned", "unlearned", "data_erased")] == [1, 1, 1, 1]
    assert [kinds.count(k) for k in ("verified", "failed", "retried", "certified")] == [3, 2, 2, 1]
    assert kinds[-4:] == ["failed", "retried", "verified", "certified"]
    # the deadline did not move; the certificate stands on the passing verification and proves the whole history
    assert workspace.policy.deadlines.due_date(ledger.request(request_id)) == due
    assert record.payload("verified")["passed"]
    certificate = verify_certificate_file(ledger.workspace.root / record.payload("certified")["json_path"],
                                          ledger.workspace.signer.public_key)
    assert certificate.passed and certificate.deadline == due
    # the passing retry certified on the lineage proof (the default policy): kept until its statistics follow
    assert certificate.basis == "lineage" and not ledger.store.escrowed(request_id).empty
    workspace.engine.verify_statistically(request_id, actor="rosa")
    assert ledger.store.escrowed(request_id).empty
    assert ledger.verify().ok

    count = len(ledger.log.events())
    with pytest.raises(RequestError, match="is certified.*no failure to retry"):
        workspace.engine.retry(request_id, actor="rosa")
    assert len(ledger.log.events()) == count


def test_only_a_failed_request_can_be_retried(workspace: Services) -> None:
    ledger, engine = workspace.ledger, workspace.engine
    subjects = _subjects(workspace)
    with pytest.raises(RequestError, match="unknown request id 'req-nope'"):
        engine.retry("req-nope", actor="rosa")
    open_id = engine.file(ErasureRequest(subject=subjects[0]), actor="test")
    rejected_id = engine.file(ErasureRequest(subject=subjects[1]), actor="test")
    ledger.append("request.rejected", {"request_id": rejected_id, "reason": "identity not verified"})
    count = len(ledger.log.events())
    with pytest.raises(RequestError, match=f"still open \\(received\\).*lethe request run {open_id}"):
        engine.retry(open_id, actor="rosa")
    with pytest.raises(RequestError, match="was rejected \\(identity not verified\\).*cannot be retried"):
        engine.retry(rejected_id, actor="rosa")
    with pytest.raises(RequestError, match="who retried it"):
        engine.retry(open_id, actor="  ")
    assert len(ledger.log.events()) == count


def test_a_failure_whose_verification_data_is_gone_cannot_be_retried(workspace: Services) -> None:
    """A request failed before failed verifications kept their escrow: a retry could not verify, so it is refused."""
    ledger = workspace.ledger
    request_id = _failed_request(workspace)
    ledger.store.shred_escrow(request_id)  # what _finish did to every failed request before retries existed
    count = len(ledger.log.events())
    with pytest.raises(RequestError, match="cannot be verified again: its \\d+ escrowed pair"):
        workspace.engine.retry(request_id, actor="rosa")
    assert len(ledger.log.events()) == count and ledger.request(request_id).state == "failed"


def test_a_failed_request_stays_open_with_its_deadline_in_audits_and_listings(workspace: Services) -> None:
    ledger, policy = workspace.ledger, workspace.policy
    request_id = _failed_request(workspace)
    record = ledger.request(request_id)
    due = policy.deadlines.due_date(record)
    hint = f"retry with `lethe request retry {request_id}`"

    row = {r["request_id"]: r for r in request_rows(ledger, policy)}[request_id]
    assert (row["state"], row["open"], row["deadline"]) == ("failed", True, due.isoformat())
    assert row["note"].startswith("failed: verification failed: recall@20 other users") and hint in row["note"]
    today = datetime.now(timezone.utc).date()
    dashboard = {r["request_id"]: r for r in open_request_rows(ledger, policy, today)}
    assert dashboard[request_id]["status"] == "on time" and hint in dashboard[request_id]["note"]
    summary = request_summary(ledger, policy, request_id)
    assert summary["open"] and "recall@20" in summary["failure"]["reason"]
    assert hint in summary["failure"]["what_to_do"] and "data_erased" in summary["failure"]["what_to_do"]

    report = run_audit(ledger, policy)
    deadlines = next(c for c in report.checks if c.name == "deadlines")
    assert [(d.request_id, d.state, d.due) for d in report.deadlines] == [(request_id, "failed", due)]
    assert deadlines.passed and "1 open request(s)" in deadlines.detail and "1 failed" in deadlines.detail
    assert any(request_id in f and "on time" in f and hint in f for f in deadlines.findings)
    window = next(c for c in report.checks if c.name == "window verification")
    assert not window.passed and any(hint in f for f in window.findings)

    late = run_audit(ledger, policy, now=datetime.combine(due + timedelta(days=2), datetime.min.time(), timezone.utc))
    deadlines = next(c for c in late.checks if c.name == "deadlines")
    assert not deadlines.passed and any(request_id in f and "is late" in f and hint in f for f in deadlines.findings)

    # once retried it is open in the state it resumes from, and every reader says so
    workspace.engine.retry(request_id, actor="rosa")
    row = {r["request_id"]: r for r in request_rows(ledger, policy)}[request_id]
    assert (row["state"], row["open"]) == ("data_erased", True)
    assert "attempt 2, retried by rosa" in row["note"] and "resumes from data_erased" in row["note"]
    assert request_summary(ledger, policy, request_id)["failure"] is None


def test_the_cli_retries_a_failed_request(workspace: Services) -> None:
    ledger = workspace.ledger
    root = str(ledger.workspace.root)
    request_id = _failed_request(workspace)
    runner = CliRunner()

    result = runner.invoke(app, ["request", "run", request_id, "--workspace", root])
    assert result.exit_code == 2 and f"lethe request retry {request_id}" in result.output
    result = runner.invoke(app, ["request", "list", "--workspace", root])
    assert result.exit_code == 0 and "failed" in result.output
    assert workspace.policy.deadlines.due_date(ledger.request(request_id)).isoformat() in result.output

    result = runner.invoke(app, ["request", "retry", request_id, "--actor", "rosa", "--run", "--workspace", root])
    assert result.exit_code == 0, result.output
    assert "retried by rosa (attempt 2); resumes from data_erased" in result.output
    assert f"{request_id}: certified" in result.output
    record = ledger.request(request_id)
    assert record.state == "certified" and Path(record.payload("certified")["json_path"]).name in result.output
    assert [e.actor for e in record.history if e.kind in ("request.retried", "request.verified")][-2:] == ["rosa"] * 2
    assert _kinds(ledger, request_id).count("unlearned") == 1

    for bad in (request_id, "req-nope"):
        result = runner.invoke(app, ["request", "retry", bad, "--workspace", root])
        assert result.exit_code == 2 and "error:" in result.output
    assert "certified" in runner.invoke(app, ["request", "retry", request_id, "--workspace", root]).output


def test_the_cli_retry_without_run_leaves_the_request_ready_to_run(workspace: Services) -> None:
    root = str(workspace.ledger.workspace.root)
    request_id = _failed_request(workspace)
    result = CliRunner().invoke(app, ["request", "retry", request_id, "--workspace", root])
    assert result.exit_code == 0 and f"lethe request run {request_id}" in result.output
    record = workspace.ledger.request(request_id)
    assert record.state == "data_erased" and record.history[-1].actor == "cli"
    result = CliRunner().invoke(app, ["request", "retry", request_id, "--workspace", root])
    assert result.exit_code == 2 and "still open (data_erased)" in result.output


def test_an_officer_retries_a_failed_request_from_the_console(workspace: Services,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    from streamlit.testing.v1 import AppTest

    from tests.test_console import APP, USERS, sign_in, with_users

    root = with_users(workspace.ledger.workspace.root)
    request_id = _failed_request(workspace)
    monkeypatch.setenv("LETHE_HOME", str(root))

    def page(role: str, name: str) -> AppTest:
        at = sign_in(AppTest.from_file(str(APP), default_timeout=120).run(), role)
        at.query_params["id"] = request_id  # the request page's own address: /request?id=…
        return at.switch_page(f"console_pages/{name}.py").run()

    at = page("officer", "dashboard")
    assert not at.exception
    rows = at.dataframe[0].value.set_index("request_id")
    assert rows.loc[request_id, "state"] == "failed" and "lethe request retry" in rows.loc[request_id, "note"]
    assert any(request_id in w.value and "still open against their deadline" in w.value for w in at.warning)

    at = page("auditor", "request_detail")
    assert "retry" not in [b.key for b in at.button] and "an officer can retry it" in at.warning[0].value

    at = page("officer", "request_detail")
    assert at.metric[0].value == "failed" and "lethe request retry" in at.warning[0].value
    at = at.button(key="retry").click().run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    record = Ledger.open(root).request(request_id)
    assert record.state == "data_erased" and record.history[-1].actor == USERS["officer"][0]
    assert at.metric[0].value == "data_erased" and "run" in [b.key for b in at.button]
