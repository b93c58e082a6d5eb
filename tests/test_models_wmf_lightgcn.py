"""WMF (ALS) and LightGCN: they learn taste on synthetic data, reproducibly, and know nothing of unseen users."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from pydantic import ValidationError

from tests.test_bpr import MostPopular, split  # noqa: F401 - the same synthetic split and baseline as BPR's
from unlearn.models import LightGCNConfig, Recommender, WMFConfig, train_lightgcn, train_wmf
from unlearn.registry import base_model, base_models
from unlearn.models._lightgcn import normalized_adjacency, propagate
from unlearn.models._wmf import _solve_rows
from unlearn.training_data import Interactions
from verify import ranking_metrics

N_USERS, N_ITEMS = 400, 300  # test_bpr's split
FAST = {"wmf": {"epochs": 4, "embedding_size": 16}, "lightgcn": {"epochs": 8, "embedding_size": 16, "batch_size": 1024}}


def _train(name: str, train: Interactions, seed: int = 0, **overrides: object) -> Recommender:
    spec = base_model(name)
    config = spec.config_class(**{**FAST[name], **overrides})
    return spec.train(train.user_idx, train.item_idx, N_USERS, N_ITEMS, config, seed)


@pytest.mark.parametrize("name", ["wmf", "lightgcn"])
def test_beats_most_popular_on_the_synthetic_data(split: tuple[Interactions, Interactions], name: str) -> None:
    train, test = split
    model = ranking_metrics(_train(name, train), train.csr(), test.csr(), (20,))["ndcg@20"]
    popular = ranking_metrics(MostPopular(train), train.csr(), test.csr(), (20,))["ndcg@20"]
    assert model > popular * 1.1, (model, popular)


@pytest.mark.parametrize("name", ["wmf", "lightgcn"])
def test_same_seed_gives_identical_factors_and_users_without_data_get_none(
    split: tuple[Interactions, Interactions], name: str
) -> None:
    train, _ = split
    absent = train.subset(train.user_idx != 0)
    a, b = _train(name, absent, seed=7, epochs=2), _train(name, absent, seed=7, epochs=2)
    np.testing.assert_array_equal(a.item_embeddings(), b.item_embeddings())
    assert not a.trained_users()[0]
    np.testing.assert_array_equal(a.user_embeddings()[0], 0.0)


def test_als_half_sweep_solves_each_user_exactly(split: tuple[Interactions, Interactions]) -> None:
    """Given item factors, a user's factors minimise their weighted squared error over *all* items: the
    dense normal equations, solved directly, give the same vectors as the batched Gram-trick solve."""
    train, _ = split
    config = WMFConfig(embedding_size=8, reg=0.5, weight=5.0)
    items = np.random.default_rng(0).normal(size=(N_ITEMS, 8))
    solved = _solve_rows(train.csr(), torch.from_numpy(items.astype(np.float32)), config).numpy()
    for user in (0, 3, int(np.argmax(np.bincount(train.user_idx)))):
        relevant = np.zeros(N_ITEMS)
        relevant[train.item_idx[train.user_idx == user]] = 1.0
        confidence = 1.0 + config.weight * relevant
        system = items.T @ (confidence[:, None] * items) + config.reg * np.eye(8)
        expected = np.linalg.solve(system, items.T @ (confidence * relevant))
        np.testing.assert_allclose(solved[user], expected, rtol=1e-3, atol=1e-4)


def test_als_loss_never_increases(split: tuple[Interactions, Interactions]) -> None:
    train, _ = split
    losses: list[float] = []
    train_wmf(train.user_idx, train.item_idx, N_USERS, N_ITEMS, WMFConfig(epochs=5, embedding_size=8), 0,
              on_epoch=lambda _, loss: losses.append(loss))
    assert all(later <= earlier + 1e-6 for earlier, later in zip(losses, losses[1:])), losses


def test_lightgcn_adjacency_is_the_symmetric_normalisation() -> None:
    users, items = np.array([0, 0, 1, 1, 1]), np.array([0, 1, 1, 1, 0])  # (1, 1) twice: counted once
    dense = normalized_adjacency(users, items, 2, 2).to_dense().numpy()
    np.testing.assert_allclose(dense, dense.T)
    degrees = np.array([2, 2, 2, 2])  # users 0, 1 then items 0, 1, each with two distinct neighbours
    np.testing.assert_allclose(dense[0, 2], 1 / np.sqrt(degrees[0] * degrees[2]))
    ego = torch.randn(4, 3)
    np.testing.assert_allclose(propagate(normalized_adjacency(users, items, 2, 2), ego, 0), ego)


def test_configs_refuse_unknown_names_and_models_are_registered() -> None:
    assert {"bpr", "wmf", "lightgcn"} <= set(base_models())
    with pytest.raises(ValidationError, match="learning_rate"):
        WMFConfig(learning_rate=0.1)  # ALS has no step size
    with pytest.raises(ValidationError, match="layer"):
        LightGCNConfig(layer=2)
    with pytest.raises(ValueError, match="unknown base model 'ncf'; known: .*bpr.*lightgcn.*wmf"):
        base_model("ncf")
    with pytest.raises(ValueError, match="empty"):
        train_lightgcn(np.array([], dtype=np.int64), np.array([], dtype=np.int64), 2, 2, LightGCNConfig(), 0)
