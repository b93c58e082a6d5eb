"""Unlearning methods behind one protocol, registered by name."""

from unlearn.methods._aggregation import AGGREGATIONS, AggregatorConfig, AttentionAggregator
from unlearn.methods._protocol import Deployment, DeploymentPlan, MethodSettings, ShardPlan, UnlearningMethod
from unlearn.methods._receraser import AGGREGATOR_SHARD, RecEraser
from unlearn.methods._registry import METHODS, get_method, register_method
from unlearn.methods._sharded import ShardedRetraining, checkpoint_training_ids, set_serving
from unlearn.partition import PARTITIONS, assign_users_to_shards

register_method(ShardedRetraining("retrain", fixed_shards=1))
register_method(ShardedRetraining("sisa"))
register_method(RecEraser("receraser"))

__all__ = [
    "AGGREGATIONS",
    "AGGREGATOR_SHARD",
    "METHODS",
    "PARTITIONS",
    "AggregatorConfig",
    "AttentionAggregator",
    "Deployment",
    "DeploymentPlan",
    "MethodSettings",
    "RecEraser",
    "ShardPlan",
    "ShardedRetraining",
    "UnlearningMethod",
    "assign_users_to_shards",
    "checkpoint_training_ids",
    "get_method",
    "register_method",
    "set_serving",
]
