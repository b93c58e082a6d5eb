"""What every approximate unlearning method shares: a full retrain's ``fit``, an in-place ``forget``.

``fit`` is the one-shard retrain of :class:`~unlearn.methods._sharded.ShardedRetraining`. ``forget`` does not
retrain: it updates the serving model (:meth:`ApproximateMethod.unlearn`, the method's own algorithm) and
records a NEW checkpoint whose parent is the one it updates. Its inputs are recorded with it: the forgotten
interaction ids (and their digest), the digest of the remaining data it was fitted to, the validated options
and the seed.

Lineage stays honest: the new weights descend from a model that trained on the erased data, so the
checkpoint's training set (``training_ids``) is its ancestry's — the deployment's whole assignment — and its
``excludes_requests`` is empty. Which requests it was *approximately* updated to forget is listed separately
(``forgets_requests``, one of the method's facts: ``CheckpointRecord.facts``). The lineage proof therefore never
calls it exact (:mod:`verify._lineage`), and the certificate carries the approximate notice; the statistical
evidence carries the claim.
"""

from __future__ import annotations

import time
from typing import Any, ClassVar

import numpy as np
from pydantic import BaseModel

from ledger import CheckpointRecord, Ledger, WorkspaceError
from unlearn.executor import ShardExecutor
from unlearn.methods._protocol import Deployment, DeploymentPlan, MethodSettings
from unlearn.methods._sharded import ShardedRetraining, checkpoint_training_ids
from unlearn.models import FactorModel, Recommender
from unlearn.progress import ProgressCallback
from unlearn.training_data import Interactions, training_set_digest


class ApproximateMethod(ShardedRetraining):
    """Base of warm start, AltEraser and CFF: one shard, ``exact = False``, options validated per method."""

    exact: ClassVar[bool] = False
    options_class: ClassVar[type[BaseModel]]
    base_models: ClassVar[tuple[str, ...]]

    def __init__(self, name: str, executor: ShardExecutor | None = None) -> None:
        super().__init__(name, fixed_shards=1, executor=executor)

    def options(self, settings: MethodSettings) -> BaseModel:
        """The method's options from ``settings.options`` (pydantic names a bad or unknown field)."""
        return self.options_class(**settings.options)

    def _check_settings(self, settings: MethodSettings) -> None:
        super()._check_settings(settings)
        if settings.base_model not in self.base_models:
            raise ValueError(f"method {self.name!r} supports base models {', '.join(self.base_models)}, "
                             f"not {settings.base_model!r}")
        self.options(settings)

    def _combine(
        self, ledger: Ledger, settings: MethodSettings, records: dict[int, CheckpointRecord], models: list[Recommender]
    ) -> Recommender:
        """One shard: the serving model is that shard's model itself (its factors are what ``forget`` updates)."""
        return models[0]

    def unlearn(
        self, model: FactorModel, remaining: Interactions, forgotten: Interactions, settings: MethodSettings,
        seed: int, progress: ProgressCallback,
    ) -> tuple[FactorModel, dict[str, Any]]:
        """The updated model and facts about the run (passes, objective, seconds per stage)."""
        raise NotImplementedError

    def plan(self, ledger: Ledger, deployment_id: str, interaction_ids: list[int]) -> DeploymentPlan:
        """The shard the ids hit; nothing is retrained, so the estimated retrain share is 0."""
        return super().plan(ledger, deployment_id, interaction_ids).model_copy(update={"estimated_cost_fraction": 0.0})

    def forget(
        self, ledger: Ledger, plan: DeploymentPlan, request_id: str, progress: ProgressCallback, actor: str = "system"
    ) -> Deployment:
        """1. the data: remaining = the deployment's training rows still in the store minus everything forgotten
        so far and now; 2. update the model; 3. record the new checkpoint (parent = the old). Resumable: a
        checkpoint already recorded for ``request_id`` is not redone."""
        deployment_id = plan.deployment_id
        settings = MethodSettings(**ledger.deployment(deployment_id).settings)
        current = ledger.live_checkpoints(deployment_id)[0]
        forgets_requests = current.facts.get("forgets_requests", [])  # none yet: the fitted checkpoint
        if request_id in forgets_requests or not plan.shards:
            return self.load(ledger, deployment_id)
        forgotten_ids = np.unique(np.asarray([i for s in plan.shards for i in s.interaction_ids], dtype=np.int64))
        ancestry = checkpoint_training_ids(ledger, deployment_id, 0, [])
        train = Interactions.from_store(ledger, "train")
        trained = train.subset(np.isin(train.interaction_id, ancestry))
        forgotten = trained.subset(np.isin(trained.interaction_id, forgotten_ids))
        if len(forgotten) != len(forgotten_ids):
            raise WorkspaceError(f"{request_id}: {len(forgotten_ids) - len(forgotten)} interaction(s) to forget are "
                                 f"not training rows of {deployment_id} in the store")
        remaining = trained.without(np.concatenate([self.forgotten_so_far(ledger, current), forgotten_ids]))
        model = self.load(ledger, deployment_id).model
        if not isinstance(model, FactorModel):
            raise TypeError(f"{self.name}: the serving model of {deployment_id} is not a factor model")
        started = time.perf_counter()
        updated, facts = self.unlearn(model, remaining, forgotten, settings, current.seed, progress)
        options = self.options(settings).model_dump(mode="json")
        self._record_checkpoint(
            ledger, deployment_id, 0, "s0", updated.to_arrays(), ancestry, parent=current.checkpoint_id,
            excludes=[], seed=current.seed, config=settings.model_config_object().model_dump(mode="json"),
            seconds=time.perf_counter() - started, actor=actor, request_id=request_id,
            base_model=settings.base_model, approximate=True,
            forgets_requests=[*forgets_requests, request_id],
            forgotten_interaction_ids=forgotten_ids.tolist(),
            inputs={"forgotten_digest": training_set_digest(forgotten_ids), "forgotten": len(forgotten_ids),
                    "remaining_digest": training_set_digest(remaining.interaction_id), "remaining": len(remaining),
                    "options": options, "seed": current.seed},
            unlearning=facts,
        )
        return self.load(ledger, deployment_id)

    @staticmethod
    def forgotten_so_far(ledger: Ledger, checkpoint: CheckpointRecord) -> np.ndarray:
        """Every interaction id the checkpoint's ancestors were updated to forget (read from the parent chain)."""
        chain = ledger.checkpoint_lineage(checkpoint.checkpoint_id)
        ids = [i for record in chain for i in record.facts.get("forgotten_interaction_ids", [])]
        return np.asarray(ids, dtype=np.int64)
