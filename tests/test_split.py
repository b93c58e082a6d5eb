"""Per-user split: the right share per user, reproducible, and stable when other users' data is erased."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from unlearn.data import DataError, per_user_split, synthetic_interactions


@pytest.fixture(scope="module")
def frame() -> pd.DataFrame:
    return synthetic_interactions(n_users=400, seed=11).frame


def test_about_a_fifth_goes_to_test_overall(frame: pd.DataFrame) -> None:
    labels = per_user_split(frame, test_fraction=0.2, seed=0)
    assert labels.shape == (len(frame),) and set(labels) == {"train", "test"}
    assert abs((labels == "test").mean() - 0.2) < 0.01


def test_each_user_gets_rounded_share_and_keeps_a_train_row(frame: pd.DataFrame) -> None:
    labels = per_user_split(frame, test_fraction=0.2, seed=0)
    per_user = pd.DataFrame({"subject": frame["subject"], "test": labels == "test"}).groupby("subject")["test"]
    sizes, n_test = per_user.size(), per_user.sum()
    expected = np.minimum(np.floor(0.2 * sizes + 0.5), sizes - 1)
    pd.testing.assert_series_equal(n_test, expected.astype(n_test.dtype), check_names=False)
    assert (sizes - n_test >= 1).all()


def test_single_interaction_users_stay_in_train() -> None:
    tiny = pd.DataFrame({"subject": ["a", "b", "b", "c"], "item": ["1", "1", "2", "3"]})
    labels = per_user_split(tiny, test_fraction=0.5, seed=0)
    assert labels[0] == "train" and labels[3] == "train"
    assert sorted(labels[1:3]) == ["test", "train"]


def test_same_seed_same_split_other_seed_differs(frame: pd.DataFrame) -> None:
    first = per_user_split(frame, seed=1)
    assert (per_user_split(frame, seed=1) == first).all()
    assert (per_user_split(frame, seed=2) != first).any()


def test_split_ignores_row_order_and_survives_erasing_another_user(frame: pd.DataFrame) -> None:
    labels = pd.Series(per_user_split(frame, seed=3))
    shuffled = frame.sample(frac=1.0, random_state=0)
    again = pd.Series(per_user_split(shuffled.reset_index(drop=True), seed=3), index=shuffled.index)
    assert (again.sort_index() == labels).all()
    kept = frame["subject"] != frame["subject"].iloc[0]
    after_erasure = per_user_split(frame[kept].reset_index(drop=True), seed=3)
    assert (after_erasure == labels[kept.to_numpy()].to_numpy()).all()


def test_fixed_split_passes_through_unchanged() -> None:
    fixed = pd.DataFrame({"subject": ["1", "1", "2"], "item": ["a", "b", "a"], "split": ["test", "test", "train"]})
    assert per_user_split(fixed, test_fraction=0.5, seed=7).tolist() == ["test", "test", "train"]


@pytest.mark.parametrize("fraction", [-0.1, 1.0, 1.5])
def test_impossible_fraction_is_refused(frame: pd.DataFrame, fraction: float) -> None:
    with pytest.raises(DataError, match="test_fraction"):
        per_user_split(frame, test_fraction=fraction)
