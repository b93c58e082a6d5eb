"""LASER end to end on a small synthetic workspace (issue 6): groups and a checkpoint chain in the ledger, only the
hit group and later ones retrained from the checkpoint before it, exact, resumable, certified; DMF and NeuMF."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from ledger import Ledger
from ui.services import Services, open_services
from ui.cli import app
from unlearn.artifacts import load_arrays
from unlearn.data import load_source
from unlearn.engine import ErasureEngine
from unlearn.ingest import ingest
from unlearn.methods import MethodSettings, _laser, get_method, set_serving
from unlearn.registry import base_model
from unlearn.progress import no_progress
from unlearn.requests import ErasureRequest
from unlearn.training_data import Interactions
from verify._lineage import prove_lineage

GROUPS = 4
# lr 0.01, not the paper's 0.001: three epochs on 80 users must learn something, or every model (reference
# included) is its random initialisation and the verifier's comparisons measure nothing but noise
FAST_NEURAL = {"epochs": 3, "batch_size": 256, "learning_rate": 0.01}
FAST_OPTIONS = {"walks": {"dimensions": 8, "epochs": 2}}


def _settings(**overrides: object) -> MethodSettings:
    fields = {"method": "laser", "base_model": "dmf", "shards": GROUPS, "model": FAST_NEURAL, "options": FAST_OPTIONS}
    return MethodSettings(**{**fields, **overrides})


@pytest.fixture(scope="module")
def prepared(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Synthetic data and a serving LASER (CBKM, easy to hard, DMF) deployment; each test works on a copy."""
    root = tmp_path_factory.mktemp("laser") / "ws"
    services = open_services(root)
    ingest(services.ledger, load_source("synthetic", seed=0, n_users=80, n_items=60), split_seed=0)
    deployment = get_method("laser").fit(services.ledger, _settings(), no_progress, "test")
    set_serving(services.ledger, deployment.deployment_id)
    return root


@pytest.fixture
def workspace(prepared: Path, tmp_path: Path) -> Services:
    shutil.copytree(prepared, tmp_path / "ws")
    return open_services(tmp_path / "ws")


def _subject_in_group(services: Services, group: int) -> str:
    ledger = services.ledger
    deployment_id = ledger.serving_deployment_id()
    group_of = ledger.shard_assignments(deployment_id).set_index("interaction_id")["shard"]
    train = Interactions.from_store(ledger, "train")
    user = int(train.user_idx[group_of.loc[train.interaction_id].to_numpy() == group][0])
    subjects = ledger.store.subjects_frame().set_index("user_idx")["subject"]
    return str(subjects[user])


def _unverified(services: Services) -> ErasureEngine:
    """The workspace's engine, stopping at ``data_erased`` (verification left to an audit): for tests about
    forgetting alone, without the seconds the verifier's reference retrains take."""
    return ErasureEngine(services.ledger, services.policy, None, defer_verification=True)


def _live(ledger: Ledger) -> dict[int, dict]:
    return ledger.live_checkpoints(ledger.serving_deployment_id())


