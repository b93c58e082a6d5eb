"""BPR-MF (Rendle et al. 2009) in torch on the CPU: pairwise ranking loss with sampled negatives.

score(u, i) = <p_u, q_i> + b_i. The loss per triple (u, i, j) — j a sampled negative — is
``softplus(-(score(u, i) - score(u, j))) + reg · (‖p_u‖² + ‖q_i‖² + ‖q_j‖²)`` (item biases are not
regularised), summed over one triple per positive pair each epoch.

Two optimisers minimise it:

- ``adam`` (default): torch's SparseAdam on the mean loss of each batch, through autograd. It adapts its
  steps, so a few epochs learn a usable model even on small data (tests, demos, small shards).
- ``sgd``: plain SGD with a per-triple step, hand-written over index arrays — gather the batch's
  rows, compute every gradient from the values before the batch, scatter-add the steps back
  (``index_add_``). No autograd, no optimiser state: the per-batch cost is a few passes over
  ``batch × d`` floats, so an epoch costs about what `implicit`'s Cython loop costs per core. The step
  size is per triple, so it does not depend on ``batch_size`` (which only sets how stale a batch's reads
  are). Buffers are allocated once and reused: allocating ``batch × d`` tensors per step costs page
  faults comparable to the arithmetic. Per-triple SGD at `implicit`'s step (0.01) needs tens of epochs
  to leave the popularity ranking, so it is the choice for large data, not for a 3-epoch test model.

Users with no training interaction get a zero vector, so the model scores them by item bias alone: it knows
nothing of them, exactly like a model that never saw them.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import ClassVar, Literal

import numpy as np
import torch
from pydantic import BaseModel, ConfigDict, Field

from unlearn.models._factors import FactorModel, one_intra_op_thread
from unlearn.models._pairwise import NegativeSampling, PairSampler, train_pairwise


class BPRConfig(BaseModel):
    """Hyper-parameters of BPR-MF (names shared by every Lethe model)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    embedding_size: int = Field(64, ge=1, description="latent dimension d")
    epochs: int = Field(20, ge=1)
    learning_rate: float = Field(0.01, gt=0, description="step size (per triple for sgd; Adam's for adam)")
    reg: float = Field(1e-4, ge=0, description="L2 weight per triple on its user's and items' factors")
    batch_size: int = Field(4096, ge=1, description="triples per step")
    optimizer: Literal["adam", "sgd"] = Field(
        "adam", description="adam: SparseAdam (few epochs suffice); sgd: hand-written per-triple SGD (fast epochs)"
    )
    negatives: NegativeSampling = Field(
        "uniform", description="uniform over items (the paper), or popularity-weighted as implicit draws them")
    init_std: float = Field(
        0.1, gt=0, description="standard deviation of the initial factors; 0.01 with sgd and popularity "
        "negatives on sparse data (few interactions per user: the initial noise takes epochs to wash out)")


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
    if len(user_idx) == 0:
        raise ValueError("cannot train on an empty interaction set")
    generator = torch.Generator().manual_seed(seed)
    d = config.embedding_size
    users = torch.empty(n_users, d).normal_(0.0, config.init_std, generator=generator)
    items = torch.empty(n_items, d).normal_(0.0, config.init_std, generator=generator)
    if config.optimizer == "sgd":
        bias = torch.zeros(n_items)
        sampler = PairSampler(user_idx, item_idx, n_items, seed=seed, sampling=config.negatives)
        _sgd(sampler, users, items, bias, config, on_epoch)
    else:
        users, items, bias = _adam(user_idx, item_idx, users, items, config, seed, on_epoch)
    trained = np.zeros(n_users, dtype=bool)
    trained[np.asarray(user_idx, dtype=np.int64)] = True
    user_factors = users.numpy().copy()
    user_factors[~trained] = 0.0
    return BPRModel(user_factors, items.numpy().copy(), bias.numpy().copy(), trained)


def _sgd(
    sampler: PairSampler, users: torch.Tensor, items: torch.Tensor, bias: torch.Tensor, config: BPRConfig,
    on_epoch: Callable[[int, float], None] | None,
) -> None:
    """The SGD epochs, each epoch's triples sampled in a background thread while the previous epoch trains.

    Only that thread draws from the sampler's generator, one epoch after another, so the triples — and the
    model — are the same as sampling in line. (Stepping on slices of an epoch in two Hogwild threads, as
    `implicit` does, was measured slower at 10M interactions: the sampler needs the second core.)
    """
    with one_intra_op_thread(), ThreadPoolExecutor(max_workers=1) as background:
        pending = background.submit(sampler.epoch)
        for epoch in range(config.epochs):
            triples = pending.result()
            if epoch + 1 < config.epochs:
                pending = background.submit(sampler.epoch)
            mean_loss = _sgd_epoch(users, items, bias, *triples, config)
            del triples
            if on_epoch is not None:
                on_epoch(epoch, mean_loss)


