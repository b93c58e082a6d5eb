"""Warm start through a framework's own incremental fit (the ``incremental`` method).

Lethe's ``warm_start`` fine-tunes with AdamW on a per-row loss Lethe can write down (WMF, BPR-MF). A model
from another library usually has no such loss in Lethe, but its library can keep fitting from a trained
model: implicit's ``fit`` continues from the current factors, NMF from ``init="custom"``, a torch module's
``fit`` from its parameters. This method continues that fit from the serving model on the remaining data,
then zeroes every user and item row left without remaining data (no fit step touches them, so they would
keep what the erased data taught). Approximate, like every warm start: the certificate says so and the
statistical checks carry the claim.
"""

from __future__ import annotations

import time
from typing import Any, ClassVar

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from unlearn.adapters import TorchFactorModel
from unlearn.executor import ShardExecutor
from unlearn.methods._approximate import ApproximateMethod
from unlearn.methods._protocol import MethodSettings
from unlearn.models import FactorModel
from unlearn.progress import ProgressCallback, no_progress
from unlearn.registry import adapters, get_adapter
from unlearn.training_data import Interactions


class IncrementalOptions(BaseModel):
    """``-o epochs=N``: passes of the framework's fit to continue for (default: the model config's)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    epochs: int | None = Field(None, ge=1, description="continued-fit epochs/iterations (None: the config's own)")


def without_rows(model: FactorModel, users: np.ndarray, items: np.ndarray) -> FactorModel:
    """The model with these users' and items' factors (and a module's embedding rows) zeroed."""
    if isinstance(model, TorchFactorModel):
        return model.without_rows(users, items)
    user_factors, item_factors = model.user_factors.copy(), model.item_factors.copy()
    item_bias, trained = model.item_bias.copy(), model.user_trained.copy()
    user_factors[users], item_factors[items], item_bias[items], trained[users] = 0.0, 0.0, 0.0, False
    return FactorModel(user_factors, item_factors, item_bias, trained)


class IncrementalFit(ApproximateMethod):
    """Continue the framework's own fit from the serving model on the remaining data."""

    options_class: ClassVar[type[BaseModel]] = IncrementalOptions

    def __init__(self, name: str = "incremental", executor: ShardExecutor | None = None) -> None:
        super().__init__(name, executor)

    @property
    def base_models(self) -> tuple[str, ...]:  # type: ignore[override]
        """Every registered adapter that can continue fitting (read when asked: adapters register on import)."""
        return tuple(sorted(name for name, adapter in adapters().items() if adapter.capabilities.incremental))

    def unlearn(
        self, model: FactorModel, remaining: Interactions, forgotten: Interactions, settings: MethodSettings,
        seed: int, progress: ProgressCallback = no_progress,
    ) -> tuple[FactorModel, dict[str, Any]]:
        adapter = get_adapter(settings.base_model)
        options = IncrementalOptions(**settings.options)
        config = settings.model_config_object()
        if options.epochs is not None:
            if "epochs" not in type(config).model_fields:
                raise ValueError(f"{settings.base_model} has no 'epochs' setting; its own params set how long it fits")
            config = config.model_copy(update={"epochs": options.epochs})
        started = time.perf_counter()
        progress("incremental fit", 0, 1)
        updated = adapter.spec().train(remaining.user_idx, remaining.item_idx, remaining.n_users, remaining.n_items,
                                       config, seed, init=model)
        users_left = np.bincount(remaining.user_idx, minlength=remaining.n_users) == 0
        items_left = np.bincount(remaining.item_idx, minlength=remaining.n_items) == 0
        updated = without_rows(updated, np.flatnonzero(users_left), np.flatnonzero(items_left))
        progress("incremental fit", 1, 1)
        facts = {"framework": adapter.framework, "epochs": getattr(config, "epochs", None),
                 "rows_zeroed": {"user": int(users_left.sum()), "item": int(items_left.sum())},
                 "seconds": round(time.perf_counter() - started, 3)}
        return updated, facts
