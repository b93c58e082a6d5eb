"""Partitions of a training set into shards: a shard per interaction, from pure, vectorised functions.

``random`` deals users to shards at random (SISA). ``ubp``, ``ibp`` and ``inbp`` are RecEraser's balanced
partitions by user, item or interaction similarity in pre-trained embeddings (Chen et al. WWW'22, §3.2).
Their shard cap is ``ceil(balance · total / n_shards)``, counted in interactions: UBP/IBP give each user/item
a weight equal to its number of interactions (the paper caps the *number* of users/items; capping
interactions instead keeps every shard's retraining cost, which is what unlearning pays, alike).
"""

from __future__ import annotations

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from unlearn.partition._anchored import anchored_partition
from unlearn.partition._balanced import balanced_assignment
from unlearn.partition._collaborative import (GROUPINGS, WalkConfig, balanced_kmeans, cohesion, collaborative_embedding,
                                              group_users, hypergraph, random_walks, rating_matrix,
                                              resolve_vertex_weight)
from unlearn.partition._random import assign_users_to_shards

PARTITIONS = ("random", "ubp", "ibp", "inbp")


class PartitionConfig(BaseModel):
    """How the balanced partitions run (the official RecEraser code uses a cap of 1.2 × the mean shard)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    balance: float = Field(1.2, ge=1.0, description="shard cap as a multiple of the mean shard size")
    iterations: int = Field(10, ge=1, description="most anchor updates (stops early once stable)")


def check_partition(name: str) -> str:
    """``name`` if it is a known partition, else a ValueError naming the known ones."""
    if name not in PARTITIONS:
        raise ValueError(f"unknown partition {name!r}; known: {', '.join(PARTITIONS)}")
    return name


def partition_interactions(
    name: str,
    user_idx: np.ndarray,
    item_idx: np.ndarray,
    n_users: int,
    n_items: int,
    n_shards: int,
    seed: int,
    embeddings: tuple[np.ndarray, np.ndarray] | None = None,
    config: PartitionConfig = PartitionConfig(),
) -> np.ndarray:
    """Shard (0 … n_shards − 1) of every interaction ``(user_idx[j], item_idx[j])``.

    ``embeddings`` = (user factors ``n_users × d``, item factors ``n_items × d``); required by ``ubp``,
    ``ibp`` and ``inbp``, ignored by ``random``.
    """
    check_partition(name)
    if n_shards < 1:
        raise ValueError(f"need at least one shard, got {n_shards}")
    user_idx, item_idx = np.asarray(user_idx, dtype=np.int64), np.asarray(item_idx, dtype=np.int64)
    if name == "random":
        return assign_users_to_shards(n_users, n_shards, seed)[user_idx].astype(np.int64)
    if embeddings is None:
        raise ValueError(f"partition {name!r} needs pre-trained user and item embeddings")
    users, items = (np.asarray(e, dtype=np.float32) for e in embeddings)
    if users.shape[0] != n_users or items.shape[0] != n_items:
        raise ValueError(f"embeddings cover {users.shape[0]} users and {items.shape[0]} items, "
                         f"not {n_users} and {n_items}")
    run = {"balance": config.balance, "iterations": config.iterations, "n_shards": n_shards, "seed": seed}
    if name == "inbp":
        return anchored_partition([(users, user_idx), (items, item_idx)], np.ones(len(user_idx)), **run)
    points, index, counts = np.unique(user_idx if name == "ubp" else item_idx, return_inverse=True, return_counts=True)
    table = users if name == "ubp" else items
    return anchored_partition([(table, points)], counts.astype(np.float64), **run)[index]


__all__ = [
    "GROUPINGS",
    "PARTITIONS",
    "PartitionConfig",
    "WalkConfig",
    "assign_users_to_shards",
    "balanced_assignment",
    "balanced_kmeans",
    "check_partition",
    "cohesion",
    "collaborative_embedding",
    "group_users",
    "hypergraph",
    "partition_interactions",
    "random_walks",
    "rating_matrix",
    "resolve_vertex_weight",
]
