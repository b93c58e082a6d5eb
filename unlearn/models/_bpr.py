"""BPR-MF (Rendle et al. 2009) in torch on the CPU: pairwise ranking loss with sampled negatives.

score(u, i) = <p_u, q_i> + b_i. Users with no training interaction get a zero vector, so the model scores
them by item bias alone: it knows nothing of them, exactly like a model that never saw them.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import ClassVar

import numpy as np
import torch
from pydantic import BaseModel, ConfigDict, Field

from unlearn.models._base import Recommender


class BPRConfig(BaseModel):
    """Hyper-parameters of BPR-MF (names shared by every Lethe model)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    embedding_size: int = Field(64, ge=1, description="latent dimension d")
    epochs: int = Field(20, ge=1)
    learning_rate: float = Field(0.01, gt=0, description="Adam step size")
    reg: float = Field(1e-4, ge=0, description="L2 weight on the batch's embeddings")
    batch_size: int = Field(4096, ge=1)


class BPRModel(Recommender):
    """Trained BPR-MF factors as numpy arrays (what checkpoints store)."""

    kind: ClassVar[str] = "bpr"

    def __init__(
        self, user_factors: np.ndarray, item_factors: np.ndarray, item_bias: np.ndarray, user_trained: np.ndarray
    ) -> None:
        self.user_trained = np.asarray(user_trained, dtype=bool)
        self.user_factors = np.ascontiguousarray(user_factors, dtype=np.float32)
        self.item_factors = np.ascontiguousarray(item_factors, dtype=np.float32)
        self.item_bias = np.ascontiguousarray(item_bias, dtype=np.float32)
        self.n_users, self.n_items = len(self.user_factors), len(self.item_factors)

    def score_all(self, users: np.ndarray) -> np.ndarray:
        return self.user_factors[np.asarray(users, dtype=np.int64)] @ self.item_factors.T + self.item_bias

    def score(self, users: np.ndarray, items: np.ndarray) -> np.ndarray:
        users, items = np.asarray(users, dtype=np.int64), np.asarray(items, dtype=np.int64)
        return np.einsum("nd,nd->n", self.user_factors[users], self.item_factors[items]) + self.item_bias[items]

    def trained_users(self) -> np.ndarray:
        return self.user_trained

    def user_embeddings(self) -> np.ndarray:
        return self.user_factors

    def item_embeddings(self) -> np.ndarray:
        return self.item_factors

    def to_arrays(self) -> dict[str, np.ndarray]:
        return {
            "user_factors": self.user_factors,
            "item_factors": self.item_factors,
            "item_bias": self.item_bias,
            "user_trained": self.user_trained,
        }

    @classmethod
    def from_arrays(cls, arrays: dict[str, np.ndarray]) -> "BPRModel":
        return cls(arrays["user_factors"], arrays["item_factors"], arrays["item_bias"], arrays["user_trained"])


def _sample_negatives(
    rng: np.random.Generator, users: np.ndarray, positive_keys: np.ndarray, n_items: int, tries: int = 3
) -> np.ndarray:
    """Uniform negatives, re-drawn (a few times) where they hit one of the user's positives."""
    negatives = rng.integers(0, n_items, size=len(users))
    for _ in range(tries):
        keys = users * n_items + negatives
        position = np.searchsorted(positive_keys, keys).clip(max=len(positive_keys) - 1)
        hit = positive_keys[position] == keys
        if not hit.any():
            break
        negatives[hit] = rng.integers(0, n_items, size=int(hit.sum()))
    return negatives


def train_bpr(
    user_idx: np.ndarray,
    item_idx: np.ndarray,
    n_users: int,
    n_items: int,
    config: BPRConfig,
    seed: int,
    on_epoch: Callable[[int, float], None] | None = None,
) -> BPRModel:
    """Fit BPR-MF on the given positive pairs; deterministic for a seed on one machine.

    ``on_epoch(epoch, mean_loss)`` is called after each epoch (progress bars, logs).
    """
    if len(user_idx) == 0:
        raise ValueError("cannot train on an empty interaction set")
    rng = np.random.default_rng(seed)
    generator = torch.Generator().manual_seed(seed)
    users = np.array(user_idx, dtype=np.int64)  # copies: torch shares memory and needs it writable
    items = np.array(item_idx, dtype=np.int64)
    positive_keys = np.unique(users * n_items + items)

    d = config.embedding_size
    user_emb = torch.nn.Embedding(n_users, d, sparse=True)
    item_emb = torch.nn.Embedding(n_items, d, sparse=True)
    bias = torch.nn.Embedding(n_items, 1, sparse=True)
    with torch.no_grad():
        user_emb.weight.normal_(0.0, 0.1, generator=generator)
        item_emb.weight.normal_(0.0, 0.1, generator=generator)
        bias.weight.zero_()
    optimizer = torch.optim.SparseAdam(
        [user_emb.weight, item_emb.weight, bias.weight], lr=config.learning_rate
    )
    users_t, items_t = torch.from_numpy(users), torch.from_numpy(items)
    for epoch in range(config.epochs):
        order = torch.from_numpy(rng.permutation(len(users)))
        negatives_t = torch.from_numpy(_sample_negatives(rng, users[order.numpy()], positive_keys, n_items))
        total = 0.0
        for start in range(0, len(users), config.batch_size):
            batch = order[start : start + config.batch_size]
            u, i, j = users_t[batch], items_t[batch], negatives_t[start : start + config.batch_size]
            pu, qi, qj = user_emb(u), item_emb(i), item_emb(j)
            x_uij = (pu * (qi - qj)).sum(1) + bias(i).squeeze(1) - bias(j).squeeze(1)
            loss = -torch.nn.functional.logsigmoid(x_uij).mean()
            loss = loss + config.reg * (pu.pow(2).sum() + qi.pow(2).sum() + qj.pow(2).sum()) / len(batch)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            total += float(loss.detach()) * len(batch)
        if on_epoch is not None:
            on_epoch(epoch, total / len(users))

    trained = np.zeros(n_users, dtype=bool)
    trained[users] = True
    user_factors = user_emb.weight.detach().numpy().copy()
    user_factors[~trained] = 0.0
    return BPRModel(user_factors, item_emb.weight.detach().numpy(), bias.weight.detach().numpy()[:, 0], trained)
