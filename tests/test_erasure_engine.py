"""The erasure lifecycle on a small synthetic workspace: what it touches, what it refuses, how it resumes."""

from __future__ import annotations

import pytest

from ledger import Ledger, RequestError
from ui.services import Services
from unlearn.methods import ShardedRetraining
from unlearn.requests import ErasureRequest


def _subject(services: Services, rank: int = 0) -> str:
    subjects = services.ledger.store.subjects_frame().sort_values("interactions", ascending=False)
    return str(subjects.iloc[rank]["subject"])


def _event_count(ledger: Ledger) -> int:
    return len(ledger.log.events())


def test_request_retrains_only_the_subjects_shard_and_ends_certified(workspace: Services) -> None:
    ledger = workspace.ledger
    deployment_id = ledger.serving_deployment_id()
    before = {s: c.checkpoint_id for s, c in ledger.live_checkpoints(deployment_id).items()}
    request_id = workspace.engine.file(ErasureRequest(subject=_subject(workspace)))
    record = workspace.engine.run(request_id)

    assert record.state == "certified"
    assert [e.kind.removeprefix("request.") for e in record.history] == [
        "received", "validated", "planned", "unlearned", "data_erased", "verified", "certified"
    ]
    after = ledger.live_checkpoints(deployment_id)
    changed = [s for s in after if after[s].checkpoint_id != before[s]]
    assert len(changed) == 1
    assert after[changed[0]].parent == before[changed[0]]
    assert ledger.verify().ok


def test_erasure_leaves_no_row_escrow_or_replaced_artifact_once_its_statistics_followed(workspace: Services) -> None:
    ledger = workspace.ledger
    subject = _subject(workspace)
    request_id = workspace.engine.file(ErasureRequest(subject=subject))
    record = workspace.engine.run(request_id)
    assert ledger.store.subject(subject) is None
    assert record.require_payload("verified")["shredded_artifacts"] == []  # certified on lineage: kept for now
    assert not ledger.store.escrowed(request_id).empty

    record = workspace.engine.verify_statistically(request_id)
    assert ledger.store.escrowed(request_id).empty
    follow_up = record.require_payload("statistically_verified")
    assert follow_up["passed"] and follow_up["shredded_artifacts"]
    for sha in follow_up["shredded_artifacts"]:
        assert not (ledger.workspace.artifacts_dir / f"{sha.removeprefix('sha256:')}.npz").exists()


def test_unknown_subject_is_refused_and_appends_nothing(workspace: Services) -> None:
    count = _event_count(workspace.ledger)
    with pytest.raises(RequestError, match="unknown subject"):
        workspace.engine.file(ErasureRequest(subject="no-such-subject"))
    assert _event_count(workspace.ledger) == count


def test_second_request_for_an_open_subject_is_a_duplicate_flagged_on_the_open_one(workspace: Services) -> None:
    subject = _subject(workspace)
    first = workspace.engine.file(ErasureRequest(subject=subject))
    count = _event_count(workspace.ledger)
    with pytest.raises(RequestError, match=f"{first}.*already open"):
        workspace.engine.file(ErasureRequest(subject=subject))
    (flag,) = workspace.ledger.log.events()[count:]  # no second request: one note on the open one (issue 23)
    assert flag.kind == "request.duplicate_received" and flag.payload["request_id"] == first
    assert [r.request_id for r in workspace.ledger.requests()].count(first) == 1
    assert workspace.ledger.request(first).state == "received"


def test_already_erased_subject_and_fulfilled_request_are_refused(workspace: Services) -> None:
    subject = _subject(workspace)
    request_id = workspace.engine.file(ErasureRequest(subject=subject))
    workspace.engine.run(request_id)
    count = _event_count(workspace.ledger)
    with pytest.raises(RequestError, match="already erased"):
        workspace.engine.file(ErasureRequest(subject=subject))
    with pytest.raises(RequestError, match="already certified"):
        workspace.engine.run(request_id)
    assert _event_count(workspace.ledger) == count


def test_unknown_request_id_is_refused(workspace: Services) -> None:
    with pytest.raises(RequestError, match="unknown request id"):
        workspace.engine.run("req-000000000000")


def test_crash_while_forgetting_resumes_without_half_state(workspace: Services, monkeypatch: pytest.MonkeyPatch) -> None:
    ledger = workspace.ledger
    request_id = workspace.engine.file(ErasureRequest(subject=_subject(workspace)))

    def crash(*args: object, **kwargs: object) -> None:
        raise KeyboardInterrupt("power cut")

    with monkeypatch.context() as patch:
        patch.setattr(ShardedRetraining, "_record_checkpoint", crash)
        with pytest.raises(KeyboardInterrupt):
            workspace.engine.run(request_id)
    assert ledger.request(request_id).state == "planned"
    assert ledger.store.escrowed(request_id).shape[0] > 0  # the subject's data is still all there

    record = workspace.engine.run(request_id)
    assert record.state == "certified" and ledger.verify().ok


def test_crash_after_erasing_data_resumes_to_a_certificate(workspace: Services, monkeypatch: pytest.MonkeyPatch) -> None:
    ledger = workspace.ledger
    request_id = workspace.engine.file(ErasureRequest(subject=_subject(workspace)))
    verifier = workspace.engine.verifier

    def crash(*args: object, **kwargs: object) -> None:
        raise RuntimeError("verifier died")

    with monkeypatch.context() as patch:
        patch.setattr(verifier, "verify", crash)
        with pytest.raises(RuntimeError):
            workspace.engine.run(request_id)
    assert ledger.request(request_id).state == "data_erased"
    assert workspace.engine.run(request_id).state == "certified"


def test_a_no_op_unlearner_fails_verification(workspace: Services, monkeypatch: pytest.MonkeyPatch) -> None:
    """A method that claims to forget but retrains nothing must not get a certificate."""
    ledger = workspace.ledger
    request_id = workspace.engine.file(ErasureRequest(subject=_subject(workspace)))

    def pretend(self: ShardedRetraining, ledger: Ledger, plan, request_id: str, progress, actor: str = ""):  # noqa: ANN001
        return self.load(ledger, plan.deployment_id)

    monkeypatch.setattr(ShardedRetraining, "forget", pretend)
    record = workspace.engine.run(request_id)
    assert record.state == "failed"
    assert "lineage" in record.history[-1].payload["reason"]
    # The serving model still loads: a failed erasure never shreds the checkpoints that still serve.
    ShardedRetraining("sisa").load(ledger, ledger.serving_deployment_id())


def test_a_request_cannot_be_run_twice_at_once(workspace: Services) -> None:
    from ledger import WorkspaceError

    request_id = workspace.engine.file(ErasureRequest(subject=_subject(workspace)))
    with workspace.ledger.workspace.exclusive(request_id):  # another process is running it
        with pytest.raises(WorkspaceError, match="another process"):
            workspace.engine.run(request_id)
    assert workspace.ledger.request(request_id).state == "received"
