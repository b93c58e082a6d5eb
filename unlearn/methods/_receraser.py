"""RecEraser (Chen et al., WWW'22): balanced shards, one model per shard, a trained aggregator on top.

1. *Partition*: pre-train quick embeddings on the whole training set, then split it with UBP (default),
   IBP or InBP (or at random) into balanced shards; every interaction's shard goes to the ledger.
2. *Shard models*: one base model (BPR, WMF, LightGCN) per shard, through the executor.
3. *Aggregator*: attention (default), static or mean over the frozen shard models, trained on the union of
   the shards' training sets (above ``max_pairs``, a seeded-hash choice from it that erasure keeps stable).
   It is a checkpoint too, under the shard key ``-1`` (:data:`AGGREGATOR_SHARD`), recording the shard
   checkpoints it was trained over (``inputs``): its training set is derived from theirs, which is how the
   lineage proof derives it from the ledger.

Unlearning retrains exactly the hit shards, then the aggregator (it learnt from the hit shards' data and
from their models), both with the seeds of the checkpoints they replace: the result is what training from
scratch without the erased data would give, given the same partition. The plan lists the aggregator as one
more replaced checkpoint; its cost estimate counts the shards only (the aggregator is small and fast).

The partition is fixed at ``fit`` from embeddings pre-trained on all the data, as in the paper: erasing data
changes no other interaction's shard. Those embeddings are never served and not kept; their model, config,
seed and training-set digest are recorded with the deployment.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from itertools import chain
from typing import Any, ClassVar

import numpy as np

from ledger import CheckpointRecord, Ledger, WorkspaceError
from unlearn.artifacts import load_arrays
from unlearn.executor import ShardExecutor
from unlearn.methods._aggregation import (
    TRAINED_AGGREGATIONS,
    AggregatorConfig,
    aggregator_training_ids,
    build_aggregate,
    train_aggregator,
)
from unlearn.methods._protocol import DeploymentPlan, MethodSettings, ShardPlan
from unlearn.methods._sharded import ShardedRetraining, _shards_only, training_set_from_store
from unlearn.models import Recommender
from unlearn.registry import base_model
from unlearn.partition import PartitionConfig, partition_interactions
from unlearn.progress import ProgressCallback
from unlearn.training_data import Interactions, training_set_digest

AGGREGATOR_SHARD = -1
# UBP, not the paper's InBP, by default: Lethe's requests erase whole subjects, and UBP keeps a subject in one
# shard (one shard + the aggregator retrain), where InBP spreads a subject over most shards (~7 of 10 on
# ML-1M), so erasing them costs nearly a full retrain. UBP also scored higher on ML-1M (BENCHMARKS.md).
DEFAULT_PARTITION = "ubp"
DEFAULT_AGGREGATION = "attention"
PRETRAIN_MODEL = "wmf"  # deterministic and fast (a few ALS sweeps): embeddings only need to place similar data close
PRETRAIN_CONFIG: dict[str, Any] = {"embedding_size": 32, "epochs": 3}


class RecEraser(ShardedRetraining):
    """Balanced partition + shard models + aggregator; forgets by retraining hit shards, then the aggregator."""

    exact: ClassVar[bool] = True
    local_shards: ClassVar[bool] = True  # as the official code: a shard model knows only its shard's items

    def __init__(
        self, name: str = "receraser", executor: ShardExecutor | None = None,
        partition_config: PartitionConfig = PartitionConfig(),
    ) -> None:
        super().__init__(name, executor=executor)
        self.partition_config = partition_config

    def _check_settings(self, settings: MethodSettings) -> None:
        """Any shard count, partition and aggregation (pydantic has checked the names)."""

    # -- 1. partition ---------------------------------------------------------------------------
    def _assign(
        self, train: Interactions, settings: MethodSettings, progress: ProgressCallback
    ) -> tuple[MethodSettings, np.ndarray, dict[str, Any]]:
        settings = settings.model_copy(update={"partition": settings.partition or DEFAULT_PARTITION,
                                               "aggregation": settings.aggregation or DEFAULT_AGGREGATION})
        facts: dict[str, Any] = {"name": settings.partition, **self.partition_config.model_dump(mode="json")}
        embeddings = None
        if settings.partition != "random":
            progress("pre-train partition embeddings", 0, 1)
            spec = base_model(PRETRAIN_MODEL)
            config = spec.config_class(**PRETRAIN_CONFIG)
            started = time.perf_counter()
            model = spec.train(train.user_idx, train.item_idx, train.n_users, train.n_items, config, settings.seed)
            facts["pretrain"] = {
                "model": PRETRAIN_MODEL, "config": config.model_dump(mode="json"), "seed": settings.seed,
                "training_set_digest": training_set_digest(train.interaction_id),
                "seconds": round(time.perf_counter() - started, 3),
            }
            embeddings = (model.user_embeddings(), model.item_embeddings())
            progress("pre-train partition embeddings", 1, 1)
        started = time.perf_counter()
        shard_of = partition_interactions(settings.partition, train.user_idx, train.item_idx, train.n_users,
                                          train.n_items, settings.shards, settings.seed, embeddings,
                                          self.partition_config)
        facts["seconds"] = round(time.perf_counter() - started, 3)
        return settings, shard_of, {"partition": facts}

    # -- 3. aggregator --------------------------------------------------------------------------
    def _after_shards(
        self, ledger: Ledger, deployment_id: str, settings: MethodSettings, plan: DeploymentPlan | None,
        request_id: str | None, progress: ProgressCallback, actor: str,
    ) -> None:
        """(Re)train the aggregator over the live shards: at fit, and after a plan that lists it."""
        if settings.aggregation not in TRAINED_AGGREGATIONS:
            return
        live = ledger.live_checkpoints(deployment_id)
        current = live.get(AGGREGATOR_SHARD)
        if plan is not None and (
            current is None or request_id in current.excludes_requests  # done before a crash
            or all(s.shard != AGGREGATOR_SHARD for s in plan.shards)
        ):
            return
        inputs = _shards_only(live)
        config = AggregatorConfig(**settings.aggregator)
        seed = settings.seed + settings.shards if current is None else current.seed
        training = training_set_from_store(ledger, self._aggregator_ids(ledger, inputs.values(), config, seed),
                                           f"aggregator of {deployment_id}")
        stage = f"aggregator {deployment_id}"
        progress(stage, 0, 1)
        started = time.perf_counter()
        arrays = train_aggregator(settings.aggregation, self._shard_models(ledger, deployment_id, settings, inputs),
                                  training.user_idx, training.item_idx, config, seed)
        self._record_checkpoint(
            ledger, deployment_id, AGGREGATOR_SHARD, "agg", arrays, training.interaction_id,
            parent=None if current is None else current.checkpoint_id,
            excludes=list(dict.fromkeys(chain.from_iterable(r.excludes_requests for r in inputs.values()))),
            seed=seed, config=config.model_dump(mode="json"), seconds=time.perf_counter() - started, actor=actor,
            request_id=request_id, aggregation=settings.aggregation,
            inputs={str(shard): record.checkpoint_id for shard, record in sorted(inputs.items())},
        )
        progress(stage, 1, 1)

    def _combine(
        self, ledger: Ledger, settings: MethodSettings, records: dict[int, CheckpointRecord], models: list[Recommender]
    ) -> Recommender:
        aggregation = settings.aggregation or DEFAULT_AGGREGATION
        aggregator = records.get(AGGREGATOR_SHARD)
        if aggregator is None:
            if aggregation in TRAINED_AGGREGATIONS:
                raise WorkspaceError(f"deployment {records[0].deployment_id} has no trained {aggregation} aggregator")
            return build_aggregate(aggregation, models, None, AggregatorConfig())
        arrays = load_arrays(ledger.workspace.artifacts_dir, aggregator.artifact_sha256)
        return build_aggregate(aggregation, models, arrays, AggregatorConfig(**aggregator.config))

    # -- plan and lineage -----------------------------------------------------------------------
    def plan(self, ledger: Ledger, deployment_id: str, interaction_ids: list[int]) -> DeploymentPlan:
        """The hit shards, then the aggregator (if the deployment has one and any shard is hit)."""
        plan = super().plan(ledger, deployment_id, interaction_ids)
        aggregator = ledger.live_checkpoints(deployment_id).get(AGGREGATOR_SHARD)
        if not plan.shards or aggregator is None:
            return plan
        forgotten = sorted({i for shard in plan.shards for i in shard.interaction_ids})
        entry = ShardPlan(shard=AGGREGATOR_SHARD, checkpoint_id=aggregator.checkpoint_id,
                          interaction_ids=forgotten, shard_size=aggregator.n_interactions)
        return plan.model_copy(update={"shards": [*plan.shards, entry]})

    def training_ids(self, ledger: Ledger, checkpoint: CheckpointRecord) -> np.ndarray:
        """A shard's assigned ids minus erasures; for the aggregator, its hashed choice from the union over the
        shards it aggregated (the shard checkpoints its ``inputs`` fact names)."""
        if checkpoint.shard != AGGREGATOR_SHARD:
            return super().training_ids(ledger, checkpoint)
        by_id = {c.checkpoint_id: c for c in ledger.checkpoints(checkpoint.deployment_id)}
        shards = [by_id[cid] for cid in checkpoint.facts["inputs"].values()]
        return self._aggregator_ids(ledger, shards, AggregatorConfig(**checkpoint.config), checkpoint.seed)

    def _aggregator_ids(
        self, ledger: Ledger, shards: Iterable[CheckpointRecord], config: AggregatorConfig, seed: int
    ) -> np.ndarray:
        """What an aggregator over these shard checkpoints trains on: at fit, at retrain and in the proof."""
        shard_ids = super().training_ids  # bound here: a comprehension cannot call super() with no arguments
        union = np.unique(np.concatenate([shard_ids(ledger, shard) for shard in shards]))
        return aggregator_training_ids(union, config, seed)
