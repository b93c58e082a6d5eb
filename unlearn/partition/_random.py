"""SISA's partition: users dealt to shards at random, so each user's data sits in exactly one shard."""

from __future__ import annotations

import numpy as np


def assign_users_to_shards(n_users: int, n_shards: int, seed: int) -> np.ndarray:
    """Random balanced partition of users: shard sizes differ by at most one user."""
    shard_of_user = np.empty(n_users, dtype=np.int32)
    shard_of_user[np.random.default_rng(seed).permutation(n_users)] = np.arange(n_users) % n_shards
    return shard_of_user
