"""Partitions: every interaction in exactly one shard, shards within their cap, similar data together."""

from __future__ import annotations

import math
import time

import numpy as np
import pytest

from unlearn.partition import PARTITIONS, PartitionConfig, assign_users_to_shards, balanced_assignment, partition_interactions

N_USERS, N_ITEMS, SHARDS = 200, 120, 4


@pytest.fixture(scope="module")
def clustered() -> dict[str, np.ndarray]:
    """Two taste clusters: users and items of a cluster sit together in embedding space and interact mostly
    within it (90 %)."""
    rng = np.random.default_rng(0)
    user_cluster, item_cluster = rng.integers(0, 2, N_USERS), rng.integers(0, 2, N_ITEMS)
    centres = np.array([[4.0, 0.0], [-4.0, 0.0]])
    users = centres[user_cluster] + rng.normal(0, 1, (N_USERS, 2))
    items = centres[item_cluster] + rng.normal(0, 1, (N_ITEMS, 2))
    user_idx = rng.integers(0, N_USERS, 6000)
    same = rng.random(6000) < 0.9
    wanted = np.where(same, user_cluster[user_idx], 1 - user_cluster[user_idx])
    item_idx = np.array([rng.choice(np.flatnonzero(item_cluster == c)) for c in wanted])
    return {"user_idx": user_idx, "item_idx": item_idx, "users": users, "items": items,
            "user_cluster": user_cluster, "item_cluster": item_cluster}


def _partition(data: dict[str, np.ndarray], name: str, shards: int = SHARDS, seed: int = 0) -> np.ndarray:
    return partition_interactions(name, data["user_idx"], data["item_idx"], N_USERS, N_ITEMS, shards, seed,
                                  (data["users"], data["items"]))


@pytest.mark.parametrize("name", PARTITIONS)
def test_every_interaction_gets_exactly_one_shard_in_range(clustered: dict[str, np.ndarray], name: str) -> None:
    shard = _partition(clustered, name)
    assert shard.shape == clustered["user_idx"].shape
    assert shard.min() == 0 and shard.max() == SHARDS - 1
    np.testing.assert_array_equal(shard, _partition(clustered, name))  # a pure function of its inputs


def test_inbp_shards_stay_within_the_cap(clustered: dict[str, np.ndarray]) -> None:
    cap = math.ceil(PartitionConfig().balance * len(clustered["user_idx"]) / SHARDS)
    sizes = np.bincount(_partition(clustered, "inbp"), minlength=SHARDS)
    assert sizes.max() <= cap and sizes.sum() == len(clustered["user_idx"])


@pytest.mark.parametrize(("name", "key"), [("ubp", "user_idx"), ("ibp", "item_idx")])
def test_ubp_and_ibp_keep_each_user_or_item_whole_and_balanced(clustered: dict[str, np.ndarray], name: str, key: str) -> None:
    shard = _partition(clustered, name)
    owners = clustered[key]
    assert all(len(np.unique(shard[owners == o])) == 1 for o in np.unique(owners))
    heaviest = np.bincount(owners).max()
    cap = math.ceil(PartitionConfig().balance * len(owners) / SHARDS)
    assert np.bincount(shard, minlength=SHARDS).max() < cap + heaviest  # one user/item may cross the cap


def test_random_partition_deals_users_like_sisa(clustered: dict[str, np.ndarray]) -> None:
    shard = partition_interactions("random", clustered["user_idx"], clustered["item_idx"], N_USERS, N_ITEMS, SHARDS, 3)
    np.testing.assert_array_equal(shard, assign_users_to_shards(N_USERS, SHARDS, 3)[clustered["user_idx"]])


def test_inbp_puts_interactions_of_one_taste_cluster_together(clustered: dict[str, np.ndarray]) -> None:
    """The point of a similarity partition: each shard is far purer in taste than a random one."""

    def purity(shard: np.ndarray) -> float:
        cluster = clustered["item_cluster"][clustered["item_idx"]]
        return float(np.mean([max(np.mean(cluster[shard == s]), 1 - np.mean(cluster[shard == s]))
                              for s in range(SHARDS)]))

    assert purity(_partition(clustered, "inbp")) > 0.85
    assert purity(_partition(clustered, "random")) < 0.65


def _sequential_greedy(distances: np.ndarray, weights: np.ndarray, cap: float) -> np.ndarray:
    """Algorithm 2, lines 8–14, literally: walk every (point, anchor) pair by ascending distance."""
    n, k = distances.shape
    shard, load = np.full(n, -1), np.zeros(k)
    for flat in np.argsort(distances, axis=None, kind="stable"):
        point, anchor = divmod(int(flat), k)
        if shard[point] < 0 and load[anchor] < cap:
            shard[point], load[anchor] = anchor, load[anchor] + weights[point]
    return shard


@pytest.mark.parametrize("seed", range(5))
def test_vectorised_assignment_equals_the_papers_sequential_walk(seed: int) -> None:
    rng = np.random.default_rng(seed)
    distances = rng.random((300, 5)).astype(np.float32)  # continuous: no ties, so one right answer
    weights = rng.integers(1, 4, 300).astype(np.float64) if seed % 2 else np.ones(300)
    cap = math.ceil(1.2 * weights.sum() / 5)
    np.testing.assert_array_equal(balanced_assignment(distances, weights, cap),
                                  _sequential_greedy(distances, weights, cap))


def test_an_ml1m_sized_training_set_partitions_in_well_under_a_minute() -> None:
    rng = np.random.default_rng(0)
    n_users, n_items, n = 6040, 3706, 720_000
    embeddings = (rng.normal(size=(n_users, 32)), rng.normal(size=(n_items, 32)))
    started = time.perf_counter()
    shard = partition_interactions("inbp", rng.integers(0, n_users, n), rng.integers(0, n_items, n), n_users,
                                   n_items, 10, 0, embeddings, PartitionConfig(iterations=3))
    assert time.perf_counter() - started < 30
    assert np.bincount(shard).max() <= math.ceil(1.2 * n / 10)


def test_bad_input_is_refused_with_a_reason(clustered: dict[str, np.ndarray]) -> None:
    args = (clustered["user_idx"], clustered["item_idx"], N_USERS, N_ITEMS)
    with pytest.raises(ValueError, match="unknown partition 'kmeans'; known: random, ubp, ibp, inbp"):
        partition_interactions("kmeans", *args, SHARDS, 0)
    with pytest.raises(ValueError, match="needs pre-trained user and item embeddings"):
        partition_interactions("inbp", *args, SHARDS, 0)
    with pytest.raises(ValueError, match="cannot split"):
        partition_interactions("ubp", *args, N_USERS + 1, 0, (clustered["users"], clustered["items"]))
    with pytest.raises(ValueError, match="cannot hold"):
        balanced_assignment(np.zeros((10, 2)), np.ones(10), cap=4)
