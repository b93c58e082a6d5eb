"""Exact unlearning by retraining: full retrain (one shard) and SISA (users split into random shards).

Both record every interaction's shard in the ledger at ``fit``; a request's plan is a ledger query
(which shards trained on the forgotten interactions) and ``forget`` retrains exactly those shards, each with
the seed of the checkpoint it replaces, on that shard's training set minus every interaction erased so far.
Shards train through a :class:`~unlearn.executor.ShardExecutor` (in this process or in worker processes);
this process alone writes the ledger, one checkpoint event per shard as soon as it is trained.

Subclasses (RecEraser) choose the partition (``_assign``), combine the shard models (``_combine``) and add
work after the shards (``_after_shards``). Shard keys are 0 … shards − 1; negative keys are reserved for
checkpoints that combine shards (RecEraser's aggregator), which plans and shard counts leave out.
"""

from __future__ import annotations

import copy
import logging
import math
import time
import uuid
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import pandas as pd

from ledger import (
    CHECKPOINT_CREATED, DEPLOYMENT_CREATED, DEPLOYMENT_SERVING, DEPLOYMENTS_LOCK, CheckpointRecord, DeploymentRecord,
    Ledger, WorkspaceError,
)
from unlearn.artifacts import load_arrays, save_arrays
from unlearn.executor import ShardExecutor, default_executor
from unlearn.methods._protocol import Deployment, DeploymentPlan, MethodSettings, ShardPlan, UnlearningMethod
from unlearn.models import FactorModel, Recommender, ShardMeanEnsemble
from unlearn.registry import base_model
from unlearn.partition import partition_interactions
from unlearn.progress import ProgressCallback
from unlearn.training_data import Interactions, training_set_digest

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ShardJob:
    """One shard to (re)train: its training set, the checkpoint it replaces, what it excludes, its seed."""

    shard: int
    training: Interactions
    parent: str | None
    excludes: list[str]
    seed: int


@dataclass(frozen=True)
class ShardTask:
    """What crosses to a worker process: arrays, names and a config — never the ledger.

    ``local``: train in the index space of the shard's own users and items (negatives are drawn from the
    shard's items only, graphs hold the shard's nodes only); everyone else gets zero factors.
    """

    base_model: str
    config: dict[str, Any]
    seed: int
    user_idx: np.ndarray
    item_idx: np.ndarray
    n_users: int
    n_items: int
    local: bool = False


def train_shard(task: ShardTask) -> tuple[dict[str, np.ndarray], float]:
    """Train one shard model (runs in a worker); returns its arrays and the training seconds."""
    spec = base_model(task.base_model)
    config = spec.config_class(**task.config)
    started = time.perf_counter()
    if not task.local:
        model = spec.train(task.user_idx, task.item_idx, task.n_users, task.n_items, config, task.seed)
        return model.to_arrays(), time.perf_counter() - started
    users, user_idx = np.unique(task.user_idx, return_inverse=True)
    items, item_idx = np.unique(task.item_idx, return_inverse=True)
    compact = spec.train(user_idx, item_idx, len(users), len(items), config, task.seed)
    if not isinstance(compact, FactorModel):
        raise TypeError(f"base model {task.base_model!r} cannot be trained on a shard's own items")
    return compact.expanded(users, items, task.n_users, task.n_items).to_arrays(), time.perf_counter() - started


