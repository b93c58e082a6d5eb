"""LASER's Group module (Li et al., "Making Recommender Systems Forget", Alg. 1–4, Appendices A–B).

1. *Collaborative embedding* (Alg. 1): a hypergraph whose vertices are users and whose hyperedge ``e_i`` is user
   i's l-order reachable neighbourhood (Definition 1, l = 4: every user linked to i by a path of *fewer than
   four vertices* on the user–item bipartite graph, i.e. ``i – item – j``: every co-rater, i included; the next
   user, ``i – item – k – item – j``, is five vertices away), with edge-dependent vertex weights ``w(i, j)`` =
   user j's average rating on the items they share with i. Random walks (Alg. 3) go vertex → hyperedge (∝ its
   size) → vertex (∝ its weight in that hyperedge); the user sequences are embedded with gensim Word2Vec
   (skip-gram).

   *Implicit data* (ML-1M here): every rating is 1, so the paper's average is 1 for every co-rater: the vertex
   weights no longer depend on the hyperedge, and the hypergraph collapses to the plain co-rating clique graph
   that Appendix A.1 chose edge-dependent weights to avoid. The default ``vertex_weight="auto"`` therefore keeps
   the paper's average where there are ratings and, where there are none, weighs j in e_i by the number of
   items they share (the rating *sum*, the one edge-dependent quantity 0/1 ratings leave). ``"average"`` and
   ``"sum"`` force either rule.

   *What the walks can carry* (measured, issue 6): Alg. 3 picks the next hyperedge by its size alone, so a step
   from v lands in the neighbourhood of a co-rater u drawn regardless of how much u shares with v. When one
   popular item links nearly every pair (ML-1M: 35M of the 36.5M user pairs share an item; ML-100K alike), a
   single step mixes tastes, under either weight rule (see the bridged two-cluster test). What is left for
   Word2Vec is how often a user is visited: nothing under the average on implicit data (CBKM's ρ ~5% above
   random groups', two groups' ρ within 0.05%); under ``sum`` the visits follow activity (|embedding| vs a
   user's number of interactions: Spearman 0.63 on ML-1M, 0.07 with the average), so CBKM groups and the ρ
   order lean towards activity (ML-1M, S = 2: mean 111 vs 154 interactions, ρ 25% apart).
2. *Balanced grouping* (Alg. 2 with Alg. 4): k-means whose assignment step hands user–centroid pairs out in
   order of distance while a group holds fewer than ⌈N/S⌉ users, from a random allocation, until stable.
   Groupings: ``rand`` (balanced random), ``bkm`` (balanced k-means over raw rating rows), ``cbkm`` (over the
   collaborative embedding).
3. *Collaborative cohesion* ρ (Eq. 3): the sum of 1/Euclidean distance over the ordered pairs of a group's
   users, divided by its size; SeqTrain trains the most cohesive (easiest) group first.

Everything is vectorised: the hypergraph is the sparse co-rating matrix ``B Bᵀ`` (35M entries on ML-1M, built
in seconds), and every walker takes its step at once by a ``searchsorted`` in per-row cumulative weights.
"""

from __future__ import annotations

import hashlib
import math
import zlib
from typing import Literal

import numpy as np
import scipy.sparse as sp
from pydantic import BaseModel, ConfigDict, Field

from unlearn.partition._balanced import balanced_assignment
from unlearn.partition._random import assign_users_to_shards

GROUPINGS = ("rand", "bkm", "cbkm")
_COHESION_BLOCK = 2048  # rows of pairwise distances computed at once (2048 × group size floats)


