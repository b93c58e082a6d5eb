"""RecEraser's balanced partitions (Chen et al. WWW'22, Algorithms 1 and 2): k-means-like rounds of
"anchors → capped nearest-anchor assignment → anchors re-centred on their shard".

One implementation serves the three: a point's distance to an anchor is the *product* of Euclidean
distances in one or more embedding tables. UBP: points are users, one table (user embeddings). IBP: points
are items. InBP: points are interactions (u, v) and an anchor is a pair (p̄, q̄), so the distance is
‖p̄ − p̄_u‖ · ‖q̄ − q̄_v‖ (Eq. 3) and re-centring averages both parts over the shard's interactions (Eq. 4).
"""

from __future__ import annotations

import math

import numpy as np
import scipy.sparse as sp

from unlearn.partition._balanced import balanced_assignment

Table = tuple[np.ndarray, np.ndarray]
"""An embedding table (rows × d) and, per point, the row that embeds it."""


def anchored_partition(
    tables: list[Table], weights: np.ndarray, n_shards: int, balance: float, iterations: int, seed: int
) -> np.ndarray:
    """Shard of each point after at most ``iterations`` rounds (fewer if the assignment stops changing).

    Anchors start at ``n_shards`` distinct random points; each shard's load (sum of its points' weights) is
    capped at ``ceil(balance · total / n_shards)``.
    """
    n = len(weights)
    if n_shards > n:
        raise ValueError(f"cannot split {n} points into {n_shards} shards")
    cap = math.ceil(balance * float(np.sum(weights)) / n_shards)
    seeds = np.random.default_rng(seed).choice(n, size=n_shards, replace=False)
    anchors = [table[index[seeds]] for table, index in tables]
    shard = np.full(n, -1, dtype=np.int64)
    for _ in range(iterations):
        distances = np.ones((n, n_shards), dtype=np.float32)
        for (table, index), anchor in zip(tables, anchors):
            distances *= _euclidean(table, anchor)[index]
        assignment = balanced_assignment(distances, weights, cap)
        if np.array_equal(assignment, shard):
            break
        shard = assignment
        anchors = [_shard_means(table, index, shard, anchor) for (table, index), anchor in zip(tables, anchors)]
    empty = np.flatnonzero(np.bincount(shard, minlength=n_shards) == 0)
    if len(empty):
        raise ValueError(f"the partition left shard(s) {empty.tolist()} empty; use fewer shards")
    return shard


def _euclidean(table: np.ndarray, anchors: np.ndarray) -> np.ndarray:
    """Distance of every table row to every anchor: rows × K."""
    squared = (table**2).sum(1)[:, None] - 2.0 * table @ anchors.T + (anchors**2).sum(1)[None, :]
    return np.sqrt(np.maximum(squared, 0.0)).astype(np.float32)


def _shard_means(table: np.ndarray, index: np.ndarray, shard: np.ndarray, previous: np.ndarray) -> np.ndarray:
    """Mean embedding of each shard's points (Eq. 2 / Eq. 4); a shard left empty keeps its anchor."""
    counts = sp.csr_matrix((np.ones(len(index)), (shard, index)), shape=(len(previous), len(table)))
    sizes = np.asarray(counts.sum(1)).ravel()
    means = np.asarray(counts @ table) / np.maximum(sizes, 1.0)[:, None]
    return np.where(sizes[:, None] > 0, means, previous)
