"""Warm start (AltEraser §4.1): fine-tune the serving model on the remaining data with AdamW, early stopping.

The model's factors are the starting point; each epoch takes one AdamW step per batch of users on the base
model's own loss (:mod:`unlearn.methods._objectives`: those users' row losses, which reach the item factors
too, plus their share of the item regulariser). After each epoch the whole objective on the remaining data
is measured; training stops when it has not improved by ``min_delta`` (relative) for ``patience`` epochs,
and the best epoch's factors are kept.
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
from unlearn.progress import ProgressCallback, no_progress
from unlearn.training_data import Interactions


class WarmStartOptions(BaseModel):
    """Warm start's settings (``lethe train --method warm_start -o learning_rate=0.002 -o patience=2``)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    max_epochs: int = Field(30, ge=1)
    patience: int = Field(10, ge=1, description="epochs without improvement before stopping (paper: 10)")
    min_delta: float = Field(1e-4, ge=0, description="relative decrease of the objective that counts")
    learning_rate: float = Field(0.001, gt=0, description="AdamW step size")
    weight_decay: float = Field(0.0, ge=0, description="AdamW decoupled decay (the loss has its own L2)")
    negatives: int = Field(2, ge=1, description="bpr: negatives sampled per remaining positive (seeded)")


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
        objective = objective_for(settings.base_model, settings.model_config_object(), remaining, model,
                                  negatives=options.negatives, seed=seed)
        return warm_start(objective, options, seed, progress)


def warm_start(
    objective: FactorObjective, options: WarmStartOptions, seed: int, progress: ProgressCallback = no_progress
) -> tuple[FactorModel, dict[str, Any]]:
    """AdamW on the objective from its current factors until early stopping; returns the best model and facts."""
    started = time.perf_counter()
    rng = np.random.default_rng(seed)
    users = objective.factors["user"].clone().requires_grad_(True)
    items = objective.factors["item"].clone().requires_grad_(True)
    optimizer = torch.optim.AdamW([users, items], lr=options.learning_rate, weight_decay=options.weight_decay)
    blocks = objective.blocks("user")
    n_rows = sum(len(b.rows) for b in blocks)
    best = objective.value(blocks)
    history, best_factors, stale, epochs = [best], dict(objective.factors), 0, 0
    stage = "warm start epochs"
    for epochs in range(1, options.max_epochs + 1):
        for k in rng.permutation(len(blocks)):
            block = blocks[k]
            loss = (objective.row_losses("user", users[block.rows], block, items).sum()
                    + objective.regulariser("item", items) * (len(block.rows) / n_rows))
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        objective.factors = {"user": users.detach().clone(), "item": items.detach().clone()}
        value = objective.value(blocks)
        history.append(value)
        progress(stage, epochs, options.max_epochs)
        if value < best * (1 - options.min_delta):
            best, best_factors, stale = value, objective.factors, 0
        else:
            stale += 1
            if stale >= options.patience:
                break
    progress(stage, options.max_epochs, options.max_epochs)
    objective.factors = best_factors
    facts = {"epochs": epochs, "stopped_early": epochs < options.max_epochs, "best_objective": round(best, 6),
             "objective": [round(v, 6) for v in history], "seconds": round(time.perf_counter() - started, 3)}
    return objective.to_model(), facts
