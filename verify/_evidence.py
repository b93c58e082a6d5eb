"""The statistical evidence of one erasure, measured and judged without the ledger.

:func:`measure` compares four models on one :class:`ErasureCase`: the *original* (before erasure), the
*unlearned* (after), the *reference* retrain and *Retrain** (its seed-noise twin). :func:`judge` turns the
numbers into checks with the policy's thresholds. Every threshold is a margin over what honest retrains
already do (the reference and Retrain*), so the checks mean the same on a small synthetic set and on ML-1M:

- re-predict score on the forgotten pairs: at most the retrains' plus a margin;
- RBO@k with the reference, forgetting users: at least Retrain*'s minus a margin (the seed-noise floor),
  widened to ``z`` standard errors of seed noise when few distinct lists are compared (:class:`Evidence`);
  other users: at least the lower of the original's and Retrain*'s minus a margin (no collateral damage);
- membership inference, both attacks: AUC within a band around 0.5 and the reference's AUC, widened for small
  samples (:func:`verify._mia.auc_tolerance`); above it the model remembers, below it over-unlearned;
- latent distance after Procrustes alignment: forgetting users no further than Retrain*'s plus a margin;
  affected items no further than the farther of the original and Retrain*; items' CKA not below the lower;
- utility: Recall@20 of other users not below the lower of the original's and the reference's minus a margin.

Only aggregates leave this module: means, AUCs, histograms and ROCs on fixed grids, never a per-item score.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from policies import VerificationThresholds
from unlearn.models import Recommender
from unlearn.training_data import Interactions
from verify._latent import compare_latent
from verify._metrics import ranking_metrics, repredict_score, topk_rbo
from verify._mia import FPR_GRID, AttackROC, attack_roc, auc_tolerance, score_attack
from verify._reference import ReferenceModels, derive_seed
from verify._report import Histogram, MetricCheck, ReportFigures, RocCurves

RBO_BINS = np.linspace(0.0, 1.0, 21)
Pairs = tuple[np.ndarray, np.ndarray]


@dataclass(frozen=True)
class ErasureCase:
    """What was forgotten and what remains, as the verifier sees it after the raw rows left the store.

    ``forgotten`` are the erased training pairs ``(users, items)``; ``held_out`` the same users' erased test
    pairs (never trained on by any model: the non-members of the score attack); ``remaining`` and ``test`` the
    training and test data left.
    """

    forgotten: Pairs
    held_out: Pairs
    remaining: Interactions
    test: Interactions

    def __post_init__(self) -> None:
        if len(self.forgotten[0]) == 0:
            raise ValueError("nothing was forgotten: there is no erasure to verify")

    @property
    def forgetting_users(self) -> np.ndarray:
        return np.unique(self.forgotten[0])

    def matrix(self, pairs: Pairs) -> sp.csr_matrix:
        """Binary user × item matrix of ``pairs`` in the remaining data's index space."""
        shape = (self.remaining.n_users, self.remaining.n_items)
        return sp.csr_matrix((np.ones(len(pairs[0]), dtype=np.float32), pairs), shape=shape)


@dataclass(frozen=True)
class Evidence:
    """Measured values per model (``metrics[model][name]``), the report's figures and the sample sizes.

    ``rbo_noise[k]`` is the standard error of the forgetting users' mean RBO@k under seed noise: the spread of
    per-user RBO between the two retrains (on other users) over the square root of the number of *distinct*
    reference lists among the forgetting users. Users a retrain knows nothing of all get its one cold-start
    list, so erasing forty whole users is one comparison, not forty.
    """

    metrics: dict[str, dict[str, float]]
    figures: ReportFigures
    forgotten_pairs: int
    held_out_pairs: int
    forgetting_users: int
    other_users: int
    rbo_noise: dict[int, float]
    latent_not_applicable: str | None = None


def _roc_metrics(prefix: str, roc: AttackROC) -> dict[str, float]:
    return {f"{prefix} auc": roc.auc, f"{prefix} tpr@1%fpr": roc.tpr_at_1pct_fpr,
            f"{prefix} tpr@0.1%fpr": roc.tpr_at_01pct_fpr}


