"""Issue 11: recommenders trained outside Lethe (implicit, scikit-learn, a torch module) are registered with
their training data, forgotten by the methods whose assumptions they meet, and verified unchanged.

The acceptance path: implicit ALS (and the torch example) trained on ML-100K by "your own pipeline", registered,
an erasure filed and run, the certificate verified offline; a model left untouched fails the verifier.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import torch
from threadpoolctl import threadpool_limits
from typer.testing import CliRunner

from examples.torch_embedding_model import EmbeddingMF
from ledger import load_public_key
from tests.conftest import build_workspace
from ui.services import Services, open_services
from ui.cli import app
from unlearn.adapters import ImplicitALSConfig
from unlearn.adapters._protocol import one_thread
from unlearn.methods import applicable_methods, register_model
from unlearn.registry import get_adapter
from unlearn.data import ColumnMapping, DataError, load_source
from unlearn.methods import MethodSettings, ShardedRetraining, get_method
from unlearn.methods._objectives import WMFObjective
from unlearn.models import FactorModel
from unlearn.progress import no_progress
from unlearn.requests import ErasureRequest
from unlearn.training_data import Interactions
from verify import load_report, verify_certificate_file

TORCH_PARAMS = {"module": "examples.torch_embedding_model:EmbeddingMF", "embedding_size": 16, "epochs": 2}


# -- "your own pipeline": ML-100K, a per-user 80/20 hold-out, a model trained and saved without Lethe ----------
@pytest.fixture(scope="module")
def outside(shared_data: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    from implicit.cpu.als import AlternatingLeastSquares

    folder = tmp_path_factory.mktemp("outside")
    ratings = pd.read_csv(shared_data / "ml-100k" / "u.data", sep="\t",
                          names=["user_id", "item_id", "rating", "timestamp"])
    rng = np.random.default_rng(7)
    key = rng.random(len(ratings))
    rank = pd.Series(key).groupby(ratings["user_id"]).rank(method="first")
    held_out = (rank <= (0.2 * ratings.groupby("user_id")["item_id"].transform("size")).round()).to_numpy()
    train, test = ratings[~held_out], ratings[held_out]
    train.to_csv(folder / "train.csv", index=False)
    test.to_csv(folder / "test.csv", index=False)
    users, items = pd.Categorical(train["user_id"]), pd.Categorical(train["item_id"])
    matrix = Interactions(np.arange(len(train)), users.codes.astype(np.int64), items.codes.astype(np.int64),
                          len(users.categories), len(items.categories)).csr()
    with threadpool_limits(1):  # implicit warns about a multi-threaded BLAS
        als = AlternatingLeastSquares(factors=16, iterations=4, regularization=0.05, alpha=4.0, use_cg=False,
                                      random_state=0, num_threads=1)
        als.fit(matrix, show_progress=False)
    als.save(str(folder / "als.npz"))
    torch.manual_seed(0)
    mf = EmbeddingMF(len(users.categories), len(items.categories), embedding_size=16, epochs=2)
    with one_thread():
        mf.fit(users.codes.astype(np.int64), items.codes.astype(np.int64), seed=0)
    torch.save(mf.state_dict(), folder / "mf.pt")
    return {"folder": folder, "als": als, "mf": mf, "users": users.categories, "items": items.categories}


def _register(root: Path, outside: dict[str, Any], framework: str, file: str, **kwargs: Any) -> Services:
    services = open_services(root)
    folder = outside["folder"]
    register_model(services.ledger, framework, folder / file, load_source("csv", folder / "train.csv"),
                   load_source("csv", folder / "test.csv"), **kwargs)
    return services


def _erase(services: Services, subject: str = "42") -> Any:
    return services.engine.run(services.engine.file(ErasureRequest(subject=subject)))


@pytest.fixture(scope="module")
def als_erased(outside: dict[str, Any], tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    services = _register(tmp_path_factory.mktemp("als"), outside, "implicit-als", "als.npz")
    deployment = services.ledger.deployments()[0]
    before = services.ledger.live_checkpoints(deployment.deployment_id)[0]
    model = get_method("retrain").load(services.ledger, deployment.deployment_id).model
    return {"services": services, "deployment": deployment, "before": before, "model": model,
            "record": _erase(services)}


def _certificate_verifies(services: Services, record: Any) -> None:
    assert record.state == "certified", record.history[-1].payload
    root = services.ledger.workspace.root
    certificate = verify_certificate_file(root / record.history[-1].payload["json_path"],
                                          load_public_key(root / "keys" / "signing.pub"))
    assert certificate.passed and certificate.exact


def test_an_implicit_als_model_trained_outside_is_registered_erased_and_certified(als_erased: dict[str, Any],
                                                                                 outside: dict[str, Any]) -> None:
    services, deployment, before = als_erased["services"], als_erased["deployment"], als_erased["before"]
    _certificate_verifies(services, als_erased["record"])
    registered = deployment.facts["registered"]
    assert registered["source_sha256"] == "sha256:" + hashlib.sha256(
        (outside["folder"] / "als.npz").read_bytes()).hexdigest()
    assert deployment.settings["base_model"] == "implicit-als"
    assert deployment.settings["model"]["weight"] == pytest.approx(3.0)  # alpha 4 = 1 + WMF's weight
    after = services.ledger.live_checkpoints(deployment.deployment_id)[0]
    assert after.parent == before.checkpoint_id
    assert after.n_interactions < before.n_interactions == services.ledger.dataset()["n_train"]
    planned = als_erased["record"].require_payload("planned")["deployments"][0]["applicable_methods"]
    verdicts = {row["method"]: row for row in planned}  # the plan says which methods apply, and why not
    assert verdicts["alteraser"]["applies"] and not verdicts["laser"]["applies"] and verdicts["laser"]["reason"]


def test_the_registered_model_scores_exactly_as_the_framework_does(als_erased: dict[str, Any],
                                                                  outside: dict[str, Any]) -> None:
    """Index maps: the store's user/item indices point at the framework's rows for the same raw ids."""
    ledger, model, als = als_erased["services"].ledger, als_erased["model"], outside["als"]
    subjects = ledger.store.subjects_frame().set_index("subject")["user_idx"]
    items = ledger.store.items_frame().set_index("item")["item_idx"]
    rows = np.arange(0, len(outside["users"]), 97)
    ours_users = subjects.reindex([str(u) for u in outside["users"][rows]]).dropna().astype(int).to_numpy()
    keep = np.isin([str(u) for u in outside["users"][rows]], subjects.index)
    ours_items = items.loc[[str(i) for i in outside["items"]]].to_numpy()
    expected = als.user_factors[rows[keep]] @ als.item_factors.T
    np.testing.assert_allclose(model.score_all(ours_users)[:, ours_items], expected, rtol=1e-5, atol=1e-6)


def test_a_registered_model_left_untouched_fails_the_verifier(outside: dict[str, Any], tmp_path: Path,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    services = _register(tmp_path / "ws", outside, "implicit-als", "als.npz")
    monkeypatch.setattr(ShardedRetraining, "forget", lambda self, ledger, plan, *args, **kwargs:
                        self.load(ledger, plan.deployment_id))
    record = _erase(services)
    assert record.state == "failed"
    verified = record.require_payload("verified")
    report = load_report(services.ledger.workspace.root / verified["report_path"],
                         services.ledger.workspace.signer.public_key).predicate
    failed = {c.name for c in report.checks if not c.passed}
    assert {"lineage", "model replaced"} <= failed, failed  # the ledger and the weights, each on its own


def test_the_torch_example_goes_through_the_same_path(outside: dict[str, Any], tmp_path: Path) -> None:
    services = _register(tmp_path / "ws", outside, "torch", "mf.pt", params=TORCH_PARAMS)
    deployment_id = services.ledger.deployments()[0].deployment_id
    model = get_method("retrain").load(services.ledger, deployment_id).model
    subjects = services.ledger.store.subjects_frame().set_index("subject")["user_idx"]
    first_user = subjects[str(outside["users"][0])]
    with torch.no_grad():
        theirs = outside["mf"](torch.zeros(3, dtype=torch.long), torch.arange(3)).numpy()
    items = services.ledger.store.items_frame().set_index("item")["item_idx"]
    ours = model.score(np.full(3, first_user), items.loc[[str(i) for i in outside["items"][:3]]].to_numpy())
    np.testing.assert_allclose(ours, theirs, rtol=1e-5)
    _certificate_verifies(services, _erase(services))


# -- the closed-form row update, applicability, incremental and sharded training ------------------------------
def _synthetic_interactions(n_users: int = 60, n_items: int = 40, seed: int = 0) -> Interactions:
    rng = np.random.default_rng(seed)
    dense = rng.random((n_users, n_items)) < 0.15
    dense[:, 0] = True  # every user has an item
    users, items = np.nonzero(dense)
    return Interactions(np.arange(len(users)), users, items, n_users, n_items)


def test_als_own_row_solve_is_alterasers_closed_form_newton_step() -> None:
    """implicit's per-row least squares and AltEraser's AH-Newton step on WMF's loss agree: the same loss."""
    data = _synthetic_interactions()
    config = ImplicitALSConfig(embedding_size=6, epochs=2, reg=0.1, weight=3.0)
    adapter = get_adapter("implicit-als")
    model = adapter.fit(data.user_idx, data.item_idx, data.n_users, data.n_items, config, seed=0)
    objective = WMFObjective(data, model, config)
    for side in ("user", "item"):
        rows = np.arange(0, data.n_users if side == "user" else data.n_items, 3)
        block = objective.blocks(side, rows)[0]
        x = objective.factors[side][block.rows]
        hessian, gradient = objective.newton_system(side, x, block, objective.other(side))
        newton = (x - torch.linalg.solve(hessian, gradient.unsqueeze(-1)).squeeze(-1)).numpy()
        own = adapter.solve_rows(model, data, side, block.rows.numpy(), config)
        np.testing.assert_allclose(own, newton, rtol=2e-3, atol=2e-4)


