"""Warm start (AltEraser §4.1): fine-tune the serving model on the remaining data with AdamW, early stopping.

The model's factors are the starting point; each epoch takes one AdamW step per batch of users on the base
model's own loss (:mod:`unlearn.methods._objectives`: those users' row losses, which reach the item factors
too, plus their share of the item regulariser).

Early stopping watches a validation signal, not the training objective: a seeded slice of the remaining
interactions (``validation_fraction``) is held out of the fine-tuning, and after each epoch its Recall@k
(items the user trains on excluded) is measured. The serving model has trained on that slice, so in the
first epochs its recall there is memory, not generalisation: the returned model is the best epoch from
``min_epochs`` on (never the unmodified original, which would forget nothing), and training stops when the
recall has not improved by ``min_delta`` (relative) for ``patience`` epochs after ``min_epochs``. The training
objective of every epoch is recorded too.

Measured on ML-1M (WMF, ``bench/approximate.py``): the slice's recall falls for many epochs as the memory of it
washes out (the slice is a canary: trained on, now excluded, like the forgotten data), so the kept epoch is
usually ``min_epochs``. A split the serving model never saw would be a cleaner signal; ``forget`` is given
training rows only.
"""

from __future__ import annotations

import time
from typing import Any, ClassVar

import numpy as np
import torch
from pydantic import BaseModel, ConfigDict, Field

from unlearn.methods._approximate import ApproximateMethod
from unlearn.methods._objectives import FactorObjective, objective_for
from unlearn.methods._protocol import MethodSettings
from unlearn.models import FactorModel
from unlearn.models import one_intra_op_thread
from unlearn.progress import ProgressCallback, no_progress
from unlearn.training_data import Interactions


class WarmStartOptions(BaseModel):
    """Warm start's settings (``lethe train --method warm_start -o learning_rate=0.002 -o patience=2``)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    max_epochs: int = Field(50, ge=1)
    min_epochs: int = Field(10, ge=1, description="epochs before a model may be kept or training may stop")
    patience: int = Field(10, ge=1, description="epochs without a better validation recall before stopping (paper: 10)")
    min_delta: float = Field(1e-3, ge=0, description="relative rise of the validation recall that counts")
    learning_rate: float = Field(0.001, gt=0, description="AdamW step size")
    weight_decay: float = Field(0.0, ge=0, description="AdamW decoupled decay (the loss has its own L2)")
    validation_fraction: float = Field(0.02, gt=0, lt=0.5, description="remaining interactions held out (seeded)")
    validation_k: int = Field(20, ge=1, description="k of the validation Recall@k")
    negatives: int = Field(2, ge=1, description="bpr: negatives sampled per remaining positive (seeded)")


def hold_out(remaining: Interactions, fraction: float, seed: int) -> tuple[Interactions, Interactions]:
    """``(fit, validation)``: a seeded ``fraction`` of the interactions of users with at least two, at most all
    but one of each user's (every user keeps a training row)."""
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(remaining))
    users = remaining.user_idx[order]
    rank = np.empty(len(order), dtype=np.int64)  # position of each row among its user's rows, in random order
    by_user = np.argsort(users, kind="stable")
    starts = np.searchsorted(users[by_user], users[by_user], "left")
    rank[by_user] = np.arange(len(order)) - starts
    degree = np.bincount(users, minlength=remaining.n_users)[users]
    chosen = order[(rank < np.floor(fraction * degree + rng.random(len(order)))) & (rank < degree - 1)]
    mask = np.zeros(len(remaining), dtype=bool)
    mask[chosen] = True
    if not mask.any():
        raise ValueError(f"warm start: validation_fraction {fraction} holds out no interaction of {len(remaining)}")
    return remaining.subset(~mask), remaining.subset(mask)


