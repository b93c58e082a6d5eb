"""WMF (Hu, Koren & Volinsky 2008): weighted MF over *all* user × item entries, fitted by alternating least squares.

Implicit feedback: every observed entry has target 1 and weight 1 + ``weight``; every missing entry has target
0 and weight 1. Summing over all n_users × n_items entries (no negative sampling) stays cheap with the Gram
trick: for user u, with Y the item factors and Y_u the rows of u's items,

    (YᵀY + weight · Y_uᵀY_u + reg · I) p_u = (1 + weight) · Y_uᵀ 1

so one sweep solves every user in closed form (then every item, symmetrically) with batched Cholesky
solves. Rows are batched by degree, so padding the per-row item lists costs little. Deterministic for a seed.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import scipy.sparse as sp
import torch
from pydantic import BaseModel, ConfigDict, Field

from unlearn.models._factors import FactorModel

_PADDED_BUDGET = 1 << 18  # rows × longest row of one batch: 256k gathered factor vectors (64 MB at d=64)
_MAX_BATCH_ROWS = 4096  # d × d systems solved at once


class WMFConfig(BaseModel):
    """Hyper-parameters of WMF (Lethe's shared names; ``epochs`` counts ALS sweeps)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    embedding_size: int = Field(64, ge=1, description="latent dimension d")
    epochs: int = Field(10, ge=1, description="ALS sweeps (users, then items)")
    reg: float = Field(0.1, ge=0, description="ridge weight on every row's factors")
    weight: float = Field(5.0, ge=0, description="extra confidence of an observed entry (its weight is 1 + this)")


def _solve_rows(matrix: sp.csr_matrix, fixed: torch.Tensor, config: WMFConfig) -> torch.Tensor:
    """Closed-form factors of every row of ``matrix`` (binary) given the other side's factors ``fixed``.

    Rows without an entry get zero factors: the model knows nothing of them.
    """
    d = fixed.shape[1]
    gram = fixed.T @ fixed + config.reg * torch.eye(d)
    padded = torch.cat([fixed, torch.zeros(1, d)])  # index len(fixed) pads short rows with a zero vector
    degrees = np.diff(matrix.indptr)
    order = np.argsort(degrees, kind="stable")
    order = order[degrees[order] > 0]
    rows = matrix[order]
    out = torch.zeros(matrix.shape[0], d)
    start = 0
    while start < len(order):
        longest = degrees[order[min(start + _MAX_BATCH_ROWS, len(order)) - 1]]
        end = start + max(1, min(_MAX_BATCH_ROWS, _PADDED_BUDGET // longest))
        end = min(end, len(order))
        pointers = rows.indptr[start : end + 1]
        indices = rows.indices[pointers[0] : pointers[-1]]
        degree = np.diff(pointers)
        index = np.full((end - start, degree.max()), len(fixed), dtype=np.int64)
        index[np.repeat(np.arange(end - start), degree),
              np.arange(len(indices)) - np.repeat(pointers[:-1] - pointers[0], degree)] = indices
        factors = padded.index_select(0, torch.from_numpy(index.ravel())).view(end - start, -1, d)
        system = torch.baddbmm(gram.expand(end - start, d, d), factors.transpose(1, 2), factors, alpha=config.weight)
        target = (1.0 + config.weight) * factors.sum(1, keepdim=True).transpose(1, 2)
        out[torch.from_numpy(order[start:end])] = torch.cholesky_solve(target, torch.linalg.cholesky(system))[..., 0]
        start = end
    return out


def _loss(matrix: sp.coo_matrix, users: torch.Tensor, items: torch.Tensor, config: WMFConfig) -> float:
    """The weighted loss over all entries, per observed entry (Gram trick for the missing ones)."""
    observed = (users[torch.from_numpy(matrix.row)] * items[torch.from_numpy(matrix.col)]).sum(1)
    everything = float(((users.T @ users) * (items.T @ items)).sum())  # Σ over all entries of (p·q)²
    loss = everything + float(((1 + config.weight) * (1 - observed) ** 2 - observed**2).sum())
    loss += config.reg * float(users.pow(2).sum() + items.pow(2).sum())
    return loss / max(matrix.nnz, 1)


def train_wmf(
    user_idx: np.ndarray,
    item_idx: np.ndarray,
    n_users: int,
    n_items: int,
    config: WMFConfig,
    seed: int,
    on_epoch: Callable[[int, float], None] | None = None,
) -> FactorModel:
    """Fit WMF by ALS on the given positive pairs; ``on_epoch(sweep, loss)`` after each sweep."""
    if len(user_idx) == 0:
        raise ValueError("cannot train on an empty interaction set")
    user_items = sp.csr_matrix(
        (np.ones(len(user_idx), dtype=np.float32), (np.asarray(user_idx), np.asarray(item_idx))),
        shape=(n_users, n_items),
    )
    user_items.sum_duplicates()
    user_items.data[:] = 1.0
    item_users = user_items.T.tocsr()
    generator = torch.Generator().manual_seed(seed)
    items = torch.randn(n_items, config.embedding_size, generator=generator) * 0.01
    users = torch.zeros(n_users, config.embedding_size)
    for sweep in range(config.epochs):
        users = _solve_rows(user_items, items, config)
        items = _solve_rows(item_users, users, config)
        if on_epoch is not None:
            on_epoch(sweep, _loss(user_items.tocoo(), users, items, config))
    trained = np.diff(user_items.indptr) > 0
    return FactorModel.unbiased(users.numpy(), items.numpy(), trained)
