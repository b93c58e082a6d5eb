"""Rating MF (Koren et al. 2009; CFF's base model): r̂(u, i) = μ + b_u + b_i + <p_u, q_i>, squared loss.

Trained by Adam on the given targets: explicit ratings when the caller passes them (CFF's RMSE scenario),
otherwise implicit feedback as a pointwise problem (observed pairs target 1, ``negatives`` uniformly sampled
unobserved pairs per positive target 0) — the generic training path (shards, references) carries no ratings,
so a deployment and its verification references then fit the same implicit targets.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch
from pydantic import BaseModel, ConfigDict, Field

from unlearn.models._factors import FactorModel, one_intra_op_thread
from unlearn.models._pairwise import sample_negatives


class RatingMFConfig(BaseModel):
    """Hyper-parameters of rating MF (CFF: K = 64, α = 0.03)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    embedding_size: int = Field(64, ge=1, description="latent dimension K")
    epochs: int = Field(20, ge=1)
    learning_rate: float = Field(0.03, gt=0, description="Adam step size α")
    reg: float = Field(0.05, ge=0, description="L2 weight on the batch's factors and biases")
    batch_size: int = Field(4096, ge=1)
    negatives: int = Field(2, ge=0, description="implicit data only: target-0 pairs sampled per positive")


class RatingMFModel(FactorModel):
    """Factors, item bias, user bias and the global mean; scores are predicted ratings."""

    def __init__(self, user_factors: np.ndarray, item_factors: np.ndarray, item_bias: np.ndarray,
                 user_trained: np.ndarray, user_bias: np.ndarray, global_mean: float) -> None:
        super().__init__(user_factors, item_factors, item_bias, user_trained)
        self.user_bias = np.ascontiguousarray(user_bias, dtype=np.float32)
        self.global_mean = float(global_mean)

    def score_all(self, users: np.ndarray) -> np.ndarray:
        users = np.asarray(users, dtype=np.int64)
        return super().score_all(users) + self.user_bias[users, None] + np.float32(self.global_mean)

    def score(self, users: np.ndarray, items: np.ndarray) -> np.ndarray:
        users = np.asarray(users, dtype=np.int64)
        return super().score(users, items) + self.user_bias[users] + np.float32(self.global_mean)

    def to_arrays(self) -> dict[str, np.ndarray]:
        return {**super().to_arrays(), "user_bias": self.user_bias,
                "global_mean": np.asarray([self.global_mean], dtype=np.float64)}

    @classmethod
    def from_arrays(cls, arrays: dict[str, np.ndarray]) -> "RatingMFModel":
        return cls(arrays["user_factors"], arrays["item_factors"], arrays["item_bias"], arrays["user_trained"],
                   arrays["user_bias"], float(arrays["global_mean"][0]))


def rating_targets(
    user_idx: np.ndarray, item_idx: np.ndarray, n_items: int, ratings: np.ndarray | None, negatives: int,
    rng: np.random.Generator,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(users, items, targets)``: the ratings as given, or implicit positives (1) plus sampled zeros."""
    users, items = np.asarray(user_idx, dtype=np.int64), np.asarray(item_idx, dtype=np.int64)
    if ratings is not None:
        targets = np.asarray(ratings, dtype=np.float32)
        if targets.shape != users.shape or not np.isfinite(targets).all():
            raise ValueError("ratings must be finite and one per (user, item) pair")
        return users, items, targets
    keys = np.unique(users * n_items + items)
    neg_users = np.repeat(users, negatives)
    neg_items = sample_negatives(rng, neg_users, keys, n_items)
    return (np.concatenate([users, neg_users]), np.concatenate([items, neg_items]),
            np.concatenate([np.ones(len(users), np.float32), np.zeros(len(neg_users), np.float32)]))


def train_rating_mf(
    user_idx: np.ndarray,
    item_idx: np.ndarray,
    n_users: int,
    n_items: int,
    config: RatingMFConfig,
    seed: int,
    on_epoch: Callable[[int, float], None] | None = None,
    ratings: np.ndarray | None = None,
) -> RatingMFModel:
    """Fit rating MF by mini-batch Adam on the squared error; deterministic for a seed on one machine."""
    if len(user_idx) == 0:
        raise ValueError("cannot train on an empty interaction set")
    rng = np.random.default_rng(seed)
    generator = torch.Generator().manual_seed(seed)
    users, items, targets = rating_targets(user_idx, item_idx, n_items, ratings, config.negatives, rng)
    mean = float(targets.mean())
    d = config.embedding_size
    p = torch.nn.Parameter(torch.randn(n_users, d, generator=generator) * 0.1)
    q = torch.nn.Parameter(torch.randn(n_items, d, generator=generator) * 0.1)
    bu = torch.nn.Parameter(torch.zeros(n_users))
    bi = torch.nn.Parameter(torch.zeros(n_items))
    optimizer = torch.optim.Adam([p, q, bu, bi], lr=config.learning_rate)
    users_t, items_t, targets_t = (torch.tensor(users), torch.tensor(items), torch.tensor(targets))  # copies: inputs may be read-only views
    with one_intra_op_thread():  # many small ops a batch: see one_intra_op_thread
        for epoch in range(config.epochs):
            order = torch.from_numpy(rng.permutation(len(users)))
            total = 0.0
            for start in range(0, len(order), config.batch_size):
                batch = order[start : start + config.batch_size]
                u, i, r = users_t[batch], items_t[batch], targets_t[batch]
                pu, qi = p[u], q[i]
                error = mean + bu[u] + bi[i] + (pu * qi).sum(1) - r
                penalty = config.reg * (pu.pow(2).sum(1) + qi.pow(2).sum(1) + bu[u] ** 2 + bi[i] ** 2)
                loss = (error.pow(2) + penalty).mean()
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
                total += float(error.detach().pow(2).sum())
            if on_epoch is not None:
                on_epoch(epoch, total / len(users))
    trained = np.zeros(n_users, dtype=bool)
    trained[np.asarray(user_idx, dtype=np.int64)] = True
    user_factors = p.detach().numpy().copy()
    user_factors[~trained] = 0.0
    user_bias = bu.detach().numpy().copy()
    user_bias[~trained] = 0.0
    return RatingMFModel(user_factors, q.detach().numpy(), bi.detach().numpy(), trained, user_bias, mean)
