"""LASER (Li et al., "Making Recommender Systems Forget"): collaborative groups, one model trained group after group.

1. *Group module*: users are embedded by random walks on a hypergraph of co-raters (Word2Vec; vertex weights
   the paper's average rating, or on implicit data the number of shared items — the average is 1 for everyone
   there, see :mod:`unlearn.partition._collaborative`, which also says how little the walks carry on MovieLens)
   and split into S balanced groups (``rand``, ``bkm`` over rating rows, or ``cbkm`` over the embedding — the
   default). Groups are ordered by collaborative cohesion ρ, easy (high ρ) to
   hard by default. Every interaction's *position* in that order (0 … S − 1) goes to the ledger as its shard.
2. *SeqTrain*: one base model trains on group 0, then continues on group 1, and so on; the checkpoint after
   group g (shard key g) has the checkpoint after group g − 1 as its ``parent`` and trained on groups 0 … g,
   so :meth:`Laser.training_ids` derives it from the ledger. The last checkpoint serves.
3. *Unlearning* a subject: the ledger says which group holds them (h); the checkpoint after h − 1 is restored
   and groups h … S − 1 are retrained, each without everything erased so far and with the seed of the
   checkpoint it replaces (``replaces``) — exactly what training from scratch without the erased data would
   give, given the same groups. Each retrained group is recorded as soon as it is done, so a crash resumes at
   the first group not yet retrained. Earlier checkpoints are left untouched.

Cost (Appendix B.2): a request hitting group h retrains the share of training data in groups h … S − 1 (the
plan's ``estimated_cost_fraction``; its ``shards`` list those groups). The deployment records the expectation
over a uniformly chosen subject, Eq. 7 / Z, as ``groups.expected_cost_fraction``.

The grouping and the order are fixed at ``fit`` from all the data, as in the paper: erasing a subject moves no
other user. The embedding is never served and not kept; its config, seed and training-set digest are recorded.
ρ is measured in the collaborative embedding whatever the grouping, so Rand and BKM groups are ordered by it too.
"""

from __future__ import annotations

import copy
import logging
import time
from dataclasses import dataclass
from typing import Any, ClassVar, Literal

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from ledger import CheckpointRecord, Ledger, WorkspaceError
from unlearn.artifacts import load_arrays
from unlearn.executor import ShardExecutor
from unlearn.methods._protocol import Deployment, DeploymentPlan, MethodSettings, ShardPlan
from unlearn.methods._sharded import (ShardedRetraining, ShardJob, _shards_only, checkpoint_training_ids,
                                      training_set_from_store)
from unlearn.models import Recommender
from unlearn.registry import base_model, base_models
from unlearn.partition import (GROUPINGS, WalkConfig, cohesion, collaborative_embedding, group_users, rating_matrix,
                               resolve_vertex_weight)
from unlearn.progress import ProgressCallback
from unlearn.training_data import Interactions, training_set_digest

log = logging.getLogger(__name__)


