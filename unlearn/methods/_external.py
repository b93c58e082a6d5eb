"""Register a model trained outside Lethe, with its training data, as a deployment that serves requests.

The ledger then knows the model like one it trained itself: a ``deployment.created`` event (method,
settings, data digest, every training interaction in shard 0) and one ``checkpoint.created`` whose training
set is exactly the model's training interactions (digest of their ids) and whose artifact is the model as
Lethe's arrays (sha256); the framework file's own sha256 is recorded beside it. Retraining, the lineage proof
and the verifier therefore run unchanged on it.

Index spaces. A framework model's rows are numbered by whoever built its matrix. By default row r is the
r-th training user (item) in natural id order — numeric ids numerically, what ``pd.Categorical`` and the
store's own indices give; otherwise pass the raw ids in row order (``user_ids``/``item_ids``).
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ledger import DEPLOYMENT_CREATED, Ledger, WorkspaceError, sha256_hex
from unlearn.data import DataError, RawInteractions, finalise_interactions
from unlearn.ingest import ingest
from unlearn.methods._applicability import SINGLE_MODEL_METHODS, applicable_methods, require_applicable
from unlearn.methods._protocol import Deployment, MethodSettings
from unlearn.methods._sharded import ShardedRetraining, set_serving
from unlearn.registry import get_adapter, get_method
from unlearn.training_data import Interactions


def register_model(
    ledger: Ledger,
    framework: str,
    model_path: str | Path,
    data: RawInteractions | None = None,
    test_data: RawInteractions | None = None,
    *,
    params: dict[str, Any] | None = None,
    user_ids: Sequence[str] | None = None,
    item_ids: Sequence[str] | None = None,
    method: str = "retrain",
    seed: int = 0,
    serve: bool = True,
    actor: str = "system",
) -> Deployment:
    """Record ``model_path`` (saved by ``framework``) as a one-shard deployment; returns it loaded.

    1. the adapter, and the method it will forget by (one that applies to a single trained model);
    2. the training data: an empty workspace ingests ``data`` as the training split and ``test_data`` as the
       held-out one; a workspace that holds the data set matches ``data`` (default: its whole training split)
       to its training rows;
    3. the file, read by the framework and placed on the store's user and item indices;
    4. ``deployment.created`` (+ shard assignments) and ``checkpoint.created``; 5. serving, if asked.
    """
    adapter = get_adapter(framework)
    if method not in SINGLE_MODEL_METHODS:
        raise ValueError(f"a registered model is one trained model: register it under one of "
                         f"{', '.join(SINGLE_MODEL_METHODS)}; {method!r} applies to new deployments "
                         f"(lethe train --method {method} --model {framework})")
    require_applicable(framework, method)
    path = Path(model_path)
    if not path.is_file():
        raise WorkspaceError(f"{path}: no such model file")
    if ledger.dataset() is None:
        _ingest_training_data(ledger, data, test_data, actor)
    elif test_data is not None:
        raise WorkspaceError("the workspace already holds its data set and split; --test-data only applies to an "
                             "empty workspace")
    training = _training_rows(ledger, data)
    users = _native_index(ledger, training.user_idx, user_ids, "user")
    items = _native_index(ledger, training.item_idx, item_ids, "item")
    native = _native_training(training, users, items)
    model, config = adapter.load(path, dict(params or {}), native)
    if (model.n_users, model.n_items) != (len(users), len(items)):
        raise ValueError(f"{path}: the model has {model.n_users} user and {model.n_items} item rows, the training data "
                         f"{len(users)} users and {len(items)} items; pass the ids in the model's row order "
                         "(--user-ids/--item-ids)")
    placed = model.expanded(users, items, training.n_users, training.n_items)
    settings = MethodSettings(method=method, base_model=adapter.name, shards=1, seed=seed,
                              model=config.model_dump(mode="json"))
    deployment_id = f"{method}-{adapter.name}-{uuid.uuid4().hex[:8]}"
    facts = {
        "framework": adapter.name,
        "library": adapter.framework,
        "source_file": path.name,
        "source_sha256": "sha256:" + hashlib.sha256(path.read_bytes()).hexdigest(),
        "training_data_digest": data.digest if data is not None else None,
        "index_maps_digest": "sha256:" + sha256_hex(np.concatenate([users, [-1], items]).astype("<i8").tobytes()),
        "applicable_methods": [v.model_dump(mode="json") for v in applicable_methods(adapter.name)],
    }
    recorder = get_method(method)
    assert isinstance(recorder, ShardedRetraining)  # every single-model method records checkpoints this way
    ledger.append(
        DEPLOYMENT_CREATED,
        {"deployment_id": deployment_id, "method": method, "exact": recorder.exact,
         "settings": settings.model_dump(mode="json"), "data_digest": ledger.require_dataset()["digest"],
         "shard_sizes": [len(training)], "registered": facts},
        actor=actor,
        bulk={"shard_assignments": pd.DataFrame({"deployment_id": deployment_id,
                                                 "interaction_id": training.interaction_id, "shard": 0})},
    )
    recorder._record_checkpoint(
        ledger, deployment_id, 0, "s0", placed.to_arrays(), training.interaction_id, parent=None, excludes=[],
        seed=seed, config=settings.model_config_object().model_dump(mode="json"), seconds=0.0, actor=actor,
        request_id=None, base_model=adapter.name, registered=True, source_sha256=facts["source_sha256"],
    )
    if serve:
        set_serving(ledger, deployment_id, actor=actor)
    return recorder.load(ledger, deployment_id)


def _ingest_training_data(ledger: Ledger, data: RawInteractions | None, test_data: RawInteractions | None,
                          actor: str) -> None:
    """An empty workspace: the model's training data becomes the training split, ``test_data`` the held-out one."""
    if data is None or test_data is None:
        raise WorkspaceError("the workspace holds no data set: give the model's training data and the held-out "
                             "interactions it was not trained on (--data, --test-data), or run `lethe ingest` first")
    frame = pd.concat([data.frame.assign(split="train"), test_data.frame.assign(split="test")], ignore_index=True)
    overlap = frame.duplicated(["subject", "item"], keep=False) & (frame["split"] == "test")
    if overlap.any():
        example = frame[overlap].iloc[0]
        raise DataError(f"{int(overlap.sum())} held-out interactions are also training interactions (first: subject "
                        f"{example['subject']!r}, item {example['item']!r}); the test data must be disjoint")
    params = {"train": {"path": data.path, "digest": data.digest, **data.params},
              "test": {"path": test_data.path, "digest": test_data.digest, **test_data.params}}
    raw = finalise_interactions(frame, name=data.name, source=data.source, path=data.path, params=params, fixed_split=True)
    ingest(ledger, raw, actor=actor)


