"""Lethe's own base models, framework adapters and unlearning methods: the one list the registry loads."""

from __future__ import annotations

from unlearn.adapters import ImplicitALS, ImplicitBPR, SklearnNMF, SklearnSVD, TorchModule
from unlearn.methods import CFF, AltEraser, IncrementalFit, Laser, RecEraser, ShardedRetraining, WarmStart
from unlearn.models import (
    BaseModelSpec,
    BPRConfig,
    BPRModel,
    DMFModel,
    FactorModel,
    LightGCNConfig,
    NeuMFModel,
    NeuralConfig,
    RatingMFConfig,
    RatingMFModel,
    WMFConfig,
    train_bpr,
    train_dmf,
    train_lightgcn,
    train_neumf,
    train_rating_mf,
    train_wmf,
)
from unlearn.registry import register_adapter, register_base_model, register_method


def register_builtins() -> None:
    """Register every built-in, base models first (adapters and methods are checked against them)."""
    for spec in (
        BaseModelSpec("bpr", BPRConfig, train_bpr, BPRModel.from_arrays),
        BaseModelSpec("wmf", WMFConfig, train_wmf, FactorModel.from_arrays),
        BaseModelSpec("lightgcn", LightGCNConfig, train_lightgcn, FactorModel.from_arrays),
        BaseModelSpec("dmf", NeuralConfig, train_dmf, DMFModel.from_arrays, warm_start=True),
        BaseModelSpec("neumf", NeuralConfig, train_neumf, NeuMFModel.from_arrays, warm_start=True),
        BaseModelSpec("rating_mf", RatingMFConfig, train_rating_mf, RatingMFModel.from_arrays),
    ):
        register_base_model(spec)
    for adapter in (ImplicitALS(), ImplicitBPR(), SklearnSVD(), SklearnNMF(), TorchModule()):
        register_adapter(adapter)
    for method in (
        ShardedRetraining("retrain", fixed_shards=1),
        ShardedRetraining("sisa"),
        RecEraser("receraser"),
        WarmStart("warm_start"),
        AltEraser("alteraser"),
        CFF("cff"),
        Laser("laser"),
        IncrementalFit("incremental"),
    ):
        register_method(method)
