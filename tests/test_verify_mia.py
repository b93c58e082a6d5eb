"""Membership-inference measurements on cases whose answer is known (issue 5)."""

from __future__ import annotations

import numpy as np
import pytest

from tests.test_verify_metrics import FixedScores
import scipy.sparse as sp

from unlearn.models import Recommender
from unlearn.training_data import Interactions
from verify import RecommenderAttack, attack_roc, auc_tolerance, score_attack
from verify._mia import FPR_GRID, _rank_weights, calibrated_attack, rank_statistic


def test_perfectly_separated_scores_give_auc_one_and_full_tpr_at_low_fpr() -> None:
    roc = attack_roc(np.array([5.0, 6.0, 7.0]), np.array([1.0, 2.0]))
    assert roc.auc == 1.0 and roc.tpr_at_1pct_fpr == 1.0 and roc.tpr_at_01pct_fpr == 1.0
    assert (roc.positives, roc.negatives) == (3, 2)
    assert roc.tpr_grid.shape == FPR_GRID.shape and roc.tpr_grid[-1] == 1.0


def test_reversed_scores_give_auc_zero_and_identical_ones_one_half() -> None:
    assert attack_roc(np.array([1.0, 2.0]), np.array([5.0, 6.0])).auc == 0.0
    same = attack_roc(np.full(4, 0.3), np.full(4, 0.3))
    assert same.auc == 0.5 and same.tpr_at_1pct_fpr == 0.0


def test_tpr_at_low_fpr_counts_only_thresholds_within_that_fpr() -> None:
    # One non-member out of 100 outscores every member: no threshold reaches any TPR below 1% FPR.
    nonmembers = np.concatenate([[10.0], np.zeros(99)])
    roc = attack_roc(np.full(50, 5.0), nonmembers)
    assert roc.tpr_at_01pct_fpr == 0.0
    assert roc.tpr_at_1pct_fpr == 1.0
    assert roc.auc == pytest.approx(0.99)


def test_an_roc_needs_both_classes() -> None:
    with pytest.raises(ValueError, match="members and non-members"):
        attack_roc(np.array([1.0]), np.array([]))


@pytest.mark.parametrize(("n", "expected"), [(1, 1.0), (4, 0.5), (400, 0.05), (10_000, 0.05)])
def test_auc_tolerance_is_the_margin_widened_for_small_samples(n: int, expected: float) -> None:
    assert auc_tolerance(n, 10 * n, margin=0.05, z=2.0) == pytest.approx(expected)


def test_score_attack_compares_forgotten_pairs_with_held_out_ones() -> None:
    model = FixedScores(np.array([[3.0, 2.0, -1.0, -2.0]]))
    members, held_out = (np.array([0, 0]), np.array([0, 1])), (np.array([0, 0]), np.array([2, 3]))
    assert score_attack(model, members, held_out).auc == 1.0
    assert score_attack(model, held_out, members).auc == 0.0


def test_rank_weights_are_zhangs_and_sum_to_one() -> None:
    weights = _rank_weights(100)
    assert weights[0] == pytest.approx(100 / 5050) and weights[-1] == pytest.approx(1 / 5050)
    assert _rank_weights(30).sum() == pytest.approx(1.0)


class CoOccurrence(Recommender):
    """Item-to-item co-occurrence over the training matrix: a memory-based recommender whose answer is known.

    A user it trained on gets items co-occurring with their history; a stranger (empty row) gets popularity alone.
    """

    def __init__(self, train: sp.csr_matrix) -> None:
        self.train = train
        self.similarity = (train.T @ train).toarray()
        self.popularity = np.asarray(train.sum(axis=0)).ravel() * 1e-3
        self.n_users, self.n_items = train.shape

    def score_all(self, users: np.ndarray) -> np.ndarray:
        return (self.train[users] @ self.similarity + self.popularity).astype(np.float32)


def two_taste_groups(n_users: int = 240, n_items: int = 400, seed: int = 0) -> Interactions:
    """Even users take 8 items of the first half of the catalogue, odd users 8 of the second half."""
    rng = np.random.default_rng(seed)
    half = n_items // 2
    users = np.repeat(np.arange(n_users), 8)
    items = np.concatenate([rng.choice(half, 8, replace=False) + half * (u % 2) for u in range(n_users)])
    return Interactions(np.arange(len(users)), users, items, n_users, n_items)


def test_the_recommender_attack_tells_members_from_strangers() -> None:
    data = two_taste_groups()

    def fit(part: Interactions, seed: int) -> Recommender:
        return CoOccurrence(part.csr())

    attack = RecommenderAttack.train(data.subset(data.user_idx < 160), fit, seed=0)
    target = fit(data.subset(data.user_idx < 200), 1)  # trained on users 0..199, never on 200..239
    history = data.csr()
    members = attack.member_probability(target, np.arange(160, 200), history)
    strangers = attack.member_probability(target, np.arange(200, 240), history)
    assert attack.features(target, np.arange(160, 200), history).shape == (40, attack.item_vectors.shape[1])
    assert attack_roc(members, strangers).auc > 0.9


def test_the_calibrated_attack_flags_users_above_their_own_retrain_distribution_and_not_retrains() -> None:
    """U-LiRA style: users differ in level (a shared threshold would mix them up); per-user calibration does not."""
    rng = np.random.default_rng(0)
    level = rng.uniform(0.2, 0.8, 200)  # how recognisable each user's items are anyway
    retrains = level + rng.normal(0, 0.02, (4, 200))
    remembering = level + 0.05 + rng.normal(0, 0.02, 200)
    remembered = calibrated_attack(remembering, retrains)
    forgotten = calibrated_attack(level + rng.normal(0, 0.02, 200), retrains)
    assert remembered.auc > 0.9 and remembered.tpr_at_1pct_fpr > 0.3
    assert abs(forgotten.auc - 0.5) < 0.1 and forgotten.tpr_at_1pct_fpr < 0.1
    assert attack_roc(remembering, retrains[0]).auc < 0.7  # one threshold shared by every user barely sees it


def test_the_calibrated_attack_needs_two_retrains() -> None:
    with pytest.raises(ValueError, match="at least two retrains"):
        calibrated_attack(np.zeros(3), np.zeros((1, 3)))


def test_the_rank_statistic_is_the_mean_percentile_of_the_forgotten_items() -> None:
    model = FixedScores(np.array([[4.0, 3.0, 2.0, 1.0, 0.0]]))
    forgotten = sp.csr_matrix((np.ones(2), ([0, 0], [0, 4])), shape=(1, 5))
    assert rank_statistic(model, np.array([0]), forgotten) == pytest.approx([0.5])
