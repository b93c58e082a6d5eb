"""Honest exact unlearning certifies every request kind, on ML-100K and on the demo's synthetic data (issue 16).

On ML-100K, SISA erasing three listed items of subject 77, or twelve rows of subject 860 in a time window, used to
end "failed: latent users": the check compared a shard model with a single-model reference, and the original (a
model that forgot nothing) failed it just as much. A check that cannot tell honest from no-op is now inconclusive;
an exact method whose lineage proof holds is never failed by one. Each test runs one request kind through the
engine on a workspace trained once per (data set, method): certified on the lineage proof (the default policy),
then the statistical follow-up the audit would run.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path

import pandas as pd
import pytest

from ledger._db import transaction
from ui.services import Services, open_services
from unlearn.data import load_source
from unlearn.ingest import ingest
from unlearn.methods import MethodSettings, get_method, set_serving
from unlearn.progress import no_progress
from unlearn.requests import BatchErasureRequest, ErasureRequest, ListedInteractions, TimeWindow
from verify import load_report

FAST_BPR = {"epochs": 5, "embedding_size": 16, "batch_size": 2048}
METHODS = {
    "retrain": MethodSettings(method="retrain", shards=1, model=FAST_BPR),
    "sisa": MethodSettings(method="sisa", shards=5, model=FAST_BPR),
    "receraser": MethodSettings(method="receraser", shards=4, aggregation="mean", model=FAST_BPR),
    "laser": MethodSettings(method="laser", base_model="dmf", shards=4,
                            model={"epochs": 3, "batch_size": 512, "learning_rate": 0.01},
                            options={"walks": {"dimensions": 8, "epochs": 2}}),
}
KINDS = ("subject", "interactions", "time_window", "batch")
DATASETS = ("ml-100k", "demo")


def _source(dataset: str, shared_data: Path) -> pd.DataFrame:
    if dataset == "ml-100k":
        return load_source("ml-100k", shared_data / "ml-100k")
    return load_source("synthetic", seed=0, n_users=1000, n_items=600)  # `lethe demo`'s defaults


@pytest.fixture(scope="module", params=[(d, m) for d in DATASETS for m in METHODS], ids=lambda p: f"{p[0]}-{p[1]}")
def trained(request: pytest.FixtureRequest, shared_data: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Services]:
    dataset, method = request.param
    services = open_services(tmp_path_factory.mktemp(f"{dataset}-{method}"))
    ingest(services.ledger, _source(dataset, shared_data), split_seed=0)
    deployment = get_method(method).fit(services.ledger, METHODS[method], no_progress, "test")
    set_serving(services.ledger, deployment.deployment_id)
    yield services


def _subjects_by_activity(services: Services) -> list[str]:
    frame = services.ledger.store.subjects_frame().sort_values(["interactions", "subject"], ascending=[False, True])
    return [str(s) for s in frame["subject"]]


def _rows(services: Services, subject: str) -> pd.DataFrame:
    with transaction(services.ledger.store.path) as con:
        return con.execute("SELECT item, ts, split FROM interactions i JOIN subjects s USING (user_idx) "
                           "WHERE s.subject = ? ORDER BY ts, interaction_id", [subject]).df()


def _request(services: Services, kind: str) -> ErasureRequest | BatchErasureRequest:
    """One request of ``kind`` naming subjects no earlier test of the module erased (each kind its own)."""
    ranked = _subjects_by_activity(services)
    pick = {kind: ranked[10 * i: 10 * i + 3] for i, kind in enumerate(KINDS)}[kind]
    subject = pick[0]
    if kind == "subject":
        return ErasureRequest(subject=subject)
    if kind == "batch":
        return BatchErasureRequest(subjects=pick)
    rows = _rows(services, subject)
    if kind == "interactions":  # "forget these three ratings"
        return ErasureRequest(subject=subject, scope=ListedInteractions(
            items=[str(i) for i in rows[rows["split"] == "train"]["item"].head(3)]))
    start, end = (datetime.fromtimestamp(int(rows["ts"].iloc[i]), tz=timezone.utc) for i in (0, 12))
    return ErasureRequest(subject=subject, scope=TimeWindow(start=start, end=end))  # its first twelve rows


@pytest.mark.parametrize("kind", KINDS)
def test_an_honest_exact_method_certifies_every_request_kind(trained: Services, kind: str) -> None:
    """Certified at once on the lineage proof, then its statistical follow-up (what the audit runs) fails nothing."""
    record = trained.engine.run(trained.engine.file(_request(trained, kind)))
    assert record.state == "certified", record.history[-1].payload.get("reason")
    assert record.require_payload("verified")["basis"] == "lineage"
    record = trained.engine.verify_statistically(record.request_id)
    follow_up = record.require_payload("statistically_verified")
    report = load_report(trained.ledger.workspace.root / follow_up["report_path"],
                         trained.ledger.workspace.signer.public_key).predicate
    verdicts = {c.name: (c.verdict, c.detail) for c in report.checks}
    failed = {name: detail for name, (verdict, detail) in verdicts.items() if verdict == "fail"}
    assert follow_up["passed"] and report.basis == "statistics", failed
    assert report.exact and verdicts["lineage"][0] == "pass" and verdicts["model replaced"][0] == "pass"
    for name, (verdict, detail) in verdicts.items():
        if verdict == "inconclusive":
            assert "inconclusive:" in detail or detail.startswith("not applicable"), (name, detail)
