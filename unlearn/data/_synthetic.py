"""A seeded interaction generator with real structure: popularity skew plus clustered personal taste.

Tests and benchmarks need data anyone can regenerate (no licence), that is large on demand, and on which
a personalised model (BPR-MF) clearly beats most-popular, so unlearning effects are measurable. Each user
samples items without replacement from P(item | user) ∝ popularity^a · exp(affinity / τ), in chunks of
users so memory stays bounded at tens of millions of interactions.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa

from unlearn.data._frame import DataError, RawInteractions, finalise_interactions

_TASTE_CLUSTERS = 8
# Affinity is a cosine in [-1, 1]; divided by τ it spans about ±5.9 logits, the same range as Zipf
# log-popularity over ~600 items (ln 600 ≈ 6.4), so taste and popularity weigh about equally.
_TEMPERATURE = 0.17
_TASTE_NOISE = 0.7  # spread of users/items around their cluster centre (centre has unit scale per axis)
_ACTIVITY_SIGMA = 0.8  # lognormal sigma of interactions per user: a heavy tail, like MovieLens
_RATING_NOISE = 0.85
_SCORE_EVERY_ITEM_UP_TO = 10_000  # catalogue size where scoring every item stops being the cheaper chooser
_CELL_BUDGET = 1 << 21  # max users × items scores per chunk: peak ≈ 40 bytes per cell, about 80 MB
# Expected popularity proposals per accepted item (mean acceptance ≈ 4%), used to size a user's first
# round of draws and a chunk; _DRAW_BUDGET caps a chunk's first round at about 200 MB of gathered vectors.
_FIRST_DRAWS_PER_ITEM = 25
_DRAW_BUDGET = 1 << 21
_SECONDS_PER_DAY = 86_400


def synthetic_interactions(
    n_users: int = 1000,
    n_items: int = 600,
    mean_interactions: float = 40,
    dim: int = 8,
    popularity_exponent: float = 1.0,
    seed: int = 0,
    start_ts: int = 1_600_000_000,
    span_days: int = 365,
    chunk_users: int = 20000,
) -> RawInteractions:
    """Generate a deterministic implicit/explicit data set; same arguments give the same digest.

    Ids are decimal strings "1".."n" like MovieLens. Each user has between 5 and ``n_items // 2``
    interactions (lognormal around ``mean_interactions``), ratings 1–5 follow affinity plus noise, and a
    user's timestamps increase within a random activity window inside ``span_days`` from ``start_ts``.
    ``chunk_users`` caps users sampled at once (further capped so a chunk holds about 2M scores or draws).
    """
    params = {
        "n_users": n_users,
        "n_items": n_items,
        "mean_interactions": mean_interactions,
        "dim": dim,
        "popularity_exponent": popularity_exponent,
        "seed": seed,
        "start_ts": start_ts,
        "span_days": span_days,
        "chunk_users": chunk_users,
    }
    _check(params)
    model_seed, sample_seed = np.random.SeedSequence(seed).spawn(2)
    rng = np.random.default_rng(model_seed)
    user_vectors, item_vectors = _taste_vectors(rng, n_users, n_items, dim)
    log_popularity = -popularity_exponent * np.log1p(rng.permutation(n_items))
    activity = _activity(rng, n_users, mean_interactions, n_items)
    span = span_days * _SECONDS_PER_DAY
    windows = np.sort(rng.random((n_users, 2)), axis=1) * span

    # Passing the sampled columns straight through lets each be freed once converted (matters at 10M+ rows).
    frame = _to_frame(
        *_sample_all(sample_seed, user_vectors, item_vectors, log_popularity, activity, windows, chunk_users),
        n_users=n_users,
        n_items=n_items,
        start_ts=start_ts,
    )
    return finalise_interactions(frame, name="synthetic", source="synthetic", path=None, params=params)


def _check(params: dict) -> None:
    """Refuse arguments that cannot give a valid data set, naming the argument."""
    ints = ("n_users", "n_items", "dim", "seed", "start_ts", "span_days", "chunk_users")
    for name in ints:
        if isinstance(params[name], bool) or not isinstance(params[name], (int, np.integer)):
            raise DataError(f"synthetic: {name} must be an integer, got {params[name]!r}")
        params[name] = int(params[name])
    for name in ("mean_interactions", "popularity_exponent"):
        params[name] = float(params[name])
    minimums = {"n_users": 1, "n_items": 10, "dim": 1, "span_days": 1, "chunk_users": 1, "seed": 0}
    for name, low in minimums.items():
        if params[name] < low:
            raise DataError(f"synthetic: {name} must be at least {low}, got {params[name]}")
    if not params["mean_interactions"] > 0:
        raise DataError(f"synthetic: mean_interactions must be positive, got {params['mean_interactions']}")
    if not params["popularity_exponent"] >= 0:
        raise DataError(f"synthetic: popularity_exponent must be >= 0, got {params['popularity_exponent']}")


def _taste_vectors(rng: np.random.Generator, n_users: int, n_items: int, dim: int) -> tuple[np.ndarray, ...]:
    """Unit user and item vectors scattered around a few shared taste clusters (the signal MF can learn)."""
    centres = rng.standard_normal((_TASTE_CLUSTERS, dim))

    def around_centres(n: int) -> np.ndarray:
        vectors = centres[rng.integers(0, _TASTE_CLUSTERS, n)] + _TASTE_NOISE * rng.standard_normal((n, dim))
        return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)

    return around_centres(n_users), around_centres(n_items)


def _activity(rng: np.random.Generator, n_users: int, mean: float, n_items: int) -> np.ndarray:
    """Interactions per user: lognormal with the requested mean, clipped to [5, n_items // 2]."""
    mu = np.log(mean) - _ACTIVITY_SIGMA**2 / 2
    counts = np.rint(rng.lognormal(mu, _ACTIVITY_SIGMA, n_users)).astype(np.int64)
    return np.clip(counts, 5, n_items // 2)


def _sample_all(
    seed: np.random.SeedSequence,
    user_vectors: np.ndarray,
    item_vectors: np.ndarray,
    log_popularity: np.ndarray,
    activity: np.ndarray,
    windows: np.ndarray,
    chunk_users: int,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """All users' (user, item, rating, time offset) columns, filled chunk by chunk into preallocated arrays.

    Both item choosers sample the same law; scoring every item is cheaper for a small catalogue, where a
    user may take half of it, and accepting proposals for a large one (50,000 items: minutes, not an hour).
    """
    n_users, n_items = len(user_vectors), len(item_vectors)
    total = int(activity.sum())
    columns = (np.empty(total, np.int32), np.empty(total, np.int32), np.empty(total, np.float64),
               np.empty(total, np.int64))
    if n_items <= _SCORE_EVERY_ITEM_UP_TO:
        chooser = _GumbelTopK(item_vectors, log_popularity)
        rows = max(1, min(chunk_users, _CELL_BUDGET // n_items))
    else:
        chooser = _PopularityProposals(item_vectors, log_popularity)
        rows = max(1, min(chunk_users, int(_DRAW_BUDGET // (float(activity.mean()) * _FIRST_DRAWS_PER_ITEM))))
    starts = range(0, n_users, rows)
    filled = 0
    for start, chunk_seed in zip(starts, seed.spawn(len(starts))):
        users = np.arange(start, min(start + rows, n_users))
        rng = np.random.default_rng(chunk_seed)
        row, items, affinity = chooser.choose(rng, user_vectors[users], activity[users])
        ratings = np.clip(np.rint(2.2 + 2.5 * affinity + _RATING_NOISE * rng.standard_normal(len(row))), 1, 5)
        begin, finish = windows[users[row]].T
        times = np.floor(begin + rng.random(len(row)) * (finish - begin)).astype(np.int64)
        order = np.lexsort((times, row))  # within a user, interactions in time order, unrelated to the draw
        chunk = (users[row[order]], items[order], ratings[order], times[order])
        end = filled + len(row)
        for column, values in zip(columns, chunk):
            column[filled:end] = values
        filled = end
    return columns


class _GumbelTopK:
    """Chooses by scoring every item: Gumbel-top-k of log-popularity + affinity / τ."""

    def __init__(self, item_vectors: np.ndarray, log_popularity: np.ndarray) -> None:
        self.item_vectors, self.log_popularity = item_vectors, log_popularity

    def choose(
        self, rng: np.random.Generator, taste: np.ndarray, counts: np.ndarray,
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``counts[u]`` distinct items per user as (row in chunk, item, affinity).

        Scores are float64 so a last-bit difference between CPUs (BLAS, SIMD log) cannot swap which item
        makes the top k, and the same seed gives the same digest on every machine.
        """
        affinity = taste @ self.item_vectors.T
        with np.errstate(divide="ignore"):
            gumbel = -np.log(rng.standard_exponential(affinity.shape))  # -log(Exp(1)) is Gumbel(0, 1)
        scores = self.log_popularity + affinity / _TEMPERATURE + gumbel
        widest = int(counts.max())
        top = np.argpartition(-scores, widest - 1, axis=1)[:, :widest]
        top = np.take_along_axis(top, np.argsort(-np.take_along_axis(scores, top, axis=1), axis=1), axis=1)
        row, rank = np.nonzero(np.arange(widest) < counts[:, None])
        items = top[row, rank]
        return row, items, affinity[row, items]


class _PopularityProposals:
    """Chooses by drawing with replacement and keeping each item's first draw.

    That is successive sampling without replacement — the law Gumbel-top-k samples — and each draw is a
    popularity proposal accepted with probability exp((affinity − 1) / τ) ≤ 1, so a user costs
    O(draws · dim) rather than a score for every item.
    """

    def __init__(self, item_vectors: np.ndarray, log_popularity: np.ndarray) -> None:
        self.item_vectors = item_vectors
        self.popularity = _AliasTable(np.exp(log_popularity - log_popularity.max()))

    def choose(
        self, rng: np.random.Generator, taste: np.ndarray, counts: np.ndarray,
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``counts[u]`` distinct items per user as (row in chunk, item, affinity)."""
        n_users, n_items = len(taste), len(self.item_vectors)
        kept = np.empty(0, np.int64)  # accepted row·n_items + item keys: grouped by row, draw order within
        have = np.zeros(n_users, np.int64)
        drawn = np.zeros(n_users, np.float64)
        while (missing := counts - have).any():
            # Draws per missing item: first the typical rate, then each user's own yield of new items so far.
            rate = np.where(drawn > 0, (have + 1) / (drawn + 1), 1 / _FIRST_DRAWS_PER_ITEM)
            draws = np.where(missing > 0, np.ceil(missing / rate * 1.5).astype(np.int64) + 8, 0)
            owner = np.repeat(np.arange(n_users), draws)
            items = self.popularity.draw(rng, len(owner))
            affinity = np.einsum("ij,ij->i", taste[owner], self.item_vectors[items])
            keep = rng.random(len(owner)) < np.exp((affinity - 1) / _TEMPERATURE)
            drawn += draws
            kept, have = _first_distinct(np.concatenate([kept, owner[keep] * n_items + items[keep]]), n_items, counts)
        row, items = kept // n_items, kept % n_items
        return row, items, np.einsum("ij,ij->i", taste[row], self.item_vectors[items])


class _AliasTable:
    """Walker's alias table: O(1) draws from fixed weights (a cdf search per draw was half the sampler's time)."""

    def __init__(self, weights: np.ndarray) -> None:
        n = len(weights)
        scaled = weights * (n / weights.sum())
        self.keep_probability = np.ones(n)
        self.alias = np.arange(n)
        small = [i for i in range(n) if scaled[i] < 1]
        large = [i for i in range(n) if scaled[i] >= 1]
        while small and large:  # Vose: each under-full column is topped up by one over-full item
            under, over = small.pop(), large[-1]
            self.keep_probability[under], self.alias[under] = scaled[under], over
            scaled[over] -= 1 - scaled[under]
            if scaled[over] < 1:
                small.append(large.pop())

    def draw(self, rng: np.random.Generator, size: int) -> np.ndarray:
        column = rng.integers(0, len(self.alias), size)
        return np.where(rng.random(size) < self.keep_probability[column], column, self.alias[column])


def _first_distinct(keys: np.ndarray, n_items: int, counts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each (user, item) key's first occurrence, at most ``counts[user]`` per user, in draw order; and counts."""
    _, first = np.unique(keys, return_index=True)
    distinct = keys[np.sort(first)]
    owner = distinct // n_items
    by_user = np.argsort(owner, kind="stable")
    distinct, owner = distinct[by_user], owner[by_user]
    have = np.bincount(owner, minlength=len(counts))
    rank = np.arange(len(owner)) - np.repeat(np.cumsum(have) - have, have)
    keep = rank < counts[owner]
    return distinct[keep], np.minimum(have, counts)


def _to_frame(
    user_index: np.ndarray, item_index: np.ndarray, ratings: np.ndarray, offsets: np.ndarray,
    *, n_users: int, n_items: int, start_ts: int,
) -> pd.DataFrame:
    """The interaction frame from 0-based sampled indices and time offsets."""
    offsets += start_ts
    return pd.DataFrame(
        {
            "subject": _decimal_ids(user_index, n_users),
            "item": _decimal_ids(item_index, n_items),
            "rating": ratings,
            "timestamp": pd.array(offsets, dtype="Int64"),
        },
        copy=False,
    )


def _decimal_ids(index: np.ndarray, n: int) -> pd.Series:
    """0-based indices as "1".."n" strings, via a dictionary array so no per-row Python string is built."""
    names = pa.array([str(i) for i in range(1, n + 1)])
    return pd.Series(pa.DictionaryArray.from_arrays(pa.array(index), names).cast(pa.string()), dtype="str")
