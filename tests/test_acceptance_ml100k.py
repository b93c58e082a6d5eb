"""Acceptance on real data (MovieLens-100K): SISA with 5 shards forgets one subject by retraining one shard."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.conftest import FAST_BPR
from ui.services import Services, open_services
from unlearn.data import load_source
from unlearn.ingest import ingest
from unlearn.methods import MethodSettings, get_method, set_serving
from unlearn.progress import no_progress
from unlearn.requests import ErasureRequest
from verify import load_report

SUBJECT = "42"


@pytest.fixture(scope="module")
def erased(shared_data: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    services: Services = open_services(tmp_path_factory.mktemp("ml100k"))
    ledger = services.ledger
    ingest(ledger, load_source("ml-100k", shared_data / "ml-100k"))
    settings = MethodSettings(method="sisa", shards=5, seed=0, model={**FAST_BPR, "epochs": 5, "embedding_size": 32})
    deployment = get_method("sisa").fit(ledger, settings, no_progress, "test")
    set_serving(ledger, deployment.deployment_id)
    before = ledger.live_checkpoints(deployment.deployment_id)
    request_id = services.engine.file(ErasureRequest(subject=SUBJECT))
    services.engine.run(request_id)  # certified on the lineage proof (the default policy)
    record = services.engine.verify_statistically(request_id)  # what the audit runs next
    return {"services": services, "deployment_id": deployment.deployment_id, "before": before, "record": record}


def test_erasing_one_subject_retrains_exactly_one_of_five_shards(erased: dict[str, Any]) -> None:
    ledger = erased["services"].ledger
    after = ledger.live_checkpoints(erased["deployment_id"])
    before = erased["before"]
    changed = [s for s in range(5) if after[s].checkpoint_id != before[s].checkpoint_id]
    assert len(changed) == 1
    shard = changed[0]
    assert after[shard].parent == before[shard].checkpoint_id
    assert after[shard].n_interactions < before[shard].n_interactions
    for other in set(range(5)) - {shard}:
        assert after[other].artifact_sha256 == before[other].artifact_sha256


def test_no_row_of_the_subject_remains_and_forgotten_pairs_score_lower(erased: dict[str, Any]) -> None:
    services, record = erased["services"], erased["record"]
    assert record.state == "certified"
    assert services.ledger.store.subject(SUBJECT) is None
    assert services.ledger.store.interactions(user_idx=41).empty  # ids 1..943 map to indices 0..942
    follow_up = record.require_payload("statistically_verified")
    assert follow_up["passed"]
    workspace = services.ledger.workspace
    metrics = load_report(workspace.root / follow_up["report_path"], workspace.signer.public_key).predicate.metrics
    assert metrics["unlearned"]["re-predict"] < metrics["original"]["re-predict"]
