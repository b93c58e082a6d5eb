"""The base-model contract, run on every registered base model: Lethe's own and every framework adapter's.

Whatever trains it, a base model must train on positive pairs from a seed, score and rank every item, never
recommend an excluded item, survive its checkpoint (arrays out and back in give the same scores), and give the
same model for the same seed: checkpoints, references and lineage proofs rely on each of these.
"""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from tests.contracts._settings import small_config
from unlearn.registry import adapters, base_model, base_models

N_USERS, N_ITEMS, PER_USER = 60, 40, 8


@pytest.fixture(scope="module")
def pairs() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    items = np.concatenate([rng.choice(N_ITEMS, PER_USER, replace=False) for _ in range(N_USERS)])
    return np.repeat(np.arange(N_USERS), PER_USER), items


@pytest.mark.parametrize("name", sorted(base_models()))
def test_a_base_model_trains_scores_ranks_round_trips_and_is_seeded(name: str, pairs: tuple[np.ndarray, np.ndarray]) -> None:
    spec = base_model(name)
    users, items = pairs
    config = spec.config_class(**small_config(name))
    model = spec.train(users, items, N_USERS, N_ITEMS, config, 0)
    everyone = np.arange(N_USERS)

    scores = model.score_all(everyone)
    assert scores.shape == (N_USERS, N_ITEMS) and np.isfinite(scores).all()
    np.testing.assert_allclose(model.score(users, items), scores[users, items], rtol=1e-5, atol=1e-6)

    seen = sp.csr_matrix((np.ones(len(users)), (users, items)), shape=(N_USERS, N_ITEMS))
    top = model.recommend(everyone, 5, exclude=seen)
    assert top.shape == (N_USERS, 5)
    assert not seen[np.repeat(everyone, 5), top.ravel()].any(), "an excluded (seen) item was recommended"

    restored = spec.from_arrays(model.to_arrays())
    np.testing.assert_array_equal(restored.score_all(everyone), scores)

    again = spec.train(users, items, N_USERS, N_ITEMS, config, 0)
    np.testing.assert_allclose(again.score_all(everyone), scores, rtol=1e-5, atol=1e-6,
                               err_msg="the same seed must give the same model (checkpoints are reproducible)")
    embeddings = model.user_embeddings()
    assert embeddings is None or embeddings.shape[0] == N_USERS


@pytest.mark.parametrize("name", sorted(adapters()))
def test_an_adapter_is_the_base_model_registered_under_its_name(name: str) -> None:
    adapter = adapters()[name]
    spec = base_model(name)
    assert spec.config_class is adapter.config_class
    assert spec.warm_start == adapter.capabilities.sequential
