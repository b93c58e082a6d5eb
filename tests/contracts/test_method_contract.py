"""The unlearning-method contract, run on every registered method: what the engine relies on, checked the same way.

Each method, on the same small synthetic workspace: fit records a deployment whose settings and checkpoints
read back from the ledger (every checkpoint's training set re-derives to its recorded digest); load gives a model
that ranks; plan says, from the ledger alone, which checkpoints a subject's interactions hit; a crash right after
forget recorded its checkpoints (before the engine recorded the step) resumes without training anything twice;
after it, no live checkpoint of an exact method trained on a forgotten id, and an approximate method's says which
request it was updated to forget. A method gets this suite by registering.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from ledger import Ledger, RequestError
from policies import load_policy
from tests.contracts._settings import method_settings
from ui.services import open_services
from unlearn.data import load_source
from unlearn.engine import ErasureEngine
from unlearn.ingest import ingest
from unlearn.methods import MethodSettings, get_method, methods, set_serving
from unlearn.progress import no_progress
from unlearn.requests import ErasureRequest
from unlearn.training_data import training_set_digest


class Crash(RuntimeError):
    """The process dies here."""


@pytest.fixture(scope="session")
def data_only_workspace(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("contract") / "ws"
    ingest(open_services(root).ledger, load_source("synthetic", seed=1, n_users=120, n_items=80), split_seed=1)
    return root


def _crash_once_on(ledger: Ledger, kind: str, monkeypatch: pytest.MonkeyPatch) -> None:
    append = ledger.append

    def crashing(event_kind: str, *args: object, **kwargs: object) -> object:
        if event_kind == kind:
            monkeypatch.setattr(ledger, "append", append)
            raise Crash(f"killed before {kind} was recorded")
        return append(event_kind, *args, **kwargs)

    monkeypatch.setattr(ledger, "append", crashing)


@pytest.mark.parametrize("name", sorted(methods()))
def test_a_method_fits_plans_forgets_resumes_and_proves_its_lineage(
    name: str, data_only_workspace: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = tmp_path / "ws"
    shutil.copytree(data_only_workspace, root)
    ledger = open_services(root).ledger
    method, settings = get_method(name), method_settings(get_method(name))

    # 1. fit, and the record round-trips
    deployment = method.fit(ledger, settings, no_progress, "contract")
    set_serving(ledger, deployment.deployment_id)
    recorded = MethodSettings(**ledger.deployment(deployment.deployment_id).settings)
    assert (recorded.method, recorded.base_model, recorded.seed) == (name, settings.base_model, settings.seed)
    for checkpoint in deployment.checkpoints.values():
        assert training_set_digest(method.training_ids(ledger, checkpoint)) == checkpoint.training_set_digest

    # 2. load gives a model that ranks
    before = method.load(ledger, deployment.deployment_id).model
    assert before.recommend(np.arange(5), 5).shape == (5, 5)

    # 3. plan, from the ledger alone
    subjects = ledger.store.subjects_frame().sort_values(["interactions", "subject"], ascending=[False, True])
    subject = str(subjects.iloc[0]["subject"])
    ids = ledger.subject_interaction_ids(ledger.workspace.subject_ref(subject))
    plan = method.plan(ledger, deployment.deployment_id, ids)
    assert plan.exact == method.exact and plan.shards and plan.interactions_hit > 0
    assert {s.checkpoint_id for s in plan.shards} <= {c.checkpoint_id for c in deployment.checkpoints.values()}

    # 4. forget through the engine, killed right after the method recorded its checkpoints; then resumed
    engine = ErasureEngine(ledger, load_policy(), verifier=None)
    request_id = engine.file(ErasureRequest(subject=subject))
    _crash_once_on(ledger, "request.unlearned", monkeypatch)
    with pytest.raises(Crash):
        engine.run(request_id)
    checkpoints = len(ledger.checkpoints(deployment.deployment_id))
    assert checkpoints > len(deployment.checkpoints), "forget recorded no checkpoint"
    with pytest.raises(RequestError, match="no verifier"):
        engine.run(request_id)  # resumes: the method sees its work done; stops where verification would start
    assert engine.require(request_id).state == "data_erased"
    assert len(ledger.checkpoints(deployment.deployment_id)) == checkpoints, "a resumed forget trained again"

    # 5. lineage of what serves now
    forgotten = set(engine.require(request_id).require_payload("planned")["interaction_ids"])
    after = method.load(ledger, deployment.deployment_id)
    for checkpoint in after.checkpoints.values():
        trained = set(method.training_ids(ledger, checkpoint).tolist())
        if method.exact:
            assert not trained & forgotten, f"{checkpoint.checkpoint_id} still trained on erased ids"
        elif checkpoint.shard >= 0:
            assert request_id in checkpoint.facts["forgets_requests"]
    assert after.model.recommend(np.arange(5), 5).shape == (5, 5)