def measure(
    original: Recommender,
    unlearned: Recommender,
    references: ReferenceModels,
    case: ErasureCase,
    rules: VerificationThresholds,
    seed: int,
    latent_not_applicable: str | None = None,
) -> Evidence:
    """Measure every metric of every model; the sample of other users is drawn from ``seed``.

    ``latent_not_applicable`` is the unlearning method's reason why its models' embeddings cannot be aligned
    with a retrain's (e.g. CFF's fused features); the latent distances are then neither measured nor judged.
    """
    models = {"original": original, "unlearned": unlearned, "reference": references.reference,
              "retrain*": references.retrain_star}
    compared = ("original", "unlearned", "retrain*")  # each against the reference
    metrics: dict[str, dict[str, float]] = {name: {} for name in models}
    forgetting = case.forgetting_users
    candidates = np.setdiff1d(np.unique(case.test.user_idx), forgetting)
    rng = np.random.default_rng(derive_seed(seed, "other users"))
    others = np.sort(rng.choice(candidates, size=min(rules.sample_other_users, len(candidates)), replace=False))
    if others.size == 0:
        raise ValueError("no other user has test data: collateral effects cannot be measured")

    # 1. re-predict score of the forgotten pairs
    for name, model in models.items():
        metrics[name]["re-predict"] = repredict_score(model, *case.forgotten)

    # 2. RBO@k with the reference's top-k, forgetting users and other users (remaining training items excluded)
    exclude = case.remaining.csr()
    depth = max(rules.rbo_depths)
    histograms: dict[str, dict[str, list[int]]] = {"forgetting users": {}, "other users": {}}
    spread: dict[int, float] = {}
    distinct: dict[int, int] = {}
    for group, users in (("forgetting users", forgetting), ("other users", others)):
        top = {name: model.recommend(users, depth, exclude=exclude) for name, model in models.items()}
        if group == "forgetting users":
            for name in models:
                metrics[name].update({f"distinct top-{k} forgetting users": float(len(np.unique(top[name][:, :k], axis=0)))
                                      for k in rules.rbo_depths})
            distinct = {k: int(metrics["reference"][f"distinct top-{k} forgetting users"]) for k in rules.rbo_depths}
        for name in compared:
            for k in rules.rbo_depths:
                values = topk_rbo(top[name][:, :k], top["reference"][:, :k], p=rules.rbo_persistence)
                metrics[name][f"rbo@{k} {group}"] = float(values.mean())
                if group == "other users" and name == "retrain*":
                    spread[k] = float(values.std())
                if k == depth:
                    histograms[group][name] = np.histogram(values, bins=RBO_BINS)[0].tolist()

    # 3. membership inference: (a) score attack on held-out pairs, (b) the recommender attack vs Retrain*'s view
    rocs: dict[str, dict[str, AttackROC]] = {}
    if case.held_out[0].size:
        rocs["score"] = {name: score_attack(model, case.forgotten, case.held_out) for name, model in models.items()}
    history = case.matrix(case.forgotten)
    probability = {name: references.attack.member_probability(model, forgetting, history)
                   for name, model in models.items()}
    rocs["recsys"] = {name: attack_roc(probability[name], probability["retrain*"])
                      for name in ("original", "unlearned", "reference")}
    for attack, by_model in rocs.items():
        for name, roc in by_model.items():
            metrics[name].update(_roc_metrics(f"mia {attack}", roc))

    # 4. latent distance after Procrustes alignment to the reference
    shared_users = np.unique(case.remaining.user_idx)
    affected_items = np.unique(case.forgotten[1])
    for name in compared if latent_not_applicable is None else ():
        latent = compare_latent(models[name], references.reference, shared_users, forgetting, affected_items)
        if latent is not None:
            metrics[name].update({"latent users": latent.users, "latent items": latent.items,
                                  "cka items": latent.items_cka})

    # 5. utility: other users on their test items; forgetting users on their held-out items
    forgotten_matrix, held_out_matrix = history, case.matrix(case.held_out)
    train_matrix, test_matrix = exclude, case.test.csr()
    for name, model in models.items():
        metrics[name].update(ranking_metrics(model, train_matrix, test_matrix, (10, 20), users=others))
        if case.held_out[0].size:
            utility = ranking_metrics(model, forgotten_matrix, held_out_matrix, (20,), users=forgetting)
            metrics[name].update({f"{key} forgetting users": value for key, value in utility.items()})

    figures = ReportFigures(
        rbo_depth=depth,
        rbo={group: Histogram(edges=RBO_BINS.tolist(), counts=counts) for group, counts in histograms.items()},
        mia={attack: RocCurves(fpr=FPR_GRID.tolist(), tpr={name: roc.tpr_grid.tolist() for name, roc in by_model.items()})
             for attack, by_model in rocs.items()},
    )
    noise = {k: spread[k] / np.sqrt(distinct[k]) for k in rules.rbo_depths}
    return Evidence(metrics, figures, len(case.forgotten[0]), len(case.held_out[0]), len(forgetting), len(others),
                    noise, latent_not_applicable)


def _check(name: str, value: float | None, threshold: float | None, comparison: str, detail: str) -> MetricCheck:
    """A check that fails closed: a value that could not be measured never passes."""
    if value is None or threshold is None:
        return MetricCheck(name=name, value=None, threshold=threshold, comparison=comparison, passed=False,
                           detail=f"not measured: {detail}")
    value, threshold = float(value), float(threshold)
    passed = value <= threshold if comparison == "≤" else value >= threshold
    return MetricCheck(name=name, value=value, threshold=threshold, comparison=comparison, passed=passed, detail=detail)


def _values(metrics: dict[str, dict[str, float]], key: str) -> str:
    return ", ".join(f"{name} {values[key]:.4f}" for name, values in metrics.items() if key in values)


