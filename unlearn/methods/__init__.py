"""Unlearning methods behind one protocol, registered by name."""

from unlearn.methods._aggregation import AGGREGATIONS, AggregatorConfig, AttentionAggregator
from unlearn.methods._alteraser import AltEraser, AltEraserOptions
from unlearn.methods._approximate import ApproximateMethod
from unlearn.methods._cff import CFF, CFFOptions
from unlearn.methods._laser import Laser, LaserOptions
from unlearn.methods._protocol import Deployment, DeploymentPlan, MethodSettings, ShardPlan, UnlearningMethod
from unlearn.methods._receraser import AGGREGATOR_SHARD, RecEraser
from unlearn.methods._registry import METHODS, get_method, register_method
from unlearn.methods._sharded import ShardedRetraining, checkpoint_training_ids, set_serving
from unlearn.methods._warm_start import WarmStart, WarmStartOptions
from unlearn.partition import PARTITIONS, assign_users_to_shards

register_method(ShardedRetraining("retrain", fixed_shards=1))
register_method(ShardedRetraining("sisa"))
register_method(RecEraser("receraser"))
register_method(WarmStart("warm_start"))
register_method(AltEraser("alteraser"))
register_method(CFF("cff"))
register_method(Laser("laser"))

__all__ = [
    "AGGREGATIONS",
    "AGGREGATOR_SHARD",
    "METHODS",
    "PARTITIONS",
    "AggregatorConfig",
    "AltEraser",
    "AltEraserOptions",
    "ApproximateMethod",
    "CFF",
    "CFFOptions",
    "AttentionAggregator",
    "Deployment",
    "DeploymentPlan",
    "Laser",
    "LaserOptions",
    "MethodSettings",
    "RecEraser",
    "ShardPlan",
    "ShardedRetraining",
    "UnlearningMethod",
    "WarmStart",
    "WarmStartOptions",
    "assign_users_to_shards",
    "checkpoint_training_ids",
    "get_method",
    "register_method",
    "set_serving",
]

# Framework adapters (implicit, scikit-learn, torch modules) register their base models and the 'incremental'
# method; imported last, since they build on the methods above.
import unlearn.adapters  # noqa: E402,F401
