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
from unlearn.models._factors import FactorModel
from unlearn.models._lightgcn import LightGCNConfig, train_lightgcn
from unlearn.models._wmf import WMFConfig, train_wmf


@dataclass(frozen=True)
class BaseModelSpec:
    """What a method needs to train, save and load one kind of base model."""

    name: str
    config_class: type[BaseModel]
    train: Callable[..., Recommender]
    from_arrays: Callable[[dict[str, np.ndarray]], Recommender]


BASE_MODELS: dict[str, BaseModelSpec] = {
    "bpr": BaseModelSpec("bpr", BPRConfig, train_bpr, BPRModel.from_arrays),
    "wmf": BaseModelSpec("wmf", WMFConfig, train_wmf, FactorModel.from_arrays),
    "lightgcn": BaseModelSpec("lightgcn", LightGCNConfig, train_lightgcn, FactorModel.from_arrays),
}


def base_model(name: str) -> BaseModelSpec:
    """Look up a registered base model; a clear error naming the known ones otherwise."""
    try:
        return BASE_MODELS[name]
    except KeyError:
        raise ValueError(f"unknown base model {name!r}; known: {', '.join(sorted(BASE_MODELS))}") from None


__all__ = [
    "BASE_MODELS",
    "BPRConfig",
    "BPRModel",
    "BaseModelSpec",
    "FactorModel",
    "LightGCNConfig",
    "Recommender",
    "WMFConfig",
    "base_model",
    "train_bpr",
    "train_lightgcn",
    "train_wmf",
]
