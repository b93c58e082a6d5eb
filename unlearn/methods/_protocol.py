"""The contract every unlearning method meets, and the typed facts it exchanges with the engine.

``fit`` builds a deployment and records it; ``plan`` says, from the ledger alone, what a request hits and
what it will cost; ``forget`` carries the plan out and records the new checkpoints. ``exact`` says whether
the result is provably a retrain without the forgotten data (lineage proof) or only approximately so.
"""

from __future__ import annotations

from dataclasses import dataclass
from abc import ABC, abstractmethod
from typing import Any, ClassVar

import numpy as np

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from ledger import CheckpointRecord, Ledger
from unlearn.executor import ShardExecutor
from unlearn.methods._aggregation import AggregatorConfig, check_aggregation
from unlearn.models import Recommender
from unlearn.registry import base_model
from unlearn.partition import check_partition
from unlearn.progress import ProgressCallback


class MethodSettings(BaseModel):
    """How a deployment is trained: recorded verbatim in the ledger so it can be reproduced."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    method: str
    base_model: str = "bpr"
    shards: int = Field(1, ge=1)
    seed: int = 0
    model: dict[str, Any] = Field(default_factory=dict, description="base-model hyper-parameters")
    partition: str | None = Field(None, description="random, ubp, ibp or inbp (RecEraser; None: the method's own)")
    aggregation: str | None = Field(None, description="attention, mean or static (RecEraser; None: the method's own)")
    aggregator: dict[str, Any] = Field(default_factory=dict, description="aggregator hyper-parameters (RecEraser)")
    options: dict[str, Any] = Field(
        default_factory=dict, description="method-specific options (e.g. LASER's grouping, AltEraser's solver); "
        "each method validates its own with a pydantic model when it fits"
    )

    @field_validator("partition")
    @classmethod
    def _known_partition(cls, name: str | None) -> str | None:
        return None if name is None else check_partition(name)

    @field_validator("aggregation")
    @classmethod
    def _known_aggregation(cls, name: str | None) -> str | None:
        return None if name is None else check_aggregation(name)

    @model_validator(mode="after")
    def _model_config_is_valid(self) -> "MethodSettings":
        base_model(self.base_model).config_class(**self.model)
        AggregatorConfig(**self.aggregator)
        return self

    def model_config_object(self) -> BaseModel:
        return base_model(self.base_model).config_class(**self.model)


class ShardPlan(BaseModel):
    """One shard a request hits: the checkpoint to replace and the forgotten interactions it trained on."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    shard: int
    checkpoint_id: str
    interaction_ids: list[int]
    shard_size: int


class DeploymentPlan(BaseModel):
    """What erasing a set of interactions costs one deployment."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    deployment_id: str
    method: str
    exact: bool
    shards: list[ShardPlan]
    interactions_hit: int
    training_interactions: int
    estimated_cost_fraction: float = Field(description="share of the training set that will be retrained")
    applicable_methods: list[dict[str, Any]] = Field(
        default_factory=list, description="for a model trained with another framework: every method, whether it "
        "applies to that framework and why (not); empty for Lethe's own models, which every method fits",
    )


@dataclass(frozen=True)
class Deployment:
    """A trained deployment as loaded from the ledger: its live checkpoints and the model they make."""

    deployment_id: str
    settings: MethodSettings
    checkpoints: dict[int, CheckpointRecord]
    model: Recommender


class UnlearningMethod(ABC):
    """The contract every unlearning method meets: what the engine and the verifier call, nothing else.

    Register an instance with :func:`unlearn.registry.register_method`; the contract suite
    (``tests/contracts/test_method_contract.py``) then runs it through fit → plan → forget → load → lineage →
    crash-resume → record round-trip. Optional capabilities are declared here with their defaults, never probed:

    - ``base_models``: the base models the method can forget from; ``None`` for every one;
    - ``latent_space_note``: why its models' embeddings cannot be aligned with a retrain's (the verifier then
      records the latent check as not applicable); ``None`` when they can;
    - ``fixed_shards``: the number of shards it always trains (retrain and the approximate methods: 1); ``None``
      when the settings choose.
    """

    name: str
    exact: ClassVar[bool]
    base_models: tuple[str, ...] | None = None
    fixed_shards: int | None = None
    latent_space_note: ClassVar[str | None] = None

    @abstractmethod
    def fit(self, ledger: Ledger, settings: MethodSettings, progress: ProgressCallback, actor: str) -> Deployment:
        """Train a deployment and record it (settings, shard assignments, every checkpoint) in the ledger."""

    @abstractmethod
    def plan(self, ledger: Ledger, deployment_id: str, interaction_ids: list[int]) -> DeploymentPlan:
        """From the ledger alone: which checkpoints these interactions trained, and what forgetting them costs."""

    @abstractmethod
    def forget(
        self, ledger: Ledger, plan: DeploymentPlan, request_id: str, progress: ProgressCallback, actor: str
    ) -> Deployment:
        """Carry the plan out and record the new checkpoints; resumable after a crash (done work is not redone)."""

    @abstractmethod
    def load(self, ledger: Ledger, deployment_id: str, checkpoint_ids: dict[int, str] | None = None) -> Deployment:
        """The deployment's model from its live checkpoints, or from the given ``{shard: checkpoint_id}``."""

    @abstractmethod
    def training_ids(self, ledger: Ledger, checkpoint: CheckpointRecord) -> np.ndarray:
        """The interaction ids a checkpoint trained on, derived from the ledger alone (for lineage proofs)."""

    def with_executor(self, executor: ShardExecutor) -> "UnlearningMethod":
        """The same method, training its shards through ``executor``; a method with nothing to parallelise
        returns itself."""
        return self
