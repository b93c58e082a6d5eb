"""LASER's Group module (issue 6): hypergraph weights, walks on it, seeded embeddings, balanced k-means, ρ."""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.sparse as sp

from unlearn.data import load_source
from unlearn.partition import _collaborative
from unlearn.partition import (WalkConfig, balanced_kmeans, cohesion, collaborative_embedding, group_users,
                               hypergraph, random_walks, rating_matrix, resolve_vertex_weight)

FAST_WALKS = WalkConfig(dimensions=8, epochs=2)


@pytest.fixture(scope="module")
def ratings() -> sp.csr_matrix:
    raw = load_source("synthetic", seed=1, n_users=120, n_items=80).frame
    users, items = (raw[c].astype("category").cat.codes.to_numpy(np.int64) for c in ("subject", "item"))
    return rating_matrix(users, items, None, int(users.max()) + 1, int(items.max()) + 1)


def test_vertex_weights_are_average_ratings_on_shared_items() -> None:
    # user 0 rated items 0, 1; user 1 rated 0 (5 stars), 1 (3 stars), 2; user 2 rated only item 2
    matrix = rating_matrix(np.array([0, 0, 1, 1, 1, 2]), np.array([0, 1, 0, 1, 2, 2]),
                           np.array([4.0, 2.0, 5.0, 3.0, 1.0, np.nan]), 3, 3)
    weights, sizes = hypergraph(matrix)
    dense = weights.toarray()
    assert dense[0, 1] == pytest.approx(4.0)  # user 1's mean over items 0 and 1, the ones user 0 rated
    assert dense[1, 0] == pytest.approx(3.0)  # user 0's mean over the same items
    assert dense[0, 2] == 0 and dense[2, 0] == 0  # no shared item: not in each other's hyperedge
    assert dense[2, 1] == pytest.approx(1.0) and dense[2, 2] == pytest.approx(1.0)  # missing rating counts as 1
    assert sizes.tolist() == [2, 3, 2]
    summed, _ = hypergraph(matrix, "sum")
    assert summed.toarray()[0, 1] == pytest.approx(8.0)


def test_auto_vertex_weight_is_the_average_with_ratings_and_the_shared_count_without() -> None:
    users, items = np.array([0, 0, 1, 1, 1, 2]), np.array([0, 1, 0, 1, 2, 2])
    explicit = rating_matrix(users, items, np.array([4.0, 2.0, 5.0, 3.0, 1.0, 2.0]), 3, 3)
    implicit = rating_matrix(users, items, None, 3, 3)
    assert resolve_vertex_weight(explicit, "auto") == "average" and resolve_vertex_weight(implicit, "auto") == "sum"
    assert resolve_vertex_weight(implicit, "average") == "average"  # an explicit choice is kept
    np.testing.assert_array_equal(hypergraph(explicit)[0].toarray(), hypergraph(explicit, "average")[0].toarray())
    weights = hypergraph(implicit)[0].toarray()
    assert weights[0, 1] == 2 and weights[1, 2] == 1 and weights[1, 1] == 3  # items shared, not a constant 1
    with pytest.raises(ValueError, match="unknown vertex weight 'median'; known: auto, average, sum"):
        hypergraph(implicit, "median")


def test_walks_pick_hyperedges_by_size_alone_so_one_blockbuster_mixes_taste_clusters() -> None:
    # issue 6, why CBKM barely beats random groups on MovieLens: two clusters of 20 users, each rating its own 5
    # items, plus one item every user rated. Alg. 3 draws the hyperedge by its size (all equal here), not by how
    # much its owner shares with the walker, so a step crosses clusters half the time whatever the vertex weights;
    # only which users get visited changes (by shared items under "sum").
    users = np.repeat(np.arange(40), 6)
    items = np.where(np.tile(np.arange(6), 40) == 5, 10, np.where(users < 20, 0, 5) + np.tile(np.arange(6), 40))
    matrix = rating_matrix(users, items, None, 40, 11)
    cluster = np.arange(40) >= 20
    for rule in ("average", "auto"):
        walks = random_walks(*hypergraph(matrix, rule), WalkConfig(repetitions=10, depth=8), seed=0)
        assert 0.4 < float((cluster[walks[:, :-1]] != cluster[walks[:, 1:]]).mean()) < 0.6


def test_every_walk_step_moves_between_co_raters(ratings: sp.csr_matrix) -> None:
    weights, sizes = hypergraph(ratings)
    walks = random_walks(weights, sizes, WalkConfig(repetitions=2, depth=5), seed=0)
    assert walks.shape == (2 * int((sizes > 0).sum()), 6)
    # a step goes v → hyperedge e_i ∋ v → u ∈ e_i, so v and u are at most two co-rating hops apart
    co_raters = (weights > 0).astype(np.int64)
    two_hops = ((co_raters @ co_raters) > 0).toarray()
    assert two_hops[walks[:, :-1], walks[:, 1:]].all()