def recall_at_k(model: FactorModel, fit: Interactions, validation: Interactions, k: int) -> float:
    """Mean over validation users of the share of their held-out items in their top-k (training items excluded)."""
    users, counts = np.unique(validation.user_idx, return_counts=True)
    top = model.recommend(users, k, exclude=fit.csr())
    held = validation.user_idx * validation.n_items + validation.item_idx
    hits = np.isin(users[:, None] * validation.n_items + top, held).sum(1)
    return float(np.mean(hits / np.minimum(counts, k)))


class WarmStart(ApproximateMethod):
    """Fine-tune the original model on the remaining data (a 1st-order warm start)."""

    options_class: ClassVar[type[BaseModel]] = WarmStartOptions
    base_models: ClassVar[tuple[str, ...]] = ("wmf", "bpr")

    def unlearn(
        self, model: FactorModel, remaining: Interactions, forgotten: Interactions, settings: MethodSettings,
        seed: int, progress: ProgressCallback = no_progress,
    ) -> tuple[FactorModel, dict[str, Any]]:
        """AdamW from the serving model's factors; ``forgotten`` only shaped ``remaining``."""
        options = WarmStartOptions(**settings.options)
        fit, validation = hold_out(remaining, options.validation_fraction, seed)
        objective = objective_for(settings.base_model, settings.model_config_object(), fit, model,
                                  negatives=options.negatives, seed=seed)
        return warm_start(objective, validation, options, seed, progress)


def warm_start(
    objective: FactorObjective, validation: Interactions, options: WarmStartOptions, seed: int,
    progress: ProgressCallback = no_progress,
) -> tuple[FactorModel, dict[str, Any]]:
    """AdamW on the objective from its current factors until early stopping on ``validation``'s Recall@k
    (``validation`` held out of the objective's data); returns the kept epoch's model and facts."""
    if options.min_epochs > options.max_epochs:
        raise ValueError(f"warm start: min_epochs {options.min_epochs} > max_epochs {options.max_epochs}")
    started = time.perf_counter()
    rng = np.random.default_rng(seed)
    users = objective.factors["user"].clone().requires_grad_(True)
    items = objective.factors["item"].clone().requires_grad_(True)
    optimizer = torch.optim.AdamW([users, items], lr=options.learning_rate, weight_decay=options.weight_decay)
    blocks = objective.blocks("user")
    n_rows = sum(len(b.rows) for b in blocks)
    fit = objective.remaining
    recalls = [recall_at_k(objective.to_model(), fit, validation, options.validation_k)]
    values = [objective.value(blocks)]
    best, best_epoch, best_factors, epochs = -np.inf, 0, dict(objective.factors), 0
    stage = "warm start epochs"
    with one_intra_op_thread():  # many mid-sized ops: see one_intra_op_thread (barrier stalls on a shared CPU)
        for epochs in range(1, options.max_epochs + 1):
            for k in rng.permutation(len(blocks)):
                block = blocks[k]
                loss = (objective.row_losses("user", users[block.rows], block, items).sum()
                        + objective.regulariser("item", items) * (len(block.rows) / n_rows))
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
            objective.factors = {"user": users.detach().clone(), "item": items.detach().clone()}
            recalls.append(recall_at_k(objective.to_model(), fit, validation, options.validation_k))
            values.append(objective.value(blocks))
            progress(stage, epochs, options.max_epochs)
            if epochs >= options.min_epochs and recalls[-1] > best * (1 + options.min_delta):
                best, best_epoch, best_factors = recalls[-1], epochs, objective.factors
            if best_epoch and epochs - best_epoch >= options.patience:
                break
    progress(stage, options.max_epochs, options.max_epochs)
    objective.factors = best_factors
    facts = {"epochs": epochs, "best_epoch": best_epoch, "stopped_early": epochs < options.max_epochs,
             "validation": {"pairs": len(validation), "metric": f"recall@{options.validation_k}",
                            "best": round(float(best), 6), "per_epoch": [round(r, 6) for r in recalls]},
             "objective": [round(v, 6) for v in values], "seconds": round(time.perf_counter() - started, 3)}
    return objective.to_model(), facts