def _nothing_personal_left(metrics: dict[str, dict[str, float]], k: int, forgetting_users: int) -> bool:
    """Whole users erased, and the reference gives them all one list: then the unlearned model must do the same.

    A reference that never saw the forgetting users ranks for them by what it knows of items alone (e.g. BPR's item
    bias). An unlearned model of another architecture (a RecEraser aggregate, a shard ensemble) has its own such
    ranking, so RBO against the reference's would measure the architectures, not forgetting. What forgetting a
    whole user means is observable instead: no list of the unlearned model tells two forgotten users apart.
    """
    key = f"distinct top-{k} forgetting users"
    return forgetting_users > 1 and metrics["reference"].get(key) == 1 and metrics["retrain*"].get(key) == 1


def judge(evidence: Evidence, rules: VerificationThresholds) -> list[MetricCheck]:
    """The policy's verdict on each metric, with the numbers it rests on in each check's detail."""
    m = evidence.metrics
    unl, orig, ref, star = (m[name] for name in ("unlearned", "original", "reference", "retrain*"))
    checks = [_check(
        "re-predict", unl["re-predict"], max(ref["re-predict"], star["re-predict"]) + rules.max_repredict_excess, "≤",
        f"mean σ(score) of the {evidence.forgotten_pairs} forgotten training pairs: {_values(m, 're-predict')}",
    )]
    for k in rules.rbo_depths:
        forgetting_key, others_key = f"rbo@{k} forgetting users", f"rbo@{k} other users"
        tolerance = max(rules.rbo_margin, rules.small_sample_z * evidence.rbo_noise[k])
        rbo_checks = [(others_key, min(orig[others_key], star[others_key]) - rules.rbo_margin, evidence.other_users)]
        if _nothing_personal_left(m, k, evidence.forgetting_users):
            checks.append(_check(
                f"distinct top-{k} forgetting users", unl[f"distinct top-{k} forgetting users"], 1, "≤",
                f"the reference knows nothing of the {evidence.forgetting_users} forgetting users (they all get its one "
                f"cold-start top-{k}); the unlearned model must not tell them apart either. Distinct lists: "
                f"{_values(m, f'distinct top-{k} forgetting users')}. RBO with the reference's list compares two "
                f"cold-start rankings here, not memory of the users: {_values(m, forgetting_key)}",
            ))
        else:
            rbo_checks.insert(0, (forgetting_key, star[forgetting_key] - tolerance, evidence.forgetting_users))
        for key, threshold, users in rbo_checks:
            checks.append(_check(
                key, unl[key], threshold, "≥",
                f"extrapolated RBO (p={rules.rbo_persistence}) of the top-{k} with the reference's, mean over "
                f"{users} users: {_values(m, key)}" + (f"; tolerance {tolerance:.3f}" if key == forgetting_key else ""),
            ))

    attacks = (
        ("score", evidence.forgotten_pairs, evidence.held_out_pairs, (ref, star),
         "forgotten training pairs vs the same users' held-out pairs"),
        ("recsys", evidence.forgetting_users, evidence.forgetting_users, (ref,),
         "forgetting users as the model shows them vs as Retrain* shows them (Zhang et al. CCS'21)"),
    )
    for attack, positives, negatives, calibration, what in attacks:
        key = f"mia {attack} auc"
        if negatives == 0:
            checks.append(_check(f"mia {attack} attack", None, None, "≤", "the forgotten users have no held-out pairs"))
            continue
        tolerance = auc_tolerance(positives, negatives, rules.mia_auc_margin, rules.small_sample_z)
        anchors = [0.5, *(c[key] for c in calibration)]
        detail = (f"ROC AUC, {what} ({positives} vs {negatives}); tolerance {tolerance:.3f} around 0.5 and the "
                  f"retrains' AUC: {_values(m, key)}")
        checks.append(_check(f"mia {attack} attack", unl[key], max(anchors) + tolerance, "≤", detail))
        checks.append(_check(f"mia {attack} over-unlearning", unl[key], min(anchors) - tolerance, "≥", detail))

    if evidence.latent_not_applicable is not None:
        checks.append(MetricCheck(name="latent distance", value=None, threshold=None, comparison="not applicable",
                                  passed=True, detail=f"not applicable: {evidence.latent_not_applicable}"))
    elif all("latent users" in m[name] for name in ("original", "unlearned", "retrain*")):
        bounds = {
            "latent users": (star["latent users"] + rules.max_latent_excess, "≤", "forgetting users"),
            "latent items": (max(orig["latent items"], star["latent items"]) + rules.max_latent_excess, "≤",
                             "items of the forgotten pairs"),
            "cka items": (min(orig["cka items"], star["cka items"]) - rules.max_cka_drop, "≥",
                          "items of the forgotten pairs"),
        }
        for key, (threshold, comparison, rows) in bounds.items():
            checks.append(_check(key, unl[key], threshold, comparison,
                                 f"after orthogonal Procrustes alignment to the reference, {rows}: {_values(m, key)}"))
    else:
        checks.append(_check("latent distance", None, None, "≤", "a model exposes no embeddings"))

    checks.append(_check(
        "recall@20 other users", unl["recall@20"], min(orig["recall@20"], ref["recall@20"]) - rules.max_recall_drop,
        "≥", f"Recall@20 of {evidence.other_users} other users on their test items: {_values(m, 'recall@20')}",
    ))
    return checks
