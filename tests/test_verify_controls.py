"""Every check carries a negative and a positive control, and is inconclusive when they do not separate (issue 19).

The checks are judged on hand-set measurements (no training): an honest erasure of many users, where every
statistical check's negative control fails and its positive passes, and variations where a control stops
separating or the sample is too small. The vacuous thresholds the issue found (a single subject's recommender attack
with tolerance 1.0, a score attack's over-unlearning threshold below zero, an absolute Recall margin that let an
80 % drop pass) are regression tests.
"""

from __future__ import annotations

import numpy as np
import pytest
from pydantic import ValidationError

from policies import VerificationThresholds
from tests.test_verify_mia import two_taste_groups
from unlearn.models import BPRConfig
from verify._evidence import Evidence, judge
from verify._reference import ReferenceModels
from verify._report import MetricCheck, ReportFigures
from verify.names import (
    ATTACKS,
    CALIBRATED_ATTACK,
    CKA_ITEMS,
    DAMAGED,
    FORGETTING_USERS,
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
    WORST_CASE,
    distinct_key,
    mia_check,
    mia_key,
    rbo_key,
    recall_key,
)

RULES = VerificationThresholds()
DEPTHS = RULES.rbo_depths


def _model(score_change: float, repredict: float, rbo_forgetting: float, rbo_others: float, distinct: float,
           score_auc: float, recsys_auc: float, latent_users: float, latent_items: float, cka: float,
           recall: float) -> dict[str, float]:
    values = {SCORE_CHANGE: score_change, REPREDICT: repredict, mia_key(SCORE_ATTACK): score_auc,
              mia_key(RECSYS_ATTACK): recsys_auc, mia_key(CALIBRATED_ATTACK): recsys_auc, LATENT_USERS: latent_users,
              LATENT_ITEMS: latent_items,
              CKA_ITEMS: cka, recall_key(20): recall}
    for k in DEPTHS:
        values |= {rbo_key(k, FORGETTING_USERS): rbo_forgetting, rbo_key(k, OTHER_USERS): rbo_others,
                   distinct_key(k): distinct}
    return values


HONEST = {
    ORIGINAL: _model(0.0, 0.80, 0.30, 0.60, 40, 0.80, 0.90, 1.00, 0.30, 0.80, 0.20),
    UNLEARNED: _model(0.20, 0.50, 0.55, 0.58, 40, 0.52, 0.50, 0.40, 0.30, 0.80, 0.20),
    REFERENCE: _model(0.20, 0.50, 1.00, 1.00, 40, 0.50, 0.50, 0.00, 0.00, 1.00, 0.20),
    RETRAIN_STAR: _model(0.20, 0.50, 0.55, 0.60, 40, 0.50, 0.50, 0.40, 0.30, 0.80, 0.20),
    DAMAGED: _model(0.30, 0.50, 0.10, 0.20, 40, 0.50, 0.50, 1.50, 1.50, 0.20, 0.05),
}


def evidence(edits: dict[str, dict[str, float]] | None = None, forgetting_users: int = 40, forgotten_pairs: int = 2000,
             held_out_pairs: int = 500) -> Evidence:
    metrics = {model: {**values, **(edits or {}).get(model, {})} for model, values in HONEST.items()}
    return Evidence(metrics, ReportFigures(rbo_depth=max(DEPTHS), rbo={}, mia={}), forgotten_pairs, held_out_pairs,
                    forgetting_users, 500, {k: 0.01 for k in DEPTHS}, RULES.calibration_retrains)


def checks_of(ev: Evidence, exact_with_proof: bool = False) -> dict[str, MetricCheck]:
    return {check.name: check for check in judge(ev, RULES, exact_with_proof)}


HONEST_CHECKS = checks_of(evidence())
FORGETTING_CHECKS = sorted(name for name, c in HONEST_CHECKS.items() if c.role == "forgetting")
COLLATERAL_CHECKS = sorted(name for name, c in HONEST_CHECKS.items() if c.role == "collateral")


