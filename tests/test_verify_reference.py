"""References shared by a batch of requests (audit window), and what a report pins itself to (issue 5)."""

from __future__ import annotations

import pytest

from ui.services import Services
from unlearn.engine import ErasureEngine
from unlearn.methods import MethodSettings
from unlearn.progress import no_progress
from unlearn.requests import ErasureRequest
from unlearn.training_data import Interactions
from verify import ReferenceModels, StatisticalVerifier, load_report


def _erase_without_verifying(services: Services, monkeypatch: pytest.MonkeyPatch) -> str:
    """File a request for the most active subject and run it until its data is erased (the verifier 'crashes')."""
    subjects = services.ledger.store.subjects_frame().sort_values("interactions", ascending=False)
    request_id = services.engine.file(ErasureRequest(subject=str(subjects.iloc[0]["subject"])))

    def crash(*args: object, **kwargs: object) -> None:
        raise RuntimeError("verify later, with the audit window's references")

    with monkeypatch.context() as patch:
        patch.setattr(services.engine.verifier, "verify", crash)
        with pytest.raises(RuntimeError):
            services.engine.run(request_id)
    return request_id


def _references(services: Services) -> ReferenceModels:
    ledger = services.ledger
    deployment_id = ledger.serving_deployment_id()
    settings = MethodSettings(**ledger.deployment(deployment_id).settings)
    remaining = Interactions.from_store(ledger, "train")
    return ReferenceModels.train(deployment_id, settings.base_model, settings.model_config_object(), settings.seed,
                                 remaining)


def test_references_trained_for_the_remaining_data_are_reused_and_pinned(
    workspace: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    request_id = _erase_without_verifying(workspace, monkeypatch)
    references = _references(workspace)
    verifier = StatisticalVerifier(workspace.policy, [references], lineage_first=False)  # as the audit's window
    engine = ErasureEngine(workspace.ledger, workspace.policy, verifier)
    record = engine.run(request_id)

    assert record.state == "certified"
    workspace_dir = workspace.ledger.workspace
    statement = load_report(workspace_dir.root / record.require_payload("verified")["report_path"],
                            workspace_dir.signer.public_key)
    assert statement.predicate.reference is not None and statement.predicate.reference.reused
    assert statement.predicate.reference.data_digest == references.data_digest
    digests = {s.name: s.digest["sha256"] for s in statement.subject}
    for name in ("reference", "retrain*"):
        assert (workspace_dir.artifacts_dir / f"{digests[name]}.npz").exists()
    assert any(name.startswith("unlearned/") for name in digests)


def test_a_reference_for_other_remaining_data_is_never_used(workspace: Services) -> None:
    stale = _references(workspace)  # trained before any erasure: the data has changed since
    verifier = StatisticalVerifier(workspace.policy, [stale])
    ledger = workspace.ledger
    subjects = ledger.store.subjects_frame()
    ledger.store.erase_subject(ledger.workspace.subject_ref(str(subjects.iloc[0]["subject"])))
    settings = MethodSettings(**ledger.deployment(stale.deployment_id).settings)
    fresh, reused = verifier.references_for(stale.deployment_id, settings, Interactions.from_store(ledger, "train"),
                                            no_progress)
    assert not reused and fresh.data_digest != stale.data_digest
    assert verifier.references_for(stale.deployment_id, settings, Interactions.from_store(ledger, "train"),
                                   no_progress)[1] is False
