"""RecEraser end to end on small synthetic workspaces: partition in the ledger, aggregator as a checkpoint,
only hit shards (and the aggregator) retrained, lineage provable, requests certified (issue 4)."""

from __future__ import annotations

import math
import shutil
from pathlib import Path

import numpy as np
import pytest
from pydantic import ValidationError
from typer.testing import CliRunner

from ledger import Ledger
from tests.conftest import FAST_BPR
from ui.services import Services, open_services
from ui.cli import app
from unlearn.artifacts import load_arrays
from unlearn.data import load_source
from unlearn.executor import ProcessPoolShardExecutor
from unlearn.ingest import ingest
from unlearn.methods import AGGREGATOR_SHARD, AggregatorConfig, MethodSettings, _receraser, get_method, set_serving
from unlearn.methods._aggregation import (
    AttentionAggregator,
    ShardFactors,
    aggregator_training_ids,
    restore_aggregator,
)
from unlearn.progress import no_progress
from unlearn.requests import ErasureRequest
from unlearn.training_data import Interactions, training_set_digest
from verify._lineage import prove_lineage

SHARDS = 3
FAST_AGGREGATOR = {"epochs": 1, "batch_size": 512}


def _fit(services: Services, method: str = "receraser", **overrides: object) -> str:
    fields = {"method": method, "shards": SHARDS, "model": FAST_BPR, **overrides}
    if method == "receraser":
        fields = {"partition": "inbp", "aggregation": "attention", "aggregator": FAST_AGGREGATOR, **fields}
    deployment = get_method(method).fit(services.ledger, MethodSettings(**fields), no_progress, "test")
    set_serving(services.ledger, deployment.deployment_id)
    return deployment.deployment_id


