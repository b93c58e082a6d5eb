"""The statistical evidence of one erasure, measured and judged without the ledger.

:func:`measure` compares five models on one :class:`ErasureCase`: the *original* (before erasure), the
*unlearned* (after), the *reference* retrain, *Retrain** (its seed-noise twin) and the *damaged* control (a retrain
on a small fraction of the data). :func:`judge` turns the numbers into checks with the policy's thresholds. Every
threshold is a margin over what honest retrains already do (the reference and Retrain*), so the checks mean the
same on a small synthetic set and on ML-1M:

- re-predict score on the forgotten pairs: at most the retrains' plus a margin;
- RBO@k with the reference, forgetting users: at least Retrain*'s minus a margin (the seed-noise floor),
  widened to ``z`` standard errors of seed noise when few distinct lists are compared (:class:`Evidence`);
  other users: at least the lower of the original's and Retrain*'s minus a margin (no collateral damage);
- membership inference, both attacks: AUC within a band around 0.5 and the reference's AUC, widened for small
  samples (:func:`verify._mia.auc_tolerance`); above it the model remembers, below it over-unlearned;
- latent distance after Procrustes alignment: forgetting users no further than Retrain*'s plus a margin;
  affected items no further than the farther of the original and Retrain*; items' CKA not below the lower;
- utility: Recall@20 of other users not below the lower of the original's and the reference's, less a fraction
  of it (relative: recall's scale varies with the data).

Every check carries its **controls** (``verify._report.Controls``), models judged by the check's own threshold
whose verdict is known: the *negative* must fail (forgetting checks: the original, a no-op unlearner; collateral
checks: the damaged model; over-unlearning: the metric's failing extreme) and the *positive* must pass (Retrain*,
or the reference where values are measured against Retrain*). A check is pass or fail only when they separate;
otherwise, or when its sample is too small for any value to fail, it is *inconclusive* with the reason in words,
never pass. An exact method whose lineage proof holds and whose model changed is compared with a single-model
reference although its model is shards, groups or an aggregate: a failed similarity or forgetting check measures
the architecture, not memory, and is inconclusive rather than a false FAIL (issue 16); Recall is never excused.
For whole users that an exact method's model and both retrains each show one cold-start list, the attacks would
compare two architectures' lists, not users: inconclusive, and the distinct-lists check judges forgetting. The
"model replaced" check fails a model identical to the original whatever the method claims.

Only aggregates leave this module: means, AUCs, histograms and ROCs on fixed grids, never a per-item score. Models,
metrics and checks are named through :mod:`verify.names`.
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
from verify._mia import (
    FPR_GRID,
    AttackROC,
    attack_roc,
    auc_tolerance,
    calibrated_attack,
    rank_statistic,
    score_attack,
)
from verify._reference import ReferenceModels, derive_seed
from verify._report import (
    Control,
    Controls,
    Histogram,
    MetricCheck,
    ReportFigures,
    RocCurves,
)
from verify.names import (
    CALIBRATED_ATTACK,
    CKA_ITEMS,
    DAMAGED,
    FORGETTING_USERS,
    LATENT_DISTANCE,
    LATENT_ITEMS,
    LATENT_USERS,
    MODEL_REPLACED,
    ORIGINAL,
    OTHER_USERS,
    RECALL_OTHER_USERS,
    RECSYS_ATTACK,
    REFERENCE,
    REPREDICT,
    RETRAIN_STAR,
    SCORE_ATTACK,
    SCORE_CHANGE,
    UNLEARNED,
    USER_GROUPS,
    WORST_CASE,
    distinct_key,
    mia_check,
    mia_key,
    of_group,
    rbo_key,
    recall_key,
)

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
    calibration_retrains: int
    latent_not_applicable: str | None = None


def _sigmoid(scores: object) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.asarray(scores, dtype=np.float64)))


def _roc_metrics(attack: str, roc: AttackROC) -> dict[str, float]:
    return {mia_key(attack, "auc"): roc.auc, mia_key(attack, "tpr@1%fpr"): roc.tpr_at_1pct_fpr,
            mia_key(attack, "tpr@0.1%fpr"): roc.tpr_at_01pct_fpr}


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
    models = {ORIGINAL: original, UNLEARNED: unlearned, REFERENCE: references.reference,
              RETRAIN_STAR: references.retrain_star, DAMAGED: references.damaged}
    compared = (ORIGINAL, UNLEARNED, RETRAIN_STAR, DAMAGED)  # each against the reference
    metrics: dict[str, dict[str, float]] = {name: {} for name in models}
    forgetting = case.forgetting_users
    candidates = np.setdiff1d(np.unique(case.test.user_idx), forgetting)
    rng = np.random.default_rng(derive_seed(seed, "other users"))
    others = np.sort(rng.choice(candidates, size=min(rules.sample_other_users, len(candidates)), replace=False))
    if others.size == 0:
        raise ValueError("no other user has test data: collateral effects cannot be measured")

    # 1. re-predict score of the forgotten pairs, and how far each model's scores moved from the original's
    before = _sigmoid(original.score(*case.forgotten))
    for name, model in models.items():
        metrics[name][REPREDICT] = repredict_score(model, *case.forgotten)
        metrics[name][SCORE_CHANGE] = float(np.abs(_sigmoid(model.score(*case.forgotten)) - before).mean())

    # 2. RBO@k with the reference's top-k, forgetting users and other users (remaining training items excluded)
    exclude = case.remaining.csr()
    depth = max(rules.rbo_depths)
    histograms: dict[str, dict[str, list[int]]] = {group: {} for group in USER_GROUPS}
    spread: dict[int, float] = {}
    distinct: dict[int, int] = {}
    for group, users in ((FORGETTING_USERS, forgetting), (OTHER_USERS, others)):
        top = {name: model.recommend(users, depth, exclude=exclude) for name, model in models.items()}
        if group == FORGETTING_USERS:
            for name in models:
                metrics[name].update({distinct_key(k): float(len(np.unique(top[name][:, :k], axis=0)))
                                      for k in rules.rbo_depths})
            distinct = {k: int(metrics[REFERENCE][distinct_key(k)]) for k in rules.rbo_depths}
        for name in compared:
            for k in rules.rbo_depths:
                values = topk_rbo(top[name][:, :k], top[REFERENCE][:, :k], p=rules.rbo_persistence)
                metrics[name][rbo_key(k, group)] = float(values.mean())
                if group == OTHER_USERS and name == RETRAIN_STAR:
                    spread[k] = float(values.std())
                if k == depth:
                    histograms[group][name] = np.histogram(values, bins=RBO_BINS)[0].tolist()

    # 3. membership inference: (a) score attack on held-out pairs, (b) the recommender attack vs Retrain*'s view
    rocs: dict[str, dict[str, AttackROC]] = {}
    if case.held_out[0].size:
        rocs[SCORE_ATTACK] = {name: score_attack(model, case.forgotten, case.held_out)
                              for name, model in models.items()}
    history = case.matrix(case.forgotten)
    probability = {name: references.attack.member_probability(model, forgetting, history)
                   for name, model in models.items()}
    rocs[RECSYS_ATTACK] = {name: attack_roc(probability[name], probability[RETRAIN_STAR])
                           for name in (ORIGINAL, UNLEARNED, REFERENCE)}
    # (c) per-user calibrated: each model's rank statistic against the retrains' (Retrain* among them, its control)
    retrains = np.stack([rank_statistic(model, forgetting, history) for model in references.retrains])
    rocs[CALIBRATED_ATTACK] = {name: calibrated_attack(rank_statistic(models[name], forgetting, history), retrains)
                               for name in (ORIGINAL, UNLEARNED)}
    rocs[CALIBRATED_ATTACK][RETRAIN_STAR] = calibrated_attack(retrains[1], retrains)
    for attack, by_model in rocs.items():
        for name, roc in by_model.items():
            metrics[name].update(_roc_metrics(attack, roc))

    # 4. latent distance after Procrustes alignment to the reference
    shared_users = np.unique(case.remaining.user_idx)
    affected_items = np.unique(case.forgotten[1])
    for name in compared if latent_not_applicable is None else ():
        latent = compare_latent(models[name], references.reference, shared_users, forgetting, affected_items)
        if latent is not None:
            metrics[name].update({LATENT_USERS: latent.users, LATENT_ITEMS: latent.items, CKA_ITEMS: latent.items_cka})

    # 5. utility: other users on their test items; forgetting users on their held-out items
    forgotten_matrix, held_out_matrix = history, case.matrix(case.held_out)
    train_matrix, test_matrix = exclude, case.test.csr()
    for name, model in models.items():
        metrics[name].update(ranking_metrics(model, train_matrix, test_matrix, (10, 20), users=others))
        if case.held_out[0].size:
            utility = ranking_metrics(model, forgotten_matrix, held_out_matrix, (20,), users=forgetting)
            metrics[name].update({of_group(key, FORGETTING_USERS): value for key, value in utility.items()})

    figures = ReportFigures(
        rbo_depth=depth,
        rbo={group: Histogram(edges=RBO_BINS.tolist(), counts=counts) for group, counts in histograms.items()},
        mia={attack: RocCurves(fpr=FPR_GRID.tolist(), tpr={name: roc.tpr_grid.tolist() for name, roc in by_model.items()})
             for attack, by_model in rocs.items()},
    )
    noise = {k: spread[k] / np.sqrt(distinct[k]) for k in rules.rbo_depths}
    return Evidence(metrics, figures, len(case.forgotten[0]), len(case.held_out[0]), len(forgetting), len(others),
                    noise, len(references.retrains), latent_not_applicable)


UNIT = (0.0, 1.0)
"""What AUCs, RBO, σ(score), CKA and recall can take."""
NON_NEGATIVE = (0.0, float("inf"))
CONTROL_MEANING = {
    ORIGINAL: "the original (a no-op unlearner)",
    DAMAGED: "the damaged model (a retrain on a small fraction of the data)",
    RETRAIN_STAR: "Retrain* (an honest retrain with another seed)",
    REFERENCE: "the reference retrain",
    WORST_CASE: "the metric's failing extreme",
}


def _holds(value: float, threshold: float, comparison: str) -> bool:
    return {"≤": value <= threshold, "≥": value >= threshold, ">": value > threshold}[comparison]


def _can_fail(threshold: float, comparison: str, bounds: tuple[float, float]) -> bool:
    """Whether any value the metric can take fails the threshold: a tolerance widened past the metric's range by a
    small sample leaves a check that passes everything."""
    low, high = bounds
    return {"≤": threshold < high, "≥": threshold > low, ">": threshold < high}[comparison]


def _control(model: str, metrics: dict[str, dict[str, float]], key: str, threshold: float, comparison: str,
             bounds: tuple[float, float]) -> Control:
    """``model`` judged by the check's threshold; :data:`WORST_CASE` is the metric's failing extreme."""
    value = (bounds[0] if comparison == "≥" else bounds[1]) if model == WORST_CASE else metrics.get(model, {}).get(key)
    if value is None or not np.isfinite(value):
        return Control(model=model, value=None, passed=False)
    return Control(model=model, value=float(value), passed=_holds(float(value), threshold, comparison))


def _why_inconclusive(controls: Controls, threshold: float, comparison: str, bounds: tuple[float, float]) -> str | None:
    """Why the controls do not separate, in words; None when they do."""
    negative, positive = controls.negative, controls.positive
    if not _can_fail(threshold, comparison, bounds):
        return (f"the sample is too small to decide: no value in [{bounds[0]:g}, {bounds[1]:g}] fails this "
                "threshold")
    if negative.value is None:
        return f"its negative control, {CONTROL_MEANING[negative.model]}, could not be measured"
    if negative.passed:
        return (f"its negative control, {CONTROL_MEANING[negative.model]}, passes too ({negative.value:.4f}): the "
                "check cannot tell it from the model judged")
    if not positive.passed:
        shown = "not measured" if positive.value is None else f"{positive.value:.4f}"
        return (f"its positive control, {CONTROL_MEANING[positive.model]}, fails too ({shown}): the threshold fails "
                "an honest retrain")
    return None


def _judged(name: str, key: str, metrics: dict[str, dict[str, float]], threshold: float | None, comparison: str,
            detail: str, role: str, negative: str, positive: str, bounds: tuple[float, float] = UNIT,
            excuse: str | None = None, undecidable: str | None = None) -> MetricCheck:
    """The unlearned model's value of ``key`` against ``threshold``, judged with its two controls.

    Fails closed: a value that could not be measured fails. Inconclusive, with the reason in the detail, when
    ``undecidable`` says the sample cannot decide, or the controls do not separate (:func:`_why_inconclusive`), or
    the check fails for the reason ``excuse`` gives (an exact method's architecture, see :func:`judge`).
    """
    value = metrics[UNLEARNED].get(key)
    if value is None or threshold is None:
        return MetricCheck(name=name, value=None, threshold=threshold, comparison=comparison, verdict="fail",
                           role=role, detail=f"not measured: {detail}")
    value, threshold = float(value), float(threshold)
    controls = Controls(negative=_control(negative, metrics, key, threshold, comparison, bounds),
                        positive=_control(positive, metrics, key, threshold, comparison, bounds))
    verdict = "pass" if _holds(value, threshold, comparison) else "fail"
    reason = undecidable or _why_inconclusive(controls, threshold, comparison, bounds)
    if reason is None and verdict == "fail":
        reason = excuse
    if reason is not None:
        verdict, detail = "inconclusive", f"{detail}; inconclusive: {reason}"
    return MetricCheck(name=name, value=value, threshold=threshold, comparison=comparison, verdict=verdict, role=role,
                       detail=detail, controls=controls)


ARCHITECTURE_GAP = {
    "forgetting": "the original fails it as well and the exact method's lineage proof holds: this measures the gap "
                  "between the deployment's architecture and the single-model reference, not memory",
    "collateral": "an exact retrain of the deployment's own architecture moves by its own retraining noise, which the "
                  "single-model Retrain* does not measure (Recall@20 judges collateral damage)",
}
"""Why a failed check of an exact method whose lineage proof holds and whose model changed is inconclusive: its
model (shards, groups, an aggregator) is not the reference's architecture (issue 16). Recall is never excused."""


def _values(metrics: dict[str, dict[str, float]], key: str) -> str:
    return ", ".join(f"{name} {values[key]:.4f}" for name, values in metrics.items() if key in values)


def _nothing_personal_left(metrics: dict[str, dict[str, float]], k: int, forgetting_users: int) -> bool:
    """Whole users erased, and the reference gives them all one list: then the unlearned model must do the same.

    A reference that never saw the forgetting users ranks for them by what it knows of items alone (e.g. BPR's item
    bias). An unlearned model of another architecture (a RecEraser aggregate, a shard ensemble) has its own such
    ranking, so RBO against the reference's would measure the architectures, not forgetting. What forgetting a
    whole user means is observable instead: no list of the unlearned model tells two forgotten users apart.
    """
    key = distinct_key(k)
    return forgetting_users > 1 and metrics[REFERENCE].get(key) == 1 and metrics[RETRAIN_STAR].get(key) == 1


def model_replaced(original: Recommender, unlearned: Recommender, forgotten: Pairs) -> MetricCheck:
    """The one measured check of a report on the lineage proof: the serving model's scores on the forgotten pairs
    moved from the original's. The lineage proof reads the ledger, which a method could satisfy while serving the
    old weights; this reads the weights. Its controls (Retrain*) come with the statistical report that follows."""
    if len(forgotten[0]) == 0:
        raise ValueError("nothing was forgotten: there is no erasure to verify")
    before = _sigmoid(original.score(*forgotten))
    change = float(np.abs(_sigmoid(unlearned.score(*forgotten)) - before).mean())
    return MetricCheck(
        name=MODEL_REPLACED, value=change, threshold=0.0, comparison=">", verdict="pass" if change > 0 else "fail",
        role="proof", detail=f"mean |Δσ(score)| from the original on the {len(forgotten[0])} forgotten training "
                             f"pairs: {change:.4f}; a model that forgot nothing is the original (0); the statistical "
                             "checks and their controls follow in the audit's report")


def judge(evidence: Evidence, rules: VerificationThresholds, exact_with_proof: bool = False) -> list[MetricCheck]:
    """The policy's verdict on each metric, each with its controls and the numbers it rests on in its detail.

    Forgetting checks: negative control the original, positive Retrain* (the reference for the recommender attack,
    whose values are measured against Retrain*'s view). Collateral checks: negative the damaged model, positive
    Retrain*. Over-unlearning: negative the metric's failing extreme (an AUC of 0), since no model is known to
    over-unlearn. ``exact_with_proof``: the method is exact and its lineage proof holds (see :data:`ARCHITECTURE_GAP`).
    """
    m = evidence.metrics
    orig, ref, star = (m[name] for name in (ORIGINAL, REFERENCE, RETRAIN_STAR))
    checks = [_judged(
        MODEL_REPLACED, SCORE_CHANGE, m, 0.0, ">",
        f"mean |Δσ(score)| from the original on the {evidence.forgotten_pairs} forgotten training pairs: "
        f"{_values(m, SCORE_CHANGE)}; a model that forgot nothing is the original (0)", "proof", ORIGINAL,
        RETRAIN_STAR, NON_NEGATIVE,
    )]
    gap = exact_with_proof and checks[0].passed

    def forgetting(name: str, key: str, threshold: float | None, comparison: str, detail: str,
                   positive: str = RETRAIN_STAR, bounds: tuple[float, float] = UNIT,
                   undecidable: str | None = None) -> MetricCheck:
        return _judged(name, key, m, threshold, comparison, detail, "forgetting", ORIGINAL, positive, bounds,
                       ARCHITECTURE_GAP["forgetting"] if gap else None, undecidable)

    def collateral(name: str, key: str, threshold: float, comparison: str, detail: str, similarity: bool = True,
                   positive: str = RETRAIN_STAR, negative: str = DAMAGED, bounds: tuple[float, float] = UNIT,
                   undecidable: str | None = None) -> MetricCheck:
        return _judged(name, key, m, threshold, comparison, detail, "collateral", negative, positive, bounds,
                       ARCHITECTURE_GAP["collateral"] if gap and similarity else None, undecidable)

    checks.append(forgetting(
        REPREDICT, REPREDICT, max(ref[REPREDICT], star[REPREDICT]) + rules.max_repredict_excess, "≤",
        f"mean σ(score) of the {evidence.forgotten_pairs} forgotten training pairs: {_values(m, REPREDICT)}",
    ))
    # An exact method's model (shards, an aggregate) shows whole forgotten users its own cold-start list; the
    # attacks would compare it with a single retrain's. A model of the reference's architecture is compared as is.
    depth = max(rules.rbo_depths)
    one_list_each = gap and _nothing_personal_left(m, depth, evidence.forgetting_users) and m[UNLEARNED].get(
        distinct_key(depth)) == 1
    for k in rules.rbo_depths:
        forgetting_key, others_key = rbo_key(k, FORGETTING_USERS), rbo_key(k, OTHER_USERS)
        tolerance = max(rules.rbo_margin, rules.small_sample_z * evidence.rbo_noise[k])

        def rbo_detail(key: str, users: int) -> str:
            return (f"extrapolated RBO (p={rules.rbo_persistence}) of the top-{k} with the reference's, mean over "
                    f"{users} users: {_values(m, key)}" + (f"; tolerance {tolerance:.3f}" if key == forgetting_key else ""))

        if _nothing_personal_left(m, k, evidence.forgetting_users):
            distinct = distinct_key(k)
            checks.append(forgetting(
                distinct, distinct, 1, "≤",
                f"the reference knows nothing of the {evidence.forgetting_users} forgetting users (they all get its one "
                f"cold-start top-{k}); the unlearned model must not tell them apart either. Distinct lists: "
                f"{_values(m, distinct)}. RBO with the reference's list compares two "
                f"cold-start rankings here, not memory of the users: {_values(m, forgetting_key)}",
                bounds=(1.0, float("inf")),
            ))
        else:
            checks.append(forgetting(forgetting_key, forgetting_key, star[forgetting_key] - tolerance, "≥",
                                     rbo_detail(forgetting_key, evidence.forgetting_users)))
        checks.append(collateral(others_key, others_key, min(orig[others_key], star[others_key]) - rules.rbo_margin,
                                 "≥", rbo_detail(others_key, evidence.other_users)))

    attacks = (
        (SCORE_ATTACK, evidence.forgotten_pairs, evidence.held_out_pairs, (ref, star), RETRAIN_STAR, None,
         "forgotten training pairs vs the same users' held-out pairs"),
        (RECSYS_ATTACK, evidence.forgetting_users, evidence.forgetting_users, (ref,), REFERENCE,
         "whole users erased, and the exact method's model and both retrains each show every forgotten user one "
         "list: the attack would compare two cold-start lists (one per architecture), not users; the distinct-lists "
         "check judges forgetting here" if one_list_each else None,
         "forgetting users as the model shows them vs as Retrain* shows them (Zhang et al. CCS'21)"),
        (CALIBRATED_ATTACK, evidence.forgetting_users, evidence.forgetting_users, (), RETRAIN_STAR,
         "whole users erased, and the model and both retrains each show every forgotten user one list: the users' "
         "ranks compare two architectures' cold-start rankings, not memory" if one_list_each else None,
         f"per forgetting user, the mean rank of their forgotten items against its distribution under "
         f"{evidence.calibration_retrains} seeded retrains (U-LiRA style; z-scores vs the retrains' leave-one-out "
         "z-scores)"),
    )
    for attack, positives, negatives, calibration, positive, undecidable, what in attacks:
        key = mia_key(attack)
        if negatives == 0:
            checks.append(MetricCheck(name=mia_check(attack, "attack"), value=None, threshold=None, comparison="≤",
                                      verdict="inconclusive", role="forgetting", detail=(
                                          "inconclusive: the sample is too small to decide: the forgotten users have "
                                          "no held-out pairs to compare with")))
            continue
        tolerance = auc_tolerance(positives, negatives, rules.mia_auc_margin, rules.small_sample_z)
        anchors = [0.5, *(c[key] for c in calibration)]
        detail = (f"ROC AUC, {what} ({positives} vs {negatives}); tolerance {tolerance:.3f} around 0.5 and the "
                  f"retrains' AUC: {_values(m, key)}")
        checks.append(forgetting(mia_check(attack, "attack"), key, max(anchors) + tolerance, "≤", detail, positive,
                                 undecidable=undecidable))
        checks.append(collateral(mia_check(attack, "over-unlearning"), key, min(anchors) - tolerance, "≥", detail,
                                 similarity=False, positive=positive, negative=WORST_CASE, undecidable=undecidable))

    if evidence.latent_not_applicable is not None:
        checks.append(MetricCheck(name=LATENT_DISTANCE, value=None, threshold=None, comparison="not applicable",
                                  verdict="inconclusive", role="forgetting",
                                  detail=f"not applicable: {evidence.latent_not_applicable}"))
    elif all(LATENT_USERS in m[name] for name in (ORIGINAL, UNLEARNED, RETRAIN_STAR)):
        aligned = "after orthogonal Procrustes alignment to the reference"
        checks.append(forgetting(LATENT_USERS, LATENT_USERS, star[LATENT_USERS] + rules.max_latent_excess, "≤",
                                 f"{aligned}, forgetting users: {_values(m, LATENT_USERS)}", bounds=NON_NEGATIVE))
        # The original passes the items' bound by construction: it says nothing of forgetting, only that the items
        # were not damaged, so it is a collateral check whose negative control is the damaged model.
        checks.append(collateral(
            LATENT_ITEMS, LATENT_ITEMS, max(orig[LATENT_ITEMS], star[LATENT_ITEMS]) + rules.max_latent_excess, "≤",
            f"{aligned}, items of the forgotten pairs: {_values(m, LATENT_ITEMS)}", bounds=NON_NEGATIVE))
        checks.append(collateral(CKA_ITEMS, CKA_ITEMS, min(orig[CKA_ITEMS], star[CKA_ITEMS]) - rules.max_cka_drop, "≥",
                                 f"{aligned}, items of the forgotten pairs: {_values(m, CKA_ITEMS)}"))
    else:
        checks.append(_judged(LATENT_DISTANCE, LATENT_USERS, m, None, "≤", "a model exposes no embeddings",
                              "forgetting", ORIGINAL, RETRAIN_STAR))

    recall = recall_key(20)
    checks.append(collateral(
        RECALL_OTHER_USERS, recall, (1 - rules.max_recall_drop) * min(orig[recall], ref[recall]), "≥",
        f"Recall@20 of {evidence.other_users} other users on their test items: {_values(m, recall)}; may trail the "
        f"lower of the original's and the reference's by {rules.max_recall_drop:.0%} of it", similarity=False,
    ))
    return checks
