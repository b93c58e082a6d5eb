"""Recommender models behind one scoring interface, and their registry by name.

A base model is registered with its config class, its trainer and its array (de)serialisation, so methods
train and checkpoint any of them the same way.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from pydantic import BaseModel

from unlearn.models._base import Recommender
from unlearn.models._bpr import BPRConfig, BPRModel, train_bpr
from unlearn.models._factors import FactorModel, one_intra_op_thread
from unlearn.models._lightgcn import LightGCNConfig, train_lightgcn
from unlearn.models._neural import DMFModel, NeuMFModel, NeuralConfig, NeuralModel, train_dmf, train_neumf
from unlearn.models._rating_mf import RatingMFConfig, RatingMFModel, train_rating_mf
from unlearn.models._wmf import WMFConfig, train_wmf


@dataclass(frozen=True)
class BaseModelSpec:
    """What a method needs to train, save and load one kind of base model."""

    name: str
    config_class: type[BaseModel]
    train: Callable[..., Recommender]
    from_arrays: Callable[[dict[str, np.ndarray]], Recommender]
    warm_start: bool = False  # ``train(..., init=model)`` continues from a model's parameters (LASER's SeqTrain)


BASE_MODELS: dict[str, BaseModelSpec] = {
    "bpr": BaseModelSpec("bpr", BPRConfig, train_bpr, BPRModel.from_arrays),
    "wmf": BaseModelSpec("wmf", WMFConfig, train_wmf, FactorModel.from_arrays),
    "lightgcn": BaseModelSpec("lightgcn", LightGCNConfig, train_lightgcn, FactorModel.from_arrays),
    "dmf": BaseModelSpec("dmf", NeuralConfig, train_dmf, DMFModel.from_arrays, warm_start=True),
    "neumf": BaseModelSpec("neumf", NeuralConfig, train_neumf, NeuMFModel.from_arrays, warm_start=True),
    "rating_mf": BaseModelSpec("rating_mf", RatingMFConfig, train_rating_mf, RatingMFModel.from_arrays),
}


def base_model(name: str) -> BaseModelSpec:
    """Look up a registered base model; a clear error naming the known ones otherwise."""
    try:
        return BASE_MODELS[name]
    except KeyError:
        raise ValueError(f"unknown base model {name!r}; known: {', '.join(sorted(BASE_MODELS))}") from None


__all__ = [
    "one_intra_op_thread",
    "BASE_MODELS",
    "BPRConfig",
    "BPRModel",
    "BaseModelSpec",
    "DMFModel",
    "FactorModel",
    "LightGCNConfig",
    "NeuMFModel",
    "NeuralConfig",
    "NeuralModel",
    "RatingMFConfig",
    "RatingMFModel",
    "Recommender",
    "WMFConfig",
    "base_model",
    "train_bpr",
    "train_dmf",
    "train_lightgcn",
    "train_neumf",
    "train_rating_mf",
    "train_wmf",
]