@torch.no_grad()
def _sgd_epoch(
    users: torch.Tensor, items: torch.Tensor, bias: torch.Tensor, batch_users: torch.Tensor, positives: torch.Tensor,
    negatives: torch.Tensor, config: BPRConfig,
) -> float:
    """One epoch of per-triple SGD over the sampled triples, in place; returns the mean BPR log-loss.

    The step size is folded into the gradients before they are scattered: ``index_add_`` with an ``alpha``
    runs about three times slower than without. The bias lives in its own vector, not as a ``d + 1``-th
    factor column: rows of 65 floats gather and scatter about a third slower than rows of 64.
    """
    size, width = min(config.batch_size, len(batch_users)), users.shape[1]
    step, shrink = config.learning_rate, 2.0 * config.reg * config.learning_rate
    p_u, q_i, q_j, diff, product = (torch.empty(size, width) for _ in range(5))
    score, b_j, weight, negated = (torch.empty(size) for _ in range(4))
    total = torch.zeros(())
    for start in range(0, len(batch_users), size):
        u, i, j = batch_users[start : start + size], positives[start : start + size], negatives[start : start + size]
        n = len(u)
        if n < size:  # the last, shorter batch: views of the buffers
            p_u, q_i, q_j, diff, product = (b[:n] for b in (p_u, q_i, q_j, diff, product))
            score, b_j, weight, negated = (b[:n] for b in (score, b_j, weight, negated))
        torch.index_select(users, 0, u, out=p_u)
        torch.index_select(items, 0, i, out=q_i)
        torch.index_select(items, 0, j, out=q_j)
        torch.sub(q_i, q_j, out=diff)
        torch.sum(torch.mul(p_u, diff, out=product), 1, out=score)
        score.add_(bias.index_select(0, i)).sub_(torch.index_select(bias, 0, j, out=b_j))  # x_uij
        total -= torch.nn.functional.logsigmoid(score).sum()
        torch.sigmoid(score.neg_(), out=weight).mul_(step)  # step · (-dloss/dx) = step · σ(-x)
        torch.neg(weight, out=negated)
        column = weight[:, None]
        # Steps, all from the values before this batch; q_i, q_j and diff are reused to hold them.
        q_i.mul_(-shrink).addcmul_(p_u, column)
        q_j.mul_(-shrink).addcmul_(p_u, column, value=-1.0)
        diff.mul_(column).add_(p_u, alpha=-shrink)
        users.index_add_(0, u, diff)
        items.index_add_(0, i, q_i)
        items.index_add_(0, j, q_j)
        bias.index_add_(0, i, weight)
        bias.index_add_(0, j, negated)
    return float(total) / len(batch_users)


def _adam(
    user_idx: np.ndarray, item_idx: np.ndarray, users: torch.Tensor, items: torch.Tensor, config: BPRConfig,
    seed: int, on_epoch: Callable[[int, float], None] | None,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """SparseAdam on the batch-mean loss through autograd; returns user factors, item factors, item bias."""
    user_emb = torch.nn.Embedding.from_pretrained(users, freeze=False, sparse=True)
    item_emb = torch.nn.Embedding.from_pretrained(items, freeze=False, sparse=True)
    bias = torch.nn.Embedding.from_pretrained(torch.zeros(len(items), 1), freeze=False, sparse=True)
    optimizer = torch.optim.SparseAdam([user_emb.weight, item_emb.weight, bias.weight], lr=config.learning_rate)

    def loss(u: torch.Tensor, i: torch.Tensor, j: torch.Tensor) -> torch.Tensor:
        pu, qi, qj = user_emb(u), item_emb(i), item_emb(j)
        x_uij = (pu * (qi - qj)).sum(1) + bias(i).squeeze(1) - bias(j).squeeze(1)
        penalty = config.reg * (pu.pow(2).sum() + qi.pow(2).sum() + qj.pow(2).sum()) / len(u)
        return -torch.nn.functional.logsigmoid(x_uij).mean() + penalty

    train_pairwise(user_idx, item_idx, len(items), config.epochs, config.batch_size, np.random.default_rng(seed),
                   loss, optimizer, on_epoch, sampling=config.negatives)
    return user_emb.weight.detach(), item_emb.weight.detach(), bias.weight.detach()[:, 0]
