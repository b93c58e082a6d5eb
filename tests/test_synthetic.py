"""Synthetic generator: reproducible, and shaped like real feedback (popularity skew, activity, time order)."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from unlearn.data import DataError, _synthetic, load_source, synthetic_interactions

SECONDS_PER_DAY = 86_400


@pytest.fixture(scope="module")
def default() -> pd.DataFrame:
    return synthetic_interactions().frame


def top_decile_share(frame: pd.DataFrame) -> float:
    counts = frame["item"].value_counts()
    return counts.iloc[: len(counts) // 10].sum() / len(frame)


def test_same_seed_same_data_and_digest() -> None:
    first, second = synthetic_interactions(n_users=300, seed=5), synthetic_interactions(n_users=300, seed=5)
    assert first.digest == second.digest
    pd.testing.assert_frame_equal(first.frame, second.frame)


def test_different_seed_different_digest() -> None:
    assert synthetic_interactions(n_users=300, seed=1).digest != synthetic_interactions(n_users=300, seed=2).digest


def test_popularity_follows_a_power_law(default: pd.DataFrame) -> None:
    """Uniform choice would give the top 10% of items 10% of interactions; Zipf popularity gives far more."""
    assert top_decile_share(default) > 0.30
    flat = synthetic_interactions(popularity_exponent=0.0).frame
    assert top_decile_share(flat) < top_decile_share(default)


def test_every_user_has_between_5_and_half_the_items(default: pd.DataFrame) -> None:
    per_user = default.groupby("subject").size()
    assert len(per_user) == 1000
    assert per_user.min() >= 5 and per_user.max() <= 300
    assert 30 <= per_user.mean() <= 50  # lognormal around mean_interactions=40, slightly reduced by clipping


def test_ids_look_like_movielens(default: pd.DataFrame) -> None:
    assert set(default["subject"]) == {str(i) for i in range(1, 1001)}
    assert set(default["item"]) <= {str(i) for i in range(1, 601)}


def test_ratings_are_whole_stars_and_timestamps_increase_within_span(default: pd.DataFrame) -> None:
    assert set(default["rating"].unique()) <= {1.0, 2.0, 3.0, 4.0, 5.0}
    assert default["rating"].nunique() == 5
    times = default["timestamp"]
    assert times.notna().all()
    assert times.min() >= 1_600_000_000 and times.max() < 1_600_000_000 + 365 * SECONDS_PER_DAY
    steps = default.groupby("subject", sort=False)["timestamp"].diff().dropna()
    assert (steps >= 0).all()


def test_ratings_reflect_taste(default: pd.DataFrame) -> None:
    """Users rate the items they pick with a realistic spread, mean near MovieLens' 3.5."""
    assert 3.0 < default["rating"].mean() < 4.0
    assert default["rating"].std() > 0.8


def test_chunking_bounds_memory_without_losing_users() -> None:
    data = synthetic_interactions(n_users=50, chunk_users=7, seed=3)
    assert data.frame["subject"].nunique() == 50
    assert data.params["chunk_users"] == 7


def test_large_catalogues_sample_the_same_law_by_accepting_popularity_proposals() -> None:
    """The proposal chooser (used above 10,000 items) must pick what scoring every item would: item
    frequencies as close to the scorer's as two scorer seeds are to each other, the same taste signal, no
    item twice for a user, every user's count met."""
    rng = np.random.default_rng(0)
    taste, items = _synthetic._taste_vectors(rng, 400, 3000, 8)
    log_popularity = -np.log1p(rng.permutation(3000))
    counts = rng.integers(5, 200, 400)

    def choose(chooser: type, seed: int) -> tuple[np.ndarray, float]:
        row, item, affinity = chooser(items, log_popularity).choose(np.random.default_rng(seed), taste, counts)
        assert (np.bincount(row, minlength=400) == counts).all()
        assert not pd.DataFrame({"row": row, "item": item}).duplicated().any()
        np.testing.assert_allclose(affinity, np.einsum("ij,ij->i", taste[row], items[item]))
        return np.bincount(item, minlength=3000), affinity.mean()

    (scores, taste_scores), (again, _) = choose(_synthetic._GumbelTopK, 1), choose(_synthetic._GumbelTopK, 2)
    proposals, taste_proposals = choose(_synthetic._PopularityProposals, 1)
    assert np.corrcoef(scores, proposals)[0, 1] > np.corrcoef(scores, again)[0, 1] - 0.005
    assert taste_proposals == pytest.approx(taste_scores, abs=0.01)


def test_a_large_catalogue_is_generated_without_scoring_every_item() -> None:
    data = synthetic_interactions(n_users=300, n_items=20_000, seed=4)
    assert data.frame["subject"].nunique() == 300
    assert not data.frame.duplicated(["subject", "item"]).any()
    assert data.digest == synthetic_interactions(n_users=300, n_items=20_000, seed=4).digest


def test_params_record_every_argument_as_json() -> None:
    data = synthetic_interactions(n_users=20, n_items=40, mean_interactions=8, seed=9)
    assert data.params == {
        "n_users": 20, "n_items": 40, "mean_interactions": 8.0, "dim": 8, "popularity_exponent": 1.0,
        "seed": 9, "start_ts": 1_600_000_000, "span_days": 365, "chunk_users": 20000,
    }
    json.dumps(data.params)
    assert (data.name, data.source, data.path, data.fixed_split) == ("synthetic", "synthetic", None, False)


def test_load_source_synthetic_passes_seed_and_options() -> None:
    via_loader = load_source("synthetic", seed=4, n_users=30, n_items=50)
    assert via_loader.digest == synthetic_interactions(n_users=30, n_items=50, seed=4).digest
    with pytest.raises(DataError, match="unknown synthetic option"):
        load_source("synthetic", n_user=30)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [({"n_items": 5}, "n_items must be at least 10"), ({"n_users": 2.5}, "n_users must be an integer"),
     ({"mean_interactions": 0}, "mean_interactions must be positive")],
)
def test_impossible_arguments_are_refused(kwargs: dict, message: str) -> None:
    with pytest.raises(DataError, match=message):
        synthetic_interactions(**kwargs)