def _training_rows(ledger: Ledger, data: RawInteractions | None) -> Interactions:
    """The store's training rows the model trained on: those of ``data`` (all must be there), else all."""
    train = Interactions.from_store(ledger, "train")
    if data is None:
        return train
    subjects = ledger.store.subjects_frame().set_index("subject")["user_idx"]
    items = ledger.store.items_frame().set_index("item")["item_idx"]
    user_idx = data.frame["subject"].map(subjects)
    item_idx = data.frame["item"].map(items)
    unknown = user_idx.isna() | item_idx.isna()
    if unknown.any():
        row = data.frame[unknown].iloc[0]
        raise DataError(f"{int(unknown.sum())} training interactions are not in the workspace's data set (first: "
                        f"subject {row['subject']!r}, item {row['item']!r})")
    keys = user_idx.to_numpy(np.int64) * train.n_items + item_idx.to_numpy(np.int64)
    store_keys = train.user_idx * train.n_items + train.item_idx
    found = np.isin(keys, store_keys)
    if not found.all():
        raise DataError(f"{int((~found).sum())} training interactions are held-out (test) rows of the workspace's "
                        "split; register a model trained on its training split only")
    return train.subset(np.isin(store_keys, keys))


def _native_index(ledger: Ledger, rows: np.ndarray, ids: Sequence[str] | None, side: str) -> np.ndarray:
    """The store index of each of the model's rows: the given raw ids' indices, or the training rows' sorted."""
    if ids is None:
        return np.unique(rows)
    frame = ledger.store.subjects_frame() if side == "user" else ledger.store.items_frame()
    lookup = frame.set_index("subject" if side == "user" else "item")[f"{side}_idx"]
    mapped = pd.Series([str(i) for i in ids]).map(lookup)
    if mapped.isna().any():
        raise DataError(f"{int(mapped.isna().sum())} {side} id(s) of the model are not in the data set "
                        f"(first: {ids[int(np.flatnonzero(mapped.isna())[0])]!r})")
    index = mapped.to_numpy(np.int64)
    if len(np.unique(index)) != len(index):
        raise DataError(f"the model's {side} ids repeat: each row must be a different {side}")
    return index


def _native_training(training: Interactions, users: np.ndarray, items: np.ndarray) -> Interactions:
    """The training rows in the model's own index space; every training user and item must have a row."""
    user_of, item_of = np.full(training.n_users, -1), np.full(training.n_items, -1)
    user_of[users], item_of[items] = np.arange(len(users)), np.arange(len(items))
    native_users, native_items = user_of[training.user_idx], item_of[training.item_idx]
    for side, native in (("user", native_users), ("item", native_items)):
        if (native < 0).any():
            raise DataError(f"{int((native < 0).sum())} training interactions have a {side} the model has no row for; "
                            "pass the ids in the model's row order (--user-ids/--item-ids)")
    return Interactions(training.interaction_id, native_users, native_items, len(users), len(items))
