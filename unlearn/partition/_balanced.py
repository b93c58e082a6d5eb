"""Capacity-capped greedy assignment of points to anchors (lines 8–14 of RecEraser's Algorithm 2).

The paper sorts every (point, anchor) distance ascending and walks the list, giving a point to an anchor
while the anchor holds less than ``t``. Walking 10⁷ pairs in Python is too slow, so this computes the
same assignment (up to ties) in at most K vectorised rounds: every unassigned point bids for its nearest
open anchor; in distance order, the first anchor to reach its cap closes exactly where the walk would close
it, every bid up to that point is granted (no other anchor closed before), and the rest bid again.
"""

from __future__ import annotations

import numpy as np


def balanced_assignment(distances: np.ndarray, weights: np.ndarray, cap: float) -> np.ndarray:
    """Anchor of each point (row of ``distances``, shape n × K), nearest first, no anchor past ``cap``.

    A point of weight w is added to an anchor whose load is still below ``cap``, so a load ends below
    ``cap`` + the largest weight (exactly ≤ ``cap`` for unit weights and an integer cap). Needs
    ``cap · K ≥ weights.sum()`` so that every point finds room.
    """
    n, k = distances.shape
    weights = np.asarray(weights, dtype=np.float64)
    if weights.shape != (n,) or (weights <= 0).any():
        raise ValueError("need one positive weight per point")
    if cap * k < weights.sum():
        raise ValueError(f"cap {cap} × {k} anchors cannot hold a total weight of {weights.sum()}")
    shard = np.full(n, -1, dtype=np.int64)
    load = np.zeros(k)
    open_anchors = np.arange(k)
    pending = np.arange(n)
    while len(pending):
        near = distances[pending][:, open_anchors]
        choice = near.argmin(axis=1)
        order = np.argsort(near[np.arange(len(pending)), choice], kind="stable")
        bids = open_anchors[choice[order]]  # anchor of each bid, in distance order
        bid_weights = weights[pending[order]]
        closing = np.flatnonzero(load[bids] + _running_sum_per_group(bids, bid_weights) >= cap)
        granted = len(bids) if len(closing) == 0 else closing[0] + 1
        shard[pending[order[:granted]]] = bids[:granted]
        load += np.bincount(bids[:granted], weights=bid_weights[:granted], minlength=k)
        pending = pending[order[granted:]]
        open_anchors = open_anchors[load[open_anchors] < cap]
    return shard


def _running_sum_per_group(groups: np.ndarray, values: np.ndarray) -> np.ndarray:
    """For each position, the sum of ``values`` at or before it with the same group (inclusive)."""
    by_group = np.argsort(groups, kind="stable")
    sorted_groups, sorted_values = groups[by_group], values[by_group]
    totals = np.cumsum(sorted_values)
    first = np.r_[True, sorted_groups[1:] != sorted_groups[:-1]]
    before_group = np.maximum.accumulate(np.where(first, totals - sorted_values, 0.0))
    out = np.empty_like(totals)
    out[by_group] = totals - before_group
    return out