class WalkConfig(BaseModel):
    """Random walks and sequence embedding (Appendix A: repetition 4, depth 8; the embedding size is ours)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    repetitions: int = Field(4, ge=1, description="walks started from every user")
    depth: int = Field(8, ge=1, description="steps per walk (a walk holds depth + 1 users)")
    dimensions: int = Field(32, ge=1, description="collaborative embedding size M")
    window: int = Field(4, ge=1, description="Word2Vec context window")
    epochs: int = Field(5, ge=1, description="Word2Vec passes over the walks")
    vertex_weight: Literal["auto", "average", "sum"] = Field(
        "auto", description="w(e_i, v_j): j's average rating on the items shared with i (the paper's), their sum "
        "(for implicit data, the number of shared items), or auto: average with ratings, sum without (where every "
        "average is 1)")


def check_grouping(name: str) -> str:
    """``name`` if it is a known grouping, else a ValueError naming the known ones."""
    if name not in GROUPINGS:
        raise ValueError(f"unknown grouping {name!r}; known: {', '.join(GROUPINGS)}")
    return name


def rating_matrix(user_idx: np.ndarray, item_idx: np.ndarray, ratings: np.ndarray | None, n_users: int,
                  n_items: int) -> sp.csr_matrix:
    """User × item ratings (1 where a rating is missing: implicit feedback); duplicates keep their mean."""
    values = np.ones(len(user_idx)) if ratings is None else np.where(np.isnan(ratings), 1.0, ratings)
    shape = (n_users, n_items)
    total = sp.csr_matrix((values, (user_idx, item_idx)), shape=shape)
    count = sp.csr_matrix((np.ones(len(user_idx)), (user_idx, item_idx)), shape=shape)
    total.sum_duplicates()
    count.sum_duplicates()
    total.data /= count.data
    return total


def is_implicit(ratings: sp.csr_matrix) -> bool:
    """Whether every stored rating is 1 (implicit feedback, or ratings never given)."""
    return bool(np.all(ratings.data == 1.0))


def resolve_vertex_weight(ratings: sp.csr_matrix, vertex_weight: str) -> str:
    """The rule ``vertex_weight`` stands for on these ratings: ``auto`` is ``sum`` on implicit data, else
    ``average`` (see the module doc); a ValueError for an unknown rule."""
    if vertex_weight not in ("auto", "average", "sum"):
        raise ValueError(f"unknown vertex weight {vertex_weight!r}; known: auto, average, sum")
    if vertex_weight != "auto":
        return vertex_weight
    return "sum" if is_implicit(ratings) else "average"


def hypergraph(ratings: sp.csr_matrix, vertex_weight: str = "auto") -> tuple[sp.csr_matrix, np.ndarray]:
    """Vertex weights ``W[i, j] = w(e_i, v_j)`` (row i is hyperedge e_i, its columns the users in it) and the
    hyperedge sizes ``|e_i|``. The pattern of ``W`` is symmetric: j ∈ e_i exactly when i ∈ e_j."""
    vertex_weight = resolve_vertex_weight(ratings, vertex_weight)
    binary = ratings.astype(np.float32)
    binary.data[:] = 1.0
    shared = (binary @ binary.T).tocsr()  # how many items i and j share
    if is_implicit(ratings):  # implicit feedback: a rating sum is the shared count, every average is 1
        data = np.ones(shared.nnz) if vertex_weight == "average" else shared.data.astype(np.float64)
    else:
        weighted = (binary @ ratings.T.astype(np.float32)).tocsr()  # sum of j's ratings on the shared items
        shared.sort_indices()
        weighted.sort_indices()
        if not (np.array_equal(shared.indptr, weighted.indptr) and np.array_equal(shared.indices, weighted.indices)):
            raise ValueError("ratings must be positive (a zero rating would drop a co-rater from a hyperedge)")
        data = weighted.data / shared.data if vertex_weight == "average" else weighted.data.astype(np.float64)
    weights = sp.csr_matrix((data, shared.indices, shared.indptr), shape=shared.shape)
    return weights, np.diff(weights.indptr)


def _sample_in_rows(matrix_indptr: np.ndarray, indices: np.ndarray, cumulative: np.ndarray, rows: np.ndarray,
                    rng: np.random.Generator) -> np.ndarray:
    """One column per requested row, drawn ∝ the row's weights (``cumulative``: running sum over all entries)."""
    start, end = matrix_indptr[rows], matrix_indptr[rows + 1]
    low = np.where(start > 0, cumulative[np.maximum(start - 1, 0)], 0.0)
    high = cumulative[end - 1]
    keys = low + rng.random(len(rows)) * (high - low)
    position = np.clip(np.searchsorted(cumulative, keys, side="right"), start, end - 1)
    return indices[position]