@pytest.mark.parametrize("name", sorted(HONEST_CHECKS))
def test_each_honest_check_passes_with_a_failing_negative_and_a_passing_positive_control(name: str) -> None:
    check = HONEST_CHECKS[name]
    assert check.verdict == "pass", check.detail
    assert check.controls is not None
    assert check.controls.negative.value is not None and not check.controls.negative.passed
    assert check.controls.positive.passed


def test_forgetting_checks_are_controlled_by_the_original_and_collateral_ones_by_the_damaged_model() -> None:
    assert FORGETTING_CHECKS and COLLATERAL_CHECKS
    assert {HONEST_CHECKS[n].controls.negative.model for n in FORGETTING_CHECKS} == {ORIGINAL}
    over_unlearning = {mia_check(a, "over-unlearning") for a in ATTACKS}
    assert {HONEST_CHECKS[n].controls.negative.model for n in over_unlearning} == {WORST_CASE}
    assert {HONEST_CHECKS[n].controls.negative.model for n in set(COLLATERAL_CHECKS) - over_unlearning} == {DAMAGED}
    assert HONEST_CHECKS[mia_check(RECSYS_ATTACK, "attack")].controls.positive.model == REFERENCE


def test_a_no_op_fails_every_forgetting_check() -> None:
    checks = checks_of(evidence({UNLEARNED: HONEST[ORIGINAL]}))
    assert checks[MODEL_REPLACED].verdict == "fail"
    assert {name: checks[name].verdict for name in FORGETTING_CHECKS} == dict.fromkeys(FORGETTING_CHECKS, "fail")


@pytest.mark.parametrize("name", FORGETTING_CHECKS)
def test_a_forgetting_check_the_original_passes_too_is_inconclusive(name: str) -> None:
    """A few interactions of one user move no aggregate: the original then looks like Retrain* (issue: RBO@10 0.314
    of the no-op above the threshold 0.303 on the demo's partial request)."""
    check = checks_of(evidence({ORIGINAL: HONEST[RETRAIN_STAR]}))[name]
    assert check.verdict == "inconclusive"
    assert check.controls.negative.passed and "negative control" in check.detail


@pytest.mark.parametrize("name", [n for n in COLLATERAL_CHECKS if "over-unlearning" not in n])
def test_a_collateral_check_the_damaged_model_passes_too_is_inconclusive(name: str) -> None:
    check = checks_of(evidence({DAMAGED: HONEST[RETRAIN_STAR]}))[name]
    assert check.verdict == "inconclusive"
    assert check.controls.negative.passed and "damaged model" in check.detail


def test_a_check_whose_positive_control_fails_is_inconclusive() -> None:
    check = checks_of(evidence({RETRAIN_STAR: {recall_key(20): 0.10}, UNLEARNED: {recall_key(20): 0.10}}))[
        RECALL_OTHER_USERS]
    assert check.verdict == "inconclusive" and not check.controls.positive.passed
    assert "positive control" in check.detail and "fails an honest retrain" in check.detail


def test_a_single_subjects_recommender_attack_with_tolerance_one_is_inconclusive_not_pass() -> None:
    """Regression: one user against one user widened the tolerance to 1.0, the range to 1.5 / -1.0 on an AUC."""
    checks = checks_of(evidence(forgetting_users=1))
    for side in ("attack", "over-unlearning"):
        check = checks[mia_check(RECSYS_ATTACK, side)]
        assert check.verdict == "inconclusive" and "sample is too small" in check.detail
    assert checks[mia_check(RECSYS_ATTACK, "attack")].threshold == pytest.approx(1.5)
    assert checks[mia_check(RECSYS_ATTACK, "over-unlearning")].threshold == pytest.approx(-0.5)


def test_a_score_attacks_over_unlearning_threshold_below_zero_is_inconclusive() -> None:
    """Regression: a 12-interaction subject with 3 held-out pairs got an over-unlearning threshold below 0 (-0.054 on
    the demo), which no AUC can fail."""
    check = checks_of(evidence(forgetting_users=1, forgotten_pairs=12, held_out_pairs=3))[
        mia_check(SCORE_ATTACK, "over-unlearning")]
    assert check.threshold < 0
    assert check.verdict == "inconclusive" and check.controls.negative.passed


