"""Certificates on the lineage proof first (issue 21, point 3): an exact method's request is certified without
training any reference, keeps what its statistical follow-up needs, and the audit signs that follow-up as a second
report naming the first; only then are the escrow and the replaced checkpoints destroyed."""

from __future__ import annotations

from pathlib import Path

import pytest

from ledger import RequestError
from policies import Policy
from tests.conftest import build_workspace
from ui.services import Services
from unlearn.artifacts import has_artifact
from unlearn.engine import ErasureEngine
from unlearn.lifecycle import statistics_pending
from unlearn.requests import ErasureRequest
from verify import ReferenceModels, StatisticalVerifier, load_report, run_audit, verify_certificate_file
from verify.names import LINEAGE, MODEL_REPLACED


def _policy(services: Services, certify_exact_on: str) -> Policy:
    rules = services.policy.verification.model_copy(update={"certify_exact_on": certify_exact_on})
    return services.policy.model_copy(update={"verification": rules})


def _heaviest_subject(services: Services) -> str:
    frame = services.ledger.store.subjects_frame().sort_values("interactions", ascending=False)
    return str(frame["subject"].iloc[0])


@pytest.fixture(scope="module")
def certified(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """One whole-subject SISA request run under the default policy, counting reference retrains."""
    services = build_workspace(tmp_path_factory.mktemp("lineage") / "ws")
    policy = services.policy
    assert policy.verification.certify_exact_on == "lineage", "the default policy certifies exact methods on lineage"
    trained: list[str] = []
    original = ReferenceModels.train.__func__

    def counting(cls, deployment_id, *args, **kwargs):  # the real training, counted
        trained.append(deployment_id)
        return original(cls, deployment_id, *args, **kwargs)

    engine = ErasureEngine(services.ledger, policy, StatisticalVerifier(policy))
    request_id = engine.file(ErasureRequest(subject=_heaviest_subject(services)))
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(ReferenceModels, "train", classmethod(counting))
        record = engine.run(request_id)
    return {"services": services, "policy": policy, "engine": engine, "request_id": request_id, "record": record,
            "references_trained": list(trained)}


def test_an_exact_request_is_certified_on_its_lineage_without_training_a_reference(certified: dict) -> None:
    record, services = certified["record"], certified["services"]
    assert record.state == "certified"
    assert certified["references_trained"] == []
    verified = record.require_payload("verified")
    assert verified["basis"] == "lineage" and verified["passed"]
    report = load_report(services.ledger.workspace.root / verified["report_path"], services.ledger.workspace.signer.public_key).predicate
    assert report.basis == "lineage" and report.follows is None
    assert [c.name for c in report.checks] == [LINEAGE, MODEL_REPLACED]
    assert all(c.verdict == "pass" for c in report.checks)
    assert report.checks[1].value > 0, "the serving model's scores on the forgotten pairs moved"


def test_the_certificate_says_it_rests_on_the_lineage_proof_and_when_statistics_follow(certified: dict) -> None:
    services, record = certified["services"], certified["record"]
    certificate = verify_certificate_file(services.ledger.workspace.root / record.require_payload("certified")["json_path"],
                                          services.ledger.workspace.signer.public_key)
    assert certificate.basis == "lineage" and certificate.exact
    assert certificate.statistics_due is not None and certificate.statistics_due >= certificate.completed_at.date()
    assert str(certificate.statistics_due) in certificate.basis_notice
    assert "follows at the scheduled audit" in certificate.basis_notice


def test_escrow_and_replaced_checkpoints_are_kept_until_the_statistics_follow(certified: dict) -> None:
    services, record = certified["services"], certified["record"]
    assert statistics_pending(record)
    assert not services.ledger.store.escrowed(record.request_id).empty
    replaced = record.require_payload("planned")["deployments"][0]["live_before"].values()
    checkpoints = {c.checkpoint_id: c for c in services.ledger.checkpoints()}
    assert all(has_artifact(services.ledger.workspace.artifacts_dir, checkpoints[c].artifact_sha256)
               for c in replaced)


def test_the_audit_signs_the_statistical_follow_up_naming_the_first_report_then_shreds(certified: dict) -> None:
    services, policy, request_id = certified["services"], certified["policy"], certified["request_id"]
    audit = run_audit(services.ledger, policy)
    row = next(r for r in audit.requests if r.request_id == request_id)
    assert row.action == "statistics verified now", row.detail
    record = services.ledger.request(request_id)
    follow_up = record.require_payload("statistically_verified")
    first = record.require_payload("verified")
    assert follow_up["follows_report"] == first["report_id"]
    report = load_report(services.ledger.workspace.root / follow_up["report_path"], services.ledger.workspace.signer.public_key)
    assert report.predicate.basis == "statistics"
    assert report.predicate.follows.report_id == first["report_id"]
    assert report.predicate.follows.sha256 == first["report_sha256"]
    assert len(report.predicate.checks) > 2 and report.predicate.reference is not None
    assert row.passed == follow_up["passed"] == report.predicate.passed
    if follow_up["passed"]:
        assert not statistics_pending(record)
        assert services.ledger.store.escrowed(request_id).empty
        assert not any(has_artifact(services.ledger.workspace.artifacts_dir, sha)
                       for sha in follow_up["shredded_artifacts"])
    assert record.state == "certified"  # an annotation: the lifecycle does not move


def test_a_passed_follow_up_is_not_run_twice(certified: dict) -> None:
    services, request_id = certified["services"], certified["request_id"]
    record = services.ledger.request(request_id)
    if statistics_pending(record):
        pytest.fail(f"the follow-up did not pass: {record.require_payload('statistically_verified')}")
    events = len(record.history)
    again = certified["engine"].verify_statistically(request_id)
    assert len(again.history) == events


def test_statistics_policy_certifies_only_after_the_requests_own_references(tmp_path: Path) -> None:
    services = build_workspace(tmp_path / "ws")
    policy = _policy(services, "statistics")
    engine = ErasureEngine(services.ledger, policy, StatisticalVerifier(policy))
    record = engine.run(engine.file(ErasureRequest(subject=_heaviest_subject(services))))
    verified = record.require_payload("verified")
    assert verified["basis"] == "statistics"
    assert not statistics_pending(record)
    if record.state == "certified":
        assert services.ledger.store.escrowed(record.request_id).empty
    with pytest.raises(RequestError, match="no statistical follow-up"):
        engine.verify_statistically(record.request_id)
