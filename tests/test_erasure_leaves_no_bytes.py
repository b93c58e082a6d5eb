"""After an erasure, no file in the workspace holds the subject's raw data, byte for byte."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from tests.conftest import FAST_BPR
from ui.services import open_services
from unlearn.data import load_source
from unlearn.ingest import ingest
from unlearn.methods import MethodSettings, get_method, set_serving
from unlearn.progress import no_progress
from unlearn.requests import ErasureRequest, ListedInteractions

SUBJECT = "zq-subject-7731"
SECRET_ITEMS = [f"zq-secret-item-{k:02d}" for k in range(8)]  # nobody else interacted with these


def _dataset(path: Path) -> Path:
    rng = np.random.default_rng(0)
    rows = [(f"user{u:04d}", f"movie{i:03d}", float(rng.integers(1, 6)), 1_600_000_000 + u * 1000 + int(i))
            for u in range(80) for i in rng.choice(60, 15, replace=False)]
    rows += [(SUBJECT, item, 5.0, 1_234_567_000 + k) for k, item in enumerate(SECRET_ITEMS)]
    rows += [(SUBJECT, f"movie{k:03d}", 4.0, 1_234_568_000 + k) for k in range(8)]
    pd.DataFrame(rows, columns=["user_id", "item_id", "rating", "timestamp"]).to_csv(path, index=False)
    return path


def _files_containing(root: Path, patterns: list[bytes]) -> dict[str, list[str]]:
    hits: dict[str, list[str]] = {}
    for path in root.rglob("*"):
        if path.is_file():
            data = path.read_bytes()
            found = [p.decode() for p in patterns if p in data]
            if found:
                hits[str(path.relative_to(root))] = found
    return hits


def _workspace(tmp_path: Path):
    root = tmp_path / "ws"
    services = open_services(root)
    ingest(services.ledger, load_source("csv", _dataset(tmp_path / "events.csv")))
    deployment = get_method("sisa").fit(
        services.ledger, MethodSettings(method="sisa", shards=3, model=FAST_BPR), no_progress, "test"
    )
    set_serving(services.ledger, deployment.deployment_id)
    (tmp_path / "events.csv").unlink()  # the source export is the user's file, not Lethe's
    return root, services


def test_no_workspace_file_holds_the_subject_id_or_their_items_after_erasure(tmp_path: Path) -> None:
    root, services = _workspace(tmp_path)
    patterns = [SUBJECT.encode()] + [item.encode() for item in SECRET_ITEMS]
    assert _files_containing(root, patterns), "the scan must see the raw data before erasure, or it proves nothing"

    request_id = services.engine.file(ErasureRequest(subject=SUBJECT))
    assert services.engine.run(request_id).state == "certified"

    assert _files_containing(root, patterns) == {}
    assert services.ledger.verify().ok  # ...and the ledger still proves that the erasure happened
    assert services.ledger.subject_lineage(SUBJECT)["requests"][0]["state"] == "certified"


def test_erasing_listed_items_leaves_no_byte_of_them_while_the_subject_stays(tmp_path: Path) -> None:
    root, services = _workspace(tmp_path)
    secrets = [item.encode() for item in SECRET_ITEMS]
    assert _files_containing(root, secrets)

    request = ErasureRequest(subject=SUBJECT, scope=ListedInteractions(items=SECRET_ITEMS))
    assert services.engine.run(services.engine.file(request)).state == "certified"

    assert _files_containing(root, secrets) == {}
    assert services.ledger.store.subject(SUBJECT) is not None  # their other eight interactions remain
    assert len(services.ledger.store.interactions(user_idx=services.ledger.store.subject(SUBJECT)[1])) == 8
