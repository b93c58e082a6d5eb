"""Unlearning methods behind one protocol, registered by name."""

from unlearn.methods._protocol import Deployment, DeploymentPlan, MethodSettings, ShardPlan, UnlearningMethod
from unlearn.methods._registry import METHODS, get_method, register_method
from unlearn.methods._sharded import ShardedRetraining, assign_users_to_shards, checkpoint_training_ids, set_serving

register_method(ShardedRetraining("retrain", fixed_shards=1))
register_method(ShardedRetraining("sisa"))

__all__ = [
    "METHODS",
    "Deployment",
    "DeploymentPlan",
    "MethodSettings",
    "ShardPlan",
    "ShardedRetraining",
    "UnlearningMethod",
    "assign_users_to_shards",
    "checkpoint_training_ids",
    "get_method",
    "register_method",
    "set_serving",
]