def test_fit_records_ordered_groups_and_a_chain_of_checkpoints(workspace: Services) -> None:
    ledger = workspace.ledger
    deployment_id = ledger.serving_deployment_id()
    groups = ledger.deployment(deployment_id).facts["groups"]
    assert groups["grouping"] == "cbkm" and groups["order"] == "easy_to_hard"
    assert groups["cohesion"] == sorted(groups["cohesion"], reverse=True)  # most cohesive (easiest) first
    assert max(groups["users"]) <= -(-sum(groups["users"]) // GROUPS)  # balanced: at most ⌈N/S⌉ users
    assert 0.5 < groups["expected_cost_fraction"] < 1  # Eq. 7 / Z ≈ (1 + 1/S) / 2 for balanced groups
    # the synthetic data carry 1–5 ratings: "auto" keeps the paper's average, and the rule used is on record
    embedding = groups["embedding"]
    assert embedding["config"]["vertex_weight"] == "auto" and embedding["vertex_weight"] == "average"

    train = Interactions.from_store(ledger, "train")
    assigned = ledger.shard_assignments(deployment_id)
    assert sorted(assigned["interaction_id"]) == sorted(train.interaction_id)
    group_of = assigned.set_index("interaction_id")["shard"].loc[train.interaction_id].to_numpy()
    assert all(len(set(group_of[train.user_idx == u])) == 1 for u in np.unique(train.user_idx))  # user-wise

    live = _live(ledger)
    assert sorted(live) == list(range(GROUPS))
    assert live[0].parent is None
    for g in range(1, GROUPS):
        assert live[g].parent == live[g - 1].checkpoint_id
        assert live[g].n_interactions == live[g - 1].n_interactions + live[g].facts["group_interactions"]
    assert live[GROUPS - 1].n_interactions == len(train)  # the serving checkpoint trained on everything
    assert prove_lineage(ledger, deployment_id, set()).ok


def test_a_request_retrains_from_the_hit_group_on_and_ends_certified(workspace: Services) -> None:
    ledger = workspace.ledger
    deployment_id = ledger.serving_deployment_id()
    hit = 1
    subject = _subject_in_group(workspace, hit)
    before = _live(ledger)
    [plan] = workspace.engine.preview(ledger.workspace.subject_ref(subject))
    assert [s.shard for s in plan.shards] == list(range(hit, GROUPS))  # the hit group and every later one
    sizes = [before[g].facts["group_interactions"] for g in range(GROUPS)]
    assert plan.estimated_cost_fraction == pytest.approx(sum(sizes[hit:]) / sum(sizes))

    record = workspace.engine.run(workspace.engine.file(ErasureRequest(subject=subject)))
    assert record.state == "certified", record.history[-1].payload
    replaced = record.require_payload("unlearned")["deployments"][0]["replaced"]
    assert [r["shard"] for r in replaced] == list(range(hit, GROUPS))

    after = _live(ledger)
    for g in range(hit):  # earlier checkpoints untouched, their artifacts still there
        assert after[g] == before[g]
        load_arrays(ledger.workspace.artifacts_dir, after[g].artifact_sha256)
    assert after[hit].parent == before[hit - 1].checkpoint_id  # restored: the checkpoint before the hit group
    for g in range(hit, GROUPS):
        assert after[g].facts["replaces"] == before[g].checkpoint_id and after[g].seed == before[g].seed
        assert after[g].parent == (after[g - 1].checkpoint_id)
    ids = ledger.subject_interaction_ids(ledger.workspace.subject_ref(subject))
    assert prove_lineage(ledger, deployment_id, set(ids)).ok
    assert record.require_payload("certified")["certificate_id"]
    assert ledger.verify().ok


def test_unlearning_is_exactly_seqtrain_without_the_subject(workspace: Services) -> None:
    """Restoring the checkpoint before the hit group and retraining equals training every group from scratch
    without the subject, with the same groups, order and seeds (bit for bit on one machine)."""
    ledger = workspace.ledger
    deployment_id = ledger.serving_deployment_id()
    subject = _subject_in_group(workspace, 2)
    ids = set(ledger.subject_interaction_ids(ledger.workspace.subject_ref(subject)))
    settings = MethodSettings(**ledger.deployment(deployment_id).settings)
    train = Interactions.from_store(ledger, "train").without(ids)
    group_of = ledger.shard_assignments(deployment_id).set_index("interaction_id")["shard"]
    groups = group_of.loc[train.interaction_id].to_numpy()
    model = None
    for g in range(GROUPS):
        model = _laser.train_group("dmf", settings.model_config_object(), train.subset(groups == g),
                                   _live(ledger)[g].seed, model)

    engine = _unverified(workspace)
    assert engine.run(engine.file(ErasureRequest(subject=subject))).state == "data_erased"
    served = get_method("laser").load(ledger, deployment_id).model
    users = np.arange(train.n_users)
    np.testing.assert_array_equal(served.score_all(users), model.score_all(users))


def test_a_crash_half_way_through_the_retrain_resumes_at_the_next_group(
    workspace: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    ledger = workspace.ledger
    deployment_id = ledger.serving_deployment_id()
    engine = _unverified(workspace)
    request_id = engine.file(ErasureRequest(subject=_subject_in_group(workspace, 0)))  # all 4 groups retrain
    trained = _laser.train_group
    calls: list[int] = []

    def power_cut_on_third_group(*args: object, **kwargs: object) -> object:
        calls.append(1)
        if len(calls) == 3:
            raise KeyboardInterrupt("power cut")
        return trained(*args, **kwargs)

    with monkeypatch.context() as patch:
        patch.setattr(_laser, "train_group", power_cut_on_third_group)
        with pytest.raises(KeyboardInterrupt):
            engine.run(request_id)
    assert ledger.request(request_id).state == "planned"
    done = [c.shard for c in ledger.checkpoints(deployment_id) if c.request_id == request_id]
    assert done == [0, 1]

    assert engine.run(request_id).state == "data_erased"  # forgotten and erased; verification deferred
    retrained = [c for c in ledger.checkpoints(deployment_id) if c.request_id == request_id]
    assert [c.shard for c in retrained] == [0, 1, 2, 3]  # each group once
    assert retrained[2].parent == retrained[1].checkpoint_id  # resumed from the group done before the crash
    assert prove_lineage(ledger, deployment_id, set(ledger.erased_interaction_ids([request_id]))).ok


def test_hard_to_easy_reverses_the_order_and_bkm_groups_rating_rows(workspace: Services) -> None:
    ledger = workspace.ledger
    options = {**FAST_OPTIONS, "grouping": "bkm", "order": "hard_to_easy"}
    deployment = get_method("laser").fit(ledger, _settings(base_model="neumf", options=options), no_progress, "t")
    groups = ledger.deployment(deployment.deployment_id).facts["groups"]
    assert groups["grouping"] == "bkm" and groups["cohesion"] == sorted(groups["cohesion"])  # least cohesive first
    assert deployment.settings.options["order"] == "hard_to_easy"  # recorded with every default filled in
    assert deployment.settings.options["walks"]["repetitions"] == 4
    assert prove_lineage(ledger, deployment.deployment_id, set()).ok


def test_bad_settings_are_refused_with_a_reason(workspace: Services) -> None:
    method, ledger = get_method("laser"), workspace.ledger
    refusal = r"needs a base model that can continue training; 'bpr' cannot \(use one of: .*dmf.*neumf"
    with pytest.raises(ValueError, match=refusal):
        method.fit(ledger, _settings(base_model="bpr"), no_progress, "t")
    with pytest.raises(ValueError, match="(?s)bad LASER option.*grouping"):
        method.fit(ledger, _settings(options={"grouping": "metis"}), no_progress, "t")
    with pytest.raises(ValueError, match="(?s)bad LASER option.*orderr"):
        method.fit(ledger, _settings(options={"orderr": "easy_to_hard"}), no_progress, "t")
    with pytest.raises(ValueError, match="belong to receraser"):
        method.fit(ledger, _settings(partition="ubp"), no_progress, "t")


def test_cli_trains_laser_with_options(workspace: Services) -> None:
    root = str(workspace.ledger.workspace.root)
    result = CliRunner().invoke(app, ["train", "--method", "laser", "--model", "neumf", "--epochs", "1",
                                      "-o", "grouping=rand", "-o", "order=hard_to_easy", "-o", "groups=2",
                                      "--workspace", root])
    assert result.exit_code == 0, result.output
    assert "2 checkpoint(s)" in result.output
    deployment = workspace.ledger.deployments()[-1]
    assert deployment.settings["shards"] == 2 and deployment.facts["groups"]["order"] == "hard_to_easy"


@pytest.mark.parametrize("name", ["dmf", "neumf"])
def test_neural_models_round_trip_and_continue_from_a_model(name: str) -> None:
    spec = base_model(name)
    rng = np.random.default_rng(0)
    users, items = rng.integers(0, 30, 300), rng.integers(0, 20, 300)
    config = spec.config_class(epochs=1, batch_size=64)
    model = spec.train(users[:150], items[:150], 30, 20, config, seed=1)
    loaded = spec.from_arrays(model.to_arrays())
    grid_users = np.arange(30)
    np.testing.assert_allclose(loaded.score_all(grid_users), model.score_all(grid_users), rtol=1e-5, atol=1e-6)
    pairs_u, pairs_i = rng.integers(0, 30, 50), rng.integers(0, 20, 50)
    np.testing.assert_allclose(model.score(pairs_u, pairs_i), model.score_all(grid_users)[pairs_u, pairs_i],
                               rtol=1e-4, atol=1e-5)  # NeuMF's blocked score_all = the per-pair forward pass
    assert model.trained_users().sum() == len(np.unique(users[:150]))

    continued = spec.train(users[150:], items[150:], 30, 20, config, seed=2, init=model)
    assert continued.trained_users().sum() == len(np.unique(users))  # knows both halves' users
    untouched = np.setdiff1d(np.arange(30), users[150:])
    np.testing.assert_array_equal(continued.user_embeddings()[untouched], model.user_embeddings()[untouched])
    with pytest.raises(TypeError, match="cannot continue"):
        base_model("neumf" if name == "dmf" else "dmf").train(users, items, 30, 20, config, seed=0, init=model)
