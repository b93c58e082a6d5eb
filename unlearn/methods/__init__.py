"""Unlearning methods behind one contract (:class:`UnlearningMethod`); registered by name in :mod:`unlearn.registry`."""

from unlearn.methods._aggregation import AGGREGATIONS, AggregatorConfig, AttentionAggregator, build_aggregate, train_aggregator
from unlearn.methods._alteraser import AltEraser, AltEraserOptions
from unlearn.methods._applicability import (
    SINGLE_MODEL_METHODS,
    MethodApplicability,
    applicable_methods,
    framework_methods,
    require_applicable,
)
from unlearn.methods._approximate import ApproximateMethod
from unlearn.methods._cff import CFF, CFFOptions
from unlearn.methods._external import register_model
from unlearn.methods._incremental import IncrementalFit, IncrementalOptions
from unlearn.methods._laser import Laser, LaserOptions
from unlearn.methods._protocol import Deployment, DeploymentPlan, MethodSettings, ShardPlan, UnlearningMethod
from unlearn.methods._receraser import AGGREGATOR_SHARD, PRETRAIN_CONFIG, PRETRAIN_MODEL, RecEraser
from unlearn.methods._sharded import ShardedRetraining, ShardTask, checkpoint_training_ids, set_serving, train_shard
from unlearn.methods._warm_start import WarmStart, WarmStartOptions
from unlearn.partition import PARTITIONS, assign_users_to_shards
from unlearn.registry import get_method, methods, register_method

__all__ = [
    "AGGREGATIONS",
    "AGGREGATOR_SHARD",
    "PRETRAIN_CONFIG",
    "PRETRAIN_MODEL",
    "PARTITIONS",
    "SINGLE_MODEL_METHODS",
    "AggregatorConfig",
    "AltEraser",
    "AltEraserOptions",
    "ApproximateMethod",
    "AttentionAggregator",
    "CFF",
    "CFFOptions",
    "Deployment",
    "DeploymentPlan",
    "IncrementalFit",
    "IncrementalOptions",
    "Laser",
    "LaserOptions",
    "MethodApplicability",
    "MethodSettings",
    "RecEraser",
    "ShardPlan",
    "ShardTask",
    "ShardedRetraining",
    "UnlearningMethod",
    "WarmStart",
    "WarmStartOptions",
    "applicable_methods",
    "assign_users_to_shards",
    "build_aggregate",
    "checkpoint_training_ids",
    "framework_methods",
    "get_method",
    "methods",
    "register_method",
    "register_model",
    "require_applicable",
    "set_serving",
    "train_aggregator",
    "train_shard",
]