class LaserOptions(BaseModel):
    """LASER's own settings (``MethodSettings.options``); S is ``MethodSettings.shards`` (or ``groups`` here)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    grouping: Literal["rand", "bkm", "cbkm"] = Field("cbkm", description=f"one of {', '.join(GROUPINGS)}")
    order: Literal["easy_to_hard", "hard_to_easy"] = Field("easy_to_hard", description="by collaborative cohesion ρ")
    groups: int | None = Field(None, ge=1, description="S, if not given as MethodSettings.shards")
    walks: WalkConfig = WalkConfig()
    kmeans_iterations: int = Field(20, ge=1, description="τ of Alg. 2: most rounds of balanced k-means")


def laser_options(settings: MethodSettings) -> LaserOptions:
    """The settings' options as LASER's; a ValueError naming the offending field otherwise."""
    try:
        return LaserOptions(**settings.options)
    except ValidationError as error:
        raise ValueError(f"bad LASER option(s): {error}") from None


def expected_cost_fraction(sizes: np.ndarray) -> float:
    """Eq. 7 / Z: the expected share of training data retrained when the subject is drawn uniformly by data
    (a group of size c_i is hit with probability c_i / Z and costs the groups from it to the end)."""
    sizes = np.asarray(sizes, dtype=np.float64)
    total = sizes.sum()
    if total == 0:
        return 0.0
    tails = np.cumsum(sizes[::-1])[::-1]
    return float((tails * sizes).sum() / total**2)


@dataclass(frozen=True)
class GroupStep:
    """One group to (re)train: its training set, seed, excluded requests and the checkpoint it replaces."""

    group: int
    training: Interactions
    seed: int
    excludes: list[str]
    replaces: str | None


def train_group(spec_name: str, config: BaseModel, training: Interactions, seed: int,
                init: Recommender | None) -> Recommender:
    """Train one group, continuing from ``init`` (the model after the previous group) if there is one."""
    spec = base_model(spec_name)
    return spec.train(training.user_idx, training.item_idx, training.n_users, training.n_items, config, seed,
                      init=init)


class Laser(ShardedRetraining):
    """Balanced collaborative groups trained in sequence; forgets by retraining from the hit group on."""

    exact: ClassVar[bool] = True

    def __init__(self, name: str = "laser") -> None:
        super().__init__(name)
        self._ratings: pd.Series | None = None  # set on the copy that fits, see :meth:`fit`

    def with_executor(self, executor: ShardExecutor) -> "Laser":
        """Groups train one after the other, each from the one before: nothing to run in parallel."""
        return self

    def _check_settings(self, settings: MethodSettings) -> None:
        if settings.partition is not None or settings.aggregation is not None or settings.aggregator:
            raise ValueError("laser groups users itself and serves one model; partition, aggregation and "
                             "aggregator settings belong to receraser (use -o grouping=rand|bkm|cbkm)")
        if not base_model(settings.base_model).warm_start:
            able = sorted(name for name, spec in base_models().items() if spec.warm_start)
            raise ValueError(f"laser trains one model group after group and needs a base model that can continue "
                             f"training; {settings.base_model!r} cannot (use one of: {', '.join(able)})")
        laser_options(settings)

    # -- 1. groups ------------------------------------------------------------------------------
    def _assign(
        self, train: Interactions, settings: MethodSettings, progress: ProgressCallback
    ) -> tuple[MethodSettings, np.ndarray, dict[str, Any]]:
        """Embed, group and order the users; the position of each training interaction's group."""
        options = laser_options(settings)
        n_groups = options.groups or settings.shards
        settings = settings.model_copy(update={"shards": n_groups, "options": options.model_dump(mode="json")})
        users = np.unique(train.user_idx)
        if n_groups > len(users):
            raise ValueError(f"cannot split {len(users)} users into {n_groups} groups")
        if self._ratings is None:
            raise RuntimeError("Laser._assign runs inside fit, which loads the ratings first")
        ratings = self._ratings.loc[train.interaction_id].to_numpy(np.float64)
        matrix = rating_matrix(train.user_idx, train.item_idx, ratings, train.n_users, train.n_items)

        stage = "collaborative embedding"
        progress(stage, 0, 1)
        started = time.perf_counter()
        embeddings = collaborative_embedding(matrix, options.walks, settings.seed)
        embedding_seconds = time.perf_counter() - started
        progress(stage, 1, 1)
        started = time.perf_counter()
        labels = group_users(options.grouping, matrix, embeddings, users, n_groups, settings.seed,
                             options.kmeans_iterations)
        rho = cohesion(embeddings[users], labels, n_groups)
        order = np.argsort(-rho if options.order == "easy_to_hard" else rho, kind="stable")
        position = np.empty(n_groups, dtype=np.int64)
        position[order] = np.arange(n_groups)
        group_of_user = np.full(train.n_users, -1, dtype=np.int64)
        group_of_user[users] = position[labels]
        shard_of = group_of_user[train.user_idx]
        sizes = np.bincount(shard_of, minlength=n_groups)
        facts = {
            "grouping": options.grouping,
            "order": options.order,
            "cohesion": [round(float(r), 6) for r in rho[order]],  # by position: training order
            "users": np.bincount(position[labels], minlength=n_groups).tolist(),
            "expected_cost_fraction": round(expected_cost_fraction(sizes), 6),
            "embedding": {"seed": settings.seed, "config": options.walks.model_dump(mode="json"),
                          "vertex_weight": resolve_vertex_weight(matrix, options.walks.vertex_weight),
                          "training_set_digest": training_set_digest(train.interaction_id),
                          "seconds": round(embedding_seconds, 3)},
            "grouping_seconds": round(time.perf_counter() - started, 3),
        }
        log.info("laser groups: %s, ρ by position %s", options.grouping, facts["cohesion"])
        return settings, shard_of, {"groups": facts}

    def fit(self, ledger: Ledger, settings: MethodSettings, progress: ProgressCallback,
            actor: str = "system") -> Deployment:
        """Group, record the deployment with every interaction's group, then SeqTrain (see the module doc).

        The hypergraph weighs co-raters by their ratings, which only the store holds: a copy of this method
        carries the training split's ratings (by interaction id) into :meth:`_assign`.
        """
        frame = ledger.store.interactions(split="train", with_ratings=True)
        method = copy.copy(self)
        method._ratings = frame.set_index("interaction_id")["rating"]
        return ShardedRetraining.fit(method, ledger, settings, progress, actor)

    # -- 2. SeqTrain ----------------------------------------------------------------------------
    def _train_checkpoints(
        self, ledger: Ledger, deployment_id: str, settings: MethodSettings, jobs: list[ShardJob], stage: str,
        progress: ProgressCallback, actor: str, request_id: str | None = None,
    ) -> None:
        """At fit: every group in order, from a fresh model."""
        steps = [GroupStep(job.shard, job.training, job.seed, job.excludes, None)
                 for job in sorted(jobs, key=lambda job: job.shard)]
        self._run_groups(ledger, deployment_id, settings, steps, None, stage, progress, actor, request_id)

    def _run_groups(
        self, ledger: Ledger, deployment_id: str, settings: MethodSettings, steps: list[GroupStep],
        previous: CheckpointRecord | None, stage: str, progress: ProgressCallback, actor: str,
        request_id: str | None,
    ) -> None:
        """Train ``steps`` in order, each from the model before it (``previous``'s, or a fresh one), and record
        a checkpoint after each."""
        config = settings.model_config_object()
        config_json = config.model_dump(mode="json")
        model = None if previous is None else self._model(ledger, settings, previous)
        trained_ids = np.empty(0, dtype=np.int64) if previous is None else self.training_ids(ledger, previous)
        progress(stage, 0, len(steps))
        for done, step in enumerate(steps, 1):
            started = time.perf_counter()
            model = train_group(settings.base_model, config, step.training, step.seed, model)
            trained_ids = np.concatenate([trained_ids, step.training.interaction_id])
            previous = self._record_checkpoint(
                ledger, deployment_id, step.group, f"g{step.group}", model.to_arrays(), trained_ids,
                parent=None if previous is None else previous.checkpoint_id, excludes=step.excludes,
                seed=step.seed, config=config_json, seconds=time.perf_counter() - started, actor=actor,
                request_id=request_id, base_model=settings.base_model, group=step.group,
                group_interactions=len(step.training), replaces=step.replaces,
            )
            progress(stage, done, len(steps))

    def _model(self, ledger: Ledger, settings: MethodSettings, record: CheckpointRecord) -> Recommender:
        arrays = load_arrays(ledger.workspace.artifacts_dir, record.artifact_sha256)
        return base_model(settings.base_model).from_arrays(arrays)

    # -- 3. plan and forget ---------------------------------------------------------------------
    def plan(self, ledger: Ledger, deployment_id: str, interaction_ids: list[int]) -> DeploymentPlan:
        """The group holding the forgotten interactions and every later one, each with the forgotten ids its
        checkpoint trained on; the cost is their share of the training data."""
        deployment = ledger.deployment(deployment_id)
        live = _shards_only(ledger.live_checkpoints(deployment_id))
        n_groups = len(live)
        remaining: dict[int, list[int]] = {}
        for group, ids in ledger.shards_holding(deployment_id, interaction_ids).items():
            already = ledger.erased_interaction_ids(live[group].excludes_requests)
            remaining[group] = [i for i in ids if i not in already]
        hit = sorted(group for group, ids in remaining.items() if ids)
        total = live[n_groups - 1].n_interactions if live else 0
        shards = [
            ShardPlan(shard=group, checkpoint_id=live[group].checkpoint_id,
                      interaction_ids=sorted(i for g in hit if g <= group for i in remaining[g]),
                      shard_size=live[group].facts["group_interactions"])
            for group in (range(hit[0], n_groups) if hit else [])
        ]
        retrained = sum(s.shard_size for s in shards)
        return DeploymentPlan(
            deployment_id=deployment_id, method=deployment.method, exact=self.exact, shards=shards,
            interactions_hit=sum(len(ids) for ids in remaining.values()), training_interactions=total,
            estimated_cost_fraction=retrained / total if total else 0.0,
        )

    def forget(
        self, ledger: Ledger, plan: DeploymentPlan, request_id: str, progress: ProgressCallback, actor: str = "system"
    ) -> Deployment:
        """Restore the checkpoint before the first planned group, retrain it and every later one; groups a
        crashed run already retrained (their checkpoint excludes this request) are not trained again."""
        settings = MethodSettings(**ledger.deployment(plan.deployment_id).settings)
        live = ledger.live_checkpoints(plan.deployment_id)
        groups = [s.shard for s in plan.shards]
        if groups and groups != list(range(groups[0], settings.shards)):
            raise WorkspaceError(f"a LASER plan retrains a group and every later one, got groups {groups}")
        pending = [g for g in groups if request_id not in live[g].excludes_requests]
        if pending:
            if pending != groups[len(groups) - len(pending):]:
                raise WorkspaceError(f"groups {groups} were retrained out of order for {request_id}")
            steps = []
            for group in pending:
                current = live[group]
                excludes = [*current.excludes_requests, request_id]
                ids = checkpoint_training_ids(ledger, plan.deployment_id, group, excludes)
                training = training_set_from_store(ledger, ids, f"group {group} of {plan.deployment_id}")
                steps.append(GroupStep(group, training, current.seed, excludes, current.checkpoint_id))
            restored = live.get(pending[0] - 1)  # None: the first group is hit, start from a fresh model
            log.info("%s: restoring %s, retraining groups %s", plan.deployment_id,
                     restored.checkpoint_id if restored else "a fresh model", pending)
            self._run_groups(ledger, plan.deployment_id, settings, steps, restored,
                             f"retrain {plan.deployment_id}", progress, actor, request_id)
        return self.load(ledger, plan.deployment_id)

    # -- load and lineage -----------------------------------------------------------------------
    def _shard_models(
        self, ledger: Ledger, deployment_id: str, settings: MethodSettings, records: dict[int, CheckpointRecord]
    ) -> list[Recommender]:
        """Only the model after the last group serves; the earlier checkpoints are restore points."""
        groups = _shards_only(records)
        if sorted(groups) != list(range(settings.shards)):
            raise WorkspaceError(f"deployment {deployment_id} is incomplete: {len(groups)}/{settings.shards} groups")
        return [self._model(ledger, settings, groups[settings.shards - 1])]

    def _combine(
        self, ledger: Ledger, settings: MethodSettings, records: dict[int, CheckpointRecord], models: list[Recommender]
    ) -> Recommender:
        return models[0]

    def training_ids(self, ledger: Ledger, checkpoint: CheckpointRecord) -> np.ndarray:
        """Groups 0 … g of the checkpoint after group g, minus every request it excludes."""
        return cumulative_training_ids(ledger, checkpoint.deployment_id, checkpoint.shard,
                                       checkpoint.excludes_requests)


def cumulative_training_ids(ledger: Ledger, deployment_id: str, last: int, excludes: list[str]) -> np.ndarray:
    """Interaction ids the ledger assigns to groups 0 … ``last``, minus those the requests erased (one query,
    where a group at a time would read the assignments ``last`` + 1 times)."""
    assigned = ledger.shard_assignments(deployment_id)
    ids = assigned.loc[assigned["shard"] <= last, "interaction_id"].to_numpy(np.int64)
    erased = ledger.erased_interaction_ids(excludes)
    return ids[~np.isin(ids, np.fromiter(erased, dtype=np.int64))] if erased else ids
