"""Model-level measurements the verifier compares: top-k agreement, re-predict score, ranking utility.

Pure functions over the :class:`~unlearn.models._base.Recommender` interface, so any base model or shard
aggregate can be measured, and the thresholds that judge these numbers live in the policy, not here.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import scipy.sparse as sp
from rbo import RankingSimilarity
from scipy.special import expit

from ledger import Ledger, WorkspaceError
from unlearn.methods import get_method
from unlearn.models import Recommender
from unlearn.training_data import Interactions
from verify.names import ndcg_key, recall_key


def topk_rbo(lists_a: np.ndarray, lists_b: np.ndarray, p: float = 0.9) -> np.ndarray:
    """Rank-biased overlap of each row of ``lists_a`` with the same row of ``lists_b``.

    We report Webber et al.'s *extrapolated* RBO (``rbo_ext``, Eq. 32 of the RBO paper) with persistence
    ``p=0.9`` on top-k lists: it handles lists of unequal length and non-conjoint lists, unlike
    ``RankingSimilarity.rbo()`` whose default ``p=1.0`` is average overlap, not RBO. Identical lists score
    1.0, disjoint lists 0.0. Rows must not repeat an item (the rbo package requires it; top-k lists never do).
    Returns a float64 array with one value per row.
    """
    a = np.asarray(lists_a)
    b = np.asarray(lists_b)
    if a.ndim != 2 or b.ndim != 2 or a.shape[0] != b.shape[0]:
        raise ValueError(f"need two 2-D arrays with the same number of rows, got {a.shape} and {b.shape}")
    if not 0.0 < p < 1.0:
        raise ValueError(f"RBO persistence p must be in (0, 1), got {p}")
    out = np.empty(a.shape[0], dtype=np.float64)
    for row, (list_a, list_b) in enumerate(zip(a.tolist(), b.tolist())):
        if len(set(list_a)) != len(list_a) or len(set(list_b)) != len(list_b):
            raise ValueError(f"row {row} repeats an item; RBO needs rankings without duplicates")
        out[row] = RankingSimilarity(list_a, list_b).rbo_ext(p=p)
    return out


def repredict_score(model: Recommender, users: np.ndarray, items: np.ndarray) -> float:
    """Mean predicted probability, sigmoid(score), over the pairs ``(users[j], items[j])``.

    AltEraser's "re-predict score" (§5.2): after erasure it should fall to what a model never trained on
    those interactions predicts for them.
    """
    users = np.asarray(users, dtype=np.int64)
    items = np.asarray(items, dtype=np.int64)
    if users.shape != items.shape or users.ndim != 1:
        raise ValueError(f"users and items must be 1-D arrays of equal length, got {users.shape} and {items.shape}")
    if users.size == 0:
        raise ValueError("re-predict score needs at least one (user, item) pair")
    scores = np.asarray(model.score(users, items), dtype=np.float64)
    return float(expit(scores).mean())


def ranking_metrics(
    model: Recommender,
    train: sp.csr_matrix,
    test: sp.csr_matrix,
    ks: tuple[int, ...] = (10, 20),
    users: np.ndarray | None = None,
    batch_size: int = 1024,
) -> dict[str, float]:
    """Recall@k and NDCG@k with binary relevance, averaged over users that have at least one test item.

    Each user's train items are excluded from the ranking. Recall@k = hits in the top k / |test_u| (the
    LightGCN / RecEraser definition); NDCG@k divides DCG by the ideal DCG over min(|test_u|, k) hits.
    ``users`` restricts the average to those users (still only the ones with test items).
    """
    train = sp.csr_matrix(train)
    test = sp.csr_matrix(test)
    if train.shape != test.shape or test.shape[1] != model.n_items:
        raise ValueError(f"train {train.shape} and test {test.shape} must both be (n_users, {model.n_items})")
    if not ks or min(ks) < 1:
        raise ValueError(f"ks must be positive cut-offs, got {ks}")
    n_test = test.getnnz(axis=1)
    candidates = np.arange(test.shape[0]) if users is None else np.unique(np.asarray(users, dtype=np.int64))
    if candidates.size and (candidates[0] < 0 or candidates[-1] >= test.shape[0]):
        raise ValueError(f"user ids must lie in [0, {test.shape[0]})")
    evaluated = candidates[n_test[candidates] > 0]
    if evaluated.size == 0:
        raise ValueError("no user has a test item: ranking metrics are undefined")

    max_k = max(ks)
    discounts = 1.0 / np.log2(np.arange(2, max_k + 2))
    ideal = np.cumsum(discounts)
    sums = {key: 0.0 for k in ks for key in (recall_key(k), ndcg_key(k))}
    for start in range(0, evaluated.size, batch_size):
        batch = evaluated[start : start + batch_size]
        recs = model.recommend(batch, max_k, exclude=train, batch_size=batch_size)
        rows = np.arange(batch.size)[:, None]
        # recommend() may fall back to excluded items when fewer than k remain; those never count as hits.
        hits = (test[batch][rows, recs].toarray() > 0) & ~(train[batch][rows, recs].toarray() > 0)
        n_rel = n_test[batch]
        for k in ks:
            top = hits[:, :k]
            sums[recall_key(k)] += float((top.sum(axis=1) / n_rel).sum())
            dcg = top @ discounts[: top.shape[1]]
            sums[ndcg_key(k)] += float((dcg / ideal[np.minimum(n_rel, k) - 1]).sum())
    return {key: total / evaluated.size for key, total in sums.items()}


def evaluate_serving(ledger: Ledger) -> dict[str, Any]:
    """Recall/NDCG@10/20 of the serving deployment on the test split (train items excluded)."""
    deployment_id = ledger.serving_deployment_id()
    if deployment_id is None:
        raise WorkspaceError("no deployment serves yet; run `lethe train` first")
    deployment = ledger.deployment(deployment_id)
    model = get_method(deployment.method).load(ledger, deployment_id).model
    train, test = Interactions.from_store(ledger, "train"), Interactions.from_store(ledger, "test")
    metrics = ranking_metrics(model, train.csr(), test.csr(), (10, 20))
    return {"deployment_id": deployment_id, "method": deployment.method, "settings": deployment.settings,
            "users": int(len(set(test.user_idx))), "metrics": metrics}
