"""Exact unlearning by retraining: full retrain (one shard) and SISA (users split into random shards).

Both record every interaction's shard in the ledger at ``fit``; a request's plan is a ledger query
(which shards trained on the forgotten interactions) and ``forget`` retrains exactly those shards, each with
the seed of the checkpoint it replaces, on that shard's training set minus every interaction erased so far.
"""

from __future__ import annotations

import time
import uuid
from typing import Any, ClassVar

import numpy as np
import pandas as pd

from ledger import CHECKPOINT_CREATED, DEPLOYMENT_CREATED, DEPLOYMENT_SERVING, Ledger, WorkspaceError
from unlearn._artifacts import load_arrays, save_arrays
from unlearn.methods._protocol import Deployment, DeploymentPlan, MethodSettings, ShardPlan
from unlearn.models import base_model
from unlearn.models._ensemble import ShardMeanEnsemble
from unlearn.progress import ProgressCallback
from unlearn.training_data import Interactions, training_set_digest


def assign_users_to_shards(n_users: int, n_shards: int, seed: int) -> np.ndarray:
    """Random balanced partition of users: shard sizes differ by at most one user."""
    shard_of_user = np.empty(n_users, dtype=np.int32)
    shard_of_user[np.random.default_rng(seed).permutation(n_users)] = np.arange(n_users) % n_shards
    return shard_of_user


