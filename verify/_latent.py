"""Latent distance to the reference: where the affected users' and items' embeddings sit after alignment.

Two independently trained factor models can agree on every score and still differ by a rotation of the latent
space (``<p R, q R> = <p, q>`` for orthogonal ``R``), so embeddings are compared only after orthogonal Procrustes
alignment (``scipy.linalg.orthogonal_procrustes``). The rotation is fitted on the rows both models share and
the erasure should not have moved — all items and the users who kept their data — and then applied to the
affected rows, so the fit never hides what is being measured. Both models are first scaled to a unit RMS row
norm over those shared rows, which makes distances unit-free: 1.0 is "as far as a typical embedding is long".

Linear CKA (Kornblith et al., ICML 2019) is reported alongside for the affected items: it is rotation- and
scale-invariant, so it needs no alignment and cross-checks the distance.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.linalg import orthogonal_procrustes

from unlearn.models import Recommender


@dataclass(frozen=True)
class LatentComparison:
    """Distances (RMS, in units of the reference's RMS row norm) of the affected rows, and CKA of affected items."""

    users: float
    items: float
    items_cka: float


def linear_cka(x: np.ndarray, y: np.ndarray) -> float:
    """Linear CKA of two row-matched representations; 0.0 when either has no variance (nothing to compare)."""
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    if x.shape[0] != y.shape[0]:
        raise ValueError(f"CKA needs the same rows in both representations, got {x.shape[0]} and {y.shape[0]}")
    x = x - x.mean(axis=0)
    y = y - y.mean(axis=0)
    denominator = np.linalg.norm(x.T @ x) * np.linalg.norm(y.T @ y)
    return float(np.linalg.norm(y.T @ x) ** 2 / denominator) if denominator > 0 else 0.0


def _rms(rows: np.ndarray) -> float:
    return float(np.sqrt((rows.astype(np.float64) ** 2).sum(axis=1).mean())) if len(rows) else 0.0


def compare_latent(
    model: Recommender,
    reference: Recommender,
    shared_users: np.ndarray,
    affected_users: np.ndarray,
    affected_items: np.ndarray,
) -> LatentComparison | None:
    """Align ``model`` to ``reference`` on the shared rows and measure the affected ones; ``None`` without embeddings."""
    embeddings = [model.user_embeddings(), model.item_embeddings(), reference.user_embeddings(),
                  reference.item_embeddings()]
    if any(e is None for e in embeddings):
        return None
    users_a, items_a, users_b, items_b = (np.asarray(e, dtype=np.float64) for e in embeddings)
    if users_a.shape[1] != users_b.shape[1]:
        raise ValueError(f"latent dimensions differ: {users_a.shape[1]} vs {users_b.shape[1]}")
    shared_a = np.vstack([users_a[shared_users], items_a])
    shared_b = np.vstack([users_b[shared_users], items_b])
    scale_a, scale_b = _rms(shared_a), _rms(shared_b)
    if scale_a == 0 or scale_b == 0:
        raise ValueError("a model's shared embeddings are all zero: nothing to align")
    rotation, _ = orthogonal_procrustes(shared_a / scale_a, shared_b / scale_b)

    def distance(a: np.ndarray, b: np.ndarray) -> float:
        return _rms((a / scale_a) @ rotation - b / scale_b)

    return LatentComparison(
        users=distance(users_a[affected_users], users_b[affected_users]),
        items=distance(items_a[affected_items], items_b[affected_items]),
        items_cka=linear_cka(items_a[affected_items], items_b[affected_items]),
    )