def test_walks_and_embedding_are_deterministic_under_a_seed(ratings: sp.csr_matrix) -> None:
    weights, sizes = hypergraph(ratings)
    np.testing.assert_array_equal(random_walks(weights, sizes, FAST_WALKS, 3), random_walks(weights, sizes, FAST_WALKS, 3))
    assert not np.array_equal(random_walks(weights, sizes, FAST_WALKS, 3), random_walks(weights, sizes, FAST_WALKS, 4))
    first = collaborative_embedding(ratings, FAST_WALKS, 3)
    _collaborative._EMBEDDINGS.clear()  # made anew, not served from memory
    again = collaborative_embedding(ratings, FAST_WALKS, 3)
    assert first.shape == (ratings.shape[0], FAST_WALKS.dimensions)
    np.testing.assert_array_equal(first, again)  # bit-identical: one Word2Vec worker, a process-stable hash
    assert not np.array_equal(first, collaborative_embedding(ratings, FAST_WALKS, 4))


def test_the_embedding_is_made_once_per_ratings_config_and_seed(ratings: sp.csr_matrix,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    # issue 6: Rand, BKM and CBKM at every S need the same embedding (for ρ); it is made once, handed out as copies
    made: list[int] = []
    real = _collaborative.embed_walks
    monkeypatch.setattr(_collaborative, "embed_walks", lambda *args: made.append(args[3]) or real(*args))
    first = collaborative_embedding(ratings, FAST_WALKS, 11)
    first[:] = 0  # the caller's copy: changing it must not change the next answer
    again = collaborative_embedding(ratings, FAST_WALKS, 11)
    assert made == [11] and again.any()
    np.testing.assert_array_equal(again, real(random_walks(*hypergraph(ratings), FAST_WALKS, 11), ratings.shape[0],
                                              FAST_WALKS, 11))
    changed = ratings.copy()
    changed.data[0] = 3.0  # other ratings, another config or another seed: made anew
    collaborative_embedding(changed, FAST_WALKS, 11)
    collaborative_embedding(ratings, FAST_WALKS.model_copy(update={"window": 2}), 11)
    collaborative_embedding(ratings, FAST_WALKS, 12)
    assert made == [11, 11, 11, 12]


@pytest.mark.parametrize(("n", "groups"), [(100, 8), (97, 4), (31, 31), (50, 1)])
def test_balanced_kmeans_never_exceeds_the_ceiling(n: int, groups: int) -> None:
    rng = np.random.default_rng(n)
    # three tight blobs of unequal size: plain k-means would give unbalanced groups
    centres = np.array([[0.0, 0.0], [10.0, 0.0], [0.0, 10.0]])
    points = centres[rng.choice(3, size=n, p=[0.7, 0.2, 0.1])] + rng.normal(scale=0.1, size=(n, 2))
    labels = balanced_kmeans(points, groups, seed=0)
    counts = np.bincount(labels, minlength=groups)
    assert counts.max() <= math.ceil(n / groups) and counts.sum() == n and labels.min() >= 0


def test_balanced_kmeans_groups_rating_rows_and_keeps_clusters_together() -> None:
    # two disjoint taste groups of 20 users each, sparse rows: BKM with S = 2 must separate them exactly
    users = np.repeat(np.arange(40), 5)
    items = np.where(users < 20, 0, 10) + np.tile(np.arange(5), 40)
    matrix = rating_matrix(users, items, None, 40, 15)
    labels = balanced_kmeans(matrix, 2, seed=0)
    assert len(set(labels[:20])) == 1 and len(set(labels[20:])) == 1 and labels[0] != labels[20]
    with pytest.raises(ValueError, match="cannot split 40 users into 41 groups"):
        balanced_kmeans(matrix, 41, seed=0)


def test_cohesion_is_the_inverse_distance_sum_over_the_group_size() -> None:
    embeddings = np.array([[0.0, 0.0], [3.0, 4.0], [0.0, 0.0], [0.0, 1.0], [0.0, 3.0]])
    labels = np.array([0, 0, 1, 1, 1])
    rho = cohesion(embeddings, labels, 2)
    assert rho[0] == pytest.approx(2 * (1 / 5) / 2)  # one pair at distance 5, counted both ways
    assert rho[1] == pytest.approx(2 * (1 / 1 + 1 / 3 + 1 / 2) / 3)


def test_groupings_by_name(ratings: sp.csr_matrix) -> None:
    users = np.flatnonzero(np.diff(ratings.indptr) > 0)
    embeddings = collaborative_embedding(ratings, FAST_WALKS, 0)
    for name in ("rand", "bkm", "cbkm"):
        labels = group_users(name, ratings, embeddings, users, 4, seed=0)
        assert len(labels) == len(users) and np.bincount(labels).max() <= math.ceil(len(users) / 4)
    with pytest.raises(ValueError, match="unknown grouping 'metis'; known: rand, bkm, cbkm"):
        group_users("metis", ratings, embeddings, users, 4, seed=0)
    with pytest.raises(ValueError, match="needs the collaborative embedding"):
        group_users("cbkm", ratings, None, users, 4, seed=0)
