"""Mean aggregation of shard models (SISA): each (user, item) is scored by the shards that know both.

With user-sharded data, averaging in shards that never saw a user would only dilute their personal scores
with item popularity; so a user's score is the mean over the shards holding them, and a user no shard holds
(new, or erased) gets the mean over all shards — which, for models like BPR, is item popularity alone.
Items likewise: a shard trained in a compact index space scores the items it never saw as exactly 0 (zero
factors, zero bias), a constant that would outrank every item it learned to score below 0. With
interaction- or item-based partitions (RecEraser's InBP/IBP) most items are unknown to most shards, and
averaging those zeros in ranks items by how many shards know them. So each item's mean runs over the
user's shards that know the item; an item none of them knows scores 0.
"""

from __future__ import annotations

import numpy as np

from unlearn.models._base import Recommender


def known_items(model: Recommender) -> np.ndarray:
    """Items ``model`` trained on: the non-zero rows of its item factors (all items if it has none)."""
    factors = model.item_embeddings()
    if factors is None:
        return np.ones(model.n_items, dtype=bool)
    return np.any(factors != 0, axis=1)


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
        self.known_items = np.stack([known_items(m) for m in shards])  # (shards, items)

    def score_all(self, users: np.ndarray) -> np.ndarray:
        users = np.asarray(users, dtype=np.int64)
        if len(self.shards) == 1:
            return self.shards[0].score_all(users)
        weights = self.weights[users]
        total = np.zeros((len(users), self.n_items), dtype=np.float32)
        mass = np.zeros_like(total)
        for shard, model in enumerate(self.shards):
            rows = weights[:, shard] > 0
            if rows.any():
                weight = weights[rows, shard, None] * self.known_items[shard]
                total[rows] += weight * model.score_all(users[rows])
                mass[rows] += weight
        return np.divide(total, mass, out=np.zeros_like(total), where=mass > 0)

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
        counts = np.maximum(self.known_items.sum(axis=0), 1)[:, None]
        return np.sum(np.stack(factors), axis=0) / counts  # mean over the shards that know each item
