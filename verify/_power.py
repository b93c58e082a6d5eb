"""The verifier's power: on real data, does it fail an unlearner that forgets nothing and pass honest ones?

A study erases a set of whole users from a training set and runs the verifier's own measurements
(:func:`verify._evidence.measure` and :func:`~verify._evidence.judge`) on candidate unlearners, trained directly
from arrays without a ledger so that it stays fast enough for a test:

- ``no-op``: claims to forget but serves the original model unchanged (must fail);
- ``retrain (other seed)``: a full retrain on the remaining data with a seed neither reference uses (must pass);
- ``sisa``: a user-sharded ensemble whose shards holding a forgotten user were retrained (must pass);
- ``receraser``: UBP shards trained on their own items under an attention aggregator; the hit shards and the
  aggregator retrained (must pass).

Every candidate is judged against the same references, so the separation table reads across one row.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from pydantic import BaseModel

from policies import VerificationThresholds
from unlearn.methods import AggregatorConfig, assign_users_to_shards
from unlearn.methods import PRETRAIN_CONFIG, PRETRAIN_MODEL, ShardTask, build_aggregate, train_aggregator, train_shard
from unlearn.models import FactorModel, Recommender, ShardMeanEnsemble
from unlearn.registry import base_model
from unlearn.partition import partition_interactions
from unlearn.training_data import Interactions
from verify._evidence import ErasureCase, Evidence, judge, measure
from verify._report import evidence_passes
from verify._reference import ReferenceModels, derive_seed
from verify._report import MetricCheck
from verify.names import (
    CKA_ITEMS,
    DISTINCT_PREFIX,
    FORGETTING_USERS,
    LATENT_DISTANCE,
    LATENT_ITEMS,
    LATENT_USERS,
    MIA_PREFIX,
    RBO_PREFIX,
    RECSYS_ATTACK,
    REFERENCE,
    REPREDICT,
    RETRAIN_STAR,
    SCORE_ATTACK,
    UNLEARNED,
    distinct_key,
    mia_key,
    rbo_key,
    recall_key,
)

CANDIDATES = ("no-op", "retrain (other seed)", "sisa", "receraser")
FAMILIES = ("RBO", REPREDICT, "MIA", LATENT_DISTANCE)
"""The metric families the issue asks a no-op to fail at least three of."""


def family(check: str) -> str | None:
    """Which of :data:`FAMILIES` a check belongs to (``None`` for lineage, collateral and utility checks)."""
    if check.startswith((RBO_PREFIX, DISTINCT_PREFIX)) and check.endswith(FORGETTING_USERS):
        return "RBO"
    if check == REPREDICT:
        return check
    if check.startswith(MIA_PREFIX):
        return "MIA"
    if check in (LATENT_DISTANCE, LATENT_USERS, LATENT_ITEMS, CKA_ITEMS):
        return LATENT_DISTANCE
    return None


@dataclass(frozen=True)
class PowerStudy:
    """Evidence and verdicts per candidate, all against one pair of references."""

    references: ReferenceModels
    evidence: dict[str, Evidence]
    checks: dict[str, list[MetricCheck]]

    def failed_families(self, candidate: str) -> set[str]:
        return {f for c in self.checks[candidate] if c.verdict == "fail" and (f := family(c.name)) is not None}

    def passed(self, candidate: str) -> bool:
        """Certifiable on statistics alone (the study has no ledger, so no lineage proof counts)."""
        return evidence_passes(self.checks[candidate], exact=False)


def run_power_study(
    train: Interactions,
    test: Interactions,
    forget_users: np.ndarray,
    base_model_name: str,
    config: BaseModel,
    rules: VerificationThresholds,
    seed: int = 0,
    shards: int = 5,
) -> PowerStudy:
    """Erase ``forget_users`` (all their training and test pairs) and judge every candidate of :data:`CANDIDATES`."""
    spec = base_model(base_model_name)

    def fit(data: Interactions, fit_seed: int) -> Recommender:
        return spec.train(data.user_idx, data.item_idx, data.n_users, data.n_items, config, fit_seed)

    forgotten, held_out = np.isin(train.user_idx, forget_users), np.isin(test.user_idx, forget_users)
    remaining = train.subset(~forgotten)
    case = ErasureCase(
        (train.user_idx[forgotten], train.item_idx[forgotten]),
        (test.user_idx[held_out], test.item_idx[held_out]),
        remaining,
        test.subset(~held_out),
    )
    shard_of_user = assign_users_to_shards(train.n_users, shards, seed)
    hit = set(shard_of_user[forget_users].tolist())

    def shard_models(data: Interactions, which: range | set[int]) -> dict[int, Recommender]:
        return {s: fit(data.subset(shard_of_user[data.user_idx] == s), seed + s) for s in which}

    sisa_before = shard_models(train, range(shards))
    sisa_after = {**sisa_before, **shard_models(remaining, hit)}
    receraser_before, receraser_after = _receraser_pair(train, forgotten, base_model_name, config, seed, shards)
    original = fit(train, seed)
    references = ReferenceModels.train("power-study", base_model_name, config, seed, remaining)
    pairs = {
        "no-op": (original, original),
        "retrain (other seed)": (original, fit(remaining, derive_seed(seed, "honest retrain"))),
        "sisa": (ShardMeanEnsemble([sisa_before[s] for s in range(shards)]),
                 ShardMeanEnsemble([sisa_after[s] for s in range(shards)])),
        "receraser": (receraser_before, receraser_after),
    }
    evidence = {name: measure(before, after, references, case, rules, seed) for name, (before, after) in pairs.items()}
    return PowerStudy(references, evidence, {name: judge(e, rules) for name, e in evidence.items()})


def _receraser_pair(
    train: Interactions, forgotten: np.ndarray, base_model_name: str, config: BaseModel, seed: int, shards: int
) -> tuple[Recommender, Recommender]:
    """RecEraser (UBP, local shard models, attention) before and after retraining the shards ``forgotten`` hits."""
    pretrain = base_model(PRETRAIN_MODEL)
    embedder = pretrain.train(train.user_idx, train.item_idx, train.n_users, train.n_items,
                              pretrain.config_class(**PRETRAIN_CONFIG), seed)
    shard_of = partition_interactions("ubp", train.user_idx, train.item_idx, train.n_users, train.n_items, shards,
                                      seed, (embedder.user_embeddings(), embedder.item_embeddings()))

    def shard_model(shard: int, keep: np.ndarray) -> Recommender:
        rows = keep & (shard_of == shard)
        task = ShardTask(base_model_name, config.model_dump(mode="json"), seed + shard, train.user_idx[rows],
                         train.item_idx[rows], train.n_users, train.n_items, local=True)
        return FactorModel.from_arrays(train_shard(task)[0])

    def aggregate(models: list[Recommender], keep: np.ndarray) -> Recommender:
        aggregator = AggregatorConfig()
        arrays = train_aggregator("attention", models, train.user_idx[keep], train.item_idx[keep], aggregator,
                                  seed + shards)
        return build_aggregate("attention", models, arrays, aggregator)

    everything = np.ones(len(train.user_idx), dtype=bool)
    before = [shard_model(s, everything) for s in range(shards)]
    hit = set(np.unique(shard_of[forgotten]).tolist())
    after = [shard_model(s, ~forgotten) if s in hit else before[s] for s in range(shards)]
    return aggregate(before, everything), aggregate(after, ~forgotten)


SEPARATION_METRICS = (
    REPREDICT, *(rbo_key(k, FORGETTING_USERS) for k in (10, 20, 50)), distinct_key(20),
    mia_key(SCORE_ATTACK), mia_key(RECSYS_ATTACK), LATENT_USERS, LATENT_ITEMS, CKA_ITEMS, recall_key(20),
)


def separation_rows(study: PowerStudy) -> list[dict[str, float | str]]:
    """Per metric: the unlearned model's value for each candidate, with the original, Retrain* and reference.

    ``original`` is the single model before erasure (what the no-op serves); Retrain*'s value is its comparison with
    the reference (the seed-noise floor); a reference compared with itself is left out where that is trivial.
    """
    noop = study.evidence["no-op"].metrics
    rows = []
    for metric in SEPARATION_METRICS:
        row: dict[str, float | str] = {"metric": metric}
        row.update({name: study.evidence[name].metrics[UNLEARNED].get(metric, float("nan")) for name in CANDIDATES})
        for model in (RETRAIN_STAR, REFERENCE):
            row[model] = noop[model].get(metric, float("nan"))
        rows.append(row)
    return rows
