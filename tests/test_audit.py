"""Scheduled audits (issue 8): ledger tampering, re-contamination by an old export, one shared reference for the
window's erasures, late and nearly-late requests, and the signed audit report."""

from __future__ import annotations

import base64
import json
import shutil
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner

from ledger import Ledger, SignatureError
from ledger._db import transaction
from policies import POLICY_ACTIVATED, Policy, PolicyError, load_policy
from tests.conftest import FAST_BPR, build_workspace
from ui.services import Services
from ui.cli import app
from unlearn.engine import ErasureEngine
from unlearn.methods import MethodSettings, get_method, set_serving
from unlearn.progress import no_progress
from unlearn.requests import ErasureRequest
from verify import AUDIT_COMPLETED, ReferenceModels, StatisticalVerifier, load_audit_report, load_report, run_audit

runner = CliRunner()


def _subjects(services: Services, n: int) -> list[str]:
    frame = services.ledger.store.subjects_frame().sort_values("interactions", ascending=False)
    return [str(s) for s in frame["subject"].iloc[:n]]


def _deferring(policy: Policy) -> Policy:
    return policy.model_copy(update={"audit": policy.audit.model_copy(update={"defer_verification": True})})


@pytest.fixture(scope="module")
def window(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """Three erasures deferred to the audit, then one audit; counts every reference retrain it trains.

    One shard: the serving model is then a full retrain, which an honest verifier must pass (on this tiny set a
    3-shard SISA ensemble's cold-start list for three erased heavy users is borderline on the RBO checks, which
    is the verifier's calibration, not the audit's concern)."""
    root = tmp_path_factory.mktemp("audit") / "ws"
    services = build_workspace(root, shards=1)
    policy = _deferring(services.policy)
    engine = ErasureEngine(services.ledger, policy, StatisticalVerifier(policy))
    request_ids = [engine.file(ErasureRequest(subject=s)) for s in _subjects(services, 3)]
    states = [engine.run(r).state for r in request_ids]

    trained: list[str] = []
    original = ReferenceModels.train.__func__

    def counting(cls, deployment_id, *args, **kwargs):  # the real training, counted
        trained.append(deployment_id)
        return original(cls, deployment_id, *args, **kwargs)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(ReferenceModels, "train", classmethod(counting))
        report = run_audit(services.ledger, policy)
    return {"root": root, "policy": policy, "request_ids": request_ids, "states_before": states,
            "report": report, "trained": trained}


def test_window_of_erasures_is_verified_with_one_shared_reference(window: dict) -> None:
    report = window["report"]
    assert window["states_before"] == ["data_erased"] * 3  # the policy deferred verification to the audit
    assert window["trained"] == [Ledger.open(window["root"]).serving_deployment_id()]  # trained once
    assert report.passed, [c for c in report.checks if not c.passed]
    assert report.references_trained == 1 and report.reference is not None and report.reference.reused
    assert [r.request_id for r in report.requests] == window["request_ids"]
    assert all(r.action == "verified now" and r.passed and r.reference_reused for r in report.requests)
    ledger = Ledger.open(window["root"])
    workspace = ledger.workspace
    for request_id in window["request_ids"]:
        record = ledger.request(request_id)
        assert record.state == "certified"
        statement = load_report(workspace.root / record.require_payload("verified")["report_path"],
                                workspace.signer.public_key)
        assert statement.predicate.reference.reused
        assert statement.predicate.reference.data_digest == report.reference.data_digest


def test_signed_audit_report_verifies_and_is_recorded(window: dict, tmp_path: Path) -> None:
    ledger = Ledger.open(window["root"])
    event = ledger.log.events([AUDIT_COMPLETED])[-1]
    assert event.payload["audit_id"] == window["report"].audit_id and event.payload["passed"]
    path = ledger.workspace.root / event.payload["report_path"]
    statement = load_audit_report(path, ledger.workspace.public_key_path)
    assert statement.predicate == window["report"]
    names = {s.name for s in statement.subject}
    assert "ledger-head" in names and any(n.startswith("serving/") for n in names)
    assert ledger.verify().ok
    assert ledger.log.tree_heads() and f"\n{event.seq}\n" in ledger.log.tree_heads()[-1]  # the audit is covered

    forged = json.loads(path.read_text())
    statement = json.loads(base64.b64decode(forged["payload"]))
    statement["predicate"]["checks"][1]["passed"] = False
    statement["predicate"]["passed"] = False
    forged["payload"] = base64.b64encode(json.dumps(statement).encode()).decode()  # not re-signed
    (tmp_path / "forged.json").write_text(json.dumps(forged))
    with pytest.raises(SignatureError, match="altered"):
        load_audit_report(tmp_path / "forged.json", ledger.workspace.public_key_path)


def test_policy_digest_is_recorded_with_every_request_event_and_report(window: dict) -> None:
    ledger = Ledger.open(window["root"])
    digest = window["policy"].digest
    activated = ledger.log.events([POLICY_ACTIVATED])
    assert activated[-1].payload["digest"] == digest and activated[-1].payload["document"] == window["policy"].document()
    for request_id in window["request_ids"]:
        record = ledger.request(request_id)
        assert {e.payload["policy_digest"] for e in record.history} == {digest}
        report = load_report(ledger.workspace.root / record.require_payload("verified")["report_path"],
                             ledger.workspace.signer.public_key).predicate
        assert report.policy_digest == digest
    assert window["report"].policy_digest == digest


def test_tampered_ledger_fails_the_audit_from_the_cli(window: dict, tmp_path: Path) -> None:
    root = tmp_path / "ws"
    shutil.copytree(window["root"], root)
    ledger = Ledger.open(root)
    seq = ledger.log.events(["request.planned"])[0].seq
    with transaction(ledger.workspace.ledger_path) as con:
        con.execute("UPDATE events SET payload = replace(payload, 'escrowed_pairs', 'escrowed_pairz') WHERE seq = ?",
                    [seq])
    result = runner.invoke(app, ["audit", "run", "--workspace", str(root), "--json"])
    assert result.exit_code == 3, result.output  # an integrity fault
    report = json.loads(result.stdout)
    failed = {c["name"]: c for c in report["checks"] if not c["passed"]}
    assert set(failed) == {"ledger integrity", "window verification"}
    assert f"seq {seq}" in failed["ledger integrity"]["detail"]
    assert "skipped" in failed["window verification"]["detail"]
    assert Ledger.open(root).log.events([AUDIT_COMPLETED])[-1].payload["passed"] is False


def test_an_old_export_retrained_after_an_erasure_is_caught(tmp_path: Path) -> None:
    """A scheduled full retrain re-ingests an old export that still holds an erased subject's rows."""
    root = tmp_path / "ws"
    services = build_workspace(root)
    ledger = services.ledger
    subject = _subjects(services, 1)[0]
    with transaction(ledger.store.path) as con:  # the nightly export, taken before the request
        old_export = con.execute("SELECT * FROM interactions ORDER BY interaction_id").df()
    request_id = services.engine.file(ErasureRequest(subject=subject))
    assert services.engine.run(request_id).state == "certified"

    code = runner.invoke(app, ["audit", "run", "--workspace", str(root)])
    assert code.exit_code == 0, code.output  # clean so far

    with transaction(ledger.store.path) as con:  # the ETL restores the export into the store ...
        con.execute("DELETE FROM interactions")
        con.execute("INSERT INTO interactions SELECT * FROM old_export")
    retrain = get_method("retrain").fit(ledger, MethodSettings(method="retrain", model=FAST_BPR), no_progress, "etl")
    set_serving(ledger, retrain.deployment_id, actor="etl")  # ... and the full retrain goes live

    result = runner.invoke(app, ["audit", "run", "--workspace", str(root)])
    assert result.exit_code == 1
    assert "re-contamination" in result.output and "FAIL" in result.output
    report = run_audit(Ledger.open(root), services.policy)
    contamination = next(c for c in report.checks if c.name == "re-contamination")
    assert not contamination.passed
    assert any(f"serving deployment {retrain.deployment_id}" in f and "erased interaction" in f
               for f in contamination.findings)
    assert any("store holds" in f for f in contamination.findings)
    assert [c.name for c in report.checks if not c.passed] == ["re-contamination"]


def test_late_and_nearly_late_requests_are_flagged(workspace: Services) -> None:
    ledger, engine = workspace.ledger, workspace.engine
    first, second = (engine.file(ErasureRequest(subject=s)) for s in _subjects(workspace, 2))
    received = datetime.fromisoformat(ledger.request(first).received["received_at"])

    nearly = run_audit(ledger, workspace.policy, now=received + timedelta(days=26))
    check = next(c for c in nearly.checks if c.name == "deadlines")
    assert check.passed and {d.status for d in nearly.deadlines} == {"nearly late"}
    assert len(check.findings) == 2

    engine.extend(first, 1, "the subject's data spans three systems that export monthly")
    late = run_audit(ledger, workspace.policy, now=received + timedelta(days=40))
    check = next(c for c in late.checks if c.name == "deadlines")
    assert not late.passed and not check.passed
    status = {d.request_id: d for d in late.deadlines}
    assert status[second].status == "late" and status[second].days_left < 0
    assert status[first].status == "on time" and status[first].extension_months == 1
    assert len(check.findings) == 1 and second in check.findings[0] and "is late" in check.findings[0]


def test_audit_role_and_schedule_follow_the_policy(tmp_path: Path) -> None:
    from ui._scheduler import JOB_ID, build_scheduler

    policy_path = tmp_path / "p.yaml"
    policy_path.write_text("name: strict\naudit:\n  cron: '15 4 * * sun'\napprovers:\n  run_audit: [officer]\n")
    ledger = Ledger.open(tmp_path / "ws")
    with pytest.raises(PolicyError, match="may not approve run audit"):
        run_audit(ledger, load_policy(policy_path), role="auditor")
    scheduler = build_scheduler(tmp_path / "ws", policy_path, "officer", print)
    trigger = scheduler.get_job(JOB_ID).trigger
    fire = trigger.get_next_fire_time(None, datetime.fromisoformat("2026-11-24T00:00:00+00:00"))
    assert (fire.weekday(), fire.hour, fire.minute) == (6, 4, 15)  # Sunday 04:15 UTC


def test_schedule_stops_cleanly_on_ctrl_c(tmp_path: Path) -> None:
    import signal
    import subprocess
    import sys

    process = subprocess.Popen(  # SIGINT restored: a shell starts background jobs with it ignored
        [sys.executable, "-m", "ui.cli", "audit", "schedule", "--workspace", str(tmp_path / "ws")],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    first = process.stdout.readline()
    assert "auditing on cron[" in first and "day_of_week='mon', hour='3', minute='0'" in first, first
    process.send_signal(signal.SIGINT)
    rest, _ = process.communicate(timeout=60)
    assert process.returncode == 0 and "scheduler stopped" in rest and "Traceback" not in rest
