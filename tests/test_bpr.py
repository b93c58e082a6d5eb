"""BPR-MF learns personal taste from the synthetic generator, reproducibly, and knows nothing of unseen users."""

from __future__ import annotations

import numpy as np
import pytest

from unlearn.data import load_source, per_user_split
from unlearn.models import BPRConfig, Recommender, train_bpr
from unlearn.training_data import Interactions
from verify import ranking_metrics


class MostPopular(Recommender):
    def __init__(self, train: Interactions) -> None:
        self.n_users, self.n_items = train.n_users, train.n_items
        self.counts = np.bincount(train.item_idx, minlength=train.n_items).astype(np.float32)

    def score_all(self, users: np.ndarray) -> np.ndarray:
        return np.tile(self.counts, (len(users), 1))


@pytest.fixture(scope="module")
def split() -> tuple[Interactions, Interactions]:
    raw = load_source("synthetic", seed=1, n_users=400, n_items=300)
    frame = raw.frame.assign(split=per_user_split(raw.frame, seed=1))
    frame["user_idx"] = frame["subject"].astype(int) - 1
    frame["item_idx"] = frame["item"].astype(int) - 1
    frame["interaction_id"] = np.arange(len(frame))
    make = lambda part: Interactions.from_frame(frame[frame["split"] == part], 400, 300)  # noqa: E731
    return make("train"), make("test")


def test_bpr_beats_most_popular_on_the_synthetic_data(split: tuple[Interactions, Interactions]) -> None:
    train, test = split
    model = train_bpr(train.user_idx, train.item_idx, 400, 300, BPRConfig(epochs=15, embedding_size=32), seed=0)
    bpr = ranking_metrics(model, train.csr(), test.csr(), (20,))["ndcg@20"]
    popular = ranking_metrics(MostPopular(train), train.csr(), test.csr(), (20,))["ndcg@20"]
    assert bpr > popular * 1.1, (bpr, popular)


def test_same_seed_gives_identical_factors(split: tuple[Interactions, Interactions]) -> None:
    train, _ = split
    config = BPRConfig(epochs=2, embedding_size=8)
    a = train_bpr(train.user_idx, train.item_idx, 400, 300, config, seed=7)
    b = train_bpr(train.user_idx, train.item_idx, 400, 300, config, seed=7)
    np.testing.assert_array_equal(a.item_factors, b.item_factors)


def test_users_without_training_data_are_scored_by_item_bias_alone(split: tuple[Interactions, Interactions]) -> None:
    train, _ = split
    absent = train.user_idx != 0
    model = train_bpr(train.user_idx[absent], train.item_idx[absent], 400, 300, BPRConfig(epochs=2), seed=0)
    assert not model.trained_users()[0]
    np.testing.assert_allclose(model.score_all(np.array([0]))[0], model.item_bias)