@pytest.mark.parametrize(("framework", "applies", "refused"), [
    ("implicit-als", {"retrain", "sisa", "receraser", "alteraser", "warm_start", "incremental"}, {"laser", "cff"}),
    ("implicit-bpr", {"retrain", "sisa", "receraser", "incremental", "laser"}, {"alteraser", "warm_start", "cff"}),
    ("sklearn-svd", {"retrain", "sisa", "receraser"}, {"alteraser", "warm_start", "incremental", "laser"}),
    ("sklearn-nmf", {"retrain", "sisa", "receraser", "incremental"}, {"alteraser", "laser"}),
    ("torch", {"retrain", "sisa", "receraser", "incremental", "laser"}, {"alteraser", "warm_start"}),
])
def test_each_method_applies_where_its_assumptions_hold(framework: str, applies: set[str], refused: set[str]) -> None:
    verdicts = {v.method: v for v in applicable_methods(framework)}
    assert applies <= {m for m, v in verdicts.items() if v.applies}
    assert not refused & {m for m, v in verdicts.items() if v.applies}
    assert all(verdicts[m].reason for m in refused)


def _fitted_outside(root: Path, framework: str) -> tuple[Services, Path, Interactions]:
    """A synthetic workspace and a model fitted "outside" on its training split (rows in natural id order)."""
    services = build_workspace(root)
    train = Interactions.from_store(services.ledger, "train")
    users, items = np.unique(train.user_idx), np.unique(train.item_idx)
    matrix = Interactions(train.interaction_id, np.searchsorted(users, train.user_idx),
                          np.searchsorted(items, train.item_idx), len(users), len(items)).csr()
    if framework == "sklearn-svd":
        import joblib
        from sklearn.decomposition import TruncatedSVD

        path = root / "svd.joblib"
        joblib.dump(TruncatedSVD(n_components=8, random_state=0).fit(matrix), path)
    else:
        from implicit.cpu.als import AlternatingLeastSquares

        path = root / "als.npz"
        with threadpool_limits(1):
            als = AlternatingLeastSquares(factors=8, iterations=3, alpha=4.0, use_cg=False, random_state=0)
            als.fit(matrix, show_progress=False)
        als.save(str(path))
    return services, path, train