@pytest.fixture(scope="module")
def prepared(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Synthetic data and a serving RecEraser (InBP + attention) deployment; each test works on a copy."""
    root = tmp_path_factory.mktemp("receraser") / "ws"
    services = open_services(root)
    ingest(services.ledger, load_source("synthetic", seed=0, n_users=150, n_items=90), split_seed=0)
    _fit(services)
    return root


@pytest.fixture
def workspace(prepared: Path, tmp_path: Path) -> Services:
    shutil.copytree(prepared, tmp_path / "ws")
    return open_services(tmp_path / "ws")


def _subject(services: Services, rank: int = 0) -> str:
    subjects = services.ledger.store.subjects_frame().sort_values(["interactions", "user_idx"])
    return str(subjects.iloc[rank]["subject"])


def _artifacts(ledger: Ledger, deployment_id: str) -> dict[int, str]:
    return {s: c.artifact_sha256 for s, c in ledger.live_checkpoints(deployment_id).items()}


def _planned(services: Services, subjects: list[str]) -> tuple[str, list[int]]:
    """A request whose ``planned`` event lists the ids of all these subjects (what the engine records for a
    batch before unlearning); returns its id and those ids. Forgetting is then up to the test."""
    ledger = services.ledger
    ids = sorted(i for s in subjects for i in ledger.subject_interaction_ids(ledger.workspace.subject_ref(s)))
    request_id = services.engine.file(ErasureRequest(subject=subjects[0]))
    ledger.append("request.planned", {"request_id": request_id, "interaction_ids": ids})
    return request_id, ids


def test_fit_records_the_partition_and_the_aggregator_as_a_checkpoint(workspace: Services) -> None:
    ledger = workspace.ledger
    deployment_id = ledger.serving_deployment_id()
    deployment = ledger.deployment(deployment_id)
    train = Interactions.from_store(ledger, "train")

    assignments = ledger.shard_assignments(deployment_id)
    assert sorted(assignments["interaction_id"]) == sorted(train.interaction_id)  # every interaction, once
    assert max(deployment.shard_sizes) <= math.ceil(1.2 * len(train) / SHARDS)
    partition = deployment.facts["partition"]
    assert partition["name"] == "inbp" and partition["pretrain"]["seed"] == 0
    assert partition["pretrain"]["training_set_digest"] == training_set_digest(train.interaction_id)

    live = ledger.live_checkpoints(deployment_id)
    assert sorted(live) == [AGGREGATOR_SHARD, *range(SHARDS)]
    aggregator = live[AGGREGATOR_SHARD]
    assert aggregator.facts["inputs"] == {str(s): live[s].checkpoint_id for s in range(SHARDS)}
    assert aggregator.training_set_digest == training_set_digest(train.interaction_id)  # union of the shards
    assert aggregator.config == AggregatorConfig(**FAST_AGGREGATOR).model_dump(mode="json")
    assert aggregator.parent is None and aggregator.seed == SHARDS  # settings.seed + shards
    assert prove_lineage(ledger, deployment_id, set()).ok


def test_trained_attention_weights_sum_to_one_for_every_user_and_item(workspace: Services) -> None:
    ledger = workspace.ledger
    method = get_method("receraser")
    deployment = method.load(ledger, ledger.serving_deployment_id())
    shards = ShardFactors.of(method._shard_models(ledger, deployment.deployment_id, deployment.settings,
                                                  deployment.checkpoints))
    arrays = load_arrays(ledger.workspace.artifacts_dir, deployment.checkpoints[AGGREGATOR_SHARD].artifact_sha256)
    module = restore_aggregator("attention", shards, arrays, AggregatorConfig())
    assert isinstance(module, AttentionAggregator)
    _, alpha = module.users(shards.users)
    _, _, beta = module.items(shards.items, shards.bias)
    assert alpha.shape == (shards.users.shape[1], SHARDS) and beta.shape == (shards.items.shape[1], SHARDS)
    np.testing.assert_allclose(alpha.sum(1).detach().numpy(), 1.0, rtol=1e-5)
    np.testing.assert_allclose(beta.sum(1).detach().numpy(), 1.0, rtol=1e-5)
    assert (alpha >= 0).all() and (beta >= 0).all()


def test_a_request_retrains_only_hit_shards_and_the_aggregator_and_ends_certified(workspace: Services) -> None:
    ledger = workspace.ledger
    deployment_id = ledger.serving_deployment_id()
    before = _artifacts(ledger, deployment_id)
    subject = _subject(workspace)
    ids = ledger.subject_interaction_ids(ledger.workspace.subject_ref(subject))
    hit = set(ledger.shards_holding(deployment_id, ids))
    assert 0 < len(hit) < SHARDS  # a light subject, so some shard is left alone

    record = workspace.engine.run(workspace.engine.file(ErasureRequest(subject=subject)))
    assert record.state == "certified", record.history[-1].payload
    replaced = record.require_payload("unlearned")["deployments"][0]["replaced"]
    assert sorted(r["shard"] for r in replaced) == sorted([*hit, AGGREGATOR_SHARD])

    after = _artifacts(ledger, deployment_id)
    for shard in range(SHARDS):
        assert (after[shard] == before[shard]) == (shard not in hit)  # untouched shards keep their bytes
    aggregator = ledger.live_checkpoints(deployment_id)[AGGREGATOR_SHARD]
    assert aggregator.parent == next(r["old"] for r in replaced if r["shard"] == AGGREGATOR_SHARD)
    assert aggregator.seed == SHARDS  # the replaced checkpoint's seed
    assert prove_lineage(ledger, deployment_id, set(ids)).ok
    assert ledger.verify().ok


def test_a_batch_over_two_subjects_retrains_each_hit_shard_once(workspace: Services) -> None:
    """Two subjects forgotten by one plan: a shard both hit is retrained once, then the aggregator once."""
    ledger = workspace.ledger
    deployment_id = ledger.serving_deployment_id()
    train = Interactions.from_store(ledger, "train")
    assigned = ledger.shard_assignments(deployment_id).set_index("interaction_id")["shard"]
    subjects = ledger.store.subjects_frame().set_index("user_idx")["subject"].astype(str)
    shards_of = {subjects[user]: set(assigned[train.interaction_id[train.user_idx == user]])
                 for user in np.unique(train.user_idx)}
    widest = max(shards_of, key=lambda s: len(shards_of[s]))  # their shards overlap: shared ones retrain once
    other = next(s for s in shards_of if s != widest and shards_of[s] & shards_of[widest])
    subjects = [widest, other]

    batch, ids = _planned(workspace, subjects)
    method = get_method("receraser")
    plan = method.plan(ledger, deployment_id, ids)
    assert [s.shard for s in plan.shards] == [*sorted(shards_of[widest] | shards_of[other]), AGGREGATOR_SHARD]
    count = len(ledger.checkpoints(deployment_id))
    method.forget(ledger, plan, batch, no_progress, "test")

    new = ledger.checkpoints(deployment_id)[count:]
    assert sorted(c.shard for c in new) == sorted(s.shard for s in plan.shards)  # each exactly once
    assert new[-1].shard == AGGREGATOR_SHARD  # after the shards it aggregates
    assert prove_lineage(ledger, deployment_id, set(ids)).ok


def test_a_crash_before_the_aggregator_resumes_without_retraining_shards(
    workspace: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    ledger = workspace.ledger
    deployment_id = ledger.serving_deployment_id()
    request_id = workspace.engine.file(ErasureRequest(subject=_subject(workspace)))

    def power_cut(*args: object, **kwargs: object) -> None:
        raise KeyboardInterrupt("power cut")

    with monkeypatch.context() as patch:
        patch.setattr(_receraser, "train_aggregator", power_cut)
        with pytest.raises(KeyboardInterrupt):
            workspace.engine.run(request_id)
    assert ledger.request(request_id).state == "planned"
    shards_done = [c.shard for c in ledger.checkpoints(deployment_id) if c.request_id == request_id]
    assert shards_done and AGGREGATOR_SHARD not in shards_done

    assert workspace.engine.run(request_id).state == "certified"
    retrained = [c.shard for c in ledger.checkpoints(deployment_id) if c.request_id == request_id]
    assert sorted(retrained) == sorted([*shards_done, AGGREGATOR_SHARD])  # shards once, aggregator once


def test_a_stale_aggregator_fails_the_lineage_proof(workspace: Services, monkeypatch: pytest.MonkeyPatch) -> None:
    """If the aggregator were not retrained, it would still have learnt from the erased interactions."""
    ledger = workspace.ledger
    deployment_id = ledger.serving_deployment_id()
    request_id, ids = _planned(workspace, [_subject(workspace)])
    method = get_method("receraser")
    plan = method.plan(ledger, deployment_id, ids)
    shards_only = plan.model_copy(update={"shards": [s for s in plan.shards if s.shard != AGGREGATOR_SHARD]})
    method.forget(ledger, shards_only, request_id, no_progress, "test")
    proof = prove_lineage(ledger, deployment_id, set(ids))
    assert not proof.ok and "agg" in proof.summary


@pytest.mark.parametrize(("partition", "aggregation"), [("ubp", "mean"), ("random", "static")])
def test_other_partitions_and_aggregations_forget_exactly(workspace: Services, partition: str, aggregation: str) -> None:
    ledger = workspace.ledger
    deployment_id = _fit(workspace, partition=partition, aggregation=aggregation)
    assert (AGGREGATOR_SHARD in ledger.live_checkpoints(deployment_id)) == (aggregation != "mean")  # mean: nothing to train
    request_id, ids = _planned(workspace, [_subject(workspace)])
    method = get_method("receraser")
    plan = method.plan(ledger, deployment_id, ids)
    assert len([s for s in plan.shards if s.shard >= 0]) == 1  # user-level partitions: one shard per subject
    assert (plan.shards[-1].shard == AGGREGATOR_SHARD) == (aggregation != "mean")
    method.forget(ledger, plan, request_id, no_progress, "test")
    assert prove_lineage(ledger, deployment_id, set(ids)).ok


def test_shards_train_in_worker_processes_like_in_this_one(workspace: Services) -> None:
    ledger = workspace.ledger
    settings = MethodSettings(method="receraser", shards=SHARDS, partition="ubp", aggregation="mean", model=FAST_BPR)
    pooled = get_method("receraser").with_executor(ProcessPoolShardExecutor(2)).fit(ledger, settings, no_progress, "t")
    serial = get_method("receraser").fit(ledger, settings, no_progress, "t")
    for shard in range(SHARDS):
        a, b = pooled.checkpoints[shard], serial.checkpoints[shard]
        assert a.training_set_digest == b.training_set_digest and a.train_seconds > 0
    users = np.arange(20)
    np.testing.assert_allclose(pooled.model.score_all(users), serial.model.score_all(users), rtol=1e-3, atol=1e-3)


def test_bad_settings_are_refused_with_the_known_names(workspace: Services) -> None:
    with pytest.raises(ValidationError, match="unknown partition 'metis'; known: random, ubp, ibp, inbp"):
        MethodSettings(method="receraser", partition="metis")
    with pytest.raises(ValidationError, match="unknown aggregation 'max'; known: attention, mean, static"):
        MethodSettings(method="receraser", aggregation="max")
    with pytest.raises(ValidationError, match="epoch"):
        MethodSettings(method="receraser", aggregator={"epoch": 3})
    with pytest.raises(ValueError, match="belong to receraser"):
        get_method("sisa").fit(workspace.ledger, MethodSettings(method="sisa", partition="inbp"), no_progress, "t")


def test_cli_trains_a_receraser_deployment_and_evaluate_reports_it(workspace: Services) -> None:
    root = str(workspace.ledger.workspace.root)
    result = CliRunner().invoke(app, ["train", "--method", "receraser", "--model", "wmf", "--partition", "ubp",
                                      "--aggregation", "static", "--shards", "2", "--epochs", "2",
                                      "--workers", "1", "--workspace", root])
    assert result.exit_code == 0, result.output
    assert "3 checkpoint(s)" in result.output  # two shards and the aggregator
    result = CliRunner().invoke(app, ["evaluate", "--json", "--workspace", root])
    assert result.exit_code == 0 and '"method": "receraser"' in result.output
    result = CliRunner().invoke(app, ["train", "--method", "receraser", "--partition", "nope", "--workspace", root])
    assert result.exit_code == 2 and "unknown partition 'nope'" in result.output


def test_a_capped_aggregator_trains_on_a_hashed_choice_that_erasure_keeps_stable() -> None:
    """Above max_pairs the aggregator trains on the lowest-hash ids: erased ids leave, every kept one stays,
    and the choice is the same whoever computes it (fit, retrain, lineage proof)."""
    ids = np.arange(10_000, 30_000, dtype=np.int64)
    config = AggregatorConfig(max_pairs=2_000)
    chosen = aggregator_training_ids(ids, config, seed=3)
    assert len(chosen) == 2_000 and np.isin(chosen, ids).all() and (np.diff(chosen) > 0).all()
    np.testing.assert_array_equal(chosen, aggregator_training_ids(ids[::-1].copy(), config, seed=3))
    assert len(np.intersect1d(chosen, aggregator_training_ids(ids, config, seed=4))) < 400  # ~10% by chance
    erased = chosen[:300]
    after = aggregator_training_ids(np.setdiff1d(ids, erased), config, seed=3)
    assert len(after) == 2_000 and not np.isin(erased, after).any()
    assert np.isin(np.setdiff1d(chosen, erased), after).all()
    np.testing.assert_array_equal(aggregator_training_ids(ids, AggregatorConfig(max_pairs=None), 3), ids)


def test_a_capped_aggregator_is_retrained_on_its_choice_and_its_lineage_proves(workspace: Services) -> None:
    ledger = workspace.ledger
    deployment_id = _fit(workspace, aggregator={**FAST_AGGREGATOR, "max_pairs": 500})
    assert ledger.live_checkpoints(deployment_id)[AGGREGATOR_SHARD].n_interactions == 500
    subject = _subject(workspace, rank=-1)
    ids = ledger.subject_interaction_ids(ledger.workspace.subject_ref(subject))

    record = workspace.engine.run(workspace.engine.file(ErasureRequest(subject=subject)))
    assert record.state == "certified", record.history[-1].payload
    aggregator = ledger.live_checkpoints(deployment_id)[AGGREGATOR_SHARD]
    assert aggregator.n_interactions == 500 and aggregator.request_id == record.request_id
    assert prove_lineage(ledger, deployment_id, set(ids)).ok
