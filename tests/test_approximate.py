"""Approximate unlearning (issue 7): AltEraser's row solvers, warm start, CFF, the noise scenario, and an
approximate request through the engine to a certificate that says it is approximate."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import torch
from pydantic import ValidationError

from ledger import RequestRecord

from unlearn.data import load_source
from unlearn.ingest import ingest
from unlearn.methods import AltEraserOptions, CFFOptions, MethodSettings, WarmStartOptions, get_method, set_serving
from unlearn.methods._alteraser import alteraser, hf_newton
from unlearn.methods._cff import cff_unlearn
from unlearn.methods._objectives import BPRObjective, WMFObjective
from unlearn.methods._warm_start import hold_out, warm_start
from unlearn.models import BPRConfig, RatingMFConfig, WMFConfig, train_bpr, train_rating_mf, train_wmf
from unlearn.noise import NoiseScenario, inject_noise
from unlearn.progress import no_progress
from unlearn.requests import ErasureRequest
from unlearn.training_data import Interactions
from verify import APPROXIMATE_NOTICE, repredict_score, verify_certificate_file

WMF = WMFConfig(embedding_size=8, epochs=6)


@pytest.fixture(scope="module")
def data() -> Interactions:
    """A small low-rank implicit data set (users prefer items close in a 3-d taste space)."""
    rng = np.random.default_rng(0)
    m, n = 80, 50
    taste = rng.normal(size=(m, 3)) @ rng.normal(size=(3, n))
    u, i = np.nonzero(taste + rng.normal(scale=0.5, size=(m, n)) > 1.0)
    return Interactions(np.arange(1, len(u) + 1), u, i, m, n)


@pytest.fixture(scope="module")
def split(data: Interactions) -> tuple[Interactions, Interactions]:
    """Eight users forget half of their interactions: ``(remaining, forgotten)``."""
    rng = np.random.default_rng(1)
    forgetting = rng.choice(np.unique(data.user_idx), size=8, replace=False)
    ids = np.concatenate([rng.choice(data.interaction_id[data.user_idx == u], size=(data.user_idx == u).sum() // 2,
                                     replace=False) for u in forgetting])
    return data.without(ids), data.subset(np.isin(data.interaction_id, ids))


def test_ah_newton_row_step_is_the_dense_weighted_least_squares_optimum(data: Interactions) -> None:
    model = train_wmf(data.user_idx, data.item_idx, data.n_users, data.n_items, WMF, seed=0)
    objective = WMFObjective(data, model, WMF)
    items = objective.factors["item"].numpy()
    for block in objective.blocks("user"):
        x = objective.factors["user"][block.rows] + 0.3  # anywhere: one Newton step on a quadratic is exact
        hessian, gradient = objective.newton_system("user", x, block, objective.factors["item"])
        solved = (x - torch.linalg.solve(hessian, gradient.unsqueeze(-1)).squeeze(-1)).numpy()
        for k, user in enumerate(block.rows.tolist()):
            y = np.zeros(data.n_items)
            y[data.item_idx[data.user_idx == user]] = 1.0
            c = 1.0 + WMF.weight * y  # confidence: 1 + weight observed, 1 missing
            dense = np.linalg.solve(items.T @ (c[:, None] * items) + WMF.reg * np.eye(8), items.T @ (c * y))
            np.testing.assert_allclose(solved[k], dense, atol=1e-8)


def test_hf_newton_matches_ah_on_the_squared_loss_and_lowers_bpr_rows(data: Interactions) -> None:
    model = train_wmf(data.user_idx, data.item_idx, data.n_users, data.n_items, WMF, seed=0)
    objective = WMFObjective(data, model, WMF)
    # d = 8: eight CG iterations solve the row's system; one undamped Newton step then is its optimum
    items, options = objective.factors["item"], AltEraserOptions(solver="hf", newton_iterations=1, damping=1e-12,
                                                                 cg_iterations=8, cg_tol=1e-12)
    block = objective.blocks("user")[0]
    start = objective.factors["user"][block.rows] + 0.3
    hessian, gradient = objective.newton_system("user", start, block, items)
    ah = start - torch.linalg.solve(hessian, gradient.unsqueeze(-1)).squeeze(-1)
    hf = hf_newton(lambda z: objective.row_losses("user", z, block, items), start, options)
    torch.testing.assert_close(hf, ah, atol=1e-6, rtol=0)

    config = BPRConfig(embedding_size=8, epochs=2, batch_size=128)
    bpr = BPRObjective(data, train_bpr(data.user_idx, data.item_idx, data.n_users, data.n_items, config, 0),
                       config, negatives=2, seed=0)
    one_step = AltEraserOptions(solver="hf", newton_iterations=1, cg_iterations=10)
    for side in ("user", "item"):
        block = bpr.blocks(side)[-1]
        x = bpr.factors[side][block.rows]
        losses = lambda z, b=block, s=side: bpr.row_losses(s, z, b, bpr.other(s))  # noqa: E731
        after = losses(hf_newton(losses, x, one_step))
        assert (after <= losses(x) + 1e-9).all() and (after < losses(x) - 1e-6).any()


def _full(remaining: Interactions, forgotten: Interactions) -> Interactions:
    return Interactions(np.concatenate([remaining.interaction_id, forgotten.interaction_id]),
                        np.concatenate([remaining.user_idx, forgotten.user_idx]),
                        np.concatenate([remaining.item_idx, forgotten.item_idx]), remaining.n_users, remaining.n_items)


def test_alteraser_moves_the_repredict_score_toward_a_retrain(split: tuple[Interactions, Interactions]) -> None:
    remaining, forgotten = split
    full = _full(remaining, forgotten)
    original = train_wmf(full.user_idx, full.item_idx, full.n_users, full.n_items, WMF, 0)
    retrain = train_wmf(remaining.user_idx, remaining.item_idx, full.n_users, full.n_items, WMF, 0)
    unlearned, facts = alteraser(WMFObjective(remaining, original, WMF), forgotten, AltEraserOptions(solver="ah"))
    pairs = (forgotten.user_idx, forgotten.item_idx)
    before, after, target = (repredict_score(m, *pairs) for m in (original, unlearned, retrain))
    assert after < before
    assert abs(after - target) < 0.5 * abs(before - target)
    assert facts["decrease"][0] > 0 and facts["erase_rows"]["user"] == 8


@pytest.mark.parametrize("solver, max_passes", [("ah", 0), ("ah", 2), ("hf", 1)])
def test_alteraser_pass_decreases_add_up_to_the_objective_change(
    split: tuple[Interactions, Interactions], solver: str, max_passes: int
) -> None:
    """The stopping rule reads each pass's decrease summed from its row updates instead of re-evaluating the
    objective (issue 7: three evaluations per run cost more than the erase pass): the sums must be exact."""
    remaining, forgotten = split
    full = _full(remaining, forgotten)
    original = train_wmf(full.user_idx, full.item_idx, full.n_users, full.n_items, WMF, 0)
    start = WMFObjective(remaining, original, WMF).value()
    options = AltEraserOptions(solver=solver, max_passes=max_passes, tol=0.0, newton_iterations=1, cg_iterations=8,
                               cg_tol=1e-12, damping=1e-12)
    unlearned, facts = alteraser(WMFObjective(remaining, original, WMF), forgotten, options)
    end = WMFObjective(remaining, unlearned, WMF)
    end.factors = {side: torch.from_numpy(getattr(unlearned, f"{side}_factors")).double() for side in ("user", "item")}
    assert facts["full_passes"] == max_passes and len(facts["decrease"]) == max_passes + 1
    assert all(d > 0 for d in facts["decrease"])
    # the model is stored in float32: its objective matches the summed decreases to float32 precision
    assert start - sum(facts["decrease"]) == pytest.approx(end.value(), rel=1e-5)
    if max_passes:  # the objective was evaluated at the start: the facts carry it after each pass
        assert facts["objective"][0] == pytest.approx(start) and facts["objective"][-1] < facts["objective"][0]
    else:  # the erase pass alone: no evaluation of the objective at all (that is what makes it fast)
        assert "objective" not in facts
    rows = len(np.unique(forgotten.user_idx)) + len(np.unique(forgotten.item_idx))
    assert facts["rows_solved"] == rows + max_passes * (full.n_users + full.n_items)


def test_wmf_objective_value_is_the_sum_of_its_row_losses(data: Interactions) -> None:
    model = train_wmf(data.user_idx, data.item_idx, data.n_users, data.n_items, WMF, seed=0)
    objective = WMFObjective(data, model, WMF)
    rows = sum(float(objective.row_losses("user", objective.factors["user"][b.rows], b, objective.factors["item"]).sum())
               for b in objective.blocks("user"))
    assert objective.value() == pytest.approx(rows + float(objective.regulariser("item", objective.factors["item"])),
                                              rel=1e-12)


def test_warm_start_forgets_and_stops_on_its_validation_recall(split: tuple[Interactions, Interactions]) -> None:
    """Issue 7 regression: warm start returned the unmodified original (it stopped on the training objective,
    whose best was epoch 0). Now it must move, lower the forgotten pairs' re-predict score, and record the
    validation recall it stopped on."""
    remaining, forgotten = split
    full = _full(remaining, forgotten)
    original = train_wmf(full.user_idx, full.item_idx, full.n_users, full.n_items, WMF, 0)
    options = WarmStartOptions(max_epochs=60, min_epochs=4, patience=3, learning_rate=0.01, validation_fraction=0.1)
    fit, validation = hold_out(remaining, options.validation_fraction, seed=0)
    assert len(fit) + len(validation) == len(remaining) and not np.isin(fit.interaction_id,
                                                                         validation.interaction_id).any()
    assert (np.bincount(fit.user_idx, minlength=fit.n_users) > 0).sum() == len(np.unique(remaining.user_idx))
    model, facts = warm_start(WMFObjective(fit, original, WMF), validation, options, seed=0)
    pairs = (forgotten.user_idx, forgotten.item_idx)
    assert repredict_score(model, *pairs) < repredict_score(original, *pairs)
    assert np.abs(model.user_factors - original.user_factors).max() > 1e-3
    recall = facts["validation"]["per_epoch"]
    assert len(recall) == facts["epochs"] + 1 and facts["validation"]["pairs"] == len(validation)
    assert facts["best_epoch"] >= options.min_epochs
    assert facts["validation"]["best"] == pytest.approx(max(recall[options.min_epochs:]), abs=1e-6)
    assert facts["stopped_early"] and facts["epochs"] - facts["best_epoch"] == options.patience
    with pytest.raises(ValueError, match="min_epochs 5 > max_epochs 4"):
        warm_start(WMFObjective(fit, original, WMF), validation, WarmStartOptions(min_epochs=5, max_epochs=4), 0)


def test_warm_start_method_holds_out_its_validation_slice_from_the_fine_tuning(
    split: tuple[Interactions, Interactions],
) -> None:
    remaining, forgotten = split
    original = train_wmf(remaining.user_idx, remaining.item_idx, remaining.n_users, remaining.n_items, WMF, 0)
    options = {"max_epochs": 3, "min_epochs": 1, "patience": 1, "validation_fraction": 0.1}
    settings = MethodSettings(method="warm_start", base_model="wmf", model=WMF.model_dump(), options=options)
    _, facts = get_method("warm_start").unlearn(original, remaining, forgotten, settings, seed=3)
    _, validation = hold_out(remaining, 0.1, seed=3)
    assert facts["validation"]["pairs"] == len(validation) > 0 and facts["validation"]["metric"] == "recall@20"
    with pytest.raises(ValueError, match="holds out no interaction"):
        hold_out(remaining.subset(np.arange(len(remaining)) < 1), 0.1, seed=0)


def _indexed(frame: pd.DataFrame) -> tuple[pd.DataFrame, int, int]:
    frame = frame.assign(user_idx=pd.factorize(frame["subject"], sort=True)[0],
                         item_idx=pd.factorize(frame["item"], sort=True)[0],
                         interaction_id=np.arange(1, len(frame) + 1))
    return frame, int(frame["user_idx"].max()) + 1, int(frame["item_idx"].max()) + 1


def test_cff_fused_model_beats_the_faulty_model_on_the_clean_test() -> None:
    raw = load_source("synthetic", seed=3, n_users=200, n_items=100, mean_interactions=25)
    noisy = inject_noise(raw, NoiseScenario(user_fraction=0.2, data_fraction=0.5, seed=3))
    frame, n_users, n_items = _indexed(noisy.raw.frame)
    train, test = frame[frame["split"] == "train"], frame[frame["split"] == "test"]
    noise = train["interaction_id"].isin(noisy.interaction_ids()).to_numpy()
    config = RatingMFConfig(embedding_size=16, epochs=10, learning_rate=0.01, reg=0.1)
    faulty = train_rating_mf(train["user_idx"].to_numpy(), train["item_idx"].to_numpy(), n_users, n_items, config, 0,
                             ratings=train["rating"].to_numpy())
    clean = train[~noise]
    fused, facts = cff_unlearn(faulty, Interactions.from_frame(clean, n_users, n_items),
                               Interactions.from_frame(train[noise], n_users, n_items), config,
                               CFFOptions(fusion_epochs=5, hidden=64, rescue_epochs=10), 0, clean["rating"].to_numpy())

    def rmse(model: object) -> float:
        predicted = model.score(test["user_idx"].to_numpy(), test["item_idx"].to_numpy())  # type: ignore[attr-defined]
        return float(np.sqrt(np.mean((predicted - test["rating"].to_numpy()) ** 2)))

    assert facts["explicit"] and facts["rescue_entries"] == int(noise.sum())
    assert rmse(fused) < rmse(faulty)


def test_noise_generator_is_seeded_and_its_requests_remove_exactly_the_injected_rows(tmp_path: Path) -> None:
    from ui.services import open_services

    raw = load_source("synthetic", seed=0, n_users=120, n_items=80)
    scenario = NoiseScenario(user_fraction=0.1, data_fraction=0.3, seed=7)
    noisy = inject_noise(raw, scenario)
    assert inject_noise(raw, scenario).raw.digest == noisy.raw.digest
    assert inject_noise(raw, scenario.model_copy(update={"seed": 8})).raw.digest != noisy.raw.digest
    requests = noisy.requests()
    assert len(requests) == 12 and noisy.raw.params["noise"]["seed"] == 7
    frame = noisy.raw.frame
    original_pairs = set(zip(raw.frame["subject"], raw.frame["item"]))
    services = open_services(tmp_path / "ws")
    ingest(services.ledger, noisy.raw)
    store = services.ledger.store.interactions()
    injected = set()
    for request in requests:
        user_idx = services.ledger.store.subject(request.subject)[1]
        rows = store[store["interaction_id"].isin(request.interaction_ids)]
        assert len(rows) == len(request.interaction_ids) and (rows["user_idx"] == user_idx).all()
        assert (rows["split"] == "train").all()
        picked = frame.iloc[np.asarray(request.interaction_ids) - 1]
        assert (picked["subject"] == request.subject).all() and (picked["rating"] == 5.0).all()
        assert not set(zip(picked["subject"], picked["item"])) & original_pairs  # new items only
        injected.update(request.interaction_ids)
    assert injected == set(range(len(raw.frame) + 1, len(frame) + 1))  # exactly the rows added, nothing else
    with pytest.raises(ValidationError, match="exactly one of user_fraction or user_count"):
        NoiseScenario(user_fraction=0.1, user_count=3, data_fraction=0.3)


@pytest.mark.parametrize("settings, error", [
    ({"base_model": "wmf", "options": {"solver": "newton"}}, "solver"),
    ({"base_model": "wmf", "options": {"passes": 2}}, "passes"),
    ({"base_model": "bpr", "options": {"solver": "ah"}}, "closed-form Hessian"),
    ({"base_model": "lightgcn", "options": {"solver": "hf"}}, "supports base models wmf, bpr"),
])
def test_alteraser_rejects_bad_settings_with_the_offending_field(tmp_path: Path, settings: dict, error: str) -> None:
    method = get_method("alteraser")
    with pytest.raises((ValueError, ValidationError), match=error):
        method._check_settings(MethodSettings(method="alteraser", **settings))


def serve_and_erase(root: Path, settings: MethodSettings, subject_rank: int) -> tuple[Any, dict, dict, RequestRecord]:
    """A small synthetic workspace serving one deployment of ``settings``, and one whole-subject request run
    through the engine: ``(services, checkpoint before, checkpoint after, final record)``."""
    from ui.services import open_services

    services = open_services(root)
    ingest(services.ledger, load_source("synthetic", seed=0, n_users=100, n_items=60))
    deployment = get_method(settings.method).fit(services.ledger, settings, no_progress, "test")
    set_serving(services.ledger, deployment.deployment_id)
    before = services.ledger.live_checkpoints(deployment.deployment_id)[0]
    subject = str(services.ledger.store.subjects_frame()["subject"].iloc[subject_rank])
    record = services.engine.run(services.engine.file(ErasureRequest(subject=subject)))
    return services, before, services.ledger.live_checkpoints(deployment.deployment_id)[0], record


def test_an_approximate_request_is_certified_as_approximate(tmp_path: Path) -> None:
    settings = MethodSettings(method="alteraser", base_model="wmf", model={"epochs": 5, "embedding_size": 8},
                              options={"solver": "ah", "max_passes": 2})
    services, before, after, record = serve_and_erase(tmp_path / "ws", settings, subject_rank=5)
    request_id = record.request_id
    assert record.state == "certified", record.history[-1].payload

    planned = record.require_payload("planned")
    assert after.parent == before.checkpoint_id and after.facts["approximate"]
    assert after.training_set_digest == before.training_set_digest  # descends from the erased data: honest
    assert after.facts["forgets_requests"] == [request_id] and after.excludes_requests == []
    assert sorted(after.facts["forgotten_interaction_ids"]) == sorted(
        i for s in planned["deployments"][0]["shards"] for i in s["interaction_ids"])
    assert after.facts["inputs"]["options"]["solver"] == "ah" and after.facts["inputs"]["seed"] == before.seed

    workspace = services.ledger.workspace
    path = workspace.root / record.require_payload("certified")["json_path"]
    certificate = verify_certificate_file(path, workspace.public_key_path)
    assert not certificate.exact and certificate.approximate_notice == APPROXIMATE_NOTICE
    assert "NOT claimed exact" in certificate.lineage_proof
    assert json.loads(path.read_text())  # the signed JSON is on disk