def test_an_sklearn_model_registers_on_an_ingested_workspace_and_refuses_methods_that_do_not_apply(
        tmp_path: Path) -> None:
    services, path, train = _fitted_outside(tmp_path, "sklearn-svd")
    with pytest.raises(ValueError, match="alteraser.*does not apply to sklearn-svd: no closed-form"):
        register_model(services.ledger, "sklearn-svd", path, method="alteraser")
    with pytest.raises(ValueError, match="'sisa' applies to new deployments"):
        register_model(services.ledger, "sklearn-svd", path, method="sisa")
    with pytest.raises(DataError, match="has no row for; pass the ids in the model's row order"):
        register_model(services.ledger, "sklearn-svd", path, user_ids=[str(u) for u in range(1, 50)])
    deployment = register_model(services.ledger, "sklearn-svd", path)
    assert deployment.checkpoints[0].n_interactions == len(train)
    assert deployment.model.trained_users()[np.unique(train.user_idx)].all()


def test_registration_refuses_training_data_that_holds_held_out_rows(tmp_path: Path) -> None:
    services, path, _ = _fitted_outside(tmp_path, "sklearn-svd")
    test_rows = services.ledger.store.interactions(split="test").head(3)
    subjects = services.ledger.store.subjects_frame().set_index("user_idx")["subject"]
    items = services.ledger.store.items_frame().set_index("item_idx")["item"]
    frame = pd.DataFrame({"user_id": subjects[test_rows["user_idx"]].to_numpy(),
                          "item_id": items[test_rows["item_idx"]].to_numpy()})
    frame.to_csv(tmp_path / "leaky.csv", index=False)
    data = load_source("csv", tmp_path / "leaky.csv", ColumnMapping(rating_col=None, time_col=None))
    with pytest.raises(DataError, match="held-out .test. rows"):
        register_model(services.ledger, "sklearn-svd", path, data)


