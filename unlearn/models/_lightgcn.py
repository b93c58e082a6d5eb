"""LightGCN (He et al. 2020) in torch on the CPU: embeddings smoothed over the user–item graph, BPR loss.

Only the layer-0 (ego) embeddings are parameters. Each layer multiplies by the symmetrically normalised
adjacency D^-1/2 A D^-1/2 of the bipartite graph (a sparse matrix), and the served embedding is the mean
of layers 0..K. The propagation runs for every batch, so its cost grows with the graph: a shard's small
graph trains far faster than the whole one, which is what makes shard retraining cheap for this model.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Literal

import numpy as np
import torch
from pydantic import Field

from unlearn.models._bpr import BPRConfig
from unlearn.models._factors import FactorModel
from unlearn.models._pairwise import train_pairwise


class LightGCNConfig(BPRConfig):
    """BPR training's hyper-parameters (same names and meaning) plus the number of propagation layers."""

    learning_rate: float = Field(0.005, gt=0, description="Adam step size")
    reg: float = Field(1e-4, ge=0, description="L2 weight on the batch's ego (layer-0) embeddings")
    layers: int = Field(3, ge=0, description="propagation layers K")
    optimizer: Literal["adam"] = Field("adam", description="Adam only: the loss flows through the propagation")


def normalized_adjacency(user_idx: np.ndarray, item_idx: np.ndarray, n_users: int, n_items: int) -> torch.Tensor:
    """D^-1/2 A D^-1/2 of the (n_users + n_items)-node bipartite graph, as a sparse CSR tensor."""
    keys = np.unique(np.asarray(user_idx, dtype=np.int64) * n_items + np.asarray(item_idx, dtype=np.int64))
    users, items = keys // n_items, keys % n_items + n_users
    rows, cols = np.concatenate([users, items]), np.concatenate([items, users])
    degree = np.bincount(rows, minlength=n_users + n_items).astype(np.float32)
    inverse_sqrt = np.zeros_like(degree)
    inverse_sqrt[degree > 0] = degree[degree > 0] ** -0.5
    values = inverse_sqrt[rows] * inverse_sqrt[cols]
    adjacency = torch.sparse_coo_tensor(
        torch.from_numpy(np.stack([rows, cols])), torch.from_numpy(values), (n_users + n_items,) * 2,
        check_invariants=True,
    )
    with warnings.catch_warnings():  # "CSR support is in beta": the product and its transpose are all we use
        warnings.simplefilter("ignore", UserWarning)
        return adjacency.coalesce().to_sparse_csr()


class _SymmetricSparseProduct(torch.autograd.Function):
    """``A @ X`` for a symmetric sparse ``A``: the gradient is ``A @ grad`` too, so backward reuses the CSR
    matrix instead of letting torch transpose it at every step (several times slower)."""

    @staticmethod
    def forward(ctx: torch.autograd.function.FunctionCtx, adjacency: torch.Tensor, dense: torch.Tensor) -> torch.Tensor:
        ctx.adjacency = adjacency
        return adjacency @ dense

    @staticmethod
    def backward(ctx: torch.autograd.function.FunctionCtx, grad: torch.Tensor) -> tuple[None, torch.Tensor]:
        return None, ctx.adjacency @ grad


def propagate(adjacency: torch.Tensor, ego: torch.Tensor, layers: int) -> torch.Tensor:
    """Mean of the ego embeddings and their ``layers`` successive propagations (``adjacency`` symmetric)."""
    total, current = ego, ego
    for _ in range(layers):
        current = _SymmetricSparseProduct.apply(adjacency, current)
        total = total + current
    return total / (layers + 1)


def train_lightgcn(
    user_idx: np.ndarray,
    item_idx: np.ndarray,
    n_users: int,
    n_items: int,
    config: LightGCNConfig,
    seed: int,
    on_epoch: Callable[[int, float], None] | None = None,
) -> FactorModel:
    """Fit LightGCN on the given positive pairs; deterministic for a seed on one machine."""
    rng = np.random.default_rng(seed)
    generator = torch.Generator().manual_seed(seed)
    adjacency = normalized_adjacency(user_idx, item_idx, n_users, n_items)
    ego = torch.nn.Parameter(torch.randn(n_users + n_items, config.embedding_size, generator=generator) * 0.1)

    def loss(u: torch.Tensor, i: torch.Tensor, j: torch.Tensor) -> torch.Tensor:
        i, j = i + n_users, j + n_users  # items follow users in the graph's node order
        final = propagate(adjacency, ego, config.layers)
        x_uij = (final[u] * (final[i] - final[j])).sum(1)
        penalty = config.reg * (ego[u].pow(2).sum() + ego[i].pow(2).sum() + ego[j].pow(2).sum()) / len(u)
        return -torch.nn.functional.logsigmoid(x_uij).mean() + penalty

    optimizer = torch.optim.Adam([ego], lr=config.learning_rate)
    train_pairwise(user_idx, item_idx, n_items, config.epochs, config.batch_size, rng, loss, optimizer, on_epoch,
                   sampling=config.negatives)

    with torch.no_grad():
        final = propagate(adjacency, ego, config.layers).numpy()
    trained = np.zeros(n_users, dtype=bool)
    trained[np.asarray(user_idx, dtype=np.int64)] = True
    return FactorModel.unbiased(final[:n_users], final[n_users:], trained)