class ShardedRetraining(UnlearningMethod):
    """Train one base model per shard; forget by retraining the shards the ledger says are hit.

    Also the checkpoint bookkeeping (fit, plan, load, recording) that the approximate methods reuse with one
    shard: they override ``forget`` to update the model instead of retraining it.
    """

    exact: ClassVar[bool] = True
    local_shards: ClassVar[bool] = False  # see ShardTask.local

    def __init__(self, name: str, fixed_shards: int | None = None, executor: ShardExecutor | None = None) -> None:
        self.name = name
        self.fixed_shards = fixed_shards
        self.executor = executor  # None: ``default_executor()`` at each use (LETHE_WORKERS)

    def with_executor(self, executor: ShardExecutor) -> "ShardedRetraining":
        """The same method training its shards through ``executor`` (e.g. a process pool)."""
        method = copy.copy(self)
        method.executor = executor
        return method

    # -- fit ------------------------------------------------------------------------------------
    def fit(self, ledger: Ledger, settings: MethodSettings, progress: ProgressCallback, actor: str = "system") -> Deployment:
        """1. partition the training set, 2. record the deployment with its assignments, 3. train every shard
        (then whatever the method trains on top of them).

        Holds the deployments lock throughout, so no request plans or forgets meanwhile; interactions a request has
        planned to erase (rows still in the store until its erasure step) are left out. A fit with the same settings
        on the same data that was interrupted (fewer shards trained than planned) is finished instead of started
        again (see :meth:`_resume`)."""
        self._check_settings(settings)
        dataset = ledger.require_dataset()
        with ledger.workspace.exclusive(DEPLOYMENTS_LOCK, wait=math.inf):
            unfinished = self._unfinished(ledger, settings, dataset["digest"])
            if unfinished is not None:
                return self._resume(ledger, unfinished, progress, actor)
            return self._fit_new(ledger, settings, dataset, progress, actor)

    def _fit_new(self, ledger: Ledger, settings: MethodSettings, dataset: dict[str, Any], progress: ProgressCallback,
                 actor: str) -> Deployment:
        # rows a request planned to erase but has not erased yet (its run was killed); once erased, rows are gone
        # from the store, and rows restored from an old export are the audit's to catch (re-contamination)
        pending = ledger.erased_interaction_ids([r.request_id for r in ledger.requests()
                                                 if r.state in ("planned", "unlearned")])
        train = Interactions.from_store(ledger, "train").without(pending)
        if len(train) == 0:
            raise WorkspaceError("the training split is empty: nothing to train on")
        settings, shard_of, facts = self._assign(train, settings, progress)
        deployment_id = f"{self.name}-{uuid.uuid4().hex[:8]}"
        assignments = pd.DataFrame(
            {"deployment_id": deployment_id, "interaction_id": train.interaction_id, "shard": shard_of}
        )
        ledger.append(
            DEPLOYMENT_CREATED,
            {
                "deployment_id": deployment_id,
                "method": self.name,
                "exact": self.exact,
                "settings": settings.model_dump(mode="json"),
                "data_digest": dataset["digest"],
                "shard_sizes": np.bincount(shard_of, minlength=settings.shards).tolist(),
                **facts,
            },
            actor=actor,
            bulk={"shard_assignments": assignments},
        )
        jobs = [ShardJob(shard, train.subset(shard_of == shard), None, [], settings.seed + shard)
                for shard in range(settings.shards)]
        self._train_checkpoints(ledger, deployment_id, settings, jobs, f"train {deployment_id}", progress, actor)
        self._after_shards(ledger, deployment_id, settings, None, None, progress, actor)
        return self.load(ledger, deployment_id)

    def _unfinished(self, ledger: Ledger, settings: MethodSettings, data_digest: str) -> DeploymentRecord | None:
        """The latest deployment of these settings on this data whose fit was interrupted, if any. Settings left
        unset (``None``) match what the method recorded for them (RecEraser fills its default partition)."""
        wanted = {k: v for k, v in settings.model_dump(mode="json").items() if v is not None}
        for deployment in reversed(ledger.deployments()):
            recorded = deployment.settings
            if (deployment.method == self.name and deployment.data_digest == data_digest
                    and all(recorded.get(k) == v for k, v in wanted.items())
                    and len(_shards_only(ledger.live_checkpoints(deployment.deployment_id))) < settings.shards):
                return deployment
        return None

    def _resume(self, ledger: Ledger, deployment: DeploymentRecord, progress: ProgressCallback, actor: str) -> Deployment:
        """Finish an interrupted fit: train each shard that has no checkpoint, and retrain each whose checkpoint
        trained on interactions a request erased (or planned to) since — requests planned while it was incomplete
        did not plan against it — each without them; then whatever the method trains on top of the shards."""
        deployment_id = deployment.deployment_id
        settings = MethodSettings(**deployment.settings)
        live = ledger.live_checkpoints(deployment_id)
        planned = {r.request_id: r.require_payload("planned")["interaction_ids"]
                   for r in ledger.requests() if r.payload("planned") is not None}
        jobs = []
        for shard in range(settings.shards):
            assigned = ledger.shard_interaction_ids(deployment_id, shard)
            excludes = sorted(rid for rid, ids in planned.items() if np.isin(assigned, ids).any())
            current = live.get(shard)
            if current is not None and set(excludes) <= set(current.excludes_requests):
                continue
            training = self._checkpoint_training_set(ledger, deployment_id, shard, excludes)
            jobs.append(ShardJob(shard, training, current.checkpoint_id if current else None, excludes,
                                 current.seed if current else settings.seed + shard))
        log.info("resuming %s: %d shard(s) to train", deployment_id, len(jobs))
        self._train_checkpoints(ledger, deployment_id, settings, jobs, f"resume {deployment_id}", progress, actor)
        self._after_shards(ledger, deployment_id, settings, None, None, progress, actor)
        return self.load(ledger, deployment_id)

    def _check_settings(self, settings: MethodSettings) -> None:
        if self.fixed_shards is not None and settings.shards != self.fixed_shards:
            raise ValueError(f"method {self.name!r} uses exactly {self.fixed_shards} shard(s), got {settings.shards}")
        if settings.partition is not None or settings.aggregation is not None or settings.aggregator:
            raise ValueError(f"method {self.name!r} splits users at random and averages shards; partition, "
                             "aggregation and aggregator settings belong to receraser")

    def _assign(
        self, train: Interactions, settings: MethodSettings, progress: ProgressCallback
    ) -> tuple[MethodSettings, np.ndarray, dict[str, Any]]:
        """The settings to record, the shard of every training interaction, and facts for the deployment event."""
        shard_of = partition_interactions("random", train.user_idx, train.item_idx, train.n_users, train.n_items,
                                          settings.shards, settings.seed)
        return settings, shard_of, {}

    # -- plan -----------------------------------------------------------------------------------
    def plan(self, ledger: Ledger, deployment_id: str, interaction_ids: list[int]) -> DeploymentPlan:
        """Which live shard checkpoints trained on these interactions, read from the ledger's assignments."""
        deployment = ledger.deployment(deployment_id)
        live = _shards_only(ledger.live_checkpoints(deployment_id))
        hit = ledger.shards_holding(deployment_id, interaction_ids)
        shards = []
        for shard, ids in sorted(hit.items()):
            record = live[shard]
            already = ledger.erased_interaction_ids(record.excludes_requests)
            remaining = [i for i in ids if i not in already]
            if remaining:
                shards.append(ShardPlan(shard=shard, checkpoint_id=record.checkpoint_id,
                                        interaction_ids=remaining, shard_size=record.n_interactions))
        total = sum(r.n_interactions for r in live.values())
        retrained = sum(s.shard_size for s in shards)
        return DeploymentPlan(
            deployment_id=deployment_id,
            method=deployment.method,
            exact=self.exact,
            shards=shards,
            interactions_hit=sum(len(s.interaction_ids) for s in shards),
            training_interactions=total,
            estimated_cost_fraction=retrained / total if total else 0.0,
        )

    # -- forget ---------------------------------------------------------------------------------
    def forget(
        self, ledger: Ledger, plan: DeploymentPlan, request_id: str, progress: ProgressCallback, actor: str = "system"
    ) -> Deployment:
        """Retrain each hit shard once, without everything erased so far; resumable shard by shard.

        ``request_id`` names the request whose ``planned`` event lists the ids to forget; a batch of
        subjects is one request whose plan covers all their ids, so a shard several of them hit retrains once.
        """
        settings = MethodSettings(**ledger.deployment(plan.deployment_id).settings)
        live = ledger.live_checkpoints(plan.deployment_id)
        jobs = []
        for shard_plan in plan.shards:
            current = live[shard_plan.shard]
            if shard_plan.shard < 0 or request_id in current.excludes_requests:
                continue  # a combiner (retrained by _after_shards), or done before a crash
            excludes = [*current.excludes_requests, request_id]
            training = self._checkpoint_training_set(ledger, plan.deployment_id, shard_plan.shard, excludes)
            jobs.append(ShardJob(shard_plan.shard, training, current.checkpoint_id, excludes, current.seed))
        stage = f"retrain {plan.deployment_id}"
        self._train_checkpoints(ledger, plan.deployment_id, settings, jobs, stage, progress, actor, request_id)
        self._after_shards(ledger, plan.deployment_id, settings, plan, request_id, progress, actor)
        return self.load(ledger, plan.deployment_id)

    def _after_shards(
        self, ledger: Ledger, deployment_id: str, settings: MethodSettings, plan: DeploymentPlan | None,
        request_id: str | None, progress: ProgressCallback, actor: str,
    ) -> None:
        """Work that depends on the freshly trained shards (``plan`` is None at fit); nothing for SISA."""

    # -- load -----------------------------------------------------------------------------------
    def load(self, ledger: Ledger, deployment_id: str, checkpoint_ids: dict[int, str] | None = None) -> Deployment:
        """Rebuild a deployment's model from its live checkpoints, or from the given ``{shard: checkpoint_id}``
        (e.g. the ones a request replaced, while their artifacts still exist). Artifact hashes are checked."""
        settings = MethodSettings(**ledger.deployment(deployment_id).settings)
        records = ledger.live_checkpoints(deployment_id)
        if checkpoint_ids is not None:
            by_id = {c.checkpoint_id: c for c in ledger.checkpoints(deployment_id)}
            records = {int(shard): by_id[cid] for shard, cid in checkpoint_ids.items()}
        models = self._shard_models(ledger, deployment_id, settings, records)
        return Deployment(deployment_id, settings, records, self._combine(ledger, settings, records, models))

    def _shard_models(
        self, ledger: Ledger, deployment_id: str, settings: MethodSettings, records: dict[int, CheckpointRecord]
    ) -> list[Recommender]:
        """The shard models of these checkpoint records, in shard order."""
        if len(_shards_only(records)) != settings.shards:
            raise WorkspaceError(f"deployment {deployment_id} is incomplete: "
                                 f"{len(_shards_only(records))}/{settings.shards} shards")
        spec = base_model(settings.base_model)
        return [spec.from_arrays(load_arrays(ledger.workspace.artifacts_dir, records[s].artifact_sha256))
                for s in range(settings.shards)]

    def _combine(
        self, ledger: Ledger, settings: MethodSettings, records: dict[int, CheckpointRecord], models: list[Recommender]
    ) -> Recommender:
        """The serving model made of the shard models: SISA averages them."""
        return ShardMeanEnsemble(models)

    def training_ids(self, ledger: Ledger, checkpoint: CheckpointRecord) -> np.ndarray:
        return checkpoint_training_ids(ledger, checkpoint.deployment_id, checkpoint.shard, checkpoint.excludes_requests)

    # -- helpers --------------------------------------------------------------------------------
    def _checkpoint_training_set(self, ledger: Ledger, deployment_id: str, shard: int, excludes: list[str]) -> Interactions:
        return training_set_from_store(ledger, checkpoint_training_ids(ledger, deployment_id, shard, excludes),
                                       f"shard {shard} of {deployment_id}")

    def _train_checkpoints(
        self, ledger: Ledger, deployment_id: str, settings: MethodSettings, jobs: list[ShardJob], stage: str,
        progress: ProgressCallback, actor: str, request_id: str | None = None,
    ) -> None:
        """Train the jobs through the executor; record each checkpoint as its result arrives (in job order)."""
        config = settings.model_config_object().model_dump(mode="json")
        tasks = [ShardTask(settings.base_model, config, job.seed, job.training.user_idx, job.training.item_idx,
                           job.training.n_users, job.training.n_items, self.local_shards) for job in jobs]
        progress(stage, 0, len(jobs))
        executor = self.executor or default_executor()
        for done, (job, (arrays, seconds)) in enumerate(zip(jobs, executor.map(train_shard, tasks)), 1):
            self._record_checkpoint(
                ledger, deployment_id, job.shard, f"s{job.shard}", arrays, job.training.interaction_id,
                parent=job.parent, excludes=job.excludes, seed=job.seed, config=config, seconds=seconds,
                actor=actor, request_id=request_id, base_model=settings.base_model,
            )
            progress(stage, done, len(jobs))

    def _record_checkpoint(
        self, ledger: Ledger, deployment_id: str, shard: int, label: str, arrays: dict[str, np.ndarray],
        training_ids: np.ndarray, parent: str | None, excludes: list[str], seed: int, config: dict[str, Any],
        seconds: float, actor: str, request_id: str | None, **facts: Any,
    ) -> CheckpointRecord:
        """Save the artifact and append its ``checkpoint.created`` event (``facts`` add method-specific keys, read
        back as :attr:`ledger.CheckpointRecord.facts`); returns the record as the ledger now reads it."""
        _, sha = save_arrays(arrays, ledger.workspace.artifacts_dir)
        version = sum(1 for c in ledger.checkpoints(deployment_id) if c.shard == shard) + 1
        record = {
            "checkpoint_id": f"{deployment_id}/{label}/v{version}",
            "deployment_id": deployment_id,
            "method": self.name,
            **facts,
            "shard": shard,
            "parent": parent,
            "artifact_sha256": sha,
            "training_set_digest": training_set_digest(training_ids),
            "n_interactions": len(training_ids),
            "seed": seed,
            "config": config,
            "excludes_requests": excludes,
            "request_id": request_id,
            "train_seconds": round(seconds, 3),
        }
        recorded = CheckpointRecord.from_event(ledger.append(CHECKPOINT_CREATED, record, actor=actor))
        log.info("%s: %d interactions, trained in %.1f s", recorded.checkpoint_id, len(training_ids), seconds)
        return recorded


