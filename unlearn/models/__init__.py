"""Recommender models behind one scoring interface (:class:`Recommender`), and the base-model contract.

A base model is a :class:`BaseModelSpec`: its config class, its trainer and its array (de)serialisation, so
methods train and checkpoint any of them the same way. Specs are registered by name in
:mod:`unlearn.registry` (Lethe's own in ``unlearn._builtins``; other frameworks' through their adapters).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from pydantic import BaseModel

from unlearn.models._base import Recommender
from unlearn.models._ensemble import ShardMeanEnsemble
from unlearn.models._pairwise import sample_negatives, train_pairwise
from unlearn.models._bpr import BPRConfig, BPRModel, train_bpr
from unlearn.models._factors import FactorModel, one_intra_op_thread
from unlearn.models._lightgcn import LightGCNConfig, train_lightgcn
from unlearn.models._neural import DMFModel, NeuMFModel, NeuralConfig, NeuralModel, train_dmf, train_neumf
from unlearn.models._rating_mf import RatingMFConfig, RatingMFModel, rating_targets, train_rating_mf
from unlearn.models._wmf import WMFConfig, train_wmf


@dataclass(frozen=True)
class BaseModelSpec:
    """What a method needs to train, save and load one kind of base model."""

    name: str
    config_class: type[BaseModel]
    train: Callable[..., Recommender]
    from_arrays: Callable[[dict[str, np.ndarray]], Recommender]
    warm_start: bool = False  # ``train(..., init=model)`` continues from a model's parameters (LASER's SeqTrain)


__all__ = [
    "one_intra_op_thread",
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
    "ShardMeanEnsemble",
    "rating_targets",
    "sample_negatives",
    "train_pairwise",
    "WMFConfig",
    "train_bpr",
    "train_dmf",
    "train_lightgcn",
    "train_neumf",
    "train_rating_mf",
    "train_wmf",
]