def test_no_held_out_pairs_leave_the_score_attack_inconclusive_not_failed() -> None:
    check = checks_of(evidence(held_out_pairs=0))[mia_check(SCORE_ATTACK, "attack")]
    assert check.verdict == "inconclusive" and "no held-out pairs" in check.detail


def test_an_80_percent_recall_drop_fails_at_recall_six_percent() -> None:
    """Regression: the absolute margin 0.05 let recall 0.06 → 0.012 pass; the margin is now relative."""
    low = {recall_key(20): 0.06}
    check = checks_of(evidence({ORIGINAL: low, REFERENCE: low, RETRAIN_STAR: low, DAMAGED: {recall_key(20): 0.005},
                                UNLEARNED: {recall_key(20): 0.012}}))[RECALL_OTHER_USERS]
    assert check.threshold == pytest.approx(0.06 * (1 - RULES.max_recall_drop))
    assert check.verdict == "fail"


def _one_list_each(unlearned_lists: float) -> Evidence:
    one = {distinct_key(k): 1.0 for k in DEPTHS}
    # The architectures' cold-start lists differ: the attack tells the unlearned model's from Retrain*'s.
    unlearned = {**{distinct_key(k): unlearned_lists for k in DEPTHS}, mia_key(RECSYS_ATTACK): 0.97,
                 mia_key(CALIBRATED_ATTACK): 0.97}
    return evidence({REFERENCE: one, RETRAIN_STAR: one, UNLEARNED: unlearned})


def test_whole_users_an_exact_ensemble_shows_one_cold_start_list_leave_the_attacks_inconclusive() -> None:
    """Issue 19, point 5: an ensemble's cold-start list against a single retrain's is not memory of the users."""
    checks = checks_of(_one_list_each(1.0), exact_with_proof=True)
    for attack in (RECSYS_ATTACK, CALIBRATED_ATTACK):
        for side in ("attack", "over-unlearning"):
            assert checks[mia_check(attack, side)].verdict == "inconclusive"
            assert "cold-start" in checks[mia_check(attack, side)].detail
    assert checks[distinct_key(max(DEPTHS))].verdict == "pass"


def test_a_model_of_the_references_architecture_is_still_attacked_when_it_shows_one_list() -> None:
    """An approximate method's single model is compared like with like: the attacks judge it (a fine-tune whose item
    vectors still remember is caught by them)."""
    checks = checks_of(_one_list_each(1.0))
    for attack in (RECSYS_ATTACK, CALIBRATED_ATTACK):
        assert checks[mia_check(attack, "attack")].verdict == "fail"


def test_a_model_that_still_tells_whole_forgotten_users_apart_fails_the_recsys_attack_and_distinct_lists() -> None:
    checks = checks_of(_one_list_each(40.0))
    assert checks[mia_check(RECSYS_ATTACK, "attack")].verdict == "fail"
    assert checks[mia_check(CALIBRATED_ATTACK, "attack")].verdict == "fail"
    assert checks[distinct_key(max(DEPTHS))].verdict == "fail"


def test_a_passing_check_whose_controls_do_not_separate_cannot_be_built() -> None:
    honest = HONEST_CHECKS[REPREDICT].model_dump()
    honest["controls"]["negative"]["passed"] = True
    with pytest.raises(ValidationError, match="controls do not separate"):
        MetricCheck.model_validate(honest)


def test_checks_written_before_controls_still_read() -> None:
    old = {"name": "re-predict", "value": 0.5, "threshold": 0.6, "comparison": "≤", "verdict": "pass",
           "role": "forgetting", "passed": True, "schema_version": 2, "detail": "written by schema 2"}
    assert MetricCheck.model_validate(old).controls is None


def test_the_policys_k_sets_how_many_seeded_retrains_calibrate_the_per_user_attack() -> None:
    data = two_taste_groups(n_users=60, n_items=40)
    references = ReferenceModels.train("dep", "bpr", BPRConfig(epochs=1, embedding_size=4), 0, data,
                                       damaged_fraction=0.1, calibration_retrains=3)
    scores = [model.score_all(np.arange(60)) for model in references.retrains]
    assert len(scores) == 3 and not np.allclose(scores[1], scores[2])
    assert references.damaged.n_items == data.n_items
