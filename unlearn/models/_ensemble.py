"""Mean aggregation of shard models (SISA): each user is scored by the shards that trained on them.

With user-sharded data, averaging in shards that never saw a user would only dilute their personal scores
with item popularity; so a user's score is the mean over the shards holding them, and a user no shard holds
(new, or erased) gets the mean over all shards — which, for models like BPR, is item popularity alone.
"""

from __future__ import annotations

import numpy as np

from unlearn.models._base import Recommender


class ShardMeanEnsemble(Recommender):
    """Mean of shard scores over the shards that hold each user (all shards for users no shard holds)."""

    def __init__(self, shards: list[Recommender]) -> None:
        if not shards:
            raise ValueError("an ensemble needs at least one shard model")
        self.shards = shards
        self.n_users, self.n_items = shards[0].n_users, shards[0].n_items
        masks = [m.trained_users() for m in shards]
        held = np.ones((self.n_users, len(shards)), dtype=bool)
        if all(mask is not None for mask in masks):
            held = np.stack(masks, axis=1)
        held[~held.any(axis=1)] = True
        self.weights = (held / held.sum(axis=1, keepdims=True)).astype(np.float32)

    def score_all(self, users: np.ndarray) -> np.ndarray:
        users = np.asarray(users, dtype=np.int64)
        if len(self.shards) == 1:
            return self.shards[0].score_all(users)
        weights = self.weights[users]
        total = np.zeros((len(users), self.n_items), dtype=np.float32)
        for shard, model in enumerate(self.shards):
            rows = weights[:, shard] > 0
            if rows.any():
                total[rows] += weights[rows, shard, None] * model.score_all(users[rows])
        return total

    def trained_users(self) -> np.ndarray | None:
        masks = [m.trained_users() for m in self.shards]
        return None if any(m is None for m in masks) else np.any(np.stack(masks), axis=0)

    def user_embeddings(self) -> np.ndarray | None:
        """Weighted mean of the shards' user factors (what latent-distance checks compare)."""
        factors = [m.user_embeddings() for m in self.shards]
        if any(f is None for f in factors):
            return None
        return np.einsum("us,sud->ud", self.weights, np.stack(factors))

    def item_embeddings(self) -> np.ndarray | None:
        factors = [m.item_embeddings() for m in self.shards]
        if any(f is None for f in factors):
            return None
        return np.mean(np.stack(factors), axis=0)
