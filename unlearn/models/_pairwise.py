"""The BPR training loop every pairwise-loss learner shares (BPR-MF, LightGCN, RecEraser's aggregators).

Each epoch shuffles the positive pairs, draws one uniform negative item per pair, and takes one optimiser
step per batch on the caller's loss of ``(users, positive items, negative items)``. Deterministic for a seed.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch


def sample_negatives(
    rng: np.random.Generator, users: np.ndarray, positive_keys: np.ndarray, n_items: int, tries: int = 3
) -> np.ndarray:
    """Uniform negatives, re-drawn (a few times) where they hit one of the user's positives."""
    negatives = rng.integers(0, n_items, size=len(users))
    for _ in range(tries):
        keys = users * n_items + negatives
        position = np.searchsorted(positive_keys, keys).clip(max=len(positive_keys) - 1)
        hit = positive_keys[position] == keys
        if not hit.any():
            break
        negatives[hit] = rng.integers(0, n_items, size=int(hit.sum()))
    return negatives


def train_pairwise(
    users: np.ndarray,
    items: np.ndarray,
    n_items: int,
    epochs: int,
    batch_size: int,
    rng: np.random.Generator,
    loss: Callable[[torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor],
    optimizer: torch.optim.Optimizer,
    on_epoch: Callable[[int, float], None] | None = None,
) -> None:
    """Run the epochs; ``on_epoch(epoch, mean_loss)`` after each (progress bars, logs)."""
    if len(users) == 0:
        raise ValueError("cannot train on an empty interaction set")
    users = np.array(users, dtype=np.int64)  # copies: torch shares memory and needs it writable
    items = np.array(items, dtype=np.int64)
    positive_keys = np.unique(users * n_items + items)
    users_t, items_t = torch.from_numpy(users), torch.from_numpy(items)
    for epoch in range(epochs):
        order = torch.from_numpy(rng.permutation(len(users)))
        negatives = torch.from_numpy(sample_negatives(rng, users[order.numpy()], positive_keys, n_items))
        total = 0.0
        for start in range(0, len(users), batch_size):
            batch = order[start : start + batch_size]
            value = loss(users_t[batch], items_t[batch], negatives[start : start + batch_size])
            optimizer.zero_grad()
            value.backward()
            optimizer.step()
            total += float(value.detach()) * len(batch)
        if on_epoch is not None:
            on_epoch(epoch, total / len(users))
