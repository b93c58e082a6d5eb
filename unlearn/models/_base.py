"""The one scoring interface every recommender in Lethe meets.

Methods (SISA, RecEraser, ...) aggregate models and the verifier compares them only through this interface,
so a new base model or an aggregate of shard models plugs in without touching either.
Users and items are dense integer indices assigned by the store at ingestion.
"""

from __future__ import annotations

from abc import ABC, abstractmethod

import numpy as np
import scipy.sparse as sp


class Recommender(ABC):
    """Scores (user, item) pairs; recommends top-k; exposes latent factors where it has them."""

    n_users: int
    n_items: int

    @abstractmethod
    def score_all(self, users: np.ndarray) -> np.ndarray:
        """Scores of every item for each user: float32 array of shape ``(len(users), n_items)``."""

    def score(self, users: np.ndarray, items: np.ndarray) -> np.ndarray:
        """Score of each pair ``(users[j], items[j])``; default gathers from :meth:`score_all` per user."""
        users = np.asarray(users, dtype=np.int64)
        items = np.asarray(items, dtype=np.int64)
        unique_users, inverse = np.unique(users, return_inverse=True)
        scores = self.score_all(unique_users)
        return scores[inverse, items]

    def recommend(
        self, users: np.ndarray, k: int, exclude: sp.csr_matrix | None = None, batch_size: int = 1024
    ) -> np.ndarray:
        """Top-``k`` item indices per user, best first; items set in ``exclude[user]`` are never returned."""
        users = np.asarray(users, dtype=np.int64)
        k = min(k, self.n_items)
        out = np.empty((len(users), k), dtype=np.int64)
        for start in range(0, len(users), batch_size):
            batch = users[start : start + batch_size]
            scores = self.score_all(batch).astype(np.float32, copy=True)
            if exclude is not None:
                seen = exclude[batch]
                rows = np.repeat(np.arange(len(batch)), np.diff(seen.indptr))
                scores[rows, seen.indices] = -np.inf
            top = np.argpartition(-scores, k - 1, axis=1)[:, :k]
            order = np.argsort(-np.take_along_axis(scores, top, axis=1), axis=1, kind="stable")
            out[start : start + len(batch)] = np.take_along_axis(top, order, axis=1)
        return out

    def trained_users(self) -> np.ndarray | None:
        """Boolean mask of users this model trained on (``None`` if it cannot tell)."""
        return None

    def user_embeddings(self) -> np.ndarray | None:
        """User latent factors ``(n_users, d)`` if the model has them, else ``None``."""
        return None

    def item_embeddings(self) -> np.ndarray | None:
        """Item latent factors ``(n_items, d)`` if the model has them, else ``None``."""
        return None
