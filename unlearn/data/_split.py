"""Seeded per-user train/test split whose assignment of a row depends only on (seed, subject, item).

Each row's random key is a keyed hash of its ids rather than a draw from a stream, so the split of one
user's interactions does not move when other users' rows are erased or the file is reordered: after an
erasure, a retrained model is evaluated on the same test rows as before, which exact-retrain comparisons need.
"""

from __future__ import annotations

import hashlib

import numpy as np
import pandas as pd

from unlearn.data._frame import DataError

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)


SPLITS = ["train", "test"]


def per_user_split(frame: pd.DataFrame, test_fraction: float = 0.2, seed: int = 0) -> pd.Categorical:
    """"train"/"test" per row: half-up round(test_fraction · n_u) of each user's rows to test, ≥ 1 kept in train.

    A categorical (one byte a row, not a Python string each: 10M rows stay small). A frame with a ``split``
    column (a published fixed split) is returned as is.
    """
    if "split" in frame.columns:
        return pd.Categorical(frame["split"], categories=SPLITS)
    if not 0.0 <= test_fraction < 1.0:
        raise DataError(f"test_fraction must be in [0, 1), got {test_fraction}")
    subjects, subject_ids = pd.factorize(frame["subject"])
    items, item_ids = pd.factorize(frame["item"])
    keys = _mix(_hash_ids(subject_ids, seed, b"subject")[subjects] ^ (_hash_ids(item_ids, seed, b"item")[items]))
    order = np.lexsort((keys, subjects))
    sizes = np.bincount(subjects, minlength=len(subject_ids))
    first_row = np.cumsum(sizes) - sizes
    n_test = np.minimum(np.floor(test_fraction * sizes + 0.5).astype(np.int64), sizes - 1)
    grouped = subjects[order]
    rank = np.arange(len(order)) - first_row[grouped]
    codes = np.empty(len(order), dtype=np.int8)
    codes[order] = rank < n_test[grouped]
    return pd.Categorical.from_codes(codes, categories=SPLITS)


def _hash_ids(ids: pd.Index, seed: int, role: bytes) -> np.ndarray:
    """A seeded 64-bit hash per distinct id; blake2b keeps it identical across machines and library versions."""
    key = str(seed).encode()
    return np.fromiter(
        (
            int.from_bytes(hashlib.blake2b(str(value).encode(), digest_size=8, key=key, person=role).digest(), "little")
            for value in ids
        ),
        dtype=np.uint64,
        count=len(ids),
    )


def _mix(x: np.ndarray) -> np.ndarray:
    """splitmix64 finaliser: turns the combined id hashes into a well-spread sort key."""
    x = x * _GOLDEN
    x ^= x >> np.uint64(30)
    x *= np.uint64(0xBF58476D1CE4E5B9)
    x ^= x >> np.uint64(27)
    x *= np.uint64(0x94D049BB133111EB)
    x ^= x >> np.uint64(31)
    return x
