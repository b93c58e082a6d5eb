"""Verifier metrics on hand-computed cases, and the fail-closed verification report."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
from pydantic import ValidationError

from unlearn.models._base import Recommender
from verify import MetricCheck, VerificationReport, ranking_metrics, repredict_score, topk_rbo


class FixedScores(Recommender):
    """A recommender whose scores are a given matrix: the smallest thing the metrics can be checked on."""

    def __init__(self, scores: np.ndarray) -> None:
        self.scores = np.asarray(scores, dtype=np.float32)
        self.n_users, self.n_items = self.scores.shape

    def score_all(self, users: np.ndarray) -> np.ndarray:
        return self.scores[np.asarray(users)]


def interactions(rows: dict[int, list[int]], shape: tuple[int, int]) -> sp.csr_matrix:
    users = [u for u, items in rows.items() for _ in items]
    items = [i for items in rows.values() for i in items]
    return sp.csr_matrix((np.ones(len(items)), (users, items)), shape=shape)


SCORES = np.array(
    [
        [6, 5, 4, 3, 2, 1],  # ranking 0 1 2 3 4 5
        [1, 2, 3, 4, 5, 6],  # ranking 5 4 3 2 1 0
        [1, 1, 1, 1, 1, 1],
    ]
)
TRAIN = interactions({0: [0], 1: [5], 2: [3]}, (3, 6))
TEST = interactions({0: [1, 4], 1: [2]}, (3, 6))  # user 2 has no test item


def test_recall_and_ndcg_match_a_hand_computed_case() -> None:
    # Train items excluded: user 0 ranks [1 2 3 4 5], hits at ranks 1 and 4; user 1 ranks [4 3 2 1 0], hit at 3.
    metrics = ranking_metrics(FixedScores(SCORES), TRAIN, TEST, ks=(2, 4))
    idcg2 = 1 + 1 / np.log2(3)
    assert list(metrics) == ["recall@2", "ndcg@2", "recall@4", "ndcg@4"]
    assert metrics["recall@2"] == pytest.approx((1 / 2 + 0) / 2)
    assert metrics["ndcg@2"] == pytest.approx((1 / idcg2 + 0) / 2)
    assert metrics["recall@4"] == pytest.approx((1 + 1) / 2)
    assert metrics["ndcg@4"] == pytest.approx(((1 + 1 / np.log2(5)) / idcg2 + 1 / np.log2(4)) / 2)


def test_ranking_metrics_default_keys_and_user_restriction() -> None:
    model = FixedScores(SCORES)
    assert set(ranking_metrics(model, TRAIN, TEST)) == {"recall@10", "ndcg@10", "recall@20", "ndcg@20"}
    only_user_1 = ranking_metrics(model, TRAIN, TEST, ks=(4,), users=np.array([1, 2]))
    assert only_user_1 == pytest.approx({"recall@4": 1.0, "ndcg@4": 0.5})


def test_train_items_are_excluded_from_the_ranking() -> None:
    # Item 0 scores highest for user 0 but is a train item, so the test item 1 takes rank 1.
    test = interactions({0: [1]}, (3, 6))
    assert ranking_metrics(FixedScores(SCORES), TRAIN, test, ks=(1,))["recall@1"] == 1.0
    assert ranking_metrics(FixedScores(SCORES), sp.csr_matrix((3, 6)), test, ks=(1,))["recall@1"] == 0.0


def test_a_train_item_that_is_also_a_test_item_never_counts_as_a_hit() -> None:
    test = interactions({0: [0]}, (3, 6))
    assert ranking_metrics(FixedScores(SCORES), TRAIN, test, ks=(6,))["recall@6"] == 0.0


def test_ranking_metrics_without_test_users_is_an_error() -> None:
    with pytest.raises(ValueError, match="no user has a test item"):
        ranking_metrics(FixedScores(SCORES), TRAIN, TEST, users=np.array([2]))


def test_identical_lists_have_rbo_one_and_disjoint_lists_near_zero() -> None:
    a = np.array([[1, 2, 3, 4, 5], [9, 8, 7, 6, 5]])
    b = np.array([[1, 2, 3, 4, 5], [10, 11, 12, 13, 14]])
    values = topk_rbo(a, b)
    assert values.shape == (2,)
    assert values[0] == pytest.approx(1.0)
    assert values[1] < 0.05


def test_rbo_is_top_weighted() -> None:
    early_swap, late_swap = topk_rbo(np.array([[2, 1, 3, 4, 5], [1, 2, 3, 5, 4]]), np.array([[1, 2, 3, 4, 5]] * 2))
    assert 0 < early_swap < late_swap < 1


def test_rbo_rejects_duplicates_and_mismatched_rows() -> None:
    with pytest.raises(ValueError, match="repeats an item"):
        topk_rbo(np.array([[1, 1, 2]]), np.array([[1, 2, 3]]))
    with pytest.raises(ValueError, match="same number of rows"):
        topk_rbo(np.array([[1, 2]]), np.array([[1, 2], [3, 4]]))


def test_repredict_score_of_a_zero_model_is_one_half() -> None:
    model = FixedScores(np.zeros((3, 6)))
    assert repredict_score(model, np.array([0, 1, 2]), np.array([5, 0, 3])) == pytest.approx(0.5)
    assert repredict_score(FixedScores(SCORES), np.array([0]), np.array([0])) == pytest.approx(1 / (1 + np.exp(-6)))


def test_repredict_score_of_no_pairs_is_an_error() -> None:
    with pytest.raises(ValueError):
        repredict_score(FixedScores(SCORES), np.array([], dtype=int), np.array([], dtype=int))


SCOPE = {"subjects": 1, "interactions": 15, "training_pairs": 12, "held_out_pairs": 3, "deployments": 1,
         "checkpoints_replaced": 1}


def check(name: str, passed: bool) -> MetricCheck:
    return MetricCheck(name=name, value=0.9, threshold=0.8, comparison="≥", passed=passed, detail="")


def report(checks: list[MetricCheck], passed: bool, **overrides: object) -> VerificationReport:
    fields = dict(
        report_id="rep-1", request_id="req-1", deployment_id="dep-1", method="sisa", exact=True,
        created_at="2026-03-20T10:00:00Z", scope=SCOPE, shards_retrained=[2],
        checkpoints_replaced=[{"old": "ck-a", "new": "ck-b"}], reference=None,
        metrics={"unlearned": {"recall@20": 0.2}}, figures=None,
        checks=checks, passed=passed, ledger_head="ab" * 32, policy_digest="cd" * 32, seed=7, data_digest="ef" * 32,
    )
    return VerificationReport(**{**fields, **overrides})


def test_a_report_cannot_pass_with_a_failing_check() -> None:
    with pytest.raises(ValidationError, match="contradicts the checks"):
        report([check("rbo@10", True), check("re-predict", False)], passed=True)


def test_a_report_without_checks_can_never_pass() -> None:
    with pytest.raises(ValidationError, match="without checks cannot pass"):
        report([], passed=True)
    assert report([], passed=False).passed is False


def test_a_report_must_pass_when_every_check_passes() -> None:
    with pytest.raises(ValidationError):
        report([check("lineage", True)], passed=False)
    assert report([check("lineage", True)], passed=True).passed


def test_a_report_refuses_non_finite_metrics_and_naive_timestamps() -> None:
    with pytest.raises(ValidationError):
        report([check("lineage", True)], passed=True, metrics={"unlearned": {"recall@20": float("nan")}})
    with pytest.raises(ValidationError):
        report([check("lineage", True)], passed=True, created_at="2026-03-20T10:00:00")