def random_walks(weights: sp.csr_matrix, sizes: np.ndarray, config: WalkConfig, seed: int) -> np.ndarray:
    """Alg. 3 for every user with a hyperedge, all walkers at once: ``(users · repetitions, depth + 1)`` ids.

    From vertex v the walker picks a hyperedge e_i ∋ v with probability ∝ |e_i| (the hyperedges holding v are
    the rows of v's co-raters, by symmetry), then a vertex u of e_i with probability ∝ w(e_i, u).
    """
    rng = np.random.default_rng(seed)
    indptr, indices = weights.indptr, weights.indices
    edge_cumulative = np.cumsum(sizes[indices], dtype=np.float64)
    vertex_cumulative = np.cumsum(weights.data, dtype=np.float64)
    starts = np.repeat(np.flatnonzero(sizes > 0), config.repetitions)
    walks = np.empty((len(starts), config.depth + 1), dtype=np.int64)
    walks[:, 0] = starts
    for step in range(config.depth):
        edges = _sample_in_rows(indptr, indices, edge_cumulative, walks[:, step], rng)
        walks[:, step + 1] = _sample_in_rows(indptr, indices, vertex_cumulative, edges, rng)
    return walks


def _stable_hash(token: str) -> int:
    """Word2Vec seeds each word's vector with ``hash(word + seed)``; Python's str hash changes per process."""
    return zlib.crc32(token.encode())


def embed_walks(walks: np.ndarray, n_users: int, config: WalkConfig, seed: int) -> np.ndarray:
    """Word2Vec (skip-gram, one worker: bit-reproducible) over the walks; users never walked get zeros."""
    from gensim.models import Word2Vec  # heavy import, only where embeddings are made

    sentences = [[str(u) for u in walk] for walk in walks.tolist()]
    model = Word2Vec(sentences, vector_size=config.dimensions, window=config.window, min_count=1, sg=1,
                     workers=1, seed=seed, epochs=config.epochs, hashfxn=_stable_hash)
    out = np.zeros((n_users, config.dimensions), dtype=np.float32)
    users = np.array([int(k) for k in model.wv.index_to_key], dtype=np.int64)
    out[users] = model.wv.vectors
    return out


def _ratings_digest(ratings: sp.csr_matrix) -> str:
    """sha256 of a rating matrix's shape and canonical CSR arrays (what the embedding is a function of)."""
    canonical = sp.csr_matrix(ratings, dtype=np.float64, copy=True)
    canonical.sum_duplicates()
    canonical.sort_indices()
    digest = hashlib.sha256(np.asarray(canonical.shape, dtype=np.int64).tobytes())
    for array in (canonical.indptr.astype(np.int64), canonical.indices.astype(np.int64), canonical.data):
        digest.update(array.tobytes())
    return digest.hexdigest()


#: The last embeddings made in this process, by (ratings digest, config, seed). The embedding is a pure,
#: bit-reproducible function of those (one Word2Vec worker), so fitting Rand, BKM, CBKM and every S on the same
#: training set — each needs it for ρ — makes it once instead of once per fit (~25 s each on ML-1M).
_EMBEDDINGS: dict[tuple[str, str, int], np.ndarray] = {}
_EMBEDDINGS_KEPT = 4


def collaborative_embedding(ratings: sp.csr_matrix, config: WalkConfig, seed: int) -> np.ndarray:
    """Alg. 1: hypergraph → random walks → sequence embedding, ``(n_users, config.dimensions)`` (a fresh copy;
    repeated calls with equal ratings, config and seed are served from memory)."""
    key = (_ratings_digest(ratings), config.model_dump_json(), seed)
    if key not in _EMBEDDINGS:
        weights, sizes = hypergraph(ratings, config.vertex_weight)
        _EMBEDDINGS[key] = embed_walks(random_walks(weights, sizes, config, seed), ratings.shape[0], config, seed)
        while len(_EMBEDDINGS) > _EMBEDDINGS_KEPT:
            del _EMBEDDINGS[next(iter(_EMBEDDINGS))]  # oldest first
    return _EMBEDDINGS[key].copy()


