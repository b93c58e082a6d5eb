"""Dot-product factor models: what BPR-MF, WMF, LightGCN and RecEraser's aggregate all serve.

score(u, i) = <p_u, q_i> + b_i. The trainers differ (pairwise SGD, alternating least squares, graph
propagation) but what they hand over is the same set of arrays, so one class scores, saves and loads them.
Users with no training interaction carry a zero vector: the model knows nothing of them.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np
import torch

from unlearn.models._base import Recommender


class FactorModel(Recommender):
    """User and item factors plus an item bias (zero for models without one), as numpy arrays."""

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
    def from_arrays(cls, arrays: dict[str, np.ndarray]) -> "FactorModel":
        return cls(arrays["user_factors"], arrays["item_factors"], arrays["item_bias"], arrays["user_trained"])

    def expanded(self, users: np.ndarray, items: np.ndarray, n_users: int, n_items: int) -> "FactorModel":
        """This model, trained in a compact index space, placed back at rows ``users``/``items`` of the full
        one; every other user and item gets zero factors and bias (the model knows nothing of them)."""
        user_factors = np.zeros((n_users, self.user_factors.shape[1]), dtype=np.float32)
        item_factors = np.zeros((n_items, self.item_factors.shape[1]), dtype=np.float32)
        item_bias, user_trained = np.zeros(n_items, dtype=np.float32), np.zeros(n_users, dtype=bool)
        user_factors[users], item_factors[items] = self.user_factors, self.item_factors
        item_bias[items], user_trained[users] = self.item_bias, self.user_trained
        return FactorModel(user_factors, item_factors, item_bias, user_trained)

    @classmethod
    def unbiased(cls, user_factors: np.ndarray, item_factors: np.ndarray, user_trained: np.ndarray) -> "FactorModel":
        """A model without item bias (WMF, LightGCN); untrained users' factors are zeroed."""
        user_factors = np.array(user_factors, dtype=np.float32)
        user_factors[~np.asarray(user_trained, dtype=bool)] = 0.0
        return cls(user_factors, item_factors, np.zeros(len(item_factors), dtype=np.float32), user_trained)


_single_thread_lock = threading.Lock()
_single_thread_users = 0
_threads_before = 0


@contextmanager
def one_intra_op_thread() -> Iterator[None]:
    """torch's intra-op threads set to one for the block; the trainers' loops run in it.

    Their loops run many small ops (BPR ~10-15 per batch, WMF-CG ~10 per CG step). Split over OpenMP threads,
    each op ends at a barrier, and on a shared machine a descheduled thread stalls every barrier: measured on 2
    busy cores, a BPR-SGD epoch ran 30×, a BPR-Adam fit 20× and a WMF fit ~7× slower than with one thread. One
    thread per op is also deterministic; BPR puts the second core to work sampling the next epoch.

    The setting is process-wide and the verifier trains references in parallel threads, so the blocks are
    counted: the first to enter sets one thread, the last to leave restores the count found before.
    """
    global _single_thread_users, _threads_before
    with _single_thread_lock:
        if _single_thread_users == 0:
            _threads_before = torch.get_num_threads()
            torch.set_num_threads(1)
        _single_thread_users += 1
    try:
        yield
    finally:
        with _single_thread_lock:
            _single_thread_users -= 1
            if _single_thread_users == 0:
                torch.set_num_threads(_threads_before)