@pytest.mark.parametrize(("framework", "model"), [("implicit-bpr", {"embedding_size": 8, "epochs": 20}),
                                                  ("torch", {**TORCH_PARAMS, "epochs": 2})])
def test_incremental_fit_forgets_a_subject_of_a_sharded_adapter_deployment(
        tmp_path: Path, framework: str, model: dict[str, Any]) -> None:
    """SISA trains the adapter per shard; ``incremental`` continues its own fit and zeroes the subject's row."""
    services = build_workspace(tmp_path / "ws")
    ledger = services.ledger
    settings = MethodSettings(method="sisa", base_model=framework, shards=2, seed=0, model=_config(framework, model))
    sisa = get_method("sisa").fit(ledger, settings, no_progress, "test")
    assert len(sisa.checkpoints) == 2 and isinstance(sisa.model.score_all(np.arange(3)), np.ndarray)
    single = get_method("incremental").fit(ledger, settings.model_copy(update={"method": "incremental", "shards": 1}),
                                           no_progress, "test")
    subject_ref = ledger.workspace.subject_ref(str(ledger.store.subjects_frame()["subject"].iloc[0]))
    user = ledger.store.subject_by_ref(subject_ref)[1]
    assert np.abs(single.model.user_factors[user]).sum() > 0
    method = get_method("incremental")
    plan = method.plan(ledger, single.deployment_id, ledger.subject_interaction_ids(subject_ref))
    forgotten = method.forget(ledger, plan, "req-test", no_progress, "test")
    assert not forgotten.model.user_factors[user].any() and not forgotten.model.trained_users()[user]
    record = forgotten.checkpoints[0]
    assert record.parent == single.checkpoints[0].checkpoint_id and record.facts["approximate"]