class ShardedRetraining:
    """Train one base model per shard; forget by retraining the shards the ledger says are hit."""

    exact: ClassVar[bool] = True

    def __init__(self, name: str, fixed_shards: int | None = None) -> None:
        self.name = name
        self.fixed_shards = fixed_shards

    # -- fit ------------------------------------------------------------------------------------
    def fit(self, ledger: Ledger, settings: MethodSettings, progress: ProgressCallback, actor: str = "system") -> Deployment:
        """1. assign users to shards, 2. record the deployment with its assignments, 3. train every shard."""
        if self.fixed_shards is not None and settings.shards != self.fixed_shards:
            raise ValueError(f"method {self.name!r} uses exactly {self.fixed_shards} shard(s), got {settings.shards}")
        dataset = ledger.require_dataset()
        train = Interactions.from_store(ledger, "train")
        if len(train) == 0:
            raise WorkspaceError("the training split is empty: nothing to train on")
        shard_of_user = assign_users_to_shards(train.n_users, settings.shards, settings.seed)
        deployment_id = f"{self.name}-{uuid.uuid4().hex[:8]}"
        assignments = pd.DataFrame(
            {
                "deployment_id": deployment_id,
                "interaction_id": train.interaction_id,
                "shard": shard_of_user[train.user_idx],
            }
        )
        ledger.append(
            DEPLOYMENT_CREATED,
            {
                "deployment_id": deployment_id,
                "method": self.name,
                "exact": self.exact,
                "settings": settings.model_dump(mode="json"),
                "data_digest": dataset["digest"],
                "shard_sizes": np.bincount(assignments["shard"], minlength=settings.shards).tolist(),
            },
            actor=actor,
            bulk={"shard_assignments": assignments},
        )
        for shard in range(settings.shards):
            progress(f"train {deployment_id}", shard, settings.shards)
            mask = assignments["shard"].to_numpy() == shard
            self._train_checkpoint(
                ledger, deployment_id, settings, shard, train.subset(mask), parent=None, excludes=[],
                seed=settings.seed + shard, actor=actor,
            )
        progress(f"train {deployment_id}", settings.shards, settings.shards)
        return self.load(ledger, deployment_id)

    # -- plan -----------------------------------------------------------------------------------
    def plan(self, ledger: Ledger, deployment_id: str, interaction_ids: list[int]) -> DeploymentPlan:
        """Which live checkpoints trained on these interactions, read from the ledger's assignments."""
        deployment = ledger.deployment(deployment_id)
        live = ledger.live_checkpoints(deployment_id)
        hit = ledger.shards_holding(deployment_id, interaction_ids)
        shards = []
        for shard, ids in sorted(hit.items()):
            record = live[shard]
            already = ledger.erased_interaction_ids(record["excludes_requests"])
            remaining = [i for i in ids if i not in already]
            if remaining:
                shards.append(ShardPlan(shard=shard, checkpoint_id=record["checkpoint_id"],
                                        interaction_ids=remaining, shard_size=record["n_interactions"]))
        total = sum(r["n_interactions"] for r in live.values())
        retrained = sum(s.shard_size for s in shards)
        return DeploymentPlan(
            deployment_id=deployment_id,
            method=deployment["method"],
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
        """Retrain each hit shard once, without everything erased so far; resumable shard by shard."""
        settings = MethodSettings(**ledger.deployment(plan.deployment_id)["settings"])
        live = ledger.live_checkpoints(plan.deployment_id)
        stage = f"retrain {plan.deployment_id}"
        for done, shard_plan in enumerate(plan.shards):
            progress(stage, done, len(plan.shards))
            current = live[shard_plan.shard]
            if request_id in current["excludes_requests"]:
                continue  # finished before a crash: this shard already forgot the request
            excludes = [*current["excludes_requests"], request_id]
            training = self._checkpoint_training_set(ledger, plan.deployment_id, shard_plan.shard, excludes)
            self._train_checkpoint(
                ledger, plan.deployment_id, settings, shard_plan.shard, training,
                parent=current["checkpoint_id"], excludes=excludes, seed=current["seed"], actor=actor,
                request_id=request_id,
            )
        progress(stage, len(plan.shards), len(plan.shards))
        return self.load(ledger, plan.deployment_id)

    # -- load -----------------------------------------------------------------------------------
    def load(self, ledger: Ledger, deployment_id: str, checkpoint_ids: dict[int, str] | None = None) -> Deployment:
        """Rebuild a deployment's model from its live checkpoints, or from the given ``{shard: checkpoint_id}``
        (e.g. the ones a request replaced, while their artifacts still exist). Artifact hashes are checked."""
        settings = MethodSettings(**ledger.deployment(deployment_id)["settings"])
        records = ledger.live_checkpoints(deployment_id)
        if checkpoint_ids is not None:
            by_id = {c["checkpoint_id"]: c for c in ledger.checkpoints(deployment_id)}
            records = {int(shard): by_id[cid] for shard, cid in checkpoint_ids.items()}
        if len(records) != settings.shards:
            raise WorkspaceError(f"deployment {deployment_id} is incomplete: {len(records)}/{settings.shards} shards")
        spec = base_model(settings.base_model)
        models = [spec.from_arrays(load_arrays(ledger.workspace.artifacts_dir, records[s]["artifact_sha256"]))
                  for s in range(settings.shards)]
        return Deployment(deployment_id, settings, records, ShardMeanEnsemble(models))

    def training_ids(self, ledger: Ledger, checkpoint: dict[str, Any]) -> np.ndarray:
        return checkpoint_training_ids(
            ledger, checkpoint["deployment_id"], checkpoint["shard"], checkpoint["excludes_requests"]
        )

    # -- helpers --------------------------------------------------------------------------------
    def _checkpoint_training_set(self, ledger: Ledger, deployment_id: str, shard: int, excludes: list[str]) -> Interactions:
        ids = checkpoint_training_ids(ledger, deployment_id, shard, excludes)
        train = Interactions.from_store(ledger, "train")
        missing = len(ids) - int(np.isin(ids, train.interaction_id).sum())
        if missing:
            raise WorkspaceError(
                f"shard {shard} of {deployment_id}: {missing} training interactions are gone from the store "
                "but not covered by an erasure this checkpoint excludes"
            )
        return train.subset(np.isin(train.interaction_id, ids))

    def _train_checkpoint(
        self,
        ledger: Ledger,
        deployment_id: str,
        settings: MethodSettings,
        shard: int,
        training: Interactions,
        parent: str | None,
        excludes: list[str],
        seed: int,
        actor: str,
        request_id: str | None = None,
    ) -> dict[str, Any]:
        spec = base_model(settings.base_model)
        started = time.perf_counter()
        model = spec.train(training.user_idx, training.item_idx, training.n_users, training.n_items,
                           settings.model_config_object(), seed)
        seconds = time.perf_counter() - started
        _, sha = save_arrays(model.to_arrays(), ledger.workspace.artifacts_dir)
        version = sum(1 for c in ledger.checkpoints(deployment_id) if c["shard"] == shard) + 1
        record = {
            "checkpoint_id": f"{deployment_id}/s{shard}/v{version}",
            "deployment_id": deployment_id,
            "method": self.name,
            "base_model": settings.base_model,
            "shard": shard,
            "parent": parent,
            "artifact_sha256": sha,
            "training_set_digest": training_set_digest(training.interaction_id),
            "n_interactions": len(training),
            "seed": seed,
            "config": settings.model_config_object().model_dump(mode="json"),
            "excludes_requests": excludes,
            "request_id": request_id,
            "train_seconds": round(seconds, 3),
        }
        ledger.append(CHECKPOINT_CREATED, record, actor=actor)
        return record


def checkpoint_training_ids(ledger: Ledger, deployment_id: str, shard: int, excludes: list[str]) -> np.ndarray:
    """A checkpoint's training set, derived from the ledger alone: the shard's assigned interactions minus
    those of every request the checkpoint excludes. Its digest must equal the recorded one."""
    assigned = ledger.shard_assignments(deployment_id)
    ids = assigned.loc[assigned["shard"] == shard, "interaction_id"].to_numpy(np.int64)
    erased = ledger.erased_interaction_ids(excludes)
    return ids[~np.isin(ids, np.fromiter(erased, dtype=np.int64))] if erased else ids


def set_serving(ledger: Ledger, deployment_id: str, actor: str = "system") -> None:
    """Make a deployment the one that serves (and that ``lethe evaluate`` measures)."""
    ledger.deployment(deployment_id)
    ledger.append(DEPLOYMENT_SERVING, {"deployment_id": deployment_id}, actor=actor)