def _squared_distances(points: np.ndarray | sp.csr_matrix, centroids: np.ndarray) -> np.ndarray:
    if sp.issparse(points):
        norms = np.asarray(points.multiply(points).sum(axis=1)).ravel()
        cross = np.asarray(points @ centroids.T)
    else:
        norms, cross = (points**2).sum(axis=1), points @ centroids.T
    return np.maximum(norms[:, None] - 2.0 * cross + (centroids**2).sum(axis=1)[None, :], 0.0)


def balanced_kmeans(points: np.ndarray | sp.csr_matrix, n_groups: int, seed: int, iterations: int = 20) -> np.ndarray:
    """Alg. 2 + Alg. 4: group of each point; no group holds more than ⌈N/S⌉ points.

    Starts from a random balanced allocation; each round computes the centroids, then assigns user–centroid
    pairs nearest first while the group is below its ceiling; stops when nothing changes or after
    ``iterations`` rounds.
    """
    n = points.shape[0]
    if not 1 <= n_groups <= n:
        raise ValueError(f"cannot split {n} users into {n_groups} groups")
    ceiling = math.ceil(n / n_groups)
    labels = assign_users_to_shards(n, n_groups, seed).astype(np.int64)
    for _ in range(iterations):
        membership = sp.csr_matrix((np.ones(n), (labels, np.arange(n))), shape=(n_groups, n))
        sums = membership @ points
        centroids = (sums.toarray() if sp.issparse(sums) else sums) / np.maximum(membership.sum(axis=1).A, 1.0)
        distances = np.sqrt(_squared_distances(points, centroids))
        updated = balanced_assignment(distances, np.ones(n), ceiling)
        if np.array_equal(updated, labels):
            break
        labels = updated
    return labels


def cohesion(embeddings: np.ndarray, labels: np.ndarray, n_groups: int) -> np.ndarray:
    """Eq. 3 per group: Σ over ordered pairs x ≠ y of 1 / ‖x − y‖, divided by the group's size.

    Two users at distance 0 (identical embeddings) count as at distance 1e-12 rather than infinity.
    """
    embeddings = np.asarray(embeddings, dtype=np.float64)
    out = np.zeros(n_groups)
    for group in range(n_groups):
        members = embeddings[labels == group]
        if len(members) < 2:
            continue
        norms = (members**2).sum(axis=1)
        total = 0.0
        for start in range(0, len(members), _COHESION_BLOCK):
            block = members[start:start + _COHESION_BLOCK]
            squared = norms[start:start + _COHESION_BLOCK, None] - 2.0 * block @ members.T + norms[None, :]
            inverse = 1.0 / np.sqrt(np.maximum(squared, 1e-24))
            inverse[np.arange(len(block)), np.arange(start, start + len(block))] = 0.0  # x = y
            total += inverse.sum()
        out[group] = total / len(members)
    return out


def group_users(
    grouping: str, ratings: sp.csr_matrix, embeddings: np.ndarray | None, users: np.ndarray, n_groups: int,
    seed: int, iterations: int = 20,
) -> np.ndarray:
    """Group (0 … S − 1) of each of ``users`` (rows of ``ratings`` / ``embeddings``) by ``grouping``.

    ``rand``: balanced random; ``bkm``: balanced k-means over the users' rating rows; ``cbkm``: over their
    collaborative embeddings (required).
    """
    check_grouping(grouping)
    if grouping == "rand":
        return assign_users_to_shards(len(users), n_groups, seed).astype(np.int64)
    if grouping == "bkm":
        return balanced_kmeans(ratings[users], n_groups, seed, iterations)
    if embeddings is None:
        raise ValueError("grouping 'cbkm' needs the collaborative embedding")
    return balanced_kmeans(np.asarray(embeddings[users], dtype=np.float64), n_groups, seed, iterations)