def _shards_only(records: dict[int, CheckpointRecord]) -> dict[int, CheckpointRecord]:
    """The shard checkpoints among a deployment's, without combiners (negative keys)."""
    return {shard: record for shard, record in records.items() if shard >= 0}


def training_set_from_store(ledger: Ledger, ids: np.ndarray, what: str) -> Interactions:
    """The store's training rows with these ids; an error if the store lost any (erased but not excluded)."""
    train = Interactions.from_store(ledger, "train", ids)
    missing = len(ids) - len(train)
    if missing:
        raise WorkspaceError(
            f"{what}: {missing} training interactions are gone from the store "
            "but not covered by an erasure this checkpoint excludes"
        )
    return train


def checkpoint_training_ids(ledger: Ledger, deployment_id: str, shard: int, excludes: list[str]) -> np.ndarray:
    """A checkpoint's training set, derived from the ledger alone: the shard's assigned interactions minus
    those of every request the checkpoint excludes. Its digest must equal the recorded one."""
    ids = ledger.shard_interaction_ids(deployment_id, shard)
    erased = ledger.erased_interaction_ids(excludes)
    return ids[~np.isin(ids, np.fromiter(erased, dtype=np.int64))] if erased else ids


def set_serving(ledger: Ledger, deployment_id: str, actor: str = "system") -> None:
    """Make a deployment the one that serves (and that ``lethe evaluate`` measures)."""
    ledger.deployment(deployment_id)
    ledger.append(DEPLOYMENT_SERVING, {"deployment_id": deployment_id}, actor=actor)
