"""The fast trainers (issue 10) compute what the slow ones did: CG-ALS reaches the exact WMF row optimum, the
hand-written BPR SGD step is the gradient step of the documented loss, and the vectorised sampler draws
negatives outside the user's positives at the documented rate — deterministically for a seed."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp
import torch

from tests.test_bpr import MostPopular, split  # noqa: F401 - the shared synthetic split
from unlearn.models import BPRConfig, WMFConfig, train_bpr, train_wmf
from unlearn.models import _pairwise, _wmf
from unlearn.models._bpr import _sgd_epoch
from unlearn.models._pairwise import PairSampler
from unlearn.models._wmf import RowChunks, _conjugate_gradient, _solve_rows
from unlearn.training_data import Interactions
from verify import ranking_metrics

N_USERS, N_ITEMS = 400, 300  # test_bpr's split


def _dense_row_optimum(items: np.ndarray, relevant: np.ndarray, config: WMFConfig) -> np.ndarray:
    """argmin_x Σ_i c_i (r_i − x·y_i)² + reg‖x‖², c_i = 1 + weight·r_i, solved densely in float64."""
    confidence = 1.0 + config.weight * relevant
    system = items.T @ (confidence[:, None] * items) + config.reg * np.eye(items.shape[1])
    return np.linalg.solve(system, items.T @ (confidence * relevant))


def test_cg_half_sweep_reaches_the_dense_row_optimum(split: tuple[Interactions, Interactions]) -> None:
    """With as many CG steps as dimensions (exact in exact arithmetic), from zero or from a random start."""
    train, _ = split
    d = 8
    config = WMFConfig(embedding_size=d, reg=0.5, weight=5.0, cg_steps=3 * d)
    items = np.random.default_rng(0).normal(size=(N_ITEMS, d))
    chunks = RowChunks.of(train.csr())
    for start in (torch.zeros(N_USERS, d), torch.randn(N_USERS, d, generator=torch.Generator().manual_seed(1))):
        solved = _conjugate_gradient(chunks, torch.from_numpy(items.astype(np.float32)), start, config).numpy()
        for user in (0, 3, int(np.argmax(np.bincount(train.user_idx)))):
            relevant = np.zeros(N_ITEMS)
            relevant[train.item_idx[train.user_idx == user]] = 1.0
            np.testing.assert_allclose(solved[user], _dense_row_optimum(items, relevant, config), rtol=1e-3, atol=1e-4)


def test_three_cg_steps_approach_the_exact_solve_and_rows_without_entries_get_zero() -> None:
    rng = np.random.default_rng(2)
    matrix = sp.random(60, 40, density=0.2, format="csr", random_state=3, dtype=np.float32)
    matrix.data[:] = 1.0
    matrix = sp.csr_matrix(matrix.multiply(np.arange(60)[:, None] % 7 != 0))  # every 7th row empty
    matrix.eliminate_zeros()
    fixed = torch.from_numpy(rng.normal(size=(40, 6)).astype(np.float32))
    config = WMFConfig(embedding_size=6, reg=0.1, weight=5.0)
    exact = _solve_rows(matrix, fixed, config)
    approx = _conjugate_gradient(RowChunks.of(matrix), fixed, torch.ones(60, 6), config)
    np.testing.assert_array_equal(approx[::7].numpy(), 0.0)
    start_error = float((torch.ones(60, 6) - exact)[np.diff(matrix.indptr) > 0].norm())
    assert float((approx - exact).norm()) < 0.2 * start_error


def test_cg_chunking_changes_nothing(split: tuple[Interactions, Interactions], monkeypatch: pytest.MonkeyPatch) -> None:
    train, _ = split
    config = WMFConfig(epochs=2, embedding_size=8)
    whole = train_wmf(train.user_idx, train.item_idx, N_USERS, N_ITEMS, config, seed=4)
    monkeypatch.setattr(_wmf, "_CHUNK_NNZ", 500)  # ~40 blocks of users, ~30 of items
    assert len(RowChunks.of(train.csr()).blocks) > 10
    chunked = train_wmf(train.user_idx, train.item_idx, N_USERS, N_ITEMS, config, seed=4)
    np.testing.assert_allclose(chunked.user_factors, whole.user_factors, rtol=1e-4, atol=1e-6)


def test_cg_and_exact_solvers_rank_alike(split: tuple[Interactions, Interactions]) -> None:
    train, test = split
    ndcg = {}
    for solver in ("cg", "cholesky"):
        model = train_wmf(train.user_idx, train.item_idx, N_USERS, N_ITEMS,
                          WMFConfig(epochs=6, embedding_size=16, solver=solver), seed=0)
        ndcg[solver] = ranking_metrics(model, train.csr(), test.csr(), (20,))["ndcg@20"]
    assert ndcg["cg"] == pytest.approx(ndcg["cholesky"], abs=0.02), ndcg


# -- sampler ---------------------------------------------------------------------------------------
def _dense_data(n_users: int = 200, n_items: int = 40, share: float = 0.5) -> tuple[np.ndarray, np.ndarray]:
    """Every user holds ``share`` of the items (a random subset)."""
    rng = np.random.default_rng(5)
    rows = [np.sort(rng.choice(n_items, int(share * n_items), replace=False)) for _ in range(n_users)]
    return np.repeat(np.arange(n_users), len(rows[0])), np.concatenate(rows)


@pytest.mark.parametrize("bitmap", [True, False])
def test_negatives_miss_the_positives_at_the_documented_rate(bitmap: bool, monkeypatch: pytest.MonkeyPatch) -> None:
    """Share s = 0.5 of the items positive, 3 re-draws: about s⁴ = 6.25 % of negatives still hit."""
    if not bitmap:
        monkeypatch.setattr(_pairwise, "_BITMAP_CELLS", 0)  # the sorted-keys binary search
    users, items = _dense_data()
    sampler = PairSampler(users, items, 40, seed=0)
    positives = set(zip(users.tolist(), items.tolist()))
    hits, total, counts = 0, 0, np.zeros(40)
    for _ in range(20):
        batch_users, batch_items, negatives = sampler.epoch()
        assert sorted(zip(batch_users.tolist(), batch_items.tolist())) == sorted(positives)  # each pair once
        hits += sum((u, j) in positives for u, j in zip(batch_users.tolist(), negatives.tolist()))
        total += len(negatives)
        counts += np.bincount(negatives.numpy(), minlength=40)
    assert 0.05 < hits / total < 0.075, hits / total
    assert counts.min() > 0.7 * counts.mean()  # every item is drawn about as often (uniform)


def test_bitmap_and_sorted_key_search_agree_on_every_membership_query(monkeypatch: pytest.MonkeyPatch) -> None:
    users, items = _dense_data(share=0.25)
    bitmap = PairSampler(users, items, 40, seed=0)
    monkeypatch.setattr(_pairwise, "_BITMAP_CELLS", 0)
    search = PairSampler(users, items, 40, seed=0)
    assert bitmap._bitmap is not None and search._keys is not None
    every_user, every_item = (torch.from_numpy(a.ravel()) for a in np.meshgrid(np.unique(users), np.arange(40)))
    answer = search.is_positive(every_user, every_item)
    assert torch.equal(answer, bitmap.is_positive(every_user, every_item))
    assert int(answer.sum()) == len(users)


def test_sampler_is_deterministic_for_a_seed_and_rejects_bad_input() -> None:
    users, items = _dense_data(share=0.25)
    a, b = PairSampler(users, items, 40, seed=9), PairSampler(users, items, 40, seed=9)
    for _ in range(2):
        for x, y in zip(a.epoch(), b.epoch()):
            assert torch.equal(x, y)
    with pytest.raises(ValueError, match="empty"):
        PairSampler(np.array([], dtype=np.int64), np.array([], dtype=np.int64), 4, seed=0)
    with pytest.raises(ValueError, match="differ in length"):
        PairSampler(np.array([0, 1]), np.array([0]), 4, seed=0)


# -- BPR SGD ---------------------------------------------------------------------------------------
def test_one_sgd_triple_is_the_gradient_step_of_the_documented_loss() -> None:
    """softplus(−x_uij) + reg(‖p_u‖² + ‖q_i‖² + ‖q_j‖²), biases unregularised: autograd gives the same step."""
    generator = torch.Generator().manual_seed(0)
    users, items, bias = torch.randn(3, 5, generator=generator), torch.randn(4, 5, generator=generator), torch.randn(4)
    config = BPRConfig(embedding_size=5, learning_rate=0.1, reg=0.3, optimizer="sgd")
    params = [t.clone().requires_grad_() for t in (users, items, bias)]
    u, i, j = torch.tensor([2]), torch.tensor([1]), torch.tensor([3])
    pu, qi, qj = params[0][u], params[1][i], params[1][j]
    x = (pu * (qi - qj)).sum(1) + params[2][i] - params[2][j]
    loss = torch.nn.functional.softplus(-x).sum() + config.reg * (pu.pow(2).sum() + qi.pow(2).sum() + qj.pow(2).sum())
    loss.backward()
    mean_loss = _sgd_epoch(users, items, bias, u, i, j, config)
    for updated, param in zip((users, items, bias), params):
        torch.testing.assert_close(updated, param.detach() - config.learning_rate * param.grad)
    assert mean_loss == pytest.approx(float(torch.nn.functional.softplus(-x.detach())))


def test_sgd_is_deterministic_matches_inline_sampling_and_restores_threads(
    split: tuple[Interactions, Interactions],
) -> None:
    train, _ = split
    config = BPRConfig(epochs=3, embedding_size=8, optimizer="sgd", batch_size=512)
    threads = torch.get_num_threads()
    a = train_bpr(train.user_idx, train.item_idx, N_USERS, N_ITEMS, config, seed=3)
    b = train_bpr(train.user_idx, train.item_idx, N_USERS, N_ITEMS, config, seed=3)
    assert torch.get_num_threads() == threads
    np.testing.assert_array_equal(a.item_factors, b.item_factors)
    np.testing.assert_array_equal(a.item_bias, b.item_bias)
    # The background sampling thread draws exactly what drawing in line would.
    generator = torch.Generator().manual_seed(3)
    users = torch.empty(N_USERS, 8).normal_(0.0, 0.1, generator=generator)
    items = torch.empty(N_ITEMS, 8).normal_(0.0, 0.1, generator=generator)
    bias = torch.zeros(N_ITEMS)
    sampler = PairSampler(train.user_idx, train.item_idx, N_ITEMS, seed=3)
    for _ in range(config.epochs):
        _sgd_epoch(users, items, bias, *sampler.epoch(), config)
    np.testing.assert_array_equal(a.item_factors, items.numpy())


@pytest.mark.parametrize("init_std", [0.1, 0.01])
def test_init_std_sets_the_scale_the_factors_start_from(split: tuple[Interactions, Interactions], init_std: float) -> None:
    train, _ = split
    config = BPRConfig(epochs=1, embedding_size=16, optimizer="sgd", learning_rate=1e-9, init_std=init_std)
    model = train_bpr(train.user_idx, train.item_idx, N_USERS, N_ITEMS, config, seed=0)
    assert model.item_factors.std() == pytest.approx(init_std, rel=0.05)


def test_sgd_learns_taste_and_knows_nothing_of_unseen_users(split: tuple[Interactions, Interactions]) -> None:
    train, test = split
    absent = train.subset(train.user_idx != 0)
    config = BPRConfig(epochs=40, embedding_size=16, optimizer="sgd", learning_rate=0.05, reg=1e-3, batch_size=1024)
    model = train_bpr(absent.user_idx, absent.item_idx, N_USERS, N_ITEMS, config, seed=0)
    bpr = ranking_metrics(model, train.csr(), test.csr(), (20,))["ndcg@20"]
    popular = ranking_metrics(MostPopular(train), train.csr(), test.csr(), (20,))["ndcg@20"]
    assert bpr > popular * 1.1, (bpr, popular)
    assert not model.trained_users()[0]
    np.testing.assert_allclose(model.score_all(np.array([0]))[0], model.item_bias)


def test_popularity_negatives_follow_item_popularity_and_still_miss_positives() -> None:
    rng = np.random.default_rng(0)
    users = rng.integers(0, 300, 6000)
    items = np.minimum(rng.zipf(1.6, 6000) - 1, 199)  # a few very popular items
    keys = np.unique(users * 200 + items)
    users, items = keys // 200, keys % 200
    sampler = PairSampler(users, items, 200, seed=0, sampling="popularity")
    drawn = np.bincount(sampler.epoch()[2].numpy(), minlength=200)
    popularity = np.bincount(items, minlength=200)
    uniform = np.bincount(PairSampler(users, items, 200, seed=0).epoch()[2].numpy(), minlength=200)
    # drawn about as often as they occur in training pairs (less so the most popular: re-drawn where positive)
    assert np.corrcoef(drawn, popularity)[0, 1] > 0.6 > 0.3 > np.corrcoef(uniform, popularity)[0, 1]
    positives = set(zip(users.tolist(), items.tolist()))

    def hits(sampler: PairSampler) -> int:
        batch_users, _, negatives = sampler.epoch()
        return sum((u, j) in positives for u, j in zip(batch_users.tolist(), negatives.tolist()))

    once = PairSampler(users, items, 200, seed=0, sampling="popularity", tries=0)
    assert hits(PairSampler(users, items, 200, seed=0, sampling="popularity")) < hits(once) / 3  # re-drawn


def test_checkpoints_store_only_trained_users_rows_and_load_back_whole(tmp_path: Path) -> None:
    from unlearn.artifacts import load_arrays, save_arrays
    from unlearn.models import FactorModel

    rng = np.random.default_rng(0)
    trained = np.zeros(1000, dtype=bool)
    trained[rng.choice(1000, 50, replace=False)] = True
    users = np.where(trained[:, None], rng.normal(size=(1000, 8)), 0).astype(np.float32)
    model = FactorModel(users, rng.normal(size=(30, 8)).astype(np.float32), np.zeros(30, np.float32), trained)
    path, digest = save_arrays(model.to_arrays(), tmp_path)
    full_size = users.nbytes
    assert path.stat().st_size < full_size / 5  # 50 of 1,000 users' rows are written
    loaded = load_arrays(tmp_path, digest)
    assert set(loaded) == set(model.to_arrays())
    for key, value in model.to_arrays().items():
        np.testing.assert_array_equal(loaded[key], value)
    # an untrained user with factors (e.g. from an outside model) is kept: nothing is dropped
    users[np.flatnonzero(~trained)[0]] = 1.0
    _, digest = save_arrays({**model.to_arrays(), "user_factors": users}, tmp_path)
    np.testing.assert_array_equal(load_arrays(tmp_path, digest)["user_factors"], users)


def test_wmf_is_the_same_whatever_the_thread_count(split: tuple[Interactions, Interactions],
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    train, _ = split
    monkeypatch.setattr(_wmf, "_CHUNK_NNZ", 500)  # many chunks, so threads really share the rows
    models = [train_wmf(train.user_idx, train.item_idx, N_USERS, N_ITEMS,
                        WMFConfig(epochs=3, embedding_size=8, threads=threads), seed=0) for threads in (1, 3)]
    np.testing.assert_array_equal(models[0].user_factors, models[1].user_factors)
    np.testing.assert_array_equal(models[0].item_factors, models[1].item_factors)
