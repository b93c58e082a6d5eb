"""Latent distance after Procrustes alignment, and linear CKA, on constructed embeddings (issue 5)."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import ortho_group

from tests.test_verify_metrics import FixedScores
from unlearn.models import FactorModel
from verify import compare_latent, linear_cka

RNG = np.random.default_rng(0)
USERS, ITEMS = RNG.normal(size=(60, 8)), RNG.normal(size=(40, 8))
SHARED, AFFECTED_USERS, AFFECTED_ITEMS = np.arange(50), np.arange(50, 60), np.arange(10)


def factors(users: np.ndarray, items: np.ndarray) -> FactorModel:
    return FactorModel(users, items, np.zeros(len(items)), np.ones(len(users), dtype=bool))


def test_a_rotated_and_rescaled_copy_is_at_distance_zero() -> None:
    rotation = ortho_group.rvs(8, random_state=1)
    copy = factors(3.0 * USERS @ rotation, 3.0 * ITEMS @ rotation)
    latent = compare_latent(copy, factors(USERS, ITEMS), SHARED, AFFECTED_USERS, AFFECTED_ITEMS)
    assert latent is not None
    assert latent.users == pytest.approx(0.0, abs=1e-6) and latent.items == pytest.approx(0.0, abs=1e-6)
    assert latent.items_cka == pytest.approx(1.0)


def test_users_the_reference_never_saw_measure_how_much_the_model_kept_of_them() -> None:
    reference_users = USERS.copy()
    reference_users[AFFECTED_USERS] = 0.0  # whole users erased: the retrain has no vector for them
    reference = factors(reference_users, ITEMS)
    kept = compare_latent(factors(USERS, ITEMS), reference, SHARED, AFFECTED_USERS, AFFECTED_ITEMS)
    forgot = compare_latent(factors(reference_users, ITEMS), reference, SHARED, AFFECTED_USERS, AFFECTED_ITEMS)
    assert kept is not None and forgot is not None
    assert forgot.users == pytest.approx(0.0) and kept.users > 0.5
    assert kept.items == pytest.approx(forgot.items)


def test_a_model_without_embeddings_cannot_be_compared() -> None:
    scores_only = FixedScores(np.zeros((60, 40)))
    assert compare_latent(scores_only, factors(USERS, ITEMS), SHARED, AFFECTED_USERS, AFFECTED_ITEMS) is None


def test_linear_cka_is_one_for_linear_copies_low_for_noise_and_zero_without_variance() -> None:
    assert linear_cka(ITEMS, ITEMS @ ortho_group.rvs(8, random_state=2) * 5) == pytest.approx(1.0)
    assert linear_cka(ITEMS, RNG.normal(size=ITEMS.shape)) < 0.5
    assert linear_cka(ITEMS, np.ones_like(ITEMS)) == 0.0
    with pytest.raises(ValueError, match="same rows"):
        linear_cka(ITEMS, ITEMS[:5])
