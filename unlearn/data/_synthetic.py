"""A seeded interaction generator with real structure: popularity skew plus clustered personal taste.

Tests and benchmarks need data anyone can regenerate (no licence), that is large on demand, and on which
a personalised model (BPR-MF) clearly beats most-popular, so unlearning effects are measurable. Each user
samples items without replacement from P(item | user) ∝ popularity^a · exp(affinity / τ), via Gumbel-top-k,
in chunks of users so memory stays bounded at tens of millions of interactions.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa

from unlearn.data._frame import DataError, RawInteractions, _finalise

_TASTE_CLUSTERS = 8
# Affinity is a cosine in [-1, 1]; divided by τ it spans about ±5.9 logits, the same range as Zipf
# log-popularity over ~600 items (ln 600 ≈ 6.4), so taste and popularity weigh about equally.
_TEMPERATURE = 0.17
_TASTE_NOISE = 0.7  # spread of users/items around their cluster centre (centre has unit scale per axis)
_ACTIVITY_SIGMA = 0.8  # lognormal sigma of interactions per user: a heavy tail, like MovieLens
_RATING_NOISE = 0.85
_CELL_BUDGET = 1 << 21  # max users × items scores per chunk: peak ≈ 40 bytes per cell, about 80 MB
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
    ``chunk_users`` caps users scored at once (further capped so a chunk holds at most ~2M scores).
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
    return _finalise(frame, name="synthetic", source="synthetic", path=None, params=params)


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
    """All users' (user, item, rating, time offset) columns, filled chunk by chunk into preallocated arrays."""
    n_users, n_items = len(user_vectors), len(item_vectors)
    total = int(activity.sum())
    columns = (np.empty(total, np.int32), np.empty(total, np.int32), np.empty(total, np.float64),
               np.empty(total, np.int64))
    rows = max(1, min(chunk_users, _CELL_BUDGET // n_items))
    starts = range(0, n_users, rows)
    filled = 0
    for start, chunk_seed in zip(starts, seed.spawn(len(starts))):
        users = np.arange(start, min(start + rows, n_users))
        chunk = _sample_users(
            np.random.default_rng(chunk_seed), users, user_vectors, item_vectors, log_popularity,
            activity[users], windows[users],
        )
        end = filled + len(chunk[0])
        for column, values in zip(columns, chunk):
            column[filled:end] = values
        filled = end
    return columns


def _sample_users(
    rng: np.random.Generator,
    users: np.ndarray,
    user_vectors: np.ndarray,
    item_vectors: np.ndarray,
    log_popularity: np.ndarray,
    counts: np.ndarray,
    windows: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """One chunk: Gumbel-top-k draws ``counts[u]`` distinct items per user, then ratings and times.

    Scores are float64 so a last-bit difference between CPUs (BLAS, SIMD log) cannot swap which item makes
    the top k, and the same seed gives the same digest on every machine.
    """
    affinity = user_vectors[users] @ item_vectors.T
    with np.errstate(divide="ignore"):
        gumbel = -np.log(rng.standard_exponential(affinity.shape))  # -log(Exp(1)) is Gumbel(0, 1)
    scores = log_popularity + affinity / _TEMPERATURE + gumbel
    widest = int(counts.max())
    top = np.argpartition(-scores, widest - 1, axis=1)[:, :widest]
    top = np.take_along_axis(top, np.argsort(-np.take_along_axis(scores, top, axis=1), axis=1), axis=1)
    row, rank = np.nonzero(np.arange(widest) < counts[:, None])
    items = top[row, rank]
    ratings = np.clip(np.rint(2.2 + 2.5 * affinity[row, items] + _RATING_NOISE * rng.standard_normal(len(row))), 1, 5)
    begin, end = windows[row, 0], windows[row, 1]
    times = np.floor(begin + rng.random(len(row)) * (end - begin)).astype(np.int64)
    order = np.lexsort((times, row))  # within a user, interactions in time order, unrelated to score
    return users[row[order]].astype(np.int32), items[order].astype(np.int32), ratings[order], times[order]


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
