"""BPR-MF (Rendle et al. 2009) in torch on the CPU: pairwise ranking loss with sampled negatives.

score(u, i) = <p_u, q_i> + b_i. Users with no training interaction get a zero vector, so the model scores
them by item bias alone: it knows nothing of them, exactly like a model that never saw them.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import ClassVar

import numpy as np
import torch
from pydantic import BaseModel, ConfigDict, Field

from unlearn.models._factors import FactorModel
from unlearn.models._pairwise import train_pairwise


class BPRConfig(BaseModel):
    """Hyper-parameters of BPR-MF (names shared by every Lethe model)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    embedding_size: int = Field(64, ge=1, description="latent dimension d")
    epochs: int = Field(20, ge=1)
    learning_rate: float = Field(0.01, gt=0, description="Adam step size")
    reg: float = Field(1e-4, ge=0, description="L2 weight on the batch's embeddings")
    batch_size: int = Field(4096, ge=1)


class BPRModel(FactorModel):
    """Trained BPR-MF factors as numpy arrays (what checkpoints store)."""

    kind: ClassVar[str] = "bpr"


def train_bpr(
    user_idx: np.ndarray,
    item_idx: np.ndarray,
    n_users: int,
    n_items: int,
    config: BPRConfig,
    seed: int,
    on_epoch: Callable[[int, float], None] | None = None,
) -> BPRModel:
    """Fit BPR-MF on the given positive pairs; deterministic for a seed on one machine.

    ``on_epoch(epoch, mean_loss)`` is called after each epoch (progress bars, logs).
    """
    rng = np.random.default_rng(seed)
    generator = torch.Generator().manual_seed(seed)
    d = config.embedding_size
    user_emb = torch.nn.Embedding(n_users, d, sparse=True)
    item_emb = torch.nn.Embedding(n_items, d, sparse=True)
    bias = torch.nn.Embedding(n_items, 1, sparse=True)
    with torch.no_grad():
        user_emb.weight.normal_(0.0, 0.1, generator=generator)
        item_emb.weight.normal_(0.0, 0.1, generator=generator)
        bias.weight.zero_()
    optimizer = torch.optim.SparseAdam(
        [user_emb.weight, item_emb.weight, bias.weight], lr=config.learning_rate
    )

    def loss(u: torch.Tensor, i: torch.Tensor, j: torch.Tensor) -> torch.Tensor:
        pu, qi, qj = user_emb(u), item_emb(i), item_emb(j)
        x_uij = (pu * (qi - qj)).sum(1) + bias(i).squeeze(1) - bias(j).squeeze(1)
        penalty = config.reg * (pu.pow(2).sum() + qi.pow(2).sum() + qj.pow(2).sum()) / len(u)
        return -torch.nn.functional.logsigmoid(x_uij).mean() + penalty

    train_pairwise(user_idx, item_idx, n_items, config.epochs, config.batch_size, rng, loss, optimizer, on_epoch)

    trained = np.zeros(n_users, dtype=bool)
    trained[np.asarray(user_idx, dtype=np.int64)] = True
    user_factors = user_emb.weight.detach().numpy().copy()
    user_factors[~trained] = 0.0
    return BPRModel(user_factors, item_emb.weight.detach().numpy(), bias.weight.detach().numpy()[:, 0], trained)