def _config(framework: str, model: dict[str, Any]) -> dict[str, Any]:
    if framework != "torch":
        return model
    return {"module": model["module"], "params": {k: v for k, v in model.items() if k != "module"}}


def test_alteraser_forgets_a_registered_implicit_als_subject_by_closed_form_rows(tmp_path: Path) -> None:
    services, path, _ = _fitted_outside(tmp_path, "implicit-als")
    ledger = services.ledger
    deployment = register_model(ledger, "implicit-als", path, method="alteraser")
    subject, user = ledger.store.subjects_frame().iloc[0][["subject", "user_idx"]]
    subject_ref = ledger.workspace.subject_ref(str(subject))
    assert deployment.model.user_factors[user].any()
    method = get_method("alteraser")
    plan = method.plan(ledger, deployment.deployment_id, ledger.subject_interaction_ids(subject_ref))
    after = method.forget(ledger, plan, "req-test", no_progress, "test")
    assert isinstance(after.model, FactorModel) and not after.model.user_factors[user].any()
    facts = after.checkpoints[0].facts["unlearning"]
    assert facts["solver"] == "ah" and facts["objective"][-1] < facts["objective"][0]


def test_lethe_register_from_the_command_line(outside: dict[str, Any], tmp_path: Path) -> None:
    folder = outside["folder"]
    result = CliRunner().invoke(app, [
        "register", "--framework", "implicit-als", "--model", str(folder / "als.npz"), "--data",
        str(folder / "train.csv"), "--test-data", str(folder / "test.csv"), "-w", str(tmp_path / "ws")])
    assert result.exit_code == 0, result.output
    assert "registered retrain-implicit-als-" in result.output and "alteraser" in result.output
    again = CliRunner().invoke(app, ["register", "--framework", "keras", "--model", str(folder / "als.npz"),
                                     "-w", str(tmp_path / "ws")])
    assert again.exit_code == 2 and "unknown framework 'keras'" in again.output


def test_an_officer_registers_an_outside_model_from_the_console(tmp_path: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """The console's Models page registers a saved model as `lethe register` does; an auditor gets no form."""
    from streamlit.testing.v1 import AppTest

    from tests.test_console import APP, sign_in, with_users

    services, path, train = _fitted_outside(tmp_path, "sklearn-svd")
    monkeypatch.setenv("LETHE_HOME", str(with_users(services.ledger.workspace.root)))
    auditor = sign_in(AppTest.from_file(str(APP), default_timeout=120).run(), "auditor")
    assert not [f for f in auditor.switch_page("console_pages/models.py").run().selectbox
                if f.key == "register_framework"]
    at = sign_in(AppTest.from_file(str(APP), default_timeout=120).run(), "officer")
    at = at.switch_page("console_pages/models.py").run()
    at.selectbox(key="register_framework").select("sklearn-svd")
    at.text_input(key="register_path").input(str(path))
    at = next(b for b in at.button if b.label == "Register").click().run()
    assert not at.exception and not at.error, (at.exception, [e.value for e in at.error])
    registered = [d for d in services.ledger.deployments() if d.settings["base_model"] == "sklearn-svd"]
    assert len(registered) == 1
    assert services.ledger.live_checkpoints(registered[0].deployment_id)[0].n_interactions == len(train)
    events = services.ledger.recent_events(20)
    assert any(e.kind == "deployment.created" and e.actor == "olivia" for e in events)
