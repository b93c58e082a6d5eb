"""The retrains a verification measures against, trained once and reusable by every request of an audit window.

A reference is the deployment's base model retrained from scratch on the remaining training data, with the
deployment's config and seed: AltEraser's "Retrain", the gold standard of forgetting. A second retrain with
another seed, "Retrain*", measures how far two equally honest retrains already disagree (the seed-noise floor)
so that thresholds are margins over that floor, not absolute numbers. A third retrain on a small seeded fraction of
the remaining data is the *damaged* model, the negative control of the collateral checks (a check it passes could
not see damage). The recommender membership attack is trained here too, since it depends on the same remaining
data only.

Retraining is the expensive part of verification, so a :class:`ReferenceModels` is keyed by
``(deployment, remaining-data digest)``: requests erased in one batch share the same remaining data and can
share one, while a request that changed the data gets a fresh one (a stale reference is never used).
"""

from __future__ import annotations

import hashlib
from concurrent.futures import ThreadPoolExecutor, as_completed
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from pydantic import BaseModel

from policies import VerificationThresholds
from unlearn.artifacts import save_arrays
from unlearn.executor import available_cores, distributed_executor, map_shared
from unlearn.models import FactorModel, NeuralModel, Recommender, one_intra_op_thread
from unlearn.progress import ProgressCallback, no_progress
from unlearn.registry import base_model
from unlearn.training_data import Interactions, training_set_digest
from verify._mia import RecommenderAttack
from verify.names import DAMAGED, REFERENCE, RETRAIN_STAR

ReferenceKey = tuple[str, str]
"""``(deployment_id, training-set digest of the remaining data)``."""


def derive_seed(seed: int, purpose: str) -> int:
    """A 32-bit seed for one random choice of a verification, derived from the report's seed and the choice's name."""
    return int.from_bytes(hashlib.sha256(f"{seed}:{purpose}".encode()).digest()[:4], "little")


_ReferenceJob = tuple[str, int]
"""``(kind, seed)``: ``retrain`` (reference, Retrain*, calibration), ``attack`` (its shadow recommender) or the damaged
control."""


@dataclass(frozen=True)
class _ReferenceData:
    """What every reference job reads: the base model, its config and the remaining data (shared, sent once)."""

    base_model: str
    config: BaseModel
    remaining: Interactions
    damaged_fraction: float


def _train_reference(data: _ReferenceData, job: _ReferenceJob) -> object:
    """One job of :meth:`ReferenceModels.train`, in a thread of this process or as a Ray task: a pure function of
    its arguments, so both give the same model."""
    kind, seed = job
    spec = base_model(data.base_model)

    def fit(rows: Interactions, fit_seed: int) -> Recommender:
        return spec.train(rows.user_idx, rows.item_idx, rows.n_users, rows.n_items, data.config, fit_seed)

    if kind == "attack":
        return RecommenderAttack.train(data.remaining, fit, seed)
    if kind == DAMAGED:
        kept = np.random.default_rng(seed).random(len(data.remaining.user_idx)) < data.damaged_fraction
        return fit(data.remaining.subset(kept), seed)
    return fit(data.remaining, seed)


@dataclass(frozen=True)
class ReferenceModels:
    """Reference retrain, Retrain*, the damaged control and the trained recommender attack for one deployment and
    remaining data."""

    deployment_id: str
    data_digest: str
    base_model: str
    seed: int
    retrain_star_seed: int
    reference: FactorModel | NeuralModel
    retrain_star: FactorModel | NeuralModel
    damaged: Recommender
    attack: RecommenderAttack
    calibration: tuple[Recommender, ...] = ()
    """Seeded retrains beyond the reference and Retrain* for the calibrated attack (policy K - 2)."""

    @property
    def retrains(self) -> tuple[Recommender, ...]:
        """Every retrain on the remaining data: the reference, Retrain* and the calibration retrains."""
        return (self.reference, self.retrain_star, *self.calibration)

    @property
    def key(self) -> ReferenceKey:
        return (self.deployment_id, self.data_digest)

    @classmethod
    def train(
        cls,
        deployment_id: str,
        base_model_name: str,
        config: BaseModel,
        seed: int,
        remaining: Interactions,
        progress: ProgressCallback = no_progress,
        damaged_fraction: float = VerificationThresholds.model_fields["damaged_fraction"].default,
        calibration_retrains: int = VerificationThresholds.model_fields["calibration_retrains"].default,
    ) -> "ReferenceModels":
        """Train the reference (``seed``), Retrain* (a derived seed), the damaged control (``damaged_fraction`` of
        the rows, a derived seed), ``calibration_retrains - 2`` more retrains and the attack's shadow recommender."""
        stage = "train references"
        retrain_star_seed = derive_seed(seed, "retrain*")
        jobs: dict[str, _ReferenceJob] = {
            REFERENCE: ("retrain", seed),
            RETRAIN_STAR: ("retrain", retrain_star_seed),
            "attack": ("attack", derive_seed(seed, "shadow")),
            DAMAGED: (DAMAGED, derive_seed(seed, DAMAGED)),
            **{f"calibration {i}": ("retrain", derive_seed(seed, f"calibration {i}"))
               for i in range(calibration_retrains - 2)},
        }
        data = _ReferenceData(base_model_name, config, remaining, damaged_fraction)
        progress(stage, 0, len(jobs))
        distributed = distributed_executor()
        if distributed is not None:  # LETHE_EXECUTOR=ray: one task each, the remaining data in the store once
            results = []
            for done, model in enumerate(map_shared(distributed, _train_reference, data, list(jobs.values())), 1):
                results.append(model)
                progress(stage, done, len(jobs))
        else:
            # Independent, each seeded by its own generator: trained side by side on the cores this process may use,
            # one torch thread each (measured on ML-100K BPR, 2 cores: 11.2 s → 7.7 s, same models).
            workers = min(len(jobs), available_cores())
            with one_intra_op_thread() if workers > 1 else nullcontext(), ThreadPoolExecutor(workers) as pool:
                futures = [pool.submit(_train_reference, data, job) for job in jobs.values()]
                for done, future in enumerate(as_completed(futures), 1):
                    future.result()  # the first error stops the wait
                    progress(stage, done, len(jobs))
            results = [future.result() for future in futures]
        reference, retrain_star, attack, damaged, *calibration = results
        for name, model in ((REFERENCE, reference), (RETRAIN_STAR, retrain_star)):
            if not isinstance(model, (FactorModel, NeuralModel)):  # NeuralModel: LASER's DMF/NeuMF
                raise TypeError(f"base model {base_model_name!r} gave a {type(model).__name__} {name}: "
                                "references must be factor or neural models so their checkpoints can be saved and digested")
        return cls(deployment_id, training_set_digest(remaining.interaction_id), base_model_name, seed,
                   retrain_star_seed, reference, retrain_star, damaged, attack, tuple(calibration))

    def save(self, directory: Path) -> dict[str, str]:
        """Write both retrains as content-addressed checkpoints; returns ``{"reference": sha256, "retrain*": ...}``.

        They hold no erased data, and saving them lets an auditor check the report's subject digests against files.
        """
        return {name: save_arrays(model.to_arrays(), directory)[1]
                for name, model in ((REFERENCE, self.reference), (RETRAIN_STAR, self.retrain_star))}
